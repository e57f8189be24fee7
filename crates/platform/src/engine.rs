//! The condition-driven step engine (reference 2.2), one engine for clusters and machines.
//!
//! A provider describes a lifecycle (create, update, upgrade, scale, delete) as an ordered list
//! of named steps. Each step's name is a condition type on the object: `Unknown` (reason
//! `Waiting`) until it has run, `False` with reason `FailedInit`/`FailedUpdate` and the error
//! text when it failed, `True` when it is done (reason `Skip` when the object's skip list names
//! it). The object is persisted after every step, so a controller that restarts, or a new leader,
//! resumes at the first step that is not `True` — the failed one — and never repeats finished
//! work. Steps must still be idempotent: a step may run again when its success could not be
//! persisted.

use std::sync::Arc;

use api::platform::common::Condition;
use async_trait::async_trait;

/// Reason of a step that has not run yet.
pub const REASON_WAITING: &str = "Waiting";
/// Reason of a step skipped through `spec.features.skipConditions`.
pub const REASON_SKIP: &str = "Skip";
/// Reason of a failed step while creating.
pub const REASON_FAILED_INIT: &str = "FailedInit";
/// Reason of a failed step while updating (upgrade, scaling, housekeeping).
pub const REASON_FAILED_UPDATE: &str = "FailedUpdate";
/// Reason of a failed step while deleting.
pub const REASON_FAILED_DELETE: &str = "FailedDelete";

pub const TRUE: &str = "True";
pub const FALSE: &str = "False";
pub const UNKNOWN: &str = "Unknown";

/// An object whose lifecycle the engine drives: it carries conditions and a skip list.
pub trait Conditioned {
    fn conditions(&self) -> &[Condition];
    fn conditions_mut(&mut self) -> &mut Vec<Condition>;
    /// Names of steps the user asked to skip (`spec.features.skipConditions`).
    fn skip_conditions(&self) -> Vec<String>;

    /// Records a failed step on the object beyond its condition (e.g. `status.reason` and
    /// `status.message`), saved in the same write as the condition.
    fn record_failure(&mut self, _reason: &str, _step: &str, _message: &str) {}

    fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions().iter().find(|c| c.type_ == type_)
    }
}

/// Why a step failed, in words the user can act on (it becomes the condition's message).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StepError(pub String);

impl StepError {
    pub fn new(message: impl Into<String>) -> Self {
        StepError(message.into())
    }
}

/// Progress could not be saved; the controller retries the whole reconcile later.
#[derive(Clone, Debug, thiserror::Error)]
#[error("saving progress: {0}")]
pub struct PersistError(pub String);

/// The work of one step. `ctx` carries what steps need besides the object (clients, options).
#[async_trait]
pub trait Handler<O, C>: Send + Sync {
    async fn run(&self, obj: &mut O, ctx: &C) -> Result<(), StepError>;
}

/// Saves the object (its status, and anything else the steps changed), refreshing `obj` with what
/// the server stored (resourceVersion).
#[async_trait]
pub trait Persist<O>: Send + Sync {
    async fn save(&self, obj: &mut O) -> Result<(), PersistError>;
}

/// Clusters and machines save their progress through their status subresource, with the
/// runtime's status writer.
#[async_trait]
impl<O> Persist<O> for controller_runtime::shell::StatusWriter<'_>
where
    O: Named + serde::Serialize + serde::de::DeserializeOwned + Send + Sync,
{
    async fn save(&self, obj: &mut O) -> Result<(), PersistError> {
        let name = obj.object_name().to_string();
        self.write(&name, obj).await.map_err(|e| PersistError(e.to_string()))
    }
}

/// An object known by its name.
pub trait Named {
    fn object_name(&self) -> &str;
}

impl Named for api::platform::Cluster {
    fn object_name(&self) -> &str {
        self.name()
    }
}

impl Named for api::platform::Machine {
    fn object_name(&self) -> &str {
        self.name()
    }
}

/// Code run around every step: metrics, events, customer hook scripts. A `before` error fails the
/// step without running it.
#[async_trait]
pub trait Hooks<O, C>: Send + Sync {
    async fn before(&self, _step: &str, _obj: &mut O, _ctx: &C) -> Result<(), StepError> {
        Ok(())
    }
    async fn after(&self, _step: &str, _obj: &mut O, _ctx: &C, _result: &Result<(), StepError>) {}
}

/// A named step.
pub struct Step<O, C> {
    pub name: String,
    handler: Arc<dyn Handler<O, C>>,
}

impl<O, C> Clone for Step<O, C> {
    fn clone(&self) -> Self {
        Step { name: self.name.clone(), handler: self.handler.clone() }
    }
}

