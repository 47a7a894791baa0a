//! Secrets at rest: OAuth refresh tokens sealed with XChaCha20-Poly1305 (RustCrypto).
//!
//! The key is 32 random bytes, given base64-encoded in the environment
//! (`HUBSYNC__SECURITY__ENCRYPTION_KEY`); the CLI reads it and hands an
//! [`EncryptionKey`] to the store. A sealed value is
//!
//! ```text
//! [version 1 byte][key check 4 bytes][nonce 24 bytes][ciphertext][tag 16 bytes]
//! ```
//!
//! - The version byte names the format, so a later one (another AEAD) can coexist.
//! - The key check is the first 4 bytes of SHA-256 over a fixed label and the key. It
//!   tells "wrong key" apart from "altered data" before any decryption, and lets a
//!   future key rotation pick the right key; 4 bytes of a hash reveal nothing usable.
//! - The nonce is random per seal. XChaCha's 192-bit nonce makes random nonces safe
//!   for any number of seals under one key (a 96-bit one would be marginal).
//! - The header and a caller context (the connection id) are authenticated data, so a
//!   token copied into another connection's row, or a flipped header bit, fails to open
//!   instead of yielding a value.

use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};

/// Bytes of an encryption key.
pub const KEY_LEN: usize = 32;
/// The one format this build writes.
const FORMAT_V1: u8 = 1;
const KEY_CHECK_LEN: usize = 4;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + KEY_CHECK_LEN;
const KEY_CHECK_LABEL: &[u8] = b"hubsync encryption key check v1\0";

/// Why a secret could not be sealed or opened. Messages never include secret bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the encryption key must be {KEY_LEN} bytes, base64-encoded: {0}")]
    InvalidKey(String),
    #[error(
        "the encryption key does not match the one the token was stored with (stored key check {stored}, given key check {given})"
    )]
    WrongKey { stored: String, given: String },
    #[error(
        "the stored token failed authentication: it was altered, or copied from another connection"
    )]
    Tampered,
    #[error("the stored token has unknown format version {0}")]
    UnknownFormat(u8),
    #[error("the stored token is truncated ({0} bytes)")]
    Truncated(usize),
    #[error("the decrypted token is not utf-8 text")]
    NotText,
    #[error("the system random number generator failed: {0}")]
    Random(String),
}

/// The key that seals refresh tokens. Its `Debug` shows only the key check.
pub struct EncryptionKey {
    key: SecretBox<[u8; KEY_LEN]>,
    check: [u8; KEY_CHECK_LEN],
}

impl EncryptionKey {
    /// Reads a base64 key (standard alphabet, padding optional, surrounding
    /// whitespace ignored) of exactly [`KEY_LEN`] bytes.
    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let engine = GeneralPurpose::new(
            &alphabet::STANDARD,
            GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
        );
        let bytes = Zeroizing::new(
            engine
                .decode(text.trim())
                .map_err(|error| CryptoError::InvalidKey(format!("not base64 ({error})")))?,
        );
        let array: [u8; KEY_LEN] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::InvalidKey(format!("it decodes to {} bytes", bytes.len())))?;
        Ok(Self::from_bytes(array))
    }

    /// A key from raw bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        let key = SecretBox::new(Box::new(bytes));
        let check = key_check(key.expose_secret());
        Self { key, check }
    }

    /// A fresh random key (for `hubsync` ops and tests).
    pub fn generate() -> Result<Self, CryptoError> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        fill_random(bytes.as_mut_slice())?;
        Ok(Self::from_bytes(*bytes))
    }

    /// The key as base64, for printing a newly generated key once.
    pub fn to_base64(&self) -> SecretString {
        base64::engine::general_purpose::STANDARD
            .encode(self.key.expose_secret())
            .into()
    }

    /// The key check as hex: safe to log, identifies the key.
    pub fn key_check(&self) -> String {
        hex(&self.check)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&(*self.key.expose_secret()).into())
    }

    /// Seals `plaintext`; `context` must be given again to open it.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce_bytes = [0u8; NONCE_LEN];
        fill_random(&mut nonce_bytes)?;
        let nonce = XNonce::from(nonce_bytes);
        let mut header = [0u8; HEADER_LEN];
        header[0] = FORMAT_V1;
        header[1..].copy_from_slice(&self.check);
        let aad = [header.as_slice(), context].concat();
        let ciphertext = self
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            // Only over-long inputs fail (gigabytes); treat it as a format problem.
            .map_err(|_| CryptoError::Truncated(plaintext.len()))?;
        let mut sealed = Vec::with_capacity(HEADER_LEN + NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(&header);
        sealed.extend_from_slice(&nonce_bytes);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    /// Opens a value sealed by [`EncryptionKey::seal`] with the same `context`.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sealed.len() < HEADER_LEN + NONCE_LEN + TAG_LEN {
            return Err(match sealed.first() {
                Some(&version) if version != FORMAT_V1 => CryptoError::UnknownFormat(version),
                _ => CryptoError::Truncated(sealed.len()),
            });
        }
        let (header, rest) = sealed.split_at(HEADER_LEN);
        if header[0] != FORMAT_V1 {
            return Err(CryptoError::UnknownFormat(header[0]));
        }
        if header[1..] != self.check {
            return Err(CryptoError::WrongKey {
                stored: hex(&header[1..]),
                given: hex(&self.check),
            });
        }
        let (nonce_bytes, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce_array: [u8; NONCE_LEN] = nonce_bytes
            .try_into()
            .map_err(|_| CryptoError::Truncated(sealed.len()))?;
        let aad = [header, context].concat();
        self.cipher()
            .decrypt(
                &XNonce::from(nonce_array),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Tampered)
    }

    /// Seals a text secret.
    pub fn seal_secret(
        &self,
        secret: &SecretString,
        context: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.seal(secret.expose_secret().as_bytes(), context)
    }

    /// Opens a text secret.
    pub fn open_secret(&self, sealed: &[u8], context: &[u8]) -> Result<SecretString, CryptoError> {
        let bytes = self.open(sealed, context)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| CryptoError::NotText)?;
        Ok(SecretString::from(text))
    }
}

