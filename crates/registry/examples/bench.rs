//! Push/pull throughput of tke-rs's registry against Debian's `docker-registry` (CNCF
//! Distribution) in one run, for many small blobs and one large blob.
//!
//! `cargo run -p registry --example bench` (add `--release` for production figures) (env: BENCH_SMALL_COUNT, default 300;
//! BENCH_LARGE_MB, default 1024; BENCH_CONCURRENCY, default 8; DOCKER_REGISTRY, default
//! /usr/bin/docker-registry; BENCH_DIR, default the system temp dir). Both registries listen on
//! 127.0.0.1 and store under a temp dir in BENCH_DIR, where the raw disk write speed (1 GiB
//! written and fsynced) is also measured, as the ceiling for large-blob pushes.

use bytes::Bytes;
use futures::StreamExt;
use sha2::Digest as _;
use std::time::{Duration, Instant};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn hex_digest(data: &[u8]) -> String {
    sha2::Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// The large blob: `mb` MiB made of 1 MiB pseudo-random chunks, produced on the fly.
fn large_chunks(mb: usize) -> impl Iterator<Item = Bytes> {
    let base = Bytes::from(pseudo_random(1 << 20, 42));
    (0..mb).map(move |i| {
        // Vary each chunk cheaply so no two MiB are identical.
        let mut c = base.to_vec();
        c[..8].copy_from_slice(&(i as u64).to_le_bytes());
        Bytes::from(c)
    })
}

fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http") { location.to_string() } else { format!("{base}{location}") }
}

/// The two-step push docker clients do: POST a session, PUT the content with its digest.
async fn push(c: &reqwest::Client, base: &str, repo: &str, digest: &str, body: reqwest::Body) -> anyhow::Result<()> {
    let r = c.post(format!("{base}/v2/{repo}/blobs/uploads/")).send().await?;
    anyhow::ensure!(r.status() == 202, "start upload: {}", r.status());
    let loc = absolute(base, r.headers()["location"].to_str()?);
    let sep = if loc.contains('?') { '&' } else { '?' };
    let r = c
        .put(format!("{loc}{sep}digest=sha256:{digest}"))
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await?;
    anyhow::ensure!(r.status() == 201, "finish upload: {} {}", r.status(), r.text().await.unwrap_or_default());
    Ok(())
}

async fn pull(c: &reqwest::Client, base: &str, repo: &str, digest: &str) -> anyhow::Result<u64> {
    let r = c.get(format!("{base}/v2/{repo}/blobs/sha256:{digest}")).send().await?;
    anyhow::ensure!(r.status() == 200, "pull: {}", r.status());
    let mut n = 0u64;
    let mut s = r.bytes_stream();
    while let Some(chunk) = s.next().await {
        n += chunk?.len() as u64;
    }
    Ok(n)
}

struct Figures {
    small_push: f64,
    small_pull: f64,
    large_push: f64,
    large_pull: f64,
}

async fn run(base: &str, small: &[(Bytes, String)], large: (usize, &str), conc: usize) -> anyhow::Result<Figures> {
    let c = reqwest::Client::builder().pool_max_idle_per_host(conc).build()?;
    let total: usize = small.iter().map(|(b, _)| b.len()).sum();
    let mbps = |bytes: usize, d: Duration| bytes as f64 / (1 << 20) as f64 / d.as_secs_f64();

    let t = Instant::now();
    futures::stream::iter(small.iter().enumerate())
        .map(|(i, (data, d))| {
            let c = c.clone();
            async move { push(&c, base, &format!("bench/small{}", i % 4), d, reqwest::Body::from(data.clone())).await }
        })
        .buffer_unordered(conc)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    let small_push = mbps(total, t.elapsed());

    let t = Instant::now();
    let pulled: u64 = futures::stream::iter(small.iter().enumerate())
        .map(|(i, (_, d))| {
            let c = c.clone();
            async move { pull(&c, base, &format!("bench/small{}", i % 4), d).await }
        })
        .buffer_unordered(conc)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .sum::<anyhow::Result<u64>>()?;
    anyhow::ensure!(pulled as usize == total, "pulled {pulled} of {total} bytes");
    let small_pull = mbps(total, t.elapsed());

    let (mb, digest) = large;
    let body = reqwest::Body::wrap_stream(futures::stream::iter(large_chunks(mb).map(Ok::<_, std::io::Error>)));
    let t = Instant::now();
    push(&c, base, "bench/large", digest, body).await?;
    let large_push = mbps(mb << 20, t.elapsed());
    let t = Instant::now();
    let n = pull(&c, base, "bench/large", digest).await?;
    anyhow::ensure!(n as usize == mb << 20, "large pull size {n}");
    let large_pull = mbps(mb << 20, t.elapsed());
    Ok(Figures { small_push, small_pull, large_push, large_pull })
}

