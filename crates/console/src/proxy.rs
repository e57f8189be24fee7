//! The gateway as its own process (`tke console`), in front of components that run as separate
//! processes (reference 9.2): each request goes to the component that serves its path prefix.
//! Protected paths need the console's session (or a bearer token); open ones (the registry's
//! data plane, the audit sink, `/auth/`) pass as they are. Two ways to tell a component who the
//! user is:
//!
//! - **passthrough**: the session's ID token goes on as `Authorization: Bearer`, and the
//!   component authenticates it (its token webhook or the auth component);
//! - **front proxy**: the gateway learns who the token belongs to (a `SelfSubjectReview` at the
//!   auth component, cached until shortly before the token expires) and names the user in
//!   `X-Remote-User`/`X-Remote-Group`/`X-Remote-Extra-*` over mutual TLS with its front-proxy
//!   certificate, which the components trust through their request-header authenticator.
//!
//! Whatever the mode, a caller's own `X-Remote-*` headers are dropped: only the gateway names
//! users. Bodies stream both ways (watches, logs, image layers).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use apimachinery::ApiError;
use apiserver::{UserInfo, http::error_response, proxying, session};
use axum::{
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode, header},
};
use futures::TryStreamExt;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// A component the gateway sends requests to.
#[derive(Clone, Debug)]
pub struct Upstream {
    /// TKEStack's module name: platform, business, auth, registry, monitor, notify, audit,
    /// logagent, application, mesh.
    pub module: String,
    /// `https://host:port` of its API.
    pub url: String,
}

/// How components learn who the user is.
pub enum Mode {
    Passthrough,
    /// The PEM of the gateway's front-proxy client certificate and key.
    FrontProxy {
        cert_and_key_pem: Vec<u8>,
    },
}

/// Path prefixes of a module, and whether the session is required on each.
fn prefixes(module: &str) -> Vec<(&'static str, bool)> {
    match module {
        // Everything else (the Kubernetes groups, discovery, OpenAPI) goes to the platform too.
        "platform" => vec![("/api/", true), ("/apis/platform.tkestack.io/", true)],
        "business" => vec![("/apis/business.tkestack.io/", true)],
        "notify" => vec![("/apis/notify.tkestack.io/", true), ("/webhook", false)],
        "auth" => vec![
            ("/apis/auth.tkestack.io/v1/apikeys/default/password/", false),
            ("/apis/auth.tkestack.io/", true),
            ("/auth/", false),
            ("/oidc/", false),
            ("/apis/authz.tkestack.io/", true),
        ],
        "monitor" => vec![("/apis/v1/monitor/", true), ("/apis/monitor.tkestack.io/", true)],
        "registry" => vec![
            ("/v2/", false),
            ("/registry/", false),
            ("/chart/", false),
            ("/service/", false),
            ("/api/chartrepo/", false),
            ("/chartrepo/", false),
            ("/apis/registry.tkestack.io/", true),
        ],
        "logagent" => vec![("/apis/logagent.tkestack.io/", true)],
        "audit" => vec![("/apis/audit.tkestack.io/v1/events/sink/", false), ("/apis/audit.tkestack.io/", true)],
        "application" => vec![("/apis/application.tkestack.io/", true)],
        "mesh" => vec![("/apis/v1/mesh/", true)],
        _ => vec![],
    }
}

/// The modules the gateway knows.
pub const MODULES: &[&str] =
    &["platform", "business", "auth", "registry", "monitor", "notify", "audit", "logagent", "application", "mesh"];

struct Route {
    prefix: &'static str,
    protected: bool,
    upstream: usize,
}

/// Who a token belongs to, remembered for a while (front-proxy mode).
struct Known {
    user: UserInfo,
    until: Instant,
}

const WHOAMI_CACHE_MAX: usize = 10_000;
const WHOAMI_TTL: Duration = Duration::from_secs(60);

pub struct Components {
    pub upstreams: Vec<Upstream>,
    routes: Vec<Route>,
    /// The platform's index, where any other path goes.
    default: Option<usize>,
    mode_front_proxy: bool,
    http: reqwest::Client,
    /// HTTP/1.1 only, unpooled: connections that switch protocols.
    upgrade_http: reqwest::Client,
    known: Mutex<HashMap<[u8; 32], Known>>,
}

/// How long an upgraded connection stays open after one side ended it.
const UPGRADED_CLOSE_GRACE: Duration = Duration::from_secs(30);

