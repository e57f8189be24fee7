//! Tests of the cache over a small in-memory store whose watches the tests can break and whose
//! progress notifications they can withhold.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::*;
use crate::{ProgressRequester, RangeResult};

#[derive(Default)]
struct MemState {
    kvs: BTreeMap<String, KeyValue>,
    revision: Revision,
    compacted: Revision,
    log: Vec<Event>,
    watches: Vec<(String, mpsc::UnboundedSender<Result<WatchBatch>>)>,
}

/// A store in memory, enough of the contract for the cache.
struct MemStore {
    state: Mutex<MemState>,
    /// Whether progress requests are answered.
    answer_progress: AtomicBool,
    /// While set, running watches miss every change (as if disconnected).
    deaf: AtomicBool,
    progress_requests: AtomicUsize,
    watch_calls: AtomicUsize,
}

impl MemStore {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(MemState { revision: 1, compacted: 1, ..Default::default() }),
            answer_progress: AtomicBool::new(true),
            deaf: AtomicBool::new(false),
            progress_requests: AtomicUsize::new(0),
            watch_calls: AtomicUsize::new(0),
        })
    }

    fn record(&self, st: &mut MemState, event: Event) {
        if self.deaf.load(Ordering::SeqCst) {
            st.log.push(event);
            return;
        }
        st.watches.retain(|(prefix, tx)| {
            !event.key().starts_with(prefix.as_str())
                || tx.send(Ok(WatchBatch { events: vec![event.clone()], revision: event.revision() })).is_ok()
        });
        st.log.push(event);
    }

    fn put(&self, key: &str, value: &str) -> Revision {
        let mut st = self.state.lock().unwrap();
        st.revision += 1;
        let rev = st.revision;
        let prev = st.kvs.get(key).cloned();
        let kv = KeyValue {
            key: key.into(),
            value: Bytes::from(value.to_string()),
            create_revision: prev.as_ref().map_or(rev, |p| p.create_revision),
            mod_revision: rev,
            version: prev.as_ref().map_or(1, |p| p.version + 1),
        };
        st.kvs.insert(key.into(), kv.clone());
        self.record(&mut st, Event::Put { kv, prev });
        rev
    }

    fn remove(&self, key: &str) -> Revision {
        let mut st = self.state.lock().unwrap();
        st.revision += 1;
        let revision = st.revision;
        let prev = st.kvs.remove(key).expect("test deletes an existing key");
        self.record(&mut st, Event::Delete { prev, revision });
        revision
    }

    /// Ends every running watch with `error`.
    fn break_watches(&self, error: impl Fn() -> StoreError) {
        let mut st = self.state.lock().unwrap();
        for (_, tx) in st.watches.drain(..) {
            let _ = tx.send(Err(error()));
        }
    }

    fn compact_all(&self) {
        let mut st = self.state.lock().unwrap();
        st.compacted = st.revision;
        st.log.clear();
    }
}

struct MemProgress {
    store: std::sync::Weak<MemStore>,
    tx: mpsc::UnboundedSender<Result<WatchBatch>>,
}

impl ProgressRequester for MemProgress {
    fn request_progress(&self) {
        let Some(store) = self.store.upgrade() else { return };
        store.progress_requests.fetch_add(1, Ordering::SeqCst);
        if store.answer_progress.load(Ordering::SeqCst) {
            // Under the lock, so after every event already sent.
            let st = store.state.lock().unwrap();
            let _ = self.tx.send(Ok(WatchBatch { events: vec![], revision: st.revision }));
        }
    }
}

/// The store handle the cache gets; keeps a weak link for progress requests.
struct Handle(Arc<MemStore>);

#[async_trait::async_trait]
impl Store for Handle {
    async fn get(&self, key: &str) -> Result<(Option<KeyValue>, Revision)> {
        let st = self.0.state.lock().unwrap();
        Ok((st.kvs.get(key).cloned(), st.revision))
    }

    async fn range(&self, start: &str, end: &str, limit: usize, revision: Revision) -> Result<RangeResult> {
        let st = self.0.state.lock().unwrap();
        // Only the current revision is kept: enough for the cache's paging when nothing is
        // written in between, which these tests ensure.
        if revision != 0 && revision != st.revision {
            return Err(StoreError::Compacted { requested: revision, compacted: st.revision });
        }
        let all: Vec<KeyValue> =
            st.kvs.range::<str, _>((Bound::Included(start), Bound::Excluded(end))).map(|(_, kv)| kv.clone()).collect();
        let n = if limit == 0 { all.len() } else { limit.min(all.len()) };
        let remaining = (all.len() - n) as i64;
        Ok(RangeResult { kvs: all[..n].to_vec(), more: remaining > 0, remaining, revision: st.revision })
    }

