//! The add-on controllers: one kube-runtime controller per add-on kind, watching the platform's
//! add-on objects over its API (as any Kubernetes client would) and driving each through the
//! [`crate::lifecycle`] in its business cluster: server-side apply of the version's manifest,
//! availability checks of its workloads, retries, upgrades, and uninstall behind a finalizer
//! when the add-on object is deleted.
//!
//! `logagent.tkestack.io/v1` LogAgent objects go through the same controller and install the
//! LogCollector add-on's manifest: one install path for both kinds.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use kube::{
    Api, Client,
    api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams},
    discovery::{self, Scope},
    runtime::{
        Controller,
        controller::{Action, Config as ControllerConfig},
        finalizer::{Event, finalizer},
        watcher,
    },
};
use serde_json::{Value, json};

use crate::{
    lifecycle::{self, Status, Step, Timings},
    manifests,
};

/// The finalizer that keeps an add-on object until its objects are gone from the cluster.
pub const FINALIZER: &str = "platform.tkestack.io/addon";
const GROUP: &str = "platform.tkestack.io";
const VERSION: &str = "v1";

/// How long an uninstall from a cluster being deleted may take before the add-on is released.
const DELETING_UNINSTALL_LIMIT: Duration = Duration::from_secs(30);

/// How the controllers reach business clusters: the runtime's one way.
pub use controller_runtime::cluster::{ClusterAccess, ClusterClients};

/// Settings of the add-on controllers.
#[derive(Clone, Debug)]
pub struct Options {
    /// Image registry prefix of add-on images, e.g. `registry.example.com/library`.
    pub registry: String,
    pub timings: Timings,
    /// Add-ons reconciled at once, per kind.
    pub concurrency: u16,
    /// Where the Prometheus add-on's Alertmanager sends alerts by default.
    pub alert_webhook: Option<crate::prometheus::AlertWebhook>,
}

impl Default for Options {
    fn default() -> Self {
        Self { registry: "docker.io".into(), timings: Timings::default(), concurrency: 4, alert_webhook: None }
    }
}

struct Ctx {
    platform: Client,
    clusters: Arc<dyn ClusterClients>,
    opts: Options,
    kind: &'static str,
    /// The catalogue entry of the kind.
    info: &'static api::platform::addon::AddonInfo,
    /// The kind whose manifests it installs (LogAgent installs LogCollector's).
    manifest_kind: &'static str,
    resource: ApiResource,
    /// Every kind installing the same manifest (LogCollector and LogAgent): one cluster holds
    /// one of them, since they would share (and on removal delete) the same objects.
    same_manifest: Vec<ApiResource>,
    /// When each add-on (by uid) entered `Checking`.
    checking_since: Mutex<HashMap<String, DateTime<Utc>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the platform API: {0}")]
    Platform(#[source] kube::Error),
    #[error("{0}")]
    Cluster(String),
    #[error(transparent)]
    Install(#[from] InstallError),
    #[error("finalizer: {0}")]
    Finalizer(String),
}

/// Why an add-on's objects could not be installed in or removed from its cluster, or why its
/// workloads are not available there; the text becomes the add-on's `status.reason`.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The add-on's manifest could not be rendered.
    #[error(transparent)]
    Manifest(#[from] manifests::ManifestError),
    #[error("the cluster does not serve {kind} {api_version}: {source}")]
    NotServed { kind: String, api_version: String, source: kube::Error },
    #[error("applying {kind} {name}: {}", describe(.source))]
    Apply { kind: String, name: String, source: kube::Error },
    #[error("deleting {kind} {name}: {}", describe(.source))]
    Delete { kind: String, name: String, source: kube::Error },
    #[error("no answer within {0:?}")]
    NoAnswer(Duration),
    #[error("{0} is missing")]
    Missing(Workload),
    #[error("reading {workload}: {}", describe(.source))]
    Read { workload: Workload, source: kube::Error },
    #[error("{0} has not caught up with its latest spec")]
    Stale(Workload),
    #[error("{workload}: {ready} of {want} available")]
    Unavailable { workload: Workload, ready: i64, want: i64 },
}

/// A workload of an add-on, named as messages name it: `Deployment kube-system/tke-cronhpa-controller`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// Runs the controllers of every add-on kind until `shutdown` resolves.
pub async fn run(
    platform: Client,
    clusters: Arc<dyn ClusterClients>,
    opts: Options,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown));
    let mut all = Vec::new();
    let kinds = api::platform::addon::ADDONS.iter().map(|info| (GROUP, *info, info.kind)).chain([(
        api::logagent::GROUP,
        &api::logagent::INFO,
        "LogCollector",
    )]);
    let kinds: Vec<_> = kinds.collect();
    let resource_of = |group: &str, info: &api::platform::addon::AddonInfo| {
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, VERSION, info.kind), info.plural)
    };
    for &(group, info, manifest_kind) in &kinds {
        let resource = resource_of(group, info);
        let same_manifest =
            kinds.iter().filter(|(_, _, m)| *m == manifest_kind).map(|(g, i, _)| resource_of(g, i)).collect();
        let api: Api<DynamicObject> = Api::all_with(platform.clone(), &resource);
        let ctx = Arc::new(Ctx {
            platform: platform.clone(),
            clusters: clusters.clone(),
            opts: opts.clone(),
            kind: info.kind,
            info,
            manifest_kind,
            resource: resource.clone(),
            same_manifest,
            checking_since: Mutex::new(HashMap::new()),
        });
        let stop = shutdown.clone();
        let controller = Controller::new_with(api, watcher::Config::default(), resource)
            .with_config(ControllerConfig::default().concurrency(opts.concurrency))
            .graceful_shutdown_on(async move {
                stop.await;
            })
            .run(reconcile, error_policy, ctx)
            .for_each(|r| async move {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "add-on reconcile");
                }
            });
        all.push(controller);
    }
    futures::future::join_all(all).await;
}