impl Components {
    /// A gateway to `upstreams`, trusting `ca_pem` for their serving certificates.
    pub fn new(upstreams: Vec<Upstream>, mode: Mode, ca_pem: &[u8]) -> Result<Self, String> {
        let front_proxy = matches!(mode, Mode::FrontProxy { .. });
        let client = |http1_only: bool| -> Result<reqwest::Client, String> {
            let mut builder = reqwest::Client::builder()
                .add_root_certificate(
                    reqwest::Certificate::from_pem(ca_pem).map_err(|e| format!("the components' CA: {e}"))?,
                )
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(Duration::from_secs(10));
            if let Mode::FrontProxy { cert_and_key_pem } = &mode {
                builder = builder.identity(
                    reqwest::Identity::from_pem(cert_and_key_pem)
                        .map_err(|e| format!("the front-proxy certificate and key: {e}"))?,
                );
            }
            if http1_only {
                builder = builder.http1_only().pool_max_idle_per_host(0);
            }
            builder.build().map_err(|e| format!("the components' client: {e}"))
        };
        let (http, upgrade_http) = (client(false)?, client(true)?);
        let routes = routes_of(&upstreams)?;
        let default = upstreams.iter().position(|u| u.module == "platform");
        Ok(Components {
            upstreams,
            routes,
            default,
            mode_front_proxy: front_proxy,
            http,
            upgrade_http,
            known: Mutex::new(HashMap::new()),
        })
    }

    /// The modules behind this gateway.
    pub fn modules(&self) -> impl Iterator<Item = &str> {
        self.upstreams.iter().map(|u| u.module.as_str())
    }

    /// A GET of `path` at the platform component as the user of `token`.
    pub async fn get_as(&self, token: &str, path: &str) -> Result<(u16, Value), ApiError> {
        let platform = self
            .default
            .map(|d| &self.upstreams[d])
            .ok_or_else(|| ApiError::unavailable("the gateway has no platform component"))?;
        let resp = self
            .http
            .get(format!("{}{path}", platform.url))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| ApiError::unavailable(format!("the platform component did not answer: {e}")))?;
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    fn route(&self, path: &str) -> Option<(usize, bool)> {
        self.routes
            .iter()
            .find(|r| path.starts_with(r.prefix) || path == r.prefix.trim_end_matches('/'))
            .map(|r| (r.upstream, r.protected))
            .or_else(|| self.default.map(|d| (d, true)))
    }

