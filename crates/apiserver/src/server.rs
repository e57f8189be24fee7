//! The API server: the resources of one or more groups on one store, with health, version,
//! metrics, discovery and OpenAPI, as one axum `Router` (authentication is layered on by the
//! caller, see [`crate::auth`]).

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

use apimachinery::ApiError;
use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    http::{HeaderValue, Method, Response, StatusCode, header},
};
use serde_json::{Value, json};
use storage::Store;

use crate::{
    connect::{self, Connect, ConnectDef, ConnectRequest},
    discovery,
    http::{self, ResourceRequest, error_response, json_response},
    metrics::{Metrics, RequestLabels, ResourceLabels},
    openapi,
    resource::{ResourceDef, UserInfo},
    store::ResourceStore,
};

/// Static facts about the build, served at `/version`.
#[derive(Clone, Debug)]
pub struct VersionInfo {
    pub git_version: String,
    pub git_commit: String,
}

impl Default for VersionInfo {
    fn default() -> Self {
        Self { git_version: format!("v{}", env!("CARGO_PKG_VERSION")), git_commit: String::new() }
    }
}

type ResourceKey = (String, String, String);

fn key_of(group: &str, version: &str, plural: &str) -> ResourceKey {
    (group.to_string(), version.to_string(), plural.to_string())
}

/// Resources added and removed while the server runs (custom resources of CRDs).
#[derive(Default)]
struct Dynamic {
    stores: HashMap<ResourceKey, Arc<ResourceStore>>,
    /// In the order they were added, so discovery is stable.
    defs: Vec<ResourceDef>,
}

pub struct ApiServer {
    /// The resources given at construction; fixed for the server's life, so [`ApiServer::resource`]
    /// can hand out references.
    stores: HashMap<ResourceKey, Arc<ResourceStore>>,
    defs: Vec<ResourceDef>,
    /// Resources added at run time ([`ApiServer::add_resource`]).
    dynamic: RwLock<Dynamic>,
    store: Arc<dyn Store>,
    key_root: String,
    git_version: String,
    /// Rebuilt whenever the set of resources changes.
    openapi: RwLock<Arc<openapi::OpenApiDocs>>,
    version: Value,
    pub metrics: Arc<Metrics>,
    ready: AtomicBool,
    /// Subresources served by their components (`clusters/proxy`, ...), registered after start.
    connects: RwLock<Vec<connect::Registered>>,
}

impl ApiServer {
    /// Starts a watch cache for every resource and builds the discovery and OpenAPI documents.
    pub async fn new(
        store: Arc<dyn Store>,
        defs: Vec<ResourceDef>,
        key_root: &str,
        version: VersionInfo,
    ) -> Result<Arc<Self>, ApiError> {
        let mut stores = HashMap::new();
        for def in &defs {
            let rs = ResourceStore::new(def.clone(), store.clone(), key_root).await?;
            stores.insert((def.group.to_string(), def.version.to_string(), def.plural.to_string()), rs);
        }
        let openapi = openapi::build_shared(&defs, &version.git_version);
        let version_doc = json!({
            "major": "1", "minor": "32",
            "gitVersion": version.git_version,
            "gitCommit": version.git_commit,
            "gitTreeState": "clean",
            "buildDate": "",
            "goVersion": "",
            "compiler": "rustc",
            "platform": format!("{}/{}", std::env::consts::OS, if std::env::consts::ARCH == "x86_64" { "amd64" } else { std::env::consts::ARCH }),
        });
        Ok(Arc::new(Self {
            stores,
            defs,
            dynamic: RwLock::new(Dynamic::default()),
            store,
            key_root: key_root.to_string(),
            git_version: version.git_version,
            openapi: RwLock::new(openapi),
            version: version_doc,
            metrics: Metrics::new(),
            ready: AtomicBool::new(true),
            connects: RwLock::new(Vec::new()),
        }))
    }

    /// The store under the server's resources and the prefix of their keys, for a component's
    /// private records that are never served (the auth component's authorization codes,
    /// refresh-token families and sessions), kept under `{key_root}/{component}/`.
    pub fn kv(&self) -> (Arc<dyn Store>, &str) {
        (self.store.clone(), &self.key_root)
    }

