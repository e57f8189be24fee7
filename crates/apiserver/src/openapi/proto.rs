//! The Swagger 2.0 document in gnostic's protobuf encoding (`openapi.v2.Document`), which is
//! the only form client-go's `OpenAPISchema()` reads from `/openapi/v2` (kubectl uses it for
//! `explain --output plaintext-openapiv2`, client-side validation and patch-type lookup).
//! A small hand-written encoder of the message subset our JSON document uses: the JSON is the
//! source of truth and is walked field by field. Free-form values (defaults, enums, vendor
//! extensions) travel as `Any { yaml }`, where JSON text is valid YAML.

use serde_json::{Map, Value};

/// A protobuf message being written.
#[derive(Default)]
struct Msg(Vec<u8>);

impl Msg {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u32, wire_type: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire_type));
    }

    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    /// A singular string (proto3: empty is not written).
    fn string(&mut self, field: u32, s: Option<&str>) {
        if let Some(s) = s.filter(|s| !s.is_empty()) {
            self.bytes(field, s.as_bytes());
        }
    }

    fn strings(&mut self, field: u32, v: Option<&Value>) {
        for s in v.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            self.bytes(field, s.as_bytes());
        }
    }

    fn boolean(&mut self, field: u32, b: Option<&Value>) {
        if b.and_then(Value::as_bool) == Some(true) {
            self.key(field, 0);
            self.varint(1);
        }
    }

    fn int64(&mut self, field: u32, v: Option<&Value>) {
        if let Some(n) = v.and_then(Value::as_i64).filter(|n| *n != 0) {
            self.key(field, 0);
            self.varint(n as u64);
        }
    }

    fn double(&mut self, field: u32, v: Option<&Value>) {
        if let Some(n) = v.and_then(Value::as_f64).filter(|n| *n != 0.0) {
            self.key(field, 1);
            self.0.extend_from_slice(&n.to_le_bytes());
        }
    }

    /// A sub-message, always written (it may be the chosen member of a oneof).
    fn message(&mut self, field: u32, m: Msg) {
        self.bytes(field, &m.0);
    }
}

fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// `Any { yaml = 2 }` holding `v` as JSON text.
fn any(v: &Value) -> Msg {
    let mut m = Msg::default();
    m.bytes(2, serde_json::to_string(v).unwrap_or_default().as_bytes());
    m
}

/// `NamedAny` entries for the `x-` keys of an object.
fn vendor_extensions(m: &mut Msg, field: u32, obj: &Value) {
    for (k, v) in obj.as_object().into_iter().flatten().filter(|(k, _)| k.starts_with("x-")) {
        let mut named = Msg::default();
        named.string(1, Some(k));
        named.message(2, any(v));
        m.message(field, named);
    }
}

fn schema(v: &Value) -> Msg {
    let mut m = Msg::default();
    m.string(1, s(v, "$ref"));
    m.string(2, s(v, "format"));
    m.string(3, s(v, "title"));
    m.string(4, s(v, "description"));
    if let Some(d) = v.get("default") {
        m.message(5, any(d));
    }
    m.double(6, v.get("multipleOf"));
    m.double(7, v.get("maximum"));
    m.boolean(8, v.get("exclusiveMaximum"));
    m.double(9, v.get("minimum"));
    m.boolean(10, v.get("exclusiveMinimum"));
    m.int64(11, v.get("maxLength"));
    m.int64(12, v.get("minLength"));
    m.string(13, s(v, "pattern"));
    m.int64(14, v.get("maxItems"));
    m.int64(15, v.get("minItems"));
    m.boolean(16, v.get("uniqueItems"));
    m.int64(17, v.get("maxProperties"));
    m.int64(18, v.get("minProperties"));
    m.strings(19, v.get("required"));
    for e in v.get("enum").and_then(Value::as_array).into_iter().flatten() {
        m.message(20, any(e));
    }
    match v.get("additionalProperties") {
        Some(ap @ Value::Object(_)) => {
            let mut item = Msg::default();
            item.message(1, schema(ap));
            m.message(21, item);
        }
        Some(Value::Bool(b)) => {
            let mut item = Msg::default();
            item.key(2, 0);
            item.varint(u64::from(*b));
            m.message(21, item);
        }
        _ => {}
    }
    match v.get("type") {
        Some(Value::String(t)) => {
            let mut item = Msg::default();
            item.bytes(1, t.as_bytes());
            m.message(22, item);
        }
        Some(ts @ Value::Array(_)) => {
            let mut item = Msg::default();
            item.strings(1, Some(ts));
            m.message(22, item);
        }
        _ => {}
    }
    if let Some(items) = v.get("items").filter(|i| i.is_object()) {
        let mut item = Msg::default();
        item.message(1, schema(items));
        m.message(23, item);
    }
    for part in v.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        m.message(24, schema(part));
    }
    if let Some(props) = v.get("properties").and_then(Value::as_object) {
        let mut p = Msg::default();
        for (name, sub) in props {
            let mut named = Msg::default();
            named.string(1, Some(name));
            named.message(2, schema(sub));
            p.message(1, named);
        }
        m.message(25, p);
    }
    m.boolean(27, v.get("readOnly"));
    vendor_extensions(&mut m, 31, v);
    m
}