    async fn create(&self, _: &str, _: Bytes) -> Result<KeyValue> {
        Err(StoreError::Internal("not used".into()))
    }
    async fn update(&self, _: &str, _: Bytes, _: Revision) -> Result<KeyValue> {
        Err(StoreError::Internal("not used".into()))
    }
    async fn delete(&self, _: &str, _: Option<Revision>) -> Result<(KeyValue, Revision)> {
        Err(StoreError::Internal("not used".into()))
    }

    async fn watch(&self, prefix: &str, start_revision: Revision) -> Result<Watch> {
        self.0.watch_calls.fetch_add(1, Ordering::SeqCst);
        let mut st = self.0.state.lock().unwrap();
        if start_revision > 0 && start_revision <= st.compacted {
            return Err(StoreError::Compacted { requested: start_revision, compacted: st.compacted + 1 });
        }
        let (tx, rx) = mpsc::unbounded_channel();
        for e in st.log.iter().filter(|e| e.revision() >= start_revision && e.key().starts_with(prefix)) {
            let _ = tx.send(Ok(WatchBatch { events: vec![e.clone()], revision: e.revision() }));
        }
        st.watches.push((prefix.to_string(), tx.clone()));
        let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|i| (i, rx)) });
        Ok(Watch { stream: stream.boxed(), progress: Arc::new(MemProgress { store: Arc::downgrade(&self.0), tx }) })
    }

    async fn compact(&self, _: Revision) -> Result<()> {
        self.0.compact_all();
        Ok(())
    }

    async fn revisions(&self) -> Result<(Revision, Revision)> {
        let st = self.0.state.lock().unwrap();
        Ok((st.revision, st.compacted))
    }
}

const WAIT: Duration = Duration::from_secs(5);

async fn start(mem: &Arc<MemStore>, opts: CacheOptions) -> Arc<WatchCache> {
    WatchCache::start(Arc::new(Handle(mem.clone())), "/r/".into(), opts).await.unwrap()
}

/// The next batch with events (progress notifications skipped).
async fn next_events(w: &mut CacheStream) -> CacheBatch {
    loop {
        let b = tokio::time::timeout(WAIT, w.next())
            .await
            .expect("a batch in time")
            .expect("stream open")
            .expect("no error");
        if !b.events.is_empty() || b.initial_end {
            return b;
        }
    }
}

fn keys(kvs: &[KeyValue]) -> Vec<&str> {
    kvs.iter().map(|kv| kv.key.as_str()).collect()
}

#[tokio::test]
async fn lists_in_pages_and_serves_reads_from_memory() {
    let mem = MemStore::new();
    for i in 0..7 {
        mem.put(&format!("/r/ns{}/k{i}", i % 2), "v");
    }
    mem.put("/other/x", "v");
    let cache = start(&mem, CacheOptions { page_size: 2, ..Default::default() }).await;
    let (all, rev) = cache.list("/r/", None).await.unwrap();
    assert_eq!(all.len(), 7);
    assert_eq!(rev, 9);
    assert!(all.windows(2).all(|w| w[0].key < w[1].key));
    let (ns1, _) = cache.list("/r/ns1/", None).await.unwrap();
    assert_eq!(keys(&ns1), vec!["/r/ns1/k1", "/r/ns1/k3", "/r/ns1/k5"]);
    assert_eq!(cache.get("/r/ns0/k2", None).await.unwrap().0.unwrap().mod_revision, 4);
    assert!(cache.get("/r/ns0/missing", None).await.unwrap().0.is_none());
}

