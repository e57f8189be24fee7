//! What every `tke` server process shares, whichever components it runs: the store, the
//! certificates, authentication, the HTTPS listener, and a shutdown that stops the controllers
//! (releasing their Leases) before the server they talk to.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::{Context, bail};
use apiserver::{ApiServer, Component, VersionInfo, auth, tls};
use storage::Store;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StorageKind {
    /// The embedded, crash-safe store in the data directory: no other process needed.
    Embedded,
    /// An etcd v3 cluster (`--etcd-servers`), for highly available installations.
    Etcd,
}

/// Flags of every server process.
#[derive(clap::Args, Debug)]
pub struct ServerArgs {
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
    /// CA of front proxies that authenticate users themselves and name them in request headers
    /// (kube-apiserver's flag); their certificates are accepted only as front proxies'.
    #[arg(long, env = "TKE_REQUESTHEADER_CLIENT_CA_FILE")]
    pub requestheader_client_ca_file: Option<PathBuf>,
    /// Common names a front proxy's certificate may have (any, when empty).
    #[arg(long, env = "TKE_REQUESTHEADER_ALLOWED_NAMES", value_delimiter = ',')]
    pub requestheader_allowed_names: Vec<String>,
    /// Headers naming the user, first non-empty wins (default X-Remote-User).
    #[arg(long, env = "TKE_REQUESTHEADER_USERNAME_HEADERS", value_delimiter = ',')]
    pub requestheader_username_headers: Vec<String>,
    /// Headers naming the user's groups (default X-Remote-Group).
    #[arg(long, env = "TKE_REQUESTHEADER_GROUP_HEADERS", value_delimiter = ',')]
    pub requestheader_group_headers: Vec<String>,
    /// Prefixes of headers carrying the user's extra attributes (default X-Remote-Extra-).
    #[arg(long, env = "TKE_REQUESTHEADER_EXTRA_HEADERS_PREFIX", value_delimiter = ',')]
    pub requestheader_extra_headers_prefix: Vec<String>,
    /// Kubeconfig of an external authenticator that bearer tokens nothing else recognises are
    /// sent to as TokenReviews (kube-apiserver's flag), e.g. another platform's `/auth/authn`.
    #[arg(long, env = "TKE_AUTHENTICATION_TOKEN_WEBHOOK_CONFIG_FILE")]
    pub authentication_token_webhook_config_file: Option<PathBuf>,
    /// How long the token webhook's answers are reused (seconds).
    #[arg(long, env = "TKE_AUTHENTICATION_TOKEN_WEBHOOK_CACHE_TTL_SECONDS", default_value_t = 120)]
    pub authentication_token_webhook_cache_ttl_seconds: u64,
    /// Extra host names or IPs for the generated serving certificate (comma separated).
    #[arg(long, env = "TKE_EXTERNAL_HOSTNAMES", value_delimiter = ',')]
    pub external_hostname: Vec<String>,
    /// The URL other replicas reach this one at (`https://host:port`), for the components whose
    /// data each replica keeps (audit events, embedded metrics); defaults to `https://` and
    /// `--listen` when that names an address (not 0.0.0.0 or ::). Its host is added to the
    /// generated serving certificate.
    #[arg(long, env = "TKE_ADVERTISE_ADDRESS")]
    pub advertise_address: Option<String>,
    /// Elect one leader among replicas (Leases in namespace `tke`) before running its controllers.
    #[arg(long, env = "TKE_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// How often history older than one interval is compacted away (seconds).
    #[arg(long, env = "TKE_COMPACTION_INTERVAL_SECONDS", default_value_t = 300)]
    pub compaction_interval_seconds: u64,
}

/// The host of `--advertise-address`, checked.
fn advertise_host(args: &ServerArgs) -> anyhow::Result<Option<String>> {
    let Some(a) = &args.advertise_address else { return Ok(None) };
    let host = a
        .strip_prefix("https://")
        .map(|rest| rest.trim_end_matches('/'))
        .filter(|rest| !rest.is_empty() && !rest.contains(['/', '?', '#', '@']))
        .with_context(|| format!("--advertise-address {a:?} must be https://host[:port]"))?;
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host),
    };
    Ok(Some(host.to_string()))
}

