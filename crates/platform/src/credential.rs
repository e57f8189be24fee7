//! Reaching a business cluster: the API address chosen from `status.addresses` and a kube-rs
//! client built from the cluster's ClusterCredential (CA, then a bearer token or a client
//! certificate, and optional impersonation), as TKEStack's REST config building does.

use std::time::Duration;

use api::platform::{ClusterCredential, cluster::ClusterAddress};
use base64::Engine as _;
use rand::seq::IndexedRandom;

/// Why a cluster cannot be reached with what the platform knows; the text tells the user what to
/// fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CredentialError(pub String);

fn err(msg: impl Into<String>) -> CredentialError {
    CredentialError(msg.into())
}

/// Address types in the order they are preferred (reference: `Internal`, then `Advertise`, then
/// `Real`; `Public` and `Support` only when nothing else is given).
const PREFERENCE: &[&str] = &["Internal", "Advertise", "Real", "Public", "Support"];

/// The base URL of the cluster's API (`https://host:port/path`), picking randomly among the
/// addresses of the most preferred type so that load spreads over several masters.
pub fn base_url(addresses: &[ClusterAddress]) -> Result<String, CredentialError> {
    let usable: Vec<&ClusterAddress> = addresses.iter().filter(|a| !a.host.is_empty()).collect();
    let best = PREFERENCE
        .iter()
        .map(|t| usable.iter().copied().filter(|a| a.type_ == *t).collect::<Vec<_>>())
        .find(|v| !v.is_empty())
        .unwrap_or(usable);
    let a = best.choose(&mut rand::rng()).ok_or_else(|| err("the cluster has no API address in status.addresses"))?;
    let port = if (1..=65535).contains(&a.port) { a.port } else { 443 };
    let host = if a.host.contains(':') && !a.host.starts_with('[') { format!("[{}]", a.host) } else { a.host.clone() };
    let path = a.path.as_deref().unwrap_or("").trim_end_matches('/');
    Ok(format!("https://{host}:{port}{path}"))
}

/// A byte field of a credential: base64-encoded PEM as stored, or PEM pasted as is.
fn pem_field(value: Option<&str>, field: &str) -> Result<Option<Vec<u8>>, CredentialError> {
    match value.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) if s.starts_with("-----BEGIN") => Ok(Some(s.as_bytes().to_vec())),
        Some(s) => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map(Some)
            .map_err(|_| err(format!("{field} is neither base64 nor PEM"))),
    }
}

/// Checks that a credential can authenticate at all (reference: `caCert` plus a token or a client
/// certificate and key), before any connection is tried.
pub fn check(cred: &ClusterCredential) -> Result<(), CredentialError> {
    if pem_field(cred.ca_cert.as_deref(), "caCert")?.is_none() && !ignore_ca() {
        return Err(err("the credential has no caCert: the cluster's serving certificate cannot be verified"));
    }
    let token = cred.token.as_deref().is_some_and(|t| !t.trim().is_empty());
    let cert = pem_field(cred.client_cert.as_deref(), "clientCert")?.is_some();
    let key = pem_field(cred.client_key.as_deref(), "clientKey")?.is_some();
    match (token, cert, key) {
        (true, _, _) | (false, true, true) => Ok(()),
        (false, true, false) => Err(err("the credential has a clientCert but no clientKey")),
        (false, false, true) => Err(err("the credential has a clientKey but no clientCert")),
        (false, false, false) => Err(err("the credential has neither a token nor a client certificate and key")),
    }
}

/// `TKE_IGNORE_CA=true` skips verification of the cluster's certificate (reference behaviour,
/// for clusters whose CA is unknown; never the default).
fn ignore_ca() -> bool {
    std::env::var("TKE_IGNORE_CA").is_ok_and(|v| v == "true")
}

/// A kube-rs client for the cluster at `base` with `cred`. `timeout` bounds connecting and each
/// answer, so a dead cluster fails a probe quickly instead of hanging a reconcile.
pub fn client(base: &str, cred: &ClusterCredential, timeout: Duration) -> Result<kube::Client, CredentialError> {
    check(cred)?;
    let url: http::Uri = base.parse().map_err(|_| err(format!("{base} is not a valid URL")))?;
    let mut config = kube::Config::new(url);
    if ignore_ca() {
        config.accept_invalid_certs = true;
    } else {
        let ca = pem_field(cred.ca_cert.as_deref(), "caCert")?.unwrap_or_default();
        let roots: Vec<Vec<u8>> = rustls_pemfile::certs(&mut ca.as_slice())
            .map(|c| c.map(|c| c.to_vec()))
            .collect::<Result<_, _>>()
            .map_err(|_| err("caCert is not a PEM certificate"))?;
        if roots.is_empty() {
            return Err(err("caCert holds no certificate"));
        }
        config.root_cert = Some(roots);
    }
    config.connect_timeout = Some(timeout);
    config.read_timeout = Some(timeout);
    config.write_timeout = Some(timeout);
    // The controllers retry with their own back-off and say why; kube's own retries of 429
    // would hold a refused eviction (a disruption budget) inside one call for minutes.
    config.default_retry = false;
    if let Some(token) = cred.token.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        config.auth_info.token = Some(token.to_string().into());
    } else {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let cert = pem_field(cred.client_cert.as_deref(), "clientCert")?.unwrap_or_default();
        let key = pem_field(cred.client_key.as_deref(), "clientKey")?.unwrap_or_default();
        config.auth_info.client_certificate_data = Some(b64(&cert));
        config.auth_info.client_key_data = Some(b64(&key).into());
    }
    if let Some(user) = cred.as_.as_deref().filter(|u| !u.is_empty()) {
        config.auth_info.impersonate = Some(user.to_string());
        if let Some(groups) = cred.as_groups.clone().filter(|g| !g.is_empty()) {
            config.auth_info.impersonate_groups = Some(groups);
        }
    }
    kube::Client::try_from(config).map_err(|e| err(format!("building a client for {base}: {e}")))
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
    fn incomplete_credentials_are_refused_with_the_reason() {
        let base = ClusterCredential {
            ca_cert: Some("-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----".into()),
            ..Default::default()
        };
        assert!(check(&base).expect_err("no identity").0.contains("neither a token nor a client certificate"));
        let half = ClusterCredential { client_cert: Some("-----BEGIN CERTIFICATE-----".into()), ..base.clone() };
        assert!(check(&half).expect_err("no key").0.contains("no clientKey"));
        let no_ca = ClusterCredential { token: Some("t".into()), ..Default::default() };
        assert!(check(&no_ca).expect_err("no ca").0.contains("no caCert"));
        let bad =
            ClusterCredential { ca_cert: Some("not base64!".into()), token: Some("t".into()), ..Default::default() };
        assert!(check(&bad).expect_err("bad ca").0.contains("caCert is neither base64 nor PEM"));
        let ok = ClusterCredential { token: Some("t".into()), ..base };
        assert!(check(&ok).is_ok());
    }
}
