//! Periodic compaction: keeps one interval of history, as kube-apiserver's compactor does, so
//! watchers that fall behind by less than an interval can resume and older history is freed.

use std::{sync::Arc, time::Duration};

use crate::{Revision, Store, StoreError};

/// Spawns a task that, every `interval`, compacts history below the revision that was current
/// one tick earlier. A watch or list resumed from a revision less than one interval old keeps
/// working. Errors are logged and retried on the next tick; the task never panics. Needs a tokio
/// runtime; without one it logs an error and does nothing.
pub fn spawn_compactor(store: Arc<dyn Store>, interval: Duration) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::error!("storage compactor not started: no tokio runtime");
        return;
    };
    let interval = interval.max(Duration::from_millis(10));
    runtime.spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The revision seen at the previous tick: what this tick compacts to.
        let mut previous: Option<Revision> = None;
        loop {
            // The first tick completes at once: it only records the starting revision.
            ticker.tick().await;
            previous = compact_once(store.as_ref(), previous).await;
        }
    });
}

/// One tick: compacts to `previous` (if any and not yet compacted) and returns the current
/// revision for the next tick. If the store cannot be read, keeps `previous` for the next try.
async fn compact_once(store: &dyn Store, previous: Option<Revision>) -> Option<Revision> {
    let (current, compacted) = match store.revisions().await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "storage compaction: cannot read the store revision; will retry");
            return previous;
        }
    };
    if let Some(target) = previous
        && target > compacted
    {
        match store.compact(target).await {
            Ok(()) => tracing::info!(revision = target, current, "storage compacted"),
            // Another API server sharing the store compacted further meanwhile.
            Err(StoreError::Compacted { .. }) => tracing::debug!(revision = target, "storage already compacted"),
            Err(e) => tracing::warn!(error = %e, revision = target, "storage compaction failed; will retry"),
        }
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyValue, RangeResult, Watch};
    use std::sync::Mutex;

    /// A store that only reports revisions and records compactions.
    struct Fake {
        revisions: Mutex<Vec<Result<(Revision, Revision), StoreError>>>,
        compacted: Mutex<Vec<Revision>>,
    }

    #[async_trait::async_trait]
    impl Store for Fake {
        async fn get(&self, _: &str) -> crate::Result<(Option<KeyValue>, Revision)> {
            Err(StoreError::Internal("unused".into()))
        }
        async fn range(&self, _: &str, _: &str, _: usize, _: Revision) -> crate::Result<RangeResult> {
            Err(StoreError::Internal("unused".into()))
        }
        async fn create(&self, _: &str, _: bytes::Bytes) -> crate::Result<KeyValue> {
            Err(StoreError::Internal("unused".into()))
        }
        async fn update(&self, _: &str, _: bytes::Bytes, _: Revision) -> crate::Result<KeyValue> {
            Err(StoreError::Internal("unused".into()))
        }
        async fn delete(&self, _: &str, _: Option<Revision>) -> crate::Result<(KeyValue, Revision)> {
            Err(StoreError::Internal("unused".into()))
        }
        async fn watch(&self, _: &str, _: Revision) -> crate::Result<Watch> {
            Err(StoreError::Internal("unused".into()))
        }
        async fn compact(&self, revision: Revision) -> crate::Result<()> {
            self.compacted.lock().unwrap().push(revision);
            Ok(())
        }
        async fn revisions(&self) -> crate::Result<(Revision, Revision)> {
            self.revisions.lock().unwrap().remove(0)
        }
    }

    #[tokio::test]
    async fn compacts_to_the_revision_seen_one_tick_earlier() {
        let fake = Fake {
            revisions: Mutex::new(vec![
                Ok((10, 1)),
                Ok((15, 1)),
                Err(StoreError::Unavailable("down".into())),
                Ok((20, 10)),
                Ok((20, 15)),
                Ok((20, 20)),
            ]),
            compacted: Mutex::new(Vec::new()),
        };
        let mut prev = None;
        for _ in 0..6 {
            prev = compact_once(&fake, prev).await;
        }
        // Tick 1 records 10; tick 2 compacts to 10; tick 3 fails and keeps 15; tick 4 compacts
        // to 15; tick 5 compacts to 20; tick 6 sees 20 already compacted.
        assert_eq!(*fake.compacted.lock().unwrap(), vec![10, 15, 20]);
        assert_eq!(prev, Some(20));
    }
}
