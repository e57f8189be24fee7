//! Server-side printing: `Table` (what `kubectl get` shows) and `PartialObjectMetadata`.

use apimachinery::path;
use serde_json::{Value, json};

use crate::resource::{Column, ResourceDef};

/// What a Table row carries besides its cells (`includeObject`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IncludeObject {
    None,
    #[default]
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(s: &str) -> Result<Self, apimachinery::ApiError> {
        match s {
            "" | "Metadata" => Ok(Self::Metadata),
            "None" => Ok(Self::None),
            "Object" => Ok(Self::Object),
            o => Err(apimachinery::ApiError::bad_request(format!(
                "includeObject must be None, Metadata or Object, got {o:?}"
            ))),
        }
    }
}

/// Kubernetes' `duration.HumanDuration`: how `AGE` cells read.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 { format!("{minutes}m") } else { format!("{minutes}m{s}s") };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 { format!("{hours}h") } else { format!("{hours}h{m}m") };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 { format!("{}d", hours / 24) } else { format!("{}d{h}h", hours / 24) };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 { format!("{}y", hours / 24 / 365) } else { format!("{}y{dy}d", hours / 24 / 365) };
    }
    format!("{}y", hours / 24 / 365)
}

fn columns(def: &ResourceDef) -> Vec<Column> {
    if def.columns.is_empty() {
        vec![Column::new(
            "Created At",
            "date",
            ".metadata.creationTimestamp",
            "CreationTimestamp is a timestamp representing the server time when this object was created.",
        )]
    } else {
        def.columns.clone()
    }
}

/// The column definitions: NAME first, then the resource's.
pub fn column_definitions(def: &ResourceDef) -> Value {
    let mut cols = vec![json!({
        "name": "Name", "type": "string", "format": "name", "priority": 0,
        "description": "Name must be unique within a namespace. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
    })];
    for c in columns(def) {
        cols.push(json!({"name": c.name, "type": c.type_, "format": "", "description": c.description, "priority": c.priority}));
    }
    Value::Array(cols)
}

fn cell(obj: &Value, c: &Column, default_table: bool) -> Value {
    let computed;
    let v = match c.compute {
        Some(f) => {
            computed = f(obj);
            Some(&computed)
        }
        None => path::get(obj, c.json_path),
    };
    match (c.type_, v) {
        (_, None) | (_, Some(Value::Null)) => Value::Null,
        ("date", Some(Value::String(ts))) if !default_table => match chrono::DateTime::parse_from_rfc3339(ts) {
            Ok(t) => json!(human_duration((chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds())),
            Err(_) => json!(ts),
        },
        (_, Some(v)) => v.clone(),
    }
}

/// `PartialObjectMetadata` of an object.
pub fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
    })
}

/// One Table row.
pub fn row(def: &ResourceDef, obj: &Value, include: IncludeObject) -> Value {
    let default_table = def.columns.is_empty();
    let mut cells = vec![json!(crate::object::name(obj))];
    cells.extend(columns(def).iter().map(|c| cell(obj, c, default_table)));
    let mut row = json!({"cells": cells});
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => row["object"] = partial_metadata(obj),
        IncludeObject::Object => row["object"] = obj.clone(),
    }
    row
}

/// A Table of objects; `with_columns` false omits the definitions (watch events after the first).
pub fn table(
    def: &ResourceDef,
    objects: &[Value],
    include: IncludeObject,
    list_meta: Value,
    with_columns: bool,
) -> Value {
    let rows: Vec<Value> = objects.iter().map(|o| row(def, o, include)).collect();
    let mut t = json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "rows": rows});
    t["columnDefinitions"] = if with_columns { column_definitions(def) } else { json!([]) };
    t
}

#[cfg(test)]
mod tests {
    use super::human_duration;

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(119), "119s");
        assert_eq!(human_duration(125), "2m5s");
        assert_eq!(human_duration(600), "10m");
        assert_eq!(human_duration(3 * 3600 + 60), "3h1m");
        assert_eq!(human_duration(30 * 3600), "30h");
        assert_eq!(human_duration(3 * 86400 + 3600), "3d1h");
        assert_eq!(human_duration(100 * 86400), "100d");
    }
}
