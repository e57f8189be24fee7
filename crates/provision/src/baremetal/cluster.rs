//! The `Baremetal` cluster provider: its create, scale, upgrade, housekeeping and delete steps,
//! and the steps that install and join the masters and mark the cluster as managed.

use std::sync::Arc;

use api::platform::{
    Cluster,
    cluster::{ClusterAddress, ClusterMachine},
};
use async_trait::async_trait;
use base64::Engine as _;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{
    Api, Client,
    api::{DeleteParams, ObjectMeta, PostParams},
};
use platform::{
    engine::{Conditioned, Handler, Step, StepError, TRUE},
    machine::cluster_credential,
    provider::{ClusterContext, ClusterStep, Provider, imported},
};

use crate::install::{self, InitPhase, JoinPhase};

use super::certs::RenewCerts;
use super::credential::{
    address_of, cred_field, fresh_business_client, kubeadm_params, machine_bootstrap_token, new_bootstrap_token,
    new_certificate_key, parse_kubeconfig, update_credential,
};
use super::downscale::{DrainMasters, RemoveMasterNodes};
use super::hooks::{ClusterFiles, ClusterHook, Hook};
use super::machine::BaremetalMachine;
use super::upgrade::{MarkUpgradeWorkers, UpgradeMasters};
use super::{
    BaremetalOptions, ENSURE_AUDIT_CONFIG, ENSURE_AUTHZ_WEBHOOK, ENSURE_BOOTSTRAP_SECRETS, ENSURE_COPY_FILES,
    ENSURE_DRAIN_NODE, ENSURE_MARK_UPGRADE_WORKERS, ENSURE_REMOVE_ETCD_MEMBER, ENSURE_REMOVE_MACHINE,
    ENSURE_REMOVE_NODE, ENSURE_RENEW_CERTS, ENSURE_STORE_CREDENTIAL, ENSURE_UPGRADE_CONTROL_PLANE_NODE, PREPARE,
    Prepare, Shared, log_line, prepare, step_err,
};

/// The provider of `Baremetal` clusters.
pub struct Baremetal {
    pub(super) shared: Arc<Shared>,
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
        steps.push(Step::new(ENSURE_AUTHZ_WEBHOOK, AuthzWebhook { sh: sh.clone(), nodes: Nodes::Masters }));
        steps.push(Step::new(ENSURE_AUDIT_CONFIG, AuditConfig { sh: sh.clone(), nodes: Nodes::Masters }));
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
        steps.push(Step::new(
            scale_up_step(ENSURE_AUTHZ_WEBHOOK),
            AuthzWebhook { sh: sh.clone(), nodes: Nodes::Scaling },
        ));
        steps
            .push(Step::new(scale_up_step(ENSURE_AUDIT_CONFIG), AuditConfig { sh: sh.clone(), nodes: Nodes::Scaling }));
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

pub(super) fn masters(cluster: &Cluster) -> Result<&[ClusterMachine], StepError> {
    match cluster.spec.machines.as_deref() {
        Some(m) if !m.is_empty() => Ok(m),
        _ => Err(StepError::new("the cluster has no machines in spec.machines")),
    }
}

/// Which masters a cluster step works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Nodes {
    /// Every master of `spec.machines`.
    Masters,
    /// The masters after the first (the ones that join it).
    OtherMasters,
    /// The masters being added or removed (`spec.scalingMachines`).
    Scaling,
}

