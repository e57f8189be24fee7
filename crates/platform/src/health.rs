//! Health checks of business clusters that do not flap. A *check* runs every period (with jitter
//! so thousands of clusters spread out) and sends several *probes*; it fails only when every probe
//! fails. A healthy cluster becomes `Failed` only after `failure_threshold` failed checks in a row,
//! and a failed one returns to `Running` after `success_threshold` good checks in a row. TKEStack
//! flagged a cluster `Failed` on the first lost request; its users saw most of their healthy
//! clusters flap.

use std::time::Duration;

use rand::Rng;

/// Settings of the health checks (all configurable from `tke up`).
#[derive(Clone, Debug)]
pub struct HealthOptions {
    /// Time between two checks of a cluster.
    pub period: Duration,
    /// Extra random delay in `[0, jitter]` added to each period, to spread clusters out.
    pub jitter: Duration,
    /// Probes per check; the check succeeds when one of them does.
    pub probes: u32,
    /// Pause between two probes of one check.
    pub probe_interval: Duration,
    /// Timeout of one probe (connect and answer).
    pub probe_timeout: Duration,
    /// Failed checks in a row that turn a Running cluster Failed.
    pub failure_threshold: u32,
    /// Good checks in a row that bring a Failed cluster back to Running.
    pub success_threshold: u32,
}

impl Default for HealthOptions {
    fn default() -> Self {
        HealthOptions {
            period: Duration::from_secs(60),
            jitter: Duration::from_secs(15),
            probes: 3,
            probe_interval: Duration::from_millis(500),
            probe_timeout: Duration::from_secs(5),
            failure_threshold: 3,
            success_threshold: 1,
        }
    }
}

impl HealthOptions {
    /// The delay until the next check: the period plus a random share of the jitter.
    pub fn next_delay(&self) -> Duration {
        self.period + random_upto(self.jitter)
    }
}

/// A uniformly random duration in `[0, max]`.
pub fn random_upto(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    Duration::from_millis(rand::rng().random_range(0..=max.as_millis().min(u64::MAX as u128) as u64))
}

/// What the tracker concludes after a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Healthy: phase `Running`.
    Healthy,
    /// Checks are failing but not yet for long enough: phase unchanged (`Running`), the
    /// failures so far are reported.
    Degraded { failures: u32, threshold: u32 },
    /// Failed long enough: phase `Failed`.
    Failed,
    /// Answering again but not yet for long enough: phase stays `Failed`.
    Recovering { successes: u32, threshold: u32 },
}

/// Hysteresis over consecutive check results of one cluster.
#[derive(Clone, Debug)]
pub struct HealthTracker {
    failed: bool,
    failures: u32,
    successes: u32,
}

impl HealthTracker {
    /// A tracker starting from the cluster's current state (a restarted controller must not
    /// forget that a cluster is Failed).
    pub fn new(currently_failed: bool) -> Self {
        HealthTracker { failed: currently_failed, failures: 0, successes: 0 }
    }

    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// Records one check's result and returns the verdict.
    pub fn observe(&mut self, ok: bool, opts: &HealthOptions) -> Verdict {
        let (fail_at, ok_at) = (opts.failure_threshold.max(1), opts.success_threshold.max(1));
        if ok {
            self.failures = 0;
            if !self.failed {
                return Verdict::Healthy;
            }
            self.successes += 1;
            if self.successes >= ok_at {
                self.failed = false;
                self.successes = 0;
                return Verdict::Healthy;
            }
            Verdict::Recovering { successes: self.successes, threshold: ok_at }
        } else {
            self.successes = 0;
            if self.failed {
                return Verdict::Failed;
            }
            self.failures += 1;
            if self.failures >= fail_at {
                self.failed = true;
                self.failures = 0;
                return Verdict::Failed;
            }
            Verdict::Degraded { failures: self.failures, threshold: fail_at }
        }
    }
}

/// Why a health check failed: the last probe's answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProbeFailure<E> {
    #[error("{0}")]
    Failed(E),
    #[error("no answer within {0:?}")]
    NoAnswer(Duration),
}

