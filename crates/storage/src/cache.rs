//! The watch cache: serves gets, lists and watches of one key prefix from memory, as
//! kube-apiserver's cacher does, so reads and the fan-out to many watchers do not load the store.
//!
//! [`WatchCache::start`] lists the prefix at one revision and then follows a store watch from the
//! next revision, applying each change once to an ordered map and to a bounded history of recent
//! changes. Watchers get the current state (or the history after a past revision) and then the
//! live changes through one shared broadcast buffer; a watcher that falls too far behind is ended
//! with [`StoreError::Compacted`] so its client re-lists. Reads that must be at least as new as a
//! revision wait for the cache to reach it; since writes elsewhere in the store also advance the
//! global revision, the cache asks the store watch for a progress notification to learn that it
//! is caught up. If the store watch fails, the cache resumes it where it stopped, or, when that
//! history is gone, re-lists and ends every watcher (they may have missed changes).
//!
//! A watch narrowed to one name (a [`KeyScope`] with a name, as a `metadata.name` field selector
//! gives) reads only that name's changes: from the history, filtered by key before anything is
//! copied, and live from a channel of its own name rather than the shared one, so a thousand
//! watchers of a thousand objects are not each woken for every change.

mod history;
mod scope;
mod watcher;

pub use self::scope::KeyScope;

use std::{
    collections::{BTreeMap, HashMap},
    ops::Bound,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard},
    time::Duration,
};

use futures::{Stream, StreamExt};
use tokio::{
    sync::{Notify, broadcast, watch},
    time::Instant,
};

use self::{
    history::{Chunk, History},
    watcher::{Live, Watcher},
};
use crate::{Event, KeyValue, Result, Revision, Store, StoreError, Watch, WatchBatch, prefix_end};

/// Tuning of a [`WatchCache`].
#[derive(Clone, Debug)]
pub struct CacheOptions {
    /// Recent changes kept for watches that start at a past revision (Kubernetes keeps a
    /// comparable window).
    pub capacity: usize,
    /// How many batches a watcher may lag behind the newest before it is ended.
    pub watcher_buffer: usize,
    /// The same for a watcher narrowed to one name (its channel carries that name's changes
    /// and progress notifications only; each watched name holds a buffer of this size).
    pub named_watcher_buffer: usize,
    /// Keys per store read while listing.
    pub page_size: usize,
    /// Events per batch of a watcher's initial state.
    pub initial_batch: usize,
    /// How long a read waits for the cache to reach the revision it needs.
    pub catch_up_timeout: Duration,
    /// Watchers get a progress notification (a bookmark) at least about this often.
    pub progress_interval: Duration,
    /// The longest pause between attempts to resume a failed store watch.
    pub max_retry_delay: Duration,
}

impl Default for CacheOptions {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            watcher_buffer: 1024,
            named_watcher_buffer: 128,
            page_size: 1000,
            initial_batch: 500,
            catch_up_timeout: Duration::from_secs(3),
            progress_interval: Duration::from_secs(5),
            max_retry_delay: Duration::from_secs(5),
        }
    }
}

/// What a cache watch yields: changes in revision order, the end of the initial state, or a
/// progress notification (no events).
#[derive(Clone, Debug)]
pub struct CacheBatch {
    pub events: Vec<Event>,
    /// Changes under the watched prefix up to this revision have been delivered.
    pub revision: Revision,
    /// This batch completes the initial state of a watch started without a revision.
    pub initial_end: bool,
}

/// A cache watch: batches until an error ends it.
pub type CacheStream = Pin<Box<dyn Stream<Item = Result<CacheBatch>> + Send>>;

/// The cache of one key prefix; see the module documentation.
pub struct WatchCache {
    shared: Arc<Shared>,
    follower: tokio::task::AbortHandle,
}

impl Drop for WatchCache {
    fn drop(&mut self) {
        // The follower holds the store watch; stopping it also closes every watcher's stream.
        self.follower.abort();
    }
}

