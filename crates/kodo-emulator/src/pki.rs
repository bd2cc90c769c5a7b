//! Keys, certificates and JWTs for the emulator (the shared helpers come from `kodo_core::crypto`).
//!
//! - TLS: a CA (ECDSA P-256) generated per run, and a server certificate it signs for
//!   `127.0.0.1`, `localhost` and the production hostnames (so clients can keep real URLs).
//! - Tokens: RS256 JWTs signed with an RSA-2048 key the emulator generates, published in its
//!   JWKS with `kid` and `x5t` as Entra does.
//! - Client certificates: self-signed RSA certificates (the bootstrap app's credential);
//!   client assertions are verified with RS256 (`x5t`) or PS256 (`x5t#S256`), facts.md §4.3.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::Value;

// The helpers sign-in shares with the emulator live in the core (never the other way round).
pub use kodo_core::crypto::{
    Jwt, b64, b64_decode, b64url, b64url_decode, parse_jwt, sha1_hex, validity_of, x5t_sha1, x5t_sha256,
};
use sha2::Sha256;

/// The RSA public key inside a DER certificate (to verify client assertions).
pub fn rsa_public_key_of(cert_der: &[u8]) -> Result<RsaPublicKey, String> {
    use rsa::pkcs8::DecodePublicKey;
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).map_err(|e| e.to_string())?;
    RsaPublicKey::from_public_key_der(cert.public_key().raw).map_err(|e| e.to_string())
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

    /// Kodo signs client assertions through `ring` (kodo_core::crypto::RsaSigningKey); the
    /// emulator verifies them with its own RSA code: the two must agree, and a key that is not
    /// the certificate's must be refused before it signs anything.
    #[test]
    fn kodo_signing_key_signs_what_the_emulator_verifies_and_refuses_a_foreign_key() {
        use kodo_core::crypto::{KeyError, RsaSigningKey};
        use zeroize::Zeroizing;
        let pkcs8 = |cred: &RsaCredential| -> Zeroizing<Vec<u8>> {
            let body: String = cred.key_pem.lines().filter(|l| !l.starts_with("-----")).collect();
            Zeroizing::new(b64_decode(&body).unwrap())
        };
        let cred = RsaCredential::generate("ring", 1).unwrap();
        let key = RsaSigningKey::from_pkcs8(&pkcs8(&cred), &cred.cert_der).unwrap();
        let input = format!("{}.{}", b64url(br#"{"alg":"RS256","typ":"JWT"}"#), b64url(br#"{"x":1}"#));
        let token = format!("{input}.{}", b64url(&key.sign_rs256(input.as_bytes()).unwrap()));
        let public = rsa_public_key_of(&cred.cert_der).unwrap();
        assert!(verify_jwt_signature(&parse_jwt(&token).unwrap(), &public));

        let other = RsaCredential::generate("other", 1).unwrap();
        assert_eq!(RsaSigningKey::from_pkcs8(&pkcs8(&other), &cred.cert_der).err(), Some(KeyError::Mismatch));
        assert!(matches!(
            RsaSigningKey::from_pkcs8(&Zeroizing::new(b"not a key".to_vec()), &cred.cert_der),
            Err(KeyError::NotRsa(_))
        ));
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
