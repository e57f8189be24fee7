//! Kubernetes API conventions shared by every component, with no I/O: `Status` errors with
//! field causes, label and field selectors, and JSON path helpers used by selectors and tables.

pub mod error;
pub mod path;
pub mod selector;

pub use error::{ApiError, FieldError, FieldErrorKind};
pub use selector::{FieldSelector, LabelSelector};
