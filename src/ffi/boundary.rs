//! The one boundary every export goes through: panics, NULL pointers, bad UTF-8 and unknown
//! handles become a [`KodoStatus`] plus a thread-local message, never an abort of the host.

use super::status::KodoStatus;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::ffi::{CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Once};

/// A failed call: the status to return and the message to keep for `kodo_last_error_message`.
#[derive(Debug)]
pub(crate) struct Failure {
    pub status: KodoStatus,
    pub message: String,
}

impl Failure {
    pub fn new(status: KodoStatus, message: impl Into<String>) -> Self {
        Failure { status, message: message.into() }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<Option<String>> = const { RefCell::new(None) };
    static IN_BOUNDARY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

// Every access to the thread-locals tolerates their absence: a host may call an export while
// its thread is being torn down (from a pthread key destructor, which glibc runs after the
// thread-locals of Rust are gone), where `with` would panic and abort the host. The call then
// works as usual but keeps no message.

pub(crate) fn set_last_error(message: String) {
    let _ = LAST_ERROR.try_with(|e| *e.borrow_mut() = Some(message));
}

pub(crate) fn last_error() -> Option<String> {
    LAST_ERROR.try_with(|e| e.borrow().clone()).ok().flatten()
}

fn enter_boundary() -> bool {
    IN_BOUNDARY.try_with(|b| b.replace(true)).unwrap_or(false)
}

fn leave_boundary(outer: bool) {
    let _ = IN_BOUNDARY.try_with(|b| b.set(outer));
}

/// Runs `body`, turning its failure or panic into a status and the thread's last error.
pub(crate) fn boundary(body: impl FnOnce() -> Result<KodoStatus, Failure>) -> KodoStatus {
    let _ = LAST_ERROR.try_with(|e| *e.borrow_mut() = None);
    let outer = enter_boundary();
    let result = catch_unwind(AssertUnwindSafe(body));
    leave_boundary(outer);
    match result {
        Ok(Ok(status)) => status,
        Ok(Err(failure)) => {
            set_last_error(failure.message);
            failure.status
        }
        Err(payload) => {
            let message = crate::engine::panic_message(payload.as_ref());
            drop_payload(payload);
            set_last_error(format!("internal error (panic): {message}"));
            KodoStatus::Panic
        }
    }
}

/// Frees a contained panic's payload. Dropping a payload can itself panic: that one is caught
/// too, and only its payload is leaked rather than unwound out of the boundary. (Every payload
/// used to be leaked: 32 bytes per contained panic, valgrind's one definite leak.)
pub(crate) fn drop_payload(payload: Box<dyn std::any::Any + Send>) {
    if let Err(nested) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(nested);
    }
}

/// Keeps the default panic hook from printing to the host's stderr for panics that Kodo
/// contains (inside an export, or on a Kodo worker thread): those are reported as
/// [`KodoStatus::Panic`] or an `error` event carrying the message. Any other panic in the
/// process still goes to the previous hook, as does every panic when `KODO_PANIC_STDERR` is set.
pub(crate) fn install_quiet_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let contained = IN_BOUNDARY.try_with(|b| b.get()).unwrap_or(false)
                || std::thread::current().name().is_some_and(|n| n.starts_with(crate::engine::WORKER_THREAD_NAME));
            if !contained || std::env::var_os("KODO_PANIC_STDERR").is_some() {
                previous(info);
            }
        }));
    });
}

/// Borrows a NUL-terminated UTF-8 JSON argument of at most `max` bytes.
///
/// The length is found with `strnlen`, which stops at the NUL or after `max + 1` bytes: a
/// longer document is refused before it is read whole, let alone parsed (a 50 MB request would
/// otherwise take seconds and hundreds of MB as a `serde_json::Value`).
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that stays valid for the call.
pub(crate) unsafe fn json_arg<'a>(ptr: *const c_char, name: &str, max: usize) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(Failure::new(KodoStatus::NullArgument, format!("argument '{name}' is NULL")));
    }
    // SAFETY: non-NULL and NUL-terminated per the function contract; strnlen reads no further
    // than the NUL.
    let len = unsafe { libc::strnlen(ptr, max.saturating_add(1)) };
    if len > max {
        return Err(Failure::new(
            KodoStatus::InvalidJson,
            format!("argument '{name}' is longer than {max} bytes (KODO_MAX_JSON_BYTES)"),
        ));
    }
    // SAFETY: the `len` bytes before the NUL are readable, as above.
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) };
    std::str::from_utf8(bytes).map_err(|e| {
        Failure::new(
            KodoStatus::InvalidUtf8,
            format!("argument '{name}' is not valid UTF-8 (at byte {})", e.valid_up_to()),
        )
    })
}