    /// The resources given at construction (see [`ApiServer::all_defs`] for those added since).
    pub fn defs(&self) -> &[ResourceDef] {
        &self.defs
    }

    /// Every resource served now: those given at construction, then those added at run time.
    pub fn all_defs(&self) -> Vec<ResourceDef> {
        let dynamic = self.dynamic.read().unwrap_or_else(|e| e.into_inner());
        self.defs.iter().chain(dynamic.defs.iter()).cloned().collect()
    }

    /// The store of one resource given at construction, for in-process callers (controllers,
    /// tests). Resources added at run time are reached with [`ApiServer::resource_store`].
    pub fn resource(&self, group: &str, version: &str, plural: &str) -> Option<&Arc<ResourceStore>> {
        self.stores.get(&key_of(group, version, plural))
    }

    /// The store of any resource served now, including those added at run time.
    pub fn resource_store(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceStore>> {
        let key = key_of(group, version, plural);
        if let Some(s) = self.stores.get(&key) {
            return Some(s.clone());
        }
        self.dynamic.read().unwrap_or_else(|e| e.into_inner()).stores.get(&key).cloned()
    }

    /// Adds an admission ([`crate::admission`]) to every write of a resource served now: a
    /// component calls it when mounted. NotFound when the resource is not served.
    pub fn add_admission(
        &self,
        group: &str,
        version: &str,
        plural: &str,
        admission: Arc<dyn crate::admission::Admission>,
    ) -> Result<(), ApiError> {
        let store = self
            .resource_store(group, version, plural)
            .ok_or_else(|| ApiError::not_found(group, "resources", &format!("{version}/{plural}")))?;
        store.add_admission(admission);
        Ok(())
    }

    /// Serves a new resource from now on (a custom resource of a CRD): a store and watch cache
    /// of its own, listed by discovery and OpenAPI at once. Adding a resource that is already
    /// served at run time replaces its definition (names, columns, subresources) and restarts
    /// its watch cache, which ends its open watches as Kubernetes does when a CRD changes; the
    /// stored objects stay. Resources given at construction cannot be replaced.
    pub async fn add_resource(&self, def: ResourceDef) -> Result<(), ApiError> {
        let key = key_of(def.group, def.version, def.plural);
        if self.stores.contains_key(&key) {
            return Err(ApiError::new(
                apimachinery::error::Reason::AlreadyExists,
                format!("{} in {} is a built-in resource and cannot be redefined", def.plural, def.api_version()),
            ));
        }
        {
            let clash = self.all_defs().into_iter().find(|d| {
                d.group == def.group && d.version == def.version && d.plural != def.plural && d.kind == def.kind
            });
            if let Some(other) = clash {
                return Err(ApiError::new(
                    apimachinery::error::Reason::AlreadyExists,
                    format!("the kind {} of {} is already served by {}", def.kind, def.api_version(), other.plural),
                ));
            }
        }
        let rs = ResourceStore::new(def.clone(), self.store.clone(), &self.key_root).await?;
        {
            let mut dynamic = self.dynamic.write().unwrap_or_else(|e| e.into_inner());
            dynamic.stores.insert(key.clone(), rs);
            match dynamic
                .defs
                .iter_mut()
                .find(|d| d.group == def.group && d.version == def.version && d.plural == def.plural)
            {
                Some(slot) => *slot = def,
                None => dynamic.defs.push(def),
            }
        }
        self.rebuild_openapi();
        Ok(())
    }

    /// Stops serving a resource added at run time (its watch cache stops once in-flight
    /// requests end; stored objects are left to the caller). Returns whether it was served;
    /// resources given at construction are never removed.
    pub fn remove_resource(&self, group: &str, version: &str, plural: &str) -> bool {
        let key = key_of(group, version, plural);
        let removed = {
            let mut dynamic = self.dynamic.write().unwrap_or_else(|e| e.into_inner());
            let removed = dynamic.stores.remove(&key).is_some();
            dynamic.defs.retain(|d| !(d.group == group && d.version == version && d.plural == plural));
            removed
        };
        if removed {
            self.connects
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|r| !(r.def.group == group && r.def.version == version && r.def.plural == plural));
            self.rebuild_openapi();
        }
        removed
    }

