//! The embedded default's sampler: every interval (60 s; a flag shortens it for tests) it reads
//! every cluster the platform can reach — nodes', pods' and containers' CPU and memory from the
//! metrics API (`metrics.k8s.io/v1beta1`), object counts and phases from the Kubernetes API —
//! and appends the series of [`super`]'s tables to the embedded store, then writes the store to
//! the data directory. It also keeps each cluster's latest numbers for the ClusterOverview.
//!
//! It runs in one replica at a time (under the Lease `tke-monitor-sampler`, started by `tke`),
//! which says so in its replica record (the role [`SAMPLER_ROLE`], see [`apiserver::peers`]):
//! the store and the latest numbers live in that replica's process and data directory, and the
//! other replicas forward metrics queries to it and read its latest numbers for overviews
//! ([`crate::serve`]). When the Lease changes hands, the new holder samples from then on, on top
//! of the store it kept in its own data directory (what it sampled when it last held the Lease):
//! what the old holder sampled meanwhile is not in its answers.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc, OnceLock, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use api::monitor::cluster_overview::ClusterStatistic;
use apimachinery::quantity::milli_units;
use controller_runtime::cluster::{ClusterAccess, ClusterClients};
use futures::StreamExt;
use kube::api::{Api, DynamicObject, ListParams};
use serde_json::Value;

use super::CLUSTER_LABEL;
use crate::store::{SeriesKey, SeriesStore};

/// A cluster's latest numbers, for the overview.
#[derive(Clone, Debug, Default)]
pub struct Latest {
    pub statistic: ClusterStatistic,
}

/// The role of the replica that samples, in its replica record.
pub const SAMPLER_ROLE: &str = "monitor-sampler";

/// What the sampler writes and the queries read.
pub struct Sampled {
    pub store: Arc<SeriesStore>,
    latest: RwLock<HashMap<String, Latest>>,
    /// Whether this replica's sampler runs.
    sampling: AtomicBool,
    /// The other replicas, told when this one samples.
    peers: OnceLock<Arc<apiserver::peers::Peers>>,
}

/// Says this replica samples while it lives.
struct Sampling(Arc<Sampled>);

impl Drop for Sampling {
    fn drop(&mut self) {
        self.0.set_sampling(false);
    }
}

impl Sampled {
    pub fn new(store: Arc<SeriesStore>) -> Arc<Self> {
        Arc::new(Sampled {
            store,
            latest: RwLock::new(HashMap::new()),
            sampling: AtomicBool::new(false),
            peers: OnceLock::new(),
        })
    }

    /// The replicas to tell when this one samples.
    pub fn set_peers(&self, peers: Arc<apiserver::peers::Peers>) {
        let _ = self.peers.set(peers);
    }

    /// Whether this replica's sampler runs.
    pub fn sampling(&self) -> bool {
        self.sampling.load(Ordering::Relaxed)
    }

    fn set_sampling(&self, on: bool) {
        self.sampling.store(on, Ordering::Relaxed);
        if let Some(p) = self.peers.get() {
            p.set_role(SAMPLER_ROLE, on);
        }
    }

    /// Every cluster's latest numbers (what the sampler gives the other replicas).
    pub fn all_latest(&self) -> Vec<ClusterStatistic> {
        self.latest.read().unwrap_or_else(|e| e.into_inner()).values().map(|l| l.statistic.clone()).collect()
    }

    /// Replaces every cluster's latest numbers with the sampler's.
    pub fn replace_latest(&self, all: Vec<ClusterStatistic>) {
        let mut l = self.latest.write().unwrap_or_else(|e| e.into_inner());
        *l = all.into_iter().map(|s| (s.cluster_id.clone(), Latest { statistic: s })).collect();
    }

    /// The latest numbers of `cluster`, if it was ever sampled.
    pub fn latest(&self, cluster: &str) -> Option<Latest> {
        self.latest.read().unwrap_or_else(|e| e.into_inner()).get(cluster).cloned()
    }

