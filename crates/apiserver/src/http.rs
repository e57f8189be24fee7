//! The HTTP face of the generic server: one dispatcher for every resource path
//! (`/apis/{group}/{version}/[namespaces/{ns}/]{plural}[/{name}[/{subresource}]]`), content
//! negotiation (JSON, `Table`, `PartialObjectMetadata`, and the protobuf encoding of the built-in
//! kinds through [`crate::protobuf`]), list and watch encoding.

use std::{collections::HashMap, convert::Infallible, sync::Arc, time::Duration};

use apimachinery::{ApiError, FieldSelector, LabelSelector};
use axum::{
    body::{Body, Bytes},
    http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header},
};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::{
    object,
    patch::PatchType,
    protobuf::{self, ProtobufError},
    resource::{Context, ResourceDef, UserInfo},
    store::{DeleteOptions, FieldValidation, Item, ListOptions, ListResult, ResourceStore, WatchEvent, WriteOptions},
    table::{self, IncludeObject},
};

/// Largest request body accepted (Kubernetes' limit is 3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// A Status error response.
pub fn error_response(e: &ApiError) -> Response<Body> {
    error_response_as(e, Output::Json)
}

/// A Status error response in the representation the client asked for (a `Status` message
/// for a client that prefers protobuf, JSON otherwise).
pub fn error_response_as(e: &ApiError, output: Output) -> Response<Body> {
    let code = StatusCode::from_u16(e.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let status = e.to_status();
    let mut resp = match output {
        Output::Protobuf => match protobuf::encode(&status) {
            Ok(body) => protobuf_response(code, body),
            Err(_) => json_response(code, serde_json::to_vec(&status).unwrap_or_default()),
        },
        _ => json_response(code, serde_json::to_vec(&status).unwrap_or_default()),
    };
    if let Some(s) = e.retry_after_seconds
        && let Ok(v) = HeaderValue::from_str(&s.to_string())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

pub fn json_response(code: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = code;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

pub fn protobuf_response(code: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = code;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(protobuf::MEDIA_TYPE));
    resp
}

/// `obj` as the client's `Accept` asks: the protobuf encoding when it prefers that and `obj`'s
/// kind has that form, JSON otherwise (for handlers of subresources).
pub fn respond(accept: &str, code: StatusCode, obj: &Value) -> Response<Body> {
    if negotiate(accept).ok() == Some(Output::Protobuf)
        && let Ok(body) = protobuf::encode(obj)
    {
        return protobuf_response(code, body);
    }
    json_response(code, serde_json::to_vec(obj).unwrap_or_default())
}

/// A Status error response as the client's `Accept` asks (see [`respond`]).
pub fn error_response_for(accept: &str, e: &ApiError) -> Response<Body> {
    match negotiate(accept) {
        Ok(Output::Protobuf) => error_response_as(e, Output::Protobuf),
        _ => error_response(e),
    }
}

/// `obj` in the protobuf encoding when the client asked for it and its kind has that form,
/// as JSON (or a `Table`...) otherwise.
fn object_response(
    output: Output,
    code: StatusCode,
    def: &ResourceDef,
    ctx: &Context,
    obj: &Value,
    include: IncludeObject,
) -> Response<Body> {
    let redacted;
    let obj = if def.has_secrets() {
        let mut copy = obj.clone();
        def.redact_for(&ctx.user, &mut copy);
        redacted = copy;
        &redacted
    } else {
        obj
    };
    if output == Output::Protobuf {
        match protobuf::encode(obj) {
            Ok(body) => return protobuf_response(code, body),
            Err(e) => tracing::debug!(error = %e, "answering in JSON"),
        }
    }
    json_response(code, encode_object(output, def, obj, include))
}

/// A protobuf request body as JSON; 415 for a kind without a protobuf form.
pub fn decode_protobuf(body: &[u8]) -> Result<Value, ApiError> {
    protobuf::decode(body).map_err(|e| match e {
        ProtobufError::NoProtobufForm { .. } => ApiError::unsupported_media_type(e.to_string()),
        e => ApiError::bad_request(e.to_string()),
    })
}

fn with_warnings(mut resp: Response<Body>, warnings: &[String]) -> Response<Body> {
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""));
        if let Ok(v) = HeaderValue::from_str(&text) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}

