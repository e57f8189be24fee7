//! Authorization decisions with 10,000 users, 1,000 policies and 10,000 bindings loaded (issue
//! #14): the enforcer alone, a whole request's decision (attributes converted, subjects worked
//! out, short-circuits, enforcer), and `/auth/batchauthz`'s 100 attribute sets at a time (the
//! issue asks for p99 under 2 ms): one user's, as the console sends them, and 100 users' as the
//! worst case. Every request differs from the one before it (user, object,
//! action), so nothing is answered from a cache; the enforcer keeps none anyway.
//!
//! Criterion gives the mean of each; a second pass prints p50/p99/max over many single
//! calls, and the same decisions through the `casbin` crate (which evaluates its matcher on
//! every row) for comparison. `cargo bench -p auth --bench authz`.

use std::{
    hint::black_box,
    sync::Arc,
    time::{Duration, Instant},
};

use apiserver::{UserInfo, auth::Attributes};
use auth::authz::{
    CasbinAuthorizer, DEFAULT_MODEL, Effect, Enforcer, NoTenantAdmins, Row,
    attributes::derivable_actions,
    catalogue::default_policies,
    enforcer::{group_key, user_key},
};
use casbin::{
    CoreApi, DefaultModel, MemoryAdapter, MgmtApi,
    function_map::{OperatorFunction, dynamic_to_str},
    rhai::Dynamic,
};
use criterion::Criterion;
use http::{Method, Uri};

const TENANT: &str = "t1";
const USERS: usize = 10_000;
const POLICIES: usize = 1_000;
const BINDINGS: usize = 10_000;
const GROUPS: usize = 200;
const ROLES: usize = 100;
const PROJECTS: usize = 100;
const CLUSTERS: usize = 50;

/// SplitMix64, so every run loads the same world.
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
}

struct World {
    rows: Vec<Row>,
    policies: Vec<String>,
}

/// The tenant's default catalogue (31 policies) plus custom policies up to 1,000, each a few
/// actions on a few resources (one in ten a deny), and 10,000 bindings: users and groups to
/// policies and roles, in the platform and in projects, and roles to policies.
fn world(rng: &mut Rng) -> World {
    let actions: Vec<String> = derivable_actions().into_iter().collect();
    let mut rows = Vec::new();
    let mut policies = Vec::new();
    for p in default_policies(TENANT) {
        rows.extend(p.statement.rows(&p.name));
        policies.push(p.name);
    }
    while policies.len() < POLICIES {
        let name = format!("pol-{TENANT}-custom-{}", policies.len());
        let eft = if rng.below(10) == 0 { Effect::Deny } else { Effect::Allow };
        let resources = [
            format!("cluster:cls-{}/*", rng.below(CLUSTERS)),
            format!("cluster:*/namespace:ns-{}/*", rng.below(200)),
            "*".to_string(),
        ];
        for r in resources.iter().take(1 + rng.below(2)) {
            for _ in 0..(2 + rng.below(6)) {
                let act = match rng.below(4) {
                    0 => ["get*", "list*", "*Deployment*", "*Pod*", "create*"][rng.below(5)].to_string(),
                    _ => actions[rng.below(actions.len())].clone(),
                };
                rows.push(Row::policy(&name, r, &act, eft));
            }
        }
        policies.push(name);
    }
    let domain = |rng: &mut Rng| {
        if rng.below(10) < 7 { "*".to_string() } else { format!("prj-{}", rng.below(PROJECTS)) }
    };
    let mut bindings = 0;
    while bindings < BINDINGS {
        let row = match rng.below(20) {
            0..=11 => {
                let d = domain(rng);
                Row::grouping(&user_key(TENANT, &format!("u{}", rng.below(USERS))), &policies[rng.below(POLICIES)], &d)
            }
            12..=15 => {
                let d = domain(rng);
                Row::grouping(
                    &group_key(TENANT, &format!("g{}", rng.below(GROUPS))),
                    &policies[rng.below(POLICIES)],
                    &d,
                )
            }
            16..=18 => {
                let d = domain(rng);
                Row::grouping(
                    &user_key(TENANT, &format!("u{}", rng.below(USERS))),
                    &format!("rol-{TENANT}-{}", rng.below(ROLES)),
                    &d,
                )
            }
            _ => Row::grouping(&format!("rol-{TENANT}-{}", rng.below(ROLES)), &policies[rng.below(POLICIES)], "*"),
        };
        rows.push(row);
        bindings += 1;
    }
    // Everyone may open the portal and read clusters' names.
    rows.push(Row::grouping(&user_key(TENANT, "*"), &format!("pol-{TENANT}-viewer"), "*"));
    World { rows, policies }
}

