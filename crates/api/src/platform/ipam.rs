//! `IPAM` (`ipam`): the add-on that assigns fixed pod IPs (Galaxy IPAM). Spec and status are the common add-on
//! ones; the add-on controller installs it into `spec.clusterName`.

use super::addon::{AddonInfo, AddonSpec, AddonStatus, LEVEL_ENHANCE, addon_object};

/// The catalogue entry of the IPAM add-on.
pub const INFO: AddonInfo = AddonInfo {
    kind: "IPAM",
    plural: "ipams",
    singular: "ipam",
    short_names: &["ipam"],
    generate_name: "ipam-",
    level: LEVEL_ENHANCE,
    latest_version: "v1.0.0",
    description: "Galaxy IP address management: gives pods routable, optionally fixed IP addresses from configured pools, so that stateful workloads keep their IP when rescheduled.",
    compatible_cluster_types: &["Baremetal", "Imported", "Edge"],
};

addon_object!(
    /// The IPAM add-on of one cluster: it assigns fixed pod IPs (Galaxy IPAM).
    IPAM,
    AddonSpec,
    AddonStatus,
    INFO
);
