//! Pieces shared by the `registry.tkestack.io/v1` resources: visibilities, repository types,
//! the name rules of registry namespaces, repositories and charts, and the group's own
//! `configmaps` (component settings, as every TKEStack group has).

use apimachinery::FieldError;
#[cfg(feature = "server")]
use apiserver::ResourceDef;

#[cfg(feature = "server")]
pub use crate::platform::common::tenant_for_create;
pub use crate::platform::common::{
    ObjectMeta, check_immutable, check_tenant_unchanged, default_generate_name, meta_str,
};

/// Who may pull from a namespace or repository, and see a chart group.
pub mod visibility {
    /// Everyone, also anonymous callers.
    pub const PUBLIC: &str = "Public";
    /// Only the listed users (`spec.users` of a chart group).
    pub const USER: &str = "User";
    /// Only members of the listed projects (`spec.projects` of a chart group).
    pub const PROJECT: &str = "Project";
    /// Only users of the owning tenant.
    pub const PRIVATE: &str = "Private";
}

/// Visibilities of image namespaces and repositories.
pub const IMAGE_VISIBILITIES: &[&str] = &[visibility::PUBLIC, visibility::PRIVATE];
/// Visibilities of chart groups and charts.
pub const CHART_VISIBILITIES: &[&str] =
    &[visibility::PUBLIC, visibility::USER, visibility::PROJECT, visibility::PRIVATE];

pub use apimachinery::validation::is_dns1123_label as is_dns_label;

pub const DNS_LABEL_RULE: &str = "must consist of lowercase letters, digits and '-', start and end with a letter or digit, and be at most 63 characters";

/// A repository path inside a namespace as the OCI distribution spec allows it (`app` or
/// `team/app`): slash-separated components of lowercase letters and digits joined by `.`, `_`,
/// `__` or runs of `-`.
pub fn is_repository_path(s: &str) -> bool {
    apimachinery::validation::is_oci_repository(s)
}

pub const REPOSITORY_PATH_RULE: &str = "must be a repository path such as \"app\" or \"team/app\": lowercase letters and digits, separated by '.', '_', '__', '-' or '/'";

/// Checks a required name field that is a DNS label.
pub fn check_label(field: &str, value: &str, what: &str, errs: &mut Vec<FieldError>) {
    if value.is_empty() {
        errs.push(FieldError::required(field, format!("the name of the {what} is required")));
    } else if !is_dns_label(value) {
        errs.push(FieldError::invalid(field, value, DNS_LABEL_RULE));
    }
}

/// Checks a visibility field against the allowed values.
pub fn check_visibility(field: &str, value: &str, allowed: &[&str], errs: &mut Vec<FieldError>) {
    if !allowed.contains(&value) {
        errs.push(FieldError::not_supported(field, value, allowed));
    }
}

/// The group's `configmaps` (`cm`): the same resource as the platform group's, served under
/// `registry.tkestack.io/v1`.
#[cfg(feature = "server")]
pub fn config_map_definition() -> ResourceDef {
    let mut def = crate::platform::config_map::definition();
    def.group = super::GROUP;
    def.version = super::VERSION;
    def
}

/// A fresh context for tests: a user of the given tenant, or an administrator.
#[cfg(test)]
pub fn test_ctx(tenant: &str, admin: bool) -> apiserver::Context {
    crate::platform::common::test_ctx(tenant, admin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "team-1", "x0"] {
            assert!(is_dns_label(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a.b", "a_b", &"a".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
        for ok in ["app", "team/app", "a.b/c__d", "x-y--z"] {
            assert!(is_repository_path(ok), "{ok}");
        }
        for bad in ["", "App", "a/", "/a", "a//b", "a..b", "a:b"] {
            assert!(!is_repository_path(bad), "{bad}");
        }
    }
}
