//! The generic object store: Kubernetes' create/get/list/update/patch/delete/watch semantics for
//! one resource, over a [`storage::Store`] and its [`storage::cache::WatchCache`]. Every resource
//! of every group is served by this one piece of code, driven by its [`ResourceDef`].

use std::{sync::Arc, time::Duration};

use apimachinery::{ApiError, FieldError, FieldSelector, LabelSelector, path};
use base64::Engine;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde_json::{Value, json};
use storage::{
    Event, KeyValue, Revision, Store, StoreError,
    cache::{KeyScope, WatchCache},
};

use crate::{
    admission::{Admission, AdmissionRequest, Operation},
    apply, object,
    patch::{self, PatchType},
    resource::{Context, DeleteDecision, ResourceDef},
};

/// How unknown fields in a request body are treated (`fieldValidation` query parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FieldValidation {
    Ignore,
    #[default]
    Warn,
    Strict,
}

impl FieldValidation {
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        match s {
            "" | "Warn" => Ok(Self::Warn),
            "Ignore" => Ok(Self::Ignore),
            "Strict" => Ok(Self::Strict),
            other => Err(ApiError::bad_request(format!(
                "fieldValidation must be one of Ignore, Warn, Strict; got {other:?}"
            ))),
        }
    }
}

/// Options shared by create, update, patch.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub field_manager: Option<String>,
    pub field_validation: FieldValidation,
    /// The caller's User-Agent, from which Kubernetes derives the default field manager.
    pub user_agent: String,
    /// Server-side apply: take ownership of conflicting fields.
    pub force: bool,
}

impl WriteOptions {
    fn manager(&self) -> String {
        self.field_manager.clone().unwrap_or_else(|| apply::default_manager(&self.user_agent))
    }
}

/// Options of a delete (`DeleteOptions` body and query).
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    pub dry_run: bool,
    pub precondition_uid: Option<String>,
    pub precondition_resource_version: Option<String>,
    pub grace_period_seconds: Option<i64>,
    pub propagation_policy: Option<String>,
}

/// Options of a list or watch.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    pub label_selector: LabelSelector,
    pub field_selector: FieldSelector,
    pub limit: usize,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
    pub send_initial_events: Option<bool>,
    pub allow_bookmarks: bool,
    pub timeout: Option<Duration>,
}

/// The result of a write: the object as stored, and warnings for the client.
#[derive(Debug)]
pub struct Written {
    pub object: Value,
    pub warnings: Vec<String>,
    /// True when the write created the object (201 rather than 200).
    pub created: bool,
}

/// The result of a delete.
#[derive(Debug)]
pub struct Deleted {
    pub object: Value,
    /// False when the object stays until its finalizers are cleared (202 Accepted).
    pub removed: bool,
}

/// One listed object: its stored bytes and resourceVersion (spliced in on output).
#[derive(Clone, Debug)]
pub struct Item {
    pub value: Bytes,
    pub revision: Revision,
}

impl Item {
    pub fn to_json(&self) -> Vec<u8> {
        object::with_resource_version(&self.value, self.revision)
    }
    pub fn decode(&self) -> Result<Value, ApiError> {
        let mut v: Value = serde_json::from_slice(&self.value).map_err(|e| ApiError::internal(e.to_string()))?;
        object::set_resource_version(&mut v, self.revision);
        Ok(v)
    }
}

#[derive(Debug)]
pub struct ListResult {
    pub items: Vec<Item>,
    pub revision: Revision,
    pub continue_token: Option<String>,
    pub remaining: Option<i64>,
}

/// A watch event, with the object as stored.
#[derive(Clone, Debug)]
pub enum WatchEvent {
    Added(Item),
    Modified(Item),
    Deleted(Item),
    /// A bookmark at a revision; `initial_events_end` marks the end of `sendInitialEvents`.
    Bookmark {
        revision: Revision,
        initial_events_end: bool,
    },
    Error(ApiError),
}

/// Maps storage errors to API errors for this resource.
pub fn store_error(def: &ResourceDef, name: &str, e: StoreError) -> ApiError {
    match e {
        StoreError::AlreadyExists { .. } => ApiError::already_exists(def.group, def.plural, name),
        StoreError::NotFound { .. } => ApiError::not_found(def.group, def.plural, name),
        StoreError::Conflict { .. } => ApiError::modified(def.group, def.plural, name),
        StoreError::Compacted { requested, compacted } => {
            ApiError::gone(format!("too old resource version: {requested} ({compacted})"))
        }
        StoreError::FutureRevision { requested, current } => {
            ApiError::timeout(format!("Too large resource version: {requested}, current: {current}"))
        }
        StoreError::Unavailable(m) => ApiError::unavailable(format!("storage is unavailable: {m}")),
        StoreError::Internal(m) => ApiError::internal(m),
    }
}

const NAME_MAX: usize = 253;

/// Kubernetes' DNS-1123 subdomain rule for object names.
pub fn validate_name(name: &str) -> Option<String> {
    use apimachinery::validation::{DNS1123_SUBDOMAIN_ERROR, is_dns1123_subdomain};
    if name.len() > NAME_MAX {
        return Some(format!("must be no more than {NAME_MAX} characters"));
    }
    (!is_dns1123_subdomain(name)).then(|| DNS1123_SUBDOMAIN_ERROR.to_string())
}

fn random_suffix() -> String {
    // Kubernetes' alphabet: no vowels (no accidental words) and no confusable characters.
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    use rand::Rng;
    let mut rng = rand::rng();
    (0..5).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    v: String,
    rv: Revision,
    start: String,
}

fn encode_continue(rv: Revision, start: &str) -> String {
    let token = ContinueToken { v: "meta.k8s.io/v1".into(), rv, start: start.into() };
    base64::engine::general_purpose::URL_SAFE.encode(serde_json::to_vec(&token).unwrap_or_default())
}

fn decode_continue(token: &str) -> Result<ContinueToken, ApiError> {
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: decode the token you received from a list; do not construct one",
        )
    };
    let raw = base64::engine::general_purpose::URL_SAFE
        .decode(token)
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(token))
        .map_err(|_| bad())?;
    let t: ContinueToken = serde_json::from_slice(&raw).map_err(|_| bad())?;
    if t.rv <= 0 || t.start.contains("..") {
        return Err(bad());
    }
    Ok(t)
}

