//! Field ownership (`metadata.managedFields`) and server-side apply, in the format and with the
//! semantics kubectl users know from Kubernetes: every write records which manager set which
//! fields; an apply owns exactly the fields of its configuration, removes the ones it stopped
//! setting, and conflicts with other owners of the values it would change.
//!
//! Our types are CRD-like without list merge keys, so lists are atomic (one field, replaced as a
//! whole) and objects are tracked per key.

pub mod fields;

use apimachinery::ApiError;
use apimachinery::error::{FieldError, FieldErrorKind, Reason};
use serde_json::{Map, Value, json};

use fields::{Element, FieldSet, Path, display, f};

/// Kubernetes keeps at most this many `Update` entries; older ones are merged into one bucket.
pub const MAX_UPDATE_MANAGERS: usize = 10;
/// The manager name of that bucket.
pub const ANCIENT_CHANGES: &str = "ancient-changes";
/// Kubernetes' limit on a field manager's name.
pub const FIELD_MANAGER_MAX_LENGTH: usize = 128;

const APPLY: &str = "Apply";
const UPDATE: &str = "Update";

/// Metadata the server owns or that identifies the object; Kubernetes does not track who set it.
const UNTRACKED_METADATA: &[&str] = &[
    "name",
    "namespace",
    "creationTimestamp",
    "selfLink",
    "uid",
    "clusterName",
    "generation",
    "managedFields",
    "resourceVersion",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// One field an apply would change although another manager owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager's name.
    pub manager: String,
    /// How Kubernetes names that manager in messages: `"kubectl-edit" using platform.tkestack.io/v1`.
    pub described: String,
    /// The field path, `.spec.type`.
    pub field: String,
}

/// Why a server-side apply was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyConflict {
    /// Values owned by other managers would change (409 unless forced).
    Conflicts(Vec<Conflict>),
    /// The applied configuration itself is unacceptable (400), e.g. it sets managedFields.
    Invalid(String),
}

impl ApplyConflict {
    /// The Status kube-apiserver answers: 409 Conflict, the conflicts in the message and one
    /// cause per field.
    pub fn into_api_error(self, g: &str, r: &str, n: &str) -> ApiError {
        let conflicts = match self {
            ApplyConflict::Invalid(msg) => return ApiError::bad_request(msg),
            ApplyConflict::Conflicts(c) => c,
        };
        let message = conflict_message(&conflicts);
        let mut e = ApiError::new(Reason::Conflict, message);
        e.group = Some(g.to_string());
        e.kind = Some(r.to_string());
        if !n.is_empty() {
            e.name = Some(n.to_string());
        }
        e.causes = conflicts
            .iter()
            .map(|c| FieldError {
                kind: FieldErrorKind::FieldManagerConflict,
                field: c.field.clone(),
                detail: format!("conflict with {}", c.described),
            })
            .collect();
        e
    }
}

fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [c] = conflicts {
        return format!("Apply failed with 1 conflict: conflict with {}: {}", c.described, c.field);
    }
    let mut managers: Vec<&str> = conflicts.iter().map(|c| c.described.as_str()).collect();
    managers.sort();
    managers.dedup();
    let mut lines = Vec::new();
    for m in managers {
        lines.push(format!("conflicts with {m}:"));
        lines.extend(conflicts.iter().filter(|c| c.described == m).map(|c| format!("- {}", c.field)));
    }
    format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
}

/// The field manager of a request that names none: the program name of its User-Agent
/// (`kubectl/v1.32.4 (linux/amd64) kubernetes/abc` → `kubectl`), printable characters only and
/// at most 128 bytes; `unknown` when that leaves nothing.
pub fn default_manager(ua: &str) -> String {
    let program = ua.split('/').next().unwrap_or("");
    let mut out = String::new();
    for c in program.chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > FIELD_MANAGER_MAX_LENGTH {
            break;
        }
        out.push(c);
    }
    let out = out.trim().to_string();
    if out.is_empty() { "unknown".to_string() } else { out }
}

/// One `managedFields[]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: Option<String>,
    subresource: String,
    fields: FieldSet,
}

impl Entry {
    fn new(manager: &str, operation: &str, api_version: &str, subresource: Option<&str>) -> Self {
        Entry {
            manager: manager.to_string(),
            operation: operation.to_string(),
            api_version: api_version.to_string(),
            time: None,
            subresource: subresource.unwrap_or("").to_string(),
            fields: FieldSet::new(),
        }
    }

    /// Whether two entries record the same owner. Appliers keep one entry across API versions;
    /// updaters have one per version, as in Kubernetes.
    fn same_owner(&self, other: &Entry) -> bool {
        self.manager == other.manager
            && self.operation == other.operation
            && self.subresource == other.subresource
            && (self.operation == APPLY || self.api_version == other.api_version)
    }

    /// The manager as Kubernetes prints it in conflicts.
    fn described(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            s.push_str(&format!(" with subresource {:?}", self.subresource));
        }
        if self.operation == UPDATE {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }

