//! The audit policy of the platform's own API server: which requests are recorded and how much of
//! them, in Kubernetes' `audit.k8s.io/v1` `Policy` format (rules tried in order, the first that
//! matches gives the level; no match records nothing), read from `--audit-policy-file` or
//! [`Policy::default_policy`].
//!
//! Whatever the policy says, a request about a secret, a cluster credential, a notification
//! channel, an API key, or any `password` or `token` subresource is never recorded beyond
//! `Metadata`: their bodies carry credentials. The stages `RequestReceived` and `ResponseStarted`
//! are never emitted (as the reference's API servers do); each request gives one
//! `ResponseComplete` event, unless the policy omits that stage too.

use apiserver::{audit::Level, auth::Attributes};
use serde::Deserialize;

/// Resources whose bodies are never recorded.
pub const SENSITIVE_RESOURCES: [&str; 4] = ["secrets", "clustercredentials", "channels", "apikeys"];

/// Why a policy file was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("the audit policy is not a valid audit.k8s.io/v1 Policy: {0}")]
    Parse(String),
    #[error("the audit policy has kind {0:?}, expected Policy")]
    Kind(String),
    #[error("rule {index} of the audit policy: {problem}")]
    Rule { index: usize, problem: String },
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct GroupResources {
    group: String,
    resources: Vec<String>,
    resource_names: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    level: Level,
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    user_groups: Vec<String>,
    #[serde(default)]
    verbs: Vec<String>,
    #[serde(default)]
    resources: Vec<GroupResources>,
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(rename = "nonResourceURLs", default)]
    non_resource_urls: Vec<String>,
    #[serde(default)]
    omit_stages: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PolicyDoc {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    rules: Vec<Rule>,
    #[serde(default)]
    omit_stages: Vec<String>,
}

/// A parsed audit policy.
#[derive(Clone, Debug)]
pub struct Policy {
    rules: Vec<Rule>,
    omit_complete: bool,
}

/// The policy used without `--audit-policy-file`: probes, discovery and Leases are not
/// recorded, nor controllers' status updates; reads are recorded at `Metadata`, changes with
/// both bodies.
pub const DEFAULT_POLICY: &str = r#"apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived", "ResponseStarted"]
rules:
- level: None
  nonResourceURLs: ["/healthz*", "/readyz*", "/livez*", "/version", "/metrics", "/openapi*", "/api", "/api/*", "/apis", "/apis/*"]
- level: None
  resources: [{group: coordination.k8s.io, resources: [leases]}]
- level: None
  verbs: [update, patch]
  resources: [{group: "*", resources: ["*/status"]}]
- level: Metadata
  verbs: [get, list, watch]
- level: RequestResponse
"#;

impl Policy {
    /// Parses a policy (YAML or JSON).
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let doc: PolicyDoc = serde_yaml_ng::from_str(text).map_err(|e| PolicyError::Parse(e.to_string()))?;
        if !doc.kind.is_empty() && doc.kind != "Policy" {
            return Err(PolicyError::Kind(doc.kind));
        }
        for (index, rule) in doc.rules.iter().enumerate() {
            if !rule.non_resource_urls.is_empty() && (!rule.resources.is_empty() || !rule.namespaces.is_empty()) {
                return Err(PolicyError::Rule {
                    index,
                    problem: "nonResourceURLs cannot be combined with resources or namespaces".into(),
                });
            }
        }
        let omit_complete = doc.omit_stages.iter().any(|s| s == "ResponseComplete");
        Ok(Policy { rules: doc.rules, omit_complete })
    }

    /// [`DEFAULT_POLICY`].
    pub fn default_policy() -> Policy {
        Policy::parse(DEFAULT_POLICY).unwrap_or(Policy { rules: vec![], omit_complete: false })
    }

    /// The level of a request: the first matching rule's, capped at `Metadata` for sensitive
    /// resources.
    pub fn level(&self, a: &Attributes) -> Level {
        if self.omit_complete {
            return Level::None;
        }
        let Some(rule) = self.rules.iter().find(|r| r.matches(a)) else { return Level::None };
        if rule.omit_stages.iter().any(|s| s == "ResponseComplete") {
            return Level::None;
        }
        if is_sensitive(a) { rule.level.min(Level::Metadata) } else { rule.level }
    }
}

/// Secrets, cluster credentials, channels, API keys, and password or token subresources.
pub fn is_sensitive(a: &Attributes) -> bool {
    let sub = a.subresource.to_ascii_lowercase();
    SENSITIVE_RESOURCES.contains(&a.resource.as_str())
        || sub.contains("password")
        || sub.contains("token")
        || a.resource.contains("password")
        || a.resource.contains("token")
}

/// `*` anywhere as a suffix wildcard, as Kubernetes' nonResourceURLs.
fn url_matches(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => pattern == path,
    }
}

fn resource_matches(gr: &GroupResources, a: &Attributes) -> bool {
    if gr.group != "*" && gr.group != a.api_group {
        return false;
    }
    let full = a.full_resource();
    let resource_ok = gr.resources.is_empty()
        || gr.resources.iter().any(|r| {
            r == "*"
                || *r == full
                || (a.subresource.is_empty() && *r == a.resource)
                || r.strip_prefix("*/").is_some_and(|s| s == a.subresource && !a.subresource.is_empty())
                || r.strip_suffix("/*").is_some_and(|res| res == a.resource && !a.subresource.is_empty())
        });
    resource_ok && (gr.resource_names.is_empty() || gr.resource_names.contains(&a.name))
}

