//! The platform component (`platform.tkestack.io/v1`): its controllers, kube-runtime controllers
//! on the shared controller runtime that talk to the platform's API over HTTPS exactly as to any
//! Kubernetes API server, elected leader through a Lease when several replicas run; and the
//! Cluster subresources it serves.
//!
//! - [`cluster`]: the cluster controller;
//! - [`engine`]: the condition-driven step engine shared by clusters and machines;
//! - [`provider`]: the provider interface and the `Imported` provider;
//! - [`health`]: multi-probe health checks with jitter and hysteresis;
//! - [`machine`]: the machine controller and the machine provider interface;
//! - [`subresources`]: proxy, unified proxy, apply, drain, apiresources, add-ons, authwebhook;
//! - [`authwebhook`]: the authn/authz webhook files and flags of business clusters' API servers.

pub mod authwebhook;
pub mod cluster;
pub mod component;
pub mod engine;
pub mod health;
pub mod machine;
pub mod provider;
pub mod subresources;

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

pub use controller_runtime::LeaderOptions;
pub use health::HealthOptions;
pub use machine::{MachineProvider, MachineProviders};
pub use provider::{Provider, Providers};
use tokio::sync::watch;

/// Settings of the platform controllers.
#[derive(Clone, Debug)]
pub struct ControllerOptions {
    /// Clusters reconciled at once.
    pub concurrency: u16,
    pub health: HealthOptions,
    /// Lead through this Lease before reconciling; `None` reconciles at once (a single replica).
    pub leader_election: Option<LeaderOptions>,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions {
            concurrency: 10,
            health: HealthOptions::default(),
            leader_election: Some(LeaderOptions::default()),
        }
    }
}

/// Live figures of a running [`Controllers`], for tests, metrics and `tke` status output.
#[derive(Clone, Debug, Default)]
pub struct ControllerStats(Arc<StatsInner>);

#[derive(Debug, Default)]
struct StatsInner {
    leader: AtomicBool,
    reconciles: AtomicU64,
}

impl ControllerStats {
    /// Whether this replica currently leads (always true without leader election).
    pub fn is_leader(&self) -> bool {
        self.0.leader.load(Ordering::SeqCst)
    }
    /// Reconciles run by this replica so far.
    pub fn reconciles(&self) -> u64 {
        self.0.reconciles.load(Ordering::SeqCst)
    }
    fn set_leader(&self, v: bool) {
        self.0.leader.store(v, Ordering::SeqCst)
    }
    pub(crate) fn count_reconcile(&self) {
        self.0.reconciles.fetch_add(1, Ordering::SeqCst);
    }
}

/// The platform controllers of one replica.
pub struct Controllers {
    client: kube::Client,
    opts: ControllerOptions,
    providers: Providers,
    machine_providers: MachineProviders,
    stats: ControllerStats,
}

impl Controllers {
    /// Controllers acting through `client` (the platform's API) with the built-in providers.
    pub fn new(client: kube::Client, opts: ControllerOptions) -> Self {
        Controllers {
            client,
            opts,
            providers: Providers::builtin(),
            machine_providers: MachineProviders::default(),
            stats: ControllerStats::default(),
        }
    }

    /// Adds a provider (e.g. `Baremetal`).
    pub fn with_provider(mut self, provider: Arc<dyn Provider>) -> Self {
        self.providers.register(provider);
        self
    }

    /// Adds a machine provider (e.g. `Baremetal`); the machine controller runs next to the
    /// cluster controller, under the same leadership.
    pub fn with_machine_provider(mut self, provider: Arc<dyn MachineProvider>) -> Self {
        self.machine_providers.register(provider);
        self
    }

    /// The controllers until `stop` resolves. The machine controller runs only when a machine
    /// provider is registered: without one it could not install or remove any machine, and
    /// must not clear the finalizers of machines another replica is responsible for.
    async fn controllers(&self, stop: watch::Receiver<bool>) {
        let clusters = cluster::run(
            self.client.clone(),
            self.providers.clone(),
            self.opts.clone(),
            self.stats.clone(),
            signalled(stop.clone()),
        );
        if self.machine_providers.is_empty() {
            return clusters.await;
        }
        let machines = machine::run(
            self.client.clone(),
            self.machine_providers.clone(),
            self.opts.clone(),
            self.stats.clone(),
            signalled(stop),
        );
        tokio::join!(clusters, machines);
    }

    pub fn stats(&self) -> ControllerStats {
        self.stats.clone()
    }

    /// Runs until `shutdown` resolves: waits to lead (when leader election is on), reconciles
    /// while leading, steps down when the lease is lost and competes again; on shutdown finishes
    /// the reconciles under way and releases the lease.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let (stop_tx, stop) = watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let Some(lopts) = self.opts.leader_election.clone() else {
            self.stats.set_leader(true);
            self.controllers(stop).await;
            self.stats.set_leader(false);
            return;
        };
        // In this task, so that dropping `run` (a crash, in tests) stops everything; reconciles
        // under way finish before the lease is released.
        controller_runtime::run_while_leading(
            self.client.clone(),
            lopts,
            stop,
            |leading| self.stats.set_leader(leading),
            |lost| self.controllers(lost),
        )
        .await;
    }
}

/// A future that resolves when the flag turns true (or its sender is gone).
async fn signalled(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

/// Runs the platform controllers until `shutdown` resolves (see [`Controllers::run`]).
pub async fn run(client: kube::Client, opts: ControllerOptions, shutdown: impl Future<Output = ()> + Send + 'static) {
    Controllers::new(client, opts).run(shutdown).await
}
