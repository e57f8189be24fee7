//! The `logagent.tkestack.io/v1` API in an API server (reference 1.8 and 8.1): the LogAgent kind
//! (installed by the add-on controller, crates/addons, the same way as the LogCollector add-on)
//! and its subresources, which reach the business cluster and its node agents for the caller:
//!
//! - `POST logagents/{n}/filetree`, `POST …/filecontent`, `GET …/filedownload`: a container's
//!   log files, asked of the agent on the pod's node (`https://<hostIP>:<agent port>`, with the
//!   token the platform keeps in the cluster's Secret `kube-system/tke-logagent-token`);
//! - `POST …/esdetection`: whether an Elasticsearch endpoint answers, and accepts the user;
//! - `{GET,POST,PUT,DELETE} …/logcollector?namespace=&name=`: the cluster's LogCollector rules,
//!   through the cluster's credential acting as the caller (impersonation), so the cluster's own
//!   RBAC decides too.
//!
//! The server has already authorized the caller for the subresource and checked that the caller
//! sees the LogAgent (tenant scoping) before a handler runs.

use std::{sync::Arc, time::Duration};

use api::logagent::{
    API_VERSION, GROUP, LogEsDetection, LogFile, LogFileContent, LogFileContentStatus, LogFileProxyOptions,
    LogFileTree, LogFileTreeStatus, MAX_CONTENT_LENGTH, VERSION,
};
use apimachinery::{ApiError, error::Reason};
use apiserver::{
    ApiServer, Component, Connect, ConnectDef, ConnectRequest, Mount, ResourceDef, UserInfo,
    component::{MountContext, MountError},
    http::error_response,
    resource::Context,
};
use axum::{
    body::Body,
    http::{HeaderValue, Method, Response, StatusCode, header},
};
use base64::Engine as _;
use controller_runtime::cluster::{self, ClientOptions, Impersonation};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// The port the agents serve on (the DaemonSet's host port).
pub const AGENT_PORT: u16 = 31139;
/// The Secret holding the agents' token in the business cluster.
pub const TOKEN_SECRET: &str = "tke-logagent-token";
pub const TOKEN_NAMESPACE: &str = "kube-system";
/// The largest body a subresource request may carry.
const MAX_BODY: usize = 1 << 20;

/// How the platform reaches the agents.
#[derive(Clone, Debug)]
pub struct Config {
    /// The agents' port ([`AGENT_PORT`] unless the DaemonSet is changed, or a test runs the
    /// agent as a local process).
    pub agent_port: u16,
    /// Reach every agent at this host instead of its pod's node address (a test's local agent).
    pub agent_host: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config { agent_port: AGENT_PORT, agent_host: None }
    }
}

/// The logagent component.
#[derive(Default)]
pub struct LogAgentComponent {
    pub config: Config,
}

#[async_trait::async_trait]
impl Component for LogAgentComponent {
    fn name(&self) -> &'static str {
        "logagent"
    }

    fn resources(&self) -> Vec<ResourceDef> {
        api::logagent::resources()
    }

    async fn mount(&self, server: &Arc<ApiServer>, _ctx: &MountContext) -> Result<Mount, MountError> {
        // The agents serve a certificate of their own making (each node generates one): the
        // connection is encrypted, and the agent knows the caller by the token; the platform
        // trusts the node address it got from the cluster's API.
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("the HTTP client for the log agents: {e}"))?;
        let es = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .danger_accept_invalid_certs(true)
            .build()
            .map_err(|e| format!("the HTTP client for Elasticsearch detection: {e}"))?;
        let shared = Arc::new(Shared { server: server.clone(), config: self.config.clone(), http, es });
        for (sub, verbs, kind) in [
            ("filetree", &["create"][..], "LogFileTree"),
            ("filecontent", &["create"][..], "LogFileContent"),
            ("filedownload", &["get"][..], ""),
            ("esdetection", &["create"][..], "LogEsDetection"),
            ("logcollector", &["get", "create", "update", "delete"][..], ""),
        ] {
            let def = ConnectDef { group: GROUP, version: VERSION, plural: "logagents", subresource: sub, verbs, kind };
            server.register_connect(def, Arc::new(Handler { shared: shared.clone(), sub }))?;
        }
        Ok(Mount::default())
    }
}

