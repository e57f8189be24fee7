//! Exec, stdin and followed logs through the platform's cluster proxy, against the real `tke up`
//! and a simulated business cluster: the real kubectl with a kubeconfig whose server is
//! `clusters/cls-x/proxy` (its WebSocket exec passes through the proxy's upgrade), the
//! platform's policies deciding `pods/exec` (a read-only user may list pods but not exec), and a
//! raw WebSocket client doing what the console's terminal does (terminal resize, typed input,
//! the exit status), refused when its Origin is another site's.

use std::{
    io::BufRead as _,
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
    time::Duration,
};

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use testkit::tke::{ExplainFailure, Tke, wait_for};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest as _, http::HeaderValue};

const WAIT: Duration = Duration::from_secs(60);
const PROXY: &str = "/apis/platform.tkestack.io/v1/clusters/cls-x/proxy";

/// The admin kubeconfig with its server moved to the cluster proxy of cls-x.
fn proxy_kubeconfig(t: &Tke) -> PathBuf {
    let text = std::fs::read_to_string(t.kubeconfig()).expect("admin kubeconfig");
    let mut config: Value = serde_yaml_ng::from_str(&text).expect("kubeconfig parses");
    for c in config["clusters"].as_array_mut().expect("clusters") {
        c["cluster"]["server"] = json!(format!("{}{PROXY}", t.url));
    }
    let path = t.data_dir().join("proxy.kubeconfig");
    std::fs::write(&path, config.to_string()).expect("write kubeconfig");
    path
}

