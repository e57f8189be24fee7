//! `tke up`: every component of the platform in one process, on the embedded store (or etcd).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::{Context, bail};
use apiserver::{ApiServer, VersionInfo, auth, tls};
use storage::Store;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StorageKind {
    /// The embedded, crash-safe store in the data directory: no other process needed.
    Embedded,
    /// An etcd v3 cluster (`--etcd-servers`), for highly available installations.
    Etcd,
}

#[derive(clap::Args, Debug)]
pub struct UpArgs {
    /// Directory for the embedded store, certificates and the admin kubeconfig.
    #[arg(long, env = "TKE_DATA_DIR", default_value = "./tke-data")]
    pub data_dir: PathBuf,
    /// Address of the HTTPS listener.
    #[arg(long, env = "TKE_LISTEN", default_value = "127.0.0.1:9443")]
    pub listen: SocketAddr,
    /// Where API objects are stored.
    #[arg(long, env = "TKE_STORAGE", value_enum, default_value = "embedded")]
    pub storage: StorageKind,
    /// etcd endpoints, comma separated (with `--storage etcd`), e.g. `https://10.0.0.1:2379`.
    #[arg(long, env = "TKE_ETCD_SERVERS", value_delimiter = ',')]
    pub etcd_servers: Vec<String>,
    /// CA bundle to verify etcd's serving certificate.
    #[arg(long, env = "TKE_ETCD_CAFILE")]
    pub etcd_cafile: Option<PathBuf>,
    /// Client certificate for etcd.
    #[arg(long, env = "TKE_ETCD_CERTFILE")]
    pub etcd_certfile: Option<PathBuf>,
    /// Client key for etcd.
    #[arg(long, env = "TKE_ETCD_KEYFILE")]
    pub etcd_keyfile: Option<PathBuf>,
    /// Key prefix of every object in the store (several platforms can share one etcd).
    #[arg(long, env = "TKE_STORAGE_PREFIX", default_value = "/registry")]
    pub storage_prefix: String,
    /// Static token file (CSV: token,user,uid,"group1,group2"), as kube-apiserver's.
    #[arg(long, env = "TKE_TOKEN_AUTH_FILE")]
    pub token_auth_file: Option<PathBuf>,
    /// Serving certificate (PEM); generated into the data directory when not given.
    #[arg(long, env = "TKE_TLS_CERT_FILE", requires = "tls_private_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// Key of the serving certificate (PEM).
    #[arg(long, env = "TKE_TLS_PRIVATE_KEY_FILE", requires = "tls_cert_file")]
    pub tls_private_key_file: Option<PathBuf>,
    /// CA that signs accepted client certificates; the generated CA when not given.
    #[arg(long, env = "TKE_CLIENT_CA_FILE")]
    pub client_ca_file: Option<PathBuf>,
    /// Extra host names or IPs for the generated serving certificate (comma separated).
    #[arg(long, env = "TKE_EXTERNAL_HOSTNAMES", value_delimiter = ',')]
    pub external_hostname: Vec<String>,
    /// Serve the image registry (`/v2/`, token endpoint `/registry/auth`) on the same listener.
    #[arg(long, env = "TKE_REGISTRY", default_value_t = true, action = clap::ArgAction::Set)]
    pub registry: bool,
    /// Where registry blobs and manifests live (default: DATA_DIR/registry).
    #[arg(long, env = "TKE_REGISTRY_DIR")]
    pub registry_dir: Option<PathBuf>,
    /// Registry tenants by host: requests to `{tenant}.{domain}` belong to that tenant (others to `default`).
    #[arg(long, env = "TKE_REGISTRY_DOMAIN")]
    pub registry_domain: Option<String>,
    /// Repository prefixes anyone may pull without logging in (comma separated), e.g. `library`.
    #[arg(long, env = "TKE_REGISTRY_PUBLIC", value_delimiter = ',')]
    pub registry_public: Vec<String>,
    /// Also run a simulated business cluster in this process and import it as cluster `cls-demo`
    /// (state in DATA_DIR/demo-cluster), to try the platform without a real cluster.
    #[arg(long, env = "TKE_DEMO", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub demo: bool,
    /// Registry prefix of add-on images (air-gapped installations point it at their own registry).
    #[arg(long, env = "TKE_ADDON_REGISTRY", default_value = "docker.io")]
    pub addon_registry: String,
    /// How often a Running add-on's workloads are checked (seconds).
    #[arg(long, env = "TKE_ADDON_HEALTH_PERIOD_SECONDS", default_value_t = 300)]
    pub addon_health_period_seconds: u64,
    /// How often an add-on being installed is checked for available workloads (seconds).
    #[arg(long, env = "TKE_ADDON_CHECK_INTERVAL_SECONDS", default_value_t = 5)]
    pub addon_check_interval_seconds: u64,
    /// Wait between installation attempts of an add-on (seconds).
    #[arg(long, env = "TKE_ADDON_RETRY_DELAY_SECONDS", default_value_t = 300)]
    pub addon_retry_delay_seconds: u64,
    /// Run the cluster controllers (import, health checks, deletion) in this process.
    #[arg(long, env = "TKE_PLATFORM_CONTROLLERS", default_value_t = true, action = clap::ArgAction::Set)]
    pub platform_controllers: bool,
    /// Elect one leader among replicas (Leases in namespace `tke`) before running the cluster and
    /// add-on controllers.
    #[arg(long, env = "TKE_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// How often each cluster is health-checked (seconds); a random delay of up to a quarter of it spreads clusters out.
    #[arg(long, env = "TKE_CLUSTER_HEALTH_PERIOD_SECONDS", default_value_t = 60)]
    pub cluster_health_period_seconds: u64,
    /// Probes per health check; a check fails only when all of them fail.
    #[arg(long, env = "TKE_CLUSTER_HEALTH_PROBES", default_value_t = 3)]
    pub cluster_health_probes: u32,
    /// Failed health checks in a row before a Running cluster is marked Failed.
    #[arg(long, env = "TKE_CLUSTER_HEALTH_FAILURE_THRESHOLD", default_value_t = 3)]
    pub cluster_health_failure_threshold: u32,
    /// Good health checks in a row before a Failed cluster is Running again.
    #[arg(long, env = "TKE_CLUSTER_HEALTH_SUCCESS_THRESHOLD", default_value_t = 1)]
    pub cluster_health_success_threshold: u32,
    /// The offline bundle Baremetal clusters and machines are installed from (see
    /// crates/provision/BUNDLE.md); default DATA_DIR/bundle.
    #[arg(long, env = "TKE_BAREMETAL_BUNDLE_DIR")]
    pub baremetal_bundle_dir: Option<PathBuf>,
    /// Prefix of every path the Baremetal steps write on a machine ("" on real machines).
    #[arg(long, env = "TKE_BAREMETAL_INSTALL_ROOT", default_value = "")]
    pub baremetal_install_root: String,
    /// Let the Baremetal steps run systemctl, modprobe, sysctl and swapoff on machines.
    #[arg(long, env = "TKE_BAREMETAL_MANAGE_SYSTEM", default_value_t = true, action = clap::ArgAction::Set)]
    pub baremetal_manage_system: bool,
    /// How often history older than one interval is compacted away (seconds).
    #[arg(long, env = "TKE_COMPACTION_INTERVAL_SECONDS", default_value_t = 300)]
    pub compaction_interval_seconds: u64,
}

