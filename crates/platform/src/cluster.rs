//! The cluster controller (reference 2.3): a kube-runtime controller over the platform's
//! `clusters`, reached over HTTPS like any Kubernetes API. By phase it runs the provider's create
//! steps (`Initializing`), housekeeping and the health check (`Running`, `Failed`), the upgrade and
//! scaling steps, and on deletion the deletion of its machines and add-ons (waited for), the
//! provider's delete steps, the removal of the cluster's credentials and
//! the `/finalize` that lets the server drop the object. Everything it concludes is written to the
//! cluster's status with the object's resourceVersion, so concurrent writers never lose updates.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use api::platform::{Cluster, ClusterCredential, cluster::phase, cluster_credential::CLUSTER_NAME_LABEL};
use controller_runtime::{
    backoff,
    cluster::ClientOptions,
    error_chain,
    shell::{Failures, StatusWriter, decode},
};
use futures::StreamExt;
use kube::{
    Api, Client,
    api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams},
    runtime::{Controller, controller::Action, reflector::ObjectRef, watcher},
};
use serde_json::json;

use crate::{
    ControllerOptions, ControllerStats,
    engine::{self, Conditioned, Engine, Kind, Outcome, Persist},
    health::{self, HealthTracker, Verdict},
    provider::{BusinessClientError, ClusterContext, Provider, Providers, observe},
};

/// The condition of the health check.
pub const HEALTH_CHECK: &str = "HealthCheck";
pub const REASON_FAILED_HEALTH_CHECK: &str = "FailedHealthCheck";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("platform API: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Persist(#[from] engine::PersistError),
    #[error("decoding the cluster: {0}")]
    Decode(#[from] serde_json::Error),
}

/// Why a probe of a cluster's health failed (the `HealthCheck` condition's message).
#[derive(Debug, thiserror::Error)]
enum ClusterHealthError {
    #[error(transparent)]
    NoClient(BusinessClientError),
    #[error("{url}: {}", error_chain(.source))]
    Api { url: String, source: kube::Error },
}

/// What the controller remembers of one cluster between reconciles (by uid).
#[derive(Default)]
struct ClusterState {
    tracker: Option<HealthTracker>,
    next_check: Option<Instant>,
    /// Consecutive step failures, for the back-off.
    step_failures: u32,
    /// The business cluster's client, with the address and credential version it was built for.
    client: Option<(String, Client)>,
}

pub(crate) struct Ctx {
    platform: Client,
    clusters: Api<DynamicObject>,
    credentials: Api<DynamicObject>,
    providers: Providers,
    opts: ControllerOptions,
    state: Mutex<HashMap<String, ClusterState>>,
    /// Consecutive reconcile errors, for the back-off.
    failures: Failures,
    stats: ControllerStats,
}

pub(crate) fn cluster_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(api::platform::GROUP, api::platform::VERSION, "Cluster"),
        "clusters",
    )
}

pub(crate) fn credential_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(api::platform::GROUP, api::platform::VERSION, "ClusterCredential"),
        "clustercredentials",
    )
}

fn platform_resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(api::platform::GROUP, api::platform::VERSION, kind),
        plural,
    )
}

/// What belongs to a cluster through `spec.clusterName` and goes when it goes: its machines and
/// its add-ons of every kind.
fn dependent_resources() -> Vec<ApiResource> {
    std::iter::once(platform_resource("Machine", "machines"))
        .chain(api::platform::addon::ADDONS.iter().map(|a| platform_resource(a.kind, a.plural)))
        .collect()
}

/// How often a deleted cluster looks again at dependents that are finishing their own cleanup.
const DEPENDENTS_POLL: Duration = Duration::from_secs(2);

