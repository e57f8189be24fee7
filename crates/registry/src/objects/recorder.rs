//! Push, pull and delete events of the registry recorded on its objects: tagged manifests become
//! Repository objects (tags, pull counts) and Namespaces' `status.repoCount`; chart uploads,
//! downloads and deletes become Chart objects (versions, pull counts) and ChartGroups'
//! `status.chartCount`. Each replica records the events of its own data plane, one at a time
//! and in order, through the in-process stores (pushes never wait on it).

use apimachinery::{ApiError, error::Reason};
use apiserver::store::{DeleteOptions, ListOptions, WriteOptions};
use controller_runtime::conflict::retry_on_conflict;
use serde_json::{Value, json};

use super::{
    Stores, list, name_of, rfc3339, str_at, system,
    visibility::{find_chart_group, find_namespace},
};
use crate::events::{Action, Event};

/// Pulls by this user agent (the platform's own tools) are not counted, as in TKEStack.
const INTERNAL_USER_AGENT: &str = "tke-registry-client";

/// Records events from `received` until every sender is gone.
pub async fn run(stores: Stores, registry: crate::Registry, mut received: tokio::sync::mpsc::UnboundedReceiver<Event>) {
    // One event at a time, in order: a tag's push is recorded before its delete.
    while let Some(e) = received.recv().await {
        let done = if e.action.is_chart() {
            record_chart(&stores, &registry, &e).await
        } else {
            record(&stores, &registry, &e).await
        };
        if let Err(err) = done {
            tracing::warn!(repository = %e.repository, tenant = %e.tenant, error = %err.message, "recording a registry event failed");
        }
    }
}

/// Bytes the pushed image takes: its config and layers, or for an index those of every
/// manifest it lists, each blob counted once. `None` when the manifest cannot be read (the tag
/// is then recorded without a size rather than not at all).
pub async fn image_size(registry: &crate::Registry, e: &Event) -> Option<u64> {
    let key = match registry.tenancy() {
        Some(t) => t.stored_name(&e.tenant, &e.repository).ok()?,
        None => e.repository.clone(),
    };
    let store = registry.store();
    let mut blobs = std::collections::HashSet::new();
    let mut pending = vec![e.digest.parse::<crate::digest::Digest>().ok()?];
    // An index lists manifests, which list blobs; nested indexes are followed a few levels only.
    for _ in 0..3 {
        let mut next = vec![];
        for d in pending.drain(..) {
            let (media_type, body) = store.get_manifest(&key, &d).await.ok()??;
            let m = crate::manifest::Manifest::parse(Some(&media_type), &body).ok()?;
            blobs.extend(m.blobs);
            next.extend(m.manifests);
        }
        if next.is_empty() {
            break;
        }
        pending = next;
    }
    let mut total = 0u64;
    for b in &blobs {
        total += store.blob_size(&key, b).await.ok()??;
    }
    Some(total)
}

