//! The MessageRequest controller (reference 6.2), run by `tke` under the Lease
//! `tke-notify-controller`: a new request is sent (and marked `Sending` when that takes longer
//! than [`Options::mark_sending_after`], e.g. while retrying); its receivers (named, and the
//! members of its receiver groups) each get the message by every way the template and the
//! channel allow (e-mail, SMS, WeChat), or, for a webhook channel with a text template, all at
//! once in one POST. Transient failures are retried with back-off; what still fails is named
//! per receiver in `status.errors`. The request ends `Sent`, `Failed` (nothing delivered) or
//! `PartialFailure`, and every delivery is archived as a `Message` (the inbox) carrying the
//! alert's policy, cluster and status.
//!
//! Messages have names derived from the request, receiver and way of sending, so a request
//! left `Pending` or `Sending` by a controller that stopped midway is taken up again (a `Sending`
//! one after [`Options::resume_after`]) without sending twice what was already archived.
//!
//! A burst of alerts is thousands of requests: each costs one Message and one status write
//! (made in process, see [`crate::directory`]), at most [`Options::concurrency`] are sent at
//! once, each on its own task (kube-runtime polls reconciles on one), and SMTP connections are
//! pooled per channel ([`crate::send::smtp`]).

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use api::notify::{
    Channel, MessageRequest, Receiver,
    channel::ChannelKind,
    common::{alert_status, identity, request_phase},
    template::{TemplateSpec, TemplateText},
};
use futures::StreamExt;
use kube::{
    Api, Client, ResourceExt,
    api::{ApiResource, DynamicObject, GroupVersionKind},
    runtime::{
        Controller,
        controller::{self, Action},
        watcher,
    },
};
use serde_json::{Value, json};

use crate::{
    directory::Directory,
    render::render,
    send::{SendError, Senders},
};

/// Settings of the controller.
#[derive(Clone, Debug)]
pub struct Options {
    /// Attempts per message for transient failures (the first included).
    pub attempts: u32,
    /// The wait before the second attempt, doubled for each next one.
    pub first_retry: Duration,
    /// Attempts to write a request's final status, and the wait between them (6.2: 5, 5 s).
    pub status_attempts: u32,
    pub status_retry: Duration,
    /// How long a request may stay `Sending` before a controller that did not start it takes
    /// it up again (the previous leader stopped midway).
    pub resume_after: Duration,
    /// A request still being sent after this long is marked `Sending` (the mark that makes
    /// another controller wait [`Options::resume_after`] before taking it up); quicker sends
    /// write their final status only.
    pub mark_sending_after: Duration,
    /// Requests sent at once.
    pub concurrency: u16,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            attempts: 4,
            first_retry: Duration::from_millis(500),
            status_attempts: 5,
            status_retry: Duration::from_secs(5),
            resume_after: Duration::from_secs(60),
            mark_sending_after: Duration::from_secs(1),
            concurrency: 64,
        }
    }
}

/// Names of the ways of sending, as in `Message.spec.receiverChannel`.
pub mod way {
    pub const EMAIL: &str = super::identity::EMAIL;
    pub const SMS: &str = super::identity::MOBILE;
    pub const WECHAT: &str = super::identity::WECHAT_OPENID;
    pub const WEBHOOK: &str = super::identity::WEBHOOK;
}

/// The template of a request that names none (the channel's "send a test message").
pub fn test_template() -> TemplateSpec {
    TemplateSpec {
        display_name: "test message".into(),
        text: Some(TemplateText {
            header: "TKEStack test message".into(),
            body: "This is a test message from TKEStack, sent through the channel {{.channelName}}.\n\
                   If you can read it, the channel works."
                .into(),
        }),
        ..Default::default()
    }
}

/// The line of an alert's status (reference 6.2).
pub fn alert_status_line(status: &str) -> &'static str {
    if status == alert_status::FIRING { "告警状态： 未恢复" } else { "告警状态： 已恢复" }
}

fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(api::notify::GROUP, api::notify::VERSION, kind), plural)
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the platform API: {0}")]
    Api(#[from] kube::Error),
    #[error("{0}")]
    Other(String),
}

