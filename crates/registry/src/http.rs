//! The HTTP surface: the `/v2/` OCI distribution endpoints and the `/registry/auth` token
//! endpoint. Repository names contain slashes, so `/v2/` paths are parsed from the end
//! (`.../blobs/<digest>`, `.../manifests/<ref>`, ...) instead of by the router.

use crate::auth::{self, Access, AuthConfig};
use crate::digest::{Algorithm, Digest};
use crate::error::{Code, Error, Result};
use crate::events::{Action, Event, EventSink};
use crate::manifest::{self, Manifest};
use crate::names;
use crate::store::Store;
use crate::tenancy::Tenancy;
use apiserver::http::{AuthorityError, request_authority};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use std::sync::Arc;

/// Shared state of the registry's handlers.
pub(crate) struct App {
    pub store: Store,
    pub auth: Option<AuthConfig>,
    pub read_only: bool,
    pub tenancy: Option<Tenancy>,
    pub events: Option<Arc<dyn EventSink>>,
}

/// A repository of a request: the name the client uses (in URLs, bodies and headers) and the
/// tenant-qualified name its content is stored under.
struct Repo {
    name: String,
    key: String,
    namespace: String,
    path: String,
}

/// Who is asking, for events.
struct Caller {
    tenant: String,
    user: Option<String>,
    user_agent: Option<String>,
}

impl App {
    /// The tenant of a request to `host` (its [`request_authority`]; "" without tenancy).
    fn tenant(&self, host: Option<&str>) -> Result<String> {
        match &self.tenancy {
            Some(t) => t.tenant_of_host(host),
            None => Ok(String::new()),
        }
    }

    fn repo(&self, tenant: &str, name: &str) -> Result<Repo> {
        let (key, namespace, path) = match &self.tenancy {
            Some(t) => {
                let (ns, path) = t.split(name)?;
                (t.stored_name(tenant, name)?, ns, path)
            }
            None => {
                let (ns, path) = name.split_once('/').unwrap_or(("", name));
                (name.to_string(), ns, path)
            }
        };
        Ok(Repo { name: name.to_string(), key, namespace: namespace.to_string(), path: path.to_string() })
    }

    /// Reports an event on the manifest `(digest, media type, size)` of `repo`.
    fn emit(&self, caller: &Caller, repo: &Repo, action: Action, tag: Option<String>, manifest: (&Digest, &str, u64)) {
        let (digest, media_type, size) = manifest;
        let Some(sink) = &self.events else { return };
        let tenant = match &self.tenancy {
            Some(t) => t.owner(&caller.tenant, &repo.namespace).to_string(),
            None => String::new(),
        };
        sink.notify(Event {
            action,
            tenant,
            repository: repo.name.clone(),
            namespace: repo.namespace.clone(),
            name: repo.path.clone(),
            tag,
            digest: digest.to_string(),
            media_type: media_type.to_string(),
            size,
            user: caller.user.clone(),
            user_agent: caller.user_agent.clone(),
            time: std::time::SystemTime::now(),
        });
    }
}

#[derive(Debug)]
enum Route {
    Base,
    Catalog,
    Tags(String),
    Manifest(String, String),
    Blob(String, String),
    UploadStart(String),
    Upload(String, String),
    Referrers(String, String),
}

fn parse_route(path: &str) -> Result<Route> {
    if path.is_empty() {
        return Ok(Route::Base);
    }
    if path == "_catalog" {
        return Ok(Route::Catalog);
    }
    let segs: Vec<&str> = path.split('/').collect();
    let n = segs.len();
    let name = |k: usize| -> Result<String> {
        let name = segs[..n - k].join("/");
        if names::valid_repository(&name) {
            Ok(name)
        } else {
            Err(Error::new(Code::NameInvalid, "invalid repository name").detail(serde_json::json!({ "name": name })))
        }
    };
    let last = segs[n - 1].to_string();
    if n >= 3 && segs[n - 2] == "tags" && last == "list" {
        return Ok(Route::Tags(name(2)?));
    }
    if n >= 3 && segs[n - 2] == "manifests" {
        return Ok(Route::Manifest(name(2)?, last));
    }
    if n >= 4 && segs[n - 3] == "blobs" && segs[n - 2] == "uploads" {
        return Ok(if last.is_empty() { Route::UploadStart(name(3)?) } else { Route::Upload(name(3)?, last) });
    }
    if n >= 3 && segs[n - 2] == "blobs" && last == "uploads" {
        return Ok(Route::UploadStart(name(2)?));
    }
    if n >= 3 && segs[n - 2] == "blobs" {
        return Ok(Route::Blob(name(2)?, last));
    }
    if n >= 3 && segs[n - 2] == "referrers" {
        return Ok(Route::Referrers(name(2)?, last));
    }
    Err(Error::new(Code::NameUnknown, "no such endpoint"))
}

