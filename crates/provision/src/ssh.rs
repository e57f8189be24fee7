//! The SSH client every provisioning step goes through: login by password or by private key
//! (with passphrase), reaching the machine directly, through an SSH jump host or a SOCKS5
//! proxy, host-key policy, timeouts, commands with exit codes and line-by-line progress,
//! root through sudo when the login user is not root, and checked, atomic file copies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use russh::client::{self, Handle};
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{ChannelMsg, Disconnect};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::OnceCell;

use crate::error::{Error, Result};

/// How to prove who we are.
#[derive(Clone, Default)]
pub struct Credentials {
    /// Login password; also fed to `sudo -S` when the user needs a password for sudo.
    pub password: Option<String>,
    /// OpenSSH or PEM private key text.
    pub private_key: Option<String>,
    /// Passphrase of `private_key`.
    pub passphrase: Option<String>,
}

impl std::fmt::Debug for Credentials {
    // Secrets never reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |v: &Option<String>| if v.is_some() { "<redacted>" } else { "<none>" };
        f.debug_struct("Credentials")
            .field("password", &shown(&self.password))
            .field("private_key", &shown(&self.private_key))
            .field("passphrase", &shown(&self.passphrase))
            .finish()
    }
}

/// An intermediate hop on the way to a machine.
#[derive(Clone, Debug)]
pub enum Via {
    /// Log in to this host first and open a `direct-tcpip` channel from it.
    Jump(Box<Target>),
    /// Connect through a SOCKS5 proxy (optionally with username/password).
    Socks5 { host: String, port: u16, username: Option<String>, password: Option<String> },
}

/// A machine to log in to.
#[derive(Clone, Debug)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub credentials: Credentials,
    pub via: Option<Via>,
}

fn b64(field: &str, v: &Option<String>) -> Result<Option<String>> {
    match v.as_deref() {
        None | Some("") => Ok(None),
        Some(s) => {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .map_err(|e| Error::InvalidTarget(format!("{field} is not valid base64: {e}")))?;
            String::from_utf8(raw)
                .map(Some)
                .map_err(|_| Error::InvalidTarget(format!("{field} is not UTF-8 text once decoded")))
        }
    }
}

fn port_of(field: &str, p: Option<i64>) -> Result<u16> {
    match p {
        None => Ok(22),
        Some(p) => u16::try_from(p)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| Error::InvalidTarget(format!("{field} {p} is not a TCP port"))),
    }
}

impl Target {
    /// A target logging in with a password.
    pub fn password(host: impl Into<String>, port: u16, user: impl Into<String>, password: impl Into<String>) -> Self {
        Target {
            host: host.into(),
            port,
            user: user.into(),
            credentials: Credentials { password: Some(password.into()), ..Default::default() },
            via: None,
        }
    }

    /// A target logging in with a private key (and its passphrase, if any).
    pub fn key(
        host: impl Into<String>,
        port: u16,
        user: impl Into<String>,
        key: impl Into<String>,
        passphrase: Option<String>,
    ) -> Self {
        Target {
            host: host.into(),
            port,
            user: user.into(),
            credentials: Credentials { private_key: Some(key.into()), passphrase, password: None },
            via: None,
        }
    }

    /// The target described by a cluster or machine spec (`spec.machines[]`, `Machine.ssh_target()`),
    /// whose secrets travel base64-encoded.
    pub fn from_machine(m: &api::platform::cluster::ClusterMachine) -> Result<Self> {
        let credentials = Credentials {
            password: b64("password", &m.password)?,
            private_key: b64("privateKey", &m.private_key)?,
            passphrase: b64("passPhrase", &m.pass_phrase)?,
        };
        if credentials.password.is_none() && credentials.private_key.is_none() {
            return Err(Error::InvalidTarget(format!("machine {} has neither a password nor a privateKey", m.ip)));
        }
        let via = match &m.proxy {
            None => None,
            Some(p) => {
                let user = p.username.clone().filter(|u| !u.is_empty());
                match p.type_.as_str() {
                    "SSHJumpServer" => Some(Via::Jump(Box::new(Target {
                        host: p.ip.clone(),
                        port: port_of("proxy.port", p.port)?,
                        user: user.unwrap_or_else(|| "root".into()),
                        credentials: Credentials {
                            password: b64("proxy.password", &p.password)?,
                            private_key: b64("proxy.privateKey", &p.private_key)?,
                            passphrase: b64("proxy.passPhrase", &p.pass_phrase)?,
                        },
                        via: None,
                    }))),
                    "SOCKS5" => Some(Via::Socks5 {
                        host: p.ip.clone(),
                        port: port_of("proxy.port", Some(p.port.unwrap_or(1080)))?,
                        username: user,
                        password: b64("proxy.password", &p.password)?,
                    }),
                    other => {
                        return Err(Error::InvalidTarget(format!(
                            "proxy type {other:?} is not supported (SSHJumpServer or SOCKS5)"
                        )));
                    }
                }
            }
        };
        Ok(Target {
            host: m.ip.clone(),
            port: port_of("port", m.port)?,
            user: m.username.clone().filter(|u| !u.is_empty()).unwrap_or_else(|| "root".into()),
            credentials,
            via,
        })
    }

