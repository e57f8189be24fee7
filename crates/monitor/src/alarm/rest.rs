//! TKEStack's alarm policy REST API (reference 7.1), under `/apis/v1/monitor`, answered in the
//! envelope `{result, err, rev, data}` (`rev`: the resourceVersion of the PrometheusRule the
//! answer was read from or written to):
//!
//! - `POST   clusters/{cluster}/alarmpolicies` creates a policy;
//! - `GET    clusters/{cluster}/alarmpolicies?page=1&page_size=10` lists them sorted by name:
//!   `{page, pageSize, total, alarmPolicies}`;
//! - `GET | PUT | DELETE clusters/{cluster}/alarmpolicies/{name}` reads, replaces (every metric
//!   replaced) or deletes one;
//! - `GET presets/alarmpolicies`: the platform's own preset policy, to POST into a cluster;
//! - `GET rules/tke`: the built-in rule file (YAML) for a Prometheus that scrapes the platform.
//!
//! The routes sit inside the server's authentication and authorization: the authorizer sees
//! `clusters/{cluster}/alarmpolicies[/{name}]` as the resource `alarmpolicies` inside that
//! cluster (`createAlarmpolicy` on `cluster:{cluster}/alarmpolicy:{name}` for the auth
//! component), so who may manage a cluster's policies is decided like every other request.

use std::sync::Arc;

use apiserver::Mount;
use axum::{
    Router,
    body::Body,
    extract::{Path, Query, Request, State},
    http::{Method, Response, StatusCode, header},
    routing::{any, get},
};
use serde_json::{Value, json};

use super::{
    policy::AlarmPolicy,
    presets,
    store::{AlarmError, PolicyStore},
};

/// The base path of the API.
pub const BASE: &str = "/apis/v1/monitor";
/// The largest policy body accepted.
const MAX_BODY: usize = 1 << 20;
/// The largest page.
const MAX_PAGE_SIZE: usize = 1000;

/// Adds the API's routes, inside authentication, in front of the API server's.
pub fn mount(store: Arc<PolicyStore>, mount: &mut Mount) {
    let previous = mount.around_api.take();
    mount.around_api = Some(Box::new(move |api: Router| {
        let api = match previous {
            Some(f) => f(api),
            None => api,
        };
        Router::new()
            .route(&format!("{BASE}/clusters/{{cluster}}/alarmpolicies"), any(collection))
            .route(&format!("{BASE}/clusters/{{cluster}}/alarmpolicies/{{name}}"), any(one))
            .route(&format!("{BASE}/presets/alarmpolicies"), get(presets_list))
            .route(&format!("{BASE}/rules/tke"), get(rule_file))
            .with_state(store)
            .merge(api)
    }));
}

fn envelope(code: StatusCode, rev: &str, data: Value) -> Response<Body> {
    let body = json!({"result": true, "err": "", "rev": rev, "data": data});
    json_response(code, &body)
}

fn failure(e: &AlarmError) -> Response<Body> {
    let code = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(code, &json!({"result": false, "err": e.to_string(), "rev": "", "data": null}))
}

fn json_response(code: StatusCode, body: &Value) -> Response<Body> {
    let mut resp = Response::new(Body::from(serde_json::to_vec(body).unwrap_or_default()));
    *resp.status_mut() = code;
    resp.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    resp
}

fn not_allowed(allowed: &str) -> Response<Body> {
    let mut resp = json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({"result": false, "err": format!("this path accepts {allowed}"), "rev": "", "data": null}),
    );
    if let Ok(v) = header::HeaderValue::from_str(allowed) {
        resp.headers_mut().insert(header::ALLOW, v);
    }
    resp
}

/// The policy in a request body, valid.
async fn read_policy(req: Request) -> Result<AlarmPolicy, AlarmError> {
    let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY)
        .await
        .map_err(|_| AlarmError::Invalid(format!("the body is larger than {MAX_BODY} bytes or was cut short")))?;
    let policy: AlarmPolicy = serde_json::from_slice(&bytes)
        .map_err(|e| AlarmError::Invalid(format!("the body is not an AlarmPolicy in JSON: {e}")))?;
    Ok(policy)
}

