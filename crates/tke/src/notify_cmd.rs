//! The notify component's controller (message requests sent by e-mail, webhook, SMS and WeChat)
//! and `tke notify` running the component on its own against the same store.

use std::sync::Arc;

use crate::{
    controllers::{Running, stopped},
    serve::ServerArgs,
};

/// Settings of the notify component.
#[derive(clap::Args, Debug, Clone)]
pub struct NotifyArgs {
    /// Tencent Cloud SMS API 3.0 endpoint (tests point it at a local fake; proxies use it too).
    #[arg(long, env = "TKE_NOTIFY_SMS_ENDPOINT", default_value = notify::send::sms::DEFAULT_ENDPOINT, hide = true)]
    pub notify_sms_endpoint: String,
    /// WeChat API endpoint (tests point it at a local fake).
    #[arg(long, env = "TKE_NOTIFY_WECHAT_ENDPOINT", default_value = notify::send::wechat::DEFAULT_ENDPOINT, hide = true)]
    pub notify_wechat_endpoint: String,
}

/// `tke notify`: channels, templates, receivers, message requests and the Alertmanager webhook.
#[derive(clap::Args, Debug)]
pub struct NotifyCommand {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub notify: NotifyArgs,
}

/// Starts the MessageRequest controller in `running`, under the Lease `tke-notify-controller`,
/// reading channels (with their credentials) from the mounted component `component`.
pub fn controllers(
    running: &mut Running,
    component: &notify::Notify,
    platform: &kube::Client,
    args: &NotifyArgs,
    leader_elect: bool,
) -> anyhow::Result<()> {
    let directory =
        component.directory().ok_or_else(|| anyhow::anyhow!("the notify component is not mounted in this server"))?;
    let senders = Arc::new(notify::send::Senders::new(notify::send::Endpoints {
        tencent_sms: args.notify_sms_endpoint.clone(),
        wechat: args.notify_wechat_endpoint.clone(),
    }));
    let client = platform.clone();
    running.spawn("notify", platform, leader_elect.then_some("tke-notify-controller"), move |stop| {
        notify::controller::run(
            client.clone(),
            directory.clone(),
            senders.clone(),
            notify::controller::Options::default(),
            stopped(stop),
        )
    });
    Ok(())
}

/// Runs the notify component alone until Ctrl-C or SIGTERM.
pub async fn run(cmd: NotifyCommand) -> anyhow::Result<()> {
    let component = notify::Notify::new();
    let server = crate::serve::Server::start(&cmd.server, &[&component]).await?;
    let client = controller_runtime::platform_client(&server.kubeconfig).await?;
    let mut running = Running::new();
    controllers(&mut running, &component, &client, &cmd.notify, cmd.server.leader_elect)?;
    println!("tke-rs is up at {} (the notify component; storage: {:?})", server.url, server.storage);
    println!("  export KUBECONFIG={}", server.kubeconfig.display());
    println!(
        "  Alertmanager webhook: {}/webhook (bearer token in {})",
        server.url,
        server.data_dir.join(notify::WEBHOOK_TOKEN_FILE).display()
    );
    server.serve(running).await?;
    println!("tke-rs stopped");
    Ok(())
}