async fn open_store(args: &UpArgs) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match args.storage {
        StorageKind::Embedded => {
            let dir = args.data_dir.join("store");
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            Arc::new(
                storage::embedded::EmbeddedStore::open(&dir)
                    .with_context(|| format!("opening the embedded store in {}", dir.display()))?,
            )
        }
        StorageKind::Etcd => {
            if args.etcd_servers.is_empty() {
                bail!("--storage etcd needs --etcd-servers (for example --etcd-servers http://127.0.0.1:2379)");
            }
            let tls = storage::etcd::EtcdTls {
                ca_file: args.etcd_cafile.clone(),
                cert_file: args.etcd_certfile.clone(),
                key_file: args.etcd_keyfile.clone(),
            };
            Arc::new(
                storage::etcd::EtcdStore::connect(&args.etcd_servers, tls)
                    .await
                    .with_context(|| format!("connecting to etcd at {}", args.etcd_servers.join(",")))?,
            )
        }
    })
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating the data directory {}", args.data_dir.display()))?;
    let data_dir = args.data_dir.canonicalize().unwrap_or(args.data_dir.clone());
    let store = open_store(&args).await?;
    storage::spawn_compactor(store.clone(), Duration::from_secs(args.compaction_interval_seconds.max(1)));

    let mut hosts = args.external_hostname.clone();
    if !args.listen.ip().is_unspecified() {
        hosts.push(args.listen.ip().to_string());
    }
    let pki = tls::ensure_pki(&data_dir, &hosts).context("preparing certificates")?;
    let tls_options = tls::TlsOptions {
        cert_file: args.tls_cert_file.clone(),
        key_file: args.tls_private_key_file.clone(),
        client_ca_file: args.client_ca_file.clone(),
    };
    let server_tls = tls::server_config(&pki, &tls_options).context("building the TLS configuration")?;

    let mut defs = api::platform::resources();
    defs.extend(api::registry::resources());
    defs.extend(api::coordination::resources());
    defs.sort_by_key(|d| (d.group, d.plural));
    let server = ApiServer::new(store.clone(), defs, &args.storage_prefix, VersionInfo::default())
        .await
        .map_err(|e| anyhow::anyhow!("starting the API server: {e}"))?;

    let mut chain = auth::AuthenticatorChain::new();
    chain.push(Arc::new(auth::X509Authenticator));
    if let Some(path) = &args.token_auth_file {
        chain.push(Arc::new(
            auth::TokenFileAuthenticator::load(path)
                .with_context(|| format!("loading the token file {}", path.display()))?,
        ));
    }
    // Business clusters are reached through `clusters/{name}/proxy` and the unified proxy
    // (header X-TKE-ClusterName), both after authentication so they act as the caller.
    let cluster_proxy = crate::cluster_proxy::ClusterProxy::new(server.clone());
    cluster_proxy.register().map_err(|e| anyhow::anyhow!("serving clusters/proxy: {e}"))?;
    crate::cluster_proxy::CustomResourceShortcut::register_all(&cluster_proxy)
        .map_err(|e| anyhow::anyhow!("serving the custom resource shortcuts: {e}"))?;
    crate::cluster_actions::register(&server).map_err(|e| anyhow::anyhow!("serving the cluster actions: {e}"))?;
    let routes =
        server.router().layer(axum::middleware::from_fn_with_state(cluster_proxy, crate::cluster_proxy::unified));
    let api = auth::authenticate(routes, Arc::new(chain), Arc::new(auth::AllowAuthenticated));
    let (app, _registry_api) = if args.registry {
        // The registry authenticates with Docker's token flow, not the API's credentials.
        let (routes, running) = registry_router(&args, &data_dir, &server).await?;
        (routes.fallback_service(api), Some(running))
    } else {
        (api, None)
    };

    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let url = format!(
        "https://{}",
        if addr.ip().is_unspecified() { format!("127.0.0.1:{}", addr.port()) } else { addr.to_string() }
    );
    let kubeconfig = data_dir.join("admin.kubeconfig");
    tls::write_kubeconfig(&kubeconfig, &url, &pki.ca_cert_pem, &pki.admin_cert_pem, &pki.admin_key_pem)
        .context("writing the admin kubeconfig")?;

    // The controllers reach the API through the listener, as separate processes would.
    let (stop_controllers, controllers_stopped) = tokio::sync::oneshot::channel::<()>();
    let platform = crate::controllers::platform_client(&kubeconfig).await?;
    let addon_opts = addons::Options {
        registry: args.addon_registry.clone(),
        timings: addons::lifecycle::Timings {
            health_period: Duration::from_secs(args.addon_health_period_seconds.max(1)),
            check_interval: Duration::from_secs(args.addon_check_interval_seconds.max(1)),
            retry_delay: Duration::from_secs(args.addon_retry_delay_seconds.max(1)),
            ..Default::default()
        },
        ..Default::default()
    };
    let clusters: Arc<dyn addons::ClusterClients> =
        Arc::new(crate::controllers::InProcessClusters { server: server.clone() });
    let addon_controllers = if args.leader_elect {
        // Replicas on one etcd install add-ons from one of them only: the holder of its Lease.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let _ = controllers_stopped.await;
            let _ = stop_tx.send(true);
        });
        let lease = platform::LeaderOptions { name: "tke-addon-controller".into(), ..Default::default() };
        tokio::spawn(platform::leader::run_while_leading(
            platform.clone(),
            lease,
            stop_rx,
            |_| {},
            move |mut lost| {
                addons::run(platform.clone(), clusters.clone(), addon_opts.clone(), async move {
                    let _ = lost.wait_for(|l| *l).await;
                })
            },
        ))
    } else {
        tokio::spawn(addons::run(platform, clusters, addon_opts, async move {
            let _ = controllers_stopped.await;
        }))
    };

    let (stop_platform, platform_stopped) = tokio::sync::watch::channel(false);
    let platform_controllers = if args.platform_controllers {
        let period = Duration::from_secs(args.cluster_health_period_seconds.max(1));
        let opts = platform::ControllerOptions {
            health: platform::HealthOptions {
                period,
                jitter: period / 4,
                probes: args.cluster_health_probes.max(1),
                failure_threshold: args.cluster_health_failure_threshold.max(1),
                success_threshold: args.cluster_health_success_threshold.max(1),
                ..Default::default()
            },
            leader_election: args.leader_elect.then(platform::LeaderOptions::default),
            ..Default::default()
        };
        let client = crate::controllers::platform_client(&kubeconfig).await?;
        let mut stopped = platform_stopped;
        let baremetal = baremetal_provider(&args, &data_dir)?;
        let controllers = platform::Controllers::new(client, opts)
            .with_machine_provider(Arc::new(baremetal.machine_provider()))
            .with_provider(Arc::new(baremetal));
        Some(tokio::spawn(controllers.run(async move {
            let _ = stopped.wait_for(|v| *v).await;
        })))
    } else {
        None
    };

    // Kept alive until the server stops.
    let demo = if args.demo { Some(crate::demo::start(&server, &data_dir).await?) } else { None };

    println!("tke-rs is up at {url} (storage: {:?})", args.storage);
    println!("  export KUBECONFIG={}", kubeconfig.display());
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
    if args.registry {
        println!(
            "  registry: skopeo login --cert-dir {} -u admin --password-stdin {} < {}",
            data_dir.join("registry-ca").display(),
            url.trim_start_matches("https://"),
            data_dir.join("registry-admin-password").display()
        );
    }
    tracing::info!(%url, data_dir = %data_dir.display(), "serving");

    let shutdown = shutdown_signal();
    let server_for_shutdown = server.clone();
    let shutdown = async move {
        shutdown.await;
        tracing::info!("shutting down");
        server_for_shutdown.set_ready(false);
    };
    tls::serve(listener, server_tls, app, shutdown).await.context("serving HTTPS")?;
    let _ = stop_controllers.send(());
    let _ = stop_platform.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), addon_controllers).await;
    if let Some(p) = platform_controllers {
        let _ = tokio::time::timeout(Duration::from_secs(10), p).await;
    }
    if let Some(sim) = demo {
        sim.stop().await;
    }
    println!("tke-rs stopped");
    Ok(())
}

