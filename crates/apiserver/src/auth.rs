//! Who is calling and may they: the authenticator chain (verified client certificates, static
//! bearer tokens, later OIDC and API keys), the authorizer hook, and [`authenticate`], the layer
//! that applies both to every request the way kube-apiserver does (public health, version and
//! discovery paths open to anonymous callers; `401`/`403` as Kubernetes `Status` objects).

use std::{fmt, io, path::Path, sync::Arc};

use apimachinery::{ApiError, error::Reason};
use async_trait::async_trait;
use axum::{
    Router,
    extract::{Request, State},
    http::{Method, header, request::Parts},
    middleware::Next,
    response::Response,
};

use crate::{
    UserInfo,
    audit::{Auditor, Level},
    http::error_response,
    tls::PeerCertificates,
};

/// Added to every authenticated user, as in Kubernetes.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";
/// The group of the anonymous user on public paths.
pub const UNAUTHENTICATED_GROUP: &str = "system:unauthenticated";
/// The name of a caller that presented no credentials.
pub const ANONYMOUS_USER: &str = "system:anonymous";

/// What one authenticator makes of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Authentication {
    /// The request carries no credentials this authenticator understands.
    NotApplicable,
    Authenticated(UserInfo),
    /// The request carries credentials of this kind and they are wrong. The reason is for the
    /// server's log; it must never contain the credential itself.
    Rejected(String),
}

/// Turns a request's credentials (headers, the TLS peer certificates in the extensions) into a user.
#[async_trait]
pub trait Authenticator: Send + Sync {
    async fn authenticate(&self, request: &Parts) -> Authentication;
}

/// Tries each authenticator in order: the first that authenticates wins; if none does, the
/// request is rejected when any rejected it (with all reasons) and otherwise anonymous.
#[derive(Default)]
pub struct AuthenticatorChain {
    authenticators: Vec<Arc<dyn Authenticator>>,
}

impl AuthenticatorChain {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, authenticator: Arc<dyn Authenticator>) {
        self.authenticators.push(authenticator);
    }

    pub fn len(&self) -> usize {
        self.authenticators.len()
    }

    pub fn is_empty(&self) -> bool {
        self.authenticators.is_empty()
    }
}

#[async_trait]
impl Authenticator for AuthenticatorChain {
    async fn authenticate(&self, request: &Parts) -> Authentication {
        let mut reasons = Vec::new();
        for a in &self.authenticators {
            match a.authenticate(request).await {
                Authentication::Authenticated(user) => return Authentication::Authenticated(user),
                Authentication::Rejected(reason) => reasons.push(reason),
                Authentication::NotApplicable => {}
            }
        }
        if reasons.is_empty() { Authentication::NotApplicable } else { Authentication::Rejected(reasons.join("; ")) }
    }
}

/// The verified client certificate ([`PeerCertificates`], put there by [`crate::tls::serve`]):
/// the user is its common name, the groups its organizations.
#[derive(Clone, Default)]
pub struct X509Authenticator {
    /// When the listener also trusts a front proxy's CA, the CAs whose certificates name users
    /// (a front proxy's certificate is not a user's).
    pub client_cas: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
}

impl X509Authenticator {
    /// Accepts any certificate the listener verified.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Authenticator for X509Authenticator {
    async fn authenticate(&self, request: &Parts) -> Authentication {
        let Some(peer) = request.extensions.get::<PeerCertificates>() else {
            return Authentication::NotApplicable;
        };
        if let Some(cas) = &self.client_cas
            && !crate::tls::chain_verifies(cas.as_ref(), peer)
        {
            return Authentication::NotApplicable;
        }
        let Some(id) = peer.identity() else {
            return Authentication::NotApplicable;
        };
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        if id.not_after < now {
            return Authentication::Rejected(format!(
                "x509: the client certificate of {:?} has expired",
                id.common_name
            ));
        }
        Authentication::Authenticated(UserInfo {
            name: id.common_name.clone(),
            uid: String::new(),
            groups: id.organizations.clone(),
            extra: Default::default(),
        })
    }
}

/// kube-apiserver's request-header authentication (`--requestheader-*`): a front proxy that
/// authenticated the user itself (an authenticating gateway, a console's backend) presents a
/// client certificate of its own CA and names the user in headers (`X-Remote-User`,
/// `X-Remote-Group`, `X-Remote-Extra-<key>`). The headers count only on a connection whose
/// certificate verifies against that CA (and, if `allowed_names` is set, whose common name is
/// one of them); from anyone else they are ignored.
pub struct RequestHeaderAuthenticator {
    verifier: Arc<dyn rustls::server::danger::ClientCertVerifier>,
    pub allowed_names: Vec<String>,
    pub username_headers: Vec<String>,
    pub group_headers: Vec<String>,
    pub extra_headers_prefixes: Vec<String>,
}

impl RequestHeaderAuthenticator {
    /// Trusts front proxies with certificates of the CA in `ca_pem` (Kubernetes' default
    /// header names when the lists are empty).
    pub fn new(
        ca_pem: &[u8],
        allowed_names: Vec<String>,
        username_headers: Vec<String>,
        group_headers: Vec<String>,
        extra_headers_prefixes: Vec<String>,
    ) -> io::Result<Self> {
        let or = |v: Vec<String>, default: &str| {
            let v: Vec<String> = v.into_iter().filter(|h| !h.trim().is_empty()).collect();
            if v.is_empty() { vec![default.to_string()] } else { v }
        };
        Ok(Self {
            verifier: crate::tls::client_verifier(&[("the front proxy's CA", ca_pem)])?,
            allowed_names,
            username_headers: or(username_headers, "X-Remote-User"),
            group_headers: or(group_headers, "X-Remote-Group"),
            extra_headers_prefixes: or(extra_headers_prefixes, "X-Remote-Extra-"),
        })
    }
}