/// What the client asked to receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Json,
    Table(&'static str),
    Partial(&'static str),
    /// The Kubernetes protobuf encoding ([`crate::protobuf`]), for the built-in kinds.
    Protobuf,
}

/// Picks the first representation in `Accept` we can produce (kubectl lists Table first, then
/// plain JSON; client-go's typed clients list protobuf first, then JSON).
pub fn negotiate(accept: &str) -> Result<Output, ApiError> {
    negotiate_among(accept, true)
}

/// [`negotiate`] for a kind without a protobuf form: 406 when only protobuf is acceptable.
pub fn negotiate_without_protobuf(accept: &str) -> Result<Output, ApiError> {
    negotiate_among(accept, false)
}

fn negotiate_among(accept: &str, protobuf_ok: bool) -> Result<Output, ApiError> {
    if accept.trim().is_empty() {
        return Ok(Output::Json);
    }
    for item in accept.split(',') {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let params: HashMap<String, String> = parts
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().trim_matches('"').to_string()))
            .collect();
        if media == protobuf::MEDIA_TYPE {
            if protobuf_ok && !params.contains_key("as") {
                return Ok(Output::Protobuf);
            }
            continue;
        }
        if !matches!(media.as_str(), "application/json" | "*/*" | "application/*") {
            continue;
        }
        let version = match params.get("v").map(String::as_str) {
            Some("v1") | None => "v1",
            Some("v1beta1") => "v1beta1",
            Some(_) => continue,
        };
        match params.get("as").map(String::as_str) {
            None => return Ok(Output::Json),
            Some(_) if params.get("g").map(String::as_str) != Some("meta.k8s.io") => continue,
            Some("Table") => return Ok(Output::Table(version)),
            Some("PartialObjectMetadata" | "PartialObjectMetadataList") => return Ok(Output::Partial(version)),
            Some(_) => continue,
        }
    }
    Err(ApiError::not_acceptable(format!(
        "only the following media types are accepted: application/json, application/json;as=Table;v=v1;g=meta.k8s.io, application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io (asked for {accept:?})"
    )))
}

/// Query parameters, first value wins.
pub fn parse_query(query: Option<&str>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

/// Go's `strconv.ParseBool`, which Kubernetes uses for query flags (clients send `True`, `1`...).
pub fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Why a request's host cannot be told: the request is malformed, answer 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorityError {
    #[error("the request names two hosts: {authority:?} as its authority and {host:?} in its Host header")]
    Conflict { authority: String, host: String },
    #[error("the request has more than one Host header")]
    ManyHosts,
    #[error("the Host header {0:?} is not a host with an optional port")]
    InvalidHost(String),
    #[error("the request's authority {0:?} carries user information")]
    UserInfo(String),
}

/// The host (name or IP literal, with an optional port) a request was sent to: its authority
/// where it has one (HTTP/2's `:authority`, an HTTP/1.1 absolute-form target), else its `Host`
/// header; `None` when it names neither (HTTP/1.0). Everything that reads "the request's host"
/// (token realms, tenants by host name) goes through here: over HTTP/2 hyper puts
/// `:authority` into the URI and clients (curl, browsers, Go) send no `Host` header at all.
///
/// A request whose authority and `Host` header disagree is refused rather than resolved:
/// RFC 9113 §8.3.1 has a server treat such an HTTP/2 request as malformed, and for HTTP/1.1
/// absolute form (where RFC 9112 §3.2.2 says to ignore `Host`) a proxy in front of us may have
/// routed or authorized by the `Host` header while we would pick the authority, so the request
/// could land in a tenant other than the one it was checked for. Refusing is the one answer
/// that never puts it in another tenant. Host names compare case-insensitively.
pub fn request_authority<B>(req: &axum::http::Request<B>) -> Result<Option<&str>, AuthorityError> {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (_, Some(_)) => return Err(AuthorityError::ManyHosts),
        (None, None) => None,
        (Some(v), None) => {
            let invalid = || AuthorityError::InvalidHost(String::from_utf8_lossy(v.as_bytes()).into_owned());
            let s = v.to_str().map_err(|_| invalid())?;
            // An authority without user information (`name[:port]`, `[v6][:port]`).
            let parsed = s.parse::<axum::http::uri::Authority>().map_err(|_| invalid())?;
            if s.is_empty() || s.contains('@') || parsed.host().is_empty() {
                return Err(invalid());
            }
            Some(s)
        }
    };
    let Some(authority) = req.uri().authority() else {
        return Ok(host);
    };
    let authority = authority.as_str();
    if authority.contains('@') {
        return Err(AuthorityError::UserInfo(authority.to_string()));
    }
    match host {
        Some(h) if !h.eq_ignore_ascii_case(authority) => {
            Err(AuthorityError::Conflict { authority: authority.to_string(), host: h.to_string() })
        }
        _ => Ok(Some(authority)),
    }
}