/// `ParametersItem` for one parameter object.
fn parameter(v: &Value) -> Msg {
    let mut item = Msg::default();
    if let Some(r) = s(v, "$ref") {
        let mut reference = Msg::default();
        reference.string(1, Some(r));
        reference.string(2, s(v, "description"));
        item.message(2, reference);
        return item;
    }
    let mut param = Msg::default();
    match s(v, "in") {
        Some("body") => {
            let mut b = Msg::default();
            b.string(1, s(v, "description"));
            b.string(2, s(v, "name"));
            b.string(3, Some("body"));
            b.boolean(4, v.get("required"));
            b.message(5, schema(v.get("schema").unwrap_or(&Value::Null)));
            vendor_extensions(&mut b, 6, v);
            param.message(1, b);
        }
        location => {
            // Query and form parameters share one layout, path and header parameters another
            // (they lack allowEmptyValue, so later fields are numbered one lower).
            let (member, shifted) = match location {
                Some("header") => (1, true),
                Some("formData") => (2, false),
                Some("path") => (4, true),
                _ => (3, false),
            };
            let at = |n: u32| if shifted { n - 1 } else { n };
            let mut p = Msg::default();
            p.boolean(1, v.get("required"));
            p.string(2, location);
            p.string(3, s(v, "description"));
            p.string(4, s(v, "name"));
            if !shifted {
                p.boolean(5, v.get("allowEmptyValue"));
            }
            p.string(at(6), s(v, "type"));
            p.string(at(7), s(v, "format"));
            p.boolean(at(20), v.get("uniqueItems"));
            vendor_extensions(&mut p, at(23), v);
            let mut non_body = Msg::default();
            non_body.message(member, p);
            param.message(2, non_body);
        }
    }
    item.message(1, param);
    item
}

fn responses(v: &Value) -> Msg {
    let mut m = Msg::default();
    for (code, r) in v.as_object().into_iter().flatten().filter(|(k, _)| !k.starts_with("x-")) {
        let mut response = Msg::default();
        response.string(1, s(r, "description"));
        if let Some(sc) = r.get("schema") {
            let mut item = Msg::default();
            item.message(1, schema(sc));
            response.message(2, item);
        }
        vendor_extensions(&mut response, 5, r);
        let mut value = Msg::default();
        value.message(1, response);
        let mut named = Msg::default();
        named.string(1, Some(code));
        named.message(2, value);
        m.message(1, named);
    }
    m
}

fn operation(v: &Value) -> Msg {
    let mut m = Msg::default();
    m.strings(1, v.get("tags"));
    m.string(2, s(v, "summary"));
    m.string(3, s(v, "description"));
    m.string(5, s(v, "operationId"));
    m.strings(6, v.get("produces"));
    m.strings(7, v.get("consumes"));
    for p in v.get("parameters").and_then(Value::as_array).into_iter().flatten() {
        m.message(8, parameter(p));
    }
    if let Some(r) = v.get("responses") {
        m.message(9, responses(r));
    }
    m.strings(10, v.get("schemes"));
    m.boolean(11, v.get("deprecated"));
    vendor_extensions(&mut m, 13, v);
    m
}

