//! The storage drivers behave alike: one behavioural test body runs on the filesystem driver
//! and on the S3 driver against a real S3-compatible server (moto's server from PyPI,
//! `python3 -m pip install 'moto[server]'`), which the tests start themselves. The registry
//! also serves pushes and pulls with its blobs on S3.

mod common;

use bytes::Bytes;
use common::*;
use futures::StreamExt;
use registry::storage::{AppendError, ByteStream, FileSystem, S3, S3Config, Storage};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// A moto S3 server on a free local port, killed when dropped.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Start moto, or `None` (with a message) when it is not installed outside CI. In CI
/// (`CI=true`) a missing server fails the test.
pub fn start_moto() -> Option<Moto> {
    let have = Command::new(python())
        .args(["-c", "import moto.server, flask, flask_cors"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        let msg = "moto's S3 server is not installed: python3 -m pip install 'moto[server]'";
        if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") {
            panic!("{msg}");
        }
        eprintln!("SKIPPED: {msg}");
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let child = Command::new(python())
        .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto server");
    let moto = Moto { child, endpoint: format!("http://127.0.0.1:{port}") };
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto did not listen within 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(moto)
}

pub async fn s3_storage(moto: &Moto, bucket: &str, prefix: &str) -> S3 {
    let s3 = S3::new(S3Config {
        endpoint: moto.endpoint.clone(),
        bucket: bucket.into(),
        region: "us-east-1".into(),
        access_key: "testing".into(),
        secret_key: "testing".into(),
        prefix: prefix.into(),
        virtual_host: false,
    })
    .expect("s3 driver");
    s3.ensure_bucket().await.expect("bucket");
    s3
}

fn stream_of(parts: Vec<Vec<u8>>) -> ByteStream {
    futures::stream::iter(parts.into_iter().map(|p| Ok(Bytes::from(p)))).boxed()
}

async fn read_all(s: &dyn Storage, path: &str, offset: u64, len: Option<u64>) -> Option<Vec<u8>> {
    let stream = s.read(path, offset, len).await.expect("read")?;
    let parts: Vec<Bytes> = stream.map(|r| r.expect("read chunk")).collect().await;
    Some(parts.concat())
}

fn names(entries: &[registry::storage::Entry]) -> Vec<(String, bool)> {
    entries.iter().map(|e| (e.name.clone(), e.is_dir)).collect()
}

/// The driver contract, as the registry relies on it.
async fn behaviour(s: Arc<dyn Storage>) {
    let s = s.as_ref();
    // Small objects.
    assert_eq!(s.get("a/b").await.expect("get"), None);
    assert_eq!(s.stat("a/b").await.expect("stat"), None);
    s.put("a/b", Bytes::from_static(b"hello")).await.expect("put");
    s.put("a/b", Bytes::from_static(b"hello, world")).await.expect("replace");
    assert_eq!(s.get("a/b").await.expect("get").as_deref(), Some(&b"hello, world"[..]));
    let st = s.stat("a/b").await.expect("stat").expect("exists");
    assert_eq!(st.size, 12);
    let age = SystemTime::now().duration_since(st.modified.expect("modification time")).unwrap_or_default();
    assert!(age < Duration::from_secs(120), "modified just now, not {age:?} ago");
    assert_eq!(read_all(s, "a/b", 7, Some(5)).await.as_deref(), Some(&b"world"[..]));
    assert_eq!(read_all(s, "a/b", 7, None).await.as_deref(), Some(&b"world"[..]));
    assert_eq!(read_all(s, "nope", 0, None).await, None);
    s.put("a/empty", Bytes::new()).await.expect("put empty");
    assert_eq!(s.size("a/empty").await.expect("size"), Some(0));

    // An in-progress object: appends at the right offset, larger than one S3 segment.
    let big = pseudo_random(9 * 1024 * 1024 + 123, 7);
    let (p1, p2) = big.split_at(3 * 1024 * 1024 + 5);
    let n =
        s.append("up/1/data", 0, stream_of(p1.chunks(64 * 1024).map(<[u8]>::to_vec).collect())).await.expect("append");
    assert_eq!(n, p1.len() as u64);
    match s.append("up/1/data", 10, stream_of(vec![b"x".to_vec()])).await {
        Err(AppendError::Offset(at)) => assert_eq!(at, p1.len() as u64),
        other => panic!("expected an offset mismatch, got {other:?}"),
    }
    let n =
        s.append("up/1/data", n, stream_of(p2.chunks(1 << 20).map(<[u8]>::to_vec).collect())).await.expect("append");
    assert_eq!(n, big.len() as u64);
    assert_eq!(s.size("up/1/data").await.expect("size"), Some(big.len() as u64));
    let mid = p1.len() as u64 - 100;
    assert_eq!(
        read_all(s, "up/1/data", mid, Some(300)).await.expect("in-progress read"),
        &big[mid as usize..mid as usize + 300],
        "a range read across append boundaries"
    );
    assert_eq!(read_all(s, "up/1/data", 0, None).await.expect("whole read"), big);
    assert!(
        names(&s.list("up/1").await.expect("list")).contains(&("data".into(), false)),
        "an in-progress object lists as a file"
    );

    // A broken body keeps what arrived.
    let broken = futures::stream::iter(vec![
        Ok(Bytes::from_static(b"0123456789")),
        Err(std::io::Error::other("connection reset")),
    ])
    .boxed();
    assert!(matches!(s.append("up/2/data", 0, broken).await, Err(AppendError::Io(_))));
    assert_eq!(s.size("up/2/data").await.expect("size"), Some(10));
    assert_eq!(s.append("up/2/data", 10, stream_of(vec![b"abc".to_vec()])).await.expect("resume"), 13);

    // Atomic commit: the target is absent, then whole; never a part.
    assert_eq!(s.stat("blobs/big").await.expect("stat"), None);
    let observed = {
        let commit = s.commit("up/1/data", "blobs/big");
        let watch = async {
            let mut seen = Vec::new();
            for _ in 0..200 {
                seen.push(s.stat("blobs/big").await.expect("stat").map(|st| st.size));
                if seen.last().copied().flatten().is_some() {
                    break;
                }
            }
            seen
        };
        let (committed, seen) = futures::join!(commit, watch);
        committed.expect("commit");
        seen
    };
    for size in observed.into_iter().flatten() {
        assert_eq!(size, big.len() as u64, "a committed object is seen whole");
    }
    assert_eq!(read_all(s, "blobs/big", 0, None).await.expect("committed"), big);
    assert_eq!(s.stat("up/1/data").await.expect("stat"), None, "the source is gone");
    let range = read_all(s, "blobs/big", 5_000_000, Some(4096)).await.expect("range");
    assert_eq!(range, &big[5_000_000..5_004_096]);

    // Many small appends (a client's small chunks) commit the same way.
    let mut small = Vec::new();
    let mut at = 0;
    for i in 0..6u64 {
        let part = pseudo_random(1024 * 1024 + i as usize, 100 + i);
        at = s.append("up/3/data", at, stream_of(vec![part.clone()])).await.expect("append");
        small.extend_from_slice(&part);
    }
    s.commit("up/3/data", "blobs/small").await.expect("commit small chunks");
    assert_eq!(read_all(s, "blobs/small", 0, None).await.expect("read"), small);
    s.commit("up/2/data", "blobs/two").await.expect("commit");
    assert_eq!(s.get("blobs/two").await.expect("get").as_deref(), Some(&b"0123456789abc"[..]));
    // An object written whole (the empty blob) commits too.
    s.put("up/4/data", Bytes::new()).await.expect("put");
    s.commit("up/4/data", "blobs/empty").await.expect("commit empty");
    assert_eq!(s.size("blobs/empty").await.expect("size"), Some(0));

    // Listing: sorted, directories marked (S3 has no empty directories: keep one object).
    s.append("up/5/data", 0, stream_of(vec![b"pending".to_vec()])).await.expect("append");
    s.put("up/5/info.json", Bytes::from_static(b"{}")).await.expect("put");
    assert_eq!(
        names(&s.list("blobs").await.expect("list")),
        vec![("big".into(), false), ("empty".into(), false), ("small".into(), false), ("two".into(), false)]
    );
    let root = names(&s.list("").await.expect("list root"));
    for dir in ["a", "blobs", "up"] {
        assert!(root.contains(&(dir.to_string(), true)), "{dir} in {root:?}");
    }
    assert_eq!(s.list("missing/dir").await.expect("list").len(), 0);

    // Deletes: objects, trees (with in-progress objects), missing paths.
    s.delete("blobs/two").await.expect("delete");
    assert_eq!(s.get("blobs/two").await.expect("get"), None);
    s.delete("up").await.expect("delete tree");
    assert_eq!(s.size("up/5/data").await.expect("size"), None);
    assert_eq!(s.list("up").await.expect("list").len(), 0);
    s.delete("up").await.expect("delete missing");
    s.delete("a").await.expect("delete");
    assert_eq!(s.get("a/b").await.expect("get"), None);
    assert_eq!(read_all(s, "blobs/big", 0, Some(10)).await.expect("still there"), &big[..10]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem_driver_behaviour() {
    let dir = tempfile::tempdir().expect("tempdir");
    behaviour(Arc::new(FileSystem::new(dir.path()).expect("fs"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_driver_behaviour() {
    let Some(moto) = start_moto() else { return };
    behaviour(Arc::new(s3_storage(&moto, "behaviour", "").await)).await;
    // Under a key prefix, sharing a bucket.
    behaviour(Arc::new(s3_storage(&moto, "shared", "tke/registry").await)).await;
}

/// The registry on S3: push (monolithic and chunked), pull, range read, delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_serves_from_s3() {
    let Some(moto) = start_moto() else { return };
    let s3 = s3_storage(&moto, "registry", "").await;
    let reg = registry::Registry::with_storage(Arc::new(s3), registry::Config::new("/unused"));
    let server = registry::LocalServer::start(reg.router(), "127.0.0.1:0".parse().expect("addr")).await.expect("serve");
    let base = format!("http://{}", server.addr);
    let c = reqwest::Client::new();

    let (manifest, digest) = push_image(&c, &base, "lib/app", "v1", 3).await;
    let r = c
        .get(format!("{base}/v2/lib/app/manifests/v1"))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .expect("pull manifest");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["docker-content-digest"], digest.as_str());
    assert_eq!(r.bytes().await.expect("body"), manifest);

    // A chunked upload of 12 MiB in 3 MiB PATCHes, then pulled back whole and by range.
    let blob = pseudo_random(12 * 1024 * 1024, 9);
    let d = sha256(&blob);
    let r = c.post(format!("{base}/v2/lib/app/blobs/uploads/")).send().await.expect("start");
    assert_eq!(r.status(), 202);
    let mut location = r.headers()["location"].to_str().expect("location").to_string();
    for (i, chunk) in blob.chunks(3 * 1024 * 1024).enumerate() {
        let start = i * 3 * 1024 * 1024;
        let r = c
            .patch(format!("{base}{location}"))
            .header("content-type", "application/octet-stream")
            .header("content-range", format!("{start}-{}", start + chunk.len() - 1))
            .body(chunk.to_vec())
            .send()
            .await
            .expect("patch");
        assert_eq!(r.status(), 202, "{:?}", r.text().await);
        location = r.headers()["location"].to_str().expect("location").to_string();
    }
    let sep = if location.contains('?') { '&' } else { '?' };
    let r = c.put(format!("{base}{location}{sep}digest={d}")).send().await.expect("finish");
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let r = c.get(format!("{base}/v2/lib/app/blobs/{d}")).send().await.expect("pull blob");
    assert_eq!(r.status(), 200);
    let body = r.bytes().await.expect("body");
    assert!(body.as_ref() == blob.as_slice(), "blob pulled back identical");
    let r =
        c.get(format!("{base}/v2/lib/app/blobs/{d}")).header("range", "bytes=1000-1999").send().await.expect("range");
    assert_eq!(r.status(), 206);
    assert!(r.bytes().await.expect("body").as_ref() == &blob[1000..2000]);

    let r = c.delete(format!("{base}/v2/lib/app/manifests/{digest}")).send().await.expect("delete");
    assert_eq!(r.status(), 202);
    let r = c.get(format!("{base}/v2/lib/app/manifests/v1")).send().await.expect("pull deleted");
    assert_eq!(r.status(), 404);
}

/// Garbage collection on S3: with the clock moved past the grace period, the orphan goes and
/// the image stays (S3 times come from the objects' Last-Modified).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_on_s3_sweeps_orphans_and_keeps_images() {
    use registry::storage::gc::{GcOptions, collect_garbage};
    let Some(moto) = start_moto() else { return };
    let s3: Arc<dyn Storage> = Arc::new(s3_storage(&moto, "gc-test", "").await);
    let reg = registry::Registry::with_storage(s3.clone(), registry::Config::new("/unused"));
    let server = registry::LocalServer::start(reg.router(), "127.0.0.1:0".parse().expect("addr")).await.expect("serve");
    let base = format!("http://{}", server.addr);
    let c = reqwest::Client::new();
    let (manifest, _) = push_image(&c, &base, "lib/app", "v1", 11).await;
    let orphan = push_blob(&c, &base, "lib/app", &pseudo_random(30_000, 12)).await;

    let now = GcOptions::default();
    let report = collect_garbage(s3.as_ref(), &now).await.expect("gc now");
    assert!(report.blobs.is_empty(), "everything is within the grace period");
    assert_eq!(report.kept_recent, 1);
    let later = GcOptions { now: Some(SystemTime::now() + Duration::from_secs(2 * 3600)), ..GcOptions::default() };
    let dry = collect_garbage(s3.as_ref(), &GcOptions { dry_run: true, ..later.clone() }).await.expect("dry run");
    assert_eq!(dry.blobs.len(), 1);
    assert_eq!(dry.bytes_freed(), 30_000);
    let report = collect_garbage(s3.as_ref(), &later).await.expect("gc later");
    assert_eq!(report.blobs.iter().map(|b| b.digest.as_str()).collect::<Vec<_>>(), vec![orphan.as_str()]);
    let r = c.head(format!("{base}/v2/lib/app/blobs/{orphan}")).send().await.expect("head");
    assert_eq!(r.status(), 404);
    let m: serde_json::Value = serde_json::from_slice(&manifest).expect("json");
    for d in [&m["config"]["digest"], &m["layers"][0]["digest"]] {
        let r = c.get(format!("{base}/v2/lib/app/blobs/{}", d.as_str().expect("digest"))).send().await.expect("pull");
        assert_eq!(r.status(), 200);
    }
}
