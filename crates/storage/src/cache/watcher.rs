//! One watcher of the cache: its initial state or replayed history, then its share of the live
//! fan-out, as a stream of [`CacheBatch`]es.
//!
//! The live fan-out is one `tokio::sync::broadcast` channel: the cache sends each applied chunk
//! once (an `Arc`), every watcher reads it from the same slot, and a watcher that lets more than
//! the channel's capacity of messages pile up is ended instead of slowing the others or the cache.

use std::{collections::VecDeque, sync::Arc};

use tokio::sync::broadcast::{self, error::RecvError};

use super::{CacheBatch, KeyScope, history::Chunk};
use crate::{Event, KeyValue, Result, Revision, StoreError};

/// What the cache sends to every watcher.
#[derive(Clone, Debug)]
pub(crate) enum Live {
    /// Changes applied to the cache.
    Events(Arc<Chunk>),
    /// Nothing changed under the cache's prefix up to this revision.
    Progress(Revision),
    /// The cache lost track of the store and re-listed at `revision`, starting `epoch`: watchers
    /// of earlier epochs may have missed changes and must end.
    Reset { epoch: u64, revision: Revision },
}

/// The state of one watcher's stream.
pub(crate) struct Watcher {
    scope: KeyScope,
    /// The initial state still to send (a watch without a start revision) and its revision.
    snapshot: Option<(std::vec::IntoIter<Arc<KeyValue>>, Revision)>,
    /// History still to send (a watch from a past revision).
    replay: VecDeque<Arc<Chunk>>,
    live: broadcast::Receiver<Live>,
    /// Changes up to this revision have been sent (or were not asked for).
    cursor: Revision,
    /// The cache epoch this watcher started in.
    epoch: u64,
    /// Events per batch of the initial state.
    batch: usize,
    done: bool,
}

impl Watcher {
    /// A watcher that first sends `snapshot` (the state in `scope` at `revision`) and then live
    /// changes after `revision`.
    pub fn from_snapshot(
        scope: KeyScope,
        snapshot: Vec<Arc<KeyValue>>,
        revision: Revision,
        live: broadcast::Receiver<Live>,
        epoch: u64,
        batch: usize,
    ) -> Self {
        Self {
            scope,
            snapshot: Some((snapshot.into_iter(), revision)),
            replay: VecDeque::new(),
            live,
            cursor: revision,
            epoch,
            batch: batch.max(1),
            done: false,
        }
    }

    /// A watcher that sends every change in `scope` after `after`: first from `history`, then
    /// live.
    pub fn from_revision(
        scope: KeyScope,
        after: Revision,
        history: Vec<Arc<Chunk>>,
        live: broadcast::Receiver<Live>,
        epoch: u64,
    ) -> Self {
        Self { scope, snapshot: None, replay: history.into(), live, cursor: after, epoch, batch: 1, done: false }
    }

