//! A simple garbage collector: objects whose owners (by `ownerReferences` uid) are all gone are
//! deleted — ReplicaSets of a deleted Deployment, pods of a deleted ReplicaSet, DaemonSet or
//! StatefulSet, node Leases of a deleted Node. It sweeps when an owner is deleted (cascading
//! through the deletions it makes itself) and every `gc_period`, which also catches deletions
//! a restarted watch missed.

use std::{collections::HashSet, sync::Arc};

use futures::{FutureExt, Stream, StreamExt};
use k8s_openapi::api::{apps::v1 as apps, coordination::v1 as coordination, core::v1 as core};
use kube::{
    Api, Resource,
    api::{DeleteParams, ListParams},
    runtime::{WatchStreamExt, watcher},
};
use serde::de::DeserializeOwned;

use super::{Error, Shared, is_status};

/// The owner kinds this collector knows; references to other kinds keep their dependents.
const OWNER_KINDS: &[&str] = &["Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Node"];

fn deletions<K>(api: Api<K>) -> impl Stream<Item = ()> + Send + 'static
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .filter_map(|e| async move { matches!(e, Ok(watcher::Event::Delete(_))).then_some(()) })
}

pub(crate) async fn run(shared: Arc<Shared>) {
    let c = &shared.client;
    let mut events = futures::stream::select_all([
        deletions(Api::<apps::Deployment>::all(c.clone())).boxed(),
        deletions(Api::<apps::ReplicaSet>::all(c.clone())).boxed(),
        deletions(Api::<apps::DaemonSet>::all(c.clone())).boxed(),
        deletions(Api::<apps::StatefulSet>::all(c.clone())).boxed(),
        deletions(Api::<core::Node>::all(c.clone())).boxed(),
    ]);
    let mut tick = tokio::time::interval(shared.config.gc_period.max(std::time::Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            e = events.next() => {
                if e.is_none() {
                    return;
                }
                // Several deletions at once need one sweep.
                while let Some(Some(_)) = events.next().now_or_never() {}
            }
        }
        if let Err(e) = sweep(&shared).await {
            tracing::debug!(error = %e, "garbage collection sweep failed");
        }
    }
}

async fn uids<K>(api: Api<K>) -> Result<Vec<String>, Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    Ok(api.list(&ListParams::default()).await?.items.into_iter().filter_map(|o| o.meta().uid.clone()).collect())
}

/// Whether an object's owners are all known kinds and all gone.
fn orphaned(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta, live: &HashSet<String>) -> bool {
    let refs = meta.owner_references.as_deref().unwrap_or(&[]);
    !refs.is_empty()
        && meta.deletion_timestamp.is_none()
        && refs.iter().all(|r| OWNER_KINDS.contains(&r.kind.as_str()) && !live.contains(&r.uid))
}

async fn collect<K>(client: &kube::Client, api: Api<K>, live: &HashSet<String>) -> Result<(), Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    for obj in api.list(&ListParams::default()).await?.items {
        let meta = obj.meta();
        if !orphaned(meta, live) {
            continue;
        }
        let (Some(name), Some(ns)) = (meta.name.clone(), meta.namespace.clone()) else {
            continue;
        };
        let scoped: Api<K> = Api::namespaced(client.clone(), &ns);
        match scoped.delete(&name, &DeleteParams::background()).await {
            Ok(_) => tracing::debug!(%name, "collected an orphan"),
            Err(e) if is_status(&e, 404) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

async fn sweep(shared: &Shared) -> Result<(), Error> {
    let c = &shared.client;
    let mut live = HashSet::new();
    live.extend(uids(Api::<apps::Deployment>::all(c.clone())).await?);
    live.extend(uids(Api::<apps::ReplicaSet>::all(c.clone())).await?);
    live.extend(uids(Api::<apps::DaemonSet>::all(c.clone())).await?);
    live.extend(uids(Api::<apps::StatefulSet>::all(c.clone())).await?);
    live.extend(uids(Api::<core::Node>::all(c.clone())).await?);
    collect(c, Api::<apps::ReplicaSet>::all(c.clone()), &live).await?;
    collect(c, Api::<core::Pod>::all(c.clone()), &live).await?;
    collect(c, Api::<coordination::Lease>::namespaced(c.clone(), "kube-node-lease"), &live).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

    use super::*;

    fn owned_by(kind: &str, uid: &str) -> ObjectMeta {
        ObjectMeta {
            owner_references: Some(vec![OwnerReference { kind: kind.into(), uid: uid.into(), ..Default::default() }]),
            ..Default::default()
        }
    }

    #[test]
    fn only_objects_whose_known_owners_are_all_gone_are_orphans() {
        let live: HashSet<String> = ["alive".to_string()].into();
        assert!(orphaned(&owned_by("ReplicaSet", "gone"), &live));
        assert!(!orphaned(&owned_by("ReplicaSet", "alive"), &live));
        assert!(!orphaned(&owned_by("Job", "gone"), &live), "unknown owner kinds keep their dependents");
        assert!(!orphaned(&ObjectMeta::default(), &live));
        let mut two = owned_by("ReplicaSet", "gone");
        two.owner_references.as_mut().unwrap().push(OwnerReference {
            kind: "DaemonSet".into(),
            uid: "alive".into(),
            ..Default::default()
        });
        assert!(!orphaned(&two, &live), "one live owner keeps it");
    }
}
