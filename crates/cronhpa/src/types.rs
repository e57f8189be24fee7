//! The `extensions.tkestack.io/v1` CronHPA resource: TKEStack's `scaleTargetRef` and `crons`,
//! plus our additions — a time zone and a starting deadline per CronHPA, and a status with the
//! last and next run of every cron and conditions that explain what went wrong.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Scales `scaleTargetRef` to `targetReplicas` at each cron's times.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "extensions.tkestack.io",
    version = "v1",
    kind = "CronHPA",
    plural = "cronhpas",
    singular = "cronhpa",
    shortname = "cronhpa",
    namespaced,
    status = "CronHPAStatus",
    printcolumn = r#"{"name":"Target","type":"string","jsonPath":".spec.scaleTargetRef.name"}"#,
    printcolumn = r#"{"name":"Kind","type":"string","jsonPath":".spec.scaleTargetRef.kind","priority":1}"#,
    printcolumn = r#"{"name":"Last","type":"date","jsonPath":".status.lastScheduleTime"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct CronHPASpec {
    /// The workload to scale: anything with a `scale` subresource.
    pub scale_target_ref: ScaleTargetRef,
    /// When to scale, and to how many replicas.
    pub crons: Vec<Cron>,
    /// The IANA time zone the schedules are read in (`Asia/Shanghai`); UTC when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// How late a run may still happen (after the controller was down, say), in seconds; a run
    /// missed by more is skipped. The controller's default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starting_deadline_seconds: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScaleTargetRef {
    /// `apps/v1`
    pub api_version: String,
    /// `Deployment`, `StatefulSet`, or any kind with a `scale` subresource.
    pub kind: String,
    pub name: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Cron {
    /// A cron expression: five fields (minute hour day-of-month month day-of-week) or six with
    /// seconds first.
    pub schedule: String,
    pub target_replicas: i32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CronHPAStatus {
    /// The most recent run of any cron (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<String>,
    /// The soonest next run of any cron (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_schedule_time: Option<String>,
    /// One entry per cron of the spec, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crons: Vec<CronStatus>,
    /// `Valid` (the spec can be scheduled) and `Scaled` (the last run reached the target).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CronStatus {
    pub schedule: String,
    pub target_replicas: i32,
    /// The scheduled time of the last run that was carried out (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<String>,
    /// The next scheduled time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_schedule_time: Option<String>,
}
