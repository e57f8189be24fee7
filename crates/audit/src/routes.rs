//! The HTTP side of the component (reference 8.2), under `/apis/audit.tkestack.io/v1/events/`:
//!
//! - `POST sink/{cluster}`: a business cluster's kube-apiserver audit webhook (an
//!   `audit.k8s.io/v1` EventList), served in front of the API's authentication because it has its
//!   own (the cluster's token, see [`crate::sink`]); answers 200 once the events are committed.
//! - behind the API's authentication and authorizer: `list`, `get` (one event with its bodies),
//!   `listFieldValues`, `listBlockClusters`, `blockCluster`, `getStoreConfig`,
//!   `updateStoreConfig`, `configTest` and `filedownload` (CSV or JSON). Callers who are not
//!   administrators see their tenant's events only; blocking clusters and changing the store
//!   are for administrators.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use apimachinery::{ApiError, error::Reason};
use apiserver::{ApiServer, UserInfo, audit::Event, http::error_response};
use axum::{
    Router,
    body::Body,
    extract::{Path, RawQuery, Request, State},
    http::{HeaderValue, Response, header},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};
use storage::Store;

use crate::{
    record::{CONTROL_PLANE, Record},
    sink::SinkTokens,
    store::{EventStore, Filter, Retention},
};

/// The prefix of every route.
pub const PREFIX: &str = "/apis/audit.tkestack.io/v1/events";
/// Largest EventList the sink reads.
pub const MAX_SINK_BODY: usize = 64 * 1024 * 1024;
/// Most events an export holds.
pub const MAX_EXPORT: i64 = 10_000;

/// What the routes share.
pub struct Shared {
    pub store: Arc<EventStore>,
    pub server: Arc<ApiServer>,
    pub tokens: Arc<SinkTokens>,
    pub kv: Arc<dyn Store>,
    pub key_root: String,
    /// The retention flags (used until `updateStoreConfig` stores another).
    pub default_retention: Retention,
    /// Blocked clusters, as last read from the store, and when.
    pub blocked: std::sync::RwLock<(std::time::Instant, BTreeSet<String>)>,
    /// Events dropped because their cluster is blocked.
    pub dropped_blocked: std::sync::atomic::AtomicU64,
}

fn ok_json(value: &impl serde::Serialize) -> Response<Body> {
    let mut resp = Response::new(Body::from(serde_json::to_vec(value).unwrap_or_default()));
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e.to_string())
}

fn params(query: &Option<String>) -> std::collections::HashMap<String, String> {
    form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()).into_owned().collect()
}

/// The authenticated caller (put into the request by the API server's authentication; an
/// anonymous nobody otherwise, which no check lets through).
pub struct Caller(pub UserInfo);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Caller(parts.extensions.get::<UserInfo>().cloned().unwrap_or_default()))
    }
}

fn admin_only(user: &UserInfo, what: &str) -> Result<(), ApiError> {
    if user.is_admin() {
        Ok(())
    } else {
        Err(ApiError::new(Reason::Forbidden, format!("only platform administrators may {what} (user {:?})", user.name)))
    }
}

/// A time given as milliseconds since the epoch or RFC 3339.
fn time_param(p: &std::collections::HashMap<String, String>, key: &str) -> Result<Option<i64>, ApiError> {
    match p.get(key).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse::<i64>()
            .ok()
            .or_else(|| chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp_millis()))
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_request(format!("{key} {s:?} must be milliseconds since the epoch or an RFC 3339 time"))
            }),
    }
}

fn int_param(p: &std::collections::HashMap<String, String>, key: &str, default: i64) -> Result<i64, ApiError> {
    match p.get(key).filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(s) => s.parse().map_err(|_| ApiError::bad_request(format!("{key} {s:?} must be a number"))),
    }
}