    /// The OpenAPI documents of the resources served now.
    pub fn openapi(&self) -> Arc<openapi::OpenApiDocs> {
        self.openapi.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn rebuild_openapi(&self) {
        let docs = openapi::build_shared(&self.all_defs(), &self.git_version);
        *self.openapi.write().unwrap_or_else(|e| e.into_inner()) = docs;
    }

    fn core_defs(&self) -> Vec<ResourceDef> {
        self.all_defs().into_iter().filter(|d| d.group.is_empty()).collect()
    }

    fn group_defs(&self) -> Vec<ResourceDef> {
        self.all_defs().into_iter().filter(|d| !d.group.is_empty()).collect()
    }

    /// Serves `def.subresource` of `def.plural` with `handler` (replacing an earlier handler of
    /// the same subresource). Fails when the server has no such resource.
    pub fn register_connect(&self, def: ConnectDef, handler: Arc<dyn Connect>) -> Result<(), ApiError> {
        if self.resource_store(def.group, def.version, def.plural).is_none() {
            return Err(ApiError::internal(format!(
                "cannot serve {}/{}: no resource {} in {}/{}",
                def.plural, def.subresource, def.plural, def.group, def.version
            )));
        }
        let mut connects = self.connects.write().unwrap_or_else(|e| e.into_inner());
        connects.retain(|r| {
            !(r.def.group == def.group
                && r.def.version == def.version
                && r.def.plural == def.plural
                && r.def.subresource == def.subresource)
        });
        connects.push(connect::Registered { def, handler });
        Ok(())
    }

    fn connect_defs(&self) -> Vec<ConnectDef> {
        self.connects.read().unwrap_or_else(|e| e.into_inner()).iter().map(|r| r.def.clone()).collect()
    }

    fn connect_handler(&self, group: &str, version: &str, plural: &str, sub: &str) -> Option<Arc<dyn Connect>> {
        self.connects
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|r| {
                r.def.group == group && r.def.version == version && r.def.plural == plural && r.def.subresource == sub
            })
            .map(|r| r.handler.clone())
    }

    /// Marks the server as shutting down: `/readyz` fails so load balancers drain it.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new().fallback(handle).with_state(self.clone())
    }

    async fn health(&self, path: &str) -> Response<Body> {
        let ok = if path.starts_with("/livez") {
            Ok(())
        } else if !self.ready.load(Ordering::SeqCst) {
            Err("shutting down".to_string())
        } else {
            self.store.revisions().await.map(|_| ()).map_err(|e| e.to_string())
        };
        let (code, text) = match ok {
            Ok(()) => (StatusCode::OK, "ok".to_string()),
            Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("[-]storage failed: {e}\nhealthz check failed")),
        };
        let mut resp = Response::new(Body::from(text));
        *resp.status_mut() = code;
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        resp
    }

    fn is_namespaced(&self, group: &str, version: &str, plural: &str) -> bool {
        self.resource_store(group, version, plural).is_some_and(|r| r.def.namespaced)
    }
}

fn verb_of(method: &Method, has_name: bool, watch: bool) -> &'static str {
    match (method, has_name) {
        (&Method::GET, _) if watch => "watch",
        (&Method::GET, true) => "get",
        (&Method::GET, false) => "list",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, true) => "delete",
        (&Method::DELETE, false) => "deletecollection",
        _ => "other",
    }
}

