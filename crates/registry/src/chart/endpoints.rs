//! The HTTP endpoints under `/chart/`: `index.yaml`, archive and provenance downloads, and the
//! chartmuseum API (`/chart/api/{group}/charts...`) with its multipart uploads.

use crate::events::Action;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};
use std::sync::Arc;

use super::repository::{Caller, Charts, Need, valid_group};
use super::{ChartError, MAX_CHART_SIZE, MAX_PROV_SIZE, Result, StoredVersion};

pub(super) fn json_response(status: StatusCode, body: &Value) -> Response {
    let text = body.to_string();
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// One part of a `multipart/form-data` body.
struct Part {
    name: String,
    filename: Option<String>,
    data: Bytes,
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    (from..=hay.len() - needle.len()).find(|&i| hay[i..i + needle.len()] == *needle)
}

/// The `name="..."` style parameter `key` of a header value.
fn header_param(value: &str, key: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        (k.trim().eq_ignore_ascii_case(key)).then(|| v.trim().trim_matches('"').to_string())
    })
}

/// Splits a buffered `multipart/form-data` body (RFC 7578) into its parts.
fn multipart(body: &Bytes, boundary: &str) -> Result<Vec<Part>> {
    let bad = || ChartError::bad("malformed multipart/form-data body");
    let delim = format!("--{boundary}");
    let mut pos = find(body, delim.as_bytes(), 0).ok_or_else(bad)? + delim.len();
    let mut parts = Vec::new();
    loop {
        if body[pos..].starts_with(b"--") {
            return Ok(parts);
        }
        let head_start = pos + if body[pos..].starts_with(b"\r\n") { 2 } else { 0 };
        let head_end = find(body, b"\r\n\r\n", head_start).ok_or_else(bad)?;
        let head = std::str::from_utf8(&body[head_start..head_end]).map_err(|_| bad())?;
        let next_delim = format!("\r\n{delim}");
        let data_end = find(body, next_delim.as_bytes(), head_end + 4).ok_or_else(bad)?;
        let disposition = head
            .split("\r\n")
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim().eq_ignore_ascii_case("content-disposition").then(|| v.trim().to_string())
            })
            .ok_or_else(bad)?;
        parts.push(Part {
            name: header_param(&disposition, "name").unwrap_or_default(),
            filename: header_param(&disposition, "filename"),
            data: body.slice(head_end + 4..data_end),
        });
        pos = data_end + next_delim.len();
        if pos >= body.len() {
            return Err(bad());
        }
    }
}

/// A chart upload's archive, provenance and the archive's file name (multipart only).
async fn read_upload(req: Request) -> Result<(Bytes, Option<Bytes>, Option<String>)> {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let limit = MAX_CHART_SIZE + MAX_PROV_SIZE + 64 * 1024;
    let body = axum::body::to_bytes(req.into_body(), limit).await.map_err(|_| {
        ChartError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the upload is larger than {MAX_CHART_SIZE} bytes or unreadable"),
        )
    })?;
    if !content_type.to_ascii_lowercase().starts_with("multipart/form-data") {
        if body.len() > MAX_CHART_SIZE {
            return Err(ChartError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the chart is larger than {MAX_CHART_SIZE} bytes"),
            ));
        }
        return Ok((body, None, None));
    }
    let boundary = header_param(&content_type, "boundary")
        .filter(|b| !b.is_empty())
        .ok_or_else(|| ChartError::bad("multipart/form-data without a boundary"))?;
    let mut chart = None;
    let mut prov = None;
    for p in multipart(&body, &boundary)? {
        match p.name.as_str() {
            "chart" => chart = Some((p.data, p.filename)),
            "prov" => prov = Some(p.data),
            _ => {}
        }
    }
    let (chart, filename) = chart.ok_or_else(|| ChartError::bad("the form has no \"chart\" field"))?;
    if chart.len() > MAX_CHART_SIZE {
        return Err(ChartError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the chart is larger than {MAX_CHART_SIZE} bytes"),
        ));
    }
    Ok((chart, prov, filename))
}

/// The routes under `/chart/`.
#[derive(Debug, PartialEq)]
enum Route {
    Index(String),
    Download(String, String),
    List(String),
    Chart(String, String),
    Version(String, String, String),
    Prov(String),
}

