//! Kubernetes `Status` errors. Every failing API call answers with one of these, so clients
//! (`kubectl`, kube-rs, the Python client) show the reason, and a person can act on the message.

use serde_json::{Value, json};

/// What is wrong with one field of an object (a `StatusCause` in Kubernetes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub kind: FieldErrorKind,
    /// The field path, e.g. `spec.ip` or `spec.machines[0].port`.
    pub field: String,
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldErrorKind {
    Required,
    Invalid,
    NotSupported,
    Forbidden,
    Duplicate,
    TooLong,
    /// Server-side apply: another field manager owns the field.
    FieldManagerConflict,
}

impl FieldErrorKind {
    /// The cause type Kubernetes puts in `details.causes[].reason`.
    pub fn cause_type(self) -> &'static str {
        match self {
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::Invalid => "FieldValueInvalid",
            FieldErrorKind::NotSupported => "FieldValueNotSupported",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
            FieldErrorKind::Duplicate => "FieldValueDuplicate",
            FieldErrorKind::TooLong => "FieldValueTooLong",
            FieldErrorKind::FieldManagerConflict => "FieldManagerConflict",
        }
    }
}

impl FieldError {
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { kind: FieldErrorKind::Required, field: field.into(), detail: detail.into() }
    }
    /// `value` is quoted into the message as Kubernetes does (`Invalid value: "x": detail`).
    pub fn invalid(field: impl Into<String>, value: impl std::fmt::Display, detail: impl Into<String>) -> Self {
        Self {
            kind: FieldErrorKind::Invalid,
            field: field.into(),
            detail: format!("Invalid value: \"{value}\": {}", detail.into()),
        }
    }
    pub fn not_supported(field: impl Into<String>, value: impl std::fmt::Display, valid: &[&str]) -> Self {
        let valid: Vec<String> = valid.iter().map(|v| format!("\"{v}\"")).collect();
        Self {
            kind: FieldErrorKind::NotSupported,
            field: field.into(),
            detail: format!("Unsupported value: \"{value}\": supported values: {}", valid.join(", ")),
        }
    }
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { kind: FieldErrorKind::Forbidden, field: field.into(), detail: format!("Forbidden: {}", detail.into()) }
    }
    pub fn duplicate(field: impl Into<String>, value: impl std::fmt::Display) -> Self {
        Self { kind: FieldErrorKind::Duplicate, field: field.into(), detail: format!("Duplicate value: \"{value}\"") }
    }
    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        Self {
            kind: FieldErrorKind::TooLong,
            field: field.into(),
            detail: format!("Too long: must have at most {max} characters"),
        }
    }

    fn message(&self) -> String {
        match self.kind {
            FieldErrorKind::Required if self.detail.is_empty() => format!("{}: Required value", self.field),
            FieldErrorKind::Required => format!("{}: Required value: {}", self.field, self.detail),
            _ => format!("{}: {}", self.field, self.detail),
        }
    }
}

/// The reason of a Status error (`metav1.StatusReason`), which fixes its HTTP code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    NotAcceptable,
    AlreadyExists,
    Conflict,
    Gone,
    Expired,
    RequestEntityTooLarge,
    UnsupportedMediaType,
    Invalid,
    TooManyRequests,
    InternalError,
    ServiceUnavailable,
    Timeout,
}

impl Reason {
    pub fn code(self) -> u16 {
        match self {
            Reason::BadRequest => 400,
            Reason::Unauthorized => 401,
            Reason::Forbidden => 403,
            Reason::NotFound => 404,
            Reason::MethodNotAllowed => 405,
            Reason::NotAcceptable => 406,
            Reason::AlreadyExists | Reason::Conflict => 409,
            Reason::Gone | Reason::Expired => 410,
            Reason::RequestEntityTooLarge => 413,
            Reason::UnsupportedMediaType => 415,
            Reason::Invalid => 422,
            Reason::TooManyRequests => 429,
            Reason::InternalError => 500,
            Reason::ServiceUnavailable => 503,
            Reason::Timeout => 504,
        }
    }