/// The filter of a query, scoped to the caller's tenant unless they are an administrator.
fn filter_of(p: &std::collections::HashMap<String, String>, user: &UserInfo) -> Result<Filter, ApiError> {
    let s = |k: &str| p.get(k).cloned().unwrap_or_default();
    let status = s("status");
    if !status.is_empty() && status != "Success" && status != "Failure" {
        return Err(ApiError::bad_request(format!("status {status:?} must be Success or Failure")));
    }
    Ok(Filter {
        cluster: s("cluster"),
        namespace: s("namespace"),
        resource: s("resource"),
        name: s("name"),
        user: s("user"),
        verb: s("verb"),
        status,
        query: s("query"),
        tenant: (!user.is_admin()).then(|| user.tenant()),
        start: time_param(p, "startTime")?,
        end: time_param(p, "endTime")?,
    })
}

impl Shared {
    fn kv_key(&self, name: &str) -> String {
        format!("{}/audit/{name}", self.key_root.trim_end_matches('/'))
    }

    async fn kv_get<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<(Option<T>, i64), ApiError> {
        let (kv, _) = self.kv.get(&self.kv_key(name)).await.map_err(internal)?;
        match kv {
            None => Ok((None, 0)),
            Some(kv) => Ok((serde_json::from_slice(&kv.value).ok(), kv.mod_revision)),
        }
    }

    async fn kv_put(&self, name: &str, value: &impl serde::Serialize, revision: i64) -> Result<(), ApiError> {
        let bytes = bytes::Bytes::from(serde_json::to_vec(value).map_err(internal)?);
        let key = self.kv_key(name);
        let done =
            if revision == 0 { self.kv.create(&key, bytes).await } else { self.kv.update(&key, bytes, revision).await };
        done.map(|_| ()).map_err(|e| match e {
            storage::StoreError::AlreadyExists { .. } | storage::StoreError::Conflict { .. } => {
                ApiError::new(Reason::Conflict, "the audit settings changed meanwhile; try again")
            }
            e => internal(e),
        })
    }

    /// The blocked clusters, read from the store at most every few seconds.
    pub async fn blocked(&self) -> BTreeSet<String> {
        if let Ok(b) = self.blocked.read()
            && b.0.elapsed() < Duration::from_secs(5)
        {
            return b.1.clone();
        }
        self.refresh_blocked().await
    }

    /// Whether `cluster` is blocked, from what was last read (never waits).
    pub fn is_blocked_now(&self, cluster: &str) -> bool {
        self.blocked.read().map(|b| b.1.contains(cluster)).unwrap_or(false)
    }

    pub async fn refresh_blocked(&self) -> BTreeSet<String> {
        let set: BTreeSet<String> = self.kv_get("blockedclusters").await.ok().and_then(|(v, _)| v).unwrap_or_default();
        if let Ok(mut b) = self.blocked.write() {
            *b = (std::time::Instant::now(), set.clone());
        }
        set
    }

    /// The retention in force: what `updateStoreConfig` stored, else the flags.
    pub async fn retention(&self) -> Retention {
        match self.kv_get::<Retention>("storeconfig").await {
            Ok((Some(r), _)) => r,
            _ => self.default_retention,
        }
    }

    fn store_config(&self, r: Retention) -> Value {
        json!({
            "storage": {
                "sqlite": {
                    "path": self.store.path().display().to_string(),
                    "reserveDays": r.reserve_days,
                    "maxBytes": r.max_bytes,
                }
            }
        })
    }
}

/// The routes behind authentication.
pub fn api_routes(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(&format!("{PREFIX}/list"), get(list))
        .route(&format!("{PREFIX}/get"), get(get_one))
        .route(&format!("{PREFIX}/listFieldValues"), get(field_values))
        .route(&format!("{PREFIX}/listBlockClusters"), get(list_blocked))
        .route(&format!("{PREFIX}/blockCluster"), post(block_cluster))
        .route(&format!("{PREFIX}/getStoreConfig"), get(get_store_config))
        .route(&format!("{PREFIX}/updateStoreConfig"), post(update_store_config))
        .route(&format!("{PREFIX}/configTest"), post(config_test))
        .route(&format!("{PREFIX}/filedownload"), get(file_download))
        .with_state(shared)
}

/// The sink, in front of authentication.
pub fn sink_routes(shared: Arc<Shared>) -> Router {
    Router::new().route(&format!("{PREFIX}/sink/{{cluster}}"), post(sink)).with_state(shared)
}

