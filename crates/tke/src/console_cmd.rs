//! Flags of the console component (the web console and its gateway) for `tke up`.

use std::{path::PathBuf, time::Duration};

#[derive(clap::Args, Clone, Debug)]
pub struct ConsoleArgs {
    /// Serve the web console at `/tkestack` (and the gateway's routes) on the same listener.
    #[arg(long, env = "TKE_CONSOLE", default_value_t = true, action = clap::ArgAction::Set)]
    pub console: bool,
    /// The OpenID provider the console logs users in with. Default: the platform's own
    /// (`--oidc-issuer-url`, or this server's URL + `/oidc`).
    #[arg(long, env = "TKE_CONSOLE_OIDC_ISSUER_URL")]
    pub console_oidc_issuer_url: Option<String>,
    /// The console's client id at that provider (a public client allowed
    /// `https://<host>/callback` as redirect URI).
    #[arg(long, env = "TKE_CONSOLE_OIDC_CLIENT_ID", default_value = "default")]
    pub console_oidc_client_id: String,
    /// CA bundle that signed the provider's certificate. Default: the platform's generated CA.
    #[arg(long, env = "TKE_CONSOLE_OIDC_CA_FILE")]
    pub console_oidc_ca_file: Option<PathBuf>,
    /// How long a browser stays logged in without logging in again, in seconds.
    #[arg(long, env = "TKE_CONSOLE_SESSION_MAX_AGE_SECONDS", default_value_t = 12 * 3600)]
    pub console_session_max_age_seconds: u64,
}

/// The console component as the flags set it up; `None` when turned off.
pub fn component(args: &ConsoleArgs, platform_issuer: Option<&str>) -> Option<console::Console> {
    args.console.then(|| console::Console {
        config: console::Config {
            issuer: args.console_oidc_issuer_url.clone().or_else(|| platform_issuer.map(str::to_string)),
            client_id: args.console_oidc_client_id.clone(),
            issuer_ca_file: args.console_oidc_ca_file.clone(),
            session_max_age: Duration::from_secs(args.console_session_max_age_seconds.clamp(300, 30 * 24 * 3600)),
        },
    })
}

/// How the gateway tells the components who the user is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProxyMode {
    /// The session's ID token goes on as a bearer token; the components check it.
    Passthrough,
    /// The gateway names the user in `X-Remote-*` headers over mutual TLS with its front-proxy
    /// certificate (the components' `--requestheader-client-ca-file` CA must have signed it).
    FrontProxy,
}

/// `tke console`: the web console and the gateway in front of components that run as separate
/// processes (`tke platform`, `tke business`, `tke registry`, ...).
#[derive(clap::Args, Debug)]
pub struct ConsoleCommand {
    /// Directory for the gateway's generated certificates.
    #[arg(long, env = "TKE_DATA_DIR", default_value = "./tke-console-data")]
    pub data_dir: PathBuf,
    /// Address of the HTTPS listener.
    #[arg(long, env = "TKE_LISTEN", default_value = "127.0.0.1:9444")]
    pub listen: std::net::SocketAddr,
    /// Extra host names or IPs for the generated serving certificate (comma separated).
    #[arg(long, env = "TKE_EXTERNAL_HOSTNAMES", value_delimiter = ',')]
    pub external_hostname: Vec<String>,
    /// Serving certificate (PEM); generated into the data directory when not given.
    #[arg(long, env = "TKE_TLS_CERT_FILE", requires = "tls_private_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// Key of the serving certificate (PEM).
    #[arg(long, env = "TKE_TLS_PRIVATE_KEY_FILE", requires = "tls_cert_file")]
    pub tls_private_key_file: Option<PathBuf>,
    /// A component behind the gateway, `MODULE=https://host:port` (repeat; modules: platform,
    /// business, auth, registry, monitor, notify, audit, logagent, application, mesh). Paths no
    /// component claims go to `platform`.
    #[arg(long = "component", env = "TKE_CONSOLE_COMPONENTS", value_delimiter = ',', required = true)]
    pub components: Vec<String>,
    /// CA bundle that signed the components' serving certificates.
    #[arg(long, env = "TKE_COMPONENT_CA_FILE")]
    pub component_ca_file: PathBuf,
    #[arg(long, env = "TKE_PROXY_MODE", value_enum, default_value = "passthrough")]
    pub proxy_mode: ProxyMode,
    /// The front-proxy client certificate (with `--proxy-mode front-proxy`).
    #[arg(long, env = "TKE_FRONT_PROXY_CERT_FILE", required_if_eq("proxy_mode", "front-proxy"))]
    pub front_proxy_cert_file: Option<PathBuf>,
    /// Its key.
    #[arg(long, env = "TKE_FRONT_PROXY_KEY_FILE", required_if_eq("proxy_mode", "front-proxy"))]
    pub front_proxy_key_file: Option<PathBuf>,
    #[command(flatten)]
    pub console: ConsoleArgs,
}

