//! Per-resource server behaviour of the simulated cluster: the defaults a real API server
//! applies (pod and template defaults, service IP allocation, secret `stringData`), server-set
//! status on create (pods `Pending`, namespaces `Active`, workloads reset), and the validation
//! clients rely on (workload selectors must match their template).

use std::{
    collections::{BTreeMap, HashSet},
    net::Ipv4Addr,
    sync::Mutex,
};

use apimachinery::{ApiError, FieldError};
use apiserver::{Context, TypedStrategy};
use k8s_openapi::{
    ByteString,
    api::{apps::v1 as apps, core::v1 as core},
    apimachinery::pkg::{apis::meta::v1::LabelSelector, util::intstr::IntOrString},
};

/// Canonicalisation only (the resource has no server-side behaviour of note).
pub struct Plain;
impl<T> TypedStrategy<T> for Plain {}

// ----- label selectors ---------------------------------------------------------------------

/// Whether a `metav1.LabelSelector` selects `labels`. An empty selector selects everything.
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let by_labels = selector.match_labels.iter().flatten().all(|(k, v)| labels.get(k) == Some(v));
    let by_expressions = selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or(&[]);
        match e.operator.as_str() {
            "In" => labels.get(&e.key).is_some_and(|v| values.contains(v)),
            "NotIn" => labels.get(&e.key).is_none_or(|v| !values.contains(v)),
            "Exists" => labels.contains_key(&e.key),
            "DoesNotExist" => !labels.contains_key(&e.key),
            _ => false,
        }
    });
    by_labels && by_expressions
}

/// A selector that selects nothing is an error for workloads (it would adopt every pod).
fn selector_is_empty(selector: &LabelSelector) -> bool {
    selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && selector.match_expressions.as_ref().is_none_or(|e| e.is_empty())
}

fn validate_workload(selector: &LabelSelector, template: &core::PodTemplateSpec) -> Vec<FieldError> {
    let mut errs = vec![];
    if selector_is_empty(selector) {
        errs.push(FieldError::required("spec.selector", "a non-empty selector is required"));
    } else {
        let labels = template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
        if !selector_matches(selector, &labels) {
            errs.push(FieldError::invalid(
                "spec.template.metadata.labels",
                format!("{labels:?}"),
                "`selector` does not match template `labels`",
            ));
        }
    }
    errs.extend(validate_pod_spec("spec.template.spec", template.spec.as_ref()));
    errs
}

fn validate_pod_spec(at: &str, spec: Option<&core::PodSpec>) -> Vec<FieldError> {
    let Some(spec) = spec else {
        return vec![FieldError::required(at, "")];
    };
    let mut errs = vec![];
    if spec.containers.is_empty() {
        errs.push(FieldError::required(format!("{at}.containers"), ""));
    }
    let mut names = HashSet::new();
    for (i, c) in spec.containers.iter().chain(spec.init_containers.iter().flatten()).enumerate() {
        if c.name.is_empty() {
            errs.push(FieldError::required(format!("{at}.containers[{i}].name"), ""));
        } else if !names.insert(c.name.as_str()) {
            errs.push(FieldError::duplicate(format!("{at}.containers[{i}].name"), &c.name));
        }
        if c.image.as_deref().unwrap_or("").is_empty() {
            errs.push(FieldError::required(format!("{at}.containers[{i}].image"), ""));
        }
    }
    errs
}

// ----- pod defaults ------------------------------------------------------------------------

/// Kubernetes' image pull policy default: `Always` for `:latest` or untagged images.
pub fn default_pull_policy(image: &str) -> &'static str {
    let name = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') {
        return "IfNotPresent";
    }
    match name.rsplit_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn default_container(c: &mut core::Container) {
    if c.image_pull_policy.is_none() {
        c.image_pull_policy = Some(default_pull_policy(c.image.as_deref().unwrap_or("")).into());
    }
    c.termination_message_path.get_or_insert_with(|| "/dev/termination-log".into());
    c.termination_message_policy.get_or_insert_with(|| "File".into());
    for p in c.ports.iter_mut().flatten() {
        p.protocol.get_or_insert_with(|| "TCP".into());
    }
    c.resources.get_or_insert_with(Default::default);
}

