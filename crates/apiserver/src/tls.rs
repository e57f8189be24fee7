//! TLS for every tke-rs listener: the data directory's certificates (a CA, a serving certificate
//! and the admin client certificate, generated on first start and renewed before they expire),
//! the rustls server configuration (client certificates optional but verified), the HTTPS accept
//! loop (HTTP/1.1 and HTTP/2 with graceful shutdown) and the admin kubeconfig.

use std::{
    fmt, fs,
    io::{self, Write},
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    sync::{Arc, OnceLock},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{Router, extract::ConnectInfo};
use base64::Engine as _;
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};
use rustls::{
    RootCertStore, ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer},
    server::WebPkiClientVerifier,
};
use tokio::{net::TcpListener, sync::watch, task::JoinSet};
use tower::ServiceExt as _;

/// The CA lives ten years; renewing it invalidates every issued credential.
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Serving and client certificates live one year and are renewed on start when close to expiry.
const LEAF_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// A certificate expiring within this window is regenerated on start.
const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);
/// Certificates start a little in the past so clients with a slow clock accept them at once.
const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);
/// A client that has not finished its TLS handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long in-flight requests (watches are long) may run on after shutdown is requested.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(5);

/// Names always present in the serving certificate, so local clients verify it.
const LOCAL_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// The admin identity written into the admin kubeconfig.
pub const ADMIN_USER: &str = "admin";
pub const ADMIN_GROUP: &str = crate::resource::ADMIN_GROUP;

/// The certificates of one data directory, as PEM text. The keys are secrets: `Debug` hides them.
#[derive(Clone)]
pub struct Pki {
    /// DATA_DIR/pki.
    pub dir: PathBuf,
    pub ca_cert_pem: String,
    pub ca_key_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    pub admin_cert_pem: String,
    pub admin_key_pem: String,
}

impl fmt::Debug for Pki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pki").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl Pki {
    /// Issues a client certificate signed by this CA: the user is `common_name`, the groups are
    /// `organizations` (how Kubernetes reads X.509 identities). Returns (certificate, key) PEMs.
    pub fn issue_client_cert(
        &self,
        common_name: &str,
        organizations: &[&str],
        valid_for: Duration,
    ) -> io::Result<(String, String)> {
        let ca_key = KeyPair::from_pem(&self.ca_key_pem).map_err(|e| invalid_data(format!("the CA key: {e}")))?;
        let issuer = Issuer::from_ca_cert_pem(&self.ca_cert_pem, &ca_key)
            .map_err(|e| invalid_data(format!("the CA certificate: {e}")))?;
        let (cert, key) = client_cert(common_name, organizations, valid_for, &issuer)?;
        Ok((cert, key))
    }
}

/// Where the serving certificate and the trusted client CA come from; unset fields use the
/// generated PKI.
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Client certificates signed by this CA are accepted, in addition to those of the generated
    /// CA (which signs the admin kubeconfig, so that one keeps working).
    pub client_ca_file: Option<PathBuf>,
    /// The front proxy's CA (`--requestheader-client-ca-file`): its certificates are accepted
    /// on the connection, but only as a front proxy's (see [`crate::auth::RequestHeaderAuthenticator`]),
    /// never as users of their own.
    pub requestheader_client_ca_file: Option<PathBuf>,
}

/// A verifier of client certificate chains against the given CAs only (PEM), to tell apart,
/// after the listener accepted a certificate of any trusted CA, which CA issued it.
pub fn client_verifier(cas: &[(&str, &[u8])]) -> io::Result<Arc<dyn rustls::server::danger::ClientCertVerifier>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for (what, pem) in cas {
        let certs = rustls_pemfile::certs(&mut &pem[..])
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid_data(format!("{what}: {e}")))?;
        if certs.is_empty() {
            return Err(invalid_data(format!("{what}: no PEM certificate found")));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| invalid_data(format!("{what}: {e}")))?;
        }
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| invalid_data(format!("the client CA: {e}")))
}

/// Whether `verifier` accepts the chain `peer` (leaf first) now.
pub fn chain_verifies(verifier: &dyn rustls::server::danger::ClientCertVerifier, peer: &PeerCertificates) -> bool {
    let Some((leaf, intermediates)) = peer.chain().split_first() else { return false };
    verifier.verify_client_cert(leaf, intermediates, rustls::pki_types::UnixTime::now()).is_ok()
}

fn invalid_data(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn invalid_input(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.into())
}

fn rcgen_err(what: &str) -> impl FnOnce(rcgen::Error) -> io::Error + '_ {
    move |e| io::Error::other(format!("{what}: {e}"))
}

