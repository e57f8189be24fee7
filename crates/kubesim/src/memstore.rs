//! An in-memory [`Store`] for many simulated clusters in one process. Each cluster's API server
//! keeps a watch cache per resource, so a thousand clusters open tens of thousands of store
//! watches; a backend that wakes every watch on every write (the embedded store's broadcast)
//! spends all its time waking watches that do not care. Here a write is handed only to the
//! watches whose prefix the key starts with (found by looking the key's prefixes up in a map),
//! under the same lock that orders writes, so every watch sees its changes once, in order,
//! without a task of its own. History is kept for past reads and watch replays until compacted.
//! Nothing is durable: a simulated cluster lives as long as its process.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard, Weak},
};

use bytes::Bytes;
use storage::{
    Event, KeyValue, ProgressRequester, RangeResult, Result, Revision, Store, StoreError, Watch, WatchBatch,
};
use tokio::sync::mpsc;

/// One version of a key: its value, or `None` once deleted (a tombstone, kept until compacted so
/// that past reads see the deletion).
#[derive(Clone)]
struct Version {
    revision: Revision,
    kv: Option<KeyValue>,
}

/// A watch: where it sends, and the first revision it wants.
struct Watcher {
    from: Revision,
    tx: mpsc::UnboundedSender<Result<WatchBatch>>,
}

#[derive(Default)]
struct State {
    revision: Revision,
    compacted: Revision,
    /// Every key's versions, oldest first.
    keys: BTreeMap<String, Vec<Version>>,
    /// Every change since the compacted revision, in revision order (one per revision).
    log: VecDeque<Event>,
    /// Watches by prefix.
    watchers: HashMap<String, Vec<Watcher>>,
    /// The lengths (in bytes) of the prefixes watched, to look a key's prefixes up.
    prefix_lengths: BTreeMap<usize, usize>,
}

/// The in-memory store; cheap to share (`Arc`).
pub struct MemStore {
    state: Arc<Mutex<State>>,
}

impl Default for MemStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemStore {
    /// An empty store at revision 1 (as etcd: the first write gets revision 2).
    pub fn new() -> Self {
        MemStore { state: Arc::new(Mutex::new(State { revision: 1, compacted: 1, ..Default::default() })) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The number of open watches (for tests and figures).
    pub fn watches(&self) -> usize {
        let mut state = self.lock();
        state.prune();
        state.watchers.values().map(Vec::len).sum()
    }
}

fn check_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(StoreError::Internal("the empty key is not a valid key".into()));
    }
    Ok(())
}

impl State {
    fn current(&self, key: &str) -> Option<&KeyValue> {
        self.keys.get(key).and_then(|v| v.last()).and_then(|v| v.kv.as_ref())
    }

    fn at(&self, key: &str, revision: Revision) -> Option<&KeyValue> {
        let versions = self.keys.get(key)?;
        let idx = versions.partition_point(|v| v.revision <= revision);
        versions.get(idx.checked_sub(1)?)?.kv.as_ref()
    }

    /// Records a change at the next revision and hands it to the watches of its key.
    fn commit(&mut self, key: &str, kv: Option<KeyValue>, event: Event) {
        self.revision = event.revision();
        self.keys.entry(key.to_string()).or_default().push(Version { revision: self.revision, kv });
        self.log.push_back(event.clone());
        self.dispatch(key, &event);
    }

    fn dispatch(&mut self, key: &str, event: &Event) {
        let lengths: Vec<usize> = self.prefix_lengths.keys().copied().take_while(|l| *l <= key.len()).collect();
        let revision = event.revision();
        for len in lengths {
            let Some(prefix) = key.get(..len) else { continue };
            let Some(list) = self.watchers.get_mut(prefix) else { continue };
            let before = list.len();
            list.retain(|w| {
                w.from > revision || w.tx.send(Ok(WatchBatch { events: vec![event.clone()], revision })).is_ok()
            });
            if list.len() != before {
                let prefix = prefix.to_string();
                self.forget_closed(&prefix, before);
            }
        }
    }

    /// Drops the bookkeeping of watches that ended (their receivers were dropped).
    fn forget_closed(&mut self, prefix: &str, before: usize) {
        let after = self.watchers.get(prefix).map_or(0, Vec::len);
        let gone = before - after;
        if after == 0 {
            self.watchers.remove(prefix);
        }
        if let Some(n) = self.prefix_lengths.get_mut(&prefix.len()) {
            *n = n.saturating_sub(gone);
            if *n == 0 {
                self.prefix_lengths.remove(&prefix.len());
            }
        }
    }

    /// Forgets every ended watch, also those under prefixes nothing is written to any more.
    fn prune(&mut self) {
        let prefixes: Vec<(String, usize)> = self
            .watchers
            .iter_mut()
            .filter_map(|(p, list)| {
                let before = list.len();
                list.retain(|w| !w.tx.is_closed());
                (list.len() != before).then(|| (p.clone(), before))
            })
            .collect();
        for (p, before) in prefixes {
            self.forget_closed(&p, before);
        }
    }

