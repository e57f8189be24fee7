//! The embedded event store: one SQLite database (`rusqlite`, bundled) in the data directory,
//! in WAL mode with `synchronous=FULL`, so a committed batch is on disk (the WAL is fsynced at
//! commit) before the sink answers 200.
//!
//! One writer thread owns the write connection and takes jobs from a bounded channel: it drains
//! whatever is queued (up to [`BATCH`] events) into one transaction, so concurrent sink requests
//! and the platform's own events share a commit (and its fsync). The platform's events are
//! queued without waiting ([`EventStore::offer`]: a full queue drops and counts the event, the
//! API server's requests never wait on the disk); the sink waits for the commit
//! ([`EventStore::append`]). Queries run on a small pool of read connections (WAL lets readers
//! run beside the writer).
//!
//! Indexes: time, and (column, time) for user, cluster, namespace, resource, verb, status and
//! tenant, so a filter on one of them with a time range and newest-first paging reads only the
//! page. Values offered as filters (`listFieldValues`) are kept in a small table as they are
//! written, instead of a scan of the events. Retention ([`EventStore::retain`]) deletes by age,
//! then the oldest events until the database is under a size bound, and gives the freed pages
//! back to the file system (incremental vacuum, WAL checkpoint).
//!
//! An event is stored once: a unique index on (auditID, stage) makes a batch that a sender
//! retried after a lost answer a no-op. Several replicas: each has its own database and stores
//! what it receives; queries merge every replica's answers (see the crate's documentation).

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use rusqlite::{Connection, OpenFlags, params_from_iter, types::Value as Sql};
use tokio::sync::{mpsc, oneshot};

use crate::record::Record;

/// Most events written in one transaction.
pub const BATCH: usize = 10_000;
/// Jobs waiting for the writer before the platform's own events are dropped.
pub const QUEUE: usize = 8_192;
/// Most rows a `total` counts before it says "at least".
pub const COUNT_LIMIT: i64 = 10_000;

/// Columns a list can be filtered by and `listFieldValues` answers for: (API name, column).
pub const FIELDS: [(&str, &str); 7] = [
    ("cluster", "cluster"),
    ("namespace", "namespace"),
    ("resource", "resource"),
    ("user", "user"),
    ("verb", "verb"),
    ("status", "status"),
    ("apiGroup", "api_group"),
];

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the audit database {path}: {source}")]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error("the audit database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("the audit database's writer has stopped")]
    Stopped,
    #[error("the audit database failed to commit: {0}")]
    Commit(String),
}

/// Which events a query is about. Empty strings do not filter. Serialized as a replica passes
/// it to the others (the tenant included: they apply it as given).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Filter {
    pub cluster: String,
    pub namespace: String,
    pub resource: String,
    pub name: String,
    pub user: String,
    pub verb: String,
    /// `Success` or `Failure`.
    pub status: String,
    /// A substring of the name, the user or the request URI.
    pub query: String,
    /// Only this tenant's events (set for callers who are not administrators).
    pub tenant: Option<String>,
    /// Milliseconds since the epoch, inclusive.
    pub start: Option<i64>,
    /// Milliseconds since the epoch, inclusive.
    pub end: Option<i64>,
}

/// A page of events, newest first.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Page {
    pub items: Vec<Record>,
    /// Matching events, counted up to [`COUNT_LIMIT`] + 1.
    pub total: i64,
    /// True when there are more than [`COUNT_LIMIT`] matches (`total` is then a lower bound).
    pub total_is_lower_bound: bool,
    pub page_index: i64,
    pub page_size: i64,
}

/// Retention bounds: events older than `reserve_days` days, and the oldest beyond `max_bytes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Retention {
    pub reserve_days: u32,
    /// 0: no size bound.
    pub max_bytes: u64,
}

/// What a retention pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Swept {
    pub deleted_by_age: u64,
    pub deleted_by_size: u64,
    pub bytes: u64,
}

