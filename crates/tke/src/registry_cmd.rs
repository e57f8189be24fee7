//! The registry component's flags and wiring: `--registry-*` of `tke up`, and `tke registry`
//! running the registry on its own against the same store.

use std::{path::PathBuf, sync::Arc};

use anyhow::Context;
use apiserver::ApiServer;

use crate::serve::{ServerArgs, read_or_create_secret};

/// Flags of the registry component.
#[derive(clap::Args, Clone, Debug)]
pub struct RegistryArgs {
    /// Where registry blobs and manifests live (default: DATA_DIR/registry).
    #[arg(long, env = "TKE_REGISTRY_DIR")]
    pub registry_dir: Option<PathBuf>,
    /// Registry tenants by host: requests to `{tenant}.{domain}` belong to that tenant (others to `default`).
    #[arg(long, env = "TKE_REGISTRY_DOMAIN")]
    pub registry_domain: Option<String>,
    /// Repository prefixes anyone may pull without logging in (comma separated), e.g. `library`.
    #[arg(long, env = "TKE_REGISTRY_PUBLIC", value_delimiter = ',')]
    pub registry_public: Vec<String>,
}

/// The registry component: its API objects, and the registry (`/v2/`, `/chart/`, the token
/// endpoint) in front of the API with its own authentication.
pub struct Registry {
    args: RegistryArgs,
    data_dir: PathBuf,
    running: std::sync::Mutex<Option<crate::registry_api::RegistryApi>>,
}

impl Registry {
    pub fn new(args: &RegistryArgs, server: &ServerArgs) -> Self {
        let data_dir = server.data_dir.canonicalize().unwrap_or(server.data_dir.clone());
        Registry { args: args.clone(), data_dir, running: Default::default() }
    }

    /// The registry's controllers (they run inside the component for now).
    pub fn controllers(
        &self,
        _running: &mut crate::controllers::Running,
        _platform: &kube::Client,
        _leader_elect: bool,
    ) {
    }
}

#[async_trait::async_trait]
impl apiserver::Component for Registry {
    fn name(&self) -> &'static str {
        "registry"
    }

    fn resources(&self) -> Vec<apiserver::ResourceDef> {
        api::registry::resources()
    }

    async fn mount(&self, server: &Arc<ApiServer>) -> Result<apiserver::Mount, apiserver::component::MountError> {
        // The registry authenticates with Docker's token flow, not the API's credentials.
        let (routes, running) =
            registry_router(&self.args, &self.data_dir, server).await.map_err(|e| format!("{e:#}"))?;
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) = Some(running);
        Ok(apiserver::Mount { front: Some(routes), ..Default::default() })
    }
}

/// `tke registry`: the image registry and chart repositories with their API objects.
#[derive(clap::Args, Debug)]
pub struct RegistryCommand {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// The image registry on the filesystem, with token auth for an `admin` whose password is
/// generated on first start into DATA_DIR/registry-admin-password (only its hash is kept in memory)
/// and a token signing key kept in DATA_DIR/pki so issued tokens survive restarts.
pub async fn registry_router(
    args: &RegistryArgs,
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

/// Runs the registry component alone until Ctrl-C or SIGTERM.
pub async fn run(cmd: RegistryCommand) -> anyhow::Result<()> {
    let registry = Registry::new(&cmd.registry, &cmd.server);
    let server = crate::serve::Server::start(&cmd.server, &[&registry]).await?;
    let client = controller_runtime::platform_client(&server.kubeconfig).await?;
    let mut running = crate::controllers::Running::new();
    registry.controllers(&mut running, &client, cmd.server.leader_elect);
    println!("tke-rs is up at {} (the registry component; storage: {:?})", server.url, server.storage);
    println!("  export KUBECONFIG={}", server.kubeconfig.display());
    server.serve(running).await?;
    println!("tke-rs stopped");
    Ok(())
}
