//! The etcd v3 backend: every [`Store`] operation maps onto one etcd request (mostly a
//! transaction), so the store's revisions *are* etcd's revisions and several API servers may
//! share one etcd cluster, as kube-apiserver instances do.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, Identity, PutOptions, TlsOptions,
    Txn, TxnOp, TxnOpResponse, WatchOptions, WatchResponse,
};
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};

use crate::{Event, KeyValue, ProgressRequester, RangeResult, Result, Revision, Store, StoreError, Watch, WatchBatch};

/// How long to wait for etcd to answer when connecting.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a single request may take before the store reports etcd as unavailable. Without it
/// a request to an unreachable cluster would wait for a connection forever.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest response accepted from etcd (gRPC's own limit is 4 MiB).
const MAX_RESPONSE: usize = i32::MAX as usize;
/// Any key works for revision probes (they count keys at a revision); this one is never written.
const PROBE_KEY: &[u8] = b"\0tke-revision-probe";

/// Client certificates for etcd (`--etcd-cafile`, `--etcd-certfile`, `--etcd-keyfile`). Used
/// for `https://` endpoints.
#[derive(Clone, Debug, Default)]
pub struct EtcdTls {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

/// A [`Store`] kept in an etcd v3 cluster.
#[derive(Clone)]
pub struct EtcdStore {
    client: Client,
    /// The endpoints, for error messages.
    servers: Arc<str>,
    /// The highest compacted revision seen so far. etcd does not report it directly, so it is
    /// learnt by probing (see [`EtcdStore::revisions`]); it only grows.
    compacted: Arc<AtomicI64>,
    /// Whether etcd's answer to a progress request can be taken as it is. Before 3.4.25 and
    /// 3.5.8 (etcd-io/etcd#15220) etcd answers on a control channel that may overtake events
    /// still queued for the same stream, so a notification can claim a revision whose events
    /// have not arrived; watches then confirm it before passing it on (see [`WatchState`]).
    progress_trusted: bool,
}

/// Whether etcd `version` ("3.4.23") answers progress requests only after the events they
/// cover: from 3.4.25 and 3.5.8 on. An unreadable version is not trusted.
fn progress_is_ordered(version: &str) -> bool {
    let mut parts = version.trim().trim_start_matches('v').split('.').map(|p| {
        let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u32>().ok()
    });
    let (Some(Some(major)), Some(Some(minor)), Some(Some(patch))) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    match (major, minor) {
        (3, 4) => patch >= 25,
        (3, 5) => patch >= 8,
        (3, m) => m > 5,
        (m, _) => m > 3,
    }
}

impl EtcdStore {
    /// Connects to etcd at `servers` (`http://host:port` or `https://host:port`) and checks that it
    /// answers. `https` endpoints use `tls`: the CA that signed etcd's serving certificate and,
    /// if etcd requires client certificates, the client certificate and key.
    pub async fn connect(servers: &[String], tls: EtcdTls) -> Result<EtcdStore> {
        let servers: Vec<String> = servers.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        if servers.is_empty() {
            return Err(StoreError::Unavailable("no etcd endpoints given".into()));
        }
        let joined: Arc<str> = servers.join(",").into();
        let mut options = ConnectOptions::new()
            .with_connect_timeout(CONNECT_TIMEOUT)
            // Detect a dead connection (etcd killed, network gone) instead of waiting forever on it.
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(10));
        if servers.iter().any(|s| s.starts_with("https://")) {
            if servers.iter().any(|s| !s.starts_with("https://")) {
                return Err(StoreError::Unavailable(format!(
                    "etcd endpoints {joined} mix https and plain endpoints; use one scheme"
                )));
            }
            options = options.with_tls(tls_options(&tls)?);
        }
        let client = Client::connect(&servers, Some(options.clone()))
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to etcd at {joined}: {e}")))?;
        let mut store =
            EtcdStore { client, servers: joined, compacted: Arc::new(AtomicI64::new(1)), progress_trusted: false };
        // The client connects lazily: make one request so a wrong address or certificate fails
        // here, with a clear message, rather than on the first API request.
        let mut kv = store.kv();
        match tokio::time::timeout(CONNECT_TIMEOUT, kv.get(PROBE_KEY, Some(GetOptions::new().with_count_only()))).await
        {
            Ok(Ok(_)) => {
                // Every endpoint's version counts (a watch may land on any of them), each asked
                // over a connection of its own since the client balances its requests.
                let mut trusted = true;
                for endpoint in &servers {
                    let status = async {
                        let mut one = Client::connect([endpoint.as_str()], Some(options.clone())).await?;
                        one.status().await
                    };
                    let version = match tokio::time::timeout(CONNECT_TIMEOUT, status).await {
                        Ok(Ok(status)) => status.version().to_string(),
                        _ => String::new(),
                    };
                    if !progress_is_ordered(&version) {
                        tracing::info!(
                            endpoint,
                            version,
                            "etcd may answer progress requests ahead of events; watches confirm each answer"
                        );
                        trusted = false;
                    }
                }
                store.progress_trusted = trusted;
                Ok(store)
            }
            Ok(Err(e)) => Err(StoreError::Unavailable(format!("cannot reach etcd at {}: {e}", store.servers))),
            Err(_) => Err(StoreError::Unavailable(format!(
                "etcd at {} did not answer within {CONNECT_TIMEOUT:?} (is it running, and are the address and TLS settings right?)",
                store.servers
            ))),
        }
    }

