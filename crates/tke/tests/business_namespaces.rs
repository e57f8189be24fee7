//! Business namespaces against the real `tke up` and simulated business clusters: a business
//! `Namespace` becomes a labelled Kubernetes namespace with a ResourceQuota of its `spec.hard`
//! whose usage (from the pods) shows in `status.used`; an unlabelled namespace is adopted, one
//! of another project refused (`ConflictProject`), one deleted behind the platform's back
//! reported (and adopted again when it comes back); deletion removes only a namespace labelled
//! as the object's; the same name works in two clusters. A NsEmigration moves a namespace to
//! another project, and a move stopped at any phase (the business controllers out of the
//! Lease, even the platform killed) is finished by the controllers when they come back.

use std::{sync::Arc, time::Duration};

use k8s_openapi::{
    api::core::v1::{Namespace as KubeNamespace, Pod, ResourceQuota},
    apimachinery::pkg::{api::resource::Quantity, apis::meta::v1::ObjectMeta},
};
use kube::{
    Api,
    api::{DeleteParams, PostParams},
};
use serde_json::{Value, json};
use testkit::tke::{ExplainFailure, Tke};

const WAIT: Duration = Duration::from_secs(60);
/// Usage reaches the object at the controller's next check (every 30 s).
const RESYNC_WAIT: Duration = Duration::from_secs(90);
const NS: &str = "namespaces.business.tkestack.io";
const NSE: &str = "nsemigrations.business.tkestack.io";
const LEASE: &str = "tke-business-controller";

fn import(t: &Tke, sim: &kubesim::SimCluster, name: &str) {
    t.import_cluster(name, sim.url(), sim.ca_pem().as_bytes(), sim.admin_token());
}

fn project(t: &Tke, name: &str, clusters: &[&str]) {
    let clusters: serde_json::Map<String, Value> = clusters
        .iter()
        .map(|c| (c.to_string(), json!({"hard": {"requests.cpu": "100", "requests.memory": "400Gi", "pods": "1000"}})))
        .collect();
    t.create(&json!({"apiVersion": "business.tkestack.io/v1", "kind": "Project",
        "metadata": {"name": name}, "spec": {"displayName": name, "clusters": clusters}}));
}

fn business_namespace(t: &Tke, project: &str, cluster: &str, namespace: &str) {
    t.create(&json!({"apiVersion": "business.tkestack.io/v1", "kind": "Namespace",
        "metadata": {"namespace": project},
        "spec": {"clusterName": cluster, "namespace": namespace,
            "hard": {"requests.cpu": "2", "requests.memory": "4Gi", "pods": "10"}}}));
}

fn get(t: &Tke, project: &str, name: &str) -> Option<Value> {
    t.get_json(&[NS, "-n", project, name])
}

/// `(phase, reason)` of a business namespace.
fn phase_of(t: &Tke, project: &str, name: &str) -> Option<(String, String)> {
    let o = get(t, project, name)?;
    let s = |k: &str| o["status"][k].as_str().unwrap_or_default().to_string();
    Some((s("phase"), s("reason")))
}

async fn wait_phase(t: &Tke, project: &str, name: &str, phase: &str) -> Value {
    testkit::wait_until(&format!("{project}/{name} to be {phase}"), WAIT, || async {
        get(t, project, name).filter(|o| o["status"]["phase"] == phase)
    })
    .await
}

