//! How a resource is described to the generic API server: its names and scope, its printer
//! columns and selectable fields, its schema, and its strategy (defaults, normalisation,
//! validation, delete behaviour). A new resource is one `ResourceDef`; everything else (CRUD,
//! watch, patch, apply, tables, discovery, OpenAPI) is generic.

use std::sync::Arc;

use apimachinery::{ApiError, FieldError};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

/// Who is calling. Filled by authentication; read by strategies (tenancy) and authorization.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: std::collections::BTreeMap<String, Vec<String>>,
}

/// The group that makes a user a platform administrator (sees and changes every tenant).
pub const ADMIN_GROUP: &str = "system:masters";
/// The tenant of users that carry none.
pub const DEFAULT_TENANT: &str = "default";

impl UserInfo {
    pub fn is_admin(&self) -> bool {
        self.groups.iter().any(|g| g == ADMIN_GROUP)
    }

    /// The caller's tenant: user extra `tenantid`, else a group `tenant:<id>`, else `default`
    /// (the rules of TKEStack's authentication chain).
    pub fn tenant(&self) -> String {
        if let Some(t) = self.extra.get("tenantid").and_then(|v| v.first()).filter(|t| !t.is_empty()) {
            return t.clone();
        }
        if let Some(t) = self.groups.iter().find_map(|g| g.strip_prefix("tenant:")).filter(|t| !t.is_empty()) {
            return t.to_string();
        }
        DEFAULT_TENANT.to_string()
    }
}

/// What a strategy knows about the request.
#[derive(Clone, Debug)]
pub struct Context {
    pub user: UserInfo,
    /// The namespace of the request, for namespaced resources.
    pub namespace: Option<String>,
}

impl Context {
    /// A component of the platform acting on its own behalf as a platform administrator
    /// (reading what callers may not see, writing across tenants), named `name` in logs.
    pub fn system(name: &str, namespace: Option<&str>) -> Context {
        Context {
            user: UserInfo { name: name.to_string(), groups: vec![ADMIN_GROUP.to_string()], ..Default::default() },
            namespace: namespace.map(str::to_string),
        }
    }
}

/// One column of `kubectl get` (a `TableColumnDefinition` plus where to read the cell).
#[derive(Clone, Debug)]
pub struct Column {
    /// Header as kubectl prints it upper-cased: `Type`, `Version`, `Status`, `Age`.
    pub name: &'static str,
    /// OpenAPI type: `string`, `integer`, `number`, `boolean`, `date`.
    pub type_: &'static str,
    /// JSON path of the cell (`.spec.type`); `.metadata.creationTimestamp` with type `date`
    /// renders as an age.
    pub json_path: &'static str,
    pub description: &'static str,
    /// 0 = always shown; 1 = only with `-o wide`.
    pub priority: i32,
    /// Computes the cell from the whole object when a path is not enough (pods' `READY` as
    /// `1/2`, nodes' `STATUS`); `json_path` then only documents the source.
    pub compute: Option<fn(&Value) -> Value>,
}

impl Column {
    pub const fn new(
        name: &'static str,
        type_: &'static str,
        json_path: &'static str,
        description: &'static str,
    ) -> Self {
        Self { name, type_, json_path, description, priority: 0, compute: None }
    }
    /// A column whose cell is computed from the object.
    pub const fn computed(
        name: &'static str,
        type_: &'static str,
        compute: fn(&Value) -> Value,
        description: &'static str,
    ) -> Self {
        Self { name, type_, json_path: "", description, priority: 0, compute: Some(compute) }
    }
    pub const fn wide(mut self) -> Self {
        self.priority = 1;
        self
    }
    /// The `AGE` column every Kubernetes table ends with.
    pub const fn age() -> Self {
        Self::new("Age", "date", ".metadata.creationTimestamp", "Time since the object was created.")
    }
}

/// Which verbs the resource serves.
#[derive(Clone, Copy, Debug)]
pub struct Verbs {
    pub create: bool,
    pub update: bool,
    pub delete: bool,
    pub delete_collection: bool,
    pub watch: bool,
}

impl Verbs {
    pub const ALL: Verbs = Verbs { create: true, update: true, delete: true, delete_collection: true, watch: true };
    /// TKEStack resources that disable deleteCollection (clusters).
    pub const NO_DELETE_COLLECTION: Verbs = Verbs { delete_collection: false, ..Verbs::ALL };
    /// A static, server-defined catalogue: get and list only.
    pub const READ_ONLY: Verbs =
        Verbs { create: false, update: false, delete: false, delete_collection: false, watch: false };

