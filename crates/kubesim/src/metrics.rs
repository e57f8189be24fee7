//! What a simulated cluster's metrics sources report, so that monitoring can be tested against
//! it as against a real cluster: the metrics API (`metrics.k8s.io/v1beta1` NodeMetrics and
//! PodMetrics, as metrics-server serves it), the kubelet's stats summary
//! (`/api/v1/nodes/{n}/proxy/stats/summary`), cAdvisor's Prometheus text
//! (`/api/v1/nodes/{n}/proxy/metrics/cadvisor`) and kube-state-metrics' names, all at once on
//! the API server's `/metrics` (after the server's own metrics) for a single scrape target.
//!
//! Usage is made up but deterministic: a running container uses a fixed amount of CPU and
//! memory derived from its pod's namespace, name and the container's name, unless the pod's
//! annotations [`CPU_ANNOTATION`] (millicores) and [`MEMORY_ANNOTATION`] (bytes) set the pod's
//! total (split evenly between its containers) — tests set those to cross alert thresholds. A
//! node uses [`NODE_BASE_CPU_MILLI`] and [`NODE_BASE_MEMORY`] plus its pods'. CPU counters
//! (`container_cpu_usage_seconds_total`) grow at the usage rate since the pod was created, so
//! `rate()` over them gives the usage back; when a test changes a pod's usage, its counter goes
//! on from where it was at the new rate (it never goes back, which Prometheus would read as a
//! restart).

use std::{
    collections::{BTreeMap, HashMap},
    fmt::Write as _,
    sync::{Arc, LazyLock, Mutex},
};

use apimachinery::ApiError;
use apiserver::{
    ApiServer, Connect, ConnectDef, ConnectRequest, Context,
    http::{error_response, respond},
    store::ListOptions,
};
use async_trait::async_trait;
use axum::{
    Router,
    body::Body,
    extract::{Path, State},
    http::{Method, Response, StatusCode, header},
    routing::get,
};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// Pod annotation: the pod's CPU usage in millicores (`"900"`).
pub const CPU_ANNOTATION: &str = "sim.tke.io/cpu-millicores";
/// Pod annotation: the pod's memory working set in bytes (`"268435456"`).
pub const MEMORY_ANNOTATION: &str = "sim.tke.io/memory-bytes";
/// What a node's own processes use besides its pods.
pub const NODE_BASE_CPU_MILLI: u64 = 100;
pub const NODE_BASE_MEMORY: u64 = 512 << 20;

/// The usage of one container.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub cpu_milli: u64,
    pub memory_bytes: u64,
}

/// FNV-1a: a hash that is the same in every process and version (unlike std's).
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3))
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

fn container_names(pod: &Value) -> Vec<String> {
    pod.pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| cs.iter().map(|c| str_at(c, "/name").to_string()).collect())
        .unwrap_or_default()
}

/// Whether the pod's containers run (and so use anything).
pub fn running(pod: &Value) -> bool {
    str_at(pod, "/status/phase") == "Running" && pod.pointer("/metadata/deletionTimestamp").is_none()
}

/// Each container's usage, in the pod's order; empty when the pod is not running.
pub fn pod_usage(pod: &Value) -> Vec<(String, Usage)> {
    if !running(pod) {
        return vec![];
    }
    let names = container_names(pod);
    if names.is_empty() {
        return vec![];
    }
    let annotation = |key: &str| -> Option<u64> {
        pod.pointer("/metadata/annotations").and_then(|a| a.get(key)).and_then(Value::as_str)?.trim().parse().ok()
    };
    let (ns, name) = (str_at(pod, "/metadata/namespace"), str_at(pod, "/metadata/name"));
    let n = names.len() as u64;
    let (cpu_total, mem_total) = (annotation(CPU_ANNOTATION), annotation(MEMORY_ANNOTATION));
    names
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let h = fnv(&format!("{ns}/{name}/{c}"));
            // The first container takes what does not split evenly.
            let share = |total: u64| total / n + if i == 0 { total % n } else { 0 };
            let usage = Usage {
                cpu_milli: cpu_total.map(share).unwrap_or(5 + h % 100),
                memory_bytes: mem_total.map(share).unwrap_or((16 + (h >> 16) % 128) << 20),
            };
            (c, usage)
        })
        .collect()
}

