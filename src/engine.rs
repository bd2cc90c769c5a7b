//! Sessions and operations: the Rust side of the handles the C boundary hands out.
//!
//! An operation runs as a task on one shared tokio runtime and reports through a channel of
//! serialized events. The caller polls the channel ([`Operation::next_event`]); it never calls
//! back into the host, so the host decides on which thread its streams are written.

use crate::error::{ErrorCode, KodoError};
use crate::protocol::{Event, EventBody, LogLevel, PROTOCOL_VERSION, Request, SessionConfig};
use serde_json::{Value, json};
use std::collections::HashMap;
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
    pub connection: tokio::sync::RwLock<Option<Arc<crate::auth::Connection>>>,
}

impl Session {
    pub fn new(config: SessionConfig) -> Self {
        Session { config, connection: tokio::sync::RwLock::new(None) }
    }

    /// The current connection, or the error Get-KodoContext users expect.
    pub async fn connected(&self) -> Result<Arc<crate::auth::Connection>, KodoError> {
        self.connection
            .read()
            .await
            .clone()
            .ok_or_else(|| KodoError::new(ErrorCode::AuthenticationFailed, "Not connected. Run Connect-Kodo first."))
    }
}

/// Questions an operation asks its host (for example: sign these bytes with the certificate's
/// key), answered through `kodo_op_respond`.
#[derive(Default)]
pub struct Asks {
    pending: Mutex<HashMap<String, tokio::sync::oneshot::Sender<Value>>>,
}

/// What a running operation can do besides returning: report, and ask the host.
pub struct OpContext {
    sink: EventSink,
    asks: Arc<Asks>,
}

impl OpContext {
    pub fn log(&self, level: LogLevel, message: impl Into<String>) {
        self.sink.log(level, message);
    }
    pub fn warn(&self, message: impl Into<String>) {
        self.sink.emit(EventBody::Warning { message: message.into() });
    }
    pub fn progress(&self, activity: &str, status: impl Into<String>, percent: Option<u8>) {
        self.sink.progress(activity, status, percent);
    }
    /// Sends one element of a list result now (an `item` event).
    pub fn item(&self, data: Value) {
        self.sink.emit(EventBody::Item { data });
    }
    pub fn prompt(&self, message: String, data: Value) {
        self.sink.emit(EventBody::Prompt { message, data: Some(data) });
    }

    /// Emits a prompt of `kind` with a request id and waits (up to 2 minutes) for the host's
    /// answer through `kodo_op_respond`.
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
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

    fn progress(&self, activity: &str, status: impl Into<String>, percent: Option<u8>) {
        self.emit(EventBody::Progress { activity: activity.into(), status: status.into(), percent });
    }