    /// `host:port` with IPv6 hosts bracketed.
    pub fn addr(&self) -> String {
        join_host_port(&self.host, self.port)
    }

    /// `user@host:port`, used in every message about this target.
    pub fn display(&self) -> String {
        format!("{}@{}", self.user, self.addr())
    }
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// Which host keys to accept.
#[derive(Clone, Debug)]
pub enum HostKeyPolicy {
    /// Accept any key. Only for tests and first contact on trusted networks.
    AcceptAny,
    /// Accept only keys with one of these fingerprints (`SHA256:…` as `ssh-keygen -lf` prints).
    Pinned(Vec<String>),
    /// Record the key on first contact and insist on it afterwards.
    TrustOnFirstUse(Arc<KnownHosts>),
}

/// Host key fingerprints seen so far, keyed by `host:port`, optionally persisted in a file of
/// `host:port SHA256:…` lines.
#[derive(Debug, Default)]
pub struct KnownHosts {
    path: Option<PathBuf>,
    entries: Mutex<BTreeMap<String, String>>,
}

impl KnownHosts {
    /// An in-memory store (lost with the process).
    pub fn in_memory() -> Self {
        KnownHosts::default()
    }

    /// A store backed by `path`, loaded now if it exists and appended to on each new host.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let mut entries = BTreeMap::new();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                for line in text.lines() {
                    let mut parts = line.split_whitespace();
                    if let (Some(h), Some(fp)) = (parts.next(), parts.next()) {
                        entries.insert(h.to_string(), fp.to_string());
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("reading known hosts {}", path.display()), e)),
        }
        Ok(KnownHosts { path: Some(path), entries: Mutex::new(entries) })
    }

    /// The recorded fingerprint of `host:port`.
    pub fn get(&self, addr: &str) -> Option<String> {
        self.entries.lock().ok().and_then(|e| e.get(addr).cloned())
    }

    /// Forget a host (after it was reinstalled on purpose).
    pub fn forget(&self, addr: &str) -> Result<()> {
        if let Ok(mut e) = self.entries.lock() {
            e.remove(addr);
        }
        self.save()
    }

    fn record(&self, addr: &str, fp: &str) -> Result<()> {
        if let Ok(mut e) = self.entries.lock() {
            e.insert(addr.to_string(), fp.to_string());
        }
        self.save()
    }

    fn save(&self) -> Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        let text: String = match self.entries.lock() {
            Ok(e) => e.iter().map(|(h, f)| format!("{h} {f}\n")).collect(),
            Err(_) => return Ok(()),
        };
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, path))
            .map_err(|e| Error::io(format!("writing known hosts {}", path.display()), e))
    }
}

/// Connection settings.
#[derive(Clone, Debug)]
pub struct SshOptions {
    /// Limit for TCP connect, handshake and login together (per hop).
    pub connect_timeout: Duration,
    /// Default limit for one command (a call may set its own).
    pub command_timeout: Duration,
    /// Interval of SSH keepalives, so dead peers are noticed during long commands.
    pub keepalive: Duration,
    pub host_keys: HostKeyPolicy,
}

impl Default for SshOptions {
    fn default() -> Self {
        SshOptions {
            connect_timeout: Duration::from_secs(15),
            command_timeout: Duration::from_secs(30 * 60),
            keepalive: Duration::from_secs(15),
            host_keys: HostKeyPolicy::AcceptAny,
        }
    }
}

struct ClientHandler {
    addr: String,
    policy: HostKeyPolicy,
    /// Why the key was refused, read back after the handshake fails.
    refusal: Arc<Mutex<Option<String>>>,
    /// The fingerprint presented by the server.
    seen: Arc<Mutex<Option<String>>>,
}

