//! Kubernetes RBAC for simulated clusters (on with [`crate::SimOptions::rbac`]): a request is
//! allowed when a ClusterRoleBinding, or a RoleBinding of its namespace, binds the user (or one
//! of its groups, or its service account) to a ClusterRole or Role with a rule that covers the
//! verb, API group, resource (`resource/subresource`), name, or non-resource URL — as
//! kube-apiserver's RBAC authorizer decides. Platform administrators (`system:masters`) may do
//! anything, as in Kubernetes. Objects are read from the cluster's own stores at each decision:
//! a simulated cluster is small, and a grant applies the moment it is written.

use std::sync::Arc;

use apiserver::{
    ApiServer,
    auth::{Attributes, Authorizer, Decision},
    resource::{Context, UserInfo},
    store::ListOptions,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject};
use serde::de::DeserializeOwned;

const GROUP: &str = "rbac.authorization.k8s.io";

/// Decides by the cluster's RBAC objects.
pub struct RbacAuthorizer {
    server: Arc<ApiServer>,
}

impl RbacAuthorizer {
    pub fn new(server: Arc<ApiServer>) -> Self {
        RbacAuthorizer { server }
    }

    async fn list<T: DeserializeOwned>(&self, plural: &str, namespace: Option<&str>) -> Vec<T> {
        let Some(store) = self.server.resource_store(GROUP, "v1", plural) else { return vec![] };
        let ctx = Context::system("system:kubesim:rbac", namespace);
        match store.list(&ctx, &ListOptions::default()).await {
            Ok(l) => l.items.iter().filter_map(|i| serde_json::from_slice(&i.value).ok()).collect(),
            Err(e) => {
                tracing::warn!(error = %e, plural, "RBAC cannot read its objects; refusing");
                vec![]
            }
        }
    }

    async fn rules_of(&self, role: &RoleRef, namespace: Option<&str>) -> Vec<PolicyRule> {
        let named = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
            meta.name.as_deref() == Some(role.name.as_str())
        };
        match (role.kind.as_str(), namespace) {
            ("ClusterRole", _) => self
                .list::<ClusterRole>("clusterroles", None)
                .await
                .into_iter()
                .find(|r| named(&r.metadata))
                .and_then(|r| r.rules)
                .unwrap_or_default(),
            ("Role", Some(ns)) => self
                .list::<Role>("roles", Some(ns))
                .await
                .into_iter()
                .find(|r| named(&r.metadata))
                .and_then(|r| r.rules)
                .unwrap_or_default(),
            _ => vec![],
        }
    }
}

/// Whether a binding's subject is the user.
pub fn subject_matches(s: &Subject, user: &UserInfo, binding_namespace: Option<&str>) -> bool {
    match s.kind.as_str() {
        "User" => s.name == user.name,
        // Every authenticated user is in `system:authenticated`, whether or not its groups say so.
        "Group" => {
            user.groups.contains(&s.name) || (s.name == "system:authenticated" && user.name != "system:anonymous")
        }
        "ServiceAccount" => {
            let ns = s.namespace.as_deref().or(binding_namespace).unwrap_or_default();
            user.name == format!("system:serviceaccount:{ns}:{}", s.name)
        }
        _ => false,
    }
}

fn covers(list: Option<&Vec<String>>, value: &str) -> bool {
    list.is_some_and(|l| l.iter().any(|x| x == "*" || x == value))
}

/// Whether a rule allows the request.
pub fn rule_allows(rule: &PolicyRule, a: &Attributes) -> bool {
    if !rule.verbs.iter().any(|v| v == "*" || *v == a.verb) {
        return false;
    }
    if !a.resource_request {
        return rule.non_resource_urls.as_ref().is_some_and(|urls| {
            urls.iter().any(|u| u == "*" || *u == a.path || u.strip_suffix('*').is_some_and(|p| a.path.starts_with(p)))
        });
    }
    if !covers(rule.api_groups.as_ref(), &a.api_group) {
        return false;
    }
    let resource =
        if a.subresource.is_empty() { a.resource.clone() } else { format!("{}/{}", a.resource, a.subresource) };
    let resources_ok = rule.resources.as_ref().is_some_and(|rs| {
        rs.iter().any(|r| {
            r == "*"
                || *r == resource
                || (!a.subresource.is_empty() && *r == format!("*/{}", a.subresource))
                || (a.subresource.is_empty() && *r == format!("{}/*", a.resource))
        })
    });
    if !resources_ok {
        return false;
    }
    match rule.resource_names.as_deref() {
        None | Some([]) => true,
        Some(names) => names.contains(&a.name),
    }
}

