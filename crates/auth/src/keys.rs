//! The keys the platform signs ID tokens and API keys with: ES256 (ECDSA P-256) pairs kept as
//! APISigningKey objects, so every replica signs and verifies with the same set. The newest
//! current key signs; a key older than the rotation period is retired (a new one made) and kept,
//! its public half still in the JWKS, until the last ID token it signed has expired.
//!
//! ES256 rather than dex's RS256: a key is made in microseconds (an RSA key takes most of a
//! second), a signature costs about a twentieth of an RSA-2048 one, and tokens are shorter;
//! kube-apiserver, kubectl's OIDC plugin and OpenID relying parties all accept it.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use api::auth::{APISigningKey, api_signing_key};
use apimachinery::ApiError;
use apiserver::{ApiServer, store::ResourceStore, store::WriteOptions};
use base64::{Engine, engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};

use crate::index::{Index, system_context};

pub const ALGORITHM: &str = "ES256";

/// How long a key signs before a new one takes over.
pub const ROTATE_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
const LEEWAY: i64 = 30;
/// Verified tokens remembered (expired ones are dropped first when it is full).
const VERIFIED_CACHE: usize = 100_000;

/// Claims of a verified token with its `exp` and `nbf`.
type Verified = (Value, i64, i64);

struct Loaded {
    kid: String,
    encoding: Option<EncodingKey>,
    decoding: DecodingKey,
    jwk: Value,
    created: String,
    retired: bool,
}

/// The signing keys, as the APISigningKey objects say.
pub struct SigningKeys {
    index: Arc<Index<APISigningKey>>,
    store: Arc<ResourceStore>,
    /// Keys decoded once, by name (objects never change their key material).
    loaded: RwLock<HashMap<String, Arc<Loaded>>>,
    /// The longest an ID token lives: how long a retired key stays.
    token_ttl: Duration,
    verified: std::sync::Mutex<HashMap<[u8; 32], Verified>>,
}

impl SigningKeys {
    /// Follows the keys and makes one if there is none that signs.
    pub async fn start(server: &Arc<ApiServer>, token_ttl: Duration) -> Result<Arc<Self>, ApiError> {
        let store = crate::index::store_of(server, "apisigningkeys")?;
        let index = Index::<APISigningKey>::start(store.clone()).await?;
        let keys = Arc::new(SigningKeys {
            index,
            store,
            loaded: RwLock::new(HashMap::new()),
            token_ttl,
            verified: Default::default(),
        });
        keys.rotate_if_due().await?;
        Ok(keys)
    }

    fn load(&self, obj: &APISigningKey) -> Option<Arc<Loaded>> {
        let name = obj.name().to_string();
        if let Some(l) = self.loaded.read().unwrap_or_else(|e| e.into_inner()).get(&name) {
            // Retirement is the one thing that changes.
            if l.retired != obj.retired_at.is_empty() {
                return Some(l.clone());
            }
        }
        let jwk: Value = serde_json::from_str(&obj.signing_key_pub).ok()?;
        let decoding = DecodingKey::from_ec_components(jwk["x"].as_str()?, jwk["y"].as_str()?).ok()?;
        let encoding = STANDARD.decode(&obj.signing_key).ok().map(|der| EncodingKey::from_ec_der(&der));
        let loaded = Arc::new(Loaded {
            kid: name.clone(),
            encoding,
            decoding,
            jwk,
            created: apiserver::object::meta_str(&obj.metadata, "creationTimestamp").unwrap_or("").to_string(),
            retired: !obj.retired_at.is_empty(),
        });
        self.loaded.write().unwrap_or_else(|e| e.into_inner()).insert(name, loaded.clone());
        Some(loaded)
    }

    /// The key that signs now: the newest one not retired (two replicas starting at once may
    /// each make one; both verify, the newer signs).
    fn current(&self) -> Option<Arc<Loaded>> {
        let mut keys: Vec<Arc<Loaded>> =
            self.index.filter(|k| k.retired_at.is_empty()).iter().filter_map(|k| self.load(k)).collect();
        keys.sort_by(|a, b| (&a.created, &a.kid).cmp(&(&b.created, &b.kid)));
        keys.pop().filter(|k| k.encoding.is_some())
    }

