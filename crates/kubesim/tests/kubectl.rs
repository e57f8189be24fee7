//! The real `kubectl` against a simulated cluster: it must not tell it from a real one for the
//! everyday commands (get nodes, get pods across namespaces, create a deployment, wait for its
//! rollout, scale, delete).

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use kubesim::{SimCluster, SimOptions};

fn kubectl_binary() -> String {
    std::env::var("KUBECTL").unwrap_or_else(|_| "/usr/bin/kubectl".into())
}

/// Runs kubectl with the cluster's kubeconfig on a blocking thread; returns stdout, failing the
/// test with stderr when kubectl fails.
async fn kubectl(kubeconfig: &Path, args: &[&str]) -> String {
    let kubeconfig = kubeconfig.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let out = Command::new(kubectl_binary())
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(&args)
            .output()
            .expect("kubectl runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "kubectl {} failed: {}\n{stdout}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    })
    .await
    .expect("kubectl thread")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_sees_a_working_cluster() {
    let mut opts = SimOptions::default();
    // As in tests/cluster.rs: the etcd at KUBESIM_TEST_ETCD instead of the embedded store.
    if let Ok(endpoint) = std::env::var("KUBESIM_TEST_ETCD") {
        let store = storage::etcd::EtcdStore::connect(&[endpoint], Default::default()).await.expect("etcd");
        opts.store = Some(std::sync::Arc::new(store));
        opts.key_root = format!("/kubesim-kubectl-{}", std::process::id());
    }
    let cluster = SimCluster::start(opts).await.expect("the simulated cluster starts");
    let kc = cluster.kubeconfig_path();

    let nodes = kubectl(kc, &["get", "nodes"]).await;
    let lines: Vec<&str> = nodes.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{nodes}");
    assert_eq!(lines.len(), 4, "three nodes:\n{nodes}");
    assert!(lines[1].contains("kwok-node-0") && lines[1].contains("True") && lines[1].contains("v1.32.0"), "{nodes}");

    let names =
        kubectl(kc, &["get", "nodes", "-o", "jsonpath={.items[*].status.conditions[?(@.type==\"Ready\")].status}"])
            .await;
    assert_eq!(names.trim(), "True True True");

    // `kubectl create deployment` sends the Deployment in protobuf (kubectl's typed clients).
    let created = kubectl(kc, &["create", "deployment", "nginx", "--image=nginx", "--replicas=2"]).await;
    assert_eq!(created.trim(), "deployment.apps/nginx created");
    kubectl(kc, &["rollout", "status", "deployment/nginx", "--timeout=60s"]).await;

    let pods = kubectl(kc, &["get", "pods", "-A"]).await;
    let nginx: Vec<&str> = pods.lines().filter(|l| l.starts_with("default") && l.contains("nginx-")).collect();
    assert_eq!(nginx.len(), 2, "{pods}");
    assert!(nginx.iter().all(|l| l.contains("Running")), "{pods}");

    let deploy = kubectl(kc, &["get", "deploy", "nginx", "-o", "jsonpath={.status.availableReplicas}"]).await;
    assert_eq!(deploy.trim(), "2");

    kubectl(kc, &["scale", "deployment", "nginx", "--replicas=3"]).await;
    kubectl(kc, &["rollout", "status", "deployment/nginx", "--timeout=60s"]).await;

    kubectl(kc, &["delete", "deployment", "nginx"]).await;
    let start = Instant::now();
    loop {
        let left = kubectl(kc, &["get", "pods", "-l", "app=nginx", "-o", "name"]).await;
        if left.trim().is_empty() {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "pods not collected: {left}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    cluster.stop().await;
}
