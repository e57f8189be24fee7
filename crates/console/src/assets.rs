//! The console's built pages, embedded at build time (see build.rs): served with a strict
//! Content-Security-Policy, compressed when the browser accepts gzip, cached for good when
//! their names carry a content hash (`/assets/`), revalidated otherwise. The page itself
//! (`/tkestack` and every path under it, the console's own routes) is `index.html`, shown only
//! to a logged-in browser: others go to the login first.

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, Response, StatusCode, Uri, header},
    response::{IntoResponse, Redirect},
    routing::get,
};

use crate::gateway::Gateway;

/// One embedded file.
pub struct Asset {
    /// `/index.html`, `/assets/index-1a2b3c.js`, ...
    pub path: &'static str,
    pub body: &'static [u8],
    /// The gzip copy, when smaller.
    pub gzip: Option<&'static [u8]>,
    pub etag: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The console's pages may run only their own scripts; styles may be set by the UI libraries;
/// data comes only from this origin (WebSockets to it included); nothing may frame them.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// Whether the console was built into this binary.
pub fn built() -> bool {
    find("/index.html").is_some()
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, e)| e) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        Some("txt") => "text/plain; charset=utf-8",
        Some("wasm") => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// Headers every console response carries.
pub fn secure_headers(h: &mut HeaderMap) {
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',').any(|e| {
            let mut parts = e.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| p.trim().replace(' ', "") == "q=0");
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
    })
}

/// Serves `asset` as the answer to a request with `headers`.
pub fn serve(asset: &'static Asset, headers: &HeaderMap) -> Response<Body> {
    let immutable = asset.path.starts_with("/assets/");
    let mut resp = if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(asset.etag) {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let (body, gz): (&'static [u8], bool) = match asset.gzip {
            Some(gz) if accepts_gzip(headers) => (gz, true),
            _ => (asset.body, false),
        };
        let mut r = Response::new(Body::from(body));
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(asset.path)));
        if gz {
            r.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        r
    };
    let h = resp.headers_mut();
    h.insert(header::ETAG, HeaderValue::from_static(asset.etag));
    if asset.gzip.is_some() {
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if immutable { "public, max-age=31536000, immutable" } else { "no-cache" }),
    );
    secure_headers(h);
    resp
}

/// What `/tkestack` shows in a binary built without the console.
const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>tke-rs</title>\
<h1>The console is not built into this binary</h1>\
<p>Build it with <code>npm --prefix web ci &amp;&amp; npm --prefix web run build</code> and rebuild <code>tke</code> \
(<code>scripts/up</code> does both). The API, <code>kubectl</code> and <code>tke login</code> work without it.</p></html>";

async fn page(State(g): State<Arc<Gateway>>, uri: Uri, headers: HeaderMap) -> Response<Body> {
    let return_to = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/tkestack");
    let renewed = match g.ensure_session(&headers).await {
        Ok(renewed) => renewed,
        Err(()) => return Redirect::to(&crate::gateway::login_path(return_to)).into_response(),
    };
    let mut resp = match find("/index.html") {
        Some(index) => serve(index, &headers),
        None => {
            let mut r =
                (StatusCode::OK, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], NOT_BUILT).into_response();
            secure_headers(r.headers_mut());
            r
        }
    };
    // The page itself is never cached: it is where an expired session is noticed.
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut().remove(header::ETAG);
    for c in renewed {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

async fn asset(Path(rest): Path<String>, headers: HeaderMap) -> Response<Body> {
    match find(&format!("/assets/{rest}")) {
        Some(a) => serve(a, &headers),
        None => (StatusCode::NOT_FOUND, "no such console file").into_response(),
    }
}

/// The console's routes: `/` sends to the console, `/tkestack[/...]` is the page, the built
/// files under `/assets/` and the few at the top (icons) are files.
pub fn routes(gateway: Arc<Gateway>) -> Router {
    let mut router = Router::new()
        .route("/", get(|| async { Redirect::to("/tkestack") }))
        .route("/tkestack", get(page))
        .route("/tkestack/", get(page))
        .route("/tkestack/{*rest}", get(page))
        .route("/assets/{*rest}", get(asset));
    for a in ASSETS.iter().filter(|a| !a.path.starts_with("/assets/") && a.path != "/index.html") {
        // Top-level files of the build (icons, robots.txt): never an API path.
        if a.path.matches('/').count() == 1 && !a.path.starts_with("/api") && !a.path.starts_with("/oidc") {
            router = router.route(a.path, get(move |headers: HeaderMap| async move { serve(a, &headers) }));
        }
    }
    router.with_state(gateway)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_negotiation() {
        let mut h = HeaderMap::new();
        assert!(!accepts_gzip(&h));
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("br, gzip, deflate"));
        assert!(accepts_gzip(&h));
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip;q=0, br"));
        assert!(!accepts_gzip(&h));
    }

    #[test]
    fn types_of_built_files() {
        assert_eq!(content_type("/assets/index-abc.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("/index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("/x"), "application/octet-stream");
    }
}
