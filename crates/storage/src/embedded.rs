//! The embedded store: the [`Store`] contract on a single redb file, for `tke up` without etcd.
//!
//! Layout (three tables in one file):
//! * `kv`: key → (create_revision, mod_revision, version, value), the current state;
//! * `log`: revision → the change made at that revision (the key, the new key-value or a
//!   deletion, and the previous key-value), kept back to the compacted revision;
//! * `meta`: the current and compacted revisions.
//!
//! Writes go through one writer thread that **group-commits**: it takes every write queued while
//! the previous commit was syncing, applies them in one transaction, syncs once
//! (`Durability::Immediate`) and only then acknowledges them, so every acknowledged write
//! survives `kill -9` and concurrent writers share the cost of an fsync.
//!
//! Reads at a past revision read the current state and undo the logged changes made after it.
//! Watches replay the log, then follow the writer's broadcast of committed batches; a watcher that
//! falls behind the broadcast catches up from the log, so it is never cut off while history lasts.

use std::{
    collections::BTreeMap,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::{Event, KeyValue, ProgressRequester, RangeResult, Result, Revision, Store, StoreError, Watch, WatchBatch};

const KV: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<&str, i64> = TableDefinition::new("meta");

/// Writes taken into one commit at most (bounds the latency of the first writer in a burst).
const MAX_BATCH: usize = 1024;
/// Committed batches buffered for watchers before a slow one has to catch up from the log.
const BROADCAST_CAPACITY: usize = 4096;
/// How often an idle watch reports progress.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);
/// redb's page cache; the API server's watch cache holds the hot data.
const CACHE_BYTES: usize = 32 << 20;

fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

/// etcd has no empty key and refuses requests for it; so does this store, to behave the same.
fn check_key(key: &str) -> Result<()> {
    if key.is_empty() { Err(StoreError::Internal("key is not provided".into())) } else { Ok(()) }
}

// ----- encoding ----------------------------------------------------------------------------

fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(internal("embedded store: truncated record"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn i64(&mut self) -> Result<i64> {
        let b = self.take(8)?;
        Ok(i64::from_le_bytes(b.try_into().map_err(internal)?))
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = u32::from_le_bytes(self.take(4)?.try_into().map_err(internal)?) as usize;
        self.take(n)
    }
}

/// A stored key's metadata and value (the `kv` table's record).
fn encode_meta(create: Revision, modr: Revision, version: i64, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + value.len());
    put_i64(&mut out, create);
    put_i64(&mut out, modr);
    put_i64(&mut out, version);
    out.extend_from_slice(value);
    out
}

fn decode_meta(key: &str, raw: &[u8]) -> Result<KeyValue> {
    let mut r = Reader(raw);
    let create_revision = r.i64()?;
    let mod_revision = r.i64()?;
    let version = r.i64()?;
    Ok(KeyValue { key: key.to_string(), value: Bytes::copy_from_slice(r.0), create_revision, mod_revision, version })
}

fn encode_kv(out: &mut Vec<u8>, kv: &KeyValue) {
    put_i64(out, kv.create_revision);
    put_i64(out, kv.mod_revision);
    put_i64(out, kv.version);
    put_bytes(out, &kv.value);
}

fn decode_kv(r: &mut Reader<'_>, key: &str) -> Result<KeyValue> {
    let create_revision = r.i64()?;
    let mod_revision = r.i64()?;
    let version = r.i64()?;
    let value = Bytes::copy_from_slice(r.bytes()?);
    Ok(KeyValue { key: key.to_string(), value, create_revision, mod_revision, version })
}

/// A `log` record: tag 0 = put (new kv, optional prev), 1 = delete (prev).
fn encode_event(ev: &Event) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + ev_size(ev));
    match ev {
        Event::Put { kv, prev } => {
            out.push(0);
            put_bytes(&mut out, kv.key.as_bytes());
            encode_kv(&mut out, kv);
            match prev {
                Some(p) => {
                    out.push(1);
                    encode_kv(&mut out, p);
                }
                None => out.push(0),
            }
        }
        Event::Delete { prev, revision } => {
            out.push(1);
            put_bytes(&mut out, prev.key.as_bytes());
            put_i64(&mut out, *revision);
            encode_kv(&mut out, prev);
        }
    }
    out
}

