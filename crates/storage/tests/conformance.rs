//! The `Store` contract (etcd v3 semantics as Kubernetes uses them), checked once and run against
//! both backends: the embedded store in a temporary directory and a real etcd. Every case is an
//! `async fn(Arc<dyn Store>)`; a difference in what the two backends do is a bug in one of them.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::StreamExt;
use storage::{
    Event, KeyValue, Revision, Store, StoreError, Watch, WatchBatch,
    embedded::EmbeddedStore,
    etcd::{EtcdStore, EtcdTls},
    prefix_end,
};
use testkit::etcd::Etcd;

const WAIT: Duration = Duration::from_secs(30);

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

/// A fresh etcd per test: nextest runs every test in its own process, so one etcd cannot be
/// shared, and a fresh one lets the tests assert exact revisions on both backends alike.
async fn etcd() -> Backend {
    let etcd = tokio::task::spawn_blocking(Etcd::start).await.expect("etcd starts");
    let store = EtcdStore::connect(&etcd.endpoints(), EtcdTls::default())
        .await
        .unwrap_or_else(|e| panic!("connect: {e}\n{}", etcd.log()));
    Backend { store: Arc::new(store), _keep: Box::new(etcd) }
}

/// Runs each named case (an `async fn(Arc<dyn Store>)`) as a test on each backend.
macro_rules! on_every_backend {
    ($($case:ident),* $(,)?) => {
        mod embedded_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let backend = super::embedded().await;
                    super::$case(backend.store.clone()).await
                }
            )*
        }
        mod etcd_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let backend = super::etcd().await;
                    super::$case(backend.store.clone()).await
                }
            )*
        }
    };
}

on_every_backend!(
    revisions_are_global_and_advance_by_one_per_write,
    create_only_if_absent,
    update_is_compare_and_swap,
    delete_with_and_without_precondition,
    ranges_are_half_open_in_byte_order_with_limits,
    a_paged_range_continues_at_its_revision_while_writes_happen,
    ranges_at_past_revisions_see_old_values_and_deleted_keys,
    compaction_discards_history_below_its_revision,
    unicode_keys_order_by_bytes_and_prefix_ranges_hold_them,
    a_watch_from_now_sees_only_later_changes_with_kinds_and_previous_values,
    a_watch_from_an_old_revision_replays_exactly_then_follows,
    a_replay_started_under_load_joins_the_live_stream_without_gaps,
    a_watch_from_a_future_revision_starts_there,
    watches_filter_by_prefix_without_mixing_siblings,
    concurrent_writers_each_revision_is_watched_exactly_once_in_order,
    progress_reports_the_revision_without_events,
    one_mebibyte_values,
    the_empty_key_is_refused,
);