impl client::Handler for ClientHandler {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let fp = key.public_key().fingerprint(HashAlg::Sha256).to_string();
        if let Ok(mut s) = self.seen.lock() {
            *s = Some(fp.clone());
        }
        let refuse = |why: String| {
            if let Ok(mut r) = self.refusal.lock() {
                *r = Some(why);
            }
            Ok(false)
        };
        match &self.policy {
            HostKeyPolicy::AcceptAny => Ok(true),
            HostKeyPolicy::Pinned(fps) => {
                if fps.iter().any(|p| p == &fp) {
                    Ok(true)
                } else {
                    refuse(format!("its fingerprint {fp} is not one of the pinned {}", fps.join(", ")))
                }
            }
            HostKeyPolicy::TrustOnFirstUse(known) => match known.get(&self.addr) {
                Some(k) if k == fp => Ok(true),
                Some(k) => refuse(format!(
                    "it presented {fp} but {k} was recorded earlier; if the machine was reinstalled, forget its old key, otherwise someone may be intercepting the connection"
                )),
                None => match known.record(&self.addr, &fp) {
                    Ok(()) => Ok(true),
                    Err(e) => refuse(format!("cannot record its key {fp}: {e}")),
                },
            },
        }
    }
}

/// What the login user may do as root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Privilege {
    /// Logged in as root.
    Root,
    /// `sudo -n` works.
    PasswordlessSudo,
    /// sudo works when fed the login password on standard input.
    PasswordSudo,
}

/// Which output stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// The result of a command that ran to completion (whatever its exit code).
#[derive(Clone, Debug, Default)]
pub struct Output {
    /// Exit code; `None` when the command was killed by a signal or the server sent none.
    pub exit_code: Option<u32>,
    /// The signal that ended the command, if any.
    pub signal: Option<String>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// `exit code N` or `signal X`, for messages.
    pub fn status(&self) -> String {
        match (&self.exit_code, &self.signal) {
            (Some(c), _) => format!("exit code {c}"),
            (None, Some(s)) => format!("signal {s}"),
            (None, None) => "no exit status".into(),
        }
    }
}

/// A line callback for progress.
pub type LineSink<'a> = &'a mut (dyn FnMut(Stream, &str) + Send);

/// Options of one command.
#[derive(Default)]
pub struct Exec<'a> {
    /// Run as root (directly or through sudo).
    pub as_root: bool,
    /// Data for the command's standard input (closed afterwards).
    pub stdin: Option<Box<dyn AsyncRead + Unpin + Send + 'a>>,
    /// Overrides [`SshOptions::command_timeout`].
    pub timeout: Option<Duration>,
    /// Receives every output line as it arrives.
    pub on_line: Option<LineSink<'a>>,
}

/// Captured output is capped so a chatty command cannot exhaust memory; lines still stream.
const CAPTURE_LIMIT: usize = 4 << 20;

/// Quotes `s` for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b)) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Hex SHA-256 of bytes.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex SHA-256 of a local file, read in chunks.
pub async fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let mut f = tokio::fs::File::open(path).await.map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf).await.map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        h.update(&buf[..n]);
    }
    Ok((hex(&h.finalize()), total))
}

/// A logged-in SSH connection to one machine.
pub struct Session {
    handle: Handle<ClientHandler>,
    name: String,
    host: String,
    user: String,
    password: Option<String>,
    options: SshOptions,
    host_key: Option<String>,
    privilege: OnceCell<Privilege>,
    // Keeps the jump host's connection (and thus our tunnel) alive.
    _jump: Option<Box<Session>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("target", &self.name).finish()
    }
}

fn ssh_err(target: &str, e: impl std::fmt::Display) -> Error {
    Error::Ssh { target: target.to_string(), detail: e.to_string() }
}

impl Session {
    /// Connects and logs in, through the target's jump host or proxy if it has one.
    pub async fn connect(target: &Target, options: &SshOptions) -> Result<Session> {
        Box::pin(Self::connect_inner(target, options)).await
    }

