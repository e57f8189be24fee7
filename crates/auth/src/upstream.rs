//! Tenants whose people log in at an upstream OpenID provider (IdentityProvider type `oidc`):
//! the platform is an OpenID relying party of that provider. [`Upstream::discover`] reads the
//! provider's discovery document and keys, [`Upstream::authorization_url`] is where the login
//! page sends the browser (authorization code with S256 PKCE, `state` and `nonce`), and
//! [`Upstream::exchange`] turns the code the browser brings back to the platform's callback into
//! a [`Person`]: it redeems the code at the token endpoint, verifies the ID token and maps its
//! claims (and userinfo's, when the ID token lacks them) as the tenant's [`ClaimMapping`] says.
//!
//! The mapping has fallbacks because providers differ in what they send: the username is the
//! first of `preferred_username`, `email`, `sub` that the provider gives, so that a provider
//! that leaves `preferred_username` out never locks its users out (TKEStack issue #1420). An
//! email the provider marks unverified (`email_verified: false`) is ignored, as username and as
//! email, unless the tenant says `insecureSkipEmailVerified`: otherwise anyone who can put an
//! address on an account at the provider could take the platform username of its owner.
//!
//! ID tokens are accepted only when signed with RS256 or ES256 by a key of the provider's JWKS;
//! `alg: none` and HMAC tokens are refused before any key is looked at (an HMAC "signature"
//! made with the public key would otherwise verify). A token naming a key the platform has not
//! seen makes it read the JWKS again (the provider rotated its keys), at most once per
//! [`JWKS_REFETCH_INTERVAL`], so tokens with made-up key ids cannot turn the platform into a
//! tool that floods the provider.

use std::{
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use reqwest::{
    Url,
    header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE},
};
use serde::{Deserialize, Deserializer, de::DeserializeOwned};
use serde_json::{Map, Value};

use crate::people::Person;

/// How long to wait for the provider to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one request to the provider may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read from the provider (discovery documents and key sets are a few KiB).
const MAX_BODY: usize = 1 << 20;
/// The least time between two reads of the JWKS prompted by unknown key ids.
pub const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// Clock skew tolerated between the provider and the platform, in seconds.
pub const LEEWAY_SECONDS: u64 = 60;
/// The longest provider error description repeated in a message.
const MAX_DESCRIPTION: usize = 200;

/// Claims of an ID token or a userinfo answer.
pub type Claims = Map<String, Value>;

/// What an administrator writes in an `oidc` IdentityProvider's `spec.config` (JSON; the
/// `clientSecret` is kept in `spec.secrets` and given back by `config_with_secrets()`).
#[derive(Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Config {
    /// The provider's issuer URL, exactly as its discovery document names it.
    pub issuer: String,
    #[serde(rename = "clientID")]
    pub client_id: String,
    pub client_secret: String,
    /// Where the provider sends the browser back: the platform's `{issuer}/callback`.
    #[serde(rename = "redirectURI")]
    pub redirect_uri: String,
    /// Scopes asked for (`openid` is always added); a list or one space-separated string.
    #[serde(deserialize_with = "words")]
    pub scopes: Vec<String>,
    /// PEM of the CAs that sign the provider's certificate (also accepted base64 encoded, as
    /// dex writes `rootCAData`), trusted besides the usual public CAs.
    #[serde(rename = "rootCAData")]
    pub root_ca_data: String,
    /// Accept any certificate from the provider. Only for trying things out.
    pub insecure_skip_verify: bool,
    /// Use emails the provider marks unverified.
    pub insecure_skip_email_verified: bool,
    /// The claim that identifies a user for good (dex's `userIDKey` is read too).
    #[serde(rename = "userIDClaim", alias = "userIDKey")]
    pub user_id_claim: String,
    pub claim_mapping: ClaimMapping,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            issuer: String::new(),
            client_id: String::new(),
            client_secret: String::new(),
            redirect_uri: String::new(),
            scopes: vec!["openid".into(), "profile".into(), "email".into()],
            root_ca_data: String::new(),
            insecure_skip_verify: false,
            insecure_skip_email_verified: false,
            user_id_claim: "sub".into(),
            claim_mapping: ClaimMapping::default(),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &if self.client_secret.is_empty() { "" } else { "(set)" })
            .field("redirect_uri", &self.redirect_uri)
            .field("scopes", &self.scopes)
            .field("root_ca_data", &!self.root_ca_data.is_empty())
            .field("insecure_skip_verify", &self.insecure_skip_verify)
            .field("insecure_skip_email_verified", &self.insecure_skip_email_verified)
            .field("user_id_claim", &self.user_id_claim)
            .field("claim_mapping", &self.claim_mapping)
            .finish()
    }
}

/// Which claims give a user's facts, each list in fallback order (a claim name may be a dotted
/// path into nested objects, e.g. `realm_access.roles`, when no claim has the whole name).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "camelCase")]
pub struct ClaimMapping {
    #[serde(deserialize_with = "one_or_many")]
    pub username: Vec<String>,
    /// When none of these is sent, the display name is the username.
    #[serde(deserialize_with = "one_or_many")]
    pub display_name: Vec<String>,
    #[serde(deserialize_with = "one_or_many")]
    pub email: Vec<String>,
    /// The claim holding the user's groups (a list, or one string); empty: no groups.
    pub groups: String,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        ClaimMapping {
            username: vec!["preferred_username".into(), "email".into(), "sub".into()],
            display_name: vec!["name".into(), "preferred_username".into(), "username".into()],
            email: vec!["email".into()],
            groups: "groups".into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

fn words<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s.split_whitespace().map(str::to_string).collect(),
        OneOrMany::Many(v) => v.iter().flat_map(|s| s.split_whitespace()).map(str::to_string).collect(),
    })
}

