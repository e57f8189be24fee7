//! An enforcer for the default model ([`super::model`]) that indexes its rows by subject and
//! domain, so a decision reads only the caller's bindings and the policies they reach instead
//! of evaluating the matcher against every row as a generic Casbin engine does.
//!
//! Rows are TKEStack's (persisted as Rule objects):
//! - `p, <sub>, <dom>, <obj>, <act>, <allow|deny>`: what a policy (or a user, group or role
//!   named directly) may or may not do. The model's matcher never reads `p.dom`.
//! - `g, <member>, <role>, <domain>`: `member` (a user or group key, a role) holds `role` (a
//!   role or a policy) in `domain`: a project's name, or `*` for the platform.
//!
//! **Decisions.** [`Enforcer::decide`] takes every subject the caller speaks for (its user key,
//! the tenant's `*` user key, its group keys) and a domain. The names a subject reaches are
//! those Casbin's `g(subject, name, domain)` is true for: the subject itself and every role
//! reachable through `g` rows of that domain. A request in a project also holds the platform
//! bindings (`*` domain) — a platform grant is not lost by working inside a project — but a
//! chain of links stays within one domain, as in Casbin. The effect is allow-override-with-deny
//! over all of it: allowed when some reached `p` row allows the object and action and no
//! reached row denies them. (TKEStack asked the enforcer once for the user and once for the
//! tenant's `*` user and allowed when either allowed, so a deny written for one subject was
//! lost when another was allowed; here a deny always wins.)
//!
//! The differential test in `tests/authz_casbin.rs` keeps this honest against the `casbin`
//! crate on generated policies and requests.
//!
//! **Updates.** Rows are added and removed one at a time (the Rule watch feeds them) without
//! rebuilding the index. The rows are a multiset: a row added twice (two Rule objects saying the
//! same thing) stays until it has been removed twice.

use std::{
    collections::{HashMap, HashSet},
    fmt,
    sync::{Arc, RwLock},
};

use super::model::{self, PLATFORM_DOMAIN, Pattern, PatternError};

/// A `p` row's effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Effect {
    Allow,
    Deny,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
        }
    }
}

/// One row of the model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Row {
    /// `p, sub, dom, obj, act, eft`.
    Policy { sub: String, dom: String, obj: String, act: String, eft: Effect },
    /// `g, member, role, domain`.
    Grouping { member: String, role: String, domain: String },
}

/// Why a row cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    #[error("unknown row type {0:?}: expected \"p\" (a policy) or \"g\" (a binding)")]
    UnknownType(String),
    #[error("a \"{ptype}\" row has {expected} values ({names}), found {found}")]
    Arity { ptype: &'static str, expected: usize, names: &'static str, found: usize },
    #[error("the {0} of the row is empty")]
    Empty(&'static str),
    #[error("the effect {0:?} is neither \"allow\" nor \"deny\"")]
    Effect(String),
    #[error(transparent)]
    Pattern(#[from] PatternError),
}

impl Row {
    /// A policy row.
    pub fn policy(sub: &str, obj: &str, act: &str, eft: Effect) -> Self {
        Row::Policy {
            sub: sub.to_string(),
            dom: PLATFORM_DOMAIN.to_string(),
            obj: obj.to_string(),
            act: act.to_string(),
            eft,
        }
    }

    /// A binding row.
    pub fn grouping(member: &str, role: &str, domain: &str) -> Self {
        Row::Grouping { member: member.to_string(), role: role.to_string(), domain: domain.to_string() }
    }

    /// Reads a row as a Rule object stores it (`ptype`, then `v0`…`v6`; empty trailing values
    /// are ignored).
    pub fn parse(ptype: &str, values: &[&str]) -> Result<Self, RowError> {
        let n = values.iter().rposition(|v| !v.is_empty()).map_or(0, |i| i + 1);
        let values = &values[..n];
        match ptype {
            "p" => {
                let [sub, dom, obj, act, eft] = values else {
                    return Err(RowError::Arity {
                        ptype: "p",
                        expected: 5,
                        names: "subject, domain, object, action, effect",
                        found: values.len(),
                    });
                };
                if sub.is_empty() {
                    return Err(RowError::Empty("subject"));
                }
                let eft = match *eft {
                    "allow" => Effect::Allow,
                    "deny" => Effect::Deny,
                    other => return Err(RowError::Effect(other.to_string())),
                };
                Ok(Row::Policy {
                    sub: sub.to_string(),
                    dom: dom.to_string(),
                    obj: obj.to_string(),
                    act: act.to_string(),
                    eft,
                })
            }
            "g" => {
                let [member, role, domain] = values else {
                    return Err(RowError::Arity {
                        ptype: "g",
                        expected: 3,
                        names: "member, role, domain",
                        found: values.len(),
                    });
                };
                for (v, what) in [(member, "member"), (role, "role"), (domain, "domain")] {
                    if v.is_empty() {
                        return Err(RowError::Empty(what));
                    }
                }
                Ok(Row::grouping(member, role, domain))
            }
            other => Err(RowError::UnknownType(other.to_string())),
        }
    }

    /// The row as a Rule object stores it: `ptype` and its values.
    pub fn fields(&self) -> (&'static str, Vec<&str>) {
        match self {
            Row::Policy { sub, dom, obj, act, eft } => ("p", vec![sub, dom, obj, act, eft.as_str()]),
            Row::Grouping { member, role, domain } => ("g", vec![member, role, domain]),
        }
    }
}

impl fmt::Display for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (ptype, values) = self.fields();
        write!(f, "{ptype}, {}", values.join(", "))
    }
}

