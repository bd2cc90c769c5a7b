//! Key and certificate helpers shared by sign-in and the tenant emulator: base64 forms, SHA-1
//! thumbprints, `x5t`, a certificate's validity, JWT parsing, and the RS256 signing key of a
//! certificate credential.
//!
//! The emulator uses these through this module; nothing here knows of the emulator.
//!
//! Private-key operations go through `ring` only (constant-time RSA, maintained), never the `rsa`
//! crate, whose private-key operations are open to the Marvin timing attack (RUSTSEC-2023-0071,
//! no fixed version). The emulator, a local test double, keeps `rsa` for its own throwaway keys;
//! `deny.toml` and `.ci/deny.sh` check that the shipped library's tree never reaches it.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::Value;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Base64url without padding, as JWTs use.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

pub fn b64_decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

/// SHA-1 thumbprint, upper-case hex (what Windows and Entra call the thumbprint).
pub fn sha1_hex(bytes: &[u8]) -> String {
    Sha1::digest(bytes).iter().map(|b| format!("{b:02X}")).collect()
}

/// `x5t`: base64url of the SHA-1 of the certificate DER.
pub fn x5t_sha1(cert_der: &[u8]) -> String {
    b64url(&Sha1::digest(cert_der))
}

/// `x5t#S256`: base64url of the SHA-256 of the certificate DER.
pub fn x5t_sha256(cert_der: &[u8]) -> String {
    b64url(&Sha256::digest(cert_der))
}

/// Validity window of a DER certificate, as Unix seconds.
pub fn validity_of(cert_der: &[u8]) -> Result<(i64, i64), String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).map_err(|e| e.to_string())?;
    Ok((cert.validity().not_before.timestamp(), cert.validity().not_after.timestamp()))
}

/// The RSA private key of a certificate credential, held by `ring`.
///
/// Made from PKCS#8 DER in a buffer the caller zeroizes; `ring` keeps the key in its own form
/// (which it does not wipe on drop: a limit of `ring`, stated in SECURITY.md).
pub struct RsaSigningKey(RsaKeyPair);

impl RsaSigningKey {
    /// Reads an RSA PKCS#8 key (2048 to 8192 bits, as `ring` signs) and checks that it belongs
    /// to the certificate `cert_der`.
    pub fn from_pkcs8(pkcs8: &Zeroizing<Vec<u8>>, cert_der: &[u8]) -> Result<RsaSigningKey, KeyError> {
        let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(|e| KeyError::NotRsa(e.to_string()))?;
        let (_, cert) =
            x509_parser::parse_x509_certificate(cert_der).map_err(|e| KeyError::Certificate(e.to_string()))?;
        // The certificate's subjectPublicKey is the DER RSAPublicKey that ring answers; DER is
        // canonical, so equal keys are equal bytes.
        if cert.public_key().subject_public_key.data.as_ref() != pair.public_key().as_ref() {
            return Err(KeyError::Mismatch);
        }
        Ok(RsaSigningKey(pair))
    }

    /// RS256 (RSASSA-PKCS1-v1_5 with SHA-256) signature of `input`.
    pub fn sign_rs256(&self, input: &[u8]) -> Result<Vec<u8>, String> {
        let mut signature = vec![0; self.0.public().modulus_len()];
        self.0.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input, &mut signature).map_err(|e| e.to_string())?;
        Ok(signature)
    }
}

/// Why a private key cannot be used with its certificate.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyError {
    /// Not an RSA PKCS#8 key `ring` accepts (with its reason).
    NotRsa(String),
    /// The certificate cannot be read.
    Certificate(String),
    /// The key does not belong to the certificate.
    Mismatch,
}

/// A JWT split into its parts; nothing is verified.
pub struct Jwt {
    pub header: Value,
    pub claims: Value,
    pub signing_input: String,
    pub signature: Vec<u8>,
}

pub fn parse_jwt(token: &str) -> Option<Jwt> {
    let mut parts = token.split('.');
    let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Some(Jwt {
        header: serde_json::from_slice(&b64url_decode(h)?).ok()?,
        claims: serde_json::from_slice(&b64url_decode(c)?).ok()?,
        signing_input: format!("{h}.{c}"),
        signature: b64url_decode(s)?,
    })
}

/// The claims of a JWT (Null when it is not one). Reading claims is not trusting them: Kodo
/// only describes its own tokens with them.
pub fn jwt_claims(token: &str) -> Value {
    parse_jwt(token).map(|j| j.claims).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_forms_round_trip() {
        let bytes = [0u8, 1, 2, 250, 251, 252, 253, 254, 255];
        assert_eq!(b64_decode(&b64(&bytes)).unwrap(), bytes);
        assert_eq!(b64url_decode(&b64url(&bytes)).unwrap(), bytes);
        assert!(!b64url(&bytes).contains('='));
    }

    #[test]
    fn jwts_are_split_and_malformed_ones_refused() {
        let token = format!("{}.{}.{}", b64url(br#"{"alg":"none"}"#), b64url(br#"{"a":1}"#), b64url(b"sig"));
        let jwt = parse_jwt(&token).unwrap();
        assert_eq!(jwt.claims["a"], 1);
        assert_eq!(jwt.signature, b"sig");
        assert!(parse_jwt("a.b").is_none());
        assert!(parse_jwt(&format!("{token}.extra")).is_none());
        assert_eq!(jwt_claims("not a token"), Value::Null);
    }
}