#[tokio::test]
async fn applies_changes_with_previous_values() {
    let mem = MemStore::new();
    mem.put("/r/a", "1");
    let cache = start(&mem, CacheOptions::default()).await;
    let mut w = cache.watch("/r/", None).unwrap();
    let initial = next_events(&mut w).await;
    assert!(initial.initial_end);
    assert_eq!(initial.events.len(), 1);
    let r = mem.put("/r/a", "2");
    let b = next_events(&mut w).await;
    let Event::Put { kv, prev: Some(prev) } = &b.events[0] else { panic!("an update with its previous value: {b:?}") };
    assert_eq!((kv.value.as_ref(), prev.value.as_ref(), b.revision), (&b"2"[..], &b"1"[..], r));
    let r = mem.remove("/r/a");
    let b = next_events(&mut w).await;
    assert!(matches!(&b.events[0], Event::Delete { prev, revision } if prev.value.as_ref() == b"2" && *revision == r));
    assert!(cache.get("/r/a", None).await.unwrap().0.is_none());
}

#[tokio::test]
async fn consistent_read_learns_of_writes_elsewhere_by_progress() {
    let mem = MemStore::new();
    mem.put("/r/a", "1");
    let cache = start(&mem, CacheOptions::default()).await;
    let rev = mem.put("/elsewhere", "x");
    let (items, at) = cache.list("/r/", Some(rev)).await.unwrap();
    assert_eq!(at, rev);
    assert_eq!(keys(&items), vec!["/r/a"]);
    assert!(mem.progress_requests.load(Ordering::SeqCst) >= 1);
    let (kv, at) = cache.get("/r/a", Some(rev)).await.unwrap();
    assert!(kv.is_some() && at >= rev);
}