/// Runs the gateway until Ctrl-C or SIGTERM.
pub async fn run(cmd: ConsoleCommand) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let mut upstreams = vec![];
    for c in &cmd.components {
        let (module, url) =
            c.split_once('=').with_context(|| format!("--component {c:?}: expected MODULE=https://host:port"))?;
        if !url.starts_with("https://") {
            anyhow::bail!("--component {c:?}: components are reached over HTTPS (https://host:port)");
        }
        upstreams
            .push(console::proxy::Upstream { module: module.trim().into(), url: url.trim_end_matches('/').into() });
    }
    let ca = std::fs::read(&cmd.component_ca_file)
        .with_context(|| format!("reading the components' CA {}", cmd.component_ca_file.display()))?;
    let mode = match cmd.proxy_mode {
        ProxyMode::Passthrough => console::proxy::Mode::Passthrough,
        ProxyMode::FrontProxy => {
            let (Some(cert), Some(key)) = (&cmd.front_proxy_cert_file, &cmd.front_proxy_key_file) else {
                anyhow::bail!("--proxy-mode front-proxy needs --front-proxy-cert-file and --front-proxy-key-file");
            };
            let mut pem = std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?;
            pem.push(b'\n');
            pem.extend(std::fs::read(key).with_context(|| format!("reading {}", key.display()))?);
            console::proxy::Mode::FrontProxy { cert_and_key_pem: pem }
        }
    };
    // The provider is the auth component's (or the platform's, which serves it in `tke up`).
    let issuer = match &cmd.console.console_oidc_issuer_url {
        Some(i) => i.clone(),
        None => {
            let provider = upstreams
                .iter()
                .find(|u| u.module == "auth")
                .or_else(|| upstreams.iter().find(|u| u.module == "platform"))
                .context("--console-oidc-issuer-url is needed when no auth or platform component is given")?;
            format!("{}/oidc", provider.url)
        }
    };
    let issuer_ca = match &cmd.console.console_oidc_ca_file {
        Some(p) => std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
        None => ca.clone(),
    };
    let platform_url = upstreams
        .iter()
        .find(|u| u.module == "platform")
        .map(|u| u.url.clone())
        .context("--component platform=https://... is needed (every path no other component claims goes there)")?;
    let terminal =
        std::sync::Arc::new(console::terminal::Api::new(platform_url, &ca).map_err(|e| anyhow::anyhow!("{e}"))?);
    let components =
        std::sync::Arc::new(console::proxy::Components::new(upstreams, mode, &ca).map_err(|e| anyhow::anyhow!("{e}"))?);
    let rp = console::relying_party::RelyingParty::new(issuer, cmd.console.console_oidc_client_id.clone(), &issuer_ca)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::create_dir_all(&cmd.data_dir).with_context(|| format!("creating {}", cmd.data_dir.display()))?;
    let mut hosts = cmd.external_hostname.clone();
    if !cmd.listen.ip().is_unspecified() {
        hosts.push(cmd.listen.ip().to_string());
    }
    let pki = apiserver::tls::ensure_pki(&cmd.data_dir, &hosts).context("preparing certificates")?;
    let gateway = std::sync::Arc::new(console::gateway::Gateway {
        rp,
        session_max_age: Duration::from_secs(cmd.console.console_session_max_age_seconds.clamp(300, 30 * 24 * 3600)),
        backend: console::gateway::Backend::Remote(components.clone()),
        serving_ca_pem: cmd.tls_cert_file.is_none().then(|| pki.ca_cert_pem.clone()),
        mounted: vec![],
    });
    let app = console::gateway::standalone(gateway, components, terminal);

    let tls = apiserver::tls::server_config(
        &pki,
        &apiserver::tls::TlsOptions {
            cert_file: cmd.tls_cert_file.clone(),
            key_file: cmd.tls_private_key_file.clone(),
            ..Default::default()
        },
    )
    .context("building the TLS configuration")?;
    let listener =
        tokio::net::TcpListener::bind(cmd.listen).await.with_context(|| format!("listening on {}", cmd.listen))?;
    let addr = listener.local_addr()?;
    let host = if addr.ip().is_unspecified() { format!("127.0.0.1:{}", addr.port()) } else { addr.to_string() };
    println!("tke-rs console is up at https://{host}/tkestack");
    println!("  the console's client must allow https://{host}/callback as a redirect URI");
    apiserver::tls::serve(listener, tls, app, crate::serve::shutdown_signal()).await.context("serving HTTPS")?;
    println!("tke-rs console stopped");
    Ok(())
}
