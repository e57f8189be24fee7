//! The OpenAPI path items of one resource, in Kubernetes' layout: the collection, the object,
//! its subresources and (for namespaced resources) the list across namespaces, each operation
//! tagged with `x-kubernetes-action` and `x-kubernetes-group-version-kind` (kubectl explain
//! finds a resource's kind through them; kubectl apply checks the PATCH operation's
//! `fieldValidation` parameter and body types to choose server-side validation and the patch
//! type).

use serde_json::{Map, Value, json};

use super::meta;
use super::schema::Dialect;
use crate::ResourceDef;

/// The published definition names a resource's operations refer to.
pub struct Names<'a> {
    pub kind: &'a str,
    pub list: &'a str,
}

/// `platform.tkestack.io` → `PlatformTkestackIo`; the core group is `Core`.
fn group_camel(group: &str) -> String {
    if group.is_empty() {
        return "Core".into();
    }
    group
        .split(['.', '-'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next().map(|f| f.to_uppercase().chain(c).collect::<String>()).unwrap_or_default()
        })
        .collect()
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// The tag grouping a group-version's operations (`platformTkestackIo_v1`, `core_v1`).
pub fn tag(group: &str, version: &str) -> String {
    let camel = group_camel(group);
    let mut c = camel.chars();
    let lower: String = c.next().map(|f| f.to_lowercase().chain(c).collect()).unwrap_or_default();
    format!("{lower}_{version}")
}

/// The URL prefix of a group-version: `/apis/<group>/<version>` or `/api/<version>`.
pub fn prefix(group: &str, version: &str) -> String {
    if group.is_empty() { format!("/api/{version}") } else { format!("/apis/{group}/{version}") }
}

#[derive(Clone, Copy)]
enum ParamType {
    String,
    Boolean,
    Integer,
}

impl ParamType {
    fn name(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Boolean => "boolean",
            ParamType::Integer => "integer",
        }
    }
}

struct Builder<'a> {
    dialect: Dialect,
    def: &'a ResourceDef,
    names: Names<'a>,
}

const JSON: &str = "application/json";
const YAML: &str = "application/yaml";
const WATCH_STREAM: &str = "application/json;stream=watch";
const PATCH_TYPES: &[&str] =
    &["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"];

