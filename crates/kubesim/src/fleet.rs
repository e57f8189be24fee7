//! Many simulated clusters in one process, each as cheap as it can be while still being a real
//! cluster to whoever imports it (its own HTTPS listener, its own admin token, its own objects):
//! what does not differ between clusters is made once and shared. One in-memory store holds every
//! cluster under its own key root ([`MemStore`] hands each write only to the watches of its
//! prefix); one CA, serving certificate and TLS configuration serve every listener; the OpenAPI
//! documents are built once (`apiserver::openapi::build_shared`); one compactor compacts the
//! store. Each cluster's simulator reaches its API server in-process, through the same router,
//! authentication and handlers as an HTTPS client but without a socket and TLS session per watch,
//! so an idle cluster costs no connections of its own.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::Context as _;
use apiserver::{ApiServer, VersionInfo, auth, tls};
use axum::http::{HeaderValue, Request, header};
use storage::Store;
use tokio::task::JoinHandle;

use crate::{
    cluster::{SimCluster, authenticated, compact, random_token, token_line},
    memstore::MemStore,
    sim::{SimConfig, Simulator},
};

/// How to start a fleet.
#[derive(Clone)]
pub struct FleetOptions {
    /// Every cluster's simulator behaviour (nodes, versions, heartbeat periods).
    pub config: SimConfig,
    /// Directory for the shared certificates and the clusters' kubeconfigs; a temporary directory
    /// removed with the fleet when `None`.
    pub data_dir: Option<PathBuf>,
    /// The store of every cluster; an in-memory [`MemStore`] when `None`.
    pub store: Option<Arc<dyn Store>>,
    /// The address the clusters listen on (each on a port of its own).
    pub host: std::net::IpAddr,
    /// How often store history is compacted.
    pub compaction_interval: Duration,
}

impl Default for FleetOptions {
    fn default() -> Self {
        Self {
            config: SimConfig::default(),
            data_dir: None,
            store: None,
            host: std::net::Ipv4Addr::LOCALHOST.into(),
            compaction_interval: Duration::from_secs(300),
        }
    }
}

/// What the clusters of a fleet share. Clusters stay up while their [`SimCluster`] lives, also
/// after the fleet is dropped (they hold what they need).
pub struct SimFleet {
    opts: FleetOptions,
    store: Arc<dyn Store>,
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    pki: Arc<tls::Pki>,
    server_tls: Arc<rustls::ServerConfig>,
    compactor: JoinHandle<()>,
}

impl Drop for SimFleet {
    fn drop(&mut self) {
        self.compactor.abort();
    }
}

