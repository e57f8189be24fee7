//! What every add-on kind (PersistentEvent, TappController, CSIOperator, CronHPA, Prometheus,
//! ...) shares: the spec `{tenantID, clusterName, version}`, the status `{version, phase,
//! reason, retryCount, lastReInitializingTimestamp}`, the catalogue entry of the kind, one
//! strategy, and the macro that declares an add-on object type.

#[cfg(feature = "server")]
use std::marker::PhantomData;

use apimachinery::FieldError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;

#[cfg(feature = "server")]
use {
    super::common::{self, check_cluster_ref, check_immutable},
    super::{GROUP, VERSION},
    apimachinery::ApiError,
    apiserver::{Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
};

/// Add-on phases (`status.phase`).
pub mod phase {
    pub const INITIALIZING: &str = "Initializing";
    pub const REINITIALIZING: &str = "Reinitializing";
    pub const CHECKING: &str = "Checking";
    pub const RUNNING: &str = "Running";
    pub const UPGRADING: &str = "Upgrading";
    pub const FAILED: &str = "Failed";
    pub const PENDING: &str = "Pending";
    pub const UNHEALTHY: &str = "Unhealthy";
    pub const TERMINATING: &str = "Terminating";
    pub const UNKNOWN: &str = "Unknown";
}

/// Catalogue levels.
pub const LEVEL_BASIC: &str = "Basic";
pub const LEVEL_ENHANCE: &str = "Enhance";

/// One add-on kind: its names and its entry in the ClusterAddonType catalogue.
#[derive(Clone, Copy, Debug)]
pub struct AddonInfo {
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub short_names: &'static [&'static str],
    pub generate_name: &'static str,
    /// `Basic` or `Enhance`.
    pub level: &'static str,
    /// The version installed when `spec.version` is empty.
    pub latest_version: &'static str,
    /// Markdown shown in the console's add-on list.
    pub description: &'static str,
    pub compatible_cluster_types: &'static [&'static str],
}

/// Every add-on kind, in catalogue order.
pub const ADDONS: &[&AddonInfo] = &[
    &super::cron_hpa::INFO,
    &super::csi_operator::INFO,
    &super::gpu_manager::INFO,
    &super::helm::INFO,
    &super::ipam::INFO,
    &super::lbcf::INFO,
    &super::log_collector::INFO,
    &super::persistent_event::INFO,
    &super::prometheus::INFO,
    &super::tapp_controller::INFO,
    &super::volume_decorator::INFO,
];

/// The catalogue entry of a kind (`CronHPA`), if it is an add-on.
pub fn info(kind: &str) -> Option<&'static AddonInfo> {
    ADDONS.iter().copied().find(|a| a.kind == kind)
}

/// What every add-on spec holds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddonSpec {
    /// Tenant owning the add-on; set from the caller, cannot be changed.
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The cluster the add-on is installed in. Cannot be changed.
    #[serde(default)]
    pub cluster_name: String,
    /// Version to install; defaults to the catalogue's latest version. Changing it on a
    /// `Running` add-on upgrades it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// What every add-on status holds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddonStatus {
    /// Version installed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `Initializing`, `Reinitializing`, `Checking`, `Running`, `Upgrading`, `Failed`,
    /// `Pending`, `Unhealthy`, `Terminating` or `Unknown`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Why the add-on is in its phase, e.g. the error of the last installation attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Installation attempts that failed; the add-on is `Failed` after 5.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_count: Option<i64>,
    /// When the add-on last went back to `Reinitializing` (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_re_initializing_timestamp: Option<String>,
}

/// An add-on spec: the common part plus the kind's own fields.
pub trait AddonSpecFields: Default {
    fn addon(&self) -> &AddonSpec;
    fn addon_mut(&mut self) -> &mut AddonSpec;
    /// Checks the kind's own fields.
    fn validate_extra(&self, _errs: &mut Vec<FieldError>) {}
}

impl AddonSpecFields for AddonSpec {
    fn addon(&self) -> &AddonSpec {
        self
    }
    fn addon_mut(&mut self) -> &mut AddonSpec {
        self
    }
}

