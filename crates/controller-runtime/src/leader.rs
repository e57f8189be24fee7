//! Leader election with a `coordination.k8s.io/v1` Lease, as client-go's leaderelection does:
//! a candidate takes the lease when it is free, released, or not renewed for its whole duration
//! (measured on the candidate's own clock from when it last saw the lease change, so clock skew
//! between replicas does not matter); the leader renews it every retry period and steps down when
//! it could not renew within the renew deadline; a leader that stops cleanly releases the lease so
//! another replica takes over at once. Writes use the lease's resourceVersion, so two candidates
//! can never both win.

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::Timestamp,
};
use kube::{
    Api, Client,
    api::{PostParams, Resource},
    runtime::{WatchStreamExt, watcher},
};
use tokio::sync::watch;

/// Where the lease lives and how long it lasts.
#[derive(Clone, Debug)]
pub struct LeaderOptions {
    pub namespace: String,
    pub name: String,
    /// This replica's identity (host name plus a random suffix by default).
    pub identity: String,
    /// How long a lease holds without renewal.
    pub lease_duration: Duration,
    /// A leader that could not renew for this long stops leading.
    pub renew_deadline: Duration,
    /// Time between two attempts to acquire or renew.
    pub retry_period: Duration,
}

impl Default for LeaderOptions {
    fn default() -> Self {
        LeaderOptions {
            namespace: "tke".into(),
            name: "tke-platform-controller".into(),
            identity: default_identity(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// `hostname_suffix`: unique per process, readable in `kubectl get lease`.
pub fn default_identity() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "tke".into());
    format!("{host}_{}", uuid_like())
}

fn uuid_like() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..8).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// One replica's view of the election.
pub struct LeaderElector {
    api: Api<Lease>,
    opts: LeaderOptions,
    /// The last lease record seen (resourceVersion) and when it was first seen.
    observed: Option<(String, Instant)>,
}

impl LeaderElector {
    pub fn new(client: Client, opts: LeaderOptions) -> Self {
        LeaderElector { api: Api::namespaced(client, &opts.namespace), opts, observed: None }
    }

    pub fn identity(&self) -> &str {
        &self.opts.identity
    }

