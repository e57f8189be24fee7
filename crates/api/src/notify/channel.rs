//! `Channel` (`chn`, cluster-scoped, names `chn-…`): one way of sending messages — an SMTP
//! server, a webhook URL, a Tencent Cloud SMS application or a WeChat official account.
//!
//! The credentials (`spec.smtp.password`, `spec.wechat.appSecret`,
//! `spec.tencentCloudSMS.appKey`) are write-only: accepted on create and update, kept in the
//! stored object (where only the platform's own components read them, in process or as
//! administrators), and removed by the server from every object it returns — get, list, watch,
//! tables and the responses to writes alike ([`apiserver::ResourceDef::redact`]). An update that
//! leaves a credential out (as any client that read the object does) keeps the stored one; to
//! change it, send the new value.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{ObjectMeta, meta_str};
use crate::auth::common::null_as_default;
#[cfg(feature = "server")]
use {
    super::common::{self, channel_phase},
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError},
    apiserver::{Column, Context, ResourceDef, Subresources, TypedStrategy},
};

pub const KIND: &str = "Channel";
pub const GENERATE_NAME: &str = "chn-";

/// The write-only fields, as JSON pointers.
pub const SECRET_FIELDS: &[&str] = &["/spec/smtp/password", "/spec/wechat/appSecret", "/spec/tencentCloudSMS/appKey"];

/// A notification channel.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Channel {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata; names are generated with the prefix `chn-` when empty. The
    /// name is the namespace of the channel's templates and message requests.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    #[serde(default)]
    pub spec: ChannelSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ChannelStatus>,
}

/// The desired channel: exactly one of `smtp`, `webhook`, `tencentCloudSMS`, `wechat`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChannelSpec {
    #[serde(default, deserialize_with = "null_as_default")]
    pub finalizers: Vec<String>,
    /// Tenant owning the channel; set from the caller, cannot be changed.
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub display_name: String,
    #[serde(rename = "tencentCloudSMS", skip_serializing_if = "Option::is_none")]
    pub tencent_cloud_sms: Option<TencentCloudSms>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wechat: Option<Wechat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp: Option<Smtp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<Webhook>,
}

/// Tencent Cloud SMS (API 3.0 `SendSms`): `appKey` is the API secret key of `secretID`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TencentCloudSms {
    /// The SecretKey signing the requests (write-only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub app_key: String,
    /// The SecretId of the API key (tke-rs addition: API 3.0 signs with a key pair).
    #[serde(rename = "secretID", default, skip_serializing_if = "String::is_empty")]
    pub secret_id: String,
    /// The SMS application (`SmsSdkAppId`).
    #[serde(rename = "sdkAppID", default)]
    pub sdk_app_id: String,
    /// The extension code (`ExtendCode`), if any.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub extend: String,
    /// The region of the API (default `ap-guangzhou`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub region: String,
}

/// A WeChat official account sending template messages.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Wechat {
    #[serde(rename = "appID", default)]
    pub app_id: String,
    /// The AppSecret (write-only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub app_secret: String,
}

/// An SMTP server.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Smtp {
    #[serde(default)]
    pub smtp_host: String,
    #[serde(default)]
    pub smtp_port: u16,
    /// `true`: TLS from the first byte (SMTPS, usually port 465); `false`: STARTTLS, required
    /// unless the server is on a loopback address.
    #[serde(default)]
    pub tls: bool,
    /// The sender's address, also the login name.
    #[serde(default)]
    pub email: String,
    /// The login password (write-only); empty: no login.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password: String,
}

/// A webhook: messages are POSTed as JSON to `url` with `headers`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    #[serde(default)]
    pub url: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub headers: BTreeMap<String, String>,
}

/// The observed channel.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChannelStatus {
    /// `Actived` or `Terminating`.
    #[serde(default)]
    pub phase: String,
}

/// What a channel sends through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelKind {
    Smtp,
    Webhook,
    TencentCloudSms,
    Wechat,
}

impl Channel {
    pub fn name(&self) -> &str {
        meta_str(&self.metadata, "name")
    }
    pub fn tenant(&self) -> &str {
        self.spec.tenant_id.as_deref().unwrap_or("")
    }
    /// The kinds configured (exactly one on a valid channel).
    pub fn kinds(&self) -> Vec<ChannelKind> {
        let s = &self.spec;
        let mut k = vec![];
        if s.smtp.is_some() {
            k.push(ChannelKind::Smtp);
        }
        if s.webhook.is_some() {
            k.push(ChannelKind::Webhook);
        }
        if s.tencent_cloud_sms.is_some() {
            k.push(ChannelKind::TencentCloudSms);
        }
        if s.wechat.is_some() {
            k.push(ChannelKind::Wechat);
        }
        k
    }
}

impl crate::platform::common::TenantOwned for Channel {
    fn tenant_id(&self) -> Option<&str> {
        self.spec.tenant_id.as_deref()
    }
}

#[cfg(feature = "server")]
pub struct ChannelStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<Channel> for ChannelStrategy {
    fn prepare_for_create(&self, ctx: &Context, c: &mut Channel) -> Result<(), ApiError> {
        c.spec.tenant_id = Some(common::tenant_for_create(ctx, c.spec.tenant_id.as_deref()));
        common::default_generate_name(&mut c.metadata, GENERATE_NAME);
        c.status = Some(ChannelStatus { phase: channel_phase::ACTIVE.into() });
        Ok(())
    }

