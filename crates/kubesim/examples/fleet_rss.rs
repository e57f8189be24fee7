//! Measures what simulated clusters cost: starts N clusters in this process (a [`kubesim::SimFleet`],
//! or with `plain` each on its own sharing one embedded store), then prints resident memory and
//! CPU per cluster over a quiet window.
//! `cargo run --release -p kubesim --example fleet_rss -- 50 20 [plain]`

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmRSS:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let window: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    // `plain`: each cluster started on its own (SimCluster::start) on one shared embedded store.
    let plain = args.next().as_deref() == Some("plain");
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn storage::Store> = Arc::new(storage::embedded::EmbeddedStore::open(&dir.path().join("store"))?);
    let base = rss_kib();
    let started = Instant::now();
    let mut clusters = Vec::new();
    let fleet = kubesim::SimFleet::new(Default::default()).await?;
    for i in 0..n {
        if plain {
            let opts =
                kubesim::SimOptions { store: Some(store.clone()), key_root: format!("/sim-{i}"), ..Default::default() };
            clusters.push(kubesim::SimCluster::start(opts).await?);
        } else {
            clusters.push(fleet.start(&format!("sim-{i}")).await?);
        }
    }
    let up = started.elapsed();
    doc_sizes(&clusters[0]);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let t0 = cpu_ticks();
    let w0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(window)).await;
    let cpu = (cpu_ticks() - t0) as f64 / 100.0 / w0.elapsed().as_secs_f64() * 100.0;
    let rss = rss_kib();
    println!(
        "{n} clusters started in {up:.1?}: RSS {:.1} MiB (base {:.1} MiB), {:.2} MiB per cluster; CPU {cpu:.1}% of a core idle ({:.3}% per cluster)",
        rss as f64 / 1024.0,
        base as f64 / 1024.0,
        (rss.saturating_sub(base)) as f64 / 1024.0 / n as f64,
        cpu / n as f64
    );
    drop(clusters);
    Ok(())
}

#[allow(dead_code)]
fn doc_sizes(c: &kubesim::SimCluster) {
    let d = c.server().openapi();
    let v3: usize =
        ["api/v1", "apis/apps/v1", "apis/batch/v1"].iter().filter_map(|p| d.v3_json(p)).map(|b| b.len()).sum();
    println!("openapi v2 {} KiB, some v3 {} KiB", d.v2_json().len() / 1024, v3 / 1024);
}
