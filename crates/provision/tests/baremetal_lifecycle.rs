//! The day-2 lifecycle of a Baremetal cluster end to end — upgrade, master scale-up and
//! scale-down — with the harness of `baremetal.rs`: the real `tke up` API (its own cluster
//! controllers off), the platform controllers in this process with the Baremetal providers, REAL
//! sshd servers on 127.0.0.1 (the first master), 127.0.0.2 (a worker Machine) and 127.0.0.3 (a
//! master added later), and an offline bundle of two releases of fake binaries whose `kubeadm`
//! stands in for Kubernetes: its kubelet-start phases register the node named in their config in
//! a simulated cluster (a join only with a bootstrap token the cluster knows), and every call is
//! logged with the release it came from.
//!
//! The user upgrades from 1.30.2 to 1.31.0 with `drainNodeBeforeUpgrade`: the cluster turns
//! `Upgrading`, runs its PreClusterUpgrade hook, installs the new release on the master and runs
//! `kubeadm upgrade apply v1.31.0` there, marks the worker Machine, which turns `Upgrading`, runs
//! its PreUpgrade hook and is drained — held while a PodDisruptionBudget forbids evicting its
//! pod, saying so, and going on once the budget is gone — gets the new release and `kubeadm
//! upgrade node`, and is uncordoned; both end `Running` saying so. Then a master is added (`Upscaling`: prepared, the
//! certificates uploaded again, joined with a token of its own) and removed again
//! (`Downscaling`: drained, reset, its node deleted).
//!
//! The masters share this host's file system, so both install into one prefix; the worker has its
//! own.

mod common;

use std::{
    os::unix::fs::PermissionsExt,
    sync::{Arc, Mutex},
    time::Duration,
};

use common::{
    Host, Sshd, Sudo,
    e2e::{b64, build_bundle, client_of, condition, condition_types, get, options, platform_api, wait_until},
};
use futures::StreamExt;
use k8s_openapi::api::{
    core::v1::{Node, Pod, Secret},
    policy::v1::PodDisruptionBudget,
};
use kube::{
    Api,
    api::{DynamicObject, ListParams, Patch, PatchParams, PostParams},
    runtime::{WatchStreamExt, watcher},
};
use kubesim::{SimCluster, SimOptions};
use platform::{ControllerOptions, Controllers, HealthOptions};
use provision::baremetal::{Baremetal, BaremetalMachine};
use serde_json::{Value, json};
use testkit::tke::{Storage, Tke, tke_binary};

const FROM: &str = "1.30.2";
const TO: &str = "1.31.0";
const MASTER: &str = "127.0.0.1";
const WORKER: &str = "127.0.0.2";
const MASTER2: &str = "127.0.0.3";

