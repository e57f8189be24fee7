//! A Baremetal cluster and a worker Machine end to end, as a user drives them: the real `tke up`
//! API (its own cluster controllers off), the platform controllers run in this process with the
//! Baremetal providers, a REAL sshd on this host as the machine, and an offline bundle of fake
//! binaries whose `kubeadm` stands in for Kubernetes: its kubeconfig phase writes an admin.conf
//! pointing at a simulated cluster (so the new cluster answers health checks for real), and its
//! kubelet-start join phase registers the node in that cluster through its API, after checking
//! that the bootstrap token the provider made exists there.
//!
//! The user skips `EnsureBinaries` (binaries pre-installed) but forgot kubeadm: the first kubeadm
//! step fails naming it, and once it is installed the cluster resumes at that step and becomes
//! Running with a ClusterCredential. A Machine joins, becomes Running with its node Ready, is
//! deleted (drained, node removed, node state cleaned) and disappears; the cluster is deleted.

mod common;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use base64::Engine as _;
use common::{
    Host, Sudo,
    e2e::{
        b64, build_bundle, client_of, condition, condition_types, get, options, platform_api, preinstall, wait_until,
    },
};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Secret};
use kube::{
    Api,
    api::{DynamicObject, ListParams, PostParams},
    runtime::{WatchStreamExt, watcher},
};
use kubesim::{SimCluster, SimOptions};
use platform::{ControllerOptions, Controllers, HealthOptions, Provider};
use provision::baremetal::{Baremetal, BaremetalMachine};
use serde_json::json;
use testkit::tke::{Storage, Tke, tke_binary};

const NODE: &str = "127.0.0.1";

/// The fake kubeadm: logs its calls; `init phase kubeconfig` writes the simulated cluster's
/// admin kubeconfig; `join phase kubelet-start` checks the bootstrap token and registers a Ready
/// node through the simulated cluster's API.
fn fake_kubeadm(sim: &SimCluster) -> String {
    let kubeconfig = std::fs::read_to_string(sim.kubeconfig_path()).expect("sim kubeconfig");
    let (api, token) = (sim.url(), sim.admin_token());
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
echo "fake kubeadm $*"
case "$*" in
  "init phase kubeconfig"*)
    mkdir -p "$root/etc/kubernetes"
    cat > "$root/etc/kubernetes/admin.conf" <<'KUBECONFIG'
{kubeconfig}
KUBECONFIG
    ;;
  "join phase kubelet-start"*)
    cfg="$(echo "$*" | sed -n 's/.*--config \([^ ]*\).*/\1/p')"
    token="$(sed -n 's/^ *token: *//p' "$cfg" | head -n1 | tr -d "'\"")"
    id="${{token%%.*}}"
    curl -skf {auth} "{api}/api/v1/namespaces/kube-system/secrets/bootstrap-token-$id" >/dev/null || {{ echo "bootstrap token $id is unknown to the cluster" >&2; exit 1; }}
    curl -sk {auth} -H 'Content-Type: application/json' -X POST "{api}/api/v1/nodes" -d '{node}' >/dev/null
    curl -skf {auth} -H 'Content-Type: application/merge-patch+json' -X PATCH "{api}/api/v1/nodes/{NODE}/status" -d '{status}' >/dev/null || {{ echo "cannot report node status" >&2; exit 1; }}
    ;;
esac
"#
    )
}

const K8S: &str = "1.30.2";

/// (condition, status, reason) of each condition of an object at one time.
type Conditions = Vec<(String, String, String)>;

