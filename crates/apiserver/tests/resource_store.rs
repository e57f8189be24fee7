//! The generic object store's Kubernetes semantics, checked on the real embedded store: what a
//! client sees from create, get, update, the status subresource, patch, list paging, selectors,
//! watch, finalizers, tenancy and compaction.

use std::{sync::Arc, time::Duration};

use apimachinery::{FieldError, FieldSelector, LabelSelector, error::Reason};
use apiserver::{
    Column, Context, ResourceDef, Subresources, TypedStrategy, UserInfo, Verbs,
    patch::PatchType,
    resource::schema_of,
    store::{DeleteOptions, ListOptions, ResourceStore, WatchEvent, WriteOptions},
    typed,
};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use storage::{Store, embedded::EmbeddedStore};

#[derive(Clone, Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Widget {
    api_version: String,
    kind: String,
    #[serde(default)]
    metadata: Value,
    #[serde(default)]
    spec: WidgetSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<WidgetStatus>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct WidgetSpec {
    #[serde(default, rename = "tenantID")]
    tenant_id: String,
    #[serde(default)]
    size: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    color: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
struct WidgetStatus {
    #[serde(default)]
    phase: String,
}

struct WidgetStrategy;
impl TypedStrategy<Widget> for WidgetStrategy {
    fn validate(&self, _ctx: &Context, w: &Widget) -> Vec<FieldError> {
        if w.spec.size < 0 {
            vec![FieldError::invalid("spec.size", w.spec.size, "must be greater than or equal to 0")]
        } else {
            vec![]
        }
    }
}

fn widget_def() -> ResourceDef {
    ResourceDef {
        group: "test.tkestack.io",
        version: "v1",
        kind: "Widget",
        plural: "widgets",
        singular: "widget",
        short_names: &["wd"],
        categories: &[],
        namespaced: true,
        verbs: Verbs::ALL,
        subresources: Subresources { status: true, finalize: false },
        columns: vec![Column::new("Size", "integer", ".spec.size", "The size."), Column::age()],
        field_selectors: &["spec.color"],
        tenant_field: Some("spec.tenantID"),
        static_objects: None,
        schema: schema_of::<Widget>,
        strategy: typed::<Widget, _>(WidgetStrategy),
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    backend: Arc<dyn Store>,
    widgets: Arc<ResourceStore>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).expect("open store"));
    let widgets = ResourceStore::new(widget_def(), backend.clone(), "/registry").await.expect("resource store");
    Fixture { _dir: dir, backend, widgets }
}

fn admin() -> Context {
    Context {
        user: UserInfo { name: "admin".into(), groups: vec!["system:masters".into()], ..Default::default() },
        namespace: Some("ns1".into()),
    }
}

fn tenant_user(tenant: &str) -> Context {
    Context {
        user: UserInfo {
            name: format!("user-{tenant}"),
            groups: vec![format!("tenant:{tenant}")],
            ..Default::default()
        },
        namespace: Some("ns1".into()),
    }
}

fn widget(name: &str, size: i64, labels: Value) -> Value {
    json!({"apiVersion": "test.tkestack.io/v1", "kind": "Widget", "metadata": {"name": name, "labels": labels}, "spec": {"size": size}})
}

fn rv(obj: &Value) -> String {
    obj["metadata"]["resourceVersion"].as_str().expect("resourceVersion").to_string()
}

