//! The authentication and authorization webhooks of business clusters (reference 2.4
//! `EnsureAuthzWebhook`, 3.5): the kubeconfig files a cluster's kube-apiserver is given with
//! `--authentication-token-webhook-config-file` and `--authorization-webhook-config-file`, so that
//! it asks the platform's `/auth/authn` (TokenReview: platform users' tokens and API keys work in
//! the cluster) and `/auth/authz` (SubjectAccessReview: the platform's policies decide), and the
//! flags to add. Baremetal clusters get them at creation; imported ones through
//! `GET clusters/{name}/authwebhook`.
//!
//! The files name the platform's URL and CA, and carry a client certificate signed by the
//! platform's CA for the cluster's own identity ([`identity`]): user `tke:cluster:{name}`, groups
//! `tke:clusters`, `cluster:{name}` and `tenant:{tenant}`, which the platform's x509
//! authenticator accepts like any of its certificates, so the webhook handlers know which
//! cluster (and tenant) asks. Each file holds everything inline (`*-data` fields): one file per
//! webhook, nothing else to copy.

use std::{collections::BTreeMap, path::Path, time::Duration};

use serde_json::json;

/// The platform's TokenReview endpoint.
pub const AUTHN_PATH: &str = "/auth/authn";
/// The platform's SubjectAccessReview endpoint.
pub const AUTHZ_PATH: &str = "/auth/authz";
/// Where the files go on a master (kubeadm mounts `/etc/kubernetes/pki` into kube-apiserver; a
/// directory of our own is mounted through `apiServer.extraVolumes`).
pub const CONFIG_DIR: &str = "/etc/kubernetes/tke";
pub const AUTHN_FILE: &str = "tke-authn-webhook.yaml";
pub const AUTHZ_FILE: &str = "tke-authz-webhook.yaml";
/// The group of every business cluster's webhook identity.
pub const CLUSTERS_GROUP: &str = "tke:clusters";
/// How long a cluster's webhook certificate is valid.
pub const CERT_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);

/// The identity a business cluster calls the platform's webhooks with: user and groups.
pub fn identity(cluster: &str, tenant: &str) -> (String, Vec<String>) {
    let mut groups = vec![CLUSTERS_GROUP.to_string(), format!("cluster:{cluster}")];
    if !tenant.is_empty() {
        groups.push(format!("tenant:{tenant}"));
    }
    (format!("tke:cluster:{cluster}"), groups)
}

/// Why the webhook files cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("reading the platform CA {path}: {source}")]
    ReadCa { path: String, source: std::io::Error },
    #[error("issuing the webhook certificate of cluster {cluster}: {source}")]
    Issue { cluster: String, source: std::io::Error },
    #[error("{0} is not an https URL the cluster can call")]
    BadServer(String),
    #[error("rendering the webhook kubeconfig: {0}")]
    Render(String),
}

/// Makes webhook files: the platform's URL, its CA certificate, and the CA key that signs the
/// clusters' certificates. The key is a secret: `Debug` hides it.
#[derive(Clone)]
pub struct WebhookIssuer {
    /// `https://host:port` as the business clusters reach the platform.
    pub server: String,
    pub ca_cert_pem: String,
    ca_key_pem: String,
}

impl std::fmt::Debug for WebhookIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookIssuer").field("server", &self.server).finish_non_exhaustive()
    }
}

/// The files of one cluster and the kube-apiserver flags that use them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookFiles {
    /// Path on the master -> content (kubeconfig YAML).
    pub files: BTreeMap<String, String>,
    /// kube-apiserver flags without the leading `--`.
    pub flags: BTreeMap<String, String>,
}

impl WebhookIssuer {
    pub fn new(server: impl Into<String>, ca_cert_pem: String, ca_key_pem: String) -> Result<Self, WebhookError> {
        let server = server.into().trim_end_matches('/').to_string();
        if !server.starts_with("https://") || server.len() <= "https://".len() {
            return Err(WebhookError::BadServer(server));
        }
        Ok(WebhookIssuer { server, ca_cert_pem, ca_key_pem })
    }

    /// The issuer of a platform whose certificates live in `data_dir/pki` (`ca.crt`, `ca.key`).
    pub fn from_data_dir(server: &str, data_dir: &Path) -> Result<Self, WebhookError> {
        let read = |name: &str| {
            let path = data_dir.join("pki").join(name);
            std::fs::read_to_string(&path)
                .map_err(|source| WebhookError::ReadCa { path: path.display().to_string(), source })
        };
        Self::new(server, read("ca.crt")?, read("ca.key")?)
    }

