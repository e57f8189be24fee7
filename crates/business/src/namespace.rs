//! The Namespace controller (reference 4.3): a business `Namespace` becomes a Kubernetes
//! namespace of its business cluster, labelled with its project (`tkestack.io/projectName`) and
//! its object (`tkestack.io/namespaceName`), holding a ResourceQuota named like the namespace
//! with `spec.hard`.
//!
//! - `Pending`: the namespace is created, or an existing one without our labels is adopted (the
//!   labels are added); one labelled for another project is refused (`Failed`,
//!   `ConflictProject`, naming that project). The ResourceQuota is created or brought to
//!   `spec.hard`; then `Available` with `status.resourceQuotaName`.
//! - `Available` is checked again on every change of the object and every `resync`:
//!   `status.used` follows the cluster's ResourceQuota, `spec.hard` changes reach it, and what
//!   went wrong is reported as `Failed` with a reason: `ConnectClusterError` (back to
//!   `Available` by itself once the cluster answers), `ClusterNotFound`, `NamespaceNotFound`,
//!   `NamespaceNotActive`, `NamespaceUnlabelled` (our labels were removed) and
//!   `ConflictProject` (labelled for another project). A namespace deleted behind the
//!   platform's back is reported and **not** created again: deleting a namespace deletes its
//!   workloads, and quietly putting an empty one in its place would hide that loss. The user
//!   decides: delete the business object (releasing its quota), or create the namespace again
//!   in the cluster, which is then adopted as in `Pending`.
//! - Deletion (TKEStack's `spec.finalizers` entry `namespace`): the object shows `Terminating`,
//!   the Kubernetes namespace is deleted (grace 5 s) and, once it is gone, the finalizer is
//!   cleared through the `finalize` subresource. The rule that makes moves safe: a Kubernetes
//!   namespace is deleted only while it is labelled as this very object's (project and name);
//!   one that is unlabelled or labelled for another project stays.
//! - A namespace being moved (phase `Locked`, or the annotation naming its emigration) belongs
//!   to the NsEmigration controller and is not touched; deleting it is held until the move has
//!   created the new object (annotation `moved-to`), and then never touches the cluster.
//!
//! Status writes are JSON merge patches of the fields this controller owns, carrying the
//! resourceVersion read, so a lock taken meanwhile by an emigration is never overwritten.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use api::business::{
    Namespace,
    common::{
        EMIGRATION_ANNOTATION, MOVED_TO_ANNOTATION, NAMESPACE_LABEL, PROJECT_LABEL, ResourceList, finalizer, phase,
    },
};
use controller_runtime::{
    cluster::{ClusterAccess, ClusterClients},
    shell::{Failures, decode},
};
use futures::StreamExt;
use k8s_openapi::{
    api::core::v1 as core,
    apimachinery::pkg::{api::resource::Quantity, apis::meta::v1::ObjectMeta},
};
use kube::{
    Api, Client, ResourceExt,
    api::{ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams},
    runtime::{Controller, controller::Action, watcher},
};
use serde_json::{Value, json};

use crate::runner::{self, now};

/// Reasons of `Failed` namespaces.
pub mod reason {
    pub const CONNECT_CLUSTER_ERROR: &str = "ConnectClusterError";
    pub const CLUSTER_NOT_FOUND: &str = "ClusterNotFound";
    pub const CONFLICT_PROJECT: &str = "ConflictProject";
    pub const NAMESPACE_NOT_FOUND: &str = "NamespaceNotFound";
    pub const NAMESPACE_NOT_ACTIVE: &str = "NamespaceNotActive";
    pub const NAMESPACE_UNLABELLED: &str = "NamespaceUnlabelled";
    /// The cluster refused the namespace or its ResourceQuota (its message says why).
    pub const REJECTED: &str = "RejectedByCluster";
}

