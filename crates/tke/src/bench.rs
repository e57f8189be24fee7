//! `tke bench`: drives a running tke-rs API server (or one it starts itself) through the hot paths
//! a platform leans on and prints throughput and latency percentiles: create, get, update, list of
//! 1k and 10k objects, watch event delivery to many concurrent watchers, and the server's resident
//! memory per stored object.
//!
//! Objects are platform `ConfigMap`s with a 1 KiB payload, labelled with the run's id so a bench
//! never touches anything else and cleans up after itself.

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow, bail};
use futures::{StreamExt, stream};
use serde_json::{Value, json};

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Kubeconfig of the server to drive. Without it, `tke bench` starts its own `tke up` on a
    /// temporary embedded store and stops it afterwards.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Objects stored for the list and get phases (the list phase measures 1k and this many).
    #[arg(long, default_value_t = 10_000)]
    pub objects: usize,
    /// Concurrent requests in the throughput phases.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Concurrent watchers in the watch phase.
    #[arg(long, default_value_t = 1_000)]
    pub watchers: usize,
    /// Updates whose delivery to every watcher is timed.
    #[arg(long, default_value_t = 50)]
    pub watch_events: usize,
    /// Objects stored before the server's resident memory is read (0 skips the memory phase).
    #[arg(long, default_value_t = 100_000)]
    pub memory_objects: usize,
    /// Keep the benchmark's objects instead of deleting them at the end.
    #[arg(long)]
    pub keep: bool,
    #[command(subcommand)]
    pub scenario: Option<Scenario>,
}

/// Other scenarios than the API server's hot paths.
#[derive(clap::Subcommand, Debug)]
pub enum Scenario {
    /// Import many simulated clusters and measure the cluster controllers keeping them
    /// health-checked: time to Running, CPU, memory and checks per second.
    Clusters(crate::bench_clusters::ClustersArgs),
    /// The API server through a kube-rs client: creates with 16 in flight, lists, and 1,000
    /// watchers narrowed by name and started from an old, a fresh or no resourceVersion or with
    /// sendInitialEvents, each timed to its answer and every update's delivery.
    Client(crate::bench_client::ClientArgs),
    /// The image registry as users see it: real `skopeo` pushing and pulling images to and from
    /// tke-rs and Distribution (both over TLS), the registry's blob serving against nginx serving
    /// the same files, and a large push against the disk's fsync'd write speed.
    Registry(crate::bench_registry::RegistryBenchArgs),
    /// Authorization on every request: creates and gets by the administrator (a short-circuit)
    /// and by a user whose policies are evaluated, with 10,000 users, 1,000 policies and 10,000
    /// bindings loaded.
    Authz(crate::bench_authz::AuthzArgs),
    /// Projects and namespaces at scale: 1,000 projects with 10 namespaces each across 100
    /// simulated clusters, the time until all are Available, the steady platform's CPU and
    /// memory, and the Portal and namespace listing of a member of 50 projects.
    Business(crate::bench_business::BusinessArgs),
    /// The audit component: sustained ingestion through the sink (events per second, batch
    /// latency, bytes on disk per event) and a query by user and time range over a large store.
    Audit(crate::bench_audit::AuditBenchArgs),
}

const PAYLOAD_BYTES: usize = 1024;
const RESOURCE: &str = "/apis/platform.tkestack.io/v1/configmaps";

/// An HTTPS client for one server, with the kubeconfig's credentials.
#[derive(Clone)]
pub(crate) struct Api {
    kubeconfig: PathBuf,
    pub base: String,
    http: reqwest::Client,
    token: Option<String>,
}

