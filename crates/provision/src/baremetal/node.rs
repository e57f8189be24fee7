//! Nodes in the business cluster, through its API: cordon, drain (the platform's one drain,
//! `controller_runtime::drain`, honouring PodDisruptionBudgets), deletion and the wait for Ready.

use std::time::{Duration, Instant};

use controller_runtime::drain;
use k8s_openapi::api::core::v1::Node;
use kube::{Api, Client, api::DeleteParams};
use platform::{
    engine::StepError,
    machine::{find_node, node_ready},
};

/// Marks a node (un)schedulable.
pub(super) async fn set_unschedulable(client: &Client, name: &str, value: bool) -> Result<(), StepError> {
    let what = if value { "cordoning" } else { "uncordoning" };
    drain::set_unschedulable(client, name, value).await.map_err(|e| StepError::new(format!("{what} node {name}: {e}")))
}

/// Cordons the node of `ip` and evicts its pods (but those of DaemonSets and static pods) as
/// `kubectl drain` does, honouring PodDisruptionBudgets: evictions a budget refuses are tried
/// again until `timeout`, and the pods must be gone by then. Returns the node's name, `None` if
/// it has no node.
pub(super) async fn drain_node(
    client: &Client,
    url: &str,
    ip: &str,
    timeout: Duration,
) -> Result<Option<String>, StepError> {
    let Some(node) =
        find_node(client, ip).await.map_err(|e| StepError::new(format!("listing the nodes of {url}: {e}")))?
    else {
        return Ok(None);
    };
    let name = node.metadata.name.clone().unwrap_or_default();
    drain::drain(client, &name, drain::Wait::Gone(timeout)).await.map_err(|e| StepError::new(e.to_string()))?;
    Ok(Some(name))
}

/// Deletes the Node object of `ip` (nothing to do when there is none).
pub(super) async fn delete_node(client: &Client, url: &str, ip: &str) -> Result<(), StepError> {
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
pub(super) fn kubelet_version(n: &Node) -> Option<&str> {
    n.status.as_ref()?.node_info.as_ref().map(|i| i.kubelet_version.as_str())
}

/// Waits up to `timeout` for the node of `ip` to be Ready (and to run kubelet `version`, when
/// given).
pub(super) async fn wait_node_ready(
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
