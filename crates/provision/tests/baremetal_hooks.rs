//! Files, hooks and certificate renewal of Baremetal clusters and machines end to end, with the
//! harness of `baremetal.rs`: the real `tke up` API (its own cluster controllers off), the
//! platform controllers in this process with the Baremetal providers, a REAL sshd on this host
//! as master and worker (each installing into its own prefix), and an offline bundle of fake
//! binaries whose `kubeadm` points the new cluster at a simulated one.
//!
//! The user ships hook scripts and a data file with `spec.features.files` and names the scripts
//! in `spec.features.hooks`. The PreClusterInstall script fails ("disk not mounted", exit 3): the
//! cluster stops at that step saying which script failed, how, and what it printed; once the
//! script is fixed on the machine the cluster resumes there and becomes Running, the PreInstall
//! hook having run before the install steps and the PostInstall hooks after. A worker gets the
//! same files and node-level hooks (not the cluster-level ones). The housekeeping step leaves
//! fresh certificates alone, renews an expiring one and refreshes the ClusterCredential from the
//! renewed admin.conf. Deleting the cluster runs the delete hooks around the reset.

mod common;

use std::{os::unix::fs::PermissionsExt, path::Path, sync::Arc, time::Duration};

use common::{
    Host, Sudo,
    e2e::{b64, build_bundle, client_of, condition, condition_types, get, platform_api, wait_until},
};
use kube::{
    Client,
    api::{DynamicObject, PostParams},
};
use kubesim::{SimCluster, SimOptions};
use platform::{ControllerOptions, Controllers, HealthOptions, Provider};
use provision::{
    baremetal::{Baremetal, BaremetalMachine, BaremetalOptions},
    install,
};
use serde_json::{Value, json};
use testkit::tke::{Storage, Tke, tke_binary};

const NODE: &str = "127.0.0.1";
const K8S: &str = "1.30.2";

/// A self-signed certificate valid until `t` (midnight UTC of that day).
fn cert_until(t: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::Datelike;
    let mut params = rcgen::CertificateParams::new(vec!["kube-apiserver".to_string()]).expect("params");
    params.not_after = rcgen::date_time_ymd(t.year(), t.month() as u8, t.day() as u8);
    let key = rcgen::KeyPair::generate().expect("key");
    params.self_signed(&key).expect("cert").pem()
}

