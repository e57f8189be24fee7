//! `LocalIdentity` (`usr`, cluster-scoped): a user kept by the platform itself, in a tenant whose
//! IdentityProvider has type `tke`. The password arrives as TKEStack sends it (base64 of the
//! plain password in `spec.hashedPassword`) or as a bcrypt/argon2id hash when importing, is
//! stored only as a hash, and is never shown: reads omit `spec.hashedPassword`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::identity::{ObjectMeta, meta_str};
#[cfg(feature = "server")]
use {
    super::identity::{
        check_immutable, check_tenant_unchanged, check_text, check_username, default_generate_name, tenant_for_create,
    },
    super::{GROUP, VERSION},
    apimachinery::{ApiError, FieldError},
    apiserver::{Column, Context, ResourceDef, Subresources, TypedStrategy, Verbs, resource::schema_of, typed},
};

pub const KIND: &str = "LocalIdentity";
pub const GENERATE_NAME: &str = "usr-";
/// Where the password hash lives in the object (JSON pointer); never returned to clients.
pub const PASSWORD_POINTER: &str = "/spec/hashedPassword";

/// A user of a `tke` tenant.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalIdentity {
    /// `auth.tkestack.io/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `LocalIdentity`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard object metadata; names are generated with the prefix `usr-` when empty.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schemars(with = "ObjectMeta")]
    pub metadata: Value,
    #[serde(default)]
    pub spec: LocalIdentitySpec,
    /// Kept by the platform: lockout after failed logins, removal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<LocalIdentityStatus>,
}

/// The user.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalIdentitySpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
    /// The login name, unique in the tenant; cannot be changed.
    #[serde(default)]
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phone_number: String,
    /// Write-only. On input: the base64 of the plain password (as TKEStack's console and API
    /// send it), or a bcrypt (`$2a$…`) or argon2id (`$argon2id$…`) hash to import. Stored as a
    /// hash; never returned. Leave it out of an update to keep the current password.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hashed_password: String,
    /// Tenant of the user; set from the caller, cannot be changed.
    #[serde(rename = "tenantID", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Names of the LocalGroups the user belongs to (kept by the platform from the groups'
    /// bindings).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Free-form attributes; `platformadmin: "true"` marks a platform administrator.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

/// The observed state of a user.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalIdentityStatus {
    /// `Deleting` while the user's bindings are removed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phase: String,
    /// True while logins are refused after repeated failures (until `lockedUntil`), or for
    /// good when an administrator locked the user.
    #[serde(default)]
    pub locked: bool,
    /// When a lockout after failed logins ends (RFC 3339); absent for a lock set by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<String>,
    /// Failed logins counted toward the next lockout.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed_logins: u32,
    /// How many lockouts in a row (each lasts twice the one before).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lockouts: u32,
    /// When the password or the user last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl LocalIdentity {
    pub fn name(&self) -> &str {
        meta_str(&self.metadata, "name")
    }
    pub fn tenant(&self) -> &str {
        self.spec.tenant_id.as_deref().unwrap_or("")
    }
    pub fn locked(&self) -> bool {
        self.status.as_ref().is_some_and(|s| s.locked)
    }
    /// Whether the user is a platform administrator (`spec.extra.platformadmin`).
    pub fn platform_admin(&self) -> bool {
        self.spec.extra.get("platformadmin").is_some_and(|v| v == "true")
    }
}

/// Turns what a client put in `spec.hashedPassword` into the stored hash, or says why not.
pub type PasswordHasher = fn(&str) -> Result<String, String>;

/// The create/update rules of local users. The password hasher is the auth component's
/// (argon2id); without one, a password in a request is refused rather than stored as sent.
#[cfg(feature = "server")]
pub struct LocalIdentityStrategy {
    pub hasher: Option<PasswordHasher>,
}