#[async_trait]
impl Authenticator for RequestHeaderAuthenticator {
    async fn authenticate(&self, request: &Parts) -> Authentication {
        let Some(peer) = request.extensions.get::<PeerCertificates>() else {
            return Authentication::NotApplicable;
        };
        if !crate::tls::chain_verifies(self.verifier.as_ref(), peer) {
            return Authentication::NotApplicable;
        }
        let proxy = peer.identity().map(|i| i.common_name.as_str()).unwrap_or("");
        if !self.allowed_names.is_empty() && !self.allowed_names.iter().any(|n| n == proxy) {
            return Authentication::Rejected(format!(
                "request headers: {proxy:?} is not an allowed front proxy (--requestheader-allowed-names)"
            ));
        }
        let values = |name: &str| {
            request.headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect::<Vec<_>>()
        };
        let Some(name) = self.username_headers.iter().flat_map(|h| values(h)).find(|v| !v.trim().is_empty()) else {
            return Authentication::Rejected(format!("request headers: the front proxy {proxy:?} named no user"));
        };
        let groups: Vec<String> = self
            .group_headers
            .iter()
            .flat_map(|h| values(h))
            .flat_map(|v| v.split(',').map(|g| g.trim().to_string()).collect::<Vec<_>>())
            .filter(|g| !g.is_empty())
            .collect();
        let mut extra: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for (header, value) in &request.headers {
            let header = header.as_str();
            let Some(key) = self
                .extra_headers_prefixes
                .iter()
                .find_map(|p| header.get(..p.len()).filter(|h| h.eq_ignore_ascii_case(p)).map(|_| &header[p.len()..]))
            else {
                continue;
            };
            // Keys are percent-encoded (Kubernetes' rule), and case-insensitive.
            let key = percent_encoding::percent_decode_str(key).decode_utf8_lossy().to_ascii_lowercase();
            if let Ok(v) = value.to_str() {
                extra.entry(key).or_default().push(v.to_string());
            }
        }
        Authentication::Authenticated(UserInfo { name, uid: String::new(), groups, extra })
    }
}

/// kube-apiserver's `--token-auth-file`: a CSV file of `token,user,uid[,"group1,group2"]`,
/// checked against `Authorization: Bearer <token>`. Blank lines and lines starting with `#` are
/// skipped. Every lookup compares against every token in constant time per byte, so the
/// response time does not reveal how much of a guess was right.
pub struct TokenFileAuthenticator {
    entries: Vec<TokenEntry>,
}

struct TokenEntry {
    token: Vec<u8>,
    user: UserInfo,
}

impl fmt::Debug for TokenFileAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenFileAuthenticator")
            .field("users", &self.entries.iter().map(|e| &e.user.name).collect::<Vec<_>>())
            .finish()
    }
}

impl TokenFileAuthenticator {
    /// Reads the token file; errors name the file and the line.
    pub fn load(path: &Path) -> io::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", path.display())))?;
        Self::parse(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))
    }

    /// Parses token file contents (errors start with `line N:`).
    pub fn parse(text: &str) -> Result<Self, TokenFileError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut entries: Vec<TokenEntry> = Vec::new();
        let mut lines_of: Vec<usize> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let bad = |problem| TokenFileError { line: n, problem };
            let fields = split_csv_line(line).map_err(|e| bad(TokenProblem::Csv(e)))?;
            if fields.len() < 3 {
                return Err(bad(TokenProblem::TooFewColumns(fields.len())));
            }
            if fields.len() > 4 {
                return Err(bad(TokenProblem::TooManyColumns(fields.len())));
            }
            let token = fields[0].as_str();
            if token.is_empty() {
                return Err(bad(TokenProblem::EmptyToken));
            }
            if token.chars().any(char::is_whitespace) {
                return Err(bad(TokenProblem::WhitespaceInToken));
            }
            if fields[1].is_empty() {
                return Err(bad(TokenProblem::EmptyUser));
            }
            if let Some(prev) = entries.iter().position(|e| constant_time_eq(&e.token, token.as_bytes())) {
                return Err(bad(TokenProblem::Duplicate(lines_of[prev])));
            }
            let groups = fields
                .get(3)
                .map(|g| g.split(',').map(str::trim).filter(|g| !g.is_empty()).map(str::to_string).collect())
                .unwrap_or_default();
            entries.push(TokenEntry {
                token: token.as_bytes().to_vec(),
                user: UserInfo { name: fields[1].clone(), uid: fields[2].clone(), groups, extra: Default::default() },
            });
            lines_of.push(n);
        }
        Ok(Self { entries })
    }

    /// The number of tokens.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn lookup(&self, token: &[u8]) -> Option<&UserInfo> {
        // No early exit: every entry is compared.
        let mut found = None;
        for e in &self.entries {
            if constant_time_eq(&e.token, token) {
                found = Some(&e.user);
            }
        }
        found
    }
}

#[async_trait]
impl Authenticator for TokenFileAuthenticator {
    async fn authenticate(&self, request: &Parts) -> Authentication {
        let Some(token) = request_token(&request.headers) else {
            return Authentication::NotApplicable;
        };
        match self.lookup(token.as_bytes()) {
            Some(user) => Authentication::Authenticated(user.clone()),
            None => Authentication::Rejected("invalid bearer token".into()),
        }
    }
}

/// The token of `Authorization: Bearer <token>`, if the header is that.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

/// The user and password of `Authorization: Basic base64(user:password)`, if the header is that.
pub fn basic(headers: &axum::http::HeaderMap) -> Option<(String, String)> {
    use base64::Engine;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let (u, p) = String::from_utf8(decoded).ok()?.split_once(':').map(|(u, p)| (u.to_string(), p.to_string()))?;
    Some((u, p))
}

/// The prefix of a bearer token in a websocket's `Sec-WebSocket-Protocol` (browsers cannot set
/// `Authorization` on a websocket; Kubernetes takes the token this way).
pub const WEBSOCKET_BEARER: &str = "base64url.bearer.authorization.k8s.io.";

/// The bearer token of a request: `Authorization: Bearer`, or the websocket form
/// (`base64url.bearer.authorization.k8s.io.<token>` in `Sec-WebSocket-Protocol`), as every
/// token authenticator of kube-apiserver takes it.
pub fn request_token(headers: &axum::http::HeaderMap) -> Option<std::borrow::Cow<'_, str>> {
    use base64::Engine;
    if let Some(t) = bearer(headers) {
        return Some(std::borrow::Cow::Borrowed(t));
    }
    let protocols = headers.get(header::SEC_WEBSOCKET_PROTOCOL)?.to_str().ok()?;
    let encoded = protocols.split(',').map(str::trim).find_map(|p| p.strip_prefix(WEBSOCKET_BEARER))?;
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(encoded.trim_end_matches('=')).ok()?;
    String::from_utf8(decoded).ok().filter(|t| !t.is_empty()).map(std::borrow::Cow::Owned)
}

/// Equal contents, compared without data-dependent branches (only the length of the longer
/// input shows in the timing).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() != b.len()) as u8;
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

/// A line of a token file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct TokenFileError {
    pub line: usize,
    pub problem: TokenProblem,
}

