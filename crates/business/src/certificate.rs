//! `namespaces/{name}/certificate?validDays=N` (GET): a client certificate for the caller,
//! confined to one namespace of one business cluster, with a kubeconfig that reaches it through
//! the platform's cluster proxy.
//!
//! The certificate is signed by the platform's client CA (the one that signs every client
//! certificate the platform accepts), so it works for imported clusters too, whose CA key the
//! platform does not hold: the holder talks to the platform, which reaches the cluster with its
//! own credential acting as the holder. Its subject is CN = the caller, O = `cluster:{cls}`,
//! `project:{prj}`, `namespace:{ns}`, `tenant:{tenant}`; the authorizer confines whoever presents
//! it to that cluster, project and namespace, and applies the policies the caller holds in the
//! project. The private key is in the answer only: the object's `status.certificate` keeps the
//! certificate, the CA and the address, never the key.

use std::{sync::Arc, time::Duration};

use api::business::{GROUP, Namespace, VERSION, namespace::NamespaceCert};
use apimachinery::{ApiError, error::Reason};
use apiserver::{
    ApiServer, Connect, ConnectDef, ConnectRequest, Context,
    http::{error_response, parse_query},
    patch::PatchType,
    store::WriteOptions,
    tls::Pki,
};
use axum::{
    body::Body,
    http::{Method, Response, StatusCode, header},
};
use base64::Engine as _;
use serde_json::json;

/// Days a certificate is valid when the caller does not say.
pub const DEFAULT_VALID_DAYS: u64 = 365;
/// The longest validity one may ask for (ten years, the CA's own lifetime).
pub const MAX_VALID_DAYS: u64 = 3650;

/// The issuer: the platform's CA and the address its cluster proxy is reached at.
pub struct Issuer {
    /// `https://host:port` of the platform.
    pub url: String,
    pki: Pki,
}

impl Issuer {
    /// The issuer of a platform whose CA lives in `data_dir/pki` (`ca.crt`, `ca.key`).
    pub fn from_data_dir(url: &str, data_dir: &std::path::Path) -> std::io::Result<Self> {
        let read = |name: &str| {
            let path = data_dir.join("pki").join(name);
            std::fs::read_to_string(&path)
                .map_err(|e| std::io::Error::new(e.kind(), format!("reading {}: {e}", path.display())))
        };
        Ok(Self::new(url, read("ca.crt")?, read("ca.key")?))
    }

    pub fn new(url: &str, ca_cert_pem: String, ca_key_pem: String) -> Self {
        let pki = Pki {
            dir: Default::default(),
            ca_cert_pem,
            ca_key_pem,
            server_cert_pem: String::new(),
            server_key_pem: String::new(),
            admin_cert_pem: String::new(),
            admin_key_pem: String::new(),
        };
        Self { url: url.trim_end_matches('/').to_string(), pki }
    }

    /// Where the namespace's cluster is reached: the platform's proxy of that cluster.
    pub fn api_server(&self, cluster: &str) -> String {
        format!("{}/apis/platform.tkestack.io/v1/clusters/{cluster}/proxy", self.url)
    }

    /// A certificate for `user` confined to `ns`, valid `days` days, with its key.
    pub fn issue(&self, user: &str, ns: &Namespace, days: u64) -> Result<NamespaceCert, ApiError> {
        let groups = subject_groups(ns);
        let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
        let (cert, key) = self
            .pki
            .issue_client_cert(user, &groups, Duration::from_secs(days * 24 * 3600))
            .map_err(|e| ApiError::internal(format!("issuing the certificate: {e}")))?;
        Ok(NamespaceCert {
            cert_pem: Some(cert),
            key_pem: Some(key),
            ca_cert_pem: Some(self.pki.ca_cert_pem.clone()),
            api_server: Some(self.api_server(&ns.spec.cluster_name)),
            kubeconfig: None,
        })
    }
}

