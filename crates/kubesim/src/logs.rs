//! `pods/{name}/log` for simulated pods: what `kubectl logs` (and `-f`) reads. A simulated
//! container runs no program, so its log is made up by the simulator: one line when it started,
//! then, when followed, one line a second while the pod exists. It validates the request as a
//! real API server does (which container; a pod that is not running yet).

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
use serde_json::Value;

/// How often a followed log gets a line.
const FOLLOW_INTERVAL: Duration = Duration::from_secs(1);

struct LogHandler;

/// The query parameters of `pods/log` this simulator honours.
#[derive(Default)]
struct LogOptions {
    container: Option<String>,
    follow: bool,
    timestamps: bool,
    tail_lines: Option<usize>,
}

impl LogOptions {
    fn parse(query: Option<&str>) -> Result<Self, ApiError> {
        let mut o = LogOptions::default();
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match k.as_ref() {
                "container" => o.container = Some(v.into_owned()),
                "follow" => o.follow = v == "true" || v == "1",
                "timestamps" => o.timestamps = v == "true" || v == "1",
                "tailLines" => {
                    o.tail_lines = Some(
                        v.parse()
                            .map_err(|_| ApiError::bad_request(format!("tailLines must be a number, got {v:?}")))?,
                    )
                }
                _ => {}
            }
        }
        Ok(o)
    }
}

/// The container whose log is asked for, as kube-apiserver picks it.
fn container_of(pod: &Value, asked: Option<&str>) -> Result<(String, String), ApiError> {
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

fn line(opts: &LogOptions, text: &str) -> Bytes {
    if opts.timestamps {
        Bytes::from(format!("{} {text}\n", apimachinery::time::rfc3339_nanos(std::time::SystemTime::now())))
    } else {
        Bytes::from(format!("{text}\n"))
    }
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
        let result = LogOptions::parse(req.query.as_deref()).and_then(|opts| {
            let (container, image) = container_of(&req.object, opts.container.as_deref())?;
            if req.object["status"]["phase"] == "Pending" {
                return Err(ApiError::bad_request(format!(
                    "container \"{container}\" in pod \"{}\" is waiting to start: ContainerCreating",
                    req.name
                )));
            }
            Ok((opts, container, image))
        });
        let (opts, container, image) = match result {
            Ok(r) => r,
            Err(e) => return error_response_for(&accept, &e),
        };
        let started = line(&opts, &format!("kubesim: simulated container {container} ({image}) started"));
        let first = if opts.tail_lines == Some(0) { Vec::new() } else { vec![started] };
        let head = futures::stream::iter(first.into_iter().map(Ok::<_, std::io::Error>));
        let body = if opts.follow {
            let ctx = Context { user: req.user.clone(), namespace: req.namespace.clone() };
            let (store, name) = (req.store.clone(), req.name.clone());
            let ticks = futures::stream::unfold((0u64, store, ctx, name, opts), follow_step);
            Body::from_stream(futures::StreamExt::chain(head, ticks))
        } else {
            Body::from_stream(head)
        };
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(body)
            .unwrap_or_else(|_| Response::new(Body::empty()))
    }
}

/// One line a second while the pod exists; the stream ends when it is gone.
async fn follow_step(
    (n, store, ctx, name, opts): (u64, Arc<ResourceStore>, Context, String, LogOptions),
) -> Option<(Result<Bytes, std::io::Error>, (u64, Arc<ResourceStore>, Context, String, LogOptions))> {
    tokio::time::sleep(FOLLOW_INTERVAL).await;
    let pod = store.get(&ctx, &name, None).await.ok()?;
    if !pod["metadata"]["deletionTimestamp"].is_null() {
        return None;
    }
    let text = line(&opts, &format!("kubesim: still running ({} s)", n + 1));
    Some((Ok(text), (n + 1, store, ctx, name, opts)))
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
        let o = LogOptions::parse(Some("container=a&follow=true&tailLines=0&timestamps=1")).unwrap();
        assert_eq!((o.container.as_deref(), o.follow, o.tail_lines, o.timestamps), (Some("a"), true, Some(0), true));
        assert!(LogOptions::parse(Some("tailLines=x")).is_err());
    }
}