fn answer(r: Result<Response<Body>, ApiError>) -> Response<Body> {
    r.unwrap_or_else(|e| error_response(&e))
}

async fn list(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery, Caller(user): Caller) -> Response<Body> {
    answer(
        async {
            let p = params(&q);
            let filter = filter_of(&p, &user)?;
            let page = s
                .store
                .list(filter, int_param(&p, "pageIndex", 1)?, int_param(&p, "pageSize", 20)?)
                .await
                .map_err(internal)?;
            // Bodies are for `get`: a page stays small.
            let items: Vec<Record> = page
                .items
                .iter()
                .cloned()
                .map(|mut r| {
                    r.request_object.clear();
                    r.response_object.clear();
                    r
                })
                .collect();
            Ok(ok_json(&json!({
                "items": items,
                "total": page.total,
                "totalIsLowerBound": page.total_is_lower_bound,
                "pageIndex": page.page_index,
                "pageSize": page.page_size,
            })))
        }
        .await,
    )
}

async fn get_one(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery, Caller(user): Caller) -> Response<Body> {
    answer(
        async {
            let p = params(&q);
            let id = p.get("auditID").cloned().unwrap_or_default();
            if id.is_empty() {
                return Err(ApiError::bad_request("auditID is required"));
            }
            let tenant = (!user.is_admin()).then(|| user.tenant());
            match s.store.get(id.clone(), tenant).await.map_err(internal)? {
                Some(r) => Ok(ok_json(&r)),
                None => Err(ApiError::new(Reason::NotFound, format!("audit event {id:?} not found"))),
            }
        }
        .await,
    )
}

async fn field_values(State(s): State<Arc<Shared>>, Caller(user): Caller) -> Response<Body> {
    answer(
        async {
            let values = s.store.field_values((!user.is_admin()).then(|| user.tenant())).await.map_err(internal)?;
            Ok(ok_json(&values))
        }
        .await,
    )
}

async fn list_blocked(State(s): State<Arc<Shared>>) -> Response<Body> {
    ok_json(&json!({ "clusters": s.refresh_blocked().await }))
}

async fn block_cluster(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery, Caller(user): Caller) -> Response<Body> {
    answer(async {
        admin_only(&user, "block or unblock the audit events of a cluster")?;
        let p = params(&q);
        let cluster = p.get("clustername").or_else(|| p.get("clusterName")).cloned().unwrap_or_default();
        if cluster.is_empty() {
            return Err(ApiError::bad_request("clustername is required"));
        }
        let block = match p.get("block").map(String::as_str) {
            None | Some("true") => true,
            Some("false") => false,
            Some(other) => return Err(ApiError::bad_request(format!("block {other:?} must be true or false"))),
        };
        let (current, revision) = s.kv_get::<BTreeSet<String>>("blockedclusters").await?;
        let mut set = current.unwrap_or_default();
        let changed = if block { set.insert(cluster.clone()) } else { set.remove(&cluster) };
        if changed {
            s.kv_put("blockedclusters", &set, revision).await?;
        }
        let set = s.refresh_blocked().await;
        tracing::info!(%cluster, block, "audit events of the cluster {}", if block { "blocked" } else { "unblocked" });
        Ok(ok_json(&json!({ "clusters": set })))
    }
    .await)
}

