//! The gateway's WebSocket routes of TKEStack's console against the real `tke up` and a
//! simulated business cluster, with a console session: `/webtty` (a terminal in a container,
//! JSON messages translated to the exec's channels), `/websocket` (a streamed read, here a
//! watch, as text messages); both refused without a session and from another site.

use std::{sync::Arc, time::Duration};

use base64::Engine;
use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use testkit::{
    browser::Browser,
    tke::{Tke, wait_for},
};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest as _, http::HeaderValue};

type Ws = tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

async fn connect(t: &Tke) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut std::fs::read(t.ca_file()).expect("ca").as_slice()) {
        roots.add(cert.expect("ca")).expect("ca");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(t.url.trim_start_matches("https://")).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1".to_string()).expect("name");
    tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.expect("tls")
}

/// Opens `path` as a WebSocket with `headers`: the socket, or the HTTP status of the refusal.
async fn open(t: &Tke, path: &str, headers: &[(&str, &str)]) -> Result<Ws, u16> {
    let mut request = format!("{}{path}", t.url.replace("https://", "wss://")).into_client_request().expect("request");
    for (k, v) in headers {
        let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes()).expect("name");
        request.headers_mut().insert(name, HeaderValue::from_str(v).expect("value"));
    }
    match tokio_tungstenite::client_async(request, connect(t).await).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("websocket: {e}"),
    }
}

/// Reads text messages until one satisfies `done`, within ten seconds.
async fn read_until(ws: &mut Ws, mut done: impl FnMut(&str) -> bool) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let next = tokio::time::timeout_at(deadline, ws.next()).await;
        match next {
            Ok(Some(Ok(Message::Text(text)))) => {
                seen.push_str(&text);
                seen.push('\n');
                if done(&text) {
                    return seen;
                }
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("the socket ended ({other:?}) before the answer; saw: {seen}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webtty_and_websocket_with_a_console_session() {
    let t = Tke::start();
    let sim = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("simulated cluster");
    t.import_cluster("cls-x", sim.url(), sim.ca_pem().as_bytes(), sim.admin_token());
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"containers": [{"name": "web", "image": "nginx", "env": [{"name": "GREETING", "value": "hello-from-web"}]}]}});
    let proxy = "/apis/platform.tkestack.io/v1/clusters/cls-x/proxy";
    let pki = t.data_dir().join("pki");
    let (cert, key) = (pki.join("admin.crt").display().to_string(), pki.join("admin.key").display().to_string());
    let admin = ["--cert", cert.as_str(), "--key", key.as_str()];
    let (code, body) = t.curl_json(&[
        admin[0],
        admin[1],
        admin[2],
        admin[3],
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "--data",
        &pod.to_string(),
        &format!("{}{proxy}/api/v1/namespaces/default/pods", t.url),
    ]);
    assert_eq!(code, 201, "{body}");
    wait_for("pod web running", Duration::from_secs(60), || {
        let url = format!("{}{proxy}/api/v1/namespaces/default/pods/web", t.url);
        let (_, p) = t.curl_json(&[admin[0], admin[1], admin[2], admin[3], &url]);
        (p["status"]["phase"] == "Running").then_some(())
    });

    let password = std::fs::read_to_string(t.data_dir().join("admin-password")).unwrap().trim().to_string();
    let b = Browser::new(&t, "terminal");
    let landed = b.console_login("admin", &password, "/tkestack");
    assert_eq!(landed.status, 303);
    let cookie = format!("tke={}", b.cookie("tke").expect("the session cookie"));
    let host = t.url.trim_start_matches("https://").to_string();
    let origin = t.url.clone();

    let tty = "/webtty?clusterName=cls-x&namespace=default&podName=web&containerName=web&command=sh";
    // No session, or another site's page: refused before any terminal opens.
    assert_eq!(open(&t, tty, &[]).await.err(), Some(401));
    assert_eq!(open(&t, tty, &[("Cookie", &cookie), ("Origin", "https://evil.example")]).await.err(), Some(403));
    assert_eq!(
        open(&t, "/webtty?clusterName=cls-x&namespace=default&podName=nope&command=sh", &[("Cookie", &cookie)])
            .await
            .err(),
        Some(404),
        "a pod that does not exist is an HTTP answer"
    );

    let mut ws =
        open(&t, tty, &[("Cookie", &cookie), ("Origin", &origin), ("Host", &host)]).await.expect("the terminal");
    ws.send(Message::Text(json!({"Op": "resize", "Rows": 30, "Cols": 100}).to_string().into())).await.unwrap();
    ws.send(Message::Text(json!({"Op": "stdin", "Data": "echo $GREETING\r"}).to_string().into())).await.unwrap();
    let seen = read_until(&mut ws, |m| {
        serde_json::from_str::<Value>(m)
            .is_ok_and(|v| v["Op"] == "stdout" && v["Data"].as_str().unwrap_or("").contains("hello-from-web\r\n"))
    })
    .await;
    assert!(seen.contains("\"Op\":\"stdout\""), "{seen}");
    ws.send(Message::Text(json!({"Op": "stdin", "Data": "exit 3\r"}).to_string().into())).await.unwrap();
    let seen = read_until(&mut ws, |m| serde_json::from_str::<Value>(m).is_ok_and(|v| v["Op"] == "toast")).await;
    assert!(seen.contains('3'), "the exit status is told: {seen}");

    // A watch in the cluster as text messages.
    let path = base64::engine::general_purpose::STANDARD.encode("/api/v1/namespaces/default/pods?watch=1");
    let mut watch = open(&t, &format!("/websocket?clusterName=cls-x&encodePath={path}"), &[("Cookie", &cookie)])
        .await
        .expect("the stream");
    let seen = read_until(&mut watch, |m| m.contains("\"ADDED\"") && m.contains("\"web\"")).await;
    assert!(seen.contains("\"type\":\"ADDED\""), "{seen}");
    let bad = base64::engine::general_purpose::STANDARD.encode("api/../../etc");
    assert_eq!(
        open(&t, &format!("/websocket?clusterName=cls-x&encodePath={bad}"), &[("Cookie", &cookie)]).await.err(),
        Some(400)
    );
    sim.stop().await;
}
