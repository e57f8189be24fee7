//! The indexed enforcer against the `casbin` crate running the reference model: generated
//! policies, bindings and requests (fixed seed), including deny rows, wildcards, `/:param`
//! segments, upper-case patterns, project domains, group subjects, role chains and cycles,
//! then rows removed and added again, compared decision by decision.
//!
//! Our decision takes several subjects and unions a project domain with the platform domain
//! `*`, where one Casbin request has one subject and one domain. The oracle therefore runs
//! three Casbin enforcers on the same model: `all` with every row (the model itself), `allows`
//! with only the allow rows and `denies` with the deny rows written as allow rows. A decision
//! must be: some (subject, domain) pair allowed by `allows`, and no pair allowed by `denies`.
//! For one subject on the platform domain it must also be exactly what `all` says.

use std::{cell::RefCell, collections::HashMap};

use auth::authz::{
    DEFAULT_MODEL, Effect, Enforcer, Row,
    enforcer::Query,
    model::{PLATFORM_DOMAIN, key_match_custom},
};
use casbin::{
    CoreApi, DefaultModel, MemoryAdapter, MgmtApi,
    function_map::{OperatorFunction, dynamic_to_str},
    rhai::Dynamic,
};
use regex::Regex;

/// SplitMix64: a fixed, dependency-free sequence, so a failure is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

thread_local! {
    static ORACLE_PATTERNS: RefCell<HashMap<String, Regex>> = RefCell::new(HashMap::new());
}

/// `keyMatchCustom` written again from the reference's words, independently of
/// `auth::authz::model`: lower-case both; a `/:name` segment is `/[^/]+`; `*` is `.*`; every
/// other character is itself; the whole key must match.
fn oracle_key_match(key: &str, pattern: &str) -> bool {
    let key = key.to_lowercase();
    ORACLE_PATTERNS.with(|cache| {
        let mut cache = cache.borrow_mut();
        let re = cache.entry(pattern.to_string()).or_insert_with(|| {
            let segment = Regex::new(r"/:[^/]+").expect("segment regex");
            let lower = pattern.to_lowercase();
            let literal = |piece: &str| piece.split('*').map(regex::escape).collect::<Vec<_>>().join(".*");
            let body = segment.split(&lower).map(literal).collect::<Vec<_>>().join("/[^/]+");
            Regex::new(&format!("(?s)^{body}$")).expect("oracle regex")
        });
        re.is_match(&key)
    })
}

fn casbin_key_match(key: Dynamic, pattern: Dynamic) -> Dynamic {
    oracle_key_match(&dynamic_to_str(&key), &dynamic_to_str(&pattern)).into()
}

async fn casbin_enforcer(rows: &[Row]) -> casbin::Enforcer {
    let model = DefaultModel::from_str(DEFAULT_MODEL).await.expect("model");
    let mut e = casbin::Enforcer::new(model, MemoryAdapter::default()).await.expect("enforcer");
    e.add_function("keyMatchCustom", OperatorFunction::Arg2(casbin_key_match));
    let (p, g) = split_rows(rows);
    if !p.is_empty() {
        e.add_policies(p).await.expect("p rows");
    }
    if !g.is_empty() {
        e.add_grouping_policies(g).await.expect("g rows");
    }
    e
}

/// The `p` and the `g` rows, as Casbin's management API takes them.
fn split_rows(rows: &[Row]) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let mut p = Vec::new();
    let mut g = Vec::new();
    for row in rows {
        let (ptype, values) = row.fields();
        let values: Vec<String> = values.into_iter().map(str::to_string).collect();
        if ptype == "p" { p.push(values) } else { g.push(values) }
    }
    (p, g)
}

/// The three oracle enforcers of the module's documentation.
struct Oracle {
    all: casbin::Enforcer,
    allows: casbin::Enforcer,
    denies: casbin::Enforcer,
}

