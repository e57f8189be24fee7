//! Turns schemars' JSON Schema (draft 2020-12: `$defs`, `type: [T, "null"]`, `anyOf` with
//! null, `const`, numeric `exclusiveMinimum`) into the schema dialects Kubernetes publishes:
//! Swagger 2.0 (`#/definitions/...`) and OpenAPI 3.0 (`#/components/schemas/...`). The output
//! only uses keywords both dialects (and kubectl's parsers) understand: one `type` string,
//! `properties`/`required`/`additionalProperties`, `items`, `enum`, formats and bounds,
//! descriptions and defaults, `x-kubernetes-*` extensions. Unions that have no such form are
//! simplified: optional values become the value, string constants an `enum`, integer-or-string
//! the `int-or-string` format, object variants one object with every variant's fields, and
//! anything else a free-form value.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

/// The target dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// Swagger 2.0, `/openapi/v2`.
    V2,
    /// OpenAPI 3.0, `/openapi/v3/...`.
    V3,
}

impl Dialect {
    pub fn ref_prefix(self) -> &'static str {
        match self {
            Dialect::V2 => "#/definitions/",
            Dialect::V3 => "#/components/schemas/",
        }
    }

    /// A reference to the published definition `name`.
    pub fn reference(self, name: &str) -> Value {
        json!({"$ref": format!("{}{}", self.ref_prefix(), name)})
    }
}

/// Guards against pathological nesting (schemars output is finite, but hand-written input may
/// not be).
const MAX_DEPTH: usize = 64;

/// Converts schemas of one set of definitions.
pub struct Converter<'a> {
    pub dialect: Dialect,
    /// Input definition name (as in `#/$defs/<name>`) to published name.
    pub names: &'a HashMap<String, String>,
    /// The input definitions, to look into referenced schemas when simplifying unions.
    pub raw: &'a Map<String, Value>,
}

/// Decodes the definition name of a `#/$defs/<name>` reference (JSON-pointer escaped).
pub fn def_name(reference: &str) -> Option<String> {
    let name = reference.strip_prefix("#/$defs/").or_else(|| reference.strip_prefix("#/definitions/"))?;
    Some(name.replace("~1", "/").replace("~0", "~"))
}

/// Annotations carried over from the input schema whatever its shape.
#[derive(Default, Clone)]
struct Notes {
    description: Option<String>,
    default: Option<Value>,
    read_only: bool,
    extensions: Vec<(String, Value)>,
}

impl Notes {
    fn of(obj: &Map<String, Value>) -> Notes {
        let title = obj.get("title").and_then(Value::as_str).filter(|s| !s.is_empty());
        let desc = obj.get("description").and_then(Value::as_str).filter(|s| !s.is_empty());
        let description = match (title, desc) {
            (Some(t), Some(d)) => Some(format!("{t}\n\n{d}")),
            (Some(t), None) => Some(t.to_string()),
            (None, Some(d)) => Some(d.to_string()),
            (None, None) => None,
        };
        Notes {
            description,
            default: obj.get("default").map(without_nulls).filter(|d| !d.is_null()),
            read_only: obj.get("readOnly").and_then(Value::as_bool).unwrap_or(false),
            extensions: obj.iter().filter(|(k, _)| k.starts_with("x-")).map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    }

    fn apply(&self, out: &mut Map<String, Value>, with_default: bool) {
        if let Some(d) = &self.description {
            out.insert("description".into(), json!(d));
        }
        if with_default && let Some(d) = &self.default {
            out.insert("default".into(), d.clone());
        }
        if self.read_only {
            out.insert("readOnly".into(), json!(true));
        }
        for (k, v) in &self.extensions {
            out.insert(k.clone(), v.clone());
        }
    }
}

/// A default value without its null members: serde writes unset options as null, which
/// documents nothing.
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            Value::Object(m.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), without_nulls(v))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

fn is_null_schema(s: &Value) -> bool {
    match s.as_object() {
        Some(o) => {
            o.get("type").and_then(Value::as_str) == Some("null")
                || o.get("const").is_some_and(Value::is_null)
                || o.get("enum")
                    .and_then(Value::as_array)
                    .is_some_and(|e| !e.is_empty() && e.iter().all(Value::is_null))
        }
        None => false,
    }
}

