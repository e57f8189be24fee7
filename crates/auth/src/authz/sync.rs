//! Keeps the Casbin rows true to the objects they come from (reference 3.3 and 3.8), and the
//! enforcer of every replica true to the rows:
//!
//! - [`feed`] (every replica): Rule objects, listed and then watched, go row by row into the
//!   replica's enforcer, so replicas on etcd converge through the same watch.
//! - [`run`] (one replica, under a Lease): the default categories and each tenant's default
//!   policies exist; the rows that policies, roles and bindings call for exist as Rule objects
//!   and no others; a deleted policy, role or binding keeps its object (`Terminating`) until its
//!   rows are gone, then its finalizer is cleared. Rule names are a hash of the row, so a write
//!   repeated by a new leader is a no-op.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::Arc,
    time::Duration,
};

use api::auth::{Category, CustomPolicyBinding, IdentityProvider, Policy, ProjectPolicyBinding, Role, Rule, Subject};
use apiserver::{
    ApiServer,
    store::{ListOptions, ResourceStore, WatchEvent, WriteOptions},
};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::{
    Enforcer, Row,
    enforcer::{group_key, user_key},
};
use crate::index::{Index, store_of, system_context};

/// The platform domain.
pub const PLATFORM_DOMAIN: &str = "*";

fn row_of(rule: &Rule) -> Option<Row> {
    let values = rule.spec.row();
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    Row::parse(&rule.spec.ptype, &refs).ok()
}

