//! Requests that go into a business cluster, and which project owns what they touch there.
//!
//! The API server authorizes a request by its own path, but a request into a business cluster
//! (`clusters/{cls}/proxy/{path}`, or the unified proxy: any Kubernetes path with
//! `X-TKE-ClusterName` that is not one of the platform's groups) is about the request inside:
//! [`cluster_request`] finds that request and its cluster, so the authorizer decides about the
//! pods of namespace N of cluster C rather than about "the proxy of C".
//!
//! A namespace of a business cluster belongs to the project whose business Namespace object
//! names it ([`NamespaceOwners`], fed by a watch on those objects): members of that project act
//! there with the policies they hold in the project.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use api::business::{Namespace, common::phase};
use apiserver::auth::Attributes;
use http::{Uri, request::Parts};

use super::attributes::CLUSTER_HEADER;
use crate::index::Index;

/// The platform's own group, whose `clusters/{cls}/proxy` leads into business clusters.
const PLATFORM_GROUP: &str = "platform.tkestack.io";

/// A request into a business cluster: the cluster, and the request as the cluster sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterRequest {
    pub cluster: String,
    /// The request inside the proxy (for the unified proxy, the request itself).
    pub inner: Attributes,
}

/// The request `attrs` (received as `request`) sends into a business cluster, if it does.
/// `served` tells the API groups the platform serves itself (the unified proxy leaves those to
/// the platform).
pub fn cluster_request(attrs: &Attributes, request: &Parts, served: impl Fn(&str) -> bool) -> Option<ClusterRequest> {
    if attrs.resource_request
        && attrs.api_group == PLATFORM_GROUP
        && attrs.resource == "clusters"
        && attrs.subresource == "proxy"
        && !attrs.name.is_empty()
    {
        let marker = format!("/clusters/{}/proxy", attrs.name);
        let after = request.uri.path().split_once(&marker).map(|(_, rest)| rest).unwrap_or_default();
        let (path, query) = inner_path(after, request.uri.query());
        let uri: Uri = match &query {
            Some(q) => format!("{path}?{q}"),
            None => path,
        }
        .parse()
        .ok()?;
        return Some(ClusterRequest {
            cluster: attrs.name.clone(),
            inner: Attributes::from_request(&request.method, &uri, attrs.user.clone()),
        });
    }
    let cluster = request.headers.get(CLUSTER_HEADER)?.to_str().ok()?.trim();
    if cluster.is_empty() {
        return None;
    }
    let path = request.uri.path();
    let kubernetes = path == "/api"
        || path.starts_with("/api/")
        || path == "/apis"
        || path.starts_with("/apis/")
        || path == "/version";
    let openapi = path.starts_with("/openapi/");
    if !(kubernetes || openapi) {
        return None;
    }
    if let Some(rest) = path.strip_prefix("/apis/")
        && served(rest.split('/').next().unwrap_or_default())
    {
        return None;
    }
    Some(ClusterRequest { cluster: cluster.to_string(), inner: attrs.clone() })
}

/// The path and query inside a proxy path: `proxy/api/v1/pods?limit=5` and TKEStack's
/// `proxy?path=/api/v1/pods&limit=5` are both `/api/v1/pods?limit=5` (the proxy forwards
/// either form so).
fn inner_path(after: &str, query: Option<&str>) -> (String, Option<String>) {
    if after.is_empty() || after == "/" {
        if let Some(q) = query {
            let mut path = String::from("/");
            let rest: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
                .filter_map(|(k, v)| {
                    if k == "path" {
                        path = v.to_string();
                        None
                    } else {
                        Some((k.into_owned(), v.into_owned()))
                    }
                })
                .collect();
            let rest = form_urlencoded::Serializer::new(String::new()).extend_pairs(rest).finish();
            let path = if path.starts_with('/') { path } else { format!("/{path}") };
            return (path, (!rest.is_empty()).then_some(rest));
        }
        return ("/".into(), None);
    }
    (after.to_string(), query.map(str::to_string))
}

/// Discovery and version paths of a business cluster, which any caller who may reach the
/// cluster reads (Kubernetes' `system:discovery`): kubectl asks them before anything else.
pub fn is_discovery(inner: &Attributes) -> bool {
    if inner.resource_request || !matches!(inner.verb.as_str(), "get" | "head") {
        return false;
    }
    let p = inner.path.trim_end_matches('/');
    let segments: Vec<&str> = p.trim_start_matches('/').split('/').collect();
    if segments.iter().any(|s| s.is_empty() || *s == "..") {
        return p.is_empty();
    }
    matches!(
        segments.as_slice(),
        ["version"] | ["api"] | ["api", _] | ["apis"] | ["apis", _] | ["apis", _, _] | ["openapi", ..]
    )
}

