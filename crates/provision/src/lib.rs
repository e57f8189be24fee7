//! Provisioning of machines over SSH for the platform's Baremetal provider: a russh client
//! ([`ssh`]), the environment checks run before a machine is used ([`checks`]), the offline
//! bundle of binaries and images ([`bundle`]) and the install steps built on them
//! ([`install`]); and the `Baremetal` cluster and machine providers of the platform's step
//! engine built on them ([`baremetal`]).

pub mod baremetal;
pub mod bundle;
pub mod checks;
pub mod error;
pub mod install;
pub mod ssh;

pub use error::{Error, Result};
pub use ssh::{
    Credentials, Exec, HostKeyPolicy, KnownHosts, Output, Privilege, Session, SshOptions, Stream, Target, Via,
};
