//! The controllers of `authz.tkestack.io/v1` (reference 1.4): Kubernetes RBAC of business
//! clusters managed from the platform. They are kube-runtime controllers talking to the
//! platform's API like any client, reaching business clusters through the controller runtime's
//! one way ([`controller_runtime::cluster`]), and run under a Lease in `tke up`.
//!
//! - [`grant`]: what a binding becomes inside one cluster (ClusterRole
//!   `tkestack-authz.{namespace}.{role}` with the rules of the role's policies, ClusterRoleBinding
//!   `tkestack-authz.{namespace}.{binding}` for the user), and granting and revoking it;
//! - [`binding`]: the MultiClusterRoleBinding controller (grants in every listed cluster, `*` =
//!   every cluster of the tenant, revokes in clusters dropped from the list and when the binding
//!   is deleted, one condition per cluster) and the Role controller (a deleted Role stays until
//!   no binding holds a grant of it in any cluster).

pub mod binding;
pub mod grant;

pub use binding::{Options, run};
