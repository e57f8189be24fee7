//! The machine controller end to end with a machine provider written here (no SSH): the real
//! `tke up` API (its own controllers off), `platform::Controllers` in this process, and an
//! Imported cluster that is a simulated Kubernetes cluster. A Machine's steps become conditions
//! in order; a failing step is recorded with reason FailedInit and resumed once it can succeed
//! (earlier steps do not run again); a step listed in the skip annotation is skipped; the machine
//! is Running while its node is Ready in the cluster and Failed with the reason when it is not;
//! deleting it runs the delete steps and the object disappears once its finalizer is cleared.

use std::{
    future::Future,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::Duration,
};

use api::platform::Machine;
use async_trait::async_trait;
use base64::Engine as _;
use k8s_openapi::api::core::v1::Node;
use kube::{
    Api, Client,
    api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams},
};
use kubesim::{SimCluster, SimOptions};
use platform::{
    ControllerOptions, Controllers, HealthOptions, MachineProvider,
    engine::{Handler, Step, StepError},
    machine::{MachineContext, MachineStep},
};
use serde_json::{Value, json};
use testkit::tke::{Storage, Tke, tke_binary};
use testkit::wait_until as wait_within;

async fn wait_until<T, Fut: Future<Output = Option<T>>>(what: &str, check: impl FnMut() -> Fut) -> T {
    wait_within(what, DEADLINE, check).await
}

const DEADLINE: Duration = Duration::from_secs(45);
const IP: &str = "10.9.8.7";

async fn client_of(kubeconfig: &Path) -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.expect("config");
    Client::try_from(config).expect("client")
}

fn platform_api(client: &Client, kind: &str, plural: &str) -> Api<DynamicObject> {
    Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("platform.tkestack.io", "v1", kind), plural),
    )
}

async fn get(api: &Api<DynamicObject>, name: &str) -> Option<Value> {
    api.get_opt(name).await.expect("get").map(|o| serde_json::to_value(o).expect("json"))
}

fn condition<'a>(o: &'a Value, type_: &str) -> Option<&'a Value> {
    o["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == type_)
}

/// What the test provider's steps did, and whether the flaky one still fails.
#[derive(Default)]
struct World {
    prepared: AtomicU32,
    flaky_fails: AtomicBool,
    skipped_ran: AtomicBool,
    unregister_fails: AtomicBool,
}

struct Prepare(Arc<World>);
#[async_trait]
impl Handler<Machine, MachineContext> for Prepare {
    async fn run(&self, _m: &mut Machine, ctx: &MachineContext) -> Result<(), StepError> {
        // Like a real first step, it needs the machine's cluster.
        ctx.business()?;
        self.0.prepared.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

struct Flaky(Arc<World>);
#[async_trait]
impl Handler<Machine, MachineContext> for Flaky {
    async fn run(&self, m: &mut Machine, _ctx: &MachineContext) -> Result<(), StepError> {
        if self.0.flaky_fails.load(Ordering::SeqCst) {
            return Err(StepError::new(format!("{} lacks kubeadm: install it and retry", m.spec.ip)));
        }
        Ok(())
    }
}

struct Skipped(Arc<World>);
#[async_trait]
impl Handler<Machine, MachineContext> for Skipped {
    async fn run(&self, _m: &mut Machine, _ctx: &MachineContext) -> Result<(), StepError> {
        self.0.skipped_ran.store(true, Ordering::SeqCst);
        Err(StepError::new("this step is skipped and never runs"))
    }
}

fn ready_status(ready: &str) -> Value {
    json!({"status": {"conditions": [{"type": "Ready", "status": ready, "reason": if ready == "True" { "KubeletReady" } else { "KubeletNotReady" }, "message": "from the test"}],
                      "addresses": [{"type": "InternalIP", "address": IP}]}})
}

/// Registers the machine's node in the business cluster, as a joining kubelet does.
struct Register;
#[async_trait]
impl Handler<Machine, MachineContext> for Register {
    async fn run(&self, m: &mut Machine, ctx: &MachineContext) -> Result<(), StepError> {
        let nodes: Api<Node> = Api::all(ctx.business()?.clone());
        let name = format!("worker-{}", m.name());
        let node: Node =
            serde_json::from_value(json!({"metadata": {"name": name}})).map_err(|e| StepError::new(e.to_string()))?;
        match nodes.create(&PostParams::default(), &node).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(StepError::new(format!("registering {name}: {e}"))),
        }
        nodes
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(ready_status("True")))
            .await
            .map(|_| ())
            .map_err(|e| StepError::new(e.to_string()))
    }
}

