//! Taking pods off a node the way `kubectl drain` does: through the Eviction API, so that
//! PodDisruptionBudgets are honoured, falling back to deleting where a cluster does not serve
//! evictions.

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::{
    Api, Client,
    api::{DeleteParams, EvictParams, Patch, PatchParams},
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
