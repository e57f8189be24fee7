//! The way from the platform's API to a business cluster's API: `clusters/{name}/proxy/{path}`
//! and the unified proxy (any request carrying `X-TKE-ClusterName` that is not for one of the
//! platform's own groups). Requests go to the cluster's API server with the cluster's credential
//! and act as the caller (Kubernetes impersonation headers), so the business cluster's own RBAC
//! and audit see who asked. Before that, the platform's authorizer has decided about the request
//! inside the proxy (the auth component's `authz::clusters`: a project member reaches only the
//! namespaces of their projects). Bodies stream both ways: watches, logs and large uploads pass
//! through without being buffered.
//!
//! Requests that switch protocols (`Connection: Upgrade`: exec, attach and port-forward over
//! WebSocket or SPDY) pass through too: the upgrade is asked of the cluster on a connection of
//! its own, and when the cluster answers `101 Switching Protocols` so does the proxy, and bytes
//! are piped both ways until either side ends (the other then gets a short grace to finish). A
//! WebSocket opened by a page of another site (an `Origin` that is not the platform's own
//! address) is refused, so a page cannot use a user's session cookie to open a shell in their
//! name.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use api::platform::ClusterCredential;
use apimachinery::ApiError;
use apiserver::{ApiServer, Connect, ConnectDef, ConnectRequest, UserInfo, http::error_response, resource::Context};
use axum::{
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, header},
    middleware::Next,
};
use controller_runtime::{
    cluster::{Impersonation, base_url_of, http_client, upgrade_client},
    error_chain,
};
use hyper::upgrade::OnUpgrade;
use serde_json::Value;

/// The header that sends a Kubernetes request to a business cluster (TKEStack's name for it).
pub const CLUSTER_HEADER: &str = "x-tke-clustername";

const GROUP: &str = "platform.tkestack.io";
const VERSION: &str = "v1";
/// How long connecting to a cluster may take before the caller is told it did not answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an upgraded connection stays open after one side has ended it (for the other
/// side's last bytes, a WebSocket's closing handshake).
const CLOSE_GRACE: Duration = Duration::from_secs(30);

/// The `clusters/proxy` subresource's definition.
pub fn proxy_def() -> ConnectDef {
    ConnectDef {
        group: GROUP,
        version: VERSION,
        plural: "clusters",
        subresource: "proxy",
        verbs: &["create", "delete", "get", "patch", "update"],
        kind: "",
    }
}

/// Forwards requests to business clusters, keeping one HTTP client (and its connection pool)
/// per cluster for as long as the cluster's address and credential stay the same.
pub struct ClusterProxy {
    server: Arc<ApiServer>,
    clients: Mutex<HashMap<String, (String, Clients)>>,
}

/// The two clients of one cluster: pooled for ordinary requests, HTTP/1.1 for upgrades.
#[derive(Clone)]
struct Clients {
    plain: reqwest::Client,
    upgrade: reqwest::Client,
}

impl ClusterProxy {
    pub fn new(server: Arc<ApiServer>) -> Arc<Self> {
        Arc::new(Self { server, clients: Mutex::new(HashMap::new()) })
    }

    /// `routes` with the unified proxy in front: requests carrying [`CLUSTER_HEADER`] go to
    /// that cluster (after authentication, which must wrap the result, so they act as the caller).
    pub fn layer(self: &Arc<Self>, routes: axum::Router) -> axum::Router {
        routes.layer(axum::middleware::from_fn_with_state(self.clone(), unified))
    }

    /// Serves `clusters/{name}/proxy` on `server`.
    pub fn register(self: &Arc<Self>) -> Result<(), ApiError> {
        self.server.register_connect(proxy_def(), self.clone())
    }

    /// The cluster named `name` as the caller may see it (other tenants' clusters are NotFound).
    async fn cluster_for(&self, user: &UserInfo, name: &str) -> Result<Value, ApiError> {
        let clusters = self
            .server
            .resource(GROUP, VERSION, "clusters")
            .ok_or_else(|| ApiError::internal("the platform API is not served"))?;
        clusters.get(&Context { user: user.clone(), namespace: None }, name, None).await
    }

