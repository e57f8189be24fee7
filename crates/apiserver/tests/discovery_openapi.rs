//! Discovery and OpenAPI as the real kubectl sees them: a small HTTP server answers the
//! discovery and OpenAPI paths exactly as the API server routes them, and kubectl's
//! `api-resources` and `explain` (OpenAPI v3, and v2 through its protobuf form) run against
//! it. Skipped when kubectl is not installed.

use std::{
    collections::BTreeMap,
    path::Path,
    process::Output,
    sync::{Arc, Mutex},
    time::Duration,
};

use apiserver::{
    Column, ResourceDef, Subresources, Verbs, discovery,
    openapi::{self, OpenApiDocs},
    resource::{DefaultStrategy, schema_of},
    typed,
};
use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    http::{Response, StatusCode, header},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A machine in a fleet.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Gizmo {
    /// APIVersion of the object.
    api_version: Option<String>,
    /// Kind of the object.
    kind: Option<String>,
    /// Standard object metadata.
    #[serde(default)]
    metadata: Value,
    /// The desired gizmo.
    #[serde(default)]
    spec: GizmoSpec,
    /// The observed gizmo.
    status: Option<GizmoStatus>,
}

/// The desired state of a gizmo.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct GizmoSpec {
    /// How many cogs the gizmo turns.
    cogs: Option<u32>,
    /// Where the gizmo runs.
    #[serde(default)]
    placement: Placement,
    /// Labels copied onto the gizmo's parts.
    part_labels: Option<BTreeMap<String, String>>,
    /// The parts of the gizmo.
    #[serde(default)]
    parts: Vec<Part>,
}

/// A placement.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Placement {
    /// Zone of the data centre.
    zone: Option<String>,
}

/// A part of a gizmo.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
struct Part {
    /// Name of the part.
    name: String,
    /// Parts inside this part.
    #[serde(default)]
    children: Vec<Part>,
}

/// The observed state of a gizmo.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
struct GizmoStatus {
    /// Lifecycle phase.
    phase: Option<String>,
}

const GROUP: &str = "fleet.tkestack.io";

fn defs() -> Vec<ResourceDef> {
    let gizmos = ResourceDef {
        group: GROUP,
        version: "v1",
        kind: "Gizmo",
        plural: "gizmos",
        singular: "gizmo",
        short_names: &["gz"],
        categories: &["fleet"],
        namespaced: false,
        verbs: Verbs::NO_DELETE_COLLECTION,
        subresources: Subresources { status: true, finalize: true },
        columns: vec![Column::age()],
        field_selectors: &[],
        tenant_field: None,
        static_objects: None,
        schema: schema_of::<Gizmo>,
        strategy: typed::<Gizmo, _>(DefaultStrategy),
    };
    let widgets = ResourceDef {
        kind: "Widget",
        plural: "widgets",
        singular: "widget",
        short_names: &["wd"],
        namespaced: true,
        ..gizmos.clone()
    };
    let core = ResourceDef {
        group: "",
        kind: "Thing",
        plural: "things",
        singular: "thing",
        short_names: &[],
        categories: &[],
        namespaced: true,
        ..gizmos.clone()
    };
    vec![gizmos, widgets, core]
}

struct Fixture {
    defs: Vec<ResourceDef>,
    docs: OpenApiDocs,
    /// The one gizmo the fixture stores, to see which requests kubectl writes with.
    gizmo: Mutex<Option<Value>>,
    /// Method, path and query, and content type of every write.
    writes: Mutex<Vec<(String, String, String)>>,
}

fn json_response(value: &Value, content_type: &str) -> Response<Body> {
    let mut r = Response::new(Body::from(serde_json::to_vec(value).unwrap_or_default()));
    r.headers_mut().insert(header::CONTENT_TYPE, content_type.parse().expect("content type"));
    r
}

fn not_found() -> Response<Body> {
    let mut r = json_response(
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}),
        "application/json",
    );
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