/// A request of a random user for a random action on a random object.
fn request(rng: &mut Rng) -> Attributes {
    let user = random_user(rng);
    request_of(rng, user)
}

/// A random user: two groups, sometimes working in a project.
fn random_user(rng: &mut Rng) -> UserInfo {
    let mut groups = vec![
        format!("tenant:{TENANT}"),
        "system:authenticated".to_string(),
        format!("g{}", rng.below(GROUPS)),
        format!("g{}", rng.below(GROUPS)),
    ];
    if rng.below(4) == 0 {
        groups.push(format!("project:prj-{}", rng.below(PROJECTS)));
    }
    UserInfo { name: format!("u{}", rng.below(USERS)), groups, ..Default::default() }
}

/// A request of `user` for a random action on a random object of a business cluster or of the
/// platform.
fn request_of(rng: &mut Rng, user: UserInfo) -> Attributes {
    let cls = rng.below(CLUSTERS);
    let (method, path) = match rng.below(6) {
        0 => (Method::GET, format!("/apis/platform.tkestack.io/v1/clusters/cls-{cls}")),
        1 => (Method::POST, "/apis/platform.tkestack.io/v1/machines".to_string()),
        2 => (Method::GET, format!("/api/v1/namespaces/ns-{}/pods/p-{}/log", rng.below(200), rng.below(1000))),
        3 => (Method::POST, format!("/apis/apps/v1/namespaces/ns-{}/deployments", rng.below(200))),
        4 => (Method::DELETE, format!("/api/v1/namespaces/ns-{}/secrets/s-{}", rng.below(200), rng.below(1000))),
        _ => (Method::GET, format!("/apis/platform.tkestack.io/v1/clusters/cls-{cls}/addons")),
    };
    if matches!(rng.below(3), 0 | 1) {
        user_with_cluster(method, &path, user, cls)
    } else {
        let uri: Uri = path.parse().expect("uri");
        Attributes::from_request(&method, &uri, user)
    }
}

fn user_with_cluster(method: Method, path: &str, mut user: UserInfo, cls: usize) -> Attributes {
    user.groups.push(format!("cluster:cls-{cls}"));
    let uri: Uri = path.parse().expect("uri");
    Attributes::from_request(&method, &uri, user)
}

fn percentiles(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "{name:<48} n={:<6} p50={:>9.1?} p99={:>9.1?} max={:>9.1?}",
        samples.len(),
        at(0.50),
        at(0.99),
        samples[samples.len() - 1]
    );
}

fn oracle_key_match(key: Dynamic, pattern: Dynamic) -> Dynamic {
    auth::authz::key_match_custom(&dynamic_to_str(&key), &dynamic_to_str(&pattern)).into()
}

