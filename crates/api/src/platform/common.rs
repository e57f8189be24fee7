//! Pieces shared by every `platform.tkestack.io/v1` resource: the documented shape of
//! `metadata`, conditions, the caller's tenant, generated-name prefixes and the small field
//! validators (IP, CIDR, port, base64, DNS names) whose messages users see in `Invalid` errors.

use std::collections::BTreeMap;
use std::net::IpAddr;

use apimachinery::FieldError;
#[cfg(feature = "server")]
use apiserver::Context;
use base64::Engine;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The schema of `metadata` as `kubectl explain` shows it. The objects themselves keep
/// `metadata` as free JSON, so that every field Kubernetes clients send (managedFields,
/// ownerReferences, ...) survives a round trip unchanged; this type only documents it.
#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// Name of the object, unique among objects of its kind. Cannot be updated.
    pub name: Option<String>,
    /// Prefix the server uses to generate a unique name when `name` is empty (for platform
    /// objects the resource's own prefix, such as `cls-` or `mc-`, when none is given).
    pub generate_name: Option<String>,
    /// Map of string keys and values that can be used to organize and select objects.
    pub labels: Option<BTreeMap<String, String>>,
    /// Unstructured key value map stored with the object; not queryable.
    pub annotations: Option<BTreeMap<String, String>>,
    /// Kubernetes finalizers. Platform objects keep their own finalizers in `spec.finalizers`.
    pub finalizers: Option<Vec<String>>,
    /// Objects this object depends on; when all of them are deleted, so is this one.
    pub owner_references: Option<Vec<Value>>,
    /// Unique identifier set by the server on creation. Read-only.
    pub uid: Option<String>,
    /// Opaque version of the object, for optimistic concurrency and watches. Read-only.
    pub resource_version: Option<String>,
    /// Sequence number of the desired state; increases when the spec changes. Read-only.
    pub generation: Option<i64>,
    /// When the object was created (RFC 3339). Read-only.
    pub creation_timestamp: Option<String>,
    /// When deletion was requested (RFC 3339); the object stays until its finalizers are
    /// cleared. Read-only.
    pub deletion_timestamp: Option<String>,
    /// Seconds allowed for graceful termination before the object is removed. Read-only.
    pub deletion_grace_period_seconds: Option<i64>,
    /// Which field managers own which fields (server-side apply). Read-only.
    pub managed_fields: Option<Vec<Value>>,
}

/// A condition of an object: one step of its provisioning or a health probe.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Type of the condition: the name of the step (e.g. `EnsureKubelet`) or `HealthCheck`.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    #[serde(default)]
    pub status: String,
    /// Last time the condition was probed (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<String>,
    /// Last time the condition changed from one status to another (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    /// One-word, CamelCase reason for the last transition (e.g. `FailedInit`, `Skip`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable details of the last transition, e.g. the error of a failed step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A reference to an object of the same kind family by name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LocalObjectReference {
    /// Name of the referenced object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A node taint applied to the machine when it joins the cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Taint {
    /// Taint key.
    #[serde(default)]
    pub key: String,
    /// Taint value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Effect on pods that do not tolerate the taint: `NoSchedule`, `PreferNoSchedule` or
    /// `NoExecute`.
    #[serde(default)]
    pub effect: String,
    /// When the taint was added (RFC 3339); only for `NoExecute`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_added: Option<String>,
}

pub const TAINT_EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];

/// A value that is an integer or a string such as a percentage (`maxUnready: 25%`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum IntOrString {
    Int(i64),
    String(String),
}

// ----- metadata helpers ----------------------------------------------------------------------

pub fn meta_str<'a>(meta: &'a Value, field: &str) -> &'a str {
    meta.get(field).and_then(Value::as_str).unwrap_or("")
}

/// Sets `metadata.generateName` to `prefix` when the object has neither a name nor a prefix,
/// so that `kubectl create` of an unnamed object gets a TKEStack-style name (`cls-x7k2p`).
pub fn default_generate_name(meta: &mut Value, prefix: &str) {
    if !meta.is_object() {
        *meta = json!({});
    }
    if meta_str(meta, "name").is_empty() && meta_str(meta, "generateName").is_empty() {
        meta["generateName"] = json!(prefix);
    }
}

/// The tenant a created object belongs to: the caller's, except that an administrator may
/// create objects for another tenant by naming it.
#[cfg(feature = "server")]
pub fn tenant_for_create(ctx: &Context, given: Option<&str>) -> String {
    match given {
        Some(t) if !t.is_empty() && ctx.user.is_admin() => t.to_string(),
        _ => ctx.user.tenant(),
    }
}

/// Rejects a tenant change on update (the generic server enforces this too; strategies check
/// it so that the rule holds wherever they are used).
pub fn check_tenant_unchanged(field: &str, new: Option<&str>, old: Option<&str>, errs: &mut Vec<FieldError>) {
    let (new, old) = (new.unwrap_or(""), old.unwrap_or(""));
    if !new.is_empty() && new != old {
        errs.push(FieldError::forbidden(field, "the tenant of an object cannot be changed"));
    }
}