fn parse_route(path: &str) -> Option<Route> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let s = |i: usize| segs[i].to_string();
    Some(match segs.as_slice() {
        ["api", _, "charts"] => Route::List(s(1)),
        ["api", _, "prov"] => Route::Prov(s(1)),
        ["api", _, "charts", _] => Route::Chart(s(1), s(3)),
        ["api", _, "charts", _, _] => Route::Version(s(1), s(3), s(4)),
        [_, "index.yaml"] => Route::Index(s(0)),
        [_, "charts", _] => Route::Download(s(0), s(2)),
        _ => return None,
    })
}

/// `/chart/...`.
pub(crate) async fn serve(State(charts): State<Arc<Charts>>, req: Request) -> Response {
    match dispatch(&charts, req).await {
        Ok(r) => r,
        Err(e) => {
            if e.status.is_server_error() {
                tracing::error!(error = %e, "chart request failed");
            }
            e.into_response()
        }
    }
}

async fn dispatch(charts: &Charts, req: Request) -> Result<Response> {
    let path = req.uri().path().strip_prefix("/chart").unwrap_or("").to_string();
    let route = parse_route(&path).ok_or_else(|| ChartError::not_found("no such chart repository endpoint"))?;
    let method = req.method().clone();
    let head = method == Method::HEAD;
    let need = match method {
        Method::GET | Method::HEAD => Need::Read,
        Method::POST | Method::DELETE => Need::Write,
        _ => {
            return Err(ChartError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"));
        }
    };
    let group = match &route {
        Route::Index(g)
        | Route::Download(g, _)
        | Route::List(g)
        | Route::Chart(g, _)
        | Route::Version(g, _, _)
        | Route::Prov(g) => g.clone(),
    };
    if !valid_group(&group) {
        return Err(ChartError::not_found(format!("invalid chart group name {group:?}")));
    }
    let host = apiserver::http::request_authority(&req).map_err(|e| ChartError::bad(e.to_string()))?;
    let tenant = charts.tenant(host)?;
    let user = charts.authorize(req.headers(), &tenant, &group, need).await?;
    if need == Need::Write && charts.read_only {
        return Err(ChartError::new(StatusCode::SERVICE_UNAVAILABLE, "the registry is in read-only mode"));
    }
    let caller = Caller {
        tenant: tenant.clone(),
        user,
        user_agent: req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_string),
    };
    let force = req
        .uri()
        .query()
        .is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "force" && v != "false" && v != "0"));
    let t = tenant.as_str();
    let g = group.as_str();
    match (route, method) {
        (Route::Index(_), Method::GET | Method::HEAD) => {
            let body = charts.index(t, g).await?;
            let mut r = Response::new(if head { Body::empty() } else { Body::from(body.clone()) });
            set(&mut r, header::CONTENT_TYPE, "application/x-yaml");
            set(&mut r, header::CONTENT_LENGTH, &body.len().to_string());
            Ok(r)
        }
        (Route::Download(_, file), Method::GET | Method::HEAD) => download(charts, &caller, g, &file, head).await,
        (Route::List(_), Method::GET | Method::HEAD) => {
            let all: serde_json::Map<String, Value> = charts
                .charts(t, g)
                .await?
                .into_iter()
                .map(|(n, vs)| (n, Value::Array(vs.iter().map(StoredVersion::entry).collect())))
                .collect();
            Ok(json_response(StatusCode::OK, &Value::Object(all)))
        }
        (Route::List(_), Method::POST) => {
            let (tgz, prov, filename) = read_upload(req).await?;
            let v = charts.save(t, g, tgz, prov, filename.as_deref(), force).await?;
            charts.emit(&caller, g, Action::ChartPush, &v);
            Ok(json_response(StatusCode::CREATED, &json!({ "saved": true })))
        }
        (Route::Prov(_), Method::POST) => {
            let (body, prov, _) = read_upload(req).await?;
            // A form carries the file in its `prov` field; a plain body is the file itself.
            let prov = match prov {
                Some(p) => p,
                None => body,
            };
            charts.save_prov(t, g, prov).await?;
            Ok(json_response(StatusCode::CREATED, &json!({ "saved": true })))
        }
        (Route::Chart(_, name), Method::GET | Method::HEAD) => {
            let vs = charts.versions(t, g, &name).await?;
            if vs.is_empty() {
                return Err(ChartError::not_found(format!("chart {name:?} not found")));
            }
            Ok(json_response(StatusCode::OK, &Value::Array(vs.iter().map(StoredVersion::entry).collect())))
        }
        (Route::Version(_, name, version), Method::GET | Method::HEAD) => {
            let v = if version == "latest" {
                charts.versions(t, g, &name).await?.into_iter().next()
            } else {
                charts.version(t, g, &name, &version).await?
            };
            let v = v.ok_or_else(|| ChartError::not_found(format!("chart {name:?} version {version:?} not found")))?;
            Ok(json_response(StatusCode::OK, &v.entry()))
        }
        (Route::Version(_, name, version), Method::DELETE) => {
            let v = charts
                .delete_version(t, g, &name, &version)
                .await?
                .ok_or_else(|| ChartError::not_found(format!("chart {name:?} version {version:?} not found")))?;
            charts.emit(&caller, g, Action::ChartDelete, &v);
            Ok(json_response(StatusCode::OK, &json!({ "deleted": true })))
        }
        _ => Err(ChartError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed on this endpoint")),
    }
}

