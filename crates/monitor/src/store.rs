//! The embedded time-series store: what the platform keeps of its clusters' core metrics when
//! no Prometheus backend is configured.
//!
//! A series is a metric name and its labels; a sample is 8 bytes (seconds since the epoch as
//! `u32`, the value as `f32`: CPU cores, bytes and percentages need no more precision). The
//! store counts what it holds (samples, plus each series' key and bookkeeping) and never holds
//! more than its byte limit: after every append, the oldest samples of the whole store go first
//! (the earliest timestamp, across every series) until it fits, and samples older than the
//! retention go too; each drop is counted ([`Stats`]). The disk copy is the same bytes written
//! to one file of the data directory (atomically, by the replica that samples), so the limit of
//! the disk is the same figure: the store is capped by the smaller of the memory and disk
//! limits. A restart reads the file back.

use std::{
    collections::{HashMap, VecDeque},
    io::{Read, Write},
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
};

/// What bookkeeping a series costs beyond its key and samples (map entry, deque header).
const SERIES_OVERHEAD: usize = 64;
/// One sample.
pub const SAMPLE_BYTES: usize = 8;
const MAGIC: &[u8] = b"TKEMETRICS1\n";

/// A series' identity: `metric{k="v",...}` with labels sorted by name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub metric: String,
    pub labels: Vec<(String, String)>,
}

impl SeriesKey {
    pub fn new(metric: &str, labels: &[(&str, &str)]) -> Self {
        let mut labels: Vec<(String, String)> =
            labels.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.to_string(), v.to_string())).collect();
        labels.sort();
        SeriesKey { metric: metric.to_string(), labels }
    }

    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn cost(&self) -> usize {
        SERIES_OVERHEAD + self.metric.len() + self.labels.iter().map(|(k, v)| k.len() + v.len() + 16).sum::<usize>()
    }

    fn encode(&self) -> String {
        let labels: Vec<String> = self.labels.iter().map(|(k, v)| format!("{k}\u{1f}{v}")).collect();
        format!("{}\u{1e}{}", self.metric, labels.join("\u{1e}"))
    }

    fn decode(s: &str) -> Option<Self> {
        let mut parts = s.split('\u{1e}');
        let metric = parts.next()?.to_string();
        let labels = parts
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once('\u{1f}').map(|(k, v)| (k.to_string(), v.to_string())))
            .collect::<Option<Vec<_>>>()?;
        Some(SeriesKey { metric, labels })
    }
}

/// The store's limits.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Bytes held (memory and disk alike).
    pub bytes: usize,
    /// Samples older than this many seconds are dropped.
    pub retention_seconds: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { bytes: 256 << 20, retention_seconds: 24 * 3600 }
    }
}

/// What the store holds and has dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub series: usize,
    pub samples: usize,
    pub bytes: usize,
    /// Samples dropped to stay under the byte limit.
    pub dropped_for_space: u64,
    /// Samples dropped for being older than the retention.
    pub dropped_for_age: u64,
}

#[derive(Default)]
struct Inner {
    series: HashMap<Arc<SeriesKey>, VecDeque<(u32, f32)>>,
    bytes: usize,
    samples: usize,
    dropped_for_space: u64,
    dropped_for_age: u64,
}

/// The store; cheap to share.
pub struct SeriesStore {
    inner: RwLock<Inner>,
    limits: Limits,
    file: Option<PathBuf>,
}

/// One series read back: its key and samples (milliseconds, value) in time order.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesData {
    pub key: Arc<SeriesKey>,
    pub samples: Vec<(i64, f64)>,
}

impl SeriesStore {
    /// An empty store, in memory only.
    pub fn new(limits: Limits) -> Self {
        SeriesStore { inner: RwLock::new(Inner::default()), limits, file: None }
    }

