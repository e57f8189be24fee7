//! Two `tke up` replicas on one etcd act as one for the data each keeps itself: audit events
//! posted to either are stored once (a retried batch too) and a query on either sees all of
//! them, newest first and paged across both, scoped to the caller's tenant; when a replica is
//! stopped the other's answers say whose events are missing. A Metric query on the replica
//! that does not sample answers the sampler's data.

use std::time::Duration;

use serde_json::{Value, json};
use testkit::tke::{Storage, Tke, tke_binary, wait_for};

const WAIT: Duration = Duration::from_secs(40);
const EVENTS: &str = "/apis/audit.tkestack.io/v1/events";

/// A request as `t`'s admin (its certificate), optionally as a tenant's user; (code, JSON,
/// headers and body as text).
fn admin_curl(t: &Tke, url: &str, as_user: Option<(&str, &str)>) -> (u16, Value, String) {
    let a = t.admin_request(&[url], as_user);
    (a.code, a.json.unwrap_or(Value::Null), format!("{}{}", a.headers, a.body))
}

fn list(t: &Tke, query: &str, as_user: Option<(&str, &str)>) -> Value {
    let (code, body, text) = admin_curl(t, &format!("{}{EVENTS}/list?{query}", t.url), as_user);
    assert_eq!(code, 200, "list?{query}: {text}");
    body
}

/// `n` events of `user`, at `base + offset + 2i` milliseconds (so two replicas' batches
/// interleave in time).
fn batch(prefix: &str, n: i64, user: &str, base: chrono::DateTime<chrono::Utc>, offset: i64) -> Value {
    let items: Vec<Value> = (0..n)
        .map(|i| {
            let ts = (base + chrono::Duration::milliseconds(offset + 2 * i))
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            json!({
                "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
                "auditID": format!("{prefix}-{i}"), "stage": "ResponseComplete",
                "requestURI": format!("/api/v1/namespaces/shop/configmaps/{prefix}-{i}"), "verb": "delete",
                "user": {"username": user, "groups": ["system:authenticated"]}, "sourceIPs": ["10.1.2.3"],
                "objectRef": {"resource": "configmaps", "namespace": "shop", "name": format!("{prefix}-{i}"), "apiVersion": "v1"},
                "responseStatus": {"metadata": {}, "code": 200},
                "requestReceivedTimestamp": ts, "stageTimestamp": ts,
            })
        })
        .collect();
    json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": items})
}

/// The sink's token for `cluster` (the same on every replica).
fn sink_token(t: &Tke, cluster: &str) -> String {
    let raw =
        t.kubectl_ok(&["get", "--raw", &format!("/apis/platform.tkestack.io/v1/clusters/{cluster}/auditwebhook")]);
    let answer: Value = serde_json::from_str(&raw).expect("json");
    let files = answer["files"].as_object().expect("files");
    let kubeconfig = files.iter().find(|(k, _)| k.ends_with(".kubeconfig")).expect("kubeconfig").1;
    let config: serde_yaml_ng::Value = serde_yaml_ng::from_str(kubeconfig.as_str().expect("text")).expect("yaml");
    config["users"][0]["user"]["token"].as_str().expect("token").to_string()
}

fn post_sink(t: &Tke, cluster: &str, token: &str, body: &Value) {
    let file = t.data_dir().join(format!("batch-{:x}.json", rand::random::<u64>()));
    std::fs::write(&file, body.to_string()).expect("write batch");
    let data = format!("@{}", file.display());
    let auth = format!("Authorization: Bearer {token}");
    let url = format!("{}{EVENTS}/sink/{cluster}", t.url);
    let (code, text) =
        t.curl(&["-X", "POST", "-H", "Content-Type: application/json", "-H", &auth, "--data-binary", &data, &url]);
    assert_eq!(code, 200, "{text}");
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
        "spec": {"type": "Imported", "tenantID": tenant, "clusterCredentialRef": {"name": format!("cc-{name}")}},
        "status": {"addresses": [{"type": "Advertise", "host": "127.0.0.1", "port": port}]},
    }));
}

fn ids(page: &Value) -> Vec<String> {
    page["items"].as_array().expect("items").iter().map(|e| e["auditID"].as_str().unwrap_or("").to_string()).collect()
}

