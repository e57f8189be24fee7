//! What to read: the rules and the node's pods (both kept by watches on the business cluster),
//! turned every scan into the set of followed paths, each with its document prefix.
//!
//! Layouts followed:
//! - containers' stdout/stderr: `<pods-dir>/<namespace>_<pod>_<uid>/<container>/<restart>.log`
//!   (the kubelet's CRI layout; rotated files `<restart>.log.<time>` are followed by the reader);
//! - files inside containers: the directory a rule names is looked up in the container's volume
//!   mounts (longest mount path first); an `emptyDir` volume lives at
//!   `<kubelet-root>/pods/<uid>/volumes/kubernetes.io~empty-dir/<volume>`, a `hostPath` volume at
//!   `<host-root><path>`; the mount's `subPath` is honoured. Files on other volume kinds are not
//!   reachable from the node's file system in a known place and are not collected (logged once);
//! - host files: the rule's glob under `<host-root>`.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Pod;
use kube::{
    Api, Client, ResourceExt as _,
    api::{ApiResource, DynamicObject, GroupVersionKind},
    runtime::{WatchStreamExt as _, watcher},
};
use serde_json::{Map, Value, json};
use tokio::{sync::watch, task::JoinHandle};

use crate::{
    rules::{self, Rule, WorkloadRef},
    ship::Outputs,
    tail::{self, Command, Format, Shared, StreamSpec},
};

pub type Pods = Arc<RwLock<HashMap<String, Arc<Pod>>>>;
pub type Rules = Arc<RwLock<BTreeMap<(String, String), Rule>>>;

/// Keeps `pods` (by uid) equal to the pods bound to `node`.
pub async fn watch_pods(client: Client, node: String, pods: Pods, synced: watch::Sender<bool>) {
    let api: Api<Pod> = Api::all(client);
    let cfg = watcher::Config::default().fields(&format!("spec.nodeName={node}"));
    let mut fresh: Option<HashMap<String, Arc<Pod>>> = None;
    let mut stream = watcher(api, cfg).default_backoff().boxed();
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(watcher::Event::Init) => fresh = Some(HashMap::new()),
            Ok(watcher::Event::InitApply(p)) => {
                if let Some(f) = fresh.as_mut() {
                    f.insert(p.uid().unwrap_or_default(), Arc::new(p));
                }
            }
            Ok(watcher::Event::InitDone) => {
                if let Some(f) = fresh.take() {
                    *pods.write().unwrap_or_else(|p| p.into_inner()) = f;
                }
                let _ = synced.send(true);
            }
            Ok(watcher::Event::Apply(p)) => {
                pods.write().unwrap_or_else(|p| p.into_inner()).insert(p.uid().unwrap_or_default(), Arc::new(p));
            }
            Ok(watcher::Event::Delete(p)) => {
                pods.write().unwrap_or_else(|p| p.into_inner()).remove(&p.uid().unwrap_or_default());
            }
            Err(e) => tracing::warn!(error = %e, "watching the node's pods"),
        }
    }
}

fn rule_of(obj: &DynamicObject) -> Option<Rule> {
    let (ns, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
    let spec = obj.data.get("spec").cloned().unwrap_or(Value::Null);
    let spec: rules::LogCollectorSpec = match serde_json::from_value(spec) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(rule = %format!("{ns}/{name}"), error = %e, "LogCollector spec not understood: not followed");
            return None;
        }
    };
    if let Err(e) = rules::validate(&spec) {
        tracing::warn!(rule = %format!("{ns}/{name}"), error = %e, "LogCollector not followed");
        return None;
    }
    Some(Rule { namespace: ns, name, spec })
}

