//! The test harness of tke-rs: starts the real `tke` binary and the real services the tests
//! need (etcd, slapd, an SMTP server, ...), runs the real `kubectl`, and cleans up after itself.

pub mod browser;
pub mod etcd;
pub mod pki;
pub mod scenarios;
pub mod slapd;
pub mod smtpd;
pub mod tke;

use std::{
    future::Future,
    time::{Duration, Instant},
};

/// Polls `check` every 50 ms until it gives a value, failing the test after `timeout`: how
/// async tests wait on a condition (never a bare sleep).
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
