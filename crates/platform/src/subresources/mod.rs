//! The Cluster subresources, served beside the resource they extend (as TKEStack keeps
//! `registry/cluster/storage/{proxy,apply,drain}.go`): the way from the platform's API to a
//! business cluster's API (`clusters/{name}/proxy`, the unified proxy, the add-ons' custom
//! resource shortcuts) and the actions on a cluster (`apply`, `drain`, `apiresources`,
//! `addons`, `addontypes`), all of them acting in the cluster as the caller; and
//! `authwebhook`, the platform's webhook configuration for the cluster's kube-apiserver.

pub mod actions;
pub mod authwebhook;
pub mod proxy;

use std::sync::Arc;

use apimachinery::ApiError;
use apiserver::ApiServer;

pub use proxy::{CLUSTER_HEADER, ClusterProxy};

/// Serves every Cluster subresource on `server`. The returned proxy also serves the unified
/// proxy: wrap the server's routes with [`ClusterProxy::layer`].
pub fn mount(server: &Arc<ApiServer>) -> Result<Arc<ClusterProxy>, ApiError> {
    let proxy = ClusterProxy::new(server.clone());
    proxy.register()?;
    proxy::CustomResourceShortcut::register_all(&proxy)?;
    actions::register(server)?;
    Ok(proxy)
}