/// Keeps `rules` equal to the cluster's valid LogCollectors.
pub async fn watch_rules(client: Client, rules_out: Rules, synced: watch::Sender<bool>) {
    let gvk = GroupVersionKind::gvk(rules::GROUP, rules::VERSION, rules::KIND);
    let ar = ApiResource::from_gvk_with_plural(&gvk, rules::PLURAL);
    let api: Api<DynamicObject> = Api::all_with(client, &ar);
    let mut fresh: Option<BTreeMap<(String, String), Rule>> = None;
    let mut stream = watcher(api, watcher::Config::default()).default_backoff().boxed();
    let key = |o: &DynamicObject| (o.namespace().unwrap_or_default(), o.name_any());
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(watcher::Event::Init) => fresh = Some(BTreeMap::new()),
            Ok(watcher::Event::InitApply(o)) => {
                if let (Some(f), Some(r)) = (fresh.as_mut(), rule_of(&o)) {
                    f.insert(key(&o), r);
                }
            }
            Ok(watcher::Event::InitDone) => {
                if let Some(f) = fresh.take() {
                    tracing::info!(rules = f.len(), "collection rules loaded");
                    *rules_out.write().unwrap_or_else(|p| p.into_inner()) = f;
                }
                let _ = synced.send(true);
            }
            Ok(watcher::Event::Apply(o)) => {
                let mut g = rules_out.write().unwrap_or_else(|p| p.into_inner());
                match rule_of(&o) {
                    Some(r) => {
                        tracing::info!(rule = %format!("{}/{}", r.namespace, r.name), "collection rule applied");
                        g.insert(key(&o), r);
                    }
                    None => {
                        g.remove(&key(&o));
                    }
                }
            }
            Ok(watcher::Event::Delete(o)) => {
                rules_out.write().unwrap_or_else(|p| p.into_inner()).remove(&key(&o));
            }
            Err(e) => tracing::warn!(error = %e, "watching LogCollectors (is the CRD installed?)"),
        }
    }
}

/// The workload a pod belongs to, from its owner (a ReplicaSet's Deployment is its name less
/// the pod-template hash).
pub fn workload_of(pod: &Pod) -> Option<WorkloadRef> {
    let owner = pod.metadata.owner_references.as_ref()?.iter().find(|o| o.controller == Some(true))?;
    let (name, kind) = match owner.kind.as_str() {
        "ReplicaSet" => match owner.name.rsplit_once('-') {
            Some((deploy, _hash)) => (deploy.to_string(), "deployment"),
            None => (owner.name.clone(), "replicaset"),
        },
        "StatefulSet" => (owner.name.clone(), "statefulset"),
        "DaemonSet" => (owner.name.clone(), "daemonset"),
        "Job" => (owner.name.clone(), "job"),
        _ => return None,
    };
    Some(WorkloadRef { name, kind: kind.into() })
}

/// Where the agent finds things on the node.
#[derive(Clone, Debug)]
pub struct Layout {
    pub node: String,
    pub pods_dir: PathBuf,
    pub kubelet_root: PathBuf,
    pub host_root: PathBuf,
}

impl Layout {
    /// `<host-root><abs>`.
    pub fn host_path(&self, abs: &str) -> PathBuf {
        self.host_root.join(abs.trim_start_matches('/'))
    }
}

/// `<namespace>_<pod>_<uid>` of a pod log directory.
pub fn parse_pod_dir(name: &str) -> Option<(&str, &str, &str)> {
    let (ns, rest) = name.split_once('_')?;
    let (pod, uid) = rest.rsplit_once('_')?;
    (!ns.is_empty() && !pod.is_empty() && !uid.is_empty()).then_some((ns, pod, uid))
}

