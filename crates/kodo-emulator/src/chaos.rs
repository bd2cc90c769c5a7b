//! Seeded chaos (`PUT /_emulator/chaos`): every request after the control API is given a fault
//! drawn from a seed, so that a run that failed can be run again with exactly the same faults.
//! The k-th request the chaos sees gets the fault `draw(seed, k)` picks: the same client doing the
//! same thing meets the same faults.
//!
//! The faults are the ones a client of Microsoft 365 meets (issue 17's list):
//! - 500, 502, 503 with and without `Retry-After`, 504: not served. Graph's 502/503/504 bodies
//!   carry `UnknownError` with an empty message (microsoftgraph/microsoft-graph-docs#2505 and
//!   #5288 show 504 and 503 answered so; 502 UNCONFIRMED, taken to be the same gateway); Graph's
//!   504s carry no `Retry-After` (msgraph-sdk-design PR #2, Darrel Miller).
//! - A burst of 429s (`Retry-After: 1`) on 2 to 5 requests in a row.
//! - The connection dropped before the request is served, or after: the answer is cut mid-body,
//!   so the client cannot know whether the write happened.
//! - A TCP reset of the TLS connection (`SO_LINGER` 0, then close): the request is not served.
//! - A slow answer: served, then answered after `slowMs` (set it beyond the client's timeout).
//!
//! Replication lag is the `replicationLagMs` setting, whose error bodies are facts.md §3.12's.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A fault the chaos can inject.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "camelCase")]
pub enum FaultKind {
    InternalServerError,
    BadGateway,
    ServiceUnavailable,
    ServiceUnavailableRetryAfter,
    GatewayTimeout,
    ThrottleBurst,
    DropBeforeServing,
    DropMidBody,
    TlsReset,
    Slow,
}

impl FaultKind {
    pub const ALL: [FaultKind; 10] = [
        FaultKind::InternalServerError,
        FaultKind::BadGateway,
        FaultKind::ServiceUnavailable,
        FaultKind::ServiceUnavailableRetryAfter,
        FaultKind::GatewayTimeout,
        FaultKind::ThrottleBurst,
        FaultKind::DropBeforeServing,
        FaultKind::DropMidBody,
        FaultKind::TlsReset,
        FaultKind::Slow,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::InternalServerError => "internalServerError",
            FaultKind::BadGateway => "badGateway",
            FaultKind::ServiceUnavailable => "serviceUnavailable",
            FaultKind::ServiceUnavailableRetryAfter => "serviceUnavailableRetryAfter",
            FaultKind::GatewayTimeout => "gatewayTimeout",
            FaultKind::ThrottleBurst => "throttleBurst",
            FaultKind::DropBeforeServing => "dropBeforeServing",
            FaultKind::DropMidBody => "dropMidBody",
            FaultKind::TlsReset => "tlsReset",
            FaultKind::Slow => "slow",
        }
    }
}

/// What `PUT /_emulator/chaos` takes.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChaosConfig {
    pub seed: u64,
    /// The share of requests that get a fault (0 to 1); a 429 burst's followers are extra.
    pub rate: f64,
    /// The faults to draw from; all of them if absent.
    #[serde(default)]
    pub kinds: Option<Vec<FaultKind>>,
    /// How late a `slow` answer comes.
    #[serde(default = "default_slow_ms")]
    pub slow_ms: u64,
}

fn default_slow_ms() -> u64 {
    5_000
}

/// One fault to inject now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Injected {
    pub kind: FaultKind,
    /// `Retry-After` seconds, for the answers that carry one.
    pub retry_after: Option<u64>,
}

/// The chaos in force: its configuration and what it has done.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Chaos {
    pub config: ChaosConfig,
    /// Requests seen.
    pub requests: u64,
    /// Faults injected, by kind.
    pub injected: BTreeMap<&'static str, u64>,
    #[serde(skip)]
    burst_left: u32,
}

impl Chaos {
    pub fn new(config: ChaosConfig) -> Result<Chaos, String> {
        if !(0.0..=1.0).contains(&config.rate) {
            return Err("rate must be from 0 to 1".into());
        }
        if config.kinds.as_ref().is_some_and(Vec::is_empty) {
            return Err("kinds, when given, must name at least one fault".into());
        }
        if config.slow_ms > 600_000 {
            return Err("slowMs must be at most 600000".into());
        }
        Ok(Chaos { config, requests: 0, injected: BTreeMap::new(), burst_left: 0 })
    }

    /// The fault for the next request, if any.
    pub fn draw_next(&mut self) -> Option<Injected> {
        let n = self.requests;
        self.requests += 1;
        let injected = if self.burst_left > 0 {
            self.burst_left -= 1;
            Some(Injected { kind: FaultKind::ThrottleBurst, retry_after: Some(1) })
        } else {
            let r = draw(self.config.seed, n);
            // The top 53 bits as a fraction in [0, 1).
            let chance = (r >> 11) as f64 / (1u64 << 53) as f64;
            if chance >= self.config.rate {
                None
            } else {
                let kinds: &[FaultKind] = self.config.kinds.as_deref().unwrap_or(&FaultKind::ALL);
                let second = draw(self.config.seed ^ 0x5eed, n);
                let kind = kinds[(second % kinds.len() as u64) as usize];
                let retry_after = match kind {
                    FaultKind::ServiceUnavailableRetryAfter => Some(1 + (second >> 8) % 2),
                    FaultKind::ThrottleBurst => {
                        self.burst_left = 1 + ((second >> 16) % 4) as u32;
                        Some(1)
                    }
                    _ => None,
                };
                Some(Injected { kind, retry_after })
            }
        };
        if let Some(i) = injected {
            *self.injected.entry(i.kind.name()).or_default() += 1;
        }
        injected
    }
}