#[cfg(feature = "server")]
impl LocalIdentityStrategy {
    fn hash(&self, given: &str) -> Result<String, ApiError> {
        let bad = |detail: String| {
            ApiError::invalid(GROUP, KIND, "", vec![FieldError::invalid("spec.hashedPassword", "(hidden)", detail)])
        };
        match self.hasher {
            Some(hasher) => hasher(given).map_err(bad),
            None => Err(bad("passwords can only be set where the auth component runs".into())),
        }
    }
}

#[cfg(feature = "server")]
impl TypedStrategy<LocalIdentity> for LocalIdentityStrategy {
    fn prepare_for_create(&self, ctx: &Context, user: &mut LocalIdentity) -> Result<(), ApiError> {
        user.spec.tenant_id = Some(tenant_for_create(ctx, user.spec.tenant_id.as_deref()));
        default_generate_name(&mut user.metadata, GENERATE_NAME);
        if !user.spec.hashed_password.is_empty() {
            user.spec.hashed_password = self.hash(&user.spec.hashed_password)?;
        }
        // Only administrators make administrators.
        if !ctx.user.is_admin() {
            user.spec.extra.remove("platformadmin");
        }
        user.status = Some(LocalIdentityStatus::default());
        Ok(())
    }

    fn validate(&self, _ctx: &Context, user: &LocalIdentity) -> Vec<FieldError> {
        let mut errs = vec![];
        check_username("spec.username", &user.spec.username, &mut errs);
        check_text("spec.displayName", &user.spec.display_name, 256, &mut errs);
        check_text("spec.phoneNumber", &user.spec.phone_number, 32, &mut errs);
        if !user.spec.email.is_empty() && !is_email(&user.spec.email) {
            errs.push(FieldError::invalid(
                "spec.email",
                &user.spec.email,
                "must be an e-mail address such as alice@example.org",
            ));
        }
        for (i, g) in user.spec.groups.iter().enumerate() {
            if g.is_empty() {
                errs.push(FieldError::required(format!("spec.groups[{i}]"), "a group name cannot be empty"));
            }
        }
        errs
    }

    fn prepare_for_update(&self, ctx: &Context, new: &mut LocalIdentity, old: &LocalIdentity) -> Result<(), ApiError> {
        if new.spec.hashed_password.is_empty() || new.spec.hashed_password == old.spec.hashed_password {
            new.spec.hashed_password = old.spec.hashed_password.clone();
        } else {
            new.spec.hashed_password = self.hash(&new.spec.hashed_password)?;
        }
        if !ctx.user.is_admin() {
            match old.spec.extra.get("platformadmin") {
                Some(v) => new.spec.extra.insert("platformadmin".into(), v.clone()),
                None => new.spec.extra.remove("platformadmin"),
            };
        }
        Ok(())
    }

    fn validate_update(&self, ctx: &Context, new: &LocalIdentity, old: &LocalIdentity) -> Vec<FieldError> {
        let mut errs = self.validate(ctx, new);
        check_tenant_unchanged(
            "spec.tenantID",
            new.spec.tenant_id.as_deref(),
            old.spec.tenant_id.as_deref(),
            &mut errs,
        );
        check_immutable("spec.username", &new.spec.username, &old.spec.username, &mut errs);
        check_administrator_lock(new, old, &mut errs);
        errs
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        &[PASSWORD_POINTER]
    }
}

/// The longest a platform administrator may be locked (the longest lockout after failed logins).
pub const MAX_ADMINISTRATOR_LOCK_SECONDS: i64 = 24 * 3600;

