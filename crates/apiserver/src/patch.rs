//! PATCH bodies applied to a stored object: RFC 6902 JSON patch, RFC 7386 JSON merge patch, and
//! Kubernetes' strategic merge patch as it behaves for types without patch merge keys (maps merge,
//! lists are replaced) with kubectl's `$`-directives honoured and never stored. Server-side apply
//! (`application/apply-patch+yaml`) has ownership semantics and lives in `apply`.

use apimachinery::ApiError;
use apimachinery::error::Reason;
use serde_json::{Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    StrategicMerge,
    Apply,
}

/// Kubernetes refuses JSON patches with more operations than this, so one request cannot burn
/// unbounded CPU.
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;

impl PatchType {
    /// The patch type a `Content-Type` header names; parameters such as `; charset=utf-8` and
    /// letter case are ignored.
    pub fn from_content_type(s: &str) -> Option<Self> {
        let media = s.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match media.as_str() {
            "application/json-patch+json" => Some(Self::Json),
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::StrategicMerge),
            "application/apply-patch+yaml" => Some(Self::Apply),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json-patch+json",
            Self::Merge => "application/merge-patch+json",
            Self::StrategicMerge => "application/strategic-merge-patch+json",
            Self::Apply => "application/apply-patch+yaml",
        }
    }
}

/// Applies a patch body to `original` and returns the patched object. Malformed bodies are 400
/// BadRequest; a well-formed JSON patch that cannot be applied (failed `test`, missing path) is
/// 422 Invalid, as kube-apiserver answers.
pub fn apply_patch(original: &Value, t: PatchType, body: &[u8]) -> Result<Value, ApiError> {
    let patched = match t {
        PatchType::Apply => {
            return Err(ApiError::unsupported_media_type(
                "apply patches (application/apply-patch+yaml) are handled by server-side apply, not by apply_patch",
            ));
        }
        PatchType::Json => json_patch(original, &decode(body)?)?,
        PatchType::Merge => {
            let patch = decode(body)?;
            if !patch.is_object() {
                return Err(ApiError::bad_request(format!(
                    "a JSON merge patch must be a JSON object, got {}",
                    kind_of(&patch)
                )));
            }
            let mut doc = original.clone();
            json_patch::merge(&mut doc, &patch);
            doc
        }
        PatchType::StrategicMerge => {
            let patch = decode(body)?;
            let Value::Object(p) = &patch else {
                return Err(ApiError::bad_request(format!(
                    "a strategic merge patch must be a JSON object, got {}",
                    kind_of(&patch)
                )));
            };
            match merge_map(original.as_object(), p, "")? {
                Merged::Map(m) => Value::Object(m),
                Merged::Delete => {
                    return Err(ApiError::bad_request(
                        "a strategic merge patch cannot delete the whole object ($patch: delete at the top level)",
                    ));
                }
            }
        }
    };
    if !patched.is_object() {
        return Err(ApiError::new(
            Reason::Invalid,
            format!("the patched object must be a JSON object, got {}", kind_of(&patched)),
        ));
    }
    Ok(patched)
}

fn decode(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the patch body is empty"));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: the body is not valid JSON: {e}")))
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn json_patch(original: &Value, patch: &Value) -> Result<Value, ApiError> {
    let Value::Array(ops) = patch else {
        return Err(ApiError::bad_request(format!(
            "a JSON patch must be a JSON array of operations, got {}",
            kind_of(patch)
        )));
    };
    if ops.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(ApiError::too_large(format!(
            "The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {}",
            ops.len()
        )));
    }
    // Decode each operation on its own so the error names the one that is wrong.
    let mut parsed = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let op: json_patch::PatchOperation = serde_json::from_value(op.clone())
            .map_err(|e| ApiError::bad_request(format!("invalid JSON patch operation {i}: {e}")))?;
        parsed.push(op);
    }
    let mut doc = original.clone();
    // Applied one at a time because Kubernetes' JSON patch lets `test` of `null` pass on a path
    // that does not exist (kube-rs' finalizer helper relies on it), unlike RFC 6902's letter.
    for (i, op) in parsed.iter().enumerate() {
        if let json_patch::PatchOperation::Test(t) = op
            && t.value.is_null()
            && doc.pointer(t.path.as_str()).is_none()
        {
            continue;
        }
        json_patch::patch(&mut doc, std::slice::from_ref(op)).map_err(|e| json_patch_error(&parsed, i, e))?;
    }
    Ok(doc)
}