    fn add_watcher(&mut self, prefix: &str, watcher: Watcher) {
        self.watchers.entry(prefix.to_string()).or_default().push(watcher);
        *self.prefix_lengths.entry(prefix.len()).or_default() += 1;
    }
}

/// Asks for a progress notification: sent at once (under the lock, so after every change
/// already sent to the watch).
struct Progress {
    state: Weak<Mutex<State>>,
    tx: mpsc::UnboundedSender<Result<WatchBatch>>,
}

impl ProgressRequester for Progress {
    fn request_progress(&self) {
        let Some(state) = self.state.upgrade() else { return };
        let state = state.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self.tx.send(Ok(WatchBatch { events: vec![], revision: state.revision }));
    }
}

#[async_trait::async_trait]
impl Store for MemStore {
    async fn get(&self, key: &str) -> Result<(Option<KeyValue>, Revision)> {
        let state = self.lock();
        Ok((state.current(key).cloned(), state.revision))
    }

    async fn range(&self, start: &str, end: &str, limit: usize, revision: Revision) -> Result<RangeResult> {
        let state = self.lock();
        let at = if revision <= 0 { state.revision } else { revision };
        if at > state.revision {
            return Err(StoreError::FutureRevision { requested: at, current: state.revision });
        }
        if at < state.compacted {
            return Err(StoreError::Compacted { requested: at, compacted: state.compacted });
        }
        if start >= end {
            return Ok(RangeResult { revision: at, ..Default::default() });
        }
        let mut kvs = Vec::new();
        let mut remaining = 0i64;
        for (key, _) in state.keys.range::<str, _>((std::ops::Bound::Included(start), std::ops::Bound::Excluded(end))) {
            let Some(kv) = state.at(key, at) else { continue };
            if limit > 0 && kvs.len() >= limit {
                remaining += 1;
            } else {
                kvs.push(kv.clone());
            }
        }
        Ok(RangeResult { kvs, more: remaining > 0, remaining, revision: at })
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        check_key(key)?;
        let mut state = self.lock();
        if state.current(key).is_some() {
            return Err(StoreError::AlreadyExists { key: key.to_string() });
        }
        let rev = state.revision + 1;
        let kv = KeyValue { key: key.to_string(), value, create_revision: rev, mod_revision: rev, version: 1 };
        state.commit(key, Some(kv.clone()), Event::Put { kv: kv.clone(), prev: None });
        Ok(kv)
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue> {
        check_key(key)?;
        let mut state = self.lock();
        let Some(prev) = state.current(key).cloned() else { return Err(StoreError::NotFound { key: key.to_string() }) };
        if prev.mod_revision != expected {
            return Err(StoreError::Conflict { key: key.to_string(), expected, current: Some(prev) });
        }
        let rev = state.revision + 1;
        let kv = KeyValue {
            key: key.to_string(),
            value,
            create_revision: prev.create_revision,
            mod_revision: rev,
            version: prev.version + 1,
        };
        state.commit(key, Some(kv.clone()), Event::Put { kv: kv.clone(), prev: Some(prev) });
        Ok(kv)
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(KeyValue, Revision)> {
        check_key(key)?;
        let mut state = self.lock();
        let Some(prev) = state.current(key).cloned() else { return Err(StoreError::NotFound { key: key.to_string() }) };
        if let Some(expected) = expected
            && prev.mod_revision != expected
        {
            return Err(StoreError::Conflict { key: key.to_string(), expected, current: Some(prev) });
        }
        let rev = state.revision + 1;
        state.commit(key, None, Event::Delete { prev: prev.clone(), revision: rev });
        Ok((prev, rev))
    }

    async fn watch(&self, prefix: &str, start_revision: Revision) -> Result<Watch> {
        let mut state = self.lock();
        let from = if start_revision <= 0 { state.revision + 1 } else { start_revision };
        if from < state.compacted {
            return Err(StoreError::Compacted { requested: from, compacted: state.compacted });
        }
        let (tx, rx) = mpsc::unbounded_channel();
        // The history this watch asks for, then (under the same lock) every later change.
        let first = state.log.front().map_or(state.revision + 1, Event::revision);
        let skip = usize::try_from(from - first).unwrap_or(0);
        let replay: Vec<Event> = state.log.iter().skip(skip).filter(|e| e.key().starts_with(prefix)).cloned().collect();
        for e in replay {
            let revision = e.revision();
            let _ = tx.send(Ok(WatchBatch { events: vec![e], revision }));
        }
        state.add_watcher(prefix, Watcher { from, tx: tx.clone() });
        let progress = Arc::new(Progress { state: Arc::downgrade(&self.state), tx });
        Ok(Watch { stream: Box::pin(tokio_stream::wrappers::UnboundedReceiverStream::new(rx)), progress })
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let mut state = self.lock();
        if revision > state.revision {
            return Err(StoreError::FutureRevision { requested: revision, current: state.revision });
        }
        if revision <= state.compacted {
            return Ok(());
        }
        state.compacted = revision;
        while state.log.front().is_some_and(|e| e.revision() < revision) {
            state.log.pop_front();
        }
        // Each key keeps its newest version at or below the compacted revision (what a read
        // there sees) and everything after; a key deleted by then is gone.
        state.keys.retain(|_, versions| {
            let visible = versions.partition_point(|v| v.revision <= revision);
            if visible > 1 {
                versions.drain(..visible - 1);
            }
            !(versions.len() == 1 && versions[0].kv.is_none() && versions[0].revision <= revision)
        });
        state.prune();
        Ok(())
    }

    async fn revisions(&self) -> Result<(Revision, Revision)> {
        let state = self.lock();
        Ok((state.revision, state.compacted))
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    async fn next(w: &mut Watch) -> WatchBatch {
        tokio::time::timeout(std::time::Duration::from_secs(5), w.stream.next())
            .await
            .expect("a batch in time")
            .expect("open")
            .expect("no error")
    }

    #[tokio::test]
    async fn writes_are_revisioned_and_compare_and_swap() {
        let s = MemStore::new();
        let a = s.create("/a/x", Bytes::from("1")).await.expect("create");
        assert_eq!((a.create_revision, a.mod_revision, a.version), (2, 2, 1));
        assert!(matches!(s.create("/a/x", Bytes::from("1")).await, Err(StoreError::AlreadyExists { .. })));
        assert!(matches!(s.update("/a/x", Bytes::from("2"), 1).await, Err(StoreError::Conflict { .. })));
        let b = s.update("/a/x", Bytes::from("2"), 2).await.expect("update");
        assert_eq!((b.create_revision, b.mod_revision, b.version), (2, 3, 2));
        let (gone, rev) = s.delete("/a/x", None).await.expect("delete");
        assert_eq!((gone.value, rev), (Bytes::from("2"), 4));
        assert!(s.get("/a/x").await.expect("get").0.is_none());
        // The past is readable until compacted.
        let old = s.range("/a/", "/a0", 0, 3).await.expect("range at 3");
        assert_eq!(old.kvs[0].value, Bytes::from("2"));
        s.compact(4).await.expect("compact");
        assert!(matches!(s.range("/a/", "/a0", 0, 3).await, Err(StoreError::Compacted { .. })));
        assert!(s.range("/a/", "/a0", 0, 0).await.expect("range").kvs.is_empty());
    }

    #[tokio::test]
    async fn ranges_are_limited_and_count_what_remains() {
        let s = MemStore::new();
        for k in ["/r/a", "/r/b", "/r/c", "/s/a"] {
            s.create(k, Bytes::from("v")).await.expect("create");
        }
        let r = s.range("/r/", "/r0", 2, 0).await.expect("range");
        assert_eq!(r.kvs.iter().map(|k| k.key.as_str()).collect::<Vec<_>>(), ["/r/a", "/r/b"]);
        assert!(r.more);
        assert_eq!(r.remaining, 1);
    }

    #[tokio::test]
    async fn watches_get_only_their_prefix_replayed_then_live_in_order() {
        let s = MemStore::new();
        s.create("/c1/pods/a", Bytes::from("1")).await.expect("create");
        s.create("/c2/pods/a", Bytes::from("1")).await.expect("create");
        let mut w = s.watch("/c1/pods/", 2).await.expect("watch");
        let mut other = s.watch("/c2/", 0).await.expect("watch");
        s.update("/c1/pods/a", Bytes::from("2"), 2).await.expect("update");
        s.delete("/c2/pods/a", None).await.expect("delete");
        let b = next(&mut w).await;
        assert_eq!((b.events[0].key(), b.revision), ("/c1/pods/a", 2), "replayed");
        let b = next(&mut w).await;
        assert!(
            matches!(&b.events[0], Event::Put { prev: Some(p), .. } if p.value == "1"),
            "live, with the previous value"
        );
        assert_eq!(b.revision, 4);
        let b = next(&mut other).await;
        assert!(matches!(&b.events[0], Event::Delete { revision: 5, .. }), "{b:?}");
        // Progress says how far the store is, after what was sent.
        w.progress.request_progress();
        let p = next(&mut w).await;
        assert!(p.events.is_empty());
        assert_eq!(p.revision, 5);
        assert_eq!(s.watches(), 2);
        drop(w);
        drop(other);
        assert_eq!(s.watches(), 0, "ended watches are forgotten");
    }

    #[tokio::test]
    async fn a_watch_from_the_future_starts_there_and_compacted_starts_fail() {
        let s = MemStore::new();
        let mut w = s.watch("/k", 4).await.expect("watch");
        s.create("/k1", Bytes::from("a")).await.expect("create");
        s.create("/k2", Bytes::from("a")).await.expect("create");
        s.create("/k3", Bytes::from("a")).await.expect("create");
        assert_eq!(next(&mut w).await.revision, 4);
        s.compact(3).await.expect("compact");
        assert!(matches!(s.watch("/k", 2).await, Err(StoreError::Compacted { .. })));
        let mut from3 = s.watch("/k", 3).await.expect("watch at the compacted revision");
        assert_eq!(next(&mut from3).await.revision, 3);
    }
}