fn flag(q: &HashMap<String, String>, name: &str) -> Result<bool, ApiError> {
    match q.get(name).map(String::as_str) {
        None | Some("") => Ok(false),
        Some(v) => {
            parse_bool(v).ok_or_else(|| ApiError::bad_request(format!("{name} must be true or false, got {v:?}")))
        }
    }
}

fn dry_run(q: &HashMap<String, String>) -> Result<bool, ApiError> {
    match q.get("dryRun").map(String::as_str) {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(v) => Err(ApiError::bad_request(format!("dryRun: Unsupported value: {v:?}: supported values: \"All\""))),
    }
}

fn list_options(q: &HashMap<String, String>) -> Result<ListOptions, ApiError> {
    let limit = match q.get("limit").map(String::as_str) {
        None | Some("") => 0,
        Some(l) => {
            l.parse::<i64>().map_err(|_| ApiError::bad_request(format!("limit must be an integer, got {l:?}")))?.max(0)
                as usize
        }
    };
    let timeout = match q.get("timeoutSeconds").map(String::as_str) {
        None | Some("") => None,
        Some(t) => Some(Duration::from_secs(t.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!("timeoutSeconds must be a non-negative integer, got {t:?}"))
        })?)),
    };
    Ok(ListOptions {
        label_selector: LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or(""))?,
        field_selector: FieldSelector::parse(q.get("fieldSelector").map(String::as_str).unwrap_or(""))?,
        limit,
        continue_token: q.get("continue").filter(|c| !c.is_empty()).cloned(),
        resource_version: q.get("resourceVersion").cloned(),
        resource_version_match: q.get("resourceVersionMatch").filter(|c| !c.is_empty()).cloned(),
        send_initial_events: match q.get("sendInitialEvents") {
            None => None,
            Some(_) => Some(flag(q, "sendInitialEvents")?),
        },
        allow_bookmarks: flag(q, "allowWatchBookmarks")?,
        timeout,
    })
}

fn write_options(q: &HashMap<String, String>, headers: &HeaderMap) -> Result<WriteOptions, ApiError> {
    let field_validation = match q.get("fieldValidation") {
        Some(v) => FieldValidation::parse(v)?,
        None => FieldValidation::Warn,
    };
    let field_manager = q.get("fieldManager").filter(|m| !m.is_empty()).cloned();
    if let Some(m) = &field_manager
        && m.len() > 128
    {
        return Err(ApiError::bad_request("fieldManager must be no more than 128 characters"));
    }
    Ok(WriteOptions {
        dry_run: dry_run(q)?,
        field_manager,
        field_validation,
        user_agent: headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string(),
        force: flag(q, "force")?,
    })
}

