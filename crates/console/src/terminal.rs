//! The gateway's WebSocket routes of TKEStack's console (reference 9.1), as the user:
//!
//! - `/webtty?clusterName=&namespace=&podName=&containerName=&command=`: a terminal in a
//!   container. The browser speaks JSON messages (`{"Op":"stdin","Data":…}`,
//!   `{"Op":"resize","Rows":…,"Cols":…}`; the gateway answers `{"Op":"stdout","Data":…}` and
//!   `{"Op":"toast","Data":…}` for what went wrong); the gateway opens the container's `exec`
//!   through the cluster proxy (WebSocket, `v4.channel.k8s.io`) and translates both ways.
//! - `/websocket?clusterName=&encodePath=`: any streamed read in a business cluster (a watch, a
//!   followed log), `encodePath` the base64 of its path and query; each chunk of the answer is
//!   one text message.
//!
//! Both authenticate like the API (the session cookie or a bearer token), and the API decides
//! as for any request of that user (`create pods/exec`, `watch`...). A browser's WebSocket
//! carries cookies from any page, so one whose `Origin` is another site is refused.

use std::sync::Arc;

use apimachinery::ApiError;
use apiserver::{http::error_response, session};
use axum::{
    Router,
    body::Body,
    extract::{
        Query, State,
        ws::{Message as BrowserMessage, WebSocket, WebSocketUpgrade},
    },
    http::{Response, header, request::Parts},
    routing::get,
};
use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio_tungstenite::tungstenite::{Message as ExecMessage, client::IntoClientRequest, http::HeaderValue};

/// Where the gateway reaches the platform's API, and the CA of its serving certificate.
pub struct Api {
    /// `https://host:port`.
    pub url: String,
    pub tls: Arc<rustls::ClientConfig>,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(url: String, ca_pem: &[u8]) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut &ca_pem[..]) {
            let cert = cert.map_err(|e| format!("the platform's CA: {e}"))?;
            roots.add(cert).map_err(|e| format!("the platform's CA: {e}"))?;
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(ca_pem).map_err(|e| format!("the platform's CA: {e}"))?,
            )
            .build()
            .map_err(|e| format!("the platform's client: {e}"))?;
        Ok(Api { url: url.trim_end_matches('/').to_string(), tls: Arc::new(tls), http })
    }

    fn proxy_path(cluster: &str, path: &str) -> String {
        format!("/apis/platform.tkestack.io/v1/clusters/{cluster}/proxy{path}")
    }
}

/// The caller's token (session cookie or bearer), after the checks a WebSocket needs.
fn caller_token(parts: &mut Parts) -> Result<String, ApiError> {
    if let Some(origin) = parts.headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = parts.headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or(origin).trim_end_matches('/');
        if origin_host != host {
            return Err(ApiError::new(
                apimachinery::error::Reason::Forbidden,
                format!("a WebSocket opened from another site ({origin}) is refused"),
            ));
        }
    }
    session::adopt(parts).map_err(|e| ApiError::new(apimachinery::error::Reason::Forbidden, e.to_string()))?;
    apiserver::auth::request_token(&parts.headers)
        .map(|t| t.into_owned())
        .ok_or_else(|| ApiError::unauthorized("log in to the console, or send a bearer token"))
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TtyQuery {
    cluster_name: String,
    namespace: String,
    pod_name: String,
    #[serde(default)]
    container_name: String,
    #[serde(default)]
    command: String,
}

/// A message of the console's terminal protocol.
#[derive(Deserialize)]
struct TtyMessage {
    #[serde(rename = "Op")]
    op: String,
    #[serde(rename = "Data", default)]
    data: String,
    #[serde(rename = "Rows", default)]
    rows: u16,
    #[serde(rename = "Cols", default)]
    cols: u16,
}