/// The store of one resource.
pub struct ResourceStore {
    pub def: ResourceDef,
    store: Arc<dyn Store>,
    cache: Arc<WatchCache>,
    /// `/registry/<group>/<plural>/`
    prefix: String,
    /// Checks of other components, in the order they were added ([`crate::admission`]).
    admissions: std::sync::RwLock<Vec<Arc<dyn Admission>>>,
}

/// Attempts of a patch or an apply that keeps losing optimistic-concurrency races. Like
/// Kubernetes, a patch without a precondition is applied again to the newer object until it
/// lands: with many writers on one key each attempt wins about one in N, so the bound is only a
/// guard against a livelock, not a limit a busy object reaches.
const PATCH_RETRIES: usize = 1_000;
/// Attempts to find a free generated name.
const GENERATE_NAME_TRIES: usize = 8;

impl ResourceStore {
    pub async fn new(def: ResourceDef, store: Arc<dyn Store>, key_root: &str) -> Result<Arc<Self>, ApiError> {
        let group = if def.group.is_empty() { "core" } else { def.group };
        let prefix = format!("{}/{}/{}/", key_root.trim_end_matches('/'), group, def.plural);
        let cache = WatchCache::start(store.clone(), prefix.clone(), Default::default())
            .await
            .map_err(|e| store_error(&def, "", e))?;
        Ok(Arc::new(Self { def, store, cache, prefix, admissions: Default::default() }))
    }

    /// Adds a check of every write of the object ([`crate::admission`]), after those added
    /// before.
    pub fn add_admission(&self, admission: Arc<dyn Admission>) {
        self.admissions.write().unwrap_or_else(|e| e.into_inner()).push(admission);
    }

    /// Runs the admissions in order; the first refusal is the answer.
    async fn admit(
        &self,
        ctx: &Context,
        operation: Operation,
        new: &Value,
        old: Option<&Value>,
        dry_run: bool,
    ) -> Result<(), ApiError> {
        // Cloned out so no lock is held across the admissions' awaits.
        let admissions = self.admissions.read().unwrap_or_else(|e| e.into_inner()).clone();
        for a in admissions {
            a.admit(AdmissionRequest { ctx, operation, new, old, dry_run }).await?;
        }
        Ok(())
    }

    fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match namespace {
            Some(ns) if self.def.namespaced => format!("{}{ns}/{name}", self.prefix),
            _ => format!("{}{name}", self.prefix),
        }
    }

    /// The keys a list or watch reads: the resource's (or the namespace's) prefix, narrowed to
    /// one namespace by a `metadata.namespace=` field selector and to one name by
    /// `metadata.name=`. The selector is still applied to what is read.
    fn scope(&self, namespace: Option<&str>, selector: &FieldSelector) -> KeyScope {
        let namespace = match namespace {
            Some(ns) => Some(ns),
            None if self.def.namespaced => selector.required_value("metadata.namespace"),
            None => None,
        };
        let prefix = self.list_prefix(namespace);
        match selector.required_value("metadata.name") {
            Some(name) if !self.def.namespaced || namespace.is_some() => KeyScope::Key(format!("{prefix}{name}")),
            Some(name) => KeyScope::Named { prefix, name: name.to_string() },
            None => KeyScope::Prefix(prefix),
        }
    }

    fn list_prefix(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if self.def.namespaced => format!("{}{ns}/", self.prefix),
            _ => self.prefix.clone(),
        }
    }

    fn err(&self, name: &str, e: StoreError) -> ApiError {
        store_error(&self.def, name, e)
    }

    /// A uid precondition (in DeleteOptions or the body of an update) that names another object.
    fn uid_mismatch(&self, name: &str, uid: &str, current: &Value) -> ApiError {
        let actual = object::meta_str(current, "uid").unwrap_or("");
        ApiError::conflict(
            self.def.group,
            self.def.plural,
            name,
            &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"),
        )
    }

    fn not_found(&self, name: &str) -> ApiError {
        ApiError::not_found(self.def.group, self.def.plural, name)
    }

    fn tenant_of(&self, obj: &Value) -> Option<String> {
        self.def.tenant_field.map(|f| path::get_string(obj, f))
    }

    /// Whether the caller may see `obj` at all (tenancy). Objects of other tenants are reported
    /// as not found, so their existence does not leak.
    fn visible(&self, ctx: &Context, obj: &Value) -> bool {
        match self.tenant_of(obj) {
            Some(t) if !ctx.user.is_admin() => t == ctx.user.tenant(),
            _ => true,
        }
    }

    /// The value of a selectable field of an object.
    fn field_value(&self, obj: &Value, field: &str) -> String {
        match field {
            "metadata.name" => object::name(obj).to_string(),
            "metadata.namespace" => object::meta_str(obj, "namespace").unwrap_or("").to_string(),
            f => path::get_string(obj, f),
        }
    }

    /// Checks a field selector names only fields this resource supports.
    pub fn check_field_selector(&self, sel: &FieldSelector) -> Result<(), ApiError> {
        for f in sel.fields() {
            let ok = f == "metadata.name"
                || (f == "metadata.namespace" && self.def.namespaced)
                || self.def.field_selectors.contains(&f);
            if !ok {
                let mut supported = vec!["metadata.name"];
                if self.def.namespaced {
                    supported.push("metadata.namespace");
                }
                supported.extend(self.def.field_selectors.iter().copied());
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {f} (supported for {}: {})",
                    self.def.plural,
                    supported.join(", ")
                )));
            }
        }
        Ok(())
    }

    fn matches(&self, ctx: &Context, obj: &Value, opts: &ListOptions) -> bool {
        self.visible(ctx, obj)
            && opts.label_selector.matches(&object::labels(obj))
            && opts.field_selector.matches(|f| self.field_value(obj, f))
    }

    /// True when `opts` and the caller need objects parsed to filter them.
    fn needs_filter(&self, ctx: &Context, opts: &ListOptions) -> bool {
        !opts.label_selector.is_empty()
            || !opts.field_selector.is_empty()
            || (self.def.tenant_field.is_some() && !ctx.user.is_admin())
    }

    fn item_matches(&self, ctx: &Context, value: &Bytes, opts: &ListOptions) -> bool {
        if !self.needs_filter(ctx, opts) {
            return true;
        }
        // Label selection alone (the common case for controllers and kubectl -l) needs only the
        // labels: reading just them skips building a tree of the whole object.
        if opts.field_selector.is_empty() && (self.def.tenant_field.is_none() || ctx.user.is_admin()) {
            return match serde_json::from_slice::<LabelsOnly>(value) {
                Ok(o) => opts.label_selector.matches(&o.metadata.labels),
                Err(_) => false,
            };
        }
        match serde_json::from_slice::<Value>(value) {
            Ok(obj) => self.matches(ctx, &obj, opts),
            Err(_) => false,
        }
    }

    /// Serves a server-defined catalogue (read-only resources).
    fn static_items(&self) -> Option<Vec<Value>> {
        self.def.static_objects.map(|f| {
            f().into_iter()
                .map(|mut o| {
                    o["apiVersion"] = json!(self.def.api_version());
                    o["kind"] = json!(self.def.kind);
                    o
                })
                .collect()
        })
    }

    // ----- reads -------------------------------------------------------------------------

    pub async fn get(&self, ctx: &Context, name: &str, resource_version: Option<&str>) -> Result<Value, ApiError> {
        if let Some(items) = self.static_items() {
            return items.into_iter().find(|o| object::name(o) == name).ok_or_else(|| self.not_found(name));
        }
        let key = self.key(ctx.namespace.as_deref(), name);
        let kv = match resource_version {
            // Any version is fine: serve from memory.
            Some("0") => self.cache.get(&key, None).await.map_err(|e| self.err(name, e))?.0,
            Some(rv) if !rv.is_empty() => {
                let rv = object::parse_resource_version(rv)?;
                self.cache.get(&key, Some(rv)).await.map_err(|e| self.err(name, e))?.0
            }
            _ => self.store.get(&key).await.map_err(|e| self.err(name, e))?.0,
        };
        let obj = object::decode(&kv.ok_or_else(|| self.not_found(name))?)?;
        if !self.visible(ctx, &obj) {
            return Err(self.not_found(name));
        }
        Ok(obj)
    }

    pub async fn list(&self, ctx: &Context, opts: &ListOptions) -> Result<ListResult, ApiError> {
        self.check_field_selector(&opts.field_selector)?;
        if let Some(items) = self.static_items() {
            let (revision, _) = self.store.revisions().await.map_err(|e| self.err("", e))?;
            let items = items
                .into_iter()
                .filter(|o| self.matches(ctx, o, opts))
                .filter_map(|o| object::encode_for_storage(&o).ok())
                .map(|value| Item { value, revision })
                .collect();
            return Ok(ListResult { items, revision, continue_token: None, remaining: None });
        }
        let prefix = self.list_prefix(ctx.namespace.as_deref());
        let rv_match = opts.resource_version_match.as_deref().unwrap_or("");
        let rv = opts.resource_version.as_deref().unwrap_or("");
        if !matches!(rv_match, "" | "NotOlderThan" | "Exact") {
            return Err(ApiError::bad_request(format!(
                "resourceVersionMatch must be NotOlderThan or Exact, got {rv_match:?}"
            )));
        }
        if !rv_match.is_empty() && rv.is_empty() {
            return Err(ApiError::bad_request("resourceVersionMatch is forbidden unless resourceVersion is provided"));
        }
        if let Some(token) = &opts.continue_token {
            if !rv.is_empty() {
                return Err(ApiError::bad_request("specifying resource version is not allowed when using continue"));
            }
            let t = decode_continue(token)?;
            if !t.start.starts_with(&prefix) {
                return Err(ApiError::bad_request("continue key is not valid for this list"));
            }
            return self.paged(ctx, opts, &prefix, &t.start, t.rv, true).await;
        }
        let scope = self.scope(ctx.namespace.as_deref(), &opts.field_selector);
        let exact = rv_match == "Exact";
        if (opts.limit > 0 && rv.is_empty()) || exact {
            let revision = if exact { object::parse_resource_version(rv)? } else { 0 };
            // One object's key bounds the store's range to the keys starting with it (the
            // selector drops the longer names).
            let range = match &scope {
                KeyScope::Key(key) => key,
                _ => &prefix,
            };
            return self.paged(ctx, opts, range, range, revision, false).await;
        }
        // From the watch cache: "0" = any state; unset = consistent (at the current revision);
        // N = not older than N.
        let min = match rv {
            "0" => None,
            "" => Some(self.store.revisions().await.map_err(|e| self.err("", e))?.0),
            n => Some(object::parse_resource_version(n)?),
        };
        let (kvs, revision) = self.cache.list(scope, min).await.map_err(|e| self.err("", e))?;
        let items = kvs
            .into_iter()
            .filter(|kv| self.item_matches(ctx, &kv.value, opts))
            .map(|kv| Item { value: kv.value, revision: kv.mod_revision })
            .collect();
        Ok(ListResult { items, revision, continue_token: None, remaining: None })
    }

    /// A list page read from the store at one revision, filling `limit` even when selectors
    /// drop objects (as Kubernetes does).
    async fn paged(
        &self,
        ctx: &Context,
        opts: &ListOptions,
        prefix: &str,
        start: &str,
        revision: Revision,
        continuing: bool,
    ) -> Result<ListResult, ApiError> {
        let end = storage::prefix_end(prefix);
        let limit = opts.limit;
        let mut items = Vec::new();
        let mut start = start.to_string();
        let mut revision = revision;
        loop {
            let page = self.store.range(&start, &end, if limit == 0 { 0 } else { limit + 1 }, revision).await.map_err(|e| match e {
                StoreError::Compacted { .. } if continuing => ApiError::expired(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                ),
                e => self.err("", e),
            })?;
            revision = page.revision;
            let fetched = page.kvs.len();
            let mut last_key = None;
            for kv in page.kvs {
                if limit > 0 && items.len() == limit {
                    // One more than a page exists: continue from this key.
                    let remaining = page.remaining + 1;
                    let token = encode_continue(revision, &kv.key);
                    let remaining = if self.needs_filter(ctx, opts) { None } else { Some(remaining) };
                    return Ok(ListResult { items, revision, continue_token: Some(token), remaining });
                }
                last_key = Some(kv.key.clone());
                if self.item_matches(ctx, &kv.value, opts) {
                    items.push(Item { value: kv.value, revision: kv.mod_revision });
                }
            }
            let more = page.more || (limit > 0 && fetched > limit);
            match last_key {
                Some(k) if more && limit > 0 => start = format!("{k}\0"),
                _ => return Ok(ListResult { items, revision, continue_token: None, remaining: None }),
            }
        }
    }

    // ----- writes ------------------------------------------------------------------------

    /// Applies what the server owns on every write of the main resource.
    fn check_type(&self, obj: &Value) -> Result<(), ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request("the request body must be a JSON or YAML object"));
        }
        let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        if (!api_version.is_empty() && api_version != self.def.api_version())
            || (!kind.is_empty() && kind != self.def.kind)
        {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({api_version}) and kind ({kind}) do not match the resource's {}, {}",
                self.def.api_version(),
                self.def.kind
            )));
        }
        Ok(())
    }

    /// Decodes through the resource's type, reporting unknown fields per `fieldValidation`.
    fn canonicalize(&self, obj: Value, opts: &WriteOptions, warnings: &mut Vec<String>) -> Result<Value, ApiError> {
        self.check_type(&obj)?;
        let (mut canonical, unknown) = self.def.strategy.canonicalize(obj)?;
        if !unknown.is_empty() {
            match opts.field_validation {
                FieldValidation::Strict => {
                    let fields: Vec<String> = unknown.iter().map(|f| format!("unknown field \"{f}\"")).collect();
                    return Err(ApiError::bad_request(format!("strict decoding error: {}", fields.join(", "))));
                }
                FieldValidation::Warn => warnings.extend(unknown.iter().map(|f| format!("unknown field \"{f}\""))),
                FieldValidation::Ignore => {}
            }
        }
        canonical["apiVersion"] = json!(self.def.api_version());
        canonical["kind"] = json!(self.def.kind);
        Ok(canonical)
    }

    fn invalid(&self, name: &str, causes: Vec<FieldError>) -> ApiError {
        ApiError::invalid(self.def.group, self.def.kind, name, causes)
    }

    fn check_namespace(&self, ctx: &Context, obj: &mut Value) -> Result<(), ApiError> {
        let meta = object::metadata_mut(obj).ok_or_else(|| ApiError::bad_request("metadata must be an object"))?;
        if self.def.namespaced {
            let ns = ctx.namespace.clone().unwrap_or_default();
            match meta.get("namespace").and_then(Value::as_str) {
                Some(given) if !given.is_empty() && given != ns => {
                    return Err(ApiError::bad_request(format!(
                        "the namespace of the provided object ({given}) does not match the namespace sent on the request ({ns})"
                    )));
                }
                _ => {
                    meta.insert("namespace".into(), json!(ns));
                }
            }
        } else {
            meta.remove("namespace");
        }
        Ok(())
    }

    /// Sets the tenant from the caller on create; administrators may create for any tenant.
    fn set_tenant(&self, ctx: &Context, obj: &mut Value) {
        if let Some(field) = self.def.tenant_field {
            let given = path::get_string(obj, field);
            if given.is_empty() || !ctx.user.is_admin() {
                path::set(obj, field, json!(ctx.user.tenant()));
            }
        }
    }

    pub async fn create(&self, ctx: &Context, obj: Value, opts: &WriteOptions) -> Result<Written, ApiError> {
        if !self.def.verbs.create {
            return Err(ApiError::method_not_allowed(format!("create is not supported on {}", self.def.plural)));
        }
        let mut warnings = vec![];
        let mut obj = self.canonicalize(obj, opts, &mut warnings)?;
        self.check_namespace(ctx, &mut obj)?;
        self.set_tenant(ctx, &mut obj);
        self.def.strategy.prepare_for_create(ctx, &mut obj)?;
        self.finish_create(ctx, obj, opts, warnings, None).await
    }

    /// Everything of a create after the type's own preparation (shared with apply-creates,
    /// which give the `managedFields` apply computed).
    async fn finish_create(
        &self,
        ctx: &Context,
        mut obj: Value,
        opts: &WriteOptions,
        warnings: Vec<String>,
        managed: Option<Value>,
    ) -> Result<Written, ApiError> {
        let meta = object::metadata_mut(&mut obj).ok_or_else(|| ApiError::bad_request("metadata must be an object"))?;
        for f in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "resourceVersion",
            "selfLink",
        ] {
            meta.remove(f);
        }
        meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        meta.insert("creationTimestamp".into(), json!(object::now()));
        meta.insert("generation".into(), json!(1));
        let generate = meta.get("generateName").and_then(Value::as_str).unwrap_or("").to_string();
        let given_name = meta.get("name").and_then(Value::as_str).unwrap_or("").to_string();
        let tries = if given_name.is_empty() && !generate.is_empty() { GENERATE_NAME_TRIES } else { 1 };
        for attempt in 0..tries {
            let name = if given_name.is_empty() && !generate.is_empty() {
                format!("{generate}{}", random_suffix())
            } else {
                given_name.clone()
            };
            object::metadata_mut(&mut obj).map(|m| m.insert("name".into(), json!(name)));
            self.validate_create(ctx, &obj, &name)?;
            let mut stored = obj.clone();
            apply::update_managed_fields(
                None,
                &mut stored,
                &opts.manager(),
                "Update",
                None,
                &self.def.api_version(),
                &object::now(),
            );
            if let Some(m) = &managed {
                stored["metadata"]["managedFields"] = m.clone();
            }
            self.admit(ctx, Operation::Create, &stored, None, opts.dry_run).await?;
            if opts.dry_run {
                return Ok(Written { object: stored, warnings, created: true });
            }
            let bytes = object::encode_for_storage(&stored)?;
            match self.store.create(&self.key(ctx.namespace.as_deref(), &name), bytes).await {
                Ok(kv) => {
                    object::set_resource_version(&mut stored, kv.mod_revision);
                    return Ok(Written { object: stored, warnings, created: true });
                }
                Err(StoreError::AlreadyExists { .. }) if attempt + 1 < tries => continue,
                Err(e) => return Err(self.err(&name, e)),
            }
        }
        Err(ApiError::already_exists(self.def.group, self.def.plural, &given_name))
    }

    fn validate_create(&self, ctx: &Context, obj: &Value, name: &str) -> Result<(), ApiError> {
        let mut causes = vec![];
        if name.is_empty() {
            causes.push(FieldError::required("metadata.name", "name or generateName is required"));
        } else if let Some(msg) = validate_name(name) {
            causes.push(FieldError::invalid("metadata.name", name, msg));
        }
        if self.def.namespaced && ctx.namespace.as_deref().unwrap_or("").is_empty() {
            causes.push(FieldError::required("metadata.namespace", ""));
        }
        causes.extend(self.def.strategy.validate(ctx, obj));
        if causes.is_empty() { Ok(()) } else { Err(self.invalid(name, causes)) }
    }

    /// Reads the current stored object, or NotFound.
    async fn current(&self, ctx: &Context, name: &str) -> Result<(Value, KeyValue), ApiError> {
        let key = self.key(ctx.namespace.as_deref(), name);
        let kv = self.store.get(&key).await.map_err(|e| self.err(name, e))?.0.ok_or_else(|| self.not_found(name))?;
        let obj = object::decode(&kv)?;
        if !self.visible(ctx, &obj) {
            return Err(self.not_found(name));
        }
        Ok((obj, kv))
    }

    /// PUT of the object or of a subresource (`status`, `finalize`).
    pub async fn update(
        &self,
        ctx: &Context,
        name: &str,
        subresource: Option<&str>,
        obj: Value,
        opts: &WriteOptions,
    ) -> Result<Written, ApiError> {
        if !self.def.verbs.update {
            return Err(ApiError::method_not_allowed(format!("update is not supported on {}", self.def.plural)));
        }
        let mut warnings = vec![];
        let mut obj = self.canonicalize(obj, opts, &mut warnings)?;
        let body_name = object::name(&obj).to_string();
        if !body_name.is_empty() && body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        self.check_namespace(ctx, &mut obj)?;
        let (old, kv) = self.current(ctx, name).await?;
        if let Some(rv) = object::meta_str(&obj, "resourceVersion").filter(|s| !s.is_empty())
            && object::parse_resource_version(rv)? != kv.mod_revision
        {
            return Err(ApiError::modified(self.def.group, self.def.plural, name));
        }
        self.finish_update(ctx, name, subresource, obj, old, kv, opts, warnings).await
    }

    /// Merges what a subresource may change into the old object.
    fn merge_subresource(&self, subresource: Option<&str>, new: Value, old: &Value) -> Result<Value, ApiError> {
        match subresource {
            None => {
                let mut new = new;
                if self.def.subresources.status {
                    match old.get("status") {
                        Some(s) => new["status"] = s.clone(),
                        None => {
                            new.as_object_mut().map(|m| m.remove("status"));
                        }
                    }
                }
                Ok(new)
            }
            Some("status") if self.def.subresources.status => {
                let mut merged = old.clone();
                match new.get("status") {
                    Some(s) => merged["status"] = s.clone(),
                    None => {
                        merged.as_object_mut().map(|m| m.remove("status"));
                    }
                }
                Ok(merged)
            }
            Some("finalize") if self.def.subresources.finalize => {
                let mut merged = old.clone();
                let finalizers = new.get("spec").and_then(|s| s.get("finalizers")).cloned().unwrap_or(json!([]));
                path::set(&mut merged, "spec.finalizers", finalizers);
                Ok(merged)
            }
            Some(other) => Err(ApiError::not_found(self.def.group, &format!("{}/{other}", self.def.plural), "")),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn finish_update(
        &self,
        ctx: &Context,
        name: &str,
        subresource: Option<&str>,
        new: Value,
        old: Value,
        kv: KeyValue,
        opts: &WriteOptions,
        warnings: Vec<String>,
    ) -> Result<Written, ApiError> {
        let new = self.prepare_update(ctx, name, subresource, new, &old, opts)?;
        self.write_update(ctx, name, subresource, new, old, kv, opts, warnings).await
    }

    /// An update's object as it will be stored: server-owned metadata kept, tenant checked,
    /// the strategy's preparation and validation, generation and managedFields.
    fn prepare_update(
        &self,
        ctx: &Context,
        name: &str,
        subresource: Option<&str>,
        new: Value,
        old: &Value,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        // A uid in the body is a precondition, as in Kubernetes: it must name this object.
        if let Some(uid) = object::meta_str(&new, "uid").filter(|u| !u.is_empty())
            && Some(uid) != object::meta_str(old, "uid")
        {
            return Err(self.uid_mismatch(name, uid, old));
        }
        let mut new = self.merge_subresource(subresource, new, old)?;
        // Metadata the server owns stays as it was.
        let old_meta = old.get("metadata").cloned().unwrap_or(json!({}));
        {
            let meta =
                object::metadata_mut(&mut new).ok_or_else(|| ApiError::bad_request("metadata must be an object"))?;
            for f in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "name",
                "namespace",
            ] {
                match old_meta.get(f) {
                    Some(v) => meta.insert(f.into(), v.clone()),
                    None => meta.remove(f),
                };
            }
            if subresource.is_some() {
                // Subresource writes never touch labels, annotations, finalizers.
                for f in ["labels", "annotations", "finalizers", "ownerReferences", "managedFields"] {
                    match old_meta.get(f) {
                        Some(v) => meta.insert(f.into(), v.clone()),
                        None => meta.remove(f),
                    };
                }
            }
        }
        if let Some(field) = self.def.tenant_field {
            let (old_t, new_t) = (path::get_string(old, field), path::get_string(&new, field));
            if new_t.is_empty() {
                path::set(&mut new, field, json!(old_t));
            } else if new_t != old_t {
                return Err(
                    self.invalid(name, vec![FieldError::forbidden(field, "the tenant of an object cannot be changed")])
                );
            }
        }
        if subresource.is_none() {
            self.def.strategy.prepare_for_update(ctx, &mut new, old)?;
        }
        let causes = self.def.strategy.validate_update(ctx, &new, old);
        if !causes.is_empty() {
            return Err(self.invalid(name, causes));
        }
        // A change of anything but metadata and status is a new generation.
        let strip = |v: &Value| {
            let mut v = v.clone();
            if let Some(m) = v.as_object_mut() {
                m.remove("metadata");
                m.remove("status");
            }
            v
        };
        if strip(&new) != strip(old) {
            let generation = old_meta.get("generation").and_then(Value::as_i64).unwrap_or(1) + 1;
            object::metadata_mut(&mut new).map(|m| m.insert("generation".into(), json!(generation)));
        }
        apply::update_managed_fields(
            Some(old),
            &mut new,
            &opts.manager(),
            "Update",
            subresource,
            &self.def.api_version(),
            &object::now(),
        );
        Ok(new)
    }

    /// Stores an updated object (or completes a pending deletion), unless nothing changed.
    /// Updates of the object itself (not of a subresource) are admitted first.
    #[allow(clippy::too_many_arguments)]
    async fn write_update(
        &self,
        ctx: &Context,
        name: &str,
        subresource: Option<&str>,
        mut new: Value,
        old: Value,
        kv: KeyValue,
        opts: &WriteOptions,
        warnings: Vec<String>,
    ) -> Result<Written, ApiError> {
        object::set_resource_version(&mut new, kv.mod_revision);
        if new == old {
            // No-op updates do not write and keep the resourceVersion, like Kubernetes.
            return Ok(Written { object: old, warnings, created: false });
        }
        if subresource.is_none() {
            self.admit(ctx, Operation::Update, &new, Some(&old), opts.dry_run).await?;
        }
        if opts.dry_run {
            return Ok(Written { object: new, warnings, created: false });
        }
        let key = self.key(ctx.namespace.as_deref(), name);
        let being_deleted = object::meta_str(&new, "deletionTimestamp").is_some();
        if being_deleted && !object::has_finalizers(&new) {
            // The last finalizer is gone: the deletion completes now.
            let (_, rev) = self.store.delete(&key, Some(kv.mod_revision)).await.map_err(|e| self.err(name, e))?;
            object::set_resource_version(&mut new, rev);
            return Ok(Written { object: new, warnings, created: false });
        }
        let bytes = object::encode_for_storage(&new)?;
        let stored = self.store.update(&key, bytes, kv.mod_revision).await.map_err(|e| self.err(name, e))?;
        object::set_resource_version(&mut new, stored.mod_revision);
        Ok(Written { object: new, warnings, created: false })
    }

    /// PATCH of the object or a subresource. Retries on conflicts unless the patch itself pins
    /// a resourceVersion.
    pub async fn patch(
        &self,
        ctx: &Context,
        name: &str,
        subresource: Option<&str>,
        patch_type: PatchType,
        body: &[u8],
        opts: &WriteOptions,
    ) -> Result<Written, ApiError> {
        if !self.def.verbs.update {
            return Err(ApiError::method_not_allowed(format!("patch is not supported on {}", self.def.plural)));
        }
        if patch_type == PatchType::Apply {
            return self.apply(ctx, name, subresource, body, opts).await;
        }
        for _ in 0..PATCH_RETRIES {
            let (old, kv) = self.current(ctx, name).await?;
            let patched = patch::apply_patch(&old, patch_type, body)?;
            // Only a resourceVersion the patch itself sets is a precondition: the one carried
            // over from the stored object is not, or a patch would fail on any concurrent write
            // instead of being applied again to the newer object. (A patch that names the current
            // version is caught on the next attempt, when it no longer is.)
            let pinned = object::meta_str(&patched, "resourceVersion")
                .filter(|s| !s.is_empty() && Some(*s) != object::meta_str(&old, "resourceVersion"))
                .map(str::to_string);
            if let Some(rv) = &pinned
                && object::parse_resource_version(rv)? != kv.mod_revision
            {
                return Err(ApiError::modified(self.def.group, self.def.plural, name));
            }
            let mut warnings = vec![];
            let mut patched = self.canonicalize(patched, opts, &mut warnings)?;
            if object::name(&patched) != name {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    object::name(&patched)
                )));
            }
            self.check_namespace(ctx, &mut patched)?;
            match self.finish_update(ctx, name, subresource, patched, old, kv, opts, warnings).await {
                Err(e) if e.reason == apimachinery::error::Reason::Conflict && pinned.is_none() => continue,
                other => return other,
            }
        }
        Err(ApiError::modified(self.def.group, self.def.plural, name))
    }

    /// Server-side apply (`application/apply-patch+yaml`): creates or merges, with field
    /// ownership and conflicts.
    async fn apply(
        &self,
        ctx: &Context,
        name: &str,
        subresource: Option<&str>,
        body: &[u8],
        opts: &WriteOptions,
    ) -> Result<Written, ApiError> {
        let manager = opts.field_manager.clone().filter(|m| !m.is_empty()).ok_or_else(|| {
            ApiError::bad_request(
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
            )
        })?;
        let applied: Value =
            serde_yaml_ng::from_slice(body).map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
        let body_name = object::name(&applied).to_string();
        if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let api_version = self.def.api_version();
        for _ in 0..PATCH_RETRIES {
            let current = match self.current(ctx, name).await {
                Ok(c) => Some(c),
                Err(e) if e.reason == apimachinery::error::Reason::NotFound => None,
                Err(e) => return Err(e),
            };
            let live = current.as_ref().map(|(o, _)| o);
            let merged = apply::server_side_apply(live, &applied, &manager, opts.force, &api_version, &object::now())
                .map_err(|c| c.into_api_error(self.def.group, self.def.plural, name))?;
            let mut warnings = vec![];
            let mut merged = self.canonicalize(
                merged,
                &WriteOptions { field_validation: FieldValidation::Strict, ..opts.clone() },
                &mut warnings,
            )?;
            self.check_namespace(ctx, &mut merged)?;
            let result = match current {
                None => {
                    if subresource.is_some() {
                        return Err(self.not_found(name));
                    }
                    self.set_tenant(ctx, &mut merged);
                    self.def.strategy.prepare_for_create(ctx, &mut merged)?;
                    // managedFields were computed by apply; keep them.
                    let managed = merged["metadata"].get("managedFields").cloned();
                    let mut r = self.finish_create(ctx, merged, opts, warnings, managed).await;
                    if let Err(e) = &r
                        && e.reason == apimachinery::error::Reason::AlreadyExists
                    {
                        continue;
                    }
                    r = r.map(|mut w| {
                        w.created = true;
                        w
                    });
                    r
                }
                Some((old, kv)) => {
                    let managed = merged["metadata"].get("managedFields").cloned();
                    let r = self
                        .finish_update_apply(ctx, name, subresource, merged, old, kv, opts, warnings, managed)
                        .await;
                    if let Err(e) = &r
                        && e.reason == apimachinery::error::Reason::Conflict
                        && e.causes.is_empty()
                    {
                        continue;
                    }
                    r
                }
            };
            return result;
        }
        Err(ApiError::modified(self.def.group, self.def.plural, name))
    }

    #[allow(clippy::too_many_arguments)]
    async fn finish_update_apply(
        &self,
        ctx: &Context,
        name: &str,
        subresource: Option<&str>,
        new: Value,
        old: Value,
        kv: KeyValue,
        opts: &WriteOptions,
        warnings: Vec<String>,
        managed: Option<Value>,
    ) -> Result<Written, ApiError> {
        // The ordinary update preparation, then apply's managedFields in place of Update's.
        let mut obj = self.prepare_update(ctx, name, subresource, new, &old, opts)?;
        if let Some(m) = managed {
            obj["metadata"]["managedFields"] = m;
        }
        self.write_update(ctx, name, subresource, obj, old, kv, opts, warnings).await
    }

    pub async fn delete(&self, ctx: &Context, name: &str, opts: &DeleteOptions) -> Result<Deleted, ApiError> {
        if !self.def.verbs.delete {
            return Err(ApiError::method_not_allowed(format!("delete is not supported on {}", self.def.plural)));
        }
        if let Some(p) = opts.propagation_policy.as_deref()
            && !matches!(p, "Orphan" | "Background" | "Foreground")
        {
            return Err(ApiError::bad_request(format!(
                "propagationPolicy must be Orphan, Background or Foreground, got {p:?}"
            )));
        }
        if opts.grace_period_seconds.is_some_and(|g| g < 0) {
            return Err(ApiError::bad_request("gracePeriodSeconds must not be negative"));
        }
        for _ in 0..PATCH_RETRIES {
            let (old, kv) = self.current(ctx, name).await?;
            if let Some(uid) = &opts.precondition_uid
                && object::meta_str(&old, "uid") != Some(uid.as_str())
            {
                return Err(self.uid_mismatch(name, uid, &old));
            }
            if let Some(rv) = &opts.precondition_resource_version
                && object::parse_resource_version(rv)? != kv.mod_revision
            {
                return Err(ApiError::conflict(
                    self.def.group,
                    self.def.plural,
                    name,
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                        kv.mod_revision
                    ),
                ));
            }
            if object::meta_str(&old, "deletionTimestamp").is_some() {
                // Already being deleted: nothing more to do until finalizers are cleared.
                return Ok(Deleted { object: old, removed: false });
            }
            let keep = match self.def.strategy.prepare_for_delete(ctx, &old) {
                DeleteDecision::Keep(obj) => Some(obj),
                DeleteDecision::Delete if object::has_finalizers(&old) => Some(old.clone()),
                DeleteDecision::Delete => None,
            };
            let key = self.key(ctx.namespace.as_deref(), name);
            match keep {
                Some(mut obj) => {
                    if let Some(m) = object::metadata_mut(&mut obj) {
                        m.insert("deletionTimestamp".into(), json!(object::now()));
                        m.insert("deletionGracePeriodSeconds".into(), json!(0));
                    }
                    if !object::has_finalizers(&obj) {
                        // The strategy kept the object but nothing holds it: delete now.
                        if opts.dry_run {
                            return Ok(Deleted { object: obj, removed: true });
                        }
                        return match self.store.delete(&key, Some(kv.mod_revision)).await {
                            Ok(_) => Ok(Deleted { object: obj, removed: true }),
                            Err(StoreError::Conflict { .. }) => continue,
                            Err(e) => Err(self.err(name, e)),
                        };
                    }
                    if opts.dry_run {
                        return Ok(Deleted { object: obj, removed: false });
                    }
                    let bytes = object::encode_for_storage(&obj)?;
                    match self.store.update(&key, bytes, kv.mod_revision).await {
                        Ok(stored) => {
                            object::set_resource_version(&mut obj, stored.mod_revision);
                            return Ok(Deleted { object: obj, removed: false });
                        }
                        Err(StoreError::Conflict { .. }) => continue,
                        Err(e) => return Err(self.err(name, e)),
                    }
                }
                None => {
                    if opts.dry_run {
                        return Ok(Deleted { object: old, removed: true });
                    }
                    match self.store.delete(&key, Some(kv.mod_revision)).await {
                        Ok((_, rev)) => {
                            let mut obj = old;
                            object::set_resource_version(&mut obj, rev);
                            return Ok(Deleted { object: obj, removed: true });
                        }
                        Err(StoreError::Conflict { .. }) => continue,
                        Err(e) => return Err(self.err(name, e)),
                    }
                }
            }
        }
        Err(ApiError::modified(self.def.group, self.def.plural, name))
    }

    /// Deletes every object the options select; returns the deleted (or pending) objects.
    pub async fn delete_collection(
        &self,
        ctx: &Context,
        list: &ListOptions,
        opts: &DeleteOptions,
    ) -> Result<ListResult, ApiError> {
        if !self.def.verbs.delete_collection {
            return Err(ApiError::method_not_allowed(format!(
                "deletecollection is not supported on {}",
                self.def.plural
            )));
        }
        let listed = self.list(ctx, &ListOptions { limit: 0, continue_token: None, ..list.clone() }).await?;
        let mut items = vec![];
        for item in listed.items {
            let obj = item.decode()?;
            let ns_ctx = Context {
                namespace: object::meta_str(&obj, "namespace").map(str::to_string).or(ctx.namespace.clone()),
                ..ctx.clone()
            };
            match self.delete(&ns_ctx, object::name(&obj), opts).await {
                Ok(d) => items.push(Item { value: object::encode_for_storage(&d.object)?, revision: item.revision }),
                Err(e) if e.reason == apimachinery::error::Reason::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(ListResult { items, revision: listed.revision, continue_token: None, remaining: None })
    }

    // ----- watch -------------------------------------------------------------------------

    /// A watch per Kubernetes semantics: with no resourceVersion or "0", the current state as
    /// ADDED events first; from resourceVersion N, every change after N; `sendInitialEvents`
    /// adds the initial-events-end bookmark. Selectors turn objects leaving the selection into
    /// DELETED events.
    pub async fn watch(
        self: &Arc<Self>,
        ctx: &Context,
        opts: &ListOptions,
    ) -> Result<impl Stream<Item = WatchEvent> + Send + 'static, ApiError> {
        if !self.def.verbs.watch {
            return Err(ApiError::method_not_allowed(format!("watch is not supported on {}", self.def.plural)));
        }
        self.check_field_selector(&opts.field_selector)?;
        let scope = self.scope(ctx.namespace.as_deref(), &opts.field_selector);
        let rv = opts.resource_version.as_deref().unwrap_or("");
        let send_initial = opts.send_initial_events.unwrap_or(rv.is_empty() || rv == "0");
        if opts.send_initial_events == Some(true) && opts.resource_version_match.as_deref() != Some("NotOlderThan") {
            return Err(ApiError::bad_request("sendInitialEvents requires resourceVersionMatch=NotOlderThan"));
        }
        let after = if send_initial {
            if !rv.is_empty() && rv != "0" {
                // Wait until the cache is at least as new as requested.
                let min = object::parse_resource_version(rv)?;
                self.cache.wait_for(min).await.map_err(|e| self.err("", e))?;
            }
            None
        } else if rv.is_empty() {
            Some(self.store.revisions().await.map_err(|e| self.err("", e))?.0)
        } else {
            Some(object::parse_resource_version(rv)?)
        };
        let watcher = self.cache.watch(scope, after).map_err(|e| match e {
            StoreError::Compacted { requested, compacted } => {
                ApiError::gone(format!("too old resource version: {requested} ({compacted})"))
            }
            e => self.err("", e),
        })?;
        let this = self.clone();
        let ctx = ctx.clone();
        let opts = opts.clone();
        let mut initial_pending = send_initial && opts.send_initial_events == Some(true);
        let bookmarks = opts.allow_bookmarks;
        let stream = watcher.flat_map(move |batch| {
            let mut out = Vec::new();
            match batch {
                Err(e) => out.push(WatchEvent::Error(match e {
                    StoreError::Compacted { requested, compacted } => {
                        ApiError::gone(format!("too old resource version: {requested} ({compacted})"))
                    }
                    e => this.err("", e),
                })),
                Ok(batch) => {
                    for ev in &batch.events {
                        if let Some(we) = this.translate(&ctx, &opts, ev) {
                            out.push(we);
                        }
                    }
                    if batch.events.is_empty() || batch.initial_end {
                        if initial_pending && batch.initial_end {
                            initial_pending = false;
                            out.push(WatchEvent::Bookmark { revision: batch.revision, initial_events_end: true });
                        } else if bookmarks && batch.events.is_empty() {
                            out.push(WatchEvent::Bookmark { revision: batch.revision, initial_events_end: false });
                        }
                    }
                }
            }
            futures::stream::iter(out)
        });
        Ok(stream)
    }

    fn translate(&self, ctx: &Context, opts: &ListOptions, ev: &Event) -> Option<WatchEvent> {
        let parse = |v: &Bytes| serde_json::from_slice::<Value>(v).ok();
        let filter = self.needs_filter(ctx, opts);
        match ev {
            Event::Put { kv, prev } => {
                let item = Item { value: kv.value.clone(), revision: kv.mod_revision };
                if !filter {
                    return Some(if prev.is_some() { WatchEvent::Modified(item) } else { WatchEvent::Added(item) });
                }
                let now = parse(&kv.value).is_some_and(|o| self.matches(ctx, &o, opts));
                let before = prev.as_ref().and_then(|p| parse(&p.value)).is_some_and(|o| self.matches(ctx, &o, opts));
                match (before, now) {
                    (true, true) => Some(WatchEvent::Modified(item)),
                    (false, true) => Some(WatchEvent::Added(item)),
                    (true, false) => Some(WatchEvent::Deleted(item)),
                    (false, false) => None,
                }
            }
            Event::Delete { prev, revision } => {
                if filter && !parse(&prev.value).is_some_and(|o| self.matches(ctx, &o, opts)) {
                    return None;
                }
                Some(WatchEvent::Deleted(Item { value: prev.value.clone(), revision: *revision }))
            }
        }
    }
}

/// The labels of a stored object, read without decoding the rest of it.
#[derive(serde::Deserialize)]
struct LabelsOnly {
    #[serde(default)]
    metadata: LabelsMeta,
}

#[derive(serde::Deserialize, Default)]
struct LabelsMeta {
    #[serde(default, deserialize_with = "string_labels")]
    labels: std::collections::BTreeMap<String, String>,
}

/// Labels as [`object::labels`] reads them: non-string values are skipped, `null` is empty.
fn string_labels<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<std::collections::BTreeMap<String, String>, D::Error> {
    use serde::Deserialize;
    let raw: Option<std::collections::BTreeMap<String, Value>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| match v {
            Value::String(s) => Some((k, s)),
            _ => None,
        })
        .collect())
}