/// The non-null types of a schema's `type` keyword.
fn types_of(obj: &Map<String, Value>) -> Vec<String> {
    match obj.get("type") {
        Some(Value::String(t)) if t != "null" => vec![t.clone()],
        Some(Value::Array(ts)) => {
            ts.iter().filter_map(Value::as_str).filter(|t| *t != "null").map(str::to_string).collect()
        }
        _ => vec![],
    }
}

fn json_type(v: &Value) -> Option<&'static str> {
    match v {
        Value::String(_) => Some("string"),
        Value::Bool(_) => Some("boolean"),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some("integer"),
        Value::Number(_) => Some("number"),
        Value::Object(_) => Some("object"),
        Value::Array(_) => Some("array"),
        Value::Null => None,
    }
}

/// Enumerated values of a schema (`enum` or `const`), nulls dropped.
fn enum_values(obj: &Map<String, Value>) -> Option<Vec<Value>> {
    if let Some(c) = obj.get("const") {
        return if c.is_null() { None } else { Some(vec![c.clone()]) };
    }
    let values: Vec<Value> = obj.get("enum")?.as_array()?.iter().filter(|v| !v.is_null()).cloned().collect();
    if values.is_empty() { None } else { Some(values) }
}

fn int_format(format: Option<&str>) -> &'static str {
    match format {
        Some("int8" | "int16" | "int32" | "uint8" | "uint16") => "int32",
        _ => "int64",
    }
}

/// What a union alternative is, for simplification.
enum Shape {
    StringEnum(Vec<Value>, Option<String>),
    Primitive(String),
    Object,
    Other,
}

