//! Calling out to webhooks the way kube-apiserver does: a kubeconfig file names the webhook's
//! URL, the CA to trust and the credential to present ([`WebhookClient`]), and
//! [`TokenReviewAuthenticator`] (`--authentication-token-webhook-config-file`) asks it about
//! bearer tokens nothing else in the chain recognised, with a `TokenReview` of
//! `authentication.k8s.io/v1`, caching answers by the token's SHA-256 (never the token).
//! [`SubjectAccessReviewAuthorizer`] (`--authorization-webhook-config-file`) asks it whether a
//! request may proceed, with a `SubjectAccessReview` of `authorization.k8s.io/v1`, caching
//! answers by a hash of the attributes.

use std::{
    collections::HashMap,
    io,
    path::{Path, PathBuf},
    sync::Mutex,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use axum::http::request::Parts;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    UserInfo,
    auth::{Attributes, Authentication, Authenticator, Authorizer, Decision, request_token},
};

/// A webhook as a kubeconfig describes it (its current context, or its only cluster and user).
#[derive(Clone)]
pub struct WebhookClient {
    url: String,
    token: Option<String>,
    http: reqwest::Client,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct Kubeconfig {
    #[serde(default)]
    clusters: Vec<Named<Cluster>>,
    #[serde(default)]
    users: Vec<Named<User>>,
    #[serde(default)]
    contexts: Vec<Named<Context>>,
    #[serde(default)]
    current_context: String,
}

#[derive(Deserialize)]
struct Named<T> {
    #[serde(default)]
    name: String,
    #[serde(alias = "user", alias = "context")]
    cluster: T,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct Cluster {
    #[serde(default)]
    server: String,
    certificate_authority: Option<PathBuf>,
    certificate_authority_data: Option<String>,
    #[serde(default)]
    insecure_skip_tls_verify: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct User {
    client_certificate: Option<PathBuf>,
    client_certificate_data: Option<String>,
    client_key: Option<PathBuf>,
    client_key_data: Option<String>,
    token: Option<String>,
}

#[derive(Deserialize, Default)]
struct Context {
    #[serde(default)]
    cluster: String,
    #[serde(default)]
    user: String,
}

fn invalid(path: &Path, msg: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{}: {msg}", path.display()))
}

/// PEM from a `-data` field (base64) or a file relative to the kubeconfig's directory.
fn pem(base: &Path, data: &Option<String>, file: &Option<PathBuf>, what: &str) -> io::Result<Option<Vec<u8>>> {
    use base64::Engine;
    if let Some(d) = data {
        return base64::engine::general_purpose::STANDARD
            .decode(d.trim())
            .map(Some)
            .map_err(|e| invalid(base, format!("{what}-data is not base64: {e}")));
    }
    match file {
        Some(f) => {
            let f = if f.is_absolute() { f.clone() } else { base.parent().unwrap_or(Path::new(".")).join(f) };
            std::fs::read(&f).map(Some).map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", f.display())))
        }
        None => Ok(None),
    }
}

impl WebhookClient {
    /// Reads the kubeconfig at `path`; `timeout` bounds each call.
    pub fn from_kubeconfig(path: &Path, timeout: Duration) -> io::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", path.display())))?;
        let config: Kubeconfig = serde_yaml_ng::from_str(&text).map_err(|e| invalid(path, e))?;
        let context = config.contexts.iter().find(|c| c.name == config.current_context).map(|c| &c.cluster);
        let cluster = match context {
            Some(c) => config.clusters.iter().find(|n| n.name == c.cluster),
            None => config.clusters.first(),
        }
        .map(|n| &n.cluster)
        .ok_or_else(|| invalid(path, "no cluster: name the webhook's URL in clusters[].cluster.server"))?;
        let user = match context {
            Some(c) => config.users.iter().find(|n| n.name == c.user),
            None => config.users.first(),
        }
        .map(|n| &n.cluster);
        if !cluster.server.starts_with("https://") {
            return Err(invalid(path, format!("the webhook's server {:?} must be an https:// URL", cluster.server)));
        }
        let mut builder = reqwest::Client::builder().use_rustls_tls().timeout(timeout).connect_timeout(timeout);
        if let Some(ca) =
            pem(path, &cluster.certificate_authority_data, &cluster.certificate_authority, "certificate-authority")?
        {
            for cert in reqwest::Certificate::from_pem_bundle(&ca).map_err(|e| invalid(path, e))? {
                builder = builder.add_root_certificate(cert);
            }
        }
        if cluster.insecure_skip_tls_verify {
            builder = builder.danger_accept_invalid_certs(true);
        }
        let mut token = None;
        if let Some(u) = user {
            let cert = pem(path, &u.client_certificate_data, &u.client_certificate, "client-certificate")?;
            let key = pem(path, &u.client_key_data, &u.client_key, "client-key")?;
            if let (Some(mut cert), Some(key)) = (cert, key) {
                cert.push(b'\n');
                cert.extend_from_slice(&key);
                builder = builder.identity(reqwest::Identity::from_pem(&cert).map_err(|e| invalid(path, e))?);
            }
            token = u.token.clone().filter(|t| !t.is_empty());
        }
        let http = builder.build().map_err(|e| invalid(path, e))?;
        Ok(WebhookClient { url: cluster.server.clone(), token, http })
    }

    /// POSTs `body` and returns the JSON answer, or why not (never the body's secrets).
    pub async fn post(&self, body: &Value) -> Result<Value, String> {
        let mut req = self.http.post(&self.url).json(body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.map_err(|e| format!("calling {}: {e}", self.url))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("{} answered {status}", self.url));
        }
        resp.json().await.map_err(|e| format!("{} answered something that is not JSON: {e}", self.url))
    }
}

/// Bearer tokens checked by an external authenticator with TokenReviews.
pub struct TokenReviewAuthenticator {
    client: WebhookClient,
    /// How long an answer that authenticated is reused.
    pub ttl: Duration,
    /// How long a refusal is reused.
    pub denied_ttl: Duration,
    cache: Mutex<HashMap<[u8; 32], (Instant, Authentication)>>,
}

/// Answers kept at most (the oldest are dropped first when full).
const CACHE_ENTRIES: usize = 10_000;

impl TokenReviewAuthenticator {
    /// kube-apiserver's defaults: successes cached for 2 minutes, refusals for 10 seconds.
    pub fn new(client: WebhookClient) -> Self {
        Self::with_ttl(client, Duration::from_secs(120))
    }

