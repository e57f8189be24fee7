//! What happened in the registry, for whoever keeps records of it (the platform's Repository
//! objects: tags, pull counts; Chart objects: versions): an [`Event`] per manifest push, pull
//! and delete and per chart upload, download and version delete, handed to an [`EventSink`]. Sinks must not block: the request that caused the event is still running.

use std::time::SystemTime;

/// What was done to a manifest or a chart version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Push,
    Pull,
    Delete,
    /// A chart version uploaded to a chart repository (`/chart/api/...`). Chart events carry
    /// the chart group as `namespace`, the chart as `name`, the version as `tag` and the
    /// archive's digest and size.
    ChartPush,
    /// A chart archive downloaded (GET, not HEAD).
    ChartPull,
    /// A chart version deleted.
    ChartDelete,
}

impl Action {
    /// Whether the event is about a chart repository rather than an image manifest.
    pub fn is_chart(self) -> bool {
        matches!(self, Action::ChartPush | Action::ChartPull | Action::ChartDelete)
    }
}

/// One manifest push, pull (GET, not HEAD) or delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub action: Action,
    /// Tenant owning the repository (empty when the registry has no tenancy).
    pub tenant: String,
    /// The repository as the client named it (`team/app`).
    pub repository: String,
    /// Its namespace (`team`) and path in the namespace (`app`); with no tenancy, the first
    /// component and the rest (or an empty namespace for one-component names).
    pub namespace: String,
    pub name: String,
    /// The tag pushed, pulled or deleted. A pull by digest carries a tag pointing at that
    /// digest, if any, so that `docker pull` (which resolves the tag with HEAD and then GETs by
    /// digest) counts as a pull of the tag.
    pub tag: Option<String>,
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    /// The user of the token (None for anonymous callers or without auth).
    pub user: Option<String>,
    pub user_agent: Option<String>,
    pub time: SystemTime,
}

/// Receives the registry's events.
pub trait EventSink: Send + Sync + 'static {
    fn notify(&self, event: Event);
}

/// Keeps events in memory (tests, debugging).
#[derive(Default)]
pub struct Recorder {
    events: std::sync::Mutex<Vec<Event>>,
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder::default()
    }
    /// Every event so far, oldest first.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl EventSink for Recorder {
    fn notify(&self, event: Event) {
        if let Ok(mut e) = self.events.lock() {
            e.push(event);
        }
    }
}

/// Forwards events into a channel (unbounded, so the registry never waits on the consumer).
impl EventSink for tokio::sync::mpsc::UnboundedSender<Event> {
    fn notify(&self, event: Event) {
        let _ = self.send(event);
    }
}