/// A platform administrator is never locked for good, so the platform always has a way back
/// in: a lock set on one must end (`status.lockedUntil`), at most a day ahead. To shut an
/// administrator out, take `spec.extra.platformadmin` away first.
#[cfg(feature = "server")]
fn check_administrator_lock(new: &LocalIdentity, old: &LocalIdentity, errs: &mut Vec<FieldError>) {
    let lock = |u: &LocalIdentity| u.status.as_ref().filter(|s| s.locked).map(|s| s.locked_until.clone());
    let Some(until) = lock(new) else { return };
    if !new.platform_admin() || (old.platform_admin() && lock(old) == Some(until.clone())) {
        return;
    }
    match until.as_deref().map(apimachinery::time::seconds_until) {
        None => errs.push(FieldError::forbidden(
            "status.locked",
            "a platform administrator cannot be locked until further notice (the platform would keep no way back in): set status.lockedUntil, at most 24 hours ahead, or take spec.extra.platformadmin away first",
        )),
        Some(None) => errs.push(FieldError::invalid(
            "status.lockedUntil",
            until.as_deref().unwrap_or(""),
            "must be an RFC 3339 time such as 2026-01-02T15:04:05Z",
        )),
        // A minute of slack for the clocks of the writer and the server.
        Some(Some(s)) if s > MAX_ADMINISTRATOR_LOCK_SECONDS + 60 => errs.push(FieldError::invalid(
            "status.lockedUntil",
            until.as_deref().unwrap_or(""),
            "a platform administrator can be locked for at most 24 hours",
        )),
        Some(Some(_)) => {}
    }
}

/// A plausible e-mail address: one `@` with text on both sides and a dot in the domain.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
        && s.len() <= 254
}

/// The resource, with the auth component's password hasher (or none: passwords refused).
#[cfg(feature = "server")]
pub fn definition_with(hasher: Option<PasswordHasher>) -> ResourceDef {
    ResourceDef {
        group: GROUP,
        version: VERSION,
        kind: KIND,
        plural: "localidentities",
        singular: "localidentity",
        short_names: &["usr"],
        categories: &["tkestack"],
        namespaced: false,
        verbs: Verbs::ALL,
        subresources: Subresources { status: true, finalize: true },
        columns: vec![
            Column::new("Username", "string", ".spec.username", "The login name."),
            Column::new("Display Name", "string", ".spec.displayName", "The name shown in the console."),
            Column::new("Tenant", "string", ".spec.tenantID", "The tenant of the user.").wide(),
            Column::new("Locked", "boolean", ".status.locked", "Whether logins are refused."),
            Column::age(),
        ],
        field_selectors: &["spec.tenantID", "spec.username"],
        tenant_field: Some("spec.tenantID"),
        static_objects: None,
        schema: schema_of::<LocalIdentity>,
        strategy: typed::<LocalIdentity, _>(LocalIdentityStrategy { hasher }),
    }
}

