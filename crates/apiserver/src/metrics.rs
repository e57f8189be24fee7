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
        // Unprefixed: components name their own metrics (`tke_…`, and TKEStack's `project_…`).
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<ResourceLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
        });
        let watchers = Family::<ResourceLabels, Gauge>::default();
        registry.register("apiserver_request", "API requests by verb, group, resource and HTTP code", requests.clone());
        registry.register(
            "apiserver_request_duration_seconds",
            "API request latency (watches excluded)",
            latency.clone(),
        );
        registry.register("apiserver_registered_watchers", "Open watches by group and resource", watchers.clone());
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
        drop(r);
        // `encode` ends with "# EOF"; the process metrics go before it.
        if out.ends_with("# EOF\n") {
            out.truncate(out.len() - "# EOF\n".len());
        }
        out.push_str(&process_metrics());
        out.push_str("# EOF\n");
        out
    }
}

/// The process's resident memory, CPU time and open file descriptors in the names Prometheus'
/// client libraries use, read from `/proc` (empty where `/proc` is missing).
fn process_metrics() -> String {
    let mut out = String::new();
    let page = 4096u64;
    if let Ok(statm) = std::fs::read_to_string("/proc/self/statm") {
        let mut fields = statm.split_whitespace().map(|f| f.parse::<u64>().unwrap_or(0));
        let virt = fields.next().unwrap_or(0);
        let rss = fields.next().unwrap_or(0);
        out.push_str("# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\n");
        out.push_str(&format!("process_resident_memory_bytes {}\n", rss * page));
        out.push_str("# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n# TYPE process_virtual_memory_bytes gauge\n");
        out.push_str(&format!("process_virtual_memory_bytes {}\n", virt * page));
    }
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            let cpu = (ticks(11) + ticks(12)) as f64 / 100.0;
            out.push_str("# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds_total counter\n");
            out.push_str(&format!("process_cpu_seconds_total {cpu}\n"));
        }
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        out.push_str("# HELP process_open_fds Number of open file descriptors.\n# TYPE process_open_fds gauge\n");
        out.push_str(&format!("process_open_fds {}\n", fds.count()));
    }
    out
}