/// The fake kubeadm of one release.
fn fake_kubeadm(sim: &SimCluster, release: &str) -> String {
    let kubeconfig = std::fs::read_to_string(sim.kubeconfig_path()).expect("sim kubeconfig");
    let (api, token) = (sim.url(), sim.admin_token());
    let auth = format!("-H 'Authorization: Bearer {token}'");
    format!(
        r#"#!/bin/sh
# release {release}
root="${{0%/usr/bin/kubeadm}}"
echo "kubeadm[{release}] $*" >> "$root/calls.log"
cfg="$(echo "$*" | sed -n 's/.*--config \([^ ]*\).*/\1/p')"
register() {{
    name="$(sed -n 's/^ *name: *//p' "$cfg" | head -n1 | tr -d "'\"")"
    curl -sk {auth} -H 'Content-Type: application/json' -X POST "{api}/api/v1/nodes" -d "{{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{{\"name\":\"$name\"}}}}" >/dev/null
    curl -skf {auth} -H 'Content-Type: application/merge-patch+json' -X PATCH "{api}/api/v1/nodes/$name/status" \
      -d "{{\"status\":{{\"conditions\":[{{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"KubeletReady\",\"message\":\"ready\"}}],\"addresses\":[{{\"type\":\"InternalIP\",\"address\":\"$name\"}}],\"nodeInfo\":{{\"architecture\":\"amd64\",\"bootID\":\"b\",\"containerRuntimeVersion\":\"containerd://1.7.18\",\"kernelVersion\":\"6.1.0\",\"kubeProxyVersion\":\"v{FROM}\",\"kubeletVersion\":\"v{FROM}\",\"machineID\":\"m\",\"operatingSystem\":\"linux\",\"osImage\":\"Fake Linux\",\"systemUUID\":\"u\"}}}}}}" >/dev/null \
      || {{ echo "cannot report the status of node $name" >&2; exit 1; }}
}}
case "$*" in
  "init phase kubeconfig"*)
    mkdir -p "$root/etc/kubernetes"
    cat > "$root/etc/kubernetes/admin.conf" <<'KUBECONFIG'
{kubeconfig}
KUBECONFIG
    ;;
  "init phase kubelet-start"*) register ;;
  "join phase kubelet-start"*)
    token="$(sed -n 's/^ *token: *//p' "$cfg" | head -n1 | tr -d "'\"")"
    id="${{token%%.*}}"
    curl -skf {auth} "{api}/api/v1/namespaces/kube-system/secrets/bootstrap-token-$id" >/dev/null || {{ echo "bootstrap token $id is unknown to the cluster" >&2; exit 1; }}
    register
    ;;
esac
"#
    )
}

fn machine(ip: &str, port: u16, host: &Host) -> Value {
    json!({"ip": ip, "port": port, "username": host.user.name, "password": b64(&host.user.password)})
}