/// What the cache and its follower task share.
struct Shared {
    store: Arc<dyn Store>,
    prefix: String,
    opts: CacheOptions,
    state: RwLock<State>,
    /// The live fan-out to watchers of a prefix.
    live: broadcast::Sender<Live>,
    /// The live fan-out to watchers narrowed to one name, by name. Taken after `state` when both
    /// are held.
    named: Mutex<HashMap<String, broadcast::Sender<Live>>>,
    /// The revision the cache has reached, for readers waiting for one.
    applied: watch::Sender<Revision>,
    /// Readers waiting for a revision ask the follower for a progress notification.
    progress_wanted: Notify,
}

struct State {
    /// Every key under the prefix, at `revision`.
    items: BTreeMap<String, Arc<KeyValue>>,
    /// Every change up to this revision has been applied.
    revision: Revision,
    history: History,
    /// Incremented at each re-list: watchers of an older epoch are ended.
    epoch: u64,
}

impl WatchCache {
    /// Lists everything under `prefix` and starts following the store's changes.
    pub async fn start(store: Arc<dyn Store>, prefix: String, opts: CacheOptions) -> Result<Arc<Self>> {
        // A compaction between the list and the watch makes the watch fail: list again.
        let mut attempts = 0;
        let (items, revision, watch) = loop {
            let (items, revision) = list_all(store.as_ref(), &prefix, opts.page_size).await?;
            match store.watch(&prefix, revision + 1).await {
                Ok(watch) => break (items, revision, watch),
                Err(StoreError::Compacted { .. }) if attempts < 3 => attempts += 1,
                Err(e) => return Err(e),
            }
        };
        let (live, _) = broadcast::channel(opts.watcher_buffer.max(1));
        let (applied, _) = watch::channel(revision);
        let state = State { items, revision, history: History::new(opts.capacity, revision), epoch: 0 };
        let shared = Arc::new(Shared {
            store,
            prefix,
            opts,
            state: RwLock::new(state),
            live,
            named: Mutex::new(HashMap::new()),
            applied,
            progress_wanted: Notify::new(),
        });
        let follower = tokio::spawn(follow(shared.clone(), watch)).abort_handle();
        Ok(Arc::new(Self { shared, follower }))
    }

    /// The key (if present) and the cache's revision. With `min`, first waits until the cache
    /// has reached that revision.
    pub async fn get(&self, key: &str, min: Option<Revision>) -> Result<(Option<KeyValue>, Revision)> {
        if let Some(min) = min {
            self.wait_for(min).await?;
        }
        let state = self.shared.read();
        let kv = state.items.get(key).map(|kv| KeyValue::clone(kv));
        Ok((kv, state.revision))
    }

    /// The keys in `scope` (which lies under the cache's prefix) in key order, and the cache's
    /// revision. With `min`, first waits until the cache has reached that revision.
    pub async fn list(&self, scope: impl Into<KeyScope>, min: Option<Revision>) -> Result<(Vec<KeyValue>, Revision)> {
        let scope = scope.into();
        if let Some(min) = min {
            self.wait_for(min).await?;
        }
        // Only reference counts are taken under the lock; the copies are made after it.
        let (items, revision) = {
            let state = self.shared.read();
            (state.within(&scope), state.revision)
        };
        Ok((items.iter().map(|kv| KeyValue::clone(kv)).collect(), revision))
    }

