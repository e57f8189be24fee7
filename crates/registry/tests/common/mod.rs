//! Shared test helpers: start a registry on a temporary directory and push content over HTTP.
#![allow(dead_code)]

use registry::{AuthConfig, Config, LocalServer, Registry};
use serde_json::json;
use sha2::Digest as _;

pub const ADMIN: &str = "admin";
pub const PASSWORD: &str = "s3cret-pass";

pub fn sha256(data: &[u8]) -> String {
    let d = sha2::Sha256::digest(data);
    format!("sha256:{}", d.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// Deterministic pseudo-random bytes (xorshift), so tests need no RNG crate.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
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

pub struct Running {
    pub server: LocalServer,
    pub registry: Registry,
    pub base: String,
}

/// A registry on `root`, with token auth (admin + public prefix `library`) when `auth`.
pub async fn start(root: &std::path::Path, auth: bool) -> Running {
    let mut config = Config::new(root);
    if auth {
        let hash = registry::auth::hash_password(PASSWORD).expect("hash");
        let mut a = AuthConfig::with_admin(ADMIN, &hash, vec!["library".into()]).expect("auth config");
        a.scheme = "http".into();
        config.auth = Some(a);
    }
    let registry = Registry::new(config).await.expect("registry");
    let server = LocalServer::start(registry.router(), "127.0.0.1:0".parse().expect("addr")).await.expect("serve");
    let base = format!("http://{}", server.addr);
    Running { server, registry, base }
}

/// Push a blob monolithically; returns its digest.
pub async fn push_blob(client: &reqwest::Client, base: &str, repo: &str, data: &[u8]) -> String {
    let d = sha256(data);
    let r = client
        .post(format!("{base}/v2/{repo}/blobs/uploads/?digest={d}"))
        .body(data.to_vec())
        .send()
        .await
        .expect("push blob");
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    d
}

/// Push a config and one layer plus an OCI image manifest; returns (manifest bytes, digest).
pub async fn push_image(client: &reqwest::Client, base: &str, repo: &str, tag: &str, seed: u64) -> (Vec<u8>, String) {
    let layer = pseudo_random(4096, seed);
    let config =
        json!({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[sha256(&layer)]}}).to_string();
    let layer_type = "application/vnd.oci.image.layer.v1.tar";
    push_manifest(client, base, repo, tag, (&layer, layer_type), config.as_bytes()).await
}

/// Push `layer` (bytes and media type) and `config`, then an OCI image manifest naming them
/// under `tag`; returns (manifest bytes, digest).
pub async fn push_manifest(
    client: &reqwest::Client,
    base: &str,
    repo: &str,
    tag: &str,
    (layer, layer_type): (&[u8], &str),
    config: &[u8],
) -> (Vec<u8>, String) {
    let ld = push_blob(client, base, repo, layer).await;
    let cd = push_blob(client, base, repo, config).await;
    let manifest = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": [{"mediaType": layer_type, "digest": ld, "size": layer.len()}],
    })
    .to_string()
    .into_bytes();
    let r = client
        .put(format!("{base}/v2/{repo}/manifests/{tag}"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.clone())
        .send()
        .await
        .expect("push manifest");
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let d = sha256(&manifest);
    (manifest, d)
}

pub async fn error_code(r: reqwest::Response) -> String {
    let v: serde_json::Value = r.json().await.expect("error body is JSON");
    v["errors"][0]["code"].as_str().unwrap_or_default().to_string()
}

/// A registry router served over TLS the way `tke` serves it ([`apiserver::tls::serve`]: ALPN
/// `h2` and `http/1.1`), with a generated CA whose serving certificate names `hosts` besides
/// localhost and 127.0.0.1. Stops when dropped.
pub struct TlsServer {
    pub addr: std::net::SocketAddr,
    pub ca_pem: String,
    pub ca_file: std::path::PathBuf,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub async fn serve_tls(router: axum::Router, data_dir: &std::path::Path, hosts: &[&str]) -> TlsServer {
    use apiserver::tls;
    let hosts: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
    let pki = tls::ensure_pki(data_dir, &hosts).expect("pki");
    let config = tls::server_config(&pki, &tls::TlsOptions::default()).expect("tls config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        if let Err(e) = tls::serve(listener, config, router, shutdown).await {
            panic!("registry TLS server: {e}");
        }
    });
    TlsServer { addr, ca_pem: pki.ca_cert_pem.clone(), ca_file: pki.dir.join("ca.crt"), _stop: stop }
}
