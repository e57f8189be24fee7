//! Identity and access: who the platform's people are and what each may do.
//!
//! - [`component::Auth`] mounts `auth.tkestack.io/v1` and `authz.tkestack.io/v1` into an API
//!   server, with their subresources and the `/auth/` and `/oidc/` routes.
//! - [`bootstrap`]: tenant `default` and the platform administrator on first start.
//! - [`oidc`]: the platform's OpenID provider under `/oidc/`, ID tokens and API keys.
//! - [`authz`]: the Casbin model every request is authorized by, and the `/auth/` webhooks.
//! - [`ldap`]: tenants whose people live in an LDAP directory.
//! - [`upstream`]: tenants whose people log in at an upstream OpenID provider.
//! - [`subresources`]: the group's subresources (bindings, password changes, views of who is
//!   bound to what) and the User/Group views of a tenant's people.
//! - [`password`]: how passwords are stored (argon2id) and checked (also bcrypt hashes imported
//!   from TKEStack).
//!
//! A tenant is an IdentityProvider object (its name is the tenant id): type `tke` keeps its
//! users as LocalIdentity objects, `ldap` and `oidc` reach a directory or an upstream OpenID
//! provider. Whatever authenticated a caller, the API servers see one `apiserver::UserInfo`
//! with the tenant in extra `tenantid`, and authorize it by the same Casbin model.

pub mod apikeys;
pub mod authorize;
pub mod authz;
pub mod bootstrap;
pub mod component;
pub mod grants;
pub mod index;
pub mod keys;
pub mod ldap;
pub mod login_page;
pub mod oidc;
pub mod password;
pub mod people;
pub mod subresources;
pub mod upstream;

pub use component::Auth;
