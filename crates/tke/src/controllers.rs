//! The controllers `tke up` runs in its own process. They talk to the platform's API over HTTPS
//! with the admin credential, exactly as they would when run on their own; only the business
//! clusters' credentials are read in-process (they never leave the server).

use std::{path::Path, sync::Arc};

use anyhow::Context as _;
use apiserver::ApiServer;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// A client of the platform's own API from a kubeconfig.
pub async fn platform_client(kubeconfig: &Path) -> anyhow::Result<kube::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kc = Kubeconfig::read_from(kubeconfig).with_context(|| format!("reading {}", kubeconfig.display()))?;
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .context("the platform client's configuration")?;
    kube::Client::try_from(config).context("building the platform client")
}

/// Business clusters as the platform itself reaches them: from the Cluster's address and its
/// ClusterCredential, read from the store.
pub struct InProcessClusters {
    pub server: Arc<ApiServer>,
}

#[async_trait::async_trait]
impl addons::ClusterClients for InProcessClusters {
    async fn access(&self, cluster: &str) -> addons::ClusterAccess {
        use addons::ClusterAccess;
        let ctx = crate::cluster_proxy::platform_context();
        let Some(clusters) = self.server.resource("platform.tkestack.io", "v1", "clusters") else {
            return ClusterAccess::NotReady("the platform API is not served".into());
        };
        let obj = match clusters.get(&ctx, cluster, None).await {
            Ok(o) => o,
            Err(e) if e.reason == apimachinery::error::Reason::NotFound => return ClusterAccess::Gone,
            Err(e) => return ClusterAccess::NotReady(e.message),
        };
        let access = self.client_of(&ctx, &obj).await;
        if matches!(obj["status"]["phase"].as_str(), Some("Terminating")) {
            return ClusterAccess::Deleting(match access {
                ClusterAccess::Ready(c) => Some(c),
                _ => None,
            });
        }
        access
    }
}

impl InProcessClusters {
    /// A client of the cluster `obj` acting as the platform, or why there is none.
    async fn client_of(&self, ctx: &apiserver::resource::Context, obj: &serde_json::Value) -> addons::ClusterAccess {
        use addons::ClusterAccess;
        let base = match crate::cluster_proxy::base_url(obj) {
            Ok(b) => b,
            Err(e) => return ClusterAccess::NotReady(format!("{e:#}")),
        };
        let cred_name = obj["spec"]["clusterCredentialRef"]["name"].as_str().unwrap_or_default();
        if cred_name.is_empty() {
            return ClusterAccess::NotReady("it has no credential (spec.clusterCredentialRef)".into());
        }
        let Some(creds) = self.server.resource("platform.tkestack.io", "v1", "clustercredentials") else {
            return ClusterAccess::NotReady("the platform API is not served".into());
        };
        let cred = match creds.get(&ctx, cred_name, None).await {
            Ok(c) => c,
            Err(e) => return ClusterAccess::NotReady(format!("credential {cred_name}: {}", e.message)),
        };
        match crate::cluster_proxy::kube_client(&base, &cred, &apiserver::UserInfo::default()) {
            Ok(c) => ClusterAccess::Ready(c),
            Err(e) => ClusterAccess::NotReady(format!("{e:#}")),
        }
    }
}
