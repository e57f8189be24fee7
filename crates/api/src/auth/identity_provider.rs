//! `IdentityProvider` (`idp`, cluster-scoped): a tenant. The object's name is the tenant id;
//! `spec.type` says where its people live: `tke` (LocalIdentity objects), `ldap` (a directory,
//! dex's LDAP connector configuration in `spec.config`) or `oidc` (an upstream OpenID provider).
//! Secrets inside the configuration (`bindPW`, `clientSecret`) are moved out of `spec.config`
//! into `spec.secrets` when stored, which reads never show; an update that leaves them out of
//! the configuration keeps the current ones.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::identity::{ObjectMeta, meta_str};
#[cfg(feature = "server")]
use {
    super::identity::{check_text, check_username},
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError, validation::is_dns1123_label},
    apiserver::{Column, Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
};

pub const KIND: &str = "IdentityProvider";
/// Keys of `spec.config` whose values are secrets.
pub const SECRET_KEYS: &[&str] = &["bindPW", "clientSecret"];

/// Tenant types.
pub mod types {
    /// Users are LocalIdentity objects of the tenant.
    pub const TKE: &str = "tke";
    /// An LDAP directory (dex's LDAP connector configuration).
    pub const LDAP: &str = "ldap";
    /// An upstream OpenID provider.
    pub const OIDC: &str = "oidc";
    pub const ALL: &[&str] = &[TKE, LDAP, OIDC];
}

/// A tenant and where its people live.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdentityProvider {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata; the name is the tenant id (a DNS label).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    #[serde(default)]
    pub spec: IdentityProviderSpec,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdentityProviderSpec {
    /// The tenant's name shown on the login page.
    #[serde(default)]
    pub name: String,
    /// `tke`, `ldap` or `oidc`.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// Usernames of the tenant's administrators: they may do anything inside the tenant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub administrators: Vec<String>,
    /// The provider's configuration as a JSON string (`ldap`: dex's LDAP connector
    /// configuration; `oidc`: issuer, clientID, clientSecret, redirectURI, scopes, claim mapping).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub config: String,
    /// Secrets taken out of `config`; write-only (put them in `config` to change them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, String>,
}

impl IdentityProvider {
    /// The tenant id.
    pub fn name(&self) -> &str {
        meta_str(&self.metadata, "name")
    }

    /// The configuration with its secrets put back, for the component that connects.
    pub fn config_with_secrets(&self) -> Result<Value, String> {
        let mut config: Value = if self.spec.config.trim().is_empty() {
            Value::Object(Default::default())
        } else {
            serde_json::from_str(&self.spec.config).map_err(|e| format!("spec.config is not valid JSON: {e}"))?
        };
        if let Value::Object(map) = &mut config {
            for (k, v) in &self.spec.secrets {
                map.insert(k.clone(), Value::String(v.clone()));
            }
        }
        Ok(config)
    }

    pub fn is_administrator(&self, username: &str) -> bool {
        self.spec.administrators.iter().any(|a| a == username)
    }
}

#[cfg(feature = "server")]
pub struct IdentityProviderStrategy;

/// Moves secret keys from the configuration into `spec.secrets`.
#[cfg(feature = "server")]
fn take_secrets(idp: &mut IdentityProvider) -> Result<(), ApiError> {
    if idp.spec.config.trim().is_empty() {
        return Ok(());
    }
    let mut config: Value = serde_json::from_str(&idp.spec.config).map_err(|e| {
        ApiError::invalid(
            GROUP,
            KIND,
            idp.name(),
            vec![FieldError::invalid("spec.config", "(configuration)", format!("must be a JSON object: {e}"))],
        )
    })?;
    let Value::Object(map) = &mut config else {
        return Err(ApiError::invalid(
            GROUP,
            KIND,
            idp.name(),
            vec![FieldError::invalid("spec.config", "(configuration)", "must be a JSON object")],
        ));
    };
    for key in SECRET_KEYS {
        if let Some(v) = map.remove(*key) {
            match v {
                Value::String(s) if !s.is_empty() => {
                    idp.spec.secrets.insert(key.to_string(), s);
                }
                Value::String(_) | Value::Null => {
                    idp.spec.secrets.remove(*key);
                }
                _ => {
                    return Err(ApiError::invalid(
                        GROUP,
                        KIND,
                        idp.name(),
                        vec![FieldError::invalid(format!("spec.config.{key}"), "(hidden)", "must be a string")],
                    ));
                }
            }
        }
    }
    idp.spec.config = config.to_string();
    Ok(())
}

#[cfg(feature = "server")]
impl TypedStrategy<IdentityProvider> for IdentityProviderStrategy {
    fn prepare_for_create(&self, _ctx: &Context, idp: &mut IdentityProvider) -> Result<(), ApiError> {
        // Secrets come only from the configuration given now.
        idp.spec.secrets.clear();
        take_secrets(idp)
    }

