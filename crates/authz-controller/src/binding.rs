//! The MultiClusterRoleBinding controller and the Role controller.
//!
//! A binding's reconcile reads the world and makes the clusters match it: the role
//! (`namespace/name`, or `name` in `default`) and its policies' rules; the target clusters (the
//! listed ones, or every cluster of the binding's tenant for `*`; a cluster of another tenant is
//! refused); then in each target the grant is applied, and from each cluster that holds a grant
//! (per the binding's conditions) but is no longer a target it is revoked. A missing or deleted
//! role revokes everywhere. A deleted binding (metadata finalizer `rolebinding`, set by the API)
//! is revoked everywhere before the finalizer is cleared. A cluster that cannot be reached keeps
//! its condition `False` with the reason and the reconcile retries with back-off; everything is
//! also checked again every `resync`, which heals what was changed by hand in a cluster.
//!
//! Grants and revokes in one cluster take turns (a lock per cluster), so that a revoke's clean-up
//! of a ClusterRole no binding uses any more cannot remove one another binding is granting.
//!
//! Changes of Roles, Policies and Clusters re-examine the bindings they concern. A deleted Role
//! (metadata finalizer `role`) is held until no binding still grants it in a cluster.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use api::authz::{
    MultiClusterRoleBinding, Policy, Role,
    common::{finalizer, split_reference},
    multi_cluster_role_binding::ClusterGrantCondition,
};
use controller_runtime::{
    cluster::{ClusterAccess, ClusterClients},
    shell::{Failures, decode},
};
use futures::{FutureExt as _, StreamExt};
use k8s_openapi::{api::rbac::v1::PolicyRule, apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
use kube::{
    Api, Client, ResourceExt,
    api::{ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams},
    runtime::{Controller, controller::Action, reflector::ObjectRef, watcher},
};
use serde_json::json;

use crate::grant::{self, GrantError};

/// The condition type of a cluster's grant.
pub const GRANTED: &str = "Granted";

/// Condition reasons.
pub mod reason {
    pub const GRANTED: &str = "Granted";
    pub const CLUSTER_NOT_FOUND: &str = "ClusterNotFound";
    pub const NOT_IN_TENANT: &str = "ClusterNotInTenant";
    pub const CLUSTER_UNREACHABLE: &str = "ClusterUnreachable";
    pub const CLUSTER_DELETING: &str = "ClusterDeleting";
    pub const ROLE_NOT_FOUND: &str = "RoleNotFound";
    /// Revoking from a cluster dropped from the list (or of a deleted binding) failed.
    pub const REMOVING: &str = "Removing";
    /// The cluster refused the platform's credential the right to manage RBAC.
    pub const FORBIDDEN: &str = "Forbidden";
    /// The cluster refused the objects for another reason (its message says which).
    pub const REJECTED: &str = "RejectedByCluster";
    pub const NOT_MANAGED: &str = "NotManaged";
}

const TRUE: &str = "True";
const FALSE: &str = "False";
const UNKNOWN: &str = "Unknown";

/// Settings of the controllers.
#[derive(Clone, Debug)]
pub struct Options {
    /// Bindings reconciled at once.
    pub concurrency: u16,
    /// Every binding is checked again this often (grants changed by hand in a cluster heal).
    pub resync: Duration,
    /// Clusters a binding works on at once.
    pub cluster_concurrency: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { concurrency: 4, resync: Duration::from_secs(300), cluster_concurrency: 8 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the platform API: {}", controller_runtime::error_chain(.0))]
    Platform(#[from] kube::Error),
    #[error("{0} cannot be read: {1}")]
    Decode(String, serde_json::Error),
}

fn resource(kind: &str, plural: &str, group: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural)
}

struct Ctx {
    platform: Client,
    clusters: Arc<dyn ClusterClients>,
    opts: Options,
    bindings: ApiResource,
    roles: ApiResource,
    policies: ApiResource,
    cluster_resource: ApiResource,
    failures: Failures,
    /// One lock per business cluster: a revoke deletes a ClusterRole no binding of ours uses any
    /// more, which must not interleave with another binding granting the same role there.
    cluster_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Ctx {
    fn cluster_lock(&self, cluster: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.cluster_locks.lock().unwrap_or_else(|p| p.into_inner()).entry(cluster.to_string()).or_default().clone()
    }
}

/// Runs the binding and role controllers until `shutdown` resolves.
pub async fn run(
    platform: Client,
    clusters: Arc<dyn ClusterClients>,
    opts: Options,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let authz = api::authz::GROUP;
    let ctx = Arc::new(Ctx {
        platform: platform.clone(),
        clusters,
        opts: opts.clone(),
        bindings: resource(api::authz::multi_cluster_role_binding::KIND, "multiclusterrolebindings", authz),
        roles: resource(api::authz::role::KIND, "roles", authz),
        policies: resource(api::authz::policy::KIND, "policies", authz),
        cluster_resource: resource("Cluster", "clusters", api::platform::GROUP),
        failures: Failures::default(),
        cluster_locks: Mutex::new(HashMap::new()),
    });
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown));

    let bindings_api: Api<DynamicObject> = Api::all_with(platform.clone(), &ctx.bindings);
    let controller = Controller::new_with(bindings_api, watcher::Config::default(), ctx.bindings.clone());
    let store = controller.store();
    let (by_role, by_policy, by_cluster) = (store.clone(), store.clone(), store);
    let (ar1, ar2, ar3) = (ctx.bindings.clone(), ctx.bindings.clone(), ctx.bindings.clone());
    // What each cluster looked like when last seen: its status changes with every health check,
    // and only a new cluster, another tenant or another phase can change what it must hold.
    let seen_clusters: Mutex<HashMap<String, (String, String)>> = Mutex::new(HashMap::new());
    let stop = shutdown.clone();
    let bindings = controller
        .watches_with(
            Api::<DynamicObject>::all_with(platform.clone(), &ctx.roles),
            ctx.roles.clone(),
            watcher::Config::default(),
            move |role: DynamicObject| {
                let (ns, name) = (role.namespace().unwrap_or_default(), role.name_any());
                refs(&by_role, &ar1, |b| role_of(b) == (ns.as_str(), name.as_str()))
            },
        )
        .watches_with(
            Api::<DynamicObject>::all_with(platform.clone(), &ctx.policies),
            ctx.policies.clone(),
            watcher::Config::default(),
            move |policy: DynamicObject| {
                // Templates of `default` may be in any tenant's roles.
                let ns = policy.namespace().unwrap_or_default();
                refs(&by_policy, &ar2, |b| ns == api::authz::common::TEMPLATE_NAMESPACE || b.namespace() == ns)
            },
        )
        .watches_with(
            Api::<DynamicObject>::all_with(platform.clone(), &ctx.cluster_resource),
            ctx.cluster_resource.clone(),
            watcher::Config::default(),
            move |cluster: DynamicObject| {
                let name = cluster.name_any();
                let tenant = cluster.data["spec"]["tenantID"].as_str().unwrap_or_default().to_string();
                let phase = cluster.data["status"]["phase"].as_str().unwrap_or_default().to_string();
                let state = (tenant.clone(), phase);
                let changed =
                    seen_clusters.lock().unwrap_or_else(|p| p.into_inner()).insert(name.clone(), state.clone())
                        != Some(state);
                if !changed {
                    return vec![];
                }
                refs(&by_cluster, &ar3, |b| {
                    b.tenant() == tenant && (b.all_clusters() || b.spec.clusters.contains(&name))
                        || conditions_of(b).iter().any(|c| c.cluster == name)
                })
            },
        )
        .with_config(kube::runtime::controller::Config::default().concurrency(opts.concurrency.max(1)))
        .graceful_shutdown_on(stop)
        .run(
            |o, c| controller_runtime::metrics::observe("multi-cluster role binding", reconcile(o, c)),
            error_policy,
            ctx.clone(),
        )
        .for_each(|_| async {});

    let roles_api: Api<DynamicObject> = Api::all_with(platform.clone(), &ctx.roles);
    let stop = shutdown.clone();
    let roles = Controller::new_with(roles_api, watcher::Config::default(), ctx.roles.clone())
        .graceful_shutdown_on(stop)
        .run(
            |o, c| controller_runtime::metrics::observe("multi-cluster role", reconcile_role(o, c)),
            error_policy_role,
            ctx.clone(),
        )
        .for_each(|_| async {});
    tokio::join!(bindings, roles);
}

/// The bindings of the store for which `pred` holds, as references to reconcile.
fn refs(
    store: &kube::runtime::reflector::Store<DynamicObject>,
    ar: &ApiResource,
    pred: impl Fn(&MultiClusterRoleBinding) -> bool,
) -> Vec<ObjectRef<DynamicObject>> {
    store
        .state()
        .iter()
        .filter(|o| decode::<MultiClusterRoleBinding>(o).is_ok_and(|b| pred(&b)))
        .map(|o| ObjectRef::from_obj_with(o.as_ref(), ar.clone()))
        .collect()
}

/// `(namespace, name)` of the binding's role.
fn role_of(b: &MultiClusterRoleBinding) -> (&str, &str) {
    split_reference(&b.spec.role_name)
}

fn conditions_of(b: &MultiClusterRoleBinding) -> &[ClusterGrantCondition] {
    b.status.as_ref().map_or(&[], |s| s.conditions.as_slice())
}

fn error_policy(obj: Arc<DynamicObject>, e: &Error, ctx: Arc<Ctx>) -> Action {
    let wait = ctx.failures.failed(&obj.uid().unwrap_or_default());
    tracing::warn!(namespace = obj.namespace().unwrap_or_default(), name = obj.name_any(), error = %e, retry_in = ?wait, "multiclusterrolebinding reconcile failed");
    Action::requeue(wait)
}

fn error_policy_role(obj: Arc<DynamicObject>, e: &Error, _ctx: Arc<Ctx>) -> Action {
    tracing::warn!(namespace = obj.namespace().unwrap_or_default(), name = obj.name_any(), error = %e, "authz role reconcile failed");
    Action::requeue(Duration::from_secs(5))
}

/// The role of a binding, as it stands.
#[derive(Clone, Debug, PartialEq)]
pub enum Resolved {
    /// The ClusterRole's rules, and the policies of the role left out of it with the reason
    /// (`default/pol-x (not found)`, `t1/pol-y (scope Platform)`).
    Role { rules: Vec<PolicyRule>, left_out: Vec<String> },
    /// No role to grant (the text says why).
    Missing(String),
}

/// The rules a policy gives the ClusterRoles of business clusters: those of `MultiCluster`
/// policies; the other scopes are about the platform (`Platform`) or projects (`Business`).
pub fn fanned_out(policy: &Policy) -> Result<&[PolicyRule], String> {
    match policy.scope.as_str() {
        "" | api::authz::common::scope::MULTI_CLUSTER => Ok(&policy.rules),
        other => Err(format!("scope {other}")),
    }
}

async fn resolve_role(ctx: &Ctx, b: &MultiClusterRoleBinding) -> Result<Resolved, Error> {
    let (ns, name) = role_of(b);
    let roles: Api<DynamicObject> = Api::namespaced_with(ctx.platform.clone(), ns, &ctx.roles);
    let Some(obj) = roles.get_opt(name).await? else {
        return Ok(Resolved::Missing(format!("role {ns}/{name} does not exist")));
    };
    if obj.metadata.deletion_timestamp.is_some() {
        return Ok(Resolved::Missing(format!("role {ns}/{name} is being deleted")));
    }
    let role: Role = decode(&obj).map_err(|e| Error::Decode(format!("role {ns}/{name}"), e))?;
    let mut rules = vec![];
    let mut left_out = vec![];
    for reference in &role.policies {
        let (pns, pname) = split_reference(reference);
        let policies: Api<DynamicObject> = Api::namespaced_with(ctx.platform.clone(), pns, &ctx.policies);
        match policies.get_opt(pname).await? {
            Some(p) => {
                let policy: Policy = decode(&p).map_err(|e| Error::Decode(format!("policy {pns}/{pname}"), e))?;
                match fanned_out(&policy) {
                    Ok(r) => rules.extend_from_slice(r),
                    Err(why) => left_out.push(format!("{pns}/{pname} ({why})")),
                }
            }
            None => left_out.push(format!("{pns}/{pname} (not found)")),
        }
    }
    Ok(Resolved::Role { rules, left_out })
}

/// A cluster a binding is meant for, or why it cannot have it.
#[derive(Clone, Debug, PartialEq)]
struct Target {
    cluster: String,
    refused: Option<(&'static str, String)>,
}

async fn targets(ctx: &Ctx, b: &MultiClusterRoleBinding) -> Result<Vec<Target>, Error> {
    let clusters: Api<DynamicObject> = Api::all_with(ctx.platform.clone(), &ctx.cluster_resource);
    let tenant = b.tenant();
    if b.all_clusters() {
        let list = clusters.list(&ListParams::default().fields(&format!("spec.tenantID={tenant}"))).await?;
        return Ok(list
            .items
            .iter()
            .filter(|c| c.metadata.deletion_timestamp.is_none())
            .map(|c| Target { cluster: c.name_any(), refused: None })
            .collect());
    }
    let mut out = vec![];
    for name in &b.spec.clusters {
        let refused = match clusters.get_opt(name).await? {
            None => Some((reason::CLUSTER_NOT_FOUND, format!("cluster {name} does not exist"))),
            Some(c) if c.data["spec"]["tenantID"].as_str().unwrap_or_default() != tenant => Some((
                reason::NOT_IN_TENANT,
                format!("cluster {name} does not belong to tenant {tenant}, the binding's namespace"),
            )),
            Some(_) => None,
        };
        out.push(Target { cluster: name.clone(), refused });
    }
    Ok(out)
}

/// What happened in one cluster.
struct Outcome {
    cluster: String,
    /// `None`: nothing to record (revoked, or never granted). Else the status (`True`,
    /// `False`: does not hold the grant, `Unknown`: may still hold it), reason and message.
    condition: Option<(&'static str, &'static str, String)>,
    /// Something failed and must be retried.
    retry: bool,
}

impl Outcome {
    fn done(cluster: &str) -> Self {
        Outcome { cluster: cluster.to_string(), condition: None, retry: false }
    }
    fn failed(cluster: &str, reason: &'static str, message: String) -> Self {
        Outcome { cluster: cluster.to_string(), condition: Some((FALSE, reason, message)), retry: true }
    }
    /// A revoke that did not happen: the cluster may still hold the grant.
    fn not_revoked(cluster: &str, message: String) -> Self {
        Outcome { cluster: cluster.to_string(), condition: Some((UNKNOWN, reason::REMOVING, message)), retry: true }
    }
}

/// Revokes the binding's grant from `cluster`. A cluster that is gone, or being deleted and no
/// longer reachable, holds nothing to revoke.
async fn revoke_in(ctx: Arc<Ctx>, cluster: String, crb: String, cr: String) -> Outcome {
    let (cluster, crb, cr) = (cluster.as_str(), crb.as_str(), cr.as_str());
    let client = match ctx.clusters.access(cluster).await {
        ClusterAccess::Ready(c) | ClusterAccess::Deleting(Some(c)) => c,
        ClusterAccess::Gone | ClusterAccess::Deleting(None) => return Outcome::done(cluster),
        ClusterAccess::NotReady(why) => {
            return Outcome::not_revoked(cluster, format!("cannot revoke the grant yet: {why}"));
        }
    };
    let lock = ctx.cluster_lock(cluster);
    let _held = lock.lock().await;
    match grant::revoke(&client, crb, cr).await {
        Ok(()) => Outcome::done(cluster),
        Err(e) => Outcome::not_revoked(cluster, format!("cannot revoke the grant yet: {e}")),
    }
}

async fn grant_in(
    ctx: Arc<Ctx>,
    cluster: String,
    role: k8s_openapi::api::rbac::v1::ClusterRole,
    binding: k8s_openapi::api::rbac::v1::ClusterRoleBinding,
    note: String,
) -> Outcome {
    let (cluster, note) = (cluster.as_str(), note.as_str());
    let client = match ctx.clusters.access(cluster).await {
        ClusterAccess::Ready(c) => c,
        ClusterAccess::NotReady(why) => {
            return Outcome::failed(cluster, reason::CLUSTER_UNREACHABLE, format!("cluster {cluster}: {why}"));
        }
        ClusterAccess::Gone => {
            return Outcome::failed(cluster, reason::CLUSTER_NOT_FOUND, format!("cluster {cluster} does not exist"));
        }
        ClusterAccess::Deleting(_) => {
            let message = format!("cluster {cluster} is being deleted");
            return Outcome {
                cluster: cluster.into(),
                condition: Some((FALSE, reason::CLUSTER_DELETING, message)),
                retry: false,
            };
        }
    };
    let lock = ctx.cluster_lock(cluster);
    let _held = lock.lock().await;
    match grant::grant(&client, &role, &binding).await {
        Ok(()) => Outcome {
            cluster: cluster.into(),
            condition: Some((TRUE, reason::GRANTED, note.to_string())),
            retry: false,
        },
        // Someone else's object: retrying will not help until a person acts (a change of the
        // binding or the resync tries again).
        Err(e @ GrantError::NotManaged { .. }) => {
            Outcome { cluster: cluster.into(), condition: Some((FALSE, e.reason(), e.to_string())), retry: false }
        }
        Err(e) => Outcome::failed(cluster, e.reason(), e.to_string()),
    }
}

/// Whether a cluster with this condition may hold the binding's grant (it was granted, and not
/// revoked since): those are the clusters to revoke from.
pub fn may_hold(c: &ClusterGrantCondition) -> bool {
    c.status == TRUE || c.status == UNKNOWN
}

/// The new conditions from the outcomes `(cluster, status, reason, message)`, keeping
/// `lastTransitionTime` of conditions whose status did not change; sorted by cluster. A cluster
/// that may hold the grant and could not be granted again (unreachable, say) becomes `Unknown`,
/// not `False`, so that it is still revoked from later.
pub fn conditions(
    old: &[ClusterGrantCondition],
    outcomes: &[(String, &str, &str, String)],
    now: &str,
) -> Vec<ClusterGrantCondition> {
    let old: BTreeMap<&str, &ClusterGrantCondition> = old.iter().map(|c| (c.cluster.as_str(), c)).collect();
    let mut out: Vec<ClusterGrantCondition> = outcomes
        .iter()
        .map(|(cluster, status, reason, message)| {
            let previous = old.get(cluster.as_str());
            let unsure = *status == FALSE
                && previous.is_some_and(|c| may_hold(c))
                && [reason::CLUSTER_UNREACHABLE, reason::CLUSTER_DELETING, reason::FORBIDDEN, reason::REJECTED]
                    .contains(reason);
            let status = if unsure { UNKNOWN } else { *status };
            let since = old
                .get(cluster.as_str())
                .filter(|c| c.status == status)
                .and_then(|c| c.last_transition_time.clone())
                .unwrap_or_else(|| now.to_string());
            ClusterGrantCondition {
                cluster: cluster.clone(),
                type_: GRANTED.into(),
                status: status.into(),
                reason: reason.to_string(),
                message: message.clone(),
                last_transition_time: Some(since),
            }
        })
        .collect();
    out.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    out.dedup_by(|a, b| a.cluster == b.cluster);
    out
}

fn now() -> String {
    serde_json::to_value(Time(Timestamp::now())).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn has_finalizer(obj: &DynamicObject, name: &str) -> bool {
    obj.finalizers().iter().any(|f| f == name)
}

/// Clears `name` from the object's finalizers, as of the version read (a conflict retries the
/// reconcile).
async fn remove_finalizer(api: &Api<DynamicObject>, obj: &DynamicObject, name: &str) -> Result<(), kube::Error> {
    let kept: Vec<&String> = obj.finalizers().iter().filter(|f| *f != name).collect();
    let patch = json!({"metadata": {"finalizers": kept, "resourceVersion": obj.resource_version()}});
    match api.patch(&obj.name_any(), &PatchParams::default(), &Patch::Merge(patch)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

async fn reconcile(obj: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let (ns, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.platform.clone(), &ns, &ctx.bindings);
    let b: MultiClusterRoleBinding =
        decode(&obj).map_err(|e| Error::Decode(format!("multiclusterrolebinding {ns}/{name}"), e))?;
    let deleting = obj.metadata.deletion_timestamp.is_some();
    if deleting && !has_finalizer(&obj, finalizer::MULTI_CLUSTER_ROLE_BINDING) {
        return Ok(Action::await_change());
    }
    let (role_ns, role_name) = role_of(&b);
    let cr_name = grant::cluster_role_name(role_ns, role_name);
    let crb_name = grant::cluster_role_binding_name(&ns, &name);
    let old = conditions_of(&b).to_vec();
    let held: BTreeSet<String> = old.iter().filter(|c| may_hold(c)).map(|c| c.cluster.clone()).collect();
    let targets = targets(&ctx, &b).await?;

    // One owned future per cluster (they run a few at a time).
    let mut work: Vec<futures::future::BoxFuture<'static, Outcome>> = vec![];
    let revoke = |cluster: &str| revoke_in(ctx.clone(), cluster.to_string(), crb_name.clone(), cr_name.clone()).boxed();
    if deleting {
        // Every cluster that may hold the grant: those whose condition says so, and targets
        // without a condition (never examined, or the status was lost).
        let known: BTreeSet<&str> = old.iter().map(|c| c.cluster.as_str()).collect();
        let unknown = targets.iter().filter(|t| t.refused.is_none() && !known.contains(t.cluster.as_str()));
        let all: BTreeSet<String> = held.iter().cloned().chain(unknown.map(|t| t.cluster.clone())).collect();
        work.extend(all.iter().map(|c| revoke(c)));
    } else {
        let resolved = resolve_role(&ctx, &b).await?;
        let target_names: BTreeSet<&str> = targets.iter().map(|t| t.cluster.as_str()).collect();
        for t in &targets {
            if let Some((reason, message)) = &t.refused {
                work.push(
                    futures::future::ready(Outcome::failed(&t.cluster, reason, message.clone()).no_retry()).boxed(),
                );
                continue;
            }
            match &resolved {
                Resolved::Role { rules, left_out } => {
                    let note = if left_out.is_empty() {
                        String::new()
                    } else {
                        format!("policies left out: {}", left_out.join(", "))
                    };
                    let role = grant::cluster_role(role_ns, role_name, rules.clone());
                    let binding = grant::cluster_role_binding(&ns, &name, role_ns, role_name, &b.spec.username);
                    work.push(grant_in(ctx.clone(), t.cluster.clone(), role, binding, note).boxed());
                }
                Resolved::Missing(why) => {
                    let revoked = if held.contains(&t.cluster) {
                        revoke(&t.cluster)
                    } else {
                        futures::future::ready(Outcome::done(&t.cluster)).boxed()
                    };
                    let (cluster, why) = (t.cluster.clone(), why.clone());
                    // Nothing of a missing role may stay granted; what remains to say is why.
                    work.push(
                        async move {
                            let o = revoked.await;
                            if o.condition.is_some() {
                                return o;
                            }
                            Outcome::failed(&cluster, reason::ROLE_NOT_FOUND, why).no_retry()
                        }
                        .boxed(),
                    );
                }
            }
        }
        work.extend(held.iter().filter(|c| !target_names.contains(c.as_str())).map(|c| revoke(c)));
    }
    let outcomes: Vec<Outcome> =
        futures::stream::iter(work).buffer_unordered(ctx.opts.cluster_concurrency.max(1)).collect().await;

    let retry = outcomes.iter().any(|o| o.retry);
    let recorded: Vec<(String, &str, &str, String)> = outcomes
        .iter()
        .filter_map(|o| o.condition.as_ref().map(|(s, r, m)| (o.cluster.clone(), *s, *r, m.clone())))
        .collect();
    let new_conditions = conditions(&old, &recorded, &now());
    let uid = obj.uid().unwrap_or_default();

    if deleting && !retry {
        remove_finalizer(&api, &obj, finalizer::MULTI_CLUSTER_ROLE_BINDING).await?;
        ctx.failures.succeeded(&uid);
        tracing::info!(namespace = ns, name, "multiclusterrolebinding revoked from every cluster");
        return Ok(Action::await_change());
    }
    let phase = if deleting { "Terminating" } else { "Active" };
    if b.phase() != phase || old != new_conditions {
        let patch = json!({"status": {"phase": phase, "conditions": new_conditions}});
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(patch)).await?;
    }
    if retry {
        return Ok(Action::requeue(ctx.failures.failed(&uid)));
    }
    ctx.failures.succeeded(&uid);
    Ok(Action::requeue(ctx.opts.resync))
}

impl Outcome {
    /// Recorded, but retrying alone will not change it (a change of the binding or cluster will).
    fn no_retry(mut self) -> Self {
        self.retry = false;
        self
    }
}

/// A deleted Role stays until no binding holds a grant of it (the bindings revoke it when they
/// see it being deleted); then its `role` finalizer is cleared.
async fn reconcile_role(obj: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    if obj.metadata.deletion_timestamp.is_none() || !has_finalizer(&obj, finalizer::ROLE) {
        return Ok(Action::await_change());
    }
    let (ns, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
    let bindings: Api<DynamicObject> = if ns == api::authz::common::TEMPLATE_NAMESPACE {
        Api::all_with(ctx.platform.clone(), &ctx.bindings)
    } else {
        Api::namespaced_with(ctx.platform.clone(), &ns, &ctx.bindings)
    };
    let holding: Vec<String> = bindings
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter_map(|o| decode::<MultiClusterRoleBinding>(o).ok())
        .filter(|b| role_of(b) == (ns.as_str(), name.as_str()))
        .filter(|b| conditions_of(b).iter().any(may_hold))
        .map(|b| format!("{}/{}", b.namespace(), b.name()))
        .collect();
    if !holding.is_empty() {
        tracing::debug!(namespace = ns, name, bindings = ?holding, "role still granted in clusters");
        return Ok(Action::requeue(Duration::from_secs(2)));
    }
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.platform.clone(), &ns, &ctx.roles);
    remove_finalizer(&api, &obj, finalizer::ROLE).await?;
    tracing::info!(namespace = ns, name, "authz role released: no cluster holds it any more");
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(cluster: &str, status: &str, since: &str) -> ClusterGrantCondition {
        ClusterGrantCondition {
            cluster: cluster.into(),
            type_: GRANTED.into(),
            status: status.into(),
            reason: String::new(),
            message: String::new(),
            last_transition_time: Some(since.into()),
        }
    }

    #[test]
    fn conditions_keep_their_transition_time_while_the_status_holds() {
        let old = [cond("cls-a", "True", "t0"), cond("cls-b", "False", "t0")];
        let outcomes = vec![
            ("cls-b".to_string(), TRUE, reason::GRANTED, String::new()),
            ("cls-a".to_string(), TRUE, reason::GRANTED, String::new()),
            ("cls-c".to_string(), FALSE, reason::CLUSTER_UNREACHABLE, "down".to_string()),
        ];
        let new = conditions(&old, &outcomes, "t1");
        let got: Vec<(&str, &str, &str, Option<&str>)> = new
            .iter()
            .map(|c| (c.cluster.as_str(), c.status.as_str(), c.reason.as_str(), c.last_transition_time.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("cls-a", "True", "Granted", Some("t0")),
                ("cls-b", "True", "Granted", Some("t1")),
                ("cls-c", "False", "ClusterUnreachable", Some("t1")),
            ]
        );
        assert!(new.iter().all(|c| c.type_ == GRANTED));
        // A cluster without an outcome (revoked) has no condition any more.
        assert!(conditions(&old, &[], "t1").is_empty());

        // Granted once, unreachable now: it may still hold the grant (Unknown, revoked later);
        // never granted and unreachable: it holds nothing (False).
        let down = |c: &str| (c.to_string(), FALSE, reason::CLUSTER_UNREACHABLE, "down".to_string());
        let new = conditions(&old, &[down("cls-a"), down("cls-b")], "t2");
        assert_eq!((new[0].status.as_str(), new[0].last_transition_time.as_deref()), ("Unknown", Some("t2")));
        assert_eq!((new[1].status.as_str(), new[1].last_transition_time.as_deref()), ("False", Some("t0")));
        assert!(may_hold(&new[0]) && !may_hold(&new[1]));
        // Someone else's object: we wrote nothing, whatever we held before... is still ours to
        // revoke only if we held it.
        let refused = conditions(&[], &[("cls-a".into(), FALSE, reason::NOT_MANAGED, String::new())], "t3");
        assert!(!may_hold(&refused[0]));
    }

    #[test]
    fn the_role_reference_defaults_to_the_template_namespace() {
        let b: MultiClusterRoleBinding = serde_json::from_value(json!({
            "metadata": {"name": "b", "namespace": "t1"},
            "spec": {"tenantID": "t1", "username": "bob", "roleName": "rol-view", "clusters": ["*"]},
            "status": {"phase": "Active", "conditions": [{"cluster": "cls-a", "type": "Granted", "status": "True"}]},
        }))
        .unwrap();
        assert_eq!(role_of(&b), ("default", "rol-view"));
        assert_eq!(conditions_of(&b)[0].cluster, "cls-a");
        let mut other = b.clone();
        other.spec.role_name = "t1/rol-ops".into();
        assert_eq!(role_of(&other), ("t1", "rol-ops"));
    }

    #[test]
    fn only_multi_cluster_policies_reach_the_clusters() {
        let policy = |scope: &str| -> Policy {
            serde_json::from_value(json!({"scope": scope, "rules": [{"verbs": ["get"], "resources": ["pods"]}]}))
                .unwrap()
        };
        assert_eq!(fanned_out(&policy("MultiCluster")).unwrap().len(), 1);
        assert_eq!(fanned_out(&policy("")).unwrap().len(), 1);
        assert_eq!(fanned_out(&policy("Platform")).unwrap_err(), "scope Platform");
        assert_eq!(fanned_out(&policy("Business")).unwrap_err(), "scope Business");
    }

    #[test]
    fn now_is_rfc3339_in_seconds() {
        let t = now();
        assert!(t.ends_with('Z') && t.len() == "2026-12-07T13:01:29Z".len(), "{t}");
    }
}
