//! `LBCF` (`lbcf`): the add-on that binds pods to external load balancers. Spec and status are the common add-on
//! ones; the add-on controller installs it into `spec.clusterName`.

use super::addon::{AddonInfo, AddonSpec, AddonStatus, LEVEL_ENHANCE, addon_object};

/// The catalogue entry of the LBCF add-on.
pub const INFO: AddonInfo = AddonInfo {
    kind: "LBCF",
    plural: "lbcfs",
    singular: "lbcf",
    short_names: &["lbcf"],
    generate_name: "lbcf-",
    level: LEVEL_ENHANCE,
    latest_version: "v1.0.0",
    description: "Load Balancer Controlling Framework: binds the pods of a workload to load balancers outside the cluster through webhooks, keeping the back ends in step with the pods.",
    compatible_cluster_types: &["Baremetal", "Imported", "Edge"],
};

addon_object!(
    /// The LBCF add-on of one cluster: it binds pods to external load balancers.
    LBCF,
    AddonSpec,
    AddonStatus,
    INFO
);