fn ev_size(ev: &Event) -> usize {
    match ev {
        Event::Put { kv, prev } => kv.value.len() + prev.as_ref().map_or(0, |p| p.value.len()),
        Event::Delete { prev, .. } => prev.value.len(),
    }
}

fn decode_event(raw: &[u8]) -> Result<Event> {
    let mut r = Reader(raw);
    let tag = r.u8()?;
    let key = std::str::from_utf8(r.bytes()?).map_err(internal)?.to_string();
    match tag {
        0 => {
            let kv = decode_kv(&mut r, &key)?;
            let prev = if r.u8()? == 1 { Some(decode_kv(&mut r, &key)?) } else { None };
            Ok(Event::Put { kv, prev })
        }
        _ => {
            let revision = r.i64()?;
            let prev = decode_kv(&mut r, &key)?;
            Ok(Event::Delete { prev, revision })
        }
    }
}

// ----- the writer ----------------------------------------------------------------------------

enum Op {
    Create { key: String, value: Bytes, reply: oneshot::Sender<Result<KeyValue>> },
    Update { key: String, value: Bytes, expected: Revision, reply: oneshot::Sender<Result<KeyValue>> },
    Delete { key: String, expected: Option<Revision>, reply: oneshot::Sender<Result<(KeyValue, Revision)>> },
    Compact { revision: Revision, reply: oneshot::Sender<Result<()>> },
}

/// A committed group of changes, in revision order, as watchers receive it.
type Committed = Arc<Vec<Event>>;

struct Shared {
    db: Database,
    /// The highest revision whose events are in the broadcast (all lower ones are too).
    published: AtomicI64,
    compacted: AtomicI64,
    events: broadcast::Sender<Committed>,
}

/// The embedded, crash-safe store; see the module documentation.
pub struct EmbeddedStore {
    shared: Arc<Shared>,
    writes: mpsc::UnboundedSender<Op>,
}

impl EmbeddedStore {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Unavailable(format!("creating {}: {e}", dir.display())))?;
        let path = dir.join("store.redb");
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(&path)
            .map_err(|e| StoreError::Unavailable(format!("opening {}: {e}", path.display())))?;
        let (current, compacted) = {
            let txn = db.begin_write().map_err(internal)?;
            let revs = {
                let _ = txn.open_table(KV).map_err(internal)?;
                let _ = txn.open_table(LOG).map_err(internal)?;
                let meta = txn.open_table(META).map_err(internal)?;
                let current = meta.get("revision").map_err(internal)?.map(|v| v.value()).unwrap_or(1);
                let compacted = meta.get("compacted").map_err(internal)?.map(|v| v.value()).unwrap_or(1);
                (current, compacted)
            };
            txn.commit().map_err(internal)?;
            revs
        };
        let (events, _) = broadcast::channel(BROADCAST_CAPACITY);
        let shared =
            Arc::new(Shared { db, published: AtomicI64::new(current), compacted: AtomicI64::new(compacted), events });
        let (writes, queue) = mpsc::unbounded_channel();
        let writer_shared = shared.clone();
        std::thread::Builder::new()
            .name("embedded-store-writer".into())
            .spawn(move || writer(writer_shared, queue, current))
            .map_err(|e| internal(format!("starting the writer thread: {e}")))?;
        Ok(Self { shared, writes })
    }

    async fn submit<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T>>) -> Op) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.writes
            .send(make(tx))
            .map_err(|_| StoreError::Unavailable("the embedded store's writer has stopped".into()))?;
        rx.await.map_err(|_| StoreError::Unavailable("the embedded store's writer has stopped".into()))?
    }

    async fn read<T: Send + 'static>(&self, f: impl FnOnce(&Shared) -> Result<T> + Send + 'static) -> Result<T> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || f(&shared)).await.map_err(|e| internal(format!("read task failed: {e}")))?
    }
}

/// One write applied inside the open transaction; the caller commits.
struct Pending {
    events: Vec<Event>,
    replies: Vec<Box<dyn FnOnce(bool) + Send>>,
    /// A compaction made by this batch, applied to memory once it commits.
    compacted: Option<Revision>,
}

