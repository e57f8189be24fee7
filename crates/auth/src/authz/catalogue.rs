//! The default policy catalogue and the action categories every tenant starts with (reference
//! 3.3), kept as data: `catalogue/policies.json` and `catalogue/categories.json`, embedded in the
//! binary. The auth controller creates, for each tenant, the Category objects and the default
//! Policy objects [`default_policies`] gives (the name template `{tenantID}` substituted).
//!
//! Every action the files name is one [`super::attributes`] derives for a resource we serve or
//! reach ([`super::attributes::derivable_actions`]), so a policy never names an action no
//! request can have; the tests check it. Policies name the exact actions of their category
//! rather than TKEStack's `*Cluster*`-style patterns, which also matched `Clusterrole…` and
//! `Clustercredential…`; patterns remain where they are the point (`*`, `get*`).

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::enforcer::{Effect, Row};

const POLICIES_JSON: &str = include_str!("catalogue/policies.json");
const CATEGORIES_JSON: &str = include_str!("catalogue/categories.json");

/// The placeholder of the tenant's id in the catalogue's names.
pub const TENANT_PLACEHOLDER: &str = "{tenantID}";

/// Where a policy applies: platform-wide (bound in domain `*`) or in projects (bound in a
/// project's domain).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Platform,
    Project,
}

/// `allow` or `deny`, as Policy objects spell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatementEffect {
    Allow,
    Deny,
}

impl From<StatementEffect> for Effect {
    fn from(e: StatementEffect) -> Self {
        match e {
            StatementEffect::Allow => Effect::Allow,
            StatementEffect::Deny => Effect::Deny,
        }
    }
}

/// What a policy allows or denies: every action on every resource listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    pub effect: StatementEffect,
}

impl Statement {
    /// The policy's `p` rows: one per action and resource (`p, <policy>, *, <resource>,
    /// <action>, <effect>`), as the Policy controller keeps them in Rule objects.
    pub fn rows(&self, policy_name: &str) -> Vec<Row> {
        let effect = self.effect.into();
        self.resources
            .iter()
            .flat_map(|r| self.actions.iter().map(move |a| Row::policy(policy_name, r, a, effect)))
            .collect()
    }
}

/// A catalogue entry, its name still a template.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PolicyTemplate {
    name: String,
    display_name: String,
    category: String,
    scope: Scope,
    description: String,
    statement: Statement,
}

/// A default policy of one tenant: the fields of a Policy object's spec (type `default`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DefaultPolicy {
    /// The object's name (`pol-<tenant>-…`).
    pub name: String,
    pub display_name: String,
    #[serde(rename = "tenantID")]
    pub tenant_id: String,
    pub category: String,
    pub scope: Scope,
    /// Always `default`.
    #[serde(rename = "type")]
    pub policy_type: &'static str,
    pub description: String,
    pub statement: Statement,
}

/// One action of a category, as the policy editor offers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryAction {
    pub name: String,
    pub description: String,
}

/// A category: the fields of a Category object (its name and spec).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Category {
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub actions: Vec<CategoryAction>,
}

fn templates() -> &'static [PolicyTemplate] {
    static T: OnceLock<Vec<PolicyTemplate>> = OnceLock::new();
    // The file is part of the binary and checked by the tests: it cannot fail to parse in a
    // build whose tests passed, so an empty catalogue is only a defence.
    T.get_or_init(|| serde_json::from_str(POLICIES_JSON).unwrap_or_default())
}

/// The action categories (the same for every tenant).
pub fn categories() -> &'static [Category] {
    static C: OnceLock<Vec<Category>> = OnceLock::new();
    C.get_or_init(|| serde_json::from_str(CATEGORIES_JSON).unwrap_or_default())
}

/// The default policies of `tenant`.
pub fn default_policies(tenant: &str) -> Vec<DefaultPolicy> {
    templates()
        .iter()
        .map(|t| DefaultPolicy {
            name: t.name.replace(TENANT_PLACEHOLDER, tenant),
            display_name: t.display_name.clone(),
            tenant_id: tenant.to_string(),
            category: t.category.clone(),
            scope: t.scope,
            policy_type: "default",
            description: t.description.clone(),
            statement: Statement {
                actions: t.statement.actions.iter().map(|a| a.replace(TENANT_PLACEHOLDER, tenant)).collect(),
                resources: t.statement.resources.iter().map(|r| r.replace(TENANT_PLACEHOLDER, tenant)).collect(),
                effect: t.statement.effect,
            },
        })
        .collect()
}

