//! The image registry joined to its `registry.tkestack.io/v1` objects inside `tke up`:
//! namespace visibility for the registry's token decisions comes from Namespace objects, push,
//! pull and delete events become Repository objects (tags, pull counts) and namespaces'
//! `status.repoCount`, and deleting a Namespace removes its images (a finalizer holds the
//! object until they are gone). Chart groups' visibility for the chart repositories comes from
//! ChartGroup objects; chart uploads, downloads and deletes become Chart objects (versions,
//! pull counts) and chart groups' `status.chartCount`. Deleting a ChartGroup removes its charts
//! and Chart objects before its `chartgroup` finalizer is cleared. Everything goes through the
//! in-process API server's stores, with tenancy applied as for any caller.

use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use api::registry::{chart_group, common::visibility};
use apimachinery::{ApiError, FieldSelector, error::Reason};
use apiserver::{
    ApiServer, Context, UserInfo,
    resource::ADMIN_GROUP,
    store::{DeleteOptions, ListOptions, ResourceStore, WatchEvent, WriteOptions},
};
use futures::StreamExt;
use registry::events::{Action, Event};
use serde_json::{Value, json};

/// Held on registry Namespace objects until their images are removed.
pub const NAMESPACE_FINALIZER: &str = "registry.tkestack.io/images";
/// Pulls by this user agent (the platform's own tools) are not counted, as in TKEStack.
const INTERNAL_USER_AGENT: &str = "tke-registry-client";
/// Attempts of a read-modify-write that lost an optimistic-concurrency race.
const CONFLICT_RETRIES: usize = 8;

/// The stores of the registry group.
#[derive(Clone)]
pub struct Stores {
    pub namespaces: Arc<ResourceStore>,
    pub repositories: Arc<ResourceStore>,
    pub chart_groups: Arc<ResourceStore>,
    pub charts: Arc<ResourceStore>,
}

impl Stores {
    pub fn of(server: &ApiServer) -> anyhow::Result<Stores> {
        let get = |plural: &str| {
            server.resource(api::registry::GROUP, api::registry::VERSION, plural).cloned().with_context(|| {
                format!(
                    "the API server does not serve registry.tkestack.io/v1 {plural} (add api::registry::resources())"
                )
            })
        };
        Ok(Stores {
            namespaces: get("namespaces")?,
            repositories: get("repositories")?,
            chart_groups: get("chartgroups")?,
            charts: get("charts")?,
        })
    }
}

/// The registry component acts as a platform administrator across tenants.
fn system(namespace: Option<&str>) -> Context {
    let user = UserInfo { name: "system:tke-registry".into(), groups: vec![ADMIN_GROUP.into()], ..Default::default() };
    Context { user, namespace: namespace.map(str::to_string) }
}

fn selector(pairs: &[(&str, &str)]) -> Result<FieldSelector, ApiError> {
    // Field values here are tenant ids and DNS labels or repository paths: no `,` or `=`.
    FieldSelector::parse(&pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","))
}

async fn list(store: &ResourceStore, ctx: &Context, pairs: &[(&str, &str)]) -> Result<Vec<Value>, ApiError> {
    let opts = ListOptions { field_selector: selector(pairs)?, ..Default::default() };
    store.list(ctx, &opts).await?.items.iter().map(|i| i.decode()).collect()
}

fn str_at<'a>(obj: &'a Value, path: &[&str]) -> &'a str {
    path.iter().try_fold(obj, |v, k| v.get(k)).and_then(Value::as_str).unwrap_or("")
}

fn name_of(obj: &Value) -> &str {
    str_at(obj, &["metadata", "name"])
}

fn deleting(obj: &Value) -> bool {
    !str_at(obj, &["metadata", "deletionTimestamp"]).is_empty()
}

/// The live Namespace object of `tenant` named `name` in image paths.
async fn find_namespace(stores: &Stores, tenant: &str, name: &str) -> Result<Option<Value>, ApiError> {
    let found = list(&stores.namespaces, &system(None), &[("spec.tenantID", tenant), ("spec.name", name)]).await?;
    Ok(found.into_iter().find(|ns| !deleting(ns)))
}

/// Namespace visibility for the registry's token decisions, read from Namespace objects.
pub struct ApiNamespaces {
    stores: Stores,
}

