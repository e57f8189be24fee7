//! `VolumeDecorator` (`vd`): the add-on that adds workload and usage details to volumes. Spec and status are the common add-on
//! ones; the add-on controller installs it into `spec.clusterName`.

use super::addon::{AddonInfo, AddonSpec, AddonStatus, LEVEL_ENHANCE, addon_object};

/// The catalogue entry of the VolumeDecorator add-on.
pub const INFO: AddonInfo = AddonInfo {
    kind: "VolumeDecorator",
    plural: "volumedecorators",
    singular: "volumedecorator",
    short_names: &["vd"],
    generate_name: "vd-",
    level: LEVEL_ENHANCE,
    latest_version: "v1.0.0",
    description: "Records on each PersistentVolumeClaim which workload uses it, where it is mounted and how full it is, and lets volumes be expanded.",
    compatible_cluster_types: &["Baremetal", "Imported", "Edge"],
};

addon_object!(
    /// The VolumeDecorator add-on of one cluster: it adds workload and usage details to volumes.
    VolumeDecorator,
    AddonSpec,
    AddonStatus,
    INFO
);