    pub fn with_ttl(client: WebhookClient, ttl: Duration) -> Self {
        TokenReviewAuthenticator { client, ttl, denied_ttl: Duration::from_secs(10), cache: Mutex::new(HashMap::new()) }
    }

    async fn review(&self, token: &str) -> Result<Authentication, String> {
        let review = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}});
        let answer = self.client.post(&review).await?;
        let status = &answer["status"];
        if status["authenticated"].as_bool() != Some(true) {
            let why = status["error"].as_str().filter(|e| !e.is_empty()).unwrap_or("the token is not known");
            return Ok(Authentication::Rejected(format!("token webhook: {why}")));
        }
        let user = &status["user"];
        let name = user["username"].as_str().unwrap_or("").to_string();
        if name.is_empty() {
            return Err("the token webhook authenticated a token without a username".into());
        }
        let strings = |v: &Value| -> Vec<String> {
            v.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_string)).collect()
        };
        let extra = user["extra"].as_object().into_iter().flatten().map(|(k, v)| (k.clone(), strings(v))).collect();
        Ok(Authentication::Authenticated(UserInfo {
            name,
            uid: user["uid"].as_str().unwrap_or("").to_string(),
            groups: strings(&user["groups"]),
            extra,
        }))
    }
}

#[async_trait]
impl Authenticator for TokenReviewAuthenticator {
    async fn authenticate(&self, request: &Parts) -> Authentication {
        let Some(token) = request_token(&request.headers) else { return Authentication::NotApplicable };
        let token = token.as_ref();
        let key: [u8; 32] = {
            use sha2::Digest;
            sha2::Sha256::digest(token.as_bytes()).into()
        };
        if let Ok(cache) = self.cache.lock()
            && let Some((until, answer)) = cache.get(&key)
            && *until > Instant::now()
        {
            return answer.clone();
        }
        let answer = match self.review(token).await {
            Ok(a) => a,
            // An unreachable webhook is not an answer about the token: not cached.
            Err(why) => return Authentication::Rejected(format!("token webhook: {why}")),
        };
        let ttl = if matches!(answer, Authentication::Authenticated(_)) { self.ttl } else { self.denied_ttl };
        if let Ok(mut cache) = self.cache.lock() {
            let now = Instant::now();
            if cache.len() >= CACHE_ENTRIES {
                cache.retain(|_, (until, _)| *until > now);
                if cache.len() >= CACHE_ENTRIES {
                    cache.clear();
                }
            }
            cache.insert(key, (now + ttl, answer.clone()));
        }
        answer
    }
}

