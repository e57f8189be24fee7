//! `Client` (`cli`, cluster-scoped): an OAuth 2.0 client of the platform's OpenID provider (the
//! console, `tke login`, a team's own application). Redirect URIs must match exactly, except
//! that a native client's loopback URI (`http://127.0.0.1/...`, `http://[::1]/...`) matches any
//! port (RFC 8252 §7.3). The secret of a confidential client is never shown.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::identity::{ObjectMeta, meta_str};
#[cfg(feature = "server")]
use {
    super::identity::{check_immutable, check_text},
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError},
    apiserver::{Column, Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
};

pub const KIND: &str = "Client";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Client {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    #[serde(default)]
    pub spec: ClientSpec,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClientSpec {
    /// The `client_id`.
    #[serde(default)]
    pub id: String,
    /// The `client_secret` of a confidential client; never shown.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub secret: String,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Clients allowed to obtain tokens on behalf of this one (dex's cross-client trust).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_peers: Vec<String>,
    /// A public client (no secret; PKCE required).
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub logo_url: String,
}

impl Client {
    pub fn name(&self) -> &str {
        meta_str(&self.metadata, "name")
    }

    /// Whether `uri` is one of the client's redirect URIs: an exact match, or, for a registered
    /// loopback URI, the same URI with any port.
    pub fn redirect_allowed(&self, uri: &str) -> bool {
        self.spec.redirect_uris.iter().any(|r| r == uri || loopback_match(r, uri))
    }
}

/// `http://127.0.0.1[:port]/path` (or `[::1]`, or `localhost`) against a registered loopback
/// URI: scheme, host, path and query must be equal, the port may differ.
fn loopback_match(registered: &str, given: &str) -> bool {
    fn split(u: &str) -> Option<(&str, &str)> {
        let rest = u.strip_prefix("http://")?;
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let host = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6.find(']')?;
            let port = &v6[end + 1..];
            if !(port.is_empty() || port.strip_prefix(':').is_some_and(|p| p.parse::<u16>().is_ok())) {
                return None;
            }
            &authority[..end + 2]
        } else {
            let (h, port) = authority.split_once(':').unwrap_or((authority, ""));
            if !(port.is_empty() || port.parse::<u16>().is_ok()) || authority.ends_with(':') {
                return None;
            }
            h
        };
        matches!(host, "127.0.0.1" | "[::1]" | "localhost").then_some((host, path))
    }
    match (split(registered), split(given)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

#[cfg(feature = "server")]
pub struct ClientStrategy;

#[cfg(feature = "server")]
fn check_redirect(field: &str, uri: &str, errs: &mut Vec<FieldError>) {
    let ok = match uri.split_once("://") {
        Some(("https", rest)) => !rest.is_empty(),
        Some(("http", _)) => loopback_match(uri, uri),
        // Private-use schemes of native apps (RFC 8252 §7.1), e.g. `com.example.app:/cb`.
        _ => uri.split_once(":/").is_some_and(|(s, _)| {
            s.contains('.') && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
        }),
    };
    if !ok || uri.contains('#') || uri.chars().any(char::is_whitespace) {
        errs.push(FieldError::invalid(
            field,
            uri,
            "must be an https URL, an http URL on a loopback address (127.0.0.1, [::1] or localhost), or a private-use scheme such as com.example.app:/callback; no fragment",
        ));
    }
}

#[cfg(feature = "server")]
impl TypedStrategy<Client> for ClientStrategy {
    fn prepare_for_create(&self, _ctx: &Context, c: &mut Client) -> Result<(), ApiError> {
        if c.spec.id.is_empty() {
            c.spec.id = meta_str(&c.metadata, "name").to_string();
        }
        Ok(())
    }

    fn validate(&self, _ctx: &Context, c: &Client) -> Vec<FieldError> {
        let mut errs = vec![];
        if c.spec.id.is_empty() {
            errs.push(FieldError::required("spec.id", "the client_id"));
        } else if c.spec.id.len() > 128 || !c.spec.id.chars().all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
        {
            errs.push(FieldError::invalid("spec.id", &c.spec.id, "letters, digits, '-', '_' and '.', at most 128"));
        }
        if !c.spec.public && c.spec.secret.len() < 16 {
            errs.push(FieldError::invalid(
                "spec.secret",
                "(hidden)",
                "a confidential client needs a secret of at least 16 characters (or set public: true)",
            ));
        }
        for (i, uri) in c.spec.redirect_uris.iter().enumerate() {
            check_redirect(&format!("spec.redirect_uris[{i}]"), uri, &mut errs);
        }
        check_text("spec.name", &c.spec.name, 128, &mut errs);
        errs
    }

    fn prepare_for_update(&self, _ctx: &Context, new: &mut Client, old: &Client) -> Result<(), ApiError> {
        if new.spec.secret.is_empty() {
            new.spec.secret = old.spec.secret.clone();
        }
        Ok(())
    }

    fn validate_update(&self, ctx: &Context, new: &Client, old: &Client) -> Vec<FieldError> {
        let mut errs = self.validate(ctx, new);
        check_immutable("spec.id", &new.spec.id, &old.spec.id, &mut errs);
        errs
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        &["/spec/secret"]
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: KIND,
        plural: "clients",
        singular: "client",
        short_names: &["cli"],
        categories: &["tkestack"],
        namespaced: false,
        verbs: Verbs::ALL,
        subresources: Subresources::default(),
        columns: vec![
            Column::new("Client ID", "string", ".spec.id", "The client_id."),
            Column::new("Public", "boolean", ".spec.public", "A public client (PKCE, no secret)."),
            Column::new("Display Name", "string", ".spec.name", "The name shown on the login page."),
            Column::age(),
        ],
        field_selectors: &["spec.id"],
        tenant_field: None,
        static_objects: None,
        schema: schema_of::<Client>,
        strategy: typed::<Client, _>(ClientStrategy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::common::test_ctx;
    use serde_json::json;

    fn client(uris: &[&str]) -> Client {
        serde_json::from_value(
            json!({"metadata": {"name": "console"}, "spec": {"public": true, "redirect_uris": uris}}),
        )
        .unwrap()
    }

    #[test]
    fn redirect_uris_match_exactly_but_loopback_ports() {
        let c = client(&["https://tke.example.org/callback", "http://127.0.0.1/cb", "http://[::1]/cb"]);
        assert!(c.redirect_allowed("https://tke.example.org/callback"));
        assert!(!c.redirect_allowed("https://tke.example.org/callbacK"));
        assert!(!c.redirect_allowed("https://tke.example.org/callback/"));
        assert!(!c.redirect_allowed("https://tke.example.org:8443/callback"));
        assert!(c.redirect_allowed("http://127.0.0.1:49152/cb"));
        assert!(c.redirect_allowed("http://[::1]:8000/cb"));
        assert!(!c.redirect_allowed("http://127.0.0.1:49152/cb2"));
        assert!(!c.redirect_allowed("http://127.0.0.1.evil.org:80/cb"));
        assert!(!c.redirect_allowed("http://127.0.0.1:x/cb"));
        assert!(!c.redirect_allowed("http://[::1]:8000@evil.org/cb"));
    }

    #[test]
    fn validation() {
        let ctx = test_ctx("t1", true);
        let mut c = client(&["https://ok.example/cb", "http://evil.example/cb", "https://x/#frag"]);
        ClientStrategy.prepare_for_create(&ctx, &mut c).unwrap();
        assert_eq!(c.spec.id, "console");
        let fields: Vec<String> = ClientStrategy.validate(&ctx, &c).into_iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["spec.redirect_uris[1]", "spec.redirect_uris[2]"]);
        c.spec.public = false;
        let fields: Vec<String> = ClientStrategy.validate(&ctx, &c).into_iter().map(|e| e.field).collect();
        assert_eq!(fields[0], "spec.secret");
    }
}