    fn log(&self, level: LogLevel, message: impl Into<String>) {
        self.emit(EventBody::Log { level, message: message.into() });
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

static OPS_STARTED: AtomicU64 = AtomicU64::new(0);
static OPS_LIVE: AtomicU64 = AtomicU64::new(0);
static OPS_CANCELLED: AtomicU64 = AtomicU64::new(0);

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
        let ctx = OpContext { sink: sink.clone(), asks: asks.clone() };
        let mut work = rt.spawn(async move { run(&session, request, &ctx).await });
        rt.spawn(async move {
            let terminal = tokio::select! {
                biased;
                joined = &mut work => match joined {
                    Ok(Ok(data)) => EventBody::Result { data },
                    Ok(Err(e)) => EventBody::Error { error: e.into() },
                    Err(j) if j.is_panic() => {
                        let message = panic_message(j.into_panic().as_ref());
                        EventBody::Error {
                            error: KodoError::new(ErrorCode::Panic, format!("internal error (panic): {message}")).into(),
                        }
                    }
                    Err(_) => EventBody::Cancelled { message: "the operation was cancelled".into() },
                },
                // Fires on cancel, and also when the operation is freed (the sender drops).
                _ = cancel_rx.wait_for(|c| *c) => {
                    work.abort();
                    OPS_CANCELLED.fetch_add(1, Ordering::Relaxed);
                    EventBody::Cancelled { message: "the operation was cancelled".into() }
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

    /// Delivers the host's answer to an `ask` (matched by `requestId`).
    pub fn respond(&self, answer: Value) -> Result<(), String> {
        let id = answer.get("requestId").and_then(Value::as_str).ok_or("the answer has no requestId")?.to_string();
        let sender = lock(&self.asks.pending)
            .remove(&id)
            .ok_or_else(|| format!("no question with requestId {id} is waiting"))?;
        sender.send(answer).map_err(|_| "the operation stopped waiting".to_string())
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

async fn run(session: &Session, request: Request, ctx: &OpContext) -> Result<Value, KodoError> {
    let sink = &ctx.sink;
    match request {
        Request::Version {} => {
            sink.log(LogLevel::Debug, format!("kodo native library {LIBRARY_VERSION} ({TARGET}, {PROFILE})"));
            Ok(version_info())
        }
        Request::DebugSleep { ms, progress_every_ms } => {
            let step = progress_every_ms.clamp(1, 60_000);
            let mut slept = 0u64;
            while slept < ms {
                let chunk = step.min(ms - slept);
                tokio::time::sleep(Duration::from_millis(chunk)).await;
                slept += chunk;
                let percent = u8::try_from(slept.saturating_mul(100) / ms.max(1)).unwrap_or(100);
                sink.progress("Sleeping", format!("{slept} of {ms} ms"), Some(percent));
            }
            Ok(json!({ "sleptMs": slept }))
        }
        Request::DebugFail { code, message, target } => {
            let mut e = KodoError::new(code, message);
            e.target = target;
            Err(e)
        }
        Request::DebugPanic { message, .. } => panic!("{message}"),
        Request::DebugEvents {} => {
            sink.progress("Debug events", "halfway", Some(50));
            sink.log(LogLevel::Verbose, "a verbose line");
            sink.log(LogLevel::Debug, "a debug line");
            sink.log(LogLevel::Information, "an information line");
            sink.emit(EventBody::Warning { message: "a warning".into() });
            sink.emit(EventBody::Prompt {
                message: "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code DEBUG1234 to authenticate.".into(),
                data: Some(json!({ "userCode": "DEBUG1234", "verificationUri": "https://microsoft.com/devicelogin" })),
            });
            Ok(json!({ "emitted": ["progress", "log", "log", "log", "warning", "prompt"] }))
        }
        Request::Connect { tenant_id, environment, credential } => {
            connect(session, ctx, tenant_id, environment, credential).await
        }
        Request::Disconnect {} => {
            let previous = session.connection.write().await.take();
            match previous {
                Some(c) => {
                    c.forget().await;
                    Ok(json!({ "disconnected": true, "tenantId": c.context()["tenantId"] }))
                }
                None => Ok(json!({ "disconnected": false })),
            }
        }
        Request::TokenInfo { resource } => {
            let connection = session.connected().await?;
            let resource = match resource.as_str() {
                "graph" => connection.env.graph.clone(),
                "exchange" => connection.env.exchange.clone(),
                other => other.to_string(),
            };
            let token = connection.token(ctx, &resource).await?;
            let claims = crate::emulator::pki::parse_jwt(&token).map(|j| j.claims).unwrap_or(Value::Null);
            Ok(json!({
                "resource": resource,
                "audience": claims["aud"],
                "appOnly": claims["idtyp"] == "app",
                "roles": claims["roles"].as_array().cloned().unwrap_or_default(),
                "scopes": claims["scp"].as_str().map(|s| s.split_whitespace().collect::<Vec<_>>()).unwrap_or_default(),
                "authMethod": claims["appidacr"],
                "expiresOn": claims["exp"].as_i64().and_then(|e| chrono::DateTime::from_timestamp(e, 0)).map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            }))
        }
        Request::EnsureApp(req) => {
            let connection = session.connected().await?;
            let graph = crate::graph::Graph::new(&connection, ctx);
            let mut result = crate::onboarding::ensure_app(ctx, &graph, req).await?;
            result["tenantId"] = connection.context()["tenantId"].clone();
            Ok(result)
        }
        Request::GrantPermissions(req) => {
            let connection = session.connected().await?;
            let graph = crate::graph::Graph::new(&connection, ctx);
            crate::onboarding::grant_permissions(ctx, &graph, req).await
        }
        Request::Onboard(req) => {
            let connection = session.connected().await?;
            let graph = crate::graph::Graph::new(&connection, ctx);
            let mut result = crate::onboarding::onboard(&connection, ctx, &graph, req).await?;
            if result["app"].is_object() {
                result["app"]["tenantId"] = connection.context()["tenantId"].clone();
            }
            Ok(result)
        }
        Request::OnboardMany(req) => crate::onboarding::onboard_many(ctx, req).await,
        Request::TestApp(req) => {
            let connection = session.connected().await?;
            let graph = crate::graph::Graph::new(&connection, ctx);
            crate::onboarding::test_app(&connection, ctx, &graph, req).await
        }
        Request::RemoveCredential(req) => {
            let connection = session.connected().await?;
            let graph = crate::graph::Graph::new(&connection, ctx);
            crate::onboarding::remove_credential(ctx, &graph, req).await
        }
        Request::RemoveApp(req) => {
            let connection = session.connected().await?;
            let graph = crate::graph::Graph::new(&connection, ctx);
            crate::onboarding::remove_app(ctx, &graph, req).await
        }
        Request::SharePointTenant { route, legacy_auth_protocols_enabled, dry_run, ask_approval } => {
            let connection = session.connected().await?;
            crate::sharepoint::tenant(&connection, ctx, &route, legacy_auth_protocols_enabled, dry_run, ask_approval)
                .await
        }
        Request::SharePointVerify {} => {
            let connection = session.connected().await?;
            crate::sharepoint::verify(&connection, ctx).await
        }
        Request::Context {} => Ok(session.connection.read().await.as_ref().map(|c| c.context()).unwrap_or(Value::Null)),
        Request::DebugStats {} => Ok(json!({
            "operationsStarted": OPS_STARTED.load(Ordering::Relaxed),
            // This operation itself is live while it runs.
            "operationsLive": OPS_LIVE.load(Ordering::Relaxed).saturating_sub(1),
            "operationsCancelled": OPS_CANCELLED.load(Ordering::Relaxed),
            // Tasks on the shared runtime (this operation's two included): a leak shows here.
            "runtimeTasks": tokio::runtime::Handle::current().metrics().num_alive_tasks(),
        })),
    }
}

/// `connect`: validates the input, signs in for Microsoft Graph, and keeps the connection.
async fn connect(
    session: &Session,
    ctx: &OpContext,
    tenant_id: Option<String>,
    environment: crate::auth::EnvironmentSpec,
    credential: crate::auth::CredentialSpec,
) -> Result<Value, KodoError> {
    let connection = open_connection(ctx, tenant_id, environment, credential).await?;
    let context = connection.context();
    *session.connection.write().await = Some(Arc::new(connection));
    Ok(context)
}

/// Checks the sign-in request, signs in (the first Graph token) and returns the connection.
pub(crate) async fn open_connection(
    ctx: &OpContext,
    tenant_id: Option<String>,
    environment: crate::auth::EnvironmentSpec,
    credential: crate::auth::CredentialSpec,
) -> Result<crate::auth::Connection, KodoError> {
    use crate::auth::{Connection, CredentialSpec};
    let env = environment.resolve()?;
    let needs_tenant = matches!(
        credential,
        CredentialSpec::ClientSecret { .. }
            | CredentialSpec::CertificatePem { .. }
            | CredentialSpec::HostCertificate { .. }
    );
    let tenant = match tenant_id.filter(|t| !t.trim().is_empty()) {
        Some(t) => {
            let t = t.trim().to_string();
            let domain_like = t.contains('.') && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
            if uuid::Uuid::parse_str(&t).is_err() && !domain_like {
                return Err(KodoError::new(
                    ErrorCode::InvalidArgument,
                    format!("The tenant '{t}' is neither a GUID nor a domain name such as contoso.onmicrosoft.com."),
                )
                .with_target(t));
            }
            Some(t)
        }
        None if needs_tenant => {
            return Err(KodoError::new(
                ErrorCode::InvalidArgument,
                "-TenantId is required with a client secret or a certificate.",
            ));
        }
        None if matches!(credential, CredentialSpec::DeviceCode { .. }) => Some("organizations".to_string()),
        None => None,
    };
    let connection = Connection::new(tenant, env, credential)?;
    ctx.progress("Connect-Kodo", format!("Signing in ({})", connection.kind), None);
    let graph = connection.env.graph.clone();
    let token = connection.token(ctx, &graph).await?;
    *connection.claims.lock() = crate::emulator::pki::parse_jwt(&token).map(|j| j.claims).unwrap_or(Value::Null);
    let context = connection.context();
    ctx.log(
        LogLevel::Verbose,
        format!(
            "Connected to tenant {} ({}) as {} {}",
            context["tenantId"].as_str().unwrap_or("?"),
            connection.env.name,
            connection.kind,
            context["clientId"].as_str().unwrap_or("")
        ),
    );
    Ok(connection)
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
