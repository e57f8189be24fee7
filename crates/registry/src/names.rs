//! Repository names and references as the OCI distribution spec constrains them.

/// Whether `name` is a valid repository name (the grammar lives in `apimachinery`, shared
/// with the API objects that name repositories).
pub use apimachinery::validation::is_oci_repository as valid_repository;
/// Whether `tag` is a valid tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub use apimachinery::validation::is_oci_tag as valid_tag;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names() {
        for ok in ["a", "library/busybox", "t1-ns/app", "a.b/c__d/e-f--g", "x/y/z/w"] {
            assert!(valid_repository(ok), "{ok}");
        }
        for bad in ["", "A", "a/", "/a", "a//b", "a..b", "-a", "a-", "a___b", "a/_b", "a:b"] {
            assert!(!valid_repository(bad), "{bad}");
        }
    }

    #[test]
    fn tags() {
        assert!(valid_tag("v1.0-rc_1"));
        assert!(valid_tag("_x"));
        assert!(!valid_tag(".x"));
        assert!(!valid_tag(""));
        assert!(!valid_tag(&"a".repeat(129)));
    }
}
