//! `ClusterCredential` (`cc`): the certificates, keys and tokens used to reach a cluster. A
//! flat object (no spec): `tenantID` and `clusterName` sit at the top level. The server labels
//! it `tkestack.io/cluster-name` so that it can be found by label as well as by field.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::ObjectMeta;
#[cfg(feature = "server")]
use {
    super::common::{self, CLUSTER_NAME_RULE, check_immutable, check_pem, is_cluster_name},
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError},
    apiserver::{Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
    serde_json::json,
};

pub const KIND: &str = "ClusterCredential";
pub const GENERATE_NAME: &str = "cc-";
/// The label naming the cluster a credential belongs to.
pub const CLUSTER_NAME_LABEL: &str = "tkestack.io/cluster-name";

/// Credentials of a cluster. Byte fields (certificates and keys) are base64-encoded PEM.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterCredential {
    /// `platform.tkestack.io/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `ClusterCredential`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata; names are generated with the prefix `cc-` when empty.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    /// Tenant owning the credential; set from the caller, cannot be changed.
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The cluster these credentials reach. May be set once, then cannot be changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// CA certificate of etcd.
    #[serde(rename = "etcdCACert", skip_serializing_if = "Option::is_none")]
    pub etcd_ca_cert: Option<String>,
    /// CA key of etcd.
    #[serde(rename = "etcdCAKey", skip_serializing_if = "Option::is_none")]
    pub etcd_ca_key: Option<String>,
    /// Client certificate for etcd.
    #[serde(rename = "etcdAPIClientCert", skip_serializing_if = "Option::is_none")]
    pub etcd_api_client_cert: Option<String>,
    /// Client key for etcd.
    #[serde(rename = "etcdAPIClientKey", skip_serializing_if = "Option::is_none")]
    pub etcd_api_client_key: Option<String>,
    /// CA certificate of the cluster's API server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<String>,
    /// CA key of the cluster (clusters created by the platform).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_key: Option<String>,
    /// Client certificate for the API server; requires `clientKey`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<String>,
    /// Client key for the API server; requires `clientCert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key: Option<String>,
    /// Bearer token for the API server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Bootstrap token for joining nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap_token: Option<String>,
    /// kubeadm certificate key (upload-certs) for joining masters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_key: Option<String>,
    /// User name to authenticate as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// User to impersonate.
    #[serde(rename = "as", skip_serializing_if = "Option::is_none")]
    pub as_: Option<String>,
    /// Groups to impersonate.
    #[serde(rename = "as-groups", skip_serializing_if = "Option::is_none")]
    pub as_groups: Option<Vec<String>>,
    /// Extra fields to impersonate; values are comma-separated.
    #[serde(rename = "as-user-extra", skip_serializing_if = "Option::is_none")]
    pub as_user_extra: Option<BTreeMap<String, String>>,
}

/// The create/update rules of credentials.
#[cfg(feature = "server")]
pub struct ClusterCredentialStrategy;

/// Keeps the `tkestack.io/cluster-name` label equal to `clusterName`.
#[cfg(feature = "server")]
fn sync_label(cc: &mut ClusterCredential) {
    let Some(name) = cc.cluster_name.clone().filter(|n| !n.is_empty()) else { return };
    if !cc.metadata.is_object() {
        cc.metadata = json!({});
    }
    let labels = &mut cc.metadata["labels"];
    if !labels.is_object() {
        *labels = json!({});
    }
    labels[CLUSTER_NAME_LABEL] = json!(name);
}

#[cfg(feature = "server")]
impl TypedStrategy<ClusterCredential> for ClusterCredentialStrategy {
    fn prepare_for_create(&self, ctx: &Context, cc: &mut ClusterCredential) -> Result<(), ApiError> {
        cc.tenant_id = Some(common::tenant_for_create(ctx, cc.tenant_id.as_deref()));
        common::default_generate_name(&mut cc.metadata, GENERATE_NAME);
        sync_label(cc);
        Ok(())
    }

