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
use apiserver::{ApiServer, UserInfo, audit::Event, http::error_response, peers::Peers};
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
/// The replicas' own routes (queries of one replica's database), served before authentication
/// to callers holding the replicas' token only.
pub const REPLICA_PREFIX: &str = "/apis/audit.tkestack.io/v1/events/replica";
/// How long a query waits for another replica.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(5);

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
    /// The other replicas, whose databases queries merge with this one's.
    pub peers: Option<Arc<Peers>>,
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
    Router::new()
        .route(&format!("{PREFIX}/sink/{{cluster}}"), post(sink))
        .route(&format!("{REPLICA_PREFIX}/{{op}}"), post(replica))
        .with_state(shared)
}

fn answer(r: Result<Response<Body>, ApiError>) -> Response<Body> {
    r.unwrap_or_else(|e| error_response(&e))
}

/// Bodies are for `get`: a page stays small.
fn without_bodies(items: Vec<Record>) -> Vec<Record> {
    items
        .into_iter()
        .map(|mut r| {
            r.request_object.clear();
            r.response_object.clear();
            r
        })
        .collect()
}

/// What the other replicas answered to `op` with `body`: each answer parsed, and a warning for
/// each replica that gave none (its events are then missing from the answer).
async fn ask_peers<T: serde::de::DeserializeOwned>(
    s: &Shared,
    op: &str,
    body: Value,
) -> (Vec<(String, T)>, Vec<String>) {
    let Some(peers) = &s.peers else { return (vec![], vec![]) };
    let answers = match peers.fan_out("audit", &format!("{REPLICA_PREFIX}/{op}"), &body, PEER_TIMEOUT).await {
        Ok(a) => a,
        Err(e) => {
            return (
                vec![],
                vec![format!("the other replicas could not be listed ({e}): only this replica's events are shown")],
            );
        }
    };
    let mut got = vec![];
    let mut warnings = vec![];
    for (peer, answer) in answers {
        match answer.map(|b| serde_json::from_slice::<T>(&b)) {
            Ok(Ok(v)) => got.push((peer.id, v)),
            Ok(Err(e)) => warnings
                .push(format!("{} gave an answer that does not parse ({e}): its events are missing", peer.describe())),
            Err(e) => warnings.push(format!("{e}: its events are missing")),
        }
    }
    (got, warnings)
}

/// The answer with the warnings in a `warnings` field (when it is an object) and in Kubernetes'
/// `Warning` headers.
fn with_warnings(mut resp: Response<Body>, warnings: &[String]) -> Response<Body> {
    for w in warnings {
        let text = w.replace(['"', '\\', '\n', '\r'], " ");
        if let Ok(v) = HeaderValue::from_str(&format!("299 tke-audit \"{text}\"")) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}

/// Merges the (replica id, events newest first) of every replica into one order: newest first,
/// ties in the order of the replicas' ids, each replica's own order kept.
fn merge(mut lists: Vec<(String, Vec<Record>)>) -> Vec<Record> {
    lists.sort_by(|a, b| a.0.cmp(&b.0));
    let mut all: Vec<Record> = lists.into_iter().flat_map(|(_, items)| items).collect();
    all.sort_by_key(|r| std::cmp::Reverse(r.request_received_timestamp));
    all
}

fn my_id(s: &Shared) -> String {
    s.peers.as_ref().map(|p| p.id()).unwrap_or_default()
}

async fn list(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery, Caller(user): Caller) -> Response<Body> {
    let mut warnings = vec![];
    let resp = answer(
        async {
            let p = params(&q);
            let filter = filter_of(&p, &user)?;
            let page_index = int_param(&p, "pageIndex", 1)?.max(1);
            let page_size = int_param(&p, "pageSize", 20)?.clamp(1, 1000);
            // Every replica's first pageIndex × pageSize events, merged: the page is then exact.
            let depth = page_index.saturating_mul(page_size);
            if depth > crate::store::COUNT_LIMIT {
                return Err(ApiError::bad_request(format!(
                    "page {page_index} of {page_size} reaches past the newest {} events: narrow the time range or the filters",
                    crate::store::COUNT_LIMIT
                )));
            }
            let mine = s.store.top(filter.clone(), depth).await.map_err(internal)?;
            let (theirs, w) = ask_peers::<crate::store::Page>(&s, "list", json!({ "filter": filter, "limit": depth })).await;
            warnings = w;
            let mut total = mine.total;
            let mut lower_bound = mine.total_is_lower_bound;
            let mut lists = vec![(my_id(&s), mine.items)];
            for (id, page) in theirs {
                total += page.total;
                lower_bound |= page.total_is_lower_bound;
                lists.push((id, page.items));
            }
            let items: Vec<Record> =
                merge(lists).into_iter().skip(((page_index - 1) * page_size) as usize).take(page_size as usize).collect();
            Ok(ok_json(&json!({
                "items": without_bodies(items),
                "total": total,
                "totalIsLowerBound": lower_bound,
                "pageIndex": page_index,
                "pageSize": page_size,
                "warnings": warnings,
            })))
        }
        .await,
    );
    with_warnings(resp, &warnings)
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
            if let Some(r) = s.store.get(id.clone(), tenant.clone()).await.map_err(internal)? {
                return Ok(ok_json(&r));
            }
            // Stored by another replica, perhaps (each answers `null` when it has none).
            let (theirs, warnings) =
                ask_peers::<Option<Record>>(&s, "get", json!({ "auditID": id, "tenant": tenant })).await;
            if let Some(r) = theirs.into_iter().find_map(|(_, r)| r) {
                return Ok(ok_json(&r));
            }
            let missing = if warnings.is_empty() { String::new() } else { format!(" ({})", warnings.join("; ")) };
            Err(ApiError::new(Reason::NotFound, format!("audit event {id:?} not found{missing}")))
        }
        .await,
    )
}

