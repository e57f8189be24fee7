//! The `Imported` provider (reference 2.5): an existing cluster given by its API address and a
//! ClusterCredential. Creating it is one step, `EnsureCreateClusterMark`: connect live with the
//! credential, require Kubernetes >= 1.10, refuse a cluster another platform (or another Cluster
//! object) already manages — it carries the ConfigMap `kube-system/tke` — and write that mark.
//! Deleting it is `EnsureCleanClusterMark`: remove the mark, only if it is this cluster's own.
//! Afterwards the cluster is only health-checked.

use api::platform::Cluster;
use async_trait::async_trait;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{
    Api,
    api::{DeleteParams, ObjectMeta, PostParams},
};

use super::{ClusterContext, ClusterStep, Provider, observe};
use crate::engine::{Conditioned, Handler, Step, StepError, TRUE};

pub const ENSURE_CREATE_CLUSTER_MARK: &str = "EnsureCreateClusterMark";
pub const ENSURE_CLEAN_CLUSTER_MARK: &str = "EnsureCleanClusterMark";
/// The mark: ConfigMap `kube-system/tke`.
pub const MARK_NAMESPACE: &str = "kube-system";
pub const MARK_NAME: &str = "tke";
/// Keys of the mark's data naming the Cluster object that owns it.
pub const MARK_CLUSTER_NAME: &str = "clusterName";
pub const MARK_CLUSTER_UID: &str = "clusterUID";

/// The provider of imported clusters.
pub struct Imported;

impl Provider for Imported {
    fn name(&self) -> &'static str {
        "Imported"
    }
    fn create_steps(&self) -> Vec<ClusterStep> {
        vec![Step::new(ENSURE_CREATE_CLUSTER_MARK, CreateMark)]
    }
    fn delete_steps(&self) -> Vec<ClusterStep> {
        vec![Step::new(ENSURE_CLEAN_CLUSTER_MARK, CleanMark)]
    }
}

fn uid_of(c: &Cluster) -> String {
    c.metadata.get("uid").and_then(|u| u.as_str()).unwrap_or_default().to_string()
}

/// The message of a refused double import: who holds the mark and what to do.
pub fn already_managed_message(holder: &str) -> String {
    let by = if holder.is_empty() { String::new() } else { format!(" (as cluster {holder})") };
    format!(
        "the cluster is already managed by a TKE platform{by}: it carries the ConfigMap {MARK_NAMESPACE}/{MARK_NAME}. \
         If it is no longer managed there, delete that ConfigMap first (kubectl -n {MARK_NAMESPACE} delete configmap {MARK_NAME}) and the import resumes"
    )
}

struct CreateMark;

#[async_trait]
impl Handler<Cluster, ClusterContext> for CreateMark {
    async fn run(&self, cluster: &mut Cluster, ctx: &ClusterContext) -> Result<(), StepError> {
        let client = ctx.business()?;
        // The live connection test: the credential must authenticate against the address.
        let info = client.apiserver_version().await.map_err(|e| {
            StepError::new(format!(
                "cannot connect to {} with the credential: {}",
                ctx.url,
                controller_runtime::error_chain(&e)
            ))
        })?;
        let version = observe::version_of(&info.git_version);
        match observe::major_minor(&version) {
            Some(v) if v >= observe::MIN_VERSION => {}
            Some(_) => {
                return Err(StepError::new(format!(
                    "Kubernetes {version} is too old: imported clusters must run 1.10 or newer"
                )));
            }
            None => {
                return Err(StepError::new(format!(
                    "the cluster reports an unreadable Kubernetes version {:?}",
                    info.git_version
                )));
            }
        }
        let status = cluster.status.get_or_insert_with(Default::default);
        status.version = Some(version);
        status.kube_vendor = Some(observe::vendor_of(&info.git_version).to_string());

        let uid = uid_of(cluster);
        let name = cluster.name().to_string();
        let marks: Api<ConfigMap> = Api::namespaced(client.clone(), MARK_NAMESPACE);
        let err =
            |what: &str, e: kube::Error| StepError::new(format!("{what} the mark {MARK_NAMESPACE}/{MARK_NAME}: {e}"));
        match marks.get_opt(MARK_NAME).await.map_err(|e| err("reading", e))? {
            Some(mark) => {
                let data = mark.data.unwrap_or_default();
                // Our own mark (written before a restart lost the step's success) is fine.
                if data.get(MARK_CLUSTER_UID).is_some_and(|u| *u == uid) {
                    return Ok(());
                }
                Err(StepError::new(already_managed_message(
                    data.get(MARK_CLUSTER_NAME).map(String::as_str).unwrap_or_default(),
                )))
            }
            None => {
                let mark = ConfigMap {
                    metadata: ObjectMeta {
                        name: Some(MARK_NAME.into()),
                        namespace: Some(MARK_NAMESPACE.into()),
                        labels: Some([("app.kubernetes.io/managed-by".to_string(), "tke".to_string())].into()),
                        ..Default::default()
                    },
                    data: Some([(MARK_CLUSTER_NAME.to_string(), name), (MARK_CLUSTER_UID.to_string(), uid)].into()),
                    ..Default::default()
                };
                match marks.create(&PostParams::default(), &mark).await {
                    Ok(_) => Ok(()),
                    // Another platform marked it between our read and write.
                    Err(kube::Error::Api(s)) if s.code == 409 => Err(StepError::new(already_managed_message(""))),
                    Err(e) => Err(err("writing", e)),
                }
            }
        }
    }
}

struct CleanMark;

#[async_trait]
impl Handler<Cluster, ClusterContext> for CleanMark {
    async fn run(&self, cluster: &mut Cluster, ctx: &ClusterContext) -> Result<(), StepError> {
        let marked = cluster.condition(ENSURE_CREATE_CLUSTER_MARK).is_some_and(|c| c.status == TRUE);
        let client = match ctx.business() {
            Ok(c) => c,
            // Never imported (no usable credential or address): there is no mark of ours.
            Err(_) if !marked => return Ok(()),
            Err(e) => return Err(e),
        };
        let marks: Api<ConfigMap> = Api::namespaced(client.clone(), MARK_NAMESPACE);
        let mark = match marks.get_opt(MARK_NAME).await {
            Ok(m) => m,
            // A cluster that never answered holds no mark of ours.
            Err(_) if !marked => return Ok(()),
            Err(e) => {
                return Err(StepError::new(format!(
                    "cannot reach {} to remove the mark {MARK_NAMESPACE}/{MARK_NAME}: {e}",
                    ctx.url
                )));
            }
        };
        let Some(mark) = mark else { return Ok(()) };
        // Only this cluster's own mark: a refused duplicate must not unmark the real owner.
        if mark.data.unwrap_or_default().get(MARK_CLUSTER_UID).is_none_or(|u| *u != uid_of(cluster)) {
            return Ok(());
        }
        match marks.delete(MARK_NAME, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(StepError::new(format!("removing the mark {MARK_NAMESPACE}/{MARK_NAME}: {e}"))),
        }
    }
}
