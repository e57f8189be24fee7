//! The notify component (reference 1.6 and 6): `notify.tkestack.io/v1` served by the API server
//! ([`component::Notify`]), the MessageRequest controller that sends by e-mail, webhook,
//! Tencent Cloud SMS and WeChat ([`controller`]), the Alertmanager webhook turning alerts into
//! message requests ([`alerts`], `POST /webhook`, authenticated by [`webhook_token`]), and a
//! channel's "send a test message" (`POST channels/{name}/test`).

pub mod alerts;
pub mod component;
pub mod controller;
pub mod directory;
pub mod render;
pub mod send;

pub use component::Notify;

/// Label of a Message: the MessageRequest it was sent for.
pub const REQUEST_LABEL: &str = "notify.tkestack.io/message-request";
/// Label of a Message: the channel it went through.
pub const CHANNEL_LABEL: &str = "notify.tkestack.io/channel";
/// Label of a MessageRequest made from an Alertmanager alert.
pub const ALERT_LABEL: &str = "notify.tkestack.io/alert";
/// Label of a MessageRequest made by a channel's "send a test message".
pub const TEST_LABEL: &str = "notify.tkestack.io/test";

/// The file of the data directory holding the webhook's bearer token.
pub const WEBHOOK_TOKEN_FILE: &str = "notify-webhook-token";

/// The bearer token Alertmanager presents to `POST /webhook` (its `http_config.authorization`
/// `credentials`): a random secret of the platform, created in the data directory on first use
/// (`DATA_DIR/notify-webhook-token`) and the same for every replica sharing the directory. The
/// Prometheus add-on reads it here to configure the Alertmanagers it installs.
pub fn webhook_token(data_dir: &std::path::Path) -> std::io::Result<String> {
    let bytes = apiserver::component::read_or_create_secret(&data_dir.join(WEBHOOK_TOKEN_FILE), || {
        let raw: [u8; 32] = rand::random();
        hex::encode(raw).into_bytes()
    })?;
    Ok(String::from_utf8_lossy(&bytes).trim().to_string())
}

pub(crate) fn now() -> String {
    apimachinery::time::now_rfc3339()
}
