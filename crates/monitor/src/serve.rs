//! The routes of the create-only kinds: `POST metrics` and `POST clusteroverviews` answer the
//! posted object with its result; nothing is stored, so reads, watches and other writes are
//! refused with 405. Served inside authentication and authorization (the generic machinery
//! has no hook for objects computed per caller), which see `create metrics` /
//! `create clusteroverviews` of `monitor.tkestack.io`.
//!
//! With the embedded store and several replicas, only the replica holding the sampler's Lease
//! has the data: another replica forwards a Metric query to it (after scoping it to the caller
//! here) through `POST replica/metrics`, and reads its clusters' latest numbers for overviews
//! through `POST replica/latest` (at most every [`LATEST_TTL`]). Those two routes are served
//! before authentication to the replicas only (their token, [`apiserver::peers`]). When the
//! sampler does not answer, the replica answers from what it holds itself, with a `Warning`.

use std::{sync::Arc, time::Instant};

use api::monitor::{ClusterOverview, GROUP, Metric, VERSION};
use apimachinery::ApiError;
use apiserver::{
    ApiServer, Mount, UserInfo,
    http::{decode_body, error_response},
    peers::Peers,
};
use auth::index::Index;
use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    http::{Method, Response, StatusCode, header},
    routing::any,
};
use serde_json::Value;

use crate::{
    access::Access,
    component::MetricsSettings,
    metrics::{
        Backend, Matcher, Plan,
        sampler::{SAMPLER_ROLE, Sampled},
    },
    overview::Overviews,
    quota::Gauges,
};

/// Largest query body read.
const BODY_LIMIT: usize = 1 << 20;
/// How long the sampler's latest numbers are reused for overviews.
pub const LATEST_TTL: std::time::Duration = std::time::Duration::from_secs(2);
/// How long a replica waits for the sampler.
pub const PEER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// The replicas' routes.
pub const REPLICA_PREFIX: &str = "/apis/monitor.tkestack.io/v1/replica";

/// What the routes answer with.
pub struct Service {
    pub backend: Arc<dyn Backend>,
    pub access: Access,
    pub overviews: Overviews,
    /// The other replicas, when queries go to the one that samples (the embedded store).
    pub replicas: Option<Arc<Peers>>,
    /// When the sampler's latest numbers were last read.
    pub latest_read: std::sync::Mutex<Option<Instant>>,
}

/// A Metric query as a replica forwards it to the sampler, scoped to the caller already.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Forwarded {
    query: api::monitor::metric::MetricQuery,
    now_ms: i64,
    clusters: Option<Vec<String>>,
    /// The conditions the caller's scope added to the plan (label, values it must be in).
    #[serde(default)]
    scope: Vec<(String, Vec<String>)>,
}

/// Follows the clusters (and, with the business component, projects and namespaces), starts the
/// quota gauges and adds the routes to `mount`.
pub async fn mount(
    server: &Arc<ApiServer>,
    sampled: Arc<Sampled>,
    backend: Arc<dyn Backend>,
    settings: &MetricsSettings,
    peers: Option<Arc<Peers>>,
    mount: &mut Mount,
) -> Result<(), ApiError> {
    let store = |group: &str, plural: &str| server.resource(group, "v1", plural).cloned();
    let clusters = Index::start(
        store(api::platform::GROUP, "clusters")
            .ok_or_else(|| ApiError::internal("the monitor component needs platform.tkestack.io clusters served"))?,
    )
    .await?;
    server
        .metrics
        .with_registry(|r| r.register_collector(Box::new(crate::exposition::StoreCollector(sampled.store.clone()))));
    let (projects, portal) = match store(api::business::GROUP, "projects") {
        Some(p) => {
            let projects = Index::start(p).await?;
            let portal = business::portal::PortalSource::start(server).await?;
            if let Some(ns) = store(api::business::GROUP, "namespaces") {
                let namespaces = Index::start_keyed(ns, auth::index::namespaced_key).await?;
                server.metrics.with_registry(Gauges::register).spawn(
                    projects.clone(),
                    namespaces,
                    settings.quota_interval,
                );
            }
            (Some(projects), Some(portal))
        }
        None => (None, None),
    };
    if let Some(p) = &peers {
        sampled.set_peers(p.clone());
    }
    let embedded = matches!(settings.backend, crate::component::MetricsBackend::Embedded);
    let service = Arc::new(Service {
        backend,
        access: Access { clusters: clusters.clone(), portal },
        overviews: Overviews { clusters, projects, sampled },
        replicas: peers.filter(|_| embedded),
        latest_read: std::sync::Mutex::new(None),
    });
    let replica_routes = Router::new()
        .route(&format!("{REPLICA_PREFIX}/{{op}}"), axum::routing::post(replica))
        .with_state(service.clone());
    mount.front = Some(match mount.front.take() {
        Some(f) => f.merge(replica_routes),
        None => replica_routes,
    });
    let previous = mount.around_api.take();
    mount.around_api = Some(Box::new(move |api: Router| {
        let api = match previous {
            Some(f) => f(api),
            None => api,
        };
        let mut router = Router::new();
        for plural in ["metrics", "clusteroverviews"] {
            let path = format!("/apis/{GROUP}/{VERSION}/{plural}");
            router = router.route(&path, any(serve)).route(&format!("{path}/{{*rest}}"), any(serve));
        }
        router.with_state(service).merge(api)
    }));
    Ok(())
}

