//! The Kubernetes protobuf encoding (`application/vnd.kubernetes.protobuf`) of the built-in
//! kinds, translated to and from the JSON objects the server works on. client-go's typed
//! clients (and so kubectl's imperative commands) send and ask for it.
//!
//! A body is the prefix `k8s\0` and a `runtime.Unknown` envelope: the object's `apiVersion`
//! and `kind`, and the object's own message (which has no `apiVersion`/`kind` fields). The
//! messages come from Kubernetes' `generated.proto` files ([`schema`]), whose field names are
//! the JSON names, so one walk of the schema translates every kind; a few apimachinery types
//! have a JSON form of their own (`Time` is an RFC 3339 string, `IntOrString` an integer or a
//! string, `Quantity` a string, `RawExtension` and `FieldsV1` embedded JSON, `Verbs` and
//! `ExtraValue` arrays). A watch in protobuf is a stream of `WatchEvent` messages, each
//! prefixed by its length (4 bytes, big-endian), whose object is an enveloped object.
//!
//! Kinds outside Kubernetes' own groups (custom resources, tke's own groups) have no protobuf
//! form: [`ProtobufError::NoProtobufForm`].
//!
//! Decoding gives the JSON Go would write for the same object: Go sends every non-pointer field,
//! so the zero value of an `omitempty` one (marked in the schema) and a zero time are left out,
//! while a pointer field set to zero (`replicas: 0`, `gracePeriodSeconds: 0`) is kept; the
//! fields of an inlined member (`VolumeSource` in `Volume`) are merged into their parent.

pub mod schema;

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use schema::{Label, Message, Schema, Type};

/// The media type of the encoding.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";
/// The content type of a watch in the encoding.
pub const WATCH_MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf;stream=watch";
/// What every enveloped body starts with.
const MAGIC: &[u8; 4] = b"k8s\0";

const UNKNOWN: &str = "k8s.io.apimachinery.pkg.runtime.Unknown";
const RAW_EXTENSION: &str = "k8s.io.apimachinery.pkg.runtime.RawExtension";
const INT_OR_STRING: &str = "k8s.io.apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY: &str = "k8s.io.apimachinery.pkg.api.resource.Quantity";
const QUANTITY_VALUE: &str = "k8s.io.apimachinery.pkg.api.resource.QuantityValue";
const TIME: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.Time";
const MICRO_TIME: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime";
const DURATION: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.Duration";
const FIELDS_V1: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1";

#[derive(Debug, thiserror::Error)]
pub enum ProtobufError {
    #[error("{kind} ({api_version}) has no protobuf form; send it as JSON or YAML")]
    NoProtobufForm { api_version: String, kind: String },
    #[error("the body is not in the Kubernetes protobuf encoding: it does not start with \"k8s\\x00\"")]
    NotEnveloped,
    #[error("the protobuf body is malformed: {0}")]
    Malformed(String),
}

fn malformed(what: impl Into<String>) -> ProtobufError {
    ProtobufError::Malformed(what.into())
}

/// Whether `content_type` (a `Content-Type` or one `Accept` entry, parameters ignored) is this
/// encoding.
pub fn is_media_type(content_type: &str) -> bool {
    content_type.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case(MEDIA_TYPE)
}

/// Whether objects of `kind` in `api_version` have a protobuf form.
pub fn has_protobuf_form(api_version: &str, kind: &str) -> bool {
    schema::message_of(api_version, kind).is_some()
}

