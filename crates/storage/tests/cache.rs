//! The watch cache over real backends (the embedded store, and etcd): initial state and live
//! changes, watches from a past revision, consistent reads, sub-prefixes, 1,000 watchers, slow
//! watchers, progress, and recovery when the store watch breaks. Every case runs on both.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::StreamExt;
use storage::{
    Event, KeyValue, RangeResult, Result, Revision, Store, StoreError, Watch,
    cache::{CacheBatch, CacheOptions, CacheStream, KeyScope, WatchCache},
    embedded::EmbeddedStore,
    etcd::{EtcdStore, EtcdTls},
};
use testkit::etcd::Etcd;

const WAIT: Duration = Duration::from_secs(20);
const PREFIX: &str = "/registry/pods/";

/// A store and what keeps it alive (its directory or its etcd process).
struct Backend {
    store: Arc<dyn Store>,
    _keep: Box<dyn std::any::Any + Send>,
}

async fn embedded() -> Backend {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("open the embedded store");
    Backend { store: Arc::new(store), _keep: Box::new(dir) }
}

async fn etcd() -> Backend {
    let etcd = tokio::task::spawn_blocking(Etcd::start).await.expect("etcd starts");
    let store = EtcdStore::connect(&etcd.endpoints(), EtcdTls::default())
        .await
        .unwrap_or_else(|e| panic!("connect: {e}\n{}", etcd.log()));
    Backend { store: Arc::new(store), _keep: Box::new(etcd) }
}

/// Runs each named case (an `async fn(Backend)`) as a test on each backend.
macro_rules! on_every_backend {
    ($($case:ident),* $(,)?) => {
        mod embedded_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::embedded().await).await
                }
            )*
        }
        mod etcd_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::etcd().await).await
                }
            )*
        }
    };
}

on_every_backend!(
    initial_state_then_live_changes,
    watch_from_a_past_revision,
    consistent_read_waits_for_a_write_to_another_prefix,
    sub_prefix_list_and_watch,
    a_thousand_watchers_receive_every_change_in_order,
    watchers_of_one_name_from_an_old_revision_get_exactly_its_changes,
    a_slow_watcher_is_ended_without_holding_up_others,
    a_broken_store_watch_is_resumed_without_gaps,
    lost_history_makes_the_cache_relist_and_end_its_watchers,
    watchers_receive_progress_notifications,
);

fn v(s: &str) -> Bytes {
    Bytes::from(s.to_string())
}

async fn start(store: Arc<dyn Store>, opts: CacheOptions) -> Arc<WatchCache> {
    WatchCache::start(store, PREFIX.to_string(), opts).await.expect("cache starts")
}

/// The next batch of a cache watch, within the deadline.
async fn next(w: &mut CacheStream) -> Result<CacheBatch> {
    tokio::time::timeout(WAIT, w.next()).await.expect("a batch in time").expect("the stream is open")
}

/// The next batch that carries events or ends the initial state (progress skipped).
async fn next_events(w: &mut CacheStream) -> CacheBatch {
    loop {
        let b = next(w).await.expect("no error");
        if !b.events.is_empty() || b.initial_end {
            return b;
        }
    }
}

/// Collects events until one at `until` (or later) has arrived.
async fn events_until(w: &mut CacheStream, until: Revision) -> Vec<Event> {
    let mut events = Vec::new();
    while events.last().map(Event::revision).unwrap_or(0) < until {
        events.extend(next_events(w).await.events);
    }
    events
}

fn summary(events: &[Event]) -> Vec<(String, Revision, &'static str)> {
    events
        .iter()
        .map(|e| {
            let kind = match e {
                Event::Put { prev: None, .. } => "create",
                Event::Put { .. } => "update",
                Event::Delete { .. } => "delete",
            };
            (e.key().to_string(), e.revision(), kind)
        })
        .collect()
}

fn keys(kvs: &[KeyValue]) -> Vec<&str> {
    kvs.iter().map(|kv| kv.key.as_str()).collect()
}

