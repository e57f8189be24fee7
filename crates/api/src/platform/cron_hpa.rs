//! `CronHPA` (`cronhpa`): the add-on that scales workloads on a cron schedule. Spec and status are the common add-on
//! ones; the add-on controller installs it into `spec.clusterName`.

use super::addon::{AddonInfo, AddonSpec, AddonStatus, LEVEL_ENHANCE, addon_object};

/// The catalogue entry of the CronHPA add-on.
pub const INFO: AddonInfo = AddonInfo {
    kind: "CronHPA",
    plural: "cronhpas",
    singular: "cronhpa",
    short_names: &["cronhpa"],
    generate_name: "cronhpa-",
    level: LEVEL_ENHANCE,
    latest_version: "v1.0.0",
    description: "Scales any scalable workload (Deployment, StatefulSet, TApp) on a cron schedule: each rule sets the replica count at the times its cron expression names. Useful for traffic that follows the clock.",
    compatible_cluster_types: &["Baremetal", "Imported", "Edge"],
};

addon_object!(
    /// The CronHPA add-on of one cluster: it scales workloads on a cron schedule.
    CronHPA,
    AddonSpec,
    AddonStatus,
    INFO
);