struct Shared {
    server: Arc<ApiServer>,
    config: Config,
    http: reqwest::Client,
    es: reqwest::Client,
}

struct Handler {
    shared: Arc<Shared>,
    sub: &'static str,
}

#[async_trait::async_trait]
impl Connect for Handler {
    async fn serve(&self, req: ConnectRequest) -> Response<Body> {
        let s = &self.shared;
        let result = match self.sub {
            "filetree" => s.filetree(req).await,
            "filecontent" => s.filecontent(req).await,
            "filedownload" => s.filedownload(req).await,
            "esdetection" => s.esdetection(req).await,
            _ => s.logcollector(req).await,
        };
        result.unwrap_or_else(|e| error_response(&e))
    }
}

fn json_response(code: StatusCode, v: &Value) -> Response<Body> {
    let mut r = Response::new(Body::from(serde_json::to_vec(v).unwrap_or_default()));
    *r.status_mut() = code;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn only(req: &ConnectRequest, method: Method) -> Result<(), ApiError> {
    if req.method != method || !req.path.is_empty() {
        return Err(ApiError::new(
            Reason::MethodNotAllowed,
            format!("this subresource accepts {method} on logagents/{}/<subresource> only", req.name),
        ));
    }
    Ok(())
}

async fn body_of<T: DeserializeOwned>(req: ConnectRequest) -> Result<T, ApiError> {
    let bytes = axum::body::to_bytes(req.body, MAX_BODY)
        .await
        .map_err(|_| ApiError::too_large(format!("the request body is larger than {MAX_BODY} bytes")))?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("the request body cannot be read: {e}")))
}

fn query_of(req: &ConnectRequest) -> Vec<(String, String)> {
    form_urlencoded::parse(req.query.as_deref().unwrap_or_default().as_bytes()).into_owned().collect()
}

fn unavailable(msg: String) -> ApiError {
    ApiError::new(Reason::ServiceUnavailable, msg)
}

fn check_names(ns: &str, pod: &str, container: &str) -> Result<(), ApiError> {
    for (what, v) in [("namespace", ns), ("pod", pod), ("container", container)] {
        if v.is_empty() {
            return Err(ApiError::bad_request(format!("spec.{what} is required")));
        }
    }
    Ok(())
}

impl Shared {
    fn platform_ctx() -> Context {
        Context::system("system:tke:logagent", None)
    }

    /// A client of the LogAgent's cluster: as the platform, or acting as `user`.
    async fn cluster_client(&self, agent: &Value, user: Option<&UserInfo>) -> Result<kube::Client, ApiError> {
        let name = agent["spec"]["clusterName"].as_str().unwrap_or_default();
        let clusters = self
            .server
            .resource("platform.tkestack.io", "v1", "clusters")
            .ok_or_else(|| ApiError::internal("the platform API is not served with the logagent API"))?;
        let c = clusters
            .get(&Self::platform_ctx(), name, None)
            .await
            .map_err(|e| unavailable(format!("the LogAgent's cluster {name}: {}", e.message)))?;
        let cred_name = c["spec"]["clusterCredentialRef"]["name"].as_str().unwrap_or_default();
        if cred_name.is_empty() {
            return Err(unavailable(format!("cluster {name} has no credential (spec.clusterCredentialRef)")));
        }
        let creds = self
            .server
            .resource("platform.tkestack.io", "v1", "clustercredentials")
            .ok_or_else(|| ApiError::internal("the platform API is not served with the logagent API"))?;
        let cred = creds
            .get(&Self::platform_ctx(), cred_name, None)
            .await
            .map_err(|e| unavailable(format!("cluster {name}: credential {cred_name}: {}", e.message)))?;
        let cred = serde_json::from_value(cred)
            .map_err(|e| unavailable(format!("cluster {name}: credential {cred_name} cannot be read: {e}")))?;
        let base = cluster::base_url_of(&c).map_err(|e| unavailable(format!("cluster {name}: {e}")))?;
        let mut opts = ClientOptions {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Some(Duration::from_secs(60)),
            impersonate: None,
        };
        if let Some(u) = user {
            opts = opts.acting_as(Impersonation {
                user: u.name.clone(),
                groups: u.groups.clone(),
                uid: u.uid.clone(),
                extra: u.extra.clone(),
            });
        }
        cluster::client(&base, &cred, &opts).map_err(|e| unavailable(format!("cluster {name}: {e}")))
    }