/// The fake kubeadm. `init phase certs` writes a fresh apiserver certificate, `init phase
/// control-plane` a static pod manifest, `init phase kubeconfig` the simulated cluster's admin
/// kubeconfig (client certificate); `certs renew all` writes `renewed_cert` and an admin.conf
/// whose identity is the simulated cluster's admin token; `join phase kubelet-start` registers a
/// Ready node through the simulated cluster's API.
fn fake_kubeadm(sim: &SimCluster, fresh_cert: &str, renewed_cert: &str) -> String {
    let kubeconfig = std::fs::read_to_string(sim.kubeconfig_path()).expect("sim kubeconfig");
    let (api, token) = (sim.url(), sim.admin_token());
    let renewed_conf = json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "admin",
        "clusters": [{"name": "k", "cluster": {"server": api, "certificate-authority-data": b64(sim.ca_pem())}}],
        "contexts": [{"name": "admin", "context": {"cluster": "k", "user": "admin"}}],
        "users": [{"name": "admin", "user": {"token": token}}],
    });
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE, "labels": {"kubernetes.io/hostname": NODE}}});
    let status = json!({"status": {
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
        "addresses": [{"type": "InternalIP", "address": NODE}],
        "nodeInfo": {"architecture": "amd64", "bootID": "b", "containerRuntimeVersion": "containerd://1.7.18", "kernelVersion": "6.1.0",
                     "kubeProxyVersion": "v1.30.2", "kubeletVersion": "v1.30.2", "machineID": "m", "operatingSystem": "linux",
                     "osImage": "Fake Linux", "systemUUID": "u"}}});
    let auth = format!("-H 'Authorization: Bearer {token}'");
    format!(
        r#"#!/bin/sh
root="${{0%/usr/bin/kubeadm}}"
echo "kubeadm $*" >> "$root/calls.log"
pki="$root/etc/kubernetes/pki"
case "$*" in
  "init phase certs"*)
    mkdir -p "$pki"
    cat > "$pki/apiserver.crt" <<'PEM'
{fresh_cert}PEM
    ;;
  "init phase control-plane"*)
    mkdir -p "$root/etc/kubernetes/manifests"
    echo "kind: Pod" > "$root/etc/kubernetes/manifests/kube-apiserver.yaml"
    ;;
  "init phase kubeconfig"*)
    mkdir -p "$root/etc/kubernetes"
    cat > "$root/etc/kubernetes/admin.conf" <<'KUBECONFIG'
{kubeconfig}
KUBECONFIG
    ;;
  "certs renew all"*)
    cat > "$pki/apiserver.crt" <<'PEM'
{renewed_cert}PEM
    cat > "$root/etc/kubernetes/admin.conf" <<'KUBECONFIG'
{renewed_conf}
KUBECONFIG
    ;;
  "join phase kubelet-start"*)
    curl -sk {auth} -H 'Content-Type: application/json' -X POST "{api}/api/v1/nodes" -d '{node}' >/dev/null
    curl -skf {auth} -H 'Content-Type: application/merge-patch+json' -X PATCH "{api}/api/v1/nodes/{NODE}/status" -d '{status}' >/dev/null || {{ echo "cannot report node status" >&2; exit 1; }}
    ;;
esac
"#
    )
}

/// The shared options, with every housekeeping pass looking at the certificates (production:
/// once an hour).
fn options(bundle_dir: &Path, root: &Path) -> BaremetalOptions {
    let mut o = common::e2e::options(bundle_dir, root);
    o.renew_check_interval = Duration::ZERO;
    o
}

/// A hook script appending `line` to `$TKE_INSTALL_ROOT/hooks.log`; `$have FILE` in `line`
/// expands to whether FILE (under the prefix) exists.
fn hook_script(line: &str) -> String {
    format!(
        "#!/bin/sh\nhave() {{ if [ -e \"$TKE_INSTALL_ROOT$1\" ]; then echo \"$1=present\"; else echo \"$1=absent\"; fi; }}\n\
         echo \"{line}\" >> \"$TKE_INSTALL_ROOT/hooks.log\"\necho \"hook $TKE_HOOK of $TKE_CLUSTER_NAME done\"\n"
    )
}

