//! GitHub webhook signatures: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`.
//! Checked in constant time (hmac's `verify_slice`) over the exact bytes received, before
//! anything parses them.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a delivery's signature was refused. The texts are short: they go back to GitHub
/// (and show up in the app's "Recent deliveries").
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-Hub-Signature-256 header")]
    Missing,
    #[error("only a sha1 signature was sent; X-Hub-Signature-256 is required")]
    Sha1Only,
    #[error("malformed X-Hub-Signature-256 header (expected sha256=<64 hex digits>)")]
    Malformed,
    #[error("signature does not match")]
    Mismatch,
}

/// Checks `sha256_header` (the `X-Hub-Signature-256` value, if sent) against `body`.
/// `sha1_header_present` only sharpens the error when a sender signs with SHA-1 only.
pub fn verify(
    secret: &[u8],
    body: &[u8],
    sha256_header: Option<&str>,
    sha1_header_present: bool,
) -> Result<(), SignatureError> {
    let header = match sha256_header {
        Some(h) => h.trim(),
        None if sha1_header_present => return Err(SignatureError::Sha1Only),
        None => return Err(SignatureError::Missing),
    };
    if header.starts_with("sha1=") {
        return Err(SignatureError::Sha1Only);
    }
    let hex_digest = header
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    let expected = hex::decode(hex_digest).map_err(|_| SignatureError::Malformed)?;
    if expected.len() != 32 {
        return Err(SignatureError::Malformed);
    }
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| SignatureError::Mismatch)?;
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// The header value GitHub would send for `body` (used by tests and the test kit).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";

    #[test]
    fn githubs_documented_example_verifies() {
        // From GitHub's "Validating webhook deliveries" page.
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(sign(SECRET, BODY), header);
        assert_eq!(verify(SECRET, BODY, Some(header), false), Ok(()));
    }

    #[test]
    fn a_changed_body_or_secret_is_a_mismatch() {
        let header = sign(SECRET, BODY);
        assert_eq!(
            verify(SECRET, b"Hello, World?", Some(&header), false),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"other", BODY, Some(&header), false),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn missing_and_sha1_only_are_told_apart() {
        assert_eq!(
            verify(SECRET, BODY, None, false),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(SECRET, BODY, None, true),
            Err(SignatureError::Sha1Only)
        );
        assert_eq!(
            verify(SECRET, BODY, Some("sha1=abcdef"), false),
            Err(SignatureError::Sha1Only)
        );
    }

    #[test]
    fn malformed_headers_are_rejected() {
        for bad in [
            "",
            "sha256=",
            "sha256=zz",
            "sha256=abcd",
            "md5=00",
            "757107ea",
        ] {
            assert_eq!(
                verify(SECRET, BODY, Some(bad), false),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
    }
}