    /// The base URL and client for `cluster`. Clients are kept while the cluster's addresses
    /// and credential stay the same.
    async fn client_for(&self, cluster: &Value) -> Result<(String, Clients), ApiError> {
        let name = cluster["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let phase = cluster["status"]["phase"].as_str().unwrap_or_default();
        if phase == "Terminating" {
            return Err(unavailable(format!("cluster {name} is being deleted")));
        }
        let base = base_url_of(cluster).map_err(|e| unavailable(format!("cluster {name} cannot be reached: {e}")))?;
        let (cred_rv, cred) = credential_of(&self.server, cluster).await?;
        let identity = format!("{}|{cred_rv}", cluster["status"]["addresses"]);
        if let Some((id, client)) = self.clients.lock().unwrap_or_else(|e| e.into_inner()).get(&name)
            && *id == identity
        {
            return Ok((base, client.clone()));
        }
        let client = Clients {
            plain: http_client(&cred, CONNECT_TIMEOUT).map_err(|e| unavailable(format!("cluster {name}: {e}")))?,
            upgrade: upgrade_client(&cred, CONNECT_TIMEOUT).map_err(|e| unavailable(format!("cluster {name}: {e}")))?,
        };
        self.clients.lock().unwrap_or_else(|e| e.into_inner()).insert(name, (identity, client.clone()));
        Ok((base, client))
    }

    /// Sends one request to `cluster` at `path_and_query` as `user`, streaming both bodies, or,
    /// when it asks to switch protocols, passes the upgrade through ([`Self::forward_upgrade`]).
    #[allow(clippy::too_many_arguments)]
    async fn forward(
        &self,
        cluster: &Value,
        user: &UserInfo,
        method: Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: Body,
        upgrade: Option<OnUpgrade>,
    ) -> Response<Body> {
        if let Some(protocol) = upgrade_asked(headers) {
            return self.forward_upgrade(cluster, user, method, path_and_query, headers, protocol, upgrade).await;
        }
        let (base, clients) = match self.client_for(cluster).await {
            Ok(c) => c,
            Err(e) => return error_response(&e),
        };
        let url = format!("{base}{path_and_query}");
        let mut req = clients.plain.request(method, &url);
        for (name, value) in headers {
            if !is_hop_by_hop(name) && !is_identity(name) && name != header::HOST && name != header::CONTENT_LENGTH {
                req = req.header(name, value);
            }
        }
        for (k, v) in impersonation(user).headers() {
            req = req.header(k, v);
        }
        let stream = body.into_data_stream();
        req = req.body(reqwest::Body::wrap_stream(stream));
        let name = cluster["metadata"]["name"].as_str().unwrap_or_default();
        match req.send().await {
            Ok(resp) => relay(resp),
            Err(e) => {
                tracing::debug!(cluster = name, error = %e, "proxy request failed");
                error_response(&unavailable(format!("cluster {name} did not answer: {}", error_chain(&e))))
            }
        }
    }

    /// Passes a request that switches protocols (`Upgrade: websocket` or `SPDY/3.1`) through to
    /// `cluster`: asks the cluster for the same upgrade as `user`, and when it answers 101,
    /// answers 101 with the cluster's protocol headers and pipes the two connections together.
    /// Any other answer of the cluster (its Status) goes back as it is.
    #[allow(clippy::too_many_arguments)]
    async fn forward_upgrade(
        &self,
        cluster: &Value,
        user: &UserInfo,
        method: Method,
        path_and_query: &str,
        headers: &HeaderMap,
        protocol: HeaderValue,
        upgrade: Option<OnUpgrade>,
    ) -> Response<Body> {
        if let Err(e) = same_origin(headers) {
            return error_response(&e);
        }
        let Some(downstream) = upgrade else {
            return error_response(&ApiError::bad_request(
                "this connection cannot switch protocols (HTTP/2 has no upgrades): connect with HTTP/1.1",
            ));
        };
        let (base, clients) = match self.client_for(cluster).await {
            Ok(c) => c,
            Err(e) => return error_response(&e),
        };
        let url = format!("{base}{path_and_query}");
        let mut req = clients.upgrade.request(method, &url);
        for (name, value) in headers {
            if is_hop_by_hop(name) || is_identity(name) || name == header::HOST || name == header::CONTENT_LENGTH {
                continue;
            }
            if name == header::SEC_WEBSOCKET_PROTOCOL {
                // A browser's bearer token travels as a subprotocol; it stays here.
                match without_bearer_protocol(value) {
                    Some(v) => req = req.header(name, v),
                    None => continue,
                }
            } else {
                req = req.header(name, value);
            }
        }
        req = req.header(header::CONNECTION, "Upgrade").header(header::UPGRADE, protocol);
        for (k, v) in impersonation(user).headers() {
            req = req.header(k, v);
        }
        let name = cluster["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let resp = match req.send().await {
            Ok(resp) => resp,
            Err(e) => {
                tracing::debug!(cluster = name, error = %e, "proxy upgrade failed");
                return error_response(&unavailable(format!("cluster {name} did not answer: {}", error_chain(&e))));
            }
        };
        if resp.status() != reqwest::StatusCode::SWITCHING_PROTOCOLS {
            return relay(resp);
        }
        let mut out = Response::builder().status(StatusCode::SWITCHING_PROTOCOLS);
        for (k, v) in resp.headers() {
            if !is_hop_by_hop(k) && k != header::CONTENT_LENGTH {
                out = out.header(k, v);
            }
        }
        if let Some(v) = resp.headers().get(header::UPGRADE) {
            out = out.header(header::CONNECTION, "Upgrade").header(header::UPGRADE, v);
        }
        tokio::spawn(async move {
            let upstream = match resp.upgrade().await {
                Ok(u) => u,
                Err(e) => {
                    tracing::debug!(cluster = name, error = %e, "cluster connection was not upgraded");
                    return;
                }
            };
            let downstream = match downstream.await {
                Ok(d) => d,
                Err(e) => {
                    tracing::debug!(cluster = name, error = %e, "caller connection was not upgraded");
                    return;
                }
            };
            pipe(hyper_util::rt::TokioIo::new(downstream), upstream, &name, CLOSE_GRACE).await;
        });
        out.body(Body::empty()).unwrap_or_else(|_| Response::new(Body::empty()))
    }
}

/// Copies bytes both ways. When one side ends, its end is passed on (a shutdown of the other
/// side's writing) and the other direction gets `grace` to finish: a peer that never closes
/// its half cannot keep the connection, and the session's resources, forever.
async fn pipe<A, B>(caller: A, cluster: B, name: &str, grace: Duration)
where
    A: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    B: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::AsyncWriteExt as _;
    let (mut caller_read, mut caller_write) = tokio::io::split(caller);
    let (mut cluster_read, mut cluster_write) = tokio::io::split(cluster);
    let up = async {
        let n = tokio::io::copy(&mut caller_read, &mut cluster_write).await;
        let _ = cluster_write.shutdown().await;
        n
    };
    let down = async {
        let n = tokio::io::copy(&mut cluster_read, &mut caller_write).await;
        let _ = caller_write.shutdown().await;
        n
    };
    tokio::pin!(up, down);
    let (first, rest) = tokio::select! {
        n = &mut up => ("caller", (n, tokio::time::timeout(grace, &mut down).await)),
        n = &mut down => ("cluster", (n, tokio::time::timeout(grace, &mut up).await)),
    };
    match rest {
        (Ok(_), Ok(Ok(_))) => tracing::debug!(cluster = name, first, "upgraded connection ended"),
        (Ok(_), Err(_)) => {
            tracing::debug!(cluster = name, first, "upgraded connection closed: the other side kept it open")
        }
        (Err(e), _) | (_, Ok(Err(e))) => tracing::debug!(cluster = name, error = %e, "upgraded connection broke"),
    }
}

