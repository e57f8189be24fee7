//! The monitor component's metrics on the platform's `/metrics`: the project quota gauges of
//! reference 7.4 ([`crate::quota`]) and the embedded store's size and drops, after the API
//! server's own metrics. The API server's registry prefixes every name it holds with
//! `apiserver_`, and 7.4's names have no prefix, so the component keeps a registry of its own
//! and serves `/metrics` (inside authentication, as the server's own is) with both.

use std::sync::{Arc, Mutex};

use apiserver::ApiServer;
use axum::{
    Router,
    body::Body,
    extract::State,
    http::{Response, header},
    routing::get,
};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric, text::encode},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
    registry::Registry,
};

use crate::store::SeriesStore;

/// The component's registry (no prefix).
#[derive(Default)]
pub struct Exposition {
    registry: Mutex<Registry>,
}

impl Exposition {
    pub fn new() -> Arc<Self> {
        Arc::new(Exposition::default())
    }

    /// Lets the component's parts register their metrics.
    pub fn with_registry<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        f(&mut self.registry.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The server's metrics, then the component's (one `# EOF` at the end).
    pub fn render(&self, server: &ApiServer) -> String {
        let own = server.metrics.render();
        let mut out = own.strip_suffix("# EOF\n").unwrap_or(&own).to_string();
        let _ = encode(&mut out, &self.registry.lock().unwrap_or_else(|e| e.into_inner()));
        if !out.ends_with("# EOF\n") {
            out.push_str("# EOF\n");
        }
        out
    }

    /// `GET /metrics`.
    pub fn router(self: &Arc<Self>, server: &Arc<ApiServer>) -> Router {
        let state = (self.clone(), Arc::downgrade(server));
        Router::new().route("/metrics", get(serve)).with_state(state)
    }
}

async fn serve(State((expo, server)): State<(Arc<Exposition>, std::sync::Weak<ApiServer>)>) -> Response<Body> {
    let text = server.upgrade().map(|s| expo.render(&s)).unwrap_or_default();
    let mut resp = Response::new(Body::from(text));
    if let Ok(v) = "text/plain; version=0.0.4; charset=utf-8".parse() {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

/// The embedded store's size and drops, read at each scrape.
#[derive(Debug)]
pub struct StoreCollector(pub Arc<SeriesStore>);

impl std::fmt::Debug for SeriesStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeriesStore").field("stats", &self.stats()).finish()
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

impl Collector for StoreCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.0.stats();
        for (name, help, v) in [
            ("tke_monitor_store_bytes", "Bytes the embedded metrics store holds (its cap counts these)", s.bytes),
            ("tke_monitor_store_series", "Series in the embedded metrics store", s.series),
            ("tke_monitor_store_samples", "Samples in the embedded metrics store", s.samples),
        ] {
            let m = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(v as i64).encode(m)?;
        }
        let mut family = encoder.encode_descriptor(
            "tke_monitor_store_dropped_samples",
            "Samples the embedded metrics store dropped: to stay under its cap (space) or past its retention (age)",
            None,
            MetricType::Counter,
        )?;
        for (reason, v) in [("space", s.dropped_for_space), ("age", s.dropped_for_age)] {
            ConstCounter::new(v).encode(family.encode_family(&Reason { reason })?)?;
        }
        let limit = encoder.encode_descriptor(
            "tke_monitor_store_limit_bytes",
            "The embedded metrics store's cap",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(self.0.limits().bytes.min(i64::MAX as usize) as i64).encode(limit)
    }
}