async fn webtty(
    State(api): State<Arc<Api>>,
    Query(q): Query<TtyQuery>,
    ws: WebSocketUpgrade,
    request: axum::extract::Request,
) -> Response<Body> {
    let (mut parts, _) = request.into_parts();
    let token = match caller_token(&mut parts) {
        Ok(t) => t,
        Err(e) => return error_response(&e),
    };
    for (what, v) in [("clusterName", &q.cluster_name), ("namespace", &q.namespace), ("podName", &q.pod_name)] {
        if !valid_name(v) {
            return error_response(&ApiError::bad_request(format!("{what} {v:?} is not a valid name")));
        }
    }
    if !q.container_name.is_empty() && !valid_name(&q.container_name) {
        return error_response(&ApiError::bad_request("containerName is not a valid name"));
    }
    let command = if q.command.is_empty() { "/bin/sh".to_string() } else { q.command.clone() };
    let mut query = form_pairs(&[
        ("command", &command),
        ("stdin", "true"),
        ("stdout", "true"),
        ("stderr", "true"),
        ("tty", "true"),
    ]);
    if !q.container_name.is_empty() {
        query.push('&');
        query.push_str(&form_pairs(&[("container", &q.container_name)]));
    }
    let path = Api::proxy_path(
        &q.cluster_name,
        &format!("/api/v1/namespaces/{}/pods/{}/exec?{query}", q.namespace, q.pod_name),
    );
    // Opened before answering the browser, so a refusal (no permission, no such pod) is an
    // HTTP answer the page can show.
    let exec = match open_exec(&api, &path, &token).await {
        Ok(s) => s,
        Err(e) => return error_response(&e),
    };
    ws.on_upgrade(move |browser| relay_tty(browser, exec))
}