/// The rows of a `k8s_cluster` Metric query on `t` over the last minute.
fn cluster_rows(t: &Tke) -> usize {
    let now = chrono::Utc::now().timestamp_millis();
    let body = json!({"apiVersion": "monitor.tkestack.io/v1", "kind": "Metric", "query": {
        "table": "k8s_cluster", "startTime": now - 60_000, "endTime": now, "fields": ["k8s_cluster_pod_num"],
        "conditions": [{"key": "cluster_id", "expr": "=", "value": "cls-d"}], "groupBy": ["timestamp(1s)"]}});
    let out = t.kubectl_with(
        &["create", "--raw", "/apis/monitor.tkestack.io/v1/metrics", "-f", "-"],
        &[],
        Some(&body.to_string()),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let answer: Value = serde_json::from_slice(&out.stdout).expect("json");
    let table: Value = serde_json::from_str(answer["jsonResult"].as_str().expect("jsonResult")).expect("table");
    table["data"].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_answer_every_replicas_audit_events_and_the_samplers_metrics() {
    let etcd = testkit::etcd::Etcd::start();
    let storage = Storage::Etcd(etcd.endpoints());
    let flags = ["--monitor-sample-interval", "1"];
    let a = Tke::start_with(tke_binary(), storage.clone(), &flags);
    let _explain_a = testkit::tke::ExplainFailure::new(&a);
    let mut b = Tke::start_with(tke_binary(), storage, &flags);
    let sim = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("simulated cluster");
    import(&a, &sim, "cls-d", "default");
    import(&a, &sim, "cls-t", "t1");
    a.create(&json!({"apiVersion": "auth.tkestack.io/v1", "kind": "IdentityProvider", "metadata": {"name": "t1"},
        "spec": {"name": "t1", "type": "tke", "administrators": ["alice"]}}));

    // Ten events through each replica, interleaved in time; and a batch retried on A.
    let token = sink_token(&a, "cls-d");
    assert_eq!(sink_token(&b, "cls-d"), token, "the replicas share the sink's key");
    let base = chrono::Utc::now();
    let on_a = batch("ev-a", 10, "user-a", base, 0);
    post_sink(&a, "cls-d", &token, &on_a);
    post_sink(&b, "cls-d", &token, &batch("ev-b", 10, "user-b", base, 1));
    post_sink(&a, "cls-d", &token, &on_a);
    let t_token = sink_token(&a, "cls-t");
    post_sink(&a, "cls-t", &t_token, &batch("t-a", 3, "carol", base, 100));
    post_sink(&b, "cls-t", &t_token, &batch("t-b", 3, "carol", base, 101));

    // Newest first: ev-b-9 (base+19), ev-a-9 (base+18), ev-b-8, ...
    let mut expected = vec![];
    for i in (0..10).rev() {
        expected.push(format!("ev-b-{i}"));
        expected.push(format!("ev-a-{i}"));
    }
    for t in [&a, &b] {
        let mut seen = vec![];
        for page in 1..=3 {
            let p = list(t, &format!("cluster=cls-d&pageSize=7&pageIndex={page}"), None);
            assert_eq!(p["total"], 20, "each event once, every replica's counted: {p}");
            assert_eq!(p["warnings"], json!([]), "{p}");
            seen.extend(ids(&p));
        }
        assert_eq!(seen, expected, "on {}", t.url);
        let (code, one, text) = admin_curl(t, &format!("{}{EVENTS}/get?auditID=ev-b-3", t.url), None);
        assert_eq!((code, one["userName"].as_str()), (200, Some("user-b")), "{text}");
        let (_, values, _) = admin_curl(t, &format!("{}{EVENTS}/listFieldValues", t.url), None);
        let users = values["user"].to_string();
        assert!(users.contains("user-a") && users.contains("user-b"), "{values}");
    }
    let (code, csv, text) = admin_curl(&a, &format!("{}{EVENTS}/filedownload?format=json&cluster=cls-d", a.url), None);
    assert_eq!((code, csv.as_array().map(Vec::len)), (200, Some(20)), "{text}");

    // A tenant's user on B sees tenant t1's events from both replicas, and nothing else.
    let alice = Some(("alice", "t1"));
    let mine = list(&b, "cluster=cls-t&pageSize=50", alice);
    assert_eq!(ids(&mine), ["t-b-2", "t-a-2", "t-b-1", "t-a-1", "t-b-0", "t-a-0"], "{mine}");
    let everything = list(&b, "pageSize=500", alice);
    let items = everything["items"].as_array().expect("items");
    assert!(items.iter().all(|e| e["tenantID"] == "t1"), "{everything}");
    assert!(!items.iter().any(|e| e["clusterName"] == "cls-d"), "{everything}");
    let (code, _, _) = admin_curl(&b, &format!("{}{EVENTS}/get?auditID=ev-a-1", b.url), alice);
    assert_eq!(code, 404, "another tenant's event is not found on any replica");

    // The internal route is for replicas only.
    let (code, _) = a.curl(&["-X", "POST", "--data", "{}", &format!("{}{EVENTS}/replica/list", a.url)]);
    assert_eq!(code, 401);

    // Metrics: whichever replica samples, both answer its data.
    for t in [&a, &b] {
        wait_for(&format!("samples of cls-d on {}", t.url), WAIT, || (cluster_rows(t) >= 2).then_some(()));
    }

    // B stopped: A's answer says B's events are missing.
    b.stop();
    let (code, page, text) = admin_curl(&a, &format!("{}{EVENTS}/list?cluster=cls-d&pageSize=50", a.url), None);
    assert_eq!(code, 200, "{text}");
    assert_eq!(page["total"], 10, "{page}");
    let warnings = page["warnings"].to_string();
    assert!(warnings.contains("replica") && warnings.contains("missing"), "{page}");
    assert!(text.to_lowercase().contains("warning: 299"), "{text}");
}
