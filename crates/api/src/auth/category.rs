//! `Category` (`categories`, cluster-scoped): a group of actions (`createCluster`,
//! `listClusters`, ...) for the console's policy editor. The platform creates the catalogue
//! (reference 3.3); every user may read it, only platform administrators may change it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{ObjectMeta, meta_str, null_as_default};
#[cfg(feature = "server")]
use {
    super::common::{self, check_display_name},
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError},
    apiserver::{Column, Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
    serde_json::json,
};

pub const KIND: &str = "Category";
pub const GENERATE_NAME: &str = "cat-";

/// A category of actions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Category {
    /// `auth.tkestack.io/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `Category`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata; the name is the category's key (`cluster`, `registry`), which
    /// policies name in `spec.category`.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    /// The category. TKEStack writes this field as `Spec` (its Go type has no JSON name); both
    /// spellings are read, `spec` is written (Go clients read either).
    #[serde(default, alias = "Spec")]
    pub spec: CategorySpec,
}

/// The actions of a category.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CategorySpec {
    /// Name shown in the console.
    #[serde(default)]
    pub display_name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// The actions of the category.
    #[serde(default, deserialize_with = "null_as_default")]
    pub actions: Vec<Action>,
}

/// One action a policy can allow or deny.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Action {
    /// The action as policies name it: verb and resource, e.g. `createCluster`,
    /// `getClusterStatus`.
    #[serde(default)]
    pub name: String,
    /// What the action allows, for people.
    #[serde(default)]
    pub description: String,
}

impl Category {
    pub fn name(&self) -> &str {
        meta_str(&self.metadata, "name")
    }
}

/// Number of actions, for `kubectl get categories`.
#[cfg(feature = "server")]
fn action_count(obj: &Value) -> Value {
    json!(obj.pointer("/spec/actions").and_then(Value::as_array).map_or(0, Vec::len))
}

/// The create/update rules of categories.
#[cfg(feature = "server")]
pub struct CategoryStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<Category> for CategoryStrategy {
    fn prepare_for_create(&self, ctx: &Context, c: &mut Category) -> Result<(), ApiError> {
        common::require_admin(ctx, "categories", c.name(), "the action catalogue is the platform's;")?;
        common::default_generate_name(&mut c.metadata, GENERATE_NAME);
        Ok(())
    }

    fn validate(&self, _ctx: &Context, c: &Category) -> Vec<FieldError> {
        let mut errs = vec![];
        check_display_name("spec.displayName", &c.spec.display_name, &mut errs);
        let mut seen = std::collections::HashSet::new();
        for (i, a) in c.spec.actions.iter().enumerate() {
            let field = format!("spec.actions[{i}].name");
            if a.name.is_empty() {
                errs.push(FieldError::required(field, "the name of the action is required"));
            } else if !a.name.chars().all(|ch| ch.is_ascii_alphanumeric()) {
                errs.push(FieldError::invalid(
                    field,
                    &a.name,
                    "an action is a verb and a resource in letters and digits, e.g. createCluster",
                ));
            } else if !seen.insert(a.name.as_str()) {
                errs.push(FieldError::duplicate(field, &a.name));
            }
        }
        errs
    }

    fn prepare_for_update(&self, ctx: &Context, new: &mut Category, _old: &Category) -> Result<(), ApiError> {
        common::require_admin(ctx, "categories", new.name(), "the action catalogue is the platform's;")
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: KIND,
        plural: "categories",
        singular: "category",
        short_names: &[],
        categories: &["tkestack"],
        namespaced: false,
        verbs: Verbs::ALL,
        subresources: Subresources { status: false, finalize: false },
        columns: vec![
            Column::new("Display Name", "string", ".spec.displayName", "Name shown in the console."),
            Column::computed("Actions", "integer", action_count, "Number of actions in the category."),
            Column::age(),
        ],
        field_selectors: &["spec.displayName"],
        tenant_field: None,
        static_objects: None,
        schema: schema_of::<Category>,
        strategy: typed::<Category, _>(CategoryStrategy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::common::test_ctx;

    fn category(v: Value) -> Category {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn administrators_create_categories_with_valid_actions() {
        let admin = test_ctx("default", true);
        let mut c = category(json!({"metadata": {"name": "cluster"}, "spec": {"displayName": "Cluster",
            "actions": [{"name": "createCluster", "description": "create a cluster"}, {"name": "listClusters"}]}}));
        CategoryStrategy.prepare_for_create(&admin, &mut c).unwrap();
        assert!(CategoryStrategy.validate(&admin, &c).is_empty());
        assert_eq!(action_count(&serde_json::to_value(&c).unwrap()), json!(2));

        c.spec.display_name.clear();
        c.spec.actions.push(Action { name: "create Cluster".into(), ..Default::default() });
        c.spec.actions.push(Action { name: "listClusters".into(), ..Default::default() });
        c.spec.actions.push(Action::default());
        let errs = CategoryStrategy.validate(&admin, &c);
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec!["spec.displayName", "spec.actions[2].name", "spec.actions[3].name", "spec.actions[4].name"]
        );
    }

    #[test]
    fn tenant_users_cannot_write_categories() {
        let user = test_ctx("t1", false);
        let mut c = category(json!({"spec": {"displayName": "Mine"}}));
        let e = CategoryStrategy.prepare_for_create(&user, &mut c).unwrap_err();
        assert_eq!(e.reason, apimachinery::error::Reason::Forbidden);
        let old = c.clone();
        assert!(CategoryStrategy.prepare_for_update(&user, &mut c, &old).is_err());
        assert!(CategoryStrategy.prepare_for_update(&test_ctx("t1", true), &mut c, &old).is_ok());
        assert!(definition().tenant_field.is_none(), "the catalogue is shared by every tenant");
    }

    #[test]
    fn tkestacks_capitalised_spec_is_read() {
        // As hack/auth/category.json of TKEStack spells it.
        let c = category(json!({"metadata": {"name": "addon"}, "Spec": {"displayName": "Add-ons",
            "actions": [{"name": "createCronhpa"}]}}));
        assert_eq!(c.spec.actions.len(), 1);
        assert!(serde_json::to_value(&c).unwrap().get("spec").is_some());
    }
}
