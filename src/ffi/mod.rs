//! The C ABI. Everything that crosses it is checked here; nothing FFI-shaped goes deeper.
//!
//! Ownership rules:
//! - Handles (`KodoSession *`, `KodoOp *`) come from `*_new`/`*_start` and go back through
//!   `*_free`; freeing NULL is a no-op, freeing twice is `KODO_STATUS_INVALID_HANDLE`.
//! - Strings returned through `char **` out-parameters and by `kodo_last_error_message` are
//!   owned by the caller and go back through `kodo_string_free`. Strings returned as
//!   `const char *` are static and are never freed.
//! - Every string is UTF-8 and NUL-terminated.

mod boundary;
pub mod status;

use crate::engine::{Operation, Poll, Session};
use crate::protocol::{PROTOCOL_VERSION, ParseError, Request, SessionConfig, parse_versioned};
pub use boundary::outstanding_strings;
use boundary::{Failure, HandleTable, boundary, give_string, json_arg, out_arg, take_string};
pub use status::KodoStatus;
use std::ffi::c_char;
use std::sync::Arc;
use std::time::Duration;

/// An opaque session handle.
pub struct KodoSession {
    _private: [u8; 0],
}

/// An opaque operation handle.
pub struct KodoOp {
    _private: [u8; 0],
}

/// Protocol version of the JSON requests and events (also `kodo_protocol_version()`).
/// A literal so that C sees a number; a test ties it to the Rust constant.
pub const KODO_PROTOCOL_VERSION: u32 = 1;

/// Longest wait `kodo_op_next_event` accepts, in milliseconds; longer timeouts are clamped.
pub const KODO_MAX_WAIT_MS: u32 = 60_000;

/// Longest JSON argument (configuration, request, response) accepted, in bytes without the
/// terminating NUL (32 MiB: a 5 000-tenant run with a PEM certificate for each is ~20 MB).
/// A longer one is refused with `KODO_STATUS_INVALID_JSON` before it is parsed.
pub const KODO_MAX_JSON_BYTES: u32 = 33_554_432;

const MAX_JSON: usize = KODO_MAX_JSON_BYTES as usize;

static SESSIONS: HandleTable<Session> = HandleTable::new("session");
static OPS: HandleTable<Operation> = HandleTable::new("operation");

/// Number of live session and operation handles (tests use it to find leaks).
pub fn live_handles() -> (usize, usize) {
    (SESSIONS.len(), OPS.len())
}

fn parse_failure(what: &str, e: ParseError) -> Failure {
    match e {
        ParseError::Json(m) => Failure::new(KodoStatus::InvalidJson, format!("{what} is not valid JSON: {m}")),
        ParseError::Invalid(m) => Failure::new(KodoStatus::InvalidRequest, format!("{what} is not valid: {m}")),
        ParseError::Version(m) => Failure::new(KodoStatus::UnsupportedProtocol, m),
    }
}

/// The library version (for example `"0.1.0"`); static, never freed.
#[unsafe(no_mangle)]
pub extern "C" fn kodo_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The protocol version of requests and events this library speaks.
#[unsafe(no_mangle)]
pub extern "C" fn kodo_protocol_version() -> u32 {
    PROTOCOL_VERSION
}

/// The stable name of a status code (for example `"InvalidJson"`), or `"Unknown"` for a number
/// that was never published; static, never freed.
#[unsafe(no_mangle)]
pub extern "C" fn kodo_status_name(status: i32) -> *const c_char {
    match KodoStatus::from_raw(status) {
        Some(s) => s.c_name().as_ptr().cast(),
        None => c"Unknown".as_ptr(),
    }
}

/// The message of the last failed call on this thread, or NULL if the last call succeeded
/// (or the thread is exiting: a call from a thread-exit destructor keeps no message).
/// The caller frees it with `kodo_string_free`.
#[unsafe(no_mangle)]
pub extern "C" fn kodo_last_error_message() -> *mut c_char {
    match std::panic::catch_unwind(boundary_last_error) {
        Ok(p) => p,
        Err(payload) => {
            boundary::drop_payload(payload);
            std::ptr::null_mut()
        }
    }
}

