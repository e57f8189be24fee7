//! The way from the platform's API to a business cluster's API: `clusters/{name}/proxy/{path}`
//! and the unified proxy (any request carrying `X-TKE-ClusterName` that is not for one of the
//! platform's own groups). Requests go to the cluster's API server with the cluster's credential
//! and act as the caller (Kubernetes impersonation headers), so the business cluster's own RBAC
//! and audit see who asked. Bodies stream both ways: watches, logs and large uploads pass
//! through without being buffered.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::{Context as _, anyhow, bail};
use apimachinery::ApiError;
use apiserver::{ApiServer, Connect, ConnectDef, ConnectRequest, UserInfo, http::error_response, resource::Context};
use axum::{
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, Method, Response, header},
    middleware::Next,
};
use base64::Engine;
use serde_json::Value;

/// The header that sends a Kubernetes request to a business cluster (TKEStack's name for it).
pub const CLUSTER_HEADER: &str = "x-tke-clustername";

const GROUP: &str = "platform.tkestack.io";
const VERSION: &str = "v1";

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
    clients: Mutex<HashMap<String, (String, reqwest::Client)>>,
}

impl ClusterProxy {
    pub fn new(server: Arc<ApiServer>) -> Arc<Self> {
        Arc::new(Self { server, clients: Mutex::new(HashMap::new()) })
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

    /// The base URL and client for `cluster`.
    async fn client_for(&self, cluster: &Value) -> Result<(String, reqwest::Client), ApiError> {
        let name = cluster["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let phase = cluster["status"]["phase"].as_str().unwrap_or_default();
        if phase == "Terminating" {
            return Err(ApiError::new(
                apimachinery::error::Reason::ServiceUnavailable,
                format!("cluster {name} is being deleted"),
            ));
        }
        let base = base_url(cluster).map_err(|e| {
            ApiError::new(
                apimachinery::error::Reason::ServiceUnavailable,
                format!("cluster {name} cannot be reached: {e}"),
            )
        })?;
        let cred_name = cluster["spec"]["clusterCredentialRef"]["name"].as_str().unwrap_or_default().to_string();
        if cred_name.is_empty() {
            return Err(ApiError::new(
                apimachinery::error::Reason::ServiceUnavailable,
                format!("cluster {name} has no credential (spec.clusterCredentialRef)"),
            ));
        }
        let creds = self
            .server
            .resource(GROUP, VERSION, "clustercredentials")
            .ok_or_else(|| ApiError::internal("the platform API is not served"))?;
        let cred = creds.get(&platform_context(), &cred_name, None).await.map_err(|e| {
            ApiError::new(
                apimachinery::error::Reason::ServiceUnavailable,
                format!("cluster {name}: credential {cred_name}: {}", e.message),
            )
        })?;
        let identity = format!("{base}|{}", cred["metadata"]["resourceVersion"].as_str().unwrap_or_default());
        if let Some((id, client)) = self.clients.lock().unwrap_or_else(|e| e.into_inner()).get(&name)
            && *id == identity
        {
            return Ok((base, client.clone()));
        }
        let client = http_client(&cred).map_err(|e| {
            ApiError::new(
                apimachinery::error::Reason::ServiceUnavailable,
                format!("cluster {name}: credential {cred_name}: {e:#}"),
            )
        })?;
        self.clients.lock().unwrap_or_else(|e| e.into_inner()).insert(name, (identity, client.clone()));
        Ok((base, client))
    }

    /// Sends one request to `cluster` at `path_and_query` as `user`, streaming both bodies.
    async fn forward(
        &self,
        cluster: &Value,
        user: &UserInfo,
        method: Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: Body,
    ) -> Response<Body> {
        let (base, client) = match self.client_for(cluster).await {
            Ok(c) => c,
            Err(e) => return error_response(&e),
        };
        let url = format!("{base}{path_and_query}");
        let mut req = client.request(method, &url);
        for (name, value) in headers {
            if !is_hop_by_hop(name) && !is_identity(name) && name != header::HOST && name != header::CONTENT_LENGTH {
                req = req.header(name, value);
            }
        }
        req = impersonate(req, user);
        let stream = body.into_data_stream();
        req = req.body(reqwest::Body::wrap_stream(stream));
        let name = cluster["metadata"]["name"].as_str().unwrap_or_default();
        match req.send().await {
            Ok(resp) => {
                let mut out = Response::builder().status(resp.status().as_u16());
                for (k, v) in resp.headers() {
                    if !is_hop_by_hop(k) && k != header::CONTENT_LENGTH {
                        out = out.header(k, v);
                    }
                }
                out.body(Body::from_stream(resp.bytes_stream())).unwrap_or_else(|_| Response::new(Body::empty()))
            }
            Err(e) => {
                tracing::debug!(cluster = name, error = %e, "proxy request failed");
                let mut detail = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    detail = format!("{detail}: {s}");
                    source = s.source();
                }
                error_response(&ApiError::new(
                    apimachinery::error::Reason::ServiceUnavailable,
                    format!("cluster {name} did not answer: {detail}"),
                ))
            }
        }
    }
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
        self.forward(&req.object, &req.user, req.method, &path_and_query, &req.headers, req.body).await
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
        self.proxy.forward(&req.object, &req.user, req.method, &path, &req.headers, req.body).await
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
    let cluster = match proxy.cluster_for(&user, &cluster_name).await {
        Ok(c) => c,
        Err(e) => return error_response(&e),
    };
    let path_and_query = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    let (parts, body) = req.into_parts();
    let mut headers = parts.headers;
    headers.remove(CLUSTER_HEADER);
    proxy.forward(&cluster, &user, parts.method, &path_and_query, &headers, body).await
}

/// The platform itself reading what the caller may not see (credentials).
pub(crate) fn platform_context() -> Context {
    Context {
        user: UserInfo {
            name: "system:tke:platform".into(),
            groups: vec![apiserver::resource::ADMIN_GROUP.into()],
            ..Default::default()
        },
        namespace: None,
    }
}

/// `https://host:port[/path]` of the cluster's API server, preferring the address the
/// cluster advertises.
pub(crate) fn base_url(cluster: &Value) -> anyhow::Result<String> {
    let addresses = cluster["status"]["addresses"].as_array().cloned().unwrap_or_default();
    let rank =
        |t: &str| ["Advertise", "Real", "Internal", "Public", "Support"].iter().position(|x| *x == t).unwrap_or(9);
    let best = addresses
        .iter()
        .filter(|a| a["host"].as_str().is_some_and(|h| !h.is_empty()))
        .min_by_key(|a| rank(a["type"].as_str().unwrap_or_default()))
        .ok_or_else(|| anyhow!("it has no address in status.addresses"))?;
    let host = best["host"].as_str().unwrap_or_default();
    let port = best["port"].as_i64().filter(|p| (1..=65535).contains(p)).unwrap_or(443);
    let path = best["path"].as_str().unwrap_or_default().trim_end_matches('/');
    let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.to_string() };
    Ok(format!("https://{host}:{port}{path}"))
}