/// Settings of the controller.
#[derive(Clone, Debug)]
pub struct Options {
    /// Every namespace is checked against its cluster this often.
    pub resync: Duration,
    /// Namespaces reconciled at once.
    pub concurrency: u16,
}

impl Default for Options {
    fn default() -> Self {
        Options { resync: Duration::from_secs(30), concurrency: 4 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the platform API: {}", controller_runtime::error_chain(.0))]
    Platform(#[from] kube::Error),
    #[error("{0} cannot be read: {1}")]
    Decode(String, serde_json::Error),
    #[error("cluster {cluster}: {message}")]
    Cluster { cluster: String, message: String },
}

/// The business Namespaces of the platform's API.
pub fn resource() -> ApiResource {
    runner::business(api::business::namespace::KIND, "namespaces")
}

/// An annotation of a dynamic object.
pub(crate) fn annotation<'a>(obj: &'a DynamicObject, key: &str) -> Option<&'a str> {
    obj.metadata.annotations.as_ref().and_then(|a| a.get(key)).map(String::as_str).filter(|v| !v.is_empty())
}

/// Whose a Kubernetes namespace is, from its labels, for the business Namespace `name` of
/// `project`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// Labelled as this object's.
    Ours,
    /// Neither label: free to adopt.
    Unlabelled,
    /// Labelled for another project (or as another object of ours): the label values.
    Other { project: String, namespace: String },
}

/// [`Ownership`] of a namespace with `labels`.
pub fn ownership(labels: &BTreeMap<String, String>, project: &str, name: &str) -> Ownership {
    let p = labels.get(PROJECT_LABEL).map(String::as_str).unwrap_or_default();
    let n = labels.get(NAMESPACE_LABEL).map(String::as_str).unwrap_or_default();
    match (p, n) {
        ("", "") => Ownership::Unlabelled,
        _ if p == project && (n == name || n.is_empty()) => Ownership::Ours,
        _ => Ownership::Other { project: p.to_string(), namespace: n.to_string() },
    }
}

/// Whether the namespace may be adopted (labels added) when found unlabelled: before it was
/// ever established, and when it reappears after having been reported missing. An established
/// namespace that lost its labels is reported instead: someone took it out on purpose.
pub fn may_adopt(ns: &Namespace) -> bool {
    let missing = ns.status.as_ref().and_then(|s| s.reason.as_deref()) == Some(reason::NAMESPACE_NOT_FOUND);
    !established(ns) || missing
}

/// Whether the namespace and its quota were made once (`status.resourceQuotaName` is set):
/// from then on, a namespace missing in the cluster was deleted there, and is reported.
pub fn established(ns: &Namespace) -> bool {
    ns.status.as_ref().and_then(|s| s.resource_quota_name.as_deref()).is_some_and(|q| !q.is_empty())
}

/// The labels of the Kubernetes namespace of business Namespace `name` of `project`.
pub fn labels(project: &str, name: &str) -> BTreeMap<String, String> {
    [(PROJECT_LABEL.to_string(), project.to_string()), (NAMESPACE_LABEL.to_string(), name.to_string())].into()
}

/// The status this controller owns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    pub phase: String,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub resource_quota_name: Option<String>,
    pub used: Option<ResourceList>,
}

impl Observed {
    fn failed(reason: &str, message: impl Into<String>) -> Self {
        Observed {
            phase: phase::FAILED.into(),
            reason: Some(reason.into()),
            message: Some(message.into()),
            ..Default::default()
        }
    }
}

