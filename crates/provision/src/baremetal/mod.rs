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
//! `EnsureKubelet`, `EnsureKubernetesImages`, `EnsureAuthzWebhook` (when
//! `spec.features.authzWebhookAddr` is set: the kubeconfigs of the platform's authn and authz
//! webhooks in `/etc/kubernetes/tke`, which kube-apiserver is then started with, see
//! `platform::authwebhook`), `EnsureAuditConfig` (when `spec.features.enableAudit` is set: the
//! audit policy and the audit webhook kubeconfig the platform's `clusters/{name}/auditwebhook`
//! hands out, in `/etc/kubernetes/audit`, which kube-apiserver is then started with),
//! `EnsureBootstrapSecrets` (a bootstrap token and an
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
//! the machine's labels applied), `EnsurePostInstallHook`. Delete: `EnsureDrainNode` (cordon, evict the pods but those of
//! DaemonSets and static pods through `controller_runtime::drain`, as `kubectl drain` does, honouring
//! PodDisruptionBudgets, and wait for them to go) and `EnsureRemoveNode` (Node object deleted, node reset over
//! SSH). A machine whose host is gone for good can still be deleted by listing
//! `EnsureRemoveNode` in its `platform.tkestack.io/skip-conditions` annotation.
//!
//! The code follows these concepts: [`cluster`] and [`machine`] (the two providers and their
//! steps), [`credential`] (the ClusterCredential and bootstrap tokens), [`hooks`] (files and hook
//! scripts), [`certs`] (certificate renewal), [`node`] (nodes in the business cluster),
//! [`downscale`] and [`upgrade`].

mod certs;
mod cluster;
mod credential;
mod downscale;
mod hooks;
mod machine;
mod node;
mod upgrade;

use certs::RenewState;

pub use cluster::{Baremetal, scale_up_step};
pub use credential::{
    AdminAccess, MACHINE_TOKEN_LABEL, address_of, ca_cert_hash, machine_bootstrap_token, new_bootstrap_token,
    new_certificate_key, parse_kubeconfig,
};
pub use hooks::{Hook, hook_command, hook_script};
pub use machine::BaremetalMachine;

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use api::platform::cluster::{ClusterMachine, ClusterSpec};
use platform::engine::StepError;

use crate::{
    bundle::{Bundle, Release, Verify},
    checks::{self, CheckConfig},
    install::{self, ContainerdSettings, InstallOptions},
    ssh::{Session, SshOptions, Stream, Target},
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
    /// Makes the authn/authz webhook files of clusters with `features.authzWebhookAddr`
    /// (`EnsureAuthzWebhook`); without it such clusters fail that step and say why.
    pub auth_webhook: Option<Arc<platform::authwebhook::WebhookIssuer>>,
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
            auth_webhook: None,
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

pub const ENSURE_BOOTSTRAP_SECRETS: &str = "EnsureBootstrapSecrets";
pub const ENSURE_AUTHZ_WEBHOOK: &str = "EnsureAuthzWebhook";
pub const ENSURE_AUDIT_CONFIG: &str = "EnsureAuditConfig";
pub const ENSURE_STORE_CREDENTIAL: &str = "EnsureStoreCredential";
pub const ENSURE_REMOVE_MACHINE: &str = "EnsureRemoveMachine";
pub const ENSURE_NODE_READY: &str = "EnsureNodeReady";
pub const ENSURE_DRAIN_NODE: &str = "EnsureDrainNode";
pub const ENSURE_REMOVE_NODE: &str = "EnsureRemoveNode";
pub const ENSURE_REMOVE_ETCD_MEMBER: &str = "EnsureRemoveETCDMember";
pub const ENSURE_UPGRADE_CONTROL_PLANE_NODE: &str = "EnsureUpgradeControlPlaneNode";
pub const ENSURE_MARK_UPGRADE_WORKERS: &str = "EnsureMarkUpgradeWorkers";
pub const ENSURE_UPGRADE: &str = "EnsureUpgrade";
pub const ENSURE_COPY_FILES: &str = "EnsureCopyFiles";
pub const ENSURE_RENEW_CERTS: &str = "EnsureRenewCerts";