async fn serve(State(service): State<Arc<Service>>, req: Request) -> Response<Body> {
    let user = req.extensions().get::<UserInfo>().cloned().unwrap_or_default();
    let path = req.uri().path().trim_end_matches('/').to_string();
    let overview = path.ends_with("/clusteroverviews");
    if req.method() != Method::POST || !(overview || path.ends_with("/metrics")) {
        apiserver::auth::drain(req.into_body()).await;
        return error_response(&ApiError::method_not_allowed(
            "metrics and clusteroverviews are queries: POST one to get its answer; nothing is stored to read",
        ));
    }
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let bytes = match axum::body::to_bytes(req.into_body(), BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => return error_response(&ApiError::bad_request(format!("reading the body: {e}"))),
    };
    let body = match decode_body(&bytes, content_type.as_deref()) {
        Ok(v) => v,
        Err(e) => return error_response(&e),
    };
    let mut warnings = vec![];
    let answer = if overview {
        if let Some(w) = service.read_latest().await {
            warnings.push(w);
        }
        service.overview(&user, body)
    } else {
        service.metric(&user, body, &mut warnings).await
    };
    match answer {
        Ok(bytes) => {
            let mut resp = Response::new(Body::from(bytes));
            *resp.status_mut() = StatusCode::CREATED;
            resp.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
            for w in warnings {
                let text = w.replace(['"', '\\', '\n', '\r'], " ");
                if let Ok(v) = header::HeaderValue::from_str(&format!("299 tke-monitor \"{text}\"")) {
                    resp.headers_mut().append(header::WARNING, v);
                }
            }
            resp
        }
        Err(e) => error_response(&e),
    }
}

/// `POST replica/{metrics,latest}`: the sampler's answers to the other replicas.
async fn replica(
    State(service): State<Arc<Service>>,
    axum::extract::Path(op): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
    req: Request,
) -> Response<Body> {
    if !service.replicas.as_ref().is_some_and(|p| p.trusted(&headers)) {
        apiserver::auth::drain(req.into_body()).await;
        return error_response(&ApiError::unauthorized("this route is for the platform's replicas only"));
    }
    let answer = async {
        let bytes = axum::body::to_bytes(req.into_body(), BODY_LIMIT)
            .await
            .map_err(|e| ApiError::bad_request(format!("reading the body: {e}")))?;
        match op.as_str() {
            "metrics" => {
                let f: Forwarded = serde_json::from_slice(&bytes)
                    .map_err(|e| ApiError::bad_request(format!("the forwarded query does not parse: {e}")))?;
                let mut plan = Plan::new(&f.query, f.now_ms)?;
                plan.matchers.extend(f.scope.into_iter().map(|(label, values)| Matcher::In(label, values)));
                let clusters: Option<std::collections::HashSet<String>> = f.clusters.map(|c| c.into_iter().collect());
                let local = crate::metrics::Embedded(service.overviews.sampled.store.clone());
                let series = local.select(&plan, clusters.as_ref()).await?;
                Ok(serde_json::to_vec(&plan.table(&series)).unwrap_or_default())
            }
            "latest" => Ok(serde_json::to_vec(&service.overviews.sampled.all_latest()).unwrap_or_default()),
            other => Err(ApiError::new(apimachinery::error::Reason::NotFound, format!("no replica query {other:?}"))),
        }
    }
    .await;
    match answer {
        Ok(bytes) => {
            let mut resp = Response::new(Body::from(bytes));
            resp.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
            resp
        }
        Err(e) => error_response(&e),
    }
}

fn decode<T: serde::de::DeserializeOwned>(body: Value, kind: &str) -> Result<T, ApiError> {
    serde_json::from_value(body).map_err(|e| ApiError::bad_request(format!("the body is not a {kind}: {e}")))
}

