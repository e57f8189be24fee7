//! The registry component's flags and wiring: `--registry-*` of `tke up`, and `tke registry`
//! running the registry on its own against the same store.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::Context;
use registry::objects::RegistryComponent;

use crate::{
    controllers::{Running, stopped},
    serve::{ServerArgs, read_or_create_secret},
};

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

/// The registry component from its flags: the registry's settings are made when the server
/// mounts it (they need the CA the server creates on first start).
pub fn component(args: &RegistryArgs, server: &ServerArgs, platform: Option<PlatformAuth>) -> RegistryComponent {
    let data_dir = server.data_dir.canonicalize().unwrap_or(server.data_dir.clone());
    let args = args.clone();
    RegistryComponent::new(move || settings(&args, &data_dir, platform.clone()).map_err(|e| format!("{e:#}").into()))
}

/// The platform's people and policies, when the auth component runs in the same process.
#[derive(Clone)]
pub struct PlatformAuth {
    /// Who may log in (users by password, API keys, ID tokens).
    pub users: Arc<dyn registry::auth::Authenticator>,
    /// What a tenant's users may do in its namespaces.
    pub policy: Arc<dyn registry::tenancy::RepositoryPolicy>,
}

/// Starts the registry's Namespace and ChartGroup controllers in `running`, under the Lease
/// `tke-registry-controller` when leader election is on.
pub fn controllers(
    running: &mut Running,
    component: &RegistryComponent,
    platform: &kube::Client,
    leader_elect: bool,
) -> anyhow::Result<()> {
    let registry = component.registry().context("the registry component is not mounted")?;
    let client = platform.clone();
    running.spawn("registry", platform, leader_elect.then_some(registry::objects::controllers::LEASE), move |stop| {
        registry::objects::controllers::run(client.clone(), registry.clone(), stopped(stop))
    });
    Ok(())
}

/// `tke registry`: the image registry and chart repositories with their API objects.
#[derive(clap::Args, Debug)]
pub struct RegistryCommand {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// The image registry on the filesystem, with token auth for the platform's users and their
/// policies (`platform`: the auth component of the same process), or, alone, for the administrator (`admin`), whose
/// password is generated on first start into DATA_DIR/admin-password (mode 0600; only its hash
/// is kept in memory, and it is never logged); and a token signing key kept in DATA_DIR/pki so
/// issued tokens survive restarts.
fn settings(
    args: &RegistryArgs,
    data_dir: &Path,
    platform: Option<PlatformAuth>,
) -> anyhow::Result<(registry::Config, registry::Tenancy)> {
    let root = args.registry_dir.clone().unwrap_or_else(|| data_dir.join("registry"));
    let mut auth = match platform {
        Some(platform) => {
            let mut auth = registry::AuthConfig::new(
                platform.users,
                Arc::new(registry::auth::DefaultPolicy { public_prefixes: args.registry_public.clone() }),
            );
            auth.repository_policy = Some(platform.policy);
            auth
        }
        None => {
            let password = read_or_create_secret(&data_dir.join(auth::bootstrap::ADMIN_PASSWORD_FILE), || {
                auth::password::generate().into_bytes()
            })?;
            let password = String::from_utf8(password).context("the administrator password file is not UTF-8")?;
            let hash = registry::auth::hash_password(password.trim()).map_err(|e| anyhow::anyhow!("{e}"))?;
            registry::AuthConfig::with_admin("admin", &hash, args.registry_public.clone())
                .map_err(|e| anyhow::anyhow!("{e}"))?
        }
    };
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
    let mut config = registry::Config::new(root);
    config.auth = Some(auth);
    let mut tenancy = registry::Tenancy::new(args.registry_domain.clone());
    tenancy.shared_namespaces.extend(args.registry_public.iter().cloned());
    Ok((config, tenancy))
}

/// Runs the registry component alone until Ctrl-C or SIGTERM.
pub async fn run(cmd: RegistryCommand) -> anyhow::Result<()> {
    let registry = component(&cmd.registry, &cmd.server, None);
    let server = crate::serve::Server::start(&cmd.server, &[&registry]).await?;
    let client = controller_runtime::platform_client(&server.kubeconfig).await?;
    let mut running = Running::new();
    controllers(&mut running, &registry, &client, cmd.server.leader_elect)?;
    println!("tke-rs is up at {} (the registry component; storage: {:?})", server.url, server.storage);
    println!("  export KUBECONFIG={}", server.kubeconfig.display());
    server.serve(running).await?;
    println!("tke-rs stopped");
    Ok(())
}