    /// Who `token` belongs to, asked of the auth component (or the platform) once a minute.
    pub async fn whoami(&self, token: &str) -> Result<UserInfo, ApiError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(k) = self.known.lock().unwrap_or_else(|e| e.into_inner()).get(&key)
            && k.until > Instant::now()
        {
            return Ok(k.user.clone());
        }
        let target = self
            .upstreams
            .iter()
            .find(|u| u.module == "auth")
            .or_else(|| self.default.map(|d| &self.upstreams[d]))
            .ok_or_else(|| {
                ApiError::unavailable("the gateway has no auth or platform component to ask who a token is")
            })?;
        let review = serde_json::json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"});
        let resp = self
            .http
            .post(format!("{}/apis/authentication.k8s.io/v1/selfsubjectreviews", target.url))
            .bearer_auth(token)
            .json(&review)
            .send()
            .await
            .map_err(|e| ApiError::unavailable(format!("the {} component did not answer: {e}", target.module)))?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            return Err(ApiError::unauthorized("the session is not valid any more; log in again"));
        }
        let body: Value = resp
            .json()
            .await
            .map_err(|e| ApiError::unavailable(format!("the {} component's answer: {e}", target.module)))?;
        let info = &body["status"]["userInfo"];
        let user = UserInfo {
            name: info["username"].as_str().unwrap_or_default().to_string(),
            uid: info["uid"].as_str().unwrap_or_default().to_string(),
            groups: serde_json::from_value(info["groups"].clone()).unwrap_or_default(),
            extra: serde_json::from_value(info["extra"].clone()).unwrap_or_default(),
        };
        if user.name.is_empty() {
            return Err(ApiError::unauthorized("the session is not valid any more; log in again"));
        }
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if known.len() >= WHOAMI_CACHE_MAX {
            let now = Instant::now();
            known.retain(|_, k| k.until > now);
            if known.len() >= WHOAMI_CACHE_MAX {
                known.clear();
            }
        }
        let ttl = session::token_expiry(token)
            .map(|exp| exp - crate::gateway::now())
            .filter(|left| *left > 0)
            .map(|left| Duration::from_secs(left as u64).min(WHOAMI_TTL))
            .unwrap_or(WHOAMI_TTL);
        known.insert(key, Known { user: user.clone(), until: Instant::now() + ttl });
        Ok(user)
    }

    /// Sends a request on to the component that serves its path.
    pub async fn forward(&self, request: Request) -> Response<Body> {
        let (mut parts, body) = request.into_parts();
        let upgrade = proxying::upgrade_asked(&parts.headers);
        if upgrade.is_some() {
            // The page's origin is checked here, against the gateway's own host; the component
            // behind sees the gateway, not the page.
            if let Err(e) = proxying::same_origin(&parts.headers) {
                return error_response(&e);
            }
            parts.headers.remove(header::ORIGIN);
        }
        match self.prepare(&mut parts).await {
            Ok(upstream) => match upgrade {
                Some(protocol) => self.send_upgrade(upstream, parts, protocol).await,
                None => self.send(upstream, parts, body).await,
            },
            Err(e) => {
                apiserver::auth::drain(body).await;
                error_response(&e)
            }
        }
    }

    /// Asks the component for the same switch of protocols (exec, attach, port-forward) and,
    /// when it answers 101, pipes the two connections together.
    async fn send_upgrade(
        &self,
        upstream: usize,
        mut parts: axum::http::request::Parts,
        protocol: HeaderValue,
    ) -> Response<Body> {
        let module = self.upstreams[upstream].module.clone();
        let Some(downstream) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() else {
            return error_response(&ApiError::bad_request(
                "this connection cannot switch protocols (HTTP/2 has no upgrades): connect with HTTP/1.1",
            ));
        };
        let (target, mut headers) = self.outgoing(upstream, &parts);
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(header::UPGRADE, protocol);
        let resp = match self.upgrade_http.request(parts.method.clone(), &target).headers(headers).send().await {
            Ok(r) => r,
            Err(e) => {
                return error_response(&ApiError::unavailable(format!("the {module} component did not answer: {e}")));
            }
        };
        if resp.status() != reqwest::StatusCode::SWITCHING_PROTOCOLS {
            return relay(resp);
        }
        let mut out = Response::builder().status(StatusCode::SWITCHING_PROTOCOLS);
        for (k, v) in resp.headers() {
            if !proxying::is_hop_by_hop(k) && k != header::CONTENT_LENGTH {
                out = out.header(k, v);
            }
        }
        if let Some(v) = resp.headers().get(header::UPGRADE) {
            out = out.header(header::CONNECTION, "Upgrade").header(header::UPGRADE, v);
        }
        tokio::spawn(async move {
            let (Ok(up), Ok(down)) = (resp.upgrade().await, downstream.await) else {
                tracing::debug!(component = %module, "an upgraded connection could not be set up");
                return;
            };
            proxying::pipe(hyper_util::rt::TokioIo::new(down), up, &module, UPGRADED_CLOSE_GRACE).await;
        });
        out.body(Body::empty()).unwrap_or_else(|_| Response::new(Body::empty()))
    }

    /// Checks the caller and rewrites the request's headers for its component: which one.
    async fn prepare(&self, parts: &mut axum::http::request::Parts) -> Result<usize, ApiError> {
        let path = parts.uri.path().to_string();
        let Some((upstream, protected)) = self.route(&path) else {
            return Err(ApiError::new(
                apimachinery::error::Reason::NotFound,
                format!("no component of this gateway serves {path}"),
            ));
        };
        // Only the gateway names users.
        let spoofed: Vec<HeaderName> =
            parts.headers.keys().filter(|k| k.as_str().starts_with("x-remote-")).cloned().collect();
        for k in spoofed {
            parts.headers.remove(k);
        }
        if protected {
            if let Err(refused) = session::adopt(parts) {
                return Err(ApiError::new(apimachinery::error::Reason::Forbidden, refused.to_string()));
            }
            if self.mode_front_proxy {
                let Some(token) = apiserver::auth::request_token(&parts.headers).map(|t| t.into_owned()) else {
                    return Err(ApiError::unauthorized("log in to the console, or send a bearer token"));
                };
                let user = self.whoami(&token).await?;
                parts.headers.remove(header::AUTHORIZATION);
                name_user(&mut parts.headers, &user);
            }
        } else {
            apiserver::cookies::remove(
                &mut parts.headers,
                &[session::COOKIE, session::CSRF_COOKIE, session::REFRESH_COOKIE],
            );
        }
        Ok(upstream)
    }

    /// The component's URL for a request, and the request's headers that travel on.
    fn outgoing(&self, upstream: usize, parts: &axum::http::request::Parts) -> (String, HeaderMap) {
        let target = format!(
            "{}{}",
            self.upstreams[upstream].url.trim_end_matches('/'),
            parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
        );
        let mut headers = HeaderMap::new();
        for (k, v) in &parts.headers {
            if !proxying::is_hop_by_hop(k) && k != header::HOST {
                headers.append(k.clone(), v.clone());
            }
        }
        (target, headers)
    }

    async fn send(&self, upstream: usize, parts: axum::http::request::Parts, body: Body) -> Response<Body> {
        let (target, headers) = self.outgoing(upstream, &parts);
        let stream = body.into_data_stream();
        let resp = self
            .http
            .request(parts.method.clone(), &target)
            .headers(headers)
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await;
        match resp {
            Ok(r) => relay(r),
            Err(e) => error_response(&ApiError::unavailable(format!(
                "the {} component did not answer: {e}",
                self.upstreams[upstream].module
            ))),
        }
    }
}

