//! Sessions and operations: the Rust side of the handles the C boundary hands out.
//!
//! An operation runs as a task on one shared tokio runtime and reports through a channel of
//! serialized events. The caller polls the channel ([`Operation::next_event`]); it never calls
//! back into the host, so the host decides on which thread its streams are written.

use crate::protocol::{End, Event, EventBody, PROTOCOL_VERSION, Request, SessionConfig};
use kodo_core::auth::Connection;
use kodo_core::context::{Asks, OpContext, Report, Reporter, SystemClock};
use kodo_core::error::{ErrorCode, KodoError};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio::sync::watch;

/// Build facts recorded by `build.rs`.
pub const LIBRARY_VERSION: &str = env!("CARGO_PKG_VERSION");
pub const TARGET: &str = env!("KODO_BUILD_TARGET");
pub const PROFILE: &str = env!("KODO_BUILD_PROFILE");

/// Name of the runtime's worker threads.
pub const WORKER_THREAD_NAME: &str = "kodo-worker";

/// The runtime every operation runs on, started on first use.
fn runtime() -> Result<&'static Runtime, KodoError> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name(WORKER_THREAD_NAME)
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| KodoError::new(ErrorCode::Internal, format!("the async runtime could not start: {e}")))
}

/// A session: configuration and the sign-in state its operations share.
pub struct Session {
    pub config: SessionConfig,
    pub connection: tokio::sync::RwLock<Option<Arc<Connection>>>,
}

impl Session {
    pub fn new(config: SessionConfig) -> Self {
        Session { config, connection: tokio::sync::RwLock::new(None) }
    }

    /// The current connection, or the error Get-KodoContext users expect.
    pub async fn connected(&self) -> Result<Arc<Connection>, KodoError> {
        self.connection
            .read()
            .await
            .clone()
            .ok_or_else(|| KodoError::new(ErrorCode::AuthenticationFailed, "Not connected. Run Connect-Kodo first."))
    }
}

/// Where an operation's events go. After the terminal event it accepts nothing more, so an
/// aborted task that was mid-step cannot add events after `cancelled`.
#[derive(Clone)]
struct EventSink {
    inner: Arc<Mutex<SinkState>>,
}

struct SinkState {
    tx: Option<Sender<String>>,
    seq: u64,
}

impl EventSink {
    fn new(tx: Sender<String>) -> Self {
        EventSink { inner: Arc::new(Mutex::new(SinkState { tx: Some(tx), seq: 0 })) }
    }

    fn emit(&self, body: EventBody) {
        let mut state = match self.inner.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let terminal = body.is_terminal();
        state.seq += 1;
        let seq = state.seq;
        if let Some(tx) = &state.tx {
            let text = serde_json::to_string(&Event { v: PROTOCOL_VERSION, seq, body: &body })
                .unwrap_or_else(|e| {
                    format!(
                        r#"{{"v":{PROTOCOL_VERSION},"seq":{seq},"type":"error","error":{{"code":"Internal","category":"NotSpecified","message":"event not serializable: {}"}}}}"#,
                        e.to_string().replace('"', "'")
                    )
                });
            // The receiver is gone only when the operation was freed: nobody is listening.
            let _ = tx.send(text);
        }
        if terminal {
            state.tx = None;
        }
    }
}

/// An operation's reports become protocol events.
impl Reporter for EventSink {
    fn report(&self, report: Report) {
        self.emit(EventBody::Report(report));
    }
}

/// Outcome of one poll of an operation.
#[derive(Debug, PartialEq, Eq)]
pub enum Poll {
    Event(String),
    Pending,
    Done,
}

/// A running (or finished) operation.
pub struct Operation {
    asks: Arc<Asks>,
    events: Mutex<Receiver<String>>,
    cancel: watch::Sender<bool>,
    terminal_seen: AtomicBool,
}

pub(crate) static OPS_STARTED: AtomicU64 = AtomicU64::new(0);
pub(crate) static OPS_LIVE: AtomicU64 = AtomicU64::new(0);
pub(crate) static OPS_CANCELLED: AtomicU64 = AtomicU64::new(0);

/// Gives the heap memory an operation freed back to the OS. glibc keeps freed memory in each
/// thread's arena, so a pwsh process would otherwise keep the peak of every operation (the
/// 716-role Microsoft Graph service principal, parsed) for good; in Azure Automation's 400 MB
/// sandbox that counts. PLATFORM SEAM: glibc only; other allocators return memory themselves
/// or keep it (Windows' heap, macOS) and this does nothing there.
fn release_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages; it touches no memory that is in use.
    unsafe {
        libc::malloc_trim(0);
    }
}