fn writer(shared: Arc<Shared>, mut queue: mpsc::UnboundedReceiver<Op>, mut revision: Revision) {
    while let Some(first) = queue.blocking_recv() {
        let mut ops = std::collections::VecDeque::from([first]);
        while ops.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(op) => ops.push_back(op),
                Err(_) => break,
            }
        }
        let start_revision = revision;
        let mut pending =
            Pending { events: Vec::with_capacity(ops.len()), replies: Vec::with_capacity(ops.len()), compacted: None };
        let outcome = (|| -> Result<()> {
            let txn = shared.db.begin_write().map_err(internal)?;
            {
                let mut kv = txn.open_table(KV).map_err(internal)?;
                let mut log = txn.open_table(LOG).map_err(internal)?;
                let mut meta = txn.open_table(META).map_err(internal)?;
                while let Some(op) = ops.pop_front() {
                    apply(op, &mut kv, &mut log, &mut meta, &mut revision, &shared, &mut pending)?;
                }
                meta.insert("revision", revision).map_err(internal)?;
            }
            txn.commit().map_err(internal)
        })();
        match outcome {
            Ok(()) => {
                if let Some(c) = pending.compacted {
                    shared.compacted.store(c, Ordering::SeqCst);
                }
                // Publish before acknowledging: a writer that reads `revisions()` right after its
                // write must see it (consistent reads depend on that). The revision goes first,
                // the broadcast second: a watch that subscribes in between then finds the batch
                // both in the log and in its channel (`next` drops the repeat); the other order
                // let it find the batch in neither.
                shared.published.store(revision, Ordering::SeqCst);
                if !pending.events.is_empty() {
                    let _ = shared.events.send(Arc::new(pending.events));
                }
                for reply in pending.replies {
                    reply(true);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "embedded store commit failed");
                revision = start_revision;
                for reply in pending.replies {
                    reply(false);
                }
                // Ops not reached stay in `ops` only on an early error: answer them too.
                for op in ops {
                    fail(op, &e);
                }
            }
        }
    }
}

fn fail(op: Op, e: &StoreError) {
    let err = || StoreError::Unavailable(format!("commit failed: {e}"));
    match op {
        Op::Create { reply, .. } | Op::Update { reply, .. } => drop(reply.send(Err(err()))),
        Op::Delete { reply, .. } => drop(reply.send(Err(err()))),
        Op::Compact { reply, .. } => drop(reply.send(Err(err()))),
    }
}

/// Answers `reply` with `ok` once the batch committed, or with an error if it did not.
fn on_commit<T: Send + 'static>(reply: oneshot::Sender<Result<T>>, ok: Result<T>) -> Box<dyn FnOnce(bool) + Send> {
    Box::new(move |committed| {
        let _ = reply.send(if committed || ok.is_err() {
            ok
        } else {
            Err(StoreError::Unavailable("the write could not be committed".into()))
        });
    })
}

