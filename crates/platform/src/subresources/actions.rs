//! Actions on a business cluster offered as subresources of its Cluster object, acting as the
//! caller (impersonation) through the cluster's credential:
//!
//! - `POST clusters/{name}/apply`: multi-document YAML or JSON, each object server-side applied,
//!   answered with one result per object (an error in one does not stop the others);
//! - `POST clusters/{name}/drain/{node}`: cordon, then evict (or delete where the cluster has
//!   no eviction API) every pod on the node except DaemonSet-owned and mirror pods;
//! - `GET clusters/{name}/apiresources`: the cluster's API resources (TKEStack's
//!   ClusterAPIResource list);
//! - `GET clusters/{name}/addons` and `addontypes`: the platform's add-ons of this cluster with
//!   their phase, reason and retry count, and the catalogue of add-on types.

use std::{sync::Arc, time::Duration};

use apimachinery::ApiError;
use apiserver::{ApiServer, Connect, ConnectDef, ConnectRequest, UserInfo, http::error_response, resource::Context};
use axum::{
    body::Body,
    http::{Method, Response, StatusCode, header},
};
use controller_runtime::{
    cluster::{self, ClientOptions, base_url_of},
    drain,
};
use kube::{
    Client,
    api::{Api, DynamicObject, Patch, PatchParams},
    core::GroupVersionKind,
    discovery::{self, Scope},
};
use serde_json::{Value, json};

const GROUP: &str = "platform.tkestack.io";
const VERSION: &str = "v1";
/// The largest manifest `apply` accepts.
const MAX_MANIFEST: usize = 8 << 20;

/// Registers every action on `server`.
pub fn register(server: &Arc<ApiServer>) -> Result<(), ApiError> {
    let def = |subresource, verbs| ConnectDef {
        group: GROUP,
        version: VERSION,
        plural: "clusters",
        subresource,
        verbs,
        kind: "",
    };
    let actions = Arc::new(ClusterActions { server: server.clone() });
    server.register_connect(
        def("apply", &["create"]),
        Arc::new(Action { actions: actions.clone(), kind: ActionKind::Apply }),
    )?;
    server.register_connect(
        def("drain", &["create"]),
        Arc::new(Action { actions: actions.clone(), kind: ActionKind::Drain }),
    )?;
    server.register_connect(
        def("apiresources", &["get"]),
        Arc::new(Action { actions: actions.clone(), kind: ActionKind::ApiResources }),
    )?;
    server.register_connect(
        def("addons", &["get"]),
        Arc::new(Action { actions: actions.clone(), kind: ActionKind::Addons }),
    )?;
    server.register_connect(def("addontypes", &["get"]), Arc::new(Action { actions, kind: ActionKind::AddonTypes }))?;
    Ok(())
}

struct ClusterActions {
    server: Arc<ApiServer>,
}

#[derive(Clone, Copy)]
enum ActionKind {
    Apply,
    Drain,
    ApiResources,
    Addons,
    AddonTypes,
}

struct Action {
    actions: Arc<ClusterActions>,
    kind: ActionKind,
}

#[async_trait::async_trait]
impl Connect for Action {
    async fn serve(&self, req: ConnectRequest) -> Response<Body> {
        let result = match self.kind {
            ActionKind::Apply => self.actions.apply(req).await,
            ActionKind::Drain => self.actions.drain(req).await,
            ActionKind::ApiResources => self.actions.api_resources(req).await,
            ActionKind::Addons => self.actions.addons(req).await,
            ActionKind::AddonTypes => self.actions.addon_types(req).await,
        };
        match result {
            Ok((code, v)) => {
                let mut resp = Response::new(Body::from(serde_json::to_vec(&v).unwrap_or_default()));
                *resp.status_mut() = code;
                resp.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
                resp
            }
            Err(e) => error_response(&e),
        }
    }
}

fn method_not_allowed(allowed: &str) -> ApiError {
    ApiError::new(apimachinery::error::Reason::MethodNotAllowed, format!("this subresource only accepts {allowed}"))
}

fn unavailable(cluster: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::new(apimachinery::error::Reason::ServiceUnavailable, format!("cluster {cluster}: {e}"))
}

impl ClusterActions {
    /// A kube client for the cluster acting as `user`.
    async fn client(&self, cluster: &Value, user: &UserInfo) -> Result<Client, ApiError> {
        let name = cluster["metadata"]["name"].as_str().unwrap_or_default();
        let (_, cred) = super::proxy::credential_of(&self.server, cluster).await?;
        let base = base_url_of(cluster).map_err(|e| unavailable(name, e))?;
        let opts = ClientOptions {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Some(Duration::from_secs(60)),
            impersonate: None,
        }
        .acting_as(super::proxy::impersonation(user));
        cluster::client(&base, &cred, &opts).map_err(|e| unavailable(name, e))
    }