fn names(items: &[apiserver::store::Item]) -> Vec<String> {
    items
        .iter()
        .map(|i| i.decode().expect("decode")["metadata"]["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn create_get_and_server_set_fields() {
    let f = fixture().await;
    let ctx = admin();
    let w = f.widgets.create(&ctx, widget("a", 1, json!({})), &WriteOptions::default()).await.expect("create");
    assert!(w.created);
    let obj = w.object;
    assert_eq!(obj["metadata"]["namespace"], "ns1");
    assert_eq!(obj["metadata"]["generation"], 1);
    assert!(obj["metadata"]["uid"].as_str().is_some_and(|u| u.len() == 36), "{obj}");
    assert!(obj["metadata"]["creationTimestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(obj["spec"]["tenantID"], "default", "the tenant comes from the caller");
    let got = f.widgets.get(&ctx, "a", None).await.expect("get");
    assert_eq!(rv(&got), rv(&obj));
    assert_eq!(got["metadata"]["uid"], obj["metadata"]["uid"]);

    let err = f.widgets.create(&ctx, widget("a", 1, json!({})), &WriteOptions::default()).await.expect_err("duplicate");
    assert_eq!((err.code(), err.reason), (409, Reason::AlreadyExists));
    assert!(err.message.contains("\"a\" already exists"), "{}", err.message);

    let err = f.widgets.get(&ctx, "missing", None).await.expect_err("missing");
    assert_eq!(err.code(), 404);
    assert!(err.message.contains("widgets.test.tkestack.io \"missing\" not found"), "{}", err.message);
}

#[tokio::test]
async fn validation_names_and_generate_name() {
    let f = fixture().await;
    let ctx = admin();
    let err =
        f.widgets.create(&ctx, widget("Bad_Name", 1, json!({})), &WriteOptions::default()).await.expect_err("bad name");
    assert_eq!((err.code(), err.reason), (422, Reason::Invalid));
    assert!(err.causes.iter().any(|c| c.field == "metadata.name"), "{err:?}");

    let err = f
        .widgets
        .create(&ctx, widget("neg", -1, json!({})), &WriteOptions::default())
        .await
        .expect_err("negative size");
    assert_eq!(err.code(), 422);
    assert!(err.causes.iter().any(|c| c.field == "spec.size"), "{err:?}");

    let mut generated = widget("", 1, json!({}));
    generated["metadata"] = json!({"generateName": "wd-"});
    let obj = f.widgets.create(&ctx, generated, &WriteOptions::default()).await.expect("generateName").object;
    let name = obj["metadata"]["name"].as_str().expect("name");
    assert!(name.starts_with("wd-") && name.len() == 8, "{name}");

    let dry = WriteOptions { dry_run: true, ..Default::default() };
    f.widgets.create(&ctx, widget("dry", 1, json!({})), &dry).await.expect("dry run");
    assert_eq!(f.widgets.get(&ctx, "dry", None).await.expect_err("dry run stores nothing").code(), 404);

    let strict = WriteOptions { field_validation: apiserver::store::FieldValidation::Strict, ..Default::default() };
    let mut unknown = widget("unknown", 1, json!({}));
    unknown["spec"]["colour"] = json!("red");
    let err = f.widgets.create(&ctx, unknown.clone(), &strict).await.expect_err("strict rejects unknown fields");
    assert!(err.message.contains("spec.colour"), "{}", err.message);
    let warned = f.widgets.create(&ctx, unknown, &WriteOptions::default()).await.expect("warn accepts");
    assert!(warned.warnings.iter().any(|w| w.contains("spec.colour")), "{:?}", warned.warnings);
}

#[tokio::test]
async fn updates_conflicts_generation_and_status() {
    let f = fixture().await;
    let ctx = admin();
    let obj = f.widgets.create(&ctx, widget("a", 1, json!({})), &WriteOptions::default()).await.expect("create").object;

    let mut stale = obj.clone();
    let mut newer = obj.clone();
    newer["spec"]["size"] = json!(2);
    let updated = f.widgets.update(&ctx, "a", None, newer, &WriteOptions::default()).await.expect("update").object;
    assert_eq!(updated["metadata"]["generation"], 2, "a spec change bumps generation");
    assert_ne!(rv(&updated), rv(&obj));

    stale["spec"]["size"] = json!(3);
    let err = f.widgets.update(&ctx, "a", None, stale, &WriteOptions::default()).await.expect_err("stale update");
    assert_eq!((err.code(), err.reason), (409, Reason::Conflict));
    assert!(err.message.contains("the object has been modified"), "{}", err.message);

    // The main resource ignores status; the status subresource changes only status.
    let mut with_status = updated.clone();
    with_status["status"] = json!({"phase": "Running"});
    let after = f.widgets.update(&ctx, "a", None, with_status, &WriteOptions::default()).await.expect("update").object;
    assert!(after["status"]["phase"].is_null() || after["status"]["phase"] == "", "{after}");
    let mut status = after.clone();
    status["status"] = json!({"phase": "Running"});
    status["spec"]["size"] = json!(99);
    let after =
        f.widgets.update(&ctx, "a", Some("status"), status, &WriteOptions::default()).await.expect("status").object;
    assert_eq!(after["status"]["phase"], "Running");
    assert_eq!(after["spec"]["size"], 2, "status updates leave spec alone");
    assert_eq!(after["metadata"]["generation"], 2, "status updates leave generation alone");

    let merged = f
        .widgets
        .patch(&ctx, "a", None, PatchType::Merge, br#"{"spec":{"color":"blue"}}"#, &WriteOptions::default())
        .await
        .expect("merge patch")
        .object;
    assert_eq!(merged["spec"]["color"], "blue");
    assert_eq!(merged["status"]["phase"], "Running");
    let patched = f
        .widgets
        .patch(
            &ctx,
            "a",
            None,
            PatchType::Json,
            br#"[{"op":"replace","path":"/spec/size","value":7}]"#,
            &WriteOptions::default(),
        )
        .await
        .expect("json patch")
        .object;
    assert_eq!(patched["spec"]["size"], 7);
    assert_eq!(patched["metadata"]["generation"], 4);

    // A uid in the body is a precondition: another object's uid is a conflict.
    let mut bad = patched.clone();
    bad["metadata"]["uid"] = json!("00000000-0000-0000-0000-000000000000");
    let err = f.widgets.update(&ctx, "a", None, bad, &WriteOptions::default()).await.expect_err("uid change");
    assert_eq!(err.code(), 409);
    assert!(err.message.contains("Precondition failed: UID"), "{}", err.message);
}

#[tokio::test]
async fn list_pages_at_one_revision_and_selectors() {
    let f = fixture().await;
    let ctx = admin();
    for i in 0..5 {
        let mut w = widget(&format!("w{i}"), i, json!({"parity": if i % 2 == 0 { "even" } else { "odd" }}));
        w["spec"]["color"] = json!(if i < 2 { "red" } else { "green" });
        f.widgets.create(&ctx, w, &WriteOptions::default()).await.expect("create");
    }
    let first = f.widgets.list(&ctx, &ListOptions { limit: 2, ..Default::default() }).await.expect("page 1");
    assert_eq!(names(&first.items), ["w0", "w1"]);
    assert_eq!(first.remaining, Some(3));
    let token = first.continue_token.clone().expect("continue");
    // A write between pages does not show up: the pages are one snapshot.
    f.widgets.create(&ctx, widget("w5", 5, json!({})), &WriteOptions::default()).await.expect("create");
    f.widgets.delete(&ctx, "w3", &DeleteOptions::default()).await.expect("delete");
    let second = f
        .widgets
        .list(&ctx, &ListOptions { limit: 2, continue_token: Some(token), ..Default::default() })
        .await
        .expect("page 2");
    assert_eq!(names(&second.items), ["w2", "w3"]);
    assert_eq!(second.revision, first.revision);
    let third = f
        .widgets
        .list(&ctx, &ListOptions { limit: 2, continue_token: second.continue_token.clone(), ..Default::default() })
        .await
        .expect("page 3");
    assert_eq!(names(&third.items), ["w4"]);
    assert!(third.continue_token.is_none());

    let now = f.widgets.list(&ctx, &ListOptions::default()).await.expect("list");
    assert_eq!(names(&now.items), ["w0", "w1", "w2", "w4", "w5"]);

    let even =
        ListOptions { label_selector: LabelSelector::parse("parity=even").expect("selector"), ..Default::default() };
    assert_eq!(names(&f.widgets.list(&ctx, &even).await.expect("list").items), ["w0", "w2", "w4"]);
    let green = ListOptions {
        field_selector: FieldSelector::parse("spec.color=green").expect("selector"),
        ..Default::default()
    };
    assert_eq!(names(&f.widgets.list(&ctx, &green).await.expect("list").items), ["w2", "w4"]);
    // A page with a selector is still filled up to the limit.
    let page = f.widgets.list(&ctx, &ListOptions { limit: 2, ..even.clone() }).await.expect("list");
    assert_eq!(names(&page.items), ["w0", "w2"]);
    let bad =
        ListOptions { field_selector: FieldSelector::parse("spec.size=1").expect("selector"), ..Default::default() };
    let err = f.widgets.list(&ctx, &bad).await.expect_err("unsupported field");
    assert_eq!(err.code(), 400);
    assert!(err.message.contains("field label not supported: spec.size"), "{}", err.message);

    // Once history is compacted, an old continue token answers 410 Gone.
    let (current, _) = f.backend.revisions().await.expect("revisions");
    f.backend.compact(current).await.expect("compact");
    let err = f
        .widgets
        .list(&ctx, &ListOptions { limit: 2, continue_token: first.continue_token.clone(), ..Default::default() })
        .await
        .expect_err("expired continue");
    assert_eq!(err.code(), 410);
}

async fn next(stream: &mut (impl futures::Stream<Item = WatchEvent> + Unpin)) -> WatchEvent {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an event within 10 s")
        .expect("stream open")
}

#[tokio::test]
async fn watch_from_a_revision_and_initial_events() {
    let f = fixture().await;
    let ctx = admin();
    let a = f
        .widgets
        .create(&ctx, widget("a", 1, json!({"app": "x"})), &WriteOptions::default())
        .await
        .expect("create")
        .object;
    let start = rv(&a);

    let mut b = widget("b", 1, json!({"app": "x"}));
    b = f.widgets.create(&ctx, b, &WriteOptions::default()).await.expect("create").object;
    b["metadata"]["labels"] = json!({"app": "y"});
    f.widgets.update(&ctx, "b", None, b, &WriteOptions::default()).await.expect("relabel");
    f.widgets.delete(&ctx, "a", &DeleteOptions::default()).await.expect("delete");

    // From `start`: every change after it, in order; with a selector, leaving it is DELETED.
    let opts = ListOptions {
        resource_version: Some(start.clone()),
        label_selector: LabelSelector::parse("app=x").expect("selector"),
        ..Default::default()
    };
    let mut w = Box::pin(f.widgets.watch(&ctx, &opts).await.expect("watch"));
    let kinds: Vec<(String, String)> = {
        let mut out = vec![];
        for _ in 0..3 {
            match next(&mut w).await {
                WatchEvent::Added(i) => out.push(("ADDED".into(), names(&[i])[0].clone())),
                WatchEvent::Modified(i) => out.push(("MODIFIED".into(), names(&[i])[0].clone())),
                WatchEvent::Deleted(i) => out.push(("DELETED".into(), names(&[i])[0].clone())),
                other => panic!("unexpected {other:?}"),
            }
        }
        out
    };
    let expected: Vec<(String, String)> = [("ADDED", "b"), ("DELETED", "b"), ("DELETED", "a")]
        .iter()
        .map(|(k, n)| (k.to_string(), n.to_string()))
        .collect();
    assert_eq!(kinds, expected);

    // sendInitialEvents: the current state, then the initial-events-end bookmark, then live.
    let opts = ListOptions {
        send_initial_events: Some(true),
        resource_version_match: Some("NotOlderThan".into()),
        allow_bookmarks: true,
        ..Default::default()
    };
    let mut w = Box::pin(f.widgets.watch(&ctx, &opts).await.expect("watch"));
    match next(&mut w).await {
        WatchEvent::Added(i) => assert_eq!(names(&[i]), ["b"]),
        other => panic!("expected ADDED b, got {other:?}"),
    }
    match next(&mut w).await {
        WatchEvent::Bookmark { initial_events_end, .. } => assert!(initial_events_end),
        other => panic!("expected the initial-events-end bookmark, got {other:?}"),
    }
    f.widgets.create(&ctx, widget("c", 1, json!({})), &WriteOptions::default()).await.expect("create");
    loop {
        match next(&mut w).await {
            WatchEvent::Added(i) => {
                assert_eq!(names(&[i]), ["c"]);
                break;
            }
            WatchEvent::Bookmark { .. } => continue,
            other => panic!("expected ADDED c, got {other:?}"),
        }
    }

    // (Watches at old revisions are served from the watch cache's own history, as in
    // Kubernetes, so compaction of the store does not end them; list continuation does, below.)
}

/// A name (and namespace) field selector narrows what a watch or list reads to that object, from
/// any starting point; `!=` and other fields still see everything; the selector is still applied.
#[tokio::test]
async fn name_selected_watches_and_lists_see_that_object_only() {
    let f = fixture().await;
    let in_ns = |ns: &str| Context { namespace: Some(ns.into()), ..admin() };
    let all = Context { namespace: None, ..admin() };
    let mut start = String::new();
    for ns in ["ns1", "ns2"] {
        for name in ["a", "ab", "b"] {
            let o = f.widgets.create(&in_ns(ns), widget(name, 1, json!({})), &WriteOptions::default()).await;
            if ns == "ns1" && name == "a" {
                start = rv(&o.expect("create").object);
            }
        }
    }
    let selected = |sel: &str, rv: Option<&str>| ListOptions {
        field_selector: FieldSelector::parse(sel).expect("selector"),
        resource_version: rv.map(str::to_string),
        ..Default::default()
    };
    let touch = |ctx: Context, name: &'static str| {
        let widgets = f.widgets.clone();
        async move {
            let mut o = widgets.get(&ctx, name, None).await.expect("get");
            o["spec"]["size"] = json!(o["spec"]["size"].as_i64().unwrap_or(0) + 1);
            rv(&widgets.update(&ctx, name, None, o, &WriteOptions::default()).await.expect("update").object)
        }
    };
    // From ns1/a's creation: its later changes only, not ab's nor ns2's a.
    let mut one = Box::pin(f.widgets.watch(&in_ns("ns1"), &selected("metadata.name=a", Some(&start))).await.unwrap());
    // Across namespaces by name, from the same point: ns2's a (created later) and both updates.
    let mut named = Box::pin(f.widgets.watch(&all, &selected("metadata.name=a", Some(&start))).await.unwrap());
    // Across namespaces with both fields: the same as one key.
    let both = selected("metadata.name=a,metadata.namespace=ns2", Some(&start));
    let mut keyed = Box::pin(f.widgets.watch(&all, &both).await.unwrap());
    // Without a resourceVersion: the current state of that one object first.
    let mut fresh = Box::pin(f.widgets.watch(&in_ns("ns1"), &selected("metadata.name=a", None)).await.unwrap());
    // Everything but a, to check `!=` is not narrowed.
    let mut others =
        Box::pin(f.widgets.watch(&in_ns("ns1"), &selected("metadata.name!=a", Some(&start))).await.unwrap());

    touch(in_ns("ns1"), "ab").await;
    let r1 = touch(in_ns("ns1"), "a").await;
    let r2 = touch(in_ns("ns2"), "a").await;
    let event = |e: WatchEvent| match e {
        WatchEvent::Added(i) => ("ADDED", i.decode().unwrap()),
        WatchEvent::Modified(i) => ("MODIFIED", i.decode().unwrap()),
        WatchEvent::Deleted(i) => ("DELETED", i.decode().unwrap()),
        other => panic!("unexpected {other:?}"),
    };
    let id = |(kind, o): (&str, Value)| {
        (
            kind.to_string(),
            format!(
                "{}/{}@{}",
                o["metadata"]["namespace"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap(),
                rv(&o)
            ),
        )
    };
    let got = id(event(next(&mut one).await));
    assert_eq!(got, ("MODIFIED".into(), format!("ns1/a@{r1}")));
    let mut got = vec![];
    for _ in 0..3 {
        got.push(id(event(next(&mut named).await)));
    }
    assert_eq!(got[0].0, "ADDED");
    assert!(got[0].1.starts_with("ns2/a@"), "{got:?}");
    assert_eq!(got[1..], [("MODIFIED".into(), format!("ns1/a@{r1}")), ("MODIFIED".into(), format!("ns2/a@{r2}"))]);
    assert_eq!(id(event(next(&mut keyed).await)).1.split('@').next(), Some("ns2/a"));
    assert_eq!(id(event(next(&mut keyed).await)), ("MODIFIED".into(), format!("ns2/a@{r2}")));
    assert_eq!(id(event(next(&mut fresh).await)).1, format!("ns1/a@{start}"));
    assert_eq!(id(event(next(&mut fresh).await)), ("MODIFIED".into(), format!("ns1/a@{r1}")));
    let mut got = vec![];
    for _ in 0..3 {
        got.push(id(event(next(&mut others).await)).1);
    }
    assert!(got[0].starts_with("ns1/ab@") && got[1].starts_with("ns1/b@") && got[2].starts_with("ns1/ab@"), "{got:?}");
    // Nothing more arrives on the narrowed watches (ns1/ab's update went to `others` only).
    for w in [&mut one, &mut keyed] {
        assert!(tokio::time::timeout(Duration::from_millis(200), w.next()).await.is_err());
    }

    // Lists: from the cache, and paged from the store.
    for limit in [0, 500] {
        let list = |ctx: Context, sel: &'static str| {
            let widgets = f.widgets.clone();
            async move { names(&widgets.list(&ctx, &ListOptions { limit, ..selected(sel, None) }).await.unwrap().items) }
        };
        assert_eq!(list(in_ns("ns1"), "metadata.name=a").await, ["a"], "limit {limit}");
        assert_eq!(list(all.clone(), "metadata.name=a").await, ["a", "a"], "limit {limit}");
        assert_eq!(list(all.clone(), "metadata.name=a,metadata.namespace=ns2").await, ["a"], "limit {limit}");
        assert_eq!(list(in_ns("ns1"), "metadata.name!=a").await, ["ab", "b"], "limit {limit}");
        assert!(list(in_ns("ns1"), "metadata.name=zz").await.is_empty(), "limit {limit}");
    }
}

#[tokio::test]
async fn finalizers_hold_deletion() {
    let f = fixture().await;
    let ctx = admin();
    let mut w = widget("held", 1, json!({}));
    w["metadata"]["finalizers"] = json!(["test.tkestack.io/cleanup"]);
    f.widgets.create(&ctx, w, &WriteOptions::default()).await.expect("create");
    let deleted = f.widgets.delete(&ctx, "held", &DeleteOptions::default()).await.expect("delete");
    assert!(!deleted.removed, "finalizers keep the object");
    let obj = f.widgets.get(&ctx, "held", None).await.expect("still there");
    assert!(obj["metadata"]["deletionTimestamp"].is_string(), "{obj}");

    let mut cleared = obj.clone();
    cleared["metadata"]["finalizers"] = json!([]);
    f.widgets.update(&ctx, "held", None, cleared, &WriteOptions::default()).await.expect("clear finalizers");
    assert_eq!(f.widgets.get(&ctx, "held", None).await.expect_err("gone once finalizers are cleared").code(), 404);

    // Preconditions.
    let obj =
        f.widgets.create(&ctx, widget("pre", 1, json!({})), &WriteOptions::default()).await.expect("create").object;
    let wrong = DeleteOptions { precondition_resource_version: Some("1".into()), ..Default::default() };
    assert_eq!(f.widgets.delete(&ctx, "pre", &wrong).await.expect_err("precondition").code(), 409);
    let right = DeleteOptions { precondition_resource_version: Some(rv(&obj)), ..Default::default() };
    assert!(f.widgets.delete(&ctx, "pre", &right).await.expect("delete").removed);
}

#[tokio::test]
async fn tenants_see_only_their_objects() {
    let f = fixture().await;
    let alice = tenant_user("alpha");
    let bob = tenant_user("beta");
    let obj =
        f.widgets.create(&alice, widget("mine", 1, json!({})), &WriteOptions::default()).await.expect("create").object;
    assert_eq!(obj["spec"]["tenantID"], "alpha");
    f.widgets.create(&bob, widget("theirs", 1, json!({})), &WriteOptions::default()).await.expect("create");

    assert_eq!(names(&f.widgets.list(&alice, &ListOptions::default()).await.expect("list").items), ["mine"]);
    assert_eq!(names(&f.widgets.list(&bob, &ListOptions::default()).await.expect("list").items), ["theirs"]);
    assert_eq!(
        names(&f.widgets.list(&admin(), &ListOptions::default()).await.expect("list").items),
        ["mine", "theirs"]
    );
    assert_eq!(f.widgets.get(&bob, "mine", None).await.expect_err("hidden").code(), 404);
    assert_eq!(f.widgets.delete(&bob, "mine", &DeleteOptions::default()).await.expect_err("hidden").code(), 404);

    // A tenant cannot move an object into another tenant.
    let mut moved = obj.clone();
    moved["spec"]["tenantID"] = json!("beta");
    let err = f.widgets.update(&alice, "mine", None, moved, &WriteOptions::default()).await.expect_err("tenant change");
    assert!(matches!(err.code(), 403 | 422), "{err:?}");
}

/// Answers with what it was given, so the test sees what the server handed over.
struct Echo;

#[async_trait::async_trait]
impl apiserver::Connect for Echo {
    async fn serve(&self, req: apiserver::ConnectRequest) -> axum::http::Response<axum::body::Body> {
        let body = axum::body::to_bytes(req.body, 1 << 20).await.unwrap_or_default();
        let answer = json!({
            "object": req.object["metadata"]["name"],
            "namespace": req.namespace,
            "name": req.name,
            "path": req.path,
            "query": req.query,
            "method": req.method.as_str(),
            "user": req.user.name,
            "body": String::from_utf8_lossy(&body),
        });
        axum::http::Response::new(axum::body::Body::from(answer.to_string()))
    }
}

#[tokio::test]
async fn connect_subresources_reach_their_handler_after_the_parent_is_found() {
    use tower::ServiceExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let backend: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).expect("open store"));
    let server = apiserver::ApiServer::new(backend, vec![widget_def()], "/registry", apiserver::VersionInfo::default())
        .await
        .expect("server");
    let proxy = apiserver::ConnectDef {
        group: "test.tkestack.io",
        version: "v1",
        plural: "widgets",
        subresource: "proxy",
        verbs: &["get", "create"],
        kind: "",
    };
    server.register_connect(proxy.clone(), Arc::new(Echo)).expect("register");
    let missing = apiserver::ConnectDef { plural: "gadgets", ..proxy };
    assert!(
        server.register_connect(missing, Arc::new(Echo)).is_err(),
        "a subresource of an unknown resource is refused"
    );
    let widgets = server.resource("test.tkestack.io", "v1", "widgets").expect("widgets").clone();
    widgets.create(&admin(), widget("w1", 1, json!({})), &WriteOptions::default()).await.expect("create");

    let call = |method: &str, uri: &str, body: &str| {
        let mut req = axum::http::Request::builder()
            .method(method)
            .uri(uri)
            .body(axum::body::Body::from(body.to_string()))
            .expect("request");
        req.extensions_mut().insert(admin().user);
        let router = server.router();
        async move {
            let resp = router.oneshot(req).await.expect("response");
            let status = resp.status().as_u16();
            let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.expect("body");
            (status, serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null))
        }
    };
    let (status, v) =
        call("POST", "/apis/test.tkestack.io/v1/namespaces/ns1/widgets/w1/proxy/api/v1/pods?watch=1", "hello").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "w1");
    assert_eq!(v["namespace"], "ns1");
    assert_eq!(v["path"], "api/v1/pods");
    assert_eq!(v["query"], "watch=1");
    assert_eq!(v["method"], "POST");
    assert_eq!(v["user"], "admin");
    assert_eq!(v["body"], "hello");

    let (status, v) = call("GET", "/apis/test.tkestack.io/v1/namespaces/ns1/widgets/nope/proxy/", "").await;
    assert_eq!(status, 404, "a missing parent is NotFound before the handler runs: {v}");
    assert_eq!(v["reason"], "NotFound");
    let (status, _) = call("GET", "/apis/test.tkestack.io/v1/namespaces/ns1/widgets/w1/exec", "").await;
    assert_eq!(status, 404, "unregistered subresources stay unknown");

    let (status, v) = call("GET", "/apis/test.tkestack.io/v1", "").await;
    assert_eq!(status, 200);
    let listed: Vec<&str> =
        v["resources"].as_array().expect("resources").iter().filter_map(|r| r["name"].as_str()).collect();
    assert!(listed.contains(&"widgets/proxy"), "discovery lists the connect subresource: {listed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_patches_without_a_resource_version_all_apply() {
    let f = Arc::new(fixture().await);
    let ctx = admin();
    let created =
        f.widgets.create(&ctx, widget("hot", 1, json!({})), &WriteOptions::default()).await.expect("create").object;
    // Eight writers patch the same object at once, each its own label: Kubernetes applies a
    // patch that names no resourceVersion to whatever is current, so none may fail.
    let mut writers = vec![];
    for w in 0..8 {
        let (f, ctx) = (f.clone(), ctx.clone());
        writers.push(tokio::spawn(async move {
            for i in 0..10 {
                let body = json!({"metadata": {"labels": {format!("w{w}-{i}"): "x"}}}).to_string();
                f.widgets
                    .patch(&ctx, "hot", None, PatchType::Merge, body.as_bytes(), &WriteOptions::default())
                    .await
                    .map_err(|e| e.message)?;
            }
            Ok::<_, String>(())
        }));
    }
    for w in writers {
        w.await.expect("writer").expect("every patch applies");
    }
    let got = f.widgets.get(&ctx, "hot", None).await.expect("get");
    assert_eq!(got["metadata"]["labels"].as_object().map(|l| l.len()), Some(80), "{got}");

    // A patch that names a resourceVersion is a precondition: the stale one is refused.
    let body = json!({"metadata": {"resourceVersion": rv(&created), "labels": {"late": "x"}}}).to_string();
    let err = f
        .widgets
        .patch(&ctx, "hot", None, PatchType::Merge, body.as_bytes(), &WriteOptions::default())
        .await
        .expect_err("stale precondition");
    assert_eq!((err.code(), err.reason), (409, Reason::Conflict));
    // Naming the current one applies.
    let body = json!({"metadata": {"resourceVersion": rv(&got), "labels": {"current": "x"}}}).to_string();
    f.widgets
        .patch(&ctx, "hot", None, PatchType::Merge, body.as_bytes(), &WriteOptions::default())
        .await
        .expect("current precondition");
}

/// One admitted write: operation, name, size, whether the old object was given, dry run.
type Call = (apiserver::Operation, String, i64, bool, bool);

/// Records what it is asked and refuses widgets larger than 10, as a quota would.
#[derive(Default)]
struct Recorder {
    calls: std::sync::Mutex<Vec<Call>>,
}

#[async_trait::async_trait]
impl apiserver::Admission for Recorder {
    async fn admit(&self, req: apiserver::AdmissionRequest<'_>) -> Result<(), apimachinery::ApiError> {
        let name = req.new["metadata"]["name"].as_str().unwrap_or("").to_string();
        let size = req.new["spec"]["size"].as_i64().unwrap_or(0);
        self.calls.lock().expect("calls").push((req.operation, name.clone(), size, req.old.is_some(), req.dry_run));
        if size > 10 {
            return Err(apimachinery::ApiError::invalid(
                "test.tkestack.io",
                "Widget",
                &name,
                vec![FieldError::invalid("spec.size", size, "the quota left is 10")],
            ));
        }
        Ok(())
    }
}

#[tokio::test]
async fn admissions_see_object_writes_but_not_subresources_and_refuse_before_storing() {
    use apiserver::Operation::{Create, Update};
    let f = fixture().await;
    let recorder = Arc::new(Recorder::default());
    f.widgets.add_admission(recorder.clone());
    let ctx = admin();
    let calls = |r: &Recorder| std::mem::take(&mut *r.calls.lock().expect("calls"));
    let dry = WriteOptions { dry_run: true, ..Default::default() };

    // Create: admitted after defaults and validation, with the name; a dry run says so.
    f.widgets.create(&ctx, widget("a", 1, json!({})), &dry).await.expect("dry-run create");
    assert_eq!(calls(&recorder), vec![(Create, "a".to_string(), 1, false, true)]);
    assert!(f.widgets.get(&ctx, "a", None).await.is_err(), "a dry run stores nothing");
    let opts = WriteOptions::default();
    f.widgets.create(&ctx, widget("a", 1, json!({})), &opts).await.expect("create");
    assert_eq!(calls(&recorder), vec![(Create, "a".to_string(), 1, false, false)]);

    // The strategy's own validation comes first: an invalid object is never admitted.
    let e = f.widgets.create(&ctx, widget("b", -1, json!({})), &opts).await.expect_err("invalid");
    assert_eq!(e.reason, Reason::Invalid);
    assert!(calls(&recorder).is_empty());

    // A refusal is the answer, and nothing is stored.
    let e = f.widgets.create(&ctx, widget("big", 11, json!({})), &opts).await.expect_err("refused");
    assert_eq!((e.reason, e.code()), (Reason::Invalid, 422));
    assert_eq!(e.causes[0].field, "spec.size");
    assert!(f.widgets.get(&ctx, "big", None).await.is_err());
    calls(&recorder);

    // Update and patch: admitted with the stored object; a refused patch changes nothing.
    let mut cur = f.widgets.get(&ctx, "a", None).await.expect("get");
    cur["spec"]["size"] = json!(2);
    f.widgets.update(&ctx, "a", None, cur, &opts).await.expect("update");
    assert_eq!(calls(&recorder), vec![(Update, "a".to_string(), 2, true, false)]);
    let e = f
        .widgets
        .patch(&ctx, "a", None, PatchType::Merge, br#"{"spec":{"size":12}}"#, &opts)
        .await
        .expect_err("refused patch");
    assert_eq!(e.reason, Reason::Invalid);
    assert_eq!(f.widgets.get(&ctx, "a", None).await.expect("get")["spec"]["size"], json!(2));
    assert_eq!(calls(&recorder), vec![(Update, "a".to_string(), 12, true, false)]);

    // A no-op update and writes of the status subresource are not admitted.
    f.widgets.patch(&ctx, "a", None, PatchType::Merge, br#"{"spec":{"size":2}}"#, &opts).await.expect("no-op");
    f.widgets
        .patch(&ctx, "a", Some("status"), PatchType::Merge, br#"{"status":{"phase":"Ready"}}"#, &opts)
        .await
        .expect("status");
    assert!(calls(&recorder).is_empty());

    // Server-side apply: a create, then an update of the object, each admitted once for real.
    let apply = WriteOptions { field_manager: Some("test".into()), ..Default::default() };
    let body = |size: i64| {
        format!("apiVersion: test.tkestack.io/v1\nkind: Widget\nmetadata:\n  name: c\nspec:\n  size: {size}\n")
    };
    f.widgets.patch(&ctx, "c", None, PatchType::Apply, body(3).as_bytes(), &apply).await.expect("apply create");
    f.widgets.patch(&ctx, "c", None, PatchType::Apply, body(4).as_bytes(), &apply).await.expect("apply update");
    assert_eq!(
        calls(&recorder),
        vec![(Create, "c".to_string(), 3, false, false), (Update, "c".to_string(), 4, true, false)]
    );
    let e = f.widgets.patch(&ctx, "c", None, PatchType::Apply, body(20).as_bytes(), &apply).await.expect_err("big");
    assert_eq!(e.reason, Reason::Invalid);
    let dry_apply = WriteOptions { dry_run: true, ..apply.clone() };
    calls(&recorder);
    f.widgets.patch(&ctx, "c", None, PatchType::Apply, body(5).as_bytes(), &dry_apply).await.expect("dry apply");
    assert_eq!(calls(&recorder), vec![(Update, "c".to_string(), 5, true, true)]);
}