/// The node directory holding the in-container directory `dir` of `container`, if on a volume
/// that lives in a known place.
pub fn container_dir_on_node(layout: &Layout, pod: &Pod, container: &str, dir: &str) -> Result<PathBuf, String> {
    let spec = pod.spec.as_ref().ok_or("the pod has no spec")?;
    let c = spec.containers.iter().find(|c| c.name == container).ok_or(format!("no container {container}"))?;
    let mounts = c.volume_mounts.as_deref().unwrap_or_default();
    let under = |mount: &str| {
        let m = mount.trim_end_matches('/');
        dir == m || dir.starts_with(&format!("{m}/"))
    };
    let mount = mounts
        .iter()
        .filter(|m| under(&m.mount_path))
        .max_by_key(|m| m.mount_path.len())
        .ok_or(format!("{dir} is on no volume of container {container}: logs must live on a volume"))?;
    let vol = spec
        .volumes
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|v| v.name == mount.name)
        .ok_or(format!("volume {} is not in the pod", mount.name))?;
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    let root = if vol.empty_dir.is_some() {
        layout.kubelet_root.join("pods").join(uid).join("volumes/kubernetes.io~empty-dir").join(&vol.name)
    } else if let Some(hp) = &vol.host_path {
        layout.host_path(&hp.path)
    } else {
        return Err(format!("volume {} is neither emptyDir nor hostPath", vol.name));
    };
    let mut out = root;
    if let Some(sub) = mount.sub_path.as_deref().filter(|s| !s.is_empty()) {
        out = out.join(sub);
    }
    let rest = dir[mount.mount_path.trim_end_matches('/').len()..].trim_start_matches('/');
    if rest.split('/').any(|c| c == "..") {
        return Err(format!("{dir} leaves its volume"));
    }
    Ok(if rest.is_empty() { out } else { out.join(rest) })
}

fn prefix(fields: Map<String, Value>) -> Arc<str> {
    let s = Value::Object(fields).to_string();
    Arc::from(&s[..s.len() - 1])
}

fn pod_fields(
    layout: &Layout,
    ns: &str,
    name: &str,
    uid: &str,
    container: &str,
    pod: Option<&Pod>,
    file: &Path,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("node".into(), json!(layout.node));
    m.insert("namespace".into(), json!(ns));
    m.insert("pod".into(), json!(name));
    m.insert("pod_uid".into(), json!(uid));
    m.insert("container".into(), json!(container));
    if let Some(p) = pod {
        m.insert("labels".into(), json!(p.metadata.labels.clone().unwrap_or_default()));
        m.insert("annotations".into(), json!(p.metadata.annotations.clone().unwrap_or_default()));
    }
    m.insert("file".into(), json!(file.to_string_lossy()));
    m
}

fn glob_files(pattern: &Path) -> Vec<PathBuf> {
    let Some(p) = pattern.to_str() else { return vec![] };
    match glob::glob(p) {
        Ok(paths) => paths.flatten().filter(|p| p.is_file()).collect(),
        Err(e) => {
            tracing::warn!(pattern = p, error = %e, "bad glob");
            vec![]
        }
    }
}