/// The defaults the API server gives every pod spec (and every workload's template).
pub fn default_pod_spec(spec: &mut core::PodSpec) {
    spec.restart_policy.get_or_insert_with(|| "Always".into());
    spec.dns_policy.get_or_insert_with(|| "ClusterFirst".into());
    spec.scheduler_name.get_or_insert_with(|| "default-scheduler".into());
    spec.termination_grace_period_seconds.get_or_insert(30);
    spec.security_context.get_or_insert_with(Default::default);
    spec.enable_service_links.get_or_insert(true);
    spec.preemption_policy.get_or_insert_with(|| "PreemptLowerPriority".into());
    spec.priority.get_or_insert(0);
    if spec.service_account_name.as_deref().unwrap_or("").is_empty() {
        spec.service_account_name =
            Some(spec.service_account.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "default".into()));
    }
    for c in spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten()) {
        default_container(c);
    }
}

fn default_template(t: &mut core::PodTemplateSpec) {
    if let Some(spec) = t.spec.as_mut() {
        default_pod_spec(spec);
    }
}

// ----- core ---------------------------------------------------------------------------------

/// Namespaces are `Active` from creation and carry the `kubernetes.io/metadata.name` label.
pub struct NamespaceStrategy;
impl TypedStrategy<core::Namespace> for NamespaceStrategy {
    fn prepare_for_create(&self, _ctx: &Context, ns: &mut core::Namespace) -> Result<(), ApiError> {
        ns.status = Some(core::NamespaceStatus { phase: Some("Active".into()), ..Default::default() });
        label_namespace(ns);
        Ok(())
    }
    fn prepare_for_update(
        &self,
        _ctx: &Context,
        ns: &mut core::Namespace,
        _old: &core::Namespace,
    ) -> Result<(), ApiError> {
        label_namespace(ns);
        Ok(())
    }
}

fn label_namespace(ns: &mut core::Namespace) {
    if let Some(name) = ns.metadata.name.clone() {
        ns.metadata.labels.get_or_insert_with(Default::default).insert("kubernetes.io/metadata.name".into(), name);
    }
}

/// Nodes: `spec` defaults; the status comes from the (simulated) kubelet.
pub struct NodeStrategy;
impl TypedStrategy<core::Node> for NodeStrategy {}

/// Pods start `Pending` with the server's defaults; the node name may be set once (binding).
pub struct PodStrategy;
impl TypedStrategy<core::Pod> for PodStrategy {
    fn prepare_for_create(&self, _ctx: &Context, pod: &mut core::Pod) -> Result<(), ApiError> {
        if let Some(spec) = pod.spec.as_mut() {
            default_pod_spec(spec);
        }
        let qos = pod.spec.as_ref().map(qos_class).unwrap_or("BestEffort");
        pod.status =
            Some(core::PodStatus { phase: Some("Pending".into()), qos_class: Some(qos.into()), ..Default::default() });
        Ok(())
    }
    fn validate(&self, _ctx: &Context, pod: &core::Pod) -> Vec<FieldError> {
        validate_pod_spec("spec", pod.spec.as_ref())
    }
    fn validate_update(&self, ctx: &Context, new: &core::Pod, old: &core::Pod) -> Vec<FieldError> {
        let mut errs = self.validate(ctx, new);
        let node = |p: &core::Pod| p.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
        if !node(old).is_empty() && node(new) != node(old) {
            errs.push(FieldError::forbidden("spec.nodeName", "pod updates may not change the node of a scheduled pod"));
        }
        errs
    }
}

/// Kubernetes' QoS class of a pod from its containers' requests and limits.
pub fn qos_class(spec: &core::PodSpec) -> &'static str {
    let mut any = false;
    let mut guaranteed = true;
    for c in &spec.containers {
        let r = c.resources.as_ref();
        let requests = r.and_then(|r| r.requests.clone()).unwrap_or_default();
        let limits = r.and_then(|r| r.limits.clone()).unwrap_or_default();
        if !requests.is_empty() || !limits.is_empty() {
            any = true;
        }
        for res in ["cpu", "memory"] {
            match limits.get(res) {
                Some(l) if requests.get(res).is_none_or(|q| q == l) => {}
                _ => guaranteed = false,
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// The service cluster IP range, `10.96.0.0/12` as kubeadm's default.
pub const SERVICE_CIDR: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 96, 0, 0), 12);
/// The first address of the range belongs to the `kubernetes` service.
pub const KUBERNETES_SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 1);

