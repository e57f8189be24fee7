//! `pods/{name}/eviction` (a policy/v1 `Eviction`), as a real API server serves it: the pod is
//! deleted unless that would leave a PodDisruptionBudget of its namespace with fewer healthy
//! pods than it allows, which is refused with 429 TooManyRequests naming the budget — what
//! `kubectl drain` and the platform's drains retry on.

use std::{collections::BTreeMap, sync::Arc};

use apimachinery::{ApiError, LabelSelector};
use apiserver::{
    ApiServer, Connect, ConnectDef, ConnectRequest, Context,
    http::{error_response, error_response_for, respond},
    store::{DeleteOptions, ListOptions, ResourceStore},
};
use async_trait::async_trait;
use axum::{
    body::Body,
    http::{Method, Response, StatusCode, header},
};
use serde_json::{Value, json};

use crate::scale::selector_string;

/// Largest Eviction body read.
const BODY_LIMIT: usize = 64 * 1024;

struct EvictionHandler {
    budgets: Arc<ResourceStore>,
}

fn labels_of(obj: &Value) -> BTreeMap<String, String> {
    obj["metadata"]["labels"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default()
}

/// Running, Ready and not being deleted: a pod that counts toward a budget.
fn healthy(pod: &Value) -> bool {
    pod["metadata"]["deletionTimestamp"].is_null()
        && pod["status"]["phase"] == "Running"
        && pod["status"]["conditions"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

/// An int-or-percent of `total`, percentages rounded up (as the disruption controller does).
fn scaled(v: &Value, total: usize) -> Option<usize> {
    match v {
        Value::Number(n) => n.as_u64().map(|n| n as usize),
        Value::String(s) => {
            s.strip_suffix('%').and_then(|p| p.parse::<usize>().ok()).map(|p| (total * p).div_ceil(100))
        }
        _ => None,
    }
}

/// Why evicting one healthy pod covered by `budget` is not allowed now, if it is not.
/// `pods` are the budget's pods that are not being deleted.
pub fn refusal(budget: &Value, pods: &[Value]) -> Option<String> {
    let name = budget["metadata"]["name"].as_str().unwrap_or_default();
    let expected = pods.len();
    let healthy = pods.iter().filter(|p| healthy(p)).count();
    let spec = &budget["spec"];
    if let Some(min) = scaled(&spec["minAvailable"], expected) {
        if healthy.saturating_sub(1) < min {
            return Some(format!("The disruption budget {name} needs {min} healthy pods and has {healthy} currently"));
        }
    } else if let Some(max) = scaled(&spec["maxUnavailable"], expected) {
        let unavailable_after = expected - healthy.saturating_sub(1).min(expected);
        if unavailable_after > max {
            return Some(format!(
                "The disruption budget {name} allows {max} unavailable pods and {} would be",
                unavailable_after
            ));
        }
    }
    None
}

impl EvictionHandler {
    async fn evict(&self, req: ConnectRequest) -> Result<(), ApiError> {
        let content_type = req.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
        let bytes = axum::body::to_bytes(req.body, BODY_LIMIT)
            .await
            .map_err(|e| ApiError::bad_request(format!("reading the Eviction: {e}")))?;
        let eviction: Value = if bytes.is_empty() {
            json!({})
        } else {
            // kubectl drain sends it in protobuf.
            apiserver::http::decode_body(&bytes, content_type.as_deref())?
        };
        let ctx = Context { user: req.user.clone(), namespace: req.namespace.clone() };
        let pod = &req.object;
        if healthy(pod) {
            let labels = labels_of(pod);
            for item in self.budgets.list(&ctx, &ListOptions::default()).await?.items {
                let budget = item.decode()?;
                let selector = LabelSelector::parse(&selector_string(&budget["spec"]["selector"]))?;
                // An empty selector selects no pods in policy/v1.
                if budget["spec"]["selector"].as_object().is_none_or(|s| s.is_empty()) || !selector.matches(&labels) {
                    continue;
                }
                let opts = ListOptions { label_selector: selector, ..Default::default() };
                let covered: Vec<Value> = req
                    .store
                    .list(&ctx, &opts)
                    .await?
                    .items
                    .iter()
                    .filter_map(|i| i.decode().ok())
                    .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
                    .collect();
                if let Some(why) = refusal(&budget, &covered) {
                    // No Retry-After, as Kubernetes answers: the caller decides when to try again.
                    return Err(ApiError::new(
                        apimachinery::error::Reason::TooManyRequests,
                        format!("Cannot evict pod as it would violate the pod's disruption budget. {why}"),
                    ));
                }
            }
        }
        let o = &eviction["deleteOptions"];
        let opts = DeleteOptions {
            grace_period_seconds: o["gracePeriodSeconds"].as_i64(),
            precondition_uid: o["preconditions"]["uid"].as_str().map(str::to_string),
            precondition_resource_version: o["preconditions"]["resourceVersion"].as_str().map(str::to_string),
            dry_run: o["dryRun"].as_array().is_some_and(|d| !d.is_empty()),
            propagation_policy: o["propagationPolicy"].as_str().map(str::to_string),
        };
        req.store.delete(&ctx, &req.name, &opts).await.map(|_| ())
    }
}

#[async_trait]
impl Connect for EvictionHandler {
    async fn serve(&self, req: ConnectRequest) -> Response<Body> {
        if !req.path.is_empty() {
            return error_response(&ApiError::not_found("", "pods/eviction", &req.path));
        }
        if req.method != Method::POST {
            return error_response(&ApiError::method_not_allowed("pods/eviction serves create (POST) only"));
        }
        let accept = req.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        match self.evict(req).await {
            Ok(()) => respond(
                &accept,
                StatusCode::CREATED,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
            ),
            Err(e) => error_response_for(&accept, &e),
        }
    }
}

/// Serves `pods/eviction` on `server`, which must serve pods and poddisruptionbudgets.
pub fn register(server: &ApiServer) -> Result<(), ApiError> {
    let budgets = server
        .resource_store("policy", "v1", "poddisruptionbudgets")
        .ok_or_else(|| ApiError::internal("no policy/v1 poddisruptionbudgets to evict against"))?;
    server.register_connect(
        ConnectDef {
            group: "",
            version: "v1",
            plural: "pods",
            subresource: "eviction",
            verbs: &["create"],
            kind: "Eviction",
        },
        Arc::new(EvictionHandler { budgets }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ready: bool) -> Value {
        json!({"metadata": {"name": "p"}, "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
    }

    #[test]
    fn budgets_refuse_only_what_would_break_them() {
        let min = |v: Value| json!({"metadata": {"name": "web"}, "spec": {"minAvailable": v}});
        let max = |v: Value| json!({"metadata": {"name": "web"}, "spec": {"maxUnavailable": v}});
        let three = vec![pod(true), pod(true), pod(true)];
        assert_eq!(refusal(&min(json!(2)), &three), None, "3 healthy, 2 needed: one may go");
        assert!(refusal(&min(json!(3)), &three).is_some_and(|m| m.contains("needs 3 healthy pods and has 3")));
        assert!(refusal(&min(json!("100%")), &three).is_some());
        assert_eq!(refusal(&min(json!("50%")), &three), None, "50% of 3 rounds up to 2");
        assert_eq!(refusal(&max(json!(1)), &three), None);
        assert!(refusal(&max(json!(0)), &three).is_some());
        let degraded = vec![pod(true), pod(true), pod(false)];
        assert!(refusal(&max(json!(1)), &degraded).is_some(), "one is already unavailable");
    }
}
