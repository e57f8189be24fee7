//! Importing a business cluster end to end, as a user does it: the real `tke up` (with its cluster
//! controllers and short health-check timings) and a simulated cluster speaking the Kubernetes API
//! over TLS in this process. The user creates a ClusterCredential and an Imported Cluster with
//! kubectl; the cluster becomes Running with its version, vendor, resources and components; the
//! mark ConfigMap appears in the business cluster; a second import of the same cluster is refused
//! with advice; the cluster fails only after several failed checks when its API goes away and
//! recovers when it is back; deleting it removes the mark and the credential.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use base64::Engine as _;
use k8s_openapi::api::{apps::v1::Deployment, core::v1::ConfigMap};
use kube::{
    Api, Client,
    api::{ApiResource, DynamicObject, GroupVersionKind, PostParams},
};
use kubesim::{SimCluster, SimOptions};
use serde_json::{Value, json};
use testkit::tke::{Storage, Tke, tke_binary};
use testkit::wait_until;

const DEADLINE: Duration = Duration::from_secs(60);

async fn client_of(kubeconfig: &Path) -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.expect("config");
    Client::try_from(config).expect("client")
}

fn platform_api(client: &Client, kind: &str, plural: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("platform.tkestack.io", "v1", kind), plural);
    Api::all_with(client.clone(), &ar)
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().and_then(|p| p.trim_end_matches('/').parse().ok()).expect("port in url")
}

/// A credential and an Imported cluster pointing at the simulated cluster, as YAML for kubectl.
fn manifest(cluster: &str, cc: &str, port: u16, identity: &str) -> String {
    format!(
        "apiVersion: platform.tkestack.io/v1\nkind: ClusterCredential\nmetadata:\n  name: {cc}\nclusterName: {cluster}\n{identity}\n---\n\
         apiVersion: platform.tkestack.io/v1\nkind: Cluster\nmetadata:\n  name: {cluster}\nspec:\n  type: Imported\n  displayName: simulated\n  clusterCredentialRef:\n    name: {cc}\n\
         status:\n  addresses:\n  - type: Advertise\n    host: 127.0.0.1\n    port: {port}\n"
    )
}

async fn kubectl_apply(tke: &std::sync::Arc<Tke>, yaml: String) {
    let t = tke.clone();
    let out = tokio::task::spawn_blocking(move || t.kubectl_with(&["apply", "-f", "-"], &[], Some(&yaml)))
        .await
        .expect("join");
    assert!(out.status.success(), "kubectl apply: {}", String::from_utf8_lossy(&out.stderr));
}

async fn get(api: &Api<DynamicObject>, name: &str) -> Option<Value> {
    api.get_opt(name).await.expect("get").map(|o| serde_json::to_value(o).expect("json"))
}

fn condition<'a>(c: &'a Value, type_: &str) -> Option<&'a Value> {
    c["status"]["conditions"].as_array()?.iter().find(|x| x["type"] == type_)
}

