//! The audit component (reference 1.8 and 8.2): `audit.tkestack.io/v1` served by the API server ([`component::Audit`]).
//! The audit events of business clusters and of the platform itself: ingestion, storage with retention, and queries.

pub mod component;

pub use component::Audit;