/// An enveloped body as its JSON object, `apiVersion` and `kind` included.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let rest = body.strip_prefix(MAGIC).ok_or(ProtobufError::NotEnveloped)?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for (number, wire) in fields(rest)? {
        match (number, wire) {
            (1, Wire::Bytes(type_meta)) => {
                for (n, w) in fields(type_meta)? {
                    match (n, w) {
                        (1, Wire::Bytes(b)) => api_version = String::from_utf8_lossy(b).into_owned(),
                        (2, Wire::Bytes(b)) => kind = String::from_utf8_lossy(b).into_owned(),
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(b)) => raw = b,
            (3, Wire::Bytes(b)) if !b.is_empty() => {
                return Err(malformed(format!("content encoding {:?} is not supported", String::from_utf8_lossy(b))));
            }
            _ => {}
        }
    }
    let message = schema::message_of(&api_version, &kind)
        .ok_or_else(|| ProtobufError::NoProtobufForm { api_version: api_version.clone(), kind: kind.clone() })?;
    let Value::Object(body) = decode_message(message, raw)? else { unreachable!("a message decodes to an object") };
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), Value::String(api_version));
    obj.insert("kind".into(), Value::String(kind));
    obj.extend(body);
    Ok(Value::Object(obj))
}

/// `obj` (which names its `apiVersion` and `kind`) as an enveloped body.
pub fn encode(obj: &Value) -> Result<Vec<u8>, ProtobufError> {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    let message = schema::message_of(api_version, kind).ok_or_else(|| ProtobufError::NoProtobufForm {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
    })?;
    let mut raw = Vec::new();
    encode_message(message, obj, &mut raw)?;
    let mut type_meta = Vec::new();
    put_bytes(&mut type_meta, 1, api_version.as_bytes());
    put_bytes(&mut type_meta, 2, kind.as_bytes());
    let mut out = Vec::with_capacity(raw.len() + type_meta.len() + 16);
    out.extend_from_slice(MAGIC);
    put_bytes(&mut out, 1, &type_meta);
    put_bytes(&mut out, 2, &raw);
    put_bytes(&mut out, 3, b"");
    put_bytes(&mut out, 4, b"");
    Ok(out)
}

/// One frame of a protobuf watch: the length of a `WatchEvent` (4 bytes, big-endian) and the
/// event, whose object is `object` enveloped.
pub fn watch_frame(event_type: &str, object: &Value) -> Result<Vec<u8>, ProtobufError> {
    let mut extension = Vec::new();
    put_bytes(&mut extension, 1, &encode(object)?);
    let mut event = Vec::new();
    put_bytes(&mut event, 1, event_type.as_bytes());
    put_bytes(&mut event, 2, &extension);
    let len = u32::try_from(event.len()).map_err(|_| malformed("the watch event is larger than 4 GiB"))?;
    let mut frame = Vec::with_capacity(event.len() + 4);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&event);
    Ok(frame)
}

/// The event type and object of one watch frame (what [`watch_frame`] wrote), and the bytes
/// after it.
pub fn decode_watch_frame(frame: &[u8]) -> Result<(String, Value, &[u8]), ProtobufError> {
    let (len, rest) = frame.split_first_chunk::<4>().ok_or_else(|| malformed("a watch frame without its length"))?;
    let len = u32::from_be_bytes(*len) as usize;
    if rest.len() < len {
        return Err(malformed("a truncated watch frame"));
    }
    let (event, rest) = rest.split_at(len);
    let mut event_type = String::new();
    let mut object = Value::Null;
    for (number, wire) in fields(event)? {
        match (number, wire) {
            (1, Wire::Bytes(b)) => event_type = String::from_utf8_lossy(b).into_owned(),
            (2, Wire::Bytes(b)) => object = decode_special(RAW_EXTENSION, b)?,
            _ => {}
        }
    }
    Ok((event_type, object, rest))
}

// ---- the wire format ----

/// One field's value as it is on the wire.
#[derive(Clone, Copy, Debug)]
enum Wire<'a> {
    Varint(u64),
    /// No Kubernetes message has a fixed-width field; these are skipped.
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32,
}

fn read_varint(data: &[u8], pos: &mut usize) -> Result<u64, ProtobufError> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *data.get(*pos).ok_or_else(|| malformed("a truncated varint"))?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err(malformed("a varint longer than 10 bytes"))
}