    /// The address of the agent serving (namespace, pod), and its token.
    async fn agent_of(&self, agent: &Value, ns: &str, pod: &str) -> Result<(String, String), ApiError> {
        let client = self.cluster_client(agent, None).await?;
        let cluster = agent["spec"]["clusterName"].as_str().unwrap_or_default();
        let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(client.clone(), ns);
        let p = pods.get(pod).await.map_err(|e| match e {
            kube::Error::Api(s) if s.code == 404 => ApiError::not_found("", "pods", &format!("{ns}/{pod}")),
            e => unavailable(format!("cluster {cluster}: reading pod {ns}/{pod}: {e}")),
        })?;
        let host_ip = p.status.and_then(|s| s.host_ip).unwrap_or_default();
        let host = match &self.config.agent_host {
            Some(h) => h.clone(),
            None if host_ip.is_empty() => {
                return Err(unavailable(format!("pod {ns}/{pod} is not on a node yet (no status.hostIP)")));
            }
            None => host_ip,
        };
        let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> = kube::Api::namespaced(client, TOKEN_NAMESPACE);
        let secret = secrets.get(TOKEN_SECRET).await.map_err(|e| {
            unavailable(format!(
                "cluster {cluster}: the log agents' token (Secret {TOKEN_NAMESPACE}/{TOKEN_SECRET}) cannot be read: {e}; is the LogAgent Running?"
            ))
        })?;
        let token = secret
            .data
            .and_then(|d| d.get("token").map(|b| String::from_utf8_lossy(&b.0).trim().to_string()))
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                unavailable(format!("cluster {cluster}: Secret {TOKEN_NAMESPACE}/{TOKEN_SECRET} has no token"))
            })?;
        let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host };
        Ok((format!("https://{host}:{}", self.config.agent_port), token))
    }

    /// Asks the agent; its error Status (403 for a path out, 404 …) is passed on.
    async fn ask_agent(
        &self,
        agent: &Value,
        ns: &str,
        pod: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<reqwest::Response, ApiError> {
        let (base, token) = self.agent_of(agent, ns, pod).await?;
        let resp = self
            .http
            .get(format!("{base}{path}"))
            .query(query)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| unavailable(format!("the log agent of pod {ns}/{pod} at {base} does not answer: {e}")))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let code = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or_default();
        let message = body["message"].as_str().unwrap_or("the log agent refused the request").to_string();
        Err(match code {
            400 => ApiError::bad_request(message),
            403 => ApiError::forbidden("", "logfiles", "", &message),
            404 => ApiError::new(Reason::NotFound, message),
            401 => unavailable(format!("the log agent at {base} refused the platform's token: {message}")),
            _ => unavailable(format!("the log agent at {base}: {code} {message}")),
        })
    }

    async fn filetree(&self, req: ConnectRequest) -> Result<Response<Body>, ApiError> {
        only(&req, Method::POST)?;
        let agent = req.object.clone();
        let mut t: LogFileTree = body_of(req).await?;
        let s = &t.spec;
        check_names(&s.namespace, &s.pod, &s.container)?;
        let q = [("namespace", s.namespace.clone()), ("pod", s.pod.clone()), ("container", s.container.clone())];
        let resp = self.ask_agent(&agent, &s.namespace, &s.pod, "/v1/logfile/tree", &q).await?;
        let v: Value = resp.json().await.map_err(|e| unavailable(format!("the log agent's answer: {e}")))?;
        let files = v["files"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| LogFile {
                path: f["fullPath"].as_str().or(f["path"].as_str()).unwrap_or_default().to_string(),
                size: f["size"].as_u64().unwrap_or(0),
                mod_time: f["modTime"].as_str().unwrap_or_default().to_string(),
                kind: f["kind"].as_str().unwrap_or("stdout").to_string(),
            })
            .collect();
        t.api_version = Some(API_VERSION.into());
        t.kind = Some("LogFileTree".into());
        t.status = Some(LogFileTreeStatus { files });
        Ok(json_response(StatusCode::OK, &serde_json::to_value(&t).unwrap_or_default()))
    }

    async fn filecontent(&self, req: ConnectRequest) -> Result<Response<Body>, ApiError> {
        only(&req, Method::POST)?;
        let agent = req.object.clone();
        let mut c: LogFileContent = body_of(req).await?;
        let s = &c.spec;
        check_names(&s.container.namespace, &s.container.pod, &s.container.container)?;
        if s.filepath.is_empty() {
            return Err(ApiError::bad_request("spec.filepath is required (a path filetree listed)"));
        }
        let length = s.length.min(MAX_CONTENT_LENGTH);
        let q = [
            ("namespace", s.container.namespace.clone()),
            ("pod", s.container.pod.clone()),
            ("container", s.container.container.clone()),
            ("filepath", s.filepath.clone()),
            ("start", s.start.to_string()),
            ("length", length.to_string()),
        ];
        let resp = self.ask_agent(&agent, &s.container.namespace, &s.container.pod, "/v1/logfile/content", &q).await?;
        let v: Value = resp.json().await.map_err(|e| unavailable(format!("the log agent's answer: {e}")))?;
        c.status = Some(LogFileContentStatus {
            content: v["content"].as_str().unwrap_or_default().to_string(),
            start: v["start"].as_u64().unwrap_or(s.start),
            length: v["length"].as_u64().unwrap_or(0),
            size: v["size"].as_u64().unwrap_or(0),
        });
        c.spec.length = length;
        c.api_version = Some(API_VERSION.into());
        c.kind = Some("LogFileContent".into());
        Ok(json_response(StatusCode::OK, &serde_json::to_value(&c).unwrap_or_default()))
    }

    async fn filedownload(&self, req: ConnectRequest) -> Result<Response<Body>, ApiError> {
        only(&req, Method::GET)?;
        let q: LogFileProxyOptions = serde_json::from_value(Value::Object(
            query_of(&req).into_iter().map(|(k, v)| (k, Value::String(v))).collect(),
        ))
        .map_err(|e| ApiError::bad_request(format!("the query needs namespace, pod, container and filepath: {e}")))?;
        check_names(&q.namespace, &q.pod, &q.container)?;
        if q.filepath.is_empty() {
            return Err(ApiError::bad_request("filepath is required (a path filetree listed)"));
        }
        let query = [
            ("namespace", q.namespace.clone()),
            ("pod", q.pod.clone()),
            ("container", q.container.clone()),
            ("filepath", q.filepath.clone()),
        ];
        let resp = self.ask_agent(&req.object, &q.namespace, &q.pod, "/v1/logfile/download", &query).await?;
        let name = std::path::Path::new(&q.filepath)
            .file_name()
            .map(|n| n.to_string_lossy().replace(['"', '\\', '\r', '\n'], ""))
            .unwrap_or_else(|| "log".into());
        let mut r = Response::new(Body::from_stream(resp.bytes_stream()));
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
            r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
        }
        Ok(r)
    }

    async fn esdetection(&self, req: ConnectRequest) -> Result<Response<Body>, ApiError> {
        only(&req, Method::POST)?;
        let d: LogEsDetection = body_of(req).await?;
        if !matches!(d.scheme.as_str(), "http" | "https") {
            return Err(ApiError::bad_request(format!("scheme must be http or https (given {:?})", d.scheme)));
        }
        if d.ip.is_empty() || d.ip.contains(['/', '@', '?', '#', ' ']) || d.port == 0 {
            return Err(ApiError::bad_request("ip must be a host name or address and port a port number"));
        }
        let host = if d.ip.contains(':') && !d.ip.starts_with('[') { format!("[{}]", d.ip) } else { d.ip.clone() };
        let url = format!("{}://{host}:{}/", d.scheme, d.port);
        // The rules keep the password base64-encoded; the console may send either form.
        let mut passwords = vec![d.password.clone()];
        if let Some(clear) = base64::engine::general_purpose::STANDARD
            .decode(d.password.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .filter(|p| !p.is_empty() && *p != d.password)
        {
            passwords.push(clear);
        }
        let mut last = None;
        for password in &passwords {
            let mut r = self.es.get(&url);
            if !d.user.is_empty() {
                r = r.basic_auth(&d.user, Some(password));
            }
            let resp =
                r.send().await.map_err(|e| unavailable(format!("Elasticsearch at {url} cannot be reached: {e}")))?;
            let code = resp.status().as_u16();
            if resp.status().is_success() {
                let info: Value = resp.json().await.unwrap_or_default();
                let version = info["version"]["number"].as_str().unwrap_or_default().to_string();
                return Ok(json_response(
                    StatusCode::OK,
                    &json!({"apiVersion": API_VERSION, "kind": "LogEsDetection", "result": "ok",
                        "message": format!("Elasticsearch at {url} answered"), "version": version}),
                ));
            }
            last = Some(code);
            if code != 401 {
                break;
            }
        }
        let code = last.unwrap_or(0);
        Err(match code {
            401 | 403 => ApiError::bad_request(format!(
                "Elasticsearch at {url} refused the user {:?} ({code}): check the user and password",
                d.user
            )),
            _ => unavailable(format!("Elasticsearch at {url} answered {code}, not a working cluster")),
        })
    }

    async fn logcollector(&self, req: ConnectRequest) -> Result<Response<Body>, ApiError> {
        if !req.path.is_empty() {
            return Err(ApiError::bad_request("use logcollector?namespace=<ns>&name=<name>, not a path"));
        }
        let q = query_of(&req);
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
        let (ns, name) = (get("namespace"), get("name"));
        for (what, v) in [("namespace", &ns), ("name", &name)] {
            if v.contains(['/', '?', '#', '%']) || v == ".." || v == "." {
                return Err(ApiError::bad_request(format!("{what} must be a name (given {v:?})")));
            }
        }
        let method = req.method.clone();
        if matches!(method, Method::PUT | Method::DELETE) && (name.is_empty() || ns.is_empty()) {
            return Err(ApiError::bad_request(format!("{method} needs namespace and name")));
        }
        if method == Method::POST && ns.is_empty() {
            return Err(ApiError::bad_request("POST needs the namespace the rule goes in"));
        }
        if !matches!(method, Method::GET | Method::POST | Method::PUT | Method::DELETE) {
            return Err(ApiError::new(Reason::MethodNotAllowed, "logcollector accepts GET, POST, PUT and DELETE"));
        }
        let mut path = String::from("/apis/tke.cloud.tencent.com/v1");
        if !ns.is_empty() {
            path.push_str(&format!("/namespaces/{ns}"));
        }
        path.push_str("/logcollectors");
        if !name.is_empty() && method != Method::POST {
            path.push_str(&format!("/{name}"));
        }
        let client = self.cluster_client(&req.object, Some(&req.user)).await?;
        let body = axum::body::to_bytes(req.body, MAX_BODY)
            .await
            .map_err(|_| ApiError::too_large(format!("the request body is larger than {MAX_BODY} bytes")))?;
        let mut builder = axum::http::Request::builder().method(method).uri(&path);
        if !body.is_empty() {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        let request =
            builder.body(body.to_vec()).map_err(|e| ApiError::bad_request(format!("the proxied request: {e}")))?;
        let cluster = req.object["spec"]["clusterName"].as_str().unwrap_or_default().to_string();
        let resp = client
            .send(request.map(kube::client::Body::from))
            .await
            .map_err(|e| unavailable(format!("cluster {cluster}: {e}")))?;
        let (parts, body) = resp.into_parts();
        let bytes = http_body_util::BodyExt::collect(body)
            .await
            .map_err(|e| unavailable(format!("cluster {cluster}: reading the answer: {e}")))?
            .to_bytes();
        let mut r = Response::new(Body::from(bytes));
        *r.status_mut() = StatusCode::from_u16(parts.status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(r)
    }
}