fn delete_options(
    q: &HashMap<String, String>,
    body: &[u8],
    content_type: Option<&str>,
) -> Result<DeleteOptions, ApiError> {
    let mut opts = DeleteOptions { dry_run: dry_run(q)?, ..Default::default() };
    if let Some(g) = q.get("gracePeriodSeconds") {
        opts.grace_period_seconds = Some(
            g.parse()
                .map_err(|_| ApiError::bad_request(format!("gracePeriodSeconds must be an integer, got {g:?}")))?,
        );
    }
    opts.propagation_policy = q.get("propagationPolicy").cloned();
    if !body.iter().all(u8::is_ascii_whitespace) {
        let b: Value = decode_body(body, content_type)?;
        if let Some(p) = b.get("preconditions") {
            opts.precondition_uid = p.get("uid").and_then(Value::as_str).map(str::to_string);
            opts.precondition_resource_version = p.get("resourceVersion").and_then(Value::as_str).map(str::to_string);
        }
        if let Some(g) = b.get("gracePeriodSeconds").and_then(Value::as_i64) {
            opts.grace_period_seconds = Some(g);
        }
        if let Some(p) = b.get("propagationPolicy").and_then(Value::as_str) {
            opts.propagation_policy = Some(p.to_string());
        }
        if let Some(d) = b.get("dryRun").and_then(Value::as_array) {
            opts.dry_run |= d.iter().any(|v| v == "All");
        }
    }
    Ok(opts)
}

/// Decodes a JSON, YAML or protobuf request body.
pub fn decode_body(body: &[u8], content_type: Option<&str>) -> Result<Value, ApiError> {
    let ct = content_type.unwrap_or("application/json").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match ct.as_str() {
        "application/yaml" | "application/x-yaml" | "text/yaml" => serde_yaml_ng::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("the request body is not valid YAML: {e}"))),
        "application/json" | "" | "*/*" => serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}"))),
        protobuf::MEDIA_TYPE => decode_protobuf(body),
        other => Err(ApiError::unsupported_media_type(format!(
            "the body content type {other:?} is not supported; send application/json, application/yaml or (for the built-in kinds) application/vnd.kubernetes.protobuf"
        ))),
    }
}

/// The parsed target of a resource request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Target {
    pub namespace: Option<String>,
    pub plural: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// Splits the path after `/apis/{group}/{version}/`. `is_namespaced` tells whether a plural is
/// a namespaced resource of the group, to tell `namespaces/{ns}/{plural}` from a cluster-scoped
/// resource called `namespaces`.
pub fn parse_target(rest: &str, is_namespaced: impl Fn(&str) -> bool) -> Option<Target> {
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let (namespace, segs) = if segs.len() >= 3 && segs[0] == "namespaces" && is_namespaced(segs[2]) {
        (Some(segs[1].to_string()), &segs[2..])
    } else {
        (None, &segs[..])
    };
    match segs {
        [plural] => Some(Target { namespace, plural: plural.to_string(), ..Default::default() }),
        [plural, name] => {
            Some(Target { namespace, plural: plural.to_string(), name: Some(name.to_string()), subresource: None })
        }
        [plural, name, sub] => Some(Target {
            namespace,
            plural: plural.to_string(),
            name: Some(name.to_string()),
            subresource: Some(sub.to_string()),
        }),
        _ => None,
    }
}

/// Serves one resource request.
pub struct ResourceRequest<'a> {
    pub store: &'a Arc<ResourceStore>,
    pub target: Target,
    pub method: Method,
    pub headers: HeaderMap,
    pub query: HashMap<String, String>,
    pub user: UserInfo,
    pub body: Bytes,
}

fn list_kind(def: &ResourceDef) -> String {
    def.list_kind()
}

fn list_meta(r: &ListResult) -> Value {
    let mut m = json!({"resourceVersion": r.revision.to_string()});
    if let Some(c) = &r.continue_token {
        m["continue"] = json!(c);
    }
    if let Some(n) = r.remaining {
        m["remainingItemCount"] = json!(n);
    }
    m
}

/// Encodes a list without re-parsing the objects (the common, hot case).
/// `r` with the resource's secret fields removed from every item (unchanged, and not
/// re-encoded, for resources without any).
fn redact_list(def: &ResourceDef, ctx: &Context, mut r: ListResult) -> ListResult {
    if !def.has_secrets() {
        return r;
    }
    for item in &mut r.items {
        if let Ok(mut obj) = serde_json::from_slice::<Value>(&item.value) {
            def.redact_for(&ctx.user, &mut obj);
            item.value = Bytes::from(serde_json::to_vec(&obj).unwrap_or_default());
        }
    }
    r
}