    /// A KV client that accepts responses of any size: a list of a large prefix, unpaged,
    /// easily exceeds gRPC's default 4 MiB limit (kube-apiserver lifts it the same way).
    fn kv(&self) -> etcd_client::KvClient {
        self.client.kv_client().max_decoding_message_size(MAX_RESPONSE)
    }

    /// A watch client that accepts batches of any size (a replay may batch many events).
    fn watcher(&self) -> etcd_client::WatchClient {
        self.client.watch_client().max_decoding_message_size(MAX_RESPONSE)
    }

    /// Runs one etcd request with the request timeout, mapping its errors to [`StoreError`].
    async fn call<T>(&self, what: &str, fut: impl Future<Output = Result<T, etcd_client::Error>>) -> Result<T> {
        match tokio::time::timeout(REQUEST_TIMEOUT, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.map_err(what, e)),
            Err(_) => Err(StoreError::Unavailable(format!(
                "etcd at {} did not answer {what} within {REQUEST_TIMEOUT:?}",
                self.servers
            ))),
        }
    }

    /// Maps an etcd client error. Compaction and future-revision errors are returned as
    /// `Internal` here with etcd's message; callers that read at a revision turn them into the
    /// precise variants with [`EtcdStore::revision_error`].
    fn map_err(&self, what: &str, e: etcd_client::Error) -> StoreError {
        match &e {
            etcd_client::Error::GRpcStatus(s) => {
                // gRPC status codes: 1 cancelled, 2 unknown (also transport failures below gRPC:
                // connection refused, TLS handshake), 4 deadline exceeded, 8 resource exhausted,
                // 10 aborted, 14 unavailable.
                let code: i32 = s.code().into();
                match code {
                    1 | 4 | 8 | 10 | 14 => {
                        StoreError::Unavailable(format!("etcd at {} failed {what}: {}", self.servers, s.message()))
                    }
                    2 if !is_revision_error(s.message()) => {
                        StoreError::Unavailable(format!("etcd at {} failed {what}: {}", self.servers, s.message()))
                    }
                    _ => StoreError::Internal(format!("etcd {what}: {}", s.message())),
                }
            }
            etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => {
                StoreError::Unavailable(format!("cannot reach etcd at {} for {what}: {e}", self.servers))
            }
            _ => StoreError::Internal(format!("etcd {what}: {e}")),
        }
    }

    /// Turns etcd's "compacted" / "future revision" errors for a read at `requested` into
    /// [`StoreError::Compacted`] / [`StoreError::FutureRevision`] with the store's revisions.
    async fn revision_error(&self, requested: Revision, err: StoreError) -> StoreError {
        let StoreError::Internal(msg) = &err else { return err };
        if msg.contains("required revision has been compacted") {
            let compacted = self.revisions().await.map(|(_, c)| c).unwrap_or(requested + 1);
            StoreError::Compacted { requested, compacted: compacted.max(requested + 1) }
        } else if msg.contains("required revision is a future revision") {
            let current = self.revisions().await.map(|(c, _)| c).unwrap_or(requested - 1);
            StoreError::FutureRevision { requested, current }
        } else {
            err
        }
    }

    /// Whether history at `revision` is still readable: Ok(Some(current)) if so, Ok(None) if it
    /// has been compacted. etcd refuses a read below its compacted revision and allows one at it.
    async fn probe(&self, revision: Revision) -> Result<Option<Revision>> {
        let mut kv = self.kv();
        let opts = GetOptions::new().with_count_only().with_revision(revision);
        match tokio::time::timeout(REQUEST_TIMEOUT, kv.get(PROBE_KEY, Some(opts))).await {
            Ok(Ok(resp)) => Ok(Some(header_revision(resp.header()))),
            Ok(Err(e)) => match self.map_err("probe", e) {
                StoreError::Internal(m) if m.contains("required revision has been compacted") => Ok(None),
                other => Err(other),
            },
            Err(_) => Err(StoreError::Unavailable(format!(
                "etcd at {} did not answer within {REQUEST_TIMEOUT:?}",
                self.servers
            ))),
        }
    }

    fn note_compacted(&self, revision: Revision) {
        self.compacted.fetch_max(revision, Ordering::Relaxed);
    }
}

