//! A whole simulated cluster in-process: a store, an API server with [`crate::resources`] behind
//! TLS and authentication (wired as `tke up` does: generated CA, serving and admin certificates,
//! an admin kubeconfig, and a static admin bearer token), and the [`Simulator`] driving it
//! through its HTTPS endpoint. Everything runs as tasks on the caller's runtime, so many
//! clusters fit in one process; dropping the cluster (or [`SimCluster::stop`]) ends them.
//!
//! Given webhook kubeconfigs ([`SimOptions::authn_webhook`], [`SimOptions::authz_webhook`]) the
//! cluster asks another server about what it does not know itself, as a kube-apiserver started
//! with `--authentication-token-webhook-config-file`, `--authorization-webhook-config-file` and
//! `--authorization-mode=Node,RBAC,Webhook` does (a business cluster asking the platform).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::Context as _;
use apiserver::{ApiServer, VersionInfo, auth, tls, webhook};
use storage::Store;
use tokio::task::JoinHandle;

use crate::sim::{SimConfig, Simulator};

/// How to start a simulated cluster.
#[derive(Clone)]
pub struct SimOptions {
    /// The simulator's behaviour (nodes, versions, heartbeat periods).
    pub config: SimConfig,
    /// Directory for the store, certificates, token file and kubeconfig; a temporary directory
    /// removed with the cluster when `None`.
    pub data_dir: Option<PathBuf>,
    /// A store to serve from instead of an embedded one in the data directory; several clusters
    /// may share one store (an etcd, say), each under its own `key_root`.
    pub store: Option<Arc<dyn Store>>,
    /// The key prefix of the cluster's objects in the store.
    pub key_root: String,
    /// The HTTPS listener (port 0 picks a free port).
    pub listen: SocketAddr,
    /// How often store history is compacted.
    pub compaction_interval: Duration,
    /// Authorize requests by the cluster's RBAC objects ([`crate::rbac`]) instead of letting
    /// every authenticated user do anything.
    pub rbac: bool,
    /// A kubeconfig naming a TokenReview webhook (`--authentication-token-webhook-config-file`):
    /// bearer tokens the cluster does not know are sent there.
    pub authn_webhook: Option<PathBuf>,
    /// A kubeconfig naming a SubjectAccessReview webhook (`--authorization-webhook-config-file`):
    /// what RBAC (when on) does not allow is asked there; administrators (`system:masters`)
    /// are never asked about.
    pub authz_webhook: Option<PathBuf>,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            config: SimConfig::default(),
            data_dir: None,
            store: None,
            key_root: "/registry".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            compaction_interval: Duration::from_secs(300),
            rbac: false,
            authn_webhook: None,
            authz_webhook: None,
        }
    }
}

/// A running simulated cluster.
pub struct SimCluster {
    pub(crate) url: String,
    pub(crate) data_dir: PathBuf,
    pub(crate) _temp: Option<tempfile::TempDir>,
    pub(crate) kubeconfig: PathBuf,
    pub(crate) ca_pem: Arc<str>,
    pub(crate) admin_cert_pem: Arc<str>,
    pub(crate) admin_key_pem: Arc<str>,
    pub(crate) token: String,
    pub(crate) client: kube::Client,
    pub(crate) server: Arc<ApiServer>,
    pub(crate) simulator: Option<Simulator>,
    pub(crate) shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    pub(crate) tasks: Vec<JoinHandle<()>>,
}

/// The user the admin token authenticates as.
pub const ADMIN_TOKEN_USER: &str = "kubesim-admin";

pub(crate) fn random_token() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..40).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// The token file line of the admin token, in the `system:masters` group.
pub(crate) fn token_line(token: &str) -> String {
    format!("{token},{ADMIN_TOKEN_USER},{ADMIN_TOKEN_USER},\"{}\"\n", apiserver::resource::ADMIN_GROUP)
}