    fn validate(&self, _ctx: &Context, cc: &ClusterCredential) -> Vec<FieldError> {
        let mut errs = vec![];
        if let Some(n) = cc.cluster_name.as_deref().filter(|n| !n.is_empty())
            && !is_cluster_name(n)
        {
            errs.push(FieldError::invalid("clusterName", n, CLUSTER_NAME_RULE));
        }
        for (field, value) in [
            ("etcdCACert", &cc.etcd_ca_cert),
            ("etcdCAKey", &cc.etcd_ca_key),
            ("etcdAPIClientCert", &cc.etcd_api_client_cert),
            ("etcdAPIClientKey", &cc.etcd_api_client_key),
            ("caCert", &cc.ca_cert),
            ("caKey", &cc.ca_key),
            ("clientCert", &cc.client_cert),
            ("clientKey", &cc.client_key),
        ] {
            check_pem(field, value.as_deref(), &mut errs);
        }
        let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
        match (set(&cc.client_cert), set(&cc.client_key)) {
            (true, false) => errs.push(FieldError::required("clientKey", "clientCert and clientKey go together")),
            (false, true) => errs.push(FieldError::required("clientCert", "clientCert and clientKey go together")),
            _ => {}
        }
        errs
    }

    fn prepare_for_update(
        &self,
        _ctx: &Context,
        new: &mut ClusterCredential,
        _old: &ClusterCredential,
    ) -> Result<(), ApiError> {
        sync_label(new);
        Ok(())
    }

    fn validate_update(&self, ctx: &Context, new: &ClusterCredential, old: &ClusterCredential) -> Vec<FieldError> {
        let mut errs = self.validate(ctx, new);
        common::check_tenant_unchanged("tenantID", new.tenant_id.as_deref(), old.tenant_id.as_deref(), &mut errs);
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        check_immutable("clusterName", &s(&new.cluster_name), &s(&old.cluster_name), &mut errs);
        errs
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: KIND,
        plural: "clustercredentials",
        singular: "clustercredential",
        short_names: &["cc"],
        categories: &["tkestack"],
        namespaced: false,
        verbs: Verbs::ALL,
        subresources: Subresources::default(),
        columns: vec![],
        field_selectors: &["tenantID", "clusterName"],
        tenant_field: Some("tenantID"),
        static_objects: None,
        schema: schema_of::<ClusterCredential>,
        strategy: typed::<ClusterCredential, _>(ClusterCredentialStrategy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::common::test_ctx;

    fn pem() -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .encode("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    }

    #[test]
    fn create_sets_tenant_prefix_and_cluster_label() {
        let mut cc: ClusterCredential = serde_json::from_value(
            json!({"metadata": {"labels": {"x": "y"}}, "clusterName": "cls-a1", "caCert": pem(), "token": "t"}),
        )
        .unwrap();
        ClusterCredentialStrategy.prepare_for_create(&test_ctx("t1", false), &mut cc).unwrap();
        assert_eq!(cc.tenant_id.as_deref(), Some("t1"));
        assert_eq!(cc.metadata["generateName"], "cc-");
        assert_eq!(cc.metadata["labels"], json!({"x": "y", "tkestack.io/cluster-name": "cls-a1"}));
        assert!(ClusterCredentialStrategy.validate(&test_ctx("t1", false), &cc).is_empty());
    }

    #[test]
    fn certificates_must_be_pem_and_come_in_pairs() {
        let cc: ClusterCredential = serde_json::from_value(
            json!({"clusterName": "bad", "caCert": "bm90IHBlbQ==", "clientCert": pem(), "etcdCAKey": "%%%"}),
        )
        .unwrap();
        let errs = ClusterCredentialStrategy.validate(&test_ctx("t1", false), &cc);
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["clusterName", "etcdCAKey", "caCert", "clientKey"]);
        assert!(!errs.iter().any(|e| e.detail.contains("bm90")), "secrets are not echoed");
    }

    #[test]
    fn cluster_name_is_set_once() {
        let ctx = test_ctx("t1", false);
        let old: ClusterCredential = serde_json::from_value(json!({"tenantID": "t1"})).unwrap();
        let mut new = old.clone();
        new.cluster_name = Some("cls-a1".into());
        ClusterCredentialStrategy.prepare_for_update(&ctx, &mut new, &old).unwrap();
        assert!(ClusterCredentialStrategy.validate_update(&ctx, &new, &old).is_empty());
        assert_eq!(new.metadata["labels"]["tkestack.io/cluster-name"], "cls-a1");
        let mut moved = new.clone();
        moved.cluster_name = Some("cls-b2".into());
        let errs = ClusterCredentialStrategy.validate_update(&ctx, &moved, &new);
        assert_eq!(errs.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), vec!["clusterName"]);
    }

    #[test]
    fn round_trip_keeps_hyphenated_impersonation_fields() {
        let v = json!({"metadata": {"name": "cc-a"}, "tenantID": "t", "clusterName": "cls-a", "as": "u", "as-groups": ["g"], "as-user-extra": {"k": "a,b"}, "etcdAPIClientCert": "", "token": "x"});
        let cc: ClusterCredential = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&cc).unwrap(), v);
    }
}
