//! `CSIOperator` (`co`): the add-on that installs and manages CSI storage drivers. Its status
//! adds the versions of the storage vendors' drivers it runs.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::addon::{AddonInfo, AddonSpec, AddonStatus, AddonStatusFields, LEVEL_BASIC, addon_object};

/// The catalogue entry of the CSIOperator add-on.
pub const INFO: AddonInfo = AddonInfo {
    kind: "CSIOperator",
    plural: "csioperators",
    singular: "csioperator",
    short_names: &["co"],
    generate_name: "co-",
    level: LEVEL_BASIC,
    latest_version: "v1.0.0",
    description: "Installs and upgrades CSI storage drivers (such as Ceph RBD, CephFS or cloud disks) from a single operator, so that clusters get persistent volumes without hand-written driver manifests.",
    compatible_cluster_types: &["Baremetal", "Imported", "Edge"],
};

/// The observed state of a CSI operator.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CsiOperatorStatus {
    #[serde(flatten)]
    pub addon: AddonStatus,
    /// Versions of the storage vendors' drivers installed, by vendor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_vendor_version: Option<BTreeMap<String, String>>,
}

impl AddonStatusFields for CsiOperatorStatus {
    fn addon_mut(&mut self) -> &mut AddonStatus {
        &mut self.addon
    }
}

addon_object!(
    /// The CSI operator of one cluster.
    CSIOperator,
    AddonSpec,
    CsiOperatorStatus,
    INFO
);