async fn get_store_config(State(s): State<Arc<Shared>>) -> Response<Body> {
    let r = s.retention().await;
    ok_json(&s.store_config(r))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoreConfigBody {
    #[serde(default)]
    storage: StorageBody,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StorageBody {
    sqlite: Option<SqliteBody>,
    elastic_search: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SqliteBody {
    reserve_days: Option<u32>,
    max_bytes: Option<u64>,
}

/// The retention a store configuration asks for, validated.
fn parse_store_config(body: &[u8], current: Retention) -> Result<Retention, ApiError> {
    let cfg: StoreConfigBody = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the store configuration is not valid JSON: {e}")))?;
    if cfg.storage.elastic_search.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(ApiError::new(
            Reason::Invalid,
            "this platform stores audit events in its embedded SQLite database; storage.elasticSearch is not available",
        ));
    }
    let Some(sqlite) = cfg.storage.sqlite else {
        return Err(ApiError::new(Reason::Invalid, "storage.sqlite {reserveDays, maxBytes} is required"));
    };
    let r = Retention {
        reserve_days: sqlite.reserve_days.unwrap_or(current.reserve_days),
        max_bytes: sqlite.max_bytes.unwrap_or(current.max_bytes),
    };
    if r.reserve_days == 0 || r.reserve_days > 3650 {
        return Err(ApiError::new(
            Reason::Invalid,
            format!("reserveDays {} must be between 1 and 3650", r.reserve_days),
        ));
    }
    if r.max_bytes != 0 && r.max_bytes < 1 << 20 {
        return Err(ApiError::new(
            Reason::Invalid,
            format!("maxBytes {} must be 0 (no bound) or at least 1 MiB", r.max_bytes),
        ));
    }
    Ok(r)
}

async fn read_body(req: Request, limit: usize) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| ApiError::too_large(format!("the request body is larger than the limit of {limit} bytes")))
}

async fn update_store_config(State(s): State<Arc<Shared>>, Caller(user): Caller, req: Request) -> Response<Body> {
    answer(
        async {
            admin_only(&user, "change the audit store's configuration")?;
            let body = read_body(req, 1 << 20).await?;
            let (current, revision) = s.kv_get::<Retention>("storeconfig").await?;
            let r = parse_store_config(&body, current.unwrap_or(s.default_retention))?;
            s.kv_put("storeconfig", &r, revision).await?;
            // A tighter bound applies now, not at the next hourly pass.
            let swept = s.store.retain(r, crate::store::now_millis()).await.map_err(internal)?;
            let mut out = s.store_config(r);
            out["swept"] = serde_json::to_value(swept).unwrap_or_default();
            Ok(ok_json(&out))
        }
        .await,
    )
}

async fn config_test(State(s): State<Arc<Shared>>, req: Request) -> Response<Body> {
    answer(
        async {
            let body = read_body(req, 1 << 20).await?;
            let r = parse_store_config(&body, s.default_retention)?;
            let (events, bytes) = s.store.stats().await.map_err(internal)?;
            Ok(ok_json(&json!({ "ok": true, "config": s.store_config(r), "events": events, "bytes": bytes })))
        }
        .await,
    )
}

/// A CSV field: quoted when needed, and a leading `= + - @` defused so spreadsheets do not run it.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
}

/// The columns of a CSV export.
pub const CSV_HEADER: &str = "time,cluster,tenant,user,verb,apiGroup,resource,namespace,name,code,status,sourceIPs,userAgent,requestURI,auditID,message";