    /// The reason a `Status` names (from another API server), if it is one of ours.
    pub fn parse(reason: &str) -> Option<Reason> {
        const ALL: [Reason; 17] = [
            Reason::BadRequest,
            Reason::Unauthorized,
            Reason::Forbidden,
            Reason::NotFound,
            Reason::MethodNotAllowed,
            Reason::NotAcceptable,
            Reason::AlreadyExists,
            Reason::Conflict,
            Reason::Gone,
            Reason::Expired,
            Reason::RequestEntityTooLarge,
            Reason::UnsupportedMediaType,
            Reason::Invalid,
            Reason::TooManyRequests,
            Reason::InternalError,
            Reason::ServiceUnavailable,
            Reason::Timeout,
        ];
        ALL.into_iter().find(|r| r.as_str() == reason)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BadRequest => "BadRequest",
            Reason::Unauthorized => "Unauthorized",
            Reason::Forbidden => "Forbidden",
            Reason::NotFound => "NotFound",
            Reason::MethodNotAllowed => "MethodNotAllowed",
            Reason::NotAcceptable => "NotAcceptable",
            Reason::AlreadyExists => "AlreadyExists",
            Reason::Conflict => "Conflict",
            Reason::Gone => "Gone",
            Reason::Expired => "Expired",
            Reason::RequestEntityTooLarge => "RequestEntityTooLarge",
            Reason::UnsupportedMediaType => "UnsupportedMediaType",
            Reason::Invalid => "Invalid",
            Reason::TooManyRequests => "TooManyRequests",
            Reason::InternalError => "InternalError",
            Reason::ServiceUnavailable => "ServiceUnavailable",
            Reason::Timeout => "Timeout",
        }
    }
}

/// An API error, rendered as a Kubernetes `Status` object.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub reason: Reason,
    pub message: String,
    /// `details.group` / `details.kind` (the resource plural, as Kubernetes fills it) / `details.name`.
    pub group: Option<String>,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub causes: Vec<FieldError>,
    /// Seconds a client should wait before retrying (429, 503, 504).
    pub retry_after_seconds: Option<u32>,
}

/// "clusters.platform.tkestack.io" or "clusters" for the core group.
fn qualified(group: &str, resource: &str) -> String {
    if group.is_empty() { resource.to_string() } else { format!("{resource}.{group}") }
}

