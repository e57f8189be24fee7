//! `pods/{name}/log` for simulated pods: what `kubectl logs` (and `-f`) reads. A simulated
//! container runs no program, so its log is made up, the same for every reader: one line when
//! the container started, then one every [`LOG_INTERVAL`] while it runs ([`log_lines`]; the
//! shell's `/var/log/app.log` shows the same lines). The request's options are honoured as a
//! kubelet honours them: `follow`, `timestamps`, `tailLines`, `sinceSeconds`/`sinceTime`,
//! `limitBytes`, `previous` (only containers that restarted have a previous log), and it is
//! validated as a real API server does (which container; a pod that is not running yet).

use std::{sync::Arc, time::Duration};

use apimachinery::ApiError;
use apiserver::{
    ApiServer, Connect, ConnectDef, ConnectRequest, Context,
    http::{error_response, error_response_for},
    store::ResourceStore,
};
use async_trait::async_trait;
use axum::{
    body::{Body, Bytes},
    http::{Method, Response, StatusCode, header},
};
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use serde_json::Value;

/// How often a simulated container logs a line.
pub const LOG_INTERVAL: Duration = Duration::from_secs(5);
/// Lines a container's log keeps (older ones are rotated away, as a kubelet does).
pub const MAX_LINES: u64 = 1000;

struct LogHandler;

/// The query parameters of `pods/log` this simulator honours.
#[derive(Clone, Default)]
struct LogOptions {
    container: Option<String>,
    follow: bool,
    timestamps: bool,
    previous: bool,
    tail_lines: Option<u64>,
    limit_bytes: Option<u64>,
    since: Option<DateTime<Utc>>,
}

fn number(key: &str, v: &str, min: i64) -> Result<i64, ApiError> {
    let n: i64 = v.parse().map_err(|_| ApiError::bad_request(format!("{key} must be a number, got {v:?}")))?;
    if n < min {
        return Err(ApiError::bad_request(format!("{key}: must be greater than or equal to {min}, got {n}")));
    }
    Ok(n)
}

impl LogOptions {
    fn parse(query: Option<&str>, now: DateTime<Utc>) -> Result<Self, ApiError> {
        let mut o = LogOptions::default();
        let mut since_seconds = None;
        let mut since_time = None;
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let yes = v == "true" || v == "1";
            match k.as_ref() {
                "container" => o.container = Some(v.into_owned()),
                "follow" => o.follow = yes,
                "timestamps" => o.timestamps = yes,
                "previous" => o.previous = yes,
                // kubectl sends -1 for "all lines".
                "tailLines" => o.tail_lines = u64::try_from(number("tailLines", &v, i64::MIN)?).ok(),
                "limitBytes" => o.limit_bytes = Some(number("limitBytes", &v, 1)? as u64),
                "sinceSeconds" => since_seconds = Some(number("sinceSeconds", &v, 1)?),
                "sinceTime" => {
                    since_time = Some(
                        DateTime::parse_from_rfc3339(&v)
                            .map_err(|_| {
                                ApiError::bad_request(format!("sinceTime must be an RFC 3339 time, got {v:?}"))
                            })?
                            .with_timezone(&Utc),
                    )
                }
                _ => {}
            }
        }
        o.since = match (since_seconds, since_time) {
            (Some(_), Some(_)) => {
                return Err(ApiError::bad_request("at most one of sinceTime or sinceSeconds may be specified"));
            }
            // Further back than time goes: everything.
            (Some(s), None) => chrono::Duration::try_seconds(s).and_then(|d| now.checked_sub_signed(d)),
            (None, t) => t,
        };
        Ok(o)
    }
}

