//! The audit component end to end on a real `tke up`: kubectl's own requests recorded with their
//! user and verb; a business cluster (a kubesim cluster, the test posting its kube-apiserver's
//! webhook batches) sending EventLists to the sink with its token and refused without; tenant
//! scoping; CSV and JSON export; blocked clusters; retention by age; and nothing acknowledged
//! lost when `tke up` is killed with SIGKILL right after the sink's 200.

use std::{path::PathBuf, time::Duration};

use serde_json::{Value, json};
use testkit::tke::{Tke, wait_for};

const WAIT: Duration = Duration::from_secs(30);
const EVENTS: &str = "/apis/audit.tkestack.io/v1/events";

/// A request as the admin (its certificate), optionally impersonating a tenant's user.
fn admin_curl(t: &Tke, args: &[&str], as_user: Option<(&str, &str)>) -> (u16, Value, String) {
    let a = t.admin_request(args, as_user);
    (a.code, a.json.unwrap_or(Value::Null), a.body)
}

fn list(t: &Tke, query: &str, as_user: Option<(&str, &str)>) -> Value {
    let (code, body, text) = admin_curl(t, &[&format!("{}{EVENTS}/list?{query}", t.url)], as_user);
    assert_eq!(code, 200, "list?{query}: {text}");
    body
}

/// What `clusters/{name}/auditwebhook` hands out: (sink URL, token).
fn sink_credentials(t: &Tke, cluster: &str) -> (String, String) {
    let raw =
        t.kubectl_ok(&["get", "--raw", &format!("/apis/platform.tkestack.io/v1/clusters/{cluster}/auditwebhook")]);
    let answer: Value = serde_json::from_str(&raw).expect("json");
    let files = answer["files"].as_object().expect("files");
    let kubeconfig = files.iter().find(|(k, _)| k.ends_with(".kubeconfig")).expect("kubeconfig").1;
    let config: serde_yaml_ng::Value = serde_yaml_ng::from_str(kubeconfig.as_str().expect("text")).expect("yaml");
    let server = config["clusters"][0]["cluster"]["server"].as_str().expect("server").to_string();
    let token = config["users"][0]["user"]["token"].as_str().expect("token").to_string();
    assert!(answer["flags"].to_string().contains("--audit-webhook-config-file="), "{answer}");
    assert!(files.keys().any(|k| k.ends_with("audit-policy.yaml")), "{answer}");
    (server, token)
}

/// An EventList of `n` events as a kube-apiserver sends it, `age_days` old.
fn event_list(prefix: &str, n: usize, user: &str, age_days: i64) -> Value {
    let at = chrono::Utc::now() - chrono::Duration::days(age_days);
    let ts = at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let items: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
                "auditID": format!("{prefix}-{i}"), "stage": "ResponseComplete",
                "requestURI": format!("/api/v1/namespaces/shop/configmaps/{prefix}-{i}"), "verb": "delete",
                "user": {"username": user, "groups": ["system:authenticated"]},
                "sourceIPs": ["10.1.2.3"], "userAgent": "kubectl/v1.32 (linux/amd64)",
                "objectRef": {"resource": "configmaps", "namespace": "shop", "name": format!("{prefix}-{i}"), "apiVersion": "v1"},
                "responseStatus": {"metadata": {}, "code": 200},
                "requestReceivedTimestamp": ts, "stageTimestamp": ts,
            })
        })
        .collect();
    json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": items})
}

/// Posts `body` to the sink as a kube-apiserver would: (code, answer).
fn post_sink(t: &Tke, url: &str, token: Option<&str>, body: &Value) -> (u16, String) {
    let file = t.data_dir().join(format!("batch-{}.json", rand_suffix()));
    std::fs::write(&file, body.to_string()).expect("write batch");
    let data = format!("@{}", file.display());
    let auth = token.map(|tk| format!("Authorization: Bearer {tk}"));
    let mut args = vec!["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", &data];
    if let Some(a) = &auth {
        args.extend(["-H", a.as_str()]);
    }
    args.push(url);
    let out = t.curl(&args);
    let _ = std::fs::remove_file(file);
    out
}

fn rand_suffix() -> String {
    format!("{:x}", rand::random::<u64>())
}

/// A minimal CSV reader (quoted fields, doubled quotes, newlines inside quotes).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = vec![];
    let mut row = vec![];
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