/// A failed JSON patch operation as a Status naming the operation, its path and why.
fn json_patch_error(parsed: &[json_patch::PatchOperation], index: usize, e: json_patch::PatchError) -> ApiError {
    {
        let (name, from) = match parsed.get(index) {
            Some(json_patch::PatchOperation::Add(_)) => ("add", None),
            Some(json_patch::PatchOperation::Remove(_)) => ("remove", None),
            Some(json_patch::PatchOperation::Replace(_)) => ("replace", None),
            Some(json_patch::PatchOperation::Move(o)) => ("move", Some(o.from.to_string())),
            Some(json_patch::PatchOperation::Copy(o)) => ("copy", Some(o.from.to_string())),
            Some(json_patch::PatchOperation::Test(_)) => ("test", None),
            None => ("unknown", None),
        };
        let why = match e.kind {
            json_patch::PatchErrorKind::TestFailed => {
                "the value at the path does not match the tested value".to_string()
            }
            json_patch::PatchErrorKind::InvalidFromPointer => {
                format!("the \"from\" path {:?} does not exist in the object", from.unwrap_or_default())
            }
            json_patch::PatchErrorKind::CannotMoveInsideItself => "a value cannot be moved inside itself".to_string(),
            json_patch::PatchErrorKind::InvalidPointer if name == "add" => {
                "the parent of the path does not exist in the object (or the array index is out of range)".to_string()
            }
            json_patch::PatchErrorKind::InvalidPointer => "the path does not exist in the object".to_string(),
            _ => e.kind.to_string(),
        };
        ApiError::new(
            Reason::Invalid,
            format!(
                "the server rejected our request due to an error in our request: JSON patch operation {index} ({name} {:?}) failed: {why}",
                e.path.to_string()
            ),
        )
    }
}

/// What merging a patch map into an original map produced.
enum Merged {
    Map(Map<String, Value>),
    /// `$patch: delete`: the map is to be removed from its parent.
    Delete,
}

const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

