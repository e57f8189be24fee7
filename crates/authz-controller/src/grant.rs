//! What a MultiClusterRoleBinding becomes inside one business cluster, and the two operations on
//! a cluster: granting (the role's ClusterRole and the user's ClusterRoleBinding, server-side
//! applied) and revoking (the ClusterRoleBinding deleted, then the ClusterRole once no binding of
//! ours uses it). Everything created carries [`MANAGED_BY_LABEL`]; objects without it belong to
//! someone else and are never changed or deleted.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{
    Api, Client,
    api::{DeleteParams, ListParams, Patch, PatchParams},
};

/// The label on everything the controller creates in a business cluster.
pub const MANAGED_BY_LABEL: &str = "tkestack.io/managed-by";
pub const MANAGED_BY: &str = "authz";
/// `namespace/name` of the authz Role a ClusterRole was made from.
pub const ROLE_ANNOTATION: &str = "authz.tkestack.io/role";
/// `namespace/name` of the MultiClusterRoleBinding a ClusterRoleBinding was made from.
pub const BINDING_ANNOTATION: &str = "authz.tkestack.io/multiclusterrolebinding";
/// The field manager of the controller's server-side applies.
pub const FIELD_MANAGER: &str = "tke-authz";

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// The prefix of every name the controller gives in a business cluster.
///
/// Kubernetes accepts `:` in RBAC names (`tkestack:authz:{namespace}:{role}` would read like
/// `system:` roles), but our generic API server, and so the simulated clusters the tests use,
/// validates every object name as a DNS subdomain; these names are valid under both rules and
/// still unambiguous, because a namespace is a DNS label (it holds no dot).
pub const NAME_PREFIX: &str = "tkestack-authz";

/// `tkestack-authz.{namespace}.{role}`: the ClusterRole of an authz Role. Roles of the template
/// namespace are shared by every binding that grants them in a cluster.
pub fn cluster_role_name(role_namespace: &str, role: &str) -> String {
    format!("{NAME_PREFIX}.{role_namespace}.{role}")
}

/// `tkestack-authz.{namespace}.{binding}`: the ClusterRoleBinding of a MultiClusterRoleBinding.
pub fn cluster_role_binding_name(namespace: &str, binding: &str) -> String {
    format!("{NAME_PREFIX}.{namespace}.{binding}")
}

fn managed_meta(name: String, annotation: (&str, String)) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        labels: Some(BTreeMap::from([(MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string())])),
        annotations: Some(BTreeMap::from([(annotation.0.to_string(), annotation.1)])),
        ..Default::default()
    }
}

/// The ClusterRole of role `role_namespace/role` with the rules of its policies.
pub fn cluster_role(role_namespace: &str, role: &str, rules: Vec<PolicyRule>) -> ClusterRole {
    ClusterRole {
        metadata: managed_meta(
            cluster_role_name(role_namespace, role),
            (ROLE_ANNOTATION, format!("{role_namespace}/{role}")),
        ),
        rules: Some(rules),
        aggregation_rule: None,
    }
}

/// The ClusterRoleBinding of binding `namespace/binding`, giving `username` the role's
/// ClusterRole.
pub fn cluster_role_binding(
    namespace: &str,
    binding: &str,
    role_namespace: &str,
    role: &str,
    username: &str,
) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: managed_meta(
            cluster_role_binding_name(namespace, binding),
            (BINDING_ANNOTATION, format!("{namespace}/{binding}")),
        ),
        role_ref: RoleRef {
            api_group: Some(RBAC_GROUP.into()),
            kind: "ClusterRole".into(),
            name: cluster_role_name(role_namespace, role),
        },
        subjects: Some(vec![Subject {
            api_group: Some(RBAC_GROUP.into()),
            kind: "User".into(),
            name: username.to_string(),
            namespace: None,
        }]),
    }
}

/// Whether the controller made an object (it carries the managed-by label).
pub fn is_managed(meta: &ObjectMeta) -> bool {
    meta.labels.as_ref().and_then(|l| l.get(MANAGED_BY_LABEL)).is_some_and(|v| v == MANAGED_BY)
}

/// Why a cluster could not be given (or relieved of) a grant.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error(
        "{kind} {name} already exists in the cluster and was not made by the platform (no label {MANAGED_BY_LABEL}={MANAGED_BY}); rename or delete it"
    )]
    NotManaged { kind: &'static str, name: String },
    #[error("{action} {kind} {name}: {}", describe(.source))]
    Api { action: &'static str, kind: &'static str, name: String, source: kube::Error },
}

impl GrantError {
    /// The condition reason.
    pub fn reason(&self) -> &'static str {
        match self {
            GrantError::NotManaged { .. } => "NotManaged",
            GrantError::Api { source: kube::Error::Api(s), .. } if s.code == 403 => "Forbidden",
            GrantError::Api { source: kube::Error::Api(_), .. } => "RejectedByCluster",
            GrantError::Api { .. } => "ClusterUnreachable",
        }
    }
}

/// The cluster's own message for a refusal (its Status), the causes of anything else.
fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({})", s.message, s.reason),
        other => controller_runtime::error_chain(other),
    }
}

fn api_err(action: &'static str, kind: &'static str, name: &str) -> impl FnOnce(kube::Error) -> GrantError {
    let name = name.to_string();
    move |source| GrantError::Api { action, kind, name, source }
}

