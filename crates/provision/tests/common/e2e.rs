//! What the Baremetal end-to-end tests share: waiting on the platform API, an offline bundle of
//! fake binaries (each logs its call to `calls.log` at the root of the prefix it was installed
//! into), and provider options for a small test host installing into a prefix.

use std::{future::Future, path::Path, time::Duration};

use base64::Engine as _;
use kube::{
    Api, Client,
    api::{ApiResource, DynamicObject, GroupVersionKind},
};
use provision::{baremetal::BaremetalOptions, bundle, checks::CheckConfig, install::InstallOptions};
use serde_json::{Value, json};

/// How long any one awaited state may take.
pub const DEADLINE: Duration = Duration::from_secs(45);

/// Waits for `check` to give a value, failing the test after [`DEADLINE`].
pub async fn wait_until<T, Fut: Future<Output = Option<T>>>(what: &str, check: impl FnMut() -> Fut) -> T {
    testkit::wait_until(what, DEADLINE, check).await
}

/// The Kubernetes architecture of this host when the e2e harness can run here (the fake kubeadm
/// needs curl), with rustls' provider installed; `None` after saying why the test is skipped.
pub fn ready() -> Option<&'static str> {
    let Some(arch) = provision::checks::kube_arch(std::env::consts::ARCH) else {
        eprintln!("SKIPPED: no Kubernetes architecture for {}", std::env::consts::ARCH);
        return None;
    };
    if !super::on_path("curl") {
        eprintln!("SKIPPED: the fake kubeadm needs curl");
        return None;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    Some(arch)
}

pub fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

pub fn platform_api(client: &Client, kind: &str, plural: &str) -> Api<DynamicObject> {
    Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("platform.tkestack.io", "v1", kind), plural),
    )
}

pub async fn get(api: &Api<DynamicObject>, name: &str) -> Option<Value> {
    api.get_opt(name).await.expect("get").map(|o| serde_json::to_value(o).expect("json"))
}

pub fn condition<'a>(o: &'a Value, type_: &str) -> Option<&'a Value> {
    o["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == type_)
}

pub fn condition_types(o: &Value) -> Vec<String> {
    o["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["type"].as_str().map(str::to_string))
        .collect()
}

/// Any fake binary but kubeadm: logs its call (crictl quietly: its output is parsed).
pub fn fake_bin(name: &str) -> String {
    let say = if name == "crictl" { String::new() } else { format!("echo \"fake {name} $*\"\n") };
    format!("#!/bin/sh\n{say}echo \"{name} $*\" >> \"${{0%/usr/*}}/calls.log\"\n")
}

/// An offline bundle with one release per `(kubernetes version, kubeadm script)`.
pub fn build_bundle(dir: &Path, arch: &str, releases: &[(&str, String)]) {
    let put = |rel: &str, data: &[u8]| {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, data).expect("write");
    };
    for (k8s, kubeadm) in releases {
        for b in bundle::KUBERNETES_FILES {
            let body = if *b == "kubeadm" { kubeadm.clone() } else { fake_bin(b) };
            put(&format!("kubernetes/{k8s}/{arch}/{b}"), body.as_bytes());
        }
        put(&format!("images/{k8s}/{arch}/pause.tar"), format!("pause image of {k8s}").as_bytes());
    }
    for b in bundle::CONTAINERD_FILES {
        put(&format!("containerd/1.7.18/{arch}/{b}"), fake_bin(b).as_bytes());
    }
    for b in bundle::CNI_FILES {
        put(&format!("cni/1.5.1/{arch}/{b}"), fake_bin(b).as_bytes());
    }
    put(&format!("crictl/1.30.0/{arch}/crictl"), fake_bin("crictl").as_bytes());
    let list: Vec<Value> = releases.iter().map(|(k8s, _)| json!({"kubernetes": k8s, "containerd": "1.7.18", "cni": "1.5.1", "crictl": "1.30.0", "architectures": [arch]})).collect();
    put("manifest.json", json!({"schemaVersion": 1, "releases": list}).to_string().as_bytes());
    bundle::write_sums(dir).expect("sums");
}

/// Puts a bundle binary into an install prefix, as an administrator installing by hand would.
pub fn preinstall(bundle_dir: &Path, rel: &str, root: &Path, dest: &str) {
    use std::os::unix::fs::PermissionsExt;
    let to = root.join(dest.trim_start_matches('/'));
    std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
    std::fs::copy(bundle_dir.join(rel), &to).expect("copy");
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Checks that pass on a small test host; what they check is covered by the checks tests.
pub fn lenient_checks() -> CheckConfig {
    CheckConfig {
        min_cpus: 1,
        min_memory_bytes: 1 << 20,
        disks: vec![],
        max_clock_skew: Duration::from_secs(60),
        allowed_os: vec![],
        kernel_modules: vec![],
        ports: vec![],
        cidrs: vec![],
        ..CheckConfig::default()
    }
}

/// Provider options installing into `root` (no services managed), with short waits.
pub fn options(bundle_dir: &Path, root: &Path) -> BaremetalOptions {
    let mut o = BaremetalOptions::new(bundle_dir);
    o.install = InstallOptions {
        root: root.to_str().expect("utf-8 path").to_string(),
        manage_system: false,
        timeout: Duration::from_secs(60),
    };
    o.master_checks = lenient_checks();
    o.worker_checks = lenient_checks();
    o.ssh = super::options();
    o.node_ready_timeout = Duration::from_secs(10);
    o.drain_timeout = Duration::from_secs(20);
    o.hook_timeout = Duration::from_secs(20);
    o
}

pub async fn client_of(kubeconfig: &Path) -> Client {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.expect("config");
    Client::try_from(config).expect("client")
}