    async fn connect_inner(target: &Target, options: &SshOptions) -> Result<Session> {
        let addr = target.addr();
        let config = Arc::new(client::Config {
            inactivity_timeout: None,
            keepalive_interval: Some(options.keepalive),
            keepalive_max: 4,
            nodelay: true,
            ..Default::default()
        });
        let refusal = Arc::new(Mutex::new(None));
        let seen = Arc::new(Mutex::new(None));
        let handler = ClientHandler {
            addr: addr.clone(),
            policy: options.host_keys.clone(),
            refusal: refusal.clone(),
            seen: seen.clone(),
        };
        let timeout = options.connect_timeout;
        let timed_out = |what: String| Error::Timeout { what, after: timeout };
        let handshake_err = |e: russh::Error| -> Error {
            if let Some(why) = refusal.lock().ok().and_then(|r| r.clone()) {
                return Error::HostKey { addr: addr.clone(), detail: why };
            }
            Error::Connect { addr: addr.clone(), detail: format!("SSH handshake failed: {e}") }
        };

        let (handle, jump) = match &target.via {
            None => {
                let tcp =
                    tokio::time::timeout(timeout, tokio::net::TcpStream::connect((target.host.as_str(), target.port)))
                        .await
                        .map_err(|_| timed_out(format!("TCP connect to {addr}")))?
                        .map_err(|e| Error::Connect { addr: addr.clone(), detail: e.to_string() })?;
                let h = tokio::time::timeout(timeout, client::connect_stream(config, tcp, handler))
                    .await
                    .map_err(|_| timed_out(format!("SSH handshake with {addr}")))?
                    .map_err(handshake_err)?;
                (h, None)
            }
            Some(Via::Socks5 { host, port, username, password }) => {
                let proxy = join_host_port(host, *port);
                let tcp = tokio::time::timeout(
                    timeout,
                    socks5_connect(host, *port, username.as_deref(), password.as_deref(), &target.host, target.port),
                )
                .await
                .map_err(|_| timed_out(format!("SOCKS5 connect to {addr} through {proxy}")))??;
                let h = tokio::time::timeout(timeout, client::connect_stream(config, tcp, handler))
                    .await
                    .map_err(|_| timed_out(format!("SSH handshake with {addr}")))?
                    .map_err(handshake_err)?;
                (h, None)
            }
            Some(Via::Jump(jump)) => {
                let jump = Session::connect(jump, options).await?;
                let ch = tokio::time::timeout(
                    timeout,
                    jump.handle.channel_open_direct_tcpip(target.host.clone(), u32::from(target.port), "127.0.0.1", 0),
                )
                .await
                .map_err(|_| timed_out(format!("opening a tunnel to {addr} through jump host {}", jump.name)))?
                .map_err(|e| Error::Connect {
                    addr: addr.clone(),
                    detail: format!("jump host {} could not open a connection to it: {e}", jump.name),
                })?;
                let h = tokio::time::timeout(timeout, client::connect_stream(config, ch.into_stream(), handler))
                    .await
                    .map_err(|_| timed_out(format!("SSH handshake with {addr} through jump host {}", jump.name)))?
                    .map_err(handshake_err)?;
                (h, Some(Box::new(jump)))
            }
        };
        let host_key = seen.lock().ok().and_then(|s| s.clone());
        let mut session = Session {
            handle,
            name: target.display(),
            host: addr.clone(),
            user: target.user.clone(),
            password: target.credentials.password.clone(),
            options: options.clone(),
            host_key,
            privilege: OnceCell::new(),
            _jump: jump,
        };
        tokio::time::timeout(timeout, session.authenticate(&target.credentials))
            .await
            .map_err(|_| timed_out(format!("login to {}", target.display())))??;
        Ok(session)
    }

    async fn authenticate(&mut self, creds: &Credentials) -> Result<()> {
        let mut tried = vec![];
        let mut accepts = String::from("unknown");
        if let Some(key) = creds.private_key.as_deref() {
            let key = russh::keys::decode_secret_key(key, creds.passphrase.as_deref()).map_err(|e| Error::Key {
                target: self.name.clone(),
                detail: match (e, creds.passphrase.is_some()) {
                    (russh::keys::Error::KeyIsEncrypted, false) => {
                        "the key is encrypted and no passPhrase was given".into()
                    }
                    (e, true) => format!("{e} (is the passPhrase right?)"),
                    (e, false) => e.to_string(),
                },
            })?;
            let hash = if key.algorithm().is_rsa() {
                self.handle.best_supported_rsa_hash().await.map_err(|e| ssh_err(&self.name, e))?.flatten()
            } else {
                None
            };
            let r = self
                .handle
                .authenticate_publickey(self.user.clone(), PrivateKeyWithHashAlg::new(Arc::new(key), hash))
                .await
                .map_err(|e| ssh_err(&self.name, e))?;
            match r {
                russh::client::AuthResult::Success => return Ok(()),
                russh::client::AuthResult::Failure { remaining_methods, .. } => {
                    tried.push("the private key");
                    accepts = methods(&remaining_methods);
                }
            }
        }
        if let Some(pw) = creds.password.as_deref() {
            let r =
                self.handle.authenticate_password(self.user.clone(), pw).await.map_err(|e| ssh_err(&self.name, e))?;
            match r {
                russh::client::AuthResult::Success => return Ok(()),
                russh::client::AuthResult::Failure { remaining_methods, .. } => {
                    tried.push("the password");
                    accepts = methods(&remaining_methods);
                }
            }
        }
        if tried.is_empty() {
            return Err(Error::InvalidTarget(format!("no password or private key given for {}", self.name)));
        }
        Err(Error::Auth { target: self.name.clone(), tried: tried.join(" and "), accepts })
    }

