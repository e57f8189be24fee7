//! TLS serving and authentication end to end: a real HTTPS listener on 127.0.0.1 with the
//! generated PKI, a tiny router behind the authentication layer, and reqwest as the client.

use std::{sync::Arc, time::Duration};

use apiserver::{
    UserInfo,
    auth::{self, AllowAuthenticated, AuthenticatorChain, TokenFileAuthenticator, X509Authenticator},
    tls::{self, Pki, TlsOptions},
};
use axum::{Json, Router, http::request::Parts, routing::get};
use reqwest::{Certificate, Client, Identity, StatusCode, Version};
use serde_json::{Value, json};
use tokio::{sync::oneshot, task::JoinHandle};

struct Server {
    url: String,
    pki: Pki,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
    release_slow: Arc<tokio::sync::Notify>,
    /// Notified when /slow or /forever starts serving.
    slow_started: Arc<tokio::sync::Notify>,
}

async fn whoami(parts: Parts) -> Json<Value> {
    let user = parts.extensions.get::<UserInfo>().cloned().unwrap_or_default();
    Json(json!({"name": user.name, "uid": user.uid, "groups": user.groups}))
}

/// Starts the server with a token file holding `tok-carol` for carol (groups ops, tenant:t2).
async fn start(client_ca_file: Option<std::path::PathBuf>, drain: Duration) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = tls::ensure_pki(dir.path(), &["tke.test".into()]).expect("pki");
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, "tok-carol,carol,uid-3,\"ops,tenant:t2\"\n").expect("token file");

    let release_slow = Arc::new(tokio::sync::Notify::new());
    let slow_started = Arc::new(tokio::sync::Notify::new());
    let (release, started, forever_started) = (release_slow.clone(), slow_started.clone(), slow_started.clone());
    let router = Router::new()
        .route("/readyz", get(|| async { "ok" }))
        .route("/apis/test.tkestack.io/v1/things", get(whoami))
        .route(
            "/apis/test.tkestack.io/v1/slow",
            get(move || async move {
                started.notify_one();
                release.notified().await;
                "finished"
            }),
        )
        .route(
            "/apis/test.tkestack.io/v1/forever",
            get(move || async move {
                forever_started.notify_one();
                std::future::pending::<&'static str>().await
            }),
        );
    let mut chain = AuthenticatorChain::new();
    chain.push(Arc::new(X509Authenticator::new()));
    chain.push(Arc::new(TokenFileAuthenticator::load(&tokens).expect("load tokens")));
    let app = auth::authenticate(router, Arc::new(chain), Arc::new(AllowAuthenticated));

    let opts = TlsOptions { client_ca_file, ..Default::default() };
    let config = tls::server_config(&pki, &opts).expect("server config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(tls::serve_with_drain(
        listener,
        config,
        app,
        async move {
            let _ = stopped.await;
        },
        drain,
    ));
    Server {
        url: format!("https://127.0.0.1:{port}"),
        pki,
        stop: Some(stop),
        task,
        _dir: dir,
        release_slow,
        slow_started,
    }
}

fn client(pki: &Pki, identity: Option<(&str, &str)>) -> Client {
    let mut b = Client::builder()
        .use_rustls_tls()
        .add_root_certificate(Certificate::from_pem(pki.ca_cert_pem.as_bytes()).expect("ca"));
    if let Some((cert, key)) = identity {
        b = b.identity(Identity::from_pem(format!("{cert}{key}").as_bytes()).expect("identity"));
    }
    b.build().expect("client")
}

async fn get_json(c: &Client, url: &str) -> (StatusCode, Value) {
    let resp = c.get(url).send().await.expect("request");
    let status = resp.status();
    (status, resp.json().await.expect("json body"))
}