    fn seconds(&self) -> i64 {
        self.time
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp())
            .unwrap_or(0)
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), json!(self.manager));
        m.insert("operation".into(), json!(self.operation));
        m.insert("apiVersion".into(), json!(self.api_version));
        if let Some(t) = &self.time {
            m.insert("time".into(), json!(t));
        }
        m.insert("fieldsType".into(), json!("FieldsV1"));
        m.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if !self.subresource.is_empty() {
            m.insert("subresource".into(), json!(self.subresource));
        }
        Value::Object(m)
    }

    fn from_json(v: &Value) -> Option<Entry> {
        let m = v.as_object()?;
        let text = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let operation = text("operation");
        if operation != APPLY && operation != UPDATE {
            return None;
        }
        if !matches!(m.get("fieldsType"), None | Some(Value::Null)) && text("fieldsType") != "FieldsV1" {
            return None;
        }
        let fields = match m.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::new(),
            Some(fv) => FieldSet::from_fields_v1(fv)?,
        };
        Some(Entry {
            manager: text("manager"),
            operation,
            api_version: text("apiVersion"),
            time: m.get("time").and_then(Value::as_str).map(str::to_string),
            subresource: text("subresource"),
            fields,
        })
    }
}

/// Kubernetes' order: Apply before Update, then oldest first, then by name.
fn sort_entries(entries: &mut [Entry]) {
    entries.sort_by(|a, b| {
        a.operation
            .cmp(&b.operation)
            .then_with(|| a.seconds().cmp(&b.seconds()))
            .then_with(|| a.manager.cmp(&b.manager))
            .then_with(|| a.api_version.cmp(&b.api_version))
            .then_with(|| a.subresource.cmp(&b.subresource))
    });
}

fn parse_entries(list: &Value) -> Option<Vec<Entry>> {
    match list {
        Value::Null => Some(vec![]),
        Value::Array(items) => items.iter().map(Entry::from_json).collect(),
        _ => None,
    }
}

fn managed_fields_of(obj: &Value) -> Option<&Value> {
    obj.get("metadata").and_then(|m| m.get("managedFields"))
}

/// Writes `entries` as the object's managedFields, unless they equal `baseline` (then the raw
/// stored form is kept, so an unchanged object stays byte-for-byte unchanged and a no-op write
/// is detected as such).
fn store_entries(obj: &mut Value, mut entries: Vec<Entry>, baseline: &[Entry], raw_baseline: Option<Value>) {
    entries.retain(|e| !e.fields.is_empty());
    cap_update_managers(&mut entries);
    sort_entries(&mut entries);
    let mut before = baseline.to_vec();
    sort_entries(&mut before);
    let value = if entries == before && raw_baseline.is_some() {
        raw_baseline
    } else if entries.is_empty() {
        None
    } else {
        Some(Value::Array(entries.iter().map(Entry::to_json).collect()))
    };
    let Some(meta) =
        obj.as_object_mut().map(|o| o.entry("metadata").or_insert_with(|| json!({}))).and_then(Value::as_object_mut)
    else {
        return;
    };
    match value {
        Some(v) if !matches!(&v, Value::Array(a) if a.is_empty()) => {
            meta.insert("managedFields".into(), v);
        }
        _ => {
            meta.remove("managedFields");
        }
    }
}

/// Merges the oldest Update entries into `ancient-changes` buckets (one per API version) while
/// there are more than [`MAX_UPDATE_MANAGERS`], so managedFields cannot grow without bound.
fn cap_update_managers(entries: &mut Vec<Entry>) {
    loop {
        let updates = entries.iter().filter(|e| e.operation == UPDATE).count();
        if updates <= MAX_UPDATE_MANAGERS {
            return;
        }
        let oldest = entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.operation == UPDATE && e.manager != ANCIENT_CHANGES)
            .min_by_key(|(i, e)| (e.seconds(), *i))
            .map(|(i, _)| i);
        let Some(oldest) = oldest else { return };
        let e = entries.remove(oldest);
        let bucket = Entry { manager: ANCIENT_CHANGES.to_string(), subresource: String::new(), ..e.clone() };
        match entries.iter_mut().find(|b| b.same_owner(&bucket)) {
            Some(b) => {
                b.fields = b.fields.union(&e.fields);
                b.time = e.time;
            }
            None => entries.push(bucket),
        }
    }
}

/// Removes the fields nobody records ownership of.
fn strip_untracked(set: &mut FieldSet) {
    set.remove_subtree(&[f("apiVersion")]);
    set.remove_subtree(&[f("kind")]);
    for m in UNTRACKED_METADATA {
        set.remove_subtree(&[f("metadata"), f(m)]);
    }
    let mut metadata = FieldSet::new();
    metadata.insert(&[f("metadata")]);
    *set = set.difference(&metadata);
}

fn is_managed_fields(path: &[Element], key: &str) -> bool {
    key == "managedFields" && path.len() == 1 && path[0] == "f:metadata"
}

