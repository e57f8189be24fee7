//! Following one log path: reads its lines from the checkpointed position, turns each into a
//! record (CRI lines are parsed and their partial pieces joined; other files are taken line by
//! line) and hands it to the buffer, waiting while the buffer is full.
//!
//! Rotation (the path renamed away and a new file created in its place) is followed by reading
//! the old file to its end first, then the new one from its start; after a restart, a
//! checkpointed file found under another name in the same directory (kubelet's
//! `0.log.<timestamp>`, logrotate's `app.log.1`) is finished first too. Truncation (the file
//! shorter than the position) starts the file over. While paused by a full buffer, the open
//! file is kept (a renamed file can still be read), unless it has been deleted: then it is let
//! go so its disk space is freed, and the lines it still held are counted as lost.

use std::{
    fs,
    io::{Read as _, Seek as _, SeekFrom},
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
    sync::{Arc, RwLock, atomic::Ordering::Relaxed},
    time::Duration,
};

use tokio::sync::watch;

use crate::{
    buffer::{Buffer, Record},
    checkpoint::Checkpoints,
    cri,
    stats::Stats,
};

/// How a file's lines are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `/var/log/pods` files.
    Cri,
    /// One message per line (host files, files inside containers).
    Plain,
}

/// What the discovery loop tells a reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Run,
    /// The path is no longer wanted because it is gone: read what is left, then stop.
    Finish,
    /// The rule was removed: stop now.
    Abort,
}

/// One followed path.
pub struct StreamSpec {
    /// The checkpoint key (rule and path).
    pub key: Arc<str>,
    pub path: PathBuf,
    pub format: Format,
    pub dest: u32,
    /// The start of every document: `{"node":…,"namespace":…,…,"file":…` (no closing brace),
    /// replaced by the discovery loop when the pod's labels change.
    pub prefix: Arc<RwLock<Arc<str>>>,
}

pub struct Shared {
    pub buffer: Arc<Buffer>,
    pub checkpoints: Arc<Checkpoints>,
    pub stats: Arc<Stats>,
    pub poll: Duration,
}

/// Appends `s` as a JSON string.
pub fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

struct Open {
    file: fs::File,
    id: u64,
    /// Bytes consumed (up to the end of the last complete line).
    offset: u64,
    /// Bytes read past `offset`: the start of a line whose newline has not come yet.
    carry: Vec<u8>,
    joiner: cri::Joiner,
}

impl Open {
    fn at(file: fs::File, id: u64, offset: u64) -> Open {
        Open { file, id, offset, carry: Vec::new(), joiner: cri::Joiner::default() }
    }
}

fn open(path: &Path) -> Option<(fs::File, u64)> {
    let f = fs::File::open(path).ok()?;
    let id = f.metadata().ok()?.ino();
    Some((f, id))
}

/// The file of `dir` with inode `id` (a rotated-away file), if any.
fn find_by_id(dir: &Path, id: u64) -> Option<PathBuf> {
    fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.ino() == id))
}

/// Counts the lines in a file from `offset` on (what a deleted file still held).
fn count_rest(file: &mut fs::File, offset: u64) -> (u64, u64) {
    let mut lines = 0;
    let mut bytes = 0;
    if file.seek(SeekFrom::Start(offset)).is_err() {
        return (0, 0);
    }
    let mut buf = vec![0u8; 1 << 16];
    let mut last = b'\n';
    while let Ok(n) = file.read(&mut buf) {
        if n == 0 {
            break;
        }
        bytes += n as u64;
        lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
        last = buf[n - 1];
    }
    if last != b'\n' {
        lines += 1;
    }
    (lines, bytes)
}

/// How long a rotated-away file must stay quiet before the reader moves to the new one.
const ROTATE_WAIT: Duration = Duration::from_millis(1000);