fn parse_digest(s: &str) -> Result<Digest> {
    s.parse().map_err(|_| Error::new(Code::DigestInvalid, format!("invalid digest {s:?}")))
}

fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes()).find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

/// `/v2/` and everything under it.
pub(crate) async fn v2(State(app): State<Arc<App>>, req: Request) -> Response {
    let host = match request_authority(&req) {
        Ok(h) => h.map(str::to_string),
        Err(e) => return malformed(&e),
    };
    let method = req.method().clone();
    let req = crate::metrics::counting_request(req);
    let mut resp = match dispatch(&app, host.as_deref(), req).await {
        Ok(r) => r,
        Err(e) => {
            if e.code == Code::Unknown {
                tracing::error!(error = %e, "registry request failed");
            }
            e.into_response()
        }
    };
    resp.headers_mut().insert("docker-distribution-api-version", HeaderValue::from_static("registry/2.0"));
    crate::metrics::counting_response(&method, resp)
}

/// `/registry/auth`.
pub(crate) async fn token(State(app): State<Arc<App>>, req: Request) -> Response {
    let host = match request_authority(&req) {
        Ok(h) => h,
        Err(e) => return malformed(&e),
    };
    let tenant = match app.tenant(host) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    match &app.auth {
        Some(cfg) => auth::token_endpoint(cfg, &tenant, app.tenancy.as_ref(), req.uri().query(), req.headers()).await,
        None => Error::new(Code::Unsupported, "token authentication is not enabled").into_response(),
    }
}

/// What a request needs from its token.
fn needed_access(method: &Method, route: &Route) -> Option<(Access, &'static str)> {
    let repo = |name: &str, actions: &[&str], action: &'static str| {
        Some((
            Access {
                kind: "repository".into(),
                name: name.to_string(),
                actions: actions.iter().map(|s| s.to_string()).collect(),
            },
            action,
        ))
    };
    let name = match route {
        Route::Base => return None,
        Route::Catalog => {
            return Some((Access { kind: "registry".into(), name: "catalog".into(), actions: vec!["*".into()] }, "*"));
        }
        Route::Tags(n)
        | Route::Manifest(n, _)
        | Route::Blob(n, _)
        | Route::UploadStart(n)
        | Route::Upload(n, _)
        | Route::Referrers(n, _) => n,
    };
    match *method {
        Method::GET | Method::HEAD => repo(name, &["pull"], "pull"),
        Method::DELETE => repo(name, &["delete"], "delete"),
        _ => repo(name, &["pull", "push"], "push"),
    }
}

