//! The web console's session on the API: the `tke` cookie carries the user's ID token, so the
//! console's pages call the API (and the business clusters through the proxy) as the user, with
//! no token a script could read. Because a browser attaches cookies to any request, a
//! state-changing request made with the session cookie must also carry the CSRF token: a value
//! derived from the session's token, which the gateway hands to the page in the readable
//! `tke_csrf` cookie. Another site can neither read that cookie nor compute the value, and a
//! cookie planted from a sibling host does not match a session it does not know. Callers with a
//! bearer token or a client certificate send no session cookie and are not asked for it.

use axum::http::{HeaderMap, HeaderValue, Method, header, request::Parts};
use sha2::{Digest, Sha256};

/// The session cookie (TKEStack's name): the ID token, `HttpOnly`, `Secure`, `SameSite=Lax`.
pub const COOKIE: &str = "tke";
/// The readable cookie holding the CSRF token of the session.
pub const CSRF_COOKIE: &str = "tke_csrf";
/// The header that must repeat the CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The refresh token's cookie, sent only to the gateway's token routes.
pub const REFRESH_COOKIE: &str = "tke_refresh";

/// The CSRF token of a session: hex SHA-256 of a label and the session's token. It changes
/// whenever the session's token does (renewal), and cannot be made without the token.
pub fn csrf_token(session_token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"tke-csrf\0");
    h.update(session_token.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a request with this method changes state (needs the CSRF token).
pub fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether the request's CSRF header matches `session_token`.
pub fn csrf_ok(headers: &HeaderMap, session_token: &str) -> bool {
    headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).is_some_and(|given| {
        crate::auth::constant_time_eq(given.trim().as_bytes(), csrf_token(session_token).as_bytes())
    })
}

/// In a request's extensions when it was authenticated by the session cookie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionCookie {
    /// When the session's ID token expires (Unix seconds): the page renews before.
    pub expires_at: Option<i64>,
}

/// The `exp` claim of a JWT, read without checking the signature: only for tokens that are
/// checked by authentication anyway, or to decide whether renewing is due.
pub fn token_expiry(jwt: &str) -> Option<i64> {
    use base64::Engine;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice::<serde_json::Value>(&bytes).ok()?.get("exp")?.as_i64()
}

/// Why a request with the session cookie was refused before authentication.
#[derive(Debug, PartialEq, Eq)]
pub struct CsrfRefused;

impl std::fmt::Display for CsrfRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "missing or wrong X-CSRF-Token header: a request that changes something and is \
             authenticated by the console's session cookie must repeat the tke_csrf cookie's value \
             in the X-CSRF-Token header (scripts should send a bearer token instead)",
        )
    }
}

/// Turns the session cookie of a request that has no other token into its bearer token, and
/// removes the console's cookies from the request (they must not reach a proxied cluster).
/// Refuses a state-changing request whose CSRF header does not match the session.
pub fn adopt(parts: &mut Parts) -> Result<(), CsrfRefused> {
    let Some(token) = crate::cookies::get(&parts.headers, COOKIE).filter(|t| !t.is_empty()) else {
        return Ok(());
    };
    if crate::auth::request_token(&parts.headers).is_none() {
        if changes_state(&parts.method) && !csrf_ok(&parts.headers, &token) {
            return Err(CsrfRefused);
        }
        if let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}")) {
            parts.headers.insert(header::AUTHORIZATION, v);
        }
        parts.extensions.insert(SessionCookie { expires_at: token_expiry(&token) });
    }
    crate::cookies::remove(&mut parts.headers, &[COOKIE, CSRF_COOKIE, REFRESH_COOKIE]);
    parts.headers.remove(CSRF_HEADER);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: Method, headers: &[(&str, &str)]) -> Parts {
        let mut b = axum::http::Request::builder().method(method).uri("/api/v1/namespaces");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn session_cookie_becomes_the_bearer_token_and_leaves_the_request() {
        let mut p = parts(Method::GET, &[("cookie", "tke=abc; other=1; tke_csrf=x")]);
        adopt(&mut p).unwrap();
        assert_eq!(p.headers.get(header::AUTHORIZATION).unwrap(), "Bearer abc");
        assert_eq!(p.headers.get(header::COOKIE).unwrap(), "other=1");
        assert_eq!(p.extensions.get::<SessionCookie>(), Some(&SessionCookie { expires_at: None }));
    }

    #[test]
    fn expiry_of_a_jwt() {
        use base64::Engine;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"exp":1700000000,"sub":"u"}"#);
        assert_eq!(token_expiry(&format!("h.{payload}.s")), Some(1_700_000_000));
        assert_eq!(token_expiry("garbage"), None);
    }

    #[test]
    fn state_changing_requests_need_the_session_csrf_token() {
        let mut p = parts(Method::POST, &[("cookie", "tke=abc")]);
        assert_eq!(adopt(&mut p), Err(CsrfRefused));
        // The cookie's own value is not enough (double submit of a planted cookie).
        let mut p = parts(Method::DELETE, &[("cookie", "tke=abc; tke_csrf=zzz"), ("x-csrf-token", "zzz")]);
        assert_eq!(adopt(&mut p), Err(CsrfRefused));
        let token = csrf_token("abc");
        let mut p = parts(Method::PATCH, &[("cookie", "tke=abc"), ("x-csrf-token", &token)]);
        adopt(&mut p).unwrap();
        assert_eq!(p.headers.get(header::AUTHORIZATION).unwrap(), "Bearer abc");
        assert!(p.headers.get(CSRF_HEADER).is_none());
    }

    #[test]
    fn bearer_callers_are_not_asked_and_keep_their_token() {
        let mut p = parts(Method::POST, &[("cookie", "tke=abc"), ("authorization", "Bearer mine")]);
        adopt(&mut p).unwrap();
        assert_eq!(p.headers.get(header::AUTHORIZATION).unwrap(), "Bearer mine");
        assert!(p.headers.get(header::COOKIE).is_none());
        let mut p = parts(Method::POST, &[]);
        adopt(&mut p).unwrap();
        assert!(p.headers.get(header::AUTHORIZATION).is_none());
    }
}
