//! Calling out to webhooks the way kube-apiserver does: a kubeconfig file names the webhook's
//! URL, the CA to trust and the credential to present ([`WebhookClient`]), and
//! [`TokenReviewAuthenticator`] (`--authentication-token-webhook-config-file`) asks it about
//! bearer tokens nothing else in the chain recognised, with a `TokenReview` of
//! `authentication.k8s.io/v1`, caching answers by the token's SHA-256 (never the token).

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
    auth::{Authentication, Authenticator, request_token},
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