/// Prepares DATA_DIR/pki: reuses the files there, generating what is missing, invalid for the
/// requested `hosts` or close to expiry.
pub fn ensure_pki(data_dir: &Path, hosts: &[String]) -> io::Result<Pki> {
    let dir = data_dir.join("pki");
    fs::create_dir_all(&dir).map_err(|e| io::Error::new(e.kind(), format!("creating {}: {e}", dir.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
    }
    let now = SystemTime::now();
    let renew_deadline = unix_seconds(now + RENEW_BEFORE);

    // The CA.
    let ca_cert_path = dir.join("ca.crt");
    let ca_key_path = dir.join("ca.key");
    let existing_ca = match (read_optional(&ca_cert_path)?, read_optional(&ca_key_path)?) {
        (Some(cert), Some(key)) => {
            let info = CertInfo::parse(&cert).map_err(|e| invalid_data(format!("{}: {e}", ca_cert_path.display())))?;
            let pair = KeyPair::from_pem(&key).map_err(|e| invalid_data(format!("{}: {e}", ca_key_path.display())))?;
            if info.public_key != pair.public_key_raw() {
                return Err(invalid_data(format!(
                    "{} does not belong to {}",
                    ca_key_path.display(),
                    ca_cert_path.display()
                )));
            }
            if info.not_after < renew_deadline {
                tracing::warn!(path = %ca_cert_path.display(), "the CA expires within 30 days: generating a new CA and new certificates");
                None
            } else {
                Some((cert, key))
            }
        }
        (None, None) => None,
        (Some(_), None) => {
            return Err(invalid_data(format!(
                "{} exists but {} is missing: restore the key, or remove both to generate a new CA",
                ca_cert_path.display(),
                ca_key_path.display()
            )));
        }
        (None, Some(_)) => {
            return Err(invalid_data(format!(
                "{} exists but {} is missing: restore the certificate, or remove both to generate a new CA",
                ca_key_path.display(),
                ca_cert_path.display()
            )));
        }
    };
    let ca_is_new = existing_ca.is_none();
    let (ca_cert_pem, ca_key_pem) = match existing_ca {
        Some(pair) => pair,
        None => {
            let (cert, key) = new_ca(now)?;
            write_file(&ca_key_path, key.as_bytes(), 0o600)?;
            write_file(&ca_cert_path, cert.as_bytes(), 0o644)?;
            tracing::info!(path = %ca_cert_path.display(), "generated a new CA");
            (cert, key)
        }
    };
    let ca_info = CertInfo::parse(&ca_cert_pem).map_err(|e| invalid_data(e.to_string()))?;
    let ca_key = KeyPair::from_pem(&ca_key_pem).map_err(rcgen_err("the CA key"))?;
    let issuer = Issuer::from_ca_cert_pem(&ca_cert_pem, &ca_key).map_err(rcgen_err("the CA certificate"))?;

    // The serving certificate.
    let wanted = serving_names(hosts)?;
    let server_cert_path = dir.join("server.crt");
    let server_key_path = dir.join("server.key");
    let reusable_server = if ca_is_new {
        None
    } else {
        reusable_leaf(&server_cert_path, &server_key_path, &ca_info, renew_deadline, |info| {
            wanted.iter().all(|name| info.has_san(name))
        })?
    };
    let (server_cert_pem, server_key_pem) = match reusable_server {
        Some(pair) => pair,
        None => {
            let (cert, key) = server_cert(&wanted, now, &issuer)?;
            write_file(&server_key_path, key.as_bytes(), 0o600)?;
            write_file(&server_cert_path, cert.as_bytes(), 0o644)?;
            tracing::info!(path = %server_cert_path.display(), names = ?wanted.iter().map(ToString::to_string).collect::<Vec<_>>(), "generated the serving certificate");
            (cert, key)
        }
    };

    // The admin client certificate.
    let admin_cert_path = dir.join("admin.crt");
    let admin_key_path = dir.join("admin.key");
    let reusable_admin = if ca_is_new {
        None
    } else {
        reusable_leaf(&admin_cert_path, &admin_key_path, &ca_info, renew_deadline, |info| {
            info.common_name.as_deref() == Some(ADMIN_USER) && info.organizations == [ADMIN_GROUP]
        })?
    };
    let (admin_cert_pem, admin_key_pem) = match reusable_admin {
        Some(pair) => pair,
        None => {
            let (cert, key) = client_cert(ADMIN_USER, &[ADMIN_GROUP], LEAF_VALIDITY, &issuer)?;
            write_file(&admin_key_path, key.as_bytes(), 0o600)?;
            write_file(&admin_cert_path, cert.as_bytes(), 0o644)?;
            tracing::info!(path = %admin_cert_path.display(), "generated the admin client certificate");
            (cert, key)
        }
    };

    Ok(Pki { dir, ca_cert_pem, ca_key_pem, server_cert_pem, server_key_pem, admin_cert_pem, admin_key_pem })
}

/// A name the serving certificate must carry.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ServingName {
    Ip(IpAddr),
    Dns(String),
}

impl fmt::Display for ServingName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServingName::Ip(ip) => write!(f, "{ip}"),
            ServingName::Dns(d) => f.write_str(d),
        }
    }
}

