//! The `/auth/` endpoints (reference 3.5): `/auth/authn` (TokenReview: business clusters'
//! kube-apiservers check the platform's tokens and API keys), `/auth/authz` and
//! `/auth/restauthz` (SubjectAccessReview: they ask the platform's policies), `/auth/batchauthz`
//! (one verdict per attribute set: the console hides what a user may not do).
//!
//! A review about a business cluster (the cluster's own credential asks, or the header or
//! `?cluster=` names it) is decided as a request into that cluster
//! ([`CasbinAuthorizer::check_in_cluster`]): a project member's request in a namespace of their
//! project is decided in the project's domain, as through the platform's proxy.
//!
//! They sit behind authentication like every route. Asking about someone else needs a platform
//! administrator or a cluster's credential (any caller asking about themselves may batch).

use std::sync::Arc;

use api::auth::subject_access_review::{AllowedStatus, ResourceAttributes, SubjectAccessReview};
use apimachinery::ApiError;
use apiserver::{
    UserInfo,
    auth::{Attributes, Authorizer, Decision},
    http::error_response,
    reviews::user_info_json,
};
use axum::{
    Extension, Json, Router,
    body::Bytes,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::CasbinAuthorizer;

pub struct Webhooks {
    pub authorizer: Arc<CasbinAuthorizer>,
    pub tokens: Arc<crate::component::Handle>,
    /// Who owns the business clusters' namespaces.
    pub owners: Arc<dyn super::clusters::Owners>,
}

/// Who may ask about other users: platform administrators and business clusters' credentials
/// (certificate users of the `system:` groups the platform issues to clusters).
fn may_review_others(caller: &UserInfo) -> bool {
    caller.is_admin() || caller.groups.iter().any(|g| g == "system:nodes" || g == "tke:clusters")
}

#[derive(Deserialize, Default)]
pub struct ClusterQuery {
    #[serde(default)]
    cluster: String,
}

/// The business cluster a review is about: the caller's own when it is a cluster's credential
/// (group `cluster:{name}` with `tke:clusters`), else header `X-TKE-ClusterName` or `?cluster=`.
fn cluster_of(caller: &UserInfo, headers: &HeaderMap, q: &ClusterQuery) -> Option<String> {
    if caller.groups.iter().any(|g| g == "tke:clusters")
        && let Some(c) = caller.groups.iter().find_map(|g| g.strip_prefix("cluster:"))
    {
        return Some(c.to_string());
    }
    headers
        .get("X-TKE-ClusterName")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| (!q.cluster.is_empty()).then(|| q.cluster.clone()))
        .filter(|c| !c.is_empty())
}

fn attrs_of(r: &ResourceAttributes, user: UserInfo) -> Attributes {
    Attributes {
        user,
        verb: r.verb.clone(),
        resource_request: true,
        path: String::new(),
        api_group: r.group.clone(),
        api_version: r.version.clone(),
        namespace: r.namespace.clone(),
        resource: r.resource.clone(),
        subresource: r.subresource.clone(),
        name: r.name.clone(),
    }
}

/// The user a review asks about: its `spec.user`, or the caller when it names none.
fn subject_of(review: &SubjectAccessReview, caller: &UserInfo, cluster: Option<&str>) -> Result<UserInfo, ApiError> {
    let spec = &review.spec;
    let mut user = if spec.user.is_empty() || (spec.user == caller.name && spec.groups.is_empty()) {
        caller.clone()
    } else {
        if !may_review_others(caller) {
            return Err(ApiError::forbidden(
                api::auth::GROUP,
                "subjectaccessreviews",
                "",
                &format!("User \"{}\" may only review their own access", caller.name),
            ));
        }
        UserInfo {
            name: spec.user.clone(),
            uid: spec.uid.clone(),
            groups: spec.groups.clone(),
            extra: spec.extra.clone(),
        }
    };
    if let Some(c) = cluster {
        user.groups.push(format!("cluster:{c}"));
    }
    Ok(user)
}

fn decode(body: &Bytes) -> Result<SubjectAccessReview, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not a SubjectAccessReview: {e}")))
}

fn answer(mut review: SubjectAccessReview, decision: Decision) -> Response {
    match decision {
        Decision::Allow => review.status.allowed = true,
        Decision::Deny(reason) => {
            review.status.allowed = false;
            review.status.reason = reason;
        }
    }
    if review.api_version.is_none() {
        review.api_version = Some("authorization.k8s.io/v1".into());
    }
    review.kind = Some("SubjectAccessReview".into());
    (StatusCode::OK, Json(review)).into_response()
}

