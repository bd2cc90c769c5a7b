//! A proptest-driven fuzz target over the C boundary: random bytes, JSON-ish documents (mutated,
//! deeply nested, with invalid UTF-8) into `kodo_session_new`, `kodo_op_start` and
//! `kodo_op_respond`, and random sequences of calls on live, freed and forged handles and
//! strings. Every call must return a status its doc comment documents (checked against an
//! oracle of what the text is), leave a message for an error status, never crash, and at the
//! end of each case nothing handed out may be left.
//!
//! Fast tier: `cargo test --test ffi_fuzz` (a modest number of cases). Long tier:
//! `KODO_FUZZ_CASES=20000 cargo test --test ffi_fuzz` (`build.ps1 -Task Reliability`).

use kodo::ffi::*;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::ffi::{CStr, CString, c_char};
use std::ptr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The tests below check global counts (live handles, outstanding strings): one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn cases(default: u32) -> u32 {
    std::env::var("KODO_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn config(default: u32) -> Config {
    Config {
        cases: cases(default),
        max_shrink_iters: 2_000,
        // A failing case is written here and run first from then on (commit the file).
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/ffi_fuzz.proptest-regressions"
        )))),
        ..Config::default()
    }
}

/// How often each status was returned (by number), for the summary line.
static SEEN: [AtomicU64; 19] = [const { AtomicU64::new(0) }; 19];

fn summary() -> String {
    let mut calls = 0;
    let mut parts = Vec::new();
    for (n, count) in SEEN.iter().enumerate() {
        let count = count.load(Ordering::Relaxed);
        if count > 0 {
            calls += count;
            let name = unsafe { CStr::from_ptr(kodo_status_name(n as i32)) }.to_string_lossy().into_owned();
            parts.push(format!("{name} {count}"));
        }
    }
    format!("{calls} calls ({})", parts.join(", "))
}

// ---- What the text is: the oracle ----------------------------------------------------------

/// What the boundary must answer for a JSON argument, before any meaning is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Refused for what it is, with exactly this status.
    Refused(KodoStatus),
    /// A versioned object of this protocol: what follows depends on the call.
    Versioned,
}

fn shape(bytes: &[u8]) -> Shape {
    if bytes.len() > KODO_MAX_JSON_BYTES as usize {
        return Shape::Refused(KodoStatus::InvalidJson);
    }
    let Ok(text) = std::str::from_utf8(bytes) else { return Shape::Refused(KodoStatus::InvalidUtf8) };
    let Ok(value) = serde_json::from_str::<Value>(text) else { return Shape::Refused(KodoStatus::InvalidJson) };
    let Value::Object(map) = value else { return Shape::Refused(KodoStatus::InvalidRequest) };
    match map.get("v") {
        None => Shape::Refused(KodoStatus::InvalidRequest),
        Some(v) if v.as_u64() == Some(u64::from(KODO_PROTOCOL_VERSION)) => Shape::Versioned,
        Some(_) => Shape::Refused(KodoStatus::UnsupportedProtocol),
    }
}

/// A C string of `bytes` up to the first NUL, as C sees it.
fn c_text(bytes: &[u8]) -> CString {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    CString::new(&bytes[..end]).unwrap()
}

/// Checks the thread's last error agrees with `status`: a message for an error, none otherwise.
fn check_message(status: KodoStatus, call: &str) -> Result<(), TestCaseError> {
    if let Some(count) = SEEN.get(status as usize) {
        count.fetch_add(1, Ordering::Relaxed);
    }
    let message = kodo_last_error_message();
    if status.is_error() {
        prop_assert!(!message.is_null(), "{call} returned {status:?} without a message");
        let text = unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned();
        prop_assert!(!text.is_empty(), "{call}: empty message");
        prop_assert_eq!(kodo_string_free(message), KodoStatus::Ok);
    } else {
        prop_assert!(message.is_null(), "{call} returned {status:?} and left a message");
    }
    Ok(())
}

// ---- Generators --------------------------------------------------------------------------

const KINDS: &[&str] = &[
    "version",
    "context",
    "disconnect",
    "spo.verify",
    "debug.sleep",
    "debug.fail",
    "debug.panic",
    "debug.events",
    "debug.stats",
    "debug.ask",
    "no.such.kind",
    "",
    "VERSION",
];

