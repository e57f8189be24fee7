//! Real, independent clients against the registry: skopeo (Debian) copies a multi-arch index
//! and a 1 GiB layer in and out; reqwest drives an upload whose connection breaks mid-body and
//! resumes from the status the registry reports; the ORAS Python SDK (`pip install oras`)
//! pushes and pulls artifacts.
//!
//! `large_layer_1gib_slow` is slow (about a minute): nextest runs it like any other test.

mod common;

use common::*;
use futures::StreamExt;
use serde_json::json;
use sha2::Digest as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

const SKOPEO: &str = "/usr/bin/skopeo";

fn require_skopeo() {
    assert!(Path::new(SKOPEO).exists(), "{SKOPEO} is required (apt-get install skopeo)");
}

/// Writes a valid gzip stream with stored (uncompressed) deflate blocks, streaming: registries
/// expect compressed layers (skopeo would compress a plain tar itself and change digests).
struct StoredGzip<W: Write> {
    out: W,
    crc: u32,
    len: u64,
    table: [u32; 256],
}

impl<W: Write> StoredGzip<W> {
    fn new(mut out: W) -> StoredGzip<W> {
        out.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]).expect("gzip header");
        let mut table = [0u32; 256];
        for (i, t) in table.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            }
            *t = c;
        }
        StoredGzip { out, crc: !0, len: 0, table }
    }

    /// Append `data` as non-final stored blocks.
    fn write(&mut self, data: &[u8]) {
        for c in data.chunks(65535) {
            let n = c.len() as u16;
            self.out.write_all(&[0]).expect("block");
            self.out.write_all(&n.to_le_bytes()).expect("len");
            self.out.write_all(&(!n).to_le_bytes()).expect("nlen");
            self.out.write_all(c).expect("data");
        }
        for &b in data {
            self.crc = self.table[((self.crc ^ b as u32) & 0xff) as usize] ^ (self.crc >> 8);
        }
        self.len += data.len() as u64;
    }

    fn finish(mut self) -> W {
        self.out.write_all(&[1, 0, 0, 0xff, 0xff]).expect("final block");
        self.out.write_all(&(!self.crc).to_le_bytes()).expect("crc");
        self.out.write_all(&(self.len as u32).to_le_bytes()).expect("isize");
        self.out
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut g = StoredGzip::new(Vec::new());
    g.write(data);
    g.finish()
}

fn hex(digest: &str) -> &str {
    digest.trim_start_matches("sha256:")
}

/// An OCI image layout under construction.
struct Layout {
    dir: PathBuf,
}

impl Layout {
    fn new(dir: &Path) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).expect("mkdir");
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
        Layout { dir: dir.into() }
    }

    /// A gzip layer of `raw`: (digest, size, diff id).
    fn layer(&self, raw: &[u8]) -> (String, usize, String) {
        let (d, n) = self.blob(&gzip(raw));
        (d, n, sha256(raw))
    }

    fn blob(&self, data: &[u8]) -> (String, usize) {
        let d = sha256(data);
        std::fs::write(self.dir.join("blobs/sha256").join(hex(&d)), data).expect("write blob");
        (d, data.len())
    }

    /// An image manifest over gzip `layers` (digest, size, diff id); returns its descriptor.
    fn image(&self, arch: &str, layers: &[(String, usize, String)]) -> (String, usize) {
        let config = json!({"architecture":arch,"os":"linux","config":{},
            "rootfs":{"type":"layers","diff_ids":layers.iter().map(|l| l.2.clone()).collect::<Vec<_>>()}})
        .to_string();
        let (cd, cs) = self.blob(config.as_bytes());
        let manifest = json!({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":cd,"size":cs},
            "layers":layers.iter().map(|(d, s, _)| json!({"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":d,"size":s})).collect::<Vec<_>>()})
        .to_string();
        self.blob(manifest.as_bytes())
    }

    /// Tag `top` (a manifest or index of `media_type`) as `tag` in index.json.
    fn tag(&self, tag: &str, media_type: &str, top: &(String, usize)) {
        let index = json!({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
            {"mediaType":media_type,"digest":top.0,"size":top.1,"annotations":{"org.opencontainers.image.ref.name":tag}}]});
        std::fs::write(self.dir.join("index.json"), index.to_string()).expect("index.json");
    }
}

