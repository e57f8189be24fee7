//! Prometheus metrics of the API server, served at `/metrics`: request counts and latencies by
//! verb, group, resource and code, and the number of open watches.

use std::sync::{Arc, Mutex};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResourceLabels {
    pub group: String,
    pub resource: String,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<ResourceLabels, Histogram>,
    pub watchers: Family<ResourceLabels, Gauge>,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("apiserver");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<ResourceLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
        });
        let watchers = Family::<ResourceLabels, Gauge>::default();
        registry.register("request", "API requests by verb, group, resource and HTTP code", requests.clone());
        registry.register("request_duration_seconds", "API request latency (watches excluded)", latency.clone());
        registry.register("registered_watchers", "Open watches by group and resource", watchers.clone());
        Arc::new(Self { registry: Mutex::new(registry), requests, latency, watchers })
    }

    /// Lets other parts of the process (storage, controllers) register their metrics.
    pub fn with_registry<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        let mut r = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut r)
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let r = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        let _ = encode(&mut out, &r);
        out
    }
}
