//! `Repository` (`repo`): an image repository of a registry namespace, kept in the Kubernetes
//! namespace named after the registry Namespace object. The registry creates it on the first
//! push and keeps its tags and pull count up to date.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{ObjectMeta, meta_str};
#[cfg(feature = "server")]
use {
    super::common::{self, IMAGE_VISIBILITIES, REPOSITORY_PATH_RULE, is_repository_path, visibility},
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError},
    apiserver::{Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
};

pub const KIND: &str = "Repository";
pub const GENERATE_NAME: &str = "repo-";

/// An image repository.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Repository {
    /// `registry.tkestack.io/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `Repository`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata; `namespace` is the name of the registry Namespace object,
    /// names are generated with the prefix `repo-` when empty.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    /// The repository.
    #[serde(default)]
    pub spec: RepositorySpec,
    /// Tags and counters kept by the registry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<RepositoryStatus>,
}

/// The desired repository.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepositorySpec {
    /// Path of the repository inside its namespace (`app` in `team/app:v1`). Cannot be changed.
    #[serde(default)]
    pub name: String,
    /// Tenant owning the repository; set from the caller, cannot be changed.
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// `spec.name` of the registry namespace (`team` in `team/app:v1`). Cannot be changed.
    #[serde(default)]
    pub namespace_name: String,
    /// Name shown in the console.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `Public` or `Private`; defaults to `Private`.
    #[serde(default)]
    pub visibility: String,
}

/// The observed state of a repository.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryStatus {
    /// A locked repository refuses pushes and pulls of everyone but administrators.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
    /// How many times an image of the repository was pulled.
    #[serde(default)]
    pub pull_count: i64,
    /// The tags of the repository.
    #[serde(default)]
    pub tags: Vec<RepositoryTag>,
}

/// A tag of a repository.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryTag {
    /// The tag (`v1`).
    #[serde(default)]
    pub name: String,
    /// Digest of the manifest the tag points at (`sha256:...`).
    #[serde(default)]
    pub digest: String,
    /// When the tag was last pushed (RFC 3339).
    #[serde(default)]
    pub time_created: String,
    /// Bytes the image takes in the registry: its config and layers (for an index, those of
    /// every platform, each blob counted once); 0 when unknown.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub size: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Repository {
    pub fn name(&self) -> &str {
        meta_str(&self.metadata, "name")
    }
    pub fn namespace(&self) -> &str {
        meta_str(&self.metadata, "namespace")
    }
}

/// The create/update rules of repositories.
#[cfg(feature = "server")]
pub struct RepositoryStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<Repository> for RepositoryStrategy {
    fn prepare_for_create(&self, ctx: &Context, r: &mut Repository) -> Result<(), ApiError> {
        r.spec.tenant_id = Some(common::tenant_for_create(ctx, r.spec.tenant_id.as_deref()));
        common::default_generate_name(&mut r.metadata, GENERATE_NAME);
        if r.spec.visibility.is_empty() {
            r.spec.visibility = visibility::PRIVATE.into();
        }
        Ok(())
    }

    fn validate(&self, _ctx: &Context, r: &Repository) -> Vec<FieldError> {
        let mut errs = vec![];
        if r.spec.name.is_empty() {
            errs.push(FieldError::required("spec.name", "the path of the repository in its namespace is required"));
        } else if !is_repository_path(&r.spec.name) {
            errs.push(FieldError::invalid("spec.name", &r.spec.name, REPOSITORY_PATH_RULE));
        }
        common::check_label("spec.namespaceName", &r.spec.namespace_name, "registry namespace", &mut errs);
        common::check_visibility("spec.visibility", &r.spec.visibility, IMAGE_VISIBILITIES, &mut errs);
        errs
    }

    fn prepare_for_update(&self, _ctx: &Context, new: &mut Repository, old: &Repository) -> Result<(), ApiError> {
        if new.spec.visibility.is_empty() {
            new.spec.visibility = old.spec.visibility.clone();
        }
        Ok(())
    }

    fn validate_update(&self, ctx: &Context, new: &Repository, old: &Repository) -> Vec<FieldError> {
        let mut errs = self.validate(ctx, new);
        let (n, o) = (&new.spec, &old.spec);
        common::check_tenant_unchanged("spec.tenantID", n.tenant_id.as_deref(), o.tenant_id.as_deref(), &mut errs);
        common::check_immutable("spec.name", &n.name, &o.name, &mut errs);
        common::check_immutable("spec.namespaceName", &n.namespace_name, &o.namespace_name, &mut errs);
        errs
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: KIND,
        plural: "repositories",
        singular: "repository",
        short_names: &["repo"],
        categories: &["tkestack"],
        namespaced: true,
        verbs: Verbs::ALL,
        subresources: Subresources { status: true, finalize: false },
        columns: vec![],
        field_selectors: &["spec.tenantID", "spec.name", "spec.namespaceName", "spec.visibility"],
        tenant_field: Some("spec.tenantID"),
        static_objects: None,
        schema: schema_of::<Repository>,
        strategy: typed::<Repository, _>(RepositoryStrategy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::common::test_ctx;
    use serde_json::json;

    #[test]
    fn create_and_validate() {
        let ctx = test_ctx("t1", false);
        let mut r: Repository = serde_json::from_value(
            json!({"metadata": {"namespace": "rns-a1"}, "spec": {"name": "team/app", "namespaceName": "dev"}}),
        )
        .unwrap();
        RepositoryStrategy.prepare_for_create(&ctx, &mut r).unwrap();
        assert_eq!(
            (r.metadata["generateName"].as_str(), r.spec.tenant_id.as_deref(), r.spec.visibility.as_str()),
            (Some("repo-"), Some("t1"), "Private")
        );
        assert!(RepositoryStrategy.validate(&ctx, &r).is_empty());
        r.spec.name = "App:1".into();
        r.spec.namespace_name = String::new();
        let fields: Vec<String> = RepositoryStrategy.validate(&ctx, &r).into_iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["spec.name", "spec.namespaceName"]);
    }

    #[test]
    fn names_are_immutable() {
        let ctx = test_ctx("t1", false);
        let mut old: Repository =
            serde_json::from_value(json!({"spec": {"name": "app", "namespaceName": "dev"}})).unwrap();
        RepositoryStrategy.prepare_for_create(&ctx, &mut old).unwrap();
        let mut new = old.clone();
        new.spec.name = "app2".into();
        new.spec.namespace_name = "prod".into();
        let fields: Vec<String> =
            RepositoryStrategy.validate_update(&ctx, &new, &old).into_iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["spec.name", "spec.namespaceName"]);
    }
}
