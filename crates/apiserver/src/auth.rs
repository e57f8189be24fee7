//! STUB (being replaced): the authenticator chain and the authorizer hook.
use std::sync::Arc;
use crate::UserInfo;
pub trait Authenticator: Send + Sync {}
pub trait Authorizer: Send + Sync {}
#[derive(Default)] pub struct AuthenticatorChain;
impl AuthenticatorChain { pub fn new() -> Self { Self } pub fn push(&mut self, _a: Arc<dyn Authenticator>) {} }
pub struct X509Authenticator; impl Authenticator for X509Authenticator {}
pub struct TokenFileAuthenticator; impl Authenticator for TokenFileAuthenticator {}
impl TokenFileAuthenticator { pub fn load(_p: &std::path::Path) -> std::io::Result<Self> { todo!() } }
pub struct AllowAuthenticated; impl Authorizer for AllowAuthenticated {}
pub fn authenticate(r: axum::Router, _c: Arc<AuthenticatorChain>, _a: Arc<dyn Authorizer>) -> axum::Router { let _ = std::marker::PhantomData::<UserInfo>; r }