fn v(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn keys(kvs: &[KeyValue]) -> Vec<&str> {
    kvs.iter().map(|kv| kv.key.as_str()).collect()
}

async fn current(store: &Arc<dyn Store>) -> Revision {
    store.revisions().await.expect("revisions").0
}

/// The next batch of a watch within the deadline.
async fn next(w: &mut Watch) -> Result<WatchBatch, StoreError> {
    tokio::time::timeout(WAIT, w.stream.next()).await.expect("a watch batch in time").expect("the watch stream is open")
}

/// Collects events until one at `until` or later has arrived, checking each batch's revision
/// covers its events.
async fn events_until(w: &mut Watch, until: Revision) -> Vec<Event> {
    let mut events: Vec<Event> = Vec::new();
    while events.last().map(Event::revision).unwrap_or(0) < until {
        let batch = next(w).await.expect("no watch error");
        if let Some(last) = batch.events.last() {
            assert!(batch.revision >= last.revision(), "a batch's revision covers its events");
        }
        events.extend(batch.events);
    }
    events
}

/// Asks for progress and asserts no event arrives before it: the watch has nothing pending.
/// Returns the revision the progress notification reports.
async fn assert_quiet(w: &mut Watch) -> Revision {
    w.progress.request_progress();
    let batch = next(w).await.expect("no watch error");
    assert!(batch.events.is_empty(), "unexpected events: {:?}", batch.events);
    batch.revision
}

/// (key, revision, kind) of each event, for readable comparisons.
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

async fn revisions_are_global_and_advance_by_one_per_write(store: Arc<dyn Store>) {
    assert_eq!(store.revisions().await.unwrap(), (1, 1), "a fresh store is at revision 1, nothing compacted");
    assert_eq!(store.get("/g/a").await.unwrap(), (None, 1));

    let a = store.create("/g/a", v("a")).await.unwrap();
    let b = store.create("/other/b", v("b")).await.unwrap();
    let c = store.create("/g/c", v("c")).await.unwrap();
    assert_eq!((a.mod_revision, b.mod_revision, c.mod_revision), (2, 3, 4), "one counter across keys and prefixes");
    let a2 = store.update("/g/a", v("a2"), a.mod_revision).await.unwrap();
    assert_eq!(a2.mod_revision, 5);
    let (_, deleted_at) = store.delete("/other/b", None).await.unwrap();
    assert_eq!(deleted_at, 6);

    // Reads never move the revision, and each read reports the current one.
    for _ in 0..3 {
        let (got, rev) = store.get("/g/c").await.unwrap();
        assert_eq!((got, rev), (Some(c.clone()), 6));
        assert_eq!(store.get("/other/b").await.unwrap(), (None, 6), "a deleted key is absent");
        let r = store.range("/", &prefix_end("/"), 0, 0).await.unwrap();
        assert_eq!(r.revision, 6);
        assert_eq!(keys(&r.kvs), ["/g/a", "/g/c"]);
    }
    assert_eq!(store.revisions().await.unwrap(), (6, 1));
}

async fn create_only_if_absent(store: Arc<dyn Store>) {
    let created = store.create("/c/k", v("first")).await.unwrap();
    assert_eq!(
        (created.key.as_str(), created.value.clone(), created.create_revision, created.mod_revision, created.version),
        ("/c/k", v("first"), 2, 2, 1)
    );
    match store.create("/c/k", v("second")).await {
        Err(StoreError::AlreadyExists { key }) => assert_eq!(key, "/c/k"),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(current(&store).await, 2, "a failed create does not use a revision");
    assert_eq!(store.get("/c/k").await.unwrap(), (Some(created.clone()), 2), "nor change the value");

    // A key that differs only by a trailing byte is a different key.
    let sibling = store.create("/c/k/", v("x")).await.unwrap();
    assert_eq!(sibling.mod_revision, 3);

    // Deleted, the key can be created again: a new incarnation.
    store.delete("/c/k", None).await.unwrap();
    let again = store.create("/c/k", v("third")).await.unwrap();
    assert_eq!((again.create_revision, again.mod_revision, again.version, again.value), (5, 5, 1, v("third")));
}

async fn update_is_compare_and_swap(store: Arc<dyn Store>) {
    let k = store.create("/u/k", v("1")).await.unwrap();
    let k2 = store.update("/u/k", v("2"), k.mod_revision).await.unwrap();
    assert_eq!((k2.create_revision, k2.mod_revision, k2.version, k2.value.clone()), (2, 3, 2, v("2")));
    let k3 = store.update("/u/k", v("3"), k2.mod_revision).await.unwrap();
    assert_eq!((k3.create_revision, k3.mod_revision, k3.version), (2, 4, 3));

    // A stale revision conflicts and reports what is stored, so the caller can retry at once.
    match store.update("/u/k", v("stale"), k2.mod_revision).await {
        Err(StoreError::Conflict { key, expected, current }) => {
            assert_eq!((key.as_str(), expected), ("/u/k", k2.mod_revision));
            assert_eq!(current, Some(k3.clone()));
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    // Neither a revision from the future nor 0 matches an existing key.
    assert!(matches!(store.update("/u/k", v("x"), 99).await, Err(StoreError::Conflict { .. })));
    assert!(matches!(store.update("/u/k", v("x"), 0).await, Err(StoreError::Conflict { .. })));
    // An absent key is NotFound, whatever the expected revision, and is not created.
    for expected in [0, 1, k3.mod_revision] {
        match store.update("/u/missing", v("x"), expected).await {
            Err(StoreError::NotFound { key }) => assert_eq!(key, "/u/missing"),
            other => panic!("expected NotFound, got {other:?}"),
        }
    }
    assert!(store.get("/u/missing").await.unwrap().0.is_none());
    assert_eq!(current(&store).await, 4, "failed updates do not use revisions");
    assert_eq!(store.get("/u/k").await.unwrap().0, Some(k3.clone()));

    // Writing the same value again is still a write.
    let k4 = store.update("/u/k", v("3"), k3.mod_revision).await.unwrap();
    assert_eq!((k4.mod_revision, k4.version), (5, 4));
    // An empty value is a value.
    let k5 = store.update("/u/k", Bytes::new(), k4.mod_revision).await.unwrap();
    assert_eq!(store.get("/u/k").await.unwrap().0, Some(k5));
}

async fn delete_with_and_without_precondition(store: Arc<dyn Store>) {
    let a = store.create("/d/a", v("a")).await.unwrap();
    let a2 = store.update("/d/a", v("a2"), a.mod_revision).await.unwrap();
    let b = store.create("/d/b", v("b")).await.unwrap();

    match store.delete("/d/a", Some(a.mod_revision)).await {
        Err(StoreError::Conflict { key, expected, current }) => {
            assert_eq!((key.as_str(), expected, current), ("/d/a", a.mod_revision, Some(a2.clone())));
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert!(
        matches!(store.delete("/d/a", Some(0)).await, Err(StoreError::Conflict { .. })),
        "0 is no existing key's revision"
    );
    assert_eq!(current(&store).await, 4);

    // With the right precondition: returns the deleted key-value and the deletion's revision.
    let (deleted, at) = store.delete("/d/a", Some(a2.mod_revision)).await.unwrap();
    assert_eq!((deleted, at), (a2.clone(), 5));
    assert_eq!(store.get("/d/a").await.unwrap(), (None, 5));

    // Without one.
    let (deleted, at) = store.delete("/d/b", None).await.unwrap();
    assert_eq!((deleted, at), (b.clone(), 6));

    // Absent keys are NotFound with or without a precondition, and use no revision.
    for expected in [None, Some(a2.mod_revision), Some(0)] {
        match store.delete("/d/a", expected).await {
            Err(StoreError::NotFound { key }) => assert_eq!(key, "/d/a"),
            other => panic!("expected NotFound, got {other:?}"),
        }
    }
    assert_eq!(current(&store).await, 6);

    // A new incarnation has a new create_revision and starts again at version 1.
    let again = store.create("/d/a", v("new")).await.unwrap();
    assert_eq!((again.create_revision, again.version), (7, 1));
    let (deleted, at) = store.delete("/d/a", Some(7)).await.unwrap();
    assert_eq!((deleted, at), (again, 8));
}

async fn ranges_are_half_open_in_byte_order_with_limits(store: Arc<dyn Store>) {
    // Created out of order; listed in byte order ('-' < '/' < '0' < 'A' < 'a').
    let names = ["/r/b", "/r/a/x", "/r/a", "/r/a-", "/r/A", "/r/0", "/r/aa", "/r/b/"];
    for n in names {
        store.create(n, v(n)).await.unwrap();
    }
    store.create("/q/before", v("")).await.unwrap();
    store.create("/s/after", v("")).await.unwrap();
    let mut sorted: Vec<&str> = names.to_vec();
    sorted.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let all = store.range("/r/", &prefix_end("/r/"), 0, 0).await.unwrap();
    assert_eq!(keys(&all.kvs), sorted);
    assert_eq!((all.more, all.remaining, all.revision), (false, 0, current(&store).await));
    assert!(all.kvs.iter().all(|kv| kv.value == v(&kv.key)));

    // [start, end): the start is included, the end excluded.
    let mid = store.range("/r/a", "/r/b", 0, 0).await.unwrap();
    assert_eq!(keys(&mid.kvs), ["/r/a", "/r/a-", "/r/a/x", "/r/aa"]);
    let one = store.range("/r/a", "/r/a\0", 0, 0).await.unwrap();
    assert_eq!(keys(&one.kvs), ["/r/a"], "[key, key+\\0) is exactly the key");

    // Limits: `more` and `remaining` say what is left beyond the page.
    for limit in 1..=sorted.len() + 2 {
        let page = store.range("/r/", &prefix_end("/r/"), limit, 0).await.unwrap();
        let shown = limit.min(sorted.len());
        assert_eq!(keys(&page.kvs), sorted[..shown], "limit {limit}");
        assert_eq!(page.more, shown < sorted.len(), "more at limit {limit}");
        assert_eq!(page.remaining, (sorted.len() - shown) as i64, "remaining at limit {limit}");
    }

    // Empty ranges: nothing in an empty interval or under an unused prefix.
    let empty = store.range("/r/a", "/r/a", 0, 0).await.unwrap();
    assert!(empty.kvs.is_empty() && !empty.more && empty.remaining == 0);
    assert_eq!(empty.revision, current(&store).await, "an empty range still reports its revision");
    assert!(store.range("/nothing/", &prefix_end("/nothing/"), 5, 0).await.unwrap().kvs.is_empty());
    // An inverted range holds nothing (and is not an error).
    let inverted = store.range("/r/b", "/r/a", 0, 0).await.unwrap();
    assert!(inverted.kvs.is_empty() && !inverted.more);
    // So does one that ends at the empty key: no key sorts below it.
    let to_empty = store.range("/r/", "", 0, 0).await.unwrap();
    assert!(to_empty.kvs.is_empty() && !to_empty.more, "[start, \"\") is empty, got {:?}", keys(&to_empty.kvs));

    // The empty prefix is the whole key space.
    let everything = store.range("", &prefix_end(""), 0, 0).await.unwrap();
    assert_eq!(everything.kvs.len(), names.len() + 2);
    assert_eq!(everything.kvs.first().map(|kv| kv.key.as_str()), Some("/q/before"));
    assert_eq!(everything.kvs.last().map(|kv| kv.key.as_str()), Some("/s/after"));
    let limited = store.range("", &prefix_end(""), 3, 0).await.unwrap();
    assert_eq!((limited.kvs.len(), limited.more, limited.remaining), (3, true, names.len() as i64 - 1));
}

async fn a_paged_range_continues_at_its_revision_while_writes_happen(store: Arc<dyn Store>) {
    for i in 0..10 {
        store.create(&format!("/p/k{i}"), v(&format!("v{i}"))).await.unwrap();
    }
    let end = prefix_end("/p/");
    let snapshot = store.range("/p/", &end, 0, 0).await.unwrap();
    let at = snapshot.revision;

    let mut pages: Vec<KeyValue> = Vec::new();
    let mut start = "/p/".to_string();
    let mut round = 0;
    loop {
        let page = store.range(&start, &end, 3, if pages.is_empty() { 0 } else { at }).await.unwrap();
        assert_eq!(page.revision, at, "every page is read at the first page's revision");
        assert_eq!(page.remaining, (10 - pages.len() - page.kvs.len()) as i64);
        pages.extend(page.kvs.iter().cloned());
        // Between pages: creates before and after the cursor, updates and deletes ahead of it.
        round += 1;
        store.create(&format!("/p/k{}a", round), v("new")).await.unwrap();
        store.create(&format!("/p/a{round}"), v("new")).await.unwrap();
        let ahead = format!("/p/k{}", (round + 5).min(9));
        if let (Some(kv), _) = store.get(&ahead).await.unwrap() {
            if round % 2 == 0 {
                store.update(&ahead, v("changed"), kv.mod_revision).await.unwrap();
            } else {
                store.delete(&ahead, None).await.unwrap();
            }
        }
        if !page.more {
            break;
        }
        let last = page.kvs.last().expect("a page with more has keys");
        start = format!("{}\0", last.key);
    }
    assert_eq!(pages, snapshot.kvs, "the pages together are the list at one revision");
    assert!(current(&store).await > at);
    // The current list has moved on.
    let now = store.range("/p/", &end, 0, 0).await.unwrap();
    assert_ne!(now.kvs, snapshot.kvs);
}

async fn ranges_at_past_revisions_see_old_values_and_deleted_keys(store: Arc<dyn Store>) {
    let end = prefix_end("/h/");
    // A history: the expected list after each revision.
    let mut expected: BTreeMap<Revision, Vec<(String, Bytes, Revision)>> = BTreeMap::new();
    let mut state: BTreeMap<String, (Bytes, Revision)> = BTreeMap::new();
    let mut record = |rev: Revision, state: &BTreeMap<String, (Bytes, Revision)>| {
        expected.insert(rev, state.iter().map(|(k, (val, m))| (k.clone(), val.clone(), *m)).collect());
    };
    record(1, &state);
    let a = store.create("/h/a", v("a1")).await.unwrap();
    state.insert("/h/a".into(), (v("a1"), a.mod_revision));
    record(a.mod_revision, &state);
    let b = store.create("/h/b", v("b1")).await.unwrap();
    state.insert("/h/b".into(), (v("b1"), b.mod_revision));
    record(b.mod_revision, &state);
    let a2 = store.update("/h/a", v("a2"), a.mod_revision).await.unwrap();
    state.insert("/h/a".into(), (v("a2"), a2.mod_revision));
    record(a2.mod_revision, &state);
    let other = store.create("/x/other", v("o")).await.unwrap();
    record(other.mod_revision, &state);
    let (_, del_b) = store.delete("/h/b", None).await.unwrap();
    state.remove("/h/b");
    record(del_b, &state);
    let b_again = store.create("/h/b", v("b2")).await.unwrap();
    state.insert("/h/b".into(), (v("b2"), b_again.mod_revision));
    record(b_again.mod_revision, &state);
    let (_, del_a) = store.delete("/h/a", Some(a2.mod_revision)).await.unwrap();
    state.remove("/h/a");
    record(del_a, &state);

    for (rev, want) in &expected {
        let got = store.range("/h/", &end, 0, *rev).await.unwrap();
        assert_eq!(got.revision, *rev);
        let got: Vec<(String, Bytes, Revision)> =
            got.kvs.into_iter().map(|kv| (kv.key, kv.value, kv.mod_revision)).collect();
        assert_eq!(&got, want, "the list at revision {rev}");
        // A limit applies to the past state too.
        let page = store.range("/h/", &end, 1, *rev).await.unwrap();
        assert_eq!(page.more, want.len() > 1, "more at revision {rev}");
        assert_eq!(page.remaining, (want.len() as i64 - 1).max(0));
    }
    // The old incarnation of /h/b keeps its own metadata at a past revision.
    let old_b = store.range("/h/b", "/h/b\0", 0, b.mod_revision).await.unwrap();
    assert_eq!(old_b.kvs, vec![b.clone()]);

    let now = current(&store).await;
    match store.range("/h/", &end, 0, now + 10).await {
        Err(StoreError::FutureRevision { requested, current }) => assert_eq!((requested, current), (now + 10, now)),
        other => panic!("expected FutureRevision, got {other:?}"),
    }
    // At exactly the current revision: the current state.
    assert!(store.range("/h/", &end, 0, now).await.unwrap().kvs.iter().all(|kv| kv.key == "/h/b"));
}

async fn compaction_discards_history_below_its_revision(store: Arc<dyn Store>) {
    let end = prefix_end("/k/");
    let a = store.create("/k/a", v("1")).await.unwrap();
    let a2 = store.update("/k/a", v("2"), a.mod_revision).await.unwrap();
    let b = store.create("/k/b", v("1")).await.unwrap();
    let (_, del_b) = store.delete("/k/b", None).await.unwrap();
    let c = store.create("/k/c", v("1")).await.unwrap();
    assert_eq!((a.mod_revision, a2.mod_revision, b.mod_revision, del_b, c.mod_revision), (2, 3, 4, 5, 6));

    store.compact(4).await.unwrap();
    assert_eq!(store.revisions().await.unwrap(), (6, 4), "revisions() reports the compaction");

    // Below the compacted revision: Compacted, for ranges and watches.
    for rev in [1, 2, 3] {
        match store.range("/k/", &end, 0, rev).await {
            Err(StoreError::Compacted { requested, compacted }) => assert_eq!((requested, compacted), (rev, 4)),
            other => panic!("range at {rev}: expected Compacted, got {other:?}"),
        }
        match store.watch("/k/", rev).await {
            Err(StoreError::Compacted { requested, compacted }) => assert_eq!((requested, compacted), (rev, 4)),
            Err(e) => panic!("watch at {rev}: expected Compacted, got {e:?}"),
            Ok(_) => panic!("watch at {rev}: expected Compacted, got a watch"),
        }
    }
    // At it and above: still readable, with the deleted key present at 4.
    let at4 = store.range("/k/", &end, 0, 4).await.unwrap();
    assert_eq!(at4.kvs, vec![a2.clone(), b.clone()]);
    let mut w = store.watch("/k/", 4).await.unwrap();
    assert_eq!(
        summary(&events_until(&mut w, 6).await),
        [("/k/b".into(), 4, "create"), ("/k/b".into(), 5, "delete"), ("/k/c".into(), 6, "create")]
    );
    assert_quiet(&mut w).await;

    // Compacting to or below the compacted revision changes nothing; the future is refused.
    store.compact(3).await.unwrap();
    store.compact(4).await.unwrap();
    assert_eq!(store.revisions().await.unwrap(), (6, 4));
    match store.compact(100).await {
        Err(StoreError::FutureRevision { requested, .. }) => assert_eq!(requested, 100),
        other => panic!("expected FutureRevision, got {other:?}"),
    }
    // Compacting to the current revision keeps the current state and the ongoing watch.
    store.compact(6).await.unwrap();
    assert_eq!(store.revisions().await.unwrap(), (6, 6));
    assert!(matches!(store.range("/k/", &end, 0, 5).await, Err(StoreError::Compacted { requested: 5, compacted: 6 })));
    assert_eq!(store.range("/k/", &end, 0, 6).await.unwrap().kvs, vec![a2.clone(), c.clone()]);
    assert_eq!(store.get("/k/a").await.unwrap(), (Some(a2.clone()), 6));
    let a3 = store.update("/k/a", v("3"), a2.mod_revision).await.unwrap();
    assert_eq!(summary(&events_until(&mut w, 7).await), [("/k/a".into(), 7, "update")]);
    assert_eq!(a3.mod_revision, 7);
}

async fn unicode_keys_order_by_bytes_and_prefix_ranges_hold_them(store: Arc<dyn Store>) {
    // UTF-8 byte order is code point order; high code points sort after ASCII.
    let names = [
        "/u/z",
        "/u/é",
        "/u/日本",
        "/u/日",
        "/u/\u{7f}",
        "/u/\u{ffff}",
        "/u/\u{10ffff}",
        "/u/\u{10ffff}\u{10ffff}",
        "/u/ü/x",
        "/u/ü",
        "/u/ǿ",
    ];
    for n in names {
        store.create(n, v(n)).await.unwrap();
    }
    store.create("/v/after", v("")).await.unwrap();
    let mut sorted: Vec<&str> = names.to_vec();
    sorted.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let all = store.range("/u/", &prefix_end("/u/"), 0, 0).await.unwrap();
    assert_eq!(keys(&all.kvs), sorted);
    let page = store.range("/u/", &prefix_end("/u/"), 4, 0).await.unwrap();
    assert_eq!(keys(&page.kvs), sorted[..4]);
    assert_eq!(page.remaining, (sorted.len() - 4) as i64);

    // Prefixes that end in multi-byte characters.
    assert_eq!(keys(&store.range("/u/日", &prefix_end("/u/日"), 0, 0).await.unwrap().kvs), ["/u/日", "/u/日本"]);
    assert_eq!(keys(&store.range("/u/ü", &prefix_end("/u/ü"), 0, 0).await.unwrap().kvs), ["/u/ü", "/u/ü/x"]);
    // The highest code point, as key content, bounded explicitly.
    let high = store.range("/u/\u{10ffff}", "/u/\u{10ffff}\u{10ffff}\0", 0, 0).await.unwrap();
    assert_eq!(keys(&high.kvs), ["/u/\u{10ffff}", "/u/\u{10ffff}\u{10ffff}"]);
    // A continuation after a multi-byte key.
    let rest = store.range("/u/日\0", &prefix_end("/u/"), 0, all.revision).await.unwrap();
    assert_eq!(keys(&rest.kvs), sorted[sorted.iter().position(|k| *k == "/u/日").unwrap() + 1..]);

    // The whole key space ends after every key, also after keys that start with U+10FFFF.
    let top = store.create("\u{10ffff}/top", v("")).await.unwrap();
    let everything = store.range("", &prefix_end(""), 0, 0).await.unwrap();
    assert_eq!(everything.kvs.last(), Some(&top), "the empty prefix's range holds the highest keys");
    assert_eq!(everything.kvs.len(), names.len() + 2);

    // Watches filter multi-byte prefixes by bytes as well.
    let mut w = store.watch("/u/ü", 0).await.unwrap();
    let e = store.create("/u/é2", v("")).await.unwrap();
    let u = store.create("/u/üü", v("")).await.unwrap();
    let events = events_until(&mut w, u.mod_revision).await;
    assert_eq!(summary(&events), [("/u/üü".into(), u.mod_revision, "create")]);
    assert!(e.mod_revision < u.mod_revision);
}

async fn a_watch_from_now_sees_only_later_changes_with_kinds_and_previous_values(store: Arc<dyn Store>) {
    let old = store.create("/w/old", v("o")).await.unwrap();
    let mut w = store.watch("/w/", 0).await.unwrap();
    let created = store.create("/w/k", v("1")).await.unwrap();
    let updated = store.update("/w/k", v("2"), created.mod_revision).await.unwrap();
    let (deleted, del_rev) = store.delete("/w/k", Some(updated.mod_revision)).await.unwrap();
    let (old_deleted, old_rev) = store.delete("/w/old", None).await.unwrap();
    let events = events_until(&mut w, old_rev).await;
    assert_eq!(
        events,
        vec![
            Event::Put { kv: created.clone(), prev: None },
            Event::Put { kv: updated.clone(), prev: Some(created.clone()) },
            Event::Delete { prev: deleted.clone(), revision: del_rev },
            Event::Delete { prev: old_deleted.clone(), revision: old_rev },
        ],
        "created, updated with the previous value, deleted with the last value"
    );
    assert_eq!(old_deleted, old);
    assert!(assert_quiet(&mut w).await >= old_rev);
}

async fn a_watch_from_an_old_revision_replays_exactly_then_follows(store: Arc<dyn Store>) {
    let mut history = Vec::new();
    for i in 0..20 {
        let kv = store.create(&format!("/o/k{i:02}"), v("0")).await.unwrap();
        store.create(&format!("/other/k{i:02}"), v("0")).await.unwrap();
        history.push(Event::Put { kv, prev: None });
        if i % 4 == 3 {
            let (prev, revision) = store.delete(&format!("/o/k{:02}", i - 1), None).await.unwrap();
            history.push(Event::Delete { prev, revision });
        }
    }
    let initial_last = history.last().unwrap().revision();
    for from in [2, 3, history[7].revision(), history[7].revision() + 1, initial_last] {
        let last = history.last().unwrap().revision();
        let mut w = store.watch("/o/", from).await.unwrap();
        let replayed = events_until(&mut w, last).await;
        let want: Vec<Event> = history.iter().filter(|e| e.revision() >= from).cloned().collect();
        assert_eq!(replayed, want, "replay from {from}: every change since, in order, once");
        assert_quiet(&mut w).await;
        // Then live.
        let live = store.create(&format!("/o/live{from}"), v("l")).await.unwrap();
        store.create(&format!("/other/live{from}"), v("l")).await.unwrap();
        let put = Event::Put { kv: live.clone(), prev: None };
        assert_eq!(events_until(&mut w, live.mod_revision).await, vec![put.clone()]);
        let (prev, revision) = store.delete(&live.key, None).await.unwrap();
        let delete = Event::Delete { prev, revision };
        assert_eq!(events_until(&mut w, revision).await, vec![delete.clone()]);
        assert_quiet(&mut w).await;
        history.extend([put, delete]);
    }
}

async fn a_replay_started_under_load_joins_the_live_stream_without_gaps(store: Arc<dyn Store>) {
    // A writer keeps writing while watches from past revisions start: the switch from history to
    // live changes must neither lose nor repeat one.
    let first = store.create("/l/k0", v("0")).await.unwrap().mod_revision;
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut last = first;
            for i in 1..400 {
                last = store.create(&format!("/l/k{i}"), v("0")).await.unwrap().mod_revision;
            }
            last
        })
    };
    let mut watches = Vec::new();
    let deadline = Instant::now() + WAIT;
    while watches.len() < 5 {
        let now = current(&store).await;
        // Spread the watches over the load: one per 40 writes or so.
        if now >= first + 40 * watches.len() as i64 || writer.is_finished() {
            let from = first + (now - first) / 2;
            watches.push((from, store.watch("/l/", from).await.unwrap()));
        } else {
            assert!(Instant::now() < deadline, "the writer made no progress");
            tokio::task::yield_now().await;
        }
    }
    let last = writer.await.unwrap();
    for (from, mut w) in watches {
        let revs: Vec<Revision> = events_until(&mut w, last).await.iter().map(Event::revision).collect();
        assert_eq!(revs, (from..=last).collect::<Vec<_>>(), "watch from {from}: each revision once, in order");
        assert_quiet(&mut w).await;
    }
}

async fn a_watch_from_a_future_revision_starts_there(store: Arc<dyn Store>) {
    let now = current(&store).await;
    let mut w = store.watch("/f/", now + 3).await.unwrap();
    for i in 0..5 {
        store.create(&format!("/f/k{i}"), v("")).await.unwrap();
    }
    let revs: Vec<Revision> = events_until(&mut w, now + 5).await.iter().map(Event::revision).collect();
    assert_eq!(revs, [now + 3, now + 4, now + 5]);
}

async fn watches_filter_by_prefix_without_mixing_siblings(store: Arc<dyn Store>) {
    let mut b = store.watch("/a/b/", 0).await.unwrap();
    let mut bc = store.watch("/a/bc/", 0).await.unwrap();
    let mut raw = store.watch("/a/b", 0).await.unwrap();
    let mut all = store.watch("", 0).await.unwrap();
    let mut w = Vec::new();
    for key in ["/a/b/x", "/a/bc/x", "/a/b", "/a/bc", "/a/c/x", "/a/b/y/z", "/a/bcd/x", "/b/x"] {
        w.push((key, store.create(key, v(key)).await.unwrap().mod_revision));
    }
    let last = w.last().unwrap().1;
    let expect = |pred: &dyn Fn(&str) -> bool| -> Vec<(String, Revision, &'static str)> {
        w.iter().filter(|(k, _)| pred(k)).map(|(k, r)| (k.to_string(), *r, "create")).collect()
    };
    let got_b = summary(&events_until(&mut b, w[5].1).await);
    assert_eq!(got_b, expect(&|k| k.starts_with("/a/b/")));
    let got_bc = summary(&events_until(&mut bc, w[1].1).await);
    assert_eq!(got_bc, expect(&|k| k.starts_with("/a/bc/")));
    // A prefix is a byte prefix: without the trailing slash, siblings match too (as in etcd).
    let got_raw = summary(&events_until(&mut raw, w[6].1).await);
    assert_eq!(got_raw, expect(&|k| k.starts_with("/a/b")));
    assert_eq!(summary(&events_until(&mut all, last).await), expect(&|_| true), "the empty prefix watches every key");
    for watch in [&mut b, &mut bc, &mut raw, &mut all] {
        assert!(assert_quiet(watch).await >= w[1].1);
    }
}

async fn concurrent_writers_each_revision_is_watched_exactly_once_in_order(store: Arc<dyn Store>) {
    const WRITERS: usize = 8;
    const WRITES: usize = 200;
    let start = current(&store).await;
    let mut w = store.watch("/c/", start + 1).await.unwrap();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut acked = Vec::with_capacity(WRITES);
                let key = format!("/c/w{t}/hot");
                let mut hot = store.create(&key, v("0")).await.unwrap();
                acked.push((key.clone(), hot.mod_revision));
                for i in 1..WRITES {
                    // Mix creates, compare-and-swap updates and deletes.
                    let (k, rev) = match i % 3 {
                        0 => {
                            hot = store.update(&key, v(&i.to_string()), hot.mod_revision).await.unwrap();
                            (key.clone(), hot.mod_revision)
                        }
                        1 => {
                            let k = format!("/c/w{t}/k{i}");
                            (k.clone(), store.create(&k, v("x")).await.unwrap().mod_revision)
                        }
                        _ => {
                            let k = format!("/c/w{t}/k{}", i - 1);
                            (k.clone(), store.delete(&k, None).await.unwrap().1)
                        }
                    };
                    acked.push((k, rev));
                }
                acked
            })
        })
        .collect();
    let mut acked: BTreeMap<Revision, String> = BTreeMap::new();
    for t in tasks {
        for (k, rev) in t.await.unwrap() {
            assert!(acked.insert(rev, k).is_none(), "revision {rev} given to two writes");
        }
    }
    let end = start + (WRITERS * WRITES) as Revision;
    assert_eq!(acked.keys().copied().collect::<Vec<_>>(), (start + 1..=end).collect::<Vec<_>>(), "no revision skipped");
    assert_eq!(current(&store).await, end);
    let events = events_until(&mut w, end).await;
    let seen: Vec<(Revision, String)> = events.iter().map(|e| (e.revision(), e.key().to_string())).collect();
    assert_eq!(seen, acked.into_iter().collect::<Vec<_>>(), "the watcher sees every write once, in revision order");
    assert_quiet(&mut w).await;
    // Each writer's keys: the hot key at its last version, created keys deleted but the last.
    let list = store.range("/c/", &prefix_end("/c/"), 0, 0).await.unwrap();
    assert_eq!(list.kvs.iter().filter(|kv| kv.key.ends_with("/hot")).count(), WRITERS);
    assert!(list.kvs.iter().filter(|kv| kv.key.ends_with("/hot")).all(|kv| kv.version == (WRITES as i64 - 1) / 3 + 1));
}