/// The container whose log is asked for, as kube-apiserver picks it: (name, image).
pub fn container_of(pod: &Value, asked: Option<&str>) -> Result<(String, String), ApiError> {
    let containers = pod["spec"]["containers"].as_array().cloned().unwrap_or_default();
    let name = |c: &Value| c["name"].as_str().unwrap_or_default().to_string();
    let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let chosen = match asked {
        Some(asked) => containers.iter().find(|c| name(c) == asked).ok_or_else(|| {
            let names: Vec<String> = containers.iter().map(name).collect();
            ApiError::bad_request(format!(
                "container {asked} is not valid for pod {pod_name}; choose one of: [{}]",
                names.join(" ")
            ))
        })?,
        None if containers.len() == 1 => &containers[0],
        None => {
            let names: Vec<String> = containers.iter().map(name).collect();
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                names.join(" ")
            )));
        }
    };
    Ok((name(chosen), chosen["image"].as_str().unwrap_or_default().to_string()))
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v.as_str()?).ok().map(|t| t.with_timezone(&Utc))
}

/// The status the pod reports for `container`.
fn status_of<'a>(pod: &'a Value, container: &str) -> Option<&'a Value> {
    pod["status"]["containerStatuses"].as_array()?.iter().find(|s| s["name"] == container)
}

/// When `container` of `pod` started: its running state, else the pod's start, else its creation.
pub fn started_at(pod: &Value, container: &str) -> DateTime<Utc> {
    status_of(pod, container)
        .and_then(|s| time(&s["state"]["running"]["startedAt"]))
        .or_else(|| time(&pod["status"]["startTime"]))
        .or_else(|| time(&pod["metadata"]["creationTimestamp"]))
        .unwrap_or_else(Utc::now)
}

/// One line of a simulated log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub at: DateTime<Utc>,
    pub text: String,
}

fn nth_line(container: &str, image: &str, started: DateTime<Utc>, k: u64) -> LogLine {
    let interval = LOG_INTERVAL.as_secs().max(1);
    let at = started + chrono::Duration::seconds((k * interval) as i64);
    let text = if k == 0 {
        format!("kubesim: simulated container {container} ({image}) started")
    } else {
        format!("kubesim: still running ({} s)", k * interval)
    };
    LogLine { at, text }
}

/// How many lines a container started at `started` has logged by `now`.
fn lines_by(started: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    let elapsed = (now - started).num_seconds().max(0) as u64;
    elapsed / LOG_INTERVAL.as_secs().max(1) + 1
}

/// The log of `container` (with `image`) of `pod` as it stands at `now`: its newest
/// [`MAX_LINES`] lines.
pub fn log_lines(pod: &Value, container: &str, image: &str, now: DateTime<Utc>) -> Vec<LogLine> {
    let started = started_at(pod, container);
    let n = lines_by(started, now);
    (n.saturating_sub(MAX_LINES)..n).map(|k| nth_line(container, image, started, k)).collect()
}

/// The log of the container's previous instance (it ran until the current one started).
fn previous_lines(pod: &Value, container: &str, image: &str) -> Result<Vec<LogLine>, ApiError> {
    let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let status = status_of(pod, container);
    let restarts = status.and_then(|s| s["restartCount"].as_u64()).unwrap_or(0);
    if restarts == 0 {
        return Err(ApiError::bad_request(format!(
            "previous terminated container \"{container}\" in pod \"{pod_name}\" not found"
        )));
    }
    let last = status.map(|s| &s["lastState"]["terminated"]);
    let finished = last.and_then(|t| time(&t["finishedAt"])).unwrap_or_else(|| started_at(pod, container));
    let started = last.and_then(|t| time(&t["startedAt"])).unwrap_or(finished - chrono::Duration::seconds(60));
    let exit_code = last.and_then(|t| t["exitCode"].as_i64()).unwrap_or(1);
    Ok(vec![
        nth_line(container, image, started, 0),
        LogLine { at: finished, text: format!("kubesim: container {container} exited with code {exit_code}") },
    ])
}

fn render(opts: &LogOptions, line: &LogLine) -> Bytes {
    if opts.timestamps {
        Bytes::from(format!("{} {}\n", apimachinery::time::rfc3339_nanos(line.at), line.text))
    } else {
        Bytes::from(format!("{}\n", line.text))
    }
}

/// What one container's log request streams (before `limitBytes`).
struct Follow {
    store: Arc<ResourceStore>,
    ctx: Context,
    pod: String,
    container: String,
    image: String,
    started: DateTime<Utc>,
    next: u64,
    opts: LogOptions,
}

