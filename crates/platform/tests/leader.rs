//! Leader election between controller replicas over the platform's own Lease API: with two
//! replicas only the leader reconciles; when it stops cleanly the other takes over at once; when
//! a leader dies without releasing, another takes over once the lease has expired.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use base64::Engine as _;
use k8s_openapi::api::coordination::v1::Lease;
use kube::{
    Api, Client,
    api::{ApiResource, DynamicObject, GroupVersionKind, PostParams},
};
use platform::{ControllerOptions, ControllerStats, Controllers, HealthOptions, LeaderOptions};
use serde_json::json;
use testkit::tke::{Storage, Tke, tke_binary};
use testkit::wait_until;
use tokio::{sync::oneshot, task::JoinHandle};

const DEADLINE: Duration = Duration::from_secs(60);

async fn client_of(kubeconfig: &Path) -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.expect("config");
    Client::try_from(config).expect("client")
}

/// One controller replica running in this process.
struct Replica {
    identity: String,
    stats: ControllerStats,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

fn replica(client: &Client, identity: &str) -> Replica {
    let opts = ControllerOptions {
        concurrency: 4,
        health: HealthOptions {
            period: Duration::from_secs(1),
            jitter: Duration::from_millis(200),
            ..Default::default()
        },
        leader_election: Some(LeaderOptions {
            namespace: "tke".into(),
            name: "platform-test".into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(3),
            renew_deadline: Duration::from_secs(2),
            retry_period: Duration::from_millis(300),
        }),
    };
    let controllers = Controllers::new(client.clone(), opts);
    let stats = controllers.stats();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(controllers.run(async move {
        let _ = rx.await;
    }));
    Replica { identity: identity.into(), stats, stop: Some(tx), task }
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases.get_opt("platform-test").await.ok().flatten()?.spec?.holder_identity
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_the_leader_reconciles_and_another_takes_over() {
    let sim = kubesim::SimCluster::start(Default::default()).await.expect("sim");
    let port: u16 = sim.url().rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
    // The binary's own controllers are off: the replicas below are the only ones.
    let tke = tokio::task::spawn_blocking(|| {
        Tke::start_with(tke_binary(), Storage::Embedded, &["--registry", "false", "--platform-controllers", "false"])
    })
    .await
    .expect("tke starts");
    let client = client_of(&tke.kubeconfig()).await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "tke");

    let mut a = replica(&client, "replica-a");
    let mut b = replica(&client, "replica-b");
    let first = wait_until("a leader", DEADLINE, || async { holder(&leases).await }).await;
    let (leader, follower) = if first == a.identity { (&mut a, &mut b) } else { (&mut b, &mut a) };
    assert_eq!(first, leader.identity);
    wait_until("the leader knows it leads", DEADLINE, || async { leader.stats.is_leader().then_some(()) }).await;

    // Import a cluster: the leader brings it to Running, the follower never reconciles.
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let gvk = |k: &str| GroupVersionKind::gvk("platform.tkestack.io", "v1", k);
    let creds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(&gvk("ClusterCredential"), "clustercredentials"),
    );
    let clusters: Api<DynamicObject> =
        Api::all_with(client.clone(), &ApiResource::from_gvk_with_plural(&gvk("Cluster"), "clusters"));
    let cc: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "platform.tkestack.io/v1", "kind": "ClusterCredential", "metadata": {"name": "cc-le"},
        "clusterName": "cls-le", "caCert": b64(sim.ca_pem()), "token": sim.admin_token(),
    }))
    .expect("cc");
    creds.create(&PostParams::default(), &cc).await.expect("create cc");
    let cls: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "platform.tkestack.io/v1", "kind": "Cluster", "metadata": {"name": "cls-le"},
        "spec": {"type": "Imported", "clusterCredentialRef": {"name": "cc-le"}},
        "status": {"addresses": [{"type": "Real", "host": "127.0.0.1", "port": port}]},
    }))
    .expect("cluster");
    clusters.create(&PostParams::default(), &cls).await.expect("create cluster");
    wait_until("cls-le Running", DEADLINE, || async {
        let c = clusters.get_opt("cls-le").await.ok().flatten()?;
        (c.data["status"]["phase"] == "Running").then_some(())
    })
    .await;
    assert!(leader.stats.reconciles() > 0);
    assert_eq!(follower.stats.reconciles(), 0, "the follower must not reconcile");
    assert!(!follower.stats.is_leader());

    // A clean stop releases the lease: the follower takes over well before it would expire.
    let handover = Instant::now();
    leader.stop.take().map(|tx| tx.send(()));
    let follower_id = follower.identity.clone();
    wait_until("the follower leads", DEADLINE, || async {
        (holder(&leases).await.as_deref() == Some(follower_id.as_str())).then_some(())
    })
    .await;
    assert!(handover.elapsed() < Duration::from_secs(3), "took over after {:?}", handover.elapsed());
    wait_until("the new leader reconciles", DEADLINE, || async { (follower.stats.reconciles() > 0).then_some(()) })
        .await;
    tokio::time::timeout(Duration::from_secs(30), &mut leader.task)
        .await
        .expect("the old leader stopped")
        .expect("join");

    // A third replica waits; the leader then dies without releasing (its task is dropped).
    let c = replica(&client, "replica-c");
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(holder(&leases).await.as_deref(), Some(follower_id.as_str()), "a live leader keeps its lease");
    assert_eq!(c.stats.reconciles(), 0);
    let died = Instant::now();
    follower.task.abort();
    wait_until("replica-c leads after the lease expired", DEADLINE, || async {
        (holder(&leases).await.as_deref() == Some("replica-c")).then_some(())
    })
    .await;
    let waited = died.elapsed();
    assert!(waited >= Duration::from_secs(2), "took the lease of a leader that died {waited:?} ago, before it expired");
    wait_until("replica-c reconciles", DEADLINE, || async { (c.stats.reconciles() > 0).then_some(()) }).await;
    let lease = leases.get("platform-test").await.expect("lease");
    assert!(lease.spec.and_then(|s| s.lease_transitions).unwrap_or(0) >= 2);
    drop(tke);
    sim.stop().await;
}