/// An add-on status: the common part plus the kind's own fields.
pub trait AddonStatusFields: Default {
    fn addon_mut(&mut self) -> &mut AddonStatus;
}

impl AddonStatusFields for AddonStatus {
    fn addon_mut(&mut self) -> &mut AddonStatus {
        self
    }
}

/// An add-on object type (declared with [`addon_object!`]).
pub trait Addon: Serialize + DeserializeOwned + JsonSchema + Clone + 'static {
    type Spec: AddonSpecFields;
    type Status: AddonStatusFields + Clone;
    fn info() -> &'static AddonInfo;
    fn metadata_mut(&mut self) -> &mut Value;
    fn spec(&self) -> &Self::Spec;
    fn spec_mut(&mut self) -> &mut Self::Spec;
    fn status(&self) -> &Option<Self::Status>;
    fn status_mut(&mut self) -> &mut Option<Self::Status>;
}

/// Declares an add-on object type: `apiVersion`, `kind`, `metadata`, `spec`, `status`.
macro_rules! addon_object {
    ($(#[$doc:meta])* $name:ident, $spec:ty, $status:ty, $info:expr) => {
        $(#[$doc])*
        #[allow(clippy::upper_case_acronyms)]
        #[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            /// `platform.tkestack.io/v1`.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub api_version: Option<String>,
            /// The kind of the add-on.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub kind: Option<String>,
            /// Standard object metadata; names are generated with the kind's prefix when empty.
            #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
            #[schemars(with = "super::common::ObjectMeta")]
            pub metadata: serde_json::Value,
            /// The desired add-on.
            #[serde(default)]
            pub spec: $spec,
            /// The observed state, written by the add-on controller.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub status: Option<$status>,
        }

        impl super::addon::Addon for $name {
            type Spec = $spec;
            type Status = $status;
            fn info() -> &'static super::addon::AddonInfo {
                &$info
            }
            fn metadata_mut(&mut self) -> &mut serde_json::Value {
                &mut self.metadata
            }
            fn spec(&self) -> &$spec {
                &self.spec
            }
            fn spec_mut(&mut self) -> &mut $spec {
                &mut self.spec
            }
            fn status(&self) -> &Option<$status> {
                &self.status
            }
            fn status_mut(&mut self) -> &mut Option<$status> {
                &mut self.status
            }
        }

        /// The resource definition of this add-on kind.
        #[cfg(feature = "server")]
        pub fn definition() -> apiserver::ResourceDef {
            super::addon::definition::<$name>()
        }
    };
}
pub(crate) use addon_object;

/// The create/update rules shared by every add-on kind.
#[cfg(feature = "server")]
pub struct AddonStrategy<T>(PhantomData<fn() -> T>);

#[cfg(feature = "server")]
impl<T> Default for AddonStrategy<T> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

#[cfg(feature = "server")]
impl<T: Addon> TypedStrategy<T> for AddonStrategy<T> {
    fn prepare_for_create(&self, ctx: &Context, obj: &mut T) -> Result<(), ApiError> {
        let info = T::info();
        common::default_generate_name(obj.metadata_mut(), info.generate_name);
        let spec = obj.spec_mut().addon_mut();
        spec.tenant_id = Some(common::tenant_for_create(ctx, spec.tenant_id.as_deref()));
        if spec.version.as_deref().unwrap_or("").is_empty() {
            spec.version = Some(info.latest_version.to_string());
        }
        // The controller owns the status; a new add-on starts its install.
        let mut status = T::Status::default();
        status.addon_mut().phase = Some(phase::INITIALIZING.into());
        *obj.status_mut() = Some(status);
        Ok(())
    }

