//! `Machine` (`mc`): a worker node of a cluster, installed over SSH. Created in phase
//! `Initializing` with the `machine` finalizer; deleting it sets `Terminating` and keeps it
//! until the machine controller has removed the node and cleared `spec.finalizers`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cluster::{ClusterMachine, MachineProxy};
use super::common::{Condition, ObjectMeta, Taint, meta_str};
#[cfg(feature = "server")]
use {
    super::cluster::validate_machine,
    super::common::{self, check_cluster_ref, check_immutable},
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError},
    apiserver::{Column, Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
};

pub const KIND: &str = "Machine";
pub const GENERATE_NAME: &str = "mc-";
pub const FINALIZER: &str = "machine";
/// Provider names a machine may use.
pub const MACHINE_TYPES: &[&str] = &["Baremetal"];

/// Machine phases (`status.phase`).
pub mod phase {
    pub const INITIALIZING: &str = "Initializing";
    pub const RUNNING: &str = "Running";
    pub const FAILED: &str = "Failed";
    pub const UPGRADING: &str = "Upgrading";
    pub const TERMINATING: &str = "Terminating";
}

/// A worker machine of a cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Machine {
    /// `platform.tkestack.io/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `Machine`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata; names are generated with the prefix `mc-` when empty.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    /// The desired machine.
    #[serde(default)]
    pub spec: MachineSpec,
    /// The observed state, written by the machine controller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<MachineStatus>,
}

/// The desired state of a machine.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MachineSpec {
    /// Finalizers that must be cleared (through `finalize`) before a deleted machine is
    /// removed. Set to `["machine"]` by the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finalizers: Option<Vec<String>>,
    /// Tenant owning the machine; set from the caller, cannot be changed.
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The cluster the machine joins. Cannot be changed.
    #[serde(default)]
    pub cluster_name: String,
    /// Provider of the machine: `Baremetal`. Cannot be changed.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// IP address of the machine. Cannot be changed.
    #[serde(default)]
    pub ip: String,
    /// SSH port; defaults to 22.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    /// SSH user; defaults to `root`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// SSH password, base64-encoded. Either this or `privateKey` is required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// SSH private key (PEM), base64-encoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    /// Passphrase of the private key, base64-encoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass_phrase: Option<String>,
    /// Labels of the node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Taints of the node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taints: Option<Vec<Taint>>,
    /// A jump host or SOCKS5 proxy to reach the machine through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<MachineProxy>,
}

/// The observed state of a machine.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MachineStatus {
    /// A locked machine is not reconciled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
    /// Lifecycle phase: `Initializing`, `Running`, `Failed`, `Upgrading` or `Terminating`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// One condition per installation step and health check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    /// Human-readable details of the current phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// One-word reason of the current phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Addresses of the node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addresses: Option<Vec<MachineAddress>>,
    /// Facts about the node reported by its kubelet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine_info: Option<MachineSystemInfo>,
}

/// An address of a node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MachineAddress {
    /// `Hostname`, `ExternalIP`, `InternalIP`, `ExternalDNS` or `InternalDNS`.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// The address.
    #[serde(default)]
    pub address: String,
}

/// Facts about a node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MachineSystemInfo {
    /// Machine id (`/etc/machine-id`).
    #[serde(rename = "machineID", skip_serializing_if = "Option::is_none")]
    pub machine_id: Option<String>,
    /// System UUID reported by the firmware.
    #[serde(rename = "systemUUID", skip_serializing_if = "Option::is_none")]
    pub system_uuid: Option<String>,
    /// Id of the current boot.
    #[serde(rename = "bootID", skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    /// Kernel version (`uname -r`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_version: Option<String>,
    /// Operating system image (e.g. `CentOS Linux 7 (Core)`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_image: Option<String>,
    /// Container runtime and version (e.g. `containerd://1.6.9`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_runtime_version: Option<String>,
    /// Kubelet version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubelet_version: Option<String>,
    /// Kube-proxy version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kube_proxy_version: Option<String>,
    /// Operating system (`linux`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operating_system: Option<String>,
    /// CPU architecture (`amd64`, `arm64`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
}

impl Machine {
    pub fn name(&self) -> &str {
        meta_str(&self.metadata, "name")
    }
    pub fn phase(&self) -> &str {
        self.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
    }
    /// The SSH target of the machine, in the shape cluster masters use.
    pub fn ssh_target(&self) -> ClusterMachine {
        let s = &self.spec;
        ClusterMachine {
            ip: s.ip.clone(),
            port: s.port,
            username: s.username.clone(),
            password: s.password.clone(),
            private_key: s.private_key.clone(),
            pass_phrase: s.pass_phrase.clone(),
            labels: s.labels.clone(),
            taints: s.taints.clone(),
            proxy: s.proxy.clone(),
        }
    }
}