/// The JSON merge patch taking the stored status to `want` (None: nothing to write). Fields
/// `want` leaves unknown (`resourceQuotaName`, `used` of a failed check) keep their values;
/// keys dropped from `used` are removed; the transition time moves with the phase.
pub fn status_patch(ns: &Namespace, want: &Observed, now: &str) -> Option<Value> {
    let old = ns.status.clone().unwrap_or_default();
    let mut status = serde_json::Map::new();
    if old.phase != want.phase {
        status.insert("phase".into(), json!(want.phase));
        status.insert("lastTransitionTime".into(), json!(now));
    }
    if old.reason != want.reason {
        status.insert("reason".into(), json!(want.reason));
    }
    if old.message != want.message {
        status.insert("message".into(), json!(want.message));
    }
    if let Some(q) = &want.resource_quota_name
        && old.resource_quota_name.as_ref() != Some(q)
    {
        status.insert("resourceQuotaName".into(), json!(q));
    }
    if let Some(used) = &want.used
        && &old.used != used
    {
        let mut m: serde_json::Map<String, Value> = used.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        for k in old.used.keys().filter(|k| !used.contains_key(*k)) {
            m.insert(k.clone(), Value::Null);
        }
        status.insert("used".into(), Value::Object(m));
    }
    (!status.is_empty()).then(|| json!({"status": status}))
}

/// Whether an emigration holds the namespace.
pub fn is_locked(ns: &Namespace, obj: &DynamicObject) -> bool {
    ns.phase() == phase::LOCKED || annotation(obj, EMIGRATION_ANNOTATION).is_some()
}

struct Ctx {
    platform: Client,
    clusters: Arc<dyn ClusterClients>,
    opts: Options,
    failures: Failures,
}

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    platform: Client,
    clusters: Arc<dyn ClusterClients>,
    opts: Options,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let ar = resource();
    let api: Api<DynamicObject> = Api::all_with(platform.clone(), &ar);
    let ctx = Arc::new(Ctx { platform, clusters, opts: opts.clone(), failures: Failures::default() });
    Controller::new_with(api, watcher::Config::default(), ar)
        .with_config(kube::runtime::controller::Config::default().concurrency(opts.concurrency.max(1)))
        .graceful_shutdown_on(shutdown)
        .run(|o, c| controller_runtime::metrics::observe("namespace", reconcile(o, c)), error_policy, ctx)
        .for_each(|_| async {})
        .await;
}

fn error_policy(obj: Arc<DynamicObject>, e: &Error, ctx: Arc<Ctx>) -> Action {
    let wait = ctx.failures.failed(&obj.uid().unwrap_or_default()).min(ctx.opts.resync);
    tracing::warn!(namespace = obj.namespace().unwrap_or_default(), name = obj.name_any(), error = %e, retry_in = ?wait, "business namespace reconcile failed");
    Action::requeue(wait)
}

async fn reconcile(obj: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let (project, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
    let ns: Namespace = decode(&obj).map_err(|e| Error::Decode(format!("namespace {project}/{name}"), e))?;
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.platform.clone(), &project, &resource());
    let uid = obj.uid().unwrap_or_default();
    if obj.metadata.deletion_timestamp.is_some() {
        return delete(&ctx, &api, &obj, &ns).await;
    }
    if is_locked(&ns, &obj) {
        return Ok(Action::await_change());
    }
    let want = observe(&ctx, &ns).await;
    let healthy = want.phase == phase::AVAILABLE;
    if let Some(mut patch) = status_patch(&ns, &want, &now()) {
        // Only over the version read: an emigration may have locked the object meanwhile.
        patch["metadata"] = json!({"resourceVersion": obj.resource_version()});
        match api.patch_status(&name, &PatchParams::default(), &Patch::Merge(patch)).await {
            Ok(_) => {}
            Err(e) if runner::api_code(&e) == Some(409) || runner::api_code(&e) == Some(404) => {
                return Ok(Action::requeue(Duration::ZERO));
            }
            Err(e) => return Err(e.into()),
        }
        if want.phase != ns.phase() || want.reason != ns.status.as_ref().and_then(|s| s.reason.clone()) {
            tracing::info!(
                project,
                name,
                phase = want.phase,
                reason = want.reason,
                message = want.message,
                "business namespace"
            );
        }
    }
    if healthy {
        ctx.failures.succeeded(&uid);
        Ok(Action::requeue(ctx.opts.resync))
    } else {
        Ok(Action::requeue(ctx.failures.failed(&uid).min(ctx.opts.resync)))
    }
}