fn encode_list(def: &ResourceDef, r: &ListResult) -> Vec<u8> {
    let size: usize = r.items.iter().map(|i| i.value.len() + 32).sum();
    let mut out = Vec::with_capacity(size + 256);
    out.extend_from_slice(b"{\"kind\":");
    out.extend_from_slice(json!(list_kind(def)).to_string().as_bytes());
    out.extend_from_slice(b",\"apiVersion\":");
    out.extend_from_slice(json!(def.api_version()).to_string().as_bytes());
    out.extend_from_slice(b",\"metadata\":");
    out.extend_from_slice(list_meta(r).to_string().as_bytes());
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in r.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        object::write_with_resource_version(&mut out, &item.value, item.revision);
    }
    out.extend_from_slice(b"]}");
    out
}

fn encode_object(output: Output, def: &ResourceDef, obj: &Value, include: IncludeObject) -> Vec<u8> {
    let v = match output {
        Output::Json | Output::Protobuf => return serde_json::to_vec(obj).unwrap_or_default(),
        Output::Table(version) => {
            let mut t = table::table(
                def,
                std::slice::from_ref(obj),
                include,
                json!({"resourceVersion": object::meta_str(obj, "resourceVersion").unwrap_or("")}),
                true,
            );
            t["apiVersion"] = json!(format!("meta.k8s.io/{version}"));
            t
        }
        Output::Partial(version) => {
            let mut p = table::partial_metadata(obj);
            p["apiVersion"] = json!(format!("meta.k8s.io/{version}"));
            p
        }
    };
    serde_json::to_vec(&v).unwrap_or_default()
}