/// A decision and why, in words a person can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub reason: String,
}

impl Verdict {
    pub fn allow(reason: impl Into<String>) -> Self {
        Self { allowed: true, reason: reason.into() }
    }

    pub fn deny(reason: impl Into<String>) -> Self {
        Self { allowed: false, reason: reason.into() }
    }
}

/// One question for [`Enforcer::decide_all`]: may `subjects` do `act` on `obj` in `domain`.
#[derive(Clone, Copy, Debug)]
pub struct Query<'q> {
    pub subjects: &'q [&'q str],
    pub domain: &'q str,
    pub obj: &'q str,
    pub act: &'q str,
}

/// A `p` row, its patterns compiled.
#[derive(Debug)]
struct Rule {
    obj: Arc<Pattern>,
    act: Arc<Pattern>,
    eft: Effect,
}

/// The maps' hasher: names are short strings looked up on every decision, where SipHash's
/// cost shows. The keys come from Rule objects, which only administrators write.
type Hasher = foldhash::fast::RandomState;
type Map<K, V> = HashMap<K, V, Hasher>;

/// Member → the roles it holds, in one domain.
type Links = Map<Box<str>, Vec<Box<str>>>;

/// The `p` rows of one subject. Most actions are literals (`createCluster`): those rules are
/// found by the request's action in one lookup; the others (`get*`, `*Deployment*`) are
/// matched one by one.
#[derive(Default, Debug)]
struct Rules {
    by_action: Map<Box<str>, Vec<(Row, Rule)>>,
    patterned: Vec<(Row, Rule)>,
}

impl Rules {
    fn is_empty(&self) -> bool {
        self.by_action.is_empty() && self.patterned.is_empty()
    }

    fn all(&self) -> impl Iterator<Item = &(Row, Rule)> {
        self.by_action.values().flatten().chain(&self.patterned)
    }

    /// The rules that may match the lower-cased action.
    fn candidates<'a>(&'a self, act: &str) -> impl Iterator<Item = &'a (Row, Rule)> {
        self.by_action.get(act).into_iter().flatten().chain(&self.patterned)
    }
}

/// The index. Names are `Box<str>` keys looked up by `&str`.
#[derive(Default, Debug)]
struct Index {
    /// How many times each row was added (a multiset).
    counts: Map<Row, usize>,
    /// `p` rows by subject, in the order they were added.
    rules: Map<Box<str>, Rules>,
    /// `g` rows: domain → member → roles.
    links: Map<Box<str>, Links>,
    /// Compiled patterns shared by the rows that use them.
    patterns: Map<Box<str>, Arc<Pattern>>,
}

impl Index {
    fn pattern(&mut self, source: &str) -> Result<Arc<Pattern>, PatternError> {
        if let Some(p) = self.patterns.get(source) {
            return Ok(p.clone());
        }
        let p = Arc::new(Pattern::compile(source)?);
        self.patterns.insert(source.into(), p.clone());
        Ok(p)
    }

