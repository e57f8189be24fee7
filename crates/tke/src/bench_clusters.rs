//! `tke bench clusters`: how the cluster controllers of `tke up` cope with many business
//! clusters. Starts N simulated clusters in this process (a `kubesim::SimFleet`: one shared
//! store, certificates and documents), imports each into the platform as a ClusterCredential and
//! an Imported Cluster, waits until all are Running, then watches the health checks for a window
//! of a few health periods while sampling the CPU and memory of the `tke up` process, and prints
//! the figures with the rate of checks expected at that period.
//!
//! Health checks are counted from the clusters' `HealthCheck` condition: every check stamps its
//! `lastProbeTime`, so a cluster whose stamp moved was checked again.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow, bail};
use futures::{StreamExt, TryStreamExt, stream};
use kube::{
    Api,
    api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind, PostParams},
    runtime::{WatchStreamExt, watcher},
};
use serde_json::{Value, json};

use crate::bench::OwnServer;

#[derive(clap::Args, Debug)]
pub struct ClustersArgs {
    /// Kubeconfig of the platform to import into. Without it, a `tke up` is started on a
    /// temporary embedded store (with the given health period) and stopped afterwards.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// The `tke up` process whose CPU and memory are sampled when a kubeconfig is given
    /// (otherwise its `/metrics` are read).
    #[arg(long)]
    pub pid: Option<u32>,
    /// Simulated clusters to start and import.
    #[arg(long, default_value_t = 1000)]
    pub count: usize,
    /// Simulated nodes per cluster.
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// Health check period of the `tke up` this bench starts (`60s`, `5s`, `2m`); with
    /// --kubeconfig, the period that server was started with.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub health_period: Duration,
    /// How long checks are counted and the server sampled once every cluster is Running
    /// (default: three health periods).
    #[arg(long, value_parser = parse_duration)]
    pub window: Option<Duration>,
    /// Clusters started and imported at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// How long to wait for every cluster to be Running.
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Leave the imported clusters (and this process's simulated clusters) in place: the bench
    /// then waits for Ctrl-C before it exits.
    #[arg(long)]
    pub keep: bool,
}

/// `90`, `90s`, `5m`, `1h`, `500ms`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.find(|c: char| !c.is_ascii_digit() && c != '.').map_or((s, "s"), |i| s.split_at(i));
    let n: f64 = num.parse().map_err(|_| format!("not a duration: {s:?} (e.g. 60s, 5m)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("unknown unit {unit:?} in {s:?} (ms, s, m, h)")),
    };
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!("{s:?} must be positive"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// CPU time (seconds) and resident memory (bytes) of a process.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Usage {
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
}

/// Where the controller process's usage is read.
enum Probe {
    Proc(u32),
    Metrics(kube::Client),
}

impl Probe {
    async fn read(&self) -> anyhow::Result<Usage> {
        match self {
            Probe::Proc(pid) => proc_usage(*pid),
            Probe::Metrics(client) => {
                let req = axum::http::Request::get("/metrics").body(Vec::new())?;
                let text = client.request_text(req).await.context("reading /metrics")?;
                let metric = |name: &str| crate::bench::metric(&text, name);
                Ok(Usage {
                    cpu_seconds: metric("process_cpu_seconds_total")
                        .ok_or_else(|| anyhow!("no process_cpu_seconds_total in /metrics"))?,
                    rss_bytes: metric("process_resident_memory_bytes")
                        .ok_or_else(|| anyhow!("no process_resident_memory_bytes in /metrics"))?
                        as u64,
                })
            }
        }
    }
}

/// utime + stime from `/proc/<pid>/stat` (in USER_HZ ticks, 100 a second on Linux) and VmRSS.
pub(crate) fn proc_usage(pid: u32) -> anyhow::Result<Usage> {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default().split_whitespace().collect();
    let tick = |i: usize| {
        fields.get(i).and_then(|v| v.parse::<u64>().ok()).ok_or_else(|| anyhow!("/proc/{pid}/stat is not as expected"))
    };
    let ticks = tick(11)? + tick(12)?;
    Ok(Usage { cpu_seconds: ticks as f64 / 100.0, rss_bytes: rss_of(&format!("/proc/{pid}/status"))? })
}

fn rss_of(status_path: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(status_path).with_context(|| format!("reading {status_path}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok()))
        .map(|kib| kib * 1024)
        .ok_or_else(|| anyhow!("no VmRSS in {status_path}"))
}

/// What the bench knows of one imported cluster, from the watch.
#[derive(Clone, Debug, Default)]
struct Seen {
    phase: String,
    probe: String,
    /// Times the probe time moved while counting was on.
    checks: u32,
}

#[derive(Default)]
struct Tracker {
    clusters: HashMap<String, Seen>,
    counting: bool,
}

impl Tracker {
    fn observe(&mut self, obj: &DynamicObject) {
        let Some(name) = obj.metadata.name.clone() else { return };
        let status = obj.data.get("status");
        let phase = status.and_then(|s| s.get("phase")).and_then(Value::as_str).unwrap_or_default().to_string();
        let probe = status
            .and_then(|s| s.get("conditions"))
            .and_then(Value::as_array)
            .and_then(|c| c.iter().find(|c| c["type"] == "HealthCheck"))
            .and_then(|c| c["lastProbeTime"].as_str())
            .unwrap_or_default()
            .to_string();
        let counting = self.counting;
        let seen = self.clusters.entry(name).or_default();
        if counting && !probe.is_empty() && probe != seen.probe {
            seen.checks += 1;
        }
        seen.phase = phase;
        seen.probe = probe;
    }

    fn running(&self) -> usize {
        self.clusters.values().filter(|s| s.phase == "Running").count()
    }
}

fn progress(msg: &str) {
    eprintln!("  .. {msg}");
}

fn mib(b: u64) -> f64 {
    b as f64 / 1048576.0
}

pub async fn run(args: ClustersArgs) -> anyhow::Result<()> {
    if args.count == 0 {
        bail!("--count must be at least 1");
    }
    let period = args.health_period;
    let window = args.window.unwrap_or(period * 3);
    let (own, kubeconfig) = match &args.kubeconfig {
        Some(k) => (None, k.clone()),
        None => {
            eprintln!("starting tke up (health period {period:?}) on a temporary embedded store");
            let period_flag = period.as_secs().max(1).to_string();
            let (s, k) = OwnServer::start(&["--registry", "false", "--cluster-health-period-seconds", &period_flag])?;
            (Some(s), k)
        }
    };
    let client = kubesim::cluster::client_from_kubeconfig(&kubeconfig).await?;
    let probe = match (&own, args.pid) {
        (Some(s), _) => Probe::Proc(s.child.id()),
        (None, Some(pid)) => Probe::Proc(pid),
        (None, None) => Probe::Metrics(client.clone()),
    };
    let run = uuid::Uuid::new_v4().simple().to_string()[..6].to_string();
    let gvk = |kind: &str| GroupVersionKind::gvk("platform.tkestack.io", "v1", kind);
    let clusters: Api<DynamicObject> =
        Api::all_with(client.clone(), &ApiResource::from_gvk_with_plural(&gvk("Cluster"), "clusters"));
    let creds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(&gvk("ClusterCredential"), "clustercredentials"),
    );
    println!(
        "tke bench clusters: {} simulated clusters ({} nodes each) into {} (run {run}, health period {period:?}, {} cores)",
        args.count,
        args.nodes,
        kubeconfig.display(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );

    // Every cluster of the run, as the platform reports it.
    let tracker = Arc::new(Mutex::new(Tracker::default()));
    let label = format!("tke.bench/run={run}");
    let watch_task = {
        let tracker = tracker.clone();
        let stream = watcher::watcher(clusters.clone(), watcher::Config::default().labels(&label)).default_backoff();
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(ev) = stream.next().await {
                match ev {
                    Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                        tracker.lock().unwrap_or_else(|e| e.into_inner()).observe(&o)
                    }
                    Ok(watcher::Event::Delete(o)) => {
                        if let Some(n) = &o.metadata.name {
                            tracker.lock().unwrap_or_else(|e| e.into_inner()).clusters.remove(n);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::debug!(error = %e, "watching the bench's clusters; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        })
    };

    // The simulated clusters.
    let sim_base = rss_of("/proc/self/status")?;
    let config = kubesim::SimConfig { nodes: args.nodes, ..Default::default() };
    let fleet = kubesim::SimFleet::new(kubesim::FleetOptions { config, ..Default::default() }).await?;
    let started = Instant::now();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let server_before = probe.read().await?;
    let sims: Vec<kubesim::SimCluster> = stream::iter(0..args.count)
        .map(|i| {
            let (fleet, done, clusters, creds, run) = (&fleet, &done, &clusters, &creds, &run);
            async move {
                let name = cluster_name(run, i);
                let sim = fleet.start(&name).await?;
                import(clusters, creds, &name, run, &sim).await.with_context(|| format!("importing {name}"))?;
                let n = done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                if n % 100 == 0 || n == args.count {
                    progress(&format!(
                        "{n}/{} simulated clusters started and imported [{:.0?}]",
                        args.count,
                        started.elapsed()
                    ));
                }
                anyhow::Ok(sim)
            }
        })
        .buffer_unordered(args.concurrency.max(1))
        .try_collect()
        .await?;
    let imported_in = started.elapsed();
    let sim_rss = rss_of("/proc/self/status")?;

    // Until every cluster is Running.
    let mut last_report = Instant::now();
    let running_in = loop {
        let running = tracker.lock().unwrap_or_else(|e| e.into_inner()).running();
        if running >= args.count {
            break started.elapsed();
        }
        if started.elapsed() > args.timeout {
            bail!("only {running} of {} clusters were Running after {:?}", args.count, args.timeout);
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            progress(&format!("{running}/{} clusters Running [{:.0?}]", args.count, started.elapsed()));
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let server_running = probe.read().await?;
    let import_cpu =
        (server_running.cpu_seconds - server_before.cpu_seconds) / running_in.as_secs_f64().max(1e-9) * 100.0;
    progress(&format!(
        "all {} clusters Running after {running_in:.1?}; counting health checks for {window:?}",
        args.count
    ));

    // The measuring window: health checks counted, the controller process sampled.
    tracker.lock().unwrap_or_else(|e| e.into_inner()).counting = true;
    let w_start = Instant::now();
    let first = probe.read().await?;
    let mut rss_samples = vec![first.rss_bytes];
    let mut last_report = Instant::now();
    while w_start.elapsed() < window {
        tokio::time::sleep(Duration::from_secs(1).min(window.saturating_sub(w_start.elapsed()))).await;
        if let Ok(u) = probe.read().await {
            rss_samples.push(u.rss_bytes);
        }
        if last_report.elapsed() >= Duration::from_secs(30) {
            let t = tracker.lock().unwrap_or_else(|e| e.into_inner());
            let checks: u32 = t.clusters.values().map(|s| s.checks).sum();
            progress(&format!("{checks} health checks in {:.0?}", w_start.elapsed()));
            last_report = Instant::now();
        }
    }
    let elapsed = w_start.elapsed().as_secs_f64();
    let last = probe.read().await?;
    let (checks, checked, running, failed) = {
        let mut t = tracker.lock().unwrap_or_else(|e| e.into_inner());
        t.counting = false;
        let checks: u32 = t.clusters.values().map(|s| s.checks).sum();
        let checked = t.clusters.values().filter(|s| s.checks > 0).count();
        let failed = t.clusters.values().filter(|s| s.phase == "Failed").count();
        (checks, checked, t.running(), failed)
    };
    let cpu = (last.cpu_seconds - first.cpu_seconds) / elapsed * 100.0;
    let rss_mean = rss_samples.iter().sum::<u64>() / rss_samples.len().max(1) as u64;
    let rss_max = rss_samples.iter().copied().max().unwrap_or(0);
    let n = args.count as f64;
    // Each check is followed by the period plus a random delay of up to a quarter of it.
    let expected = n / period.as_secs_f64();
    let expected_jittered = n / (period.as_secs_f64() * 1.125);

    println!("clusters                         {:>10}", args.count);
    println!("started and imported in          {:>10.1} s", imported_in.as_secs_f64());
    println!(
        "all Running after                {:>10.1} s   (controller CPU meanwhile {import_cpu:.1}% of one core)",
        running_in.as_secs_f64()
    );
    println!("measuring window                 {elapsed:>10.1} s");
    println!("controller CPU (mean)            {cpu:>10.1} % of one core");
    println!(
        "controller RSS                   {:>10.1} MiB mean, {:.1} MiB max ({:.0} KiB per cluster; {:.1} MiB before the clusters)",
        mib(rss_mean),
        mib(rss_max),
        rss_mean.saturating_sub(server_before.rss_bytes) as f64 / 1024.0 / n,
        mib(server_before.rss_bytes)
    );
    println!(
        "health checks                    {:>10.2} /s   (expected {expected:.2}/s = N/period, {expected_jittered:.2}/s with the jitter; {checks} checks)",
        f64::from(checks) / elapsed
    );
    println!("clusters checked in the window   {checked:>10}   (Running {running}, Failed {failed})");
    println!(
        "simulator process RSS            {:>10.1} MiB   ({:.0} KiB per simulated cluster)",
        mib(sim_rss),
        sim_rss.saturating_sub(sim_base) as f64 / 1024.0 / n
    );
    println!(
        "RESULT clusters={} running={running} checked={checked} checks={checks} window_s={elapsed:.1} time_to_running_s={:.1} cpu_pct={cpu:.1} rss_mib={:.1} sim_kib_per_cluster={:.0}",
        args.count,
        running_in.as_secs_f64(),
        mib(rss_mean),
        sim_rss.saturating_sub(sim_base) as f64 / 1024.0 / n
    );

    if args.keep {
        eprintln!("keeping the clusters (run {run}); Ctrl-C ends the simulated clusters");
        tokio::signal::ctrl_c().await.ok();
    } else if own.is_none() {
        // Deleting needs the simulated clusters up (the controller unmarks them), so they stay
        // until their Clusters are gone.
        progress(&format!("deleting the {} imported clusters", args.count));
        let names: Vec<String> = (0..args.count).map(|i| cluster_name(&run, i)).collect();
        stream::iter(names.iter())
            .map(|name| {
                let clusters = clusters.clone();
                async move {
                    if let Err(e) = clusters.delete(name, &DeleteParams::default()).await {
                        eprintln!("warning: deleting cluster {name}: {e}");
                    }
                }
            })
            .buffer_unordered(args.concurrency.max(1))
            .collect::<Vec<()>>()
            .await;
        let deadline = Instant::now() + args.timeout;
        while !tracker.lock().unwrap_or_else(|e| e.into_inner()).clusters.is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    watch_task.abort();
    drop(sims);
    Ok(())
}

/// Cluster names are `cls-` and lowercase letters and digits: the run's id, then the index.
pub(crate) fn cluster_name(run: &str, i: usize) -> String {
    format!("cls-{run}n{i:04}")
}

/// A ClusterCredential with the cluster's CA and admin token, and an Imported Cluster at its
/// address, labelled with the run.
pub(crate) async fn import(
    clusters: &Api<DynamicObject>,
    creds: &Api<DynamicObject>,
    name: &str,
    run: &str,
    sim: &kubesim::SimCluster,
) -> anyhow::Result<()> {
    use base64::Engine;
    let port: u16 = sim
        .url()
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .ok_or_else(|| anyhow!("no port in {}", sim.url()))?;
    let cc = format!("cc-{name}");
    let cred: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "platform.tkestack.io/v1", "kind": "ClusterCredential",
        "metadata": {"name": cc, "labels": {"tke.bench/run": run}},
        "clusterName": name,
        "caCert": base64::engine::general_purpose::STANDARD.encode(sim.ca_pem()),
        "token": sim.admin_token(),
    }))?;
    creds.create(&PostParams::default(), &cred).await.context("creating the ClusterCredential")?;
    let cluster: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "platform.tkestack.io/v1", "kind": "Cluster",
        "metadata": {"name": name, "labels": {"tke.bench/run": run}},
        "spec": {"type": "Imported", "displayName": format!("bench {name}"), "clusterCredentialRef": {"name": cc}},
        "status": {"addresses": [{"type": "Advertise", "host": "127.0.0.1", "port": port}]},
    }))?;
    clusters.create(&PostParams::default(), &cluster).await.context("creating the Cluster")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }
}
