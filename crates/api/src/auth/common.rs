//! Pieces shared by the policy model of `auth.tkestack.io/v1`: subjects (the users and groups a
//! policy, role or binding applies to), lifecycle phases, finalizer names, and the checks whose
//! messages users see in `Invalid` errors (display names, Casbin patterns, object references).

use apimachinery::FieldError;
use apimachinery::validation::{dns1123_subdomain_errors, is_dns1123_subdomain};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

#[cfg(feature = "server")]
pub use crate::platform::common::tenant_for_create;
pub use crate::platform::common::{
    ObjectMeta, TenantOwned, check_immutable, check_tenant_unchanged, decode_base64, default_generate_name, meta_str,
};
#[cfg(feature = "server")]
pub use crate::platform::common::{tenant_scoped, validate_tenant_update};
#[cfg(feature = "server")]
use {apimachinery::ApiError, apiserver::Context};

/// Phases of policies, roles and bindings (`status.phase`).
pub mod phase {
    /// In force: the controllers keep its Casbin rows.
    pub const ACTIVE: &str = "Active";
    /// Deleted; kept until the controller has removed its rows and cleared `spec.finalizers`.
    pub const TERMINATING: &str = "Terminating";
    /// A LocalIdentity whose bindings are being removed (TKEStack's word for users).
    pub const DELETING: &str = "Deleting";
}

/// The `spec.finalizers` entries the server sets on create, one per kind (TKEStack's names), so
/// that a deleted object stays until its controller has removed the Casbin rows it produced.
pub mod finalizer {
    pub const POLICY: &str = "policy";
    pub const ROLE: &str = "role";
    pub const PROJECT_POLICY_BINDING: &str = "projectpolicybinding";
    pub const CUSTOM_POLICY_BINDING: &str = "custompolicybinding";
}

/// The separator of Casbin subject keys (`{tenantID}##user##{name}`); a subject containing it
/// could be read back as another key, so it is refused in ids and names.
pub const SUBJECT_KEY_SEPARATOR: &str = "##";

/// Longest display name, as TKEStack allows.
pub const DISPLAY_NAME_MAX_LENGTH: usize = 255;

/// Reads `null` as the field's default. TKEStack's Go types have no `omitempty` on most lists,
/// so its clients send `"users": null` for an empty list; that must decode as `[]`.
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A user or group a policy, role or binding applies to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Subject {
    /// Identifier of the user or group in its tenant (the LocalIdentity or LocalGroup name, or
    /// the identity provider's id).
    #[serde(default)]
    pub id: String,
    /// User name or group display name; for users the name in Casbin subject keys.
    #[serde(default)]
    pub name: String,
}

impl Subject {
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        Self { id: id.into(), name: name.into() }
    }

    /// What identifies the subject: its id, or its name when it has no id yet (the controller
    /// fills the other from the identity provider).
    pub fn key(&self) -> &str {
        if self.id.is_empty() { &self.name } else { &self.id }
    }
}

/// Removes repeated subjects (same id, or same name when there is no id), keeping the first
/// occurrence and the order, so that binding the same user twice is not an error.
pub fn dedup_subjects(subjects: &mut Vec<Subject>) {
    let mut seen = std::collections::HashSet::new();
    subjects.retain(|s| seen.insert(s.key().to_string()));
}

/// Checks a list of subjects: each names an id or a name, neither contains the Casbin key
/// separator, and none is listed twice.
pub fn check_subjects(field: &str, subjects: &[Subject], errs: &mut Vec<FieldError>) {
    let mut seen = std::collections::HashSet::new();
    for (i, s) in subjects.iter().enumerate() {
        let path = format!("{field}[{i}]");
        if s.id.trim().is_empty() && s.name.trim().is_empty() {
            errs.push(FieldError::required(format!("{path}.id"), "a subject needs an id or a name"));
            continue;
        }
        for (part, value) in [("id", &s.id), ("name", &s.name)] {
            if value.contains(SUBJECT_KEY_SEPARATOR) {
                errs.push(FieldError::invalid(
                    format!("{path}.{part}"),
                    value,
                    format!("must not contain \"{SUBJECT_KEY_SEPARATOR}\" (the separator of subject keys)"),
                ));
            }
        }
        if !seen.insert(s.key()) {
            errs.push(FieldError::duplicate(path, s.key()));
        }
    }
}

/// Checks a required display name (at most 255 characters).
pub fn check_display_name(field: &str, value: &str, errs: &mut Vec<FieldError>) {
    if value.trim().is_empty() {
        errs.push(FieldError::required(field, "a display name is required"));
    } else if value.chars().count() > DISPLAY_NAME_MAX_LENGTH {
        errs.push(FieldError::too_long(field, DISPLAY_NAME_MAX_LENGTH));
    }
}