fn raw(code: StatusCode, content_type: &str, body: impl Into<Body>) -> Response<Body> {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = code;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

async fn handle(State(server): State<Arc<ApiServer>>, req: Request) -> Response<Body> {
    let path = req.uri().path().to_string();
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    match path.as_str() {
        p if p == "/healthz"
            || p == "/readyz"
            || p == "/livez"
            || p.starts_with("/healthz/")
            || p.starts_with("/readyz/")
            || p.starts_with("/livez/") =>
        {
            return server.health(p).await;
        }
        "/version" | "/version/" => {
            return json_response(StatusCode::OK, serde_json::to_vec(&server.version).unwrap_or_default());
        }
        "/metrics" => return raw(StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", server.metrics.render()),
        "/api" | "/api/" => {
            return vary_accept(match discovery::negotiate(&accept) {
                discovery::DiscoveryFormat::Aggregated { version, content_type } => raw(
                    StatusCode::OK,
                    &content_type,
                    serde_json::to_vec(&discovery::aggregated_discovery_with_connect(
                        &server.core_defs(),
                        &server.connect_defs(),
                        version,
                    ))
                    .unwrap_or_default(),
                ),
                discovery::DiscoveryFormat::Legacy => {
                    let mut doc = discovery::api_versions();
                    if !server.core_defs().is_empty() {
                        doc["versions"] = json!(["v1"]);
                    }
                    json_response(StatusCode::OK, serde_json::to_vec(&doc).unwrap_or_default())
                }
            });
        }
        "/apis" | "/apis/" => {
            return vary_accept(match discovery::negotiate(&accept) {
                discovery::DiscoveryFormat::Aggregated { version, content_type } => raw(
                    StatusCode::OK,
                    &content_type,
                    serde_json::to_vec(&discovery::aggregated_discovery_with_connect(
                        &server.group_defs(),
                        &server.connect_defs(),
                        version,
                    ))
                    .unwrap_or_default(),
                ),
                discovery::DiscoveryFormat::Legacy => json_response(
                    StatusCode::OK,
                    serde_json::to_vec(&discovery::api_group_list(&server.group_defs())).unwrap_or_default(),
                ),
            });
        }
        _ => {}
    }
    if (req.method() == Method::GET || req.method() == Method::HEAD)
        && let Some(resp) = openapi::serve(&server.openapi(), &path, req.uri().query(), req.headers())
    {
        return resp;
    }
    // The core group lives at /api/<version>/..., every other group at /apis/<group>/<version>/...
    let (group, version, tail) = if let Some(rest) = path.strip_prefix("/apis/") {
        let mut parts = rest.splitn(3, '/');
        (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        )
    } else if let Some(rest) = path.strip_prefix("/api/") {
        let mut parts = rest.splitn(2, '/');
        (String::new(), parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string())
    } else {
        return error_response(&ApiError::new(
            apimachinery::error::Reason::NotFound,
            format!("the server could not find the requested resource (path {path})"),
        ));
    };
    if version.is_empty() && group.is_empty() {
        return error_response(&ApiError::new(
            apimachinery::error::Reason::NotFound,
            format!("the server could not find the requested resource (path {path})"),
        ));
    }
    if version.is_empty() {
        return match discovery::api_group(&server.all_defs(), &group) {
            Some(doc) => json_response(StatusCode::OK, serde_json::to_vec(&doc).unwrap_or_default()),
            None => error_response(&ApiError::new(
                apimachinery::error::Reason::NotFound,
                "the server could not find the requested resource",
            )),
        };
    }
    if tail.is_empty() {
        return match discovery::api_resource_list_with_connect(
            &server.all_defs(),
            &server.connect_defs(),
            &group,
            &version,
        ) {
            Some(doc) => json_response(StatusCode::OK, serde_json::to_vec(&doc).unwrap_or_default()),
            None => error_response(&ApiError::new(
                apimachinery::error::Reason::NotFound,
                "the server could not find the requested resource",
            )),
        };
    }
    let not_found = || {
        error_response(&ApiError::new(
            apimachinery::error::Reason::NotFound,
            format!("the server could not find the requested resource (path {path})"),
        ))
    };
    if let Some((namespace, plural, name, sub, rest)) =
        connect::split(&tail, |p| server.is_namespaced(&group, &version, p))
        && let Some(handler) = server.connect_handler(&group, &version, &plural, &sub)
    {
        return serve_connect(&server, handler, req, group, version, plural, namespace, name, sub, rest).await;
    }
    let Some(target) = http::parse_target(&tail, |p| server.is_namespaced(&group, &version, p)) else {
        return not_found();
    };
    let Some(store) = server.resource_store(&group, &version, &target.plural) else { return not_found() };
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, http::MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return error_response(&ApiError::too_large(format!(
                "the request body is larger than the limit of {} bytes",
                http::MAX_BODY
            )));
        }
    };
    let query = http::parse_query(parts.uri.query());
    let watch = query.get("watch").is_some_and(|w| crate::http::parse_bool(w) == Some(true));
    let verb = verb_of(&parts.method, target.name.is_some(), watch);
    let user = parts.extensions.get::<UserInfo>().cloned().unwrap_or_default();
    let labels = ResourceLabels { group: group.clone(), resource: target.plural.clone() };
    let started = Instant::now();
    let rr = ResourceRequest { store: &store, target, method: parts.method, headers: parts.headers, query, user, body };
    let resp = rr.serve().await;
    server
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            verb: verb.into(),
            group,
            resource: labels.resource.clone(),
            code: resp.status().as_u16().to_string(),
        })
        .inc();
    if verb == "watch" {
        let gauge = server.metrics.watchers.get_or_create(&labels).clone();
        gauge.inc();
        let (parts, body) = resp.into_parts();
        let guard = WatchGuard(gauge);
        let stream = http_body_util::BodyStream::new(body);
        let stream = futures::StreamExt::map(stream, move |f| {
            let _keep = &guard;
            f.map(|frame| frame.into_data().unwrap_or_default())
        });
        return Response::from_parts(parts, Body::from_stream(stream));
    }
    server.metrics.latency.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
    resp
}

