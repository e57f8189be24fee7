//! The NsEmigration controller (reference 4.3): moves a business Namespace (`spec.namespace`,
//! in the emigration's own project) to the project `spec.destination`, through phases that are
//! each written before the next begins, so that a controller stopped at any point and started
//! again finishes the move from the phase stored:
//!
//! 1. `Pending`: the checks that need other objects (the namespace exists in this project and
//!    is `Available`, not moving already; the destination exists in the same tenant, may use the
//!    cluster and has no namespace of that name) fail the move with a reason; then the old
//!    object is locked: annotation `business.tkestack.io/emigration` naming the emigration,
//!    phase `Locked` (the Namespace controller leaves it alone from then on) → `OldOneLocked`.
//! 2. The two TKE labels are taken off the Kubernetes namespace → `OldOneDetached`.
//! 3. The new business Namespace `{cluster}-{namespace}` is created in the destination with
//!    the same spec (its controller adopts the unlabelled namespace), and the old object is
//!    annotated `business.tkestack.io/moved-to` → `NewOneCreated`.
//! 4. The old object is deleted; the Namespace controller deletes a Kubernetes namespace only
//!    while it is labelled as that object's, which it no longer is → `OldOneTerminating`.
//! 5. Once the old object is gone → `Finished`.
//!
//! At every moment the namespace belongs to exactly one project, or is visibly `Locked` with
//! the emigration named. A failure before the new object exists (the cluster refuses, the
//! destination refuses the new object: its quota, say) undoes the lock: the labels are put
//! back and the old object unlocked, then the move is `Failed` with the reason. After the new
//! object exists the move can only go forward, and errors are retried.
//!
//! The checks of `Pending` also run at creation ([`register`]: an admission of the API
//! server), so most impossible moves are refused with the field to change before they exist.
//!
//! An emigration holds the finalizer `business.tkestack.io/emigration` from its first step
//! until the move is over: deleted before the new object exists, the move is called off (undone
//! as above); deleted later, the move is finished first. No namespace stays locked by an
//! emigration that is gone.

use std::{sync::Arc, time::Duration};

use api::business::{
    Namespace, NsEmigration, Project,
    common::{EMIGRATION_ANNOTATION, MOVED_TO_ANNOTATION, NAMESPACE_LABEL, PROJECT_LABEL, emigration_phase, phase},
};
use controller_runtime::{
    cluster::{ClusterAccess, ClusterClients},
    shell::{Failures, decode},
};
use futures::StreamExt;
use k8s_openapi::api::core::v1 as core;
use kube::{
    Api, Client, ResourceExt,
    api::{ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams},
    runtime::{Controller, controller::Action, watcher},
};
use serde_json::{Value, json};

use crate::{
    namespace::{self, Ownership, annotation, ownership},
    runner::{self, now},
};

/// Reasons of `Failed` moves.
pub mod reason {
    pub const NAMESPACE_NOT_FOUND: &str = "NamespaceNotFound";
    pub const NAMESPACE_NOT_AVAILABLE: &str = "NamespaceNotAvailable";
    pub const NAMESPACE_LOCKED: &str = "NamespaceLocked";
    pub const DESTINATION_NOT_FOUND: &str = "DestinationNotFound";
    pub const CLUSTER_NOT_ALLOWED: &str = "ClusterNotAllowed";
    pub const DESTINATION_EXISTS: &str = "DestinationExists";
    pub const CONFLICT_PROJECT: &str = "ConflictProject";
    pub const CLUSTER_NOT_FOUND: &str = "ClusterNotFound";
    /// The destination refused the new object (its quota, its rules): the message says why.
    pub const CREATE_FAILED: &str = "CreateNamespaceFailed";
    /// Reason on the old object while it is locked.
    pub const EMIGRATING: &str = "Emigrating";
}

/// Settings of the controller.
#[derive(Clone, Debug)]
pub struct Options {
    pub concurrency: u16,
}