fn skopeo(args: Vec<String>) -> String {
    let out = Command::new(SKOPEO).args(&args).output().expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// skopeo blocks; run it off the runtime that serves it.
async fn run_skopeo(args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || skopeo(args)).await.expect("join")
}

fn file_sha256(path: &Path) -> String {
    use std::io::Read;
    let mut f = std::fs::File::open(path).expect("open");
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    format!("sha256:{}", h.finalize().iter().map(|b| format!("{b:02x}")).collect::<String>())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_copies_a_multi_arch_index_in_and_out() {
    require_skopeo();
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = start(&dir.path().join("registry"), false).await;
    let layout = Layout::new(&dir.path().join("src"));
    let shared = layout.layer(&pseudo_random(200_000, 1));
    let mut entries = Vec::new();
    for (i, arch) in ["amd64", "arm64", "s390x"].into_iter().enumerate() {
        let own = layout.layer(&pseudo_random(50_000 + i * 1000, 10 + i as u64));
        let m = layout.image(arch, &[shared.clone(), own]);
        entries.push(json!({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":m.0,"size":m.1,
            "platform":{"architecture":arch,"os":"linux"}}));
    }
    let index = json!({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":entries})
        .to_string();
    let top = layout.blob(index.as_bytes());
    layout.tag("v1", "application/vnd.oci.image.index.v1+json", &top);

    let image = format!("docker://{}/multi/app:v1", reg.server.host());
    let src = format!("oci:{}:v1", dir.path().join("src").display());
    run_skopeo(&["--insecure-policy", "copy", "--all", "--dest-tls-verify=false", &src, &image]).await;
    let raw = run_skopeo(&["inspect", "--raw", "--tls-verify=false", &image]).await;
    assert_eq!(sha256(raw.as_bytes()), top.0, "the index is served byte for byte: {raw}\nsent {index}");
    let arm = run_skopeo(&["--override-arch", "arm64", "inspect", "--tls-verify=false", &image]).await;
    let arm: serde_json::Value = serde_json::from_str(&arm).expect("inspect JSON");
    assert_eq!(arm["Architecture"], "arm64");

    let back = dir.path().join("back");
    run_skopeo(&[
        "--insecure-policy",
        "copy",
        "--all",
        "--src-tls-verify=false",
        &image,
        &format!("oci:{}:v1", back.display()),
    ])
    .await;
    let mut names: Vec<_> = std::fs::read_dir(dir.path().join("src/blobs/sha256"))
        .expect("read")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    names.sort();
    assert_eq!(names.len(), 1 + 3 * 3 + 1, "index, 3 x (manifest, config, own layer), shared layer");
    for name in names {
        let a = std::fs::read(dir.path().join("src/blobs/sha256").join(&name)).expect("read");
        let b = std::fs::read(back.join("blobs/sha256").join(&name)).expect("pulled back");
        assert!(a == b, "{name:?} identical after the round trip");
    }
}

fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map(|kb| kb / 1024)
        .unwrap_or(0)
}

/// Slow: a 1 GiB layer through skopeo, pushed and pulled back, the registry's memory flat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_layer_1gib_slow() {
    require_skopeo();
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = start(&dir.path().join("registry"), false).await;
    let layout = Layout::new(&dir.path().join("src"));
    // The layer (1 GiB of data, gzip with stored blocks) is generated straight to disk.
    let tmp = dir.path().join("src/layer.tmp");
    let (layer_digest, layer_size, diff_id) = {
        let file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp).expect("create"));
        let mut g = StoredGzip::new(file);
        let mut h = sha2::Sha256::new();
        let mut chunk = pseudo_random(1 << 20, 3);
        for i in 0..1024u64 {
            chunk[..8].copy_from_slice(&i.to_le_bytes());
            h.update(&chunk);
            g.write(&chunk);
        }
        let mut file = g.finish();
        file.flush().expect("flush");
        let diff_id = format!("sha256:{}", h.finalize().iter().map(|b| format!("{b:02x}")).collect::<String>());
        (file_sha256(&tmp), std::fs::metadata(&tmp).expect("stat").len() as usize, diff_id)
    };
    assert!(layer_size >= 1 << 30);
    std::fs::rename(&tmp, dir.path().join("src/blobs/sha256").join(hex(&layer_digest))).expect("rename");
    let m = layout.image("amd64", &[(layer_digest.clone(), layer_size, diff_id)]);
    layout.tag("big", "application/vnd.oci.image.manifest.v1+json", &m);

    let image = format!("docker://{}/big/layer:big", reg.server.host());
    let before = peak_rss_mib();
    run_skopeo(&[
        "--insecure-policy",
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:big", dir.path().join("src").display()),
        &image,
    ])
    .await;
    std::fs::remove_dir_all(dir.path().join("src")).expect("free the source's disk space");
    let back = dir.path().join("back");
    run_skopeo(&[
        "--insecure-policy",
        "copy",
        "--src-tls-verify=false",
        &image,
        &format!("oci:{}:big", back.display()),
    ])
    .await;
    let pulled = back.join("blobs/sha256").join(hex(&layer_digest));
    assert_eq!(std::fs::metadata(&pulled).expect("pulled layer").len(), layer_size as u64);
    assert_eq!(file_sha256(&pulled), layer_digest, "the pulled layer matches its digest");
    let peak = peak_rss_mib();
    // The registry serves from this process: a 1 GiB blob must not be held in memory.
    assert!(peak < 300, "peak RSS {peak} MiB (was {before} MiB before the copy)");
}