/// A request whose host cannot be told ([`AuthorityError`]) is malformed HTTP, not a registry
/// operation that failed: a bare 400, as a server answers other malformed requests.
pub(crate) fn malformed(e: &AuthorityError) -> Response {
    (StatusCode::BAD_REQUEST, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{e}\n")).into_response()
}

/// A `/v2/` request to `host` (its [`request_authority`]).
async fn dispatch(app: &App, host: Option<&str>, req: Request) -> Result<Response> {
    let path = req.uri().path().strip_prefix("/v2").unwrap_or("").trim_start_matches('/').to_string();
    let route = parse_route(&path)?;
    let method = req.method().clone();
    let tenant = app.tenant(host)?;
    let mut granted = None;
    let mut user = None;
    if let Some(cfg) = &app.auth {
        let Some(token) = auth::verify(cfg, req.headers(), &tenant) else {
            let needed = needed_access(&method, &route).map(|(a, _)| a);
            return Err(auth::challenge(cfg, host, needed.as_ref(), None));
        };
        if let Some((needed, action)) = needed_access(&method, &route)
            && !auth::covers(&token.access, &needed.kind, &needed.name, action)
        {
            return Err(auth::challenge(cfg, host, Some(&needed), Some("insufficient_scope")));
        }
        granted = Some(token.access);
        user = Some(token.subject).filter(|s| !s.is_empty());
    }
    let caller = Caller {
        tenant,
        user,
        user_agent: req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_string),
    };
    let repo = |name: &str| app.repo(&caller.tenant, name);
    let writes = !matches!(method, Method::GET | Method::HEAD);
    if app.read_only && writes && !matches!(route, Route::Base) {
        return Err(Error::new(Code::Unsupported, "the registry is in read-only mode"));
    }
    let head = method == Method::HEAD;
    match (route, method) {
        (Route::Base, Method::GET | Method::HEAD) => Ok(json_response(StatusCode::OK, "{}", head)),
        (Route::Catalog, Method::GET) => catalog(app, &caller.tenant, req.uri().query()).await,
        (Route::Tags(name), Method::GET) => tags(app, &repo(&name)?, req.uri().query()).await,
        (Route::Manifest(name, r), Method::GET | Method::HEAD) => {
            get_manifest(app, &caller, &repo(&name)?, &r, head).await
        }
        (Route::Manifest(name, r), Method::PUT) => put_manifest(app, &caller, &repo(&name)?, &r, req).await,
        (Route::Manifest(name, r), Method::DELETE) => delete_manifest(app, &caller, &repo(&name)?, &r).await,
        (Route::Blob(name, d), Method::GET | Method::HEAD) => {
            get_blob(app, &repo(&name)?, &parse_digest(&d)?, req.headers(), head).await
        }
        (Route::Blob(name, d), Method::DELETE) => {
            if app.store.unlink_blob(&repo(&name)?.key, &parse_digest(&d)?).await? {
                Ok(empty(StatusCode::ACCEPTED))
            } else {
                Err(Error::new(Code::BlobUnknown, "blob unknown to registry"))
            }
        }
        (Route::UploadStart(name), Method::POST) => {
            start_upload(app, &caller.tenant, &repo(&name)?, req, granted.as_deref()).await
        }
        (Route::Upload(name, id), Method::GET) => {
            let r = repo(&name)?;
            let size = app.store.upload_status(&r.key, &id).await?;
            Ok(upload_accepted(&r.name, &id, size, StatusCode::NO_CONTENT))
        }
        (Route::Upload(name, id), Method::PATCH) => patch_upload(app, &repo(&name)?, &id, req).await,
        (Route::Upload(name, id), Method::PUT) => finish_upload(app, &repo(&name)?, &id, req).await,
        (Route::Upload(name, id), Method::DELETE) => {
            app.store.cancel_upload(&repo(&name)?.key, &id).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        (Route::Referrers(name, d), Method::GET) => {
            referrers(app, &repo(&name)?, &parse_digest(&d)?, req.uri().query()).await
        }
        _ => Err(Error::new(Code::Unsupported, "method not allowed on this endpoint")),
    }
}

fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    r
}