impl Default for Options {
    fn default() -> Self {
        Options { concurrency: 2 }
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

/// What one step of the move came to.
#[derive(Debug, PartialEq)]
pub enum Step {
    /// The phase is done: write the next one.
    Next(&'static str),
    /// The move cannot be made (reason, message); undone where needed.
    Fail(&'static str, String),
    /// Not there yet: look again after a while.
    Wait(Duration),
}

/// The emigrations of the platform's API.
pub fn resource() -> ApiResource {
    runner::business(api::business::ns_emigration::KIND, "nsemigrations")
}

fn projects_resource() -> ApiResource {
    runner::business(api::business::project::KIND, "projects")
}

/// The value of the lock annotation for emigration `name` of `project`.
pub fn lock_value(project: &str, name: &str) -> String {
    format!("{project}/{name}")
}

/// Phases a move may be undone from (the new object does not exist yet).
pub fn undoable(phase: &str) -> bool {
    matches!(phase, emigration_phase::OLD_ONE_LOCKED | emigration_phase::OLD_ONE_DETACHED)
}

/// The checks of `Pending`: the old object and the destination project as read, `None`
/// when missing. `destination_taken`: an object of the new name exists in the destination.
pub fn check(
    e: &NsEmigration,
    old: Option<(&Namespace, Option<&str>)>,
    destination: Option<&Project>,
    destination_taken: bool,
) -> Result<(), (&'static str, String)> {
    let (source, dest) = (e.source(), e.spec.destination.as_str());
    let Some((old, lock)) = old else {
        return Err((reason::NAMESPACE_NOT_FOUND, format!("project {source} has no namespace {}", e.spec.namespace)));
    };
    if let Some(other) = lock {
        return Err((
            reason::NAMESPACE_LOCKED,
            format!("namespace {} is being moved by emigration {other}", old.name()),
        ));
    }
    if old.phase() != phase::AVAILABLE {
        return Err((
            reason::NAMESPACE_NOT_AVAILABLE,
            format!("namespace {} is {}: only an Available namespace can move", old.name(), old.phase()),
        ));
    }
    let Some(project) = destination.filter(|p| p.tenant() == e.tenant()) else {
        return Err((reason::DESTINATION_NOT_FOUND, format!("tenant {} has no project {dest}", e.tenant())));
    };
    if project.phase() == api::business::common::project_phase::TERMINATING {
        return Err((reason::DESTINATION_NOT_FOUND, format!("project {dest} is being deleted")));
    }
    let cluster = &old.spec.cluster_name;
    if !project.spec.clusters.contains_key(cluster) {
        return Err((
            reason::CLUSTER_NOT_ALLOWED,
            format!("project {dest} may not use cluster {cluster} (it is not in its spec.clusters)"),
        ));
    }
    if destination_taken {
        return Err((reason::DESTINATION_EXISTS, format!("project {dest} already has a namespace {}", old.name())));
    }
    Ok(())
}

/// The new business Namespace in the destination: the old one's spec, for the new project.
pub fn new_object(old: &Namespace, destination: &str) -> Value {
    let s = &old.spec;
    json!({
        "apiVersion": api::business::API_VERSION,
        "kind": api::business::namespace::KIND,
        "metadata": {"name": old.name(), "namespace": destination},
        "spec": {
            "tenantID": s.tenant_id,
            "clusterName": s.cluster_name,
            "clusterType": s.cluster_type,
            "clusterVersion": s.cluster_version,
            "clusterDisplayName": s.cluster_display_name,
            "namespace": s.namespace,
            "hard": s.hard,
        },
    })
}

struct Ctx {
    platform: Client,
    clusters: Arc<dyn ClusterClients>,
    failures: Failures,
}

impl Ctx {
    fn namespaces(&self, project: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.platform.clone(), project, &namespace::resource())
    }
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
    let ctx = Arc::new(Ctx { platform, clusters, failures: Failures::default() });
    Controller::new_with(api, watcher::Config::default(), ar)
        .with_config(kube::runtime::controller::Config::default().concurrency(opts.concurrency.max(1)))
        .graceful_shutdown_on(shutdown)
        .run(|o, c| controller_runtime::metrics::observe("namespace emigration", reconcile(o, c)), error_policy, ctx)
        .for_each(|_| async {})
        .await;
}

fn error_policy(obj: Arc<DynamicObject>, e: &Error, ctx: Arc<Ctx>) -> Action {
    let wait = ctx.failures.failed(&obj.uid().unwrap_or_default());
    tracing::warn!(namespace = obj.namespace().unwrap_or_default(), name = obj.name_any(), error = %e, retry_in = ?wait, "namespace emigration failed a step; retrying");
    Action::requeue(wait)
}

async fn reconcile(obj: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let (project, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
    // Read afresh: the cache may still hold a phase this controller has already left, and a
    // step replayed from it (the old object gone, say) would fail a finished move.
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.platform.clone(), &project, &resource());
    let Some(fresh) = api.get_opt(&name).await? else {
        return Ok(Action::await_change());
    };
    let deleting = fresh.metadata.deletion_timestamp.is_some();
    if deleting && !fresh.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    let e: NsEmigration = decode(&fresh).map_err(|err| Error::Decode(format!("nsemigration {project}/{name}"), err))?;
    let mut current = e.phase().to_string();
    loop {
        let over = current == emigration_phase::FINISHED || current == emigration_phase::FAILED;
        if over || (deleting && (current.is_empty() || current == emigration_phase::PENDING || undoable(&current))) {
            if !over {
                // Deleted before the new object existed: the move is called off.
                undo(&ctx, &e, "the emigration was deleted").await?;
                tracing::info!(project, name, phase = current, "namespace emigration deleted: move called off");
            }
            // The steps wrote the object meanwhile: clear the finalizer of the version now stored.
            if let Some(latest) = api.get_opt(&name).await? {
                set_finalizer(&api, &latest, false).await?;
            }
            ctx.failures.succeeded(&obj.uid().unwrap_or_default());
            return Ok(Action::await_change());
        }
        match advance_from(&ctx, &e, &current).await? {
            Progress::Phase(p) => current = p,
            Progress::Wait(d) => return Ok(Action::requeue(d)),
        }
    }
}

/// The finalizer that keeps a deleted emigration until its lock is undone or its move
/// finished, so that no namespace stays locked by an emigration that no longer exists.
pub const FINALIZER: &str = "business.tkestack.io/emigration";

/// Adds (`on`) or clears the emigration's finalizer, over the version read.
async fn set_finalizer(api: &Api<DynamicObject>, obj: &DynamicObject, on: bool) -> Result<(), kube::Error> {
    let mut kept: Vec<String> = obj.finalizers().iter().filter(|f| *f != FINALIZER).cloned().collect();
    if on {
        kept.push(FINALIZER.to_string());
    }
    if kept.len() == obj.finalizers().len() && on == obj.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(());
    }
    let patch = json!({"metadata": {"finalizers": kept, "resourceVersion": obj.resource_version()}});
    match api.patch(&obj.name_any(), &PatchParams::default(), &Patch::Merge(patch)).await {
        Ok(_) => Ok(()),
        Err(e) if runner::api_code(&e) == Some(404) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Where one step left a move.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The phase now stored (the move is over at `Finished` and `Failed`).
    Phase(String),
    /// Nothing to do before this wait (the old object is still going away, say).
    Wait(Duration),
}

/// Takes the move stored as emigration `project/name` one phase further, as the controller
/// does in a loop: what a controller that stops right after it leaves behind, for another to
/// finish (how the tests show every phase resumes).
pub async fn advance(
    platform: Client,
    clusters: Arc<dyn ClusterClients>,
    project: &str,
    name: &str,
) -> Result<Progress, Error> {
    let ctx = Ctx { platform, clusters, failures: Failures::default() };
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.platform.clone(), project, &resource());
    let obj = api.get(name).await?;
    let e: NsEmigration = decode(&obj).map_err(|err| Error::Decode(format!("nsemigration {project}/{name}"), err))?;
    advance_from(&ctx, &e, e.phase()).await
}

/// One step from phase `current`, its outcome written before it returns.
async fn advance_from(ctx: &Ctx, e: &NsEmigration, current: &str) -> Result<Progress, Error> {
    let current = if current.is_empty() { emigration_phase::PENDING } else { current };
    if current == emigration_phase::FINISHED || current == emigration_phase::FAILED {
        return Ok(Progress::Phase(current.to_string()));
    }
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.platform.clone(), e.source(), &resource());
    if current == emigration_phase::PENDING {
        // Before anything is locked: from here on the emigration stays until it is undone.
        let obj = api.get(e.name()).await?;
        if obj.metadata.deletion_timestamp.is_some() {
            return Ok(Progress::Wait(Duration::ZERO));
        }
        set_finalizer(&api, &obj, true).await?;
    }
    match step(ctx, e, current).await? {
        Step::Next(next) => {
            write_status(&api, e, next, None, None).await?;
            tracing::info!(
                project = e.source(),
                name = e.name(),
                namespace = e.spec.namespace,
                phase = next,
                "namespace emigration"
            );
            Ok(Progress::Phase(next.to_string()))
        }
        Step::Fail(why, message) => {
            if undoable(current) || current == emigration_phase::PENDING {
                undo(ctx, e, &message).await?;
            }
            write_status(&api, e, emigration_phase::FAILED, Some(why), Some(&message)).await?;
            tracing::info!(project = e.source(), name = e.name(), reason = why, message, "namespace emigration failed");
            Ok(Progress::Phase(emigration_phase::FAILED.to_string()))
        }
        Step::Wait(d) => Ok(Progress::Wait(d)),
    }
}

async fn write_status(
    api: &Api<DynamicObject>,
    e: &NsEmigration,
    phase: &str,
    why: Option<&str>,
    message: Option<&str>,
) -> Result<(), kube::Error> {
    let patch = json!({"status": {"phase": phase, "lastTransitionTime": now(), "reason": why, "message": message}});
    api.patch_status(e.name(), &PatchParams::default(), &Patch::Merge(patch)).await.map(|_| ())
}

/// The old business Namespace, with the emigration locking it (if any).
async fn old_object(ctx: &Ctx, e: &NsEmigration) -> Result<Option<(DynamicObject, Namespace)>, Error> {
    let Some(obj) = ctx.namespaces(e.source()).get_opt(&e.spec.namespace).await? else {
        return Ok(None);
    };
    let ns =
        decode(&obj).map_err(|err| Error::Decode(format!("namespace {}/{}", e.source(), e.spec.namespace), err))?;
    Ok(Some((obj, ns)))
}

/// A client of the namespace's cluster, or the step's outcome when there is none.
async fn cluster_client(ctx: &Ctx, cluster: &str) -> Result<Result<Client, Step>, Error> {
    match ctx.clusters.access(cluster).await {
        ClusterAccess::Ready(c) | ClusterAccess::Deleting(Some(c)) => Ok(Ok(c)),
        ClusterAccess::Gone => {
            Ok(Err(Step::Fail(reason::CLUSTER_NOT_FOUND, format!("cluster {cluster} does not exist"))))
        }
        ClusterAccess::Deleting(None) => {
            Ok(Err(Step::Fail(reason::CLUSTER_NOT_FOUND, format!("cluster {cluster} is being deleted"))))
        }
        ClusterAccess::NotReady(why) => Err(Error::Cluster { cluster: cluster.into(), message: why }),
    }
}

/// One phase of the move, done idempotently.
async fn step(ctx: &Ctx, e: &NsEmigration, current: &str) -> Result<Step, Error> {
    let me = lock_value(e.source(), e.name());
    let old = old_object(ctx, e).await?;
    match current {
        emigration_phase::PENDING => {
            let lock = old.as_ref().and_then(|(o, _)| annotation(o, EMIGRATION_ANNOTATION));
            let resumed = lock == Some(me.as_str());
            if !resumed {
                let dest = e.spec.destination.as_str();
                let projects: Api<DynamicObject> = Api::all_with(ctx.platform.clone(), &projects_resource());
                let project: Option<Project> = match projects.get_opt(dest).await? {
                    Some(p) => Some(decode(&p).map_err(|err| Error::Decode(format!("project {dest}"), err))?),
                    None => None,
                };
                let taken = match &old {
                    Some((_, ns)) => ctx.namespaces(dest).get_opt(ns.name()).await?.is_some(),
                    None => false,
                };
                let locked_by = |o: &DynamicObject, ns: &Namespace| {
                    annotation(o, EMIGRATION_ANNOTATION)
                        .map(str::to_string)
                        .or_else(|| (ns.phase() == phase::LOCKED).then(|| "(unknown)".to_string()))
                };
                let old_view = old.as_ref().map(|(o, ns)| (ns, locked_by(o, ns)));
                let old_view = old_view.as_ref().map(|(ns, l)| (*ns, l.as_deref()));
                if let Err((why, message)) = check(e, old_view, project.as_ref(), taken) {
                    return Ok(Step::Fail(why, message));
                }
            }
            let Some((obj, ns)) = old else {
                return Ok(Step::Fail(reason::NAMESPACE_NOT_FOUND, format!("namespace {} is gone", e.spec.namespace)));
            };
            let api = ctx.namespaces(e.source());
            if !resumed {
                // Over the version checked: a change since then is looked at again.
                let patch = json!({"metadata": {"annotations": {EMIGRATION_ANNOTATION: me}, "resourceVersion": obj.resource_version()}});
                match api.patch(ns.name(), &PatchParams::default(), &Patch::Merge(patch)).await {
                    Ok(_) => {}
                    Err(err) if runner::api_code(&err) == Some(409) => return Ok(Step::Wait(Duration::ZERO)),
                    Err(err) => return Err(err.into()),
                }
            }
            let message = format!("moving to project {} (emigration {me})", e.spec.destination);
            let patch = json!({"status": {"phase": phase::LOCKED, "lastTransitionTime": now(),
                "reason": reason::EMIGRATING, "message": message}});
            api.patch_status(ns.name(), &PatchParams::default(), &Patch::Merge(patch)).await?;
            Ok(Step::Next(emigration_phase::OLD_ONE_LOCKED))
        }
        emigration_phase::OLD_ONE_LOCKED => {
            let Some((_, ns)) = old else {
                return Ok(Step::Fail(reason::NAMESPACE_NOT_FOUND, format!("namespace {} is gone", e.spec.namespace)));
            };
            let client = match cluster_client(ctx, &ns.spec.cluster_name).await? {
                Ok(c) => c,
                Err(step) => return Ok(step),
            };
            let namespaces: Api<core::Namespace> = Api::all(client);
            let target = ns.spec.namespace.as_str();
            let unreachable = |err: kube::Error| Error::Cluster {
                cluster: ns.spec.cluster_name.clone(),
                message: controller_runtime::error_chain(&err),
            };
            let Some(real) = namespaces.get_opt(target).await.map_err(unreachable)? else {
                return Ok(Step::Fail(
                    reason::NAMESPACE_NOT_FOUND,
                    format!("namespace {target} does not exist in cluster {}", ns.spec.cluster_name),
                ));
            };
            match ownership(&real.metadata.labels.clone().unwrap_or_default(), e.source(), ns.name()) {
                Ownership::Ours => {
                    let patch = json!({"metadata": {"labels": {PROJECT_LABEL: null, NAMESPACE_LABEL: null}}});
                    namespaces
                        .patch(target, &PatchParams::default(), &Patch::Merge(patch))
                        .await
                        .map_err(unreachable)?;
                }
                Ownership::Unlabelled => {}
                Ownership::Other { project, .. } => {
                    return Ok(Step::Fail(
                        reason::CONFLICT_PROJECT,
                        format!(
                            "namespace {target} of cluster {} is labelled for project {project}",
                            ns.spec.cluster_name
                        ),
                    ));
                }
            }
            Ok(Step::Next(emigration_phase::OLD_ONE_DETACHED))
        }
        emigration_phase::OLD_ONE_DETACHED => {
            let Some((_, ns)) = old else {
                return Ok(Step::Fail(reason::NAMESPACE_NOT_FOUND, format!("namespace {} is gone", e.spec.namespace)));
            };
            let dest = e.spec.destination.as_str();
            let new: DynamicObject = serde_json::from_value(new_object(&ns, dest))
                .map_err(|err| Error::Decode(format!("the new namespace {dest}/{}", ns.name()), err))?;
            match ctx.namespaces(dest).create(&PostParams::default(), &new).await {
                Ok(_) => {}
                // Made before a restart: the name is `{cluster}-{namespace}`, so it is the same one.
                Err(err) if runner::api_code(&err) == Some(409) => {}
                Err(err) if runner::api_code(&err).is_some_and(|c| (400..500).contains(&c) && c != 429) => {
                    let why = runner::message_of(&err);
                    return Ok(Step::Fail(
                        reason::CREATE_FAILED,
                        format!("project {dest} refused the namespace: {why}"),
                    ));
                }
                Err(err) => return Err(err.into()),
            }
            let patch = json!({"metadata": {"annotations": {MOVED_TO_ANNOTATION: dest}}});
            ctx.namespaces(e.source()).patch(ns.name(), &PatchParams::default(), &Patch::Merge(patch)).await?;
            Ok(Step::Next(emigration_phase::NEW_ONE_CREATED))
        }
        emigration_phase::NEW_ONE_CREATED => {
            if old.is_some() {
                match ctx.namespaces(e.source()).delete(&e.spec.namespace, &DeleteParams::default()).await {
                    Ok(_) => {}
                    Err(err) if runner::api_code(&err) == Some(404) => {}
                    Err(err) => return Err(err.into()),
                }
            }
            Ok(Step::Next(emigration_phase::OLD_ONE_TERMINATING))
        }
        emigration_phase::OLD_ONE_TERMINATING => match old {
            None => Ok(Step::Next(emigration_phase::FINISHED)),
            // Not deleted after all (the deletion was lost): again. An object of that name
            // without the moved-to mark was made since, and is someone else's.
            Some((obj, _)) if annotation(&obj, MOVED_TO_ANNOTATION).is_none() => {
                Ok(Step::Next(emigration_phase::FINISHED))
            }
            Some((obj, _)) => {
                if obj.metadata.deletion_timestamp.is_none() {
                    match ctx.namespaces(e.source()).delete(&e.spec.namespace, &DeleteParams::default()).await {
                        Ok(_) => {}
                        Err(err) if runner::api_code(&err) == Some(404) => {}
                        Err(err) => return Err(err.into()),
                    }
                }
                Ok(Step::Wait(Duration::from_millis(500)))
            }
        },
        other => Ok(Step::Fail(reason::NAMESPACE_NOT_AVAILABLE, format!("unknown phase {other}"))),
    }
}

/// Undoes the lock of a move that failed before the new object existed: the labels go back
/// on the Kubernetes namespace (when it has none), and the old object is unlocked (phase
/// `Pending`, so its controller checks it again).
async fn undo(ctx: &Ctx, e: &NsEmigration, message: &str) -> Result<(), Error> {
    let Some((obj, ns)) = old_object(ctx, e).await? else {
        return Ok(());
    };
    let me = lock_value(e.source(), e.name());
    if annotation(&obj, EMIGRATION_ANNOTATION) != Some(me.as_str()) {
        return Ok(());
    }
    let client = match ctx.clusters.access(&ns.spec.cluster_name).await {
        ClusterAccess::Ready(c) | ClusterAccess::Deleting(Some(c)) => Some(c),
        ClusterAccess::Gone | ClusterAccess::Deleting(None) => None,
        // The labels may be off: they must go back before the object is unlocked.
        ClusterAccess::NotReady(why) => {
            return Err(Error::Cluster { cluster: ns.spec.cluster_name.clone(), message: why });
        }
    };
    if let Some(client) = client {
        let namespaces: Api<core::Namespace> = Api::all(client);
        let target = ns.spec.namespace.as_str();
        let unreachable = |err: kube::Error| Error::Cluster {
            cluster: ns.spec.cluster_name.clone(),
            message: controller_runtime::error_chain(&err),
        };
        if let Some(real) = namespaces.get_opt(target).await.map_err(unreachable)?
            && ownership(&real.metadata.labels.clone().unwrap_or_default(), e.source(), ns.name())
                == Ownership::Unlabelled
        {
            let patch = json!({"metadata": {"labels": namespace::labels(e.source(), ns.name())}});
            namespaces.patch(target, &PatchParams::default(), &Patch::Merge(patch)).await.map_err(unreachable)?;
        }
    }
    let api = ctx.namespaces(e.source());
    let patch = json!({"status": {"phase": phase::PENDING, "lastTransitionTime": now(),
        "reason": "EmigrationFailed", "message": format!("emigration {me} failed: {message}")}});
    api.patch_status(ns.name(), &PatchParams::default(), &Patch::Merge(patch)).await?;
    let patch = json!({"metadata": {"annotations": {EMIGRATION_ANNOTATION: null}}});
    api.patch(ns.name(), &PatchParams::default(), &Patch::Merge(patch)).await?;
    Ok(())
}

/// Refuses at creation an emigration that [`check`] would fail (the same rules the controller
/// applies again when it starts the move, since things may change in between), each refusal on
/// the field to change.
struct Admission {
    projects: std::sync::Weak<apiserver::store::ResourceStore>,
    namespaces: std::sync::Weak<apiserver::store::ResourceStore>,
}

/// Registers the admission of emigrations on `server` (which serves the business group).
pub fn register(server: &Arc<apiserver::ApiServer>) -> Result<(), apimachinery::ApiError> {
    let store = |plural: &str| {
        server
            .resource_store(api::business::GROUP, api::business::VERSION, plural)
            .map(|s| Arc::downgrade(&s))
            .ok_or_else(|| apimachinery::ApiError::internal(format!("the emigration admission needs {plural} served")))
    };
    let admission = Admission { projects: store("projects")?, namespaces: store("namespaces")? };
    server.add_admission(api::business::GROUP, api::business::VERSION, "nsemigrations", Arc::new(admission))
}

/// The server's own reads (every tenant), in `namespace`.
fn system(namespace: Option<&str>) -> apiserver::Context {
    apiserver::Context::system("system:business-emigration", namespace)
}

/// The field a refusal of [`check`] is about.
pub fn refused_field(why: &str) -> &'static str {
    match why {
        reason::NAMESPACE_NOT_FOUND | reason::NAMESPACE_LOCKED | reason::NAMESPACE_NOT_AVAILABLE => "spec.namespace",
        _ => "spec.destination",
    }
}