fn is_revision_error(msg: &str) -> bool {
    msg.contains("required revision has been compacted") || msg.contains("required revision is a future revision")
}

fn read_file(what: &str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| StoreError::Unavailable(format!("cannot read the etcd {what} {}: {e}", path.display())))
}

fn tls_options(tls: &EtcdTls) -> Result<TlsOptions> {
    let mut options = TlsOptions::new();
    if let Some(ca) = &tls.ca_file {
        options = options.ca_certificate(Certificate::from_pem(read_file("CA file", ca)?));
    }
    match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            options = options
                .identity(Identity::from_pem(read_file("client certificate", cert)?, read_file("client key", key)?));
        }
        (None, None) => {}
        _ => return Err(StoreError::Unavailable("the etcd client certificate and key must be given together".into())),
    }
    Ok(options)
}

fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> Revision {
    header.map(|h| h.revision()).unwrap_or(0)
}

fn convert_kv(kv: &etcd_client::KeyValue) -> Result<KeyValue> {
    let key = std::str::from_utf8(kv.key()).map_err(|_| {
        StoreError::Internal(format!("etcd returned a key that is not UTF-8: {:?}", String::from_utf8_lossy(kv.key())))
    })?;
    Ok(KeyValue {
        key: key.to_string(),
        value: Bytes::copy_from_slice(kv.value()),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        version: kv.version(),
    })
}

/// The bytes etcd needs for a range start: etcd rejects an empty key, and `\0` is the lowest one.
fn range_start(start: &str) -> Vec<u8> {
    if start.is_empty() { vec![0] } else { start.as_bytes().to_vec() }
}

/// The bytes etcd needs for a range end: [`crate::prefix_end`] of an empty prefix is a sentinel
/// meaning "to the end of the key space", which etcd spells `\0`.
fn range_end(end: &str) -> Vec<u8> {
    if end == "\u{10ffff}" { vec![0] } else { end.as_bytes().to_vec() }
}

/// The first key-value of the first `get` in a transaction's responses.
fn txn_get(responses: &[TxnOpResponse]) -> Result<Option<KeyValue>> {
    for r in responses {
        if let TxnOpResponse::Get(g) = r {
            return g.kvs().first().map(convert_kv).transpose();
        }
    }
    Ok(None)
}

#[async_trait::async_trait]
impl Store for EtcdStore {
    async fn get(&self, key: &str) -> Result<(Option<KeyValue>, Revision)> {
        let mut kv = self.kv();
        let resp = self.call("get", kv.get(key, None)).await?;
        let value = resp.kvs().first().map(convert_kv).transpose()?;
        Ok((value, header_revision(resp.header())))
    }