fn set(r: &mut Response, name: impl header::IntoHeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

fn json_response(status: StatusCode, body: &str, head: bool) -> Response {
    let mut r = Response::new(if head { Body::empty() } else { Body::from(body.to_string()) });
    *r.status_mut() = status;
    set(&mut r, header::CONTENT_TYPE, "application/json");
    set(&mut r, header::CONTENT_LENGTH, &body.len().to_string());
    r
}

fn body_stream(req: Request) -> crate::storage::ByteStream {
    Box::pin(req.into_body().into_data_stream().map_err(std::io::Error::other))
}

/// Pagination: entries after `last`, at most `n`; and the `Link` to the next page.
fn paginate(all: Vec<String>, query: Option<&str>, base: &str) -> (Vec<String>, Option<String>) {
    let last = query_param(query, "last");
    let n = query_param(query, "n").and_then(|n| n.parse::<usize>().ok());
    let mut rest: Vec<String> = all.into_iter().filter(|t| last.as_ref().is_none_or(|l| t > l)).collect();
    let mut link = None;
    if let Some(n) = n
        && rest.len() > n
    {
        rest.truncate(n);
        if let Some(l) = rest.last() {
            let enc: String = form_urlencoded::byte_serialize(l.as_bytes()).collect();
            link = Some(format!("<{base}?n={n}&last={enc}>; rel=\"next\""));
        }
    }
    (rest, link)
}

async fn catalog(app: &App, tenant: &str, query: Option<&str>) -> Result<Response> {
    let mut all = app.store.repositories().await?;
    if let Some(t) = &app.tenancy {
        // Each tenant's catalog holds its own repositories and the shared ones, as it names them.
        all = all.iter().filter_map(|stored| t.visible_name(tenant, stored)).collect();
        all.sort();
    }
    let (repos, link) = paginate(all, query, "/v2/_catalog");
    let mut r = json_response(StatusCode::OK, &serde_json::json!({ "repositories": repos }).to_string(), false);
    if let Some(l) = link {
        set(&mut r, header::LINK, &l);
    }
    Ok(r)
}

async fn tags(app: &App, repo: &Repo, query: Option<&str>) -> Result<Response> {
    let name = repo.name.as_str();
    let all = app
        .store
        .tags(&repo.key)
        .await?
        .ok_or_else(|| Error::new(Code::NameUnknown, "repository name not known to registry"))?;
    let (tags, link) = paginate(all, query, &format!("/v2/{name}/tags/list"));
    let mut r = json_response(StatusCode::OK, &serde_json::json!({ "name": name, "tags": tags }).to_string(), false);
    if let Some(l) = link {
        set(&mut r, header::LINK, &l);
    }
    Ok(r)
}

/// Resolve a tag or digest reference to a digest in `name`.
async fn resolve(app: &App, name: &str, reference: &str) -> Result<Digest> {
    let unknown =
        || Error::new(Code::ManifestUnknown, "manifest unknown").detail(serde_json::json!({ "reference": reference }));
    if reference.contains(':') {
        return parse_digest(reference);
    }
    if !names::valid_tag(reference) {
        return Err(Error::new(Code::ManifestInvalid, format!("invalid tag {reference:?}")));
    }
    app.store.resolve_tag(name, reference).await?.ok_or_else(unknown)
}

async fn get_manifest(app: &App, caller: &Caller, repo: &Repo, reference: &str, head: bool) -> Result<Response> {
    let name = repo.key.as_str();
    let d = resolve(app, name, reference).await?;
    let (media_type, bytes) = app.store.get_manifest(name, &d).await?.ok_or_else(|| {
        Error::new(Code::ManifestUnknown, "manifest unknown").detail(serde_json::json!({ "reference": reference }))
    })?;
    let len = bytes.len();
    if !head && app.events.is_some() {
        let tag = if reference.contains(':') { tag_of(app, name, &d).await } else { Some(reference.to_string()) };
        app.emit(caller, repo, Action::Pull, tag, (&d, &media_type, len as u64));
    }
    let mut r = Response::new(if head { Body::empty() } else { Body::from(bytes) });
    set(&mut r, header::CONTENT_TYPE, &media_type);
    set(&mut r, header::CONTENT_LENGTH, &len.to_string());
    set(&mut r, "docker-content-digest", &d.to_string());
    set(&mut r, header::ETAG, &format!("\"{d}\""));
    Ok(r)
}

/// A tag of `repo` pointing at `d`, if any (the first in order).
async fn tag_of(app: &App, repo: &str, d: &Digest) -> Option<String> {
    for tag in app.store.tags(repo).await.ok()??.into_iter() {
        if app.store.resolve_tag(repo, &tag).await.ok()?.as_ref() == Some(d) {
            return Some(tag);
        }
    }
    None
}

async fn put_manifest(app: &App, caller: &Caller, repo: &Repo, reference: &str, req: Request) -> Result<Response> {
    let name = repo.key.as_str();
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = axum::body::to_bytes(req.into_body(), manifest::MAX_MANIFEST_SIZE)
        .await
        .map_err(|_| Error::new(Code::SizeInvalid, "manifest too large or body unreadable"))?;
    let (digest, tag) = if reference.contains(':') {
        let expected = parse_digest(reference)?;
        let actual = Digest::of(expected.algorithm(), &body);
        if actual != expected {
            return Err(Error::new(Code::DigestInvalid, "manifest digest does not match its content")
                .detail(serde_json::json!({ "expected": expected.to_string(), "actual": actual.to_string() })));
        }
        (expected, None)
    } else if names::valid_tag(reference) {
        (Digest::of(Algorithm::Sha256, &body), Some(reference))
    } else {
        return Err(Error::new(Code::ManifestInvalid, format!("invalid tag {reference:?}")));
    };
    let m = Manifest::parse(content_type.as_deref(), &body)?;
    for b in &m.blobs {
        if app.store.blob_size(name, b).await?.is_none() {
            return Err(Error::new(Code::ManifestBlobUnknown, "manifest references a blob unknown to this repository")
                .detail(serde_json::json!({ "digest": b.to_string() })));
        }
    }
    for child in &m.manifests {
        if app.store.manifest_media_type(name, child).await?.is_none() {
            return Err(Error::new(
                Code::ManifestBlobUnknown,
                "index references a manifest unknown to this repository",
            )
            .detail(serde_json::json!({ "digest": child.to_string() })));
        }
    }
    let size = body.len();
    app.store.put_manifest(name, &digest, &m.media_type, body).await?;
    if let Some(subject) = &m.subject {
        let mut desc = serde_json::json!({ "mediaType": m.media_type, "digest": digest.to_string(), "size": size });
        if let Some(t) = &m.artifact_type {
            desc["artifactType"] = serde_json::Value::String(t.clone());
        }
        if let Some(a) = &m.annotations {
            desc["annotations"] = a.clone();
        }
        app.store.add_referrer(name, subject, &digest, &desc).await?;
    }
    if let Some(tag) = tag {
        app.store.set_tag(name, tag, &digest).await?;
    }
    tracing::info!(repository = name, reference, digest = %digest, "manifest pushed");
    app.emit(caller, repo, Action::Push, tag.map(str::to_string), (&digest, &m.media_type, size as u64));
    let mut r = empty(StatusCode::CREATED);
    set(&mut r, header::LOCATION, &format!("/v2/{}/manifests/{digest}", repo.name));
    set(&mut r, "docker-content-digest", &digest.to_string());
    if let Some(s) = &m.subject {
        set(&mut r, "oci-subject", &s.to_string());
    }
    Ok(r)
}

async fn delete_manifest(app: &App, caller: &Caller, repo: &Repo, reference: &str) -> Result<Response> {
    let name = repo.key.as_str();
    let unknown =
        || Error::new(Code::ManifestUnknown, "manifest unknown").detail(serde_json::json!({ "reference": reference }));
    if !reference.contains(':') {
        // Deleting a tag removes the tag only; the manifest stays addressable by digest.
        let target = if names::valid_tag(reference) { app.store.resolve_tag(name, reference).await? } else { None };
        return match target {
            Some(d) if app.store.delete_tag(name, reference).await? => {
                let media_type = app.store.manifest_media_type(name, &d).await?.unwrap_or_default();
                app.emit(caller, repo, Action::Delete, Some(reference.to_string()), (&d, &media_type, 0));
                Ok(empty(StatusCode::ACCEPTED))
            }
            _ => Err(unknown()),
        };
    }
    let d = parse_digest(reference)?;
    let Some((media_type, bytes)) = app.store.get_manifest(name, &d).await? else {
        return Err(unknown());
    };
    if let Ok(m) = Manifest::parse(Some(&media_type), &bytes)
        && let Some(subject) = m.subject
    {
        app.store.remove_referrer(name, &subject, &d).await?;
    }
    app.store.delete_manifest(name, &d).await?;
    app.emit(caller, repo, Action::Delete, None, (&d, &media_type, bytes.len() as u64));
    Ok(empty(StatusCode::ACCEPTED))
}

/// A single `Range: bytes=a-b` (or `a-`, or `-suffix`) against `size`: `(offset, len)`.
fn parse_range(value: &str, size: u64) -> Option<(u64, u64)> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = if a.is_empty() {
        let suffix: u64 = b.parse().ok()?;
        if suffix == 0 {
            return None;
        }
        (size.saturating_sub(suffix), size.checked_sub(1)?)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() { size.checked_sub(1)? } else { b.parse::<u64>().ok()?.min(size.checked_sub(1)?) };
        (start, end)
    };
    (start <= end && start < size).then(|| (start, end - start + 1))
}