enum Job {
    Events(Vec<Record>, Option<oneshot::Sender<Result<(), String>>>),
    Retain(Retention, i64, oneshot::Sender<Result<Swept, String>>),
}

/// The event store.
pub struct EventStore {
    path: PathBuf,
    jobs: mpsc::Sender<Job>,
    readers: Mutex<Vec<Connection>>,
    /// The platform's events dropped because the writer fell behind.
    pub dropped: AtomicU64,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events(
  id INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  stage_time INTEGER NOT NULL,
  cluster TEXT NOT NULL,
  tenant TEXT NOT NULL,
  user TEXT NOT NULL,
  verb TEXT NOT NULL,
  api_group TEXT NOT NULL,
  api_version TEXT NOT NULL,
  resource TEXT NOT NULL,
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  code INTEGER NOT NULL,
  status TEXT NOT NULL,
  audit_id TEXT NOT NULL,
  stage TEXT NOT NULL,
  request_uri TEXT NOT NULL,
  user_agent TEXT NOT NULL,
  source_ips TEXT NOT NULL,
  uid TEXT NOT NULL,
  message TEXT NOT NULL,
  reason TEXT NOT NULL,
  details TEXT NOT NULL,
  request_object TEXT NOT NULL,
  response_object TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_time ON events(time);
CREATE INDEX IF NOT EXISTS events_user ON events(user, time);
CREATE INDEX IF NOT EXISTS events_cluster ON events(cluster, time);
CREATE INDEX IF NOT EXISTS events_namespace ON events(namespace, time);
CREATE INDEX IF NOT EXISTS events_resource ON events(resource, time);
CREATE INDEX IF NOT EXISTS events_verb ON events(verb, time);
CREATE INDEX IF NOT EXISTS events_status ON events(status, time);
CREATE INDEX IF NOT EXISTS events_tenant ON events(tenant, time);
CREATE UNIQUE INDEX IF NOT EXISTS events_audit_id ON events(audit_id, stage) WHERE audit_id != '';
CREATE TABLE IF NOT EXISTS field_values(
  field TEXT NOT NULL, tenant TEXT NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY(field, tenant, value)
) WITHOUT ROWID;
";

const INSERT: &str = "INSERT OR IGNORE INTO events(time, stage_time, cluster, tenant, user, verb, api_group, api_version, \
    resource, namespace, name, code, status, audit_id, stage, request_uri, user_agent, source_ips, uid, message, \
    reason, details, request_object, response_object) \
    VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24)";

const COLUMNS: &str = "time, stage_time, cluster, tenant, user, verb, api_group, api_version, resource, namespace, \
    name, code, status, audit_id, stage, request_uri, user_agent, source_ips, uid, message, reason, details, \
    request_object, response_object";

fn open(path: &Path, write: bool) -> Result<Connection, StoreError> {
    let flags = if write {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let err = |source| StoreError::Open { path: path.to_path_buf(), source };
    let conn = Connection::open_with_flags(path, flags).map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(err)?;
    if write {
        // auto_vacuum must be chosen before the first table exists.
        conn.execute_batch("PRAGMA auto_vacuum=INCREMENTAL; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")
            .map_err(err)?;
        // Databases from before the unique index on (auditID, stage) may hold a batch twice
        // (a sender retried after a lost answer): keep the first copy so the index can be made.
        let indexed: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'events_audit_id'", [], |r| r.get(0))
            .map_err(err)?;
        let has_events: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'events'", [], |r| r.get(0))
            .map_err(err)?;
        if indexed == 0 && has_events == 1 {
            conn.execute_batch(
                "DELETE FROM events WHERE audit_id != '' AND id NOT IN \
                 (SELECT min(id) FROM events WHERE audit_id != '' GROUP BY audit_id, stage)",
            )
            .map_err(err)?;
        }
        conn.execute_batch(SCHEMA).map_err(err)?;
    }
    Ok(conn)
}

fn row_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<Record> {
    Ok(Record {
        request_received_timestamp: row.get(0)?,
        stage_timestamp: row.get(1)?,
        cluster_name: row.get(2)?,
        tenant_id: row.get(3)?,
        user_name: row.get(4)?,
        verb: row.get(5)?,
        api_group: row.get(6)?,
        api_version: row.get(7)?,
        resource: row.get(8)?,
        namespace: row.get(9)?,
        name: row.get(10)?,
        code: row.get(11)?,
        status: row.get(12)?,
        audit_id: row.get(13)?,
        stage: row.get(14)?,
        request_uri: row.get(15)?,
        user_agent: row.get(16)?,
        source_ips: row.get(17)?,
        uid: row.get(18)?,
        message: row.get(19)?,
        reason: row.get(20)?,
        details: row.get(21)?,
        request_object: row.get(22)?,
        response_object: row.get(23)?,
    })
}

/// The filter values already in `field_values`, per tenant and field (looked up without
/// allocating: most events repeat values already seen).
type Seen = HashMap<String, [HashSet<String>; FIELDS.len()]>;

/// Writes `records` in the open transaction, and the filter values not seen before.
fn insert(tx: &rusqlite::Transaction<'_>, records: &[Record], seen: &mut Seen) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(INSERT)?;
    let mut values =
        tx.prepare_cached("INSERT OR IGNORE INTO field_values(field, tenant, value) VALUES (?1, ?2, ?3)")?;
    for r in records {
        stmt.execute(rusqlite::params![
            r.request_received_timestamp,
            r.stage_timestamp,
            r.cluster_name,
            r.tenant_id,
            r.user_name,
            r.verb,
            r.api_group,
            r.api_version,
            r.resource,
            r.namespace,
            r.name,
            r.code,
            r.status,
            r.audit_id,
            r.stage,
            r.request_uri,
            r.user_agent,
            r.source_ips,
            r.uid,
            r.message,
            r.reason,
            r.details,
            r.request_object,
            r.response_object,
        ])?;
        let fields = [&r.cluster_name, &r.namespace, &r.resource, &r.user_name, &r.verb, &r.status, &r.api_group];
        let known = match seen.get_mut(&r.tenant_id) {
            Some(k) => k,
            None => seen.entry(r.tenant_id.clone()).or_default(),
        };
        for (i, v) in fields.into_iter().enumerate() {
            if v.is_empty() || known[i].contains(v.as_str()) {
                continue;
            }
            values.execute(rusqlite::params![FIELDS[i].0, r.tenant_id, v])?;
            known[i].insert(v.clone());
        }
    }
    Ok(())
}

fn used_bytes(conn: &Connection) -> rusqlite::Result<u64> {
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok(((pages - free).max(0) * size) as u64)
}

/// One retention pass at `now` (milliseconds): by age, then by size (down to 90% of the bound so
/// the next events do not start another pass at once).
fn retain(conn: &Connection, retention: Retention, now: i64) -> rusqlite::Result<Swept> {
    let mut swept = Swept::default();
    let cutoff = now - i64::from(retention.reserve_days) * 86_400_000;
    loop {
        let n = conn.execute(
            "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE time < ?1 ORDER BY time LIMIT 50000)",
            [cutoff],
        )?;
        swept.deleted_by_age += n as u64;
        if n < 50_000 {
            break;
        }
    }
    if retention.max_bytes > 0 {
        for _ in 0..20 {
            let used = used_bytes(conn)?;
            if used <= retention.max_bytes {
                break;
            }
            let count: i64 = conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0))?;
            if count == 0 {
                break;
            }
            let target = retention.max_bytes as f64 * 0.9;
            let share = ((used as f64 - target) / used as f64).clamp(0.01, 1.0);
            let n = ((count as f64 * share).ceil() as i64).max(1);
            let deleted =
                conn.execute("DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY time LIMIT ?1)", [n])?;
            swept.deleted_by_size += deleted as u64;
            conn.execute_batch("PRAGMA incremental_vacuum;")?;
        }
    }
    if swept.deleted_by_age + swept.deleted_by_size > 0 {
        conn.execute_batch("PRAGMA incremental_vacuum;")?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    }
    swept.bytes = used_bytes(conn)?;
    Ok(swept)
}

fn writer(mut conn: Connection, mut jobs: mpsc::Receiver<Job>) {
    let mut seen = Seen::new();
    while let Some(first) = jobs.blocking_recv() {
        let mut batch = vec![];
        let mut n = 0;
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Events(records, ack) => {
                    n += records.len();
                    batch.push((records, ack));
                }
                Job::Retain(retention, now, ack) => {
                    // Writes queued before it first, so it sees them.
                    flush(&mut conn, &mut batch, &mut seen);
                    let _ = ack.send(retain(&conn, retention, now).map_err(|e| e.to_string()));
                }
            }
            if n < BATCH {
                next = jobs.try_recv().ok();
            }
        }
        flush(&mut conn, &mut batch, &mut seen);
    }
}