    async fn range(&self, start: &str, end: &str, limit: usize, revision: Revision) -> Result<RangeResult> {
        let mut kv = self.kv();
        let start_bytes = range_start(start);
        let end_bytes = range_end(end);
        // An empty or inverted range holds nothing; etcd would read an empty end as "this one key".
        if end_bytes != [0] && end_bytes <= start_bytes {
            let mut opts = GetOptions::new().with_count_only();
            if revision > 0 {
                opts = opts.with_revision(revision);
            }
            let resp = match self.call("range", kv.get(PROBE_KEY, Some(opts))).await {
                Ok(r) => r,
                Err(e) => return Err(self.revision_error(revision, e).await),
            };
            let at = if revision > 0 { revision } else { header_revision(resp.header()) };
            return Ok(RangeResult { revision: at, ..Default::default() });
        }
        let mut opts = GetOptions::new().with_range(end_bytes);
        if limit > 0 {
            opts = opts.with_limit(i64::try_from(limit).unwrap_or(i64::MAX));
        }
        if revision > 0 {
            opts = opts.with_revision(revision);
        }
        let resp = match self.call("range", kv.get(start_bytes, Some(opts))).await {
            Ok(r) => r,
            Err(e) => return Err(self.revision_error(revision, e).await),
        };
        let kvs = resp.kvs().iter().map(convert_kv).collect::<Result<Vec<_>>>()?;
        let more = resp.more();
        let remaining = if more { (resp.count() - kvs.len() as i64).max(0) } else { 0 };
        let at = if revision > 0 { revision } else { header_revision(resp.header()) };
        Ok(RangeResult { kvs, more, remaining, revision: at })
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        let mut kv = self.kv();
        let txn = Txn::new()
            .when([Compare::create_revision(key, CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key, value.to_vec(), None)])
            .or_else([TxnOp::get(key, None)]);
        let resp = self.call("create", kv.txn(txn)).await?;
        if !resp.succeeded() {
            return Err(StoreError::AlreadyExists { key: key.to_string() });
        }
        let revision = header_revision(resp.header());
        Ok(KeyValue { key: key.to_string(), value, create_revision: revision, mod_revision: revision, version: 1 })
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue> {
        let mut kv = self.kv();
        // `version > 0` keeps an update with expected 0 from creating an absent key (whose
        // mod_revision compares as 0).
        let txn = Txn::new()
            .when([
                Compare::version(key, CompareOp::Greater, 0),
                Compare::mod_revision(key, CompareOp::Equal, expected),
            ])
            .and_then([TxnOp::put(key, value.to_vec(), Some(PutOptions::new().with_prev_key()))])
            .or_else([TxnOp::get(key, None)]);
        let resp = self.call("update", kv.txn(txn)).await?;
        let responses = resp.op_responses();
        if !resp.succeeded() {
            return match txn_get(&responses)? {
                None => Err(StoreError::NotFound { key: key.to_string() }),
                Some(current) => Err(StoreError::Conflict { key: key.to_string(), expected, current: Some(current) }),
            };
        }
        let revision = header_revision(resp.header());
        let prev = responses.iter().find_map(|r| match r {
            TxnOpResponse::Put(p) => p.prev_key().map(convert_kv),
            _ => None,
        });
        let prev = prev
            .transpose()?
            .ok_or_else(|| StoreError::Internal(format!("etcd did not return the previous value of {key:?}")))?;
        Ok(KeyValue {
            key: key.to_string(),
            value,
            create_revision: prev.create_revision,
            mod_revision: revision,
            version: prev.version + 1,
        })
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(KeyValue, Revision)> {
        let mut kv = self.kv();
        let mut compares = vec![Compare::version(key, CompareOp::Greater, 0)];
        if let Some(expected) = expected {
            compares.push(Compare::mod_revision(key, CompareOp::Equal, expected));
        }
        let txn = Txn::new()
            .when(compares)
            .and_then([TxnOp::delete(key, Some(etcd_client::DeleteOptions::new().with_prev_key()))])
            .or_else([TxnOp::get(key, None)]);
        let resp = self.call("delete", kv.txn(txn)).await?;
        let responses = resp.op_responses();
        if !resp.succeeded() {
            return match (txn_get(&responses)?, expected) {
                (None, _) => Err(StoreError::NotFound { key: key.to_string() }),
                (Some(current), Some(expected)) => {
                    Err(StoreError::Conflict { key: key.to_string(), expected, current: Some(current) })
                }
                // Unreachable: without `expected` the only compare is existence.
                (Some(_), None) => {
                    Err(StoreError::Internal(format!("etcd refused to delete the existing key {key:?}")))
                }
            };
        }
        let revision = header_revision(resp.header());
        let prev = responses.iter().find_map(|r| match r {
            TxnOpResponse::Delete(d) => d.prev_kvs().first().map(convert_kv),
            _ => None,
        });
        let prev = prev
            .transpose()?
            .ok_or_else(|| StoreError::Internal(format!("etcd did not return the deleted value of {key:?}")))?;
        Ok((prev, revision))
    }

    async fn watch(&self, prefix: &str, start_revision: Revision) -> Result<Watch> {
        // etcd accepts a watch at a compacted revision and cancels it right after; check first
        // so the caller gets the error from this call, as the contract says.
        if start_revision > 0 {
            let compacted = self.compacted.load(Ordering::Relaxed);
            if start_revision < compacted || self.probe(start_revision).await.is_ok_and(|r| r.is_none()) {
                let compacted = self.revisions().await.map(|(_, c)| c).unwrap_or(compacted).max(start_revision + 1);
                return Err(StoreError::Compacted { requested: start_revision, compacted });
            }
        }
        // etcd (3.4 before 3.4.25 at least) answers a progress request with its current
        // revision even while a watcher is still replaying history, before the replayed events.
        // So the watch that carries progress always starts at "now", when etcd counts it as
        // caught up, and history since `start_revision` comes from a second, temporary watch.
        // That one watches every key (filtered here) so it surely sees an event at the revision
        // that was current when it started, which tells when the replay is complete.
        // A watch from "now" delivers every event after this revision (the live watch registers
        // later): what a progress notification is confirmed from when etcd's may not be trusted.
        let known_complete = if start_revision <= 0 && !self.progress_trusted {
            self.current_revision().await?
        } else {
            start_revision.max(1) - 1
        };
        let mut client = self.watcher();
        let live_options = WatchOptions::new().with_prev_key().with_progress_notify().with_prefix();
        let (watcher, live) = self.call("watch", client.watch(prefix, Some(live_options))).await?;
        let mut floor = 0;
        let mut replay = None;
        if start_revision > 0 {
            // Every write after `current` reaches the live watch, which was registered before.
            let current = self.current_revision().await?;
            floor = start_revision - 1;
            // Revision 1 is the empty store: no write to replay.
            if start_revision <= current && current > 1 {
                replay = Some(self.replay(start_revision, current).await?);
                floor = current;
            }
        }

        // The watcher owns the request side of the gRPC stream: etcd ends the watch when it is
        // closed. A task keeps it, forwards progress requests, and cancels the watch once the
        // event stream is dropped.
        let (progress_tx, mut progress_rx) = mpsc::unbounded_channel::<()>();
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let mut watcher = watcher;
            loop {
                tokio::select! {
                    _ = &mut stop_rx => break,
                    req = progress_rx.recv() => match req {
                        Some(()) => {
                            if let Err(e) = watcher.request_progress().await {
                                tracing::debug!(error = %e, "etcd watch progress request failed");
                            }
                        }
                        // The requester is gone; keep the watch open until the stream goes too.
                        None => {
                            let _ = (&mut stop_rx).await;
                            break;
                        }
                    },
                }
            }
            let _ = watcher.cancel().await;
        });

        let state = WatchState {
            live,
            replay,
            prefix: prefix.as_bytes().to_vec(),
            floor,
            servers: self.servers.clone(),
            start_revision,
            last: known_complete,
            done: false,
            store: self.clone(),
            confirm: None,
            _stop: StopOnDrop(Some(stop_tx)),
        };
        let compacted = self.compacted.clone();
        let stream = futures::stream::unfold(state, move |mut st| {
            let compacted = compacted.clone();
            async move {
                loop {
                    if st.done {
                        return None;
                    }
                    if let Some(until) = st.confirm.filter(|_| st.replay.is_none()) {
                        // A progress notification to confirm: replay what happened since the last
                        // known-complete revision up to the one it claims.
                        match st.store.replay(st.last + 1, until).await {
                            Ok(replay) => {
                                st.floor = st.floor.max(until);
                                st.replay = Some(replay);
                            }
                            Err(e) => {
                                st.done = true;
                                return Some((Err(e), st));
                            }
                        }
                    }
                    let replaying = st.replay.is_some();
                    let message = match &mut st.replay {
                        Some(r) => r.stream.message().await,
                        None => st.live.message().await,
                    };
                    let item = match message {
                        Ok(Some(resp)) if replaying => st.convert_replay(resp, &compacted),
                        Ok(Some(resp)) => st.convert(resp, &compacted),
                        Ok(None) => {
                            st.done = true;
                            Some(Err(StoreError::Unavailable(format!(
                                "etcd at {} closed the watch stream",
                                st.servers
                            ))))
                        }
                        Err(e) => {
                            st.done = true;
                            Some(Err(StoreError::Unavailable(format!("etcd watch at {} failed: {e}", st.servers))))
                        }
                    };
                    if let Some(item) = item {
                        return Some((item, st));
                    }
                }
            }
        });
        Ok(Watch { stream: stream.boxed(), progress: Arc::new(EtcdProgress(progress_tx)) })
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let mut kv = self.kv();
        match self.call("compact", kv.compact(revision, None)).await {
            Ok(_) => {
                self.note_compacted(revision);
                Ok(())
            }
            Err(e) => match self.revision_error(revision, e).await {
                // Compacting to or below the compacted revision leaves nothing to do.
                StoreError::Compacted { .. } => Ok(()),
                other => Err(other),
            },
        }
    }