impl Service {
    /// The replica that samples, when it is another one.
    async fn sampler(&self) -> Option<apiserver::peers::Peer> {
        let peers = self.replicas.as_ref()?;
        if self.overviews.sampled.sampling() {
            return None;
        }
        match peers.holder(SAMPLER_ROLE).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "listing the replicas failed");
                None
            }
        }
    }

    /// Copies the sampler's latest numbers (when another replica samples and they are older
    /// than [`LATEST_TTL`]); a warning when it does not answer.
    pub async fn read_latest(&self) -> Option<String> {
        if self.latest_read.lock().ok().and_then(|t| *t).is_some_and(|t| t.elapsed() < LATEST_TTL) {
            return None;
        }
        let peer = self.sampler().await?;
        let peers = self.replicas.as_ref()?;
        let read = peers.call(&peer, &format!("{REPLICA_PREFIX}/latest"), &serde_json::json!({}), PEER_TIMEOUT).await;
        match read.map(|b| serde_json::from_slice::<Vec<api::monitor::cluster_overview::ClusterStatistic>>(&b)) {
            Ok(Ok(all)) => {
                self.overviews.sampled.replace_latest(all);
                if let Ok(mut t) = self.latest_read.lock() {
                    *t = Some(Instant::now());
                }
                None
            }
            Ok(Err(e)) => Some(format!("{} (the sampler) gave numbers that do not parse: {e}", peer.describe())),
            Err(e) => Some(format!("{e}: the numbers are this replica's, from when it last sampled")),
        }
    }

    /// Answers a Metric (from the replica that samples when that is another one).
    pub async fn metric(&self, user: &UserInfo, body: Value, warnings: &mut Vec<String>) -> Result<Vec<u8>, ApiError> {
        let started = Instant::now();
        let mut metric: Metric = decode(body, api::monitor::metric::KIND)?;
        let now_ms = chrono::Utc::now().timestamp_millis();
        let mut plan = Plan::new(&metric.query, now_ms)?;
        let unscoped = plan.matchers.len();
        let clusters = self.access.restrict(user, &mut plan)?;
        let mut forwarded = None;
        if let (Some(peer), Some(peers)) = (self.sampler().await, self.replicas.as_ref()) {
            let mut scoped: Option<Vec<String>> = clusters.as_ref().map(|c| c.iter().cloned().collect());
            if let Some(c) = scoped.as_mut() {
                c.sort();
            }
            let scope = plan.matchers[unscoped..]
                .iter()
                .filter_map(|m| match m {
                    Matcher::In(label, values) => Some((label.clone(), values.clone())),
                    _ => None,
                })
                .collect();
            let body = serde_json::to_value(Forwarded { query: metric.query.clone(), now_ms, clusters: scoped, scope })
                .map_err(|e| ApiError::internal(e.to_string()))?;
            match peers.call(&peer, &format!("{REPLICA_PREFIX}/metrics"), &body, PEER_TIMEOUT).await {
                Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                    Ok(table) => forwarded = Some(table),
                    Err(e) => warnings
                        .push(format!("{} (the sampler) gave a table that does not parse: {e}", peer.describe())),
                },
                Err(e) => warnings.push(format!("{e}: the answer is from this replica's own samples")),
            }
        }
        let table = match forwarded {
            Some(t) => t,
            None => {
                let series = self.backend.select(&plan, clusters.as_ref()).await?;
                plan.table(&series)
            }
        };
        metric.json_result = table.to_string();
        metric.api_version = Some(api::monitor::API_VERSION.into());
        metric.kind = Some(api::monitor::metric::KIND.into());
        tracing::debug!(table = %plan.table, took = ?started.elapsed(), "metrics query");
        serde_json::to_vec(&metric).map_err(|e| ApiError::internal(e.to_string()))
    }

    /// Answers a ClusterOverview.
    pub fn overview(&self, user: &UserInfo, body: Value) -> Result<Vec<u8>, ApiError> {
        let mut o: ClusterOverview = decode(body, api::monitor::cluster_overview::KIND)?;
        o.result = Some(self.overviews.compute(user, &o.spec.tenants));
        o.api_version = Some(api::monitor::API_VERSION.into());
        o.kind = Some(api::monitor::cluster_overview::KIND.into());
        // Written straight from the typed answer: 1,000 clusters make some 800 KB.
        serde_json::to_vec(&o).map_err(|e| ApiError::internal(e.to_string()))
    }
}
