//! The audit hook in the request path: the authentication layer ([`crate::auth::authenticate_audited`])
//! asks an [`Auditor`] (the audit component's policy) at what [`Level`] a request is recorded, and
//! hands it the finished [`Event`] (`audit.k8s.io/v1`, the shape kube-apiserver's audit webhook
//! sends, so the audit component ingests the platform's own events and business clusters' alike).
//!
//! The hook must not slow requests down: [`Auditor::level`] is a pure policy lookup and
//! [`Auditor::record`] must not block (the audit component puts events on a bounded channel that a
//! background writer drains in batches). Bodies are captured only when the level asks for them and
//! they are small and already complete ([`MAX_CAPTURED_BODY`]); watches and other streams are
//! recorded when their response starts, without the stream.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{UserInfo, auth::Attributes};

/// How much of a request is recorded (audit.k8s.io's levels, in increasing order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    /// Not recorded.
    #[default]
    None,
    /// Who, what, when and the result; no bodies.
    Metadata,
    /// Metadata and the request body.
    Request,
    /// Metadata and both bodies.
    RequestResponse,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "None",
            Level::Metadata => "Metadata",
            Level::Request => "Request",
            Level::RequestResponse => "RequestResponse",
        }
    }
}

/// Bodies larger than this (or of unknown length) are left out of an event.
pub const MAX_CAPTURED_BODY: u64 = 256 * 1024;

/// The user of an event (`authentication.k8s.io/v1` UserInfo).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EventUser {
    pub username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
}

impl From<&UserInfo> for EventUser {
    fn from(u: &UserInfo) -> Self {
        EventUser { username: u.name.clone(), uid: u.uid.clone(), groups: u.groups.clone(), extra: u.extra.clone() }
    }
}

/// What a request was about (`audit.k8s.io/v1` ObjectReference).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ObjectRef {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub resource: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_group: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subresource: String,
}

/// The answer (the parts of a `metav1.Status` an event keeps).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResponseStatus {
    pub code: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

/// One audit event, `audit.k8s.io/v1` Event. Every field has a default so events from any
/// kube-apiserver version parse.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Event {
    pub kind: String,
    pub api_version: String,
    pub level: String,
    #[serde(rename = "auditID")]
    pub audit_id: String,
    pub stage: String,
    #[serde(rename = "requestURI")]
    pub request_uri: String,
    pub verb: String,
    pub user: EventUser,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impersonated_user: Option<EventUser>,
    #[serde(rename = "sourceIPs", skip_serializing_if = "Vec::is_empty")]
    pub source_ips: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user_agent: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_ref: Option<ObjectRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_status: Option<ResponseStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_object: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_object: Option<Value>,
    /// RFC 3339 with microseconds.
    pub request_received_timestamp: String,
    pub stage_timestamp: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The audit policy and the destination of events (implemented by the audit component).
pub trait Auditor: Send + Sync {
    /// The level `attributes` (after authentication and impersonation) are recorded at. Called
    /// for every authenticated request: a lookup, no I/O.
    fn level(&self, attributes: &Attributes) -> Level;
    /// Takes a finished event; must return at once (queue it, drop and count it when full).
    fn record(&self, event: Event);
}

/// The current time as audit events write it (RFC 3339, microseconds, UTC).
pub fn timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// A JSON body worth keeping in an event (JSON objects only; other encodings are left out).
pub fn body_object(content_type: Option<&str>, body: &[u8]) -> Option<Value> {
    if body.is_empty() || content_type.is_some_and(|c| !c.contains("json")) {
        return None;
    }
    serde_json::from_slice::<Value>(body).ok().filter(Value::is_object)
}

/// The event of `attributes` as its request arrived; the answer is filled in by
/// [`finish`].
pub fn begin(level: Level, attributes: &Attributes, uri: &str, original: Option<&UserInfo>) -> Event {
    let impersonated = original.filter(|o| o.name != attributes.user.name);
    let user = impersonated.map(EventUser::from).unwrap_or_else(|| EventUser::from(&attributes.user));
    let object_ref = attributes.resource_request.then(|| ObjectRef {
        resource: attributes.resource.clone(),
        namespace: attributes.namespace.clone(),
        name: attributes.name.clone(),
        api_group: attributes.api_group.clone(),
        api_version: attributes.api_version.clone(),
        subresource: attributes.subresource.clone(),
        ..Default::default()
    });
    let now = timestamp();
    Event {
        kind: "Event".into(),
        api_version: "audit.k8s.io/v1".into(),
        level: level.as_str().into(),
        audit_id: uuid::Uuid::new_v4().to_string(),
        stage: "ResponseComplete".into(),
        request_uri: uri.to_string(),
        verb: attributes.verb.clone(),
        user,
        impersonated_user: impersonated.map(|_| EventUser::from(&attributes.user)),
        object_ref,
        request_received_timestamp: now.clone(),
        stage_timestamp: now,
        ..Default::default()
    }
}