/// `POST /auth/authz` and `/auth/restauthz`.
async fn authz(
    State(w): State<Arc<Webhooks>>,
    Extension(caller): Extension<UserInfo>,
    headers: HeaderMap,
    Query(q): Query<ClusterQuery>,
    body: Bytes,
) -> Response {
    let review = match decode(&body) {
        Ok(r) => r,
        Err(e) => return error_response(&e),
    };
    let cluster = cluster_of(&caller, &headers, &q);
    let user = match subject_of(&review, &caller, cluster.as_deref()) {
        Ok(u) => u,
        Err(e) => return error_response(&e),
    };
    let attrs = if let Some(r) = &review.spec.resource_attributes {
        attrs_of(r, user)
    } else if let Some(n) = &review.spec.non_resource_attributes {
        Attributes {
            user,
            verb: n.verb.clone(),
            resource_request: false,
            path: n.path.clone(),
            api_group: String::new(),
            api_version: String::new(),
            namespace: String::new(),
            resource: String::new(),
            subresource: String::new(),
            name: String::new(),
        }
    } else {
        return error_response(&ApiError::bad_request(
            "spec.resourceAttributes or spec.nonResourceAttributes is required",
        ));
    };
    let decision = match cluster {
        Some(cluster) => {
            let verdict = w
                .authorizer
                .check_in_cluster(&super::clusters::ClusterRequest { cluster, inner: attrs }, w.owners.as_ref());
            if verdict.allowed { Decision::Allow } else { Decision::Deny(verdict.reason) }
        }
        None => w.authorizer.authorize(&attrs).await,
    };
    answer(review, decision)
}

/// `POST /auth/batchauthz`.
async fn batch(
    State(w): State<Arc<Webhooks>>,
    Extension(caller): Extension<UserInfo>,
    headers: HeaderMap,
    Query(q): Query<ClusterQuery>,
    body: Bytes,
) -> Response {
    let mut review = match decode(&body) {
        Ok(r) => r,
        Err(e) => return error_response(&e),
    };
    if review.spec.resource_attributes_list.len() > 1000 {
        return error_response(&ApiError::bad_request("at most 1000 attribute sets per request"));
    }
    let user = match subject_of(&review, &caller, cluster_of(&caller, &headers, &q).as_deref()) {
        Ok(u) => u,
        Err(e) => return error_response(&e),
    };
    let list: Vec<Attributes> =
        review.spec.resource_attributes_list.iter().map(|r| attrs_of(r, user.clone())).collect();
    let verdicts = w.authorizer.batch(&list);
    review.status.allowed_list = review
        .spec
        .resource_attributes_list
        .iter()
        .zip(verdicts)
        .map(|(r, v)| AllowedStatus {
            resource: r.resource.clone(),
            verb: r.verb.clone(),
            allowed: v.allowed,
            denied: !v.allowed,
            reason: v.reason,
            evaluation_error: String::new(),
        })
        .collect();
    review.status.allowed = review.status.allowed_list.iter().all(|a| a.allowed);
    review.kind = Some("SubjectAccessReview".into());
    (StatusCode::OK, Json(review)).into_response()
}

/// `POST /auth/authn`: a TokenReview (authentication.k8s.io/v1 or v1beta1).
async fn authn(State(w): State<Arc<Webhooks>>, Extension(caller): Extension<UserInfo>, body: Bytes) -> Response {
    if !may_review_others(&caller) {
        return error_response(&ApiError::forbidden(
            "authentication.k8s.io",
            "tokenreviews",
            "",
            &format!("User \"{}\" cannot review tokens", caller.name),
        ));
    }
    let mut review: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error_response(&ApiError::bad_request(format!("the body is not a TokenReview: {e}"))),
    };
    let token = review.pointer("/spec/token").and_then(Value::as_str).unwrap_or("").to_string();
    let status = match w.tokens.check_bearer(&token) {
        Some(Ok(user)) => json!({"authenticated": true, "user": user_info_json(&user)}),
        Some(Err(reason)) => json!({"authenticated": false, "error": reason}),
        None => json!({"authenticated": false, "error": "the token is not one of this platform's"}),
    };
    if review.get("apiVersion").is_none() {
        review["apiVersion"] = json!("authentication.k8s.io/v1");
    }
    review["kind"] = json!("TokenReview");
    review["status"] = status;
    (StatusCode::OK, Json(review)).into_response()
}

pub fn routes(w: Arc<Webhooks>) -> Router {
    Router::new()
        .route("/auth/authn", post(authn))
        .route("/auth/authz", post(authz))
        .route("/auth/restauthz", post(authz))
        .route("/auth/batchauthz", post(batch))
        .with_state(w)
}