impl ResourceRequest<'_> {
    fn ctx(&self) -> Context {
        Context { user: self.user.clone(), namespace: self.target.namespace.clone() }
    }

    fn def(&self) -> &ResourceDef {
        &self.store.def
    }

    pub async fn serve(self) -> Response<Body> {
        let accept = self.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
        let errors_as = match negotiate(accept) {
            Ok(Output::Protobuf) => Output::Protobuf,
            _ => Output::Json,
        };
        match self.dispatch().await {
            Ok(r) => r,
            Err(e) => error_response_as(&e, errors_as),
        }
    }

    async fn dispatch(self) -> Result<Response<Body>, ApiError> {
        let accept = self.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
        let def = self.def().clone();
        let api_version = def.api_version();
        let protobuf_form = protobuf::has_protobuf_form(&api_version, def.kind);
        // As kube-apiserver does for custom resources: JSON for a kind without a protobuf form.
        let output = if protobuf_form { negotiate(accept)? } else { negotiate_without_protobuf(accept)? };
        let include = IncludeObject::parse(self.query.get("includeObject").map(String::as_str).unwrap_or(""))?;
        if def.namespaced && self.target.name.is_some() && self.target.namespace.is_none() {
            return Err(ApiError::not_found(def.group, def.plural, self.target.name.as_deref().unwrap_or("")));
        }
        if let Some(sub) = &self.target.subresource {
            let known =
                (sub == "status" && def.subresources.status) || (sub == "finalize" && def.subresources.finalize);
            if !known {
                return Err(ApiError::not_found(
                    def.group,
                    &format!("{}/{sub}", def.plural),
                    self.target.name.as_deref().unwrap_or(""),
                ));
            }
        }
        let ctx = self.ctx();
        let content_type = self.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
        if !protobuf_form && content_type.as_deref().is_some_and(protobuf::is_media_type) {
            return Err(ApiError::unsupported_media_type(format!(
                "the protobuf encoding is not supported for {}: {} ({api_version}) has no protobuf form; send JSON or YAML",
                if def.group.is_empty() { def.plural.to_string() } else { format!("{}.{}", def.plural, def.group) },
                def.kind,
            )));
        }
        match (&self.method, self.target.name.clone()) {
            (&Method::GET, None) => {
                let opts = list_options(&self.query)?;
                if flag(&self.query, "watch")? {
                    return self.watch(output, include, opts).await;
                }
                let r = redact_list(&def, &ctx, self.store.list(&ctx, &opts).await?);
                let body = match output {
                    Output::Json => encode_list(&def, &r),
                    Output::Protobuf => {
                        let items: Vec<Value> = r.items.iter().map(Item::decode).collect::<Result<_, _>>()?;
                        let list = json!({"kind": list_kind(&def), "apiVersion": api_version, "metadata": list_meta(&r), "items": items});
                        match protobuf::encode(&list) {
                            Ok(body) => return Ok(protobuf_response(StatusCode::OK, body)),
                            Err(e) => {
                                tracing::debug!(error = %e, "answering in JSON");
                                serde_json::to_vec(&list).unwrap_or_default()
                            }
                        }
                    }
                    Output::Table(version) => {
                        let objs: Vec<Value> = r.items.iter().map(Item::decode).collect::<Result<_, _>>()?;
                        let mut t = table::table(&def, &objs, include, list_meta(&r), true);
                        t["apiVersion"] = json!(format!("meta.k8s.io/{version}"));
                        serde_json::to_vec(&t).unwrap_or_default()
                    }
                    Output::Partial(version) => {
                        let items: Vec<Value> = r
                            .items
                            .iter()
                            .map(|i| i.decode().map(|o| table::partial_metadata(&o)))
                            .collect::<Result<_, _>>()?;
                        serde_json::to_vec(&json!({"kind": "PartialObjectMetadataList", "apiVersion": format!("meta.k8s.io/{version}"), "metadata": list_meta(&r), "items": items})).unwrap_or_default()
                    }
                };
                Ok(json_response(StatusCode::OK, body))
            }
            (&Method::GET, Some(name)) => {
                let obj = self.store.get(&ctx, &name, self.query.get("resourceVersion").map(String::as_str)).await?;
                Ok(object_response(output, StatusCode::OK, &def, &ctx, &obj, include))
            }
            (&Method::POST, None) => {
                let body = decode_body(&self.body, content_type.as_deref())?;
                let opts = write_options(&self.query, &self.headers)?;
                let w = self.store.create(&ctx, body, &opts).await?;
                let code = if opts.dry_run { StatusCode::OK } else { StatusCode::CREATED };
                Ok(with_warnings(object_response(output, code, &def, &ctx, &w.object, include), &w.warnings))
            }
            (&Method::PUT, Some(name)) => {
                let body = decode_body(&self.body, content_type.as_deref())?;
                let opts = write_options(&self.query, &self.headers)?;
                let w = self.store.update(&ctx, &name, self.target.subresource.as_deref(), body, &opts).await?;
                Ok(with_warnings(object_response(output, StatusCode::OK, &def, &ctx, &w.object, include), &w.warnings))
            }
            (&Method::PATCH, Some(name)) => {
                let ct = content_type.unwrap_or_default();
                let patch_type = PatchType::from_content_type(&ct).ok_or_else(|| {
                    ApiError::unsupported_media_type(format!(
                        "the patch content type {ct:?} is not supported; use application/merge-patch+json, application/json-patch+json, application/strategic-merge-patch+json or application/apply-patch+yaml"
                    ))
                })?;
                let opts = write_options(&self.query, &self.headers)?;
                let w = self
                    .store
                    .patch(&ctx, &name, self.target.subresource.as_deref(), patch_type, &self.body, &opts)
                    .await?;
                let code = if w.created && !opts.dry_run { StatusCode::CREATED } else { StatusCode::OK };
                Ok(with_warnings(object_response(output, code, &def, &ctx, &w.object, include), &w.warnings))
            }
            (&Method::DELETE, Some(name)) => {
                if self.target.subresource.is_some() {
                    return Err(ApiError::method_not_allowed("DELETE is not supported on a subresource"));
                }
                let opts = delete_options(&self.query, &self.body, content_type.as_deref())?;
                let d = self.store.delete(&ctx, &name, &opts).await?;
                let code = if d.removed { StatusCode::OK } else { StatusCode::ACCEPTED };
                Ok(object_response(output, code, &def, &ctx, &d.object, include))
            }
            (&Method::DELETE, None) => {
                let list = list_options(&self.query)?;
                let opts = delete_options(&self.query, &self.body, content_type.as_deref())?;
                let r = redact_list(&def, &ctx, self.store.delete_collection(&ctx, &list, &opts).await?);
                Ok(json_response(StatusCode::OK, encode_list(&def, &r)))
            }
            (m, _) => Err(ApiError::method_not_allowed(format!("the server does not allow method {m} on this path"))),
        }
    }

    async fn watch(
        &self,
        output: Output,
        include: IncludeObject,
        opts: ListOptions,
    ) -> Result<Response<Body>, ApiError> {
        let def = self.def().clone();
        let ctx = self.ctx();
        let events = self.store.watch(&ctx, &opts).await?;
        // Kubernetes ends watches after a random 30–60 minutes so clients spread their re-lists.
        let timeout = opts.timeout.unwrap_or_else(|| Duration::from_secs(1800 + rand::random::<u64>() % 1800));
        let deadline = tokio::time::sleep(timeout);
        let mut first_table = true;
        let kind = def.kind;
        let api_version = def.api_version();
        let viewer = ctx.user.clone();
        let frames = events.take_until(deadline).map(move |ev| {
            let shown = |i: Item| {
                let mut obj = i.decode().unwrap_or(Value::Null);
                def.redact_for(&viewer, &mut obj);
                obj
            };
            let (type_, obj): (&str, Value) = match ev {
                WatchEvent::Added(i) => ("ADDED", shown(i)),
                WatchEvent::Modified(i) => ("MODIFIED", shown(i)),
                WatchEvent::Deleted(i) => ("DELETED", shown(i)),
                WatchEvent::Bookmark { revision, initial_events_end } => {
                    let mut meta = json!({"resourceVersion": revision.to_string()});
                    if initial_events_end {
                        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
                    }
                    let object = json!({"kind": kind, "apiVersion": api_version, "metadata": meta});
                    if output == Output::Protobuf {
                        return Ok::<_, Infallible>(Bytes::from(protobuf_frame("BOOKMARK", &object)));
                    }
                    let mut frame =
                        serde_json::to_vec(&json!({"type": "BOOKMARK", "object": object})).unwrap_or_default();
                    frame.push(b'\n');
                    return Ok(Bytes::from(frame));
                }
                WatchEvent::Error(e) => ("ERROR", e.to_status()),
            };
            let object = match (output, type_) {
                (Output::Protobuf, _) => return Ok(Bytes::from(protobuf_frame(type_, &obj))),
                (_, "ERROR") | (Output::Json, _) => obj,
                (Output::Table(version), _) => {
                    let mut t = table::table(
                        &def,
                        std::slice::from_ref(&obj),
                        include,
                        json!({"resourceVersion": object::meta_str(&obj, "resourceVersion").unwrap_or("")}),
                        first_table,
                    );
                    first_table = false;
                    t["apiVersion"] = json!(format!("meta.k8s.io/{version}"));
                    t
                }
                (Output::Partial(version), _) => {
                    let mut p = table::partial_metadata(&obj);
                    p["apiVersion"] = json!(format!("meta.k8s.io/{version}"));
                    p
                }
            };
            let mut frame = serde_json::to_vec(&json!({"type": type_, "object": object})).unwrap_or_default();
            frame.push(b'\n');
            Ok(Bytes::from(frame))
        });
        let content_type = if output == Output::Protobuf { protobuf::WATCH_MEDIA_TYPE } else { "application/json" };
        let mut resp = Response::new(Body::from_stream(frames));
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
        Ok(resp)
    }
}