/// Completes `event` with the answer: its code, and from an error `Status` (or a created
/// object) what the event keeps of it.
pub fn finish(event: &mut Event, code: u16, body: Option<&Value>, keep_response: bool) {
    let mut status = ResponseStatus { code: code.into(), ..Default::default() };
    if let Some(body) = body {
        if body.get("kind").and_then(Value::as_str) == Some("Status") {
            let text = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
            status.status = text("status");
            status.message = text("message");
            status.reason = text("reason");
            status.details = body.get("details").cloned();
        } else if let Some(r) = event.object_ref.as_mut() {
            let meta = body.get("metadata");
            let text = |k: &str| meta.and_then(|m| m.get(k)).and_then(Value::as_str).unwrap_or_default().to_string();
            if r.name.is_empty() && event.verb == "create" {
                r.name = text("name");
            }
            if r.uid.is_empty() {
                r.uid = text("uid");
            }
            r.resource_version = text("resourceVersion");
        }
        if keep_response {
            event.response_object = Some(body.clone());
        }
    }
    if status.status.is_empty() {
        status.status = if code < 400 { "Success" } else { "Failure" }.into();
    }
    event.response_status = Some(status);
    event.stage_timestamp = timestamp();
}

#[cfg(test)]
mod tests {
    use axum::http::{Method, Uri};

    use super::*;

    fn attrs(method: Method, uri: &str, user: &str) -> Attributes {
        let uri: Uri = uri.parse().unwrap();
        Attributes::from_request(&method, &uri, UserInfo { name: user.into(), ..Default::default() })
    }

    #[test]
    fn a_created_object_names_the_event_and_errors_keep_their_status() {
        let a = attrs(Method::POST, "/api/v1/namespaces/ns/configmaps", "alice");
        let mut e = begin(Level::Metadata, &a, "/api/v1/namespaces/ns/configmaps", None);
        assert_eq!(e.verb, "create");
        finish(
            &mut e,
            201,
            Some(&serde_json::json!({"kind": "ConfigMap", "metadata": {"name": "cm1", "uid": "u1"}})),
            false,
        );
        let r = e.object_ref.as_ref().unwrap();
        assert_eq!((r.name.as_str(), r.uid.as_str(), r.namespace.as_str()), ("cm1", "u1", "ns"));
        assert_eq!(e.response_status.as_ref().unwrap().status, "Success");
        assert!(e.response_object.is_none());

        let mut e = begin(Level::Metadata, &a, "/x", None);
        let status =
            serde_json::json!({"kind": "Status", "status": "Failure", "reason": "AlreadyExists", "message": "exists"});
        finish(&mut e, 409, Some(&status), false);
        let s = e.response_status.unwrap();
        assert_eq!((s.code, s.reason.as_str(), s.message.as_str()), (409, "AlreadyExists", "exists"));
    }

    #[test]
    fn impersonation_records_both_users_and_events_round_trip() {
        let a = attrs(Method::GET, "/api/v1/pods", "bob");
        let original = UserInfo { name: "admin".into(), ..Default::default() };
        let e = begin(Level::Request, &a, "/api/v1/pods", Some(&original));
        assert_eq!(e.user.username, "admin");
        assert_eq!(e.impersonated_user.as_ref().unwrap().username, "bob");
        assert_eq!(e.verb, "list");
        let text = serde_json::to_string(&e).unwrap();
        assert!(text.contains("\"auditID\"") && text.contains("\"requestURI\""), "{text}");
        let back: Event = serde_json::from_str(&text).unwrap();
        assert_eq!(back, e);
        // What another kube-apiserver sends, with fields we do not know, parses.
        let other: Event = serde_json::from_str(r#"{"level":"Metadata","verb":"get","newField":1}"#).unwrap();
        assert_eq!(other.verb, "get");
    }

    #[test]
    fn only_json_objects_are_kept_as_bodies() {
        assert!(body_object(Some("application/json"), br#"{"a":1}"#).is_some());
        assert!(body_object(Some("application/vnd.kubernetes.protobuf"), b"k8s\0").is_none());
        assert!(body_object(None, b"[1]").is_none());
        assert!(body_object(None, b"").is_none());
    }
}