/// The local names plus `hosts` (IPv6 may come in brackets), deduplicated; DNS names lower-cased.
fn serving_names(hosts: &[String]) -> io::Result<Vec<ServingName>> {
    let mut out: Vec<ServingName> = Vec::new();
    for raw in LOCAL_HOSTS.iter().copied().chain(hosts.iter().map(String::as_str)) {
        let host = raw.trim();
        if host.is_empty() {
            continue;
        }
        let unbracketed = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        let name = match unbracketed.parse::<IpAddr>() {
            Ok(ip) => ServingName::Ip(ip),
            Err(_) => {
                let dns = host.to_ascii_lowercase();
                // A wildcard may stand for the first label only.
                let valid = dns.len() <= 253
                    && dns.split('.').enumerate().all(|(i, label)| {
                        (i == 0 && label == "*") || apimachinery::validation::is_dns1123_label(label)
                    });
                if !valid {
                    return Err(invalid_input(format!(
                        "{host:?} is neither an IP address nor a DNS name, so it cannot go into the serving certificate"
                    )));
                }
                ServingName::Dns(dns)
            }
        };
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok(out)
}

/// What we check in an existing certificate.
struct CertInfo {
    not_after: i64,
    public_key: Vec<u8>,
    subject_key_id: Option<Vec<u8>>,
    authority_key_id: Option<Vec<u8>>,
    subject_raw: Vec<u8>,
    issuer_raw: Vec<u8>,
    common_name: Option<String>,
    organizations: Vec<String>,
    dns_names: Vec<String>,
    ips: Vec<IpAddr>,
}

impl CertInfo {
    fn parse(pem: &str) -> Result<Self, CertError> {
        let der = first_cert(pem)?;
        Self::from_der(&der)
    }

    fn from_der(der: &[u8]) -> Result<Self, CertError> {
        use x509_parser::extensions::{GeneralName, ParsedExtension};
        let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| CertError::X509(e.to_string()))?;
        let mut info = CertInfo {
            not_after: cert.validity().not_after.timestamp(),
            public_key: cert.public_key().subject_public_key.data.to_vec(),
            subject_key_id: None,
            authority_key_id: None,
            subject_raw: cert.subject().as_raw().to_vec(),
            issuer_raw: cert.issuer().as_raw().to_vec(),
            common_name: cert.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()).map(str::to_string),
            organizations: cert
                .subject()
                .iter_organization()
                .filter_map(|o| o.as_str().ok())
                .map(str::to_string)
                .collect(),
            dns_names: vec![],
            ips: vec![],
        };
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(id) => info.subject_key_id = Some(id.0.to_vec()),
                ParsedExtension::AuthorityKeyIdentifier(aki) => {
                    info.authority_key_id = aki.key_identifier.as_ref().map(|id| id.0.to_vec())
                }
                ParsedExtension::SubjectAlternativeName(san) => {
                    for name in &san.general_names {
                        match name {
                            GeneralName::DNSName(d) => info.dns_names.push(d.to_ascii_lowercase()),
                            GeneralName::IPAddress(bytes) => {
                                if let Ok(b) = <[u8; 4]>::try_from(*bytes) {
                                    info.ips.push(IpAddr::from(b));
                                } else if let Ok(b) = <[u8; 16]>::try_from(*bytes) {
                                    info.ips.push(IpAddr::from(b));
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(info)
    }

    fn has_san(&self, name: &ServingName) -> bool {
        match name {
            ServingName::Ip(ip) => self.ips.contains(ip),
            ServingName::Dns(d) => self.dns_names.iter().any(|n| n == d),
        }
    }

    /// Whether `ca` issued this certificate (by key identifier when both carry one, else by name).
    fn issued_by(&self, ca: &CertInfo) -> bool {
        match (&self.authority_key_id, &ca.subject_key_id) {
            (Some(aki), Some(ski)) => aki == ski && self.issuer_raw == ca.subject_raw,
            _ => self.issuer_raw == ca.subject_raw,
        }
    }
}

/// Why a certificate cannot be read.
#[derive(Debug, thiserror::Error)]
enum CertError {
    #[error("no PEM certificate found")]
    NoPem,
    #[error("unreadable PEM: {0}")]
    Pem(io::Error),
    #[error("not a valid X.509 certificate: {0}")]
    X509(String),
}

fn first_cert(pem: &str) -> Result<CertificateDer<'static>, CertError> {
    rustls_pemfile::certs(&mut pem.as_bytes()).next().ok_or(CertError::NoPem)?.map_err(CertError::Pem)
}

fn unix_seconds(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn read_optional(path: &Path) -> io::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io::Error::new(e.kind(), format!("reading {}: {e}", path.display()))),
    }
}

/// An existing leaf certificate and key, if both are there, match, were issued by the CA, do not
/// expire soon and pass `fits`. Anything else (including unreadable files) means "generate anew":
/// leaves are ours to replace.
fn reusable_leaf(
    cert_path: &Path,
    key_path: &Path,
    ca: &CertInfo,
    renew_deadline: i64,
    fits: impl Fn(&CertInfo) -> bool,
) -> io::Result<Option<(String, String)>> {
    let (Some(cert), Some(key)) = (read_optional(cert_path)?, read_optional(key_path)?) else {
        return Ok(None);
    };
    let Ok(info) = CertInfo::parse(&cert) else {
        tracing::warn!(path = %cert_path.display(), "unreadable certificate: generating a new one");
        return Ok(None);
    };
    let key_matches = KeyPair::from_pem(&key).is_ok_and(|pair| pair.public_key_raw() == info.public_key.as_slice());
    if !key_matches || !info.issued_by(ca) || info.not_after < renew_deadline || !fits(&info) {
        return Ok(None);
    }
    Ok(Some((cert, key)))
}

fn random_serial() -> SerialNumber {
    use rand::Rng;
    let mut bytes = [0u8; 16];
    rand::rng().fill(&mut bytes[..]);
    // A positive INTEGER: clear the top bit.
    bytes[0] &= 0x7f;
    SerialNumber::from_slice(&bytes)
}

fn base_params(
    common_name: &str,
    organizations: &[&str],
    not_before: SystemTime,
    valid_for: Duration,
) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    for o in organizations {
        dn.push(DnType::OrganizationName, *o);
    }
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.not_before = (not_before - CLOCK_SKEW).into();
    params.not_after = (not_before + valid_for).into();
    params.serial_number = Some(random_serial());
    params.use_authority_key_identifier_extension = true;
    params
}

