//! What the first start of a platform creates: tenant `default` (an IdentityProvider of type
//! `tke`), the OAuth client `default` (public: `tke login` on a loopback port, the console's
//! `/callback`), and the platform administrator `admin`, whose generated password is written
//! to DATA_DIR/admin-password (mode 0600) and never logged. The registry's `admin` is the same
//! account with the same password file.
//!
//! Every step creates only what is missing, so restarts and several replicas starting at once
//! are safe. Replicas on etcd have separate data directories: the first to start sets the
//! password; a replica whose file disagrees says so (give every replica the same file).

use std::sync::Arc;

use apimachinery::ApiError;
use apiserver::{
    ApiServer, Mount,
    component::{MountContext, MountError, read_or_create_secret},
    store::WriteOptions,
};
use base64::Engine;
use serde_json::json;

use crate::index::{store_of, system_context};

/// The administrator's password file in the data directory.
pub const ADMIN_PASSWORD_FILE: &str = "admin-password";
/// The tenant created on first start.
pub const DEFAULT_TENANT: &str = "default";
/// The platform administrator's username.
pub const ADMIN_USERNAME: &str = "admin";
/// The OAuth client of `tke login` and the console.
pub const DEFAULT_CLIENT: &str = "default";

/// Creates what is missing.
pub async fn mount(
    server: &Arc<ApiServer>,
    ctx: &MountContext,
    _config: &crate::component::Config,
    _mount: &mut Mount,
) -> Result<(), MountError> {
    let password =
        read_or_create_secret(&ctx.data_dir.join(ADMIN_PASSWORD_FILE), || crate::password::generate().into_bytes())?;
    let password = String::from_utf8(password).map_err(|_| "the administrator password file is not UTF-8")?;
    let password = password.trim().to_string();

    let idp = json!({"apiVersion": api::auth::API_VERSION, "kind": "IdentityProvider",
        "metadata": {"name": DEFAULT_TENANT},
        "spec": {"name": "Default", "type": "tke", "administrators": [ADMIN_USERNAME]}});
    create_missing(server, "identityproviders", idp).await?;

    let client = json!({"apiVersion": api::auth::API_VERSION, "kind": "Client",
        "metadata": {"name": DEFAULT_CLIENT},
        "spec": {"id": DEFAULT_CLIENT, "public": true, "name": "TKEStack",
            "redirect_uris": ["http://127.0.0.1/callback", "http://[::1]/callback", format!("{}/callback", ctx.url)]}});
    create_missing(server, "clients", client).await?;

    let users = store_of(server, "localidentities")?;
    let existing = users
        .list(
            &system_context(),
            &apiserver::store::ListOptions {
                field_selector: apimachinery::FieldSelector::parse(&format!(
                    "spec.tenantID={DEFAULT_TENANT},spec.username={ADMIN_USERNAME}"
                ))?,
                ..Default::default()
            },
        )
        .await?;
    match existing.items.first() {
        None => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(&password);
            let admin = json!({"apiVersion": api::auth::API_VERSION, "kind": "LocalIdentity",
                "metadata": {"name": format!("usr-{ADMIN_USERNAME}")},
                "spec": {"username": ADMIN_USERNAME, "displayName": "Administrator", "tenantID": DEFAULT_TENANT,
                    "hashedPassword": encoded, "extra": {"platformadmin": "true"}}});
            create_missing(server, "localidentities", admin).await?;
            println!(
                "  administrator: {ADMIN_USERNAME} (tenant {DEFAULT_TENANT}); password in {}",
                ctx.data_dir.join(ADMIN_PASSWORD_FILE).display()
            );
        }
        Some(item) => {
            let stored = item.decode()?;
            let hash = stored["spec"]["hashedPassword"].as_str().unwrap_or("").to_string();
            let matches =
                tokio::task::spawn_blocking(move || crate::password::verify(&password, &hash)).await.unwrap_or(false);
            if !matches {
                tracing::warn!(
                    file = %ctx.data_dir.join(ADMIN_PASSWORD_FILE).display(),
                    "the administrator's password in the platform differs from this file (changed since, or set by another replica)"
                );
            }
        }
    }
    Ok(())
}

async fn create_missing(server: &ApiServer, plural: &str, obj: serde_json::Value) -> Result<(), ApiError> {
    let store = store_of(server, plural)?;
    match store.create(&system_context(), obj, &WriteOptions::default()).await {
        Ok(_) => Ok(()),
        Err(e) if e.code() == 409 => Ok(()),
        Err(e) => Err(e),
    }
}
