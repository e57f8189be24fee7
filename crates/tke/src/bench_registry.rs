//! `tke bench registry`: the image registry as its users see it, against the references that
//! bound it. Starts a `tke up` (the registry with TLS and token auth, as users get it), Debian's
//! `docker-registry` (CNCF Distribution) with TLS, and Debian's `nginx` with TLS serving the
//! tke-rs registry's own blob files as static files, all with their storage in one directory.
//!
//! 1. **skopeo**: real `skopeo copy` of two generated OCI image layouts (many small layers; one
//!    large layer) to each registry and back to an `oci:` directory, verifying TLS against each
//!    registry's CA. On two cores skopeo itself takes much of the CPU, so this is what a user
//!    sees, not the registry's ceiling.
//! 2. **serving ceiling**: an in-process client (reqwest over TLS, HTTP/1.1, N pullers) GETs the
//!    same blobs from tke-rs's `/v2/<repo>/blobs/<digest>` and from nginx serving the files.
//! 3. **large push**: the in-process client pushes a fresh large blob, against the disk's own
//!    write speed (the same size written and fsynced in the same directory).
//!
//! Layers are gzip made of stored (uncompressed) deflate blocks over pseudo-random data: real
//! gzip that skopeo copies as it is, so no deflate runs on either side.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow, bail, ensure};
use futures::{StreamExt, stream};
use registry::digest::{Algorithm, Hasher};
use serde_json::{Value, json};

use crate::bench::{OwnServer, progress};

#[derive(clap::Args, Debug)]
pub struct RegistryBenchArgs {
    /// Layers of the many-layers image (each 1 KiB to 1 MiB, sizes spread logarithmically).
    #[arg(long, default_value_t = 300)]
    pub small: usize,
    /// Size of the one-layer image's layer, in MiB (also the size of the disk probe and of the
    /// in-process large push).
    #[arg(long, default_value_t = 1024)]
    pub large_mb: usize,
    /// Concurrent pullers of the serving-ceiling phase.
    #[arg(long, default_value_t = 16)]
    pub pullers: usize,
    /// Times every small blob is pulled in the serving-ceiling phase.
    #[arg(long, default_value_t = 3)]
    pub small_rounds: usize,
    /// Pulls of the large blob in the serving-ceiling phase (at most --pullers at once).
    #[arg(long, default_value_t = 4)]
    pub large_pulls: usize,
    /// Directory for the registries' storage, the images and the disk probe (default: the
    /// system's temporary directory). Everything is written under a new directory in it, about
    /// seven times --large-mb at the most, and removed at the end.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The skopeo binary.
    #[arg(long, default_value = "skopeo")]
    pub skopeo: PathBuf,
    /// Distribution's binary (Debian package docker-registry).
    #[arg(long, default_value = "docker-registry")]
    pub docker_registry: PathBuf,
    /// The nginx binary (Debian package nginx).
    #[arg(long, default_value = "nginx")]
    pub nginx: PathBuf,
    /// Keep the working directory (images, registries' storage, logs) instead of removing it.
    #[arg(long)]
    pub keep: bool,
}

const SMALL_REPO: &str = "bench/small";
const LARGE_REPO: &str = "bench/large";
const PUSH_REPO: &str = "bench/push";
const TAG: &str = "v1";