/// Objects that belong to a tenant, whose strategies share [`validate_tenant_update`] and
/// whose definitions start from [`tenant_scoped`].
pub trait TenantOwned {
    /// Where the tenant is, as field errors name it.
    const TENANT_FIELD: &'static str = "spec.tenantID";
    fn tenant_id(&self) -> Option<&str>;
}

/// The `validate_update` of a tenant-owned kind whose updates are checked as its creates are
/// and may not move the object to another tenant.
#[cfg(feature = "server")]
pub fn validate_tenant_update<T: TenantOwned, S: apiserver::TypedStrategy<T>>(
    strategy: &S,
    ctx: &Context,
    new: &T,
    old: &T,
) -> Vec<FieldError> {
    let mut errs = strategy.validate(ctx, new);
    check_tenant_unchanged(T::TENANT_FIELD, new.tenant_id(), old.tenant_id(), &mut errs);
    errs
}

/// The definition of a tenant-scoped `tkestack` kind: cluster-wide, served with every verb, no
/// subresources and its age as the only column; callers set what differs
/// (`ResourceDef { columns, field_selectors, ..tenant_scoped(..) }`).
#[cfg(feature = "server")]
pub fn tenant_scoped<T, S>(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    strategy: S,
) -> apiserver::ResourceDef
where
    T: TenantOwned + JsonSchema + Serialize + serde::de::DeserializeOwned + 'static,
    S: apiserver::TypedStrategy<T>,
{
    apiserver::ResourceDef {
        group,
        version,
        kind,
        plural,
        singular,
        short_names: &[],
        categories: &["tkestack"],
        namespaced: false,
        verbs: apiserver::Verbs::ALL,
        subresources: apiserver::Subresources::default(),
        columns: vec![apiserver::Column::age()],
        field_selectors: &[],
        tenant_field: Some(T::TENANT_FIELD),
        static_objects: None,
        schema: apiserver::resource::schema_of::<T>,
        strategy: apiserver::typed::<T, S>(strategy),
    }
}

/// Reports a change of a field that may be set once but not changed afterwards.
pub fn check_immutable(field: &str, new: &str, old: &str, errs: &mut Vec<FieldError>) {
    if !old.is_empty() && new != old {
        errs.push(FieldError::invalid(field, new, format!("field is immutable (it was \"{old}\")")));
    }
}

// ----- validators ----------------------------------------------------------------------------

pub fn is_ip(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
}

/// Why a value is not a CIDR; the text is the detail of the field's `Invalid` error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("must be a CIDR such as 10.244.0.0/16")]
    NoPrefixLength,
    #[error("must be a CIDR such as 10.244.0.0/16: the address is not an IP address")]
    BadAddress(#[source] std::net::AddrParseError),
    #[error("must be a CIDR such as 10.244.0.0/16: the prefix length must be 0 to {max}")]
    BadPrefixLength { max: u8 },
}

/// Parses `a.b.c.d/n` or an IPv6 CIDR: an IP address and a prefix length no longer than the
/// address (host bits may be set; [`cidrs_overlap`] ignores them).
pub fn parse_cidr(s: &str) -> Result<(IpAddr, u8), CidrError> {
    let (addr, len) = s.split_once('/').ok_or(CidrError::NoPrefixLength)?;
    let ip: IpAddr = addr.parse().map_err(CidrError::BadAddress)?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len: u8 = len.parse().ok().filter(|l| *l <= max).ok_or(CidrError::BadPrefixLength { max })?;
    Ok((ip, len))
}

/// Whether two CIDRs share addresses.
pub fn cidrs_overlap(a: (IpAddr, u8), b: (IpAddr, u8)) -> bool {
    let len = a.1.min(b.1) as u32;
    match (a.0, b.0) {
        (IpAddr::V4(x), IpAddr::V4(y)) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            (u32::from(x) & mask) == (u32::from(y) & mask)
        }
        (IpAddr::V6(x), IpAddr::V6(y)) => {
            let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
            (u128::from(x) & mask) == (u128::from(y) & mask)
        }
        _ => false,
    }
}

pub fn check_ip(field: &str, value: &str, errs: &mut Vec<FieldError>) {
    if value.is_empty() {
        errs.push(FieldError::required(field, "an IP address is required"));
    } else if !is_ip(value) {
        errs.push(FieldError::invalid(field, value, "must be a valid IP address (e.g. 10.0.0.10)"));
    }
}

pub fn check_cidr(field: &str, value: &str, errs: &mut Vec<FieldError>) -> Option<(IpAddr, u8)> {
    match parse_cidr(value) {
        Ok(c) => Some(c),
        Err(e) => {
            errs.push(FieldError::invalid(field, value, e.to_string()));
            None
        }
    }
}

pub fn check_port(field: &str, port: i64, errs: &mut Vec<FieldError>) {
    if !(1..=65535).contains(&port) {
        errs.push(FieldError::invalid(field, port, "must be between 1 and 65535, inclusive"));
    }
}