/// The cluster's answer, streamed back as it comes.
fn relay(resp: reqwest::Response) -> Response<Body> {
    let mut out = Response::builder().status(resp.status().as_u16());
    for (k, v) in resp.headers() {
        if !is_hop_by_hop(k) && k != header::CONTENT_LENGTH {
            out = out.header(k, v);
        }
    }
    out.body(Body::from_stream(resp.bytes_stream())).unwrap_or_else(|_| Response::new(Body::empty()))
}

/// The protocol a request asks to switch to (`Connection: Upgrade` with an `Upgrade` header).
fn upgrade_asked(headers: &HeaderMap) -> Option<HeaderValue> {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    let protocol = headers.get(header::UPGRADE)?;
    (connection_upgrade && !protocol.as_bytes().is_empty()).then(|| protocol.clone())
}

/// `Sec-WebSocket-Protocol` without the caller's bearer token (`None` when nothing else is left).
fn without_bearer_protocol(value: &HeaderValue) -> Option<HeaderValue> {
    let text = value.to_str().ok()?;
    let kept: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty() && !p.starts_with(apiserver::auth::WEBSOCKET_BEARER))
        .collect();
    if kept.is_empty() {
        return None;
    }
    HeaderValue::from_str(&kept.join(", ")).ok()
}

