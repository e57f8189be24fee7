//! What every controller of tke-rs shares, so that a controller is only its reconcile: the
//! controllers of every component (platform, add-ons, registry objects, and those to come) are
//! kube-runtime controllers that talk to the platform's API over HTTPS exactly as to any
//! Kubernetes API server, and reach business clusters one way.
//!
//! - [`leader`]: Lease-based leader election, the one way replicas agree who reconciles;
//! - [`backoff`]: the retry delays of failed reconciles and steps;
//! - [`conflict`]: retrying a read-modify-write that lost an optimistic-concurrency race;
//! - [`shell`]: the status writes and failure counts of phase/condition controllers;
//! - [`cluster`]: reaching a business cluster (address, credential, CA, impersonation, retries);
//! - [`drain`]: taking pods off a node as `kubectl drain` does;
//! - [`metrics`]: reconcile counts, errors and durations and Lease holding, for `/metrics`.

pub mod backoff;
pub mod cluster;
pub mod conflict;
pub mod drain;
pub mod leader;
pub mod metrics;
pub mod shell;

pub use backoff::backoff;
pub use leader::{LeaderOptions, run_while_leading};

use std::path::Path;

/// An error with its causes (`client error (Connect): tcp connect error: Connection refused`),
/// which is what tells a user why something cannot be reached.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// Why a client of the platform's own API could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("reading the kubeconfig {path}: {source}")]
    Read { path: String, source: kube::config::KubeconfigError },
    #[error("the kubeconfig {path}: {source}")]
    Config { path: String, source: kube::config::KubeconfigError },
    #[error("building a client from {path}: {source}")]
    Build { path: String, source: kube::Error },
}

/// A client of the platform's own API from a kubeconfig: how a controller reaches the API it
/// reconciles, in `tke up` as in a deployment of its own.
pub async fn platform_client(kubeconfig: &Path) -> Result<kube::Client, ClientError> {
    let path = kubeconfig.display().to_string();
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)
        .map_err(|source| ClientError::Read { path: path.clone(), source })?;
    let config = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .map_err(|source| ClientError::Config { path: path.clone(), source })?;
    kube::Client::try_from(config).map_err(|source| ClientError::Build { path, source })
}