/// What the namespace is in its cluster, making it so where it may: the status to write.
async fn observe(ctx: &Ctx, ns: &Namespace) -> Observed {
    let cluster = ns.spec.cluster_name.as_str();
    let client = match ctx.clusters.access(cluster).await {
        ClusterAccess::Ready(c) => c,
        ClusterAccess::Gone => {
            return Observed::failed(reason::CLUSTER_NOT_FOUND, format!("cluster {cluster} does not exist"));
        }
        ClusterAccess::NotReady(why) => {
            return Observed::failed(
                reason::CONNECT_CLUSTER_ERROR,
                format!("cluster {cluster} cannot be reached: {why}"),
            );
        }
        ClusterAccess::Deleting(_) => {
            return Observed::failed(reason::CONNECT_CLUSTER_ERROR, format!("cluster {cluster} is being deleted"));
        }
    };
    match ensure(&client, ns).await {
        Ok(o) => o,
        Err(EnsureError::Kube(e)) if runner::api_code(&e).is_none() => Observed::failed(
            reason::CONNECT_CLUSTER_ERROR,
            format!("cluster {cluster} cannot be reached: {}", controller_runtime::error_chain(&e)),
        ),
        Err(EnsureError::Kube(e)) => Observed::failed(
            reason::REJECTED,
            format!("cluster {cluster} refused: {}", controller_runtime::error_chain(&e)),
        ),
        Err(EnsureError::Refused(o)) => o,
    }
}

enum EnsureError {
    Kube(kube::Error),
    /// A state that is reported, not retried into.
    Refused(Observed),
}

impl From<kube::Error> for EnsureError {
    fn from(e: kube::Error) -> Self {
        EnsureError::Kube(e)
    }
}

/// The namespace and its quota in the cluster as the object wants them.
async fn ensure(client: &Client, ns: &Namespace) -> Result<Observed, EnsureError> {
    let (project, name, target) = (ns.project(), ns.name(), ns.spec.namespace.as_str());
    let namespaces: Api<core::Namespace> = Api::all(client.clone());
    match namespaces.get_opt(target).await? {
        None if !established(ns) => {
            let obj = core::Namespace {
                metadata: ObjectMeta {
                    name: Some(target.to_string()),
                    labels: Some(labels(project, name)),
                    ..Default::default()
                },
                ..Default::default()
            };
            match namespaces.create(&PostParams::default(), &obj).await {
                Ok(_) => tracing::info!(project, name, namespace = target, "namespace created in the cluster"),
                // Made meanwhile by someone else: the next pass looks at its labels.
                Err(e) if runner::api_code(&e) == Some(409) => {
                    return Err(EnsureError::Refused(Observed {
                        phase: phase::PENDING.into(),
                        message: Some(format!("namespace {target} appeared in the cluster meanwhile: checking it")),
                        ..Default::default()
                    }));
                }
                Err(e) => return Err(e.into()),
            }
        }
        None => {
            return Err(EnsureError::Refused(Observed::failed(
                reason::NAMESPACE_NOT_FOUND,
                format!(
                    "namespace {target} no longer exists in cluster {}; delete this object to release its quota, \
                     or create the namespace again to have it adopted",
                    ns.spec.cluster_name
                ),
            )));
        }
        Some(real) => {
            let current = real.metadata.labels.clone().unwrap_or_default();
            if real.metadata.deletion_timestamp.is_some()
                || real.status.as_ref().and_then(|s| s.phase.as_deref()).is_some_and(|p| p != "Active")
            {
                return Err(EnsureError::Refused(Observed::failed(
                    reason::NAMESPACE_NOT_ACTIVE,
                    format!("namespace {target} is being deleted in cluster {}", ns.spec.cluster_name),
                )));
            }
            match ownership(&current, project, name) {
                Ownership::Ours if current.get(NAMESPACE_LABEL).map(String::as_str) == Some(name) => {}
                Ownership::Ours | Ownership::Unlabelled if may_adopt(ns) => {
                    let patch = json!({"metadata": {"labels": labels(project, name)}});
                    namespaces.patch(target, &PatchParams::default(), &Patch::Merge(patch)).await?;
                    tracing::info!(project, name, namespace = target, "namespace adopted");
                }
                Ownership::Ours | Ownership::Unlabelled => {
                    return Err(EnsureError::Refused(Observed::failed(
                        reason::NAMESPACE_UNLABELLED,
                        format!(
                            "namespace {target} lost its labels {PROJECT_LABEL}={project} and \
                             {NAMESPACE_LABEL}={name}; label it again to bring it back"
                        ),
                    )));
                }
                Ownership::Other { project: other, namespace } => {
                    let whose = if other.is_empty() {
                        format!("labelled as business namespace {namespace:?} without a project")
                    } else if other == project {
                        format!("labelled as business namespace {namespace} of this project")
                    } else {
                        format!("already belongs to project {other}")
                    };
                    return Err(EnsureError::Refused(Observed::failed(
                        reason::CONFLICT_PROJECT,
                        format!("namespace {target} of cluster {} {whose}", ns.spec.cluster_name),
                    )));
                }
            }
        }
    }
    let used = ensure_quota(client, ns).await?;
    Ok(Observed {
        phase: phase::AVAILABLE.into(),
        reason: None,
        message: None,
        resource_quota_name: Some(target.to_string()),
        used: Some(used),
    })
}