pub async fn run(args: RegistryBenchArgs) -> anyhow::Result<()> {
    ensure!(args.small > 0 && args.large_mb > 0, "--small and --large-mb must be at least 1");
    let tools = Tools::find(&args)?;
    let parent = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir(),
    };
    let work = WorkDir::create(&parent, args.keep)?;
    let w = work.path.clone();

    progress(&format!("writing the images under {}", w.display()));
    let (small, large) = tokio::task::spawn_blocking({
        let (w, count, mb) = (w.clone(), args.small, args.large_mb);
        move || -> anyhow::Result<(Image, Image)> {
            let small = Image::write(
                &w.join("images/small"),
                (0..count).map(|i| {
                    let size = (1024.0 * 1024f64.powf(i as f64 / count as f64)) as usize;
                    vec![pseudo_random(size, i as u64 + 1)]
                }),
            )?;
            let large = Image::write(&w.join("images/large"), std::iter::once(large_chunks(mb, 42)))?;
            Ok((small, large))
        }
    })
    .await??;

    // The three servers.
    progress("starting tke up (registry with TLS and token auth)");
    let tke_registry = w.join("tke-registry");
    let registry_dir = tke_registry.to_str().ok_or_else(|| anyhow!("{} is not UTF-8", tke_registry.display()))?;
    let (server, _) = OwnServer::start(&["--registry-dir", registry_dir])?;
    let password = std::fs::read_to_string(server.data_dir().join("admin-password"))
        .context("reading the registry's admin password")?;
    let tke = Endpoint::new(
        "tke-rs",
        &server.url,
        server.child.id(),
        server.data_dir().join("registry-ca"),
        format!("admin:{}", password.trim()),
    )?;
    let tke = tke.with_token(&[SMALL_REPO, LARGE_REPO, PUSH_REPO]).await?;

    // (Quietly: its notes of generated files are the bench's own business.)
    let pki = tracing::dispatcher::with_default(&tracing::Dispatch::none(), || {
        apiserver::tls::ensure_pki(&w.join("reference-pki"), &[])
    })
    .context("a CA for the references")?;
    let certs = w.join("reference-tls");
    std::fs::create_dir_all(certs.join("ca"))?;
    std::fs::write(certs.join("ca/ca.crt"), &pki.ca_cert_pem)?;
    std::fs::write(certs.join("server.crt"), &pki.server_cert_pem)?;
    std::fs::write(certs.join("server.key"), &pki.server_key_pem)?;

    progress("starting Distribution (TLS)");
    let mut distribution = Distribution::start(&tools.docker_registry, &w, &certs)?;
    let dist = Endpoint::new(
        "Distribution",
        &distribution.url,
        distribution.daemon.child.id(),
        certs.join("ca"),
        format!("admin:{}", password.trim()),
    )?;
    dist.wait_ready(&format!("{}/v2/", dist.base), &mut distribution.daemon).await?;

    println!(
        "tke bench registry: tke-rs ({}, TLS, token auth) vs {} (TLS) and {} (TLS, static files); {} cores; in {}",
        tke.base,
        tools.distribution_version,
        tools.nginx_version,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        w.display()
    );
    println!(
        "images: {} layers of 1 KiB to 1 MiB ({:.1} MiB), one layer of {:.0} MiB (gzip, stored blocks)",
        small.layers.len(),
        mib(small.bytes),
        mib(large.bytes)
    );

    // 1. skopeo.
    println!();
    println!("{:<48} {:>12} {:>14} {:>7}", "skopeo copy (MiB/s)", "tke-rs", "Distribution", "ratio");
    let mut skopeo_rows = Vec::new();
    for (label, image, repo) in [
        (format!("{} small layers", small.layers.len()), &small, SMALL_REPO),
        (format!("one {} MiB layer", args.large_mb), &large, LARGE_REPO),
    ] {
        let mut pushes = Vec::new();
        let mut pulls = Vec::new();
        for ep in [&tke, &dist] {
            progress(&format!("skopeo push {label} to {}", ep.name));
            pushes.push(skopeo_push(&tools, ep, image, repo).await?);
        }
        for ep in [&tke, &dist] {
            progress(&format!("skopeo pull {label} from {}", ep.name));
            pulls.push(skopeo_pull(&tools, ep, image, repo, &w).await?);
        }
        for (what, copies) in [("push", pushes), ("pull", pulls)] {
            let name = format!("{what} {label}");
            let (a, b) = (mibps(image.bytes, copies[0].took), mibps(image.bytes, copies[1].took));
            println!("{name:<48} {a:>12.1} {b:>14.1} {:>6.2}×", a / b);
            let cpu = |c: &SkopeoRun| format!("{:.1}+{:.1}", c.client_cpu, c.server_cpu);
            println!("{:<48} {:>12} {:>14}", "  CPU s (skopeo + server)", cpu(&copies[0]), cpu(&copies[1]));
            skopeo_rows.push((name, a / b));
        }
    }

    // 2. The serving ceiling: the same blob files from tke-rs and from nginx.
    let blob_file = |d: &str| {
        let hex = d.trim_start_matches("sha256:");
        tke_registry.join("blobs/sha256").join(&hex[..2]).join(hex)
    };
    for l in small.layers.iter().chain(&large.layers) {
        ensure!(
            blob_file(&l.digest).is_file(),
            "tke-rs does not keep {} at {}",
            l.digest,
            blob_file(&l.digest).display()
        );
    }
    progress("starting nginx (TLS) on tke-rs's blob files");
    let mut nginx = Nginx::start(&tools.nginx, &w, &certs, &tke_registry)?;
    let web = Endpoint::new("nginx", &nginx.url, nginx.daemon.child.id(), certs.join("ca"), String::new())?;
    let probe = format!("{}/{}", web.base, blob_path(&small.layers[0].digest));
    web.wait_ready(&probe, &mut nginx.daemon).await?;

    println!();
    println!(
        "{:<48} {:>12} {:>14} {:>7}",
        format!("serving, {} pullers (MiB/s)", args.pullers),
        "tke-rs",
        "nginx",
        "ratio"
    );
    let small_gets: Vec<&Blob> = (0..args.small_rounds.max(1)).flat_map(|_| small.layers.iter()).collect::<Vec<_>>();
    let large_gets: Vec<&Blob> = (0..args.large_pulls.max(1)).map(|_| &large.layers[0]).collect();
    // One untimed pass each, so both start from the same page cache and open connections.
    pull_blobs(&tke, SMALL_REPO, &small.layers.iter().collect::<Vec<_>>(), args.pullers).await?;
    pull_blobs(&web, SMALL_REPO, &small.layers.iter().collect::<Vec<_>>(), args.pullers).await?;
    let mut serving_rows = Vec::new();
    for (label, repo, gets) in [
        (format!("{} small blobs ×{}", small.layers.len(), args.small_rounds.max(1)), SMALL_REPO, &small_gets),
        (format!("{} MiB blob ×{}", args.large_mb, args.large_pulls.max(1)), LARGE_REPO, &large_gets),
    ] {
        progress(&format!("GET {label} from nginx"));
        let b = pull_blobs(&web, repo, gets, args.pullers).await?;
        progress(&format!("GET {label} from tke-rs"));
        let a = pull_blobs(&tke, repo, gets, args.pullers).await?;
        println!("{label:<48} {a:>12.1} {b:>14.1} {:>6.2}×", a / b);
        serving_rows.push((label, a, b));
    }
    drop(nginx);

    // 3. A large push against the disk's fsync'd write speed.
    progress(&format!("disk: writing {} MiB and fsyncing it", args.large_mb));
    settle();
    let disk = tokio::task::spawn_blocking({
        let (w, mb) = (w.clone(), args.large_mb);
        move || disk_write_mibps(&w, mb)
    })
    .await??;
    let fresh = tokio::task::spawn_blocking({
        let mb = args.large_mb;
        move || {
            let mut h = Hasher::new(Algorithm::Sha256);
            large_chunks(mb, 4242).for_each(|c| h.update(&c));
            h.finish().to_string()
        }
    })
    .await?;
    println!();
    println!("{:<48} {:>12} {:>14}", "large push, in-process client", "MiB/s", "of the disk");
    println!("{:<48} {disk:>12.1} {:>14}", format!("the disk: {} MiB written + fsync", args.large_mb), "100%");
    let mut pushes = Vec::new();
    for ep in [&tke, &dist] {
        progress(&format!("push one {} MiB blob to {}", args.large_mb, ep.name));
        settle();
        let took = push_blob(ep, PUSH_REPO, &fresh, args.large_mb).await?;
        let rate = mibps((args.large_mb as u64) << 20, took);
        let fsync = if ep.name == "tke-rs" { "fsynced" } else { "not fsynced" };
        println!(
            "{:<48} {rate:>12.1} {:>13.0}%",
            format!("push {} MiB to {} ({fsync})", args.large_mb, ep.name),
            100.0 * rate / disk
        );
        pushes.push(rate);
    }

    if let Some(peak) = peak_rss(server.child.id()) {
        println!("tke-rs server peak resident memory over the whole run: {:.0} MiB", mib(peak));
    }

    // Verdicts.
    println!();
    let pct = |r: f64| format!("{:.0}%", 100.0 * r);
    let serving: Vec<String> = serving_rows.iter().map(|(l, a, b)| format!("{l}: {}", pct(a / b))).collect();
    let serving_met = serving_rows.iter().all(|(_, a, b)| a / b >= 0.9);
    verdict("pulls from tke-rs at least 90% of nginx serving the same files", serving_met, &serving.join(", "));
    let push_ratio = pushes[0] / disk;
    verdict(
        "a large push at least 80% of the disk's fsync'd write speed",
        push_ratio >= 0.8,
        &format!("{:.1} of {disk:.1} MiB/s: {}", pushes[0], pct(push_ratio)),
    );
    let slower: Vec<String> =
        skopeo_rows.iter().filter(|(_, r)| *r < 1.0).map(|(n, r)| format!("{n} {r:.2}×")).collect();
    verdict(
        "a single skopeo push or pull no slower than Distribution",
        slower.is_empty(),
        &if slower.is_empty() {
            skopeo_rows.iter().map(|(n, r)| format!("{n} {r:.2}×")).collect::<Vec<_>>().join(", ")
        } else {
            format!("slower: {}", slower.join(", "))
        },
    );
    println!(
        "RESULT small={} large_mb={} skopeo_ratios={} serving_ratios={} disk_mibps={disk:.1} push_mibps={:.1} push_of_disk={push_ratio:.2}",
        args.small,
        args.large_mb,
        skopeo_rows.iter().map(|(_, r)| format!("{r:.2}")).collect::<Vec<_>>().join(","),
        serving_rows.iter().map(|(_, a, b)| format!("{:.2}", a / b)).collect::<Vec<_>>().join(","),
        pushes[0]
    );
    drop(distribution);
    drop(server);
    Ok(())
}

