//! Retry delays: a reconcile or step that failed `n` times in a row waits `backoff(n)` before the
//! next try, so a broken cluster is not hammered and a passing fault heals quickly.

use std::time::Duration;

/// The longest wait between two tries.
pub const MAX: Duration = Duration::from_secs(300);

/// 500 ms doubling with each failure, to at most five minutes (`failures` counts from 1).
pub fn backoff(failures: u32) -> Duration {
    let ms = 500u64.saturating_mul(1u64 << failures.saturating_sub(1).min(20));
    Duration::from_millis(ms).min(MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(4), Duration::from_secs(4));
        assert_eq!(backoff(40), Duration::from_secs(300));
    }
}