    /// Watches the keys in `scope`. Without `after`: the current state as `Put` events (no
    /// `prev`), a batch marked `initial_end` with the state's revision, then every change. With
    /// `after`: every change after that revision. Fails with `Compacted` when the changes after
    /// `after` are no longer held.
    pub fn watch(&self, scope: impl Into<KeyScope>, after: Option<Revision>) -> Result<CacheStream> {
        let scope = scope.into();
        let shared = &self.shared;
        let watcher = {
            // Subscribing under the lock that applying takes: every change is either in what
            // is read here or received live (the cursor drops what is both).
            let state = shared.read();
            let live = match scope.name() {
                Some(name) => shared
                    .named()
                    .entry(name.to_string())
                    .or_insert_with(|| broadcast::channel(shared.opts.named_watcher_buffer.max(1)).0)
                    .subscribe(),
                None => shared.live.subscribe(),
            };
            match after {
                None => {
                    let snapshot = state.within(&scope);
                    let batch = shared.opts.initial_batch;
                    Watcher::from_snapshot(scope, snapshot, state.revision, live, state.epoch, batch)
                }
                Some(after) => {
                    let history = state
                        .history
                        .since(after)
                        .map_err(|oldest| StoreError::Compacted { requested: after, compacted: oldest })?;
                    Watcher::from_revision(scope, after, history, live, state.epoch)
                }
            }
        };
        let stream = futures::stream::unfold(watcher, |mut w| async move { w.next().await.map(|item| (item, w)) });
        Ok(stream.boxed())
    }

    /// The revision the cache has reached.
    pub fn revision(&self) -> Revision {
        self.shared.read().revision
    }

    /// Waits until the cache has reached `min`, asking the store watch for progress so that
    /// writes elsewhere in the store (which advance the revision too) are accounted for.
    pub async fn wait_for(&self, min: Revision) -> Result<()> {
        let shared = &self.shared;
        let mut applied = shared.applied.subscribe();
        if *applied.borrow_and_update() >= min {
            return Ok(());
        }
        let timeout = shared.opts.catch_up_timeout;
        let deadline = Instant::now() + timeout;
        let mut checked_future = false;
        loop {
            // Asked again each round: a request may be lost when the store watch restarts. The
            // follower keeps at most one request in flight.
            shared.progress_wanted.notify_one();
            let round = Instant::now() + Duration::from_millis(250);
            match tokio::time::timeout_at(round.min(deadline), applied.wait_for(|r| *r >= min)).await {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(_)) => return Err(StoreError::Unavailable("the watch cache stopped".into())),
                Err(_) => {}
            }
            if !checked_future {
                // A revision the store has not reached will not come soon: say so at once.
                checked_future = true;
                if let Ok(Ok((current, _))) = tokio::time::timeout_at(deadline, shared.store.revisions()).await
                    && min > current
                {
                    return Err(StoreError::FutureRevision { requested: min, current });
                }
            }
            if Instant::now() >= deadline {
                let at = *applied.borrow();
                return Err(StoreError::Unavailable(format!(
                    "watch cache of {:?} too slow to catch up to revision {min} (at {at}) within {timeout:?}",
                    shared.prefix
                )));
            }
        }
    }
}

impl Shared {
    fn read(&self) -> RwLockReadGuard<'_, State> {
        // A panic elsewhere while the lock was held leaves consistent data (every update is a
        // few infallible steps), so a poisoned lock is still used.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn named(&self) -> MutexGuard<'_, HashMap<String, broadcast::Sender<Live>>> {
        self.named.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends each watched name its events of `chunk`, as a chunk of the same revision.
    fn dispatch_named(&self, chunk: &Chunk) {
        let mut named = self.named();
        if named.is_empty() {
            return;
        }
        let mut by_name: HashMap<&str, Vec<Event>> = HashMap::new();
        for event in chunk.events.iter() {
            let name = scope::last_segment(event.key());
            if named.contains_key(name) {
                by_name.entry(name).or_default().push(event.clone());
            }
        }
        for (name, events) in by_name {
            let sent = named
                .get(name)
                .map(|tx| tx.send(Live::Events(Arc::new(Chunk { events: events.into(), revision: chunk.revision }))));
            if matches!(sent, Some(Err(_))) {
                // Its last watcher is gone.
                named.remove(name);
            }
        }
    }

    /// Sends `message` to every watched name, forgetting names nobody watches any more.
    fn broadcast_named(&self, message: Live) {
        self.named().retain(|_, tx| tx.send(message.clone()).is_ok());
    }

