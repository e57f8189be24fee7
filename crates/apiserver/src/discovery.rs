//! API discovery documents, in the exact JSON shapes Kubernetes serves: the legacy documents
//! (`APIVersions` at `/api`, `APIGroupList` at `/apis`, `APIGroup` at `/apis/<group>`,
//! `APIResourceList` at `/apis/<group>/<version>` and `/api/v1`) and the aggregated
//! `APIGroupDiscoveryList` (apidiscovery.k8s.io v2 / v2beta1) that kubectl 1.32 asks for first,
//! chosen by [`negotiate`] from the `Accept` header.

use serde_json::{Map, Value, json};

use crate::{ResourceDef, connect::ConnectDef};

/// Which discovery document a request gets.
pub enum DiscoveryFormat {
    /// `APIGroupDiscoveryList` of apidiscovery.k8s.io `version` (`v2` or `v2beta1`), sent with
    /// `content_type` so that client-go recognises it.
    Aggregated { version: &'static str, content_type: String },
    /// `APIVersions` / `APIGroupList`.
    Legacy,
}

const DISCOVERY_GROUP: &str = "apidiscovery.k8s.io";
const DISCOVERY_KIND: &str = "APIGroupDiscoveryList";

/// One media range of an `Accept` header.
struct MediaRange<'a> {
    mime: String,
    params: Vec<(String, &'a str)>,
    q: f32,
}

impl MediaRange<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
    }
}

fn parse_accept(accept: &str) -> Vec<MediaRange<'_>> {
    let mut out: Vec<MediaRange<'_>> = accept
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let mime = parts.next()?.trim().to_ascii_lowercase();
            if mime.is_empty() {
                return None;
            }
            let mut q = 1.0;
            let mut params = vec![];
            for p in parts {
                let Some((k, v)) = p.split_once('=') else { continue };
                let k = k.trim().to_ascii_lowercase();
                let v = v.trim().trim_matches('"');
                if k == "q" {
                    q = v.parse().unwrap_or(0.0);
                } else {
                    params.push((k, v));
                }
            }
            Some(MediaRange { mime, params, q })
        })
        .collect();
    // Highest preference first; ties keep the client's order (the sort is stable).
    out.sort_by(|a, b| b.q.partial_cmp(&a.q).unwrap_or(std::cmp::Ordering::Equal));
    out
}

/// Chooses the discovery format for an `Accept` header. The first acceptable media range wins:
/// `application/json;g=apidiscovery.k8s.io;v=v2|v2beta1;as=APIGroupDiscoveryList` selects the
/// aggregated document, plain JSON (or anything else, or no header) the legacy one.
pub fn negotiate(accept: &str) -> DiscoveryFormat {
    for range in parse_accept(accept) {
        if range.q <= 0.0 {
            continue;
        }
        let json_like = matches!(range.mime.as_str(), "application/json" | "application/*" | "*/*");
        if !json_like {
            continue;
        }
        match (range.param("g"), range.param("v"), range.param("as")) {
            (None, None, None) => return DiscoveryFormat::Legacy,
            (Some(g), Some(v), Some(a))
                if g == DISCOVERY_GROUP && a == DISCOVERY_KIND && range.mime == "application/json" =>
            {
                let version = match v {
                    "v2" => "v2",
                    "v2beta1" => "v2beta1",
                    _ => continue,
                };
                return DiscoveryFormat::Aggregated {
                    version,
                    content_type: format!("application/json;g={DISCOVERY_GROUP};v={version};as={DISCOVERY_KIND}"),
                };
            }
            // Some other typed document (e.g. a Table): not something discovery serves.
            _ => continue,
        }
    }
    DiscoveryFormat::Legacy
}

/// The versions of `group` in the order the definitions list them (the first is preferred).
fn versions_of<'a>(defs: &'a [ResourceDef], group: &str) -> Vec<&'a str> {
    let mut out: Vec<&str> = vec![];
    for d in defs.iter().filter(|d| d.group == group) {
        if !out.contains(&d.version) {
            out.push(d.version);
        }
    }
    out
}

