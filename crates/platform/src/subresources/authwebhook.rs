//! `GET clusters/{name}/authwebhook`: what an imported cluster's administrator adds to its
//! kube-apiserver so that the cluster asks the platform who a token belongs to (`/auth/authn`)
//! and what a user may do (`/auth/authz`): the two webhook kubeconfig files (the platform's URL
//! and CA, and a client certificate for the cluster's identity, see [`crate::authwebhook`]) and
//! the flags. A connect subresource like `apiresources`: the API server authorizes `get` on
//! `clusters/authwebhook` before the handler runs; each call issues a fresh certificate.
//!
//! The answer (`ClusterAuthWebhook`): `files` (path on the masters -> content), `flags`
//! (`--name=value`, in order), and `directory` (where the files are meant to go; the flags
//! name them there). `?directory=/some/dir` places them elsewhere; `?server=https://host:port`
//! names the platform as the cluster reaches it when that is not the server's own URL (a load
//! balancer, a NAT).

use std::sync::Arc;

use apimachinery::ApiError;
use apiserver::{ApiServer, Connect, ConnectDef, ConnectRequest, http::error_response};
use axum::{
    body::Body,
    http::{Method, Response, StatusCode, header},
};
use serde_json::json;

use crate::authwebhook::{CONFIG_DIR, WebhookIssuer};

/// Registers `clusters/{name}/authwebhook`.
pub fn register(server: &Arc<ApiServer>, issuer: Arc<WebhookIssuer>) -> Result<(), ApiError> {
    let def = ConnectDef {
        group: api::platform::GROUP,
        version: api::platform::VERSION,
        plural: "clusters",
        subresource: "authwebhook",
        verbs: &["get"],
        kind: "",
    };
    server.register_connect(def, Arc::new(AuthWebhook { issuer }))
}

struct AuthWebhook {
    issuer: Arc<WebhookIssuer>,
}

fn query_value(query: Option<&str>, key: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes()).find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

/// `?server=` of the request: an https URL without path, query or spaces.
fn server(query: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(given) = query_value(query, "server") else { return Ok(None) };
    let rest = given.strip_prefix("https://").unwrap_or("");
    let host_port = rest.trim_end_matches('/');
    if host_port.is_empty() || host_port.contains(['/', '?', '#', '@']) || host_port.contains(char::is_whitespace) {
        return Err(ApiError::bad_request(format!(
            "server {given:?} must be https://host[:port], the platform's address as the cluster reaches it"
        )));
    }
    Ok(Some(format!("https://{host_port}")))
}

/// `?directory=` of the request, if it is an absolute path without `..`.
fn directory(query: Option<&str>) -> Result<String, ApiError> {
    let given = query_value(query, "directory");
    match given {
        None => Ok(CONFIG_DIR.to_string()),
        Some(d) if d.starts_with('/') && !d.split('/').any(|p| p == "..") && !d.contains(char::is_whitespace) => {
            Ok(d.trim_end_matches('/').to_string())
        }
        Some(d) => Err(ApiError::bad_request(format!(
            "directory {d:?} must be an absolute path on the masters, without \"..\" or spaces"
        ))),
    }
}

impl AuthWebhook {
    fn answer(&self, req: &ConnectRequest) -> Result<serde_json::Value, ApiError> {
        if req.method != Method::GET {
            return Err(ApiError::new(
                apimachinery::error::Reason::MethodNotAllowed,
                "this subresource only accepts GET".to_string(),
            ));
        }
        let dir = directory(req.query.as_deref())?;
        let server = server(req.query.as_deref())?;
        let tenant = req.object.pointer("/spec/tenantID").and_then(|t| t.as_str()).unwrap_or("");
        let out = self
            .issuer
            .files(&req.name, tenant, server.as_deref(), &dir)
            .map_err(|e| ApiError::internal(format!("cluster {}: {e}", req.name)))?;
        tracing::info!(cluster = %req.name, user = %req.user.name, "issued the cluster's webhook configuration");
        Ok(json!({
            "kind": "ClusterAuthWebhook",
            "apiVersion": format!("{}/{}", api::platform::GROUP, api::platform::VERSION),
            "cluster": req.name,
            "directory": dir,
            "files": out.files,
            "flags": out.flags.iter().map(|(k, v)| format!("--{k}={v}")).collect::<Vec<_>>(),
        }))
    }
}

#[async_trait::async_trait]
impl Connect for AuthWebhook {
    async fn serve(&self, req: ConnectRequest) -> Response<Body> {
        match self.answer(&req) {
            Ok(v) => {
                let mut resp = Response::new(Body::from(serde_json::to_vec(&v).unwrap_or_default()));
                *resp.status_mut() = StatusCode::OK;
                resp.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
                resp
            }
            Err(e) => error_response(&e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_is_an_absolute_path() {
        assert_eq!(directory(None).unwrap(), CONFIG_DIR);
        assert_eq!(directory(Some("directory=%2Fetc%2Fk8s%2F")).unwrap(), "/etc/k8s");
        for bad in ["directory=etc", "directory=%2Fetc%2F..%2Froot", "directory=%2Fa%20b"] {
            assert!(directory(Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(server(None).unwrap(), None);
        assert_eq!(
            server(Some("server=https%3A%2F%2Ftke.example.com%3A443%2F")).unwrap().as_deref(),
            Some("https://tke.example.com:443")
        );
        for bad in ["server=http%3A%2F%2Fx", "server=https%3A%2F%2F", "server=https%3A%2F%2Fx%2Fpath", "server=x"] {
            assert!(server(Some(bad)).is_err(), "{bad}");
        }
    }
}
