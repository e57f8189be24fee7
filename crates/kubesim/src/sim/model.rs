//! The pure part of the simulator: what a node, a running pod, a workload's pods and a
//! workload's status look like, computed from the objects alone so every rule is unit-tested
//! without a cluster. The controllers in the sibling modules only read, call these and write.

use std::collections::BTreeMap;

use apimachinery::quantity::{format_milli, milli_units as milli};
use k8s_openapi::{
    api::{apps::v1 as apps, coordination::v1 as coordination, core::v1 as core},
    apimachinery::pkg::{
        api::resource::Quantity,
        apis::meta::v1::{LabelSelector, MicroTime, ObjectMeta, OwnerReference, Time},
        util::intstr::IntOrString,
    },
    jiff::Timestamp,
};
use kube::Resource;

use super::SimConfig;

/// The label a Deployment's ReplicaSets and pods carry with their template's hash.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// The label DaemonSet and StatefulSet pods carry with their revision.
pub const CONTROLLER_REVISION_HASH: &str = "controller-revision-hash";
/// The revision annotation of Deployments and their ReplicaSets.
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";

pub fn now() -> Time {
    Time(Timestamp::now())
}

// ----- hashing and selectors ------------------------------------------------------------

/// A short, stable, DNS-safe hash of a pod template (Kubernetes' `pod-template-hash` plays the
/// same role): FNV-1a over the template's JSON, spelled in an alphabet without vowels.
pub fn template_hash(template: &core::PodTemplateSpec) -> String {
    let bytes = serde_json::to_vec(template).unwrap_or_default();
    let mut hash: u32 = 0x811c_9dc5;
    for b in bytes {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut out = String::new();
    let mut n = hash;
    for _ in 0..10 {
        out.push(ALPHABET[(n % ALPHABET.len() as u32) as usize] as char);
        n /= ALPHABET.len() as u32;
    }
    out
}

/// A label selector in the query-string form (`app=web,tier in (a,b),!legacy`).
pub fn selector_string(selector: &LabelSelector) -> String {
    let mut parts: Vec<String> = selector.match_labels.iter().flatten().map(|(k, v)| format!("{k}={v}")).collect();
    for e in selector.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            _ => format!("!{}", e.key),
        });
    }
    parts.join(",")
}

// ----- ownership --------------------------------------------------------------------------

/// The controller reference an owner puts on what it creates.
pub fn controller_ref<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    let meta = owner.meta();
    OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Whether `meta` names `uid` as its controller.
pub fn controlled_by(meta: &ObjectMeta, uid: &str) -> bool {
    meta.owner_references.iter().flatten().any(|r| r.controller == Some(true) && r.uid == uid)
}

