//! The machine controller (reference 2.6): worker `Machine`s of a cluster, installed and removed
//! by a [`MachineProvider`] through the same condition-driven [`crate::engine`] as clusters.
//!
//! By phase: `Initializing` runs the provider's create steps (each a condition, resumed at the
//! first that is not `True`, the object saved after every step) and then turns `Running`;
//! `Running`/`Failed` run the housekeeping steps and a health check — the machine's node must be
//! found in its cluster (by name or address equal to the machine's IP) and be `Ready`, otherwise
//! the machine is `Failed` with the reason; a deleted (`Terminating`) machine runs the delete
//! steps and then clears its finalizer through `/finalize`, so the server removes it.
//!
//! `Upgrading` (a worker of a cluster whose Kubernetes version changed) runs the provider's upgrade
//! steps, then the machine is `Running` again without its [`NEED_UPGRADE_LABEL`]. Workers are
//! upgraded one after another: the cluster labels them `willUpgrade` (`upgrade.mode: Auto`) or
//! with an empty value that the user turns into `willUpgrade` machine by machine (`Manual`), and
//! [`start_worker_upgrades`] moves the lowest-named labelled `Running` machines to `Upgrading`
//! while fewer than `upgrade.strategy.maxUnready` workers (default 1) are not `Running`. The
//! choice is deterministic, so replicas or concurrent reconciles racing here pick the same
//! machines.
//!
//! Steps may be skipped per machine with the annotation
//! `platform.tkestack.io/skip-conditions: "EnsureA,EnsureB"` (machines have no
//! `spec.features.skipConditions`).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use api::platform::{
    Cluster, ClusterCredential, Machine,
    common::{Condition, IntOrString},
    machine::{MachineAddress, MachineSystemInfo, phase},
};
use controller_runtime::{
    backoff,
    cluster::{ClientOptions, base_url, client},
    error_chain,
    shell::{Failures, StatusWriter, decode},
};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::{
    Api, Client,
    api::{ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams},
    runtime::{Controller, controller::Action, watcher},
};
use serde_json::json;

use crate::{
    ControllerOptions, ControllerStats,
    cluster::{HEALTH_CHECK, REASON_FAILED_HEALTH_CHECK},
    engine::{self, Conditioned, Engine, Kind, Outcome, Persist, Step, StepError},
    provider::BusinessClientError,
};

/// Annotation listing steps to skip on a machine, comma-separated.
pub const SKIP_CONDITIONS_ANNOTATION: &str = "platform.tkestack.io/skip-conditions";

/// Label of a worker Machine whose cluster was upgraded and which is not yet: `willUpgrade`
/// when it is to be upgraded, empty while it waits for the user (`upgrade.mode: Manual`).
pub const NEED_UPGRADE_LABEL: &str = "platform.tkestack.io/need-upgrade";
/// The [`NEED_UPGRADE_LABEL`] value of a machine to upgrade.
pub const WILL_UPGRADE: &str = "willUpgrade";

/// What a machine step works with besides the Machine itself.
pub struct MachineContext {
    /// The platform's own API.
    pub platform: Client,
    /// The machine's cluster (`spec.clusterName`), when it exists.
    pub cluster: Option<Cluster>,
    /// The cluster's credential, when it has one.
    pub credential: Option<ClusterCredential>,
    /// A client of the business cluster, or why there is none.
    pub business: Result<Client, BusinessClientError>,
    /// The URL the business client talks to (for messages).
    pub url: String,
}

impl MachineContext {
    /// The business cluster's client, or a step error saying why it cannot be reached.
    pub fn business(&self) -> Result<&Client, StepError> {
        self.business.as_ref().map_err(|e| StepError::new(e.to_string()))
    }
    /// The machine's cluster, or a step error naming the missing cluster.
    pub fn cluster(&self) -> Result<&Cluster, StepError> {
        self.cluster.as_ref().ok_or_else(|| StepError::new("the machine's cluster (spec.clusterName) does not exist"))
    }
}

/// One step of a machine lifecycle.
pub type MachineStep = Step<Machine, MachineContext>;

