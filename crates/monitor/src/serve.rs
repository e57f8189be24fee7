//! The routes of the create-only kinds: `POST metrics` and `POST clusteroverviews` answer the
//! posted object with its result; nothing is stored, so reads, watches and other writes are
//! refused with 405. Served inside authentication and authorization (the generic machinery
//! has no hook for objects computed per caller), which see `create metrics` /
//! `create clusteroverviews` of `monitor.tkestack.io`.

use std::{sync::Arc, time::Instant};

use api::monitor::{ClusterOverview, GROUP, Metric, VERSION};
use apimachinery::ApiError;
use apiserver::{
    ApiServer, Mount, UserInfo,
    http::{decode_body, error_response},
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
    metrics::{Backend, Plan, sampler::Sampled},
    overview::Overviews,
    quota::Gauges,
};

/// Largest query body read.
const BODY_LIMIT: usize = 1 << 20;

/// What the routes answer with.
pub struct Service {
    pub backend: Arc<dyn Backend>,
    pub access: Access,
    pub overviews: Overviews,
}

/// Follows the clusters (and, with the business component, projects and namespaces), starts the
/// quota gauges and adds the routes to `mount`.
pub async fn mount(
    server: &Arc<ApiServer>,
    sampled: Arc<Sampled>,
    backend: Arc<dyn Backend>,
    settings: &MetricsSettings,
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
    let service = Arc::new(Service {
        backend,
        access: Access { clusters: clusters.clone(), portal },
        overviews: Overviews { clusters, projects, sampled },
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
    let answer = if overview { service.overview(&user, body) } else { service.metric(&user, body).await };
    match answer {
        Ok(bytes) => {
            let mut resp = Response::new(Body::from(bytes));
            *resp.status_mut() = StatusCode::CREATED;
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
    /// Answers a Metric.
    pub async fn metric(&self, user: &UserInfo, body: Value) -> Result<Vec<u8>, ApiError> {
        let started = Instant::now();
        let mut metric: Metric = decode(body, api::monitor::metric::KIND)?;
        let mut plan = Plan::new(&metric.query, chrono::Utc::now().timestamp_millis())?;
        let clusters = self.access.restrict(user, &mut plan)?;
        let series = self.backend.select(&plan, clusters.as_ref()).await?;
        let table = plan.table(&series);
        metric.json_result = table.to_string();
        metric.api_version = Some(api::monitor::API_VERSION.into());
        metric.kind = Some(api::monitor::metric::KIND.into());
        tracing::debug!(table = %plan.table, series = series.len(), took = ?started.elapsed(), "metrics query");
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
