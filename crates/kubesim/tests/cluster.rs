//! End-to-end tests of a simulated cluster through kube-rs, as product code sees it: nodes that
//! are Ready, workloads whose pods run, scaling, DaemonSets, StatefulSets, services and garbage
//! collection.

use std::{future::Future, time::Duration};

use k8s_openapi::{
    api::{apps::v1 as apps, coordination::v1 as coordination, core::v1 as core},
    apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta},
};
use kube::{
    Api,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
};
use kubesim::{SimCluster, SimOptions};

const DEADLINE: Duration = Duration::from_secs(60);

/// Polls `check` until it returns `Some`, failing the test with `what` after the deadline.
async fn wait_for<T, Fut: Future<Output = Option<T>>>(what: &str, check: impl FnMut() -> Fut) -> T {
    testkit::wait_until(what, DEADLINE, check).await
}

/// Clusters use their embedded store, or the etcd at `KUBESIM_TEST_ETCD` (each cluster under
/// its own key prefix) when that is set.
async fn start(nodes: usize) -> SimCluster {
    let mut opts = SimOptions::default();
    opts.config.nodes = nodes;
    if let Ok(endpoint) = std::env::var("KUBESIM_TEST_ETCD") {
        let store = storage::etcd::EtcdStore::connect(&[endpoint], Default::default()).await.expect("etcd");
        opts.store = Some(std::sync::Arc::new(store));
        opts.key_root = format!("/kubesim-{}", rand_suffix());
    }
    SimCluster::start(opts).await.expect("the simulated cluster starts")
}

fn rand_suffix() -> String {
    format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos())
}

fn labels(app: &str) -> std::collections::BTreeMap<String, String> {
    [("app".to_string(), app.to_string())].into()
}

fn template(app: &str, image: &str) -> core::PodTemplateSpec {
    core::PodTemplateSpec {
        metadata: Some(ObjectMeta { labels: Some(labels(app)), ..Default::default() }),
        spec: Some(core::PodSpec {
            containers: vec![core::Container { name: app.into(), image: Some(image.into()), ..Default::default() }],
            ..Default::default()
        }),
    }
}

fn selector(app: &str) -> LabelSelector {
    LabelSelector { match_labels: Some(labels(app)), ..Default::default() }
}

fn running(p: &core::Pod) -> bool {
    let s = p.status.clone().unwrap_or_default();
    s.phase.as_deref() == Some("Running")
        && s.pod_ip.is_some()
        && s.container_statuses.unwrap_or_default().iter().all(|c| c.ready)
}

