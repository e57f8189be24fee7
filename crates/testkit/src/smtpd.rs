//! Starts a real SMTP server for tests: Debian's aiosmtpd (package `python3-aiosmtpd`) with its
//! Mailbox handler, on a free loopback port, writing every mail it receives into a maildir the
//! test reads (a count of files, the raw messages, or the messages decoded). Run by Debian's
//! `/usr/bin/python3`: a `python3` first on PATH (pyenv) may lack the package. Killed on drop.

use std::{
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::Value;

use crate::tke::wait_for;

/// The Python that has Debian's aiosmtpd (`PYTHON3_BIN` overrides it).
pub fn python() -> PathBuf {
    std::env::var_os("PYTHON3_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/bin/python3"))
}

/// Decodes a maildir into JSON (see the script's docstring).
const READ_MAIL: &str = include_str!("../python/read_mail.py");

/// A running aiosmtpd.
pub struct Smtpd {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Smtpd {
    /// Starts the server and waits until it accepts connections.
    pub fn start() -> Smtpd {
        let dir = tempfile::Builder::new().prefix("smtpd-test-").tempdir().expect("temp dir for the maildir");
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let child = Command::new(python())
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.path().join("mail"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Debian's python3-aiosmtpd must be installed (scripts/setup --test)");
        let smtpd = Smtpd { child, port, dir };
        wait_for("aiosmtpd to listen", Duration::from_secs(30), || TcpStream::connect(("127.0.0.1", port)).ok());
        smtpd
    }

    /// The port it listens on (127.0.0.1, no TLS, no authentication).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The maildir it writes into.
    pub fn maildir(&self) -> PathBuf {
        self.dir.path().join("mail")
    }

    fn new_dir(&self) -> PathBuf {
        self.maildir().join("new")
    }

    /// How many mails arrived (cheap: the files in the maildir).
    pub fn count(&self) -> usize {
        std::fs::read_dir(self.new_dir()).map(|d| d.count()).unwrap_or(0)
    }

    /// Every mail received, as received (headers and encoded body).
    pub fn raw(&self) -> Vec<String> {
        std::fs::read_dir(self.new_dir())
            .map(|d| d.flatten().filter_map(|e| std::fs::read_to_string(e.path()).ok()).collect())
            .unwrap_or_default()
    }

    /// Every mail received, decoded: `{to, from, subject, body, messageId}` each.
    pub fn mails(&self) -> Vec<Value> {
        if !self.new_dir().exists() {
            return vec![];
        }
        decode(&self.maildir())
    }
}

fn decode(maildir: &Path) -> Vec<Value> {
    let out = Command::new(python()).arg("-c").arg(READ_MAIL).arg(maildir).output().expect("run python3");
    assert!(out.status.success(), "reading the maildir: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("the mails as JSON")
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
