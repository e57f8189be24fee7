//! The bounded ring of recent changes that lets a watch start at a past revision.
//!
//! Changes are kept as the chunks the cache applied (one per store watch batch), shared by
//! reference with the live fan-out, so history costs no copy of any event.

use std::{collections::VecDeque, sync::Arc};

use crate::{Event, Revision};

/// Events applied together, in revision order. Shared (behind an `Arc`) by the history and by
/// every watcher that receives it.
#[derive(Debug)]
pub(crate) struct Chunk {
    pub events: Box<[Event]>,
    /// Every change under the cache's prefix up to this revision is in this chunk or before it.
    pub revision: Revision,
}

/// Recent chunks, holding at most `capacity` events (and at least nothing).
#[derive(Debug)]
pub(crate) struct History {
    chunks: VecDeque<Arc<Chunk>>,
    /// Events held in `chunks`.
    len: usize,
    capacity: usize,
    /// Every change with a revision above this one is held: a watch can start at any revision
    /// from here on.
    oldest: Revision,
}

impl History {
    /// An empty history of a cache that listed the store at revision `at`.
    pub fn new(capacity: usize, at: Revision) -> Self {
        Self { chunks: VecDeque::new(), len: 0, capacity, oldest: at }
    }

    /// Forgets everything: the cache re-listed at revision `at`.
    pub fn reset(&mut self, at: Revision) {
        self.chunks.clear();
        self.len = 0;
        self.oldest = at;
    }

    /// The revision above which every change is held.
    #[cfg(test)]
    pub fn oldest(&self) -> Revision {
        self.oldest
    }

    /// Events held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Appends a chunk (newer than every chunk held) and drops the oldest chunks beyond capacity.
    pub fn push(&mut self, chunk: Arc<Chunk>) {
        self.len += chunk.events.len();
        self.chunks.push_back(chunk);
        while self.len > self.capacity {
            let Some(old) = self.chunks.pop_front() else { break };
            self.len -= old.events.len();
            // Changes up to the dropped chunk's revision are no longer all known.
            self.oldest = self.oldest.max(old.revision);
        }
    }

    /// The chunks that hold every change after `after` (the first may also hold older
    /// changes, which the caller skips), or `Err(oldest)` when changes after `after` have
    /// already been dropped.
    pub fn since(&self, after: Revision) -> Result<Vec<Arc<Chunk>>, Revision> {
        if after < self.oldest {
            return Err(self.oldest);
        }
        let first = self.chunks.partition_point(|c| c.revision <= after);
        Ok(self.chunks.range(first..).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyValue;

    fn put(key: &str, rev: Revision) -> Event {
        let kv = KeyValue {
            key: key.into(),
            value: bytes::Bytes::from_static(b"v"),
            create_revision: rev,
            mod_revision: rev,
            version: 1,
        };
        Event::Put { kv, prev: None }
    }

    fn chunk(revs: &[Revision]) -> Arc<Chunk> {
        let events: Vec<Event> = revs.iter().map(|r| put(&format!("/k{r}"), *r)).collect();
        let revision = *revs.last().unwrap();
        Arc::new(Chunk { events: events.into(), revision })
    }

    fn revisions(chunks: &[Arc<Chunk>]) -> Vec<Revision> {
        chunks.iter().flat_map(|c| c.events.iter().map(Event::revision)).collect()
    }

    #[test]
    fn serves_changes_after_a_revision() {
        let mut h = History::new(100, 10);
        h.push(chunk(&[11]));
        h.push(chunk(&[13, 14]));
        h.push(chunk(&[20]));
        assert_eq!(revisions(&h.since(10).unwrap()), vec![11, 13, 14, 20]);
        assert_eq!(revisions(&h.since(12).unwrap()), vec![13, 14, 20]);
        // A revision inside a chunk returns the whole chunk; the caller skips what it has.
        assert_eq!(revisions(&h.since(13).unwrap()), vec![13, 14, 20]);
        assert_eq!(revisions(&h.since(14).unwrap()), vec![20]);
        assert!(h.since(20).unwrap().is_empty());
        // A revision beyond everything known: nothing yet, the live stream brings the rest.
        assert!(h.since(99).unwrap().is_empty());
        assert_eq!(h.since(9).unwrap_err(), 10);
    }

    #[test]
    fn drops_the_oldest_chunks_beyond_capacity() {
        let mut h = History::new(3, 1);
        h.push(chunk(&[2]));
        h.push(chunk(&[3, 4]));
        assert_eq!(h.len(), 3);
        assert_eq!(h.oldest(), 1);
        h.push(chunk(&[5]));
        // Revision 2 was dropped: a watch from 1 cannot be served any more, one from 2 can.
        assert_eq!(h.len(), 3);
        assert_eq!(h.oldest(), 2);
        assert_eq!(h.since(1).unwrap_err(), 2);
        assert_eq!(revisions(&h.since(2).unwrap()), vec![3, 4, 5]);
        // A chunk larger than the capacity leaves nothing behind but moves `oldest` past it.
        h.push(chunk(&[6, 7, 8, 9]));
        assert_eq!(h.len(), 0);
        assert_eq!(h.oldest(), 9);
        assert!(h.since(9).unwrap().is_empty());
        assert!(h.since(8).is_err());
    }

    #[test]
    fn reset_forgets_everything() {
        let mut h = History::new(10, 1);
        h.push(chunk(&[2, 3]));
        h.reset(50);
        assert_eq!(h.len(), 0);
        assert_eq!(h.since(3).unwrap_err(), 50);
        assert!(h.since(50).unwrap().is_empty());
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let mut h = History::new(0, 1);
        h.push(chunk(&[2]));
        assert_eq!(h.len(), 0);
        assert_eq!(h.oldest(), 2);
        assert!(h.since(2).unwrap().is_empty());
    }
}