async fn field_values(State(s): State<Arc<Shared>>, Caller(user): Caller) -> Response<Body> {
    let mut warnings = vec![];
    let resp = answer(
        async {
            let tenant = (!user.is_admin()).then(|| user.tenant());
            let mut values = s.store.field_values(tenant.clone()).await.map_err(internal)?;
            let (theirs, w) = ask_peers::<std::collections::BTreeMap<String, Vec<String>>>(
                &s,
                "fieldValues",
                json!({ "tenant": tenant }),
            )
            .await;
            warnings = w;
            for (_, other) in theirs {
                for (field, v) in other {
                    values.entry(field).or_default().extend(v);
                }
            }
            for v in values.values_mut() {
                v.sort();
                v.dedup();
            }
            Ok(ok_json(&values))
        }
        .await,
    );
    with_warnings(resp, &warnings)
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
    let mut warnings = vec![];
    let resp = answer(
        async {
            let p = params(&q);
            let format = p.get("format").map(String::as_str).unwrap_or("csv");
            if format != "csv" && format != "json" {
                return Err(ApiError::bad_request(format!("format {format:?} must be csv or json")));
            }
            let filter = filter_of(&p, &user)?;
            let mine = s.store.export(filter.clone(), MAX_EXPORT).await.map_err(internal)?;
            let (theirs, w) =
                ask_peers::<Vec<Record>>(&s, "export", json!({ "filter": filter, "limit": MAX_EXPORT })).await;
            warnings = w;
            let mut lists = vec![(my_id(&s), mine)];
            lists.extend(theirs);
            let records: Vec<Record> = merge(lists).into_iter().take(MAX_EXPORT as usize).collect();
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
    );
    with_warnings(resp, &warnings)
}

/// What one replica asks another.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReplicaQuery {
    #[serde(default)]
    filter: Filter,
    #[serde(default)]
    limit: i64,
    #[serde(default, rename = "auditID")]
    audit_id: String,
    #[serde(default)]
    tenant: Option<String>,
}

/// `POST replica/{op}`: this replica's own events, for another replica merging them with its
/// own. Only for the replicas (their token); the filter, tenant included, is applied as given,
/// since the replica the user called scoped it.
async fn replica(
    State(s): State<Arc<Shared>>,
    Path(op): Path<String>,
    headers: axum::http::HeaderMap,
    req: Request,
) -> Response<Body> {
    if !s.peers.as_ref().is_some_and(|p| p.trusted(&headers)) {
        apiserver::auth::drain(req.into_body()).await;
        return error_response(&ApiError::unauthorized("this route is for the platform's replicas only"));
    }
    answer(
        async {
            let body = read_body(req, 1 << 20).await?;
            let q: ReplicaQuery = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("the replica query does not parse: {e}")))?;
            match op.as_str() {
                "list" => {
                    let mut page = s.store.top(q.filter, q.limit).await.map_err(internal)?;
                    page.items = without_bodies(page.items);
                    Ok(ok_json(&page))
                }
                "export" => {
                    Ok(ok_json(&s.store.export(q.filter, q.limit.clamp(1, MAX_EXPORT)).await.map_err(internal)?))
                }
                "get" => Ok(ok_json(&s.store.get(q.audit_id, q.tenant).await.map_err(internal)?)),
                "fieldValues" => Ok(ok_json(&s.store.field_values(q.tenant).await.map_err(internal)?)),
                other => Err(ApiError::new(Reason::NotFound, format!("no replica query {other:?}"))),
            }
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
    let cert = req.extensions().get::<apiserver::tls::PeerCertificates>();
    if !valid_cluster(&cluster) || !(s.tokens.verify(&cluster, &token) || s.tokens.verify_cert(&cluster, cert)) {
        apiserver::auth::drain(req.into_body()).await;
        tracing::debug!(%cluster, "refused audit events: no valid token or certificate for the cluster");
        return error_response(&ApiError::unauthorized(format!(
            "audit events for cluster {cluster:?} need the cluster's sink token or certificate (GET clusters/{cluster}/auditwebhook)"
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
    fn replicas_merge_newest_first_in_a_stable_order() {
        let r = |id: &str, t: i64| Record { audit_id: id.into(), request_received_timestamp: t, ..Default::default() };
        let merged = merge(vec![
            ("b".into(), vec![r("b3", 30), r("b2", 20), r("b1", 10)]),
            ("a".into(), vec![r("a4", 40), r("a2", 20), r("a0", 0)]),
        ]);
        let ids: Vec<&str> = merged.iter().map(|r| r.audit_id.as_str()).collect();
        assert_eq!(ids, ["a4", "b3", "a2", "b2", "b1", "a0"], "ties in the replicas' order");
    }

    #[test]
    fn cluster_names_are_labels() {
        assert!(valid_cluster("cls-a1"));
        for bad in ["", "-a", "a-", "A", "a/b", "a.b"] {
            assert!(!valid_cluster(bad), "{bad}");
        }
    }
}
