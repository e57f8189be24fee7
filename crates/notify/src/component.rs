//! The notify component in an API server: `notify.tkestack.io/v1`, the Alertmanager webhook
//! (`POST /webhook`, also at `/apis/notify.tkestack.io/v1/webhook`) and `channels/{name}/test`.

use std::{
    collections::HashMap,
    sync::{Arc, OnceLock},
};

use apimachinery::ApiError;
use apiserver::{
    ApiServer, Component, Connect, ConnectDef, ConnectRequest, Context, Mount, ResourceDef,
    component::{MountContext, MountError},
    store::{ResourceStore, WriteOptions},
};
use axum::{
    Router,
    body::Body,
    extract::State,
    http::{HeaderMap, Method, Response, StatusCode},
    routing::any,
};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::{
    alerts::{self, Payload},
    directory::{Directory, ServerDirectory},
};

/// The notify component. Once mounted, it hands the controller its in-process view of the
/// channels ([`Notify::directory`]).
#[derive(Default)]
pub struct Notify {
    directory: OnceLock<Arc<ServerDirectory>>,
}

impl Notify {
    pub fn new() -> Self {
        Self::default()
    }

    /// The channels, templates and receivers as stored (credentials included), once mounted.
    pub fn directory(&self) -> Option<Arc<dyn Directory>> {
        self.directory.get().map(|d| d.clone() as Arc<dyn Directory>)
    }
}

/// Where the webhook is served besides `/webhook`.
pub const WEBHOOK_API_PATH: &str = "/apis/notify.tkestack.io/v1/webhook";

/// The largest webhook payload read (Alertmanager groups can be large).
const MAX_PAYLOAD: usize = 64 << 20;

#[async_trait::async_trait]
impl Component for Notify {
    fn name(&self) -> &'static str {
        "notify"
    }

    fn resources(&self) -> Vec<ResourceDef> {
        api::notify::resources()
    }

    async fn mount(&self, server: &Arc<ApiServer>, ctx: &MountContext) -> Result<Mount, MountError> {
        let directory = Arc::new(ServerDirectory::new(server)?);
        let _ = self.directory.set(directory.clone());
        let requests = server
            .resource_store(api::notify::GROUP, api::notify::VERSION, "messagerequests")
            .ok_or("the server does not serve messagerequests")?;
        server.register_connect(test_def(), Arc::new(TestMessage { requests: requests.clone() }))?;
        let token = crate::webhook_token(&ctx.data_dir).map_err(|e| format!("the notify webhook's token: {e}"))?;
        let hook = Arc::new(Webhook { token, directory, requests });
        let front =
            Router::new().route("/webhook", any(webhook)).route(WEBHOOK_API_PATH, any(webhook)).with_state(hook);
        Ok(Mount { front: Some(front), ..Default::default() })
    }
}

struct Webhook {
    token: String,
    directory: Arc<ServerDirectory>,
    requests: Arc<ResourceStore>,
}