async fn initial_state_then_live_changes(backend: Backend) {
    let store = backend.store.clone();
    for i in 0..25 {
        store.create(&format!("{PREFIX}ns/p{i:02}"), v("0")).await.unwrap();
    }
    store.create("/registry/services/ns/s", v("0")).await.unwrap();
    let cache = start(store.clone(), CacheOptions { page_size: 7, initial_batch: 10, ..Default::default() }).await;
    let (current, _) = store.revisions().await.unwrap();

    let mut w = cache.watch(PREFIX, None).unwrap();
    let mut initial = Vec::new();
    loop {
        let b = next(&mut w).await.unwrap();
        assert_eq!(b.revision, current, "the initial state is at one revision");
        assert!(b.events.iter().all(|e| matches!(e, Event::Put { prev: None, .. })));
        initial.extend(b.events.iter().map(|e| e.key().to_string()));
        if b.initial_end {
            break;
        }
    }
    let expected: Vec<String> = (0..25).map(|i| format!("{PREFIX}ns/p{i:02}")).collect();
    assert_eq!(initial, expected);

    let created = store.create(&format!("{PREFIX}ns/new"), v("1")).await.unwrap();
    let p03 = store.get(&format!("{PREFIX}ns/p03")).await.unwrap().0.unwrap();
    let updated = store.update(&p03.key, v("2"), p03.mod_revision).await.unwrap();
    let (_, deleted) = store.delete(&format!("{PREFIX}ns/p04"), None).await.unwrap();
    store.create("/registry/services/ns/t", v("x")).await.unwrap();
    let events = events_until(&mut w, deleted).await;
    assert_eq!(
        summary(&events),
        vec![
            (format!("{PREFIX}ns/new"), created.mod_revision, "create"),
            (format!("{PREFIX}ns/p03"), updated.mod_revision, "update"),
            (format!("{PREFIX}ns/p04"), deleted, "delete"),
        ]
    );
    let Event::Put { prev: Some(prev), .. } = &events[1] else { unreachable!() };
    assert_eq!(prev.value, v("0"));

    let (items, rev) = cache.list(PREFIX, Some(deleted)).await.unwrap();
    assert!(rev >= deleted);
    assert_eq!(items.len(), 25);
    assert!(items.windows(2).all(|p| p[0].key < p[1].key));
    assert_eq!(cache.get(&format!("{PREFIX}ns/p03"), None).await.unwrap().0.unwrap().value, v("2"));
    assert!(cache.get(&format!("{PREFIX}ns/p04"), None).await.unwrap().0.is_none());
}

async fn watch_from_a_past_revision(backend: Backend) {
    let store = backend.store.clone();
    let cache = start(store.clone(), CacheOptions { capacity: 50, ..Default::default() }).await;
    let mut revs = Vec::new();
    for i in 0..40 {
        revs.push(store.create(&format!("{PREFIX}ns/p{i:02}"), v("0")).await.unwrap().mod_revision);
    }
    let from = revs[9];
    let mut w = cache.watch(PREFIX, Some(from)).unwrap();
    let got: Vec<Revision> = events_until(&mut w, revs[39]).await.iter().map(Event::revision).collect();
    assert_eq!(got, revs[10..].to_vec(), "every change after the revision, once, in order");
    // Watchers from now on continue live.
    let more = store.create(&format!("{PREFIX}ns/later"), v("0")).await.unwrap().mod_revision;
    assert_eq!(events_until(&mut w, more).await.iter().map(Event::revision).collect::<Vec<_>>(), vec![more]);

    // Past the history's capacity the start revision cannot be served: the client must re-list.
    for i in 0..60 {
        store.create(&format!("{PREFIX}ns/q{i:02}"), v("0")).await.unwrap();
    }
    let (current, _) = store.revisions().await.unwrap();
    cache.list(PREFIX, Some(current)).await.unwrap();
    match cache.watch(PREFIX, Some(from)) {
        Err(StoreError::Compacted { requested, .. }) => assert_eq!(requested, from),
        Err(e) => panic!("expected Compacted, got {e}"),
        Ok(_) => panic!("expected Compacted, got a watch"),
    }
    // The current revision is always servable.
    assert!(cache.watch(PREFIX, Some(current)).is_ok());
}