/// Feeds the Rule objects into `enforcer` for as long as the enforcer is used.
pub async fn feed(server: &Arc<ApiServer>, enforcer: Arc<Enforcer>) -> Result<(), apimachinery::ApiError> {
    let store = store_of(server, "rules")?;
    let (mut by_name, mut revision) = relist(&store, &enforcer).await?;
    let weak = Arc::downgrade(&enforcer);
    drop(enforcer);
    tokio::spawn(async move {
        loop {
            let Some(enforcer) = weak.upgrade() else { return };
            let opts = ListOptions { resource_version: Some(revision.to_string()), ..Default::default() };
            match store.watch(&system_context(), &opts).await {
                Ok(events) => {
                    let mut events = Box::pin(events);
                    while let Some(ev) = events.next().await {
                        match ev {
                            WatchEvent::Added(i) | WatchEvent::Modified(i) => {
                                if let Ok(rule) = serde_json::from_slice::<Rule>(&i.value) {
                                    let name = rule.name().to_string();
                                    if let Some(old) = by_name.remove(&name) {
                                        enforcer.remove(&old);
                                    }
                                    if let Some(row) = row_of(&rule) {
                                        let _ = enforcer.add(&row);
                                        by_name.insert(name, row);
                                    }
                                }
                                revision = i.revision;
                            }
                            WatchEvent::Deleted(i) => {
                                if let Ok(v) = serde_json::from_slice::<Value>(&i.value)
                                    && let Some(old) = by_name.remove(apiserver::object::name(&v))
                                {
                                    enforcer.remove(&old);
                                }
                                revision = i.revision;
                            }
                            WatchEvent::Bookmark { revision: r, .. } => revision = r,
                            WatchEvent::Error(e) => {
                                tracing::debug!(error = %e.message, "the Rule watch ended; listing again");
                                break;
                            }
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e.message, "watching Rule objects failed"),
            }
            drop(enforcer);
            tokio::time::sleep(Duration::from_millis(200)).await;
            let Some(enforcer) = weak.upgrade() else { return };
            match relist(&store, &enforcer).await {
                Ok((b, r)) => {
                    by_name = b;
                    revision = r;
                }
                Err(e) => tracing::warn!(error = %e.message, "listing Rule objects failed"),
            }
        }
    });
    Ok(())
}

/// Loads every Rule object into `enforcer` (replacing what it held); returns the rows by
/// object name and the list's revision.
async fn relist(
    store: &ResourceStore,
    enforcer: &Enforcer,
) -> Result<(HashMap<String, Row>, i64), apimachinery::ApiError> {
    let list = store.list(&system_context(), &ListOptions::default()).await?;
    let mut by_name = HashMap::new();
    for item in &list.items {
        if let Ok(rule) = serde_json::from_slice::<Rule>(&item.value)
            && let Some(row) = row_of(&rule)
        {
            by_name.insert(rule.name().to_string(), row);
        }
    }
    let bad = enforcer.replace_all(by_name.values());
    for (row, e) in bad {
        tracing::warn!(%row, error = %e, "a Rule object is not a valid row; ignored");
    }
    Ok((by_name, list.revision))
}

/// The objects the controller reads.
pub struct Sources {
    pub idps: Arc<Index<IdentityProvider>>,
    pub categories: Arc<Index<Category>>,
    pub policies: Arc<Index<Policy>>,
    pub roles: Arc<Index<Role>>,
    pub ppbs: Arc<Index<ProjectPolicyBinding>>,
    pub cpbs: Arc<Index<CustomPolicyBinding>>,
    pub rules: Arc<Index<Rule>>,
    server: Arc<ApiServer>,
}

impl Sources {
    pub async fn start(server: &Arc<ApiServer>) -> Result<Arc<Self>, apimachinery::ApiError> {
        Ok(Arc::new(Sources {
            idps: Index::start(store_of(server, "identityproviders")?).await?,
            categories: Index::start(store_of(server, "categories")?).await?,
            policies: Index::start(store_of(server, "policies")?).await?,
            roles: Index::start(store_of(server, "roles")?).await?,
            ppbs: Index::start(store_of(server, "projectpolicybindings")?).await?,
            cpbs: Index::start(store_of(server, "custompolicybindings")?).await?,
            rules: Index::start(store_of(server, "rules")?).await?,
            server: server.clone(),
        }))
    }
}

fn deleting(meta: &Value) -> bool {
    meta.get("deletionTimestamp").is_some_and(|v| !v.is_null())
}

/// A subject's key: users by username, groups by id (the LocalGroup's name, which is what
/// tokens carry), else by name.
fn subject_keys(tenant: &str, users: &[Subject], groups: &[Subject]) -> Vec<String> {
    let mut keys: Vec<String> =
        users.iter().filter(|u| !u.name.is_empty()).map(|u| user_key(tenant, &u.name)).collect();
    keys.extend(groups.iter().map(|g| group_key(tenant, if g.id.is_empty() { &g.name } else { &g.id })));
    keys
}

/// A row with the tenant it belongs to.
type Wanted = BTreeMap<String, (Row, String)>;

/// The Rule name of a row: a hash of its values, so the same row always has the same object.
pub fn rule_name(row: &Row) -> String {
    let (ptype, values) = row.fields();
    let text = format!("{ptype}\u{1f}{}", values.join("\u{1f}"));
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    format!("rul-{}", crate::keys::hex(&digest.as_ref()[..10]))
}

fn want(out: &mut Wanted, row: Row, tenant: &str) {
    out.insert(rule_name(&row), (row, tenant.to_string()));
}

/// The rows the objects call for.
pub fn wanted(src: &Sources) -> Wanted {
    let mut out = Wanted::new();
    for p in src.policies.all() {
        if deleting(&p.metadata) {
            continue;
        }
        let tenant = p.tenant().to_string();
        let effect = if p.spec.statement.effect == "deny" { super::Effect::Deny } else { super::Effect::Allow };
        for r in &p.spec.statement.resources {
            for a in &p.spec.statement.actions {
                want(&mut out, Row::policy(p.name(), r, a, effect), &tenant);
            }
        }
        if let Some(status) = &p.status {
            for key in subject_keys(&tenant, &status.users, &status.groups) {
                want(&mut out, Row::grouping(&key, p.name(), PLATFORM_DOMAIN), &tenant);
            }
        }
    }
    for r in src.roles.all() {
        if deleting(&r.metadata) {
            continue;
        }
        let tenant = r.spec.tenant_id.clone().unwrap_or_default();
        let domain = if r.spec.project_id.is_empty() { PLATFORM_DOMAIN } else { &r.spec.project_id };
        for policy in &r.spec.policies {
            want(&mut out, Row::grouping(r.name(), policy, domain), &tenant);
        }
        if let Some(status) = &r.status {
            for key in subject_keys(&tenant, &status.users, &status.groups) {
                want(&mut out, Row::grouping(&key, r.name(), domain), &tenant);
            }
        }
    }
    for b in src.ppbs.all() {
        if deleting(&b.metadata) {
            continue;
        }
        let tenant = b.spec.tenant_id.clone().unwrap_or_default();
        for key in subject_keys(&tenant, &b.spec.users, &b.spec.groups) {
            want(&mut out, Row::grouping(&key, &b.spec.policy_id, &b.spec.project_id), &tenant);
        }
    }
    for b in src.cpbs.all() {
        if deleting(&b.metadata) {
            continue;
        }
        let tenant = b.spec.tenant_id.clone().unwrap_or_default();
        let domain = if b.spec.domain.is_empty() { PLATFORM_DOMAIN } else { &b.spec.domain };
        for key in subject_keys(&tenant, &b.spec.users, &b.spec.groups) {
            want(&mut out, Row::grouping(&key, &b.spec.policy_id, domain), &tenant);
        }
    }
    out
}

/// One pass: the catalogue, the rows, the finalizers. Returns how many writes it made.
pub async fn reconcile(src: &Sources) -> Result<usize, apimachinery::ApiError> {
    let ctx = system_context();
    let opts = WriteOptions::default();
    let mut writes = 0;
    let created = |r: Result<apiserver::store::Written, apimachinery::ApiError>| match r {
        Ok(_) => Ok(true),
        Err(e) if e.code() == 409 => Ok(false),
        Err(e) => Err(e),
    };

    // The action categories, the same for every tenant.
    let categories = store_of(&src.server, "categories")?;
    for c in super::catalogue::categories() {
        if src.categories.get(&c.name).is_none() {
            let obj = json!({"apiVersion": api::auth::API_VERSION, "kind": "Category", "metadata": {"name": c.name},
                "spec": {"displayName": c.display_name, "description": c.description, "actions": c.actions}});
            writes += created(categories.create(&ctx, obj, &opts).await)? as usize;
        }
    }
    // Each tenant's default policies.
    let policies = store_of(&src.server, "policies")?;
    for idp in src.idps.all() {
        for d in super::catalogue::default_policies(idp.name()) {
            if src.policies.get(&d.name).is_none() {
                let mut spec = serde_json::to_value(&d).unwrap_or_default();
                if let Value::Object(m) = &mut spec {
                    m.remove("name");
                }
                spec["username"] = json!("system");
                let obj = json!({"apiVersion": api::auth::API_VERSION, "kind": "Policy",
                    "metadata": {"name": d.name}, "spec": spec});
                writes += created(policies.create(&ctx, obj, &opts).await)? as usize;
            }
        }
    }

    // Rows: create what is wanted and missing, delete what exists and is not wanted.
    let rules = store_of(&src.server, "rules")?;
    let wanted = wanted(src);
    let existing: BTreeSet<String> = src.rules.all().iter().map(|r| r.name().to_string()).collect();
    for (name, (row, tenant)) in &wanted {
        if existing.contains(name) {
            continue;
        }
        let (ptype, values) = row.fields();
        let mut spec = json!({"ptype": ptype, "tenantID": tenant});
        for (i, v) in values.iter().enumerate() {
            spec[format!("v{i}")] = json!(v);
        }
        let obj =
            json!({"apiVersion": api::auth::API_VERSION, "kind": "Rule", "metadata": {"name": name}, "spec": spec});
        writes += created(rules.create(&ctx, obj, &opts).await)? as usize;
    }
    for name in existing.difference(&wanted.keys().cloned().collect()) {
        match rules.delete(&ctx, name, &Default::default()).await {
            Ok(_) => writes += 1,
            Err(e) if e.code() == 404 => {}
            Err(e) => return Err(e),
        }
    }

    // Finalizers of deleted objects whose rows are gone (they were just removed above, or
    // were never there).
    for (plural, objects) in [
        (
            "policies",
            src.policies.all().iter().map(|p| serde_json::to_value(&**p).unwrap_or_default()).collect::<Vec<_>>(),
        ),
        ("roles", src.roles.all().iter().map(|p| serde_json::to_value(&**p).unwrap_or_default()).collect()),
        (
            "projectpolicybindings",
            src.ppbs.all().iter().map(|p| serde_json::to_value(&**p).unwrap_or_default()).collect(),
        ),
        (
            "custompolicybindings",
            src.cpbs.all().iter().map(|p| serde_json::to_value(&**p).unwrap_or_default()).collect(),
        ),
    ] {
        let store = store_of(&src.server, plural)?;
        for mut obj in objects {
            let finalizers = obj.pointer("/spec/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
            if !deleting(&obj["metadata"]) || !finalizers {
                continue;
            }
            let name = apiserver::object::name(&obj).to_string();
            let namespace = obj.pointer("/metadata/namespace").and_then(Value::as_str).map(str::to_string);
            obj["spec"]["finalizers"] = json!([]);
            let ctx = apiserver::Context { namespace, ..system_context() };
            match store.update(&ctx, &name, Some("finalize"), obj, &opts).await {
                Ok(_) => writes += 1,
                Err(e) if matches!(e.code(), 404 | 409) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(writes)
}

/// The controller: a pass whenever any source changes (a short pause gathers bursts), and
/// every minute regardless, until `stop`.
pub async fn run(src: Arc<Sources>, mut stop: watch::Receiver<bool>) {
    let mut changes = vec![
        src.idps.changes(),
        src.categories.changes(),
        src.policies.changes(),
        src.roles.changes(),
        src.ppbs.changes(),
        src.cpbs.changes(),
        src.rules.changes(),
    ];
    let mut failures = 0u32;
    loop {
        if *stop.borrow() {
            return;
        }
        for c in &mut changes {
            c.borrow_and_update();
        }
        let pause = match reconcile(&src).await {
            Ok(writes) => {
                failures = 0;
                if writes > 0 {
                    tracing::debug!(writes, "authorization rows reconciled");
                }
                Duration::from_secs(60)
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(error = %e.message, "reconciling authorization rows failed");
                controller_backoff(failures)
            }
        };
        let any_change = futures::future::select_all(changes.iter_mut().map(|c| Box::pin(c.changed())));
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(pause) => {}
            _ = any_change => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn controller_backoff(failures: u32) -> Duration {
    Duration::from_millis(200u64.saturating_mul(1 << failures.min(8))).min(Duration::from_secs(30))
}