fn error_policy(obj: Arc<DynamicObject>, e: &Error, ctx: Arc<Ctx>) -> Action {
    tracing::warn!(kind = ctx.kind, name = obj.metadata.name.as_deref().unwrap_or(""), error = %e, "add-on reconcile failed; retrying");
    Action::requeue(Duration::from_secs(5))
}

async fn reconcile(obj: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let name = format!("addon-{}", ctx.kind.to_ascii_lowercase());
    controller_runtime::metrics::observe(&name, reconcile_once(obj, ctx)).await
}

async fn reconcile_once(obj: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let api: Api<DynamicObject> = Api::all_with(ctx.platform.clone(), &ctx.resource);
    let c = ctx.clone();
    finalizer(&api, FINALIZER, obj, |event| async move {
        match event {
            Event::Apply(o) => apply(&o, &c).await,
            Event::Cleanup(o) => cleanup(&o, &c).await,
        }
    })
    .await
    .map_err(|e| match e {
        kube::runtime::finalizer::Error::ApplyFailed(e) | kube::runtime::finalizer::Error::CleanupFailed(e) => e,
        other => Error::Finalizer(other.to_string()),
    })
}

fn cluster_of(obj: &DynamicObject) -> String {
    obj.data["spec"]["clusterName"].as_str().unwrap_or_default().to_string()
}

fn status_of(obj: &DynamicObject) -> Status {
    serde_json::from_value(obj.data["status"].clone()).unwrap_or_default()
}

async fn write_status(ctx: &Ctx, obj: &DynamicObject, old: &Status, new: &Status) -> Result<(), Error> {
    if old == new {
        return Ok(());
    }
    let name = obj.metadata.name.clone().unwrap_or_default();
    // A merge patch with explicit nulls so cleared fields (a resolved reason) disappear.
    let mut status = serde_json::to_value(new).unwrap_or_default();
    for field in ["version", "phase", "reason", "retryCount", "lastReInitializingTimestamp"] {
        if status.get(field).is_none() {
            status[field] = Value::Null;
        }
    }
    let api: Api<DynamicObject> = Api::all_with(ctx.platform.clone(), &ctx.resource);
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(json!({"status": status})))
        .await
        .map_err(Error::Platform)?;
    if old.phase() != new.phase() {
        tracing::info!(kind = ctx.kind, name, cluster = %cluster_of(obj), from = old.phase(), to = new.phase(), reason = new.reason.as_deref().unwrap_or(""), "add-on phase");
    }
    Ok(())
}