#[tokio::test]
async fn https_with_the_generated_ca_and_public_paths() {
    let s = start(None, Duration::from_secs(5)).await;
    let c = client(&s.pki, None);
    let resp = c.get(format!("{}/readyz", s.url)).send().await.expect("readyz");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.expect("body"), "ok");

    // The serving certificate also names localhost.
    let port = s.url.rsplit(':').next().expect("port");
    let resp = c.get(format!("https://localhost:{port}/readyz")).send().await.expect("via localhost");
    assert_eq!(resp.status(), StatusCode::OK);

    // A client that does not trust our CA refuses the server.
    let stranger = Client::builder().use_rustls_tls().build().expect("client");
    assert!(stranger.get(format!("{}/readyz", s.url)).send().await.is_err());
}

#[tokio::test]
async fn no_credentials_is_401_status() {
    let s = start(None, Duration::from_secs(5)).await;
    let c = client(&s.pki, None);
    let (status, body) = get_json(&c, &format!("{}/apis/test.tkestack.io/v1/things", s.url)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
    );

    let resp = c
        .get(format!("{}/apis/test.tkestack.io/v1/things", s.url))
        .bearer_auth("tok-wrong")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn client_certificate_names_the_user() {
    let s = start(None, Duration::from_secs(5)).await;
    let (cert, key) =
        s.pki.issue_client_cert("alice", &["dev", "tenant:t1"], Duration::from_secs(3600)).expect("issue");
    let c = client(&s.pki, Some((&cert, &key)));
    let (status, body) = get_json(&c, &format!("{}/apis/test.tkestack.io/v1/things", s.url)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"name": "alice", "uid": "", "groups": ["dev", "tenant:t1", "system:authenticated"]}));

    let admin = client(&s.pki, Some((&s.pki.admin_cert_pem, &s.pki.admin_key_pem)));
    let (status, body) = get_json(&admin, &format!("{}/apis/test.tkestack.io/v1/things", s.url)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["name"], "admin");
    assert_eq!(body["groups"], json!(["system:masters", "system:authenticated"]));
}

#[tokio::test]
async fn bearer_token_from_the_token_file() {
    let s = start(None, Duration::from_secs(5)).await;
    let c = client(&s.pki, None);
    let resp = c
        .get(format!("{}/apis/test.tkestack.io/v1/things", s.url))
        .bearer_auth("tok-carol")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body, json!({"name": "carol", "uid": "uid-3", "groups": ["ops", "tenant:t2", "system:authenticated"]}));
}

