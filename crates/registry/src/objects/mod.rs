//! The registry joined to its `registry.tkestack.io/v1` objects, the only part of this crate
//! that knows the API server: namespace and chart group visibility read from Namespace and
//! ChartGroup objects ([`visibility`]), push, pull and delete events recorded on Repository and
//! Chart objects and the parents' counts ([`recorder`]), the Namespace and ChartGroup
//! controllers that remove images and charts behind finalizers ([`controllers`]), and the
//! component that mounts all of it into an API server ([`component`]).
//!
//! Visibility and the recorder work in-process on the server's stores (every replica serves
//! and records its own data plane, and a token decision must not wait on a network hop); the
//! controllers are kube-runtime controllers talking to the API over HTTPS like any client,
//! under the Lease [`controllers::LEASE`].

pub mod component;
pub mod controllers;
pub mod recorder;
pub mod visibility;

pub use component::{Installed, RegistryComponent, install};

use std::sync::Arc;

use apimachinery::{ApiError, FieldSelector};
use apiserver::{
    ApiServer, Context,
    store::{ListOptions, ResourceStore},
};
use serde_json::Value;

/// Why the registry could not be joined to its objects.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the API server does not serve registry.tkestack.io/v1 {0} (add api::registry::resources())")]
    NotServed(&'static str),
    #[error("opening the registry in {root}: {source}")]
    Open { root: String, source: crate::Error },
}

/// The in-process stores of the registry group.
#[derive(Clone)]
pub struct Stores {
    pub namespaces: Arc<ResourceStore>,
    pub repositories: Arc<ResourceStore>,
    pub chart_groups: Arc<ResourceStore>,
    pub charts: Arc<ResourceStore>,
}

impl Stores {
    pub fn of(server: &ApiServer) -> Result<Stores, Error> {
        let get = |plural: &'static str| {
            server
                .resource(api::registry::GROUP, api::registry::VERSION, plural)
                .cloned()
                .ok_or(Error::NotServed(plural))
        };
        Ok(Stores {
            namespaces: get("namespaces")?,
            repositories: get("repositories")?,
            chart_groups: get("chartgroups")?,
            charts: get("charts")?,
        })
    }
}

/// The registry acts on its objects as a platform administrator across tenants (tenancy is
/// the registry's own business: it decides from `spec.tenantID`).
pub fn system(namespace: Option<&str>) -> Context {
    Context::system("system:tke-registry", namespace)
}

fn selector(pairs: &[(&str, &str)]) -> Result<FieldSelector, ApiError> {
    // Field values here are tenant ids and DNS labels or repository paths: no `,` or `=`.
    FieldSelector::parse(&pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","))
}

/// The objects of `store` whose fields match `pairs`, as JSON.
pub async fn list(store: &ResourceStore, ctx: &Context, pairs: &[(&str, &str)]) -> Result<Vec<Value>, ApiError> {
    let opts = ListOptions { field_selector: selector(pairs)?, ..Default::default() };
    store.list(ctx, &opts).await?.items.iter().map(|i| i.decode()).collect()
}

/// The string at `path` in `obj`, or "".
pub fn str_at<'a>(obj: &'a Value, path: &[&str]) -> &'a str {
    path.iter().try_fold(obj, |v, k| v.get(k)).and_then(Value::as_str).unwrap_or("")
}

/// `metadata.name` of `obj`.
pub fn name_of(obj: &Value) -> &str {
    str_at(obj, &["metadata", "name"])
}

fn deleting(obj: &Value) -> bool {
    !str_at(obj, &["metadata", "deletionTimestamp"]).is_empty()
}

/// `2026-12-07T00:45:56Z`, as Kubernetes writes times.
fn rfc3339(t: std::time::SystemTime) -> String {
    apimachinery::time::rfc3339(t)
}