fn boundary_last_error() -> *mut c_char {
    match boundary::last_error() {
        Some(m) => give_string(m),
        None => std::ptr::null_mut(),
    }
}

/// Creates a session from a JSON configuration such as `{"v":1}`.
///
/// Fails with `KODO_STATUS_NULL_ARGUMENT`, `KODO_STATUS_INVALID_UTF8`,
/// `KODO_STATUS_INVALID_JSON` (also for JSON longer than `KODO_MAX_JSON_BYTES` or nested
/// deeper than 127 levels),
/// `KODO_STATUS_INVALID_REQUEST` (not an object, no `"v"`, an unknown field) or
/// `KODO_STATUS_UNSUPPORTED_PROTOCOL` (a `"v"` other than `KODO_PROTOCOL_VERSION`); on
/// failure `*out_session` is NULL.
///
/// # Safety
/// `config_json` is NULL or a NUL-terminated string; `out_session` is NULL or writable.
#[unsafe(no_mangle)]
#[must_use]
pub unsafe extern "C" fn kodo_session_new(
    config_json: *const c_char,
    out_session: *mut *mut KodoSession,
) -> KodoStatus {
    boundary(|| {
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_arg(out_session, "out_session")? };
        // SAFETY: forwarded from this function's contract.
        let text = unsafe { json_arg(config_json, "config_json", MAX_JSON)? };
        let config: SessionConfig = parse_versioned(text).map_err(|e| parse_failure("config_json", e))?;
        boundary::install_quiet_panic_hook();
        let id = SESSIONS.insert(Arc::new(Session::new(config)));
        *out = id as *mut KodoSession;
        Ok(KodoStatus::Ok)
    })
}

/// Frees a session. Operations started from it keep running until they are freed.
/// NULL is a no-op. A handle that was already freed, or that this library did not hand out,
/// is refused with `KODO_STATUS_INVALID_HANDLE` (handles are looked up, never dereferenced).
#[unsafe(no_mangle)]
#[must_use]
pub extern "C" fn kodo_session_free(session: *mut KodoSession) -> KodoStatus {
    boundary(|| {
        if session.is_null() {
            return Ok(KodoStatus::Ok);
        }
        SESSIONS
            .remove(session as usize)
            .map(|_| KodoStatus::Ok)
            .ok_or_else(|| Failure::new(KodoStatus::InvalidHandle, "argument 'session' is not a live session handle"))
    })
}

/// Starts an operation from a JSON request such as `{"v":1,"kind":"version"}`.
///
/// Fails as `kodo_session_new` does for the request, with `KODO_STATUS_INVALID_HANDLE` for a
/// session handle that is freed or not one, `KODO_STATUS_DEBUG_HOOKS_DISABLED`,
/// `KODO_STATUS_PANIC` or `KODO_STATUS_INTERNAL`; on failure `*out_op` is NULL.
///
/// # Safety
/// `request_json` is NULL or a NUL-terminated string; `out_op` is NULL or writable.
#[unsafe(no_mangle)]
#[must_use]
pub unsafe extern "C" fn kodo_op_start(
    session: *mut KodoSession,
    request_json: *const c_char,
    out_op: *mut *mut KodoOp,
) -> KodoStatus {
    boundary(|| {
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_arg(out_op, "out_op")? };
        let session = SESSIONS.get(session as usize, "session")?;
        // SAFETY: forwarded from this function's contract.
        let text = unsafe { json_arg(request_json, "request_json", MAX_JSON)? };
        let request: Request = parse_versioned(text).map_err(|e| parse_failure("request_json", e))?;
        if request.is_debug() && !session.config.debug_hooks {
            return Err(Failure::new(
                KodoStatus::DebugHooksDisabled,
                "debug requests need a session created with \"debugHooks\": true",
            ));
        }
        let op = Operation::start(session, request).map_err(|e| Failure::new(KodoStatus::Internal, e.message))?;
        *out = OPS.insert(op) as *mut KodoOp;
        Ok(KodoStatus::Ok)
    })
}