/// Refuses an upgrade whose `Origin` (sent by browsers) is not the address the request was sent
/// to (`Host`): cross-site WebSocket hijacking would otherwise let any page a user visits open a
/// shell with the user's session cookie. Tools (kubectl) send no `Origin` and are not affected.
fn same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let forbidden = |why: String| ApiError::new(apimachinery::error::Reason::Forbidden, why);
    let origin = origin.to_str().map_err(|_| forbidden("the Origin header is not readable".into()))?;
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let (scheme, authority) = origin
        .split_once("://")
        .ok_or_else(|| forbidden(format!("a connection from origin {origin:?} is refused: not a web origin")))?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return Err(forbidden(format!("a connection from origin {origin} is refused: not a web origin"))),
    };
    let authority = authority.trim_end_matches('/');
    // The platform listens with TLS only, so a Host without a port was reached on 443.
    if !host.is_empty() && host_port(authority, default_port) == host_port(host, "443") {
        return Ok(());
    }
    Err(forbidden(format!(
        "a connection from a page of {origin} is refused: only pages served by this platform ({host}) may open \
         WebSocket connections to it"
    )))
}

/// `host[:port]` as (lower-case host, port), the port defaulting to `default_port`.
fn host_port(authority: &str, default_port: &str) -> (String, String) {
    let (host, port) = match authority.rsplit_once(':') {
        // `[::1]:8443`, `h:8443`; but not the colons inside a bare `[::1]`.
        Some((h, p)) if !p.contains(']') && p.bytes().all(|b| b.is_ascii_digit()) => (h, p),
        _ => (authority, default_port),
    };
    (host.to_ascii_lowercase(), port.to_string())
}

