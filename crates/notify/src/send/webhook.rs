//! Webhook channels: one JSON POST per request, `{receivers, content}` (reference 6.2 step 4).

use api::notify::channel::Webhook;
use serde_json::Value;

use super::{SendError, Sent, http_error};

/// POSTs `{receivers, content}` to the channel's URL with its headers; a 2xx is delivered.
pub async fn send(http: &reqwest::Client, channel: &Webhook, receivers: &[Value], content: &str) -> Sent {
    let body = serde_json::json!({ "receivers": receivers, "content": content });
    let mut req = http.post(&channel.url).header("Content-Type", "application/json");
    for (k, v) in &channel.headers {
        req = req.header(k, v);
    }
    let resp =
        req.body(body.to_string()).send().await.map_err(|e| http_error("the webhook could not be reached", e))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(String::new());
    }
    let text = resp.text().await.unwrap_or_default();
    let msg = format!("the webhook answered {status}: {}", text.chars().take(200).collect::<String>());
    if status.is_server_error() || status.as_u16() == 429 {
        Err(SendError::transient(msg))
    } else {
        Err(SendError::permanent(msg))
    }
}