impl Config {
    /// Reads and checks an IdentityProvider's configuration (with its secrets put back).
    pub fn from_json(json: &str) -> Result<Config, Error> {
        let config: Config = serde_json::from_str(json).map_err(|e| Error::Config(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// The configuration of an `oidc` IdentityProvider, its `clientSecret` put back from
    /// `spec.secrets`.
    pub fn of(idp: &api::auth::IdentityProvider) -> Result<Config, Error> {
        let oidc = api::auth::identity_provider::types::OIDC;
        if idp.spec.type_ != oidc {
            return Err(Error::Config(format!(
                "tenant {:?} is of type {:?}, not {oidc:?}",
                idp.name(),
                idp.spec.type_
            )));
        }
        let json = idp.config_with_secrets().map_err(Error::Config)?;
        let config: Config = serde_json::from_value(json).map_err(|e| Error::Config(format!("spec.config: {e}")))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks everything that can be checked without asking the provider.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::Config(m));
        if self.issuer.is_empty() {
            return bad("issuer is required: the upstream provider's issuer URL, e.g. https://login.example.com".into());
        }
        let issuer = Url::parse(&self.issuer)
            .map_err(|e| Error::Config(format!("issuer {:?} is not a URL: {e}", self.issuer)))?;
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return bad(format!("issuer {:?} must not have a query or fragment", self.issuer));
        }
        secure_url("issuer", &issuer).map_err(Error::Config)?;
        if self.client_id.is_empty() {
            return bad("clientID is required: the client id the upstream provider gave the platform".into());
        }
        if self.client_secret.is_empty() {
            return bad("clientSecret is required: the secret of the platform's client at the upstream provider".into());
        }
        if self.redirect_uri.is_empty() {
            return bad("redirectURI is required: the platform's callback URL registered at the upstream provider, \
                 e.g. https://tke.example.com/oidc/callback"
                .into());
        }
        match Url::parse(&self.redirect_uri) {
            Ok(u) if matches!(u.scheme(), "https" | "http") => {}
            _ => return bad(format!("redirectURI {:?} is not an http(s) URL", self.redirect_uri)),
        }
        for (field, list) in [
            ("claimMapping.username", &self.claim_mapping.username),
            ("claimMapping.displayName", &self.claim_mapping.display_name),
            ("claimMapping.email", &self.claim_mapping.email),
        ] {
            if list.is_empty() || list.iter().any(|c| c.trim().is_empty()) {
                return bad(format!("{field} must name one or more claims (and no empty one)"));
            }
        }
        if self.user_id_claim.trim().is_empty() {
            return bad("userIDClaim must name a claim (sub when not set)".into());
        }
        root_certificates(&self.root_ca_data)?;
        Ok(())
    }

    /// The scopes asked for, `openid` first.
    pub fn scope(&self) -> String {
        let mut scopes = vec!["openid"];
        scopes.extend(self.scopes.iter().map(String::as_str).filter(|s| *s != "openid"));
        scopes.join(" ")
    }

    /// The person `claims` describe, in `tenant`.
    pub fn person(&self, tenant: &str, claims: &Claims) -> Result<Person, Error> {
        let m = &self.claim_mapping;
        let username =
            self.first(claims, &m.username).ok_or_else(|| Error::NoUsername { claims: m.username.clone() })?;
        let id =
            text(claims, &self.user_id_claim).ok_or_else(|| Error::NoUserId { claim: self.user_id_claim.clone() })?;
        let mut groups = Vec::new();
        if !m.groups.is_empty() {
            let values = match claim(claims, &m.groups) {
                Some(Value::Array(items)) => items.iter().filter_map(usable).collect(),
                Some(v) => usable(v).into_iter().collect(),
                None => vec![],
            };
            for g in values {
                if !groups.contains(&g) {
                    groups.push(g);
                }
            }
        }
        Ok(Person {
            tenant: tenant.to_string(),
            display_name: self.first(claims, &m.display_name).unwrap_or_else(|| username.clone()),
            email: self.first(claims, &m.email).unwrap_or_default(),
            username,
            id,
            groups,
            platform_admin: false,
        })
    }

    /// The first of `names` with a usable value; an unverified email does not count.
    fn first(&self, claims: &Claims, names: &[String]) -> Option<String> {
        names
            .iter()
            .filter(|n| self.insecure_skip_email_verified || !unverified_email(claims, n))
            .find_map(|n| text(claims, n))
    }

    /// Whether `claims` leave a mapped fact unanswered (so userinfo is worth asking).
    fn incomplete(&self, claims: &Claims) -> bool {
        let m = &self.claim_mapping;
        [&m.username, &m.display_name, &m.email].iter().any(|names| self.first(claims, names).is_none())
            || (!m.groups.is_empty() && claim(claims, &m.groups).is_none())
    }
}

/// `https`, or `http` on a loopback address (a provider on the same machine, as in tests).
fn secure_url(field: &str, url: &Url) -> Result<(), String> {
    let host = url.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(format!("{field} {url} must use https (plain http only on a loopback address)")),
        _ => Err(format!("{field} {url} is not an https URL")),
    }
}

/// The certificates in `rootCAData`: PEM, or base64 of PEM.
fn root_certificates(data: &str) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, Error> {
    let data = data.trim();
    if data.is_empty() {
        return Ok(vec![]);
    }
    let pem = if data.starts_with("-----BEGIN") {
        data.as_bytes().to_vec()
    } else {
        let compact: String = data.split_whitespace().collect();
        STANDARD
            .decode(compact)
            .map_err(|_| Error::Config("rootCAData must be PEM certificates, or base64 of them".into()))?
    };
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Config(format!("rootCAData is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(Error::Config("rootCAData holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into()));
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in &certs {
        roots.add(cert.clone()).map_err(|e| Error::Config(format!("rootCAData holds a bad certificate: {e}")))?;
    }
    Ok(certs)
}

/// A claim by name, or by dotted path into nested objects when no claim has the whole name.
fn claim<'a>(claims: &'a Claims, name: &str) -> Option<&'a Value> {
    let found = claims.get(name).or_else(|| {
        let mut parts = name.split('.');
        let mut value = claims.get(parts.next()?)?;
        for part in parts {
            value = value.as_object()?.get(part)?;
        }
        Some(value)
    });
    found.filter(|v| !v.is_null())
}

/// A claim's value as text, when it is a usable one.
fn text(claims: &Claims, name: &str) -> Option<String> {
    claim(claims, name).and_then(usable)
}

/// A non-empty string without control characters (or a number), trimmed.
fn usable(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!s.is_empty() && !s.chars().any(char::is_control)).then_some(s)
}

/// Whether `name` is the email claim and the provider says it is not verified (some send the
/// flag as a string).
fn unverified_email(claims: &Claims, name: &str) -> bool {
    name == "email"
        && match claims.get("email_verified") {
            Some(Value::Bool(b)) => !b,
            Some(Value::String(s)) => s.eq_ignore_ascii_case("false"),
            _ => false,
        }
}