fn set(r: &mut Response, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

/// `GET /chart/{group}/charts/{name}-{version}.tgz` (and `.tgz.prov`, `.prov`).
pub(super) async fn download(
    charts: &Charts,
    caller: &Caller,
    group: &str,
    file: &str,
    head: bool,
) -> Result<Response> {
    let (stem, prov) = if let Some(s) = file.strip_suffix(".tgz.prov") {
        (s, true)
    } else if let Some(s) = file.strip_suffix(".prov") {
        (s, true)
    } else if let Some(s) = file.strip_suffix(".tgz") {
        (s, false)
    } else {
        return Err(ChartError::not_found(format!("{file:?} is not a chart file")));
    };
    let missing = || ChartError::not_found(format!("{file} not found"));
    let v = charts.resolve_file(&caller.tenant, group, stem).await?.ok_or_else(missing)?;
    if prov && !v.prov {
        return Err(missing());
    }
    let dir = charts.group_dir(&caller.tenant, group)?;
    let path = format!("{dir}/{}/{}/{}.{}", v.name(), v.version(), v.digest, if prov { "prov" } else { "tgz" });
    let size = charts.storage.size(&path).await?.ok_or_else(missing)?;
    let body = if head {
        Body::empty()
    } else {
        Body::from_stream(charts.storage.read(&path, 0, None).await?.ok_or_else(missing)?)
    };
    if !head && !prov {
        charts.emit(caller, group, Action::ChartPull, &v);
    }
    let mut r = Response::new(body);
    set(&mut r, header::CONTENT_TYPE, if prov { "application/pgp-signature" } else { "application/gzip" });
    set(&mut r, header::CONTENT_LENGTH, &size.to_string());
    if !prov {
        set(&mut r, header::ETAG, &format!("\"sha256:{}\"", v.digest));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(parse_route("/api/g/charts"), Some(Route::List("g".into())));
        assert_eq!(parse_route("/api/g/charts/n/1.0.0"), Some(Route::Version("g".into(), "n".into(), "1.0.0".into())));
        assert_eq!(parse_route("/g/index.yaml"), Some(Route::Index("g".into())));
        assert_eq!(parse_route("/g/charts/n-1.0.0.tgz"), Some(Route::Download("g".into(), "n-1.0.0.tgz".into())));
        assert_eq!(parse_route("/g/other"), None);
    }

    #[test]
    fn multipart_bodies() {
        let body = Bytes::from_static(b"--XX\r\nContent-Disposition: form-data; name=\"chart\"; filename=\"a-1.0.0.tgz\"\r\nContent-Type: application/octet-stream\r\n\r\nDATA\r\n--XX\r\nContent-Disposition: form-data; name=\"prov\"\r\n\r\nP\r\n--XX--\r\n");
        let parts = multipart(&body, "XX").expect("parts");
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[0].name.as_str(), parts[0].filename.as_deref(), &parts[0].data[..]),
            ("chart", Some("a-1.0.0.tgz"), &b"DATA"[..])
        );
        assert_eq!(&parts[1].data[..], b"P");
    }
}