#[async_trait::async_trait]
impl registry::Namespaces for ApiNamespaces {
    async fn namespace(&self, tenant: &str, name: &str) -> Result<Option<registry::NamespaceInfo>, registry::Error> {
        let ns = find_namespace(&self.stores, tenant, name).await.map_err(|e| {
            registry::Error::new(registry::Code::Unknown, format!("reading registry namespaces: {}", e.message))
        })?;
        Ok(ns.map(|ns| registry::NamespaceInfo {
            public: str_at(&ns, &["spec", "visibility"]) == visibility::PUBLIC,
            locked: ns.pointer("/status/locked").and_then(Value::as_bool).unwrap_or(false),
        }))
    }
}

/// The live ChartGroup object of `tenant` named `name` in chart paths.
async fn find_chart_group(stores: &Stores, tenant: &str, name: &str) -> Result<Option<Value>, ApiError> {
    let found = list(&stores.chart_groups, &system(None), &[("spec.tenantID", tenant), ("spec.name", name)]).await?;
    Ok(found.into_iter().find(|g| !deleting(g)))
}

/// Chart group visibility for the chart repositories, read from ChartGroup objects. `User`
/// groups are limited to `spec.users`; `Project` groups are treated as the tenant's (project
/// membership is not known to the registry).
pub struct ApiChartGroups {
    stores: Stores,
}