async fn consistent_read_waits_for_a_write_to_another_prefix(backend: Backend) {
    let store = backend.store.clone();
    store.create(&format!("{PREFIX}ns/a"), v("0")).await.unwrap();
    let cache = start(store.clone(), CacheOptions::default()).await;
    // Writes elsewhere advance the global revision without any event for this cache.
    for i in 0..5 {
        store.create(&format!("/registry/configmaps/ns/c{i}"), v("0")).await.unwrap();
    }
    let (current, _) = store.revisions().await.unwrap();
    let started = Instant::now();
    let (items, rev) = cache.list(PREFIX, Some(current)).await.unwrap();
    assert!(rev >= current, "the cache reports {rev}, the store was at {current}");
    assert_eq!(keys(&items), vec![&format!("{PREFIX}ns/a")]);
    assert!(started.elapsed() < Duration::from_secs(2), "caught up by a progress notification, not a timeout");
    let (kv, rev) = cache.get(&format!("{PREFIX}ns/a"), Some(current)).await.unwrap();
    assert!(kv.is_some() && rev >= current);
    // A revision the store has not reached.
    match cache.list(PREFIX, Some(current + 1000)).await {
        Err(StoreError::FutureRevision { requested, .. }) => assert_eq!(requested, current + 1000),
        other => panic!("expected FutureRevision, got {other:?}"),
    }
}

async fn sub_prefix_list_and_watch(backend: Backend) {
    let store = backend.store.clone();
    for ns in ["a", "ab", "b"] {
        store.create(&format!("{PREFIX}{ns}/p"), v("0")).await.unwrap();
    }
    let cache = start(store.clone(), CacheOptions::default()).await;
    let (items, _) = cache.list(format!("{PREFIX}a/"), None).await.unwrap();
    assert_eq!(keys(&items), vec![&format!("{PREFIX}a/p")], "namespace a/ does not include ab/");

    let mut w = cache.watch(format!("{PREFIX}a/"), None).unwrap();
    let initial = next_events(&mut w).await;
    assert!(initial.initial_end);
    assert_eq!(summary(&initial.events), vec![(format!("{PREFIX}a/p"), items[0].mod_revision, "create")]);
    store.create(&format!("{PREFIX}ab/q"), v("0")).await.unwrap();
    store.create(&format!("{PREFIX}b/q"), v("0")).await.unwrap();
    let mine = store.create(&format!("{PREFIX}a/q"), v("0")).await.unwrap().mod_revision;
    let b = next_events(&mut w).await;
    assert_eq!(summary(&b.events), vec![(format!("{PREFIX}a/q"), mine, "create")]);
}

async fn a_thousand_watchers_receive_every_change_in_order(backend: Backend) {
    let store = backend.store.clone();
    let cache = start(store.clone(), CacheOptions::default()).await;
    const WATCHERS: usize = 1000;
    const WRITES: usize = 100;
    let mut tasks = Vec::new();
    for i in 0..WATCHERS {
        // Half watch everything, half one namespace (which gets every other write).
        let prefix = if i % 2 == 0 { PREFIX.to_string() } else { format!("{PREFIX}even/") };
        let mut w = cache.watch(&prefix, Some(1)).unwrap();
        tasks.push(tokio::spawn(async move {
            let mut revs = Vec::new();
            while revs.len() < if i % 2 == 0 { WRITES } else { WRITES / 2 } {
                match tokio::time::timeout(WAIT, w.next()).await {
                    Ok(Some(Ok(b))) => revs.extend(b.events.iter().map(Event::revision)),
                    other => panic!("watcher {i}: {:?}", other.map(|o| o.map(|r| r.map(|b| b.revision)))),
                }
            }
            (i, revs)
        }));
    }
    let mut all = Vec::new();
    let mut even = Vec::new();
    for n in 0..WRITES {
        let ns = if n % 2 == 0 { "even" } else { "odd" };
        let rev = store.create(&format!("{PREFIX}{ns}/p{n}"), v("x")).await.unwrap().mod_revision;
        all.push(rev);
        if n % 2 == 0 {
            even.push(rev);
        }
    }
    for t in tasks {
        let (i, revs) = t.await.unwrap();
        assert_eq!(revs, if i % 2 == 0 { all.clone() } else { even.clone() }, "watcher {i}");
    }
}

