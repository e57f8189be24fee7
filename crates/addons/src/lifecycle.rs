//! The add-on state machine, as pure functions of what was observed, so every transition of
//! TKEStack's add-on lifecycle is tested without a cluster:
//!
//! - `Pending` while the cluster is not reachable yet (no retries are spent waiting for it);
//! - `Initializing`: install; success → `Checking` (retries reset), failure → `Reinitializing`
//!   with the error as reason and `retryCount` 1;
//! - `Reinitializing`: after the retry delay, remove leftovers and install again; each failure
//!   counts; at the limit → `Failed` with "Install error and retried max(5) times already.";
//! - `Checking`: until every workload is available → `Running` with `status.version`; past the
//!   check timeout → `Failed` ("<Kind> is not healthy.");
//! - `Running`: a changed `spec.version` → `Upgrading`; otherwise a periodic health check, a
//!   missing or unavailable workload → `Failed` ("<Kind> is not healthy."), from which a later
//!   healthy check brings it back to `Running` (TKEStack left such add-ons failed for good);
//! - `Upgrading`: apply the new version → `Checking`, or `Failed` ("Failed to upgrade ...").

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const INITIALIZING: &str = "Initializing";
pub const REINITIALIZING: &str = "Reinitializing";
pub const CHECKING: &str = "Checking";
pub const RUNNING: &str = "Running";
pub const UPGRADING: &str = "Upgrading";
pub const FAILED: &str = "Failed";
pub const PENDING: &str = "Pending";

/// The reason of an add-on that used up its installation attempts (TKEStack's words).
pub fn retries_exhausted(max: i64) -> String {
    format!("Install error and retried max({max}) times already.")
}

/// The reason of an add-on whose workloads are not available.
pub fn not_healthy(kind: &str) -> String {
    format!("{kind} is not healthy.")
}

/// How long the lifecycle waits between steps (TKEStack: 5 s checks for up to 5 min, 5 min
/// between installation attempts, 5 attempts, health checks every 5 min).
#[derive(Clone, Debug)]
pub struct Timings {
    pub check_interval: Duration,
    pub check_timeout: Duration,
    pub retry_delay: Duration,
    pub max_retries: i64,
    pub health_period: Duration,
    /// How often an add-on waiting for its cluster looks again.
    pub pending_period: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            check_interval: Duration::from_secs(5),
            check_timeout: Duration::from_secs(300),
            retry_delay: Duration::from_secs(300),
            max_retries: 5,
            health_period: Duration::from_secs(300),
            pending_period: Duration::from_secs(10),
        }
    }
}

/// The add-on status fields the lifecycle reads and writes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_re_initializing_timestamp: Option<String>,
}

impl Status {
    pub fn phase(&self) -> &str {
        self.phase.as_deref().unwrap_or("")
    }
    fn retries(&self) -> i64 {
        self.retry_count.unwrap_or(0)
    }
    fn last_attempt(&self) -> Option<DateTime<Utc>> {
        self.last_re_initializing_timestamp
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    }
}

/// What the controller should do now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Install `version` (after removing leftovers when `clean_first`).
    Install { version: String, clean_first: bool },
    /// Apply `version` over the installed one.
    Upgrade { version: String },
    /// See whether the workloads are available.
    Check,
    /// Nothing to do before `after`.
    Wait { after: Duration },
    /// Nothing to do until the object changes.
    Idle,
}

/// The next step for an add-on in `status` that should run `target` version.
pub fn next_step(status: &Status, target: &str, now: DateTime<Utc>, t: &Timings) -> Step {
    match status.phase() {
        "" | PENDING | INITIALIZING => Step::Install { version: target.to_string(), clean_first: false },
        REINITIALIZING => {
            let due = status
                .last_attempt()
                .map(|at| at + chrono::Duration::from_std(t.retry_delay).unwrap_or_default())
                .unwrap_or(now);
            if due > now {
                Step::Wait { after: (due - now).to_std().unwrap_or_default() }
            } else {
                Step::Install { version: target.to_string(), clean_first: true }
            }
        }
        CHECKING => Step::Check,
        UPGRADING => Step::Upgrade { version: target.to_string() },
        RUNNING if status.version.as_deref() != Some(target) && status.version.is_some() => {
            Step::Upgrade { version: target.to_string() }
        }
        RUNNING => Step::Check,
        FAILED if status.reason.as_deref() == Some(retries_exhausted(t.max_retries).as_str()) => Step::Idle,
        FAILED
            if status.reason.as_deref().is_some_and(|r| r.starts_with("Failed to upgrade"))
                && status.version.as_deref() == Some(target) =>
        {
            Step::Idle
        }
        FAILED if status.reason.as_deref().is_some_and(|r| r.starts_with("Failed to upgrade")) => {
            Step::Upgrade { version: target.to_string() }
        }
        // Unhealthy add-ons are looked at again: they recover when their workloads do.
        FAILED => Step::Check,
        _ => Step::Install { version: target.to_string(), clean_first: false },
    }
}

