//! `Receiver` (`recv`, cluster-scoped, names `rcv-…`): a person (or system) messages go to, with
//! an address per way of sending (`spec.identities`: `email`, `mobile`, `wechat_openid`,
//! `webhook`) and, for the inbox, the platform user it is (`spec.username`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{ObjectMeta, meta_str};
use crate::auth::common::null_as_default;
#[cfg(feature = "server")]
use {
    super::common::{self, identity},
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError},
    apiserver::{Column, Context, ResourceDef, TypedStrategy},
};

pub const KIND: &str = "Receiver";
pub const GENERATE_NAME: &str = "rcv-";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Receiver {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    #[serde(default)]
    pub spec: ReceiverSpec,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiverSpec {
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub display_name: String,
    /// The platform user whose inbox gets the messages.
    #[serde(default)]
    pub username: String,
    /// Address per way of sending: `email`, `mobile`, `wechat_openid`, `webhook`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub identities: BTreeMap<String, String>,
}

impl Receiver {
    pub fn name(&self) -> &str {
        meta_str(&self.metadata, "name")
    }
    pub fn tenant(&self) -> &str {
        self.spec.tenant_id.as_deref().unwrap_or("")
    }
    /// The address for a way of sending, if given.
    pub fn identity(&self, key: &str) -> Option<&str> {
        self.spec.identities.get(key).map(String::as_str).filter(|v| !v.trim().is_empty())
    }
}

impl crate::platform::common::TenantOwned for Receiver {
    fn tenant_id(&self) -> Option<&str> {
        self.spec.tenant_id.as_deref()
    }
}

#[cfg(feature = "server")]
pub struct ReceiverStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<Receiver> for ReceiverStrategy {
    fn prepare_for_create(&self, ctx: &Context, r: &mut Receiver) -> Result<(), ApiError> {
        r.spec.tenant_id = Some(common::tenant_for_create(ctx, r.spec.tenant_id.as_deref()));
        common::default_generate_name(&mut r.metadata, GENERATE_NAME);
        Ok(())
    }

    fn validate(&self, _ctx: &Context, r: &Receiver) -> Vec<FieldError> {
        let mut errs = vec![];
        common::check_display_name(&r.spec.display_name, &mut errs);
        for (k, v) in &r.spec.identities {
            let field = format!("spec.identities.{k}");
            if !identity::ALL.contains(&k.as_str()) {
                errs.push(FieldError::not_supported(field, k, identity::ALL));
            } else if k == identity::EMAIL && !v.is_empty() && !common::is_email(v) {
                errs.push(FieldError::invalid(field, v, "must be an e-mail address such as alice@example.org"));
            }
        }
        errs
    }

    fn validate_update(&self, ctx: &Context, new: &Receiver, old: &Receiver) -> Vec<FieldError> {
        crate::platform::common::validate_tenant_update(self, ctx, new, old)
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        short_names: &["recv"],
        columns: vec![
            Column::new("Display Name", "string", ".spec.displayName", "Name shown in the console."),
            Column::new("Username", "string", ".spec.username", "The platform user of the inbox."),
            Column::new("Email", "string", ".spec.identities.email", "E-mail address."),
            Column::age(),
        ],
        field_selectors: &["spec.tenantID", "spec.username"],
        ..common::tenant_scoped(GROUP, VERSION, KIND, "receivers", "receiver", ReceiverStrategy)
    }
}