/// Waits up to `timeout_ms` (at most `KODO_MAX_WAIT_MS`) for the operation's next event.
/// Returns `KODO_STATUS_OK` with the event in `*out_event_json`, `KODO_STATUS_PENDING` if none
/// came in time, or `KODO_STATUS_DONE` once the terminal event has been delivered (at once,
/// and on every later call). Fails with `KODO_STATUS_NULL_ARGUMENT` or
/// `KODO_STATUS_INVALID_HANDLE`; `*out_event_json` is NULL unless the status is `KODO_STATUS_OK`.
///
/// # Safety
/// `out_event_json` is NULL or writable.
#[unsafe(no_mangle)]
#[must_use]
pub unsafe extern "C" fn kodo_op_next_event(
    op: *mut KodoOp,
    timeout_ms: u32,
    out_event_json: *mut *mut c_char,
) -> KodoStatus {
    boundary(|| {
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_arg(out_event_json, "out_event_json")? };
        let op = OPS.get(op as usize, "op")?;
        let wait = Duration::from_millis(u64::from(timeout_ms.min(KODO_MAX_WAIT_MS)));
        Ok(match op.next_event(wait) {
            Poll::Event(text) => {
                *out = give_string(text);
                KodoStatus::Ok
            }
            Poll::Pending => KodoStatus::Pending,
            Poll::Done => KodoStatus::Done,
        })
    })
}

/// Answers a question an operation asked through a `prompt` event whose data carries a
/// `requestId` (for example `"kind":"sign"`): `{"v":1,"requestId":"…",…}`.
///
/// Fails as `kodo_op_start` does for the JSON, and with `KODO_STATUS_INVALID_REQUEST` when no
/// question with that `requestId` is waiting (never asked, already answered, the operation
/// was cancelled or has ended).
///
/// # Safety
/// `response_json` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
#[must_use]
pub unsafe extern "C" fn kodo_op_respond(op: *mut KodoOp, response_json: *const c_char) -> KodoStatus {
    boundary(|| {
        let op = OPS.get(op as usize, "op")?;
        // SAFETY: forwarded from this function's contract.
        let text = unsafe { json_arg(response_json, "response_json", MAX_JSON)? };
        let answer: serde_json::Value = parse_versioned(text).map_err(|e| parse_failure("response_json", e))?;
        op.respond(answer).map_err(|m| Failure::new(KodoStatus::InvalidRequest, format!("response_json: {m}")))?;
        Ok(KodoStatus::Ok)
    })
}

/// Asks an operation to stop; it then ends with a `cancelled` event (unless it had already
/// ended). Idempotent. NULL is `KODO_STATUS_NULL_ARGUMENT`; a freed or forged handle
/// `KODO_STATUS_INVALID_HANDLE`.
#[unsafe(no_mangle)]
#[must_use]
pub extern "C" fn kodo_op_cancel(op: *mut KodoOp) -> KodoStatus {
    boundary(|| {
        OPS.get(op as usize, "op")?.cancel();
        Ok(KodoStatus::Ok)
    })
}

/// Frees an operation, cancelling it if it is still running. NULL is a no-op; a handle that
/// was already freed, or that this library did not hand out, is `KODO_STATUS_INVALID_HANDLE`.
#[unsafe(no_mangle)]
#[must_use]
pub extern "C" fn kodo_op_free(op: *mut KodoOp) -> KodoStatus {
    boundary(|| {
        if op.is_null() {
            return Ok(KodoStatus::Ok);
        }
        let removed = OPS
            .remove(op as usize)
            .ok_or_else(|| Failure::new(KodoStatus::InvalidHandle, "argument 'op' is not a live operation handle"))?;
        removed.cancel();
        Ok(KodoStatus::Ok)
    })
}

/// Frees a string this library returned. NULL is a no-op; any other pointer that this library
/// did not return (or that was already freed) is refused with `KODO_STATUS_INVALID_HANDLE`
/// without being dereferenced. One limit: once freed, a string's address may be reused for a
/// later string, and freeing the old pointer then frees the new string.
#[unsafe(no_mangle)]
#[must_use]
pub extern "C" fn kodo_string_free(s: *mut c_char) -> KodoStatus {
    boundary(|| {
        if s.is_null() || take_string(s) {
            Ok(KodoStatus::Ok)
        } else {
            Err(Failure::new(
                KodoStatus::InvalidHandle,
                "argument 's' is not a string returned by this library, or was already freed",
            ))
        }
    })
}
