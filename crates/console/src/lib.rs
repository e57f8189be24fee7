//! The web console and its gateway (TKEStack's tke-gateway, reference section 9): the console's
//! built pages embedded in the binary and served at `/tkestack`, the login into a session cookie
//! through the platform's OpenID provider, renewal and logout, and the gateway's information
//! routes. The pages call the API on the same listener as the user: the API server turns the
//! session cookie into the user's token and asks for the CSRF token on every change
//! (`apiserver::session`).

pub mod assets;
pub mod gateway;
pub mod proxy;
pub mod relying_party;
pub mod terminal;

use std::{path::PathBuf, sync::Arc, time::Duration};

use apiserver::{
    ApiServer, Component, Mount, ResourceDef,
    component::{MountContext, MountError},
};

/// How the console logs users in.
#[derive(Clone, Debug)]
pub struct Config {
    /// The OpenID provider's issuer; default: the server's URL + `/oidc` (the platform's own).
    pub issuer: Option<String>,
    /// The console's client at the provider (public, PKCE); `default` is created at first start
    /// with `<server URL>/callback` among its redirect URIs.
    pub client_id: String,
    /// CA bundle that signed the provider's certificate; default: the platform's generated CA.
    pub issuer_ca_file: Option<PathBuf>,
    /// How long a browser session lasts without a new login (the session cookies' lifetime; the
    /// ID token inside is renewed by the page before it expires).
    pub session_max_age: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            issuer: None,
            client_id: "default".into(),
            issuer_ca_file: None,
            session_max_age: Duration::from_secs(12 * 3600),
        }
    }
}

/// The console component.
pub struct Console {
    pub config: Config,
}

#[async_trait::async_trait]
impl Component for Console {
    fn name(&self) -> &'static str {
        "console"
    }

    fn resources(&self) -> Vec<ResourceDef> {
        vec![]
    }

    async fn mount(&self, server: &Arc<ApiServer>, ctx: &MountContext) -> Result<Mount, MountError> {
        let issuer = self.config.issuer.clone().unwrap_or_else(|| format!("{}/oidc", ctx.url));
        let ca_file = self.config.issuer_ca_file.clone().unwrap_or_else(|| ctx.data_dir.join("pki").join("ca.crt"));
        let ca = std::fs::read(&ca_file)
            .map_err(|e| format!("reading the OpenID provider's CA {}: {e}", ca_file.display()))?;
        let rp = relying_party::RelyingParty::new(issuer, self.config.client_id.clone(), &ca)?;
        // The terminal reaches the API on this server's own listener, as the user.
        let own_ca_file = ctx.data_dir.join("pki").join("ca.crt");
        let mut own_ca = std::fs::read(&own_ca_file)
            .map_err(|e| format!("reading the platform's CA {}: {e}", own_ca_file.display()))?;
        if ca_file != own_ca_file {
            own_ca.push(b'\n');
            own_ca.extend_from_slice(&ca);
        }
        let api = Arc::new(terminal::Api::new(ctx.url.clone(), &own_ca)?);
        let gateway = Arc::new(gateway::Gateway {
            rp,
            session_max_age: self.config.session_max_age,
            backend: gateway::Backend::Local(server.clone()),
            serving_ca_pem: ctx.serving_ca_pem.clone(),
            mounted: ctx.peers.as_ref().map(|p| p.components()).unwrap_or_default(),
        });
        Ok(Mount {
            front: Some(
                gateway::front_routes(gateway.clone())
                    .merge(assets::routes(gateway.clone()))
                    .merge(terminal::routes(api)),
            ),
            around_api: Some(Box::new(move |api| api.merge(gateway::api_routes(gateway)))),
            ..Default::default()
        })
    }
}