fn apply(
    op: Op,
    kv: &mut redb::Table<&str, &[u8]>,
    log: &mut redb::Table<u64, &[u8]>,
    meta: &mut redb::Table<&str, i64>,
    revision: &mut Revision,
    shared: &Shared,
    pending: &mut Pending,
) -> Result<()> {
    let current = |kv: &redb::Table<&str, &[u8]>, key: &str| -> Result<Option<KeyValue>> {
        match kv.get(key).map_err(internal)? {
            Some(raw) => Ok(Some(decode_meta(key, raw.value())?)),
            None => Ok(None),
        }
    };
    match op {
        Op::Create { key, value, reply } => {
            if current(kv, &key)?.is_some() {
                pending.replies.push(on_commit(reply, Err(StoreError::AlreadyExists { key })));
                return Ok(());
            }
            *revision += 1;
            let new =
                KeyValue { key: key.clone(), value, create_revision: *revision, mod_revision: *revision, version: 1 };
            kv.insert(key.as_str(), encode_meta(*revision, *revision, 1, &new.value).as_slice()).map_err(internal)?;
            let ev = Event::Put { kv: new.clone(), prev: None };
            log.insert(*revision as u64, encode_event(&ev).as_slice()).map_err(internal)?;
            pending.events.push(ev);
            pending.replies.push(on_commit(reply, Ok(new)));
        }
        Op::Update { key, value, expected, reply } => {
            let Some(old) = current(kv, &key)? else {
                pending.replies.push(on_commit(reply, Err(StoreError::NotFound { key })));
                return Ok(());
            };
            if old.mod_revision != expected {
                pending.replies.push(on_commit(reply, Err(StoreError::Conflict { key, expected, current: Some(old) })));
                return Ok(());
            }
            *revision += 1;
            let new = KeyValue {
                key: key.clone(),
                value,
                create_revision: old.create_revision,
                mod_revision: *revision,
                version: old.version + 1,
            };
            kv.insert(key.as_str(), encode_meta(new.create_revision, *revision, new.version, &new.value).as_slice())
                .map_err(internal)?;
            let ev = Event::Put { kv: new.clone(), prev: Some(old) };
            log.insert(*revision as u64, encode_event(&ev).as_slice()).map_err(internal)?;
            pending.events.push(ev);
            pending.replies.push(on_commit(reply, Ok(new)));
        }
        Op::Delete { key, expected, reply } => {
            let Some(old) = current(kv, &key)? else {
                pending.replies.push(on_commit(reply, Err(StoreError::NotFound { key })));
                return Ok(());
            };
            if let Some(expected) = expected
                && old.mod_revision != expected
            {
                pending.replies.push(on_commit(reply, Err(StoreError::Conflict { key, expected, current: Some(old) })));
                return Ok(());
            }
            *revision += 1;
            kv.remove(key.as_str()).map_err(internal)?;
            let ev = Event::Delete { prev: old.clone(), revision: *revision };
            log.insert(*revision as u64, encode_event(&ev).as_slice()).map_err(internal)?;
            pending.events.push(ev);
            pending.replies.push(on_commit(reply, Ok((old, *revision))));
        }
        Op::Compact { revision: target, reply } => {
            let compacted = pending.compacted.unwrap_or_else(|| shared.compacted.load(Ordering::SeqCst));
            if target > *revision {
                pending
                    .replies
                    .push(on_commit(reply, Err(StoreError::FutureRevision { requested: target, current: *revision })));
                return Ok(());
            }
            if target > compacted {
                // History below `target` is no longer needed: a read at `target` undoes only
                // changes after it.
                log.retain_in(..(target as u64), |_, _| false).map_err(internal)?;
                meta.insert("compacted", target).map_err(internal)?;
                pending.compacted = Some(target);
            }
            pending.replies.push(on_commit(reply, Ok(())));
        }
    }
    Ok(())
}

// ----- reads ---------------------------------------------------------------------------------

fn check_revision(shared: &Shared, requested: Revision, current: Revision) -> Result<()> {
    let compacted = shared.compacted.load(Ordering::SeqCst);
    if requested < compacted {
        return Err(StoreError::Compacted { requested, compacted });
    }
    if requested > current {
        return Err(StoreError::FutureRevision { requested, current });
    }
    Ok(())
}

/// What [`crate::prefix_end`] returns for the empty prefix: the end of the key space, above
/// every key (also keys that start with U+10FFFF), as the etcd backend reads it.
const KEY_SPACE_END: &str = "\u{10ffff}";

/// `[start, end)`, with `None` for the end of the key space.
fn in_range(key: &str, start: &str, end: Option<&str>) -> bool {
    key >= start && end.is_none_or(|end| key < end)
}

fn range_at(shared: &Shared, start: &str, end: &str, limit: usize, revision: Revision) -> Result<RangeResult> {
    let txn = shared.db.begin_read().map_err(internal)?;
    let meta = txn.open_table(META).map_err(internal)?;
    let current = meta.get("revision").map_err(internal)?.map(|v| v.value()).unwrap_or(1);
    let at = if revision <= 0 { current } else { revision };
    check_revision(shared, at, current)?;
    // An empty or inverted interval (an empty `end` included) holds no key.
    let end = (end != KEY_SPACE_END).then_some(end);
    if end.is_some_and(|end| end <= start) {
        return Ok(RangeResult { revision: at, ..Default::default() });
    }
    let kv = txn.open_table(KV).map_err(internal)?;
    // Keys changed after `at`: their state at `at` is the `prev` of their first later change.
    let mut undo: BTreeMap<String, Option<KeyValue>> = BTreeMap::new();
    if at < current {
        let log = txn.open_table(LOG).map_err(internal)?;
        for entry in log.range((at as u64 + 1)..).map_err(internal)? {
            let (_, raw) = entry.map_err(internal)?;
            let ev = decode_event(raw.value())?;
            if !in_range(ev.key(), start, end) || undo.contains_key(ev.key()) {
                continue;
            }
            let key = ev.key().to_string();
            let before = match ev {
                Event::Put { prev, .. } => prev,
                Event::Delete { prev, .. } => Some(prev),
            };
            undo.insert(key, before);
        }
    }
    let mut kvs = Vec::new();
    let mut total = 0i64;
    let push = |item: KeyValue, kvs: &mut Vec<KeyValue>, total: &mut i64| {
        *total += 1;
        if limit == 0 || kvs.len() < limit {
            kvs.push(item);
        }
    };
    let iter = match end {
        None => kv.range(start..).map_err(internal)?,
        Some(end) => kv.range(start..end).map_err(internal)?,
    };
    let mut undo_iter = undo.into_iter().peekable();
    for entry in iter {
        let (k, raw) = entry.map_err(internal)?;
        let key = k.value();
        // Keys that existed at `at` but were deleted since (or changed) sort in from `undo`.
        while let Some((uk, _)) = undo_iter.peek() {
            if uk.as_str() < key {
                let (_, before) = undo_iter.next().unwrap_or_default();
                if let Some(b) = before {
                    push(b, &mut kvs, &mut total);
                }
            } else {
                break;
            }
        }
        if undo_iter.peek().is_some_and(|(uk, _)| uk == key) {
            let (_, before) = undo_iter.next().unwrap_or_default();
            if let Some(b) = before {
                push(b, &mut kvs, &mut total);
            }
            continue;
        }
        push(decode_meta(key, raw.value())?, &mut kvs, &mut total);
    }
    for (_, before) in undo_iter {
        if let Some(b) = before {
            push(b, &mut kvs, &mut total);
        }
    }
    let returned = kvs.len() as i64;
    Ok(RangeResult { more: total > returned, remaining: total - returned, kvs, revision: at })
}

