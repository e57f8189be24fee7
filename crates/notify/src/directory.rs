//! Where the notify controller and the Alertmanager webhook read channels, templates, receivers
//! and receiver groups: in process, from the API server's own store. Channels' credentials are
//! never returned over HTTP (not even to administrators), so whatever sends must read them where
//! they are stored; the other kinds are read the same way so that a send sees the objects as
//! they are now (an informer's cache may not yet hold a receiver created a moment before).

use std::sync::Arc;

use api::notify::{Channel, Receiver, ReceiverGroup, Template};
use apimachinery::{ApiError, error::Reason};
use apiserver::{ApiServer, Context, store::ResourceStore};
use serde::de::DeserializeOwned;

/// Reads the notify objects a send needs, as the platform (credentials included).
#[async_trait::async_trait]
pub trait Directory: Send + Sync + 'static {
    async fn channel(&self, name: &str) -> Result<Option<Channel>, ApiError>;
    async fn template(&self, channel: &str, name: &str) -> Result<Option<Template>, ApiError>;
    async fn receiver(&self, name: &str) -> Result<Option<Receiver>, ApiError>;
    async fn receiver_group(&self, name: &str) -> Result<Option<ReceiverGroup>, ApiError>;
}

/// [`Directory`] over an API server's stores.
pub struct ServerDirectory {
    channels: Arc<ResourceStore>,
    templates: Arc<ResourceStore>,
    receivers: Arc<ResourceStore>,
    groups: Arc<ResourceStore>,
}

impl ServerDirectory {
    pub fn new(server: &ApiServer) -> Result<Self, ApiError> {
        let store = |plural: &str| {
            server
                .resource_store(api::notify::GROUP, api::notify::VERSION, plural)
                .ok_or_else(|| ApiError::internal(format!("the server does not serve {plural}.{}", api::notify::GROUP)))
        };
        Ok(ServerDirectory {
            channels: store("channels")?,
            templates: store("templates")?,
            receivers: store("receivers")?,
            groups: store("receivergroups")?,
        })
    }
}

async fn get<T: DeserializeOwned>(store: &ResourceStore, ns: Option<&str>, name: &str) -> Result<Option<T>, ApiError> {
    if name.is_empty() {
        return Ok(None);
    }
    match store.get(&Context::system("notify", ns), name, None).await {
        Ok(v) => serde_json::from_value(v).map(Some).map_err(|e| ApiError::internal(format!("decoding {name}: {e}"))),
        Err(e) if e.reason == Reason::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[async_trait::async_trait]
impl Directory for ServerDirectory {
    async fn channel(&self, name: &str) -> Result<Option<Channel>, ApiError> {
        get(&self.channels, None, name).await
    }
    async fn template(&self, channel: &str, name: &str) -> Result<Option<Template>, ApiError> {
        get(&self.templates, Some(channel), name).await
    }
    async fn receiver(&self, name: &str) -> Result<Option<Receiver>, ApiError> {
        get(&self.receivers, None, name).await
    }
    async fn receiver_group(&self, name: &str) -> Result<Option<ReceiverGroup>, ApiError> {
        get(&self.groups, None, name).await
    }
}
