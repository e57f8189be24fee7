//! `Registry` (`rg`): a record of an external image registry (URL and login) that clusters of a
//! tenant pull from.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::ObjectMeta;
#[cfg(feature = "server")]
use {
    super::common::{self, CLUSTER_NAME_RULE, is_cluster_name},
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError},
    apiserver::{Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
};

pub const KIND: &str = "Registry";
pub const GENERATE_NAME: &str = "rg-";

/// An external image registry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Registry {
    /// `platform.tkestack.io/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `Registry`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata; names are generated with the prefix `rg-` when empty.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    /// The registry.
    #[serde(default)]
    pub spec: RegistrySpec,
}

/// Where the registry is and how to log in.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistrySpec {
    /// Tenant owning the record; set from the caller, cannot be changed.
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Name shown in the console.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The cluster that uses the registry, if only one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// Address of the registry: a host (`registry.example.com:5000`) or an `http(s)://` URL.
    #[serde(default)]
    pub url: String,
    /// User name for logging in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// Password for logging in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// The create/update rules of registry records.
#[cfg(feature = "server")]
pub struct RegistryStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<Registry> for RegistryStrategy {
    fn prepare_for_create(&self, ctx: &Context, r: &mut Registry) -> Result<(), ApiError> {
        r.spec.tenant_id = Some(common::tenant_for_create(ctx, r.spec.tenant_id.as_deref()));
        common::default_generate_name(&mut r.metadata, GENERATE_NAME);
        Ok(())
    }

    fn validate(&self, _ctx: &Context, r: &Registry) -> Vec<FieldError> {
        let mut errs = vec![];
        let url = r.spec.url.as_str();
        if url.is_empty() {
            errs.push(FieldError::required("spec.url", "the address of the registry"));
        } else {
            let host = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")).unwrap_or(url);
            let host = host.split('/').next().unwrap_or("");
            if host.is_empty()
                || url.chars().any(char::is_whitespace)
                || (url.contains("://") && !common::is_http_url(url))
            {
                errs.push(FieldError::invalid(
                    "spec.url",
                    url,
                    "must be a registry host such as registry.example.com:5000 or an http(s):// URL",
                ));
            }
        }
        if let Some(c) = r.spec.cluster_name.as_deref().filter(|c| !c.is_empty())
            && !is_cluster_name(c)
        {
            errs.push(FieldError::invalid("spec.clusterName", c, CLUSTER_NAME_RULE));
        }
        errs
    }

    fn validate_update(&self, ctx: &Context, new: &Registry, old: &Registry) -> Vec<FieldError> {
        let mut errs = self.validate(ctx, new);
        common::check_tenant_unchanged(
            "spec.tenantID",
            new.spec.tenant_id.as_deref(),
            old.spec.tenant_id.as_deref(),
            &mut errs,
        );
        errs
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: KIND,
        plural: "registries",
        singular: "registry",
        short_names: &["rg"],
        categories: &["tkestack"],
        namespaced: false,
        verbs: Verbs::ALL,
        subresources: Subresources::default(),
        columns: vec![],
        field_selectors: &["spec.tenantID", "spec.clusterName", "spec.url"],
        tenant_field: Some("spec.tenantID"),
        static_objects: None,
        schema: schema_of::<Registry>,
        strategy: typed::<Registry, _>(RegistryStrategy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::common::test_ctx;
    use serde_json::json;

    #[test]
    fn create_and_validate() {
        let ctx = test_ctx("t1", false);
        let mut r: Registry =
            serde_json::from_value(json!({"spec": {"url": "https://mirror.example.com", "userName": "u"}})).unwrap();
        RegistryStrategy.prepare_for_create(&ctx, &mut r).unwrap();
        assert_eq!((r.metadata["generateName"].as_str(), r.spec.tenant_id.as_deref()), (Some("rg-"), Some("t1")));
        assert!(RegistryStrategy.validate(&ctx, &r).is_empty());
        r.spec.url = "registry.example.com:5000".into();
        assert!(RegistryStrategy.validate(&ctx, &r).is_empty());
        for bad in ["", "ftp://x", "https://", "a b"] {
            r.spec.url = bad.into();
            let errs = RegistryStrategy.validate(&ctx, &r);
            assert_eq!(errs.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), vec!["spec.url"], "{bad}");
        }
    }
}