impl Converter<'_> {
    /// The published form of `schema`.
    pub fn convert(&self, schema: &Value) -> Value {
        self.convert_at(schema, 0)
    }

    /// A value of any shape.
    fn arbitrary(&self, notes: &Notes) -> Value {
        let mut out = Map::new();
        if self.dialect == Dialect::V3 {
            out.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
        }
        notes.apply(&mut out, true);
        Value::Object(out)
    }

    fn resolve<'b>(&'b self, s: &'b Value) -> &'b Value {
        let mut cur = s;
        for _ in 0..8 {
            match cur.get("$ref").and_then(Value::as_str).and_then(def_name).and_then(|n| self.raw.get(&n)) {
                Some(next) => cur = next,
                None => break,
            }
        }
        cur
    }

    fn convert_at(&self, schema: &Value, depth: usize) -> Value {
        let Some(obj) = schema.as_object() else {
            // `true` (anything) or `false` (nothing): both published as free-form.
            return self.arbitrary(&Notes::default());
        };
        let notes = Notes::of(obj);
        if depth > MAX_DEPTH {
            return self.arbitrary(&notes);
        }
        if let Some(reference) = obj.get("$ref").and_then(Value::as_str) {
            return self.reference(reference, &notes);
        }
        let alternatives: Vec<&Value> =
            ["anyOf", "oneOf"].iter().filter_map(|k| obj.get(*k).and_then(Value::as_array)).flatten().collect();
        if !alternatives.is_empty() {
            return self.union(obj, &alternatives, notes, depth);
        }
        if let Some(all) = obj.get("allOf").and_then(Value::as_array).filter(|a| !a.is_empty()) {
            return self.intersection(obj, all, notes, depth);
        }
        let types = types_of(obj);
        if types.len() > 1 {
            let shapes: Vec<Shape> = types.into_iter().map(Shape::Primitive).collect();
            return self.simplify(obj, shapes, &[], notes, depth);
        }
        let ty = types.into_iter().next().or_else(|| {
            if obj.contains_key("properties") || obj.contains_key("additionalProperties") {
                Some("object".into())
            } else if obj.contains_key("items") || obj.contains_key("prefixItems") {
                Some("array".into())
            } else {
                enum_values(obj).and_then(|v| v.first().and_then(json_type)).map(str::to_string)
            }
        });
        let Some(ty) = ty else { return self.arbitrary(&notes) };
        let mut out = Map::new();
        match ty.as_str() {
            "object" => {
                out.insert("type".into(), json!("object"));
                let mut props = Map::new();
                if let Some(p) = obj.get("properties").and_then(Value::as_object) {
                    for (k, v) in p {
                        props.insert(k.clone(), self.convert_at(v, depth + 1));
                    }
                }
                let required: Vec<&Value> = obj
                    .get("required")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|r| r.as_str().is_some_and(|r| props.contains_key(r)))
                    .collect();
                match obj.get("additionalProperties") {
                    Some(ap @ Value::Object(_)) => {
                        out.insert("additionalProperties".into(), self.convert_at(ap, depth + 1));
                    }
                    Some(Value::Bool(true)) if props.is_empty() => match self.dialect {
                        Dialect::V2 => {
                            out.insert("additionalProperties".into(), json!({}));
                        }
                        Dialect::V3 => {
                            out.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
                        }
                    },
                    _ => {}
                }
                if !props.is_empty() {
                    out.insert("properties".into(), Value::Object(props));
                }
                if !required.is_empty() {
                    out.insert("required".into(), json!(required));
                }
            }
            "array" => {
                out.insert("type".into(), json!("array"));
                let items = match obj.get("items") {
                    Some(i @ Value::Object(_)) => self.convert_at(i, depth + 1),
                    _ => self.arbitrary(&Notes::default()),
                };
                out.insert("items".into(), items);
                for k in ["minItems", "maxItems", "uniqueItems"] {
                    if let Some(v) = obj.get(k) {
                        out.insert(k.into(), v.clone());
                    }
                }
            }
            "string" => {
                out.insert("type".into(), json!("string"));
                for k in ["format", "pattern", "minLength", "maxLength"] {
                    if let Some(v) = obj.get(k) {
                        out.insert(k.into(), v.clone());
                    }
                }
                if let Some(values) = enum_values(obj) {
                    out.insert("enum".into(), json!(values));
                }
            }
            "integer" | "number" => {
                out.insert("type".into(), json!(ty));
                let format = obj.get("format").and_then(Value::as_str);
                let format = if ty == "integer" {
                    int_format(format)
                } else if format == Some("float") {
                    "float"
                } else {
                    "double"
                };
                out.insert("format".into(), json!(format));
                for k in ["minimum", "maximum", "multipleOf"] {
                    if let Some(v) = obj.get(k).filter(|v| v.is_number()) {
                        out.insert(k.into(), v.clone());
                    }
                }
                // 2020-12 exclusive bounds are numbers; OpenAPI 3.0 and Swagger 2.0 use flags.
                for (k, bound) in [("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")] {
                    if let Some(v) = obj.get(k).filter(|v| v.is_number()) {
                        out.insert(bound.into(), v.clone());
                        out.insert(k.into(), json!(true));
                    }
                }
                if let Some(values) = enum_values(obj) {
                    out.insert("enum".into(), json!(values));
                }
            }
            "boolean" => {
                out.insert("type".into(), json!("boolean"));
            }
            _ => return self.arbitrary(&notes),
        }
        notes.apply(&mut out, true);
        Value::Object(out)
    }

    fn reference(&self, reference: &str, notes: &Notes) -> Value {
        let Some(name) = def_name(reference).and_then(|n| self.names.get(&n)) else {
            return self.arbitrary(notes);
        };
        let target = self.dialect.reference(name);
        let has_notes = notes.description.is_some() || notes.default.is_some();
        match self.dialect {
            // Swagger 2.0 tooling (and Kubernetes' own v2 document) reads a description beside
            // `$ref`; defaults are left to the referenced schema.
            Dialect::V2 => {
                let mut out = target.as_object().cloned().unwrap_or_default();
                if let Some(d) = &notes.description {
                    out.insert("description".into(), json!(d));
                }
                Value::Object(out)
            }
            // OpenAPI 3.0 ignores siblings of `$ref`, so Kubernetes wraps the reference in a
            // one-element `allOf`; kubectl explain follows that form.
            Dialect::V3 if has_notes => {
                let mut out = Map::new();
                out.insert("allOf".into(), json!([target]));
                notes.apply(&mut out, true);
                Value::Object(out)
            }
            Dialect::V3 => target,
        }
    }

    fn shape_of(&self, alt: &Value) -> Shape {
        let resolved = self.resolve(alt);
        let Some(o) = resolved.as_object() else { return Shape::Other };
        if o.contains_key("anyOf") || o.contains_key("oneOf") || o.contains_key("allOf") {
            return Shape::Other;
        }
        let types = types_of(o);
        let desc = o.get("description").and_then(Value::as_str).map(str::to_string);
        if let Some(values) = enum_values(o) {
            if values.iter().all(Value::is_string) && (types.is_empty() || types == ["string"]) {
                return Shape::StringEnum(values, desc);
            }
            return Shape::Other;
        }
        if o.contains_key("properties") || types == ["object"] {
            return Shape::Object;
        }
        match types.as_slice() {
            [t] if matches!(t.as_str(), "string" | "integer" | "number" | "boolean") => Shape::Primitive(t.clone()),
            _ => Shape::Other,
        }
    }

    fn union(&self, obj: &Map<String, Value>, alternatives: &[&Value], notes: Notes, depth: usize) -> Value {
        let non_null: Vec<&Value> = alternatives.iter().copied().filter(|a| !is_null_schema(a)).collect();
        let base_has_fields = obj.contains_key("properties");
        if non_null.len() == 1 && !base_has_fields {
            // `Option<T>` and friends: the value itself, with the outer documentation.
            let mut merged = non_null[0].as_object().cloned().unwrap_or_default();
            for (k, v) in obj {
                if matches!(k.as_str(), "anyOf" | "oneOf") {
                    continue;
                }
                if matches!(k.as_str(), "description" | "title" | "default") || !merged.contains_key(k) {
                    merged.insert(k.clone(), v.clone());
                }
            }
            // The outer `type` of `Option<Struct>` variants is at most "null"-bearing: drop it
            // when the alternative is a reference, whose target carries the type.
            if merged.contains_key("$ref") {
                merged.remove("type");
            }
            return self.convert_at(&Value::Object(merged), depth + 1);
        }
        let shapes: Vec<Shape> = non_null.iter().map(|a| self.shape_of(a)).collect();
        self.simplify(obj, shapes, &non_null, notes, depth)
    }

    fn simplify(
        &self,
        obj: &Map<String, Value>,
        shapes: Vec<Shape>,
        alternatives: &[&Value],
        notes: Notes,
        depth: usize,
    ) -> Value {
        let mut out = Map::new();
        let mut notes = notes;
        if shapes.is_empty() {
            return self.arbitrary(&notes);
        }
        if shapes.iter().all(|s| matches!(s, Shape::StringEnum(..))) {
            let mut values = vec![];
            let mut docs = vec![];
            for s in &shapes {
                if let Shape::StringEnum(v, d) = s {
                    if let (Some(d), [one]) = (d, v.as_slice()) {
                        docs.push(format!("- `{}`: {}", one.as_str().unwrap_or(""), d.replace('\n', " ")));
                    }
                    values.extend(v.iter().cloned());
                }
            }
            if !docs.is_empty() {
                let head = notes.description.take().map(|d| format!("{d}\n\n")).unwrap_or_default();
                notes.description = Some(format!("{head}Possible values:\n{}", docs.join("\n")));
            }
            out.insert("type".into(), json!("string"));
            out.insert("enum".into(), json!(values));
            notes.apply(&mut out, true);
            return Value::Object(out);
        }
        let primitives: Option<Vec<&str>> = shapes
            .iter()
            .map(|s| match s {
                Shape::Primitive(t) => Some(t.as_str()),
                Shape::StringEnum(..) => Some("string"),
                _ => None,
            })
            .collect();
        if let Some(p) = primitives {
            let numeric = p.iter().any(|t| matches!(*t, "integer" | "number"));
            let stringy = p.contains(&"string");
            if numeric && stringy && p.iter().all(|t| matches!(*t, "integer" | "number" | "string")) {
                // Kubernetes' IntOrString: one string-typed schema with a format that tells
                // validators to accept both.
                out.insert("type".into(), json!("string"));
                out.insert("format".into(), json!("int-or-string"));
                if self.dialect == Dialect::V3 {
                    out.insert("x-kubernetes-int-or-string".into(), json!(true));
                }
                notes.apply(&mut out, true);
                return Value::Object(out);
            }
            if p.iter().all(|t| *t == p[0]) {
                let mut single = Map::new();
                single.insert("type".into(), json!(p[0]));
                notes.apply(&mut single, true);
                return self.convert_at(&Value::Object(single), depth + 1);
            }
        }
        if shapes.iter().all(|s| matches!(s, Shape::Object)) {
            // Variants of an object (e.g. internally tagged enums): one object with the fields
            // of every variant, tag values merged into one enum.
            let mut merged_props = Map::new();
            let sources = std::iter::once(obj).chain(alternatives.iter().filter_map(|a| self.resolve(a).as_object()));
            for source in sources {
                for (k, v) in source.get("properties").and_then(Value::as_object).into_iter().flatten() {
                    match merged_props.get_mut(k) {
                        None => {
                            merged_props.insert(k.clone(), v.clone());
                        }
                        Some(existing) => merge_enum(existing, v),
                    }
                }
            }
            let mut merged = Map::new();
            merged.insert("type".into(), json!("object"));
            merged.insert("properties".into(), Value::Object(merged_props));
            let mut result = self.convert_at(&Value::Object(merged), depth + 1);
            if let Some(r) = result.as_object_mut() {
                notes.apply(r, true);
            }
            return result;
        }
        self.arbitrary(&notes)
    }

    fn intersection(&self, obj: &Map<String, Value>, all: &[Value], notes: Notes, depth: usize) -> Value {
        if all.len() == 1 && !obj.contains_key("properties") {
            let mut merged = all[0].as_object().cloned().unwrap_or_default();
            for (k, v) in obj {
                if k != "allOf"
                    && (matches!(k.as_str(), "description" | "title" | "default") || !merged.contains_key(k))
                {
                    merged.insert(k.clone(), v.clone());
                }
            }
            return self.convert_at(&Value::Object(merged), depth + 1);
        }
        // Flattened parts: every part must be an object; their fields are combined.
        let mut props = obj.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
        let mut required: Vec<Value> = obj.get("required").and_then(Value::as_array).cloned().unwrap_or_default();
        for part in all {
            let resolved = self.resolve(part);
            let Some(o) = resolved.as_object() else { return self.arbitrary(&notes) };
            if !matches!(self.shape_of(part), Shape::Object) {
                return self.arbitrary(&notes);
            }
            for (k, v) in o.get("properties").and_then(Value::as_object).into_iter().flatten() {
                props.entry(k.clone()).or_insert_with(|| v.clone());
            }
            required.extend(o.get("required").and_then(Value::as_array).into_iter().flatten().cloned());
        }
        let mut merged = Map::new();
        merged.insert("type".into(), json!("object"));
        merged.insert("properties".into(), Value::Object(props));
        merged.insert("required".into(), Value::Array(required));
        let mut result = self.convert_at(&Value::Object(merged), depth + 1);
        if let Some(r) = result.as_object_mut() {
            notes.apply(r, true);
        }
        result
    }
}