/// Why an ID token was refused (never contains the token).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("it is not a well-formed JWT")]
    Malformed,
    #[error("it is signed with {0}; only RS256 and ES256 signatures from the provider's keys are accepted")]
    Algorithm(String),
    #[error("it names a signing key the provider's JWKS does not have")]
    UnknownKey,
    #[error("its signature is wrong")]
    Signature,
    #[error("it has expired (is the platform's clock right?)")]
    Expired,
    #[error("it is not valid yet, or issued in the future (is the platform's clock right?)")]
    NotYetValid,
    #[error("it was issued by another issuer")]
    Issuer,
    #[error("it was issued for another client")]
    Audience,
    #[error("its nonce is not the one of this login (a replayed or mixed-up login)")]
    Nonce,
    #[error("it has no {0} claim")]
    MissingClaim(String),
}

/// Why discovery or a login failed. Messages name what to fix; none contains a token, code or
/// secret.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the oidc configuration is invalid: {0}")]
    Config(String),
    #[error("cannot reach the OpenID provider's {what} at {url}: {reason}")]
    Unreachable { what: &'static str, url: String, reason: String },
    #[error("the OpenID provider's {what} at {url} answered HTTP {status}")]
    Status { what: &'static str, url: String, status: u16 },
    #[error("the OpenID provider's {what} at {url} is not valid: {reason}")]
    BadResponse { what: &'static str, url: String, reason: String },
    #[error(
        "the provider at {url} names itself {announced:?}, not {configured:?}: set issuer to exactly the \
         issuer its discovery document names"
    )]
    IssuerMismatch { url: String, configured: String, announced: String },
    #[error("the OpenID provider at {issuer} {what}")]
    Unsupported { issuer: String, what: String },
    #[error("{}", refused(.error, .description))]
    Refused { error: String, description: String },
    #[error("the OpenID provider's token answer has no ID token; is the client allowed the openid scope?")]
    NoIdToken,
    #[error("the ID token was refused: {0}")]
    IdToken(#[from] TokenError),
    #[error("the provider's userinfo answer is about another user than its ID token")]
    UserinfoSubject,
    #[error(
        "none of the claims {claims:?} gives the user a username; set claimMapping.username to claims the \
         provider sends"
    )]
    NoUsername { claims: Vec<String> },
    #[error("the provider sent no {claim:?} claim to identify the user by; set userIDClaim to a claim it sends")]
    NoUserId { claim: String },
}

fn refused(error: &str, description: &str) -> String {
    let said = if description.is_empty() { error.to_string() } else { format!("{error}: {description}") };
    let hint = match error {
        "invalid_grant" => {
            "the authorization code was used already, has expired, or belongs to another login (or the PKCE \
             verifier does not match); start the login again"
        }
        "invalid_client" | "unauthorized_client" => {
            "check clientID and clientSecret, and that the provider lets this client use the authorization code flow"
        }
        _ => "see the provider's log for why",
    };
    format!("the OpenID provider refused the authorization code ({said}): {hint}")
}

/// How the platform authenticates to the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic (`client_secret_basic`).
    Basic,
    /// In the form (`client_secret_post`).
    Post,
}

/// A PKCE pair: the verifier stays with the login, the challenge goes to the provider.
#[derive(Clone)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Pkce {
        let verifier = random_value();
        Pkce { challenge: Self::challenge_of(&verifier), verifier }
    }

    /// The S256 challenge of `verifier`.
    pub fn challenge_of(verifier: &str) -> String {
        crate::grants::pkce_challenge(verifier)
    }
}

impl Default for Pkce {
    fn default() -> Self {
        Self::new()
    }
}

/// 256 random bits, base64url: a `state`, `nonce` or PKCE verifier.
pub fn random_value() -> String {
    crate::grants::secret()
}

/// A verification key from the provider's JWKS.
struct Key {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

#[derive(Clone, Debug)]
struct Endpoints {
    authorization: Url,
    token: String,
    userinfo: Option<String>,
    jwks: String,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: Option<String>,
    userinfo_endpoint: Option<String>,
    jwks_uri: String,
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    id_token_signing_alg_values_supported: Vec<String>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
    access_token: Option<String>,
}

#[derive(Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: String,
}

/// An upstream OpenID provider, as one tenant uses it.
pub struct Upstream {
    tenant: String,
    config: Config,
    endpoints: Endpoints,
    client_auth: ClientAuth,
    http: reqwest::Client,
    keys: RwLock<Vec<Arc<Key>>>,
    /// When the JWKS was last read again for an unknown key id.
    refetched: tokio::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("tenant", &self.tenant)
            .field("issuer", &self.config.issuer)
            .field("client_id", &self.config.client_id)
            .field("client_auth", &self.client_auth)
            .finish()
    }
}