    fn validate(&self, _ctx: &Context, obj: &T) -> Vec<FieldError> {
        let mut errs = vec![];
        let spec = obj.spec();
        check_cluster_ref("spec.clusterName", &spec.addon().cluster_name, &mut errs);
        if let Some(v) = spec.addon().version.as_deref()
            && (v.is_empty()
                || v.len() > 128
                || !v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+')))
        {
            errs.push(FieldError::invalid("spec.version", v, "must be a version such as v1.0.0"));
        }
        spec.validate_extra(&mut errs);
        errs
    }

    fn prepare_for_update(&self, _ctx: &Context, new: &mut T, old: &T) -> Result<(), ApiError> {
        // Status is written through /status only.
        *new.status_mut() = old.status().clone();
        Ok(())
    }

    fn validate_update(&self, ctx: &Context, new: &T, old: &T) -> Vec<FieldError> {
        let mut errs = self.validate(ctx, new);
        let (n, o) = (new.spec().addon(), old.spec().addon());
        common::check_tenant_unchanged("spec.tenantID", n.tenant_id.as_deref(), o.tenant_id.as_deref(), &mut errs);
        check_immutable("spec.clusterName", &n.cluster_name, &o.cluster_name, &mut errs);
        errs
    }
}

/// The resource definition of an add-on kind.
#[cfg(feature = "server")]
pub fn definition<T: Addon>() -> ResourceDef {
    definition_in::<T>(GROUP)
}

/// The resource definition of an add-on kind served in `group` (LogAgent is one outside the
/// platform group).
#[cfg(feature = "server")]
pub fn definition_in<T: Addon>(group: &'static str) -> ResourceDef {
    let info = T::info();
    ResourceDef {
        group,
        version: VERSION,
        kind: info.kind,
        plural: info.plural,
        singular: info.singular,
        short_names: info.short_names,
        categories: &["tkestack", "addons"],
        namespaced: false,
        verbs: Verbs::ALL,
        subresources: Subresources { status: true, finalize: false },
        columns: vec![],
        field_selectors: &["spec.tenantID", "spec.clusterName", "spec.version", "status.version", "status.phase"],
        tenant_field: Some("spec.tenantID"),
        static_objects: None,
        schema: schema_of::<T>,
        strategy: typed::<T, _>(AddonStrategy::<T>::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::common::test_ctx;
    use crate::platform::{CSIOperator, CronHPA, PersistentEvent, Prometheus};
    use serde_json::json;

    fn of<T: Addon>(v: Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn catalogue_is_complete_and_consistent() {
        let kinds: Vec<&str> = ADDONS.iter().map(|a| a.kind).collect();
        assert_eq!(
            kinds,
            vec![
                "CronHPA",
                "CSIOperator",
                "GPUManager",
                "Helm",
                "IPAM",
                "LBCF",
                "LogCollector",
                "PersistentEvent",
                "Prometheus",
                "TappController",
                "VolumeDecorator"
            ]
        );
        for a in ADDONS {
            assert!([LEVEL_BASIC, LEVEL_ENHANCE].contains(&a.level), "{}", a.kind);
            assert!(!a.description.is_empty() && !a.latest_version.is_empty());
            assert!(a.generate_name.ends_with('-'));
        }
        assert_eq!(info("PersistentEvent").map(|a| a.generate_name), Some("pe-"));
        assert!(info("Cluster").is_none());
    }

    #[test]
    fn create_sets_tenant_prefix_latest_version_and_initializing() {
        let mut pe: PersistentEvent = of(json!({
            "spec": {"clusterName": "cls-a1", "tenantID": "x", "persistentBackEnd": {"es": {"ip": "10.0.0.9", "port": 9200, "scheme": "http", "indexName": "events"}}},
            "status": {"phase": "Running", "retryCount": 3}
        }));
        let ctx = test_ctx("t1", false);
        AddonStrategy::<PersistentEvent>::default().prepare_for_create(&ctx, &mut pe).unwrap();
        assert_eq!(pe.metadata["generateName"], "pe-");
        assert_eq!(pe.spec.addon.tenant_id.as_deref(), Some("t1"));
        assert_eq!(pe.spec.addon.version.as_deref(), Some("v1.0.0"));
        assert_eq!(pe.status, Some(AddonStatus { phase: Some("Initializing".into()), ..Default::default() }));
        assert!(AddonStrategy::<PersistentEvent>::default().validate(&ctx, &pe).is_empty());

        let mut co: CSIOperator = of(
            json!({"spec": {"clusterName": "cls-a1", "version": "v1.2.0"}, "status": {"storageVendorVersion": {"ceph": "1"}}}),
        );
        AddonStrategy::<CSIOperator>::default().prepare_for_create(&ctx, &mut co).unwrap();
        assert_eq!(co.metadata["generateName"], "co-");
        assert_eq!(co.spec.version.as_deref(), Some("v1.2.0"), "a chosen version is kept");
        let status = co.status.unwrap();
        assert_eq!((status.addon.phase.as_deref(), status.storage_vendor_version), (Some("Initializing"), None));
    }

    #[test]
    fn validation_names_fields() {
        let ctx = test_ctx("t1", false);
        let s = AddonStrategy::<CronHPA>::default();
        let errs = s.validate(&ctx, &of(json!({"spec": {"version": "v 1"}})));
        assert_eq!(errs.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), vec!["spec.clusterName", "spec.version"]);

        let pe = AddonStrategy::<PersistentEvent>::default();
        let errs = pe.validate(&ctx, &of(json!({"spec": {"clusterName": "cls-a1"}})));
        assert_eq!(errs.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), vec!["spec.persistentBackEnd"]);
        let errs = pe.validate(
            &ctx,
            &of(json!({"spec": {"clusterName": "cls-a1", "persistentBackEnd": {"es": {"port": 0, "scheme": "tcp"}}}})),
        );
        assert_eq!(
            errs.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
            vec![
                "spec.persistentBackEnd.es.ip",
                "spec.persistentBackEnd.es.port",
                "spec.persistentBackEnd.es.scheme",
                "spec.persistentBackEnd.es.indexName"
            ]
        );

        let prom = AddonStrategy::<Prometheus>::default();
        let errs = prom.validate(
            &ctx,
            &of(json!({"spec": {"clusterName": "cls-a1", "remoteAddress": {"writeAddr": ["http://influx:8086/write", "influx"]}, "notifyWebhook": "hook", "alertRepeatInterval": "soon"}})),
        );
        assert_eq!(
            errs.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
            vec!["spec.remoteAddress.writeAddr[1]", "spec.notifyWebhook", "spec.alertRepeatInterval"]
        );
    }

    #[test]
    fn update_keeps_status_and_cluster() {
        let ctx = test_ctx("t1", false);
        let s = AddonStrategy::<CronHPA>::default();
        let mut old: CronHPA = of(json!({"spec": {"clusterName": "cls-a1"}}));
        s.prepare_for_create(&ctx, &mut old).unwrap();
        let mut new = old.clone();
        new.spec.cluster_name = "cls-b2".into();
        new.spec.version = Some("v1.1.0".into());
        new.status = Some(AddonStatus { phase: Some("Running".into()), ..Default::default() });
        s.prepare_for_update(&ctx, &mut new, &old).unwrap();
        assert_eq!(new.status, old.status);
        let errs = s.validate_update(&ctx, &new, &old);
        assert_eq!(errs.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), vec!["spec.clusterName"]);
        assert!(s.prepare_for_delete(&ctx, &new).is_none(), "add-ons are deleted at once; the controller uninstalls");
    }

    #[test]
    fn flattened_specs_round_trip() {
        let v = json!({"apiVersion": "platform.tkestack.io/v1", "kind": "Prometheus", "metadata": {"name": "prom-a"},
            "spec": {"tenantID": "t", "clusterName": "cls-a", "version": "v1.0.0", "withNPD": true, "subVersion": {"alertmanager": "v0.18"},
                     "resources": {"limits": {"cpu": "1", "memory": "2Gi"}}, "runOnMaster": false},
            "status": {"phase": "Running", "retryCount": 0, "lastReInitializingTimestamp": "2024-01-01T00:00:00Z"}});
        let p: Prometheus = of(v.clone());
        assert_eq!(serde_json::to_value(&p).unwrap(), v);
    }
}
