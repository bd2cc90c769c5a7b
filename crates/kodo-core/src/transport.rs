//! The HTTPS client every Kodo request goes through.
//!
//! Production: the platform's trust store (rustls-platform-verifier), nothing loosened.
//! Emulator: the emulator's CA is the *only* trusted root (not added to the system's), and every
//! hostname resolves to the emulator, so the production URLs and code paths are the ones used.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Sends every name to one address (the emulator).
struct FixedResolver(SocketAddr);

impl reqwest::dns::Resolve for FixedResolver {
    fn resolve(&self, _name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let addr = self.0;
        Box::pin(async move {
            let addrs: reqwest::dns::Addrs = Box::new(std::iter::once(addr));
            Ok(addrs)
        })
    }
}

/// Builds the client: `ca_pem` replaces the trust store; `resolve_to` pins every hostname.
pub fn client(ca_pem: Option<&str>, resolve_to: Option<SocketAddr>) -> Result<reqwest::Client, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("Kodo/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(20))
        .timeout(Duration::from_secs(120));
    if let Some(pem) = ca_pem {
        let cert = reqwest::Certificate::from_pem(pem.as_bytes())
            .map_err(|e| format!("the CA certificate is not valid PEM: {e}"))?;
        builder = builder.tls_certs_only([cert]);
    }
    // Production honours HTTPS_PROXY / NO_PROXY (admins behind a corporate proxy); the emulator
    // is reached directly.
    if let Some(addr) = resolve_to {
        builder = builder.dns_resolver(Arc::new(FixedResolver(addr))).no_proxy();
    }
    builder.build().map_err(|e| format!("the HTTPS client could not be built: {e}"))
}
