//! What a running operation is given: where its reports go (progress, log lines, warnings,
//! prompts, list items), how it asks its host a question and waits for the answer, the clock it
//! reads and sleeps on, and whether it was cancelled.
//!
//! A leaf: it imports nothing else of the core. The C boundary (the root crate) implements
//! [`Reporter`] by turning each [`Report`] into a protocol event; tests implement it to collect.

use crate::error::{ErrorCode, KodoError};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Level of a log line; the PowerShell side writes it to the matching stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum LogLevel {
    Verbose,
    Debug,
    Information,
}

/// Something an operation reports while it runs. Serialized as the protocol's non-terminal
/// events (`{"type":"progress",...}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Report {
    Progress {
        activity: String,
        status: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        percent: Option<u8>,
    },
    Log {
        level: LogLevel,
        message: String,
    },
    Warning {
        message: String,
    },
    /// Something the user must act on or the host must answer (device code, sign, approve).
    Prompt {
        message: String,
        data: Value,
    },
    /// One element of a list result, sent as soon as it is ready.
    Item {
        data: Value,
    },
}

/// Where reports go.
pub trait Reporter: Send + Sync {
    fn report(&self, report: Report);
}

/// A boxed future, for the clock's sleep.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The clock an operation reads and sleeps on: the system's, or a test's that moves only when
/// slept on (so retry waits are tested without waiting).
pub trait Clock: Send + Sync {
    /// Wall-clock time (credential expiry, token lifetimes).
    fn utc_now(&self) -> chrono::DateTime<chrono::Utc>;
    /// Monotonic time (retry budgets).
    fn now(&self) -> Instant;
    fn sleep(&self, duration: Duration) -> Sleep;
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn utc_now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
    }
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock for tests: starts at a fixed moment and advances only by what is slept.
pub struct ManualClock {
    start: Instant,
    utc_start: chrono::DateTime<chrono::Utc>,
    elapsed_ms: AtomicU64,
}