/// Raw sequential write speed of the disk under `dir`: `mb` MiB in 1 MiB writes, then fsync.
fn disk_write_mibps(dir: &std::path::Path, mb: usize) -> anyhow::Result<f64> {
    use std::io::Write;
    let path = dir.join("disk-probe");
    let chunk = pseudo_random(1 << 20, 77);
    let t = Instant::now();
    let mut f = std::fs::File::create(&path)?;
    for _ in 0..mb {
        f.write_all(&chunk)?;
    }
    f.sync_all()?;
    let elapsed = t.elapsed();
    drop(f);
    std::fs::remove_file(&path)?;
    Ok(mb as f64 / elapsed.as_secs_f64())
}

fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map(|kb| kb / 1024)
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let count = env("BENCH_SMALL_COUNT", 300);
    let large_mb = env("BENCH_LARGE_MB", 1024);
    let conc = env("BENCH_CONCURRENCY", 8);
    let reference = std::env::var("DOCKER_REGISTRY").unwrap_or_else(|_| "/usr/bin/docker-registry".into());
    let dir = match std::env::var_os("BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    let disk = tokio::task::spawn_blocking({
        let p = dir.path().to_path_buf();
        move || disk_write_mibps(&p, large_mb.max(1))
    })
    .await??;

    // Small blobs from 1 KiB to 1 MiB, log-spread.
    let small: Vec<(Bytes, String)> = (0..count)
        .map(|i| {
            let size = (1024.0 * 1024f64.powf(i as f64 / count.max(1) as f64)) as usize;
            let data = pseudo_random(size, i as u64 + 1);
            let d = hex_digest(&data);
            (Bytes::from(data), d)
        })
        .collect();
    let mut h = sha2::Sha256::new();
    for c in large_chunks(large_mb) {
        h.update(&c);
    }
    let large_digest: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let small_mib = small.iter().map(|(b, _)| b.len()).sum::<usize>() as f64 / (1 << 20) as f64;
    println!("workload: {count} small blobs ({small_mib:.1} MiB total, concurrency {conc}), one {large_mb} MiB blob");

    let ours = registry::Registry::new(registry::Config::new(dir.path().join("tke"))).await?;
    let server = registry::LocalServer::start(ours.router(), "127.0.0.1:0".parse()?).await?;
    let tke = run(&format!("http://{}", server.addr), &small, (large_mb, &large_digest), conc).await?;
    drop(server);
    let rss = peak_rss_mib();

    // The reference: Distribution with a filesystem root of its own.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let cfg = dir.path().join("distribution.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("distribution").display()
        ),
    )?;
    let mut child = tokio::process::Command::new(&reference)
        .arg("serve")
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let base = format!("http://127.0.0.1:{port}");
    let probe = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if probe.get(format!("{base}/v2/")).send().await.is_ok_and(|r| r.status() == 200) {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "docker-registry did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dist = run(&base, &small, (large_mb, &large_digest), conc).await;
    child.kill().await.ok();
    let dist = dist?;

    println!("{:<12} {:>14} {:>18} {:>7}", "MiB/s", "tke-rs", "distribution 2.8", "ratio");
    for (name, a, b) in [
        ("small push", tke.small_push, dist.small_push),
        ("small pull", tke.small_pull, dist.small_pull),
        ("large push", tke.large_push, dist.large_push),
        ("large pull", tke.large_pull, dist.large_pull),
    ] {
        println!("{name:<12} {a:>14.1} {b:>18.1} {:>7.2}", a / b);
    }
    println!(
        "disk write ({large_mb} MiB + fsync, same directory): {disk:.1} MiB/s; large push reaches {:.0}% of it (tke-rs) and {:.0}% (distribution)",
        100.0 * tke.large_push / disk,
        100.0 * dist.large_push / disk
    );
    println!("peak RSS of the bench process (client + tke-rs server) during the tke-rs run: {rss} MiB");
    Ok(())
}