/// The fields of a message in wire order.
fn fields(data: &[u8]) -> Result<Vec<(u32, Wire<'_>)>, ProtobufError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let key = read_varint(data, &mut pos)?;
        let number = u32::try_from(key >> 3).map_err(|_| malformed("a field number out of range"))?;
        let wire = match key & 7 {
            0 => Wire::Varint(read_varint(data, &mut pos)?),
            1 => {
                data.get(pos..pos + 8).ok_or_else(|| malformed("a truncated fixed64"))?;
                pos += 8;
                Wire::Fixed64
            }
            2 => {
                let len =
                    usize::try_from(read_varint(data, &mut pos)?).map_err(|_| malformed("a length out of range"))?;
                let b = data.get(pos..pos.saturating_add(len)).ok_or_else(|| malformed("a truncated field"))?;
                pos += len;
                Wire::Bytes(b)
            }
            5 => {
                data.get(pos..pos + 4).ok_or_else(|| malformed("a truncated fixed32"))?;
                pos += 4;
                Wire::Fixed32
            }
            t => return Err(malformed(format!("wire type {t} of field {number} is not supported"))),
        };
        out.push((number, wire));
    }
    Ok(out)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_key(out: &mut Vec<u8>, number: u32, wire_type: u8) {
    put_varint(out, (u64::from(number) << 3) | u64::from(wire_type));
}

fn put_bytes(out: &mut Vec<u8>, number: u32, b: &[u8]) {
    put_key(out, number, 2);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_int(out: &mut Vec<u8>, number: u32, n: i64) {
    put_key(out, number, 0);
    put_varint(out, n as u64);
}

// ---- JSON → protobuf ----

fn encode_message(message: &Message, v: &Value, out: &mut Vec<u8>) -> Result<(), ProtobufError> {
    let obj = v.as_object().ok_or_else(|| malformed(format!("{} must be a JSON object, not {v}", message.name)))?;
    for field in &message.fields {
        if field.inline {
            if let Type::Message(name) = &field.ty {
                let mut body = Vec::new();
                encode_special(name, v, &mut body)?;
                put_bytes(out, field.number, &body);
            }
            continue;
        }
        let Some(value) = obj.get(&field.name).filter(|v| !v.is_null()) else { continue };
        match field.label {
            Label::Optional => encode_value(field.number, &field.ty, value, out)?,
            Label::Repeated => {
                let items = value
                    .as_array()
                    .ok_or_else(|| malformed(format!("{}.{} must be an array", message.name, field.name)))?;
                for item in items {
                    encode_value(field.number, &field.ty, item, out)?;
                }
            }
            Label::Map => {
                let entries = value
                    .as_object()
                    .ok_or_else(|| malformed(format!("{}.{} must be an object", message.name, field.name)))?;
                let mut keys: Vec<&String> = entries.keys().collect();
                keys.sort();
                for key in keys {
                    let mut entry = Vec::new();
                    put_bytes(&mut entry, 1, key.as_bytes());
                    if !entries[key].is_null() {
                        encode_value(2, &field.ty, &entries[key], &mut entry)?;
                    }
                    put_bytes(out, field.number, &entry);
                }
            }
        }
    }
    Ok(())
}

fn as_int(v: &Value) -> Result<i64, ProtobufError> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or_else(|| malformed(format!("{n} is not an integer"))),
        Value::String(s) => s.parse().map_err(|_| malformed(format!("{s:?} is not an integer"))),
        Value::Bool(b) => Ok(i64::from(*b)),
        other => Err(malformed(format!("{other} is not an integer"))),
    }
}

fn encode_value(number: u32, ty: &Type, v: &Value, out: &mut Vec<u8>) -> Result<(), ProtobufError> {
    match ty {
        Type::String => match v {
            Value::String(s) => put_bytes(out, number, s.as_bytes()),
            other => put_bytes(out, number, other.to_string().as_bytes()),
        },
        Type::Bytes => {
            let s = v.as_str().ok_or_else(|| malformed(format!("{v} is not base64 text")))?;
            let b = STANDARD.decode(s).map_err(|e| malformed(format!("{s:?} is not base64: {e}")))?;
            put_bytes(out, number, &b);
        }
        Type::Int32 | Type::Int64 => put_int(out, number, as_int(v)?),
        Type::Bool => put_int(out, number, i64::from(v.as_bool().unwrap_or(false))),
        Type::Message(name) => {
            let mut body = Vec::new();
            encode_special(name, v, &mut body)?;
            put_bytes(out, number, &body);
        }
    }
    Ok(())
}