/// Each container's CPU counter (by pod uid and container): when it was last read, its value in
/// seconds, and the rate (cores) it grows at since then. Shared by every simulated cluster of
/// the process (uids do not repeat).
struct Counters(Mutex<HashMap<String, Counter>>);

/// When a counter was last read, its value (seconds) and its rate since then (cores).
type Counter = (DateTime<Utc>, f64, f64);

static COUNTERS: LazyLock<Counters> = LazyLock::new(|| Counters(Mutex::new(HashMap::new())));

/// How long a counter nobody reads is kept (its pod is gone).
const COUNTER_IDLE: chrono::TimeDelta = chrono::TimeDelta::hours(1);

impl Counters {
    /// The counter of `key` at `now`, growing at `cores` from now on; first read, it has grown
    /// at `cores` since `started`.
    fn cpu_seconds(&self, key: &str, now: DateTime<Utc>, started: DateTime<Utc>, cores: f64) -> f64 {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, (at, _, _)| now - *at < COUNTER_IDLE);
        }
        let secs = |d: chrono::TimeDelta| d.num_milliseconds().max(0) as f64 / 1000.0;
        let entry = map.entry(key.to_string()).or_insert_with(|| (now, cores * secs(now - started), cores));
        if now > entry.0 {
            entry.1 += entry.2 * secs(now - entry.0);
            entry.0 = now;
        }
        entry.2 = cores;
        entry.1
    }
}

/// Everything the metrics are computed from, read at once.
pub struct Snapshot {
    pub now: DateTime<Utc>,
    pub nodes: Vec<Value>,
    pub pods: Vec<Value>,
    pub replica_sets: Vec<Value>,
    pub deployments: Vec<Value>,
    pub stateful_sets: Vec<Value>,
    pub daemon_sets: Vec<Value>,
    pub namespaces: Vec<Value>,
}

async fn list(server: &ApiServer, group: &str, version: &str, plural: &str) -> Result<Vec<Value>, ApiError> {
    let Some(store) = server.resource_store(group, version, plural) else {
        return Ok(vec![]);
    };
    let ctx = Context::system("kubesim-metrics", None);
    Ok(store.list(&ctx, &ListOptions::default()).await?.items.iter().filter_map(|i| i.decode().ok()).collect())
}

impl Snapshot {
    pub async fn read(server: &ApiServer) -> Result<Snapshot, ApiError> {
        Ok(Snapshot {
            now: Utc::now(),
            nodes: list(server, "", "v1", "nodes").await?,
            pods: list(server, "", "v1", "pods").await?,
            replica_sets: list(server, "apps", "v1", "replicasets").await?,
            deployments: list(server, "apps", "v1", "deployments").await?,
            stateful_sets: list(server, "apps", "v1", "statefulsets").await?,
            daemon_sets: list(server, "apps", "v1", "daemonsets").await?,
            namespaces: list(server, "", "v1", "namespaces").await?,
        })
    }

    /// A node's usage: its base plus its running pods'.
    pub fn node_usage(&self, node: &str) -> Usage {
        let mut u = Usage { cpu_milli: NODE_BASE_CPU_MILLI, memory_bytes: NODE_BASE_MEMORY };
        for p in self.pods.iter().filter(|p| str_at(p, "/spec/nodeName") == node) {
            for (_, c) in pod_usage(p) {
                u.cpu_milli += c.cpu_milli;
                u.memory_bytes += c.memory_bytes;
            }
        }
        u
    }

    /// Where a pod's CPU counters start: its creation, which never changes (a status rewritten
    /// with a new `startTime` would reset them).
    fn started(&self, pod: &Value) -> DateTime<Utc> {
        let t = str_at(pod, "/metadata/creationTimestamp");
        DateTime::parse_from_rfc3339(t).map(|t| t.with_timezone(&Utc)).unwrap_or(self.now)
    }

