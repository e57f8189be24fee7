//! Business quotas against the real `tke up`: a project's per-cluster quota is never
//! oversubscribed by concurrent namespace or sub-project creations, lowering it below what is
//! allocated is refused, a reservation left by a crash is reclaimed, deleted namespaces give
//! their quota back, and every refusal of reference 4.2 names the field and what to change.

use std::{sync::Arc, time::Duration};

use kube::{
    Api, Client, Config,
    api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
};
use serde_json::{Value, json};
use testkit::tke::{ExplainFailure, Tke};

/// Quota changes must show in the project's status within this.
const CONVERGE: Duration = Duration::from_secs(10);

async fn client(t: &Tke) -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kubeconfig = Kubeconfig::read_from(t.kubeconfig()).expect("kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.expect("config");
    Client::try_from(config).expect("client")
}

fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("business.tkestack.io", "v1", kind), plural)
}

fn projects(c: &Client) -> Api<DynamicObject> {
    Api::all_with(c.clone(), &resource("Project", "projects"))
}

fn namespaces(c: &Client, project: &str) -> Api<DynamicObject> {
    Api::namespaced_with(c.clone(), project, &resource("Namespace", "namespaces"))
}

fn obj(v: Value) -> DynamicObject {
    serde_json::from_value(v).expect("object")
}

fn project(name: &str, parent: Option<&str>, clusters: Value) -> DynamicObject {
    let mut spec = json!({"displayName": name, "clusters": clusters});
    if let Some(p) = parent {
        spec["parentProjectName"] = json!(p);
    }
    obj(json!({"apiVersion": "business.tkestack.io/v1", "kind": "Project", "metadata": {"name": name}, "spec": spec}))
}

fn namespace(cluster: &str, ns: &str, hard: Value) -> DynamicObject {
    obj(json!({
        "apiVersion": "business.tkestack.io/v1", "kind": "Namespace",
        "metadata": {"name": format!("{cluster}-{ns}")},
        "spec": {"clusterName": cluster, "namespace": ns, "hard": hard},
    }))
}