/// Follows `spec.path` until told to stop.
pub async fn run(spec: StreamSpec, sh: Arc<Shared>, mut cmd: watch::Receiver<Command>) {
    let mut cur: Option<Open> = None;
    // After a restart: resume the checkpointed file, wherever it is now.
    if let Some(pos) = sh.checkpoints.get(&spec.key) {
        match open(&spec.path) {
            Some((f, id)) if id == pos.file_id => cur = Some(Open::at(f, id, pos.offset)),
            _ => {
                let dir = spec.path.parent().unwrap_or(Path::new("/"));
                match find_by_id(dir, pos.file_id).and_then(|p| open(&p)) {
                    Some((f, id)) if id == pos.file_id => {
                        tracing::info!(path = %spec.path.display(), "finishing the file rotated away while the agent was stopped");
                        cur = Some(Open::at(f, id, pos.offset));
                    }
                    _ => {
                        sh.stats.files_lost.fetch_add(1, Relaxed);
                        tracing::warn!(path = %spec.path.display(), offset = pos.offset, "the file this path held at the last checkpoint was rotated away and deleted while the agent was stopped: the lines it had after the checkpoint are lost");
                    }
                }
            }
        }
    }
    sh.stats.files_open.fetch_add(1, Relaxed);
    let mut buf = vec![0u8; 1 << 16];
    let mut records = Vec::new();
    // When the path was seen pointing at a new file while the old one had nothing more: the
    // runtime may still write a few lines to the old file before it reopens, so the old file is
    // read until it has been quiet for `ROTATE_WAIT`.
    let mut rotated_since: Option<std::time::Instant> = None;
    loop {
        if *cmd.borrow() == Command::Abort {
            break;
        }
        if cur.is_none() {
            cur = open(&spec.path).map(|(f, id)| Open::at(f, id, 0));
        }
        let mut progressed = false;
        if let Some(o) = cur.as_mut() {
            // Truncated under us: start over.
            if let Ok(m) = o.file.metadata()
                && m.len() < o.offset + o.carry.len() as u64
            {
                tracing::info!(path = %spec.path.display(), size = m.len(), offset = o.offset, "file truncated: reading it from its start");
                o.offset = 0;
                o.carry.clear();
                o.joiner.reset();
            }
            let n =
                match o.file.seek(SeekFrom::Start(o.offset + o.carry.len() as u64)).and_then(|_| o.file.read(&mut buf))
                {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::warn!(path = %spec.path.display(), error = %e, "reading failed");
                        0
                    }
                };
            if n > 0 {
                progressed = true;
                let prefix = spec.prefix.read().map(|p| p.clone()).unwrap_or_else(|p| p.into_inner().clone());
                split_lines(o, &buf[..n], &spec, &prefix, &sh.stats, &mut records);
                if !push_all(&mut records, o, &spec, &sh).await {
                    // The file was deleted while paused: its rest is counted as lost.
                    cur = None;
                    if *cmd.borrow() == Command::Finish {
                        break;
                    }
                    continue;
                }
            }
        }
        if progressed {
            rotated_since = None;
            continue;
        }
        // At the end of the current file: rotated (a new file at the path) → next file.
        let now = fs::metadata(&spec.path).ok().map(|m| m.ino());
        let rotated = match (&cur, now) {
            (Some(o), Some(id)) => id != o.id,
            (Some(_), None) => false,
            (None, _) => false,
        };
        if rotated {
            let since = *rotated_since.get_or_insert_with(std::time::Instant::now);
            if since.elapsed() >= ROTATE_WAIT {
                if let Some(o) = cur.as_mut() {
                    finish_partial(o, &spec, &sh).await;
                }
                cur = None;
                rotated_since = None;
                continue;
            }
        }
        if *cmd.borrow() == Command::Finish {
            if let Some(o) = cur.as_mut() {
                finish_partial(o, &spec, &sh).await;
            }
            if let Err(e) = sh.checkpoints.remove(&spec.key) {
                tracing::warn!(error = %e, "cannot save the positions");
            }
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(sh.poll) => {}
            _ = cmd.changed() => {}
        }
    }
    sh.stats.files_open.fetch_sub(1, Relaxed);
}

