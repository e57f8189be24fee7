//! The tke-rs image registry data plane: OCI Distribution v1.1 at `/v2/`, the Docker token
//! endpoint at `/registry/auth` and Helm chart repositories at `/chart/` ([`chart`]), over a
//! pluggable [`storage::Storage`] driver. The data plane reaches the rest of the platform only
//! through narrow traits ([`Namespaces`], [`chart::ChartGroups`], [`EventSink`], the auth
//! traits); [`objects`] implements them with the `registry.tkestack.io/v1` objects and holds
//! their controllers, the one module that knows the API server.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let registry = registry::Registry::new(registry::Config::new("/var/lib/tke/registry")).await?;
//! let app: axum::Router = registry.router(); // mount beside the other components
//! # let _ = app; Ok(()) }
//! ```

pub mod auth;
pub mod chart;
pub mod digest;
pub mod error;
pub mod events;
mod http;
pub mod manifest;
pub mod metrics;
pub mod names;
pub mod objects;
pub mod storage;
pub mod store;
pub mod tenancy;

pub use auth::AuthConfig;
pub use error::{Code, Error};
pub use events::{Event, EventSink};
pub use tenancy::{NamespaceInfo, Namespaces, Tenancy, TenantPolicy};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Registry settings.
#[derive(Clone)]
pub struct Config {
    /// Root directory of the filesystem storage.
    pub root: PathBuf,
    /// Token auth; `None` serves everyone (tests, trusted networks).
    pub auth: Option<AuthConfig>,
    /// Refuse every write (maintenance mode).
    pub read_only: bool,
    /// Tenants by host name and `{namespace}/{repository}` names; `None` serves one flat
    /// name space.
    pub tenancy: Option<Tenancy>,
    /// Where manifest and chart push, pull and delete events go.
    pub events: Option<Arc<dyn EventSink>>,
    /// Chart groups and their visibility for `/chart/`; `None`: every group exists and is
    /// private to its tenant.
    pub chart_groups: Option<Arc<dyn chart::ChartGroups>>,
}

impl Config {
    pub fn new(root: impl Into<PathBuf>) -> Config {
        Config { root: root.into(), auth: None, read_only: false, tenancy: None, events: None, chart_groups: None }
    }
}

/// A registry instance: its store and settings, ready to be served.
#[derive(Clone)]
pub struct Registry {
    app: Arc<http::App>,
    charts: Arc<chart::Charts>,
}

impl Registry {
    /// A registry on the filesystem storage at `config.root`.
    pub async fn new(config: Config) -> Result<Registry, Error> {
        let root = config.root.clone();
        let fs = tokio::task::spawn_blocking(move || storage::FileSystem::new(root))
            .await
            .map_err(|e| Error::new(Code::Unknown, e.to_string()))??;
        Ok(Registry::with_storage(Arc::new(fs), config))
    }

    /// A registry on any storage driver (`config.root` is then unused).
    pub fn with_storage(storage: Arc<dyn storage::Storage>, config: Config) -> Registry {
        let charts = chart::Charts::new(
            storage.clone(),
            config.auth.clone(),
            config.tenancy.clone(),
            config.chart_groups,
            config.events.clone(),
            config.read_only,
        );
        let app = http::App {
            store: store::Store::new(storage),
            auth: config.auth,
            read_only: config.read_only,
            tenancy: config.tenancy,
            events: config.events,
        };
        Registry { app: Arc::new(app), charts: Arc::new(charts) }
    }

    /// The chart repositories.
    pub fn charts(&self) -> &chart::Charts {
        &self.charts
    }

    /// Removes every chart of a tenant's chart group.
    pub async fn delete_chart_group(&self, tenant: &str, group: &str) -> Result<(), Error> {
        self.charts.delete_group(tenant, group).await.map_err(|e| Error::new(Code::Unknown, e.message))
    }

    pub fn store(&self) -> &store::Store {
        &self.app.store
    }

    pub fn tenancy(&self) -> Option<&Tenancy> {
        self.app.tenancy.as_ref()
    }

    /// The repositories (as clients name them, `{namespace}/{path}`) of a tenant's namespace.
    pub async fn namespace_repositories(&self, tenant: &str, namespace: &str) -> Result<Vec<String>, Error> {
        let prefix = self.namespace_key(tenant, namespace)?;
        let strip = prefix.len() - namespace.len();
        Ok(self
            .app
            .store
            .repositories()
            .await?
            .into_iter()
            .filter(|r| r.starts_with(&format!("{prefix}/")))
            .map(|r| r[strip..].to_string())
            .collect())
    }

    /// Removes every repository of a tenant's namespace (manifests, tags, links; the blobs
    /// stay for garbage collection, since other repositories may share them).
    pub async fn delete_namespace(&self, tenant: &str, namespace: &str) -> Result<(), Error> {
        let prefix = self.namespace_key(tenant, namespace)?;
        self.app.store.delete_repositories(&prefix).await?;
        tracing::info!(tenant, namespace, "registry namespace content removed");
        Ok(())
    }

    /// The stored name prefix of a namespace (`{tenant}/{namespace}`, or `{namespace}`
    /// without tenancy).
    fn namespace_key(&self, tenant: &str, namespace: &str) -> Result<String, Error> {
        let key = match &self.app.tenancy {
            Some(t) => format!("{}/{namespace}", t.owner(tenant, namespace)),
            None => namespace.to_string(),
        };
        if namespace.contains('/') || !names::valid_repository(&key) {
            return Err(Error::new(Code::NameInvalid, format!("invalid namespace {namespace:?}")));
        }
        Ok(key)
    }

    /// The routes `/v2/`, `/v2/...`, `/registry/auth` and `/chart/...`.
    pub fn router(&self) -> axum::Router {
        use axum::routing::any;
        let charts = axum::Router::new().route("/chart/{*path}", any(chart::serve)).with_state(self.charts.clone());
        axum::Router::new()
            .route("/v2", any(http::v2))
            .route("/v2/", any(http::v2))
            .route("/v2/{*path}", any(http::v2))
            .route("/registry/auth", any(http::token))
            .with_state(self.app.clone())
            .merge(charts)
    }
}

/// A registry served over plain HTTP on a local address, for tests and benchmarks (production
/// mounts [`Registry::router`] behind the platform's TLS listener). Stops when dropped.
pub struct LocalServer {
    pub addr: SocketAddr,
    task: Option<tokio::task::JoinHandle<()>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl LocalServer {
    /// Serve `router` on `addr` (use port 0 for any free port).
    pub async fn start(router: axum::Router, addr: SocketAddr) -> std::io::Result<LocalServer> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "registry server stopped");
            }
        });
        Ok(LocalServer { addr, task: Some(task), stop: Some(stop) })
    }

    /// Stops accepting and waits until every request in flight has finished, so another server
    /// can take over the same directory with nothing still writing to it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// `127.0.0.1:<port>`, as clients name the registry.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