async fn open_store(args: &ServerArgs) -> anyhow::Result<Arc<dyn Store>> {
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

/// A server process being started: its API server with the components' resources and routes.
pub struct Server {
    pub api: Arc<ApiServer>,
    pub data_dir: PathBuf,
    /// The admin kubeconfig the process's own controllers use.
    pub kubeconfig: PathBuf,
    /// `https://host:port`.
    pub url: String,
    pub storage: StorageKind,
    app: axum::Router,
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
}

impl Server {
    /// Opens the store, prepares certificates and serves the components' resources (and the
    /// Leases every controller elects its leader with), with their subresources and routes.
    pub async fn start(args: &ServerArgs, components: &[&dyn Component]) -> anyhow::Result<Server> {
        std::fs::create_dir_all(&args.data_dir)
            .with_context(|| format!("creating the data directory {}", args.data_dir.display()))?;
        let data_dir = args.data_dir.canonicalize().unwrap_or(args.data_dir.clone());
        let store = open_store(args).await?;
        storage::spawn_compactor(store.clone(), Duration::from_secs(args.compaction_interval_seconds.max(1)));

        let mut hosts = args.external_hostname.clone();
        if !args.listen.ip().is_unspecified() {
            hosts.push(args.listen.ip().to_string());
        }
        let advertised = advertise_host(args)?;
        if let Some(host) = &advertised {
            hosts.push(host.clone());
        }
        let pki = tls::ensure_pki(&data_dir, &hosts).context("preparing certificates")?;
        let tls_options = tls::TlsOptions {
            cert_file: args.tls_cert_file.clone(),
            key_file: args.tls_private_key_file.clone(),
            client_ca_file: args.client_ca_file.clone(),
            requestheader_client_ca_file: args.requestheader_client_ca_file.clone(),
        };
        let server_tls = tls::server_config(&pki, &tls_options).context("building the TLS configuration")?;

        let mut defs = api::coordination::resources();
        for c in components {
            defs.extend(c.resources());
        }
        defs.sort_by_key(|d| (d.group, d.plural));
        let api = ApiServer::new(store.clone(), defs, &args.storage_prefix, VersionInfo::default())
            .await
            .map_err(|e| anyhow::anyhow!("starting the API server: {e}"))?;

        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let addr = listener.local_addr()?;
        let url = format!(
            "https://{}",
            if addr.ip().is_unspecified() { format!("127.0.0.1:{}", addr.port()) } else { addr.to_string() }
        );
        let serving_ca_pem = args.tls_cert_file.is_none().then(|| pki.ca_cert_pem.clone());
        // What others reach this replica at: the flag, or the listener when it names an address
        // (its port as bound, for `:0`).
        let advertise = match (&args.advertise_address, args.listen.ip().is_unspecified()) {
            (Some(a), _) => a.trim_end_matches('/').to_string(),
            (None, false) => url.clone(),
            (None, true) => {
                tracing::warn!(
                    "no --advertise-address and --listen {} names no address: the other replicas cannot reach this one",
                    args.listen
                );
                String::new()
            }
        };
        let id = apiserver::peers::replica_id(&data_dir).context("the replica's id")?;
        let peers = apiserver::peers::Peers::start(
            store.clone(),
            &args.storage_prefix,
            id,
            advertise,
            serving_ca_pem.clone(),
            components.iter().map(|c| c.name().to_string()).collect(),
        )
        .await
        .context("registering this replica")?;
        let mount_context = apiserver::component::MountContext {
            url: url.clone(),
            data_dir: data_dir.clone(),
            serving_ca_pem,
            peers: Some(peers),
        };
        let mut routes = api.router();
        let mut fronts = vec![];
        let mut mounted_authenticators = vec![];
        let mut authorizer: Option<(&str, Arc<dyn auth::Authorizer>)> = None;
        let mut auditor: Option<(&str, Arc<dyn apiserver::audit::Auditor>)> = None;
        for c in components {
            let mount = c
                .mount(&api, &mount_context)
                .await
                .map_err(|e| anyhow::anyhow!("starting the {} component: {e}", c.name()))?;
            if let Some(around) = mount.around_api {
                routes = around(routes);
            }
            fronts.extend(mount.front);
            mounted_authenticators.extend(mount.authenticators);
            if let Some(a) = mount.authorizer {
                if let Some((first, _)) = authorizer {
                    bail!("both the {first} and the {} components authorize requests; one must", c.name());
                }
                authorizer = Some((c.name(), a));
            }
            if let Some(a) = mount.auditor {
                if let Some((first, _)) = auditor {
                    bail!("both the {first} and the {} components audit requests; one must", c.name());
                }
                auditor = Some((c.name(), a));
            }
        }
        // kube-apiserver's order: front proxies, client certificates, static tokens, then the
        // components'.
        let mut chain = auth::AuthenticatorChain::new();
        let mut x509 = auth::X509Authenticator::new();
        if let Some(path) = &args.requestheader_client_ca_file {
            let ca = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            chain.push(Arc::new(
                auth::RequestHeaderAuthenticator::new(
                    &ca,
                    args.requestheader_allowed_names.clone(),
                    args.requestheader_username_headers.clone(),
                    args.requestheader_group_headers.clone(),
                    args.requestheader_extra_headers_prefix.clone(),
                )
                .with_context(|| format!("the front proxy CA {}", path.display()))?,
            ));
            // Only certificates of the client CAs name users themselves.
            let mut cas = vec![("the generated CA".to_string(), pki.ca_cert_pem.clone().into_bytes())];
            if let Some(p) = &args.client_ca_file {
                cas.push((
                    p.display().to_string(),
                    std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
                ));
            }
            let refs: Vec<(&str, &[u8])> = cas.iter().map(|(w, p)| (w.as_str(), p.as_slice())).collect();
            x509.client_cas = Some(tls::client_verifier(&refs).context("the client CAs")?);
        }
        chain.push(Arc::new(x509));
        if let Some(path) = &args.token_auth_file {
            chain.push(Arc::new(
                auth::TokenFileAuthenticator::load(path)
                    .with_context(|| format!("loading the token file {}", path.display()))?,
            ));
        }
        for a in mounted_authenticators {
            chain.push(a);
        }
        if let Some(path) = &args.authentication_token_webhook_config_file {
            let client = apiserver::webhook::WebhookClient::from_kubeconfig(path, Duration::from_secs(10))
                .context("the token webhook's kubeconfig")?;
            chain.push(Arc::new(apiserver::webhook::TokenReviewAuthenticator::with_ttl(
                client,
                Duration::from_secs(args.authentication_token_webhook_cache_ttl_seconds),
            )));
        }
        let authorizer = authorizer.map(|(_, a)| a).unwrap_or_else(|| Arc::new(auth::AllowAuthenticated));
        let mut app = auth::authenticate_audited(routes, Arc::new(chain), authorizer, auditor.map(|(_, a)| a));
        for front in fronts {
            app = front.fallback_service(app);
        }

        let kubeconfig = data_dir.join("admin.kubeconfig");
        tls::write_kubeconfig(&kubeconfig, &url, &pki.ca_cert_pem, &pki.admin_cert_pem, &pki.admin_key_pem)
            .context("writing the admin kubeconfig")?;
        Ok(Server { api, data_dir, kubeconfig, url, storage: args.storage, app, listener, tls: server_tls })
    }

    /// Serves until Ctrl-C or SIGTERM; then reports not ready, stops `controllers` while the
    /// server still answers, and stops serving.
    pub async fn serve(self, controllers: crate::controllers::Running) -> anyhow::Result<()> {
        tracing::info!(url = %self.url, data_dir = %self.data_dir.display(), "serving");
        let api = self.api.clone();
        let shutdown = async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            api.set_ready(false);
            // Controllers first: they release their Leases through this server, so another
            // replica leads at once instead of when the Leases expire.
            controllers.stop().await;
        };
        tls::serve(self.listener, self.tls, self.app, shutdown).await.context("serving HTTPS")
    }
}

pub use apiserver::component::read_or_create_secret;

/// Resolves on Ctrl-C or SIGTERM (what Kubernetes sends a pod it stops).
pub async fn shutdown_signal() {
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