    /// Records what one round read (`time` in seconds since the epoch).
    pub fn record(&self, time: u32, samples: Vec<(SeriesKey, f64)>, latest: HashMap<String, Latest>, keep: &[String]) {
        self.store.append(time, samples);
        let mut l = self.latest.write().unwrap_or_else(|e| e.into_inner());
        l.retain(|k, _| keep.contains(k));
        l.extend(latest);
    }
}

/// Settings of the sampler.
#[derive(Clone, Debug)]
pub struct Options {
    pub interval: Duration,
    /// Clusters read at once.
    pub concurrency: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { interval: Duration::from_secs(60), concurrency: 16 }
    }
}

/// Samples every cluster every `opts.interval` until `shutdown` resolves.
pub async fn run(
    platform: kube::Client,
    clusters: Arc<dyn ClusterClients>,
    sampled: Arc<Sampled>,
    opts: Options,
    shutdown: impl Future<Output = ()> + Send,
) {
    let api: Api<DynamicObject> = Api::all_with(
        platform,
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk(api::platform::GROUP, api::platform::VERSION, "Cluster"),
            "clusters",
        ),
    );
    sampled.set_sampling(true);
    let _sampling = Sampling(sampled.clone());
    let mut tick = tokio::time::interval(opts.interval.max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = round(&api, &clusters, &sampled, &opts).await {
            tracing::warn!(error = %e, "sampling the clusters failed");
        }
    }
}

async fn round(
    api: &Api<DynamicObject>,
    access: &Arc<dyn ClusterClients>,
    sampled: &Arc<Sampled>,
    opts: &Options,
) -> Result<(), kube::Error> {
    let list = api.list(&ListParams::default()).await?;
    let now = chrono::Utc::now();
    let time = u32::try_from(now.timestamp()).unwrap_or(u32::MAX);
    let names: Vec<(String, Value)> = list
        .items
        .into_iter()
        .map(|o| {
            let v = serde_json::to_value(&o).unwrap_or_default();
            (o.metadata.name.unwrap_or_default(), v)
        })
        .collect();
    let results: Vec<(String, Option<Sample>, ClusterStatistic)> =
        futures::stream::iter(names.iter().cloned().map(|(name, cluster)| {
            let access = access.clone();
            async move {
                let mut stat = base_statistic(&name, &cluster);
                if stat.cluster_phase != "Running" {
                    return (name, None, stat);
                }
                let sample = match access.access(&name).await {
                    ClusterAccess::Ready(client) => match sample(&client, &name).await {
                        Ok(s) => Some(s),
                        Err(e) => {
                            tracing::debug!(cluster = %name, error = %e, "sampling a cluster failed");
                            None
                        }
                    },
                    _ => None,
                };
                if let Some(s) = &sample {
                    s.fill(&mut stat);
                    stat.sampled_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                }
                (name, sample, stat)
            }
        }))
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    let mut samples = vec![];
    let mut latest = HashMap::new();
    for (name, sample, statistic) in results {
        if let Some(s) = sample {
            samples.extend(s.series);
        }
        latest.insert(name, Latest { statistic });
    }
    let keep: Vec<String> = names.into_iter().map(|(n, _)| n).collect();
    sampled.record(time, samples, latest, &keep);
    let store = sampled.store.clone();
    match tokio::task::spawn_blocking(move || store.persist()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "writing the metrics file failed"),
        Err(e) => tracing::warn!(error = %e, "writing the metrics file failed"),
    }
    Ok(())
}

fn str_at<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or_default()
}

/// The numbers of a cluster known without reaching it.
pub fn base_statistic(name: &str, cluster: &Value) -> ClusterStatistic {
    let display = str_at(cluster, "/spec/displayName");
    ClusterStatistic {
        cluster_id: name.to_string(),
        display_name: if display.is_empty() { name.to_string() } else { display.to_string() },
        tenant_id: str_at(cluster, "/spec/tenantID").to_string(),
        cluster_phase: str_at(cluster, "/status/phase").to_string(),
        ..Default::default()
    }
}