/// The add-on's own spec fields (beyond tenant, cluster and version): its configuration.
fn config_of(obj: &DynamicObject) -> Value {
    let mut spec = obj.data["spec"].clone();
    if let Some(m) = spec.as_object_mut() {
        for common in ["tenantID", "clusterName", "version"] {
            m.remove(common);
        }
    }
    if spec.is_null() { json!({}) } else { spec }
}

/// The objects of the add-on at `version`: its manifest with its configuration applied.
fn objects_of(ctx: &Ctx, obj: &DynamicObject, version: &str) -> Result<Vec<Value>, manifests::ManifestError> {
    let config = config_of(obj);
    let mut objects = manifests::render(ctx.manifest_kind, version, &ctx.opts.registry, &config)?;
    if ctx.manifest_kind == "Prometheus" {
        crate::prometheus::customize(&mut objects, &config, ctx.opts.alert_webhook.as_ref());
    }
    if ctx.manifest_kind == "LogCollector" {
        crate::logcollector::customize(&mut objects, &config);
    }
    Ok(objects)
}

fn target_version(obj: &DynamicObject, info: &api::platform::addon::AddonInfo) -> String {
    obj.data["spec"]["version"]
        .as_str()
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| info.latest_version.to_string())
}

/// Installs (or upgrades) the objects, after what they need that is not in the manifest.
async fn install_addon(ctx: &Ctx, client: &Client, objects: &[Value]) -> Result<(), InstallError> {
    if ctx.manifest_kind == "LogCollector" {
        crate::logcollector::ensure_token(client).await.map_err(|source| InstallError::Apply {
            kind: "Secret".into(),
            name: format!("{}/{}", crate::logcollector::TOKEN_NAMESPACE, crate::logcollector::TOKEN_SECRET),
            source,
        })?;
    }
    install(client, objects, ctx.kind).await
}

