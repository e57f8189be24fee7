//! `tke login`: logs in to a platform through its OpenID provider, by password or in the
//! browser (code flow with PKCE on a loopback redirect, RFC 8252), and writes a kubeconfig
//! whose user runs `tke credential`, kubectl's exec credential plugin: it hands kubectl the
//! ID token and, when that has expired, gets a new one with the refresh token, so plain
//! kubectl keeps working. `tke apikey create` issues an API key for scripts.
//!
//! Tokens are cached in `~/.kube/tke/<server>.json` (mode 0600), never printed.

use std::{
    io::{BufRead, Read, Write},
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, bail};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The platform's OAuth client for `tke login` (public: PKCE, loopback redirect).
const CLIENT_ID: &str = "default";

#[derive(clap::Args, Debug)]
pub struct LoginArgs {
    /// The platform's URL (`https://host:port`).
    #[arg(long)]
    pub server: String,
    /// The CA certificate that signed the server's certificate (PEM), when not a public CA.
    #[arg(long)]
    pub certificate_authority: Option<PathBuf>,
    /// The tenant to log in to.
    #[arg(long, default_value = "default")]
    pub tenant: String,
    /// Log in with this username and a password (asked for, or read from stdin with
    /// `--password-stdin`) instead of in the browser.
    #[arg(long, short = 'u')]
    pub username: Option<String>,
    /// Read the password from stdin.
    #[arg(long)]
    pub password_stdin: bool,
    /// Do not try to open a browser; only print the login URL.
    #[arg(long)]
    pub no_browser: bool,
    /// The kubeconfig to write (default: ~/.kube/tke.kubeconfig).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct CredentialArgs {
    /// The platform's URL, as `tke login` wrote it into the kubeconfig.
    #[arg(long)]
    pub server: String,
    #[arg(long)]
    pub certificate_authority: Option<PathBuf>,
}

#[derive(clap::Subcommand, Debug)]
pub enum ApiKeyCommand {
    /// Issue an API key for the logged-in user and print it (for `kubectl --token` and registries).
    Create {
        #[arg(long)]
        server: String,
        #[arg(long)]
        certificate_authority: Option<PathBuf>,
        /// How long the key is valid: `24h`, `30m`, `90d`.
        #[arg(long, default_value = "24h")]
        expire: String,
        #[arg(long, default_value = "")]
        description: String,
    },
}

/// What `tke login` keeps for `tke credential`.
#[derive(Serialize, Deserialize)]
struct Cached {
    id_token: String,
    #[serde(default)]
    refresh_token: String,
    /// Unix seconds.
    expiry: i64,
}

fn home() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."))
}

fn cache_path(server: &str) -> PathBuf {
    let name: String = server
        .trim_start_matches("https://")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
        .collect();
    home().join(".kube").join("tke").join(format!("{name}.json"))
}

fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(contents)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn http(ca: Option<&Path>) -> anyhow::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder().timeout(Duration::from_secs(30)).redirect(reqwest::redirect::Policy::none());
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
        b = b.add_root_certificate(reqwest::Certificate::from_pem(&pem).context("the CA file is not PEM")?);
    }
    Ok(b.build()?)
}

fn expiry_of(id_token: &str) -> i64 {
    id_token
        .split('.')
        .nth(1)
        .and_then(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|c| c["exp"].as_i64())
        .unwrap_or(0)
}

/// POSTs a token request; returns the cached form of the answer.
async fn token_request(client: &reqwest::Client, server: &str, form: &[(&str, &str)]) -> anyhow::Result<Cached> {
    let resp = client
        .post(format!("{}/oidc/token", server.trim_end_matches('/')))
        .form(form)
        .send()
        .await
        .with_context(|| format!("reaching {server}"))?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let why = body["error_description"].as_str().or(body["error"].as_str()).unwrap_or("no reason given");
        bail!("the platform refused the login ({status}): {why}");
    }
    let id_token = body["id_token"].as_str().context("the answer has no id_token")?.to_string();
    Ok(Cached {
        expiry: expiry_of(&id_token),
        id_token,
        refresh_token: body["refresh_token"].as_str().unwrap_or("").to_string(),
    })
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    let mut line = String::new();
    if from_stdin {
        std::io::stdin().read_to_string(&mut line)?;
    } else {
        eprint!("Password: ");
        std::io::stderr().flush()?;
        std::io::stdin().lock().read_line(&mut line)?;
    }
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        bail!("no password given");
    }
    Ok(password)
}

/// The browser login: a loopback listener receives the code.
async fn browser_login(client: &reqwest::Client, args: &LoginArgs) -> anyhow::Result<Cached> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("listening on a loopback port")?;
    let redirect = format!("http://127.0.0.1:{}/callback", listener.local_addr()?.port());
    let verifier = auth::grants::secret();
    let challenge = auth::grants::pkce_challenge(&verifier);
    let state = auth::grants::secret();
    let query = serde_urlencoded::to_string([
        ("client_id", CLIENT_ID),
        ("response_type", "code"),
        ("scope", "openid offline_access"),
        ("redirect_uri", redirect.as_str()),
        ("state", state.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("tenant", args.tenant.as_str()),
    ])?;
    let url = format!("{}/oidc/auth?{query}", args.server.trim_end_matches('/'));
    println!("Log in at: {url}");
    if !args.no_browser {
        let _ = std::process::Command::new("xdg-open")
            .arg(&url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
    let code = tokio::time::timeout(Duration::from_secs(300), wait_for_code(&listener, &state))
        .await
        .context("no login within 5 minutes")??;
    token_request(
        client,
        &args.server,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT_ID),
            ("code", &code),
            ("redirect_uri", &redirect),
            ("code_verifier", &verifier),
        ],
    )
    .await
}