impl SimFleet {
    /// Prepares the shared store, certificates and TLS configuration.
    pub async fn new(opts: FleetOptions) -> anyhow::Result<SimFleet> {
        let (temp, dir) = match &opts.data_dir {
            Some(d) => (None, d.clone()),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("kubesim-fleet-")
                    .tempdir()
                    .context("creating a temporary directory")?;
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let store: Arc<dyn Store> = match &opts.store {
            Some(s) => s.clone(),
            None => Arc::new(MemStore::new()),
        };
        let host = opts.host.to_string();
        let pki = tls::ensure_pki(&dir, std::slice::from_ref(&host)).context("preparing certificates")?;
        let server_tls = tls::server_config(
            &pki,
            &tls::TlsOptions { cert_file: None, key_file: None, client_ca_file: None, ..Default::default() },
        )
        .context("building the TLS configuration")?;
        let compactor = tokio::spawn(compact(store.clone(), opts.compaction_interval));
        Ok(SimFleet { opts, store, dir, _temp: temp, pki: Arc::new(pki), server_tls, compactor })
    }

    /// The store every cluster of the fleet lives in.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The directory of the shared certificates and the kubeconfigs.
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// Starts cluster `name` (its objects under `/<name>` in the store, its own port and admin
    /// token) and returns once its nodes are Ready. Names are DNS labels; starting a name again
    /// (after the first one stopped) finds that cluster's objects again.
    pub async fn start(&self, name: &str) -> anyhow::Result<SimCluster> {
        if !apimachinery::validation::is_dns1123_label(name) {
            anyhow::bail!("a simulated cluster's name is lowercase letters, digits and '-': {name:?}");
        }
        let listener = tokio::net::TcpListener::bind((self.opts.host, 0))
            .await
            .with_context(|| format!("listening on {}", self.opts.host))?;
        let addr = listener.local_addr()?;
        let url = format!("https://{}", addr);

        let version = VersionInfo { git_version: self.opts.config.kubelet_version.clone(), git_commit: String::new() };
        let server = ApiServer::new(self.store.clone(), crate::resources(), &format!("/{name}"), version)
            .await
            .map_err(|e| anyhow::anyhow!("starting the API server of {name}: {e}"))?;
        crate::eviction::register(&server).map_err(|e| anyhow::anyhow!("serving pods/eviction: {e}"))?;
        crate::logs::register(&server).map_err(|e| anyhow::anyhow!("serving pods/log: {e}"))?;
        crate::exec::register(&server).map_err(|e| anyhow::anyhow!("serving pods/exec and pods/attach: {e}"))?;
        crate::scale::register_workloads(&server).map_err(|e| anyhow::anyhow!("serving the scale subresource: {e}"))?;
        crate::metrics::register(&server).map_err(|e| anyhow::anyhow!("serving nodes/proxy: {e}"))?;

        let token = random_token();
        let tokens = auth::TokenFileAuthenticator::parse(&token_line(&token))
            .map_err(|e| anyhow::anyhow!("the admin token: {e}"))?;
        let app = authenticated(&server, tokens, false, None, None)?;

        let kubeconfig = self.dir.join(format!("{name}.kubeconfig"));
        tls::write_kubeconfig(
            &kubeconfig,
            &url,
            &self.pki.ca_cert_pem,
            &self.pki.admin_cert_pem,
            &self.pki.admin_key_pem,
        )
        .with_context(|| format!("writing {}", kubeconfig.display()))?;

        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server_tls = self.server_tls.clone();
        let serve_app = app.clone();
        let mut tasks = vec![tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop_rx.await;
            };
            if let Err(e) = tls::serve(listener, server_tls, serve_app, shutdown).await {
                tracing::warn!(error = %e, "the simulated cluster's server failed");
            }
        })];

        let client = in_process_client(app, &token)?;
        tasks.push(tokio::spawn(crate::crds::run(client.clone(), server.clone())));
        let mut config = self.opts.config.clone();
        config.ca_pem.get_or_insert_with(|| self.pki.ca_cert_pem.clone());
        let mut cluster = SimCluster {
            url,
            data_dir: self.dir.clone(),
            _temp: None,
            kubeconfig,
            ca_pem: self.pki.ca_cert_pem.as_str().into(),
            admin_cert_pem: self.pki.admin_cert_pem.as_str().into(),
            admin_key_pem: self.pki.admin_key_pem.as_str().into(),
            token,
            client: client.clone(),
            server,
            simulator: None,
            shutdown: Some(stop_tx),
            tasks,
        };
        cluster.simulator = Some(
            Simulator::start(client, config)
                .await
                .map_err(|e| anyhow::anyhow!("starting the simulator of {name}: {e}"))?,
        );
        Ok(cluster)
    }
}

/// A kube-rs client that calls `app` directly, authenticated with the admin `token`: the same
/// router, authentication and handlers as over HTTPS, without a socket.
pub fn in_process_client(app: axum::Router, token: &str) -> anyhow::Result<kube::Client> {
    let bearer = HeaderValue::from_str(&format!("Bearer {token}")).context("the admin token is not a header value")?;
    let service = tower::ServiceBuilder::new()
        .map_request(move |mut req: Request<kube::client::Body>| {
            req.headers_mut().insert(header::AUTHORIZATION, bearer.clone());
            req
        })
        .service(app);
    Ok(kube::Client::new(service, "default"))
}