/// One delivery, to be archived.
struct Delivery {
    receiver: Receiver,
    way: &'static str,
    identity: String,
    header: String,
    body: String,
    id: String,
}

/// What a request's send came to.
#[derive(Default)]
struct Outcome {
    errors: BTreeMap<String, String>,
    delivered: usize,
}

struct Ctx {
    senders: Arc<Senders>,
    dir: Arc<dyn Directory>,
    opts: Options,
    /// Requests this controller has taken (uid → the final status patch once known), until the
    /// watch shows them final: a stale copy of one must not be sent again.
    taken: Mutex<HashMap<String, Option<Value>>>,
}

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    client: Client,
    dir: Arc<dyn Directory>,
    senders: Arc<Senders>,
    opts: Options,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let main = resource(api::notify::message_request::KIND, "messagerequests");
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &main);
    let config = controller::Config::default().concurrency(opts.concurrency.max(1));
    let ctx = Arc::new(Ctx { senders, dir, opts, taken: Mutex::default() });
    Controller::new_with(api, watcher::Config::default(), main)
        .with_config(config)
        .graceful_shutdown_on(shutdown)
        .run(|o, c| controller_runtime::metrics::observe("message request", reconcile(o, c)), error_policy, ctx)
        .for_each(|_| async {})
        .await;
}

fn error_policy(obj: Arc<DynamicObject>, e: &Error, _ctx: Arc<Ctx>) -> Action {
    tracing::warn!(name = %obj.name_any(), error = %controller_runtime::error_chain(e), "message request: retrying");
    Action::requeue(Duration::from_secs(5))
}

/// Reconciles on a task of its own, so that requests are rendered, sent and recorded on every
/// core (kube-runtime polls all reconciles from one task).
async fn reconcile(obj: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    tokio::spawn(reconcile_request(obj, ctx))
        .await
        .unwrap_or_else(|e| Err(Error::Other(format!("sending a message request stopped: {e}"))))
}

async fn reconcile_request(obj: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let uid = obj.uid().unwrap_or_default();
    let mr: MessageRequest = serde_json::to_value(obj.as_ref())
        .and_then(serde_json::from_value)
        .map_err(|e| Error::Other(format!("decoding message request {}: {e}", obj.name_any())))?;
    let phase = mr.phase().to_string();
    if request_phase::is_final(&phase) {
        ctx.taken.lock().unwrap_or_else(|p| p.into_inner()).remove(&uid);
        return Ok(Action::await_change());
    }
    let taken = ctx.taken.lock().unwrap_or_else(|p| p.into_inner()).get(&uid).cloned();
    match taken {
        // Being sent by this controller now.
        Some(None) => return Ok(Action::await_change()),
        // Sent; its status could not be written yet.
        Some(Some(patch)) => {
            write_status(&ctx, &mr, &patch).await?;
            return Ok(Action::await_change());
        }
        None => {}
    }
    let resuming = phase == request_phase::SENDING;
    if resuming {
        let since = mr.status.as_ref().and_then(|s| s.last_transition_time.as_deref());
        let age = since.and_then(apimachinery::time::seconds_until).map_or(i64::MAX, |s| -s);
        let wait = ctx.opts.resume_after.as_secs() as i64 - age;
        if wait > 0 {
            return Ok(Action::requeue(Duration::from_secs(wait as u64)));
        }
        tracing::info!(request = %mr.name(), channel = %mr.channel(), "taking up a request left Sending");
    }
    ctx.taken.lock().unwrap_or_else(|p| p.into_inner()).insert(uid.clone(), None);
    let send = send_request(&ctx, &mr, &uid);
    tokio::pin!(send);
    let outcome = if resuming {
        send.await
    } else {
        tokio::select! {
            outcome = &mut send => outcome,
            _ = tokio::time::sleep(ctx.opts.mark_sending_after) => {
                let patch = json!({"status": {"phase": request_phase::SENDING, "lastTransitionTime": crate::now()}});
                if let Err(e) = ctx.dir.set_request_status(mr.channel(), mr.name(), &patch).await {
                    // The send goes on; only a takeover after a stop would not wait for it.
                    tracing::warn!(request = %mr.name(), error = %e, "marking a request Sending");
                }
                send.await
            }
        }
    };
    let phase = if outcome.errors.is_empty() {
        request_phase::SENT
    } else if outcome.delivered == 0 {
        request_phase::FAILED
    } else {
        request_phase::PARTIAL_FAILURE
    };
    tracing::info!(request = %mr.name(), channel = %mr.channel(), phase, delivered = outcome.delivered, errors = ?outcome.errors, "message request sent");
    let patch = json!({"status": {"phase": phase, "errors": outcome.errors, "lastTransitionTime": crate::now()}});
    ctx.taken.lock().unwrap_or_else(|p| p.into_inner()).insert(uid.clone(), Some(patch.clone()));
    write_status(&ctx, &mr, &patch).await?;
    Ok(Action::await_change())
}