/// What is wrong with a token file's line.
#[derive(Debug, thiserror::Error)]
pub enum TokenProblem {
    #[error(transparent)]
    Csv(#[from] CsvError),
    #[error("expected at least 3 columns (token, user name, user uid), found {0}")]
    TooFewColumns(usize),
    #[error("expected at most 4 columns (token, user name, user uid, groups), found {0}; quote the groups: \"g1,g2\"")]
    TooManyColumns(usize),
    #[error("the token is empty")]
    EmptyToken,
    #[error("the token contains whitespace")]
    WhitespaceInToken,
    #[error("the user name is empty")]
    EmptyUser,
    #[error("the token of line {0} is used again")]
    Duplicate(usize),
}

/// Why a line is not a CSV record (fields are numbered from 1).
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("field {0} has an unterminated quote")]
    UnterminatedQuote(usize),
    #[error("unexpected {found:?} after the quoted field {field}")]
    AfterQuote { field: usize, found: char },
    #[error("a quote inside the unquoted field {0}")]
    QuoteInUnquoted(usize),
}

/// One CSV record on one line: fields separated by commas, leading spaces trimmed, double-quoted
/// fields may contain commas and `""` for a quote.
fn split_csv_line(line: &str) -> Result<Vec<String>, CsvError> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') || chars.peek() == Some(&'\t') {
            chars.next();
        }
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(CsvError::UnterminatedQuote(fields.len() + 1)),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t' || *c == '\r') {
                chars.next();
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(found) => return Err(CsvError::AfterQuote { field: fields.len() + 1, found }),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field.trim_end_matches('\r').to_string());
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => return Err(CsvError::QuoteInUnquoted(fields.len() + 1)),
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
        }
    }
}

/// What a request asks to do (Kubernetes' `RequestInfo` plus the user).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attributes {
    pub user: UserInfo,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`; for
    /// non-resource requests the lower-case method.
    pub verb: String,
    /// True for `/api/...` and `/apis/...` paths naming a resource.
    pub resource_request: bool,
    pub path: String,
    pub api_group: String,
    pub api_version: String,
    pub namespace: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
}

impl Attributes {
    /// Parses `/apis/<group>/<version>/[namespaces/<ns>/]<resource>[/<name>[/<sub>]]` (and
    /// `/api/<version>/...` for the core group) and maps the method to a verb.
    pub fn from_request(method: &Method, uri: &axum::http::Uri, user: UserInfo) -> Self {
        let path = uri.path().to_string();
        let mut attrs = Attributes {
            user,
            verb: method.as_str().to_ascii_lowercase(),
            resource_request: false,
            path: path.clone(),
            api_group: String::new(),
            api_version: String::new(),
            namespace: String::new(),
            resource: String::new(),
            subresource: String::new(),
            name: String::new(),
        };
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let rest: &[&str] = match segments.as_slice() {
            ["api", version, rest @ ..] if !rest.is_empty() => {
                attrs.api_version = version.to_string();
                rest
            }
            ["apis", group, version, rest @ ..] if !rest.is_empty() => {
                attrs.api_group = group.to_string();
                attrs.api_version = version.to_string();
                rest
            }
            _ => {
                attrs.api_version.clear();
                return attrs;
            }
        };
        if rest.iter().any(|s| s.is_empty()) {
            attrs.api_group.clear();
            attrs.api_version.clear();
            return attrs;
        }
        attrs.resource_request = true;
        attrs.verb = match *method {
            Method::GET | Method::HEAD => "get",
            Method::POST => "create",
            Method::PUT => "update",
            Method::PATCH => "patch",
            Method::DELETE => "delete",
            _ => "",
        }
        .to_string();
        let mut rest = rest;
        // The deprecated `/watch/` path prefix.
        if rest[0] == "watch" && attrs.verb == "get" && rest.len() > 1 {
            attrs.verb = "watch".into();
            rest = &rest[1..];
        }
        if rest[0] == "namespaces" && rest.len() > 1 {
            attrs.namespace = rest[1].to_string();
            // `namespaces/<ns>/status` and `/finalize` are subresources of the namespace itself.
            if rest.len() > 2 && !matches!(rest[2], "status" | "finalize") {
                rest = &rest[2..];
            }
        }
        attrs.resource = rest[0].to_string();
        if let Some(name) = rest.get(1) {
            attrs.name = name.to_string();
        }
        if let Some(sub) = rest.get(2) {
            attrs.subresource = sub.to_string();
        }
        let query = crate::http::parse_query(uri.query());
        if attrs.name.is_empty() && attrs.verb == "get" {
            attrs.verb = if query.get("watch").is_some_and(|w| crate::http::parse_bool(w) == Some(true)) {
                "watch"
            } else {
                "list"
            }
            .into();
        }
        if attrs.name.is_empty() && matches!(attrs.verb.as_str(), "list" | "watch") {
            // A list narrowed to one name by field selector is about that object.
            if let Some(name) = query.get("fieldSelector").and_then(|fs| single_name(fs)) {
                attrs.name = name;
            }
        }
        if attrs.name.is_empty() && attrs.verb == "delete" {
            attrs.verb = "deletecollection".into();
        }
        // A WebSocket upgrade is a GET, but exec, attach and port-forward start something in the
        // pod: they need `create`, whichever method opens them (kube-apiserver's
        // AuthorizePodWebsocketUpgradeCreatePermission), so `get pods/exec` alone lets no one in.
        if attrs.api_group.is_empty()
            && attrs.resource == "pods"
            && matches!(attrs.subresource.as_str(), "exec" | "attach" | "portforward")
            && attrs.verb == "get"
        {
            attrs.verb = "create".into();
        }
        attrs
    }

    /// `<resource>[/<subresource>]`.
    pub fn full_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

fn single_name(field_selector: &str) -> Option<String> {
    let mut found = None;
    for term in field_selector.split(',') {
        let (k, v) = term.split_once("==").or_else(|| term.split_once('='))?;
        if k.trim() == "metadata.name" {
            found = Some(v.trim().to_string());
        }
    }
    found.filter(|n| !n.is_empty())
}

/// An authorizer's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Refused; the reason is appended to the `Forbidden` message (may be empty).
    Deny(String),
}

/// Decides whether a user may do what a request asks.
#[async_trait]
pub trait Authorizer: Send + Sync {
    async fn authorize(&self, attributes: &Attributes) -> Decision;

    /// The decision for a request as it arrived: the server asks this one, with the request's
    /// URI (query included) and headers, so an authorizer can read what the attributes leave
    /// out (the business cluster a proxied request goes to, the request inside a proxy path).
    /// By default the attributes alone decide.
    async fn authorize_request(&self, attributes: &Attributes, _request: &Parts) -> Decision {
        self.authorize(attributes).await
    }
}

/// Any authenticated user may do anything.
pub struct AllowAuthenticated;

#[async_trait]
impl Authorizer for AllowAuthenticated {
    async fn authorize(&self, attributes: &Attributes) -> Decision {
        if attributes.verb == "impersonate" && !attributes.user.is_admin() {
            // Acting as another user would cross tenants, which everyone-may-do-anything must
            // not extend to: only administrators impersonate until policies say otherwise.
            Decision::Deny("only administrators may impersonate".into())
        } else if attributes.user.groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
            Decision::Allow
        } else {
            Decision::Deny("only authenticated users are allowed".into())
        }
    }
}

/// Paths anyone may GET without credentials (what Kubernetes' `system:public-info-viewer`
/// role allows, plus discovery and OpenAPI).
pub fn is_public(method: &Method, path: &str) -> bool {
    if *method != Method::GET && *method != Method::HEAD {
        return false;
    }
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    let segments: Vec<&str> = trimmed.split('/').collect();
    if segments.iter().any(|s| s.is_empty() || *s == "." || *s == "..") {
        return false;
    }
    matches!(
        segments.as_slice(),
        ["healthz" | "livez" | "readyz", ..]
            | ["version"]
            | ["api"]
            | ["api", _]
            | ["apis"]
            | ["apis", _]
            | ["apis", _, _]
            | ["openapi", "v2"]
            | ["openapi", "v3", ..]
    )
}

struct Gate {
    chain: Arc<AuthenticatorChain>,
    authorizer: Arc<dyn Authorizer>,
    auditor: Option<Arc<dyn Auditor>>,
}

/// Wraps `router` so every request is authenticated by `chain` and authorized by `authorizer`:
/// the user (with `system:authenticated` added) goes into the request extensions as
/// [`UserInfo`]; public paths ([`is_public`]) stay open to anonymous callers; missing or wrong
/// credentials answer `401 Unauthorized`, a refusal `403 Forbidden`, both as `Status` objects.
pub fn authenticate(router: Router, chain: Arc<AuthenticatorChain>, authorizer: Arc<dyn Authorizer>) -> Router {
    authenticate_audited(router, chain, authorizer, None)
}

/// [`authenticate`], and every authenticated request (refusals included) is recorded by
/// `auditor` at the level its policy gives (see [`crate::audit`]).
pub fn authenticate_audited(
    router: Router,
    chain: Arc<AuthenticatorChain>,
    authorizer: Arc<dyn Authorizer>,
    auditor: Option<Arc<dyn Auditor>>,
) -> Router {
    let router = router.merge(crate::reviews::routes(authorizer.clone()));
    let gate = Arc::new(Gate { chain, authorizer, auditor });
    router.layer(axum::middleware::from_fn_with_state(gate, gate_request))
}

fn unauthorized() -> Response {
    error_response(&ApiError::unauthorized("Unauthorized"))
}

/// Kubernetes' wording: `<resource>.<group> "<name>" is forbidden: User "<u>" cannot <verb>
/// resource "<resource>" in API group "<group>" in the namespace "<ns>"[: <reason>]`.
pub fn forbidden_error(attrs: &Attributes, reason: &str) -> ApiError {
    let user = &attrs.user.name;
    let what = if attrs.resource_request {
        let scope = if attrs.namespace.is_empty() {
            "at the cluster scope".to_string()
        } else {
            format!("in the namespace \"{}\"", attrs.namespace)
        };
        format!(
            "User \"{user}\" cannot {} resource \"{}\" in API group \"{}\" {scope}",
            attrs.verb,
            attrs.full_resource(),
            attrs.api_group
        )
    } else {
        format!("User \"{user}\" cannot {} path \"{}\"", attrs.verb, attrs.path)
    };
    let detail = if reason.is_empty() { what } else { format!("{what}: {reason}") };
    if attrs.resource_request {
        ApiError::forbidden(&attrs.api_group, &attrs.resource, &attrs.name, &detail)
    } else {
        ApiError::new(Reason::Forbidden, format!("forbidden: {detail}"))
    }
}