/// One protobuf watch frame, or nothing when the object cannot be encoded (logged).
fn protobuf_frame(event_type: &str, object: &Value) -> Vec<u8> {
    protobuf::watch_frame(event_type, object).unwrap_or_else(|e| {
        tracing::warn!(error = %e, event_type, "a watch event has no protobuf form; left out");
        Vec::new()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str, hosts: &[&[u8]]) -> axum::http::Request<()> {
        let mut b = axum::http::Request::builder().uri(uri);
        for h in hosts {
            b = b.header(header::HOST, HeaderValue::from_bytes(h).unwrap());
        }
        b.body(()).unwrap()
    }

    #[test]
    fn the_authority_wins_and_must_agree_with_host() {
        let of = |uri: &str, hosts: &[&[u8]]| request_authority(&request(uri, hosts)).map(|h| h.map(str::to_string));
        // HTTP/1.1 origin form: the Host header.
        assert_eq!(of("/v2/", &[b"reg.example.com:8443"]), Ok(Some("reg.example.com:8443".into())));
        assert_eq!(of("/v2/", &[b"[::1]:8443"]), Ok(Some("[::1]:8443".into())));
        assert_eq!(of("/v2/", &[]), Ok(None));
        // HTTP/2 (`:authority` in the URI, no Host) and HTTP/1.1 absolute form.
        assert_eq!(of("https://acme.reg.example.com:8443/v2/", &[]), Ok(Some("acme.reg.example.com:8443".into())));
        assert_eq!(
            of("https://acme.reg.example.com/v2/", &[b"ACME.reg.example.com"]),
            Ok(Some("acme.reg.example.com".into()))
        );
        assert_eq!(
            of("https://acme.reg.example.com/v2/", &[b"globex.reg.example.com"]),
            Err(AuthorityError::Conflict {
                authority: "acme.reg.example.com".into(),
                host: "globex.reg.example.com".into()
            })
        );
        assert_eq!(of("/v2/", &[b"a.example.com", b"b.example.com"]), Err(AuthorityError::ManyHosts));
        assert!(matches!(of("/v2/", &[b"user@a.example.com"]), Err(AuthorityError::InvalidHost(_))));
        assert!(matches!(of("/v2/", &[b"a.example.com/x"]), Err(AuthorityError::InvalidHost(_))));
        assert!(matches!(of("/v2/", &[b""]), Err(AuthorityError::InvalidHost(_))));
        assert!(matches!(of("/v2/", &[b"\xff"]), Err(AuthorityError::InvalidHost(_))));
        assert!(matches!(of("https://u@a.example.com/v2/", &[]), Err(AuthorityError::UserInfo(_))));
    }

    #[test]
    fn negotiates_like_kubectl() {
        let kubectl_get = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(negotiate(kubectl_get).unwrap(), Output::Table("v1"));
        assert_eq!(negotiate("application/json").unwrap(), Output::Json);
        assert_eq!(negotiate("").unwrap(), Output::Json);
        assert_eq!(negotiate("application/vnd.kubernetes.protobuf, application/json").unwrap(), Output::Protobuf);
        assert_eq!(
            negotiate_without_protobuf("application/vnd.kubernetes.protobuf, application/json").unwrap(),
            Output::Json
        );
        assert_eq!(
            negotiate("application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io, application/json").unwrap(),
            Output::Json
        );
        assert_eq!(
            negotiate("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1").unwrap(),
            Output::Partial("v1")
        );
        assert_eq!(negotiate("application/vnd.kubernetes.protobuf").unwrap(), Output::Protobuf);
        assert_eq!(negotiate_without_protobuf("application/vnd.kubernetes.protobuf").unwrap_err().code(), 406);
    }

    #[test]
    fn parses_targets() {
        let ns = |p: &str| p == "apps";
        assert_eq!(parse_target("clusters", ns).unwrap().plural, "clusters");
        let t = parse_target("clusters/cls-a/status", ns).unwrap();
        assert_eq!((t.name.as_deref(), t.subresource.as_deref()), (Some("cls-a"), Some("status")));
        let t = parse_target("namespaces/p1/apps/a", ns).unwrap();
        assert_eq!((t.namespace.as_deref(), t.plural.as_str(), t.name.as_deref()), (Some("p1"), "apps", Some("a")));
        assert!(parse_target("a/b/c/d", ns).is_none());
    }
}