type Pending = Vec<(Vec<Record>, Option<oneshot::Sender<Result<(), String>>>)>;

fn flush(conn: &mut Connection, batch: &mut Pending, seen: &mut Seen) {
    if batch.is_empty() {
        return;
    }
    let result = (|| {
        let tx = conn.transaction()?;
        for (records, _) in batch.iter() {
            insert(&tx, records, seen)?;
        }
        tx.commit()
    })();
    if let Err(e) = &result {
        tracing::error!(error = %e, "writing audit events failed");
        // The filter values remembered may not have been written.
        seen.clear();
    }
    for (_, ack) in batch.drain(..) {
        if let Some(ack) = ack {
            let _ = ack.send(result.as_ref().map(|_| ()).map_err(|e| e.to_string()));
        }
    }
}

impl EventStore {
    /// Opens (creating) `dir/events.db` and starts its writer thread.
    pub fn open(dir: &Path) -> Result<Arc<EventStore>, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
            path: dir.to_path_buf(),
            source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
        })?;
        let path = dir.join("events.db");
        let conn = open(&path, true)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || writer(conn, rx))
            .map_err(|e| StoreError::Commit(format!("starting the writer: {e}")))?;
        Ok(Arc::new(EventStore { path, jobs: tx, readers: Mutex::new(vec![]), dropped: AtomicU64::new(0) }))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `records` and returns once they are committed to disk.
    pub async fn append(&self, records: Vec<Record>) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let (ack, done) = oneshot::channel();
        self.jobs.send(Job::Events(records, Some(ack))).await.map_err(|_| StoreError::Stopped)?;
        done.await.map_err(|_| StoreError::Stopped)?.map_err(StoreError::Commit)
    }

    /// Queues `record` without waiting; when the queue is full it is dropped and counted.
    pub fn offer(&self, record: Record) {
        if self.jobs.try_send(Job::Events(vec![record], None)).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(dropped = n, "the audit writer is behind: platform audit events were dropped");
            }
        }
    }

    /// Applies `retention` as of `now` (milliseconds since the epoch).
    pub async fn retain(&self, retention: Retention, now: i64) -> Result<Swept, StoreError> {
        let (ack, done) = oneshot::channel();
        self.jobs.send(Job::Retain(retention, now, ack)).await.map_err(|_| StoreError::Stopped)?;
        done.await.map_err(|_| StoreError::Stopped)?.map_err(StoreError::Commit)
    }

    /// Runs `f` on a read connection, off the async threads.
    async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let conn = match this.readers.lock().map(|mut r| r.pop()) {
                Ok(Some(c)) => c,
                _ => open(&this.path, false)?,
            };
            let out = f(&conn);
            if let Ok(mut r) = this.readers.lock()
                && r.len() < 8
            {
                r.push(conn);
            }
            Ok(out?)
        })
        .await
        .map_err(|e| StoreError::Commit(format!("a query stopped: {e}")))?
    }

    /// A page of the events matching `filter`, newest first (`page_index` from 1).
    pub async fn list(self: &Arc<Self>, filter: Filter, page_index: i64, page_size: i64) -> Result<Page, StoreError> {
        let page_index = page_index.max(1);
        let page_size = page_size.clamp(1, 1000);
        let mut page = self.query(filter, (page_index - 1) * page_size, page_size).await?;
        page.page_index = page_index;
        page.page_size = page_size;
        Ok(page)
    }

    /// The first `limit` events matching `filter`, newest first (up to [`COUNT_LIMIT`]), and
    /// the count: what a replica gives another merging every replica's events.
    pub async fn top(self: &Arc<Self>, filter: Filter, limit: i64) -> Result<Page, StoreError> {
        let limit = limit.clamp(1, COUNT_LIMIT);
        let mut page = self.query(filter, 0, limit).await?;
        page.page_index = 1;
        page.page_size = limit;
        Ok(page)
    }

    async fn query(self: &Arc<Self>, filter: Filter, offset: i64, limit: i64) -> Result<Page, StoreError> {
        self.read(move |conn| {
            let (clause, params) = where_clause(&filter);
            let sql = format!(
                "SELECT {COLUMNS} FROM events{clause} ORDER BY time DESC, id DESC LIMIT {limit} OFFSET {offset}"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let items = stmt.query_map(params_from_iter(params.iter()), row_record)?.collect::<Result<Vec<_>, _>>()?;
            let count_sql = format!("SELECT count(*) FROM (SELECT 1 FROM events{clause} LIMIT {})", COUNT_LIMIT + 1);
            let total: i64 =
                conn.prepare_cached(&count_sql)?.query_row(params_from_iter(params.iter()), |r| r.get(0))?;
            Ok(Page { items, total, total_is_lower_bound: total > COUNT_LIMIT, page_index: 0, page_size: 0 })
        })
        .await
    }

    /// Up to `limit` events matching `filter`, newest first (exports).
    pub async fn export(self: &Arc<Self>, filter: Filter, limit: i64) -> Result<Vec<Record>, StoreError> {
        Ok(self.top(filter, limit).await?.items)
    }

    /// The event with `audit_id` (and, if given, from `cluster`), visible to `tenant`.
    pub async fn get(self: &Arc<Self>, audit_id: String, tenant: Option<String>) -> Result<Option<Record>, StoreError> {
        self.read(move |conn| {
            let mut sql = format!("SELECT {COLUMNS} FROM events WHERE audit_id = ?1");
            let mut params = vec![Sql::Text(audit_id)];
            if let Some(t) = tenant {
                sql.push_str(" AND tenant = ?2");
                params.push(Sql::Text(t));
            }
            sql.push_str(" ORDER BY time DESC LIMIT 1");
            let mut stmt = conn.prepare_cached(&sql)?;
            let mut rows = stmt.query_map(params_from_iter(params.iter()), row_record)?;
            rows.next().transpose()
        })
        .await
    }

    /// The values each filterable field has had (for `tenant` only when given), sorted.
    pub async fn field_values(
        self: &Arc<Self>,
        tenant: Option<String>,
    ) -> Result<std::collections::BTreeMap<String, Vec<String>>, StoreError> {
        self.read(move |conn| {
            let mut out: std::collections::BTreeMap<String, Vec<String>> =
                FIELDS.iter().map(|(f, _)| (f.to_string(), vec![])).collect();
            let mut stmt = match &tenant {
                Some(_) => conn.prepare_cached(
                    "SELECT DISTINCT field, value FROM field_values WHERE tenant = ?1 ORDER BY field, value",
                )?,
                None => conn.prepare_cached("SELECT DISTINCT field, value FROM field_values ORDER BY field, value")?,
            };
            let params: Vec<Sql> = tenant.into_iter().map(Sql::Text).collect();
            let rows = stmt
                .query_map(params_from_iter(params.iter()), |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            for row in rows {
                let (f, v) = row?;
                out.entry(f).or_default().push(v);
            }
            Ok(out)
        })
        .await
    }

    /// Events stored and bytes the database uses.
    pub async fn stats(self: &Arc<Self>) -> Result<(i64, u64), StoreError> {
        self.read(|conn| Ok((conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0))?, used_bytes(conn)?)))
            .await
    }
}