async fn apply(obj: &DynamicObject, ctx: &Ctx) -> Result<Action, Error> {
    let t = &ctx.opts.timings;
    let status = status_of(obj);
    let target = target_version(obj, ctx.info);
    let uid = obj.metadata.uid.clone().unwrap_or_default();
    let now = Utc::now();
    let step = lifecycle::next_step(&status, &target, now, t);
    if matches!(step, Step::Idle) {
        return Ok(Action::await_change());
    }
    if let Step::Wait { after } = step {
        return Ok(Action::requeue(after));
    }
    let cluster = cluster_of(obj);
    let client = match ctx.clusters.access(&cluster).await {
        ClusterAccess::Ready(c) => c,
        ClusterAccess::NotReady(why) => {
            let new = lifecycle::pending(&status, &format!("waiting for cluster {cluster}: {why}"));
            write_status(ctx, obj, &status, &new).await?;
            return Ok(Action::requeue(t.pending_period));
        }
        ClusterAccess::Deleting(_) => {
            let new = lifecycle::pending(&status, &format!("cluster {cluster} is being deleted"));
            write_status(ctx, obj, &status, &new).await?;
            return Ok(Action::requeue(t.pending_period));
        }
        ClusterAccess::Gone => {
            let new = lifecycle::pending(&status, &format!("cluster {cluster} does not exist"));
            write_status(ctx, obj, &status, &new).await?;
            return Ok(Action::requeue(t.pending_period * 6));
        }
    };
    if status.version.is_none()
        && matches!(status.phase(), "" | lifecycle::PENDING | lifecycle::INITIALIZING)
        && let Some(holder) = holder_of_cluster(ctx, obj, &cluster).await?
    {
        let new = lifecycle::pending(&status, &format!("{BLOCKED} {cluster}: {holder}; delete it first"));
        write_status(ctx, obj, &status, &new).await?;
        return Ok(Action::requeue(t.pending_period));
    }
    let render = |version: &str| objects_of(ctx, obj, version).map_err(InstallError::from);
    match step {
        Step::Install { version, clean_first } => {
            // Installing starts from Initializing (or Reinitializing) as TKEStack shows it.
            let mut current = status.clone();
            if matches!(current.phase(), "" | lifecycle::PENDING) {
                let initializing =
                    Status { phase: Some(lifecycle::INITIALIZING.into()), reason: None, ..current.clone() };
                write_status(ctx, obj, &current, &initializing).await?;
                current = initializing;
            }
            let result = match render(&version) {
                Ok(objects) => {
                    if clean_first {
                        let _ = uninstall(&client, &objects).await;
                    }
                    install_addon(ctx, &client, &objects).await
                }
                Err(e) => Err(e),
            };
            let new = lifecycle::installed(&current, result.map_err(Into::into), Utc::now(), t);
            if new.phase() == lifecycle::CHECKING {
                ctx.checking_since.lock().unwrap_or_else(|e| e.into_inner()).insert(uid, Utc::now());
            }
            write_status(ctx, obj, &current, &new).await?;
            Ok(Action::requeue(match new.phase() {
                lifecycle::CHECKING => t.check_interval,
                lifecycle::REINITIALIZING => t.retry_delay,
                _ => t.health_period,
            }))
        }
        Step::Upgrade { version } => {
            let mut current = status.clone();
            if current.phase() != lifecycle::UPGRADING {
                let upgrading = Status { phase: Some(lifecycle::UPGRADING.into()), reason: None, ..current.clone() };
                write_status(ctx, obj, &current, &upgrading).await?;
                current = upgrading;
            }
            let result = match render(&version) {
                Ok(objects) => install_addon(ctx, &client, &objects).await,
                Err(e) => Err(e),
            };
            let new = lifecycle::upgraded(&current, ctx.kind, &version, result.map_err(Into::into));
            if new.phase() == lifecycle::CHECKING {
                ctx.checking_since.lock().unwrap_or_else(|e| e.into_inner()).insert(uid, Utc::now());
            }
            write_status(ctx, obj, &current, &new).await?;
            Ok(Action::requeue(if new.phase() == lifecycle::CHECKING { t.check_interval } else { t.health_period }))
        }
        Step::Check => {
            let version = if status.phase() == lifecycle::CHECKING {
                target.clone()
            } else {
                status.version.clone().unwrap_or_else(|| target.clone())
            };
            let healthy = match render(&version) {
                Ok(objects) => available(&client, &manifests::workloads(&objects)).await,
                Err(e) => Err(e),
            };
            let since = *ctx
                .checking_since
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(uid.clone())
                .or_insert_with(Utc::now);
            let (new, again) =
                lifecycle::checked(&status, ctx.kind, &version, healthy.map_err(Into::into), since, Utc::now(), t);
            if new.phase() != lifecycle::CHECKING {
                ctx.checking_since.lock().unwrap_or_else(|e| e.into_inner()).remove(&uid);
            }
            write_status(ctx, obj, &status, &new).await?;
            Ok(Action::requeue(again))
        }
        Step::Wait { after } => Ok(Action::requeue(after)),
        Step::Idle => Ok(Action::await_change()),
    }
}

/// The reason of an add-on kept from installing because another one holds its cluster.
const BLOCKED: &str = "another add-on installs the same objects into cluster";

/// The add-on of the same manifest that holds `cluster` before `obj`, as "Kind name": one not
/// being deleted that has installed (or is past its first install step), else the one created
/// first (by name on a tie: timestamps have whole seconds).
async fn holder_of_cluster(ctx: &Ctx, obj: &DynamicObject, cluster: &str) -> Result<Option<String>, Error> {
    let key = |o: &DynamicObject| (o.metadata.creation_timestamp.clone().map(|t| t.0), o.metadata.name.clone());
    let mut holders = Vec::new();
    for resource in &ctx.same_manifest {
        let api: Api<DynamicObject> = Api::all_with(ctx.platform.clone(), resource);
        for other in api.list(&Default::default()).await.map_err(Error::Platform)? {
            if other.metadata.uid != obj.metadata.uid
                && other.metadata.deletion_timestamp.is_none()
                && cluster_of(&other) == cluster
                && (installed(&other) || key(&other) < key(obj))
            {
                holders.push((
                    key(&other),
                    format!("{} {}", resource.kind, other.metadata.name.clone().unwrap_or_default()),
                ));
            }
        }
    }
    Ok(holders.into_iter().min().map(|(_, h)| h))
}