fn only(rows: &[Row], wanted: Effect) -> Vec<Row> {
    rows.iter()
        .filter_map(|r| match r {
            Row::Policy { sub, dom, obj, act, eft } if *eft == wanted => Some(Row::Policy {
                sub: sub.clone(),
                dom: dom.clone(),
                obj: obj.clone(),
                act: act.clone(),
                eft: Effect::Allow,
            }),
            Row::Policy { .. } => None,
            g => Some(g.clone()),
        })
        .collect()
}

impl Oracle {
    async fn new(rows: &[Row]) -> Self {
        Self {
            all: casbin_enforcer(rows).await,
            allows: casbin_enforcer(&only(rows, Effect::Allow)).await,
            denies: casbin_enforcer(&only(rows, Effect::Deny)).await,
        }
    }

    fn decide(&self, subjects: &[&str], domain: &str, obj: &str, act: &str) -> bool {
        let mut domains = vec![domain];
        if domain != PLATFORM_DOMAIN {
            domains.push(PLATFORM_DOMAIN);
        }
        let any = |e: &casbin::Enforcer| {
            subjects.iter().any(|s| domains.iter().any(|d| e.enforce((*s, *d, obj, act)).expect("casbin enforce")))
        };
        let decision = !any(&self.denies) && any(&self.allows);
        if let [s] = subjects
            && domain == PLATFORM_DOMAIN
        {
            let model = self.all.enforce((*s, domain, obj, act)).expect("casbin enforce");
            assert_eq!(model, decision, "the oracle's decomposition disagrees with the model for {s} {obj} {act}");
        }
        decision
    }

    async fn add(&mut self, row: &Row) {
        let (ptype, values) = row.fields();
        let values: Vec<String> = values.into_iter().map(str::to_string).collect();
        let as_allow = |mut v: Vec<String>| {
            v[4] = "allow".into();
            v
        };
        match (ptype, row) {
            ("g", _) => {
                for e in [&mut self.all, &mut self.allows, &mut self.denies] {
                    e.add_grouping_policy(values.clone()).await.expect("add g");
                }
            }
            (_, Row::Policy { eft: Effect::Allow, .. }) => {
                self.all.add_policy(values.clone()).await.expect("add p");
                self.allows.add_policy(values).await.expect("add p");
            }
            _ => {
                self.all.add_policy(values.clone()).await.expect("add p");
                self.denies.add_policy(as_allow(values)).await.expect("add p");
            }
        }
    }

    async fn remove(&mut self, row: &Row) {
        let (ptype, values) = row.fields();
        let values: Vec<String> = values.into_iter().map(str::to_string).collect();
        match (ptype, row) {
            ("g", _) => {
                for e in [&mut self.all, &mut self.allows, &mut self.denies] {
                    e.remove_grouping_policy(values.clone()).await.expect("remove g");
                }
            }
            (_, Row::Policy { eft: Effect::Allow, .. }) => {
                self.all.remove_policy(values.clone()).await.expect("remove p");
                self.allows.remove_policy(values).await.expect("remove p");
            }
            _ => {
                self.all.remove_policy(values.clone()).await.expect("remove p");
                let mut v = values;
                v[4] = "allow".into();
                self.denies.remove_policy(v).await.expect("remove p");
            }
        }
    }
}

