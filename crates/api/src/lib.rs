//! The API groups of tke-rs: the types of every resource and their validation rules, and with
//! the `server` feature the strategies and resource definitions the API server serves them with
//! (off by default, so that controllers, the CLI and tests can use the types without compiling
//! the server and its storage backends).
pub mod audit;
pub mod auth;
pub mod authz;
pub mod business;
#[cfg(feature = "server")]
pub mod coordination;
pub mod logagent;
pub mod monitor;
pub mod notify;
pub mod platform;
pub mod registry;