fn csv(records: &[Record]) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for r in records {
        let time = chrono::DateTime::from_timestamp_millis(r.request_received_timestamp)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default();
        let fields = [
            time,
            r.cluster_name.clone(),
            r.tenant_id.clone(),
            r.user_name.clone(),
            r.verb.clone(),
            r.api_group.clone(),
            r.resource.clone(),
            r.namespace.clone(),
            r.name.clone(),
            r.code.to_string(),
            r.status.clone(),
            r.source_ips.clone(),
            r.user_agent.clone(),
            r.request_uri.clone(),
            r.audit_id.clone(),
            r.message.clone(),
        ];
        out.push_str(&fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

async fn file_download(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery, Caller(user): Caller) -> Response<Body> {
    answer(
        async {
            let p = params(&q);
            let format = p.get("format").map(String::as_str).unwrap_or("csv");
            if format != "csv" && format != "json" {
                return Err(ApiError::bad_request(format!("format {format:?} must be csv or json")));
            }
            let filter = filter_of(&p, &user)?;
            let records = s.store.export(filter, MAX_EXPORT).await.map_err(internal)?;
            let (body, content_type) = if format == "csv" {
                (csv(&records).into_bytes(), "text/csv; charset=utf-8")
            } else {
                (serde_json::to_vec(&records).map_err(internal)?, "application/json")
            };
            let mut resp = Response::new(Body::from(body));
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"audit-events.{format}\"")) {
                resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            Ok(resp)
        }
        .await,
    )
}

#[derive(Deserialize)]
struct EventList {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    items: Vec<Event>,
}

/// A cluster name as the platform names clusters (a DNS label).
fn valid_cluster(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

async fn sink(State(s): State<Arc<Shared>>, Path(cluster): Path<String>, req: Request) -> Response<Body> {
    let token = apiserver::auth::bearer(req.headers()).unwrap_or_default().to_string();
    if !valid_cluster(&cluster) || !s.tokens.verify(&cluster, &token) {
        apiserver::auth::drain(req.into_body()).await;
        tracing::debug!(%cluster, "refused audit events: no valid token for the cluster");
        return error_response(&ApiError::unauthorized(format!(
            "audit events for cluster {cluster:?} need the cluster's sink token (GET clusters/{cluster}/auditwebhook)"
        )));
    }
    answer(
        async {
            // The tenant of the cluster's events: the cluster's own.
            let tenant = match s.server.resource_store(api::platform::GROUP, api::platform::VERSION, "clusters") {
                Some(clusters) => {
                    let ctx = apiserver::Context::system("audit-sink", None);
                    let obj = clusters.get(&ctx, &cluster, None).await.map_err(|e| {
                        if e.code() == 404 {
                            ApiError::new(Reason::NotFound, format!("cluster {cluster:?} does not exist"))
                        } else {
                            e
                        }
                    })?;
                    obj.pointer("/spec/tenantID")
                        .and_then(Value::as_str)
                        .filter(|t| !t.is_empty())
                        .unwrap_or("default")
                        .to_string()
                }
                None => "default".to_string(),
            };
            let body = read_body(req, MAX_SINK_BODY).await?;
            let list: EventList = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("the body is not an audit.k8s.io/v1 EventList: {e}")))?;
            if !list.kind.is_empty() && list.kind != "EventList" {
                return Err(ApiError::bad_request(format!("kind {:?} is not EventList", list.kind)));
            }
            let n = list.items.len();
            if s.blocked().await.contains(&cluster) {
                s.dropped_blocked.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                return Ok(ok_json(&json!({ "accepted": 0, "dropped": n, "reason": "the cluster is blocked" })));
            }
            let records = list.items.iter().map(|e| Record::flatten(e, &cluster, &tenant)).collect();
            s.store.append(records).await.map_err(|e| ApiError::unavailable(e.to_string()))?;
            Ok(ok_json(&json!({ "accepted": n, "dropped": 0 })))
        }
        .await,
    )
}

/// `control-plane` is blocked like any cluster.
pub fn control_plane_blocked(s: &Shared) -> bool {
    s.is_blocked_now(CONTROL_PLANE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=1+1"), "'=1+1");
        let r = Record { user_name: "bob".into(), message: "a\nb".into(), ..Default::default() };
        let text = csv(&[r]);
        assert!(text.starts_with(CSV_HEADER));
        assert!(text.contains(",bob,") && text.contains("\"a\nb\""), "{text}");
    }

    #[test]
    fn store_configs_are_validated() {
        let cur = Retention { reserve_days: 7, max_bytes: 0 };
        let r = parse_store_config(br#"{"storage":{"sqlite":{"reserveDays":3}}}"#, cur).unwrap();
        assert_eq!(r, Retention { reserve_days: 3, max_bytes: 0 });
        assert!(parse_store_config(br#"{"storage":{"sqlite":{"reserveDays":0}}}"#, cur).is_err());
        assert!(parse_store_config(br#"{"storage":{"sqlite":{"maxBytes":10}}}"#, cur).is_err());
        assert!(parse_store_config(br#"{"storage":{"elasticSearch":{"address":"http://x"}}}"#, cur).is_err());
        assert!(parse_store_config(b"nope", cur).is_err());
    }

    #[test]
    fn cluster_names_are_labels() {
        assert!(valid_cluster("cls-a1"));
        for bad in ["", "-a", "a-", "A", "a/b", "a.b"] {
            assert!(!valid_cluster(bad), "{bad}");
        }
    }
}