/// As informers and restarted controllers do: each watcher starts at its object's revision from
/// long ago (thousands of changes back), narrowed to the object's key or, across namespaces, to
/// its name. Each must get exactly the object's later changes, in order, once.
async fn watchers_of_one_name_from_an_old_revision_get_exactly_its_changes(backend: Backend) {
    const OBJECTS: usize = 300;
    const FILLER: usize = 2000;
    const UPDATES: usize = 3;
    let store = backend.store.clone();
    let cache = start(store.clone(), CacheOptions::default()).await;
    // Objects named p0..p299 in namespace a, and the same names in namespace b (which the
    // key-scoped watchers must not see), then unrelated changes after them.
    let mut created = Vec::new();
    for i in 0..OBJECTS {
        let a = store.create(&format!("{PREFIX}a/p{i}"), v("0")).await.unwrap().mod_revision;
        let b = store.create(&format!("{PREFIX}b/p{i}"), v("0")).await.unwrap().mod_revision;
        // Key-scoped watchers start after a's creation, name-scoped ones after both.
        created.push(if i.is_multiple_of(2) { a } else { b });
    }
    for i in 0..FILLER {
        store.create(&format!("{PREFIX}c/filler{i}"), v("0")).await.unwrap();
    }
    let scope = |i: usize| {
        if i.is_multiple_of(2) {
            KeyScope::Key(format!("{PREFIX}a/p{i}"))
        } else {
            KeyScope::Named { prefix: PREFIX.to_string(), name: format!("p{i}") }
        }
    };
    let mut watches: Vec<CacheStream> =
        (0..OBJECTS).map(|i| cache.watch(scope(i), Some(created[i])).unwrap()).collect();
    // Updates interleaved across objects, in both namespaces.
    let mut want: Vec<Vec<(String, Revision, &'static str)>> = vec![Vec::new(); OBJECTS];
    for _ in 0..UPDATES {
        for (i, want) in want.iter_mut().enumerate() {
            for ns in ["a", "b"] {
                let key = format!("{PREFIX}{ns}/p{i}");
                let (current, _) = store.get(&key).await.unwrap();
                let rev = store.update(&key, v("1"), current.unwrap().mod_revision).await.unwrap().mod_revision;
                if ns == "a" || !i.is_multiple_of(2) {
                    want.push((key, rev, "update"));
                }
            }
        }
    }
    let last = want.iter().flatten().map(|(_, rev, _)| *rev).max().unwrap();
    for (i, w) in watches.iter_mut().enumerate() {
        let until = want[i].last().unwrap().1;
        let got = events_until(w, until).await;
        assert_eq!(summary(&got), want[i], "watcher {i} ({:?})", scope(i));
    }
    // Nothing more for anyone: a later write to another object ends up as progress at most.
    let after = store.create(&format!("{PREFIX}a/other"), v("0")).await.unwrap().mod_revision;
    assert!(after > last);
    let (_, _) = cache.get(&format!("{PREFIX}a/other"), Some(after)).await.unwrap();
    for (i, w) in watches.iter_mut().enumerate() {
        if let Ok(Some(b)) = tokio::time::timeout(Duration::from_millis(1), w.next()).await {
            let b = b.unwrap();
            assert!(b.events.is_empty(), "watcher {i} got {:?}", summary(&b.events));
        }
    }
    // The same scopes list only their keys.
    let (items, _) = cache.list(scope(1), None).await.unwrap();
    assert_eq!(keys(&items), vec![format!("{PREFIX}a/p1"), format!("{PREFIX}b/p1")]);
    let (items, _) = cache.list(scope(2), None).await.unwrap();
    assert_eq!(keys(&items), vec![format!("{PREFIX}a/p2")]);
}

async fn a_slow_watcher_is_ended_without_holding_up_others(backend: Backend) {
    let store = backend.store.clone();
    let cache = start(store.clone(), CacheOptions { watcher_buffer: 16, ..Default::default() }).await;
    let mut slow = cache.watch(PREFIX, Some(1)).unwrap();
    let mut fast = cache.watch(PREFIX, Some(1)).unwrap();
    for n in 0..100 {
        let rev = store.create(&format!("{PREFIX}ns/p{n}"), v("x")).await.unwrap().mod_revision;
        assert_eq!(events_until(&mut fast, rev).await.last().map(Event::revision), Some(rev));
    }
    let mut delivered = 0;
    let err = loop {
        match next(&mut slow).await {
            Ok(b) => delivered += b.events.len(),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, StoreError::Compacted { .. }), "{err}");
    assert!(delivered < 100);
    assert!(slow.next().await.is_none(), "the stream ends after the error");
    // Others and new watchers are unaffected.
    let rev = store.create(&format!("{PREFIX}ns/after"), v("x")).await.unwrap().mod_revision;
    assert_eq!(events_until(&mut fast, rev).await.len(), 1);
}

/// A store with a switch that breaks its watches, as a lost connection would.
struct Flaky {
    inner: Arc<dyn Store>,
    /// While set, new watches fail.
    down: AtomicBool,
    cut: tokio::sync::watch::Sender<u64>,
}

impl Flaky {
    /// Ends every running watch with an error.
    fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

#[async_trait::async_trait]
impl Store for Flaky {
    async fn get(&self, key: &str) -> Result<(Option<KeyValue>, Revision)> {
        self.inner.get(key).await
    }
    async fn range(&self, start: &str, end: &str, limit: usize, revision: Revision) -> Result<RangeResult> {
        self.inner.range(start, end, limit, revision).await
    }
    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        self.inner.create(key, value).await
    }
    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue> {
        self.inner.update(key, value, expected).await
    }
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(KeyValue, Revision)> {
        self.inner.delete(key, expected).await
    }
    async fn watch(&self, prefix: &str, start_revision: Revision) -> Result<Watch> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("store is down".into()));
        }
        let inner = self.inner.watch(prefix, start_revision).await?;
        let mut cut = self.cut.subscribe();
        cut.borrow_and_update();
        let stream = futures::stream::unfold(Some((inner.stream, cut)), |state| async move {
            let (mut stream, mut cut) = state?;
            tokio::select! {
                item = stream.next() => item.map(|i| (i, Some((stream, cut)))),
                _ = cut.changed() => Some((Err(StoreError::Unavailable("connection lost".into())), None)),
            }
        });
        Ok(Watch { stream: stream.boxed(), progress: inner.progress })
    }
    async fn compact(&self, revision: Revision) -> Result<()> {
        self.inner.compact(revision).await
    }
    async fn revisions(&self) -> Result<(Revision, Revision)> {
        self.inner.revisions().await
    }
}

