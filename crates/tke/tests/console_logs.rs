//! The console's log pages in real headless Chromium against `tke up --demo` with a real node log
//! agent: `tke logagent` runs as a local process over a temporary directory laid out as
//! `/var/log/pods` (a pod of the demo cluster's Deployment with a CRI log file larger than one
//! page of the viewer), and the platform is told to reach the agents at it
//! (`--logagent-agent-host/--logagent-agent-port`). The browser scenario `web/e2e/logfiles.mjs`
//! enables log collection from the page (a LogAgent), writes a rule through the LogAgent's
//! `logcollector` subresource (create, edit, delete; an Elasticsearch connection test that fails
//! in words), then opens the pod's page: lists its log files, reads the last page, an older one,
//! and downloads the file.
//!
//! Needs what `console_e2e` needs (Node.js, `chromium`, `npm ci` and `npm run build` in `web/`
//! before `tke` is built) and `kubectl`.

use std::{
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use testkit::{
    scenarios::{self, tail},
    tke::{Storage, Tke, tke_binary, wait_for},
};

const CLUSTER: &str = "cls-demo";
const APPLY: &str = "/apis/platform.tkestack.io/v1/clusters/cls-demo/apply";
const LINES: usize = 3000;

const FIXTURES: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: e2e-logs, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: e2e-logs}}
  template:
    metadata: {labels: {app: e2e-logs}}
    spec: {containers: [{name: app, image: nginx}]}
"#;

/// The agent process, killed with the test.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// kubectl against the simulated business cluster itself.
fn sim_kubectl(kubeconfig: &Path, args: &[&str]) -> std::process::Output {
    Command::new("kubectl").arg("--kubeconfig").arg(kubeconfig).args(args).output().expect("kubectl must be installed")
}

#[test]
fn log_pages_in_a_real_browser_with_a_real_agent() {
    scenarios::check_prerequisites();
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port().to_string();
    let t = Tke::start_with(
        tke_binary(),
        Storage::Embedded,
        &["--demo", "--logagent-agent-host", "127.0.0.1", "--logagent-agent-port", &port],
    );
    wait_for("the demo cluster to be Running", Duration::from_secs(60), || {
        let c = t.get_json(&["cluster", CLUSTER])?;
        (c["status"]["phase"] == "Running").then_some(())
    });
    let fixtures = t.data_dir().join("e2e-logs.yaml");
    std::fs::write(&fixtures, FIXTURES).expect("write fixtures");
    let out = t.kubectl(&["create", "--raw", APPLY, "-f", fixtures.to_str().expect("utf-8 path")]);
    assert!(out.status.success(), "applying the fixtures: {}", String::from_utf8_lossy(&out.stderr));

    // The agents' token, as the add-on would create it (the add-on keeps an existing one), so the
    // agent can start before the page enables log collection.
    let sim = t.data_dir().join("demo-cluster/admin.kubeconfig");
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(7);
    let token = format!("e2e{:x}{nanos:x}", std::process::id());
    let out = sim_kubectl(
        &sim,
        &[
            "create",
            "secret",
            "generic",
            "tke-logagent-token",
            "-n",
            "kube-system",
            &format!("--from-literal=token={token}"),
        ],
    );
    assert!(out.status.success(), "the token Secret: {}", String::from_utf8_lossy(&out.stderr));

    let pod = wait_for("a pod of e2e-logs", Duration::from_secs(60), || {
        let out = sim_kubectl(&sim, &["get", "pods", "-n", "default", "-l", "app=e2e-logs", "-o", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        let p = v["items"].as_array()?.first()?.clone();
        p["metadata"]["uid"].as_str().is_some().then_some(p)
    });
    let (name, uid) =
        (pod["metadata"]["name"].as_str().unwrap_or_default(), pod["metadata"]["uid"].as_str().unwrap_or_default());
    let node = pod["spec"]["nodeName"].as_str().unwrap_or("node-1");

    // /var/log/pods/<ns>_<pod>_<uid>/<container>/0.log, CRI lines, a few pages of the viewer.
    let root = t.data_dir().join("logagent");
    let dir = root.join("pods").join(format!("default_{name}_{uid}")).join("app");
    std::fs::create_dir_all(&dir).expect("pods dir");
    let mut text = String::new();
    for i in 1..=LINES {
        text.push_str(&format!("2026-12-08T01:00:00.{i:09}Z stdout F line {i} of e2e-logs: GET /shop/items/{i} 200\n"));
    }
    std::fs::write(dir.join("0.log"), &text).expect("log file");
    let token_file = root.join("token");
    std::fs::write(&token_file, &token).expect("token file");
    let agent_log = std::fs::File::create(root.join("agent.log")).expect("agent log");
    let _agent = Agent(
        Command::new(tke_binary())
            .arg("logagent")
            .args(["--node-name", node, "--kubeconfig"])
            .arg(&sim)
            .arg("--pods-dir")
            .arg(root.join("pods"))
            .arg("--state-dir")
            .arg(root.join("state"))
            .args(["--listen", &format!("127.0.0.1:{port}"), "--token-file"])
            .arg(&token_file)
            .stdout(Stdio::null())
            .stderr(agent_log)
            .spawn()
            .expect("tke logagent starts"),
    );
    wait_for("the log agent to answer", Duration::from_secs(30), || {
        let out = Command::new("curl")
            .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}", "-H", &format!("Authorization: Bearer {token}")])
            .arg(format!("https://127.0.0.1:{port}/v1/status"))
            .output()
            .ok()?;
        (String::from_utf8_lossy(&out.stdout) == "200").then_some(())
    });

    let run = scenarios::run(
        &t,
        &["logfiles"],
        CLUSTER,
        &[
            ("E2E_LOG_POD", name.to_string()),
            ("E2E_LOG_LINES", LINES.to_string()),
            ("E2E_LOG_SIZE", text.len().to_string()),
        ],
        &Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-log-screenshots"),
    );
    assert!(
        run.output.status.success() && run.stdout.contains("1 passed, 0 failed"),
        "the log pages' scenario failed (screenshots in {}):\n{}\n{}\nagent log (end):\n{}\nserver log (end):\n{}",
        run.screenshots.display(),
        run.stdout,
        run.stderr,
        tail(&std::fs::read_to_string(root.join("agent.log")).unwrap_or_default(), 20),
        tail(&t.log(), 40),
    );
}