async fn business_cluster(t: &Tke, name: &str) -> kubesim::SimCluster {
    let sim = kubesim::SimCluster::start(kubesim::SimOptions::default()).await.expect("simulated cluster");
    t.import_cluster(name, sim.url(), sim.ca_pem().as_bytes(), sim.admin_token());
    sim
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_and_cluster_events_are_recorded_scoped_exported_and_retained() {
    let t = Tke::start();
    let sim = business_cluster(&t, "cls-a").await;

    // The platform's own requests: kubectl's create and list, with the user and verb.
    t.create(&json!({"apiVersion": "platform.tkestack.io/v1", "kind": "ConfigMap",
        "metadata": {"name": "audit-cm"}, "data": {"k": "v"}}));
    t.kubectl_ok(&["get", "configmaps.platform.tkestack.io"]);
    let created = wait_for("kubectl's create in the audit log", WAIT, || {
        let page = list(&t, "cluster=control-plane&resource=configmaps&verb=create&name=audit-cm", None);
        page["items"].as_array().and_then(|i| i.first().cloned())
    });
    assert_eq!(created["userName"], "admin", "{created}");
    assert_eq!(created["apiGroup"], "platform.tkestack.io");
    assert_eq!(created["code"], 201);
    assert_eq!(created["status"], "Success");
    assert!(created["userAgent"].as_str().unwrap_or("").starts_with("kubectl"), "{created}");
    wait_for("kubectl's list in the audit log", WAIT, || {
        let page = list(&t, "cluster=control-plane&resource=configmaps&verb=list&user=admin", None);
        (page["total"].as_i64() > Some(0)).then_some(())
    });
    // The event's bodies (created with the default policy's RequestResponse).
    let id = created["auditID"].as_str().expect("auditID");
    let (code, full, text) = admin_curl(&t, &[&format!("{}{EVENTS}/get?auditID={id}", t.url)], None);
    assert_eq!(code, 200, "{text}");
    assert!(full["requestObject"].as_str().unwrap_or("").contains("audit-cm"), "{full}");
    assert!(full["responseObject"].as_str().unwrap_or("").contains("\"uid\""), "{full}");
    // A credential's body is never recorded (the cluster's token, created by import_cluster).
    let credential = wait_for("the credential's create in the audit log", WAIT, || {
        let page = list(&t, "resource=clustercredentials&verb=create&name=cc-cls-a", None);
        page["items"].as_array().and_then(|i| i.first().cloned())
    });
    let (_, full, _) =
        admin_curl(&t, &[&format!("{}{EVENTS}/get?auditID={}", t.url, credential["auditID"].as_str().unwrap())], None);
    assert_eq!((full["requestObject"].as_str(), full["responseObject"].as_str()), (Some(""), Some("")), "{full}");
    assert!(!full.to_string().contains(sim.admin_token()), "{full}");

    // The business cluster's webhook: refused without its token or with another cluster's.
    let (sink, token) = sink_credentials(&t, "cls-a");
    assert_eq!(sink, format!("{}{EVENTS}/sink/cls-a", t.url));
    let batch = event_list("cm", 50, "kubernetes-admin", 0);
    assert_eq!(post_sink(&t, &sink, None, &batch).0, 401);
    assert_eq!(post_sink(&t, &sink, Some("not-the-token"), &batch).0, 401);
    let other = format!("{}{EVENTS}/sink/cls-b", t.url);
    assert_eq!(post_sink(&t, &other, Some(&token), &batch).0, 401, "a token is for its own cluster");
    let control = format!("{}{EVENTS}/sink/control-plane", t.url);
    assert_eq!(post_sink(&t, &control, Some(&token), &batch).0, 401);
    let (code, text) = post_sink(&t, &sink, Some(&token), &batch);
    assert_eq!(code, 200, "{text}");
    // Acknowledged means stored: no waiting.
    let page = list(&t, "cluster=cls-a&pageSize=20", None);
    assert_eq!(page["total"], 50, "{page}");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(20));
    let first = &page["items"][0];
    assert_eq!((first["userName"].as_str(), first["verb"].as_str()), (Some("kubernetes-admin"), Some("delete")));
    assert_eq!((first["tenantID"].as_str(), first["sourceIPs"].as_str()), (Some("default"), Some("10.1.2.3")));
    let page3 = list(&t, "cluster=cls-a&pageSize=20&pageIndex=3", None);
    assert_eq!(page3["items"].as_array().map(Vec::len), Some(10));

    // Field values for the console's filters.
    let (_, values, _) = admin_curl(&t, &[&format!("{}{EVENTS}/listFieldValues", t.url)], None);
    for (field, value) in
        [("cluster", "cls-a"), ("cluster", "control-plane"), ("user", "kubernetes-admin"), ("verb", "delete")]
    {
        assert!(values[field].as_array().is_some_and(|v| v.iter().any(|x| x == value)), "{field}={value}: {values}");
    }

    // Exports: CSV that parses, JSON with the same events.
    let (code, _, csv) = admin_curl(&t, &[&format!("{}{EVENTS}/filedownload?format=csv&cluster=cls-a", t.url)], None);
    assert_eq!(code, 200, "{csv}");
    let rows = parse_csv(&csv);
    assert_eq!(rows.len(), 51, "a header and 50 rows");
    let header = &rows[0];
    let col = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("column {name}: {header:?}"));
    assert!(
        rows[1..]
            .iter()
            .all(|r| r.len() == header.len() && r[col("user")] == "kubernetes-admin" && r[col("cluster")] == "cls-a")
    );
    assert!(rows[1].iter().any(|f| f == "kubectl/v1.32 (linux/amd64)"));
    let (code, json_export, _) =
        admin_curl(&t, &[&format!("{}{EVENTS}/filedownload?format=json&cluster=cls-a", t.url)], None);
    assert_eq!(code, 200);
    assert_eq!(json_export.as_array().map(Vec::len), Some(50));

    // Tenant scoping: alice administers tenant t1; she sees t1's events only.
    t.create(&json!({"apiVersion": "auth.tkestack.io/v1", "kind": "IdentityProvider", "metadata": {"name": "t1"},
        "spec": {"name": "t1", "type": "tke", "administrators": ["alice"]}}));
    let alice = Some(("alice", "t1"));
    let url = format!("{}{EVENTS}/list?pageSize=500", t.url);
    let mine = wait_for("alice's own requests in her view", WAIT, || {
        // Her query is itself a request of tenant t1: the next one sees it.
        let (code, page, _) = admin_curl(&t, &[&url], alice);
        (code == 200 && page["total"].as_i64() > Some(0)).then_some(page)
    });
    let items = mine["items"].as_array().expect("items");
    assert!(items.iter().all(|e| e["tenantID"] == "t1"), "{mine}");
    assert!(items.iter().any(|e| e["userName"] == "admin" || e["userName"] == "alice"));
    assert!(!items.iter().any(|e| e["clusterName"] == "cls-a"), "not tenant default's cluster");
    let (code, _, _) = admin_curl(&t, &[&format!("{}{EVENTS}/get?auditID=cm-1", t.url)], alice);
    assert_eq!(code, 404, "another tenant's event is not found");
    let (code, _, _) =
        admin_curl(&t, &["-X", "POST", &format!("{}{EVENTS}/blockCluster?clustername=cls-a", t.url)], alice);
    assert_eq!(code, 403, "blocking is for platform administrators");
    let (_, all, _) = admin_curl(&t, &[&url], None);
    assert!(
        all["items"].as_array().expect("items").iter().any(|e| e["tenantID"] == "t1"),
        "the administrator sees all"
    );

    // Blocked clusters' events are dropped.
    let (code, blocked, text) =
        admin_curl(&t, &["-X", "POST", &format!("{}{EVENTS}/blockCluster?clustername=cls-a&block=true", t.url)], None);
    assert_eq!(code, 200, "{text}");
    assert_eq!(blocked["clusters"], json!(["cls-a"]));
    let (code, text) = post_sink(&t, &sink, Some(&token), &event_list("dropped", 5, "kubernetes-admin", 0));
    assert_eq!(code, 200, "{text}");
    assert_eq!(list(&t, "cluster=cls-a", None)["total"], 50);
    admin_curl(&t, &["-X", "POST", &format!("{}{EVENTS}/blockCluster?clustername=cls-a&block=false", t.url)], None);
    let (_, listed, _) = admin_curl(&t, &[&format!("{}{EVENTS}/listBlockClusters", t.url)], None);
    assert_eq!(listed["clusters"], json!([]));

    // Retention by age: 30 events 10 days old go, the 50 recent ones stay.
    let (code, _) = post_sink(&t, &sink, Some(&token), &event_list("old", 30, "old-user", 10));
    assert_eq!(code, 200);
    assert_eq!(list(&t, "cluster=cls-a", None)["total"], 80);
    let (code, cfg, text) = admin_curl(&t, &[&format!("{}{EVENTS}/getStoreConfig", t.url)], None);
    assert_eq!(code, 200, "{text}");
    assert_eq!(cfg["storage"]["sqlite"]["reserveDays"], 7);
    let body = r#"{"storage":{"sqlite":{"reserveDays":7,"maxBytes":0}}}"#;
    let (code, tested, text) = admin_curl(
        &t,
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--data",
            body,
            &format!("{}{EVENTS}/configTest", t.url),
        ],
        None,
    );
    assert_eq!((code, tested["ok"].as_bool()), (200, Some(true)), "{text}");
    let (code, _, _) = admin_curl(
        &t,
        &[
            "-X",
            "POST",
            "--data",
            r#"{"storage":{"elasticSearch":{"address":"http://es:9200"}}}"#,
            &format!("{}{EVENTS}/configTest", t.url),
        ],
        None,
    );
    assert_eq!(code, 422);
    let (code, updated, text) =
        admin_curl(&t, &["-X", "POST", "--data", body, &format!("{}{EVENTS}/updateStoreConfig", t.url)], None);
    assert_eq!(code, 200, "{text}");
    assert!(updated["swept"]["deletedByAge"].as_u64() >= Some(30), "{updated}");
    let page = list(&t, "cluster=cls-a&pageSize=500", None);
    assert_eq!(page["total"], 50, "only the old events were deleted: {page}");
    assert_eq!(list(&t, "user=old-user", None)["total"], 0);
    assert!(list(&t, "cluster=control-plane", None)["total"].as_i64() > Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_acknowledged_by_the_sink_survive_kill_9() {
    let mut t = Tke::start();
    let _sim = business_cluster(&t, "cls-k").await;
    let (sink, token) = sink_credentials(&t, "cls-k");
    let mut sent = 0;
    for b in 0..20 {
        let (code, text) =
            post_sink(&t, &sink, Some(&token), &event_list(&format!("b{b}"), 100, "kubernetes-admin", 0));
        assert_eq!(code, 200, "{text}");
        sent += 100;
    }
    // SIGKILL straight after the last 200: no shutdown, no flush.
    t.kill9();
    t.start_again();
    let page = list(&t, "cluster=cls-k&pageSize=1", None);
    assert_eq!(page["total"], sent, "{page}");
    let db: PathBuf = t.data_dir().join("audit").join("events.db");
    assert!(db.exists());
}

/// The sink's other credential: a client certificate the platform's CA signs for the cluster,
/// handed out in the webhook kubeconfig; refused for another cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_may_send_its_events_with_its_client_certificate() {
    use base64::Engine;
    let t = Tke::start();
    let _sim = business_cluster(&t, "cls-c").await;
    let raw = t.kubectl_ok(&[
        "get",
        "--raw",
        "/apis/platform.tkestack.io/v1/clusters/cls-c/auditwebhook?credential=certificate",
    ]);
    let answer: Value = serde_json::from_str(&raw).expect("json");
    let files = answer["files"].as_object().expect("files");
    let kubeconfig = files.iter().find(|(k, _)| k.ends_with(".kubeconfig")).expect("kubeconfig").1;
    let config: serde_yaml_ng::Value = serde_yaml_ng::from_str(kubeconfig.as_str().expect("text")).expect("yaml");
    let user = &config["users"][0]["user"];
    assert!(user.get("token").is_none(), "{kubeconfig}");
    let decode = |k: &str| {
        base64::engine::general_purpose::STANDARD.decode(user[k].as_str().expect("certificate data")).expect("base64")
    };
    let (cert, key) = (t.data_dir().join("sink.crt"), t.data_dir().join("sink.key"));
    std::fs::write(&cert, decode("client-certificate-data")).expect("write");
    std::fs::write(&key, decode("client-key-data")).expect("write");
    let post = |cluster: &str| {
        let file = t.data_dir().join("cert-batch.json");
        std::fs::write(&file, event_list("by-cert", 5, "kubernetes-admin", 0).to_string()).expect("write");
        let data = format!("@{}", file.display());
        let (cert, key) = (cert.display().to_string(), key.display().to_string());
        let url = format!("{}{EVENTS}/sink/{cluster}", t.url);
        t.curl(&[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--cert",
            &cert,
            "--key",
            &key,
            "--data-binary",
            &data,
            &url,
        ])
    };
    let (code, text) = post("cls-c");
    assert_eq!(code, 200, "{text}");
    assert_eq!(list(&t, "cluster=cls-c", None)["total"], 5);
    let (code, text) = post("cls-other");
    assert_eq!(code, 401, "a certificate is for its own cluster: {text}");
}