/// Reads and drops up to 1 MiB of a request body before an early refusal: an HTTP/2 client
/// still sending (curl) reports the stream reset that follows an answer given mid-upload
/// instead of the answer.
pub async fn drain(body: axum::body::Body) {
    let _ = axum::body::to_bytes(body, 1 << 20).await;
}

async fn gate_request(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    if let Err(refused) = crate::session::adopt(&mut parts) {
        drain(body).await;
        return error_response(&ApiError::new(Reason::Forbidden, refused.to_string()));
    }
    let public = is_public(&parts.method, parts.uri.path());
    let user = match gate.chain.authenticate(&parts).await {
        Authentication::Authenticated(mut user) => {
            if !user.groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
                user.groups.push(AUTHENTICATED_GROUP.to_string());
            }
            // Like kube-apiserver: the credential is consumed here, never passed on (proxies).
            parts.headers.remove(header::AUTHORIZATION);
            user
        }
        Authentication::Rejected(reason) => {
            tracing::debug!(method = %parts.method, path = parts.uri.path(), %reason, "authentication failed");
            drain(body).await;
            return unauthorized();
        }
        Authentication::NotApplicable if public => UserInfo {
            name: ANONYMOUS_USER.to_string(),
            groups: vec![UNAUTHENTICATED_GROUP.to_string()],
            ..Default::default()
        },
        Authentication::NotApplicable => {
            drain(body).await;
            return unauthorized();
        }
    };
    // Who asked, before impersonation: the event names both.
    let original = gate.auditor.as_ref().map(|_| user.clone());
    let user = match impersonate(&gate, &mut parts, user).await {
        Ok(user) => user,
        Err(resp) => {
            drain(body).await;
            return resp;
        }
    };
    let attrs = Attributes::from_request(&parts.method, &parts.uri, user);
    let audit = match &gate.auditor {
        Some(auditor) => match auditor.level(&attrs) {
            Level::None => None,
            level => Some((auditor, level, audit_begin(level, &attrs, &parts, original.as_ref()))),
        },
        None => None,
    };
    if !public {
        match gate.authorizer.authorize_request(&attrs, &parts).await {
            Decision::Allow => {}
            Decision::Deny(reason) => {
                tracing::debug!(user = %attrs.user.name, verb = %attrs.verb, path = %attrs.path, %reason, "forbidden");
                drain(body).await;
                let resp = error_response(&forbidden_error(&attrs, &reason));
                return match audit {
                    Some((auditor, level, event)) => audit_end(auditor.as_ref(), level, event, resp).await,
                    None => resp,
                };
            }
        }
    }
    parts.extensions.insert(attrs.user);
    let Some((auditor, level, mut event)) = audit else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    let body = if level >= Level::Request && captured_length(&parts.headers).is_some() {
        match axum::body::to_bytes(body, crate::audit::MAX_CAPTURED_BODY as usize).await {
            Ok(bytes) => {
                let ct = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
                event.request_object = crate::audit::body_object(ct, &bytes);
                axum::body::Body::from(bytes)
            }
            Err(_) => return error_response(&ApiError::bad_request("the request body could not be read")),
        }
    } else {
        body
    };
    let resp = next.run(Request::from_parts(parts, body)).await;
    audit_end(auditor.as_ref(), level, event, resp).await
}

