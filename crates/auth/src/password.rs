//! How the platform keeps passwords: only as argon2id hashes (PHC strings), with bcrypt hashes
//! accepted when users are imported from TKEStack, which stores bcrypt (cost 10).
//!
//! The cost is argon2's recommended minimum for argon2id (OWASP, RFC 9106's second option
//! scaled down): 19 MiB of memory, 2 passes, 1 lane. It is the crate's default, so hashes made
//! anywhere in the workspace agree. At this cost a check takes tens of milliseconds of one core,
//! which bounds logins per second per core: that is the point of the hash, and the lockout
//! counters (not the hash) are what stop online guessing. Checks are CPU-bound: call
//! [`verify_blocking`] from async code.
//!
//! TKEStack's `hashedPassword` field carries the base64 of the plain password on input
//! ([`from_field`]); the stored value is always a hash and is never returned to clients.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;

/// The shortest password accepted for a new or changed password.
pub const MIN_LENGTH: usize = 8;
/// The longest: beyond it a password is more likely a mistake (or an attempt to make hashing
/// expensive) than a passphrase.
pub const MAX_LENGTH: usize = 256;

/// Why a password cannot be stored.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must be base64 encoded (TKEStack's hashedPassword field), or a bcrypt or argon2id hash")]
    NotBase64,
    #[error("the password is not valid UTF-8 once base64 decoded")]
    NotUtf8,
    #[error("the password must have at least {MIN_LENGTH} characters")]
    TooShort,
    #[error("the password must have at most {MAX_LENGTH} characters")]
    TooLong,
    #[error("the stored hash is not a valid argon2id or bcrypt hash")]
    BadHash,
    #[error("hashing the password: {0}")]
    Hash(String),
}

/// Hashes a plain password for storage (argon2id, a fresh random salt).
pub fn hash(plain: &str) -> Result<String, PasswordError> {
    check_length(plain)?;
    let mut raw = [0u8; 16];
    rand::Rng::fill(&mut rand::rng(), &mut raw[..]);
    let salt = SaltString::encode_b64(&raw).map_err(|e| PasswordError::Hash(e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(plain.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `plain` matches `stored` (argon2 PHC string or bcrypt `$2a$`/`$2b$`/`$2y$`). A
/// malformed stored value never matches. Both crates compare in constant time.
pub fn verify(plain: &str, stored: &str) -> bool {
    if plain.len() > MAX_LENGTH * 4 {
        return false;
    }
    if is_bcrypt(stored) {
        return bcrypt::verify(plain, stored).unwrap_or(false);
    }
    PasswordHash::new(stored)
        .is_ok_and(|h| is_sane_argon2id(&h) && argon2::Argon2::default().verify_password(plain.as_bytes(), &h).is_ok())
}

/// [`verify`] on the blocking pool, so the async workers keep serving while a hash is checked.
pub async fn verify_blocking(plain: String, stored: String) -> bool {
    tokio::task::spawn_blocking(move || verify(&plain, &stored)).await.unwrap_or(false)
}

/// Spends the time of a real check against a hash nobody has the password of, so that a login
/// for an unknown user takes as long as one with a wrong password.
pub async fn verify_nobody(plain: String) -> bool {
    static NOBODY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let stored = NOBODY.get_or_init(|| hash("nobody has this password").unwrap_or_default()).clone();
    verify_blocking(plain, stored).await;
    false
}

/// Whether `value` is a stored hash this module can check.
pub fn is_hash(value: &str) -> bool {
    is_bcrypt(value) || PasswordHash::new(value).is_ok_and(|h| is_sane_argon2id(&h))
}

/// An argon2id hash with an output and a cost a check can afford: an imported hash asking for
/// gigabytes per check would make every login a denial of service.
fn is_sane_argon2id(h: &PasswordHash<'_>) -> bool {
    h.algorithm.as_str() == "argon2id"
        && h.hash.is_some()
        && argon2::Params::try_from(h).is_ok_and(|p| p.m_cost() <= 256 * 1024 && p.t_cost() <= 16 && p.p_cost() <= 8)
}

fn is_bcrypt(value: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| value.starts_with(p))
}

/// What to store for the `hashedPassword` field of a LocalIdentity or a password change:
/// a hash is kept as it is (an import), anything else must be the base64 of the plain password
/// (TKEStack's wire format), which is checked for length and hashed.
pub fn from_field(value: &str) -> Result<String, PasswordError> {
    if value.starts_with('$') {
        return if is_hash(value) { Ok(value.to_string()) } else { Err(PasswordError::BadHash) };
    }
    hash(&decode_field(value)?)
}

/// The plain password in a base64 `hashedPassword`-style field.
pub fn decode_field(value: &str) -> Result<String, PasswordError> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(value.trim()).map_err(|_| PasswordError::NotBase64)?;
    String::from_utf8(bytes).map_err(|_| PasswordError::NotUtf8)
}

fn check_length(plain: &str) -> Result<(), PasswordError> {
    let n = plain.chars().count();
    if n < MIN_LENGTH {
        return Err(PasswordError::TooShort);
    }
    if n > MAX_LENGTH {
        return Err(PasswordError::TooLong);
    }
    Ok(())
}

/// A fresh password for a generated account (the platform administrator's first password):
/// 24 characters without look-alikes (no 0/O, 1/l/I), about 140 bits.
pub fn generate() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..24).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// The hasher the LocalIdentity resource uses: TKEStack's base64 field or an importable hash,
/// stored as a hash.
pub fn hash_field(value: &str) -> Result<String, String> {
    from_field(value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_checks_its_password_only() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify("correct horse", &h));
        assert!(!verify("correct hors", &h));
        assert_ne!(hash("correct horse").unwrap(), h, "every hash has its own salt");
    }

    #[test]
    fn tkestack_fields_are_base64_or_imported_hashes() {
        let stored = from_field("c2VjcmV0LXBhc3N3b3Jk").unwrap(); // "secret-password"
        assert!(verify("secret-password", &stored));
        // TKEStack stores bcrypt at cost 10; an export imports as it is.
        let bcrypt = bcrypt::hash("from-tkestack", 4).unwrap();
        assert_eq!(from_field(&bcrypt).unwrap(), bcrypt);
        assert!(verify("from-tkestack", &bcrypt));
        assert!(!verify("from-tkestac", &bcrypt));
        assert!(matches!(from_field("not base64!"), Err(PasswordError::NotBase64)));
        assert!(matches!(from_field("$argon2id$garbage"), Err(PasswordError::BadHash)));
        let greedy = hash("correct horse").unwrap().replace("m=19456", "m=4194304");
        assert!(matches!(from_field(&greedy), Err(PasswordError::BadHash)), "a 4 GiB hash is refused");
        assert!(matches!(from_field("c2hvcnQ="), Err(PasswordError::TooShort)));
    }

    #[test]
    fn malformed_stored_values_never_match() {
        for stored in ["", "$", "$2b$", "$argon2id$v=19$m=19456", "plain-text"] {
            assert!(!verify("plain-text", stored), "{stored:?}");
        }
    }
}