/// Runs up to `opts.probes` probes, each bounded by the probe timeout, stopping at the first
/// success; otherwise the last probe's failure.
pub async fn check<T, E, F, Fut>(opts: &HealthOptions, mut probe: F) -> Result<T, ProbeFailure<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut last = ProbeFailure::NoAnswer(opts.probe_timeout);
    for i in 0..opts.probes.max(1) {
        if i > 0 {
            // Spaced (with a little jitter) so one network blip does not eat every probe.
            tokio::time::sleep(opts.probe_interval + random_upto(opts.probe_interval / 4)).await;
        }
        match tokio::time::timeout(opts.probe_timeout, probe()).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => last = ProbeFailure::Failed(e),
            Err(_) => last = ProbeFailure::NoAnswer(opts.probe_timeout),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn opts(fail: u32, ok: u32) -> HealthOptions {
        HealthOptions { failure_threshold: fail, success_threshold: ok, ..Default::default() }
    }

    /// Feeds a sequence of check results (true = good) and returns the verdicts.
    fn run(seq: &[bool], o: &HealthOptions, start_failed: bool) -> Vec<Verdict> {
        let mut t = HealthTracker::new(start_failed);
        seq.iter().map(|ok| t.observe(*ok, o)).collect()
    }

    #[test]
    fn one_lost_check_never_fails_a_healthy_cluster() {
        let o = opts(3, 1);
        // Isolated and paired losses between good checks: never Failed.
        let v = run(&[true, false, true, false, false, true, false, true], &o, false);
        assert!(v.iter().all(|v| *v != Verdict::Failed), "{v:?}");
        assert_eq!(v[1], Verdict::Degraded { failures: 1, threshold: 3 });
        assert_eq!(v[4], Verdict::Degraded { failures: 2, threshold: 3 });
        assert_eq!(v[5], Verdict::Healthy, "a good check resets the count");
    }

    #[test]
    fn consecutive_failures_reach_failed_and_recovery_needs_the_success_threshold() {
        let o = opts(3, 2);
        let v = run(&[false, false, false, false, true, false, true, true, true], &o, false);
        assert_eq!(
            v,
            [
                Verdict::Degraded { failures: 1, threshold: 3 },
                Verdict::Degraded { failures: 2, threshold: 3 },
                Verdict::Failed,
                Verdict::Failed,
                Verdict::Recovering { successes: 1, threshold: 2 },
                Verdict::Failed,
                Verdict::Recovering { successes: 1, threshold: 2 },
                Verdict::Healthy,
                Verdict::Healthy,
            ]
        );
    }

    #[test]
    fn a_restarted_controller_remembers_a_failed_cluster() {
        let v = run(&[false, true], &opts(3, 1), true);
        assert_eq!(v, [Verdict::Failed, Verdict::Healthy]);
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let o = HealthOptions { period: Duration::from_secs(10), jitter: Duration::from_secs(2), ..Default::default() };
        let delays: Vec<Duration> = (0..200).map(|_| o.next_delay()).collect();
        assert!(delays.iter().all(|d| *d >= Duration::from_secs(10) && *d <= Duration::from_secs(12)));
        assert!(delays.iter().any(|d| *d != delays[0]), "delays differ between clusters");
    }

    #[tokio::test]
    async fn a_check_succeeds_when_any_probe_does_and_stops_there() {
        let o = HealthOptions { probes: 3, probe_interval: Duration::from_millis(1), ..Default::default() };
        let calls = AtomicU32::new(0);
        // Lost, lost, answered.
        let r: Result<u32, ProbeFailure<String>> = check(&o, || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move { if n < 2 { Err(format!("probe {n} lost")) } else { Ok(n) } }
        })
        .await;
        assert_eq!(r, Ok(2));
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let calls = AtomicU32::new(0);
        let r: Result<u32, ProbeFailure<String>> = check(&o, || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move { Err(format!("connection refused ({n})")) }
        })
        .await;
        assert_eq!(r, Err(ProbeFailure::Failed("connection refused (2)".into())), "the last error is reported");
    }
}