impl Upstream {
    /// Checks `config`, reads the provider's discovery document (its issuer must be exactly the
    /// configured one) and its keys.
    pub async fn discover(tenant: impl Into<String>, config: Config) -> Result<Upstream, Error> {
        let tenant = tenant.into();
        config.validate()?;
        let http = http_client(&config)?;
        let url = format!("{}/.well-known/openid-configuration", config.issuer.trim_end_matches('/'));
        let doc: Discovery = get_json(&http, "discovery document", &url, None).await?;
        if doc.issuer != config.issuer {
            return Err(Error::IssuerMismatch { url, configured: config.issuer.clone(), announced: doc.issuer });
        }
        let endpoint = |what: &'static str, value: &str| -> Result<Url, Error> {
            let u = Url::parse(value).map_err(|e| Error::BadResponse {
                what: "discovery document",
                url: url.clone(),
                reason: format!("{what} {value:?} is not a URL: {e}"),
            })?;
            secure_url(what, &u).map_err(|reason| Error::BadResponse {
                what: "discovery document",
                url: url.clone(),
                reason,
            })?;
            Ok(u)
        };
        let unsupported = |what: String| Error::Unsupported { issuer: config.issuer.clone(), what };
        let token = doc.token_endpoint.as_deref().ok_or_else(|| unsupported("has no token endpoint".into()))?;
        let endpoints = Endpoints {
            authorization: endpoint("authorization_endpoint", &doc.authorization_endpoint)?,
            token: endpoint("token_endpoint", token)?.into(),
            userinfo: doc
                .userinfo_endpoint
                .as_deref()
                .map(|u| endpoint("userinfo_endpoint", u))
                .transpose()?
                .map(Into::into),
            jwks: endpoint("jwks_uri", &doc.jwks_uri)?.into(),
        };
        // Absent, the specification's default is client_secret_basic.
        let methods = doc.token_endpoint_auth_methods_supported.unwrap_or_else(|| vec!["client_secret_basic".into()]);
        let client_auth = if methods.iter().any(|m| m == "client_secret_basic") {
            ClientAuth::Basic
        } else if methods.iter().any(|m| m == "client_secret_post") {
            ClientAuth::Post
        } else {
            return Err(unsupported(format!(
                "authenticates clients only by {}; the platform uses client_secret_basic or client_secret_post",
                methods.join(", ")
            )));
        };
        let algs = &doc.id_token_signing_alg_values_supported;
        if !algs.is_empty() && !algs.iter().any(|a| a == "RS256" || a == "ES256") {
            return Err(unsupported(format!(
                "signs ID tokens only with {}; the platform accepts RS256 and ES256",
                algs.join(", ")
            )));
        }
        let keys = fetch_keys(&http, &endpoints.jwks).await?;
        tracing::info!(tenant = %tenant, issuer = %config.issuer, keys = keys.len(), "discovered an upstream OpenID provider");
        Ok(Upstream {
            tenant,
            config,
            endpoints,
            client_auth,
            http,
            keys: RwLock::new(keys),
            refetched: tokio::sync::Mutex::new(None),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// How the platform authenticates at the token endpoint (from the discovery document).
    pub fn client_auth(&self) -> ClientAuth {
        self.client_auth
    }

    /// Where to send the browser to log in: the authorization code flow with S256 PKCE.
    pub fn authorization_url(&self, state: &str, nonce: &str, pkce_challenge: &str) -> String {
        let mut url = self.endpoints.authorization.clone();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", &self.config.redirect_uri)
            .append_pair("scope", &self.config.scope())
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", pkce_challenge)
            .append_pair("code_challenge_method", "S256");
        url.into()
    }

    /// Redeems the authorization code the browser brought back, verifies the ID token (with
    /// the `nonce` the login was started with) and maps its claims, asking userinfo for those
    /// the ID token lacks.
    pub async fn exchange(&self, code: &str, pkce_verifier: &str, nonce: &str) -> Result<Person, Error> {
        let answer = self.redeem(code, pkce_verifier).await?;
        let id_token = answer.id_token.filter(|t| !t.is_empty()).ok_or(Error::NoIdToken)?;
        let mut claims = self.verify_id_token(&id_token, nonce).await?;
        if self.config.incomplete(&claims)
            && let (Some(url), Some(access_token)) = (&self.endpoints.userinfo, &answer.access_token)
        {
            let info: Claims = get_json(&self.http, "userinfo endpoint", url, Some(access_token)).await?;
            // Userinfo must be about the ID token's subject (OpenID Connect Core 5.3.2).
            if info.get("sub") != claims.get("sub") {
                return Err(Error::UserinfoSubject);
            }
            for (name, value) in info {
                claims.entry(name).or_insert(value);
            }
        }
        self.config.person(&self.tenant, &claims)
    }

    async fn redeem(&self, code: &str, pkce_verifier: &str) -> Result<TokenAnswer, Error> {
        const WHAT: &str = "token endpoint";
        let url = &self.endpoints.token;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.config.redirect_uri.as_str()),
            ("code_verifier", pkce_verifier),
        ];
        let mut request = self.http.post(url).header(ACCEPT, "application/json");
        match self.client_auth {
            ClientAuth::Basic => {
                // RFC 6749 2.3.1: both halves form-encoded before base64.
                let pair =
                    format!("{}:{}", form_encode(&self.config.client_id), form_encode(&self.config.client_secret));
                request = request.header(AUTHORIZATION, format!("Basic {}", STANDARD.encode(pair)));
            }
            ClientAuth::Post => {
                form.push(("client_id", &self.config.client_id));
                form.push(("client_secret", &self.config.client_secret));
            }
        }
        let response = request.form(&form).send().await.map_err(|e| unreachable(WHAT, url, &e))?;
        let status = response.status();
        let body = read_limited(response, WHAT, url).await?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| Error::BadResponse {
                what: WHAT,
                url: url.clone(),
                reason: e.to_string(),
            });
        }
        match serde_json::from_slice::<OAuthError>(&body) {
            Ok(e) => Err(Error::Refused { error: clean(&e.error), description: clean(&e.error_description) }),
            Err(_) => Err(Error::Status { what: WHAT, url: url.clone(), status: status.as_u16() }),
        }
    }

    /// Verifies an ID token of this provider for this client: signature (RS256/ES256 by a key
    /// of the JWKS), issuer, audience (and `azp` when there are several), `exp`, `iat` and `nbf`
    /// with [`LEEWAY_SECONDS`], and the `nonce`.
    pub async fn verify_id_token(&self, token: &str, nonce: &str) -> Result<Claims, Error> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(TokenError::Algorithm(format!("{:?}", header.alg)).into());
        }
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.client_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        let first = self.decode(token, &header, &validation);
        // A key the platform has not seen: the provider may have rotated its keys. (A token
        // without a key id names none, so there a bad signature may mean the same.)
        let unseen = matches!(first, Err(TokenError::UnknownKey))
            || (header.kid.is_none() && matches!(first, Err(TokenError::Signature)));
        let claims = if unseen {
            self.refetch_keys().await?;
            self.decode(token, &header, &validation)?
        } else {
            first?
        };
        let now = jsonwebtoken::get_current_timestamp();
        match claims.get("iat").and_then(Value::as_u64) {
            None => return Err(TokenError::MissingClaim("iat".into()).into()),
            Some(iat) if iat > now + LEEWAY_SECONDS => return Err(TokenError::NotYetValid.into()),
            Some(_) => {}
        }
        // A token for several audiences must say it was issued to this client (the authorized
        // party); when it names one, it must be this client whatever the audiences.
        let several = claims.get("aud").and_then(Value::as_array).is_some_and(|a| a.len() > 1);
        match claims.get("azp") {
            Some(azp) if azp.as_str() != Some(self.config.client_id.as_str()) => {
                return Err(TokenError::Audience.into());
            }
            None if several => return Err(TokenError::MissingClaim("azp".into()).into()),
            _ => {}
        }
        match claims.get("nonce").and_then(Value::as_str) {
            Some(n) if !nonce.is_empty() && n == nonce => {}
            Some(_) => return Err(TokenError::Nonce.into()),
            None => return Err(TokenError::MissingClaim("nonce".into()).into()),
        }
        Ok(claims)
    }

    /// Verifies `token` with the keys that may have signed it.
    fn decode(
        &self,
        token: &str,
        header: &jsonwebtoken::Header,
        validation: &Validation,
    ) -> Result<Claims, TokenError> {
        let keys = self.keys_for(header);
        if keys.is_empty() {
            return Err(TokenError::UnknownKey);
        }
        for key in keys {
            match jsonwebtoken::decode::<Claims>(token, &key.key, validation) {
                Ok(data) => return Ok(data.claims),
                // Without a key id several keys may fit: try the next.
                Err(e) if *e.kind() == ErrorKind::InvalidSignature => continue,
                Err(e) => return Err(token_error(&e)),
            }
        }
        Err(TokenError::Signature)
    }

    /// The keys that may have signed a token with `header`: the one it names, or, when it names
    /// none, every key for its algorithm.
    fn keys_for(&self, header: &jsonwebtoken::Header) -> Vec<Arc<Key>> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        keys.iter().filter(|k| k.alg == header.alg && (header.kid.is_none() || k.kid == header.kid)).cloned().collect()
    }

    /// Reads the JWKS again, unless that was done less than [`JWKS_REFETCH_INTERVAL`] ago.
    async fn refetch_keys(&self) -> Result<(), Error> {
        let mut last = self.refetched.lock().await;
        if last.is_some_and(|t| t.elapsed() < JWKS_REFETCH_INTERVAL) {
            return Ok(());
        }
        // Counted before reading, so that a provider that fails is not asked again at once.
        *last = Some(Instant::now());
        let keys = fetch_keys(&self.http, &self.endpoints.jwks).await?;
        tracing::info!(tenant = %self.tenant, issuer = %self.config.issuer, keys = keys.len(), "read the upstream provider's keys again for an unknown key id");
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
        Ok(())
    }
}

