//! The CronHPA controller: a kube-runtime controller that, for each CronHPA, scales its target
//! through the `scale` subresource when one of its crons is due, records the run in the status
//! and requeues itself for the next one.
//!
//! A run is carried out when its scheduled time is after the cron's `lastScheduleTime` (or the
//! CronHPA's creation) and at most the starting deadline ago, so a controller restarted within
//! that window still carries out the run it was down for, and a run recorded in the status is
//! never carried out again. The target is scaled before the run is recorded: a crash between
//! the two repeats the same absolute replica count, which changes nothing.

use std::{sync::Arc, time::Duration as StdDuration};

use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{
    Api, Client, ResourceExt,
    api::{DynamicObject, GroupVersionKind, Patch, PatchParams},
    runtime::{Controller, controller::Action, watcher},
};
use serde_json::json;

use crate::{
    schedule::{Schedule, parse_time_zone},
    types::{CronHPA, CronHPAStatus, CronStatus},
};

/// What time it is (injectable for tests).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// How the controller runs.
#[derive(Clone)]
pub struct Options {
    /// How late a run may still be carried out when a CronHPA sets no
    /// `startingDeadlineSeconds`.
    pub default_grace: StdDuration,
    /// CronHPAs reconciled at once.
    pub concurrency: u16,
    /// Retry delay after a failed scale or status write.
    pub retry: StdDuration,
    pub clock: Clock,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            default_grace: StdDuration::from_secs(120),
            concurrency: 8,
            retry: StdDuration::from_secs(5),
            clock: Arc::new(Utc::now),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Other(String),
}

struct Ctx {
    client: Client,
    opts: Options,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    apimachinery::time::rfc3339(t)
}

fn parse_time(s: Option<&str>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|t| t.with_timezone(&Utc))
}

/// Sets a condition, keeping its transition time while its status stays the same.
fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
    now: DateTime<Utc>,
    generation: Option<i64>,
) {
    let status = if status { "True" } else { "False" }.to_string();
    let at = Time(
        k8s_openapi::jiff::Timestamp::from_second(now.timestamp()).unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
    );
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = at;
            }
            c.status = status;
            c.reason = reason.into();
            c.message = message;
            c.observed_generation = generation;
        }
        None => conditions.push(Condition {
            type_: type_.into(),
            status,
            reason: reason.into(),
            message,
            last_transition_time: at,
            observed_generation: generation,
        }),
    }
}

/// Why a CronHPA's target could not be scaled (the `Scaled` condition's message).
#[derive(Debug, thiserror::Error)]
enum ScaleError {
    #[error("the cluster does not serve {api_version} {kind}: {source}")]
    NotServed { api_version: String, kind: String, source: kube::Error },
    #[error("{api_version} {kind} cannot be patched")]
    NotPatchable { api_version: String, kind: String },
    #[error("{kind} {name:?} not found, or its kind has no scale subresource")]
    NotFound { kind: String, name: String, source: kube::Error },
    #[error("scaling {kind} {name:?} failed: {source}")]
    Failed { kind: String, name: String, source: kube::Error },
}

/// Scales `namespace/name` of the target's kind to `replicas` through its `scale` subresource.
async fn scale(client: &Client, namespace: &str, hpa: &CronHPA, replicas: i32) -> Result<(), ScaleError> {
    let target = &hpa.spec.scale_target_ref;
    let (group, version) = match target.api_version.split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), target.api_version.clone()),
    };
    let gvk = GroupVersionKind::gvk(&group, &version, &target.kind);
    let (resource, caps) = kube::discovery::pinned_kind(client, &gvk).await.map_err(|source| {
        ScaleError::NotServed { api_version: target.api_version.clone(), kind: target.kind.clone(), source }
    })?;
    if !caps.supports_operation("patch") {
        return Err(ScaleError::NotPatchable { api_version: target.api_version.clone(), kind: target.kind.clone() });
    }
    let api: Api<DynamicObject> = if caps.scope == kube::discovery::Scope::Namespaced {
        Api::namespaced_with(client.clone(), namespace, &resource)
    } else {
        Api::all_with(client.clone(), &resource)
    };
    let params = PatchParams { field_manager: Some("cronhpa".into()), ..Default::default() };
    api.patch_scale(&target.name, &params, &Patch::Merge(json!({"spec": {"replicas": replicas}})))
        .await
        .map(|_| ())
        .map_err(|source| {
            let (kind, name) = (target.kind.clone(), target.name.clone());
            match source {
                kube::Error::Api(ref s) if s.code == 404 => ScaleError::NotFound { kind, name, source },
                source => ScaleError::Failed { kind, name, source },
            }
        })
}

async fn write_status(
    api: &Api<CronHPA>,
    name: &str,
    old: Option<&CronHPAStatus>,
    new: &CronHPAStatus,
) -> Result<(), Error> {
    if old == Some(new) {
        return Ok(());
    }
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(json!({"status": new}))).await?;
    Ok(())
}

/// Validates the spec; on success the parsed schedules, else the reason and message.
fn schedules(hpa: &CronHPA) -> Result<Vec<Schedule>, (&'static str, String)> {
    let tz = parse_time_zone(hpa.spec.time_zone.as_deref()).map_err(|m| ("UnknownTimeZone", m.to_string()))?;
    let target = &hpa.spec.scale_target_ref;
    if target.kind.is_empty() || target.name.is_empty() || target.api_version.is_empty() {
        return Err(("InvalidTarget", "spec.scaleTargetRef needs apiVersion, kind and name".into()));
    }
    if hpa.spec.crons.is_empty() {
        return Err(("NoCrons", "spec.crons is empty: nothing to schedule".into()));
    }
    hpa.spec
        .crons
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if c.target_replicas < 0 {
                return Err((
                    "InvalidReplicas",
                    format!("spec.crons[{i}].targetReplicas must be 0 or more, got {}", c.target_replicas),
                ));
            }
            Schedule::parse(&c.schedule, tz).map_err(|m| ("InvalidSchedule", format!("spec.crons[{i}]: {m}")))
        })
        .collect()
}