    /// The verb names for discovery.
    pub fn names(&self) -> Vec<&'static str> {
        let mut v = vec![];
        if self.create {
            v.push("create");
        }
        if self.delete {
            v.push("delete");
        }
        if self.delete_collection {
            v.push("deletecollection");
        }
        v.push("get");
        v.push("list");
        if self.update {
            v.push("patch");
            v.push("update");
        }
        if self.watch {
            v.push("watch");
        }
        v
    }
}

/// What happens on delete.
pub enum DeleteDecision {
    /// Remove the object now (unless metadata.finalizers hold it; the server handles those).
    Delete,
    /// Keep the object, stored as given (e.g. phase `Terminating`), until its finalizers are
    /// cleared. The server sets `metadata.deletionTimestamp`.
    Keep(Value),
}

/// Per-resource behaviour on untyped JSON. Implement [`TypedStrategy`] instead and wrap it with
/// [`typed`] unless the resource has no Rust type.
pub trait Strategy: Send + Sync + 'static {
    /// Decodes the object into its type and back: the canonical form that is stored, with
    /// defaults applied by the type. Returns the canonical object and the paths of fields the
    /// type does not know (for `fieldValidation=Strict|Warn`).
    fn canonicalize(&self, obj: Value) -> Result<(Value, Vec<String>), ApiError>;
    /// Normalises a new object (defaults, server-set fields, tenant) before validation.
    fn prepare_for_create(&self, ctx: &Context, obj: &mut Value) -> Result<(), ApiError>;
    fn validate(&self, ctx: &Context, obj: &Value) -> Vec<FieldError>;
    /// Normalises an update of `old` into `new` (e.g. phase transitions).
    fn prepare_for_update(&self, ctx: &Context, new: &mut Value, old: &Value) -> Result<(), ApiError>;
    fn validate_update(&self, ctx: &Context, new: &Value, old: &Value) -> Vec<FieldError>;
    /// Decides what a delete does.
    fn prepare_for_delete(&self, ctx: &Context, obj: &Value) -> DeleteDecision;
    /// Fields clients may write but are never shown (JSON pointers such as
    /// `/spec/hashedPassword`; `*` stands for every item of an array or member of an object):
    /// the server's own components read them in process.
    fn secret_fields(&self) -> &'static [&'static str] {
        &[]
    }
    /// Fields shown only to platform administrators (group `system:masters`: the platform's
    /// own controllers, which read them over the API, and whoever holds the root certificate),
    /// never to tenants' users: credentials the controllers need, such as machines' SSH
    /// passwords. Same pointer syntax as [`Strategy::secret_fields`].
    fn administrators_only_fields(&self) -> &'static [&'static str] {
        &[]
    }
}

/// [`Strategy`] written against the resource's Rust type. Every method has a default, so a
/// resource overrides only what it needs.
pub trait TypedStrategy<T>: Send + Sync + 'static {
    fn prepare_for_create(&self, _ctx: &Context, _obj: &mut T) -> Result<(), ApiError> {
        Ok(())
    }
    fn validate(&self, _ctx: &Context, _obj: &T) -> Vec<FieldError> {
        vec![]
    }
    fn prepare_for_update(&self, _ctx: &Context, _new: &mut T, _old: &T) -> Result<(), ApiError> {
        Ok(())
    }
    /// Defaults to [`TypedStrategy::validate`] on the new object.
    fn validate_update(&self, ctx: &Context, new: &T, _old: &T) -> Vec<FieldError> {
        self.validate(ctx, new)
    }
    /// `None` deletes now; `Some(obj)` keeps `obj` until its finalizers are cleared.
    fn prepare_for_delete(&self, _ctx: &Context, _obj: &T) -> Option<T> {
        None
    }
    /// See [`Strategy::secret_fields`].
    fn secret_fields(&self) -> &'static [&'static str] {
        &[]
    }
    /// See [`Strategy::administrators_only_fields`].
    fn administrators_only_fields(&self) -> &'static [&'static str] {
        &[]
    }
}

/// A strategy that does nothing beyond canonicalising into `T`.
pub struct DefaultStrategy;
impl<T> TypedStrategy<T> for DefaultStrategy {}

struct Typed<T, S> {
    strategy: S,
    _type: std::marker::PhantomData<fn() -> T>,
}

/// Wraps a typed strategy into the untyped [`Strategy`] the server uses.
pub fn typed<T, S>(strategy: S) -> Arc<dyn Strategy>
where
    T: Serialize + DeserializeOwned + 'static,
    S: TypedStrategy<T>,
{
    Arc::new(Typed::<T, S> { strategy, _type: std::marker::PhantomData })
}

fn decode<T: DeserializeOwned>(obj: &Value) -> Result<T, ApiError> {
    T::deserialize(obj).map_err(|e| ApiError::bad_request(format!("the object could not be decoded: {e}")))
}

