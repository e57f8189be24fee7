//! Benchmarks of the embedded store on disk (every write synced before it is acknowledged):
//! sequential creates, creates from 64 concurrent writers (which share commits and syncs), point
//! reads, a range of 10,000 keys, and the latency from a write to its watch event.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use storage::{Store, embedded::EmbeddedStore, prefix_end};

const KEYS: usize = 10_000;
const WRITERS: usize = 64;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// A store in a fresh temporary directory (kept alive with it).
fn open() -> (Arc<EmbeddedStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("open the embedded store");
    (Arc::new(store), dir)
}

/// A 1 KiB value, about the size of a small Kubernetes object.
fn value() -> Bytes {
    Bytes::from(vec![b'x'; 1024])
}

/// Writes `KEYS` keys under `prefix` with concurrent writers.
async fn fill(store: &Arc<EmbeddedStore>, prefix: &str) {
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, prefix) = (store.clone(), prefix.to_string());
            tokio::spawn(async move {
                for i in (w..KEYS).step_by(WRITERS) {
                    store.create(&format!("{prefix}k{i:06}"), value()).await.expect("create");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("writer");
    }
}

fn writes(c: &mut Criterion) {
    let rt = runtime();
    let (store, _dir) = open();
    let counter = Arc::new(AtomicU64::new(0));
    let mut group = c.benchmark_group("embedded_store_write");
    group.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    group.throughput(Throughput::Elements(1));
    group.bench_function("create_sequential", |b| {
        b.to_async(&rt).iter(|| {
            let (store, n) = (store.clone(), counter.fetch_add(1, Ordering::Relaxed));
            async move {
                store.create(&format!("/seq/k{n}"), value()).await.expect("create");
            }
        })
    });
    // One iteration is 64 creates issued at once; the throughput is per create.
    group.throughput(Throughput::Elements(WRITERS as u64));
    group.bench_function("create_64_concurrent_writers", |b| {
        b.to_async(&rt).iter(|| {
            let (store, counter) = (store.clone(), counter.clone());
            async move {
                let tasks: Vec<_> = (0..WRITERS)
                    .map(|_| {
                        let store = store.clone();
                        let n = counter.fetch_add(1, Ordering::Relaxed);
                        tokio::spawn(async move { store.create(&format!("/par/k{n}"), value()).await.expect("create") })
                    })
                    .collect();
                for t in tasks {
                    t.await.expect("writer");
                }
            }
        })
    });
    group.finish();
}

fn reads(c: &mut Criterion) {
    let rt = runtime();
    let (store, _dir) = open();
    rt.block_on(fill(&store, "/list/"));
    let end = prefix_end("/list/");
    let mut group = c.benchmark_group("embedded_store_read");
    group.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(1));
    let next = AtomicU64::new(0);
    group.bench_function("get", |b| {
        b.to_async(&rt).iter(|| {
            // Spread over the keys (a stride coprime with 10,000) so reads are not all one page.
            let i = next.fetch_add(7919, Ordering::Relaxed) as usize % KEYS;
            let store = store.clone();
            async move {
                let (kv, _) = store.get(&format!("/list/k{i:06}")).await.expect("get");
                assert!(kv.is_some());
            }
        })
    });
    group.throughput(Throughput::Elements(KEYS as u64));
    group.bench_function("range_10k_keys", |b| {
        b.to_async(&rt).iter(|| async {
            let r = store.range("/list/", &end, 0, 0).await.expect("range");
            assert_eq!(r.kvs.len(), KEYS);
        })
    });
    group.finish();
}

fn watch(c: &mut Criterion) {
    let rt = runtime();
    let (store, _dir) = open();
    let mut w = rt.block_on(store.watch("/w/", 0)).expect("watch");
    let mut n = 0u64;
    let mut group = c.benchmark_group("embedded_store_watch");
    group.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    group.throughput(Throughput::Elements(1));
    // From issuing a write until the watcher holds its event: the write's commit and sync, plus
    // delivery (events are published before the write is acknowledged).
    group.bench_function("write_to_event_latency", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    n += 1;
                    let started = Instant::now();
                    let kv = store.create(&format!("/w/k{n}"), value()).await.expect("create");
                    loop {
                        let batch = w.stream.next().await.expect("watch open").expect("watch batch");
                        if batch.events.iter().any(|e| e.revision() == kv.mod_revision) {
                            break;
                        }
                    }
                    total += started.elapsed();
                }
                total
            })
        })
    });
    // From the write's acknowledgement until the watcher holds its event: delivery alone.
    group.bench_function("ack_to_event_latency", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    n += 1;
                    let kv = store.create(&format!("/w/k{n}"), value()).await.expect("create");
                    let acknowledged = Instant::now();
                    loop {
                        let batch = w.stream.next().await.expect("watch open").expect("watch batch");
                        if batch.events.iter().any(|e| e.revision() == kv.mod_revision) {
                            break;
                        }
                    }
                    total += acknowledged.elapsed();
                }
                total
            })
        })
    });
    group.finish();
}

criterion_group!(benches, writes, reads, watch);
criterion_main!(benches);