/// kubectl with `config`, extra arguments and stdin: (exit code, stdout, stderr).
fn kubectl(t: &Tke, config: &Path, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let cache = t.data_dir().join("proxy-cache");
    let mut all = vec!["--kubeconfig", config.to_str().unwrap(), "--cache-dir", cache.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = t.kubectl_with(&all, &[], Some(stdin.unwrap_or_default()));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_logs_and_terminals_through_the_cluster_proxy() {
    let t = Tke::start();
    let _explain = ExplainFailure::new(&t);
    let sim = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("simulated cluster");
    t.import_cluster("cls-x", sim.url(), sim.ca_pem().as_bytes(), sim.admin_token());
    let config = proxy_kubeconfig(&t);
    let (code, _, err) = kubectl(&t, &config, &["run", "web", "--image=nginx:1.27", "--env=GREETING=hi"], None);
    assert_eq!(code, 0, "{err}");
    wait_for("pod web to be ready through the proxy", WAIT, || {
        let (code, out, _) = kubectl(&t, &config, &["get", "pod", "web", "-o", "jsonpath={.status.phase}"], None);
        (code == 0 && out == "Running").then_some(())
    });

    // kubectl exec (WebSocket) through clusters/cls-x/proxy: what the simulated shell says.
    let (code, out, err) = kubectl(&t, &config, &["exec", "web", "--", "sh", "-c", "echo $HOSTNAME; ls /etc"], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "web\ngroup\nhostname\nhosts\nos-release\npasswd\nresolv.conf\n");
    let (code, _, err) = kubectl(&t, &config, &["exec", "web", "--", "false"], None);
    assert_eq!(code, 1, "the command's exit status: {err}");
    let (code, out, err) =
        kubectl(&t, &config, &["exec", "-i", "web", "--", "sh", "-c", "cat | grep -c x"], Some("x\ny\nxx\n"));
    assert_eq!((code, out.as_str()), (0, "2\n"), "{err}");

    // SPDY (kubectl's fallback when WebSocket is refused) reaches the cluster too, whose answer
    // (this simulator speaks WebSocket only) comes back as it is.
    let pki = t.data_dir().join("pki");
    let (code, answer) = t.curl_json(&[
        "--http1.1",
        "--cert",
        pki.join("admin.crt").to_str().unwrap(),
        "--key",
        pki.join("admin.key").to_str().unwrap(),
        "-X",
        "POST",
        "-H",
        "Connection: Upgrade",
        "-H",
        "Upgrade: SPDY/3.1",
        "-H",
        "X-Stream-Protocol-Version: v4.channel.k8s.io",
        &format!("{}{PROXY}/api/v1/namespaces/default/pods/web/exec?command=ls&stdout=true", t.url),
    ]);
    assert_eq!(code, 400, "{answer}");
    assert!(answer["message"].as_str().unwrap_or_default().contains("over WebSocket only"), "{answer}");

    // kubectl logs -f streams through the proxy: the start line, then a line the sim logs later.
    let cache = t.data_dir().join("proxy-cache");
    let mut follow = Command::new("kubectl")
        .args(["--kubeconfig", config.to_str().unwrap(), "--cache-dir", cache.to_str().unwrap()])
        .args(["logs", "-f", "web"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl logs -f");
    let mut lines = std::io::BufReader::new(follow.stdout.take().expect("stdout")).lines();
    let first = tokio::task::spawn_blocking(move || {
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let followed = lines.by_ref().map_while(Result::ok).find(|l| l.contains("still running")).unwrap_or_default();
        (first, followed)
    });
    let (first, followed) = tokio::time::timeout(WAIT, first).await.expect("followed lines in time").expect("reader");
    assert_eq!(first, "kubesim: simulated container web (nginx:1.27) started");
    assert!(followed.starts_with("kubesim: still running ("), "{followed}");
    let _ = follow.kill();
    let _ = follow.wait();

    // A user whose policy is read-only may list pods in the cluster but not exec into them.
    let ro = "pol-default-read-only-access";
    wait_for("the default policies", WAIT, || t.kubectl(&["get", "policy", ro]).status.success().then_some(()));
    t.kubectl_ok(&[
        "patch",
        "policy",
        ro,
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"users":[{"id":"usr-bob","name":"bob"}]}}"#,
    ]);
    let as_bob = ["--as", "bob", "--as-group", "tenant:default"];
    wait_for("bob to list pods through the proxy", WAIT, || {
        let args = [&as_bob[..], &["get", "pods", "-o", "name"]].concat();
        let (code, out, _) = kubectl(&t, &config, &args, None);
        (code == 0 && out.contains("pod/web")).then_some(())
    });
    let args = [&as_bob[..], &["exec", "web", "--", "ls"]].concat();
    let (code, _, err) = kubectl(&t, &config, &args, None);
    assert!(code != 0 && (err.contains("Forbidden") || err.contains("forbidden")), "{err}");
    assert!(err.contains("bob"), "the refusal names the user: {err}");

    terminal(&t).await;
}

/// A TLS connection to the platform with the admin's client certificate.
async fn connect(t: &Tke) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let pem = |p: PathBuf| std::fs::read(p).expect("pem");
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem(t.ca_file()).as_slice()) {
        roots.add(cert.expect("ca")).expect("ca");
    }
    let pki = t.data_dir().join("pki");
    let certs: Vec<_> =
        rustls_pemfile::certs(&mut pem(pki.join("admin.crt")).as_slice()).map(|c| c.expect("cert")).collect();
    let key = rustls_pemfile::private_key(&mut pem(pki.join("admin.key")).as_slice()).expect("key").expect("a key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .expect("client certificate");
    let host_port = t.url.trim_start_matches("https://").to_string();
    let tcp = tokio::net::TcpStream::connect(&host_port).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1".to_string()).expect("server name");
    tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.expect("tls")
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// Opens the console's terminal WebSocket at `path` (with `headers`): the socket, or the HTTP
/// status of the refusal.
async fn open(t: &Tke, path: &str, headers: &[(&str, &str)]) -> Result<Ws, u16> {
    let url = format!("{}{path}", t.url.replace("https://", "wss://"));
    let mut request = url.into_client_request().expect("request");
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("v5.channel.k8s.io, v4.channel.k8s.io"));
    for (k, v) in headers {
        let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes()).expect("header name");
        request.headers_mut().insert(name, HeaderValue::from_str(v).expect("header"));
    }
    match tokio_tungstenite::client_async(request, connect(t).await).await {
        Ok((ws, response)) => {
            let protocol = response.headers().get("Sec-WebSocket-Protocol").and_then(|v| v.to_str().ok());
            assert_eq!(protocol, Some("v5.channel.k8s.io"), "the cluster's choice of protocol reaches the caller");
            Ok(ws)
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("websocket: {e}"),
    }
}

/// Reads frames until the terminal's output contains `want`; returns everything read.
async fn read_until(ws: &mut Ws, want: &str) -> String {
    let mut seen = String::new();
    let read = async {
        while let Some(msg) = ws.next().await {
            if let Ok(Message::Binary(b)) = msg
                && b.first() == Some(&1)
            {
                seen.push_str(&String::from_utf8_lossy(&b[1..]));
                if seen.contains(want) {
                    return;
                }
            }
        }
    };
    tokio::time::timeout(WAIT, read).await.unwrap_or_else(|_| panic!("waiting for {want:?}, got {seen:?}"));
    seen
}

async fn send(ws: &mut Ws, channel: u8, data: &[u8]) {
    ws.send(Message::Binary([&[channel][..], data].concat().into())).await.expect("send");
}

/// The console's terminal: a WebSocket straight to the proxy's exec with a terminal.
async fn terminal(t: &Tke) {
    let exec = format!(
        "{PROXY}/api/v1/namespaces/default/pods/web/exec?container=web&command=sh&stdin=true&stdout=true&tty=true"
    );
    let host = t.url.trim_start_matches("https://").to_string();

    // Another site's page may not open it; the platform's own page may.
    assert_eq!(open(t, &exec, &[("Origin", "https://evil.example")]).await.err(), Some(403));
    let mut ws = open(t, &exec, &[("Origin", &format!("https://{host}"))]).await.expect("the terminal opens");
    read_until(&mut ws, "/ # ").await;
    send(&mut ws, 4, br#"{"Width":120,"Height":40}"#).await;
    send(&mut ws, 0, b"echo $COLUMNS x $HOSTNAME\r").await;
    let out = read_until(&mut ws, "120 x web\r\n/ # ").await;
    assert!(out.contains("echo $COLUMNS x $HOSTNAME\r\n"), "typed input is echoed: {out:?}");
    // Backspace and Ctrl-C behave as at a terminal.
    send(&mut ws, 0, b"lsx\x7f /nope").await;
    send(&mut ws, 0, b"\x03").await;
    read_until(&mut ws, "^C\r\n/ # ").await;
    // Ctrl-C stops a running command (a sleep far longer than the wait below).
    send(&mut ws, 0, b"sleep 60; echo never\r").await;
    read_until(&mut ws, "sleep 60; echo never\r\n").await;
    send(&mut ws, 0, b"\x03").await;
    let out = tokio::time::timeout(Duration::from_secs(20), read_until(&mut ws, "^C\r\n/ # "))
        .await
        .expect("Ctrl-C stops the sleep");
    assert!(!out.contains("never"), "{out:?}");
    send(&mut ws, 0, b"cd /etc; pwd\r").await;
    read_until(&mut ws, "/etc\r\n/etc # ").await;
    send(&mut ws, 0, b"exit 3\r").await;
    let status = tokio::time::timeout(WAIT, async {
        while let Some(msg) = ws.next().await {
            if let Ok(Message::Binary(b)) = msg
                && b.first() == Some(&3)
            {
                return serde_json::from_slice::<Value>(&b[1..]).expect("a Status");
            }
        }
        panic!("the session ended without a status");
    })
    .await
    .expect("the status in time");
    assert_eq!(status["reason"], "NonZeroExitCode", "{status}");
    assert_eq!(status["details"]["causes"][0]["message"], "3", "{status}");
    // The session closes cleanly after its status.
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                _ => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the socket closes");

    // The unified proxy (X-TKE-ClusterName) serves the same terminal.
    let unified = "/api/v1/namespaces/default/pods/web/exec?command=sh&stdin=true&stdout=true&tty=true";
    let mut ws = open(t, unified, &[("X-TKE-ClusterName", "cls-x")]).await.expect("the unified proxy's terminal");
    read_until(&mut ws, "/ # ").await;
    send(&mut ws, 0, b"hostname\r").await;
    read_until(&mut ws, "web\r\n/ # ").await;
    send(&mut ws, 0, b"\x04").await;
    let status = tokio::time::timeout(WAIT, async {
        while let Some(Ok(msg)) = ws.next().await {
            if let Message::Binary(b) = msg
                && b.first() == Some(&3)
            {
                return serde_json::from_slice::<Value>(&b[1..]).expect("a Status");
            }
        }
        Value::Null
    })
    .await
    .expect("Ctrl-D ends the session");
    assert_eq!(status["status"], "Success", "{status}");
}