/// ` WHERE ...` (or nothing) and its parameters.
fn where_clause(f: &Filter) -> (String, Vec<Sql>) {
    let mut terms = vec![];
    let mut params = vec![];
    let mut eq = |column: &str, value: &str| {
        if !value.is_empty() {
            params.push(Sql::Text(value.to_string()));
            terms.push(format!("{column} = ?{}", params.len()));
        }
    };
    eq("cluster", &f.cluster);
    eq("namespace", &f.namespace);
    eq("resource", &f.resource);
    eq("name", &f.name);
    eq("user", &f.user);
    eq("verb", &f.verb);
    eq("status", &f.status);
    if let Some(t) = &f.tenant {
        params.push(Sql::Text(t.clone()));
        terms.push(format!("tenant = ?{}", params.len()));
    }
    if let Some(s) = f.start {
        params.push(Sql::Integer(s));
        terms.push(format!("time >= ?{}", params.len()));
    }
    if let Some(e) = f.end {
        params.push(Sql::Integer(e));
        terms.push(format!("time <= ?{}", params.len()));
    }
    if !f.query.is_empty() {
        let escaped = f.query.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        params.push(Sql::Text(format!("%{escaped}%")));
        let n = params.len();
        terms.push(format!(
            "(name LIKE ?{n} ESCAPE '\\' OR user LIKE ?{n} ESCAPE '\\' OR request_uri LIKE ?{n} ESCAPE '\\')"
        ));
    }
    if terms.is_empty() { (String::new(), params) } else { (format!(" WHERE {}", terms.join(" AND ")), params) }
}