fn main() {
    let mut rng = Rng(2026);
    let started = Instant::now();
    let world = world(&mut rng);
    let enforcer = Arc::new(Enforcer::new());
    let mut refused = 0;
    for row in &world.rows {
        if enforcer.add(row).is_err() {
            refused += 1;
        }
    }
    let p_rows = world.rows.iter().filter(|r| matches!(r, Row::Policy { .. })).count();
    println!(
        "loaded {} rows ({p_rows} p rows of {} policies, {} g rows; {refused} refused) for {USERS} users in {:.2?}",
        enforcer.len(),
        world.policies.len(),
        world.rows.len() - p_rows,
        started.elapsed()
    );
    // Other work on the machine shows in the tails; say how busy it was.
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average at start: {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    }
    let authorizer = CasbinAuthorizer::new(enforcer.clone(), Arc::new(NoTenantAdmins));
    let requests: Vec<Attributes> = (0..20_000).map(|_| request(&mut rng)).collect();
    let converted: Vec<(Vec<String>, String, String)> = requests
        .iter()
        .map(|a| {
            let t = auth::authz::convert(a, None);
            (CasbinAuthorizer::subjects(&a.user, TENANT), t.object, t.action)
        })
        .collect();
    let allowed = requests.iter().filter(|a| authorizer.check(a).allowed).count();
    println!("{allowed} of {} generated requests are allowed", requests.len());

    let mut c = Criterion::default().configure_from_args().measurement_time(Duration::from_secs(5));
    let mut i = 0;
    c.bench_function("enforcer decide (cache miss)", |b| {
        b.iter(|| {
            let (subjects, obj, act) = &converted[i % converted.len()];
            i += 1;
            let refs: Vec<&str> = subjects.iter().map(String::as_str).collect();
            black_box(enforcer.decide(&refs, "*", obj, act))
        })
    });
    let mut i = 0;
    c.bench_function("authorizer check (convert + decide)", |b| {
        b.iter(|| {
            let a = &requests[i % requests.len()];
            i += 1;
            black_box(authorizer.check(a))
        })
    });
    // What the console sends: one user's 100 attribute sets (objects and actions vary).
    let batches: Vec<Vec<Attributes>> = (0..2_000)
        .map(|_| {
            let user = random_user(&mut rng);
            (0..100).map(|_| request_of(&mut rng, user.clone())).collect()
        })
        .collect();
    let mut i = 0;
    c.bench_function("batch of 100 attribute sets (one user)", |b| {
        b.iter(|| {
            let batch = &batches[i % batches.len()];
            i += 1;
            black_box(authorizer.batch(batch))
        })
    });
    let mut i = 0;
    c.bench_function("batch of 100 attribute sets (100 users)", |b| {
        b.iter(|| {
            let start = (i * 100) % (requests.len() - 100);
            i += 1;
            black_box(authorizer.batch(&requests[start..start + 100]))
        })
    });
    c.final_summary();

    println!();
    let mut samples = Vec::with_capacity(requests.len());
    for (subjects, obj, act) in &converted {
        let refs: Vec<&str> = subjects.iter().map(String::as_str).collect();
        let t = Instant::now();
        black_box(enforcer.decide(&refs, "*", obj, act));
        samples.push(t.elapsed());
    }
    percentiles("enforcer decide", samples);
    let mut samples = Vec::with_capacity(requests.len());
    for a in &requests {
        let t = Instant::now();
        black_box(authorizer.check(a));
        samples.push(t.elapsed());
    }
    percentiles("authorizer check", samples);
    let mut samples = Vec::new();
    for batch in &batches {
        let t = Instant::now();
        black_box(authorizer.batch(batch));
        samples.push(t.elapsed());
    }
    percentiles("batch of 100 (one user)", samples);
    let mut samples = Vec::new();
    for round in 0..2_000 {
        let start = (round * 100) % (requests.len() - 100);
        let t = Instant::now();
        black_box(authorizer.batch(&requests[start..start + 100]));
        samples.push(t.elapsed());
    }
    percentiles("batch of 100 (100 users)", samples);

    // The same decisions through the casbin crate, for the ratio.
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let casbin = rt.block_on(async {
        let model = DefaultModel::from_str(DEFAULT_MODEL).await.expect("model");
        let mut e = casbin::Enforcer::new(model, MemoryAdapter::default()).await.expect("enforcer");
        e.add_function("keyMatchCustom", OperatorFunction::Arg2(oracle_key_match));
        let mut p = Vec::new();
        let mut g = Vec::new();
        for row in enforcer.rows() {
            let (ptype, values) = row.fields();
            let values: Vec<String> = values.into_iter().map(str::to_string).collect();
            if ptype == "p" { p.push(values) } else { g.push(values) }
        }
        e.add_policies(p).await.expect("p");
        e.add_grouping_policies(g).await.expect("g");
        e
    });
    let mut samples = Vec::new();
    let mut agree = 0;
    for (subjects, obj, act) in converted.iter().take(200) {
        let t = Instant::now();
        let got = casbin.enforce((subjects[0].as_str(), "*", obj.as_str(), act.as_str())).expect("enforce");
        samples.push(t.elapsed());
        agree += usize::from(got == enforcer.decide(&[subjects[0].as_str()], "*", obj, act).allowed);
    }
    percentiles("casbin crate enforce (one subject)", samples);
    println!("casbin and the enforcer agree on {agree} of 200");
}
