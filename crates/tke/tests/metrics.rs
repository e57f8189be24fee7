//! Metrics of every cluster (issue #17 item 1) against the real `tke up` and simulated
//! clusters: the embedded store filled by the sampler answers Metric for every table and
//! ClusterOverview, keeps its history across a restart, stays under its byte cap, and shows each
//! tenant only its own clusters; with `--monitor-prometheus-url` the same queries are answered
//! by Debian's `prometheus` scraping the simulated clusters with the recording rules of
//! `monitor::metrics::rules`, and give the values the simulated pods were set to use. Figures
//! (overview of 1,000 clusters, 24 h workload query from a backfilled Prometheus, bytes per
//! series and per cluster) are printed.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use k8s_openapi::api::{apps::v1::Deployment, core::v1::Namespace};
use kube::{Api, api::PostParams};
use serde_json::{Value, json};
use testkit::tke::{Storage, Tke, tke_binary, wait_for};

const WAIT: Duration = Duration::from_secs(90);

/// POSTs `body` to `path` of the platform as the admin: (status, answer).
fn post(t: &Tke, path: &str, body: &Value) -> (bool, Value) {
    let out = t.kubectl_with(&["create", "--raw", path, "-f", "-"], &[], Some(&body.to_string()));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// POSTs as `user` of `tenant` (the admin impersonating them).
fn post_as(t: &Tke, user: &str, tenant: &str, path: &str, body: &Value) -> (bool, String) {
    let group = format!("--as-group=tenant:{tenant}");
    let out = t.kubectl_with(&["--as", user, &group, "create", "--raw", path, "-f", "-"], &[], Some(&body.to_string()));
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

const METRICS: &str = "/apis/monitor.tkestack.io/v1/metrics";
const OVERVIEWS: &str = "/apis/monitor.tkestack.io/v1/clusteroverviews";

/// Runs a Metric query; the answer's table.
fn query(t: &Tke, q: Value) -> Value {
    let (ok, answer) = post(t, METRICS, &json!({"apiVersion": "monitor.tkestack.io/v1", "kind": "Metric", "query": q}));
    assert!(ok, "the query {q} failed: {answer}");
    serde_json::from_str(answer["jsonResult"].as_str().expect("jsonResult")).expect("jsonResult is JSON")
}

/// Imports `sim` as cluster `name` of `tenant`.
fn import(t: &Tke, sim: &kubesim::SimCluster, name: &str, tenant: &str) {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(sim.ca_pem());
    let port: i64 = sim.url().rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
    t.create(&json!({
        "apiVersion": "platform.tkestack.io/v1", "kind": "ClusterCredential",
        "metadata": {"name": format!("cc-{name}")}, "tenantID": tenant,
        "clusterName": name, "caCert": ca, "token": sim.admin_token(),
    }));
    t.create(&json!({
        "apiVersion": "platform.tkestack.io/v1", "kind": "Cluster", "metadata": {"name": name},
        "spec": {"type": "Imported", "tenantID": tenant, "displayName": format!("Cluster {name}"),
            "clusterCredentialRef": {"name": format!("cc-{name}")}},
        "status": {"addresses": [{"type": "Advertise", "host": "127.0.0.1", "port": port}]},
    }));
}

/// A namespace of project `project` with a Deployment `web` of `replicas` pods, each set to
/// use `cpu_milli` and `memory` bytes.
async fn workload(
    sim: &kubesim::SimCluster,
    namespace: &str,
    project: &str,
    replicas: i32,
    cpu_milli: u64,
    memory: u64,
) {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": namespace,
        "labels": {"tkestack.io/projectName": project}}}))
    .expect("namespace");
    Api::<Namespace>::all(sim.client()).create(&PostParams::default(), &ns).await.expect("namespace");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}, "annotations": {
                kubesim::metrics::CPU_ANNOTATION: cpu_milli.to_string(),
                kubesim::metrics::MEMORY_ANNOTATION: memory.to_string()}},
            "spec": {"containers": [{"name": "app", "image": "nginx",
                "resources": {"requests": {"cpu": "500m", "memory": "64Mi"}}}]}}},
    }))
    .expect("deployment");
    Api::<Deployment>::namespaced(sim.client(), namespace)
        .create(&PostParams::default(), &d)
        .await
        .expect("deployment");
}

