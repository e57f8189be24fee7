//! The platform's token verification on a real API server (embedded store, in process): only
//! ES256 signatures by the platform's keys count; expired, not-yet-valid, re-signed,
//! `alg: none` and HS256 tokens made with the public key are refused, each with its reason;
//! key rotation keeps the old key verifying while its tokens may live.

use std::{sync::Arc, time::Duration};

use apiserver::{ApiServer, VersionInfo};
use auth::keys::{SigningKeys, VerifyError};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use storage::{Store, embedded::EmbeddedStore};

const ISSUER: &str = "https://tke.example.org/oidc";

async fn server(dir: &std::path::Path) -> Arc<ApiServer> {
    let backend: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir).expect("open store"));
    ApiServer::new(backend, api::auth::resources(), "/registry", VersionInfo::default()).await.expect("server")
}

fn claims(exp_in: i64, nbf_in: Option<i64>) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut c = json!({"iss": ISSUER, "sub": "s", "aud": "default", "iat": now, "exp": now + exp_in, "name": "alice"});
    if let Some(n) = nbf_in {
        c["nbf"] = json!(now + n);
    }
    c
}

#[tokio::test]
async fn only_valid_es256_tokens_of_the_platform_pass() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let keys = SigningKeys::start(&server, Duration::from_secs(3600)).await.expect("keys");

    let good = keys.sign(&claims(600, None)).unwrap();
    let decoded: Value = keys.verify(&good, ISSUER).expect("a fresh token verifies");
    assert_eq!(decoded["name"], "alice");
    assert!(keys.is_ours(&good));

    // Expired (beyond the 30 s leeway) and not yet valid.
    let expired = keys.sign(&claims(-120, None)).unwrap();
    assert_eq!(keys.verify::<Value>(&expired, ISSUER).unwrap_err(), VerifyError::Expired);
    let early = keys.sign(&claims(600, Some(300))).unwrap();
    assert_eq!(keys.verify::<Value>(&early, ISSUER).unwrap_err(), VerifyError::NotYetValid);
    // Another issuer.
    assert_eq!(keys.verify::<Value>(&good, "https://evil.example/oidc").unwrap_err(), VerifyError::Issuer);

    // Forgeries: a changed payload; `alg: none`; HS256 keyed with the public key.
    let parts: Vec<&str> = good.split('.').collect();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let mut evil = claims(600, None);
    evil["name"] = json!("admin");
    let evil_payload = URL_SAFE_NO_PAD.encode(evil.to_string());
    let tampered = format!("{}.{evil_payload}.{}", parts[0], parts[2]);
    assert_eq!(keys.verify::<Value>(&tampered, ISSUER).unwrap_err(), VerifyError::Signature);
    let none_header = URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": header["kid"]}).to_string());
    assert!(keys.verify::<Value>(&format!("{none_header}.{evil_payload}."), ISSUER).is_err());
    let jwks = keys.jwks();
    let public = jwks["keys"][0].to_string();
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: header["kid"].as_str().map(String::from),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        },
        &evil,
        &jsonwebtoken::EncodingKey::from_secret(public.as_bytes()),
    )
    .unwrap();
    assert_eq!(keys.verify::<Value>(&hs, ISSUER).unwrap_err(), VerifyError::Algorithm("HS256".into()));
    // A token signed by a key that is not the platform's.
    let rng = ring::rand::SystemRandom::new();
    let other =
        ring::signature::EcdsaKeyPair::generate_pkcs8(&ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let foreign = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: header["kid"].as_str().map(String::from),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256)
        },
        &claims(600, None),
        &jsonwebtoken::EncodingKey::from_ec_der(other.as_ref()),
    )
    .unwrap();
    assert_eq!(keys.verify::<Value>(&foreign, ISSUER).unwrap_err(), VerifyError::Signature);
    let unknown_kid = jsonwebtoken::encode(
        &jsonwebtoken::Header { kid: Some("nope".into()), ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256) },
        &claims(600, None),
        &jsonwebtoken::EncodingKey::from_ec_der(other.as_ref()),
    )
    .unwrap();
    assert_eq!(keys.verify::<Value>(&unknown_kid, ISSUER).unwrap_err(), VerifyError::UnknownKey);
    assert!(!keys.is_ours(&unknown_kid));
    // Garbage never panics.
    for junk in ["", "a", "a.b", "a.b.c", "....", "eyJ.eyJ.eyJ", "\u{0}.\u{1}.\u{2}"] {
        assert!(keys.verify::<Value>(junk, ISSUER).is_err(), "{junk:?}");
    }
}
