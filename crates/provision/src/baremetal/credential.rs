//! Credentials and tokens of a Baremetal cluster: the ClusterCredential the platform keeps
//! (bootstrap token, upload-certs key, the first master's admin.conf), kubeadm's join parameters
//! drawn from it, and the bootstrap tokens made through the business cluster's API for joining
//! machines.

use std::collections::BTreeMap;

use api::platform::{
    Cluster,
    cluster::{ClusterAddress, ClusterMachine},
    cluster_credential::CLUSTER_NAME_LABEL,
};
use base64::Engine as _;
use k8s_openapi::{ByteString, api::core::v1::Secret};
use kube::{
    Api, Client,
    api::{ApiResource, DynamicObject, GroupVersionKind, ListParams, ObjectMeta, PostParams},
};
use platform::{engine::StepError, machine::cluster_credential};
use rand::Rng;
use serde_json::{Value, json};

use crate::install::KubeadmParams;

use super::{Shared, node_name, step_err};

fn credential_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(api::platform::GROUP, api::platform::VERSION, "ClusterCredential"),
        "clustercredentials",
    )
}

fn random_string(len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())] as char).collect()
}

/// A kubeadm bootstrap token `[a-z0-9]{6}.[a-z0-9]{16}`.
pub fn new_bootstrap_token() -> String {
    const A: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    format!("{}.{}", random_string(6, A), random_string(16, A))
}

/// A kubeadm upload-certs key: 32 random bytes in hex.
pub fn new_certificate_key() -> String {
    random_string(64, b"0123456789abcdef")
}