fn path_item(v: &Value) -> Msg {
    let mut m = Msg::default();
    m.string(1, s(v, "$ref"));
    for (field, method) in
        [(2, "get"), (3, "put"), (4, "post"), (5, "delete"), (6, "options"), (7, "head"), (8, "patch")]
    {
        if let Some(op) = v.get(method) {
            m.message(field, operation(op));
        }
    }
    for p in v.get("parameters").and_then(Value::as_array).into_iter().flatten() {
        m.message(9, parameter(p));
    }
    vendor_extensions(&mut m, 10, v);
    m
}

fn security_requirements(m: &mut Msg, field: u32, v: Option<&Value>) {
    for req in v.and_then(Value::as_array).into_iter().flatten() {
        let mut r = Msg::default();
        for (name, scopes) in req.as_object().into_iter().flatten() {
            let mut array = Msg::default();
            array.strings(1, Some(scopes));
            let mut named = Msg::default();
            named.string(1, Some(name));
            named.message(2, array);
            r.message(1, named);
        }
        m.message(field, r);
    }
}

fn security_definitions(v: &Map<String, Value>) -> Msg {
    let mut m = Msg::default();
    for (name, def) in v {
        let mut item = Msg::default();
        match s(def, "type") {
            Some("basic") => {
                let mut b = Msg::default();
                b.string(1, Some("basic"));
                b.string(2, s(def, "description"));
                item.message(1, b);
            }
            _ => {
                let mut k = Msg::default();
                k.string(1, s(def, "type"));
                k.string(2, s(def, "name"));
                k.string(3, s(def, "in"));
                k.string(4, s(def, "description"));
                item.message(2, k);
            }
        }
        let mut named = Msg::default();
        named.string(1, Some(name));
        named.message(2, item);
        m.message(1, named);
    }
    m
}

/// Encodes a Swagger 2.0 JSON document as `openapi.v2.Document`.
pub fn encode_document(doc: &Value) -> Vec<u8> {
    let mut m = Msg::default();
    m.string(1, s(doc, "swagger"));
    if let Some(info) = doc.get("info") {
        let mut i = Msg::default();
        i.string(1, s(info, "title"));
        i.string(2, s(info, "version"));
        i.string(3, s(info, "description"));
        m.message(2, i);
    }
    m.string(3, s(doc, "host"));
    m.string(4, s(doc, "basePath"));
    m.strings(5, doc.get("schemes"));
    m.strings(6, doc.get("consumes"));
    m.strings(7, doc.get("produces"));
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        let mut p = Msg::default();
        for (name, item) in paths {
            let mut named = Msg::default();
            named.string(1, Some(name));
            named.message(2, path_item(item));
            p.message(2, named);
        }
        m.message(8, p);
    }
    if let Some(defs) = doc.get("definitions").and_then(Value::as_object) {
        let mut d = Msg::default();
        for (name, sc) in defs {
            let mut named = Msg::default();
            named.string(1, Some(name));
            named.message(2, schema(sc));
            d.message(1, named);
        }
        m.message(9, d);
    }
    security_requirements(&mut m, 12, doc.get("security"));
    if let Some(sd) = doc.get("securityDefinitions").and_then(Value::as_object) {
        m.message(13, security_definitions(sd));
    }
    vendor_extensions(&mut m, 16, doc);
    m.0
}

#[cfg(test)]
pub(crate) mod decode {
    //! A generic protobuf reader for tests: field number → raw values.

    #[derive(Debug, Clone)]
    pub enum Field {
        Varint(#[allow(dead_code)] u64),
        Fixed64(u64),
        Bytes(Vec<u8>),
    }

