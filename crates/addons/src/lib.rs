//! Add-ons of business clusters (TKEStack's CronHPA, CSIOperator, GPUManager, Helm, IPAM, LBCF,
//! LogCollector, PersistentEvent, Prometheus, TappController, VolumeDecorator): the manifests of
//! each version, embedded in the binary ([`manifests`]), what the Prometheus add-on takes from
//! its spec ([`prometheus`]), the lifecycle every add-on goes through
//! ([`lifecycle`]), and the controllers that drive it ([`controller`]).

pub mod controller;
pub mod lifecycle;
pub mod logcollector;
pub mod manifests;
pub mod prometheus;

pub use controller::{ClusterAccess, ClusterClients, Options, run};