fn http_client(config: &Config) -> Result<reqwest::Client, Error> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        // Every endpoint is named by the discovery document; a redirect is a misconfiguration
        // (and would turn the token request's POST into a GET elsewhere).
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("tke-rs/", env!("CARGO_PKG_VERSION")))
        .danger_accept_invalid_certs(config.insecure_skip_verify);
    for der in root_certificates(&config.root_ca_data)? {
        let cert = reqwest::Certificate::from_der(der.as_ref())
            .map_err(|e| Error::Config(format!("rootCAData holds a bad certificate: {e}")))?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build().map_err(|e| Error::Config(format!("cannot make an HTTP client for the provider: {e}")))
}

/// `GET url` (with a bearer token when given), a JSON answer expected.
async fn get_json<T: DeserializeOwned>(
    http: &reqwest::Client,
    what: &'static str,
    url: &str,
    bearer: Option<&str>,
) -> Result<T, Error> {
    let mut request = http.get(url).header(ACCEPT, "application/json");
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|e| unreachable(what, url, &e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(Error::Status { what, url: url.to_string(), status: status.as_u16() });
    }
    let jwt = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/jwt"));
    if jwt {
        return Err(Error::BadResponse {
            what,
            url: url.to_string(),
            reason: "signed (application/jwt) answers are not supported; have the provider answer plain JSON".into(),
        });
    }
    let body = read_limited(response, what, url).await?;
    serde_json::from_slice(&body).map_err(|e| Error::BadResponse { what, url: url.to_string(), reason: e.to_string() })
}