/// A PEM field of a credential (stored base64-encoded; PEM pasted as is is accepted too).
fn pem_field(cred: &Value, field: &str) -> anyhow::Result<Option<Vec<u8>>> {
    match cred[field].as_str().filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => {
            let s = s.trim();
            if s.starts_with("-----BEGIN") {
                return Ok(Some(s.as_bytes().to_vec()));
            }
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map(Some)
                .with_context(|| format!("{field} is neither base64 nor PEM"))
        }
    }
}

/// A kube-rs client for the cluster at `base` with the credential, acting as `user`.
pub(crate) fn kube_client(base: &str, cred: &Value, user: &UserInfo) -> anyhow::Result<kube::Client> {
    let url: axum::http::Uri = base.parse().with_context(|| format!("{base} is not a URL"))?;
    let mut config = kube::Config::new(url);
    let ca = pem_field(cred, "caCert")?
        .ok_or_else(|| anyhow!("it has no caCert: the cluster's serving certificate cannot be verified"))?;
    let roots: Vec<Vec<u8>> = rustls_pemfile::certs(&mut ca.as_slice())
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<_, _>>()
        .context("caCert is not a PEM certificate")?;
    if roots.is_empty() {
        bail!("caCert holds no certificate");
    }
    config.root_cert = Some(roots);
    config.connect_timeout = Some(Duration::from_secs(10));
    if let Some(token) = cred["token"].as_str().filter(|t| !t.is_empty()) {
        config.auth_info.token = Some(token.trim().to_string().into());
    } else {
        match (pem_field(cred, "clientCert")?, pem_field(cred, "clientKey")?) {
            (Some(cert), Some(key)) => {
                let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
                config.auth_info.client_certificate_data = Some(b64(&cert));
                config.auth_info.client_key_data = Some(b64(&key).into());
            }
            _ => bail!("it has neither a token nor a client certificate and key"),
        }
    }
    if !user.name.is_empty() {
        config.auth_info.impersonate = Some(user.name.clone());
        let groups: Vec<String> = user.groups.iter().filter(|g| *g != "system:authenticated").cloned().collect();
        if !groups.is_empty() {
            config.auth_info.impersonate_groups = Some(groups);
        }
    }
    kube::Client::try_from(config).context("building the cluster client")
}