/// The declared length of a request body small enough to be kept in an event.
fn captured_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|n| *n > 0 && *n <= crate::audit::MAX_CAPTURED_BODY)
}

fn audit_begin(level: Level, attrs: &Attributes, parts: &Parts, original: Option<&UserInfo>) -> crate::audit::Event {
    let uri = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or(parts.uri.path());
    let mut event = crate::audit::begin(level, attrs, uri, original);
    if let Some(forwarded) = parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        event.source_ips.extend(forwarded.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string));
    }
    if let Some(axum::extract::ConnectInfo(remote)) =
        parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        event.source_ips.push(remote.ip().to_string());
    }
    event.user_agent =
        parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    event
}

/// Completes the event with the response (reading the body only when it is small, complete and
/// needed: the response level, an error's Status, a created object's name) and hands it over.
async fn audit_end(auditor: &dyn Auditor, level: Level, mut event: crate::audit::Event, resp: Response) -> Response {
    use axum::body::HttpBody;
    let code = resp.status().as_u16();
    let wanted = level == Level::RequestResponse || code >= 400 || event.verb == "create";
    let small = resp.body().size_hint().exact().is_some_and(|n| n > 0 && n <= crate::audit::MAX_CAPTURED_BODY);
    let json =
        resp.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|c| c.contains("json"));
    let mut resp = if wanted && small && json {
        let (parts, body) = resp.into_parts();
        let bytes = axum::body::to_bytes(body, crate::audit::MAX_CAPTURED_BODY as usize).await.unwrap_or_default();
        let value = crate::audit::body_object(Some("json"), &bytes);
        crate::audit::finish(&mut event, code, value.as_ref(), level == Level::RequestResponse);
        Response::from_parts(parts, axum::body::Body::from(bytes))
    } else {
        crate::audit::finish(&mut event, code, None, false);
        resp
    };
    if let Ok(v) = axum::http::HeaderValue::from_str(&event.audit_id) {
        resp.headers_mut().insert("audit-id", v);
    }
    auditor.record(event);
    resp
}

const IMPERSONATE_USER: &str = "impersonate-user";
const IMPERSONATE_GROUP: &str = "impersonate-group";
const IMPERSONATE_UID: &str = "impersonate-uid";
const IMPERSONATE_EXTRA: &str = "impersonate-extra-";

