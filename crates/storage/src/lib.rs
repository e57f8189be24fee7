//! Revisioned key-value storage with the semantics of etcd v3 as Kubernetes uses them.
//!
//! Every API object of the platform lives in a [`Store`]. The contract, which every backend
//! keeps and the conformance suite checks, is etcd's:
//!
//! * **One global revision.** The store has a single counter. Every successful write (create,
//!   update, delete) increments it by exactly one and stamps the written key with it. Reads never
//!   change it. The API server exposes a key's `mod_revision` as `metadata.resourceVersion` and
//!   the store revision as a list's `resourceVersion`. A fresh store is at revision 1 (as etcd),
//!   so the first write gets revision 2.
//! * **Per-key metadata.** `create_revision` is the revision that created the key (it changes when
//!   a deleted key is created again), `mod_revision` the revision of its last write, and `version`
//!   counts writes since creation (1 after create).
//! * **Compare-and-swap.** [`Store::create`] succeeds only if the key is absent;
//!   [`Store::update`] and [`Store::delete`] take the `mod_revision` the caller last read and fail
//!   with [`StoreError::Conflict`] if the key changed since. That is optimistic concurrency.
//! * **Consistent ranges.** [`Store::range`] reads keys in `[start, end)` in byte order at one
//!   revision (the current one, or a past one that has not been compacted), at most `limit` of
//!   them, and says whether more remain, so a list can be continued at the same revision.
//! * **Ordered, gapless watches.** [`Store::watch`] delivers every change to keys under a prefix
//!   with revision `>= start_revision`, in revision order, each exactly once, and periodic progress
//!   notifications (an empty batch carrying the store revision) so a watcher learns that nothing
//!   under its prefix changed up to that revision (Kubernetes' bookmarks).
//! * **Compaction.** [`Store::compact`] discards history below a revision. Reading or watching at
//!   a compacted revision fails with [`StoreError::Compacted`], which the API server turns into
//!   `410 Gone`.
//! * **Durability.** A write is acknowledged only once it is durable: an acknowledged write
//!   survives a crash (`kill -9`) of the process.

use std::{fmt, pin::Pin};

use bytes::Bytes;
use futures::Stream;

/// A store revision. Signed because etcd's is; never negative in practice.
pub type Revision = i64;

/// One key with its value and revision metadata.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// The revision that created this key (since its last deletion).
    pub create_revision: Revision,
    /// The revision of the last write to this key. For a deletion event: the revision of the delete.
    pub mod_revision: Revision,
    /// Number of writes since creation: 1 after create.
    pub version: i64,
}

impl fmt::Debug for KeyValue {
    // Values may hold secrets (credentials, tokens): never print them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyValue")
            .field("key", &self.key)
            .field("value_len", &self.value.len())
            .field("create_revision", &self.create_revision)
            .field("mod_revision", &self.mod_revision)
            .field("version", &self.version)
            .finish()
    }
}

/// The result of [`Store::range`].
#[derive(Clone, Debug, Default)]
pub struct RangeResult {
    /// Keys in byte order.
    pub kvs: Vec<KeyValue>,
    /// True when keys remain in the range beyond `limit`.
    pub more: bool,
    /// How many keys remain after the returned ones (0 when `more` is false).
    pub remaining: i64,
    /// The revision the range was read at.
    pub revision: Revision,
}

/// One change seen by a watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A key was created or updated. `prev` is the value before the write (None on create).
    Put { kv: KeyValue, prev: Option<KeyValue> },
    /// A key was deleted. `prev` is the last value before deletion, with its revisions; `revision`
    /// is the revision of the deletion.
    Delete { prev: KeyValue, revision: Revision },
}

impl Event {
    /// The revision at which this change happened.
    pub fn revision(&self) -> Revision {
        match self {
            Event::Put { kv, .. } => kv.mod_revision,
            Event::Delete { revision, .. } => *revision,
        }
    }

    /// The key this change is about.
    pub fn key(&self) -> &str {
        match self {
            Event::Put { kv, .. } => &kv.key,
            Event::Delete { prev, .. } => &prev.key,
        }
    }
}

