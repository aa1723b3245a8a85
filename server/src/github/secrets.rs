//! Sealing secrets kept at rest (installation tokens) with AES-256-GCM. The key comes from
//! `CATALYST_ENCRYPTION_KEY` as 32 bytes in base64 or hex; a missing, malformed or wrong
//! key is a clear error, never a silently unreadable database.
//!
//! A sealed value is `base64(nonce || ciphertext+tag)` with a fresh random 96-bit nonce per
//! value. The associated data names what the value is (`installation-token:42`), so a
//! ciphertext copied into another row does not open there.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;
/// The environment variable named in errors, so an operator knows what to fix.
pub const KEY_VARIABLE: &str = "CATALYST_ENCRYPTION_KEY";

/// What is wrong with the key or a sealed value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    #[error(
        "{KEY_VARIABLE} is not set; it must hold 32 random bytes as base64 or hex \
         (e.g. `openssl rand -base64 32`)"
    )]
    MissingKey,
    #[error(
        "{KEY_VARIABLE} is not 32 bytes of base64 or hex (it decodes to {found}); \
         generate one with `openssl rand -base64 32`"
    )]
    MalformedKey { found: String },
    /// The value was sealed with another key, or it was altered.
    #[error(
        "a stored secret cannot be decrypted: {KEY_VARIABLE} differs from the key it was \
         sealed with, or the value was altered"
    )]
    WrongKeyOrTampered,
    #[error("a stored secret is not a sealed value: {0}")]
    Corrupt(&'static str),
}

/// An AES-256-GCM key. `Debug` never shows the key.
#[derive(Clone)]
pub struct EncryptionKey {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncryptionKey(..)")
    }
}

impl EncryptionKey {
    /// Parses the configured value: 64 hex digits, or base64 (standard or URL-safe,
    /// padded or not) of exactly 32 bytes. `None` or blank is [`SecretsError::MissingKey`].
    pub fn parse(value: Option<&str>) -> Result<Self, SecretsError> {
        let value = value.map(str::trim).unwrap_or_default();
        if value.is_empty() {
            return Err(SecretsError::MissingKey);
        }
        let bytes = decode_key(value)?;
        Self::from_bytes(&bytes)
    }

    /// A key from raw bytes (exactly 32).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SecretsError> {
        if bytes.len() != KEY_LEN {
            return Err(SecretsError::MalformedKey {
                found: format!("{} bytes", bytes.len()),
            });
        }
        let cipher = Aes256Gcm::new_from_slice(bytes).map_err(|_| SecretsError::MalformedKey {
            found: format!("{} bytes", bytes.len()),
        })?;
        Ok(Self { cipher })
    }

    /// Seals `plaintext`, bound to `context` (which must be given again to open it).
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<String, SecretsError> {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let nonce = Nonce::from(nonce_bytes);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            // Only fails for plaintexts beyond GCM's 64 GiB limit.
            .map_err(|_| SecretsError::Corrupt("plaintext too long to seal"))?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    /// Opens a value made by [`EncryptionKey::seal`] with the same `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, SecretsError> {
        let raw = STANDARD
            .decode(sealed.trim())
            .map_err(|_| SecretsError::Corrupt("not base64"))?;
        // Nonce plus at least the 16-byte tag.
        if raw.len() < NONCE_LEN + 16 {
            return Err(SecretsError::Corrupt("too short"));
        }
        let (nonce_bytes, ciphertext) = raw.split_at(NONCE_LEN);
        let nonce_bytes: [u8; NONCE_LEN] = nonce_bytes
            .try_into()
            .map_err(|_| SecretsError::Corrupt("too short"))?;
        self.cipher
            .decrypt(
                &Nonce::from(nonce_bytes),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretsError::WrongKeyOrTampered)
    }
}

