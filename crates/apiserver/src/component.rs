//! How a component of the platform (platform, registry, and those to come) joins an API server:
//! the resources it serves, then what it adds once the server runs (subresources, and routes in
//! front of or around the authenticated API). The `tke` binary builds one server from any set of
//! components: all of them for `tke up`, one for `tke platform` or `tke registry`. A component's
//! controllers are not part of this: they run against the API over HTTPS like any client.

use std::sync::Arc;

use axum::Router;

use crate::{
    ApiServer, ResourceDef,
    audit::Auditor,
    auth::{Authenticator, Authorizer},
};

/// Why a component could not be mounted, in words for the person starting the server.
pub type MountError = Box<dyn std::error::Error + Send + Sync>;

/// What a mounted component adds to the server's routes.
#[derive(Default)]
pub struct Mount {
    /// Served before authentication, falling back to the API: a data plane with its own
    /// authentication (the registry's token flow).
    pub front: Option<Router>,
    /// Wraps the API's routes inside authentication, so it sees the caller (the unified proxy).
    pub around_api: Option<Box<dyn FnOnce(Router) -> Router + Send>>,
    /// Authenticators the component adds to the server's chain, after client certificates and
    /// static tokens, in this order (the auth component's ID tokens and API keys).
    pub authenticators: Vec<Arc<dyn Authenticator>>,
    /// The authorizer of every request; at most one component gives one (the auth component).
    /// Without one, every authenticated caller may do anything.
    pub authorizer: Option<Arc<dyn Authorizer>>,
    /// The audit policy and the destination of the server's own audit events; at most one
    /// component gives one (the audit component). Without one, nothing is recorded.
    pub auditor: Option<Arc<dyn Auditor>>,
}

/// Where the server a component is mounted into runs.
#[derive(Clone, Debug)]
pub struct MountContext {
    /// The server's own URL, `https://host:port` (what clients and tokens' issuers name).
    pub url: String,
    /// The server's data directory (certificates, generated secrets, the embedded store).
    pub data_dir: std::path::PathBuf,
    /// The CA that signed the serving certificate, when the server generated it (PEM); `None`
    /// when the operator brought their own certificate (clients then trust it as they already do).
    pub serving_ca_pem: Option<String>,
    /// The other replicas of the platform, for components whose data lives in each replica
    /// (`None` when the server runs without them, as in tests of one component).
    pub peers: Option<Arc<crate::peers::Peers>>,
}

/// A component of the platform.
#[async_trait::async_trait]
pub trait Component: Send + Sync {
    /// Its name, as in `tke <name>` and logs.
    fn name(&self) -> &'static str;
    /// The API resources it serves.
    fn resources(&self) -> Vec<ResourceDef>;
    /// Registers what it serves beyond its resources on `server`, which serves at least
    /// [`Component::resources`].
    async fn mount(&self, server: &Arc<ApiServer>, ctx: &MountContext) -> Result<Mount, MountError>;
}

/// Reads a secret file of the data directory, creating it (mode 0600, written through to disk)
/// with `make()` on first start: generated passwords and keys that must survive restarts.
pub fn read_or_create_secret(path: &std::path::Path, make: impl FnOnce() -> Vec<u8>) -> std::io::Result<Vec<u8>> {
    use std::io::{Error, Write};
    let context = |what: &str, e: Error| Error::new(e.kind(), format!("{what} {}: {e}", path.display()));
    if let Ok(existing) = std::fs::read(path)
        && !existing.is_empty()
    {
        return Ok(existing);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| context("creating the directory of", e))?;
    }
    let secret = make();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).map_err(|e| context("creating", e))?;
    f.write_all(&secret).map_err(|e| context("writing", e))?;
    f.sync_all().map_err(|e| context("writing", e))?;
    Ok(secret)
}