/// What a watch stream yields: a batch of events in revision order, or a progress notification
/// (no events) saying the store has reached `revision` with nothing more under the prefix.
#[derive(Clone, Debug, Default)]
pub struct WatchBatch {
    pub events: Vec<Event>,
    /// Events up to and including this revision have been delivered.
    pub revision: Revision,
}

pub type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchBatch, StoreError>> + Send>>;

/// Asks a running watch for a progress notification: the backend then yields, after every event
/// it has already committed under the prefix, an empty [`WatchBatch`] carrying the store's current
/// revision. The watch cache uses it to prove it is up to date for a consistent read.
pub trait ProgressRequester: Send + Sync {
    fn request_progress(&self);
}

/// A running watch: its stream of batches and the handle that asks it for progress.
pub struct Watch {
    pub stream: WatchStream,
    pub progress: std::sync::Arc<dyn ProgressRequester>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("key {key:?} already exists")]
    AlreadyExists { key: String },
    #[error("key {key:?} not found")]
    NotFound { key: String },
    /// The key changed since the revision the caller expected. `current` is what is stored now
    /// (None if it was deleted), so a caller can retry without another read.
    #[error("key {key:?} was modified: expected mod_revision {expected}")]
    Conflict { key: String, expected: Revision, current: Option<KeyValue> },
    /// The requested revision has been compacted away.
    #[error("required revision {requested} has been compacted (oldest available is {compacted})")]
    Compacted { requested: Revision, compacted: Revision },
    /// The requested revision is in the future.
    #[error("required revision {requested} is a future revision (current is {current})")]
    FutureRevision { requested: Revision, current: Revision },
    /// The backend cannot be reached or failed; the operation may be retried.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Stored data is damaged or the backend misbehaved; not retriable.
    #[error("storage internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A revisioned key-value store; see the module documentation for the contract.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Reads one key at the current revision. Returns the key (if present) and the store revision.
    async fn get(&self, key: &str) -> Result<(Option<KeyValue>, Revision)>;

    /// Reads keys in `[start, end)` in byte order at `revision` (0 = current), at most `limit`
    /// (0 = no limit).
    async fn range(&self, start: &str, end: &str, limit: usize, revision: Revision) -> Result<RangeResult>;

    /// Creates `key` if absent; returns the new key-value (its `mod_revision` is the write's revision).
    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue>;

    /// Replaces `key` if its `mod_revision` is still `expected`; returns the new key-value.
    /// `NotFound` if the key is absent, `Conflict` if it changed.
    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue>;

    /// Deletes `key`, if `expected` is given only if its `mod_revision` is still that. Returns the
    /// deleted key-value and the revision of the deletion.
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(KeyValue, Revision)>;

    /// Watches keys starting with `prefix` from `start_revision` (inclusive; 0 = changes after the
    /// current revision). Fails with `Compacted` if `start_revision` is below the compacted revision.
    async fn watch(&self, prefix: &str, start_revision: Revision) -> Result<Watch>;

    /// Discards history below `revision`.
    async fn compact(&self, revision: Revision) -> Result<()>;

    /// The current store revision and the compacted revision (the oldest still readable).
    async fn revisions(&self) -> Result<(Revision, Revision)>;
}

/// The end of the key range that holds exactly the keys starting with `prefix` (etcd's
/// "prefix end"). Keys are strings, so the end is the prefix with its last character advanced
/// to the next Unicode scalar value (carrying into earlier characters past U+10FFFF): advancing
/// the last byte instead would cut a multi-byte character in half.
pub fn prefix_end(prefix: &str) -> String {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = (last as u32 + 1..=0x10ffff).find_map(char::from_u32) {
            chars.push(next);
            return chars.into_iter().collect();
        }
    }
    // An empty prefix (or only U+10FFFF) ranges to the end of the key space.
    "\u{10ffff}".to_string()
}

pub mod cache;
pub mod embedded;
pub mod etcd;

mod compactor;
pub use compactor::spawn_compactor;
