//! OpenAPI documents generated from the resource definitions, so that `kubectl explain`,
//! kubectl's validation and patch-type choice, and API tooling work against tke-rs as against
//! Kubernetes: Swagger 2.0 at `/openapi/v2` and OpenAPI 3.0 at `/openapi/v3` (an index of
//! group-versions) and `/openapi/v3/apis/<group>/<version>` (`/openapi/v3/api/v1` for the core
//! group). Every document is built once at start-up and kept serialized; responses carry an
//! ETag, answer `If-None-Match` with 304, and are immutable when fetched by their hash.
//!
//! Definitions are named like Kubernetes' (`io.tkestack.platform.v1.Cluster`: the reversed group,
//! the version, the type), each kind carries `x-kubernetes-group-version-kind`, and the shared
//! `meta.k8s.io` types keep their Kubernetes names.

mod meta;
mod paths;
mod proto;
mod schema;

use std::collections::{BTreeMap, HashMap};

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, Response, StatusCode, header},
};
use bytes::Bytes;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

pub use schema::Dialect;

use crate::ResourceDef;
use schema::{Converter, def_name};

/// One serialized document and its hash (the ETag and the `hash` of v3 URLs).
#[derive(Clone, Debug)]
struct Doc {
    body: Bytes,
    hash: String,
}

impl Doc {
    fn new(body: Vec<u8>) -> Doc {
        let hash = content_hash(&body);
        Doc { body: Bytes::from(body), hash }
    }
}

/// A hash of a document's bytes: two independent 64-bit FNV-1a runs (forwards and over the
/// length-salted bytes), enough to tell versions of a document apart.
fn content_hash(bytes: &[u8]) -> String {
    let a = crate::discovery::fnv1a64(bytes);
    let mut h: u64 = 0x6c62_272e_07bb_0142 ^ bytes.len() as u64;
    for b in bytes.iter().rev() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{a:016X}{h:016X}")
}

/// The OpenAPI documents of a server, serialized once.
#[derive(Clone, Debug)]
pub struct OpenApiDocs {
    v2: Doc,
    v2_proto: Doc,
    v3_index: Doc,
    /// Per group-version documents by index path (`apis/<group>/<version>`, `api/v1`).
    v3: BTreeMap<String, Doc>,
}

impl OpenApiDocs {
    /// The Swagger 2.0 document.
    pub fn v2_json(&self) -> &[u8] {
        &self.v2.body
    }
    /// The OpenAPI 3.0 document of one group-version (`apis/<group>/<version>` or `api/v1`).
    pub fn v3_json(&self, gv_path: &str) -> Option<&[u8]> {
        self.v3.get(gv_path).map(|d| &d.body[..])
    }
    /// The `/openapi/v3` index.
    pub fn v3_index_json(&self) -> &[u8] {
        &self.v3_index.body
    }
}

/// The definitions and names of one group-version.
struct GroupVersion<'a> {
    group: &'a str,
    version: &'a str,
    defs: Vec<&'a ResourceDef>,
    /// Input schemas by internal key (schemars names, `kind:<Kind>`, `list:<Kind>`, meta names).
    raw: Map<String, Value>,
    /// Internal key to published name.
    names: HashMap<String, String>,
    /// GVK entries of the kind and list definitions, by internal key.
    gvk: HashMap<String, Vec<Value>>,
    /// Per def: internal keys of its kind and list definitions.
    kinds: Vec<(String, String)>,
}

/// `platform.tkestack.io` + `v1` → `io.tkestack.platform.v1`; the core group is Kubernetes'
/// `io.k8s.api.core`.
fn name_prefix(group: &str, version: &str) -> String {
    if group.is_empty() {
        return format!("io.k8s.api.core.{version}");
    }
    let reversed: Vec<&str> = group.split('.').rev().collect();
    format!("{}.{version}", reversed.join("."))
}

fn index_path(group: &str, version: &str) -> String {
    if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") }
}

/// Gives `key` the published name `wanted`; whatever had that name gets a numbered one.
fn claim(names: &mut HashMap<String, String>, key: &str, wanted: String) {
    let holder = names.iter().find(|(k, v)| **v == wanted && k.as_str() != key).map(|(k, _)| k.clone());
    if let Some(other) = holder {
        let mut i = 2;
        let renamed = loop {
            let candidate = format!("{wanted}{i}");
            if !names.values().any(|v| *v == candidate) {
                break candidate;
            }
            i += 1;
        };
        names.insert(other, renamed);
    }
    names.insert(key.to_string(), wanted);
}

