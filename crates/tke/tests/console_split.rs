//! `tke console` as its own process in front of the platform's components (reference 9.2),
//! in both modes: passthrough (the session's ID token goes on as a bearer token) and front
//! proxy (the gateway names the user in `X-Remote-*` headers over mutual TLS). The login, the
//! session, the CSRF check and the routing by path prefix work as in `tke up`; a caller's own
//! `X-Remote-*` headers never name a user.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
};

use serde_json::{Value, json};
use testkit::{
    browser::Browser,
    pki::Ca,
    tke::{Storage, Tke, tke_binary},
};

/// A running `tke console`, stopped when dropped.
struct Gateway {
    child: Child,
    /// Kept open: the gateway prints more lines, and a closed pipe would end it.
    _stdout: BufReader<std::process::ChildStdout>,
    url: String,
    ca: PathBuf,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn gateway(t: &Tke, name: &str, extra: &[&str]) -> Gateway {
    let dir = t.data_dir().join(name);
    let mut child = Command::new(tke_binary())
        .args(["console", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .args(["--component-ca-file"])
        .arg(t.ca_file())
        .args([
            "--component",
            &format!("platform={}", t.url),
            "--component",
            &format!("auth={}", t.url),
            "--component",
            &format!("business={}", t.url),
            "--component",
            &format!("registry={}", t.url),
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tke console");
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    stdout.read_line(&mut line).expect("the first line");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("https://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .trim_end_matches("/tkestack")
        .to_string();
    // The console's client must allow this gateway's callback.
    let patch = json!([{"op": "add", "path": "/spec/redirect_uris/-", "value": format!("{url}/callback")}]);
    let out = t.kubectl(&["patch", "clients.auth.tkestack.io", "default", "--type=json", "-p", &patch.to_string()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Gateway { child, _stdout: stdout, url, ca: dir.join("pki").join("ca.crt") }
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"))
}

fn whoami(b: &Browser, extra: &[&str]) -> (u16, Value) {
    let url = format!("{}/apis/authentication.k8s.io/v1/selfsubjectreviews", b.base);
    let csrf = format!("X-CSRF-Token: {}", b.cookie("tke_csrf").unwrap_or_default());
    let mut args = vec![
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-H",
        &csrf,
        "--data",
        r#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#,
    ];
    args.extend_from_slice(extra);
    args.push(&url);
    let a = b.request(&args);
    (a.status, serde_json::from_str(&a.body).unwrap_or(Value::Null))
}

#[test]
fn gateway_in_front_of_separate_components_in_both_modes() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path());
    let ca_file = dir.path().join("ca.crt").display().to_string();
    let t = Tke::start_with(
        tke_binary(),
        Storage::Embedded,
        &["--requestheader-client-ca-file", &ca_file, "--requestheader-allowed-names", "tke-gateway"],
    );
    let password = std::fs::read_to_string(t.data_dir().join("admin-password")).unwrap().trim().to_string();

    // Passthrough.
    let gw = gateway(&t, "gw-pass", &[]);
    let b = Browser::at(&t, "pass", &gw.url, &gw.ca);
    let landed = b.console_login("admin", &password, "/tkestack/overview");
    assert_eq!((landed.status, landed.location().as_str()), (303, "/tkestack/overview"), "{}", landed.body);
    let page = b.get("/tkestack/overview");
    assert_eq!(page.status, 200, "{}", page.body);
    let info = json_of(&b.get("/apis/gateway.tkestack.io/v1/tokens/info").body);
    assert_eq!(info["name"], "admin", "{info}");
    assert!(info["groups"].as_array().unwrap().iter().any(|g| g == "system:masters"), "{info}");
    let sysinfo = json_of(&b.get("/apis/gateway.tkestack.io/v1/sysinfo").body);
    assert!(sysinfo["platform"].is_object() && sysinfo["registry"].is_object(), "{sysinfo}");
    assert!(sysinfo.get("monitor").is_none(), "{sysinfo}");
    let clusters = b.get("/apis/platform.tkestack.io/v1/clusters");
    assert_eq!(clusters.status, 200, "{}", clusters.body);
    assert_eq!(json_of(&clusters.body)["kind"], "ClusterList");
    // Changes need the CSRF token at the gateway too.
    let cm = json!({"apiVersion": "platform.tkestack.io/v1", "kind": "ConfigMap", "metadata": {"name": "via-gateway"}});
    let url = format!("{}/apis/platform.tkestack.io/v1/configmaps", gw.url);
    let body = cm.to_string();
    let refused = b.request(&["-X", "POST", "-H", "Content-Type: application/json", "--data", &body, &url]);
    assert_eq!(refused.status, 403, "{}", refused.body);
    let csrf = format!("X-CSRF-Token: {}", b.cookie("tke_csrf").unwrap());
    let created =
        b.request(&["-X", "POST", "-H", "Content-Type: application/json", "-H", &csrf, "--data", &body, &url]);
    assert_eq!(created.status, 201, "{}", created.body);
    // Open paths pass as they are: the registry asks for its own credentials.
    let v2 = b.get("/v2/");
    assert_eq!(v2.status, 401, "{}", v2.body);
    assert!(!v2.header("www-authenticate").is_empty(), "{}", v2.headers);
    // A path no component claims goes to the platform (Kubernetes discovery).
    assert_eq!(json_of(&b.get("/apis").body)["kind"], "APIGroupList");

    // Front proxy: the same browser session (cookies are per host), users named in headers.
    let (cert, key) = ca.client("tke-gateway");
    let fp = gateway(
        &t,
        "gw-front",
        &["--proxy-mode", "front-proxy", "--front-proxy-cert-file", &cert, "--front-proxy-key-file", &key],
    );
    let b2 = Browser::at(&t, "pass", &fp.url, &fp.ca);
    let (code, me) = whoami(&b2, &[]);
    assert_eq!(code, 201, "{me}");
    assert_eq!(me["status"]["userInfo"]["username"], "admin", "{me}");
    assert!(me["status"]["userInfo"]["groups"].as_array().unwrap().iter().any(|g| g == "system:masters"), "{me}");
    // A caller's own X-Remote-User means nothing: the session's user stays.
    let (code, me) = whoami(&b2, &["-H", "X-Remote-User: eve", "-H", "X-Remote-Group: system:masters"]);
    assert_eq!((code, me["status"]["userInfo"]["username"].as_str()), (201, Some("admin")), "{me}");
    // Without a session or token the gateway itself refuses.
    let stranger = Browser::at(&t, "stranger", &fp.url, &fp.ca);
    let (code, _) = whoami(&stranger, &["-H", "X-Remote-User: admin"]);
    assert_eq!(code, 401);
    assert_eq!(b2.get("/apis/platform.tkestack.io/v1/configmaps/via-gateway").status, 200);
}