impl Builder<'_> {
    fn param(&self, name: &str, location: &str, ty: ParamType, description: &str) -> Value {
        let mut p = Map::new();
        p.insert("name".into(), json!(name));
        p.insert("in".into(), json!(location));
        p.insert("description".into(), json!(description));
        if location == "path" {
            p.insert("required".into(), json!(true));
        }
        match self.dialect {
            Dialect::V2 => {
                p.insert("type".into(), json!(ty.name()));
                p.insert("uniqueItems".into(), json!(true));
            }
            Dialect::V3 => {
                p.insert("schema".into(), json!({"type": ty.name(), "uniqueItems": true}));
            }
        }
        Value::Object(p)
    }

    fn query(&self, name: &str, ty: ParamType, description: &str) -> Value {
        self.param(name, "query", ty, description)
    }

    fn pretty(&self) -> Value {
        self.query("pretty", ParamType::String, "If 'true', the output is pretty printed.")
    }

    fn write_params(&self) -> Vec<Value> {
        vec![
            self.query("dryRun", ParamType::String, "When present (`All`), the request is processed and validated but nothing is persisted."),
            self.query("fieldManager", ParamType::String, "Name of the actor making the change, recorded in managedFields."),
            self.query(
                "fieldValidation",
                ParamType::String,
                "How fields the type does not know are treated: `Ignore` drops them, `Warn` drops them with a warning, `Strict` fails the request.",
            ),
        ]
    }

    fn list_params(&self, with_watch: bool) -> Vec<Value> {
        let mut p = vec![];
        if with_watch {
            p.push(self.query(
                "allowWatchBookmarks",
                ParamType::Boolean,
                "Asks the watch to send BOOKMARK events carrying the latest resourceVersion.",
            ));
        }
        p.push(self.query(
            "continue",
            ParamType::String,
            "The token from a previous page of a list, to get the next page.",
        ));
        p.push(self.query(
            "fieldSelector",
            ParamType::String,
            "Restricts the result by fields, e.g. `metadata.name=x`.",
        ));
        p.push(self.query(
            "labelSelector",
            ParamType::String,
            "Restricts the result by labels, e.g. `app=web,tier!=db`.",
        ));
        p.push(self.query(
            "limit",
            ParamType::Integer,
            "The most items to return; the rest is available with `continue`.",
        ));
        p.push(self.query(
            "resourceVersion",
            ParamType::String,
            "Which version of the collection to read, or where a watch starts.",
        ));
        p.push(self.query(
            "resourceVersionMatch",
            ParamType::String,
            "How resourceVersion applies to a list: `Exact` or `NotOlderThan`.",
        ));
        if with_watch {
            p.push(self.query(
                "sendInitialEvents",
                ParamType::Boolean,
                "Starts the watch with ADDED events for the current objects.",
            ));
        }
        p.push(self.query("timeoutSeconds", ParamType::Integer, "Ends the call after this many seconds."));
        if with_watch {
            p.push(self.query(
                "watch",
                ParamType::Boolean,
                "Watch for changes instead of listing: a stream of events.",
            ));
        }
        p
    }

    fn delete_params(&self) -> Vec<Value> {
        vec![
            self.query(
                "dryRun",
                ParamType::String,
                "When present (`All`), the request is processed and validated but nothing is persisted.",
            ),
            self.query(
                "gracePeriodSeconds",
                ParamType::Integer,
                "Seconds before the object is deleted; zero deletes immediately.",
            ),
            self.query("orphanDependents", ParamType::Boolean, "Deprecated: use propagationPolicy."),
            self.query(
                "propagationPolicy",
                ParamType::String,
                "Whether and how dependents are garbage collected: `Orphan`, `Background` or `Foreground`.",
            ),
        ]
    }

    fn responses(&self, codes: &[(&str, &str)], schema: &str, content_types: &[&str]) -> Value {
        let mut out = Map::new();
        for (code, description) in codes {
            let mut r = Map::new();
            r.insert("description".into(), json!(description));
            match self.dialect {
                Dialect::V2 => {
                    r.insert("schema".into(), self.dialect.reference(schema));
                }
                Dialect::V3 => {
                    let content: Map<String, Value> = content_types
                        .iter()
                        .map(|ct| (ct.to_string(), json!({"schema": self.dialect.reference(schema)})))
                        .collect();
                    r.insert("content".into(), Value::Object(content));
                }
            }
            out.insert(code.to_string(), Value::Object(r));
        }
        out.insert("401".into(), json!({"description": "Unauthorized"}));
        Value::Object(out)
    }

    /// One operation. `body` is the request body schema and its content types.
    #[allow(clippy::too_many_arguments)]
    fn operation(
        &self,
        id: String,
        description: String,
        action: &str,
        mut params: Vec<Value>,
        body: Option<(&str, &[&str], bool)>,
        responses: Value,
        produces: &[&str],
    ) -> Value {
        let d = self.def;
        let mut op = Map::new();
        op.insert("description".into(), json!(description));
        op.insert("operationId".into(), json!(id));
        op.insert("tags".into(), json!([tag(d.group, d.version)]));
        if let Some((schema, types, required)) = body {
            match self.dialect {
                Dialect::V2 => {
                    params.insert(0, json!({"name": "body", "in": "body", "required": required, "schema": self.dialect.reference(schema)}));
                    op.insert("consumes".into(), json!(types));
                }
                Dialect::V3 => {
                    let content: Map<String, Value> = types
                        .iter()
                        .map(|ct| (ct.to_string(), json!({"schema": self.dialect.reference(schema)})))
                        .collect();
                    op.insert("requestBody".into(), json!({"content": content, "required": required}));
                }
            }
        }
        if self.dialect == Dialect::V2 {
            op.insert("produces".into(), json!(produces));
            op.insert("schemes".into(), json!(["https"]));
        }
        if !params.is_empty() {
            op.insert("parameters".into(), Value::Array(params));
        }
        op.insert("responses".into(), responses);
        op.insert("x-kubernetes-action".into(), json!(action));
        // kubectl compares this map for equality with a definition's GVK entry: same keys.
        op.insert(
            "x-kubernetes-group-version-kind".into(),
            json!({"group": d.group, "kind": d.kind, "version": d.version}),
        );
        Value::Object(op)
    }

    fn id(&self, verb: &str, namespaced: bool, suffix: &str) -> String {
        let d = self.def;
        format!(
            "{verb}{}{}{}{}{suffix}",
            group_camel(d.group),
            upper_first(d.version),
            if namespaced { "Namespaced" } else { "" },
            d.kind
        )
    }

    fn paths(&self) -> Vec<(String, Value)> {
        let d = self.def;
        let ns = d.namespaced;
        let base = prefix(d.group, d.version);
        let collection =
            if ns { format!("{base}/namespaces/{{namespace}}/{}", d.plural) } else { format!("{base}/{}", d.plural) };
        let item = format!("{collection}/{{name}}");
        let name_param = self.param("name", "path", ParamType::String, &format!("name of the {}", d.kind));
        let ns_param = self.param(
            "namespace",
            "path",
            ParamType::String,
            "object name and auth scope, such as for teams and projects",
        );
        let mut scope_params = vec![];
        if ns {
            scope_params.push(ns_param);
        }
        let produces_list: Vec<&str> = if d.verbs.watch { vec![JSON, YAML, WATCH_STREAM] } else { vec![JSON, YAML] };
        let object_types = [JSON, YAML];
        let kind = self.names.kind;
        let list = self.names.list;
        let mut out = vec![];

        // The collection.
        let mut coll = Map::new();
        coll.insert(
            "get".into(),
            self.operation(
                self.id("list", ns, ""),
                format!("list or watch objects of kind {}", d.kind),
                "list",
                self.list_params(d.verbs.watch),
                None,
                self.responses(&[("200", "OK")], list, &produces_list),
                &produces_list,
            ),
        );
        if d.verbs.create {
            let mut params = vec![];
            params.extend(self.write_params());
            coll.insert(
                "post".into(),
                self.operation(
                    self.id("create", ns, ""),
                    format!("create a {}", d.kind),
                    "post",
                    params,
                    Some((kind, &["*/*"], true)),
                    self.responses(&[("200", "OK"), ("201", "Created"), ("202", "Accepted")], kind, &object_types),
                    &object_types,
                ),
            );
        }
        if d.verbs.delete_collection {
            let mut params = self.delete_params();
            params.extend(self.list_params(false));
            coll.insert(
                "delete".into(),
                self.operation(
                    self.id("deleteCollection", ns, ""),
                    format!("delete collection of {}", d.kind),
                    "deletecollection",
                    params,
                    Some((meta::DELETE_OPTIONS, &["*/*"], false)),
                    self.responses(&[("200", "OK")], meta::STATUS, &object_types),
                    &object_types,
                ),
            );
        }
        let mut coll_params = scope_params.clone();
        coll_params.push(self.pretty());
        coll.insert("parameters".into(), Value::Array(coll_params));
        out.push((collection.clone(), Value::Object(coll)));

        // The object.
        let mut obj = Map::new();
        let mut item_params = vec![name_param.clone()];
        item_params.extend(scope_params.iter().cloned());
        item_params.push(self.pretty());
        obj.insert(
            "get".into(),
            self.operation(
                self.id("read", ns, ""),
                format!("read the specified {}", d.kind),
                "get",
                vec![],
                None,
                self.responses(&[("200", "OK")], kind, &object_types),
                &object_types,
            ),
        );
        if d.verbs.update {
            obj.insert(
                "put".into(),
                self.operation(
                    self.id("replace", ns, ""),
                    format!("replace the specified {}", d.kind),
                    "put",
                    self.write_params(),
                    Some((kind, &["*/*"], true)),
                    self.responses(&[("200", "OK"), ("201", "Created")], kind, &object_types),
                    &object_types,
                ),
            );
            let mut params = self.write_params();
            params.push(self.query(
                "force",
                ParamType::Boolean,
                "Apply only: take ownership of fields other managers own instead of failing with a conflict.",
            ));
            obj.insert(
                "patch".into(),
                self.operation(
                    self.id("patch", ns, ""),
                    format!("partially update the specified {}", d.kind),
                    "patch",
                    params,
                    Some((meta::PATCH, PATCH_TYPES, true)),
                    self.responses(&[("200", "OK"), ("201", "Created")], kind, &object_types),
                    &object_types,
                ),
            );
        }
        if d.verbs.delete {
            obj.insert(
                "delete".into(),
                self.operation(
                    self.id("delete", ns, ""),
                    format!("delete a {}", d.kind),
                    "delete",
                    self.delete_params(),
                    Some((meta::DELETE_OPTIONS, &["*/*"], false)),
                    self.responses(&[("200", "OK"), ("202", "Accepted")], kind, &object_types),
                    &object_types,
                ),
            );
        }
        obj.insert("parameters".into(), Value::Array(item_params.clone()));
        out.push((item.clone(), Value::Object(obj)));

        // Subresources.
        if d.subresources.status {
            let mut st = Map::new();
            st.insert(
                "get".into(),
                self.operation(
                    self.id("read", ns, "Status"),
                    format!("read status of the specified {}", d.kind),
                    "get",
                    vec![],
                    None,
                    self.responses(&[("200", "OK")], kind, &object_types),
                    &object_types,
                ),
            );
            if d.verbs.update {
                st.insert(
                    "put".into(),
                    self.operation(
                        self.id("replace", ns, "Status"),
                        format!("replace status of the specified {}", d.kind),
                        "put",
                        self.write_params(),
                        Some((kind, &["*/*"], true)),
                        self.responses(&[("200", "OK"), ("201", "Created")], kind, &object_types),
                        &object_types,
                    ),
                );
                let mut params = self.write_params();
                params.push(self.query(
                    "force",
                    ParamType::Boolean,
                    "Apply only: take ownership of fields other managers own.",
                ));
                st.insert(
                    "patch".into(),
                    self.operation(
                        self.id("patch", ns, "Status"),
                        format!("partially update status of the specified {}", d.kind),
                        "patch",
                        params,
                        Some((meta::PATCH, PATCH_TYPES, true)),
                        self.responses(&[("200", "OK"), ("201", "Created")], kind, &object_types),
                        &object_types,
                    ),
                );
            }
            st.insert("parameters".into(), Value::Array(item_params.clone()));
            out.push((format!("{item}/status"), Value::Object(st)));
        }
        if d.subresources.finalize && d.verbs.update {
            let mut fin = Map::new();
            fin.insert(
                "put".into(),
                self.operation(
                    self.id("replace", ns, "Finalize"),
                    format!("replace finalize of the specified {} (its spec.finalizers)", d.kind),
                    "put",
                    self.write_params(),
                    Some((kind, &["*/*"], true)),
                    self.responses(&[("200", "OK"), ("201", "Created")], kind, &object_types),
                    &object_types,
                ),
            );
            fin.insert("parameters".into(), Value::Array(item_params.clone()));
            out.push((format!("{item}/finalize"), Value::Object(fin)));
        }

        // Every namespace at once.
        if ns {
            let mut all = Map::new();
            all.insert(
                "get".into(),
                self.operation(
                    self.id("list", false, "ForAllNamespaces"),
                    format!("list or watch objects of kind {} in every namespace", d.kind),
                    "list",
                    self.list_params(d.verbs.watch),
                    None,
                    self.responses(&[("200", "OK")], list, &produces_list),
                    &produces_list,
                ),
            );
            all.insert("parameters".into(), json!([self.pretty()]));
            out.push((format!("{base}/{}", d.plural), Value::Object(all)));
        }
        out
    }
}

/// The path items of `def` for `dialect`, operations referring to the published `names`.
pub fn resource_paths(def: &ResourceDef, names: Names<'_>, dialect: Dialect) -> Vec<(String, Value)> {
    Builder { dialect, def, names }.paths()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(group_camel("platform.tkestack.io"), "PlatformTkestackIo");
        assert_eq!(group_camel(""), "Core");
        assert_eq!(tag("platform.tkestack.io", "v1"), "platformTkestackIo_v1");
        assert_eq!(tag("", "v1"), "core_v1");
        assert_eq!(prefix("", "v1"), "/api/v1");
        assert_eq!(prefix("a.io", "v2"), "/apis/a.io/v2");
    }
}
