//! Simulated kubelets: node registration, Ready status with capacity, Lease and status
//! heartbeats, the shared view of nodes; and the per-namespace objects a cluster's controllers
//! create (the `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap).

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use k8s_openapi::{
    api::{coordination::v1 as coordination, core::v1 as core},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::Timestamp,
};
use kube::{
    Api,
    api::Patch,
    runtime::{Controller, WatchStreamExt, controller::Action, reflector, watcher},
};

use super::{Error, Shared, create_if_missing, is_status, merge_params, model, patch_status};

/// Keeps the shared node view current and publishes the set of Ready nodes when it changes.
pub(crate) async fn reflect(shared: Arc<Shared>, writer: reflector::store::Writer<core::Node>) {
    let api: Api<core::Node> = Api::all(shared.client.clone());
    let stream = reflector::reflector(writer, watcher::watcher(api, watcher::Config::default())).default_backoff();
    futures::pin_mut!(stream);
    while let Some(event) = stream.next().await {
        if let Err(e) = event {
            tracing::debug!(error = %e, "node watch failed; retrying");
            continue;
        }
        let mut names: Vec<String> = shared
            .nodes
            .state()
            .iter()
            .filter(|n| model::node_schedulable(n))
            .filter_map(|n| n.metadata.name.clone())
            .collect();
        names.sort();
        shared.ready_nodes.send_if_modified(|current| {
            if *current != names {
                *current = names;
                true
            } else {
                false
            }
        });
    }
}

/// Registers node `index` (or adopts it after a restart) and reports it Ready.
pub(crate) async fn register(shared: &Shared, index: usize) -> Result<(), Error> {
    let api: Api<core::Node> = Api::all(shared.client.clone());
    let node = model::node(&shared.config, index);
    let name = node.metadata.name.clone().unwrap_or_default();
    create_if_missing(&api, &node).await?;
    report_status(shared, &api, index, &name).await?;
    renew_lease(shared, &api, &name).await
}

async fn report_status(shared: &Shared, api: &Api<core::Node>, index: usize, name: &str) -> Result<(), Error> {
    let current = api.get(name).await?;
    let status = model::node_status(&shared.config, index, current.status.as_ref(), &model::now());
    patch_status(api, name, &status).await?;
    Ok(())
}

fn lease_duration(shared: &Shared) -> i32 {
    // Kubelets renew every quarter of the lease's duration.
    (shared.config.lease_period.as_secs() * 4).clamp(1, i32::MAX as u64) as i32
}

async fn renew_lease(shared: &Shared, nodes: &Api<core::Node>, name: &str) -> Result<(), Error> {
    let leases: Api<coordination::Lease> = Api::namespaced(shared.client.clone(), "kube-node-lease");
    let now = Timestamp::now();
    let patch = serde_json::json!({ "spec": { "holderIdentity": name, "leaseDurationSeconds": lease_duration(shared), "renewTime": MicroTime(now) } });
    match leases.patch(name, &merge_params(), &Patch::Merge(&patch)).await {
        Ok(_) => Ok(()),
        Err(e) if is_status(&e, 404) => {
            let node = nodes.get(name).await?;
            create_if_missing(&leases, &model::node_lease(&node, &now, lease_duration(shared))).await?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// The node's heartbeats: Lease renewals every `lease_period`, status every `status_period`.
/// A node deleted by someone is registered again, as a kubelet would.
pub(crate) async fn heartbeat(shared: Arc<Shared>, index: usize) {
    let api: Api<core::Node> = Api::all(shared.client.clone());
    let name = model::node_name(&shared.config, index);
    let lease_period = shared.config.lease_period.max(Duration::from_millis(100));
    let mut lease_tick = tokio::time::interval_at(tokio::time::Instant::now() + lease_period, lease_period);
    let status_period = shared.config.status_period.max(Duration::from_millis(100));
    let mut status_tick = tokio::time::interval_at(tokio::time::Instant::now() + status_period, status_period);
    for tick in [&mut lease_tick, &mut status_tick] {
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    loop {
        let result = tokio::select! {
            _ = lease_tick.tick() => renew_lease(&shared, &api, &name).await,
            _ = status_tick.tick() => report_status(&shared, &api, index, &name).await,
        };
        match result {
            Ok(()) => {}
            Err(Error::Kube(e)) if is_status(&e, 404) => {
                if let Err(e) = register(&shared, index).await {
                    tracing::debug!(node = %name, error = %e, "registering the node again failed");
                }
            }
            Err(e) => tracing::debug!(node = %name, error = %e, "node heartbeat failed"),
        }
    }
}

/// Every namespace gets a `default` ServiceAccount and the cluster CA ConfigMap.
pub(crate) async fn namespaces(shared: Arc<Shared>) {
    let api: Api<core::Namespace> = Api::all(shared.client.clone());
    Controller::new(api, watcher::Config::default())
        .run(reconcile_namespace, |_, _: &Error, _| Action::requeue(Duration::from_secs(5)), shared)
        .for_each(|_| async {})
        .await;
}

async fn reconcile_namespace(ns: Arc<core::Namespace>, shared: Arc<Shared>) -> Result<Action, Error> {
    if ns.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let name = ns.metadata.name.clone().unwrap_or_default();
    let sas: Api<core::ServiceAccount> = Api::namespaced(shared.client.clone(), &name);
    let sa = core::ServiceAccount {
        metadata: ObjectMeta { name: Some("default".into()), ..Default::default() },
        ..Default::default()
    };
    create_if_missing(&sas, &sa).await?;
    if let Some(ca) = &shared.config.ca_pem {
        let cms: Api<core::ConfigMap> = Api::namespaced(shared.client.clone(), &name);
        let cm = core::ConfigMap {
            metadata: ObjectMeta { name: Some("kube-root-ca.crt".into()), ..Default::default() },
            data: Some([("ca.crt".to_string(), ca.clone())].into()),
            ..Default::default()
        };
        create_if_missing(&cms, &cm).await?;
    }
    Ok(Action::await_change())
}