fn field(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

fn directive_error(path: &str, what: impl std::fmt::Display) -> ApiError {
    let at = if path.is_empty() { "the top level".to_string() } else { format!("{path:?}") };
    ApiError::bad_request(format!("invalid strategic merge patch at {at}: {what}"))
}

/// Strategic merge of one map. `original` is `None` when the patch creates the map; the patch is
/// then still walked so that its directives and nulls are consumed rather than stored.
fn merge_map(
    original: Option<&Map<String, Value>>,
    patch: &Map<String, Value>,
    path: &str,
) -> Result<Merged, ApiError> {
    match patch.get("$patch") {
        None => {}
        Some(Value::String(d)) if d == "merge" => {}
        Some(Value::String(d)) if d == "delete" => return Ok(Merged::Delete),
        Some(Value::String(d)) if d == "replace" => {
            // Replace: the patch (minus the directive) is the new map, as if there were no original.
            let rest: Map<String, Value> =
                patch.iter().filter(|(k, _)| *k != "$patch").map(|(k, v)| (k.clone(), v.clone())).collect();
            return merge_map(None, &rest, path);
        }
        Some(other) => {
            return Err(directive_error(
                path,
                format_args!("unknown $patch directive {other}; expected merge, replace or delete"),
            ));
        }
    }
    let retain_keys = match patch.get("$retainKeys") {
        None => None,
        Some(Value::Array(keys)) => {
            let keys: Option<Vec<&str>> = keys.iter().map(Value::as_str).collect();
            Some(keys.ok_or_else(|| directive_error(path, "$retainKeys must be a list of strings"))?)
        }
        Some(_) => return Err(directive_error(path, "$retainKeys must be a list of strings")),
    };
    let mut result = original.cloned().unwrap_or_default();
    for (key, value) in patch {
        if key == "$patch"
            || key == "$retainKeys"
            || key.starts_with(SET_ELEMENT_ORDER)
            || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
        {
            continue;
        }
        let at = field(path, key);
        match value {
            Value::Null => {
                result.remove(key);
            }
            Value::Object(p) => {
                let current = result.get(key).and_then(Value::as_object);
                match merge_map(current, p, &at)? {
                    Merged::Map(m) => {
                        result.insert(key.clone(), Value::Object(m));
                    }
                    Merged::Delete => {
                        result.remove(key);
                    }
                }
            }
            Value::Array(items) => {
                let merged = merge_list(result.get(key).and_then(Value::as_array), items, &at)?;
                result.insert(key.clone(), Value::Array(merged));
            }
            scalar => {
                result.insert(key.clone(), scalar.clone());
            }
        }
    }
    for (key, value) in patch {
        if let Some(list) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            let Value::Array(doomed) = value else {
                return Err(directive_error(path, format_args!("{key} must be a list")));
            };
            if let Some(Value::Array(items)) = result.get_mut(list) {
                items.retain(|v| !doomed.contains(v));
            }
        }
    }
    for (key, value) in patch {
        if let Some(list) = key.strip_prefix(SET_ELEMENT_ORDER) {
            let Value::Array(order) = value else {
                return Err(directive_error(path, format_args!("{key} must be a list")));
            };
            if let Some(Value::Array(items)) = result.get_mut(list) {
                reorder(items, order);
            }
        }
    }
    if let Some(keep) = retain_keys {
        result.retain(|k, _| keep.contains(&k.as_str()));
    }
    Ok(Merged::Map(result))
}

/// Puts the elements named in `order` first, in that order; the others keep their relative order
/// after them.
fn reorder(items: &mut Vec<Value>, order: &[Value]) {
    let mut rest = std::mem::take(items);
    for wanted in order {
        if let Some(i) = rest.iter().position(|v| v == wanted) {
            items.push(rest.remove(i));
        }
    }
    items.append(&mut rest);
}

/// Our types declare no patch merge keys, so a patch list replaces the original list, as
/// Kubernetes does for custom resources. List directives are still honoured: a list made only of
/// `{$patch: delete, ...}` elements removes the matching elements from the original list, and
/// `{$patch: replace}` / `{$patch: merge}` markers are dropped.
fn merge_list(original: Option<&Vec<Value>>, patch: &[Value], path: &str) -> Result<Vec<Value>, ApiError> {
    let mut plain = Vec::new();
    let mut deletions = Vec::new();
    let mut replace = false;
    for (i, item) in patch.iter().enumerate() {
        let at = format!("{path}[{i}]");
        match item {
            Value::Object(m) if m.contains_key("$patch") => match m.get("$patch") {
                Some(Value::String(d)) if d == "delete" => {
                    deletions.push(
                        m.iter()
                            .filter(|(k, _)| *k != "$patch")
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect::<Map<_, _>>(),
                    );
                }
                Some(Value::String(d)) if d == "replace" && m.len() == 1 => replace = true,
                Some(Value::String(d)) if d == "merge" && m.len() == 1 => {}
                Some(Value::String(d)) if d == "replace" || d == "merge" => match merge_map(None, m, &at)? {
                    Merged::Map(m) => plain.push(Value::Object(m)),
                    Merged::Delete => {}
                },
                Some(other) => {
                    return Err(directive_error(
                        &at,
                        format_args!("unknown $patch directive {other}; expected merge, replace or delete"),
                    ));
                }
                None => {}
            },
            Value::Object(m) => match merge_map(None, m, &at)? {
                Merged::Map(m) => plain.push(Value::Object(m)),
                Merged::Delete => {}
            },
            Value::Array(inner) => plain.push(Value::Array(merge_list(None, inner, &at)?)),
            other => plain.push(other.clone()),
        }
    }
    if plain.is_empty() && !replace && !deletions.is_empty() {
        let mut kept = original.cloned().unwrap_or_default();
        kept.retain(|item| !deletions.iter().any(|d| matches_all(item, d)));
        return Ok(kept);
    }
    Ok(plain)
}