/// Whether `obj` has put (or begun to put) its objects into its cluster.
fn installed(obj: &DynamicObject) -> bool {
    let status = status_of(obj);
    status.version.is_some() || !matches!(status.phase(), "" | lifecycle::PENDING | lifecycle::INITIALIZING)
}

async fn cleanup(obj: &DynamicObject, ctx: &Ctx) -> Result<Action, Error> {
    let cluster = cluster_of(obj);
    let status = status_of(obj);
    if status.version.is_none() && status.reason.as_deref().is_some_and(|r| r.starts_with(BLOCKED)) {
        // It never installed anything: the objects in the cluster belong to the holder.
        return Ok(Action::await_change());
    }
    let version = status.version.clone().unwrap_or_else(|| target_version(obj, ctx.info));
    match ctx.clusters.access(&cluster).await {
        ClusterAccess::Gone => {
            tracing::info!(kind = ctx.kind, cluster, "the cluster is gone; nothing to uninstall");
            Ok(Action::await_change())
        }
        ClusterAccess::NotReady(why) if status.phase() == lifecycle::PENDING || status.phase().is_empty() => {
            // Never installed: nothing to remove.
            tracing::info!(kind = ctx.kind, cluster, why, "add-on was never installed");
            Ok(Action::await_change())
        }
        ClusterAccess::NotReady(why) => {
            Err(Error::Cluster(format!("cannot uninstall from cluster {cluster} yet: {why}")))
        }
        ClusterAccess::Deleting(None) => {
            tracing::info!(
                kind = ctx.kind,
                cluster,
                "the cluster is being deleted and cannot be reached; nothing to uninstall"
            );
            Ok(Action::await_change())
        }
        ClusterAccess::Deleting(Some(client)) => {
            // Best effort: a cluster on its way out must not hold its add-ons (and so itself)
            // forever because it no longer answers.
            let result = match objects_of(ctx, obj, &version) {
                Ok(objects) => tokio::time::timeout(DELETING_UNINSTALL_LIMIT, uninstall(&client, &objects))
                    .await
                    .unwrap_or(Err(InstallError::NoAnswer(DELETING_UNINSTALL_LIMIT))),
                Err(e) => Err(e.into()),
            };
            match result {
                Ok(()) => tracing::info!(
                    kind = ctx.kind,
                    name = obj.metadata.name.as_deref().unwrap_or(""),
                    cluster,
                    "add-on uninstalled from the cluster being deleted"
                ),
                Err(e) => {
                    tracing::warn!(kind = ctx.kind, name = obj.metadata.name.as_deref().unwrap_or(""), cluster, error = %e, "add-on left in the cluster being deleted")
                }
            }
            Ok(Action::await_change())
        }
        ClusterAccess::Ready(client) => {
            let objects = objects_of(ctx, obj, &version).map_err(InstallError::from)?;
            uninstall(&client, &objects).await?;
            tracing::info!(
                kind = ctx.kind,
                name = obj.metadata.name.as_deref().unwrap_or(""),
                cluster,
                "add-on uninstalled"
            );
            Ok(Action::await_change())
        }
    }
}

/// The API of one manifest object in the cluster.
async fn api_for(client: &Client, obj: &Value) -> Result<Api<DynamicObject>, InstallError> {
    let api_version = obj["apiVersion"].as_str().unwrap_or_default();
    let kind = obj["kind"].as_str().unwrap_or_default();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let (ar, caps) =
        discovery::pinned_kind(client, &GroupVersionKind::gvk(group, version, kind)).await.map_err(|source| {
            InstallError::NotServed { kind: kind.to_string(), api_version: api_version.to_string(), source }
        })?;
    Ok(match caps.scope {
        Scope::Namespaced => {
            Api::namespaced_with(client.clone(), obj["metadata"]["namespace"].as_str().unwrap_or("default"), &ar)
        }
        Scope::Cluster => Api::all_with(client.clone(), &ar),
    })
}

