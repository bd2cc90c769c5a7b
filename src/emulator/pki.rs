//! Keys, certificates and JWTs for the emulator.
//!
//! - TLS: a CA (ECDSA P-256) generated per run, and a server certificate it signs for
//!   `127.0.0.1`, `localhost` and the production hostnames (so clients can keep real URLs).
//! - Tokens: RS256 JWTs signed with an RSA-2048 key the emulator generates, published in its
//!   JWKS with `kid` and `x5t` as Entra does.
//! - Client certificates: self-signed RSA certificates (the bootstrap app's credential);
//!   client assertions are verified with RS256 (`x5t`) or PS256 (`x5t#S256`), facts.md §4.3.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
use rsa::pkcs8::{DecodePublicKey, EncodePrivateKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::traits::PublicKeyParts;
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

/// A TLS certificate authority for this run.
pub struct Ca {
    pub cert_pem: String,
    issuer: rcgen::Issuer<'static, KeyPair>,
}

impl Ca {
    pub fn generate() -> Result<Ca, String> {
        let key = KeyPair::generate().map_err(|e| e.to_string())?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
        params.distinguished_name.push(DnType::CommonName, "Kodo tenant emulator CA (local, per run)");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
        let cert_pem = cert.pem();
        Ok(Ca { cert_pem, issuer: rcgen::Issuer::new(params, key) })
    }

    /// A server certificate for `names` (DNS names or IP addresses), signed by this CA.
    /// Returns (certificate chain PEM, private key PEM).
    pub fn server_certificate(&self, names: &[String]) -> Result<(String, String), String> {
        let key = KeyPair::generate().map_err(|e| e.to_string())?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
        params.distinguished_name.push(DnType::CommonName, "Kodo tenant emulator");
        for name in names {
            let san = match name.parse::<std::net::IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(name.clone().try_into().map_err(|e: rcgen::Error| e.to_string())?),
            };
            params.subject_alt_names.push(san);
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &self.issuer).map_err(|e| e.to_string())?;
        Ok((format!("{}{}", cert.pem(), self.cert_pem), key.serialize_pem()))
    }
}

/// An RSA key with its self-signed certificate: the token signing key, or a client credential.
pub struct RsaCredential {
    pub key: RsaPrivateKey,
    pub key_pem: String,
    pub cert_der: Vec<u8>,
    pub cert_pem: String,
}

impl RsaCredential {
    pub fn generate(common_name: &str, valid_days: i64) -> Result<RsaCredential, String> {
        let mut rng = rsa::rand_core::OsRng;
        let key = RsaPrivateKey::new(&mut rng, 2048).map_err(|e| e.to_string())?;
        let key_pem = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| e.to_string())?.to_string();
        let key_pair =
            KeyPair::from_pkcs8_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256).map_err(|e| e.to_string())?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
        params.distinguished_name.push(DnType::CommonName, common_name);
        let now = time_now();
        params.not_before = now - std::time::Duration::from_secs(3600);
        params.not_after = now + std::time::Duration::from_secs(valid_days.max(1) as u64 * 86_400);
        let cert = params.self_signed(&key_pair).map_err(|e| e.to_string())?;
        Ok(RsaCredential { key, key_pem, cert_der: cert.der().to_vec(), cert_pem: cert.pem() })
    }

    /// SHA-1 thumbprint, upper-case hex (what Windows and Entra call the thumbprint).
    pub fn thumbprint(&self) -> String {
        sha1_hex(&self.cert_der)
    }

    /// Signs a JWT with RS256 (header gets `alg`, `typ`, `x5t`, `kid`).
    pub fn sign_jwt(&self, mut header: serde_json::Map<String, Value>, claims: &Value) -> String {
        header.insert("typ".into(), "JWT".into());
        header.insert("alg".into(), "RS256".into());
        let input = format!(
            "{}.{}",
            b64url(&serde_json::to_vec(&Value::Object(header)).unwrap_or_default()),
            b64url(&serde_json::to_vec(claims).unwrap_or_default())
        );
        let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(self.key.clone());
        let signature = signer.sign(input.as_bytes()).to_vec();
        format!("{input}.{}", b64url(&signature))
    }

    /// The public key as a JWK (for the JWKS document).
    pub fn jwk(&self, kid: &str) -> Value {
        let public = self.key.to_public_key();
        serde_json::json!({
            "kty": "RSA",
            "use": "sig",
            "kid": kid,
            "x5t": x5t_sha1(&self.cert_der),
            "n": b64url(&public.n().to_bytes_be()),
            "e": b64url(&public.e().to_bytes_be()),
            "x5c": [b64(&self.cert_der)],
        })
    }
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

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

/// A JWT split into its parts; nothing is verified yet.
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

/// Verifies an RS256 (PKCS#1 v1.5) or PS256 (PSS) signature.
pub fn verify_jwt_signature(jwt: &Jwt, key: &RsaPublicKey) -> bool {
    match jwt.header.get("alg").and_then(Value::as_str) {
        Some("RS256") => {
            let Ok(sig) = rsa::pkcs1v15::Signature::try_from(jwt.signature.as_slice()) else { return false };
            rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key.clone()).verify(jwt.signing_input.as_bytes(), &sig).is_ok()
        }
        Some("PS256") => {
            let Ok(sig) = rsa::pss::Signature::try_from(jwt.signature.as_slice()) else { return false };
            rsa::pss::VerifyingKey::<Sha256>::new(key.clone()).verify(jwt.signing_input.as_bytes(), &sig).is_ok()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_round_trip_and_tamper_detection() {
        let cred = RsaCredential::generate("test", 1).unwrap();
        let token = cred.sign_jwt(serde_json::Map::new(), &serde_json::json!({"a": 1}));
        let jwt = parse_jwt(&token).unwrap();
        let public = rsa_public_key_of(&cred.cert_der).unwrap();
        assert!(verify_jwt_signature(&jwt, &public));
        let mut tampered = parse_jwt(&token).unwrap();
        tampered.signing_input.push('x');
        assert!(!verify_jwt_signature(&tampered, &public));
        assert_eq!(cred.thumbprint().len(), 40);
    }

    #[test]
    fn pss_signatures_verify() {
        let cred = RsaCredential::generate("pss", 1).unwrap();
        let header = b64url(br#"{"alg":"PS256","typ":"JWT"}"#);
        let claims = b64url(br#"{"x":1}"#);
        let input = format!("{header}.{claims}");
        let signer = rsa::pss::BlindedSigningKey::<Sha256>::new(cred.key.clone());
        let sig =
            rsa::signature::RandomizedSigner::sign_with_rng(&signer, &mut rsa::rand_core::OsRng, input.as_bytes());
        let token = format!("{input}.{}", b64url(&sig.to_vec()));
        let jwt = parse_jwt(&token).unwrap();
        assert!(verify_jwt_signature(&jwt, &rsa_public_key_of(&cred.cert_der).unwrap()));
    }

    #[test]
    fn server_certificate_names_hosts_and_ips() {
        let ca = Ca::generate().unwrap();
        let (chain, key) = ca
            .server_certificate(&["127.0.0.1".into(), "graph.microsoft.com".into(), "*.sharepoint.com".into()])
            .unwrap();
        assert!(chain.matches("BEGIN CERTIFICATE").count() == 2);
        assert!(key.contains("PRIVATE KEY"));
    }
}