/// Kinds that keep `metadata` as free JSON get the standard `ObjectMeta` documentation, so that
/// `kubectl explain <kind>.metadata` lists its fields.
fn document_metadata(raw: &mut Map<String, Value>, kind_key: &str) {
    let Some(props) = raw.get_mut(kind_key).and_then(|k| k.get_mut("properties")).and_then(Value::as_object_mut) else {
        return;
    };
    let Some(current) = props.get("metadata") else { return };
    let free_form = match current {
        Value::Bool(_) => true,
        Value::Object(m) => {
            !["$ref", "type", "properties", "anyOf", "oneOf", "allOf"].iter().any(|k| m.contains_key(*k))
        }
        _ => false,
    };
    if free_form {
        let description =
            current.get("description").and_then(Value::as_str).unwrap_or("Standard object's metadata.").to_string();
        props.insert(
            "metadata".into(),
            json!({"$ref": format!("#/$defs/{}", meta::OBJECT_META), "description": description}),
        );
    }
}

impl<'a> GroupVersion<'a> {
    fn collect(group: &'a str, version: &'a str, defs: Vec<&'a ResourceDef>) -> Self {
        let prefix = name_prefix(group, version);
        let mut generator = SchemaSettings::draft2020_12().into_generator();
        let roots: Vec<Value> = defs.iter().map(|d| (d.schema)(&mut generator).to_value()).collect();
        let mut raw = generator.take_definitions(true);
        let mut names: HashMap<String, String> = raw.keys().map(|k| (k.clone(), format!("{prefix}.{k}"))).collect();
        for (k, v) in meta::definitions() {
            names.insert(k.clone(), k.clone());
            raw.insert(k, v);
        }
        let mut gvk: HashMap<String, Vec<Value>> = HashMap::new();
        let mut kinds = vec![];
        for (d, root) in defs.iter().zip(roots) {
            let source = root.get("$ref").and_then(Value::as_str).and_then(def_name).filter(|n| raw.contains_key(n));
            let kind_key = match source {
                // The type's own definition becomes the kind's, unless another kind has it.
                Some(k) if !gvk.contains_key(&k) => k,
                other => {
                    let body = other.and_then(|k| raw.get(&k).cloned()).unwrap_or(root);
                    let key = format!("kind:{}", d.kind);
                    raw.insert(key.clone(), body);
                    key
                }
            };
            document_metadata(&mut raw, &kind_key);
            claim(&mut names, &kind_key, format!("{prefix}.{}", d.kind));
            gvk.insert(kind_key.clone(), vec![json!({"group": d.group, "kind": d.kind, "version": d.version})]);

            let list_key = format!("list:{}", d.kind);
            let (api_version, kind) = meta::type_meta_properties();
            raw.insert(
                list_key.clone(),
                json!({
                    "description": format!("{}List is a list of {} objects.", d.kind, d.kind),
                    "type": "object",
                    "required": ["items"],
                    "properties": {
                        "apiVersion": api_version,
                        "items": {"type": "array", "items": {"$ref": format!("#/$defs/{kind_key}")}, "description": format!("The {} objects.", d.kind)},
                        "kind": kind,
                        "metadata": {"$ref": format!("#/$defs/{}", meta::LIST_META), "description": "Standard list metadata."},
                    },
                }),
            );
            claim(&mut names, &list_key, format!("{prefix}.{}", d.list_kind()));
            gvk.insert(list_key.clone(), vec![json!({"group": d.group, "kind": d.list_kind(), "version": d.version})]);
            kinds.push((kind_key, list_key));
        }
        GroupVersion { group, version, defs, raw, names, gvk, kinds }
    }

    fn definitions(&self, dialect: Dialect) -> Map<String, Value> {
        let converter = Converter { dialect, names: &self.names, raw: &self.raw };
        let mut out = Map::new();
        for (key, schema) in &self.raw {
            let Some(published) = self.names.get(key) else { continue };
            let mut converted = converter.convert(schema);
            if let (Some(obj), Some(gvk)) = (converted.as_object_mut(), self.gvk.get(key)) {
                obj.insert("x-kubernetes-group-version-kind".into(), json!(gvk));
            }
            out.insert(published.clone(), converted);
        }
        out
    }

    fn paths(&self, dialect: Dialect) -> Map<String, Value> {
        let mut out = Map::new();
        for (d, (kind_key, list_key)) in self.defs.iter().zip(&self.kinds) {
            let (Some(kind), Some(list)) = (self.names.get(kind_key), self.names.get(list_key)) else { continue };
            for (path, item) in paths::resource_paths(d, paths::Names { kind, list }, dialect) {
                out.insert(path, item);
            }
        }
        out
    }
}