    fn timestamp(&self) -> String {
        self.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    fn node_metrics(&self, node: &Value) -> Value {
        let name = str_at(node, "/metadata/name");
        let u = self.node_usage(name);
        json!({
            "metadata": {"name": name, "creationTimestamp": self.timestamp()},
            "timestamp": self.timestamp(),
            "window": "30s",
            "usage": {"cpu": format!("{}m", u.cpu_milli), "memory": u.memory_bytes.to_string()},
        })
    }

    fn pod_metrics(&self, pod: &Value) -> Value {
        let containers: Vec<Value> = pod_usage(pod)
            .into_iter()
            .map(|(c, u)| {
                json!({"name": c, "usage": {"cpu": format!("{}m", u.cpu_milli), "memory": u.memory_bytes.to_string()}})
            })
            .collect();
        json!({
            "metadata": {
                "name": str_at(pod, "/metadata/name"),
                "namespace": str_at(pod, "/metadata/namespace"),
                "creationTimestamp": self.timestamp(),
            },
            "timestamp": self.timestamp(),
            "window": "30s",
            "containers": containers,
        })
    }

    /// The kubelet's `/stats/summary` of `node`.
    pub fn summary(&self, node: &str) -> Value {
        let time = self.timestamp();
        let nano = |milli: u64| milli * 1_000_000;
        let pods: Vec<Value> = self
            .pods
            .iter()
            .filter(|p| str_at(p, "/spec/nodeName") == node && running(p))
            .map(|p| {
                let usage = pod_usage(p);
                let elapsed = (self.now - self.started(p)).num_milliseconds().max(0) as u64;
                let containers: Vec<Value> = usage
                    .iter()
                    .map(|(c, u)| {
                        json!({
                            "name": c,
                            "cpu": {"time": time, "usageNanoCores": nano(u.cpu_milli), "usageCoreNanoSeconds": u.cpu_milli * elapsed * 1000},
                            "memory": {"time": time, "workingSetBytes": u.memory_bytes, "usageBytes": u.memory_bytes},
                        })
                    })
                    .collect();
                let (cpu, mem) = usage.iter().fold((0, 0), |(c, m), (_, u)| (c + u.cpu_milli, m + u.memory_bytes));
                json!({
                    "podRef": {"name": str_at(p, "/metadata/name"), "namespace": str_at(p, "/metadata/namespace"), "uid": str_at(p, "/metadata/uid")},
                    "startTime": self.started(p).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    "containers": containers,
                    "cpu": {"time": time, "usageNanoCores": nano(cpu)},
                    "memory": {"time": time, "workingSetBytes": mem, "usageBytes": mem},
                })
            })
            .collect();
        let u = self.node_usage(node);
        json!({
            "node": {
                "nodeName": node,
                "cpu": {"time": time, "usageNanoCores": nano(u.cpu_milli)},
                "memory": {"time": time, "workingSetBytes": u.memory_bytes, "usageBytes": u.memory_bytes},
            },
            "pods": pods,
        })
    }

    /// cAdvisor's container metrics for the pods of `node` (all nodes when `None`).
    pub fn cadvisor(&self, node: Option<&str>) -> String {
        let mut out = String::new();
        out.push_str("# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed in seconds.\n");
        out.push_str("# TYPE container_cpu_usage_seconds_total counter\n");
        let pods: Vec<&Value> =
            self.pods.iter().filter(|p| node.is_none_or(|n| str_at(p, "/spec/nodeName") == n)).collect();
        let mut working = String::new();
        for p in &pods {
            let (ns, name) = (str_at(p, "/metadata/namespace"), str_at(p, "/metadata/name"));
            for (c, u) in pod_usage(p) {
                let labels = format!(
                    "container=\"{}\",namespace=\"{}\",pod=\"{}\",node=\"{}\"",
                    escape(&c),
                    escape(ns),
                    escape(name),
                    escape(str_at(p, "/spec/nodeName"))
                );
                let key = format!("{}/{c}", str_at(p, "/metadata/uid"));
                let key = if key.starts_with('/') { format!("{ns}/{name}/{c}") } else { key };
                let seconds = COUNTERS.cpu_seconds(&key, self.now, self.started(p), u.cpu_milli as f64 / 1000.0);
                let _ = writeln!(out, "container_cpu_usage_seconds_total{{{labels}}} {seconds}");
                let _ = writeln!(working, "container_memory_working_set_bytes{{{labels}}} {}", u.memory_bytes);
            }
        }
        out.push_str("# HELP container_memory_working_set_bytes Current working set in bytes.\n");
        out.push_str("# TYPE container_memory_working_set_bytes gauge\n");
        out.push_str(&working);
        out
    }

    /// kube-state-metrics' series of the objects.
    pub fn kube_state(&self) -> String {
        let mut m = Families::default();
        let gauge = "gauge";
        for n in &self.nodes {
            let name = str_at(n, "/metadata/name");
            let ready = n
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|cs| cs.iter().find(|c| str_at(c, "/type") == "Ready"))
                .map(|c| str_at(c, "/status").to_lowercase())
                .unwrap_or_else(|| "unknown".into());
            for status in ["true", "false", "unknown"] {
                m.add(
                    "kube_node_status_condition",
                    gauge,
                    &[("node", name), ("condition", "Ready"), ("status", status)],
                    f64::from(u8::from(ready == status)),
                );
            }
            for (family, at) in [
                ("kube_node_status_capacity", "/status/capacity"),
                ("kube_node_status_allocatable", "/status/allocatable"),
            ] {
                let q = |r: &str| quantity(n.pointer(at).and_then(|c| c.get(r)));
                m.add(family, gauge, &[("node", name), ("resource", "cpu"), ("unit", "core")], q("cpu"));
                m.add(family, gauge, &[("node", name), ("resource", "memory"), ("unit", "byte")], q("memory"));
                m.add(family, gauge, &[("node", name), ("resource", "pods"), ("unit", "integer")], q("pods"));
            }
        }
        for p in &self.pods {
            let (ns, name, node) =
                (str_at(p, "/metadata/namespace"), str_at(p, "/metadata/name"), str_at(p, "/spec/nodeName"));
            let owner = p
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .and_then(|o| o.iter().find(|r| r.get("controller").and_then(Value::as_bool) == Some(true)));
            let (ok, on) = owner.map(|o| (str_at(o, "/kind"), str_at(o, "/name"))).unwrap_or(("<none>", "<none>"));
            m.add(
                "kube_pod_info",
                gauge,
                &[("namespace", ns), ("pod", name), ("node", node), ("created_by_kind", ok), ("created_by_name", on)],
                1.0,
            );
            let phase = str_at(p, "/status/phase");
            for ph in ["Pending", "Running", "Succeeded", "Failed", "Unknown"] {
                m.add(
                    "kube_pod_status_phase",
                    gauge,
                    &[("namespace", ns), ("pod", name), ("phase", ph)],
                    f64::from(u8::from(phase == ph)),
                );
            }
            let ready = pod_ready(p);
            for (cond, v) in [("true", ready), ("false", !ready)] {
                m.add(
                    "kube_pod_status_ready",
                    gauge,
                    &[("namespace", ns), ("pod", name), ("condition", cond)],
                    f64::from(u8::from(v)),
                );
            }
            for c in p.pointer("/spec/containers").and_then(Value::as_array).into_iter().flatten() {
                let cname = str_at(c, "/name");
                for (family, at) in [
                    ("kube_pod_container_resource_requests", "/resources/requests"),
                    ("kube_pod_container_resource_limits", "/resources/limits"),
                ] {
                    for (r, unit) in [("cpu", "core"), ("memory", "byte")] {
                        if let Some(q) = c.pointer(at).and_then(|x| x.get(r)) {
                            m.add(
                                family,
                                gauge,
                                &[
                                    ("namespace", ns),
                                    ("pod", name),
                                    ("container", cname),
                                    ("node", node),
                                    ("resource", r),
                                    ("unit", unit),
                                ],
                                quantity(Some(q)),
                            );
                        }
                    }
                }
            }
        }
        for rs in &self.replica_sets {
            let owner = rs.pointer("/metadata/ownerReferences").and_then(Value::as_array).and_then(|o| o.first());
            let (ok, on) = owner.map(|o| (str_at(o, "/kind"), str_at(o, "/name"))).unwrap_or(("<none>", "<none>"));
            m.add(
                "kube_replicaset_owner",
                gauge,
                &[
                    ("namespace", str_at(rs, "/metadata/namespace")),
                    ("replicaset", str_at(rs, "/metadata/name")),
                    ("owner_kind", ok),
                    ("owner_name", on),
                ],
                1.0,
            );
        }
        let num = |v: &Value, at: &str| v.pointer(at).and_then(Value::as_f64).unwrap_or(0.0);
        for d in &self.deployments {
            let l = [("namespace", str_at(d, "/metadata/namespace")), ("deployment", str_at(d, "/metadata/name"))];
            m.add("kube_deployment_spec_replicas", gauge, &l, num(d, "/spec/replicas"));
            m.add("kube_deployment_status_replicas", gauge, &l, num(d, "/status/replicas"));
            m.add("kube_deployment_status_replicas_available", gauge, &l, num(d, "/status/availableReplicas"));
            m.add("kube_deployment_status_replicas_unavailable", gauge, &l, num(d, "/status/unavailableReplicas"));
        }
        for s in &self.stateful_sets {
            let l = [("namespace", str_at(s, "/metadata/namespace")), ("statefulset", str_at(s, "/metadata/name"))];
            m.add("kube_statefulset_replicas", gauge, &l, num(s, "/spec/replicas"));
            m.add("kube_statefulset_status_replicas_ready", gauge, &l, num(s, "/status/readyReplicas"));
        }
        for d in &self.daemon_sets {
            let l = [("namespace", str_at(d, "/metadata/namespace")), ("daemonset", str_at(d, "/metadata/name"))];
            m.add(
                "kube_daemonset_status_desired_number_scheduled",
                gauge,
                &l,
                num(d, "/status/desiredNumberScheduled"),
            );
            m.add("kube_daemonset_status_number_unavailable", gauge, &l, num(d, "/status/numberUnavailable"));
        }
        for n in &self.namespaces {
            let project = n
                .pointer("/metadata/labels")
                .and_then(|l| l.get("tkestack.io/projectName"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            m.add(
                "kube_namespace_labels",
                gauge,
                &[("namespace", str_at(n, "/metadata/name")), ("label_tkestack_io_project_name", project)],
                1.0,
            );
        }
        m.render()
    }
}

/// Whether the pod's Ready condition is true.
pub fn pod_ready(p: &Value) -> bool {
    p.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| str_at(c, "/type") == "Ready" && str_at(c, "/status") == "True"))
}

