//! Read-modify-write against the API: another writer may get there first (409 Conflict); the
//! change is then computed again from the newer object, a bounded number of times.

use std::future::Future;

/// Attempts before a conflict is given up on (each attempt reads the object again).
pub const ATTEMPTS: u32 = 8;

/// Whether `e` is a lost optimistic-concurrency race.
pub fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409 && s.reason == "Conflict")
}

/// Runs `f` again while it fails with a conflict, up to [`ATTEMPTS`] times.
pub async fn retry_on_conflict<T, F, Fut>(mut f: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut attempt = 1;
    loop {
        match f().await {
            Err(e) if is_conflict(&e) && attempt < ATTEMPTS => attempt += 1,
            other => return other,
        }
    }
}
