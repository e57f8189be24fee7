//! `tke bench audit`: the audit component's figures.
//!
//! 1. **Ingestion**: `--senders` concurrent kube-apiserver-like webhooks post EventLists of
//!    `--batch` events (Metadata level, as a business cluster's policy records most requests) to
//!    the sink of one cluster for `--seconds`; each 200 means the batch is committed (fsynced).
//!    Prints events per second, batch latency percentiles, and bytes on disk per event.
//! 2. **Query**: `--query-events` events generated straight into an audit database in a
//!    temporary directory (through the component's own store, in batches: posting ten million
//!    events over HTTP would take as long as the ingestion phase at that rate), one user holding
//!    10% of them over a week; then `--queries` lists by that user and a random one-hour to
//!    one-day window, 50-row pages with the count, timed in the store (HTTP adds its own
//!    constant, see phase 1's latencies).

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow, bail};
use audit::{record::Record, store::EventStore};
use serde_json::{Value, json};

use crate::bench::{Api, OwnServer, Sample, progress};

#[derive(clap::Args, Debug)]
pub struct AuditBenchArgs {
    /// Kubeconfig of the server to drive; without it, one is started on a temporary store.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// How long the ingestion phase runs (0 skips it).
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Concurrent senders.
    #[arg(long, default_value_t = 8)]
    pub senders: usize,
    /// Events per EventList (kube-apiserver's batch webhook sends up to 400).
    #[arg(long, default_value_t = 400)]
    pub batch: usize,
    /// Events generated for the query phase (0 skips it).
    #[arg(long, default_value_t = 10_000_000)]
    pub query_events: u64,
    /// Queries timed in the query phase.
    #[arg(long, default_value_t = 1_000)]
    pub queries: usize,
    /// Where the query phase's database goes (default: the system's temporary directory); it is
    /// removed at the end.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

const CLUSTER: &str = "cls-benchaudit";

fn events(batch: usize, sender: usize, seq: usize) -> Value {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let items: Vec<Value> = (0..batch)
        .map(|i| {
            let ns = format!("ns-{}", i % 20);
            let verb = ["get", "list", "update", "create"][i % 4];
            json!({
                "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
                "auditID": format!("{sender}-{seq}-{i}"), "stage": "ResponseComplete",
                "requestURI": format!("/api/v1/namespaces/{ns}/pods/pod-{i}"), "verb": verb,
                "user": {"username": format!("user-{}", i % 10), "groups": ["system:authenticated"]},
                "sourceIPs": ["10.0.0.1"], "userAgent": "kubectl/v1.32.0 (linux/amd64) kubernetes/abcdef",
                "objectRef": {"resource": "pods", "namespace": ns, "name": format!("pod-{i}"), "apiVersion": "v1"},
                "responseStatus": {"metadata": {}, "code": 200},
                "requestReceivedTimestamp": now, "stageTimestamp": now,
            })
        })
        .collect();
    json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": items})
}

async fn ingestion(args: &AuditBenchArgs) -> anyhow::Result<()> {
    // Stopped when the phase ends.
    let mut _own: Option<OwnServer> = None;
    let kubeconfig = match &args.kubeconfig {
        Some(k) => k.clone(),
        None => {
            progress("starting tke up");
            let (server, kubeconfig) = OwnServer::start(&[])?;
            _own = Some(server);
            kubeconfig
        }
    };
    let api = Api::from_kubeconfig(&kubeconfig)?;
    // The sink accepts events of clusters the platform knows.
    for (path, obj) in [
        (
            "/apis/platform.tkestack.io/v1/clustercredentials",
            json!({"apiVersion": "platform.tkestack.io/v1", "kind": "ClusterCredential",
                "metadata": {"name": format!("cc-{CLUSTER}")}, "clusterName": CLUSTER, "token": "unused"}),
        ),
        (
            "/apis/platform.tkestack.io/v1/clusters",
            json!({"apiVersion": "platform.tkestack.io/v1", "kind": "Cluster", "metadata": {"name": CLUSTER},
                "spec": {"type": "Imported", "clusterCredentialRef": {"name": format!("cc-{CLUSTER}")}},
                "status": {"addresses": [{"type": "Advertise", "host": "127.0.0.1", "port": 1}]}}),
        ),
    ] {
        if let Err(e) = api.send(api.request(reqwest::Method::POST, path).json(&obj)).await
            && !e.to_string().contains("409")
        {
            return Err(e.context(format!("creating {path}")));
        }
    }
    let hook = api
        .send(
            api.request(
                reqwest::Method::GET,
                &format!("/apis/platform.tkestack.io/v1/clusters/{CLUSTER}/auditwebhook"),
            ),
        )
        .await?;
    let kubeconfig_text = hook["files"]
        .as_object()
        .and_then(|f| f.iter().find(|(k, _)| k.ends_with(".kubeconfig")))
        .and_then(|(_, v)| v.as_str())
        .ok_or_else(|| anyhow!("auditwebhook gave no kubeconfig: {hook}"))?;
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(kubeconfig_text)?;
    let token = doc["users"][0]["user"]["token"].as_str().ok_or_else(|| anyhow!("no token"))?.to_string();
    let sink_path = format!("/apis/audit.tkestack.io/v1/events/sink/{CLUSTER}");

    progress(&format!("{} senders posting {} events per batch for {} s", args.senders, args.batch, args.seconds));
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = vec![];
    for sender in 0..args.senders {
        let (api, stop, sent, token, sink_path, batch) =
            (api.clone(), stop.clone(), sent.clone(), token.clone(), sink_path.clone(), args.batch);
        tasks.push(tokio::spawn(async move {
            let mut latencies = vec![];
            // A few bodies made once and sent in turn, so the senders' own JSON does not take
            // the cores the server is measured on.
            let bodies: Vec<Vec<u8>> =
                (0..4).map(|seq| serde_json::to_vec(&events(batch, sender, seq))).collect::<Result<_, _>>()?;
            let mut seq = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let body = bodies[seq % bodies.len()].clone();
                seq += 1;
                let t = Instant::now();
                let resp = api.request(reqwest::Method::POST, &sink_path).bearer_auth(&token).body(body).send().await?;
                let status = resp.status();
                let text = resp.text().await?;
                if !status.is_success() {
                    bail!("the sink answered {status}: {text}");
                }
                latencies.push(t.elapsed());
                sent.fetch_add(batch as u64, Ordering::Relaxed);
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut last = 0;
    for s in 0..args.seconds {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if (s + 1) % 10 == 0 {
            let now = sent.load(Ordering::Relaxed);
            progress(&format!("{} s: {} events/s over the last 10 s", s + 1, (now - last) / 10));
            last = now;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut latencies = vec![];
    for t in tasks {
        latencies.extend(t.await??);
    }
    let elapsed = started.elapsed();
    let n = sent.load(Ordering::Relaxed);
    println!("{:<42} {:>8} {:>13} {:>12} {:>12} {:>12}", "phase", "count", "rate", "p50", "p99", "max");
    Sample::new(format!("sink batches of {}", args.batch), latencies, elapsed).print();
    println!("{:<42} {:>8} {:>11.0}/s", "events ingested (committed)", n, n as f64 / elapsed.as_secs_f64());
    let cfg = api
        .send(
            api.request(reqwest::Method::POST, "/apis/audit.tkestack.io/v1/events/configTest")
                .json(&json!({"storage": {"sqlite": {"reserveDays": 7}}})),
        )
        .await?;
    let (stored, bytes) = (cfg["events"].as_f64().unwrap_or(0.0), cfg["bytes"].as_f64().unwrap_or(0.0));
    println!("{:<42} {:>8.0} events, {:.0} bytes on disk per event", "audit database", stored, bytes / stored.max(1.0));
    Ok(())
}

async fn query(args: &AuditBenchArgs) -> anyhow::Result<()> {
    let parent = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let dir = parent.join(format!("tke-bench-audit-{}", uuid::Uuid::new_v4().simple()));
    let result = query_in(args, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn query_in(args: &AuditBenchArgs, dir: &std::path::Path) -> anyhow::Result<()> {
    let store = EventStore::open(dir).context("opening the bench's audit database")?;
    let n = args.query_events;
    let week = 7 * 86_400_000i64;
    let end = audit::store::now_millis();
    let start = end - week;
    progress(&format!("generating {n} events over a week (user-0 holds 10%)"));
    let t = Instant::now();
    let chunk = 20_000u64;
    let mut i = 0u64;
    while i < n {
        let records: Vec<Record> = (i..(i + chunk).min(n))
            .map(|k| {
                let time = start + (k as i64 * week / n as i64);
                let ns = format!("ns-{}", k % 50);
                Record {
                    audit_id: format!("{k:016x}"),
                    stage: "ResponseComplete".into(),
                    request_uri: format!("/api/v1/namespaces/{ns}/pods/pod-{}", k % 1000),
                    verb: ["get", "list", "update", "create", "delete", "patch", "watch", "get", "list", "get"]
                        [(k % 10) as usize]
                        .into(),
                    user_name: format!("user-{}", k % 10),
                    user_agent: "kubectl/v1.32.0 (linux/amd64) kubernetes/abcdef".into(),
                    resource: "pods".into(),
                    namespace: ns,
                    name: format!("pod-{}", k % 1000),
                    api_version: "v1".into(),
                    source_ips: "10.0.0.1".into(),
                    status: "Success".into(),
                    code: 200,
                    request_received_timestamp: time,
                    stage_timestamp: time + 3,
                    cluster_name: format!("cls-{}", k % 20),
                    tenant_id: "default".into(),
                    ..Default::default()
                }
            })
            .collect();
        store.append(records).await?;
        i += chunk;
        if i.is_multiple_of(1_000_000) {
            progress(&format!("{i} events in {:.0} s", t.elapsed().as_secs_f64()));
        }
    }
    let gen_secs = t.elapsed().as_secs_f64();
    let (stored, bytes) = store.stats().await?;
    println!(
        "{:<42} {:>8} in {:.0} s ({:.0}/s), {:.0} bytes per event",
        "generated into the store",
        stored,
        gen_secs,
        stored as f64 / gen_secs,
        bytes as f64 / stored.max(1) as f64
    );
    let mut latencies = vec![];
    let mut rows = 0;
    let began = Instant::now();
    for q in 0..args.queries {
        // A window of one hour to one day somewhere in the week.
        let span = 3_600_000 + (q as i64 * 7_919_000) % (86_400_000 - 3_600_000);
        let from = start + (q as i64 * 104_729_000) % (week - span);
        let filter = audit::store::Filter {
            user: "user-0".into(),
            start: Some(from),
            end: Some(from + span),
            ..Default::default()
        };
        let t = Instant::now();
        let page = store.list(filter, 1, 50).await?;
        latencies.push(t.elapsed());
        rows += page.items.len();
    }
    let elapsed = began.elapsed();
    if rows == 0 {
        bail!("the queries found nothing");
    }
    println!("{:<42} {:>8} {:>13} {:>12} {:>12} {:>12}", "phase", "count", "rate", "p50", "p99", "max");
    Sample::new("list user=user-0, 1 h–1 d window, 50 rows".into(), latencies, elapsed).print();
    Ok(())
}

pub async fn run(args: AuditBenchArgs) -> anyhow::Result<()> {
    if args.seconds > 0 {
        ingestion(&args).await?;
    }
    if args.query_events > 0 {
        query(&args).await?;
    }
    Ok(())
}
