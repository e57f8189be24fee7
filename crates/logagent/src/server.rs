//! The agent's own HTTPS endpoints, for the platform (every request needs the agent's bearer
//! token): `/metrics` (Prometheus), `/v1/status`, and a pod container's log files:
//! `/v1/logfile/tree`, `/v1/logfile/content?start&length&filepath`, `/v1/logfile/download`
//! (each with `namespace`, `pod`, `container`). A `filepath` is relative to the container's log
//! directory (`<pods-dir>/<namespace>_<pod>_<uid>/<container>`); absolute paths and `..` are
//! refused, and a path is resolved (symlinks followed) and refused unless it stays inside that
//! directory.

use std::{
    path::{Component, Path, PathBuf},
    sync::Arc,
};

use apimachinery::ApiError;
use axum::{
    Router,
    body::Body,
    extract::{Query, Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use crate::{buffer::Buffer, stats::Stats};

pub struct ServerState {
    pub pods_dir: PathBuf,
    pub token: String,
    pub stats: Arc<Stats>,
    pub buffer: Arc<Buffer>,
}

fn error(e: ApiError) -> Response {
    let code = StatusCode::from_u16(e.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, axum::Json(e.to_status())).into_response()
}

/// Compares without an early exit (the token is a secret).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn authenticate(State(st): State<Arc<ServerState>>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if st.token.is_empty() || !same(given.trim().as_bytes(), st.token.as_bytes()) {
        return error(ApiError::unauthorized("a valid bearer token of the log agent is required"));
    }
    next.run(req).await
}

pub fn router(state: Arc<ServerState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/v1/status", get(status))
        .route("/v1/logfile/tree", get(tree))
        .route("/v1/logfile/content", get(content))
        .route("/v1/logfile/download", get(download))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state)
}

async fn metrics(State(st): State<Arc<ServerState>>) -> Response {
    let mut r = st.stats.prometheus(st.buffer.usage()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    r
}

async fn status(State(st): State<Arc<ServerState>>) -> Response {
    axum::Json(json!({"counters": st.stats.snapshot(), "buffer": st.buffer.usage()})).into_response()
}

#[derive(Deserialize)]
struct FileQuery {
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    pod: String,
    #[serde(default)]
    container: String,
    #[serde(default)]
    filepath: String,
    start: Option<u64>,
    length: Option<u64>,
}

fn name_ok(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains('/') && !s.contains('\\') && !s.contains('\0')
}

/// The container's log directory, resolved.
fn container_dir(pods_dir: &Path, q: &FileQuery) -> Result<PathBuf, ApiError> {
    for (what, v) in [("namespace", &q.namespace), ("pod", &q.pod), ("container", &q.container)] {
        if !name_ok(v) || (what == "namespace" && v.contains('_')) {
            return Err(ApiError::bad_request(format!("{what} must be a name (given {v:?})")));
        }
    }
    let want = format!("{}_{}_", q.namespace, q.pod);
    let entries =
        std::fs::read_dir(pods_dir).map_err(|e| ApiError::internal(format!("reading the pods directory: {e}")))?;
    let pod_dir = entries
        .flatten()
        .find(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.strip_prefix(&want).is_some_and(|uid| !uid.is_empty() && !uid.contains('_')))
        })
        .ok_or_else(|| ApiError::not_found("", "pods", &format!("{}/{}", q.namespace, q.pod)))?;
    let dir = pod_dir.path().join(&q.container);
    let canon = dir.canonicalize().map_err(|_| ApiError::not_found("", "containers", &q.container))?;
    // The container directory itself must not lead out of the pods directory.
    let root = pods_dir.canonicalize().map_err(|e| ApiError::internal(format!("the pods directory: {e}")))?;
    if !canon.starts_with(&root) || !canon.is_dir() {
        return Err(ApiError::forbidden(
            "",
            "containers",
            &q.container,
            "its log directory leads outside the pods directory",
        ));
    }
    Ok(canon)
}

/// `filepath` inside `base` (resolved), or why not.
pub fn resolve_inside(base: &Path, filepath: &str) -> Result<PathBuf, ApiError> {
    let deny = |why: &str| ApiError::forbidden("", "logfiles", filepath, why);
    if filepath.is_empty() {
        return Err(ApiError::bad_request("filepath is required (relative to the container's log directory)"));
    }
    // A path as the tree lists it (absolute, inside the directory) is taken relative to it.
    let p = Path::new(filepath);
    let p = match p.strip_prefix(base) {
        Ok(rel) if p.is_absolute() => rel,
        _ => p,
    };
    if p.is_absolute() {
        return Err(deny("absolute paths outside the container's log directory are refused"));
    }
    if p.as_os_str().is_empty() {
        return Err(ApiError::bad_request(format!("{filepath} is not a file")));
    }
    if p.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
        return Err(deny("the path may not leave the container's log directory (..)"));
    }
    let full = base.join(p);
    let canon = full.canonicalize().map_err(|_| ApiError::not_found("", "logfiles", filepath))?;
    if !canon.starts_with(base) {
        return Err(deny("the path resolves (through a symbolic link) outside the container's log directory"));
    }
    if !canon.is_file() {
        return Err(ApiError::bad_request(format!("{filepath} is not a file")));
    }
    Ok(canon)
}

