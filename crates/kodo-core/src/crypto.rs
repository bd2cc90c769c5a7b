//! Key and certificate helpers shared by sign-in and the tenant emulator: base64 forms, SHA-1
//! thumbprints, `x5t`, a certificate's public key and validity, JWT parsing, RS256 signing.
//!
//! The emulator uses these through this module; nothing here knows of the emulator.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rsa::pkcs8::DecodePublicKey;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::Value;
use sha1::Sha1;
use sha2::{Digest, Sha256};

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

/// The RSA public key inside a DER certificate.
pub fn rsa_public_key_of(cert_der: &[u8]) -> Result<RsaPublicKey, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).map_err(|e| e.to_string())?;
    RsaPublicKey::from_public_key_der(cert.public_key().raw).map_err(|e| e.to_string())
}

/// Validity window of a DER certificate, as Unix seconds.
pub fn validity_of(cert_der: &[u8]) -> Result<(i64, i64), String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).map_err(|e| e.to_string())?;
    Ok((cert.validity().not_before.timestamp(), cert.validity().not_after.timestamp()))
}

/// RS256 (RSASSA-PKCS1-v1_5 with SHA-256) signature of `input`.
pub fn sign_rs256(key: &RsaPrivateKey, input: &[u8]) -> Vec<u8> {
    use rsa::signature::{SignatureEncoding, Signer};
    rsa::pkcs1v15::SigningKey::<Sha256>::new(key.clone()).sign(input).to_vec()
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