async fn progress_reports_the_revision_without_events(store: Arc<dyn Store>) {
    let mut w = store.watch("/pr/", 0).await.unwrap();
    assert!(assert_quiet(&mut w).await >= 1);
    // Writes elsewhere: progress tells the watcher it has missed nothing up to them.
    let mut last = 0;
    for i in 0..5 {
        last = store.create(&format!("/elsewhere/{i}"), v("")).await.unwrap().mod_revision;
    }
    let deadline = Instant::now() + WAIT;
    loop {
        let rev = assert_quiet(&mut w).await;
        if rev >= last {
            break;
        }
        assert!(Instant::now() < deadline, "progress never reached revision {last} (last {rev})");
    }
    // An event under the prefix is delivered before any later progress.
    let mine = store.create("/pr/k", v("")).await.unwrap().mod_revision;
    w.progress.request_progress();
    let batch = loop {
        let b = next(&mut w).await.unwrap();
        if !b.events.is_empty() {
            break b;
        }
        assert!(b.revision < mine, "progress at {} overtook the event at {mine}", b.revision);
    };
    assert_eq!(batch.events[0].revision(), mine);
    assert!(assert_quiet(&mut w).await >= mine);
}

async fn one_mebibyte_values(store: Arc<dyn Store>) {
    let big = |fill: u8| Bytes::from(vec![fill; 1 << 20]);
    let mut w = store.watch("/big/", 0).await.unwrap();
    let a = store.create("/big/a", big(1)).await.unwrap();
    let b = store.create("/big/b", big(2)).await.unwrap();
    let a2 = store.update("/big/a", big(3), a.mod_revision).await.unwrap();
    assert_eq!(store.get("/big/a").await.unwrap().0.unwrap().value, big(3));
    let list = store.range("/big/", &prefix_end("/big/"), 0, 0).await.unwrap();
    assert_eq!(list.kvs, vec![a2.clone(), b.clone()]);
    let old = store.range("/big/", &prefix_end("/big/"), 0, a.mod_revision).await.unwrap();
    assert_eq!(old.kvs, vec![a.clone()]);
    let (deleted, at) = store.delete("/big/b", None).await.unwrap();
    assert_eq!(deleted.value, big(2));
    let events = events_until(&mut w, at).await;
    assert_eq!(
        events,
        vec![
            Event::Put { kv: a.clone(), prev: None },
            Event::Put { kv: b.clone(), prev: None },
            Event::Put { kv: a2.clone(), prev: Some(a.clone()) },
            Event::Delete { prev: b, revision: at },
        ]
    );
    // And replayed from history.
    let mut replay = store.watch("/big/", a.mod_revision).await.unwrap();
    assert_eq!(events_until(&mut replay, at).await, events);
}