/// How long one webhook call may take.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// The server's router behind authentication (client certificates, the admin token, then the
/// token webhook if any) and authorization (RBAC when `rbac`, then the SAR webhook if any; with
/// neither, any authenticated user may do anything).
pub(crate) fn authenticated(
    server: &Arc<ApiServer>,
    tokens: auth::TokenFileAuthenticator,
    rbac: bool,
    authn_webhook: Option<&Path>,
    authz_webhook: Option<&Path>,
) -> anyhow::Result<axum::Router> {
    let mut chain = auth::AuthenticatorChain::new();
    chain.push(Arc::new(auth::X509Authenticator::new()));
    chain.push(Arc::new(tokens));
    if let Some(path) = authn_webhook {
        let client = webhook::WebhookClient::from_kubeconfig(path, WEBHOOK_TIMEOUT)
            .context("reading the token webhook's kubeconfig")?;
        chain.push(Arc::new(webhook::TokenReviewAuthenticator::new(client)));
    }
    let authorizer: Arc<dyn auth::Authorizer> = match (rbac, authz_webhook) {
        (false, None) => Arc::new(auth::AllowAuthenticated),
        (true, None) => Arc::new(crate::rbac::RbacAuthorizer::new(server.clone())),
        (rbac, Some(path)) => {
            let client = webhook::WebhookClient::from_kubeconfig(path, WEBHOOK_TIMEOUT)
                .context("reading the authorization webhook's kubeconfig")?;
            Arc::new(RbacThenWebhook {
                rbac: rbac.then(|| crate::rbac::RbacAuthorizer::new(server.clone())),
                webhook: webhook::SubjectAccessReviewAuthorizer::new(client),
            })
        }
    };
    // The metrics API and `/metrics` (kube-state-metrics and cAdvisor names) beside the API.
    let routes = crate::metrics::routes(server).merge(server.router());
    Ok(auth::authenticate(routes, Arc::new(chain), authorizer))
}

/// `--authorization-mode=RBAC,Webhook`: administrators may do anything (kube-apiserver's
/// privileged group); otherwise RBAC's grant allows, and what RBAC does not grant (it has no
/// opinion then: RBAC never denies) is decided by the webhook.
struct RbacThenWebhook {
    rbac: Option<crate::rbac::RbacAuthorizer>,
    webhook: webhook::SubjectAccessReviewAuthorizer,
}

#[async_trait::async_trait]
impl auth::Authorizer for RbacThenWebhook {
    async fn authorize(&self, a: &auth::Attributes) -> auth::Decision {
        if a.user.is_admin() {
            return auth::Decision::Allow;
        }
        if let Some(rbac) = &self.rbac
            && rbac.authorize(a).await == auth::Decision::Allow
        {
            return auth::Decision::Allow;
        }
        self.webhook.authorize(a).await
    }
}

/// Writes (mode 0600) the static token file: the admin token in the `system:masters` group.
fn write_token_file(path: &Path, token: &str) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path)?;
    std::io::Write::write_all(&mut f, token_line(token).as_bytes())
}