/// A quantity as a plain number of its unit (cores, bytes); 0 when absent or unreadable.
fn quantity(v: Option<&Value>) -> f64 {
    let s = match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return 0.0,
    };
    apimachinery::quantity::milli_units(&s).map(|m| m as f64 / 1000.0).unwrap_or(0.0)
}

/// A label value as the text format writes it.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Metric families in the text format, each once with its TYPE line.
#[derive(Default)]
struct Families {
    families: BTreeMap<&'static str, (&'static str, String)>,
}

impl Families {
    fn add(&mut self, family: &'static str, kind: &'static str, labels: &[(&str, &str)], value: f64) {
        let body = &mut self.families.entry(family).or_insert_with(|| (kind, String::new())).1;
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
        let _ = writeln!(body, "{family}{{{}}} {value}", labels.join(","));
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for (family, (kind, body)) in &self.families {
            let _ = writeln!(out, "# TYPE {family} {kind}");
            out.push_str(body);
        }
        out
    }
}

fn text(body: String) -> Response<Body> {
    let mut resp = Response::new(Body::from(body));
    if let Ok(v) = "text/plain; version=0.0.4; charset=utf-8".parse() {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

/// `nodes/{n}/proxy/...`: the kubelet's `stats/summary` and `metrics/cadvisor`.
struct NodeProxy {
    server: std::sync::Weak<ApiServer>,
}

#[async_trait]
impl Connect for NodeProxy {
    async fn serve(&self, req: ConnectRequest) -> Response<Body> {
        let Some(server) = self.server.upgrade() else {
            return error_response(&ApiError::unavailable("the cluster is stopping"));
        };
        if req.method != Method::GET {
            return error_response(&ApiError::method_not_allowed("a simulated kubelet only answers GET"));
        }
        let snapshot = match Snapshot::read(&server).await {
            Ok(s) => s,
            Err(e) => return error_response(&e),
        };
        match req.path.trim_end_matches('/') {
            "stats/summary" => respond("application/json", StatusCode::OK, &snapshot.summary(&req.name)),
            "metrics/cadvisor" => text(snapshot.cadvisor(Some(&req.name))),
            other => error_response(&ApiError::not_found("", "nodes/proxy", other)),
        }
    }
}

/// Serves `nodes/proxy` (the simulated kubelets' stats and cAdvisor metrics).
pub fn register(server: &Arc<ApiServer>) -> Result<(), ApiError> {
    server.register_connect(
        ConnectDef { group: "", version: "v1", plural: "nodes", subresource: "proxy", verbs: &["get"], kind: "Node" },
        Arc::new(NodeProxy { server: Arc::downgrade(server) }),
    )
}

/// The metrics API and `/metrics`, to be served inside authentication before the API.
pub fn routes(server: &Arc<ApiServer>) -> Router {
    const BASE: &str = "/apis/metrics.k8s.io/v1beta1";
    Router::new()
        .route("/metrics", get(all_metrics))
        .route(BASE, get(resource_list))
        .route(&format!("{BASE}/nodes"), get(node_list))
        .route(&format!("{BASE}/nodes/{{name}}"), get(node_one))
        .route(&format!("{BASE}/pods"), get(pod_list_all))
        .route(&format!("{BASE}/namespaces/{{ns}}/pods"), get(pod_list_ns))
        .route(&format!("{BASE}/namespaces/{{ns}}/pods/{{name}}"), get(pod_one))
        .with_state(Arc::downgrade(server))
}

type Weak = State<std::sync::Weak<ApiServer>>;

async fn snapshot(server: &std::sync::Weak<ApiServer>) -> Result<Snapshot, Response<Body>> {
    let server = server.upgrade().ok_or_else(|| error_response(&ApiError::unavailable("stopping")))?;
    Snapshot::read(&server).await.map_err(|e| error_response(&e))
}

fn ok(v: &Value) -> Response<Body> {
    respond("application/json", StatusCode::OK, v)
}

async fn all_metrics(State(server): Weak) -> Response<Body> {
    // The server's own metrics end with OpenMetrics' `# EOF`, which must come last.
    let own = server.upgrade().map(|s| s.metrics.render()).unwrap_or_default();
    let own = own.strip_suffix("# EOF\n").unwrap_or(&own).to_string();
    match snapshot(&server).await {
        Ok(s) => text(format!("{own}{}{}", s.kube_state(), s.cadvisor(None))),
        Err(e) => e,
    }
}

async fn resource_list() -> Response<Body> {
    ok(&json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": "metrics.k8s.io/v1beta1",
        "resources": [
            {"name": "nodes", "singularName": "", "namespaced": false, "kind": "NodeMetrics", "verbs": ["get", "list"]},
            {"name": "pods", "singularName": "", "namespaced": true, "kind": "PodMetrics", "verbs": ["get", "list"]},
        ],
    }))
}

