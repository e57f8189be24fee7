//! `tke up`: every component of the platform in one process, on the embedded store (or etcd).

use crate::{
    auth_cmd::AuthArgs, console_cmd::ConsoleArgs, platform_cmd::PlatformArgs, registry_cmd::RegistryArgs,
    serve::ServerArgs,
};

#[derive(clap::Args, Debug)]
pub struct UpArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub platform: PlatformArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub console: ConsoleArgs,
    #[command(flatten)]
    pub audit: crate::audit_cmd::AuditArgs,
    #[command(flatten)]
    pub monitor: crate::monitor_cmd::MonitorArgs,
    /// Serve the image registry (`/v2/`, token endpoint `/registry/auth`) on the same listener.
    #[arg(long, env = "TKE_REGISTRY", default_value_t = true, action = clap::ArgAction::Set)]
    pub registry: bool,
    #[command(flatten)]
    pub registry_args: RegistryArgs,
    #[command(flatten)]
    pub notify: crate::notify_cmd::NotifyArgs,
    /// The port the platform reaches the nodes' log agents on (the LogAgent DaemonSet's host port).
    #[arg(long, env = "TKE_LOGAGENT_AGENT_PORT", default_value_t = logagent::component::AGENT_PORT)]
    pub logagent_agent_port: u16,
    /// Reach every log agent at this host instead of its pod's node address (an agent run as a
    /// local process, in tests and trials).
    #[arg(long, env = "TKE_LOGAGENT_AGENT_HOST")]
    pub logagent_agent_host: Option<String>,
    /// Also run a simulated business cluster in this process and import it as cluster `cls-demo`
    /// (state in DATA_DIR/demo-cluster), to try the platform without a real cluster.
    #[arg(long, env = "TKE_DEMO", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub demo: bool,
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let auth_component = crate::auth_cmd::component(&args.auth);
    let audit_component = crate::audit_cmd::component(&args.audit)?;
    // The registry's Basic auth is the platform's (its users, API keys and ID tokens), and so are
    // its permissions (the policies).
    let registry = args.registry.then(|| {
        let platform = crate::registry_cmd::PlatformAuth {
            users: std::sync::Arc::new(crate::auth_cmd::PlatformUsers(auth_component.handle())),
            policy: std::sync::Arc::new(crate::auth_cmd::PlatformRepositoryPolicy(auth_component.handle())),
        };
        crate::registry_cmd::component(&args.registry_args, &args.server, Some(platform))
    });
    let monitor_component = args.monitor.component();
    let notify_component = notify::Notify::new();
    let logagent_component = logagent::component::LogAgentComponent {
        config: logagent::component::Config {
            agent_port: args.logagent_agent_port,
            agent_host: args.logagent_agent_host.clone(),
        },
    };
    let mut components: Vec<&dyn apiserver::Component> = vec![
        &platform::component::Platform,
        &auth_component,
        &business::Business,
        &monitor_component,
        &notify_component,
        &audit_component,
        &logagent_component,
    ];
    if let Some(r) = &registry {
        components.push(r);
    }
    let console = crate::console_cmd::component(&args.console, args.auth.oidc_issuer_url.as_deref());
    if let Some(c) = &console {
        components.push(c);
    }
    let server = crate::serve::Server::start(&args.server, &components).await?;
    let (url, data_dir, kubeconfig) = (server.url.clone(), server.data_dir.clone(), server.kubeconfig.clone());

    // The controllers reach the API through the listener, as separate processes would.
    let platform_client = controller_runtime::platform_client(&kubeconfig).await?;
    let mut controllers = crate::controllers::Running::new();
    crate::platform_cmd::controllers(
        &mut controllers,
        &platform_client,
        &args.platform,
        &data_dir,
        &url,
        args.server.leader_elect,
    )?;
    crate::auth_cmd::controllers(&mut controllers, &auth_component, &platform_client, args.server.leader_elect);
    if let Some(r) = &registry {
        crate::registry_cmd::controllers(&mut controllers, r, &platform_client, args.server.leader_elect)?;
    }
    // The auth component serves authz.tkestack.io: its bindings reach the business clusters.
    crate::controllers::authz(&mut controllers, &platform_client, args.server.leader_elect);
    crate::business_cmd::controllers(&mut controllers, &platform_client, args.server.leader_elect);
    crate::notify_cmd::controllers(
        &mut controllers,
        &notify_component,
        &platform_client,
        &args.notify,
        args.server.leader_elect,
    )?;
    crate::monitor_cmd::controllers(&mut controllers, &monitor_component, &platform_client, args.server.leader_elect);

    // Kept alive until the server stops.
    let demo = if args.demo { Some(crate::demo::start(&server.api, &data_dir).await?) } else { None };

    println!("tke-rs is up at {url} (storage: {:?})", server.storage);
    println!("  export KUBECONFIG={}", kubeconfig.display());
    if console.is_some() {
        println!(
            "  console: {url}/tkestack (user admin, password in {})",
            data_dir.join(auth::bootstrap::ADMIN_PASSWORD_FILE).display()
        );
    }
    println!("  kubectl api-resources --api-group=platform.tkestack.io");
    println!("  kubectl get clusters");
    if let Some(sim) = &demo {
        println!(
            "  demo: cluster {} is a simulated cluster at {} (kubectl get --raw /apis/platform.tkestack.io/v1/clusters/{}/proxy/api/v1/nodes)",
            crate::demo::CLUSTER,
            sim.url(),
            crate::demo::CLUSTER
        );
    }
    if registry.is_some() {
        println!(
            "  registry: skopeo login --cert-dir {} -u admin --password-stdin {} < {}",
            data_dir.join("registry-ca").display(),
            url.trim_start_matches("https://"),
            data_dir.join("admin-password").display()
        );
    }

    server.serve(controllers).await?;
    if let Some(sim) = demo {
        sim.stop().await;
    }
    println!("tke-rs stopped");
    Ok(())
}
