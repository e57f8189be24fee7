use std::sync::Arc;
use futures::Stream;
use crate::*;
#[derive(Default)] pub struct CacheOptions;
pub struct WatchCache;
pub struct CacheBatch { pub events: Vec<Event>, pub revision: Revision, pub initial_end: bool }
impl WatchCache {
    pub async fn start(_s: Arc<dyn Store>, _p: String, _o: CacheOptions) -> Result<Arc<Self>> { todo!() }
    pub async fn get(&self, _k: &str, _m: Option<Revision>) -> Result<(Option<KeyValue>, Revision)> { todo!() }
    pub async fn list(&self, _p: &str, _m: Option<Revision>) -> Result<(Vec<KeyValue>, Revision)> { todo!() }
    pub fn watch(&self, _p: &str, _a: Option<Revision>) -> Result<std::pin::Pin<Box<dyn Stream<Item = Result<CacheBatch>> + Send>>> { todo!() }
}
