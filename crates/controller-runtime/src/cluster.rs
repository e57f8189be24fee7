//! Reaching a business cluster, the one way every part of the platform does it (controllers,
//! the cluster proxy and subresources, add-ons): the API address chosen from `status.addresses`,
//! and a client built from the cluster's ClusterCredential (its CA, then a bearer token or a
//! client certificate, and impersonation: the credential's `as`/`asGroups`, or the caller the
//! platform acts for), as TKEStack's REST config building does. Clients never retry refused
//! requests by themselves (a 429 of a disruption budget must reach the caller at once), and
//! time out, so a dead cluster fails quickly instead of hanging a reconcile.

use std::{collections::BTreeMap, time::Duration};

use api::platform::{Cluster, ClusterCredential, cluster::ClusterAddress, cluster::phase};
use base64::Engine as _;
use kube::{Api, api::DynamicObject, api::ListParams};
use rand::seq::IndexedRandom;

use crate::shell::decode;

/// Why a cluster cannot be reached with what the platform knows; the text tells the user what to
/// fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error("the cluster has no API address in status.addresses")]
    NoAddress,
    #[error("{0} is not a valid URL")]
    BadUrl(String),
    #[error("{0} is neither base64 nor PEM")]
    NotPem(&'static str),
    #[error("the credential has no caCert: the cluster's serving certificate cannot be verified")]
    NoCa,
    #[error("caCert is not a PEM certificate")]
    BadCa,
    #[error("caCert holds no certificate")]
    EmptyCa,
    #[error("the credential has a clientCert but no clientKey")]
    NoClientKey,
    #[error("the credential has a clientKey but no clientCert")]
    NoClientCert,
    #[error("the credential has neither a token nor a client certificate and key")]
    NoIdentity,
    #[error("clientCert/clientKey are not a PEM certificate and key")]
    BadClientPair,
    #[error("the token has characters a header cannot carry")]
    BadToken,
    #[error("building a client for {base}: {message}")]
    Build { base: String, message: String },
}

/// Address types in the order they are preferred (reference: `Internal`, then `Advertise`, then
/// `Real`; `Public` and `Support` only when nothing else is given).
const PREFERENCE: &[&str] = &["Internal", "Advertise", "Real", "Public", "Support"];

/// The base URL of the cluster's API (`https://host:port/path`), picking randomly among the
/// addresses of the most preferred type so that load spreads over several masters.
pub fn base_url(addresses: &[ClusterAddress]) -> Result<String, AccessError> {
    let usable: Vec<&ClusterAddress> = addresses.iter().filter(|a| !a.host.is_empty()).collect();
    let best = PREFERENCE
        .iter()
        .map(|t| usable.iter().copied().filter(|a| a.type_ == *t).collect::<Vec<_>>())
        .find(|v| !v.is_empty())
        .unwrap_or(usable);
    let a = best.choose(&mut rand::rng()).ok_or(AccessError::NoAddress)?;
    let port = if (1..=65535).contains(&a.port) { a.port } else { 443 };
    let host = if a.host.contains(':') && !a.host.starts_with('[') { format!("[{}]", a.host) } else { a.host.clone() };
    let path = a.path.as_deref().unwrap_or("").trim_end_matches('/');
    Ok(format!("https://{host}:{port}{path}"))
}

/// [`base_url`] of a cluster object as stored (JSON).
pub fn base_url_of(cluster: &serde_json::Value) -> Result<String, AccessError> {
    let addresses: Vec<ClusterAddress> =
        serde_json::from_value(cluster["status"]["addresses"].clone()).unwrap_or_default();
    base_url(&addresses)
}

/// A byte field of a credential: base64-encoded PEM as stored, or PEM pasted as is.
fn pem_field(value: Option<&str>, field: &'static str) -> Result<Option<Vec<u8>>, AccessError> {
    match value.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) if s.starts_with("-----BEGIN") => Ok(Some(s.as_bytes().to_vec())),
        Some(s) => {
            base64::engine::general_purpose::STANDARD.decode(s).map(Some).map_err(|_| AccessError::NotPem(field))
        }
    }
}