/// Every distinct list of conditions the cluster went through, from a watch.
fn record_conditions(api: Api<DynamicObject>, name: &'static str) -> Arc<Mutex<Vec<Conditions>>> {
    let seen = Arc::new(Mutex::new(Vec::<Conditions>::new()));
    let out = seen.clone();
    tokio::spawn(async move {
        // Backing off on errors: a watch failing at once (the client's worker gone while the
        // runtime shuts down) would otherwise spin without yielding and hang the shutdown.
        let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
        futures::pin_mut!(stream);
        while let Some(ev) = stream.next().await {
            let objs = match ev {
                Ok(watcher::Event::Apply(o)) | Ok(watcher::Event::InitApply(o)) => vec![o],
                _ => continue,
            };
            for o in objs.into_iter().filter(|o| o.metadata.name.as_deref() == Some(name)) {
                let v = serde_json::to_value(o).expect("json");
                let conds: Vec<(String, String, String)> = v["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| {
                        (
                            c["type"].as_str().unwrap_or_default().into(),
                            c["status"].as_str().unwrap_or_default().into(),
                            c["reason"].as_str().unwrap_or_default().into(),
                        )
                    })
                    .collect();
                let mut s = out.lock().expect("lock");
                if s.last() != Some(&conds) {
                    s.push(conds);
                }
            }
        }
    });
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn baremetal_cluster_and_machine_through_real_sshd() {
    need_sshd!();
    let Some(arch) = common::e2e::ready() else { return };
    let host = Host::start(Sudo::WithPassword);
    let mut sim_opts = SimOptions::default();
    sim_opts.config.nodes = 1;
    let sim = SimCluster::start(sim_opts).await.expect("simulated cluster");

    let bundle_tmp = tempfile::tempdir().expect("tempdir");
    let bdir = bundle_tmp.path();
    build_bundle(bdir, arch, &[(K8S, fake_kubeadm(&sim))]);
    // Root-owned (0700) prefixes: every write on the machine goes through sudo.
    let master_tmp = tempfile::tempdir().expect("tempdir");
    let worker_tmp = tempfile::tempdir().expect("tempdir");
    let (mroot, wroot) = (master_tmp.path(), worker_tmp.path());

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
    // The platform's webhooks: files and flags from the platform's URL and CA.
    let mut cluster_options = options(bdir, mroot);
    cluster_options.auth_webhook = Some(Arc::new(
        platform::authwebhook::WebhookIssuer::from_data_dir(&tke.url, &tke.data_dir()).expect("webhook issuer"),
    ));
    let cluster_provider = Baremetal::new(cluster_options);
    let step_names: Vec<String> = cluster_provider.create_steps().iter().map(|s| s.name.clone()).collect();
    // The worker installs into its own prefix (the same host plays master and worker).
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
    let seen = record_conditions(clusters.clone(), "cls-bm");

    // Binaries pre-installed by hand, except kubeadm; the copy step is skipped.
    for b in ["kubelet", "kubectl"] {
        preinstall(bdir, &format!("kubernetes/{K8S}/{arch}/{b}"), mroot, &format!("/usr/bin/{b}"));
    }
    preinstall(bdir, &format!("containerd/1.7.18/{arch}/ctr"), mroot, "/usr/local/bin/ctr");
    let machine =
        json!({"ip": NODE, "port": host.sshd.port, "username": host.user.name, "password": b64(&host.user.password)});
    let cluster: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "platform.tkestack.io/v1", "kind": "Cluster", "metadata": {"name": "cls-bm"},
        "spec": {"type": "Baremetal", "version": K8S, "clusterCIDR": "10.244.0.0/16", "machines": [machine],
                 "features": {"skipConditions": ["EnsureBinaries"], "authzWebhookAddr": {"builtin": {}}}},
    }))
    .expect("cluster");
    clusters.create(&PostParams::default(), &cluster).await.expect("create cluster");

    let failed = wait_until("the first kubeadm step failing for the missing kubeadm", || async {
        let c = get(&clusters, "cls-bm").await?;
        (condition(&c, "EnsureKubeadmInitPhaseKubeletStart")?["status"] == "False").then_some(c)
    })
    .await;
    let cond = condition(&failed, "EnsureKubeadmInitPhaseKubeletStart").expect("condition");
    let msg = cond["message"].as_str().unwrap_or_default();
    assert_eq!(cond["reason"], "FailedInit", "{failed}");
    assert!(msg.contains("lacks kubeadm") && msg.contains(NODE), "{msg}");
    assert_eq!(failed["status"]["phase"], "Initializing");
    assert_eq!(failed["status"]["reason"], "FailedInit");
    assert!(
        failed["status"]["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("EnsureKubeadmInitPhaseKubeletStart error:"),
        "{failed}"
    );
    let skipped = condition(&failed, "EnsureBinaries").expect("EnsureBinaries");
    assert_eq!((skipped["status"].as_str(), skipped["reason"].as_str()), (Some("True"), Some("Skip")));
    let fail_at = step_names.iter().position(|n| n == "EnsureKubeadmInitPhaseKubeletStart").expect("step");
    assert_eq!(
        condition_types(&failed),
        step_names[..=fail_at],
        "conditions in step order, none beyond the failed step"
    );
    for n in &step_names[..fail_at] {
        assert_eq!(condition(&failed, n).expect("condition")["status"], "True", "{n}: {failed}");
    }
    // Written step by step: every number of finished steps up to the failure was saved on its own.
    let progress: Vec<usize> =
        seen.lock().expect("lock").iter().map(|c| c.iter().filter(|x| x.1 == "True").count()).collect();
    for k in 1..=fail_at {
        assert!(progress.contains(&k), "no saved state with {k} finished steps: {progress:?}");
    }
    assert!(
        seen.lock().expect("lock").iter().any(|c| c.len() == 2
            && c[0].1 == "True"
            && c[1] == (step_names[1].clone(), "Unknown".into(), "Waiting".into())),
        "the next step is announced as Waiting"
    );
    // The environment checks and install steps really ran on the machine, into the prefix.
    assert!(mroot.join("etc/sysctl.d/99-tke.conf").exists() && mroot.join("etc/containerd/config.toml").exists());
    assert!(
        std::fs::read_to_string(mroot.join("calls.log")).unwrap_or_default().contains("ctr -n k8s.io images import")
    );

    // kubeadm installed: the cluster resumes at the failed step and finishes.
    preinstall(bdir, &format!("kubernetes/{K8S}/{arch}/kubeadm"), mroot, "/usr/bin/kubeadm");
    let running = wait_until("cls-bm Running and healthy", || async {
        let c = get(&clusters, "cls-bm").await?;
        (c["status"]["phase"] == "Running" && condition(&c, "HealthCheck")?["status"] == "True").then_some(c)
    })
    .await;
    assert_eq!(running["status"]["version"], "1.32.0", "the simulated cluster answers: {running}");
    let mut expected = step_names.clone();
    expected.push("HealthCheck".into());
    // Housekeeping (EnsureRenewCerts) may already have run once the cluster is Running.
    let types: Vec<String> = condition_types(&running).into_iter().filter(|t| t != "EnsureRenewCerts").collect();
    assert_eq!(types, expected);
    let calls = std::fs::read_to_string(mroot.join("calls.log")).expect("calls.log");
    assert_eq!(
        calls.matches("kubeadm init phase kubelet-start").count(),
        1,
        "the failed step ran once it could: {calls}"
    );
    for phase in [
        "certs all",
        "kubeconfig all",
        "control-plane all",
        "etcd local",
        "upload-certs --upload-certs",
        "bootstrap-token",
        "addon all",
    ] {
        assert!(calls.contains(&format!("kubeadm init phase {phase} --config")), "{phase}: {calls}");
    }
    let addr = &running["status"]["addresses"][0];
    assert_eq!(
        (addr["type"].as_str(), addr["port"].as_u64()),
        (Some("Advertise"), sim.url().rsplit(':').next().and_then(|p| p.parse().ok()))
    );
    let cc_name = running["spec"]["clusterCredentialRef"]["name"].as_str().expect("credential ref").to_string();
    let cc = get(&creds, &cc_name).await.expect("credential");
    assert_eq!(cc["clusterName"], "cls-bm");
    assert_eq!(
        cc["caCert"].as_str().map(|c| base64::engine::general_purpose::STANDARD.decode(c).expect("b64")),
        Some(sim.ca_pem().as_bytes().to_vec())
    );
    assert!(cc["clientCert"].is_string() && cc["clientKey"].is_string(), "{cc}");
    let bootstrap = cc["bootstrapToken"].as_str().unwrap_or_default();
    assert!(
        bootstrap.len() == 23
            && std::fs::read_to_string(mroot.join("etc/kubernetes/kubeadm-config.yaml"))
                .expect("config")
                .contains(bootstrap)
    );
    // EnsureAuthzWebhook: the webhook kubeconfigs on the master, kube-apiserver started with them.
    assert_eq!(condition(&running, "EnsureAuthzWebhook").map(|c| c["status"].clone()), Some(json!("True")));
    let kubeadm_config = std::fs::read_to_string(mroot.join("etc/kubernetes/kubeadm-config.yaml")).expect("config");
    for flag in [
        "authorization-webhook-config-file: /etc/kubernetes/tke/tke-authz-webhook.yaml",
        "authentication-token-webhook-config-file: /etc/kubernetes/tke/tke-authn-webhook.yaml",
        "authorization-mode: Node,RBAC,Webhook",
    ] {
        assert!(kubeadm_config.contains(flag), "{flag} in {kubeadm_config}");
    }
    for (file, endpoint) in [("tke-authn-webhook.yaml", "/auth/authn"), ("tke-authz-webhook.yaml", "/auth/authz")] {
        let path = mroot.join("etc/kubernetes/tke").join(file);
        let kc: serde_json::Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(&path).expect("webhook file")).expect("yaml");
        assert_eq!(kc["clusters"][0]["cluster"]["server"], format!("{}{endpoint}", tke.url));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).expect("metadata").permissions().mode() & 0o777, 0o600);
    }
    let marks: Api<ConfigMap> = Api::namespaced(sim.client(), "kube-system");
    assert_eq!(
        marks.get("tke").await.expect("mark").data.unwrap_or_default().get("clusterName").map(String::as_str),
        Some("cls-bm")
    );

    // A worker joins.
    let m: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "platform.tkestack.io/v1", "kind": "Machine", "metadata": {"name": "mc-worker"},
        "spec": {"type": "Baremetal", "clusterName": "cls-bm", "ip": NODE, "port": host.sshd.port, "username": host.user.name,
                 "password": b64(&host.user.password), "labels": {"pool": "a"}},
    }))
    .expect("machine");
    machines.create(&PostParams::default(), &m).await.expect("create machine");
    let mc = wait_until("mc-worker Running with its node Ready", || async {
        let m = get(&machines, "mc-worker").await?;
        (m["status"]["phase"] == "Running" && condition(&m, "HealthCheck")?["status"] == "True").then_some(m)
    })
    .await;
    for step in [
        "EnsurePreflight",
        "EnsureBinaries",
        "EnsureKubernetesImages",
        "EnsureJoinPhasePreflight",
        "EnsureJoinPhaseKubeletStart",
        "EnsureNodeReady",
    ] {
        assert_eq!(condition(&mc, step).map(|c| c["status"].clone()), Some(json!("True")), "{step}: {mc}");
    }
    assert_eq!(mc["status"]["machineInfo"]["osImage"], "Fake Linux", "{mc}");
    let nodes: Api<Node> = Api::all(sim.client());
    let node = nodes.get(NODE).await.expect("the worker's node");
    assert_eq!(
        node.metadata.labels.unwrap_or_default().get("pool").map(String::as_str),
        Some("a"),
        "machine labels on the node"
    );
    let tokens = Api::<Secret>::namespaced(sim.client(), "kube-system")
        .list(&ListParams::default().labels("platform.tkestack.io/machine=mc-worker"))
        .await
        .expect("secrets");
    assert_eq!(tokens.items.len(), 1, "one bootstrap token for the machine, reused by both join phases");
    assert!(wroot.join("usr/bin/kubeadm").exists() && wroot.join("etc/kubernetes/kubeadm-config.yaml").exists());

    // A pod on the worker, then the machine is deleted: drained, node removed, node state cleaned.
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "on-worker", "namespace": "default"},
        "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "nginx"}]}}))
    .expect("pod");
    Api::<Pod>::namespaced(sim.client(), "default").create(&PostParams::default(), &pod).await.expect("pod");
    machines.delete("mc-worker", &Default::default()).await.expect("delete machine");
    wait_until("mc-worker gone", || async { get(&machines, "mc-worker").await.is_none().then_some(()) }).await;
    assert!(nodes.get_opt(NODE).await.expect("get node").is_none(), "the node is removed from the cluster");
    assert!(
        Api::<Pod>::namespaced(sim.client(), "default").get_opt("on-worker").await.expect("get pod").is_none(),
        "the node was drained"
    );
    assert!(!wroot.join("etc/kubernetes").exists() && !wroot.join("var/lib/kubelet").exists(), "node state removed");
    assert!(wroot.join("usr/bin/kubeadm").exists(), "binaries stay");

    // The cluster is deleted: mark, masters' node state and credential go, then the object.
    clusters.delete("cls-bm", &Default::default()).await.expect("delete cluster");
    wait_until("cls-bm gone", || async { get(&clusters, "cls-bm").await.is_none().then_some(()) }).await;
    assert!(get(&creds, &cc_name).await.is_none(), "the credential is removed");
    assert!(marks.get_opt("tke").await.expect("get mark").is_none(), "the mark is removed");
    assert!(!mroot.join("etc/kubernetes").exists(), "the master is reset");

    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), controllers).await;
    sim.stop().await;
}
