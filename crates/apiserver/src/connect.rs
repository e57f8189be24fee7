//! Subresources served by the component that owns them rather than by the generic store:
//! `clusters/{name}/proxy/...`, `clusters/{name}/apply`, `clusters/{name}/drain/{node}` and the
//! like (Kubernetes calls these "connect" subresources, as in `pods/exec` or `nodes/proxy`).
//!
//! A component registers a [`Connect`] handler for `(group, version, plural, subresource)` on the
//! [`crate::ApiServer`]; the server authenticates the caller as for any request, checks that the
//! parent object exists, lists the subresource in discovery, and hands over the request with its
//! body still streaming, so proxies can carry watches and uploads of any size.

use std::sync::Arc;

use async_trait::async_trait;
use axum::{
    body::Body,
    http::{HeaderMap, Method, Response},
};
use serde_json::Value;

use crate::{resource::UserInfo, store::ResourceStore};

/// What a connect subresource is, for routing and discovery.
#[derive(Clone, Debug)]
pub struct ConnectDef {
    pub group: &'static str,
    pub version: &'static str,
    /// The parent resource, e.g. `clusters`.
    pub plural: &'static str,
    /// The subresource, e.g. `proxy`.
    pub subresource: &'static str,
    /// Verbs listed in discovery (Kubernetes lists `create`, `delete`, `get`, `patch`, `update`
    /// for proxies, `create` for actions such as `pods/eviction`).
    pub verbs: &'static [&'static str],
    /// The kind of the response shown in discovery (the parent's kind when empty).
    pub kind: &'static str,
}

/// One request to a connect subresource.
pub struct ConnectRequest {
    /// The parent resource's store (to read the object, or its status, as the caller's request needs).
    pub store: Arc<ResourceStore>,
    /// The parent object as stored now (with `metadata.resourceVersion`).
    pub object: Value,
    pub namespace: Option<String>,
    pub name: String,
    /// The path after the subresource, without a leading `/`: `api/v1/pods` for
    /// `clusters/c1/proxy/api/v1/pods`, `node-1` for `clusters/c1/drain/node-1`, empty for
    /// `clusters/c1/apply`.
    pub path: String,
    /// The raw query string.
    pub query: Option<String>,
    pub method: Method,
    pub headers: HeaderMap,
    /// The body, still streaming.
    pub body: Body,
    /// The authenticated caller.
    pub user: UserInfo,
    /// The connection itself once answered `101 Switching Protocols`, for handlers that take
    /// it over (exec, attach, port-forward, and proxies passing those through). `None` when the
    /// connection cannot be upgraded (HTTP/2).
    pub upgrade: Option<hyper::upgrade::OnUpgrade>,
}

/// Serves a connect subresource.
#[async_trait]
pub trait Connect: Send + Sync + 'static {
    async fn serve(&self, req: ConnectRequest) -> Response<Body>;
}

/// A registered handler with its definition.
#[derive(Clone)]
pub(crate) struct Registered {
    pub def: ConnectDef,
    pub handler: Arc<dyn Connect>,
}

/// Splits a resource path (after `/apis/<group>/<version>/` or `/api/v1/`) into
/// `(namespace, plural, name, subresource, rest)` when it has a subresource segment.
pub(crate) fn split(
    tail: &str,
    namespaced: impl Fn(&str) -> bool,
) -> Option<(Option<String>, String, String, String, String)> {
    let segs: Vec<&str> = tail.split('/').collect();
    let (namespace, rest) = match segs.as_slice() {
        ["namespaces", ns, plural, rest @ ..] if namespaced(plural) => (Some(ns.to_string()), {
            let mut v = vec![*plural];
            v.extend_from_slice(rest);
            v
        }),
        _ => (None, segs.clone()),
    };
    match rest.as_slice() {
        [plural, name, sub, more @ ..] if !name.is_empty() && !sub.is_empty() => {
            Some((namespace, plural.to_string(), name.to_string(), sub.to_string(), more.join("/")))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn splits_cluster_and_namespaced_paths() {
        let ns = |p: &str| p == "pods";
        assert_eq!(
            split("clusters/c1/proxy/api/v1/pods", ns),
            Some((None, "clusters".into(), "c1".into(), "proxy".into(), "api/v1/pods".into()))
        );
        assert_eq!(
            split("clusters/c1/apply", ns),
            Some((None, "clusters".into(), "c1".into(), "apply".into(), String::new()))
        );
        assert_eq!(
            split("clusters/c1/proxy/", ns),
            Some((None, "clusters".into(), "c1".into(), "proxy".into(), String::new()))
        );
        assert_eq!(
            split("namespaces/default/pods/p1/exec", ns),
            Some((Some("default".into()), "pods".into(), "p1".into(), "exec".into(), String::new()))
        );
        assert_eq!(split("clusters/c1", ns), None);
        assert_eq!(split("clusters", ns), None);
        assert_eq!(split("clusters//proxy", ns), None);
    }
}