    /// `user@host:port`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `host:port`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The login user.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// SHA256 fingerprint of the host key the server presented.
    pub fn host_key_fingerprint(&self) -> Option<&str> {
        self.host_key.as_deref()
    }

    /// Ends the connection politely.
    pub async fn close(self) {
        let _ = self.handle.disconnect(Disconnect::ByApplication, "done", "en").await;
        if let Some(j) = self._jump {
            Box::pin(j.close()).await;
        }
    }

    /// Runs a command as the login user.
    pub async fn run(&self, command: &str) -> Result<Output> {
        self.exec(command, Exec::default()).await
    }

    /// Runs a command as root (directly or through sudo); fails if that is not possible.
    pub async fn run_root(&self, command: &str) -> Result<Output> {
        self.exec(command, Exec { as_root: true, ..Default::default() }).await
    }

    /// Runs a command as root and requires exit code 0; returns its standard output.
    pub async fn check_root(&self, command: &str) -> Result<String> {
        let out = self.run_root(command).await?;
        self.require_success(command, out).map(|o| o.stdout)
    }

    /// Runs a command as the login user and requires exit code 0; returns its standard output.
    pub async fn check(&self, command: &str) -> Result<String> {
        let out = self.run(command).await?;
        self.require_success(command, out).map(|o| o.stdout)
    }

    /// Turns a non-zero exit into [`Error::Command`].
    pub fn require_success(&self, command: &str, out: Output) -> Result<Output> {
        if out.success() {
            return Ok(out);
        }
        let stderr = out.stderr.trim();
        let stderr = if stderr.is_empty() { out.stdout.trim() } else { stderr };
        Err(Error::Command {
            host: self.host.clone(),
            command: command.to_string(),
            status: out.status(),
            stderr: tail(stderr, 2000),
        })
    }

    /// What this login may do as root, found out once per session.
    pub async fn privilege(&self) -> Result<Privilege> {
        self.privilege.get_or_try_init(|| self.detect_privilege()).await.copied()
    }

    async fn detect_privilege(&self) -> Result<Privilege> {
        let id = self.exec_plain("id -u", vec![]).await?;
        if id.success() && id.stdout.trim() == "0" {
            return Ok(Privilege::Root);
        }
        let nopw = self.exec_plain("sudo -n true", vec![]).await?;
        if nopw.success() {
            return Ok(Privilege::PasswordlessSudo);
        }
        let Some(pw) = &self.password else {
            return Err(Error::NotPrivileged {
                user: self.user.clone(),
                host: self.host.clone(),
                detail: first_line(&nopw.stderr, "sudo -n true failed"),
            });
        };
        let input = format!("{pw}\n").into_bytes();
        let out = self.exec_plain("sudo -k -S -p '' true", input).await?;
        if out.success() {
            Ok(Privilege::PasswordSudo)
        } else {
            Err(Error::NotPrivileged {
                user: self.user.clone(),
                host: self.host.clone(),
                detail: first_line(&out.stderr, "sudo with the login password failed"),
            })
        }
    }