/// A last line without its newline in a file that will not grow any more: shipped as it is.
async fn finish_partial(o: &mut Open, spec: &StreamSpec, sh: &Shared) {
    if o.carry.is_empty() {
        return;
    }
    let prefix = spec.prefix.read().map(|p| p.clone()).unwrap_or_else(|p| p.into_inner().clone());
    let mut records = Vec::new();
    o.carry.push(b'\n');
    let carry = std::mem::take(&mut o.carry);
    split_lines(o, &carry, spec, &prefix, &sh.stats, &mut records);
    // The synthetic newline is not in the file.
    if let Some(r) = records.last_mut() {
        r.offset = r.offset.saturating_sub(1);
    }
    push_all(&mut records, o, spec, sh).await;
}

/// Splits `data` (read at `o.offset + carry`) into records.
fn split_lines(o: &mut Open, data: &[u8], spec: &StreamSpec, prefix: &str, stats: &Stats, out: &mut Vec<Record>) {
    let mut start = 0;
    let mut lines = 0;
    while let Some(nl) = data[start..].iter().position(|b| *b == b'\n') {
        let end = start + nl;
        let line_bytes: std::borrow::Cow<'_, [u8]> = if o.carry.is_empty() {
            std::borrow::Cow::Borrowed(&data[start..end])
        } else {
            let mut v = std::mem::take(&mut o.carry);
            v.extend_from_slice(&data[start..end]);
            std::borrow::Cow::Owned(v)
        };
        let consumed = line_bytes.len() as u64 + 1;
        o.offset += consumed;
        let text = String::from_utf8_lossy(&line_bytes);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        lines += 1;
        let doc = match spec.format {
            Format::Cri => {
                let l = cri::parse(text);
                o.joiner.feed(&l).map(|msg| render(prefix, l.time, l.stream, &msg))
            }
            Format::Plain => Some(render(prefix, "", "", text)),
        };
        if let Some(doc) = doc {
            out.push(Record { stream: spec.key.clone(), file_id: o.id, offset: o.offset, dest: spec.dest, doc });
        }
        start = end + 1;
    }
    o.carry.extend_from_slice(&data[start..]);
    stats.lines_read.fetch_add(lines, Relaxed);
}

fn render(prefix: &str, time: &str, stream: &str, msg: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + msg.len() + 80);
    s.push_str(prefix);
    s.push_str(",\"time\":");
    if time.is_empty() {
        push_json_str(&mut s, &chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true));
    } else {
        push_json_str(&mut s, time);
    }
    if !stream.is_empty() {
        s.push_str(",\"stream\":");
        push_json_str(&mut s, stream);
    }
    s.push_str(",\"log\":");
    push_json_str(&mut s, msg);
    s.push('}');
    s
}

/// Pushes the records, pausing while the buffer is full. Returns false when the file was
/// deleted during the pause and has been let go (the unsent lines are counted as lost).
async fn push_all(records: &mut Vec<Record>, o: &mut Open, spec: &StreamSpec, sh: &Shared) -> bool {
    let mut pending = std::mem::take(records).into_iter();
    while let Some(mut rec) = pending.next() {
        let mut paused = false;
        loop {
            match sh.buffer.try_push(rec) {
                Ok(()) => break,
                Err(r) => rec = r,
            }
            if !paused {
                paused = true;
                sh.stats.paused_readers.fetch_add(1, Relaxed);
            }
            tokio::select! {
                _ = sh.buffer.wait_not_full() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
            if o.file.metadata().is_ok_and(|m| m.nlink() == 0) {
                sh.stats.paused_readers.fetch_sub(1, Relaxed);
                let unsent = 1 + pending.len() as u64;
                let (rest_lines, rest_bytes) = count_rest(&mut o.file, o.offset + o.carry.len() as u64);
                let lost = unsent + rest_lines;
                let lost_bytes = rest_bytes + o.carry.len() as u64;
                sh.stats.lines_lost.fetch_add(lost, Relaxed);
                sh.stats.bytes_lost.fetch_add(lost_bytes, Relaxed);
                tracing::warn!(path = %spec.path.display(), lines = lost, "the buffer is full and the file was deleted while its reader waited: its unsent lines are lost");
                return false;
            }
        }
        if paused {
            sh.stats.paused_readers.fetch_sub(1, Relaxed);
        }
    }
    true
}
