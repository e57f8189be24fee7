//! The audit component (reference 1.11 and 8.2): who did what, in the platform and in every
//! business cluster. [`component::Audit`] mounts it into an API server:
//!
//! - ingestion of Kubernetes audit webhooks (`POST /apis/audit.tkestack.io/v1/events/sink/{cluster}`,
//!   each cluster with its own token or client certificate, [`sink`]) and of the platform's own requests (the
//!   [`policy`] through the API server's audit hook, labelled cluster `control-plane`);
//! - the flat event form ([`record`]) in an embedded SQLite database with indexes for the
//!   queries, batched durable writes and retention by age and size ([`store`]);
//! - the tenant-scoped query API, blocked clusters, store configuration and export ([`routes`]).
//!
//! Several replicas: each replica stores the events it receives (from the webhooks a load
//! balancer sends it, and its own requests) in its own database, once (a unique index on the
//! auditID and stage makes a retried batch a no-op). A query on any replica asks every other
//! replica serving audit (found through [`apiserver::peers`]) for its share, with the filter
//! and tenant scope the called replica computed, and merges the answers newest first, so paging
//! and totals cover every replica; a replica that is down or does not answer within
//! [`routes::PEER_TIMEOUT`] is named in the answer's `warnings` (and `Warning` headers) instead
//! of its events silently missing. The configuration (blocked clusters, retention, the sink's
//! token key) is in the platform's store and shared by all replicas.

pub mod component;
pub mod policy;
pub mod record;
pub mod routes;
pub mod sink;
pub mod store;

pub use component::{Audit, Config};