fn token(cred: &ClusterCredential) -> Option<&str> {
    cred.token.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

/// Checks that a credential can authenticate at all (reference: `caCert` plus a token or a client
/// certificate and key), before any connection is tried.
pub fn check(cred: &ClusterCredential) -> Result<(), AccessError> {
    if pem_field(cred.ca_cert.as_deref(), "caCert")?.is_none() && !ignore_ca() {
        return Err(AccessError::NoCa);
    }
    let cert = pem_field(cred.client_cert.as_deref(), "clientCert")?.is_some();
    let key = pem_field(cred.client_key.as_deref(), "clientKey")?.is_some();
    match (token(cred).is_some(), cert, key) {
        (true, _, _) | (false, true, true) => Ok(()),
        (false, true, false) => Err(AccessError::NoClientKey),
        (false, false, true) => Err(AccessError::NoClientCert),
        (false, false, false) => Err(AccessError::NoIdentity),
    }
}

/// `TKE_IGNORE_CA=true` skips verification of the cluster's certificate (reference behaviour,
/// for clusters whose CA is unknown; never the default).
fn ignore_ca() -> bool {
    std::env::var("TKE_IGNORE_CA").is_ok_and(|v| v == "true")
}

/// The CA certificates (DER) that the cluster's serving certificate must chain to.
fn roots(cred: &ClusterCredential) -> Result<Vec<Vec<u8>>, AccessError> {
    let ca = pem_field(cred.ca_cert.as_deref(), "caCert")?.ok_or(AccessError::NoCa)?;
    let roots: Vec<Vec<u8>> = rustls_pemfile::certs(&mut ca.as_slice())
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|_| AccessError::BadCa)?;
    if roots.is_empty() {
        return Err(AccessError::EmptyCa);
    }
    Ok(roots)
}

/// Who the platform acts as in a business cluster (Kubernetes impersonation), so the cluster's
/// own RBAC and audit see the person who asked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Impersonation {
    pub user: String,
    pub groups: Vec<String>,
    pub uid: String,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl Impersonation {
    /// The credential's own `as`/`asGroups`, when it has them.
    fn of_credential(cred: &ClusterCredential) -> Option<Impersonation> {
        let user = cred.as_.as_deref().filter(|u| !u.is_empty())?;
        Some(Impersonation {
            user: user.to_string(),
            groups: cred.as_groups.clone().unwrap_or_default(),
            ..Default::default()
        })
    }

    /// The `Impersonate-*` headers (groups every authenticated user has are left out: the
    /// cluster adds them itself).
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut out = vec![];
        if self.user.is_empty() {
            return out;
        }
        out.push(("Impersonate-User".into(), self.user.clone()));
        for g in self.groups.iter().filter(|g| *g != "system:authenticated") {
            out.push(("Impersonate-Group".into(), g.clone()));
        }
        if !self.uid.is_empty() {
            out.push(("Impersonate-Uid".into(), self.uid.clone()));
        }
        for (k, vals) in &self.extra {
            let key = percent_encode(k);
            for v in vals {
                out.push((format!("Impersonate-Extra-{key}"), v.clone()));
            }
        }
        out
    }
}

/// Percent-encodes everything but ASCII letters and digits (header names of extra keys).
fn percent_encode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// How a client behaves.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Bounds connecting.
    pub connect_timeout: Duration,
    /// Bounds each answer (`None` for clients that stream watches or logs).
    pub read_timeout: Option<Duration>,
    /// Acts as this identity instead of the credential's `as` (the caller, for the proxy).
    pub impersonate: Option<Impersonation>,
}

impl ClientOptions {
    /// Connect and answers bounded by `timeout`, as the platform itself.
    pub fn timeout(timeout: Duration) -> Self {
        ClientOptions { connect_timeout: timeout, read_timeout: Some(timeout), impersonate: None }
    }

