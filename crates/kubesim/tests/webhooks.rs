//! A simulated cluster started with webhook kubeconfigs (`SimOptions::authn_webhook`,
//! `authz_webhook`) asks them, as a kube-apiserver with `--authentication-token-webhook-config-
//! file` and `--authorization-webhook-config-file` does: an in-process webhook over TLS knows one
//! token and allows one namespace; administrators are never asked about; an unreachable
//! authorization webhook refuses with a message that says so.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use apiserver::tls;
use axum::{Router, body::Bytes, extract::State, response::IntoResponse, routing::post};
use kubesim::{SimCluster, SimOptions};
use serde_json::{Value, json};

#[derive(Default)]
struct Hook {
    /// SubjectAccessReviews received.
    reviews: AtomicUsize,
}

/// `tok-alice` is alice (group dev); any other token is unknown.
async fn authn(body: Bytes) -> impl IntoResponse {
    let review: Value = serde_json::from_slice(&body).unwrap_or_default();
    let status = if review["spec"]["token"] == "tok-alice" {
        json!({"authenticated": true, "user": {"username": "alice", "uid": "u-1", "groups": ["dev"],
            "extra": {"tenantid": ["default"]}}})
    } else {
        json!({"authenticated": false, "error": "unknown token"})
    };
    json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status}).to_string()
}

/// alice of group dev may do anything in namespace `team`; nothing else is allowed.
async fn authz(State(hook): State<Arc<Hook>>, body: Bytes) -> impl IntoResponse {
    hook.reviews.fetch_add(1, Ordering::SeqCst);
    let review: Value = serde_json::from_slice(&body).unwrap_or_default();
    let spec = &review["spec"];
    let allowed = spec["user"] == "alice"
        && spec["groups"].as_array().is_some_and(|g| g.contains(&json!("dev")))
        && spec["extra"]["tenantid"] == json!(["default"])
        && spec["resourceAttributes"]["namespace"] == "team";
    let status = if allowed { json!({"allowed": true}) } else { json!({"allowed": false, "reason": "not in team"}) };
    json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "status": status}).to_string()
}

/// Serves the webhooks over TLS and writes their kubeconfigs (`authn`, `authz`) into `dir`.
async fn webhooks(dir: &Path) -> (Arc<Hook>, PathBuf, PathBuf) {
    let pki = tls::ensure_pki(dir, &["127.0.0.1".to_string()]).expect("pki");
    let config = tls::server_config(&pki, &tls::TlsOptions::default()).expect("tls");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let hook = Arc::new(Hook::default());
    let app = Router::new().route("/authn", post(authn)).route("/authz", post(authz)).with_state(hook.clone());
    tokio::spawn(tls::serve(listener, config, app, std::future::pending()));
    let kubeconfig = |name: &str, port: u16| {
        let path = dir.join(format!("{name}.kubeconfig"));
        let url = format!("https://127.0.0.1:{port}/{name}");
        tls::write_kubeconfig(&path, &url, &pki.ca_cert_pem, &pki.admin_cert_pem, &pki.admin_key_pem)
            .expect("kubeconfig");
        path
    };
    (hook, kubeconfig("authn", port), kubeconfig("authz", port))
}

/// `curl` of `path` on `cluster` with `token`: the status and the body.
fn call(cluster: &SimCluster, token: &str, path: &str) -> (u16, Value) {
    let ca = cluster.data_dir().join("pki").join("ca.crt");
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&ca)
        .args(["-o", "-", "-w", "\n%{http_code}", "-H", &format!("Authorization: Bearer {token}")])
        .arg(format!("{}{path}", cluster.url()))
        .output()
        .expect("curl must be installed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), serde_json::from_str(body).unwrap_or(Value::String(body.to_string())))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_asks_its_webhooks() {
    let dir = tempfile::tempdir().expect("dir");
    let (hook, authn, authz) = webhooks(dir.path()).await;
    let cluster = SimCluster::start(SimOptions {
        authn_webhook: Some(authn.clone()),
        authz_webhook: Some(authz),
        ..Default::default()
    })
    .await
    .expect("cluster");

    let (code, body) = call(&cluster, "tok-alice", "/api/v1/namespaces/team/pods");
    assert_eq!((code, body["kind"].as_str()), (200, Some("PodList")), "{body}");
    call(&cluster, "tok-alice", "/api/v1/namespaces/team/pods");
    assert_eq!(hook.reviews.load(Ordering::SeqCst), 1, "the allowed answer is reused");

    let (code, body) = call(&cluster, "tok-alice", "/api/v1/namespaces/default/pods");
    assert_eq!(code, 403, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("User \"alice\"") && message.contains("not in team"), "{message}");

    let (code, body) = call(&cluster, "tok-nobody", "/api/v1/namespaces/team/pods");
    assert_eq!(code, 401, "{body}");

    let before = hook.reviews.load(Ordering::SeqCst);
    let (code, _) = call(&cluster, cluster.admin_token(), "/api/v1/namespaces/default/pods");
    assert_eq!(code, 200, "the administrator may");
    assert_eq!(hook.reviews.load(Ordering::SeqCst), before, "administrators are not asked about");

    // The authorization webhook unreachable: refused, saying so.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let pki = tls::ensure_pki(dir.path(), &["127.0.0.1".to_string()]).expect("pki");
    let gone = dir.path().join("gone.kubeconfig");
    tls::write_kubeconfig(
        &gone,
        &format!("https://127.0.0.1:{closed}/authz"),
        &pki.ca_cert_pem,
        &pki.admin_cert_pem,
        &pki.admin_key_pem,
    )
    .expect("kubeconfig");
    let lonely =
        SimCluster::start(SimOptions { authn_webhook: Some(authn), authz_webhook: Some(gone), ..Default::default() })
            .await
            .expect("cluster");
    let (code, body) = call(&lonely, "tok-alice", "/api/v1/namespaces/team/pods");
    let message = body["message"].as_str().unwrap_or_default();
    assert_eq!(code, 403, "{body}");
    assert!(message.contains("could not be asked"), "{message}");

    // A kubeconfig that is not there stops the cluster from starting, naming it.
    let missing = dir.path().join("missing.kubeconfig");
    let err = SimCluster::start(SimOptions { authz_webhook: Some(missing), ..Default::default() })
        .await
        .err()
        .expect("no cluster without its webhook");
    assert!(format!("{err:#}").contains("missing.kubeconfig"), "{err:#}");
}
