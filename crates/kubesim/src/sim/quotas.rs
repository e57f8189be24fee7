//! The quota controller: every ResourceQuota reports in `status.hard` its `spec.hard`, and in
//! `status.used` what the namespace's running pods take of it ([`model::quota_used`]), kept up
//! to date as pods come, change and go.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use k8s_openapi::api::core::v1 as core;
use kube::{
    Api,
    api::ListParams,
    runtime::{Controller, controller::Action, reflector::ObjectRef, watcher},
};

use super::{Error, Shared, model, patch_status};

pub(crate) async fn run(shared: Arc<Shared>) {
    let client = shared.client.clone();
    let controller = Controller::new(Api::<core::ResourceQuota>::all(client.clone()), watcher::Config::default());
    let quotas = controller.store();
    controller
        // A pod concerns every quota of its namespace.
        .watches(Api::<core::Pod>::all(client), watcher::Config::default(), move |pod: core::Pod| {
            let ns = pod.metadata.namespace.clone().unwrap_or_default();
            quotas
                .state()
                .iter()
                .filter(|q| q.metadata.namespace.as_deref() == Some(ns.as_str()))
                .map(|q| ObjectRef::from_obj(q.as_ref()))
                .collect::<Vec<_>>()
        })
        .run(reconcile, |_, _: &Error, _| Action::requeue(Duration::from_secs(1)), shared)
        .for_each(|_| async {})
        .await;
}

async fn reconcile(quota: Arc<core::ResourceQuota>, shared: Arc<Shared>) -> Result<Action, Error> {
    if quota.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let name = quota.metadata.name.clone().unwrap_or_default();
    let ns = quota.metadata.namespace.clone().unwrap_or_default();
    let pods: Api<core::Pod> = Api::namespaced(shared.client.clone(), &ns);
    let pods = pods.list(&ListParams::default()).await?.items;
    let hard = quota.spec.as_ref().and_then(|s| s.hard.clone()).unwrap_or_default();
    let status = core::ResourceQuotaStatus { used: Some(model::quota_used(&hard, &pods)), hard: Some(hard) };
    if quota.status.as_ref().is_none_or(|old| model::differs(old, &status)) {
        let api: Api<core::ResourceQuota> = Api::namespaced(shared.client.clone(), &ns);
        patch_status(&api, &name, &status).await?;
    }
    Ok(Action::await_change())
}