/// Log entries with revision in `[from, to]` under `prefix`, in order.
fn replay(shared: &Shared, prefix: &str, from: Revision, to: Revision) -> Result<Vec<Event>> {
    if from > to {
        return Ok(vec![]);
    }
    let txn = shared.db.begin_read().map_err(internal)?;
    let log = txn.open_table(LOG).map_err(internal)?;
    let compacted = shared.compacted.load(Ordering::SeqCst);
    if from < compacted {
        return Err(StoreError::Compacted { requested: from, compacted });
    }
    let mut out = Vec::new();
    for entry in log.range((from as u64)..=(to as u64)).map_err(internal)? {
        let (_, raw) = entry.map_err(internal)?;
        let ev = decode_event(raw.value())?;
        if ev.key().starts_with(prefix) {
            out.push(ev);
        }
    }
    Ok(out)
}

// ----- watches -------------------------------------------------------------------------------

struct Progress(mpsc::UnboundedSender<()>);

impl ProgressRequester for Progress {
    fn request_progress(&self) {
        let _ = self.0.send(());
    }
}

/// Feeds one watch: replays the log from `next`, then follows the broadcast, catching up from
/// the log whenever it lagged, and reports progress on request and when idle.
async fn run_watch(
    shared: Arc<Shared>,
    prefix: String,
    mut next: Revision,
    mut live: broadcast::Receiver<Committed>,
    mut progress: mpsc::UnboundedReceiver<()>,
    out: mpsc::Sender<Result<WatchBatch>>,
) {
    // Catch up from the log to everything published so far.
    macro_rules! catch_up {
        () => {{
            let upto = shared.published.load(Ordering::SeqCst);
            if next <= upto {
                let (s, p) = (shared.clone(), prefix.clone());
                let from = next;
                let events = tokio::task::spawn_blocking(move || replay(&s, &p, from, upto)).await;
                match events {
                    Ok(Ok(events)) => {
                        next = upto + 1;
                        if !events.is_empty() && out.send(Ok(WatchBatch { events, revision: upto })).await.is_err() {
                            return;
                        }
                    }
                    Ok(Err(e)) => {
                        let _ = out.send(Err(e)).await;
                        return;
                    }
                    Err(e) => {
                        let _ = out.send(Err(internal(e))).await;
                        return;
                    }
                }
            }
        }};
    }
    catch_up!();
    let mut idle = tokio::time::interval(PROGRESS_INTERVAL);
    idle.reset();
    let mut requests_open = true;
    loop {
        tokio::select! {
            msg = live.recv() => match msg {
                Ok(batch) => {
                    let last = batch.last().map(Event::revision).unwrap_or(0);
                    if last < next {
                        continue;
                    }
                    let events: Vec<Event> = batch.iter().filter(|e| e.revision() >= next && e.key().starts_with(prefix.as_str())).cloned().collect();
                    next = last + 1;
                    if !events.is_empty() {
                        idle.reset();
                        if out.send(Ok(WatchBatch { events, revision: last })).await.is_err() {
                            return;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => catch_up!(),
                Err(broadcast::error::RecvError::Closed) => {
                    let _ = out.send(Err(StoreError::Unavailable("the embedded store closed".into()))).await;
                    return;
                }
            },
            req = progress.recv(), if requests_open => {
                if req.is_none() {
                    requests_open = false;
                    continue;
                }
                // Everything published is in the channel or the log: deliver it, then report.
                catch_up_from_channel(&mut live, &mut next, &prefix, &out).await;
                catch_up!();
                let rev = shared.published.load(Ordering::SeqCst).max(next - 1);
                if out.send(Ok(WatchBatch { events: vec![], revision: rev })).await.is_err() { return; }
            }
            _ = idle.tick() => {
                catch_up_from_channel(&mut live, &mut next, &prefix, &out).await;
                catch_up!();
                let rev = next - 1;
                if out.send(Ok(WatchBatch { events: vec![], revision: rev })).await.is_err() { return; }
            }
            _ = out.closed() => return,
        }
    }
}

/// Delivers every batch already waiting in the broadcast (a lag is left to the log catch-up).
async fn catch_up_from_channel(
    live: &mut broadcast::Receiver<Committed>,
    next: &mut Revision,
    prefix: &str,
    out: &mpsc::Sender<Result<WatchBatch>>,
) {
    while let Ok(batch) = live.try_recv() {
        let last = batch.last().map(Event::revision).unwrap_or(0);
        if last < *next {
            continue;
        }
        let events: Vec<Event> =
            batch.iter().filter(|e| e.revision() >= *next && e.key().starts_with(prefix)).cloned().collect();
        *next = last + 1;
        if !events.is_empty() && out.send(Ok(WatchBatch { events, revision: last })).await.is_err() {
            return;
        }
    }
}

#[async_trait::async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, key: &str) -> Result<(Option<KeyValue>, Revision)> {
        check_key(key)?;
        let key = key.to_string();
        self.read(move |s| {
            let txn = s.db.begin_read().map_err(internal)?;
            let meta = txn.open_table(META).map_err(internal)?;
            let current = meta.get("revision").map_err(internal)?.map(|v| v.value()).unwrap_or(1);
            let kv = txn.open_table(KV).map_err(internal)?;
            let found = match kv.get(key.as_str()).map_err(internal)? {
                Some(raw) => Some(decode_meta(&key, raw.value())?),
                None => None,
            };
            Ok((found, current))
        })
        .await
    }

    async fn range(&self, start: &str, end: &str, limit: usize, revision: Revision) -> Result<RangeResult> {
        let (start, end) = (start.to_string(), end.to_string());
        self.read(move |s| range_at(s, &start, &end, limit, revision)).await
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        check_key(key)?;
        let key = key.to_string();
        self.submit(|reply| Op::Create { key, value, reply }).await
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue> {
        check_key(key)?;
        let key = key.to_string();
        self.submit(|reply| Op::Update { key, value, expected, reply }).await
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(KeyValue, Revision)> {
        check_key(key)?;
        let key = key.to_string();
        self.submit(|reply| Op::Delete { key, expected, reply }).await
    }

    async fn watch(&self, prefix: &str, start_revision: Revision) -> Result<Watch> {
        // Subscribe before reading the published revision: every later batch is then in the
        // channel, every earlier one in the log; `next` drops the overlap.
        let live = self.shared.events.subscribe();
        let published = self.shared.published.load(Ordering::SeqCst);
        let next = if start_revision <= 0 { published + 1 } else { start_revision };
        let compacted = self.shared.compacted.load(Ordering::SeqCst);
        if next < compacted {
            return Err(StoreError::Compacted { requested: next, compacted });
        }
        let (out, rx) = mpsc::channel(256);
        let (ptx, prx) = mpsc::unbounded_channel();
        tokio::spawn(run_watch(self.shared.clone(), prefix.to_string(), next, live, prx, out));
        Ok(Watch {
            stream: Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)),
            progress: Arc::new(Progress(ptx)),
        })
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        self.submit(|reply| Op::Compact { revision, reply }).await
    }

    async fn revisions(&self) -> Result<(Revision, Revision)> {
        Ok((self.shared.published.load(Ordering::SeqCst), self.shared.compacted.load(Ordering::SeqCst)))
    }
}
