//! Resources added and removed while the server runs (custom resources): routing, discovery in
//! both formats, OpenAPI, objects kept as sent, the status subresource and printer columns.

use std::sync::Arc;

use apiserver::{
    ApiServer, VersionInfo,
    dynamic::{CustomColumn, CustomResource},
};
use serde_json::{Value, json};
use storage::{Store, embedded::EmbeddedStore};
use tower::ServiceExt;

fn crontab() -> CustomResource {
    CustomResource {
        group: "stable.example.com".into(),
        version: "v1".into(),
        kind: "CronTab".into(),
        plural: "crontabs".into(),
        singular: "crontab".into(),
        short_names: vec!["ct".into()],
        categories: vec!["all".into()],
        namespaced: true,
        status: true,
        columns: vec![CustomColumn {
            name: "Spec".into(),
            type_: "string".into(),
            json_path: ".spec.cronSpec".into(),
            description: "".into(),
            priority: 0,
        }],
    }
}

async fn call(server: &Arc<ApiServer>, method: &str, uri: &str, accept: &str, body: Value) -> (u16, Value) {
    let mut req = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", if method == "PATCH" { "application/merge-patch+json" } else { "application/json" })
        .header("accept", accept)
        .body(axum::body::Body::from(if body.is_null() { String::new() } else { body.to_string() }))
        .expect("request");
    req.extensions_mut().insert(apiserver::UserInfo {
        name: "admin".into(),
        groups: vec!["system:masters".into()],
        ..Default::default()
    });
    let resp = server.router().oneshot(req).await.expect("response");
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), 16 << 20).await.expect("body");
    (status, serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn custom_resources_are_served_from_when_they_are_added_until_they_are_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).expect("open store"));
    let server = ApiServer::new(backend, vec![], "/registry", VersionInfo::default()).await.expect("server");
    let base = "/apis/stable.example.com/v1/namespaces/default/crontabs";

    let (status, _) = call(&server, "GET", base, "application/json", Value::Null).await;
    assert_eq!(status, 404, "not served before it is added");

    server.add_resource(crontab().to_def()).await.expect("added");
    assert!(server.resource_store("stable.example.com", "v1", "crontabs").is_some());
    assert!(server.all_defs().iter().any(|d| d.plural == "crontabs"));

    // Legacy and aggregated discovery list it at once.
    let (status, groups) = call(&server, "GET", "/apis", "application/json", Value::Null).await;
    assert_eq!(status, 200);
    assert!(groups["groups"].as_array().expect("groups").iter().any(|g| g["name"] == "stable.example.com"), "{groups}");
    let (status, list) = call(&server, "GET", "/apis/stable.example.com/v1", "application/json", Value::Null).await;
    assert_eq!(status, 200);
    let names: Vec<&str> =
        list["resources"].as_array().expect("resources").iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, ["crontabs", "crontabs/status"]);
    assert_eq!(list["resources"][0]["shortNames"], json!(["ct"]));
    assert_eq!(list["resources"][0]["categories"], json!(["all"]));
    let (status, agg) = call(
        &server,
        "GET",
        "/apis",
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(agg["items"][0]["metadata"]["name"], "stable.example.com", "{agg}");
    // OpenAPI v3 has the group-version document and v2 the kind.
    let (status, index) = call(&server, "GET", "/openapi/v3", "application/json", Value::Null).await;
    assert_eq!(status, 200);
    assert!(index["paths"].get("apis/stable.example.com/v1").is_some(), "{index}");
    let (_, v2) = call(&server, "GET", "/openapi/v2", "application/json", Value::Null).await;
    assert!(
        v2["definitions"].get("com.example.stable.v1.CronTab").is_some(),
        "definitions: {:?}",
        v2["definitions"].as_object().map(|m| m.keys().collect::<Vec<_>>())
    );

    // Any fields are kept as sent; status is reset on create (status subresource).
    let obj = json!({"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "t1"},
        "spec": {"cronSpec": "* * * * */5", "image": "my-cron-image", "nested": {"list": [1, "two", {"three": 3.5}]}},
        "status": {"ignored": true}});
    let (status, created) = call(&server, "POST", base, "application/json", obj.clone()).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["spec"], obj["spec"]);
    assert!(created.get("status").is_none(), "{created}");
    let (status, patched) =
        call(&server, "PATCH", &format!("{base}/t1/status"), "application/json", json!({"status": {"lastRun": "now"}}))
            .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["status"]["lastRun"], "now");
    let (status, bad) =
        call(&server, "POST", base, "application/json", json!({"metadata": {"name": "t2", "labels": {"a": 1}}})).await;
    assert_eq!(status, 422, "labels must be strings: {bad}");

    // Tables carry the printer columns then AGE.
    let (status, table) = call(&server, "GET", base, "application/json;as=Table;v=v1;g=meta.k8s.io", Value::Null).await;
    assert_eq!(status, 200, "{table}");
    let cols: Vec<&str> =
        table["columnDefinitions"].as_array().expect("columns").iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(cols, ["Name", "Spec", "Age"]);
    assert_eq!(table["rows"][0]["cells"][1], "* * * * */5");

    // A built-in resource cannot be redefined; removing ends routing and discovery.
    assert!(server.remove_resource("stable.example.com", "v1", "crontabs"));
    assert!(!server.remove_resource("stable.example.com", "v1", "crontabs"));
    let (status, _) = call(&server, "GET", base, "application/json", Value::Null).await;
    assert_eq!(status, 404);
    let (status, _) = call(&server, "GET", "/apis/stable.example.com/v1", "application/json", Value::Null).await;
    assert_eq!(status, 404);
    let (_, index) = call(&server, "GET", "/openapi/v3", "application/json", Value::Null).await;
    assert!(index["paths"].get("apis/stable.example.com/v1").is_none());

    // Added again, the stored objects are still there.
    server.add_resource(crontab().to_def()).await.expect("added again");
    let (status, got) = call(&server, "GET", &format!("{base}/t1"), "application/json", Value::Null).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["status"]["lastRun"], "now");
}