/// Requests authorized by an external authorizer with SubjectAccessReviews
/// (`authorization.k8s.io/v1`), as kube-apiserver's webhook authorization mode does.
pub struct SubjectAccessReviewAuthorizer {
    client: WebhookClient,
    /// How long an allowed answer is reused.
    pub allowed_ttl: Duration,
    /// How long a refusal is reused.
    pub denied_ttl: Duration,
    cache: Mutex<HashMap<[u8; 32], (Instant, Decision)>>,
}

/// The body kube-apiserver posts for `a`: Go's encoding of `SubjectAccessReview` (empty strings,
/// lists and maps left out; `metadata.creationTimestamp` and `status.allowed` always there).
pub fn subject_access_review(a: &Attributes) -> Value {
    let mut spec = serde_json::Map::new();
    let put = |m: &mut serde_json::Map<String, Value>, k: &str, v: &str| {
        if !v.is_empty() {
            m.insert(k.to_string(), Value::String(v.to_string()));
        }
    };
    if a.resource_request {
        let mut r = serde_json::Map::new();
        put(&mut r, "namespace", &a.namespace);
        put(&mut r, "verb", &a.verb);
        put(&mut r, "group", &a.api_group);
        put(&mut r, "version", &a.api_version);
        put(&mut r, "resource", &a.resource);
        put(&mut r, "subresource", &a.subresource);
        put(&mut r, "name", &a.name);
        spec.insert("resourceAttributes".into(), Value::Object(r));
    } else {
        let mut n = serde_json::Map::new();
        put(&mut n, "path", &a.path);
        put(&mut n, "verb", &a.verb);
        spec.insert("nonResourceAttributes".into(), Value::Object(n));
    }
    put(&mut spec, "user", &a.user.name);
    if !a.user.groups.is_empty() {
        spec.insert("groups".into(), json!(a.user.groups));
    }
    if !a.user.extra.is_empty() {
        spec.insert("extra".into(), json!(a.user.extra));
    }
    put(&mut spec, "uid", &a.user.uid);
    json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "metadata": {"creationTimestamp": null},
        "spec": spec,
        "status": {"allowed": false},
    })
}

