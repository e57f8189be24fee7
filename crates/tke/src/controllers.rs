//! The controllers a `tke` process runs beside its API server, wired from flags. They talk to
//! the platform's API over HTTPS with the admin credential, exactly as they would when run on
//! their own, each set under its own Lease when leader election is on; on shutdown they stop
//! (and release their Leases) before the server they talk to does, so another replica takes
//! over at once.

use std::{sync::Arc, time::Duration};

use tokio::{sync::watch, task::JoinHandle};

/// Controllers running in this process.
#[derive(Default)]
pub struct Running {
    stop: Option<watch::Sender<bool>>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

/// How long stopping controllers may take before the process goes on without them.
const STOP_GRACE: Duration = Duration::from_secs(10);

impl Running {
    pub fn new() -> Self {
        let (stop, _) = watch::channel(false);
        Running { stop: Some(stop), tasks: vec![] }
    }

    /// A signal that turns true when the controllers are to stop.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.as_ref().map(|s| s.subscribe()).unwrap_or_else(|| watch::channel(true).1)
    }

    /// Runs `work` (until its stop signal) under the Lease `lease` of namespace `tke`, or at once
    /// without leader election.
    pub fn spawn<W, F>(&mut self, name: &'static str, platform: &kube::Client, lease: Option<&'static str>, work: W)
    where
        W: FnMut(watch::Receiver<bool>) -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let stop = self.stopping();
        let task = match lease {
            Some(lease) => {
                let opts = controller_runtime::LeaderOptions { name: lease.into(), ..Default::default() };
                tokio::spawn(controller_runtime::run_while_leading(platform.clone(), opts, stop, |_| {}, work))
            }
            None => {
                let mut work = work;
                tokio::spawn(work(stop))
            }
        };
        self.tasks.push((name, task));
    }

    /// Stops every controller and waits (bounded) until each has finished its reconciles and
    /// released its Lease.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        for (name, task) in self.tasks.drain(..) {
            if tokio::time::timeout(STOP_GRACE, task).await.is_err() {
                tracing::warn!(controllers = name, "did not stop within {STOP_GRACE:?}");
            }
        }
    }
}

/// Resolves when `stop` turns true (or its sender is gone).
pub async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|v| *v).await;
}

/// The add-on controllers, reaching business clusters through the platform's API.
pub fn addons(running: &mut Running, platform: &kube::Client, opts: addons::Options, leader_elect: bool) {
    let clusters: Arc<dyn controller_runtime::cluster::ClusterClients> =
        Arc::new(controller_runtime::cluster::PlatformClusters::new(
            platform.clone(),
            controller_runtime::cluster::ClientOptions {
                connect_timeout: Duration::from_secs(10),
                read_timeout: None,
                impersonate: None,
            },
        ));
    let client = platform.clone();
    running.spawn("add-on", platform, leader_elect.then_some("tke-addon-controller"), move |stop| {
        addons::run(client.clone(), clusters.clone(), opts.clone(), stopped(stop))
    });
}

/// The `authz.tkestack.io` controllers: MultiClusterRoleBindings fanned out as ClusterRoles and
/// ClusterRoleBindings into business clusters, reached through the platform's API.
pub fn authz(running: &mut Running, platform: &kube::Client, leader_elect: bool) {
    let clusters: Arc<dyn controller_runtime::cluster::ClusterClients> =
        Arc::new(controller_runtime::cluster::PlatformClusters::new(
            platform.clone(),
            controller_runtime::cluster::ClientOptions::timeout(Duration::from_secs(10)),
        ));
    let client = platform.clone();
    running.spawn("authz", platform, leader_elect.then_some("tke-authz-controller"), move |stop| {
        authz_controller::run(client.clone(), clusters.clone(), authz_controller::Options::default(), stopped(stop))
    });
}
