//! `Project` (`projects`, cluster-scoped): the auth view of a business project, the users and
//! groups bound to policies in it (the union of its ProjectPolicyBindings). It is the parent of
//! the membership subresources (`binding`, `unbinding`, `users`, `groups`, `policies`); the
//! object itself is kept by the platform's controllers (which run as administrators), so tenant
//! users may read it but not write it. The fields are TKEStack's: `tenantID`, `members` and
//! `groups` at the top level (no `spec`), maps from id to name.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{ObjectMeta, meta_str, null_as_default};
#[cfg(feature = "server")]
use {
    super::common::{self, SUBJECT_KEY_SEPARATOR},
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError},
    apiserver::{Column, Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
    serde_json::json,
};

pub const KIND: &str = "Project";

/// The members of a project.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    /// `auth.tkestack.io/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `Project`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata; the name is the project's id (the business Project's name).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    /// Tenant owning the project, cannot be changed.
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Users bound to a policy in the project: id to user name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub members: BTreeMap<String, String>,
    /// Groups bound to a policy in the project: id to display name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub groups: BTreeMap<String, String>,
}

impl Project {
    pub fn name(&self) -> &str {
        meta_str(&self.metadata, "name")
    }
    pub fn tenant(&self) -> &str {
        self.tenant_id.as_deref().unwrap_or("")
    }
}

/// Number of entries of a map field, for `kubectl get projects.auth.tkestack.io`.
#[cfg(feature = "server")]
fn count(obj: &Value, field: &str) -> Value {
    json!(obj.get(field).and_then(Value::as_object).map_or(0, |m| m.len()))
}

#[cfg(feature = "server")]
const WHO: &str = "the auth view of a project is kept by the platform from its bindings;";

/// The create/update rules of the auth view of projects.
impl crate::platform::common::TenantOwned for Project {
    const TENANT_FIELD: &'static str = "tenantID";
    fn tenant_id(&self) -> Option<&str> {
        self.tenant_id.as_deref()
    }
}

#[cfg(feature = "server")]
pub struct ProjectStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<Project> for ProjectStrategy {
    fn prepare_for_create(&self, ctx: &Context, p: &mut Project) -> Result<(), ApiError> {
        common::require_admin(ctx, "projects", p.name(), WHO)?;
        p.tenant_id = Some(common::tenant_for_create(ctx, p.tenant_id.as_deref()));
        Ok(())
    }

    fn validate(&self, _ctx: &Context, p: &Project) -> Vec<FieldError> {
        let mut errs = vec![];
        for (field, map) in [("members", &p.members), ("groups", &p.groups)] {
            for id in map.keys() {
                if id.trim().is_empty() || id.contains(SUBJECT_KEY_SEPARATOR) {
                    errs.push(FieldError::invalid(
                        format!("{field}[{id}]"),
                        id,
                        format!("an id must not be empty nor contain \"{SUBJECT_KEY_SEPARATOR}\""),
                    ));
                }
            }
        }
        errs
    }

    fn prepare_for_update(&self, ctx: &Context, new: &mut Project, _old: &Project) -> Result<(), ApiError> {
        common::require_admin(ctx, "projects", new.name(), WHO)
    }

    fn validate_update(&self, ctx: &Context, new: &Project, old: &Project) -> Vec<FieldError> {
        crate::platform::common::validate_tenant_update(self, ctx, new, old)
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: KIND,
        plural: "projects",
        singular: "project",
        short_names: &[],
        categories: &["tkestack"],
        namespaced: false,
        verbs: Verbs::ALL,
        subresources: Subresources { status: false, finalize: false },
        columns: vec![
            Column::computed("Members", "integer", |o| count(o, "members"), "Users bound to a policy in the project."),
            Column::computed("Groups", "integer", |o| count(o, "groups"), "Groups bound to a policy in the project."),
            Column::age(),
        ],
        field_selectors: &["tenantID"],
        tenant_field: Some("tenantID"),
        static_objects: None,
        schema: schema_of::<Project>,
        strategy: typed::<Project, _>(ProjectStrategy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::common::test_ctx;

    fn project(v: Value) -> Project {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn tenant_users_read_but_do_not_write() {
        let user = test_ctx("t1", false);
        let mut p = project(json!({"metadata": {"name": "prj-a"}, "members": {"u1": "bob"}, "groups": null}));
        assert_eq!(
            ProjectStrategy.prepare_for_create(&user, &mut p).unwrap_err().reason,
            apimachinery::error::Reason::Forbidden
        );
        let old = p.clone();
        assert!(ProjectStrategy.prepare_for_update(&user, &mut p, &old).is_err());

        let admin = test_ctx("default", true);
        p.tenant_id = Some("t1".into());
        ProjectStrategy.prepare_for_create(&admin, &mut p).unwrap();
        assert_eq!(p.tenant(), "t1");
        assert!(ProjectStrategy.validate(&admin, &p).is_empty());
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!((count(&v, "members"), count(&v, "groups")), (json!(1), json!(0)));
        assert_eq!(v["members"]["u1"], "bob");
    }

    #[test]
    fn ids_and_tenant() {
        let admin = test_ctx("default", true);
        let mut old = project(json!({"metadata": {"name": "prj-a"}, "tenantID": "t1"}));
        ProjectStrategy.prepare_for_create(&admin, &mut old).unwrap();
        let mut new = old.clone();
        new.members.insert("a##b".into(), "x".into());
        new.groups.insert(" ".into(), "y".into());
        new.tenant_id = Some("t2".into());
        let fields: Vec<String> =
            ProjectStrategy.validate_update(&admin, &new, &old).into_iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["members[a##b]", "groups[ ]", "tenantID"]);
    }
}