async fn start_sim(dir: &Path, port: u16) -> SimCluster {
    let mut opts = SimOptions { data_dir: Some(dir.to_path_buf()), ..Default::default() };
    opts.config.nodes = 3;
    opts.listen = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    // The port of a cluster just dropped may take a moment to be free again.
    let start = Instant::now();
    loop {
        match SimCluster::start(opts.clone()).await {
            Ok(sim) => return sim,
            Err(e) if start.elapsed() < DEADLINE && format!("{e:#}").contains("listening") => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("the simulated cluster does not start: {e:#}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn import_health_double_import_and_delete() {
    let sim_dir = tempfile::tempdir().expect("tempdir");
    let sim = start_sim(sim_dir.path(), 0).await;
    let port = port_of(sim.url());
    // A component in kube-system, as real clusters have.
    let coredns: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "coredns", "namespace": "kube-system"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"k8s-app": "kube-dns"}},
                 "template": {"metadata": {"labels": {"k8s-app": "kube-dns"}},
                              "spec": {"containers": [{"name": "coredns", "image": "coredns/coredns:1.11.1",
                                                       "resources": {"requests": {"cpu": "100m", "memory": "70Mi"}}}]}}}
    }))
    .expect("deployment");
    Api::<Deployment>::namespaced(sim.client(), "kube-system")
        .create(&PostParams::default(), &coredns)
        .await
        .expect("create coredns");

    let args = [
        "--registry",
        "false",
        "--cluster-health-period-seconds",
        "1",
        "--cluster-health-probes",
        "2",
        "--cluster-health-failure-threshold",
        "3",
    ];
    let tke = std::sync::Arc::new(
        tokio::task::spawn_blocking(move || Tke::start_with(tke_binary(), Storage::Embedded, &args))
            .await
            .expect("tke starts"),
    );
    let platform = client_of(&tke.kubeconfig()).await;
    let clusters = platform_api(&platform, "Cluster", "clusters");
    let creds = platform_api(&platform, "ClusterCredential", "clustercredentials");

    // Import with a client certificate.
    let identity = format!(
        "caCert: {}\nclientCert: {}\nclientKey: {}",
        b64(sim.ca_pem()),
        b64(sim.admin_cert_pem()),
        b64(sim.admin_key_pem())
    );
    kubectl_apply(&tke, manifest("cls-sim", "cc-sim", port, &identity)).await;
    let c = wait_until("cls-sim Running with version, resources and components", DEADLINE, || async {
        let c = get(&clusters, "cls-sim").await?;
        let ready = c["status"]["phase"] == "Running"
            && c["status"]["resource"]["capacity"]["cpu"] == "96"
            // The pods' requests once the simulator's workloads have settled: under heavy load
            // a check once saw four coredns pods for a moment (not reproduced alone).
            && c["status"]["resource"]["allocated"]["cpu"] == "200m"
            && c["status"]["components"].as_array().is_some_and(|a| a.iter().any(|x| x["type"] == "coredns" && x["replicas"]["available"] == 2));
        ready.then_some(c)
    })
    .await;
    assert_eq!(c["status"]["version"], "1.32.0", "{c}");
    assert_eq!(c["status"]["kubeVendor"], "Other", "{c}");
    assert_eq!(c["status"]["resource"]["capacity"]["memory"], "768Gi", "{c}");
    assert_eq!(c["status"]["resource"]["allocatable"]["pods"], "330", "{c}");
    assert_eq!(c["status"]["resource"]["allocated"]["cpu"], "200m", "{c}");
    let mark_cond = condition(&c, "EnsureCreateClusterMark").expect("step condition");
    assert_eq!(mark_cond["status"], "True", "{c}");
    assert_eq!(condition(&c, "HealthCheck").expect("health condition")["status"], "True", "{c}");
    let uid = c["metadata"]["uid"].as_str().expect("uid").to_string();

    // The mark in the business cluster names the cluster.
    let marks: Api<ConfigMap> = Api::namespaced(sim.client(), "kube-system");
    let mark = marks.get("tke").await.expect("the mark ConfigMap kube-system/tke exists");
    let data = mark.data.unwrap_or_default();
    assert_eq!(data.get("clusterName").map(String::as_str), Some("cls-sim"));
    assert_eq!(data.get("clusterUID"), Some(&uid));

    // kubectl shows it as a user expects.
    let t = tke.clone();
    let table = tokio::task::spawn_blocking(move || t.kubectl_ok(&["get", "cls", "cls-sim"])).await.expect("join");
    let row: Vec<&str> = table.lines().nth(1).unwrap_or_default().split_whitespace().collect();
    assert_eq!(&row[..4], ["cls-sim", "Imported", "1.32.0", "Running"], "{table}");

    // A second Cluster for the same business cluster (with a token this time) is refused.
    let identity = format!("caCert: {}\ntoken: {}", b64(sim.ca_pem()), sim.admin_token());
    kubectl_apply(&tke, manifest("cls-dup", "cc-dup", port, &identity)).await;
    let dup = wait_until("cls-dup refused", DEADLINE, || async {
        let c = get(&clusters, "cls-dup").await?;
        (condition(&c, "EnsureCreateClusterMark")?["status"] == "False").then_some(c)
    })
    .await;
    let cond = condition(&dup, "EnsureCreateClusterMark").expect("condition");
    assert_eq!(cond["reason"], "FailedInit", "{dup}");
    let msg = cond["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("kube-system/tke") && msg.contains("delete that ConfigMap first") && msg.contains("cls-sim"),
        "{msg}"
    );
    assert_eq!(dup["status"]["phase"], "Initializing", "{dup}");
    assert_eq!(dup["status"]["reason"], "FailedInit", "{dup}");

    // Deleting the refused cluster leaves the real owner's mark alone and removes its credential.
    clusters.delete("cls-dup", &Default::default()).await.expect("delete cls-dup");
    wait_until("cls-dup gone", DEADLINE, || async { get(&clusters, "cls-dup").await.is_none().then_some(()) }).await;
    wait_until("cc-dup gone", DEADLINE, || async { get(&creds, "cc-dup").await.is_none().then_some(()) }).await;
    assert!(marks.get_opt("tke").await.expect("get mark").is_some(), "the owner's mark survives");

    // The business cluster goes away: first a failed check that changes nothing but the
    // condition (hysteresis), then Failed once the threshold is reached.
    let stopped_at = Instant::now();
    // Dropping ends the simulated cluster at once (stop() would let requests finish first).
    drop(sim);
    let degraded = wait_until("a first failed check leaving the cluster Running", DEADLINE, || async {
        let c = get(&clusters, "cls-sim").await?;
        (condition(&c, "HealthCheck")?["reason"] == "ProbeFailed").then_some(c)
    })
    .await;
    assert_eq!(degraded["status"]["phase"], "Running", "one failed check does not fail the cluster: {degraded}");
    let failed = wait_until("cls-sim Failed", DEADLINE, || async {
        let c = get(&clusters, "cls-sim").await?;
        (c["status"]["phase"] == "Failed").then_some(c)
    })
    .await;
    // Three failed checks one period (1 s) apart: never sooner than two periods.
    assert!(stopped_at.elapsed() >= Duration::from_secs(2), "Failed after {:?}", stopped_at.elapsed());
    let hc = condition(&failed, "HealthCheck").expect("health condition");
    assert_eq!((hc["status"].as_str(), hc["reason"].as_str()), (Some("False"), Some("FailedHealthCheck")), "{failed}");
    assert_eq!(failed["status"]["reason"], "FailedHealthCheck");
    let why = hc["message"].as_str().unwrap_or_default();
    assert!(why.contains(&format!("127.0.0.1:{port}")) && why.contains("onnection refused"), "{why}");

    // It comes back (same address, same certificates): Running again.
    let sim = start_sim(sim_dir.path(), port).await;
    wait_until("cls-sim Running again", DEADLINE, || async {
        let c = get(&clusters, "cls-sim").await?;
        (c["status"]["phase"] == "Running" && condition(&c, "HealthCheck")?["status"] == "True").then_some(())
    })
    .await;

    // Deleting the cluster removes the mark and the credential, then the cluster itself.
    clusters.delete("cls-sim", &Default::default()).await.expect("delete cls-sim");
    wait_until("cls-sim gone", DEADLINE, || async { get(&clusters, "cls-sim").await.is_none().then_some(()) }).await;
    let marks: Api<ConfigMap> = Api::namespaced(sim.client(), "kube-system");
    assert!(marks.get_opt("tke").await.expect("get mark").is_none(), "the mark is removed");
    assert!(get(&creds, "cc-sim").await.is_none(), "the credential is removed");
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cluster_without_credential_or_with_a_wrong_one_says_why() {
    let sim_dir = tempfile::tempdir().expect("tempdir");
    let sim = start_sim(sim_dir.path(), 0).await;
    let port = port_of(sim.url());
    let tke =
        tokio::task::spawn_blocking(|| Tke::start_with(tke_binary(), Storage::Embedded, &["--registry", "false"]))
            .await
            .expect("tke starts");
    let platform = client_of(&tke.kubeconfig()).await;
    let clusters = platform_api(&platform, "Cluster", "clusters");
    let creds = platform_api(&platform, "ClusterCredential", "clustercredentials");

    let cluster: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "platform.tkestack.io/v1", "kind": "Cluster",
        "metadata": {"name": "cls-lonely"},
        "spec": {"type": "Imported"},
        "status": {"addresses": [{"type": "Advertise", "host": "127.0.0.1", "port": port}]},
    }))
    .expect("cluster");
    clusters.create(&PostParams::default(), &cluster).await.expect("create");
    let msg = wait_until("the missing credential reported", DEADLINE, || async {
        let c = get(&clusters, "cls-lonely").await?;
        condition(&c, "EnsureCreateClusterMark")
            .filter(|x| x["status"] == "False")
            .map(|x| x["message"].as_str().unwrap_or_default().to_string())
    })
    .await;
    assert!(msg.contains("no ClusterCredential"), "{msg}");

    // A credential found by its clusterName label is adopted, but this token is wrong.
    let cc: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "platform.tkestack.io/v1", "kind": "ClusterCredential",
        "metadata": {"name": "cc-lonely"}, "clusterName": "cls-lonely",
        "caCert": b64(sim.ca_pem()), "token": "not-the-token",
    }))
    .expect("credential");
    creds.create(&PostParams::default(), &cc).await.expect("create credential");
    let c = wait_until("the bad token reported", DEADLINE, || async {
        let c = get(&clusters, "cls-lonely").await?;
        condition(&c, "EnsureCreateClusterMark")?["message"].as_str()?.contains("cannot connect").then_some(c)
    })
    .await;
    assert_eq!(c["spec"]["clusterCredentialRef"]["name"], "cc-lonely", "{c}");
    assert_eq!(c["status"]["phase"], "Initializing");

    // Fixing the credential resumes the import.
    let mut fixed = creds.get("cc-lonely").await.expect("get");
    fixed.data["token"] = json!(sim.admin_token());
    creds.replace("cc-lonely", &PostParams::default(), &fixed).await.expect("fix credential");
    wait_until("cls-lonely Running", DEADLINE, || async {
        (get(&clusters, "cls-lonely").await?["status"]["phase"] == "Running").then_some(())
    })
    .await;
    sim.stop().await;
}