/// splitmix64 of the seed and the request's number: the same pair always draws the same.
pub fn draw(seed: u64, n: u64) -> u64 {
    let mut z = seed ^ n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The live connections, by the client's address: a `tlsReset` fault marks one, and its
/// stream then fails and closes with a TCP reset.
#[derive(Default)]
pub struct Connections(parking_lot::Mutex<HashMap<SocketAddr, Arc<AtomicBool>>>);

impl Connections {
    /// Marks the connection from `peer` to be reset; false if it is not known (a request that
    /// came through the proxy, say).
    pub fn reset(&self, peer: SocketAddr) -> bool {
        match self.0.lock().get(&peer) {
            Some(flag) => {
                flag.store(true, Ordering::SeqCst);
                true
            }
            None => false,
        }
    }
}

/// The acceptor under TLS: registers each TCP connection so that a fault can reset it.
#[derive(Clone)]
pub struct ChaosAcceptor(pub Arc<Connections>);

impl<S> axum_server::accept::Accept<TcpStream, S> for ChaosAcceptor {
    type Stream = ChaosStream;
    type Service = S;
    type Future = std::future::Ready<io::Result<(ChaosStream, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let peer = stream.peer_addr().ok();
        let reset = Arc::new(AtomicBool::new(false));
        if let Some(p) = peer {
            self.0.0.lock().insert(p, reset.clone());
        }
        std::future::ready(Ok((ChaosStream { inner: stream, reset, peer, connections: self.0.clone() }, service)))
    }
}

/// A TCP stream that fails, and closes with a reset, once its connection is marked.
pub struct ChaosStream {
    inner: TcpStream,
    reset: Arc<AtomicBool>,
    peer: Option<SocketAddr>,
    connections: Arc<Connections>,
}

impl ChaosStream {
    /// If marked: no lingering on close (the kernel answers with RST), and an error now.
    fn check(&self) -> Option<io::Error> {
        if !self.reset.load(Ordering::SeqCst) {
            return None;
        }
        let _ = self.inner.set_zero_linger();
        Some(io::Error::new(io::ErrorKind::ConnectionReset, "connection reset by a chaos fault"))
    }
}

impl Drop for ChaosStream {
    fn drop(&mut self) {
        if let Some(p) = self.peer {
            let mut live = self.connections.0.lock();
            if live.get(&p).is_some_and(|f| Arc::ptr_eq(f, &self.reset)) {
                live.remove(&p);
            }
        }
    }
}

impl AsyncRead for ChaosStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ChaosStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if let Some(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chaos(seed: u64, rate: f64) -> Chaos {
        Chaos::new(ChaosConfig { seed, rate, kinds: None, slow_ms: 1 }).unwrap()
    }

    #[test]
    fn the_same_seed_draws_the_same_faults_and_another_seed_others() {
        let seq = |seed| {
            let mut c = chaos(seed, 0.3);
            (0..500).map(|_| c.draw_next().map(|i| i.kind)).collect::<Vec<_>>()
        };
        assert_eq!(seq(7), seq(7));
        assert_ne!(seq(7), seq(8));
    }

    #[test]
    fn the_rate_is_kept_and_every_kind_is_drawn() {
        let mut c = chaos(42, 0.25);
        let mut first = 0;
        for _ in 0..20_000 {
            // Count only first draws: a burst's followers are extra.
            let before = c.burst_left;
            if c.draw_next().is_some() && before == 0 {
                first += 1;
            }
        }
        let share = f64::from(first) / 20_000.0;
        assert!((0.2..0.3).contains(&share), "share {share}");
        for kind in FaultKind::ALL {
            assert!(c.injected.get(kind.name()).copied().unwrap_or(0) > 0, "{kind:?} never drawn");
        }
    }

    #[test]
    fn a_429_burst_is_two_to_five_in_a_row_and_503_retry_after_is_one_or_two_seconds() {
        let mut c =
            Chaos::new(ChaosConfig { seed: 3, rate: 1.0, kinds: Some(vec![FaultKind::ThrottleBurst]), slow_ms: 1 })
                .unwrap();
        let first = c.draw_next().unwrap();
        assert_eq!(first, Injected { kind: FaultKind::ThrottleBurst, retry_after: Some(1) });
        assert!((1..=4).contains(&c.burst_left));
        let mut c = Chaos::new(ChaosConfig {
            seed: 3,
            rate: 1.0,
            kinds: Some(vec![FaultKind::ServiceUnavailableRetryAfter]),
            slow_ms: 1,
        })
        .unwrap();
        for _ in 0..100 {
            assert!(matches!(c.draw_next().unwrap().retry_after, Some(1 | 2)));
        }
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(Chaos::new(ChaosConfig { seed: 1, rate: 1.5, kinds: None, slow_ms: 1 }).is_err());
        assert!(Chaos::new(ChaosConfig { seed: 1, rate: 0.5, kinds: Some(vec![]), slow_ms: 1 }).is_err());
        assert!(serde_json::from_str::<ChaosConfig>(r#"{"seed":1,"rate":0.1,"kinds":["teapot"]}"#).is_err());
    }
}
