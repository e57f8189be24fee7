//! `tke bench authz`: what authorizing every request by the policies costs, as a client sees
//! it. A temporary platform is loaded with users, policies and bindings (each binding a Rule
//! row the controller writes), then the same creates and gets run as the administrator, whose
//! requests the authorizer passes at once (`system:masters`), and as a user whose policies it
//! evaluates. Every request names a new object, so nothing can be answered from a cache.

use std::{sync::Arc, time::Duration};

use anyhow::{Context, bail};
use base64::Engine;
use serde_json::{Value, json};

use crate::bench::{Api, OwnServer, Sample, object, progress, timed};

#[derive(clap::Args, Debug)]
pub struct AuthzArgs {
    #[arg(long, default_value_t = 10_000)]
    pub users: usize,
    #[arg(long, default_value_t = 1_000)]
    pub policies: usize,
    #[arg(long, default_value_t = 10_000)]
    pub bindings: usize,
    /// Creates (and then gets) per caller.
    #[arg(long, default_value_t = 4_000)]
    pub requests: usize,
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
}

const API: &str = "/apis/auth.tkestack.io/v1";
const RESOURCE: &str = "/apis/platform.tkestack.io/v1/configmaps";
const PASSWORD: &str = "bench user password";

async fn load(api: &Arc<Api>, what: &str, n: usize, make: impl Fn(usize) -> (String, Value)) -> anyhow::Result<()> {
    progress(&format!("creating {n} {what}"));
    let make = &make;
    timed(what, 0..n, 32, |i| {
        let api = api.clone();
        let (path, body) = make(i);
        async move {
            api.send(api.request(reqwest::Method::POST, &path).json(&body)).await?;
            Ok(())
        }
    })
    .await?;
    Ok(())
}

async fn count(api: &Api, path: &str) -> anyhow::Result<usize> {
    let list = api.send(api.request(reqwest::Method::GET, path)).await?;
    Ok(list["items"].as_array().map(Vec::len).unwrap_or(0))
}