fn encode<T: Serialize>(obj: &T) -> Result<Value, ApiError> {
    serde_json::to_value(obj).map_err(|e| ApiError::internal(format!("encoding the object failed: {e}")))
}

/// Paths present (and non-null) in `original` but missing in `canonical`: fields the type
/// dropped because it does not know them.
pub fn unknown_fields(original: &Value, canonical: &Value) -> Vec<String> {
    fn walk(path: &str, a: &Value, b: Option<&Value>, out: &mut Vec<String>) {
        match (a, b) {
            (Value::Object(am), Some(Value::Object(bm))) => {
                for (k, av) in am {
                    let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                    match bm.get(k) {
                        None if !av.is_null() => out.push(p),
                        None => {}
                        Some(bv) => walk(&p, av, Some(bv), out),
                    }
                }
            }
            (Value::Array(aa), Some(Value::Array(ba))) => {
                for (i, av) in aa.iter().enumerate() {
                    walk(&format!("{path}[{i}]"), av, ba.get(i), out);
                }
            }
            _ => {}
        }
    }
    let mut out = vec![];
    walk("", original, Some(canonical), &mut out);
    out
}

impl<T, S> Strategy for Typed<T, S>
where
    T: Serialize + DeserializeOwned + 'static,
    S: TypedStrategy<T>,
{
    fn canonicalize(&self, obj: Value) -> Result<(Value, Vec<String>), ApiError> {
        let typed: T = decode(&obj)?;
        let canonical = encode(&typed)?;
        let unknown = unknown_fields(&obj, &canonical);
        Ok((canonical, unknown))
    }

    fn prepare_for_create(&self, ctx: &Context, obj: &mut Value) -> Result<(), ApiError> {
        let mut t: T = decode(obj)?;
        self.strategy.prepare_for_create(ctx, &mut t)?;
        *obj = encode(&t)?;
        Ok(())
    }

    fn validate(&self, ctx: &Context, obj: &Value) -> Vec<FieldError> {
        match decode::<T>(obj) {
            Ok(t) => self.strategy.validate(ctx, &t),
            Err(e) => vec![FieldError::invalid("", "object", e.message)],
        }
    }

    fn prepare_for_update(&self, ctx: &Context, new: &mut Value, old: &Value) -> Result<(), ApiError> {
        let mut n: T = decode(new)?;
        let o: T = decode(old)?;
        self.strategy.prepare_for_update(ctx, &mut n, &o)?;
        *new = encode(&n)?;
        Ok(())
    }

    fn validate_update(&self, ctx: &Context, new: &Value, old: &Value) -> Vec<FieldError> {
        match (decode::<T>(new), decode::<T>(old)) {
            (Ok(n), Ok(o)) => self.strategy.validate_update(ctx, &n, &o),
            (Err(e), _) | (_, Err(e)) => vec![FieldError::invalid("", "object", e.message)],
        }
    }

    fn prepare_for_delete(&self, ctx: &Context, obj: &Value) -> DeleteDecision {
        let Ok(t) = decode::<T>(obj) else { return DeleteDecision::Delete };
        match self.strategy.prepare_for_delete(ctx, &t).map(|k| encode(&k)) {
            Some(Ok(v)) => DeleteDecision::Keep(v),
            _ => DeleteDecision::Delete,
        }
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        self.strategy.secret_fields()
    }

    fn administrators_only_fields(&self) -> &'static [&'static str] {
        self.strategy.administrators_only_fields()
    }
}

/// Subresources beyond the object itself.
#[derive(Clone, Copy, Debug, Default)]
pub struct Subresources {
    /// `/status`: updates there change only `.status`; updates of the object keep `.status`.
    pub status: bool,
    /// `/finalize` (TKEStack): updates there change only `.spec.finalizers`.
    pub finalize: bool,
}

/// Everything the generic server needs to serve one resource.
#[derive(Clone)]
pub struct ResourceDef {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub namespaced: bool,
    pub verbs: Verbs,
    pub subresources: Subresources,
    /// Printer columns after NAME. Empty = Kubernetes' default (`CREATED AT`).
    pub columns: Vec<Column>,
    /// Field selectors beyond `metadata.name` / `metadata.namespace` (dotted JSON paths).
    pub field_selectors: &'static [&'static str],
    /// Where the tenant id lives (`spec.tenantID`; `tenantID` for ClusterCredential), if the
    /// resource is tenant-scoped: set from the caller on create, immutable, and filtered on read.
    pub tenant_field: Option<&'static str>,
    /// For server-defined catalogues (`Verbs::READ_ONLY`): the objects to serve.
    pub static_objects: Option<fn() -> Vec<Value>>,
    /// The OpenAPI schema of the type (from schemars), used for `kubectl explain`.
    pub schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
    pub strategy: Arc<dyn Strategy>,
}