fn security_scheme() -> Value {
    json!({"type": "apiKey", "name": "authorization", "in": "header", "description": "Bearer token authentication: `Authorization: Bearer <token>`."})
}

/// Builds every document for `defs`; `git_version` is the documents' `info.version`.
pub fn build(defs: &[ResourceDef], git_version: &str) -> OpenApiDocs {
    let mut order: Vec<(&str, &str)> = vec![];
    for d in defs {
        if !order.contains(&(d.group, d.version)) {
            order.push((d.group, d.version));
        }
    }
    let gvs: Vec<GroupVersion<'_>> = order
        .iter()
        .map(|(g, v)| GroupVersion::collect(g, v, defs.iter().filter(|d| d.group == *g && d.version == *v).collect()))
        .collect();
    let info = json!({"title": "tke-rs", "version": git_version});

    let mut v2_paths = Map::new();
    let mut v2_defs = Map::new();
    let mut v3 = BTreeMap::new();
    let mut index = Map::new();
    for gv in &gvs {
        v2_paths.extend(gv.paths(Dialect::V2));
        v2_defs.extend(gv.definitions(Dialect::V2));
        let doc = json!({
            "openapi": "3.0.0",
            "info": info,
            "paths": gv.paths(Dialect::V3),
            "components": {
                "schemas": gv.definitions(Dialect::V3),
                "securitySchemes": {"BearerToken": security_scheme()},
            },
            "security": [{"BearerToken": []}],
        });
        let doc = Doc::new(serde_json::to_vec(&doc).unwrap_or_default());
        let key = index_path(gv.group, gv.version);
        index.insert(key.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={}", doc.hash)}));
        v3.insert(key, doc);
    }
    let v2 = json!({
        "swagger": "2.0",
        "info": info,
        "paths": v2_paths,
        "definitions": v2_defs,
        "securityDefinitions": {"BearerToken": security_scheme()},
        "security": [{"BearerToken": []}],
    });
    let v2_proto = Doc::new(proto::encode_document(&v2));
    OpenApiDocs {
        v2: Doc::new(serde_json::to_vec(&v2).unwrap_or_default()),
        v2_proto,
        v3_index: Doc::new(serde_json::to_vec(&json!({"paths": index})).unwrap_or_default()),
        v3,
    }
}

/// Documents already built in this process, by the fingerprint of what they were built from.
/// Weak, so documents no server uses any more are freed.
static SHARED: std::sync::LazyLock<std::sync::Mutex<HashMap<String, std::sync::Weak<OpenApiDocs>>>> =
    std::sync::LazyLock::new(Default::default);

/// Everything of `defs` the documents are made of: names, scope, verbs, subresources and the
/// schema function (the same function always produces the same schema).
fn fingerprint(defs: &[ResourceDef], git_version: &str) -> String {
    use std::fmt::Write as _;
    let mut f = format!("{git_version}\n");
    for d in defs {
        let v = &d.verbs;
        let _ = writeln!(
            f,
            "{}|{}|{}|{}|{}|{}{}{}{}{}|{}{}|{:x}",
            d.group,
            d.version,
            d.kind,
            d.plural,
            d.namespaced,
            v.create as u8,
            v.update as u8,
            v.delete as u8,
            v.delete_collection as u8,
            v.watch as u8,
            d.subresources.status as u8,
            d.subresources.finalize as u8,
            d.schema as usize
        );
    }
    f
}

/// [`build`], shared: servers of the same resources in one process (many simulated clusters, or
/// several servers of one binary) get the same documents instead of a copy each, which would
/// cost megabytes per server.
pub fn build_shared(defs: &[ResourceDef], git_version: &str) -> std::sync::Arc<OpenApiDocs> {
    let key = fingerprint(defs, git_version);
    if let Some(docs) = SHARED.lock().unwrap_or_else(|e| e.into_inner()).get(&key).and_then(std::sync::Weak::upgrade) {
        return docs;
    }
    // Built outside the lock (it takes a while); two servers racing build twice and keep one.
    let built = std::sync::Arc::new(build(defs, git_version));
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    shared.retain(|_, w| w.strong_count() > 0);
    if let Some(docs) = shared.get(&key).and_then(std::sync::Weak::upgrade) {
        return docs;
    }
    shared.insert(key, std::sync::Arc::downgrade(&built));
    built
}

/// Protobuf media types of the documents (gnostic's OpenAPI v2 message).
const V2_PROTO_ACCEPT: &[&str] = &[
    "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
];
const V2_PROTO_CONTENT_TYPE: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// What an `Accept` header allows us to send.
enum Wanted {
    Json,
    Protobuf,
    Nothing,
}

fn wanted(headers: &HeaderMap, protobuf: &[&str]) -> Wanted {
    let accept = headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(",");
    if accept.trim().is_empty() {
        return Wanted::Json;
    }
    let mut ranges: Vec<(String, f32)> = accept
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let mime = parts.next()?.trim().to_ascii_lowercase();
            let q =
                parts.filter_map(|p| p.trim().strip_prefix("q=")).find_map(|q| q.parse::<f32>().ok()).unwrap_or(1.0);
            (!mime.is_empty() && q > 0.0).then_some((mime, q))
        })
        .collect();
    ranges.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
    for (mime, _) in ranges {
        if protobuf.contains(&mime.as_str()) {
            return Wanted::Protobuf;
        }
        if matches!(mime.as_str(), "application/json" | "application/*" | "*/*") {
            return Wanted::Json;
        }
    }
    Wanted::Nothing
}