/// The image registry on the filesystem, with token auth for an `admin` whose password is
/// generated on first start into DATA_DIR/registry-admin-password (only its hash is kept in memory)
/// and a token signing key kept in DATA_DIR/pki so issued tokens survive restarts.
async fn registry_router(
    args: &UpArgs,
    data_dir: &std::path::Path,
    server: &Arc<ApiServer>,
) -> anyhow::Result<(axum::Router, crate::registry_api::RegistryApi)> {
    let root = args.registry_dir.clone().unwrap_or_else(|| data_dir.join("registry"));
    let password = read_or_create_secret(&data_dir.join("registry-admin-password"), || {
        use rand::Rng;
        const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        let mut rng = rand::rng();
        (0..24).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())]).collect()
    })?;
    let password = String::from_utf8(password).context("the registry admin password file is not UTF-8")?;
    let hash = registry::auth::hash_password(password.trim()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut auth = registry::AuthConfig::with_admin("admin", &hash, args.registry_public.clone())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    auth.signing_key = read_or_create_secret(&data_dir.join("pki").join("registry-token.key"), || {
        use rand::Rng;
        let mut key = vec![0u8; 32];
        rand::rng().fill(&mut key[..]);
        key
    })?;
    // Container tools trust a registry through a directory holding only its CA (`--cert-dir`).
    let ca_dir = data_dir.join("registry-ca");
    std::fs::create_dir_all(&ca_dir).with_context(|| format!("creating {}", ca_dir.display()))?;
    std::fs::copy(data_dir.join("pki").join("ca.crt"), ca_dir.join("ca.crt"))
        .context("copying the CA for container tools")?;
    let mut config = registry::Config::new(root.clone());
    config.auth = Some(auth);
    let mut tenancy = registry::Tenancy::new(args.registry_domain.clone());
    tenancy.shared_namespaces.extend(args.registry_public.iter().cloned());
    let running = crate::registry_api::install(server, config, tenancy)
        .await
        .with_context(|| format!("opening the registry in {}", root.display()))?;
    Ok((running.registry.router(), running))
}