impl Admission {
    async fn get(
        store: &std::sync::Weak<apiserver::store::ResourceStore>,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, apimachinery::ApiError> {
        let store =
            store.upgrade().ok_or_else(|| apimachinery::ApiError::unavailable("the server is shutting down"))?;
        match store.get(&system(namespace), name, None).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.reason == apimachinery::error::Reason::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[async_trait::async_trait]
impl apiserver::Admission for Admission {
    async fn admit(&self, req: apiserver::AdmissionRequest<'_>) -> Result<(), apimachinery::ApiError> {
        if req.operation != apiserver::admission::Operation::Create {
            return Ok(());
        }
        let internal =
            |e: serde_json::Error| apimachinery::ApiError::internal(format!("decoding an object failed: {e}"));
        let mut e: NsEmigration = serde_json::from_value(req.new.clone()).map_err(internal)?;
        if e.source().is_empty()
            && let Some(ns) = req.ctx.namespace.as_deref()
        {
            e.metadata["namespace"] = json!(ns);
        }
        let source = e.source().to_string();
        let old = match Self::get(&self.namespaces, Some(&source), &e.spec.namespace).await? {
            Some(v) => Some((serde_json::from_value::<Namespace>(v.clone()).map_err(internal)?, v)),
            None => None,
        };
        let dest = e.spec.destination.as_str();
        let project = match Self::get(&self.projects, None, dest).await? {
            Some(v) => Some(serde_json::from_value::<Project>(v).map_err(internal)?),
            None => None,
        };
        let taken = match &old {
            Some((ns, _)) => Self::get(&self.namespaces, Some(dest), ns.name()).await?.is_some(),
            None => false,
        };
        let lock = |v: &Value, ns: &Namespace| {
            v["metadata"]["annotations"][EMIGRATION_ANNOTATION]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .or_else(|| (ns.phase() == phase::LOCKED).then(|| "(unknown)".to_string()))
        };
        let locks = old.as_ref().map(|(ns, v)| (ns, lock(v, ns)));
        let view = locks.as_ref().map(|(ns, l)| (*ns, l.as_deref()));
        match check(&e, view, project.as_ref(), taken) {
            Ok(()) => Ok(()),
            Err((why, message)) => {
                let field = refused_field(why);
                let value = if field == "spec.namespace" { &e.spec.namespace } else { &e.spec.destination };
                Err(apimachinery::ApiError::invalid(
                    api::business::GROUP,
                    api::business::ns_emigration::KIND,
                    e.name(),
                    vec![apimachinery::FieldError::invalid(field, value, message)],
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emigration() -> NsEmigration {
        serde_json::from_value(json!({
            "metadata": {"name": "nse-1", "namespace": "prj-a"},
            "spec": {"tenantID": "t1", "namespace": "cls-a-web", "nsShowName": "web", "destination": "prj-b"},
        }))
        .expect("emigration")
    }

    fn old(phase: &str) -> Namespace {
        serde_json::from_value(json!({
            "metadata": {"name": "cls-a-web", "namespace": "prj-a"},
            "spec": {"tenantID": "t1", "clusterName": "cls-a", "clusterType": "Imported", "namespace": "web",
                "hard": {"requests.cpu": "1"}, "finalizers": ["namespace"]},
            "status": {"phase": phase, "resourceQuotaName": "web"},
        }))
        .expect("namespace")
    }

    fn project(tenant: &str, clusters: &[&str]) -> Project {
        let clusters: serde_json::Map<String, Value> =
            clusters.iter().map(|c| (c.to_string(), json!({"hard": {"requests.cpu": "10"}}))).collect();
        serde_json::from_value(json!({
            "metadata": {"name": "prj-b"},
            "spec": {"tenantID": tenant, "displayName": "B", "clusters": clusters},
            "status": {"phase": "Active"},
        }))
        .expect("project")
    }

    #[test]
    fn a_move_is_checked_against_the_objects_it_involves() {
        let e = emigration();
        let ns = old("Available");
        let dest = project("t1", &["cls-a"]);
        assert_eq!(check(&e, Some((&ns, None)), Some(&dest), false), Ok(()));
        let reason_of = |r: Result<(), (&'static str, String)>| r.expect_err("refused").0;
        assert_eq!(reason_of(check(&e, None, Some(&dest), false)), reason::NAMESPACE_NOT_FOUND);
        assert_eq!(
            reason_of(check(&e, Some((&ns, Some("prj-a/nse-0"))), Some(&dest), false)),
            reason::NAMESPACE_LOCKED
        );
        assert_eq!(
            reason_of(check(&e, Some((&old("Failed"), None)), Some(&dest), false)),
            reason::NAMESPACE_NOT_AVAILABLE
        );
        assert_eq!(reason_of(check(&e, Some((&ns, None)), None, false)), reason::DESTINATION_NOT_FOUND);
        let (why, message) = check(&e, Some((&ns, None)), Some(&project("t2", &["cls-a"])), false).expect_err("tenant");
        assert_eq!(why, reason::DESTINATION_NOT_FOUND, "a project of another tenant is not seen: {message}");
        let (why, message) =
            check(&e, Some((&ns, None)), Some(&project("t1", &["cls-b"])), false).expect_err("cluster");
        assert_eq!(why, reason::CLUSTER_NOT_ALLOWED);
        assert!(message.contains("cls-a"), "{message}");
        assert_eq!(reason_of(check(&e, Some((&ns, None)), Some(&dest), true)), reason::DESTINATION_EXISTS);
    }

    #[test]
    fn the_new_object_has_the_old_spec_in_the_destination() {
        let new = new_object(&old("Locked"), "prj-b");
        assert_eq!(new["metadata"], json!({"name": "cls-a-web", "namespace": "prj-b"}));
        assert_eq!(new["spec"]["clusterName"], "cls-a");
        assert_eq!(new["spec"]["namespace"], "web");
        assert_eq!(new["spec"]["hard"], json!({"requests.cpu": "1"}));
        assert_eq!(new["spec"]["tenantID"], "t1");
        assert!(new["spec"].get("finalizers").is_none(), "the server sets its own");
        assert!(new.get("status").is_none());
        let _: DynamicObject = serde_json::from_value(new).expect("a valid object");
    }

    #[test]
    fn refusals_name_the_field_to_change() {
        assert_eq!(refused_field(reason::NAMESPACE_NOT_FOUND), "spec.namespace");
        assert_eq!(refused_field(reason::NAMESPACE_LOCKED), "spec.namespace");
        assert_eq!(refused_field(reason::NAMESPACE_NOT_AVAILABLE), "spec.namespace");
        assert_eq!(refused_field(reason::DESTINATION_NOT_FOUND), "spec.destination");
        assert_eq!(refused_field(reason::CLUSTER_NOT_ALLOWED), "spec.destination");
        assert_eq!(refused_field(reason::DESTINATION_EXISTS), "spec.destination");
    }

    #[test]
    fn only_moves_without_a_new_object_are_undone() {
        assert!(!undoable(emigration_phase::PENDING));
        assert!(undoable(emigration_phase::OLD_ONE_LOCKED));
        assert!(undoable(emigration_phase::OLD_ONE_DETACHED));
        assert!(!undoable(emigration_phase::NEW_ONE_CREATED));
        assert!(!undoable(emigration_phase::OLD_ONE_TERMINATING));
        assert_eq!(lock_value("prj-a", "nse-1"), "prj-a/nse-1");
    }
}
