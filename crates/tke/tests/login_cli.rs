//! `tke login` against the real `tke up`: by password and in the browser (the browser played
//! by curl with a cookie jar), the kubeconfig it writes keeps kubectl working after the ID token
//! expires (the exec plugin refreshes it), and `tke apikey create` gives a key kubectl takes.

use std::{
    io::{BufRead, BufReader, Write},
    path::Path,
    process::{Command, Stdio},
};

use serde_json::Value;
use testkit::{
    browser::{Browser, hidden},
    tke::{Tke, tke_binary},
};

fn kubectl(kubeconfig: &Path, home: &Path, args: &[&str]) -> (bool, String) {
    let out =
        Command::new("kubectl").env("KUBECONFIG", kubeconfig).env("HOME", home).args(args).output().expect("kubectl");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn tke_login_by_password_and_browser_keeps_kubectl_working() {
    let t = Tke::start();
    let home = tempfile::tempdir().unwrap();
    let password = std::fs::read_to_string(t.data_dir().join("admin-password")).unwrap().trim().to_string();
    let kubeconfig = home.path().join("tke.kubeconfig");
    let ca = t.ca_file();

    // By password.
    let mut child = Command::new(tke_binary())
        .env("HOME", home.path())
        .args(["login", "--server", &t.url, "--certificate-authority"])
        .arg(&ca)
        .args(["-u", "admin", "--password-stdin", "--kubeconfig"])
        .arg(&kubeconfig)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(password.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&password));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&kubeconfig).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let (ok, out) =
        kubectl(&kubeconfig, home.path(), &["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"]);
    assert!(ok && out == "admin", "{out}");

    // The cached ID token expires: the exec plugin refreshes it (and rotates the refresh token).
    let cache_dir = home.path().join(".kube").join("tke");
    let cache_file = std::fs::read_dir(&cache_dir).unwrap().next().unwrap().unwrap().path();
    let mut cached: Value = serde_json::from_slice(&std::fs::read(&cache_file).unwrap()).unwrap();
    let old_refresh = cached["refresh_token"].as_str().unwrap().to_string();
    cached["expiry"] = Value::from(0);
    std::fs::write(&cache_file, cached.to_string()).unwrap();
    let (ok, out) = kubectl(&kubeconfig, home.path(), &["get", "clusters"]);
    assert!(ok, "{out}");
    let cached: Value = serde_json::from_slice(&std::fs::read(&cache_file).unwrap()).unwrap();
    assert_ne!(cached["refresh_token"].as_str().unwrap(), old_refresh, "the refresh token rotates");
    assert!(cached["expiry"].as_i64().unwrap() > chrono_now());

    // An API key for scripts.
    let out = Command::new(tke_binary())
        .env("HOME", home.path())
        .args(["apikey", "create", "--server", &t.url, "--certificate-authority"])
        .arg(&ca)
        .args(["--expire", "1h", "--description", "ci"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let key_config = home.path().join("key.kubeconfig");
    let config = serde_json::json!({"apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "p", "cluster": {"server": t.url, "certificate-authority": ca}}],
        "users": [{"name": "u", "user": {"token": key}}],
        "contexts": [{"name": "c", "context": {"cluster": "p", "user": "u"}}]});
    std::fs::write(&key_config, config.to_string()).unwrap();
    let (ok, out) = kubectl(&key_config, home.path(), &["get", "clusters"]);
    assert!(ok, "{out}");

    // In the browser: tke login prints the URL, the "browser" logs in, the loopback redirect
    // hands tke login the code.
    let kubeconfig2 = home.path().join("browser.kubeconfig");
    let mut login = Command::new(tke_binary())
        .env("HOME", home.path())
        .args(["login", "--server", &t.url, "--no-browser", "--certificate-authority"])
        .arg(&ca)
        .arg("--kubeconfig")
        .arg(&kubeconfig2)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(login.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first.strip_prefix("Log in at: ").unwrap_or_else(|| panic!("{first}")).to_string();
    let browser = Browser::new(&t, "login-cli-browser");
    let page = browser.request(&[&url]);
    assert_eq!(page.status, 200, "{}", page.body);
    let done = browser.post(
        "/oidc/auth/login",
        &[
            ("req", &hidden(&page.body, "req")),
            ("csrf", &hidden(&page.body, "csrf")),
            ("tenant", "default"),
            ("username", "admin"),
            ("password", &password),
        ],
    );
    assert_eq!(done.status, 303);
    let location = done.location();
    assert!(location.starts_with("http://127.0.0.1:"), "{location}");
    let back = Command::new("curl").args(["-sS", &location]).output().unwrap();
    assert!(String::from_utf8_lossy(&back.stdout).contains("Logged in"), "{}", String::from_utf8_lossy(&back.stdout));
    let status = login.wait().unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(status.success(), "{rest:?}");
    let (ok, out) =
        kubectl(&kubeconfig2, home.path(), &["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"]);
    assert!(ok && out == "admin", "{out}");
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}