/// A client that trusts the cluster's CA (only it) and authenticates with the credential's
/// token or client certificate.
fn http_client(cred: &Value) -> anyhow::Result<reqwest::Client> {
    let decode = |field: &str| pem_field(cred, field);
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(Duration::from_secs(10))
        .tls_built_in_root_certs(false);
    match decode("caCert")? {
        Some(ca) => {
            for cert in reqwest::Certificate::from_pem_bundle(&ca).context("caCert is not a PEM certificate")? {
                builder = builder.add_root_certificate(cert);
            }
        }
        None => bail!("it has no caCert: the cluster's serving certificate cannot be verified"),
    }
    let mut headers = HeaderMap::new();
    if let Some(token) = cred["token"].as_str().filter(|t| !t.is_empty()) {
        let mut v = HeaderValue::from_str(&format!("Bearer {}", token.trim()))
            .context("token has characters a header cannot carry")?;
        v.set_sensitive(true);
        headers.insert(header::AUTHORIZATION, v);
    } else {
        match (decode("clientCert")?, decode("clientKey")?) {
            (Some(cert), Some(key)) => {
                let mut pem = cert;
                pem.push(b'\n');
                pem.extend_from_slice(&key);
                builder = builder.identity(
                    reqwest::Identity::from_pem(&pem)
                        .context("clientCert/clientKey are not a PEM certificate and key")?,
                );
            }
            _ => bail!("it has neither a token nor a client certificate and key"),
        }
    }
    builder.default_headers(headers).build().context("building the HTTP client")
}

/// Acts as the caller in the business cluster.
fn impersonate(mut req: reqwest::RequestBuilder, user: &UserInfo) -> reqwest::RequestBuilder {
    if user.name.is_empty() {
        return req;
    }
    req = req.header("Impersonate-User", &user.name);
    for g in user.groups.iter().filter(|g| *g != "system:authenticated") {
        req = req.header("Impersonate-Group", g);
    }
    if !user.uid.is_empty() {
        req = req.header("Impersonate-Uid", &user.uid);
    }
    for (k, vals) in &user.extra {
        let key: String = percent_encoding::utf8_percent_encode(k, percent_encoding::NON_ALPHANUMERIC).to_string();
        for v in vals {
            req = req.header(format!("Impersonate-Extra-{key}"), v);
        }
    }
    req
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
    use serde_json::json;

    #[test]
    fn base_url_prefers_the_advertised_address() {
        let c = json!({"status": {"addresses": [
            {"type": "Real", "host": "10.0.0.2", "port": 6443},
            {"type": "Advertise", "host": "api.example.com", "port": 443, "path": "/k8s/"},
        ]}});
        assert_eq!(base_url(&c).expect("url"), "https://api.example.com:443/k8s");
        let v6 = json!({"status": {"addresses": [{"type": "Real", "host": "fd00::1", "port": 6443}]}});
        assert_eq!(base_url(&v6).expect("url"), "https://[fd00::1]:6443");
        assert!(base_url(&json!({"status": {}})).is_err());
    }

    #[test]
    fn credentials_without_a_ca_or_identity_are_refused_with_the_reason() {
        let e = http_client(&json!({"token": "t"})).expect_err("no CA");
        assert!(format!("{e:#}").contains("no caCert"), "{e:#}");
        let e = http_client(&json!({"caCert": "not base64!"})).expect_err("bad CA");
        assert!(format!("{e:#}").contains("caCert is neither base64 nor PEM"), "{e:#}");
    }
}