    fn release(&mut self, p: Arc<Pattern>) {
        let source: &str = p.source();
        // Only the index's own entry (and `p`, about to be dropped) hold it: nobody uses it.
        if Arc::strong_count(&p) <= 2 {
            self.patterns.remove(source);
        }
    }

    fn add(&mut self, row: &Row) -> Result<bool, RowError> {
        if let Some(n) = self.counts.get_mut(row) {
            *n += 1;
            return Ok(false);
        }
        match row {
            Row::Policy { sub, obj, act, eft, .. } => {
                let obj = self.pattern(obj)?;
                let act = match self.pattern(act) {
                    Ok(p) => p,
                    Err(e) => {
                        self.release(obj);
                        return Err(e.into());
                    }
                };
                let literal = act.literal().map(Box::<str>::from);
                let rule = Rule { obj, act, eft: *eft };
                let rules = self.rules.entry(sub.as_str().into()).or_default();
                match literal {
                    Some(l) => rules.by_action.entry(l).or_default().push((row.clone(), rule)),
                    None => rules.patterned.push((row.clone(), rule)),
                }
            }
            Row::Grouping { member, role, domain } => {
                self.links
                    .entry(domain.as_str().into())
                    .or_default()
                    .entry(member.as_str().into())
                    .or_default()
                    .push(role.as_str().into());
            }
        }
        self.counts.insert(row.clone(), 1);
        Ok(true)
    }

    fn remove(&mut self, row: &Row) -> bool {
        match self.counts.get_mut(row) {
            None => return false,
            Some(n) if *n > 1 => {
                *n -= 1;
                return false;
            }
            Some(_) => {
                self.counts.remove(row);
            }
        }
        match row {
            Row::Policy { sub, act, .. } => {
                // The row's action pattern is interned while the row exists.
                let literal = self.patterns.get(act.as_str()).and_then(|p| p.literal()).map(Box::<str>::from);
                let Some(rules) = self.rules.get_mut(sub.as_str()) else { return true };
                let list = match &literal {
                    Some(l) => rules.by_action.get_mut(l),
                    None => Some(&mut rules.patterned),
                };
                let removed = list.and_then(|list| list.iter().position(|(r, _)| r == row).map(|i| list.remove(i).1));
                if let Some(l) = &literal
                    && rules.by_action.get(l).is_some_and(Vec::is_empty)
                {
                    rules.by_action.remove(l);
                }
                if rules.is_empty() {
                    self.rules.remove(sub.as_str());
                }
                if let Some(rule) = removed {
                    self.release(rule.obj);
                    self.release(rule.act);
                }
            }
            Row::Grouping { member, role, domain } => {
                if let Some(members) = self.links.get_mut(domain.as_str()) {
                    if let Some(roles) = members.get_mut(member.as_str()) {
                        if let Some(i) = roles.iter().position(|r| **r == **role) {
                            roles.remove(i);
                        }
                        if roles.is_empty() {
                            members.remove(member.as_str());
                        }
                    }
                    if members.is_empty() {
                        self.links.remove(domain.as_str());
                    }
                }
            }
        }
        true
    }

    /// The effect of the rows of the `reached` names on `act` and `obj`.
    fn judge(&self, reached: &[&str], domain: &str, obj: &str, act: &str) -> Verdict {
        let obj_l = model::lower(obj);
        let act_l = model::lower(act);
        let mut allowed_by: Option<&str> = None;
        for name in reached {
            let Some(rules) = self.rules.get(*name) else { continue };
            for (_, rule) in rules.candidates(&act_l) {
                if !rule.act.matches_lower(&act_l) || !rule.obj.matches_lower(&obj_l) {
                    continue;
                }
                match rule.eft {
                    Effect::Deny => {
                        return Verdict::deny(format!(
                            "{name} denies {:?} on {:?}",
                            rule.act.source(),
                            rule.obj.source()
                        ));
                    }
                    Effect::Allow => {
                        allowed_by.get_or_insert(name);
                    }
                }
            }
        }
        match allowed_by {
            Some(name) => Verdict::allow(format!("allowed by {name}")),
            None => Verdict::deny(format!("no policy bound in {} allows it", domain_words(domain))),
        }
    }