/// The ResourceQuota named like the namespace with `spec.hard`; returns its `status.used`.
async fn ensure_quota(client: &Client, ns: &Namespace) -> Result<ResourceList, kube::Error> {
    let target = ns.spec.namespace.as_str();
    let quotas: Api<core::ResourceQuota> = Api::namespaced(client.clone(), target);
    let hard: BTreeMap<String, Quantity> = ns.spec.hard.iter().map(|(k, v)| (k.clone(), Quantity(v.clone()))).collect();
    let quota = match quotas.get_opt(target).await? {
        None => {
            let q = core::ResourceQuota {
                metadata: ObjectMeta {
                    name: Some(target.to_string()),
                    labels: Some(labels(ns.project(), ns.name())),
                    ..Default::default()
                },
                spec: Some(core::ResourceQuotaSpec { hard: Some(hard), ..Default::default() }),
                status: None,
            };
            quotas.create(&PostParams::default(), &q).await?
        }
        Some(mut q) if q.spec.as_ref().and_then(|s| s.hard.as_ref()) != Some(&hard) => {
            q.spec.get_or_insert_with(Default::default).hard = Some(hard);
            q.metadata.labels.get_or_insert_with(Default::default).extend(labels(ns.project(), ns.name()));
            quotas.replace(target, &PostParams::default(), &q).await?
        }
        Some(q) => q,
    };
    Ok(quota.status.and_then(|s| s.used).unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect())
}