/// The Kubernetes namespace a request inside a cluster is about: its namespace, or the
/// namespace itself for `namespaces/{name}` (empty for cluster-wide requests).
pub fn namespace_of(inner: &Attributes) -> &str {
    if !inner.resource_request {
        return "";
    }
    if inner.api_group.is_empty() && inner.resource == "namespaces" && inner.namespace.is_empty() {
        return &inner.name;
    }
    &inner.namespace
}

/// Who owns the namespaces of business clusters.
pub trait Owners: Send + Sync {
    /// The project owning namespace `namespace` of cluster `cluster`, and the project's tenant.
    fn owner(&self, cluster: &str, namespace: &str) -> Option<Owner>;
}

/// The project owning a namespace, and its tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub project: String,
    pub tenant: String,
}

/// No namespace has an owner (servers without the business component).
pub struct NoOwners;

impl Owners for NoOwners {
    fn owner(&self, _cluster: &str, _namespace: &str) -> Option<Owner> {
        None
    }
}

/// The owners of business clusters' namespaces, from the business Namespace objects: a map
/// from `(cluster, namespace)` rebuilt when the watched objects change, so a lookup is one hash.
pub struct NamespaceOwners {
    index: Arc<Index<Namespace>>,
    /// The map and the index version it was built at.
    map: RwLock<(u64, Arc<OwnerMap>)>,
}

/// `(cluster, namespace)` → its owner.
pub type OwnerMap = HashMap<(String, String), Owner>;

impl NamespaceOwners {
    pub fn new(index: Arc<Index<Namespace>>) -> Self {
        Self { index, map: RwLock::new((u64::MAX, Arc::new(HashMap::new()))) }
    }

    fn current(&self) -> Arc<OwnerMap> {
        let version = self.index.version();
        {
            let map = self.map.read().unwrap_or_else(|e| e.into_inner());
            if map.0 == version {
                return map.1.clone();
            }
        }
        let fresh = Arc::new(owners_of(&self.index.all()));
        *self.map.write().unwrap_or_else(|e| e.into_inner()) = (version, fresh.clone());
        fresh
    }
}

impl Owners for NamespaceOwners {
    fn owner(&self, cluster: &str, namespace: &str) -> Option<Owner> {
        self.current().get(&(cluster.to_string(), namespace.to_string())).cloned()
    }
}

/// How firmly an object holds its namespace: while a namespace moves, the new project's object
/// takes over from the old one's (`Locked`); a failed object (another project's namespace, say)
/// holds nothing.
fn hold(ns: &Namespace) -> u8 {
    match ns.phase() {
        phase::FAILED => 0,
        phase::TERMINATING => 1,
        phase::LOCKED => 2,
        _ => 3,
    }
}

/// `(cluster, namespace)` → owner, from the business Namespace objects.
pub fn owners_of(items: &[Arc<Namespace>]) -> OwnerMap {
    let mut best: HashMap<(String, String), &Namespace> = HashMap::new();
    for ns in items {
        if ns.spec.cluster_name.is_empty() || ns.spec.namespace.is_empty() || hold(ns) == 0 {
            continue;
        }
        let key = (ns.spec.cluster_name.clone(), ns.spec.namespace.clone());
        let stamp =
            |n: &Namespace| n.metadata.pointer("/creationTimestamp").and_then(|v| v.as_str()).unwrap_or("").to_string();
        match best.get(&key) {
            // The firmer hold wins; between equals, the older object, then the project's name.
            Some(b)
                if (hold(b), std::cmp::Reverse(stamp(b)), std::cmp::Reverse(b.project()))
                    >= (hold(ns), std::cmp::Reverse(stamp(ns)), std::cmp::Reverse(ns.project())) => {}
            _ => {
                best.insert(key, ns);
            }
        }
    }
    best.into_iter()
        .map(|(k, ns)| (k, Owner { project: ns.project().to_string(), tenant: ns.tenant().to_string() }))
        .collect()
}

#[cfg(test)]
mod tests {
    use apiserver::UserInfo;
    use http::Method;
    use serde_json::json;

    use super::*;

    fn parts(method: Method, uri: &str, cluster: Option<&str>) -> Parts {
        let mut b = http::Request::builder().method(method).uri(uri);
        if let Some(c) = cluster {
            b = b.header(CLUSTER_HEADER, c);
        }
        b.body(()).expect("request").into_parts().0
    }

    fn find(method: Method, uri: &str, cluster: Option<&str>) -> Option<ClusterRequest> {
        let p = parts(method, uri, cluster);
        let attrs = Attributes::from_request(&p.method, &p.uri, UserInfo::default());
        cluster_request(&attrs, &p, |g| g.ends_with(".tkestack.io"))
    }