impl SubjectAccessReviewAuthorizer {
    /// kube-apiserver's defaults: allowed answers cached for 5 minutes, refusals for 30 seconds.
    pub fn new(client: WebhookClient) -> Self {
        SubjectAccessReviewAuthorizer {
            client,
            allowed_ttl: Duration::from_secs(300),
            denied_ttl: Duration::from_secs(30),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The webhook's decision about `review`, or why there is none.
    async fn review(&self, review: &Value) -> Result<Decision, String> {
        let answer = self.client.post(review).await?;
        if answer["kind"].as_str().is_some_and(|k| k != "SubjectAccessReview") {
            return Err(format!("the webhook answered a {} instead of a SubjectAccessReview", answer["kind"]));
        }
        let status = &answer["status"];
        if status["allowed"].as_bool() == Some(true) {
            return Ok(Decision::Allow);
        }
        let mut why: Vec<&str> = vec![];
        if let Some(r) = status["reason"].as_str().filter(|r| !r.is_empty()) {
            why.push(r);
        }
        if let Some(e) = status["evaluationError"].as_str().filter(|e| !e.is_empty()) {
            why.push(e);
        }
        Ok(Decision::Deny(if why.is_empty() {
            "the authorization webhook did not allow it".into()
        } else {
            format!("the authorization webhook: {}", why.join("; "))
        }))
    }
}

#[async_trait]
impl Authorizer for SubjectAccessReviewAuthorizer {
    async fn authorize(&self, attributes: &Attributes) -> Decision {
        let review = subject_access_review(attributes);
        let key: [u8; 32] = {
            use sha2::Digest;
            // The spec is built from ordered maps: equal attributes, equal bytes.
            sha2::Sha256::digest(review["spec"].to_string().as_bytes()).into()
        };
        if let Ok(cache) = self.cache.lock()
            && let Some((until, answer)) = cache.get(&key)
            && *until > Instant::now()
        {
            return answer.clone();
        }
        let answer = match self.review(&review).await {
            Ok(a) => a,
            // No answer is no decision to remember: the next request asks again.
            Err(why) => return Decision::Deny(format!("the authorization webhook could not be asked: {why}")),
        };
        let ttl = if answer == Decision::Allow { self.allowed_ttl } else { self.denied_ttl };
        if let Ok(mut cache) = self.cache.lock() {
            let now = Instant::now();
            if cache.len() >= CACHE_ENTRIES {
                cache.retain(|_, (until, _)| *until > now);
                if cache.len() >= CACHE_ENTRIES {
                    cache.clear();
                }
            }
            cache.insert(key, (now + ttl, answer.clone()));
        }
        answer
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use axum::{Json, Router, extract::State, routing::post};

    use super::*;

    fn attrs(user: &str, verb: &str, resource: &str) -> Attributes {
        Attributes {
            user: UserInfo {
                name: user.into(),
                uid: format!("uid-{user}"),
                groups: vec!["dev".into(), "system:authenticated".into()],
                extra: [("tenantid".to_string(), vec!["default".to_string()])].into(),
            },
            verb: verb.into(),
            resource_request: true,
            path: format!("/api/v1/namespaces/ns1/{resource}"),
            api_group: String::new(),
            api_version: "v1".into(),
            namespace: "ns1".into(),
            resource: resource.into(),
            subresource: String::new(),
            name: String::new(),
        }
    }

    #[test]
    fn the_review_is_what_kube_apiserver_sends() {
        let mut a = attrs("alice", "get", "pods");
        a.name = "p1".into();
        a.subresource = "log".into();
        assert_eq!(
            subject_access_review(&a),
            json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                "metadata": {"creationTimestamp": null},
                "spec": {"resourceAttributes": {"namespace": "ns1", "verb": "get", "version": "v1",
                    "resource": "pods", "subresource": "log", "name": "p1"},
                    "user": "alice", "groups": ["dev", "system:authenticated"],
                    "extra": {"tenantid": ["default"]}, "uid": "uid-alice"},
                "status": {"allowed": false}})
        );
        let n = Attributes {
            user: UserInfo { name: "bob".into(), ..Default::default() },
            verb: "get".into(),
            resource_request: false,
            path: "/healthz".into(),
            api_group: String::new(),
            api_version: String::new(),
            namespace: String::new(),
            resource: String::new(),
            subresource: String::new(),
            name: String::new(),
        };
        assert_eq!(
            subject_access_review(&n)["spec"],
            json!({"nonResourceAttributes": {"path": "/healthz", "verb": "get"}, "user": "bob"})
        );
    }

    /// A webhook that allows alice, refuses bob with a reason, and fails for anyone else;
    /// `calls` counts the reviews it was asked.
    struct Webhook {
        calls: AtomicUsize,
        last: Mutex<Value>,
    }

    async fn answer(State(w): State<Arc<Webhook>>, Json(review): Json<Value>) -> axum::response::Response {
        use axum::response::IntoResponse;
        w.calls.fetch_add(1, Ordering::SeqCst);
        *w.last.lock().unwrap() = review.clone();
        let status = match review["spec"]["user"].as_str() {
            Some("alice") => json!({"allowed": true}),
            Some("bob") => json!({"allowed": false, "denied": true, "reason": "bob holds no policy"}),
            _ => return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "broken").into_response(),
        };
        Json(json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "status": status}))
            .into_response()
    }

    /// Serves [`Webhook`] over TLS; returns it and a kubeconfig naming it.
    async fn serve(dir: &Path) -> (Arc<Webhook>, PathBuf) {
        let pki = crate::tls::ensure_pki(dir, &["127.0.0.1".to_string()]).unwrap();
        let config = crate::tls::server_config(&pki, &crate::tls::TlsOptions::default()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hook = Arc::new(Webhook { calls: AtomicUsize::new(0), last: Mutex::new(Value::Null) });
        let app = Router::new().route("/authz", post(answer)).with_state(hook.clone());
        tokio::spawn(crate::tls::serve(listener, config, app, std::future::pending()));
        let kubeconfig = dir.join("authz.kubeconfig");
        crate::tls::write_kubeconfig(
            &kubeconfig,
            &format!("https://127.0.0.1:{port}/authz"),
            &pki.ca_cert_pem,
            &pki.admin_cert_pem,
            &pki.admin_key_pem,
        )
        .unwrap();
        (hook, kubeconfig)
    }

    #[tokio::test]
    async fn decisions_come_from_the_webhook_and_are_cached() {
        let dir = tempfile::tempdir().unwrap();
        let (hook, kubeconfig) = serve(dir.path()).await;
        let client = WebhookClient::from_kubeconfig(&kubeconfig, Duration::from_secs(5)).unwrap();
        let authz = SubjectAccessReviewAuthorizer::new(client.clone());

        assert_eq!(authz.authorize(&attrs("alice", "list", "pods")).await, Decision::Allow);
        assert_eq!(hook.last.lock().unwrap()["spec"]["resourceAttributes"]["verb"], "list");
        assert_eq!(authz.authorize(&attrs("alice", "list", "pods")).await, Decision::Allow);
        assert_eq!(hook.calls.load(Ordering::SeqCst), 1, "the allowed answer is reused");
        assert_eq!(authz.authorize(&attrs("alice", "delete", "pods")).await, Decision::Allow);
        assert_eq!(hook.calls.load(Ordering::SeqCst), 2, "other attributes are asked about");

        let Decision::Deny(why) = authz.authorize(&attrs("bob", "list", "pods")).await else { panic!("bob allowed") };
        assert!(why.contains("bob holds no policy"), "{why}");
        authz.authorize(&attrs("bob", "list", "pods")).await;
        assert_eq!(hook.calls.load(Ordering::SeqCst), 3, "the refusal is reused");

        // A failing webhook is no answer: refused, and asked again next time.
        let Decision::Deny(why) = authz.authorize(&attrs("carol", "list", "pods")).await else { panic!("allowed") };
        assert!(why.contains("could not be asked") && why.contains("500"), "{why}");
        authz.authorize(&attrs("carol", "list", "pods")).await;
        assert_eq!(hook.calls.load(Ordering::SeqCst), 5, "failures are not cached");

        // Expired answers are asked again.
        let mut short = SubjectAccessReviewAuthorizer::new(client);
        short.allowed_ttl = Duration::ZERO;
        short.denied_ttl = Duration::ZERO;
        short.authorize(&attrs("alice", "list", "pods")).await;
        short.authorize(&attrs("alice", "list", "pods")).await;
        short.authorize(&attrs("bob", "list", "pods")).await;
        short.authorize(&attrs("bob", "list", "pods")).await;
        assert_eq!(hook.calls.load(Ordering::SeqCst), 9);
    }

    #[tokio::test]
    async fn an_unreachable_webhook_refuses_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let pki = crate::tls::ensure_pki(dir.path(), &["127.0.0.1".to_string()]).unwrap();
        // A port nothing listens on: bind one, then let it go.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let kubeconfig = dir.path().join("authz.kubeconfig");
        crate::tls::write_kubeconfig(
            &kubeconfig,
            &format!("https://127.0.0.1:{port}/authz"),
            &pki.ca_cert_pem,
            &pki.admin_cert_pem,
            &pki.admin_key_pem,
        )
        .unwrap();
        let client = WebhookClient::from_kubeconfig(&kubeconfig, Duration::from_secs(2)).unwrap();
        let authz = SubjectAccessReviewAuthorizer::new(client);
        let Decision::Deny(why) = authz.authorize(&attrs("alice", "list", "pods")).await else { panic!("allowed") };
        assert!(why.contains("could not be asked") && why.contains(&port.to_string()), "{why}");
        assert!(authz.cache.lock().unwrap().is_empty(), "nothing cached");
    }
}