fn validated(policy: AlarmPolicy) -> Result<AlarmPolicy, AlarmError> {
    let errs = policy.validate();
    if errs.is_empty() { Ok(policy) } else { Err(AlarmError::Invalid(errs.join("; "))) }
}

#[derive(serde::Deserialize)]
struct Paging {
    page: Option<String>,
    page_size: Option<String>,
}

/// A page number or size, or why not.
fn positive(name: &str, v: Option<&str>, default: usize) -> Result<usize, AlarmError> {
    match v.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| AlarmError::Invalid(format!("{name} must be a whole number from 1, not {v:?}"))),
    }
}

async fn collection(
    State(store): State<Arc<PolicyStore>>,
    Path(cluster): Path<String>,
    Query(paging): Query<Paging>,
    req: Request,
) -> Response<Body> {
    let result = match *req.method() {
        Method::GET => list(&store, &cluster, &paging).await,
        Method::POST => match read_policy(req).await.and_then(validated) {
            Ok(p) => store.put(&cluster, &p, false).await.map(|rev| {
                tracing::info!(cluster, policy = p.name(), "alarm policy created");
                (StatusCode::CREATED, rev, serde_json::to_value(&p).unwrap_or_default())
            }),
            Err(e) => Err(e),
        },
        _ => return not_allowed("GET, POST"),
    };
    match result {
        Ok((code, rev, data)) => envelope(code, &rev, data),
        Err(e) => failure(&e),
    }
}

async fn list(store: &PolicyStore, cluster: &str, paging: &Paging) -> Result<(StatusCode, String, Value), AlarmError> {
    let page = positive("page", paging.page.as_deref(), 1)?;
    let size = positive("page_size", paging.page_size.as_deref(), 10)?.min(MAX_PAGE_SIZE);
    let (all, rev) = store.list(cluster).await?;
    let total = all.len();
    let items: Vec<AlarmPolicy> = all.into_iter().skip((page - 1).saturating_mul(size)).take(size).collect();
    Ok((StatusCode::OK, rev, json!({"page": page, "pageSize": size, "total": total, "alarmPolicies": items})))
}

async fn one(
    State(store): State<Arc<PolicyStore>>,
    Path((cluster, name)): Path<(String, String)>,
    req: Request,
) -> Response<Body> {
    let result = match *req.method() {
        Method::GET => {
            store.get(&cluster, &name).await.map(|(p, rev)| (rev, serde_json::to_value(p).unwrap_or_default()))
        }
        Method::PUT => match read_policy(req).await {
            Ok(mut p) => {
                let settings = p.settings.get_or_insert_with(Default::default);
                if settings.name.is_empty() {
                    settings.name = name.clone();
                }
                if settings.name != name {
                    Err(AlarmError::Invalid(format!(
                        "AlarmPolicyName {:?} is not the {name:?} of the path: a policy is renamed by deleting it and creating the new one",
                        settings.name
                    )))
                } else {
                    match validated(p) {
                        Ok(p) => store.put(&cluster, &p, true).await.map(|rev| {
                            tracing::info!(cluster, policy = name, "alarm policy replaced");
                            (rev, serde_json::to_value(&p).unwrap_or_default())
                        }),
                        Err(e) => Err(e),
                    }
                }
            }
            Err(e) => Err(e),
        },
        Method::DELETE => store.delete(&cluster, &name).await.map(|rev| {
            tracing::info!(cluster, policy = name, "alarm policy deleted");
            (rev, Value::Null)
        }),
        _ => return not_allowed("GET, PUT, DELETE"),
    };
    match result {
        Ok((rev, data)) => envelope(StatusCode::OK, &rev, data),
        Err(e) => failure(&e),
    }
}

async fn presets_list() -> Response<Body> {
    let all = vec![presets::tke()];
    envelope(StatusCode::OK, "", json!({"page": 1, "pageSize": all.len(), "total": all.len(), "alarmPolicies": all}))
}

async fn rule_file() -> Response<Body> {
    let mut resp = Response::new(Body::from(presets::RULES));
    resp.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/yaml"));
    resp
}