async fn the_empty_key_is_refused(store: Arc<dyn Store>) {
    // etcd has no empty key ("key is not provided"); it is not a value any write may target.
    store.create("/e/k", v("x")).await.unwrap();
    let before = current(&store).await;
    let outcomes = [
        store.create("", v("x")).await.map(|_| ()),
        store.update("", v("x"), before).await.map(|_| ()),
        store.update("", v("x"), 0).await.map(|_| ()),
        store.delete("", None).await.map(|_| ()),
        store.delete("", Some(before)).await.map(|_| ()),
    ];
    for outcome in outcomes {
        assert!(matches!(outcome, Err(StoreError::Internal(_))), "a write to the empty key: {outcome:?}");
    }
    assert_eq!(current(&store).await, before);
    assert!(matches!(store.get("").await, Err(StoreError::Internal(_))), "nor be read");
    assert_eq!(keys(&store.range("", &prefix_end(""), 0, 0).await.unwrap().kvs), ["/e/k"]);
}

/// `prefix_end(p)` must bound exactly the keys that start with `p`, whatever `p`'s last
/// character: multi-byte ones ("п" ends in byte 0xBF) and U+10FFFF included (an end of
/// "\u{10ffff}" means "the end of the key space", as the backends read it).
#[test]
fn prefix_end_bounds_exactly_the_keys_with_the_prefix() {
    let keys = [
        "/p/",
        "/p/a",
        "/p/z",
        "/p/п",
        "/p/пx",
        "/p/р",
        "/p/\u{10ffff}",
        "/p/\u{10ffff}a",
        "/q",
        "\u{10ffff}x",
        "п",
        "р",
    ];
    for prefix in ["", "/", "/p/", "/p/a", "/p/п", "/p/\u{10ffff}", "п", "\u{10ffff}"] {
        let end = prefix_end(prefix);
        for key in keys {
            let ranged = key >= prefix && (end == "\u{10ffff}" || key < end.as_str());
            assert_eq!(
                ranged,
                key.starts_with(prefix),
                "key {key:?} against prefix {prefix:?} (end {:?})",
                end.as_bytes()
            );
        }
    }
}
