//! The expiry of the platform's own certificates as a gauge on `/metrics`
//! (`tke_certificate_expiry_timestamp_seconds{certificate="ca"|"serving"}`: seconds since
//! the epoch of `notAfter`), read from the data directory's `pki/` where the server keeps the CA and
//! the serving certificate it generated. A certificate brought by the operator
//! (`--tls-cert-file`) lives elsewhere and is not reported.

use std::path::Path;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{family::Family, gauge::Gauge},
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CertificateLabels {
    pub certificate: String,
}

/// `notAfter` of the first certificate of a PEM file, in seconds since the epoch.
pub fn not_after(pem: &[u8]) -> Option<i64> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem).ok()?;
    let cert = pem.parse_x509().ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// Registers the gauge with the certificates of `data_dir/pki` found now.
pub fn register(registry: &mut Registry, data_dir: &Path) {
    let family = Family::<CertificateLabels, Gauge>::default();
    for (label, file) in [("ca", "ca.crt"), ("serving", "server.crt")] {
        let path = data_dir.join("pki").join(file);
        match std::fs::read(&path).ok().as_deref().and_then(not_after) {
            Some(t) => {
                family.get_or_create(&CertificateLabels { certificate: label.into() }).set(t);
            }
            None => tracing::debug!(path = %path.display(), "no certificate to report the expiry of"),
        }
    }
    registry.register(
        "tke_certificate_expiry_timestamp_seconds",
        "notAfter of the platform's CA and serving certificate, in seconds since the epoch",
        family,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expiry_of_a_generated_certificate_is_read() {
        let mut params = rcgen::CertificateParams::new(vec!["x".to_string()]).expect("params");
        params.not_after = rcgen::date_time_ymd(2031, 5, 17);
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("cert");
        let dir = tempfile::tempdir().expect("dir");
        std::fs::create_dir_all(dir.path().join("pki")).expect("pki");
        std::fs::write(dir.path().join("pki/ca.crt"), cert.pem()).expect("write");
        assert_eq!(not_after(cert.pem().as_bytes()), Some(1_936_742_400));
        let mut r = Registry::default();
        register(&mut r, dir.path());
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &r).expect("encode");
        assert!(text.contains("tke_certificate_expiry_timestamp_seconds{certificate=\"ca\"} 1936742400"), "{text}");
        assert!(!text.contains("certificate=\"serving\""), "{text}");
        assert_eq!(not_after(b"not a certificate"), None);
    }
}
