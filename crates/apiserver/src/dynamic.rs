//! Resources defined at run time (the custom resources of CustomResourceDefinitions): an untyped
//! [`Strategy`] that keeps any JSON object as sent (`x-kubernetes-preserve-unknown-fields`
//! semantics) and validates only its metadata, and [`CustomResource`], the owned description of
//! such a resource turned into a [`ResourceDef`] for [`crate::ApiServer::add_resource`].

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, OnceLock},
};

use apimachinery::{ApiError, FieldError};
use serde_json::{Value, json};

use crate::resource::{Column, Context, DeleteDecision, ResourceDef, Strategy, Subresources, Verbs};

/// The strategy of custom resources: objects are stored as sent. Only the metadata is checked
/// (the generic store checks names); with a status subresource, a create starts without status
/// and updates of the object keep it (the store does the latter for every resource).
pub struct UntypedStrategy {
    pub status: bool,
}

fn validate_string_map(meta: &serde_json::Map<String, Value>, field: &str, out: &mut Vec<FieldError>) {
    match meta.get(field) {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                if !v.is_string() {
                    out.push(FieldError::invalid(format!("metadata.{field}.{k}"), v, "must be a string"));
                }
            }
        }
        Some(other) => out.push(FieldError::invalid(format!("metadata.{field}"), other, "must be a map of strings")),
    }
}

/// Checks the shape of `metadata` (labels and annotations are maps of strings, finalizers a
/// list of strings): the one part of a custom object the server understands.
pub fn validate_metadata(obj: &Value) -> Vec<FieldError> {
    let mut out = vec![];
    let Some(meta) = obj.get("metadata").and_then(Value::as_object) else {
        return vec![FieldError::required("metadata", "metadata must be an object")];
    };
    validate_string_map(meta, "labels", &mut out);
    validate_string_map(meta, "annotations", &mut out);
    match meta.get("finalizers") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {}
        Some(other) => out.push(FieldError::invalid("metadata.finalizers", other, "must be a list of strings")),
    }
    out
}

impl Strategy for UntypedStrategy {
    fn canonicalize(&self, obj: Value) -> Result<(Value, Vec<String>), ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request("a custom object must be a JSON object"));
        }
        // Every field is known: the schema preserves unknown fields.
        Ok((obj, vec![]))
    }

    fn prepare_for_create(&self, _ctx: &Context, obj: &mut Value) -> Result<(), ApiError> {
        if self.status
            && let Some(m) = obj.as_object_mut()
        {
            m.remove("status");
        }
        Ok(())
    }

    fn validate(&self, _ctx: &Context, obj: &Value) -> Vec<FieldError> {
        validate_metadata(obj)
    }

    fn prepare_for_update(&self, _ctx: &Context, _new: &mut Value, _old: &Value) -> Result<(), ApiError> {
        Ok(())
    }

    fn validate_update(&self, _ctx: &Context, new: &Value, _old: &Value) -> Vec<FieldError> {
        validate_metadata(new)
    }

    fn prepare_for_delete(&self, _ctx: &Context, _obj: &Value) -> DeleteDecision {
        DeleteDecision::Delete
    }
}

/// The OpenAPI schema of every custom resource: an object that keeps unknown fields, with the
/// standard metadata. (A `fn` pointer cannot carry each CRD's own schema, so `kubectl explain`
/// shows the fields of custom kinds only as free-form.)
pub fn preserve_unknown_fields_schema(_generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let schema = json!({
        "type": "object",
        "description": "A custom resource: any fields are kept as sent.",
        "x-kubernetes-preserve-unknown-fields": true,
        "properties": {
            "apiVersion": {"type": "string", "description": "The versioned schema of this representation of the object."},
            "kind": {"type": "string", "description": "The REST resource this object represents."},
            "metadata": {"type": "object", "description": "Standard object's metadata."},
            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        },
    });
    schemars::Schema::try_from(schema).unwrap_or_else(|_| schemars::Schema::from(true))
}

/// A printer column of a custom resource (a CRD's `additionalPrinterColumns` entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomColumn {
    pub name: String,
    pub type_: String,
    pub json_path: String,
    pub description: String,
    pub priority: i32,
}