#[async_trait::async_trait]
impl registry::chart::ChartGroups for ApiChartGroups {
    async fn chart_group(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<Option<registry::chart::ChartGroupInfo>, registry::Error> {
        let g = find_chart_group(&self.stores, tenant, name).await.map_err(|e| {
            registry::Error::new(registry::Code::Unknown, format!("reading chart groups: {}", e.message))
        })?;
        Ok(g.map(|g| {
            let vis = str_at(&g, &["spec", "visibility"]);
            let users = g
                .pointer("/spec/users")
                .and_then(Value::as_array)
                .map(|u| u.iter().filter_map(Value::as_str).map(str::to_string).collect());
            registry::chart::ChartGroupInfo {
                public: vis == visibility::PUBLIC,
                locked: g.pointer("/status/locked").and_then(Value::as_bool).unwrap_or(false),
                users: (vis == visibility::USER).then(|| users.unwrap_or_default()),
            }
        }))
    }
}

/// Runs `f` until it does not fail with a conflict (another writer got there first).
async fn retry_conflicts<T, F, Fut>(mut f: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    let mut last = None;
    for _ in 0..CONFLICT_RETRIES {
        match f().await {
            Err(e) if e.reason == Reason::Conflict => last = Some(e),
            other => return other,
        }
    }
    Err(last.unwrap_or_else(|| ApiError::internal("retries exhausted")))
}

fn rfc3339(t: std::time::SystemTime) -> String {
    let secs = t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Applies one registry event to the objects.
pub async fn record(stores: &Stores, e: &Event) -> Result<(), ApiError> {
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
    // Whether this event created the repository (the namespace's count changes).
    let created = retry_conflicts(|| async {
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
                "status": {"pullCount": 0, "tags": [{"name": e.tag, "digest": e.digest, "timeCreated": time}]},
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
                tags.push(json!({"name": tag, "digest": e.digest, "timeCreated": time}));
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
pub async fn record_chart(stores: &Stores, registry: &registry::Registry, e: &Event) -> Result<(), ApiError> {
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
    let counted = retry_conflicts(|| async {
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
    retry_conflicts(|| async {
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
    retry_conflicts(|| async {
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

/// Keeps the image-removal finalizer on a live Namespace; for a deleted one, removes its
/// images and Repository objects, then lets it go.
async fn reconcile_namespace(stores: &Stores, registry: &registry::Registry, name: &str) -> Result<(), ApiError> {
    retry_conflicts(|| async {
        let mut ns = match stores.namespaces.get(&system(None), name, None).await {
            Ok(ns) => ns,
            Err(e) if e.reason == Reason::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let finalizers: Vec<Value> =
            ns.pointer("/metadata/finalizers").and_then(Value::as_array).cloned().unwrap_or_default();
        let held = finalizers.iter().any(|f| f.as_str() == Some(NAMESPACE_FINALIZER));
        if !deleting(&ns) {
            if held {
                return Ok(());
            }
            let mut with = finalizers;
            with.push(json!(NAMESPACE_FINALIZER));
            ns["metadata"]["finalizers"] = Value::Array(with);
            return stores.namespaces.update(&system(None), name, None, ns, &WriteOptions::default()).await.map(|_| ());
        }
        if !held {
            return Ok(());
        }
        let (tenant, ns_name) =
            (str_at(&ns, &["spec", "tenantID"]).to_string(), str_at(&ns, &["spec", "name"]).to_string());
        if !ns_name.is_empty() {
            registry
                .delete_namespace(&tenant, &ns_name)
                .await
                .map_err(|e| ApiError::internal(format!("removing the images of namespace {ns_name}: {e}")))?;
        }
        let ctx = system(Some(name));
        for repo in stores.repositories.list(&ctx, &ListOptions::default()).await?.items {
            let repo = repo.decode()?;
            match stores.repositories.delete(&ctx, name_of(&repo), &DeleteOptions::default()).await {
                Ok(_) => {}
                Err(e) if e.reason == Reason::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let rest: Vec<Value> = finalizers.into_iter().filter(|f| f.as_str() != Some(NAMESPACE_FINALIZER)).collect();
        ns["metadata"]["finalizers"] = Value::Array(rest);
        tracing::info!(namespace = %ns_name, %tenant, "registry namespace deleted with its images");
        stores.namespaces.update(&system(None), name, None, ns, &WriteOptions::default()).await.map(|_| ())
    })
    .await
}

/// Makes a new ChartGroup `Available`; for a deleted one, removes its charts and Chart objects
/// and clears its `chartgroup` finalizer.
async fn reconcile_chart_group(stores: &Stores, registry: &registry::Registry, name: &str) -> Result<(), ApiError> {
    retry_conflicts(|| async {
        let mut g = match stores.chart_groups.get(&system(None), name, None).await {
            Ok(g) => g,
            Err(e) if e.reason == Reason::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let phase = str_at(&g, &["status", "phase"]).to_string();
        if !deleting(&g) && phase != chart_group::phase::TERMINATING {
            if phase == chart_group::phase::PENDING || phase.is_empty() {
                if !g.get("status").is_some_and(Value::is_object) {
                    g["status"] = json!({});
                }
                g["status"]["phase"] = json!(chart_group::phase::AVAILABLE);
                g["status"]["lastTransitionTime"] = json!(rfc3339(std::time::SystemTime::now()));
                return stores
                    .chart_groups
                    .update(&system(None), name, Some("status"), g, &WriteOptions::default())
                    .await
                    .map(|_| ());
            }
            return Ok(());
        }
        let finalizers: Vec<Value> =
            g.pointer("/spec/finalizers").and_then(Value::as_array).cloned().unwrap_or_default();
        if !finalizers.iter().any(|f| f.as_str() == Some(chart_group::FINALIZER)) {
            return Ok(());
        }
        let (tenant, group) =
            (str_at(&g, &["spec", "tenantID"]).to_string(), str_at(&g, &["spec", "name"]).to_string());
        if !group.is_empty() {
            registry
                .delete_chart_group(&tenant, &group)
                .await
                .map_err(|e| ApiError::internal(format!("removing the charts of chart group {group}: {e}")))?;
        }
        let ctx = system(Some(name));
        for chart in stores.charts.list(&ctx, &ListOptions::default()).await?.items {
            let chart = chart.decode()?;
            match stores.charts.delete(&ctx, name_of(&chart), &DeleteOptions::default()).await {
                Ok(_) => {}
                Err(e) if e.reason == Reason::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let rest: Vec<Value> = finalizers.into_iter().filter(|f| f.as_str() != Some(chart_group::FINALIZER)).collect();
        g["spec"]["finalizers"] = Value::Array(rest);
        stores.chart_groups.update(&system(None), name, Some("finalize"), g, &WriteOptions::default()).await.map(|_| ())
    })
    .await
}

/// The longest wait between two retries of a failed reconcile.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);

/// Follows every object of `store` (initial ADDED events, then changes), calling `each` with
/// the name of each added or modified object; restarts the watch when it ends. A failed call is
/// retried with back-off (1 s doubling to 5 minutes) until it succeeds, one retry loop per name.
fn follow<F, Fut>(store: Arc<ResourceStore>, what: &'static str, each: F) -> tokio::task::JoinHandle<()>
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), ApiError>> + Send,
{
    let each = Arc::new(each);
    let retrying: Arc<std::sync::Mutex<std::collections::HashSet<String>>> = Default::default();
    tokio::spawn(async move {
        // Dropped (aborting the retries) when this task is aborted.
        let mut retries = tokio::task::JoinSet::new();
        loop {
            match store.watch(&system(None), &ListOptions::default()).await {
                Ok(stream) => {
                    futures::pin_mut!(stream);
                    while let Some(ev) = stream.next().await {
                        let item = match ev {
                            WatchEvent::Added(i) | WatchEvent::Modified(i) => i,
                            WatchEvent::Error(e) => {
                                tracing::warn!(what, error = %e.message, "watch error; restarting");
                                break;
                            }
                            _ => continue,
                        };
                        let Ok(obj) = item.decode() else { continue };
                        let name = name_of(&obj).to_string();
                        while retries.try_join_next().is_some() {}
                        if let Err(e) = each(name.clone()).await {
                            if !retrying.lock().unwrap_or_else(|p| p.into_inner()).insert(name.clone()) {
                                continue;
                            }
                            tracing::warn!(what, name, error = %e.message, "reconcile failed; retrying");
                            let (each, retrying) = (each.clone(), retrying.clone());
                            retries.spawn(async move {
                                let mut delay = Duration::from_secs(1);
                                loop {
                                    tokio::time::sleep(delay).await;
                                    match each(name.clone()).await {
                                        Ok(()) => break,
                                        Err(e) => tracing::warn!(what, name, error = %e.message, retry_in = ?delay, "reconcile failed again"),
                                    }
                                    delay = (delay * 2).min(MAX_RETRY_DELAY);
                                }
                                retrying.lock().unwrap_or_else(|p| p.into_inner()).remove(&name);
                            });
                        }
                    }
                }
                Err(e) => tracing::warn!(what, error = %e.message, "watch failed"),
            }
            // Back off before watching again (a restart replays every object, so nothing is
            // missed).
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

/// The registry objects' side of the registry, running until the returned handle is dropped.
pub struct RegistryApi {
    pub registry: registry::Registry,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for RegistryApi {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Builds the registry from `config` with tenants ([`registry::Tenancy`]), namespace
/// visibility from Namespace objects and chart group visibility from ChartGroup objects (the
/// credential check of `config.auth` is kept, its policy replaced by
/// [`registry::TenantPolicy`]), and starts recording its events on Repository and Chart
/// objects and the Namespace and ChartGroup deletion controllers. The server must serve
/// `api::registry::resources()`.
pub async fn install(
    server: &Arc<ApiServer>,
    mut config: registry::Config,
    tenancy: registry::Tenancy,
) -> anyhow::Result<RegistryApi> {
    let stores = Stores::of(server)?;
    let namespaces: Arc<dyn registry::Namespaces> = Arc::new(ApiNamespaces { stores: stores.clone() });
    if let Some(auth) = config.auth.as_mut() {
        auth.authorizer = Arc::new(registry::TenantPolicy { tenancy: tenancy.clone(), namespaces });
    }
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel::<Event>();
    config.tenancy = Some(tenancy);
    config.events = Some(Arc::new(events));
    config.chart_groups = Some(Arc::new(ApiChartGroups { stores: stores.clone() }));
    let root = config.root.clone();
    let registry = registry::Registry::new(config)
        .await
        .map_err(|e| anyhow::anyhow!("opening the registry in {}: {e}", root.display()))?;

    let mut tasks = vec![];
    let (recorder, charts) = (stores.clone(), registry.clone());
    tasks.push(tokio::spawn(async move {
        // One event at a time, in order: a tag's push is recorded before its delete.
        while let Some(e) = received.recv().await {
            let done = if e.action.is_chart() { record_chart(&recorder, &charts, &e).await } else { record(&recorder, &e).await };
            if let Err(err) = done {
                tracing::warn!(repository = %e.repository, tenant = %e.tenant, error = %err.message, "recording a registry event failed");
            }
        }
    }));
    let (s, r) = (stores.clone(), registry.clone());
    tasks.push(follow(stores.namespaces.clone(), "registry namespaces", move |name| {
        let (s, r) = (s.clone(), r.clone());
        async move { reconcile_namespace(&s, &r, &name).await }
    }));
    let (s, r) = (stores.clone(), registry.clone());
    tasks.push(follow(stores.chart_groups.clone(), "chart groups", move |name| {
        let (s, r) = (s.clone(), r.clone());
        async move { reconcile_chart_group(&s, &r, &name).await }
    }));
    Ok(RegistryApi { registry, tasks })
}

#[cfg(test)]
mod tests {
    use super::*;
    use apiserver::VersionInfo;
    use storage::Store;

    fn sha256(data: &[u8]) -> String {
        registry::digest::Digest::of(registry::digest::Algorithm::Sha256, data).to_string()
    }

    /// Polls `f` until it returns `Some`, for at most 10 seconds.
    async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(v) = f().await {
                return v;
            }
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn user(tenant: &str, namespace: Option<&str>) -> Context {
        Context {
            user: UserInfo { name: "alice".into(), groups: vec![format!("tenant:{tenant}")], ..Default::default() },
            namespace: namespace.map(str::to_string),
        }
    }

    #[tokio::test]
    async fn a_failed_reconcile_is_retried_without_a_new_change() {
        let dir = tempfile::tempdir().expect("dir");
        let backend: Arc<dyn Store> = Arc::new(storage::embedded::EmbeddedStore::open(dir.path()).expect("open store"));
        let server = ApiServer::new(backend, api::registry::resources(), "/registry", VersionInfo::default())
            .await
            .expect("server");
        let stores = Stores::of(&server).expect("stores");
        stores
            .namespaces
            .create(&user("acme", None), json!({"apiVersion": "registry.tkestack.io/v1", "kind": "Namespace", "metadata": {"name": "rns-x"}, "spec": {"name": "team"}}), &WriteOptions::default())
            .await
            .expect("namespace");
        // Fails twice (e.g. a conflict storm or a full disk), then succeeds.
        let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counted = calls.clone();
        let task = follow(stores.namespaces.clone(), "test", move |_name| {
            let n = counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move { if n < 2 { Err(ApiError::internal("transient")) } else { Ok(()) } }
        });
        eventually("the third attempt", || async {
            (calls.load(std::sync::atomic::Ordering::SeqCst) >= 3).then_some(())
        })
        .await;
        task.abort();
    }

    #[tokio::test]
    async fn pushes_and_pulls_update_repositories_and_deleting_a_namespace_removes_its_images() {
        let dir = std::env::temp_dir().join(format!("tke-registry-api-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("store")).expect("dir");
        let backend: Arc<dyn Store> =
            Arc::new(storage::embedded::EmbeddedStore::open(&dir.join("store")).expect("open store"));
        let server = ApiServer::new(backend, api::registry::resources(), "/registry", VersionInfo::default())
            .await
            .expect("server");
        let stores = Stores::of(&server).expect("stores");

        // A user of tenant acme creates namespace "team".
        let ns = stores
            .namespaces
            .create(
                &user("acme", None),
                json!({"apiVersion": "registry.tkestack.io/v1", "kind": "Namespace", "spec": {"name": "team"}}),
                &WriteOptions::default(),
            )
            .await
            .expect("namespace")
            .object;
        let ns_object = name_of(&ns).to_string();

        let mut config = registry::Config::new(dir.join("registry"));
        let hash = registry::auth::hash_password("pw").expect("hash");
        config.auth = Some(registry::AuthConfig::with_admin("admin", &hash, vec![]).expect("auth"));
        if let Some(a) = config.auth.as_mut() {
            a.scheme = "http".into();
        }
        let running =
            install(&server, config, registry::Tenancy::new(Some("registry.test".into()))).await.expect("install");
        let http = registry::LocalServer::start(running.registry.router(), "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("serve");
        let base = format!("http://acme.registry.test:{}", http.addr.port());
        let anon = reqwest::Client::builder().resolve("acme.registry.test", http.addr).build().expect("client");

        // The finalizer is added, and the namespace is private: anonymous pulls get nothing.
        eventually("the finalizer", || async {
            let ns = stores.namespaces.get(&system(None), &ns_object, None).await.ok()?;
            ns.pointer("/metadata/finalizers/0").filter(|f| f.as_str() == Some(NAMESPACE_FINALIZER)).map(|_| ())
        })
        .await;
        let token = |scope: &'static str, login: bool| {
            let (anon, base) = (anon.clone(), base.clone());
            async move {
                let mut req = anon.get(format!("{base}/registry/auth")).query(&[("service", "tke"), ("scope", scope)]);
                if login {
                    req = req.basic_auth("admin", Some("pw"));
                }
                let v: Value = req.send().await.expect("token").json().await.expect("json");
                let t = v["token"].as_str().unwrap_or_default().to_string();
                reqwest::Client::builder()
                    .resolve("acme.registry.test", http_addr(&base))
                    .default_headers(
                        [(reqwest::header::AUTHORIZATION, format!("Bearer {t}").parse().expect("header"))]
                            .into_iter()
                            .collect(),
                    )
                    .build()
                    .expect("client")
            }
        };
        let r = token("repository:team/app:pull", false)
            .await
            .get(format!("{base}/v2/team/app/tags/list"))
            .send()
            .await
            .expect("tags");
        assert_eq!(r.status(), 401);

        // The administrator pushes team/app:v1 and pulls it twice.
        let admin = token("repository:team/app:pull,push", true).await;
        let layer = b"layer bytes".to_vec();
        let config_blob = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
        for blob in [&layer, &config_blob] {
            let r = admin
                .post(format!("{base}/v2/team/app/blobs/uploads/?digest={}", sha256(blob)))
                .body(blob.clone())
                .send()
                .await
                .expect("blob");
            assert_eq!(r.status(), 201);
        }
        let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config_blob), "size": config_blob.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(&layer), "size": layer.len()}]})
        .to_string();
        let media = "application/vnd.oci.image.manifest.v1+json";
        let r = admin
            .put(format!("{base}/v2/team/app/manifests/v1"))
            .header("content-type", media)
            .body(manifest.clone())
            .send()
            .await
            .expect("manifest");
        assert_eq!(r.status(), 201);
        for _ in 0..2 {
            let r = admin
                .get(format!("{base}/v2/team/app/manifests/v1"))
                .header("accept", media)
                .send()
                .await
                .expect("pull");
            assert_eq!(r.status(), 200);
        }

        // The Repository object appears in the namespace's Kubernetes namespace, with the tag
        // and two pulls; the namespace counts one repository. The tenant's user sees it.
        let repo = eventually("the repository with two pulls", || async {
            let items =
                list(&stores.repositories, &user("acme", Some(&ns_object)), &[("spec.name", "app")]).await.ok()?;
            items.into_iter().find(|r| r.pointer("/status/pullCount").and_then(Value::as_i64) == Some(2))
        })
        .await;
        assert_eq!(repo["spec"]["namespaceName"], "team");
        assert_eq!(repo["spec"]["tenantID"], "acme");
        assert_eq!(repo["status"]["tags"][0]["name"], "v1");
        assert_eq!(repo["status"]["tags"][0]["digest"], sha256(manifest.as_bytes()).as_str());
        assert!(repo["status"]["tags"][0]["timeCreated"].as_str().is_some_and(|t| t.ends_with('Z')));
        eventually("repoCount 1", || async {
            let ns = stores.namespaces.get(&system(None), &ns_object, None).await.ok()?;
            (ns.pointer("/status/repoCount").and_then(Value::as_i64) == Some(1)).then_some(())
        })
        .await;

        // Making the namespace Public lets anyone pull.
        let mut ns = stores.namespaces.get(&system(None), &ns_object, None).await.expect("get");
        ns["spec"]["visibility"] = json!("Public");
        stores
            .namespaces
            .update(&user("acme", None), &ns_object, None, ns, &WriteOptions::default())
            .await
            .expect("update");
        let r = token("repository:team/app:pull", false)
            .await
            .get(format!("{base}/v2/team/app/manifests/v1"))
            .header("accept", media)
            .send()
            .await
            .expect("pull");
        assert_eq!(r.status(), 200);

        // Deleting the namespace removes its images and Repository objects, then the object.
        stores.namespaces.delete(&user("acme", None), &ns_object, &DeleteOptions::default()).await.expect("delete");
        eventually("the namespace to go", || async {
            match stores.namespaces.get(&system(None), &ns_object, None).await {
                Err(e) if e.reason == Reason::NotFound => Some(()),
                _ => None,
            }
        })
        .await;
        assert!(running.registry.namespace_repositories("acme", "team").await.expect("list").is_empty());
        assert!(
            stores
                .repositories
                .list(&system(Some(&ns_object)), &ListOptions::default())
                .await
                .expect("list")
                .items
                .is_empty()
        );
        let r = admin.get(format!("{base}/v2/team/app/tags/list")).send().await.expect("tags");
        assert_eq!(r.status(), 404);

        http.stop().await;
        drop(running);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn http_addr(base: &str) -> std::net::SocketAddr {
        let port = base.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(0);
        std::net::SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[tokio::test]
    async fn chart_uploads_downloads_and_deletes_update_chart_objects() {
        let dir = std::env::temp_dir().join(format!("tke-registry-api-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("store")).expect("dir");
        let backend: Arc<dyn Store> =
            Arc::new(storage::embedded::EmbeddedStore::open(&dir.join("store")).expect("open store"));
        let server = ApiServer::new(backend, api::registry::resources(), "/registry", VersionInfo::default())
            .await
            .expect("server");
        let stores = Stores::of(&server).expect("stores");
        let mut config = registry::Config::new(dir.join("registry"));
        let hash = registry::auth::hash_password("pw").expect("hash");
        config.auth = Some(registry::AuthConfig::with_admin("admin", &hash, vec![]).expect("auth"));
        let running =
            install(&server, config, registry::Tenancy::new(Some("registry.test".into()))).await.expect("install");
        let http = registry::LocalServer::start(running.registry.router(), "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("serve");
        let base = format!("http://acme.registry.test:{}/chart", http.addr.port());
        let client = reqwest::Client::builder().resolve("acme.registry.test", http.addr).build().expect("client");

        // Tenant acme's private chart group "apps".
        let g = stores
            .chart_groups
            .create(&user("acme", None), json!({"spec": {"name": "apps"}}), &WriteOptions::default())
            .await
            .expect("group")
            .object;
        let group = name_of(&g).to_string();
        let chart_yaml = |v: &str| {
            format!("apiVersion: v2\nname: web\nversion: {v}\nappVersion: \"2.1\"\ndescription: Web server\n")
        };
        let v1 = registry::chart::package_chart(&chart_yaml("0.1.0"), &[("values.yaml", b"replicas: 1\n")])
            .expect("package");
        let v2 = registry::chart::package_chart(&chart_yaml("0.2.0"), &[("values.yaml", b"replicas: 2\n")])
            .expect("package");
        for tgz in [&v1, &v2] {
            let r = client
                .post(format!("{base}/api/apps/charts"))
                .basic_auth("admin", Some("pw"))
                .body(tgz.clone())
                .send()
                .await
                .expect("upload");
            assert_eq!(r.status(), 201);
        }

        // The Chart object appears in the group's Kubernetes namespace with both versions; the
        // group counts one chart; the tenant's user sees it.
        let chart = eventually("the chart with two versions", || async {
            let items = list(&stores.charts, &user("acme", Some(&group)), &[("spec.name", "web")]).await.ok()?;
            items
                .into_iter()
                .find(|c| c.pointer("/status/versions").and_then(Value::as_array).is_some_and(|v| v.len() == 2))
        })
        .await;
        assert_eq!(
            (chart["spec"]["chartGroupName"].as_str(), chart["spec"]["tenantID"].as_str()),
            (Some("apps"), Some("acme"))
        );
        let versions = &chart["status"]["versions"];
        assert_eq!((versions[0]["version"].as_str(), versions[1]["version"].as_str()), (Some("0.2.0"), Some("0.1.0")));
        assert_eq!(versions[1]["chartSize"].as_i64(), Some(v1.len() as i64));
        assert_eq!(versions[1]["appVersion"], "2.1");
        assert_eq!(versions[1]["description"], "Web server");
        eventually("chartCount 1", || async {
            let g = stores.chart_groups.get(&system(None), &group, None).await.ok()?;
            (g.pointer("/status/chartCount").and_then(Value::as_i64) == Some(1)).then_some(())
        })
        .await;

        // Downloads count as pulls. The group is private: anonymous reads are refused until it
        // is made Public.
        let r = client
            .get(format!("{base}/apps/charts/web-0.1.0.tgz"))
            .basic_auth("admin", Some("pw"))
            .send()
            .await
            .expect("download");
        assert_eq!(r.bytes().await.expect("bytes").as_ref(), v1.as_slice());
        assert_eq!(client.get(format!("{base}/apps/index.yaml")).send().await.expect("index").status(), 401);
        let mut g = stores.chart_groups.get(&system(None), &group, None).await.expect("get");
        g["spec"]["visibility"] = json!("Public");
        stores
            .chart_groups
            .update(&user("acme", None), &group, None, g, &WriteOptions::default())
            .await
            .expect("update");
        let r = client.get(format!("{base}/apps/charts/web-0.2.0.tgz")).send().await.expect("download");
        assert_eq!(r.status(), 200);
        eventually("two pulls", || async {
            let items = list(&stores.charts, &system(Some(&group)), &[("spec.name", "web")]).await.ok()?;
            items.into_iter().find(|c| c.pointer("/status/pullCount").and_then(Value::as_i64) == Some(2))
        })
        .await;

        // Deleting a version updates the list; deleting the last removes the Chart object.
        for (v, left) in [("0.1.0", 1usize), ("0.2.0", 0)] {
            let r = client
                .delete(format!("{base}/api/apps/charts/web/{v}"))
                .basic_auth("admin", Some("pw"))
                .send()
                .await
                .expect("delete");
            assert_eq!(r.status(), 200);
            eventually("the versions left", || async {
                let items = list(&stores.charts, &system(Some(&group)), &[("spec.name", "web")]).await.ok()?;
                let n = items
                    .first()
                    .and_then(|c| c.pointer("/status/versions").and_then(Value::as_array).map(Vec::len))
                    .unwrap_or(0);
                (n == left).then_some(())
            })
            .await;
        }
        eventually("chartCount 0", || async {
            let g = stores.chart_groups.get(&system(None), &group, None).await.ok()?;
            (g.pointer("/status/chartCount").and_then(Value::as_i64) == Some(0)).then_some(())
        })
        .await;

        // Deleting the group removes the charts stored in it.
        let r = client
            .post(format!("{base}/api/apps/charts"))
            .basic_auth("admin", Some("pw"))
            .body(v1.clone())
            .send()
            .await
            .expect("upload");
        assert_eq!(r.status(), 201);
        stores.chart_groups.delete(&user("acme", None), &group, &DeleteOptions::default()).await.expect("delete");
        eventually("the group to go", || async {
            match stores.chart_groups.get(&system(None), &group, None).await {
                Err(e) if e.reason == Reason::NotFound => Some(()),
                _ => None,
            }
        })
        .await;
        assert!(running.registry.charts().charts("acme", "apps").await.expect("charts").is_empty());
        http.stop().await;
        drop(running);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn deleting_a_chart_group_removes_its_charts() {
        let dir = std::env::temp_dir().join(format!("tke-registry-api-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("store")).expect("dir");
        let backend: Arc<dyn Store> =
            Arc::new(storage::embedded::EmbeddedStore::open(&dir.join("store")).expect("open store"));
        let server = ApiServer::new(backend, api::registry::resources(), "/registry", VersionInfo::default())
            .await
            .expect("server");
        let stores = Stores::of(&server).expect("stores");
        let running = install(&server, registry::Config::new(dir.join("registry")), registry::Tenancy::new(None))
            .await
            .expect("install");
        let g = stores
            .chart_groups
            .create(&user("acme", None), json!({"spec": {"name": "charts"}}), &WriteOptions::default())
            .await
            .expect("group")
            .object;
        let group = name_of(&g).to_string();
        eventually("Available", || async {
            let g = stores.chart_groups.get(&system(None), &group, None).await.ok()?;
            (str_at(&g, &["status", "phase"]) == "Available").then_some(())
        })
        .await;
        stores
            .charts
            .create(
                &user("acme", Some(&group)),
                json!({"spec": {"name": "nginx", "chartGroupName": "charts"}}),
                &WriteOptions::default(),
            )
            .await
            .expect("chart");
        stores.chart_groups.delete(&user("acme", None), &group, &DeleteOptions::default()).await.expect("delete");
        eventually("the group to go", || async {
            match stores.chart_groups.get(&system(None), &group, None).await {
                Err(e) if e.reason == Reason::NotFound => Some(()),
                _ => None,
            }
        })
        .await;
        assert!(
            stores.charts.list(&system(Some(&group)), &ListOptions::default()).await.expect("list").items.is_empty()
        );
        drop(running);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