    fn validate(&self, _ctx: &Context, c: &Channel) -> Vec<FieldError> {
        let mut errs = vec![];
        common::check_display_name(&c.spec.display_name, &mut errs);
        if c.kinds().len() != 1 {
            errs.push(FieldError::invalid(
                "spec",
                c.kinds().len(),
                "give exactly one of spec.smtp, spec.webhook, spec.tencentCloudSMS and spec.wechat",
            ));
        }
        if let Some(s) = &c.spec.smtp {
            if s.smtp_host.trim().is_empty() {
                errs.push(FieldError::required("spec.smtp.smtpHost", "the SMTP server's host name or address"));
            }
            if s.smtp_port == 0 {
                errs.push(FieldError::required("spec.smtp.smtpPort", "the SMTP server's port, such as 465 or 587"));
            }
            if !super::common::is_email(&s.email) {
                errs.push(FieldError::invalid(
                    "spec.smtp.email",
                    &s.email,
                    "must be the sender's e-mail address, such as alerts@example.org",
                ));
            }
        }
        if let Some(w) = &c.spec.webhook
            && !(w.url.starts_with("http://") || w.url.starts_with("https://"))
        {
            errs.push(FieldError::invalid("spec.webhook.url", &w.url, "must be an http:// or https:// URL"));
        }
        if let Some(s) = &c.spec.tencent_cloud_sms
            && s.sdk_app_id.trim().is_empty()
        {
            errs.push(FieldError::required("spec.tencentCloudSMS.sdkAppID", "the SMS application's SdkAppId"));
        }
        if let Some(w) = &c.spec.wechat
            && w.app_id.trim().is_empty()
        {
            errs.push(FieldError::required("spec.wechat.appID", "the official account's AppID"));
        }
        errs
    }

    fn prepare_for_update(&self, _ctx: &Context, new: &mut Channel, old: &Channel) -> Result<(), ApiError> {
        // Clients never see the credentials, so an update without one keeps the stored one.
        if let (Some(n), Some(o)) = (new.spec.smtp.as_mut(), old.spec.smtp.as_ref())
            && n.password.is_empty()
        {
            n.password = o.password.clone();
        }
        if let (Some(n), Some(o)) = (new.spec.wechat.as_mut(), old.spec.wechat.as_ref())
            && n.app_secret.is_empty()
        {
            n.app_secret = o.app_secret.clone();
        }
        if let (Some(n), Some(o)) = (new.spec.tencent_cloud_sms.as_mut(), old.spec.tencent_cloud_sms.as_ref())
            && n.app_key.is_empty()
        {
            n.app_key = o.app_key.clone();
        }
        Ok(())
    }

    fn validate_update(&self, ctx: &Context, new: &Channel, old: &Channel) -> Vec<FieldError> {
        crate::platform::common::validate_tenant_update(self, ctx, new, old)
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        SECRET_FIELDS
    }
}

/// The kind column: which of the four the channel is.
#[cfg(feature = "server")]
fn kind_cell(obj: &Value) -> Value {
    let spec = &obj["spec"];
    let k = ["smtp", "webhook", "tencentCloudSMS", "wechat"].into_iter().find(|k| spec[*k].is_object());
    Value::String(k.unwrap_or("").to_string())
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        short_names: &["chn"],
        subresources: Subresources { status: true, finalize: false },
        columns: vec![
            Column::new("Display Name", "string", ".spec.displayName", "Name shown in the console."),
            Column::computed("Kind", "string", kind_cell, "smtp, webhook, tencentCloudSMS or wechat."),
            Column::new("Status", "string", ".status.phase", "Lifecycle phase."),
            Column::age(),
        ],
        field_selectors: &["spec.tenantID"],
        ..common::tenant_scoped(GROUP, VERSION, KIND, "channels", "channel", ChannelStrategy)
    }
}

#[cfg(test)]
mod tests {
    use apiserver::{Context, TypedStrategy};
    use serde_json::json;

    use super::*;

    fn smtp(password: &str) -> Channel {
        serde_json::from_value(json!({
            "metadata": {"name": "chn-a"},
            "spec": {"displayName": "mail", "smtp": {"smtpHost": "mail.example.org", "smtpPort": 465, "tls": true,
                "email": "alerts@example.org", "password": password}}
        }))
        .unwrap()
    }

    #[test]
    fn secrets_are_redacted_and_kept_on_update() {
        let ctx = Context::system("test", None);
        let mut c = smtp("s3cret");
        ChannelStrategy.prepare_for_create(&ctx, &mut c).unwrap();
        assert!(ChannelStrategy.validate(&ctx, &c).is_empty());
        let mut shown = serde_json::to_value(&c).unwrap();
        definition().redact(&mut shown);
        assert!(shown["spec"]["smtp"].get("password").is_none());
        assert_eq!(shown["spec"]["smtp"]["email"], "alerts@example.org");
        // An update from what a client saw keeps the password; a new one replaces it.
        let mut new: Channel = serde_json::from_value(shown).unwrap();
        ChannelStrategy.prepare_for_update(&ctx, &mut new, &c).unwrap();
        assert_eq!(new.spec.smtp.as_ref().unwrap().password, "s3cret");
        let mut changed = smtp("other");
        ChannelStrategy.prepare_for_update(&ctx, &mut changed, &c).unwrap();
        assert_eq!(changed.spec.smtp.as_ref().unwrap().password, "other");
    }

    #[test]
    fn exactly_one_kind() {
        let ctx = Context::system("test", None);
        let mut c = smtp("");
        c.spec.webhook = Some(Webhook { url: "http://x".into(), headers: Default::default() });
        assert!(ChannelStrategy.validate(&ctx, &c).iter().any(|e| e.field == "spec"));
        c.spec.smtp = None;
        c.spec.webhook = Some(Webhook { url: "ftp://x".into(), headers: Default::default() });
        assert!(ChannelStrategy.validate(&ctx, &c).iter().any(|e| e.field == "spec.webhook.url"));
    }
}