/// Deletion: the Kubernetes namespace goes when it is labelled as this object's; then the
/// finalizer is cleared.
async fn delete(ctx: &Ctx, api: &Api<DynamicObject>, obj: &DynamicObject, ns: &Namespace) -> Result<Action, Error> {
    if !ns.spec.finalizers.iter().any(|f| f == finalizer::NAMESPACE) {
        return Ok(Action::await_change());
    }
    let (project, name) = (ns.project(), ns.name());
    let moved = annotation(obj, MOVED_TO_ANNOTATION).is_some();
    if is_locked(ns, obj) && !moved {
        // The emigration still needs the object; it finishes or fails and unlocks.
        tracing::debug!(project, name, "deletion of a moving namespace waits for its emigration");
        return Ok(Action::requeue(Duration::from_secs(2)));
    }
    if ns.phase() != phase::TERMINATING {
        let patch = json!({"status": {"phase": phase::TERMINATING, "lastTransitionTime": now()}});
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(patch)).await?;
    }
    let cluster = ns.spec.cluster_name.as_str();
    // A moved namespace is the destination's: nothing to do in the cluster.
    let access = if moved { ClusterAccess::Gone } else { ctx.clusters.access(cluster).await };
    let outcome = match access {
        ClusterAccess::Ready(c) | ClusterAccess::Deleting(Some(c)) => delete_in_cluster(c, ns).await,
        // Nothing is left to delete in a cluster that is gone or going.
        ClusterAccess::Gone | ClusterAccess::Deleting(None) => Ok(false),
        ClusterAccess::NotReady(why) => {
            Err((reason::CONNECT_CLUSTER_ERROR, format!("cluster {cluster} cannot be reached: {why}")))
        }
    };
    match outcome {
        Ok(true) => return Ok(Action::requeue(Duration::from_secs(1))),
        Ok(false) => {}
        Err((why, message)) => {
            // Said on the object, so whoever waits for the deletion knows what holds it.
            let message = format!("waiting to delete namespace {}: {message}", ns.spec.namespace);
            let status = ns.status.as_ref();
            if status.and_then(|s| s.message.as_deref()) != Some(message.as_str())
                || status.and_then(|s| s.reason.as_deref()) != Some(why)
            {
                let patch = json!({"status": {"reason": why, "message": message}});
                api.patch_status(name, &PatchParams::default(), &Patch::Merge(patch)).await?;
            }
            return Err(Error::Cluster { cluster: cluster.into(), message });
        }
    }
    runner::clear_finalizer(api, name, finalizer::NAMESPACE).await?;
    ctx.failures.succeeded(&obj.uid().unwrap_or_default());
    tracing::info!(project, name, "business namespace deleted");
    Ok(Action::await_change())
}

