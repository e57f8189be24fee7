//! The generic Kubernetes-style API server every tke-rs component is built on: one handler for
//! every verb of every resource, driven by each resource's [`resource::ResourceDef`].

pub mod resource;

pub use resource::{Column, Context, DeleteDecision, ResourceDef, Strategy, Subresources, TypedStrategy, UserInfo, Verbs, typed};
