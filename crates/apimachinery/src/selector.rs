//! Label and field selectors in the syntax of `kubectl get -l` / `--field-selector` and the
//! `labelSelector` / `fieldSelector` query parameters.

use std::collections::BTreeMap;

use crate::error::ApiError;

#[derive(Clone, Debug, PartialEq, Eq)]
enum LabelRequirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<LabelRequirement>,
}

fn valid_label_key(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix
        && !crate::validation::is_dns1123_subdomain(p)
    {
        return false;
    }
    valid_label_value(name) && !name.is_empty()
}

fn valid_label_value(v: &str) -> bool {
    if v.is_empty() {
        return true;
    }
    v.len() <= 63
        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && v.starts_with(|c: char| c.is_ascii_alphanumeric())
        && v.ends_with(|c: char| c.is_ascii_alphanumeric())
}

impl LabelSelector {
    pub fn everything() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Parses `a=b,c!=d,e in (f,g),h notin (i),j,!k`.
    pub fn parse(input: &str) -> Result<Self, ApiError> {
        let bad = |detail: String| {
            ApiError::bad_request(format!("unable to parse requirement: {detail} (in label selector {input:?})"))
        };
        let mut requirements = Vec::new();
        // Split on commas that are not inside parentheses.
        let mut parts = Vec::new();
        let (mut depth, mut start) = (0i32, 0usize);
        for (i, c) in input.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(&input[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&input[start..]);
        for part in parts {
            let part = part.trim();
            if part.is_empty() {
                if input.trim().is_empty() {
                    continue;
                }
                return Err(bad("empty requirement".into()));
            }
            let check_key = |k: &str| -> Result<String, ApiError> {
                let k = k.trim();
                if valid_label_key(k) { Ok(k.to_string()) } else { Err(bad(format!("invalid label key {k:?}"))) }
            };
            let check_value = |v: &str| -> Result<String, ApiError> {
                let v = v.trim();
                if valid_label_value(v) { Ok(v.to_string()) } else { Err(bad(format!("invalid label value {v:?}"))) }
            };
            let set_values = |rest: &str| -> Result<Vec<String>, ApiError> {
                let rest = rest.trim();
                if !rest.starts_with('(') || !rest.ends_with(')') {
                    return Err(bad(format!("expected a parenthesised set of values, found {rest:?}")));
                }
                rest[1..rest.len() - 1].split(',').map(check_value).collect()
            };
            if let Some(k) = part.strip_prefix('!') {
                requirements.push(LabelRequirement::DoesNotExist(check_key(k)?));
            } else if let Some((k, v)) = part.split_once("!=") {
                requirements.push(LabelRequirement::NotEquals(check_key(k)?, check_value(v)?));
            } else if let Some((k, v)) = part.split_once("==") {
                requirements.push(LabelRequirement::Equals(check_key(k)?, check_value(v)?));
            } else if let Some((k, v)) = part.split_once('=') {
                requirements.push(LabelRequirement::Equals(check_key(k)?, check_value(v)?));
            } else if let Some(i) = part.find(" notin ") {
                requirements.push(LabelRequirement::NotIn(check_key(&part[..i])?, set_values(&part[i + 7..])?));
            } else if let Some(i) = part.find(" in ") {
                requirements.push(LabelRequirement::In(check_key(&part[..i])?, set_values(&part[i + 4..])?));
            } else {
                requirements.push(LabelRequirement::Exists(check_key(part)?));
            }
        }
        Ok(Self { requirements })
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| match r {
            LabelRequirement::Equals(k, v) => labels.get(k) == Some(v),
            LabelRequirement::NotEquals(k, v) => labels.get(k) != Some(v),
            LabelRequirement::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            LabelRequirement::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
            LabelRequirement::Exists(k) => labels.contains_key(k),
            LabelRequirement::DoesNotExist(k) => !labels.contains_key(k),
        })
    }
}

/// A parsed field selector: `a=b`, `a==b`, `a!=b`, comma separated, with `\` escaping.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    /// (field, value, equal?) triples.
    requirements: Vec<(String, String, bool)>,
}

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.last_mut().expect("non-empty").push('\\');
                out.last_mut().expect("non-empty").push(n);
            }
        } else if c == sep {
            out.push(String::new());
        } else {
            out.last_mut().expect("non-empty").push(c);
        }
    }
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl FieldSelector {
    pub fn parse(input: &str) -> Result<Self, ApiError> {
        let mut requirements = Vec::new();
        if input.trim().is_empty() {
            return Ok(Self::default());
        }
        for part in split_unescaped(input, ',') {
            let part = part.trim();
            let (field, value, eq) = if let Some((f, v)) = part.split_once("!=") {
                (f, v, false)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, v, true)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, v, true)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid field selector: {part:?}: expected field=value or field!=value"
                )));
            };
            if field.trim().is_empty() {
                return Err(ApiError::bad_request(format!("invalid field selector: {part:?}: empty field name")));
            }
            requirements.push((field.trim().to_string(), unescape(value), eq));
        }
        Ok(Self { requirements })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The fields this selector reads, to check them against what a resource allows.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.requirements.iter().map(|(f, _, _)| f.as_str())
    }

    /// The value required for `field` with `=`, if any (lets a list narrow its range, e.g. by
    /// `metadata.namespace`).
    pub fn required_value(&self, field: &str) -> Option<&str> {
        self.requirements.iter().find(|(f, _, eq)| *eq && f == field).map(|(_, v, _)| v.as_str())
    }

    /// `value_of(field)` returns the object's value for a field, as a string.
    pub fn matches(&self, mut value_of: impl FnMut(&str) -> String) -> bool {
        self.requirements.iter().all(|(f, v, eq)| (value_of(f) == *v) == *eq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn label_selector_forms() {
        let l = labels(&[("env", "prod"), ("tier", "web"), ("tkestack.io/cluster-name", "cls-a")]);
        for (sel, want) in [
            ("", true),
            ("env=prod", true),
            ("env==prod", true),
            ("env!=prod", false),
            ("env in (dev, prod)", true),
            ("env notin (prod)", false),
            ("tier,env", true),
            ("!tier", false),
            ("!missing", true),
            ("tkestack.io/cluster-name=cls-a,env=prod", true),
            ("missing!=x", true),
        ] {
            assert_eq!(LabelSelector::parse(sel).unwrap().matches(&l), want, "{sel}");
        }
    }

    #[test]
    fn label_selector_rejects_garbage() {
        for sel in ["env=prod,,", "a b=c", "env in prod", "=x"] {
            let e = LabelSelector::parse(sel).unwrap_err();
            assert_eq!(e.code(), 400, "{sel}");
        }
    }

    #[test]
    fn field_selector_forms() {
        let s = FieldSelector::parse("spec.type=Imported,status.phase!=Running").unwrap();
        assert!(s.matches(|f| if f == "spec.type" { "Imported".into() } else { "Failed".into() }));
        assert!(!s.matches(|f| if f == "spec.type" { "Imported".into() } else { "Running".into() }));
        let e = FieldSelector::parse(r"metadata.name=a\,b").unwrap();
        assert_eq!(e.required_value("metadata.name"), Some("a,b"));
        assert!(FieldSelector::parse("nonsense").is_err());
    }
}