fn list_of(kind: &str, items: Vec<Value>) -> Value {
    json!({"kind": kind, "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": items})
}

fn with_kind(mut v: Value, kind: &str) -> Value {
    v["kind"] = json!(kind);
    v["apiVersion"] = json!("metrics.k8s.io/v1beta1");
    v
}

async fn node_list(State(server): Weak) -> Response<Body> {
    match snapshot(&server).await {
        Ok(s) => ok(&list_of("NodeMetricsList", s.nodes.iter().map(|n| s.node_metrics(n)).collect())),
        Err(e) => e,
    }
}

async fn node_one(State(server): Weak, Path(name): Path<String>) -> Response<Body> {
    match snapshot(&server).await {
        Ok(s) => match s.nodes.iter().find(|n| str_at(n, "/metadata/name") == name) {
            Some(n) => ok(&with_kind(s.node_metrics(n), "NodeMetrics")),
            None => error_response(&ApiError::not_found("metrics.k8s.io", "nodes", &name)),
        },
        Err(e) => e,
    }
}

fn pods_in(s: &Snapshot, ns: Option<&str>) -> Vec<Value> {
    s.pods
        .iter()
        .filter(|p| running(p) && ns.is_none_or(|ns| str_at(p, "/metadata/namespace") == ns))
        .map(|p| s.pod_metrics(p))
        .collect()
}