/// A message whose only field is `repeated string items = 1` (`Verbs`, `ExtraValue`): a JSON array.
fn is_string_list(message: &Message) -> bool {
    matches!(message.fields.as_slice(), [f] if f.name == "items" && f.number == 1 && f.label == Label::Repeated && f.ty == Type::String)
}

fn encode_special(name: &str, v: &Value, out: &mut Vec<u8>) -> Result<(), ProtobufError> {
    match name {
        QUANTITY | QUANTITY_VALUE => encode_value(1, &Type::String, v, out),
        INT_OR_STRING => {
            match v {
                Value::String(s) => {
                    put_int(out, 1, 1);
                    put_bytes(out, 3, s.as_bytes());
                }
                other => {
                    put_int(out, 1, 0);
                    put_int(out, 2, as_int(other)?);
                }
            }
            Ok(())
        }
        TIME | MICRO_TIME => {
            let s = v.as_str().ok_or_else(|| malformed(format!("{v} is not a time")))?;
            let t = DateTime::parse_from_rfc3339(s)
                .map_err(|e| malformed(format!("{s:?} is not an RFC 3339 time: {e}")))?;
            put_int(out, 1, t.timestamp());
            if t.timestamp_subsec_nanos() != 0 {
                put_int(out, 2, i64::from(t.timestamp_subsec_nanos()));
            }
            Ok(())
        }
        DURATION => {
            let s = v.as_str().ok_or_else(|| malformed(format!("{v} is not a duration")))?;
            put_int(out, 1, parse_duration(s).ok_or_else(|| malformed(format!("{s:?} is not a duration")))?);
            Ok(())
        }
        FIELDS_V1 | RAW_EXTENSION => {
            put_bytes(out, 1, &serde_json::to_vec(v).unwrap_or_default());
            Ok(())
        }
        _ => {
            let message = Schema::get().message(name).ok_or_else(|| malformed(format!("no message {name}")))?;
            if is_string_list(message) && v.is_array() {
                for item in v.as_array().into_iter().flatten() {
                    encode_value(1, &Type::String, item, out)?;
                }
                return Ok(());
            }
            encode_message(message, v, out)
        }
    }
}

// ---- protobuf → JSON ----

fn decode_message(message: &Message, data: &[u8]) -> Result<Value, ProtobufError> {
    let mut obj = Map::new();
    for (number, wire) in fields(data)? {
        let Some(field) = message.by_number(number) else { continue };
        match field.label {
            Label::Optional if field.inline => {
                if let Value::Object(members) = decode_value(&field.ty, wire)? {
                    obj.extend(members);
                }
            }
            Label::Optional => {
                let v = decode_value(&field.ty, wire)?;
                let unset = match &v {
                    Value::Null => true,
                    Value::String(s) => field.omitempty && s.is_empty(),
                    Value::Bool(b) => field.omitempty && !b,
                    Value::Number(n) => field.omitempty && n.as_i64() == Some(0),
                    _ => false,
                };
                if unset {
                    obj.remove(&field.name);
                } else {
                    obj.insert(field.name.clone(), v);
                }
            }
            Label::Repeated => {
                let items = obj.entry(field.name.clone()).or_insert_with(|| Value::Array(vec![]));
                let Value::Array(items) = items else { continue };
                match (wire, &field.ty) {
                    // A packed run of integers or booleans.
                    (Wire::Bytes(b), Type::Int32 | Type::Int64 | Type::Bool) => {
                        let mut pos = 0;
                        while pos < b.len() {
                            items.push(decode_value(&field.ty, Wire::Varint(read_varint(b, &mut pos)?))?);
                        }
                    }
                    _ => items.push(decode_value(&field.ty, wire)?),
                }
            }
            Label::Map => {
                let Wire::Bytes(entry) = wire else {
                    return Err(malformed(format!("map {} is not an entry", field.name)));
                };
                let mut key = String::new();
                let mut value = None;
                for (n, w) in fields(entry)? {
                    match (n, w) {
                        (1, Wire::Bytes(b)) => key = String::from_utf8_lossy(b).into_owned(),
                        (2, w) => value = Some(decode_value(&field.ty, w)?),
                        _ => {}
                    }
                }
                let value = match value {
                    Some(v) => v,
                    None => decode_value(&field.ty, Wire::Bytes(&[]))?,
                };
                let map = obj.entry(field.name.clone()).or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(map) = map {
                    map.insert(key, value);
                }
            }
        }
    }
    Ok(Value::Object(obj))
}