/// Reads a secret file, creating it (mode 0600) with `make()` on first start.
fn read_or_create_secret(path: &std::path::Path, make: impl FnOnce() -> Vec<u8>) -> anyhow::Result<Vec<u8>> {
    if let Ok(existing) = std::fs::read(path) {
        if !existing.is_empty() {
            return Ok(existing);
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let secret = make();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).with_context(|| format!("creating {}", path.display()))?;
    std::io::Write::write_all(&mut f, &secret).with_context(|| format!("writing {}", path.display()))?;
    f.sync_all()?;
    Ok(secret)
}

/// Resolves on Ctrl-C or SIGTERM (what Kubernetes sends a pod it stops).
pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return drop(ctrl_c.await),
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// The Baremetal cluster and machine provider: bundle, install prefix, and SSH host keys trusted
/// on first use and remembered in DATA_DIR/known_hosts.
fn baremetal_provider(args: &UpArgs, data_dir: &Path) -> anyhow::Result<provision::baremetal::Baremetal> {
    let bundle = args.baremetal_bundle_dir.clone().unwrap_or_else(|| data_dir.join("bundle"));
    let mut o = provision::baremetal::BaremetalOptions::new(bundle);
    let known_hosts = data_dir.join("known_hosts");
    let hosts = provision::KnownHosts::open(&known_hosts)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", known_hosts.display()))?;
    o.ssh.host_keys = provision::HostKeyPolicy::TrustOnFirstUse(Arc::new(hosts));
    o.install.root = args.baremetal_install_root.clone();
    o.install.manage_system = args.baremetal_manage_system;
    Ok(provision::baremetal::Baremetal::new(o))
}
