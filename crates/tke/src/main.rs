//! `tke`: the tke-rs platform in one binary. `tke up` runs every component in one process;
//! the other subcommands are tools.

mod audit_cmd;
mod auth_cmd;
mod bench;
mod bench_audit;
mod bench_authz;
mod bench_business;
mod bench_client;
mod bench_clusters;
mod bench_registry;
mod business_cmd;
mod config;
mod console_cmd;
mod controllers;
mod cronhpa_cmd;
mod demo;
mod logagent_cmd;
mod login_cmd;
mod monitor_cmd;
mod notify_cmd;
mod platform_cmd;
mod registry_cmd;
mod serve;
mod up;

use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "tke",
    version,
    about = "tke-rs: a container platform that runs many Kubernetes clusters for many teams",
    args_override_self = true
)]
struct Cli {
    /// Log filter (tracing's EnvFilter syntax), e.g. `info` or `apiserver=debug`.
    #[arg(long, env = "TKE_LOG", default_value = "info", global = true)]
    log: String,
    /// Log format: `text` for people, `json` for log collectors.
    #[arg(long, env = "TKE_LOG_FORMAT", default_value = "text", global = true)]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start: the size of `tke up`'s flags costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the whole platform in one process (embedded store by default).
    Up(Box<up::UpArgs>),
    /// Run the platform component alone (clusters, machines, add-ons and their controllers)
    /// against a shared store, as one Deployment of a split installation.
    Platform(platform_cmd::PlatformCommand),
    /// Run the registry component alone (images, charts and their API objects) against a shared
    /// store.
    Registry(registry_cmd::RegistryCommand),
    /// Run the business component alone (projects, their namespaces in business clusters and
    /// their controllers) against a shared store.
    Business(business_cmd::BusinessCommand),
    /// Run the notify component alone (channels, templates, receivers, message requests, the
    /// Alertmanager webhook and the controller that sends) against a shared store.
    Notify(notify_cmd::NotifyCommand),
    /// Run the monitor component (metrics queries, cluster overviews, alarm policies and the
    /// embedded store's sampler, with the platform API it reads clusters from) against a shared
    /// store.
    Monitor(monitor_cmd::MonitorCommand),
    /// Run the web console and the gateway alone, in front of components that run as separate
    /// processes (passthrough or front-proxy mode).
    Console(console_cmd::ConsoleCommand),
    /// Measure a running server (or a temporary one): create, get, update, list, watch fan-out
    /// and memory per object, printed as throughput and latency percentiles.
    Bench(bench::BenchArgs),
    /// Run the CronHPA controller in a business cluster (what the CronHPA add-on deploys).
    Cronhpa(cronhpa_cmd::CronHpaArgs),
    /// Log in to a platform (password or browser) and write a kubeconfig that stays logged in.
    Login(login_cmd::LoginArgs),
    /// kubectl's exec credential plugin (written into kubeconfigs by `tke login`).
    Credential(login_cmd::CredentialArgs),
    /// The node log agent (what the LogCollector add-on runs on every node): ships the node's
    /// log lines to Elasticsearch or Kafka by the cluster's LogCollector rules.
    Logagent(logagent_cmd::LogAgentArgs),
    /// API keys for scripts.
    #[command(subcommand)]
    Apikey(login_cmd::ApiKeyCommand),
}

fn init_tracing(filter: &str, format: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> std::process::ExitCode {
    let args = match config::args_with_config_file(std::env::args_os().collect()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(args);
    init_tracing(&cli.log, &cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Up(args) => up::run(*args).await,
            Command::Platform(args) => platform_cmd::run(args).await,
            Command::Registry(args) => registry_cmd::run(args).await,
            Command::Business(args) => business_cmd::run(args).await,
            Command::Notify(args) => notify_cmd::run(args).await,
            Command::Monitor(args) => monitor_cmd::run(args).await,
            Command::Console(args) => console_cmd::run(args).await,
            Command::Bench(args) => bench::run(args).await,
            Command::Cronhpa(args) => cronhpa_cmd::run(args).await,
            Command::Login(args) => login_cmd::login(args).await,
            Command::Credential(args) => login_cmd::credential(args).await,
            Command::Apikey(cmd) => login_cmd::apikey(cmd).await,
            Command::Logagent(args) => logagent_cmd::run(args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