#[tokio::test]
async fn future_revision_and_slow_store_fail() {
    let mem = MemStore::new();
    let cache = start(&mem, CacheOptions { catch_up_timeout: Duration::from_millis(600), ..Default::default() }).await;
    let started = Instant::now();
    assert!(matches!(
        cache.list("/r/", Some(100)).await,
        Err(StoreError::FutureRevision { requested: 100, current: 1 })
    ));
    assert!(started.elapsed() < Duration::from_millis(550), "a future revision fails before the deadline");
    mem.answer_progress.store(false, Ordering::SeqCst);
    let rev = mem.put("/elsewhere", "x");
    match cache.get("/r/a", Some(rev)).await {
        Err(StoreError::Unavailable(m)) => assert!(m.contains("too slow to catch up"), "{m}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn watch_from_a_past_revision_and_compacted_history() {
    let mem = MemStore::new();
    let cache = start(&mem, CacheOptions { capacity: 3, ..Default::default() }).await;
    let r1 = mem.put("/r/a", "1");
    mem.put("/r/b", "1");
    mem.put("/r/a", "2");
    testkit::wait_until("the cache at r1 + 2", WAIT, || async { (cache.revision() == r1 + 2).then_some(()) }).await;
    let mut w = cache.watch("/r/", Some(r1)).unwrap();
    let got: Vec<Revision> = next_events(&mut w).await.events.iter().map(Event::revision).collect();
    assert_eq!(got.len(), 1);
    assert_eq!(got, vec![r1 + 1]);
    assert_eq!(next_events(&mut w).await.events[0].revision(), r1 + 2);
    // Two more changes push r1 + 1 out of a history of three.
    mem.put("/r/c", "1");
    mem.put("/r/d", "1");
    testkit::wait_until("the cache at r1 + 4", WAIT, || async { (cache.revision() == r1 + 4).then_some(()) }).await;
    assert!(
        matches!(cache.watch("/r/", Some(r1)), Err(StoreError::Compacted { requested, compacted }) if requested == r1 && compacted == r1 + 1)
    );
    assert!(cache.watch("/r/", Some(r1 + 1)).is_ok());
    // The current revision is always servable, even with nothing held.
    assert!(cache.watch("/r/", Some(r1 + 4)).is_ok());
}

#[tokio::test]
async fn watchers_get_periodic_progress() {
    let mem = MemStore::new();
    let cache = start(&mem, CacheOptions { progress_interval: Duration::from_millis(100), ..Default::default() }).await;
    let rev = mem.put("/elsewhere", "x");
    let mut w = cache.watch("/r/", Some(1)).unwrap();
    let b = tokio::time::timeout(WAIT, w.next()).await.unwrap().unwrap().unwrap();
    assert!(b.events.is_empty() && !b.initial_end);
    assert_eq!(b.revision, rev);
}

#[tokio::test]
async fn resumes_a_broken_store_watch_without_gaps() {
    let mem = MemStore::new();
    let cache = start(&mem, CacheOptions::default()).await;
    let mut w = cache.watch("/r/", Some(1)).unwrap();
    mem.put("/r/a", "1");
    assert_eq!(next_events(&mut w).await.events[0].key(), "/r/a");
    mem.break_watches(|| StoreError::Unavailable("connection lost".into()));
    // Written while the cache has no watch: the resumed watch replays it.
    mem.put("/r/b", "1");
    assert_eq!(next_events(&mut w).await.events[0].key(), "/r/b");
    testkit::wait_until("the cache to watch the store again", WAIT, || async {
        (mem.watch_calls.load(Ordering::SeqCst) >= 2).then_some(())
    })
    .await;
    mem.put("/r/c", "1");
    let b = next_events(&mut w).await;
    assert_eq!(b.events.len(), 1);
    assert_eq!(b.events[0].key(), "/r/c");
}

#[tokio::test]
async fn relists_when_history_is_gone_and_ends_watchers() {
    let mem = MemStore::new();
    mem.put("/r/a", "1");
    let cache = start(&mem, CacheOptions::default()).await;
    let mut w = cache.watch("/r/", None).unwrap();
    assert!(next_events(&mut w).await.initial_end);
    // The cache's watch fails and, meanwhile, the store changed and forgot its history.
    mem.deaf.store(true, Ordering::SeqCst);
    mem.remove("/r/a");
    let rb = mem.put("/r/b", "1");
    mem.compact_all();
    mem.deaf.store(false, Ordering::SeqCst);
    mem.break_watches(|| StoreError::Unavailable("gone".into()));
    let err = loop {
        match tokio::time::timeout(WAIT, w.next()).await.unwrap().unwrap() {
            Ok(b) => assert!(b.events.is_empty(), "no change can be delivered: {b:?}"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, StoreError::Compacted { .. }), "{err:?}");
    assert!(w.next().await.is_none());
    let (items, rev) = cache.list("/r/", None).await.unwrap();
    assert_eq!(keys(&items), vec!["/r/b"]);
    assert_eq!(rev, rb);
    // The cache follows the store again.
    let mut w = cache.watch("/r/", Some(rev)).unwrap();
    mem.put("/r/c", "1");
    assert_eq!(next_events(&mut w).await.events[0].key(), "/r/c");
}

#[tokio::test]
async fn slow_watcher_is_ended_while_others_keep_up() {
    let mem = MemStore::new();
    let cache = start(&mem, CacheOptions { watcher_buffer: 8, ..Default::default() }).await;
    let mut slow = cache.watch("/r/", Some(1)).unwrap();
    let mut fast = cache.watch("/r/", Some(1)).unwrap();
    let mut last = 0;
    for i in 0..100 {
        last = mem.put(&format!("/r/k{i}"), "v");
        let b = next_events(&mut fast).await;
        assert_eq!(b.events[0].revision(), last);
    }
    let err = loop {
        match tokio::time::timeout(WAIT, slow.next()).await.unwrap().unwrap() {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert!(matches!(err, StoreError::Compacted { .. }));
    assert_eq!(cache.revision(), last);
}

#[tokio::test]
async fn dropping_the_cache_ends_its_watchers() {
    let mem = MemStore::new();
    let cache = start(&mem, CacheOptions::default()).await;
    let mut w = cache.watch("/r/", Some(1)).unwrap();
    drop(cache);
    let end = tokio::time::timeout(WAIT, async {
        loop {
            match w.next().await {
                Some(Ok(_)) => continue,
                other => return other,
            }
        }
    })
    .await
    .unwrap();
    assert!(matches!(end, Some(Err(StoreError::Unavailable(_))) | None));
}

#[tokio::test]
async fn consistent_reads_do_not_flood_watchers_with_progress() {
    let mem = MemStore::new();
    let cache = start(&mem, CacheOptions::default()).await;
    let mut w = cache.watch("/r/", Some(1)).unwrap();
    for i in 0..20 {
        let rev = mem.put(&format!("/elsewhere/{i}"), "x");
        assert_eq!(cache.list("/r/", Some(rev)).await.unwrap().1, rev);
    }
    assert!(mem.progress_requests.load(Ordering::SeqCst) >= 20);
    let mut progress = 0;
    while let Some(Some(b)) = futures::FutureExt::now_or_never(w.next()) {
        assert!(b.unwrap().events.is_empty());
        progress += 1;
    }
    assert!(progress <= 1, "{progress} progress notifications passed on");
}