async fn tree(State(st): State<Arc<ServerState>>, Query(q): Query<FileQuery>) -> Response {
    let base = match container_dir(&st.pods_dir, &q) {
        Ok(b) => b,
        Err(e) => return error(e),
    };
    let mut files = Vec::new();
    let mut stack = vec![(base.clone(), 0)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let Ok(canon) = e.path().canonicalize() else { continue };
            if !canon.starts_with(&base) {
                continue; // a link out: not shown
            }
            let rel = e.path().strip_prefix(&base).map(|r| r.to_string_lossy().to_string()).unwrap_or_default();
            let Ok(meta) = std::fs::metadata(&canon) else { continue };
            if meta.is_dir() {
                if depth < 4 {
                    stack.push((e.path(), depth + 1));
                }
            } else {
                let mod_time = meta
                    .modified()
                    .ok()
                    .map(|t| {
                        chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    })
                    .unwrap_or_default();
                // The CRI files of the container's standard output and error.
                files.push(json!({"path": rel, "fullPath": e.path().to_string_lossy(), "size": meta.len(),
                    "modTime": mod_time, "kind": "stdout"}));
            }
        }
    }
    files.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
    axum::Json(json!({"namespace": q.namespace, "pod": q.pod, "container": q.container, "files": files}))
        .into_response()
}

/// Most bytes one content request returns.
const MAX_CONTENT: u64 = 4 << 20;

async fn content(State(st): State<Arc<ServerState>>, Query(q): Query<FileQuery>) -> Response {
    let path = match container_dir(&st.pods_dir, &q).and_then(|b| resolve_inside(&b, &q.filepath)) {
        Ok(p) => p,
        Err(e) => return error(e),
    };
    let start = q.start.unwrap_or(0);
    let length = q.length.unwrap_or(64 << 10).min(MAX_CONTENT);
    let read = async {
        let mut f = tokio::fs::File::open(&path).await?;
        let size = f.metadata().await?.len();
        f.seek(std::io::SeekFrom::Start(start.min(size))).await?;
        let mut buf = Vec::new();
        f.take(length).read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>((size, buf))
    };
    match read.await {
        Ok((size, buf)) => axum::Json(json!({
            "filepath": q.filepath, "start": start, "length": buf.len(), "size": size,
            "content": String::from_utf8_lossy(&buf),
        }))
        .into_response(),
        Err(e) => error(ApiError::internal(format!("reading {}: {e}", q.filepath))),
    }
}

async fn download(State(st): State<Arc<ServerState>>, Query(q): Query<FileQuery>) -> Response {
    let path = match container_dir(&st.pods_dir, &q).and_then(|b| resolve_inside(&b, &q.filepath)) {
        Ok(p) => p,
        Err(e) => return error(e),
    };
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) => return error(ApiError::internal(format!("opening {}: {e}", q.filepath))),
    };
    let stream = futures::stream::unfold(file, |mut f| async move {
        let mut buf = vec![0u8; 64 << 10];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    let name = path.file_name().map(|n| n.to_string_lossy().replace('"', "")).unwrap_or_default();
    let mut r = Body::from_stream(stream).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_outside_the_directory_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().join("c");
        std::fs::create_dir_all(base.join("sub")).expect("mkdir");
        std::fs::write(base.join("0.log"), "x").expect("write");
        std::fs::write(base.join("sub/a.log"), "y").expect("write");
        std::fs::write(dir.path().join("secret"), "s").expect("write");
        std::os::unix::fs::symlink(dir.path().join("secret"), base.join("out")).expect("symlink");
        std::os::unix::fs::symlink(base.join("0.log"), base.join("in")).expect("symlink");
        let base = base.canonicalize().expect("canon");
        assert!(resolve_inside(&base, "0.log").is_ok());
        assert!(resolve_inside(&base, "sub/a.log").is_ok());
        assert!(resolve_inside(&base, "in").is_ok());
        let full = base.join("sub/a.log");
        assert_eq!(resolve_inside(&base, &full.to_string_lossy()).ok(), Some(full), "as the tree lists it");
        let escape = format!("{}/../secret", base.display());
        assert_eq!(resolve_inside(&base, &escape).map_err(|e| e.code()).err(), Some(403));
        for bad in ["../secret", "sub/../../secret", "/etc/passwd", "out"] {
            let e = resolve_inside(&base, bad).expect_err(bad);
            assert_eq!(e.code(), 403, "{bad}: {}", e.message);
        }
        assert_eq!(resolve_inside(&base, "missing").map_err(|e| e.code()), Err(404));
    }
}