/// Groups in the order the definitions list them.
fn groups_of(defs: &[ResourceDef]) -> Vec<&str> {
    let mut out: Vec<&str> = vec![];
    for d in defs {
        if !out.contains(&d.group) {
            out.push(d.group);
        }
    }
    out
}

fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() { version.to_string() } else { format!("{group}/{version}") }
}

/// Verbs of the `status` subresource.
fn status_verbs(def: &ResourceDef) -> Vec<&'static str> {
    if def.verbs.update { vec!["get", "patch", "update"] } else { vec!["get"] }
}

/// Verbs of the `finalize` subresource (TKEStack's finalize is an update of `spec.finalizers`).
fn finalize_verbs(def: &ResourceDef) -> Vec<&'static str> {
    if def.verbs.update { vec!["update"] } else { vec![] }
}

/// The subresources of a definition with their verbs and response kinds, the generic ones
/// first, then the connect subresources registered for it.
fn subresources(def: &ResourceDef, connect: &[ConnectDef]) -> Vec<(&'static str, Vec<&'static str>, &'static str)> {
    let mut out: Vec<(&'static str, Vec<&'static str>, &'static str)> = vec![];
    if def.subresources.status {
        out.push(("status", status_verbs(def), def.kind));
    }
    if def.subresources.finalize {
        let verbs = finalize_verbs(def);
        if !verbs.is_empty() {
            out.push(("finalize", verbs, def.kind));
        }
    }
    for c in connect.iter().filter(|c| c.group == def.group && c.version == def.version && c.plural == def.plural) {
        out.push((c.subresource, c.verbs.to_vec(), if c.kind.is_empty() { def.kind } else { c.kind }));
    }
    out
}

/// An opaque, stable hash of the resource's storage identity, as `storageVersionHash`: lets
/// clients notice a storage version change. 8 bytes, base64, like Kubernetes.
fn storage_version_hash(def: &ResourceDef) -> String {
    use base64::Engine;
    let h = fnv1a64(format!("{}/{}/{}", def.group, def.version, def.kind).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.to_be_bytes())
}

/// FNV-1a, 64 bits: a small stable hash for ETags and version hashes (not for security).
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn scope(def: &ResourceDef) -> &'static str {
    if def.namespaced { "Namespaced" } else { "Cluster" }
}

/// `APIGroupDiscoveryList` for every group of `defs` (apidiscovery.k8s.io `version`). With an
/// empty slice the list has no items, which clients accept as "no groups here".
pub fn aggregated_discovery(defs: &[ResourceDef], version: &str) -> Value {
    aggregated_discovery_with_connect(defs, &[], version)
}

/// [`aggregated_discovery`] listing connect subresources as well.
pub fn aggregated_discovery_with_connect(defs: &[ResourceDef], connect: &[ConnectDef], version: &str) -> Value {
    let items: Vec<Value> = groups_of(defs)
        .into_iter()
        .map(|group| {
            let versions: Vec<Value> = versions_of(defs, group)
                .into_iter()
                .map(|v| {
                    let resources: Vec<Value> = defs
                        .iter()
                        .filter(|d| d.group == group && d.version == v)
                        .map(|d| {
                            let response_kind = json!({"group": d.group, "version": d.version, "kind": d.kind});
                            let mut r = Map::new();
                            r.insert("resource".into(), json!(d.plural));
                            r.insert("responseKind".into(), response_kind.clone());
                            r.insert("scope".into(), json!(scope(d)));
                            r.insert("singularResource".into(), json!(d.singular));
                            r.insert("verbs".into(), json!(d.verbs.names()));
                            if !d.short_names.is_empty() {
                                r.insert("shortNames".into(), json!(d.short_names));
                            }
                            if !d.categories.is_empty() {
                                r.insert("categories".into(), json!(d.categories));
                            }
                            let subs: Vec<Value> = subresources(d, connect)
                                .into_iter()
                                .map(|(name, verbs, kind)| {
                                    json!({"subresource": name, "responseKind": {"group": d.group, "version": d.version, "kind": kind}, "verbs": verbs})
                                })
                                .collect();
                            if !subs.is_empty() {
                                r.insert("subresources".into(), json!(subs));
                            }
                            Value::Object(r)
                        })
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            // The core group has no name; Kubernetes omits it rather than sending "".
            let metadata = if group.is_empty() { json!({}) } else { json!({"name": group}) };
            json!({"metadata": metadata, "versions": versions})
        })
        .collect();
    json!({
        "kind": DISCOVERY_KIND,
        "apiVersion": format!("{DISCOVERY_GROUP}/{version}"),
        "metadata": {},
        "items": items,
    })
}

/// `APIVersions` for `/api` with no versions: the server sets `["v1"]` when it serves core
/// resources. client-go treats an empty list as "no core group" and carries on.
pub fn api_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": [],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
    })
}

