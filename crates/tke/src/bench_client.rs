//! `tke bench client`: the API server as a user's program sees it. One kube-rs `Client` (rustls)
//! creates N 1 KiB `platform.tkestack.io/v1` ConfigMaps with 16 requests in flight and lists
//! them; then, for each way a watch can start, 1,000 watchers each follow one object through a
//! `metadata.name` field selector while every watched object is updated 20 times, and every
//! delivery is timed and checked (each update once, in order).
//!
//! The watch starts are the ones clients use: from the object's resourceVersion at creation,
//! thousands of writes back (informers re-watching after a list, controllers restarting from
//! their last seen version), from the current resourceVersion, without one (the initial state
//! first), and with `sendInitialEvents` (streaming lists). Each start watches objects of its own,
//! so no start replays another's updates.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow, bail};
use futures::{StreamExt, TryStreamExt, stream};
use kube::{
    Api,
    api::{
        ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
        WatchEvent, WatchParams,
    },
};
use serde_json::json;

use crate::bench::{OwnServer, Sample, metric, progress};

#[derive(clap::Args, Debug)]
pub struct ClientArgs {
    /// Kubeconfig of the server to drive (kube-apiserver works too). Without it, a `tke up` is
    /// started on a temporary embedded store and stopped afterwards.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Objects created before the watches start.
    #[arg(long, default_value_t = 10_000)]
    pub objects: usize,
    /// Requests in flight while creating and updating.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Watchers per watch start, each on an object of its own.
    #[arg(long, default_value_t = 1_000)]
    pub watchers: usize,
    /// Updates of every watched object.
    #[arg(long, default_value_t = 20)]
    pub updates: usize,
    /// The watch starts to measure.
    #[arg(long, value_delimiter = ',', default_value = "old,fresh,none,initial-events")]
    pub starts: Vec<WatchStart>,
    /// Keep the objects instead of deleting them at the end.
    #[arg(long)]
    pub keep: bool,
}

/// Where a watch starts.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchStart {
    /// From the object's resourceVersion at creation (the whole run's writes back).
    Old,
    /// From the resourceVersion of a list made just before.
    Fresh,
    /// Without a resourceVersion: the object's current state first.
    None,
    /// `sendInitialEvents=true`: the current state, then a bookmark, then changes.
    InitialEvents,
}

const PAYLOAD_BYTES: usize = 1024;

pub async fn run(args: ClientArgs) -> anyhow::Result<()> {
    let (_own, kubeconfig) = match &args.kubeconfig {
        Some(k) => (None, k.clone()),
        None => {
            eprintln!("starting tke up on a temporary embedded store");
            let (s, k) = OwnServer::start(&["--registry", "false"])?;
            (Some(s), k)
        }
    };
    let needed = args.watchers * args.starts.len();
    if args.objects < needed {
        bail!("--objects must be at least --watchers × starts ({needed})");
    }
    let client = kubesim::cluster::client_from_kubeconfig(&kubeconfig).await?;
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("platform.tkestack.io", "v1", "ConfigMap"),
        "configmaps",
    );
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let name = |i: usize| format!("client-{run}-{i}");
    println!(
        "tke bench client: kube-rs against {} (run {run}, {} cores, {} 1 KiB objects, {} in flight)",
        kubeconfig.display(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        args.objects,
        args.concurrency
    );
    println!("{:<42} {:>8} {:>13} {:>12} {:>12} {:>12}", "phase", "count", "throughput", "p50", "p99", "max");

    progress(&format!("create {} ({} in flight)", args.objects, args.concurrency));
    let payload = "x".repeat(PAYLOAD_BYTES);
    let started = Instant::now();
    let created: Vec<anyhow::Result<(Duration, String)>> = stream::iter(0..args.objects)
        .map(|i| {
            let api = api.clone();
            let obj = serde_json::from_value::<DynamicObject>(json!({
                "apiVersion": "platform.tkestack.io/v1",
                "kind": "ConfigMap",
                "metadata": {"name": name(i), "labels": {"tke.bench/run": run}},
                "data": {"payload": payload},
            }));
            async move {
                let t = Instant::now();
                let obj = api.create(&PostParams::default(), &obj?).await?;
                Ok((t.elapsed(), obj.metadata.resource_version.unwrap_or_default()))
            }
        })
        .buffered(args.concurrency.max(1))
        .collect()
        .await;
    let elapsed = started.elapsed();
    let created = created.into_iter().collect::<anyhow::Result<Vec<_>>>().context("creating")?;
    let versions: Vec<String> = created.iter().map(|(_, rv)| rv.clone()).collect();
    Sample::new(format!("create ({} in flight)", args.concurrency), created.iter().map(|(d, _)| *d).collect(), elapsed)
        .print();

    progress(&format!("list {}", args.objects));
    let selector = ListParams::default().labels(&format!("tke.bench/run={run}"));
    let mut lists = Vec::new();
    let started = Instant::now();
    for _ in 0..5 {
        let t = Instant::now();
        let list = api.list(&selector).await?;
        lists.push(t.elapsed());
        if list.items.len() != args.objects {
            bail!("the list returned {} objects, expected {}", list.items.len(), args.objects);
        }
    }
    Sample::new(format!("list {} objects", args.objects), lists, started.elapsed()).print();

    let epoch = Instant::now();
    for (k, start) in args.starts.iter().enumerate() {
        // Objects spread over the whole run, so an old start lies thousands of writes back.
        let stride = args.objects / needed;
        let objects: Vec<usize> = (0..args.watchers).map(|w| (w * args.starts.len() + k) * stride).collect();
        progress(&format!("{} watchers ({start:?} start), {} updates each", args.watchers, args.updates));
        let (opened, delivered) = watch_phase(&api, &objects, &name, &versions, *start, &args, epoch).await?;
        let label = match start {
            WatchStart::Old => "from the creation resourceVersion",
            WatchStart::Fresh => "from a fresh resourceVersion",
            WatchStart::None => "without a resourceVersion",
            WatchStart::InitialEvents => "with sendInitialEvents",
        };
        opened.print_as(&format!("watch start ({label})"));
        delivered.print_as(&format!("  delivery ({} watchers)", args.watchers));
    }

    if let Ok(text) = client.request_text(axum::http::Request::get("/metrics").body(Vec::new())?).await
        && let Some(rss) = metric(&text, "process_resident_memory_bytes")
    {
        println!("server RSS with {} objects stored: {:.0} MiB", args.objects, rss / 1048576.0);
    }

    if !args.keep {
        progress("deleting the objects");
        api.delete_collection(&DeleteParams::default(), &selector).await.context("cleaning up")?;
    }
    Ok(())
}