    /// Acting as `who`.
    pub fn acting_as(mut self, who: Impersonation) -> Self {
        self.impersonate = Some(who).filter(|w| !w.user.is_empty());
        self
    }
}

/// A kube-rs client for the cluster at `base` with `cred`.
pub fn client(base: &str, cred: &ClusterCredential, opts: &ClientOptions) -> Result<kube::Client, AccessError> {
    check(cred)?;
    let url: http::Uri = base.parse().map_err(|_| AccessError::BadUrl(base.to_string()))?;
    let mut config = kube::Config::new(url);
    if ignore_ca() {
        config.accept_invalid_certs = true;
    } else {
        config.root_cert = Some(roots(cred)?);
    }
    config.connect_timeout = Some(opts.connect_timeout);
    config.read_timeout = opts.read_timeout;
    config.write_timeout = opts.read_timeout;
    // The controllers retry with their own back-off and say why; kube's own retries of 429
    // would hold a refused eviction (a disruption budget) inside one call for minutes.
    config.default_retry = false;
    if let Some(token) = token(cred) {
        config.auth_info.token = Some(token.to_string().into());
    } else {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let cert = pem_field(cred.client_cert.as_deref(), "clientCert")?.unwrap_or_default();
        let key = pem_field(cred.client_key.as_deref(), "clientKey")?.unwrap_or_default();
        config.auth_info.client_certificate_data = Some(b64(&cert));
        config.auth_info.client_key_data = Some(b64(&key).into());
    }
    if let Some(who) = opts.impersonate.clone().or_else(|| Impersonation::of_credential(cred)) {
        config.auth_info.impersonate = Some(who.user.clone());
        let groups: Vec<String> = who.groups.iter().filter(|g| *g != "system:authenticated").cloned().collect();
        if !groups.is_empty() {
            config.auth_info.impersonate_groups = Some(groups);
        }
    }
    kube::Client::try_from(config).map_err(|e| AccessError::Build { base: base.to_string(), message: e.to_string() })
}

/// An HTTP client for forwarding raw requests to the cluster (the proxy: bodies stream both
/// ways, so no read timeout), trusting the cluster's CA only and authenticating with the
/// credential. Impersonation goes on each request ([`Impersonation::headers`]).
pub fn http_client(cred: &ClusterCredential, connect_timeout: Duration) -> Result<reqwest::Client, AccessError> {
    build_http_client(cred, reqwest::Client::builder().connect_timeout(connect_timeout))
}

/// As [`http_client`], for requests that switch protocols (exec, attach, port-forward):
/// HTTP/1.1 only, since an HTTP/2 connection cannot be upgraded, and no pooling, since an
/// upgraded connection is never given back.
pub fn upgrade_client(cred: &ClusterCredential, connect_timeout: Duration) -> Result<reqwest::Client, AccessError> {
    build_http_client(
        cred,
        reqwest::Client::builder().connect_timeout(connect_timeout).http1_only().pool_max_idle_per_host(0),
    )
}

fn build_http_client(
    cred: &ClusterCredential,
    builder: reqwest::ClientBuilder,
) -> Result<reqwest::Client, AccessError> {
    check(cred)?;
    let mut builder = builder.use_rustls_tls().tls_built_in_root_certs(false);
    if ignore_ca() {
        builder = builder.danger_accept_invalid_certs(true);
    } else {
        let ca = pem_field(cred.ca_cert.as_deref(), "caCert")?.ok_or(AccessError::NoCa)?;
        for cert in reqwest::Certificate::from_pem_bundle(&ca).map_err(|_| AccessError::BadCa)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    let mut headers = http::HeaderMap::new();
    if let Some(token) = token(cred) {
        let mut v = http::HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| AccessError::BadToken)?;
        v.set_sensitive(true);
        headers.insert(http::header::AUTHORIZATION, v);
    } else {
        let mut pem = pem_field(cred.client_cert.as_deref(), "clientCert")?.unwrap_or_default();
        pem.push(b'\n');
        pem.extend_from_slice(&pem_field(cred.client_key.as_deref(), "clientKey")?.unwrap_or_default());
        builder = builder.identity(reqwest::Identity::from_pem(&pem).map_err(|_| AccessError::BadClientPair)?);
    }
    builder
        .default_headers(headers)
        .build()
        .map_err(|e| AccessError::Build { base: "the proxy".into(), message: e.to_string() })
}

