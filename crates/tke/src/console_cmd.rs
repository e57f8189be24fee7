//! Flags of the console component (the web console and its gateway) for `tke up`.

use std::{path::PathBuf, time::Duration};

#[derive(clap::Args, Clone, Debug)]
pub struct ConsoleArgs {
    /// Serve the web console at `/tkestack` (and the gateway's routes) on the same listener.
    #[arg(long, env = "TKE_CONSOLE", default_value_t = true, action = clap::ArgAction::Set)]
    pub console: bool,
    /// The OpenID provider the console logs users in with. Default: the platform's own
    /// (`--oidc-issuer-url`, or this server's URL + `/oidc`).
    #[arg(long, env = "TKE_CONSOLE_OIDC_ISSUER_URL")]
    pub console_oidc_issuer_url: Option<String>,
    /// The console's client id at that provider (a public client allowed
    /// `https://<host>/callback` as redirect URI).
    #[arg(long, env = "TKE_CONSOLE_OIDC_CLIENT_ID", default_value = "default")]
    pub console_oidc_client_id: String,
    /// CA bundle that signed the provider's certificate. Default: the platform's generated CA.
    #[arg(long, env = "TKE_CONSOLE_OIDC_CA_FILE")]
    pub console_oidc_ca_file: Option<PathBuf>,
    /// How long a browser stays logged in without logging in again, in seconds.
    #[arg(long, env = "TKE_CONSOLE_SESSION_MAX_AGE_SECONDS", default_value_t = 12 * 3600)]
    pub console_session_max_age_seconds: u64,
}

/// The console component as the flags set it up; `None` when turned off.
pub fn component(args: &ConsoleArgs, platform_issuer: Option<&str>) -> Option<console::Console> {
    args.console.then(|| console::Console {
        config: console::Config {
            issuer: args.console_oidc_issuer_url.clone().or_else(|| platform_issuer.map(str::to_string)),
            client_id: args.console_oidc_client_id.clone(),
            issuer_ca_file: args.console_oidc_ca_file.clone(),
            session_max_age: Duration::from_secs(args.console_session_max_age_seconds.clamp(300, 30 * 24 * 3600)),
        },
    })
}