impl Api {
    pub(crate) fn from_kubeconfig(path: &std::path::Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let doc: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let current = doc["current-context"].as_str().unwrap_or_default();
        let named = |list: &str, name: &str, field: &str| -> serde_yaml_ng::Value {
            doc[list]
                .as_sequence()
                .and_then(|items| items.iter().find(|i| name.is_empty() || i["name"].as_str() == Some(name)))
                .map(|i| i[field].clone())
                .unwrap_or_default()
        };
        let context = named("contexts", current, "context");
        let cluster = named("clusters", context["cluster"].as_str().unwrap_or_default(), "cluster");
        let user = named("users", context["user"].as_str().unwrap_or_default(), "user");
        let base = cluster["server"]
            .as_str()
            .ok_or_else(|| anyhow!("{} names no server", path.display()))?
            .trim_end_matches('/')
            .to_string();
        let data = |v: &serde_yaml_ng::Value, inline: &str, file: &str| -> anyhow::Result<Option<Vec<u8>>> {
            use base64::Engine;
            if let Some(d) = v[inline].as_str() {
                return Ok(Some(
                    base64::engine::general_purpose::STANDARD
                        .decode(d)
                        .with_context(|| format!("{inline} is not base64"))?,
                ));
            }
            if let Some(f) = v[file].as_str() {
                return Ok(Some(std::fs::read(f).with_context(|| format!("reading {f}"))?));
            }
            Ok(None)
        };
        let mut builder = reqwest::Client::builder().use_rustls_tls().pool_max_idle_per_host(256);
        if let Some(ca) = data(&cluster, "certificate-authority-data", "certificate-authority")? {
            builder = builder.add_root_certificate(reqwest::Certificate::from_pem(&ca).context("the kubeconfig's CA")?);
        }
        if let (Some(cert), Some(key)) = (
            data(&user, "client-certificate-data", "client-certificate")?,
            data(&user, "client-key-data", "client-key")?,
        ) {
            let mut pem = cert;
            pem.push(b'\n');
            pem.extend_from_slice(&key);
            builder =
                builder.identity(reqwest::Identity::from_pem(&pem).context("the kubeconfig's client certificate")?);
        }
        let token = user["token"].as_str().map(str::to_string);
        Ok(Self { kubeconfig: path.to_path_buf(), base, http: builder.build()?, token })
    }

    /// The same server with a bearer token instead of the kubeconfig's credentials.
    pub(crate) fn with_token(&self, ca_pem: &[u8], token: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .pool_max_idle_per_host(256)
            .add_root_certificate(reqwest::Certificate::from_pem(ca_pem)?)
            .build()?;
        Ok(Self { kubeconfig: self.kubeconfig.clone(), base: self.base.clone(), http, token: Some(token.to_string()) })
    }

    pub(crate) fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.http.request(method, format!("{}{}", self.base, path));
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    pub(crate) async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        self.send_as(req).await
    }

    /// Sends and decodes the answer as `T` (lists are only counted, so the client's own decoding
    /// of every object does not weigh on the server's figures).
    async fn send_as<T: serde::de::DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> anyhow::Result<T> {
        let resp = req.send().await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        if !status.is_success() {
            bail!("{status}: {}", String::from_utf8_lossy(&body));
        }
        Ok(serde_json::from_slice(&body)?)
    }
}

/// Latencies of one phase, summarised as throughput and percentiles.
pub(crate) struct Sample {
    name: String,
    pub latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Sample {
    pub fn new(name: String, latencies: Vec<Duration>, elapsed: Duration) -> Self {
        Self { name, latencies, elapsed }
    }

    /// Prints the sample under another name.
    pub fn print_as(mut self, name: &str) {
        self.name = name.to_string();
        self.print();
    }

    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let idx = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[idx.min(self.latencies.len() - 1)]
    }

