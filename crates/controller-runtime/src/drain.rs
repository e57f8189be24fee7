//! Taking pods off a node the way `kubectl drain` does, the one drain of the platform (Baremetal
//! scale-down and upgrades, the `clusters/{name}/drain` subresource): cordon, then evict through
//! the Eviction API so that PodDisruptionBudgets hold, falling back to deleting where a cluster
//! does not serve evictions. Pods of DaemonSets and static (mirror) pods stay: they would come
//! back at once.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::{
    Api, Client,
    api::{DeleteParams, EvictParams, ListParams, Patch, PatchParams},
};
use serde_json::json;

/// Cordons (`true`) or uncordons (`false`) a node.
pub async fn set_unschedulable(client: &Client, node: &str, value: bool) -> Result<(), kube::Error> {
    Api::<Node>::all(client.clone())
        .patch(node, &PatchParams::default(), &Patch::Merge(json!({"spec": {"unschedulable": value}})))
        .await
        .map(|_| ())
}

/// What became of a pod asked to leave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Eviction {
    /// Evicted or deleted (or already gone).
    Gone,
    /// A disruption budget forbids it now (429): the server's reason. Try again later.
    Blocked(String),
}

/// Evicts `namespace/name`. A 404 or 405 on the eviction means the pod is gone or the cluster
/// has no eviction subresource: the pod is deleted then (404 again means gone).
pub async fn evict_pod(client: &Client, namespace: &str, name: &str) -> Result<Eviction, kube::Error> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    match api.evict(name, &EvictParams::default()).await {
        Ok(_) => Ok(Eviction::Gone),
        Err(kube::Error::Api(s)) if s.code == 429 => Ok(Eviction::Blocked(s.message.clone())),
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 405 => {
            match api.delete(name, &DeleteParams::default()).await {
                Ok(_) => Ok(Eviction::Gone),
                Err(kube::Error::Api(s)) if s.code == 404 => Ok(Eviction::Gone),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// Pods a drain leaves where they are: those of DaemonSets and static (mirror) pods, which
/// would come back at once.
pub fn stays_on_node(p: &Pod) -> bool {
    p.metadata.owner_references.iter().flatten().any(|o| o.kind == "DaemonSet")
        || p.metadata.annotations.as_ref().is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"))
}

/// How long a drain keeps at it.
#[derive(Clone, Copy, Debug)]
pub enum Wait {
    /// One pass: every pod asked once, what was refused reported (an API call answering now).
    Once,
    /// Until every pod is gone, asking again where a budget refused, failing after this long.
    Gone(Duration),
}

/// What a drain did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// `namespace/name` of the pods evicted (or deleted).
    pub evicted: Vec<String>,
    /// Pods left on purpose (DaemonSets, static pods).
    pub skipped: Vec<String>,
    /// Pods a disruption budget kept, with the cluster's reason (naming the budget).
    pub blocked: BTreeMap<String, String>,
    /// Pods whose eviction failed otherwise, with the error (only with [`Wait::Once`]).
    pub failed: BTreeMap<String, String>,
}

/// Why a drain failed.
#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    #[error("cordoning node {node}: {source}")]
    Cordon { node: String, source: kube::Error },
    #[error("listing the pods of node {node}: {source}")]
    List { node: String, source: kube::Error },
    #[error("evicting pod {pod} from node {node}: {source}")]
    Evict { node: String, pod: String, source: kube::Error },
    #[error("node {node}: pods still there after {}s: {}", .waited.as_secs(), .pods.join(", "))]
    Timeout { node: String, waited: Duration, pods: Vec<String> },
}

fn pod_id(p: &Pod) -> String {
    format!(
        "{}/{}",
        p.metadata.namespace.as_deref().unwrap_or_default(),
        p.metadata.name.as_deref().unwrap_or_default()
    )
}

/// Cordons `node` and evicts its pods (see the module doc).
pub async fn drain(client: &Client, node: &str, wait: Wait) -> Result<DrainReport, DrainError> {
    set_unschedulable(client, node, true).await.map_err(|source| DrainError::Cordon { node: node.into(), source })?;
    let pods: Api<Pod> = Api::all(client.clone());
    let started = Instant::now();
    let mut report = DrainReport::default();
    loop {
        let on_node = pods
            .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
            .await
            .map_err(|source| DrainError::List { node: node.into(), source })?;
        let (stay, left): (Vec<Pod>, Vec<Pod>) = on_node.items.into_iter().partition(stays_on_node);
        report.skipped = stay.iter().map(pod_id).collect();
        if left.is_empty() {
            return Ok(report);
        }
        if let Wait::Gone(timeout) = wait
            && started.elapsed() >= timeout
        {
            let pods = left
                .iter()
                .map(pod_id)
                .map(|id| match report.blocked.get(&id) {
                    Some(why) => format!("{id} ({why})"),
                    None => id,
                })
                .collect();
            return Err(DrainError::Timeout { node: node.into(), waited: timeout, pods });
        }
        report.blocked.clear();
        for p in left.iter().filter(|p| p.metadata.deletion_timestamp.is_none()) {
            let id = pod_id(p);
            let (ns, name) =
                (p.metadata.namespace.as_deref().unwrap_or_default(), p.metadata.name.as_deref().unwrap_or_default());
            match evict_pod(client, ns, name).await {
                Ok(Eviction::Gone) => {
                    if !report.evicted.contains(&id) {
                        report.evicted.push(id);
                    }
                }
                Ok(Eviction::Blocked(why)) => {
                    report.blocked.insert(id, why);
                }
                Err(e) if matches!(wait, Wait::Once) => {
                    report.failed.insert(id, e.to_string());
                }
                Err(source) => return Err(DrainError::Evict { node: node.into(), pod: id, source }),
            }
        }
        if matches!(wait, Wait::Once) {
            return Ok(report);
        }
        // A refused eviction is asked again less often: the budget changes only as pods move.
        tokio::time::sleep(Duration::from_millis(if report.blocked.is_empty() { 500 } else { 2000 })).await;
    }
}
