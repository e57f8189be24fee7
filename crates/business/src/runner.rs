//! What the project, image namespace, chart group and platform controllers share: a
//! kube-runtime controller over one resource of the platform's API, woken also by changes of
//! related objects (a project by its chart groups going away), retrying a failed reconcile with
//! back-off; the one error type of their reconciles; and the writes they all make (status as a
//! JSON merge patch of their own fields, a `spec.finalizers` entry cleared through `finalize`,
//! a POST to a subresource).

use std::{future::Future, sync::Arc};

use controller_runtime::{conflict::retry_on_conflict, shell::Failures};
use futures::StreamExt;
use kube::{
    Api, Client, ResourceExt,
    api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams},
    runtime::{Controller, controller::Action, reflector::ObjectRef, watcher},
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Why a reconcile failed; it is retried with `controller_runtime::backoff`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the platform API: {0}")]
    Api(#[from] kube::Error),
    #[error("decoding {what} {name}: {source}")]
    Decode { what: &'static str, name: String, source: serde_json::Error },
    /// A step that failed and was reported in the object's status; retried with back-off.
    #[error("{0}")]
    Reported(String),
}

/// A resource of the platform's API.
pub fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// A resource of `business.tkestack.io/v1`.
pub fn business(kind: &str, plural: &str) -> ApiResource {
    resource(api::business::GROUP, api::business::VERSION, kind, plural)
}

/// Maps a changed object of a watched resource to the objects to reconcile.
pub type Mapper = Arc<dyn Fn(&DynamicObject) -> Vec<ObjectRef<DynamicObject>> + Send + Sync>;

/// Another resource whose changes (deletions included) wake objects of the main one.
pub struct Watch {
    pub resource: ApiResource,
    pub mapper: Mapper,
}

/// The object of `main` named `name` (in `namespace` if it is namespaced).
pub fn object_ref(main: &ApiResource, name: &str, namespace: Option<&str>) -> ObjectRef<DynamicObject> {
    let r = ObjectRef::new_with(name, main.clone());
    match namespace {
        Some(ns) => r.within(ns),
        None => r,
    }
}

struct Runner<F> {
    reconcile: F,
    failures: Failures,
    what: &'static str,
}

/// Runs a controller over every object of `main` (all namespaces), calling `reconcile` for each
/// change of it or of an object of `watches` mapped to it, and retrying a failed reconcile with
/// back-off (500 ms doubling to five minutes) without waiting for another change. Stops when
/// `shutdown` resolves, once the reconciles under way have finished.
pub async fn run<F, Fut>(
    client: Client,
    main: ApiResource,
    what: &'static str,
    watches: Vec<Watch>,
    reconcile: F,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) where
    F: Fn(Arc<DynamicObject>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, Error>> + Send + 'static,
{
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &main);
    let mut controller = Controller::new_with(api, watcher::Config::default(), main);
    for w in watches {
        let mapper = w.mapper;
        controller = controller.watches_with(
            Api::all_with(client.clone(), &w.resource),
            w.resource,
            watcher::Config::default(),
            move |o| mapper(&o),
        );
    }
    let runner = Arc::new(Runner { reconcile, failures: Failures::default(), what });
    controller.graceful_shutdown_on(shutdown).run(reconcile_counted, error_policy, runner).for_each(|_| async {}).await;
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

/// The HTTP status of an error the API answered (None for a failure to reach it).
pub fn api_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// A typed object from a dynamic one.
pub fn decode<T: DeserializeOwned>(what: &'static str, obj: &DynamicObject) -> Result<T, Error> {
    let name = obj.name_any();
    serde_json::to_value(obj).and_then(serde_json::from_value).map_err(|source| Error::Decode { what, name, source })
}

/// Whether the object is being deleted.
pub fn deleting(obj: &DynamicObject) -> bool {
    obj.metadata.deletion_timestamp.is_some()
}

/// `2026-12-07T00:45:56Z`, as Kubernetes writes times.
pub fn now() -> String {
    apimachinery::time::rfc3339(std::time::SystemTime::now())
}

/// The status fields a lifecycle controller owns: written as a JSON merge patch of only these,
/// so that other writers of the same status (the usage controller's `clusters`) keep theirs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lifecycle {
    pub phase: String,
    pub reason: Option<String>,
    pub message: Option<String>,
}

impl Lifecycle {
    pub fn new(phase: &str, reason: Option<&str>, message: Option<String>) -> Self {
        Lifecycle { phase: phase.into(), reason: reason.map(str::to_string), message }
    }

    /// The lifecycle fields of `obj`'s status.
    pub fn of(obj: &Value) -> Self {
        let s = |k: &str| obj["status"][k].as_str().filter(|v| !v.is_empty()).map(str::to_string);
        Lifecycle { phase: s("phase").unwrap_or_default(), reason: s("reason"), message: s("message") }
    }

    /// The merge patch from `current` to `self`: `None` when nothing changes (so a failure
    /// repeated with the same cause writes nothing, wakes nobody, and keeps its back-off).
    /// `lastTransitionTime` moves only with the phase; `extra` fields are written with a change.
    pub fn patch(&self, current: &Lifecycle, extra: Option<(&str, Value)>) -> Option<Value> {
        if self == current {
            return None;
        }
        let mut status = json!({
            "phase": self.phase,
            "reason": self.reason,
            "message": self.message,
        });
        if self.phase != current.phase {
            status["lastTransitionTime"] = json!(now());
        }
        if let Some((k, v)) = extra {
            status[k] = v;
        }
        Some(json!({ "status": status }))
    }
}

/// Writes `want` into the status of `obj` (through `status`, as a merge patch) unless it is
/// there already.
pub async fn write_lifecycle(
    api: &Api<DynamicObject>,
    obj: &DynamicObject,
    want: &Lifecycle,
    extra: Option<(&str, Value)>,
) -> Result<(), kube::Error> {
    let current = Lifecycle::of(&obj.data);
    let Some(patch) = want.patch(&current, extra) else { return Ok(()) };
    match api.patch_status(&obj.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
        Ok(_) => Ok(()),
        // Gone meanwhile: nothing left to say about it.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether `spec.finalizers` of `obj` holds `name`.
pub fn has_finalizer(obj: &Value, name: &str) -> bool {
    obj["spec"]["finalizers"].as_array().is_some_and(|f| f.iter().any(|f| f.as_str() == Some(name)))
}

/// Removes `name` from `spec.finalizers` through the `finalize` subresource, computed again
/// from the current object when another writer got there first. An object already gone, or
/// already without the entry, is fine.
pub async fn clear_finalizer(api: &Api<DynamicObject>, object: &str, name: &str) -> Result<(), kube::Error> {
    retry_on_conflict(|| async {
        let Some(mut o) = api.get_opt(object).await? else { return Ok(()) };
        if !has_finalizer(&o.data, name) {
            return Ok(());
        }
        let rest: Vec<Value> = o.data["spec"]["finalizers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f.as_str() != Some(name))
            .cloned()
            .collect();
        o.data["spec"]["finalizers"] = Value::Array(rest);
        match api.replace_subresource("finalize", object, &PostParams::default(), &o).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(e),
        }
    })
    .await
}

/// POSTs `body` to the subresource `sub` of the object at `path` (`/apis/.../projects/{id}`)
/// and returns the answer.
pub async fn post_subresource(client: &Client, path: &str, sub: &str, body: &Value) -> Result<Value, kube::Error> {
    let bytes = serde_json::to_vec(body).map_err(kube::Error::SerdeError)?;
    let req = http::Request::post(format!("{path}/{sub}"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(bytes)
        .map_err(kube::Error::HttpError)?;
    client.request::<Value>(req).await
}

/// Deletes every object of `objects` that is not being deleted yet; returns the names of all of
/// them (those still there, deleted now or before), sorted.
pub async fn delete_each(api: &Api<DynamicObject>, objects: &[DynamicObject]) -> Result<Vec<String>, kube::Error> {
    let mut names = vec![];
    for o in objects {
        let name = o.name_any();
        if !deleting(o) {
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => continue,
                Err(e) => return Err(e),
            }
        }
        names.push(name);
    }
    names.sort();
    Ok(names)
}

/// The objects of `api` whose fields match `selector` (`spec.tenantID=t1,spec.name=x`).
pub async fn list(api: &Api<DynamicObject>, selector: &str) -> Result<Vec<DynamicObject>, kube::Error> {
    let lp = if selector.is_empty() { ListParams::default() } else { ListParams::default().fields(selector) };
    Ok(api.list(&lp).await?.items)
}

/// Whether `e` is the API's 404.
pub fn not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// The API's message of a refused request (its Status message), or the error with its causes.
pub fn message_of(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if !s.message.is_empty() => s.message.clone(),
        other => controller_runtime::error_chain(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_patches_only_changes_and_moves_the_time_with_the_phase() {
        let obj = json!({"status": {"phase": "Active", "clusters": {"c": {}}, "message": ""}});
        let current = Lifecycle::of(&obj);
        assert_eq!(current, Lifecycle::new("Active", None, None));
        assert_eq!(Lifecycle::new("Active", None, None).patch(&current, None), None);

        let waiting = Lifecycle::new("Terminating", Some("Deleting"), Some("waiting for x".into()));
        let p = waiting.patch(&current, None).expect("a change");
        assert_eq!(p["status"]["phase"], "Terminating");
        assert_eq!(p["status"]["message"], "waiting for x");
        assert!(p["status"]["lastTransitionTime"].is_string());
        assert!(p["status"].get("clusters").is_none(), "other writers' fields are left alone: {p}");

        // Same phase, another message: no new transition time.
        let now = Lifecycle::of(&json!({"status": {"phase": "Terminating", "message": "waiting for y"}}));
        let p = waiting.patch(&now, Some(("locked", json!(false)))).expect("a change");
        assert!(p["status"].get("lastTransitionTime").is_none(), "{p}");
        assert_eq!(p["status"]["locked"], false);
        // Cleared fields are written as null, which a merge patch removes.
        let p = Lifecycle::new("Terminating", None, None).patch(&now, None).expect("a change");
        assert!(p["status"]["message"].is_null() && p["status"].get("message").is_some(), "{p}");
    }

    #[test]
    fn finalizers_are_read_from_the_spec() {
        let o = json!({"spec": {"finalizers": ["project", "other"]}});
        assert!(has_finalizer(&o, "project"));
        assert!(!has_finalizer(&o, "namespace"));
        assert!(!has_finalizer(&json!({"spec": {"finalizers": null}}), "project"));
    }
}
