//! The protobuf encoding at the HTTP edge: a built-in kind (ConfigMap) is read and written in
//! protobuf, with lists, watches and errors in protobuf too; a custom resource (which has no
//! protobuf form) refuses a protobuf body with 415 and answers a protobuf Accept in JSON.

use std::sync::Arc;

use apiserver::{ApiServer, VersionInfo, dynamic::CustomResource, protobuf};
use serde_json::{Value, json};
use storage::{Store, embedded::EmbeddedStore};
use tower::ServiceExt;

const PROTOBUF_FIRST: &str = "application/vnd.kubernetes.protobuf,application/json";

fn resource(group: &str, kind: &str, plural: &str) -> CustomResource {
    CustomResource {
        group: group.into(),
        version: "v1".into(),
        kind: kind.into(),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        short_names: vec![],
        categories: vec![],
        namespaced: true,
        status: false,
        columns: vec![],
    }
}

struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

async fn call(
    server: &Arc<ApiServer>,
    method: &str,
    uri: &str,
    content_type: &str,
    accept: &str,
    body: Vec<u8>,
) -> Answer {
    let mut req = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", content_type)
        .header("accept", accept)
        .body(axum::body::Body::from(body))
        .expect("request");
    req.extensions_mut().insert(apiserver::UserInfo {
        name: "admin".into(),
        groups: vec!["system:masters".into()],
        ..Default::default()
    });
    let resp = server.router().oneshot(req).await.expect("response");
    let status = resp.status().as_u16();
    let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let body = axum::body::to_bytes(resp.into_body(), 16 << 20).await.expect("body").to_vec();
    Answer { status, content_type, body }
}

#[tokio::test]
async fn built_in_kinds_speak_protobuf_and_others_say_they_do_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).expect("open store"));
    let server = ApiServer::new(backend, vec![], "/registry", VersionInfo::default()).await.expect("server");
    server.add_resource(resource("", "ConfigMap", "configmaps").to_def()).await.expect("configmaps");
    server.add_resource(resource("stable.example.com", "CronTab", "crontabs").to_def()).await.expect("crontabs");
    let base = "/api/v1/namespaces/default/configmaps";

    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "default"}, "data": {"a": "1"}});
    let body = protobuf::encode(&cm).expect("encodes");
    let created = call(&server, "POST", base, protobuf::MEDIA_TYPE, PROTOBUF_FIRST, body).await;
    assert_eq!((created.status, created.content_type.as_str()), (201, protobuf::MEDIA_TYPE));
    let created = protobuf::decode(&created.body).expect("a protobuf ConfigMap");
    assert_eq!(created["data"]["a"], "1");
    assert!(created["metadata"]["uid"].is_string(), "{created}");

    let list = call(&server, "GET", base, "", PROTOBUF_FIRST, vec![]).await;
    assert_eq!((list.status, list.content_type.as_str()), (200, protobuf::MEDIA_TYPE));
    let list = protobuf::decode(&list.body).expect("a protobuf ConfigMapList");
    assert_eq!(list["kind"], "ConfigMapList");
    assert_eq!(list["items"][0]["metadata"]["name"], "cfg", "{list}");

    // Errors are a protobuf Status.
    let missing = call(&server, "GET", &format!("{base}/nope"), "", PROTOBUF_FIRST, vec![]).await;
    assert_eq!((missing.status, missing.content_type.as_str()), (404, protobuf::MEDIA_TYPE));
    let status = protobuf::decode(&missing.body).expect("a protobuf Status");
    assert_eq!(
        (status["kind"].as_str(), status["reason"].as_str(), status["code"].as_i64()),
        (Some("Status"), Some("NotFound"), Some(404))
    );

    // A watch is a stream of length-prefixed WatchEvents.
    let watch = call(&server, "GET", &format!("{base}?watch=true&timeoutSeconds=1"), "", PROTOBUF_FIRST, vec![]).await;
    assert_eq!((watch.status, watch.content_type.as_str()), (200, protobuf::WATCH_MEDIA_TYPE));
    let (event_type, object, _) = protobuf::decode_watch_frame(&watch.body).expect("a watch frame");
    assert_eq!((event_type.as_str(), &object["metadata"]["name"]), ("ADDED", &json!("cfg")));

    // A kind without a protobuf form.
    let crontabs = "/apis/stable.example.com/v1/namespaces/default/crontabs";
    let refused = call(&server, "POST", crontabs, protobuf::MEDIA_TYPE, "application/json", b"k8s\0".to_vec()).await;
    assert_eq!(refused.status, 415);
    let status: Value = serde_json::from_slice(&refused.body).expect("a JSON Status");
    assert_eq!(status["reason"], "UnsupportedMediaType");
    let message = status["message"].as_str().unwrap_or_default();
    assert!(message.contains("crontabs.stable.example.com") && message.contains("no protobuf form"), "{message}");
    let listed = call(&server, "GET", crontabs, "", PROTOBUF_FIRST, vec![]).await;
    assert_eq!((listed.status, listed.content_type.as_str()), (200, "application/json"));
    let only_protobuf = call(&server, "GET", crontabs, "", protobuf::MEDIA_TYPE, vec![]).await;
    assert_eq!(only_protobuf.status, 406);
}