/// An element matches a deletion when it has every field the deletion names, with equal values.
/// A deletion naming no field matches nothing.
fn matches_all(item: &Value, deletion: &Map<String, Value>) -> bool {
    let Value::Object(item) = item else { return false };
    !deletion.is_empty() && deletion.iter().all(|(k, v)| item.get(k) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cluster() -> Value {
        json!({
            "apiVersion": "platform.tkestack.io/v1",
            "kind": "Cluster",
            "metadata": {"name": "cls-a", "labels": {"env": "dev", "team": "a"}, "resourceVersion": "5"},
            "spec": {"type": "Baremetal", "version": "1.30.0", "features": {"ipvs": true, "gpu": false}, "machines": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "tags": ["a", "b", "c"]}
        })
    }

    fn patch(t: PatchType, body: Value) -> Result<Value, ApiError> {
        apply_patch(&cluster(), t, body.to_string().as_bytes())
    }

    #[test]
    fn content_types_are_recognised_with_parameters_and_case() {
        assert_eq!(PatchType::from_content_type("application/json-patch+json"), Some(PatchType::Json));
        assert_eq!(PatchType::from_content_type("application/merge-patch+json; charset=utf-8"), Some(PatchType::Merge));
        assert_eq!(
            PatchType::from_content_type("Application/Strategic-Merge-Patch+JSON"),
            Some(PatchType::StrategicMerge)
        );
        assert_eq!(
            PatchType::from_content_type(" application/apply-patch+yaml ;charset=utf-8"),
            Some(PatchType::Apply)
        );
        assert_eq!(PatchType::from_content_type("application/json"), None);
        assert_eq!(PatchType::from_content_type(""), None);
        for t in [PatchType::Json, PatchType::Merge, PatchType::StrategicMerge, PatchType::Apply] {
            assert_eq!(PatchType::from_content_type(t.content_type()), Some(t));
        }
    }

    #[test]
    fn json_patch_applies_all_operations() {
        let out = patch(
            PatchType::Json,
            json!([
                {"op": "test", "path": "/spec/type", "value": "Baremetal"},
                {"op": "replace", "path": "/spec/version", "value": "1.31.0"},
                {"op": "add", "path": "/metadata/labels/tier", "value": "gold"},
                {"op": "remove", "path": "/metadata/labels/team"},
                {"op": "add", "path": "/spec/machines/-", "value": {"ip": "10.0.0.3"}},
                {"op": "copy", "from": "/spec/type", "path": "/spec/kindCopy"},
                {"op": "move", "from": "/spec/kindCopy", "path": "/spec/moved"},
                {"op": "add", "path": "/metadata/annotations", "value": {"a/b": "c"}},
                {"op": "replace", "path": "/metadata/annotations/a~1b", "value": "d"}
            ]),
        )
        .unwrap();
        assert_eq!(out["spec"]["version"], "1.31.0");
        assert_eq!(out["metadata"]["labels"], json!({"env": "dev", "tier": "gold"}));
        assert_eq!(out["spec"]["machines"][2]["ip"], "10.0.0.3");
        assert_eq!(out["spec"]["moved"], "Baremetal");
        assert!(out["spec"].get("kindCopy").is_none());
        assert_eq!(out["metadata"]["annotations"]["a/b"], "d");
    }

    #[test]
    fn json_patch_test_of_null_passes_on_a_missing_path_as_in_kubernetes() {
        let original = json!({"metadata": {"name": "a"}});
        let patch = json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": ["x"]},
        ]);
        let out = json_patch(&original, &patch).expect("applies");
        assert_eq!(out["metadata"]["finalizers"], json!(["x"]));
        // A present value is still compared: null does not match it.
        let e = json_patch(&out, &json!([{"op": "test", "path": "/metadata/finalizers", "value": null}]))
            .expect_err("present");
        assert!(e.message.contains("operation 0 (test"), "{}", e.message);
    }

    #[test]
    fn json_patch_failed_test_is_422_and_changes_nothing() {
        let e = patch(PatchType::Json, json!([{"op": "replace", "path": "/spec/version", "value": "x"}, {"op": "test", "path": "/spec/type", "value": "Imported"}])).unwrap_err();
        assert_eq!(e.code(), 422);
        assert_eq!(e.reason, Reason::Invalid);
        assert!(e.message.contains("operation 1 (test \"/spec/type\")"), "{}", e.message);
        assert!(e.message.contains("does not match"), "{}", e.message);
    }

    #[test]
    fn json_patch_missing_paths_are_422_with_the_path() {
        let e = patch(PatchType::Json, json!([{"op": "remove", "path": "/spec/nothing"}])).unwrap_err();
        assert_eq!(e.code(), 422);
        assert!(
            e.message.contains("remove \"/spec/nothing\"") && e.message.contains("does not exist"),
            "{}",
            e.message
        );
        let e = patch(PatchType::Json, json!([{"op": "add", "path": "/spec/a/b", "value": 1}])).unwrap_err();
        assert_eq!(e.code(), 422);
        assert!(e.message.contains("parent of the path"), "{}", e.message);
        let e = patch(PatchType::Json, json!([{"op": "move", "from": "/spec/none", "path": "/spec/x"}])).unwrap_err();
        assert!(e.message.contains("\"from\" path \"/spec/none\""), "{}", e.message);
    }

    #[test]
    fn json_patch_malformed_bodies_are_400() {
        for body in
            [json!({"op": "add"}), json!([{"op": "frobnicate", "path": "/a"}]), json!([{"op": "add", "value": 1}])]
        {
            let e = patch(PatchType::Json, body.clone()).unwrap_err();
            assert_eq!(e.code(), 400, "{body}: {}", e.message);
        }
        let e = apply_patch(&cluster(), PatchType::Json, b"[{not json").unwrap_err();
        assert_eq!(e.code(), 400);
        assert!(e.message.contains("not valid JSON"), "{}", e.message);
        let e = apply_patch(&cluster(), PatchType::Merge, b"  ").unwrap_err();
        assert_eq!(e.code(), 400);
    }

    #[test]
    fn json_patch_replacing_the_root_with_a_non_object_is_rejected() {
        let e = patch(PatchType::Json, json!([{"op": "replace", "path": "", "value": [1]}])).unwrap_err();
        assert_eq!(e.code(), 422);
    }

    #[test]
    fn json_patch_operation_count_is_capped() {
        let ops: Vec<Value> = (0..=MAX_JSON_PATCH_OPERATIONS)
            .map(|_| json!({"op": "test", "path": "/kind", "value": "Cluster"}))
            .collect();
        let e = patch(PatchType::Json, Value::Array(ops)).unwrap_err();
        assert_eq!(e.code(), 413);
    }

    #[test]
    fn merge_patch_follows_rfc7386() {
        let out = patch(PatchType::Merge, json!({"metadata": {"labels": {"team": null, "tier": "gold"}}, "spec": {"tags": ["z"], "features": {"gpu": null}, "new": {"a": null, "b": 1}}})).unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"env": "dev", "tier": "gold"}));
        assert_eq!(out["spec"]["tags"], json!(["z"]));
        assert_eq!(out["spec"]["features"], json!({"ipvs": true}));
        assert_eq!(out["spec"]["new"], json!({"b": 1}));
        assert_eq!(out["spec"]["type"], "Baremetal");
    }

    #[test]
    fn merge_patch_must_be_an_object() {
        let e = patch(PatchType::Merge, json!(["a"])).unwrap_err();
        assert_eq!(e.code(), 400);
        assert!(e.message.contains("must be a JSON object"));
    }

    #[test]
    fn strategic_merge_merges_maps_and_replaces_lists() {
        let out = patch(PatchType::StrategicMerge, json!({"metadata": {"labels": {"team": null}}, "spec": {"machines": [{"ip": "10.0.0.9"}], "features": {"gpu": true}}})).unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"env": "dev"}));
        assert_eq!(out["spec"]["machines"], json!([{"ip": "10.0.0.9"}]));
        assert_eq!(out["spec"]["features"], json!({"ipvs": true, "gpu": true}));
        assert_eq!(out["spec"]["version"], "1.30.0");
    }

    #[test]
    fn strategic_merge_patch_replace_and_delete_on_maps() {
        let out = patch(PatchType::StrategicMerge, json!({"spec": {"features": {"$patch": "replace", "hugepages": true}}, "metadata": {"labels": {"$patch": "delete"}}})).unwrap();
        assert_eq!(out["spec"]["features"], json!({"hugepages": true}));
        assert!(out["metadata"].get("labels").is_none());
        assert_eq!(out["metadata"]["name"], "cls-a");
    }

    #[test]
    fn strategic_merge_retain_keys_clears_the_others() {
        let out = patch(
            PatchType::StrategicMerge,
            json!({"spec": {"features": {"$retainKeys": ["ipvs", "hugepages"], "hugepages": true}}}),
        )
        .unwrap();
        assert_eq!(out["spec"]["features"], json!({"ipvs": true, "hugepages": true}));
        let e = patch(PatchType::StrategicMerge, json!({"spec": {"$retainKeys": "type"}})).unwrap_err();
        assert_eq!(e.code(), 400);
    }

    #[test]
    fn strategic_merge_primitive_list_directives() {
        let out = patch(
            PatchType::StrategicMerge,
            json!({"spec": {"$deleteFromPrimitiveList/tags": ["b"], "$setElementOrder/tags": ["c", "a"]}}),
        )
        .unwrap();
        assert_eq!(out["spec"]["tags"], json!(["c", "a"]));
        let out =
            patch(PatchType::StrategicMerge, json!({"spec": {"$setElementOrder/tags": ["c", "b", "a"]}})).unwrap();
        assert_eq!(out["spec"]["tags"], json!(["c", "b", "a"]));
    }

    #[test]
    fn strategic_merge_list_element_directives() {
        let out =
            patch(PatchType::StrategicMerge, json!({"spec": {"machines": [{"$patch": "delete", "ip": "10.0.0.1"}]}}))
                .unwrap();
        assert_eq!(out["spec"]["machines"], json!([{"ip": "10.0.0.2"}]));
        let out = patch(
            PatchType::StrategicMerge,
            json!({"spec": {"machines": [{"$patch": "replace"}, {"ip": "10.0.0.7"}]}}),
        )
        .unwrap();
        assert_eq!(out["spec"]["machines"], json!([{"ip": "10.0.0.7"}]));
    }

    #[test]
    fn strategic_merge_never_stores_directives_in_new_fields() {
        let out = patch(
            PatchType::StrategicMerge,
            json!({"spec": {"newMap": {"$patch": "replace", "a": {"$retainKeys": ["b"], "b": 1, "c": null}, "list": [{"x": 1, "$setElementOrder/y": [1]}]}}}),
        )
        .unwrap();
        assert_eq!(out["spec"]["newMap"], json!({"a": {"b": 1}, "list": [{"x": 1}]}));
        assert!(!out.to_string().contains('$'));
    }

    #[test]
    fn strategic_merge_rejects_unknown_directives_and_deleting_the_object() {
        let e = patch(PatchType::StrategicMerge, json!({"spec": {"$patch": "explode"}})).unwrap_err();
        assert_eq!(e.code(), 400);
        assert!(e.message.contains("\"spec\"") && e.message.contains("explode"), "{}", e.message);
        let e = patch(PatchType::StrategicMerge, json!({"$patch": "delete"})).unwrap_err();
        assert_eq!(e.code(), 400);
        let e = patch(PatchType::StrategicMerge, json!("x")).unwrap_err();
        assert_eq!(e.code(), 400);
    }

    #[test]
    fn apply_type_is_not_handled_here() {
        let e = apply_patch(&cluster(), PatchType::Apply, b"kind: Cluster").unwrap_err();
        assert_eq!(e.code(), 415);
    }
}