    /// The current revision comes from a response header. etcd does not report its compacted
    /// revision, so it is found by probing: a read at `r` fails exactly when `r` is below it.
    /// One probe at the last known value confirms it; if compaction moved on (this or another
    /// client compacted), a binary search up to the current revision finds the new value.
    async fn revisions(&self) -> Result<(Revision, Revision)> {
        let known = self.compacted.load(Ordering::Relaxed).max(1);
        if let Some(current) = self.probe(known).await? {
            return Ok((current, known));
        }
        // `known` is compacted; the current revision always is readable.
        let current = self.current_revision().await?;
        let (mut lo, mut hi) = (known, current);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            match self.probe(mid).await? {
                Some(_) => hi = mid,
                None => lo = mid,
            }
        }
        self.note_compacted(hi);
        Ok((current, hi))
    }
}

impl EtcdStore {
    /// A temporary watch of every key from `from` that ends once it reaches `until`.
    async fn replay(&self, from: Revision, until: Revision) -> Result<Replay> {
        let mut client = self.watcher();
        let options = WatchOptions::new().with_prev_key().with_all_keys().with_start_revision(from);
        let (watcher, stream) = self.call("watch", client.watch("", Some(options))).await?;
        Ok(Replay { stream, _watcher: watcher, until })
    }