/// Applies one registry event to the objects.
pub async fn record(stores: &Stores, registry: &crate::Registry, e: &Event) -> Result<(), ApiError> {
    if e.action.is_chart() {
        return Ok(());
    }
    if e.action == Action::Pull && e.user_agent.as_deref().is_some_and(|ua| ua.starts_with(INTERNAL_USER_AGENT)) {
        return Ok(());
    }
    // Only tagged manifests are repository history (an index's per-platform manifests are
    // pushed by digest), as in TKEStack.
    if e.tag.is_none() && e.action != Action::Delete {
        return Ok(());
    }
    let Some(ns) = find_namespace(stores, &e.tenant, &e.namespace).await? else {
        tracing::debug!(tenant = %e.tenant, namespace = %e.namespace, "registry event outside any Namespace object; not recorded");
        return Ok(());
    };
    let ns_object = name_of(&ns).to_string();
    let ctx = system(Some(&ns_object));
    let repos = &stores.repositories;
    let filter = [("spec.tenantID", e.tenant.as_str()), ("spec.name", e.name.as_str())];
    let time = rfc3339(e.time);
    let size = if e.action == Action::Push { image_size(registry, e).await.unwrap_or(0) } else { 0 };
    // Whether this event created the repository (the namespace's count changes).
    let created = retry_on_conflict(|| async {
        let existing = list(repos, &ctx, &filter).await?.into_iter().next();
        let Some(mut repo) = existing else {
            if e.action != Action::Push {
                return Ok(false);
            }
            let repo = json!({
                "apiVersion": api::registry::API_VERSION, "kind": "Repository",
                "metadata": {"generateName": api::registry::repository::GENERATE_NAME, "namespace": ns_object},
                "spec": {"name": e.name, "tenantID": e.tenant, "namespaceName": e.namespace,
                         "visibility": str_at(&ns, &["spec", "visibility"])},
                "status": {"pullCount": 0, "tags": [{"name": e.tag, "digest": e.digest, "timeCreated": time, "size": size}]},
            });
            repos.create(&ctx, repo, &WriteOptions::default()).await?;
            return Ok(true);
        };
        let status = repo.get_mut("status").filter(|s| s.is_object());
        let mut status = status.cloned().unwrap_or_else(|| json!({}));
        let mut tags: Vec<Value> = status.get("tags").and_then(Value::as_array).cloned().unwrap_or_default();
        match e.action {
            Action::Push => {
                let tag = e.tag.as_deref().unwrap_or("");
                tags.retain(|t| str_at(t, &["name"]) != tag);
                tags.push(json!({"name": tag, "digest": e.digest, "timeCreated": time, "size": size}));
            }
            Action::Pull => {
                let count = status.get("pullCount").and_then(Value::as_i64).unwrap_or(0);
                status["pullCount"] = json!(count + 1);
            }
            Action::Delete => match e.tag.as_deref() {
                Some(tag) => tags.retain(|t| str_at(t, &["name"]) != tag),
                None => tags.retain(|t| str_at(t, &["digest"]) != e.digest),
            },
            Action::ChartPush | Action::ChartPull | Action::ChartDelete => {}
        }
        status["tags"] = Value::Array(tags);
        repo["status"] = status;
        let name = name_of(&repo).to_string();
        repos.update(&ctx, &name, Some("status"), repo, &WriteOptions::default()).await.map(|_| false)
    })
    .await?;
    if created {
        update_repo_count(stores, &ns_object).await?;
    }
    Ok(())
}

