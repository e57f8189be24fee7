//! Managing business clusters through the platform, against the real `tke up` and simulated
//! clusters speaking the real Kubernetes API: `clusters/{name}/proxy` (kubectl, and a kube-rs
//! watcher whose base URL is the proxy), the unified proxy (`X-TKE-ClusterName`), the cluster
//! actions (apply, drain, apiresources, addons), `--demo`, and the add-on lifecycle.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::{
    Api, Client, Config,
    api::{ListParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
    runtime::watcher,
};
use serde_json::json;
use testkit::tke::Tke;

async fn platform_config(t: &Tke) -> Config {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kubeconfig = Kubeconfig::read_from(t.kubeconfig()).expect("kubeconfig");
    Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.expect("config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_proxy_and_unified_proxy_reach_the_business_cluster() {
    let t = Tke::start();
    let sim = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("simulated cluster");
    import(&t, &sim, "cls-proxy");

    // kubectl through the proxy subresource sees the business cluster's namespaces.
    let out =
        t.kubectl_ok(&["get", "--raw", "/apis/platform.tkestack.io/v1/clusters/cls-proxy/proxy/api/v1/namespaces"]);
    let list: serde_json::Value = serde_json::from_str(&out).expect("namespace list");
    let names: Vec<&str> =
        list["items"].as_array().expect("items").iter().filter_map(|n| n["metadata"]["name"].as_str()).collect();
    assert!(names.contains(&"kube-system") && names.contains(&"default"), "{names:?}");

    // TKEStack's ?path= form, and no loop back into the platform's own API.
    let out = t.kubectl_ok(&[
        "get",
        "--raw",
        "/apis/platform.tkestack.io/v1/clusters/cls-proxy/proxy?path=/api/v1/namespaces/default",
    ]);
    assert!(out.contains("\"name\":\"default\""), "{out}");
    let out = t.kubectl(&[
        "get",
        "--raw",
        "/apis/platform.tkestack.io/v1/clusters/cls-proxy/proxy/apis/platform.tkestack.io/v1/clusters",
    ]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("loop back"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A kube-rs client whose base URL is the proxy: writes, lists and watches stream through.
    let mut config = platform_config(&t).await;
    config.cluster_url = format!(
        "{}/apis/platform.tkestack.io/v1/clusters/cls-proxy/proxy",
        config.cluster_url.to_string().trim_end_matches('/')
    )
    .parse()
    .expect("url");
    let through = Client::try_from(config).expect("client");
    let cms: Api<ConfigMap> = Api::namespaced(through.clone(), "default");
    let mut events = watcher(cms.clone(), watcher::Config::default().fields("metadata.name=via-proxy")).boxed();
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("via-proxy".into());
    cm.data = Some([("k".to_string(), "v".to_string())].into());
    cms.create(&PostParams::default(), &cm).await.expect("create through the proxy");
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(ev) = events.next().await {
            if let watcher::Event::Apply(o) | watcher::Event::InitApply(o) = ev.expect("watch event through the proxy")
                && o.metadata.name.as_deref() == Some("via-proxy")
            {
                return;
            }
        }
        panic!("the watch through the proxy ended");
    })
    .await
    .expect("the watch through the proxy delivers the new ConfigMap");
    // It really is in the business cluster.
    let direct: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    assert_eq!(direct.get("via-proxy").await.expect("in the business cluster").data.expect("data")["k"], "v");

    // The unified proxy: a core path with the header goes to the cluster; the platform's own
    // groups stay local even with the header.
    let platform = Client::try_from(platform_config(&t).await).expect("client");
    let req = http::Request::get("/api/v1/namespaces/kube-system")
        .header("X-TKE-ClusterName", "cls-proxy")
        .body(Vec::new())
        .expect("request");
    let ns: Namespace = platform.request(req).await.expect("unified proxy");
    assert_eq!(ns.metadata.name.as_deref(), Some("kube-system"));
    let req = http::Request::get("/apis/platform.tkestack.io/v1/clusters/cls-proxy")
        .header("X-TKE-ClusterName", "cls-proxy")
        .body(Vec::new())
        .expect("request");
    let local: serde_json::Value = platform.request(req).await.expect("platform group stays local");
    assert_eq!(local["kind"], "Cluster");
    let req = http::Request::get("/api/v1/namespaces")
        .header("X-TKE-ClusterName", "no-such-cluster")
        .body(Vec::new())
        .expect("request");
    match platform.request::<serde_json::Value>(req).await {
        Err(kube::Error::Api(e)) => assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"), "{e:?}"),
        other => panic!("an unknown cluster is NotFound, got {other:?}"),
    }
    // Discovery is public on the platform but not in a business cluster.
    for path in ["/api", "/apis", "/version"] {
        let (code, body) = t.curl(&["-H", "X-TKE-ClusterName: cls-proxy", &format!("{}{path}", t.url)]);
        assert_eq!(code, 401, "anonymous {path} through the unified proxy: {body}");
    }
    // Without the header, core paths are not the platform's.
    let plain: Api<Namespace> = Api::all(platform.clone());
    assert!(plain.list(&ListParams::default()).await.is_err(), "the platform serves no namespaces itself");

    // A cluster whose API server is gone answers 503 with the reason, not a hang.
    sim.stop().await;
    let out = t.kubectl(&["get", "--raw", "/apis/platform.tkestack.io/v1/clusters/cls-proxy/proxy/api/v1/namespaces"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did not answer") || err.contains("ServiceUnavailable") || err.contains("503"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_drain_apiresources_and_addons_act_on_the_business_cluster() {
    use k8s_openapi::api::core::v1::{Node, Pod};
    let t = Tke::start();
    let sim = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("simulated cluster");
    import(&t, &sim, "cls-act");
    let base = "/apis/platform.tkestack.io/v1/clusters/cls-act";

    // apply: every object gets a result; a bad one fails alone.
    let manifest = "\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
---
apiVersion: example.com/v1
kind: Gizmo
metadata: {name: nope}
";
    let out = t.kubectl_with(&["create", "--raw", &format!("{base}/apply"), "-f", "-"], &[], Some(manifest));
    let text = if out.status.success() {
        String::from_utf8_lossy(&out.stdout).to_string()
    } else {
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    assert!(!out.status.success(), "one object failed, so the request reports failure: {text}");
    let ok = t.kubectl_with(
        &["create", "--raw", &format!("{base}/apply"), "-f", "-"],
        &[],
        Some(&manifest[..manifest.find("---\napiVersion: example.com").expect("split")]),
    );
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let result: serde_json::Value = serde_json::from_slice(&ok.stdout).expect("apply result");
    assert_eq!(result["failed"], 0, "{result}");
    let applied: Vec<(&str, &str)> = result["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| (i["kind"].as_str().unwrap_or(""), i["result"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(applied, [("Namespace", "applied"), ("Deployment", "applied")]);
    // notUpdate: existing objects are left alone, missing ones created.
    let more = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra, namespace: shop}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n";
    let out = t.kubectl_with(&["create", "--raw", &format!("{base}/apply?notUpdate=true"), "-f", "-"], &[], Some(more));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("apply result");
    let outcomes: Vec<&str> =
        result["items"].as_array().expect("items").iter().filter_map(|i| i["result"].as_str()).collect();
    assert_eq!(outcomes, ["created", "exists"]);
    // The failing manifest: the Gizmo's error names the missing kind, the others still applied.
    let platform = Client::try_from(platform_config(&t).await).expect("client");
    let req = http::Request::post(format!("{base}/apply")).body(manifest.as_bytes().to_vec()).expect("request");
    let raw = platform.request_text(req).await;
    let body = match raw {
        Err(kube::Error::Api(e)) => e.message,
        Ok(text) => text,
        Err(e) => panic!("{e}"),
    };
    assert!(
        body.contains("2 of 3 objects applied") && body.contains("Gizmo nope") && body.contains("does not serve Gizmo"),
        "{body}"
    );
    assert!(text.contains("Gizmo"), "kubectl shows the failure: {text}");

    // The Deployment's pods run on the simulated nodes.
    let pods: Api<Pod> = Api::namespaced(sim.client(), "shop");
    let node: String = testkit::wait_until("the web pods to be scheduled", Duration::from_secs(30), || {
        let pods = pods.clone();
        async move {
            let list = pods.list(&ListParams::default()).await.ok()?;
            let nodes: Vec<String> = list.items.iter().filter_map(|p| p.spec.as_ref()?.node_name.clone()).collect();
            (nodes.len() == 2).then(|| nodes[0].clone())
        }
    })
    .await;

    // drain: the node is cordoned and its web pod leaves it.
    let drained = t.kubectl_ok(&["create", "--raw", &format!("{base}/drain/{node}"), "-f", "/dev/null"]);
    let drained: serde_json::Value = serde_json::from_str(&drained).expect("drain result");
    assert_eq!(drained["cordoned"], true, "{drained}");
    assert!(
        drained["evicted"]
            .as_array()
            .is_some_and(|e| e.iter().any(|p| p.as_str().is_some_and(|p| p.starts_with("shop/web-")))),
        "{drained}"
    );
    let nodes: Api<Node> = Api::all(sim.client());
    assert_eq!(nodes.get(&node).await.expect("node").spec.and_then(|s| s.unschedulable), Some(true));

    // Draining a node the cluster does not have is NotFound.
    let out = t.kubectl(&["create", "--raw", &format!("{base}/drain/no-such-node"), "-f", "/dev/null"]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("NotFound"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // apiresources: the cluster's own resources.
    let res: serde_json::Value =
        serde_json::from_str(&t.kubectl_ok(&["get", "--raw", &format!("{base}/apiresources")])).expect("apiresources");
    let apps =
        res["items"].as_array().expect("items").iter().find(|g| g["groupVersion"] == "apps/v1").expect("apps/v1");
    assert!(
        apps["apiResources"]
            .as_array()
            .expect("resources")
            .iter()
            .any(|r| r["name"] == "deployments" && r["namespaced"] == true),
        "{apps}"
    );

    // addons: the platform's add-on objects of this cluster, and the catalogue.
    let addon = json!({"apiVersion": "platform.tkestack.io/v1", "kind": "PersistentEvent", "metadata": {"name": "pe-act"}, "spec": {"clusterName": "cls-act", "version": "v1.0.0", "persistentBackEnd": {"es": {"ip": "10.0.0.9", "port": 9200, "scheme": "http", "indexName": "events"}}}});
    let out = t.kubectl_with(&["create", "-f", "-"], &[], Some(&addon.to_string()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let addons: serde_json::Value =
        serde_json::from_str(&t.kubectl_ok(&["get", "--raw", &format!("{base}/addons")])).expect("addons");
    assert_eq!(addons["items"][0]["type"], "PersistentEvent", "{addons}");
    assert_eq!(addons["items"][0]["name"], "pe-act");
    let types: serde_json::Value =
        serde_json::from_str(&t.kubectl_ok(&["get", "--raw", &format!("{base}/addontypes")])).expect("addontypes");
    assert_eq!(types["items"].as_array().map(Vec::len), Some(11), "{types}");

    // Wrong verbs are refused with 405.
    let out = t.kubectl(&["get", "--raw", &format!("{base}/apply")]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("MethodNotAllowed")
            || String::from_utf8_lossy(&out.stderr).contains("405")
            || String::from_utf8_lossy(&out.stderr).contains("only accepts POST"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    sim.stop().await;
}

#[test]
fn demo_imports_a_simulated_cluster_that_survives_restarts() {
    let mut t = Tke::start_with(testkit::tke::tke_binary(), testkit::tke::Storage::Embedded, &["--demo"]);
    let nodes_path = "/apis/platform.tkestack.io/v1/clusters/cls-demo/proxy/api/v1/nodes";
    let count_nodes = |t: &Tke| -> Option<usize> {
        let out = t.kubectl(&["get", "--raw", nodes_path]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        v["items"].as_array().map(Vec::len)
    };
    assert_eq!(
        testkit::tke::wait_for("the demo cluster's nodes", Duration::from_secs(30), || count_nodes(&t)
            .filter(|n| *n > 0)),
        3
    );
    let cls =
        t.kubectl_ok(&["get", "cls", "cls-demo", "-o", "jsonpath={.spec.type} {.metadata.labels.tkestack\\.io/demo}"]);
    assert_eq!(cls, "Imported true");
    // Something made in the demo cluster is there after a restart, behind its new address.
    let ns = r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"kept"}}"#;
    let out = t.kubectl_with(
        &["create", "--raw", "/apis/platform.tkestack.io/v1/clusters/cls-demo/proxy/api/v1/namespaces", "-f", "-"],
        &[],
        Some(ns),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    t.restart();
    assert_eq!(
        testkit::tke::wait_for("the demo cluster after a restart", Duration::from_secs(30), || count_nodes(&t)
            .filter(|n| *n > 0)),
        3
    );
    let kept =
        t.kubectl_ok(&["get", "--raw", "/apis/platform.tkestack.io/v1/clusters/cls-demo/proxy/api/v1/namespaces/kept"]);
    assert!(kept.contains("\"name\":\"kept\""), "{kept}");
}

/// The add-on's `status.phase`, `status.version` and `status.reason` as kubectl shows them.
fn addon_status(t: &Tke, kind: &str, name: &str) -> (String, String, String) {
    let out = t.kubectl(&["get", kind, name, "-o", "jsonpath={.status.phase}|{.status.version}|{.status.reason}"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut parts = text.splitn(3, '|').map(str::to_string);
    (parts.next().unwrap_or_default(), parts.next().unwrap_or_default(), parts.next().unwrap_or_default())
}

/// Waits (deadline 60 s) until the add-on's status satisfies `done`; on timeout, fails with its
/// last status and the end of the server's log.
fn wait_addon(
    t: &Tke,
    kind: &str,
    name: &str,
    what: &str,
    done: impl Fn(&(String, String, String)) -> bool,
) -> (String, String, String) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let s = addon_status(t, kind, name);
        if done(&s) {
            return s;
        }
        if std::time::Instant::now() > deadline {
            let log = t.log();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            panic!(
                "timed out waiting for {what}; last status {s:?}; log:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addons_install_run_upgrade_and_uninstall_in_the_business_cluster() {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let fast = [
        "--addon-check-interval-seconds",
        "1",
        "--addon-health-period-seconds",
        "1",
        "--addon-retry-delay-seconds",
        "1",
        "--addon-registry",
        "registry.example.com",
    ];
    let t = Tke::start_with(testkit::tke::tke_binary(), testkit::tke::Storage::Embedded, &fast);
    let sim = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("simulated cluster");
    import(&t, &sim, "cls-addons");

    let addon = json!({"apiVersion": "platform.tkestack.io/v1", "kind": "CronHPA", "metadata": {"name": "cronhpa-1"}, "spec": {"clusterName": "cls-addons", "version": "v1.0.0"}});
    let out = t.kubectl_with(&["create", "-f", "-"], &[], Some(&addon.to_string()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (phase, version, _) = wait_addon(&t, "cronhpa", "cronhpa-1", "the CronHPA add-on to run", |s| s.0 == "Running");
    assert_eq!((phase.as_str(), version.as_str()), ("Running", "v1.0.0"));

    // Its objects are in the business cluster, images from the configured registry.
    let deployments: Api<Deployment> = Api::namespaced(sim.client(), "kube-system");
    let d = deployments.get("tke-cronhpa-controller").await.expect("the controller's Deployment");
    let image = d.spec.template.spec.map(|p| p.containers[0].image.clone().unwrap_or_default()).unwrap_or_default();
    assert_eq!(image, "registry.example.com/tkestack/tke:v1.0.0");
    let crds: Api<CustomResourceDefinition> = Api::all(sim.client());
    crds.get("cronhpas.extensions.tkestack.io").await.expect("the CronHPA CRD");
    let listed: serde_json::Value = serde_json::from_str(&t.kubectl_ok(&[
        "get",
        "--raw",
        "/apis/platform.tkestack.io/v1/clusters/cls-addons/addons",
    ]))
    .expect("addons");
    assert_eq!(
        (listed["items"][0]["type"].as_str(), listed["items"][0]["phase"].as_str()),
        (Some("CronHPA"), Some("Running")),
        "{listed}"
    );

    // A new version upgrades the workload in place.
    t.kubectl_ok(&["patch", "cronhpa", "cronhpa-1", "--type", "merge", "-p", r#"{"spec":{"version":"v1.1.0"}}"#]);
    wait_addon(&t, "cronhpa", "cronhpa-1", "the upgrade to v1.1.0", |s| s.0 == "Running" && s.1 == "v1.1.0");
    let d = deployments.get("tke-cronhpa-controller").await.expect("deployment");
    let image = d.spec.template.spec.map(|p| p.containers[0].image.clone().unwrap_or_default()).unwrap_or_default();
    assert_eq!(image, "registry.example.com/tkestack/tke:v1.1.0");

    // A removed workload makes it Failed with TKEStack's reason; it recovers when it is back.
    deployments.delete("tke-cronhpa-controller", &Default::default()).await.expect("delete the workload");
    let (_, _, reason) = wait_addon(&t, "cronhpa", "cronhpa-1", "the add-on to notice", |s| s.0 == "Failed");
    assert!(reason.starts_with("CronHPA is not healthy."), "{reason}");

    // An add-on for a cluster that cannot be reached waits without spending its retries.
    let lost = json!({"apiVersion": "platform.tkestack.io/v1", "kind": "TappController", "metadata": {"name": "tc-lost"}, "spec": {"clusterName": "cls-nowhere"}});
    let out = t.kubectl_with(&["create", "-f", "-"], &[], Some(&lost.to_string()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (_, _, reason) =
        wait_addon(&t, "tappcontroller", "tc-lost", "the add-on to wait for its cluster", |s| s.0 == "Pending");
    assert!(reason.contains("cls-nowhere"), "{reason}");

    // Deleting the add-on uninstalls it from the cluster, then the object goes.
    t.kubectl_ok(&["delete", "cronhpa", "cronhpa-1", "--wait=false"]);
    testkit::tke::wait_for("the add-on object to go", Duration::from_secs(60), || {
        let out = t.kubectl(&["get", "cronhpa", "cronhpa-1"]);
        (!out.status.success()).then_some(())
    });
    // The CRD goes once the cluster has cleaned up its custom objects (its own finalizer).
    tokio::time::timeout(Duration::from_secs(30), async {
        while crds.get_opt("cronhpas.extensions.tkestack.io").await.expect("read").is_some() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the CRD was removed");
    assert!(deployments.get_opt("tke-cronhpa-controller").await.expect("read").is_none(), "the Deployment was removed");
    t.kubectl_ok(&["delete", "tappcontroller", "tc-lost", "--wait=false"]);

    // Deleting the cluster deletes its add-ons first (uninstalled while it still answers), then
    // the cluster goes.
    let again = json!({"apiVersion": "platform.tkestack.io/v1", "kind": "CronHPA", "metadata": {"name": "cronhpa-2"}, "spec": {"clusterName": "cls-addons"}});
    let out = t.kubectl_with(&["create", "-f", "-"], &[], Some(&again.to_string()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait_addon(&t, "cronhpa", "cronhpa-2", "the second CronHPA add-on to run", |s| s.0 == "Running");
    t.kubectl_ok(&["delete", "cluster", "cls-addons", "--wait=false"]);
    testkit::tke::wait_for("the cluster and its add-on to go", Duration::from_secs(60), || {
        let addon = t.kubectl(&["get", "cronhpa", "cronhpa-2"]);
        let cluster = t.kubectl(&["get", "cluster", "cls-addons"]);
        (!addon.status.success() && !cluster.status.success()).then_some(())
    });
    assert!(
        deployments.get_opt("tke-cronhpa-controller").await.expect("read").is_none(),
        "the add-on was uninstalled from the deleted cluster"
    );
    sim.stop().await;
}

/// A drain through `clusters/{name}/drain` that a PodDisruptionBudget refuses answers at once and
/// names the budget (the cluster's 429 is not retried inside the request).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_refused_by_a_disruption_budget_names_the_budget_within_seconds() {
    use k8s_openapi::api::core::v1::Pod;
    let t = Tke::start();
    let sim = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("simulated cluster");
    import(&t, &sim, "cls-pdb");
    let base = "/apis/platform.tkestack.io/v1/clusters/cls-pdb";
    let manifest = "\
apiVersion: v1
kind: Namespace
metadata: {name: bank}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ledger, namespace: bank}
spec:
  replicas: 1
  selector: {matchLabels: {app: ledger}}
  template:
    metadata: {labels: {app: ledger}}
    spec: {containers: [{name: ledger, image: ledger}]}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: ledger-budget, namespace: bank}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: ledger}}
";
    let out = t.kubectl_with(&["create", "--raw", &format!("{base}/apply"), "-f", "-"], &[], Some(manifest));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pods: Api<Pod> = Api::namespaced(sim.client(), "bank");
    let node = testkit::wait_until("the ledger pod runs on a node", Duration::from_secs(30), || {
        let pods = pods.clone();
        async move {
            let list = pods.list(&ListParams::default()).await.ok()?;
            let pod = list.items.into_iter().next()?;
            let running = pod.status.as_ref()?.phase.as_deref() == Some("Running");
            running.then(|| pod.spec?.node_name).flatten()
        }
    })
    .await;

    let platform = Client::try_from(platform_config(&t).await).expect("client");
    let req = http::Request::post(format!("{base}/drain/{node}")).body(kube::client::Body::empty()).expect("request");
    let started = std::time::Instant::now();
    let resp = platform.send(req).await.expect("the drain answers");
    let took = started.elapsed();
    let code = resp.status();
    let body = http_body_util::BodyExt::collect(resp.into_body()).await.expect("body").to_bytes();
    let result: serde_json::Value = serde_json::from_slice(&body).expect("a DrainResult");
    assert_eq!(code, 409, "the budget refuses the eviction, so the drain is not a success: {result}");
    let answer = result["errors"].to_string();
    assert!(
        answer.contains("bank/ledger-") && answer.contains("ledger-budget"),
        "the answer names the budget: {answer}"
    );
    assert!(took < Duration::from_secs(5), "answered in {took:?}, not after kube's own retries");
    // The pod is still there, its node cordoned.
    assert_eq!(pods.list(&ListParams::default()).await.expect("pods").items.len(), 1);
}

/// Imports `sim` as cluster `name`.
fn import(t: &Tke, sim: &kubesim::SimCluster, name: &str) {
    t.import_cluster(name, sim.url(), sim.ca_pem().as_bytes(), sim.admin_token());
}
