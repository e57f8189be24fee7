//! The workload controllers: Deployments roll out through one ReplicaSet per pod template,
//! ReplicaSets keep their count of pods, DaemonSets keep one pod per admitting Ready node, and
//! StatefulSets keep ordinal pods `<name>-<i>`; each reports its status as Kubernetes does.
//! Every pass reads the current state from the API and makes only the writes that are missing,
//! so repeating it changes nothing.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use futures::StreamExt;
use k8s_openapi::{
    api::{apps::v1 as apps, core::v1 as core},
    apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta},
};
use kube::{
    Api,
    api::{DeleteParams, ListParams, Patch, PostParams},
    runtime::{Controller, controller::Action, watcher},
};

use super::{Error, Shared, changes, is_status, merge_params, model, patch_status};

fn error_policy<K>(_: Arc<K>, error: &Error, _: Arc<Shared>) -> Action {
    tracing::debug!(%error, "reconcile failed; retrying");
    Action::requeue(Duration::from_secs(1))
}

/// The active pods of a namespace that match `selector` and are controlled by `uid`.
async fn owned_pods(shared: &Shared, ns: &str, selector: &LabelSelector, uid: &str) -> Result<Vec<core::Pod>, Error> {
    let api: Api<core::Pod> = Api::namespaced(shared.client.clone(), ns);
    let list = api.list(&ListParams::default().labels(&model::selector_string(selector))).await?;
    Ok(list.items.into_iter().filter(|p| model::controlled_by(&p.metadata, uid) && model::pod_active(p)).collect())
}