/// The status after waiting for the cluster.
pub fn pending(status: &Status, why: &str) -> Status {
    Status { phase: Some(PENDING.into()), reason: Some(why.to_string()), ..status.clone() }
}

/// Why an attempt (install, upgrade, check) failed: the controller's typed error, of which the
/// lifecycle uses only the text (it becomes the add-on's reason).
pub type Failure = Box<dyn std::error::Error + Send + Sync>;

/// The status after an installation attempt.
pub fn installed(status: &Status, result: Result<(), Failure>, now: DateTime<Utc>, t: &Timings) -> Status {
    let reinstalling = status.phase() == REINITIALIZING;
    match result {
        Ok(()) => Status {
            phase: Some(CHECKING.into()),
            reason: None,
            retry_count: Some(if reinstalling { status.retries() } else { 0 }),
            ..status.clone()
        },
        Err(e) => {
            let retries = if reinstalling { status.retries() + 1 } else { 1 };
            let stamp = Some(apimachinery::time::rfc3339(now));
            if retries >= t.max_retries {
                Status {
                    phase: Some(FAILED.into()),
                    reason: Some(retries_exhausted(t.max_retries)),
                    retry_count: Some(retries),
                    last_re_initializing_timestamp: stamp,
                    ..status.clone()
                }
            } else {
                Status {
                    phase: Some(REINITIALIZING.into()),
                    reason: Some(e.to_string()),
                    retry_count: Some(retries),
                    last_re_initializing_timestamp: stamp,
                    ..status.clone()
                }
            }
        }
    }
}

/// The status after an upgrade attempt.
pub fn upgraded(status: &Status, kind: &str, version: &str, result: Result<(), Failure>) -> Status {
    match result {
        Ok(()) => Status { phase: Some(CHECKING.into()), reason: None, ..status.clone() },
        Err(e) => Status {
            phase: Some(FAILED.into()),
            reason: Some(format!("Failed to upgrade {kind} to {version}: {e}")),
            ..status.clone()
        },
    }
}