/// The steps of every lifecycle of a provider's machines (`spec.type`).
pub trait MachineProvider: Send + Sync {
    /// The `spec.type` this provider serves.
    fn name(&self) -> &'static str;
    /// Run once, in order, while the machine is `Initializing`; it is `Running` after the last.
    fn create_steps(&self) -> Vec<MachineStep>;
    /// Housekeeping run on every pass over a `Running` or `Failed` machine, before its health
    /// check; failures are reported with reason `FailedUpdate`.
    fn update_steps(&self) -> Vec<MachineStep> {
        vec![]
    }
    /// Run while the machine is `Upgrading` (to its cluster's `spec.version`).
    fn upgrade_steps(&self) -> Vec<MachineStep> {
        vec![]
    }
    /// Run when the machine is deleted, before its finalizer is cleared.
    fn delete_steps(&self) -> Vec<MachineStep> {
        vec![]
    }
}

/// Machine providers by name.
#[derive(Clone, Default)]
pub struct MachineProviders(HashMap<&'static str, Arc<dyn MachineProvider>>);

impl MachineProviders {
    /// Adds (or replaces) a provider, e.g. `Baremetal` from the provision crate.
    pub fn register(&mut self, provider: Arc<dyn MachineProvider>) {
        self.0.insert(provider.name(), provider);
    }
    pub fn get(&self, name: &str) -> Option<&Arc<dyn MachineProvider>> {
        self.0.get(name)
    }
    pub fn names(&self) -> Vec<&'static str> {
        let mut n: Vec<_> = self.0.keys().copied().collect();
        n.sort();
        n
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Conditioned for Machine {
    fn conditions(&self) -> &[Condition] {
        self.status.as_ref().and_then(|s| s.conditions.as_deref()).unwrap_or(&[])
    }
    fn conditions_mut(&mut self) -> &mut Vec<Condition> {
        self.status.get_or_insert_with(Default::default).conditions.get_or_insert_with(Vec::new)
    }
    fn skip_conditions(&self) -> Vec<String> {
        self.metadata["annotations"][SKIP_CONDITIONS_ANNOTATION]
            .as_str()
            .map(|s| s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect())
            .unwrap_or_default()
    }
    fn record_failure(&mut self, reason: &str, step: &str, message: &str) {
        let s = self.status.get_or_insert_with(Default::default);
        s.reason = Some(reason.to_string());
        s.message = Some(format!("{step} error: {message}"));
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("platform API: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Persist(#[from] engine::PersistError),
    #[error("decoding: {0}")]
    Decode(#[from] serde_json::Error),
}

pub fn machine_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(api::platform::GROUP, api::platform::VERSION, "Machine"),
        "machines",
    )
}

fn cluster_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(api::platform::GROUP, api::platform::VERSION, "Cluster"),
        "clusters",
    )
}

fn uid(m: &Machine) -> String {
    m.metadata["uid"].as_str().unwrap_or_default().to_string()
}

/// The credential of a cluster: `spec.clusterCredentialRef`, else the one labelled with the
/// cluster's name. Public so that providers can read it again after a step changed it.
pub async fn cluster_credential(
    platform: &Client,
    cluster: &Cluster,
) -> Result<Option<ClusterCredential>, kube::Error> {
    let credentials = controller_runtime::cluster::credentials_api(platform.clone());
    Ok(controller_runtime::cluster::find_credential(&credentials, cluster).await?.map(|(_, c)| c))
}

/// A client of a cluster from its `status.addresses` and credential, with its URL, or why there
/// is none.
pub fn business_client(
    cluster: &Cluster,
    credential: Option<&ClusterCredential>,
    timeout: Duration,
) -> (Result<Client, BusinessClientError>, String) {
    let addresses = cluster.status.as_ref().and_then(|s| s.addresses.clone()).unwrap_or_default();
    match (credential, base_url(&addresses)) {
        (_, Err(source)) => {
            (Err(BusinessClientError::ClusterAccess { cluster: cluster.name().to_string(), source }), String::new())
        }
        (None, Ok(url)) => (Err(BusinessClientError::NoCredentialYet(cluster.name().to_string())), url),
        (Some(c), Ok(url)) => (client(&url, c, &ClientOptions::timeout(timeout)).map_err(Into::into), url),
    }
}

/// What the controller remembers of one machine between reconciles (by uid).
#[derive(Default)]
struct MachineState {
    next_check: Option<Instant>,
    step_failures: u32,
    /// Failed passes over the delete steps.
    delete_failures: u32,
}

/// Passes over the delete steps of a machine whose removal cannot matter to a cluster (it is
/// being deleted, gone, or never reached by the machine) before the machine is released anyway.
const BEST_EFFORT_DELETE_ATTEMPTS: u32 = 3;

struct Ctx {
    platform: Client,
    machines: Api<DynamicObject>,
    clusters: Api<DynamicObject>,
    providers: MachineProviders,
    opts: ControllerOptions,
    state: Mutex<HashMap<String, MachineState>>,
    /// Consecutive reconcile errors, for the back-off.
    failures: Failures,
    stats: ControllerStats,
}

impl Ctx {
    fn with_state<T>(&self, uid: &str, f: impl FnOnce(&mut MachineState) -> T) -> T {
        let mut map = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(map.entry(uid.to_string()).or_default())
    }

    async fn context(&self, machine: &Machine) -> Result<MachineContext, Error> {
        let cluster: Option<Cluster> = match self.clusters.get_opt(&machine.spec.cluster_name).await? {
            Some(o) => Some(decode(&o)?),
            None => None,
        };
        let Some(c) = &cluster else {
            let why = BusinessClientError::NoCluster(machine.spec.cluster_name.clone());
            return Ok(MachineContext {
                platform: self.platform.clone(),
                cluster,
                credential: None,
                business: Err(why),
                url: String::new(),
            });
        };
        let credential = cluster_credential(&self.platform, c).await?;
        let (business, url) =
            business_client(c, credential.as_ref(), self.opts.health.probe_timeout.max(Duration::from_secs(30)));
        Ok(MachineContext { platform: self.platform.clone(), cluster, credential, business, url })
    }
}

fn set_phase(m: &mut Machine, p: &str) {
    m.status.get_or_insert_with(Default::default).phase = Some(p.to_string());
}

fn set_reason(m: &mut Machine, reason: Option<&str>, message: Option<String>) {
    let s = m.status.get_or_insert_with(Default::default);
    s.reason = reason.map(str::to_string);
    s.message = message;
}

async fn reconcile(obj: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    ctx.stats.count_reconcile();
    // The reflector's copy can lag behind this controller's own last write: the steps and the
    // status writes work from the stored object, so a finished step never runs twice and a save
    // does not conflict with what this controller wrote itself.
    let name = obj.metadata.name.clone().unwrap_or_default();
    let Some(obj) = ctx.machines.get_opt(&name).await? else { return Ok(Action::await_change()) };
    let mut machine: Machine = decode(&obj)?;
    if machine.status.as_ref().and_then(|s| s.locked).unwrap_or(false) {
        return Ok(Action::await_change());
    }
    let deleting = obj.metadata.deletion_timestamp.is_some() || machine.phase() == phase::TERMINATING;
    let Some(provider) = ctx.providers.get(&machine.spec.type_).cloned() else {
        if deleting {
            finalize(&ctx, &machine).await?;
            return Ok(Action::await_change());
        }
        let msg = format!(
            "no provider for machine type {:?} (known: {})",
            machine.spec.type_,
            ctx.providers.names().join(", ")
        );
        if machine.status.as_ref().and_then(|s| s.message.as_deref()) != Some(msg.as_str()) {
            set_reason(&mut machine, Some("UnknownProvider"), Some(msg));
            StatusWriter::new(&ctx.machines, "machine").save(&mut machine).await?;
        }
        return Ok(Action::await_change());
    };
    tracing::debug!(machine = %machine.name(), phase = %machine.phase(), "reconcile");
    let id = uid(&machine);
    let result = if deleting {
        delete(&ctx, provider.as_ref(), machine).await
    } else {
        match machine.phase() {
            "" | phase::INITIALIZING => create(&ctx, provider.as_ref(), machine).await,
            phase::UPGRADING => upgrade(&ctx, provider.as_ref(), machine).await,
            phase::RUNNING if wants_upgrade(&machine) => {
                // Marked for upgrade (by the cluster or by the user): it or others may start now.
                let cluster = match ctx.clusters.get_opt(&machine.spec.cluster_name).await? {
                    Some(c) => Some(decode::<Cluster>(&c)?),
                    None => None,
                };
                match cluster {
                    Some(c) if !start_worker_upgrades(&ctx.platform, &c).await?.is_empty() => {
                        Ok(Action::requeue(Duration::ZERO))
                    }
                    _ => update_and_check(&ctx, provider.as_ref(), machine).await,
                }
            }
            phase::RUNNING | phase::FAILED => update_and_check(&ctx, provider.as_ref(), machine).await,
            _ => Ok(Action::requeue(ctx.opts.health.period)),
        }
    };
    if result.is_ok() {
        ctx.failures.succeeded(&id);
    }
    result
}

fn error_policy(obj: Arc<DynamicObject>, err: &Error, ctx: Arc<Ctx>) -> Action {
    let id = obj.metadata.uid.clone().unwrap_or_default();
    let delay = ctx.failures.failed(&id);
    tracing::warn!(machine = obj.metadata.name.as_deref().unwrap_or(""), error = %err, retry_in = ?delay, "reconciling the machine failed");
    Action::requeue(delay)
}

async fn step_failed(ctx: &Ctx, machine: &mut Machine, kind: Kind, step: &str, message: &str) -> Result<Action, Error> {
    let text = format!("{step} error: {message}");
    if machine.status.as_ref().and_then(|s| s.message.as_deref()) != Some(text.as_str()) {
        set_reason(machine, Some(kind.failure_reason()), Some(text));
        StatusWriter::new(&ctx.machines, "machine").save(machine).await?;
    }
    let n = ctx.with_state(&uid(machine), |s| {
        s.step_failures += 1;
        s.step_failures
    });
    tracing::info!(machine = %machine.name(), %step, %message, "step failed");
    Ok(Action::requeue(backoff(n)))
}

async fn create(ctx: &Ctx, provider: &dyn MachineProvider, mut machine: Machine) -> Result<Action, Error> {
    if machine.phase().is_empty() {
        set_phase(&mut machine, phase::INITIALIZING);
    }
    let mctx = ctx.context(&machine).await?;
    let engine = Engine::new(Kind::Create, provider.create_steps());
    let writer = StatusWriter::new(&ctx.machines, "machine");
    match engine.run(&mut machine, &mctx, &writer).await? {
        Outcome::Failed { step, message } => step_failed(ctx, &mut machine, Kind::Create, &step, &message).await,
        Outcome::Done => {
            set_phase(&mut machine, phase::RUNNING);
            set_reason(&mut machine, None, None);
            ctx.with_state(&uid(&machine), |s| {
                s.step_failures = 0;
                s.next_check = Some(Instant::now());
            });
            tracing::info!(machine = %machine.name(), "machine created: Running");
            check_health(ctx, &mctx, machine).await
        }
    }
}

async fn update_and_check(ctx: &Ctx, provider: &dyn MachineProvider, mut machine: Machine) -> Result<Action, Error> {
    let mctx = ctx.context(&machine).await?;
    // Reconciles caused by our own status writes end here until the next check is due.
    let now = Instant::now();
    if let Some(at) = ctx.with_state(&uid(&machine), |s| s.next_check)
        && at > now
    {
        return Ok(Action::requeue(at - now));
    }
    let steps = provider.update_steps();
    if !steps.is_empty() {
        let engine = Engine::new(Kind::Update, steps);
        engine.reset(&mut machine);
        let writer = StatusWriter::new(&ctx.machines, "machine");
        if let Outcome::Failed { step, message } = engine.run(&mut machine, &mctx, &writer).await? {
            step_failed(ctx, &mut machine, Kind::Update, &step, &message).await?;
        }
    }
    check_health(ctx, &mctx, machine).await
}

fn wants_upgrade(m: &Machine) -> bool {
    m.metadata["labels"][NEED_UPGRADE_LABEL].as_str() == Some(WILL_UPGRADE)
}

/// `Upgrading`: the provider's upgrade steps, then `Running` without the upgrade label, and the
/// next labelled workers start.
async fn upgrade(ctx: &Ctx, provider: &dyn MachineProvider, mut machine: Machine) -> Result<Action, Error> {
    let mctx = ctx.context(&machine).await?;
    let engine = Engine::new(Kind::Update, provider.upgrade_steps());
    let writer = StatusWriter::new(&ctx.machines, "machine");
    match engine.run(&mut machine, &mctx, &writer).await? {
        Outcome::Failed { step, message } => step_failed(ctx, &mut machine, Kind::Update, &step, &message).await,
        Outcome::Done => {
            // The label goes first: a crash before the phase is saved resumes (and finishes) the
            // upgrade; the other order could upgrade the machine a second time.
            let patch = json!({"metadata": {"labels": {NEED_UPGRADE_LABEL: null}}});
            let stored = ctx.machines.patch(machine.name(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
            machine = decode(&stored)?;
            engine.reset(&mut machine);
            let version = mctx.cluster.as_ref().and_then(|c| c.spec.version.clone()).unwrap_or_default();
            set_phase(&mut machine, phase::RUNNING);
            set_reason(&mut machine, None, Some(format!("upgraded to Kubernetes {version}")));
            writer.save(&mut machine).await?;
            ctx.with_state(&uid(&machine), |s| {
                s.step_failures = 0;
                s.next_check = Some(Instant::now());
            });
            tracing::info!(machine = %machine.name(), %version, "machine upgraded: Running");
            if let Some(c) = &mctx.cluster {
                start_worker_upgrades(&ctx.platform, c).await?;
            }
            Ok(Action::requeue(Duration::ZERO))
        }
    }
}

/// How many workers of `total` may be unready during an upgrade: `maxUnready` as a number or a
/// percentage (rounded down), at least one.
pub fn max_unready(cluster: &Cluster, total: usize) -> usize {
    let v = cluster
        .spec
        .features
        .as_ref()
        .and_then(|f| f.upgrade.as_ref())
        .and_then(|u| u.strategy.as_ref())
        .and_then(|s| s.max_unready.clone());
    let n = match v {
        Some(IntOrString::Int(n)) => usize::try_from(n).unwrap_or(0),
        Some(IntOrString::String(s)) => {
            s.strip_suffix('%').and_then(|p| p.parse::<usize>().ok()).map_or(1, |p| total * p / 100)
        }
        None => 1,
    };
    n.max(1)
}

/// The Machines of cluster `cluster`.
pub async fn cluster_machines(platform: &Client, cluster: &str) -> Result<Vec<Machine>, kube::Error> {
    let api: Api<DynamicObject> = Api::all_with(platform.clone(), &machine_resource());
    let list = api.list(&ListParams::default().fields(&format!("spec.clusterName={cluster}"))).await?;
    Ok(list.items.iter().filter_map(|o| decode::<Machine>(o).ok()).filter(|m| m.spec.cluster_name == cluster).collect())
}

/// Moves the next workers of `cluster` labelled [`WILL_UPGRADE`] to `Upgrading`: the
/// lowest-named `Running` ones, while fewer than [`max_unready`] of its machines are not
/// `Running`. Returns the machines it started.
pub async fn start_worker_upgrades(platform: &Client, cluster: &Cluster) -> Result<Vec<String>, kube::Error> {
    let api: Api<DynamicObject> = Api::all_with(platform.clone(), &machine_resource());
    let mut mine: Vec<Machine> = cluster_machines(platform, cluster.name())
        .await?
        .into_iter()
        .filter(|m| m.metadata["deletionTimestamp"].is_null())
        .collect();
    mine.sort_by(|a, b| a.name().cmp(b.name()));
    let unready = mine.iter().filter(|m| m.phase() != phase::RUNNING).count();
    let room = max_unready(cluster, mine.len()).saturating_sub(unready);
    let version = cluster.spec.version.clone().unwrap_or_default();
    let mut started = vec![];
    for m in mine.iter().filter(|m| m.phase() == phase::RUNNING && wants_upgrade(m)).take(room) {
        let patch = json!({"status": {"phase": phase::UPGRADING, "reason": null, "message": format!("upgrading to Kubernetes {version}")}});
        api.patch_status(m.name(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
        tracing::info!(machine = %m.name(), cluster = %cluster.name(), %version, "worker upgrade started");
        started.push(m.name().to_string());
    }
    if room == 0 && mine.iter().any(wants_upgrade) {
        tracing::info!(cluster = %cluster.name(), unready, "worker upgrades wait: as many workers as maxUnready allows are not Running");
    }
    Ok(started)
}

/// Whether a node is the machine's: named after its IP, or carrying that address.
pub fn node_matches(node: &Node, ip: &str) -> bool {
    node.metadata.name.as_deref() == Some(ip)
        || node.status.as_ref().and_then(|s| s.addresses.as_ref()).is_some_and(|a| a.iter().any(|a| a.address == ip))
}

/// The `Ready` condition of a node: `(status, reason, message)`.
pub fn node_ready(node: &Node) -> Option<(String, String, String)> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status.clone(), c.reason.clone().unwrap_or_default(), c.message.clone().unwrap_or_default()))
}

/// Finds the machine's node in its cluster.
pub async fn find_node(client: &Client, ip: &str) -> Result<Option<Node>, kube::Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    if let Some(n) = nodes.get_opt(ip).await? {
        return Ok(Some(n));
    }
    Ok(nodes.list(&ListParams::default()).await?.items.into_iter().find(|n| node_matches(n, ip)))
}

/// Why a machine is not healthy (the `HealthCheck` condition's message and the machine's
/// `status.message`).
#[derive(Debug, thiserror::Error)]
enum MachineHealthError {
    #[error(transparent)]
    NoClient(BusinessClientError),
    #[error("cannot list the nodes of {url}: {}", error_chain(.source))]
    ListNodes { url: String, source: kube::Error },
    #[error("no node with address {ip} in cluster {cluster}")]
    NoNode { ip: String, cluster: String },
    #[error("node {node} is not Ready (Ready={status}, {reason}: {message})")]
    NotReady { node: String, status: String, reason: String, message: String },
    #[error("node {0} has not reported a Ready condition yet")]
    NoReadyCondition(String),
}

/// The machine's health: its node Ready in the cluster (`Ok`), or why not (`Err`). A found node
/// also fills in the machine's addresses and system facts.
async fn probe(mctx: &MachineContext, machine: &mut Machine) -> Result<(), MachineHealthError> {
    let client = mctx.business.as_ref().map_err(|e| MachineHealthError::NoClient(e.clone()))?;
    let ip = machine.spec.ip.clone();
    let node = find_node(client, &ip)
        .await
        .map_err(|source| MachineHealthError::ListNodes { url: mctx.url.clone(), source })?;
    let Some(node) = node else {
        return Err(MachineHealthError::NoNode { ip, cluster: machine.spec.cluster_name.clone() });
    };
    let name = node.metadata.name.clone().unwrap_or_default();
    if let Some(st) = &node.status {
        let status = machine.status.get_or_insert_with(Default::default);
        if let Some(a) = &st.addresses {
            status.addresses =
                Some(a.iter().map(|a| MachineAddress { type_: a.type_.clone(), address: a.address.clone() }).collect());
        }
        if let Some(i) = &st.node_info {
            status.machine_info = Some(MachineSystemInfo {
                machine_id: Some(i.machine_id.clone()),
                system_uuid: Some(i.system_uuid.clone()),
                boot_id: Some(i.boot_id.clone()),
                kernel_version: Some(i.kernel_version.clone()),
                os_image: Some(i.os_image.clone()),
                container_runtime_version: Some(i.container_runtime_version.clone()),
                kubelet_version: Some(i.kubelet_version.clone()),
                kube_proxy_version: Some(i.kube_proxy_version.clone()),
                operating_system: Some(i.operating_system.clone()),
                architecture: Some(i.architecture.clone()),
            });
        }
    }
    match node_ready(&node) {
        Some((s, _, _)) if s == "True" => Ok(()),
        Some((status, reason, message)) => Err(MachineHealthError::NotReady { node: name, status, reason, message }),
        None => Err(MachineHealthError::NoReadyCondition(name)),
    }
}

async fn check_health(ctx: &Ctx, mctx: &MachineContext, mut machine: Machine) -> Result<Action, Error> {
    let result = probe(mctx, &mut machine).await;
    let conditions = machine.conditions_mut();
    match &result {
        Ok(()) => engine::set_condition(conditions, HEALTH_CHECK, engine::TRUE, None, None),
        Err(e) => engine::set_condition(
            conditions,
            HEALTH_CHECK,
            engine::FALSE,
            Some(REASON_FAILED_HEALTH_CHECK),
            Some(&e.to_string()),
        ),
    }
    match result {
        Ok(()) => {
            if machine.phase() == phase::FAILED {
                tracing::info!(machine = %machine.name(), "machine recovered: Running");
            }
            set_phase(&mut machine, phase::RUNNING);
            if machine.status.as_ref().and_then(|s| s.reason.as_deref()) == Some(REASON_FAILED_HEALTH_CHECK) {
                set_reason(&mut machine, None, None);
            }
        }
        Err(e) => {
            if machine.phase() != phase::FAILED {
                tracing::warn!(machine = %machine.name(), error = %e, "machine failed its health check: Failed");
            }
            set_phase(&mut machine, phase::FAILED);
            set_reason(&mut machine, Some(REASON_FAILED_HEALTH_CHECK), Some(e.to_string()));
        }
    }
    let delay = ctx.opts.health.next_delay();
    ctx.with_state(&uid(&machine), |s| s.next_check = Some(Instant::now() + delay));
    StatusWriter::new(&ctx.machines, "machine").save(&mut machine).await?;
    Ok(Action::requeue(delay))
}

async fn delete(ctx: &Ctx, provider: &dyn MachineProvider, mut machine: Machine) -> Result<Action, Error> {
    // A machine none of whose create steps ever ran (its cluster never came up, its host was
    // never reachable) has nothing to drain or clean: holding it would hold its cluster too.
    let done_anything = provider.create_steps().iter().any(|s| {
        machine
            .condition(&s.name)
            .is_some_and(|c| c.status == engine::TRUE && c.reason.as_deref() != Some(engine::REASON_SKIP))
    });
    if !done_anything {
        finalize(ctx, &machine).await?;
        ctx.state.lock().unwrap_or_else(|p| p.into_inner()).remove(&uid(&machine));
        tracing::info!(machine = %machine.name(), "machine deleted before anything was installed");
        return Ok(Action::await_change());
    }
    // Retries of the deletion back off from the start, not from where creation's failures left off.
    ctx.with_state(&uid(&machine), |s| {
        if s.delete_failures == 0 {
            s.step_failures = 0;
        }
    });
    let mctx = ctx.context(&machine).await?;
    let engine = Engine::new(Kind::Delete, provider.delete_steps());
    let writer = StatusWriter::new(&ctx.machines, "machine");
    if let Outcome::Failed { step, message } = engine.run(&mut machine, &mctx, &writer).await? {
        // Draining a node of a cluster that is going away, or that the machine never joined,
        // cannot succeed and protects nothing: a few attempts (the host may still be cleaned),
        // then the machine goes rather than holding its cluster's deletion forever.
        let cluster_going =
            mctx.cluster.as_ref().is_none_or(|c| c.phase() == api::platform::cluster::phase::TERMINATING);
        let never_joined = machine.condition(HEALTH_CHECK).is_none() && mctx.business.is_err();
        let failures = ctx.with_state(&uid(&machine), |s| {
            s.delete_failures += 1;
            s.delete_failures
        });
        if !((cluster_going || never_joined) && failures >= BEST_EFFORT_DELETE_ATTEMPTS) {
            return step_failed(ctx, &mut machine, Kind::Delete, &step, &message).await;
        }
        tracing::warn!(machine = %machine.name(), %step, %message, attempts = failures, "the machine's cluster is going or was never joined: releasing the machine without finishing its delete steps");
    }
    finalize(ctx, &machine).await?;
    ctx.state.lock().unwrap_or_else(|p| p.into_inner()).remove(&uid(&machine));
    tracing::info!(machine = %machine.name(), "machine deleted");
    Ok(Action::await_change())
}

/// Clears the `machine` finalizer through `/finalize`; the server then removes the object.
async fn finalize(ctx: &Ctx, machine: &Machine) -> Result<(), Error> {
    let mut body = serde_json::to_value(machine)?;
    let kept: Vec<String> =
        machine.spec.finalizers.iter().flatten().filter(|f| *f != api::platform::machine::FINALIZER).cloned().collect();
    body["spec"]["finalizers"] = json!(kept);
    match ctx.machines.replace_subresource("finalize", machine.name(), &PostParams::default(), &body).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Runs the machine controller until `stop` resolves.
pub(crate) async fn run(
    client: Client,
    providers: MachineProviders,
    opts: ControllerOptions,
    stats: ControllerStats,
    stop: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let ar = machine_resource();
    let machines: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let ctx = Arc::new(Ctx {
        platform: client.clone(),
        machines: machines.clone(),
        clusters: Api::all_with(client, &cluster_resource()),
        providers,
        opts: opts.clone(),
        state: Mutex::new(HashMap::new()),
        failures: Failures::default(),
        stats,
    });
    Controller::new_with(machines, watcher::Config::default(), ar)
        .with_config(kube::runtime::controller::Config::default().concurrency(opts.concurrency.max(1)))
        .graceful_shutdown_on(stop)
        .run(|o, c| controller_runtime::metrics::observe("machine", reconcile(o, c)), error_policy, ctx)
        .for_each(|_| async {})
        .await;
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    #[test]
    fn skip_conditions_come_from_the_annotation() {
        let m: Machine = serde_json::from_value(
            json!({"metadata": {"name": "mc-1", "annotations": {SKIP_CONDITIONS_ANNOTATION: "EnsureA, EnsureB,"}}}),
        )
        .expect("machine");
        assert_eq!(m.skip_conditions(), ["EnsureA", "EnsureB"]);
        assert!(Machine::default().skip_conditions().is_empty());
    }

    #[test]
    fn max_unready_is_a_number_or_a_share_of_the_workers_and_at_least_one() {
        let with = |v: Value| -> Cluster {
            serde_json::from_value(json!({"metadata": {"name": "cls-a"}, "spec": {"type": "Baremetal", "features": {"upgrade": {"strategy": {"maxUnready": v}}}}})).expect("cluster")
        };
        let plain: Cluster =
            serde_json::from_value(json!({"metadata": {"name": "cls-a"}, "spec": {"type": "Baremetal"}}))
                .expect("cluster");
        assert_eq!(max_unready(&plain, 10), 1);
        assert_eq!(max_unready(&with(json!(3)), 10), 3);
        assert_eq!(max_unready(&with(json!("25%")), 10), 2);
        assert_eq!(max_unready(&with(json!("5%")), 10), 1, "never zero: the upgrade must progress");
        assert_eq!(max_unready(&with(json!(0)), 10), 1);
    }

    #[test]
    fn a_node_is_found_by_name_or_address() {
        let n: Node = serde_json::from_value(json!({"metadata": {"name": "worker-1"}, "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.7"}],
            "conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady", "message": "cni not initialised"}]}}))
        .expect("node");
        assert!(node_matches(&n, "10.0.0.7") && node_matches(&n, "worker-1") && !node_matches(&n, "10.0.0.8"));
        assert_eq!(node_ready(&n), Some(("False".into(), "KubeletNotReady".into(), "cni not initialised".into())));
    }
}