/// The next line of a followed log, when it is due; the stream ends when the pod is gone or
/// being deleted.
async fn follow_step(mut f: Follow) -> Option<(Result<Bytes, std::io::Error>, Follow)> {
    let line = nth_line(&f.container, &f.image, f.started, f.next);
    let wait = (line.at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    tokio::time::sleep(wait).await;
    let pod = f.store.get(&f.ctx, &f.pod, None).await.ok()?;
    if !pod["metadata"]["deletionTimestamp"].is_null() {
        return None;
    }
    f.next += 1;
    Some((Ok(render(&f.opts, &line)), f))
}

/// Ends `stream` after `limit` bytes, cutting the last chunk.
fn limited(
    stream: futures::stream::BoxStream<'static, Result<Bytes, std::io::Error>>,
    limit: u64,
) -> futures::stream::BoxStream<'static, Result<Bytes, std::io::Error>> {
    futures::stream::unfold((stream, limit), |(mut stream, left)| async move {
        if left == 0 {
            return None;
        }
        match stream.next().await? {
            Ok(mut chunk) => {
                if chunk.len() as u64 > left {
                    chunk.truncate(left as usize);
                }
                let left = left - chunk.len() as u64;
                Some((Ok(chunk), (stream, left)))
            }
            Err(e) => Some((Err(e), (stream, 0))),
        }
    })
    .boxed()
}

#[async_trait]
impl Connect for LogHandler {
    async fn serve(&self, req: ConnectRequest) -> Response<Body> {
        let accept = req.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        if !req.path.is_empty() {
            return error_response(&ApiError::not_found("", "pods/log", &req.path));
        }
        if req.method != Method::GET {
            return error_response(&ApiError::method_not_allowed("pods/log serves get (GET) only"));
        }
        let now = Utc::now();
        let result = LogOptions::parse(req.query.as_deref(), now).and_then(|opts| {
            let (container, image) = container_of(&req.object, opts.container.as_deref())?;
            if req.object["status"]["phase"] == "Pending" && !opts.previous {
                return Err(ApiError::bad_request(format!(
                    "container \"{container}\" in pod \"{}\" is waiting to start: ContainerCreating",
                    req.name
                )));
            }
            let lines = if opts.previous {
                previous_lines(&req.object, &container, &image)?
            } else {
                log_lines(&req.object, &container, &image, now)
            };
            Ok((opts, container, image, lines))
        });
        let (opts, container, image, lines) = match result {
            Ok(r) => r,
            Err(e) => return error_response_for(&accept, &e),
        };
        let next = if opts.previous { 0 } else { lines_by(started_at(&req.object, &container), now) };
        let mut lines: Vec<LogLine> = lines.into_iter().filter(|l| opts.since.is_none_or(|s| l.at >= s)).collect();
        if let Some(n) = opts.tail_lines {
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            lines.drain(..lines.len().saturating_sub(n));
        }
        let head: Vec<Result<Bytes, std::io::Error>> = lines.iter().map(|l| Ok(render(&opts, l))).collect();
        let head = futures::stream::iter(head);
        let mut body = if opts.follow && !opts.previous {
            let follow = Follow {
                store: req.store.clone(),
                ctx: Context { user: req.user.clone(), namespace: req.namespace.clone() },
                pod: req.name.clone(),
                started: started_at(&req.object, &container),
                container,
                image,
                next,
                opts: opts.clone(),
            };
            head.chain(futures::stream::unfold(follow, follow_step)).boxed()
        } else {
            head.boxed()
        };
        if let Some(limit) = opts.limit_bytes {
            body = limited(body, limit);
        }
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from_stream(body))
            .unwrap_or_else(|_| Response::new(Body::empty()))
    }
}

