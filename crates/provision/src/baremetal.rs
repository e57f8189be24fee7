//! The `Baremetal` providers (reference 2.4 and 2.6): clusters installed on machines over SSH
//! from the offline bundle, and worker `Machine`s joined to them, both as condition-driven steps
//! of the platform's engine. Every step is idempotent and its error text (host, check, missing
//! program, remedy) becomes the condition message, so a person can fix the machine and the
//! controller resumes at that step.
//!
//! Cluster create steps, on every master of `spec.machines` unless said otherwise:
//! `EnsureCopyFiles` (`spec.features.files`, from the platform host), `EnsurePreClusterInstallHook`
//! (first master) and `EnsurePreInstallHook` (the `spec.features.hooks` scripts, paths on the
//! machine), `EnsurePreflight` (SSH login, privilege and environment checks), `EnsureKernelModule`,
//! `EnsureSysctl`, `EnsureDisableSwap`, `EnsureBinaries` (bundle binaries), `EnsureContainerRuntime`,
//! `EnsureKubelet`, `EnsureKubernetesImages`, `EnsureBootstrapSecrets` (a bootstrap token and an
//! upload-certs key generated once and kept in the ClusterCredential, so a retried init uses the
//! same ones), the kubeadm init phases on the first master, `EnsureStoreCredential` (the first
//! master's admin.conf becomes the ClusterCredential's CA and client identity, and its server the
//! cluster's `Advertise` address), the kubeadm join phases on the other masters, and
//! `EnsureCreateClusterMark` (the ConfigMap `kube-system/tke`, written through the new cluster's
//! API, which also proves the credential works), then `EnsurePostInstallHook` and
//! `EnsurePostClusterInstallHook` (first master). Housekeeping on every pass over a Running
//! cluster: `EnsureRenewCerts` (at most once per `renew_check_interval`, one SSH command per
//! master: when the apiserver certificate expires within 30 days the kubeadm certificates are
//! renewed and the ClusterCredential is refreshed from the new admin.conf, as
//! `EnsureStoreCredential` does). Delete: `EnsurePreClusterDeleteHook` (first master),
//! `EnsureCleanClusterMark` (best effort), `EnsureRemoveMachine` (`kubeadm reset` and node state
//! removed on every master), `EnsurePostClusterDeleteHook` (first master).
//!
//! Upgrade (`spec.version` changed on a Running cluster, which the API turns `Upgrading`):
//! `EnsurePreClusterUpgradeHook`, `EnsureUpgradeControlPlaneNode` (the masters one by one: drained
//! when `upgrade.strategy.drainNodeBeforeUpgrade`, the new release's binaries and images from the
//! bundle, `kubeadm upgrade apply` on the first — which also upgrades CoreDNS and kube-proxy —
//! and `kubeadm upgrade node` on the others, kubelet restarted, node Ready again, uncordoned),
//! `EnsureMarkUpgradeWorkers` (worker Machines labelled for upgrade, which then upgrade one after
//! another through the machine controller: `EnsurePreUpgradeHook`, `EnsureUpgrade` as above with
//! `kubeadm upgrade node`, `EnsurePostUpgradeHook`), `EnsurePostClusterUpgradeHook`.
//!
//! Masters added to `spec.machines` (`Upscaling`) run the create steps that concern them, named
//! `EnsureScaleUp…` (files, PreInstall hook, preparation, the certificates uploaded again on the
//! first master, the control-plane join phases with a bootstrap token of their own, PostInstall
//! hook). Masters removed (`Downscaling`): `EnsureDrainNode`, `EnsureRemoveETCDMember` (`kubeadm
//! reset`, which takes the member out of etcd, and node state removed), `EnsureRemoveNode`.
//!
//! A hook runs as root within `hook_timeout`; its failure message names the script, the node,
//! the exit status and the script's last output lines. An unconfigured hook is a no-op.
//!
//! Machine create steps (the cluster's files and hooks): `EnsureCopyFiles`, `EnsurePreInstallHook`,
//! the same preparation on the worker, `EnsureJoinPhasePreflight` and
//! `EnsureJoinPhaseKubeletStart` with a bootstrap token made for this machine through the
//! business cluster's API (a `bootstrap.kubernetes.io/token` Secret in `kube-system`, labelled
//! with the machine's name and reused until it nears expiry: no SSH to a master is needed and
//! the token never leaves the cluster), and `EnsureNodeReady` (the node registered and Ready,
//! the machine's labels applied), `EnsurePostInstallHook`. Delete: `EnsureDrainNode` (cordon, delete the pods not owned by
//! a DaemonSet, wait for them to go) and `EnsureRemoveNode` (Node object deleted, node reset over
//! SSH). A machine whose host is gone for good can still be deleted by listing
//! `EnsureRemoveNode` in its `platform.tkestack.io/skip-conditions` annotation.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use api::platform::{
    Cluster, Machine,
    cluster::{ClusterAddress, ClusterMachine, ClusterSpec, phase as cluster_phase},
    cluster_credential::CLUSTER_NAME_LABEL,
};
use async_trait::async_trait;
use base64::Engine as _;
use k8s_openapi::{
    ByteString,
    api::core::v1::{ConfigMap, Node, Pod, Secret},
};
use kube::{
    Api, Client,
    api::{
        ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, ObjectMeta, Patch, PatchParams,
        PostParams,
    },
};
use platform::{
    engine::{Conditioned, Handler, Step, StepError, TRUE},
    machine::{
        MachineContext, MachineProvider, MachineStep, NEED_UPGRADE_LABEL, WILL_UPGRADE, cluster_credential,
        cluster_machines, find_node, machine_resource, node_ready, start_worker_upgrades,
    },
    provider::{ClusterContext, ClusterStep, Provider, imported},
};
use rand::Rng;
use serde_json::{Value, json};

use crate::{
    bundle::{Bundle, Release, Verify},
    checks::{self, CheckConfig},
    install::{self, ContainerdSettings, InitPhase, InstallOptions, JoinPhase, KubeadmParams},
    ssh::{Exec, Session, SshOptions, Stream, Target, shell_quote},
};

/// Everything the Baremetal providers need from the platform's configuration.
#[derive(Clone, Debug)]
pub struct BaremetalOptions {
    /// The offline bundle (see BUNDLE.md).
    pub bundle_dir: PathBuf,
    /// Root prefix, whether to manage services, long-command timeout.
    pub install: InstallOptions,
    /// Environment checks of masters.
    pub master_checks: CheckConfig,
    /// Environment checks of workers.
    pub worker_checks: CheckConfig,
    /// SSH timeouts and the host key policy (known hosts).
    pub ssh: SshOptions,
    /// How long `EnsureNodeReady` waits for a joined node before failing (and being retried).
    pub node_ready_timeout: Duration,
    /// How long a drain waits for the evicted pods to go.
    pub drain_timeout: Duration,
    /// Timeout of calls to a business cluster's API.
    pub api_timeout: Duration,
    pub containerd: ContainerdSettings,
    /// Limit of one run of a `spec.features.hooks` script.
    pub hook_timeout: Duration,
    /// `EnsureRenewCerts` renews when the apiserver certificate expires within this (30 days).
    pub renew_before: Duration,
    /// How often `EnsureRenewCerts` looks at a cluster's certificates; the passes in between
    /// do nothing (the housekeeping steps run on every pass over a cluster).
    pub renew_check_interval: Duration,
}

impl BaremetalOptions {
    /// The reference's defaults with the given bundle.
    pub fn new(bundle_dir: impl Into<PathBuf>) -> Self {
        BaremetalOptions {
            bundle_dir: bundle_dir.into(),
            install: InstallOptions::default(),
            master_checks: CheckConfig::default(),
            worker_checks: CheckConfig::worker(),
            ssh: SshOptions::default(),
            node_ready_timeout: Duration::from_secs(120),
            drain_timeout: Duration::from_secs(300),
            api_timeout: Duration::from_secs(30),
            containerd: ContainerdSettings::default(),
            hook_timeout: Duration::from_secs(10 * 60),
            renew_before: Duration::from_secs(30 * 86400),
            renew_check_interval: Duration::from_secs(3600),
        }
    }
}

struct Shared {
    opts: BaremetalOptions,
    /// The bundle, verified in full once and then trusted (its files are re-checked by digest on
    /// every copy anyway).
    bundle: Mutex<Option<Arc<Bundle>>>,
    /// What `EnsureRenewCerts` remembers, by cluster UID (lost on restart, which only costs one
    /// early check).
    renew_state: Mutex<HashMap<String, RenewState>>,
}

fn step_err(e: impl std::fmt::Display) -> StepError {
    StepError::new(e.to_string())
}

impl Shared {
    fn new(opts: BaremetalOptions) -> Self {
        Shared { opts, bundle: Mutex::new(None), renew_state: Mutex::new(HashMap::new()) }
    }

    fn bundle(&self) -> Result<Arc<Bundle>, StepError> {
        if let Some(b) = self.bundle.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Ok(b);
        }
        let b = Arc::new(Bundle::load(&self.opts.bundle_dir, Verify::Full).map_err(step_err)?);
        *self.bundle.lock().unwrap_or_else(|p| p.into_inner()) = Some(b.clone());
        Ok(b)
    }

    async fn connect(&self, m: &ClusterMachine) -> Result<Session, StepError> {
        let target = Target::from_machine(m).map_err(step_err)?;
        Session::connect(&target, &self.opts.ssh).await.map_err(step_err)
    }

    /// The Kubernetes version to install: `spec.version`, else the newest in the bundle.
    fn version(&self, spec: &ClusterSpec) -> Result<String, StepError> {
        if let Some(v) = spec.version.as_deref().map(|v| v.trim_start_matches('v')).filter(|v| !v.is_empty()) {
            return Ok(v.to_string());
        }
        self.bundle()?.versions().last().cloned().ok_or_else(|| {
            StepError::new(format!("the offline bundle {} holds no Kubernetes release", self.opts.bundle_dir.display()))
        })
    }

    /// The spec kubeadm configs are generated from: the version filled in.
    fn effective_spec(&self, spec: &ClusterSpec) -> Result<ClusterSpec, StepError> {
        let mut s = spec.clone();
        s.version = Some(self.version(spec)?);
        Ok(s)
    }

    async fn release(&self, s: &Session, spec: &ClusterSpec) -> Result<Release, StepError> {
        let info = checks::system_info(s).await.map_err(step_err)?;
        let arch = info
            .arch()
            .ok_or_else(|| StepError::new(format!("{}: unsupported architecture {:?}", s.host(), info.machine)))?;
        self.bundle()?.release(&self.version(spec)?, arch).map_err(step_err)
    }
}