    /// Makes a key when none signs or the current one is older than [`ROTATE_AFTER`]; retires
    /// the one it replaces and removes retired keys whose tokens have all expired.
    pub async fn rotate_if_due(&self) -> Result<(), ApiError> {
        let now = chrono::Utc::now();
        let due = match self.current() {
            None => true,
            Some(k) => chrono::DateTime::parse_from_rfc3339(&k.created)
                .map(|c| now.signed_duration_since(c).to_std().unwrap_or_default() > ROTATE_AFTER)
                .unwrap_or(true),
        };
        if due {
            let old: Vec<String> =
                self.index.filter(|k| k.retired_at.is_empty()).iter().map(|k| k.name().to_string()).collect();
            let kid = self.generate().await?;
            self.index.wait_for(Duration::from_secs(10), |i| i.get(&kid).is_some()).await;
            let until = now + chrono::Duration::from_std(self.token_ttl).unwrap_or_default();
            for name in old {
                let mut retire = json!({"retiredAt": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    "expiresAt": until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)});
                if let Some(obj) = self.index.get(&name) {
                    let mut v = serde_json::to_value(&*obj).unwrap_or_default();
                    if let (Value::Object(o), Value::Object(r)) = (&mut v, retire.take()) {
                        o.extend(r);
                    }
                    let _ = self.store.update(&system_context(), &name, None, v, &WriteOptions::default()).await;
                }
            }
        }
        for k in self.index.filter(|k| !k.expires_at.is_empty()) {
            let expired = chrono::DateTime::parse_from_rfc3339(&k.expires_at).is_ok_and(|t| t < now);
            if expired {
                let _ = self.store.delete(&system_context(), k.name(), &Default::default()).await;
            }
        }
        Ok(())
    }

    async fn generate(&self) -> Result<String, ApiError> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| ApiError::internal("generating a signing key failed"))?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .map_err(|_| ApiError::internal("reading the new signing key failed"))?;
        // The public key is the uncompressed point 0x04 || X || Y.
        let point = pair.public_key().as_ref();
        let kid = hex(&rand::random::<[u8; 8]>());
        let jwk = json!({"kty": "EC", "crv": "P-256", "use": "sig", "alg": ALGORITHM, "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])});
        let obj = json!({"apiVersion": api::auth::API_VERSION, "kind": api_signing_key::KIND,
            "metadata": {"name": kid}, "algorithm": ALGORITHM,
            "signingKey": STANDARD.encode(pkcs8.as_ref()), "signingKeyPub": jwk.to_string()});
        self.store.create(&system_context(), obj, &WriteOptions::default()).await?;
        tracing::info!(kid, "made a new token signing key");
        Ok(kid)
    }

    /// The JWKS document: every key that may still have valid tokens.
    pub fn jwks(&self) -> Value {
        let mut keys: Vec<Value> =
            self.index.filter(|_| true).iter().filter_map(|k| self.load(k)).map(|l| l.jwk.clone()).collect();
        keys.sort_by(|a, b| a["kid"].as_str().cmp(&b["kid"].as_str()));
        json!({"keys": keys})
    }

    /// Signs `claims` with the current key.
    pub fn sign<C: Serialize>(&self, claims: &C) -> Result<String, ApiError> {
        let key = self.current().ok_or_else(|| ApiError::unavailable("no token signing key yet; try again"))?;
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(key.kid.clone());
        header.typ = Some("JWT".into());
        let encoding =
            key.encoding.as_ref().ok_or_else(|| ApiError::internal("the signing key has no private half"))?;
        jsonwebtoken::encode(&header, claims, encoding).map_err(|e| ApiError::internal(format!("signing a token: {e}")))
    }

    /// Verifies a token's signature (ES256 only: `alg: none`, HS256 and every other algorithm
    /// are refused before any key is used) and its `exp`/`nbf`, and decodes its claims.
    ///
    /// A token seen before is not verified again until it expires: clients send the same token
    /// with every request, and an ECDSA verification costs more than the rest of the request's
    /// authentication and authorization together (kube-apiserver caches token authentication
    /// the same way). The cache is keyed by the SHA-256 of the token and issuer and holds only
    /// tokens whose signature was good.
    pub fn verify<C: DeserializeOwned>(&self, token: &str, issuer: &str) -> Result<C, VerifyError> {
        let key = ring::digest::digest(&ring::digest::SHA256, format!("{issuer}\u{0}{token}").as_bytes());
        let key: [u8; 32] = key.as_ref().try_into().unwrap_or([0; 32]);
        let now = chrono::Utc::now().timestamp();
        let hit = self.verified.lock().unwrap_or_else(|e| e.into_inner()).get(&key).cloned();
        if let Some((claims, exp, nbf)) = hit {
            if exp + LEEWAY < now {
                return Err(VerifyError::Expired);
            }
            if nbf > now + LEEWAY {
                return Err(VerifyError::NotYetValid);
            }
            return serde_json::from_value(claims).map_err(|_| VerifyError::Malformed);
        }
        let claims: Value = self.verify_uncached(token, issuer)?;
        let exp = claims["exp"].as_i64().unwrap_or(0);
        let nbf = claims["nbf"].as_i64().unwrap_or(0);
        {
            let mut cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            if cache.len() >= VERIFIED_CACHE {
                cache.retain(|_, (_, e, _)| *e + LEEWAY >= now);
                if cache.len() >= VERIFIED_CACHE {
                    cache.clear();
                }
            }
            cache.insert(key, (claims.clone(), exp, nbf));
        }
        serde_json::from_value(claims).map_err(|_| VerifyError::Malformed)
    }

    fn verify_uncached<C: DeserializeOwned>(&self, token: &str, issuer: &str) -> Result<C, VerifyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        if header.alg != Algorithm::ES256 {
            return Err(VerifyError::Algorithm(format!("{:?}", header.alg)));
        }
        let kid = header.kid.ok_or(VerifyError::UnknownKey)?;
        let obj = self.index.get(&kid).ok_or(VerifyError::UnknownKey)?;
        let key = self.load(&obj).ok_or(VerifyError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[issuer]);
        validation.validate_aud = false;
        validation.validate_nbf = true;
        validation.leeway = LEEWAY as u64;
        validation.set_required_spec_claims(&["exp", "iss"]);
        jsonwebtoken::decode::<C>(token, &key.decoding, &validation).map(|d| d.claims).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => VerifyError::Expired,
            jsonwebtoken::errors::ErrorKind::ImmatureSignature => VerifyError::NotYetValid,
            jsonwebtoken::errors::ErrorKind::InvalidIssuer => VerifyError::Issuer,
            jsonwebtoken::errors::ErrorKind::InvalidSignature => VerifyError::Signature,
            _ => VerifyError::Malformed,
        })
    }

    /// Verifies a token's signature and issuer but not its expiry (an ID token hint at logout).
    pub fn verify_ignoring_expiry<C: DeserializeOwned>(&self, token: &str, issuer: &str) -> Result<C, VerifyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        if header.alg != Algorithm::ES256 {
            return Err(VerifyError::Algorithm(format!("{:?}", header.alg)));
        }
        let kid = header.kid.ok_or(VerifyError::UnknownKey)?;
        let obj = self.index.get(&kid).ok_or(VerifyError::UnknownKey)?;
        let key = self.load(&obj).ok_or(VerifyError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[issuer]);
        validation.validate_aud = false;
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["iss"]);
        jsonwebtoken::decode::<C>(token, &key.decoding, &validation)
            .map(|d| d.claims)
            .map_err(|_| VerifyError::Signature)
    }

    /// Whether `token` names one of our keys (so it is ours to judge, not another authenticator's).
    pub fn is_ours(&self, token: &str) -> bool {
        jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid).is_some_and(|kid| self.index.get(&kid).is_some())
    }
}

/// Why a token was refused (for logs and `401` messages; never contains the token).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("tokens signed with {0} are not accepted (only ES256)")]
    Algorithm(String),
    #[error("the token names no signing key of this platform")]
    UnknownKey,
    #[error("the token's signature is wrong")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued by another issuer")]
    Issuer,
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