/// The peak resident memory (VmHWM) of process `pid`.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches("kB").trim();
    kib.parse::<u64>().ok().map(|k| k * 1024)
}

fn verdict(target: &str, met: bool, figures: &str) {
    println!("verdict: {target}: {} ({figures})", if met { "met" } else { "NOT met" });
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1048576.0
}

fn mibps(bytes: u64, took: Duration) -> f64 {
    mib(bytes) / took.as_secs_f64().max(1e-9)
}

/// Writes dirty pages out between timed steps, so no step pays for the previous one's writeback.
fn settle() {
    let _ = Command::new("sync").status();
}

/// The programs the bench drives, found on PATH (and in /usr/sbin, where Debian puts nginx).
struct Tools {
    skopeo: PathBuf,
    docker_registry: PathBuf,
    nginx: PathBuf,
    distribution_version: String,
    nginx_version: String,
}

impl Tools {
    fn find(args: &RegistryBenchArgs) -> anyhow::Result<Tools> {
        let find = |p: &Path| -> Option<PathBuf> {
            if p.components().count() > 1 {
                return p.is_file().then(|| p.to_path_buf());
            }
            let path = std::env::var_os("PATH").unwrap_or_default();
            std::env::split_paths(&path)
                .chain(["/usr/sbin".into(), "/usr/bin".into()])
                .map(|d| d.join(p))
                .find(|c| c.is_file())
        };
        let mut missing = Vec::new();
        let mut get = |p: &Path, package: &str| {
            find(p).unwrap_or_else(|| {
                missing.push(format!("{} (Debian package {package}: apt-get install {package})", p.display()));
                PathBuf::new()
            })
        };
        let skopeo = get(&args.skopeo, "skopeo");
        let docker_registry = get(&args.docker_registry, "docker-registry");
        let nginx = get(&args.nginx, "nginx");
        if !missing.is_empty() {
            bail!("tke bench registry needs programs that are not installed: {}", missing.join("; "));
        }
        let version = |p: &Path, arg: &str| -> String {
            Command::new(p)
                .arg(arg)
                .output()
                .map(|o| {
                    let text = [o.stdout, o.stderr].concat();
                    String::from_utf8_lossy(&text).lines().next().unwrap_or_default().trim().to_string()
                })
                .unwrap_or_default()
        };
        // "docker-registry github.com/docker/distribution 2.8.2+ds1", "nginx version: nginx/1.22.1".
        let distribution_version =
            format!("Distribution {}", version(&docker_registry, "--version").rsplit(' ').next().unwrap_or_default());
        let nginx_version = version(&nginx, "-v").rsplit(' ').next().unwrap_or_default().replace('/', " ");
        Ok(Tools { skopeo, docker_registry, nginx, distribution_version, nginx_version })
    }
}

