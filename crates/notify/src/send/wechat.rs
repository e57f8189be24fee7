//! WeChat channels: template messages of an official account. An access token is fetched with
//! the account's AppID and AppSecret (`GET /cgi-bin/token`) and kept until shortly before it
//! expires; each receiver (`wechat_openid`) gets `POST /cgi-bin/message/template/send` with the
//! template's `keys` as its `data`.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
    time::{Duration, Instant},
};

use api::notify::{channel::Wechat, template::TemplateWechat};
use serde_json::{Value, json};

use super::{SendError, Sent, http_error};

pub const DEFAULT_ENDPOINT: &str = "https://api.weixin.qq.com";

/// Access tokens by AppID, with when they stop being used.
#[derive(Default)]
pub struct Tokens(Mutex<HashMap<String, (String, Instant)>>);

/// WeChat's error codes worth retrying: system busy, and the token ones (fetched again).
fn transient_code(code: i64) -> bool {
    matches!(code, -1 | 40001 | 42001 | 40014)
}

impl Tokens {
    fn cached(&self, app_id: &str) -> Option<String> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(app_id).filter(|(_, until)| Instant::now() < *until).map(|(t, _)| t.clone())
    }

    fn forget(&self, app_id: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(app_id);
    }

    async fn get(&self, http: &reqwest::Client, endpoint: &str, c: &Wechat) -> Result<String, SendError> {
        if let Some(t) = self.cached(&c.app_id) {
            return Ok(t);
        }
        if c.app_secret.is_empty() {
            return Err(SendError::permanent("the WeChat channel has no spec.wechat.appSecret"));
        }
        let answer: Value = http
            .get(format!("{}/cgi-bin/token", endpoint.trim_end_matches('/')))
            .query(&[("grant_type", "client_credential"), ("appid", &c.app_id), ("secret", &c.app_secret)])
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| http_error("WeChat could not be reached", e))?
            .json()
            .await
            .map_err(|e| http_error("WeChat answered no JSON", e))?;
        let Some(token) = answer["access_token"].as_str().filter(|t| !t.is_empty()) else {
            let code = answer["errcode"].as_i64().unwrap_or(0);
            let msg = format!("WeChat refused an access token: {code}: {}", answer["errmsg"].as_str().unwrap_or(""));
            return Err(SendError { message: msg, transient: code == -1 });
        };
        // Renewed five minutes early (WeChat's tokens last two hours).
        let ttl = answer["expires_in"].as_u64().unwrap_or(7200).saturating_sub(300).max(60);
        let until = Instant::now() + Duration::from_secs(ttl);
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(c.app_id.clone(), (token.to_string(), until));
        Ok(token.to_string())
    }
}

/// Sends the template message to `openid`; answers WeChat's msgid.
pub async fn send(
    http: &reqwest::Client,
    endpoint: &str,
    tokens: &Tokens,
    c: &Wechat,
    t: &TemplateWechat,
    openid: &str,
    data: &BTreeMap<String, String>,
) -> Sent {
    let token = tokens.get(http, endpoint, c).await?;
    let mut body = json!({
        "touser": openid,
        "template_id": t.template_id,
        "data": data.iter().map(|(k, v)| (k.clone(), json!({ "value": v }))).collect::<serde_json::Map<_, _>>(),
    });
    if !t.url.is_empty() {
        body["url"] = json!(t.url);
    }
    if !t.mini_program_app_id.is_empty() {
        body["miniprogram"] = json!({ "appid": t.mini_program_app_id, "pagepath": t.mini_program_page_path });
    }
    let answer: Value = http
        .post(format!("{}/cgi-bin/message/template/send", endpoint.trim_end_matches('/')))
        .query(&[("access_token", &token)])
        .json(&body)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| http_error("WeChat could not be reached", e))?
        .json()
        .await
        .map_err(|e| http_error("WeChat answered no JSON", e))?;
    let code = answer["errcode"].as_i64().unwrap_or(0);
    if code == 0 {
        return Ok(answer["msgid"].as_i64().map(|m| m.to_string()).unwrap_or_default());
    }
    if matches!(code, 40001 | 42001 | 40014) {
        tokens.forget(&c.app_id);
    }
    Err(SendError {
        message: format!("WeChat did not send: {code}: {}", answer["errmsg"].as_str().unwrap_or("")),
        transient: transient_code(code),
    })
}
