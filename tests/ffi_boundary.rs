//! Tests of the C boundary through the exported functions, as a C caller sees them.

use kodo::ffi::*;
use serde_json::Value;
use std::ffi::{CStr, CString, c_char};
use std::ptr;
use std::time::{Duration, Instant};

fn last_error() -> String {
    let p = kodo_last_error_message();
    assert!(!p.is_null(), "a failed call must leave a message");
    let s = unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string();
    assert_eq!(kodo_string_free(p), KodoStatus::Ok);
    s
}

fn session(config: &str) -> *mut KodoSession {
    let c = CString::new(config).unwrap();
    let mut s = ptr::null_mut();
    assert_eq!(unsafe { kodo_session_new(c.as_ptr(), &mut s) }, KodoStatus::Ok);
    assert!(!s.is_null());
    s
}

fn debug_session() -> *mut KodoSession {
    session(r#"{"v":1,"debugHooks":true}"#)
}

fn start(s: *mut KodoSession, request: &str) -> Result<*mut KodoOp, (KodoStatus, String)> {
    let c = CString::new(request).unwrap();
    let mut op = ptr::null_mut();
    match unsafe { kodo_op_start(s, c.as_ptr(), &mut op) } {
        KodoStatus::Ok => Ok(op),
        status => {
            assert!(op.is_null(), "out_op must stay NULL on failure");
            Err((status, last_error()))
        }
    }
}

/// Polls until Done; returns every event.
fn drain(op: *mut KodoOp) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut events = Vec::new();
    loop {
        assert!(Instant::now() < deadline, "operation did not finish");
        let mut out: *mut c_char = ptr::null_mut();
        match unsafe { kodo_op_next_event(op, 200, &mut out) } {
            KodoStatus::Ok => {
                let text = unsafe { CStr::from_ptr(out) }.to_str().unwrap().to_string();
                assert_eq!(kodo_string_free(out), KodoStatus::Ok);
                events.push(serde_json::from_str(&text).unwrap());
            }
            KodoStatus::Pending => assert!(out.is_null()),
            KodoStatus::Done => return events,
            other => panic!("unexpected status {other:?}: {}", last_error()),
        }
    }
}

fn run(s: *mut KodoSession, request: &str) -> Vec<Value> {
    let op = start(s, request).unwrap();
    let events = drain(op);
    assert_eq!(kodo_op_free(op), KodoStatus::Ok);
    events
}

#[test]
fn version_functions_agree_with_cargo_toml() {
    let v = unsafe { CStr::from_ptr(kodo_version()) }.to_str().unwrap();
    assert_eq!(v, env!("CARGO_PKG_VERSION"));
    assert_eq!(kodo_protocol_version(), kodo::protocol::PROTOCOL_VERSION);
    assert_eq!(KODO_PROTOCOL_VERSION, kodo::protocol::PROTOCOL_VERSION);
    let header = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/kodo.h")).unwrap();
    assert!(header.contains(&format!("#define KODO_VERSION \"{v}\"")), "header version differs from Cargo.toml");
    assert!(header.contains(&format!("#define KODO_PROTOCOL_VERSION {}", kodo_protocol_version())));
}

#[test]
fn status_names_are_stable_and_unknown_numbers_are_safe() {
    for s in kodo::ffi::status::ALL_STATUSES {
        let name = unsafe { CStr::from_ptr(kodo_status_name(s as i32)) }.to_str().unwrap();
        assert_eq!(name, s.name());
    }
    for raw in [-1, 3, 9, 19, i32::MAX, i32::MIN] {
        assert_eq!(unsafe { CStr::from_ptr(kodo_status_name(raw)) }.to_str().unwrap(), "Unknown");
    }
}

