//! The API groups of tke-rs: types, strategies and resource definitions.
pub mod coordination;
pub mod platform;
pub mod registry;