/// Hands a connect subresource request to its handler once the parent object is known to exist
/// and be visible to the caller.
#[allow(clippy::too_many_arguments)]
async fn serve_connect(
    server: &Arc<ApiServer>,
    handler: Arc<dyn Connect>,
    req: Request,
    group: String,
    version: String,
    plural: String,
    namespace: Option<String>,
    name: String,
    sub: String,
    rest: String,
) -> Response<Body> {
    let Some(store) = server.resource_store(&group, &version, &plural) else {
        return error_response(&ApiError::new(
            apimachinery::error::Reason::NotFound,
            format!("the server could not find the requested resource ({plural}/{sub})"),
        ));
    };
    if store.def.namespaced && namespace.is_none() {
        return error_response(&ApiError::not_found(store.def.group, store.def.plural, &name));
    }
    let (mut parts, body) = req.into_parts();
    let user = parts.extensions.get::<UserInfo>().cloned().unwrap_or_default();
    let upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
    let ctx = crate::resource::Context { user: user.clone(), namespace: namespace.clone() };
    let started = Instant::now();
    let object = match store.get(&ctx, &name, None).await {
        Ok(o) => o,
        Err(e) => {
            crate::auth::drain(body).await;
            return error_response(&e);
        }
    };
    let method = parts.method.clone();
    let resp = handler
        .serve(ConnectRequest {
            store,
            object,
            namespace,
            name,
            path: rest,
            query: parts.uri.query().map(str::to_string),
            method: parts.method,
            headers: parts.headers,
            body,
            user,
            upgrade,
        })
        .await;
    let verb = verb_of(&method, true, false);
    let resource = format!("{plural}/{sub}");
    server
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            verb: verb.into(),
            group: group.clone(),
            resource: resource.clone(),
            code: resp.status().as_u16().to_string(),
        })
        .inc();
    server.metrics.latency.get_or_create(&ResourceLabels { group, resource }).observe(started.elapsed().as_secs_f64());
    resp
}

/// Root discovery answers in the format the Accept header asked for, so caches must key on it.
fn vary_accept(mut resp: Response<Body>) -> Response<Body> {
    resp.headers_mut().insert(header::VARY, HeaderValue::from_static("Accept"));
    resp
}

/// Decrements the open-watch gauge when the watch response ends.
struct WatchGuard(prometheus_client::metrics::gauge::Gauge);
impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}
