//! The HTTPS client every Kodo request goes through.
//!
//! Production: the platform's trust store (rustls-platform-verifier), nothing loosened.
//! Emulator: the emulator's CA is the *only* trusted root (not added to the system's), and every
//! hostname resolves to the emulator, so the production URLs and code paths are the ones used.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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

/// What makes two clients the same: the trusted CA (emulator) or the platform's store, where names
/// resolve to, the request timeout, and (production) the proxy variables as they are now, so that
/// an admin who sets HTTPS_PROXY between two Connect-Kodo gets a client that uses it.
type ClientKey = (Option<String>, Option<SocketAddr>, Duration, Vec<Option<String>>);

/// The proxy variables reqwest reads when it builds a client (the emulator is reached directly).
const PROXY_VARIABLES: [&str; 8] =
    ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"];

fn proxy_environment(resolve_to: Option<SocketAddr>) -> Vec<Option<String>> {
    if resolve_to.is_some() {
        return Vec::new();
    }
    PROXY_VARIABLES.iter().map(|name| std::env::var(name).ok()).collect()
}

/// The clients this process built, by what they were built from (the oldest dropped past
/// `limit`). Building one costs the TLS set-up: in production the platform
/// verifier reads and parses every root certificate of the system's store (on Linux, the
/// ca-certificates bundle and /etc/ssl/certs) each time a client is built. A `reqwest::Client`
/// is a handle to one shared pool: every connection made from the same settings reuses it,
/// so a second Connect-Kodo, and each tenant of a bulk run, skip the set-up and can reuse open
/// connections (HTTP/1.1: one request per connection at a time, see `build_client`). Nothing is loosened: the cached client is the one `build_client` made, with the
/// same verifier; tokens are per request (headers), never part of the client.
static CLIENTS: Mutex<ClientCache> = Mutex::new(ClientCache { entries: Vec::new(), limit: 8 });
/// Clients built (not taken from the cache) since the process started.
static CLIENTS_BUILT: AtomicU64 = AtomicU64::new(0);

/// How many HTTPS clients this process has built (each one a TLS set-up).
pub fn clients_built() -> u64 {
    CLIENTS_BUILT.load(Ordering::Relaxed)
}

/// Clients by their settings, the oldest dropped past `limit`.
struct ClientCache {
    entries: Vec<(ClientKey, reqwest::Client)>,
    limit: usize,
}

impl ClientCache {
    /// The client of `key`, and whether it was built now (false: taken from the cache).
    fn get_or_build(
        &mut self,
        key: ClientKey,
        build: impl FnOnce() -> Result<reqwest::Client, String>,
    ) -> Result<(reqwest::Client, bool), String> {
        if let Some((_, found)) = self.entries.iter().find(|(k, _)| *k == key) {
            return Ok((found.clone(), false));
        }
        let built = build()?;
        if self.entries.len() >= self.limit {
            self.entries.remove(0);
        }
        self.entries.push((key, built.clone()));
        Ok((built, true))
    }
}

/// The client for these settings: the one already built in this process, or a new one (see
/// `CLIENTS`). `ca_pem` replaces the trust store; `resolve_to` pins every hostname.
pub fn client(
    ca_pem: Option<&str>,
    resolve_to: Option<SocketAddr>,
    timeout: Duration,
) -> Result<reqwest::Client, String> {
    let key: ClientKey = (ca_pem.map(str::to_string), resolve_to, timeout, proxy_environment(resolve_to));
    let mut clients = CLIENTS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let (client, built) = clients.get_or_build(key, || build_client(ca_pem, resolve_to, timeout))?;
    if built {
        CLIENTS_BUILT.fetch_add(1, Ordering::Relaxed);
    }
    Ok(client)
}

/// Builds a new client: `ca_pem` replaces the trust store; `resolve_to` pins every hostname.
fn build_client(
    ca_pem: Option<&str>,
    resolve_to: Option<SocketAddr>,
    timeout: Duration,
) -> Result<reqwest::Client, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("Kodo/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(20))
        // HTTP/1.1 keep-alive, not HTTP/2: the client is shared by every tenant of a bulk run
        // (CLIENTS), and over HTTP/2 all of them share one connection per host, so that one
        // tenant's unread answers hold up every other's (connection-level flow control). That
        // is how a bulk run lost 14 of 200 tenants (`benches/bulk.ps1 -Tenants 200
        // -ThrottleRate 0.2 -ThrottleLimit 16`: every request in flight timed out at 120 s
        // together), until the run stopped leaving tenants unpolled (onboarding/bulk.rs). Over
        // HTTP/1.1 each request in flight has a connection of its own, reused when it is done:
        // no tenant's fate is tied to another's. Measured after that fix, 200 tenants: HTTP/1.1
        // 154 s, HTTP/2 149 and 166 s, 0 failures each.
        .http1_only()
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

    #[test]
    fn one_client_per_settings_the_oldest_dropped() {
        use super::{ClientCache, build_client};
        use std::time::Duration;
        let mut cache = ClientCache { entries: Vec::new(), limit: 2 };
        let addr = "127.0.0.1:9".parse().ok();
        let key = |ms: u64| (None, addr, Duration::from_millis(ms), Vec::new());
        let build = |ms: u64| move || build_client(None, addr, Duration::from_millis(ms));
        // The platform's trust store (production's verifier), built once per settings.
        assert!(cache.get_or_build(key(1), build(1)).expect("built").1);
        assert!(!cache.get_or_build(key(1), build(1)).expect("cached").1);
        assert!(cache.get_or_build(key(2), build(2)).expect("other settings, own client").1);
        assert!(cache.get_or_build(key(3), build(3)).expect("a third").1);
        assert_eq!(cache.entries.len(), 2, "the oldest is dropped past the limit");
        assert!(cache.get_or_build(key(1), build(1)).expect("built again").1);
        let failed = cache.get_or_build(key(5), || Err("the HTTPS client could not be built".into()));
        assert!(failed.is_err(), "a client that cannot be built is an error, and not cached");
        assert_eq!(cache.entries.len(), 2);
    }
}
