//! Admission: the checks of a write that need more than the object itself (other objects, a
//! quota to reserve), which a resource's strategy cannot make. A component registers an
//! [`Admission`] for a resource when it is mounted
//! ([`crate::ApiServer::add_admission`]); the resource's store calls it on every create,
//! update, patch and server-side apply of the object, after the strategy has prepared and
//! validated it and just before it is stored. Writes of the `status` and `finalize`
//! subresources and no-op updates are not admitted.
//!
//! An admission may refuse (its [`ApiError`] is the answer, usually `Invalid` with field
//! causes) or act on other objects before the write (reserve quota). A dry run is admitted
//! with [`AdmissionRequest::dry_run`] set: check everything, change nothing. The write may
//! still fail after an admission acted (a conflict, a name taken meanwhile), so what an
//! admission does outside the object must be reclaimable by a controller.

use apimachinery::ApiError;
use serde_json::Value;

use crate::resource::Context;

/// What is being written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// A create, or a server-side apply that creates.
    Create,
    /// An update or patch of the object, or a server-side apply to an existing one.
    Update,
}

/// One write to admit.
#[derive(Clone, Copy, Debug)]
pub struct AdmissionRequest<'a> {
    pub ctx: &'a Context,
    pub operation: Operation,
    /// The object as it will be stored (name set, defaults applied, validated).
    pub new: &'a Value,
    /// The stored object an update replaces (with its resourceVersion).
    pub old: Option<&'a Value>,
    /// The write will not be stored: check, but do not change anything.
    pub dry_run: bool,
}

/// A check (and possibly an action) on writes of one resource.
#[async_trait::async_trait]
pub trait Admission: Send + Sync + 'static {
    /// `Ok` lets the write go on; an error is the answer to the request.
    async fn admit(&self, req: AdmissionRequest<'_>) -> Result<(), ApiError>;
}