    /// A client certificate and key (PEM) for the cluster's webhook identity.
    pub fn issue(&self, cluster: &str, tenant: &str) -> Result<(String, String), WebhookError> {
        let (user, groups) = identity(cluster, tenant);
        let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
        let pki = apiserver::tls::Pki {
            dir: Default::default(),
            ca_cert_pem: self.ca_cert_pem.clone(),
            ca_key_pem: self.ca_key_pem.clone(),
            server_cert_pem: String::new(),
            server_key_pem: String::new(),
            admin_cert_pem: String::new(),
            admin_key_pem: String::new(),
        };
        pki.issue_client_cert(&user, &groups, CERT_VALIDITY)
            .map_err(|source| WebhookError::Issue { cluster: cluster.to_string(), source })
    }

    /// The files and flags of `cluster` (of `tenant`), calling `server` (the platform's URL by
    /// default; a cluster's `authzWebhookAddr.external` names another), placed in `dir`.
    pub fn files(
        &self,
        cluster: &str,
        tenant: &str,
        server: Option<&str>,
        dir: &str,
    ) -> Result<WebhookFiles, WebhookError> {
        let server = server.map(|s| s.trim_end_matches('/')).unwrap_or(&self.server);
        let (cert, key) = self.issue(cluster, tenant)?;
        let kubeconfig = |path: &str| webhook_kubeconfig(&format!("{server}{path}"), &self.ca_cert_pem, &cert, &key);
        let dir = dir.trim_end_matches('/');
        let (authn, authz) = (format!("{dir}/{AUTHN_FILE}"), format!("{dir}/{AUTHZ_FILE}"));
        let files =
            BTreeMap::from([(authn.clone(), kubeconfig(AUTHN_PATH)?), (authz.clone(), kubeconfig(AUTHZ_PATH)?)]);
        Ok(WebhookFiles { files, flags: apiserver_flags(&authn, &authz) })
    }
}

/// The kube-apiserver flags that turn both webhooks on with these files. RBAC answers first
/// (the ClusterRoles of the cluster, the platform's fan-out included); what it does not allow
/// is asked of the platform.
pub fn apiserver_flags(authn_file: &str, authz_file: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("authentication-token-webhook-config-file".to_string(), authn_file.to_string()),
        ("authentication-token-webhook-version".to_string(), "v1".to_string()),
        ("authorization-mode".to_string(), "Node,RBAC,Webhook".to_string()),
        ("authorization-webhook-config-file".to_string(), authz_file.to_string()),
        ("authorization-webhook-version".to_string(), "v1".to_string()),
    ])
}