/// A pod of a workload: the template's labels, annotations and spec with the controller
/// reference and the extra labels the workload adds.
pub fn pod_from_template(
    template: &core::PodTemplateSpec,
    namespace: &str,
    owner: OwnerReference,
    extra_labels: &[(&str, &str)],
) -> core::Pod {
    let tmeta = template.metadata.clone().unwrap_or_default();
    let mut labels = tmeta.labels.unwrap_or_default();
    for (k, v) in extra_labels {
        labels.insert((*k).into(), (*v).into());
    }
    core::Pod {
        metadata: ObjectMeta {
            namespace: Some(namespace.into()),
            labels: Some(labels),
            annotations: tmeta.annotations,
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

// ----- pods -------------------------------------------------------------------------------

fn is_true(s: &str) -> bool {
    s == "True"
}

/// A pod that counts for its workload: not being deleted and not finished.
pub fn pod_active(pod: &core::Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("");
    pod.metadata.deletion_timestamp.is_none() && phase != "Succeeded" && phase != "Failed"
}

/// Whether the pod's Ready condition is True.
pub fn pod_ready(pod: &core::Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && is_true(&c.status)))
}

/// How eagerly a pod is removed on scale-down: unscheduled, then pending, then not ready, then
/// ready; among equals the newest first (Kubernetes' ranking, simplified).
pub fn deletion_rank(pod: &core::Pod) -> (u8, std::cmp::Reverse<Option<Timestamp>>) {
    let scheduled = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_some_and(|n| !n.is_empty());
    let running = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
    let rank = match (scheduled, running, pod_ready(pod)) {
        (false, _, _) => 0,
        (true, false, _) => 1,
        (true, true, false) => 2,
        (true, true, true) => 3,
    };
    (rank, std::cmp::Reverse(pod.metadata.creation_timestamp.as_ref().map(|t| t.0)))
}

/// The status a kubelet reports once the pod's containers run: phase Running, all conditions
/// True, every container running and ready, the host's and the pod's IP.
pub fn running_status(pod: &core::Pod, host_ip: &str, pod_ip: &str, at: &Time) -> core::PodStatus {
    let spec = pod.spec.clone().unwrap_or_default();
    let old = pod.status.clone().unwrap_or_default();
    let cond = |t: &str| core::PodCondition {
        type_: t.into(),
        status: "True".into(),
        last_transition_time: Some(at.clone()),
        ..Default::default()
    };
    let running = |c: &core::Container| core::ContainerStatus {
        name: c.name.clone(),
        image: c.image.clone().unwrap_or_default(),
        image_id: format!("docker.io/library/{}", c.image.clone().unwrap_or_default()),
        container_id: Some(format!("containerd://{}", container_id(pod, &c.name))),
        ready: true,
        started: Some(true),
        restart_count: 0,
        state: Some(core::ContainerState {
            running: Some(core::ContainerStateRunning { started_at: Some(at.clone()) }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let terminated = |c: &core::Container| core::ContainerStatus {
        name: c.name.clone(),
        image: c.image.clone().unwrap_or_default(),
        image_id: format!("docker.io/library/{}", c.image.clone().unwrap_or_default()),
        container_id: Some(format!("containerd://{}", container_id(pod, &c.name))),
        ready: false,
        started: Some(false),
        restart_count: 0,
        state: Some(core::ContainerState {
            terminated: Some(core::ContainerStateTerminated {
                exit_code: 0,
                reason: Some("Completed".into()),
                started_at: Some(at.clone()),
                finished_at: Some(at.clone()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    core::PodStatus {
        phase: Some("Running".into()),
        conditions: Some(vec![
            cond("PodReadyToStartContainers"),
            cond("Initialized"),
            cond("Ready"),
            cond("ContainersReady"),
            cond("PodScheduled"),
        ]),
        container_statuses: Some(spec.containers.iter().map(running).collect()),
        init_container_statuses: spec.init_containers.as_ref().map(|cs| cs.iter().map(terminated).collect()),
        host_ip: Some(host_ip.into()),
        host_ips: Some(vec![core::HostIP { ip: host_ip.into() }]),
        pod_ip: Some(pod_ip.into()),
        pod_ips: Some(vec![core::PodIP { ip: pod_ip.into() }]),
        start_time: Some(at.clone()),
        qos_class: old.qos_class.or_else(|| Some(crate::strategy::qos_class(&spec).into())),
        ..Default::default()
    }
}

fn container_id(pod: &core::Pod, container: &str) -> String {
    // Stable per pod and container, 64 hex digits like containerd's.
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let mut out = String::new();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for round in 0..4u8 {
        for b in uid.bytes().chain(container.bytes()).chain([round]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        out.push_str(&format!("{h:016x}"));
    }
    out
}

// ----- nodes ------------------------------------------------------------------------------

/// The name of the `index`th simulated node.
pub fn node_name(config: &SimConfig, index: usize) -> String {
    format!("{}-{index}", config.node_prefix)
}

/// The internal IP of the `index`th node (`172.18.0.2` onwards).
pub fn node_ip(index: usize) -> String {
    format!("172.18.{}.{}", index / 250, index % 250 + 2)
}

/// The pod IP with sequence number `seq` on the `index`th node (its podCIDR `10.244.index.0/24`).
pub fn pod_ip(node_index: usize, seq: usize) -> String {
    format!("10.{}.{}.{}", 244 + node_index / 256, node_index % 256, seq % 253 + 2)
}

/// The index of a simulated node from its name, if it is one of ours.
pub fn node_index(config: &SimConfig, name: &str) -> Option<usize> {
    name.strip_prefix(&config.node_prefix)?.strip_prefix('-')?.parse().ok()
}

/// A node as a kubelet registers it: labels, pod CIDR, and no status yet.
pub fn node(config: &SimConfig, index: usize) -> core::Node {
    let name = node_name(config, index);
    let mut labels: BTreeMap<String, String> = [
        ("kubernetes.io/hostname", name.as_str()),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
        ("beta.kubernetes.io/os", "linux"),
        ("beta.kubernetes.io/arch", "amd64"),
        ("type", "kwok"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if index == 0 && config.control_plane {
        labels.insert("node-role.kubernetes.io/control-plane".into(), String::new());
    }
    let cidr = format!("10.{}.{}.0/24", 244 + index / 256, index % 256);
    core::Node {
        metadata: ObjectMeta {
            name: Some(name),
            labels: Some(labels),
            annotations: Some([("node.alpha.kubernetes.io/ttl".to_string(), "0".to_string())].into()),
            ..Default::default()
        },
        spec: Some(core::NodeSpec { pod_cidr: Some(cidr.clone()), pod_cidrs: Some(vec![cidr]), ..Default::default() }),
        status: None,
    }
}

/// A node's status as its kubelet reports it: capacity, the four conditions with Ready last,
/// addresses and system info. `previous` keeps transition times stable across heartbeats.
pub fn node_status(
    config: &SimConfig,
    index: usize,
    previous: Option<&core::NodeStatus>,
    at: &Time,
) -> core::NodeStatus {
    let capacity: BTreeMap<String, Quantity> = [
        ("cpu", config.node_cpu.as_str()),
        ("memory", config.node_memory.as_str()),
        ("pods", config.node_pods.as_str()),
        ("ephemeral-storage", "100Gi"),
        ("hugepages-2Mi", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
    .collect();
    let transition = |t: &str| {
        previous
            .and_then(|p| p.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == t))
            .and_then(|c| c.last_transition_time.clone())
            .unwrap_or_else(|| at.clone())
    };
    let cond = |t: &str, status: &str, reason: &str, message: &str| core::NodeCondition {
        type_: t.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_heartbeat_time: Some(at.clone()),
        last_transition_time: Some(transition(t)),
    };
    let name = node_name(config, index);
    core::NodeStatus {
        capacity: Some(capacity.clone()),
        allocatable: Some(capacity),
        conditions: Some(vec![
            cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ]),
        addresses: Some(vec![
            core::NodeAddress { type_: "InternalIP".into(), address: node_ip(index) },
            core::NodeAddress { type_: "Hostname".into(), address: name.clone() },
        ]),
        daemon_endpoints: Some(core::NodeDaemonEndpoints {
            kubelet_endpoint: Some(core::DaemonEndpoint { port: 10250 }),
        }),
        node_info: Some(core::NodeSystemInfo {
            architecture: "amd64".into(),
            boot_id: format!("{:0>32}", index),
            container_runtime_version: "containerd://1.7.24".into(),
            kernel_version: "6.1.0-kwok".into(),
            kube_proxy_version: config.kubelet_version.clone(),
            kubelet_version: config.kubelet_version.clone(),
            machine_id: format!("{:0>32}", index),
            operating_system: "linux".into(),
            os_image: "Debian GNU/Linux 12 (bookworm)".into(),
            system_uuid: format!("{:0>32}", index),
            ..Default::default()
        }),
        phase: None,
        ..Default::default()
    }
}

/// Whether a node is Ready and schedulable.
pub fn node_schedulable(node: &core::Node) -> bool {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && is_true(&c.status)));
    ready && !node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false)
}

/// Whether the pod template's nodeSelector admits the node.
pub fn node_selected(template: &core::PodTemplateSpec, node: &core::Node) -> bool {
    let labels = node.metadata.labels.clone().unwrap_or_default();
    template
        .spec
        .as_ref()
        .and_then(|s| s.node_selector.as_ref())
        .is_none_or(|sel| sel.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

/// The node's heartbeat Lease in `kube-node-lease`, owned by the node.
pub fn node_lease(node: &core::Node, at: &Timestamp, duration_seconds: i32) -> coordination::Lease {
    let name = node.metadata.name.clone().unwrap_or_default();
    coordination::Lease {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some("kube-node-lease".into()),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "Node".into(),
                name: name.clone(),
                uid: node.metadata.uid.clone().unwrap_or_default(),
                controller: None,
                block_owner_deletion: None,
            }]),
            ..Default::default()
        },
        spec: Some(coordination::LeaseSpec {
            holder_identity: Some(name),
            lease_duration_seconds: Some(duration_seconds),
            renew_time: Some(MicroTime(*at)),
            ..Default::default()
        }),
    }
}

// ----- workload status --------------------------------------------------------------------

/// Resolves an int-or-percent against a total (`25%` of 4 is 1 rounded down, as maxUnavailable).
pub fn resolve(value: Option<&IntOrString>, total: i32, round_up: bool) -> i32 {
    match value {
        None => 0,
        Some(IntOrString::Int(n)) => *n,
        Some(IntOrString::String(s)) => {
            let pct: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            let scaled = pct * i64::from(total);
            (if round_up { (scaled + 99) / 100 } else { scaled / 100 }) as i32
        }
    }
}

/// Counts of a set of pods.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PodCounts {
    pub total: i32,
    pub ready: i32,
}

pub fn count(pods: &[&core::Pod]) -> PodCounts {
    PodCounts { total: pods.len() as i32, ready: pods.iter().filter(|p| pod_ready(p)).count() as i32 }
}

/// A ReplicaSet's status from its active pods (minReadySeconds is not simulated: ready is
/// available).
pub fn replica_set_status(rs: &apps::ReplicaSet, pods: &[&core::Pod]) -> apps::ReplicaSetStatus {
    let c = count(pods);
    apps::ReplicaSetStatus {
        replicas: c.total,
        fully_labeled_replicas: Some(c.total),
        ready_replicas: Some(c.ready),
        available_replicas: Some(c.ready),
        terminating_replicas: Some(0),
        observed_generation: rs.metadata.generation,
        conditions: None,
    }
}

fn keep_times(
    old: Option<&apps::DeploymentCondition>,
    mut new: apps::DeploymentCondition,
) -> apps::DeploymentCondition {
    if let Some(o) = old
        && o.status == new.status
    {
        new.last_transition_time = o.last_transition_time.clone();
        if o.reason == new.reason && o.message == new.message {
            new.last_update_time = o.last_update_time.clone();
        }
    }
    new
}

/// A Deployment's status from its ReplicaSets (`new_rs` is the one of the current template).
pub fn deployment_status(
    d: &apps::Deployment,
    new_rs: Option<&apps::ReplicaSet>,
    all: &[&apps::ReplicaSet],
    at: &Time,
) -> apps::DeploymentStatus {
    let desired = d.spec.replicas.unwrap_or(1);
    let st = |rs: &apps::ReplicaSet| rs.status.clone().unwrap_or_default();
    let replicas: i32 = all.iter().map(|rs| st(rs).replicas).sum();
    let ready: i32 = all.iter().map(|rs| st(rs).ready_replicas.unwrap_or(0)).sum();
    let available: i32 = all.iter().map(|rs| st(rs).available_replicas.unwrap_or(0)).sum();
    let updated = new_rs.map(|rs| st(rs).replicas).unwrap_or(0);
    let max_unavailable = d
        .spec
        .strategy
        .as_ref()
        .and_then(|s| s.rolling_update.as_ref())
        .map(|ru| resolve(ru.max_unavailable.as_ref(), desired, false))
        .unwrap_or(0);
    let old = d.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    let find = |t: &str| old.iter().find(|c| c.type_.as_deref() == Some(t));
    let rs_name = new_rs.and_then(|rs| rs.metadata.name.clone()).unwrap_or_default();
    let minimum = available >= desired - max_unavailable;
    let available_cond = keep_times(
        find("Available"),
        apps::DeploymentCondition {
            type_: Some("Available".into()),
            status: Some(if minimum { "True" } else { "False" }.into()),
            reason: Some(if minimum { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" }.into()),
            message: Some(
                if minimum {
                    "Deployment has minimum availability."
                } else {
                    "Deployment does not have minimum availability."
                }
                .into(),
            ),
            last_transition_time: Some(at.clone()),
            last_update_time: Some(at.clone()),
        },
    );
    let complete = updated == desired && replicas == desired && available >= desired;
    let progressing_cond = keep_times(
        find("Progressing"),
        apps::DeploymentCondition {
            type_: Some("Progressing".into()),
            status: Some("True".into()),
            reason: Some(if complete { "NewReplicaSetAvailable" } else { "ReplicaSetUpdated" }.into()),
            message: Some(if complete {
                format!("ReplicaSet \"{rs_name}\" has successfully progressed.")
            } else {
                format!("ReplicaSet \"{rs_name}\" is progressing.")
            }),
            last_transition_time: Some(at.clone()),
            last_update_time: Some(at.clone()),
        },
    );
    apps::DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: Some(replicas),
        updated_replicas: Some(updated),
        ready_replicas: Some(ready),
        available_replicas: Some(available),
        unavailable_replicas: Some((desired - available).max(0)),
        terminating_replicas: Some(0),
        conditions: Some(vec![available_cond, progressing_cond]),
        collision_count: None,
    }
}

/// Whether two statuses differ in anything but condition timestamps (avoids needless writes).
pub fn differs<T: serde::Serialize>(a: &T, b: &T) -> bool {
    serde_json::to_value(a).ok() != serde_json::to_value(b).ok()
}

// ----- resource quotas --------------------------------------------------------------------

/// The quota resources the simulator counts from pods: `pods`, and the compute requests
/// (`requests.cpu` and its short form `cpu`, the same for memory) and limits.
pub const POD_QUOTA_RESOURCES: &[&str] =
    &["pods", "cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"];

/// What one pod asks for of `resource` (`requests` or `limits`) `name`, in thousandths: the
/// larger of its containers' sum and its largest init container (init containers run one at a
/// time, before the others), plus the pod's overhead, as Kubernetes' quota counts it.
fn pod_amount(spec: &core::PodSpec, limits: bool, name: &str) -> i128 {
    let of = |c: &core::Container| -> i128 {
        let r = c.resources.as_ref();
        let list = if limits { r.and_then(|r| r.limits.as_ref()) } else { r.and_then(|r| r.requests.as_ref()) };
        list.and_then(|l| l.get(name)).and_then(|q| milli(&q.0)).unwrap_or(0)
    };
    let sum: i128 = spec.containers.iter().map(of).sum();
    let init = spec.init_containers.iter().flatten().map(of).max().unwrap_or(0);
    let overhead = spec.overhead.as_ref().and_then(|o| o.get(name)).and_then(|q| milli(&q.0)).unwrap_or(0);
    sum.max(init) + overhead
}

/// `status.used` of a quota with `hard` over the namespace's pods: every resource of `hard`
/// the simulator counts ([`POD_QUOTA_RESOURCES`]), from the pods that still run or may run
/// (neither finished nor being deleted). Resources it does not count are left out, as a
/// cluster without their evaluator does.
pub fn quota_used(hard: &BTreeMap<String, Quantity>, pods: &[core::Pod]) -> BTreeMap<String, Quantity> {
    let active: Vec<&core::PodSpec> = pods.iter().filter(|p| pod_active(p)).filter_map(|p| p.spec.as_ref()).collect();
    hard.keys()
        .filter(|k| POD_QUOTA_RESOURCES.contains(&k.as_str()))
        .map(|k| {
            let total: i128 = match k.as_str() {
                // A count, printed as one (never `1Ki`).
                "pods" => return (k.clone(), Quantity(active.len().to_string())),
                other => {
                    let (limits, name) = match other.split_once('.') {
                        Some(("limits", n)) => (true, n),
                        Some((_, n)) => (false, n),
                        None => (false, other),
                    };
                    active.iter().map(|s| pod_amount(s, limits, name)).sum()
                }
            };
            (k.clone(), Quantity(format_milli(total)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(image: &str) -> core::PodTemplateSpec {
        core::PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some([("app".to_string(), "web".to_string())].into()),
                ..Default::default()
            }),
            spec: Some(core::PodSpec {
                containers: vec![core::Container { name: "c".into(), image: Some(image.into()), ..Default::default() }],
                ..Default::default()
            }),
        }
    }

    #[test]
    fn template_hashes_are_stable_safe_and_change_with_the_template() {
        let a = template_hash(&template("nginx:1"));
        assert_eq!(a, template_hash(&template("nginx:1")));
        assert_ne!(a, template_hash(&template("nginx:2")));
        assert_eq!(a.len(), 10);
        assert!(a.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        assert!(!a.contains(['a', 'e', 'i', 'o', 'u']));
    }

    #[test]
    fn selectors_render_as_query_strings() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement as R;
        let sel = LabelSelector {
            match_labels: Some([("app".to_string(), "web".to_string())].into()),
            match_expressions: Some(vec![
                R { key: "tier".into(), operator: "In".into(), values: Some(vec!["a".into(), "b".into()]) },
                R { key: "legacy".into(), operator: "DoesNotExist".into(), values: None },
            ]),
        };
        assert_eq!(selector_string(&sel), "app=web,tier in (a,b),!legacy");
    }

    fn pod(name: &str, node: Option<&str>, phase: &str, ready: bool, created: i64) -> core::Pod {
        let mut p = pod_from_template(
            &template("x"),
            "default",
            OwnerReference { uid: "u1".into(), controller: Some(true), ..Default::default() },
            &[],
        );
        p.metadata.name = Some(name.into());
        p.metadata.creation_timestamp = Some(Time(Timestamp::from_second(created).unwrap()));
        p.spec.as_mut().unwrap().node_name = node.map(str::to_string);
        let at = now();
        p.status = Some(if ready {
            running_status(&p, "1.1.1.1", "10.0.0.1", &at)
        } else {
            core::PodStatus { phase: Some(phase.into()), ..Default::default() }
        });
        p
    }

    #[test]
    fn pods_from_templates_are_owned_and_labelled() {
        let p = pod_from_template(
            &template("x"),
            "ns",
            OwnerReference { uid: "u1".into(), controller: Some(true), ..Default::default() },
            &[(POD_TEMPLATE_HASH, "h")],
        );
        assert!(controlled_by(&p.metadata, "u1"));
        assert!(!controlled_by(&p.metadata, "u2"));
        assert_eq!(p.metadata.labels.as_ref().unwrap()[POD_TEMPLATE_HASH], "h");
        assert_eq!(p.metadata.labels.as_ref().unwrap()["app"], "web");
        assert_eq!(p.metadata.namespace.as_deref(), Some("ns"));
    }

    #[test]
    fn running_pods_are_ready_with_ips() {
        let p = pod("a", Some("n"), "", true, 1);
        assert!(pod_ready(&p));
        assert!(pod_active(&p));
        let s = p.status.unwrap();
        assert_eq!(s.pod_ip.as_deref(), Some("10.0.0.1"));
        assert!(s.container_statuses.unwrap()[0].ready);
        let pending = pod("b", None, "Pending", false, 1);
        assert!(!pod_ready(&pending));
        assert!(!pod_active(&pod("c", Some("n"), "Succeeded", false, 1)));
    }

    #[test]
    fn scale_down_removes_unscheduled_then_pending_then_newest_ready() {
        let mut pods = [
            pod("ready-old", Some("n"), "", true, 1),
            pod("ready-new", Some("n"), "", true, 5),
            pod("pending", Some("n"), "Pending", false, 3),
            pod("unscheduled", None, "Pending", false, 2),
        ];
        pods.sort_by_key(deletion_rank);
        let order: Vec<_> = pods.iter().map(|p| p.metadata.name.clone().unwrap()).collect();
        assert_eq!(order, ["unscheduled", "pending", "ready-new", "ready-old"]);
    }

    #[test]
    fn nodes_are_ready_with_capacity_and_stable_transitions() {
        let config = SimConfig::default();
        let n = node(&config, 1);
        assert_eq!(n.metadata.name.as_deref(), Some("kwok-node-1"));
        assert_eq!(node_index(&config, "kwok-node-1"), Some(1));
        assert_eq!(node_index(&config, "other-1"), None);
        let t1 = Time(Timestamp::from_second(100).unwrap());
        let s1 = node_status(&config, 1, None, &t1);
        let conds = s1.conditions.clone().unwrap();
        assert_eq!(conds[3].type_, "Ready");
        assert_eq!(conds[3].status, "True");
        assert_eq!(s1.capacity.as_ref().unwrap()["pods"].0, config.node_pods);
        let t2 = Time(Timestamp::from_second(200).unwrap());
        let s2 = node_status(&config, 1, Some(&s1), &t2);
        let c2 = &s2.conditions.unwrap()[3];
        assert_eq!(c2.last_transition_time, Some(t1));
        assert_eq!(c2.last_heartbeat_time, Some(t2));
        let mut full = n.clone();
        full.status = Some(s1);
        assert!(node_schedulable(&full));
        assert!(!node_schedulable(&n));
        assert_eq!(pod_ip(1, 0), "10.244.1.2");
        assert_eq!(node_ip(0), "172.18.0.2");
    }

    #[test]
    fn percentages_resolve_like_kubernetes() {
        assert_eq!(resolve(Some(&IntOrString::String("25%".into())), 3, false), 0);
        assert_eq!(resolve(Some(&IntOrString::String("25%".into())), 3, true), 1);
        assert_eq!(resolve(Some(&IntOrString::Int(2)), 3, false), 2);
        assert_eq!(resolve(None, 3, false), 0);
    }

    fn rs(name: &str, replicas: i32, ready: i32) -> apps::ReplicaSet {
        apps::ReplicaSet {
            metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
            status: Some(apps::ReplicaSetStatus {
                replicas,
                ready_replicas: Some(ready),
                available_replicas: Some(ready),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn deployment_status_tracks_rollout() {
        let mut d = apps::Deployment {
            metadata: ObjectMeta { generation: Some(2), ..Default::default() },
            ..Default::default()
        };
        d.spec.replicas = Some(3);
        let new = rs("web-new", 3, 1);
        let old = rs("web-old", 1, 1);
        let at = now();
        let s = deployment_status(&d, Some(&new), &[&new, &old], &at);
        assert_eq!(
            (s.replicas, s.updated_replicas, s.available_replicas, s.observed_generation),
            (Some(4), Some(3), Some(2), Some(2))
        );
        let conds = s.conditions.clone().unwrap();
        assert_eq!(conds[0].status.as_deref(), Some("False"));
        assert_eq!(conds[1].reason.as_deref(), Some("ReplicaSetUpdated"));
        let done = rs("web-new", 3, 3);
        d.status = Some(s);
        let s2 = deployment_status(&d, Some(&done), &[&done], &at);
        let conds = s2.conditions.unwrap();
        assert_eq!(conds[0].status.as_deref(), Some("True"));
        assert_eq!(conds[1].reason.as_deref(), Some("NewReplicaSetAvailable"));
        assert_eq!(s2.unavailable_replicas, Some(0));
    }

    fn quota_pod(phase: &str, containers: &[(&str, &str, &str)], init: Option<(&str, &str)>) -> core::Pod {
        let q = |s: &str| Quantity(s.to_string());
        let container = |(cpu, mem, lim): (&str, &str, &str)| core::Container {
            name: "c".into(),
            resources: Some(core::ResourceRequirements {
                requests: Some([("cpu".to_string(), q(cpu)), ("memory".to_string(), q(mem))].into()),
                limits: (!lim.is_empty()).then(|| [("cpu".to_string(), q(lim))].into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        core::Pod {
            spec: Some(core::PodSpec {
                containers: containers.iter().map(|c| container(*c)).collect(),
                init_containers: init.map(|(cpu, mem)| vec![container((cpu, mem, ""))]),
                ..Default::default()
            }),
            status: Some(core::PodStatus { phase: Some(phase.into()), ..Default::default() }),
            ..Default::default()
        }
    }

    #[test]
    fn quota_usage_counts_the_running_pods_of_what_is_limited() {
        let hard: BTreeMap<String, Quantity> =
            ["pods", "requests.cpu", "cpu", "memory", "limits.cpu", "services", "limits.memory"]
                .iter()
                .map(|k| (k.to_string(), Quantity("100".into())))
                .collect();
        let mut deleting = quota_pod("Running", &[("1", "1Gi", "2")], None);
        deleting.metadata.deletion_timestamp = Some(now());
        let pods = vec![
            quota_pod("Running", &[("250m", "64Mi", "500m"), ("250m", "64Mi", "")], None),
            // The init container asks more than the containers together: it counts.
            quota_pod("Pending", &[("100m", "32Mi", "1")], Some(("2", "16Mi"))),
            quota_pod("Succeeded", &[("4", "4Gi", "4")], None),
            quota_pod("Failed", &[("4", "4Gi", "4")], None),
            deleting,
        ];
        let used = quota_used(&hard, &pods);
        let got: Vec<(&str, &str)> = used.iter().map(|(k, v)| (k.as_str(), v.0.as_str())).collect();
        assert_eq!(
            got,
            [
                ("cpu", "2500m"),
                ("limits.cpu", "1500m"),
                ("limits.memory", "0"),
                ("memory", "160Mi"),
                ("pods", "2"),
                ("requests.cpu", "2500m"),
            ],
            "services is not counted from pods, so not reported"
        );
        assert_eq!(quota_used(&hard, &[])["pods"].0, "0");
        let many: Vec<core::Pod> = (0..1024).map(|_| quota_pod("Running", &[("0", "0", "")], None)).collect();
        assert_eq!(quota_used(&hard, &many)["pods"].0, "1024", "a count, not a binary quantity");
    }
}