    /// The next batch, an error that ends the stream, or `None` once ended.
    pub async fn next(&mut self) -> Option<Result<CacheBatch>> {
        if self.done {
            return None;
        }
        if let Some(batch) = self.next_initial() {
            return Some(Ok(batch));
        }
        while let Some(chunk) = self.replay.pop_front() {
            if let Some(batch) = self.take(&chunk) {
                return Some(Ok(batch));
            }
        }
        loop {
            match self.live.recv().await {
                Ok(Live::Events(chunk)) => {
                    if let Some(batch) = self.take(&chunk) {
                        return Some(Ok(batch));
                    }
                }
                Ok(Live::Progress(revision)) => {
                    if revision >= self.cursor {
                        self.cursor = revision;
                        return Some(Ok(CacheBatch { events: Vec::new(), revision, initial_end: false }));
                    }
                }
                Ok(Live::Reset { epoch, revision }) => {
                    if epoch > self.epoch {
                        self.done = true;
                        return Some(Err(StoreError::Compacted { requested: self.cursor + 1, compacted: revision }));
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    // Too slow: the changes it missed are gone from the shared buffer. Ending
                    // it with `Compacted` makes the client re-list, as Kubernetes does.
                    self.done = true;
                    tracing::debug!(scope = ?self.scope, missed, "watch cache: ending a watcher that fell behind");
                    return Some(Err(StoreError::Compacted {
                        requested: self.cursor + 1,
                        compacted: self.cursor + 1 + missed as Revision,
                    }));
                }
                Err(RecvError::Closed) => {
                    self.done = true;
                    return Some(Err(StoreError::Unavailable("the watch cache stopped".into())));
                }
            }
        }
    }

    /// The next batch of the initial state; the last one is marked `initial_end`.
    fn next_initial(&mut self) -> Option<CacheBatch> {
        let (items, revision) = self.snapshot.as_mut()?;
        let revision = *revision;
        let events: Vec<Event> =
            items.by_ref().take(self.batch).map(|kv| Event::Put { kv: KeyValue::clone(&kv), prev: None }).collect();
        let initial_end = items.len() == 0;
        if initial_end {
            self.snapshot = None;
        }
        Some(CacheBatch { events, revision, initial_end })
    }

    /// The changes of `chunk` this watcher still needs, if any.
    fn take(&mut self, chunk: &Chunk) -> Option<CacheBatch> {
        if chunk.revision <= self.cursor {
            return None;
        }
        let events: Vec<Event> = chunk
            .events
            .iter()
            .filter(|e| e.revision() > self.cursor && self.scope.contains(e.key()))
            .cloned()
            .collect();
        self.cursor = chunk.revision;
        if events.is_empty() {
            // Nothing in this watcher's scope: an empty batch would read as progress, which
            // the store's own notifications provide.
            return None;
        }
        Some(CacheBatch { events, revision: chunk.revision, initial_end: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn kv(key: &str, rev: Revision) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Bytes::from(format!("{key}@{rev}")),
            create_revision: rev,
            mod_revision: rev,
            version: 1,
        }
    }

    fn chunk(events: &[(&str, Revision)]) -> Live {
        let events: Vec<Event> = events.iter().map(|(k, r)| Event::Put { kv: kv(k, *r), prev: None }).collect();
        let revision = events.last().map(Event::revision).unwrap_or(0);
        Live::Events(Arc::new(Chunk { events: events.into(), revision }))
    }

    fn keys(batch: &CacheBatch) -> Vec<(String, Revision)> {
        batch.events.iter().map(|e| (e.key().to_string(), e.revision())).collect()
    }

    #[tokio::test]
    async fn snapshot_in_batches_then_live_without_duplicates() {
        let (tx, rx) = broadcast::channel(16);
        let snapshot: Vec<Arc<KeyValue>> = (0..5).map(|i| Arc::new(kv(&format!("/a/{i}"), 3))).collect();
        let mut w = Watcher::from_snapshot("/a/".into(), snapshot, 10, rx, 0, 2);
        // Sent before the watcher reads: a change already in the snapshot, then a new one.
        tx.send(chunk(&[("/a/0", 10)])).unwrap();
        tx.send(chunk(&[("/a/9", 11)])).unwrap();
        let b1 = w.next().await.unwrap().unwrap();
        let b2 = w.next().await.unwrap().unwrap();
        let b3 = w.next().await.unwrap().unwrap();
        assert_eq!((b1.events.len(), b1.initial_end, b1.revision), (2, false, 10));
        assert_eq!((b2.events.len(), b2.initial_end), (2, false));
        assert_eq!((b3.events.len(), b3.initial_end, b3.revision), (1, true, 10));
        assert!(b1.events.iter().all(|e| matches!(e, Event::Put { prev: None, .. })));
        let live = w.next().await.unwrap().unwrap();
        assert_eq!(keys(&live), vec![("/a/9".to_string(), 11)]);
        assert!(!live.initial_end);
    }

    #[tokio::test]
    async fn empty_snapshot_still_ends_the_initial_state() {
        let (_tx, rx) = broadcast::channel(16);
        let mut w = Watcher::from_snapshot("/a/".into(), Vec::new(), 7, rx, 0, 100);
        let b = w.next().await.unwrap().unwrap();
        assert!(b.events.is_empty());
        assert!(b.initial_end);
        assert_eq!(b.revision, 7);
    }

    #[tokio::test]
    async fn replay_then_live_filtered_by_prefix_and_revision() {
        let (tx, rx) = broadcast::channel(16);
        let Live::Events(c1) = chunk(&[("/a/x", 4), ("/b/x", 5), ("/a/y", 6)]) else { unreachable!() };
        let Live::Events(c2) = chunk(&[("/b/y", 7)]) else { unreachable!() };
        let mut w = Watcher::from_revision("/a/".into(), 4, vec![c1.clone(), c2.clone()], rx, 0);
        // The live stream repeats the last replayed chunk (the watcher subscribed before it was
        // recorded): it must not be delivered twice.
        tx.send(Live::Events(c2)).unwrap();
        tx.send(chunk(&[("/a/z", 8)])).unwrap();
        tx.send(Live::Progress(8)).unwrap();
        tx.send(Live::Progress(12)).unwrap();
        assert_eq!(keys(&w.next().await.unwrap().unwrap()), vec![("/a/y".to_string(), 6)]);
        assert_eq!(keys(&w.next().await.unwrap().unwrap()), vec![("/a/z".to_string(), 8)]);
        let p = w.next().await.unwrap().unwrap();
        assert!(p.events.is_empty() && !p.initial_end && p.revision == 8);
        assert_eq!(w.next().await.unwrap().unwrap().revision, 12);
    }

    #[tokio::test]
    async fn a_lagging_watcher_ends_with_compacted() {
        let (tx, rx) = broadcast::channel(4);
        let mut w = Watcher::from_revision("/".into(), 0, Vec::new(), rx, 0);
        for r in 1..=10 {
            tx.send(chunk(&[("/k", r)])).unwrap();
        }
        assert!(matches!(w.next().await, Some(Err(StoreError::Compacted { requested: 1, .. }))));
        assert!(w.next().await.is_none());
    }

    #[tokio::test]
    async fn reset_ends_watchers_of_older_epochs_only() {
        let (tx, rx_old) = broadcast::channel(8);
        let rx_new = tx.subscribe();
        let mut old = Watcher::from_revision("/".into(), 3, Vec::new(), rx_old, 0);
        let mut new = Watcher::from_revision("/".into(), 3, Vec::new(), rx_new, 1);
        tx.send(Live::Reset { epoch: 1, revision: 20 }).unwrap();
        tx.send(chunk(&[("/k", 21)])).unwrap();
        assert!(matches!(old.next().await, Some(Err(StoreError::Compacted { requested: 4, compacted: 20 }))));
        assert!(old.next().await.is_none());
        assert_eq!(new.next().await.unwrap().unwrap().revision, 21);
    }

    #[tokio::test]
    async fn closed_cache_ends_the_stream_with_an_error() {
        let (tx, rx) = broadcast::channel(8);
        let mut w = Watcher::from_revision("/".into(), 0, Vec::new(), rx, 0);
        drop(tx);
        assert!(matches!(w.next().await, Some(Err(StoreError::Unavailable(_)))));
        assert!(w.next().await.is_none());
    }

    #[tokio::test]
    async fn many_watchers_share_one_chunk() {
        let (tx, _keep) = broadcast::channel(16);
        let mut watchers: Vec<Watcher> =
            (0..1000).map(|_| Watcher::from_revision("/".into(), 0, Vec::new(), tx.subscribe(), 0)).collect();
        let value = Bytes::from(vec![7u8; 4096]);
        let event = Event::Put { kv: KeyValue { value: value.clone(), ..kv("/k", 1) }, prev: None };
        tx.send(Live::Events(Arc::new(Chunk { events: vec![event].into(), revision: 1 }))).unwrap();
        for w in &mut watchers {
            let b = w.next().await.unwrap().unwrap();
            let Event::Put { kv, .. } = &b.events[0] else { panic!("not a put") };
            // The same bytes, not a copy.
            assert_eq!(kv.value.as_ptr(), value.as_ptr());
        }
    }
}
