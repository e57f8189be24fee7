//! `tke bench business`: projects and namespaces at a company's scale. A temporary platform
//! imports simulated business clusters (one `kubesim::SimFleet` in this process), then gets
//! projects with a quota in several clusters each and namespaces in them; the bench times how
//! long until every namespace is `Available` (its Kubernetes namespace and ResourceQuota made
//! in its cluster), samples the platform's CPU and memory once all is steady, and times what a
//! member of many projects asks most: the Portal (who am I, which projects) and the listing of
//! their namespaces.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use base64::Engine;
use futures::{StreamExt, TryStreamExt, stream};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::{Value, json};

use crate::{
    bench::{Api, OwnServer, progress, timed},
    bench_clusters::{cluster_name, import, proc_usage},
};

#[derive(clap::Args, Debug)]
pub struct BusinessArgs {
    /// Simulated business clusters.
    #[arg(long, default_value_t = 100)]
    pub clusters: usize,
    #[arg(long, default_value_t = 1_000)]
    pub projects: usize,
    /// Namespaces per project, each in another of the project's clusters.
    #[arg(long, default_value_t = 10)]
    pub namespaces: usize,
    /// Projects the measured member belongs to.
    #[arg(long, default_value_t = 50)]
    pub member_of: usize,
    /// Portal and listing requests timed.
    #[arg(long, default_value_t = 2_000)]
    pub requests: usize,
    /// Requests in flight while creating.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// How long the steady platform is sampled.
    #[arg(long, default_value_t = 30)]
    pub window_seconds: u64,
    /// How long to wait for every namespace to be Available.
    #[arg(long, default_value_t = 1_800)]
    pub timeout_seconds: u64,
}

const BUSINESS: &str = "/apis/business.tkestack.io/v1";
const MEMBER: &str = "bencher";
const PASSWORD: &str = "bench member password";

fn project_name(i: usize) -> String {
    format!("prj-bench{i:05}")
}

/// The clusters of project `i`: `per` consecutive clusters from a project-dependent start, so
/// every cluster gets the same share.
fn clusters_of(i: usize, per: usize, clusters: usize) -> impl Iterator<Item = usize> {
    (0..per.min(clusters)).map(move |k| (i * 7 + k) % clusters)
}

async fn count(api: &Api, path: &str) -> anyhow::Result<usize> {
    let list = api.send(api.request(reqwest::Method::GET, path)).await?;
    Ok(list["items"].as_array().map(Vec::len).unwrap_or(0))
}

