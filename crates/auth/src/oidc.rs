//! The platform's own OpenID provider under `/oidc/`, its signing keys, and the
//! authenticators of the tokens it issues (ID tokens, API keys).

use std::sync::Arc;

use apiserver::{
    ApiServer, Mount,
    component::{MountContext, MountError},
};

/// Adds this part of the auth component to `mount`.
pub async fn mount(
    _server: &Arc<ApiServer>,
    _ctx: &MountContext,
    _config: &crate::component::Config,
    _mount: &mut Mount,
) -> Result<(), MountError> {
    Ok(())
}
