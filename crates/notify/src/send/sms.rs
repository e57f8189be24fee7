//! Tencent Cloud SMS channels: API 3.0 `SendSms` (version 2021-01-11), one request per receiver,
//! signed with TC3-HMAC-SHA256 by the channel's key pair (`secretID`, and `appKey` as the
//! secret key). The template's `keys` name the variables passed as `TemplateParamSet`, in order.

use api::notify::{channel::TencentCloudSms, template::TemplateSms};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{SendError, Sent, http_error};

pub const DEFAULT_ENDPOINT: &str = "https://sms.tencentcloudapi.com";
const SERVICE: &str = "sms";
const VERSION: &str = "2021-01-11";
const CONTENT_TYPE: &str = "application/json; charset=utf-8";

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The `Authorization` header of a TC3-HMAC-SHA256 request (POST `/`, signed headers
/// `content-type;host`).
pub fn authorization(secret_id: &str, secret_key: &str, host: &str, timestamp: i64, payload: &str) -> String {
    let date = chrono::DateTime::from_timestamp(timestamp, 0).unwrap_or_default().format("%Y-%m-%d").to_string();
    let canonical_request = format!(
        "POST\n/\n\ncontent-type:{CONTENT_TYPE}\nhost:{host}\n\ncontent-type;host\n{}",
        hex::encode(Sha256::digest(payload.as_bytes()))
    );
    let scope = format!("{date}/{SERVICE}/tc3_request");
    let string_to_sign =
        format!("TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{}", hex::encode(Sha256::digest(canonical_request.as_bytes())));
    let k_date = hmac(format!("TC3{secret_key}").as_bytes(), &date);
    let k_service = hmac(&k_date, SERVICE);
    let k_signing = hmac(&k_service, "tc3_request");
    let signature = hex::encode(hmac(&k_signing, &string_to_sign));
    format!("TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders=content-type;host, Signature={signature}")
}

/// Sends the SMS to `mobile` (E.164, `+86…`; a bare Chinese number gets `+86`); answers the
/// provider's serial number.
pub async fn send(
    http: &reqwest::Client,
    endpoint: &str,
    c: &TencentCloudSms,
    t: &TemplateSms,
    mobile: &str,
    params: Vec<String>,
) -> Sent {
    if c.secret_id.is_empty() || c.app_key.is_empty() {
        return Err(SendError::permanent(
            "the SMS channel has no API key: set spec.tencentCloudSMS.secretID and appKey",
        ));
    }
    let phone = if mobile.starts_with('+') { mobile.to_string() } else { format!("+86{mobile}") };
    let mut body = json!({
        "PhoneNumberSet": [phone],
        "SmsSdkAppId": c.sdk_app_id,
        "SignName": t.sign,
        "TemplateId": t.template_id,
        "TemplateParamSet": params,
    });
    if !c.extend.is_empty() {
        body["ExtendCode"] = json!(c.extend);
    }
    let payload = body.to_string();
    let url = reqwest::Url::parse(endpoint)
        .map_err(|e| SendError::permanent(format!("the SMS endpoint {endpoint:?}: {e}")))?;
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => return Err(SendError::permanent(format!("the SMS endpoint {endpoint:?} has no host"))),
    };
    let timestamp = chrono::Utc::now().timestamp();
    let region = if c.region.is_empty() { "ap-guangzhou" } else { c.region.as_str() };
    let resp = http
        .post(url)
        .header("Content-Type", CONTENT_TYPE)
        .header("Host", &host)
        .header("Authorization", authorization(&c.secret_id, &c.app_key, &host, timestamp, &payload))
        .header("X-TC-Action", "SendSms")
        .header("X-TC-Version", VERSION)
        .header("X-TC-Timestamp", timestamp.to_string())
        .header("X-TC-Region", region)
        .body(payload)
        .send()
        .await
        .map_err(|e| http_error("Tencent Cloud SMS could not be reached", e))?;
    let status = resp.status();
    let answer: Value = resp.json().await.map_err(|e| http_error("Tencent Cloud SMS answered no JSON", e))?;
    let r = &answer["Response"];
    if let Some(err) = r.get("Error") {
        let code = err["Code"].as_str().unwrap_or("");
        let msg = format!("Tencent Cloud SMS: {code}: {}", err["Message"].as_str().unwrap_or(""));
        let transient = code.starts_with("InternalError") || code.starts_with("RequestLimitExceeded");
        return Err(SendError { message: msg, transient });
    }
    if !status.is_success() {
        return Err(SendError::transient(format!("Tencent Cloud SMS answered {status}")));
    }
    let sent = &r["SendStatusSet"][0];
    match sent["Code"].as_str() {
        Some("Ok") => Ok(sent["SerialNo"].as_str().unwrap_or("").to_string()),
        Some(code) => Err(SendError::permanent(format!(
            "Tencent Cloud SMS did not send: {code}: {}",
            sent["Message"].as_str().unwrap_or("")
        ))),
        None => Err(SendError::permanent(format!("Tencent Cloud SMS answered without a send status: {answer}"))),
    }
}