async fn get_blob(app: &App, repo: &Repo, d: &Digest, headers: &HeaderMap, head: bool) -> Result<Response> {
    let size = app.store.blob_size(&repo.key, d).await?.ok_or_else(|| {
        Error::new(Code::BlobUnknown, "blob unknown to registry").detail(serde_json::json!({ "digest": d.to_string() }))
    })?;
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, offset, len) = match range {
        None => (StatusCode::OK, 0, size),
        Some(r) => match parse_range(r, size) {
            Some((o, l)) => (StatusCode::PARTIAL_CONTENT, o, l),
            None => {
                return Err(Error::new(Code::RangeInvalid, "requested range not satisfiable")
                    .header(header::CONTENT_RANGE, &format!("bytes */{size}")));
            }
        },
    };
    let body = if head { Body::empty() } else { Body::from_stream(app.store.read_blob(d, offset, Some(len)).await?) };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    set(&mut r, header::CONTENT_TYPE, "application/octet-stream");
    set(&mut r, header::CONTENT_LENGTH, &len.to_string());
    set(&mut r, header::ACCEPT_RANGES, "bytes");
    set(&mut r, "docker-content-digest", &d.to_string());
    set(&mut r, header::ETAG, &format!("\"{d}\""));
    set(&mut r, header::CACHE_CONTROL, "max-age=31536000");
    if status == StatusCode::PARTIAL_CONTENT {
        set(&mut r, header::CONTENT_RANGE, &format!("bytes {offset}-{}/{size}", offset + len - 1));
    }
    Ok(r)
}