impl ManualClock {
    pub fn new() -> Self {
        ManualClock { start: Instant::now(), utc_start: chrono::Utc::now(), elapsed_ms: AtomicU64::new(0) }
    }
    /// Total time slept so far.
    pub fn elapsed(&self) -> Duration {
        Duration::from_millis(self.elapsed_ms.load(Ordering::SeqCst))
    }
    pub fn advance(&self, d: Duration) {
        self.elapsed_ms.fetch_add(d.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn utc_now(&self) -> chrono::DateTime<chrono::Utc> {
        self.utc_start + chrono::Duration::milliseconds(self.elapsed_ms.load(Ordering::SeqCst) as i64)
    }
    fn now(&self) -> Instant {
        self.start + self.elapsed()
    }
    fn sleep(&self, duration: Duration) -> Sleep {
        self.advance(duration);
        Box::pin(std::future::ready(()))
    }
}

/// Questions an operation asks its host, waiting for answers (matched by `requestId`).
#[derive(Default)]
pub struct Asks {
    pending: Mutex<HashMap<String, tokio::sync::oneshot::Sender<Value>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Asks {
    /// Delivers the host's answer to a waiting question.
    pub fn answer(&self, answer: Value) -> Result<(), String> {
        let id = answer.get("requestId").and_then(Value::as_str).ok_or("the answer has no requestId")?.to_string();
        let sender =
            lock(&self.pending).remove(&id).ok_or_else(|| format!("no question with requestId {id} is waiting"))?;
        sender.send(answer).map_err(|_| "the operation stopped waiting".to_string())
    }
}

/// What a running operation can do besides returning: report, ask the host, read the clock.
#[derive(Clone)]
pub struct OpContext {
    reporter: Arc<dyn Reporter>,
    asks: Arc<Asks>,
    clock: Arc<dyn Clock>,
    cancelled: Arc<AtomicBool>,
    /// Held by the operation's clones until it has ended ([`OpContext::run_token`]).
    run: Arc<()>,
}

impl OpContext {
    pub fn new(reporter: Arc<dyn Reporter>, asks: Arc<Asks>, clock: Arc<dyn Clock>) -> Self {
        OpContext { reporter, asks, clock, cancelled: Arc::new(AtomicBool::new(false)), run: Arc::new(()) }
    }

    /// A context whose reports go nowhere, on the system clock (benchmarks, tests).
    pub fn detached() -> Self {
        struct Nowhere;
        impl Reporter for Nowhere {
            fn report(&self, _: Report) {}
        }
        OpContext::new(Arc::new(Nowhere), Arc::new(Asks::default()), Arc::new(SystemClock))
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// The flag the host sets to cancel; long waits check it.
    pub fn cancellation(&self) -> Arc<AtomicBool> {
        self.cancelled.clone()
    }

    /// A token of this operation that outlives it: it no longer upgrades once the operation
    /// (every clone of its context) has ended.
    pub fn run_token(&self) -> std::sync::Weak<()> {
        Arc::downgrade(&self.run)
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    pub fn log(&self, level: LogLevel, message: impl Into<String>) {
        self.reporter.report(Report::Log { level, message: message.into() });
    }
    pub fn warn(&self, message: impl Into<String>) {
        self.reporter.report(Report::Warning { message: message.into() });
    }
    pub fn progress(&self, activity: &str, status: impl Into<String>, percent: Option<u8>) {
        self.reporter.report(Report::Progress { activity: activity.into(), status: status.into(), percent });
    }
    /// Sends one element of a list result now.
    pub fn item(&self, data: Value) {
        self.reporter.report(Report::Item { data });
    }
    pub fn prompt(&self, message: String, data: Value) {
        self.reporter.report(Report::Prompt { message, data });
    }

    /// Emits a prompt of `kind` with a request id and waits (up to 2 minutes) for the host's
    /// answer.
    pub async fn ask(&self, kind: &str, message: &str, data: Value) -> Result<Value, KodoError> {
        self.ask_within(kind, message, data, Duration::from_secs(120)).await
    }

    /// `ask` with its own time limit (an approval may wait for a person at -Confirm).
    pub async fn ask_within(
        &self,
        kind: &str,
        message: &str,
        mut data: Value,
        limit: Duration,
    ) -> Result<Value, KodoError> {
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = tokio::sync::oneshot::channel();
        lock(&self.asks.pending).insert(id.clone(), tx);
        if let Value::Object(m) = &mut data {
            m.insert("kind".into(), kind.into());
            m.insert("requestId".into(), id.clone().into());
        }
        self.prompt(message.to_string(), data);
        let answer = tokio::time::timeout(limit, rx).await;
        lock(&self.asks.pending).remove(&id);
        match answer {
            Ok(Ok(v)) => match v.get("error").and_then(Value::as_str) {
                Some(e) => Err(KodoError::new(ErrorCode::AuthenticationFailed, e.to_string())),
                None => Ok(v),
            },
            _ => Err(KodoError::new(ErrorCode::Timeout, format!("The host did not answer the '{kind}' request."))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manual_clock_moves_only_when_slept_on() {
        let clock = ManualClock::new();
        let t0 = clock.now();
        drop(clock.sleep(Duration::from_secs(30)));
        assert_eq!(clock.now() - t0, Duration::from_secs(30));
        assert_eq!(clock.elapsed(), Duration::from_secs(30));
    }

    #[tokio::test]
    async fn an_answer_reaches_the_question_that_waits_for_it() {
        struct Collect(Mutex<Vec<Report>>);
        impl Reporter for Collect {
            fn report(&self, r: Report) {
                lock(&self.0).push(r);
            }
        }
        let reports = Arc::new(Collect(Mutex::new(Vec::new())));
        let asks = Arc::new(Asks::default());
        let ctx = OpContext::new(reports.clone(), asks.clone(), Arc::new(SystemClock));
        let waiting = tokio::spawn(async move { ctx.ask("approve", "ok?", serde_json::json!({})).await });
        let id = loop {
            if let Some(Report::Prompt { data, .. }) = lock(&reports.0).first() {
                break data["requestId"].as_str().unwrap().to_string();
            }
            tokio::task::yield_now().await;
        };
        assert!(asks.answer(serde_json::json!({ "requestId": "nope" })).is_err());
        asks.answer(serde_json::json!({ "requestId": id, "approved": ["a"] })).unwrap();
        assert_eq!(waiting.await.unwrap().unwrap()["approved"][0], "a");
    }
}