impl Rule {
    fn matches(&self, a: &Attributes) -> bool {
        if !self.users.is_empty() && !self.users.contains(&a.user.name) {
            return false;
        }
        if !self.user_groups.is_empty() && !a.user.groups.iter().any(|g| self.user_groups.contains(g)) {
            return false;
        }
        if !self.verbs.is_empty() && !self.verbs.iter().any(|v| v == "*" || *v == a.verb) {
            return false;
        }
        if !self.non_resource_urls.is_empty() {
            return !a.resource_request && self.non_resource_urls.iter().any(|p| url_matches(p, &a.path));
        }
        if !self.resources.is_empty() || !self.namespaces.is_empty() {
            if !a.resource_request {
                return false;
            }
            if !self.namespaces.is_empty() && !self.namespaces.contains(&a.namespace) {
                return false;
            }
            if !self.resources.is_empty() && !self.resources.iter().any(|gr| resource_matches(gr, a)) {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use apiserver::UserInfo;
    use axum::http::{Method, Uri};

    use super::*;

    fn attrs(method: Method, uri: &str) -> Attributes {
        let uri: Uri = uri.parse().unwrap();
        Attributes::from_request(&method, &uri, UserInfo { name: "alice".into(), ..Default::default() })
    }

    #[test]
    fn the_default_policy_skips_noise_and_records_changes_with_bodies() {
        let p = Policy::default_policy();
        assert!(!p.rules.is_empty());
        assert_eq!(p.level(&attrs(Method::GET, "/healthz")), Level::None);
        assert_eq!(p.level(&attrs(Method::GET, "/apis/platform.tkestack.io/v1")), Level::None);
        assert_eq!(p.level(&attrs(Method::PUT, "/apis/coordination.k8s.io/v1/namespaces/tke/leases/x")), Level::None);
        assert_eq!(p.level(&attrs(Method::PUT, "/apis/platform.tkestack.io/v1/clusters/c/status")), Level::None);
        assert_eq!(p.level(&attrs(Method::GET, "/api/v1/namespaces/default/configmaps")), Level::Metadata);
        assert_eq!(p.level(&attrs(Method::POST, "/api/v1/namespaces/default/configmaps")), Level::RequestResponse);
        assert_eq!(p.level(&attrs(Method::DELETE, "/apis/platform.tkestack.io/v1/clusters/c")), Level::RequestResponse);
    }

    #[test]
    fn credentials_are_never_recorded_beyond_metadata() {
        let p = Policy::parse("kind: Policy\nrules:\n- level: RequestResponse\n").unwrap();
        for uri in [
            "/api/v1/namespaces/default/secrets",
            "/apis/platform.tkestack.io/v1/clustercredentials",
            "/apis/notify.tkestack.io/v1/channels",
            "/apis/auth.tkestack.io/v1/apikeys",
            "/apis/auth.tkestack.io/v1/localidentities/bob/password",
            "/api/v1/namespaces/default/serviceaccounts/default/token",
        ] {
            assert_eq!(p.level(&attrs(Method::POST, uri)), Level::Metadata, "{uri}");
        }
        assert_eq!(p.level(&attrs(Method::POST, "/api/v1/namespaces/default/configmaps")), Level::RequestResponse);
    }

    #[test]
    fn rules_match_users_groups_verbs_resources_namespaces_and_urls() {
        let p = Policy::parse(
            r#"
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: None
  users: [system:kube-proxy]
- level: Request
  resources: [{group: "", resources: ["pods/log", "configmaps"], resourceNames: [cm1]}]
- level: Metadata
  namespaces: [kube-system]
- level: RequestResponse
  userGroups: [ops]
  resources: [{group: apps, resources: ["*/scale"]}]
- level: Metadata
  nonResourceURLs: ["/logs*"]
"#,
        )
        .unwrap();
        assert_eq!(p.level(&attrs(Method::GET, "/api/v1/namespaces/a/configmaps/cm1")), Level::Request);
        assert_eq!(p.level(&attrs(Method::GET, "/api/v1/namespaces/a/configmaps/cm2")), Level::None);
        assert_eq!(p.level(&attrs(Method::GET, "/api/v1/namespaces/kube-system/pods")), Level::Metadata);
        assert_eq!(p.level(&attrs(Method::GET, "/logs/x")), Level::Metadata);
        let mut a = attrs(Method::PUT, "/apis/apps/v1/namespaces/a/deployments/d/scale");
        assert_eq!(p.level(&a), Level::None);
        a.user.groups = vec!["ops".into()];
        assert_eq!(p.level(&a), Level::RequestResponse);
        a.user.name = "system:kube-proxy".into();
        assert_eq!(p.level(&a), Level::None);

        assert!(Policy::parse("kind: Pod").is_err());
        assert!(Policy::parse("rules: [{level: Loud}]").is_err());
        let e = Policy::parse("rules: [{level: None, nonResourceURLs: [/x], namespaces: [a]}]").unwrap_err();
        assert!(e.to_string().contains("rule 0"), "{e}");
        let quiet = Policy::parse("omitStages: [ResponseComplete]\nrules: [{level: Metadata}]").unwrap();
        assert_eq!(quiet.level(&attrs(Method::GET, "/api/v1/pods")), Level::None);
    }
}