/// Byte fields (passwords, keys, certificates) travel base64-encoded, as Go's `[]byte` does.
pub fn decode_base64(value: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(value.trim()).ok()
}

pub fn check_base64(field: &str, value: Option<&str>, errs: &mut Vec<FieldError>) {
    if let Some(v) = value
        && decode_base64(v).is_none()
    {
        // The value may be a secret: never echo it back.
        errs.push(FieldError::invalid(field, "<redacted>", "must be base64-encoded"));
    }
}

/// A base64 field that must hold a PEM document (certificate or key).
pub fn check_pem(field: &str, value: Option<&str>, errs: &mut Vec<FieldError>) {
    let Some(v) = value else { return };
    match decode_base64(v) {
        None => errs.push(FieldError::invalid(field, "<redacted>", "must be base64-encoded PEM")),
        Some(bytes) if !bytes.is_empty() && !String::from_utf8_lossy(&bytes).contains("-----BEGIN ") => {
            errs.push(FieldError::invalid(field, "<redacted>", "must be a base64-encoded PEM block (-----BEGIN ...)"))
        }
        Some(_) => {}
    }
}

/// A name DNS can serve, as `spec.dnsDomain` must be.
pub use apimachinery::validation::is_dns_name as is_dns_subdomain;

/// The cluster names the platform accepts: `global` or `cls-` plus lowercase letters and
/// digits. TKEStack rewrote other names silently; we reject them instead.
pub fn is_cluster_name(name: &str) -> bool {
    name == "global"
        || name
            .strip_prefix("cls-")
            .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()))
}

pub const CLUSTER_NAME_RULE: &str = "a cluster name must be \"global\" or \"cls-\" followed by lowercase letters and digits (e.g. \"cls-a1b2c3\"); leave the name empty to have one generated";

/// Checks a reference to a cluster by name (`spec.clusterName`).
pub fn check_cluster_ref(field: &str, name: &str, errs: &mut Vec<FieldError>) {
    if name.is_empty() {
        errs.push(FieldError::required(field, "the name of the cluster is required"));
    } else if !is_cluster_name(name) {
        errs.push(FieldError::invalid(field, name, CLUSTER_NAME_RULE));
    }
}

/// An `http://` or `https://` URL with a host.
pub fn is_http_url(s: &str) -> bool {
    let rest = s.strip_prefix("http://").or_else(|| s.strip_prefix("https://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !r.chars().any(char::is_whitespace)
    })
}

/// Prometheus-style duration: one or more `<number><unit>` with unit ms, s, m, h, d, w, y.
pub fn is_duration(s: &str) -> bool {
    let mut rest = s;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ms", "s", "m", "h", "d", "w", "y"].iter().find(|u| rest.starts_with(**u));
        match unit {
            Some(u) => rest = &rest[u.len()..],
            None => return false,
        }
    }
    true
}

pub fn check_taints(field: &str, taints: &[Taint], errs: &mut Vec<FieldError>) {
    for (i, t) in taints.iter().enumerate() {
        if t.key.is_empty() {
            errs.push(FieldError::required(format!("{field}[{i}].key"), ""));
        }
        if !TAINT_EFFECTS.contains(&t.effect.as_str()) {
            errs.push(FieldError::not_supported(format!("{field}[{i}].effect"), &t.effect, TAINT_EFFECTS));
        }
    }
}

/// A fresh context for tests: a user of tenant `default`, or an administrator.
#[cfg(test)]
pub fn test_ctx(tenant: &str, admin: bool) -> Context {
    let mut user = apiserver::UserInfo { name: "alice".into(), ..Default::default() };
    user.groups.push(format!("tenant:{tenant}"));
    if admin {
        user.groups.push(apiserver::resource::ADMIN_GROUP.into());
    }
    Context { user, namespace: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names() {
        for ok in ["global", "cls-abc", "cls-a1b2", "cls-0"] {
            assert!(is_cluster_name(ok), "{ok}");
        }
        for bad in ["", "cls-", "cls-A1", "cls-a-b", "prod", "cls_abc", "global2"] {
            assert!(!is_cluster_name(bad), "{bad}");
        }
    }

    #[test]
    fn cidrs() {
        let a = parse_cidr("10.244.0.0/16").unwrap();
        let b = parse_cidr("10.244.128.0/17").unwrap();
        let c = parse_cidr("10.96.0.0/12").unwrap();
        assert!(cidrs_overlap(a, b));
        assert!(!cidrs_overlap(a, c));
        assert!(parse_cidr("10.0.0.0").is_err());
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("fd00::/64").is_ok());
    }

    #[test]
    fn durations_and_urls() {
        assert!(is_duration("1200s") && is_duration("1h30m") && is_duration("500ms"));
        assert!(!is_duration("") && !is_duration("20") && !is_duration("m5"));
        assert!(
            is_http_url("https://es.example.com:9200/x") && !is_http_url("es.example.com") && !is_http_url("http://")
        );
    }
}