/// The rows of a table whose column `col` is `value`.
fn rows<'a>(table: &'a Value, col: &str, value: &str) -> Vec<&'a Vec<Value>> {
    let i = table["columns"].as_array().and_then(|c| c.iter().position(|x| x == col)).expect("column");
    table["data"].as_array().into_iter().flatten().filter_map(Value::as_array).filter(|r| r[i] == value).collect()
}

fn column(table: &Value, col: &str) -> usize {
    table["columns"].as_array().and_then(|c| c.iter().position(|x| x == col)).unwrap_or_else(|| panic!("{col}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_store_answers_every_table_and_the_overview() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut t = Tke::start_with(tke_binary(), Storage::Embedded, &["--monitor-sample-interval", "1"]);
    let sims = [
        kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("cluster a"),
        kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("cluster b"),
        kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("cluster c"),
    ];
    import(&t, &sims[0], "cls-a", "default");
    import(&t, &sims[1], "cls-b", "default");
    import(&t, &sims[2], "cls-c", "t2");
    workload(&sims[0], "team", "prj-a", 2, 900, 256 << 20).await;

    // Two samples of the workload's pods, one step per second.
    let now = || chrono::Utc::now().timestamp_millis();
    let pod_query = |t: &Tke| {
        query(
            t,
            json!({"table": "k8s_pod", "startTime": now() - 600_000, "endTime": now(),
            "fields": ["k8s_pod_cpu_core_used", "k8s_pod_mem_usage_bytes"],
            "conditions": [{"key": "cluster_id", "expr": "=", "value": "cls-a"},
                {"key": "workload_name", "expr": "=", "value": "web"}],
            "groupBy": ["timestamp(1s)", "pod_name"], "orderBy": "timestamp(1s)", "order": "asc"}),
        )
    };
    let table = wait_for("two samples of the web pods", WAIT, || {
        let table = pod_query(&t);
        let n = table["data"].as_array().map_or(0, Vec::len);
        (n >= 4).then_some(table)
    });
    let (cpu, mem) = (column(&table, "k8s_pod_cpu_core_used"), column(&table, "k8s_pod_mem_usage_bytes"));
    for row in table["data"].as_array().expect("data") {
        assert_eq!(row[cpu], json!(0.9), "{row:?}");
        assert_eq!(row[mem], json!(268435456.0), "{row:?}");
    }

    // Every table has at least two samples of its series.
    for (table_name, field, condition) in [
        ("k8s_node", "k8s_node_cpu_usage", json!({"key": "cluster_id", "expr": "=", "value": "cls-a"})),
        ("k8s_container", "k8s_container_cpu_core_used", json!({"key": "container_name", "expr": "=", "value": "app"})),
        ("k8s_workload", "k8s_workload_cpu_core_used", json!({"key": "workload_name", "expr": "=", "value": "web"})),
        ("k8s_cluster", "k8s_cluster_cpu_core_used", json!({"key": "cluster_id", "expr": "in", "value": ["cls-a"]})),
        ("k8s_project", "project_cluster_cpu_core_used", json!({"key": "project_name", "expr": "=", "value": "prj-a"})),
    ] {
        let table = wait_for(&format!("two samples in {table_name}"), WAIT, || {
            let table = query(
                &t,
                json!({"table": table_name, "startTime": now() - 600_000, "endTime": now(), "fields": [field],
                "conditions": [condition], "groupBy": ["timestamp(1s)", "cluster_id"]}),
            );
            (table["data"].as_array().map_or(0, Vec::len) >= 2).then_some(table)
        });
        let i = column(&table, field);
        assert!(
            table["data"].as_array().expect("data").iter().all(|r| r[i].as_f64().is_some_and(|v| v > 0.0)),
            "{table}"
        );
    }
    let w = query(
        &t,
        json!({"table": "k8s_workload", "startTime": now() - 5_000, "endTime": now(),
        "fields": ["k8s_workload_cpu_core_used"], "conditions": [{"key": "workload_name", "expr": "=", "value": "web"}],
        "groupBy": ["workload_kind"]}),
    );
    assert_eq!(rows(&w, "workload_kind", "Deployment")[0][1], json!(1.8), "{w}");

    // The overview of the three clusters.
    let overview = wait_for("the overview of three sampled clusters", WAIT, || {
        let (ok, o) = post(&t, OVERVIEWS, &json!({"apiVersion": "monitor.tkestack.io/v1", "kind": "ClusterOverview"}));
        assert!(ok, "{o}");
        let r = o["result"].clone();
        let sampled = r["clusters"].as_array().is_some_and(|c| c.iter().all(|c| c["sampledAt"] != ""));
        (r["clusterCount"] == 3 && sampled && r["podCount"].as_i64() >= Some(2)).then_some(r)
    });
    assert_eq!(overview["nodeCount"], 9, "{overview}");
    assert_eq!(overview["clusterAbnormal"], 0, "{overview}");
    let a =
        overview["clusters"].as_array().expect("clusters").iter().find(|c| c["clusterID"] == "cls-a").expect("cls-a");
    assert_eq!(a["displayName"], "Cluster cls-a");
    assert_eq!(a["hasMetricServer"], true);
    assert!(a["cpuUsed"].as_f64().is_some_and(|c| c >= 1.8), "{a}");

    // Tenant t2's user sees cls-c only.
    t.create(&json!({"apiVersion": "auth.tkestack.io/v1", "kind": "IdentityProvider", "metadata": {"name": "t2"},
        "spec": {"name": "Team 2", "type": "tke"}}));
    t.create(&json!({"apiVersion": "auth.tkestack.io/v1", "kind": "LocalIdentity", "metadata": {"name": "usr-carol"},
        "spec": {"username": "carol", "tenantID": "t2", "hashedPassword": "YSBsb25nIHBhc3N3b3Jk"}}));
    t.create(&json!({"apiVersion": "auth.tkestack.io/v1", "kind": "Policy", "metadata": {"name": "pol-t2-metrics"},
        "spec": {"displayName": "metrics", "tenantID": "t2", "scope": "platform", "category": "monitor",
            "statement": {"actions": ["createMetric", "createClusteroverview"], "resources": ["*"], "effect": "allow"}}}));
    let out = t.kubectl_with(
        &["create", "--raw", "/apis/auth.tkestack.io/v1/policies/pol-t2-metrics/binding", "-f", "-"],
        &[],
        Some(r#"{"users": [{"id": "usr-carol", "name": "carol"}]}"#),
    );
    assert!(out.status.success(), "binding: {}", String::from_utf8_lossy(&out.stderr));
    let carol = |path: &str, body: Value| post_as(&t, "carol", "t2", path, &body);
    let (ok, out) = wait_for("carol may query", WAIT, || {
        let r = carol(OVERVIEWS, json!({"kind": "ClusterOverview", "apiVersion": "monitor.tkestack.io/v1"}));
        (!r.1.contains("forbidden") || r.0).then_some(r)
    });
    assert!(ok, "{out}");
    let o: Value = serde_json::from_str(&out).expect("overview");
    assert_eq!(o["result"]["clusterCount"], 1, "{o}");
    assert_eq!(o["result"]["clusters"][0]["clusterID"], "cls-c", "{o}");
    let (ok, out) = carol(
        METRICS,
        json!({"kind": "Metric", "apiVersion": "monitor.tkestack.io/v1", "query": {"table": "k8s_pod",
            "fields": ["k8s_pod_cpu_core_used"], "conditions": [{"key": "cluster_id", "expr": "=", "value": "cls-a"}]}}),
    );
    assert!(!ok && out.contains("cls-a") && out.contains("t2"), "{out}");
    let (ok, out) = carol(
        METRICS,
        json!({"kind": "Metric", "apiVersion": "monitor.tkestack.io/v1", "query": {"table": "k8s_node",
            "fields": ["k8s_node_cpu_usage"], "groupBy": ["cluster_id"]}}),
    );
    assert!(ok, "{out}");
    let m: Value = serde_json::from_str(&out).expect("metric");
    let table: Value = serde_json::from_str(m["jsonResult"].as_str().expect("jsonResult")).expect("table");
    let clusters: Vec<&Value> = table["data"].as_array().expect("data").iter().map(|r| &r[0]).collect();
    assert_eq!(clusters, vec![&json!("cls-c")], "{table}");

    // A bad query says what is wrong.
    let (ok, answer) = post(
        &t,
        METRICS,
        &json!({"kind": "Metric", "apiVersion": "monitor.tkestack.io/v1", "query": {"table": "k8s_pod", "fields": ["k8s_node_cpu_usage"]}}),
    );
    assert!(!ok && answer.to_string().contains("starts with k8s_pod_"), "{answer}");

    // History survives a restart.
    let before = now();
    t.restart();
    let kept = query(
        &t,
        json!({"table": "k8s_pod", "startTime": before - 600_000, "endTime": before,
        "fields": ["k8s_pod_cpu_core_used"], "conditions": [{"key": "workload_name", "expr": "=", "value": "web"}],
        "groupBy": ["timestamp(1s)", "pod_name"]}),
    );
    assert!(kept["data"].as_array().map_or(0, Vec::len) >= 4, "history before the restart: {kept}");

    // Bytes per series and per cluster.
    let metrics = t.kubectl_ok(&["get", "--raw", "/metrics"]);
    let gauge = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name) && !l.starts_with('#'))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in /metrics"))
    };
    let (bytes, series, samples) =
        (gauge("tke_monitor_store_bytes"), gauge("tke_monitor_store_series"), gauge("tke_monitor_store_samples"));
    println!(
        "embedded store: {series} series, {samples} samples, {bytes} bytes: {:.0} bytes per series ({:.1} samples each), \
         {:.0} bytes per cluster; a series at 60 s for 24 h: {} bytes",
        bytes / series,
        samples / series,
        bytes / 3.0,
        (bytes - samples * 8.0) / series + 1440.0 * 8.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_store_stays_under_its_cap() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let limit = 48 * 1024;
    let t = Tke::start_with(
        tke_binary(),
        Storage::Embedded,
        &["--monitor-sample-interval", "1", "--monitor-memory-limit", "1Gi", "--monitor-disk-limit", "48Ki"],
    );
    let sim = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("cluster");
    import(&t, &sim, "cls-a", "default");
    // Many series: 10 pods, each with pod, container and status series (about 100 series whose
    // names take half the cap, so drops start after some 30 rounds).
    workload(&sim, "team", "prj-a", 10, 100, 1 << 20).await;
    let file = t.data_dir().join(monitor::component::STORE_FILE);
    let gauge = |metrics: &str, name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name) && !l.starts_with('#'))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    let (bytes, dropped, series) = wait_for("samples dropped to stay under the cap", WAIT, || {
        let m = t.kubectl_ok(&["get", "--raw", "/metrics"]);
        let dropped = gauge(&m, "tke_monitor_store_dropped_samples_total{reason=\"space\"}");
        let bytes = gauge(&m, "tke_monitor_store_bytes");
        assert!(bytes <= f64::from(limit), "the store holds {bytes} bytes over its cap of {limit}");
        (dropped > 0.0).then(|| (bytes, dropped, gauge(&m, "tke_monitor_store_series")))
    });
    let size = std::fs::metadata(&file).expect("the store's file").len();
    assert!(size <= u64::from(limit as u32), "the file takes {size} bytes over the cap of {limit}");
    assert!(series > 50.0, "{series} series");
    println!("cap {limit} bytes: {series} series in {bytes} bytes, file {size} bytes, {dropped} samples dropped");
    // The newest samples are the ones kept.
    let now = chrono::Utc::now().timestamp_millis();
    let table = query(
        &t,
        json!({"table": "k8s_cluster", "startTime": now - 5_000, "endTime": now,
        "fields": ["k8s_cluster_pod_num"], "groupBy": ["timestamp(1s)"]}),
    );
    assert!(!table["data"].as_array().expect("data").is_empty(), "{table}");
}

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Debian's prometheus on a free port with `config`, its data in `dir`.
struct Prometheus {
    child: Child,
    url: String,
}

