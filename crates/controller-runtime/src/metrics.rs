//! The controllers' own metrics, shared by every controller of the process so that one scrape of
//! `/metrics` shows them all: reconciles by controller and result with their durations, the
//! reconciles running now, and which Leases this process holds (and how often it lost one).
//! Controllers report through [`observe`] and the leader elector; a server exposes them by
//! passing its registry to [`register`] (names `tke_controller_…` and `tke_leader_…`).

use std::{sync::OnceLock, time::Instant};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    pub controller: String,
    /// `success` or `error`.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    pub controller: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LeaseLabels {
    pub lease: String,
}

/// The families, created once per process.
pub struct ControllerMetrics {
    pub reconciles: Family<ReconcileLabels, Counter>,
    pub duration: Family<ControllerLabels, Histogram>,
    pub in_flight: Family<ControllerLabels, Gauge>,
    pub leader: Family<LeaseLabels, Gauge>,
    pub tke_leader_lost: Family<LeaseLabels, Counter>,
}

/// The process's controller metrics.
pub fn metrics() -> &'static ControllerMetrics {
    static METRICS: OnceLock<ControllerMetrics> = OnceLock::new();
    METRICS.get_or_init(|| ControllerMetrics {
        reconciles: Family::default(),
        duration: Family::new_with_constructor(|| {
            Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0])
        }),
        in_flight: Family::default(),
        leader: Family::default(),
        tke_leader_lost: Family::default(),
    })
}

/// Adds the controller metrics to `registry`; on the API server's `/metrics` they are `tke_controller_reconcile_total`,
/// `tke_controller_reconcile_duration_seconds`, `tke_controller_reconciles_in_flight`,
/// `tke_leader_is_leader` and `tke_leader_lost_total`.
pub fn register(registry: &mut Registry) {
    let m = metrics();
    registry.register(
        "tke_controller_reconcile",
        "Reconciles by controller and result (success or error)",
        m.reconciles.clone(),
    );
    registry.register(
        "tke_controller_reconcile_duration_seconds",
        "How long reconciles take, by controller",
        m.duration.clone(),
    );
    registry.register(
        "tke_controller_reconciles_in_flight",
        "Reconciles running now, by controller (kube-runtime's queue itself is not observable)",
        m.in_flight.clone(),
    );
    registry.register("tke_leader_is_leader", "1 while this process holds the Lease, else 0", m.leader.clone());
    registry.register(
        "tke_leader_lost",
        "Times this process lost a Lease it held without being stopped",
        m.tke_leader_lost.clone(),
    );
}

/// Runs one reconcile of `controller`, counting it, its result and its duration.
pub async fn observe<T, E>(
    controller: &str,
    reconcile: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let m = metrics();
    let labels = ControllerLabels { controller: controller.to_string() };
    let in_flight = m.in_flight.get_or_create(&labels).clone();
    in_flight.inc();
    // Decremented on drop, so a reconcile cancelled at shutdown does not stay "in flight".
    struct Done(Gauge);
    impl Drop for Done {
        fn drop(&mut self) {
            self.0.dec();
        }
    }
    let _done = Done(in_flight);
    let started = Instant::now();
    let result = reconcile.await;
    m.duration.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
    let result_label = if result.is_ok() { "success" } else { "error" };
    m.reconciles
        .get_or_create(&ReconcileLabels { controller: controller.to_string(), result: result_label.into() })
        .inc();
    result
}

/// Records that this process holds (or no longer holds) `lease`.
pub fn leading(lease: &str, now: bool) {
    metrics().leader.get_or_create(&LeaseLabels { lease: lease.to_string() }).set(i64::from(now));
}

/// Records that this process lost `lease` while it meant to keep it.
pub fn lost(lease: &str) {
    metrics().tke_leader_lost.get_or_create(&LeaseLabels { lease: lease.to_string() }).inc();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reconciles_are_counted_by_result_with_durations() {
        let ok: Result<(), ()> = observe("test-a", async { Ok(()) }).await;
        assert!(ok.is_ok());
        let _ = observe("test-a", async { Err::<(), _>("boom") }).await;
        let mut r = Registry::default();
        register(&mut r);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &r).expect("encode");
        assert!(text.contains("tke_controller_reconcile_total{controller=\"test-a\",result=\"success\"} 1"), "{text}");
        assert!(text.contains("tke_controller_reconcile_total{controller=\"test-a\",result=\"error\"} 1"), "{text}");
        assert!(text.contains("tke_controller_reconcile_duration_seconds_count{controller=\"test-a\"} 2"), "{text}");
        assert!(text.contains("tke_controller_reconciles_in_flight{controller=\"test-a\"} 0"), "{text}");
    }
}