impl<O, C> Step<O, C> {
    pub fn new(name: impl Into<String>, handler: impl Handler<O, C> + 'static) -> Self {
        Step { name: name.into(), handler: Arc::new(handler) }
    }
}

/// Which lifecycle a list of steps belongs to; decides the failure reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Create,
    Update,
    Delete,
}

impl Kind {
    pub fn failure_reason(self) -> &'static str {
        match self {
            Kind::Create => REASON_FAILED_INIT,
            Kind::Update => REASON_FAILED_UPDATE,
            Kind::Delete => REASON_FAILED_DELETE,
        }
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every step is `True`.
    Done,
    /// A step failed; its condition says why. The controller retries later (with back-off).
    Failed { step: String, message: String },
}

/// Runs an ordered list of steps over an object.
pub struct Engine<O, C> {
    kind: Kind,
    steps: Vec<Step<O, C>>,
    hooks: Vec<Arc<dyn Hooks<O, C>>>,
}

fn now() -> String {
    apimachinery::time::now_rfc3339()
}

/// Sets a condition in place (keeping its position), moving `lastTransitionTime` only when the
/// status changes.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: &str,
    reason: Option<&str>,
    message: Option<&str>,
) {
    let t = now();
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = Some(t.clone());
            }
            c.status = status.to_string();
            c.reason = reason.map(str::to_string);
            c.message = message.map(str::to_string);
            c.last_probe_time = Some(t);
        }
        None => conditions.push(Condition {
            type_: type_.to_string(),
            status: status.to_string(),
            last_probe_time: Some(t.clone()),
            last_transition_time: Some(t),
            reason: reason.map(str::to_string),
            message: message.map(str::to_string),
        }),
    }
}

impl<O: Conditioned + Send, C: Sync> Engine<O, C> {
    pub fn new(kind: Kind, steps: Vec<Step<O, C>>) -> Self {
        Engine { kind, steps, hooks: vec![] }
    }