impl Prometheus {
    fn start(dir: &Path, config: &str, extra: &[&str]) -> Prometheus {
        let port = free_port();
        std::fs::write(dir.join("prometheus.yml"), config).expect("config");
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("Debian's prometheus is installed (scripts/setup)");
        let url = format!("http://127.0.0.1:{port}");
        let ready = format!("{url}/-/ready");
        wait_for("prometheus ready", WAIT, || {
            let out = Command::new("curl").args(["-sf", &ready]).output().ok()?;
            out.status.success().then_some(())
        });
        Prometheus { child, url }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prometheus_backend_gives_the_values_the_pods_use() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("cluster");
    workload(&sim, "team", "prj-a", 2, 900, 256 << 20).await;
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("ca.crt"), sim.ca_pem()).expect("ca");
    std::fs::write(dir.path().join("rules.yml"), monitor::metrics::rules::rule_file(1)).expect("rules");
    let host = sim.url().trim_start_matches("https://").to_string();
    let config = format!(
        "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
         rule_files: [{rules}]\n\
         scrape_configs:\n\
         - job_name: kubesim\n  scheme: https\n  metrics_path: /metrics\n\
         \x20 tls_config: {{ca_file: {ca}}}\n  authorization: {{credentials: {token}}}\n\
         \x20 static_configs: [{{targets: ['{host}'], labels: {{cluster_id: cls-a}}}}]\n",
        rules = dir.path().join("rules.yml").display(),
        ca = dir.path().join("ca.crt").display(),
        token = sim.admin_token(),
    );
    let prom = Prometheus::start(dir.path(), &config, &[]);
    let t = Tke::start_with(tke_binary(), Storage::Embedded, &["--monitor-prometheus-url", &prom.url]);
    import(&t, &sim, "cls-a", "default");