#[async_trait::async_trait]
impl Authorizer for RbacAuthorizer {
    async fn authorize(&self, a: &Attributes) -> Decision {
        if a.user.is_admin() {
            return Decision::Allow;
        }
        let cluster_bindings = self.list::<ClusterRoleBinding>("clusterrolebindings", None).await;
        for b in cluster_bindings {
            if b.subjects.iter().flatten().any(|s| subject_matches(s, &a.user, None))
                && self.rules_of(&b.role_ref, None).await.iter().any(|r| rule_allows(r, a))
            {
                return Decision::Allow;
            }
        }
        if a.resource_request && !a.namespace.is_empty() {
            let ns = a.namespace.as_str();
            for b in self.list::<RoleBinding>("rolebindings", Some(ns)).await {
                if b.subjects.iter().flatten().any(|s| subject_matches(s, &a.user, Some(ns)))
                    && self.rules_of(&b.role_ref, Some(ns)).await.iter().any(|r| rule_allows(r, a))
                {
                    return Decision::Allow;
                }
            }
        }
        Decision::Deny(String::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(verb: &str, group: &str, resource: &str, sub: &str, name: &str) -> Attributes {
        Attributes {
            user: UserInfo { name: "bob".into(), groups: vec!["dev".into()], ..Default::default() },
            verb: verb.into(),
            resource_request: true,
            path: String::new(),
            api_group: group.into(),
            api_version: "v1".into(),
            namespace: "default".into(),
            resource: resource.into(),
            subresource: sub.into(),
            name: name.into(),
        }
    }

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str]) -> PolicyRule {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        PolicyRule {
            verbs: v(verbs),
            api_groups: Some(v(groups)),
            resources: Some(v(resources)),
            resource_names: (!names.is_empty()).then(|| v(names)),
            non_resource_urls: None,
        }
    }

    #[test]
    fn rules_cover_verbs_groups_resources_and_names() {
        let read_pods = rule(&["get", "list"], &[""], &["pods"], &[]);
        assert!(rule_allows(&read_pods, &attrs("list", "", "pods", "", "")));
        assert!(!rule_allows(&read_pods, &attrs("delete", "", "pods", "", "p")));
        assert!(!rule_allows(&read_pods, &attrs("get", "apps", "pods", "", "p")));
        assert!(!rule_allows(&read_pods, &attrs("get", "", "pods", "log", "p")), "subresources are named");
        assert!(rule_allows(&rule(&["get"], &[""], &["pods/log"], &[]), &attrs("get", "", "pods", "log", "p")));
        assert!(rule_allows(&rule(&["*"], &["*"], &["*"], &[]), &attrs("delete", "apps", "deployments", "", "d")));
        let one = rule(&["get"], &[""], &["configmaps"], &["cfg"]);
        assert!(rule_allows(&one, &attrs("get", "", "configmaps", "", "cfg")));
        assert!(!rule_allows(&one, &attrs("get", "", "configmaps", "", "other")));
        let urls = PolicyRule {
            verbs: vec!["get".into()],
            non_resource_urls: Some(vec!["/healthz".into(), "/metrics/*".into()]),
            ..Default::default()
        };
        let mut a = attrs("get", "", "", "", "");
        a.resource_request = false;
        a.path = "/metrics/cadvisor".into();
        assert!(rule_allows(&urls, &a));
        a.path = "/version".into();
        assert!(!rule_allows(&urls, &a));
    }

    #[test]
    fn subjects() {
        let user = UserInfo { name: "bob".into(), groups: vec!["dev".into()], ..Default::default() };
        let s = |kind: &str, name: &str, ns: Option<&str>| Subject {
            kind: kind.into(),
            name: name.into(),
            namespace: ns.map(str::to_string),
            api_group: None,
        };
        assert!(subject_matches(&s("User", "bob", None), &user, None));
        assert!(!subject_matches(&s("User", "eve", None), &user, None));
        assert!(subject_matches(&s("Group", "dev", None), &user, None));
        assert!(!subject_matches(&s("Group", "ops", None), &user, None));
        assert!(subject_matches(&s("Group", "system:authenticated", None), &user, None));
        let anonymous = UserInfo { name: "system:anonymous".into(), ..Default::default() };
        assert!(!subject_matches(&s("Group", "system:authenticated", None), &anonymous, None));
        let sa = UserInfo { name: "system:serviceaccount:ns1:builder".into(), ..Default::default() };
        assert!(subject_matches(&s("ServiceAccount", "builder", Some("ns1")), &sa, None));
        assert!(subject_matches(&s("ServiceAccount", "builder", None), &sa, Some("ns1")));
        assert!(!subject_matches(&s("ServiceAccount", "builder", None), &sa, Some("ns2")));
    }
}