fn decode_value(ty: &Type, wire: Wire<'_>) -> Result<Value, ProtobufError> {
    Ok(match (ty, wire) {
        (Type::String, Wire::Bytes(b)) => Value::String(String::from_utf8_lossy(b).into_owned()),
        (Type::Bytes, Wire::Bytes(b)) => Value::String(STANDARD.encode(b)),
        (Type::Int32, Wire::Varint(n)) => Value::from(n as i64 as i32),
        (Type::Int64, Wire::Varint(n)) => Value::from(n as i64),
        (Type::Bool, Wire::Varint(n)) => Value::Bool(n != 0),
        (Type::Message(name), Wire::Bytes(b)) => decode_special(name, b)?,
        (ty, wire) => return Err(malformed(format!("a {ty:?} field sent as {wire:?}"))),
    })
}

fn decode_special(name: &str, data: &[u8]) -> Result<Value, ProtobufError> {
    let scalar = |n: u32| -> Result<Option<Wire<'_>>, ProtobufError> {
        Ok(fields(data)?.into_iter().rev().find(|(number, _)| *number == n).map(|(_, w)| w))
    };
    let int = |n: u32| -> Result<i64, ProtobufError> {
        Ok(match scalar(n)? {
            Some(Wire::Varint(v)) => v as i64,
            _ => 0,
        })
    };
    let bytes = |n: u32| -> Result<&[u8], ProtobufError> {
        Ok(match scalar(n)? {
            Some(Wire::Bytes(b)) => b,
            _ => &[],
        })
    };
    Ok(match name {
        QUANTITY | QUANTITY_VALUE => Value::String(String::from_utf8_lossy(bytes(1)?).into_owned()),
        INT_OR_STRING => match int(1)? {
            1 => Value::String(String::from_utf8_lossy(bytes(3)?).into_owned()),
            _ => Value::from(int(2)? as i32),
        },
        TIME | MICRO_TIME => {
            let (seconds, nanos) = (int(1)?, int(2)? as u32);
            if seconds == 0 && nanos == 0 {
                return Ok(Value::Null);
            }
            let t = DateTime::<Utc>::from_timestamp(seconds, nanos)
                .ok_or_else(|| malformed(format!("time {seconds}s out of range")))?;
            let format = if name == TIME { SecondsFormat::Secs } else { SecondsFormat::Micros };
            Value::String(t.to_rfc3339_opts(format, true))
        }
        DURATION => Value::String(format_duration(int(1)?)),
        FIELDS_V1 | RAW_EXTENSION => {
            let raw = bytes(1)?;
            if raw.is_empty() {
                Value::Null
            } else if raw.starts_with(MAGIC) {
                decode(raw)?
            } else {
                serde_json::from_slice(raw).map_err(|e| malformed(format!("embedded JSON: {e}")))?
            }
        }
        UNKNOWN => return Err(malformed("a nested runtime.Unknown")),
        _ => {
            let message = Schema::get().message(name).ok_or_else(|| malformed(format!("no message {name}")))?;
            let v = decode_message(message, data)?;
            if is_string_list(message) {
                return Ok(v.get("items").cloned().unwrap_or_else(|| Value::Array(vec![])));
            }
            v
        }
    })
}