    let now = || chrono::Utc::now().timestamp_millis();
    let table = wait_for("the pods' CPU through Prometheus", WAIT, || {
        let table = query(
            &t,
            json!({"table": "k8s_pod", "startTime": now() - 10_000, "endTime": now(),
            "fields": ["k8s_pod_cpu_core_used", "k8s_pod_mem_usage_bytes"],
            "conditions": [{"key": "cluster_id", "expr": "=", "value": "cls-a"},
                {"key": "workload_name", "expr": "=", "value": "web"}],
            "groupBy": ["timestamp(1s)", "pod_name"], "orderBy": "timestamp(1s)", "order": "desc", "limit": 2}),
        );
        let data = table["data"].as_array()?;
        // rate() needs its window of scrapes before it settles.
        let settled = |r: &Value| r[2].as_f64().is_some_and(|cpu| (cpu - 0.9).abs() < 0.05) && r[3].as_f64().is_some();
        (data.len() == 2 && data.iter().all(settled)).then_some(table)
    });
    for row in table["data"].as_array().expect("data") {
        let cpu = row[2].as_f64().expect("cpu");
        assert!((cpu - 0.9).abs() < 0.05, "a pod set to 900m uses {cpu} cores by Prometheus: {table}");
        assert_eq!(row[3], json!(268435456.0), "{table}");
    }
    // The workload's sum settles as its pods' do.
    wait_for("the workload's CPU and pods through Prometheus", WAIT, || {
        let w = query(
            &t,
            json!({"table": "k8s_workload", "startTime": now() - 3_000, "endTime": now(),
            "fields": ["k8s_workload_cpu_core_used", "k8s_workload_pod_num"],
            "conditions": [{"key": "workload_name", "expr": "=", "value": "web"}], "groupBy": ["workload_kind"]}),
        );
        let row = rows(&w, "workload_kind", "Deployment").first().map(|r| (r[1].as_f64(), r[2].as_f64()))?;
        (row.0.is_some_and(|cpu| (cpu - 1.8).abs() < 0.1) && row.1 == Some(2.0)).then_some(())
    });
    let n = query(
        &t,
        json!({"table": "k8s_node", "startTime": now() - 5_000, "endTime": now(),
        "fields": ["k8s_node_status_ready"], "groupBy": ["node"]}),
    );
    assert_eq!(n["data"].as_array().map(Vec::len), Some(3), "{n}");
}

