//! The console as an OpenID relying party: the authorization request it sends browsers to, and
//! the back-channel calls to the provider's token and revocation endpoints (authorization code
//! with PKCE, refresh with rotation, the password grant of TKEStack's `tokens` route).

use std::time::Duration;

use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// A provider's answer that is not tokens: what the user or the page is told.
#[derive(Debug)]
pub struct RpError {
    /// 401 for a refused credential or grant (log in again), 502/503 when the provider failed.
    pub status: u16,
    pub message: String,
}

impl std::fmt::Display for RpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The tokens of one login or renewal.
#[derive(Debug, Deserialize)]
pub struct Tokens {
    pub id_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
}

#[derive(Deserialize)]
struct OAuthError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

pub struct RelyingParty {
    pub issuer: String,
    pub client_id: String,
    http: reqwest::Client,
}

/// A random URL-safe token of 32 bytes (state, nonce, PKCE verifier).
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// RFC 7636's S256 challenge of a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl RelyingParty {
    pub fn new(issuer: String, client_id: String, ca_pem: &[u8]) -> Result<Self, String> {
        let ca = reqwest::Certificate::from_pem(ca_pem).map_err(|e| format!("the OpenID provider's CA: {e}"))?;
        let http = reqwest::Client::builder()
            .add_root_certificate(ca)
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| format!("the OpenID provider's client: {e}"))?;
        Ok(RelyingParty { issuer: issuer.trim_end_matches('/').to_string(), client_id, http })
    }

    /// Where the browser logs in.
    pub fn authorization_url(&self, redirect_uri: &str, state: &str, nonce: &str, verifier: &str) -> String {
        let params = [
            ("response_type", "code"),
            ("client_id", self.client_id.as_str()),
            ("redirect_uri", redirect_uri),
            ("scope", "openid profile email groups offline_access"),
            ("state", state),
            ("nonce", nonce),
            ("code_challenge", &pkce_challenge(verifier)),
            ("code_challenge_method", "S256"),
        ];
        let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", query_escape(v))).collect();
        format!("{}/auth?{}", self.issuer, query.join("&"))
    }

    /// Where the browser ends its session at the provider, then comes back to `return_to`.
    pub fn logout_url(&self, return_to: &str) -> String {
        format!(
            "{}/logout?client_id={}&post_logout_redirect_uri={}",
            self.issuer,
            query_escape(&self.client_id),
            query_escape(return_to)
        )
    }

    async fn token(&self, form: &[(&str, &str)]) -> Result<Tokens, RpError> {
        let mut all = vec![("client_id", self.client_id.as_str())];
        all.extend_from_slice(form);
        let resp = self.http.post(format!("{}/token", self.issuer)).form(&all).send().await.map_err(|e| RpError {
            status: 502,
            message: format!("the OpenID provider at {} did not answer: {e}", self.issuer),
        })?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| RpError { status: 502, message: format!("the OpenID provider's answer was cut off: {e}") })?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| RpError {
                status: 502,
                message: format!("the OpenID provider's answer has no ID token: {e}"),
            });
        }
        let e: OAuthError = serde_json::from_slice(&body)
            .unwrap_or(OAuthError { error: "server_error".into(), error_description: String::new() });
        let message = if e.error_description.is_empty() { e.error.clone() } else { e.error_description };
        let status = match status.as_u16() {
            429 => 429,
            s if s >= 500 => 503,
            _ => 401,
        };
        Err(RpError { status, message })
    }

    pub async fn exchange_code(&self, code: &str, redirect_uri: &str, verifier: &str) -> Result<Tokens, RpError> {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ])
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens, RpError> {
        self.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await
    }

    pub async fn password(&self, tenant: &str, username: &str, password: &str) -> Result<Tokens, RpError> {
        self.token(&[
            ("grant_type", "password"),
            ("tenant_id", tenant),
            ("username", username),
            ("password", password),
            ("scope", "openid profile email groups offline_access"),
        ])
        .await
    }

    /// Revokes a refresh token (and with it its login's family). Best effort: the session's
    /// cookies are cleared whatever the provider says.
    pub async fn revoke(&self, refresh_token: &str) {
        let form = [("client_id", self.client_id.as_str()), ("token", refresh_token)];
        match self.http.post(format!("{}/revoke", self.issuer)).form(&form).send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => tracing::warn!(status = %r.status(), "the OpenID provider refused to revoke a console session"),
            Err(e) => tracing::warn!(error = %e, "the OpenID provider did not answer a revocation"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc_7636_example() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn query_escaping() {
        assert_eq!(query_escape("https://h:1/callback?x=y z"), "https%3A%2F%2Fh%3A1%2Fcallback%3Fx%3Dy%20z");
    }
}
