//! Starts a real etcd (`/usr/bin/etcd`) for tests: free loopback ports, a fresh data directory,
//! optional TLS; waits until it is healthy and kills it on drop. Many may run in parallel.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

/// The etcd binary, or `ETCD_BIN`.
fn etcd_binary() -> PathBuf {
    std::env::var_os("ETCD_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/bin/etcd"))
}

/// How long etcd may take to become healthy.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// Attempts, because a free port found by binding may be taken by a parallel test before etcd
/// binds it.
const START_ATTEMPTS: usize = 5;

/// Certificates for an etcd that serves clients over TLS and requires client certificates
/// signed by `client_ca_file`.
#[derive(Clone, Debug)]
pub struct EtcdServerTls {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub client_ca_file: PathBuf,
}

/// etcd exited before it became healthy (typically: a port taken by a parallel test).
#[derive(Debug, thiserror::Error)]
#[error("etcd exited with {status}:\n{log}")]
struct EtcdExited {
    status: ExitStatus,
    /// What etcd logged.
    log: String,
}

/// A running etcd.
pub struct Etcd {
    child: Child,
    dir: tempfile::TempDir,
    client_url: String,
}

impl Etcd {
    /// Starts etcd serving plain HTTP on a free loopback port.
    pub fn start() -> Etcd {
        Self::start_inner(None)
    }

    /// Starts etcd serving clients over TLS with `tls` (client certificates required).
    pub fn start_tls(tls: EtcdServerTls) -> Etcd {
        Self::start_inner(Some(tls))
    }

    fn start_inner(tls: Option<EtcdServerTls>) -> Etcd {
        let binary = etcd_binary();
        if !binary.exists() {
            panic!("etcd is not installed at {}: run scripts/setup --test (or set ETCD_BIN)", binary.display());
        }
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            match Self::try_start(&binary, tls.as_ref()) {
                Ok(etcd) => return etcd,
                Err(e) => last = Some(e),
            }
        }
        let last_log = last.map(|e| e.to_string()).unwrap_or_default();
        panic!("etcd did not start after {START_ATTEMPTS} attempts; its last log:\n{last_log}");
    }

    /// One start on freshly chosen ports. Err carries etcd's log when it exited early.
    fn try_start(binary: &Path, tls: Option<&EtcdServerTls>) -> Result<Etcd, EtcdExited> {
        let dir = tempfile::Builder::new().prefix("etcd-test-").tempdir().expect("temp dir for etcd");
        let [client, peer, metrics] = free_ports();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let client_url = format!("{scheme}://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let log_path = dir.path().join("etcd.log");
        let log = std::fs::File::create(&log_path).expect("etcd log file");
        let mut cmd = Command::new(binary);
        cmd.arg("--name")
            .arg("test")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--listen-client-urls")
            .arg(&client_url)
            .arg("--advertise-client-urls")
            .arg(&client_url)
            .arg("--listen-peer-urls")
            .arg(&peer_url)
            .arg("--initial-advertise-peer-urls")
            .arg(&peer_url)
            .arg("--initial-cluster")
            .arg(format!("test={peer_url}"))
            // Health is polled over plain HTTP here, also when clients must use TLS.
            .arg("--listen-metrics-urls")
            .arg(format!("http://127.0.0.1:{metrics}"))
            .arg("--logger")
            .arg("zap")
            .arg("--log-outputs")
            .arg("stderr")
            // Frequent progress notifications keep watch tests short.
            .arg("--experimental-watch-progress-notify-interval")
            .arg("1s");
        if let Some(tls) = tls {
            cmd.arg("--cert-file")
                .arg(&tls.cert_file)
                .arg("--key-file")
                .arg(&tls.key_file)
                .arg("--client-cert-auth")
                .arg("--trusted-ca-file")
                .arg(&tls.client_ca_file);
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut etcd = Etcd { child, dir, client_url };
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if healthy(metrics) {
                return Ok(etcd);
            }
            if let Ok(Some(status)) = etcd.child.try_wait() {
                return Err(EtcdExited { status, log: etcd.log() });
            }
            if Instant::now() > deadline {
                panic!("etcd not healthy within {START_DEADLINE:?}; its log:\n{}", etcd.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The client URLs to connect to.
    pub fn endpoints(&self) -> Vec<String> {
        vec![self.client_url.clone()]
    }

    /// What etcd logged so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default()
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three distinct free loopback ports (all held while choosing, so they differ).
fn free_ports() -> [u16; 3] {
    let listeners: Vec<TcpListener> =
        (0..3).map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a loopback port")).collect();
    let port = |i: usize| listeners[i].local_addr().expect("local addr").port();
    [port(0), port(1), port(2)]
}

/// Asks etcd's `/health` on the metrics listener; true once it reports healthy.
fn healthy(metrics_port: u16) -> bool {
    let Ok(mut conn) = TcpStream::connect_timeout(&([127, 0, 0, 1], metrics_port).into(), Duration::from_millis(500))
    else {
        return false;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    if conn.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer);
    answer.replace(' ', "").contains("\"health\":\"true\"")
}