async fn pod_list_all(State(server): Weak) -> Response<Body> {
    match snapshot(&server).await {
        Ok(s) => ok(&list_of("PodMetricsList", pods_in(&s, None))),
        Err(e) => e,
    }
}

async fn pod_list_ns(State(server): Weak, Path(ns): Path<String>) -> Response<Body> {
    match snapshot(&server).await {
        Ok(s) => ok(&list_of("PodMetricsList", pods_in(&s, Some(&ns)))),
        Err(e) => e,
    }
}

async fn pod_one(State(server): Weak, Path((ns, name)): Path<(String, String)>) -> Response<Body> {
    match snapshot(&server).await {
        Ok(s) => match s
            .pods
            .iter()
            .find(|p| running(p) && str_at(p, "/metadata/namespace") == ns && str_at(p, "/metadata/name") == name)
        {
            Some(p) => ok(&with_kind(s.pod_metrics(p), "PodMetrics")),
            None => error_response(&ApiError::not_found("metrics.k8s.io", "pods", &name)),
        },
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(annotations: Value, containers: &[&str], phase: &str) -> Value {
        let cs: Vec<Value> = containers.iter().map(|c| json!({"name": c})).collect();
        json!({
            "metadata": {"name": "web-1", "namespace": "default", "annotations": annotations},
            "spec": {"containers": cs, "nodeName": "n1"},
            "status": {"phase": phase},
        })
    }

    #[test]
    fn usage_is_deterministic_and_settable() {
        let p = pod(json!({}), &["a", "b"], "Running");
        let u = pod_usage(&p);
        assert_eq!(u, pod_usage(&p));
        assert_eq!(u.len(), 2);
        assert!(u.iter().all(|(_, u)| (5..105).contains(&u.cpu_milli) && u.memory_bytes >= 16 << 20));
        let set = pod(json!({CPU_ANNOTATION: "901", MEMORY_ANNOTATION: "1000"}), &["a", "b"], "Running");
        let u = pod_usage(&set);
        assert_eq!(u[0].1, Usage { cpu_milli: 451, memory_bytes: 500 });
        assert_eq!(u[1].1, Usage { cpu_milli: 450, memory_bytes: 500 });
        assert!(pod_usage(&pod(json!({}), &["a"], "Pending")).is_empty());
    }

    #[test]
    fn cpu_counters_never_go_back() {
        let t = |s: i64| DateTime::from_timestamp(s, 0).expect("time");
        let c = Counters(Mutex::new(HashMap::new()));
        assert_eq!(c.cpu_seconds("p/a", t(100), t(0), 0.9), 90.0);
        assert_eq!(c.cpu_seconds("p/a", t(110), t(0), 0.1), 99.0);
        assert_eq!(c.cpu_seconds("p/a", t(120), t(0), 0.1), 100.0);
        assert_eq!(c.cpu_seconds("p/a", t(120), t(0), 0.1), 100.0);
    }

    #[test]
    fn kube_state_and_cadvisor_write_the_text_format() {
        let mut p = pod(json!({CPU_ANNOTATION: "900"}), &["app"], "Running");
        p["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
        p["status"]["conditions"] = json!([{"type": "Ready", "status": "True"}]);
        let s = Snapshot {
            now: DateTime::parse_from_rfc3339("2026-01-01T00:01:40Z").expect("time").with_timezone(&Utc),
            nodes: vec![json!({"metadata": {"name": "n1"}, "status": {"capacity": {"cpu": "4", "memory": "1Gi"},
                "conditions": [{"type": "Ready", "status": "True"}]}})],
            pods: vec![p],
            replica_sets: vec![],
            deployments: vec![],
            stateful_sets: vec![],
            daemon_sets: vec![],
            namespaces: vec![],
        };
        let c = s.cadvisor(None);
        assert!(
            c.contains(
                "container_cpu_usage_seconds_total{container=\"app\",namespace=\"default\",pod=\"web-1\",node=\"n1\"} 90\n"
            ),
            "{c}"
        );
        let k = s.kube_state();
        assert!(k.contains("kube_pod_status_ready{namespace=\"default\",pod=\"web-1\",condition=\"true\"} 1\n"), "{k}");
        assert!(k.contains("kube_node_status_capacity{node=\"n1\",resource=\"cpu\",unit=\"core\"} 4\n"), "{k}");
        assert!(k.contains("kube_node_status_condition{node=\"n1\",condition=\"Ready\",status=\"true\"} 1\n"), "{k}");
        assert_eq!(k.matches("# TYPE kube_pod_status_phase gauge").count(), 1);
        assert_eq!(s.node_usage("n1").cpu_milli, NODE_BASE_CPU_MILLI + 900);
    }
}