impl ResourceDef {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.to_string() } else { format!("{}/{}", self.group, self.version) }
    }
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// Whether objects of the resource carry fields not shown to everyone
    /// ([`Strategy::secret_fields`], [`Strategy::administrators_only_fields`]).
    pub fn has_secrets(&self) -> bool {
        !self.strategy.secret_fields().is_empty() || !self.strategy.administrators_only_fields().is_empty()
    }

    /// Removes every field not shown to everyone from an object about to leave the server (see
    /// [`ResourceDef::redact_for`]).
    pub fn redact(&self, obj: &mut Value) {
        self.remove(obj, self.strategy.secret_fields());
        self.remove(obj, self.strategy.administrators_only_fields());
    }

    /// Removes what `user` may not see from an object about to leave the server: the secret
    /// fields always, the administrators-only ones unless `user` is a platform administrator.
    pub fn redact_for(&self, user: &crate::UserInfo, obj: &mut Value) {
        self.remove(obj, self.strategy.secret_fields());
        if !user.groups.iter().any(|g| g == crate::resource::ADMIN_GROUP) {
            self.remove(obj, self.strategy.administrators_only_fields());
        }
    }

    /// Removes `fields` from `obj` and from kubectl's last-applied-configuration annotation,
    /// which holds a copy of what the client sent.
    fn remove(&self, obj: &mut Value, fields: &[&str]) {
        if fields.is_empty() {
            return;
        }
        for pointer in fields {
            remove_pointer(obj, pointer);
        }
        let annotation = obj
            .pointer_mut("/metadata/annotations")
            .and_then(Value::as_object_mut)
            .and_then(|a| a.get_mut(LAST_APPLIED));
        if let Some(Value::String(text)) = annotation {
            match serde_json::from_str::<Value>(text) {
                Ok(mut applied) => {
                    for pointer in fields {
                        remove_pointer(&mut applied, pointer);
                    }
                    *text = applied.to_string();
                }
                // Not JSON: it cannot be trusted to be free of secrets.
                Err(_) => text.clear(),
            }
        }
    }
}

/// kubectl's copy of the last applied object.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Removes the member `pointer` names; a `*` segment stands for every item of an array or
/// member of an object.
fn remove_pointer(obj: &mut Value, pointer: &str) {
    let Some(rest) = pointer.strip_prefix('/') else { return };
    let segments: Vec<&str> = rest.split('/').collect();
    remove_path(obj, &segments);
}

fn remove_path(obj: &mut Value, segments: &[&str]) {
    let [first, rest @ ..] = segments else { return };
    if rest.is_empty() {
        if let Value::Object(map) = obj {
            map.remove(*first);
        }
        return;
    }
    match (obj, *first) {
        (Value::Array(items), "*") => items.iter_mut().for_each(|item| remove_path(item, rest)),
        (Value::Object(map), "*") => map.values_mut().for_each(|v| remove_path(v, rest)),
        (Value::Array(items), index) => {
            if let Some(item) = index.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                remove_path(item, rest);
            }
        }
        (Value::Object(map), key) => {
            if let Some(v) = map.get_mut(key) {
                remove_path(v, rest);
            }
        }
        _ => {}
    }
}

/// `schema` for a type with a schemars `JsonSchema` impl.
pub fn schema_of<T: schemars::JsonSchema>(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    generator.subschema_for::<T>()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::remove_pointer;

    #[test]
    fn pointers_with_wildcards_remove_the_member_from_every_item() {
        let mut obj = json!({"spec": {
            "machines": [{"ip": "a", "password": "p", "proxy": {"password": "q"}}, {"ip": "b"}, "odd"],
            "byName": {"x": {"key": 1, "keep": 2}, "y": {"key": 3}},
            "password": "top"
        }});
        remove_pointer(&mut obj, "/spec/machines/*/password");
        remove_pointer(&mut obj, "/spec/machines/*/proxy/password");
        remove_pointer(&mut obj, "/spec/byName/*/key");
        remove_pointer(&mut obj, "/spec/missing/*/password");
        remove_pointer(&mut obj, "no-leading-slash");
        assert_eq!(
            obj,
            json!({"spec": {
                "machines": [{"ip": "a", "proxy": {}}, {"ip": "b"}, "odd"],
                "byName": {"x": {"keep": 2}, "y": {}},
                "password": "top"
            }})
        );
        remove_pointer(&mut obj, "/spec/machines/0/ip");
        assert_eq!(obj["spec"]["machines"][0], json!({"proxy": {}}));
    }
}
