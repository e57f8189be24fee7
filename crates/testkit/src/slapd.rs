//! Starts a real OpenLDAP server (Debian's `slapd`) for tests: a fresh directory under
//! `dc=example,dc=org` loaded with the caller's LDIF (by `slapadd`, so 100,000 entries load in
//! seconds), on a free loopback port, with the ACLs a production directory has (passwords
//! usable for binds only). Killed on drop; many may run in parallel.

use std::{
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// The directory's suffix.
pub const BASE_DN: &str = "dc=example,dc=org";
/// The directory manager, who may read and search everything.
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=org";
/// The directory manager's password.
pub const ADMIN_PASSWORD: &str = "directory-manager-secret";

const START_DEADLINE: Duration = Duration::from_secs(20);
const START_ATTEMPTS: usize = 5;

/// The binary, or `SLAPD_BIN`.
fn sbin(name: &str, env: &str) -> PathBuf {
    std::env::var_os(env).map(PathBuf::from).unwrap_or_else(|| Path::new("/usr/sbin").join(name))
}

/// A running slapd.
pub struct Slapd {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Slapd {
    /// Starts slapd with the suffix entry, `ou=people` and `ou=groups`, then `ldif` (entries
    /// separated by blank lines, as `slapadd` reads them).
    pub fn start(ldif: &str) -> Slapd {
        let slapd = sbin("slapd", "SLAPD_BIN");
        if !slapd.exists() {
            panic!("slapd is not installed at {}: run scripts/setup --test (or set SLAPD_BIN)", slapd.display());
        }
        let mut dir = tempfile::Builder::new().prefix("slapd-test-").tempdir().expect("temp dir for slapd");
        let conf = dir.path().join("slapd.conf");
        std::fs::create_dir_all(dir.path().join("data")).expect("slapd data dir");
        std::fs::write(&conf, config(dir.path())).expect("write slapd.conf");
        let all = format!("{}\n{ldif}\n", base_entries());
        let ldif_path = dir.path().join("init.ldif");
        std::fs::write(&ldif_path, all).expect("write the LDIF");
        let out = Command::new(sbin("slapadd", "SLAPADD_BIN"))
            .arg("-f")
            .arg(&conf)
            .arg("-l")
            .arg(&ldif_path)
            .arg("-q")
            .output()
            .expect("run slapadd");
        assert!(out.status.success(), "slapadd failed: {}", String::from_utf8_lossy(&out.stderr));

        let mut last_log = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
            let log = std::fs::File::create(dir.path().join("slapd.log")).expect("slapd log");
            let child = Command::new(&slapd)
                .arg("-f")
                .arg(&conf)
                .arg("-h")
                .arg(format!("ldap://127.0.0.1:{port}/"))
                // -d keeps slapd in the foreground (so it dies with its Child), logging to stderr.
                .arg("-d")
                .arg("0")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", slapd.display()));
            let mut running = Slapd { child, dir, port };
            let deadline = Instant::now() + START_DEADLINE;
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return running;
                }
                if let Ok(Some(_)) = running.child.try_wait() {
                    last_log = running.log();
                    break;
                }
                if Instant::now() > deadline {
                    panic!("slapd did not listen within {START_DEADLINE:?}; its log:\n{}", running.log());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            // The port was taken between choosing and binding: try another one.
            let _ = running.child.wait();
            dir = std::mem::replace(&mut running.dir, tempfile::tempdir().expect("temp dir"));
        }
        panic!("slapd did not start after {START_ATTEMPTS} attempts; its last log:\n{last_log}");
    }

    /// `ldap://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:PORT`, as dex's LDAP connector's `host`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What slapd logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default()
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An `inetOrgPerson` under `ou=people` whose `userPassword` is `password` (slapd hashes
/// nothing on `slapadd`; it compares the stored value on bind).
pub fn person(uid: &str, display_name: &str, mail: &str, password: &str) -> String {
    let sn = display_name.rsplit(' ').next().unwrap_or(uid);
    format!(
        "dn: uid={uid},ou=people,{BASE_DN}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {display_name}\nsn: {sn}\nmail: {mail}\nuserPassword: {password}\n"
    )
}

/// A `groupOfNames` under `ou=groups` with `members` (uids under `ou=people`).
pub fn group(cn: &str, description: &str, members: &[&str]) -> String {
    let mut entry = format!("dn: cn={cn},ou=groups,{BASE_DN}\nobjectClass: groupOfNames\ncn: {cn}\n");
    if !description.is_empty() {
        entry.push_str(&format!("description: {description}\n"));
    }
    for m in members {
        entry.push_str(&format!("member: uid={m},ou=people,{BASE_DN}\n"));
    }
    entry
}

fn base_entries() -> String {
    format!(
        "dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
         dn: ou=people,{BASE_DN}\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: ou=groups,{BASE_DN}\nobjectClass: organizationalUnit\nou: groups\n"
    )
}

fn config(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
sizelimit 1000
database mdb
maxsize 4294967296
suffix "{BASE_DN}"
rootdn "{ADMIN_DN}"
rootpw {ADMIN_PASSWORD}
directory {d}/data
index objectClass eq
index uid,cn,mail eq,sub
index member eq
access to attrs=userPassword by anonymous auth by self write by * none
access to * by users read by * none
"#
    )
}
