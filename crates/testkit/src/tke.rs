//! Starts the real `tke up` binary for integration tests, waits until it serves, and runs the
//! real `kubectl` against it. Processes are stopped and directories removed on drop.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

/// How long a start may take before the test fails.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// Storage for a started platform.
#[derive(Clone, Debug)]
pub enum Storage {
    Embedded,
    /// etcd endpoints.
    Etcd(Vec<String>),
}

/// A running `tke up` (or another command serving the API, see [`Tke::start_command`]).
pub struct Tke {
    binary: PathBuf,
    /// `up`, or the component run alone (`monitor`, `notify`, ...).
    command: String,
    dir: tempfile::TempDir,
    storage: Storage,
    extra_args: Vec<String>,
    child: Option<Child>,
    /// `https://127.0.0.1:PORT`
    pub url: String,
    port: u16,
    log: PathBuf,
}

/// The `tke` binary next to the running test executable (`target/<profile>/tke`), or `TKE_BIN`.
pub fn tke_binary() -> PathBuf {
    if let Ok(p) = std::env::var("TKE_BIN") {
        return PathBuf::from(p);
    }
    if let Some(p) = option_env!("CARGO_BIN_EXE_tke") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test> -> target/<profile>/tke
    let profile_dir = exe.parent().and_then(Path::parent).expect("test binary lives in target/<profile>/deps");
    profile_dir.join("tke")
}

impl Tke {
    /// Starts `tke up` on the embedded store in a fresh data directory.
    pub fn start() -> Tke {
        Self::start_with(tke_binary(), Storage::Embedded, &[])
    }

    pub fn start_with(binary: PathBuf, storage: Storage, extra_args: &[&str]) -> Tke {
        Self::start_command("up", storage, binary, extra_args)
    }

    /// Starts `tke <command>` (a component alone, such as `tke monitor`) like `tke up`.
    pub fn start_command(command: &str, storage: Storage, binary: PathBuf, extra_args: &[&str]) -> Tke {
        let dir = tempfile::Builder::new().prefix("tke-test-").tempdir().expect("temp dir");
        let mut t = Tke {
            binary,
            command: command.to_string(),
            log: dir.path().join("tke.log"),
            dir,
            storage,
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            child: None,
            url: String::new(),
            port: 0,
        };
        t.spawn();
        t
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.data_dir().join("admin.kubeconfig")
    }

    pub fn ca_file(&self) -> PathBuf {
        self.data_dir().join("pki").join("ca.crt")
    }

