//! Kubernetes' self reviews, served by every API server for any authenticated caller:
//! `SelfSubjectReview` (`kubectl auth whoami`) and `SelfSubjectAccessReview` (`kubectl auth
//! can-i`), answered by the server's own authorizer so they tell the truth; and the conversion
//! of a `SubjectAccessReview`'s attributes that authorization webhooks share.

use std::sync::Arc;

use apimachinery::ApiError;
use axum::{
    Extension, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::Response,
    routing::post,
};
use serde_json::{Value, json};

use crate::{
    UserInfo,
    auth::{Attributes, Authorizer, Decision},
    http::{error_response, respond},
};

pub const SELF_SUBJECT_REVIEWS: &str = "/apis/authentication.k8s.io/v1/selfsubjectreviews";
pub const SELF_SUBJECT_ACCESS_REVIEWS: &str = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";

/// `userInfo` as Kubernetes writes it.
pub fn user_info_json(user: &UserInfo) -> Value {
    let mut info = json!({"username": user.name, "groups": user.groups});
    if !user.uid.is_empty() {
        info["uid"] = json!(user.uid);
    }
    if !user.extra.is_empty() {
        info["extra"] = json!(user.extra);
    }
    info
}

/// The attributes of a (Self)SubjectAccessReview's spec for `user`.
pub fn attributes_of(spec: &Value, user: UserInfo) -> Result<Attributes, ApiError> {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    if let Some(r) = spec.get("resourceAttributes").filter(|v| v.is_object()) {
        let verb = s(r, "verb");
        if verb.is_empty() {
            return Err(ApiError::bad_request("spec.resourceAttributes.verb is required"));
        }
        Ok(Attributes {
            user,
            verb,
            resource_request: true,
            path: String::new(),
            api_group: s(r, "group"),
            api_version: s(r, "version"),
            namespace: s(r, "namespace"),
            resource: s(r, "resource"),
            subresource: s(r, "subresource"),
            name: s(r, "name"),
        })
    } else if let Some(n) = spec.get("nonResourceAttributes").filter(|v| v.is_object()) {
        Ok(Attributes {
            user,
            verb: s(n, "verb"),
            resource_request: false,
            path: s(n, "path"),
            api_group: String::new(),
            api_version: String::new(),
            namespace: String::new(),
            resource: String::new(),
            subresource: String::new(),
            name: String::new(),
        })
    } else {
        Err(ApiError::bad_request("exactly one of spec.resourceAttributes and spec.nonResourceAttributes must be set"))
    }
}

fn accept_of(headers: &HeaderMap) -> String {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

/// The review in the body, JSON or (as kubectl sends built-in kinds) protobuf.
fn decode_review(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if crate::protobuf::is_media_type(content_type) {
        return crate::http::decode_protobuf(body);
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("the body is not a review: {e}")))
}

async fn self_subject_review(Extension(user): Extension<UserInfo>, headers: HeaderMap) -> Response {
    let review = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
        "metadata": {"creationTimestamp": null}, "status": {"userInfo": user_info_json(&user)}});
    respond(&accept_of(&headers), StatusCode::CREATED, &review)
}

async fn self_subject_access_review(
    State(authorizer): State<Arc<dyn Authorizer>>,
    Extension(user): Extension<UserInfo>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let review = match decode_review(&headers, &body) {
        Ok(v) => v,
        Err(e) => return error_response(&e),
    };
    let spec = review.get("spec").cloned().unwrap_or(Value::Null);
    let attrs = match attributes_of(&spec, user) {
        Ok(a) => a,
        Err(e) => return error_response(&e),
    };
    let status = match authorizer.authorize(&attrs).await {
        Decision::Allow => json!({"allowed": true}),
        Decision::Deny(reason) if reason.is_empty() => json!({"allowed": false}),
        Decision::Deny(reason) => json!({"allowed": false, "reason": reason}),
    };
    let api_version = review.get("apiVersion").cloned().unwrap_or(json!("authorization.k8s.io/v1"));
    let answer = json!({"apiVersion": api_version, "kind": "SelfSubjectAccessReview",
        "metadata": {"creationTimestamp": null}, "spec": spec, "status": status});
    respond(&accept_of(&headers), StatusCode::CREATED, &answer)
}

/// The self-review routes (inside authentication, so the caller is known).
pub fn routes(authorizer: Arc<dyn Authorizer>) -> Router {
    Router::new()
        .route(SELF_SUBJECT_REVIEWS, post(self_subject_review))
        .route(SELF_SUBJECT_ACCESS_REVIEWS, post(self_subject_access_review))
        .with_state(authorizer)
}