fn not_modified(headers: &HeaderMap, hash: &str) -> bool {
    headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/").trim_matches('"') == hash
        },
    )
}

fn respond(doc: &Doc, content_type: &str, cache_control: &str, headers: &HeaderMap) -> Response<Body> {
    let etag = format!("\"{}\"", doc.hash);
    let mut resp = if not_modified(headers, &doc.hash) {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(Body::from(doc.body.clone()));
        if let Ok(v) = HeaderValue::from_str(content_type) {
            r.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        r
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(cache_control) {
        h.insert(header::CACHE_CONTROL, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    resp
}

fn not_acceptable(what: &str) -> Response<Body> {
    crate::http::error_response(&apimachinery::ApiError::new(
        apimachinery::error::Reason::NotAcceptable,
        format!("only application/json is available for {what}"),
    ))
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

const NO_CACHE: &str = "no-cache, private";
const IMMUTABLE: &str = "public, immutable, max-age=31536000";

/// Answers `/openapi/v2`, `/openapi/v3` and `/openapi/v3/<group-version path>`; `None` for any
/// other path.
pub fn serve(docs: &OpenApiDocs, path: &str, query: Option<&str>, headers: &HeaderMap) -> Option<Response<Body>> {
    let path = path.trim_end_matches('/');
    if path == "/openapi/v2" {
        return Some(match wanted(headers, V2_PROTO_ACCEPT) {
            Wanted::Json => respond(&docs.v2, "application/json", NO_CACHE, headers),
            Wanted::Protobuf => respond(&docs.v2_proto, V2_PROTO_CONTENT_TYPE, NO_CACHE, headers),
            Wanted::Nothing => not_acceptable("/openapi/v2"),
        });
    }
    if path == "/openapi/v3" {
        return Some(match wanted(headers, &[]) {
            Wanted::Nothing => not_acceptable("/openapi/v3"),
            _ => respond(&docs.v3_index, "application/json", NO_CACHE, headers),
        });
    }
    let key = path.strip_prefix("/openapi/v3/")?;
    let doc = docs.v3.get(key)?;
    if matches!(wanted(headers, &[]), Wanted::Nothing) {
        return Some(not_acceptable(path));
    }
    Some(match query_param(query, "hash") {
        None => respond(doc, "application/json", NO_CACHE, headers),
        Some(h) if h == doc.hash => respond(doc, "application/json", IMMUTABLE, headers),
        // An outdated hash: send the client to the current document, as Kubernetes does.
        Some(_) => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::MOVED_PERMANENTLY;
            if let Ok(v) = HeaderValue::from_str(&format!("/openapi/v3/{key}?hash={}", doc.hash)) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
    })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;

    use super::*;
    use crate::discovery::tests::{catalogue_def, widget_def};

    const GROUP: &str = "example.tkestack.io";

    fn docs() -> OpenApiDocs {
        build(&[widget_def(GROUP, true), catalogue_def()], "v1.2.3")
    }

    fn v3(docs: &OpenApiDocs, key: &str) -> Value {
        serde_json::from_slice(docs.v3_json(key).expect("group-version document")).expect("JSON")
    }

    fn v2(docs: &OpenApiDocs) -> Value {
        serde_json::from_slice(docs.v2_json()).expect("JSON")
    }

    /// Every `$ref` in `doc`, with the JSON path where it occurs.
    fn refs(doc: &Value, path: String, out: &mut Vec<(String, String)>) {
        match doc {
            Value::Object(m) => {
                for (k, v) in m {
                    if k == "$ref" {
                        out.push((path.clone(), v.as_str().unwrap_or("").to_string()));
                    } else {
                        refs(v, format!("{path}/{k}"), out);
                    }
                }
            }
            Value::Array(a) => a.iter().enumerate().for_each(|(i, v)| refs(v, format!("{path}/{i}"), out)),
            _ => {}
        }
    }

    /// Checks the things kubectl's parsers reject or misread in every schema of `defs`.
    fn check_schemas(defs: &Map<String, Value>, dialect: Dialect) {
        fn walk(v: &Value, at: &str, dialect: Dialect) {
            let Some(m) = v.as_object() else { panic!("{at}: a schema must be an object, got {v}") };
            for bad in ["$defs", "anyOf", "oneOf", "const", "nullable", "$schema", "prefixItems"] {
                assert!(!m.contains_key(bad), "{at}: `{bad}` in {v}");
            }
            if let Some(t) = m.get("type") {
                assert!(t.is_string() && t != "null", "{at}: type must be one string: {t}");
            }
            if dialect == Dialect::V2 {
                assert!(!m.contains_key("allOf"), "{at}: allOf in v2");
                assert!(!m.keys().any(|k| k == "x-kubernetes-preserve-unknown-fields"), "{at}: v3 extension in v2");
            }
            if m.get("type").and_then(Value::as_str) == Some("array") {
                assert!(m.contains_key("items"), "{at}: array without items");
            }
            for (k, sub) in m.get("properties").and_then(Value::as_object).into_iter().flatten() {
                walk(sub, &format!("{at}.{k}"), dialect);
            }
            for key in ["items", "additionalProperties"] {
                if let Some(sub) = m.get(key).filter(|s| s.is_object()) {
                    walk(sub, &format!("{at}[{key}]"), dialect);
                }
            }
            for sub in m.get("allOf").and_then(Value::as_array).into_iter().flatten() {
                walk(sub, &format!("{at}(allOf)"), dialect);
            }
        }
        for (name, schema) in defs {
            walk(schema, name, dialect);
        }
    }

    #[test]
    fn servers_of_the_same_resources_share_one_set_of_documents() {
        let defs = [widget_def(GROUP, true), catalogue_def()];
        let a = build_shared(&defs, "v1.2.3");
        let b = build_shared(&defs, "v1.2.3");
        assert!(std::sync::Arc::ptr_eq(&a, &b), "built once, shared");
        assert_eq!(a.v2_json(), docs().v2_json(), "the same documents as an unshared build");
        let other = build_shared(&defs[..1], "v1.2.3");
        assert!(!std::sync::Arc::ptr_eq(&a, &other), "other resources, other documents");
        assert!(!std::sync::Arc::ptr_eq(&a, &build_shared(&defs, "v9.9.9")), "the version is in the documents");
    }

    #[test]
    fn every_reference_resolves_and_schemas_are_plain() {
        let docs = docs();
        let doc = v3(&docs, "apis/example.tkestack.io/v1");
        let schemas = doc["components"]["schemas"].as_object().expect("schemas").clone();
        let mut found = vec![];
        refs(&doc, String::new(), &mut found);
        assert!(found.len() > 20);
        for (at, r) in &found {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("{at}: foreign ref {r}"));
            assert!(schemas.contains_key(name), "{at}: unresolved {r}");
        }
        check_schemas(&schemas, Dialect::V3);

        let doc = v2(&docs);
        let defs = doc["definitions"].as_object().expect("definitions").clone();
        let mut found = vec![];
        refs(&doc, String::new(), &mut found);
        for (at, r) in &found {
            let name = r.strip_prefix("#/definitions/").unwrap_or_else(|| panic!("{at}: foreign ref {r}"));
            assert!(defs.contains_key(name), "{at}: unresolved {r}");
        }
        check_schemas(&defs, Dialect::V2);
        assert_eq!(doc["swagger"], "2.0");
        assert_eq!(doc["info"]["version"], "v1.2.3");
    }

    #[test]
    fn kinds_are_named_like_kubernetes_and_carry_their_gvk() {
        let doc = v3(&docs(), "apis/example.tkestack.io/v1");
        let schemas = &doc["components"]["schemas"];
        let widget = &schemas["io.tkestack.example.v1.Widget"];
        assert_eq!(
            widget["x-kubernetes-group-version-kind"],
            json!([{"group": GROUP, "kind": "Widget", "version": "v1"}])
        );
        assert_eq!(
            schemas["io.tkestack.example.v1.WidgetList"]["x-kubernetes-group-version-kind"][0]["kind"],
            "WidgetList"
        );
        // The catalogue shares Widget's Rust type but is its own kind.
        assert_eq!(schemas["io.tkestack.example.v1.Gadget"]["x-kubernetes-group-version-kind"][0]["kind"], "Gadget");
        assert_eq!(schemas["io.tkestack.example.v1.Gadget"]["properties"]["spec"], widget["properties"]["spec"]);
        // What `kubectl explain widget.spec` walks: spec → WidgetSpec, with documented fields.
        let spec_ref = widget["properties"]["spec"]["allOf"][0]["$ref"].as_str().expect("spec ref");
        assert_eq!(spec_ref, "#/components/schemas/io.tkestack.example.v1.WidgetSpec");
        assert_eq!(widget["properties"]["spec"]["description"], "What the widget should be.");
        let spec = &schemas["io.tkestack.example.v1.WidgetSpec"];
        assert_eq!(
            spec["properties"]["size"],
            json!({"type": "integer", "format": "int64", "minimum": 0, "description": "Size in centimetres."})
        );
        assert_eq!(spec["properties"]["tags"]["additionalProperties"], json!({"type": "string"}));
        let colour = &schemas["io.tkestack.example.v1.Colour"];
        assert_eq!(colour["type"], "string");
        let mut values: Vec<&str> = colour["enum"].as_array().expect("enum").iter().filter_map(Value::as_str).collect();
        values.sort();
        assert_eq!(values, ["Blue", "Red"]);
        assert_eq!(schemas["io.tkestack.example.v1.IntOrStr"]["format"], "int-or-string");
        // Free-form metadata is documented as ObjectMeta; null members of defaults are dropped.
        assert_eq!(
            widget["properties"]["metadata"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        assert!(schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]["labels"].is_object());
        assert_eq!(widget["properties"]["spec"]["default"], json!({"colour": "Blue", "parts": []}));
    }

    #[test]
    fn paths_and_operations() {
        let doc = v3(&docs(), "apis/example.tkestack.io/v1");
        let paths = doc["paths"].as_object().expect("paths");
        let mut keys: Vec<&str> = paths.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "/apis/example.tkestack.io/v1/gadgets",
                "/apis/example.tkestack.io/v1/gadgets/{name}",
                "/apis/example.tkestack.io/v1/namespaces/{namespace}/widgets",
                "/apis/example.tkestack.io/v1/namespaces/{namespace}/widgets/{name}",
                "/apis/example.tkestack.io/v1/namespaces/{namespace}/widgets/{name}/finalize",
                "/apis/example.tkestack.io/v1/namespaces/{namespace}/widgets/{name}/status",
                "/apis/example.tkestack.io/v1/widgets",
            ]
        );
        let coll = &paths["/apis/example.tkestack.io/v1/namespaces/{namespace}/widgets"];
        assert_eq!(coll["get"]["x-kubernetes-action"], "list");
        // The list operation names the object's kind: kubectl explain looks it up this way.
        assert_eq!(
            coll["get"]["x-kubernetes-group-version-kind"],
            json!({"group": GROUP, "kind": "Widget", "version": "v1"})
        );
        assert_eq!(coll["get"]["operationId"], "listExampleTkestackIoV1NamespacedWidget");
        assert!(coll.get("delete").is_none(), "deletecollection is disabled for widgets");
        assert!(
            coll["post"]["requestBody"]["content"]["*/*"]["schema"]["$ref"]
                .as_str()
                .is_some_and(|r| r.ends_with(".Widget"))
        );

        let item = &paths["/apis/example.tkestack.io/v1/namespaces/{namespace}/widgets/{name}"];
        let patch = &item["patch"];
        assert_eq!(patch["x-kubernetes-action"], "patch");
        // kubectl asks the server to validate fields when PATCH takes `fieldValidation`.
        assert!(
            patch["parameters"]
                .as_array()
                .expect("params")
                .iter()
                .any(|p| p["name"] == "fieldValidation" && p["in"] == "query")
        );
        // No strategic merge patch: kubectl apply falls back to JSON merge patch, as for CRDs.
        let content = patch["requestBody"]["content"].as_object().expect("content");
        assert!(
            content.contains_key("application/merge-patch+json")
                && content.contains_key("application/apply-patch+yaml")
        );
        assert!(!content.contains_key("application/strategic-merge-patch+json"));
        let params: Vec<&str> =
            item["parameters"].as_array().expect("params").iter().filter_map(|p| p["name"].as_str()).collect();
        assert_eq!(params, ["name", "namespace", "pretty"]);

        let fin = &paths["/apis/example.tkestack.io/v1/namespaces/{namespace}/widgets/{name}/finalize"];
        assert_eq!(fin["put"]["operationId"], "replaceExampleTkestackIoV1NamespacedWidgetFinalize");
        let all = &paths["/apis/example.tkestack.io/v1/widgets"];
        assert_eq!(all["get"]["operationId"], "listExampleTkestackIoV1WidgetForAllNamespaces");

        // A read-only catalogue: get and list only.
        let gadgets = &paths["/apis/example.tkestack.io/v1/gadgets/{name}"];
        let methods: Vec<&str> =
            gadgets.as_object().expect("item").keys().map(String::as_str).filter(|k| *k != "parameters").collect();
        assert_eq!(methods, ["get"]);
        assert!(paths["/apis/example.tkestack.io/v1/gadgets"].get("post").is_none());

        // Operation ids are unique in the combined v2 document.
        let v2 = v2(&docs());
        let mut ids: Vec<&str> = v2["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(_, item)| {
                ["get", "put", "post", "patch", "delete"].into_iter().filter_map(move |m| item.get(m))
            })
            .filter_map(|op| op["operationId"].as_str())
            .collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n);
        let body = &v2["paths"]["/apis/example.tkestack.io/v1/gadgets"]["get"];
        assert_eq!(body["responses"]["200"]["schema"]["$ref"], "#/definitions/io.tkestack.example.v1.GadgetList");
    }

    #[test]
    fn core_group_documents() {
        let docs = build(&[widget_def("", true), widget_def(GROUP, false)], "v0");
        let index: Value = serde_json::from_slice(docs.v3_index_json()).expect("index");
        let keys: Vec<&str> = index["paths"].as_object().expect("paths").keys().map(String::as_str).collect();
        assert_eq!(keys, ["api/v1", "apis/example.tkestack.io/v1"]);
        let core = v3(&docs, "api/v1");
        assert!(core["paths"].get("/api/v1/namespaces/{namespace}/widgets/{name}").is_some());
        assert_eq!(
            core["components"]["schemas"]["io.k8s.api.core.v1.Widget"]["x-kubernetes-group-version-kind"][0]["group"],
            ""
        );
        let named = v3(&docs, "apis/example.tkestack.io/v1");
        assert!(named["paths"].get("/apis/example.tkestack.io/v1/widgets/{name}").is_some());
        assert!(
            named["paths"].get("/api/v1/namespaces/{namespace}/widgets").is_none(),
            "documents are per group-version"
        );
        // v2 holds both.
        let v2 = v2(&docs);
        assert!(v2["definitions"].get("io.k8s.api.core.v1.Widget").is_some());
        assert!(v2["definitions"].get("io.tkestack.example.v1.Widget").is_some());
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    fn header<'a>(r: &'a Response<Body>, name: &str) -> &'a str {
        r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    #[test]
    fn serving_v3_with_hashes_and_etags() {
        let docs = docs();
        let index: Value = serde_json::from_slice(docs.v3_index_json()).expect("index");
        let url = index["paths"]["apis/example.tkestack.io/v1"]["serverRelativeURL"].as_str().expect("url").to_string();
        let (path, query) = url.split_once('?').expect("hash query");
        assert_eq!(path, "/openapi/v3/apis/example.tkestack.io/v1");

        let r = serve(&docs, path, Some(query), &headers(&[("accept", "application/json")])).expect("served");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "content-type"), "application/json");
        assert!(header(&r, "cache-control").contains("immutable"));
        let etag = header(&r, "etag").to_string();
        assert_eq!(etag, format!("\"{}\"", query.trim_start_matches("hash=")));

        let r = serve(&docs, path, None, &headers(&[("if-none-match", &etag)])).expect("served");
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(header(&r, "etag"), etag);

        let r = serve(&docs, path, None, &HeaderMap::new()).expect("served");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "cache-control"), NO_CACHE);

        let r = serve(&docs, path, Some("hash=OLD"), &HeaderMap::new()).expect("served");
        assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(header(&r, "location"), url);

        let r = serve(&docs, "/openapi/v3", None, &headers(&[("accept", "application/json, */*")])).expect("index");
        assert_eq!(r.status(), StatusCode::OK);
        let r = serve(
            &docs,
            path,
            None,
            &headers(&[("accept", "application/com.github.proto-openapi.spec.v3@v1.0+protobuf")]),
        )
        .expect("served");
        assert_eq!(r.status(), StatusCode::NOT_ACCEPTABLE);

        assert!(serve(&docs, "/openapi/v3/apis/nope.io/v1", None, &HeaderMap::new()).is_none());
        assert!(serve(&docs, "/apis/example.tkestack.io/v1", None, &HeaderMap::new()).is_none());
        assert!(serve(&docs, "/openapi/v4", None, &HeaderMap::new()).is_none());
    }

    #[test]
    fn serving_v2_as_json_or_protobuf() {
        let docs = docs();
        let r = serve(&docs, "/openapi/v2", None, &headers(&[("accept", "application/json")])).expect("served");
        assert_eq!(header(&r, "content-type"), "application/json");
        // client-go's OpenAPISchema() asks for protobuf only.
        let r = serve(
            &docs,
            "/openapi/v2",
            None,
            &headers(&[("accept", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")]),
        )
        .expect("served");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "content-type"), V2_PROTO_CONTENT_TYPE);
        let r = serve(&docs, "/openapi/v2", None, &headers(&[("accept", "text/html")])).expect("served");
        assert_eq!(r.status(), StatusCode::NOT_ACCEPTABLE);

        // The protobuf form carries every definition of the JSON form.
        use proto::decode::{bytes, fields, string};
        let top = fields(&docs.v2_proto.body).expect("protobuf document");
        assert_eq!(string(&top, 1).as_deref(), Some("2.0"));
        let defs = fields(&bytes(&top, 9)[0]).expect("definitions");
        let names: Vec<String> = bytes(&defs, 1).iter().filter_map(|n| fields(n).and_then(|f| string(&f, 1))).collect();
        let json_names: Vec<String> = v2(&docs)["definitions"].as_object().expect("defs").keys().cloned().collect();
        assert_eq!(names, json_names);
        let paths = fields(&bytes(&top, 8)[0]).expect("paths");
        assert_eq!(bytes(&paths, 2).len(), v2(&docs)["paths"].as_object().map(Map::len).unwrap_or(0));
    }
}
#[cfg(test)]
mod shapes {
    use super::*;
    use crate::{
        ResourceDef,
        resource::{DefaultStrategy, schema_of},
        typed,
    };
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    /// Common add-on fields.
    #[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    struct Common {
        /// The cluster.
        cluster_name: String,
        /// Version.
        version: Option<String>,
    }
    /// Backend.
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[serde(tag = "kind", rename_all = "camelCase")]
    enum Backend {
        /// Elastic.
        Es { url: String, index: Option<String> },
        /// CLS.
        Cls { topic: String },
    }
    /// Spec.
    #[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    struct Spec {
        #[serde(flatten)]
        common: Common,
        /// Where to.
        backend: Option<Backend>,
        /// Apps.
        apps: Option<Vec<serde_json::Value>>,
        /// Ratio.
        ratio: Option<f64>,
    }
    /// Obj.
    #[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
    struct Obj {
        metadata: serde_json::Value,
        spec: Spec,
    }

    /// Flattened structs, internally tagged enums, optional lists of free JSON and numbers.
    #[test]
    fn serde_shapes_publish_as_plain_objects() {
        let def = ResourceDef {
            kind: "Obj",
            schema: schema_of::<Obj>,
            strategy: typed::<Obj, _>(DefaultStrategy),
            ..crate::discovery::tests::widget_def("a.io", false)
        };
        let docs = build(&[def], "v");
        let doc: Value = serde_json::from_slice(docs.v3_json("apis/a.io/v1").expect("doc")).expect("JSON");
        let schemas = &doc["components"]["schemas"];
        let spec = &schemas["io.a.v1.Spec"];
        // The flattened fields sit beside the struct's own.
        assert_eq!(spec["properties"]["clusterName"]["type"], "string");
        assert_eq!(spec["required"], json!(["clusterName"]));
        assert_eq!(spec["properties"]["ratio"], json!({"type": "number", "format": "double", "description": "Ratio."}));
        assert_eq!(spec["properties"]["apps"]["items"], json!({"x-kubernetes-preserve-unknown-fields": true}));
        // The tagged enum is one object with every variant's fields and the tag's values.
        let backend = &schemas["io.a.v1.Backend"];
        assert_eq!(backend["type"], "object");
        assert_eq!(backend["properties"]["kind"]["enum"], json!(["es", "cls"]));
        for field in ["url", "index", "topic"] {
            assert_eq!(backend["properties"][field]["type"], "string", "{field}");
        }
        // A kind without `metadata` documentation gets ObjectMeta's.
        assert_eq!(
            schemas["io.a.v1.Obj"]["properties"]["metadata"]["allOf"][0]["$ref"],
            format!("#/components/schemas/{}", meta::OBJECT_META)
        );
    }
}