    // Privilege detection runs below `exec` (which depends on it), so it has its own plain path.
    async fn exec_plain(&self, command: &str, input: Vec<u8>) -> Result<Output> {
        let limit = self.options.connect_timeout.max(Duration::from_secs(30));
        match tokio::time::timeout(limit, self.exec_wire(command, input, None, None)).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout { what: format!("command `{command}` on {}", self.host), after: limit }),
        }
    }

    /// Runs a command with the given options.
    pub async fn exec(&self, command: &str, opts: Exec<'_>) -> Result<Output> {
        let Exec { as_root, stdin, timeout, on_line } = opts;
        let mut wire = command.to_string();
        let mut prefix: Vec<u8> = vec![];
        if as_root {
            match self.privilege().await? {
                Privilege::Root => {}
                Privilege::PasswordlessSudo => wire = format!("sudo -n -- sh -c {}", shell_quote(command)),
                Privilege::PasswordSudo => {
                    // -k: always ask, so the password line is always consumed and never reaches the command.
                    wire = format!("sudo -k -S -p '' -- sh -c {}", shell_quote(command));
                    prefix = format!("{}\n", self.password.as_deref().unwrap_or_default()).into_bytes();
                }
            }
        }
        let limit = timeout.unwrap_or(self.options.command_timeout);
        let fut = self.exec_wire(&wire, prefix, stdin, on_line);
        match tokio::time::timeout(limit, fut).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout { what: format!("command `{command}` on {}", self.host), after: limit }),
        }
    }

    async fn exec_wire(
        &self,
        wire: &str,
        prefix: Vec<u8>,
        stdin: Option<Box<dyn AsyncRead + Unpin + Send + '_>>,
        mut on_line: Option<LineSink<'_>>,
    ) -> Result<Output> {
        let channel = self.handle.channel_open_session().await.map_err(|e| ssh_err(&self.name, e))?;
        channel.exec(true, wire.as_bytes()).await.map_err(|e| ssh_err(&self.name, e))?;
        let (mut rd, wr) = channel.split();
        let writer = async move {
            let mut input: Box<dyn AsyncRead + Unpin + Send + '_> = match stdin {
                Some(s) => Box::new(std::io::Cursor::new(prefix).chain(s)),
                None => Box::new(std::io::Cursor::new(prefix)),
            };
            let r = wr.data(&mut input).await;
            let _ = wr.eof().await;
            r
        };
        let mut out = Output::default();
        let (mut obuf, mut ebuf) = (Vec::new(), Vec::new());
        let (mut ocap, mut ecap) = (Vec::new(), Vec::new());
        let reader = async {
            while let Some(msg) = rd.wait().await {
                match msg {
                    ChannelMsg::Data { data } => take(&data, Stream::Stdout, &mut obuf, &mut ocap, &mut on_line),
                    ChannelMsg::ExtendedData { data, ext: 1 } => {
                        take(&data, Stream::Stderr, &mut ebuf, &mut ecap, &mut on_line)
                    }
                    ChannelMsg::ExitStatus { exit_status } => out.exit_code = Some(exit_status),
                    ChannelMsg::ExitSignal { signal_name, error_message, .. } => {
                        out.signal = Some(format!(
                            "{signal_name:?}{}",
                            if error_message.is_empty() { String::new() } else { format!(" ({error_message})") }
                        ))
                    }
                    _ => {}
                }
            }
            flush(Stream::Stdout, &mut obuf, &mut on_line);
            flush(Stream::Stderr, &mut ebuf, &mut on_line);
        };
        let (written, ()) = tokio::join!(writer, reader);
        out.stdout = String::from_utf8_lossy(&ocap).into_owned();
        out.stderr = String::from_utf8_lossy(&ecap).into_owned();
        if out.exit_code.is_none() && out.signal.is_none() {
            // The channel closed without a status: the connection itself went away.
            return Err(ssh_err(
                &self.name,
                written
                    .err()
                    .map_or_else(|| "the channel closed without an exit status".to_string(), |e| e.to_string()),
            ));
        }
        Ok(out)
    }

    /// Copies a local file to `remote` (as root when `as_root`), creating parent directories.
    /// The data goes to a temporary file beside the target, its SHA-256 is compared with the
    /// local one, and only then is it renamed over the target, so a reader never sees a half
    /// file. Returns the hex SHA-256.
    pub async fn upload_file(&self, local: &Path, remote: &str, mode: u32, as_root: bool) -> Result<String> {
        let (sum, size) = sha256_file(local).await?;
        let f = tokio::fs::File::open(local).await.map_err(|e| Error::io(format!("opening {}", local.display()), e))?;
        self.upload(Box::new(f), size, &sum, remote, mode, as_root).await?;
        Ok(sum)
    }

    /// Writes bytes to `remote` like [`Session::upload_file`].
    pub async fn upload_bytes(&self, data: &[u8], remote: &str, mode: u32, as_root: bool) -> Result<String> {
        let sum = sha256_hex(data);
        self.upload(Box::new(std::io::Cursor::new(data.to_vec())), data.len() as u64, &sum, remote, mode, as_root)
            .await?;
        Ok(sum)
    }

    async fn upload(
        &self,
        data: Box<dyn AsyncRead + Unpin + Send + '_>,
        size: u64,
        sum: &str,
        remote: &str,
        mode: u32,
        as_root: bool,
    ) -> Result<()> {
        if remote.is_empty() || remote.ends_with('/') {
            return Err(Error::Copy {
                host: self.host.clone(),
                path: remote.into(),
                detail: "the destination must be a file path".into(),
            });
        }
        let q = shell_quote(remote);
        // head -c: exactly `size` bytes, so nothing else on stdin can end up in the file.
        let script = format!(
            "set -e; dst={q}; dir=$(dirname -- \"$dst\"); mkdir -p -- \"$dir\"; tmp=\"$dir/.$(basename -- \"$dst\").tke-upload.$$\"; \
             trap 'rm -f -- \"$tmp\"' EXIT; head -c {size} > \"$tmp\"; \
             got=$(sha256sum -- \"$tmp\" | cut -d' ' -f1); \
             if [ \"$got\" != {sum} ]; then echo \"checksum mismatch: expected {sum}, got $got ($(wc -c < \"$tmp\") of {size} bytes arrived)\" >&2; exit 3; fi; \
             chmod {mode:o} \"$tmp\"; mv -f -- \"$tmp\" \"$dst\"; trap - EXIT"
        );
        let out = self.exec(&script, Exec { as_root, stdin: Some(data), ..Default::default() }).await?;
        if !out.success() {
            return Err(Error::Copy {
                host: self.host.clone(),
                path: remote.into(),
                detail: format!("{}: {}", out.status(), tail(out.stderr.trim(), 1000)),
            });
        }
        Ok(())
    }

    /// Reads a remote file (as root when `as_root`); `None` if it does not exist.
    pub async fn read_file(&self, remote: &str, as_root: bool) -> Result<Option<String>> {
        let q = shell_quote(remote);
        let out = self
            .exec(&format!("if [ -e {q} ]; then cat -- {q}; else exit 44; fi"), Exec { as_root, ..Default::default() })
            .await?;
        match out.exit_code {
            Some(0) => Ok(Some(out.stdout)),
            Some(44) => Ok(None),
            _ => self.require_success(&format!("cat {remote}"), out).map(|o| Some(o.stdout)),
        }
    }

    /// SHA-256 of a remote file, `None` if it does not exist.
    pub async fn remote_sha256(&self, remote: &str, as_root: bool) -> Result<Option<String>> {
        let q = shell_quote(remote);
        let out = self
            .exec(
                &format!("if [ -f {q} ]; then sha256sum -- {q} | cut -d' ' -f1; else exit 44; fi"),
                Exec { as_root, ..Default::default() },
            )
            .await?;
        match out.exit_code {
            Some(0) => Ok(Some(out.stdout.trim().to_string())),
            Some(44) => Ok(None),
            _ => self.require_success(&format!("sha256sum {remote}"), out).map(|o| Some(o.stdout.trim().to_string())),
        }
    }

    /// The subset of `programs` not found in root's PATH on the machine.
    pub async fn missing_programs(&self, programs: &[&str]) -> Result<Vec<String>> {
        self.missing_programs_in(programs, &[]).await
    }

    /// Like [`Session::missing_programs`], also looking in `dirs` first.
    pub async fn missing_programs_in(&self, programs: &[&str], dirs: &[String]) -> Result<Vec<String>> {
        let mut script = String::from("PATH=");
        for d in dirs {
            script.push_str(&shell_quote(d));
            script.push(':');
        }
        script.push_str("\"$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"; ");
        for p in programs {
            script.push_str(&format!("command -v {} >/dev/null 2>&1 || echo {}; ", shell_quote(p), shell_quote(p)));
        }
        let out = self.run_root(&script).await?;
        Ok(out.stdout.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect())
    }
}

