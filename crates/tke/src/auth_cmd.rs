//! Flags of the auth component (identity and access) for `tke up`.

use std::time::Duration;

#[derive(clap::Args, Clone, Debug)]
pub struct AuthArgs {
    /// The OpenID provider's issuer URL (what ID tokens carry in `iss`). Default: this
    /// server's URL + `/oidc`. Replicas behind one address must all be given that address's.
    #[arg(long, env = "TKE_OIDC_ISSUER_URL")]
    pub oidc_issuer_url: Option<String>,
    /// How long an ID token is valid, in seconds.
    #[arg(long, env = "TKE_ID_TOKEN_TTL_SECONDS", default_value_t = 3600)]
    pub id_token_ttl_seconds: u64,
}

/// The auth component as the flags set it up.
pub fn component(args: &AuthArgs) -> auth::Auth {
    auth::Auth::new(auth::component::Config {
        issuer: args.oidc_issuer_url.clone(),
        id_token_ttl: Duration::from_secs(args.id_token_ttl_seconds.clamp(60, 7 * 24 * 3600)),
        ..Default::default()
    })
}