/// Makes the controller look at the object now (a change of it), instead of at its next resync.
fn touch(t: &Tke, project: &str, name: &str) {
    let stamp = format!("touched={}", rand_suffix());
    t.kubectl_ok(&["annotate", NS, "-n", project, name, &stamp, "--overwrite"]);
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

fn labels_of(ns: &KubeNamespace) -> (String, String) {
    let l = ns.metadata.labels.clone().unwrap_or_default();
    let get = |k: &str| l.get(k).cloned().unwrap_or_default();
    (get("tkestack.io/projectName"), get("tkestack.io/namespaceName"))
}

fn kube_namespace(name: &str, labels: &[(&str, &str)]) -> KubeNamespace {
    KubeNamespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn pod(name: &str, cpu: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "nginx",
            "resources": {"requests": {"cpu": cpu, "memory": "128Mi"}}}]},
    }))
    .expect("pod")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_become_labelled_namespaces_with_quotas_in_their_clusters() {
    let t = Tke::start();
    let _explain =
        ExplainFailure::new(&t).dumping(&["get", NS, "-A", "-o", "yaml"]).dumping(&["get", NSE, "-A", "-o", "yaml"]);
    let a = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("simulated cluster a");
    let b = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("simulated cluster b");
    import(&t, &a, "cls-a");
    import(&t, &b, "cls-b");
    project(&t, "prj-a", &["cls-a", "cls-b"]);
    let ns_a: Api<KubeNamespace> = Api::all(a.client());
    let ns_b: Api<KubeNamespace> = Api::all(b.client());

    // Created with the labels, and a ResourceQuota of spec.hard named like the namespace.
    business_namespace(&t, "prj-a", "cls-a", "web");
    let obj = wait_phase(&t, "prj-a", "cls-a-web", "Available").await;
    assert_eq!(obj["status"]["resourceQuotaName"], "web");
    assert_eq!(obj["spec"]["finalizers"], json!(["namespace"]));
    let real = ns_a.get("web").await.expect("the namespace in cls-a");
    assert_eq!(labels_of(&real), ("prj-a".into(), "cls-a-web".into()));
    let quotas: Api<ResourceQuota> = Api::namespaced(a.client(), "web");
    let quota = quotas.get("web").await.expect("the quota");
    let hard = quota.spec.and_then(|s| s.hard).expect("hard");
    assert_eq!(hard.get("requests.cpu"), Some(&Quantity("2".into())));
    assert_eq!(hard.get("pods"), Some(&Quantity("10".into())));

    // The same namespace name in another cluster of the project is another object.
    business_namespace(&t, "prj-a", "cls-b", "web");
    wait_phase(&t, "prj-a", "cls-b-web", "Available").await;
    assert_eq!(labels_of(&ns_b.get("web").await.expect("web in cls-b")), ("prj-a".into(), "cls-b-web".into()));

    // A cluster that cannot be reached is reported, and the namespace is Available again once
    // it answers.
    let addresses = |port: u16| {
        format!(r#"{{"status":{{"addresses":[{{"type":"Advertise","host":"127.0.0.1","port":{port}}}]}}}}"#)
    };
    let port_b: u16 = b.url().rsplit(':').next().and_then(|p| p.trim_end_matches('/').parse().ok()).expect("port");
    let patch_cluster = |body: String| {
        t.kubectl_ok(&["patch", "cluster", "cls-b", "--subresource=status", "--type=merge", "-p", &body]);
    };
    patch_cluster(addresses(1));
    touch(&t, "prj-a", "cls-b-web");
    testkit::wait_until("cls-b unreachable reported", WAIT, || async {
        (phase_of(&t, "prj-a", "cls-b-web")? == ("Failed".into(), "ConnectClusterError".into())).then_some(())
    })
    .await;
    patch_cluster(addresses(port_b));
    touch(&t, "prj-a", "cls-b-web");
    let back = wait_phase(&t, "prj-a", "cls-b-web", "Available").await;
    assert!(back["status"]["reason"].is_null(), "{back}");

    // What the pods use shows in status.used.
    let pods: Api<Pod> = Api::namespaced(a.client(), "web");
    pods.create(&PostParams::default(), &pod("p1", "500m")).await.expect("pod");
    pods.create(&PostParams::default(), &pod("p2", "250m")).await.expect("pod");
    testkit::wait_until("the pods' usage in status.used", RESYNC_WAIT, || async {
        let o = get(&t, "prj-a", "cls-a-web")?;
        let used = &o["status"]["used"];
        (used["requests.cpu"] == "750m" && used["pods"] == "2" && used["requests.memory"] == "256Mi").then_some(())
    })
    .await;

    // A new spec.hard reaches the cluster's quota.
    t.kubectl_ok(&[
        "patch",
        NS,
        "-n",
        "prj-a",
        "cls-a-web",
        "--type=merge",
        "-p",
        r#"{"spec":{"hard":{"pods":"20"}}}"#,
    ]);
    testkit::wait_until("the new hard in the cluster", WAIT, || async {
        let q = quotas.get("web").await.ok()?;
        (q.spec?.hard?.get("pods") == Some(&Quantity("20".into()))).then_some(())
    })
    .await;

    // An unlabelled namespace is adopted.
    ns_a.create(&PostParams::default(), &kube_namespace("legacy", &[])).await.expect("legacy");
    business_namespace(&t, "prj-a", "cls-a", "legacy");
    wait_phase(&t, "prj-a", "cls-a-legacy", "Available").await;
    assert_eq!(labels_of(&ns_a.get("legacy").await.expect("legacy")), ("prj-a".into(), "cls-a-legacy".into()));

    // One of another project is refused, and left as it is.
    ns_a.create(&PostParams::default(), &kube_namespace("taken", &[("tkestack.io/projectName", "prj-other")]))
        .await
        .expect("taken");
    business_namespace(&t, "prj-a", "cls-a", "taken");
    let failed = wait_phase(&t, "prj-a", "cls-a-taken", "Failed").await;
    assert_eq!(failed["status"]["reason"], "ConflictProject");
    assert!(failed["status"]["message"].as_str().unwrap_or_default().contains("prj-other"), "{failed}");
    assert_eq!(labels_of(&ns_a.get("taken").await.expect("taken")).0, "prj-other");

    // Deleted behind the platform's back: reported, not made again; adopted when it is back.
    ns_a.delete("legacy", &DeleteParams::default()).await.expect("delete legacy");
    testkit::wait_until("legacy gone in the cluster", WAIT, || async {
        ns_a.get_opt("legacy").await.ok()?.is_none().then_some(())
    })
    .await;
    touch(&t, "prj-a", "cls-a-legacy");
    let missing = wait_phase(&t, "prj-a", "cls-a-legacy", "Failed").await;
    assert_eq!(missing["status"]["reason"], "NamespaceNotFound");
    assert!(ns_a.get_opt("legacy").await.expect("read").is_none(), "not created again");
    ns_a.create(&PostParams::default(), &kube_namespace("legacy", &[])).await.expect("legacy again");
    touch(&t, "prj-a", "cls-a-legacy");
    wait_phase(&t, "prj-a", "cls-a-legacy", "Available").await;
    assert_eq!(labels_of(&ns_a.get("legacy").await.expect("legacy")).0, "prj-a");

    // Labels taken off an established namespace are reported.
    {
        let patch =
            json!({"metadata": {"labels": {"tkestack.io/projectName": null, "tkestack.io/namespaceName": null}}});
        ns_a.patch("legacy", &Default::default(), &kube::api::Patch::Merge(patch)).await.expect("unlabel");
    }
    touch(&t, "prj-a", "cls-a-legacy");
    testkit::wait_until("the lost labels reported", WAIT, || async {
        (phase_of(&t, "prj-a", "cls-a-legacy")? == ("Failed".into(), "NamespaceUnlabelled".into())).then_some(())
    })
    .await;

    // Deletion removes the namespace labelled as the object's, in its cluster only.
    t.kubectl_ok(&["delete", NS, "-n", "prj-a", "cls-a-web", "--wait=false"]);
    testkit::wait_until("cls-a-web gone", WAIT, || async { get(&t, "prj-a", "cls-a-web").is_none().then_some(()) })
        .await;
    assert!(ns_a.get_opt("web").await.expect("read").is_none(), "the namespace of cls-a is deleted");
    assert!(ns_b.get_opt("web").await.expect("read").is_some(), "cls-b keeps its own");
    // ...and never one that is not (another project's, or unlabelled).
    for name in ["cls-a-taken", "cls-a-legacy"] {
        t.kubectl_ok(&["delete", NS, "-n", "prj-a", name, "--wait=false"]);
        testkit::wait_until(&format!("{name} gone"), WAIT, || async { get(&t, "prj-a", name).is_none().then_some(()) })
            .await;
    }
    assert!(ns_a.get_opt("taken").await.expect("read").is_some(), "another project's namespace stays");
    assert!(ns_a.get_opt("legacy").await.expect("read").is_some(), "an unlabelled namespace stays");

    // A deletion the cluster cannot take yet shows Terminating and why; it ends once it answers.
    patch_cluster(addresses(1));
    t.kubectl_ok(&["delete", NS, "-n", "prj-a", "cls-b-web", "--wait=false"]);
    let held = testkit::wait_until("the held deletion explained", WAIT, || async {
        get(&t, "prj-a", "cls-b-web").filter(|o| o["status"]["reason"] == "ConnectClusterError")
    })
    .await;
    assert_eq!(held["status"]["phase"], "Terminating", "{held}");
    assert!(ns_b.get_opt("web").await.expect("read").is_some());
    patch_cluster(addresses(port_b));
    testkit::wait_until("cls-b-web gone", WAIT, || async { get(&t, "prj-a", "cls-b-web").is_none().then_some(()) })
        .await;
    assert!(ns_b.get_opt("web").await.expect("read").is_none(), "deleted in cls-b once it answered");
}

/// `(phase, reason)` of an emigration.
fn emigration_phase(t: &Tke, project: &str, name: &str) -> Option<(String, String)> {
    let o = t.get_json(&[NSE, "-n", project, name])?;
    let s = |k: &str| o["status"][k].as_str().unwrap_or_default().to_string();
    Some((s("phase"), s("reason")))
}

fn emigrate(t: &Tke, project: &str, name: &str, namespace: &str, destination: &str) {
    t.create(&json!({"apiVersion": "business.tkestack.io/v1", "kind": "NsEmigration",
        "metadata": {"name": name, "namespace": project},
        "spec": {"namespace": namespace, "nsShowName": namespace, "destination": destination}}));
}

async fn wait_emigration(t: &Tke, project: &str, name: &str, phase: &str) -> String {
    testkit::wait_until(&format!("emigration {name} to be {phase}"), WAIT, || async {
        let (p, reason) = emigration_phase(t, project, name)?;
        (p == phase).then_some(reason)
    })
    .await
}

/// The namespace `ns` of the cluster moved to `destination`: the old object gone, the new one
/// Available, the namespace labelled for it and still there with its quota.
async fn assert_moved(
    t: &Tke,
    cluster: &Api<KubeNamespace>,
    sim: &kubesim::SimCluster,
    from: &str,
    to: &str,
    ns: &str,
) {
    let name = format!("cls-a-{ns}");
    testkit::wait_until(&format!("{from}/{name} gone"), WAIT, || async { get(t, from, &name).is_none().then_some(()) })
        .await;
    wait_phase(t, to, &name, "Available").await;
    let real = cluster.get(ns).await.expect("the namespace stays in the cluster");
    assert_eq!(labels_of(&real), (to.to_string(), name.clone()));
    let quotas: Api<ResourceQuota> = Api::namespaced(sim.client(), ns);
    assert!(quotas.get_opt(ns).await.expect("read").is_some(), "the quota stays");
}

/// Takes the business controllers' Lease, as another replica would: they stop.
fn pause_controllers(t: &Tke) {
    let before = t.log().matches("another replica holds the lease").count();
    t.kubectl_ok(&[
        "patch",
        "lease",
        "-n",
        "tke",
        LEASE,
        "--type=merge",
        "-p",
        r#"{"spec":{"holderIdentity":"test-pause","leaseDurationSeconds":3600}}"#,
    ]);
    testkit::tke::wait_for("the business controllers to step down", WAIT, || {
        (t.log().matches("another replica holds the lease").count() > before).then_some(())
    });
}

/// Gives the Lease back: the controllers of `tke up` take it over at once.
fn resume_controllers(t: &Tke) {
    t.kubectl_ok(&["patch", "lease", "-n", "tke", LEASE, "--type=merge", "-p", r#"{"spec":{"holderIdentity":null}}"#]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_move_between_projects_and_a_stopped_move_finishes() {
    let mut t = Tke::start();
    let a = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("simulated cluster a");
    import(&t, &a, "cls-a");
    project(&t, "prj-a", &["cls-a"]);
    project(&t, "prj-b", &["cls-a"]);
    project(&t, "prj-c", &[]);
    let ns_a: Api<KubeNamespace> = Api::all(a.client());
    {
        let _explain = ExplainFailure::new(&t)
            .dumping(&["get", NS, "-A", "-o", "yaml"])
            .dumping(&["get", NSE, "-A", "-o", "yaml"]);

        // A move that cannot be made is refused at creation, saying which field to change, and
        // leaves the namespace as it was.
        business_namespace(&t, "prj-a", "cls-a", "stay");
        wait_phase(&t, "prj-a", "cls-a-stay", "Available").await;
        for (namespace, destination, field, says) in [
            ("cls-a-stay", "prj-c", "spec.destination", "project prj-c may not use cluster cls-a"),
            ("cls-a-stay", "prj-missing", "spec.destination", "tenant default has no project prj-missing"),
            ("cls-a-nothing", "prj-b", "spec.namespace", "project prj-a has no namespace cls-a-nothing"),
        ] {
            let body = json!({"apiVersion": "business.tkestack.io/v1", "kind": "NsEmigration",
                "metadata": {"generateName": "nse-", "namespace": "prj-a"},
                "spec": {"namespace": namespace, "destination": destination}});
            let out = t.kubectl_with(&["create", "-f", "-"], &[], Some(&body.to_string()));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{namespace} to {destination} is refused");
            assert!(stderr.contains(field) && stderr.contains(says), "{stderr}");
        }
        let stay = get(&t, "prj-a", "cls-a-stay").expect("still there");
        assert_eq!(stay["status"]["phase"], "Available");
        assert!(stay["metadata"]["annotations"]["business.tkestack.io/emigration"].is_null(), "{stay}");
        assert_eq!(labels_of(&ns_a.get("stay").await.expect("stay")).0, "prj-a");

        // The whole move.
        business_namespace(&t, "prj-a", "cls-a", "move");
        wait_phase(&t, "prj-a", "cls-a-move", "Available").await;
        let pods: Api<Pod> = Api::namespaced(a.client(), "move");
        pods.create(&PostParams::default(), &pod("keep", "100m")).await.expect("pod");
        emigrate(&t, "prj-a", "nse-move", "cls-a-move", "prj-b");
        wait_emigration(&t, "prj-a", "nse-move", "Finished").await;
        assert_moved(&t, &ns_a, &a, "prj-a", "prj-b", "move").await;
        assert!(pods.get_opt("keep").await.expect("read").is_some(), "the workloads stay");
        // Its quota is counted in its new project, and no longer in the old one (which keeps
        // only `stay`).
        for (project, cpu) in [("prj-a", "2"), ("prj-b", "2")] {
            testkit::wait_until(&format!("{project}'s usage"), WAIT, || async {
                let p = t.get_json(&["projects.business.tkestack.io", project])?;
                (p["status"]["clusters"]["cls-a"]["used"]["requests.cpu"] == cpu).then_some(())
            })
            .await;
        }
    }

    // A move stopped after each phase: the controllers are out of the Lease while a stand-in
    // takes the move up to that phase, then come back (once after the platform was killed).
    let platform = controller_runtime::platform_client(&t.kubeconfig()).await.expect("platform client");
    let clusters: Arc<dyn controller_runtime::cluster::ClusterClients> =
        Arc::new(controller_runtime::cluster::PlatformClusters::new(
            platform.clone(),
            controller_runtime::cluster::ClientOptions::timeout(Duration::from_secs(10)),
        ));
    let stops = ["Pending", "OldOneLocked", "OldOneDetached", "NewOneCreated", "OldOneTerminating"];
    for (i, stop) in stops.iter().enumerate() {
        let ns = format!("r{i}");
        let name = format!("cls-a-{ns}");
        let nse = format!("nse-r{i}");
        {
            let _explain = ExplainFailure::new(&t)
                .dumping(&["get", NS, "-A", "-o", "yaml"])
                .dumping(&["get", NSE, "-A", "-o", "yaml"]);
            business_namespace(&t, "prj-a", "cls-a", &ns);
            wait_phase(&t, "prj-a", &name, "Available").await;
            pause_controllers(&t);
            emigrate(&t, "prj-a", &nse, &name, "prj-b");
            loop {
                let phase = emigration_phase(&t, "prj-a", &nse).map(|p| p.0).unwrap_or_default();
                if phase == *stop {
                    break;
                }
                match business::emigration::advance(platform.clone(), clusters.clone(), "prj-a", &nse).await {
                    Ok(business::emigration::Progress::Phase(p)) => {
                        assert_ne!(
                            p,
                            "Failed",
                            "the stand-in failed the move: {:?}",
                            emigration_phase(&t, "prj-a", &nse)
                        );
                    }
                    Ok(business::emigration::Progress::Wait(_)) => panic!("the stand-in waits at {phase}"),
                    Err(e) => panic!("the stand-in failed at {phase}: {e}"),
                }
            }
            // At every moment it belongs to one project, or is visibly locked by the move.
            let old = get(&t, "prj-a", &name);
            let real = labels_of(&ns_a.get(&ns).await.expect("the namespace"));
            match *stop {
                "Pending" | "OldOneLocked" => assert_eq!(real, ("prj-a".to_string(), name.clone())),
                // Detached, and not adopted yet (its controller is out of the Lease).
                _ => assert_eq!(real, (String::new(), String::new())),
            }
            if *stop != "Pending" && *stop != "OldOneTerminating" {
                let old = old.clone().expect("the old object");
                assert_eq!(old["status"]["phase"], "Locked", "{old}");
                assert_eq!(old["metadata"]["annotations"]["business.tkestack.io/emigration"], format!("prj-a/{nse}"));
            }
            if *stop == "OldOneTerminating" {
                let old = old.expect("the old object waits for its controller");
                assert!(old["metadata"]["deletionTimestamp"].is_string(), "{old}");
            }
        }
        if i == 2 {
            // Not only out of the Lease: the platform itself dies, and comes back.
            t.kill9();
            t.start_again();
        }
        let _explain = ExplainFailure::new(&t)
            .dumping(&["get", NS, "-A", "-o", "yaml"])
            .dumping(&["get", NSE, "-A", "-o", "yaml"]);
        resume_controllers(&t);
        wait_emigration(&t, "prj-a", &nse, "Finished").await;
        assert_moved(&t, &ns_a, &a, "prj-a", "prj-b", &ns).await;
    }

    // A move deleted before the new object exists is called off: the namespace is back.
    let _explain =
        ExplainFailure::new(&t).dumping(&["get", NS, "-A", "-o", "yaml"]).dumping(&["get", NSE, "-A", "-o", "yaml"]);
    business_namespace(&t, "prj-a", "cls-a", "cancel");
    wait_phase(&t, "prj-a", "cls-a-cancel", "Available").await;
    pause_controllers(&t);
    emigrate(&t, "prj-a", "nse-cancel", "cls-a-cancel", "prj-b");
    while emigration_phase(&t, "prj-a", "nse-cancel").map(|p| p.0).unwrap_or_default() != "OldOneDetached" {
        let step = business::emigration::advance(platform.clone(), clusters.clone(), "prj-a", "nse-cancel").await;
        assert!(matches!(step, Ok(business::emigration::Progress::Phase(_))), "{step:?}");
    }
    t.kubectl_ok(&["delete", NSE, "-n", "prj-a", "nse-cancel", "--wait=false"]);
    resume_controllers(&t);
    testkit::wait_until("nse-cancel gone", WAIT, || async {
        t.get_json(&[NSE, "-n", "prj-a", "nse-cancel"]).is_none().then_some(())
    })
    .await;
    let back = wait_phase(&t, "prj-a", "cls-a-cancel", "Available").await;
    assert!(back["metadata"]["annotations"]["business.tkestack.io/emigration"].is_null(), "{back}");
    assert_eq!(labels_of(&ns_a.get("cancel").await.expect("cancel")), ("prj-a".into(), "cls-a-cancel".into()));
    assert!(get(&t, "prj-b", "cls-a-cancel").is_none(), "no new object");
}