// ---- Go durations (`metav1.Duration` is one in JSON) ----

/// `nanos` as Go's `time.Duration.String` writes it (`1h2m3.5s`, `150ms`, `0s`).
fn format_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    let fraction = |value: u64, unit: u64| -> String {
        let whole = value / unit;
        let rest = value % unit;
        if rest == 0 {
            return whole.to_string();
        }
        let digits = unit.ilog10() as usize;
        let frac = format!("{rest:0digits$}");
        format!("{whole}.{}", frac.trim_end_matches('0'))
    };
    if n < 1_000 {
        return format!("{sign}{n}ns");
    }
    if n < 1_000_000 {
        return format!("{sign}{}µs", fraction(n, 1_000));
    }
    if n < 1_000_000_000 {
        return format!("{sign}{}ms", fraction(n, 1_000_000));
    }
    let hours = n / 3_600_000_000_000;
    let minutes = (n / 60_000_000_000) % 60;
    let seconds = fraction(n % 60_000_000_000, 1_000_000_000);
    match (hours, minutes) {
        (0, 0) => format!("{sign}{seconds}s"),
        (0, m) => format!("{sign}{m}m{seconds}s"),
        (h, m) => format!("{sign}{h}h{m}m{seconds}s"),
    }
}

/// Go's `time.ParseDuration`, in nanoseconds.
fn parse_duration(s: &str) -> Option<i64> {
    let (sign, mut rest) = match s.strip_prefix('-') {
        Some(r) => (-1.0, r),
        None => (1.0, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * unit;
    }
    Some((sign * total).round() as i64)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn round_trip(obj: &Value) -> Value {
        let body = encode(obj).expect("encodes");
        assert!(body.starts_with(b"k8s\0"));
        decode(&body).expect("decodes")
    }

    #[test]
    fn a_deployment_round_trips() {
        let deployment = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "web",
                "namespace": "default",
                "uid": "6c8f1c2e-0000-4000-8000-000000000001",
                "resourceVersion": "42",
                "generation": 3,
                "creationTimestamp": "2024-03-01T10:20:30Z",
                "labels": {"app": "web", "tier": "front"},
                "annotations": {"deployment.kubernetes.io/revision": "2"},
                "managedFields": [{"manager": "kubectl-create", "operation": "Update", "apiVersion": "apps/v1",
                    "time": "2024-03-01T10:20:30Z", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {"f:replicas": {}}}}],
            },
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "terminationGracePeriodSeconds": 0,
                        "containers": [{
                            "name": "nginx",
                            "image": "nginx:1.27",
                            "args": ["-g", ""],
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}},
                        }],
                    },
                },
            },
            "status": {
                "observedGeneration": 3,
                "replicas": 2,
                "conditions": [{"type": "Available", "status": "True",
                    "lastUpdateTime": "2024-03-01T10:20:31Z", "lastTransitionTime": "2024-03-01T10:20:31Z",
                    "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."}],
            },
        });
        assert_eq!(round_trip(&deployment), deployment);
    }

    #[test]
    fn a_pod_disruption_budget_round_trips() {
        let pdb = json!({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"minAvailable": 1, "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}},
            "status": {"currentHealthy": 0, "desiredHealthy": 1, "disruptionsAllowed": 0, "expectedPods": 1,
                "disruptedPods": {"web-1": "2024-03-01T10:20:30Z"}},
        });
        assert_eq!(round_trip(&pdb), pdb);
        let percent = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "p"}, "spec": {"maxUnavailable": "50%"}});
        assert_eq!(round_trip(&percent), percent);
    }

    #[test]
    fn inlined_members_sit_in_their_parent() {
        let pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {
                "containers": [{"name": "c", "image": "busybox",
                    "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "a"}}}],
                    "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 5}}],
                "volumes": [{"name": "conf", "configMap": {"name": "cm", "defaultMode": 420}}],
            },
        });
        assert_eq!(round_trip(&pod), pod);
    }

    #[test]
    fn a_list_round_trips() {
        let list = json!({
            "apiVersion": "v1",
            "kind": "SecretList",
            "metadata": {"resourceVersion": "7", "continue": "abc", "remainingItemCount": 3},
            "items": [
                {"metadata": {"name": "a", "namespace": "default"}, "type": "Opaque",
                    "data": {"password": STANDARD.encode(b"\x00s3cr\xffet")}},
                {"metadata": {"name": "b", "namespace": "default"}, "immutable": false},
            ],
        });
        assert_eq!(round_trip(&list), list);
    }

    #[test]
    fn a_status_round_trips() {
        let status = json!({
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "message": "deployments.apps \"web\" not found",
            "reason": "NotFound",
            "details": {"name": "web", "group": "apps", "kind": "deployments",
                "causes": [{"reason": "FieldValueRequired", "message": "Required value", "field": "spec.replicas"}]},
            "code": 404,
        });
        assert_eq!(round_trip(&status), status);
    }

    #[test]
    fn verbs_times_and_durations_have_their_json_forms() {
        let list = json!({"apiVersion": "v1", "kind": "APIResourceList", "groupVersion": "v1",
            "resources": [{"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod",
                "verbs": ["get", "list"]}]});
        assert_eq!(round_trip(&list), list);
        let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
            "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15, "renewTime": "2024-03-01T10:20:30.123456Z"}});
        assert_eq!(round_trip(&lease), lease);
        for d in ["0s", "1h0m0s", "2m3.5s", "150ms", "1.5µs", "7ns", "-3s"] {
            assert_eq!(format_duration(parse_duration(d).expect(d)), d);
        }
    }

    #[test]
    fn go_zero_values_read_as_unset() {
        // What Go writes for a Namespace built with only a name: every non-pointer field, empty.
        let mut meta = Vec::new();
        put_bytes(&mut meta, 1, b"team-a");
        put_bytes(&mut meta, 2, b"");
        put_bytes(&mut meta, 8, &[]); // creationTimestamp: the zero time
        put_int(&mut meta, 7, 0); // generation
        let mut ns = Vec::new();
        put_bytes(&mut ns, 1, &meta);
        put_bytes(&mut ns, 2, &[]);
        put_bytes(&mut ns, 3, &[]);
        let mut type_meta = Vec::new();
        put_bytes(&mut type_meta, 1, b"v1");
        put_bytes(&mut type_meta, 2, b"Namespace");
        let mut body = MAGIC.to_vec();
        put_bytes(&mut body, 1, &type_meta);
        put_bytes(&mut body, 2, &ns);
        assert_eq!(
            decode(&body).expect("decodes"),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}, "spec": {}, "status": {}})
        );
    }

    #[test]
    fn kinds_without_a_protobuf_form_are_named() {
        let cluster = json!({"apiVersion": "platform.tkestack.io/v1", "kind": "Cluster", "metadata": {"name": "c"}});
        let err = encode(&cluster).unwrap_err();
        assert!(matches!(err, ProtobufError::NoProtobufForm { .. }), "{err}");
        assert_eq!(err.to_string(), "Cluster (platform.tkestack.io/v1) has no protobuf form; send it as JSON or YAML");
        assert!(matches!(decode(b"{\"kind\":\"Pod\"}"), Err(ProtobufError::NotEnveloped)));
        assert!(matches!(decode(b"k8s\0\x0a"), Err(ProtobufError::Malformed(_))));
    }

    #[test]
    fn watch_frames_carry_enveloped_objects() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "resourceVersion": "5"}});
        let mut stream = watch_frame("ADDED", &pod).expect("frame");
        stream.extend(watch_frame("DELETED", &pod).expect("frame"));
        let (t, obj, rest) = decode_watch_frame(&stream).expect("first");
        assert_eq!((t.as_str(), &obj), ("ADDED", &pod));
        let (t, _, rest) = decode_watch_frame(rest).expect("second");
        assert_eq!((t.as_str(), rest.len()), ("DELETED", 0));
    }
}
