//! Reaching a business cluster through the platform: `clusters/{name}/proxy` (with kubectl and a
//! kube-rs watcher whose base URL is the proxy) and the unified proxy (`X-TKE-ClusterName`),
//! against the real `tke up` and a simulated cluster speaking the real Kubernetes API.

use std::time::Duration;

use base64::Engine;
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

/// Imports `sim` as cluster `name` by creating its credential and the cluster with kubectl.
fn import(t: &Tke, sim: &kubesim::SimCluster, name: &str) {
    let ca = base64::engine::general_purpose::STANDARD.encode(sim.ca_pem());
    let port = sim.url().rsplit(':').next().expect("port").trim_end_matches('/');
    let cred = json!({
        "apiVersion": "platform.tkestack.io/v1", "kind": "ClusterCredential",
        "metadata": {"name": format!("cc-{name}")},
        "clusterName": name, "caCert": ca, "token": sim.admin_token(),
    });
    let cluster = json!({
        "apiVersion": "platform.tkestack.io/v1", "kind": "Cluster",
        "metadata": {"name": name},
        "spec": {"type": "Imported", "clusterCredentialRef": {"name": format!("cc-{name}")}},
        "status": {"addresses": [{"type": "Advertise", "host": "127.0.0.1", "port": port.parse::<i64>().expect("port number")}]},
    });
    for obj in [cred, cluster] {
        let out = t.kubectl_with(&["create", "-f", "-"], &[], Some(&obj.to_string()));
        assert!(out.status.success(), "kubectl create: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_proxy_and_unified_proxy_reach_the_business_cluster() {
    let t = Tke::start();
    let sim = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("simulated cluster");
    import(&t, &sim, "cls-proxy");

    // kubectl through the proxy subresource sees the business cluster's namespaces.
    let out = t.kubectl_ok(&["get", "--raw", "/apis/platform.tkestack.io/v1/clusters/cls-proxy/proxy/api/v1/namespaces"]);
    let list: serde_json::Value = serde_json::from_str(&out).expect("namespace list");
    let names: Vec<&str> = list["items"].as_array().expect("items").iter().filter_map(|n| n["metadata"]["name"].as_str()).collect();
    assert!(names.contains(&"kube-system") && names.contains(&"default"), "{names:?}");

    // A kube-rs client whose base URL is the proxy: writes, lists and watches stream through.
    let mut config = platform_config(&t).await;
    config.cluster_url = format!("{}/apis/platform.tkestack.io/v1/clusters/cls-proxy/proxy", config.cluster_url.to_string().trim_end_matches('/')).parse().expect("url");
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
    let req = http::Request::get("/api/v1/namespaces/kube-system").header("X-TKE-ClusterName", "cls-proxy").body(Vec::new()).expect("request");
    let ns: Namespace = platform.request(req).await.expect("unified proxy");
    assert_eq!(ns.metadata.name.as_deref(), Some("kube-system"));
    let req = http::Request::get("/apis/platform.tkestack.io/v1/clusters/cls-proxy").header("X-TKE-ClusterName", "cls-proxy").body(Vec::new()).expect("request");
    let local: serde_json::Value = platform.request(req).await.expect("platform group stays local");
    assert_eq!(local["kind"], "Cluster");
    let req = http::Request::get("/api/v1/namespaces").header("X-TKE-ClusterName", "no-such-cluster").body(Vec::new()).expect("request");
    match platform.request::<serde_json::Value>(req).await {
        Err(kube::Error::Api(e)) => assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"), "{e:?}"),
        other => panic!("an unknown cluster is NotFound, got {other:?}"),
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
