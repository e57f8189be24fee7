//! An in-memory view of one resource kept current by a watch on the server's own store: the
//! auth component's lookups on every request (a user by tenant and username, an API key by its
//! token id, the signing keys) read it instead of the store. With several replicas on etcd
//! each keeps its own view, fed by the same watch, so they converge within a watch delivery.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use apiserver::{Context, store::ListOptions, store::ResourceStore, store::WatchEvent};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::watch;

/// The context the auth component reads and writes its own objects with: a platform
/// administrator, so tenancy does not hide anything from it.
pub fn system_context() -> Context {
    Context::system("system:auth", None)
}

/// The store of one `auth.tkestack.io/v1` resource of `server` (the auth component serves them
/// all, so a missing one is an internal error).
pub fn store_of(server: &apiserver::ApiServer, plural: &str) -> Result<Arc<ResourceStore>, apimachinery::ApiError> {
    server
        .resource(api::auth::GROUP, api::auth::VERSION, plural)
        .cloned()
        .ok_or_else(|| apimachinery::ApiError::internal(format!("{plural} is not served")))
}

/// Objects of one resource by name (or by another key, see [`Index::start_keyed`]), decoded
/// into `T`.
pub struct Index<T> {
    objects: RwLock<HashMap<String, Arc<T>>>,
    /// Bumped after every applied change, so a writer can wait until its write is visible.
    version: watch::Sender<u64>,
    /// The key of an object (its name, or `{namespace}/{name}` for namespaced resources whose
    /// names repeat across namespaces).
    key: fn(&Value) -> String,
}

/// The key of [`Index::start`]: the object's name.
fn name_key(v: &Value) -> String {
    apiserver::object::name(v).to_string()
}

/// A key for namespaced objects: `{namespace}/{name}`.
pub fn namespaced_key(v: &Value) -> String {
    let ns = v.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default();
    format!("{ns}/{}", apiserver::object::name(v))
}

impl<T: DeserializeOwned + Send + Sync + 'static> Index<T> {
    /// Lists the resource, then follows it in the background for as long as the index lives.
    /// Objects that do not decode are left out (and logged): a bad object must not stop logins.
    pub async fn start(store: Arc<ResourceStore>) -> Result<Arc<Self>, apimachinery::ApiError> {
        Self::start_keyed(store, name_key).await
    }

    /// [`Index::start`], the objects kept under `key(object)` (e.g. [`namespaced_key`]).
    pub async fn start_keyed(
        store: Arc<ResourceStore>,
        key: fn(&Value) -> String,
    ) -> Result<Arc<Self>, apimachinery::ApiError> {
        let index = Arc::new(Index { objects: RwLock::new(HashMap::new()), version: watch::channel(0).0, key });
        let revision = index.relist(&store).await?;
        let weak = Arc::downgrade(&index);
        tokio::spawn(async move {
            let mut revision = revision;
            loop {
                let Some(index) = weak.upgrade() else { return };
                match index.follow(&store, revision).await {
                    Ok(()) => {}
                    Err(e) => tracing::debug!(resource = store.def.plural, error = %e.message, "index watch ended"),
                }
                drop(index);
                tokio::time::sleep(Duration::from_millis(200)).await;
                let Some(index) = weak.upgrade() else { return };
                match index.relist(&store).await {
                    Ok(r) => revision = r,
                    Err(e) => tracing::warn!(resource = store.def.plural, error = %e.message, "index list failed"),
                }
            }
        });
        Ok(index)
    }

    async fn relist(&self, store: &ResourceStore) -> Result<i64, apimachinery::ApiError> {
        let list = store.list(&system_context(), &ListOptions::default()).await?;
        let mut fresh = HashMap::new();
        for item in &list.items {
            if let Some((name, obj)) = decode::<T>(&item.value, self.key) {
                fresh.insert(name, Arc::new(obj));
            }
        }
        *self.objects.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        self.version.send_modify(|v| *v += 1);
        Ok(list.revision)
    }

    async fn follow(&self, store: &Arc<ResourceStore>, revision: i64) -> Result<(), apimachinery::ApiError> {
        let opts = ListOptions { resource_version: Some(revision.to_string()), ..Default::default() };
        let mut events = Box::pin(store.watch(&system_context(), &opts).await?);
        while let Some(ev) = events.next().await {
            match ev {
                WatchEvent::Added(i) | WatchEvent::Modified(i) => {
                    if let Some((name, obj)) = decode::<T>(&i.value, self.key) {
                        self.objects.write().unwrap_or_else(|e| e.into_inner()).insert(name, Arc::new(obj));
                    }
                }
                WatchEvent::Deleted(i) => {
                    if let Ok(v) = serde_json::from_slice::<Value>(&i.value) {
                        let name = (self.key)(&v);
                        self.objects.write().unwrap_or_else(|e| e.into_inner()).remove(&name);
                    }
                }
                WatchEvent::Bookmark { .. } => continue,
                WatchEvent::Error(e) => return Err(e),
            }
            self.version.send_modify(|v| *v += 1);
        }
        Ok(())
    }

    /// A number that changes whenever the index does (to rebuild what is derived from it).
    pub fn version(&self) -> u64 {
        *self.version.borrow()
    }

    /// Changes whenever the index does: a controller waits on it for work.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Every object.
    pub fn all(&self) -> Vec<Arc<T>> {
        self.objects.read().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }

    pub fn get(&self, name: &str) -> Option<Arc<T>> {
        self.objects.read().unwrap_or_else(|e| e.into_inner()).get(name).cloned()
    }

    /// The first object `pred` accepts.
    pub fn find(&self, pred: impl Fn(&T) -> bool) -> Option<Arc<T>> {
        self.objects.read().unwrap_or_else(|e| e.into_inner()).values().find(|o| pred(o)).cloned()
    }

    /// Every object `pred` accepts.
    pub fn filter(&self, pred: impl Fn(&T) -> bool) -> Vec<Arc<T>> {
        self.objects.read().unwrap_or_else(|e| e.into_inner()).values().filter(|o| pred(o)).cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.objects.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits (at most `timeout`) until `pred` holds for the index, e.g. until an object this
    /// process just wrote is visible.
    pub async fn wait_for(&self, timeout: Duration, pred: impl Fn(&Self) -> bool) -> bool {
        let mut changes = self.version.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if pred(self) {
                return true;
            }
            if tokio::time::timeout_at(deadline, changes.changed()).await.is_err() {
                return pred(self);
            }
        }
    }
}

fn decode<T: DeserializeOwned>(bytes: &[u8], key: fn(&Value) -> String) -> Option<(String, T)> {
    let v: Value = serde_json::from_slice(bytes).ok()?;
    let name = key(&v);
    match serde_json::from_value(v) {
        Ok(obj) => Some((name, obj)),
        Err(e) => {
            tracing::warn!(name, error = %e, "an object of the auth group does not decode; ignored");
            None
        }
    }
}