async fn create_pod(api: &Api<core::Pod>, pod: &core::Pod) -> Result<Option<core::Pod>, Error> {
    match api.create(&PostParams::default(), pod).await {
        Ok(p) => Ok(Some(p)),
        Err(e) if is_status(&e, 409) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn delete_pod(api: &Api<core::Pod>, pod: &core::Pod) -> Result<(), Error> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    match api.delete(&name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(e) if is_status(&e, 404) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn names(meta: &ObjectMeta) -> (String, String, String) {
    (
        meta.name.clone().unwrap_or_default(),
        meta.namespace.clone().unwrap_or_default(),
        meta.uid.clone().unwrap_or_default(),
    )
}

// ----- Deployments ------------------------------------------------------------------------

pub(crate) async fn deployments(shared: Arc<Shared>) {
    let client = shared.client.clone();
    Controller::new(Api::<apps::Deployment>::all(client.clone()), watcher::Config::default())
        .owns(Api::<apps::ReplicaSet>::all(client), watcher::Config::default())
        .run(reconcile_deployment, error_policy, shared)
        .for_each(|_| async {})
        .await;
}

fn revision_of(meta: &ObjectMeta) -> i64 {
    meta.annotations.as_ref().and_then(|a| a.get(model::REVISION_ANNOTATION)).and_then(|r| r.parse().ok()).unwrap_or(0)
}

async fn reconcile_deployment(d: Arc<apps::Deployment>, shared: Arc<Shared>) -> Result<Action, Error> {
    if d.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let (name, ns, uid) = names(&d.metadata);
    let rs_api: Api<apps::ReplicaSet> = Api::namespaced(shared.client.clone(), &ns);
    let listed = rs_api.list(&ListParams::default().labels(&model::selector_string(&d.spec.selector))).await?;
    let mut sets: Vec<apps::ReplicaSet> =
        listed.items.into_iter().filter(|rs| model::controlled_by(&rs.metadata, &uid)).collect();
    let desired = d.spec.replicas.unwrap_or(1);
    let hash = model::template_hash(&d.spec.template);
    let new_name = format!("{name}-{hash}");
    let max_revision = sets.iter().map(|rs| revision_of(&rs.metadata)).max().unwrap_or(0);

    // The ReplicaSet of the current template, at the desired size.
    let revision = match sets.iter_mut().find(|rs| rs.metadata.name.as_deref() == Some(new_name.as_str())) {
        Some(rs) => {
            let mut revision = revision_of(&rs.metadata);
            if revision < max_revision {
                // A rollback to an older template makes its ReplicaSet the newest revision.
                revision = max_revision + 1;
            }
            let annotations = serde_json::json!({ model::REVISION_ANNOTATION: revision.to_string(), "deployment.kubernetes.io/desired-replicas": desired.to_string() });
            if rs.spec.replicas != Some(desired) || revision != revision_of(&rs.metadata) {
                *rs = rs_api.patch(&new_name, &merge_params(), &Patch::Merge(serde_json::json!({ "metadata": { "annotations": annotations }, "spec": { "replicas": desired } }))).await?;
            }
            revision
        }
        None => {
            let revision = max_revision + 1;
            let mut template = d.spec.template.clone();
            template
                .metadata
                .get_or_insert_with(Default::default)
                .labels
                .get_or_insert_with(Default::default)
                .insert(model::POD_TEMPLATE_HASH.into(), hash.clone());
            let mut selector = d.spec.selector.clone();
            selector
                .match_labels
                .get_or_insert_with(Default::default)
                .insert(model::POD_TEMPLATE_HASH.into(), hash.clone());
            let mut labels = d.spec.template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
            labels.insert(model::POD_TEMPLATE_HASH.into(), hash.clone());
            let rs = apps::ReplicaSet {
                metadata: ObjectMeta {
                    name: Some(new_name.clone()),
                    namespace: Some(ns.clone()),
                    labels: Some(labels),
                    annotations: Some(BTreeMap::from([
                        (model::REVISION_ANNOTATION.to_string(), revision.to_string()),
                        ("deployment.kubernetes.io/desired-replicas".to_string(), desired.to_string()),
                    ])),
                    owner_references: Some(vec![model::controller_ref(d.as_ref())]),
                    ..Default::default()
                },
                spec: apps::ReplicaSetSpec {
                    replicas: Some(desired),
                    selector,
                    template: Some(template),
                    min_ready_seconds: d.spec.min_ready_seconds,
                },
                status: None,
            };
            match rs_api.create(&PostParams::default(), &rs).await {
                Ok(created) => sets.push(created),
                // Created by an earlier pass that this list did not see yet: look again.
                Err(e) if is_status(&e, 409) => {
                    return Ok(Action::requeue(Duration::from_millis(200)));
                }
                Err(e) => return Err(e.into()),
            }
            revision
        }
    };

    // Old ReplicaSets go to zero once the new one is available (Recreate: at once).
    let recreate = d.spec.strategy.as_ref().and_then(|s| s.type_.as_deref()) == Some("Recreate");
    let new_available = sets
        .iter()
        .find(|rs| rs.metadata.name.as_deref() == Some(new_name.as_str()))
        .and_then(|rs| rs.status.as_ref())
        .and_then(|s| s.available_replicas)
        .unwrap_or(0);
    for rs in sets.iter_mut().filter(|rs| rs.metadata.name.as_deref() != Some(new_name.as_str())) {
        if rs.spec.replicas.unwrap_or(0) > 0 && (recreate || new_available >= desired) {
            let rs_name = rs.metadata.name.clone().unwrap_or_default();
            *rs = rs_api
                .patch(&rs_name, &merge_params(), &Patch::Merge(serde_json::json!({ "spec": { "replicas": 0 } })))
                .await?;
        }
    }

    // Keep revisionHistoryLimit empty old ReplicaSets.
    let limit = d.spec.revision_history_limit.unwrap_or(10).max(0) as usize;
    let mut idle: Vec<&apps::ReplicaSet> = sets
        .iter()
        .filter(|rs| rs.metadata.name.as_deref() != Some(new_name.as_str()))
        .filter(|rs| rs.spec.replicas == Some(0) && rs.status.as_ref().is_none_or(|s| s.replicas == 0))
        .collect();
    idle.sort_by_key(|rs| revision_of(&rs.metadata));
    if idle.len() > limit {
        for rs in &idle[..idle.len() - limit] {
            let rs_name = rs.metadata.name.clone().unwrap_or_default();
            match rs_api.delete(&rs_name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if is_status(&e, 404) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    let new_rs = sets.iter().find(|rs| rs.metadata.name.as_deref() == Some(new_name.as_str()));
    let all: Vec<&apps::ReplicaSet> = sets.iter().collect();
    let status = model::deployment_status(&d, new_rs, &all, &model::now());
    let api: Api<apps::Deployment> = Api::namespaced(shared.client.clone(), &ns);
    if revision_of(&d.metadata) != revision {
        api.patch(&name, &merge_params(), &Patch::Merge(serde_json::json!({ "metadata": { "annotations": { model::REVISION_ANNOTATION: revision.to_string() } } }))).await?;
    }
    if d.status.as_ref().is_none_or(|old| model::differs(old, &status)) {
        patch_status(&api, &name, &status).await?;
    }
    Ok(Action::await_change())
}

// ----- ReplicaSets ------------------------------------------------------------------------

pub(crate) async fn replica_sets(shared: Arc<Shared>) {
    let client = shared.client.clone();
    Controller::new(Api::<apps::ReplicaSet>::all(client.clone()), watcher::Config::default())
        .owns(Api::<core::Pod>::all(client), watcher::Config::default())
        .run(reconcile_replica_set, error_policy, shared)
        .for_each(|_| async {})
        .await;
}

async fn reconcile_replica_set(rs: Arc<apps::ReplicaSet>, shared: Arc<Shared>) -> Result<Action, Error> {
    if rs.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let Some(template) = rs.spec.template.as_ref() else {
        return Ok(Action::await_change());
    };
    let (name, ns, uid) = names(&rs.metadata);
    let pods_api: Api<core::Pod> = Api::namespaced(shared.client.clone(), &ns);
    let mut pods = owned_pods(&shared, &ns, &rs.spec.selector, &uid).await?;
    let desired = rs.spec.replicas.unwrap_or(1).max(0) as usize;
    if pods.len() < desired {
        for _ in pods.len()..desired {
            let mut pod = model::pod_from_template(template, &ns, model::controller_ref(rs.as_ref()), &[]);
            pod.metadata.generate_name = Some(format!("{name}-"));
            if let Some(created) = create_pod(&pods_api, &pod).await? {
                pods.push(created);
            }
        }
    } else if pods.len() > desired {
        pods.sort_by_key(model::deletion_rank);
        let excess = pods.len() - desired;
        for pod in pods.drain(..excess) {
            delete_pod(&pods_api, &pod).await?;
        }
    }
    let refs: Vec<&core::Pod> = pods.iter().collect();
    let status = model::replica_set_status(&rs, &refs);
    if rs.status.as_ref().is_none_or(|old| model::differs(old, &status)) {
        let api: Api<apps::ReplicaSet> = Api::namespaced(shared.client.clone(), &ns);
        patch_status(&api, &name, &status).await?;
    }
    Ok(Action::await_change())
}

// ----- DaemonSets -------------------------------------------------------------------------

pub(crate) async fn daemon_sets(shared: Arc<Shared>) {
    let client = shared.client.clone();
    let node_changes = changes(shared.ready_nodes.subscribe());
    Controller::new(Api::<apps::DaemonSet>::all(client.clone()), watcher::Config::default())
        .owns(Api::<core::Pod>::all(client), watcher::Config::default())
        .reconcile_all_on(node_changes)
        .run(reconcile_daemon_set, error_policy, shared)
        .for_each(|_| async {})
        .await;
}

fn label(pod: &core::Pod, key: &str) -> Option<String> {
    pod.metadata.labels.as_ref().and_then(|l| l.get(key)).cloned()
}

async fn reconcile_daemon_set(ds: Arc<apps::DaemonSet>, shared: Arc<Shared>) -> Result<Action, Error> {
    if ds.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let (name, ns, uid) = names(&ds.metadata);
    let template = &ds.spec.template;
    let hash = model::template_hash(template);
    let ready = shared.ready_nodes.borrow().clone();
    let all_nodes = shared.nodes.state();
    let wanted: Vec<String> = ready
        .into_iter()
        .filter(|n| {
            all_nodes
                .iter()
                .find(|node| node.metadata.name.as_deref() == Some(n.as_str()))
                .is_some_and(|node| model::node_selected(template, node))
        })
        .collect();
    let pods_api: Api<core::Pod> = Api::namespaced(shared.client.clone(), &ns);
    let pods = owned_pods(&shared, &ns, &ds.spec.selector, &uid).await?;
    let node_of = |p: &core::Pod| p.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
    let mut kept: BTreeMap<String, core::Pod> = BTreeMap::new();
    for pod in pods {
        let node = node_of(&pod);
        if wanted.contains(&node) && !kept.contains_key(&node) {
            kept.insert(node, pod);
        } else {
            // On a node that should not run it, or a second pod on one node.
            delete_pod(&pods_api, &pod).await?;
        }
    }
    let generation = ds.metadata.generation.unwrap_or(1).to_string();
    for node in &wanted {
        if kept.contains_key(node) {
            continue;
        }
        let mut pod = model::pod_from_template(
            template,
            &ns,
            model::controller_ref(ds.as_ref()),
            &[(model::CONTROLLER_REVISION_HASH, &hash), ("pod-template-generation", &generation)],
        );
        pod.metadata.generate_name = Some(format!("{name}-"));
        pod.spec.get_or_insert_with(Default::default).node_name = Some(node.clone());
        if let Some(created) = create_pod(&pods_api, &pod).await? {
            kept.insert(node.clone(), created);
        }
    }
    // Rolling update: replace one outdated pod at a time while the rest are ready.
    let outdated: Vec<String> = kept
        .iter()
        .filter(|(_, p)| label(p, model::CONTROLLER_REVISION_HASH).as_deref() != Some(hash.as_str()))
        .map(|(n, _)| n.clone())
        .collect();
    if let Some(node) = outdated.first()
        && kept.values().all(model::pod_ready)
        && let Some(pod) = kept.remove(node)
    {
        delete_pod(&pods_api, &pod).await?;
    }
    let pods: Vec<&core::Pod> = kept.values().collect();
    let c = model::count(&pods);
    let updated =
        pods.iter().filter(|p| label(p, model::CONTROLLER_REVISION_HASH).as_deref() == Some(hash.as_str())).count()
            as i32;
    let desired = wanted.len() as i32;
    let status = apps::DaemonSetStatus {
        desired_number_scheduled: desired,
        current_number_scheduled: c.total,
        number_ready: c.ready,
        number_available: Some(c.ready),
        number_unavailable: Some((desired - c.ready).max(0)),
        number_misscheduled: 0,
        updated_number_scheduled: Some(updated),
        observed_generation: ds.metadata.generation,
        collision_count: None,
        conditions: None,
    };
    if ds.status.as_ref().is_none_or(|old| model::differs(old, &status)) {
        let api: Api<apps::DaemonSet> = Api::namespaced(shared.client.clone(), &ns);
        patch_status(&api, &name, &status).await?;
    }
    Ok(Action::await_change())
}

// ----- StatefulSets -----------------------------------------------------------------------

pub(crate) async fn stateful_sets(shared: Arc<Shared>) {
    let client = shared.client.clone();
    Controller::new(Api::<apps::StatefulSet>::all(client.clone()), watcher::Config::default())
        .owns(Api::<core::Pod>::all(client), watcher::Config::default())
        .run(reconcile_stateful_set, error_policy, shared)
        .for_each(|_| async {})
        .await;
}

/// The ordinal of a StatefulSet pod (`web-2` of `web` is 2).
pub fn ordinal(set: &str, pod: &str) -> Option<usize> {
    pod.strip_prefix(set)?.strip_prefix('-')?.parse().ok()
}

async fn reconcile_stateful_set(sts: Arc<apps::StatefulSet>, shared: Arc<Shared>) -> Result<Action, Error> {
    if sts.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let (name, ns, uid) = names(&sts.metadata);
    let template = &sts.spec.template;
    let hash = model::template_hash(template);
    let revision = format!("{name}-{hash}");
    let desired = sts.spec.replicas.unwrap_or(1).max(0) as usize;
    let ordered = sts.spec.pod_management_policy.as_deref() != Some("Parallel");
    let pods_api: Api<core::Pod> = Api::namespaced(shared.client.clone(), &ns);
    let mut pods: BTreeMap<usize, core::Pod> = BTreeMap::new();
    for pod in owned_pods(&shared, &ns, &sts.spec.selector, &uid).await? {
        if let Some(i) = pod.metadata.name.as_deref().and_then(|p| ordinal(&name, p)) {
            pods.insert(i, pod);
        }
    }
    // Scale down from the highest ordinal (one at a time when ordered).
    let extra: Vec<usize> = pods.keys().rev().copied().filter(|i| *i >= desired).collect();
    for i in extra.iter().take(if ordered { 1 } else { usize::MAX }) {
        if let Some(pod) = pods.remove(i) {
            delete_pod(&pods_api, &pod).await?;
        }
    }
    // Scale up in ordinal order; ordered sets wait for every lower ordinal to be ready.
    if extra.is_empty() {
        for i in 0..desired {
            if pods.contains_key(&i) {
                continue;
            }
            if ordered && !(0..i).all(|j| pods.get(&j).is_some_and(model::pod_ready)) {
                break;
            }
            let pod_name = format!("{name}-{i}");
            let index = i.to_string();
            let mut pod = model::pod_from_template(
                template,
                &ns,
                model::controller_ref(sts.as_ref()),
                &[
                    (model::CONTROLLER_REVISION_HASH, &revision),
                    ("statefulset.kubernetes.io/pod-name", &pod_name),
                    ("apps.kubernetes.io/pod-index", &index),
                ],
            );
            pod.metadata.name = Some(pod_name.clone());
            let spec = pod.spec.get_or_insert_with(Default::default);
            spec.hostname = Some(pod_name);
            if !sts.spec.service_name.as_deref().unwrap_or("").is_empty() {
                spec.subdomain = sts.spec.service_name.clone();
            }
            if let Some(created) = create_pod(&pods_api, &pod).await? {
                pods.insert(i, created);
            }
            if ordered {
                break;
            }
        }
        // Rolling update from the highest ordinal, one pod at a time while all are ready.
        if pods.len() == desired && pods.values().all(model::pod_ready) {
            let outdated = pods
                .iter()
                .rev()
                .find(|(_, p)| label(p, model::CONTROLLER_REVISION_HASH).as_deref() != Some(revision.as_str()))
                .map(|(i, _)| *i);
            if let Some(pod) = outdated.and_then(|i| pods.remove(&i)) {
                delete_pod(&pods_api, &pod).await?;
            }
        }
    }
    let list: Vec<&core::Pod> = pods.values().collect();
    let c = model::count(&list);
    let updated =
        list.iter().filter(|p| label(p, model::CONTROLLER_REVISION_HASH).as_deref() == Some(revision.as_str())).count()
            as i32;
    let status = apps::StatefulSetStatus {
        replicas: c.total,
        ready_replicas: Some(c.ready),
        available_replicas: Some(c.ready),
        current_replicas: Some(updated),
        updated_replicas: Some(updated),
        current_revision: Some(revision.clone()),
        update_revision: Some(revision),
        observed_generation: sts.metadata.generation,
        collision_count: Some(0),
        conditions: None,
    };
    if sts.status.as_ref().is_none_or(|old| model::differs(old, &status)) {
        let api: Api<apps::StatefulSet> = Api::namespaced(shared.client.clone(), &ns);
        patch_status(&api, &name, &status).await?;
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ordinals_come_from_pod_names() {
        assert_eq!(super::ordinal("web", "web-0"), Some(0));
        assert_eq!(super::ordinal("web", "web-12"), Some(12));
        assert_eq!(super::ordinal("web", "web-x"), None);
        assert_eq!(super::ordinal("web", "webby-1"), None);
    }
}
