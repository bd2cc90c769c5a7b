//! What a sign-in is made with: the credential of a `connect` request, secrets that never print,
//! and a PEM certificate with its private key.

use crate::error::{ErrorCode, KodoError};
use serde::Deserialize;
use zeroize::Zeroize;

/// A secret that never prints.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// How to sign in (`connect` request).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum CredentialSpec {
    ClientSecret {
        client_id: String,
        secret: Secret,
    },
    /// A PEM holding the certificate and its unencrypted private key (PKCS#8).
    CertificatePem {
        client_id: String,
        pem: Secret,
    },
    /// A certificate whose key stays with the host: the host signs (a `sign` prompt).
    HostCertificate {
        client_id: String,
        certificate: String,
    },
    /// An administrator signs in with a device code. No client id: Microsoft's own public
    /// client for each resource ([`super::clients`]).
    DeviceCode {
        #[serde(default)]
        client_id: Option<String>,
        #[serde(default)]
        scopes: Option<Vec<String>>,
    },
    /// An administrator signs in in the system browser (authorization code + PKCE, loopback
    /// redirect: [`super::browser`]). No client id: as for a device code.
    Browser {
        #[serde(default)]
        client_id: Option<String>,
        #[serde(default)]
        scopes: Option<Vec<String>>,
    },
    /// Azure Automation / App Service (endpoint + header), else IMDS.
    ManagedIdentity {
        #[serde(default)]
        client_id: Option<String>,
        #[serde(default)]
        endpoint: Option<String>,
        #[serde(default)]
        header: Option<Secret>,
        #[serde(default)]
        imds_endpoint: Option<String>,
    },
    AccessToken {
        token: Secret,
    },
}

/// Delegated Graph scopes Kodo asks for: what onboarding needs (facts.md §3.1), and reading the
/// app management policies before a credential is made (docs/app-policy-research.md §2.3).
pub const DELEGATED_GRAPH_SCOPES: &[&str] = &[
    "Application.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "DelegatedPermissionGrant.ReadWrite.All",
    "Organization.Read.All",
    "Sites.Read.All",
    "SharePointTenantSettings.ReadWrite.All",
    "Policy.Read.All",
    // -MailboxScope: the administrative unit, its members and the tenant's users
    // (docs/exchange-rbac-research.md §4.1).
    "AdministrativeUnit.Read.All",
    "User.Read.All",
];

pub(crate) fn parse_pem(text: &str) -> Result<(Vec<u8>, crate::crypto::RsaSigningKey), KodoError> {
    use crate::crypto::{KeyError, RsaSigningKey};
    let bad = |m: &str| KodoError::new(ErrorCode::InvalidArgument, m.to_string());
    let cert_b64: String = text
        .split("-----BEGIN CERTIFICATE-----")
        .nth(1)
        .and_then(|r| r.split("-----END CERTIFICATE-----").next())
        .ok_or_else(|| bad("The PEM file holds no certificate (-----BEGIN CERTIFICATE-----)."))?
        .lines()
        .collect();
    let der = crate::crypto::b64_decode(cert_b64.trim())
        .ok_or_else(|| bad("The certificate in the PEM file is not valid base64."))?;
    let key_lines = text
        .split("-----BEGIN PRIVATE KEY-----")
        .nth(1)
        .and_then(|r| r.split("-----END PRIVATE KEY-----").next())
        .ok_or_else(|| bad("The PEM file holds no unencrypted PKCS#8 private key (-----BEGIN PRIVATE KEY-----). Use a PFX with -CertificatePassword for an encrypted key."))?;
    // Every copy of the key's text and bytes is wiped when it goes out of scope.
    let key_b64: zeroize::Zeroizing<String> = zeroize::Zeroizing::new(key_lines.split_whitespace().collect());
    let pkcs8 = zeroize::Zeroizing::new(
        crate::crypto::b64_decode(&key_b64)
            .ok_or_else(|| bad("The private key in the PEM file is not valid base64."))?,
    );
    let key = RsaSigningKey::from_pkcs8(&pkcs8, &der).map_err(|e| match e {
        KeyError::NotRsa(_) => bad("The private key in the PEM file is not an RSA PKCS#8 key of 2048 to 8192 bits."),
        KeyError::Certificate(reason) => bad(&format!("The certificate cannot be read: {reason}")),
        KeyError::Mismatch => bad("The private key in the PEM file does not belong to its certificate."),
    })?;
    Ok((der, key))
}