impl Operation {
    /// Starts `request` on the shared runtime. Gating of debug requests is the caller's job
    /// (the C boundary refuses them for sessions without `debugHooks`).
    pub fn start(session: Arc<Session>, request: Request) -> Result<Arc<Operation>, KodoError> {
        if let Request::DebugPanic { message, at: crate::protocol::PanicSite::Start } = &request {
            panic!("{message}");
        }
        let rt = runtime()?;
        // Counted before the task is spawned: the task may run (and read the counters, for
        // debug.stats) before this function returns. Nothing below can fail.
        OPS_STARTED.fetch_add(1, Ordering::Relaxed);
        OPS_LIVE.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = std::sync::mpsc::channel();
        let (cancel_tx, mut cancel_rx) = watch::channel(false);
        let sink = EventSink::new(tx);
        let asks = Arc::new(Asks::default());
        let ctx = OpContext::new(Arc::new(sink.clone()), asks.clone(), Arc::new(SystemClock));
        let cancelled = ctx.cancellation();
        let mut work = rt.spawn(async move { crate::dispatch::run(&session, request, &ctx).await });
        rt.spawn(async move {
            let terminal = tokio::select! {
                biased;
                joined = &mut work => match joined {
                    Ok(Ok(data)) => EventBody::End(End::Result { data }),
                    Ok(Err(e)) => EventBody::End(End::Error { error: e.into() }),
                    Err(j) if j.is_panic() => {
                        let message = panic_message(j.into_panic().as_ref());
                        EventBody::End(End::Error {
                            error: KodoError::new(ErrorCode::Panic, format!("internal error (panic): {message}")).into(),
                        })
                    }
                    Err(_) => EventBody::End(End::Cancelled { message: "the operation was cancelled".into() }),
                },
                // Fires on cancel, and also when the operation is freed (the sender drops).
                _ = cancel_rx.wait_for(|c| *c) => {
                    cancelled.store(true, Ordering::SeqCst);
                    work.abort();
                    OPS_CANCELLED.fetch_add(1, Ordering::Relaxed);
                    EventBody::End(End::Cancelled { message: "the operation was cancelled".into() })
                }
            };
            release_memory();
            sink.emit(terminal);
        });
        Ok(Arc::new(Operation {
            asks,
            events: Mutex::new(rx),
            cancel: cancel_tx,
            terminal_seen: AtomicBool::new(false),
        }))
    }

    /// Waits up to `timeout` for the next event.
    pub fn next_event(&self, timeout: Duration) -> Poll {
        if self.terminal_seen.load(Ordering::Acquire) {
            return Poll::Done;
        }
        let rx = match self.events.lock() {
            Ok(rx) => rx,
            Err(poisoned) => poisoned.into_inner(),
        };
        if self.terminal_seen.load(Ordering::Acquire) {
            return Poll::Done;
        }
        match rx.recv_timeout(timeout) {
            Ok(text) => {
                if is_terminal_text(&text) {
                    self.terminal_seen.store(true, Ordering::Release);
                }
                Poll::Event(text)
            }
            Err(RecvTimeoutError::Timeout) => Poll::Pending,
            Err(RecvTimeoutError::Disconnected) => {
                self.terminal_seen.store(true, Ordering::Release);
                Poll::Done
            }
        }
    }

    /// Delivers the host's answer to an `ask` (matched by `requestId`). Once the operation is
    /// cancelled (or freed) no answer is taken: its task is aborted asynchronously, so whether
    /// the question were still waiting would otherwise depend on timing.
    pub fn respond(&self, answer: Value) -> Result<(), String> {
        if *self.cancel.borrow() {
            return Err("the operation was cancelled and waits for no answer".into());
        }
        self.asks.answer(answer)
    }

    /// Asks the operation to stop. Idempotent; a finished operation ignores it.
    pub fn cancel(&self) {
        self.cancel.send_replace(true);
    }
}

impl Drop for Operation {
    fn drop(&mut self) {
        OPS_LIVE.fetch_sub(1, Ordering::Relaxed);
        self.cancel.send_replace(true);
    }
}

fn is_terminal_text(text: &str) -> bool {
    // Events are produced by this module only; the type is one of a closed set.
    match serde_json::from_str::<Value>(text) {
        Ok(v) => matches!(v.get("type").and_then(Value::as_str), Some("result" | "error" | "cancelled")),
        Err(_) => false,
    }
}

/// Text of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

/// Facts about this build, returned by the `version` request.
pub fn version_info() -> Value {
    let codes: Vec<Value> =
        ErrorCode::ALL.iter().map(|c| json!({ "code": c.name(), "category": c.category() })).collect();
    json!({
        "libraryVersion": LIBRARY_VERSION,
        "protocolVersion": PROTOCOL_VERSION,
        "target": TARGET,
        "profile": PROFILE,
        "operationsStarted": OPS_STARTED.load(Ordering::Relaxed),
        "errorCodes": codes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(op: &Operation) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            match op.next_event(Duration::from_secs(10)) {
                Poll::Event(t) => out.push(serde_json::from_str(&t).unwrap()),
                Poll::Pending => panic!("no event within 10 s"),
                Poll::Done => return out,
            }
        }
    }

    fn debug_session() -> Arc<Session> {
        Arc::new(Session::new(SessionConfig { debug_hooks: true }))
    }

    #[test]
    fn version_ends_with_a_result() {
        let op = Operation::start(debug_session(), Request::Version {}).unwrap();
        let events = drain(&op);
        let last = events.last().unwrap();
        assert_eq!(last["type"], "result");
        assert_eq!(last["data"]["libraryVersion"], LIBRARY_VERSION);
        let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    }

    #[test]
    fn cancel_stops_a_sleep_promptly() {
        let op = Operation::start(debug_session(), Request::DebugSleep { ms: 60_000, progress_every_ms: 50 }).unwrap();
        std::thread::sleep(Duration::from_millis(120));
        let started = std::time::Instant::now();
        op.cancel();
        let events = drain(&op);
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(events.last().unwrap()["type"], "cancelled");
        assert_eq!(op.next_event(Duration::from_millis(1)), Poll::Done);
    }
}