fn flaky(inner: Arc<dyn Store>) -> Arc<Flaky> {
    Arc::new(Flaky { inner, down: AtomicBool::new(false), cut: tokio::sync::watch::channel(0).0 })
}

async fn a_broken_store_watch_is_resumed_without_gaps(backend: Backend) {
    let store = backend.store.clone();
    let flaky = flaky(store.clone());
    let cache = start(flaky.clone(), CacheOptions::default()).await;
    let mut w = cache.watch(PREFIX, Some(1)).unwrap();
    let mut expected = Vec::new();
    for round in 0..3 {
        flaky.down.store(true, Ordering::SeqCst);
        flaky.cut();
        // Written while the cache has no store watch.
        for n in 0..5 {
            expected.push(store.create(&format!("{PREFIX}ns/r{round}-{n}"), v("x")).await.unwrap().mod_revision);
        }
        flaky.down.store(false, Ordering::SeqCst);
        expected.push(store.create(&format!("{PREFIX}ns/r{round}-after"), v("x")).await.unwrap().mod_revision);
    }
    let last = *expected.last().unwrap();
    let got: Vec<Revision> = events_until(&mut w, last).await.iter().map(Event::revision).collect();
    assert_eq!(got, expected, "every change once, in order, across three breaks");
    let (items, _) = cache.list(PREFIX, Some(last)).await.unwrap();
    assert_eq!(items.len(), 18);
}

