//! Sending one message through one channel: e-mail over SMTP, a webhook POST, a Tencent Cloud
//! SMS, a WeChat template message. Each sender says whether a failure is worth retrying
//! ([`SendError::transient`]: the provider could not be reached, was busy or failed inside); the
//! controller retries those with back-off and reports the others at once.

pub mod sms;
pub mod smtp;
pub mod webhook;
pub mod wechat;

use std::time::Duration;

/// Why a message was not delivered.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub message: String,
    /// Worth trying again (network failure, provider busy or failing).
    pub transient: bool,
}

impl SendError {
    pub fn transient(message: impl Into<String>) -> Self {
        SendError { message: message.into(), transient: true }
    }
    pub fn permanent(message: impl Into<String>) -> Self {
        SendError { message: message.into(), transient: false }
    }
}

/// What a sender answers for a delivered message: the provider's id of it.
pub type Sent = Result<String, SendError>;

/// Where the providers' APIs are (overridable, for tests against local fakes and for proxies).
#[derive(Clone, Debug)]
pub struct Endpoints {
    /// Tencent Cloud SMS API 3.0 (`https://sms.tencentcloudapi.com`).
    pub tencent_sms: String,
    /// WeChat's API (`https://api.weixin.qq.com`).
    pub wechat: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints { tencent_sms: sms::DEFAULT_ENDPOINT.into(), wechat: wechat::DEFAULT_ENDPOINT.into() }
    }
}

/// Everything that sends, with the connections and tokens it keeps between messages.
pub struct Senders {
    pub endpoints: Endpoints,
    pub http: reqwest::Client,
    pub smtp: smtp::Mailer,
    pub wechat_tokens: wechat::Tokens,
}

impl Senders {
    pub fn new(endpoints: Endpoints) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Senders { endpoints, http, smtp: smtp::Mailer::default(), wechat_tokens: wechat::Tokens::default() }
    }
}

/// An HTTP failure as a send error: no answer or a 5xx is transient, anything else is not.
pub(crate) fn http_error(what: &str, e: reqwest::Error) -> SendError {
    let msg = format!("{what}: {}", controller_runtime::error_chain(&e));
    match e.status() {
        Some(s) if !s.is_server_error() && s != reqwest::StatusCode::TOO_MANY_REQUESTS => SendError::permanent(msg),
        _ => SendError::transient(msg),
    }
}
