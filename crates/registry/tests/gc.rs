//! Garbage collection on a live registry: orphans go, referenced content (image manifests,
//! indexes, configs, layers, referrers) stays, blobs of a push whose manifest is not there yet
//! survive, and pushes running during a collection end complete. Also the read-only mode.

mod common;

use common::*;
use registry::storage::gc::{GcOptions, collect_garbage};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, SystemTime};

const TWO_DAYS: Duration = Duration::from_secs(2 * 24 * 3600);

fn blob_file(root: &Path, digest: &str) -> std::path::PathBuf {
    let hex = digest.trim_start_matches("sha256:");
    root.join("blobs/sha256").join(&hex[..2]).join(hex)
}

/// Pretend a file was last written two days ago.
fn age(path: &Path) {
    let f = std::fs::File::options().write(true).open(path).expect("open");
    f.set_modified(SystemTime::now() - TWO_DAYS).expect("set mtime");
}

/// Age every file under `dir`.
fn age_tree(dir: &Path) {
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        if e.file_type().expect("type").is_dir() {
            age_tree(&e.path());
        } else {
            age(&e.path());
        }
    }
}

async fn status(c: &reqwest::Client, method: reqwest::Method, url: String) -> u16 {
    c.request(method, url).send().await.expect("request").status().as_u16()
}