/// Why the hash of a CA certificate cannot be computed.
#[derive(Debug, thiserror::Error)]
pub enum CaHashError {
    #[error("the CA certificate is neither PEM nor base64")]
    NotBase64(#[source] base64::DecodeError),
    #[error("the CA certificate is not PEM: {0}")]
    NotPem(#[source] x509_parser::nom::Err<x509_parser::error::PEMError>),
    #[error("the CA certificate cannot be parsed: {0}")]
    NotX509(#[source] x509_parser::nom::Err<x509_parser::error::X509Error>),
}

/// `sha256:<hex>` of the CA certificate's SubjectPublicKeyInfo, as `kubeadm join` checks it.
/// `ca` is PEM or base64-encoded PEM (the credential's form).
pub fn ca_cert_hash(ca: &str) -> Result<String, CaHashError> {
    let ca = ca.trim();
    let pem = if ca.starts_with("-----BEGIN") {
        ca.as_bytes().to_vec()
    } else {
        base64::engine::general_purpose::STANDARD.decode(ca).map_err(CaHashError::NotBase64)?
    };
    let (_, p) = x509_parser::pem::parse_x509_pem(&pem).map_err(CaHashError::NotPem)?;
    let cert = p.parse_x509().map_err(CaHashError::NotX509)?;
    Ok(format!("sha256:{}", crate::ssh::sha256_hex(cert.tbs_certificate.subject_pki.raw)))
}

/// The cluster's credential object, created (with the cluster's name and tenant) when missing.
async fn credential_object(platform: &Client, cluster: &Cluster) -> Result<DynamicObject, StepError> {
    let api: Api<DynamicObject> = Api::all_with(platform.clone(), &credential_resource());
    let err = |e: kube::Error| StepError::new(format!("reading the ClusterCredential of {}: {e}", cluster.name()));
    if let Some(name) =
        cluster.spec.cluster_credential_ref.as_ref().and_then(|r| r.name.clone()).filter(|n| !n.is_empty())
        && let Some(o) = api.get_opt(&name).await.map_err(err)?
    {
        return Ok(o);
    }
    let lp = ListParams::default().labels(&format!("{CLUSTER_NAME_LABEL}={}", cluster.name()));
    if let Some(o) = api.list(&lp).await.map_err(err)?.items.into_iter().next() {
        return Ok(o);
    }
    let new: DynamicObject = serde_json::from_value(json!({
        "apiVersion": format!("{}/{}", api::platform::GROUP, api::platform::VERSION), "kind": "ClusterCredential",
        "metadata": {"generateName": "cc-", "labels": {CLUSTER_NAME_LABEL: cluster.name()}},
        "tenantID": cluster.spec.tenant_id, "clusterName": cluster.name(),
    }))
    .map_err(step_err)?;
    api.create(&PostParams::default(), &new)
        .await
        .map_err(|e| StepError::new(format!("creating the ClusterCredential of {}: {e}", cluster.name())))
}

/// Changes fields of the cluster's credential (creating it first if needed).
pub(super) async fn update_credential(
    platform: &Client,
    cluster: &Cluster,
    fields: &[(&str, Option<String>)],
) -> Result<(), StepError> {
    let api: Api<DynamicObject> = Api::all_with(platform.clone(), &credential_resource());
    let mut obj = credential_object(platform, cluster).await?;
    let name = obj.metadata.name.clone().unwrap_or_default();
    let mut changed = false;
    for (k, v) in fields {
        let new = v.clone().map(Value::String).unwrap_or(Value::Null);
        if obj.data.get(*k).unwrap_or(&Value::Null) != &new {
            obj.data[*k] = new;
            changed = true;
        }
    }
    if changed {
        api.replace(&name, &PostParams::default(), &obj)
            .await
            .map_err(|e| StepError::new(format!("saving the ClusterCredential {name}: {e}")))?;
    }
    Ok(())
}

pub(super) fn cred_field(
    cred: &Option<api::platform::ClusterCredential>,
    f: impl Fn(&api::platform::ClusterCredential) -> Option<String>,
) -> Option<String> {
    cred.as_ref().and_then(f).filter(|s| !s.is_empty())
}

/// The kubeadm parameters of a node of the cluster, with the secrets from its credential.
pub(super) async fn kubeadm_params(
    platform: &Client,
    cluster: &Cluster,
    node: &ClusterMachine,
) -> Result<KubeadmParams, StepError> {
    let cred = cluster_credential(platform, cluster)
        .await
        .map_err(|e| StepError::new(format!("reading the ClusterCredential of {}: {e}", cluster.name())))?;
    let ca_hash = cred_field(&cred, |c| c.ca_cert.clone()).map(|ca| ca_cert_hash(&ca)).transpose().map_err(step_err)?;
    Ok(KubeadmParams {
        node: node.clone(),
        node_name: node_name(&cluster.spec, node),
        bootstrap_token: cred_field(&cred, |c| c.bootstrap_token.clone()),
        certificate_key: cred_field(&cred, |c| c.certificate_key.clone()),
        ca_cert_hash: ca_hash,
        image_repository: None,
        auth_webhook_dir: crate::install::auth_webhook_enabled(&cluster.spec)
            .then(|| platform::authwebhook::CONFIG_DIR.to_string()),
        audit_dir: crate::install::audit_enabled(&cluster.spec).then(|| crate::install::AUDIT_DIR.to_string()),
    })
}

/// What an admin kubeconfig says: server URL, CA, and a client certificate/key or a token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdminAccess {
    pub server: String,
    pub ca_data: Option<String>,
    pub client_cert_data: Option<String>,
    pub client_key_data: Option<String>,
    pub token: Option<String>,
}

/// Why an admin kubeconfig (admin.conf) gives no access to its cluster.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    #[error("admin.conf is not a kubeconfig: {0}")]
    NotYaml(#[source] serde_yaml_ng::Error),
    #[error("admin.conf names no cluster")]
    NoCluster,
    #[error("admin.conf has no server address")]
    NoServer,
    #[error("admin.conf has neither a token nor embedded client certificate data")]
    NoIdentity,
}

/// Reads the current context of a kubeconfig (the `*-data` fields stay base64, the
/// credential's encoding).
pub fn parse_kubeconfig(text: &str) -> Result<AdminAccess, KubeconfigError> {
    let v: Value = serde_yaml_ng::from_str(text).map_err(KubeconfigError::NotYaml)?;
    let named = |list: &str, name: Option<&str>| -> Option<Value> {
        let items = v[list].as_array()?;
        items.iter().find(|i| name.is_some_and(|n| i["name"] == n)).or_else(|| items.first()).cloned()
    };
    let current = v["current-context"].as_str();
    let ctx = named("contexts", current).map(|c| c["context"].clone()).unwrap_or(Value::Null);
    let cluster =
        named("clusters", ctx["cluster"].as_str()).map(|c| c["cluster"].clone()).ok_or(KubeconfigError::NoCluster)?;
    let user = named("users", ctx["user"].as_str()).map(|u| u["user"].clone()).unwrap_or(Value::Null);
    let s = |v: &Value| v.as_str().map(str::to_string).filter(|s| !s.is_empty());
    let server = s(&cluster["server"]).ok_or(KubeconfigError::NoServer)?;
    let a = AdminAccess {
        server,
        ca_data: s(&cluster["certificate-authority-data"]),
        client_cert_data: s(&user["client-certificate-data"]),
        client_key_data: s(&user["client-key-data"]),
        token: s(&user["token"]),
    };
    if a.token.is_none() && (a.client_cert_data.is_none() || a.client_key_data.is_none()) {
        return Err(KubeconfigError::NoIdentity);
    }
    Ok(a)
}

/// Why a kubeconfig's server is not a cluster address.
#[derive(Debug, thiserror::Error)]
pub enum ServerAddressError {
    #[error("{server} is not a URL")]
    NotUrl { server: String, source: http::uri::InvalidUri },
    #[error("{0} has no host")]
    NoHost(String),
}

/// `https://host:port/path` as a cluster address.
pub fn address_of(server: &str) -> Result<ClusterAddress, ServerAddressError> {
    let uri: http::Uri =
        server.parse().map_err(|source| ServerAddressError::NotUrl { server: server.to_string(), source })?;
    let host = uri
        .host()
        .ok_or_else(|| ServerAddressError::NoHost(server.to_string()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(443);
    let path = Some(uri.path().trim_end_matches('/')).filter(|p| !p.is_empty()).map(str::to_string);
    Ok(ClusterAddress { type_: "Advertise".into(), host, port: i64::from(port), path })
}

pub(super) async fn fresh_business_client(
    sh: &Shared,
    platform: &Client,
    cluster: &Cluster,
) -> Result<(Client, String), StepError> {
    let cred = cluster_credential(platform, cluster).await.map_err(step_err)?;
    let (client, url) = platform::machine::business_client(cluster, cred.as_ref(), sh.opts.api_timeout);
    client.map(|c| (c, url)).map_err(step_err)
}

/// Label of the bootstrap-token Secrets made for a machine.
pub const MACHINE_TOKEN_LABEL: &str = "platform.tkestack.io/machine";

/// A bootstrap token for `machine`, valid for at least ten more minutes: one made earlier for
/// it, or a new `bootstrap.kubernetes.io/token` Secret valid for an hour.
pub async fn machine_bootstrap_token(client: &Client, machine: &str) -> Result<String, kube::Error> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "kube-system");
    let now = chrono::Utc::now();
    let text = |s: &Secret, k: &str| {
        s.data.as_ref().and_then(|d| d.get(k)).map(|b| String::from_utf8_lossy(&b.0).into_owned())
    };
    for s in secrets.list(&ListParams::default().labels(&format!("{MACHINE_TOKEN_LABEL}={machine}"))).await?.items {
        let fresh = text(&s, "expiration")
            .and_then(|e| chrono::DateTime::parse_from_rfc3339(&e).ok())
            .is_some_and(|e| e > now + chrono::Duration::minutes(10));
        if let (true, Some(id), Some(secret)) = (fresh, text(&s, "token-id"), text(&s, "token-secret")) {
            return Ok(format!("{id}.{secret}"));
        }
    }
    let token = new_bootstrap_token();
    let (id, secret) = token.split_once('.').unwrap_or_default();
    let b = |s: &str| ByteString(s.as_bytes().to_vec());
    let data: BTreeMap<String, ByteString> = [
        ("token-id", b(id)),
        ("token-secret", b(secret)),
        ("expiration", b(&apimachinery::time::rfc3339(now + chrono::Duration::hours(1)))),
        ("usage-bootstrap-authentication", b("true")),
        ("usage-bootstrap-signing", b("true")),
        ("auth-extra-groups", b("system:bootstrappers:kubeadm:default-node-token")),
        ("description", b(&format!("joins machine {machine} (made by the TKE platform)"))),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let s = Secret {
        metadata: ObjectMeta {
            name: Some(format!("bootstrap-token-{id}")),
            labels: Some([(MACHINE_TOKEN_LABEL.to_string(), machine.to_string())].into()),
            ..Default::default()
        },
        type_: Some("bootstrap.kubernetes.io/token".into()),
        data: Some(data),
        ..Default::default()
    };
    secrets.create(&PostParams::default(), &s).await?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_keys_have_kubeadm_shapes() {
        let t = new_bootstrap_token();
        let (id, secret) = t.split_once('.').expect("dot");
        assert_eq!((id.len(), secret.len()), (6, 16));
        assert!(t.chars().all(|c| c == '.' || c.is_ascii_lowercase() || c.is_ascii_digit()));
        assert_ne!(new_bootstrap_token(), t);
        let k = new_certificate_key();
        assert!(k.len() == 64 && k.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn a_kubeconfig_gives_address_and_identity() {
        let conf = "apiVersion: v1\nkind: Config\ncurrent-context: admin@k\nclusters:\n- name: other\n  cluster: {server: 'https://1.1.1.1:6443'}\n- name: k\n  cluster:\n    server: https://10.0.0.10:6443/base/\n    certificate-authority-data: Q0E=\ncontexts:\n- name: admin@k\n  context: {cluster: k, user: admin}\nusers:\n- name: admin\n  user:\n    client-certificate-data: Q0VSVA==\n    client-key-data: S0VZ\n";
        let a = parse_kubeconfig(conf).expect("parse");
        assert_eq!(a.server, "https://10.0.0.10:6443/base/");
        assert_eq!(
            (a.ca_data.as_deref(), a.client_cert_data.as_deref(), a.client_key_data.as_deref(), a.token.as_deref()),
            (Some("Q0E="), Some("Q0VSVA=="), Some("S0VZ"), None)
        );
        assert_eq!(
            address_of(&a.server).expect("addr"),
            ClusterAddress {
                type_: "Advertise".into(),
                host: "10.0.0.10".into(),
                port: 6443,
                path: Some("/base".into())
            }
        );
        assert_eq!(address_of("https://[fd00::1]:6443").expect("v6").host, "fd00::1");
        let e = parse_kubeconfig(
            "clusters:\n- name: k\n  cluster: {server: 'https://h:1'}\nusers:\n- name: u\n  user: {username: x}\n",
        )
        .expect_err("no identity");
        assert!(e.to_string().contains("neither a token nor"), "{e}");
    }

    #[test]
    fn the_ca_hash_is_over_the_public_key() {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert =
            rcgen::CertificateParams::new(vec!["ca".to_string()]).expect("params").self_signed(&key).expect("cert");
        let pem = cert.pem();
        // The PUBLIC KEY PEM block is the SubjectPublicKeyInfo DER.
        let b64: String = key.public_key_pem().lines().filter(|l| !l.starts_with("-----")).collect();
        let spki = base64::engine::general_purpose::STANDARD.decode(b64).expect("spki");
        let expected = format!("sha256:{}", crate::ssh::sha256_hex(&spki));
        assert_eq!(ca_cert_hash(&pem).expect("hash"), expected);
        assert_eq!(ca_cert_hash(&base64::engine::general_purpose::STANDARD.encode(&pem)).expect("b64"), expected);
        assert!(ca_cert_hash("bm90IGEgY2VydA==").is_err());
    }
}