fn upload_accepted(name: &str, id: &str, size: u64, status: StatusCode) -> Response {
    let mut r = empty(status);
    set(&mut r, header::LOCATION, &format!("/v2/{name}/blobs/uploads/{id}"));
    set(&mut r, header::RANGE, &format!("0-{}", size.saturating_sub(1)));
    set(&mut r, "docker-upload-uuid", id);
    r
}

fn blob_created(name: &str, d: &Digest) -> Response {
    let mut r = empty(StatusCode::CREATED);
    set(&mut r, header::LOCATION, &format!("/v2/{name}/blobs/{d}"));
    set(&mut r, "docker-content-digest", &d.to_string());
    r
}

async fn start_upload(
    app: &App,
    tenant: &str,
    repo: &Repo,
    req: Request,
    granted: Option<&[Access]>,
) -> Result<Response> {
    let (name, key) = (repo.name.as_str(), repo.key.as_str());
    let query = req.uri().query().map(str::to_string);
    let query = query.as_deref();
    if let (Some(mount), Some(from)) = (query_param(query, "mount"), query_param(query, "from")) {
        let d = parse_digest(&mount)?;
        // Mounting needs pull on the source; without it (or without the blob) the client gets
        // an ordinary upload session, as the spec allows.
        let source = names::valid_repository(&from).then(|| app.repo(tenant, &from).ok()).flatten();
        let may_read = source.is_some() && granted.is_none_or(|g| auth::covers(g, "repository", &from, "pull"));
        if let Some(source) = source.filter(|_| may_read)
            && app.store.blob_size(&source.key, &d).await?.is_some()
            && app.store.link_blob(key, &d).await?
        {
            return Ok(blob_created(name, &d));
        }
    }
    if let Some(digest) = query_param(query, "digest") {
        let d = parse_digest(&digest)?;
        let id = app.store.start_upload(key).await?;
        app.store.finish_upload(key, &id, &d, Some(body_stream(req))).await?;
        return Ok(blob_created(name, &d));
    }
    let id = app.store.start_upload(key).await?;
    Ok(upload_accepted(name, &id, 0, StatusCode::ACCEPTED))
}