/// The create/update/delete rules of machines.
#[cfg(feature = "server")]
pub struct MachineStrategy;

#[cfg(feature = "server")]
impl TypedStrategy<Machine> for MachineStrategy {
    fn prepare_for_create(&self, ctx: &Context, m: &mut Machine) -> Result<(), ApiError> {
        m.spec.tenant_id = Some(common::tenant_for_create(ctx, m.spec.tenant_id.as_deref()));
        common::default_generate_name(&mut m.metadata, GENERATE_NAME);
        m.spec.finalizers = Some(vec![FINALIZER.to_string()]);
        if m.spec.port.is_none() {
            m.spec.port = Some(22);
        }
        if m.spec.username.as_deref().unwrap_or("").is_empty() {
            m.spec.username = Some("root".into());
        }
        m.status = Some(MachineStatus { phase: Some(phase::INITIALIZING.into()), ..Default::default() });
        Ok(())
    }

    fn validate(&self, _ctx: &Context, m: &Machine) -> Vec<FieldError> {
        let mut errs = vec![];
        check_cluster_ref("spec.clusterName", &m.spec.cluster_name, &mut errs);
        if m.spec.type_.is_empty() {
            errs.push(FieldError::required("spec.type", "the provider of the machine: Baremetal"));
        } else if !MACHINE_TYPES.contains(&m.spec.type_.as_str()) {
            errs.push(FieldError::not_supported("spec.type", &m.spec.type_, MACHINE_TYPES));
        }
        validate_machine("spec", &m.ssh_target(), &mut errs);
        errs
    }

    fn prepare_for_update(&self, _ctx: &Context, new: &mut Machine, old: &Machine) -> Result<(), ApiError> {
        // Status is written through /status, finalizers through /finalize.
        new.status = old.status.clone();
        new.spec.finalizers = old.spec.finalizers.clone();
        let (n, o) = (&mut new.spec, &old.spec);
        super::cluster::keep_ssh_credentials(
            [&mut n.password, &mut n.private_key, &mut n.pass_phrase],
            [&o.password, &o.private_key, &o.pass_phrase],
        );
        if let (Some(p), Some(op)) = (n.proxy.as_mut(), o.proxy.as_ref()) {
            p.keep_credentials_of(op);
        }
        Ok(())
    }

