//! `Namespace` (`ns`, in the Kubernetes namespace named after its project): a Kubernetes
//! namespace of one business cluster allocated to a project, with a ResourceQuota of
//! `spec.hard` taken out of the project's quota for that cluster. Its name is
//! `{spec.clusterName}-{spec.namespace}`, so one project may hold the same namespace name in
//! several clusters.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{ObjectMeta, ResourceList, meta_str};
use crate::auth::common::null_as_default;
#[cfg(feature = "server")]
use {
    super::common::{self, RESERVED_NAMESPACES, finalizer, phase},
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError, validation::is_dns1123_label},
    apiserver::{Column, Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
    serde_json::json,
};

pub const KIND: &str = "Namespace";

/// A namespace of a business cluster allocated to a project.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Namespace {
    /// `business.tkestack.io/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `Namespace`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata; the namespace is the project, the name
    /// `{spec.clusterName}-{spec.namespace}` (set when empty).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    #[serde(default)]
    pub spec: NamespaceSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<NamespaceStatus>,
}

/// The desired namespace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSpec {
    /// Kept by the server: the object stays until the Kubernetes namespace is deleted.
    #[serde(default, deserialize_with = "null_as_default")]
    pub finalizers: Vec<String>,
    /// Tenant owning the namespace (the project's); cannot be changed.
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The business cluster; cannot be changed.
    #[serde(default)]
    pub cluster_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_display_name: Option<String>,
    /// The Kubernetes namespace's name in the cluster; cannot be changed.
    #[serde(default)]
    pub namespace: String,
    /// The ResourceQuota of the namespace, taken out of the project's quota for the cluster.
    #[serde(default, deserialize_with = "null_as_default")]
    pub hard: ResourceList,
}

/// The observed namespace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceStatus {
    /// `Pending`, `Available`, `Locked` (moving to another project), `Failed` or `Terminating`.
    #[serde(default)]
    pub phase: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    /// Why the phase is what it is (`NamespaceNotFound`, `ConflictProject`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The ResourceQuota in the cluster's namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_quota_name: Option<String>,
    /// What the namespace uses, from the cluster's ResourceQuota.
    #[serde(default, deserialize_with = "null_as_default")]
    pub used: ResourceList,
    /// The `spec.hard` last counted in the project's usage.
    #[serde(default, skip_serializing_if = "ResourceList::is_empty", deserialize_with = "null_as_default")]
    pub cached_spec_hard: ResourceList,
    /// The last certificate issued for the namespace, without its private key (which only the
    /// caller of the `certificate` subresource ever sees).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<NamespaceCert>,
}

/// A client certificate confined to the namespace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceCert {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_pem: Option<String>,
    /// Only in the answer of the `certificate` subresource; never stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_pem: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_cert_pem: Option<String>,
    /// Where to reach the namespace with the certificate (the platform's cluster proxy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_server: Option<String>,
    /// A kubeconfig with the certificate and key whose context is the namespace; only in the
    /// answer of the `certificate` subresource, never stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<String>,
}

impl Namespace {
    pub fn name(&self) -> &str {
        meta_str(&self.metadata, "name")
    }
    /// The project (the object's Kubernetes namespace).
    pub fn project(&self) -> &str {
        meta_str(&self.metadata, "namespace")
    }
    pub fn tenant(&self) -> &str {
        self.spec.tenant_id.as_deref().unwrap_or("")
    }
    pub fn phase(&self) -> &str {
        self.status.as_ref().map_or("", |s| s.phase.as_str())
    }
    /// The object name of the namespace `namespace` of cluster `cluster`.
    pub fn object_name(cluster: &str, namespace: &str) -> String {
        format!("{cluster}-{namespace}")
    }
}

/// The create/update rules of namespaces that need no other object (the project's quota and
/// clusters are the business component's admission).
#[cfg(feature = "server")]
pub struct NamespaceStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<Namespace> for NamespaceStrategy {
    fn prepare_for_create(&self, ctx: &Context, ns: &mut Namespace) -> Result<(), ApiError> {
        ns.spec.tenant_id = Some(common::tenant_for_create(ctx, ns.spec.tenant_id.as_deref()));
        if !ns.metadata.is_object() {
            ns.metadata = json!({});
        }
        if ns.name().is_empty() && !ns.spec.cluster_name.is_empty() && !ns.spec.namespace.is_empty() {
            ns.metadata["name"] = json!(Namespace::object_name(&ns.spec.cluster_name, &ns.spec.namespace));
        }
        common::ensure_finalizer(&mut ns.spec.finalizers, finalizer::NAMESPACE);
        ns.status = Some(NamespaceStatus { phase: phase::PENDING.into(), ..Default::default() });
        Ok(())
    }

    fn validate(&self, _ctx: &Context, ns: &Namespace) -> Vec<FieldError> {
        let mut errs = vec![];
        if ns.spec.cluster_name.is_empty() {
            errs.push(FieldError::required("spec.clusterName", "name the business cluster of the namespace"));
        }
        if ns.spec.namespace.is_empty() {
            errs.push(FieldError::required("spec.namespace", "name the namespace in the cluster"));
        } else if !is_dns1123_label(&ns.spec.namespace) {
            errs.push(FieldError::invalid(
                "spec.namespace",
                &ns.spec.namespace,
                "must be a DNS label: lowercase letters, digits and '-', at most 63 characters",
            ));
        } else if RESERVED_NAMESPACES.contains(&ns.spec.namespace.as_str()) {
            errs.push(FieldError::invalid(
                "spec.namespace",
                &ns.spec.namespace,
                "is reserved for the cluster's own components; choose another name",
            ));
        }
        let expected = Namespace::object_name(&ns.spec.cluster_name, &ns.spec.namespace);
        if !ns.spec.cluster_name.is_empty() && !ns.spec.namespace.is_empty() && ns.name() != expected {
            errs.push(FieldError::invalid(
                "metadata.name",
                ns.name(),
                format!("must be {expected:?} ({{clusterName}}-{{namespace}}), or left empty"),
            ));
        }
        errs
    }

    fn validate_update(&self, ctx: &Context, new: &Namespace, old: &Namespace) -> Vec<FieldError> {
        let mut errs = self.validate(ctx, new);
        common::check_tenant_unchanged(
            "spec.tenantID",
            new.spec.tenant_id.as_deref(),
            old.spec.tenant_id.as_deref(),
            &mut errs,
        );
        common::check_immutable("spec.clusterName", &new.spec.cluster_name, &old.spec.cluster_name, &mut errs);
        common::check_immutable("spec.namespace", &new.spec.namespace, &old.spec.namespace, &mut errs);
        errs
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: KIND,
        plural: "namespaces",
        singular: "namespace",
        short_names: &["ns"],
        categories: &["tkestack"],
        namespaced: true,
        verbs: Verbs::ALL,
        subresources: Subresources { status: true, finalize: true },
        columns: vec![
            Column::new("Cluster", "string", ".spec.clusterName", "The business cluster."),
            Column::new("Namespace", "string", ".spec.namespace", "The namespace in the cluster."),
            Column::new("Status", "string", ".status.phase", "Lifecycle phase of the namespace."),
            Column::age(),
        ],
        field_selectors: &["spec.tenantID", "spec.clusterName", "spec.namespace", "status.phase"],
        tenant_field: Some("spec.tenantID"),
        static_objects: None,
        schema: schema_of::<Namespace>,
        strategy: typed::<Namespace, _>(NamespaceStrategy),
    }
}