/// The bench's own directory under `--dir`; removed on drop unless kept.
struct WorkDir {
    path: PathBuf,
    keep: bool,
}

impl WorkDir {
    fn create(parent: &Path, keep: bool) -> anyhow::Result<WorkDir> {
        let path = parent.join(format!("tke-bench-registry-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        let path = path.canonicalize()?;
        Ok(WorkDir { path, keep })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("kept {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Deterministic pseudo-random bytes (xorshift).
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

/// `mb` MiB of pseudo-random data in 1 MiB chunks, produced on the fly, no two chunks alike.
fn large_chunks(mb: usize, seed: u64) -> impl Iterator<Item = Vec<u8>> {
    let base = pseudo_random(1 << 20, seed);
    (0..mb).map(move |i| {
        let mut c = base.clone();
        c[..8].copy_from_slice(&(i as u64).to_le_bytes());
        c
    })
}

/// Raw sequential write speed of the disk under `dir`: `mb` MiB in 1 MiB writes, then fsync.
fn disk_write_mibps(dir: &Path, mb: usize) -> anyhow::Result<f64> {
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

/// A blob of an image layout.
#[derive(Clone, Debug)]
struct Blob {
    /// `sha256:<hex>`
    digest: String,
    size: u64,
}

fn blob_path(digest: &str) -> String {
    let hex = digest.trim_start_matches("sha256:");
    format!("blobs/sha256/{}/{hex}", &hex[..2])
}

/// A generated OCI image layout, tagged `v1`.
struct Image {
    layout: PathBuf,
    layers: Vec<Blob>,
    /// The layers' bytes: what throughput is counted in.
    bytes: u64,
}

/// Counts and hashes what is written through it.
struct Hashing<W: Write> {
    inner: W,
    hasher: Hasher,
    written: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl Image {
    /// An image layout at `dir` with one gzip layer per item of `layers` (each given as the
    /// chunks of its uncompressed content, produced as they are written).
    fn write<L: IntoIterator<Item = Vec<u8>>>(dir: &Path, layers: impl Iterator<Item = L>) -> anyhow::Result<Image> {
        let blobs = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs)?;
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)?;
        let mut out = Vec::new();
        let mut diff_ids = Vec::new();
        for chunks in layers {
            let tmp = blobs.join("layer.partial");
            let file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
            let hashing = Hashing { inner: file, hasher: Hasher::new(Algorithm::Sha256), written: 0 };
            let mut gz = flate2::write::GzEncoder::new(hashing, flate2::Compression::none());
            let mut diff = Hasher::new(Algorithm::Sha256);
            for c in chunks {
                diff.update(&c);
                gz.write_all(&c)?;
            }
            let mut hashing = gz.finish()?;
            hashing.flush()?;
            let digest = hashing.hasher.finish().to_string();
            std::fs::rename(&tmp, blobs.join(digest.trim_start_matches("sha256:")))?;
            diff_ids.push(diff.finish().to_string());
            out.push(Blob { digest, size: hashing.written });
        }
        let put = |v: &Value| -> anyhow::Result<Blob> {
            let data = serde_json::to_vec(v)?;
            let digest = registry::digest::Digest::of(Algorithm::Sha256, &data).to_string();
            std::fs::write(blobs.join(digest.trim_start_matches("sha256:")), &data)?;
            Ok(Blob { digest, size: data.len() as u64 })
        };
        let config = put(&json!({
            "architecture": "amd64", "os": "linux", "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))?;
        let layers: Vec<Value> = out
            .iter()
            .map(|b| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": b.digest, "size": b.size}))
            .collect();
        let manifest = put(&json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.digest, "size": config.size},
            "layers": layers,
        }))?;
        let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest.digest, "size": manifest.size,
            "annotations": {"org.opencontainers.image.ref.name": TAG},
        }]});
        std::fs::write(dir.join("index.json"), serde_json::to_vec(&index)?)?;
        let bytes = out.iter().map(|b| b.size).sum();
        Ok(Image { layout: dir.to_path_buf(), layers: out, bytes })
    }
}

/// One server as the bench reaches it: skopeo through `host` with `cert_dir` and `creds`, the
/// in-process client through `base` with `client` (and the registry's bearer token).
struct Endpoint {
    name: &'static str,
    /// `https://127.0.0.1:PORT`
    base: String,
    /// `127.0.0.1:PORT`
    host: String,
    /// A directory holding only the server's CA (`ca.crt`), as skopeo's `--cert-dir` wants.
    cert_dir: PathBuf,
    creds: String,
    client: reqwest::Client,
    token: Option<String>,
    /// The server's process, whose CPU time is read.
    pid: u32,
}

impl Endpoint {
    fn new(name: &'static str, base: &str, pid: u32, cert_dir: PathBuf, creds: String) -> anyhow::Result<Endpoint> {
        let ca = std::fs::read(cert_dir.join("ca.crt")).with_context(|| format!("reading {}", cert_dir.display()))?;
        // HTTP/1.1 to every server (one connection per puller), so the comparison is of serving
        // and not of protocols.
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
            .http1_only()
            .no_proxy()
            .pool_max_idle_per_host(64)
            .build()?;
        let host = base.trim_start_matches("https://").trim_end_matches('/').to_string();
        let base = base.trim_end_matches('/').to_string();
        Ok(Endpoint { name, base, host, cert_dir, creds, client, token: None, pid })
    }

    /// A bearer token for pull and push on `repos`, from the realm the registry names.
    async fn with_token(mut self, repos: &[&str]) -> anyhow::Result<Endpoint> {
        let r = self.client.get(format!("{}/v2/", self.base)).send().await.context("reaching the registry")?;
        let challenge = r.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let param = |name: &str| {
            challenge.split(&format!("{name}=\"")).nth(1).and_then(|s| s.split('"').next()).map(str::to_string)
        };
        let (Some(realm), Some(service)) = (param("realm"), param("service")) else {
            bail!("{} answered /v2/ with {} and no bearer challenge", self.name, r.status());
        };
        let (user, password) = self.creds.split_once(':').unwrap_or_default();
        let mut query = vec![("service", service)];
        query.extend(repos.iter().map(|r| ("scope", format!("repository:{r}:pull,push"))));
        let r = self.client.get(realm).query(&query).basic_auth(user, Some(password)).send().await?;
        ensure!(r.status().is_success(), "the token realm answered {}", r.status());
        let body: Value = r.json().await?;
        self.token =
            Some(body["token"].as_str().ok_or_else(|| anyhow!("the token realm's answer has no token"))?.to_string());
        Ok(self)
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let req = self.client.request(method, url);
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// Polls `url` until it answers 200, failing if the server's process exits or 30 s pass.
    async fn wait_ready(&self, url: &str, daemon: &mut Daemon) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.client.get(url).send().await.is_ok_and(|r| r.status() == 200) {
                return Ok(());
            }
            if let Some(status) = daemon.child.try_wait()? {
                bail!("{} exited ({status}) before serving:\n{}", self.name, daemon.log_tail());
            }
            if Instant::now() > deadline {
                bail!("{} did not answer {url} within 30 s:\n{}", self.name, daemon.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// What one skopeo run took: wall time, and CPU seconds of skopeo and of the server.
struct SkopeoRun {
    took: Duration,
    client_cpu: f64,
    server_cpu: f64,
}

/// CPU seconds of this process's reaped children (skopeo, once it has been waited for).
fn children_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default().split_whitespace().collect();
    let tick = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (tick(13) + tick(14)) as f64 / 100.0
}

async fn skopeo(tools: &Tools, server_pid: u32, args: &[String]) -> anyhow::Result<SkopeoRun> {
    let server = || crate::bench_clusters::proc_usage(server_pid).map(|u| u.cpu_seconds).unwrap_or(0.0);
    let (client_before, server_before) = (children_cpu(), server());
    let t = Instant::now();
    let out = tokio::process::Command::new(&tools.skopeo)
        .arg("--insecure-policy")
        .args(args)
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .stdin(Stdio::null())
        .output()
        .await
        .context("running skopeo")?;
    let took = t.elapsed();
    if !out.status.success() {
        bail!("skopeo {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(SkopeoRun { took, client_cpu: children_cpu() - client_before, server_cpu: server() - server_before })
}

async fn skopeo_push(tools: &Tools, ep: &Endpoint, image: &Image, repo: &str) -> anyhow::Result<SkopeoRun> {
    settle();
    let args = [
        "copy",
        "--dest-tls-verify=true",
        "--dest-cert-dir",
        &ep.cert_dir.display().to_string(),
        "--dest-creds",
        &ep.creds,
        &format!("oci:{}:{TAG}", image.layout.display()),
        &format!("docker://{}/{repo}:{TAG}", ep.host),
    ];
    skopeo(tools, ep.pid, &args.map(String::from)).await
}

async fn skopeo_pull(
    tools: &Tools,
    ep: &Endpoint,
    image: &Image,
    repo: &str,
    work: &Path,
) -> anyhow::Result<SkopeoRun> {
    let dest = work.join("pulled");
    let _ = std::fs::remove_dir_all(&dest);
    settle();
    let args = [
        "copy",
        "--src-tls-verify=true",
        "--src-cert-dir",
        &ep.cert_dir.display().to_string(),
        "--src-creds",
        &ep.creds,
        &format!("docker://{}/{repo}:{TAG}", ep.host),
        &format!("oci:{}:{TAG}", dest.display()),
    ];
    let copy = skopeo(tools, ep.pid, &args.map(String::from)).await?;
    for l in &image.layers {
        let path = dest.join("blobs/sha256").join(l.digest.trim_start_matches("sha256:"));
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        ensure!(size == l.size, "skopeo pulled {} from {} as {size} bytes, not {}", l.digest, ep.name, l.size);
    }
    std::fs::remove_dir_all(&dest)?;
    Ok(copy)
}

/// GETs every blob of `blobs` (from the registry's blob API, or nginx's files) with `pullers`
/// at once, checking each one's size; returns MiB/s.
async fn pull_blobs(ep: &Endpoint, repo: &str, blobs: &[&Blob], pullers: usize) -> anyhow::Result<f64> {
    let url = |b: &Blob| match ep.token {
        Some(_) => format!("{}/v2/{repo}/blobs/{}", ep.base, b.digest),
        None => format!("{}/{}", ep.base, blob_path(&b.digest)),
    };
    let t = Instant::now();
    let total: u64 = stream::iter(blobs)
        .map(|b| {
            let req = ep.request(reqwest::Method::GET, &url(b));
            async move {
                let r = req.send().await?;
                ensure!(r.status() == 200, "GET {} answered {}", b.digest, r.status());
                let mut body = r.bytes_stream();
                let mut n = 0u64;
                while let Some(chunk) = body.next().await {
                    n += chunk?.len() as u64;
                }
                ensure!(n == b.size, "GET {} gave {n} bytes, not {}", b.digest, b.size);
                Ok(n)
            }
        })
        .buffer_unordered(pullers.max(1))
        .collect::<Vec<anyhow::Result<u64>>>()
        .await
        .into_iter()
        .sum::<anyhow::Result<u64>>()
        .with_context(|| format!("pulling from {}", ep.name))?;
    Ok(mibps(total, t.elapsed()))
}

/// The two-step push docker clients do (POST a session, PUT the content with its digest),
/// streaming `mb` MiB generated on the fly; returns how long it took.
async fn push_blob(ep: &Endpoint, repo: &str, digest: &str, mb: usize) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let r = ep.request(reqwest::Method::POST, &format!("{}/v2/{repo}/blobs/uploads/", ep.base)).send().await?;
    ensure!(r.status() == 202, "{}: starting an upload answered {}", ep.name, r.status());
    let location = r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let location = if location.starts_with("http") { location.to_string() } else { format!("{}{location}", ep.base) };
    let sep = if location.contains('?') { '&' } else { '?' };
    let body = reqwest::Body::wrap_stream(stream::iter(large_chunks(mb, 4242).map(Ok::<_, std::io::Error>)));
    let r = ep
        .request(reqwest::Method::PUT, &format!("{location}{sep}digest={digest}"))
        .header("content-type", "application/octet-stream")
        .header("content-length", (mb << 20).to_string())
        .body(body)
        .send()
        .await?;
    ensure!(r.status() == 201, "{}: finishing the upload answered {} {}", ep.name, r.status(), r.text().await?);
    Ok(t.elapsed())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A server process the bench started, with its log; stopped on drop.
struct Daemon {
    child: Child,
    log: PathBuf,
    /// How to stop it gracefully (nginx's master stops its workers), else it is killed.
    stop: Option<Command>,
}

impl Daemon {
    fn spawn(mut cmd: Command, log: PathBuf, stop: Option<Command>) -> anyhow::Result<Daemon> {
        let out = std::fs::File::create(&log)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {cmd:?}"))?;
        Ok(Daemon { child, log, stop })
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut stop) = self.stop.take()
            && stop.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
        {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if !matches!(self.child.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Distribution (`docker-registry serve`) with TLS on a free port, storing under `work`.
struct Distribution {
    url: String,
    daemon: Daemon,
}

impl Distribution {
    fn start(binary: &Path, work: &Path, certs: &Path) -> anyhow::Result<Distribution> {
        let port = free_port()?;
        let config = work.join("distribution.yml");
        // No auth: its htpasswd runs bcrypt on every request; without it, Distribution is only
        // favoured. skopeo is given the credentials all the same.
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  tls:\n    certificate: {}\n    key: {}\n",
                work.join("distribution").display(),
                certs.join("server.crt").display(),
                certs.join("server.key").display()
            ),
        )?;
        let mut cmd = Command::new(binary);
        cmd.arg("serve").arg(&config);
        let daemon = Daemon::spawn(cmd, work.join("distribution.log"), None)?;
        Ok(Distribution { url: format!("https://127.0.0.1:{port}"), daemon })
    }
}

/// nginx with TLS on a free port serving `root`'s `blobs/` as static files, as Debian's
/// configuration would (sendfile, TLS 1.2 and 1.3, a worker per core), with no access log.
struct Nginx {
    url: String,
    daemon: Daemon,
}

impl Nginx {
    fn start(binary: &Path, work: &Path, certs: &Path, root: &Path) -> anyhow::Result<Nginx> {
        let port = free_port()?;
        let prefix = work.join("nginx");
        std::fs::create_dir_all(&prefix)?;
        let p = prefix.display();
        // As root, nginx's workers would otherwise run as nobody, who may not reach the files.
        let root_user = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
            .unwrap_or(false);
        let user = if root_user { "user root root;" } else { "" };
        let config = prefix.join("nginx.conf");
        std::fs::write(
            &config,
            format!(
                r#"daemon off;
master_process on;
worker_processes auto;
{user}
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    default_type application/octet-stream;
    client_body_temp_path {p}/client_body;
    proxy_temp_path {p}/proxy;
    fastcgi_temp_path {p}/fastcgi;
    uwsgi_temp_path {p}/uwsgi;
    scgi_temp_path {p}/scgi;
    ssl_protocols TLSv1.2 TLSv1.3;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {root};
        location /blobs/ {{ }}
        location / {{ return 404; }}
    }}
}}
"#,
                cert = certs.join("server.crt").display(),
                key = certs.join("server.key").display(),
                root = root.display(),
            ),
        )?;
        let args = |cmd: &mut Command| {
            cmd.arg("-p").arg(&prefix).arg("-c").arg(&config).arg("-e").arg(prefix.join("error.log"));
        };
        let mut cmd = Command::new(binary);
        args(&mut cmd);
        let mut stop = Command::new(binary);
        args(&mut stop);
        stop.args(["-s", "stop"]);
        let daemon = Daemon::spawn(cmd, work.join("nginx.log"), Some(stop))?;
        Ok(Nginx { url: format!("https://127.0.0.1:{port}"), daemon })
    }
}