/// A chunked upload whose connection breaks mid-body, resumed from the registry's status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_chunked_upload_resumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = start(&dir.path().join("registry"), false).await;
    let (base, c) = (reg.base.clone(), reqwest::Client::new());
    let blob = pseudo_random(6 * 1024 * 1024 + 333, 8);
    let digest = sha256(&blob);

    let r = c.post(format!("{base}/v2/resume/app/blobs/uploads/")).send().await.expect("start");
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().expect("location").to_string();
    let first = 2 * 1024 * 1024;
    let r = c
        .patch(format!("{base}{location}"))
        .header("content-type", "application/octet-stream")
        .header("content-range", format!("0-{}", first - 1))
        .body(blob[..first].to_vec())
        .send()
        .await
        .expect("first chunk");
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["range"], format!("0-{}", first - 1).as_str());
    let location = r.headers()["location"].to_str().expect("location").to_string();

    // The second chunk breaks after 3 MiB of its 4 MiB: the client's body fails mid-way, but
    // only once the registry is demonstrably writing it (its data grew past the first chunk,
    // so the PATCH holds the session), so the status asked next waits for that PATCH to end
    // instead of racing it.
    let id = location.rsplit('/').next().and_then(|s| s.split('?').next()).expect("upload id").to_string();
    let second_end = blob.len();
    let sent = 3 * 1024 * 1024;
    let pieces: Vec<Result<bytes::Bytes, std::io::Error>> =
        blob[first..first + sent].chunks(256 * 1024).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
    let registry = reg.registry.clone();
    let cable_pulled = futures::stream::once(async move {
        testkit::wait_until("the registry to write the broken chunk", std::time::Duration::from_secs(30), || {
            let registry = registry.clone();
            let id = id.clone();
            async move { registry.store().upload_size("resume/app", &id).await.ok().filter(|&n| n > first as u64) }
        })
        .await;
        Err(std::io::Error::other("network cable pulled"))
    });
    let broken = c
        .patch(format!("{base}{location}"))
        .header("content-type", "application/octet-stream")
        .header("content-range", format!("{first}-{}", second_end - 1))
        .header("content-length", (second_end - first).to_string())
        .body(reqwest::Body::wrap_stream(futures::stream::iter(pieces).chain(cable_pulled)))
        .send()
        .await;
    assert!(broken.is_err(), "the interrupted request fails on the client");

    // Ask where to resume: the registry answers once the broken PATCH has ended.
    let r = c.get(format!("{base}{location}")).send().await.expect("status");
    assert_eq!(r.status(), 204);
    let range = r.headers()["range"].to_str().expect("range").to_string();
    let end: usize = range.strip_prefix("0-").and_then(|e| e.parse().ok()).expect("0-<end>");
    let have = end + 1;
    assert!(have > first && have <= first + sent, "registry holds {have} bytes");
    let location = r.headers()["location"].to_str().expect("location").to_string();

    // A resume from the wrong offset is refused with the range the registry has.
    let r = c
        .patch(format!("{base}{location}"))
        .header("content-type", "application/octet-stream")
        .header("content-range", format!("{}-{}", have + 10, have + 19))
        .body(vec![0u8; 10])
        .send()
        .await
        .expect("wrong offset");
    assert_eq!(r.status(), 416);

    let r = c
        .patch(format!("{base}{location}"))
        .header("content-type", "application/octet-stream")
        .header("content-range", format!("{have}-{}", blob.len() - 1))
        .body(blob[have..].to_vec())
        .send()
        .await
        .expect("resume");
    assert_eq!(r.status(), 202, "{:?}", r.text().await);
    let location = r.headers()["location"].to_str().expect("location").to_string();
    let sep = if location.contains('?') { '&' } else { '?' };
    let r = c.put(format!("{base}{location}{sep}digest={digest}")).send().await.expect("finish");
    assert_eq!(r.status(), 201, "{:?}", r.text().await);

    let r = c.get(format!("{base}/v2/resume/app/blobs/{digest}")).send().await.expect("pull");
    assert_eq!(r.status(), 200);
    let mut s = r.bytes_stream();
    let mut h = sha2::Sha256::new();
    while let Some(chunk) = s.next().await {
        h.update(chunk.expect("chunk"));
    }
    let got = format!("sha256:{}", h.finalize().iter().map(|b| format!("{b:02x}")).collect::<String>());
    assert_eq!(got, digest, "the resumed blob pulls back by its digest");
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oras_python_sdk_pushes_and_pulls_artifacts() {
    let have = Command::new(python()).args(["-c", "import oras.client"]).output().is_ok_and(|o| o.status.success());
    if !have {
        let msg = "the oras Python SDK is not installed: python3 -m pip install oras";
        if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") {
            panic!("{msg}");
        }
        eprintln!("SKIPPED: {msg}");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = start(&dir.path().join("registry"), false).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/oras_roundtrip.py");
    let work = dir.path().join("oras");
    std::fs::create_dir_all(&work).expect("mkdir");
    let (host, w) = (reg.server.host(), work.clone());
    let out = tokio::task::spawn_blocking(move || Command::new(python()).arg(script).arg(host).arg(w).output())
        .await
        .expect("join")
        .expect("run python");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("oras client: ok"),
        "oras client failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // What oras pushed is an ordinary OCI manifest in the registry.
    let c = reqwest::Client::new();
    let r = c
        .get(format!("{}/v2/artifacts/demo/manifests/v1", reg.base))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .expect("manifest");
    assert_eq!(r.status(), 200);
    let m: serde_json::Value = r.json().await.expect("json");
    assert_eq!(m["layers"].as_array().map(Vec::len), Some(2));
}
