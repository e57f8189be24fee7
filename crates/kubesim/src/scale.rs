//! The `scale` subresource (`autoscaling/v1` `Scale`), as Kubernetes serves it for Deployments,
//! ReplicaSets, StatefulSets and for custom resources whose CRD declares `subresources.scale`:
//! GET reads the replica count, the observed count and the selector from the object; PUT and
//! PATCH change only the desired replica count. `kubectl scale`, HPAs and kube-rs'
//! `Api::get_scale`/`patch_scale` use it.

use std::sync::Arc;

use apimachinery::{ApiError, FieldError};
use apiserver::{
    ApiServer, Connect, ConnectDef, ConnectRequest, Context,
    http::{error_response, error_response_for, respond},
    patch::{PatchType, apply_patch},
    store::WriteOptions,
};
use async_trait::async_trait;
use axum::{
    body::Body,
    http::{Method, Response, StatusCode, header},
};
use serde_json::{Map, Value, json};

/// Where a resource keeps what a `Scale` shows (dotted JSON paths, with or without the leading
/// dot of a CRD's `specReplicasPath`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    /// A string selector (`.status.selector` of a CRD), or `None` when the selector is the
    /// object's `spec.selector` label selector (the built-in workloads).
    pub label_selector: Option<String>,
}

impl ScalePaths {
    /// The paths of Deployments, ReplicaSets and StatefulSets.
    pub fn workload() -> Self {
        Self {
            spec_replicas: ".spec.replicas".into(),
            status_replicas: ".status.replicas".into(),
            label_selector: None,
        }
    }
}

/// Serves `<plural>/<name>/scale` for one resource.
pub struct ScaleHandler {
    pub paths: ScalePaths,
}

fn segments(path: &str) -> Vec<&str> {
    path.trim_start_matches('.').split('.').filter(|s| !s.is_empty()).collect()
}

fn get_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    segments(path).into_iter().try_fold(obj, |v, seg| v.get(seg))
}

/// A merge patch that sets `path` to `value`.
fn merge_patch_for(path: &str, value: Value) -> Value {
    segments(path).into_iter().rev().fold(value, |inner, seg| {
        let mut m = Map::new();
        m.insert(seg.to_string(), inner);
        Value::Object(m)
    })
}

/// `metav1.LabelSelector` as the string form of `labels.Selector` (`app=web,tier in (a,b)`).
pub fn selector_string(selector: &Value) -> String {
    let mut parts: Vec<String> = vec![];
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        let mut pairs: Vec<(&String, &Value)> = labels.iter().collect();
        pairs.sort_by(|a, b| a.0.cmp(b.0));
        parts.extend(pairs.into_iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))));
    }
    for e in selector.get("matchExpressions").and_then(Value::as_array).into_iter().flatten() {
        let key = e.get("key").and_then(Value::as_str).unwrap_or("");
        let values: Vec<&str> =
            e.get("values").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        match e.get("operator").and_then(Value::as_str).unwrap_or("") {
            "In" => parts.push(format!("{key} in ({})", values.join(","))),
            "NotIn" => parts.push(format!("{key} notin ({})", values.join(","))),
            "Exists" => parts.push(key.to_string()),
            "DoesNotExist" => parts.push(format!("!{key}")),
            _ => {}
        }
    }
    parts.join(",")
}