struct Unregister(Arc<World>);
#[async_trait]
impl Handler<Machine, MachineContext> for Unregister {
    async fn run(&self, m: &mut Machine, ctx: &MachineContext) -> Result<(), StepError> {
        if self.0.unregister_fails.load(Ordering::SeqCst) {
            return Err(StepError::new("the host does not answer"));
        }
        let nodes: Api<Node> = Api::all(ctx.business()?.clone());
        match nodes.delete(&format!("worker-{}", m.name()), &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(StepError::new(e.to_string())),
        }
    }
}

struct TestMachines(Arc<World>);
impl MachineProvider for TestMachines {
    fn name(&self) -> &'static str {
        "Baremetal"
    }
    fn create_steps(&self) -> Vec<MachineStep> {
        vec![
            Step::new("EnsurePrepare", Prepare(self.0.clone())),
            Step::new("EnsureSkipped", Skipped(self.0.clone())),
            Step::new("EnsureFlaky", Flaky(self.0.clone())),
            Step::new("EnsureRegister", Register),
        ]
    }
    fn delete_steps(&self) -> Vec<MachineStep> {
        vec![Step::new("EnsureRemoveNode", Unregister(self.0.clone()))]
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn machine_steps_health_and_deletion() {
    let sim = SimCluster::start(SimOptions {
        config: kubesim::SimConfig { nodes: 1, ..Default::default() },
        ..Default::default()
    })
    .await
    .expect("sim");
    let port: u16 = sim.url().rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
    let tke = tokio::task::spawn_blocking(|| {
        Tke::start_with(tke_binary(), Storage::Embedded, &["--registry", "false", "--platform-controllers", "false"])
    })
    .await
    .expect("tke starts");
    let platform = client_of(&tke.kubeconfig()).await;
    let world = Arc::new(World::default());
    world.flaky_fails.store(true, Ordering::SeqCst);
    let health =
        HealthOptions { period: Duration::from_secs(1), jitter: Duration::ZERO, probes: 1, ..Default::default() };
    let controllers =
        Controllers::new(platform.clone(), ControllerOptions { concurrency: 4, health, leader_election: None })
            .with_machine_provider(Arc::new(TestMachines(world.clone())));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(controllers.run(async move {
        let _ = stop_rx.await;
    }));

    let clusters = platform_api(&platform, "Cluster", "clusters");
    let creds = platform_api(&platform, "ClusterCredential", "clustercredentials");
    let machines = platform_api(&platform, "Machine", "machines");
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let cc: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "platform.tkestack.io/v1", "kind": "ClusterCredential", "metadata": {"name": "cc-sim"},
        "clusterName": "cls-sim", "caCert": b64(sim.ca_pem()), "token": sim.admin_token()}),
    )
    .expect("cc");
    creds.create(&PostParams::default(), &cc).await.expect("credential");
    let cluster: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "platform.tkestack.io/v1", "kind": "Cluster", "metadata": {"name": "cls-sim"},
        "spec": {"type": "Imported", "clusterCredentialRef": {"name": "cc-sim"}},
        "status": {"addresses": [{"type": "Advertise", "host": "127.0.0.1", "port": port}]}}),
    )
    .expect("cluster");
    clusters.create(&PostParams::default(), &cluster).await.expect("cluster");
    wait_until("cls-sim Running", || async {
        (get(&clusters, "cls-sim").await?["status"]["phase"] == "Running").then_some(())
    })
    .await;

    let m: DynamicObject = serde_json::from_value(json!({"apiVersion": "platform.tkestack.io/v1", "kind": "Machine",
        "metadata": {"name": "mc-1", "annotations": {"platform.tkestack.io/skip-conditions": "EnsureSkipped"}},
        "spec": {"type": "Baremetal", "clusterName": "cls-sim", "ip": IP, "password": b64("pw")}}))
    .expect("machine");
    machines.create(&PostParams::default(), &m).await.expect("machine");
    let failed = wait_until("EnsureFlaky failed", || async {
        let m = get(&machines, "mc-1").await?;
        (condition(&m, "EnsureFlaky")?["status"] == "False").then_some(m)
    })
    .await;
    let c = condition(&failed, "EnsureFlaky").expect("condition");
    assert_eq!(
        (c["reason"].as_str(), c["message"].as_str()),
        (Some("FailedInit"), Some("10.9.8.7 lacks kubeadm: install it and retry"))
    );
    assert_eq!(failed["status"]["phase"], "Initializing");
    assert_eq!(failed["status"]["message"], "EnsureFlaky error: 10.9.8.7 lacks kubeadm: install it and retry");
    assert_eq!(condition(&failed, "EnsurePrepare").expect("prepare")["status"], "True");
    assert_eq!(condition(&failed, "EnsureSkipped").expect("skipped")["reason"], "Skip");
    assert!(condition(&failed, "EnsureRegister").is_none(), "later steps wait: {failed}");

    world.flaky_fails.store(false, Ordering::SeqCst);
    let running = wait_until("mc-1 Running", || async {
        let m = get(&machines, "mc-1").await?;
        (m["status"]["phase"] == "Running" && condition(&m, "HealthCheck")?["status"] == "True").then_some(m)
    })
    .await;
    assert_eq!(world.prepared.load(Ordering::SeqCst), 1, "finished steps do not run again");
    assert!(!world.skipped_ran.load(Ordering::SeqCst));
    assert_eq!(running["status"]["addresses"][0]["address"], IP, "{running}");
    let types: Vec<&str> = running["status"]["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .filter_map(|c| c["type"].as_str())
        .collect();
    assert_eq!(types, ["EnsurePrepare", "EnsureSkipped", "EnsureFlaky", "EnsureRegister", "HealthCheck"]);

    // The node stops being Ready: the machine fails with the reason; it recovers with the node.
    let nodes: Api<Node> = Api::all(sim.client());
    nodes
        .patch_status("worker-mc-1", &PatchParams::default(), &Patch::Merge(ready_status("False")))
        .await
        .expect("not ready");
    let down = wait_until("mc-1 Failed", || async {
        let m = get(&machines, "mc-1").await?;
        (m["status"]["phase"] == "Failed").then_some(m)
    })
    .await;
    assert_eq!(down["status"]["reason"], "FailedHealthCheck");
    let why = condition(&down, "HealthCheck").expect("health")["message"].as_str().unwrap_or_default().to_string();
    assert!(why.contains("worker-mc-1 is not Ready") && why.contains("KubeletNotReady"), "{why}");
    nodes
        .patch_status("worker-mc-1", &PatchParams::default(), &Patch::Merge(ready_status("True")))
        .await
        .expect("ready");
    wait_until("mc-1 Running again", || async {
        (get(&machines, "mc-1").await?["status"]["phase"] == "Running").then_some(())
    })
    .await;

    machines.delete("mc-1", &Default::default()).await.expect("delete");
    wait_until("mc-1 gone", || async { get(&machines, "mc-1").await.is_none().then_some(()) }).await;
    assert!(nodes.get_opt("worker-mc-1").await.expect("get node").is_none(), "the delete step removed the node");

    // A machine of a cluster that never came up had nothing installed: deleting it neither
    // drains nor cleans (which could never succeed) and it goes at once.
    let orphan: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "platform.tkestack.io/v1", "kind": "Machine", "metadata": {"name": "mc-2"},
        "spec": {"type": "Baremetal", "clusterName": "cls-nowhere", "ip": "10.9.8.6", "password": b64("pw")}}),
    )
    .expect("machine");
    machines.create(&PostParams::default(), &orphan).await.expect("machine");
    let stuck = wait_until("mc-2 to report why it waits", || async {
        let m = get(&machines, "mc-2").await?;
        m["status"]["message"].as_str().is_some_and(|t| t.contains("cls-nowhere")).then_some(m)
    })
    .await;
    assert_eq!(stuck["status"]["phase"], "Initializing", "{stuck}");
    machines.delete("mc-2", &Default::default()).await.expect("delete");
    wait_until("mc-2 gone", || async { get(&machines, "mc-2").await.is_none().then_some(()) }).await;

    // Deleting the cluster deletes its machines; one whose host no longer answers is retried a
    // few times, then released, so the cluster's deletion finishes.
    let m3: DynamicObject = serde_json::from_value(json!({"apiVersion": "platform.tkestack.io/v1", "kind": "Machine",
        "metadata": {"name": "mc-3", "annotations": {"platform.tkestack.io/skip-conditions": "EnsureSkipped"}},
        "spec": {"type": "Baremetal", "clusterName": "cls-sim", "ip": IP, "password": b64("pw")}}))
    .expect("machine");
    machines.create(&PostParams::default(), &m3).await.expect("machine");
    wait_until("mc-3 Running", || async {
        (get(&machines, "mc-3").await?["status"]["phase"] == "Running").then_some(())
    })
    .await;
    world.unregister_fails.store(true, Ordering::SeqCst);
    clusters.delete("cls-sim", &Default::default()).await.expect("delete the cluster");
    wait_until("mc-3 and cls-sim gone", || async {
        (get(&machines, "mc-3").await.is_none() && get(&clusters, "cls-sim").await.is_none()).then_some(())
    })
    .await;

    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), run).await;
    sim.stop().await;
}