/// Deletes the Kubernetes namespace of `ns` if it is labelled as that object's: `Ok(true)`
/// while it is still there (being deleted), `Ok(false)` when there is nothing (more) to do,
/// or why the cluster did not let it happen.
async fn delete_in_cluster(client: Client, ns: &Namespace) -> Result<bool, (&'static str, String)> {
    let (project, name, cluster) = (ns.project(), ns.name(), ns.spec.cluster_name.as_str());
    let failed = |e: kube::Error| match runner::api_code(&e) {
        None => (
            reason::CONNECT_CLUSTER_ERROR,
            format!("cluster {cluster} cannot be reached: {}", controller_runtime::error_chain(&e)),
        ),
        Some(_) => (reason::REJECTED, format!("cluster {cluster} refused: {}", controller_runtime::error_chain(&e))),
    };
    let namespaces: Api<core::Namespace> = Api::all(client);
    let target = ns.spec.namespace.as_str();
    let Some(real) = namespaces.get_opt(target).await.map_err(failed)? else {
        return Ok(false);
    };
    let labels = real.metadata.labels.clone().unwrap_or_default();
    let ours = labels.get(PROJECT_LABEL).map(String::as_str) == Some(project)
        && labels.get(NAMESPACE_LABEL).map(String::as_str) == Some(name);
    if !ours {
        tracing::info!(
            project,
            name,
            namespace = target,
            cluster,
            "namespace left in the cluster: not labelled as this object's"
        );
        return Ok(false);
    }
    if real.metadata.deletion_timestamp.is_none() {
        match namespaces.delete(target, &DeleteParams::default().grace_period(5)).await {
            Ok(_) => tracing::info!(project, name, namespace = target, cluster, "namespace deleted in the cluster"),
            Err(e) if runner::api_code(&e) == Some(404) => return Ok(false),
            Err(e) => return Err(failed(e)),
        }
    }
    // Gone only when the cluster says so.
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labelled(p: &str, n: &str) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        if !p.is_empty() {
            m.insert(PROJECT_LABEL.to_string(), p.to_string());
        }
        if !n.is_empty() {
            m.insert(NAMESPACE_LABEL.to_string(), n.to_string());
        }
        m.insert("kubernetes.io/metadata.name".into(), "web".into());
        m
    }

    fn business_ns(status: Value) -> Namespace {
        serde_json::from_value(json!({
            "metadata": {"name": "cls-a-web", "namespace": "prj-a"},
            "spec": {"clusterName": "cls-a", "namespace": "web", "hard": {"cpu": "2"}},
            "status": status,
        }))
        .expect("namespace")
    }

    #[test]
    fn ownership_reads_the_two_labels() {
        assert_eq!(ownership(&labelled("prj-a", "cls-a-web"), "prj-a", "cls-a-web"), Ownership::Ours);
        assert_eq!(
            ownership(&labelled("prj-a", ""), "prj-a", "cls-a-web"),
            Ownership::Ours,
            "half-labelled: ours to complete"
        );
        assert_eq!(ownership(&labelled("", ""), "prj-a", "cls-a-web"), Ownership::Unlabelled);
        assert_eq!(
            ownership(&labelled("prj-b", "cls-a-web"), "prj-a", "cls-a-web"),
            Ownership::Other { project: "prj-b".into(), namespace: "cls-a-web".into() },
            "the same object name in another project (a move) is not ours"
        );
        assert_eq!(
            ownership(&labelled("", "cls-a-web"), "prj-a", "cls-a-web"),
            Ownership::Other { project: String::new(), namespace: "cls-a-web".into() }
        );
    }

    #[test]
    fn only_new_or_missing_namespaces_are_adopted() {
        assert!(may_adopt(&business_ns(json!({"phase": "Pending"}))));
        assert!(!may_adopt(&business_ns(json!({"phase": "Available", "resourceQuotaName": "web"}))));
        assert!(may_adopt(&business_ns(
            json!({"phase": "Failed", "reason": "NamespaceNotFound", "resourceQuotaName": "web"})
        )));
        assert!(!may_adopt(&business_ns(
            json!({"phase": "Failed", "reason": "ConnectClusterError", "resourceQuotaName": "web"})
        )));
    }

    #[test]
    fn status_patches_carry_only_what_changed() {
        let ns =
            business_ns(json!({"phase": "Available", "resourceQuotaName": "web", "used": {"cpu": "1", "pods": "2"}}));
        let same = Observed {
            phase: "Available".into(),
            resource_quota_name: Some("web".into()),
            used: Some([("cpu".to_string(), "1".to_string()), ("pods".to_string(), "2".to_string())].into()),
            ..Default::default()
        };
        assert_eq!(status_patch(&ns, &same, "t1"), None);
        let less = Observed { used: Some([("cpu".to_string(), "500m".to_string())].into()), ..same.clone() };
        assert_eq!(status_patch(&ns, &less, "t1"), Some(json!({"status": {"used": {"cpu": "500m", "pods": null}}})));
        // A failure keeps what it did not look at, and moves the transition time.
        let failed = Observed::failed(reason::CONNECT_CLUSTER_ERROR, "down");
        assert_eq!(
            status_patch(&ns, &failed, "t2"),
            Some(json!({"status": {"phase": "Failed", "lastTransitionTime": "t2",
                "reason": "ConnectClusterError", "message": "down"}}))
        );
        let back = business_ns(json!({"phase": "Failed", "reason": "ConnectClusterError", "message": "down",
            "resourceQuotaName": "web", "used": {"cpu": "1", "pods": "2"}}));
        assert_eq!(
            status_patch(&back, &same, "t3"),
            Some(
                json!({"status": {"phase": "Available", "lastTransitionTime": "t3", "reason": null, "message": null}})
            )
        );
    }
}
