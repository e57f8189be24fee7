//! The storage driver contract the registry is written against, and its backends.
//!
//! Drivers see slash-separated relative paths chosen by the registry (never by clients) and know
//! nothing about digests, manifests or repositories: content addressing, verification and
//! layout live above them, so a new backend (S3, memory) only implements these primitives.

use bytes::Bytes;
use futures::stream::BoxStream;
use std::io;
use std::time::SystemTime;

pub mod fs;
pub mod gc;
pub mod s3;

pub use fs::FileSystem;
pub use s3::{S3, S3Config};

/// A stream of byte chunks (request bodies in, blob contents out).
pub type ByteStream = BoxStream<'static, io::Result<Bytes>>;

/// An entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub is_dir: bool,
}

/// What [`Storage::stat`] tells about an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub size: u64,
    /// When the object was last written (committed, or appended to while in progress);
    /// `None` when the driver cannot tell, which garbage collection treats as "just now".
    pub modified: Option<SystemTime>,
}

/// Why [`Storage::append`] refused or stopped.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The object already holds this many bytes, which is not the offset the caller gave.
    #[error("offset mismatch: object holds {0} bytes")]
    Offset(u64),
    /// The incoming stream or the write failed; whatever arrived before is kept.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// A storage driver.
///
/// Contract:
/// * `put` and `commit` are atomic: a reader sees the old object or the whole new one, never a
///   part, also across a crash (data is made durable before it becomes visible).
/// * `append` writes at the end of an in-progress object and streams: memory use does not grow
///   with the object's size. Whatever it received before a failure stays written.
/// * Missing objects are `Ok(None)` / empty listings, not errors; `delete` of a missing path is
///   a success.
#[async_trait::async_trait]
pub trait Storage: Send + Sync + 'static {
    /// The whole content of a small object (links, tags, manifests), if it exists.
    async fn get(&self, path: &str) -> io::Result<Option<Bytes>>;
    /// Atomically replace a small object.
    async fn put(&self, path: &str, data: Bytes) -> io::Result<()>;
    /// The size of an object, if it exists.
    async fn size(&self, path: &str) -> io::Result<Option<u64>>;
    /// Stream `len` bytes (or up to the end) of an object from `offset`; `None` if it is missing.
    async fn read(&self, path: &str, offset: u64, len: Option<u64>) -> io::Result<Option<ByteStream>>;
    /// Append a stream to an in-progress object that must currently hold exactly `offset`
    /// bytes (it is created when `offset` is 0 and it is missing). Returns the new size.
    async fn append(&self, path: &str, offset: u64, data: ByteStream) -> Result<u64, AppendError>;
    /// Make an in-progress object durable and move it to `to` atomically (replacing `to`).
    async fn commit(&self, from: &str, to: &str) -> io::Result<()>;
    /// The entries of a directory, sorted by name.
    async fn list(&self, dir: &str) -> io::Result<Vec<Entry>>;
    /// Delete an object or a whole directory tree.
    async fn delete(&self, path: &str) -> io::Result<()>;
    /// Size and last write time of an object (committed or in progress), if it exists.
    async fn stat(&self, path: &str) -> io::Result<Option<Stat>> {
        Ok(self.size(path).await?.map(|size| Stat { size, modified: None }))
    }
}