/// Applies one chart event: the Chart object follows the stored versions of its chart (created
/// on the first upload, removed with the last version), downloads count as pulls, and the
/// chart group's `status.chartCount` follows its Chart objects.
pub async fn record_chart(stores: &Stores, registry: &crate::Registry, e: &Event) -> Result<(), ApiError> {
    if e.action == Action::ChartPull && e.user_agent.as_deref().is_some_and(|ua| ua.starts_with(INTERNAL_USER_AGENT)) {
        return Ok(());
    }
    let Some(group) = find_chart_group(stores, &e.tenant, &e.namespace).await? else {
        tracing::debug!(tenant = %e.tenant, group = %e.namespace, "chart event outside any ChartGroup object; not recorded");
        return Ok(());
    };
    let group_object = name_of(&group).to_string();
    let ctx = system(Some(&group_object));
    let charts = &stores.charts;
    let filter = [("spec.tenantID", e.tenant.as_str()), ("spec.name", e.name.as_str())];
    let versions: Vec<Value> = if e.action == Action::ChartPull {
        vec![]
    } else {
        let stored = registry
            .charts()
            .versions(&e.tenant, &e.namespace, &e.name)
            .await
            .map_err(|err| ApiError::internal(format!("reading chart {}: {}", e.name, err.message)))?;
        stored
            .iter()
            .map(|v| {
                json!({"version": v.version(), "chartSize": v.size, "timeCreated": v.created,
                       "description": v.description(), "appVersion": v.app_version(), "icon": v.icon()})
            })
            .collect()
    };
    // Whether the group gained or lost a chart.
    let counted = retry_on_conflict(|| async {
        let mut chart = match list(charts, &ctx, &filter).await?.into_iter().next() {
            Some(c) => c,
            None if e.action == Action::ChartPull || versions.is_empty() => return Ok(false),
            None => {
                let chart = json!({
                    "apiVersion": api::registry::API_VERSION, "kind": "Chart",
                    "metadata": {"generateName": api::registry::chart::GENERATE_NAME, "namespace": group_object},
                    "spec": {"name": e.name, "tenantID": e.tenant, "chartGroupName": e.namespace,
                             "visibility": str_at(&group, &["spec", "visibility"])},
                });
                let mut created = charts.create(&ctx, chart, &WriteOptions::default()).await?.object;
                created["status"] = json!({"pullCount": 0, "versions": versions, "phase": "Available"});
                let name = name_of(&created).to_string();
                charts.update(&ctx, &name, Some("status"), created, &WriteOptions::default()).await?;
                return Ok(true);
            }
        };
        let name = name_of(&chart).to_string();
        if e.action != Action::ChartPull && versions.is_empty() {
            return match charts.delete(&ctx, &name, &DeleteOptions::default()).await {
                Ok(_) => Ok(true),
                Err(err) if err.reason == Reason::NotFound => Ok(true),
                Err(err) => Err(err),
            };
        }
        if !chart.get("status").is_some_and(Value::is_object) {
            chart["status"] = json!({});
        }
        if e.action == Action::ChartPull {
            let count = chart.pointer("/status/pullCount").and_then(Value::as_i64).unwrap_or(0);
            chart["status"]["pullCount"] = json!(count + 1);
        } else {
            chart["status"]["versions"] = Value::Array(versions.clone());
        }
        charts.update(&ctx, &name, Some("status"), chart, &WriteOptions::default()).await.map(|_| false)
    })
    .await?;
    if counted {
        update_chart_count(stores, &group_object).await?;
    }
    Ok(())
}

/// Sets a ChartGroup's `status.chartCount` to the number of its Chart objects.
async fn update_chart_count(stores: &Stores, group_object: &str) -> Result<(), ApiError> {
    retry_on_conflict(|| async {
        let count = stores.charts.list(&system(Some(group_object)), &ListOptions::default()).await?.items.len();
        let mut g = match stores.chart_groups.get(&system(None), group_object, None).await {
            Ok(g) => g,
            Err(e) if e.reason == Reason::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if g.pointer("/status/chartCount").and_then(Value::as_i64) == Some(count as i64) {
            return Ok(());
        }
        if !g.get("status").is_some_and(Value::is_object) {
            g["status"] = json!({});
        }
        g["status"]["chartCount"] = json!(count);
        stores
            .chart_groups
            .update(&system(None), group_object, Some("status"), g, &WriteOptions::default())
            .await
            .map(|_| ())
    })
    .await
}

/// Sets a Namespace's `status.repoCount` to the number of its Repository objects.
async fn update_repo_count(stores: &Stores, ns_object: &str) -> Result<(), ApiError> {
    retry_on_conflict(|| async {
        let count = stores.repositories.list(&system(Some(ns_object)), &ListOptions::default()).await?.items.len();
        let mut ns = match stores.namespaces.get(&system(None), ns_object, None).await {
            Ok(ns) => ns,
            Err(e) if e.reason == Reason::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if ns.pointer("/status/repoCount").and_then(Value::as_i64) == Some(count as i64) {
            return Ok(());
        }
        if !ns.get("status").is_some_and(Value::is_object) {
            ns["status"] = json!({});
        }
        ns["status"]["repoCount"] = json!(count);
        stores
            .namespaces
            .update(&system(None), ns_object, Some("status"), ns, &WriteOptions::default())
            .await
            .map(|_| ())
    })
    .await
}