/// `Content-Range: <start>-<end>` (also accepting a `bytes ` prefix); returns `start`.
fn content_range_start(headers: &HeaderMap) -> Result<Option<u64>> {
    let Some(v) = headers.get(header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let bad = || Error::new(Code::RangeInvalid, "invalid Content-Range");
    let s = v.to_str().map_err(|_| bad())?.trim();
    let s = s.strip_prefix("bytes ").unwrap_or(s);
    let (a, _) = s.split_once('-').ok_or_else(bad)?;
    a.trim().parse().map(Some).map_err(|_| bad())
}

async fn patch_upload(app: &App, repo: &Repo, id: &str, req: Request) -> Result<Response> {
    let start = content_range_start(req.headers())?;
    let size = app.store.append_upload(&repo.key, id, start, body_stream(req)).await?;
    Ok(upload_accepted(&repo.name, id, size, StatusCode::ACCEPTED))
}

async fn finish_upload(app: &App, repo: &Repo, id: &str, req: Request) -> Result<Response> {
    let d = query_param(req.uri().query(), "digest")
        .ok_or_else(|| Error::new(Code::DigestInvalid, "the digest query parameter is required"))?;
    let d = parse_digest(&d)?;
    let has_body = req.headers().get(header::CONTENT_LENGTH).is_none_or(|v| v.as_bytes() != b"0");
    let last = has_body.then(|| body_stream(req));
    app.store.finish_upload(&repo.key, id, &d, last).await?;
    Ok(blob_created(&repo.name, &d))
}

async fn referrers(app: &App, repo: &Repo, subject: &Digest, query: Option<&str>) -> Result<Response> {
    let mut list = app.store.referrers(&repo.key, subject).await?;
    let filter = query_param(query, "artifactType");
    if let Some(t) = &filter {
        list.retain(|d| d.get("artifactType").and_then(|a| a.as_str()) == Some(t.as_str()));
    }
    let index = serde_json::json!({ "schemaVersion": 2, "mediaType": manifest::OCI_INDEX, "manifests": list });
    let mut r = json_response(StatusCode::OK, &index.to_string(), false);
    set(&mut r, header::CONTENT_TYPE, manifest::OCI_INDEX);
    if filter.is_some() {
        set(&mut r, "oci-filters-applied", "artifactType");
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert!(matches!(parse_route(""), Ok(Route::Base)));
        assert!(matches!(parse_route("t/ns/app/tags/list"), Ok(Route::Tags(n)) if n == "t/ns/app"));
        assert!(matches!(parse_route("a/b/manifests/v1"), Ok(Route::Manifest(n, r)) if n == "a/b" && r == "v1"));
        assert!(matches!(parse_route("a/blobs/uploads/"), Ok(Route::UploadStart(n)) if n == "a"));
        assert!(matches!(parse_route("a/blobs/uploads"), Ok(Route::UploadStart(n)) if n == "a"));
        assert!(matches!(parse_route("a/blobs/uploads/x"), Ok(Route::Upload(n, i)) if n == "a" && i == "x"));
        assert!(matches!(parse_route("a/blobs/sha256:x"), Ok(Route::Blob(..))));
        assert!(matches!(parse_route("a/referrers/sha256:x"), Ok(Route::Referrers(..))));
        assert!(matches!(parse_route("A/manifests/x"), Err(e) if e.code == Code::NameInvalid));
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 10)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 10)));
        assert_eq!(parse_range("bytes=-5", 100), Some((95, 5)));
        assert_eq!(parse_range("bytes=95-200", 100), Some((95, 5)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=5-1", 100), None);
        assert_eq!(parse_range("bytes=0-1,3-4", 100), None);
    }

    #[test]
    fn pagination() {
        let all: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let (page, link) = paginate(all.clone(), Some("n=2"), "/v2/x/tags/list");
        assert_eq!(page, vec!["a", "b"]);
        assert_eq!(link.as_deref(), Some("</v2/x/tags/list?n=2&last=b>; rel=\"next\""));
        let (page, link) = paginate(all, Some("n=2&last=b"), "/v2/x/tags/list");
        assert_eq!(page, vec!["c", "d"]);
        assert_eq!(link, None);
    }
}
