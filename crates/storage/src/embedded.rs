//! STUB (being replaced): the embedded store.
pub struct EmbeddedStore;
impl EmbeddedStore { pub fn open(_dir: &std::path::Path) -> crate::Result<Self> { todo!() } }
#[async_trait::async_trait]
impl crate::Store for EmbeddedStore {
    async fn get(&self, _k: &str) -> crate::Result<(Option<crate::KeyValue>, crate::Revision)> { todo!() }
    async fn range(&self, _s: &str, _e: &str, _l: usize, _r: crate::Revision) -> crate::Result<crate::RangeResult> { todo!() }
    async fn create(&self, _k: &str, _v: bytes::Bytes) -> crate::Result<crate::KeyValue> { todo!() }
    async fn update(&self, _k: &str, _v: bytes::Bytes, _e: crate::Revision) -> crate::Result<crate::KeyValue> { todo!() }
    async fn delete(&self, _k: &str, _e: Option<crate::Revision>) -> crate::Result<(crate::KeyValue, crate::Revision)> { todo!() }
    async fn watch(&self, _p: &str, _s: crate::Revision) -> crate::Result<crate::Watch> { todo!() }
    async fn compact(&self, _r: crate::Revision) -> crate::Result<()> { todo!() }
    async fn revisions(&self) -> crate::Result<(crate::Revision, crate::Revision)> { todo!() }
}