/// A custom resource described by owned strings, as read from a CRD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomResource {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub namespaced: bool,
    /// Whether `/status` is a subresource.
    pub status: bool,
    pub columns: Vec<CustomColumn>,
}

/// Returns a `'static` copy of `s`, leaking it the first time it is seen. `ResourceDef` holds
/// `&'static str` so that the built-in resources cost nothing; custom resources pay with a few
/// leaked strings per distinct name, which stays bounded because re-adding a CRD reuses them.
pub fn intern(s: &str) -> &'static str {
    static INTERNED: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut set = INTERNED.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = set.get(s) {
        return found;
    }
    let leaked: &'static str = Box::leak(s.to_string().into_boxed_str());
    set.insert(leaked);
    leaked
}

/// A `'static` slice of interned strings (leaked once per distinct list, as [`intern`]).
fn intern_list(items: &[String]) -> &'static [&'static str] {
    static LISTS: OnceLock<Mutex<HashSet<&'static [&'static str]>>> = OnceLock::new();
    let list: Vec<&'static str> = items.iter().map(|s| intern(s)).collect();
    if list.is_empty() {
        return &[];
    }
    let mut set = LISTS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = set.get(list.as_slice()) {
        return found;
    }
    let leaked: &'static [&'static str] = Box::leak(list.into_boxed_slice());
    set.insert(leaked);
    leaked
}

/// Kubernetes' column types: `integer`, `number`, `string`, `boolean`, `date`.
fn column_type(t: &str) -> &'static str {
    match t {
        "integer" => "integer",
        "number" => "number",
        "boolean" => "boolean",
        "date" => "date",
        _ => "string",
    }
}

impl CustomResource {
    /// The definition the API server serves it with: every verb, the untyped strategy, the
    /// printer columns followed by `AGE` as Kubernetes shows them for CRDs.
    pub fn to_def(&self) -> ResourceDef {
        let mut columns: Vec<Column> = self
            .columns
            .iter()
            .map(|c| {
                let mut col =
                    Column::new(intern(&c.name), column_type(&c.type_), intern(&c.json_path), intern(&c.description));
                col.priority = c.priority;
                col
            })
            .collect();
        if !columns.is_empty() {
            columns.push(Column::age());
        }
        ResourceDef {
            group: intern(&self.group),
            version: intern(&self.version),
            kind: intern(&self.kind),
            plural: intern(&self.plural),
            singular: intern(&self.singular),
            short_names: intern_list(&self.short_names),
            categories: intern_list(&self.categories),
            namespaced: self.namespaced,
            verbs: Verbs::ALL,
            subresources: Subresources { status: self.status, finalize: false },
            columns,
            field_selectors: &[],
            tenant_field: None,
            static_objects: None,
            schema: preserve_unknown_fields_schema,
            strategy: Arc::new(UntypedStrategy { status: self.status }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interned_strings_are_shared() {
        let a = intern("crontabs");
        let b = intern(&String::from("crontabs"));
        assert!(std::ptr::eq(a, b));
        let l1 = intern_list(&["ct".to_string()]);
        let l2 = intern_list(&["ct".to_string()]);
        assert!(std::ptr::eq(l1, l2));
    }

    #[test]
    fn untyped_strategy_keeps_everything_and_checks_metadata() {
        let s = UntypedStrategy { status: true };
        let obj = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a"}, "spec": {"anything": [1, {"deep": true}]}, "status": {"x": 1}});
        let (canonical, unknown) = s.canonicalize(obj.clone()).expect("canonical");
        assert_eq!(canonical, obj);
        assert!(unknown.is_empty());
        let ctx = Context { user: Default::default(), namespace: None };
        let mut created = canonical.clone();
        s.prepare_for_create(&ctx, &mut created).expect("prepared");
        assert!(created.get("status").is_none(), "a create starts without status");
        assert!(s.validate(&ctx, &created).is_empty());
        let bad = json!({"metadata": {"name": "a", "labels": {"n": 1}, "finalizers": "x"}});
        let errors = s.validate(&ctx, &bad);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(s.canonicalize(json!([1])).is_err());
    }
}