fn in_service_cidr(ip: Ipv4Addr) -> bool {
    let mask = u32::MAX << (32 - SERVICE_CIDR.1);
    u32::from(ip) & mask == u32::from(SERVICE_CIDR.0)
}

/// Services get a cluster IP from [`SERVICE_CIDR`] and node ports from 30000-32767. The
/// allocator remembers what it handed out in this process, so addresses do not repeat; after
/// a restart it draws at random from a million addresses, where a repeat is unlikely.
#[derive(Default)]
pub struct ServiceStrategy {
    allocated: Mutex<HashSet<u32>>,
}

impl ServiceStrategy {
    /// A free cluster IP (never the network address, `.1` or the broadcast address).
    pub fn allocate_ip(&self) -> Result<Ipv4Addr, ApiError> {
        use rand::Rng;
        let size = 1u32 << (32 - SERVICE_CIDR.1);
        let base = u32::from(SERVICE_CIDR.0);
        let mut allocated = self.allocated.lock().map_err(|_| ApiError::internal("the IP allocator is poisoned"))?;
        let mut rng = rand::rng();
        for _ in 0..64 {
            let ip = base + rng.random_range(2..size - 1);
            if allocated.insert(ip) {
                return Ok(Ipv4Addr::from(ip));
            }
        }
        Err(ApiError::internal("no free cluster IP found in 10.96.0.0/12"))
    }

    fn reserve(&self, ip: Ipv4Addr) {
        if let Ok(mut a) = self.allocated.lock() {
            a.insert(u32::from(ip));
        }
    }
}

impl TypedStrategy<core::Service> for ServiceStrategy {
    fn prepare_for_create(&self, _ctx: &Context, svc: &mut core::Service) -> Result<(), ApiError> {
        let spec = svc.spec.get_or_insert_with(Default::default);
        let type_ = spec.type_.get_or_insert_with(|| "ClusterIP".into()).clone();
        spec.session_affinity.get_or_insert_with(|| "None".into());
        for p in spec.ports.iter_mut().flatten() {
            p.protocol.get_or_insert_with(|| "TCP".into());
            p.target_port.get_or_insert(IntOrString::Int(p.port));
            if matches!(type_.as_str(), "NodePort" | "LoadBalancer") && p.node_port.is_none() {
                use rand::Rng;
                p.node_port = Some(rand::rng().random_range(30000..=32767));
            }
        }
        if type_ != "ExternalName" {
            let ip = match spec.cluster_ip.as_deref() {
                None | Some("") => self.allocate_ip()?.to_string(),
                Some(given) => {
                    if let Ok(ip) = given.parse::<Ipv4Addr>() {
                        self.reserve(ip);
                    }
                    given.to_string()
                }
            };
            spec.cluster_ip = Some(ip.clone());
            spec.cluster_ips = Some(vec![ip]);
            spec.ip_families.get_or_insert_with(|| vec!["IPv4".into()]);
            spec.ip_family_policy.get_or_insert_with(|| "SingleStack".into());
            spec.internal_traffic_policy.get_or_insert_with(|| "Cluster".into());
        }
        if matches!(type_.as_str(), "NodePort" | "LoadBalancer") {
            spec.external_traffic_policy.get_or_insert_with(|| "Cluster".into());
        }
        svc.status = Some(core::ServiceStatus { load_balancer: Some(Default::default()), ..Default::default() });
        Ok(())
    }

