//! `APIKey` (`apk`, cluster-scoped): a long-lived token for scripts, a signed JWT naming its
//! user and tenant. Keys are issued through `apikeys/default/token` (for the caller) or
//! `apikeys/default/password` (with username and password, without logging in), not created
//! directly; the token is shown once, in that answer, and never again (reads omit
//! `spec.apiKey`). Setting `status.disabled` (through `status`) revokes a key.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::identity::{ObjectMeta, meta_str};
#[cfg(feature = "server")]
use {
    super::identity::{check_immutable, check_tenant_unchanged, check_text, default_generate_name},
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError},
    apiserver::{Column, Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
};

pub const KIND: &str = "APIKey";
pub const GENERATE_NAME: &str = "apk-";
/// The token; never returned after it was issued.
pub const TOKEN_POINTER: &str = "/spec/apiKey";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct APIKey {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    #[serde(default)]
    pub spec: APIKeySpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<APIKeyStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct APIKeySpec {
    /// The token (a signed JWT). Write-once, never shown after it was issued.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_key: String,
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The user the key acts as.
    #[serde(default)]
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// When the key was issued (RFC 3339).
    #[serde(rename = "issue_at", default, skip_serializing_if = "String::is_empty")]
    pub issue_at: String,
    /// When the key stops working (RFC 3339).
    #[serde(rename = "expire_at", default, skip_serializing_if = "String::is_empty")]
    pub expire_at: String,
    /// The token's `jti` claim: how an authenticator finds the key of a token.
    #[serde(rename = "tokenID", default, skip_serializing_if = "String::is_empty")]
    pub token_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct APIKeyStatus {
    /// A disabled key is refused.
    #[serde(default)]
    pub disabled: bool,
    /// Set once the key has expired.
    #[serde(default)]
    pub expired: bool,
}

impl APIKey {
    pub fn name(&self) -> &str {
        meta_str(&self.metadata, "name")
    }
    pub fn tenant(&self) -> &str {
        self.spec.tenant_id.as_deref().unwrap_or("")
    }
    pub fn disabled(&self) -> bool {
        self.status.as_ref().is_some_and(|s| s.disabled)
    }
}

#[cfg(feature = "server")]
pub struct APIKeyStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<APIKey> for APIKeyStrategy {
    fn prepare_for_create(&self, ctx: &Context, key: &mut APIKey) -> Result<(), ApiError> {
        // The auth component issues keys (as an administrator, in process) after signing the
        // token; a client creating the object directly would hold no valid token.
        if !ctx.user.is_admin() {
            return Err(ApiError::forbidden(
                GROUP,
                "apikeys",
                "",
                "API keys are issued by POST /apis/auth.tkestack.io/v1/apikeys/default/token (for yourself) or apikeys/default/password (with a username and password)",
            ));
        }
        default_generate_name(&mut key.metadata, GENERATE_NAME);
        key.status = Some(APIKeyStatus::default());
        Ok(())
    }

    fn validate(&self, _ctx: &Context, key: &APIKey) -> Vec<FieldError> {
        let mut errs = vec![];
        if key.spec.username.is_empty() {
            errs.push(FieldError::required("spec.username", "the user the key acts as"));
        }
        if key.spec.token_id.is_empty() {
            errs.push(FieldError::required("spec.tokenID", "the token's id"));
        }
        check_text("spec.description", &key.spec.description, 1024, &mut errs);
        errs
    }

    fn prepare_for_update(&self, _ctx: &Context, new: &mut APIKey, old: &APIKey) -> Result<(), ApiError> {
        // Reads never show the token, so an update that leaves it out keeps it.
        if new.spec.api_key.is_empty() {
            new.spec.api_key = old.spec.api_key.clone();
        }
        Ok(())
    }

    fn validate_update(&self, ctx: &Context, new: &APIKey, old: &APIKey) -> Vec<FieldError> {
        let mut errs = self.validate(ctx, new);
        check_tenant_unchanged(
            "spec.tenantID",
            new.spec.tenant_id.as_deref(),
            old.spec.tenant_id.as_deref(),
            &mut errs,
        );
        if new.spec.api_key != old.spec.api_key {
            errs.push(FieldError::forbidden("spec.apiKey", "the token of a key cannot be changed"));
        }
        for (field, n, o) in [
            ("spec.username", &new.spec.username, &old.spec.username),
            ("spec.issue_at", &new.spec.issue_at, &old.spec.issue_at),
            ("spec.expire_at", &new.spec.expire_at, &old.spec.expire_at),
            ("spec.tokenID", &new.spec.token_id, &old.spec.token_id),
        ] {
            check_immutable(field, n, o, &mut errs);
        }
        errs
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        &[TOKEN_POINTER]
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: KIND,
        plural: "apikeys",
        singular: "apikey",
        short_names: &["apk"],
        categories: &["tkestack"],
        namespaced: false,
        verbs: Verbs::ALL,
        subresources: Subresources { status: true, finalize: false },
        columns: vec![
            Column::new("Username", "string", ".spec.username", "The user the key acts as."),
            Column::new("Description", "string", ".spec.description", "What the key is for."),
            Column::new("Expires", "string", ".spec.expire_at", "When the key stops working."),
            Column::new("Disabled", "boolean", ".status.disabled", "Whether the key was revoked."),
            Column::age(),
        ],
        field_selectors: &["spec.tenantID", "spec.username", "spec.tokenID"],
        tenant_field: Some("spec.tenantID"),
        static_objects: None,
        schema: schema_of::<APIKey>,
        strategy: typed::<APIKey, _>(APIKeyStrategy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::common::test_ctx;
    use serde_json::json;

    #[test]
    fn only_issued_and_token_fixed() {
        let mut key: APIKey = serde_json::from_value(
            json!({"spec": {"apiKey": "eyJ.x.y", "username": "alice", "tokenID": "ab12", "expire_at": "2027-01-01T00:00:00Z"}}),
        )
        .unwrap();
        let err = APIKeyStrategy.prepare_for_create(&test_ctx("t1", false), &mut key).unwrap_err();
        assert_eq!(err.code(), 403);
        assert!(err.message.contains("apikeys/default/token"), "{}", err.message);
        let admin = test_ctx("t1", true);
        APIKeyStrategy.prepare_for_create(&admin, &mut key).unwrap();
        assert!(APIKeyStrategy.validate(&admin, &key).is_empty());
        let mut edit = key.clone();
        edit.spec.api_key.clear();
        edit.spec.expire_at = "2099-01-01T00:00:00Z".into();
        APIKeyStrategy.prepare_for_update(&admin, &mut edit, &key).unwrap();
        assert_eq!(edit.spec.api_key, "eyJ.x.y");
        let fields: Vec<String> =
            APIKeyStrategy.validate_update(&admin, &edit, &key).into_iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["spec.expire_at"]);
        let mut shown = serde_json::to_value(&key).unwrap();
        definition().redact(&mut shown);
        assert!(shown["spec"].get("apiKey").is_none());
    }
}