/// Answers the browser's redirect to the loopback URI; returns the code.
async fn wait_for_code(listener: &tokio::net::TcpListener, state: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let (mut conn, _) = listener.accept().await?;
        let mut buf = vec![0u8; 8192];
        let n = conn.read(&mut buf).await.unwrap_or(0);
        let request = String::from_utf8_lossy(&buf[..n]).to_string();
        let target = request.split_whitespace().nth(1).unwrap_or("");
        let Some(query) = target.strip_prefix("/callback?") else {
            let _ = conn.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
            continue;
        };
        let params: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let (message, result) = match (get("state"), get("code"), get("error")) {
            (_, _, Some(e)) => (
                "The login failed. You can close this window.",
                Err(anyhow::anyhow!(
                    "the platform refused the login: {e} {}",
                    get("error_description").unwrap_or_default()
                )),
            ),
            (Some(s), Some(code), None) if s == state => ("Logged in. You can close this window.", Ok(code)),
            _ => (
                "The login answer does not match this login. You can close this window.",
                Err(anyhow::anyhow!("the browser brought back an answer of another login")),
            ),
        };
        let body = format!("<!doctype html><title>tke login</title><p>{message}</p>");
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = conn.write_all(head.as_bytes()).await;
        let _ = conn.write_all(body.as_bytes()).await;
        return result;
    }
}

pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let client = http(args.certificate_authority.as_deref())?;
    let cached = match &args.username {
        Some(username) => {
            let password = read_password(args.password_stdin)?;
            token_request(
                &client,
                &args.server,
                &[
                    ("grant_type", "password"),
                    ("client_id", CLIENT_ID),
                    ("scope", "openid offline_access"),
                    ("tenant_id", &args.tenant),
                    ("username", username),
                    ("password", &password),
                ],
            )
            .await?
        }
        None => browser_login(&client, &args).await?,
    };
    write_private(&cache_path(&args.server), &serde_json::to_vec(&cached)?)?;
    let kubeconfig = args.kubeconfig.clone().unwrap_or_else(|| home().join(".kube").join("tke.kubeconfig"));
    let me = std::env::current_exe().context("finding the tke binary")?;
    let mut exec_args = vec![json!("credential"), json!("--server"), json!(args.server)];
    let mut cluster = json!({"server": args.server});
    if let Some(ca) = &args.certificate_authority {
        let ca = ca.canonicalize().unwrap_or(ca.clone());
        exec_args.push(json!("--certificate-authority"));
        exec_args.push(json!(ca));
        cluster["certificate-authority"] = json!(ca);
    }
    let config = json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "tke",
        "clusters": [{"name": "tke", "cluster": cluster}],
        "users": [{"name": "tke", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1", "command": me, "args": exec_args,
            "interactiveMode": "Never", "provideClusterInfo": false}}}],
        "contexts": [{"name": "tke", "context": {"cluster": "tke", "user": "tke"}}],
    });
    write_private(&kubeconfig, serde_yaml_ng::to_string(&config)?.as_bytes())?;
    println!("Logged in. export KUBECONFIG={}", kubeconfig.display());
    Ok(())
}

/// A valid ID token: the cached one, or a refreshed one.
async fn current_token(server: &str, ca: Option<&Path>) -> anyhow::Result<String> {
    let path = cache_path(server);
    let cached: Cached = serde_json::from_slice(
        &std::fs::read(&path).with_context(|| format!("not logged in to {server}: run tke login --server {server}"))?,
    )?;
    let now = chrono::Utc::now().timestamp();
    if cached.expiry > now + 30 {
        return Ok(cached.id_token);
    }
    if cached.refresh_token.is_empty() {
        bail!("the login to {server} has expired: run tke login --server {server} again");
    }
    let client = http(ca)?;
    let fresh = token_request(
        &client,
        server,
        &[("grant_type", "refresh_token"), ("client_id", CLIENT_ID), ("refresh_token", &cached.refresh_token)],
    )
    .await
    .with_context(|| format!("renewing the login to {server} (run tke login again if it keeps failing)"))?;
    write_private(&path, &serde_json::to_vec(&fresh)?)?;
    Ok(fresh.id_token)
}

/// `tke credential`: kubectl's exec plugin.
pub async fn credential(args: CredentialArgs) -> anyhow::Result<()> {
    let token = current_token(&args.server, args.certificate_authority.as_deref()).await?;
    let exp = chrono::DateTime::from_timestamp(expiry_of(&token), 0).unwrap_or_default();
    let out = json!({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
        "status": {"token": token, "expirationTimestamp": exp.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)}});
    println!("{out}");
    Ok(())
}

pub async fn apikey(cmd: ApiKeyCommand) -> anyhow::Result<()> {
    match cmd {
        ApiKeyCommand::Create { server, certificate_authority, expire, description } => {
            let token = current_token(&server, certificate_authority.as_deref()).await?;
            let client = http(certificate_authority.as_deref())?;
            let resp = client
                .post(format!("{}/apis/auth.tkestack.io/v1/apikeys/default/token", server.trim_end_matches('/')))
                .bearer_auth(token)
                .json(&json!({"expire": expire, "description": description}))
                .send()
                .await?;
            let status = resp.status();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            if !status.is_success() {
                bail!(
                    "the platform refused the key ({status}): {}",
                    body["message"].as_str().unwrap_or("no reason given")
                );
            }
            println!("{}", body["spec"]["apiKey"].as_str().context("the answer has no key")?);
            eprintln!(
                "API key {} for {} expires {}",
                body["metadata"]["name"].as_str().unwrap_or(""),
                body["spec"]["username"].as_str().unwrap_or(""),
                body["spec"]["expire_at"].as_str().unwrap_or("")
            );
            Ok(())
        }
    }
}
