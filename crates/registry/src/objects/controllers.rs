//! The Namespace and ChartGroup controllers: kube-runtime controllers over the platform's API
//! (as any Kubernetes client), run by one replica at a time under the Lease [`LEASE`]. A
//! Namespace carries the [`NAMESPACE_FINALIZER`] while it lives; deleting it removes its images
//! from the data plane (shared blob storage, so any replica can) and its Repository objects
//! before the finalizer is cleared. A new ChartGroup becomes `Available`; deleting one removes
//! its charts and Chart objects before its `chartgroup` entry of `spec.finalizers` is cleared
//! through `finalize`.

use std::{future::Future, sync::Arc};

use api::registry::chart_group;
use controller_runtime::{conflict::retry_on_conflict, shell::Failures};
use futures::StreamExt;
use kube::{
    Api, Client, ResourceExt,
    api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, PostParams},
    runtime::{
        Controller,
        controller::Action,
        finalizer::{self, finalizer},
        watcher,
    },
};
use serde_json::{Value, json};

use super::rfc3339;

/// The Lease (in namespace `tke`) under which one replica runs these controllers.
pub const LEASE: &str = "tke-registry-controller";
/// Held on registry Namespace objects until their images are removed.
pub const NAMESPACE_FINALIZER: &str = "registry.tkestack.io/images";

/// Why a reconcile failed; it is retried with `controller_runtime::backoff`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the platform API: {0}")]
    Api(#[from] kube::Error),
    #[error("removing the images of namespace {namespace}: {source}")]
    Images { namespace: String, source: crate::Error },
    #[error("removing the charts of chart group {group}: {source}")]
    Charts { group: String, source: crate::Error },
    #[error("the finalizer: {0}")]
    Finalizer(String),
}

/// A resource of `registry.tkestack.io/v1`.
fn resource(kind: &str, plural: &str) -> ApiResource {
    let gvk = GroupVersionKind::gvk(api::registry::GROUP, api::registry::VERSION, kind);
    ApiResource::from_gvk_with_plural(&gvk, plural)
}

/// Runs the Namespace and ChartGroup controllers until `shutdown` resolves (reconciles under
/// way finish first). `registry` is this replica's view of the shared data plane.
pub async fn run(
    client: Client,
    registry: crate::Registry,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown));
    let (c, r) = (client.clone(), registry.clone());
    let namespaces = run_controller(
        client.clone(),
        resource(api::registry::namespace::KIND, "namespaces"),
        "registry namespace",
        move |ns| {
            let (c, r) = (c.clone(), r.clone());
            async move { reconcile_namespace(ns, &c, &r).await }
        },
        shutdown.clone(),
    );
    let (c, r) = (client.clone(), registry);
    let chart_groups = run_controller(
        client,
        resource(chart_group::KIND, "chartgroups"),
        "chart group",
        move |g| {
            let (c, r) = (c.clone(), r.clone());
            async move { reconcile_chart_group(g, &c, &r).await }
        },
        shutdown,
    );
    futures::join!(namespaces, chart_groups);
}

struct Runner<F> {
    reconcile: F,
    /// Consecutive failures per object, for the back-off of its next try.
    failures: Failures,
    what: &'static str,
}