/// Whether a Casbin action or resource pattern (`createCluster`, `get*`,
/// `cluster:cls-a/namespace:*`) is usable: not empty, no whitespace or control characters
/// (they would never match a request and only hide typing mistakes).
pub fn is_pattern(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Checks a non-empty list of Casbin patterns; `what` names one entry (`action`, `resource`).
pub fn check_patterns(field: &str, values: &[String], what: &str, errs: &mut Vec<FieldError>) {
    if values.is_empty() {
        errs.push(FieldError::required(field, format!("at least one {what} is required")));
    }
    for (i, v) in values.iter().enumerate() {
        if v.is_empty() {
            errs.push(FieldError::required(format!("{field}[{i}]"), format!("an empty {what} matches nothing")));
        } else if !is_pattern(v) {
            errs.push(FieldError::invalid(
                format!("{field}[{i}]"),
                v.escape_debug(),
                format!("a {what} must not contain whitespace or control characters"),
            ));
        }
    }
}

/// Checks a required reference to another object by name (a DNS-1123 subdomain).
pub fn check_reference(field: &str, value: &str, what: &str, errs: &mut Vec<FieldError>) {
    if value.is_empty() {
        errs.push(FieldError::required(field, format!("the name of the {what} is required")));
    } else {
        check_optional_reference(field, value, errs);
    }
}

/// Checks an optional reference to another object by name.
pub fn check_optional_reference(field: &str, value: &str, errs: &mut Vec<FieldError>) {
    if !value.is_empty() && !is_dns1123_subdomain(value) {
        errs.push(FieldError::invalid(field, value, dns1123_subdomain_errors(value).join("; ")));
    }
}

/// Refuses a write of a caller who is not a platform administrator: for objects only the
/// platform and its controllers (which run as administrators) may write.
#[cfg(feature = "server")]
pub fn require_admin(ctx: &Context, resource: &str, name: &str, what: &str) -> Result<(), ApiError> {
    if ctx.user.is_admin() {
        return Ok(());
    }
    Err(ApiError::forbidden(
        super::GROUP,
        resource,
        name,
        &format!(
            "User \"{}\" cannot write {resource}: {what} only platform administrators may write them",
            ctx.user.name
        ),
    ))
}

/// A fresh context for tests: a user of the given tenant, or an administrator.
#[cfg(test)]
pub fn test_ctx(tenant: &str, admin: bool) -> apiserver::Context {
    crate::platform::common::test_ctx(tenant, admin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(errs: &[FieldError]) -> Vec<&str> {
        errs.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn subjects_are_deduplicated_and_checked() {
        let mut subjects = vec![
            Subject::new("u1", "alice"),
            Subject::new("", "bob"),
            Subject::new("u1", "again"),
            Subject::new("", "bob"),
        ];
        dedup_subjects(&mut subjects);
        assert_eq!(subjects, vec![Subject::new("u1", "alice"), Subject::new("", "bob")]);

        let mut errs = vec![];
        check_subjects("spec.users", &subjects, &mut errs);
        assert!(errs.is_empty(), "{errs:?}");
        let bad = vec![
            Subject::default(),
            Subject::new("x##group##admins", ""),
            Subject::new("u1", ""),
            Subject::new("u1", ""),
        ];
        check_subjects("spec.users", &bad, &mut errs);
        assert_eq!(fields(&errs), vec!["spec.users[0].id", "spec.users[1].id", "spec.users[3]"]);
    }

    #[test]
    fn patterns_and_names() {
        for ok in ["createCluster", "*", "get*", "cluster:cls-a/namespace:*", "-"] {
            assert!(is_pattern(ok), "{ok}");
        }
        for bad in ["", "create Cluster", "a\tb", "x\n", "\u{7f}"] {
            assert!(!is_pattern(bad), "{bad:?}");
        }
        let mut errs = vec![];
        check_patterns("spec.statement.actions", &[], "action", &mut errs);
        check_patterns("spec.statement.resources", &["*".into(), "".into(), "a b".into()], "resource", &mut errs);
        assert_eq!(
            fields(&errs),
            vec!["spec.statement.actions", "spec.statement.resources[1]", "spec.statement.resources[2]"]
        );

        let mut errs = vec![];
        check_display_name("spec.displayName", " ", &mut errs);
        check_display_name("spec.displayName", &"x".repeat(256), &mut errs);
        check_display_name("spec.displayName", "集群管理员", &mut errs);
        check_reference("spec.policyID", "", "policy", &mut errs);
        check_reference("spec.policyID", "Pol_1", "policy", &mut errs);
        check_reference("spec.policyID", "pol-default-administrator", "policy", &mut errs);
        assert_eq!(fields(&errs), vec!["spec.displayName", "spec.displayName", "spec.policyID", "spec.policyID"]);
    }

    #[test]
    fn only_administrators_pass_require_admin() {
        assert!(require_admin(&test_ctx("t1", true), "rules", "", "").is_ok());
        let e = require_admin(&test_ctx("t1", false), "rules", "rul-1", "Casbin rows are derived;").unwrap_err();
        assert_eq!(e.reason, apimachinery::error::Reason::Forbidden);
        assert!(e.message.contains("\"alice\"") && e.message.contains("rules.auth.tkestack.io"), "{}", e.message);
    }
}