/// Merges the enumerated values of `other` into `existing` (same property in two variants).
fn merge_enum(existing: &mut Value, other: &Value) {
    let (Some(e), Some(o)) = (existing.as_object_mut(), other.as_object()) else { return };
    let Some(mut values) = enum_values(e) else { return };
    let Some(more) = enum_values(o) else { return };
    for v in more {
        if !values.contains(&v) {
            values.push(v);
        }
    }
    e.remove("const");
    e.insert("enum".into(), Value::Array(values));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(dialect: Dialect, s: Value) -> Value {
        let names: HashMap<String, String> = [("Foo".to_string(), "io.example.v1.Foo".to_string())].into();
        let raw: Map<String, Value> =
            [("Foo".to_string(), json!({"type": "object", "properties": {"a": {"type": "string"}}}))]
                .into_iter()
                .collect();
        Converter { dialect, names: &names, raw: &raw }.convert(&s)
    }

    #[test]
    fn nullable_types_become_plain() {
        let out = conv(Dialect::V3, json!({"type": ["string", "null"], "description": "d"}));
        assert_eq!(out, json!({"type": "string", "description": "d"}));
        let out = conv(Dialect::V2, json!({"type": ["integer", "null"], "format": "uint32", "minimum": 0}));
        assert_eq!(out, json!({"type": "integer", "format": "int64", "minimum": 0}));
    }

    #[test]
    fn optional_references() {
        let s = json!({"anyOf": [{"$ref": "#/$defs/Foo"}, {"type": "null"}], "description": "the foo"});
        assert_eq!(
            conv(Dialect::V2, s.clone()),
            json!({"$ref": "#/definitions/io.example.v1.Foo", "description": "the foo"})
        );
        assert_eq!(
            conv(Dialect::V3, s),
            json!({"allOf": [{"$ref": "#/components/schemas/io.example.v1.Foo"}], "description": "the foo"})
        );
        assert_eq!(
            conv(Dialect::V3, json!({"$ref": "#/$defs/Foo"})),
            json!({"$ref": "#/components/schemas/io.example.v1.Foo"})
        );
        // Unknown references are not published dangling.
        assert_eq!(conv(Dialect::V2, json!({"$ref": "#/$defs/Nope"})), json!({}));
    }

    #[test]
    fn string_constants_become_an_enum() {
        let s = json!({"oneOf": [{"type": "string", "const": "Blue", "description": "sky"}, {"type": "string", "const": "Red"}], "description": "Colour."});
        let out = conv(Dialect::V3, s);
        assert_eq!(out["type"], "string");
        assert_eq!(out["enum"], json!(["Blue", "Red"]));
        assert_eq!(out["description"], "Colour.\n\nPossible values:\n- `Blue`: sky");
    }

    #[test]
    fn int_or_string() {
        let s = json!({"anyOf": [{"type": "integer", "format": "int64"}, {"type": "string"}]});
        assert_eq!(conv(Dialect::V2, s.clone()), json!({"type": "string", "format": "int-or-string"}));
        assert_eq!(conv(Dialect::V3, s)["x-kubernetes-int-or-string"], true);
    }

    #[test]
    fn free_form_values() {
        assert_eq!(conv(Dialect::V3, json!(true)), json!({"x-kubernetes-preserve-unknown-fields": true}));
        assert_eq!(conv(Dialect::V2, json!(true)), json!({}));
        let out = conv(Dialect::V3, json!({"type": "object", "additionalProperties": {"type": "string"}}));
        assert_eq!(out, json!({"type": "object", "additionalProperties": {"type": "string"}}));
        let out = conv(Dialect::V2, json!({"type": "array", "prefixItems": [{"type": "string"}]}));
        assert_eq!(out, json!({"type": "array", "items": {}}));
    }

    #[test]
    fn object_variants_are_merged() {
        let s = json!({"oneOf": [
            {"type": "object", "properties": {"kind": {"type": "string", "const": "A"}, "a": {"type": "string"}}, "required": ["kind"]},
            {"type": "object", "properties": {"kind": {"type": "string", "const": "B"}, "b": {"type": "integer"}}},
        ]});
        let out = conv(Dialect::V2, s);
        assert_eq!(out["type"], "object");
        assert_eq!(out["properties"]["kind"]["enum"], json!(["A", "B"]));
        assert_eq!(out["properties"]["b"]["type"], "integer");
        assert!(out.get("oneOf").is_none());
    }

    #[test]
    fn exclusive_bounds_and_titles() {
        let out = conv(Dialect::V3, json!({"type": "number", "exclusiveMinimum": 0, "title": "T", "description": "D"}));
        assert_eq!(
            out,
            json!({"type": "number", "format": "double", "minimum": 0, "exclusiveMinimum": true, "description": "T\n\nD"})
        );
    }
}
