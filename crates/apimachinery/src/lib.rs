//! Kubernetes API conventions shared by every component, with no I/O: `Status` errors with
//! field causes, label and field selectors, JSON path helpers used by selectors and tables, the
//! name grammars (DNS-1123, OCI repository names), RFC 3339 timestamps and quantities with the
//! arithmetic of resource lists.

pub mod error;
pub mod path;
pub mod quantity;
pub mod selector;
pub mod time;
pub mod validation;

pub use error::{ApiError, FieldError, FieldErrorKind};
pub use selector::{FieldSelector, LabelSelector};