    /// Waits until this replica leads (true) or `stop` turns true (false). Besides trying every
    /// retry period, it watches the lease and tries again as soon as it changes, so a lease
    /// released by a leader that stops is taken over at once.
    pub async fn acquire(&mut self, stop: &mut watch::Receiver<bool>) -> bool {
        let config = watcher::Config::default().fields(&format!("metadata.name={}", self.opts.name));
        let mut changes = watcher::watcher(self.api.clone(), config).default_backoff().boxed();
        loop {
            if *stop.borrow() {
                return false;
            }
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    tracing::info!(identity = %self.opts.identity, lease = %self.opts.name, "became the leader");
                    return true;
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "leader election: cannot read or write the lease"),
            }
            let deadline = tokio::time::sleep(self.opts.retry_period);
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    _ = &mut deadline => break,
                    _ = stop.changed() => break,
                    event = changes.next() => match event {
                        // A released lease: try now.
                        Some(Ok(watcher::Event::Apply(lease))) if released(&lease) => break,
                        Some(_) => {}
                        // Never for a watcher; were it to end, the retry period still applies.
                        None => changes = futures::stream::pending().boxed(),
                    },
                }
            }
        }
    }

    /// Renews the lease until renewal fails for longer than the renew deadline (returns false:
    /// leadership lost) or `stop` turns true (returns true; the caller then releases).
    pub async fn keep(&mut self, stop: &mut watch::Receiver<bool>) -> bool {
        let mut last_renew = Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.opts.retry_period) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return true;
            }
            match self.try_acquire_or_renew().await {
                Ok(true) => last_renew = Instant::now(),
                Ok(false) => {
                    tracing::warn!(identity = %self.opts.identity, "another replica holds the lease: stepping down");
                    return false;
                }
                Err(e) => tracing::warn!(error = %e, "renewing the lease failed"),
            }
            if last_renew.elapsed() > self.opts.renew_deadline {
                tracing::warn!(identity = %self.opts.identity, "could not renew the lease in time: stepping down");
                return false;
            }
        }
    }

    /// Gives the lease up (holder cleared) so another replica takes over without waiting.
    pub async fn release(&mut self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.opts.name).await else { return };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(self.opts.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        match self.api.replace(&self.opts.name, &PostParams::default(), &lease).await {
            Ok(_) => tracing::info!(identity = %self.opts.identity, "released the lease"),
            Err(e) => tracing::warn!(error = %e, "releasing the lease failed; it expires on its own"),
        }
    }

    /// One attempt: true when this replica holds the lease afterwards.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let now = MicroTime(Timestamp::now());
        let duration_secs = self.opts.lease_duration.as_secs().max(1) as i32;
        let Some(mut lease) = self.api.get_opt(&self.opts.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.opts.name.clone()),
                    namespace: Some(self.opts.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.opts.identity.clone()),
                    lease_duration_seconds: Some(duration_secs),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let rv = lease.meta().resource_version.clone().unwrap_or_default();
        if self.observed.as_ref().is_none_or(|(seen, _)| *seen != rv) {
            self.observed = Some((rv, Instant::now()));
        }
        let spec = lease.spec.get_or_insert_with(Default::default);
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let mine = holder == self.opts.identity;
        if !mine && !holder.is_empty() {
            let held_for = Duration::from_secs(spec.lease_duration_seconds.unwrap_or(duration_secs).max(1) as u64);
            let since = self.observed.as_ref().map(|(_, at)| at.elapsed()).unwrap_or_default();
            if since < held_for {
                return Ok(false);
            }
            tracing::info!(previous = %holder, "the lease expired: taking over");
        }
        if !mine {
            spec.acquire_time = Some(now.clone());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.holder_identity = Some(self.opts.identity.clone());
        spec.lease_duration_seconds = Some(duration_secs);
        spec.renew_time = Some(now);
        match self.api.replace(&self.opts.name, &PostParams::default(), &lease).await {
            Ok(stored) => {
                self.observed = stored.meta().resource_version.clone().map(|rv| (rv, Instant::now()));
                Ok(true)
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Whether nobody holds `lease`.
fn released(lease: &Lease) -> bool {
    lease.spec.as_ref().and_then(|s| s.holder_identity.as_deref()).is_none_or(str::is_empty)
}

/// Runs `work` whenever this replica leads, until `stop` turns true: waits for the lease, calls
/// `work` with a signal that turns true when leadership is lost or stopping (the work must then
/// finish), renews the lease meanwhile, and competes again after losing it. On stop, the work
/// under way finishes before the lease is released, so a successor never overlaps with it.
/// `on_change` hears every change of leadership (for metrics and logs).
pub async fn run_while_leading<W, F>(
    client: Client,
    opts: LeaderOptions,
    mut stop: watch::Receiver<bool>,
    on_change: impl Fn(bool),
    mut work: W,
) where
    W: FnMut(watch::Receiver<bool>) -> F,
    F: std::future::Future<Output = ()>,
{
    let lease = opts.name.clone();
    let mut elector = LeaderElector::new(client, opts);
    crate::metrics::leading(&lease, false);
    loop {
        if !elector.acquire(&mut stop).await {
            return;
        }
        crate::metrics::leading(&lease, true);
        on_change(true);
        let (lost_tx, lost) = watch::channel(false);
        let keep = async {
            let stopping = elector.keep(&mut stop).await;
            let _ = lost_tx.send(true);
            stopping
        };
        let ((), stopping) = tokio::join!(work(lost), keep);
        crate::metrics::leading(&lease, false);
        on_change(false);
        if !stopping {
            crate::metrics::lost(&lease);
        }
        if stopping {
            elector.release().await;
            return;
        }
    }
}