fn methods(m: &russh::MethodSet) -> String {
    let v: Vec<String> = m.iter().map(|k| String::from(<&str>::from(k))).collect();
    if v.is_empty() { "nothing".into() } else { v.join(", ") }
}

fn take(data: &[u8], s: Stream, buf: &mut Vec<u8>, cap: &mut Vec<u8>, sink: &mut Option<LineSink<'_>>) {
    if cap.len() < CAPTURE_LIMIT {
        let room = CAPTURE_LIMIT - cap.len();
        cap.extend_from_slice(&data[..data.len().min(room)]);
    }
    let Some(sink) = sink else { return };
    buf.extend_from_slice(data);
    while let Some(i) = buf.iter().position(|b| *b == b'\n') {
        let line: Vec<u8> = buf.drain(..=i).collect();
        let text = String::from_utf8_lossy(&line[..line.len() - 1]);
        sink(s, text.trim_end_matches('\r'));
    }
}

fn flush(s: Stream, buf: &mut Vec<u8>, sink: &mut Option<LineSink<'_>>) {
    if let Some(sink) = sink
        && !buf.is_empty()
    {
        sink(s, &String::from_utf8_lossy(buf));
        buf.clear();
    }
}

fn first_line(s: &str, default: &str) -> String {
    s.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or(default).to_string()
}

pub(crate) fn tail(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &s[start..])
}

