//! Pieces shared by the notify kinds: phases, the names of identities, validation helpers.

#[cfg(feature = "server")]
pub use crate::platform::common::tenant_for_create;
pub use crate::platform::common::{
    ObjectMeta, TenantOwned, check_immutable, check_tenant_unchanged, default_generate_name, meta_str,
};
#[cfg(feature = "server")]
pub use crate::platform::common::{tenant_scoped, validate_tenant_update};

/// Phases of channels (`status.phase`; TKEStack's spelling).
pub mod channel_phase {
    pub const ACTIVE: &str = "Actived";
    pub const TERMINATING: &str = "Terminating";
}

/// Phases of message requests (`status.phase`), reference 6.2.
pub mod request_phase {
    pub const PENDING: &str = "Pending";
    pub const SENDING: &str = "Sending";
    pub const SENT: &str = "Sent";
    pub const FAILED: &str = "Failed";
    pub const PARTIAL_FAILURE: &str = "PartialFailure";

    /// Whether a request in this phase is done (sent or given up).
    pub fn is_final(phase: &str) -> bool {
        matches!(phase, SENT | FAILED | PARTIAL_FAILURE)
    }
}

/// Phases of messages (`status.phase`).
pub mod message_phase {
    pub const UNREAD: &str = "Unread";
    pub const READ: &str = "Read";
}

/// Alert statuses (`status.alertStatus` of requests and messages), as Alertmanager names them.
pub mod alert_status {
    pub const FIRING: &str = "firing";
    pub const RESOLVED: &str = "resolved";
}

/// Keys of a receiver's `spec.identities`.
pub mod identity {
    pub const EMAIL: &str = "email";
    pub const MOBILE: &str = "mobile";
    pub const WECHAT_OPENID: &str = "wechat_openid";
    pub const WEBHOOK: &str = "webhook";
    pub const ALL: &[&str] = &[EMAIL, MOBILE, WECHAT_OPENID, WEBHOOK];
}

/// Requires a display name of at most 255 characters.
#[cfg(feature = "server")]
pub fn check_display_name(value: &str, errs: &mut Vec<apimachinery::FieldError>) {
    if value.trim().is_empty() {
        errs.push(apimachinery::FieldError::required("spec.displayName", "give it a name to show"));
    } else if value.chars().count() > 255 {
        errs.push(apimachinery::FieldError::too_long("spec.displayName", 255));
    }
}

/// Whether `s` looks like an e-mail address (`local@domain`, no spaces).
pub fn is_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !s.contains(char::is_whitespace)
        }
        None => false,
    }
}