    fn validate(&self, _ctx: &Context, svc: &core::Service) -> Vec<FieldError> {
        let mut errs = vec![];
        let Some(spec) = svc.spec.as_ref() else {
            return errs;
        };
        let type_ = spec.type_.as_deref().unwrap_or("ClusterIP");
        if !matches!(type_, "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName") {
            errs.push(FieldError::not_supported(
                "spec.type",
                type_,
                &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
            ));
        }
        if let Some(ip) = spec.cluster_ip.as_deref().filter(|ip| !ip.is_empty() && *ip != "None") {
            match ip.parse::<Ipv4Addr>() {
                Ok(a) if in_service_cidr(a) => {}
                Ok(_) => errs.push(FieldError::invalid(
                    "spec.clusterIP",
                    ip,
                    "provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12",
                )),
                Err(_) => errs.push(FieldError::invalid("spec.clusterIP", ip, "must be a valid IP address or None")),
            }
        }
        for (i, p) in spec.ports.iter().flatten().enumerate() {
            if !(1..=65535).contains(&p.port) {
                errs.push(FieldError::invalid(
                    format!("spec.ports[{i}].port"),
                    p.port,
                    "must be between 1 and 65535, inclusive",
                ));
            }
        }
        errs
    }

    fn prepare_for_update(&self, _ctx: &Context, new: &mut core::Service, old: &core::Service) -> Result<(), ApiError> {
        // The cluster IP is immutable: an update that leaves it out keeps it.
        let old_spec = old.spec.clone().unwrap_or_default();
        let spec = new.spec.get_or_insert_with(Default::default);
        if spec.cluster_ip.as_deref().unwrap_or("").is_empty() {
            spec.cluster_ip = old_spec.cluster_ip.clone();
            spec.cluster_ips = old_spec.cluster_ips.clone();
        }
        spec.type_.get_or_insert_with(|| old_spec.type_.clone().unwrap_or_else(|| "ClusterIP".into()));
        Ok(())
    }

    fn validate_update(&self, ctx: &Context, new: &core::Service, old: &core::Service) -> Vec<FieldError> {
        let mut errs = self.validate(ctx, new);
        let ip = |s: &core::Service| s.spec.as_ref().and_then(|s| s.cluster_ip.clone()).unwrap_or_default();
        if !ip(old).is_empty() && ip(new) != ip(old) {
            errs.push(FieldError::invalid("spec.clusterIP", ip(new), "field is immutable"));
        }
        errs
    }
}

/// Secrets: `stringData` is merged into `data` and never stored; the type defaults to Opaque.
pub struct SecretStrategy;
impl SecretStrategy {
    fn fold(secret: &mut core::Secret) {
        if let Some(strings) = secret.string_data.take() {
            let data = secret.data.get_or_insert_with(Default::default);
            for (k, v) in strings {
                data.insert(k, ByteString(v.into_bytes()));
            }
        }
        secret.type_.get_or_insert_with(|| "Opaque".into());
    }
}
impl TypedStrategy<core::Secret> for SecretStrategy {
    fn prepare_for_create(&self, _ctx: &Context, s: &mut core::Secret) -> Result<(), ApiError> {
        Self::fold(s);
        Ok(())
    }
    fn prepare_for_update(&self, _ctx: &Context, s: &mut core::Secret, _old: &core::Secret) -> Result<(), ApiError> {
        Self::fold(s);
        Ok(())
    }
    fn validate_update(&self, _ctx: &Context, new: &core::Secret, old: &core::Secret) -> Vec<FieldError> {
        if new.type_ != old.type_ {
            return vec![FieldError::invalid("type", new.type_.clone().unwrap_or_default(), "field is immutable")];
        }
        vec![]
    }
}

/// Quotas report their hard limits in the status from creation; the simulator's quota
/// controller then keeps `status.used` (and `status.hard` after changes).
pub struct ResourceQuotaStrategy;
impl TypedStrategy<core::ResourceQuota> for ResourceQuotaStrategy {
    fn prepare_for_create(&self, _ctx: &Context, q: &mut core::ResourceQuota) -> Result<(), ApiError> {
        let hard = q.spec.as_ref().and_then(|s| s.hard.clone());
        q.status = Some(core::ResourceQuotaStatus { hard, used: None });
        Ok(())
    }
}

/// Claims start `Pending` (there is no volume provisioner in a simulated cluster).
pub struct PvcStrategy;
impl TypedStrategy<core::PersistentVolumeClaim> for PvcStrategy {
    fn prepare_for_create(&self, _ctx: &Context, c: &mut core::PersistentVolumeClaim) -> Result<(), ApiError> {
        c.spec.get_or_insert_with(Default::default).volume_mode.get_or_insert_with(|| "Filesystem".into());
        c.status = Some(core::PersistentVolumeClaimStatus { phase: Some("Pending".into()), ..Default::default() });
        Ok(())
    }
}