    /// A store kept in `file` too, loaded from it when it exists (a file that cannot be read
    /// is set aside as `*.corrupt` and the store starts empty: history is not worth a crash).
    pub fn open(file: &Path, limits: Limits) -> Self {
        let mut store = SeriesStore::new(limits);
        store.file = Some(file.to_path_buf());
        let store = store;
        match std::fs::File::open(file) {
            Ok(f) => {
                if let Err(e) = store.load(f) {
                    tracing::warn!(file = %file.display(), error = %e, "the metrics file cannot be read; starting empty");
                    let _ = std::fs::rename(file, file.with_extension("corrupt"));
                    *store.write() = Inner::default();
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(file = %file.display(), error = %e, "the metrics file cannot be opened"),
        }
        store
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Appends samples taken at `time` (seconds since the epoch), then drops what is too old
    /// and, oldest first, what does not fit.
    pub fn append(&self, time: u32, samples: impl IntoIterator<Item = (SeriesKey, f64)>) {
        let mut inner = self.write();
        for (key, value) in samples {
            let inner = &mut *inner;
            let cost = key.cost();
            let series = match inner.series.entry(Arc::new(key)) {
                std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    inner.bytes += cost;
                    v.insert(VecDeque::new())
                }
            };
            // A sample at or before the last one replaces nothing: time only moves forward.
            if series.back().is_some_and(|(t, _)| *t >= time) {
                continue;
            }
            series.push_back((time, value as f32));
            inner.bytes += SAMPLE_BYTES;
            inner.samples += 1;
        }
        let horizon = time.saturating_sub(self.limits.retention_seconds);
        Self::drop_before(&mut inner, horizon, false);
        while inner.bytes > self.limits.bytes && inner.samples > 0 {
            let Some(oldest) = inner.series.values().filter_map(|s| s.front().map(|(t, _)| *t)).min() else { break };
            Self::drop_before(&mut inner, oldest.saturating_add(1), true);
        }
        // Series without samples cost their key: the last resort when keys alone do not fit.
        if inner.bytes > self.limits.bytes {
            let empty: Vec<Arc<SeriesKey>> =
                inner.series.iter().filter(|(_, s)| s.is_empty()).map(|(k, _)| k.clone()).collect();
            for k in empty {
                inner.bytes -= k.cost();
                inner.series.remove(&k);
            }
        }
    }

    /// Drops samples before `horizon`, and series left empty.
    fn drop_before(inner: &mut Inner, horizon: u32, for_space: bool) {
        let mut dropped = 0usize;
        let mut freed_keys = 0usize;
        inner.series.retain(|k, s| {
            while s.front().is_some_and(|(t, _)| *t < horizon) {
                s.pop_front();
                dropped += 1;
            }
            if s.is_empty() {
                freed_keys += k.cost();
                return false;
            }
            true
        });
        inner.samples -= dropped;
        inner.bytes -= dropped * SAMPLE_BYTES + freed_keys;
        if for_space {
            inner.dropped_for_space += dropped as u64;
        } else {
            inner.dropped_for_age += dropped as u64;
        }
    }

    pub fn stats(&self) -> Stats {
        let inner = self.read();
        Stats {
            series: inner.series.len(),
            samples: inner.samples,
            bytes: inner.bytes,
            dropped_for_space: inner.dropped_for_space,
            dropped_for_age: inner.dropped_for_age,
        }
    }

    /// The series of `metrics` that `filter` accepts, with their samples in `[start, end]`
    /// (milliseconds).
    pub fn select(
        &self,
        metrics: &[String],
        filter: impl Fn(&SeriesKey) -> bool,
        start_ms: i64,
        end_ms: i64,
    ) -> Vec<SeriesData> {
        let inner = self.read();
        let mut out = vec![];
        for (key, samples) in &inner.series {
            if !metrics.iter().any(|m| *m == key.metric) || !filter(key) {
                continue;
            }
            let samples: Vec<(i64, f64)> = samples
                .iter()
                .map(|(t, v)| (i64::from(*t) * 1000, f64::from(*v)))
                .filter(|(t, _)| *t >= start_ms && *t <= end_ms)
                .collect();
            if !samples.is_empty() {
                out.push(SeriesData { key: key.clone(), samples });
            }
        }
        out
    }

    /// Writes the store to its file (a temporary file renamed over it); nothing without a file.
    pub fn persist(&self) -> std::io::Result<()> {
        let Some(file) = &self.file else { return Ok(()) };
        let mut buf = Vec::with_capacity(self.read().bytes);
        buf.extend_from_slice(MAGIC);
        {
            let inner = self.read();
            buf.extend_from_slice(&(inner.series.len() as u32).to_le_bytes());
            for (key, samples) in &inner.series {
                let k = key.encode();
                buf.extend_from_slice(&(k.len() as u32).to_le_bytes());
                buf.extend_from_slice(k.as_bytes());
                buf.extend_from_slice(&(samples.len() as u32).to_le_bytes());
                for (t, v) in samples {
                    buf.extend_from_slice(&t.to_le_bytes());
                    buf.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
        let tmp = file.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&buf)?;
        f.sync_data()?;
        std::fs::rename(&tmp, file)
    }

    fn load(&self, mut f: std::fs::File) -> std::io::Result<()> {
        use std::io::{Error, ErrorKind};
        let bad = |what: &str| Error::new(ErrorKind::InvalidData, what.to_string());
        let mut buf = vec![];
        f.read_to_end(&mut buf)?;
        let mut at = buf.strip_prefix(MAGIC).ok_or_else(|| bad("not a metrics file"))?;
        let mut take = |n: usize| -> std::io::Result<&[u8]> {
            if at.len() < n {
                return Err(bad("truncated"));
            }
            let (head, rest) = at.split_at(n);
            at = rest;
            Ok(head)
        };
        let u32_of = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let count = u32_of(take(4)?);
        let mut inner = Inner::default();
        let mut last = 0u32;
        for _ in 0..count {
            let len = u32_of(take(4)?) as usize;
            let key = std::str::from_utf8(take(len)?).map_err(|_| bad("a series name is not UTF-8"))?;
            let key = Arc::new(SeriesKey::decode(key).ok_or_else(|| bad("a series name cannot be read"))?);
            let n = u32_of(take(4)?) as usize;
            let mut samples = VecDeque::with_capacity(n);
            for _ in 0..n {
                let s = take(8)?;
                let t = u32_of(&s[..4]);
                last = last.max(t);
                samples.push_back((t, f32::from_le_bytes([s[4], s[5], s[6], s[7]])));
            }
            inner.bytes += key.cost() + n * SAMPLE_BYTES;
            inner.samples += n;
            inner.series.insert(key, samples);
        }
        *self.write() = inner;
        // Limits may have shrunk since the file was written.
        self.append(last, std::iter::empty());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(pod: &str) -> SeriesKey {
        SeriesKey::new("k8s_pod_cpu_core_used", &[("cluster_id", "cls-a"), ("pod_name", pod)])
    }

    #[test]
    fn the_byte_limit_holds_and_the_oldest_samples_go_first() {
        let limit = 20_000;
        let store = SeriesStore::new(Limits { bytes: limit, retention_seconds: 1_000_000 });
        for minute in 0..200u32 {
            store.append(minute * 60, (0..20).map(|p| (key(&format!("p{p}")), f64::from(minute))));
            assert!(store.stats().bytes <= limit, "minute {minute}: {:?}", store.stats());
        }
        let stats = store.stats();
        assert!(stats.dropped_for_space > 0);
        assert_eq!(stats.series, 20);
        let data = store.select(&["k8s_pod_cpu_core_used".into()], |_| true, 0, i64::MAX);
        // What is left is the newest, without gaps.
        for s in &data {
            let last = s.samples.last().expect("samples");
            assert_eq!(last.0, 199 * 60 * 1000);
            assert!(s.samples.windows(2).all(|w| w[1].0 - w[0].0 == 60_000));
            assert!(s.samples.len() >= 50, "{}", s.samples.len());
        }
    }

    #[test]
    fn retention_drops_old_samples_and_series() {
        let store = SeriesStore::new(Limits { bytes: usize::MAX, retention_seconds: 600 });
        store.append(0, [(key("gone"), 1.0)]);
        for t in 1..=20 {
            store.append(t * 60, [(key("kept"), f64::from(t))]);
        }
        let s = store.stats();
        assert_eq!(s.series, 1);
        assert_eq!(s.samples, 11);
        assert_eq!(s.dropped_for_age, 10);
    }

    #[test]
    fn the_file_keeps_history_across_restarts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("metrics.bin");
        let store = SeriesStore::open(&file, Limits::default());
        store.append(60, [(key("a"), 0.25), (key("b"), 2.0)]);
        store.append(120, [(key("a"), 0.5)]);
        store.persist().expect("persist");
        let again = SeriesStore::open(&file, Limits::default());
        assert_eq!(again.stats(), store.stats());
        let a = again.select(&["k8s_pod_cpu_core_used".into()], |k| k.label("pod_name") == Some("a"), 0, i64::MAX);
        assert_eq!(a[0].samples, vec![(60_000, 0.25), (120_000, 0.5)]);
        std::fs::write(&file, b"garbage").expect("write");
        assert_eq!(SeriesStore::open(&file, Limits::default()).stats().series, 0);
    }
}
