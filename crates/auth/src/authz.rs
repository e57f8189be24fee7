//! Authorization of every request by the Casbin model of TKEStack (policies, roles and
//! bindings kept as Rule objects), and the `/auth/` webhooks business clusters call.

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
