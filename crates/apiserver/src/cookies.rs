//! HTTP cookies of the platform's browser flows (the OpenID provider's login session, the
//! console's session): reading one from `Cookie` and writing `Set-Cookie` values that are always
//! `Secure` (every listener is TLS).

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

/// Which cross-site requests carry the cookie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    /// Top-level navigations from other sites carry it (a login that returns from a provider).
    Lax,
    /// Only requests from the platform's own pages.
    Strict,
}

/// How a cookie is set.
#[derive(Clone, Copy, Debug)]
pub struct Attributes<'a> {
    pub path: &'a str,
    /// Hidden from scripts (every secret cookie); a cookie a page must read is not.
    pub http_only: bool,
    pub same_site: SameSite,
    /// Kept this long; a cookie of the browser session when `None`.
    pub max_age: Option<Duration>,
}

/// `name=value; Path=…; Secure; SameSite=…[; HttpOnly][; Max-Age=…]`. Names and values are the
/// platform's own (tokens in URL-safe alphabets), never a caller's text.
pub fn set(name: &str, value: &str, a: Attributes<'_>) -> HeaderValue {
    let mut v = format!(
        "{name}={value}; Path={}; Secure; SameSite={}",
        a.path,
        match a.same_site {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
        }
    );
    if a.http_only {
        v.push_str("; HttpOnly");
    }
    if let Some(age) = a.max_age {
        v.push_str(&format!("; Max-Age={}", age.as_secs()));
    }
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A `Set-Cookie` that deletes the cookie set with the same name and path.
pub fn clear(name: &str, a: Attributes<'_>) -> HeaderValue {
    set(name, "", Attributes { max_age: Some(Duration::ZERO), ..a })
}

/// The request's `Cookie` headers without the cookies `names` (a proxy must not pass the
/// platform's own session on to a business cluster).
pub fn remove(headers: &mut HeaderMap, names: &[&str]) {
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|c| !c.is_empty() && !names.iter().any(|n| c.split_once('=').map(|(k, _)| k) == Some(*n)))
        .map(str::to_string)
        .collect();
    headers.remove(header::COOKIE);
    if !kept.is_empty()
        && let Ok(v) = HeaderValue::from_str(&kept.join("; "))
    {
        headers.insert(header::COOKIE, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_removes_among_others() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; tke=tok; b=2"));
        h.append(header::COOKIE, HeaderValue::from_static("tke_csrf=c"));
        assert_eq!(get(&h, "tke").as_deref(), Some("tok"));
        assert_eq!(get(&h, "tk"), None);
        remove(&mut h, &["tke", "tke_csrf"]);
        assert_eq!(h.get(header::COOKIE).unwrap(), "a=1; b=2");
        remove(&mut h, &["a", "b"]);
        assert!(h.get(header::COOKIE).is_none());
    }

    #[test]
    fn set_cookie_attributes() {
        let a =
            Attributes { path: "/", http_only: true, same_site: SameSite::Lax, max_age: Some(Duration::from_secs(60)) };
        assert_eq!(set("tke", "x", a), "tke=x; Path=/; Secure; SameSite=Lax; HttpOnly; Max-Age=60");
        let readable = Attributes { http_only: false, same_site: SameSite::Strict, max_age: None, ..a };
        assert_eq!(set("c", "y", readable), "c=y; Path=/; Secure; SameSite=Strict");
        assert_eq!(clear("tke", a), "tke=; Path=/; Secure; SameSite=Lax; HttpOnly; Max-Age=0");
    }
}