/// The discovery and OpenAPI part of the server's routing.
async fn handle(State(f): State<Arc<Fixture>>, req: Request) -> Response<Body> {
    let path = req.uri().path().to_string();
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let (core, named): (Vec<ResourceDef>, Vec<ResourceDef>) = f.defs.iter().cloned().partition(|d| d.group.is_empty());
    match path.as_str() {
        "/version" => {
            return json_response(&json!({"major": "1", "minor": "32", "gitVersion": "v1.32.0"}), "application/json");
        }
        "/api" | "/apis" => {
            let defs = if path == "/api" { &core } else { &named };
            return match discovery::negotiate(&accept) {
                discovery::DiscoveryFormat::Aggregated { version, content_type } => {
                    json_response(&discovery::aggregated_discovery(defs, version), &content_type)
                }
                discovery::DiscoveryFormat::Legacy if path == "/api" => {
                    let mut doc = discovery::api_versions();
                    if !core.is_empty() {
                        doc["versions"] = json!(["v1"]);
                    }
                    json_response(&doc, "application/json")
                }
                discovery::DiscoveryFormat::Legacy => {
                    json_response(&discovery::api_group_list(defs), "application/json")
                }
            };
        }
        _ => {}
    }
    if let Some(r) = openapi::serve(&f.docs, &path, req.uri().query(), req.headers()) {
        return r;
    }
    if path.starts_with("/apis/fleet.tkestack.io/v1/gizmos") {
        return gizmos(&f, req).await;
    }
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let doc = match parts.as_slice() {
        ["apis", group] => discovery::api_group(&f.defs, group),
        ["apis", group, version] => discovery::api_resource_list(&f.defs, group, version),
        ["api", version] => discovery::api_resource_list(&f.defs, "", version),
        _ => None,
    };
    doc.map(|d| json_response(&d, "application/json")).unwrap_or_else(not_found)
}

/// A one-object store of gizmos that records how kubectl writes.
async fn gizmos(f: &Fixture, req: Request) -> Response<Body> {
    let method = req.method().to_string();
    let target = format!("{} {}?{}", method, req.uri().path(), req.uri().query().unwrap_or(""));
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap_or_default();
    if method != "GET" {
        f.writes.lock().expect("lock").push((method.clone(), target, content_type.clone()));
    }
    let mut stored = f.gizmo.lock().expect("lock");
    match method.as_str() {
        "GET" => match stored.as_ref() {
            Some(obj) => json_response(obj, "application/json"),
            None => not_found(),
        },
        "POST" => {
            let Ok(mut obj) = serde_json::from_slice::<Value>(&body) else { return not_found() };
            obj["metadata"]["resourceVersion"] = json!("1");
            *stored = Some(obj.clone());
            let mut r = json_response(&obj, "application/json");
            *r.status_mut() = StatusCode::CREATED;
            r
        }
        "PATCH" if content_type == "application/merge-patch+json" => {
            let Some(obj) = stored.as_mut() else { return not_found() };
            let Ok(patch) = serde_json::from_slice::<Value>(&body) else { return not_found() };
            json_patch::merge(obj, &patch);
            json_response(obj, "application/json")
        }
        _ => {
            let mut r = json_response(
                &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "UnsupportedMediaType", "code": 415}),
                "application/json",
            );
            *r.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
            r
        }
    }
}

/// Starts the server; returns its URL.
async fn start() -> (String, Arc<Fixture>) {
    let defs = defs();
    let docs = openapi::build(&defs, "v0.1.0");
    let fixture = Arc::new(Fixture { defs, docs, gizmo: Mutex::new(None), writes: Mutex::new(vec![]) });
    let app = Router::new().fallback(handle).with_state(fixture.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), fixture)
}

fn kubectl_available() -> bool {
    std::process::Command::new("kubectl").arg("version").arg("--client").output().is_ok_and(|o| o.status.success())
}

fn write_kubeconfig(dir: &Path, server: &str) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    let config = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: t\n  cluster:\n    server: {server}\nusers:\n- name: u\n  user:\n    token: x\ncontexts:\n- name: t\n  context:\n    cluster: t\n    user: u\ncurrent-context: t\n"
    );
    std::fs::write(&path, config).expect("kubeconfig");
    path
}