fn ca_params(now: SystemTime) -> CertificateParams {
    let mut params = base_params("tke-ca", &["tke-rs"], now, CA_VALIDITY);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = false;
    params
}

fn new_ca(now: SystemTime) -> io::Result<(String, String)> {
    let key = KeyPair::generate().map_err(rcgen_err("generating the CA key"))?;
    let cert = ca_params(now).self_signed(&key).map_err(rcgen_err("signing the CA certificate"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn server_cert(names: &[ServingName], now: SystemTime, issuer: &Issuer<'_, &KeyPair>) -> io::Result<(String, String)> {
    let mut params = base_params("tke-apiserver", &[], now, LEAF_VALIDITY);
    for name in names {
        params.subject_alt_names.push(match name {
            ServingName::Ip(ip) => SanType::IpAddress(*ip),
            ServingName::Dns(d) => {
                SanType::DnsName(d.clone().try_into().map_err(|e| invalid_input(format!("{d:?}: {e}")))?)
            }
        });
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().map_err(rcgen_err("generating the serving key"))?;
    let cert = params.signed_by(&key, issuer).map_err(rcgen_err("signing the serving certificate"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn client_cert(
    common_name: &str,
    organizations: &[&str],
    valid_for: Duration,
    issuer: &Issuer<'_, &KeyPair>,
) -> io::Result<(String, String)> {
    if common_name.is_empty() {
        return Err(invalid_input("a client certificate needs a common name (the user name)"));
    }
    let mut params = base_params(common_name, &[], SystemTime::now(), valid_for);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().map_err(rcgen_err("generating a client key"))?;
    let cert = params.signed_by(&key, issuer).map_err(rcgen_err("signing a client certificate"))?;
    // rcgen keeps one value per attribute type, but Kubernetes reads every O as a group: put the
    // full subject in and sign again.
    let der = der::replace_subject(cert.der(), &der::subject(common_name, organizations), issuer.key())
        .map_err(|e| io::Error::other(format!("building the client certificate: {e}")))?;
    Ok((der::pem("CERTIFICATE", &der), key.serialize_pem()))
}

/// Just enough DER to rewrite a certificate's subject: rcgen writes the certificate, we swap the
/// subject for one with repeated attributes and sign the new TBSCertificate with the same key.
mod der {
    use base64::Engine as _;

    /// (the whole element, its contents, the rest of the input).
    type Split<'a> = (&'a [u8], &'a [u8], &'a [u8]);

    /// Why a certificate's subject cannot be replaced.
    #[derive(Debug, thiserror::Error)]
    pub enum DerError {
        #[error("truncated DER")]
        Truncated,
        #[error("unsupported DER length")]
        UnsupportedLength,
        #[error("a certificate has three parts")]
        NotThreeParts,
        #[error("the certificate has no subject")]
        NoSubject,
        #[error(transparent)]
        Sign(rcgen::Error),
    }

    /// Splits the first element off `input`.
    fn element(input: &[u8]) -> Result<Split<'_>, DerError> {
        let first_len = *input.get(1).ok_or(DerError::Truncated)? as usize;
        let (header, len) = if first_len < 0x80 {
            (2, first_len)
        } else {
            let n = first_len & 0x7f;
            if n == 0 || n > 4 {
                return Err(DerError::UnsupportedLength);
            }
            let bytes = input.get(2..2 + n).ok_or(DerError::Truncated)?;
            (2 + n, bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize))
        };
        let end = header.checked_add(len).filter(|e| *e <= input.len()).ok_or(DerError::Truncated)?;
        Ok((&input[..end], &input[header..end], &input[end..]))
    }

    /// The elements of a constructed value's contents.
    fn children(mut contents: &[u8]) -> Result<Vec<&[u8]>, DerError> {
        let mut out = Vec::new();
        while !contents.is_empty() {
            let (whole, _, rest) = element(contents)?;
            out.push(whole);
            contents = rest;
        }
        Ok(out)
    }

    pub fn wrap(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = contents.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend(bytes);
        }
        out.extend_from_slice(contents);
        out
    }

    const OID_ORGANIZATION: [u8; 5] = [0x06, 0x03, 0x55, 0x04, 0x0a];
    const OID_COMMON_NAME: [u8; 5] = [0x06, 0x03, 0x55, 0x04, 0x03];

    /// `O=<org>` for each organization, then `CN=<common_name>`, as UTF8Strings.
    pub fn subject(common_name: &str, organizations: &[&str]) -> Vec<u8> {
        let rdn = |oid: &[u8], value: &str| {
            let mut atv = oid.to_vec();
            atv.extend(wrap(0x0c, value.as_bytes()));
            wrap(0x31, &wrap(0x30, &atv))
        };
        let mut name = Vec::new();
        for o in organizations {
            name.extend(rdn(&OID_ORGANIZATION, o));
        }
        name.extend(rdn(&OID_COMMON_NAME, common_name));
        wrap(0x30, &name)
    }

    /// `cert` with its subject replaced by `subject`, signed by `key` (the key that signed `cert`).
    pub fn replace_subject(cert: &[u8], subject: &[u8], key: &impl rcgen::SigningKey) -> Result<Vec<u8>, DerError> {
        let (_, cert_contents, _) = element(cert)?;
        let parts = children(cert_contents)?;
        let [tbs, algorithm, _signature] = parts.as_slice() else {
            return Err(DerError::NotThreeParts);
        };
        let (_, tbs_contents, _) = element(tbs)?;
        let mut fields = children(tbs_contents)?;
        // version [0], serial, signature algorithm, issuer, validity, subject, ...
        let subject_index = if fields.first().is_some_and(|f| f[0] == 0xa0) { 5 } else { 4 };
        let slot = fields.get_mut(subject_index).ok_or(DerError::NoSubject)?;
        *slot = subject;
        let new_tbs = wrap(0x30, &fields.concat());
        let signature = key.sign(&new_tbs).map_err(DerError::Sign)?;
        let mut bits = vec![0u8];
        bits.extend(signature);
        let mut body = new_tbs;
        body.extend_from_slice(algorithm);
        body.extend(wrap(0x03, &bits));
        Ok(wrap(0x30, &body))
    }

    pub fn pem(label: &str, der: &[u8]) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let mut out = format!("-----BEGIN {label}-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            out.push('\n');
        }
        out.push_str(&format!("-----END {label}-----\n"));
        out
    }
}

/// Writes `path` atomically (temporary file, fsync, rename) with `mode`, so a crash never leaves
/// a half-written key behind.
fn write_file(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let ctx = |e: io::Error| io::Error::new(e.kind(), format!("writing {}: {e}", path.display()));
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(ctx)?;
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.tmp"));
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let result = (|| {
        let mut f = opts.open(&tmp)?;
        // The mode given to open only applies to new files; a stale temporary keeps its own.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        f.write_all(contents)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(ctx)
}

fn load_certs(path: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
    let pem = fs::read(path).map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", path.display())))?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid_data(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(invalid_data(format!("{}: no PEM certificate found", path.display())));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> io::Result<PrivateKeyDer<'static>> {
    let pem = fs::read(path).map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", path.display())))?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| invalid_data(format!("{}: {e}", path.display())))?
        .ok_or_else(|| invalid_data(format!("{}: no PEM private key found", path.display())))
}

fn pem_certs(pem: &str, what: &str) -> io::Result<Vec<CertificateDer<'static>>> {
    let certs = rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid_data(format!("{what}: {e}")))?;
    if certs.is_empty() {
        return Err(invalid_data(format!("{what}: no PEM certificate found")));
    }
    Ok(certs)
}

/// The rustls configuration of an API listener: the serving certificate of `opts` or the
/// generated one; client certificates optional but, when sent, verified against the generated
/// CA and `opts.client_ca_file`; ALPN `h2` and `http/1.1`.
pub fn server_config(pki: &Pki, opts: &TlsOptions) -> io::Result<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (chain, key) = match (&opts.cert_file, &opts.key_file) {
        (Some(cert), Some(key)) => (load_certs(cert)?, load_key(key)?),
        (None, None) => {
            let key = rustls_pemfile::private_key(&mut pki.server_key_pem.as_bytes())
                .map_err(|e| invalid_data(format!("the generated serving key: {e}")))?
                .ok_or_else(|| invalid_data("the generated serving key: no PEM private key found"))?;
            (pem_certs(&pki.server_cert_pem, "the generated serving certificate")?, key)
        }
        _ => return Err(invalid_input("the TLS certificate file and private key file must be given together")),
    };

    let mut roots = RootCertStore::empty();
    let mut add = |certs: Vec<CertificateDer<'static>>, what: &str| -> io::Result<()> {
        for cert in certs {
            roots.add(cert).map_err(|e| invalid_data(format!("{what}: {e}")))?;
        }
        Ok(())
    };
    add(pem_certs(&pki.ca_cert_pem, "the generated CA")?, "the generated CA")?;
    for path in opts.client_ca_file.iter().chain(&opts.requestheader_client_ca_file) {
        add(load_certs(path)?, &path.display().to_string())?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| invalid_data(format!("the client CA: {e}")))?;

    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| io::Error::other(format!("TLS protocol versions: {e}")))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| invalid_data(format!("the serving certificate and key: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The client certificate chain a connection presented and rustls verified (leaf first), put
/// into every request's extensions by [`serve`]. Absent when the client sent no certificate.
#[derive(Clone)]
pub struct PeerCertificates(Arc<PeerInner>);

struct PeerInner {
    chain: Vec<CertificateDer<'static>>,
    /// The leaf's identity, parsed once per connection rather than once per request.
    identity: OnceLock<Option<CertIdentity>>,
}

/// Who a client certificate names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertIdentity {
    pub common_name: String,
    pub organizations: Vec<String>,
    /// Unix seconds; checked per request because a connection may outlive its certificate.
    pub not_after: i64,
}

impl fmt::Debug for PeerCertificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerCertificates")
            .field("len", &self.0.chain.len())
            .field("identity", &self.identity())
            .finish()
    }
}

