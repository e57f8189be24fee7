//! STUB (being replaced): certificates, TLS serving and the admin kubeconfig.
use std::path::{Path, PathBuf};
pub struct Pki { pub ca_cert_pem: String, pub admin_cert_pem: String, pub admin_key_pem: String }
pub struct TlsOptions { pub cert_file: Option<PathBuf>, pub key_file: Option<PathBuf>, pub client_ca_file: Option<PathBuf> }
pub fn ensure_pki(_dir: &Path, _hosts: &[String]) -> std::io::Result<Pki> { todo!() }
pub fn server_config(_pki: &Pki, _o: &TlsOptions) -> std::io::Result<std::sync::Arc<rustls::ServerConfig>> { todo!() }
pub async fn serve(_l: tokio::net::TcpListener, _c: std::sync::Arc<rustls::ServerConfig>, _app: axum::Router, _shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> { todo!() }
pub fn write_kubeconfig(_p: &Path, _url: &str, _ca: &str, _cert: &str, _key: &str) -> std::io::Result<()> { todo!() }
