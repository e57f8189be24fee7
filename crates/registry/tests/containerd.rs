//! A real containerd pulls from the registry: Debian's `containerd` (1.6) started by the test
//! with its own configuration, state and socket in a temporary directory, and its `ctr` pulling
//! and unpacking an image over TLS (the registry's CA trusted through a hosts directory) with
//! token authentication, as it does against `tke up`.
//!
//! Skipped, with a message, where containerd is not installed, except in CI (`CI` set), where it
//! must run (`scripts/setup --test` installs it). containerd runs as root.

mod common;

use common::*;
use registry::{AuthConfig, Config, Registry, Tenancy};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CONTAINERD: &str = "/usr/bin/containerd";
const CTR: &str = "/usr/bin/ctr";
const NAMESPACE: &str = "tke-test";

/// A containerd of the test's own; killed (and waited for) when dropped.
struct Containerd {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
}

impl Containerd {
    /// Starts containerd on `dir`: root, state, sockets and log all inside it; only the plugins
    /// a pull needs (no CRI, no snapshotters that need their own file systems, no `opt`, which
    /// installs into /opt).
    fn start(dir: &Path) -> Containerd {
        let socket = dir.join("containerd.sock");
        let config = dir.join("config.toml");
        let d = dir.display();
        std::fs::write(
            &config,
            format!(
                r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]

[grpc]
  address = "{d}/containerd.sock"

[ttrpc]
  address = "{d}/containerd.sock.ttrpc"

[debug]
  address = "{d}/debug.sock"
  level = "info"

[metrics]
  address = ""
"#
            ),
        )
        .expect("write config.toml");
        let log = dir.join("containerd.log");
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(CONTAINERD)
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start containerd");
        Containerd { child, socket, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs `ctr` against this containerd: (success, stdout, stderr).
    async fn ctr(&self, args: &[&str]) -> (bool, String, String) {
        let out = tokio::process::Command::new(CTR)
            .arg("--address")
            .arg(&self.socket)
            .args(["--namespace", NAMESPACE])
            .args(args)
            // The registry is local: no proxy from the environment.
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .stdin(Stdio::null())
            .output()
            .await
            .expect("run ctr");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `ctr args`, which must succeed; its output.
    async fn ctr_ok(&self, args: &[&str]) -> String {
        let (ok, stdout, stderr) = self.ctr(args).await;
        assert!(ok, "ctr {args:?} failed:\n{stdout}\n{stderr}\n--- containerd log:\n{}", self.log());
        stdout
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether containerd can be used here; panics in CI when it is missing.
fn containerd_installed() -> bool {
    let installed = Path::new(CONTAINERD).exists() && Path::new(CTR).exists();
    if !installed {
        assert!(
            std::env::var_os("CI").is_none(),
            "{CONTAINERD} and {CTR} are required in CI (Debian package containerd; scripts/setup --test)"
        );
        eprintln!("SKIPPED: {CONTAINERD} or {CTR} not installed (apt-get install containerd); this test runs in CI");
    }
    installed
}

/// The host's architecture as OCI names it.
fn oci_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        other => panic!("no OCI name for architecture {other}"),
    }
}

/// A one-layer image for this machine: (gzipped layer, its uncompressed digest, config).
fn image() -> (Vec<u8>, String, String) {
    let mut tar = tar::Builder::new(Vec::new());
    let content = b"hello from the tke-rs registry\n";
    let mut h = tar::Header::new_gnu();
    h.set_path("hello.txt").expect("path");
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    tar.append(&h, &content[..]).expect("tar entry");
    let raw = tar.into_inner().expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &raw).expect("gzip");
    let layer = gz.finish().expect("gzip");
    let diff_id = sha256(&raw);
    let config = json!({
        "architecture": oci_arch(), "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    })
    .to_string();
    (layer, diff_id, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containerd_pulls_an_image_over_tls_with_token_auth() {
    if !containerd_installed() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");

    // The registry as `tke up` has it: one administrator, tenancy without a domain.
    let hash = registry::auth::hash_password(PASSWORD).expect("hash");
    let mut config = Config::new(dir.path().join("registry"));
    config.auth = Some(AuthConfig::with_admin(ADMIN, &hash, vec!["library".into()]).expect("auth"));
    config.tenancy = Some(Tenancy::new(None));
    let registry = Registry::new(config).await.expect("registry");
    let server = serve_tls(registry.router(), dir.path(), &[]).await;
    let host = format!("127.0.0.1:{}", server.addr.port());
    let base = format!("https://{host}");

    // Push the image as the administrator.
    let ca = reqwest::Certificate::from_pem(server.ca_pem.as_bytes()).expect("CA");
    let anonymous =
        reqwest::Client::builder().use_rustls_tls().add_root_certificate(ca.clone()).build().expect("client");
    let r = anonymous
        .get(format!("{base}/registry/auth"))
        .query(&[("service", "tke"), ("scope", "repository:team/hello:pull,push")])
        .basic_auth(ADMIN, Some(PASSWORD))
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), 200);
    let token: serde_json::Value = r.json().await.expect("token JSON");
    let bearer = format!("Bearer {}", token["token"].as_str().expect("token"));
    let admin = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(ca)
        .default_headers([(reqwest::header::AUTHORIZATION, bearer.parse().expect("header"))].into_iter().collect())
        .build()
        .expect("client");
    let (layer, diff_id, image_config) = image();
    let gzip = "application/vnd.oci.image.layer.v1.tar+gzip";
    let layer_digest = sha256(&layer);
    let (_, manifest_digest) =
        push_manifest(&admin, &base, "team/hello", "v1", (&layer, gzip), image_config.as_bytes()).await;

    // containerd, trusting the registry's CA for this host only.
    let containerd = Containerd::start(dir.path());
    testkit::wait_until("containerd to answer on its socket", Duration::from_secs(30), || async {
        containerd.ctr(&["version"]).await.0.then_some(())
    })
    .await;
    let hosts_dir = dir.path().join("hosts.d");
    std::fs::create_dir_all(hosts_dir.join(&host)).expect("hosts dir");
    std::fs::write(
        hosts_dir.join(&host).join("hosts.toml"),
        // The CA both for the server and its one `[host]` (containerd 1.6 refuses a hosts.toml
        // without a `[host]` table, and tries the server after the hosts).
        format!(
            "server = \"{base}\"\nca = \"{ca}\"\n\n[host.\"{base}\"]\n  capabilities = [\"pull\", \"resolve\"]\n  ca = \"{ca}\"\n",
            ca = server.ca_file.display()
        ),
    )
    .expect("hosts.toml");
    let hosts_dir = hosts_dir.display().to_string();
    let reference = format!("{host}/team/hello:v1");

    // Without credentials the private repository is refused.
    let (ok, _, stderr) =
        containerd.ctr(&["images", "pull", "--hosts-dir", &hosts_dir, "--snapshotter", "native", &reference]).await;
    assert!(!ok, "an anonymous pull of a private repository must fail");
    assert!(stderr.contains("pull access denied"), "{stderr}");

    let user = format!("{ADMIN}:{PASSWORD}");
    let out = containerd
        .ctr_ok(&[
            "images",
            "pull",
            "--hosts-dir",
            &hosts_dir,
            "--user",
            &user,
            "--snapshotter",
            "native",
            "--print-chainid",
            &reference,
        ])
        .await;
    // One layer: its chain ID is its uncompressed digest.
    assert!(out.contains(&diff_id), "the image is unpacked into the layer it was built from:\n{out}");

    let images = containerd.ctr_ok(&["images", "ls"]).await;
    let line = images.lines().find(|l| l.starts_with(&reference)).unwrap_or_else(|| panic!("{reference} in\n{images}"));
    assert!(line.contains(&manifest_digest), "{line}");
    let check = containerd.ctr_ok(&["images", "check"]).await;
    assert!(check.lines().any(|l| l.starts_with(&reference) && l.contains("complete")), "{check}");
    let stored = tokio::process::Command::new(CTR)
        .arg("--address")
        .arg(&containerd.socket)
        .args(["--namespace", NAMESPACE, "content", "get", &layer_digest])
        .output()
        .await
        .expect("ctr content get");
    assert!(stored.status.success() && stored.stdout == layer, "containerd holds the layer byte for byte");
    let snapshots = containerd.ctr_ok(&["snapshots", "--snapshotter", "native", "ls"]).await;
    assert!(snapshots.lines().any(|l| l.starts_with(&diff_id) && l.contains("Committed")), "{snapshots}");
}