impl Clone for EncryptionKey {
    fn clone(&self) -> Self {
        Self::from_bytes(*self.key.expose_secret())
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("key_check", &self.key_check())
            .finish_non_exhaustive()
    }
}

fn key_check(key: &[u8; KEY_LEN]) -> [u8; KEY_CHECK_LEN] {
    let digest = Sha256::new()
        .chain_update(KEY_CHECK_LABEL)
        .chain_update(key)
        .finalize();
    let mut check = [0u8; KEY_CHECK_LEN];
    check.copy_from_slice(&digest[..KEY_CHECK_LEN]);
    check
}

/// Fills `buffer` from the OS generator (through the AEAD crate's `Generate`).
fn fill_random(buffer: &mut [u8]) -> Result<(), CryptoError> {
    for chunk in buffer.chunks_mut(8) {
        let random = u64::try_generate().map_err(|error| CryptoError::Random(error.to_string()))?;
        chunk.copy_from_slice(&random.to_le_bytes()[..chunk.len()]);
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_distinct_nonces() {
        let key = EncryptionKey::generate().unwrap();
        let a = key.seal(b"refresh-token", b"ctx").unwrap();
        let b = key.seal(b"refresh-token", b"ctx").unwrap();
        assert_ne!(a, b, "each seal draws a fresh nonce");
        assert_eq!(key.open(&a, b"ctx").unwrap().as_slice(), b"refresh-token");
        assert_eq!(a.len(), HEADER_LEN + NONCE_LEN + 13 + TAG_LEN);
        assert!(!a.windows(13).any(|w| w == b"refresh-token"));
    }

    #[test]
    fn wrong_key_tamper_context_and_format_are_told_apart() {
        let key = EncryptionKey::generate().unwrap();
        let other = EncryptionKey::generate().unwrap();
        let sealed = key.seal(b"secret", b"conn-1").unwrap();
        let wrong = other.open(&sealed, b"conn-1").unwrap_err();
        assert!(matches!(wrong, CryptoError::WrongKey { .. }));
        assert!(
            wrong
                .to_string()
                .contains("does not match the one the token was stored with")
        );
        assert_eq!(key.open(&sealed, b"conn-2"), Err(CryptoError::Tampered));
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(key.open(&flipped, b"conn-1"), Err(CryptoError::Tampered));
        let mut versioned = sealed.clone();
        versioned[0] = 9;
        assert_eq!(
            key.open(&versioned, b"conn-1"),
            Err(CryptoError::UnknownFormat(9))
        );
        assert!(matches!(
            key.open(&sealed[..20], b"conn-1"),
            Err(CryptoError::Truncated(20))
        ));
    }

    #[test]
    fn keys_parse_from_base64_of_32_bytes_only() {
        let key = EncryptionKey::generate().unwrap();
        let text = key.to_base64();
        let again = EncryptionKey::from_base64(&format!("{}\n", text.expose_secret())).unwrap();
        assert_eq!(again.key_check(), key.key_check());
        let unpadded = text.expose_secret().trim_end_matches('=').to_owned();
        assert!(EncryptionKey::from_base64(&unpadded).is_ok());
        assert!(matches!(
            EncryptionKey::from_base64("c2hvcnQ="),
            Err(CryptoError::InvalidKey(message)) if message.contains("5 bytes")
        ));
        assert!(matches!(
            EncryptionKey::from_base64("not base64!"),
            Err(CryptoError::InvalidKey(_))
        ));
    }

    #[test]
    fn debug_shows_no_key_material() {
        let key = EncryptionKey::from_bytes([7u8; KEY_LEN]);
        let debug = format!("{key:?}");
        assert!(debug.contains("key_check"));
        assert!(!debug.contains("7, 7"));
        assert!(!debug.contains(key.to_base64().expose_secret()));
    }
}
