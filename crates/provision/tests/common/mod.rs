//! Test harness running a REAL OpenSSH server: its own `/usr/sbin/sshd -D -f <generated config>`
//! with a generated host key on a loopback port (or inside a network namespace that is only
//! reachable through a second sshd acting as jump host), and a throw-away login user with a
//! password, passphrase-protected ed25519 and RSA keys, and optionally sudo rights. Everything
//! is removed again by Drop guards.

#![allow(dead_code)]

pub mod e2e;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const SSHD: &str = "/usr/sbin/sshd";

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique() -> String {
    format!("{}{}", std::process::id() % 100_000, COUNTER.fetch_add(1, Ordering::SeqCst))
}

/// Why real-sshd tests cannot run here, if they cannot.
pub fn unavailable() -> Option<String> {
    if !Path::new(SSHD).exists() {
        return Some(format!("{SSHD} is missing (install Debian's openssh-server)"));
    }
    if !is_root() {
        return Some("not running as root: cannot create a test user for sshd".into());
    }
    for tool in ["ssh-keygen", "useradd", "chpasswd"] {
        if !on_path(tool) {
            return Some(format!("{tool} is missing"));
        }
    }
    None
}

/// Returns early from a test with a visible message when sshd tests cannot run.
#[macro_export]
macro_rules! need_sshd {
    () => {
        if let Some(why) = common::unavailable() {
            eprintln!("SKIPPED (real sshd): {why}");
            return;
        }
    };
}

pub fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

pub fn on_path(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("{cmd:?}: {} {}", out.status, String::from_utf8_lossy(&out.stderr)))
    }
}

