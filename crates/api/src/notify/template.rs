//! `Template` (`tpl`, in the namespace named after its channel, names `tpl-…`): what a message
//! says. `text` (header and body: e-mail subject and body, or a webhook's content), and for SMS
//! and WeChat the provider's template with `keys`, the variables passed to it in order. Bodies
//! and headers are Go templates over the request's variables (`{{.summary}}`,
//! `{{if .podName}}…{{end}}`), so TKEStack's templates work unchanged; they must parse.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{ObjectMeta, meta_str};
use crate::auth::common::null_as_default;
#[cfg(feature = "server")]
use {
    super::common,
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError},
    apiserver::{Column, Context, ResourceDef, TypedStrategy},
};

pub const KIND: &str = "Template";
pub const GENERATE_NAME: &str = "tpl-";

/// A message template.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata; the namespace is the channel.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    #[serde(default)]
    pub spec: TemplateSpec,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateSpec {
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub display_name: String,
    /// The variables handed to an SMS or WeChat template, in order (SMS `TemplateParamSet`;
    /// WeChat `data` keys).
    #[serde(default, deserialize_with = "null_as_default")]
    pub keys: Vec<String>,
    #[serde(rename = "tencentCloudSMS", skip_serializing_if = "Option::is_none")]
    pub tencent_cloud_sms: Option<TemplateSms>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wechat: Option<TemplateWechat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<TemplateText>,
}

/// A Tencent Cloud SMS template.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateSms {
    #[serde(rename = "templateID", default)]
    pub template_id: String,
    /// The SMS signature (`SignName`).
    #[serde(default)]
    pub sign: String,
    /// What the SMS says, as archived in the inbox (the provider renders its own template).
    #[serde(default)]
    pub body: String,
}

/// A WeChat template message.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateWechat {
    #[serde(rename = "templateID", default)]
    pub template_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(rename = "miniProgramAppID", default, skip_serializing_if = "String::is_empty")]
    pub mini_program_app_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mini_program_page_path: String,
    #[serde(default)]
    pub body: String,
}

/// A text message: e-mail subject and body, or a webhook's content (the body).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateText {
    #[serde(default)]
    pub header: String,
    #[serde(default)]
    pub body: String,
}

impl Template {
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
}

/// Why a Go template does not parse, or `None`.
#[cfg(feature = "server")]
pub fn parse_error(text: &str) -> Option<String> {
    let mut t = gtmpl::Template::default();
    t.parse(text).err().map(|e| e.to_string())
}

impl crate::platform::common::TenantOwned for Template {
    fn tenant_id(&self) -> Option<&str> {
        self.spec.tenant_id.as_deref()
    }
}

#[cfg(feature = "server")]
pub struct TemplateStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<Template> for TemplateStrategy {
    fn prepare_for_create(&self, ctx: &Context, t: &mut Template) -> Result<(), ApiError> {
        t.spec.tenant_id = Some(common::tenant_for_create(ctx, t.spec.tenant_id.as_deref()));
        common::default_generate_name(&mut t.metadata, GENERATE_NAME);
        Ok(())
    }

    fn validate(&self, _ctx: &Context, t: &Template) -> Vec<FieldError> {
        let mut errs = vec![];
        common::check_display_name(&t.spec.display_name, &mut errs);
        let s = &t.spec;
        if s.text.is_none() && s.tencent_cloud_sms.is_none() && s.wechat.is_none() {
            errs.push(FieldError::required(
                "spec",
                "give at least one of spec.text, spec.tencentCloudSMS and spec.wechat",
            ));
        }
        let mut bodies: Vec<(&str, &str)> = vec![];
        if let Some(x) = &s.text {
            bodies.push(("spec.text.header", &x.header));
            bodies.push(("spec.text.body", &x.body));
        }
        if let Some(x) = &s.tencent_cloud_sms {
            bodies.push(("spec.tencentCloudSMS.body", &x.body));
            if x.template_id.trim().is_empty() {
                errs.push(FieldError::required("spec.tencentCloudSMS.templateID", "the SMS template's id"));
            }
        }
        if let Some(x) = &s.wechat {
            bodies.push(("spec.wechat.body", &x.body));
            if x.template_id.trim().is_empty() {
                errs.push(FieldError::required("spec.wechat.templateID", "the WeChat template's id"));
            }
        }
        for (field, text) in bodies {
            if let Some(e) = parse_error(text) {
                errs.push(FieldError::invalid(field, text, format!("not a valid Go template: {e}")));
            }
        }
        errs
    }

    fn validate_update(&self, ctx: &Context, new: &Template, old: &Template) -> Vec<FieldError> {
        crate::platform::common::validate_tenant_update(self, ctx, new, old)
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        short_names: &["tpl"],
        namespaced: true,
        columns: vec![
            Column::new("Display Name", "string", ".spec.displayName", "Name shown in the console."),
            Column::age(),
        ],
        field_selectors: &["spec.tenantID"],
        ..common::tenant_scoped(GROUP, VERSION, KIND, "templates", "template", TemplateStrategy)
    }
}

#[cfg(test)]
mod tests {
    use apiserver::{Context, TypedStrategy};
    use serde_json::json;

    use super::*;

    #[test]
    fn templates_must_parse() {
        let ctx = Context::system("test", Some("chn-a"));
        let ok: Template = serde_json::from_value(json!({"spec": {"displayName": "t",
            "text": {"header": "[{{.alarmPolicyName}}]", "body": "{{if .podName}}pod {{.podName}}{{end}}\n{{.summary}}"}}}))
        .unwrap();
        assert!(TemplateStrategy.validate(&ctx, &ok).is_empty());
        let bad: Template = serde_json::from_value(json!({"spec": {"displayName": "t",
            "text": {"header": "x", "body": "{{if .podName}}unclosed"}}}))
        .unwrap();
        let errs = TemplateStrategy.validate(&ctx, &bad);
        assert!(errs.iter().any(|e| e.field == "spec.text.body"), "{errs:?}");
    }
}