/// The name of a tenant's default policy by its template (`pol-{tenantID}-administrator`).
pub fn policy_name(template: &str, tenant: &str) -> String {
    template.replace(TENANT_PLACEHOLDER, tenant)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashSet};

    use super::*;
    use crate::authz::{
        attributes::derivable_actions,
        enforcer::{Enforcer, user_key},
        model::Pattern,
    };

    #[test]
    fn the_files_parse() {
        let t: Vec<PolicyTemplate> = serde_json::from_str(POLICIES_JSON).expect("policies.json");
        assert_eq!(t.len(), templates().len());
        let c: Vec<Category> = serde_json::from_str(CATEGORIES_JSON).expect("categories.json");
        assert_eq!(c.len(), categories().len());
    }

    #[test]
    fn every_action_is_derivable() {
        let derivable = derivable_actions();
        for c in categories() {
            for a in &c.actions {
                assert!(derivable.contains(&a.name), "category {}: {} is no action of ours", c.name, a.name);
                assert!(!a.description.is_empty(), "{}", a.name);
            }
        }
        for p in templates() {
            for a in &p.statement.actions {
                if a.contains('*') {
                    let pattern = Pattern::compile(a).expect("pattern");
                    assert!(derivable.iter().any(|d| pattern.matches(d)), "policy {}: {a} matches no action", p.name);
                } else {
                    assert!(derivable.contains(a), "policy {}: {a} is no action of ours", p.name);
                }
            }
        }
    }

    #[test]
    fn the_catalogue_is_consistent() {
        let cats: HashSet<&str> = categories().iter().map(|c| c.name.as_str()).collect();
        for name in [
            "addon",
            "auth",
            "config",
            "volume",
            "project",
            "monitor",
            "cluster",
            "application",
            "network",
            "notify",
            "registry",
            "app",
        ] {
            assert!(cats.contains(name), "category {name}");
        }
        let mut names = HashSet::new();
        let mut displays = HashSet::new();
        for p in templates() {
            assert!(names.insert(&p.name), "{} twice", p.name);
            assert!(displays.insert(&p.display_name), "{} twice", p.display_name);
            assert!(p.name.starts_with("pol-{tenantID}-"), "{}", p.name);
            assert!(cats.contains(p.category.as_str()), "{}: category {}", p.name, p.category);
            assert!(!p.statement.actions.is_empty() && !p.statement.resources.is_empty(), "{}", p.name);
            let unique: BTreeSet<&String> = p.statement.actions.iter().collect();
            assert_eq!(unique.len(), p.statement.actions.len(), "{} repeats an action", p.name);
        }
        // A category's FullAccess policy grants exactly the category.
        for c in categories().iter().filter(|c| c.name != "common") {
            let full = templates()
                .iter()
                .find(|p| p.category == c.name && p.scope == Scope::Platform && p.display_name.ends_with("FullAccess"))
                .unwrap_or_else(|| panic!("no FullAccess policy for {}", c.name));
            let granted: BTreeSet<&str> = full.statement.actions.iter().map(String::as_str).collect();
            let listed: BTreeSet<&str> = c.actions.iter().map(|a| a.name.as_str()).collect();
            assert_eq!(granted, listed, "{}", full.display_name);
        }
        // The reference's names.
        for (display, name, scope) in [
            ("PlatformAdmin", "pol-{tenantID}-administrator", Scope::Platform),
            ("PlatformUser", "pol-{tenantID}-platform", Scope::Platform),
            ("PlatformLogin", "pol-{tenantID}-viewer", Scope::Platform),
            ("ProjectAdmin", "pol-{tenantID}-project-owner", Scope::Project),
            ("ProjectMember", "pol-{tenantID}-project-member", Scope::Project),
            ("ProjectViewer", "pol-{tenantID}-project-viewer", Scope::Project),
            ("ProjectNetworkAccess", "pol-{tenantID}-network", Scope::Project),
            ("ProjectMonitorAccess", "pol-{tenantID}-monitor", Scope::Project),
            ("ProjectNotifyAccess", "pol-{tenantID}-notify", Scope::Project),
            ("ProjectRegistryAccess", "pol-{tenantID}-registry", Scope::Project),
            ("ProjectProjectAccess", "pol-{tenantID}-project", Scope::Project),
            ("ProjectVolumeAccess", "pol-{tenantID}-volume", Scope::Project),
            ("ProjectConfigAccess", "pol-{tenantID}-config", Scope::Project),
            ("ChartGroupPullFake", "pol-{tenantID}-chartgroup-pull-fake", Scope::Platform),
            ("ChartGroupFullFake", "pol-{tenantID}-chartgroup-full-fake", Scope::Platform),
            ("ChartPullFake", "pol-{tenantID}-chart-pull-fake", Scope::Platform),
            ("ChartFullFake", "pol-{tenantID}-chart-full-fake", Scope::Platform),
            ("AdministratorAccess", "pol-{tenantID}-administrator-access", Scope::Platform),
            ("ReadOnlyAccess", "pol-{tenantID}-read-only-access", Scope::Platform),
        ] {
            let p = templates().iter().find(|p| p.display_name == display).unwrap_or_else(|| panic!("{display}"));
            assert_eq!((p.name.as_str(), p.scope), (name, scope), "{display}");
        }
    }

    #[test]
    fn instantiated_for_a_tenant() {
        let policies = default_policies("t1");
        assert_eq!(policies.len(), templates().len());
        assert!(policies.iter().all(|p| p.tenant_id == "t1" && p.policy_type == "default" && !p.name.contains('{')));
        let admin = policies.iter().find(|p| p.name == "pol-t1-administrator").expect("admin");
        assert_eq!(admin.display_name, "PlatformAdmin");
        assert_eq!(policy_name("pol-{tenantID}-viewer", "t2"), "pol-t2-viewer");
        let json = serde_json::to_value(admin).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "name": "pol-t1-administrator", "displayName": "PlatformAdmin", "tenantID": "t1",
                "category": "common", "scope": "platform", "type": "default",
                "description": admin.description,
                "statement": {"actions": ["*"], "resources": ["*"], "effect": "allow"}
            })
        );
    }

    #[test]
    fn the_default_policies_grant_what_they_say() {
        let policies = default_policies("t1");
        let rows = |display: &str| {
            let p = policies.iter().find(|p| p.display_name == display).expect("policy");
            let mut rows = p.statement.rows(&p.name);
            rows.push(Row::grouping(&user_key("t1", "alice"), &p.name, "*"));
            Enforcer::with_rows(&rows).expect("rows")
        };
        let alice = ["t1##user##alice"];
        let can = |e: &Enforcer, obj: &str, act: &str| e.decide(&alice, "*", obj, act).allowed;
        let e = rows("ClusterFullAccess");
        assert!(can(&e, "cluster:cls-a", "createCluster"));
        assert!(can(&e, "cluster:cls-a", "updateClusterStatus"));
        assert!(can(&e, "cluster:cls-a/drain:n1", "createDrain"));
        assert!(!can(&e, "cluster:cls-a/clusterrole:admin", "createClusterrole"), "RBAC is auth's, not cluster's");
        assert!(!can(&e, "cluster:cls-a/namespace:n/pod:p", "createPodExec"));
        let e = rows("ReadOnlyAccess");
        assert!(can(&e, "cluster:cls-a", "getCluster") && can(&e, "cluster:*", "listClusters"));
        assert!(!can(&e, "cluster:cls-a", "updateCluster"));
        let e = rows("PlatformLogin");
        assert!(can(&e, "portal:*", "listPortal") && !can(&e, "cluster:*", "listClusters"));
        let e = rows("ChartPullFake");
        assert!(!can(&e, "chart:c", "getChart"), "helper policies only match their \"-\" resource");
        assert!(can(&e, "-", "getChart"));
        let p = policies.iter().find(|p| p.display_name == "ConfigFullAccess").expect("config");
        assert_eq!(p.statement.rows(&p.name).len(), p.statement.actions.len() * p.statement.resources.len());
    }
}