/// Adds the fields set in `v` (at `path`) to `set`: leaves, atomic lists, empty objects, and,
/// when `mark_objects`, every object too (what an Update that creates them records).
fn collect_fields(v: &Value, path: &mut Path, set: &mut FieldSet, mark_objects: bool) {
    match v {
        Value::Object(m) => {
            if !path.is_empty() && (mark_objects || m.is_empty()) {
                set.insert(path);
            }
            for (k, c) in m {
                if is_managed_fields(path, k) {
                    continue;
                }
                path.push(f(k));
                collect_fields(c, path, set, mark_objects);
                path.pop();
            }
        }
        _ if path.is_empty() => {}
        _ => set.insert(path),
    }
}

/// The fields a write from `old` to `new` set (added or modified) and the ones it removed.
fn diff(old: &Value, new: &Value) -> (FieldSet, FieldSet) {
    let (mut changed, mut removed) = (FieldSet::new(), FieldSet::new());
    compare(old, new, &mut Vec::new(), &mut changed, &mut removed);
    strip_untracked(&mut changed);
    strip_untracked(&mut removed);
    (changed, removed)
}

fn compare(old: &Value, new: &Value, path: &mut Path, changed: &mut FieldSet, removed: &mut FieldSet) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, nv) in b {
                if is_managed_fields(path, k) {
                    continue;
                }
                path.push(f(k));
                match a.get(k) {
                    Some(ov) => compare(ov, nv, path, changed, removed),
                    None => collect_fields(nv, path, changed, true),
                }
                path.pop();
            }
            for k in a.keys().filter(|k| !b.contains_key(*k)) {
                path.push(f(k));
                removed.insert(path);
                path.pop();
            }
        }
        _ if old == new || path.is_empty() => {}
        _ => {
            changed.insert(path);
            if new.is_object() {
                collect_fields(new, path, changed, true);
            }
            if let Value::Object(a) = old {
                for k in a.keys() {
                    path.push(f(k));
                    removed.insert(path);
                    path.pop();
                }
            }
        }
    }
}

/// Records who set what for a non-apply write (create, update, patch; `operation` "Update").
/// The fields this write added or changed go to the manager's entry and are taken from every
/// other manager; fields it removed leave the manager's entry; fields that no longer exist leave
/// every entry. Managedfields sent in the request are honoured as Kubernetes does: absent or
/// empty keeps the live ones, `[{}]` clears them, anything else replaces them.
pub fn update_managed_fields(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    operation: &str,
    subresource: Option<&str>,
    api_version: &str,
    now: &str,
) {
    let old_raw = old.and_then(managed_fields_of).filter(|v| !v.is_null()).cloned();
    let old_entries = old_raw.as_ref().and_then(parse_entries).unwrap_or_default();
    let (baseline, raw_baseline) = match managed_fields_of(new) {
        None | Some(Value::Null) => (old_entries, old_raw),
        Some(Value::Array(a)) if a.is_empty() => (old_entries, old_raw),
        Some(Value::Array(a)) if a.len() == 1 && a[0] == json!({}) => (vec![], None),
        Some(given) => match parse_entries(given) {
            Some(entries) => (entries, Some(given.clone())),
            None => (old_entries, old_raw),
        },
    };
    let empty = json!({});
    let (changed, removed) = diff(old.unwrap_or(&empty), new);
    let me = Entry::new(manager, operation, api_version, subresource);
    let mut entries = baseline.clone();
    for e in entries.iter_mut().filter(|e| !e.same_owner(&me)) {
        e.fields = e.fields.difference(&changed);
        e.fields.retain_existing(new);
    }
    let index = entries.iter().position(|e| e.same_owner(&me));
    let previous = index.map(|i| entries[i].fields.clone()).unwrap_or_default();
    let mut mine = previous.clone();
    for p in removed.paths() {
        mine.remove_subtree(&p);
    }
    mine = mine.union(&changed);
    mine.retain_existing(new);
    if !changed.is_empty() || mine != previous {
        let entry = Entry { fields: mine, time: Some(now.to_string()), ..me };
        match index {
            Some(i) => entries[i] = entry,
            None => entries.push(entry),
        }
    }
    store_entries(new, entries, &baseline, raw_baseline);
}

fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            Value::Object(m.iter().filter(|(_, c)| !c.is_null()).map(|(k, c)| (k.clone(), without_nulls(c))).collect())
        }
        other => other.clone(),
    }
}