pub async fn run(args: AuthzArgs) -> anyhow::Result<()> {
    eprintln!("starting tke up on a temporary embedded store");
    let (server, kubeconfig) = OwnServer::start(&[])?;
    let admin = Arc::new(Api::from_kubeconfig(&kubeconfig)?);
    let users = args.users.max(1);
    let policies = args.policies.max(1);

    load(&admin, "users", users, |i| {
        (format!("{API}/localidentities"), json!({"apiVersion": "auth.tkestack.io/v1", "kind": "LocalIdentity",
            "metadata": {"name": format!("usr-bench-{i}")}, "spec": {"username": format!("bench{i}"), "tenantID": "default"}}))
    })
    .await?;
    // Policies on other resources than the measured ones, each bound to bindings/policies users.
    let per_policy = args.bindings / policies;
    load(&admin, "policies", policies, |j| {
        (format!("{API}/policies"), json!({"apiVersion": "auth.tkestack.io/v1", "kind": "Policy",
            "metadata": {"name": format!("pol-bench-{j}")},
            "spec": {"displayName": format!("bench {j}"), "tenantID": "default", "category": "cluster",
                "statement": {"actions": ["getCluster", "listClusters"], "resources": [format!("cluster:cls-{j}")], "effect": "allow"}}}))
    })
    .await?;
    // Status is the binding subresources' to write: set it there.
    progress(&format!("binding {} users to the policies", per_policy * policies));
    timed("bindings", 0..policies, 32, |j| {
        let admin = admin.clone();
        async move {
            let path = format!("{API}/policies/pol-bench-{j}/binding");
            let users: Vec<Value> =
                (0..per_policy).map(|k| json!({"name": format!("bench{}", (j * per_policy + k) % users)})).collect();
            admin.send(admin.request(reqwest::Method::POST, &path).json(&json!({"users": users}))).await?;
            Ok(())
        }
    })
    .await?;

    // The measured user: allowed to create and get configmaps, nothing more.
    let encoded = base64::engine::general_purpose::STANDARD.encode(PASSWORD);
    admin
        .send(admin.request(reqwest::Method::POST, &format!("{API}/localidentities")).json(&json!({
            "apiVersion": "auth.tkestack.io/v1", "kind": "LocalIdentity", "metadata": {"name": "usr-bencher"},
            "spec": {"username": "bencher", "tenantID": "default", "hashedPassword": encoded}})))
        .await?;
    admin
        .send(admin.request(reqwest::Method::POST, &format!("{API}/policies")).json(&json!({
            "apiVersion": "auth.tkestack.io/v1", "kind": "Policy", "metadata": {"name": "pol-bench-configmaps"},
            "spec": {"displayName": "configmaps", "tenantID": "default", "category": "config",
                "statement": {"actions": ["createConfigmap", "getConfigmap"], "resources": ["*"], "effect": "allow"}}})))
        .await?;
    admin
        .send(
            admin
                .request(reqwest::Method::POST, &format!("{API}/policies/pol-bench-configmaps/binding"))
                .json(&json!({"users": [{"name": "bencher"}]})),
        )
        .await?;
    let expected_rows = policies * 2 + per_policy * policies;
    progress(&format!("waiting for the controller to write at least {expected_rows} rows"));
    let started = std::time::Instant::now();
    loop {
        let rows = count(&admin, &format!("{API}/rules")).await?;
        if rows >= expected_rows {
            eprintln!("  .. {rows} rows after {:.1} s", started.elapsed().as_secs_f64());
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("only {rows} of {expected_rows} rows after 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let ca = std::fs::read(server.data_dir().join("pki").join("ca.crt")).context("the platform's CA")?;
    let token: Value = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
        .build()?
        .post(format!("{}/oidc/token", admin.base))
        .form(&[("grant_type", "password"), ("client_id", "default"), ("username", "bencher"), ("password", PASSWORD)])
        .send()
        .await?
        .json()
        .await?;
    let token = token["id_token"].as_str().with_context(|| format!("no token for the bench user: {token}"))?;
    let user = Arc::new(admin.with_token(&ca, token)?);
    // The user's policy must be in force before measuring.
    let probe = object("probe", 0, "x");
    for attempt in 0.. {
        match user.send(user.request(reqwest::Method::POST, RESOURCE).json(&probe)).await {
            Ok(_) => break,
            Err(_) if attempt < 100 => tokio::time::sleep(Duration::from_millis(200)).await,
            Err(e) => return Err(e.context("the bench user's policy never applied")),
        }
    }

    println!(
        "tke bench authz: {users} users, {} policies, {} bindings; {} requests per caller, {} in flight, {} cores",
        policies + 1,
        per_policy * policies + 1,
        args.requests,
        args.concurrency,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!("{:<42} {:>8} {:>13} {:>12} {:>12} {:>12}", "phase", "requests", "throughput", "p50", "p99", "max");
    let payload = "x".repeat(1024);
    let mut results: Vec<(String, Sample)> = vec![];
    for (who, api) in [("administrator (short-circuit)", admin.clone()), ("user (policies evaluated)", user.clone())] {
        let run = if who.starts_with("admin") { "a" } else { "u" };
        let create = timed("create", 0..args.requests, args.concurrency, |i| {
            let api = api.clone();
            let body = object(run, i, &payload);
            async move {
                api.send(api.request(reqwest::Method::POST, RESOURCE).json(&body)).await?;
                Ok(())
            }
        })
        .await?;
        let get = timed("get", 0..args.requests, args.concurrency, |i| {
            let api = api.clone();
            let path = format!("{RESOURCE}/bench-{run}-{i}");
            async move {
                api.send(api.request(reqwest::Method::GET, &path)).await?;
                Ok(())
            }
        })
        .await?;
        results.push((format!("create, {who}"), create));
        results.push((format!("get, {who}"), get));
    }
    let mut p99 = vec![];
    for (name, mut sample) in results {
        sample.latencies.sort();
        let i = ((sample.latencies.len() as f64 - 1.0) * 0.99).round() as usize;
        p99.push(sample.latencies.get(i).copied().unwrap_or_default());
        sample.print_as(&name);
    }
    if let [ca, ga, cu, gu] = p99[..] {
        println!(
            "p99 with policies evaluated / without: create {:.2}x, get {:.2}x",
            cu.as_secs_f64() / ca.as_secs_f64().max(1e-9),
            gu.as_secs_f64() / ga.as_secs_f64().max(1e-9)
        );
    }
    Ok(())
}
