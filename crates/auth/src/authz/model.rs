//! The Casbin model every request is authorized by (TKEStack's `DefaultRuleModel`, reference
//! 3.2) and its matching function `keyMatchCustom`, compiled once per pattern into a
//! [`Pattern`] so no request ever builds a regular expression.
//!
//! ```text
//! m = g(r.sub, p.sub, r.dom) && keyMatchCustom(r.obj, p.obj) && keyMatchCustom(r.act, p.act)
//! ```
//!
//! `keyMatchCustom(key, pattern)`: both lower-cased; in the pattern `*` matches any run of
//! characters and a `/:param` segment matches `/` followed by one or more characters other than
//! `/`; the whole key must match. Where TKEStack handed the rest of the pattern to a regular
//! expression engine, every other character here stands for itself: object names contain `.`
//! (registry repositories, DNS subdomains), and a `.` that matched any character granted more
//! than the policy said; a stray `(` or `[` made the pattern invalid.

use std::{
    borrow::Cow,
    collections::HashMap,
    sync::{Arc, OnceLock, RwLock},
};

/// The model's text, as TKEStack ships it (and as a Casbin engine loads it).
pub const DEFAULT_MODEL: &str = "[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act, eft

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = g(r.sub, p.sub, r.dom) && keyMatchCustom(r.obj, p.obj) && keyMatchCustom(r.act, p.act)
";

/// The domain of platform-wide bindings (a project's bindings use the project's name).
pub const PLATFORM_DOMAIN: &str = "*";

/// A compiled `keyMatchCustom` pattern. The common shapes (`*`, a literal, `prefix*`,
/// `*suffix`, `*infix*`) are matched by plain string comparison; anything else by one regular
/// expression built when the pattern is compiled.
#[derive(Debug)]
pub struct Pattern {
    source: Box<str>,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Any,
    Exact(Box<str>),
    Prefix(Box<str>),
    Suffix(Box<str>),
    Infix(Box<str>),
    Regex(regex::Regex),
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Literal(String),
    Star,
    Segment,
}

/// A pattern that cannot be compiled (only a pattern too large for the regular expression
/// engine's limits).
#[derive(Debug, thiserror::Error)]
#[error("the pattern {pattern:?} cannot be used: {reason}")]
pub struct PatternError {
    pub pattern: String,
    pub reason: String,
}

impl Pattern {
    /// Compiles `pattern` (lower-cased first).
    pub fn compile(pattern: &str) -> Result<Self, PatternError> {
        let lower = pattern.to_lowercase();
        let tokens = tokenize(&lower);
        let kind = match tokens.as_slice() {
            [] => Kind::Exact("".into()),
            [Token::Star] => Kind::Any,
            [Token::Literal(l)] => Kind::Exact(l.as_str().into()),
            [Token::Literal(l), Token::Star] => Kind::Prefix(l.as_str().into()),
            [Token::Star, Token::Literal(l)] => Kind::Suffix(l.as_str().into()),
            [Token::Star, Token::Literal(l), Token::Star] => Kind::Infix(l.as_str().into()),
            tokens => {
                // `(?s)`: `*` matches across line breaks too, as the fast paths above do.
                let mut re = String::from("(?s)^");
                for t in tokens {
                    match t {
                        Token::Literal(l) => re.push_str(&regex::escape(l)),
                        Token::Star => re.push_str(".*"),
                        Token::Segment => re.push_str("/[^/]+"),
                    }
                }
                re.push('$');
                let compiled = regex::RegexBuilder::new(&re)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| PatternError { pattern: pattern.to_string(), reason: e.to_string() })?;
                Kind::Regex(compiled)
            }
        };
        Ok(Self { source: pattern.into(), kind })
    }

    /// The pattern as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The lower-cased literal the pattern is, when it has no `*` and no `/:param`.
    pub fn literal(&self) -> Option<&str> {
        match &self.kind {
            Kind::Exact(l) => Some(l),
            _ => None,
        }
    }

    /// Whether `key`, already lower-cased (see [`lower`]), matches.
    pub fn matches_lower(&self, key: &str) -> bool {
        match &self.kind {
            Kind::Any => true,
            Kind::Exact(l) => key == &**l,
            Kind::Prefix(l) => key.starts_with(&**l),
            Kind::Suffix(l) => key.ends_with(&**l),
            Kind::Infix(l) => key.contains(&**l),
            Kind::Regex(re) => re.is_match(key),
        }
    }

    /// Whether `key` matches (lower-cased here).
    pub fn matches(&self, key: &str) -> bool {
        self.matches_lower(&lower(key))
    }
}

