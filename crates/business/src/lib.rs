//! The business component (reference 1.2 and 4): `business.tkestack.io/v1` served by the API
//! server ([`component::Business`]) and its controllers, which talk to the platform's API like
//! any client and reach business clusters through the controller runtime.

pub mod certificate;
pub mod component;
pub mod controllers;
pub mod emigration;
pub mod mirror;
pub mod namespace;
pub mod platform;
pub mod portal;
pub mod project;
pub mod quota;
pub mod runner;

pub use component::Business;