/// The refusal of a call: (code, message, fields of its causes).
fn refusal<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> (u16, String, Vec<String>) {
    match r {
        Err(kube::Error::Api(s)) => {
            let fields =
                s.details.as_ref().map(|d| d.causes.iter().map(|c| c.field.clone()).collect()).unwrap_or_default();
            (s.code, s.message.clone(), fields)
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Asserts a 422 naming `field` whose message contains `text`.
fn assert_invalid<T: std::fmt::Debug>(r: Result<T, kube::Error>, field: &str, text: &str) {
    let (code, message, fields) = refusal(r);
    assert_eq!(code, 422, "{message}");
    assert!(fields.iter().any(|f| f == field), "no cause for {field} in {fields:?}: {message}");
    assert!(message.contains(text), "{text:?} not in {message:?}");
}

/// `status.clusters[cluster].used[key]` of a project.
async fn used(c: &Client, project: &str, cluster: &str, key: &str) -> Option<String> {
    let p = projects(c).get(project).await.ok()?;
    p.data["status"]["clusters"][cluster]["used"][key].as_str().map(str::to_string)
}

/// Waits until `used` of the project says `want` and no reservation is pending.
async fn converged(c: &Client, project: &str, cluster: &str, want: &str) {
    let deadline = tokio::time::Instant::now() + CONVERGE;
    loop {
        let p = projects(c).get(project).await.expect("project");
        let u = p.data["status"]["clusters"][cluster]["used"]["cpu"].as_str().unwrap_or("0").to_string();
        let pending = p.data["status"]["reservations"].as_array().map_or(0, Vec::len);
        if u == want && pending == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{project}: used cpu {u} with {pending} reservations, not {want}, after {CONVERGE:?}: {}",
            p.data["status"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `n` creations at once; returns how many were admitted and the refusals' (code, message).
async fn create_all(api: Api<DynamicObject>, objects: Vec<DynamicObject>) -> (usize, Vec<(u16, String)>) {
    let api = Arc::new(api);
    let tasks: Vec<_> = objects
        .into_iter()
        .map(|o| {
            let api = api.clone();
            tokio::spawn(async move { api.create(&PostParams::default(), &o).await })
        })
        .collect();
    let (mut admitted, mut refused) = (0, vec![]);
    for t in tasks {
        match t.await.expect("task") {
            Ok(_) => admitted += 1,
            Err(kube::Error::Api(s)) => refused.push((s.code, s.message.clone())),
            Err(e) => panic!("create failed outside the API: {e}"),
        }
    }
    (admitted, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn namespaces_never_oversubscribe_their_project() {
    let t = Tke::start();
    let _explain = ExplainFailure::new(&t);
    let sim = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("simulated cluster");
    t.import_cluster("cls-a", sim.url(), sim.ca_pem().as_bytes(), sim.admin_token());
    let c = client(&t).await;
    projects(&c)
        .create(&PostParams::default(), &project("prj-q", None, json!({"cls-a": {"hard": {"cpu": "37"}}})))
        .await
        .expect("project");

    // A dry run is checked but reserves nothing.
    let dry = PostParams { dry_run: true, ..Default::default() };
    namespaces(&c, "prj-q").create(&dry, &namespace("cls-a", "dry", json!({"cpu": "30"}))).await.expect("dry run");
    let p = projects(&c).get("prj-q").await.expect("project");
    assert!(p.data["status"]["reservations"].as_array().is_none_or(Vec::is_empty), "{}", p.data["status"]);

    // 100 creations of 1 CPU at once against 37: exactly 37 land, the others are told why.
    // Meanwhile the project's usage is watched: it never says more than the quota.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (c, done) = (c.clone(), done.clone());
        tokio::spawn(async move {
            let mut max = 0.0f64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(u) = used(&c, "prj-q", "cls-a", "cpu").await {
                    max = max.max(u.parse::<f64>().unwrap_or(f64::MAX));
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            max
        })
    };
    let objects = (0..100).map(|i| namespace("cls-a", &format!("ns-{i}"), json!({"cpu": "1"}))).collect();
    let (admitted, refused) = create_all(namespaces(&c, "prj-q"), objects).await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let max_used = watcher.await.expect("watcher");
    assert!(max_used <= 37.0, "used reached {max_used}");
    assert_eq!(admitted, 37, "refusals: {refused:?}");
    assert_eq!(refused.len(), 63);
    for (code, message) in &refused {
        assert_eq!(*code, 422, "{message}");
        assert!(message.contains("left in cluster cls-a"), "{message}");
    }
    let stored = namespaces(&c, "prj-q").list(&ListParams::default()).await.expect("list").items.len();
    assert_eq!(stored, 37);
    converged(&c, "prj-q", "cls-a", "37").await;
    let p = projects(&c).get("prj-q").await.expect("project");
    assert_eq!(p.data["status"]["calculatedNamespaces"].as_array().map(Vec::len), Some(37));

    // Full: one more is refused with the numbers.
    let r =
        namespaces(&c, "prj-q").create(&PostParams::default(), &namespace("cls-a", "more", json!({"cpu": "1"}))).await;
    assert_invalid(r, "spec.hard[cpu]", "project prj-q has 0 cpu left in cluster cls-a");

    // Lowering the quota below what is allocated is refused; raising it is not.
    let lower = json!({"spec": {"clusters": {"cls-a": {"hard": {"cpu": "10"}}}}});
    let r = projects(&c).patch("prj-q", &PatchParams::default(), &Patch::Merge(&lower)).await;
    assert_invalid(r, "spec.clusters[cls-a].hard[cpu]", "the new hard 10 cpu is below the 37 cpu already allocated");
    let r = projects(&c)
        .patch("prj-q", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"clusters": {"cls-a": null}}})))
        .await;
    assert_invalid(r, "spec.clusters", "cluster cls-a cannot be removed");
    let raise = json!({"spec": {"clusters": {"cls-a": {"hard": {"cpu": "38"}}}}});
    projects(&c).patch("prj-q", &PatchParams::default(), &Patch::Merge(&raise)).await.expect("raise");

    // Raising a namespace's quota takes from what is left; the update replaces its old quota.
    let two = json!({"spec": {"hard": {"cpu": "2"}}});
    let first = namespaces(&c, "prj-q").list(&ListParams::default()).await.expect("list").items[0].clone();
    let first_name = first.metadata.name.clone().expect("name");
    namespaces(&c, "prj-q").patch(&first_name, &PatchParams::default(), &Patch::Merge(&two)).await.expect("raise ns");
    converged(&c, "prj-q", "cls-a", "38").await;
    let three = json!({"spec": {"hard": {"cpu": "3"}}});
    let r = namespaces(&c, "prj-q").patch(&first_name, &PatchParams::default(), &Patch::Merge(&three)).await;
    assert_invalid(r, "spec.hard[cpu]", "has 2 cpu left in cluster cls-a");

    // A crash between reservation and write leaves a reservation without an object: it is
    // reclaimed and `used` is the truth again.
    let crash = json!({"status": {
        "clusters": {"cls-a": {"used": {"cpu": "43"}}},
        "reservations": [{"object": "namespaces/cls-a-ghost", "cluster": "cls-a", "hard": {"cpu": "5"}, "time": "2020-01-01T00:00:00Z"}],
    }});
    projects(&c).patch_status("prj-q", &PatchParams::default(), &Patch::Merge(&crash)).await.expect("crash");
    converged(&c, "prj-q", "cls-a", "38").await;

    // A deleted namespace gives its quota back once it is gone (its finalizer cleared, as the
    // namespace controller does after deleting it from the cluster).
    namespaces(&c, "prj-q").delete(&first_name, &DeleteParams::default()).await.expect("delete");
    let mut gone = namespaces(&c, "prj-q").get(&first_name).await.expect("terminating").data;
    gone["spec"]["finalizers"] = json!([]);
    gone["metadata"]["name"] = json!(first_name);
    gone["apiVersion"] = json!("business.tkestack.io/v1");
    gone["kind"] = json!("Namespace");
    namespaces(&c, "prj-q")
        .replace_subresource("finalize", &first_name, &PostParams::default(), &gone)
        .await
        .expect("finalize");
    converged(&c, "prj-q", "cls-a", "36").await;
    namespaces(&c, "prj-q")
        .create(&PostParams::default(), &namespace("cls-a", "again", json!({"cpu": "2"})))
        .await
        .expect("quota given back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sub_projects_never_oversubscribe_and_every_refusal_says_what_to_change() {
    let t = Tke::start();
    let _explain = ExplainFailure::new(&t);
    let sim = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("simulated cluster");
    t.import_cluster("cls-a", sim.url(), sim.ca_pem().as_bytes(), sim.admin_token());
    t.import_cluster("cls-b", sim.url(), sim.ca_pem().as_bytes(), sim.admin_token());
    let c = client(&t).await;
    let pp = PostParams::default();
    let mp = PatchParams::default();
    projects(&c)
        .create(&pp, &project("prj-p", None, json!({"cls-a": {"hard": {"cpu": "37", "memory": "64Gi"}}})))
        .await
        .expect("parent");

    // 100 sub-projects of 1 CPU at once: exactly 37.
    let objects = (0..100)
        .map(|i| {
            project(&format!("prj-c{i}"), Some("prj-p"), json!({"cls-a": {"hard": {"cpu": "1", "memory": "1Gi"}}}))
        })
        .collect();
    let (admitted, refused) = create_all(projects(&c), objects).await;
    assert_eq!(admitted, 37, "refusals: {refused:?}");
    for (code, message) in &refused {
        assert_eq!(*code, 422, "{message}");
        assert!(message.contains("project prj-p has 0 cpu left in cluster cls-a"), "{message}");
    }
    converged(&c, "prj-p", "cls-a", "37").await;
    assert_eq!(used(&c, "prj-p", "cls-a", "memory").await.as_deref(), Some("37Gi"));
    let children =
        projects(&c).list(&ListParams::default().fields("spec.parentProjectName=prj-p")).await.expect("list");
    let child = children.items[0].metadata.name.clone().expect("name");
    let p = projects(&c).get("prj-p").await.expect("parent");
    assert_eq!(p.data["status"]["calculatedChildProjects"].as_array().map(Vec::len), Some(37));

    // Project refusals.
    let r = projects(&c).create(&pp, &project("prj-orphan", Some("prj-none"), json!({}))).await;
    assert_invalid(r, "spec.parentProjectName", "project prj-none does not exist");
    let r = projects(&c).create(&pp, &project("prj-b", Some("prj-p"), json!({"cls-b": {"hard": {"cpu": "0"}}}))).await;
    assert_invalid(
        r,
        "spec.clusters[cls-b]",
        "parent project prj-p forbids this project to use cluster cls-b: add it to prj-p's clusters first",
    );
    let r = projects(&c).create(&pp, &project("prj-nocls", None, json!({"cls-nope": {"hard": {"cpu": "1"}}}))).await;
    assert_invalid(r, "spec.clusters[cls-nope]", "cluster cls-nope does not exist in tenant default");
    let r = projects(&c).create(&pp, &project("prj-bad", None, json!({"cls-a": {"hard": {"cpu": "lots"}}}))).await;
    assert_invalid(r, "spec.clusters[cls-a].hard[cpu]", "is not a quantity");
    // A cycle: prj-x under prj-y under prj-x.
    projects(&c).create(&pp, &project("prj-x", None, json!({}))).await.expect("x");
    projects(&c).create(&pp, &project("prj-y", Some("prj-x"), json!({}))).await.expect("y");
    let r = projects(&c).patch("prj-x", &mp, &Patch::Merge(&json!({"spec": {"parentProjectName": "prj-y"}}))).await;
    assert_invalid(r, "spec.parentProjectName", "ancestor projects form a cycle: prj-x → prj-y → prj-x");
    // A parent may change: the quota moves (it must fit in the new parent).
    let r = projects(&c).patch("prj-y", &mp, &Patch::Merge(&json!({"spec": {"parentProjectName": child}}))).await;
    r.expect("move prj-y (no quota) under a child");
    let r = projects(&c)
        .patch(&child, &mp, &Patch::Merge(&json!({"spec": {"clusters": {"cls-a": {"hard": {"cpu": "2"}}}}})))
        .await;
    assert_invalid(r, "spec.clusters[cls-a].hard[cpu]", "project prj-p has 1 cpu left in cluster cls-a");
    // A child's own quota cannot go below what its sub-projects take.
    projects(&c)
        .create(&pp, &project("prj-gc", Some(&child), json!({"cls-a": {"hard": {"cpu": "1"}}})))
        .await
        .expect("grandchild");
    let r = projects(&c)
        .patch(&child, &mp, &Patch::Merge(&json!({"spec": {"clusters": {"cls-a": {"hard": {"cpu": "500m"}}}}})))
        .await;
    assert_invalid(r, "spec.clusters[cls-a].hard[cpu]", "the new hard 500m cpu is below the 1 cpu already allocated");

    // Another tenant's project is not a parent (an administrator may create for any tenant).
    let mut other = project("prj-t2", Some("prj-p"), json!({}));
    other.data["spec"]["tenantID"] = json!("t2");
    let r = projects(&c).create(&pp, &other).await;
    assert_invalid(r, "spec.parentProjectName", "project prj-p does not exist in tenant t2");

    // Moving a sub-project moves its quota: taken from the new parent, given back by the old.
    projects(&c)
        .create(&pp, &project("prj-p2", None, json!({"cls-a": {"hard": {"cpu": "5"}}})))
        .await
        .expect("second parent");
    projects(&c)
        .patch(&child, &mp, &Patch::Merge(&json!({"spec": {"parentProjectName": "prj-p2"}})))
        .await
        .expect("move");
    converged(&c, "prj-p", "cls-a", "36").await;
    converged(&c, "prj-p2", "cls-a", "1").await;

    // Namespace refusals.
    let r = namespaces(&c, "prj-none").create(&pp, &namespace("cls-a", "n1", json!({"cpu": "1"}))).await;
    assert_invalid(r, "metadata.namespace", "project prj-none does not exist");
    projects(&c)
        .create(&pp, &project("prj-n", None, json!({"cls-a": {"hard": {"cpu": "4"}}})))
        .await
        .expect("project for namespaces");
    let r = namespaces(&c, "prj-n").create(&pp, &namespace("cls-b", "n1", json!({"cpu": "1"}))).await;
    assert_invalid(
        r,
        "spec.clusterName",
        "project prj-n forbids its namespaces to use cluster cls-b: add it to prj-n's clusters first",
    );
    let r = namespaces(&c, "prj-n").create(&pp, &namespace("cls-a", "n1", json!({"cpu": "5"}))).await;
    assert_invalid(r, "spec.hard[cpu]", "project prj-n has 4 cpu left in cluster cls-a");
    let r = namespaces(&c, "prj-n").create(&pp, &namespace("cls-a", "n1", json!({"cpu": "x1"}))).await;
    assert_invalid(r, "spec.hard[cpu]", "is not a quantity");
    // Resources the project does not bound are not limited by it; requests.cpu is not cpu.
    namespaces(&c, "prj-n")
        .create(&pp, &namespace("cls-a", "n1", json!({"cpu": "4", "requests.cpu": "100"})))
        .await
        .expect("fits");
    let mut other = namespace("cls-a", "n3", json!({}));
    other.data["spec"]["tenantID"] = json!("t2");
    let r = namespaces(&c, "prj-n").create(&pp, &other).await;
    assert_invalid(r, "metadata.namespace", "project prj-n does not exist in tenant t2");
    // A locked project, then one being deleted, takes nothing new.
    let lock = json!({"status": {"locked": true}});
    projects(&c).patch_status("prj-n", &mp, &Patch::Merge(&lock)).await.expect("lock");
    let r = namespaces(&c, "prj-n").create(&pp, &namespace("cls-a", "n2", json!({}))).await;
    assert_invalid(r, "metadata.namespace", "project prj-n is locked");
    let r = projects(&c).create(&pp, &project("prj-under-locked", Some("prj-n"), json!({}))).await;
    assert_invalid(r, "spec.parentProjectName", "project prj-n is locked");
    let terminating = json!({"status": {"locked": false, "phase": "Terminating"}});
    projects(&c).patch_status("prj-n", &mp, &Patch::Merge(&terminating)).await.expect("terminating");
    let r = namespaces(&c, "prj-n").create(&pp, &namespace("cls-a", "n2", json!({}))).await;
    assert_invalid(r, "metadata.namespace", "project prj-n is being deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_etcd_admit_no_more_than_the_quota_together() {
    let etcd = testkit::etcd::Etcd::start();
    let storage = testkit::tke::Storage::Etcd(etcd.endpoints());
    let a = Tke::start_with(testkit::tke::tke_binary(), storage.clone(), &[]);
    let _explain_a = ExplainFailure::new(&a);
    let b = Tke::start_with(testkit::tke::tke_binary(), storage, &[]);
    let _explain_b = ExplainFailure::new(&b);
    let sim = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("simulated cluster");
    a.import_cluster("cls-a", sim.url(), sim.ca_pem().as_bytes(), sim.admin_token());
    let (ca, cb) = (client(&a).await, client(&b).await);
    projects(&ca)
        .create(&PostParams::default(), &project("prj-ha", None, json!({"cls-a": {"hard": {"cpu": "37"}}})))
        .await
        .expect("project");

    // Half of the 100 creations through each replica, all at once.
    let half = |from: usize| -> Vec<DynamicObject> {
        (from..from + 50).map(|i| namespace("cls-a", &format!("ns-{i}"), json!({"cpu": "1"}))).collect()
    };
    let (ra, rb) =
        tokio::join!(create_all(namespaces(&ca, "prj-ha"), half(0)), create_all(namespaces(&cb, "prj-ha"), half(50)));
    let admitted = ra.0 + rb.0;
    let refused: Vec<_> = ra.1.iter().chain(&rb.1).collect();
    assert_eq!(admitted, 37, "refusals: {refused:?}");
    assert!(refused.iter().all(|(code, m)| *code == 422 && m.contains("left in cluster cls-a")), "{refused:?}");
    assert_eq!(namespaces(&cb, "prj-ha").list(&ListParams::default()).await.expect("list").items.len(), 37);
    converged(&cb, "prj-ha", "cls-a", "37").await;
}