/// Splits a lower-cased pattern into literals, `*` (runs of stars are one) and `/:param`
/// segments (a `/:` followed by at least one character other than `/`; the parameter's name
/// runs to the next `/`).
fn tokenize(pattern: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut literal = String::new();
    let mut rest = pattern;
    while let Some(c) = rest.chars().next() {
        if c == '*' {
            if !literal.is_empty() {
                tokens.push(Token::Literal(std::mem::take(&mut literal)));
            }
            if tokens.last() != Some(&Token::Star) {
                tokens.push(Token::Star);
            }
            rest = &rest[1..];
        } else if let Some(after) = rest.strip_prefix("/:") {
            let name_len = after.find('/').unwrap_or(after.len());
            if name_len == 0 {
                literal.push_str("/:");
                rest = after;
            } else {
                if !literal.is_empty() {
                    tokens.push(Token::Literal(std::mem::take(&mut literal)));
                }
                tokens.push(Token::Segment);
                rest = &after[name_len..];
            }
        } else {
            literal.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    if !literal.is_empty() {
        tokens.push(Token::Literal(literal));
    }
    tokens
}

/// `s` lower-cased, borrowed when it already is (the common case: actions are camel-case,
/// objects mostly lower-case).
pub fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.to_lowercase())
    }
}

/// The compiled patterns [`key_match_custom`] has seen, bounded: when full it starts over
/// (the enforcer keeps its own patterns; this cache serves ad-hoc checks).
const CACHE_LIMIT: usize = 4096;

fn cache() -> &'static RwLock<HashMap<String, Arc<Pattern>>> {
    static CACHE: OnceLock<RwLock<HashMap<String, Arc<Pattern>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The compiled form of `pattern`, from the process-wide cache.
pub fn compiled(pattern: &str) -> Result<Arc<Pattern>, PatternError> {
    if let Some(p) = cache().read().unwrap_or_else(|e| e.into_inner()).get(pattern) {
        return Ok(p.clone());
    }
    let p = Arc::new(Pattern::compile(pattern)?);
    let mut map = cache().write().unwrap_or_else(|e| e.into_inner());
    if map.len() >= CACHE_LIMIT {
        map.clear();
    }
    map.insert(pattern.to_string(), p.clone());
    Ok(p)
}