/// The preparation of a node, the same for masters and workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Prepare {
    Preflight,
    KernelModule,
    Sysctl,
    DisableSwap,
    Binaries,
    ContainerRuntime,
    Kubelet,
    Images,
}

const PREPARE: &[Prepare] = &[
    Prepare::Preflight,
    Prepare::KernelModule,
    Prepare::Sysctl,
    Prepare::DisableSwap,
    Prepare::Binaries,
    Prepare::ContainerRuntime,
    Prepare::Kubelet,
    Prepare::Images,
];

impl Prepare {
    fn step(self) -> &'static str {
        match self {
            Prepare::Preflight => "EnsurePreflight",
            Prepare::KernelModule => "EnsureKernelModule",
            Prepare::Sysctl => "EnsureSysctl",
            Prepare::DisableSwap => "EnsureDisableSwap",
            Prepare::Binaries => "EnsureBinaries",
            Prepare::ContainerRuntime => "EnsureContainerRuntime",
            Prepare::Kubelet => "EnsureKubelet",
            Prepare::Images => "EnsureKubernetesImages",
        }
    }
}

fn log_line(host: &str) -> impl FnMut(Stream, &str) + Send + '_ {
    move |_, line| tracing::debug!(%host, "{line}")
}

/// Runs one preparation step on one node.
async fn prepare(
    sh: &Shared,
    action: Prepare,
    spec: &ClusterSpec,
    m: &ClusterMachine,
    master: bool,
) -> Result<(), StepError> {
    let s = sh.connect(m).await?;
    let o = &sh.opts.install;
    let result = match action {
        Prepare::Preflight => {
            let mut cfg = if master { sh.opts.master_checks.clone() } else { sh.opts.worker_checks.clone() };
            if !cfg.cidrs.is_empty() {
                cfg.cidrs = vec![spec.cluster_cidr.clone().unwrap_or_else(|| "10.244.0.0/16".into())];
                cfg.cidrs.extend(install::service_cidr(spec).ok());
            }
            let failed: Vec<String> = checks::run_all(&s, &cfg)
                .await
                .into_iter()
                .filter(|r| !r.passed())
                .map(|r| format!("{}: {}", r.name, r.message))
                .collect();
            if failed.is_empty() {
                Ok(())
            } else {
                Err(StepError::new(format!("{} fails {} check(s): {}", m.ip, failed.len(), failed.join("; "))))
            }
        }
        Prepare::KernelModule => install::ensure_kernel_modules(&s, o, &[]).await.map_err(step_err),
        Prepare::Sysctl => install::ensure_sysctl(&s, o).await.map_err(step_err),
        Prepare::DisableSwap => install::ensure_disable_swap(&s, o).await.map_err(step_err),
        Prepare::Binaries => match sh.release(&s, spec).await {
            Ok(r) => install::install_binaries(&s, &r, o).await.map(|_| ()).map_err(step_err),
            Err(e) => Err(e),
        },
        Prepare::ContainerRuntime => install::ensure_containerd(&s, o, &sh.opts.containerd).await.map_err(step_err),
        Prepare::Kubelet => {
            install::ensure_kubelet(&s, o, &spec.kubelet_extra_args.clone().unwrap_or_default(), Some(&m.ip))
                .await
                .map_err(step_err)
        }
        Prepare::Images => match sh.release(&s, spec).await {
            Ok(r) => install::load_images(&s, &r, o, &mut log_line(&m.ip)).await.map(|_| ()).map_err(step_err),
            Err(e) => Err(e),
        },
    };
    s.close().await;
    result
}

fn node_name(spec: &ClusterSpec, m: &ClusterMachine) -> Option<String> {
    // TKE names nodes after their IP unless told to use host names (kubeadm's default).
    if spec.hostname_as_nodename.unwrap_or(false) { None } else { Some(m.ip.clone()) }
}

// ---------------------------------------------------------------------------------------------
// Credentials and tokens

fn credential_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(api::platform::GROUP, api::platform::VERSION, "ClusterCredential"),
        "clustercredentials",
    )
}

fn random_string(len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())] as char).collect()
}

/// A kubeadm bootstrap token `[a-z0-9]{6}.[a-z0-9]{16}`.
pub fn new_bootstrap_token() -> String {
    const A: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    format!("{}.{}", random_string(6, A), random_string(16, A))
}

/// A kubeadm upload-certs key: 32 random bytes in hex.
pub fn new_certificate_key() -> String {
    random_string(64, b"0123456789abcdef")
}

/// `sha256:<hex>` of the CA certificate's SubjectPublicKeyInfo, as `kubeadm join` checks it.
/// `ca` is PEM or base64-encoded PEM (the credential's form).
pub fn ca_cert_hash(ca: &str) -> Result<String, String> {
    let ca = ca.trim();
    let pem = if ca.starts_with("-----BEGIN") {
        ca.as_bytes().to_vec()
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(ca)
            .map_err(|_| "the CA certificate is neither PEM nor base64".to_string())?
    };
    let (_, p) = x509_parser::pem::parse_x509_pem(&pem).map_err(|e| format!("the CA certificate is not PEM: {e}"))?;
    let cert = p.parse_x509().map_err(|e| format!("the CA certificate cannot be parsed: {e}"))?;
    Ok(format!("sha256:{}", crate::ssh::sha256_hex(cert.tbs_certificate.subject_pki.raw)))
}

/// The cluster's credential object, created (with the cluster's name and tenant) when missing.
async fn credential_object(platform: &Client, cluster: &Cluster) -> Result<DynamicObject, StepError> {
    let api: Api<DynamicObject> = Api::all_with(platform.clone(), &credential_resource());
    let err = |e: kube::Error| StepError::new(format!("reading the ClusterCredential of {}: {e}", cluster.name()));
    if let Some(name) =
        cluster.spec.cluster_credential_ref.as_ref().and_then(|r| r.name.clone()).filter(|n| !n.is_empty())
        && let Some(o) = api.get_opt(&name).await.map_err(err)?
    {
        return Ok(o);
    }
    let lp = ListParams::default().labels(&format!("{CLUSTER_NAME_LABEL}={}", cluster.name()));
    if let Some(o) = api.list(&lp).await.map_err(err)?.items.into_iter().next() {
        return Ok(o);
    }
    let new: DynamicObject = serde_json::from_value(json!({
        "apiVersion": format!("{}/{}", api::platform::GROUP, api::platform::VERSION), "kind": "ClusterCredential",
        "metadata": {"generateName": "cc-", "labels": {CLUSTER_NAME_LABEL: cluster.name()}},
        "tenantID": cluster.spec.tenant_id, "clusterName": cluster.name(),
    }))
    .map_err(step_err)?;
    api.create(&PostParams::default(), &new)
        .await
        .map_err(|e| StepError::new(format!("creating the ClusterCredential of {}: {e}", cluster.name())))
}

/// Changes fields of the cluster's credential (creating it first if needed).
async fn update_credential(
    platform: &Client,
    cluster: &Cluster,
    fields: &[(&str, Option<String>)],
) -> Result<(), StepError> {
    let api: Api<DynamicObject> = Api::all_with(platform.clone(), &credential_resource());
    let mut obj = credential_object(platform, cluster).await?;
    let name = obj.metadata.name.clone().unwrap_or_default();
    let mut changed = false;
    for (k, v) in fields {
        let new = v.clone().map(Value::String).unwrap_or(Value::Null);
        if obj.data.get(*k).unwrap_or(&Value::Null) != &new {
            obj.data[*k] = new;
            changed = true;
        }
    }
    if changed {
        api.replace(&name, &PostParams::default(), &obj)
            .await
            .map_err(|e| StepError::new(format!("saving the ClusterCredential {name}: {e}")))?;
    }
    Ok(())
}

fn cred_field(
    cred: &Option<api::platform::ClusterCredential>,
    f: impl Fn(&api::platform::ClusterCredential) -> Option<String>,
) -> Option<String> {
    cred.as_ref().and_then(f).filter(|s| !s.is_empty())
}

/// The kubeadm parameters of a node of the cluster, with the secrets from its credential.
async fn kubeadm_params(
    platform: &Client,
    cluster: &Cluster,
    node: &ClusterMachine,
) -> Result<KubeadmParams, StepError> {
    let cred = cluster_credential(platform, cluster)
        .await
        .map_err(|e| StepError::new(format!("reading the ClusterCredential of {}: {e}", cluster.name())))?;
    let ca_hash =
        cred_field(&cred, |c| c.ca_cert.clone()).map(|ca| ca_cert_hash(&ca)).transpose().map_err(StepError::new)?;
    Ok(KubeadmParams {
        node: node.clone(),
        node_name: node_name(&cluster.spec, node),
        bootstrap_token: cred_field(&cred, |c| c.bootstrap_token.clone()),
        certificate_key: cred_field(&cred, |c| c.certificate_key.clone()),
        ca_cert_hash: ca_hash,
        image_repository: None,
    })
}

/// What an admin kubeconfig says: server URL, CA, and a client certificate/key or a token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdminAccess {
    pub server: String,
    pub ca_data: Option<String>,
    pub client_cert_data: Option<String>,
    pub client_key_data: Option<String>,
    pub token: Option<String>,
}

/// Reads the current context of a kubeconfig (the `*-data` fields stay base64, the
/// credential's encoding).
pub fn parse_kubeconfig(text: &str) -> Result<AdminAccess, String> {
    let v: Value = serde_yaml_ng::from_str(text).map_err(|e| format!("admin.conf is not a kubeconfig: {e}"))?;
    let named = |list: &str, name: Option<&str>| -> Option<Value> {
        let items = v[list].as_array()?;
        items.iter().find(|i| name.is_some_and(|n| i["name"] == n)).or_else(|| items.first()).cloned()
    };
    let current = v["current-context"].as_str();
    let ctx = named("contexts", current).map(|c| c["context"].clone()).unwrap_or(Value::Null);
    let cluster = named("clusters", ctx["cluster"].as_str())
        .map(|c| c["cluster"].clone())
        .ok_or("admin.conf names no cluster")?;
    let user = named("users", ctx["user"].as_str()).map(|u| u["user"].clone()).unwrap_or(Value::Null);
    let s = |v: &Value| v.as_str().map(str::to_string).filter(|s| !s.is_empty());
    let server = s(&cluster["server"]).ok_or("admin.conf has no server address")?;
    let a = AdminAccess {
        server,
        ca_data: s(&cluster["certificate-authority-data"]),
        client_cert_data: s(&user["client-certificate-data"]),
        client_key_data: s(&user["client-key-data"]),
        token: s(&user["token"]),
    };
    if a.token.is_none() && (a.client_cert_data.is_none() || a.client_key_data.is_none()) {
        return Err("admin.conf has neither a token nor embedded client certificate data".into());
    }
    Ok(a)
}