fn group_doc(defs: &[ResourceDef], group: &str) -> Value {
    let versions: Vec<Value> = versions_of(defs, group)
        .into_iter()
        .map(|v| json!({"groupVersion": group_version(group, v), "version": v}))
        .collect();
    let preferred = versions.first().cloned().unwrap_or(Value::Null);
    json!({"name": group, "versions": versions, "preferredVersion": preferred})
}

/// `APIGroupList` for `/apis`: every named group of `defs` (the core group is served at `/api`).
pub fn api_group_list(defs: &[ResourceDef]) -> Value {
    let groups: Vec<Value> =
        groups_of(defs).into_iter().filter(|g| !g.is_empty()).map(|g| group_doc(defs, g)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `APIGroup` for `/apis/<group>`, or `None` when no resource of `defs` is in `group`.
pub fn api_group(defs: &[ResourceDef], group: &str) -> Option<Value> {
    if group.is_empty() || !defs.iter().any(|d| d.group == group) {
        return None;
    }
    let mut doc = group_doc(defs, group);
    let obj = doc.as_object_mut()?;
    obj.insert("kind".into(), json!("APIGroup"));
    obj.insert("apiVersion".into(), json!("v1"));
    Some(doc)
}

/// `APIResourceList` for `/apis/<group>/<version>` (`/api/v1` with an empty group), with an
/// entry per subresource (`clusters/status`, `clusters/finalize`); `None` when the server has
/// no resource there.
pub fn api_resource_list(defs: &[ResourceDef], group: &str, version: &str) -> Option<Value> {
    api_resource_list_with_connect(defs, &[], group, version)
}

/// [`api_resource_list`] listing connect subresources as well.
pub fn api_resource_list_with_connect(
    defs: &[ResourceDef],
    connect: &[ConnectDef],
    group: &str,
    version: &str,
) -> Option<Value> {
    let mut resources = vec![];
    for d in defs.iter().filter(|d| d.group == group && d.version == version) {
        let mut r = Map::new();
        r.insert("name".into(), json!(d.plural));
        r.insert("singularName".into(), json!(d.singular));
        r.insert("namespaced".into(), json!(d.namespaced));
        r.insert("kind".into(), json!(d.kind));
        r.insert("verbs".into(), json!(d.verbs.names()));
        if !d.short_names.is_empty() {
            r.insert("shortNames".into(), json!(d.short_names));
        }
        if !d.categories.is_empty() {
            r.insert("categories".into(), json!(d.categories));
        }
        r.insert("storageVersionHash".into(), json!(storage_version_hash(d)));
        resources.push(Value::Object(r));
        for (sub, verbs, kind) in subresources(d, connect) {
            resources.push(json!({
                "name": format!("{}/{sub}", d.plural),
                "singularName": "",
                "namespaced": d.namespaced,
                "kind": kind,
                "verbs": verbs,
            }));
        }
    }
    if resources.is_empty() {
        return None;
    }
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version(group, version),
        "resources": resources,
    }))
}

#[cfg(test)]
pub(crate) mod tests {
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::{
        Column, Subresources, Verbs,
        resource::{DefaultStrategy, schema_of},
        typed,
    };