/// Cores of a CPU quantity, bytes of a memory quantity.
fn amount(v: Option<&Value>) -> f64 {
    v.and_then(Value::as_str).and_then(milli_units).map(|m| m as f64 / 1000.0).unwrap_or(0.0)
}

fn percent(part: f64, whole: f64) -> f64 {
    if whole > 0.0 { part * 100.0 / whole } else { 0.0 }
}

/// What one cluster gave.
pub struct Sample {
    pub series: Vec<(SeriesKey, f64)>,
    nodes: i64,
    nodes_not_ready: i64,
    workloads: i64,
    workloads_abnormal: i64,
    pods: i64,
    cpu_used: f64,
    mem_used: f64,
    cpu_capacity: f64,
    cpu_allocatable: f64,
    mem_capacity: f64,
    mem_allocatable: f64,
    cpu_request: f64,
    cpu_limit: f64,
    mem_request: f64,
    mem_limit: f64,
    has_metric_server: bool,
}

impl Sample {
    fn fill(&self, s: &mut ClusterStatistic) {
        s.node_count = self.nodes;
        s.node_abnormal = self.nodes_not_ready;
        s.workload_count = self.workloads;
        s.workload_abnormal = self.workloads_abnormal;
        s.pod_count = self.pods;
        s.cpu_used = self.cpu_used;
        s.mem_used = self.mem_used;
        s.cpu_capacity = self.cpu_capacity;
        s.cpu_allocatable = self.cpu_allocatable;
        s.mem_capacity = self.mem_capacity;
        s.mem_allocatable = self.mem_allocatable;
        s.cpu_request = self.cpu_request;
        s.cpu_limit = self.cpu_limit;
        s.mem_request = self.mem_request;
        s.mem_limit = self.mem_limit;
        let rate = |v: f64| format!("{v:.2}%");
        s.cpu_request_rate = rate(percent(self.cpu_request, self.cpu_allocatable));
        s.cpu_allocatable_rate = rate(percent(self.cpu_allocatable, self.cpu_capacity));
        s.cpu_usage = rate(percent(self.cpu_used, self.cpu_allocatable));
        s.mem_request_rate = rate(percent(self.mem_request, self.mem_allocatable));
        s.mem_allocatable_rate = rate(percent(self.mem_allocatable, self.mem_capacity));
        s.mem_usage = rate(percent(self.mem_used, self.mem_allocatable));
        // A cluster that answers its API has a working control plane; the simulated and
        // imported clusters report no component statuses to say more.
        s.scheduler_healthy = true;
        s.controller_manager_healthy = true;
        s.etcd_healthy = true;
        s.has_metric_server = self.has_metric_server;
    }
}

async fn get(client: &kube::Client, path: &str) -> Result<Value, kube::Error> {
    let req = http::Request::get(path).body(Vec::new()).map_err(kube::Error::HttpError)?;
    client.request::<Value>(req).await
}

fn items(v: &Value) -> Vec<Value> {
    v.get("items").and_then(Value::as_array).cloned().unwrap_or_default()
}