/// The certificate's groups (its O entries).
pub fn subject_groups(ns: &Namespace) -> Vec<String> {
    vec![
        format!("cluster:{}", ns.spec.cluster_name),
        format!("project:{}", ns.project()),
        format!("namespace:{}", ns.spec.namespace),
        format!("tenant:{}", ns.tenant()),
    ]
}

/// A kubeconfig with the certificate, whose one context is the namespace.
pub fn kubeconfig(user: &str, ns: &Namespace, cert: &NamespaceCert) -> Result<String, ApiError> {
    let b64 = |s: &Option<String>| base64::engine::general_purpose::STANDARD.encode(s.as_deref().unwrap_or_default());
    let name = format!("{}-{}", ns.spec.cluster_name, ns.spec.namespace);
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": ns.spec.cluster_name, "cluster": {
            "server": cert.api_server, "certificate-authority-data": b64(&cert.ca_cert_pem)}}],
        "users": [{"name": user, "user": {
            "client-certificate-data": b64(&cert.cert_pem), "client-key-data": b64(&cert.key_pem)}}],
        "contexts": [{"name": name, "context": {
            "cluster": ns.spec.cluster_name, "user": user, "namespace": ns.spec.namespace}}],
        "current-context": name,
        "preferences": {},
    });
    serde_yaml_ng::to_string(&config).map_err(|e| ApiError::internal(format!("encoding the kubeconfig: {e}")))
}

/// The validity asked for by `?validDays=`.
fn valid_days(query: &std::collections::HashMap<String, String>) -> Result<u64, ApiError> {
    match query.get("validDays").map(String::as_str) {
        None | Some("") => Ok(DEFAULT_VALID_DAYS),
        Some(d) => match d.parse::<u64>() {
            Ok(n) if (1..=MAX_VALID_DAYS).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "validDays must be a whole number of days from 1 to {MAX_VALID_DAYS}, got {d:?}"
            ))),
        },
    }
}

/// The subresource's definition.
pub fn def() -> ConnectDef {
    ConnectDef {
        group: GROUP,
        version: VERSION,
        plural: "namespaces",
        subresource: "certificate",
        verbs: &["get"],
        kind: "",
    }
}

/// Serves `namespaces/{name}/certificate`.
pub struct CertificateHandler {
    pub issuer: Arc<Issuer>,
}

impl CertificateHandler {
    /// Registers the subresource on `server`.
    pub fn register(server: &Arc<ApiServer>, issuer: Arc<Issuer>) -> Result<(), ApiError> {
        server.register_connect(def(), Arc::new(CertificateHandler { issuer }))
    }

    async fn answer(&self, req: ConnectRequest) -> Result<Response<Body>, ApiError> {
        if req.method != Method::GET {
            return Err(ApiError::method_not_allowed("namespaces/certificate accepts GET only"));
        }
        if !req.path.is_empty() {
            return Err(ApiError::not_found(GROUP, "namespaces/certificate", &format!("{}/{}", req.name, req.path)));
        }
        let query = parse_query(req.query.as_deref());
        let days = valid_days(&query)?;
        let ns: Namespace = serde_json::from_value(req.object.clone())
            .map_err(|e| ApiError::internal(format!("namespace {} cannot be read: {e}", req.name)))?;
        let deleting = req.object.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null())
            || ns.phase() == api::business::common::phase::TERMINATING;
        if deleting {
            return Err(ApiError::new(
                Reason::Conflict,
                format!("namespace {} is being deleted: no certificate is issued for it", req.name),
            ));
        }
        let mut cert = self.issuer.issue(&req.user.name, &ns, days)?;
        // What others may read of it: everything but the key.
        let kept = NamespaceCert { key_pem: None, kubeconfig: None, ..cert.clone() };
        let patch = json!({"status": {"certificate": kept}});
        let ctx = Context::system("system:tke:business", req.namespace.as_deref());
        req.store
            .patch(
                &ctx,
                &req.name,
                Some("status"),
                PatchType::Merge,
                patch.to_string().as_bytes(),
                &WriteOptions::default(),
            )
            .await?;
        let config = kubeconfig(&req.user.name, &ns, &cert)?;
        if query.get("format").is_some_and(|f| f == "kubeconfig") {
            return Ok(Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/yaml")
                .header(header::CACHE_CONTROL, "no-store")
                .body(Body::from(config))
                .unwrap_or_else(|_| Response::new(Body::empty())));
        }
        cert.kubeconfig = Some(config);
        let mut v = serde_json::to_value(&cert).unwrap_or_default();
        v["apiVersion"] = json!(api::business::API_VERSION);
        v["kind"] = json!("NamespaceCert");
        let accept = req.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let mut resp = apiserver::http::respond(accept, StatusCode::OK, &v);
        resp.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
        Ok(resp)
    }
}