/// Milliseconds since the epoch now.
pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: i64, user: &str, time: i64) -> Record {
        Record {
            audit_id: format!("id-{i}"),
            user_name: user.into(),
            verb: if i % 2 == 0 { "get" } else { "create" }.into(),
            resource: "pods".into(),
            namespace: "ns".into(),
            name: format!("pod-{i}"),
            cluster_name: "cls-a".into(),
            tenant_id: if user == "carol" { "t2" } else { "default" }.into(),
            status: "Success".into(),
            code: 200,
            request_received_timestamp: time,
            stage_timestamp: time + 1,
            request_object: format!("{{\"n\":{i}}}"),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn events_are_filtered_paged_newest_first_and_tenant_scoped() {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(dir.path()).unwrap();
        let mut records: Vec<Record> =
            (0..100).map(|i| rec(i, if i % 10 == 0 { "alice" } else { "bob" }, 1000 + i)).collect();
        records.push(rec(100, "carol", 5000));
        store.append(records).await.unwrap();
        store.offer(rec(101, "alice", 6000));
        // The writer takes jobs in order: once a later job is done, the offered event is stored.
        store.retain(Retention { reserve_days: 36_500, max_bytes: 0 }, 7000).await.unwrap();
        assert_eq!(store.stats().await.unwrap().0, 102);

        let f = Filter { user: "alice".into(), ..Default::default() };
        let page = store.list(f.clone(), 1, 5).await.unwrap();
        assert_eq!(page.total, 11);
        assert_eq!(
            page.items.iter().map(|r| r.request_received_timestamp).collect::<Vec<_>>(),
            vec![6000, 1090, 1080, 1070, 1060]
        );
        let page3 = store.list(f, 3, 5).await.unwrap();
        assert_eq!(page3.items.len(), 1);
        assert_eq!(page3.items[0].request_object, "{\"n\":0}");

        let ranged = Filter { start: Some(1010), end: Some(1019), verb: "create".into(), ..Default::default() };
        assert_eq!(store.list(ranged, 1, 50).await.unwrap().total, 5);
        let query = Filter { query: "pod-10".into(), ..Default::default() };
        assert_eq!(store.list(query, 1, 50).await.unwrap().total, 3, "pod-10, pod-100 and pod-101");
        let wildcard = Filter { query: "%".into(), ..Default::default() };
        assert_eq!(store.list(wildcard, 1, 50).await.unwrap().total, 0, "LIKE characters are literal");

        let t2 = Filter { tenant: Some("t2".into()), ..Default::default() };
        let page = store.list(t2, 1, 50).await.unwrap();
        assert_eq!(page.items.iter().map(|r| r.user_name.as_str()).collect::<Vec<_>>(), vec!["carol"]);
        assert_eq!(store.get("id-100".into(), Some("default".into())).await.unwrap(), None);
        assert_eq!(store.get("id-100".into(), Some("t2".into())).await.unwrap().unwrap().name, "pod-100");

        let values = store.field_values(Some("t2".into())).await.unwrap();
        assert_eq!(values["user"], vec!["carol"]);
        let all = store.field_values(None).await.unwrap();
        assert_eq!(all["user"], vec!["alice", "bob", "carol"]);
        assert_eq!(all["verb"], vec!["create", "get"]);
    }

    #[tokio::test]
    async fn retention_deletes_only_what_is_old_then_the_oldest_beyond_the_size() {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(dir.path()).unwrap();
        let day = 86_400_000;
        let now = 100 * day;
        let mut records = vec![];
        for i in 0..2000 {
            // 1000 events 10 days old, 1000 from the last day.
            let t = if i < 1000 { now - 10 * day + i } else { now - day + i };
            let mut r = rec(i, "bob", t);
            r.response_object = "x".repeat(500);
            records.push(r);
        }
        store.append(records).await.unwrap();
        let swept = store.retain(Retention { reserve_days: 7, max_bytes: 0 }, now).await.unwrap();
        assert_eq!((swept.deleted_by_age, swept.deleted_by_size), (1000, 0));
        let left = store.list(Filter::default(), 1, 1000).await.unwrap();
        assert_eq!(left.total, 1000);
        assert!(left.items.iter().all(|r| r.request_received_timestamp >= now - day), "only old events were deleted");

        let (_, bytes) = store.stats().await.unwrap();
        let bound = bytes / 2;
        let swept = store.retain(Retention { reserve_days: 7, max_bytes: bound }, now).await.unwrap();
        assert!(swept.deleted_by_size > 0 && swept.bytes <= bound, "{swept:?} bound {bound}");
        let kept = store.list(Filter::default(), 1, 1000).await.unwrap().items;
        let oldest_kept = kept.iter().map(|r| r.request_received_timestamp).min().unwrap();
        assert_eq!(kept.len() as u64, 1000 - swept.deleted_by_size);
        assert_eq!(oldest_kept, now - day + 1000 + swept.deleted_by_size as i64, "the oldest went first");
    }

    #[tokio::test]
    async fn a_retried_batch_is_stored_once_and_top_reaches_past_a_page() {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(dir.path()).unwrap();
        let batch: Vec<Record> = (0..1500).map(|i| rec(i, "alice", i)).collect();
        store.append(batch.clone()).await.unwrap();
        store.append(batch).await.unwrap();
        let mut other_stage = rec(1, "alice", 1);
        other_stage.stage = "ResponseStarted".into();
        store.append(vec![other_stage]).await.unwrap();
        let top = store.top(Filter::default(), 5000).await.unwrap();
        assert_eq!((top.total, top.items.len()), (1501, 1501));
        assert_eq!(top.items[0].request_received_timestamp, 1499, "newest first");
        assert_eq!(store.export(Filter::default(), 1200).await.unwrap().len(), 1200);
    }

    #[test]
    fn a_committed_batch_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let store = EventStore::open(dir.path()).unwrap();
            store.append(vec![rec(1, "alice", 1), rec(2, "bob", 2)]).await.unwrap();
        });
        let conn = open(&dir.path().join("events.db"), false).unwrap();
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        let n: i64 = conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 2);
    }
}