/// The status after a check of the workloads; `checking_since` is when the add-on entered
/// `Checking`. Returns the status and when to look again.
pub fn checked(
    status: &Status,
    kind: &str,
    target: &str,
    healthy: Result<(), Failure>,
    checking_since: DateTime<Utc>,
    now: DateTime<Utc>,
    t: &Timings,
) -> (Status, Duration) {
    match (status.phase(), healthy) {
        (_, Ok(())) => (
            Status { phase: Some(RUNNING.into()), reason: None, version: Some(target.to_string()), ..status.clone() },
            t.health_period,
        ),
        (CHECKING, Err(e)) => {
            if now - checking_since > chrono::Duration::from_std(t.check_timeout).unwrap_or_default() {
                (
                    Status {
                        phase: Some(FAILED.into()),
                        reason: Some(format!("{} ({e})", not_healthy(kind))),
                        ..status.clone()
                    },
                    t.health_period,
                )
            } else {
                (Status { reason: Some(format!("waiting for {e}")), ..status.clone() }, t.check_interval)
            }
        }
        (_, Err(e)) => (
            Status {
                phase: Some(FAILED.into()),
                reason: Some(format!("{} ({e})", not_healthy(kind))),
                ..status.clone()
            },
            t.health_period,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).expect("time")
    }

    fn status(phase: &str) -> Status {
        Status { phase: Some(phase.into()), ..Default::default() }
    }

    #[test]
    fn install_failures_retry_after_the_delay_then_fail_with_tkestacks_reason() {
        let t = Timings::default();
        let mut s = Status::default();
        assert_eq!(next_step(&s, "v1", at(0), &t), Step::Install { version: "v1".into(), clean_first: false });
        s = installed(&s, Err("connection refused".into()), at(0), &t);
        assert_eq!(
            (s.phase(), s.retry_count, s.reason.as_deref()),
            (REINITIALIZING, Some(1), Some("connection refused"))
        );
        // Not before five minutes after the last attempt.
        assert_eq!(next_step(&s, "v1", at(60), &t), Step::Wait { after: Duration::from_secs(240) });
        assert_eq!(next_step(&s, "v1", at(300), &t), Step::Install { version: "v1".into(), clean_first: true });
        for n in 2..5 {
            s = installed(&s, Err("still refused".into()), at(300 * n), &t);
            assert_eq!((s.phase(), s.retry_count), (REINITIALIZING, Some(n)));
        }
        s = installed(&s, Err("still refused".into()), at(1500), &t);
        assert_eq!(
            (s.phase(), s.retry_count, s.reason.as_deref()),
            (FAILED, Some(5), Some("Install error and retried max(5) times already."))
        );
        assert_eq!(next_step(&s, "v1", at(9999), &t), Step::Idle, "exhausted retries stay failed");
    }

    #[test]
    fn a_reinstall_that_works_goes_on_to_checking() {
        let t = Timings::default();
        let s = installed(
            &Status {
                retry_count: Some(2),
                last_re_initializing_timestamp: Some(at(0).to_rfc3339()),
                ..status(REINITIALIZING)
            },
            Ok(()),
            at(300),
            &t,
        );
        assert_eq!((s.phase(), s.retry_count, s.reason.as_deref()), (CHECKING, Some(2), None));
        let fresh = installed(&status(INITIALIZING), Ok(()), at(0), &t);
        assert_eq!((fresh.phase(), fresh.retry_count), (CHECKING, Some(0)));
    }

    #[test]
    fn checking_waits_for_the_workloads_until_the_timeout() {
        let t = Timings::default();
        let s = status(CHECKING);
        let (waiting, again) =
            checked(&s, "CronHPA", "v1", Err("Deployment kube-system/x: 0 of 1 available".into()), at(0), at(10), &t);
        assert_eq!((waiting.phase(), again), (CHECKING, t.check_interval));
        assert!(waiting.reason.as_deref().is_some_and(|r| r.contains("0 of 1 available")));
        let (failed, _) = checked(&s, "CronHPA", "v1", Err("not available".into()), at(0), at(301), &t);
        assert_eq!(failed.phase(), FAILED);
        assert!(failed.reason.as_deref().is_some_and(|r| r.starts_with("CronHPA is not healthy.")));
        let (running, again) = checked(&s, "CronHPA", "v1", Ok(()), at(0), at(20), &t);
        assert_eq!(
            (running.phase(), running.version.as_deref(), running.reason.as_deref(), again),
            (RUNNING, Some("v1"), None, t.health_period)
        );
    }

    #[test]
    fn running_add_ons_upgrade_on_a_new_version_and_recover_from_unhealthy() {
        let t = Timings::default();
        let running = Status { version: Some("v1".into()), ..status(RUNNING) };
        assert_eq!(next_step(&running, "v1", at(0), &t), Step::Check);
        assert_eq!(next_step(&running, "v2", at(0), &t), Step::Upgrade { version: "v2".into() });
        let up = upgraded(&running, "CronHPA", "v2", Ok(()));
        assert_eq!(
            (up.phase(), up.version.as_deref()),
            (CHECKING, Some("v1")),
            "the version changes once the new one is healthy"
        );
        let broken = upgraded(&running, "CronHPA", "v2", Err("image patch refused".into()));
        assert_eq!(broken.reason.as_deref(), Some("Failed to upgrade CronHPA to v2: image patch refused"));
        assert_eq!(
            next_step(&broken, "v2", at(0), &t),
            Step::Upgrade { version: "v2".into() },
            "retried while the target stays"
        );
        // Unhealthy while running, then healthy again.
        let (sick, _) = checked(&running, "CronHPA", "v1", Err("Deployment missing".into()), at(0), at(0), &t);
        assert_eq!(sick.phase(), FAILED);
        assert_eq!(next_step(&sick, "v1", at(0), &t), Step::Check);
        let (well, _) = checked(&sick, "CronHPA", "v1", Ok(()), at(0), at(0), &t);
        assert_eq!(well.phase(), RUNNING);
    }
}