/// The body of `response`, refused beyond [`MAX_BODY`].
async fn read_limited(mut response: reqwest::Response, what: &'static str, url: &str) -> Result<Vec<u8>, Error> {
    let too_large =
        || Error::BadResponse { what, url: url.to_string(), reason: format!("the answer is over {MAX_BODY} bytes") };
    if response.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| unreachable(what, url, &e))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A failed request as a person can act on it: the innermost cause ("connection refused",
/// a certificate problem) rather than reqwest's "error sending request".
fn unreachable(what: &'static str, url: &str, e: &reqwest::Error) -> Error {
    let reason = if e.is_timeout() {
        format!("no answer within {REQUEST_TIMEOUT:?}")
    } else {
        let mut cause: &dyn std::error::Error = e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        cause.to_string()
    };
    Error::Unreachable { what, url: url.to_string(), reason }
}

/// The provider's keys usable for ID tokens: RSA keys for RS256 and P-256 keys for ES256
/// (keys for encryption, other algorithms or curves are left out).
async fn fetch_keys(http: &reqwest::Client, url: &str) -> Result<Vec<Arc<Key>>, Error> {
    #[derive(Deserialize)]
    struct Jwks {
        keys: Vec<Value>,
    }
    let jwks: Jwks = get_json(http, "JWKS", url, None).await?;
    let keys = keys_of(&jwks.keys);
    if keys.is_empty() {
        return Err(Error::BadResponse {
            what: "JWKS",
            url: url.to_string(),
            reason: "it has no RSA or P-256 signing key".into(),
        });
    }
    Ok(keys)
}

fn keys_of(jwks: &[Value]) -> Vec<Arc<Key>> {
    let mut keys = Vec::new();
    for jwk in jwks {
        let field = |name: &str| jwk.get(name).and_then(Value::as_str);
        if field("use").is_some_and(|u| u != "sig") {
            continue;
        }
        let (alg, key) = match (field("kty"), field("crv")) {
            (Some("RSA"), _) => {
                let (Some(n), Some(e)) = (field("n"), field("e")) else { continue };
                (Algorithm::RS256, DecodingKey::from_rsa_components(n, e))
            }
            (Some("EC"), Some("P-256")) => {
                let (Some(x), Some(y)) = (field("x"), field("y")) else { continue };
                (Algorithm::ES256, DecodingKey::from_ec_components(x, y))
            }
            _ => continue,
        };
        // A key published for another algorithm (PS256 on an RSA key) signs nothing we accept.
        if field("alg").is_some_and(|a| a != format!("{alg:?}")) {
            continue;
        }
        if let Ok(key) = key {
            keys.push(Arc::new(Key { kid: field("kid").map(str::to_string), alg, key }));
        }
    }
    keys
}

fn token_error(e: &jsonwebtoken::errors::Error) -> TokenError {
    match e.kind() {
        ErrorKind::InvalidSignature => TokenError::Signature,
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        ErrorKind::InvalidIssuer => TokenError::Issuer,
        ErrorKind::InvalidAudience => TokenError::Audience,
        ErrorKind::MissingRequiredClaim(c) => TokenError::MissingClaim(c.clone()),
        ErrorKind::InvalidAlgorithm => TokenError::Algorithm("an algorithm its key is not for".into()),
        _ => TokenError::Malformed,
    }
}

/// Text from the provider, fit for a message: printable and short.
fn clean(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(MAX_DESCRIPTION).collect()
}

/// `application/x-www-form-urlencoded` of one value (unreserved characters kept).
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{EncodingKey, Header};
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use serde_json::json;

    const ISSUER: &str = "https://login.example.com";

    fn config(extra: Value) -> Config {
        let mut v = json!({"issuer": ISSUER, "clientID": "tke", "clientSecret": "s3cret-value",
            "redirectURI": "https://tke.example.com/oidc/callback"});
        if let (Value::Object(base), Value::Object(more)) = (&mut v, extra) {
            base.extend(more);
        }
        Config::from_json(&v.to_string()).expect("a valid configuration")
    }

    fn claims(v: Value) -> Claims {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn defaults_fill_what_the_administrator_leaves_out() {
        let c = config(json!({}));
        assert_eq!(c.scope(), "openid profile email");
        assert_eq!(c.user_id_claim, "sub");
        assert_eq!(c.claim_mapping, ClaimMapping::default());
        assert_eq!(c.claim_mapping.username, ["preferred_username", "email", "sub"]);
        assert_eq!(c.claim_mapping.display_name, ["name", "preferred_username", "username"]);
        assert_eq!(c.claim_mapping.groups, "groups");

        // Scopes as one string, without openid; single claims as strings; dex's userIDKey.
        let c = config(json!({"scopes": "groups email", "userIDKey": "oid",
            "claimMapping": {"username": "upn", "groups": "roles"}}));
        assert_eq!(c.scope(), "openid groups email");
        assert_eq!(c.user_id_claim, "oid");
        assert_eq!(c.claim_mapping.username, ["upn"]);
        assert_eq!(c.claim_mapping.email, ["email"], "the fields not given keep their defaults");
        assert_eq!(config(json!({"scopes": ["openid", "profile"]})).scope(), "openid profile");
    }

    #[test]
    fn bad_configurations_say_what_to_fix() {
        let base = json!({"issuer": ISSUER, "clientID": "tke", "clientSecret": "x",
            "redirectURI": "https://tke.example.com/oidc/callback"});
        let with = |k: &str, v: Value| {
            let mut c = base.clone();
            c[k] = v;
            Config::from_json(&c.to_string())
        };
        for (key, value, says) in [
            ("issuer", json!(""), "issuer is required"),
            ("issuer", json!("login.example.com"), "not a URL"),
            ("issuer", json!("http://login.example.com"), "must use https"),
            ("issuer", json!("http://10.0.0.1:8080"), "must use https"),
            ("issuer", json!("ftp://login.example.com"), "not an https URL"),
            ("issuer", json!("https://login.example.com/?tenant=1"), "query or fragment"),
            ("clientID", json!(""), "clientID is required"),
            ("clientSecret", json!(""), "clientSecret is required"),
            ("redirectURI", json!(""), "redirectURI is required"),
            ("redirectURI", json!("/oidc/callback"), "not an http(s) URL"),
            ("rootCAData", json!("not base64 at all!"), "rootCAData must be PEM"),
            ("rootCAData", json!("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), "bad certificate"),
            ("rootCAData", json!(STANDARD.encode("no pem here")), "no PEM certificate"),
            ("userIDClaim", json!(" "), "userIDClaim"),
            ("claimMapping", json!({"username": []}), "claimMapping.username"),
            ("claimMapping", json!({"email": [""]}), "claimMapping.email"),
        ] {
            let err = with(key, value.clone()).expect_err(&format!("{key}: {value} must be refused"));
            assert!(matches!(err, Error::Config(_)), "{err}");
            assert!(err.to_string().contains(says), "{key}: {value}: {err}");
        }
        assert!(matches!(Config::from_json("{"), Err(Error::Config(_))));
        assert!(matches!(Config::from_json(r#"{"issuer": 5}"#), Err(Error::Config(_))));
        // Plain http is fine on a loopback address.
        for issuer in ["http://127.0.0.1:5556", "http://localhost:5556/dex", "http://[::1]:5556"] {
            assert!(with("issuer", json!(issuer)).is_ok(), "{issuer}");
        }
    }

    #[test]
    fn the_configuration_of_an_identity_provider_gets_its_secret_back() {
        let idp = |type_: &str| -> api::auth::IdentityProvider {
            serde_json::from_value(json!({"metadata": {"name": "corp"}, "spec": {"type": type_,
                "config": json!({"issuer": ISSUER, "clientID": "tke",
                    "redirectURI": "https://tke.example.com/oidc/callback"}).to_string(),
                "secrets": {"clientSecret": "kept-apart"}}}))
            .unwrap()
        };
        let c = Config::of(&idp("oidc")).unwrap();
        assert_eq!((c.client_id.as_str(), c.client_secret.as_str()), ("tke", "kept-apart"));
        let err = Config::of(&idp("ldap")).unwrap_err();
        assert!(err.to_string().contains("not \"oidc\""), "{err}");
    }

    #[test]
    fn root_cas_are_read_as_pem_or_base64_of_pem() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["login.example.com".into()]).unwrap().self_signed(&key).unwrap();
        let pem = cert.pem();
        for data in [pem.clone(), STANDARD.encode(&pem), format!("{pem}{pem}")] {
            let c = config(json!({"rootCAData": data}));
            assert!(!root_certificates(&c.root_ca_data).unwrap().is_empty());
            http_client(&c).expect("a client trusting the CA");
        }
    }

    #[test]
    fn the_client_secret_is_never_printed() {
        let c = config(json!({}));
        let printed = format!("{c:?}");
        assert!(!printed.contains("s3cret-value"), "{printed}");
        assert!(printed.contains("(set)"), "{printed}");
    }

    #[test]
    fn claims_map_to_a_person_with_fallbacks() {
        let c = config(json!({}));
        let all = claims(json!({"sub": "u-1", "preferred_username": "alice", "name": "Alice Liddell",
            "email": "alice@example.org", "email_verified": true, "groups": ["ops", "devs", "ops", true, {"x": 1}, ""]}));
        let p = c.person("corp", &all).unwrap();
        assert_eq!(
            p,
            Person {
                tenant: "corp".into(),
                username: "alice".into(),
                id: "u-1".into(),
                display_name: "Alice Liddell".into(),
                email: "alice@example.org".into(),
                groups: vec!["ops".into(), "devs".into()],
                platform_admin: false,
            }
        );

        // No preferred_username: the email is the username (TKEStack issue #1420).
        let p = c.person("corp", &claims(json!({"sub": "u-2", "email": "bob@example.org"}))).unwrap();
        assert_eq!((p.username.as_str(), p.display_name.as_str()), ("bob@example.org", "bob@example.org"));
        assert!(p.groups.is_empty());
        // Neither: the subject. Blank and non-text values do not count.
        let p = c
            .person("corp", &claims(json!({"sub": "u-3", "preferred_username": "  ", "email": {"x": 1}, "name": null})))
            .unwrap();
        assert_eq!((p.username.as_str(), p.email.as_str()), ("u-3", ""));
        assert!(c.person("corp", &claims(json!({"sub": "a\nb"}))).is_err(), "control characters are refused");
    }

    #[test]
    fn unverified_emails_are_not_used() {
        let c = config(json!({}));
        for verified in [json!(false), json!("false")] {
            let p = c
                .person("corp", &claims(json!({"sub": "u-4", "email": "ceo@example.org", "email_verified": verified})))
                .unwrap();
            assert_eq!((p.username.as_str(), p.email.as_str()), ("u-4", ""), "{verified}");
        }
        let c = config(json!({"insecureSkipEmailVerified": true}));
        let p = c
            .person("corp", &claims(json!({"sub": "u-4", "email": "ceo@example.org", "email_verified": false})))
            .unwrap();
        assert_eq!(p.username, "ceo@example.org");
    }

    #[test]
    fn custom_mappings_reach_into_nested_claims() {
        let c = config(json!({"userIDClaim": "oid", "claimMapping": {"username": ["upn"],
            "displayName": ["given_name"], "email": ["mail"], "groups": "realm_access.roles"}}));
        let p = c
            .person(
                "corp",
                &claims(json!({"sub": "x", "oid": "0f3c", "upn": "carol@corp", "given_name": "Carol",
                "mail": "carol@example.org", "realm_access": {"roles": ["admin"]}})),
            )
            .unwrap();
        assert_eq!(p.id, "0f3c");
        assert_eq!(p.username, "carol@corp");
        assert_eq!(p.display_name, "Carol");
        assert_eq!(p.email, "carol@example.org");
        assert_eq!(p.groups, ["admin"]);
        // A claim whose name has dots is taken whole first; one group as a string.
        let c = config(json!({"claimMapping": {"groups": "https://example.com/groups"}}));
        let p = c.person("corp", &claims(json!({"sub": "x", "https://example.com/groups": "ops"}))).unwrap();
        assert_eq!(p.groups, ["ops"]);

        let err = config(json!({"claimMapping": {"username": ["upn"]}}))
            .person("corp", &claims(json!({"sub": "x"})))
            .unwrap_err();
        assert!(matches!(&err, Error::NoUsername { claims } if claims == &["upn"]), "{err}");
        assert!(err.to_string().contains("claimMapping.username"), "{err}");
        let err = config(json!({"userIDClaim": "oid"})).person("corp", &claims(json!({"sub": "x"}))).unwrap_err();
        assert!(err.to_string().contains("userIDClaim"), "{err}");
    }

    #[test]
    fn userinfo_is_asked_only_when_a_mapped_claim_is_missing() {
        let c = config(json!({}));
        assert!(c.incomplete(&claims(json!({"sub": "x"}))));
        let full = json!({"sub": "x", "preferred_username": "a", "name": "A", "email": "a@x", "groups": []});
        assert!(!c.incomplete(&claims(full.clone())));
        let mut no_groups = full;
        no_groups.as_object_mut().unwrap().remove("groups");
        assert!(c.incomplete(&claims(no_groups.clone())));
        assert!(!config(json!({"claimMapping": {"groups": ""}})).incomplete(&claims(no_groups)));
    }

    /// An ES256 key pair: (private key for signing, public JWK).
    fn key(kid: &str) -> (EncodingKey, Value) {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        let point = pair.public_key().as_ref();
        let jwk = json!({"kty": "EC", "crv": "P-256", "use": "sig", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])});
        (EncodingKey::from_ec_der(pkcs8.as_ref()), jwk)
    }

    /// An Upstream that knows `jwks` and will not read it again (its last read is just now).
    fn upstream(jwks: &[Value]) -> Upstream {
        Upstream {
            tenant: "corp".into(),
            config: config(json!({})),
            endpoints: Endpoints {
                authorization: Url::parse("https://login.example.com/authorize?prompt=login").unwrap(),
                token: "https://login.example.com/token".into(),
                userinfo: None,
                jwks: "https://127.0.0.1:9/jwks".into(),
            },
            client_auth: ClientAuth::Basic,
            http: reqwest::Client::new(),
            keys: RwLock::new(keys_of(jwks)),
            refetched: tokio::sync::Mutex::new(Some(Instant::now())),
        }
    }

    fn good_claims() -> Value {
        let now = jsonwebtoken::get_current_timestamp();
        json!({"iss": ISSUER, "aud": "tke", "sub": "u-1", "exp": now + 300, "iat": now, "nonce": "n-1"})
    }

    fn sign(key: &EncodingKey, kid: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = kid.map(str::to_string);
        jsonwebtoken::encode(&header, claims, key).unwrap()
    }

    fn with(mut claims: Value, key: &str, value: Value) -> Value {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(key);
        } else {
            claims[key] = value;
        }
        claims
    }

    #[tokio::test]
    async fn id_tokens_are_verified() {
        let (k1, jwk1) = key("k1");
        let (k2, jwk2) = key("k2");
        let up = upstream(&[jwk1, jwk2.clone()]);
        let ok = up.verify_id_token(&sign(&k1, Some("k1"), &good_claims()), "n-1").await.unwrap();
        assert_eq!(ok["sub"], "u-1");
        // No kid: every key of the algorithm is tried.
        up.verify_id_token(&sign(&k2, None, &good_claims()), "n-1").await.unwrap();
        // Several audiences with this client as the authorized party.
        let several = with(with(good_claims(), "aud", json!(["tke", "other"])), "azp", json!("tke"));
        up.verify_id_token(&sign(&k1, Some("k1"), &several), "n-1").await.unwrap();

        let now = jsonwebtoken::get_current_timestamp();
        let refused = |claims: Value, kid: &'static str, signer: &EncodingKey| (sign(signer, Some(kid), &claims), kid);
        for ((token, _), expected) in [
            (refused(good_claims(), "k2", &k1), TokenError::Signature),
            (refused(good_claims(), "k3", &k1), TokenError::UnknownKey),
            (refused(with(good_claims(), "iss", json!("https://evil.example.com")), "k1", &k1), TokenError::Issuer),
            (refused(with(good_claims(), "aud", json!("other")), "k1", &k1), TokenError::Audience),
            (
                refused(with(good_claims(), "aud", json!(["tke", "other"])), "k1", &k1),
                TokenError::MissingClaim("azp".into()),
            ),
            (refused(with(several.clone(), "azp", json!("other")), "k1", &k1), TokenError::Audience),
            (refused(with(good_claims(), "exp", json!(now - 3600)), "k1", &k1), TokenError::Expired),
            (refused(with(good_claims(), "iat", json!(now + 3600)), "k1", &k1), TokenError::NotYetValid),
            (refused(with(good_claims(), "nbf", json!(now + 3600)), "k1", &k1), TokenError::NotYetValid),
            (refused(with(good_claims(), "iat", Value::Null), "k1", &k1), TokenError::MissingClaim("iat".into())),
            (refused(with(good_claims(), "sub", Value::Null), "k1", &k1), TokenError::MissingClaim("sub".into())),
            (refused(with(good_claims(), "nonce", json!("n-2")), "k1", &k1), TokenError::Nonce),
            (refused(with(good_claims(), "nonce", Value::Null), "k1", &k1), TokenError::MissingClaim("nonce".into())),
        ] {
            let err = up.verify_id_token(&token, "n-1").await.expect_err(&format!("{expected:?}"));
            assert!(matches!(&err, Error::IdToken(e) if *e == expected), "{expected:?}: {err}");
            assert!(!err.to_string().contains(&token), "the token is never in a message");
        }
        // Without a key id, signed by a key the JWKS does not have.
        let (k3, _) = key("k3");
        let err = up.verify_id_token(&sign(&k3, None, &good_claims()), "n-1").await;
        assert!(matches!(err, Err(Error::IdToken(TokenError::Signature))), "{err:?}");
        // An empty nonce never matches.
        let err = up.verify_id_token(&sign(&k1, Some("k1"), &with(good_claims(), "nonce", json!(""))), "").await;
        assert!(matches!(err, Err(Error::IdToken(TokenError::Nonce))));
        // Leeway: a token that expired a few seconds ago still passes.
        let recent = with(good_claims(), "exp", json!(now - 5));
        up.verify_id_token(&sign(&k1, Some("k1"), &recent), "n-1").await.unwrap();
    }

    #[tokio::test]
    async fn unsigned_and_hmac_tokens_are_refused_before_any_key() {
        let (_, jwk) = key("k1");
        let up = upstream(std::slice::from_ref(&jwk));
        let payload = URL_SAFE_NO_PAD.encode(good_claims().to_string());
        let none = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"k1"}"#));
        let err = up.verify_id_token(&none, "n-1").await.unwrap_err();
        assert!(matches!(err, Error::IdToken(TokenError::Malformed | TokenError::Algorithm(_))), "{err}");
        // HS256 "signed" with the public key, as an attacker who read the JWKS would.
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k1".into());
        let hmac = jsonwebtoken::encode(&header, &good_claims(), &EncodingKey::from_secret(jwk.to_string().as_bytes()))
            .unwrap();
        let err = up.verify_id_token(&hmac, "n-1").await.unwrap_err();
        assert!(matches!(err, Error::IdToken(TokenError::Algorithm(ref a)) if a == "HS256"), "{err}");
        for junk in ["", "a.b.c", "not a token", "eyJhbGciOiJFUzI1NiJ9.!!!.###"] {
            let err = up.verify_id_token(junk, "n-1").await.unwrap_err();
            assert!(matches!(err, Error::IdToken(_)), "{junk}: {err}");
        }
    }

    #[test]
    fn only_signing_keys_for_accepted_algorithms_are_kept() {
        let (_, ec) = key("ec");
        let keys = keys_of(&[
            ec.clone(),
            with(ec.clone(), "use", json!("enc")),
            with(with(ec.clone(), "crv", json!("P-384")), "kid", json!("p384")),
            with(ec.clone(), "alg", json!("ES384")),
            json!({"kty": "oct", "k": "c2VjcmV0"}),
            json!({"kty": "RSA", "kid": "rsa", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"}),
            json!({"kty": "RSA", "alg": "PS256", "n": "AQAB", "e": "AQAB"}),
            json!({"kty": "RSA", "n": 5}),
        ]);
        let kept: Vec<_> = keys.iter().map(|k| (k.kid.clone(), k.alg)).collect();
        assert_eq!(kept, [(Some("ec".into()), Algorithm::ES256), (Some("rsa".into()), Algorithm::RS256)]);
    }

    #[test]
    fn the_authorization_url_asks_for_code_with_s256_pkce() {
        let up = upstream(&[]);
        let url = Url::parse(&up.authorization_url("st ate", "n-1", "chal")).unwrap();
        assert!(url.as_str().starts_with("https://login.example.com/authorize?prompt=login&"), "{url}");
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "tke");
        assert_eq!(q["redirect_uri"], "https://tke.example.com/oidc/callback");
        assert_eq!(q["scope"], "openid profile email");
        assert_eq!(q["state"], "st ate");
        assert_eq!(q["nonce"], "n-1");
        assert_eq!(q["code_challenge"], "chal");
        assert_eq!(q["code_challenge_method"], "S256");
        assert!(!url.as_str().contains("s3cret"), "the secret never goes to the browser");
    }

    #[test]
    fn pkce_and_random_values() {
        // The challenge as an independent SHA-256 (Python's hashlib) computes it.
        assert_eq!(
            Pkce::challenge_of("dBjftJeZ4CVP-mJ0kWGpzPgc36DWVHBXAyAA-u2ZS8E"),
            "lIfhdeoocEJ6cbRxBvN_ttS44rIvP9CoDdL_WqnGB_M"
        );
        let p = Pkce::new();
        assert_eq!(p.verifier.len(), 43, "RFC 7636: 43 to 128 characters");
        assert_eq!(p.challenge, Pkce::challenge_of(&p.verifier));
        assert_ne!(random_value(), random_value());
    }

    #[test]
    fn messages_help_and_hide_secrets() {
        assert_eq!(form_encode("a b:c/d%é~"), "a%20b%3Ac%2Fd%25%C3%A9~");
        let reused = Error::Refused { error: "invalid_grant".into(), description: "grant request is invalid".into() };
        let text = reused.to_string();
        assert!(text.contains("invalid_grant: grant request is invalid"), "{text}");
        assert!(text.contains("used already"), "{text}");
        let client = Error::Refused { error: "invalid_client".into(), description: String::new() };
        assert!(client.to_string().contains("check clientID and clientSecret"), "{client}");
        assert_eq!(clean(&format!("a\nb{}", "x".repeat(500))).len(), MAX_DESCRIPTION);
    }
}