/// Applied values win; objects merge key by key; everything else (lists included) is replaced.
fn merge_into(target: &mut Value, applied: &Value) {
    match (target, applied) {
        (Value::Object(t), Value::Object(a)) => {
            for (k, v) in a {
                match t.get_mut(k) {
                    Some(tv) if tv.is_object() && v.is_object() => merge_into(tv, v),
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (t, a) => *t = a.clone(),
    }
}

/// The object field names of a path, or `None` when it has list elements we cannot follow.
fn field_names(path: &[Element]) -> Option<Vec<&str>> {
    path.iter().map(|e| e.strip_prefix("f:")).collect()
}

fn get_path<'a>(v: &'a Value, path: &[Element]) -> Option<&'a Value> {
    field_names(path)?.iter().try_fold(v, |v, name| v.as_object()?.get(*name))
}

fn remove_path(v: &mut Value, path: &[Element]) {
    let Some(names) = field_names(path) else { return };
    let Some((last, parents)) = names.split_last() else { return };
    let mut cur = v;
    for name in parents {
        match cur.as_object_mut().and_then(|m| m.get_mut(*name)) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(*last);
    }
}

/// Server-side apply of `applied` by `manager` onto `live` (`None`: the object is created).
/// The applied configuration's fields become the manager's Apply entry; fields it applied
/// before and no longer does are removed unless someone else owns them; values owned by other
/// managers that would change are conflicts, unless `force` takes them over.
pub fn server_side_apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    api_version: &str,
    now: &str,
) -> Result<Value, ApplyConflict> {
    if !applied.is_object() {
        return Err(ApplyConflict::Invalid("the applied configuration must be an object".into()));
    }
    if managed_fields_of(applied).is_some_and(|m| !m.is_null()) {
        return Err(ApplyConflict::Invalid("metadata.managedFields must be nil".into()));
    }
    // An explicit null means "not set by me": it is neither applied nor owned.
    let applied = without_nulls(applied);
    let mut applied_set = FieldSet::new();
    collect_fields(&applied, &mut Vec::new(), &mut applied_set, false);
    strip_untracked(&mut applied_set);

    let empty = json!({});
    let base = live.unwrap_or(&empty);
    let raw_baseline = live.and_then(managed_fields_of).filter(|v| !v.is_null()).cloned();
    let baseline = raw_baseline.as_ref().and_then(parse_entries).unwrap_or_default();
    let mut entries = baseline.clone();
    let mut merged = base.clone();
    merge_into(&mut merged, &applied);
    let (changed, _) = diff(base, &merged);

    let me = Entry::new(manager, APPLY, api_version, None);
    let mut conflicts = Vec::new();
    for e in entries.iter().filter(|e| !e.same_owner(&me)) {
        for p in e.fields.intersection(&changed).paths() {
            conflicts.push(Conflict { manager: e.manager.clone(), described: e.described(), field: display(&p) });
        }
    }
    if !conflicts.is_empty() {
        if !force {
            conflicts.sort_by(|a, b| a.described.cmp(&b.described).then_with(|| a.field.cmp(&b.field)));
            return Err(ApplyConflict::Conflicts(conflicts));
        }
        for e in entries.iter_mut().filter(|e| !e.same_owner(&me)) {
            e.fields = e.fields.difference(&changed);
        }
    }

    let index = entries.iter().position(|e| e.same_owner(&me));
    let previous = index.map(|i| entries[i].fields.clone()).unwrap_or_default();
    let others: Vec<&Entry> = entries.iter().filter(|e| !e.same_owner(&me)).collect();
    let owned = |p: &[Element]| {
        applied_set.contains(p)
            || applied_set.has_descendants(p)
            || others.iter().any(|e| e.fields.contains(p) || e.fields.has_descendants(p))
    };
    let mut stale = previous.difference(&applied_set).paths();
    // Deepest first, so a parent emptied by its children's removal is judged afterwards.
    stale.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in &stale {
        if owned(p) {
            continue;
        }
        remove_path(&mut merged, p);
        // Objects that only existed to hold removed fields go too.
        for depth in (1..p.len()).rev() {
            let parent = &p[..depth];
            let emptied = get_path(&merged, parent).and_then(Value::as_object).is_some_and(Map::is_empty);
            if !emptied || owned(parent) || get_path(&applied, parent).is_some() {
                break;
            }
            remove_path(&mut merged, parent);
        }
    }

    let mut mine = applied_set;
    mine.retain_existing(&merged);
    for e in entries.iter_mut() {
        e.fields.retain_existing(&merged);
    }
    let unchanged = live.is_some_and(|l| {
        let strip = |v: &Value| {
            let mut v = v.clone();
            if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("managedFields");
            }
            v
        };
        strip(l) == strip(&merged)
    });
    let time = match index {
        Some(i) if unchanged && mine == previous => entries[i].time.clone(),
        _ => Some(now.to_string()),
    };
    let entry = Entry { fields: mine, time, ..me };
    match index {
        Some(i) => entries[i] = entry,
        None => entries.push(entry),
    }
    store_entries(&mut merged, entries, &baseline, raw_baseline);
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = "platform.tkestack.io/v1";
    const T1: &str = "2025-01-01T00:00:01Z";
    const T2: &str = "2025-01-01T00:00:02Z";
    const T3: &str = "2025-01-01T00:00:03Z";

    fn cluster() -> Value {
        json!({
            "apiVersion": V1,
            "kind": "Cluster",
            "metadata": {"name": "cls-a", "uid": "u-1", "resourceVersion": "7", "generation": 1, "creationTimestamp": T1, "labels": {"env": "dev"}},
            "spec": {"type": "Baremetal", "version": "1.30.0", "machines": [{"ip": "10.0.0.1"}]}
        })
    }

    fn created(manager: &str) -> Value {
        let mut obj = cluster();
        update_managed_fields(None, &mut obj, manager, "Update", None, V1, T1);
        obj
    }

    fn managers(obj: &Value) -> Vec<(String, String)> {
        obj["metadata"]["managedFields"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        (
                            e["manager"].as_str().unwrap_or("").to_string(),
                            e["operation"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn entry<'a>(obj: &'a Value, manager: &str, operation: &str) -> &'a Value {
        obj["metadata"]["managedFields"]
            .as_array()
            .and_then(|a| a.iter().find(|e| e["manager"] == manager && e["operation"] == operation))
            .unwrap_or(&Value::Null)
    }

    fn fields<'a>(obj: &'a Value, manager: &str, operation: &str) -> &'a Value {
        &entry(obj, manager, operation)["fieldsV1"]
    }

    #[test]
    fn default_manager_is_the_user_agent_program() {
        assert_eq!(default_manager("kubectl/v1.32.4 (linux/amd64) kubernetes/59526cd"), "kubectl");
        assert_eq!(default_manager("kube-rs/0.99"), "kube-rs");
        assert_eq!(default_manager("curl"), "curl");
        assert_eq!(default_manager(""), "unknown");
        assert_eq!(default_manager("/v1"), "unknown");
        assert_eq!(default_manager(&"x".repeat(300)).len(), FIELD_MANAGER_MAX_LENGTH);
    }

    #[test]
    fn create_records_every_set_field_like_kubernetes() {
        let obj = created("kubectl-create");
        assert_eq!(managers(&obj), vec![("kubectl-create".to_string(), "Update".to_string())]);
        let e = entry(&obj, "kubectl-create", "Update");
        assert_eq!(e["apiVersion"], V1);
        assert_eq!(e["time"], T1);
        assert_eq!(e["fieldsType"], "FieldsV1");
        assert!(e.get("subresource").is_none());
        // Server-owned metadata, apiVersion and kind are not tracked; new maps are members (".").
        assert_eq!(
            e["fieldsV1"],
            json!({"f:metadata": {"f:labels": {".": {}, "f:env": {}}}, "f:spec": {".": {}, "f:type": {}, "f:version": {}, "f:machines": {}}})
        );
    }

    #[test]
    fn a_second_updater_takes_the_fields_it_changes() {
        let old = created("kubectl-create");
        let mut new = old.clone();
        new["spec"]["type"] = json!("Imported");
        new["metadata"]["labels"]["team"] = json!("a");
        update_managed_fields(Some(&old), &mut new, "kubectl-edit", "Update", None, V1, T2);
        assert_eq!(
            managers(&new),
            vec![
                ("kubectl-create".to_string(), "Update".to_string()),
                ("kubectl-edit".to_string(), "Update".to_string())
            ]
        );
        assert_eq!(
            fields(&new, "kubectl-edit", "Update"),
            &json!({"f:metadata": {"f:labels": {"f:team": {}}}, "f:spec": {"f:type": {}}})
        );
        assert_eq!(
            fields(&new, "kubectl-create", "Update"),
            &json!({"f:metadata": {"f:labels": {".": {}, "f:env": {}}}, "f:spec": {".": {}, "f:version": {}, "f:machines": {}}})
        );
        // The first manager's time is untouched; it did not write.
        assert_eq!(entry(&new, "kubectl-create", "Update")["time"], T1);
        assert_eq!(entry(&new, "kubectl-edit", "Update")["time"], T2);

        // The first manager writes again: it takes spec.type back and keeps its earlier fields.
        let old2 = new.clone();
        let mut new2 = new.clone();
        new2["spec"]["type"] = json!("Baremetal");
        update_managed_fields(Some(&old2), &mut new2, "kubectl-create", "Update", None, V1, T3);
        assert_eq!(fields(&new2, "kubectl-edit", "Update"), &json!({"f:metadata": {"f:labels": {"f:team": {}}}}));
        assert!(fields(&new2, "kubectl-create", "Update")["f:spec"].get("f:type").is_some());
        // Sorted oldest first: kubectl-edit (T2) before kubectl-create (T3).
        assert_eq!(managers(&new2)[0].0, "kubectl-edit");
    }

    #[test]
    fn managers_left_with_nothing_are_dropped_and_removed_fields_leave_their_owner() {
        let old = created("kubectl-create");
        let mut mid = old.clone();
        mid["spec"]["extra"] = json!("x");
        update_managed_fields(Some(&old), &mut mid, "helper", "Update", None, V1, T2);
        assert_eq!(fields(&mid, "helper", "Update"), &json!({"f:spec": {"f:extra": {}}}));
        // Another manager removes the only field "helper" owned: helper's entry disappears.
        let mut new = mid.clone();
        new["spec"].as_object_mut().map(|s| s.remove("extra"));
        new["metadata"]["labels"].as_object_mut().map(|l| l.remove("env"));
        update_managed_fields(Some(&mid), &mut new, "kubectl-edit", "Update", None, V1, T3);
        assert_eq!(managers(&new), vec![("kubectl-create".to_string(), "Update".to_string())]);
        assert!(fields(&new, "kubectl-create", "Update")["f:metadata"]["f:labels"].get("f:env").is_none());
    }

    #[test]
    fn noop_update_keeps_managed_fields_unchanged() {
        let old = created("kubectl-create");
        let mut new = old.clone();
        update_managed_fields(Some(&old), &mut new, "kubectl-edit", "Update", None, V1, T3);
        assert_eq!(new, old);
        // A PUT body without managedFields keeps the live ones.
        let mut put = old.clone();
        put["metadata"].as_object_mut().map(|m| m.remove("managedFields"));
        update_managed_fields(Some(&old), &mut put, "kubectl-replace", "Update", None, V1, T3);
        assert_eq!(put, old);
    }

    #[test]
    fn sent_managed_fields_are_honoured_and_a_single_empty_entry_clears_them() {
        let old = created("kubectl-create");
        let mut new = old.clone();
        new["metadata"]["managedFields"] = json!([{}]);
        update_managed_fields(Some(&old), &mut new, "kubectl-edit", "Update", None, V1, T2);
        assert!(new["metadata"].get("managedFields").is_none());
        let mut new = old.clone();
        new["metadata"]["managedFields"] = json!([{"manager": "someone", "operation": "Update", "apiVersion": V1, "time": T1, "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:type": {}}}}]);
        new["spec"]["version"] = json!("1.31.0");
        update_managed_fields(Some(&old), &mut new, "kubectl-edit", "Update", None, V1, T2);
        assert_eq!(
            managers(&new),
            vec![("someone".to_string(), "Update".to_string()), ("kubectl-edit".to_string(), "Update".to_string())]
        );
        assert_eq!(fields(&new, "kubectl-edit", "Update"), &json!({"f:spec": {"f:version": {}}}));
    }

    #[test]
    fn replacing_an_object_by_a_scalar_moves_ownership_and_drops_its_children() {
        let old = created("kubectl-create");
        let mut mid = old.clone();
        mid["spec"]["features"] = json!({"gpu": true});
        update_managed_fields(Some(&old), &mut mid, "gpu-operator", "Update", None, V1, T2);
        assert_eq!(fields(&mid, "gpu-operator", "Update"), &json!({"f:spec": {"f:features": {".": {}, "f:gpu": {}}}}));
        let mut new = mid.clone();
        new["spec"]["features"] = json!("all");
        update_managed_fields(Some(&mid), &mut new, "kubectl-edit", "Update", None, V1, T3);
        assert_eq!(fields(&new, "kubectl-edit", "Update"), &json!({"f:spec": {"f:features": {}}}));
        assert!(entry(&new, "gpu-operator", "Update").is_null());
    }

    #[test]
    fn status_writes_record_the_subresource() {
        let old = created("kubectl-create");
        let mut new = old.clone();
        new["status"] = json!({"phase": "Running", "conditions": [{"type": "Ready"}]});
        update_managed_fields(Some(&old), &mut new, "platform-controller", "Update", Some("status"), V1, T2);
        let e = entry(&new, "platform-controller", "Update");
        assert_eq!(e["subresource"], "status");
        assert_eq!(e["fieldsV1"], json!({"f:status": {".": {}, "f:phase": {}, "f:conditions": {}}}));
    }

    #[test]
    fn update_managers_are_capped_into_ancient_changes() {
        let mut obj = created("m0");
        for i in 1..=12 {
            let old = obj.clone();
            obj["spec"][format!("f{i}")] = json!(i);
            update_managed_fields(
                Some(&old),
                &mut obj,
                &format!("m{i}"),
                "Update",
                None,
                V1,
                &format!("2025-01-01T00:01:{i:02}Z"),
            );
        }
        let ms = managers(&obj);
        assert_eq!(ms.len(), MAX_UPDATE_MANAGERS);
        assert!(ms.iter().any(|(m, _)| m == ANCIENT_CHANGES));
        assert!(!ms.iter().any(|(m, _)| m == "m0" || m == "m1"));
        // Nothing is lost: the bucket owns the oldest managers' fields.
        assert!(fields(&obj, ANCIENT_CHANGES, "Update")["f:spec"].get("f:type").is_some());
    }

    #[test]
    fn apply_creates_with_an_apply_entry() {
        let applied = json!({"apiVersion": V1, "kind": "Cluster", "metadata": {"name": "cls-a", "labels": {"env": "dev"}}, "spec": {"type": "Baremetal", "machines": [{"ip": "10.0.0.1"}], "unset": null}});
        let obj = server_side_apply(None, &applied, "kubectl", false, V1, T1).unwrap();
        assert_eq!(obj["spec"], json!({"type": "Baremetal", "machines": [{"ip": "10.0.0.1"}]}));
        assert_eq!(managers(&obj), vec![("kubectl".to_string(), "Apply".to_string())]);
        let e = entry(&obj, "kubectl", "Apply");
        assert_eq!(e["apiVersion"], V1);
        assert_eq!(e["time"], T1);
        assert_eq!(
            e["fieldsV1"],
            json!({"f:metadata": {"f:labels": {"f:env": {}}}, "f:spec": {"f:type": {}, "f:machines": {}}})
        );
    }

    #[test]
    fn reapplying_without_a_field_removes_it() {
        let live = server_side_apply(None, &json!({"apiVersion": V1, "kind": "Cluster", "metadata": {"name": "cls-a", "annotations": {"a": "1"}}, "spec": {"type": "Baremetal", "version": "1.30.0", "features": {"ipvs": true}}}), "kubectl", false, V1, T1).unwrap();
        let obj = server_side_apply(
            Some(&live),
            &json!({"apiVersion": V1, "kind": "Cluster", "metadata": {"name": "cls-a"}, "spec": {"type": "Baremetal"}}),
            "kubectl",
            false,
            V1,
            T2,
        )
        .unwrap();
        assert_eq!(obj["spec"], json!({"type": "Baremetal"}));
        // Maps emptied by the removal go too, but metadata identity stays.
        assert!(obj["metadata"].get("annotations").is_none());
        assert_eq!(obj["metadata"]["name"], "cls-a");
        assert_eq!(fields(&obj, "kubectl", "Apply"), &json!({"f:spec": {"f:type": {}}}));
        assert_eq!(entry(&obj, "kubectl", "Apply")["time"], T2);
    }

    #[test]
    fn apply_keeps_fields_of_other_managers_and_merges_labels() {
        let live = created("kubectl-create");
        let obj = server_side_apply(Some(&live), &json!({"apiVersion": V1, "kind": "Cluster", "metadata": {"name": "cls-a", "labels": {"tier": "gold"}}, "spec": {"version": "1.30.0"}}), "kubectl", false, V1, T2).unwrap();
        assert_eq!(obj["metadata"]["labels"], json!({"env": "dev", "tier": "gold"}));
        assert_eq!(obj["spec"]["type"], "Baremetal");
        assert_eq!(obj["metadata"]["uid"], "u-1");
        // Same value as kubectl-create's: no conflict, both own spec.version.
        assert!(fields(&obj, "kubectl-create", "Update")["f:spec"].get("f:version").is_some());
        assert_eq!(
            fields(&obj, "kubectl", "Apply"),
            &json!({"f:metadata": {"f:labels": {"f:tier": {}}}, "f:spec": {"f:version": {}}})
        );
        assert_eq!(managers(&obj)[0].1, "Apply");
    }

    #[test]
    fn changing_a_field_owned_by_another_manager_conflicts() {
        let live = created("kubectl-client-side-apply");
        let applied =
            json!({"apiVersion": V1, "kind": "Cluster", "metadata": {"name": "cls-a"}, "spec": {"type": "Imported"}});
        let err = server_side_apply(Some(&live), &applied, "kubectl", false, V1, T2).unwrap_err();
        let ApplyConflict::Conflicts(c) = &err else { panic!("expected conflicts, got {err:?}") };
        assert_eq!(
            c,
            &vec![Conflict {
                manager: "kubectl-client-side-apply".into(),
                described: format!("\"kubectl-client-side-apply\" using {V1}"),
                field: ".spec.type".into()
            }]
        );
        let e = err.into_api_error("platform.tkestack.io", "clusters", "cls-a");
        assert_eq!(e.code(), 409);
        assert_eq!(e.reason, Reason::Conflict);
        assert_eq!(
            e.message,
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using platform.tkestack.io/v1: .spec.type"
        );
        let status = e.to_status();
        assert_eq!(status["reason"], "Conflict");
        assert_eq!(status["details"]["causes"][0]["field"], ".spec.type");
        assert_eq!(
            status["details"]["causes"][0]["message"],
            "conflict with \"kubectl-client-side-apply\" using platform.tkestack.io/v1"
        );
    }

    #[test]
    fn several_conflicts_are_grouped_by_manager() {
        let live = created("kubectl-create");
        let mut edited = live.clone();
        edited["spec"]["version"] = json!("1.31.0");
        update_managed_fields(Some(&live), &mut edited, "kubectl-edit", "Update", None, V1, T2);
        let applied = json!({"apiVersion": V1, "kind": "Cluster", "metadata": {"name": "cls-a"}, "spec": {"type": "Imported", "version": "1.32.0", "machines": []}});
        let e = server_side_apply(Some(&edited), &applied, "kubectl", false, V1, T3).unwrap_err().into_api_error(
            "platform.tkestack.io",
            "clusters",
            "cls-a",
        );
        assert_eq!(
            e.message,
            "Apply failed with 3 conflicts: conflicts with \"kubectl-create\" using platform.tkestack.io/v1:\n- .spec.machines\n- .spec.type\nconflicts with \"kubectl-edit\" using platform.tkestack.io/v1:\n- .spec.version"
        );
        assert_eq!(e.causes.len(), 3);
    }

    #[test]
    fn force_moves_ownership_to_the_applier() {
        let live = created("kubectl-client-side-apply");
        let applied =
            json!({"apiVersion": V1, "kind": "Cluster", "metadata": {"name": "cls-a"}, "spec": {"type": "Imported"}});
        let obj = server_side_apply(Some(&live), &applied, "kubectl", true, V1, T2).unwrap();
        assert_eq!(obj["spec"]["type"], "Imported");
        assert_eq!(fields(&obj, "kubectl", "Apply"), &json!({"f:spec": {"f:type": {}}}));
        assert!(fields(&obj, "kubectl-client-side-apply", "Update")["f:spec"].get("f:type").is_none());
        // Next apply by the same manager no longer conflicts.
        let again = server_side_apply(
            Some(&obj),
            &json!({"apiVersion": V1, "kind": "Cluster", "metadata": {"name": "cls-a"}, "spec": {"type": "Baremetal"}}),
            "kubectl",
            false,
            V1,
            T3,
        )
        .unwrap();
        assert_eq!(again["spec"]["type"], "Baremetal");
    }

    #[test]
    fn two_appliers_share_fields_and_a_shared_field_survives_one_leaving() {
        let base = json!({"apiVersion": V1, "kind": "Cluster", "metadata": {"name": "cls-a"}, "spec": {"type": "Baremetal", "version": "1.30.0"}});
        let a = server_side_apply(None, &base, "alice", false, V1, T1).unwrap();
        let b = server_side_apply(Some(&a), &json!({"apiVersion": V1, "kind": "Cluster", "metadata": {"name": "cls-a"}, "spec": {"version": "1.30.0", "network": "flannel"}}), "bob", false, V1, T2).unwrap();
        assert!(fields(&b, "alice", "Apply")["f:spec"].get("f:version").is_some());
        assert!(fields(&b, "bob", "Apply")["f:spec"].get("f:version").is_some());
        // Bob changing the shared field conflicts with Alice.
        let err = server_side_apply(
            Some(&b),
            &json!({"apiVersion": V1, "kind": "Cluster", "metadata": {"name": "cls-a"}, "spec": {"version": "1.31.0"}}),
            "bob",
            false,
            V1,
            T3,
        )
        .unwrap_err();
        assert!(
            matches!(&err, ApplyConflict::Conflicts(c) if c.len() == 1 && c[0].manager == "alice" && c[0].field == ".spec.version")
        );
        // Alice stops setting version: Bob still owns it, so it stays; Alice's other field too.
        let c = server_side_apply(
            Some(&b),
            &json!({"apiVersion": V1, "kind": "Cluster", "metadata": {"name": "cls-a"}, "spec": {"type": "Baremetal"}}),
            "alice",
            false,
            V1,
            T3,
        )
        .unwrap();
        assert_eq!(c["spec"], json!({"type": "Baremetal", "version": "1.30.0", "network": "flannel"}));
        assert_eq!(fields(&c, "alice", "Apply"), &json!({"f:spec": {"f:type": {}}}));
        // Bob stops setting it too: now it is removed.
        let d = server_side_apply(Some(&c), &json!({"apiVersion": V1, "kind": "Cluster", "metadata": {"name": "cls-a"}, "spec": {"network": "flannel"}}), "bob", false, V1, T3).unwrap();
        assert_eq!(d["spec"], json!({"type": "Baremetal", "network": "flannel"}));
    }

    #[test]
    fn noop_apply_changes_nothing_not_even_the_time() {
        let cfg =
            json!({"apiVersion": V1, "kind": "Cluster", "metadata": {"name": "cls-a"}, "spec": {"type": "Baremetal"}});
        let live = server_side_apply(None, &cfg, "kubectl", false, V1, T1).unwrap();
        let again = server_side_apply(Some(&live), &cfg, "kubectl", false, V1, T3).unwrap();
        assert_eq!(again, live);
    }

    #[test]
    fn applying_managed_fields_or_a_non_object_is_a_bad_request() {
        let cfg = json!({"apiVersion": V1, "kind": "Cluster", "metadata": {"name": "cls-a", "managedFields": [{"manager": "x"}]}});
        let e = server_side_apply(None, &cfg, "kubectl", false, V1, T1).unwrap_err().into_api_error(
            "platform.tkestack.io",
            "clusters",
            "cls-a",
        );
        assert_eq!(e.code(), 400);
        assert!(e.message.contains("managedFields must be nil"));
        let e = server_side_apply(None, &json!([1]), "kubectl", false, V1, T1).unwrap_err().into_api_error(
            "platform.tkestack.io",
            "clusters",
            "cls-a",
        );
        assert_eq!(e.code(), 400);
    }

    #[test]
    fn apply_then_update_then_apply_round_trip() {
        // kubectl apply --server-side, then a controller edits another field, then apply again.
        let cfg = json!({"apiVersion": V1, "kind": "Cluster", "metadata": {"name": "cls-a"}, "spec": {"type": "Baremetal", "version": "1.30.0"}});
        let live = server_side_apply(None, &cfg, "kubectl", false, V1, T1).unwrap();
        let mut edited = live.clone();
        edited["spec"]["paused"] = json!(true);
        update_managed_fields(Some(&live), &mut edited, "controller", "Update", None, V1, T2);
        let out = server_side_apply(
            Some(&edited),
            &json!({"apiVersion": V1, "kind": "Cluster", "metadata": {"name": "cls-a"}, "spec": {"type": "Baremetal"}}),
            "kubectl",
            false,
            V1,
            T3,
        )
        .unwrap();
        assert_eq!(out["spec"], json!({"type": "Baremetal", "paused": true}));
        assert_eq!(
            managers(&out),
            vec![("kubectl".to_string(), "Apply".to_string()), ("controller".to_string(), "Update".to_string())]
        );
    }
}
