//! The auth component in an API server: its resources (`auth.tkestack.io/v1`,
//! `authz.tkestack.io/v1`), the first-start objects (tenant `default`, the platform
//! administrator), the OpenID provider under `/oidc/`, the authenticators (ID tokens, API keys)
//! and the authorizer every request goes through.

use std::sync::{Arc, OnceLock};

use apiserver::{
    ApiServer, Component, Mount, ResourceDef, UserInfo,
    component::{MountContext, MountError},
};

/// How the auth component is set up (flags of `tke up` and `tke auth`).
#[derive(Clone, Debug)]
pub struct Config {
    /// The OpenID provider's issuer; default: the server's URL + `/oidc`.
    pub issuer: Option<String>,
    /// How long an ID token is valid.
    pub id_token_ttl: std::time::Duration,
    /// How long a browser's login at the OpenID provider lasts (single sign-on).
    pub session_ttl: std::time::Duration,
    /// How long a refresh token (rotated at each use) keeps a login alive.
    pub refresh_ttl: std::time::Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            issuer: None,
            id_token_ttl: std::time::Duration::from_secs(3600),
            session_ttl: std::time::Duration::from_secs(12 * 3600),
            refresh_ttl: std::time::Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// The auth component.
#[derive(Default)]
pub struct Auth {
    pub config: Config,
    handle: Arc<OnceLock<Arc<Handle>>>,
}

impl Auth {
    pub fn new(config: Config) -> Self {
        Auth { config, handle: Arc::default() }
    }

    /// Filled once the component is mounted: for other components of the same process that
    /// check credentials the platform's way (the registry's and chart repositories' Basic auth).
    pub fn handle(&self) -> Arc<OnceLock<Arc<Handle>>> {
        self.handle.clone()
    }
}

/// What other components use of a mounted auth component.
pub struct Handle {
    pub provider: Arc<crate::oidc::Provider>,
    pub api_keys: Arc<crate::apikeys::ApiKeys>,
    /// What the authorization controller reads ([`crate::authz::sync::run`]).
    pub authz: OnceLock<Arc<crate::authz::sync::Sources>>,
    /// The authorizer of every request, for components that decide outside the API (the
    /// registry's push and pull).
    pub authorizer: OnceLock<Arc<crate::authz::CasbinAuthorizer>>,
}

impl Handle {
    /// A bearer token of the platform (API key or ID token): the user, why not, or `None`
    /// when it is not one of ours.
    pub fn check_bearer(&self, token: &str) -> Option<Result<UserInfo, String>> {
        if token.split('.').count() != 3 {
            return None;
        }
        if let Some(r) = self.api_keys.authenticate(token) {
            return Some(r);
        }
        self.provider.keys.is_ours(token).then(|| self.provider.user_of(token))
    }

    /// The authorization controller, until `stop` (run it under a Lease).
    pub async fn run_controllers(&self, stop: tokio::sync::watch::Receiver<bool>) {
        if let Some(sources) = self.authz.get() {
            crate::authz::sync::run(sources.clone(), stop).await;
        }
    }

    /// Whether the platform's policies allow `attrs` (false until authorization is mounted).
    pub fn allows(&self, attrs: &apiserver::auth::Attributes) -> bool {
        self.authorizer.get().is_some_and(|a| a.check(attrs).allowed)
    }

    /// Basic credentials as registries and chart repositories take them (reference 3.4): an
    /// API key or ID token as the password (with any username), or a username and password,
    /// `tenant/username` for a tenant other than `default`.
    pub async fn check_basic(&self, username: &str, password: &str) -> Option<UserInfo> {
        if password.split('.').count() == 3 {
            match self.api_keys.authenticate(password) {
                Some(Ok(user)) => return Some(user),
                Some(Err(_)) => return None,
                None => {}
            }
            if self.provider.keys.is_ours(password) {
                return self.provider.user_of(password).ok();
            }
        }
        let (tenant, name) = username.split_once('/').unwrap_or((crate::bootstrap::DEFAULT_TENANT, username));
        Some(self.provider.people.login(tenant, name, password).await.ok()?.user_info())
    }
}

#[async_trait::async_trait]
impl Component for Auth {
    fn name(&self) -> &'static str {
        "auth"
    }

    fn resources(&self) -> Vec<ResourceDef> {
        let mut defs = api::auth::resources();
        // Local users' passwords are hashed here (argon2id), never stored as sent.
        for def in &mut defs {
            if def.plural == "localidentities" {
                *def = api::auth::local_identity::definition_with(Some(crate::password::hash_field));
            }
        }
        defs.push(crate::subresources::views::user_definition());
        defs.push(crate::subresources::views::group_definition());
        defs.extend(api::authz::resources());
        defs
    }

    async fn mount(&self, server: &Arc<ApiServer>, ctx: &MountContext) -> Result<Mount, MountError> {
        let mut mount = Mount::default();
        crate::bootstrap::mount(server, ctx, &self.config, &mut mount).await?;
        let handle = crate::oidc::mount(server, ctx, &self.config, &mut mount).await?;
        crate::subresources::mount(server, &handle.provider.people, &mut mount)?;
        let sources = crate::authz::mount(server, ctx, &self.config, &handle, &mut mount).await?;
        let _ = handle.authz.set(sources);
        let _ = self.handle.set(handle);
        Ok(mount)
    }
}