impl PeerCertificates {
    pub fn new(chain: Vec<CertificateDer<'static>>) -> Self {
        Self(Arc::new(PeerInner { chain, identity: OnceLock::new() }))
    }

    /// The chain, leaf first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.0.chain
    }

    /// The leaf's common name and organizations, or None if it has no common name or cannot be read.
    pub fn identity(&self) -> Option<&CertIdentity> {
        self.0
            .identity
            .get_or_init(|| {
                let leaf = self.0.chain.first()?;
                let info = CertInfo::from_der(leaf).ok()?;
                let common_name = info.common_name.filter(|cn| !cn.is_empty())?;
                Some(CertIdentity { common_name, organizations: info.organizations, not_after: info.not_after })
            })
            .as_ref()
    }
}

/// Serves `app` over TLS on `listener` until `shutdown` resolves, then lets in-flight requests
/// finish for at most [`DEFAULT_DRAIN`].
pub async fn serve(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_with_drain(listener, config, app, shutdown, DEFAULT_DRAIN).await
}

/// [`serve`] with an explicit drain bound.
///
/// Each connection is HTTP/1.1 (with upgrades) or HTTP/2, whichever the client speaks; its
/// verified client chain ([`PeerCertificates`]) and address (`ConnectInfo<SocketAddr>`) are
/// put into every request's extensions. Failed handshakes are logged at debug level only.
pub async fn serve_with_drain(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    drain: Duration,
) -> io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Idle keep-alive connections are closed after a minute without a new request header.
    builder.http1().timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(60));
    // Clients such as kube-rs multiplex many watches over one connection.
    builder.http2().timer(TokioTimer::new()).max_concurrent_streams(1000).keep_alive_interval(Duration::from_secs(30));
    let builder = Arc::new(builder);

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let shutdown = shutdown;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, remote) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Usually one aborted connection; when out of file descriptors, pause
                        // briefly instead of spinning.
                        tracing::debug!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                connections.spawn(connection(stream, remote, acceptor.clone(), builder.clone(), app.clone(), stop_rx.clone()));
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(drain, async { while connections.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::info!(open = connections.len(), "closing connections still busy after the drain period");
        connections.shutdown().await;
    }
    Ok(())
}

