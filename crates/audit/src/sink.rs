//! Who may send events to `events/sink/{cluster}`: each business cluster has its own token,
//! HMAC-SHA256 of the cluster's name under a key the platform generates once and keeps in its
//! store (so every replica accepts the same tokens), or its own client certificate, signed by
//! the platform's CA with the common name `audit-sink:{cluster}` in the group [`SINK_GROUP`]. A
//! credential of one cluster is refused for another, and `control-plane` (the platform's own
//! events) is never accepted from outside.
//!
//! `GET clusters/{name}/auditwebhook` hands a cluster's administrator what its kube-apiserver
//! needs to send its audit events here: the webhook kubeconfig (the sink's URL, the platform's
//! CA, the cluster's token, or with `?credential=certificate` a client certificate and key made
//! for it), an audit policy, and the flags naming them (like `authwebhook`).

use std::sync::Arc;

use apimachinery::ApiError;
use apiserver::{ApiServer, Connect, ConnectDef, ConnectRequest, http::error_response};
use axum::{
    body::Body,
    http::{Method, Response, StatusCode, header},
};
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::record::CONTROL_PLANE;

/// Where the files go on the masters by default.
pub const CONFIG_DIR: &str = "/etc/kubernetes/audit";

/// The audit policy handed to business clusters: no probes or Leases, reads at `Metadata`,
/// changes with request bodies, never the bodies of secrets or tokens.
pub const CLUSTER_POLICY: &str = r#"apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  nonResourceURLs: ["/healthz*", "/readyz*", "/livez*", "/version", "/metrics", "/openapi*"]
- level: None
  resources: [{group: coordination.k8s.io, resources: [leases]}, {group: "", resources: [events]}]
- level: None
  users: ["system:kube-proxy", "system:kube-scheduler", "system:kube-controller-manager"]
  verbs: [get, list, watch]
- level: Metadata
  resources: [{group: "", resources: [secrets, configmaps, "serviceaccounts/token"]}, {group: authentication.k8s.io, resources: [tokenreviews]}]
- level: Metadata
  verbs: [get, list, watch]
- level: Request
"#;

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().into()
}

/// The group of the sink's client certificates.
pub const SINK_GROUP: &str = "system:tke-audit-sinks";
/// How long a sink certificate handed out is valid.
pub const CERT_VALIDITY: std::time::Duration = std::time::Duration::from_secs(365 * 86_400);

/// The common name of `cluster`'s sink certificate.
pub fn cert_name(cluster: &str) -> String {
    format!("audit-sink:{cluster}")
}

/// The platform's CA, to issue and check the sink's client certificates.
pub struct SinkCa {
    pki: apiserver::tls::Pki,
    verifier: Arc<dyn rustls::server::danger::ClientCertVerifier>,
}

impl SinkCa {
    /// From the CA certificate and key (PEM) of the data directory.
    pub fn new(ca_cert_pem: String, ca_key_pem: String) -> std::io::Result<SinkCa> {
        let verifier = apiserver::tls::client_verifier(&[("the platform's CA", ca_cert_pem.as_bytes())])?;
        let pki = apiserver::tls::Pki {
            dir: Default::default(),
            ca_cert_pem,
            ca_key_pem,
            server_cert_pem: String::new(),
            server_key_pem: String::new(),
            admin_cert_pem: String::new(),
            admin_key_pem: String::new(),
        };
        Ok(SinkCa { pki, verifier })
    }

    /// Reads `data_dir/pki/ca.{crt,key}`; `None` when they are not there.
    pub fn from_data_dir(data_dir: &std::path::Path) -> Option<SinkCa> {
        let dir = data_dir.join("pki");
        let cert = std::fs::read_to_string(dir.join("ca.crt")).ok()?;
        let key = std::fs::read_to_string(dir.join("ca.key")).ok()?;
        match SinkCa::new(cert, key) {
            Ok(ca) => Some(ca),
            Err(e) => {
                tracing::warn!(error = %e, "the platform CA cannot check audit sink certificates");
                None
            }
        }
    }

    /// A client certificate and key (PEM) for `cluster`'s sink.
    pub fn issue(&self, cluster: &str) -> std::io::Result<(String, String)> {
        self.pki.issue_client_cert(&cert_name(cluster), &[SINK_GROUP], CERT_VALIDITY)
    }