// ----- apps ---------------------------------------------------------------------------------

fn percent(p: &str) -> IntOrString {
    IntOrString::String(p.into())
}

/// Deployments: defaults of apps/v1, status cleared on create (the controller fills it).
pub struct DeploymentStrategy;
impl DeploymentStrategy {
    fn defaults(d: &mut apps::Deployment) {
        let spec = &mut d.spec;
        spec.replicas.get_or_insert(1);
        spec.revision_history_limit.get_or_insert(10);
        spec.progress_deadline_seconds.get_or_insert(600);
        let strategy = spec.strategy.get_or_insert_with(Default::default);
        let type_ = strategy.type_.get_or_insert_with(|| "RollingUpdate".into());
        if type_ == "RollingUpdate" {
            let ru = strategy.rolling_update.get_or_insert_with(Default::default);
            ru.max_surge.get_or_insert_with(|| percent("25%"));
            ru.max_unavailable.get_or_insert_with(|| percent("25%"));
        }
        default_template(&mut spec.template);
    }
}
impl TypedStrategy<apps::Deployment> for DeploymentStrategy {
    fn prepare_for_create(&self, _ctx: &Context, d: &mut apps::Deployment) -> Result<(), ApiError> {
        Self::defaults(d);
        d.status = None;
        Ok(())
    }
    fn prepare_for_update(
        &self,
        _ctx: &Context,
        d: &mut apps::Deployment,
        _old: &apps::Deployment,
    ) -> Result<(), ApiError> {
        Self::defaults(d);
        Ok(())
    }
    fn validate(&self, _ctx: &Context, d: &apps::Deployment) -> Vec<FieldError> {
        let s = &d.spec;
        let mut errs = validate_workload(&s.selector, &s.template);
        if s.replicas.is_some_and(|r| r < 0) {
            errs.push(FieldError::invalid(
                "spec.replicas",
                s.replicas.unwrap_or(0),
                "must be greater than or equal to 0",
            ));
        }
        errs
    }
    fn validate_update(&self, ctx: &Context, new: &apps::Deployment, old: &apps::Deployment) -> Vec<FieldError> {
        let mut errs = self.validate(ctx, new);
        if new.spec.selector != old.spec.selector {
            errs.push(FieldError::invalid("spec.selector", "", "field is immutable"));
        }
        errs
    }
}

/// ReplicaSets: replicas default to 1, status cleared on create.
pub struct ReplicaSetStrategy;
impl TypedStrategy<apps::ReplicaSet> for ReplicaSetStrategy {
    fn prepare_for_create(&self, _ctx: &Context, rs: &mut apps::ReplicaSet) -> Result<(), ApiError> {
        rs.spec.replicas.get_or_insert(1);
        if let Some(t) = rs.spec.template.as_mut() {
            default_template(t);
        }
        rs.status = Some(apps::ReplicaSetStatus { replicas: 0, ..Default::default() });
        Ok(())
    }
    fn validate(&self, _ctx: &Context, rs: &apps::ReplicaSet) -> Vec<FieldError> {
        match rs.spec.template.as_ref() {
            Some(t) => validate_workload(&rs.spec.selector, t),
            None => vec![FieldError::required("spec.template", "")],
        }
    }
}

/// DaemonSets: rolling updates by default, status cleared on create.
pub struct DaemonSetStrategy;
impl TypedStrategy<apps::DaemonSet> for DaemonSetStrategy {
    fn prepare_for_create(&self, _ctx: &Context, ds: &mut apps::DaemonSet) -> Result<(), ApiError> {
        {
            let spec = &mut ds.spec;
            spec.revision_history_limit.get_or_insert(10);
            let strategy = spec.update_strategy.get_or_insert_with(Default::default);
            if strategy.type_.get_or_insert_with(|| "RollingUpdate".into()) == "RollingUpdate" {
                let ru = strategy.rolling_update.get_or_insert_with(Default::default);
                ru.max_unavailable.get_or_insert(IntOrString::Int(1));
                ru.max_surge.get_or_insert(IntOrString::Int(0));
            }
            default_template(&mut spec.template);
        }
        ds.status = None;
        Ok(())
    }
    fn validate(&self, _ctx: &Context, ds: &apps::DaemonSet) -> Vec<FieldError> {
        validate_workload(&ds.spec.selector, &ds.spec.template)
    }
}