pub async fn run(args: BusinessArgs) -> anyhow::Result<()> {
    if args.clusters == 0 || args.projects == 0 {
        bail!("--clusters and --projects must be at least 1");
    }
    let timeout = Duration::from_secs(args.timeout_seconds);
    eprintln!("starting tke up on a temporary embedded store");
    let (server, kubeconfig) = OwnServer::start(&["--registry", "false"])?;
    let admin = Arc::new(Api::from_kubeconfig(&kubeconfig)?);
    let client = kubesim::cluster::client_from_kubeconfig(&kubeconfig).await?;
    let run = uuid::Uuid::new_v4().simple().to_string()[..6].to_string();
    let total_ns = args.projects * args.namespaces.min(args.clusters);
    println!(
        "tke bench business: {} projects x {} namespaces across {} simulated clusters, a member of {} projects ({} cores)",
        args.projects,
        args.namespaces.min(args.clusters),
        args.clusters,
        args.member_of.min(args.projects),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );

    // The business clusters.
    let gvk = |kind: &str| GroupVersionKind::gvk("platform.tkestack.io", "v1", kind);
    let clusters: kube::Api<DynamicObject> =
        kube::Api::all_with(client.clone(), &ApiResource::from_gvk_with_plural(&gvk("Cluster"), "clusters"));
    let creds: kube::Api<DynamicObject> = kube::Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(&gvk("ClusterCredential"), "clustercredentials"),
    );
    let config = kubesim::SimConfig { nodes: 1, ..Default::default() };
    let fleet = kubesim::SimFleet::new(kubesim::FleetOptions { config, ..Default::default() }).await?;
    progress(&format!("starting and importing {} simulated clusters", args.clusters));
    let sims: Vec<kubesim::SimCluster> = stream::iter(0..args.clusters)
        .map(|i| {
            let (fleet, clusters, creds, run) = (&fleet, &clusters, &creds, &run);
            async move {
                let name = cluster_name(run, i);
                let sim = fleet.start(&name).await?;
                import(clusters, creds, &name, run, &sim).await.with_context(|| format!("importing {name}"))?;
                anyhow::Ok(sim)
            }
        })
        .buffer_unordered(32)
        .try_collect()
        .await?;
    let started = Instant::now();
    loop {
        let running =
            count(&admin, "/apis/platform.tkestack.io/v1/clusters?fieldSelector=status.phase%3DRunning").await?;
        if running >= args.clusters {
            break;
        }
        if started.elapsed() > timeout {
            bail!("only {running} of {} clusters Running after {timeout:?}", args.clusters);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    progress(&format!("all clusters Running after {:.1?}", started.elapsed()));

    // The member, and the projects with their namespaces.
    admin
        .send(admin.request(reqwest::Method::POST, "/apis/auth.tkestack.io/v1/localidentities").json(&json!({
            "apiVersion": "auth.tkestack.io/v1", "kind": "LocalIdentity", "metadata": {"name": "usr-bencher"},
            "spec": {"username": MEMBER, "tenantID": "default",
                "hashedPassword": base64::engine::general_purpose::STANDARD.encode(PASSWORD)}})))
        .await?;
    let per = args.namespaces.min(args.clusters);
    let before = proc_usage(server.child.id())?;
    let created = Instant::now();
    progress(&format!("creating {} projects", args.projects));
    let projects = timed("projects", 0..args.projects, args.concurrency, |i| {
        let admin = admin.clone();
        let quota: serde_json::Map<String, Value> = clusters_of(i, per, args.clusters)
            .map(|c| (cluster_name(&run, c), json!({"hard": {"cpu": "100", "memory": "200Gi"}})))
            .collect();
        let members: Vec<&str> = if i < args.member_of { vec![MEMBER] } else { vec![] };
        let body = json!({"apiVersion": "business.tkestack.io/v1", "kind": "Project",
            "metadata": {"name": project_name(i)},
            "spec": {"displayName": format!("bench project {i}"), "members": members, "clusters": quota}});
        async move {
            admin.send(admin.request(reqwest::Method::POST, &format!("{BUSINESS}/projects")).json(&body)).await?;
            Ok(())
        }
    })
    .await?;
    progress(&format!("creating {total_ns} namespaces"));
    let namespaces = timed("namespaces", 0..total_ns, args.concurrency, |n| {
        let admin = admin.clone();
        let (i, k) = (n / per, n % per);
        let cluster = clusters_of(i, per, args.clusters).nth(k).map(|c| cluster_name(&run, c)).unwrap_or_default();
        let body = json!({"apiVersion": "business.tkestack.io/v1", "kind": "Namespace",
            "metadata": {"namespace": project_name(i)},
            "spec": {"clusterName": cluster, "namespace": format!("p{i}-n{k}"), "hard": {"cpu": "1", "memory": "1Gi"}}});
        let path = format!("{BUSINESS}/namespaces/{}/namespaces", project_name(i));
        async move {
            admin.send(admin.request(reqwest::Method::POST, &path).json(&body)).await?;
            Ok(())
        }
    })
    .await?;
    let mut last = Instant::now();
    let available_in = loop {
        let available = count(&admin, &format!("{BUSINESS}/namespaces?fieldSelector=status.phase%3DAvailable")).await?;
        if available >= total_ns {
            break created.elapsed();
        }
        if created.elapsed() > timeout {
            bail!("only {available} of {total_ns} namespaces Available after {timeout:?}");
        }
        if last.elapsed() > Duration::from_secs(10) {
            progress(&format!("{available}/{total_ns} namespaces Available [{:.0?}]", created.elapsed()));
            last = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let after = proc_usage(server.child.id())?;
    progress(&format!("all namespaces Available after {available_in:.1?}; sampling the steady platform"));

    // Steady: nothing changes, the controllers only re-check.
    let window = Duration::from_secs(args.window_seconds.max(1));
    let first = proc_usage(server.child.id())?;
    let mut rss = vec![first.rss_bytes];
    let w = Instant::now();
    while w.elapsed() < window {
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss.push(proc_usage(server.child.id())?.rss_bytes);
    }
    let end = proc_usage(server.child.id())?;
    let steady_cpu = (end.cpu_seconds - first.cpu_seconds) / w.elapsed().as_secs_f64() * 100.0;
    let rss_mean = rss.iter().sum::<u64>() / rss.len() as u64;

    // The member's view.
    let ca = std::fs::read(server.data_dir().join("pki").join("ca.crt")).context("the platform's CA")?;
    let token: Value = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
        .build()?
        .post(format!("{}/oidc/token", admin.base))
        .form(&[("grant_type", "password"), ("client_id", "default"), ("username", MEMBER), ("password", PASSWORD)])
        .send()
        .await?
        .json()
        .await?;
    let token = token["id_token"].as_str().with_context(|| format!("no token for the member: {token}"))?;
    let member = Arc::new(admin.with_token(&ca, token)?);
    let member_of = args.member_of.min(args.projects);
    let waited = Instant::now();
    loop {
        let portal = member.send(member.request(reqwest::Method::GET, &format!("{BUSINESS}/portal"))).await?;
        let n = portal["projects"].as_object().map_or(0, |p| p.len());
        if n >= member_of {
            break;
        }
        if waited.elapsed() > timeout {
            bail!("the portal shows the member in {n} of {member_of} projects after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let portal = timed("portal", 0..args.requests, 1, |_| {
        let member = member.clone();
        async move {
            member.send(member.request(reqwest::Method::GET, &format!("{BUSINESS}/portal"))).await?;
            Ok(())
        }
    })
    .await?;
    let list = timed("list", 0..args.requests, 1, |n| {
        let member = member.clone();
        let path = format!("{BUSINESS}/namespaces/{}/namespaces", project_name(n % member_of.max(1)));
        async move {
            let got = count(&member, &path).await?;
            if got != per {
                bail!("the member listed {got} namespaces in a project of {per}");
            }
            Ok(())
        }
    })
    .await?;

    let mib = |b: u64| b as f64 / 1048576.0;
    println!("{:<42} {:>8} {:>13} {:>12} {:>12} {:>12}", "phase", "requests", "throughput", "p50", "p99", "max");
    projects.print_as("create project (admin)");
    namespaces.print_as("create namespace (admin, quota reserved)");
    portal.print_as(&format!("portal, member of {member_of} projects"));
    list.print_as(&format!("list a project's {per} namespaces (member)"));
    println!(
        "all {total_ns} namespaces Available after   {:>8.1} s (from the first create; platform CPU meanwhile {:.0}% of one core)",
        available_in.as_secs_f64(),
        (after.cpu_seconds - before.cpu_seconds) / available_in.as_secs_f64().max(1e-9) * 100.0
    );
    println!(
        "steady platform ({:.0} s): CPU {steady_cpu:.1}% of one core, RSS {:.1} MiB",
        window.as_secs_f64(),
        mib(rss_mean)
    );
    drop(sims);
    Ok(())
}