    fn validate(&self, _ctx: &Context, idp: &IdentityProvider) -> Vec<FieldError> {
        let mut errs = vec![];
        if !is_dns1123_label(idp.name()) {
            errs.push(FieldError::invalid(
                "metadata.name",
                idp.name(),
                "the name is the tenant id: lowercase letters, digits and '-', at most 63 characters",
            ));
        }
        check_text("spec.name", &idp.spec.name, 128, &mut errs);
        if !types::ALL.contains(&idp.spec.type_.as_str()) {
            errs.push(FieldError::not_supported("spec.type", &idp.spec.type_, types::ALL));
        }
        for (i, a) in idp.spec.administrators.iter().enumerate() {
            check_username(&format!("spec.administrators[{i}]"), a, &mut errs);
        }
        if idp.spec.type_ != types::TKE && idp.spec.config.trim().is_empty() {
            errs.push(FieldError::required(
                "spec.config",
                format!("a tenant of type {} needs its provider's configuration", idp.spec.type_),
            ));
        }
        errs
    }

    fn prepare_for_update(
        &self,
        _ctx: &Context,
        new: &mut IdentityProvider,
        old: &IdentityProvider,
    ) -> Result<(), ApiError> {
        new.spec.secrets = old.spec.secrets.clone();
        take_secrets(new)
    }

    fn validate_update(&self, ctx: &Context, new: &IdentityProvider, old: &IdentityProvider) -> Vec<FieldError> {
        let mut errs = self.validate(ctx, new);
        if new.spec.type_ != old.spec.type_ {
            errs.push(FieldError::invalid(
                "spec.type",
                &new.spec.type_,
                format!("the type of a tenant cannot be changed (it is {})", old.spec.type_),
            ));
        }
        errs
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        &["/spec/secrets"]
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: KIND,
        plural: "identityproviders",
        singular: "identityprovider",
        short_names: &["idp"],
        categories: &["tkestack"],
        namespaced: false,
        verbs: Verbs::ALL,
        subresources: Subresources::default(),
        columns: vec![
            Column::new("Display Name", "string", ".spec.name", "The tenant's name on the login page."),
            Column::new("Type", "string", ".spec.type", "Where the tenant's people live."),
            Column::age(),
        ],
        field_selectors: &["spec.type"],
        // The tenant of a tenant is itself: its users see it and no other.
        tenant_field: Some("metadata.name"),
        static_objects: None,
        schema: schema_of::<IdentityProvider>,
        strategy: typed::<IdentityProvider, _>(IdentityProviderStrategy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::common::test_ctx;
    use serde_json::json;

    fn idp(v: Value) -> IdentityProvider {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn secrets_leave_the_config_and_are_kept_on_update() {
        let ctx = test_ctx("t1", true);
        let mut new = idp(json!({"metadata": {"name": "corp"}, "spec": {"name": "Corp", "type": "ldap",
            "config": "{\"host\":\"ldap:636\",\"bindPW\":\"s3cret\"}", "secrets": {"bindPW": "injected"}}}));
        IdentityProviderStrategy.prepare_for_create(&ctx, &mut new).unwrap();
        assert!(!new.spec.config.contains("s3cret"), "{}", new.spec.config);
        assert_eq!(new.spec.secrets.get("bindPW").map(String::as_str), Some("s3cret"));
        assert!(IdentityProviderStrategy.validate(&ctx, &new).is_empty());
        assert_eq!(new.config_with_secrets().unwrap()["bindPW"], "s3cret");
        // A client reads the object (secrets hidden), changes the host, writes it back.
        let mut shown = serde_json::to_value(&new).unwrap();
        definition().redact(&mut shown);
        assert!(shown["spec"].get("secrets").is_none());
        let mut edited = idp(shown);
        edited.spec.config = "{\"host\":\"ldap2:636\"}".into();
        IdentityProviderStrategy.prepare_for_update(&ctx, &mut edited, &new).unwrap();
        assert_eq!(edited.spec.secrets.get("bindPW").map(String::as_str), Some("s3cret"));
    }

    #[test]
    fn validation() {
        let ctx = test_ctx("t1", true);
        let bad = idp(json!({"metadata": {"name": "Bad_Name"}, "spec": {"type": "saml", "administrators": ["a b"]}}));
        let fields: Vec<String> = IdentityProviderStrategy.validate(&ctx, &bad).into_iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["metadata.name", "spec.type", "spec.administrators[0]", "spec.config"]);
        let mut broken = idp(json!({"metadata": {"name": "x"}, "spec": {"type": "ldap", "config": "{not json"}}));
        let err = IdentityProviderStrategy.prepare_for_create(&ctx, &mut broken).unwrap_err();
        assert!(err.message.contains("JSON"), "{}", err.message);
        let old = idp(json!({"metadata": {"name": "x"}, "spec": {"type": "tke"}}));
        let mut new = old.clone();
        new.spec.type_ = "ldap".into();
        new.spec.config = "{}".into();
        let fields: Vec<String> =
            IdentityProviderStrategy.validate_update(&ctx, &new, &old).into_iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["spec.type"]);
    }
}