/// Kubernetes' user impersonation: `Impersonate-User`, `Impersonate-Group` (repeated),
/// `Impersonate-Uid` and `Impersonate-Extra-<key>` make the request act as that user, when the
/// authorizer allows the verb `impersonate` on `users`, `groups`, `uids` and `userextras/<key>`
/// for the real caller. The headers are consumed (never passed on to proxied clusters).
async fn impersonate(gate: &Gate, parts: &mut Parts, user: UserInfo) -> Result<UserInfo, Response> {
    let header_names: Vec<String> = parts.headers.keys().map(|k| k.as_str().to_string()).collect();
    let asked = header_names.iter().any(|n| {
        n == IMPERSONATE_USER || n == IMPERSONATE_GROUP || n == IMPERSONATE_UID || n.starts_with(IMPERSONATE_EXTRA)
    });
    if !asked {
        return Ok(user);
    }
    let values = |name: &str| -> Vec<String> {
        parts.headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect()
    };
    let Some(name) = values(IMPERSONATE_USER).into_iter().next().filter(|n| !n.is_empty()) else {
        return Err(error_response(&ApiError::bad_request(
            "requested impersonation of groups, uid or extra fields without impersonating a user (set Impersonate-User)",
        )));
    };
    let groups = values(IMPERSONATE_GROUP);
    let uid = values(IMPERSONATE_UID).into_iter().next().unwrap_or_default();
    let mut extra = std::collections::BTreeMap::<String, Vec<String>>::new();
    for header in header_names.iter().filter(|n| n.starts_with(IMPERSONATE_EXTRA)) {
        let raw_key = &header[IMPERSONATE_EXTRA.len()..];
        let key = percent_encoding::percent_decode_str(raw_key).decode_utf8_lossy().to_ascii_lowercase();
        extra.entry(key).or_default().extend(values(header));
    }
    // Each impersonated attribute is a separate permission, as in Kubernetes.
    let mut checks: Vec<(&str, &str, String, String)> = vec![("", "users", String::new(), name.clone())];
    checks.extend(groups.iter().map(|g| ("", "groups", String::new(), g.clone())));
    if !uid.is_empty() {
        checks.push(("authentication.k8s.io", "uids", String::new(), uid.clone()));
    }
    for (key, vals) in &extra {
        for v in vals {
            checks.push(("authentication.k8s.io", "userextras", key.clone(), v.clone()));
        }
    }
    for (group, resource, subresource, target) in checks {
        let attrs = Attributes {
            user: user.clone(),
            verb: "impersonate".into(),
            resource_request: true,
            path: parts.uri.path().to_string(),
            api_group: group.to_string(),
            api_version: String::new(),
            namespace: String::new(),
            resource: resource.to_string(),
            subresource,
            name: target,
        };
        if let Decision::Deny(reason) = gate.authorizer.authorize(&attrs).await {
            tracing::debug!(user = %user.name, resource, name = %attrs.name, %reason, "impersonation refused");
            return Err(error_response(&forbidden_error(&attrs, &reason)));
        }
    }
    for n in &header_names {
        if n == IMPERSONATE_USER || n == IMPERSONATE_GROUP || n == IMPERSONATE_UID || n.starts_with(IMPERSONATE_EXTRA) {
            parts.headers.remove(n.as_str());
        }
    }
    let mut groups = groups;
    if name != ANONYMOUS_USER && !groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
        groups.push(AUTHENTICATED_GROUP.to_string());
    }
    tracing::debug!(user = %user.name, as_user = %name, "impersonating");
    Ok(UserInfo { name, uid, groups, extra })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_come_from_the_authorization_header_or_the_websocket_protocol() {
        let mut h = axum::http::HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Bearer a.b.c".parse().unwrap());
        assert_eq!(request_token(&h).as_deref(), Some("a.b.c"));
        let mut ws = axum::http::HeaderMap::new();
        let encoded = {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("x.y.z")
        };
        ws.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            format!("v4.channel.k8s.io, {WEBSOCKET_BEARER}{encoded}").parse().unwrap(),
        );
        assert_eq!(request_token(&ws).as_deref(), Some("x.y.z"));
        ws.insert(header::SEC_WEBSOCKET_PROTOCOL, "v4.channel.k8s.io".parse().unwrap());
        assert_eq!(request_token(&ws), None);
    }

    use axum::{body::Body, http::StatusCode, response::IntoResponse, routing::get};
    use tower::ServiceExt as _;

    fn parts(method: Method, uri: &str, auth: Option<&str>) -> Parts {
        let mut b = axum::http::Request::builder().method(method).uri(uri);
        if let Some(a) = auth {
            b = b.header(header::AUTHORIZATION, a);
        }
        b.body(()).expect("request").into_parts().0
    }

    fn attrs(method: Method, uri: &str) -> Attributes {
        let uri: axum::http::Uri = uri.parse().expect("uri");
        Attributes::from_request(&method, &uri, UserInfo::default())
    }

    const FILE: &str = "# comment\n\
        tok-alice,alice,u1,\"dev,tenant:t1\"\n\
        \n\
        tok-bob, bob, u2\n\
        \"tok,carol\",carol,u3,ops\r\n";

    #[tokio::test]
    async fn token_file_parses_kube_format() {
        let a = TokenFileAuthenticator::parse(FILE).expect("parse");
        assert_eq!(a.len(), 3);
        let alice = a.authenticate(&parts(Method::GET, "/", Some("Bearer tok-alice"))).await;
        assert_eq!(
            alice,
            Authentication::Authenticated(UserInfo {
                name: "alice".into(),
                uid: "u1".into(),
                groups: vec!["dev".into(), "tenant:t1".into()],
                extra: Default::default()
            })
        );
        let Authentication::Authenticated(bob) =
            a.authenticate(&parts(Method::GET, "/", Some("bearer  tok-bob "))).await
        else {
            panic!("bob")
        };
        assert_eq!((bob.name.as_str(), bob.uid.as_str(), bob.groups.len()), ("bob", "u2", 0));
        let Authentication::Authenticated(carol) =
            a.authenticate(&parts(Method::GET, "/", Some("Bearer tok,carol"))).await
        else {
            panic!("carol")
        };
        assert_eq!(carol.groups, vec!["ops"]);
        assert_eq!(
            a.authenticate(&parts(Method::GET, "/", Some("Bearer tok-alic"))).await,
            Authentication::Rejected("invalid bearer token".into())
        );
        assert_eq!(a.authenticate(&parts(Method::GET, "/", Some("Basic YTpi"))).await, Authentication::NotApplicable);
        assert_eq!(a.authenticate(&parts(Method::GET, "/", None)).await, Authentication::NotApplicable);
        assert!(!format!("{a:?}").contains("tok-"), "Debug must not show tokens");
    }

    #[test]
    fn token_file_errors_name_the_line() {
        let err = |text: &str| TokenFileAuthenticator::parse(text).expect_err("must fail").to_string();
        assert_eq!(
            err("a,b,c\nonly,two\n"),
            "line 2: expected at least 3 columns (token, user name, user uid), found 2"
        );
        assert!(err("a,b,c,d,e").starts_with("line 1: expected at most 4 columns"));
        assert_eq!(err("\n,b,c"), "line 2: the token is empty");
        assert_eq!(err("a,,c"), "line 1: the user name is empty");
        assert_eq!(err("a,b,c\nx,y,z\na,d,e"), "line 3: the token of line 1 is used again");
        assert_eq!(err("a,b,\"c"), "line 1: field 3 has an unterminated quote");
        assert_eq!(err("a,b,c\"d"), "line 1: a quote inside the unquoted field 3");
    }

    #[test]
    fn load_reports_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens.csv");
        std::fs::write(&path, "t,u,1\nbad").expect("write");
        let e = TokenFileAuthenticator::load(&path).expect_err("bad file");
        assert!(e.to_string().contains("tokens.csv: line 2:"), "{e}");
        let e = TokenFileAuthenticator::load(&dir.path().join("none.csv")).expect_err("missing");
        assert!(e.to_string().contains("none.csv"), "{e}");
    }

    #[test]
    fn constant_time_eq_compares_contents() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn request_attributes_follow_kubernetes() {
        let a = attrs(Method::GET, "/apis/platform.tkestack.io/v1/clusters");
        assert_eq!(
            (a.verb.as_str(), a.api_group.as_str(), a.api_version.as_str(), a.resource.as_str(), a.name.as_str()),
            ("list", "platform.tkestack.io", "v1", "clusters", "")
        );
        assert!(a.resource_request);
        assert_eq!(attrs(Method::GET, "/apis/g/v1/clusters?watch=true").verb, "watch");
        assert_eq!(attrs(Method::GET, "/apis/g/v1/watch/clusters").verb, "watch");
        let a = attrs(Method::GET, "/apis/g/v1/clusters?fieldSelector=metadata.name%3Dcls-a&watch=1");
        assert_eq!((a.verb.as_str(), a.name.as_str()), ("watch", "cls-a"));
        let a = attrs(Method::GET, "/apis/g/v1/clusters/cls-a");
        assert_eq!((a.verb.as_str(), a.name.as_str()), ("get", "cls-a"));
        let a = attrs(Method::PUT, "/apis/g/v1/clusters/cls-a/status");
        assert_eq!(
            (a.verb.as_str(), a.subresource.as_str(), a.full_resource().as_str()),
            ("update", "status", "clusters/status")
        );
        let a = attrs(Method::POST, "/apis/g/v1/namespaces/ns1/configmaps");
        assert_eq!((a.verb.as_str(), a.namespace.as_str(), a.resource.as_str()), ("create", "ns1", "configmaps"));
        let a = attrs(Method::DELETE, "/apis/g/v1/namespaces/ns1/configmaps");
        assert_eq!(a.verb, "deletecollection");
        let a = attrs(Method::DELETE, "/api/v1/namespaces/ns1/pods/p");
        assert_eq!(
            (
                a.verb.as_str(),
                a.api_group.as_str(),
                a.api_version.as_str(),
                a.namespace.as_str(),
                a.resource.as_str(),
                a.name.as_str()
            ),
            ("delete", "", "v1", "ns1", "pods", "p")
        );
        let a = attrs(Method::GET, "/api/v1/namespaces/ns1");
        assert_eq!(
            (a.verb.as_str(), a.namespace.as_str(), a.resource.as_str(), a.name.as_str()),
            ("get", "ns1", "namespaces", "ns1")
        );
        let a = attrs(Method::PUT, "/api/v1/namespaces/ns1/finalize");
        assert_eq!((a.resource.as_str(), a.name.as_str(), a.subresource.as_str()), ("namespaces", "ns1", "finalize"));
        let a = attrs(Method::PATCH, "/apis/g/v1/clusters/c");
        assert_eq!(a.verb, "patch");
        let a = attrs(Method::GET, "/apis/g/v1");
        assert!(!a.resource_request);
        assert_eq!((a.verb.as_str(), a.path.as_str()), ("get", "/apis/g/v1"));
        let a = attrs(Method::POST, "/metrics");
        assert_eq!((a.verb.as_str(), a.resource_request), ("post", false));
    }

    #[test]
    fn exec_attach_and_port_forward_are_create_whatever_the_method() {
        for sub in ["exec", "attach", "portforward"] {
            for method in [Method::GET, Method::POST] {
                let a = attrs(method.clone(), &format!("/api/v1/namespaces/ns1/pods/p/{sub}?command=sh"));
                assert_eq!((a.verb.as_str(), a.full_resource()), ("create", format!("pods/{sub}")), "{method} {sub}");
            }
        }
        assert_eq!(attrs(Method::GET, "/api/v1/namespaces/ns1/pods/p/log").verb, "get");
        assert_eq!(attrs(Method::GET, "/apis/g/v1/namespaces/ns1/pods/p/exec").verb, "get");
    }

    #[test]
    fn public_paths() {
        for p in [
            "/healthz",
            "/livez",
            "/readyz",
            "/readyz/ping",
            "/healthz/etcd",
            "/version",
            "/version/",
            "/api",
            "/api/v1",
            "/apis",
            "/apis/platform.tkestack.io",
            "/apis/platform.tkestack.io/v1",
            "/openapi/v2",
            "/openapi/v3",
            "/openapi/v3/apis/platform.tkestack.io/v1",
        ] {
            assert!(is_public(&Method::GET, p), "{p}");
        }
        for p in [
            "/",
            "/metrics",
            "/api/v1/pods",
            "/apis/g/v1/clusters",
            "/healthzx",
            "/apis/g/../../metrics",
            "/openapi/v4",
            "/version/x",
        ] {
            assert!(!is_public(&Method::GET, p), "{p}");
        }
        assert!(!is_public(&Method::POST, "/apis/platform.tkestack.io/v1"));
        assert!(is_public(&Method::HEAD, "/readyz"));
    }

    #[test]
    fn forbidden_messages_match_kubernetes() {
        let mut a = attrs(Method::GET, "/apis/platform.tkestack.io/v1/clusters/cls-a");
        a.user.name = "bob".into();
        let e = forbidden_error(&a, "");
        assert_eq!(e.code(), 403);
        assert_eq!(
            e.message,
            "clusters.platform.tkestack.io \"cls-a\" is forbidden: User \"bob\" cannot get resource \"clusters\" in API group \"platform.tkestack.io\" at the cluster scope"
        );
        let mut a = attrs(Method::POST, "/api/v1/namespaces/ns1/pods");
        a.user.name = "bob".into();
        assert_eq!(
            forbidden_error(&a, "no policy").message,
            "pods is forbidden: User \"bob\" cannot create resource \"pods\" in API group \"\" in the namespace \"ns1\": no policy"
        );
        let mut a = attrs(Method::GET, "/metrics");
        a.user.name = "bob".into();
        assert_eq!(forbidden_error(&a, "").message, "forbidden: User \"bob\" cannot get path \"/metrics\"");
    }

    struct DenyBob;
    #[async_trait]
    impl Authorizer for DenyBob {
        async fn authorize(&self, a: &Attributes) -> Decision {
            if a.user.name == "bob" { Decision::Deny(String::new()) } else { Decision::Allow }
        }
    }

    async fn call(
        app: &Router,
        method: Method,
        uri: &str,
        auth: Option<&str>,
    ) -> (StatusCode, serde_json::Value, String) {
        let mut b = axum::http::Request::builder().method(method).uri(uri);
        if let Some(a) = auth {
            b = b.header(header::AUTHORIZATION, a);
        }
        let resp = app.clone().oneshot(b.body(Body::empty()).expect("request")).await.expect("infallible");
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.expect("body");
        let text = String::from_utf8_lossy(&bytes).to_string();
        (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null), text)
    }

    /// Records what it is given; requests to `/apis/g/v1/quiet` are not audited, `things` are
    /// recorded with both bodies.
    #[derive(Default)]
    struct Recorder(std::sync::Mutex<Vec<crate::audit::Event>>);
    impl Auditor for Recorder {
        fn level(&self, a: &Attributes) -> Level {
            match a.resource.as_str() {
                "quiet" => Level::None,
                "things" => Level::RequestResponse,
                _ => Level::Metadata,
            }
        }
        fn record(&self, event: crate::audit::Event) {
            self.0.lock().unwrap().push(event);
        }
    }

    #[tokio::test]
    async fn the_audit_hook_records_requests_refusals_and_bodies_per_level() {
        async fn made(body: String) -> axum::response::Response {
            let mut obj: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            obj["metadata"]["uid"] = "uid-1".into();
            (StatusCode::CREATED, axum::Json(obj)).into_response()
        }
        let router = Router::new()
            .route("/apis/g/v1/things", axum::routing::post(made))
            .route("/apis/g/v1/quiet", get(|| async { "q" }))
            .route("/apis/g/v1/others", get(|| async { "o" }));
        let mut chain = AuthenticatorChain::new();
        chain.push(Arc::new(TokenFileAuthenticator::parse(FILE).expect("tokens")));
        let recorder = Arc::new(Recorder::default());
        let app = authenticate_audited(router, Arc::new(chain), Arc::new(DenyBob), Some(recorder.clone()));

        let req = axum::http::Request::post("/apis/g/v1/things?dryRun=All")
            .header(header::AUTHORIZATION, "Bearer tok-alice")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_LENGTH, "25")
            .header(header::USER_AGENT, "kubectl/v1.32")
            .body(Body::from(r#"{"metadata":{"name":"a"}}"#))
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        let audit_id = resp.headers().get("audit-id").expect("Audit-Id header").to_str().unwrap().to_string();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body).unwrap()["metadata"]["uid"],
            "uid-1",
            "the response passes through whole"
        );

        call(&app, Method::GET, "/apis/g/v1/quiet", Some("Bearer tok-alice")).await;
        let (status, _, _) = call(&app, Method::GET, "/apis/g/v1/others", Some("Bearer tok-bob")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        call(&app, Method::GET, "/apis/g/v1/others", None).await;

        let events = recorder.0.lock().unwrap().clone();
        assert_eq!(events.len(), 2, "not the quiet request, not the unauthenticated one: {events:?}");
        let created = &events[0];
        assert_eq!((created.audit_id.as_str(), created.level.as_str()), (audit_id.as_str(), "RequestResponse"));
        assert_eq!((created.user.username.as_str(), created.verb.as_str()), ("alice", "create"));
        assert_eq!(created.request_uri, "/apis/g/v1/things?dryRun=All");
        assert_eq!(created.user_agent, "kubectl/v1.32");
        assert_eq!(created.object_ref.as_ref().unwrap().name, "a", "a created object's name comes from the response");
        assert_eq!(created.request_object.as_ref().unwrap()["metadata"]["name"], "a");
        assert_eq!(created.response_object.as_ref().unwrap()["metadata"]["uid"], "uid-1");
        assert_eq!(created.response_status.as_ref().unwrap().code, 201);
        let refused = &events[1];
        assert_eq!(
            (refused.user.username.as_str(), refused.verb.as_str(), refused.level.as_str()),
            ("bob", "list", "Metadata")
        );
        let status = refused.response_status.as_ref().unwrap();
        assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
        assert!(refused.request_object.is_none() && refused.response_object.is_none(), "Metadata keeps no bodies");
    }

    #[tokio::test]
    async fn layer_authenticates_and_authorizes() {
        async fn whoami(parts: Parts) -> String {
            let user = parts.extensions.get::<UserInfo>().cloned().unwrap_or_default();
            let leaked = parts.headers.contains_key(header::AUTHORIZATION);
            format!("{}|{}|{leaked}", user.name, user.groups.join(","))
        }
        let router = Router::new()
            .route("/readyz", get(whoami))
            .route("/apis/g/v1/things", get(whoami))
            .route("/apis/g/v1/things/{name}", get(whoami));
        let mut chain = AuthenticatorChain::new();
        chain.push(Arc::new(X509Authenticator::new()));
        chain.push(Arc::new(TokenFileAuthenticator::parse(FILE).expect("tokens")));
        let chain = Arc::new(chain);
        let app = authenticate(router.clone(), chain.clone(), Arc::new(AllowAuthenticated));

        let (status, _, body) = call(&app, Method::GET, "/apis/g/v1/things", Some("Bearer tok-alice")).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "alice|dev,tenant:t1,system:authenticated|false"));

        let (status, json, _) = call(&app, Method::GET, "/apis/g/v1/things", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            json,
            serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
        );
        let (status, _, _) = call(&app, Method::GET, "/apis/g/v1/things", Some("Bearer wrong")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _, _) = call(&app, Method::GET, "/no/such/path", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "unknown paths do not reveal themselves to anonymous callers");

        let (status, _, body) = call(&app, Method::GET, "/readyz", None).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "system:anonymous|system:unauthenticated|false"));
        let (status, _, _) = call(&app, Method::GET, "/readyz", Some("Bearer wrong")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "wrong credentials are refused even on public paths");

        let app = authenticate(router, chain, Arc::new(DenyBob));
        let (status, json, _) = call(&app, Method::GET, "/apis/g/v1/things/x", Some("Bearer tok-bob")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(json["reason"], "Forbidden");
        assert_eq!(
            json["message"],
            "things.g \"x\" is forbidden: User \"bob\" cannot get resource \"things\" in API group \"g\" at the cluster scope"
        );
        assert_eq!(json["details"], serde_json::json!({"group": "g", "kind": "things", "name": "x"}));
        let (status, _, _) = call(&app, Method::GET, "/apis/g/v1/things/x", Some("Bearer tok-alice")).await;
        assert_eq!(status, StatusCode::OK);

        // An authorizer may read the request itself (its query here).
        struct NoSecrets;
        #[async_trait]
        impl Authorizer for NoSecrets {
            async fn authorize(&self, _a: &Attributes) -> Decision {
                Decision::Allow
            }
            async fn authorize_request(&self, _a: &Attributes, request: &Parts) -> Decision {
                if request.uri.query().is_some_and(|q| q.contains("secret")) {
                    Decision::Deny("no secrets".into())
                } else {
                    Decision::Allow
                }
            }
        }
        let mut chain = AuthenticatorChain::new();
        chain.push(Arc::new(TokenFileAuthenticator::parse(FILE).expect("tokens")));
        let app =
            authenticate(Router::new().route("/apis/g/v1/things", get(whoami)), Arc::new(chain), Arc::new(NoSecrets));
        let (status, _, _) = call(&app, Method::GET, "/apis/g/v1/things?x=1", Some("Bearer tok-alice")).await;
        assert_eq!(status, StatusCode::OK);
        let (status, json, _) = call(&app, Method::GET, "/apis/g/v1/things?secret=1", Some("Bearer tok-alice")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(json["message"].as_str().unwrap_or_default().ends_with(": no secrets"), "{json}");
    }

    #[tokio::test]
    async fn administrators_impersonate_others_do_not() {
        async fn whoami(parts: Parts) -> String {
            let user = parts.extensions.get::<UserInfo>().cloned().unwrap_or_default();
            let leaked = parts.headers.keys().any(|k| k.as_str().starts_with("impersonate-"));
            format!("{}|{}|{}|{:?}|{leaked}", user.name, user.uid, user.groups.join(","), user.extra)
        }
        let router = Router::new().route("/apis/g/v1/things", get(whoami));
        let mut chain = AuthenticatorChain::new();
        chain.push(Arc::new(
            TokenFileAuthenticator::parse("tok-root,root,u0,system:masters\ntok-alice,alice,u1,tenant:t1\n")
                .expect("tokens"),
        ));
        let app = authenticate(router, Arc::new(chain), Arc::new(AllowAuthenticated));
        let send = |token: &str, headers: &[(&str, &str)]| {
            let mut b = axum::http::Request::builder()
                .uri("/apis/g/v1/things")
                .header(header::AUTHORIZATION, format!("Bearer {token}"));
            for (k, v) in headers {
                b = b.header(*k, *v);
            }
            let app = app.clone();
            let req = b.body(Body::empty()).expect("request");
            async move {
                let resp = app.oneshot(req).await.expect("infallible");
                let status = resp.status();
                let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.expect("body");
                (status, String::from_utf8_lossy(&bytes).to_string())
            }
        };
        let (status, body) = send(
            "tok-root",
            &[
                ("Impersonate-User", "bob"),
                ("Impersonate-Group", "tenant:t2"),
                ("Impersonate-Group", "dev"),
                ("Impersonate-Uid", "u9"),
                ("Impersonate-Extra-Tenant%49d", "t2"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, "bob|u9|tenant:t2,dev,system:authenticated|{\"tenantid\": [\"t2\"]}|false");

        let (status, body) =
            send("tok-alice", &[("Impersonate-User", "root"), ("Impersonate-Group", "system:masters")]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(body.contains("User \\\"alice\\\" cannot impersonate resource \\\"users\\\""), "{body}");

        let (status, body) = send("tok-root", &[("Impersonate-Group", "dev")]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

        let (status, body) = send("tok-alice", &[]).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "alice|u1|tenant:t1,system:authenticated|{}|false"));
    }
}