fn decode_key(value: &str) -> Result<Vec<u8>, SecretsError> {
    // 64 hex digits is also valid base64 (of 48 bytes); hex wins because that is what
    // `openssl rand -hex 32` gives.
    if value.len() == 2 * KEY_LEN
        && value.chars().all(|c| c.is_ascii_hexdigit())
        && let Ok(bytes) = hex::decode(value)
    {
        return Ok(bytes);
    }
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        if let Ok(bytes) = engine.decode(value) {
            if bytes.len() == KEY_LEN {
                return Ok(bytes);
            }
            return Err(SecretsError::MalformedKey {
                found: format!("{} bytes", bytes.len()),
            });
        }
    }
    Err(SecretsError::MalformedKey {
        found: "neither hex nor base64".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> EncryptionKey {
        EncryptionKey::from_bytes(&[byte; 32]).unwrap()
    }

    #[test]
    fn seal_then_open_round_trips_with_a_fresh_nonce() {
        let k = key(7);
        let a = k.seal(b"ghs_secret", "installation-token:1").unwrap();
        let b = k.seal(b"ghs_secret", "installation-token:1").unwrap();
        assert_ne!(a, b, "each seal uses a new nonce");
        assert_eq!(k.open(&a, "installation-token:1").unwrap(), b"ghs_secret");
        assert!(!a.contains("ghs_secret"));
    }

    #[test]
    fn a_wrong_key_or_context_or_tampering_is_detected() {
        let sealed = key(1).seal(b"token", "installation-token:1").unwrap();
        assert_eq!(
            key(2).open(&sealed, "installation-token:1"),
            Err(SecretsError::WrongKeyOrTampered)
        );
        assert_eq!(
            key(1).open(&sealed, "installation-token:2"),
            Err(SecretsError::WrongKeyOrTampered)
        );
        let mut raw = STANDARD.decode(&sealed).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert_eq!(
            key(1).open(&STANDARD.encode(raw), "installation-token:1"),
            Err(SecretsError::WrongKeyOrTampered)
        );
        assert!(matches!(
            key(1).open("%%%", "x"),
            Err(SecretsError::Corrupt(_))
        ));
        assert!(matches!(
            key(1).open("AAAA", "x"),
            Err(SecretsError::Corrupt(_))
        ));
    }

    #[test]
    fn keys_parse_from_hex_and_base64() {
        let bytes = [0xabu8; 32];
        let hex_key = hex::encode(bytes);
        let b64 = STANDARD.encode(bytes);
        let b64_url = URL_SAFE_NO_PAD.encode([0xfbu8; 32]);
        for value in [hex_key.as_str(), b64.as_str(), b64_url.as_str()] {
            assert!(EncryptionKey::parse(Some(value)).is_ok(), "{value}");
        }
        let sealed = EncryptionKey::parse(Some(&hex_key))
            .unwrap()
            .seal(b"x", "c")
            .unwrap();
        let opened = EncryptionKey::parse(Some(&format!(" {b64}\n")))
            .unwrap()
            .open(&sealed, "c")
            .unwrap();
        assert_eq!(opened, b"x", "hex and base64 of the same bytes are one key");
    }

    #[test]
    fn missing_and_malformed_keys_are_clear_errors() {
        assert_eq!(
            EncryptionKey::parse(None).unwrap_err(),
            SecretsError::MissingKey
        );
        assert_eq!(
            EncryptionKey::parse(Some("  ")).unwrap_err(),
            SecretsError::MissingKey
        );
        let short = STANDARD.encode([1u8; 16]);
        let err = EncryptionKey::parse(Some(&short)).unwrap_err();
        assert_eq!(
            err,
            SecretsError::MalformedKey {
                found: "16 bytes".into()
            }
        );
        assert!(err.to_string().contains(KEY_VARIABLE));
        assert!(matches!(
            EncryptionKey::parse(Some("not a key!")),
            Err(SecretsError::MalformedKey { .. })
        ));
        assert_eq!(format!("{:?}", key(3)), "EncryptionKey(..)");
    }
}
