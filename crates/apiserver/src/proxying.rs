//! What the platform's proxies share (the cluster proxy, the console's gateway): which
//! headers belong to one hop, recognising a request to switch protocols, keeping a caller's
//! token out of the WebSocket subprotocols passed on, refusing WebSockets opened by other
//! sites' pages, and piping an upgraded connection both ways.

use std::time::Duration;

use apimachinery::ApiError;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

/// Headers of one connection, never passed on by a proxy.
pub fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

/// The protocol a request asks to switch to (`Connection: Upgrade` with an `Upgrade` header).
pub fn upgrade_asked(headers: &HeaderMap) -> Option<HeaderValue> {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    let protocol = headers.get(header::UPGRADE)?;
    (connection_upgrade && !protocol.as_bytes().is_empty()).then(|| protocol.clone())
}

/// `Sec-WebSocket-Protocol` without the caller's bearer token (`None` when nothing else is left).
pub fn without_bearer_protocol(value: &HeaderValue) -> Option<HeaderValue> {
    let text = value.to_str().ok()?;
    let kept: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty() && !p.starts_with(crate::auth::WEBSOCKET_BEARER))
        .collect();
    if kept.is_empty() {
        return None;
    }
    HeaderValue::from_str(&kept.join(", ")).ok()
}

/// Refuses an upgrade whose `Origin` (sent by browsers) is not the address the request was sent
/// to (`Host`): cross-site WebSocket hijacking would otherwise let any page a user visits open a
/// shell with the user's session cookie. Tools (kubectl) send no `Origin` and are not affected.
pub fn same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let forbidden = |why: String| ApiError::new(apimachinery::error::Reason::Forbidden, why);
    let origin = origin.to_str().map_err(|_| forbidden("the Origin header is not readable".into()))?;
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let (scheme, authority) = origin
        .split_once("://")
        .ok_or_else(|| forbidden(format!("a connection from origin {origin:?} is refused: not a web origin")))?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return Err(forbidden(format!("a connection from origin {origin} is refused: not a web origin"))),
    };
    let authority = authority.trim_end_matches('/');
    // The platform listens with TLS only, so a Host without a port was reached on 443.
    if !host.is_empty() && host_port(authority, default_port) == host_port(host, "443") {
        return Ok(());
    }
    Err(forbidden(format!(
        "a connection from a page of {origin} is refused: only pages served by this platform ({host}) may open \
         WebSocket connections to it"
    )))
}

/// `host[:port]` as (lower-case host, port), the port defaulting to `default_port`.
fn host_port(authority: &str, default_port: &str) -> (String, String) {
    let (host, port) = match authority.rsplit_once(':') {
        // `[::1]:8443`, `h:8443`; but not the colons inside a bare `[::1]`.
        Some((h, p)) if !p.contains(']') && p.bytes().all(|b| b.is_ascii_digit()) => (h, p),
        _ => (authority, default_port),
    };
    (host.to_ascii_lowercase(), port.to_string())
}

/// Copies bytes both ways. When one side ends, its end is passed on (a shutdown of the other
/// side's writing) and the other direction gets `grace` to finish: a peer that never closes
/// its half cannot keep the connection, and the session's resources, forever.
pub async fn pipe<A, B>(caller: A, cluster: B, name: &str, grace: Duration)
where
    A: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    B: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::AsyncWriteExt as _;
    let (mut caller_read, mut caller_write) = tokio::io::split(caller);
    let (mut cluster_read, mut cluster_write) = tokio::io::split(cluster);
    let up = async {
        let n = tokio::io::copy(&mut caller_read, &mut cluster_write).await;
        let _ = cluster_write.shutdown().await;
        n
    };
    let down = async {
        let n = tokio::io::copy(&mut cluster_read, &mut caller_write).await;
        let _ = caller_write.shutdown().await;
        n
    };
    tokio::pin!(up, down);
    let (first, rest) = tokio::select! {
        n = &mut up => ("caller", (n, tokio::time::timeout(grace, &mut down).await)),
        n = &mut down => ("cluster", (n, tokio::time::timeout(grace, &mut up).await)),
    };
    match rest {
        (Ok(_), Ok(Ok(_))) => tracing::debug!(cluster = name, first, "upgraded connection ended"),
        (Ok(_), Err(_)) => {
            tracing::debug!(cluster = name, first, "upgraded connection closed: the other side kept it open")
        }
        (Err(e), _) | (_, Ok(Err(e))) => tracing::debug!(cluster = name, error = %e, "upgraded connection broke"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_static(k), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn upgrades_are_recognised_by_connection_and_upgrade() {
        let ws = headers(&[("connection", "keep-alive, Upgrade"), ("upgrade", "websocket")]);
        assert_eq!(upgrade_asked(&ws).unwrap(), "websocket");
        let spdy = headers(&[("connection", "upgrade"), ("upgrade", "SPDY/3.1")]);
        assert_eq!(upgrade_asked(&spdy).unwrap(), "SPDY/3.1");
        assert!(upgrade_asked(&headers(&[("upgrade", "websocket")])).is_none());
        assert!(upgrade_asked(&headers(&[("connection", "keep-alive")])).is_none());
        assert!(upgrade_asked(&headers(&[("connection", "upgrade")])).is_none());
    }

    #[test]
    fn the_bearer_subprotocol_stays_behind() {
        let bearer = format!("v5.channel.k8s.io, {}YS5iLmM, v4.channel.k8s.io", crate::auth::WEBSOCKET_BEARER);
        let kept = without_bearer_protocol(&HeaderValue::from_str(&bearer).unwrap()).unwrap();
        assert_eq!(kept, "v5.channel.k8s.io, v4.channel.k8s.io");
        let only = HeaderValue::from_str(&format!("{}YS5iLmM", crate::auth::WEBSOCKET_BEARER)).unwrap();
        assert!(without_bearer_protocol(&only).is_none());
    }

    #[test]
    fn websockets_from_other_sites_are_refused() {
        let ok = |origin: &str, host: &str| same_origin(&headers(&[("origin", origin), ("host", host)])).is_ok();
        assert!(same_origin(&headers(&[("host", "tke.example:8443")])).is_ok(), "no Origin: a tool, not a page");
        assert!(ok("https://tke.example:8443", "tke.example:8443"));
        assert!(ok("https://TKE.example", "tke.example:443"));
        assert!(ok("https://tke.example:443", "tke.example"));
        assert!(ok("https://[::1]:8443", "[::1]:8443"));
        assert!(!ok("https://evil.example", "tke.example"));
        assert!(!ok("https://tke.example:9443", "tke.example:8443"));
        assert!(!ok("http://tke.example", "tke.example"), "port 80 is not the platform's 443");
        assert!(!ok("null", "tke.example"));
        assert!(!ok("https://tke.example.evil.example", "tke.example"));
        let e = same_origin(&headers(&[("origin", "https://evil.example"), ("host", "tke.example")])).unwrap_err();
        assert_eq!(e.code(), 403);
        assert!(e.message.contains("evil.example"), "{}", e.message);
    }

    #[tokio::test]
    async fn a_side_that_never_closes_does_not_keep_the_pipe() {
        let (caller, _browser_stays) = tokio::io::duplex(64);
        let (cluster, cluster_side) = tokio::io::duplex(64);
        let piping = tokio::spawn(pipe(caller, cluster, "c", Duration::from_millis(50)));
        drop(cluster_side);
        tokio::time::timeout(Duration::from_secs(10), piping).await.expect("the pipe ends after the grace").unwrap();
    }
}