/// `https://host:port/path` as a cluster address.
pub fn address_of(server: &str) -> Result<ClusterAddress, String> {
    let uri: http::Uri = server.parse().map_err(|_| format!("{server} is not a URL"))?;
    let host = uri
        .host()
        .ok_or_else(|| format!("{server} has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(443);
    let path = Some(uri.path().trim_end_matches('/')).filter(|p| !p.is_empty()).map(str::to_string);
    Ok(ClusterAddress { type_: "Advertise".into(), host, port: i64::from(port), path })
}

async fn fresh_business_client(
    sh: &Shared,
    platform: &Client,
    cluster: &Cluster,
) -> Result<(Client, String), StepError> {
    let cred = cluster_credential(platform, cluster).await.map_err(step_err)?;
    let (client, url) = platform::machine::business_client(cluster, cred.as_ref(), sh.opts.api_timeout);
    client.map(|c| (c, url)).map_err(StepError::new)
}

// ---------------------------------------------------------------------------------------------
// Cluster provider

/// The provider of `Baremetal` clusters.
pub struct Baremetal {
    shared: Arc<Shared>,
}

impl Baremetal {
    pub fn new(opts: BaremetalOptions) -> Self {
        Baremetal { shared: Arc::new(Shared::new(opts)) }
    }

    /// The provider of `Baremetal` machines, sharing this one's options and bundle.
    pub fn machine_provider(&self) -> BaremetalMachine {
        BaremetalMachine { shared: self.shared.clone() }
    }
}

pub const ENSURE_BOOTSTRAP_SECRETS: &str = "EnsureBootstrapSecrets";
pub const ENSURE_STORE_CREDENTIAL: &str = "EnsureStoreCredential";
pub const ENSURE_REMOVE_MACHINE: &str = "EnsureRemoveMachine";
pub const ENSURE_NODE_READY: &str = "EnsureNodeReady";
pub const ENSURE_DRAIN_NODE: &str = "EnsureDrainNode";
pub const ENSURE_REMOVE_NODE: &str = "EnsureRemoveNode";
pub const ENSURE_REMOVE_ETCD_MEMBER: &str = "EnsureRemoveETCDMember";
pub const ENSURE_UPGRADE_CONTROL_PLANE_NODE: &str = "EnsureUpgradeControlPlaneNode";
pub const ENSURE_MARK_UPGRADE_WORKERS: &str = "EnsureMarkUpgradeWorkers";
pub const ENSURE_UPGRADE: &str = "EnsureUpgrade";

const INIT_PHASES: &[InitPhase] = &[
    InitPhase::KubeletStart,
    InitPhase::Certs,
    InitPhase::KubeConfig,
    InitPhase::ControlPlane,
    InitPhase::Etcd,
    InitPhase::WaitControlPlane,
    InitPhase::UploadConfig,
    InitPhase::UploadCerts,
    InitPhase::MarkControlPlane,
    InitPhase::BootstrapToken,
    InitPhase::Addon,
];

const MASTER_JOIN_PHASES: &[JoinPhase] =
    &[JoinPhase::Preflight, JoinPhase::ControlPlanePrepare, JoinPhase::KubeletStart, JoinPhase::ControlPlaneJoin];

impl Provider for Baremetal {
    fn name(&self) -> &'static str {
        "Baremetal"
    }

    fn create_steps(&self) -> Vec<ClusterStep> {
        let sh = &self.shared;
        let hook = |h: Hook| ClusterHook::step(sh, h, Nodes::Masters);
        let mut steps: Vec<ClusterStep> = vec![
            Step::new(ENSURE_COPY_FILES, ClusterFiles { sh: sh.clone(), nodes: Nodes::Masters }),
            hook(Hook::PreClusterInstall),
            hook(Hook::PreInstall),
        ];
        steps.extend(
            PREPARE.iter().map(|a| Step::new(a.step(), Masters { sh: sh.clone(), action: *a, nodes: Nodes::Masters })),
        );
        steps.push(Step::new(ENSURE_BOOTSTRAP_SECRETS, BootstrapSecrets));
        steps.extend(INIT_PHASES.iter().map(|p| Step::new(p.step(), Init { sh: sh.clone(), phase: *p })));
        steps.push(Step::new(ENSURE_STORE_CREDENTIAL, StoreCredential { sh: sh.clone() }));
        steps.extend(
            MASTER_JOIN_PHASES
                .iter()
                .map(|p| Step::new(p.step(), JoinMasters { sh: sh.clone(), phase: *p, nodes: Nodes::OtherMasters })),
        );
        steps.push(Step::new(imported::ENSURE_CREATE_CLUSTER_MARK, CreateMark { sh: sh.clone() }));
        steps.push(hook(Hook::PostInstall));
        steps.push(hook(Hook::PostClusterInstall));
        steps
    }

    fn upgrade_steps(&self) -> Vec<ClusterStep> {
        let sh = &self.shared;
        vec![
            ClusterHook::step(sh, Hook::PreClusterUpgrade, Nodes::Masters),
            Step::new(ENSURE_UPGRADE_CONTROL_PLANE_NODE, UpgradeMasters { sh: sh.clone() }),
            Step::new(ENSURE_MARK_UPGRADE_WORKERS, MarkUpgradeWorkers),
            ClusterHook::step(sh, Hook::PostClusterUpgrade, Nodes::Masters),
        ]
    }

    fn scale_up_steps(&self) -> Vec<ClusterStep> {
        let sh = &self.shared;
        let mut steps: Vec<ClusterStep> = vec![
            Step::new(scale_up_step(ENSURE_COPY_FILES), ClusterFiles { sh: sh.clone(), nodes: Nodes::Scaling }),
            ClusterHook::step(sh, Hook::PreInstall, Nodes::Scaling),
        ];
        steps.extend(PREPARE.iter().map(|a| {
            Step::new(scale_up_step(a.step()), Masters { sh: sh.clone(), action: *a, nodes: Nodes::Scaling })
        }));
        // kubeadm keeps uploaded certificates for two hours: upload them again for the joins.
        steps.push(Step::new(
            scale_up_step(InitPhase::UploadCerts.step()),
            Init { sh: sh.clone(), phase: InitPhase::UploadCerts },
        ));
        steps.extend(MASTER_JOIN_PHASES.iter().map(|p| {
            Step::new(scale_up_step(p.step()), JoinMasters { sh: sh.clone(), phase: *p, nodes: Nodes::Scaling })
        }));
        steps.push(ClusterHook::step(sh, Hook::PostInstall, Nodes::Scaling));
        steps
    }

    fn scale_down_steps(&self) -> Vec<ClusterStep> {
        let sh = &self.shared;
        vec![
            Step::new(ENSURE_DRAIN_NODE, DrainMasters { sh: sh.clone() }),
            Step::new(
                ENSURE_REMOVE_ETCD_MEMBER,
                RemoveMasters { sh: sh.clone(), nodes: Nodes::Scaling, step: ENSURE_REMOVE_ETCD_MEMBER },
            ),
            Step::new(ENSURE_REMOVE_NODE, RemoveMasterNodes),
        ]
    }

    fn update_steps(&self) -> Vec<ClusterStep> {
        vec![Step::new(ENSURE_RENEW_CERTS, RenewCerts { sh: self.shared.clone() })]
    }

    fn delete_steps(&self) -> Vec<ClusterStep> {
        let sh = &self.shared;
        let hook = |h: Hook| ClusterHook::step(sh, h, Nodes::Masters);
        vec![
            hook(Hook::PreClusterDelete),
            Step::new(imported::ENSURE_CLEAN_CLUSTER_MARK, CleanMark { sh: sh.clone() }),
            Step::new(
                ENSURE_REMOVE_MACHINE,
                RemoveMasters { sh: sh.clone(), nodes: Nodes::Masters, step: ENSURE_REMOVE_MACHINE },
            ),
            hook(Hook::PostClusterDelete),
        ]
    }
}

fn masters(cluster: &Cluster) -> Result<&[ClusterMachine], StepError> {
    match cluster.spec.machines.as_deref() {
        Some(m) if !m.is_empty() => Ok(m),
        _ => Err(StepError::new("the cluster has no machines in spec.machines")),
    }
}

/// Which masters a cluster step works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Nodes {
    /// Every master of `spec.machines`.
    Masters,
    /// The masters after the first (the ones that join it).
    OtherMasters,
    /// The masters being added or removed (`spec.scalingMachines`).
    Scaling,
}

fn select(cluster: &Cluster, nodes: Nodes) -> Result<Vec<ClusterMachine>, StepError> {
    Ok(match nodes {
        Nodes::Masters => masters(cluster)?.to_vec(),
        Nodes::OtherMasters => masters(cluster)?[1..].to_vec(),
        Nodes::Scaling => match cluster.spec.scaling_machines.as_deref() {
            Some(m) if !m.is_empty() => m.to_vec(),
            _ => return Err(StepError::new("the cluster has no machines in spec.scalingMachines to add or remove")),
        },
    })
}

/// The name of a create step when it runs again on masters being added (`EnsurePreflight` ->
/// `EnsureScaleUpPreflight`): the create steps' conditions stay as they were, and a scale-up's
/// steps can be skipped on their own.
pub fn scale_up_step(create_step: &str) -> String {
    format!("EnsureScaleUp{}", create_step.strip_prefix("Ensure").unwrap_or(create_step))
}

struct Masters {
    sh: Arc<Shared>,
    action: Prepare,
    nodes: Nodes,
}

#[async_trait]
impl Handler<Cluster, ClusterContext> for Masters {
    async fn run(&self, cluster: &mut Cluster, _ctx: &ClusterContext) -> Result<(), StepError> {
        let spec = self.sh.effective_spec(&cluster.spec)?;
        for m in select(cluster, self.nodes)? {
            prepare(&self.sh, self.action, &spec, &m, true).await?;
        }
        Ok(())
    }
}

struct BootstrapSecrets;

#[async_trait]
impl Handler<Cluster, ClusterContext> for BootstrapSecrets {
    async fn run(&self, cluster: &mut Cluster, ctx: &ClusterContext) -> Result<(), StepError> {
        let cred = cluster_credential(&ctx.platform, cluster).await.map_err(step_err)?;
        // Generated once: a retried init must present the same token and key.
        let token = cred_field(&cred, |c| c.bootstrap_token.clone()).unwrap_or_else(new_bootstrap_token);
        let key = cred_field(&cred, |c| c.certificate_key.clone()).unwrap_or_else(new_certificate_key);
        update_credential(&ctx.platform, cluster, &[("bootstrapToken", Some(token)), ("certificateKey", Some(key))])
            .await
    }
}