/// Every component's prefixes, longest first: the longest prefix decides
/// (`/apis/auth.tkestack.io/v1/apikeys/default/password/` before `/apis/auth.tkestack.io/`).
fn routes_of(upstreams: &[Upstream]) -> Result<Vec<Route>, String> {
    let mut routes = vec![];
    for (i, u) in upstreams.iter().enumerate() {
        if !MODULES.contains(&u.module.as_str()) {
            return Err(format!("unknown component {:?}: one of {}", u.module, MODULES.join(", ")));
        }
        for (prefix, protected) in prefixes(&u.module) {
            routes.push(Route { prefix, protected, upstream: i });
        }
    }
    routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
    Ok(routes)
}

/// A component's answer, streamed back as it comes.
fn relay(resp: reqwest::Response) -> Response<Body> {
    let mut out = Response::builder().status(resp.status().as_u16());
    if let Some(h) = out.headers_mut() {
        for (k, v) in resp.headers() {
            if !proxying::is_hop_by_hop(k) {
                h.append(k.clone(), v.clone());
            }
        }
    }
    let stream = resp.bytes_stream().map_err(std::io::Error::other);
    out.body(Body::from_stream(stream))
        .unwrap_or_else(|_| error_response(&ApiError::internal("the component's answer could not be passed on")))
}

fn name_user(headers: &mut HeaderMap, user: &UserInfo) {
    if let Ok(v) = HeaderValue::from_str(&user.name) {
        headers.insert("x-remote-user", v);
    }
    for g in &user.groups {
        if let Ok(v) = HeaderValue::from_str(g) {
            headers.append("x-remote-group", v);
        }
    }
    for (k, values) in &user.extra {
        let Ok(name) = HeaderName::from_bytes(format!("x-remote-extra-{}", escape_extra_key(k)).as_bytes()) else {
            continue;
        };
        for v in values {
            if let Ok(v) = HeaderValue::from_str(v) {
                headers.append(name.clone(), v);
            }
        }
    }
}

/// Kubernetes' escaping of extra keys in header names (percent-encoding what a header name
/// cannot hold).
fn escape_extra_key(k: &str) -> String {
    let mut out = String::new();
    for b in k.bytes() {
        match b {
            b'a'..=b'z'
            | b'A'..=b'Z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'~'
            | b'!'
            | b'#'
            | b'$'
            | b'&'
            | b'\''
            | b'*'
            | b'+'
            | b'^'
            | b'`'
            | b'|' => out.push(b.to_ascii_lowercase() as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The axum handler of every path the console does not serve itself.
pub async fn handle(State(g): State<Arc<Components>>, request: Request) -> Response<Body> {
    g.forward(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gw(modules: &[&str]) -> Components {
        let upstreams: Vec<Upstream> =
            modules.iter().map(|m| Upstream { module: m.to_string(), url: format!("https://{m}:9443") }).collect();
        Components {
            routes: routes_of(&upstreams).unwrap(),
            default: modules.iter().position(|m| *m == "platform"),
            upstreams,
            mode_front_proxy: false,
            http: reqwest::Client::new(),
            upgrade_http: reqwest::Client::new(),
            known: Mutex::new(HashMap::new()),
        }
    }

    #[test]
    fn longest_prefix_decides_and_the_platform_takes_the_rest() {
        let g = gw(&["platform", "auth", "registry", "audit"]);
        assert_eq!(g.route("/apis/auth.tkestack.io/v1/users"), Some((1, true)));
        assert_eq!(g.route("/apis/auth.tkestack.io/v1/apikeys/default/password/"), Some((1, false)));
        assert_eq!(g.route("/v2/library/nginx/manifests/1"), Some((2, false)));
        assert_eq!(g.route("/apis/audit.tkestack.io/v1/events/sink/cls-a"), Some((3, false)));
        assert_eq!(g.route("/apis/audit.tkestack.io/v1/events/list"), Some((3, true)));
        assert_eq!(g.route("/apis/apps/v1/deployments"), Some((0, true)));
        assert_eq!(g.route("/openapi/v2"), Some((0, true)));
        assert!(routes_of(&[Upstream { module: "nope".into(), url: String::new() }]).is_err());
        let no_platform = gw(&["registry"]);
        assert_eq!(no_platform.route("/apis/apps/v1"), None);
    }

    #[test]
    fn extra_keys_are_escaped_as_kubernetes_does() {
        assert_eq!(escape_extra_key("tenantid"), "tenantid");
        assert_eq!(escape_extra_key("example.com/Key"), "example.com%2Fkey");
    }
}