/// Every distinct phase an object went through, from a watch.
fn record_phases(api: Api<DynamicObject>, name: &'static str) -> Arc<Mutex<Vec<String>>> {
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let out = seen.clone();
    tokio::spawn(async move {
        // Backing off on errors: a watch failing at once (the client's worker gone while the
        // runtime shuts down) would otherwise spin without yielding and hang the shutdown.
        let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
        futures::pin_mut!(stream);
        while let Some(ev) = stream.next().await {
            let (Ok(watcher::Event::Apply(o)) | Ok(watcher::Event::InitApply(o))) = ev else {
                continue;
            };
            if o.metadata.name.as_deref() != Some(name) {
                continue;
            }
            let phase = o.data["status"]["phase"].as_str().unwrap_or_default().to_string();
            let mut s = out.lock().expect("lock");
            if s.last() != Some(&phase) {
                s.push(phase);
            }
        }
    });
    seen
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upgrade_and_master_scaling_through_real_sshd() {
    need_sshd!();
    let Some(arch) = common::e2e::ready() else { return };
    let host = Host::start(Sudo::WithPassword);
    let worker_sshd = Sshd::start(WORKER, None, &[&host.user.name]);
    let master2_sshd = Sshd::start(MASTER2, None, &[&host.user.name]);
    let mut sim_opts = SimOptions::default();
    sim_opts.config.nodes = 1;
    sim_opts.config.kubelet_version = format!("v{FROM}");
    let sim = SimCluster::start(sim_opts).await.expect("simulated cluster");

    let bundle_tmp = tempfile::tempdir().expect("tempdir");
    let bdir = bundle_tmp.path();
    build_bundle(bdir, arch, &[(FROM, fake_kubeadm(&sim, FROM)), (TO, fake_kubeadm(&sim, TO))]);
    let hooks_tmp = tempfile::tempdir().expect("tempdir");
    let hook = hooks_tmp.path().join("upgrade-hook.sh");
    std::fs::write(&hook, "#!/bin/sh\necho \"$TKE_HOOK\" >> \"$TKE_INSTALL_ROOT/hooks.log\"\n").expect("hook");
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).expect("chmod");
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
    let health = HealthOptions {
        period: Duration::from_secs(1),
        jitter: Duration::ZERO,
        probes: 2,
        probe_interval: Duration::from_millis(100),
        ..Default::default()
    };
    let controllers =
        Controllers::new(platform.clone(), ControllerOptions { concurrency: 4, health, leader_election: None })
            .with_provider(Arc::new(Baremetal::new(options(bdir, mroot))))
            .with_machine_provider(Arc::new(BaremetalMachine::new(options(bdir, wroot))));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let controllers = tokio::spawn(controllers.run(async move {
        let _ = stop_rx.await;
    }));

    let clusters = platform_api(&platform, "Cluster", "clusters");
    let machines = platform_api(&platform, "Machine", "machines");
    let cluster_phases = record_phases(clusters.clone(), "cls-life");
    let machine_phases = record_phases(machines.clone(), "mc-life");
    let nodes: Api<Node> = Api::all(sim.client());

    // A cluster on one master, a worker joined.
    let first = machine(MASTER, host.sshd.port, &host);
    let cluster: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "platform.tkestack.io/v1", "kind": "Cluster", "metadata": {"name": "cls-life"},
        "spec": {"type": "Baremetal", "version": FROM, "clusterCIDR": "10.244.0.0/16", "machines": [first],
                 "features": {
                     "files": [{"src": hook.to_str().expect("utf-8"), "dst": "/opt/hooks/upgrade-hook.sh"}],
                     "hooks": {"PreClusterUpgrade": "/opt/hooks/upgrade-hook.sh", "PostClusterUpgrade": "/opt/hooks/upgrade-hook.sh", "PreUpgrade": "/opt/hooks/upgrade-hook.sh"},
                     "upgrade": {"mode": "Auto", "strategy": {"drainNodeBeforeUpgrade": true}}}},
    }))
    .expect("cluster");
    clusters.create(&PostParams::default(), &cluster).await.expect("create cluster");
    let running = |name: &'static str, api: &Api<DynamicObject>| {
        let api = api.clone();
        async move {
            wait_until(&format!("{name} Running and healthy"), || async {
                let o = get(&api, name).await?;
                (o["status"]["phase"] == "Running" && condition(&o, "HealthCheck")?["status"] == "True").then_some(o)
            })
            .await
        }
    };
    let created = running("cls-life", &clusters).await;
    assert_eq!(created["status"]["version"], FROM, "the simulated cluster answers with the old version");
    let m: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "platform.tkestack.io/v1", "kind": "Machine", "metadata": {"name": "mc-life"},
        "spec": {"type": "Baremetal", "clusterName": "cls-life", "ip": WORKER, "port": worker_sshd.port, "username": host.user.name, "password": b64(&host.user.password)},
    }))
    .expect("machine");
    machines.create(&PostParams::default(), &m).await.expect("create machine");
    running("mc-life", &machines).await;
    assert!(read(&wroot.join("usr/bin/kubeadm")).contains(&format!("# release {FROM}")));
    let pod: Pod = serde_json::from_value(
        json!({"metadata": {"name": "on-worker", "namespace": "default", "labels": {"app": "critical"}}, "spec": {"nodeName": WORKER, "containers": [{"name": "c", "image": "nginx"}]}}),
    )
    .expect("pod");
    let pods = Api::<Pod>::namespaced(sim.client(), "default");
    pods.create(&PostParams::default(), &pod).await.expect("pod");
    // The simulator runs pods on its own nodes only: this node's kubelet is the test.
    let ready = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
    pods.patch_status("on-worker", &PatchParams::default(), &Patch::Merge(&ready)).await.expect("pod status");
    wait_until("the pod on the worker Running and Ready", || async {
        let p = pods.get("on-worker").await.ok()?;
        let st = p.status?;
        (st.phase.as_deref() == Some("Running")
            && st.conditions?.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        .then_some(())
    })
    .await;
    // Its disruption budget forbids taking it away.
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({"metadata": {"name": "critical", "namespace": "default"}, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "critical"}}}})).expect("pdb");
    let budgets = Api::<PodDisruptionBudget>::namespaced(sim.client(), "default");
    budgets.create(&PostParams::default(), &pdb).await.expect("pdb");

    // Upgrade: masters first, then the worker (drained, upgraded, uncordoned). The drain honours
    // the budget: the worker's upgrade stops saying so, and goes on once the budget allows it.
    clusters
        .patch("cls-life", &PatchParams::default(), &Patch::Merge(json!({"spec": {"version": TO}})))
        .await
        .expect("upgrade");
    let blocked = wait_until("the worker's drain held by the disruption budget", || async {
        let m = get(&machines, "mc-life").await?;
        let c = condition(&m, "EnsureUpgrade")?;
        (c["status"] == "False").then(|| c["message"].as_str().unwrap_or_default().to_string())
    })
    .await;
    assert!(
        blocked.contains("default/on-worker") && blocked.contains("disruption budget critical needs 1 healthy pods"),
        "{blocked}"
    );
    assert!(pods.get_opt("on-worker").await.expect("get pod").is_some(), "the budget kept the pod");
    budgets.delete("critical", &Default::default()).await.expect("delete pdb");
    let upgraded = wait_until("the worker upgraded and the cluster Running", || async {
        let c = get(&clusters, "cls-life").await?;
        let m = get(&machines, "mc-life").await?;
        let done = c["status"]["phase"] == "Running"
            && m["status"]["phase"] == "Running"
            && m["status"]["message"].as_str()?.starts_with("upgraded");
        done.then_some((c, m))
    })
    .await;
    let (c, m) = upgraded;
    assert_eq!(c["status"]["message"], format!("upgraded to Kubernetes {TO}"), "{c}");
    assert_eq!(m["status"]["message"], format!("upgraded to Kubernetes {TO}"), "{m}");
    assert!(
        m["metadata"]["labels"].get("platform.tkestack.io/need-upgrade").is_none(),
        "the upgrade mark is gone: {m}"
    );
    let ctypes = condition_types(&c);
    for step in [
        "EnsurePreClusterUpgradeHook",
        "EnsureUpgradeControlPlaneNode",
        "EnsureMarkUpgradeWorkers",
        "EnsurePostClusterUpgradeHook",
    ] {
        assert!(
            !ctypes.iter().any(|t| t == step),
            "{step}: an upgrade's conditions are cleared once it is done, for the next one: {ctypes:?}"
        );
    }
    assert!(
        condition(&c, "EnsurePreflight").is_some_and(|p| p["status"] == "True"),
        "the create steps' conditions stay"
    );
    assert!(
        cluster_phases.lock().expect("lock").windows(2).any(|w| w == ["Upgrading", "Running"]),
        "{:?}",
        cluster_phases.lock().expect("lock")
    );
    assert!(
        machine_phases.lock().expect("lock").windows(2).any(|w| w == ["Upgrading", "Running"]),
        "{:?}",
        machine_phases.lock().expect("lock")
    );
    let mcalls = read(&mroot.join("calls.log"));
    assert_eq!(
        mcalls.matches(&format!("kubeadm[{TO}] upgrade apply v{TO} --yes")).count(),
        1,
        "the new kubeadm upgrades the first master, once: {mcalls}"
    );
    assert!(
        read(&mroot.join("usr/bin/kubeadm")).contains(&format!("# release {TO}")),
        "the new release installed on the master"
    );
    let wcalls = read(&wroot.join("calls.log"));
    assert_eq!(wcalls.matches(&format!("kubeadm[{TO}] upgrade node")).count(), 1, "{wcalls}");
    assert!(!wcalls.contains("upgrade apply"), "a worker never applies the cluster's upgrade");
    assert!(
        read(&wroot.join("usr/bin/kubeadm")).contains(&format!("# release {TO}")),
        "the new release installed on the worker"
    );
    assert_eq!(
        read(&mroot.join("hooks.log")),
        "PreClusterUpgrade\nPostClusterUpgrade\n",
        "cluster hooks on the first master"
    );
    assert_eq!(read(&wroot.join("hooks.log")), "PreUpgrade\n", "the node hook on the worker");
    assert!(
        Api::<Pod>::namespaced(sim.client(), "default").get_opt("on-worker").await.expect("get pod").is_none(),
        "the worker was drained"
    );
    let worker_node = nodes.get(WORKER).await.expect("worker node");
    assert!(!worker_node.spec.and_then(|s| s.unschedulable).unwrap_or(false), "and uncordoned after its upgrade");

    // A second master joins.
    let second = machine(MASTER2, master2_sshd.port, &host);
    let first = machine(MASTER, host.sshd.port, &host);
    clusters
        .patch(
            "cls-life",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"machines": [first.clone(), second]}})),
        )
        .await
        .expect("scale up");
    // The controller reports Running first and then clears spec.scalingMachines (the server drops
    // it only once the phase is Running), so both are waited for.
    let scaled = wait_until("cls-life scaled up and its scaling machines forgotten", || async {
        let c = get(&clusters, "cls-life").await?;
        let done = c["status"]["phase"] == "Running" && c["status"]["message"].as_str()?.starts_with("scaled up");
        (done && c["spec"]["scalingMachines"].is_null()).then_some(c)
    })
    .await;
    assert_eq!(scaled["status"]["message"], format!("scaled up on machine {MASTER2}"));
    assert!(scaled["spec"]["scalingMachines"].is_null(), "the scaled machines are forgotten once done: {scaled}");
    assert!(!condition_types(&scaled).iter().any(|t| t.starts_with("EnsureScaleUp")), "{scaled}");
    assert!(cluster_phases.lock().expect("lock").windows(2).any(|w| w == ["Upscaling", "Running"]));
    let mcalls = read(&mroot.join("calls.log"));
    assert_eq!(
        mcalls.matches("init phase upload-certs --upload-certs").count(),
        2,
        "the certificates are uploaded again for the join: {mcalls}"
    );
    for phase in ["preflight", "control-plane-prepare all", "kubelet-start", "control-plane-join all"] {
        assert!(
            mcalls.contains(&format!("kubeadm[{TO}] join phase {phase} --config")),
            "{phase} with the new release: {mcalls}"
        );
    }
    let node2 = nodes.get(MASTER2).await.expect("the new master's node");
    assert!(
        node2
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    );
    let tokens = Api::<Secret>::namespaced(sim.client(), "kube-system")
        .list(&ListParams::default().labels(&format!("platform.tkestack.io/machine=master-{MASTER2}")))
        .await
        .expect("secrets");
    assert_eq!(tokens.items.len(), 1, "the new master joined with a token of its own");

    // Removing the first master is refused; removing the second scales down.
    let err = clusters
        .patch(
            "cls-life",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"machines": [machine(MASTER2, master2_sshd.port, &host)]}})),
        )
        .await
        .expect_err("first master stays");
    assert!(matches!(&err, kube::Error::Api(s) if s.code == 422 && s.message.contains("spec.machines[0]")), "{err}");
    clusters
        .patch("cls-life", &PatchParams::default(), &Patch::Merge(json!({"spec": {"machines": [first]}})))
        .await
        .expect("scale down");
    let down = wait_until("cls-life scaled down", || async {
        let c = get(&clusters, "cls-life").await?;
        (c["status"]["phase"] == "Running" && c["status"]["message"].as_str()?.starts_with("scaled down")).then_some(c)
    })
    .await;
    assert_eq!(down["status"]["message"], format!("scaled down: removed machine {MASTER2}"));
    assert!(cluster_phases.lock().expect("lock").windows(2).any(|w| w == ["Downscaling", "Running"]));
    assert!(nodes.get_opt(MASTER2).await.expect("get node").is_none(), "the removed master's node is deleted");
    assert!(nodes.get_opt(MASTER).await.expect("get node").is_some(), "the first master's node stays");

    // Gone: the worker, then the cluster.
    machines.delete("mc-life", &Default::default()).await.expect("delete machine");
    clusters.delete("cls-life", &Default::default()).await.expect("delete cluster");
    wait_until("cls-life gone", || async { get(&clusters, "cls-life").await.is_none().then_some(()) }).await;
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), controllers).await;
    sim.stop().await;
}