    /// What the server printed to stderr so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn spawn(&mut self) {
        let listen = if self.port == 0 { "127.0.0.1:0".to_string() } else { format!("127.0.0.1:{}", self.port) };
        let mut cmd = Command::new(&self.binary);
        cmd.arg(&self.command).arg("--data-dir").arg(self.data_dir()).arg("--listen").arg(&listen);
        if let Storage::Etcd(endpoints) = &self.storage {
            cmd.arg("--storage").arg("etcd").arg("--etcd-servers").arg(endpoints.join(","));
        }
        cmd.args(&self.extra_args);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("log file");
        cmd.stdout(Stdio::piped()).stderr(log).stdin(Stdio::null());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("tke-rs is up at ") {
                    let url = rest.split_whitespace().next().unwrap_or("").to_string();
                    let _ = tx.send(url);
                }
            }
        });
        let url = match rx.recv_timeout(START_DEADLINE) {
            Ok(u) => u,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                panic!("tke up did not start within {START_DEADLINE:?}; its log:\n{}", self.log());
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
                panic!("tke up exited ({status}) before serving; its log:\n{}", self.log());
            }
        };
        self.port = url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port in url");
        self.url = url;
        self.child = Some(child);
        self.wait_ready();
    }

    /// Polls `/readyz` until it answers `ok`, with a deadline.
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            let out = self.kubectl(&["get", "--raw", "/readyz"]);
            if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok" {
                return;
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("tke up exited with {status} before becoming ready; its log:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "tke up not ready within {START_DEADLINE:?}; last answer: {}{}\nlog:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs the real kubectl with the admin kubeconfig.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_with(args, &[], None)
    }

    /// Runs kubectl with extra environment and optional stdin.
    pub fn kubectl_with(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
        let cache = self.dir.path().join("kube-cache");
        let mut cmd = Command::new("kubectl");
        cmd.env("KUBECONFIG", self.kubeconfig()).arg("--cache-dir").arg(&cache).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some(input) = stdin {
            use std::io::Write;
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
            let mut child = cmd.spawn().expect("kubectl must be installed (apt-get install kubectl or the CI image)");
            child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
            child.wait_with_output().expect("kubectl output")
        } else {
            cmd.output().expect("kubectl must be installed")
        }
    }

    /// Runs kubectl and returns stdout, failing the test with stderr if it fails.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs the real curl against the server (its CA trusted) with `args` and returns the
    /// status code and the body (status 0 when curl could not get an answer, the body then
    /// saying why).
    pub fn curl(&self, args: &[&str]) -> (u16, String) {
        let out = Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(self.ca_file())
            .args(["-o", "-", "-w", "\n%{http_code}"])
            .args(args)
            .output()
            .expect("curl must be installed");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        let code = code.trim().parse().unwrap_or(0);
        if code == 0 {
            return (0, format!("curl failed ({}): {}{body}", out.status, String::from_utf8_lossy(&out.stderr)));
        }
        (code, body.to_string())
    }

    /// Runs curl with `args` as the platform's administrator (the admin client certificate),
    /// or, with `as_user = Some((user, tenant))`, as that user of that tenant (impersonation).
    pub fn admin_request(&self, args: &[&str], as_user: Option<(&str, &str)>) -> AdminAnswer {
        let pki = self.data_dir().join("pki");
        let headers = tempfile::NamedTempFile::new().expect("a headers file");
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-o", "-", "-w", "\n%{http_code}", "-D"])
            .arg(headers.path())
            .arg("--cacert")
            .arg(self.ca_file())
            .arg("--cert")
            .arg(pki.join("admin.crt"))
            .arg("--key")
            .arg(pki.join("admin.key"));
        if let Some((user, tenant)) = as_user {
            cmd.args([
                "-H",
                &format!("Impersonate-User: {user}"),
                "-H",
                &format!("Impersonate-Group: tenant:{tenant}"),
            ]);
        }
        let out = cmd.args(args).output().expect("curl must be installed");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        AdminAnswer {
            code: code.trim().parse().unwrap_or(0),
            json: serde_json::from_str(body).ok(),
            body: body.to_string(),
            headers: std::fs::read_to_string(headers.path()).unwrap_or_default(),
        }
    }

    /// [`Tke::curl`] with the body read as JSON (a JSON string when it is not JSON).
    pub fn curl_json(&self, args: &[&str]) -> (u16, serde_json::Value) {
        let (code, body) = self.curl(args);
        (code, serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)))
    }

    /// Creates `obj` (any kind, as JSON) with kubectl, failing the test if it is refused.
    pub fn create(&self, obj: &serde_json::Value) {
        let out = self.kubectl_with(&["create", "-f", "-"], &[], Some(&obj.to_string()));
        assert!(out.status.success(), "kubectl create {obj}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// `kubectl get -o json <args>`, or None when kubectl fails (not found, refused).
    pub fn get_json(&self, args: &[&str]) -> Option<serde_json::Value> {
        let mut all = vec!["get", "-o", "json"];
        all.extend_from_slice(args);
        let out = self.kubectl(&all);
        out.status.success().then(|| serde_json::from_slice(&out.stdout).ok()).flatten()
    }

    /// Imports a business cluster served at `url` (`https://127.0.0.1:PORT`) as cluster `name`
    /// of tenant `default`: its ClusterCredential `cc-{name}` (CA and bearer token) and an
    /// `Imported` Cluster, created with kubectl as a user would.
    pub fn import_cluster(&self, name: &str, url: &str, ca_pem: &[u8], token: &str) {
        use base64::Engine;
        let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
        let port: i64 =
            url.rsplit(':').next().and_then(|p| p.trim_end_matches('/').parse().ok()).expect("url has a port");
        self.create(&serde_json::json!({
            "apiVersion": "platform.tkestack.io/v1", "kind": "ClusterCredential",
            "metadata": {"name": format!("cc-{name}")},
            "clusterName": name, "caCert": ca, "token": token,
        }));
        self.create(&serde_json::json!({
            "apiVersion": "platform.tkestack.io/v1", "kind": "Cluster",
            "metadata": {"name": name},
            "spec": {"type": "Imported", "clusterCredentialRef": {"name": format!("cc-{name}")}},
            "status": {"addresses": [{"type": "Advertise", "host": "127.0.0.1", "port": port}]},
        }));
    }

    /// Stops the process with SIGTERM and waits for it (a clean shutdown).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                if Instant::now() > deadline {
                    let _ = c.kill();
                    let _ = c.wait();
                    panic!("tke up did not stop within 20s after SIGTERM; log:\n{}", self.log());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Kills the process with SIGKILL (a crash).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the process again on the same data directory and port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Starts again after a crash or stop, on the same data directory and port.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "stop or kill9 first");
        self.spawn();
    }
}

impl Drop for Tke {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Polls `check` until it returns Some, or panics with `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Prints the server's log (and what `dumps` lists, each a kubectl command line) when the test
/// holding it fails, to say why: `let _explain = ExplainFailure::new(&t);`.
pub struct ExplainFailure<'a> {
    tke: &'a Tke,
    dumps: Vec<Vec<String>>,
}

impl<'a> ExplainFailure<'a> {
    pub fn new(tke: &'a Tke) -> Self {
        ExplainFailure { tke, dumps: vec![] }
    }

    /// Also prints what `kubectl <args>` says.
    pub fn dumping(mut self, args: &[&str]) -> Self {
        self.dumps.push(args.iter().map(|s| s.to_string()).collect());
        self
    }
}

impl Drop for ExplainFailure<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.tke.log();
            let tail: Vec<&str> = log.lines().rev().take(80).collect::<Vec<_>>().into_iter().rev().collect();
            eprintln!("--- tke log (last lines) ---\n{}", tail.join("\n"));
            for args in &self.dumps {
                let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                let out = self.tke.kubectl(&refs);
                eprintln!("--- kubectl {} ---\n{}", args.join(" "), String::from_utf8_lossy(&out.stdout));
            }
        }
    }
}

/// What [`Tke::admin_request`] got: the status (0 when curl got no answer), the body as JSON when
/// it is JSON, the body as text and the response headers as received.
pub struct AdminAnswer {
    pub code: u16,
    pub json: Option<serde_json::Value>,
    pub body: String,
    pub headers: String,
}