/// The figures of the issue: ClusterOverview over 1,000 clusters, and one workload's 24 h from
/// a Prometheus backfilled with promtool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_overview_of_1000_clusters_and_a_24h_query() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // 24 h of one workload (and 200 others beside it) at 60 s, in OpenMetrics, backfilled.
    let dir = tempfile::tempdir().expect("dir");
    let end = chrono::Utc::now().timestamp() / 60 * 60 - 3600;
    let start = end - 24 * 3600;
    let mut om = String::from("# TYPE k8s_workload_cpu_core_used gauge\n");
    for w in 0..200 {
        let mut t = start;
        while t <= end {
            om.push_str(&format!(
                "k8s_workload_cpu_core_used{{cluster_id=\"cls-a\",namespace=\"team\",workload_kind=\"Deployment\",workload_name=\"w{w}\"}} {} {t}\n",
                (w as f64 + (t % 600) as f64 / 600.0) / 10.0
            ));
            t += 60;
        }
    }
    om.push_str("# EOF\n");
    let om_file = dir.path().join("backfill.om");
    std::fs::write(&om_file, om).expect("openmetrics");
    let data = dir.path().join("data");
    let out = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om_file)
        .arg(&data)
        .output()
        .expect("promtool");
    assert!(out.status.success(), "backfill: {}", String::from_utf8_lossy(&out.stderr));
    let prom =
        Prometheus::start(dir.path(), "global: {scrape_interval: 60s}\n", &["--storage.tsdb.retention.time=30d"]);
    let t = Tke::start_with(tke_binary(), Storage::Embedded, &["--monitor-prometheus-url", &prom.url]);

    let body = json!({"apiVersion": "monitor.tkestack.io/v1", "kind": "Metric", "query": {
        "table": "k8s_workload", "startTime": start * 1000, "endTime": end * 1000,
        "fields": ["k8s_workload_cpu_core_used"],
        "conditions": [{"key": "workload_name", "expr": "=", "value": "w7"}],
        "groupBy": ["timestamp(60s)", "workload_name"]}})
    .to_string();
    let curl = |path: &str, body: &str| {
        t.curl(&[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--cert",
            &cert(&t),
            "--key",
            &key(&t),
            "-d",
            body,
            &format!("{}{path}", t.url),
        ])
    };
    let (code, answer) = curl(METRICS, &body);
    assert_eq!(code, 201, "{answer}");
    let m: Value = serde_json::from_str(&answer).expect("metric");
    let table: Value = serde_json::from_str(m["jsonResult"].as_str().expect("jsonResult")).expect("table");
    assert_eq!(table["data"].as_array().map(Vec::len), Some(1441), "24 h at 60 s");
    let p99 = |mut d: Vec<Duration>| {
        d.sort();
        d[(d.len() * 99).div_ceil(100) - 1]
    };
    let times: Vec<Duration> = (0..100).map(|_| timed_post(&t, METRICS, &body)).collect();
    let q = p99(times);
    println!("24 h workload query (1,441 points, Prometheus backfilled with promtool, 200 series): p99 {q:?}");

    // 1,000 clusters (each a Cluster object; the overview reads in-memory views only).
    let list: Vec<Value> = (0..1000)
        .map(|i| json!({"apiVersion": "platform.tkestack.io/v1", "kind": "Cluster", "metadata": {"name": format!("cls-{i:04}")},
            "spec": {"type": "Imported", "displayName": format!("Cluster {i}")},
            "status": {"addresses": [{"type": "Advertise", "host": "127.0.0.1", "port": 1}]}}))
        .collect();
    for c in &list {
        let (code, answer) = curl("/apis/platform.tkestack.io/v1/clusters", &c.to_string());
        assert_eq!(code, 201, "{answer}");
    }
    let body = json!({"apiVersion": "monitor.tkestack.io/v1", "kind": "ClusterOverview"}).to_string();
    wait_for("the overview of 1,000 clusters", WAIT, || {
        let (_, a) = curl(OVERVIEWS, &body);
        serde_json::from_str::<Value>(&a).ok().filter(|v| v["result"]["clusterCount"] == 1000).map(|_| ())
    });
    let times: Vec<Duration> = (0..200).map(|_| timed_post(&t, OVERVIEWS, &body)).collect();
    let o = p99(times);
    println!("ClusterOverview of 1,000 clusters: p99 {o:?}");
    // The issue's goals are 50 ms and 100 ms (release builds); this debug build shares two
    // cores with the platform health-checking 1,000 unreachable clusters, so it only catches
    // answers that grew out of all proportion.
    assert!(o < Duration::from_secs(2), "overview p99 {o:?}");
    assert!(q < Duration::from_secs(2), "24 h query p99 {q:?}");
}