/// Runs a kube-runtime controller over every object of the cluster-scoped `resource`, calling
/// `reconcile` for each change and retrying a failed reconcile with back-off (500 ms doubling to
/// five minutes) until it succeeds, without waiting for another change. Stops when `shutdown`
/// resolves.
pub async fn run_controller<F, Fut>(
    client: Client,
    resource: ApiResource,
    what: &'static str,
    reconcile: F,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) where
    F: Fn(Arc<DynamicObject>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, Error>> + Send + 'static,
{
    let api: Api<DynamicObject> = Api::all_with(client, &resource);
    let runner = Arc::new(Runner { reconcile, failures: Failures::default(), what });
    Controller::new_with(api, watcher::Config::default(), resource)
        .graceful_shutdown_on(shutdown)
        .run(reconcile_counted, error_policy, runner)
        .for_each(|_| async {})
        .await;
}

fn reconcile_counted<F, Fut>(
    obj: Arc<DynamicObject>,
    runner: Arc<Runner<F>>,
) -> impl Future<Output = Result<Action, Error>> + Send + 'static
where
    F: Fn(Arc<DynamicObject>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, Error>> + Send + 'static,
{
    let uid = obj.uid().unwrap_or_default();
    let done = (runner.reconcile)(obj);
    async move {
        let result = controller_runtime::metrics::observe(runner.what, done).await;
        if result.is_ok() {
            runner.failures.succeeded(&uid);
        }
        result
    }
}

fn error_policy<F>(obj: Arc<DynamicObject>, e: &Error, runner: Arc<Runner<F>>) -> Action {
    let delay = runner.failures.failed(&obj.uid().unwrap_or_default());
    let error = controller_runtime::error_chain(e);
    tracing::warn!(what = runner.what, name = %obj.name_any(), %error, retry_in = ?delay, "reconcile failed; retrying");
    Action::requeue(delay)
}

/// Keeps the image-removal finalizer on a live Namespace; for a deleted one, removes its
/// images and Repository objects, then lets it go.
async fn reconcile_namespace(
    ns: Arc<DynamicObject>,
    client: &Client,
    registry: &crate::Registry,
) -> Result<Action, Error> {
    let api: Api<DynamicObject> =
        Api::all_with(client.clone(), &resource(api::registry::namespace::KIND, "namespaces"));
    finalizer(&api, NAMESPACE_FINALIZER, ns, |event| async move {
        match event {
            finalizer::Event::Apply(_) => Ok(Action::await_change()),
            finalizer::Event::Cleanup(ns) => {
                remove_images(&ns, client, registry).await.map(|()| Action::await_change())
            }
        }
    })
    .await
    .map_err(|e| match e {
        finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e,
        other => Error::Finalizer(controller_runtime::error_chain(&other)),
    })
}

/// Removes the images of a deleted Namespace, then its Repository objects (which live in the
/// Kubernetes namespace named after it).
async fn remove_images(ns: &DynamicObject, client: &Client, registry: &crate::Registry) -> Result<(), Error> {
    let spec = &ns.data["spec"];
    let tenant = spec["tenantID"].as_str().unwrap_or_default();
    let name = spec["name"].as_str().unwrap_or_default();
    if !name.is_empty() {
        registry
            .delete_namespace(tenant, name)
            .await
            .map_err(|source| Error::Images { namespace: name.to_string(), source })?;
    }
    let repos = resource(api::registry::repository::KIND, "repositories");
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns.name_any(), &repos);
    delete_all(&api).await?;
    tracing::info!(namespace = %name, %tenant, "registry namespace deleted with its images");
    Ok(())
}

/// Deletes every object of `api` (one already gone is fine).
async fn delete_all(api: &Api<DynamicObject>) -> Result<(), kube::Error> {
    for obj in api.list(&ListParams::default()).await? {
        match api.delete(&obj.name_any(), &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Makes a new ChartGroup `Available`; for a deleted one, removes its charts and Chart objects
/// and clears its `chartgroup` finalizer.
async fn reconcile_chart_group(
    g: Arc<DynamicObject>,
    client: &Client,
    registry: &crate::Registry,
) -> Result<Action, Error> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource(chart_group::KIND, "chartgroups"));
    let name = g.name_any();
    let phase = g.data["status"]["phase"].as_str().unwrap_or_default();
    if g.metadata.deletion_timestamp.is_none() && phase != chart_group::phase::TERMINATING {
        if phase == chart_group::phase::PENDING || phase.is_empty() {
            set_available(&api, &name).await?;
        }
        return Ok(Action::await_change());
    }
    if !has_finalizer(&g.data) {
        return Ok(Action::await_change());
    }
    let tenant = g.data["spec"]["tenantID"].as_str().unwrap_or_default();
    let group = g.data["spec"]["name"].as_str().unwrap_or_default();
    if !group.is_empty() {
        registry
            .delete_chart_group(tenant, group)
            .await
            .map_err(|source| Error::Charts { group: group.to_string(), source })?;
    }
    let charts = resource(api::registry::chart::KIND, "charts");
    delete_all(&Api::namespaced_with(client.clone(), &name, &charts)).await?;
    // Another writer (a user's update, the API server's own bookkeeping) may have changed the
    // group since it was read: compute the finalizers again from the current object.
    retry_on_conflict(|| async {
        let Some(mut g) = api.get_opt(&name).await? else { return Ok(()) };
        if !has_finalizer(&g.data) {
            return Ok(());
        }
        let rest: Vec<Value> = g.data["spec"]["finalizers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f.as_str() != Some(chart_group::FINALIZER))
            .cloned()
            .collect();
        g.data["spec"]["finalizers"] = Value::Array(rest);
        api.replace_subresource("finalize", &name, &PostParams::default(), &g).await.map(|_| ())
    })
    .await?;
    Ok(Action::await_change())
}

fn has_finalizer(g: &Value) -> bool {
    g["spec"]["finalizers"].as_array().is_some_and(|f| f.iter().any(|f| f.as_str() == Some(chart_group::FINALIZER)))
}

/// Moves a `Pending` chart group to `Available`.
async fn set_available(api: &Api<DynamicObject>, name: &str) -> Result<(), kube::Error> {
    retry_on_conflict(|| async {
        let Some(mut g) = api.get_opt(name).await? else { return Ok(()) };
        let phase = g.data["status"]["phase"].as_str().unwrap_or_default();
        if !(phase == chart_group::phase::PENDING || phase.is_empty()) {
            return Ok(());
        }
        if !g.data["status"].is_object() {
            g.data["status"] = json!({});
        }
        g.data["status"]["phase"] = json!(chart_group::phase::AVAILABLE);
        g.data["status"]["lastTransitionTime"] = json!(rfc3339(std::time::SystemTime::now()));
        api.replace_subresource("status", name, &PostParams::default(), &g).await.map(|_| ())
    })
    .await
}