    async fn apply(&self, req: ConnectRequest) -> Result<(StatusCode, Value), ApiError> {
        if req.method != Method::POST {
            return Err(method_not_allowed("POST"));
        }
        let cluster_name = req.name.clone();
        let body = axum::body::to_bytes(req.body, MAX_MANIFEST)
            .await
            .map_err(|_| ApiError::too_large(format!("manifests larger than {MAX_MANIFEST} bytes are not accepted")))?;
        let text = std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("the manifest is not UTF-8 text"))?;
        let docs =
            parse_manifest(text).map_err(|e| ApiError::bad_request(format!("the manifest cannot be read: {e}")))?;
        if docs.is_empty() {
            return Err(ApiError::bad_request("the manifest holds no objects"));
        }
        let query = apiserver::http::parse_query(req.query.as_deref());
        let manager = query.get("fieldManager").cloned().unwrap_or_else(|| "tke-platform".into());
        let force = query.get("force").is_some_and(|f| apiserver::http::parse_bool(f) == Some(true));
        let dry_run = query.get("dryRun").is_some_and(|d| d == "All");
        // TKEStack's `notUpdate`: create what is missing, leave existing objects as they are.
        let not_update = query.get("notUpdate").is_some_and(|f| apiserver::http::parse_bool(f) == Some(true));
        let client = self.client(&req.object, &req.user).await?;
        let mut results = Vec::new();
        let mut failed = 0;
        for doc in docs {
            let (id, outcome) = apply_one(&client, doc, &manager, force, dry_run, not_update).await;
            let mut r = id;
            match outcome {
                Ok(result) => r["result"] = json!(result),
                Err(e) => {
                    failed += 1;
                    r["result"] = json!("failed");
                    r["error"] = json!(e.to_string());
                }
            }
            results.push(r);
        }
        tracing::info!(cluster = %cluster_name, objects = results.len(), failed, user = %req.user.name, "applied a manifest");
        if failed > 0 {
            // A Status clients print: which objects failed and why, and how many were applied.
            let causes: Vec<apimachinery::FieldError> = results
                .iter()
                .filter(|r| r["result"] == "failed")
                .map(|r| {
                    let ns = r["namespace"].as_str().map(|n| format!("{n}/")).unwrap_or_default();
                    let what =
                        format!("{} {}{}", r["kind"].as_str().unwrap_or(""), ns, r["name"].as_str().unwrap_or(""));
                    apimachinery::FieldError {
                        kind: apimachinery::FieldErrorKind::Invalid,
                        field: what,
                        detail: r["error"].as_str().unwrap_or("").to_string(),
                    }
                })
                .collect();
            let detail: Vec<String> = causes.iter().map(|c| format!("{}: {}", c.field, c.detail)).collect();
            let mut e = ApiError::new(
                apimachinery::error::Reason::Invalid,
                format!(
                    "{} of {} objects applied to cluster {cluster_name}; failed: {}",
                    results.len() - failed,
                    results.len(),
                    detail.join("; ")
                ),
            );
            e.causes = causes;
            return Err(e);
        }
        Ok((
            StatusCode::OK,
            json!({"kind": "ApplyResult", "apiVersion": "platform.tkestack.io/v1", "cluster": cluster_name, "failed": failed, "items": results}),
        ))
    }

    async fn drain(&self, req: ConnectRequest) -> Result<(StatusCode, Value), ApiError> {
        if req.method != Method::POST {
            return Err(method_not_allowed("POST"));
        }
        let node = req.path.trim_matches('/').to_string();
        if node.is_empty() || node.contains('/') {
            return Err(ApiError::bad_request("name the node to drain: clusters/{cluster}/drain/{node}"));
        }
        let name = req.name.clone();
        let client = self.client(&req.object, &req.user).await?;
        // One pass, answered now: a pod a disruption budget keeps is reported with the budget's
        // reason, for the caller to decide (kubectl drain would keep asking).
        let report = drain::drain(&client, &node, drain::Wait::Once).await.map_err(|e| match e {
            drain::DrainError::Cordon { source, .. } => kube_error(&name, &format!("cordoning node {node}"), source),
            drain::DrainError::List { source, .. } => kube_error(&name, "listing the node's pods", source),
            e => unavailable(&name, e),
        })?;
        let errors: Vec<String> =
            report.blocked.iter().chain(&report.failed).map(|(pod, why)| format!("{pod}: {why}")).collect();
        let code = if errors.is_empty() { StatusCode::OK } else { StatusCode::CONFLICT };
        Ok((
            code,
            json!({"kind": "DrainResult", "apiVersion": "platform.tkestack.io/v1", "cluster": name, "node": node,
                "cordoned": true, "evicted": report.evicted, "skipped": report.skipped, "errors": errors}),
        ))
    }

    async fn api_resources(&self, req: ConnectRequest) -> Result<(StatusCode, Value), ApiError> {
        if req.method != Method::GET {
            return Err(method_not_allowed("GET"));
        }
        let name = req.name.clone();
        let client = self.client(&req.object, &req.user).await?;
        let found =
            discovery::Discovery::new(client).run().await.map_err(|e| kube_error(&name, "reading discovery", e))?;
        let mut items = Vec::new();
        for group in found.groups() {
            for version in group.versions() {
                let resources: Vec<Value> = group
                    .versioned_resources(version)
                    .into_iter()
                    .map(|(ar, caps)| {
                        json!({
                            "name": ar.plural,
                            "namespaced": caps.scope == Scope::Namespaced,
                            "kind": ar.kind,
                            "verbs": caps.operations,
                            "subresources": caps.subresources.iter().map(|(s, _)| s.plural.clone()).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                let gv =
                    if group.name().is_empty() { version.to_string() } else { format!("{}/{version}", group.name()) };
                items.push(json!({"groupVersion": gv, "apiResources": resources}));
            }
        }
        Ok((
            StatusCode::OK,
            json!({"kind": "ClusterAPIResourceList", "apiVersion": "platform.tkestack.io/v1", "cluster": name, "items": items}),
        ))
    }

    async fn addons(&self, req: ConnectRequest) -> Result<(StatusCode, Value), ApiError> {
        if req.method != Method::GET {
            return Err(method_not_allowed("GET"));
        }
        let ctx = Context { user: req.user.clone(), namespace: None };
        let mut items = Vec::new();
        for addon in api::platform::addon::ADDONS {
            let (plural, kind) = (addon.plural, addon.kind);
            let Some(store) = self.server.resource(GROUP, VERSION, plural) else { continue };
            let list = store.list(&ctx, &apiserver::store::ListOptions::default()).await?;
            for item in list.items {
                let obj = item.decode()?;
                if obj["spec"]["clusterName"].as_str() != Some(req.name.as_str()) {
                    continue;
                }
                items.push(json!({
                    "type": kind,
                    "name": obj["metadata"]["name"],
                    "version": obj["spec"]["version"],
                    "phase": obj["status"]["phase"],
                    "reason": obj["status"]["reason"],
                    "retryCount": obj["status"]["retryCount"],
                    "lastReInitializingTimestamp": obj["status"]["lastReInitializingTimestamp"],
                    "creationTimestamp": obj["metadata"]["creationTimestamp"],
                }));
            }
        }
        Ok((
            StatusCode::OK,
            json!({"kind": "ClusterAddonList", "apiVersion": "platform.tkestack.io/v1", "cluster": req.name, "items": items}),
        ))
    }

    async fn addon_types(&self, req: ConnectRequest) -> Result<(StatusCode, Value), ApiError> {
        if req.method != Method::GET {
            return Err(method_not_allowed("GET"));
        }
        let store = self
            .server
            .resource(GROUP, VERSION, "clusteraddontypes")
            .ok_or_else(|| ApiError::internal("the add-on catalogue is not served"))?;
        let ctx = Context { user: req.user.clone(), namespace: None };
        let list = store.list(&ctx, &apiserver::store::ListOptions::default()).await?;
        let items: Vec<Value> = list.items.iter().filter_map(|i| i.decode().ok()).collect();
        Ok((
            StatusCode::OK,
            json!({"kind": "ClusterAddonTypeList", "apiVersion": "platform.tkestack.io/v1", "cluster": req.name, "items": items}),
        ))
    }
}

fn kube_error(cluster: &str, doing: &str, e: kube::Error) -> ApiError {
    match e {
        kube::Error::Api(s) => {
            // The cluster's answer keeps its reason (and so its code) when it is a Kubernetes one.
            let reason = apimachinery::error::Reason::parse(&s.reason)
                .unwrap_or(apimachinery::error::Reason::ServiceUnavailable);
            ApiError::new(reason, format!("cluster {cluster}: {doing}: {}", s.message))
        }
        e => unavailable(cluster, format!("{doing}: {e}")),
    }
}

/// Why a manifest cannot be read.
#[derive(Debug, thiserror::Error)]
enum ManifestError {
    #[error("document {0}: {1}")]
    Yaml(usize, serde_yaml_ng::Error),
    #[error("document {0} is not an object")]
    NotAnObject(usize),
}

/// The objects of a multi-document YAML (or JSON) manifest; `List` kinds are flattened.
fn parse_manifest(text: &str) -> Result<Vec<Value>, ManifestError> {
    use serde::Deserialize;
    let mut out = Vec::new();
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let v = Value::deserialize(doc).map_err(|e| ManifestError::Yaml(i + 1, e))?;
        match v {
            Value::Null => {}
            Value::Object(_) if v["kind"].as_str().is_some_and(|k| k.ends_with("List")) && v["items"].is_array() => {
                out.extend(v["items"].as_array().cloned().unwrap_or_default());
            }
            Value::Object(_) => out.push(v),
            _ => return Err(ManifestError::NotAnObject(i + 1)),
        }
    }
    Ok(out)
}

/// Why one object of a manifest was not applied (its `error` in the answer).
#[derive(Debug, thiserror::Error)]
enum ApplyError {
    #[error("apiVersion, kind and metadata.name are required")]
    NoIdentity,
    #[error("the cluster does not serve {kind} in {api_version}: {source}")]
    NotServed { kind: String, api_version: String, source: kube::Error },
    #[error("the object cannot be read: {0}")]
    Unreadable(#[source] serde_json::Error),
    /// The cluster's API refused the object.
    #[error("{} ({})", .0.message, .0.reason)]
    Refused(Box<kube::core::Status>),
    #[error(transparent)]
    Kube(kube::Error),
}

impl From<kube::Error> for ApplyError {
    fn from(e: kube::Error) -> Self {
        match e {
            kube::Error::Api(s) => ApplyError::Refused(s),
            e => ApplyError::Kube(e),
        }
    }
}

/// Server-side applies one object (or, with `not_update`, creates it unless it exists); returns
/// its identity and what was done (`applied`, `created`, `exists`).
async fn apply_one(
    client: &Client,
    doc: Value,
    manager: &str,
    force: bool,
    dry_run: bool,
    not_update: bool,
) -> (Value, Result<&'static str, ApplyError>) {
    let api_version = doc["apiVersion"].as_str().unwrap_or_default().to_string();
    let kind = doc["kind"].as_str().unwrap_or_default().to_string();
    let name = doc["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let namespace = doc["metadata"]["namespace"].as_str().map(str::to_string);
    let mut id = json!({"apiVersion": api_version, "kind": kind, "name": name});
    if let Some(ns) = &namespace {
        id["namespace"] = json!(ns);
    }
    if api_version.is_empty() || kind.is_empty() || name.is_empty() {
        return (id, Err(ApplyError::NoIdentity));
    }
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), api_version.clone()),
    };
    let gvk = GroupVersionKind::gvk(&group, &version, &kind);
    let (ar, caps) = match discovery::pinned_kind(client, &gvk).await {
        Ok(found) => found,
        Err(source) => return (id, Err(ApplyError::NotServed { kind, api_version, source })),
    };
    let api: Api<DynamicObject> = match caps.scope {
        Scope::Namespaced => {
            let ns = namespace.unwrap_or_else(|| "default".into());
            id["namespace"] = json!(ns);
            Api::namespaced_with(client.clone(), &ns, &ar)
        }
        Scope::Cluster => Api::all_with(client.clone(), &ar),
    };
    if not_update {
        let obj: DynamicObject = match serde_json::from_value(doc) {
            Ok(o) => o,
            Err(e) => return (id, Err(ApplyError::Unreadable(e))),
        };
        let params = kube::api::PostParams { dry_run, field_manager: Some(manager.to_string()) };
        return match api.create(&params, &obj).await {
            Ok(_) => (id, Ok("created")),
            Err(kube::Error::Api(s)) if s.code == 409 => (id, Ok("exists")),
            Err(e) => (id, Err(e.into())),
        };
    }
    let mut params = PatchParams::apply(manager);
    params.force = force;
    params.dry_run = dry_run;
    match api.patch(&name, &params, &Patch::Apply(&doc)).await {
        Ok(_) => (id, Ok("applied")),
        Err(e) => (id, Err(e.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_manifest;

    #[test]
    fn manifests_split_into_objects_and_lists_flatten() {
        let docs = parse_manifest("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\n{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"b\"}}]}\n").expect("parse");
        let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
        assert_eq!(kinds, ["ConfigMap", "Secret"]);
        let e = parse_manifest("- just\n- a list\n").expect_err("not an object");
        assert!(e.to_string().contains("document 1 is not an object"), "{e}");
        assert!(parse_manifest("a: [unclosed").is_err());
    }
}
