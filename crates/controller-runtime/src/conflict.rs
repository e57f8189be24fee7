//! Read-modify-write against the API: another writer may get there first (409 Conflict); the
//! change is then computed again from the newer object, a bounded number of times. Works for
//! clients of the API over HTTP (`kube::Error`) and for components writing through the
//! in-process stores (`ApiError`).

use std::future::Future;

/// Attempts before a conflict is given up on (each attempt reads the object again).
pub const ATTEMPTS: u32 = 8;

/// An error that may be a lost optimistic-concurrency race.
pub trait MaybeConflict {
    fn is_conflict(&self) -> bool;
}

impl MaybeConflict for kube::Error {
    fn is_conflict(&self) -> bool {
        matches!(self, kube::Error::Api(s) if s.code == 409 && s.reason == "Conflict")
    }
}

impl MaybeConflict for apimachinery::ApiError {
    fn is_conflict(&self) -> bool {
        self.reason == apimachinery::error::Reason::Conflict
    }
}

/// Runs `f` again while it fails with a conflict, up to [`ATTEMPTS`] times.
pub async fn retry_on_conflict<T, E, F, Fut>(mut f: F) -> Result<T, E>
where
    E: MaybeConflict,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 1;
    loop {
        match f().await {
            Err(e) if e.is_conflict() && attempt < ATTEMPTS => attempt += 1,
            other => return other,
        }
    }
}
