//! Where the notify controller and the Alertmanager webhook read channels, templates, receivers
//! and receiver groups, and where the controller records what it sent (Messages, requests'
//! status): in process, in the API server's own stores. Channels' credentials are never returned
//! over HTTP (not even to administrators), so whatever sends must read them where they are
//! stored; the other kinds are read the same way so that a send sees the objects as they are now
//! (an informer's cache may not yet hold a receiver created a moment before). The records are
//! written the same way because a burst of alerts means thousands of them: through the stores
//! they cost a store write each, over HTTPS also a TLS connection, authentication and
//! authorization (the controller always runs in the process serving the component).

use std::sync::Arc;

use api::notify::{Channel, Receiver, ReceiverGroup, Template};
use apimachinery::{ApiError, error::Reason};
use apiserver::{
    ApiServer, Context,
    patch::PatchType,
    store::{ResourceStore, WriteOptions},
};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Reads the notify objects a send needs, as the platform (credentials included).
#[async_trait::async_trait]
pub trait Directory: Send + Sync + 'static {
    async fn channel(&self, name: &str) -> Result<Option<Channel>, ApiError>;
    async fn template(&self, channel: &str, name: &str) -> Result<Option<Template>, ApiError>;
    async fn receiver(&self, name: &str) -> Result<Option<Receiver>, ApiError>;
    async fn receiver_group(&self, name: &str) -> Result<Option<ReceiverGroup>, ApiError>;
    /// Whether the Message `name` exists (a delivery archived before a restart).
    async fn message_exists(&self, name: &str) -> Result<bool, ApiError>;
    /// Creates a Message; one already there (archived before a restart) is not an error.
    async fn archive(&self, message: Value) -> Result<(), ApiError>;
    /// Merges `patch` into the status of the request `channel/name`; a request deleted
    /// meanwhile is not an error (nothing is left to record on).
    async fn set_request_status(&self, channel: &str, name: &str, patch: &Value) -> Result<(), ApiError>;
}

/// [`Directory`] over an API server's stores.
pub struct ServerDirectory {
    channels: Arc<ResourceStore>,
    templates: Arc<ResourceStore>,
    receivers: Arc<ResourceStore>,
    groups: Arc<ResourceStore>,
    messages: Arc<ResourceStore>,
    requests: Arc<ResourceStore>,
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
            messages: store("messages")?,
            requests: store("messagerequests")?,
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
    async fn message_exists(&self, name: &str) -> Result<bool, ApiError> {
        match self.messages.get(&Context::system("notify", None), name, None).await {
            Ok(_) => Ok(true),
            Err(e) if e.reason == Reason::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
    async fn archive(&self, message: Value) -> Result<(), ApiError> {
        match self.messages.create(&Context::system("notify", None), message, &write_options()).await {
            Ok(_) => Ok(()),
            Err(e) if e.reason == Reason::AlreadyExists => Ok(()),
            Err(e) => Err(e),
        }
    }
    async fn set_request_status(&self, channel: &str, name: &str, patch: &Value) -> Result<(), ApiError> {
        let ctx = Context::system("notify", Some(channel));
        let body = patch.to_string();
        match self.requests.patch(&ctx, name, Some("status"), PatchType::Merge, body.as_bytes(), &write_options()).await
        {
            Ok(_) => Ok(()),
            Err(e) if e.reason == Reason::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Writes as the notify controller (its field manager on the objects).
fn write_options() -> WriteOptions {
    WriteOptions { field_manager: Some("tke-notify-controller".into()), ..Default::default() }
}