#[cfg(feature = "server")]
pub fn definition() -> ResourceDef {
    definition_with(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::common::test_ctx;
    use serde_json::json;

    fn fake_hash(given: &str) -> Result<String, String> {
        if given == "bad" { Err("not base64".into()) } else { Ok(format!("$fake${given}")) }
    }

    fn strategy() -> LocalIdentityStrategy {
        LocalIdentityStrategy { hasher: Some(fake_hash) }
    }

    fn user(v: Value) -> LocalIdentity {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn create_hashes_and_defaults() {
        let ctx = test_ctx("t1", false);
        let mut u = user(json!({"spec": {"username": "alice", "hashedPassword": "cGFzc3dvcmQ=", "tenantID": "other",
            "extra": {"platformadmin": "true"}}, "status": {"locked": true}}));
        strategy().prepare_for_create(&ctx, &mut u).unwrap();
        assert_eq!(u.spec.hashed_password, "$fake$cGFzc3dvcmQ=");
        assert_eq!((u.tenant(), u.metadata["generateName"].as_str()), ("t1", Some("usr-")));
        assert!(!u.platform_admin(), "only administrators make administrators");
        assert!(!u.locked());
        let mut bad = user(json!({"spec": {"username": "bob", "hashedPassword": "bad"}}));
        let err = strategy().prepare_for_create(&ctx, &mut bad).unwrap_err();
        assert!(err.message.contains("not base64"), "{}", err.message);
        assert!(!err.message.contains("bad\""), "the password is not echoed: {}", err.message);
        let mut none = user(json!({"spec": {"username": "bob", "hashedPassword": "cGFzc3dvcmQ="}}));
        assert!(LocalIdentityStrategy { hasher: None }.prepare_for_create(&ctx, &mut none).is_err());
    }

    #[test]
    fn validation() {
        let ctx = test_ctx("t1", false);
        let u = user(json!({"spec": {"username": "bad name", "email": "nope", "groups": [""]}}));
        let fields: Vec<String> = strategy().validate(&ctx, &u).into_iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["spec.username", "spec.email", "spec.groups[0]"]);
        let ok = user(json!({"spec": {"username": "alice@example.org", "email": "alice@example.org"}}));
        assert!(strategy().validate(&ctx, &ok).is_empty());
    }

    #[test]
    fn update_keeps_the_password_unless_changed() {
        let ctx = test_ctx("t1", false);
        let mut old = user(json!({"spec": {"username": "alice", "hashedPassword": "c2VjcmV0MTIz"}}));
        strategy().prepare_for_create(&ctx, &mut old).unwrap();
        let mut new = old.clone();
        new.spec.hashed_password.clear();
        new.spec.username = "mallory".into();
        strategy().prepare_for_update(&ctx, &mut new, &old).unwrap();
        assert_eq!(new.spec.hashed_password, old.spec.hashed_password);
        let fields: Vec<String> = strategy().validate_update(&ctx, &new, &old).into_iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["spec.username"]);
        new.spec.hashed_password = "bmV3cGFzc3dvcmQ=".into();
        strategy().prepare_for_update(&ctx, &mut new, &old).unwrap();
        assert_eq!(new.spec.hashed_password, "$fake$bmV3cGFzc3dvcmQ=");
    }

    #[test]
    fn reads_never_show_the_hash() {
        let def = definition_with(Some(fake_hash));
        let mut obj = json!({"metadata": {"name": "usr-1", "annotations": {
            apiserver::resource::LAST_APPLIED: "{\"spec\":{\"username\":\"a\",\"hashedPassword\":\"cGFzc3dvcmQ=\"}}"}},
            "spec": {"username": "a", "hashedPassword": "$argon2id$..."}});
        def.redact(&mut obj);
        assert_eq!(obj["spec"], json!({"username": "a"}));
        let applied = obj["metadata"]["annotations"][apiserver::resource::LAST_APPLIED].as_str().unwrap();
        assert!(!applied.contains("hashedPassword"), "{applied}");
    }

    #[test]
    fn a_platform_administrator_is_never_locked_for_good() {
        let ctx = test_ctx("default", true);
        let admin: LocalIdentity = serde_json::from_value(json!({"metadata": {"name": "usr-admin"},
            "spec": {"username": "admin", "extra": {"platformadmin": "true"}}, "status": {}}))
        .unwrap();
        let locked = |until: Option<String>| {
            let mut u = admin.clone();
            u.status = Some(LocalIdentityStatus { locked: true, locked_until: until, ..Default::default() });
            u
        };
        let fields = |new: &LocalIdentity, old: &LocalIdentity| -> Vec<String> {
            LocalIdentityStrategy { hasher: None }
                .validate_update(&ctx, new, old)
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(fields(&locked(None), &admin), ["status.locked"], "locked by hand without an end");
        let later = |h: i64| {
            Some(apimachinery::time::rfc3339(
                std::time::SystemTime::now() + std::time::Duration::from_secs((h * 3600) as u64),
            ))
        };
        assert!(fields(&locked(later(1)), &admin).is_empty(), "an hour is fine");
        assert_eq!(fields(&locked(later(48)), &admin), ["status.lockedUntil"], "two days is too long");
        assert_eq!(fields(&locked(Some("soon".into())), &admin), ["status.lockedUntil"]);
        // Anyone else may be locked until further notice; and making a locked user an
        // administrator counts as locking one.
        let mut user = locked(None);
        user.spec.extra.clear();
        assert!(fields(&user, &admin).is_empty());
        assert_eq!(fields(&locked(None), &user), ["status.locked"]);
    }
}
