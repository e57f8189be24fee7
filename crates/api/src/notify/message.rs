//! `Message` (`msg`, cluster-scoped): one message delivered to one receiver by one way of
//! sending, archived by the notify controller with the alert it was about — the users' inbox
//! (`spec.username`; `status.phase` `Unread` until its reader marks it `Read` through `status`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{ObjectMeta, meta_str};
#[cfg(feature = "server")]
use {
    super::common::{self, message_phase},
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError},
    apiserver::{Column, Context, ResourceDef, Subresources, TypedStrategy},
};

pub const KIND: &str = "Message";
pub const GENERATE_NAME: &str = "msg-";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    #[serde(default)]
    pub spec: MessageSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<MessageStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageSpec {
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub receiver_name: String,
    /// The way it was sent: `email`, `mobile`, `wechat_openid` or `webhook`.
    #[serde(default)]
    pub receiver_channel: String,
    /// The address it was sent to.
    #[serde(default)]
    pub identity: String,
    /// The platform user whose inbox it is in.
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub header: String,
    #[serde(default)]
    pub body: String,
    /// The provider's id of the message (SMTP Message-ID, SMS serial number, WeChat msgid).
    #[serde(rename = "channelMessageID", default)]
    pub channel_message_id: String,
    #[serde(default)]
    pub alarm_policy_name: String,
    #[serde(default)]
    pub alarm_policy_type: String,
    /// The channel it went through.
    #[serde(default)]
    pub receiver_channel_name: String,
    #[serde(rename = "clusterID", default)]
    pub cluster_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageStatus {
    /// `Unread` or `Read`.
    #[serde(default)]
    pub phase: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    /// For alerts: `firing` or `resolved`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub alert_status: String,
}

impl Message {
    pub fn name(&self) -> &str {
        meta_str(&self.metadata, "name")
    }
    pub fn phase(&self) -> &str {
        self.status.as_ref().map_or("", |s| s.phase.as_str())
    }
}

impl crate::platform::common::TenantOwned for Message {
    fn tenant_id(&self) -> Option<&str> {
        self.spec.tenant_id.as_deref()
    }
}

#[cfg(feature = "server")]
pub struct MessageStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<Message> for MessageStrategy {
    fn prepare_for_create(&self, ctx: &Context, m: &mut Message) -> Result<(), ApiError> {
        m.spec.tenant_id = Some(common::tenant_for_create(ctx, m.spec.tenant_id.as_deref()));
        common::default_generate_name(&mut m.metadata, GENERATE_NAME);
        let alert_status = m.status.take().map(|s| s.alert_status).unwrap_or_default();
        m.status = Some(MessageStatus {
            phase: message_phase::UNREAD.into(),
            last_transition_time: Some(apimachinery::time::now_rfc3339()),
            alert_status,
        });
        Ok(())
    }

    fn validate(&self, _ctx: &Context, m: &Message) -> Vec<FieldError> {
        let mut errs = vec![];
        let phase = m.phase();
        if !phase.is_empty() && phase != message_phase::UNREAD && phase != message_phase::READ {
            errs.push(FieldError::not_supported("status.phase", phase, &[message_phase::UNREAD, message_phase::READ]));
        }
        errs
    }

    fn prepare_for_update(&self, _ctx: &Context, new: &mut Message, old: &Message) -> Result<(), ApiError> {
        if new.phase() != old.phase()
            && let Some(s) = new.status.as_mut()
        {
            s.last_transition_time = Some(apimachinery::time::now_rfc3339());
        }
        Ok(())
    }

    fn validate_update(&self, ctx: &Context, new: &Message, old: &Message) -> Vec<FieldError> {
        crate::platform::common::validate_tenant_update(self, ctx, new, old)
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        short_names: &["msg"],
        subresources: Subresources { status: true, finalize: false },
        columns: vec![
            Column::new("Alarm Policy", "string", ".spec.alarmPolicyType", "The alarm policy's type."),
            Column::new("Cluster ID", "string", ".spec.clusterID", "The cluster the alert was about."),
            Column::new("Status", "string", ".status.alertStatus", "firing or resolved."),
            Column::new("Read", "string", ".status.phase", "Unread or Read."),
            Column::new("Created At", "date", ".metadata.creationTimestamp", "When it was sent."),
        ],
        field_selectors: &[
            "spec.tenantID",
            "spec.receiverName",
            "spec.username",
            "spec.channelMessageID",
            "status.phase",
            "spec.alarmPolicyName",
            "spec.alarmPolicyType",
            "spec.receiverChannelName",
            "spec.clusterID",
            "status.alertStatus",
        ],
        ..common::tenant_scoped(GROUP, VERSION, KIND, "messages", "message", MessageStrategy)
    }
}