fn write_mode(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o7777
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn files_hooks_and_certificate_renewal_through_real_sshd() {
    need_sshd!();
    let Some(arch) = common::e2e::ready() else { return };
    let host = Host::start(Sudo::WithPassword);
    let mut sim_opts = SimOptions::default();
    sim_opts.config.nodes = 1;
    let sim = SimCluster::start(sim_opts).await.expect("simulated cluster");

    let now = chrono::Utc::now();
    let bundle_tmp = tempfile::tempdir().expect("tempdir");
    let bdir = bundle_tmp.path();
    build_bundle(
        bdir,
        arch,
        &[(
            K8S,
            fake_kubeadm(
                &sim,
                &cert_until(now + chrono::Duration::days(365)),
                &cert_until(now + chrono::Duration::days(730)),
            ),
        )],
    );
    let master_tmp = tempfile::tempdir().expect("tempdir");
    let worker_tmp = tempfile::tempdir().expect("tempdir");
    let (mroot, wroot) = (master_tmp.path(), worker_tmp.path());

    // What the user ships from the platform host.
    let src_tmp = tempfile::tempdir().expect("tempdir");
    let src = src_tmp.path();
    write_mode(
        &src.join("precluster.sh"),
        "#!/bin/sh\necho checking /data\necho 'disk not mounted' >&2\nexit 3\n",
        0o750,
    );
    write_mode(
        &src.join("pre.sh"),
        &hook_script("pre $TKE_HOOK $(have /etc/sysctl.d/99-tke.conf) $(have /etc/kubernetes/kubeadm-config.yaml)"),
        0o750,
    );
    write_mode(&src.join("post.sh"), &hook_script("post $TKE_HOOK $(have /etc/kubernetes/kubeadm-config.yaml)"), 0o750);
    write_mode(&src.join("postcluster.sh"), &hook_script("postcluster $(have /etc/kubernetes/admin.conf)"), 0o700);
    // Not executable: run through sh.
    write_mode(&src.join("predelete.sh"), &hook_script("predelete $(have /etc/kubernetes/admin.conf)"), 0o640);
    write_mode(&src.join("postdelete.sh"), &hook_script("postdelete $(have /etc/kubernetes/admin.conf)"), 0o700);
    write_mode(&src.join("data.conf"), "answer = 42\n", 0o640);
    let files: Vec<Value> = ["precluster.sh", "pre.sh", "post.sh", "postcluster.sh", "predelete.sh", "postdelete.sh"]
        .iter()
        .map(|f| json!({"src": src.join(f), "dst": format!("/opt/tke-hooks/{f}")}))
        .chain([json!({"src": src.join("data.conf"), "dst": "/etc/tke-test/data.conf"})])
        .collect();
    let hooks = json!({
        "PreClusterInstall": "/opt/tke-hooks/precluster.sh", "PreInstall": "/opt/tke-hooks/pre.sh", "PostInstall": "/opt/tke-hooks/post.sh",
        "PostClusterInstall": "/opt/tke-hooks/postcluster.sh", "PreClusterDelete": "/opt/tke-hooks/predelete.sh",
        "PostClusterDelete": "/opt/tke-hooks/postdelete.sh",
    });

    let tke = Arc::new(
        tokio::task::spawn_blocking(|| {
            Tke::start_with(
                tke_binary(),
                Storage::Embedded,
                &["--registry", "false", "--platform-controllers", "false"],
            )
        })
        .await
        .expect("tke starts"),
    );
    let platform = client_of(&tke.kubeconfig()).await;
    let cluster_provider = Baremetal::new(options(bdir, mroot));
    let step_names: Vec<String> = cluster_provider.create_steps().iter().map(|s| s.name.clone()).collect();
    let machine_provider = BaremetalMachine::new(options(bdir, wroot));
    let health = HealthOptions {
        period: Duration::from_secs(1),
        jitter: Duration::ZERO,
        probes: 2,
        probe_interval: Duration::from_millis(100),
        ..Default::default()
    };
    let controllers =
        Controllers::new(platform.clone(), ControllerOptions { concurrency: 4, health, leader_election: None })
            .with_provider(Arc::new(cluster_provider))
            .with_machine_provider(Arc::new(machine_provider));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let controllers = tokio::spawn(controllers.run(async move {
        let _ = stop_rx.await;
    }));
    let clusters = platform_api(&platform, "Cluster", "clusters");
    let creds = platform_api(&platform, "ClusterCredential", "clustercredentials");
    let machines = platform_api(&platform, "Machine", "machines");

    // The steps sit where the reference puts them.
    assert_eq!(
        step_names[..4],
        ["EnsureCopyFiles", "EnsurePreClusterInstallHook", "EnsurePreInstallHook", "EnsurePreflight"]
    );
    assert_eq!(
        step_names[step_names.len() - 3..],
        ["EnsureCreateClusterMark", "EnsurePostInstallHook", "EnsurePostClusterInstallHook"]
    );

    let machine =
        json!({"ip": NODE, "port": host.sshd.port, "username": host.user.name, "password": b64(&host.user.password)});
    let cluster: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "platform.tkestack.io/v1", "kind": "Cluster", "metadata": {"name": "cls-hooks"},
        "spec": {"type": "Baremetal", "version": K8S, "clusterCIDR": "10.244.0.0/16", "machines": [machine],
                 "features": {"files": files, "hooks": hooks}},
    }))
    .expect("cluster");
    clusters.create(&PostParams::default(), &cluster).await.expect("create cluster");

    // The PreClusterInstall hook fails: the condition says which script, how, and what it said.
    let failed = wait_until("the PreClusterInstall hook failing", || async {
        let c = get(&clusters, "cls-hooks").await?;
        (condition(&c, "EnsurePreClusterInstallHook")?["status"] == "False").then_some(c)
    })
    .await;
    let cond = condition(&failed, "EnsurePreClusterInstallHook").expect("condition");
    let msg = cond["message"].as_str().unwrap_or_default();
    assert_eq!(cond["reason"], "FailedInit", "{failed}");
    for part in ["/opt/tke-hooks/precluster.sh", "exit code 3", "disk not mounted", "checking /data", NODE] {
        assert!(msg.contains(part), "{part:?} missing from: {msg}");
    }
    assert_eq!(
        (failed["status"]["phase"].as_str(), failed["status"]["reason"].as_str()),
        (Some("Initializing"), Some("FailedInit"))
    );
    assert_eq!(
        condition_types(&failed),
        ["EnsureCopyFiles", "EnsurePreClusterInstallHook"],
        "nothing ran past the failed hook"
    );
    // The files arrived with their content and mode, under the prefix.
    assert_eq!(read(&mroot.join("etc/tke-test/data.conf")), "answer = 42\n");
    assert_eq!(mode_of(&mroot.join("etc/tke-test/data.conf")), 0o640);
    assert_eq!(mode_of(&mroot.join("opt/tke-hooks/pre.sh")), 0o750);
    assert_eq!(read(&mroot.join("opt/tke-hooks/pre.sh")), read(&src.join("pre.sh")));
    assert!(!mroot.join("hooks.log").exists(), "no hook ran yet: {}", read(&mroot.join("hooks.log")));

    // The administrator fixes the script on the machine: the cluster resumes at that step.
    write_mode(&mroot.join("opt/tke-hooks/precluster.sh"), &hook_script("precluster $TKE_HOOK"), 0o750);
    let running = wait_until("cls-hooks Running and healthy", || async {
        let c = get(&clusters, "cls-hooks").await?;
        (c["status"]["phase"] == "Running" && condition(&c, "HealthCheck")?["status"] == "True").then_some(c)
    })
    .await;
    for n in &step_names {
        assert_eq!(condition(&running, n).map(|c| c["status"].clone()), Some(json!("True")), "{n}: {running}");
    }
    assert_eq!(
        read(&mroot.join("hooks.log")),
        "precluster PreClusterInstall\n\
         pre PreInstall /etc/sysctl.d/99-tke.conf=absent /etc/kubernetes/kubeadm-config.yaml=absent\n\
         post PostInstall /etc/kubernetes/kubeadm-config.yaml=present\n\
         postcluster /etc/kubernetes/admin.conf=present\n",
        "each hook once, PreInstall before the install steps, PostInstall after"
    );

    // Housekeeping with a certificate valid for a year: looked at, nothing renewed.
    let pki = mroot.join("etc/kubernetes/pki");
    let not_after = |p: &Path| install::pem_not_after(&read(p)).expect("certificate");
    let fresh = not_after(&pki.join("apiserver.crt"));
    wait_until("EnsureRenewCerts True", || async {
        let c = get(&clusters, "cls-hooks").await?;
        (condition(&c, "EnsureRenewCerts")?["status"] == "True").then_some(())
    })
    .await;
    assert!(!read(&mroot.join("calls.log")).contains("certs renew"), "nothing was due");
    assert_eq!(not_after(&pki.join("apiserver.crt")), fresh);
    let cc_name = running["spec"]["clusterCredentialRef"]["name"].as_str().expect("credential ref").to_string();
    let cc = get(&creds, &cc_name).await.expect("credential");
    assert!(cc["clientCert"].is_string() && cc["token"].is_null(), "the identity from the first admin.conf: {cc}");

    // The apiserver certificate now expires in 10 days: renewed, credential refreshed.
    std::fs::write(pki.join("apiserver.crt"), cert_until(now + chrono::Duration::days(10))).expect("expiring cert");
    let cc = wait_until("the credential refreshed from the renewed admin.conf", || async {
        let cc = get(&creds, &cc_name).await?;
        (cc["token"] == sim.admin_token()).then_some(cc)
    })
    .await;
    assert!(
        cc["clientCert"].is_null() && cc["clientKey"].is_null(),
        "the renewed admin.conf's identity replaces the old one: {cc}"
    );
    let calls = read(&mroot.join("calls.log"));
    assert_eq!(calls.matches("kubeadm certs renew all").count(), 1, "{calls}");
    assert!(not_after(&pki.join("apiserver.crt")) > std::time::SystemTime::now() + Duration::from_secs(700 * 86400));
    assert_eq!(
        read(&mroot.join("etc/kubernetes/manifests/kube-apiserver.yaml")),
        "kind: Pod\n",
        "static pods restarted and back"
    );
    // The cluster stays healthy with the refreshed credential.
    wait_until("cls-hooks healthy after the renewal", || async {
        let c = get(&clusters, "cls-hooks").await?;
        let ok = c["status"]["phase"] == "Running"
            && condition(&c, "HealthCheck")?["status"] == "True"
            && condition(&c, "EnsureRenewCerts")?["status"] == "True";
        ok.then_some(())
    })
    .await;

    // A worker gets the cluster's files and its node-level hooks.
    let m: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "platform.tkestack.io/v1", "kind": "Machine", "metadata": {"name": "mc-hooks"},
        "spec": {"type": "Baremetal", "clusterName": "cls-hooks", "ip": NODE, "port": host.sshd.port, "username": host.user.name,
                 "password": b64(&host.user.password)},
    }))
    .expect("machine");
    machines.create(&PostParams::default(), &m).await.expect("create machine");
    let mc = wait_until("mc-hooks Running", || async {
        let m = get(&machines, "mc-hooks").await?;
        (m["status"]["phase"] == "Running").then_some(m)
    })
    .await;
    let types = condition_types(&mc);
    assert_eq!(types[..3], ["EnsureCopyFiles", "EnsurePreInstallHook", "EnsurePreflight"], "{mc}");
    assert!(
        types.contains(&"EnsurePostInstallHook".to_string())
            && !types.contains(&"EnsurePreClusterInstallHook".to_string()),
        "{types:?}"
    );
    assert_eq!(read(&wroot.join("etc/tke-test/data.conf")), "answer = 42\n");
    assert_eq!(mode_of(&wroot.join("etc/tke-test/data.conf")), 0o640);
    assert_eq!(
        read(&wroot.join("hooks.log")),
        "pre PreInstall /etc/sysctl.d/99-tke.conf=absent /etc/kubernetes/kubeadm-config.yaml=absent\n\
         post PostInstall /etc/kubernetes/kubeadm-config.yaml=present\n",
        "node-level hooks only, around the install"
    );
    machines.delete("mc-hooks", &Default::default()).await.expect("delete machine");
    wait_until("mc-hooks gone", || async { get(&machines, "mc-hooks").await.is_none().then_some(()) }).await;

    // Deleting the cluster runs the delete hooks around the reset.
    clusters.delete("cls-hooks", &Default::default()).await.expect("delete cluster");
    wait_until("cls-hooks gone", || async { get(&clusters, "cls-hooks").await.is_none().then_some(()) }).await;
    let log = read(&mroot.join("hooks.log"));
    assert!(
        log.ends_with("predelete /etc/kubernetes/admin.conf=present\npostdelete /etc/kubernetes/admin.conf=absent\n"),
        "PreClusterDelete before the reset, PostClusterDelete after: {log}"
    );

    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), controllers).await;
    sim.stop().await;
}