    /// Whether `peer` is a certificate of this CA, valid now, made for `cluster`'s sink.
    pub fn verify(&self, cluster: &str, peer: &apiserver::tls::PeerCertificates) -> bool {
        cluster != CONTROL_PLANE
            && apiserver::tls::chain_verifies(self.verifier.as_ref(), peer)
            && peer.identity().is_some_and(|id| {
                id.common_name == cert_name(cluster)
                    && id.organizations.iter().any(|o| o == SINK_GROUP)
                    && id.not_after > chrono::Utc::now().timestamp()
            })
    }
}

/// The sink's tokens, and its CA when client certificates are accepted.
pub struct SinkTokens {
    key: Vec<u8>,
    pub ca: Option<SinkCa>,
}

impl SinkTokens {
    pub fn new(key: Vec<u8>) -> SinkTokens {
        SinkTokens { key, ca: None }
    }

    /// Whether `peer` is `cluster`'s sink certificate.
    pub fn verify_cert(&self, cluster: &str, peer: Option<&apiserver::tls::PeerCertificates>) -> bool {
        match (&self.ca, peer) {
            (Some(ca), Some(p)) => ca.verify(cluster, p),
            _ => false,
        }
    }

    /// The token of `cluster`.
    pub fn token(&self, cluster: &str) -> String {
        let mac = hmac_sha256(&self.key, format!("audit-sink:{cluster}").as_bytes());
        mac.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether `token` is `cluster`'s (in constant time); `control-plane` has none.
    pub fn verify(&self, cluster: &str, token: &str) -> bool {
        cluster != CONTROL_PLANE && apiserver::auth::constant_time_eq(self.token(cluster).as_bytes(), token.as_bytes())
    }
}

/// Registers `clusters/{name}/auditwebhook` when the server serves clusters.
pub fn register(
    server: &Arc<ApiServer>,
    tokens: Arc<SinkTokens>,
    url: String,
    ca_pem: Option<String>,
) -> Result<(), ApiError> {
    if server.resource_store(api::platform::GROUP, api::platform::VERSION, "clusters").is_none() {
        return Ok(());
    }
    let def = ConnectDef {
        group: api::platform::GROUP,
        version: api::platform::VERSION,
        plural: "clusters",
        subresource: "auditwebhook",
        verbs: &["get"],
        kind: "",
    };
    server.register_connect(def, Arc::new(AuditWebhook { tokens, url, ca_pem }))
}

struct AuditWebhook {
    tokens: Arc<SinkTokens>,
    url: String,
    ca_pem: Option<String>,
}

fn query_value(query: Option<&str>, key: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes()).find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

impl AuditWebhook {
    fn answer(&self, req: &ConnectRequest) -> Result<serde_json::Value, ApiError> {
        if req.method != Method::GET {
            return Err(ApiError::new(
                apimachinery::error::Reason::MethodNotAllowed,
                "this subresource only accepts GET",
            ));
        }
        let server = match query_value(req.query.as_deref(), "server") {
            None => self.url.clone(),
            Some(s) => {
                let host = s.strip_prefix("https://").unwrap_or("").trim_end_matches('/');
                if host.is_empty() || host.contains(['/', '?', '#', '@']) || host.contains(char::is_whitespace) {
                    return Err(ApiError::bad_request(format!(
                        "server {s:?} must be https://host[:port], the platform's address as the cluster reaches it"
                    )));
                }
                format!("https://{host}")
            }
        };
        let cluster = &req.name;
        let ca = self
            .ca_pem
            .as_ref()
            .map(|pem| {
                format!("\n    certificate-authority-data: {}", base64::engine::general_purpose::STANDARD.encode(pem))
            })
            .unwrap_or_default();
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let user = match query_value(req.query.as_deref(), "credential").as_deref() {
            None | Some("") | Some("token") => format!("    token: {}", self.tokens.token(cluster)),
            Some("certificate") => {
                let ca = self.tokens.ca.as_ref().ok_or_else(|| {
                    ApiError::bad_request(
                        "this platform has no CA of its own in its data directory to sign a certificate; use the token",
                    )
                })?;
                let (cert, key) =
                    ca.issue(cluster).map_err(|e| ApiError::internal(format!("issuing the sink certificate: {e}")))?;
                format!("    client-certificate-data: {}\n    client-key-data: {}", b64(&cert), b64(&key))
            }
            Some(other) => {
                return Err(ApiError::bad_request(format!("credential {other:?} must be token or certificate")));
            }
        };
        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: tke-audit\n  cluster:\n    server: {server}/apis/audit.tkestack.io/v1/events/sink/{cluster}{ca}\nusers:\n- name: {cluster}\n  user:\n{user}\ncontexts:\n- name: default\n  context:\n    cluster: tke-audit\n    user: {cluster}\ncurrent-context: default\n"
        );
        let kubeconfig_path = format!("{CONFIG_DIR}/audit-webhook.kubeconfig");
        let policy_path = format!("{CONFIG_DIR}/audit-policy.yaml");
        tracing::info!(cluster = %cluster, user = %req.user.name, "handed out the cluster's audit webhook configuration");
        Ok(json!({
            "kind": "ClusterAuditWebhook",
            "apiVersion": format!("{}/{}", api::platform::GROUP, api::platform::VERSION),
            "cluster": cluster,
            "directory": CONFIG_DIR,
            "files": { kubeconfig_path.clone(): kubeconfig, policy_path.clone(): CLUSTER_POLICY },
            "flags": [
                format!("--audit-policy-file={policy_path}"),
                format!("--audit-webhook-config-file={kubeconfig_path}"),
                "--audit-webhook-mode=batch".to_string(),
            ],
        }))
    }
}