async fn reconcile(hpa: Arc<CronHPA>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let now = (ctx.opts.clock)();
    let namespace = hpa.namespace().unwrap_or_default();
    let name = hpa.name_any();
    let api: Api<CronHPA> = Api::namespaced(ctx.client.clone(), &namespace);
    let old = hpa.status.clone();
    let mut status = old.clone().unwrap_or_default();
    let generation = hpa.metadata.generation;

    let parsed = match schedules(&hpa) {
        Ok(p) => p,
        Err((reason, message)) => {
            tracing::info!(cronhpa = %name, namespace = %namespace, %message, "invalid CronHPA");
            set_condition(&mut status.conditions, "Valid", false, reason, message, now, generation);
            status.next_schedule_time = None;
            write_status(&api, &name, old.as_ref(), &status).await?;
            return Ok(Action::await_change());
        }
    };
    set_condition(
        &mut status.conditions,
        "Valid",
        true,
        "Scheduled",
        format!("{} cron(s) scheduled", parsed.len()),
        now,
        generation,
    );

    let created = hpa
        .metadata
        .creation_timestamp
        .as_ref()
        .and_then(|t| DateTime::<Utc>::from_timestamp(t.0.as_second(), 0))
        .unwrap_or(now);
    let grace = hpa
        .spec
        .starting_deadline_seconds
        .filter(|s| *s >= 0)
        .map(Duration::seconds)
        .unwrap_or_else(|| Duration::from_std(ctx.opts.default_grace).unwrap_or(Duration::seconds(120)));
    // Earlier status entries belong to a cron while its schedule is unchanged.
    let previous: Vec<CronStatus> = std::mem::take(&mut status.crons);
    let mut crons: Vec<CronStatus> = vec![];
    let mut due: Option<(DateTime<Utc>, usize)> = None;
    for (i, (cron, schedule)) in hpa.spec.crons.iter().zip(&parsed).enumerate() {
        let last = previous
            .get(i)
            .filter(|p| p.schedule == cron.schedule)
            .and_then(|p| parse_time(p.last_schedule_time.as_deref()));
        if let Some(t) = schedule.due(last.unwrap_or(created), now, grace)
            && due.is_none_or(|(d, _)| t >= d)
        {
            due = Some((t, i));
        }
        crons.push(CronStatus {
            schedule: cron.schedule.clone(),
            target_replicas: cron.target_replicas,
            last_schedule_time: last.map(rfc3339),
            next_schedule_time: None,
        });
    }

    let mut retry = false;
    if let Some((at, index)) = due {
        let replicas = hpa.spec.crons[index].target_replicas;
        let target = &hpa.spec.scale_target_ref;
        match scale(&ctx.client, &namespace, &hpa, replicas).await {
            Ok(()) => {
                tracing::info!(cronhpa = %name, namespace = %namespace, target = %target.name, replicas, scheduled = %rfc3339(at), "scaled");
                // Every cron due at this pass counts as run: only the latest one applies.
                for (i, schedule) in parsed.iter().enumerate() {
                    let last = parse_time(crons[i].last_schedule_time.as_deref()).unwrap_or(created);
                    if let Some(t) = schedule.due(last, now, grace) {
                        crons[i].last_schedule_time = Some(rfc3339(t));
                    }
                }
                status.last_schedule_time = Some(rfc3339(at));
                set_condition(
                    &mut status.conditions,
                    "Scaled",
                    true,
                    "SucceededScale",
                    format!("scaled {} {} to {replicas} for the run at {}", target.kind, target.name, rfc3339(at)),
                    now,
                    generation,
                );
            }
            Err(e) => {
                tracing::warn!(cronhpa = %name, namespace = %namespace, message = %e, "scaling failed");
                set_condition(&mut status.conditions, "Scaled", false, "FailedScale", e.to_string(), now, generation);
                retry = true;
            }
        }
    }
    for (c, schedule) in crons.iter_mut().zip(&parsed) {
        c.next_schedule_time = schedule.next_after(now).map(rfc3339);
    }
    let next = parsed.iter().filter_map(|s| s.next_after(now)).min();
    status.next_schedule_time = next.map(rfc3339);
    status.crons = crons;
    write_status(&api, &name, old.as_ref(), &status).await?;

    if retry {
        return Ok(Action::requeue(ctx.opts.retry));
    }
    Ok(match next {
        // Wake at the next run (a little after, so the clock has reached it).
        Some(t) => Action::requeue((t - now).to_std().unwrap_or_default() + StdDuration::from_millis(5)),
        None => Action::await_change(),
    })
}

fn error_policy(hpa: Arc<CronHPA>, error: &Error, ctx: Arc<Ctx>) -> Action {
    tracing::warn!(cronhpa = %hpa.name_any(), %error, "reconcile failed");
    Action::requeue(ctx.opts.retry)
}

/// Runs the CronHPA controller for every namespace until the returned future is dropped.
/// The CRD must be installed ([`crate::install_crd`]).
pub async fn run(client: Client, opts: Options) {
    let api: Api<CronHPA> = Api::all(client.clone());
    let concurrency = opts.concurrency;
    let ctx = Arc::new(Ctx { client, opts });
    Controller::new(api, watcher::Config::default())
        .with_config(kube::runtime::controller::Config::default().concurrency(concurrency))
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "CronHPA controller event");
            }
        })
        .await;
}