impl ScaleHandler {
    /// The `Scale` of an object as stored.
    fn scale_of(&self, obj: &Value) -> Value {
        let meta = obj.get("metadata").cloned().unwrap_or(json!({}));
        let spec_replicas = get_path(obj, &self.paths.spec_replicas).and_then(Value::as_i64).unwrap_or(0);
        let status_replicas = get_path(obj, &self.paths.status_replicas).and_then(Value::as_i64).unwrap_or(0);
        let selector = match &self.paths.label_selector {
            Some(path) => get_path(obj, path).and_then(Value::as_str).unwrap_or("").to_string(),
            None => obj.get("spec").and_then(|s| s.get("selector")).map(selector_string).unwrap_or_default(),
        };
        let mut metadata = Map::new();
        for f in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
            if let Some(v) = meta.get(f) {
                metadata.insert(f.into(), v.clone());
            }
        }
        let mut status = Map::new();
        status.insert("replicas".into(), json!(status_replicas));
        if !selector.is_empty() {
            status.insert("selector".into(), json!(selector));
        }
        json!({
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": metadata,
            "spec": {"replicas": spec_replicas},
            "status": status,
        })
    }

    async fn write(&self, req: ConnectRequest) -> Result<(StatusCode, Value), ApiError> {
        let current = self.scale_of(&req.object);
        let patch_type = req
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
        let body = axum::body::to_bytes(req.body, 1 << 20)
            .await
            .map_err(|e| ApiError::bad_request(format!("reading the body: {e}")))?;
        let wanted: Value = if req.method == Method::PATCH {
            let t = patch_type.as_deref().and_then(PatchType::from_content_type).ok_or_else(|| {
                ApiError::new(
                    apimachinery::error::Reason::UnsupportedMediaType,
                    "the patch content type is not supported",
                )
            })?;
            if t == PatchType::Apply {
                // An applied Scale names the replicas it wants; nothing else of it can change.
                apiserver::http::decode_body(&body, Some("application/yaml"))?
            } else {
                apply_patch(&current, t, &body)?
            }
        } else {
            apiserver::http::decode_body(&body, patch_type.as_deref())?
        };
        let replicas = match wanted.get("spec").and_then(|s| s.get("replicas")) {
            Some(Value::Number(n)) if n.as_i64().is_some_and(|r| (0..=i64::from(i32::MAX)).contains(&r)) => {
                n.as_i64().unwrap_or(0)
            }
            None | Some(Value::Null) => 0,
            Some(other) => {
                let name = req.name.clone();
                return Err(ApiError::invalid(
                    "autoscaling",
                    "Scale",
                    &name,
                    vec![FieldError::invalid("spec.replicas", other, "must be greater than or equal to 0")],
                ));
            }
        };
        // A resourceVersion in a PUT body is a precondition, as for any update.
        let mut patch = merge_patch_for(&self.paths.spec_replicas, json!(replicas));
        if req.method == Method::PUT
            && let Some(rv) = wanted
                .get("metadata")
                .and_then(|m| m.get("resourceVersion"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        {
            patch["metadata"] = json!({"resourceVersion": rv});
        }
        let ctx = Context { user: req.user.clone(), namespace: req.namespace.clone() };
        let opts = WriteOptions { field_manager: Some("kubectl-scale".into()), ..Default::default() };
        let written =
            req.store.patch(&ctx, &req.name, None, PatchType::Merge, patch.to_string().as_bytes(), &opts).await?;
        Ok((StatusCode::OK, self.scale_of(&written.object)))
    }
}

#[async_trait]
impl Connect for ScaleHandler {
    async fn serve(&self, req: ConnectRequest) -> Response<Body> {
        if !req.path.is_empty() {
            return error_response(&ApiError::new(
                apimachinery::error::Reason::NotFound,
                "the server could not find the requested resource",
            ));
        }
        let accept = req.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let result = match req.method {
            Method::GET => Ok((StatusCode::OK, self.scale_of(&req.object))),
            Method::PUT | Method::PATCH => self.write(req).await,
            _ => Err(ApiError::method_not_allowed("the scale subresource serves get, update and patch")),
        };
        match result {
            Ok((code, v)) => respond(&accept, code, &v),
            Err(e) => error_response_for(&accept, &e),
        }
    }
}

/// The verbs discovery lists for `scale`.
pub const SCALE_VERBS: &[&str] = &["get", "patch", "update"];

/// Serves `scale` for `group/version/plural` with `paths`.
pub fn register(
    server: &ApiServer,
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    paths: ScalePaths,
) -> Result<(), ApiError> {
    server.register_connect(
        ConnectDef { group, version, plural, subresource: "scale", verbs: SCALE_VERBS, kind: "Scale" },
        Arc::new(ScaleHandler { paths }),
    )
}

/// Serves `scale` for the built-in workloads (Deployments, ReplicaSets, StatefulSets).
pub fn register_workloads(server: &ApiServer) -> Result<(), ApiError> {
    for plural in ["deployments", "replicasets", "statefulsets"] {
        register(server, "apps", "v1", plural, ScalePaths::workload())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_print_as_kubernetes_does() {
        let sel = json!({"matchLabels": {"b": "2", "a": "1"}, "matchExpressions": [{"key": "t", "operator": "In", "values": ["x", "y"]}, {"key": "u", "operator": "DoesNotExist"}]});
        assert_eq!(selector_string(&sel), "a=1,b=2,t in (x,y),!u");
    }

    #[test]
    fn paths_read_and_patch() {
        let obj = json!({"spec": {"replicas": 3}, "status": {"replicas": 2, "selector": "app=x"}});
        let h = ScaleHandler {
            paths: ScalePaths {
                spec_replicas: ".spec.replicas".into(),
                status_replicas: ".status.replicas".into(),
                label_selector: Some(".status.selector".into()),
            },
        };
        let s = h.scale_of(&obj);
        assert_eq!(s["spec"]["replicas"], 3);
        assert_eq!(s["status"]["replicas"], 2);
        assert_eq!(s["status"]["selector"], "app=x");
        assert_eq!(merge_patch_for(".spec.size.count", json!(4)), json!({"spec": {"size": {"count": 4}}}));
    }
}