/// Opens one watch per object, then updates every object `args.updates` times; returns how long
/// each watch took to be answered and how long each update took to reach its watcher.
async fn watch_phase(
    api: &Api<DynamicObject>,
    objects: &[usize],
    name: &(dyn Fn(usize) -> String + Sync),
    versions: &[String],
    start: WatchStart,
    args: &ClientArgs,
    epoch: Instant,
) -> anyhow::Result<(Sample, Sample)> {
    let fresh = match start {
        WatchStart::Fresh => api.list_metadata(&ListParams::default().limit(1)).await?.metadata.resource_version,
        _ => None,
    };
    let updates = args.updates;
    let started = Instant::now();
    let mut watchers = Vec::with_capacity(objects.len());
    let (opened_tx, mut opened_rx) = tokio::sync::mpsc::unbounded_channel::<Duration>();
    for &i in objects {
        let api = api.clone();
        let object = name(i);
        let (params, version) = match start {
            WatchStart::Old => (WatchParams::default(), versions[i].clone()),
            WatchStart::Fresh => (WatchParams::default(), fresh.clone().unwrap_or_default()),
            WatchStart::None => (WatchParams::default(), String::new()),
            WatchStart::InitialEvents => (WatchParams::streaming_lists(), String::new()),
        };
        let params = params.fields(&format!("metadata.name={object}")).timeout(290);
        let opened = opened_tx.clone();
        watchers.push(tokio::spawn(async move {
            let t = Instant::now();
            let stream = api.watch(&params, &version).await.with_context(|| format!("watching {object}"))?;
            let _ = opened.send(t.elapsed());
            let mut stream = std::pin::pin!(stream);
            let mut latencies = Vec::with_capacity(updates);
            while latencies.len() < updates {
                let event = stream.try_next().await?.ok_or_else(|| anyhow!("the watch of {object} ended early"))?;
                let obj = match event {
                    WatchEvent::Modified(obj) => obj,
                    WatchEvent::Added(_) | WatchEvent::Bookmark(_) => continue,
                    WatchEvent::Deleted(_) => bail!("{object} was deleted"),
                    WatchEvent::Error(e) => bail!("the watch of {object} failed: {}", e.message),
                };
                let now = epoch.elapsed().as_micros();
                let field = |f: &str| obj.data["data"][f].as_str().and_then(|s| s.parse::<u128>().ok());
                let (Some(round), Some(sent)) = (field("round"), field("sent")) else {
                    bail!("an update of {object} without its round")
                };
                // Each update exactly once, in order: no gap, no duplicate.
                if round != latencies.len() as u128 + 1 {
                    bail!("the watch of {object} delivered update {round} after {}", latencies.len());
                }
                latencies.push(Duration::from_micros(now.saturating_sub(sent) as u64));
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    drop(opened_tx);
    let mut open = Vec::with_capacity(objects.len());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while open.len() < objects.len() {
        match tokio::time::timeout_at(deadline, opened_rx.recv()).await {
            Ok(Some(d)) => open.push(d),
            Ok(None) => break,
            Err(_) => bail!("only {} of {} watches were answered within 120 s", open.len(), objects.len()),
        }
    }
    let opened = Sample::new(String::new(), open, started.elapsed());
    if opened.latencies.len() < objects.len() {
        // A watcher failed before it was answered: report its error.
        for w in watchers {
            w.await??;
        }
        bail!("a watch was not answered");
    }

    let started = Instant::now();
    // Round by round, so no object's next update can overtake its previous one.
    for round in 1..=updates {
        stream::iter(objects)
            .map(|&i| {
                let api = api.clone();
                let object = name(i);
                async move {
                    let sent = epoch.elapsed().as_micros().to_string();
                    let patch = Patch::Merge(json!({"data": {"round": round.to_string(), "sent": sent}}));
                    let params = PatchParams::default();
                    api.patch(&object, &params, &patch).await.with_context(|| format!("updating {object}"))
                }
            })
            .buffer_unordered(args.concurrency.max(1))
            .try_for_each(|_| async { Ok(()) })
            .await?;
    }
    let mut latencies = Vec::with_capacity(objects.len() * updates);
    for w in watchers {
        let got = tokio::time::timeout(Duration::from_secs(120), w)
            .await
            .map_err(|_| anyhow!("a watcher did not receive every update within 120 s"))???;
        latencies.extend(got);
    }
    Ok((opened, Sample::new(String::new(), latencies, started.elapsed())))
}
