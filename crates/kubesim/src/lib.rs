//! Simulated Kubernetes business clusters for tests and demos: the core Kubernetes API served by
//! our own API machinery ([`resources`]), a kwok-like simulator of nodes, pods and workload
//! controllers that talks to it through kube-rs like any client ([`Simulator`]), and a whole
//! cluster started in-process behind TLS, authentication and (optionally) RBAC
//! ([`SimCluster`], [`rbac`]), and many of them
//! sharing one store, certificates and documents ([`SimFleet`]). Product code reaches
//! a simulated cluster exactly as a real one: by URL, CA and credentials.

pub mod crds;
pub mod eviction;
pub mod exec;
pub mod fleet;
pub mod logs;
pub mod memstore;
pub mod metrics;
pub mod rbac;
pub mod resources;
pub mod scale;
pub mod shell;
pub mod strategy;

pub use resources::resources;
pub mod sim;

pub use sim::{SimConfig, Simulator};
pub mod cluster;

pub use cluster::{SimCluster, SimOptions};

pub use fleet::{FleetOptions, SimFleet};
pub use memstore::MemStore;