/// Server-side applies every object in order, owning its fields as `tke-addon-<kind>`.
async fn install(client: &Client, objects: &[Value], kind: &str) -> Result<(), InstallError> {
    let params = PatchParams::apply(&format!("tke-addon-{}", kind.to_ascii_lowercase())).force();
    for obj in objects {
        let name = obj["metadata"]["name"].as_str().unwrap_or_default();
        let api = match api_for(client, obj).await {
            Ok(api) => api,
            // A kind whose CRD was applied a moment ago is served once the cluster established it.
            Err(InstallError::NotServed { .. }) if defined_by(objects, obj) => established(client, obj).await?,
            Err(e) => return Err(e),
        };
        api.patch(name, &params, &Patch::Apply(obj)).await.map_err(|source| InstallError::Apply {
            kind: obj["kind"].as_str().unwrap_or("").to_string(),
            name: name.to_string(),
            source,
        })?;
    }
    Ok(())
}

/// Whether one of `objects` is the CRD of `obj`'s kind.
fn defined_by(objects: &[Value], obj: &Value) -> bool {
    let group = obj["apiVersion"].as_str().and_then(|v| v.split_once('/')).map(|(g, _)| g).unwrap_or_default();
    objects.iter().any(|o| {
        o["kind"] == "CustomResourceDefinition"
            && o["spec"]["group"] == group
            && o["spec"]["names"]["kind"] == obj["kind"]
    })
}

/// The API of `obj` once its CRD is established, polled for up to [`ESTABLISH_LIMIT`].
async fn established(client: &Client, obj: &Value) -> Result<Api<DynamicObject>, InstallError> {
    let deadline = tokio::time::Instant::now() + ESTABLISH_LIMIT;
    loop {
        match api_for(client, obj).await {
            Ok(api) => return Ok(api),
            Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// How long a freshly applied CRD may take to be served.
const ESTABLISH_LIMIT: Duration = Duration::from_secs(30);

/// Deletes the objects in reverse order (workloads before what they use); absent ones are fine.
async fn uninstall(client: &Client, objects: &[Value]) -> Result<(), InstallError> {
    for obj in objects.iter().rev() {
        let name = obj["metadata"]["name"].as_str().unwrap_or_default();
        let api = match api_for(client, obj).await {
            Ok(a) => a,
            // A kind the cluster no longer serves has no objects left to delete.
            Err(_) => continue,
        };
        match api.delete(name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(source) => {
                return Err(InstallError::Delete {
                    kind: obj["kind"].as_str().unwrap_or("").to_string(),
                    name: name.to_string(),
                    source,
                });
            }
        }
    }
    Ok(())
}

/// Ok when every workload has all its replicas available; else which one is not.
async fn available(client: &Client, workloads: &[(String, String, String)]) -> Result<(), InstallError> {
    for (kind, ns, name) in workloads {
        let workload = || Workload { kind: kind.clone(), namespace: ns.clone(), name: name.clone() };
        let gvk = GroupVersionKind::gvk("apps", "v1", kind);
        let ar = ApiResource::from_gvk(&gvk);
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
        let obj = match api.get(name).await {
            Ok(o) => o,
            Err(kube::Error::Api(s)) if s.code == 404 => return Err(InstallError::Missing(workload())),
            Err(source) => return Err(InstallError::Read { workload: workload(), source }),
        };
        let spec = &obj.data["spec"];
        let st = &obj.data["status"];
        let n = |v: &Value| v.as_i64().unwrap_or(0);
        let generation = obj.metadata.generation.unwrap_or(0);
        if n(&st["observedGeneration"]) < generation && kind != "StatefulSet" {
            return Err(InstallError::Stale(workload()));
        }
        let (ready, want) = match kind.as_str() {
            "Deployment" => (n(&st["availableReplicas"]), spec["replicas"].as_i64().unwrap_or(1)),
            "StatefulSet" => (n(&st["readyReplicas"]), spec["replicas"].as_i64().unwrap_or(1)),
            _ => (n(&st["numberAvailable"]), n(&st["desiredNumberScheduled"])),
        };
        if ready < want {
            return Err(InstallError::Unavailable { workload: workload(), ready, want });
        }
    }
    Ok(())
}

fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({})", s.message, s.reason),
        e => e.to_string(),
    }
}
