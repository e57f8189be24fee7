//! The monitor component (reference 1.6 and 7): `monitor.tkestack.io/v1` served by the API server ([`component::Monitor`]).
//! Metrics of every cluster, node, workload, pod, container and project from Prometheus-compatible backends or the embedded store, and alarm policies.

pub mod access;
pub mod alarm;
pub mod certificates;
pub mod component;
pub mod exposition;
pub mod metrics;
pub mod overview;
pub mod quota;
pub mod serve;
pub mod store;

pub use component::Monitor;