/// Casbin's `keyMatchCustom(key, pattern)` of the model (see the module's documentation). A
/// pattern that cannot be compiled matches nothing.
pub fn key_match_custom(key: &str, pattern: &str) -> bool {
    compiled(pattern).map(|p| p.matches(key)).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_match_custom_cases() {
        let cases: &[(&str, &str, bool)] = &[
            // Case-insensitive, both sides.
            ("createCluster", "createcluster", true),
            ("createcluster", "CreateCluster", true),
            ("createCluster", "createClusters", false),
            // `*` anywhere, including across `/`.
            ("createCluster", "*", true),
            ("", "*", true),
            ("", "", true),
            ("x", "", false),
            ("createCluster", "*Cluster*", true),
            ("listClusters", "*Cluster*", true),
            ("getClustercredential", "*Cluster*", true),
            ("createMachine", "*Cluster*", false),
            ("getPod", "get*", true),
            ("listPods", "get*", false),
            ("getPodLog", "*Log", true),
            ("cluster:cls-a/namespace:ns/pod:p1", "cluster:cls-a/*", true),
            ("cluster:cls-b/namespace:ns/pod:p1", "cluster:cls-a/*", false),
            ("cluster:cls-a/namespace:ns/pod:p1", "cluster:*/namespace:ns/*", true),
            ("cluster:cls-a/namespace:ns/pod:p1", "*pod:*", true),
            ("a/b/c", "a**c", true),
            // `/:param` is exactly one segment.
            ("registrynamespace:lib/repository:nginx", "registrynamespace:lib/:repo", true),
            ("registrynamespace:lib/a/b", "registrynamespace:lib/:repo", false),
            ("registrynamespace:lib/", "registrynamespace:lib/:repo", false),
            ("project:p1/namespace:n1", "project:p1/:ns", true),
            ("x/y/z", "x/:a/:b", true),
            ("x/y/z/w", "x/:a/:b", false),
            ("x/y/z/w", "x/:a/:b/*", true),
            ("x/:", "x/:", true),
            ("x/y", "x/:", false),
            // Everything else is literal: no regular expression syntax.
            ("repository:aXb", "repository:a.b", false),
            ("repository:a.b", "repository:a.b", true),
            ("repository:a.b", "repository:a.*", true),
            ("(", "(", true),
            ("[", "[*", true),
            ("a+", "a+", true),
            ("aa", "a+", false),
            ("$^", "$^", true),
            // Non-ASCII is lower-cased too.
            ("ÉTÉ", "été", true),
            ("cluster:Ä/x", "cluster:/:c/x", false),
            ("cluster/Ä/x", "cluster/:c/x", true),
            // Line breaks are ordinary characters.
            ("a\nb", "a*b", true),
            ("a\nb/c", "*\n*/:x", true),
        ];
        for (key, pattern, want) in cases {
            assert_eq!(key_match_custom(key, pattern), *want, "keyMatchCustom({key:?}, {pattern:?})");
            let p = Pattern::compile(pattern).expect("compiles");
            assert_eq!(p.matches(key), *want, "compiled {pattern:?} against {key:?}");
        }
    }

    #[test]
    fn shapes_use_the_fast_paths() {
        let kind = |p: &str| match Pattern::compile(p).expect("compiles").kind {
            Kind::Any => "any",
            Kind::Exact(_) => "exact",
            Kind::Prefix(_) => "prefix",
            Kind::Suffix(_) => "suffix",
            Kind::Infix(_) => "infix",
            Kind::Regex(_) => "regex",
        };
        assert_eq!(kind("*"), "any");
        assert_eq!(kind("***"), "any");
        assert_eq!(kind("getCluster"), "exact");
        assert_eq!(kind("get*"), "prefix");
        assert_eq!(kind("*Status"), "suffix");
        assert_eq!(kind("*Cluster*"), "infix");
        assert_eq!(kind("cluster:*/namespace:*"), "regex");
        assert_eq!(kind("a/:b"), "regex");
    }

    #[test]
    fn lower_borrows_when_it_can() {
        assert!(matches!(lower("cluster:cls-a/pod:*"), Cow::Borrowed(_)));
        assert_eq!(lower("createCluster"), "createcluster");
        assert_eq!(lower("ÄB"), "äb");
    }

    #[test]
    fn huge_patterns_are_refused_not_fatal() {
        let huge = "a/:x".repeat(200_000);
        assert!(Pattern::compile(&huge).is_err());
        assert!(!key_match_custom("a", &huge));
    }

    #[test]
    fn the_model_is_the_reference_model() {
        for line in [
            "r = sub, dom, obj, act",
            "p = sub, dom, obj, act, eft",
            "g = _, _, _",
            "e = some(where (p.eft == allow)) && !some(where (p.eft == deny))",
            "m = g(r.sub, p.sub, r.dom) && keyMatchCustom(r.obj, p.obj) && keyMatchCustom(r.act, p.act)",
        ] {
            assert!(DEFAULT_MODEL.lines().any(|l| l == line), "{line}");
        }
    }
}
