//! The agent's counters: what was read, shipped, retried and (never silently) lost, served as
//! Prometheus metrics and as the status JSON.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Serialize;

#[derive(Default)]
pub struct Stats {
    pub lines_read: AtomicU64,
    pub lines_shipped: AtomicU64,
    /// Lines of files deleted while the readers were paused by a full buffer: never read.
    pub lines_lost: AtomicU64,
    pub bytes_lost: AtomicU64,
    /// Files rotated away and deleted while the agent was not running, from a known position:
    /// how much they still held is unknown.
    pub files_lost: AtomicU64,
    /// Lines an output refused for good (a 4xx per-item error of a bulk request that retrying
    /// cannot fix, e.g. a mapping conflict).
    pub lines_rejected: AtomicU64,
    pub send_errors: AtomicU64,
    pub paused_readers: AtomicU64,
    pub files_open: AtomicU64,
}

#[derive(Serialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub lines_read: u64,
    pub lines_shipped: u64,
    pub lines_lost: u64,
    pub bytes_lost: u64,
    pub files_lost: u64,
    pub lines_rejected: u64,
    pub send_errors: u64,
    pub paused_readers: u64,
    pub files_open: u64,
}

impl Stats {
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            lines_read: self.lines_read.load(Relaxed),
            lines_shipped: self.lines_shipped.load(Relaxed),
            lines_lost: self.lines_lost.load(Relaxed),
            bytes_lost: self.bytes_lost.load(Relaxed),
            files_lost: self.files_lost.load(Relaxed),
            lines_rejected: self.lines_rejected.load(Relaxed),
            send_errors: self.send_errors.load(Relaxed),
            paused_readers: self.paused_readers.load(Relaxed),
            files_open: self.files_open.load(Relaxed),
        }
    }

    /// Prometheus text format.
    pub fn prometheus(&self, buffer: crate::buffer::Usage) -> String {
        let s = self.snapshot();
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, v: u64| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"));
        };
        metric("logagent_lines_read_total", "counter", "Lines read from log files.", s.lines_read);
        metric("logagent_lines_shipped_total", "counter", "Lines acknowledged by an output.", s.lines_shipped);
        metric(
            "logagent_lines_lost_total",
            "counter",
            "Lines of files deleted while the readers were paused by a full buffer.",
            s.lines_lost,
        );
        metric(
            "logagent_bytes_lost_total",
            "counter",
            "Bytes of files deleted while the readers were paused by a full buffer.",
            s.bytes_lost,
        );
        metric(
            "logagent_files_lost_total",
            "counter",
            "Files rotated away and deleted while the agent was not running, before they were read to their end.",
            s.files_lost,
        );
        metric(
            "logagent_lines_rejected_total",
            "counter",
            "Lines an output refused with a permanent error.",
            s.lines_rejected,
        );
        metric("logagent_send_errors_total", "counter", "Failed sends to an output (each retried).", s.send_errors);
        metric("logagent_paused_readers", "gauge", "Readers waiting for room in the buffer.", s.paused_readers);
        metric("logagent_files_open", "gauge", "Log files being read.", s.files_open);
        metric("logagent_buffer_memory_bytes", "gauge", "Bytes queued in memory.", buffer.memory_bytes);
        metric(
            "logagent_buffer_records_in_flight",
            "gauge",
            "Records being shipped (taken from the buffer, not yet acknowledged).",
            buffer.records_in_flight as u64,
        );
        metric("logagent_buffer_disk_bytes", "gauge", "Bytes queued in the disk spool.", buffer.disk_bytes);
        out
    }
}