/// Reads one cluster.
pub async fn sample(client: &kube::Client, cluster: &str) -> Result<Sample, kube::Error> {
    let nodes = items(&get(client, "/api/v1/nodes").await?);
    let pods = items(&get(client, "/api/v1/pods").await?);
    let replica_sets = items(&get(client, "/apis/apps/v1/replicasets").await?);
    let deployments = items(&get(client, "/apis/apps/v1/deployments").await?);
    let stateful_sets = items(&get(client, "/apis/apps/v1/statefulsets").await?);
    let daemon_sets = items(&get(client, "/apis/apps/v1/daemonsets").await?);
    let namespaces = items(&get(client, "/api/v1/namespaces").await?);
    // Without a metrics API the counts still come.
    let node_metrics = get(client, "/apis/metrics.k8s.io/v1beta1/nodes").await.ok();
    let pod_metrics = get(client, "/apis/metrics.k8s.io/v1beta1/pods").await.ok().map(|v| items(&v));
    let has_metric_server = node_metrics.is_some() && pod_metrics.is_some();
    let node_metrics = node_metrics.map(|v| items(&v)).unwrap_or_default();
    let pod_metrics = pod_metrics.unwrap_or_default();
    Ok(compute(
        cluster,
        &Objects { nodes, pods, replica_sets, deployments, stateful_sets, daemon_sets, namespaces },
        &node_metrics,
        &pod_metrics,
        has_metric_server,
    ))
}

/// The objects of a cluster a sample is computed from.
pub struct Objects {
    pub nodes: Vec<Value>,
    pub pods: Vec<Value>,
    pub replica_sets: Vec<Value>,
    pub deployments: Vec<Value>,
    pub stateful_sets: Vec<Value>,
    pub daemon_sets: Vec<Value>,
    pub namespaces: Vec<Value>,
}

fn controller_of(v: &Value) -> Option<(&str, &str)> {
    v.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .map(|r| (str_at(r, "/kind"), str_at(r, "/name")))
}

fn num(v: &Value, p: &str) -> f64 {
    v.pointer(p).and_then(Value::as_f64).unwrap_or(0.0)
}