    fn varint(b: &[u8], pos: &mut usize) -> Option<u64> {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let byte = *b.get(*pos)?;
            *pos += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(v);
            }
            shift += 7;
        }
    }

    /// Every (field, value) of one message, or `None` if the bytes are not a message.
    pub fn fields(b: &[u8]) -> Option<Vec<(u32, Field)>> {
        let mut pos = 0;
        let mut out = vec![];
        while pos < b.len() {
            let key = varint(b, &mut pos)?;
            let field = (key >> 3) as u32;
            let value = match key & 7 {
                0 => Field::Varint(varint(b, &mut pos)?),
                1 => {
                    let bytes: [u8; 8] = b.get(pos..pos + 8)?.try_into().ok()?;
                    pos += 8;
                    Field::Fixed64(u64::from_le_bytes(bytes))
                }
                2 => {
                    let len = varint(b, &mut pos)? as usize;
                    let v = b.get(pos..pos + len)?.to_vec();
                    pos += len;
                    Field::Bytes(v)
                }
                _ => return None,
            };
            out.push((field, value));
        }
        Some(out)
    }

    pub fn bytes(fields: &[(u32, Field)], n: u32) -> Vec<Vec<u8>> {
        fields
            .iter()
            .filter(|(f, _)| *f == n)
            .filter_map(|(_, v)| if let Field::Bytes(b) = v { Some(b.clone()) } else { None })
            .collect()
    }

    pub fn string(fields: &[(u32, Field)], n: u32) -> Option<String> {
        bytes(fields, n).into_iter().next().and_then(|b| String::from_utf8(b).ok())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::decode::{bytes, fields, string};
    use super::*;

    #[test]
    fn document_round_trips_through_a_generic_reader() {
        let doc = json!({
            "swagger": "2.0",
            "info": {"title": "t", "version": "v1.0"},
            "paths": {"/apis/a.io/v1/things": {"get": {"operationId": "listThing", "x-kubernetes-action": "list",
                "parameters": [{"name": "limit", "in": "query", "type": "integer", "uniqueItems": true}],
                "responses": {"200": {"description": "OK", "schema": {"$ref": "#/definitions/io.a.v1.Thing"}}}},
                "parameters": [{"name": "name", "in": "path", "required": true, "type": "string"}]}},
            "definitions": {"io.a.v1.Thing": {"type": "object", "properties": {"size": {"type": "integer", "minimum": 1.5}},
                "x-kubernetes-group-version-kind": [{"group": "a.io", "kind": "Thing", "version": "v1"}]}},
        });
        let top = fields(&encode_document(&doc)).expect("document");
        assert_eq!(string(&top, 1).as_deref(), Some("2.0"));
        let info = fields(&bytes(&top, 2)[0]).expect("info");
        assert_eq!(string(&info, 2).as_deref(), Some("v1.0"));

        let definitions = fields(&bytes(&top, 9)[0]).expect("definitions");
        let named = fields(&bytes(&definitions, 1)[0]).expect("named schema");
        assert_eq!(string(&named, 1).as_deref(), Some("io.a.v1.Thing"));
        let thing = fields(&bytes(&named, 2)[0]).expect("schema");
        let ty = fields(&bytes(&thing, 22)[0]).expect("type");
        assert_eq!(string(&ty, 1).as_deref(), Some("object"));
        let ext = fields(&bytes(&thing, 31)[0]).expect("extension");
        assert_eq!(string(&ext, 1).as_deref(), Some("x-kubernetes-group-version-kind"));
        let any = fields(&bytes(&ext, 2)[0]).expect("any");
        let yaml = string(&any, 2).expect("yaml");
        assert_eq!(
            serde_json::from_str::<Value>(&yaml).ok(),
            Some(json!([{"group": "a.io", "kind": "Thing", "version": "v1"}]))
        );
        let props = fields(&bytes(&thing, 25)[0]).expect("properties");
        let size = fields(&bytes(&fields(&bytes(&props, 1)[0]).expect("named"), 2)[0]).expect("size");
        assert!(
            size.iter().any(|(f, v)| *f == 9 && matches!(v, decode::Field::Fixed64(x) if f64::from_bits(*x) == 1.5))
        );

        let paths = fields(&bytes(&top, 8)[0]).expect("paths");
        let named_path = fields(&bytes(&paths, 2)[0]).expect("named path");
        assert_eq!(string(&named_path, 1).as_deref(), Some("/apis/a.io/v1/things"));
        let item = fields(&bytes(&named_path, 2)[0]).expect("path item");
        let get = fields(&bytes(&item, 2)[0]).expect("get");
        assert_eq!(string(&get, 5).as_deref(), Some("listThing"));
        // Path-level parameter: ParametersItem.parameter.non_body_parameter.path_parameter_sub_schema.
        let p = fields(&bytes(&item, 9)[0]).expect("parameters item");
        let p = fields(&bytes(&p, 1)[0]).expect("parameter");
        let p = fields(&bytes(&p, 2)[0]).expect("non body");
        let p = fields(&bytes(&p, 4)[0]).expect("path parameter");
        assert_eq!(string(&p, 4).as_deref(), Some("name"));
        assert_eq!(string(&p, 5).as_deref(), Some("string"));
    }
}