    /// Applies a batch of changes from the store watch and sends them to watchers.
    fn apply(&self, batch: WatchBatch) {
        let mut state = self.write();
        let mut events = Vec::with_capacity(batch.events.len());
        for event in batch.events {
            // Changes already applied come again when a watch is resumed; keys outside the
            // prefix never should.
            if event.revision() <= state.revision || !event.key().starts_with(&self.prefix) {
                continue;
            }
            // The cache knows the previous value itself (the store may not send it, e.g. after
            // a compaction), as Kubernetes' watch cache does.
            let event = match event {
                Event::Put { kv, prev } => {
                    let before = state.items.insert(kv.key.clone(), Arc::new(kv.clone()));
                    Event::Put { kv, prev: before.map(unwrap_kv).or(prev) }
                }
                Event::Delete { prev, revision } => {
                    let before = state.items.remove(&prev.key);
                    Event::Delete { prev: before.map(unwrap_kv).unwrap_or(prev), revision }
                }
            };
            state.revision = event.revision();
            events.push(event);
        }
        state.revision = state.revision.max(batch.revision);
        let revision = state.revision;
        if events.is_empty() {
            drop(state);
            self.applied.send_replace(revision);
            return;
        }
        let chunk = Arc::new(Chunk { events: events.into(), revision });
        state.history.push(chunk.clone());
        drop(state);
        // Sent after the lock is released so readers are not held up by the wake-ups; a watcher
        // subscribing in between gets the chunk twice and drops the copy by revision.
        self.dispatch_named(&chunk);
        let _ = self.live.send(Live::Events(chunk));
        self.applied.send_replace(revision);
    }

    /// Records a progress notification: nothing changed under the prefix up to `revision`;
    /// passes it on to watchers if `broadcast`.
    fn progress(&self, revision: Revision, broadcast: bool) {
        let revision = {
            let mut state = self.write();
            state.revision = state.revision.max(revision);
            state.revision
        };
        self.applied.send_replace(revision);
        if broadcast {
            let _ = self.live.send(Live::Progress(revision));
            self.broadcast_named(Live::Progress(revision));
        }
    }

    /// Replaces the whole state with a fresh list at `revision`; ends every current watcher.
    fn replace(&self, items: BTreeMap<String, Arc<KeyValue>>, revision: Revision) {
        let epoch = {
            let mut state = self.write();
            state.items = items;
            state.revision = revision;
            state.history.reset(revision);
            state.epoch += 1;
            state.epoch
        };
        let _ = self.live.send(Live::Reset { epoch, revision });
        self.broadcast_named(Live::Reset { epoch, revision });
        self.applied.send_replace(revision);
    }
}

impl State {
    /// The items in `scope`, in key order.
    fn within(&self, scope: &KeyScope) -> Vec<Arc<KeyValue>> {
        match scope {
            KeyScope::Prefix(prefix) => self.under(prefix),
            KeyScope::Key(key) => self.items.get(key).cloned().into_iter().collect(),
            KeyScope::Named { prefix, .. } => {
                let mut items = self.under(prefix);
                items.retain(|kv| scope.contains(&kv.key));
                items
            }
        }
    }

    /// The items under `prefix`, in key order.
    fn under(&self, prefix: &str) -> Vec<Arc<KeyValue>> {
        self.items
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, kv)| kv.clone())
            .collect()
    }
}

fn unwrap_kv(kv: Arc<KeyValue>) -> KeyValue {
    Arc::try_unwrap(kv).unwrap_or_else(|kv| KeyValue::clone(&kv))
}

/// Reads every key under `prefix` at one revision, a page at a time.
async fn list_all(store: &dyn Store, prefix: &str, page: usize) -> Result<(BTreeMap<String, Arc<KeyValue>>, Revision)> {
    let end = prefix_end(prefix);
    let mut items = BTreeMap::new();
    let mut start = prefix.to_string();
    let mut revision = 0;
    loop {
        let range = store.range(&start, &end, page.max(1), revision).await?;
        if revision == 0 {
            revision = range.revision;
        }
        let last = range.kvs.last().map(|kv| kv.key.clone());
        items.extend(range.kvs.into_iter().map(|kv| (kv.key.clone(), Arc::new(kv))));
        match last {
            // The smallest key after the last one read.
            Some(last) if range.more => start = format!("{last}\0"),
            _ => return Ok((items, revision)),
        }
    }
}

