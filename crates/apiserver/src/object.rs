//! How objects are encoded in storage and on the wire.
//!
//! An object is stored as compact JSON with `metadata` first and without
//! `metadata.resourceVersion`: the resourceVersion of a stored object *is* its key's
//! `mod_revision`, so writing it into the value would be redundant and wrong after a restore.
//! Because `metadata` always comes first, the resourceVersion can be spliced into the stored
//! bytes on the way out without parsing the object ([`with_resource_version`]), which keeps list
//! and watch fan-out cheap.

use apimachinery::ApiError;
use bytes::Bytes;
use serde_json::{Map, Value};
use storage::{KeyValue, Revision};

const PREFIX: &[u8] = b"{\"metadata\":{";

/// Encodes an object for storage: `metadata` first, no `resourceVersion`.
pub fn encode_for_storage(obj: &Value) -> Result<Bytes, ApiError> {
    let map = obj.as_object().ok_or_else(|| ApiError::bad_request("the object must be a JSON object"))?;
    let mut meta = map.get("metadata").and_then(Value::as_object).cloned().unwrap_or_default();
    meta.remove("resourceVersion");
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"{\"metadata\":");
    serde_json::to_writer(&mut out, &meta).map_err(|e| ApiError::internal(e.to_string()))?;
    for (k, v) in map {
        if k == "metadata" {
            continue;
        }
        out.push(b',');
        serde_json::to_writer(&mut out, k).map_err(|e| ApiError::internal(e.to_string()))?;
        out.push(b':');
        serde_json::to_writer(&mut out, v).map_err(|e| ApiError::internal(e.to_string()))?;
    }
    out.push(b'}');
    // The bytes live on in the watch cache for as long as the object exists: give back the
    // growth slack (up to half the buffer) instead of keeping it per object.
    out.shrink_to_fit();
    Ok(Bytes::from(out))
}

/// Writes the stored bytes with `metadata.resourceVersion` set to `rv` into `out`.
pub fn write_with_resource_version(out: &mut Vec<u8>, stored: &[u8], rv: Revision) {
    if let Some(rest) = stored.strip_prefix(PREFIX) {
        out.extend_from_slice(PREFIX);
        out.extend_from_slice(b"\"resourceVersion\":\"");
        out.extend_from_slice(rv.to_string().as_bytes());
        out.push(b'"');
        if rest.first() != Some(&b'}') {
            out.push(b',');
        }
        out.extend_from_slice(rest);
    } else {
        // Not written by encode_for_storage (should not happen): take the slow, correct path.
        match serde_json::from_slice::<Value>(stored) {
            Ok(mut v) => {
                set_resource_version(&mut v, rv);
                let _ = serde_json::to_writer(&mut *out, &v);
            }
            Err(_) => out.extend_from_slice(stored),
        }
    }
}

/// The stored bytes with `metadata.resourceVersion` set.
pub fn with_resource_version(stored: &[u8], rv: Revision) -> Vec<u8> {
    let mut out = Vec::with_capacity(stored.len() + 32);
    write_with_resource_version(&mut out, stored, rv);
    out
}

/// Decodes a stored key-value into the object, with its resourceVersion.
pub fn decode(kv: &KeyValue) -> Result<Value, ApiError> {
    let mut v: Value = serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::internal(format!("stored object {} is not valid JSON: {e}", kv.key)))?;
    set_resource_version(&mut v, kv.mod_revision);
    Ok(v)
}

pub fn set_resource_version(obj: &mut Value, rv: Revision) {
    if let Some(meta) = metadata_mut(obj) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

/// `metadata` as a mutable map, created if missing. None only if `obj` is not an object.
pub fn metadata_mut(obj: &mut Value) -> Option<&mut Map<String, Value>> {
    let map = obj.as_object_mut()?;
    let meta = map.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    meta.as_object_mut()
}

pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

pub fn name(obj: &Value) -> &str {
    meta_str(obj, "name").unwrap_or("")
}

/// `metadata.labels` as a map (non-string values ignored).
pub fn labels(obj: &Value) -> std::collections::BTreeMap<String, String> {
    obj.get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default()
}

/// Non-empty finalizer lists that hold an object being deleted: `metadata.finalizers`
/// (Kubernetes) and `spec.finalizers` (TKEStack).
pub fn has_finalizers(obj: &Value) -> bool {
    let non_empty = |v: Option<&Value>| v.and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    non_empty(obj.get("metadata").and_then(|m| m.get("finalizers")))
        || non_empty(obj.get("spec").and_then(|s| s.get("finalizers")))
}

/// Parses a resourceVersion given by a client.
pub fn parse_resource_version(rv: &str) -> Result<Revision, ApiError> {
    rv.parse::<Revision>()
        .ok()
        .filter(|r| *r >= 0)
        .ok_or_else(|| ApiError::bad_request(format!("invalid resource version: {rv:?}: must be a decimal number")))
}

/// Now, as Kubernetes timestamps are written (RFC 3339, seconds, UTC).
pub fn now() -> String {
    apimachinery::time::now_rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn splices_resource_version() {
        let obj = json!({"kind": "Cluster", "apiVersion": "platform.tkestack.io/v1", "metadata": {"name": "cls-a", "resourceVersion": "9"}, "spec": {"metadata": {"x": 1}}});
        let stored = encode_for_storage(&obj).unwrap();
        assert!(!String::from_utf8_lossy(&stored).contains("resourceVersion"));
        let out: Value = serde_json::from_slice(&with_resource_version(&stored, 42)).unwrap();
        assert_eq!(out["metadata"]["resourceVersion"], "42");
        assert_eq!(out["metadata"]["name"], "cls-a");
        assert_eq!(out["spec"]["metadata"]["x"], 1);
        let empty = encode_for_storage(&json!({"kind": "X"})).unwrap();
        let out: Value = serde_json::from_slice(&with_resource_version(&empty, 3)).unwrap();
        assert_eq!(out, json!({"kind": "X", "metadata": {"resourceVersion": "3"}}));
    }
}