fn is_cri_log(name: &str) -> bool {
    name.strip_suffix(".log").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// One wanted path.
pub struct Want {
    /// A container's stdout whose pod the watch has not delivered yet (its labels would be
    /// missing): started only if the pod stays unknown for [`UNKNOWN_POD_GRACE`].
    pub unknown_pod: bool,
    pub path: PathBuf,
    pub format: Format,
    pub dest: u32,
    pub prefix: Arc<str>,
}

/// Every path the rules want now, by checkpoint key.
pub fn wanted(
    layout: &Layout,
    rules: &[Rule],
    pods: &HashMap<String, Arc<Pod>>,
    outputs: &Outputs,
) -> BTreeMap<String, Want> {
    let mut out = BTreeMap::new();
    let dest = |r: &Rule| match outputs.id(&r.spec.output) {
        Ok(d) => Some(d),
        Err(e) => {
            tracing::warn!(rule = %format!("{}/{}", r.namespace, r.name), error = %e, "output not usable");
            None
        }
    };
    let key = |r: &Rule, p: &Path| format!("{}/{}|{}", r.namespace, r.name, p.display());
    // Containers' stdout.
    let stdout_rules: Vec<&Rule> = rules.iter().filter(|r| r.spec.input.kind == "container-log").collect();
    if !stdout_rules.is_empty()
        && let Ok(entries) = std::fs::read_dir(&layout.pods_dir)
    {
        for e in entries.flatten() {
            let dir_name = e.file_name().to_string_lossy().to_string();
            let Some((ns, name, uid)) = parse_pod_dir(&dir_name) else { continue };
            let pod = pods.get(uid).map(|p| p.as_ref());
            let workload = pod.and_then(workload_of);
            let matching: Vec<&&Rule> = stdout_rules.iter().filter(|r| r.wants_stdout(ns, workload.as_ref())).collect();
            if matching.is_empty() {
                continue;
            }
            let Ok(containers) = std::fs::read_dir(e.path()) else { continue };
            for c in containers.flatten() {
                let container = c.file_name().to_string_lossy().to_string();
                let Ok(files) = std::fs::read_dir(c.path()) else { continue };
                for f in files.flatten() {
                    if !is_cri_log(&f.file_name().to_string_lossy()) {
                        continue;
                    }
                    let path = f.path();
                    for r in &matching {
                        let Some(d) = dest(r) else { continue };
                        let p = prefix(pod_fields(layout, ns, name, uid, &container, pod, &path));
                        out.insert(
                            key(r, &path),
                            Want {
                                unknown_pod: pod.is_none(),
                                path: path.clone(),
                                format: Format::Cri,
                                dest: d,
                                prefix: p,
                            },
                        );
                    }
                }
            }
        }
    }
    // Files inside containers.
    let pod_rules: Vec<&Rule> = rules.iter().filter(|r| r.spec.input.kind == "pod-log").collect();
    if !pod_rules.is_empty() {
        for pod in pods.values() {
            let (ns, name, uid) = (
                pod.metadata.namespace.as_deref().unwrap_or_default(),
                pod.metadata.name.as_deref().unwrap_or_default(),
                pod.metadata.uid.as_deref().unwrap_or_default(),
            );
            let workload = workload_of(pod);
            for c in pod.spec.as_ref().map(|s| s.containers.as_slice()).unwrap_or_default() {
                for r in &pod_rules {
                    for dir in r.pod_paths(ns, workload.as_ref(), &c.name) {
                        let node_dir = match container_dir_on_node(layout, pod, &c.name, dir.trim_end_matches('/')) {
                            Ok(d) => d,
                            Err(e) => {
                                tracing::debug!(pod = %format!("{ns}/{name}"), error = %e, "in-container path not collected");
                                continue;
                            }
                        };
                        let pattern = if dir.ends_with('/') { node_dir.join("*") } else { node_dir };
                        let Some(d) = dest(r) else { continue };
                        for path in glob_files(&pattern) {
                            let p = prefix(pod_fields(layout, ns, name, uid, &c.name, Some(pod), &path));
                            out.insert(
                                key(r, &path),
                                Want { unknown_pod: false, path, format: Format::Plain, dest: d, prefix: p },
                            );
                        }
                    }
                }
            }
        }
    }
    // Host files.
    for r in rules.iter().filter(|r| r.spec.input.kind == "host-log") {
        let Some(h) = &r.spec.input.host_log_input else { continue };
        let Some(d) = dest(r) else { continue };
        for path in glob_files(&layout.host_path(&h.path)) {
            let mut m = Map::new();
            m.insert("node".into(), json!(layout.node));
            m.insert("labels".into(), json!(h.labels));
            m.insert("file".into(), json!(path.to_string_lossy()));
            out.insert(
                key(r, &path),
                Want { unknown_pod: false, path, format: Format::Plain, dest: d, prefix: prefix(m) },
            );
        }
    }
    out
}

/// How long a container log waits for its pod to show up in the watch.
pub const UNKNOWN_POD_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

struct Running {
    cmd: watch::Sender<Command>,
    task: JoinHandle<()>,
    prefix: Arc<RwLock<Arc<str>>>,
    rule: String,
}

/// Starts, updates and stops the readers to match [`wanted`].
pub struct Readers {
    running: HashMap<String, Running>,
    /// When paths of not-yet-known pods were first seen.
    waiting: HashMap<String, std::time::Instant>,
    shared: Arc<Shared>,
}

impl Readers {
    pub fn new(shared: Arc<Shared>) -> Readers {
        Readers { running: HashMap::new(), waiting: HashMap::new(), shared }
    }

    pub fn reconcile(&mut self, wanted: BTreeMap<String, Want>, live_rules: &HashSet<String>) {
        self.running.retain(|_, r| !r.task.is_finished());
        self.waiting.retain(|k, _| wanted.get(k).is_some_and(|w| w.unknown_pod));
        for (key, r) in &self.running {
            if wanted.contains_key(key) {
                continue;
            }
            let c = if live_rules.contains(&r.rule) { Command::Finish } else { Command::Abort };
            if *r.cmd.borrow() != c {
                let _ = r.cmd.send(c);
            }
        }
        for (key, w) in wanted {
            if let Some(r) = self.running.get(&key) {
                let mut p = r.prefix.write().unwrap_or_else(|p| p.into_inner());
                if **p != *w.prefix {
                    *p = w.prefix;
                }
                continue;
            }
            if w.unknown_pod {
                let since = *self.waiting.entry(key.clone()).or_insert_with(std::time::Instant::now);
                if since.elapsed() < UNKNOWN_POD_GRACE {
                    continue;
                }
                tracing::info!(path = %w.path.display(), "the pod of this log is not known to the API: collected without its labels");
            }
            let rule = key.split('|').next().unwrap_or_default().to_string();
            let (tx, rx) = watch::channel(Command::Run);
            let prefix = Arc::new(RwLock::new(w.prefix));
            let spec = StreamSpec {
                key: Arc::from(key.as_str()),
                path: w.path,
                format: w.format,
                dest: w.dest,
                prefix: prefix.clone(),
            };
            tracing::info!(path = %spec.path.display(), rule = %rule, "reading");
            let task = tokio::spawn(tail::run(spec, self.shared.clone(), rx));
            self.running.insert(key, Running { cmd: tx, task, prefix, rule });
        }
    }

    pub fn abort_all(&mut self) {
        for r in self.running.values() {
            let _ = r.cmd.send(Command::Abort);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_dirs_and_cri_names() {
        assert_eq!(parse_pod_dir("default_web-7d9f_1234-abcd"), Some(("default", "web-7d9f", "1234-abcd")));
        assert_eq!(parse_pod_dir("my_pod_name_uid"), Some(("my", "pod_name", "uid")));
        assert_eq!(parse_pod_dir("nounderscore"), None);
        assert!(is_cri_log("0.log") && is_cri_log("12.log"));
        assert!(!is_cri_log("0.log.20261207-220000") && !is_cri_log(".log") && !is_cri_log("app.log"));
    }

    #[test]
    fn in_container_dirs_map_to_their_volumes() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web-1", "namespace": "apps", "uid": "u1",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5f7c9", "uid": "x", "controller": true}]},
            "spec": {"containers": [{"name": "app", "image": "i", "volumeMounts": [
                {"name": "logs", "mountPath": "/data/logs"},
                {"name": "host", "mountPath": "/var/app", "subPath": "a"}]}],
             "volumes": [{"name": "logs", "emptyDir": {}}, {"name": "host", "hostPath": {"path": "/srv/app"}}]}
        }))
        .expect("pod");
        let layout = Layout {
            node: "n".into(),
            pods_dir: "/var/log/pods".into(),
            kubelet_root: "/var/lib/kubelet".into(),
            host_root: "/host".into(),
        };
        assert_eq!(
            container_dir_on_node(&layout, &pod, "app", "/data/logs/nginx"),
            Ok(PathBuf::from("/var/lib/kubelet/pods/u1/volumes/kubernetes.io~empty-dir/logs/nginx"))
        );
        assert_eq!(container_dir_on_node(&layout, &pod, "app", "/var/app"), Ok(PathBuf::from("/host/srv/app/a")));
        assert!(container_dir_on_node(&layout, &pod, "app", "/tmp").expect_err("not on a volume").contains("volume"));
        assert!(container_dir_on_node(&layout, &pod, "app", "/data/logs/../../etc").is_err());
        assert_eq!(workload_of(&pod), Some(WorkloadRef { name: "web".into(), kind: "deployment".into() }));
    }
}