    /// Every name the subjects reach in `domain` and, for a project, in the platform domain:
    /// the subjects themselves and the roles their links lead to.
    fn reached<'a>(&'a self, subjects: &[&'a str], domain: &str) -> Vec<&'a str> {
        let mut all: HashSet<&'a str, Hasher> = HashSet::with_capacity_and_hasher(32, Hasher::default());
        let mut names = Vec::with_capacity(32);
        self.walk(subjects, domain, &mut all, &mut names);
        if domain != PLATFORM_DOMAIN {
            self.walk(subjects, PLATFORM_DOMAIN, &mut all, &mut names);
        }
        names
    }

    /// Breadth-first through the links of one domain. Names already reached through the other
    /// domain are walked again here, because a chain must stay inside one domain.
    fn walk<'a>(
        &'a self,
        subjects: &[&'a str],
        domain: &str,
        all: &mut HashSet<&'a str, Hasher>,
        names: &mut Vec<&'a str>,
    ) {
        let members = self.links.get(domain);
        let mut seen: HashSet<&'a str, Hasher> = HashSet::with_capacity_and_hasher(32, Hasher::default());
        let mut queue: Vec<&'a str> = Vec::with_capacity(32);
        for s in subjects {
            if seen.insert(s) {
                queue.push(s);
            }
        }
        let mut i = 0;
        while let Some(name) = queue.get(i).copied() {
            i += 1;
            if all.insert(name) {
                names.push(name);
            }
            if let Some(roles) = members.and_then(|m| m.get(name)) {
                for role in roles {
                    if seen.insert(role) {
                        queue.push(role);
                    }
                }
            }
        }
    }
}

/// The indexed enforcer; cheap to share (`Arc<Enforcer>`), safe to update while it decides.
#[derive(Default)]
pub struct Enforcer {
    index: RwLock<Index>,
}

impl fmt::Debug for Enforcer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let index = self.read();
        f.debug_struct("Enforcer").field("rows", &index.counts.len()).field("patterns", &index.patterns.len()).finish()
    }
}

/// The key of a user of a tenant, as the model's subjects and `g` rows name it.
pub fn user_key(tenant: &str, user: &str) -> String {
    format!("{tenant}##user##{user}")
}

/// The key of a group of a tenant.
pub fn group_key(tenant: &str, group: &str) -> String {
    format!("{tenant}##group##{group}")
}

/// The key that stands for every user of a tenant.
pub fn all_users_key(tenant: &str) -> String {
    user_key(tenant, "*")
}

impl Enforcer {
    pub fn new() -> Self {
        Self::default()
    }