/// The follower task: applies the store watch's changes for as long as the cache lives, and
/// recovers when the watch fails.
async fn follow(shared: Arc<Shared>, mut watch: Watch) {
    loop {
        let error = follow_watch(&shared, &mut watch).await;
        watch = recover(&shared, error).await;
    }
}

/// Applies one store watch until it fails; keeps a progress request outstanding while readers
/// wait for a revision, and often enough that watchers get regular progress notifications.
async fn follow_watch(shared: &Shared, watch: &mut Watch) -> StoreError {
    let interval = shared.opts.progress_interval.max(Duration::from_millis(20));
    let tick = interval / 4;
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A progress request not answered within this time is considered lost.
    let lost_after = shared.opts.catch_up_timeout.max(Duration::from_millis(100)) / 3;
    // Consistent reads ask for progress as often as they come; watchers need it only now and
    // then (each notification becomes a bookmark to every client), so passing it on is limited.
    let min_gap = interval / 10;
    let mut in_flight: Option<Instant> = None;
    let mut last_broadcast = Instant::now();
    loop {
        tokio::select! {
            biased;
            item = watch.stream.next() => match item {
                Some(Ok(batch)) if batch.events.is_empty() => {
                    in_flight = None;
                    let broadcast = last_broadcast.elapsed() >= min_gap;
                    if broadcast {
                        last_broadcast = Instant::now();
                    }
                    shared.progress(batch.revision, broadcast);
                }
                Some(Ok(batch)) => shared.apply(batch),
                Some(Err(e)) => return e,
                None => return StoreError::Unavailable("the store ended the watch".into()),
            },
            _ = shared.progress_wanted.notified(), if in_flight.is_none() => {
                watch.progress.request_progress();
                in_flight = Some(Instant::now());
            }
            _ = ticker.tick() => {
                if in_flight.is_some_and(|at| at.elapsed() >= lost_after) {
                    in_flight = None;
                }
                // Requested a tick early so the notification arrives within the interval.
                if in_flight.is_none() && last_broadcast.elapsed() + tick >= interval {
                    watch.progress.request_progress();
                    in_flight = Some(Instant::now());
                }
            }
        }
    }
}

/// A new store watch after `error`: resumed after the cache's revision when the store still has
/// that history, otherwise after a fresh list (which ends every watcher). Retries with backoff
/// until it succeeds.
async fn recover(shared: &Shared, mut error: StoreError) -> Watch {
    let mut delay = Duration::from_millis(50);
    loop {
        tracing::warn!(prefix = %shared.prefix, %error, "watch cache: store watch failed; resuming");
        if !matches!(error, StoreError::Compacted { .. }) {
            let from = shared.read().revision + 1;
            match shared.store.watch(&shared.prefix, from).await {
                Ok(watch) => return watch,
                Err(e) => error = e,
            }
        }
        if matches!(error, StoreError::Compacted { .. }) {
            match relist(shared).await {
                Ok(watch) => return watch,
                Err(e) => error = e,
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(shared.opts.max_retry_delay.max(Duration::from_millis(1)));
    }
}

/// Lists the prefix again and watches from there, replacing the cache's state.
async fn relist(shared: &Shared) -> Result<Watch> {
    let (items, revision) = list_all(shared.store.as_ref(), &shared.prefix, shared.opts.page_size).await?;
    let watch = shared.store.watch(&shared.prefix, revision + 1).await?;
    tracing::info!(prefix = %shared.prefix, revision, keys = items.len(), "watch cache: re-listed");
    shared.replace(items, revision);
    Ok(watch)
}

#[cfg(test)]
mod tests;