#[async_trait::async_trait]
impl Connect for AuditWebhook {
    async fn serve(&self, req: ConnectRequest) -> Response<Body> {
        match self.answer(&req) {
            Ok(v) => {
                let mut resp = Response::new(Body::from(serde_json::to_vec(&v).unwrap_or_default()));
                *resp.status_mut() = StatusCode::OK;
                resp.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
                resp
            }
            Err(e) => error_response(&e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        let long = hmac_sha256(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First");
        assert_eq!(long[..4], [0x60, 0xe4, 0x31, 0x59]);
    }

    #[test]
    fn tokens_are_per_cluster_and_control_plane_has_none() {
        let t = SinkTokens::new(b"k".to_vec());
        let a = t.token("cls-a");
        assert!(t.verify("cls-a", &a));
        assert!(!t.verify("cls-b", &a));
        assert!(!t.verify("cls-a", ""));
        assert!(!t.verify(CONTROL_PLANE, &t.token(CONTROL_PLANE)));
        assert_ne!(SinkTokens::new(b"other".to_vec()).token("cls-a"), a);
    }

    #[test]
    fn sink_certificates_name_their_cluster_and_come_from_the_ca() {
        let dir = tempfile::tempdir().unwrap();
        let pki = apiserver::tls::ensure_pki(dir.path(), &[]).unwrap();
        let ca = SinkCa::from_data_dir(dir.path()).expect("the CA");
        let peer = |pem: &str| {
            let chain = rustls_pemfile::certs(&mut pem.as_bytes()).collect::<Result<Vec<_>, _>>().unwrap();
            apiserver::tls::PeerCertificates::new(chain)
        };
        let (cert, _) = ca.issue("cls-a").unwrap();
        assert!(ca.verify("cls-a", &peer(&cert)));
        assert!(!ca.verify("cls-b", &peer(&cert)), "a certificate is for its own cluster");
        let (cp, _) = ca.issue(CONTROL_PLANE).unwrap();
        assert!(!ca.verify(CONTROL_PLANE, &peer(&cp)));
        // The admin's certificate is the CA's but names no sink.
        assert!(!ca.verify("cls-a", &peer(&pki.admin_cert_pem)));
        // Another CA's certificate naming the cluster is refused.
        let other = tempfile::tempdir().unwrap();
        apiserver::tls::ensure_pki(other.path(), &[]).unwrap();
        let (foreign, _) = SinkCa::from_data_dir(other.path()).unwrap().issue("cls-a").unwrap();
        assert!(!ca.verify("cls-a", &peer(&foreign)));
    }

    #[test]
    fn the_cluster_policy_parses() {
        crate::policy::Policy::parse(CLUSTER_POLICY).unwrap();
    }
}
