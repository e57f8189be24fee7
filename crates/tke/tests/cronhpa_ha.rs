//! Two `tke cronhpa` replicas against a simulated cluster: only the holder of the Lease scales,
//! and when it stops (SIGTERM, as Kubernetes stops a pod) it releases the Lease and the other
//! replica takes over at once and carries out the next runs.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use k8s_openapi::api::{apps::v1::Deployment, coordination::v1::Lease};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

struct Replica {
    child: Child,
    log: PathBuf,
}

impl Replica {
    fn start(kubeconfig: &Path, dir: &Path, n: usize) -> Replica {
        let log = dir.join(format!("cronhpa-{n}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(testkit::tke::tke_binary())
            .args(["cronhpa", "--kubeconfig"])
            .arg(kubeconfig)
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("tke cronhpa starts");
        Replica { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The identity it announced ("running as <id>").
    fn identity(&self) -> Option<String> {
        let log = self.log();
        let rest = log.split("running as ").nth(1)?;
        Some(rest.split(',').next()?.trim().to_string())
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases.get_opt("tke-cronhpa-controller").await.ok().flatten()?.spec?.holder_identity.filter(|h| !h.is_empty())
}

async fn replicas(deployments: &Api<Deployment>) -> i32 {
    deployments.get("web").await.ok().and_then(|d| d.spec.replicas).unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_leads_and_a_stopped_leader_hands_over_at_once() {
    let sim = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("simulated cluster");
    let client = sim.client();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut a = Replica::start(sim.kubeconfig_path(), dir.path(), 0);
    let mut b = Replica::start(sim.kubeconfig_path(), dir.path(), 1);
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    let first =
        testkit::wait_until("a replica to take the lease", Duration::from_secs(60), || async { holder(&leases).await })
            .await;
    let (ida, idb) = testkit::wait_until("both replicas to announce themselves", Duration::from_secs(10), || async {
        Some((a.identity()?, b.identity()?))
    })
    .await;
    assert!(first == ida || first == idb, "the lease holder {first} is one of the replicas ({ida}, {idb})");
    let (leader, follower, follower_id) = if first == ida { (&mut a, &b, idb) } else { (&mut b, &a, ida) };
    assert!(!follower.log().contains(" leads"), "only one replica leads:\n{}", follower.log());

    // The leader scales on schedule.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
    }))
    .expect("deployment");
    deployments.create(&PostParams::default(), &d).await.expect("create the deployment");
    let hpas: Api<cronhpa::CronHPA> = Api::namespaced(client.clone(), "default");
    let hpa: cronhpa::CronHPA = serde_json::from_value(json!({
        "apiVersion": "extensions.tkestack.io/v1", "kind": "CronHPA", "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "crons": [{"schedule": "* * * * * *", "targetReplicas": 3}]}
    }))
    .expect("cronhpa");
    testkit::wait_until("the CRD to be served", Duration::from_secs(30), || async {
        hpas.create(&PostParams::default(), &hpa).await.ok()
    })
    .await;
    testkit::wait_until("the leader to scale to 3", Duration::from_secs(30), || async {
        (replicas(&deployments).await == 3).then_some(())
    })
    .await;

    // SIGTERM: the leader releases the lease and exits cleanly; the other takes over at once
    // (well before the 15 s lease would have expired) and carries out the next runs.
    let stopped = Instant::now();
    let status = Command::new("kill").args(["-TERM", &leader.child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let exit = leader.child.wait().expect("the leader exits");
    assert!(exit.success(), "the stopped leader exits cleanly: {exit:?}\n{}", leader.log());
    testkit::wait_until("the other replica to take the lease", Duration::from_secs(10), || async {
        (holder(&leases).await.as_deref() == Some(follower_id.as_str())).then_some(())
    })
    .await;
    assert!(stopped.elapsed() < Duration::from_secs(10), "hand-over took {:?}", stopped.elapsed());
    hpas.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"crons": [{"schedule": "* * * * * *", "targetReplicas": 5}]}})),
    )
    .await
    .expect("patch the cronhpa");
    testkit::wait_until("the new leader to scale to 5", Duration::from_secs(30), || async {
        (replicas(&deployments).await == 5).then_some(())
    })
    .await;
    assert!(follower.log().contains(" leads"), "{}", follower.log());
    sim.stop().await;
}
