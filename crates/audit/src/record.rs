//! An audit event as it is stored and answered: the reference's flat form (8.2) of an
//! `audit.k8s.io/v1` Event, with the cluster it came from and the tenant it belongs to.

use apiserver::audit::Event;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The cluster name of the platform's own events.
pub const CONTROL_PLANE: &str = "control-plane";

/// One stored event.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Record {
    #[serde(rename = "auditID")]
    pub audit_id: String,
    pub stage: String,
    #[serde(rename = "requestURI")]
    pub request_uri: String,
    pub verb: String,
    pub user_name: String,
    pub user_agent: String,
    pub resource: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub api_group: String,
    pub api_version: String,
    /// Comma separated.
    #[serde(rename = "sourceIPs")]
    pub source_ips: String,
    /// `Success` (codes below 400) or `Failure`.
    pub status: String,
    pub message: String,
    pub reason: String,
    /// The Status' details, as JSON text (empty when none).
    pub details: String,
    pub code: i64,
    /// The request body as JSON text (empty when not recorded).
    pub request_object: String,
    /// The response body as JSON text (empty when not recorded).
    pub response_object: String,
    /// Milliseconds since the epoch.
    pub request_received_timestamp: i64,
    /// Milliseconds since the epoch.
    pub stage_timestamp: i64,
    pub cluster_name: String,
    #[serde(rename = "tenantID")]
    pub tenant_id: String,
}

/// Milliseconds since the epoch of an RFC 3339 time (0 when it does not parse).
pub fn millis(t: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t).map(|t| t.timestamp_millis()).unwrap_or(0)
}

fn json_text(v: Option<&Value>) -> String {
    v.filter(|v| !v.is_null()).map(|v| v.to_string()).unwrap_or_default()
}

impl Record {
    /// Flattens `event` from `cluster` of `tenant` (the reference's rules: a created object's
    /// name comes from the response when the request did not name it; the status from the code).
    pub fn flatten(event: &Event, cluster: &str, tenant: &str) -> Record {
        let obj = event.object_ref.clone().unwrap_or_default();
        let status = event.response_status.clone().unwrap_or_default();
        let response_meta = event.response_object.as_ref().and_then(|r| r.get("metadata"));
        let from_response =
            |k: &str| response_meta.and_then(|m| m.get(k)).and_then(Value::as_str).unwrap_or_default().to_string();
        let mut name = obj.name.clone();
        if name.is_empty() && event.verb == "create" {
            name = from_response("name");
        }
        let uid = if obj.uid.is_empty() { from_response("uid") } else { obj.uid.clone() };
        let code = status.code;
        let resource = if obj.subresource.is_empty() {
            obj.resource.clone()
        } else {
            format!("{}/{}", obj.resource, obj.subresource)
        };
        Record {
            audit_id: event.audit_id.clone(),
            stage: event.stage.clone(),
            request_uri: event.request_uri.clone(),
            verb: event.verb.clone(),
            user_name: event.user.username.clone(),
            user_agent: event.user_agent.clone(),
            resource,
            namespace: obj.namespace,
            name,
            uid,
            api_group: obj.api_group,
            api_version: obj.api_version,
            source_ips: event.source_ips.join(","),
            status: if (1..400).contains(&code) { "Success" } else { "Failure" }.to_string(),
            message: status.message,
            reason: status.reason,
            details: json_text(status.details.as_ref()),
            code,
            request_object: json_text(event.request_object.as_ref()),
            response_object: json_text(event.response_object.as_ref()),
            request_received_timestamp: millis(&event.request_received_timestamp),
            stage_timestamp: millis(&event.stage_timestamp),
            cluster_name: cluster.to_string(),
            tenant_id: tenant.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattening_follows_the_reference() {
        let event: Event = serde_json::from_value(serde_json::json!({
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
            "auditID": "a1", "stage": "ResponseComplete", "requestURI": "/api/v1/namespaces/ns/pods",
            "verb": "create", "user": {"username": "kubernetes-admin", "groups": ["system:masters"]},
            "sourceIPs": ["10.0.0.1", "10.0.0.2"], "userAgent": "kubectl/v1.32",
            "objectRef": {"resource": "pods", "namespace": "ns", "apiVersion": "v1"},
            "responseStatus": {"metadata": {}, "code": 201},
            "requestObject": {"kind": "Pod"},
            "responseObject": {"kind": "Pod", "metadata": {"name": "p1", "uid": "u1"}},
            "requestReceivedTimestamp": "2026-12-07T10:00:00.123456Z",
            "stageTimestamp": "2026-12-07T10:00:00.200000Z"
        }))
        .unwrap();
        let r = Record::flatten(&event, "cls-a", "t1");
        assert_eq!((r.name.as_str(), r.uid.as_str(), r.status.as_str(), r.code), ("p1", "u1", "Success", 201));
        assert_eq!(r.source_ips, "10.0.0.1,10.0.0.2");
        assert_eq!(r.request_received_timestamp, 1_796_637_600_123);
        assert_eq!(r.stage_timestamp - r.request_received_timestamp, 77);
        assert_eq!((r.cluster_name.as_str(), r.tenant_id.as_str()), ("cls-a", "t1"));
        assert_eq!(r.request_object, r#"{"kind":"Pod"}"#);

        let mut failed = event.clone();
        failed.response_status.as_mut().unwrap().code = 403;
        failed.object_ref.as_mut().unwrap().subresource = "exec".into();
        let r = Record::flatten(&failed, "cls-a", "t1");
        assert_eq!((r.status.as_str(), r.resource.as_str()), ("Failure", "pods/exec"));
        let text = serde_json::to_value(&r).unwrap();
        assert!(text.get("auditID").is_some() && text.get("clusterName").is_some() && text.get("sourceIPs").is_some());
    }
}
