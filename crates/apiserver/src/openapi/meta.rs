//! The shared `meta.k8s.io` definitions every published resource refers to (list metadata,
//! `Status`, `DeleteOptions`, the patch body, watch events), written as JSON Schema in the same
//! form schemars produces so that one converter turns them into OpenAPI v2 and v3. Names are
//! the ones Kubernetes publishes, so clients that know them (kubectl) recognise them.

use serde_json::{Map, Value, json};

pub const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
pub const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
pub const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub const STATUS_DETAILS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.StatusDetails";
pub const STATUS_CAUSE: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.StatusCause";
pub const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub const PRECONDITIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Preconditions";
pub const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
pub const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
pub const RAW_EXTENSION: &str = "io.k8s.apimachinery.pkg.runtime.RawExtension";

fn r(name: &str) -> String {
    format!("#/$defs/{name}")
}

fn string(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

const API_VERSION_DOC: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values.";
const KIND_DOC: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. In CamelCase; cannot be updated.";

/// `apiVersion` and `kind` properties as every Kubernetes object documents them.
pub fn type_meta_properties() -> (Value, Value) {
    (string(API_VERSION_DOC), string(KIND_DOC))
}

/// The shared definitions, keyed by their published names.
pub fn definitions() -> Map<String, Value> {
    let (api_version, kind) = type_meta_properties();
    let mut m = Map::new();
    let map_of_strings =
        |d: &str| json!({"type": "object", "additionalProperties": {"type": "string"}, "description": d});
    let strings = |d: &str| json!({"type": "array", "items": {"type": "string"}, "description": d});
    m.insert(
        OBJECT_META.into(),
        json!({
            "description": "ObjectMeta is metadata that all persisted resources must have.",
            "type": "object",
            "properties": {
                "annotations": map_of_strings("Unstructured key-value map stored with the object; not queryable."),
                "creationTimestamp": {"type": "string", "format": "date-time", "description": "When the object was created (RFC 3339). Read-only."},
                "deletionGracePeriodSeconds": {"type": "integer", "format": "int64", "description": "Seconds allowed for graceful termination before the object is removed. Read-only."},
                "deletionTimestamp": {"type": "string", "format": "date-time", "description": "When deletion was requested (RFC 3339); the object stays until its finalizers are cleared. Read-only."},
                "finalizers": strings("Entries that must be removed before the object is deleted."),
                "generateName": string("Prefix the server uses to generate a unique name when `name` is empty."),
                "generation": {"type": "integer", "format": "int64", "description": "Sequence number of the desired state. Read-only."},
                "labels": map_of_strings("Keys and values that can be used to organize and select objects."),
                "managedFields": {"type": "array", "items": {"type": "object"}, "description": "Which field managers own which fields (server-side apply)."},
                "name": string("Name of the object, unique among objects of its kind (in its namespace). Cannot be updated."),
                "namespace": string("Namespace of a namespaced object; empty for cluster-scoped objects."),
                "ownerReferences": {"type": "array", "items": {"type": "object"}, "description": "Objects this object depends on; when all of them are deleted, so is this one."},
                "resourceVersion": string("Opaque version of the object, for optimistic concurrency and watches. Read-only."),
                "uid": string("Unique identifier set by the server on creation. Read-only."),
            },
        }),
    );
    m.insert(
        LIST_META.into(),
        json!({
            "description": "ListMeta describes metadata that synthetic resources must have, including lists.",
            "type": "object",
            "properties": {
                "continue": string("Set when more results are available: pass it as the `continue` parameter of the next list call to get the next page."),
                "remainingItemCount": {"type": "integer", "format": "int64", "description": "Number of items after this page, when known."},
                "resourceVersion": string("The version of the list, for a watch that starts where this list ends. Opaque to clients."),
                "selfLink": string("Deprecated: not set by the server."),
            },
        }),
    );
    m.insert(
        STATUS.into(),
        json!({
            "description": "Status is the result of an operation that does not return an object, and the body of every error.",
            "type": "object",
            "properties": {
                "apiVersion": api_version,
                "kind": kind,
                "code": {"type": "integer", "format": "int32", "description": "HTTP status code of the operation, 0 when unset."},
                "details": {"$ref": r(STATUS_DETAILS), "description": "Extended data about the reason; depends on the reason."},
                "message": string("Human-readable description of the status of the operation."),
                "metadata": {"$ref": r(LIST_META), "description": "Standard list metadata."},
                "reason": string("Machine-readable reason for a `Failure` status, such as `NotFound` or `Invalid`."),
                "status": string("`Success` or `Failure`."),
            },
            "x-kubernetes-group-version-kind": [{"group": "", "kind": "Status", "version": "v1"}],
        }),
    );
    m.insert(
        STATUS_DETAILS.into(),
        json!({
            "description": "StatusDetails identifies the object a Status is about and the causes of the failure.",
            "type": "object",
            "properties": {
                "causes": {"type": "array", "items": {"$ref": r(STATUS_CAUSE)}, "description": "The individual causes of the failure, such as the invalid fields."},
                "group": string("Group of the object the status is about."),
                "kind": string("Kind of the object the status is about."),
                "name": string("Name of the object the status is about."),
                "retryAfterSeconds": {"type": "integer", "format": "int32", "description": "Seconds to wait before retrying, when the operation may be retried."},
                "uid": string("UID of the object the status is about."),
            },
        }),
    );
    m.insert(
        STATUS_CAUSE.into(),
        json!({
            "description": "StatusCause is one cause of a failure, such as one invalid field.",
            "type": "object",
            "properties": {
                "field": string("Path of the field that caused the failure, such as `spec.type`."),
                "message": string("Human-readable description of the cause."),
                "reason": string("Machine-readable cause, such as `FieldValueInvalid`."),
            },
        }),
    );
    m.insert(
        PRECONDITIONS.into(),
        json!({
            "description": "Preconditions must be fulfilled before an operation is carried out.",
            "type": "object",
            "properties": {
                "resourceVersion": string("The target object's resourceVersion."),
                "uid": string("The target object's UID."),
            },
        }),
    );
    let (api_version, kind) = type_meta_properties();
    m.insert(
        DELETE_OPTIONS.into(),
        json!({
            "description": "DeleteOptions may be provided when deleting an object.",
            "type": "object",
            "properties": {
                "apiVersion": api_version,
                "kind": kind,
                "dryRun": {"type": "array", "items": {"type": "string"}, "description": "`All` to process the request without persisting anything."},
                "gracePeriodSeconds": {"type": "integer", "format": "int64", "description": "Seconds before the object is deleted; zero deletes immediately."},
                "orphanDependents": {"type": "boolean", "description": "Deprecated: use propagationPolicy."},
                "preconditions": {"$ref": r(PRECONDITIONS), "description": "Must be fulfilled before the deletion is carried out."},
                "propagationPolicy": string("Whether and how garbage collection is performed: `Orphan`, `Background` or `Foreground`."),
            },
        }),
    );
    m.insert(
        PATCH.into(),
        json!({"description": "Patch is the body of a PATCH request: a JSON patch, a merge patch or an apply configuration.", "type": "object"}),
    );
    m.insert(
        RAW_EXTENSION.into(),
        json!({"description": "RawExtension holds an embedded object of any kind.", "type": "object"}),
    );
    m.insert(
        WATCH_EVENT.into(),
        json!({
            "description": "Event represents a single event of a watched resource.",
            "type": "object",
            "required": ["type", "object"],
            "properties": {
                "object": {"$ref": r(RAW_EXTENSION), "description": "The object: for ADDED and MODIFIED its new state, for DELETED its state just before deletion, for BOOKMARK only its resourceVersion, for ERROR a Status."},
                "type": string("ADDED, MODIFIED, DELETED, BOOKMARK or ERROR."),
            },
        }),
    );
    m
}
