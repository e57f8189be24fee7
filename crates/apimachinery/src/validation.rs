//! The name grammars every component checks: Kubernetes' DNS-1123 labels and subdomains (with
//! the error texts Kubernetes answers with) and the OCI distribution spec's repository names
//! and tags. One copy of each, so that a name valid in one place is valid in all of them.

/// Longest DNS-1123 label (RFC 1123, and Kubernetes' `IsDNS1123Label`).
pub const DNS1123_LABEL_MAX_LENGTH: usize = 63;
/// Longest DNS-1123 subdomain (Kubernetes' `IsDNS1123Subdomain`, object names).
pub const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;

/// Kubernetes' text for a value that is not a DNS-1123 label.
pub const DNS1123_LABEL_ERROR: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
/// Kubernetes' text for a value that is not a DNS-1123 subdomain.
pub const DNS1123_SUBDOMAIN_ERROR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/// Kubernetes' text for a value longer than `max`.
pub fn max_len_error(max: usize) -> String {
    format!("must be no more than {max} characters")
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?` without a length limit: the shape shared by labels and the
/// dot-separated parts of subdomains.
fn is_label_shaped(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS-1123 label (`my-name`): lowercase letters, digits and `-`, starting and ending with a
/// letter or digit, at most 63 characters. Namespace names, registry namespaces, chart groups,
/// tenant host labels.
pub fn is_dns1123_label(s: &str) -> bool {
    s.len() <= DNS1123_LABEL_MAX_LENGTH && is_label_shaped(s)
}

/// A DNS-1123 subdomain as Kubernetes checks object names (`example.com`): at most 253
/// characters of dot-separated label-shaped parts. Like Kubernetes, the parts themselves are not
/// limited to 63 characters; [`is_dns_name`] adds that limit where the name must resolve.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= DNS1123_SUBDOMAIN_MAX_LENGTH && s.split('.').all(is_label_shaped)
}

/// A name DNS can serve (`cluster.local`): a DNS-1123 subdomain whose every part is a DNS-1123
/// label.
pub fn is_dns_name(s: &str) -> bool {
    s.len() <= DNS1123_SUBDOMAIN_MAX_LENGTH && s.split('.').all(is_dns1123_label)
}

/// Why `s` is not a DNS-1123 label, in Kubernetes' words (empty when it is one).
pub fn dns1123_label_errors(s: &str) -> Vec<String> {
    let mut errs = vec![];
    if s.len() > DNS1123_LABEL_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_LABEL_MAX_LENGTH));
    }
    if !is_label_shaped(s) {
        errs.push(DNS1123_LABEL_ERROR.to_string());
    }
    errs
}

/// Why `s` is not a DNS-1123 subdomain, in Kubernetes' words (empty when it is one).
pub fn dns1123_subdomain_errors(s: &str) -> Vec<String> {
    let mut errs = vec![];
    if s.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH));
    }
    if !s.split('.').all(is_label_shaped) {
        errs.push(DNS1123_SUBDOMAIN_ERROR.to_string());
    }
    errs
}

/// Longest OCI repository name.
pub const OCI_REPOSITORY_MAX_LENGTH: usize = 255;

/// An OCI distribution repository name (`library/busybox`, `team/app`): slash-separated
/// components of `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`, at most 255 characters in total.
pub fn is_oci_repository(name: &str) -> bool {
    !name.is_empty() && name.len() <= OCI_REPOSITORY_MAX_LENGTH && name.split('/').all(is_oci_path_component)
}

/// One `/`-separated component of an OCI repository name.
pub fn is_oci_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or one or more "-", always followed by alnum.
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

/// An OCI tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn is_oci_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    !b.is_empty() && b.len() <= 128 && word(b[0]) && b.iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        for ok in ["a", "team-1", "x0", "0", &"a".repeat(63)] {
            assert!(is_dns1123_label(ok), "{ok}");
            assert!(dns1123_label_errors(ok).is_empty(), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a.b", "a_b", &"a".repeat(64)] {
            assert!(!is_dns1123_label(bad), "{bad}");
        }
        assert_eq!(dns1123_label_errors(&"a".repeat(64)), vec!["must be no more than 63 characters"]);
        assert_eq!(dns1123_label_errors("A"), vec![DNS1123_LABEL_ERROR]);
    }

    #[test]
    fn subdomains_and_dns_names() {
        for ok in ["a", "cluster.local", "a-b.c0", &"a".repeat(64)] {
            assert!(is_dns1123_subdomain(ok), "{ok}");
        }
        for bad in ["", ".a", "a.", "a..b", "A.b", "-a.b", "a_b", &"a".repeat(254)] {
            assert!(!is_dns1123_subdomain(bad), "{bad}");
        }
        assert!(is_dns_name("cluster.local"));
        assert!(!is_dns_name(&format!("{}.local", "a".repeat(64))));
        assert_eq!(dns1123_subdomain_errors(&"a".repeat(254)), vec!["must be no more than 253 characters"]);
        assert_eq!(dns1123_subdomain_errors("Foo"), vec![DNS1123_SUBDOMAIN_ERROR]);
    }

    #[test]
    fn oci_repository_names() {
        for ok in ["a", "library/busybox", "t1-ns/app", "a.b/c__d/e-f--g", "x/y/z/w", "team/app", "x-y--z"] {
            assert!(is_oci_repository(ok), "{ok}");
        }
        for bad in ["", "A", "App", "a/", "/a", "a//b", "a..b", "-a", "a-", "a___b", "a/_b", "a:b"] {
            assert!(!is_oci_repository(bad), "{bad}");
        }
    }

    #[test]
    fn oci_tags() {
        assert!(is_oci_tag("v1.0-rc_1"));
        assert!(is_oci_tag("_x"));
        assert!(!is_oci_tag(".x"));
        assert!(!is_oci_tag(""));
        assert!(!is_oci_tag(&"a".repeat(129)));
    }
}
