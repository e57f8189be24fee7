//! The bounded buffer between the file readers and the shipper: records queue in memory up to
//! `memory_cap` bytes, then in spool segment files in the state directory up to `disk_cap`
//! bytes; when both are full, [`Buffer::push`] waits (the readers pause, nothing is dropped).
//! Order is kept: once records spill to disk, later ones follow them there until the spool has
//! drained. The spool is not the durable record of what is unsent: the checkpoints are (they
//! only move past acknowledged lines), so the spool is emptied at start and its lines are read
//! again from their files.
//!
//! A batch taken by the shipper stays counted (in the memory figures of [`Usage`]) until the
//! shipper hands it back with [`Buffer::done`] after the output acknowledged it and the
//! positions moved: the buffer reads empty only when every line it took in has been shipped or
//! rejected, so whoever watches the usage (the status endpoint, the tests) never sees a settled
//! agent while lines are still on their way.

use std::{
    collections::VecDeque,
    fs,
    io::{BufRead as _, BufReader, BufWriter, Write as _},
    path::PathBuf,
    sync::{Arc, Mutex},
};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// One line ready to ship.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// The checkpoint key of the file stream it came from.
    pub stream: Arc<str>,
    /// Identity (inode) of the file it was read from.
    pub file_id: u64,
    /// Offset just past the line in that file: the position to checkpoint once it is shipped.
    pub offset: u64,
    /// Which output it goes to (see [`crate::ship::Outputs`]).
    pub dest: u32,
    /// The JSON document.
    pub doc: String,
}

impl Record {
    /// Bytes it holds, for the caps.
    pub fn size(&self) -> u64 {
        (self.doc.len() + self.stream.len() + 48) as u64
    }
}

#[derive(Serialize)]
struct SpoolOut<'a> {
    s: &'a str,
    i: u64,
    o: u64,
    d: u32,
    doc: &'a str,
}

#[derive(Deserialize)]
struct SpoolIn {
    s: String,
    i: u64,
    o: u64,
    d: u32,
    doc: String,
}

/// Segment files are sealed at this size.
const SEGMENT_BYTES: u64 = 1 << 20;

struct Writer {
    path: PathBuf,
    out: BufWriter<fs::File>,
    records: usize,
}

#[derive(Default)]
struct Inner {
    mem: VecDeque<Record>,
    mem_bytes: u64,
    /// Records read back from the oldest segment, not yet taken.
    disk_read: VecDeque<Record>,
    /// Sealed segments, oldest first, with the bytes each holds.
    sealed: VecDeque<(PathBuf, u64)>,
    writer: Option<Writer>,
    writer_bytes: u64,
    disk_bytes: u64,
    next_segment: u64,
    /// Records taken by the shipper and not yet acknowledged ([`Buffer::done`]).
    in_flight: usize,
    in_flight_bytes: u64,
    closed: bool,
}

impl Inner {
    fn disk_in_use(&self) -> bool {
        !self.disk_read.is_empty() || !self.sealed.is_empty() || self.writer.is_some()
    }
}

/// What the buffer holds now (for the status and the metrics).
#[derive(Clone, Copy, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// Queued in memory, read back from the spool, or being shipped.
    pub memory_bytes: u64,
    pub disk_bytes: u64,
    /// Records queued in memory, read back from the spool, or being shipped.
    pub records_in_memory: usize,
    /// Of those, the records being shipped (taken, not yet acknowledged).
    pub records_in_flight: usize,
}

pub struct Buffer {
    inner: Mutex<Inner>,
    memory_cap: u64,
    disk_cap: u64,
    dir: PathBuf,
    not_empty: Notify,
    not_full: Notify,
}

