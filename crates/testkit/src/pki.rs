//! Certificate authorities for tests: a CA written to a directory, issuing client
//! certificates (front proxies, users) the way an operator's tooling would.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// A CA written to `dir/ca.crt`, and a function issuing client certificates from it.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    dir: PathBuf,
}

impl Ca {
    pub fn new(dir: &Path) -> Ca {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(DnType::CommonName, "front proxy CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        std::fs::write(dir.join("ca.crt"), params.self_signed(&key).expect("CA").pem()).expect("write CA");
        Ca { issuer: Issuer::new(params, key), dir: dir.to_path_buf() }
    }

    /// A client certificate for `cn` (organization `system:masters`, which must not count):
    /// (cert file, key file).
    pub fn client(&self, cn: &str) -> (String, String) {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(DnType::CommonName, cn);
        params.distinguished_name.push(DnType::OrganizationName, "system:masters");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.issuer).expect("cert");
        let (c, k) = (self.dir.join(format!("{cn}.crt")), self.dir.join(format!("{cn}.key")));
        std::fs::write(&c, cert.pem()).expect("write cert");
        std::fs::write(&k, key.serialize_pem()).expect("write key");
        (c.display().to_string(), k.display().to_string())
    }
}