const TENANTS: [&str; 2] = ["t1", "t2"];
const DOMAINS: [&str; 5] = ["*", "prj-0", "prj-1", "prj-2", "prj-9"];
const OBJECT_PATTERNS: &[&str] = &[
    "*",
    "cluster:cls-a/*",
    "cluster:cls-b*",
    "Cluster:CLS-A/*",
    "cluster:*/namespace:ns-1/*",
    "cluster:cls-a/:ns/pod:*",
    "cluster:/:c",
    "*/:ns/pod:p1",
    "cluster:cls-a/namespace:ns-1/pod:p1",
    "*pod:p2",
    "*namespace:ns-2*",
    "registrynamespace:lib/repository:a.b",
    "registrynamespace:lib/:repo",
    "registrynamespace:lib/repository:a*",
    "project:prj-0/*",
    "cluster:cls-a",
    "-",
];
const OBJECTS: &[&str] = &[
    "cluster:cls-a",
    "cluster:cls-b",
    "cluster:*",
    "cluster:/x",
    "cluster:cls-a/namespace:ns-1/pod:p1",
    "cluster:cls-a/namespace:ns-2/pod:p2",
    "cluster:cls-b/namespace:ns-1/pod:p1",
    "Cluster:CLS-A/Namespace:NS-1/Pod:P1",
    "registrynamespace:lib/repository:a.b",
    "registrynamespace:lib/repository:axb",
    "registrynamespace:lib/repository:a/b",
    "project:prj-0/namespace:n",
    "pod:*",
];
const ACTION_PATTERNS: &[&str] = &[
    "*",
    "get*",
    "list*",
    "GET*",
    "*Pod*",
    "*Status",
    "delete*",
    "createCluster",
    "getClusterStatus",
    "*Cluster*",
    "create*Exec",
    "listPortal",
];
const ACTIONS: &[&str] = &[
    "getPod",
    "listPods",
    "createPod",
    "deletePod",
    "getCluster",
    "createCluster",
    "getClusterStatus",
    "updateClusterStatus",
    "listClusters",
    "createPodExec",
    "getPodLog",
    "watchPod",
    "listPortal",
];

struct World {
    rows: Vec<Row>,
}

fn user(rng: &mut Rng, t: &str) -> String {
    if rng.chance(10) { format!("{t}##user##*") } else { format!("{t}##user##u{}", rng.below(12)) }
}

fn group(rng: &mut Rng, t: &str) -> String {
    format!("{t}##group##g{}", rng.below(5))
}

fn policy(rng: &mut Rng, t: &str) -> String {
    format!("pol-{t}-{}", rng.below(25))
}

fn role(rng: &mut Rng, t: &str) -> String {
    format!("rol-{t}-{}", rng.below(8))
}

fn random_row(rng: &mut Rng) -> Row {
    let t = *rng.pick(&TENANTS);
    if rng.chance(45) {
        // p rows mostly belong to policies; some name a role, a group or a user directly.
        let sub = match rng.below(10) {
            0 => user(rng, t),
            1 => group(rng, t),
            2 => role(rng, t),
            _ => policy(rng, t),
        };
        let eft = if rng.chance(20) { Effect::Deny } else { Effect::Allow };
        let dom = if rng.chance(80) { "*" } else { "prj-0" };
        Row::Policy {
            sub,
            dom: dom.into(),
            obj: rng.pick(OBJECT_PATTERNS).to_string(),
            act: rng.pick(ACTION_PATTERNS).to_string(),
            eft,
        }
    } else {
        let domain = if rng.chance(50) { "*" } else { *rng.pick(&DOMAINS) };
        let (member, role_name) = match rng.below(10) {
            0..=2 => (user(rng, t), policy(rng, t)),
            3 => (user(rng, t), role(rng, t)),
            4 => (user(rng, t), group(rng, t)),
            5 | 6 => (group(rng, t), policy(rng, t)),
            7 => (group(rng, t), role(rng, t)),
            8 => (role(rng, t), policy(rng, t)),
            // Roles of roles, cycles included.
            _ => (role(rng, t), role(rng, t)),
        };
        Row::grouping(&member, &role_name, domain)
    }
}

impl World {
    fn generate(rng: &mut Rng, n: usize) -> Self {
        let mut rows: Vec<Row> = Vec::new();
        while rows.len() < n {
            let row = random_row(rng);
            if let Row::Grouping { member, role, .. } = &row
                && member == role
            {
                continue;
            }
            if !rows.contains(&row) {
                rows.push(row);
            }
        }
        Self { rows }
    }
}

fn request(rng: &mut Rng) -> (Vec<String>, &'static str, &'static str, &'static str) {
    let t = *rng.pick(&TENANTS);
    let mut subjects = vec![format!("{t}##user##u{}", rng.below(12))];
    if rng.chance(70) {
        subjects.push(format!("{t}##user##*"));
    }
    for _ in 0..rng.below(3) {
        let g = group(rng, t);
        if !subjects.contains(&g) {
            subjects.push(g);
        }
    }
    (subjects, *rng.pick(&DOMAINS), *rng.pick(OBJECTS), *rng.pick(ACTIONS))
}