    pub fn print(&mut self) {
        self.latencies.sort();
        let n = self.latencies.len();
        let rate = n as f64 / self.elapsed.as_secs_f64().max(1e-9);
        println!(
            "{:<42} {:>8} {:>11.0}/s {:>9.2} ms {:>9.2} ms {:>9.2} ms",
            self.name,
            n,
            rate,
            ms(self.percentile(0.5)),
            ms(self.percentile(0.99)),
            ms(self.latencies.last().copied().unwrap_or_default())
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub(crate) fn progress(msg: &str) {
    eprintln!("  .. {msg}");
}

/// Runs `op(i)` for `i in range` with `concurrency` in flight, timing each call.
pub(crate) async fn timed<F, Fut>(
    name: &str,
    range: std::ops::Range<usize>,
    concurrency: usize,
    op: F,
) -> anyhow::Result<Sample>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let started = Instant::now();
    let op = &op;
    let results: Vec<anyhow::Result<Duration>> = stream::iter(range)
        .map(|i| async move {
            let t = Instant::now();
            op(i).await?;
            Ok(t.elapsed())
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let elapsed = started.elapsed();
    let latencies =
        results.into_iter().collect::<anyhow::Result<Vec<_>>>().with_context(|| format!("during {name}"))?;
    Ok(Sample { name: name.to_string(), latencies, elapsed })
}

pub(crate) fn object(run: &str, i: usize, payload: &str) -> Value {
    json!({
        "apiVersion": "platform.tkestack.io/v1",
        "kind": "ConfigMap",
        "metadata": {"name": format!("bench-{run}-{i}"), "labels": {"tke.bench/run": run}},
        "data": {"payload": payload},
    })
}

async fn rss(api: &Api) -> anyhow::Result<u64> {
    let text = api.request(reqwest::Method::GET, "/metrics").send().await?.text().await?;
    metric(&text, "process_resident_memory_bytes")
        .map(|v| v as u64)
        .ok_or_else(|| anyhow!("the server's /metrics has no process_resident_memory_bytes"))
}

/// The value of an unlabelled sample `name` in a Prometheus text exposition.
pub(crate) fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// A `tke up` started by a bench on a temporary embedded store; stopped on drop.
pub(crate) struct OwnServer {
    pub child: std::process::Child,
    /// `https://127.0.0.1:PORT`, as the server announced it.
    pub url: String,
    dir: PathBuf,
}

impl OwnServer {
    /// Starts `tke up` with `args` added and waits until it serves; returns its admin kubeconfig.
    pub fn start(args: &[&str]) -> anyhow::Result<(Self, PathBuf)> {
        use std::io::BufRead;
        let dir = std::env::temp_dir().join(format!("tke-bench-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        let mut child = std::process::Command::new(std::env::current_exe()?)
            .args(["up", "--listen", "127.0.0.1:0", "--log", "warn"])
            .args(args)
            .arg("--data-dir")
            .arg(&dir)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .context("starting tke up")?;
        let stdout = child.stdout.take();
        // Owned from here, so the child is stopped if it never comes up.
        let mut server = OwnServer { child, url: String::new(), dir };
        let stdout = stdout.ok_or_else(|| anyhow!("no stdout"))?;
        let mut lines = std::io::BufReader::new(stdout).lines();
        loop {
            match lines.next() {
                Some(Ok(line)) if line.starts_with("tke-rs is up at ") => {
                    let url = line.trim_start_matches("tke-rs is up at ").split_whitespace().next();
                    server.url = url.unwrap_or_default().to_string();
                    break;
                }
                Some(Ok(_)) => continue,
                _ => bail!("tke up exited before serving"),
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let kubeconfig = server.dir.join("admin.kubeconfig");
        Ok((server, kubeconfig))
    }

    /// The server's data directory (its PKI, `registry-ca/`, `admin-password`).
    pub fn data_dir(&self) -> &std::path::Path {
        &self.dir
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.scenario {
        Some(Scenario::Clusters(clusters)) => return crate::bench_clusters::run(clusters).await,
        Some(Scenario::Client(client)) => return crate::bench_client::run(client).await,
        Some(Scenario::Registry(registry)) => return crate::bench_registry::run(registry).await,
        Some(Scenario::Authz(authz)) => return crate::bench_authz::run(authz).await,
        Some(Scenario::Business(business)) => return crate::bench_business::run(business).await,
        Some(Scenario::Audit(audit)) => return crate::bench_audit::run(audit).await,
        None => {}
    }
    let (_own, kubeconfig) = match &args.kubeconfig {
        Some(k) => (None, k.clone()),
        None => {
            eprintln!("starting tke up on a temporary embedded store");
            let (s, k) = OwnServer::start(&[])?;
            (Some(s), k)
        }
    };
    let api = Arc::new(Api::from_kubeconfig(&kubeconfig)?);
    let ready = api.request(reqwest::Method::GET, "/readyz").send().await.context("reaching the server")?;
    if !ready.status().is_success() {
        bail!("the server is not ready: {}", ready.status());
    }
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let payload = "x".repeat(PAYLOAD_BYTES);
    let selector = format!("labelSelector=tke.bench%2Frun%3D{run}");
    let c = args.concurrency;
    let n = args.objects.max(1_000);
    println!(
        "tke bench: {} at {} (run {run}, {} cores, 1 KiB objects)",
        kubeconfig.display(),
        api.base,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!("{:<42} {:>8} {:>13} {:>12} {:>12} {:>12}", "phase", "requests", "throughput", "p50", "p99", "max");

    let create = |i: usize| {
        let api = api.clone();
        let body = object(&run, i, &payload);
        async move {
            api.send(api.request(reqwest::Method::POST, RESOURCE).json(&body)).await?;
            Ok(())
        }
    };
    progress("create, one at a time");
    timed("create (sequential)", 0..500, 1, &create).await?.print();
    progress(&format!("create, {c} concurrent"));
    timed(&format!("create ({c} concurrent)"), 500..1_000, c, &create).await?.print();

    let list = |n: usize| {
        let api = api.clone();
        let path = format!("{RESOURCE}?{selector}");
        async move {
            let list: ItemCount = api.send_as(api.request(reqwest::Method::GET, &path)).await?;
            let got = list.items.len();
            if got != n {
                bail!("list returned {got} objects, expected {n}");
            }
            Ok(())
        }
    };
    progress("list 1k");
    timed("list 1k objects", 0..20, 1, |_| list(1_000)).await?.print();

    progress(&format!("create up to {n}"));
    timed(&format!("create ({c} concurrent)"), 1_000..n, c, &create).await?.print();
    progress(&format!("list {n}"));
    timed(&format!("list {}k objects", n / 1000), 0..10, 1, |_| list(n)).await?.print();

    let get = |i: usize| {
        let api = api.clone();
        let path = format!("{RESOURCE}/bench-{run}-{}", (i * 7919) % n);
        async move {
            api.send(api.request(reqwest::Method::GET, &path)).await?;
            Ok(())
        }
    };
    progress("get");
    timed("get (sequential)", 0..1_000, 1, &get).await?.print();
    timed(&format!("get ({c} concurrent)"), 0..10_000, c, &get).await?.print();

    let update = |i: usize| {
        let api = api.clone();
        let path = format!("{RESOURCE}/bench-{run}-{i}");
        async move {
            let mut obj = api.send(api.request(reqwest::Method::GET, &path)).await?;
            obj["data"]["round"] = json!("1");
            api.send(api.request(reqwest::Method::PUT, &path).json(&obj)).await?;
            Ok(())
        }
    };
    progress("update (get + put)");
    timed(&format!("update, get+put ({c} concurrent)"), 0..2_000, c, &update).await?.print();

    if args.watchers > 0 {
        progress(&format!("watch delivery to {} watchers", args.watchers));
        watch_phase(&api, &run, args.watchers, args.watch_events).await?.print();
    }

    if args.memory_objects > 0 {
        let base = rss(&api).await?;
        let stored = n;
        let more = args.memory_objects.saturating_sub(stored);
        progress(&format!("memory: storing {} objects in all", args.memory_objects.max(stored)));
        let started = Instant::now();
        timed(&format!("create ({c} concurrent)"), n..n + more, c, &create).await?.print();
        let after = rss(&api).await?;
        let total = args.memory_objects.max(stored);
        println!(
            "server RSS with {total} objects stored: {:.1} MiB (grew {:.1} MiB for {more} more objects: {:.2} KiB per 1 KiB object) [{:.0?}]",
            after as f64 / 1048576.0,
            after.saturating_sub(base) as f64 / 1048576.0,
            if more > 0 { after.saturating_sub(base) as f64 / 1024.0 / more as f64 } else { 0.0 },
            started.elapsed()
        );
    }

    if !args.keep {
        progress("deleting the benchmark's objects");
        let resp = api.request(reqwest::Method::DELETE, &format!("{RESOURCE}?{selector}")).send().await?;
        if !resp.status().is_success() {
            eprintln!("warning: cleaning up failed: {}", resp.status());
        }
    }
    Ok(())
}

/// Opens `watchers` watches on one object, then updates it `events` times with the send time in
/// the object, and measures, for every watcher and every update, how long delivery took.
async fn watch_phase(api: &Arc<Api>, run: &str, watchers: usize, events: usize) -> anyhow::Result<Sample> {
    let name = format!("bench-{run}-watched");
    let path = format!("{RESOURCE}/{name}");
    let created = api.send(api.request(reqwest::Method::POST, RESOURCE).json(&json!({
        "apiVersion": "platform.tkestack.io/v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"sent": "0"},
    }))).await?;
    let rv = created["metadata"]["resourceVersion"].as_str().unwrap_or("0").to_string();
    let epoch = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Result<Vec<Duration>, String>>();
    let (opened_tx, mut opened_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    // Several connections so no single HTTP/2 connection's stream limit caps the watchers.
    let clients: Vec<Arc<Api>> = (0..watchers.div_ceil(100))
        .map(|_| Api::from_kubeconfig_clone(api))
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter()
        .map(Arc::new)
        .collect();
    for w in 0..watchers {
        let client = clients[w % clients.len()].clone();
        let url = format!(
            "{RESOURCE}?watch=true&resourceVersion={rv}&fieldSelector=metadata.name%3D{name}&timeoutSeconds=600"
        );
        let tx = tx.clone();
        let opened = opened_tx.clone();
        tokio::spawn(async move {
            let result = async {
                let resp = client.request(reqwest::Method::GET, &url).send().await.map_err(|e| e.to_string())?;
                if !resp.status().is_success() {
                    return Err(format!("watch answered {}", resp.status()));
                }
                let _ = opened.send(());
                let mut body = resp.bytes_stream();
                let mut buf = Vec::new();
                let mut got = Vec::with_capacity(events);
                while got.len() < events {
                    let Some(chunk) = body.next().await else { return Err("watch ended early".into()) };
                    buf.extend_from_slice(&chunk.map_err(|e| e.to_string())?);
                    while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = buf.drain(..=pos).collect();
                        let Ok(ev) = serde_json::from_slice::<Value>(&line) else { continue };
                        if ev["type"] != "MODIFIED" {
                            continue;
                        }
                        let sent =
                            ev["object"]["data"]["sent"].as_str().and_then(|s| s.parse::<u128>().ok()).unwrap_or(0);
                        let now = epoch.elapsed().as_micros();
                        got.push(Duration::from_micros(now.saturating_sub(sent) as u64));
                    }
                }
                Ok(got)
            }
            .await;
            let _ = tx.send(result);
        });
    }
    drop(tx);
    drop(opened_tx);
    let deadline = Instant::now() + Duration::from_secs(120);
    for _ in 0..watchers {
        tokio::time::timeout_at(deadline.into(), opened_rx.recv())
            .await
            .map_err(|_| anyhow!("watchers did not all open within 120 s"))?;
    }
    let started = Instant::now();
    for _ in 0..events {
        let mut obj = api.send(api.request(reqwest::Method::GET, &path)).await?;
        obj["data"]["sent"] = json!(epoch.elapsed().as_micros().to_string());
        api.send(api.request(reqwest::Method::PUT, &path).json(&obj)).await?;
        // A steady event rate, as a busy platform sees, rather than one burst.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut latencies = Vec::with_capacity(watchers * events);
    for _ in 0..watchers {
        match tokio::time::timeout_at(deadline.into(), rx.recv()).await {
            Ok(Some(Ok(l))) => latencies.extend(l),
            Ok(Some(Err(e))) => bail!("a watcher failed: {e}"),
            Ok(None) => break,
            Err(_) => bail!("watchers did not receive every event within 120 s"),
        }
    }
    let _ = api.request(reqwest::Method::DELETE, &path).send().await;
    Ok(Sample { name: format!("watch delivery ({watchers} watchers)"), latencies, elapsed: started.elapsed() })
}

impl Api {
    /// The same server and credentials on a new connection pool (so a new connection).
    fn from_kubeconfig_clone(api: &Api) -> anyhow::Result<Api> {
        Api::from_kubeconfig(&api.kubeconfig)
    }
}

/// A list whose items are checked to be JSON and counted, not kept.
#[derive(serde::Deserialize)]
struct ItemCount {
    items: Vec<serde::de::IgnoredAny>,
}