/// Writes a final status, trying [`Options::status_attempts`] times.
async fn write_status(ctx: &Ctx, mr: &MessageRequest, patch: &Value) -> Result<(), Error> {
    let mut attempt = 1;
    loop {
        match ctx.dir.set_request_status(mr.channel(), mr.name(), patch).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt >= ctx.opts.status_attempts => {
                return Err(Error::Other(format!("writing the status of {}: {}", mr.name(), e.message)));
            }
            Err(e) => {
                tracing::warn!(request = %mr.name(), error = %e.message, "writing the status; trying again");
                attempt += 1;
                tokio::time::sleep(ctx.opts.status_retry).await;
            }
        }
    }
}

/// The receivers of a request: those named and the members of its groups (each once, in
/// order), with an error for each name that does not resolve.
async fn resolve_receivers(ctx: &Ctx, mr: &MessageRequest, errors: &mut BTreeMap<String, String>) -> Vec<Receiver> {
    let mut names: Vec<String> = mr.spec.receivers.clone();
    for g in &mr.spec.receiver_groups {
        match ctx.dir.receiver_group(g).await {
            Ok(Some(group)) if group.tenant() == mr.tenant() => names.extend(group.spec.receivers),
            Ok(_) => {
                errors.insert(g.clone(), format!("the receiver group {g} does not exist"));
            }
            Err(e) => {
                errors.insert(g.clone(), format!("Failed to get receiver group {g}: {}", e.message));
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = vec![];
    for n in names.into_iter().filter(|n| !n.is_empty()) {
        if !seen.insert(n.clone()) {
            continue;
        }
        match ctx.dir.receiver(&n).await {
            Ok(Some(r)) if r.tenant() == mr.tenant() => out.push(r),
            Ok(_) => {
                errors.insert(n.clone(), format!("the receiver {n} does not exist"));
            }
            Err(e) => {
                errors.insert(n.clone(), format!("Failed to get receiver {n}: {}", e.message));
            }
        }
    }
    out
}

async fn send_request(ctx: &Ctx, mr: &MessageRequest, uid: &str) -> Outcome {
    let mut outcome = Outcome::default();
    let receivers = resolve_receivers(ctx, mr, &mut outcome.errors).await;
    if receivers.is_empty() {
        if outcome.errors.is_empty() {
            outcome.errors.insert("receivers".into(), "the request has no receivers".into());
        }
        return outcome;
    }
    let fail_all = |outcome: &mut Outcome, why: String| {
        for r in &receivers {
            outcome.errors.insert(r.name().to_string(), why.clone());
        }
    };
    let channel = match ctx.dir.channel(mr.channel()).await {
        Ok(Some(c)) if c.tenant() == mr.tenant() => c,
        Ok(_) => {
            fail_all(&mut outcome, format!("Failed to get notification channel {}: it does not exist", mr.channel()));
            return outcome;
        }
        Err(e) => {
            fail_all(&mut outcome, format!("Failed to get notification channel {}: {}", mr.channel(), e.message));
            return outcome;
        }
    };
    let template = if mr.spec.template_name.is_empty() {
        test_template()
    } else {
        match ctx.dir.template(mr.channel(), &mr.spec.template_name).await {
            Ok(Some(t)) if t.tenant() == mr.tenant() => t.spec,
            Ok(_) => {
                let why = format!("Failed to get notification template {}: it does not exist", mr.spec.template_name);
                fail_all(&mut outcome, why);
                return outcome;
            }
            Err(e) => {
                let why = format!("Failed to get notification template {}: {}", mr.spec.template_name, e.message);
                fail_all(&mut outcome, why);
                return outcome;
            }
        }
    };
    let mut variables = mr.spec.variables.clone();
    variables.entry("channelName".into()).or_insert_with(|| channel.spec.display_name.clone());
    let deliveries = if channel.kinds() == [ChannelKind::Webhook] && template.text.is_some() {
        send_webhook(ctx, mr, uid, &channel, &template, &variables, &receivers, &mut outcome).await
    } else {
        let sends = receivers.iter().map(|r| send_to(ctx, mr, uid, &channel, &template, &variables, r));
        let mut deliveries = vec![];
        for (r, (delivered, errs)) in receivers.iter().zip(futures::future::join_all(sends).await) {
            deliveries.extend(delivered);
            if !errs.is_empty() {
                outcome.errors.insert(r.name().to_string(), errs.join("; "));
            }
        }
        deliveries
    };
    outcome.delivered = deliveries.len();
    let archived = deliveries.iter().map(|d| archive(ctx, mr, uid, &variables, d));
    for (d, result) in deliveries.iter().zip(futures::future::join_all(archived).await) {
        if let Err(e) = result {
            // Delivered all the same; the inbox misses it, and the request says so.
            tracing::warn!(request = %mr.name(), receiver = %d.receiver.name(), error = %e, "archiving a message");
        }
    }
    outcome
}

/// Retries `send` on transient failures with doubling waits.
async fn with_retries<F, Fut>(opts: &Options, mut send: F) -> Result<String, SendError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<String, SendError>>,
{
    let mut wait = opts.first_retry;
    let mut attempt = 1;
    loop {
        match send().await {
            Err(e) if e.transient && attempt < opts.attempts => {
                tokio::time::sleep(wait).await;
                wait *= 2;
                attempt += 1;
            }
            Err(e) if attempt > 1 => {
                return Err(SendError { message: format!("{} (after {attempt} attempts)", e.message), ..e });
            }
            other => return other,
        }
    }
}

fn message_name(uid: &str, receiver: &str, way: &str) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(format!("{uid}\0{receiver}\0{way}"));
    format!("msg-{}", &hex::encode(h)[..20])
}

/// Whether this delivery was archived already: the request was being sent by a controller
/// that stopped (a read in process; without it a takeover would send twice).
async fn already_sent(ctx: &Ctx, uid: &str, receiver: &str, way: &str) -> bool {
    matches!(ctx.dir.message_exists(&message_name(uid, receiver, way)).await, Ok(true))
}

#[allow(clippy::too_many_arguments)]
async fn send_webhook(
    ctx: &Ctx,
    mr: &MessageRequest,
    uid: &str,
    channel: &Channel,
    template: &TemplateSpec,
    variables: &BTreeMap<String, String>,
    receivers: &[Receiver],
    outcome: &mut Outcome,
) -> Vec<Delivery> {
    let (Some(hook), Some(text)) = (channel.spec.webhook.as_ref(), template.text.as_ref()) else { return vec![] };
    let rendered = render(&text.header, variables).and_then(|h| Ok((h, render(&text.body, variables)?)));
    let (header, body) = match rendered {
        Ok(x) => x,
        Err(e) => {
            for r in receivers {
                outcome.errors.insert(r.name().to_string(), format!("the template: {e}"));
            }
            return vec![];
        }
    };
    let content = match mr.alert_status() {
        "" => body.clone(),
        s => format!("{}\r\n{body}", alert_status_line(s)),
    };
    let first = receivers.first().map(|r| r.name().to_string()).unwrap_or_default();
    let result = if already_sent(ctx, uid, &first, way::WEBHOOK).await {
        Ok(String::new())
    } else {
        let objs: Vec<Value> = receivers
            .iter()
            .map(|r| {
                let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
                v["apiVersion"] = json!(api::notify::API_VERSION);
                v["kind"] = json!(api::notify::receiver::KIND);
                v
            })
            .collect();
        with_retries(&ctx.opts, || crate::send::webhook::send(&ctx.senders.http, hook, &objs, &content)).await
    };
    match result {
        Ok(id) => receivers
            .iter()
            .map(|r| Delivery {
                receiver: r.clone(),
                way: way::WEBHOOK,
                identity: r.identity(identity::WEBHOOK).unwrap_or(&hook.url).to_string(),
                header: header.clone(),
                body: content.clone(),
                id: id.clone(),
            })
            .collect(),
        Err(e) => {
            for r in receivers {
                outcome.errors.insert(r.name().to_string(), e.message.clone());
            }
            vec![]
        }
    }
}

/// Sends to one receiver by every way the template and channel allow; answers what was
/// delivered and why the rest was not.
#[allow(clippy::too_many_arguments)]
async fn send_to(
    ctx: &Ctx,
    mr: &MessageRequest,
    uid: &str,
    channel: &Channel,
    template: &TemplateSpec,
    variables: &BTreeMap<String, String>,
    r: &Receiver,
) -> (Vec<Delivery>, Vec<String>) {
    let (mut delivered, mut errors) = (vec![], vec![]);
    let mut applicable = false;
    let params = || template.keys.iter().map(|k| variables.get(k).cloned().unwrap_or_default()).collect::<Vec<_>>();
    let status_line = match mr.alert_status() {
        "" => String::new(),
        s => format!("{}\n", alert_status_line(s)),
    };
    if let (Some(c), Some(t)) = (&channel.spec.tencent_cloud_sms, &template.tencent_cloud_sms) {
        applicable = true;
        match (r.identity(identity::MOBILE), render(&t.body, variables)) {
            (None, _) => errors.push("The notification recipient did not configure the mobile".to_string()),
            (_, Err(e)) => errors.push(format!("the SMS template: {e}")),
            (Some(mobile), Ok(body)) => {
                let result = if already_sent(ctx, uid, r.name(), way::SMS).await {
                    Ok(String::new())
                } else {
                    let s = &ctx.senders;
                    with_retries(&ctx.opts, || {
                        crate::send::sms::send(&s.http, &s.endpoints.tencent_sms, c, t, mobile, params())
                    })
                    .await
                };
                match result {
                    Ok(id) => delivered.push(Delivery {
                        receiver: r.clone(),
                        way: way::SMS,
                        identity: mobile.to_string(),
                        header: String::new(),
                        body,
                        id,
                    }),
                    Err(e) => errors.push(e.message),
                }
            }
        }
    }
    if let (Some(c), Some(t)) = (&channel.spec.wechat, &template.wechat) {
        applicable = true;
        match (r.identity(identity::WECHAT_OPENID), render(&t.body, variables)) {
            (None, _) => errors.push("The notification recipient did not configure the wechat openid".to_string()),
            (_, Err(e)) => errors.push(format!("the WeChat template: {e}")),
            (Some(openid), Ok(body)) => {
                let data: BTreeMap<String, String> =
                    template.keys.iter().map(|k| (k.clone(), variables.get(k).cloned().unwrap_or_default())).collect();
                let result = if already_sent(ctx, uid, r.name(), way::WECHAT).await {
                    Ok(String::new())
                } else {
                    let s = &ctx.senders;
                    with_retries(&ctx.opts, || {
                        crate::send::wechat::send(&s.http, &s.endpoints.wechat, &s.wechat_tokens, c, t, openid, &data)
                    })
                    .await
                };
                match result {
                    Ok(id) => delivered.push(Delivery {
                        receiver: r.clone(),
                        way: way::WECHAT,
                        identity: openid.to_string(),
                        header: String::new(),
                        body,
                        id,
                    }),
                    Err(e) => errors.push(e.message),
                }
            }
        }
    }
    if let (Some(c), Some(t)) = (&channel.spec.smtp, &template.text) {
        applicable = true;
        let rendered = render(&t.header, variables).and_then(|h| Ok((h, render(&t.body, variables)?)));
        match (r.identity(identity::EMAIL), rendered) {
            (None, _) => errors.push("The notification recipient did not configure the email".to_string()),
            (_, Err(e)) => errors.push(format!("the text template: {e}")),
            (Some(email), Ok((header, body))) => {
                let body = format!("{status_line}{body}");
                let result = if already_sent(ctx, uid, r.name(), way::EMAIL).await {
                    Ok(String::new())
                } else {
                    with_retries(&ctx.opts, || ctx.senders.smtp.send(c, email, &header, &body)).await
                };
                match result {
                    Ok(id) => delivered.push(Delivery {
                        receiver: r.clone(),
                        way: way::EMAIL,
                        identity: email.to_string(),
                        header,
                        body,
                        id,
                    }),
                    Err(e) => errors.push(e.message),
                }
            }
        }
    }
    if !applicable {
        errors.push("Notification sending template is not configured".to_string());
    }
    (delivered, errors)
}

/// The labels of a request's Messages: the request and channel, when their names fit in a
/// label value (63 characters; generated names always do).
fn labels(mr: &MessageRequest) -> Value {
    let mut labels = serde_json::Map::new();
    for (k, v) in [(crate::REQUEST_LABEL, mr.name()), (crate::CHANNEL_LABEL, mr.channel())] {
        if v.len() <= 63 {
            labels.insert(k.to_string(), json!(v));
        }
    }
    Value::Object(labels)
}

/// Archives a delivery as a Message (already there: archived before a restart).
async fn archive(
    ctx: &Ctx,
    mr: &MessageRequest,
    uid: &str,
    variables: &BTreeMap<String, String>,
    d: &Delivery,
) -> Result<(), apimachinery::ApiError> {
    let var = |k: &str| variables.get(k).cloned().unwrap_or_default();
    let obj = json!({
        "apiVersion": api::notify::API_VERSION,
        "kind": api::notify::message::KIND,
        "metadata": {
            "name": message_name(uid, d.receiver.name(), d.way),
            "labels": labels(mr),
        },
        "spec": {
            "tenantID": mr.tenant(),
            "receiverName": d.receiver.name(),
            "receiverChannel": d.way,
            "identity": d.identity,
            "username": d.receiver.spec.username,
            "header": d.header,
            "body": d.body,
            "channelMessageID": d.id,
            "alarmPolicyName": var("alarmPolicyName"),
            "alarmPolicyType": var("alarmPolicyType"),
            "receiverChannelName": mr.channel(),
            "clusterID": var("clusterID"),
        },
        "status": { "alertStatus": mr.alert_status() },
    });
    ctx.dir.archive(obj).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn transient_failures_are_retried_then_reported() {
        let opts = Options { attempts: 3, first_retry: Duration::from_millis(1), ..Default::default() };
        let calls = std::sync::atomic::AtomicU32::new(0);
        let r = with_retries(&opts, || {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { Err(SendError::transient("busy")) }
        })
        .await;
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3);
        assert_eq!(r.unwrap_err().message, "busy (after 3 attempts)");
        calls.store(0, std::sync::atomic::Ordering::SeqCst);
        let r = with_retries(&opts, || {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { Err(SendError::permanent("no such user")) }
        })
        .await;
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(r.unwrap_err().message, "no such user");
        let n = std::sync::atomic::AtomicU32::new(0);
        let r = with_retries(&opts, || {
            let k = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move { if k == 0 { Err(SendError::transient("busy")) } else { Ok("id".to_string()) } }
        })
        .await;
        assert_eq!(r.unwrap(), "id");
    }

    #[test]
    fn message_names_are_stable_and_distinct() {
        assert_eq!(message_name("u", "r", "email"), message_name("u", "r", "email"));
        assert_ne!(message_name("u", "r", "email"), message_name("u", "r", "mobile"));
        assert!(message_name("u", "r", "email").len() <= 63);
    }
}
