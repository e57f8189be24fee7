//! Benchmarks of the watch cache alone (fed by an in-memory store watch, so store costs are not
//! counted): delivery of changes to 1,000 watchers, and lists of 10,000 keys from memory.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use storage::{
    Event, KeyValue, ProgressRequester, RangeResult, Result, Revision, Store, StoreError, Watch, WatchBatch,
    cache::{CacheOptions, WatchCache},
};
use tokio::sync::{Notify, mpsc};

const WATCHERS: usize = 1000;
const KEYS: usize = 10_000;

/// A store holding a fixed set of keys whose watch the benchmark feeds directly.
struct FeedStore {
    kvs: BTreeMap<String, KeyValue>,
    revision: Revision,
    feed: Mutex<Option<mpsc::UnboundedSender<Result<WatchBatch>>>>,
}

struct NoProgress;
impl ProgressRequester for NoProgress {
    fn request_progress(&self) {}
}

#[async_trait::async_trait]
impl Store for FeedStore {
    async fn get(&self, key: &str) -> Result<(Option<KeyValue>, Revision)> {
        Ok((self.kvs.get(key).cloned(), self.revision))
    }
    async fn range(&self, start: &str, end: &str, limit: usize, _revision: Revision) -> Result<RangeResult> {
        let mut kvs: Vec<KeyValue> =
            self.kvs.range(start.to_string()..end.to_string()).map(|(_, kv)| kv.clone()).collect();
        let total = kvs.len();
        if limit > 0 {
            kvs.truncate(limit);
        }
        let remaining = (total - kvs.len()) as i64;
        Ok(RangeResult { kvs, more: remaining > 0, remaining, revision: self.revision })
    }
    async fn create(&self, _: &str, _: Bytes) -> Result<KeyValue> {
        Err(StoreError::Internal("read-only".into()))
    }
    async fn update(&self, _: &str, _: Bytes, _: Revision) -> Result<KeyValue> {
        Err(StoreError::Internal("read-only".into()))
    }
    async fn delete(&self, _: &str, _: Option<Revision>) -> Result<(KeyValue, Revision)> {
        Err(StoreError::Internal("read-only".into()))
    }
    async fn watch(&self, _: &str, _: Revision) -> Result<Watch> {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.feed.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
        let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
        Ok(Watch { stream: stream.boxed(), progress: Arc::new(NoProgress) })
    }
    async fn compact(&self, _: Revision) -> Result<()> {
        Ok(())
    }
    async fn revisions(&self) -> Result<(Revision, Revision)> {
        Ok((self.revision, 1))
    }
}

fn kv(key: String, revision: Revision, value: &Bytes) -> KeyValue {
    KeyValue { key, value: value.clone(), create_revision: revision, mod_revision: revision, version: 1 }
}

/// How far the watchers have got: each counts itself once when it reaches `goal`.
struct Reached {
    goal: AtomicI64,
    done: AtomicUsize,
    all: Notify,
}

struct Setup {
    store: Arc<FeedStore>,
    cache: Arc<WatchCache>,
    reached: Arc<Reached>,
    revision: Revision,
    value: Bytes,
}

impl Setup {
    /// A cache over `keys` keys with `watchers` watcher tasks consuming its stream.
    async fn new(keys: usize, watchers: usize) -> Self {
        let value = Bytes::from(vec![b'x'; 1024]);
        let kvs = (0..keys)
            .map(|i| (format!("/r/ns{}/k{i:06}", i % 10), 2))
            .map(|(k, r)| (k.clone(), kv(k, r, &value)))
            .collect();
        let store = Arc::new(FeedStore { kvs, revision: 2, feed: Mutex::new(None) });
        let opts = CacheOptions { watcher_buffer: 4096, ..Default::default() };
        let cache = WatchCache::start(store.clone(), "/r/".into(), opts).await.expect("cache starts");
        let reached =
            Arc::new(Reached { goal: AtomicI64::new(i64::MAX), done: AtomicUsize::new(0), all: Notify::new() });
        for _ in 0..watchers {
            let mut stream = cache.watch("/r/", Some(2)).expect("watch");
            let reached = reached.clone();
            tokio::spawn(async move {
                let mut counted = 0;
                while let Some(Ok(batch)) = stream.next().await {
                    let goal = reached.goal.load(Ordering::Acquire);
                    if batch.revision >= goal && counted != goal {
                        counted = goal;
                        if reached.done.fetch_add(1, Ordering::AcqRel) + 1 == watchers {
                            reached.all.notify_one();
                        }
                    }
                }
            });
        }
        Self { store, cache, reached, revision: 2, value }
    }