async fn compare(rng: &mut Rng, ours: &Enforcer, oracle: &Oracle, n: usize, round: &str) -> usize {
    let mut allowed = 0;
    let mut asked = Vec::with_capacity(n);
    let mut verdicts = Vec::with_capacity(n);
    for i in 0..n {
        // One in four requests is one subject on the platform domain: checked against the
        // model directly too.
        let (mut subjects, mut domain, obj, act) = request(rng);
        if i % 4 == 0 {
            subjects.truncate(1);
            domain = PLATFORM_DOMAIN;
        }
        let refs: Vec<&str> = subjects.iter().map(String::as_str).collect();
        let got = ours.decide(&refs, domain, obj, act);
        let want = oracle.decide(&refs, domain, obj, act);
        assert_eq!(
            got.allowed,
            want,
            "{round}, request {i}: {refs:?} in {domain} {act} on {obj}: ours {got:?}, casbin {want}\nrows reached: {:#?}",
            ours.permissions(&refs, domain)
        );
        allowed += usize::from(want);
        asked.push((subjects, domain, obj, act));
        verdicts.push(got);
    }
    // The same questions all at once give the same answers.
    let refs: Vec<Vec<&str>> = asked.iter().map(|(s, ..)| s.iter().map(String::as_str).collect()).collect();
    let queries: Vec<Query> =
        asked.iter().zip(&refs).map(|((_, domain, obj, act), subjects)| Query { subjects, domain, obj, act }).collect();
    assert_eq!(ours.decide_all(&queries), verdicts, "{round}: decide_all");
    allowed
}

#[tokio::test(flavor = "current_thread")]
async fn decisions_agree_with_casbin() {
    let mut rng = Rng(0x7ce_2026);
    let mut total = 0;
    let mut total_allowed = 0;
    for world_no in 0..4 {
        let world = World::generate(&mut rng, 160);
        let ours = Enforcer::with_rows(&world.rows).expect("rows");
        let mut oracle = Oracle::new(&world.rows).await;
        let allowed = compare(&mut rng, &ours, &oracle, 700, &format!("world {world_no}")).await;
        total += 700;
        total_allowed += allowed;

        // Remove a third of the rows one by one, add new ones, and compare again.
        let mut rows = world.rows.clone();
        for _ in 0..rows.len() / 3 {
            let row = rows.swap_remove(rng.below(rows.len()));
            assert!(ours.remove(&row), "{row} was held");
            oracle.remove(&row).await;
        }
        let mut added = 0;
        while added < 40 {
            let row = random_row(&mut rng);
            let self_link = matches!(&row, Row::Grouping { member, role, .. } if member == role);
            if self_link || rows.contains(&row) {
                continue;
            }
            assert!(ours.add(&row).expect("add"));
            oracle.add(&row).await;
            rows.push(row);
            added += 1;
        }
        assert_eq!(ours.len(), rows.len());
        let allowed = compare(&mut rng, &ours, &oracle, 500, &format!("world {world_no} after updates")).await;
        total += 500;
        total_allowed += allowed;
    }
    // The generator must exercise both answers, or the comparison proves little.
    assert!(total_allowed > total / 10 && total_allowed < total * 9 / 10, "{total_allowed} of {total} allowed");
}

#[test]
fn the_oracle_key_match_agrees_with_ours() {
    let mut keys: Vec<&str> = OBJECTS.to_vec();
    keys.extend(ACTIONS);
    keys.extend(["", "x/:", "a\nb/c", "ÉTÉ/x", "cluster:cls-a/namespace:/pod:p1"]);
    let mut patterns: Vec<&str> = OBJECT_PATTERNS.to_vec();
    patterns.extend(ACTION_PATTERNS);
    patterns.extend(["", "x/:", "*\n*/:x", "été/*", "/:a/:b", "**", "a.b", "(", "[*"]);
    for k in &keys {
        for p in &patterns {
            assert_eq!(key_match_custom(k, p), oracle_key_match(k, p), "keyMatchCustom({k:?}, {p:?})");
        }
    }
}