/// The series and numbers of one cluster (pure, for tests and benches).
pub fn compute(
    cluster: &str,
    o: &Objects,
    node_metrics: &[Value],
    pod_metrics: &[Value],
    has_metric_server: bool,
) -> Sample {
    let mut series: Vec<(SeriesKey, f64)> = vec![];
    let mut push = |metric: &str, labels: &[(&str, &str)], v: f64| {
        let mut all = vec![(CLUSTER_LABEL, cluster)];
        all.extend_from_slice(labels);
        series.push((SeriesKey::new(metric, &all), v));
    };
    // Nodes.
    let mut node_capacity: HashMap<&str, (f64, f64)> = HashMap::new();
    let (mut cpu_capacity, mut cpu_allocatable, mut mem_capacity, mut mem_allocatable) = (0.0, 0.0, 0.0, 0.0);
    let mut not_ready = 0;
    let mut node_role: HashMap<&str, &str> = HashMap::new();
    for n in &o.nodes {
        let name = str_at(n, "/metadata/name");
        let labels = n.pointer("/metadata/labels");
        let master = labels.is_some_and(|l| {
            l.get("node-role.kubernetes.io/control-plane").is_some()
                || l.get("node-role.kubernetes.io/master").is_some()
        });
        node_role.insert(name, if master { "Master" } else { "Node" });
        let cap = (amount(n.pointer("/status/capacity/cpu")), amount(n.pointer("/status/capacity/memory")));
        node_capacity.insert(name, cap);
        cpu_capacity += cap.0;
        mem_capacity += cap.1;
        cpu_allocatable += amount(n.pointer("/status/allocatable/cpu"));
        mem_allocatable += amount(n.pointer("/status/allocatable/memory"));
        let ready = n
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| cs.iter().any(|c| str_at(c, "/type") == "Ready" && str_at(c, "/status") == "True"));
        if !ready {
            not_ready += 1;
        }
        push("k8s_node_status_ready", &[("node", name), ("node_role", node_role[name])], f64::from(u8::from(ready)));
    }
    let (mut cpu_used, mut mem_used) = (0.0, 0.0);
    for m in node_metrics {
        let name = str_at(m, "/metadata/name");
        let (cpu, mem) = (amount(m.pointer("/usage/cpu")), amount(m.pointer("/usage/memory")));
        cpu_used += cpu;
        mem_used += mem;
        let (cap_cpu, cap_mem) = node_capacity.get(name).copied().unwrap_or_default();
        let l = [("node", name), ("node_role", node_role.get(name).copied().unwrap_or("Node"))];
        push("k8s_node_cpu_core_used", &l, cpu);
        push("k8s_node_mem_usage_bytes", &l, mem);
        push("k8s_node_cpu_usage", &l, percent(cpu, cap_cpu));
        push("k8s_node_mem_usage", &l, percent(mem, cap_mem));
    }
    // Workloads: a ReplicaSet's pods belong to its owner.
    let rs_owner: HashMap<(&str, &str), (&str, &str)> = o
        .replica_sets
        .iter()
        .filter_map(|rs| Some(((str_at(rs, "/metadata/namespace"), str_at(rs, "/metadata/name")), controller_of(rs)?)))
        .collect();
    // (namespace, pod) → each container's (name, cores, bytes).
    type ContainerUsage<'a> = Vec<(&'a str, f64, f64)>;
    let usage: HashMap<(&str, &str), ContainerUsage> = pod_metrics
        .iter()
        .map(|m| {
            let cs = m
                .get("containers")
                .and_then(Value::as_array)
                .map(|cs| {
                    cs.iter()
                        .map(|c| {
                            (str_at(c, "/name"), amount(c.pointer("/usage/cpu")), amount(c.pointer("/usage/memory")))
                        })
                        .collect()
                })
                .unwrap_or_default();
            ((str_at(m, "/metadata/namespace"), str_at(m, "/metadata/name")), cs)
        })
        .collect();
    let project_of: HashMap<&str, &str> = o
        .namespaces
        .iter()
        .filter_map(|n| {
            let p =
                n.pointer("/metadata/labels").and_then(|l| l.get(api::business::common::PROJECT_LABEL))?.as_str()?;
            Some((str_at(n, "/metadata/name"), p))
        })
        .collect();
    type Sums = (f64, f64, f64);
    let mut by_workload: BTreeMap<(&str, &str, &str), Sums> = BTreeMap::new();
    let mut by_namespace: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    let mut by_node_pods: HashMap<&str, f64> = HashMap::new();
    let (mut cpu_request, mut cpu_limit, mut mem_request, mut mem_limit) = (0.0, 0.0, 0.0, 0.0);
    let mut pod_count = 0;
    let mut running = 0.0;
    for p in &o.pods {
        let (ns, name, node) =
            (str_at(p, "/metadata/namespace"), str_at(p, "/metadata/name"), str_at(p, "/spec/nodeName"));
        let phase = str_at(p, "/status/phase");
        if phase == "Succeeded" || phase == "Failed" {
            continue;
        }
        pod_count += 1;
        if phase == "Running" {
            running += 1.0;
        }
        for c in p.pointer("/spec/containers").and_then(Value::as_array).into_iter().flatten() {
            cpu_request += amount(c.pointer("/resources/requests/cpu"));
            cpu_limit += amount(c.pointer("/resources/limits/cpu"));
            mem_request += amount(c.pointer("/resources/requests/memory"));
            mem_limit += amount(c.pointer("/resources/limits/memory"));
        }
        let (kind, wname) = match controller_of(p) {
            Some(("ReplicaSet", rs)) => rs_owner.get(&(ns, rs)).copied().unwrap_or(("ReplicaSet", rs)),
            Some(owner) => owner,
            None => ("", ""),
        };
        let labels =
            [("namespace", ns), ("pod_name", name), ("node", node), ("workload_kind", kind), ("workload_name", wname)];
        let ready = crate::metrics::sampler::pod_ready(p);
        push("k8s_pod_status_ready", &labels, f64::from(u8::from(ready)));
        *by_node_pods.entry(node).or_default() += 1.0;
        let (mut pcpu, mut pmem) = (0.0, 0.0);
        if let Some(cs) = usage.get(&(ns, name)) {
            for (c, cpu, mem) in cs {
                let mut l = labels.to_vec();
                l.push(("container_name", c));
                push("k8s_container_cpu_core_used", &l, *cpu);
                push("k8s_container_mem_usage_bytes", &l, *mem);
                pcpu += cpu;
                pmem += mem;
            }
            let (cap_cpu, cap_mem) = node_capacity.get(node).copied().unwrap_or_default();
            push("k8s_pod_cpu_core_used", &labels, pcpu);
            push("k8s_pod_mem_usage_bytes", &labels, pmem);
            push("k8s_pod_rate_cpu_core_used_node", &labels, percent(pcpu, cap_cpu));
            push("k8s_pod_rate_mem_usage_node", &labels, percent(pmem, cap_mem));
        }
        if !kind.is_empty() {
            let w = by_workload.entry((ns, kind, wname)).or_default();
            w.0 += pcpu;
            w.1 += pmem;
            w.2 += 1.0;
        }
        let n = by_namespace.entry(ns).or_default();
        n.0 += pcpu;
        n.1 += pmem;
    }
    for (node, count) in &by_node_pods {
        push(
            "k8s_node_pod_num",
            &[("node", node), ("node_role", node_role.get(node).copied().unwrap_or("Node"))],
            *count,
        );
    }
    // Workload health: what is wanted and not available.
    let mut abnormal: BTreeMap<(&str, &str, &str), f64> = BTreeMap::new();
    for (kind, list, want, have) in [
        ("Deployment", &o.deployments, "/spec/replicas", "/status/availableReplicas"),
        ("StatefulSet", &o.stateful_sets, "/spec/replicas", "/status/readyReplicas"),
        ("DaemonSet", &o.daemon_sets, "/status/desiredNumberScheduled", "/status/numberAvailable"),
    ] {
        for w in list.iter() {
            let key = (str_at(w, "/metadata/namespace"), kind, str_at(w, "/metadata/name"));
            abnormal.insert(key, (num(w, want) - num(w, have)).max(0.0));
        }
    }
    let workloads = abnormal.len() as i64;
    let workloads_abnormal = abnormal.values().filter(|v| **v > 0.0).count() as i64;
    for ((ns, kind, name), v) in &abnormal {
        let l = [("namespace", *ns), ("workload_kind", *kind), ("workload_name", *name)];
        push("k8s_workload_abnormal", &l, *v);
        let (cpu, mem, pods) = by_workload.get(&(*ns, *kind, *name)).copied().unwrap_or_default();
        push("k8s_workload_cpu_core_used", &l, cpu);
        push("k8s_workload_mem_usage_bytes", &l, mem);
        push("k8s_workload_pod_num", &l, pods);
    }
    let mut by_project: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for (ns, (cpu, mem)) in &by_namespace {
        push("k8s_namespace_cpu_core_used", &[("namespace", ns)], *cpu);
        push("k8s_namespace_mem_usage_bytes", &[("namespace", ns)], *mem);
        if let Some(p) = project_of.get(ns) {
            let e = by_project.entry(p).or_default();
            e.0 += cpu;
            e.1 += mem;
        }
    }
    for (p, (cpu, mem)) in &by_project {
        push("project_cluster_cpu_core_used", &[(super::PROJECT_LABEL, p)], *cpu);
        push("project_cluster_memory_usage_bytes", &[(super::PROJECT_LABEL, p)], *mem);
    }
    push("k8s_cluster_cpu_core_total", &[], cpu_allocatable);
    push("k8s_cluster_memory_total", &[], mem_allocatable);
    push("k8s_cluster_node_num", &[], o.nodes.len() as f64);
    push("k8s_cluster_pod_num", &[], f64::from(pod_count));
    push("k8s_cluster_pod_running_num", &[], running);
    if has_metric_server {
        push("k8s_cluster_cpu_core_used", &[], cpu_used);
        push("k8s_cluster_mem_usage_bytes", &[], mem_used);
        push("k8s_cluster_rate_cpu_core_used_cluster", &[], percent(cpu_used, cpu_allocatable));
        push("k8s_cluster_rate_mem_usage_bytes_cluster", &[], percent(mem_used, mem_allocatable));
    }
    Sample {
        series,
        nodes: o.nodes.len() as i64,
        nodes_not_ready: not_ready,
        workloads,
        workloads_abnormal,
        pods: i64::from(pod_count),
        cpu_used,
        mem_used,
        cpu_capacity,
        cpu_allocatable,
        mem_capacity,
        mem_allocatable,
        cpu_request,
        cpu_limit,
        mem_request,
        mem_limit,
        has_metric_server,
    }
}