#[tokio::test]
async fn untrusted_client_certificate_is_refused_and_the_server_keeps_serving() {
    let s = start(None, Duration::from_secs(5)).await;
    let other = tempfile::tempdir().expect("tempdir");
    let foreign = tls::ensure_pki(other.path(), &[]).expect("other pki");
    let c = client(&s.pki, Some((&foreign.admin_cert_pem, &foreign.admin_key_pem)));
    let err =
        c.get(format!("{}/apis/test.tkestack.io/v1/things", s.url)).send().await.expect_err("the handshake must fail");
    assert!(err.is_connect() || err.is_request(), "{err:?}");

    // Neither that nor a client speaking plain HTTP to the TLS port stops the accept loop.
    let addr = s.url.trim_start_matches("https://").to_string();
    let mut plain = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    tokio::io::AsyncWriteExt::write_all(&mut plain, b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    let mut buf = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut plain, &mut buf).await;
    let (status, _) = get_json(&client(&s.pki, None), &format!("{}/apis/test.tkestack.io/v1/things", s.url)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn client_ca_file_is_trusted_alongside_the_generated_ca() {
    let other = tempfile::tempdir().expect("tempdir");
    let foreign = tls::ensure_pki(other.path(), &[]).expect("other pki");
    let s = start(Some(foreign.dir.join("ca.crt")), Duration::from_secs(5)).await;
    let (cert, key) = foreign.issue_client_cert("dave", &["partners"], Duration::from_secs(3600)).expect("issue");
    let (status, body) =
        get_json(&client(&s.pki, Some((&cert, &key))), &format!("{}/apis/test.tkestack.io/v1/things", s.url)).await;
    assert_eq!((status, body["name"].clone()), (StatusCode::OK, json!("dave")));
    let admin = client(&s.pki, Some((&s.pki.admin_cert_pem, &s.pki.admin_key_pem)));
    let (status, _) = get_json(&admin, &format!("{}/apis/test.tkestack.io/v1/things", s.url)).await;
    assert_eq!(status, StatusCode::OK, "the admin kubeconfig keeps working");
}

#[tokio::test]
async fn http2_and_http1_both_work() {
    let s = start(None, Duration::from_secs(5)).await;
    let (cert, key) = s.pki.issue_client_cert("erin", &[], Duration::from_secs(3600)).expect("issue");
    let h2 = client(&s.pki, Some((&cert, &key)));
    let resp = h2.get(format!("{}/apis/test.tkestack.io/v1/things", s.url)).send().await.expect("h2");
    assert_eq!(resp.version(), Version::HTTP_2, "ALPN picks HTTP/2");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["name"], "erin", "the client certificate reaches HTTP/2 requests too");

    let h1 = Client::builder()
        .use_rustls_tls()
        .http1_only()
        .add_root_certificate(Certificate::from_pem(s.pki.ca_cert_pem.as_bytes()).expect("ca"))
        .identity(Identity::from_pem(format!("{cert}{key}").as_bytes()).expect("identity"))
        .build()
        .expect("client");
    let resp = h1.get(format!("{}/apis/test.tkestack.io/v1/things", s.url)).send().await.expect("h1");
    assert_eq!(resp.version(), Version::HTTP_11);
    assert_eq!(resp.json::<Value>().await.expect("json")["name"], "erin");
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish_and_stops_accepting() {
    let mut s = start(None, Duration::from_secs(30)).await;
    let c = client(&s.pki, None);
    let url = format!("{}/apis/test.tkestack.io/v1/slow", s.url);
    let slow = tokio::spawn({
        let c = c.clone();
        async move { c.get(url).bearer_auth("tok-carol").send().await?.text().await }
    });
    s.slow_started.notified().await;
    let _ = s.stop.take().expect("stop").send(());

    // New connections are refused once the listener is gone.
    let addr = s.url.trim_start_matches("https://").to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(&addr).await.is_ok() {
        assert!(tokio::time::Instant::now() < deadline, "the listener is still accepting");
        tokio::task::yield_now().await;
    }
    assert!(!s.task.is_finished(), "the server waits for the in-flight request");

    s.release_slow.notify_one();
    assert_eq!(slow.await.expect("join").expect("the slow request completes"), "finished");
    tokio::time::timeout(Duration::from_secs(10), &mut s.task)
        .await
        .expect("serve returns")
        .expect("join")
        .expect("serve ok");
}

#[tokio::test]
async fn shutdown_drain_is_bounded() {
    let mut s = start(None, Duration::from_millis(300)).await;
    let c = client(&s.pki, None);
    let url = format!("{}/apis/test.tkestack.io/v1/forever", s.url);
    let forever = tokio::spawn(async move { c.get(url).bearer_auth("tok-carol").send().await.map(|r| r.status()) });
    s.slow_started.notified().await;
    let _ = s.stop.take().expect("stop").send(());
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(10), &mut s.task)
        .await
        .expect("serve returns despite the endless request")
        .expect("join")
        .expect("serve ok");
    assert!(started.elapsed() < Duration::from_secs(5), "returned after {:?}", started.elapsed());
    let outcome =
        tokio::time::timeout(Duration::from_secs(10), forever).await.expect("the client sees the end").expect("join");
    assert!(outcome.is_err(), "the endless request is cut off: {outcome:?}");
}

#[tokio::test]
async fn kubeconfig_round_trips_through_reqwest() {
    let s = start(None, Duration::from_secs(5)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("admin.kubeconfig");
    tls::write_kubeconfig(&path, &s.url, &s.pki.ca_cert_pem, &s.pki.admin_cert_pem, &s.pki.admin_key_pem)
        .expect("write");
    let kc: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&path).expect("read")).expect("yaml");
    use base64::Engine as _;
    let field = |v: &Value| {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD.decode(v.as_str().expect("string")).expect("base64"),
        )
        .expect("utf-8")
    };
    let ca = field(&kc["clusters"][0]["cluster"]["certificate-authority-data"]);
    let cert = field(&kc["users"][0]["user"]["client-certificate-data"]);
    let key = field(&kc["users"][0]["user"]["client-key-data"]);
    let c = Client::builder()
        .use_rustls_tls()
        .add_root_certificate(Certificate::from_pem(ca.as_bytes()).expect("ca"))
        .identity(Identity::from_pem(format!("{cert}{key}").as_bytes()).expect("identity"))
        .build()
        .expect("client");
    let server = kc["clusters"][0]["cluster"]["server"].as_str().expect("server");
    let (status, body) = get_json(&c, &format!("{server}/apis/test.tkestack.io/v1/things")).await;
    assert_eq!((status, body["name"].clone()), (StatusCode::OK, json!("admin")));
}

