//! `MessageRequest` (in the namespace named after its channel, names `mr-…`): one message to
//! send through the channel with one of its templates, to receivers and receiver groups, with
//! the template's variables. The notify controller sends it (reference 6.2); its status says
//! what happened: `Pending` → `Sending` → `Sent`, `Failed` or `PartialFailure`, with
//! `status.errors` naming every receiver that did not get it and why.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{ObjectMeta, meta_str};
use crate::auth::common::null_as_default;
#[cfg(feature = "server")]
use {
    super::common::{self, request_phase},
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError},
    apiserver::{Column, Context, ResourceDef, Subresources, TypedStrategy},
};

pub const KIND: &str = "MessageRequest";
pub const GENERATE_NAME: &str = "mr-";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata; the namespace is the channel.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    #[serde(default)]
    pub spec: MessageRequestSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<MessageRequestStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageRequestSpec {
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// A template of the channel.
    #[serde(default)]
    pub template_name: String,
    /// Receivers' names.
    #[serde(default, deserialize_with = "null_as_default")]
    pub receivers: Vec<String>,
    /// Receiver groups' names: their members are added to `receivers`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub receiver_groups: Vec<String>,
    /// The template's variables.
    #[serde(default, deserialize_with = "null_as_default")]
    pub variables: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageRequestStatus {
    /// `Pending`, `Sending`, `Sent`, `Failed` or `PartialFailure`.
    #[serde(default)]
    pub phase: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    /// Why each receiver that did not get the message did not (receiver name to reason).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "null_as_default")]
    pub errors: BTreeMap<String, String>,
    /// For alerts: `firing` or `resolved`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub alert_status: String,
}

impl MessageRequest {
    pub fn name(&self) -> &str {
        meta_str(&self.metadata, "name")
    }
    /// The channel (the object's namespace).
    pub fn channel(&self) -> &str {
        meta_str(&self.metadata, "namespace")
    }
    pub fn tenant(&self) -> &str {
        self.spec.tenant_id.as_deref().unwrap_or("")
    }
    pub fn phase(&self) -> &str {
        self.status.as_ref().map_or("", |s| s.phase.as_str())
    }
    pub fn alert_status(&self) -> &str {
        self.status.as_ref().map_or("", |s| s.alert_status.as_str())
    }
}

impl crate::platform::common::TenantOwned for MessageRequest {
    fn tenant_id(&self) -> Option<&str> {
        self.spec.tenant_id.as_deref()
    }
}

#[cfg(feature = "server")]
pub struct MessageRequestStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<MessageRequest> for MessageRequestStrategy {
    fn prepare_for_create(&self, ctx: &Context, m: &mut MessageRequest) -> Result<(), ApiError> {
        m.spec.tenant_id = Some(common::tenant_for_create(ctx, m.spec.tenant_id.as_deref()));
        common::default_generate_name(&mut m.metadata, GENERATE_NAME);
        // A new request is to be sent; only the alert status it is about may be given.
        let alert_status = m.status.take().map(|s| s.alert_status).unwrap_or_default();
        m.status = Some(MessageRequestStatus {
            phase: request_phase::PENDING.into(),
            last_transition_time: Some(apimachinery::time::now_rfc3339()),
            errors: Default::default(),
            alert_status,
        });
        Ok(())
    }

    fn validate(&self, _ctx: &Context, m: &MessageRequest) -> Vec<FieldError> {
        let mut errs = vec![];
        if m.spec.receivers.is_empty() && m.spec.receiver_groups.is_empty() {
            errs.push(FieldError::required("spec.receivers", "name at least one receiver or receiver group"));
        }
        errs
    }

    fn validate_update(&self, ctx: &Context, new: &MessageRequest, old: &MessageRequest) -> Vec<FieldError> {
        crate::platform::common::validate_tenant_update(self, ctx, new, old)
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        namespaced: true,
        subresources: Subresources { status: true, finalize: false },
        columns: vec![
            Column::new("Template", "string", ".spec.templateName", "The channel's template."),
            Column::new("Status", "string", ".status.phase", "Pending, Sending, Sent, Failed or PartialFailure."),
            Column::new("Alert", "string", ".status.alertStatus", "firing or resolved, for alerts."),
            Column::age(),
        ],
        field_selectors: &["spec.tenantID", "spec.templateName", "status.phase", "status.alertStatus"],
        ..common::tenant_scoped(GROUP, VERSION, KIND, "messagerequests", "messagerequest", MessageRequestStrategy)
    }
}