/// Whether the pod's Ready condition is true.
pub fn pod_ready(p: &Value) -> bool {
    p.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| str_at(c, "/type") == "Ready" && str_at(c, "/status") == "True"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_cluster_becomes_series_at_every_level() {
        let objects = Objects {
            nodes: vec![json!({"metadata": {"name": "n1"}, "status": {
                "capacity": {"cpu": "4", "memory": "8Gi"}, "allocatable": {"cpu": "4", "memory": "8Gi"},
                "conditions": [{"type": "Ready", "status": "True"}]}})],
            pods: vec![json!({
                "metadata": {"name": "web-abc-1", "namespace": "team",
                    "ownerReferences": [{"kind": "ReplicaSet", "name": "web-abc", "controller": true}]},
                "spec": {"nodeName": "n1", "containers": [{"name": "app", "resources": {"requests": {"cpu": "500m"}}}]},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
            })],
            replica_sets: vec![json!({"metadata": {"name": "web-abc", "namespace": "team",
                "ownerReferences": [{"kind": "Deployment", "name": "web", "controller": true}]}})],
            deployments: vec![json!({"metadata": {"name": "web", "namespace": "team"},
                "spec": {"replicas": 2}, "status": {"availableReplicas": 1}})],
            stateful_sets: vec![],
            daemon_sets: vec![],
            namespaces: vec![json!({"metadata": {"name": "team", "labels": {"tkestack.io/projectName": "prj-a"}}})],
        };
        let nm = [json!({"metadata": {"name": "n1"}, "usage": {"cpu": "1", "memory": "2Gi"}})];
        let pm = [json!({"metadata": {"name": "web-abc-1", "namespace": "team"},
            "containers": [{"name": "app", "usage": {"cpu": "900m", "memory": "1Mi"}}]})];
        let s = compute("cls-a", &objects, &nm, &pm, true);
        let find = |metric: &str| {
            s.series.iter().find(|(k, _)| k.metric == metric).unwrap_or_else(|| panic!("{metric} is missing"))
        };
        assert_eq!(find("k8s_pod_cpu_core_used").1, 0.9);
        assert_eq!(find("k8s_pod_cpu_core_used").0.label("workload_name"), Some("web"));
        assert_eq!(find("k8s_container_mem_usage_bytes").1, 1048576.0);
        assert_eq!(find("k8s_node_cpu_usage").1, 25.0);
        assert_eq!(find("k8s_workload_cpu_core_used").1, 0.9);
        assert_eq!(find("k8s_workload_abnormal").1, 1.0);
        assert_eq!(find("project_cluster_cpu_core_used").0.label("project_name"), Some("prj-a"));
        assert_eq!(find("k8s_cluster_rate_cpu_core_used_cluster").1, 25.0);
        assert!(s.series.iter().all(|(k, _)| k.label("cluster_id") == Some("cls-a")));
        let mut stat = ClusterStatistic::default();
        s.fill(&mut stat);
        assert_eq!((stat.workload_count, stat.workload_abnormal, stat.pod_count), (1, 1, 1));
        assert_eq!(stat.cpu_request_rate, "12.50%");
    }
}
