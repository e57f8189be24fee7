//! The generic Kubernetes-style API server every tke-rs component is built on: one handler for
//! every verb of every resource, driven by each resource's [`resource::ResourceDef`].

pub mod admission;
pub mod apply;
pub mod audit;
pub mod auth;
pub mod component;
pub mod connect;
pub mod cookies;
pub mod discovery;
pub mod dynamic;
pub mod http;
pub mod metrics;
pub mod object;
pub mod openapi;
pub mod patch;
pub mod peers;
pub mod protobuf;
pub mod proxying;
pub mod resource;
pub mod reviews;
pub mod server;
pub mod session;
pub mod store;
pub mod table;
pub mod tls;
pub mod webhook;

pub use admission::{Admission, AdmissionRequest, Operation};
pub use component::{Component, Mount};
pub use connect::{Connect, ConnectDef, ConnectRequest};
pub use resource::{
    Column, Context, DeleteDecision, ResourceDef, Strategy, Subresources, TypedStrategy, UserInfo, Verbs, typed,
};
pub use server::{ApiServer, VersionInfo};