async fn connection(
    stream: tokio::net::TcpStream,
    remote: SocketAddr,
    acceptor: tokio_rustls::TlsAcceptor,
    builder: Arc<auto::Builder<TokioExecutor>>,
    app: Router,
    mut stop: watch::Receiver<bool>,
) {
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(%remote, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%remote, "TLS handshake timed out");
            return;
        }
    };
    let peer = tls.get_ref().1.peer_certificates().filter(|c| !c.is_empty()).map(|c| PeerCertificates::new(c.to_vec()));
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        if let Some(p) = &peer {
            req.extensions_mut().insert(p.clone());
        }
        req.extensions_mut().insert(ConnectInfo(remote));
        app.clone().oneshot(req)
    });
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%remote, error = %e, "connection ended with an error");
            }
            return;
        }
        _ = stop.wait_for(|stopping| *stopping) => conn.as_mut().graceful_shutdown(),
    }
    if let Err(e) = conn.await {
        tracing::debug!(%remote, error = %e, "connection ended with an error during shutdown");
    }
}

/// Writes a kubeconfig (context `tke`, cluster `tke`, user `admin`) with the CA, client
/// certificate and key embedded, readable by its owner only.
pub fn write_kubeconfig(path: &Path, url: &str, ca_pem: &str, cert_pem: &str, key_pem: &str) -> io::Result<()> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "tke", "cluster": {"server": url, "certificate-authority-data": b64(ca_pem)}}],
        "users": [{"name": ADMIN_USER, "user": {"client-certificate-data": b64(cert_pem), "client-key-data": b64(key_pem)}}],
        "contexts": [{"name": "tke", "context": {"cluster": "tke", "user": ADMIN_USER}}],
        "current-context": "tke",
        "preferences": {},
    });
    let yaml =
        serde_yaml_ng::to_string(&config).map_err(|e| io::Error::other(format!("encoding the kubeconfig: {e}")))?;
    write_file(path, yaml.as_bytes(), 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn generates_pki_with_expected_names_and_modes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = ensure_pki(dir.path(), &["tke.example.com".into(), "10.0.0.7".into()]).expect("pki");
        let pki_dir = dir.path().join("pki");
        for f in ["ca.crt", "ca.key", "server.crt", "server.key", "admin.crt", "admin.key"] {
            assert!(pki_dir.join(f).is_file(), "{f} missing");
        }
        for f in ["ca.key", "server.key", "admin.key"] {
            assert_eq!(mode(&pki_dir.join(f)), 0o600, "{f}");
        }
        let ca = CertInfo::parse(&pki.ca_cert_pem).expect("ca");
        let ten_years = unix_seconds(SystemTime::now() + CA_VALIDITY - Duration::from_secs(3600));
        assert!(ca.not_after >= ten_years);

        let server = CertInfo::parse(&pki.server_cert_pem).expect("server");
        assert!(server.issued_by(&ca));
        assert_eq!(server.dns_names, vec!["localhost", "tke.example.com"]);
        let ips: Vec<String> = server.ips.iter().map(ToString::to_string).collect();
        assert_eq!(ips, vec!["127.0.0.1", "::1", "10.0.0.7"]);

        let admin = CertInfo::parse(&pki.admin_cert_pem).expect("admin");
        assert!(admin.issued_by(&ca));
        assert_eq!(admin.common_name.as_deref(), Some("admin"));
        assert_eq!(admin.organizations, vec!["system:masters"]);
        assert!(!format!("{pki:?}").contains("PRIVATE KEY"), "Debug must not print keys");
    }

    #[test]
    fn restart_reuses_files_and_adds_missing_hosts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = ensure_pki(dir.path(), &[]).expect("pki");
        let again = ensure_pki(dir.path(), &[]).expect("pki again");
        assert_eq!(first.ca_cert_pem, again.ca_cert_pem);
        assert_eq!(first.server_cert_pem, again.server_cert_pem);
        assert_eq!(first.admin_key_pem, again.admin_key_pem);

        let with_host = ensure_pki(dir.path(), &["[fd00::1]".into(), "API.Example.com".into()]).expect("new host");
        assert_eq!(first.ca_cert_pem, with_host.ca_cert_pem, "the CA stays");
        assert_eq!(first.admin_cert_pem, with_host.admin_cert_pem, "the admin certificate stays");
        assert_ne!(first.server_cert_pem, with_host.server_cert_pem, "the serving certificate is reissued");
        let server = CertInfo::parse(&with_host.server_cert_pem).expect("server");
        assert!(server.has_san(&ServingName::Dns("api.example.com".into())));
        assert!(server.has_san(&ServingName::Ip("fd00::1".parse().expect("ip"))));
    }

    #[test]
    fn expiring_or_foreign_leaves_are_renewed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = ensure_pki(dir.path(), &[]).expect("pki");
        // A serving certificate with ten days left.
        let ca_key = KeyPair::from_pem(&pki.ca_key_pem).expect("ca key");
        let issuer = Issuer::from_ca_cert_pem(&pki.ca_cert_pem, &ca_key).expect("issuer");
        let names = serving_names(&[]).expect("names");
        let mut params = base_params("tke-apiserver", &[], SystemTime::now(), Duration::from_secs(10 * 24 * 3600));
        params.subject_alt_names = names
            .iter()
            .map(|n| match n {
                ServingName::Ip(ip) => SanType::IpAddress(*ip),
                ServingName::Dns(d) => SanType::DnsName(d.clone().try_into().expect("dns")),
            })
            .collect();
        let key = KeyPair::generate().expect("key");
        let short = params.signed_by(&key, &issuer).expect("sign").pem();
        write_file(&pki.dir.join("server.crt"), short.as_bytes(), 0o644).expect("write");
        write_file(&pki.dir.join("server.key"), key.serialize_pem().as_bytes(), 0o600).expect("write");
        // An admin certificate from another CA.
        let other = tempfile::tempdir().expect("tempdir");
        let foreign = ensure_pki(other.path(), &[]).expect("other pki");
        write_file(&pki.dir.join("admin.crt"), foreign.admin_cert_pem.as_bytes(), 0o644).expect("write");
        write_file(&pki.dir.join("admin.key"), foreign.admin_key_pem.as_bytes(), 0o600).expect("write");

        let renewed = ensure_pki(dir.path(), &[]).expect("renewed");
        assert_ne!(renewed.server_cert_pem, short);
        let ca = CertInfo::parse(&renewed.ca_cert_pem).expect("ca");
        assert!(
            CertInfo::parse(&renewed.server_cert_pem).expect("server").not_after
                > unix_seconds(SystemTime::now() + RENEW_BEFORE)
        );
        assert!(CertInfo::parse(&renewed.admin_cert_pem).expect("admin").issued_by(&ca));
        assert_ne!(renewed.admin_cert_pem, foreign.admin_cert_pem);
    }

    #[test]
    fn half_a_ca_is_an_error_not_a_silent_replacement() {
        let dir = tempfile::tempdir().expect("tempdir");
        ensure_pki(dir.path(), &[]).expect("pki");
        fs::remove_file(dir.path().join("pki/ca.key")).expect("rm");
        let err = ensure_pki(dir.path(), &[]).expect_err("must fail");
        assert!(err.to_string().contains("ca.key is missing"), "{err}");
    }

    #[test]
    fn bad_hosts_are_rejected_with_the_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = ensure_pki(dir.path(), &["bad host!".into()]).expect_err("must fail");
        assert!(err.to_string().contains("\"bad host!\""), "{err}");
    }

    #[test]
    fn server_config_uses_given_files_or_generated_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = ensure_pki(dir.path(), &[]).expect("pki");
        let config = server_config(&pki, &TlsOptions::default()).expect("config");
        assert_eq!(config.alpn_protocols, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);

        let opts = TlsOptions {
            cert_file: Some(pki.dir.join("server.crt")),
            key_file: None,
            client_ca_file: None,
            ..Default::default()
        };
        assert!(server_config(&pki, &opts).is_err(), "a certificate without a key is refused");
        let opts = TlsOptions {
            cert_file: Some(pki.dir.join("server.crt")),
            key_file: Some(pki.dir.join("server.key")),
            client_ca_file: Some(pki.dir.join("ca.crt")),
            ..Default::default()
        };
        server_config(&pki, &opts).expect("explicit files");
        let opts = TlsOptions {
            cert_file: Some(pki.dir.join("server.crt")),
            key_file: Some(pki.dir.join("admin.key")),
            client_ca_file: None,
            ..Default::default()
        };
        assert!(server_config(&pki, &opts).is_err(), "a key not matching the certificate is refused");
        let opts = TlsOptions { client_ca_file: Some(dir.path().join("missing.crt")), ..Default::default() };
        let err = server_config(&pki, &opts).expect_err("missing CA file");
        assert!(err.to_string().contains("missing.crt"), "{err}");
    }

    #[test]
    fn peer_identity_comes_from_the_leaf() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = ensure_pki(dir.path(), &[]).expect("pki");
        let (cert, _key) =
            pki.issue_client_cert("alice", &["dev", "tenant:t1"], Duration::from_secs(3600)).expect("issue");
        let peer = PeerCertificates::new(vec![first_cert(&cert).expect("der")]);
        let id = peer.identity().expect("identity");
        assert_eq!(id.common_name, "alice");
        assert_eq!(id.organizations, vec!["dev", "tenant:t1"]);
        assert!(PeerCertificates::new(vec![CertificateDer::from(vec![1u8, 2, 3])]).identity().is_none());
    }

    #[test]
    fn kubeconfig_embeds_credentials_privately() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/admin.kubeconfig");
        write_kubeconfig(&path, "https://127.0.0.1:6443", "CA", "CERT", "KEY").expect("write");
        assert_eq!(mode(&path), 0o600);
        let v: serde_json::Value = serde_yaml_ng::from_str(&fs::read_to_string(&path).expect("read")).expect("yaml");
        assert_eq!(v["current-context"], "tke");
        assert_eq!(v["contexts"][0]["context"]["cluster"], "tke");
        assert_eq!(v["contexts"][0]["context"]["user"], "admin");
        assert_eq!(v["clusters"][0]["cluster"]["server"], "https://127.0.0.1:6443");
        assert_eq!(v["clusters"][0]["cluster"]["certificate-authority-data"], "Q0E=");
        assert_eq!(v["users"][0]["user"]["client-certificate-data"], "Q0VSVA==");
        assert_eq!(v["users"][0]["user"]["client-key-data"], "S0VZ");
    }
}
