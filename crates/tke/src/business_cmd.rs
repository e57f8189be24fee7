//! The business component's controllers (projects, their namespaces in business clusters,
//! quotas, moves, image namespaces and chart groups), and `tke business` running the
//! component on its own against the same store.

use std::{sync::Arc, time::Duration};

use crate::{
    controllers::{Running, stopped},
    serve::ServerArgs,
};

/// `tke business`: projects and namespaces with their controllers.
#[derive(clap::Args, Debug)]
pub struct BusinessCommand {
    #[command(flatten)]
    pub server: ServerArgs,
}

/// Starts the business controllers in `running`, under the Lease `tke-business-controller`,
/// reaching business clusters through the platform's API.
pub fn controllers(running: &mut Running, platform: &kube::Client, leader_elect: bool) {
    let clusters: Arc<dyn controller_runtime::cluster::ClusterClients> =
        Arc::new(controller_runtime::cluster::PlatformClusters::new(
            platform.clone(),
            controller_runtime::cluster::ClientOptions::timeout(Duration::from_secs(10)),
        ));
    let client = platform.clone();
    running.spawn("business", platform, leader_elect.then_some("tke-business-controller"), move |stop| {
        business::controllers::run(
            client.clone(),
            clusters.clone(),
            business::controllers::Options::default(),
            stopped(stop),
        )
    });
}

/// Runs the business component alone until Ctrl-C or SIGTERM.
pub async fn run(cmd: BusinessCommand) -> anyhow::Result<()> {
    let server = crate::serve::Server::start(&cmd.server, &[&business::Business]).await?;
    let client = controller_runtime::platform_client(&server.kubeconfig).await?;
    let mut running = Running::new();
    controllers(&mut running, &client, cmd.server.leader_elect);
    println!("tke-rs is up at {} (the business component; storage: {:?})", server.url, server.storage);
    println!("  export KUBECONFIG={}", server.kubeconfig.display());
    server.serve(running).await?;
    println!("tke-rs stopped");
    Ok(())
}