impl ApiError {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            group: None,
            kind: None,
            name: None,
            causes: vec![],
            retry_after_seconds: None,
        }
    }

    fn about(mut self, group: &str, resource: &str, name: &str) -> Self {
        self.group = Some(group.to_string());
        self.kind = Some(resource.to_string());
        if !name.is_empty() {
            self.name = Some(name.to_string());
        }
        self
    }

    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        Self::new(Reason::NotFound, format!("{} \"{name}\" not found", qualified(group, resource)))
            .about(group, resource, name)
    }
    pub fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        Self::new(Reason::AlreadyExists, format!("{} \"{name}\" already exists", qualified(group, resource)))
            .about(group, resource, name)
    }
    pub fn conflict(group: &str, resource: &str, name: &str, detail: &str) -> Self {
        Self::new(
            Reason::Conflict,
            format!("Operation cannot be fulfilled on {} \"{name}\": {detail}", qualified(group, resource)),
        )
        .about(group, resource, name)
    }
    /// The standard optimistic-concurrency conflict.
    pub fn modified(group: &str, resource: &str, name: &str) -> Self {
        Self::conflict(
            group,
            resource,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }
    /// `kind` is the object kind (`Cluster`), as Kubernetes uses it in Invalid messages.
    pub fn invalid(group: &str, kind: &str, name: &str, causes: Vec<FieldError>) -> Self {
        let joined: Vec<String> = causes.iter().map(FieldError::message).collect();
        let list = if joined.len() == 1 { joined[0].clone() } else { format!("[{}]", joined.join(", ")) };
        let mut e = Self::new(Reason::Invalid, format!("{kind}.{group} \"{name}\" is invalid: {list}"))
            .about(group, kind, name);
        e.causes = causes;
        e
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(Reason::BadRequest, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(Reason::Unauthorized, message)
    }
    pub fn forbidden(group: &str, resource: &str, name: &str, detail: &str) -> Self {
        let what = if name.is_empty() {
            qualified(group, resource)
        } else {
            format!("{} \"{name}\"", qualified(group, resource))
        };
        Self::new(Reason::Forbidden, format!("{what} is forbidden: {detail}")).about(group, resource, name)
    }
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(Reason::MethodNotAllowed, message)
    }
    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(Reason::Gone, message)
    }
    /// 410 with reason Expired: what Kubernetes answers for an expired `continue` token.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(Reason::Expired, message)
    }
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(Reason::UnsupportedMediaType, message)
    }
    pub fn not_acceptable(message: impl Into<String>) -> Self {
        Self::new(Reason::NotAcceptable, message)
    }
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(Reason::RequestEntityTooLarge, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Reason::InternalError, format!("Internal error occurred: {}", message.into()))
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        let mut e = Self::new(Reason::ServiceUnavailable, message);
        e.retry_after_seconds = Some(1);
        e
    }
    pub fn timeout(message: impl Into<String>) -> Self {
        let mut e = Self::new(Reason::Timeout, message);
        e.retry_after_seconds = Some(1);
        e
    }
    pub fn too_many_requests(message: impl Into<String>, retry_after_seconds: u32) -> Self {
        let mut e = Self::new(Reason::TooManyRequests, message);
        e.retry_after_seconds = Some(retry_after_seconds);
        e
    }

    pub fn code(&self) -> u16 {
        self.reason.code()
    }

    /// The `Status` object (`kind: Status, apiVersion: v1`).
    pub fn to_status(&self) -> Value {
        let mut details = serde_json::Map::new();
        if let Some(n) = &self.name {
            details.insert("name".into(), json!(n));
        }
        if let Some(g) = &self.group {
            details.insert("group".into(), json!(g));
        }
        if let Some(k) = &self.kind {
            details.insert("kind".into(), json!(k));
        }
        if !self.causes.is_empty() {
            let causes: Vec<Value> = self
                .causes
                .iter()
                .map(|c| json!({"reason": c.kind.cause_type(), "message": c.detail, "field": c.field}))
                .collect();
            details.insert("causes".into(), Value::Array(causes));
        }
        if let Some(s) = self.retry_after_seconds {
            details.insert("retryAfterSeconds".into(), json!(s));
        }
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason.as_str(),
            "code": self.code(),
        });
        if !details.is_empty() {
            status["details"] = Value::Object(details);
        }
        status
    }
}

/// A success `Status` as returned by some deletes.
pub fn success_status(group: &str, resource: &str, name: &str, uid: Option<&str>) -> Value {
    let mut details = json!({"name": name, "group": group, "kind": resource});
    if let Some(uid) = uid {
        details["uid"] = json!(uid);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_names_field_and_kind() {
        let e = ApiError::invalid(
            "platform.tkestack.io",
            "Machine",
            "mc-1",
            vec![FieldError::invalid("spec.ip", "x.y", "must be a valid IP address")],
        );
        assert_eq!(e.code(), 422);
        assert_eq!(
            e.message,
            "Machine.platform.tkestack.io \"mc-1\" is invalid: spec.ip: Invalid value: \"x.y\": must be a valid IP address"
        );
        let s = e.to_status();
        assert_eq!(s["reason"], "Invalid");
        assert_eq!(s["details"]["causes"][0]["field"], "spec.ip");
        assert_eq!(s["details"]["causes"][0]["reason"], "FieldValueInvalid");
    }

    #[test]
    fn not_found_message_matches_kubernetes() {
        let e = ApiError::not_found("platform.tkestack.io", "clusters", "cls-a");
        assert_eq!(e.message, "clusters.platform.tkestack.io \"cls-a\" not found");
        assert_eq!(e.to_status()["code"], 404);
    }
}