impl SimCluster {
    /// Starts the cluster and returns once its nodes are registered and Ready.
    pub async fn start(opts: SimOptions) -> anyhow::Result<SimCluster> {
        let (temp, data_dir) = match &opts.data_dir {
            Some(d) => (None, d.clone()),
            None => {
                let t =
                    tempfile::Builder::new().prefix("kubesim-").tempdir().context("creating a temporary directory")?;
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        std::fs::create_dir_all(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
        let store: Arc<dyn Store> = match &opts.store {
            Some(s) => s.clone(),
            None => {
                let dir = data_dir.join("store");
                std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
                Arc::new(
                    storage::embedded::EmbeddedStore::open(&dir)
                        .with_context(|| format!("opening the embedded store in {}", dir.display()))?,
                )
            }
        };

        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .with_context(|| format!("listening on {}", opts.listen))?;
        let addr = listener.local_addr()?;
        let host = if addr.ip().is_unspecified() { "127.0.0.1".to_string() } else { addr.ip().to_string() };
        let url = format!("https://{host}:{}", addr.port());
        let pki = tls::ensure_pki(&data_dir, std::slice::from_ref(&host)).context("preparing certificates")?;
        let server_tls = tls::server_config(
            &pki,
            &tls::TlsOptions { cert_file: None, key_file: None, client_ca_file: None, ..Default::default() },
        )
        .context("building the TLS configuration")?;

        let version = VersionInfo { git_version: opts.config.kubelet_version.clone(), git_commit: String::new() };
        let server = ApiServer::new(store.clone(), crate::resources(), &opts.key_root, version)
            .await
            .map_err(|e| anyhow::anyhow!("starting the API server: {e}"))?;
        crate::eviction::register(&server).map_err(|e| anyhow::anyhow!("serving pods/eviction: {e}"))?;
        crate::logs::register(&server).map_err(|e| anyhow::anyhow!("serving pods/log: {e}"))?;
        crate::exec::register(&server).map_err(|e| anyhow::anyhow!("serving pods/exec and pods/attach: {e}"))?;
        crate::scale::register_workloads(&server).map_err(|e| anyhow::anyhow!("serving the scale subresource: {e}"))?;
        crate::metrics::register(&server).map_err(|e| anyhow::anyhow!("serving nodes/proxy: {e}"))?;

        let token = random_token();
        let token_file = data_dir.join("tokens.csv");
        write_token_file(&token_file, &token).with_context(|| format!("writing {}", token_file.display()))?;
        let tokens = auth::TokenFileAuthenticator::load(&token_file).context("loading the token file")?;
        let app =
            authenticated(&server, tokens, opts.rbac, opts.authn_webhook.as_deref(), opts.authz_webhook.as_deref())?;

        let kubeconfig = data_dir.join("admin.kubeconfig");
        tls::write_kubeconfig(&kubeconfig, &url, &pki.ca_cert_pem, &pki.admin_cert_pem, &pki.admin_key_pem)
            .context("writing the admin kubeconfig")?;

        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let mut tasks = vec![];
        tasks.push(tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop_rx.await;
            };
            if let Err(e) = tls::serve(listener, server_tls, app, shutdown).await {
                tracing::warn!(error = %e, "the simulated cluster's server failed");
            }
        }));
        tasks.push(tokio::spawn(compact(store.clone(), opts.compaction_interval)));

        let client = client_from_kubeconfig(&kubeconfig).await?;
        tasks.push(tokio::spawn(crate::crds::run(client.clone(), server.clone())));
        let mut config = opts.config.clone();
        config.ca_pem.get_or_insert_with(|| pki.ca_cert_pem.clone());
        let mut cluster = SimCluster {
            url,
            data_dir,
            _temp: temp,
            kubeconfig,
            ca_pem: pki.ca_cert_pem.as_str().into(),
            admin_cert_pem: pki.admin_cert_pem.as_str().into(),
            admin_key_pem: pki.admin_key_pem.as_str().into(),
            token,
            client: client.clone(),
            server,
            simulator: None,
            shutdown: Some(stop_tx),
            tasks,
        };
        cluster.simulator =
            Some(Simulator::start(client, config).await.map_err(|e| anyhow::anyhow!("starting the simulator: {e}"))?);
        Ok(cluster)
    }

    /// `https://127.0.0.1:PORT`
    pub fn url(&self) -> &str {
        &self.url
    }
    /// An admin kubeconfig (client certificate in `system:masters`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
    /// The CA that signed the serving certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }
    /// A bearer token of an administrator (`system:masters`).
    pub fn admin_token(&self) -> &str {
        &self.token
    }
    /// The administrator's client certificate and key (PEM).
    pub fn admin_cert_pem(&self) -> &str {
        &self.admin_cert_pem
    }
    pub fn admin_key_pem(&self) -> &str {
        &self.admin_key_pem
    }
    /// A kube-rs client with the admin kubeconfig.
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }
    /// The API server itself, for in-process inspection (metrics).
    pub fn server(&self) -> &Arc<ApiServer> {
        &self.server
    }

    /// Stops the simulator and the server, letting in-flight requests finish.
    pub async fn stop(mut self) {
        self.simulator = None;
        self.server.set_ready(false);
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(serve) = self.tasks.first_mut() {
            let _ = tokio::time::timeout(Duration::from_secs(5), serve).await;
        }
    }
}

impl Drop for SimCluster {
    fn drop(&mut self) {
        self.simulator = None;
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // Aborting the server task ends its connections too (they live in its JoinSet).
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// A kube-rs client from a kubeconfig file.
pub async fn client_from_kubeconfig(path: &Path) -> anyhow::Result<kube::Client> {
    let kc = kube::config::Kubeconfig::read_from(path).with_context(|| format!("reading {}", path.display()))?;
    let config = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .context("loading the kubeconfig")?;
    kube::Client::try_from(config).context("building the client")
}

/// Compacts history older than one interval, every interval (as `tke up`'s compactor, but
/// ending with the cluster).
pub(crate) async fn compact(store: Arc<dyn Store>, interval: Duration) {
    let mut tick = tokio::time::interval(interval.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut previous = None;
    loop {
        tick.tick().await;
        if let Some(rev) = previous
            && let Err(e) = store.compact(rev).await
        {
            tracing::debug!(error = %e, "compaction failed");
        }
        previous = store.revisions().await.ok().map(|(current, _)| current);
    }
}