/// Checks an out-pointer and clears what it points to.
///
/// # Safety
/// `ptr` is NULL or valid for a write of one pointer.
pub(crate) unsafe fn out_arg<'a, T>(ptr: *mut *mut T, name: &str) -> Result<&'a mut *mut T, Failure> {
    if ptr.is_null() {
        return Err(Failure::new(KodoStatus::NullArgument, format!("argument '{name}' is NULL")));
    }
    // SAFETY: non-NULL and writable per the function contract.
    let slot = unsafe { &mut *ptr };
    *slot = std::ptr::null_mut();
    Ok(slot)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Handles are never dereferenced: a handle is a number this library handed out, looked up in
/// a table. A stale, freed, forged or wrong-kind handle is an error, not undefined behaviour.
/// Numbers come from one counter and are never reused.
pub(crate) struct HandleTable<T> {
    kind: &'static str,
    items: LazyLock<Mutex<HashMap<usize, Arc<T>>>>,
}

static NEXT_HANDLE: AtomicUsize = AtomicUsize::new(0x4B0D_0000);

impl<T> HandleTable<T> {
    pub const fn new(kind: &'static str) -> Self {
        HandleTable { kind, items: LazyLock::new(|| Mutex::new(HashMap::new())) }
    }

    pub fn insert(&self, item: Arc<T>) -> usize {
        // Step by 8 so handles look like aligned pointers to tools that inspect them.
        let id = NEXT_HANDLE.fetch_add(8, Ordering::Relaxed);
        lock(&self.items).insert(id, item);
        id
    }

    pub fn get(&self, handle: usize, name: &str) -> Result<Arc<T>, Failure> {
        if handle == 0 {
            return Err(Failure::new(KodoStatus::NullArgument, format!("argument '{name}' is NULL")));
        }
        lock(&self.items).get(&handle).cloned().ok_or_else(|| {
            Failure::new(KodoStatus::InvalidHandle, format!("argument '{name}' is not a live {} handle", self.kind))
        })
    }

    pub fn remove(&self, handle: usize) -> Option<Arc<T>> {
        lock(&self.items).remove(&handle)
    }

    pub fn len(&self) -> usize {
        lock(&self.items).len()
    }
}

/// Strings handed to the caller, so `kodo_string_free` frees only what this library allocated.
static STRINGS: LazyLock<Mutex<HashSet<usize>>> = LazyLock::new(|| Mutex::new(HashSet::new()));

/// Hands a string to the caller; it must come back through `kodo_string_free`.
pub(crate) fn give_string(text: String) -> *mut c_char {
    // Our JSON and messages contain no NUL; strip any rather than fail.
    let c = CString::new(text).unwrap_or_else(|e| {
        let mut bytes = e.into_vec();
        bytes.retain(|b| *b != 0);
        CString::new(bytes).unwrap_or_default()
    });
    let ptr = c.into_raw();
    lock(&STRINGS).insert(ptr as usize);
    ptr
}

/// Frees a string from [`give_string`]; false if it was not one (or was already freed).
pub(crate) fn take_string(ptr: *mut c_char) -> bool {
    if !lock(&STRINGS).remove(&(ptr as usize)) {
        return false;
    }
    // SAFETY: the pointer came from CString::into_raw in give_string and was not freed yet
    // (it was still in the table, and removal under the lock makes this the only free).
    let mut bytes = unsafe { CString::from_raw(ptr) }.into_bytes_with_nul();
    // Events can carry a new client secret or a token: wiped before the memory is returned.
    zeroize::Zeroize::zeroize(&mut bytes);
    true
}

/// Number of strings handed out and not yet freed (tests use it to find leaks).
pub fn outstanding_strings() -> usize {
    lock(&STRINGS).len()
}