    /// The current revision, from the header of a cheap read.
    async fn current_revision(&self) -> Result<Revision> {
        let mut kv = self.kv();
        let resp = self.call("get", kv.get(PROBE_KEY, Some(GetOptions::new().with_count_only()))).await?;
        Ok(header_revision(resp.header()))
    }
}

/// Signals the watch task to cancel the etcd watch when the event stream is dropped.
struct StopOnDrop(Option<oneshot::Sender<()>>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// The temporary watch that replays history from the requested start revision.
struct Replay {
    stream: etcd_client::WatchStream,
    /// Dropping it closes the replay's gRPC stream.
    _watcher: etcd_client::Watcher,
    /// The revision that was current when the live watch started: the replay ends here.
    until: Revision,
}

struct WatchState {
    /// The prefix watch started at "now"; it also carries progress notifications.
    live: etcd_client::WatchStream,
    /// History before the live watch, while it is being delivered.
    replay: Option<Replay>,
    prefix: Vec<u8>,
    /// Live events at or below this revision were delivered by the replay (or are before the
    /// requested start): skipped.
    floor: Revision,
    servers: Arc<str>,
    start_revision: Revision,
    /// Every event up to this revision has been delivered.
    last: Revision,
    done: bool,
    /// Starts replays that confirm progress notifications.
    store: EtcdStore,
    /// A progress notification's revision that etcd may have sent ahead of events (see
    /// [`EtcdStore`]'s `progress_trusted`): reported once a replay up to it is complete.
    confirm: Option<Revision>,
    _stop: StopOnDrop,
}

impl WatchState {
    /// Ends the stream with the error of a cancelled etcd watch.
    fn cancelled(&mut self, resp: &WatchResponse, compacted: &AtomicI64) -> Result<WatchBatch> {
        self.done = true;
        let compact_revision = resp.compact_revision();
        if compact_revision > 0 {
            compacted.fetch_max(compact_revision, Ordering::Relaxed);
            let requested = if self.last > 0 { self.last + 1 } else { self.start_revision };
            return Err(StoreError::Compacted { requested, compacted: compact_revision });
        }
        Err(StoreError::Unavailable(format!("etcd at {} cancelled the watch: {}", self.servers, resp.cancel_reason())))
    }

    /// The events of `resp` under the prefix with a revision in `(above, upto]`.
    fn events(&self, resp: &WatchResponse, above: Revision, upto: Revision) -> Result<Vec<Event>> {
        let mut events = Vec::new();
        for ev in resp.events() {
            let Some(kv) = ev.kv() else { continue };
            if kv.mod_revision() <= above || kv.mod_revision() > upto || !kv.key().starts_with(&self.prefix) {
                continue;
            }
            events.push(convert_event(ev)?);
        }
        Ok(events)
    }

    /// One response of the replay watch (every key, from the start revision): the events under
    /// the prefix up to the replay's end. The first event at or past the end completes it.
    fn convert_replay(&mut self, resp: WatchResponse, compacted: &AtomicI64) -> Option<Result<WatchBatch>> {
        let until = self.replay.as_ref().map(|r| r.until).unwrap_or(0);
        if resp.canceled() {
            return Some(self.cancelled(&resp, compacted));
        }
        // Events come in revision order, for every key: all events up to the highest revision
        // seen have been received.
        let seen = resp.events().iter().filter_map(|e| e.kv()).map(|kv| kv.mod_revision()).max()?;
        let events = match self.events(&resp, self.last, until) {
            Ok(e) => e,
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        let revision = seen.min(until);
        let mut confirmed = false;
        if seen >= until {
            // History is complete: from here on the live watch delivers (it saw everything after
            // `until`). Dropping the replay closes its stream.
            self.replay = None;
            confirmed = self.confirm.take().is_some();
        }
        self.last = self.last.max(revision);
        if events.is_empty() && !confirmed {
            return None;
        }
        // With no events, a confirmed progress notification.
        Some(Ok(WatchBatch { events, revision }))
    }

    /// One etcd watch response as a batch, an error (which ends the stream), or nothing (a
    /// response that carries no information for the caller).
    fn convert(&mut self, resp: WatchResponse, compacted: &AtomicI64) -> Option<Result<WatchBatch>> {
        if resp.canceled() {
            return Some(self.cancelled(&resp, compacted));
        }
        if resp.created() {
            return None;
        }
        let header_rev = header_revision(resp.header());
        if resp.events().is_empty() {
            // A progress notification: nothing under the prefix changed up to the header's
            // revision. It may predate the replay's end, which is as far as is known complete.
            if header_rev > self.last && !self.store.progress_trusted {
                self.confirm = Some(header_rev);
                return None;
            }
            let revision = header_rev.max(self.last);
            self.last = revision;
            return Some(Ok(WatchBatch { events: Vec::new(), revision }));
        }
        let events = match self.events(&resp, self.floor, Revision::MAX) {
            Ok(e) => e,
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        let revision = events.iter().map(Event::revision).max()?;
        // Only the events' revisions are known to be complete: the header may already count
        // writes whose events are still on their way.
        self.last = self.last.max(revision);
        Some(Ok(WatchBatch { events, revision }))
    }
}

fn convert_event(ev: &etcd_client::Event) -> Result<Event> {
    let kv = ev.kv().ok_or_else(|| StoreError::Internal("etcd sent a watch event without a key".into()))?;
    let kv = convert_kv(kv)?;
    let prev = ev.prev_kv().map(convert_kv).transpose()?;
    // etcd's protocol has only these two event types.
    match ev.event_type() {
        EventType::Put => {
            // etcd drops the previous value when the revision before the write is compacted;
            // a create (version 1) has none anyway.
            let prev = if kv.version == 1 { None } else { prev };
            Ok(Event::Put { kv, prev })
        }
        EventType::Delete => {
            let prev = prev.ok_or_else(|| {
                StoreError::Internal(format!(
                    "etcd sent the deletion of {:?} at revision {} without its previous value",
                    kv.key, kv.mod_revision
                ))
            })?;
            Ok(Event::Delete { prev, revision: kv.mod_revision })
        }
    }
}

/// Asks etcd for a progress notification on the watch's gRPC stream.
struct EtcdProgress(mpsc::UnboundedSender<()>);

impl ProgressRequester for EtcdProgress {
    fn request_progress(&self) {
        // Fails only when the watch has ended, when there is no progress to report.
        let _ = self.0.send(());
    }
}

#[cfg(test)]
mod tests {
    use super::progress_is_ordered;

    #[test]
    fn progress_is_trusted_from_the_releases_that_fixed_its_order() {
        for (version, ordered) in [
            ("3.4.23", false),
            ("3.4.25", true),
            ("3.5.7", false),
            ("3.5.8", true),
            ("3.5.21", true),
            ("3.6.0", true),
            ("v3.6.1", true),
            ("3.3.27", false),
            ("", false),
            ("garbage", false),
        ] {
            assert_eq!(progress_is_ordered(version), ordered, "{version}");
        }
    }
}
