//! Request bodies of the policy model's subresources, with TKEStack's JSON names: the subjects
//! to bind or unbind (`policies/{name}/binding`, `roles/{name}/binding`,
//! `localgroups/{name}/binding`, `projects/{name}/binding`, and their `unbinding`), the policies
//! to add to or remove from a role (`roles/{name}/policybinding`), and the policies and subjects
//! of a project (`policies/{name}/projectbinding`, `projects/{name}/binding`), and a password
//! change (`localidentities/{name}/password`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Subject, null_as_default};

/// Users and groups to bind to (or unbind from) a policy, role, group or project.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Binding {
    /// `auth.tkestack.io/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `Binding`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The users. Always written (TKEStack's type writes it even when empty).
    #[serde(default, deserialize_with = "null_as_default")]
    pub users: Vec<Subject>,
    /// The groups.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Subject>,
}

/// Policies to add to (or remove from) a role.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyBinding {
    /// `auth.tkestack.io/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `PolicyBinding`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Names of the policies.
    #[serde(default, deserialize_with = "null_as_default")]
    pub policies: Vec<String>,
}

/// Policies and the users and groups to bind them to inside a project: one
/// ProjectPolicyBinding per policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectPolicyBindingRequest {
    /// `auth.tkestack.io/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `ProjectPolicyBindingRequest`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Tenant of the project; the caller's when empty.
    #[serde(rename = "tenantID", default, skip_serializing_if = "String::is_empty")]
    pub tenant_id: String,
    /// Names of the project-scoped policies.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// The users.
    #[serde(default, deserialize_with = "null_as_default")]
    pub users: Vec<Subject>,
    /// The groups.
    #[serde(default, deserialize_with = "null_as_default")]
    pub groups: Vec<Subject>,
}

/// A password change (`localidentities/{name}/password`). Both passwords are base64-encoded,
/// as in TKEStack's `hashedPassword` field; the old one may be left out by administrators.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordReq {
    /// `auth.tkestack.io/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `PasswordReq`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The new password, base64-encoded (or a bcrypt/argon2id hash, when importing).
    #[serde(default)]
    pub hashed_password: String,
    /// The current password, base64-encoded.
    #[serde(default)]
    pub original_password: String,
}

/// Never shows the passwords (requests end up in logs and panics).
impl std::fmt::Debug for PasswordReq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordReq")
            .field("hashed_password", &"(hidden)")
            .field("original_password", &"(hidden)")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// Decodes `input`, checks the decoded value, and that encoding gives `output`.
    fn round_trip<T>(input: Value, expected: &T, output: Value)
    where
        T: serde::de::DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
    {
        let decoded: T = serde_json::from_value(input).unwrap();
        assert_eq!(&decoded, expected);
        assert_eq!(serde_json::to_value(&decoded).unwrap(), output);
        let again: T = serde_json::from_value(output).unwrap();
        assert_eq!(&again, expected);
    }

    #[test]
    fn binding() {
        let expected = Binding {
            users: vec![Subject::new("usr-a", "alice")],
            groups: vec![Subject::new("grp-b", "ops")],
            ..Default::default()
        };
        round_trip(
            json!({"users": [{"id": "usr-a", "name": "alice"}], "groups": [{"id": "grp-b", "name": "ops"}]}),
            &expected,
            json!({"users": [{"id": "usr-a", "name": "alice"}], "groups": [{"id": "grp-b", "name": "ops"}]}),
        );
        // Go clients send null for an empty list; TKEStack writes users always, groups only
        // when there are some.
        round_trip(json!({"users": null, "groups": null}), &Binding::default(), json!({"users": []}));
        let only_groups: Binding = serde_json::from_value(json!({"groups": [{"id": "grp-b"}]})).unwrap();
        assert_eq!(only_groups.groups, vec![Subject::new("grp-b", "")]);
    }

    #[test]
    fn policy_binding() {
        let expected = PolicyBinding {
            api_version: Some("auth.tkestack.io/v1".into()),
            kind: Some("PolicyBinding".into()),
            policies: vec!["pol-a".into(), "pol-b".into()],
        };
        let body =
            json!({"apiVersion": "auth.tkestack.io/v1", "kind": "PolicyBinding", "policies": ["pol-a", "pol-b"]});
        round_trip(body.clone(), &expected, body);
        round_trip(json!({"policies": null}), &PolicyBinding::default(), json!({"policies": []}));
    }

    #[test]
    fn project_policy_binding_request() {
        let expected = ProjectPolicyBindingRequest {
            tenant_id: "t1".into(),
            policies: vec!["pol-t1-project-member".into()],
            users: vec![Subject::new("usr-a", "alice")],
            ..Default::default()
        };
        round_trip(
            json!({"tenantID": "t1", "policies": ["pol-t1-project-member"], "users": [{"id": "usr-a", "name": "alice"}], "groups": null}),
            &expected,
            json!({"tenantID": "t1", "policies": ["pol-t1-project-member"], "users": [{"id": "usr-a", "name": "alice"}], "groups": []}),
        );
        round_trip(json!({}), &ProjectPolicyBindingRequest::default(), json!({"users": [], "groups": []}));
    }

    #[test]
    fn password_req() {
        let expected = PasswordReq {
            hashed_password: "bmV3LXBhc3N3b3Jk".into(),
            original_password: "b2xkLXBhc3N3b3Jk".into(),
            ..Default::default()
        };
        round_trip(
            json!({"hashedPassword": "bmV3LXBhc3N3b3Jk", "originalPassword": "b2xkLXBhc3N3b3Jk"}),
            &expected,
            json!({"hashedPassword": "bmV3LXBhc3N3b3Jk", "originalPassword": "b2xkLXBhc3N3b3Jk"}),
        );
        assert!(!format!("{expected:?}").contains("bmV3"), "passwords stay out of debug output");
    }
}