/// StatefulSets: ordered pod management and rolling updates by default, status cleared on create.
pub struct StatefulSetStrategy;
impl TypedStrategy<apps::StatefulSet> for StatefulSetStrategy {
    fn prepare_for_create(&self, _ctx: &Context, s: &mut apps::StatefulSet) -> Result<(), ApiError> {
        {
            let spec = &mut s.spec;
            spec.replicas.get_or_insert(1);
            spec.revision_history_limit.get_or_insert(10);
            spec.pod_management_policy.get_or_insert_with(|| "OrderedReady".into());
            spec.update_strategy.get_or_insert_with(|| apps::StatefulSetUpdateStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(apps::RollingUpdateStatefulSetStrategy {
                    partition: Some(0),
                    ..Default::default()
                }),
            });
            default_template(&mut spec.template);
        }
        s.status = None;
        Ok(())
    }
    fn validate(&self, _ctx: &Context, s: &apps::StatefulSet) -> Vec<FieldError> {
        validate_workload(&s.spec.selector, &s.spec.template)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn ctx() -> Context {
        Context { user: Default::default(), namespace: Some("default".into()) }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn selectors_match_labels_and_expressions() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "In".into(),
                values: Some(vec!["a".into(), "b".into()]),
            }]),
        };
        assert!(selector_matches(&sel, &labels(&[("app", "web"), ("tier", "b")])));
        assert!(!selector_matches(&sel, &labels(&[("app", "web"), ("tier", "c")])));
        assert!(!selector_matches(&sel, &labels(&[("tier", "a")])));
        assert!(selector_matches(&LabelSelector::default(), &labels(&[])));
    }

    #[test]
    fn pull_policy_defaults_like_kubernetes() {
        assert_eq!(default_pull_policy("nginx"), "Always");
        assert_eq!(default_pull_policy("nginx:latest"), "Always");
        assert_eq!(default_pull_policy("nginx:1.27"), "IfNotPresent");
        assert_eq!(default_pull_policy("registry:5000/nginx"), "Always");
        assert_eq!(default_pull_policy("registry:5000/nginx:1"), "IfNotPresent");
        assert_eq!(default_pull_policy("nginx@sha256:abc"), "IfNotPresent");
    }

    fn pod(image: &str) -> core::Pod {
        core::Pod {
            spec: Some(core::PodSpec {
                containers: vec![core::Container { name: "c".into(), image: Some(image.into()), ..Default::default() }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn pods_start_pending_with_defaults() {
        let mut p = pod("nginx");
        PodStrategy.prepare_for_create(&ctx(), &mut p).unwrap();
        let status = p.status.unwrap();
        assert_eq!(status.phase.as_deref(), Some("Pending"));
        assert_eq!(status.qos_class.as_deref(), Some("BestEffort"));
        let spec = p.spec.unwrap();
        assert_eq!(spec.restart_policy.as_deref(), Some("Always"));
        assert_eq!(spec.service_account_name.as_deref(), Some("default"));
        assert_eq!(spec.containers[0].image_pull_policy.as_deref(), Some("Always"));
    }

    #[test]
    fn pods_need_images_and_keep_their_node() {
        let mut bad = pod("");
        bad.spec.as_mut().unwrap().containers[0].image = None;
        assert_eq!(PodStrategy.validate(&ctx(), &bad).len(), 1);
        let mut old = pod("nginx");
        old.spec.as_mut().unwrap().node_name = Some("node-0".into());
        let mut new = old.clone();
        new.spec.as_mut().unwrap().node_name = Some("node-1".into());
        assert_eq!(PodStrategy.validate_update(&ctx(), &new, &old).len(), 1);
        let mut unscheduled = old.clone();
        unscheduled.spec.as_mut().unwrap().node_name = None;
        assert!(PodStrategy.validate_update(&ctx(), &old, &unscheduled).is_empty());
    }

    #[test]
    fn services_get_distinct_cluster_ips_in_range() {
        let s = ServiceStrategy::default();
        let mut seen = HashSet::new();
        for _ in 0..2000 {
            let ip = s.allocate_ip().unwrap();
            assert!(in_service_cidr(ip), "{ip}");
            assert_ne!(ip, KUBERNETES_SERVICE_IP);
            assert!(seen.insert(ip));
        }
        let mut svc = core::Service {
            spec: Some(core::ServiceSpec {
                type_: Some("NodePort".into()),
                ports: Some(vec![core::ServicePort { port: 80, ..Default::default() }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        s.prepare_for_create(&ctx(), &mut svc).unwrap();
        let spec = svc.spec.clone().unwrap();
        assert!(in_service_cidr(spec.cluster_ip.unwrap().parse().unwrap()));
        let port = &spec.ports.unwrap()[0];
        assert_eq!(port.target_port, Some(IntOrString::Int(80)));
        assert!((30000..=32767).contains(&port.node_port.unwrap()));
        // An update without the IP keeps it; changing it is refused.
        let mut update = svc.clone();
        update.spec.as_mut().unwrap().cluster_ip = None;
        s.prepare_for_update(&ctx(), &mut update, &svc).unwrap();
        assert_eq!(update.spec.as_ref().unwrap().cluster_ip, svc.spec.as_ref().unwrap().cluster_ip);
        update.spec.as_mut().unwrap().cluster_ip = Some("10.96.0.9".into());
        assert!(!s.validate_update(&ctx(), &update, &svc).is_empty());
        let outside = core::Service {
            spec: Some(core::ServiceSpec { cluster_ip: Some("10.0.0.1".into()), ..Default::default() }),
            ..Default::default()
        };
        assert_eq!(s.validate(&ctx(), &outside).len(), 1);
    }

    #[test]
    fn secrets_fold_string_data() {
        let mut s =
            core::Secret { string_data: Some([("a".to_string(), "b".to_string())].into()), ..Default::default() };
        SecretStrategy.prepare_for_create(&ctx(), &mut s).unwrap();
        assert!(s.string_data.is_none());
        assert_eq!(s.data.unwrap()["a"].0, b"b");
        assert_eq!(s.type_.as_deref(), Some("Opaque"));
    }

    #[test]
    fn deployments_default_and_validate_their_selector() {
        let mut p = pod("nginx:1.27").spec.unwrap();
        p.containers[0].image_pull_policy = None;
        let mut d = apps::Deployment {
            spec: apps::DeploymentSpec {
                selector: LabelSelector { match_labels: Some(labels(&[("app", "web")])), ..Default::default() },
                template: core::PodTemplateSpec {
                    metadata: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                        labels: Some(labels(&[("app", "web")])),
                        ..Default::default()
                    }),
                    spec: Some(p),
                },
                ..Default::default()
            },
            status: Some(apps::DeploymentStatus { replicas: Some(7), ..Default::default() }),
            ..Default::default()
        };
        DeploymentStrategy.prepare_for_create(&ctx(), &mut d).unwrap();
        assert!(d.status.is_none());
        let spec = d.spec.clone();
        assert_eq!(spec.replicas, Some(1));
        assert_eq!(spec.strategy.unwrap().rolling_update.unwrap().max_surge, Some(percent("25%")));
        assert_eq!(spec.template.spec.unwrap().containers[0].image_pull_policy.as_deref(), Some("IfNotPresent"));
        assert!(DeploymentStrategy.validate(&ctx(), &d).is_empty());
        d.spec.template.metadata = None;
        assert_eq!(DeploymentStrategy.validate(&ctx(), &d).len(), 1);
    }

    #[test]
    fn qos_classes() {
        let mut spec = pod("x").spec.unwrap();
        assert_eq!(qos_class(&spec), "BestEffort");
        let q = |s: &str| k8s_openapi::apimachinery::pkg::api::resource::Quantity(s.into());
        let limits: BTreeMap<_, _> = [("cpu".to_string(), q("1")), ("memory".to_string(), q("1Gi"))].into();
        spec.containers[0].resources =
            Some(core::ResourceRequirements { limits: Some(limits.clone()), ..Default::default() });
        assert_eq!(qos_class(&spec), "Guaranteed");
        spec.containers[0].resources =
            Some(core::ResourceRequirements { requests: Some(limits), ..Default::default() });
        assert_eq!(qos_class(&spec), "Burstable");
    }
}
