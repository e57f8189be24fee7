//! The registry's traffic as Prometheus metrics: `/v2/` requests by method and status code, and
//! the bytes pushed (request bodies) and pulled (bodies of successful GETs) as they stream, so a
//! scrape sees an image push while it is running. A server exposes them by passing its registry
//! to [`register`].

use std::sync::OnceLock;

use axum::{body::Body, extract::Request, response::Response};
use futures::TryStreamExt;
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family},
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub code: String,
}

struct Traffic {
    requests: Family<RequestLabels, Counter>,
    pushed: Counter,
    pulled: Counter,
}

fn traffic() -> &'static Traffic {
    static TRAFFIC: OnceLock<Traffic> = OnceLock::new();
    TRAFFIC.get_or_init(|| Traffic {
        requests: Family::default(),
        pushed: Counter::default(),
        pulled: Counter::default(),
    })
}

/// Adds /// `tke_registry_requests_total`, `tke_registry_pushed_bytes_total` and
/// `tke_registry_pulled_bytes_total` to `registry`.
pub fn register(registry: &mut Registry) {
    let t = traffic();
    registry.register("tke_registry_requests", "Registry /v2/ requests by method and HTTP code", t.requests.clone());
    registry.register("tke_registry_pushed_bytes", "Bytes received in registry request bodies", t.pushed.clone());
    registry.register(
        "tke_registry_pulled_bytes",
        "Bytes sent in bodies of successful registry GETs",
        t.pulled.clone(),
    );
}

/// `req` with its body counted as pushed bytes while it is read.
pub(crate) fn counting_request(req: Request) -> Request {
    let (parts, body) = req.into_parts();
    let body = body.into_data_stream().inspect_ok(|chunk| {
        traffic().pushed.inc_by(chunk.len() as u64);
    });
    Request::from_parts(parts, Body::from_stream(body))
}

/// Counts the answer to a `method` request; a successful GET's body is counted as pulled bytes
/// while it is sent.
pub(crate) fn counting_response(method: &http::Method, resp: Response) -> Response {
    let t = traffic();
    t.requests
        .get_or_create(&RequestLabels { method: method.to_string(), code: resp.status().as_u16().to_string() })
        .inc();
    if method != http::Method::GET || !resp.status().is_success() {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let body = body.into_data_stream().inspect_ok(|chunk| {
        traffic().pulled.inc_by(chunk.len() as u64);
    });
    Response::from_parts(parts, Body::from_stream(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bodies_are_counted_as_they_stream() {
        let req =
            counting_request(Request::builder().method("PUT").body(Body::from(vec![0u8; 1000])).expect("request"));
        let got = axum::body::to_bytes(req.into_body(), usize::MAX).await.expect("body");
        assert_eq!(got.len(), 1000);
        let resp = counting_response(&http::Method::GET, Response::new(Body::from(vec![1u8; 300])));
        let _ = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
        let mut r = Registry::default();
        register(&mut r);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &r).expect("encode");
        assert!(text.contains("tke_registry_requests_total{method=\"GET\",code=\"200\"}"), "{text}");
        let value = |name: &str| -> u64 {
            text.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
        };
        // Counters are per process; other tests may have added to them.
        assert!(value("tke_registry_pushed_bytes_total ") >= 1000, "{text}");
        assert!(value("tke_registry_pulled_bytes_total ") >= 300, "{text}");
    }
}
