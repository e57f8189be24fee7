//! STUB (being replaced): the etcd v3 backend.
use std::path::PathBuf;
#[derive(Clone, Debug, Default)] pub struct EtcdTls { pub ca_file: Option<PathBuf>, pub cert_file: Option<PathBuf>, pub key_file: Option<PathBuf> }
pub struct EtcdStore;
impl EtcdStore { pub async fn connect(_servers: &[String], _tls: EtcdTls) -> crate::Result<Self> { todo!() } }
#[async_trait::async_trait]
impl crate::Store for EtcdStore {
    async fn get(&self, _k: &str) -> crate::Result<(Option<crate::KeyValue>, crate::Revision)> { todo!() }
    async fn range(&self, _s: &str, _e: &str, _l: usize, _r: crate::Revision) -> crate::Result<crate::RangeResult> { todo!() }
    async fn create(&self, _k: &str, _v: bytes::Bytes) -> crate::Result<crate::KeyValue> { todo!() }
    async fn update(&self, _k: &str, _v: bytes::Bytes, _e: crate::Revision) -> crate::Result<crate::KeyValue> { todo!() }
    async fn delete(&self, _k: &str, _e: Option<crate::Revision>) -> crate::Result<(crate::KeyValue, crate::Revision)> { todo!() }
    async fn watch(&self, _p: &str, _s: crate::Revision) -> crate::Result<crate::Watch> { todo!() }
    async fn compact(&self, _r: crate::Revision) -> crate::Result<()> { todo!() }
    async fn revisions(&self) -> crate::Result<(crate::Revision, crate::Revision)> { todo!() }
}
