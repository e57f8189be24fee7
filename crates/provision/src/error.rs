//! The error type of the crate's work on machines. Every variant renders as a sentence a person
//! can act on, because the platform controllers copy it verbatim into a condition message. (The
//! small parsers — CIDRs, checksum lists, certificates, kubeconfigs — have their own error types
//! next to them, which callers turn into one of these or into a step error.)

use std::time::Duration;

/// Anything that can go wrong while provisioning a machine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The machine description itself is unusable (bad base64, missing credentials, ...).
    #[error("invalid machine: {0}")]
    InvalidTarget(String),
    /// No TCP connection (or proxy hop) could be made.
    #[error("cannot connect to {addr}: {detail}")]
    Connect { addr: String, detail: String },
    /// Something did not finish in time.
    #[error("{what} timed out after {}s", after.as_secs_f64())]
    Timeout { what: String, after: Duration },
    /// The server presented a host key the policy refuses.
    #[error("host key of {addr} rejected: {detail}")]
    HostKey { addr: String, detail: String },
    /// The private key could not be read or decrypted.
    #[error("private key for {target} cannot be used: {detail}")]
    Key { target: String, detail: String },
    /// The server refused every credential we had.
    #[error(
        "authentication of {target} failed: the server refused {tried} (it accepts: {accepts}); check the username, password or private key"
    )]
    Auth { target: String, tried: String, accepts: String },
    /// A protocol-level SSH failure after login.
    #[error("ssh session with {target}: {detail}")]
    Ssh { target: String, detail: String },
    /// The login user is neither root nor allowed to use sudo.
    #[error(
        "user {user} on {host} must be root or set sudo without password (or give the machine's password for sudo): {detail}"
    )]
    NotPrivileged { user: String, host: String, detail: String },
    /// A remote command exited unsuccessfully.
    #[error("command `{command}` on {host} failed with {status}: {stderr}")]
    Command { host: String, command: String, status: String, stderr: String },
    /// A step needs programs the machine does not have.
    #[error("{host} lacks {missing}: {hint}")]
    MissingBinary { host: String, missing: String, hint: String },
    /// A copied file did not arrive intact.
    #[error("copy to {host}:{path} failed: {detail}")]
    Copy { host: String, path: String, detail: String },
    /// The offline bundle is missing something or is corrupt.
    #[error("offline bundle {dir}: {detail}")]
    Bundle { dir: String, detail: String },
    /// A local file could not be read.
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { what: what.into(), source }
    }

    /// Whether retrying the same step later may succeed without a person changing anything
    /// (network trouble, timeouts), as opposed to wrong credentials or a corrupt bundle.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Connect { .. } | Error::Timeout { .. } | Error::Ssh { .. })
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