/// POSTs `body` with curl as the admin; the time curl reports for the request (its process
/// start excluded).
fn timed_post(t: &Tke, path: &str, body: &str) -> Duration {
    let out = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", "-X", "POST"])
        .args(["-H", "Content-Type: application/json", "--cacert"])
        .arg(t.ca_file())
        .args(["--cert", &cert(t), "--key", &key(t), "-d", body, &format!("{}{path}", t.url)])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (code, secs) = text.split_once(' ').expect("code and time");
    assert_eq!(code, "201", "{text}");
    Duration::from_secs_f64(secs.trim().parse().expect("seconds"))
}

/// The admin's client certificate and key, written beside the kubeconfig for curl.
fn cert(t: &Tke) -> String {
    pem_from_kubeconfig(t, "client-certificate-data", "admin.crt").display().to_string()
}

fn key(t: &Tke) -> String {
    pem_from_kubeconfig(t, "client-key-data", "admin.key").display().to_string()
}

fn pem_from_kubeconfig(t: &Tke, field: &str, name: &str) -> PathBuf {
    use base64::Engine;
    let path = t.data_dir().join(name);
    if !path.exists() {
        let kc = std::fs::read_to_string(t.kubeconfig()).expect("kubeconfig");
        let line = kc.lines().find(|l| l.trim_start().starts_with(field)).expect("field");
        let b64 = line.split(':').nth(1).expect("value").trim();
        let pem = base64::engine::general_purpose::STANDARD.decode(b64).expect("base64");
        std::fs::write(&path, pem).expect("write");
    }
    path
}

/// `tke monitor` serves the monitor component (with the platform API it reads clusters from,
/// not the other components) and runs the embedded store's sampler under its Lease.
#[test]
fn tke_monitor_runs_the_component_alone() {
    let t = Tke::start_command("monitor", Storage::Embedded, tke_binary(), &[]);
    let _explain = testkit::tke::ExplainFailure::new(&t);
    let groups = t.kubectl_ok(&["api-versions"]);
    assert!(groups.lines().any(|g| g == "monitor.tkestack.io/v1"), "{groups}");
    assert!(!groups.contains("notify.tkestack.io"), "{groups}");
    assert!(!groups.contains("business.tkestack.io"), "{groups}");
    wait_for("the sampler to hold its Lease", Duration::from_secs(30), || {
        let holder = t.kubectl_ok(&[
            "get",
            "leases.coordination.k8s.io",
            "-A",
            "-o",
            "jsonpath={.items[?(@.metadata.name==\"tke-monitor-sampler\")].spec.holderIdentity}",
        ]);
        (!holder.trim().is_empty()).then_some(())
    });
}
