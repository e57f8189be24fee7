//! `APISigningKey` (cluster-scoped): a key the platform signs ID tokens and API keys with. The
//! auth component generates one on first start and rotates it: a retired key stays (its public
//! half served in the JWKS) until every token it signed has expired. Only administrators can
//! read these objects, and reads never show the private key.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::identity::{ObjectMeta, meta_str};
#[cfg(feature = "server")]
use {
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError},
    apiserver::{Column, Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
};

pub const KIND: &str = "APISigningKey";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct APISigningKey {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata; the name is the key id (`kid`).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    /// The private key (PKCS#8 DER, base64). Never shown.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub signing_key: String,
    /// The public key as a JWK (JSON).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub signing_key_pub: String,
    /// The JWS algorithm (`ES256`).
    #[serde(default)]
    pub algorithm: String,
    /// When the key stopped signing (RFC 3339); absent for the current key.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub retired_at: String,
    /// When the last token the key signed expires (RFC 3339): the key is removed after it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub expires_at: String,
}

impl APISigningKey {
    pub fn name(&self) -> &str {
        meta_str(&self.metadata, "name")
    }
}

#[cfg(feature = "server")]
pub struct APISigningKeyStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<APISigningKey> for APISigningKeyStrategy {
    fn prepare_for_create(&self, ctx: &Context, _key: &mut APISigningKey) -> Result<(), ApiError> {
        if !ctx.user.is_admin() {
            return Err(ApiError::forbidden(GROUP, "apisigningkeys", "", "signing keys are made by the platform"));
        }
        Ok(())
    }

    fn validate(&self, _ctx: &Context, key: &APISigningKey) -> Vec<FieldError> {
        let mut errs = vec![];
        if key.signing_key.is_empty() {
            errs.push(FieldError::required("signingKey", "the private key"));
        }
        if key.algorithm != "ES256" {
            errs.push(FieldError::not_supported("algorithm", &key.algorithm, &["ES256"]));
        }
        errs
    }

    fn prepare_for_update(&self, _ctx: &Context, new: &mut APISigningKey, old: &APISigningKey) -> Result<(), ApiError> {
        if new.signing_key.is_empty() {
            new.signing_key = old.signing_key.clone();
        }
        Ok(())
    }

    fn validate_update(&self, ctx: &Context, new: &APISigningKey, old: &APISigningKey) -> Vec<FieldError> {
        let mut errs = self.validate(ctx, new);
        if new.signing_key != old.signing_key || new.signing_key_pub != old.signing_key_pub {
            errs.push(FieldError::forbidden("signingKey", "a key cannot be changed; a new key is a new object"));
        }
        errs
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        &["/signingKey"]
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: KIND,
        plural: "apisigningkeys",
        singular: "apisigningkey",
        short_names: &[],
        categories: &[],
        namespaced: false,
        verbs: Verbs::ALL,
        subresources: Subresources::default(),
        columns: vec![
            Column::new("Algorithm", "string", ".algorithm", "The JWS algorithm."),
            Column::new("Retired", "string", ".retiredAt", "When the key stopped signing."),
            Column::age(),
        ],
        field_selectors: &[],
        tenant_field: None,
        static_objects: None,
        schema: schema_of::<APISigningKey>,
        strategy: typed::<APISigningKey, _>(APISigningKeyStrategy),
    }
}
