//! `GPUManager` (`gm`): the add-on that shares GPUs between containers. Spec and status are the common add-on
//! ones; the add-on controller installs it into `spec.clusterName`.

use super::addon::{AddonInfo, AddonSpec, AddonStatus, LEVEL_ENHANCE, addon_object};

/// The catalogue entry of the GPUManager add-on.
pub const INFO: AddonInfo = AddonInfo {
    kind: "GPUManager",
    plural: "gpumanagers",
    singular: "gpumanager",
    short_names: &["gm"],
    generate_name: "gm-",
    level: LEVEL_ENHANCE,
    latest_version: "v1.0.0",
    description: "Schedules and isolates GPUs so that containers can request whole GPUs or fractions of one (GPU memory and compute), with per-container usage metrics.",
    compatible_cluster_types: &["Baremetal", "Imported", "Edge"],
};

addon_object!(
    /// The GPUManager add-on of one cluster: it shares GPUs between containers.
    GPUManager,
    AddonSpec,
    AddonStatus,
    INFO
);
