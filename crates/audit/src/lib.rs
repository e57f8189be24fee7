//! The audit component (reference 1.11 and 8.2): who did what, in the platform and in every
//! business cluster. [`component::Audit`] mounts it into an API server:
//!
//! - ingestion of Kubernetes audit webhooks (`POST /apis/audit.tkestack.io/v1/events/sink/{cluster}`,
//!   each cluster with its own token, [`sink`]) and of the platform's own requests (the
//!   [`policy`] through the API server's audit hook, labelled cluster `control-plane`);
//! - the flat event form ([`record`]) in an embedded SQLite database with indexes for the
//!   queries, batched durable writes and retention by age and size ([`store`]);
//! - the tenant-scoped query API, blocked clusters, store configuration and export ([`routes`]).
//!
//! Several replicas: each replica keeps its own database and stores the events it receives
//! (from the webhooks a load balancer sends it, and its own requests); a query on one replica
//! sees that replica's events only. Events are stored once (no replica copies another's), but a
//! query does not yet see every replica's: the planned remedy is for the sink to write through
//! the leader (the replica holding the `audit` Lease), which the single-replica `tke up` does
//! not need. Run one replica of the audit component, or query each, until then. The
//! configuration (blocked clusters, retention, the sink's token key) is in the platform's store
//! and shared by all replicas.

pub mod component;
pub mod policy;
pub mod record;
pub mod routes;
pub mod sink;
pub mod store;

pub use component::{Audit, Config};