/// Fails when an object named `name` exists without the managed-by label.
async fn ensure_ours<K>(api: &Api<K>, kind: &'static str, name: &str) -> Result<(), GrantError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.get_opt(name).await.map_err(api_err("reading", kind, name))? {
        Some(o) if !is_managed(o.meta()) => Err(GrantError::NotManaged { kind, name: name.to_string() }),
        _ => Ok(()),
    }
}

/// Creates or updates the ClusterRole and the ClusterRoleBinding in the cluster.
pub async fn grant(client: &Client, role: &ClusterRole, binding: &ClusterRoleBinding) -> Result<(), GrantError> {
    let roles: Api<ClusterRole> = Api::all(client.clone());
    let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    let role_name = role.metadata.name.clone().unwrap_or_default();
    let binding_name = binding.metadata.name.clone().unwrap_or_default();
    ensure_ours(&roles, "ClusterRole", &role_name).await?;
    ensure_ours(&bindings, "ClusterRoleBinding", &binding_name).await?;
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut role = role.clone();
    role.metadata.managed_fields = None;
    roles.patch(&role_name, &params, &Patch::Apply(typed_for_apply(&role))).await.map_err(api_err(
        "applying",
        "ClusterRole",
        &role_name,
    ))?;
    bindings.patch(&binding_name, &params, &Patch::Apply(typed_for_apply(binding))).await.map_err(api_err(
        "applying",
        "ClusterRoleBinding",
        &binding_name,
    ))?;
    Ok(())
}

/// An apply body needs `apiVersion` and `kind`, which the typed structs leave to their `Resource`
/// impl.
fn typed_for_apply<K: kube::Resource<DynamicType = ()> + serde::Serialize>(obj: &K) -> serde_json::Value {
    let mut v = serde_json::to_value(obj).unwrap_or_default();
    v["apiVersion"] = K::api_version(&()).into();
    v["kind"] = K::kind(&()).into();
    v
}

/// Deletes the binding's ClusterRoleBinding (when it is ours), then the ClusterRole
/// `role_name` when no ClusterRoleBinding of ours refers to it any more.
pub async fn revoke(client: &Client, binding_name: &str, role_name: &str) -> Result<(), GrantError> {
    let roles: Api<ClusterRole> = Api::all(client.clone());
    let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    if let Some(b) =
        bindings.get_opt(binding_name).await.map_err(api_err("reading", "ClusterRoleBinding", binding_name))?
        && is_managed(&b.metadata)
    {
        match bindings.delete(binding_name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(api_err("deleting", "ClusterRoleBinding", binding_name)(e)),
        }
    }
    let ours = ListParams::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}"));
    let still_used = bindings
        .list(&ours)
        .await
        .map_err(api_err("listing", "ClusterRoleBinding", ""))?
        .items
        .iter()
        .any(|b| b.metadata.name.as_deref() != Some(binding_name) && b.role_ref.name == role_name);
    if still_used {
        return Ok(());
    }
    match roles.get_opt(role_name).await.map_err(api_err("reading", "ClusterRole", role_name))? {
        Some(r) if is_managed(&r.metadata) => match roles.delete(role_name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(api_err("deleting", "ClusterRole", role_name)(e)),
        },
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DNS-1123 subdomain, as every API server accepts for names.
    fn apimachinery_like_subdomain(name: &str) -> bool {
        name.len() <= 253
            && name.split('.').all(|l| {
                !l.is_empty()
                    && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            })
    }

    #[test]
    fn names_labels_and_subjects() {
        let rule = PolicyRule { verbs: vec!["get".into()], resources: Some(vec!["pods".into()]), ..Default::default() };
        let r = cluster_role("default", "rol-view", vec![rule.clone()]);
        assert_eq!(r.metadata.name.as_deref(), Some("tkestack-authz.default.rol-view"));
        assert!(is_managed(&r.metadata));
        assert_eq!(r.rules, Some(vec![rule]));
        assert_eq!(r.metadata.annotations.as_ref().unwrap()[ROLE_ANNOTATION], "default/rol-view");

        let b = cluster_role_binding("t1", "mcrb-bob-rol-view", "default", "rol-view", "bob");
        assert_eq!(b.metadata.name.as_deref(), Some("tkestack-authz.t1.mcrb-bob-rol-view"));
        assert_eq!(b.role_ref.name, "tkestack-authz.default.rol-view");
        assert!(apimachinery_like_subdomain(&b.role_ref.name));
        assert_eq!(b.role_ref.kind, "ClusterRole");
        let s = &b.subjects.as_ref().unwrap()[0];
        assert_eq!((s.kind.as_str(), s.name.as_str(), s.api_group.as_deref()), ("User", "bob", Some(RBAC_GROUP)));

        let body = typed_for_apply(&b);
        assert_eq!(
            (body["apiVersion"].as_str(), body["kind"].as_str()),
            (Some("rbac.authorization.k8s.io/v1"), Some("ClusterRoleBinding"))
        );
        assert_eq!(body["metadata"]["labels"][MANAGED_BY_LABEL], "authz");

        let foreign = ObjectMeta { name: Some("x".into()), ..Default::default() };
        assert!(!is_managed(&foreign));
        let other = ObjectMeta {
            labels: Some(BTreeMap::from([(MANAGED_BY_LABEL.to_string(), "helm".to_string())])),
            ..Default::default()
        };
        assert!(!is_managed(&other));
    }
}