async fn kubectl(dir: &Path, kubeconfig: &Path, args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new("kubectl");
    cmd.env("KUBECONFIG", kubeconfig).arg("--cache-dir").arg(dir.join("cache")).args(args).kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("kubectl finished in time")
        .expect("kubectl ran")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[tokio::test]
async fn kubectl_discovers_and_explains() {
    if !kubectl_available() {
        eprintln!("kubectl is not installed: skipping");
        return;
    }
    let (server, _) = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let kc = write_kubeconfig(dir.path(), &server);

    let out = kubectl(dir.path(), &kc, &["api-resources"]).await;
    let listing = text(&out);
    assert!(out.status.success(), "{listing}");
    let gizmos =
        listing.lines().find(|l| l.starts_with("gizmos")).unwrap_or_else(|| panic!("no gizmos in:\n{listing}"));
    let cols: Vec<&str> = gizmos.split_whitespace().collect();
    assert_eq!(cols, ["gizmos", "gz", "fleet.tkestack.io/v1", "false", "Gizmo"]);
    let things =
        listing.lines().find(|l| l.starts_with("things")).unwrap_or_else(|| panic!("no things in:\n{listing}"));
    assert_eq!(things.split_whitespace().collect::<Vec<_>>(), ["things", "v1", "true", "Thing"]);

    // OpenAPI v3 (kubectl's default): the field's type, its documentation and its fields.
    let out = kubectl(dir.path(), &kc, &["explain", "gz.spec"]).await;
    let explained = text(&out);
    assert!(out.status.success(), "{explained}");
    assert!(explained.contains("GROUP:      fleet.tkestack.io"), "{explained}");
    assert!(explained.contains("KIND:       Gizmo"), "{explained}");
    assert!(explained.contains("FIELD: spec <GizmoSpec>"), "{explained}");
    assert!(explained.contains("The desired gizmo."), "{explained}");
    assert!(explained.contains("cogs\t<integer>"), "{explained}");
    assert!(explained.contains("How many cogs the gizmo turns."), "{explained}");
    assert!(explained.contains("partLabels\t<map[string]string>"), "{explained}");
    assert!(explained.contains("parts\t<[]Part>"), "{explained}");

    let out = kubectl(dir.path(), &kc, &["explain", "widgets", "--recursive"]).await;
    let recursive = text(&out);
    assert!(out.status.success(), "{recursive}");
    for field in [
        "metadata\t<ObjectMeta>",
        "labels\t<map[string]string>",
        "placement\t<Placement>",
        "zone\t<string>",
        "children\t<[]Part>",
        "phase\t<string>",
    ] {
        assert!(recursive.contains(field), "{field:?} missing in:\n{recursive}");
    }

    let out = kubectl(dir.path(), &kc, &["explain", "things.metadata.name"]).await;
    let core = text(&out);
    assert!(out.status.success(), "{core}");
    assert!(core.contains("KIND:       Thing") && core.contains("FIELD: name <string>"), "{core}");

    // OpenAPI v2, which client-go reads only as protobuf.
    let out = kubectl(dir.path(), &kc, &["explain", "gizmos.spec.placement", "--output", "plaintext-openapiv2"]).await;
    let v2 = text(&out);
    assert!(out.status.success(), "{v2}");
    assert!(v2.contains("Where the gizmo runs."), "{v2}");
    assert!(v2.contains("zone\t<string>"), "{v2}");
    assert!(v2.contains("Zone of the data centre."), "{v2}");
}

/// kubectl reads the OpenAPI v3 PATCH operation to decide that the server validates fields
/// (`fieldValidation=Strict` instead of client-side validation) and, finding no strategic
/// merge patch there, applies with a JSON merge patch.
#[tokio::test]
async fn kubectl_writes_with_server_side_validation_and_merge_patches() {
    if !kubectl_available() {
        eprintln!("kubectl is not installed: skipping");
        return;
    }
    let (server, fixture) = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let kc = write_kubeconfig(dir.path(), &server);
    let manifest = dir.path().join("gizmo.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: fleet.tkestack.io/v1\nkind: Gizmo\nmetadata:\n  name: g1\nspec:\n  cogs: 3\n",
    )
    .expect("manifest");

    let out = kubectl(dir.path(), &kc, &["apply", "-f", manifest.to_str().unwrap_or_default()]).await;
    assert!(out.status.success(), "{}", text(&out));
    std::fs::write(
        &manifest,
        "apiVersion: fleet.tkestack.io/v1\nkind: Gizmo\nmetadata:\n  name: g1\nspec:\n  cogs: 4\n",
    )
    .expect("manifest");
    let out = kubectl(dir.path(), &kc, &["apply", "-f", manifest.to_str().unwrap_or_default()]).await;
    assert!(out.status.success(), "{}", text(&out));

    let writes = fixture.writes.lock().expect("lock").clone();
    assert_eq!(writes.len(), 2, "{writes:?}");
    let (method, target, _) = &writes[0];
    assert_eq!(method, "POST");
    assert!(target.contains("fieldValidation=Strict"), "{target}");
    let (method, target, content_type) = &writes[1];
    assert_eq!(method, "PATCH");
    assert!(target.contains("fieldValidation=Strict"), "{target}");
    assert_eq!(content_type, "application/merge-patch+json");
    let stored = fixture.gizmo.lock().expect("lock").clone().unwrap_or_default();
    assert_eq!(stored["spec"]["cogs"], 4);
}