    pub fn with_hooks(mut self, hooks: Arc<dyn Hooks<O, C>>) -> Self {
        self.hooks.push(hooks);
        self
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn step_names(&self) -> Vec<&str> {
        self.steps.iter().map(|s| s.name.as_str()).collect()
    }

    /// The step to run next: the first whose condition is not `True`.
    pub fn current<'a>(&'a self, obj: &O) -> Option<&'a Step<O, C>> {
        self.steps.iter().find(|s| obj.condition(&s.name).is_none_or(|c| c.status != TRUE))
    }

    /// Whether every step is done.
    pub fn is_done(&self, obj: &O) -> bool {
        self.current(obj).is_none()
    }

    /// Forgets the progress of these steps so that the lifecycle runs again from its first step
    /// (a second upgrade, a new scale-up).
    pub fn reset(&self, obj: &mut O) {
        let names = self.step_names().into_iter().map(str::to_string).collect::<Vec<_>>();
        obj.conditions_mut().retain(|c| !names.contains(&c.type_));
    }

    /// Runs the steps from the current one until all are done or one fails, persisting the object
    /// after every step.
    pub async fn run(&self, obj: &mut O, ctx: &C, persist: &dyn Persist<O>) -> Result<Outcome, PersistError> {
        let skip = obj.skip_conditions();
        loop {
            let Some(step) = self.current(obj).cloned() else { return Ok(Outcome::Done) };
            if obj.condition(&step.name).is_none() {
                set_condition(obj.conditions_mut(), &step.name, UNKNOWN, Some(REASON_WAITING), Some("waiting process"));
            }
            if skip.contains(&step.name) {
                set_condition(
                    obj.conditions_mut(),
                    &step.name,
                    TRUE,
                    Some(REASON_SKIP),
                    Some("Skip current condition"),
                );
            } else {
                let mut result = Ok(());
                for h in &self.hooks {
                    result = h.before(&step.name, obj, ctx).await;
                    if result.is_err() {
                        break;
                    }
                }
                if result.is_ok() {
                    tracing::debug!(step = %step.name, "running step");
                    result = step.handler.run(obj, ctx).await;
                }
                for h in &self.hooks {
                    h.after(&step.name, obj, ctx, &result).await;
                }
                if let Err(e) = result {
                    set_condition(
                        obj.conditions_mut(),
                        &step.name,
                        FALSE,
                        Some(self.kind.failure_reason()),
                        Some(&e.0),
                    );
                    obj.record_failure(self.kind.failure_reason(), &step.name, &e.0);
                    persist.save(obj).await?;
                    return Ok(Outcome::Failed { step: step.name.clone(), message: e.0 });
                }
                set_condition(obj.conditions_mut(), &step.name, TRUE, None, None);
            }
            if let Some(next) = self.current(obj)
                && obj.condition(&next.name).is_none()
            {
                let name = next.name.clone();
                set_condition(obj.conditions_mut(), &name, UNKNOWN, Some(REASON_WAITING), Some("waiting execute"));
            }
            persist.save(obj).await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Clone, Debug, Default)]
    struct Obj {
        conditions: Vec<Condition>,
        skip: Vec<String>,
    }

    impl Conditioned for Obj {
        fn conditions(&self) -> &[Condition] {
            &self.conditions
        }
        fn conditions_mut(&mut self) -> &mut Vec<Condition> {
            &mut self.conditions
        }
        fn skip_conditions(&self) -> Vec<String> {
            self.skip.clone()
        }
    }

    /// Records which steps ran; fails a step while its name is in `failing`.
    #[derive(Default)]
    struct World {
        ran: Mutex<Vec<String>>,
        failing: Mutex<Vec<String>>,
    }

    struct Record(&'static str);

    #[async_trait]
    impl Handler<Obj, World> for Record {
        async fn run(&self, _obj: &mut Obj, w: &World) -> Result<(), StepError> {
            w.ran.lock().expect("lock").push(self.0.to_string());
            if w.failing.lock().expect("lock").iter().any(|f| f == self.0) {
                return Err(StepError::new(format!("{} exploded: disk full", self.0)));
            }
            Ok(())
        }
    }

    /// Keeps every saved copy: what a restarted controller would read back.
    #[derive(Default)]
    struct Saved(Mutex<Vec<Obj>>);

    #[async_trait]
    impl Persist<Obj> for Saved {
        async fn save(&self, obj: &mut Obj) -> Result<(), PersistError> {
            self.0.lock().expect("lock").push(obj.clone());
            Ok(())
        }
    }

    impl Saved {
        fn last(&self) -> Obj {
            self.0.lock().expect("lock").last().cloned().expect("saved at least once")
        }
        fn count(&self) -> usize {
            self.0.lock().expect("lock").len()
        }
    }

    fn engine(kind: Kind) -> Engine<Obj, World> {
        Engine::new(
            kind,
            vec![
                Step::new("EnsureA", Record("EnsureA")),
                Step::new("EnsureB", Record("EnsureB")),
                Step::new("EnsureC", Record("EnsureC")),
            ],
        )
    }

    fn status<'a>(o: &'a Obj, t: &str) -> (&'a str, Option<&'a str>, Option<&'a str>) {
        let c = o.condition(t).unwrap_or_else(|| panic!("no condition {t} in {:?}", o.conditions));
        (c.status.as_str(), c.reason.as_deref(), c.message.as_deref())
    }

    #[tokio::test]
    async fn runs_every_step_in_order_persisting_after_each() {
        let (e, w, saved) = (engine(Kind::Create), World::default(), Saved::default());
        let mut o = Obj::default();
        assert_eq!(e.run(&mut o, &w, &saved).await.expect("run"), Outcome::Done);
        assert_eq!(*w.ran.lock().expect("lock"), ["EnsureA", "EnsureB", "EnsureC"]);
        assert_eq!(saved.count(), 3, "one save per step");
        // After the first step the next one is announced as waiting.
        let first = saved.0.lock().expect("lock")[0].clone();
        assert_eq!(status(&first, "EnsureA").0, "True");
        assert_eq!(status(&first, "EnsureB"), ("Unknown", Some("Waiting"), Some("waiting execute")));
        assert!(first.condition("EnsureC").is_none());
        let types: Vec<&str> = o.conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, ["EnsureA", "EnsureB", "EnsureC"]);
        assert!(o.conditions.iter().all(|c| c.status == "True"));
        // Done means nothing runs again.
        assert_eq!(e.run(&mut o, &w, &saved).await.expect("run"), Outcome::Done);
        assert_eq!(w.ran.lock().expect("lock").len(), 3);
    }

    #[tokio::test]
    async fn a_failure_is_recorded_and_a_restarted_controller_resumes_at_the_failed_step() {
        let (e, w, saved) = (engine(Kind::Create), World::default(), Saved::default());
        w.failing.lock().expect("lock").push("EnsureB".into());
        let mut o = Obj::default();
        let out = e.run(&mut o, &w, &saved).await.expect("run");
        assert_eq!(out, Outcome::Failed { step: "EnsureB".into(), message: "EnsureB exploded: disk full".into() });
        let stored = saved.last();
        assert_eq!(status(&stored, "EnsureA").0, "True");
        assert_eq!(status(&stored, "EnsureB"), ("False", Some("FailedInit"), Some("EnsureB exploded: disk full")));
        assert!(stored.condition("EnsureC").is_none(), "later steps never ran");

        // A new controller (fresh engine, fresh memory) reads the stored object back.
        w.failing.lock().expect("lock").clear();
        w.ran.lock().expect("lock").clear();
        let mut restored = stored.clone();
        let out = engine(Kind::Create).run(&mut restored, &w, &saved).await.expect("run");
        assert_eq!(out, Outcome::Done);
        assert_eq!(*w.ran.lock().expect("lock"), ["EnsureB", "EnsureC"], "EnsureA is not repeated");
        assert_eq!(status(&restored, "EnsureB"), ("True", None, None));
        let b = restored.condition("EnsureB").expect("B");
        assert!(b.last_transition_time.is_some() && b.last_probe_time.is_some());
    }

    #[tokio::test]
    async fn update_failures_say_failed_update() {
        let (e, w, saved) = (engine(Kind::Update), World::default(), Saved::default());
        w.failing.lock().expect("lock").push("EnsureA".into());
        let mut o = Obj::default();
        e.run(&mut o, &w, &saved).await.expect("run");
        assert_eq!(status(&o, "EnsureA").1, Some("FailedUpdate"));
    }

    #[tokio::test]
    async fn skipped_steps_are_true_with_reason_skip_and_do_not_run() {
        let (e, w, saved) = (engine(Kind::Create), World::default(), Saved::default());
        let mut o = Obj { skip: vec!["EnsureB".into()], ..Default::default() };
        assert_eq!(e.run(&mut o, &w, &saved).await.expect("run"), Outcome::Done);
        assert_eq!(*w.ran.lock().expect("lock"), ["EnsureA", "EnsureC"]);
        assert_eq!(status(&o, "EnsureB"), ("True", Some("Skip"), Some("Skip current condition")));
        // Skipping a step that keeps failing unblocks the lifecycle.
        let (w2, mut o2) = (World::default(), Obj::default());
        w2.failing.lock().expect("lock").push("EnsureC".into());
        assert!(matches!(e.run(&mut o2, &w2, &saved).await.expect("run"), Outcome::Failed { .. }));
        o2.skip = vec!["EnsureC".into()];
        assert_eq!(e.run(&mut o2, &w2, &saved).await.expect("run"), Outcome::Done);
        assert_eq!(status(&o2, "EnsureC").1, Some("Skip"));
    }

    #[tokio::test]
    async fn reset_runs_the_lifecycle_again_and_keeps_other_conditions() {
        let (e, w, saved) = (engine(Kind::Update), World::default(), Saved::default());
        let mut o = Obj::default();
        set_condition(&mut o.conditions, "HealthCheck", "True", None, None);
        e.run(&mut o, &w, &saved).await.expect("run");
        e.reset(&mut o);
        assert_eq!(o.conditions.len(), 1);
        assert_eq!(o.conditions[0].type_, "HealthCheck");
        e.run(&mut o, &w, &saved).await.expect("run");
        assert_eq!(w.ran.lock().expect("lock").len(), 6);
    }

    struct Gate;
    #[async_trait]
    impl Hooks<Obj, World> for Gate {
        async fn before(&self, step: &str, _o: &mut Obj, w: &World) -> Result<(), StepError> {
            w.ran.lock().expect("lock").push(format!("before {step}"));
            if step == "EnsureC" { Err(StepError::new("PreInstall hook exited with 3")) } else { Ok(()) }
        }
        async fn after(&self, step: &str, _o: &mut Obj, w: &World, r: &Result<(), StepError>) {
            w.ran.lock().expect("lock").push(format!("after {step} {}", r.is_ok()));
        }
    }

    #[tokio::test]
    async fn hooks_run_around_steps_and_can_fail_them() {
        let (w, saved) = (World::default(), Saved::default());
        let e = engine(Kind::Create).with_hooks(Arc::new(Gate));
        let mut o = Obj::default();
        let out = e.run(&mut o, &w, &saved).await.expect("run");
        assert_eq!(out, Outcome::Failed { step: "EnsureC".into(), message: "PreInstall hook exited with 3".into() });
        assert_eq!(
            *w.ran.lock().expect("lock"),
            [
                "before EnsureA",
                "EnsureA",
                "after EnsureA true",
                "before EnsureB",
                "EnsureB",
                "after EnsureB true",
                "before EnsureC",
                "after EnsureC false"
            ]
        );
    }
}
