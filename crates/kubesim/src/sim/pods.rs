//! The simulated scheduler and kubelet: a pod without a node is bound round-robin to a Ready
//! node its nodeSelector admits; a pod on one of the simulated nodes is reported Running at once,
//! its containers started and ready, with the node's IP and a pod IP from the node's pod CIDR.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use futures::StreamExt;
use k8s_openapi::api::core::v1 as core;
use kube::{
    Api,
    api::Patch,
    runtime::{Controller, controller::Action, watcher},
};

use super::{Error, Shared, merge_params, model, patch_status};

pub(crate) async fn run(shared: Arc<Shared>) {
    let api: Api<core::Pod> = Api::all(shared.client.clone());
    Controller::new(api, watcher::Config::default())
        .run(reconcile, |_, _: &Error, _| Action::requeue(Duration::from_secs(2)), shared)
        .for_each(|_| async {})
        .await;
}

/// The Ready nodes that admit the pod, in name order.
fn candidates(shared: &Shared, pod: &core::Pod) -> Vec<String> {
    let ready = shared.ready_nodes.borrow().clone();
    let selector = pod.spec.as_ref().and_then(|s| s.node_selector.clone()).unwrap_or_default();
    if selector.is_empty() {
        return ready;
    }
    let nodes = shared.nodes.state();
    ready
        .into_iter()
        .filter(|name| {
            nodes.iter().find(|n| n.metadata.name.as_deref() == Some(name.as_str())).is_some_and(|n| {
                let labels = n.metadata.labels.clone().unwrap_or_default();
                selector.iter().all(|(k, v)| labels.get(k) == Some(v))
            })
        })
        .collect()
}

async fn reconcile(pod: Arc<core::Pod>, shared: Arc<Shared>) -> Result<Action, Error> {
    if pod.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let name = pod.metadata.name.clone().unwrap_or_default();
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let api: Api<core::Pod> = Api::namespaced(shared.client.clone(), &ns);
    let mut node = pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
    if node.is_empty() {
        let nodes = candidates(&shared, &pod);
        if nodes.is_empty() {
            // Unschedulable for now; nodes may come.
            return Ok(Action::requeue(Duration::from_secs(2)));
        }
        node = nodes[shared.next_node.fetch_add(1, Ordering::Relaxed) % nodes.len()].clone();
        api.patch(&name, &merge_params(), &Patch::Merge(serde_json::json!({ "spec": { "nodeName": node } }))).await?;
    }
    let Some(index) = model::node_index(&shared.config, &node) else {
        // A node this simulator does not run: its kubelet (if any) owns the pod's status.
        return Ok(Action::await_change());
    };
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("");
    if phase == "Running" || phase == "Succeeded" || phase == "Failed" {
        return Ok(Action::await_change());
    }
    let seq = shared.pod_seq.fetch_add(1, Ordering::Relaxed);
    let status = model::running_status(&pod, &model::node_ip(index), &model::pod_ip(index, seq), &model::now());
    patch_status(&api, &name, &status).await?;
    Ok(Action::await_change())
}
