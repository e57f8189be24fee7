//! The test harness of tke-rs: starts the real `tke` binary and the real services the tests
//! need (etcd, ...), runs the real `kubectl`, and cleans up after itself.

pub mod tke;
pub mod etcd;