async fn lost_history_makes_the_cache_relist_and_end_its_watchers(backend: Backend) {
    let store = backend.store.clone();
    store.create(&format!("{PREFIX}ns/gone"), v("x")).await.unwrap();
    let flaky = flaky(store.clone());
    let cache = start(flaky.clone(), CacheOptions::default()).await;
    let mut initial = cache.watch(PREFIX, None).unwrap();
    assert!(next_events(&mut initial).await.initial_end);
    let mut from_rev = cache.watch(PREFIX, Some(cache.revision())).unwrap();

    flaky.down.store(true, Ordering::SeqCst);
    flaky.cut();
    store.delete(&format!("{PREFIX}ns/gone"), None).await.unwrap();
    let kept = store.create(&format!("{PREFIX}ns/kept"), v("x")).await.unwrap();
    // The history the cache would resume from is compacted away meanwhile.
    store.create("/registry/other/x", v("x")).await.unwrap();
    let (current, _) = store.revisions().await.unwrap();
    store.compact(current).await.unwrap();
    flaky.down.store(false, Ordering::SeqCst);

    for w in [&mut initial, &mut from_rev] {
        let err = loop {
            match next(w).await {
                Ok(b) => assert!(b.events.is_empty(), "no change can be delivered across the gap"),
                Err(e) => break e,
            }
        };
        assert!(matches!(err, StoreError::Compacted { .. }), "{err}");
        assert!(w.next().await.is_none());
    }
    let (items, rev) = cache.list(PREFIX, Some(current)).await.unwrap();
    assert_eq!(keys(&items), vec![&format!("{PREFIX}ns/kept")]);
    assert!(rev >= current);
    assert_eq!(items[0].mod_revision, kept.mod_revision);
    // The cache follows the store again.
    let mut w = cache.watch(PREFIX, Some(rev)).unwrap();
    let next_rev = store.create(&format!("{PREFIX}ns/new"), v("x")).await.unwrap().mod_revision;
    assert_eq!(summary(&events_until(&mut w, next_rev).await), vec![(format!("{PREFIX}ns/new"), next_rev, "create")]);
}

async fn watchers_receive_progress_notifications(backend: Backend) {
    let store = backend.store.clone();
    let cache =
        start(store.clone(), CacheOptions { progress_interval: Duration::from_millis(300), ..Default::default() })
            .await;
    let mut w = cache.watch(PREFIX, Some(1)).unwrap();
    let elsewhere = store.create("/registry/other/x", v("x")).await.unwrap().mod_revision;
    // Nothing changes under the prefix: only progress notifications come, and one soon carries
    // the revision of the write elsewhere.
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "no progress notification carrying revision {elsewhere}");
        let b = next(&mut w).await.unwrap();
        assert!(b.events.is_empty() && !b.initial_end);
        if b.revision >= elsewhere {
            break;
        }
    }
}