async fn put_manifest(c: &reqwest::Client, base: &str, repo: &str, reference: &str, media: &str, body: &[u8]) {
    let r = c
        .put(format!("{base}/v2/{repo}/manifests/{reference}"))
        .header("content-type", media)
        .body(body.to_vec())
        .send()
        .await
        .expect("push manifest");
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_sweeps_orphans_keeps_referenced_and_in_flight_blobs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("registry");
    let reg = start(&root, false).await;
    let (base, c) = (reg.base.clone(), reqwest::Client::new());
    let storage = reg.registry.store().storage().clone();

    // Referenced content: an image, an index over it, and an artifact referring to it.
    let (image, image_digest) = push_image(&c, &base, "lib/app", "v1", 1).await;
    let index = json!({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
        "manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":image_digest,"size":image.len(),
        "platform":{"architecture":"amd64","os":"linux"}}]})
    .to_string();
    put_manifest(&c, &base, "lib/app", "multi", "application/vnd.oci.image.index.v1+json", index.as_bytes()).await;
    let sig = push_blob(&c, &base, "lib/app", b"signature bytes").await;
    let empty = push_blob(&c, &base, "lib/app", b"{}").await;
    let artifact = json!({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
        "artifactType":"application/vnd.example.sig",
        "config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":empty,"size":2},
        "layers":[{"mediaType":"application/vnd.example.sig","digest":sig,"size":15}],
        "subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":image_digest,"size":image.len()}})
    .to_string();
    let artifact_digest = sha256(artifact.as_bytes());
    put_manifest(
        &c,
        &base,
        "lib/app",
        &artifact_digest,
        "application/vnd.oci.image.manifest.v1+json",
        artifact.as_bytes(),
    )
    .await;
    // A blob shared with another repository whose manifest was deleted stays for lib/app.
    let (_, other_digest) = push_image(&c, &base, "lib/other", "v1", 1).await;
    assert_eq!(status(&c, reqwest::Method::DELETE, format!("{base}/v2/lib/other/manifests/{other_digest}")).await, 202);

    // An orphan: uploaded long ago, never referenced.
    let orphan = pseudo_random(70_000, 99);
    let orphan_digest = push_blob(&c, &base, "lib/app", &orphan).await;
    // An abandoned upload session holding some bytes.
    let r = c.post(format!("{base}/v2/lib/app/blobs/uploads/")).send().await.expect("start");
    let location = r.headers()["location"].to_str().expect("location").to_string();
    let r = c
        .patch(format!("{base}{location}"))
        .header("content-type", "application/octet-stream")
        .body(vec![7u8; 5000])
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 202);
    let upload_id =
        location.trim_end_matches('/').rsplit('/').next().expect("id").split('?').next().expect("id").to_string();
    let info = root.join("uploads").join(&upload_id).join("info.json");
    let started = (SystemTime::now() - TWO_DAYS).duration_since(SystemTime::UNIX_EPOCH).expect("time").as_secs();
    std::fs::write(&info, json!({"repository":"lib/app","started":started}).to_string()).expect("rewrite info");
    // Everything so far is old, so only references keep it.
    age_tree(&root.join("blobs"));
    age_tree(&root.join("repos"));
    age_tree(&root.join("uploads"));

    // A push in flight: its layer is uploaded now, its manifest comes after the collection.
    let fresh = pseudo_random(50_000, 5);
    let fresh_digest = push_blob(&c, &base, "lib/app", &fresh).await;

    let dry =
        collect_garbage(storage.as_ref(), &GcOptions { dry_run: true, ..GcOptions::default() }).await.expect("dry run");
    assert!(dry.dry_run);
    let swept: Vec<&str> = dry.blobs.iter().map(|b| b.digest.as_str()).collect();
    assert_eq!(swept, vec![orphan_digest.as_str()], "only the orphan would go");
    assert_eq!(dry.uploads, vec![(upload_id.clone(), 5000)]);
    assert_eq!(dry.bytes_freed(), 70_000 + 5000);
    assert_eq!(dry.kept_recent, 1, "the in-flight blob is kept for its grace period");
    assert!(blob_file(&root, &orphan_digest).exists(), "a dry run deletes nothing");
    assert_eq!(status(&c, reqwest::Method::GET, format!("{base}/v2/lib/app/blobs/uploads/{upload_id}")).await, 204);

    let report = collect_garbage(storage.as_ref(), &GcOptions::default()).await.expect("gc");
    assert_eq!(report.blobs.len(), 1);
    assert_eq!(report.bytes_freed(), 75_000);
    assert_eq!(status(&c, reqwest::Method::HEAD, format!("{base}/v2/lib/app/blobs/{orphan_digest}")).await, 404);
    assert_eq!(status(&c, reqwest::Method::GET, format!("{base}/v2/lib/app/blobs/uploads/{upload_id}")).await, 404);
    // Everything referenced is still served.
    let image_v: serde_json::Value = serde_json::from_slice(&image).expect("json");
    let mut kept =
        vec![image_digest.clone(), sha256(index.as_bytes()), artifact_digest.clone(), sig.clone(), empty.clone()];
    kept.push(image_v["config"]["digest"].as_str().expect("config").to_string());
    kept.push(image_v["layers"][0]["digest"].as_str().expect("layer").to_string());
    for d in &kept {
        assert!(blob_file(&root, d).exists(), "{d} kept");
    }
    for d in &kept[3..] {
        assert_eq!(status(&c, reqwest::Method::HEAD, format!("{base}/v2/lib/app/blobs/{d}")).await, 200, "{d}");
    }
    let r = c.get(format!("{base}/v2/lib/app/referrers/{image_digest}")).send().await.expect("referrers");
    assert!(r.text().await.expect("body").contains(&artifact_digest));

    // The in-flight push completes after the collection.
    let config = b"{\"architecture\":\"amd64\",\"os\":\"linux\"}";
    let config_digest = push_blob(&c, &base, "lib/app", config).await;
    let manifest = json!({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
        "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":config_digest,"size":config.len()},
        "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":fresh_digest,"size":fresh.len()}]})
    .to_string();
    put_manifest(&c, &base, "lib/app", "v2", "application/vnd.oci.image.manifest.v1+json", manifest.as_bytes()).await;
    let r = c.get(format!("{base}/v2/lib/app/blobs/{fresh_digest}")).send().await.expect("pull");
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.expect("body").as_ref() == fresh.as_slice());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_running_during_gc_end_complete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("registry");
    let reg = start(&root, false).await;
    let (base, c) = (reg.base.clone(), reqwest::Client::new());
    let storage = reg.registry.store().storage().clone();
    let mut orphans = Vec::new();
    for i in 0..20 {
        orphans.push(push_blob(&c, &base, "old/junk", &pseudo_random(10_000 + i, 1000 + i as u64)).await);
    }
    age_tree(&root.join("blobs"));
    age_tree(&root.join("repos"));

    let pushes = {
        let (c, base) = (c.clone(), base.clone());
        tokio::spawn(async move {
            let mut images = Vec::new();
            for i in 0..12u64 {
                images.push(push_image(&c, &base, "live/app", &format!("t{i}"), 500 + i).await);
            }
            images
        })
    };
    let mut runs = 0;
    let mut swept = 0;
    while !pushes.is_finished() || runs == 0 {
        let report = collect_garbage(storage.as_ref(), &GcOptions::default()).await.expect("gc");
        swept += report.blobs.len();
        runs += 1;
    }
    let images = pushes.await.expect("pushes");
    assert_eq!(swept, orphans.len(), "every old orphan swept exactly once over {runs} runs");
    for d in &orphans {
        assert!(!blob_file(&root, d).exists(), "orphan {d} swept");
    }
    for (i, (manifest, digest)) in images.iter().enumerate() {
        let r = c
            .get(format!("{base}/v2/live/app/manifests/t{i}"))
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .await
            .expect("pull");
        assert_eq!(r.headers()["docker-content-digest"], digest.as_str());
        let v: serde_json::Value = serde_json::from_slice(manifest).expect("json");
        for d in [&v["config"]["digest"], &v["layers"][0]["digest"]] {
            let d = d.as_str().expect("digest");
            assert_eq!(status(&c, reqwest::Method::GET, format!("{base}/v2/live/app/blobs/{d}")).await, 200, "{d}");
        }
    }
    // A later collection with nothing to do.
    let report = collect_garbage(storage.as_ref(), &GcOptions::default()).await.expect("gc");
    assert!(report.blobs.is_empty() && report.uploads.is_empty());
    assert_eq!(report.manifests, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_mode_refuses_writes_and_serves_pulls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("registry");
    let reg = start(&root, false).await;
    let c = reqwest::Client::new();
    let (manifest, digest) = push_image(&c, &reg.base, "lib/app", "v1", 4).await;
    reg.server.stop().await;

    let mut config = registry::Config::new(&root);
    config.read_only = true;
    let ro = registry::Registry::new(config).await.expect("registry");
    let server = registry::LocalServer::start(ro.router(), "127.0.0.1:0".parse().expect("addr")).await.expect("serve");
    let base = format!("http://{}", server.addr);

    let r = c
        .get(format!("{base}/v2/lib/app/manifests/v1"))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .expect("pull");
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.expect("body"), manifest);
    let layer = serde_json::from_slice::<serde_json::Value>(&manifest).expect("json")["layers"][0]["digest"]
        .as_str()
        .expect("layer")
        .to_string();
    assert_eq!(status(&c, reqwest::Method::GET, format!("{base}/v2/lib/app/blobs/{layer}")).await, 200);
    assert_eq!(status(&c, reqwest::Method::GET, format!("{base}/v2/lib/app/tags/list")).await, 200);

    let writes = [
        c.post(format!("{base}/v2/lib/app/blobs/uploads/")),
        c.post(format!("{base}/v2/lib/app/blobs/uploads/?digest={}", sha256(b"x"))).body("x"),
        c.put(format!("{base}/v2/lib/app/manifests/v2"))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest.clone()),
        c.delete(format!("{base}/v2/lib/app/manifests/{digest}")),
        c.delete(format!("{base}/v2/lib/app/blobs/{layer}")),
    ];
    for w in writes {
        let r = w.send().await.expect("write");
        assert_eq!(r.status(), 405, "writes are refused in read-only mode");
        assert_eq!(error_code(r).await, "UNSUPPORTED");
    }
    assert_eq!(
        status(&c, reqwest::Method::GET, format!("{base}/v2/lib/app/manifests/{digest}")).await,
        200,
        "nothing was deleted"
    );
}