async fn pods_of(api: &Api<core::Pod>, app: &str) -> Vec<core::Pod> {
    api.list(&ListParams::default().labels(&format!("app={app}"))).await.map(|l| l.items).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_are_ready_with_capacity_leases_and_namespaces() {
    let cluster = start(3).await;
    let client = cluster.client();
    let nodes: Api<core::Node> = Api::all(client.clone());
    let list = nodes.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(list.len(), 3);
    for n in &list {
        let status = n.status.clone().unwrap();
        let ready = status.conditions.unwrap().into_iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.status, "True");
        assert_eq!(status.capacity.unwrap()["pods"].0, "110");
        assert_eq!(status.node_info.unwrap().kubelet_version, "v1.32.0");
    }
    let leases: Api<coordination::Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let lease = leases.get("kwok-node-0").await.unwrap();
    assert_eq!(lease.spec.unwrap().holder_identity.as_deref(), Some("kwok-node-0"));
    let ns: Api<core::Namespace> = Api::all(client.clone());
    for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert_eq!(ns.get(name).await.unwrap().status.unwrap().phase.as_deref(), Some("Active"));
    }
    let sas: Api<core::ServiceAccount> = Api::namespaced(client.clone(), "kube-system");
    wait_for("the default service account", || async { sas.get_opt("default").await.ok().flatten() }).await;
    let version = client.apiserver_version().await.unwrap();
    assert_eq!(version.git_version, "v1.32.0");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_run_scale_and_are_collected() {
    let cluster = start(3).await;
    let client = cluster.client();
    let deployments: Api<apps::Deployment> = Api::namespaced(client.clone(), "default");
    let pods: Api<core::Pod> = Api::namespaced(client.clone(), "default");
    let sets: Api<apps::ReplicaSet> = Api::namespaced(client.clone(), "default");
    let d = apps::Deployment {
        metadata: ObjectMeta { name: Some("web".into()), ..Default::default() },
        spec: apps::DeploymentSpec {
            replicas: Some(3),
            selector: selector("web"),
            template: template("web", "nginx:1.27"),
            ..Default::default()
        },
        status: None,
    };
    deployments.create(&PostParams::default(), &d).await.unwrap();

    let running_pods = wait_for("3 running pods", || async {
        let p = pods_of(&pods, "web").await;
        (p.len() == 3 && p.iter().all(running)).then_some(p)
    })
    .await;
    let nodes: std::collections::BTreeSet<_> =
        running_pods.iter().filter_map(|p| p.spec.clone().and_then(|s| s.node_name)).collect();
    assert_eq!(nodes.len(), 3, "round-robin scheduling spreads 3 pods over 3 nodes");
    let status = wait_for("availableReplicas 3", || async {
        let s = deployments.get("web").await.ok()?.status?;
        (s.available_replicas == Some(3) && s.updated_replicas == Some(3)).then_some(s)
    })
    .await;
    let available = status.conditions.unwrap().into_iter().find(|c| c.type_.as_deref() == Some("Available")).unwrap();
    assert_eq!(available.status.as_deref(), Some("True"));

    // Field selectors work as on a real cluster.
    let on_node0 = pods.list(&ListParams::default().fields("spec.nodeName=kwok-node-0")).await.unwrap().items;
    assert_eq!(on_node0.len(), 1);
    let running_list = pods.list(&ListParams::default().fields("status.phase=Running")).await.unwrap().items;
    assert_eq!(running_list.len(), 3);

    deployments
        .patch("web", &PatchParams::default(), &Patch::Merge(serde_json::json!({"spec": {"replicas": 1}})))
        .await
        .unwrap();
    wait_for("scale down to 1 pod and availableReplicas 1", || async {
        let p = pods_of(&pods, "web").await;
        let s = deployments.get("web").await.ok()?.status?;
        (p.len() == 1 && s.available_replicas == Some(1) && s.replicas == Some(1)).then_some(())
    })
    .await;

    // A new template rolls out through a second ReplicaSet; the old one goes to zero.
    deployments
        .patch("web", &PatchParams::default(), &Patch::Merge(serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]}}}})))
        .await
        .unwrap();
    wait_for("the rollout of the new image", || async {
        let p = pods_of(&pods, "web").await;
        let ok = p.len() == 1
            && p.iter()
                .all(|p| running(p) && p.spec.as_ref().unwrap().containers[0].image.as_deref() == Some("nginx:1.28"));
        let s = deployments.get("web").await.ok()?.status?;
        (ok && s.updated_replicas == Some(1) && s.replicas == Some(1)).then_some(())
    })
    .await;
    assert_eq!(sets.list(&ListParams::default()).await.unwrap().items.len(), 2);

    deployments.delete("web", &DeleteParams::default()).await.unwrap();
    wait_for("pods and replica sets collected", || async {
        let p = pods_of(&pods, "web").await;
        let rs = sets.list(&ListParams::default()).await.ok()?.items;
        (p.is_empty() && rs.is_empty()).then_some(())
    })
    .await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemonsets_run_one_pod_per_node_and_statefulsets_ordinal_pods() {
    let cluster = start(3).await;
    let client = cluster.client();
    let pods: Api<core::Pod> = Api::namespaced(client.clone(), "kube-system");
    let daemonsets: Api<apps::DaemonSet> = Api::namespaced(client.clone(), "kube-system");
    let ds = apps::DaemonSet {
        metadata: ObjectMeta { name: Some("agent".into()), ..Default::default() },
        spec: apps::DaemonSetSpec {
            selector: selector("agent"),
            template: template("agent", "busybox:1"),
            ..Default::default()
        },
        status: None,
    };
    daemonsets.create(&PostParams::default(), &ds).await.unwrap();
    let agents = wait_for("one running agent per node", || async {
        let p = pods_of(&pods, "agent").await;
        (p.len() == 3 && p.iter().all(running)).then_some(p)
    })
    .await;
    let nodes: std::collections::BTreeSet<_> =
        agents.iter().filter_map(|p| p.spec.clone().and_then(|s| s.node_name)).collect();
    assert_eq!(nodes.len(), 3);
    wait_for("daemon set status", || async {
        let s = daemonsets.get("agent").await.ok()?.status?;
        (s.desired_number_scheduled == 3 && s.number_ready == 3).then_some(())
    })
    .await;

    let sets: Api<apps::StatefulSet> = Api::namespaced(client.clone(), "kube-system");
    let sts = apps::StatefulSet {
        metadata: ObjectMeta { name: Some("db".into()), ..Default::default() },
        spec: apps::StatefulSetSpec {
            replicas: Some(3),
            service_name: Some("db".into()),
            selector: selector("db"),
            template: template("db", "postgres:17"),
            ..Default::default()
        },
        status: None,
    };
    sets.create(&PostParams::default(), &sts).await.unwrap();
    wait_for("ordinal pods db-0..2 ready", || async {
        let mut names: Vec<String> =
            pods_of(&pods, "db").await.into_iter().filter(running).filter_map(|p| p.metadata.name).collect();
        names.sort();
        let s = sets.get("db").await.ok()?.status?;
        (names == ["db-0", "db-1", "db-2"] && s.ready_replicas == Some(3)).then_some(())
    })
    .await;
    sets.patch("db", &PatchParams::default(), &Patch::Merge(serde_json::json!({"spec": {"replicas": 1}})))
        .await
        .unwrap();
    wait_for("scale down from the highest ordinal", || async {
        let names: Vec<String> = pods_of(&pods, "db").await.into_iter().filter_map(|p| p.metadata.name).collect();
        (names == ["db-0"]).then_some(())
    })
    .await;

    daemonsets.delete("agent", &DeleteParams::default()).await.unwrap();
    sets.delete("db", &DeleteParams::default()).await.unwrap();
    wait_for("daemon set and stateful set pods collected", || async {
        (pods_of(&pods, "agent").await.is_empty() && pods_of(&pods, "db").await.is_empty()).then_some(())
    })
    .await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_secrets_and_credentials_work_like_a_real_cluster() {
    let cluster = start(1).await;
    let client = cluster.client();
    let services: Api<core::Service> = Api::namespaced(client.clone(), "default");
    let kubernetes = services.get("kubernetes").await.unwrap();
    assert_eq!(kubernetes.spec.unwrap().cluster_ip.as_deref(), Some("10.96.0.1"));
    let svc = core::Service {
        metadata: ObjectMeta { name: Some("web".into()), ..Default::default() },
        spec: Some(core::ServiceSpec {
            selector: Some(labels("web")),
            ports: Some(vec![core::ServicePort { port: 80, ..Default::default() }]),
            ..Default::default()
        }),
        status: None,
    };
    let created = services.create(&PostParams::default(), &svc).await.unwrap();
    let ip: std::net::Ipv4Addr = created.spec.unwrap().cluster_ip.unwrap().parse().unwrap();
    assert_eq!(ip.octets()[0], 10);
    assert!((96..112).contains(&ip.octets()[1]), "{ip} is in 10.96.0.0/12");

    let secrets: Api<core::Secret> = Api::namespaced(client.clone(), "default");
    let s = core::Secret {
        metadata: ObjectMeta { name: Some("s".into()), ..Default::default() },
        string_data: Some([("password".to_string(), "hunter2".to_string())].into()),
        ..Default::default()
    };
    let stored = secrets.create(&PostParams::default(), &s).await.unwrap();
    assert_eq!(stored.data.unwrap()["password"].0, b"hunter2");
    assert_eq!(stored.type_.as_deref(), Some("Opaque"));

    // The admin bearer token and the CA reach the cluster as a ClusterCredential would.
    let mut config = kube::Config::new(cluster.url().parse().unwrap());
    config.root_cert = Some(vec![pem_to_der(cluster.ca_pem())]);
    config.auth_info.token = Some(cluster.admin_token().to_string().into());
    let by_token = kube::Client::try_from(config).unwrap();
    let nodes: Api<core::Node> = Api::all(by_token);
    assert_eq!(nodes.list(&ListParams::default()).await.unwrap().items.len(), 1);
    cluster.stop().await;
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).expect("PEM body is base64")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clusters_share_one_process() {
    const N: usize = 10;
    let before = rss_kib();
    let mut clusters = vec![];
    for _ in 0..N {
        clusters.push(start(1).await);
    }
    let after = rss_kib();
    eprintln!(
        "resident memory: {before} KiB before, {after} KiB with {N} clusters: about {} KiB per cluster",
        after.saturating_sub(before) / N as u64
    );
    for c in &clusters {
        let nodes: Api<core::Node> = Api::all(c.client());
        assert_eq!(nodes.list(&ListParams::default()).await.unwrap().items.len(), 1);
    }
    let urls: std::collections::BTreeSet<_> = clusters.iter().map(|c| c.url().to_string()).collect();
    assert_eq!(urls.len(), N);
    drop(clusters);
}

/// Resident set size of this process (Linux), 0 where unknown.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evictions_respect_pod_disruption_budgets() {
    use k8s_openapi::api::policy::v1 as policy;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let cluster = start(2).await;
    // Without kube's retries of 429, which would retry a refused eviction for minutes.
    let kubeconfig = kube::config::Kubeconfig::read_from(cluster.kubeconfig_path()).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.unwrap();
    config.default_retry = false;
    let client = kube::Client::try_from(config).unwrap();
    let deployments: Api<apps::Deployment> = Api::namespaced(client.clone(), "default");
    let pods: Api<core::Pod> = Api::namespaced(client.clone(), "default");
    let budgets: Api<policy::PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    let d = apps::Deployment {
        metadata: ObjectMeta { name: Some("db".into()), ..Default::default() },
        spec: apps::DeploymentSpec {
            replicas: Some(2),
            selector: selector("db"),
            template: template("db", "postgres:16"),
            ..Default::default()
        },
        status: None,
    };
    deployments.create(&PostParams::default(), &d).await.unwrap();
    let running_pods = wait_for("2 running pods", || async {
        let p = pods_of(&pods, "db").await;
        (p.len() == 2 && p.iter().all(running)).then_some(p)
    })
    .await;
    let pdb = policy::PodDisruptionBudget {
        metadata: ObjectMeta { name: Some("db".into()), ..Default::default() },
        spec: Some(policy::PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(2)),
            selector: Some(selector("db")),
            ..Default::default()
        }),
        status: None,
    };
    budgets.create(&PostParams::default(), &pdb).await.unwrap();
    let victim = running_pods[0].metadata.name.clone().unwrap();

    // Both pods are needed: the eviction is refused as a real API server refuses it.
    let err = pods.evict(&victim, &Default::default()).await.expect_err("the budget holds");
    match &err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 429, "{s:?}");
            assert!(
                s.message.contains("disruption budget") && s.message.contains("db needs 2 healthy pods"),
                "{}",
                s.message
            );
        }
        e => panic!("unexpected error {e}"),
    }
    assert!(pods.get_opt(&victim).await.unwrap().is_some(), "nothing was deleted");

    // One may go: evicted (deleted), and the ReplicaSet replaces it.
    budgets
        .patch("db", &PatchParams::default(), &Patch::Merge(serde_json::json!({"spec": {"minAvailable": 1}})))
        .await
        .unwrap();
    pods.evict(&victim, &Default::default()).await.expect("evicted");
    wait_for("the evicted pod gone and replaced", || async {
        let p = pods_of(&pods, "db").await;
        (p.len() == 2 && p.iter().all(running) && p.iter().all(|p| p.metadata.name.as_deref() != Some(victim.as_str())))
            .then_some(())
    })
    .await;
    // A missing pod is 404, as for any subresource of a missing object.
    let err = pods.evict("no-such-pod", &Default::default()).await.expect_err("missing");
    assert!(matches!(&err, kube::Error::Api(s) if s.code == 404), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_quotas_count_what_the_pods_of_their_namespace_use() {
    let cluster = start(1).await;
    let client = cluster.client();
    let namespaces: Api<core::Namespace> = Api::all(client.clone());
    let ns = core::Namespace {
        metadata: ObjectMeta { name: Some("team".into()), ..Default::default() },
        ..Default::default()
    };
    namespaces.create(&PostParams::default(), &ns).await.unwrap();
    let q = |s: &str| k8s_openapi::apimachinery::pkg::api::resource::Quantity(s.into());
    let quotas: Api<core::ResourceQuota> = Api::namespaced(client.clone(), "team");
    let quota = core::ResourceQuota {
        metadata: ObjectMeta { name: Some("team".into()), ..Default::default() },
        spec: Some(core::ResourceQuotaSpec {
            hard: Some(
                [("pods", "10"), ("requests.cpu", "4"), ("limits.memory", "8Gi")]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), q(v)))
                    .collect(),
            ),
            ..Default::default()
        }),
        status: None,
    };
    quotas.create(&PostParams::default(), &quota).await.unwrap();
    let used = |want: &'static [(&'static str, &'static str)]| {
        let quotas = quotas.clone();
        async move {
            let got = quotas.get("team").await.ok()?.status?.used?;
            let got: Vec<(String, String)> = got.into_iter().map(|(k, v)| (k, v.0)).collect();
            let want: Vec<(String, String)> = want.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            (got == want).then_some(())
        }
    };
    wait_for("nothing used yet", || used(&[("limits.memory", "0"), ("pods", "0"), ("requests.cpu", "0")])).await;

    let pods: Api<core::Pod> = Api::namespaced(client.clone(), "team");
    let mut spec = template("web", "nginx").spec.unwrap();
    spec.containers[0].resources = Some(core::ResourceRequirements {
        requests: Some([("cpu".to_string(), q("500m"))].into()),
        limits: Some([("memory".to_string(), q("256Mi"))].into()),
        ..Default::default()
    });
    for name in ["a", "b"] {
        let pod = core::Pod {
            metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
            spec: Some(spec.clone()),
            status: None,
        };
        pods.create(&PostParams::default(), &pod).await.unwrap();
    }
    wait_for("two pods counted", || used(&[("limits.memory", "512Mi"), ("pods", "2"), ("requests.cpu", "1")])).await;

    // Pods going away give back what they used; a change of hard shows in the status.
    pods.delete("a", &DeleteParams::default()).await.unwrap();
    wait_for("one pod counted", || used(&[("limits.memory", "256Mi"), ("pods", "1"), ("requests.cpu", "500m")])).await;
    quotas
        .patch("team", &PatchParams::default(), &Patch::Merge(serde_json::json!({"spec": {"hard": {"pods": "3"}}})))
        .await
        .unwrap();
    wait_for("the new hard in the status", || {
        let quotas = quotas.clone();
        async move {
            let status = quotas.get("team").await.ok()?.status?;
            let hard = status.hard?;
            (hard.get("pods") == Some(&q("3")) && status.used?.get("pods") == Some(&q("1"))).then_some(())
        }
    })
    .await;
    cluster.stop().await;
}