/// How the controllers reach a business cluster by name.
pub enum ClusterAccess {
    /// A client acting as the platform.
    Ready(kube::Client),
    /// Not reachable yet (cluster still being created, no credential...): the reason.
    NotReady(String),
    /// The cluster no longer exists: nothing to install into or remove from.
    Gone,
    /// The cluster is being deleted; a client when it still has one, for cleaning up.
    Deleting(Option<kube::Client>),
}

/// Gives controllers a client for a business cluster by name.
#[async_trait::async_trait]
pub trait ClusterClients: Send + Sync + 'static {
    async fn access(&self, cluster: &str) -> ClusterAccess;
}

/// Business clusters as read through the platform's API: the Cluster's addresses and its
/// ClusterCredential (`spec.clusterCredentialRef`, else the one labelled with the cluster's
/// name). The client needs the right to read credentials.
pub struct PlatformClusters {
    clusters: Api<DynamicObject>,
    credentials: Api<DynamicObject>,
    opts: ClientOptions,
}

impl PlatformClusters {
    pub fn new(platform: kube::Client, opts: ClientOptions) -> Self {
        let ar = |kind: &str, plural: &str| {
            kube::api::ApiResource::from_gvk_with_plural(
                &kube::api::GroupVersionKind::gvk(api::platform::GROUP, api::platform::VERSION, kind),
                plural,
            )
        };
        PlatformClusters {
            clusters: Api::all_with(platform.clone(), &ar("Cluster", "clusters")),
            credentials: credentials_api(platform),
            opts,
        }
    }

    /// The credential of `cluster`, if it has one.
    pub async fn credential(&self, cluster: &Cluster) -> Result<Option<ClusterCredential>, kube::Error> {
        Ok(find_credential(&self.credentials, cluster).await?.map(|(_, c)| c))
    }
}

/// The `clustercredentials` of the platform's API.
pub fn credentials_api(platform: kube::Client) -> Api<DynamicObject> {
    let gvk = kube::api::GroupVersionKind::gvk(api::platform::GROUP, api::platform::VERSION, "ClusterCredential");
    Api::all_with(platform, &kube::api::ApiResource::from_gvk_with_plural(&gvk, "clustercredentials"))
}

/// The credential of a cluster, with its name: `spec.clusterCredentialRef`, else the one
/// labelled with the cluster's name (TKEStack's two ways of linking them).
pub async fn find_credential(
    credentials: &Api<DynamicObject>,
    cluster: &Cluster,
) -> Result<Option<(String, ClusterCredential)>, kube::Error> {
    let by_ref = cluster.spec.cluster_credential_ref.as_ref().and_then(|r| r.name.clone()).filter(|n| !n.is_empty());
    let found = match by_ref {
        Some(name) => credentials.get_opt(&name).await?,
        None => None,
    };
    let found = match found {
        Some(o) => Some(o),
        None => {
            let label = format!("{}={}", api::platform::cluster_credential::CLUSTER_NAME_LABEL, cluster.name());
            credentials.list(&ListParams::default().labels(&label)).await?.items.into_iter().next()
        }
    };
    Ok(found.and_then(|o| Some((o.metadata.name.clone().unwrap_or_default(), decode(&o).ok()?))))
}