struct Init {
    sh: Arc<Shared>,
    phase: InitPhase,
}

#[async_trait]
impl Handler<Cluster, ClusterContext> for Init {
    async fn run(&self, cluster: &mut Cluster, ctx: &ClusterContext) -> Result<(), StepError> {
        let first = masters(cluster)?[0].clone();
        let spec = self.sh.effective_spec(&cluster.spec)?;
        let params = kubeadm_params(&ctx.platform, cluster, &first).await?;
        let config = install::kubeadm_init_config(&spec, &params).map_err(step_err)?;
        let s = self.sh.connect(&first).await?;
        let r =
            install::kubeadm_init_phase(&s, &self.sh.opts.install, &config, self.phase, &mut log_line(&first.ip)).await;
        s.close().await;
        r.map(|_| ()).map_err(step_err)
    }
}

struct StoreCredential {
    sh: Arc<Shared>,
}

#[async_trait]
impl Handler<Cluster, ClusterContext> for StoreCredential {
    async fn run(&self, cluster: &mut Cluster, ctx: &ClusterContext) -> Result<(), StepError> {
        let address = store_credential(&self.sh, &ctx.platform, cluster).await?;
        cluster.status.get_or_insert_with(Default::default).addresses = Some(vec![address]);
        Ok(())
    }
}

/// The first master's admin.conf (and CA key) into the ClusterCredential; returns the address
/// its server URL gives.
async fn store_credential(sh: &Shared, platform: &Client, cluster: &Cluster) -> Result<ClusterAddress, StepError> {
    let first = masters(cluster)?[0].clone();
    let o = &sh.opts.install;
    let s = sh.connect(&first).await?;
    let conf_path = o.path(install::paths::ADMIN_KUBECONFIG);
    let conf = s.read_file(&conf_path, true).await;
    // The CA key lets the platform sign identities for the cluster later (as TKEStack keeps it).
    let ca_key = s.read_file(&o.path(&format!("{}/ca.key", install::paths::PKI)), true).await;
    s.close().await;
    let conf = conf.map_err(step_err)?.ok_or_else(|| {
        StepError::new(format!("{}:{conf_path} does not exist: the kubeconfig phase did not write it", first.ip))
    })?;
    let access = parse_kubeconfig(&conf).map_err(|e| StepError::new(format!("{}:{conf_path}: {e}", first.ip)))?;
    let address = address_of(&access.server).map_err(|e| StepError::new(format!("{}:{conf_path}: {e}", first.ip)))?;
    let ca_key = ca_key.ok().flatten().map(|k| base64::engine::general_purpose::STANDARD.encode(k));
    let mut fields = vec![
        ("caCert", access.ca_data),
        ("token", access.token),
        ("clientCert", access.client_cert_data),
        ("clientKey", access.client_key_data),
    ];
    if ca_key.is_some() {
        fields.push(("caKey", ca_key));
    }
    update_credential(platform, cluster, &fields).await?;
    Ok(address)
}

struct JoinMasters {
    sh: Arc<Shared>,
    phase: JoinPhase,
    nodes: Nodes,
}

#[async_trait]
impl Handler<Cluster, ClusterContext> for JoinMasters {
    async fn run(&self, cluster: &mut Cluster, ctx: &ClusterContext) -> Result<(), StepError> {
        let spec = self.sh.effective_spec(&cluster.spec)?;
        for m in select(cluster, self.nodes)? {
            let mut params = kubeadm_params(&ctx.platform, cluster, &m).await?;
            if self.nodes == Nodes::Scaling {
                // The token made at init may have expired since: one for this master, made
                // through the cluster's API as for workers.
                let client = ctx.business()?;
                let token = machine_bootstrap_token(client, &format!("master-{}", m.ip))
                    .await
                    .map_err(|e| StepError::new(format!("creating a bootstrap token for master {}: {e}", m.ip)))?;
                params.bootstrap_token = Some(token);
            }
            let config = install::kubeadm_join_config(&spec, &params, true).map_err(step_err)?;
            let s = self.sh.connect(&m).await?;
            let r =
                install::kubeadm_join_phase(&s, &self.sh.opts.install, &config, self.phase, &mut log_line(&m.ip)).await;
            s.close().await;
            r.map_err(step_err)?;
        }
        Ok(())
    }
}

fn uid_of(c: &Cluster) -> String {
    c.metadata["uid"].as_str().unwrap_or_default().to_string()
}

struct CreateMark {
    sh: Arc<Shared>,
}

#[async_trait]
impl Handler<Cluster, ClusterContext> for CreateMark {
    async fn run(&self, cluster: &mut Cluster, ctx: &ClusterContext) -> Result<(), StepError> {
        let (client, url) = fresh_business_client(&self.sh, &ctx.platform, cluster).await?;
        let marks: Api<ConfigMap> = Api::namespaced(client, imported::MARK_NAMESPACE);
        let what = format!("the mark {}/{} in {url}", imported::MARK_NAMESPACE, imported::MARK_NAME);
        let uid = uid_of(cluster);
        match marks.get_opt(imported::MARK_NAME).await.map_err(|e| StepError::new(format!("reading {what}: {e}")))? {
            Some(m) if m.data.as_ref().and_then(|d| d.get(imported::MARK_CLUSTER_UID)) == Some(&uid) => Ok(()),
            Some(m) => Err(StepError::new(imported::already_managed_message(
                m.data
                    .as_ref()
                    .and_then(|d| d.get(imported::MARK_CLUSTER_NAME))
                    .map(String::as_str)
                    .unwrap_or_default(),
            ))),
            None => {
                let mark = ConfigMap {
                    metadata: ObjectMeta {
                        name: Some(imported::MARK_NAME.into()),
                        namespace: Some(imported::MARK_NAMESPACE.into()),
                        labels: Some([("app.kubernetes.io/managed-by".to_string(), "tke".to_string())].into()),
                        ..Default::default()
                    },
                    data: Some(
                        [
                            (imported::MARK_CLUSTER_NAME.to_string(), cluster.name().to_string()),
                            (imported::MARK_CLUSTER_UID.to_string(), uid),
                        ]
                        .into(),
                    ),
                    ..Default::default()
                };
                marks
                    .create(&PostParams::default(), &mark)
                    .await
                    .map(|_| ())
                    .map_err(|e| StepError::new(format!("writing {what}: {e}")))
            }
        }
    }
}

struct CleanMark {
    sh: Arc<Shared>,
}

