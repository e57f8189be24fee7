//! TKEStack's `SubjectAccessReview` (`auth.tkestack.io/v1`), the body of `/auth/authz`,
//! `/auth/restauthz` and `/auth/batchauthz`: Kubernetes' review extended with a list of
//! attribute sets (the console asks for many buttons at once) and a verdict per set. The JSON
//! names are TKEStack's, including its quirks: the groups are `spec.group` and the verb of a
//! verdict is `web`. Kubernetes-shaped reviews (`spec.groups`) are read too.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{ObjectMeta, null_as_default};

pub const KIND: &str = "SubjectAccessReview";

/// A question (`spec`) and its answer (`status`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubjectAccessReview {
    /// `auth.tkestack.io/v1` (or `authorization.k8s.io/v1` from a kube-apiserver webhook).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `SubjectAccessReview`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata (unused).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    /// Who asks to do what.
    #[serde(default)]
    pub spec: SubjectAccessReviewSpec,
    /// The answer; always written, as TKEStack's Go type does.
    #[serde(default)]
    pub status: SubjectAccessReviewStatus,
}

/// The question: one of `resourceAttributes`, `resourceAttributesList` or
/// `nonResourceAttributes`, and the user asking.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubjectAccessReviewSpec {
    /// A request for a resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_attributes: Option<ResourceAttributes>,
    /// Several requests for resources, answered one by one in `status.allowedList`.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub resource_attributes_list: Vec<ResourceAttributes>,
    /// A request for a path that is not a resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub non_resource_attributes: Option<NonResourceAttributes>,
    /// The user.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// The user's groups (`group` in TKEStack's JSON; Kubernetes' `groups` is read too).
    #[serde(
        rename = "group",
        alias = "groups",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub groups: Vec<String>,
    /// The user's extra attributes (`tenantid`, ...).
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
    /// The user's uid.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
}

/// A request for a resource, as Kubernetes describes one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceAttributes {
    /// Namespace of the resource; empty for cluster-scoped resources and all namespaces.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The verb (`get`, `list`, `create`, ... or `*`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub verb: String,
    /// API group (`*` = all).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// API version (`*` = all).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// Resource (`*` = all).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource: String,
    /// Subresource.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subresource: String,
    /// Name of the object; empty for lists and creates.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// A request for a path that is not a resource.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NonResourceAttributes {
    /// The URL path.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// The verb (the lower-cased HTTP method).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub verb: String,
}

/// The answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubjectAccessReviewStatus {
    /// Whether the request is allowed.
    #[serde(default)]
    pub allowed: bool,
    /// Whether the request is explicitly denied (no other authorizer may allow it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub denied: bool,
    /// Why, for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// What went wrong evaluating the request, if anything.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub evaluation_error: String,
    /// One verdict per entry of `spec.resourceAttributesList`.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub allowed_list: Vec<AllowedStatus>,
}

/// The verdict on one attribute set of a batch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AllowedStatus {
    /// The resource asked about, as TKEStack's action/resource derivation names it.
    #[serde(default)]
    pub resource: String,
    /// The action asked about (`web` in TKEStack's JSON).
    #[serde(rename = "web", default)]
    pub verb: String,
    /// Whether it is allowed.
    #[serde(default)]
    pub allowed: bool,
    /// Whether it is explicitly denied.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub denied: bool,
    /// Why, for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// What went wrong evaluating it, if anything.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub evaluation_error: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_batch_question_and_its_answer_round_trip() {
        let body = json!({
            "apiVersion": "auth.tkestack.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "resourceAttributesList": [
                    {"verb": "create", "group": "platform.tkestack.io", "version": "v1", "resource": "clusters"},
                    {"namespace": "prj-a", "verb": "get", "resource": "namespaces", "subresource": "status", "name": "ns-1"}
                ],
                "user": "alice",
                "group": ["tenant:t1", "system:authenticated"],
                "extra": {"tenantid": ["t1"]},
                "uid": "usr-a"
            },
            "status": {
                "allowed": false,
                "allowedList": [
                    {"resource": "cluster:*", "web": "createCluster", "allowed": true},
                    {"resource": "namespace:ns-1", "web": "getNamespaceStatus", "allowed": false, "denied": true, "reason": "denied by pol-x"}
                ]
            }
        });
        let review: SubjectAccessReview = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(review.spec.groups, vec!["tenant:t1", "system:authenticated"]);
        assert_eq!(review.spec.resource_attributes_list[1].subresource, "status");
        assert_eq!(review.spec.extra["tenantid"], vec!["t1"]);
        assert_eq!(review.status.allowed_list[0].verb, "createCluster");
        assert!(review.status.allowed_list[1].denied);
        assert_eq!(serde_json::to_value(&review).unwrap(), body);
    }

    #[test]
    fn a_single_question_with_go_nulls_and_kubernetes_groups() {
        // kube-apiserver's webhook sends `groups`; TKEStack's clients send null lists.
        let review: SubjectAccessReview = serde_json::from_value(json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {"nonResourceAttributes": {"path": "/healthz", "verb": "get"}, "user": "bob",
                "groups": ["ops"], "resourceAttributesList": null, "extra": null}
        }))
        .unwrap();
        assert_eq!(review.spec.groups, vec!["ops"]);
        assert_eq!(review.spec.non_resource_attributes.as_ref().map(|n| n.path.as_str()), Some("/healthz"));
        assert!(!review.status.allowed);
        // Written back in TKEStack's names, with the status always present.
        assert_eq!(
            serde_json::to_value(&review).unwrap(),
            json!({
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": {"nonResourceAttributes": {"path": "/healthz", "verb": "get"}, "user": "bob", "group": ["ops"]},
                "status": {"allowed": false}
            })
        );
    }
}
