//! Authorization of every request by the Casbin model of TKEStack (policies, roles and
//! bindings kept as Rule objects), and the `/auth/` webhooks business clusters call.
//!
//! - [`model`]: the model and its `keyMatchCustom`, patterns compiled once;
//! - [`attributes`]: a request's action and object, as TKEStack derives them;
//! - [`enforcer`]: the model evaluated through an index of the rows by subject and domain,
//!   updated row by row from the Rule objects;
//! - [`authorizer`]: the API server's authorizer (TKEStack's short-circuits, then the
//!   enforcer), and the batch decisions of `/auth/batchauthz`;
//! - [`catalogue`]: the default policies and categories each tenant starts with.

pub mod attributes;
pub mod authorizer;
pub mod catalogue;
pub mod enforcer;
pub mod model;

use std::sync::Arc;

use apiserver::{
    ApiServer, Mount,
    component::{MountContext, MountError},
};

pub use attributes::{TkeAttributes, convert};
pub use authorizer::{CasbinAuthorizer, NoTenantAdmins, TenantAdmins};
pub use enforcer::{Effect, Enforcer, Query, Row, RowError, Verdict};
pub use model::{DEFAULT_MODEL, key_match_custom};

/// Adds this part of the auth component to `mount`.
pub async fn mount(
    _server: &Arc<ApiServer>,
    _ctx: &MountContext,
    _config: &crate::component::Config,
    _mount: &mut Mount,
) -> Result<(), MountError> {
    Ok(())
}
