//! Interoperability with a real client: skopeo (containers/image) pushes a multi-arch OCI
//! image through token auth, lists tags, inspects, copies back and deletes.

mod common;

use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

const SKOPEO: &str = "/usr/bin/skopeo";

fn crc32(data: &[u8]) -> u32 {
    let mut table = [0u32; 256];
    for (i, t) in table.iter_mut().enumerate() {
        let mut c = i as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
        }
        *t = c;
    }
    !data.iter().fold(!0u32, |c, &b| table[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8))
}

/// A valid gzip stream of `data` using stored (uncompressed) deflate blocks, so layers are
/// real gzip without a compression crate.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut chunks = data.chunks(65535).peekable();
    if data.is_empty() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(c) = chunks.next() {
        out.push(if chunks.peek().is_none() { 1 } else { 0 });
        let len = c.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn write_blob(layout: &Path, data: &[u8]) -> String {
    let d = sha256(data);
    let hex = d.trim_start_matches("sha256:");
    std::fs::write(layout.join("blobs/sha256").join(hex), data).expect("write blob");
    d
}

/// An OCI layout with a two-platform index tagged `v1`; returns (index digest, per-arch manifest digests).
fn make_layout(dir: &Path) -> (String, Vec<(String, String)>) {
    std::fs::create_dir_all(dir.join("blobs/sha256")).expect("mkdir");
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
    let mut entries = Vec::new();
    let mut per_arch = Vec::new();
    for (i, arch) in ["amd64", "arm64"].into_iter().enumerate() {
        let mut layers = Vec::new();
        let mut diff_ids = Vec::new();
        for (j, size) in [300 * 1024, 70 * 1024 + 3].into_iter().enumerate() {
            let raw = pseudo_random(size, (i * 10 + j) as u64 + 100);
            diff_ids.push(sha256(&raw));
            let gz = gzip_stored(&raw);
            let d = write_blob(dir, &gz);
            layers.push(json!({"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":d,"size":gz.len()}));
        }
        let config =
            json!({"architecture":arch,"os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":diff_ids}})
                .to_string();
        let cd = write_blob(dir, config.as_bytes());
        let manifest = json!({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":cd,"size":config.len()},
            "layers":layers})
        .to_string();
        let md = write_blob(dir, manifest.as_bytes());
        entries
            .push(json!({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":md,"size":manifest.len(),
            "platform":{"architecture":arch,"os":"linux"}}));
        per_arch.push((arch.to_string(), md));
    }
    let index = json!({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":entries})
        .to_string();
    let id = write_blob(dir, index.as_bytes());
    let top = json!({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
        {"mediaType":"application/vnd.oci.image.index.v1+json","digest":id,"size":index.len(),
         "annotations":{"org.opencontainers.image.ref.name":"v1"}}]});
    std::fs::write(dir.join("index.json"), top.to_string()).expect("index.json");
    (id, per_arch)
}

fn skopeo(args: &[&str]) -> String {
    let out = Command::new(SKOPEO).args(args).output().expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn blob_names(layout: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(layout.join("blobs/sha256")).expect("read").flatten().map(|e| e.file_name().into()).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_push_inspect_pull_delete_multi_arch_with_token_auth() {
    if !Path::new(SKOPEO).exists() {
        panic!("{SKOPEO} is required (Debian package skopeo)");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = start(&dir.path().join("registry"), true).await;
    let host = reg.server.host();
    let src = dir.path().join("src");
    let (index_digest, per_arch) = make_layout(&src);
    let creds = format!("{ADMIN}:{PASSWORD}");
    let image = format!("docker://{host}/t1/ns/app:v1");

    // skopeo runs blocking; keep the runtime free to serve it.
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || skopeo(&args.iter().map(String::as_str).collect::<Vec<_>>()))
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();

    run(s(&[
        "--insecure-policy",
        "copy",
        "--all",
        "--dest-tls-verify=false",
        "--dest-creds",
        &creds,
        &format!("oci:{}:v1", src.display()),
        &image,
    ]))
    .await
    .expect("join");

    // Wrong credentials are refused.
    let bad = tokio::task::spawn_blocking({
        let image = image.clone();
        move || {
            Command::new(SKOPEO)
                .args(["inspect", "--raw", "--tls-verify=false", "--creds", "admin:wrong", &image])
                .output()
        }
    })
    .await
    .expect("join")
    .expect("run skopeo");
    assert!(!bad.status.success(), "inspect with a wrong password must fail");

    let tags = run(s(&["list-tags", "--tls-verify=false", "--creds", &creds, &format!("docker://{host}/t1/ns/app")]))
        .await
        .expect("join");
    let tags: Value = serde_json::from_str(&tags).expect("list-tags JSON");
    assert_eq!(tags["Tags"], json!(["v1"]));

    let raw = run(s(&["inspect", "--raw", "--tls-verify=false", "--creds", &creds, &image])).await.expect("join");
    assert_eq!(sha256(raw.as_bytes()), index_digest, "the index is stored byte for byte");

    for (arch, digest) in &per_arch {
        let out = run(s(&["--override-arch", arch, "inspect", "--tls-verify=false", "--creds", &creds, &image]))
            .await
            .expect("join");
        let v: Value = serde_json::from_str(&out).expect("inspect JSON");
        assert_eq!(v["Architecture"], arch.as_str());
        // skopeo reports the digest the image was addressed by (the index); the layers are the
        // platform's own.
        assert_eq!(v["Digest"], index_digest.as_str());
        let manifest: Value = serde_json::from_slice(
            &std::fs::read(src.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))).expect("read"),
        )
        .expect("manifest JSON");
        let layers: Vec<Value> =
            manifest["layers"].as_array().expect("layers").iter().map(|l| l["digest"].clone()).collect();
        assert_eq!(v["Layers"], Value::Array(layers));
    }

    let back = dir.path().join("back");
    run(s(&[
        "--insecure-policy",
        "copy",
        "--all",
        "--src-tls-verify=false",
        "--src-creds",
        &creds,
        &image,
        &format!("oci:{}:v1", back.display()),
    ]))
    .await
    .expect("join");
    assert_eq!(blob_names(&back), blob_names(&src), "every blob comes back");
    for name in blob_names(&src) {
        let a = std::fs::read(src.join("blobs/sha256").join(&name)).expect("read");
        let b = std::fs::read(back.join("blobs/sha256").join(&name)).expect("read");
        assert!(a == b, "blob {name:?} identical");
    }

    run(s(&["delete", "--tls-verify=false", "--creds", &creds, &image])).await.expect("join");
    let tags = run(s(&["list-tags", "--tls-verify=false", "--creds", &creds, &format!("docker://{host}/t1/ns/app")]))
        .await
        .expect("join");
    let tags: Value = serde_json::from_str(&tags).expect("list-tags JSON");
    assert_eq!(tags["Tags"], json!([]));
}