    /// A small resource type for the discovery and OpenAPI tests.
    #[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct Widget {
        /// APIVersion of the object.
        pub api_version: Option<String>,
        /// Kind of the object.
        pub kind: Option<String>,
        /// Standard object metadata.
        #[serde(default)]
        pub metadata: serde_json::Value,
        /// What the widget should be.
        #[serde(default)]
        pub spec: WidgetSpec,
        /// What the widget is.
        pub status: Option<WidgetStatus>,
    }

    /// The desired widget.
    #[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct WidgetSpec {
        /// Size in centimetres.
        pub size: Option<u32>,
        /// Colour of the widget.
        #[serde(default)]
        pub colour: Colour,
        /// Free labels.
        pub tags: Option<std::collections::BTreeMap<String, String>>,
        /// Parts the widget is made of.
        #[serde(default)]
        pub parts: Vec<Part>,
        /// Maximum unavailable parts, a number or a percentage.
        pub max_unavailable: Option<IntOrStr>,
        /// Anything at all.
        pub extra: Option<serde_json::Value>,
    }

    /// One part.
    #[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
    pub struct Part {
        /// Name of the part.
        pub name: String,
        /// Sub-parts (recursive).
        #[serde(default)]
        pub children: Vec<Part>,
    }

    /// Colours.
    #[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
    pub enum Colour {
        /// The colour of the sky.
        #[default]
        Blue,
        Red,
    }

    /// Number or string.
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[serde(untagged)]
    pub enum IntOrStr {
        Int(i64),
        Str(String),
    }

    /// Observed state.
    #[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
    pub struct WidgetStatus {
        /// Current phase.
        pub phase: Option<String>,
    }

    pub fn widget_def(group: &'static str, namespaced: bool) -> ResourceDef {
        ResourceDef {
            group,
            version: "v1",
            kind: "Widget",
            plural: "widgets",
            singular: "widget",
            short_names: &["wd"],
            categories: &["all"],
            namespaced,
            verbs: Verbs::NO_DELETE_COLLECTION,
            subresources: Subresources { status: true, finalize: true },
            columns: vec![Column::age()],
            field_selectors: &[],
            tenant_field: None,
            static_objects: None,
            schema: schema_of::<Widget>,
            strategy: typed::<Widget, _>(DefaultStrategy),
        }
    }

    pub fn catalogue_def() -> ResourceDef {
        ResourceDef {
            kind: "Gadget",
            plural: "gadgets",
            singular: "gadget",
            short_names: &[],
            categories: &[],
            verbs: Verbs::READ_ONLY,
            subresources: Subresources::default(),
            ..widget_def("example.tkestack.io", false)
        }
    }

    pub fn defs() -> Vec<ResourceDef> {
        vec![widget_def("example.tkestack.io", false), catalogue_def()]
    }

    const KUBECTL_ACCEPT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

    #[test]
    fn kubectl_gets_aggregated_v2() {
        match negotiate(KUBECTL_ACCEPT) {
            DiscoveryFormat::Aggregated { version, content_type } => {
                assert_eq!(version, "v2");
                assert_eq!(content_type, "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
            }
            DiscoveryFormat::Legacy => panic!("kubectl's Accept must get aggregated discovery"),
        }
    }

    #[test]
    fn v2beta1_only_clients_get_v2beta1() {
        let accept = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        match negotiate(accept) {
            DiscoveryFormat::Aggregated { version, content_type } => {
                assert_eq!(version, "v2beta1");
                assert_eq!(content_type, "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList");
            }
            DiscoveryFormat::Legacy => panic!("expected v2beta1"),
        }
    }

    #[test]
    fn plain_clients_get_legacy() {
        for accept in [
            "",
            "application/json",
            "*/*",
            "application/json, */*",
            "application/yaml",
            "application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
        ] {
            assert!(matches!(negotiate(accept), DiscoveryFormat::Legacy), "{accept:?}");
        }
        // Preference by q: plain JSON preferred over aggregated.
        let accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0.5,application/json";
        assert!(matches!(negotiate(accept), DiscoveryFormat::Legacy));
        // An unknown discovery version is skipped, the next acceptable range wins.
        let accept = "application/json;g=apidiscovery.k8s.io;v=v9;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
        assert!(matches!(negotiate(accept), DiscoveryFormat::Aggregated { version: "v2", .. }));
    }

    #[test]
    fn aggregated_document_shape() {
        let doc = aggregated_discovery(&defs(), "v2");
        assert_eq!(doc["kind"], "APIGroupDiscoveryList");
        assert_eq!(doc["apiVersion"], "apidiscovery.k8s.io/v2");
        let items = doc["items"].as_array().expect("items");
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["metadata"]["name"], "example.tkestack.io");
        let v = &items[0]["versions"][0];
        assert_eq!(v["version"], "v1");
        assert_eq!(v["freshness"], "Current");
        let widgets = &v["resources"][0];
        assert_eq!(widgets["resource"], "widgets");
        assert_eq!(widgets["responseKind"], json!({"group": "example.tkestack.io", "version": "v1", "kind": "Widget"}));
        assert_eq!(widgets["scope"], "Cluster");
        assert_eq!(widgets["singularResource"], "widget");
        assert_eq!(widgets["shortNames"], json!(["wd"]));
        assert_eq!(widgets["categories"], json!(["all"]));
        assert_eq!(widgets["verbs"], json!(["create", "delete", "get", "list", "patch", "update", "watch"]));
        assert_eq!(widgets["subresources"][0]["subresource"], "status");
        assert_eq!(widgets["subresources"][0]["verbs"], json!(["get", "patch", "update"]));
        assert_eq!(widgets["subresources"][1]["subresource"], "finalize");
        assert_eq!(widgets["subresources"][1]["responseKind"]["kind"], "Widget");
        let gadgets = &v["resources"][1];
        assert_eq!(gadgets["verbs"], json!(["get", "list"]));
        assert!(gadgets.get("subresources").is_none());
        assert!(gadgets.get("shortNames").is_none());

        let empty = aggregated_discovery(&[], "v2beta1");
        assert_eq!(empty["apiVersion"], "apidiscovery.k8s.io/v2beta1");
        assert_eq!(empty["items"], json!([]));
    }

    #[test]
    fn core_group_in_aggregated_has_no_name() {
        let doc = aggregated_discovery(&[widget_def("", true)], "v2");
        assert_eq!(doc["items"][0]["metadata"], json!({}));
        assert_eq!(doc["items"][0]["versions"][0]["resources"][0]["scope"], "Namespaced");
    }

    #[test]
    fn legacy_documents() {
        let defs = defs();
        assert_eq!(api_versions()["kind"], "APIVersions");
        assert_eq!(api_versions()["versions"], json!([]));

        let list = api_group_list(&defs);
        assert_eq!(list["kind"], "APIGroupList");
        assert_eq!(list["groups"][0]["name"], "example.tkestack.io");
        assert_eq!(list["groups"][0]["versions"], json!([{"groupVersion": "example.tkestack.io/v1", "version": "v1"}]));
        assert_eq!(list["groups"][0]["preferredVersion"]["groupVersion"], "example.tkestack.io/v1");
        assert_eq!(list["groups"].as_array().map(Vec::len), Some(1));

        let group = api_group(&defs, "example.tkestack.io").expect("group");
        assert_eq!(group["kind"], "APIGroup");
        assert_eq!(group["apiVersion"], "v1");
        assert!(api_group(&defs, "nope.io").is_none());
        assert!(api_group(&defs, "").is_none());

        let rl = api_resource_list(&defs, "example.tkestack.io", "v1").expect("resource list");
        assert_eq!(rl["kind"], "APIResourceList");
        assert_eq!(rl["groupVersion"], "example.tkestack.io/v1");
        let names: Vec<&str> =
            rl["resources"].as_array().into_iter().flatten().filter_map(|r| r["name"].as_str()).collect();
        assert_eq!(names, ["widgets", "widgets/status", "widgets/finalize", "gadgets"]);
        let w = &rl["resources"][0];
        assert_eq!(w["kind"], "Widget");
        assert_eq!(w["namespaced"], false);
        assert_eq!(w["singularName"], "widget");
        assert_eq!(w["storageVersionHash"].as_str().map(str::len), Some(12));
        assert_eq!(rl["resources"][2]["verbs"], json!(["update"]));
        assert!(api_resource_list(&defs, "example.tkestack.io", "v2").is_none());

        let core = api_resource_list(&[widget_def("", true)], "", "v1").expect("core");
        assert_eq!(core["groupVersion"], "v1");
        assert_eq!(core["resources"][0]["namespaced"], true);
    }
}