#[async_trait::async_trait]
impl ClusterClients for PlatformClusters {
    async fn access(&self, name: &str) -> ClusterAccess {
        let cluster: Cluster = match self.clusters.get_opt(name).await {
            Ok(Some(o)) => match decode(&o) {
                Ok(c) => c,
                Err(e) => return ClusterAccess::NotReady(format!("cluster {name} cannot be read: {e}")),
            },
            Ok(None) => return ClusterAccess::Gone,
            Err(e) => return ClusterAccess::NotReady(crate::error_chain(&e)),
        };
        let addresses = cluster.status.as_ref().and_then(|s| s.addresses.clone()).unwrap_or_default();
        let access = match (self.credential(&cluster).await, base_url(&addresses)) {
            (Err(e), _) => ClusterAccess::NotReady(format!("reading the credential: {}", crate::error_chain(&e))),
            (Ok(None), _) => ClusterAccess::NotReady("it has no credential (spec.clusterCredentialRef)".into()),
            (_, Err(e)) => ClusterAccess::NotReady(e.to_string()),
            (Ok(Some(cred)), Ok(base)) => match client(&base, &cred, &self.opts) {
                Ok(c) => ClusterAccess::Ready(c),
                Err(e) => ClusterAccess::NotReady(e.to_string()),
            },
        };
        if cluster.phase() == phase::TERMINATING {
            return ClusterAccess::Deleting(match access {
                ClusterAccess::Ready(c) => Some(c),
                _ => None,
            });
        }
        access
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(t: &str, host: &str, port: i64, path: Option<&str>) -> ClusterAddress {
        ClusterAddress { type_: t.into(), host: host.into(), port, path: path.map(str::to_string) }
    }

    #[test]
    fn the_preferred_address_type_wins() {
        let a = [
            addr("Real", "10.0.0.2", 6443, None),
            addr("Advertise", "api.example.com", 443, Some("/k8s/")),
            addr("Public", "1.2.3.4", 443, None),
        ];
        assert_eq!(base_url(&a).expect("url"), "https://api.example.com:443/k8s");
        let a = [addr("Real", "10.0.0.2", 6443, None), addr("Internal", "10.0.0.9", 6443, None)];
        assert_eq!(base_url(&a).expect("url"), "https://10.0.0.9:6443");
        assert_eq!(base_url(&[addr("Real", "fd00::1", 6443, None)]).expect("url"), "https://[fd00::1]:6443");
        assert!(base_url(&[]).is_err());
    }

    #[test]
    fn impersonation_names_the_caller_but_not_the_groups_everyone_has() {
        let who = Impersonation {
            user: "alice".into(),
            groups: vec!["system:authenticated".into(), "dev".into()],
            uid: "42".into(),
            extra: [("scopes.example.com/x y".to_string(), vec!["a".to_string()])].into(),
        };
        let h = who.headers();
        assert_eq!(
            h,
            [
                ("Impersonate-User".to_string(), "alice".to_string()),
                ("Impersonate-Group".into(), "dev".into()),
                ("Impersonate-Uid".into(), "42".into()),
                ("Impersonate-Extra-scopes%2Eexample%2Ecom%2Fx%20y".into(), "a".into()),
            ]
        );
        assert!(Impersonation::default().headers().is_empty());
    }

    #[test]
    fn incomplete_credentials_are_refused_with_the_reason() {
        let base = ClusterCredential {
            ca_cert: Some("-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----".into()),
            ..Default::default()
        };
        assert!(
            check(&base).expect_err("no identity").to_string().contains("neither a token nor a client certificate")
        );
        let half = ClusterCredential { client_cert: Some("-----BEGIN CERTIFICATE-----".into()), ..base.clone() };
        assert!(check(&half).expect_err("no key").to_string().contains("no clientKey"));
        let no_ca = ClusterCredential { token: Some("t".into()), ..Default::default() };
        assert!(check(&no_ca).expect_err("no ca").to_string().contains("no caCert"));
        let bad =
            ClusterCredential { ca_cert: Some("not base64!".into()), token: Some("t".into()), ..Default::default() };
        assert!(check(&bad).expect_err("bad ca").to_string().contains("caCert is neither base64 nor PEM"));
        let ok = ClusterCredential { token: Some("t".into()), ..base };
        assert!(check(&ok).is_ok());
    }
}