#[async_trait::async_trait]
impl Connect for ClusterProxy {
    async fn serve(&self, req: ConnectRequest) -> Response<Body> {
        // TKEStack's form `proxy?path=/api/v1/pods&...` and the Kubernetes form `proxy/api/v1/pods?...`.
        let (path, query) = match (req.path.is_empty(), &req.query) {
            (true, Some(q)) => {
                let mut path = String::from("/");
                let rest: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
                    .filter_map(|(k, v)| {
                        if k == "path" {
                            path = v.to_string();
                            None
                        } else {
                            Some((k.to_string(), v.to_string()))
                        }
                    })
                    .collect();
                let rest = form_urlencoded::Serializer::new(String::new()).extend_pairs(rest).finish();
                (path, (!rest.is_empty()).then_some(rest))
            }
            _ => (format!("/{}", req.path), req.query.clone()),
        };
        let path = if path.starts_with('/') { path } else { format!("/{path}") };
        if path.starts_with(&format!("/apis/{GROUP}/")) || path.contains("/../") || path.ends_with("/..") {
            return error_response(&ApiError::bad_request(format!(
                "the proxy does not forward {path}: it would loop back into the platform's own API"
            )));
        }
        let path_and_query = match query {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        self.forward(&req.object, &req.user, req.method, &path_and_query, &req.headers, req.body, req.upgrade).await
    }
}

/// TKEStack's shortcuts to the add-ons' custom resources inside a cluster:
/// `clusters/{n}/tapps`, `csis` and `cronhpas`, with `?namespace=` and `?name=` choosing the
/// objects (all namespaces and all objects when absent).
pub struct CustomResourceShortcut {
    proxy: Arc<ClusterProxy>,
    group: &'static str,
    plural: &'static str,
}

impl CustomResourceShortcut {
    /// Serves the three shortcuts on the proxy's server.
    pub fn register_all(proxy: &Arc<ClusterProxy>) -> Result<(), ApiError> {
        for (sub, group) in
            [("tapps", "apps.tkestack.io"), ("csis", "storage.tkestack.io"), ("cronhpas", "extensions.tkestack.io")]
        {
            let def = ConnectDef {
                group: GROUP,
                version: VERSION,
                plural: "clusters",
                subresource: sub,
                verbs: &["get", "create", "update", "patch", "delete"],
                kind: "",
            };
            proxy
                .server
                .register_connect(def, Arc::new(CustomResourceShortcut { proxy: proxy.clone(), group, plural: sub }))?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Connect for CustomResourceShortcut {
    async fn serve(&self, req: ConnectRequest) -> Response<Body> {
        let mut namespace = String::new();
        let mut name = String::new();
        let mut rest = Vec::new();
        for (k, v) in form_urlencoded::parse(req.query.as_deref().unwrap_or("").as_bytes()) {
            match k.as_ref() {
                "namespace" => namespace = v.to_string(),
                "name" => name = v.to_string(),
                _ => rest.push((k.to_string(), v.to_string())),
            }
        }
        let mut path = format!("/apis/{}/v1", self.group);
        if !namespace.is_empty() {
            path.push_str(&format!("/namespaces/{namespace}"));
        }
        path.push_str(&format!("/{}", self.plural));
        if !name.is_empty() {
            path.push_str(&format!("/{name}"));
        }
        if !rest.is_empty() {
            path.push('?');
            path.push_str(&form_urlencoded::Serializer::new(String::new()).extend_pairs(rest).finish());
        }
        self.proxy.forward(&req.object, &req.user, req.method, &path, &req.headers, req.body, req.upgrade).await
    }
}

/// The unified proxy: requests with [`CLUSTER_HEADER`] go to that cluster unless they are for a
/// group this server serves itself (so `kubectl -H`-style tools can mix both).
pub async fn unified(State(proxy): State<Arc<ClusterProxy>>, req: Request, next: Next) -> Response<Body> {
    let Some(cluster_name) = req.headers().get(CLUSTER_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string) else {
        return next.run(req).await;
    };
    let path = req.uri().path();
    if !(path == "/api"
        || path.starts_with("/api/")
        || path == "/apis"
        || path.starts_with("/apis/")
        || path == "/version"
        || path.starts_with("/openapi/"))
    {
        return next.run(req).await;
    }
    if let Some(rest) = path.strip_prefix("/apis/") {
        let group = rest.split('/').next().unwrap_or_default();
        if proxy.server.defs().iter().any(|d| d.group == group) {
            return next.run(req).await;
        }
    }
    let user = req.extensions().get::<UserInfo>().cloned().unwrap_or_default();
    // Discovery is public on the platform, not in a business cluster: nobody anonymous goes through.
    if user.name.is_empty() || user.name == apiserver::auth::ANONYMOUS_USER {
        return error_response(&apimachinery::ApiError::unauthorized(
            "a business cluster is reached with credentials: log in first",
        ));
    }
    let cluster = match proxy.cluster_for(&user, &cluster_name).await {
        Ok(c) => c,
        Err(e) => return error_response(&e),
    };
    let path_and_query = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    let (mut parts, body) = req.into_parts();
    let upgrade = parts.extensions.remove::<OnUpgrade>();
    let mut headers = parts.headers;
    headers.remove(CLUSTER_HEADER);
    proxy.forward(&cluster, &user, parts.method, &path_and_query, &headers, body, upgrade).await
}

/// The platform itself reading what the caller may not see (credentials).
pub fn platform_context() -> Context {
    Context::system("system:tke:platform", None)
}

/// The platform acts in business clusters as the caller.
pub(crate) fn impersonation(user: &UserInfo) -> Impersonation {
    Impersonation {
        user: user.name.clone(),
        groups: user.groups.clone(),
        uid: user.uid.clone(),
        extra: user.extra.clone(),
    }
}

fn unavailable(message: String) -> ApiError {
    ApiError::new(apimachinery::error::Reason::ServiceUnavailable, message)
}

/// The ClusterCredential of a cluster object (`spec.clusterCredentialRef`), with its
/// resourceVersion, read as the platform.
pub(crate) async fn credential_of(
    server: &ApiServer,
    cluster: &Value,
) -> Result<(String, ClusterCredential), ApiError> {
    let name = cluster["metadata"]["name"].as_str().unwrap_or_default();
    let cred_name = cluster["spec"]["clusterCredentialRef"]["name"].as_str().unwrap_or_default();
    if cred_name.is_empty() {
        return Err(unavailable(format!("cluster {name} has no credential (spec.clusterCredentialRef)")));
    }
    let creds = server
        .resource(GROUP, VERSION, "clustercredentials")
        .ok_or_else(|| ApiError::internal("the platform API is not served"))?;
    let obj = creds
        .get(&platform_context(), cred_name, None)
        .await
        .map_err(|e| unavailable(format!("cluster {name}: credential {cred_name}: {}", e.message)))?;
    let rv = obj["metadata"]["resourceVersion"].as_str().unwrap_or_default().to_string();
    let cred = serde_json::from_value(obj)
        .map_err(|e| unavailable(format!("cluster {name}: credential {cred_name} cannot be read: {e}")))?;
    Ok((rv, cred))
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

/// Credentials and identity claims of the caller never travel to the cluster.
fn is_identity(name: &HeaderName) -> bool {
    name == header::AUTHORIZATION
        || name == header::COOKIE
        || name.as_str().starts_with("impersonate-")
        || name.as_str() == CLUSTER_HEADER
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neither_credentials_nor_identity_claims_travel_to_the_cluster() {
        for h in ["authorization", "cookie", "impersonate-user", "impersonate-group", CLUSTER_HEADER] {
            assert!(is_identity(&HeaderName::from_static(h)), "{h}");
        }
        assert!(!is_identity(&HeaderName::from_static("accept")));
    }

    #[tokio::test]
    async fn piped_connections_carry_bytes_both_ways_and_close_together() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let (caller, mut browser) = tokio::io::duplex(64);
        let (cluster, mut kubesim) = tokio::io::duplex(64);
        let piping = tokio::spawn(pipe(caller, cluster, "c", Duration::from_secs(30)));
        browser.write_all(b"stdin").await.unwrap();
        let mut buf = [0u8; 5];
        kubesim.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"stdin");
        kubesim.write_all(b"out").await.unwrap();
        let mut buf = [0u8; 3];
        browser.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"out");
        // The cluster ends: the browser sees the end, and when it closes too the pipe is done.
        drop(kubesim);
        assert_eq!(browser.read(&mut [0u8; 8]).await.unwrap(), 0);
        drop(browser);
        tokio::time::timeout(Duration::from_secs(10), piping).await.expect("the pipe ends").unwrap();
    }

    #[tokio::test]
    async fn a_side_that_never_closes_does_not_keep_the_pipe() {
        let (caller, _browser_stays) = tokio::io::duplex(64);
        let (cluster, kubesim) = tokio::io::duplex(64);
        let piping = tokio::spawn(pipe(caller, cluster, "c", Duration::from_millis(50)));
        drop(kubesim);
        tokio::time::timeout(Duration::from_secs(10), piping).await.expect("the pipe ends after the grace").unwrap();
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_static(k), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn upgrades_are_recognised_by_connection_and_upgrade() {
        let ws = headers(&[("connection", "keep-alive, Upgrade"), ("upgrade", "websocket")]);
        assert_eq!(upgrade_asked(&ws).unwrap(), "websocket");
        let spdy = headers(&[("connection", "upgrade"), ("upgrade", "SPDY/3.1")]);
        assert_eq!(upgrade_asked(&spdy).unwrap(), "SPDY/3.1");
        assert!(upgrade_asked(&headers(&[("upgrade", "websocket")])).is_none());
        assert!(upgrade_asked(&headers(&[("connection", "keep-alive")])).is_none());
        assert!(upgrade_asked(&headers(&[("connection", "upgrade")])).is_none());
    }

    #[test]
    fn the_bearer_subprotocol_stays_behind() {
        let bearer = format!("v5.channel.k8s.io, {}YS5iLmM, v4.channel.k8s.io", apiserver::auth::WEBSOCKET_BEARER);
        let kept = without_bearer_protocol(&HeaderValue::from_str(&bearer).unwrap()).unwrap();
        assert_eq!(kept, "v5.channel.k8s.io, v4.channel.k8s.io");
        let only = HeaderValue::from_str(&format!("{}YS5iLmM", apiserver::auth::WEBSOCKET_BEARER)).unwrap();
        assert!(without_bearer_protocol(&only).is_none());
    }

    #[test]
    fn websockets_from_other_sites_are_refused() {
        let ok = |origin: &str, host: &str| same_origin(&headers(&[("origin", origin), ("host", host)])).is_ok();
        assert!(same_origin(&headers(&[("host", "tke.example:8443")])).is_ok(), "no Origin: a tool, not a page");
        assert!(ok("https://tke.example:8443", "tke.example:8443"));
        assert!(ok("https://TKE.example", "tke.example:443"));
        assert!(ok("https://tke.example:443", "tke.example"));
        assert!(ok("https://[::1]:8443", "[::1]:8443"));
        assert!(!ok("https://evil.example", "tke.example"));
        assert!(!ok("https://tke.example:9443", "tke.example:8443"));
        assert!(!ok("http://tke.example", "tke.example"), "port 80 is not the platform's 443");
        assert!(!ok("null", "tke.example"));
        assert!(!ok("https://tke.example.evil.example", "tke.example"));
        let e = same_origin(&headers(&[("origin", "https://evil.example"), ("host", "tke.example")])).unwrap_err();
        assert_eq!(e.code(), 403);
        assert!(e.message.contains("evil.example"), "{}", e.message);
    }
}