#[test]
fn version_request_round_trips() {
    let s = session(r#"{"v":1}"#);
    let events = run(s, r#"{"v":1,"kind":"version"}"#);
    let last = events.last().unwrap();
    assert_eq!(last["type"], "result");
    assert_eq!(last["v"], 1);
    assert_eq!(last["data"]["libraryVersion"], env!("CARGO_PKG_VERSION"));
    assert_eq!(last["data"]["protocolVersion"], 1);
    assert_eq!(kodo_session_free(s), KodoStatus::Ok);
}

#[test]
fn null_arguments_are_statuses_not_crashes() {
    let mut s = ptr::null_mut();
    assert_eq!(unsafe { kodo_session_new(ptr::null(), &mut s) }, KodoStatus::NullArgument);
    assert!(last_error().contains("config_json"));
    let cfg = CString::new(r#"{"v":1}"#).unwrap();
    assert_eq!(unsafe { kodo_session_new(cfg.as_ptr(), ptr::null_mut()) }, KodoStatus::NullArgument);
    assert!(last_error().contains("out_session"));

    let req = CString::new(r#"{"v":1,"kind":"version"}"#).unwrap();
    let mut op = ptr::null_mut();
    assert_eq!(unsafe { kodo_op_start(ptr::null_mut(), req.as_ptr(), &mut op) }, KodoStatus::NullArgument);
    assert!(last_error().contains("session"));
    let s = session(r#"{"v":1}"#);
    assert_eq!(unsafe { kodo_op_start(s, ptr::null(), &mut op) }, KodoStatus::NullArgument);
    assert_eq!(unsafe { kodo_op_start(s, req.as_ptr(), ptr::null_mut()) }, KodoStatus::NullArgument);

    let mut out = ptr::null_mut();
    assert_eq!(unsafe { kodo_op_next_event(ptr::null_mut(), 0, &mut out) }, KodoStatus::NullArgument);
    let op = start(s, r#"{"v":1,"kind":"version"}"#).unwrap();
    assert_eq!(unsafe { kodo_op_next_event(op, 0, ptr::null_mut()) }, KodoStatus::NullArgument);
    assert_eq!(kodo_op_cancel(ptr::null_mut()), KodoStatus::NullArgument);

    // Freeing NULL is a no-op, as free(3).
    assert_eq!(kodo_op_free(ptr::null_mut()), KodoStatus::Ok);
    assert_eq!(kodo_session_free(ptr::null_mut()), KodoStatus::Ok);
    assert_eq!(kodo_string_free(ptr::null_mut()), KodoStatus::Ok);
    assert!(kodo_last_error_message().is_null(), "a successful call clears the last error");

    assert_eq!(kodo_op_free(op), KodoStatus::Ok);
    assert_eq!(kodo_session_free(s), KodoStatus::Ok);
}

#[test]
fn invalid_utf8_is_refused() {
    let bad: &[u8] = b"{\"v\":1,\"kind\":\"ver\xffsion\"}\0";
    let s = session(r#"{"v":1}"#);
    let mut op = ptr::null_mut();
    assert_eq!(unsafe { kodo_op_start(s, bad.as_ptr().cast(), &mut op) }, KodoStatus::InvalidUtf8);
    assert!(last_error().contains("UTF-8"));
    let mut s2 = ptr::null_mut();
    assert_eq!(unsafe { kodo_session_new(bad.as_ptr().cast(), &mut s2) }, KodoStatus::InvalidUtf8);
    assert_eq!(kodo_session_free(s), KodoStatus::Ok);
}

#[test]
fn malformed_json_and_bad_requests_are_distinguished() {
    let s = session(r#"{"v":1}"#);
    let cases = [
        ("{", KodoStatus::InvalidJson),
        ("", KodoStatus::InvalidJson),
        ("[]", KodoStatus::InvalidRequest),
        (r#"{"kind":"version"}"#, KodoStatus::InvalidRequest),
        (r#"{"v":1,"kind":"no.such.kind"}"#, KodoStatus::InvalidRequest),
        (r#"{"v":1,"kind":"version","unexpected":true}"#, KodoStatus::InvalidRequest),
        (r#"{"v":1,"kind":"debug.sleep"}"#, KodoStatus::InvalidRequest),
        (r#"{"v":99,"kind":"version"}"#, KodoStatus::UnsupportedProtocol),
        (r#"{"v":"1","kind":"version"}"#, KodoStatus::UnsupportedProtocol),
    ];
    for (request, expected) in cases {
        let (status, message) = start(s, request).unwrap_err();
        assert_eq!(status, expected, "{request}: {message}");
        assert!(!message.is_empty());
    }
    let mut s2 = ptr::null_mut();
    let cfg = CString::new(r#"{"v":1,"nope":1}"#).unwrap();
    assert_eq!(unsafe { kodo_session_new(cfg.as_ptr(), &mut s2) }, KodoStatus::InvalidRequest);
    let cfg = CString::new(r#"{"v":2}"#).unwrap();
    assert_eq!(unsafe { kodo_session_new(cfg.as_ptr(), &mut s2) }, KodoStatus::UnsupportedProtocol);
    assert!(s2.is_null());
    assert_eq!(kodo_session_free(s), KodoStatus::Ok);
}

#[test]
fn stale_forged_and_wrong_kind_handles_are_refused() {
    let s = session(r#"{"v":1}"#);
    let op = start(s, r#"{"v":1,"kind":"version"}"#).unwrap();
    drain(op);
    assert_eq!(kodo_op_free(op), KodoStatus::Ok);
    assert_eq!(kodo_op_free(op), KodoStatus::InvalidHandle, "double free");
    let mut out = ptr::null_mut();
    assert_eq!(unsafe { kodo_op_next_event(op, 0, &mut out) }, KodoStatus::InvalidHandle);
    assert_eq!(kodo_op_cancel(op), KodoStatus::InvalidHandle);
    // A session handle is not an operation handle, and the reverse.
    assert_eq!(kodo_op_cancel(s.cast()), KodoStatus::InvalidHandle);
    let req = CString::new(r#"{"v":1,"kind":"version"}"#).unwrap();
    let mut op2 = ptr::null_mut();
    assert_eq!(unsafe { kodo_op_start(op.cast(), req.as_ptr(), &mut op2) }, KodoStatus::InvalidHandle);
    assert_eq!(kodo_op_free(0x1234usize as *mut KodoOp), KodoStatus::InvalidHandle);
    assert_eq!(kodo_session_free(s), KodoStatus::Ok);
    assert_eq!(kodo_session_free(s), KodoStatus::InvalidHandle);
    // A pointer this library never returned is not freed.
    let mut foreign = *b"not ours\0";
    assert_eq!(kodo_string_free(foreign.as_mut_ptr().cast()), KodoStatus::InvalidHandle);
}

#[test]
fn debug_requests_need_debug_hooks() {
    let s = session(r#"{"v":1}"#);
    let (status, message) = start(s, r#"{"v":1,"kind":"debug.events"}"#).unwrap_err();
    assert_eq!(status, KodoStatus::DebugHooksDisabled);
    assert!(message.contains("debugHooks"));
    assert_eq!(kodo_session_free(s), KodoStatus::Ok);
}

#[test]
fn a_panic_at_start_is_a_status() {
    let s = debug_session();
    let (status, message) =
        start(s, r#"{"v":1,"kind":"debug.panic","message":"boom at start","at":"start"}"#).unwrap_err();
    assert_eq!(status, KodoStatus::Panic);
    assert!(message.contains("boom at start"), "{message}");
    // The library still works afterwards.
    assert_eq!(run(s, r#"{"v":1,"kind":"version"}"#).last().unwrap()["type"], "result");
    assert_eq!(kodo_session_free(s), KodoStatus::Ok);
}

#[test]
fn a_panic_inside_an_operation_is_an_error_event() {
    let s = debug_session();
    let events = run(s, r#"{"v":1,"kind":"debug.panic","message":"boom inside"}"#);
    let last = events.last().unwrap();
    assert_eq!(last["type"], "error");
    assert_eq!(last["error"]["code"], "Panic");
    assert!(last["error"]["message"].as_str().unwrap().contains("boom inside"));
    assert_eq!(kodo_session_free(s), KodoStatus::Ok);
}

#[test]
fn errors_carry_code_category_and_target() {
    let s = debug_session();
    let events =
        run(s, r#"{"v":1,"kind":"debug.fail","code":"PermissionDenied","message":"no role","target":"app-1"}"#);
    let e = &events.last().unwrap()["error"];
    assert_eq!(e["code"], "PermissionDenied");
    assert_eq!(e["category"], "PermissionDenied");
    assert_eq!(e["message"], "no role");
    assert_eq!(e["target"], "app-1");
    assert_eq!(kodo_session_free(s), KodoStatus::Ok);
}

#[test]
fn every_event_type_arrives_in_order_and_the_terminal_one_is_last() {
    let s = debug_session();
    let events = run(s, r#"{"v":1,"kind":"debug.events"}"#);
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["progress", "log", "log", "log", "warning", "prompt", "result"]);
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=7).collect::<Vec<_>>());
    assert_eq!(kodo_session_free(s), KodoStatus::Ok);
}

#[test]
fn cancel_ends_a_long_operation_promptly_and_exactly_once() {
    let s = debug_session();
    let op = start(s, r#"{"v":1,"kind":"debug.sleep","ms":600000,"progressEveryMs":20}"#).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    assert_eq!(kodo_op_cancel(op), KodoStatus::Ok);
    assert_eq!(kodo_op_cancel(op), KodoStatus::Ok, "cancel is idempotent");
    let events = drain(op);
    assert!(t.elapsed() < Duration::from_secs(2), "took {:?}", t.elapsed());
    let terminal: Vec<_> =
        events.iter().filter(|e| matches!(e["type"].as_str(), Some("result" | "error" | "cancelled"))).collect();
    assert_eq!(terminal.len(), 1);
    assert_eq!(events.last().unwrap()["type"], "cancelled");
    let mut out = ptr::null_mut();
    assert_eq!(unsafe { kodo_op_next_event(op, 0, &mut out) }, KodoStatus::Done);
    assert_eq!(kodo_op_cancel(op), KodoStatus::Ok, "cancelling a finished operation is harmless");
    assert_eq!(kodo_op_free(op), KodoStatus::Ok);
    assert_eq!(kodo_session_free(s), KodoStatus::Ok);
}

#[test]
fn pending_is_returned_while_nothing_happens() {
    let s = debug_session();
    let op = start(s, r#"{"v":1,"kind":"debug.sleep","ms":5000,"progressEveryMs":5000}"#).unwrap();
    let mut out = ptr::null_mut();
    let t = Instant::now();
    assert_eq!(unsafe { kodo_op_next_event(op, 50, &mut out) }, KodoStatus::Pending);
    assert!(t.elapsed() >= Duration::from_millis(45));
    assert!(out.is_null());
    // Freeing a running operation cancels it.
    assert_eq!(kodo_op_free(op), KodoStatus::Ok);
    assert_eq!(kodo_session_free(s), KodoStatus::Ok);
}

#[test]
fn an_operation_outlives_its_freed_session() {
    let s = debug_session();
    let op = start(s, r#"{"v":1,"kind":"debug.sleep","ms":50}"#).unwrap();
    assert_eq!(kodo_session_free(s), KodoStatus::Ok);
    assert_eq!(drain(op).last().unwrap()["type"], "result");
    assert_eq!(kodo_op_free(op), KodoStatus::Ok);
}

#[test]
fn many_threads_at_once() {
    let shared = debug_session() as usize;
    let threads: Vec<_> = (0..16)
        .map(|i| {
            std::thread::spawn(move || {
                for j in 0..20 {
                    // Half use the shared session, half their own.
                    let own = i % 2 == 0;
                    let s = if own { debug_session() } else { shared as *mut KodoSession };
                    let request = match (i + j) % 4 {
                        0 => r#"{"v":1,"kind":"version"}"#,
                        1 => r#"{"v":1,"kind":"debug.events"}"#,
                        2 => r#"{"v":1,"kind":"debug.fail","code":"NotFound","message":"x"}"#,
                        _ => r#"{"v":1,"kind":"debug.sleep","ms":5,"progressEveryMs":1}"#,
                    };
                    let events = run(s, request);
                    let last = events.last().unwrap()["type"].as_str().unwrap().to_string();
                    assert!(matches!(last.as_str(), "result" | "error"), "{last}");
                    // Errors on one thread do not leak into another thread's last error.
                    let (status, _) = start(s, "{").unwrap_err();
                    assert_eq!(status, KodoStatus::InvalidJson);
                    if own {
                        assert_eq!(kodo_session_free(s), KodoStatus::Ok);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(kodo_session_free(shared as *mut KodoSession), KodoStatus::Ok);
}
