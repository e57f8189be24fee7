//! Pieces shared by the identity kinds of `auth.tkestack.io/v1` (LocalIdentity, LocalGroup,
//! APIKey, IdentityProvider): the username rule, the `{id, name}` subject references of group
//! members and policy bindings, and the phases of objects removed through finalizers.

use apimachinery::FieldError;

#[cfg(feature = "server")]
pub use crate::platform::common::tenant_for_create;
pub use crate::platform::common::{
    ObjectMeta, check_immutable, check_tenant_unchanged, default_generate_name, meta_str,
};

/// The longest username: enough for e-mail addresses used as usernames by LDAP and OIDC tenants.
pub const MAX_USERNAME: usize = 128;

pub const USERNAME_RULE: &str =
    "a username must be 1 to 128 characters: letters, digits, '.', '_', '-' and '@', starting with a letter or digit";

/// Whether `s` may be a username (local, or as an LDAP or upstream OpenID provider gives it).
pub fn is_username(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_USERNAME
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

/// Checks a required username field.
pub fn check_username(field: &str, value: &str, errs: &mut Vec<FieldError>) {
    if value.is_empty() {
        errs.push(FieldError::required(field, "the username is required"));
    } else if !is_username(value) {
        errs.push(FieldError::invalid(field, value, USERNAME_RULE));
    }
}

/// Checks an optional free-text field shown in the console (display names, descriptions).
pub fn check_text(field: &str, value: &str, max: usize, errs: &mut Vec<FieldError>) {
    if value.chars().count() > max {
        errs.push(FieldError::too_long(field, max));
    }
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        errs.push(FieldError::invalid(field, value.escape_debug(), "control characters are not allowed"));
    }
}

pub use super::common::Subject;

pub use super::common::phase;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["admin", "alice.smith", "bob_1", "carol@example.org", "D-2"] {
            assert!(is_username(ok), "{ok}");
        }
        for bad in ["", "-a", ".a", "a b", "a/b", "a:b", "ü", &"a".repeat(129)] {
            assert!(!is_username(bad), "{bad}");
        }
    }
}
