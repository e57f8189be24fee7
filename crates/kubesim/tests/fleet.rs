//! Clusters of one fleet, seen from outside as an importer sees them: each answers on its own
//! HTTPS address, accepts its own admin token and not another's, keeps its objects apart from
//! the others' although they share a store, and is simulated (its nodes Ready, its workloads'
//! pods Running).

use std::time::Duration;

use k8s_openapi::api::{apps::v1 as apps, core::v1 as core};
use kube::{
    Api,
    api::{ListParams, PostParams},
};
use kubesim::{SimCluster, SimFleet};

/// A client of `cluster` from outside: its URL, its CA and a bearer token.
fn client_with_token(cluster: &SimCluster, token: &str) -> kube::Client {
    let mut config = kube::Config::new(cluster.url().parse().expect("a URL"));
    config.root_cert = Some(vec![pem_der(cluster.ca_pem())]);
    config.auth_info.token = Some(token.to_string().into());
    kube::Client::try_from(config).expect("a client")
}

fn pem_der(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).expect("PEM")
}

async fn wait_for<Fut: std::future::Future<Output = bool>>(what: &str, mut check: impl FnMut() -> Fut) {
    testkit::wait_until(what, Duration::from_secs(60), || {
        let done = check();
        async move { done.await.then_some(()) }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_clusters_are_separate_clusters_behind_their_own_address_and_token() {
    let fleet = SimFleet::new(Default::default()).await.expect("a fleet");
    let a = fleet.start("alpha").await.expect("alpha starts");
    let b = fleet.start("beta").await.expect("beta starts");
    assert_ne!(a.url(), b.url());
    assert_ne!(a.admin_token(), b.admin_token());

    let ca = client_with_token(&a, a.admin_token());
    let version = ca.apiserver_version().await.expect("alpha answers over HTTPS");
    assert_eq!(version.git_version, "v1.32.0");
    let nodes: Api<core::Node> = Api::all(ca.clone());
    assert_eq!(nodes.list(&ListParams::default()).await.expect("nodes").items.len(), 3);

    let wrong = client_with_token(&a, b.admin_token());
    let err = Api::<core::Node>::all(wrong)
        .list(&ListParams::default())
        .await
        .expect_err("beta's token opens nothing in alpha");
    assert!(matches!(err, kube::Error::Api(ref s) if s.code == 401), "{err:?}");

    // A workload in alpha runs there and nowhere else.
    let deploy: apps::Deployment = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}
    }))
    .expect("a Deployment");
    Api::<apps::Deployment>::namespaced(ca.clone(), "default")
        .create(&PostParams::default(), &deploy)
        .await
        .expect("create");
    let pods: Api<core::Pod> = Api::namespaced(ca.clone(), "default");
    wait_for("alpha's two pods Running", || async {
        pods.list(&ListParams::default())
            .await
            .map(|l| {
                l.items.iter().filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")).count()
                    == 2
            })
            .unwrap_or(false)
    })
    .await;
    let cb = client_with_token(&b, b.admin_token());
    assert!(
        Api::<core::Pod>::namespaced(cb, "default")
            .list(&ListParams::default())
            .await
            .expect("beta's pods")
            .items
            .is_empty()
    );

    // The kubeconfig written for a cluster reaches it with the admin certificate.
    let kc = kubesim::cluster::client_from_kubeconfig(b.kubeconfig_path()).await.expect("a client from the kubeconfig");
    assert_eq!(Api::<core::Node>::all(kc).list(&ListParams::default()).await.expect("nodes").items.len(), 3);
}