/// Serves `pods/log` on `server`.
pub fn register(server: &ApiServer) -> Result<(), ApiError> {
    server.register_connect(
        ConnectDef { group: "", version: "v1", plural: "pods", subresource: "log", verbs: &["get"], kind: "Pod" },
        Arc::new(LogHandler),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_container_is_chosen_as_kube_apiserver_does() {
        let one = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}});
        assert_eq!(container_of(&one, None).unwrap(), ("web".into(), "nginx".into()));
        let two = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let e = container_of(&two, None).unwrap_err();
        assert_eq!(e.message, "a container name must be specified for pod p, choose one of: [a b]");
        assert_eq!(container_of(&two, Some("b")).unwrap().0, "b");
        let e = container_of(&two, Some("c")).unwrap_err();
        assert_eq!(e.message, "container c is not valid for pod p; choose one of: [a b]");
    }

    #[test]
    fn options_are_read_from_the_query() {
        let now = Utc::now();
        let o = LogOptions::parse(Some("container=a&follow=true&tailLines=0&timestamps=1&limitBytes=10"), now).unwrap();
        assert_eq!((o.container.as_deref(), o.follow, o.tail_lines, o.timestamps), (Some("a"), true, Some(0), true));
        assert_eq!(o.limit_bytes, Some(10));
        assert_eq!(LogOptions::parse(Some("tailLines=-1"), now).unwrap().tail_lines, None, "kubectl's 'all'");
        assert_eq!(
            LogOptions::parse(Some("sinceSeconds=60"), now).unwrap().since,
            Some(now - chrono::Duration::seconds(60))
        );
        assert_eq!(LogOptions::parse(Some("sinceSeconds=9223372036854775807"), now).unwrap().since, None);
        let t = LogOptions::parse(Some("sinceTime=2026-01-02T03:04:05Z&previous=true"), now).unwrap();
        assert_eq!(t.since.map(|s| s.to_rfc3339()), Some("2026-01-02T03:04:05+00:00".into()));
        assert!(t.previous);
        for bad in [
            "tailLines=x",
            "limitBytes=0",
            "sinceSeconds=0",
            "sinceTime=yesterday",
            "sinceSeconds=5&sinceTime=2026-01-02T03:04:05Z",
        ] {
            assert!(LogOptions::parse(Some(bad), now).is_err(), "{bad}");
        }
    }

    fn running_pod(started: DateTime<Utc>, restarts: u64) -> Value {
        json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "web", "image": "nginx"}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "web", "restartCount": restarts,
                "state": {"running": {"startedAt": apimachinery::time::rfc3339(started)}}}]}})
    }

    #[test]
    fn the_log_grows_with_time_and_keeps_its_newest_lines() {
        let started = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
        let pod = running_pod(started, 0);
        let at = |secs: i64| started + chrono::Duration::seconds(secs);
        let lines = log_lines(&pod, "web", "nginx", at(12));
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "kubesim: simulated container web (nginx) started",
                "kubesim: still running (5 s)",
                "kubesim: still running (10 s)"
            ]
        );
        assert_eq!(lines[2].at, at(10));
        let old = log_lines(&pod, "web", "nginx", at(86_400));
        assert_eq!(old.len() as u64, MAX_LINES);
        assert_eq!(old.last().unwrap().at, at(86_400));
        assert_eq!(log_lines(&pod, "web", "nginx", at(-5)).len(), 1, "a clock behind the pod still shows its start");
    }

    #[test]
    fn only_a_restarted_container_has_a_previous_log() {
        let now = Utc::now();
        let e = previous_lines(&running_pod(now, 0), "web", "nginx").unwrap_err();
        assert_eq!(e.message, "previous terminated container \"web\" in pod \"p\" not found");
        assert_eq!(e.code(), 400);
        let lines = previous_lines(&running_pod(now, 2), "web", "nginx").unwrap();
        assert!(lines[1].text.contains("exited with code 1"), "{lines:?}");
    }

    #[tokio::test]
    async fn limit_bytes_cuts_the_stream() {
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::from_static(b"hello\n")),
            Ok(Bytes::from_static(b"world\n")),
            Ok(Bytes::from_static(b"more\n")),
        ];
        let out: Vec<Bytes> = limited(futures::stream::iter(chunks).boxed(), 8).map(|c| c.unwrap()).collect().await;
        assert_eq!(out.concat(), b"hello\nwo");
    }
}