/// Asks the server to delete every machine and add-on of the cluster and returns those still
/// there (`Kind/name`): their controllers drain, uninstall and release them on their own time.
async fn delete_dependents(ctx: &Ctx, cluster: &str) -> Result<Vec<String>, Error> {
    let lp = ListParams::default().fields(&format!("spec.clusterName={cluster}"));
    let mut left = vec![];
    for ar in dependent_resources() {
        let api: Api<DynamicObject> = Api::all_with(ctx.platform.clone(), &ar);
        let items = match api.list(&lp).await {
            Ok(l) => l.items,
            // A kind this server does not serve has nothing of the cluster's.
            Err(kube::Error::Api(s)) if s.code == 404 => continue,
            Err(e) => return Err(e.into()),
        };
        for o in items {
            let name = o.metadata.name.clone().unwrap_or_default();
            let terminating = o.metadata.deletion_timestamp.is_some()
                || o.data["status"]["phase"].as_str() == Some(phase::TERMINATING);
            if !terminating {
                match api.delete(&name, &DeleteParams::background()).await {
                    Ok(_) => tracing::info!(%cluster, kind = %ar.kind, %name, "deleting with its cluster"),
                    Err(kube::Error::Api(s)) if s.code == 404 => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            left.push(format!("{}/{name}", ar.kind));
        }
    }
    Ok(left)
}

fn uid(c: &Cluster) -> String {
    c.metadata.get("uid").and_then(|u| u.as_str()).unwrap_or_default().to_string()
}

impl Ctx {
    fn with_state<T>(&self, uid: &str, f: impl FnOnce(&mut ClusterState) -> T) -> T {
        let mut map = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(map.entry(uid.to_string()).or_default())
    }

    /// The cluster's credential (see [`controller_runtime::cluster::find_credential`]); one
    /// found by its label is recorded in `spec.clusterCredentialRef`.
    async fn credential(&self, cluster: &mut Cluster) -> Result<Option<ClusterCredential>, Error> {
        let Some((cc_name, cred)) = controller_runtime::cluster::find_credential(&self.credentials, cluster).await?
        else {
            return Ok(None);
        };
        let recorded = cluster.spec.cluster_credential_ref.as_ref().and_then(|r| r.name.as_deref());
        if recorded != Some(cc_name.as_str()) && !cc_name.is_empty() {
            let patch = json!({"spec": {"clusterCredentialRef": {"name": cc_name}}});
            let stored = self.clusters.patch(cluster.name(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
            *cluster = decode(&stored)?;
        }
        Ok(Some(cred))
    }

    /// What the cluster's steps and checks work with.
    async fn context(&self, cluster: &mut Cluster) -> Result<ClusterContext, Error> {
        let credential = self.credential(cluster).await?;
        let addresses = cluster.status.as_ref().and_then(|s| s.addresses.clone()).unwrap_or_default();
        let (business, url) = match (&credential, controller_runtime::cluster::base_url(&addresses)) {
            (_, Err(e)) => (Err(e.into()), String::new()),
            (None, Ok(url)) => (Err(BusinessClientError::NoCredential(cluster.name().to_string())), url),
            (Some(cred), Ok(url)) => {
                let cred_rv = cred.metadata.get("resourceVersion").and_then(|v| v.as_str()).unwrap_or_default();
                let key = format!("{}|{cred_rv}", serde_json::to_string(&addresses).unwrap_or_default());
                let cached = self.with_state(&uid(cluster), |s| {
                    s.client.as_ref().filter(|(k, _)| *k == key).map(|(_, c)| c.clone())
                });
                match cached {
                    Some(c) => (Ok(c), url),
                    None => match controller_runtime::cluster::client(
                        &url,
                        cred,
                        &ClientOptions::timeout(self.opts.health.probe_timeout.max(Duration::from_secs(30))),
                    ) {
                        Ok(c) => {
                            self.with_state(&uid(cluster), |s| s.client = Some((key, c.clone())));
                            (Ok(c), url)
                        }
                        Err(e) => (Err(e.into()), url),
                    },
                }
            }
        };
        Ok(ClusterContext { platform: self.platform.clone(), credential, business, url })
    }
}

fn set_reason(cluster: &mut Cluster, reason: Option<&str>, message: Option<String>) {
    let s = cluster.status.get_or_insert_with(Default::default);
    s.reason = reason.map(str::to_string);
    s.message = message;
}

fn set_phase(cluster: &mut Cluster, p: &str) {
    cluster.status.get_or_insert_with(Default::default).phase = Some(p.to_string());
}

pub(crate) async fn reconcile(obj: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    ctx.stats.count_reconcile();
    // The reflector's copy can lag behind this controller's own last write: the steps and the
    // status writes work from the stored object, so a finished step never runs twice and a save
    // does not conflict with what this controller wrote itself.
    let name = obj.metadata.name.clone().unwrap_or_default();
    let Some(obj) = ctx.clusters.get_opt(&name).await? else { return Ok(Action::await_change()) };
    let mut cluster: Cluster = decode(&obj)?;
    let id = uid(&cluster);
    if cluster.status.as_ref().and_then(|s| s.locked).unwrap_or(false) {
        return Ok(Action::await_change());
    }
    let deleting = obj.metadata.deletion_timestamp.is_some() || cluster.phase() == phase::TERMINATING;
    let Some(provider) = ctx.providers.get(&cluster.spec.type_).cloned() else {
        if deleting {
            // Nothing was ever done for an unknown type: let it go.
            finalize(&ctx, &cluster).await?;
            return Ok(Action::await_change());
        }
        let msg = format!(
            "no provider for cluster type {:?} (known: {})",
            cluster.spec.type_,
            ctx.providers.names().join(", ")
        );
        if cluster.status.as_ref().and_then(|s| s.message.as_deref()) != Some(msg.as_str()) {
            set_reason(&mut cluster, Some("UnknownProvider"), Some(msg));
            StatusWriter::new(&ctx.clusters, "cluster").save(&mut cluster).await?;
        }
        return Ok(Action::await_change());
    };
    tracing::debug!(cluster = %cluster.name(), phase = %cluster.phase(), "reconcile");
    let result = if deleting {
        delete(&ctx, provider.as_ref(), cluster).await
    } else {
        match cluster.phase() {
            "" | phase::INITIALIZING | phase::WAITING => create(&ctx, provider.as_ref(), cluster).await,
            phase::RUNNING | phase::FAILED => update_and_check(&ctx, provider.as_ref(), cluster).await,
            phase::UPGRADING => lifecycle(&ctx, provider.upgrade_steps(), cluster).await,
            phase::UPSCALING => lifecycle(&ctx, provider.scale_up_steps(), cluster).await,
            phase::DOWNSCALING => lifecycle(&ctx, provider.scale_down_steps(), cluster).await,
            _ => Ok(Action::requeue(ctx.opts.health.period)),
        }
    };
    if result.is_ok() {
        ctx.failures.succeeded(&id);
    }
    result
}

pub(crate) fn error_policy(obj: Arc<DynamicObject>, err: &Error, ctx: Arc<Ctx>) -> Action {
    let id = obj.metadata.uid.clone().unwrap_or_default();
    let delay = ctx.failures.failed(&id);
    tracing::warn!(cluster = obj.metadata.name.as_deref().unwrap_or(""), error = %err, retry_in = ?delay, "reconciling the cluster failed");
    Action::requeue(delay)
}

/// A failed step: its reason on the cluster too, and a retry with back-off.
async fn step_failed(ctx: &Ctx, cluster: &mut Cluster, kind: Kind, step: &str, message: &str) -> Result<Action, Error> {
    let text = format!("{step} error: {message}");
    if cluster.status.as_ref().and_then(|s| s.message.as_deref()) != Some(text.as_str()) {
        set_reason(cluster, Some(kind.failure_reason()), Some(text));
        StatusWriter::new(&ctx.clusters, "cluster").save(cluster).await?;
    }
    let n = ctx.with_state(&uid(cluster), |s| {
        s.step_failures += 1;
        s.step_failures
    });
    tracing::info!(cluster = %cluster.name(), %step, %message, "step failed");
    Ok(Action::requeue(backoff(n)))
}

async fn create(ctx: &Ctx, provider: &dyn Provider, mut cluster: Cluster) -> Result<Action, Error> {
    if cluster.phase().is_empty() {
        set_phase(&mut cluster, phase::INITIALIZING);
    }
    let cctx = ctx.context(&mut cluster).await?;
    let engine = Engine::new(Kind::Create, provider.create_steps());
    let writer = StatusWriter::new(&ctx.clusters, "cluster");
    match engine.run(&mut cluster, &cctx, &writer).await? {
        Outcome::Failed { step, message } => step_failed(ctx, &mut cluster, Kind::Create, &step, &message).await,
        Outcome::Done => {
            set_phase(&mut cluster, phase::RUNNING);
            set_reason(&mut cluster, None, None);
            ctx.with_state(&uid(&cluster), |s| {
                s.step_failures = 0;
                s.tracker = Some(HealthTracker::new(false));
                s.next_check = Some(Instant::now());
            });
            tracing::info!(cluster = %cluster.name(), "cluster created: Running");
            // The steps may have made the credential and address (Baremetal): the first health
            // check, which fills in version, resources and components, uses what they made.
            drop(cctx);
            let cctx = ctx.context(&mut cluster).await?;
            check_health(ctx, &cctx, cluster).await
        }
    }
}

async fn update_and_check(ctx: &Ctx, provider: &dyn Provider, mut cluster: Cluster) -> Result<Action, Error> {
    let cctx = ctx.context(&mut cluster).await?;
    let steps = provider.update_steps();
    if !steps.is_empty() {
        // Housekeeping runs in full on every pass.
        let engine = Engine::new(Kind::Update, steps);
        engine.reset(&mut cluster);
        let writer = StatusWriter::new(&ctx.clusters, "cluster");
        if let Outcome::Failed { step, message } = engine.run(&mut cluster, &cctx, &writer).await? {
            step_failed(ctx, &mut cluster, Kind::Update, &step, &message).await?;
        }
    }
    check_health(ctx, &cctx, cluster).await
}

/// When the next check of a cluster is due: remembered, else one period after the last recorded
/// probe (so a restarted controller does not probe everything at once), else soon with jitter.
fn due(ctx: &Ctx, cluster: &Cluster) -> Instant {
    let id = uid(cluster);
    if let Some(at) = ctx.with_state(&id, |s| s.next_check) {
        return at;
    }
    let now = Instant::now();
    let last = cluster
        .condition(HEALTH_CHECK)
        .and_then(|c| c.last_probe_time.as_deref())
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    let at = match last {
        Some(t) => {
            let age = (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).to_std().unwrap_or_default();
            now + ctx.opts.health.next_delay().saturating_sub(age)
        }
        None => now + health::random_upto(ctx.opts.health.jitter.min(ctx.opts.health.period)),
    };
    ctx.with_state(&id, |s| s.next_check = Some(at));
    at
}

async fn check_health(ctx: &Ctx, cctx: &ClusterContext, mut cluster: Cluster) -> Result<Action, Error> {
    let now = Instant::now();
    let at = due(ctx, &cluster);
    if at > now {
        // Steps saved their own progress; reconciles caused by our own writes end here.
        return Ok(Action::requeue(at - now));
    }
    let opts = &ctx.opts.health;
    let result = match &cctx.business {
        Ok(client) => {
            health::check(opts, || async {
                client
                    .apiserver_version()
                    .await
                    .map_err(|source| ClusterHealthError::Api { url: cctx.url.clone(), source })
            })
            .await
        }
        Err(e) => Err(health::ProbeFailure::Failed(ClusterHealthError::NoClient(e.clone()))),
    };
    let id = uid(&cluster);
    let was_failed = cluster.phase() == phase::FAILED;
    let verdict = ctx.with_state(&id, |s| {
        s.tracker.get_or_insert_with(|| HealthTracker::new(was_failed)).observe(result.is_ok(), opts)
    });
    if let (Ok(info), Ok(client)) = (&result, &cctx.business) {
        let status = cluster.status.get_or_insert_with(Default::default);
        status.version = Some(observe::version_of(&info.git_version));
        status.kube_vendor = Some(observe::vendor_of(&info.git_version).to_string());
        match observe::resources(client).await {
            Ok(r) => cluster.status.get_or_insert_with(Default::default).resource = Some(r),
            Err(e) => tracing::warn!(cluster = %cluster.name(), error = %e, "reading the cluster's nodes and pods"),
        }
        match observe::components(client).await {
            Ok(c) => cluster.status.get_or_insert_with(Default::default).components = Some(c),
            Err(e) => tracing::warn!(cluster = %cluster.name(), error = %e, "reading the cluster's components"),
        }
    }
    let err = result.as_ref().err().map(ToString::to_string).unwrap_or_default();
    let conditions = cluster.conditions_mut();
    match &verdict {
        Verdict::Healthy => engine::set_condition(conditions, HEALTH_CHECK, engine::TRUE, None, None),
        Verdict::Degraded { failures, threshold } => engine::set_condition(
            conditions,
            HEALTH_CHECK,
            engine::UNKNOWN,
            Some("ProbeFailed"),
            Some(&format!("{failures} of {threshold} checks in a row failed (Failed at {threshold}): {err}")),
        ),
        Verdict::Failed => {
            engine::set_condition(conditions, HEALTH_CHECK, engine::FALSE, Some(REASON_FAILED_HEALTH_CHECK), Some(&err))
        }
        Verdict::Recovering { successes, threshold } => engine::set_condition(
            conditions,
            HEALTH_CHECK,
            engine::UNKNOWN,
            Some("Recovering"),
            Some(&format!("answered {successes} of {threshold} checks in a row needed to be Running again")),
        ),
    }
    match verdict {
        Verdict::Healthy => {
            if was_failed {
                tracing::info!(cluster = %cluster.name(), "cluster recovered: Running");
            }
            set_phase(&mut cluster, phase::RUNNING);
            if cluster.status.as_ref().and_then(|s| s.reason.as_deref()) == Some(REASON_FAILED_HEALTH_CHECK) {
                set_reason(&mut cluster, None, None);
            }
        }
        Verdict::Failed => {
            if !was_failed {
                tracing::warn!(cluster = %cluster.name(), error = %err, "cluster failed its health checks: Failed");
            }
            set_phase(&mut cluster, phase::FAILED);
            set_reason(&mut cluster, Some(REASON_FAILED_HEALTH_CHECK), Some(err));
        }
        Verdict::Degraded { .. } | Verdict::Recovering { .. } => {}
    }
    // Scheduled before saving: a failed save is retried without counting the same check twice.
    let delay = opts.next_delay();
    ctx.with_state(&id, |s| s.next_check = Some(Instant::now() + delay));
    StatusWriter::new(&ctx.clusters, "cluster").save(&mut cluster).await?;
    Ok(Action::requeue(delay))
}

/// Upgrade and scaling: the provider's steps, then back to `Running` (their conditions cleared so
/// the next upgrade or scaling starts over).
async fn lifecycle(ctx: &Ctx, steps: Vec<crate::provider::ClusterStep>, mut cluster: Cluster) -> Result<Action, Error> {
    let cctx = ctx.context(&mut cluster).await?;
    let engine = Engine::new(Kind::Update, steps);
    let writer = StatusWriter::new(&ctx.clusters, "cluster");
    match engine.run(&mut cluster, &cctx, &writer).await? {
        Outcome::Failed { step, message } => step_failed(ctx, &mut cluster, Kind::Update, &step, &message).await,
        Outcome::Done => {
            let scaled =
                || cluster.spec.scaling_machines.iter().flatten().map(|m| m.ip.as_str()).collect::<Vec<_>>().join(",");
            let done = match cluster.phase() {
                phase::UPGRADING => {
                    format!("upgraded to Kubernetes {}", cluster.spec.version.as_deref().unwrap_or_default())
                }
                phase::UPSCALING => format!("scaled up on machine {}", scaled()),
                _ => format!("scaled down: removed machine {}", scaled()),
            };
            tracing::info!(cluster = %cluster.name(), "{done}");
            engine.reset(&mut cluster);
            set_phase(&mut cluster, phase::RUNNING);
            set_reason(&mut cluster, None, Some(done));
            let clear = cluster.spec.scaling_machines.take().is_some();
            writer.save(&mut cluster).await?;
            if clear {
                // Running now, so the server drops spec.scalingMachines on this update.
                let patch = serde_json::json!({"spec": {"scalingMachines": null}});
                ctx.clusters.patch(cluster.name(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
            }
            ctx.with_state(&uid(&cluster), |s| s.step_failures = 0);
            Ok(Action::requeue(Duration::ZERO))
        }
    }
}

async fn delete(ctx: &Ctx, provider: &dyn Provider, mut cluster: Cluster) -> Result<Action, Error> {
    // Machines and add-ons go first, while the cluster can still be reached to drain nodes and
    // uninstall; the cluster waits for them, saying which it waits for.
    let left = delete_dependents(ctx, cluster.name()).await?;
    if !left.is_empty() {
        let shown: Vec<&str> = left.iter().take(5).map(String::as_str).collect();
        let more =
            if left.len() > shown.len() { format!(" and {} more", left.len() - shown.len()) } else { String::new() };
        let msg =
            format!("waiting for {} object(s) of the cluster to be deleted: {}{more}", left.len(), shown.join(", "));
        if cluster.status.as_ref().and_then(|s| s.message.as_deref()) != Some(msg.as_str()) {
            set_reason(&mut cluster, Some("DeletingDependents"), Some(msg));
            StatusWriter::new(&ctx.clusters, "cluster").save(&mut cluster).await?;
        }
        return Ok(Action::requeue(DEPENDENTS_POLL));
    }
    let cctx = ctx.context(&mut cluster).await?;
    let engine = Engine::new(Kind::Delete, provider.delete_steps());
    let writer = StatusWriter::new(&ctx.clusters, "cluster");
    if let Outcome::Failed { step, message } = engine.run(&mut cluster, &cctx, &writer).await? {
        return step_failed(ctx, &mut cluster, Kind::Delete, &step, &message).await;
    }
    // The credentials that belong to this cluster go with it.
    let mut names: Vec<String> = vec![];
    if let Some(c) = &cctx.credential
        && c.cluster_name.as_deref() == Some(cluster.name())
        && let Some(n) = c.metadata.get("name").and_then(|n| n.as_str())
    {
        names.push(n.to_string());
    }
    let lp = ListParams::default().labels(&format!("{CLUSTER_NAME_LABEL}={}", cluster.name()));
    for cc in ctx.credentials.list(&lp).await?.items {
        if let Some(n) = cc.metadata.name
            && !names.contains(&n)
        {
            names.push(n);
        }
    }
    for n in names {
        match ctx.credentials.delete(&n, &DeleteParams::default()).await {
            Ok(_) => tracing::info!(cluster = %cluster.name(), credential = %n, "credential deleted"),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    finalize(ctx, &cluster).await?;
    let id = uid(&cluster);
    ctx.state.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    tracing::info!(cluster = %cluster.name(), "cluster deleted");
    Ok(Action::await_change())
}

/// Clears the `cluster` finalizer through `/finalize`; the server then removes the object.
async fn finalize(ctx: &Ctx, cluster: &Cluster) -> Result<(), Error> {
    let mut body = serde_json::to_value(cluster)?;
    let kept: Vec<String> =
        cluster.spec.finalizers.iter().flatten().filter(|f| *f != api::platform::cluster::FINALIZER).cloned().collect();
    body["spec"]["finalizers"] = json!(kept);
    match ctx.clusters.replace_subresource("finalize", cluster.name(), &PostParams::default(), &body).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Runs the cluster controller until `stop` resolves.
pub(crate) async fn run(
    client: Client,
    providers: Providers,
    opts: ControllerOptions,
    stats: ControllerStats,
    stop: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let (cluster_ar, cc_ar) = (cluster_resource(), credential_resource());
    let clusters: Api<DynamicObject> = Api::all_with(client.clone(), &cluster_ar);
    let credentials: Api<DynamicObject> = Api::all_with(client.clone(), &cc_ar);
    let ctx = Arc::new(Ctx {
        platform: client,
        clusters: clusters.clone(),
        credentials: credentials.clone(),
        providers,
        opts: opts.clone(),
        state: Mutex::new(HashMap::new()),
        failures: Failures::default(),
        stats,
    });
    let owner_ar = cluster_ar.clone();
    Controller::new_with(clusters, watcher::Config::default(), cluster_ar)
        // A new or changed credential re-examines its cluster at once.
        .watches_with(credentials, cc_ar, watcher::Config::default(), move |cc: DynamicObject| {
            cc.data
                .get("clusterName")
                .and_then(|n| n.as_str())
                .filter(|n| !n.is_empty())
                .map(|n| ObjectRef::new_with(n, owner_ar.clone()))
        })
        .with_config(kube::runtime::controller::Config::default().concurrency(opts.concurrency.max(1)))
        .graceful_shutdown_on(stop)
        .run(|o, c| controller_runtime::metrics::observe("cluster", reconcile(o, c)), error_policy, ctx)
        .for_each(|_| async {})
        .await;
}