pub(super) fn select(cluster: &Cluster, nodes: Nodes) -> Result<Vec<ClusterMachine>, StepError> {
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

/// `EnsureAuthzWebhook`: the platform's webhook kubeconfigs on every master, before kubeadm
/// starts kube-apiserver with them (a no-op for clusters without `authzWebhookAddr`). One
/// certificate for the cluster, written with mode 0600.
struct AuthzWebhook {
    sh: Arc<Shared>,
    nodes: Nodes,
}

#[async_trait]
impl Handler<Cluster, ClusterContext> for AuthzWebhook {
    async fn run(&self, cluster: &mut Cluster, _ctx: &ClusterContext) -> Result<(), StepError> {
        if !install::auth_webhook_enabled(&cluster.spec) {
            return Ok(());
        }
        let issuer = self.sh.opts.auth_webhook.as_ref().ok_or_else(|| {
            StepError::new(
                "spec.features.authzWebhookAddr asks for the platform's webhooks, but this platform was started without a webhook issuer (its URL and CA)",
            )
        })?;
        let tenant = cluster.spec.tenant_id.clone().unwrap_or_default();
        let server = install::auth_webhook_server(&cluster.spec);
        let out = issuer
            .files(cluster.name(), &tenant, server.as_deref(), platform::authwebhook::CONFIG_DIR)
            .map_err(step_err)?;
        for m in select(cluster, self.nodes)? {
            let s = self.sh.connect(&m).await?;
            let mut result = Ok(());
            for (path, content) in &out.files {
                if let Err(e) = s.upload_bytes(content.as_bytes(), &self.sh.opts.install.path(path), 0o600, true).await
                {
                    result = Err(StepError::new(format!("{}: writing {path}: {e}", m.ip)));
                    break;
                }
            }
            s.close().await;
            result?;
        }
        Ok(())
    }
}

/// `EnsureAuditConfig`: the audit policy and the audit webhook kubeconfig (the platform's
/// sink, its CA, the cluster's sink token) on every master, before kubeadm starts
/// kube-apiserver with them (a no-op for clusters without `features.enableAudit`). The files
/// are what the platform's `clusters/{name}/auditwebhook` hands out, so they follow the audit
/// component's policy and credentials; written with mode 0600.
struct AuditConfig {
    sh: Arc<Shared>,
    nodes: Nodes,
}

/// The files of an `auditwebhook` answer, checked to be the two the kubeadm configuration
/// names, in its directory.
pub(super) fn audit_files(answer: &serde_json::Value) -> Result<Vec<(String, String)>, StepError> {
    let files = answer.get("files").and_then(serde_json::Value::as_object).ok_or_else(|| {
        StepError::new("the platform's auditwebhook answer has no files: is the audit component served?")
    })?;
    let mut out = vec![];
    for name in [install::AUDIT_POLICY_FILE, install::AUDIT_WEBHOOK_FILE] {
        let path = format!("{}/{name}", install::AUDIT_DIR);
        let content = files.get(&path).and_then(serde_json::Value::as_str).ok_or_else(|| {
            StepError::new(format!(
                "the platform's auditwebhook answer has no {path} (the kube-apiserver flags name it)"
            ))
        })?;
        out.push((path, content.to_string()));
    }
    Ok(out)
}

#[async_trait]
impl Handler<Cluster, ClusterContext> for AuditConfig {
    async fn run(&self, cluster: &mut Cluster, ctx: &ClusterContext) -> Result<(), StepError> {
        if !install::audit_enabled(&cluster.spec) {
            return Ok(());
        }
        // The platform as the cluster reaches it: the address its webhooks are given.
        let server = self
            .sh
            .opts
            .auth_webhook
            .as_ref()
            .map(|w| format!("?server={}", percent_encode(&w.server)))
            .unwrap_or_default();
        let path = format!("/apis/platform.tkestack.io/v1/clusters/{}/auditwebhook{server}", cluster.name());
        let req = http::Request::get(&path).body(Vec::new()).map_err(step_err)?;
        let text = ctx.platform.request_text(req).await.map_err(|e| {
            StepError::new(format!(
                "features.enableAudit asks for the platform's audit sink, but GET {path} failed (does the platform serve the audit component?): {e}"
            ))
        })?;
        let answer: serde_json::Value = serde_json::from_str(&text).map_err(step_err)?;
        let files = audit_files(&answer)?;
        for m in select(cluster, self.nodes)? {
            let s = self.sh.connect(&m).await?;
            let mut result = Ok(());
            for (path, content) in &files {
                if let Err(e) = s.upload_bytes(content.as_bytes(), &self.sh.opts.install.path(path), 0o600, true).await
                {
                    result = Err(StepError::new(format!("{}: writing {path}: {e}", m.ip)));
                    break;
                }
            }
            s.close().await;
            result?;
        }
        Ok(())
    }
}

/// `s` safe in a query value.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
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
pub(super) async fn store_credential(
    sh: &Shared,
    platform: &Client,
    cluster: &Cluster,
) -> Result<ClusterAddress, StepError> {
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

pub(super) fn uid_of(c: &Cluster) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_files_are_those_the_flags_name() {
        // As `clusters/{name}/auditwebhook` answers.
        let answer = serde_json::json!({"directory": "/etc/kubernetes/audit", "files": {
            "/etc/kubernetes/audit/audit-webhook.kubeconfig": "kind: Config",
            "/etc/kubernetes/audit/audit-policy.yaml": "kind: Policy"}});
        let files = audit_files(&answer).unwrap();
        assert_eq!(
            files,
            [
                ("/etc/kubernetes/audit/audit-policy.yaml".to_string(), "kind: Policy".to_string()),
                ("/etc/kubernetes/audit/audit-webhook.kubeconfig".to_string(), "kind: Config".to_string()),
            ]
        );
        let elsewhere = serde_json::json!({"files": {"/etc/audit/audit-policy.yaml": "x"}});
        assert!(audit_files(&elsewhere).unwrap_err().to_string().contains("audit-policy.yaml"));
        assert!(audit_files(&serde_json::json!({"kind": "Status"})).is_err());
        assert_eq!(percent_encode("https://10.0.0.1:9443"), "https%3A%2F%2F10.0.0.1%3A9443");
    }
}