/// Keeps the object the engine saves.
struct Keep;

#[async_trait::async_trait]
impl platform::engine::Persist<api::platform::Cluster> for Keep {
    async fn save(&self, _c: &mut api::platform::Cluster) -> Result<(), platform::engine::PersistError> {
        Ok(())
    }
}

/// Runs the housekeeping steps of `provider` once over `cluster`.
async fn housekeeping(provider: &Baremetal, cluster: &mut api::platform::Cluster) -> platform::engine::Outcome {
    use platform::engine::{Engine, Kind};
    // Nothing here reaches the platform's API: a client of a closed port shows it would fail.
    let platform = Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().expect("url"))).expect("client");
    let ctx = platform::provider::ClusterContext {
        platform,
        credential: None,
        business: Err(platform::provider::BusinessClientError::NoCredential("not needed".into())),
        url: String::new(),
    };
    let engine = Engine::new(Kind::Update, provider.update_steps());
    engine.reset(cluster);
    engine.run(cluster, &ctx, &Keep).await.expect("persist")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_checks_are_one_login_per_master_and_at_most_once_per_interval() {
    need_sshd!();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let host = Host::start(Sudo::NoPassword);
    let root_tmp = tempfile::tempdir().expect("tempdir");
    let root = root_tmp.path();
    let pki = root.join("etc/kubernetes/pki");
    std::fs::create_dir_all(&pki).expect("mkdir");
    std::fs::write(pki.join("apiserver.crt"), cert_until(chrono::Utc::now() + chrono::Duration::days(365)))
        .expect("cert");
    let machine =
        json!({"ip": NODE, "port": host.sshd.port, "username": host.user.name, "password": b64(&host.user.password)});
    let mut cluster: api::platform::Cluster = serde_json::from_value(json!({
        "apiVersion": "platform.tkestack.io/v1", "kind": "Cluster", "metadata": {"name": "cls-renew", "uid": "u-renew"},
        "spec": {"type": "Baremetal", "version": K8S, "machines": [machine]}, "status": {"phase": "Running"},
    }))
    .expect("cluster");
    let logins = || host.sshd.log_text().matches("Accepted password").count();
    let bundle_tmp = tempfile::tempdir().expect("tempdir");
    let mut o = options(bundle_tmp.path(), root);
    o.renew_check_interval = Duration::from_secs(3600);
    let hourly = Baremetal::new(o.clone());

    assert_eq!(housekeeping(&hourly, &mut cluster).await, platform::engine::Outcome::Done);
    assert_eq!(logins(), 1, "one login to look at the master");
    for _ in 0..3 {
        assert_eq!(housekeeping(&hourly, &mut cluster).await, platform::engine::Outcome::Done);
    }
    assert_eq!(logins(), 1, "nothing looked at again within the hour: {}", host.sshd.log_text());

    // Expiring, but the master lacks kubeadm: the failure says so and is retried on the next
    // pass (a failed check is not remembered as done).
    std::fs::write(pki.join("apiserver.crt"), cert_until(chrono::Utc::now() + chrono::Duration::days(5)))
        .expect("cert");
    o.renew_check_interval = Duration::ZERO;
    let eager = Baremetal::new(o);
    for attempt in 1..=2 {
        match housekeeping(&eager, &mut cluster).await {
            platform::engine::Outcome::Failed { step, message } => {
                assert_eq!(step, "EnsureRenewCerts");
                assert!(message.contains("lacks kubeadm") && message.contains(NODE), "{message}");
            }
            done => panic!("attempt {attempt}: renewal without kubeadm succeeded: {done:?}"),
        }
    }
    let c = cluster
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "EnsureRenewCerts"))
        .cloned()
        .expect("condition");
    assert_eq!((c.status.as_str(), c.reason.as_deref()), ("False", Some("FailedUpdate")));
}