#[async_trait]
impl Handler<Cluster, ClusterContext> for CleanMark {
    async fn run(&self, cluster: &mut Cluster, ctx: &ClusterContext) -> Result<(), StepError> {
        if cluster.condition(imported::ENSURE_CREATE_CLUSTER_MARK).is_none_or(|c| c.status != TRUE) {
            return Ok(());
        }
        // The nodes are reset next, which takes the mark with them: a cluster that no longer
        // answers must not block its deletion here.
        let Ok((client, url)) = fresh_business_client(&self.sh, &ctx.platform, cluster).await else { return Ok(()) };
        let marks: Api<ConfigMap> = Api::namespaced(client, imported::MARK_NAMESPACE);
        match marks.get_opt(imported::MARK_NAME).await {
            Ok(Some(m))
                if m.data.as_ref().and_then(|d| d.get(imported::MARK_CLUSTER_UID)) == Some(&uid_of(cluster)) =>
            {
                if let Err(e) = marks.delete(imported::MARK_NAME, &DeleteParams::default()).await {
                    tracing::warn!(cluster = %cluster.name(), %url, error = %e, "removing the cluster mark");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(cluster = %cluster.name(), %url, error = %e, "reading the cluster mark"),
        }
        Ok(())
    }
}

/// `kubeadm reset` (which also takes a master's etcd member out of the cluster) and node state
/// removed, on the masters of `nodes`, the last first.
struct RemoveMasters {
    sh: Arc<Shared>,
    nodes: Nodes,
    step: &'static str,
}

#[async_trait]
impl Handler<Cluster, ClusterContext> for RemoveMasters {
    async fn run(&self, cluster: &mut Cluster, _ctx: &ClusterContext) -> Result<(), StepError> {
        let mut failed = vec![];
        let nodes = if self.nodes == Nodes::Masters {
            cluster.spec.machines.clone().unwrap_or_default()
        } else {
            select(cluster, self.nodes)?
        };
        for m in nodes.iter().rev() {
            let r = match self.sh.connect(m).await {
                Ok(s) => {
                    let r = install::remove_node(&s, &self.sh.opts.install).await.map_err(step_err);
                    s.close().await;
                    r
                }
                Err(e) => Err(e),
            };
            if let Err(e) = r {
                failed.push(e.0);
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            let what = if self.nodes == Nodes::Scaling { "remove these masters" } else { "delete the cluster" };
            Err(StepError::new(format!(
                "{} (to {what} without cleaning these machines, add {} to spec.features.skipConditions)",
                failed.join("; "),
                self.step
            )))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Files and hooks (`spec.features.files`, `spec.features.hooks`)

pub const ENSURE_COPY_FILES: &str = "EnsureCopyFiles";
pub const ENSURE_RENEW_CERTS: &str = "EnsureRenewCerts";

/// How many of a failed hook's last output lines go into the condition message.
const HOOK_TAIL_LINES: usize = 20;
/// Longest line kept from a hook's output (a binary blob must not flood the condition).
const HOOK_LINE_MAX: usize = 400;

/// A customized hook: which `spec.features.hooks` key it reads and which step runs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    PreClusterInstall,
    PreInstall,
    PostInstall,
    PostClusterInstall,
    PreClusterUpgrade,
    PostClusterUpgrade,
    PreUpgrade,
    PostUpgrade,
    PreClusterDelete,
    PostClusterDelete,
}

impl Hook {
    /// The HookType, the key in `spec.features.hooks`.
    pub fn key(self) -> &'static str {
        match self {
            Hook::PreClusterInstall => "PreClusterInstall",
            Hook::PreInstall => "PreInstall",
            Hook::PostInstall => "PostInstall",
            Hook::PostClusterInstall => "PostClusterInstall",
            Hook::PreClusterUpgrade => "PreClusterUpgrade",
            Hook::PostClusterUpgrade => "PostClusterUpgrade",
            Hook::PreUpgrade => "PreUpgrade",
            Hook::PostUpgrade => "PostUpgrade",
            Hook::PreClusterDelete => "PreClusterDelete",
            Hook::PostClusterDelete => "PostClusterDelete",
        }
    }

    /// The step (condition) that runs it.
    pub fn step(self) -> &'static str {
        match self {
            Hook::PreClusterInstall => "EnsurePreClusterInstallHook",
            Hook::PreInstall => "EnsurePreInstallHook",
            Hook::PostInstall => "EnsurePostInstallHook",
            Hook::PostClusterInstall => "EnsurePostClusterInstallHook",
            Hook::PreClusterUpgrade => "EnsurePreClusterUpgradeHook",
            Hook::PostClusterUpgrade => "EnsurePostClusterUpgradeHook",
            Hook::PreUpgrade => "EnsurePreUpgradeHook",
            Hook::PostUpgrade => "EnsurePostUpgradeHook",
            Hook::PreClusterDelete => "EnsurePreClusterDeleteHook",
            Hook::PostClusterDelete => "EnsurePostClusterDeleteHook",
        }
    }

    /// Cluster-level hooks run on the first master only; the others on every node.
    fn first_master_only(self) -> bool {
        !matches!(self, Hook::PreInstall | Hook::PostInstall | Hook::PreUpgrade | Hook::PostUpgrade)
    }
}

/// The script path configured for `hook`, if any.
pub fn hook_script(spec: &ClusterSpec, hook: Hook) -> Option<String> {
    spec.features.as_ref()?.hooks.as_ref()?.get(hook.key()).map(|p| p.trim().to_string()).filter(|p| !p.is_empty())
}

/// Exit status of coreutils `timeout` when it stopped the command.
const TIMED_OUT: u32 = 124;

/// The shell command running a hook script: as it is when executable, else through `sh`, with
/// `TKE_HOOK`, `TKE_CLUSTER_NAME` and `TKE_INSTALL_ROOT` (the prefix, `""` on a real machine)
/// in its environment, stopped by the machine's `timeout` after `limit` (exit 124) so that a
/// hung script does not outlive its step. A missing script exits 127 saying so.
pub fn hook_command(o: &InstallOptions, hook: Hook, script: &str, cluster: &str, limit: Duration) -> String {
    let p = shell_quote(&o.path(script));
    o.command(&format!(
        "if [ ! -f {p} ]; then printf '%s does not exist on this machine (place it there with spec.features.files)\\n' {shown} >&2; exit 127; fi; \
         export TKE_HOOK={key} TKE_CLUSTER_NAME={cluster} TKE_INSTALL_ROOT={root}; \
         if [ -x {p} ]; then set -- {p}; else set -- sh {p}; fi; \
         if command -v timeout >/dev/null 2>&1; then exec timeout -k 10 {secs} \"$@\"; else exec \"$@\"; fi",
        shown = shell_quote(script),
        key = hook.key(),
        cluster = shell_quote(cluster),
        root = shell_quote(o.root.trim_end_matches('/')),
        secs = limit.as_secs().max(1),
    ))
}

fn clip(line: &str) -> String {
    if line.len() <= HOOK_LINE_MAX {
        return line.to_string();
    }
    let mut end = HOOK_LINE_MAX;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &line[..end])
}

/// Runs `hook`'s script (if configured) on one node as root, within the hook timeout. A failure
/// names the script, the node, the exit status and the last lines of its output.
async fn run_hook(
    sh: &Shared,
    hook: Hook,
    spec: &ClusterSpec,
    cluster: &str,
    m: &ClusterMachine,
) -> Result<(), StepError> {
    let Some(script) = hook_script(spec, hook) else { return Ok(()) };
    let what = format!("hook {} script {script} on {}", hook.key(), m.ip);
    let s = sh.connect(m).await.map_err(|e| StepError::new(format!("{what}: {}", e.0)))?;
    let mut tail: VecDeque<String> = VecDeque::new();
    let timeout = sh.opts.hook_timeout;
    let result = {
        let ip = m.ip.clone();
        let mut sink = |_: Stream, line: &str| {
            tracing::debug!(host = %ip, hook = hook.key(), "{line}");
            if tail.len() == HOOK_TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(clip(line));
        };
        // The machine stops the script at the limit; this one only guards against a machine
        // without `timeout` or a connection that stops answering.
        let exec = Exec {
            as_root: true,
            timeout: Some(timeout + Duration::from_secs(15)),
            on_line: Some(&mut sink),
            ..Default::default()
        };
        s.exec(&hook_command(&sh.opts.install, hook, &script, cluster, timeout), exec).await
    };
    s.close().await;
    let output = || {
        if tail.is_empty() { "(no output)".to_string() } else { tail.iter().cloned().collect::<Vec<_>>().join("\n") }
    };
    match result {
        Ok(out) if out.success() => {
            tracing::info!(host = %m.ip, hook = hook.key(), %script, "hook ran");
            Ok(())
        }
        Ok(out) if out.exit_code == Some(TIMED_OUT) => Err(StepError::new(format!(
            "{what} did not finish within {}s and was stopped; last output:\n{}",
            timeout.as_secs(),
            output()
        ))),
        Ok(out) => Err(StepError::new(format!("{what} failed with {}; last output:\n{}", out.status(), output()))),
        Err(crate::Error::Timeout { .. }) => Err(StepError::new(format!(
            "{what} did not finish within {}s; last output:\n{}",
            timeout.as_secs(),
            output()
        ))),
        Err(e) => Err(StepError::new(format!("{what}: {e}"))),
    }
}

/// The `spec.features.files` entries, each checked on the platform host before anything is
/// copied: the source a readable regular file, the destination absolute. Returns them with
/// the source's permission bits.
fn files_to_copy(spec: &ClusterSpec) -> Result<Vec<(PathBuf, String, u32)>, StepError> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = vec![];
    for (i, f) in spec.features.iter().flat_map(|f| f.files.iter().flatten()).enumerate() {
        let field = format!("spec.features.files[{i}]");
        if !f.dst.starts_with('/') {
            return Err(StepError::new(format!("{field}.dst {:?} must be an absolute path on the machine", f.dst)));
        }
        let meta = std::fs::metadata(&f.src)
            .map_err(|e| StepError::new(format!("{field}.src {} cannot be read on the platform host: {e}", f.src)))?;
        if !meta.is_file() {
            return Err(StepError::new(format!("{field}.src {} on the platform host is not a regular file", f.src)));
        }
        out.push((PathBuf::from(&f.src), f.dst.clone(), meta.permissions().mode() & 0o7777));
    }
    Ok(out)
}

/// `EnsureCopyFiles` on one node: every file written atomically (checksum verified, then
/// renamed into place) with its source's mode, under the install prefix.
async fn copy_files(sh: &Shared, spec: &ClusterSpec, m: &ClusterMachine) -> Result<(), StepError> {
    let files = files_to_copy(spec)?;
    if files.is_empty() {
        return Ok(());
    }
    let s = sh.connect(m).await?;
    let mut result = Ok(());
    for (src, dst, mode) in &files {
        if let Err(e) = s.upload_file(src, &sh.opts.install.path(dst), *mode, true).await {
            result = Err(StepError::new(format!("copying {} to {}:{dst}: {e}", src.display(), m.ip)));
            break;
        }
    }
    s.close().await;
    result
}

/// What the stored object says of a hook step before the hook runs. Hooks are not idempotent,
/// and the controller may hand a step a copy that lags behind its own last write (its cache):
/// such a copy may show a hook as not yet run that ran a moment ago (the run's record then
/// failed to save over the newer object). So a hook runs only when the copy is the stored
/// object; a stale copy is refused (nothing is saved from it, and the controller retries with
/// the stored one), and a step the stored object already has True is not run again.
async fn hook_due(
    platform: &Client,
    kind: &str,
    plural: &str,
    metadata: &Value,
    step: &str,
) -> Result<bool, StepError> {
    let name = metadata["name"].as_str().unwrap_or_default();
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(api::platform::GROUP, api::platform::VERSION, kind),
        plural,
    );
    let stored = Api::<DynamicObject>::all_with(platform.clone(), &ar)
        .get_opt(name)
        .await
        .map_err(|e| StepError::new(format!("reading {kind} {name} before running its hook: {e}")))?
        .ok_or_else(|| StepError::new(format!("{kind} {name} no longer exists")))?;
    if stored.data["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == step && c["status"] == TRUE)
    {
        return Ok(false);
    }
    let ours = metadata["resourceVersion"].as_str();
    if ours.is_some() && stored.metadata.resource_version.as_deref() != ours {
        return Err(StepError::new(format!(
            "{kind} {name} changed while {step} was about to run its hook; it runs on the next pass"
        )));
    }
    Ok(true)
}

struct ClusterFiles {
    sh: Arc<Shared>,
    nodes: Nodes,
}

#[async_trait]
impl Handler<Cluster, ClusterContext> for ClusterFiles {
    async fn run(&self, cluster: &mut Cluster, _ctx: &ClusterContext) -> Result<(), StepError> {
        for m in select(cluster, self.nodes)? {
            copy_files(&self.sh, &cluster.spec, &m).await?;
        }
        Ok(())
    }
}

/// A hook step of a cluster: cluster-level hooks on the first master, the others on `nodes`.
struct ClusterHook {
    sh: Arc<Shared>,
    hook: Hook,
    nodes: Nodes,
    step: String,
}

impl ClusterHook {
    fn step(sh: &Arc<Shared>, hook: Hook, nodes: Nodes) -> ClusterStep {
        let name = if nodes == Nodes::Scaling { scale_up_step(hook.step()) } else { hook.step().to_string() };
        Step::new(name.clone(), ClusterHook { sh: sh.clone(), hook, nodes, step: name })
    }
}

#[async_trait]
impl Handler<Cluster, ClusterContext> for ClusterHook {
    async fn run(&self, cluster: &mut Cluster, ctx: &ClusterContext) -> Result<(), StepError> {
        if hook_script(&cluster.spec, self.hook).is_none()
            || !hook_due(&ctx.platform, "Cluster", "clusters", &cluster.metadata, &self.step).await?
        {
            return Ok(());
        }
        let on =
            if self.hook.first_master_only() { masters(cluster)?[..1].to_vec() } else { select(cluster, self.nodes)? };
        for m in on {
            run_hook(&self.sh, self.hook, &cluster.spec, cluster.name(), &m).await?;
        }
        Ok(())
    }
}

struct MachineFiles {
    sh: Arc<Shared>,
}

#[async_trait]
impl Handler<Machine, MachineContext> for MachineFiles {
    async fn run(&self, machine: &mut Machine, ctx: &MachineContext) -> Result<(), StepError> {
        copy_files(&self.sh, &ctx.cluster()?.spec, &machine.ssh_target()).await
    }
}

struct MachineHook {
    sh: Arc<Shared>,
    hook: Hook,
}

#[async_trait]
impl Handler<Machine, MachineContext> for MachineHook {
    async fn run(&self, machine: &mut Machine, ctx: &MachineContext) -> Result<(), StepError> {
        let cluster = ctx.cluster()?;
        if hook_script(&cluster.spec, self.hook).is_none()
            || !hook_due(&ctx.platform, "Machine", "machines", &machine.metadata, self.hook.step()).await?
        {
            return Ok(());
        }
        run_hook(&self.sh, self.hook, &cluster.spec, cluster.name(), &machine.ssh_target()).await
    }
}

// ---------------------------------------------------------------------------------------------
// Certificate renewal (housekeeping)

/// What `EnsureRenewCerts` remembers of a cluster between passes.
#[derive(Default)]
struct RenewState {
    /// When the last check found nothing due.
    checked: Option<Instant>,
    /// A master renewed but the credential was not refreshed yet (retried on the next pass even
    /// though nothing is due any more).
    store_pending: bool,
}

/// On one master: renews the kubeadm certificates when the apiserver certificate expires within
/// `within`. One command when nothing is due. Returns whether it renewed.
async fn renew_master(s: &Session, o: &InstallOptions, within: Duration) -> Result<bool, StepError> {
    let path = o.path(&format!("{}/apiserver.crt", install::paths::PKI));
    let read = |pem: Option<String>| -> Result<Option<std::time::SystemTime>, StepError> {
        pem.map(|p| install::pem_not_after(&p).map_err(|e| StepError::new(format!("{}:{path}: {e}", s.host()))))
            .transpose()
    };
    // No apiserver certificate: the control plane's certificates are not kubeadm's to renew.
    let Some(not_after) = read(s.read_file(&path, true).await.map_err(step_err)?)? else { return Ok(false) };
    let due = |t: std::time::SystemTime| t <= std::time::SystemTime::now() + within;
    if !due(not_after) {
        return Ok(false);
    }
    tracing::info!(host = %s.host(), "the apiserver certificate expires within {} days: renewing", within.as_secs() / 86400);
    install::renew_certs_if_expiring(s, o, within).await.map_err(step_err)?;
    match read(s.read_file(&path, true).await.map_err(step_err)?)? {
        Some(t) if due(t) => Err(StepError::new(format!(
            "{}: `kubeadm certs renew all` ran but {path} still expires at {} (is the CA itself expiring? see `kubeadm certs check-expiration`)",
            s.host(),
            chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ))),
        _ => Ok(true),
    }
}

struct RenewCerts {
    sh: Arc<Shared>,
}

#[async_trait]
impl Handler<Cluster, ClusterContext> for RenewCerts {
    async fn run(&self, cluster: &mut Cluster, ctx: &ClusterContext) -> Result<(), StepError> {
        let id = uid_of(cluster);
        let (recent, mut pending) = {
            let map = self.sh.renew_state.lock().unwrap_or_else(|p| p.into_inner());
            let st = map.get(&id);
            (
                st.and_then(|s| s.checked).is_some_and(|t| t.elapsed() < self.sh.opts.renew_check_interval),
                st.is_some_and(|s| s.store_pending),
            )
        };
        if recent && !pending {
            return Ok(());
        }
        let set = |f: &dyn Fn(&mut RenewState)| {
            f(self.sh.renew_state.lock().unwrap_or_else(|p| p.into_inner()).entry(id.clone()).or_default())
        };
        for m in masters(cluster)? {
            let s = self.sh.connect(m).await?;
            let r = renew_master(&s, &self.sh.opts.install, self.sh.opts.renew_before).await;
            s.close().await;
            if r? {
                pending = true;
                set(&|st| st.store_pending = true);
            }
        }
        if pending {
            // admin.conf's client certificate was renewed with the rest.
            let address = store_credential(&self.sh, &ctx.platform, cluster).await?;
            cluster.status.get_or_insert_with(Default::default).addresses = Some(vec![address]);
            tracing::info!(cluster = %cluster.name(), "certificates renewed and the ClusterCredential refreshed");
        }
        set(&|st| {
            st.store_pending = false;
            st.checked = Some(Instant::now());
        });
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Nodes in the business cluster

/// Marks a node (un)schedulable.
async fn set_unschedulable(client: &Client, name: &str, value: bool) -> Result<(), StepError> {
    let what = if value { "cordoning" } else { "uncordoning" };
    platform::drain::set_unschedulable(client, name, value)
        .await
        .map_err(|e| StepError::new(format!("{what} node {name}: {e}")))
}

/// Cordons the node of `ip` and evicts its pods (but those of DaemonSets and static pods) as
/// `kubectl drain` does, honouring PodDisruptionBudgets: evictions a budget refuses are tried
/// again until `timeout`, and the pods must be gone by then. Returns the node's name, `None` if
/// it has no node.
async fn drain_node(client: &Client, url: &str, ip: &str, timeout: Duration) -> Result<Option<String>, StepError> {
    let Some(node) =
        find_node(client, ip).await.map_err(|e| StepError::new(format!("listing the nodes of {url}: {e}")))?
    else {
        return Ok(None);
    };
    let name = node.metadata.name.clone().unwrap_or_default();
    set_unschedulable(client, &name, true).await?;
    let pods: Api<Pod> = Api::all(client.clone());
    let deadline = Instant::now() + timeout;
    let mut blocked: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let all = pods
            .list(&ListParams::default().fields(&format!("spec.nodeName={name}")))
            .await
            .map_err(|e| StepError::new(format!("listing the pods of {url}: {e}")))?;
        let left: Vec<Pod> = all.items.into_iter().filter(|p| !platform::drain::stays_on_node(p)).collect();
        if left.is_empty() {
            return Ok(Some(name));
        }
        if Instant::now() >= deadline {
            let names: Vec<String> = left
                .iter()
                .map(|p| {
                    let id = format!(
                        "{}/{}",
                        p.metadata.namespace.clone().unwrap_or_default(),
                        p.metadata.name.clone().unwrap_or_default()
                    );
                    match blocked.get(&id) {
                        Some(why) => format!("{id} ({why})"),
                        None => id,
                    }
                })
                .collect();
            return Err(StepError::new(format!(
                "node {name}: pods still there after {}s: {}",
                timeout.as_secs(),
                names.join(", ")
            )));
        }
        blocked.clear();
        for p in left.iter().filter(|p| p.metadata.deletion_timestamp.is_none()) {
            let (ns, pn) =
                (p.metadata.namespace.clone().unwrap_or_default(), p.metadata.name.clone().unwrap_or_default());
            match platform::drain::evict_pod(client, &ns, &pn).await {
                Ok(platform::drain::Eviction::Gone) => {}
                Ok(platform::drain::Eviction::Blocked(why)) => {
                    blocked.insert(format!("{ns}/{pn}"), why);
                }
                Err(e) => return Err(StepError::new(format!("evicting pod {ns}/{pn} from node {name}: {e}"))),
            }
        }
        tokio::time::sleep(Duration::from_millis(if blocked.is_empty() { 500 } else { 2000 })).await;
    }
}

/// Deletes the Node object of `ip` (nothing to do when there is none).
async fn delete_node(client: &Client, url: &str, ip: &str) -> Result<(), StepError> {
    if let Some(n) =
        find_node(client, ip).await.map_err(|e| StepError::new(format!("listing the nodes of {url}: {e}")))?
    {
        let name = n.metadata.name.clone().unwrap_or_default();
        match Api::<Node>::all(client.clone()).delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(StepError::new(format!("deleting node {name} from {url}: {e}"))),
        }
    }
    Ok(())
}

/// The kubelet version a node reports (`v1.30.2`).
fn kubelet_version(n: &Node) -> Option<&str> {
    n.status.as_ref()?.node_info.as_ref().map(|i| i.kubelet_version.as_str())
}

/// Waits up to `timeout` for the node of `ip` to be Ready (and to run kubelet `version`, when
/// given).
async fn wait_node_ready(
    client: &Client,
    url: &str,
    ip: &str,
    timeout: Duration,
    version: Option<&str>,
) -> Result<Node, StepError> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match find_node(client, ip).await {
            Ok(Some(n)) => {
                let name = n.metadata.name.clone().unwrap_or_default();
                match (node_ready(&n), version) {
                    (Some((s, _, _)), Some(v)) if s == "True" && kubelet_version(&n) != Some(v) => format!(
                        "node {name} still runs kubelet {}, not {v}",
                        kubelet_version(&n).unwrap_or("(unknown)")
                    ),
                    (Some((s, _, _)), _) if s == "True" => return Ok(n),
                    (Some((s, reason, msg)), _) => format!("node {name} is Ready={s} ({reason}: {msg})"),
                    (None, _) => format!("node {name} reports no Ready condition"),
                }
            }
            Ok(None) => format!("no node with address {ip} has registered in {url}"),
            Err(e) => format!("listing the nodes of {url}: {e}"),
        };
        if Instant::now() >= deadline {
            return Err(StepError::new(format!(
                "{last} after {}s; see journalctl -u kubelet on {ip}",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Scaling masters down

/// `EnsureDrainNode` of a scale-down: the leaving masters' nodes drained.
struct DrainMasters {
    sh: Arc<Shared>,
}

#[async_trait]
impl Handler<Cluster, ClusterContext> for DrainMasters {
    async fn run(&self, cluster: &mut Cluster, ctx: &ClusterContext) -> Result<(), StepError> {
        let client = ctx.business()?;
        for m in select(cluster, Nodes::Scaling)? {
            drain_node(client, &ctx.url, &m.ip, self.sh.opts.drain_timeout).await?;
        }
        Ok(())
    }
}

/// `EnsureRemoveNode` of a scale-down: the leaving masters' Node objects deleted.
struct RemoveMasterNodes;

#[async_trait]
impl Handler<Cluster, ClusterContext> for RemoveMasterNodes {
    async fn run(&self, cluster: &mut Cluster, ctx: &ClusterContext) -> Result<(), StepError> {
        let client = ctx.business()?;
        for m in select(cluster, Nodes::Scaling)? {
            delete_node(client, &ctx.url, &m.ip).await?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Upgrades

fn drain_before_upgrade(spec: &ClusterSpec) -> bool {
    spec.features
        .as_ref()
        .and_then(|f| f.upgrade.as_ref())
        .and_then(|u| u.strategy.as_ref())
        .and_then(|s| s.drain_node_before_upgrade)
        .unwrap_or(false)
}

/// Upgrades one node to `spec.version`: drained first when asked, the release's binaries and
/// images from the bundle, `kubeadm upgrade apply` (`apply`, the first master) or `kubeadm
/// upgrade node`, the kubelet restarted, the node Ready again (on the new kubelet when this
/// platform manages the services), then uncordoned. A node already Ready on the new kubelet is
/// done (the restart is the last thing an upgrade does), so a retried step passes over the
/// nodes it upgraded before.
async fn upgrade_node(
    sh: &Shared,
    spec: &ClusterSpec,
    m: &ClusterMachine,
    apply: bool,
    client: &Client,
    url: &str,
) -> Result<(), StepError> {
    let version = sh.version(spec)?;
    let want = format!("v{version}");
    let o = &sh.opts.install;
    let drain = drain_before_upgrade(spec);
    // Cordoned by an upgrade that drained it (and possibly failed before the end).
    let cordoned = |n: &Node| {
        n.metadata.name.clone().filter(|_| drain && n.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false))
    };
    if let Some(n) =
        find_node(client, &m.ip).await.map_err(|e| StepError::new(format!("listing the nodes of {url}: {e}")))?
        && kubelet_version(&n) == Some(want.as_str())
        && node_ready(&n).is_some_and(|r| r.0 == "True")
    {
        if let Some(name) = cordoned(&n) {
            set_unschedulable(client, &name, false).await?;
        }
        return Ok(());
    }
    if drain {
        drain_node(client, url, &m.ip, sh.opts.drain_timeout).await?;
    }
    let s = sh.connect(m).await?;
    let r = async {
        let release = sh.release(&s, spec).await?;
        install::install_binaries(&s, &release, o).await.map_err(step_err)?;
        install::load_images(&s, &release, o, &mut log_line(&m.ip)).await.map_err(step_err)?;
        install::kubeadm_upgrade(&s, o, &version, apply, &mut log_line(&m.ip)).await.map_err(step_err)?;
        install::restart_kubelet(&s, o).await.map_err(step_err)
    }
    .await;
    s.close().await;
    r?;
    let node =
        wait_node_ready(client, url, &m.ip, sh.opts.node_ready_timeout, o.manage_system.then_some(want.as_str()))
            .await?;
    if let Some(name) = cordoned(&node) {
        set_unschedulable(client, &name, false).await?;
    }
    tracing::info!(host = %m.ip, %version, "node upgraded");
    Ok(())
}

/// `EnsureUpgradeControlPlaneNode`: the masters one by one, the first with `kubeadm upgrade apply`.
struct UpgradeMasters {
    sh: Arc<Shared>,
}

#[async_trait]
impl Handler<Cluster, ClusterContext> for UpgradeMasters {
    async fn run(&self, cluster: &mut Cluster, ctx: &ClusterContext) -> Result<(), StepError> {
        let spec = self.sh.effective_spec(&cluster.spec)?;
        let client = ctx.business()?;
        for (i, m) in masters(cluster)?.iter().enumerate() {
            upgrade_node(&self.sh, &spec, m, i == 0, client, &ctx.url).await?;
        }
        Ok(())
    }
}

/// `EnsureMarkUpgradeWorkers`: every worker Machine of the cluster not yet on the new kubelet
/// gets the need-upgrade label — `willUpgrade` with `upgrade.mode: Auto` (the default), empty
/// with `Manual` (the user sets `willUpgrade` machine by machine) — and the first ones start.
struct MarkUpgradeWorkers;

#[async_trait]
impl Handler<Cluster, ClusterContext> for MarkUpgradeWorkers {
    async fn run(&self, cluster: &mut Cluster, ctx: &ClusterContext) -> Result<(), StepError> {
        let manual = cluster.spec.features.as_ref().and_then(|f| f.upgrade.as_ref()).and_then(|u| u.mode.as_deref())
            == Some("Manual");
        let want = format!("v{}", cluster.spec.version.as_deref().unwrap_or_default().trim_start_matches('v'));
        let api: Api<DynamicObject> = Api::all_with(ctx.platform.clone(), &machine_resource());
        let err =
            |e: kube::Error| StepError::new(format!("marking the workers of {} for upgrade: {e}", cluster.name()));
        for m in cluster_machines(&ctx.platform, cluster.name()).await.map_err(err)? {
            let current =
                m.status.as_ref().and_then(|s| s.machine_info.as_ref()).and_then(|i| i.kubelet_version.as_deref());
            if current == Some(want.as_str()) || !m.metadata["labels"][NEED_UPGRADE_LABEL].is_null() {
                continue;
            }
            let value = if manual { "" } else { WILL_UPGRADE };
            api.patch(
                m.name(),
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {NEED_UPGRADE_LABEL: value}}})),
            )
            .await
            .map_err(err)?;
        }
        if !manual {
            start_worker_upgrades(&ctx.platform, cluster).await.map_err(err)?;
        }
        Ok(())
    }
}

/// `EnsureUpgrade` of a worker Machine.
struct UpgradeWorker {
    sh: Arc<Shared>,
}

#[async_trait]
impl Handler<Machine, MachineContext> for UpgradeWorker {
    async fn run(&self, machine: &mut Machine, ctx: &MachineContext) -> Result<(), StepError> {
        let cluster = running_cluster(ctx)?;
        let spec = self.sh.effective_spec(&cluster.spec)?;
        upgrade_node(&self.sh, &spec, &machine.ssh_target(), false, ctx.business()?, &ctx.url).await
    }
}

// ---------------------------------------------------------------------------------------------
// Machine provider

/// The provider of `Baremetal` machines (workers).
pub struct BaremetalMachine {
    shared: Arc<Shared>,
}

impl BaremetalMachine {
    pub fn new(opts: BaremetalOptions) -> Self {
        BaremetalMachine { shared: Arc::new(Shared::new(opts)) }
    }
}

const WORKER_JOIN_PHASES: &[JoinPhase] = &[JoinPhase::Preflight, JoinPhase::KubeletStart];

impl MachineProvider for BaremetalMachine {
    fn name(&self) -> &'static str {
        "Baremetal"
    }

    fn create_steps(&self) -> Vec<MachineStep> {
        let sh = &self.shared;
        let hook = |h: Hook| Step::new(h.step(), MachineHook { sh: sh.clone(), hook: h });
        let mut steps: Vec<MachineStep> =
            vec![Step::new(ENSURE_COPY_FILES, MachineFiles { sh: sh.clone() }), hook(Hook::PreInstall)];
        steps.extend(PREPARE.iter().map(|a| Step::new(a.step(), Worker { sh: sh.clone(), action: *a })));
        steps.extend(WORKER_JOIN_PHASES.iter().map(|p| Step::new(p.step(), JoinWorker { sh: sh.clone(), phase: *p })));
        steps.push(Step::new(ENSURE_NODE_READY, NodeReady { sh: sh.clone() }));
        steps.push(hook(Hook::PostInstall));
        steps
    }

    fn upgrade_steps(&self) -> Vec<MachineStep> {
        let sh = &self.shared;
        let hook = |h: Hook| Step::new(h.step(), MachineHook { sh: sh.clone(), hook: h });
        vec![
            hook(Hook::PreUpgrade),
            Step::new(ENSURE_UPGRADE, UpgradeWorker { sh: sh.clone() }),
            hook(Hook::PostUpgrade),
        ]
    }

    fn delete_steps(&self) -> Vec<MachineStep> {
        vec![
            Step::new(ENSURE_DRAIN_NODE, Drain { sh: self.shared.clone() }),
            Step::new(ENSURE_REMOVE_NODE, RemoveNode { sh: self.shared.clone() }),
        ]
    }
}

/// The machine's cluster, which must be up for a worker to join it.
fn running_cluster(ctx: &MachineContext) -> Result<&Cluster, StepError> {
    let c = ctx.cluster()?;
    match c.phase() {
        cluster_phase::RUNNING | cluster_phase::UPSCALING | cluster_phase::DOWNSCALING | cluster_phase::UPGRADING => {
            Ok(c)
        }
        p => Err(StepError::new(format!(
            "cluster {} is {}: workers join once it is Running",
            c.name(),
            if p.is_empty() { "not yet initialised" } else { p }
        ))),
    }
}

struct Worker {
    sh: Arc<Shared>,
    action: Prepare,
}

#[async_trait]
impl Handler<Machine, MachineContext> for Worker {
    async fn run(&self, machine: &mut Machine, ctx: &MachineContext) -> Result<(), StepError> {
        let cluster = running_cluster(ctx)?;
        let spec = self.sh.effective_spec(&cluster.spec)?;
        prepare(&self.sh, self.action, &spec, &machine.ssh_target(), false).await
    }
}

/// Label of the bootstrap-token Secrets made for a machine.
pub const MACHINE_TOKEN_LABEL: &str = "platform.tkestack.io/machine";

/// A bootstrap token for `machine`, valid for at least ten more minutes: one made earlier for
/// it, or a new `bootstrap.kubernetes.io/token` Secret valid for an hour.
pub async fn machine_bootstrap_token(client: &Client, machine: &str) -> Result<String, kube::Error> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "kube-system");
    let now = chrono::Utc::now();
    let text = |s: &Secret, k: &str| {
        s.data.as_ref().and_then(|d| d.get(k)).map(|b| String::from_utf8_lossy(&b.0).into_owned())
    };
    for s in secrets.list(&ListParams::default().labels(&format!("{MACHINE_TOKEN_LABEL}={machine}"))).await?.items {
        let fresh = text(&s, "expiration")
            .and_then(|e| chrono::DateTime::parse_from_rfc3339(&e).ok())
            .is_some_and(|e| e > now + chrono::Duration::minutes(10));
        if let (true, Some(id), Some(secret)) = (fresh, text(&s, "token-id"), text(&s, "token-secret")) {
            return Ok(format!("{id}.{secret}"));
        }
    }
    let token = new_bootstrap_token();
    let (id, secret) = token.split_once('.').unwrap_or_default();
    let b = |s: &str| ByteString(s.as_bytes().to_vec());
    let data: BTreeMap<String, ByteString> = [
        ("token-id", b(id)),
        ("token-secret", b(secret)),
        ("expiration", b(&(now + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true))),
        ("usage-bootstrap-authentication", b("true")),
        ("usage-bootstrap-signing", b("true")),
        ("auth-extra-groups", b("system:bootstrappers:kubeadm:default-node-token")),
        ("description", b(&format!("joins machine {machine} (made by the TKE platform)"))),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let s = Secret {
        metadata: ObjectMeta {
            name: Some(format!("bootstrap-token-{id}")),
            labels: Some([(MACHINE_TOKEN_LABEL.to_string(), machine.to_string())].into()),
            ..Default::default()
        },
        type_: Some("bootstrap.kubernetes.io/token".into()),
        data: Some(data),
        ..Default::default()
    };
    secrets.create(&PostParams::default(), &s).await?;
    Ok(token)
}

struct JoinWorker {
    sh: Arc<Shared>,
    phase: JoinPhase,
}

#[async_trait]
impl Handler<Machine, MachineContext> for JoinWorker {
    async fn run(&self, machine: &mut Machine, ctx: &MachineContext) -> Result<(), StepError> {
        let cluster = running_cluster(ctx)?;
        let client = ctx.business()?;
        let spec = self.sh.effective_spec(&cluster.spec)?;
        let node = machine.ssh_target();
        let ca = cred_field(&ctx.credential, |c| c.ca_cert.clone()).ok_or_else(|| {
            StepError::new(format!(
                "the ClusterCredential of {} has no caCert to verify the cluster with",
                cluster.name()
            ))
        })?;
        let token = machine_bootstrap_token(client, machine.name())
            .await
            .map_err(|e| StepError::new(format!("creating a bootstrap token in {}: {e}", ctx.url)))?;
        let params = KubeadmParams {
            node_name: node_name(&spec, &node),
            node,
            bootstrap_token: Some(token),
            ca_cert_hash: Some(ca_cert_hash(&ca).map_err(StepError::new)?),
            ..Default::default()
        };
        let config = install::kubeadm_join_config(&spec, &params, false).map_err(step_err)?;
        let s = self.sh.connect(&params.node).await?;
        let r =
            install::kubeadm_join_phase(&s, &self.sh.opts.install, &config, self.phase, &mut log_line(&params.node.ip))
                .await;
        s.close().await;
        r.map(|_| ()).map_err(step_err)
    }
}

struct NodeReady {
    sh: Arc<Shared>,
}

#[async_trait]
impl Handler<Machine, MachineContext> for NodeReady {
    async fn run(&self, machine: &mut Machine, ctx: &MachineContext) -> Result<(), StepError> {
        let client = ctx.business()?;
        let node = wait_node_ready(client, &ctx.url, &machine.spec.ip, self.sh.opts.node_ready_timeout, None).await?;
        if let Some(labels) = machine.spec.labels.clone().filter(|l| !l.is_empty()) {
            let name = node.metadata.name.clone().unwrap_or_default();
            let nodes: Api<Node> = Api::all(client.clone());
            nodes
                .patch(&name, &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": labels}})))
                .await
                .map_err(|e| StepError::new(format!("labelling node {name}: {e}")))?;
        }
        Ok(())
    }
}

struct Drain {
    sh: Arc<Shared>,
}

#[async_trait]
impl Handler<Machine, MachineContext> for Drain {
    async fn run(&self, machine: &mut Machine, ctx: &MachineContext) -> Result<(), StepError> {
        let client = match ctx.business() {
            Ok(c) => c,
            // The cluster is gone: there is nothing left to drain.
            Err(_) if ctx.cluster.is_none() => return Ok(()),
            Err(e) => return Err(e),
        };
        drain_node(client, &ctx.url, &machine.spec.ip, self.sh.opts.drain_timeout).await.map(|_| ())
    }
}

struct RemoveNode {
    sh: Arc<Shared>,
}

#[async_trait]
impl Handler<Machine, MachineContext> for RemoveNode {
    async fn run(&self, machine: &mut Machine, ctx: &MachineContext) -> Result<(), StepError> {
        match ctx.business() {
            Ok(client) => delete_node(client, &ctx.url, &machine.spec.ip).await?,
            Err(_) if ctx.cluster.is_none() => {}
            Err(e) => return Err(e),
        }
        let hint = format!(
            "to delete the machine without cleaning it, annotate it with {}: {ENSURE_REMOVE_NODE}",
            platform::machine::SKIP_CONDITIONS_ANNOTATION
        );
        let s =
            self.sh.connect(&machine.ssh_target()).await.map_err(|e| StepError::new(format!("{} ({hint})", e.0)))?;
        let r = install::remove_node(&s, &self.sh.opts.install).await;
        s.close().await;
        r.map(|_| ()).map_err(|e| StepError::new(format!("{e} ({hint})")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_keys_have_kubeadm_shapes() {
        let t = new_bootstrap_token();
        let (id, secret) = t.split_once('.').expect("dot");
        assert_eq!((id.len(), secret.len()), (6, 16));
        assert!(t.chars().all(|c| c == '.' || c.is_ascii_lowercase() || c.is_ascii_digit()));
        assert_ne!(new_bootstrap_token(), t);
        let k = new_certificate_key();
        assert!(k.len() == 64 && k.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn a_kubeconfig_gives_address_and_identity() {
        let conf = "apiVersion: v1\nkind: Config\ncurrent-context: admin@k\nclusters:\n- name: other\n  cluster: {server: 'https://1.1.1.1:6443'}\n- name: k\n  cluster:\n    server: https://10.0.0.10:6443/base/\n    certificate-authority-data: Q0E=\ncontexts:\n- name: admin@k\n  context: {cluster: k, user: admin}\nusers:\n- name: admin\n  user:\n    client-certificate-data: Q0VSVA==\n    client-key-data: S0VZ\n";
        let a = parse_kubeconfig(conf).expect("parse");
        assert_eq!(a.server, "https://10.0.0.10:6443/base/");
        assert_eq!(
            (a.ca_data.as_deref(), a.client_cert_data.as_deref(), a.client_key_data.as_deref(), a.token.as_deref()),
            (Some("Q0E="), Some("Q0VSVA=="), Some("S0VZ"), None)
        );
        assert_eq!(
            address_of(&a.server).expect("addr"),
            ClusterAddress {
                type_: "Advertise".into(),
                host: "10.0.0.10".into(),
                port: 6443,
                path: Some("/base".into())
            }
        );
        assert_eq!(address_of("https://[fd00::1]:6443").expect("v6").host, "fd00::1");
        let e = parse_kubeconfig(
            "clusters:\n- name: k\n  cluster: {server: 'https://h:1'}\nusers:\n- name: u\n  user: {username: x}\n",
        )
        .expect_err("no identity");
        assert!(e.contains("neither a token nor"), "{e}");
    }

    #[test]
    fn hooks_are_read_from_the_features_and_run_under_the_prefix() {
        let spec: ClusterSpec =
            serde_json::from_value(json!({"features": {"hooks": {"PreInstall": "/opt/pre.sh", "PostInstall": "  "}}}))
                .expect("spec");
        assert_eq!(hook_script(&spec, Hook::PreInstall).as_deref(), Some("/opt/pre.sh"));
        assert_eq!(hook_script(&spec, Hook::PostInstall), None, "a blank path is no hook");
        assert_eq!(hook_script(&ClusterSpec::default(), Hook::PreClusterInstall), None);
        assert!(Hook::PreClusterInstall.first_master_only() && !Hook::PreInstall.first_master_only());
        let o = InstallOptions { root: "/scratch/".into(), ..Default::default() };
        let cmd = hook_command(&o, Hook::PreInstall, "/opt/pre.sh", "cls-a", Duration::from_secs(90));
        assert!(
            cmd.contains("set -- /scratch/opt/pre.sh;")
                && cmd.contains("TKE_HOOK=PreInstall")
                && cmd.contains("TKE_INSTALL_ROOT=/scratch"),
            "{cmd}"
        );
        assert!(cmd.contains("timeout -k 10 90 "), "{cmd}");
        assert!(cmd.starts_with("PATH=/scratch/usr/bin"), "the prefix's binaries come first: {cmd}");
        assert_eq!(clip(&"é".repeat(300)).chars().count(), HOOK_LINE_MAX / 2 + 1);
    }

    #[test]
    fn the_hook_command_runs_scripts_and_stops_them_at_the_limit() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tempdir");
        let o = InstallOptions { root: tmp.path().to_str().expect("utf-8").into(), ..Default::default() };
        let put = |name: &str, body: &str, mode: u32| {
            let p = tmp.path().join(name);
            std::fs::write(&p, body).expect("write");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        };
        let run = |script: &str, limit: u64| {
            let cmd = hook_command(&o, Hook::PostInstall, script, "cls a", Duration::from_secs(limit));
            let out = std::process::Command::new("sh").arg("-c").arg(&cmd).output().expect("sh");
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
            )
        };
        put("ok.sh", "echo \"$TKE_HOOK $TKE_CLUSTER_NAME $0\"\n", 0o644);
        let (code, out) = run("/ok.sh", 30);
        assert_eq!(code, Some(0), "{out}");
        assert!(out.starts_with("PostInstall cls a "), "not executable: run through sh: {out}");
        put("fail.sh", "#!/bin/sh\necho 'disk not mounted' >&2\nexit 3\n", 0o755);
        assert_eq!(run("/fail.sh", 30), (Some(3), "disk not mounted\n".to_string()));
        let (code, out) = run("/absent.sh", 30);
        assert_eq!(code, Some(127));
        assert!(out.contains("/absent.sh does not exist on this machine"), "{out}");
        if std::process::Command::new("sh")
            .arg("-c")
            .arg("command -v timeout")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            put("hang.sh", "#!/bin/sh\nsleep 30\n", 0o755);
            let start = Instant::now();
            assert_eq!(run("/hang.sh", 1).0, Some(TIMED_OUT as i32));
            assert!(start.elapsed() < Duration::from_secs(10), "stopped at the limit");
        }
    }

    #[test]
    fn the_ca_hash_is_over_the_public_key() {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert =
            rcgen::CertificateParams::new(vec!["ca".to_string()]).expect("params").self_signed(&key).expect("cert");
        let pem = cert.pem();
        // The PUBLIC KEY PEM block is the SubjectPublicKeyInfo DER.
        let b64: String = key.public_key_pem().lines().filter(|l| !l.starts_with("-----")).collect();
        let spki = base64::engine::general_purpose::STANDARD.decode(b64).expect("spki");
        let expected = format!("sha256:{}", crate::ssh::sha256_hex(&spki));
        assert_eq!(ca_cert_hash(&pem).expect("hash"), expected);
        assert_eq!(ca_cert_hash(&base64::engine::general_purpose::STANDARD.encode(&pem)).expect("b64"), expected);
        assert!(ca_cert_hash("bm90IGEgY2VydA==").is_err());
    }
}