/// A webhook kubeconfig (the format kube-apiserver reads webhook settings from): the service at
/// `url`, trusted through `ca_pem`, called with the client certificate.
pub fn webhook_kubeconfig(url: &str, ca_pem: &str, cert_pem: &str, key_pem: &str) -> Result<String, WebhookError> {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "tke", "cluster": {"server": url, "certificate-authority-data": b64(ca_pem)}}],
        "users": [{"name": "tke-webhook", "user": {
            "client-certificate-data": b64(cert_pem),
            "client-key-data": b64(key_pem),
        }}],
        "contexts": [{"name": "tke", "context": {"cluster": "tke", "user": "tke-webhook"}}],
        "current-context": "tke",
    });
    serde_yaml_ng::to_string(&config).map_err(|e| WebhookError::Render(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn issuer() -> (tempfile::TempDir, WebhookIssuer) {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = apiserver::tls::ensure_pki(dir.path(), &[]).expect("pki");
        let issuer = WebhookIssuer::from_data_dir("https://platform.example.com:9443/", dir.path()).expect("issuer");
        assert_eq!(issuer.ca_cert_pem, pki.ca_cert_pem);
        (dir, issuer)
    }

    fn decode(v: &serde_yaml_ng::Value) -> String {
        let bytes = base64::engine::general_purpose::STANDARD.decode(v.as_str().expect("base64 text")).expect("base64");
        String::from_utf8(bytes).expect("utf-8")
    }

    #[test]
    fn the_files_are_kubeconfigs_naming_the_platform_and_the_clusters_identity() {
        let (dir, issuer) = issuer();
        let out = issuer.files("cls-a1", "t1", None, "/etc/kubernetes/tke/").expect("files");
        let paths: Vec<&str> = out.files.keys().map(String::as_str).collect();
        assert_eq!(paths, ["/etc/kubernetes/tke/tke-authn-webhook.yaml", "/etc/kubernetes/tke/tke-authz-webhook.yaml"]);
        for (path, text) in &out.files {
            let kc: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).expect("kubeconfig YAML");
            assert_eq!(kc["kind"].as_str(), Some("Config"));
            assert_eq!(kc["current-context"].as_str(), Some("tke"));
            let cluster = &kc["clusters"][0]["cluster"];
            let want = if path.ends_with("authn-webhook.yaml") { "/auth/authn" } else { "/auth/authz" };
            assert_eq!(cluster["server"].as_str(), Some(format!("https://platform.example.com:9443{want}").as_str()));
            assert_eq!(decode(&cluster["certificate-authority-data"]), issuer.ca_cert_pem);
            let user = &kc["users"][0]["user"];
            let cert = decode(&user["client-certificate-data"]);
            assert!(decode(&user["client-key-data"]).contains("PRIVATE KEY"));
            // The certificate carries the cluster's identity and is signed by the platform CA.
            let der = rustls_pemfile::certs(&mut cert.as_bytes()).next().expect("one cert").expect("pem");
            let (_, x509) = x509_parser::parse_x509_certificate(&der).expect("x509");
            let cn: Vec<&str> = x509.subject().iter_common_name().filter_map(|a| a.as_str().ok()).collect();
            let orgs: Vec<&str> = x509.subject().iter_organization().filter_map(|a| a.as_str().ok()).collect();
            assert_eq!(cn, ["tke:cluster:cls-a1"]);
            assert_eq!(orgs, ["tke:clusters", "cluster:cls-a1", "tenant:t1"]);
            let ca_pem = std::fs::read(dir.path().join("pki/ca.crt")).expect("ca");
            let ca_der = rustls_pemfile::certs(&mut ca_pem.as_slice()).next().expect("ca").expect("pem");
            let (_, ca) = x509_parser::parse_x509_certificate(&ca_der).expect("ca x509");
            assert_eq!(x509.issuer(), ca.subject(), "issued by the platform CA");
        }
        assert_eq!(out.flags["authorization-mode"], "Node,RBAC,Webhook");
        assert_eq!(out.flags["authentication-token-webhook-config-file"], "/etc/kubernetes/tke/tke-authn-webhook.yaml");
        assert_eq!(out.flags["authorization-webhook-config-file"], "/etc/kubernetes/tke/tke-authz-webhook.yaml");
        assert_eq!(out.flags["authorization-webhook-version"], "v1");

        // Another endpoint (authzWebhookAddr.external), same CA and identity.
        let ext = issuer.files("cls-a1", "t1", Some("https://10.0.0.9:31138"), CONFIG_DIR).expect("files");
        let authz: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&ext.files[&format!("{CONFIG_DIR}/{AUTHZ_FILE}")]).expect("yaml");
        assert_eq!(authz["clusters"][0]["cluster"]["server"].as_str(), Some("https://10.0.0.9:31138/auth/authz"));
    }

    #[test]
    fn bad_settings_are_refused_with_the_reason() {
        assert!(matches!(
            WebhookIssuer::new("http://x", String::new(), String::new()),
            Err(WebhookError::BadServer(_))
        ));
        let dir = tempfile::tempdir().expect("temp dir");
        let e = WebhookIssuer::from_data_dir("https://x", dir.path()).expect_err("no CA");
        assert!(e.to_string().contains("ca.crt"), "{e}");
        let broken = WebhookIssuer::new("https://x", "not a cert".into(), "not a key".into()).expect("issuer");
        assert!(matches!(broken.issue("cls-a", "t1"), Err(WebhookError::Issue { .. })));
        // The key never shows in debug output.
        let (_dir, issuer) = issuer();
        assert!(!format!("{issuer:?}").contains("PRIVATE"));
    }

    #[test]
    fn identities() {
        assert_eq!(
            identity("cls-a", "t1"),
            ("tke:cluster:cls-a".to_string(), vec!["tke:clusters".into(), "cluster:cls-a".into(), "tenant:t1".into()])
        );
        assert_eq!(identity("cls-a", "").1.len(), 2);
    }
}