fn kubectl_available() -> bool {
    std::process::Command::new("kubectl").arg("version").arg("--client").output().is_ok_and(|o| o.status.success())
}

async fn kubectl(dir: &std::path::Path, kubeconfig: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut cmd = tokio::process::Command::new("kubectl");
    cmd.env("KUBECONFIG", kubeconfig).arg("--cache-dir").arg(dir.join("cache")).args(args).kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("kubectl finished in time")
        .expect("kubectl ran")
}

/// Go's TLS stack (kubectl) accepts the generated serving certificate, the admin certificate
/// and an issued certificate with several organizations, and shows our 401.
#[tokio::test]
async fn kubectl_uses_the_generated_credentials() {
    if !kubectl_available() {
        eprintln!("kubectl is not installed: skipping");
        return;
    }
    let s = start(None, Duration::from_secs(5)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = ["get", "--raw", "/apis/test.tkestack.io/v1/things"];

    let admin = dir.path().join("admin.kubeconfig");
    tls::write_kubeconfig(&admin, &s.url, &s.pki.ca_cert_pem, &s.pki.admin_cert_pem, &s.pki.admin_key_pem)
        .expect("write");
    let out = kubectl(dir.path(), &admin, &raw).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let body: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(body["groups"], json!(["system:masters", "system:authenticated"]));

    let (cert, key) = s.pki.issue_client_cert("frank", &["dev", "qa"], Duration::from_secs(3600)).expect("issue");
    let frank = dir.path().join("frank.kubeconfig");
    tls::write_kubeconfig(&frank, &s.url, &s.pki.ca_cert_pem, &cert, &key).expect("write");
    let out = kubectl(dir.path(), &frank, &raw).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let body: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(body, json!({"name": "frank", "uid": "", "groups": ["dev", "qa", "system:authenticated"]}));

    // The same server and CA without credentials. kubectl prompts for a user name and password
    // when the kubeconfig user is empty (and fails with "EOF" when stdin is closed), so give it a
    // basic-auth user: the server ignores basic auth, as Kubernetes does, and sees an anonymous call.
    let mut anonymous: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&admin).expect("read")).expect("yaml");
    anonymous["users"][0]["user"] = json!({"username": "nobody", "password": ""});
    let anon = dir.path().join("anonymous.kubeconfig");
    std::fs::write(&anon, serde_yaml_ng::to_string(&anonymous).expect("yaml")).expect("write");
    let out = kubectl(dir.path(), &anon, &raw).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Unauthorized"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = kubectl(dir.path(), &anon, &["get", "--raw", "/readyz"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