    #[test]
    fn finds_the_request_inside_the_proxy() {
        let r = find(
            Method::GET,
            "/apis/platform.tkestack.io/v1/clusters/cls-a/proxy/api/v1/namespaces/ns1/pods?watch=true",
            None,
        )
        .expect("into the cluster");
        assert_eq!(r.cluster, "cls-a");
        assert_eq!(
            (r.inner.verb.as_str(), r.inner.namespace.as_str(), r.inner.resource.as_str()),
            ("watch", "ns1", "pods")
        );
        let r = find(
            Method::DELETE,
            "/apis/platform.tkestack.io/v1/clusters/cls-a/proxy?path=/api/v1/namespaces/ns1/pods/p1&gracePeriodSeconds=0",
            None,
        )
        .expect("TKEStack's form");
        assert_eq!((r.inner.verb.as_str(), r.inner.name.as_str()), ("delete", "p1"));
        let r = find(Method::GET, "/apis/platform.tkestack.io/v1/clusters/cls-a/proxy/api", None).expect("discovery");
        assert!(is_discovery(&r.inner));
        let r = find(Method::GET, "/apis/platform.tkestack.io/v1/clusters/cls-a/proxy/api/v1/nodes", None).unwrap();
        assert_eq!(namespace_of(&r.inner), "");
        let r = find(Method::GET, "/apis/platform.tkestack.io/v1/clusters/cls-a/proxy/api/v1/namespaces/ns2", None)
            .unwrap();
        assert_eq!(namespace_of(&r.inner), "ns2", "a namespace is in itself");
        // Not into a cluster: the cluster itself, its other subresources, the platform's groups.
        assert!(find(Method::GET, "/apis/platform.tkestack.io/v1/clusters/cls-a", None).is_none());
        assert!(find(Method::GET, "/apis/platform.tkestack.io/v1/clusters/cls-a/status", None).is_none());
        assert!(find(Method::GET, "/apis/business.tkestack.io/v1/projects", Some("cls-a")).is_none());
        assert!(find(Method::GET, "/api/v1/pods", None).is_none());
    }

    #[test]
    fn the_unified_proxy_is_the_header_on_kubernetes_paths() {
        let r = find(Method::POST, "/apis/apps/v1/namespaces/ns1/deployments", Some("cls-b")).expect("unified");
        assert_eq!((r.cluster.as_str(), r.inner.verb.as_str(), r.inner.namespace.as_str()), ("cls-b", "create", "ns1"));
        assert!(find(Method::GET, "/healthz", Some("cls-b")).is_none());
        assert!(find(Method::GET, "/api/v1/pods", Some(" ")).is_none());
    }

    fn ns(project: &str, cluster: &str, name: &str, phase: &str, created: &str) -> Arc<Namespace> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": format!("{cluster}-{name}"), "namespace": project, "creationTimestamp": created},
                "spec": {"clusterName": cluster, "namespace": name},
                "status": {"phase": phase}
            }))
            .expect("namespace"),
        )
    }

    #[test]
    fn owners_prefer_the_firmest_hold() {
        let items = vec![
            ns("prj-a", "cls-a", "ns1", "Available", "2026-01-01T00:00:00Z"),
            ns("prj-b", "cls-a", "ns1", "Failed", "2025-01-01T00:00:00Z"),
            ns("prj-a", "cls-b", "ns1", "Pending", "2026-01-01T00:00:00Z"),
            // Moving from prj-c to prj-d: the new object takes over from the locked one.
            ns("prj-c", "cls-a", "ns2", "Locked", "2025-01-01T00:00:00Z"),
            ns("prj-d", "cls-a", "ns2", "Pending", "2026-02-01T00:00:00Z"),
            // Two live claims: the older one.
            ns("prj-f", "cls-a", "ns3", "Available", "2026-03-01T00:00:00Z"),
            ns("prj-e", "cls-a", "ns3", "Available", "2026-01-01T00:00:00Z"),
        ];
        let owners = owners_of(&items);
        let of = |c: &str, n: &str| owners.get(&(c.to_string(), n.to_string())).map(|o| o.project.as_str());
        assert_eq!(of("cls-a", "ns1"), Some("prj-a"));
        assert_eq!(of("cls-b", "ns1"), Some("prj-a"));
        assert_eq!(of("cls-a", "ns2"), Some("prj-d"));
        assert_eq!(of("cls-a", "ns3"), Some("prj-e"));
        assert_eq!(of("cls-a", "ns9"), None);
        let mut reversed = items.clone();
        reversed.reverse();
        assert_eq!(owners_of(&reversed), owners, "the order of the objects does not matter");
    }
}
