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

/// In emulator mode nothing may leave this machine. Hostnames are safe (the client resolves
/// every one to the emulator), but an address written as an IP literal is connected to as it
/// is: only a loopback one is allowed. Answers the address refused.
pub fn emulator_target_allowed(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("'{url}' is not a URL: {e}"))?;
    let host = parsed.host_str().unwrap_or_default();
    match host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>() {
        Ok(ip) if ip.is_loopback() => Ok(()),
        Ok(_) => Err(host.to_string()),
        Err(_) if !host.is_empty() => Ok(()),
        Err(_) => Err(url.to_string()),
    }
}

/// Builds the client: `ca_pem` replaces the trust store; `resolve_to` pins every hostname.
pub fn client(
    ca_pem: Option<&str>,
    resolve_to: Option<SocketAddr>,
    timeout: Duration,
) -> Result<reqwest::Client, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("Kodo/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(20))
        .timeout(timeout);
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

#[cfg(test)]
mod tests {
    #[test]
    fn emulator_mode_allows_hostnames_and_loopback_addresses_only() {
        use super::emulator_target_allowed as allowed;
        assert!(allowed("https://graph.microsoft.com/v1.0/me").is_ok());
        assert!(allowed("https://127.0.0.1:8443/msi/token").is_ok());
        assert!(allowed("http://[::1]:80/x").is_ok());
        assert_eq!(allowed("http://169.254.169.254/metadata/identity/oauth2/token"), Err("169.254.169.254".into()));
        assert_eq!(allowed("http://10.1.2.3/x"), Err("10.1.2.3".into()));
        assert_eq!(allowed("http://[2001:db8::1]/x"), Err("[2001:db8::1]".into()));
        assert!(allowed("not a url").is_err());
    }
}