/// The webhook's answers: `{status, message}` (reference 6.3).
fn answer(code: StatusCode, message: impl Into<String>, extra: Option<Value>) -> Response<Body> {
    let mut body = json!({
        "status": if code.is_success() { "success" } else { "failure" },
        "message": message.into(),
    });
    if let Some(Value::Object(m)) = extra {
        for (k, v) in m {
            body[k] = v;
        }
    }
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = code;
    resp.headers_mut().insert("Content-Type", http::HeaderValue::from_static("application/json"));
    resp
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn webhook(State(hook): State<Arc<Webhook>>, method: Method, headers: HeaderMap, body: Body) -> Response<Body> {
    let presented = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if !presented.is_some_and(|t| same(t.as_bytes(), hook.token.as_bytes())) {
        // Read (a bounded part of) what was sent first: answered mid-upload, the caller would
        // see a reset connection instead of the 401.
        apiserver::auth::drain(body).await;
        let mut resp = answer(
            StatusCode::UNAUTHORIZED,
            "the notify webhook needs the platform's webhook token as a bearer token (Authorization: Bearer …)",
            None,
        );
        resp.headers_mut().insert("WWW-Authenticate", http::HeaderValue::from_static("Bearer"));
        return resp;
    }
    if method != Method::POST {
        return answer(StatusCode::METHOD_NOT_ALLOWED, "the notify webhook accepts POST only", None);
    }
    let bytes = match axum::body::to_bytes(body, MAX_PAYLOAD).await {
        Ok(b) => b,
        Err(e) => return answer(StatusCode::BAD_REQUEST, format!("reading the payload: {e}"), None),
    };
    let payload: Payload = match serde_json::from_slice(&bytes) {
        Ok(p) => p,
        Err(e) => {
            return answer(
                StatusCode::BAD_REQUEST,
                format!("the payload is not Alertmanager's webhook JSON: {e}"),
                None,
            );
        }
    };
    // Every alert's requests, with the channels' tenants looked up once.
    let mut tenants: HashMap<String, Option<String>> = HashMap::new();
    let mut new = vec![];
    let mut problems = vec![];
    for (i, alert) in payload.alerts.iter().enumerate() {
        let ways = match alert.notify_ways() {
            Ok(w) => w,
            Err(e) => {
                problems.push(format!("alert {i}: {e}"));
                continue;
            }
        };
        if ways.is_empty() {
            problems.push(format!("alert {i}: no notifyWay annotation (channel:template, comma separated)"));
            continue;
        }
        for (channel, template) in ways {
            if !tenants.contains_key(&channel) {
                let tenant = match hook.directory.channel(&channel).await {
                    Ok(c) => c.map(|c| c.tenant().to_string()),
                    Err(e) => {
                        return answer(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            format!("reading channel {channel}: {e}"),
                            None,
                        );
                    }
                };
                tenants.insert(channel.clone(), tenant);
            }
            match tenants.get(&channel).cloned().flatten() {
                Some(tenant) => new.push(alerts::request(alert, &channel, &template, &tenant)),
                None => problems.push(format!("alert {i}: the channel {channel} does not exist")),
            }
        }
    }
    let created: Vec<Result<String, ApiError>> = futures::stream::iter(new)
        .map(|r| {
            let store = hook.requests.clone();
            async move {
                let ctx = Context::system("notify-webhook", Some(&r.channel));
                let written = store.create(&ctx, r.object, &WriteOptions::default()).await?;
                Ok(format!("{}/{}", r.channel, written.object["metadata"]["name"].as_str().unwrap_or("")))
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let (mut names, mut failures) = (vec![], vec![]);
    for c in created {
        match c {
            Ok(n) => names.push(n),
            Err(e) => failures.push(e.message),
        }
    }
    tracing::info!(
        alerts = payload.alerts.len(),
        requests = names.len(),
        problems = problems.len(),
        failures = failures.len(),
        "alertmanager webhook"
    );
    if !failures.is_empty() {
        // Alertmanager sends the group again on a 5xx.
        let msg = format!("{} message requests could not be created: {}", failures.len(), failures.join("; "));
        return answer(StatusCode::INTERNAL_SERVER_ERROR, msg, Some(json!({"messageRequests": names})));
    }
    if names.is_empty() && !problems.is_empty() {
        return answer(StatusCode::BAD_REQUEST, problems.join("; "), None);
    }
    let msg = format!("{} message requests created", names.len());
    answer(StatusCode::OK, msg, Some(json!({"messageRequests": names, "skipped": problems})))
}

fn test_def() -> ConnectDef {
    ConnectDef {
        group: api::notify::GROUP,
        version: api::notify::VERSION,
        plural: "channels",
        subresource: "test",
        verbs: &["create"],
        kind: api::notify::message_request::KIND,
    }
}

/// `POST channels/{name}/test` with `{receivers, receiverGroups, templateName?, variables?}`:
/// a MessageRequest of the channel, as the caller, with the built-in test message unless a
/// template is named. Answers the request (201), whose status then shows what happened.
struct TestMessage {
    requests: Arc<ResourceStore>,
}

impl TestMessage {
    async fn answer(&self, req: ConnectRequest) -> Result<Response<Body>, ApiError> {
        if req.method != Method::POST {
            return Err(ApiError::method_not_allowed("channels/test accepts POST only"));
        }
        let bytes = axum::body::to_bytes(req.body, 1 << 20)
            .await
            .map_err(|e| ApiError::bad_request(format!("reading the request: {e}")))?;
        let body: Value = if bytes.is_empty() {
            json!({})
        } else {
            serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::bad_request(format!("the request is not JSON: {e}")))?
        };
        let field = |k: &str| body.get(k).cloned().unwrap_or(Value::Null);
        let obj = json!({
            "apiVersion": api::notify::API_VERSION,
            "kind": api::notify::message_request::KIND,
            "metadata": {"generateName": api::notify::message_request::GENERATE_NAME, "namespace": req.name,
                "labels": {crate::TEST_LABEL: "true"}},
            "spec": {
                "templateName": field("templateName").as_str().unwrap_or(""),
                "receivers": field("receivers"),
                "receiverGroups": field("receiverGroups"),
                "variables": field("variables"),
            },
        });
        let ctx = Context { user: req.user, namespace: Some(req.name.clone()) };
        let written = self.requests.create(&ctx, obj, &WriteOptions::default()).await?;
        Ok(apiserver::http::json_response(StatusCode::CREATED, written.object.to_string().into_bytes()))
    }
}

#[async_trait::async_trait]
impl Connect for TestMessage {
    async fn serve(&self, req: ConnectRequest) -> Response<Body> {
        match self.answer(req).await {
            Ok(r) => r,
            Err(e) => apiserver::http::error_response(&e),
        }
    }
}