impl Buffer {
    /// A buffer spooling into `dir` (emptied: see the module's note).
    pub fn new(dir: PathBuf, memory_cap: u64, disk_cap: u64) -> std::io::Result<Buffer> {
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir)?;
        Ok(Buffer {
            inner: Mutex::new(Inner::default()),
            memory_cap: memory_cap.max(1),
            disk_cap,
            dir,
            not_empty: Notify::new(),
            not_full: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a record, or gives it back when memory and disk are full (then wait with
    /// [`Buffer::wait_not_full`] and try again).
    pub fn try_push(&self, rec: Record) -> Result<(), Record> {
        let size = rec.size();
        let mut g = self.lock();
        // An empty memory queue always takes one record, whatever its size, so a line larger
        // than the caps still goes through.
        if !g.disk_in_use() && (g.mem_bytes + size <= self.memory_cap || g.mem.is_empty()) {
            g.mem_bytes += size;
            g.mem.push_back(rec);
            drop(g);
            self.not_empty.notify_one();
            return Ok(());
        }
        if g.disk_bytes + size > self.disk_cap {
            return Err(rec);
        }
        if let Err(e) = self.spool(&mut g, &rec) {
            tracing::warn!(error = %e, dir = %self.dir.display(), "cannot write to the disk spool: the readers wait for the memory buffer");
            return Err(rec);
        }
        g.disk_bytes += size;
        drop(g);
        self.not_empty.notify_one();
        Ok(())
    }

    fn spool(&self, g: &mut Inner, rec: &Record) -> std::io::Result<()> {
        if g.writer.is_none() {
            let path = self.dir.join(format!("{:012}.seg", g.next_segment));
            g.next_segment += 1;
            let f = fs::OpenOptions::new().create(true).write(true).truncate(true).open(&path)?;
            g.writer = Some(Writer { path, out: BufWriter::new(f), records: 0 });
            g.writer_bytes = 0;
        }
        let line = serde_json::to_string(&SpoolOut {
            s: &rec.stream,
            i: rec.file_id,
            o: rec.offset,
            d: rec.dest,
            doc: &rec.doc,
        })
        .map_err(std::io::Error::other)?;
        let size = rec.size();
        if let Some(w) = g.writer.as_mut() {
            w.out.write_all(line.as_bytes())?;
            w.out.write_all(b"\n")?;
            w.records += 1;
        }
        g.writer_bytes += size;
        if g.writer_bytes >= SEGMENT_BYTES {
            Self::seal(g)?;
        }
        Ok(())
    }

    fn seal(g: &mut Inner) -> std::io::Result<()> {
        if let Some(mut w) = g.writer.take() {
            w.out.flush()?;
            if w.records > 0 {
                g.sealed.push_back((w.path, g.writer_bytes));
            } else {
                let _ = fs::remove_file(&w.path);
            }
        }
        g.writer_bytes = 0;
        Ok(())
    }

    /// Reads the oldest segment back into memory (and deletes its file).
    fn load_segment(g: &mut Inner) -> std::io::Result<()> {
        if g.sealed.is_empty() {
            Self::seal(g)?;
        }
        let Some((path, bytes)) = g.sealed.pop_front() else { return Ok(()) };
        let f = fs::File::open(&path)?;
        for line in BufReader::new(f).lines() {
            let line = line?;
            match serde_json::from_str::<SpoolIn>(&line) {
                Ok(r) => g.disk_read.push_back(Record {
                    stream: Arc::from(r.s.as_str()),
                    file_id: r.i,
                    offset: r.o,
                    dest: r.d,
                    doc: r.doc,
                }),
                Err(e) => tracing::warn!(error = %e, path = %path.display(), "a spool record cannot be read back"),
            }
        }
        let _ = fs::remove_file(&path);
        g.disk_bytes = g.disk_bytes.saturating_sub(bytes);
        Ok(())
    }

    /// Waits until [`Buffer::try_push`] may succeed (something was taken out).
    pub async fn wait_not_full(&self) {
        self.not_full.notified().await;
    }

    /// Adds a record, waiting while the buffer is full.
    pub async fn push(&self, mut rec: Record) {
        loop {
            let waiter = self.not_full.notified();
            tokio::pin!(waiter);
            waiter.as_mut().enable();
            match self.try_push(rec) {
                Ok(()) => return,
                Err(r) => rec = r,
            }
            waiter.await;
        }
    }

    /// Takes up to `max_records` / about `max_bytes` of the oldest records, waiting for at
    /// least one; None once closed and empty.
    pub async fn pop_batch(&self, max_records: usize, max_bytes: u64) -> Option<Vec<Record>> {
        loop {
            let waiter = self.not_empty.notified();
            tokio::pin!(waiter);
            waiter.as_mut().enable();
            {
                let mut g = self.lock();
                let mut out = Vec::new();
                let mut bytes = 0;
                while out.len() < max_records && bytes < max_bytes {
                    if let Some(r) = g.mem.pop_front() {
                        g.mem_bytes -= r.size();
                        bytes += r.size();
                        out.push(r);
                        continue;
                    }
                    if let Some(r) = g.disk_read.pop_front() {
                        bytes += r.size();
                        out.push(r);
                        continue;
                    }
                    if g.sealed.is_empty() && g.writer.is_none() {
                        break;
                    }
                    if let Err(e) = Self::load_segment(&mut g) {
                        tracing::warn!(error = %e, "cannot read the disk spool back");
                        break;
                    }
                }
                if !out.is_empty() {
                    g.in_flight += out.len();
                    g.in_flight_bytes += bytes;
                    drop(g);
                    self.not_full.notify_waiters();
                    return Some(out);
                }
                if g.closed {
                    return None;
                }
            }
            waiter.await;
        }
    }

    pub fn usage(&self) -> Usage {
        let g = self.lock();
        let read_back: u64 = g.disk_read.iter().map(Record::size).sum();
        Usage {
            memory_bytes: g.mem_bytes + read_back + g.in_flight_bytes,
            disk_bytes: g.disk_bytes,
            records_in_memory: g.mem.len() + g.disk_read.len() + g.in_flight,
            records_in_flight: g.in_flight,
        }
    }

    /// The shipper is done with a batch from [`Buffer::pop_batch`] (acknowledged or rejected,
    /// and checkpointed): it no longer counts.
    pub fn done(&self, batch: &[Record]) {
        let bytes: u64 = batch.iter().map(Record::size).sum();
        let mut g = self.lock();
        g.in_flight = g.in_flight.saturating_sub(batch.len());
        g.in_flight_bytes = g.in_flight_bytes.saturating_sub(bytes);
    }

    pub fn close(&self) {
        self.lock().closed = true;
        self.not_empty.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(n: u64) -> Record {
        Record { stream: Arc::from("s"), file_id: 1, offset: n, dest: 0, doc: format!("{{\"n\":{n}}}") }
    }

    #[tokio::test]
    async fn spills_to_disk_in_order_and_refuses_when_both_are_full() {
        let dir = tempfile::tempdir().expect("tempdir");
        let one = rec(0).size();
        let buf = Buffer::new(dir.path().join("spool"), one * 3, one * 4).expect("buffer");
        for n in 0..7 {
            assert_eq!(buf.try_push(rec(n)), Ok(()), "record {n} fits");
        }
        assert!(buf.try_push(rec(7)).is_err(), "memory (3) and disk (4) are full");
        let u = buf.usage();
        assert_eq!((u.memory_bytes, u.disk_bytes), (one * 3, one * 4));
        // Memory frees first, but records already spilled keep newer ones behind them: still full.
        let first = buf.pop_batch(2, u64::MAX).await.expect("batch");
        assert_eq!(first.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![0, 1]);
        assert!(buf.try_push(rec(7)).is_err());
        // Reading the spill back frees the disk: the next record queues behind the spilled ones.
        let second = buf.pop_batch(2, u64::MAX).await.expect("batch");
        assert_eq!(second.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(buf.try_push(rec(7)), Ok(()));
        let rest = buf.pop_batch(100, u64::MAX).await.expect("batch");
        assert_eq!(rest.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![4, 5, 6, 7]);
        assert_eq!(buf.usage().disk_bytes, 0);
        assert_eq!(fs::read_dir(dir.path().join("spool")).expect("dir").count(), 0, "segments are deleted once read");
    }

    #[tokio::test]
    async fn push_waits_for_room() {
        let dir = tempfile::tempdir().expect("tempdir");
        let one = rec(0).size();
        let buf = Arc::new(Buffer::new(dir.path().join("spool"), one, 0).expect("buffer"));
        buf.push(rec(0)).await;
        let b = buf.clone();
        let pusher = tokio::spawn(async move { b.push(rec(1)).await });
        tokio::task::yield_now().await;
        assert!(!pusher.is_finished());
        assert_eq!(buf.pop_batch(10, u64::MAX).await.map(|v| v.len()), Some(1));
        pusher.await.expect("push finishes once there is room");
        assert_eq!(buf.pop_batch(10, u64::MAX).await.map(|v| v[0].offset), Some(1));
    }

    /// The defect of #18: a popped batch left the usage at once, so the buffer looked empty
    /// (and the agent settled) while the shipper still held unacknowledged lines.
    #[tokio::test]
    async fn a_batch_being_shipped_stays_in_the_usage_until_it_is_acknowledged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let one = rec(0).size();
        let buf = Buffer::new(dir.path().join("spool"), one * 2, one * 4).expect("buffer");
        for n in 0..4 {
            assert_eq!(buf.try_push(rec(n)), Ok(()));
        }
        let first = buf.pop_batch(3, u64::MAX).await.expect("batch");
        assert_eq!(first.len(), 3, "two from memory, one read back from the spool");
        let u = buf.usage();
        assert_eq!(u.records_in_memory, 4, "three in flight, one read back: {u:?}");
        assert_eq!(u.memory_bytes, one * 4, "{u:?}");
        assert_eq!(u.disk_bytes, 0, "{u:?}");
        let rest = buf.pop_batch(10, u64::MAX).await.expect("batch");
        buf.done(&first);
        let u = buf.usage();
        assert_eq!((u.records_in_memory, u.memory_bytes), (1, one), "the second batch is still out: {u:?}");
        buf.done(&rest);
        let u = buf.usage();
        assert_eq!((u.records_in_memory, u.memory_bytes, u.disk_bytes), (0, 0, 0), "{u:?}");
    }
}