/// Opens a TCP connection to `dst` through a SOCKS5 proxy (RFC 1928, with RFC 1929
/// username/password authentication when a username is given).
async fn socks5_connect(
    proxy_host: &str,
    proxy_port: u16,
    user: Option<&str>,
    password: Option<&str>,
    dst: &str,
    dst_port: u16,
) -> Result<tokio::net::TcpStream> {
    let proxy = join_host_port(proxy_host, proxy_port);
    let fail = |detail: String| Error::Connect {
        addr: join_host_port(dst, dst_port),
        detail: format!("through SOCKS5 proxy {proxy}: {detail}"),
    };
    let io = |e: std::io::Error| Error::Connect {
        addr: join_host_port(dst, dst_port),
        detail: format!("through SOCKS5 proxy {proxy}: {e}"),
    };
    let mut s = tokio::net::TcpStream::connect((proxy_host, proxy_port)).await.map_err(io)?;
    let methods: &[u8] = if user.is_some() { &[0x00, 0x02] } else { &[0x00] };
    let mut hello = vec![0x05, methods.len() as u8];
    hello.extend_from_slice(methods);
    s.write_all(&hello).await.map_err(io)?;
    let mut reply = [0u8; 2];
    s.read_exact(&mut reply).await.map_err(io)?;
    match reply {
        [0x05, 0x00] => {}
        [0x05, 0x02] => {
            let u = user.unwrap_or_default().as_bytes();
            let p = password.unwrap_or_default().as_bytes();
            if u.len() > 255 || p.len() > 255 {
                return Err(fail("username or password longer than 255 bytes".into()));
            }
            let mut auth = vec![0x01, u.len() as u8];
            auth.extend_from_slice(u);
            auth.push(p.len() as u8);
            auth.extend_from_slice(p);
            s.write_all(&auth).await.map_err(io)?;
            s.read_exact(&mut reply).await.map_err(io)?;
            if reply[1] != 0 {
                return Err(fail("the proxy refused the username/password".into()));
            }
        }
        [0x05, 0xff] => return Err(fail("the proxy accepts none of our authentication methods".into())),
        other => return Err(fail(format!("unexpected greeting {other:?}; is it a SOCKS5 proxy?"))),
    }
    let mut req = vec![0x05, 0x01, 0x00];
    match dst.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => {
            req.push(0x01);
            req.extend_from_slice(&a.octets());
        }
        Ok(std::net::IpAddr::V6(a)) => {
            req.push(0x04);
            req.extend_from_slice(&a.octets());
        }
        Err(_) => {
            let name = dst.as_bytes();
            if name.len() > 255 {
                return Err(fail("host name longer than 255 bytes".into()));
            }
            req.push(0x03);
            req.push(name.len() as u8);
            req.extend_from_slice(name);
        }
    }
    req.extend_from_slice(&dst_port.to_be_bytes());
    s.write_all(&req).await.map_err(io)?;
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await.map_err(io)?;
    if head[1] != 0 {
        let why = match head[1] {
            1 => "general failure",
            2 => "connection not allowed by ruleset",
            3 => "network unreachable",
            4 => "host unreachable",
            5 => "connection refused",
            6 => "TTL expired",
            7 => "command not supported",
            8 => "address type not supported",
            _ => "unknown error",
        };
        return Err(fail(why.into()));
    }
    let skip = match head[3] {
        0x01 => 4,
        0x04 => 16,
        0x03 => {
            let mut l = [0u8; 1];
            s.read_exact(&mut l).await.map_err(io)?;
            usize::from(l[0])
        }
        t => return Err(fail(format!("unknown bound address type {t}"))),
    };
    let mut rest = vec![0u8; skip + 2];
    s.read_exact(&mut rest).await.map_err(io)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(shell_quote("abc/d-e.f"), "abc/d-e.f");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn machine_secrets_are_base64_and_proxies_become_hops() {
        use api::platform::cluster::{ClusterMachine, MachineProxy};
        let e = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let m = ClusterMachine {
            ip: "10.0.0.5".into(),
            password: Some(e("pw")),
            proxy: Some(MachineProxy {
                type_: "SSHJumpServer".into(),
                ip: "10.0.0.1".into(),
                port: Some(2222),
                private_key: Some(e("KEY")),
                ..Default::default()
            }),
            ..Default::default()
        };
        let t = Target::from_machine(&m).unwrap();
        assert_eq!((t.display(), t.credentials.password.as_deref()), ("root@10.0.0.5:22".to_string(), Some("pw")));
        let Some(Via::Jump(j)) = &t.via else { panic!("expected a jump host") };
        assert_eq!(
            (j.display(), j.credentials.private_key.as_deref()),
            ("root@10.0.0.1:2222".to_string(), Some("KEY"))
        );
        let bad = ClusterMachine { ip: "10.0.0.5".into(), password: Some("%%%".into()), ..Default::default() };
        assert!(Target::from_machine(&bad).unwrap_err().to_string().contains("password is not valid base64"));
        let none = ClusterMachine { ip: "10.0.0.5".into(), ..Default::default() };
        assert!(Target::from_machine(&none).unwrap_err().to_string().contains("neither a password nor a privateKey"));
    }

    #[test]
    fn debug_output_hides_secrets() {
        let t = Target::password("h", 22, "u", "hunter2");
        assert!(!format!("{t:?}").contains("hunter2"));
    }
}
