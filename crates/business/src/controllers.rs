//! The business controllers, run together under one Lease (`tke-business-controller`): each
//! is a kube-runtime controller talking to the platform's API like any client and reaching
//! business clusters through the controller runtime's one way
//! ([`controller_runtime::cluster::ClusterClients`]).

use std::{future::Future, sync::Arc};

use controller_runtime::cluster::ClusterClients;

/// Settings of the business controllers.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub namespaces: crate::namespace::Options,
    pub emigrations: crate::emigration::Options,
}

/// Runs every business controller until `shutdown` resolves.
pub async fn run(
    platform: kube::Client,
    clusters: Arc<dyn ClusterClients>,
    opts: Options,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown));
    futures::join!(
        shutdown.clone(),
        crate::namespace::run(platform.clone(), clusters.clone(), opts.namespaces.clone(), shutdown.clone()),
        crate::emigration::run(platform.clone(), clusters.clone(), opts.emigrations.clone(), shutdown.clone()),
        crate::quota::usage::run(platform.clone(), shutdown.clone()),
        crate::project::run(platform.clone(), shutdown.clone()),
        crate::mirror::run(crate::mirror::IMAGE_NAMESPACE, platform.clone(), shutdown.clone()),
        crate::mirror::run(crate::mirror::CHART_GROUP, platform.clone(), shutdown.clone()),
        crate::platform::run(platform.clone(), shutdown.clone()),
    );
}