    /// An enforcer holding `rows`.
    pub fn with_rows<'a>(rows: impl IntoIterator<Item = &'a Row>) -> Result<Self, RowError> {
        let e = Self::new();
        for row in rows {
            e.add(row)?;
        }
        Ok(e)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a row; true when it was not there before. A row whose patterns cannot be compiled
    /// is refused and changes nothing.
    pub fn add(&self, row: &Row) -> Result<bool, RowError> {
        self.write().add(row)
    }

    /// Removes one copy of a row; true when the last copy went.
    pub fn remove(&self, row: &Row) -> bool {
        self.write().remove(row)
    }

    /// Replaces every row by `rows` (after a relist). Rows that cannot be used are skipped and
    /// returned with their errors; the others all take effect at once.
    pub fn replace_all<'a>(&self, rows: impl IntoIterator<Item = &'a Row>) -> Vec<(Row, RowError)> {
        let mut index = Index::default();
        let mut refused = Vec::new();
        for row in rows {
            if let Err(e) = index.add(row) {
                refused.push((row.clone(), e));
            }
        }
        *self.write() = index;
        refused
    }

    /// How many distinct rows are held.
    pub fn len(&self) -> usize {
        self.read().counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every distinct row held (in no particular order).
    pub fn rows(&self) -> Vec<Row> {
        self.read().counts.keys().cloned().collect()
    }

    /// Whether the `subjects` may do `act` on `obj` in `domain` (a project, or `*` for the
    /// platform); see the module's documentation for the rules.
    pub fn decide(&self, subjects: &[&str], domain: &str, obj: &str, act: &str) -> Verdict {
        let index = self.read();
        let reached = index.reached(subjects, domain);
        index.judge(&reached, domain, obj, act)
    }

    /// The decisions for many queries at once, in order, under one look at the rows (an update
    /// waits until they are all answered). The names a set of subjects reaches in a domain are
    /// worked out once for all the queries that share them: a batch of one caller's requests
    /// walks the caller's bindings once.
    pub fn decide_all(&self, queries: &[Query<'_>]) -> Vec<Verdict> {
        let index = self.read();
        let mut memo: Vec<(&[&str], &str, Vec<&str>)> = Vec::new();
        queries
            .iter()
            .map(|q| {
                let at = memo.iter().position(|(s, d, _)| *d == q.domain && *s == q.subjects);
                let at = at.unwrap_or_else(|| {
                    memo.push((q.subjects, q.domain, index.reached(q.subjects, q.domain)));
                    memo.len() - 1
                });
                index.judge(&memo[at].2, q.domain, q.obj, q.act)
            })
            .collect()
    }

    /// The `p` rows the subjects reach in `domain` (with the platform's), for explaining a
    /// user's permissions (TKEStack's debug mode).
    pub fn permissions(&self, subjects: &[&str], domain: &str) -> Vec<Row> {
        let index = self.read();
        index
            .reached(subjects, domain)
            .iter()
            .filter_map(|name| index.rules.get(*name))
            .flat_map(|rules| rules.all().map(|(row, _)| row.clone()))
            .collect()
    }
}

fn domain_words(domain: &str) -> String {
    if domain == PLATFORM_DOMAIN { "the platform".to_string() } else { format!("project {domain} or the platform") }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "t1##user##alice";
    const ALL: &str = "t1##user##*";
    const DEV: &str = "t1##group##dev";

    fn enforcer(rows: &[Row]) -> Enforcer {
        Enforcer::with_rows(rows).expect("rows")
    }

    fn allowed(e: &Enforcer, subjects: &[&str], dom: &str, obj: &str, act: &str) -> bool {
        e.decide(subjects, dom, obj, act).allowed
    }

    #[test]
    fn rows_parse_and_print() {
        let p = Row::parse("p", &["pol-1", "*", "cluster:*", "get*", "allow", "", ""]).expect("p");
        assert_eq!(p, Row::policy("pol-1", "cluster:*", "get*", Effect::Allow));
        assert_eq!(p.to_string(), "p, pol-1, *, cluster:*, get*, allow");
        let g = Row::parse("g", &["t1##user##alice", "pol-1", "*"]).expect("g");
        assert_eq!(g.fields(), ("g", vec!["t1##user##alice", "pol-1", "*"]));
        let err = |ptype: &str, values: &[&str]| Row::parse(ptype, values).expect_err("bad").to_string();
        assert_eq!(
            err("p", &["pol-1", "*", "x"]),
            "a \"p\" row has 5 values (subject, domain, object, action, effect), found 3"
        );
        assert_eq!(
            err("p", &["pol-1", "*", "x", "y", "Allow"]),
            "the effect \"Allow\" is neither \"allow\" nor \"deny\""
        );
        assert_eq!(err("g", &["u", "", "*"]), "the role of the row is empty");
        assert_eq!(err("g", &["u"]), "a \"g\" row has 3 values (member, role, domain), found 1");
        assert_eq!(err("g", &["u", "", "*", "x"]), "a \"g\" row has 3 values (member, role, domain), found 4");
        assert_eq!(err("g", &["", "r", "*"]), "the member of the row is empty");
        assert_eq!(err("g2", &[]), "unknown row type \"g2\": expected \"p\" (a policy) or \"g\" (a binding)");
    }

    #[test]
    fn roles_policies_and_deny() {
        let e = enforcer(&[
            Row::policy("pol-read", "*", "get*", Effect::Allow),
            Row::policy("pol-read", "*", "list*", Effect::Allow),
            Row::policy("pol-cls", "cluster:cls-a*", "*", Effect::Allow),
            Row::policy("pol-nodel", "*", "delete*", Effect::Deny),
            Row::grouping(ALICE, "rol-ops", "*"),
            Row::grouping("rol-ops", "pol-read", "*"),
            Row::grouping("rol-ops", "pol-cls", "*"),
            Row::grouping(DEV, "pol-nodel", "*"),
        ]);
        assert!(allowed(&e, &[ALICE], "*", "machine:mc-1", "getMachine"));
        assert!(allowed(&e, &[ALICE], "*", "cluster:cls-a", "deleteCluster"));
        assert!(!allowed(&e, &[ALICE], "*", "cluster:cls-b", "deleteCluster"));
        // Group dev denies deletes: a deny of any subject wins.
        assert!(!allowed(&e, &[ALICE, DEV], "*", "cluster:cls-a", "deleteCluster"));
        assert!(allowed(&e, &[ALICE, DEV], "*", "cluster:cls-a", "updateCluster"));
        let v = e.decide(&[ALICE, DEV], "*", "cluster:cls-a", "deleteCluster");
        assert_eq!(v.reason, "pol-nodel denies \"delete*\" on \"*\"");
        let v = e.decide(&[ALICE], "*", "cluster:cls-b", "createCluster");
        assert_eq!(v, Verdict::deny("no policy bound in the platform allows it"));
        assert_eq!(e.decide(&[ALICE], "*", "x", "getX").reason, "allowed by pol-read");
        // A p row may name a subject directly.
        e.add(&Row::policy(ALL, "*", "listPortal", Effect::Allow)).expect("add");
        assert!(allowed(&e, &["t1##user##bob", ALL], "*", "portal:*", "listPortal"));
        assert!(!allowed(&e, &["t2##user##bob", "t2##user##*"], "*", "portal:*", "listPortal"));
    }

    #[test]
    fn domains_scope_bindings_and_the_platform_holds_everywhere() {
        let e = enforcer(&[
            Row::policy("pol-member", "*", "*Deployment*", Effect::Allow),
            Row::policy("pol-viewer", "*", "list*", Effect::Allow),
            Row::grouping(ALICE, "pol-member", "prj-a"),
            Row::grouping(ALICE, "pol-viewer", "*"),
            // A chain stays in one domain: rol-x links to pol-member only in prj-b.
            Row::grouping(ALICE, "rol-x", "prj-a"),
            Row::grouping("rol-x", "pol-member", "prj-b"),
        ]);
        assert!(allowed(&e, &[ALICE], "prj-a", "deployment:d", "createDeployment"));
        assert!(!allowed(&e, &[ALICE], "prj-b", "deployment:d", "createDeployment"));
        assert!(!allowed(&e, &[ALICE], "*", "deployment:d", "createDeployment"));
        assert!(allowed(&e, &[ALICE], "prj-b", "pod:*", "listPods"), "platform bindings hold in projects");
        assert!(allowed(&e, &[ALICE], "*", "pod:*", "listPods"));
        assert_eq!(
            e.decide(&[ALICE], "prj-c", "x", "createX").reason,
            "no policy bound in project prj-c or the platform allows it"
        );
    }

    #[test]
    fn decide_all_answers_like_decide() {
        let e = enforcer(&[
            Row::policy("pol-a", "*", "get*", Effect::Allow),
            Row::policy("pol-b", "cluster:x", "*", Effect::Deny),
            Row::grouping(ALICE, "pol-a", "*"),
            Row::grouping(DEV, "pol-b", "prj-1"),
        ]);
        let alice: &[&str] = &[ALICE];
        let both: &[&str] = &[ALICE, DEV];
        let queries: Vec<Query> = [
            (alice, "*", "cluster:x", "getCluster"),
            (alice, "*", "cluster:x", "deleteCluster"),
            (both, "*", "cluster:x", "getCluster"),
            (both, "prj-1", "cluster:x", "getCluster"),
            (both, "prj-1", "cluster:y", "getCluster"),
            (alice, "*", "cluster:y", "getCluster"),
        ]
        .into_iter()
        .map(|(subjects, domain, obj, act)| Query { subjects, domain, obj, act })
        .collect();
        let all = e.decide_all(&queries);
        let one_by_one: Vec<Verdict> = queries.iter().map(|q| e.decide(q.subjects, q.domain, q.obj, q.act)).collect();
        assert_eq!(all, one_by_one);
        assert_eq!(all.iter().map(|v| v.allowed).collect::<Vec<_>>(), [true, false, true, false, true, true]);
        assert!(e.decide_all(&[]).is_empty());
    }

    #[test]
    fn cycles_terminate() {
        let e = enforcer(&[
            Row::grouping("a", "b", "*"),
            Row::grouping("b", "c", "*"),
            Row::grouping("c", "a", "*"),
            Row::policy("c", "*", "go", Effect::Allow),
        ]);
        assert!(allowed(&e, &["a"], "*", "x", "go"));
        assert!(!allowed(&e, &["a"], "*", "x", "stop"));
    }

    #[test]
    fn incremental_updates_are_a_multiset() {
        let e = Enforcer::new();
        let bind = Row::grouping(ALICE, "pol-1", "*");
        let rule = Row::policy("pol-1", "cluster:*", "getCluster", Effect::Allow);
        assert!(e.add(&rule).expect("add"));
        assert!(!allowed(&e, &[ALICE], "*", "cluster:c", "getCluster"));
        assert!(e.add(&bind).expect("add"));
        assert!(!e.add(&bind).expect("add again"), "a second copy is not new");
        assert!(allowed(&e, &[ALICE], "*", "cluster:c", "getCluster"));
        assert!(!e.remove(&bind), "one copy remains");
        assert!(allowed(&e, &[ALICE], "*", "cluster:c", "getCluster"));
        assert!(e.remove(&bind));
        assert!(!allowed(&e, &[ALICE], "*", "cluster:c", "getCluster"));
        assert!(!e.remove(&bind), "removing what is not there changes nothing");
        assert_eq!(e.len(), 1);
        assert!(e.remove(&rule));
        assert!(e.is_empty());
        assert!(e.read().patterns.is_empty(), "patterns go with the last row using them");
        assert!(e.read().links.is_empty() && e.read().rules.is_empty());
    }

    #[test]
    fn patterns_are_shared_and_released() {
        let a = Row::policy("pol-1", "*", "get*", Effect::Allow);
        let b = Row::policy("pol-2", "*", "get*", Effect::Allow);
        let e = enforcer(&[a.clone(), b.clone()]);
        assert_eq!(e.read().patterns.len(), 2, "`*` and `get*`");
        e.remove(&a);
        assert_eq!(e.read().patterns.len(), 2, "still used by pol-2");
        e.remove(&b);
        assert_eq!(e.read().patterns.len(), 0);
    }

    #[test]
    fn a_bad_pattern_is_refused_and_changes_nothing() {
        let e = Enforcer::new();
        let huge = "a/:x".repeat(200_000);
        let err = e.add(&Row::policy("pol-1", "*", &huge, Effect::Allow)).expect_err("too large");
        assert!(matches!(err, RowError::Pattern(_)));
        assert!(e.is_empty());
        assert!(e.read().patterns.is_empty(), "the object's pattern was released");
    }

    #[test]
    fn replace_all_swaps_everything_and_reports_refusals() {
        let e = enforcer(&[Row::grouping(ALICE, "pol-1", "*"), Row::policy("pol-1", "*", "*", Effect::Allow)]);
        assert!(allowed(&e, &[ALICE], "*", "x", "y"));
        let huge = "a/:x".repeat(200_000);
        let refused = e.replace_all(&[
            Row::grouping(ALICE, "pol-2", "*"),
            Row::policy("pol-2", "*", "get*", Effect::Allow),
            Row::policy("pol-3", &huge, "*", Effect::Allow),
        ]);
        assert_eq!(refused.len(), 1);
        assert!(!allowed(&e, &[ALICE], "*", "x", "y"));
        assert!(allowed(&e, &[ALICE], "*", "x", "getY"));
        assert_eq!(e.len(), 2);
    }

    #[test]
    fn permissions_lists_the_reached_rows() {
        let e = enforcer(&[
            Row::grouping(ALICE, "pol-1", "prj-a"),
            Row::grouping(ALICE, "pol-2", "*"),
            Row::grouping(ALICE, "pol-3", "prj-b"),
            Row::policy("pol-1", "*", "a", Effect::Allow),
            Row::policy("pol-2", "*", "b", Effect::Deny),
            Row::policy("pol-3", "*", "c", Effect::Allow),
        ]);
        let mut acts: Vec<String> = e
            .permissions(&[ALICE], "prj-a")
            .into_iter()
            .map(|r| match r {
                Row::Policy { act, .. } => act,
                Row::Grouping { .. } => String::new(),
            })
            .collect();
        acts.sort();
        assert_eq!(acts, ["a", "b"]);
    }

    #[test]
    fn keys() {
        assert_eq!(user_key("t1", "alice"), ALICE);
        assert_eq!(all_users_key("t1"), ALL);
        assert_eq!(group_key("t1", "dev"), DEV);
    }
}