fn form_pairs(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let v: String = v
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect();
            format!("{k}={v}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

type ExecStream = tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

async fn open_exec(api: &Api, path: &str, token: &str) -> Result<ExecStream, ApiError> {
    let authority = api.url.trim_start_matches("https://").to_string();
    let host = authority.rsplit_once(':').map(|(h, _)| h).unwrap_or(&authority).trim_matches(['[', ']']).to_string();
    let unavailable =
        |e: String| ApiError::unavailable(format!("the platform's API at {} did not answer: {e}", api.url));
    let tcp = tokio::net::TcpStream::connect(&authority).await.map_err(|e| unavailable(e.to_string()))?;
    let name = rustls::pki_types::ServerName::try_from(host).map_err(|e| unavailable(e.to_string()))?;
    let tls = tokio_rustls::TlsConnector::from(api.tls.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    let mut request = format!("wss://{authority}{path}")
        .into_client_request()
        .map_err(|e| ApiError::bad_request(format!("the exec request: {e}")))?;
    let h = request.headers_mut();
    h.insert("Sec-WebSocket-Protocol", HeaderValue::from_static("v4.channel.k8s.io"));
    h.insert(
        "Authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| ApiError::unauthorized("a malformed token"))?,
    );
    match tokio_tungstenite::client_async(request, tls).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let status = resp.status().as_u16();
            let message = resp
                .body()
                .as_ref()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
                .and_then(|v| v["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| format!("the terminal was refused ({status})"));
            Err(match status {
                401 => ApiError::unauthorized(message),
                403 => ApiError::new(apimachinery::error::Reason::Forbidden, message),
                404 => ApiError::new(apimachinery::error::Reason::NotFound, message),
                _ => ApiError::bad_request(message),
            })
        }
        Err(e) => Err(unavailable(e.to_string())),
    }
}

fn tty_out(op: &str, data: &str) -> BrowserMessage {
    BrowserMessage::Text(json!({"Op": op, "Data": data}).to_string().into())
}

/// Relays between the browser's JSON terminal protocol and the exec's channels until either
/// side ends; the exec's final status, when it failed, is shown as a toast.
async fn relay_tty(browser: WebSocket, exec: ExecStream) {
    let (mut to_browser, mut from_browser) = browser.split();
    let (mut to_exec, mut from_exec) = exec.split();
    let upstream = async {
        while let Some(Ok(msg)) = from_browser.next().await {
            let text = match msg {
                BrowserMessage::Text(t) => t.to_string(),
                BrowserMessage::Close(_) => break,
                _ => continue,
            };
            let Ok(m) = serde_json::from_str::<TtyMessage>(&text) else { continue };
            let frame = match m.op.as_str() {
                "stdin" => {
                    let mut f = vec![0u8];
                    f.extend_from_slice(m.data.as_bytes());
                    f
                }
                "resize" if m.rows > 0 && m.cols > 0 => {
                    let mut f = vec![4u8];
                    f.extend_from_slice(json!({"Width": m.cols, "Height": m.rows}).to_string().as_bytes());
                    f
                }
                _ => continue,
            };
            if to_exec.send(ExecMessage::Binary(frame.into())).await.is_err() {
                break;
            }
        }
        let _ = to_exec.close().await;
    };
    let downstream = async {
        while let Some(Ok(msg)) = from_exec.next().await {
            let bytes = match msg {
                ExecMessage::Binary(b) => b,
                ExecMessage::Close(_) => break,
                _ => continue,
            };
            let Some((&channel, data)) = bytes.split_first() else { continue };
            let text = String::from_utf8_lossy(data);
            let out = match channel {
                1 | 2 => tty_out("stdout", &text),
                3 => {
                    let status: serde_json::Value = serde_json::from_slice(data).unwrap_or_default();
                    if status["status"] == "Success" {
                        continue;
                    }
                    tty_out("toast", status["message"].as_str().unwrap_or(&text))
                }
                _ => continue,
            };
            if to_browser.send(out).await.is_err() {
                break;
            }
        }
        let _ = to_browser.close().await;
    };
    // Either side ending ends the other.
    tokio::select! {
        _ = upstream => {},
        _ = downstream => {},
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StreamQuery {
    cluster_name: String,
    encode_path: String,
}

async fn websocket(
    State(api): State<Arc<Api>>,
    Query(q): Query<StreamQuery>,
    ws: WebSocketUpgrade,
    request: axum::extract::Request,
) -> Response<Body> {
    let (mut parts, _) = request.into_parts();
    let token = match caller_token(&mut parts) {
        Ok(t) => t,
        Err(e) => return error_response(&e),
    };
    if !valid_name(&q.cluster_name) {
        return error_response(&ApiError::bad_request("clusterName is not a valid name"));
    }
    let path = base64::engine::general_purpose::STANDARD
        .decode(q.encode_path.trim())
        .or_else(|_| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(q.encode_path.trim().trim_end_matches('='))
        })
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|p| p.starts_with('/') && !p.contains("..") && !p.chars().any(char::is_control));
    let Some(path) = path else {
        return error_response(&ApiError::bad_request("encodePath must be the base64 of a path starting with /"));
    };
    let url = format!("{}{}", api.url, Api::proxy_path(&q.cluster_name, &path));
    let resp = match api.http.get(&url).bearer_auth(&token).send().await {
        Ok(r) => r,
        Err(e) => return error_response(&ApiError::unavailable(format!("the platform's API did not answer: {e}"))),
    };
    if !resp.status().is_success() {
        let status = resp.status();
        let mut out = Response::new(Body::from(resp.bytes().await.unwrap_or_default()));
        *out.status_mut() = status;
        out.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
        return out;
    }
    ws.on_upgrade(move |mut browser| async move {
        let mut chunks = resp.bytes_stream();
        loop {
            tokio::select! {
                chunk = chunks.next() => match chunk {
                    Some(Ok(bytes)) => {
                        let text = String::from_utf8_lossy(&bytes).into_owned();
                        if browser.send(BrowserMessage::Text(text.into())).await.is_err() {
                            break;
                        }
                    }
                    _ => break,
                },
                incoming = browser.recv() => match incoming {
                    Some(Ok(BrowserMessage::Close(_))) | None | Some(Err(_)) => break,
                    _ => {}
                },
            }
        }
        let _ = browser.close().await;
    })
}

/// `/webtty` and `/websocket`, answered as the caller.
pub fn routes(api: Arc<Api>) -> Router {
    Router::new().route("/webtty", get(webtty)).route("/websocket", get(websocket)).with_state(api)
}