const KEYS: &[&str] =
    &["v", "kind", "ms", "progressEveryMs", "code", "message", "at", "target", "requestId", "debugHooks", "x"];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![4 => proptest::sample::select(KEYS).prop_map(str::to_string), 1 => "[a-zA-Z]{1,8}"]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (0u64..100).prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        proptest::sample::select(KINDS).prop_map(|k| json!(k)),
        proptest::sample::select(&["start", "task", "NotFound", "PermissionDenied", "Internal"][..])
            .prop_map(|k| json!(k)),
        ".{0,16}".prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(key(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object that looks like a request or configuration: a version (mostly 1), a kind, and
/// some of the fields requests take.
fn request_like() -> impl Strategy<Value = Value> {
    let version = prop_oneof![
        8 => Just(json!(1)),
        1 => any::<i64>().prop_map(|n| json!(n)),
        1 => proptest::sample::select(vec![json!("1"), json!(1.0), json!(null), json!(4_294_967_297u64), json!([1])]),
    ];
    let debug_sleep_ms = (0u64..40).prop_map(|n| json!(n));
    (
        version,
        proptest::option::of(proptest::sample::select(KINDS)),
        proptest::option::of(debug_sleep_ms),
        prop_oneof![3 => Just(Default::default()), 1 => btree_map(key(), leaf(), 1..3)],
    )
        .prop_map(|(v, kind, ms, extra)| {
            let mut m = serde_json::Map::new();
            for (k, value) in extra {
                m.insert(k, value);
            }
            m.insert("v".into(), v);
            if let Some(kind) = kind {
                m.insert("kind".into(), json!(kind));
            }
            if let Some(ms) = ms {
                m.insert("ms".into(), ms);
            }
            Value::Object(m)
        })
}

/// Damage done to a document.
#[derive(Debug, Clone)]
enum Mutation {
    None,
    Truncate(usize),
    Insert(usize, u8),
    Replace(usize, u8),
    /// An invalid UTF-8 sequence spliced in.
    BadUtf8(usize, usize),
    /// Wrapped in this many levels of `[` (closed or not).
    Nest(usize, bool),
}

const BAD_UTF8: &[&[u8]] =
    &[b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80", b"\xe2\x82", b"\xfe\xfe"];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        8 => Just(Mutation::None),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        1 => (any::<usize>(), 0..BAD_UTF8.len()).prop_map(|(i, k)| Mutation::BadUtf8(i, k)),
        1 => (prop_oneof![1usize..140, 100_000usize..100_001], any::<bool>()).prop_map(|(n, c)| Mutation::Nest(n, c)),
    ]
}

fn mutate(mut bytes: Vec<u8>, m: &Mutation) -> Vec<u8> {
    let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
    match *m {
        Mutation::None => {}
        Mutation::Truncate(i) => bytes.truncate(at(i, bytes.len())),
        Mutation::Insert(i, b) => {
            let i = at(i, bytes.len());
            bytes.insert(i, b);
        }
        Mutation::Replace(i, b) => {
            if !bytes.is_empty() {
                let i = i % bytes.len();
                bytes[i] = b;
            }
        }
        Mutation::BadUtf8(i, k) => {
            let i = at(i, bytes.len());
            bytes.splice(i..i, BAD_UTF8[k].iter().copied());
        }
        Mutation::Nest(n, closed) => {
            let mut out = vec![b'['; n];
            out.extend_from_slice(&bytes);
            if closed {
                out.extend(std::iter::repeat_n(b']', n));
            }
            bytes = out;
        }
    }
    bytes
}

/// A hostile document: raw bytes, a JSON-ish value, or a request-like object, then damaged.
fn document() -> impl Strategy<Value = Vec<u8>> {
    let base = prop_oneof![
        1 => vec(any::<u8>(), 0..256),
        1 => ".{0,64}".prop_map(String::into_bytes),
        3 => json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        4 => request_like().prop_map(|v| serde_json::to_vec(&v).unwrap()),
    ];
    (base, mutation()).prop_map(|(bytes, m)| mutate(bytes, &m))
}

// ---- Helpers over the boundary -------------------------------------------------------------

fn new_session(config: &str) -> *mut KodoSession {
    let c = CString::new(config).unwrap();
    let mut s = ptr::null_mut();
    assert_eq!(unsafe { kodo_session_new(c.as_ptr(), &mut s) }, KodoStatus::Ok);
    s
}

fn start(s: *mut KodoSession, request: &str) -> *mut KodoOp {
    let c = CString::new(request).unwrap();
    let mut op = ptr::null_mut();
    assert_eq!(unsafe { kodo_op_start(s, c.as_ptr(), &mut op) }, KodoStatus::Ok);
    op
}

/// Waits for the `requestId` of a debug.ask operation's question.
fn request_id(op: *mut KodoOp) -> String {
    for _ in 0..100 {
        let mut event: *mut c_char = ptr::null_mut();
        match unsafe { kodo_op_next_event(op, 100, &mut event) } {
            KodoStatus::Ok => {
                let text = unsafe { CStr::from_ptr(event) }.to_str().unwrap().to_string();
                assert_eq!(kodo_string_free(event), KodoStatus::Ok);
                let v: Value = serde_json::from_str(&text).unwrap();
                if let Some(id) = v["data"]["requestId"].as_str() {
                    return id.to_string();
                }
            }
            KodoStatus::Pending => {}
            other => panic!("debug.ask ended without asking: {other:?}"),
        }
    }
    panic!("debug.ask did not ask within 10 s")
}

/// The library's own counts, to compare before and after a case.
fn counts() -> (usize, usize, usize) {
    let (sessions, ops) = live_handles();
    (sessions, ops, outstanding_strings())
}

// ---- Documents into every export that parses one ---------------------------------------------

fn documents_case(
    doc: &[u8],
    plain: *mut KodoSession,
    debug: *mut KodoSession,
    asking: *mut KodoOp,
) -> Result<(), TestCaseError> {
    let text = c_text(doc);
    let expected = shape(text.as_bytes());
    let is_debug_kind = serde_json::from_slice::<Value>(text.as_bytes())
        .ok()
        .and_then(|v| v.get("kind").and_then(Value::as_str).map(|k| k.starts_with("debug.")))
        .unwrap_or(false);

    // kodo_session_new.
    let mut s: *mut KodoSession = ptr::dangling_mut();
    let status = unsafe { kodo_session_new(text.as_ptr(), &mut s) };
    check_message(status, "kodo_session_new")?;
    match expected {
        Shape::Refused(want) => prop_assert_eq!(status, want),
        Shape::Versioned => prop_assert!(matches!(status, KodoStatus::Ok | KodoStatus::InvalidRequest), "{status:?}"),
    }
    if status == KodoStatus::Ok {
        prop_assert!(!s.is_null());
        prop_assert_eq!(kodo_session_free(s), KodoStatus::Ok);
        prop_assert_eq!(kodo_session_free(s), KodoStatus::InvalidHandle);
    } else {
        prop_assert!(s.is_null(), "out_session not cleared on failure");
    }

    // kodo_op_start, on a session with and without debug hooks.
    for (session, hooks) in [(plain, false), (debug, true)] {
        let mut op: *mut KodoOp = ptr::dangling_mut();
        let status = unsafe { kodo_op_start(session, text.as_ptr(), &mut op) };
        check_message(status, "kodo_op_start")?;
        match expected {
            Shape::Refused(want) => prop_assert_eq!(status, want),
            Shape::Versioned => {
                let allowed: &[KodoStatus] = match (hooks, is_debug_kind) {
                    (false, true) => &[KodoStatus::DebugHooksDisabled, KodoStatus::InvalidRequest],
                    (true, true) => &[KodoStatus::Ok, KodoStatus::InvalidRequest, KodoStatus::Panic],
                    (_, false) => &[KodoStatus::Ok, KodoStatus::InvalidRequest],
                };
                prop_assert!(allowed.contains(&status), "{status:?} not in {allowed:?} (hooks: {hooks})");
            }
        }
        if status == KodoStatus::Ok {
            prop_assert!(!op.is_null());
            // Read what came at once, then free it running or not (a free cancels).
            let mut event: *mut c_char = ptr::null_mut();
            let polled = unsafe { kodo_op_next_event(op, 0, &mut event) };
            prop_assert!(matches!(polled, KodoStatus::Ok | KodoStatus::Pending | KodoStatus::Done));
            if polled == KodoStatus::Ok {
                prop_assert_eq!(kodo_string_free(event), KodoStatus::Ok);
            } else {
                prop_assert!(event.is_null());
            }
            prop_assert_eq!(kodo_op_free(op), KodoStatus::Ok);
        } else {
            prop_assert!(op.is_null(), "out_op not cleared on failure");
        }
    }

    // kodo_op_respond, to an operation with a question waiting (never this document's id).
    let status = unsafe { kodo_op_respond(asking, text.as_ptr()) };
    check_message(status, "kodo_op_respond")?;
    match expected {
        Shape::Refused(want) => prop_assert_eq!(status, want),
        Shape::Versioned => prop_assert_eq!(status, KodoStatus::InvalidRequest),
    }
    Ok(())
}

#[test]
fn hostile_documents_get_their_documented_status() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let plain = new_session(r#"{"v":1}"#);
    let debug = new_session(r#"{"v":1,"debugHooks":true}"#);
    let asking = start(debug, r#"{"v":1,"kind":"debug.ask"}"#);
    let _ = request_id(asking);
    let before = counts();
    let started = Instant::now();
    let mut runner = TestRunner::new(config(2_000));
    let result = runner.run(&document(), |doc| documents_case(&doc, plain, debug, asking));
    println!(
        "ffi_fuzz: hostile documents: {} cases in {:.1} s; so far {}",
        runner.config().cases,
        started.elapsed().as_secs_f64(),
        summary()
    );
    result.unwrap();
    assert_eq!(counts(), before, "handles or strings left behind (sessions, operations, strings)");
    assert_eq!(kodo_op_free(asking), KodoStatus::Ok);
    assert_eq!(kodo_session_free(plain), KodoStatus::Ok);
    assert_eq!(kodo_session_free(debug), KodoStatus::Ok);
}

// ---- Random sequences of calls on live, freed and forged handles -----------------------------

#[derive(Debug, Clone)]
enum Action {
    NewSession {
        debug: bool,
    },
    FreeSession(usize),
    Start(usize, usize),
    NextEvent(usize, u32),
    /// Answer the operation's waiting question (if any), or send a hostile document.
    Respond(usize, Option<Vec<u8>>),
    Cancel(usize),
    FreeOp(usize),
    FreeString(usize),
    /// A string pointer this library did not hand out: inside a live string, or arbitrary.
    FreeForgedString(usize, usize),
    /// A handle this library did not hand out: near a real one, or arbitrary.
    Forged(usize, usize),
    NullArguments(usize),
}

/// Requests the sequences start (each a quick operation, a question, or a long one to cancel).
const SEQUENCE_REQUESTS: &[&str] = &[
    r#"{"v":1,"kind":"version"}"#,
    r#"{"v":1,"kind":"debug.events"}"#,
    r#"{"v":1,"kind":"debug.ask"}"#,
    r#"{"v":1,"kind":"debug.sleep","ms":600000,"progressEveryMs":5}"#,
    r#"{"v":1,"kind":"debug.sleep","ms":3,"progressEveryMs":1}"#,
    r#"{"v":1,"kind":"debug.fail","code":"NotFound","message":"fuzz"}"#,
    r#"{"v":1,"kind":"debug.panic","message":"fuzz inside"}"#,
    r#"{"v":1,"kind":"debug.panic","message":"fuzz at start","at":"start"}"#,
    r#"{"v":1,"kind":"debug.stats"}"#,
    r#"{"v":1,"kind":"context"}"#,
];

fn action() -> impl Strategy<Value = Action> {
    let i = any::<usize>;
    prop_oneof![
        2 => any::<bool>().prop_map(|debug| Action::NewSession { debug }),
        1 => i().prop_map(Action::FreeSession),
        4 => (i(), 0..SEQUENCE_REQUESTS.len()).prop_map(|(s, r)| Action::Start(s, r)),
        5 => (i(), prop_oneof![Just(0u32), 1u32..5]).prop_map(|(o, t)| Action::NextEvent(o, t)),
        2 => (i(), proptest::option::of(document())).prop_map(|(o, d)| Action::Respond(o, d)),
        1 => i().prop_map(Action::Cancel),
        2 => i().prop_map(Action::FreeOp),
        2 => i().prop_map(Action::FreeString),
        1 => (i(), i()).prop_map(|(a, b)| Action::FreeForgedString(a, b)),
        1 => (i(), i()).prop_map(|(a, b)| Action::Forged(a, b)),
        1 => i().prop_map(Action::NullArguments),
    ]
}

struct SessionModel {
    handle: *mut KodoSession,
    live: bool,
    debug: bool,
}

struct OpModel {
    handle: *mut KodoOp,
    live: bool,
    done: bool,
    cancelled: bool,
    /// A question asked and not answered yet.
    question: Option<String>,
}

struct StringModel {
    ptr: *mut c_char,
    live: bool,
}

#[derive(Default)]
struct Model {
    sessions: Vec<SessionModel>,
    ops: Vec<OpModel>,
    strings: Vec<StringModel>,
}

impl Model {
    fn live_handles(&self) -> HashSet<usize> {
        let s = self.sessions.iter().filter(|s| s.live).map(|s| s.handle as usize);
        s.chain(self.ops.iter().filter(|o| o.live).map(|o| o.handle as usize)).collect()
    }

    fn live_strings(&self) -> HashSet<usize> {
        self.strings.iter().filter(|s| s.live).map(|s| s.ptr as usize).collect()
    }

    fn any_handle(&self) -> Vec<usize> {
        let s = self.sessions.iter().map(|s| s.handle as usize);
        s.chain(self.ops.iter().map(|o| o.handle as usize)).collect()
    }
}

fn apply(model: &mut Model, action: &Action) -> Result<(), TestCaseError> {
    match action {
        Action::NewSession { debug } => {
            let config = if *debug { r#"{"v":1,"debugHooks":true}"# } else { r#"{"v":1}"# };
            let c = CString::new(config).unwrap();
            let mut s = ptr::null_mut();
            let status = unsafe { kodo_session_new(c.as_ptr(), &mut s) };
            check_message(status, "kodo_session_new")?;
            prop_assert_eq!(status, KodoStatus::Ok);
            model.sessions.push(SessionModel { handle: s, live: true, debug: *debug });
        }
        Action::FreeSession(i) => {
            if model.sessions.is_empty() {
                return Ok(());
            }
            let n = model.sessions.len();
            let s = &mut model.sessions[i % n];
            let status = kodo_session_free(s.handle);
            check_message(status, "kodo_session_free")?;
            prop_assert_eq!(status, if s.live { KodoStatus::Ok } else { KodoStatus::InvalidHandle });
            s.live = false;
        }
        Action::Start(i, r) => {
            if model.sessions.is_empty() {
                return Ok(());
            }
            let s = &model.sessions[i % model.sessions.len()];
            let request = SEQUENCE_REQUESTS[*r];
            let c = CString::new(request).unwrap();
            let mut op: *mut KodoOp = ptr::dangling_mut();
            let status = unsafe { kodo_op_start(s.handle, c.as_ptr(), &mut op) };
            check_message(status, "kodo_op_start")?;
            let is_debug = request.contains("debug.");
            let want = if !s.live {
                KodoStatus::InvalidHandle
            } else if is_debug && !s.debug {
                KodoStatus::DebugHooksDisabled
            } else if request.contains(r#""at":"start""#) {
                KodoStatus::Panic
            } else {
                KodoStatus::Ok
            };
            prop_assert_eq!(status, want, "{}", request);
            if status == KodoStatus::Ok {
                model.ops.push(OpModel { handle: op, live: true, done: false, cancelled: false, question: None });
            } else {
                prop_assert!(op.is_null());
            }
        }
        Action::NextEvent(i, timeout) => {
            if model.ops.is_empty() {
                return Ok(());
            }
            let n = model.ops.len();
            let o = &mut model.ops[i % n];
            let mut event: *mut c_char = ptr::dangling_mut();
            let status = unsafe { kodo_op_next_event(o.handle, *timeout, &mut event) };
            check_message(status, "kodo_op_next_event")?;
            if !o.live {
                prop_assert_eq!(status, KodoStatus::InvalidHandle);
            } else if o.done {
                prop_assert_eq!(status, KodoStatus::Done);
            } else {
                prop_assert!(matches!(status, KodoStatus::Ok | KodoStatus::Pending | KodoStatus::Done), "{status:?}");
            }
            match status {
                KodoStatus::Ok => {
                    prop_assert!(!event.is_null());
                    let text = unsafe { CStr::from_ptr(event) }.to_str().unwrap().to_string();
                    let v: Value = serde_json::from_str(&text).unwrap();
                    prop_assert_eq!(&v["v"], &json!(1));
                    if let Some(id) = v["data"]["requestId"].as_str() {
                        o.question = Some(id.to_string());
                    }
                    if matches!(v["type"].as_str(), Some("result" | "error" | "cancelled")) {
                        o.question = None;
                    }
                    model.strings.push(StringModel { ptr: event, live: true });
                }
                KodoStatus::Done => {
                    prop_assert!(event.is_null());
                    o.done = true;
                    o.question = None;
                }
                _ => prop_assert!(event.is_null(), "out_event_json not cleared"),
            }
        }
        Action::Respond(i, doc) => {
            if model.ops.is_empty() {
                return Ok(());
            }
            let n = model.ops.len();
            let o = &mut model.ops[i % n];
            let (text, want): (CString, Vec<KodoStatus>) = match (doc, &o.question) {
                (None, Some(id)) => (
                    CString::new(json!({"v": 1, "requestId": id, "fuzz": true}).to_string()).unwrap(),
                    vec![if o.cancelled { KodoStatus::InvalidRequest } else { KodoStatus::Ok }],
                ),
                (None, None) => {
                    (CString::new(r#"{"v":1,"requestId":"nobody-asked"}"#).unwrap(), vec![KodoStatus::InvalidRequest])
                }
                (Some(doc), _) => {
                    let text = c_text(doc);
                    let want = match shape(text.as_bytes()) {
                        Shape::Refused(s) => s,
                        Shape::Versioned => KodoStatus::InvalidRequest,
                    };
                    (text, vec![want])
                }
            };
            let status = unsafe { kodo_op_respond(o.handle, text.as_ptr()) };
            check_message(status, "kodo_op_respond")?;
            if !o.live {
                prop_assert_eq!(status, KodoStatus::InvalidHandle);
            } else {
                prop_assert!(want.contains(&status), "{status:?}, expected {want:?} for {text:?}");
            }
            if status == KodoStatus::Ok {
                o.question = None;
            }
        }
        Action::Cancel(i) => {
            if model.ops.is_empty() {
                return Ok(());
            }
            let n = model.ops.len();
            let o = &mut model.ops[i % n];
            let status = kodo_op_cancel(o.handle);
            check_message(status, "kodo_op_cancel")?;
            prop_assert_eq!(status, if o.live { KodoStatus::Ok } else { KodoStatus::InvalidHandle });
            if o.live {
                o.cancelled = true;
            }
        }
        Action::FreeOp(i) => {
            if model.ops.is_empty() {
                return Ok(());
            }
            let n = model.ops.len();
            let o = &mut model.ops[i % n];
            let status = kodo_op_free(o.handle);
            check_message(status, "kodo_op_free")?;
            prop_assert_eq!(status, if o.live { KodoStatus::Ok } else { KodoStatus::InvalidHandle });
            o.live = false;
        }
        Action::FreeString(i) => {
            if model.strings.is_empty() {
                return Ok(());
            }
            let live = model.live_strings();
            let k = i % model.strings.len();
            let s = &model.strings[k];
            // The documented limit: a freed address this library reused for a live string.
            if !s.live && live.contains(&(s.ptr as usize)) {
                return Ok(());
            }
            let status = kodo_string_free(s.ptr);
            check_message(status, "kodo_string_free")?;
            prop_assert_eq!(status, if s.live { KodoStatus::Ok } else { KodoStatus::InvalidHandle });
            model.strings[k].live = false;
        }
        Action::FreeForgedString(a, b) => {
            let live = model.live_strings();
            let candidate = match model.strings.iter().filter(|s| s.live).nth(a % (live.len() + 1)) {
                // Inside a live string (its first byte at least is there: never at its start).
                Some(s) => {
                    let len = unsafe { CStr::from_ptr(s.ptr) }.to_bytes().len();
                    (s.ptr as usize) + 1 + b % len.max(1)
                }
                None => *b | 1,
            };
            if candidate == 0 || live.contains(&candidate) {
                return Ok(());
            }
            let status = kodo_string_free(candidate as *mut c_char);
            check_message(status, "kodo_string_free")?;
            prop_assert_eq!(status, KodoStatus::InvalidHandle);
        }
        Action::Forged(a, b) => {
            let all = model.any_handle();
            let forged = match all.get(a % (all.len() + 1)) {
                Some(h) => h.wrapping_add(1 + b % 64),
                None => *b,
            };
            if forged == 0 || model.live_handles().contains(&forged) || model.live_strings().contains(&forged) {
                return Ok(());
            }
            let req = CString::new(r#"{"v":1,"kind":"version"}"#).unwrap();
            let mut op = ptr::null_mut();
            let mut event = ptr::null_mut();
            let answer = CString::new(r#"{"v":1,"requestId":"x"}"#).unwrap();
            let statuses = [
                unsafe { kodo_op_start(forged as *mut KodoSession, req.as_ptr(), &mut op) },
                unsafe { kodo_op_next_event(forged as *mut KodoOp, 0, &mut event) },
                unsafe { kodo_op_respond(forged as *mut KodoOp, answer.as_ptr()) },
                kodo_op_cancel(forged as *mut KodoOp),
                kodo_op_free(forged as *mut KodoOp),
                kodo_session_free(forged as *mut KodoSession),
                kodo_string_free(forged as *mut c_char),
            ];
            check_message(statuses[6], "kodo_string_free")?;
            for status in statuses {
                prop_assert_eq!(status, KodoStatus::InvalidHandle, "forged handle {:#x}", forged);
            }
            prop_assert!(op.is_null() && event.is_null());
        }
        Action::NullArguments(i) => {
            let req = CString::new(r#"{"v":1,"kind":"version"}"#).unwrap();
            let live_op = model.ops.iter().find(|o| o.live).map(|o| o.handle);
            let live_session = model.sessions.iter().find(|s| s.live).map(|s| s.handle);
            let mut op = ptr::null_mut();
            let mut s = ptr::null_mut();
            let status = match i % 7 {
                0 => unsafe { kodo_session_new(ptr::null(), &mut s) },
                1 => unsafe { kodo_session_new(req.as_ptr(), ptr::null_mut()) },
                2 => unsafe { kodo_op_start(live_session.unwrap_or(ptr::null_mut()), ptr::null(), &mut op) },
                3 => unsafe { kodo_op_start(live_session.unwrap_or(ptr::null_mut()), req.as_ptr(), ptr::null_mut()) },
                4 => unsafe { kodo_op_next_event(live_op.unwrap_or(ptr::null_mut()), 0, ptr::null_mut()) },
                5 => unsafe { kodo_op_respond(live_op.unwrap_or(ptr::null_mut()), ptr::null()) },
                _ => kodo_op_cancel(ptr::null_mut()),
            };
            check_message(status, "NULL argument")?;
            prop_assert_eq!(status, KodoStatus::NullArgument);
            prop_assert!(op.is_null() && s.is_null());
        }
    }
    Ok(())
}

fn sequence_case(actions: &[Action]) -> Result<(), TestCaseError> {
    let before = counts();
    let mut model = Model::default();
    let mut result = Ok(());
    for action in actions {
        result = apply(&mut model, action);
        if result.is_err() {
            break;
        }
    }
    // Whatever happened, give everything back, and nothing may be left.
    for s in model.strings.iter().filter(|s| s.live) {
        assert_eq!(kodo_string_free(s.ptr), KodoStatus::Ok);
    }
    for o in model.ops.iter().filter(|o| o.live) {
        assert_eq!(kodo_op_free(o.handle), KodoStatus::Ok);
    }
    for s in model.sessions.iter().filter(|s| s.live) {
        assert_eq!(kodo_session_free(s.handle), KodoStatus::Ok);
    }
    result?;
    prop_assert_eq!(counts(), before, "handles or strings left behind (sessions, operations, strings)");
    Ok(())
}

#[test]
fn random_call_sequences_on_live_freed_and_forged_handles() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let mut runner = TestRunner::new(config(1_000));
    let result = runner.run(&vec(action(), 1..40), |actions| sequence_case(&actions));
    println!(
        "ffi_fuzz: call sequences: {} cases in {:.1} s; so far {}",
        runner.config().cases,
        started.elapsed().as_secs_f64(),
        summary()
    );
    result.unwrap();
}