/// The business component writing what the caller may not write itself.
#[async_trait::async_trait]
impl Connect for CertificateHandler {
    async fn serve(&self, req: ConnectRequest) -> Response<Body> {
        match self.answer(req).await {
            Ok(r) => r,
            Err(e) => error_response(&e),
        }
    }
}

/// The groups and name a certificate names, read back (for tests and checks).
pub fn read_subject(cert_pem: &str) -> Option<(String, Vec<String>)> {
    let der = rustls_pemfile::certs(&mut cert_pem.as_bytes()).next()?.ok()?;
    let peer = apiserver::tls::PeerCertificates::new(vec![der]);
    let id = peer.identity()?;
    Some((id.common_name.clone(), id.organizations.clone()))
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn ns() -> Namespace {
        serde_json::from_value(json!({
            "metadata": {"name": "cls-a-ns1", "namespace": "prj-a"},
            "spec": {"clusterName": "cls-a", "namespace": "ns1", "tenantID": "default"}
        }))
        .unwrap()
    }

    fn issuer() -> Issuer {
        let dir = tempfile::tempdir().unwrap();
        let pki = apiserver::tls::ensure_pki(dir.path(), &[]).unwrap();
        Issuer::new("https://tke.example:6443/", pki.ca_cert_pem, pki.ca_key_pem)
    }

    #[test]
    fn certificates_name_the_caller_and_the_namespace() {
        let issuer = issuer();
        let cert = issuer.issue("alice", &ns(), 30).unwrap();
        let (cn, groups) = read_subject(cert.cert_pem.as_deref().unwrap()).expect("subject");
        assert_eq!(cn, "alice");
        assert_eq!(groups, ["cluster:cls-a", "project:prj-a", "namespace:ns1", "tenant:default"]);
        assert_eq!(
            cert.api_server.as_deref(),
            Some("https://tke.example:6443/apis/platform.tkestack.io/v1/clusters/cls-a/proxy")
        );
        assert!(cert.key_pem.as_deref().unwrap().contains("PRIVATE KEY"));

        let config: Value = serde_yaml_ng::from_str(&kubeconfig("alice", &ns(), &cert).unwrap()).unwrap();
        assert_eq!(config["current-context"], "cls-a-ns1");
        assert_eq!(config["contexts"][0]["context"]["namespace"], "ns1");
        assert_eq!(config["clusters"][0]["cluster"]["server"], json!(cert.api_server));
        let key = config["users"][0]["user"]["client-key-data"].as_str().unwrap();
        let key = base64::engine::general_purpose::STANDARD.decode(key).unwrap();
        assert_eq!(String::from_utf8(key).unwrap(), cert.key_pem.unwrap());
    }

    #[test]
    fn validity_is_bounded() {
        let q = |d: &str| valid_days(&[("validDays".to_string(), d.to_string())].into_iter().collect());
        assert_eq!(valid_days(&Default::default()).unwrap(), DEFAULT_VALID_DAYS);
        assert_eq!(q("7").unwrap(), 7);
        assert_eq!(q("3650").unwrap(), 3650);
        for bad in ["0", "3651", "-1", "1.5", "year"] {
            let e = q(bad).unwrap_err();
            assert_eq!(e.code(), 400, "{bad}");
            assert!(e.message.contains("from 1 to 3650"), "{}", e.message);
        }
    }
}
