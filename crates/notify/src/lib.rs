//! The notify component (reference 1.7 and 6): `notify.tkestack.io/v1` served by the API server ([`component::Notify`]).
//! Channels, templates, receivers, message requests with every message's fate, the inbox, and the Alertmanager webhook.

pub mod component;

pub use component::Notify;