    /// The SSH credentials: the controllers read them over the API; tenants never see them.
    fn administrators_only_fields(&self) -> &'static [&'static str] {
        &[
            "/spec/password",
            "/spec/privateKey",
            "/spec/passPhrase",
            "/spec/proxy/password",
            "/spec/proxy/privateKey",
            "/spec/proxy/passPhrase",
        ]
    }

    fn validate_update(&self, ctx: &Context, new: &Machine, old: &Machine) -> Vec<FieldError> {
        let mut errs = self.validate(ctx, new);
        let (n, o) = (&new.spec, &old.spec);
        common::check_tenant_unchanged("spec.tenantID", n.tenant_id.as_deref(), o.tenant_id.as_deref(), &mut errs);
        check_immutable("spec.clusterName", &n.cluster_name, &o.cluster_name, &mut errs);
        check_immutable("spec.type", &n.type_, &o.type_, &mut errs);
        check_immutable("spec.ip", &n.ip, &o.ip, &mut errs);
        errs
    }

    fn prepare_for_delete(&self, _ctx: &Context, m: &Machine) -> Option<Machine> {
        let mut kept = m.clone();
        kept.status.get_or_insert_with(Default::default).phase = Some(phase::TERMINATING.into());
        Some(kept)
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: KIND,
        plural: "machines",
        singular: "machine",
        short_names: &["mc"],
        categories: &["tkestack"],
        namespaced: false,
        verbs: Verbs::ALL,
        subresources: Subresources { status: true, finalize: true },
        columns: vec![
            Column::new("Type", "string", ".spec.type", "Provider of the machine."),
            Column::new("IP", "string", ".spec.ip", "IP address of the machine."),
            Column::new("Status", "string", ".status.phase", "Lifecycle phase of the machine."),
            Column::age(),
        ],
        field_selectors: &[
            "spec.tenantID",
            "spec.clusterName",
            "spec.type",
            "spec.ip",
            "status.locked",
            "status.phase",
        ],
        tenant_field: Some("spec.tenantID"),
        static_objects: None,
        schema: schema_of::<Machine>,
        strategy: typed::<Machine, _>(MachineStrategy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::common::test_ctx;
    use apimachinery::{ApiError, error::FieldErrorKind};
    use serde_json::json;

    fn machine(v: Value) -> Machine {
        serde_json::from_value(v).unwrap()
    }

    fn worker() -> Machine {
        machine(
            json!({"spec": {"clusterName": "cls-a1", "type": "Baremetal", "ip": "10.0.0.5", "password": "cGFzcw=="}}),
        )
    }

    #[test]
    fn create_sets_prefix_finalizer_phase_and_ssh_defaults() {
        let mut m = worker();
        m.status =
            Some(MachineStatus { phase: Some("Running".into()), message: Some("x".into()), ..Default::default() });
        MachineStrategy.prepare_for_create(&test_ctx("t1", false), &mut m).unwrap();
        assert_eq!(m.metadata["generateName"], "mc-");
        assert_eq!(m.spec.finalizers, Some(vec!["machine".to_string()]));
        assert_eq!(m.spec.tenant_id.as_deref(), Some("t1"));
        assert_eq!((m.spec.port, m.spec.username.as_deref()), (Some(22), Some("root")));
        assert_eq!(m.status, Some(MachineStatus { phase: Some("Initializing".into()), ..Default::default() }));
        assert!(MachineStrategy.validate(&test_ctx("t1", false), &m).is_empty());
    }

    #[test]
    fn an_ip_that_is_not_an_ip_is_rejected_naming_spec_ip() {
        let mut m = worker();
        m.spec.ip = "10.0.0.x".into();
        m.metadata = json!({"name": "mc-1"});
        let errs = MachineStrategy.validate(&test_ctx("t1", false), &m);
        assert_eq!(errs.len(), 1);
        assert_eq!((errs[0].kind, errs[0].field.as_str()), (FieldErrorKind::Invalid, "spec.ip"));
        let e = ApiError::invalid(crate::platform::GROUP, KIND, "mc-1", errs);
        assert_eq!(e.code(), 422);
        assert_eq!(
            e.message,
            "Machine.platform.tkestack.io \"mc-1\" is invalid: spec.ip: Invalid value: \"10.0.0.x\": must be a valid IP address (e.g. 10.0.0.10)"
        );
    }

    #[test]
    fn required_and_unsupported_fields() {
        let m = machine(json!({"spec": {"clusterName": "prod", "type": "VM", "port": 0}}));
        let errs = MachineStrategy.validate(&test_ctx("t1", false), &m);
        let got: Vec<(&str, FieldErrorKind)> = errs.iter().map(|e| (e.field.as_str(), e.kind)).collect();
        assert_eq!(
            got,
            vec![
                ("spec.clusterName", FieldErrorKind::Invalid),
                ("spec.type", FieldErrorKind::NotSupported),
                ("spec.ip", FieldErrorKind::Required),
                ("spec.port", FieldErrorKind::Invalid),
                ("spec.password", FieldErrorKind::Required),
            ]
        );
    }

    #[test]
    fn cluster_type_and_ip_are_immutable_and_status_is_kept() {
        let ctx = test_ctx("t1", false);
        let mut old = worker();
        MachineStrategy.prepare_for_create(&ctx, &mut old).unwrap();
        let mut new = old.clone();
        new.spec.cluster_name = "cls-b2".into();
        new.spec.ip = "10.0.0.6".into();
        new.spec.finalizers = None;
        new.spec.labels = Some([("role".to_string(), "gpu".to_string())].into());
        new.status = None;
        MachineStrategy.prepare_for_update(&ctx, &mut new, &old).unwrap();
        assert_eq!(new.phase(), "Initializing");
        assert_eq!(new.spec.finalizers, Some(vec!["machine".to_string()]));
        let errs = MachineStrategy.validate_update(&ctx, &new, &old);
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["spec.clusterName", "spec.ip"]);
        assert!(errs[0].detail.contains("field is immutable (it was \"cls-a1\")"), "{}", errs[0].detail);
    }

    #[test]
    fn delete_keeps_the_machine_terminating() {
        let mut m = worker();
        MachineStrategy.prepare_for_create(&test_ctx("t1", false), &mut m).unwrap();
        let kept = MachineStrategy.prepare_for_delete(&test_ctx("t1", false), &m).unwrap();
        assert_eq!(kept.phase(), "Terminating");
        assert_eq!(kept.spec.finalizers, Some(vec!["machine".to_string()]));
    }
}