/// Runs a command that edits /etc/passwd, retrying while another test process holds the lock.
fn run_locked(args: &[&str], stdin: Option<&str>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut cmd = Command::new(args[0]);
        cmd.args(&args[1..]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{args:?}: {e}"));
        if let Some(input) = stdin {
            use std::io::Write;
            child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
        }
        let out = child.wait_with_output().expect("wait");
        if out.status.success() {
            return;
        }
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(Instant::now() < deadline && err.contains("lock"), "{args:?} failed: {err}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How the test user may become root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sudo {
    None,
    WithPassword,
    NoPassword,
}

/// A login user that exists for one test.
pub struct TestUser {
    pub name: String,
    pub password: String,
    pub home: PathBuf,
    /// Passphrase-protected ed25519 private key (OpenSSH format).
    pub key: String,
    /// Passphrase-protected RSA private key.
    pub rsa_key: String,
    pub passphrase: String,
    /// Unprotected key, for tools like `ssh -D` in tests.
    pub plain_key_path: PathBuf,
    sudoers: Option<PathBuf>,
    _keys: tempfile::TempDir,
}

impl TestUser {
    pub fn create(sudo: Sudo) -> TestUser {
        let name = format!("tkp{}", unique());
        let password = format!("pw-{name}-Secret!");
        run_locked(&["useradd", "-m", "-s", "/bin/bash", &name], None);
        run_locked(&["chpasswd"], Some(&format!("{name}:{password}\n")));
        let home = PathBuf::from(format!("/home/{name}"));
        let keys = tempfile::tempdir().expect("tempdir");
        let passphrase = "correct horse battery".to_string();
        let keygen = |kind: &str, file: &str, pass: &str| {
            let path = keys.path().join(file);
            let mut cmd = Command::new("ssh-keygen");
            cmd.args(["-q", "-t", kind, "-N", pass, "-C", "tke-provision-test", "-f"]).arg(&path);
            if kind == "rsa" {
                cmd.args(["-b", "2048"]);
            }
            run(&mut cmd).expect("ssh-keygen");
            path
        };
        let ed = keygen("ed25519", "id_ed25519", &passphrase);
        let rsa = keygen("rsa", "id_rsa", &passphrase);
        let plain = keygen("ed25519", "id_plain", "");
        let mut authorized = String::new();
        for k in [&ed, &rsa, &plain] {
            authorized.push_str(&std::fs::read_to_string(k.with_extension("pub")).expect("pub key"));
        }
        let ssh_dir = home.join(".ssh");
        std::fs::create_dir_all(&ssh_dir).expect("mkdir .ssh");
        std::fs::write(ssh_dir.join("authorized_keys"), authorized).expect("authorized_keys");
        run(Command::new("chown").args(["-R", &format!("{name}:{name}")]).arg(&ssh_dir)).expect("chown");
        let sudoers = match sudo {
            Sudo::None => None,
            Sudo::WithPassword | Sudo::NoPassword => {
                let path = PathBuf::from(format!("/etc/sudoers.d/{name}"));
                let rule = if sudo == Sudo::NoPassword { "NOPASSWD: " } else { "" };
                std::fs::write(&path, format!("{name} ALL=(ALL:ALL) {rule}ALL\n")).expect("sudoers");
                run(Command::new("chmod").arg("0440").arg(&path)).expect("chmod sudoers");
                Some(path)
            }
        };
        TestUser {
            key: std::fs::read_to_string(&ed).expect("key"),
            rsa_key: std::fs::read_to_string(&rsa).expect("key"),
            plain_key_path: plain,
            name,
            password,
            home,
            passphrase,
            sudoers,
            _keys: keys,
        }
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        if let Some(s) = &self.sudoers {
            let _ = std::fs::remove_file(s);
        }
        // Processes of the user (sessions still closing) would make userdel refuse.
        let _ = Command::new("pkill").args(["-KILL", "-u", &self.name]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ok = Command::new("userdel")
                .args(["-r", "-f", &self.name])
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A network namespace with its own address, joined to the host by a veth pair.
pub struct Netns {
    pub name: String,
    pub host_ip: String,
    pub ns_ip: String,
}

impl Netns {
    /// `None` (with the reason printed) where namespaces cannot be made.
    pub fn create() -> Option<Netns> {
        if !on_path("ip") {
            eprintln!("network namespaces unavailable: iproute2 missing; using loopback ports");
            return None;
        }
        let id = unique();
        let name = format!("tkp{id}");
        let n: u32 = std::process::id() % 250;
        let m: u32 = (COUNTER.fetch_add(1, Ordering::SeqCst) % 60) * 4;
        let host_ip = format!("10.251.{n}.{}", m + 1);
        let ns_ip = format!("10.251.{n}.{}", m + 2);
        let (vh, vn) = (format!("vh{id}"), format!("vn{id}"));
        let steps: Vec<Vec<String>> = vec![
            vec!["ip", "netns", "add", &name],
            vec!["ip", "link", "add", &vh, "type", "veth", "peer", "name", &vn],
            vec!["ip", "link", "set", &vn, "netns", &name],
            vec!["ip", "addr", "add", &format!("{host_ip}/30"), "dev", &vh],
            vec!["ip", "link", "set", &vh, "up"],
            vec!["ip", "netns", "exec", &name, "ip", "addr", "add", &format!("{ns_ip}/30"), "dev", &vn],
            vec!["ip", "netns", "exec", &name, "ip", "link", "set", &vn, "up"],
            vec!["ip", "netns", "exec", &name, "ip", "link", "set", "lo", "up"],
        ]
        .into_iter()
        .map(|v| v.into_iter().map(String::from).collect())
        .collect();
        let ns = Netns { name, host_ip, ns_ip };
        for s in steps {
            if let Err(e) = run(Command::new(&s[0]).args(&s[1..])) {
                eprintln!("network namespaces unavailable ({e}); using loopback ports");
                return None; // Drop removes what was made.
            }
        }
        Some(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace also deletes both ends of the veth pair.
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// A running sshd.
pub struct Sshd {
    child: Child,
    pub host: String,
    pub port: u16,
    pub log: PathBuf,
    dir: tempfile::TempDir,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

impl Sshd {
    /// Starts sshd listening on `host` (a free port picked here) for the given users,
    /// inside `netns` if given.
    pub fn start(host: &str, netns: Option<&Netns>, users: &[&str]) -> Sshd {
        std::fs::create_dir_all("/run/sshd").expect("privilege separation dir /run/sshd");
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("host_ed25519");
        run(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(&key)).expect("host key");
        // Ports are free in a fresh namespace; on the host, ask the kernel for one.
        let port = free_port();
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress {host}\nHostKey {}\nPidFile {}\nAuthorizedKeysFile .ssh/authorized_keys\n\
                 PasswordAuthentication yes\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\nUsePAM no\n\
                 StrictModes no\nPermitRootLogin no\nAllowTcpForwarding yes\nAllowUsers {}\nMaxStartups 100\nMaxSessions 100\nLogLevel VERBOSE\n",
                key.display(),
                dir.path().join("sshd.pid").display(),
                users.join(" ")
            ),
        )
        .expect("sshd_config");
        let log = dir.path().join("sshd.log");
        let logf = std::fs::File::create(&log).expect("log");
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", &ns.name, SSHD]);
                c
            }
            None => Command::new(SSHD),
        };
        let child = cmd
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(logf)
            .spawn()
            .expect("spawn sshd");
        let mut sshd = Sshd { child, host: host.to_string(), port, log, dir };
        sshd.wait_listening();
        sshd
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if text.contains("Server listening on") {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("sshd exited with {status}: {text}");
            }
            assert!(Instant::now() < deadline, "sshd did not start listening within 20s: {text}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The fingerprint of the host key, as `ssh-keygen -lf` prints it.
    pub fn fingerprint(&self) -> String {
        let out = run(Command::new("ssh-keygen")
            .args(["-l", "-E", "sha256", "-f"])
            .arg(self.dir.path().join("host_ed25519.pub")))
        .expect("fingerprint");
        out.split_whitespace().nth(1).unwrap_or_default().to_string()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test user and an sshd on loopback that lets them in.
pub struct Host {
    pub sshd: Sshd,
    pub user: TestUser,
}

impl Host {
    pub fn start(sudo: Sudo) -> Host {
        let user = TestUser::create(sudo);
        let sshd = Sshd::start("127.0.0.1", None, &[&user.name]);
        Host { sshd, user }
    }

    pub fn password_target(&self) -> provision::Target {
        provision::Target::password(&self.sshd.host, self.sshd.port, &self.user.name, &self.user.password)
    }

    pub fn key_target(&self) -> provision::Target {
        provision::Target::key(
            &self.sshd.host,
            self.sshd.port,
            &self.user.name,
            &self.user.key,
            Some(self.user.passphrase.clone()),
        )
    }

    /// Key login that also carries the password, for `sudo -S`.
    pub fn full_target(&self) -> provision::Target {
        let mut t = self.key_target();
        t.credentials.password = Some(self.user.password.clone());
        t
    }
}

pub fn options() -> provision::SshOptions {
    provision::SshOptions {
        connect_timeout: Duration::from_secs(20),
        command_timeout: Duration::from_secs(120),
        ..Default::default()
    }
}