    /// Feeds `n` changes (one per store batch) and waits until every watcher has the last one;
    /// returns the time that took.
    async fn deliver(&mut self, n: usize) -> Duration {
        let goal = self.revision + n as Revision;
        self.reached.done.store(0, Ordering::Release);
        self.reached.goal.store(goal, Ordering::Release);
        let feed = self.store.feed.lock().unwrap_or_else(|e| e.into_inner()).clone().expect("the cache watches");
        let started = Instant::now();
        for i in 0..n {
            self.revision += 1;
            let key = format!("/r/ns{}/k{:06}", i % 10, i % KEYS);
            let event = Event::Put { kv: kv(key, self.revision, &self.value), prev: None };
            let _ = feed.send(Ok(WatchBatch { events: vec![event], revision: self.revision }));
        }
        self.reached.all.notified().await;
        started.elapsed()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn fanout(c: &mut Criterion) {
    let rt = runtime();
    let setup = Arc::new(tokio::sync::Mutex::new(rt.block_on(Setup::new(100, WATCHERS))));
    let mut group = c.benchmark_group("cache_fanout_1000_watchers");
    group.sample_size(30).measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(WATCHERS as u64));
    group.bench_function("one_change_latency", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let setup = setup.clone();
            async move {
                let mut s = setup.lock().await;
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += s.deliver(1).await;
                }
                total
            }
        })
    });
    const BURST: usize = 1000;
    group.throughput(Throughput::Elements((WATCHERS * BURST) as u64));
    group.bench_function("burst_of_1000_changes", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let setup = setup.clone();
            async move {
                let mut s = setup.lock().await;
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += s.deliver(BURST).await;
                }
                total
            }
        })
    });
    group.finish();
}

fn list(c: &mut Criterion) {
    let rt = runtime();
    let setup = rt.block_on(Setup::new(KEYS, 0));
    let cache = setup.cache.clone();
    let mut group = c.benchmark_group("cache_list");
    group.throughput(Throughput::Elements(KEYS as u64));
    group.bench_function("list_10k_keys", |b| {
        b.to_async(&rt).iter(|| async {
            let (items, _) = cache.list("/r/", None).await.expect("list");
            assert_eq!(items.len(), KEYS);
        })
    });
    group.throughput(Throughput::Elements((KEYS / 10) as u64));
    group.bench_function("list_one_namespace_of_1k", |b| {
        b.to_async(&rt).iter(|| async {
            let (items, _) = cache.list("/r/ns3/", None).await.expect("list");
            assert_eq!(items.len(), KEYS / 10);
        })
    });
    group.throughput(Throughput::Elements(KEYS as u64));
    group.bench_function("watch_initial_state_10k_keys", |b| {
        b.to_async(&rt).iter(|| async {
            let mut stream = cache.watch("/r/", None).expect("watch");
            let mut n = 0;
            while let Some(Ok(batch)) = stream.next().await {
                n += batch.events.len();
                if batch.initial_end {
                    break;
                }
            }
            assert_eq!(n, KEYS);
        })
    });
    group.finish();
    drop(setup);
}

criterion_group!(benches, fanout, list);
criterion_main!(benches);
