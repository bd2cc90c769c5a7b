//! The ledger of a bulk run (`Invoke-KodoOnboarding -TenantId ... -LedgerPath`): a JSON Lines
//! file, append-only, one record per state change of one tenant (`planned`, `inProgress`,
//! `done`, `failed`), after a header line that says the file is a Kodo ledger. A tenant's
//! current state is its last record. Each append is written whole and fsync'd before the run
//! goes on, so a killed run loses nothing it wrote; a last line without its newline (a write the
//! kill cut) is ignored and reported, never fatal. Nothing secret is ever written: a `done`
//! record says where the new credential went (`resultObject`, a vault's name), never its value.
//!
//! One run at a time: a run holds `<ledger>.lock` (created with `create_new`, holding pid, host,
//! time and run id) until it ends. A lock whose process is gone from this machine is stale and
//! taken over (with a warning); a lock of a live process, of another machine or unreadable
//! refuses the run with `LedgerLocked`, unless the caller forces it (`-Force`).

use crate::error::{ErrorCode, KodoError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

/// The header's format number (the first line: `{"kodoLedger":1,...}`).
pub const FORMAT: u64 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum State {
    Planned,
    InProgress,
    Done,
    Failed,
}

/// Why a tenant failed: the error's stable code and its message (Kodo's messages never hold a
/// secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Reason {
    pub code: String,
    pub message: String,
}

/// One line of the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Record {
    /// As the caller gave it.
    pub tenant_id: String,
    pub state: State,
    /// UTC, ISO-8601.
    pub time: String,
    pub run_id: String,
    /// Which attempt this is (1 for the first run that started the tenant).
    pub attempt: u32,
    /// `done`: the Kodo app's client id (appId).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `done`: the result's status (Succeeded, ManualActionRequired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `done` with a new credential: where it went (never its value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_action: Option<String>,
    /// The tenant's id (GUID) as its sign-in named it, when the tenant was given by a domain or
    /// signed in: the same tenant given once by a domain and once by its id is one entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory_id: Option<String>,
}

/// A tenant's current state: its last record, with what earlier records add (attempts, the
/// last place a credential went, when it was first done).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantState {
    pub tenant_id: String,
    pub state: State,
    pub attempts: u32,
    pub last_change: String,
    pub run_id: String,
    pub client_id: Option<String>,
    pub status: Option<String>,
    pub credential_location: Option<String>,
    pub reason: Option<Reason>,
    pub next_action: Option<String>,
    pub directory_id: Option<String>,
}

/// A last line the ledger's reader ignored: a write that a kill cut short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Torn {
    pub line: usize,
    pub bytes: usize,
}

/// A ledger's text, read.
#[derive(Debug, Default)]
pub struct Parsed {
    pub records: Vec<Record>,
    pub torn: Option<Torn>,
    /// The length of the whole lines (header included): where the next record goes.
    pub valid_len: usize,
    /// Whether it has its header (an empty file has none yet).
    pub has_header: bool,
}

fn invalid(path: &str, why: String) -> KodoError {
    KodoError::new(ErrorCode::LedgerInvalid, format!("'{path}' is not a Kodo ledger: {why}. Nothing was done."))
        .with_target(path.to_string())
}

/// Reads a ledger's text. An empty text is a new ledger. The first line must be a Kodo ledger
/// header and every whole line after it a record; a last line without its newline is ignored
/// (reported in `torn`).
pub fn parse(path: &str, text: &str) -> Result<Parsed, KodoError> {
    let mut parsed = Parsed::default();
    if text.is_empty() {
        return Ok(parsed);
    }
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let n = i + 1;
        let whole = line.ends_with('\n');
        let body = line.trim_end_matches(['\n', '\r']);
        if n == 1 {
            let header: Option<Value> = serde_json::from_str(body).ok();
            if header.as_ref().and_then(|h| h.get("kodoLedger")).and_then(Value::as_u64) != Some(FORMAT) {
                return Err(invalid(
                    path,
                    "its first line is not a Kodo ledger header ({\"kodoLedger\":1,...})".into(),
                ));
            }
            if !whole {
                // A header cut before its newline: the file holds nothing yet.
                parsed.torn = Some(Torn { line: n, bytes: line.len() });
                return Ok(parsed);
            }
            parsed.has_header = true;
        } else if !whole {
            parsed.torn = Some(Torn { line: n, bytes: line.len() });
            break;
        } else if !body.trim().is_empty() {
            let record: Record = serde_json::from_str(body)
                .map_err(|e| invalid(path, format!("line {n} is not a ledger record ({e})")))?;
            parsed.records.push(record);
        }
        offset += line.len();
        parsed.valid_len = offset;
    }
    Ok(parsed)
}

/// The key a tenant is known by (tenant ids and domains are case-insensitive).
pub fn key(tenant_id: &str) -> String {
    tenant_id.to_ascii_lowercase()
}

/// Each tenant's current state, in the order tenants first appear.
pub fn fold(records: &[Record]) -> Vec<TenantState> {
    Folded::of(records).into_vec()
}

/// Tenants' current states, folded record by record. A tenant is one entry whatever it was
/// given as: a record that names the tenant's directory id (its GUID, from the sign-in), or a
/// tenant given as a GUID another entry's sign-in named, joins that entry (which keeps the name
/// it was first given); the other names it was given by find it too.
#[derive(Debug, Clone, Default)]
pub struct Folded {
    order: Vec<String>,
    states: HashMap<String, TenantState>,
    /// Directory ids and other names, to the key of the entry they name.
    aliases: HashMap<String, String>,
}

impl Folded {
    /// The records folded in order.
    pub fn of(records: &[Record]) -> Folded {
        let mut f = Folded::default();
        for r in records {
            f.push(r);
        }
        f
    }

    /// The entry a tenant (a name, or a directory id) is known by.
    pub fn get(&self, tenant_id: &str) -> Option<&TenantState> {
        let k = key(tenant_id);
        self.states.get(&k).or_else(|| self.aliases.get(&k).and_then(|a| self.states.get(a)))
    }

    fn entry_key(&self, r: &Record) -> String {
        let own = key(&r.tenant_id);
        if self.states.contains_key(&own) && r.directory_id.is_none() {
            return own;
        }
        if let Some(a) = self.aliases.get(&own) {
            return a.clone();
        }
        match r.directory_id.as_deref().map(key) {
            Some(d) if self.states.contains_key(&d) => d,
            Some(d) => self.aliases.get(&d).cloned().unwrap_or(own),
            None => own,
        }
    }

    pub fn push(&mut self, r: &Record) {
        let own = key(&r.tenant_id);
        let k = self.entry_key(r);
        if k != own {
            // This name's own entry (its planned and in-progress records) joins the tenant's.
            if let Some(mine) = self.states.remove(&own) {
                self.order.retain(|o| o != &own);
                if let Some(t) = self.states.get_mut(&k) {
                    t.attempts = t.attempts.max(mine.attempts);
                }
            }
            self.aliases.insert(own.clone(), k.clone());
        }
        let s = self.states.entry(k.clone()).or_insert_with(|| {
            self.order.push(k.clone());
            TenantState {
                tenant_id: r.tenant_id.clone(),
                state: r.state,
                attempts: 0,
                last_change: r.time.clone(),
                run_id: r.run_id.clone(),
                client_id: None,
                status: None,
                credential_location: None,
                reason: None,
                next_action: None,
                directory_id: None,
            }
        });
        if own == k {
            s.tenant_id = r.tenant_id.clone();
        }
        s.state = r.state;
        s.attempts = s.attempts.max(r.attempt);
        s.last_change = r.time.clone();
        s.run_id = r.run_id.clone();
        s.reason = r.reason.clone();
        s.next_action = r.next_action.clone();
        if r.client_id.is_some() {
            s.client_id = r.client_id.clone();
        }
        if r.status.is_some() || r.state != State::Done {
            s.status = r.status.clone();
        }
        // Where the credential in use went: kept from the run that made it.
        if r.credential_location.is_some() {
            s.credential_location = r.credential_location.clone();
        }
        if let Some(d) = &r.directory_id {
            s.directory_id = Some(d.clone());
            if key(d) != k {
                self.aliases.insert(key(d), k);
            }
        }
    }

    /// Whether an entry is known only by a domain: given as one, and no sign-in has named its
    /// directory id yet.
    pub fn has_domain_only_entries(&self) -> bool {
        self.states.values().any(|s| s.directory_id.is_none() && uuid::Uuid::parse_str(&s.tenant_id).is_err())
    }

    pub fn into_vec(mut self) -> Vec<TenantState> {
        self.order.iter().filter_map(|k| self.states.remove(k)).collect()
    }

    pub fn to_vec(&self) -> Vec<TenantState> {
        self.order.iter().filter_map(|k| self.states.get(k).cloned()).collect()
    }
}

/// Counts per state.
pub fn summary(states: &[TenantState]) -> Value {
    let count = |s: State| states.iter().filter(|t| t.state == s).count();
    json!({
        "total": states.len(),
        "planned": count(State::Planned),
        "inProgress": count(State::InProgress),
        "done": count(State::Done),
        "failed": count(State::Failed),
    })
}

/// What to do about a failed tenant, from its error's code.
pub fn next_action(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::AuthenticationFailed => {
            "Check that the sign-in app is consented in this tenant and its credential is valid, then run the same command again."
        }
        ErrorCode::PermissionDenied => {
            "Give the sign-in app the roles Kodo needs in this tenant (see the reason), then run the same command again."
        }
        ErrorCode::PolicyBlocked => {
            "The tenant's policy forbids what Kodo needs (see the reason): run this tenant with a certificate instead of a client secret (the same command for it alone, with the same ledger, adding -CredentialType Certificate -NewCertificatePassword <SecureString> -NewCertificateFolder <folder>), or change the policy. A later run without -CredentialType finds the app and its certificate and makes no secret."
        }
        ErrorCode::AlreadyExists => {
            "Another run was onboarding this tenant: run the same command again once it has ended."
        }
        ErrorCode::Throttled
        | ErrorCode::Timeout
        | ErrorCode::ConnectionFailed
        | ErrorCode::ServiceError
        | ErrorCode::Cancelled => "Run the same command again: it goes on where this one stopped (a re-run is safe).",
        _ => "Fix what the reason says, then run the same command again.",
    }
}

/// UTC now as ISO-8601 (milliseconds).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn io_error(path: &Path, what: &str, e: std::io::Error) -> KodoError {
    KodoError::new(
        ErrorCode::LedgerUnavailable,
        format!("The ledger '{}' cannot be {what}: {e}. Nothing was done.", path.display()),
    )
    .with_target(path.display().to_string())
}

/// Reads a ledger without taking its lock (Get-KodoOnboardingStatus): a missing file is an
/// error (there is nothing to report).
pub fn read(path: &Path) -> Result<Parsed, KodoError> {
    let bytes = std::fs::read(path).map_err(|e| io_error(path, "read", e))?;
    let text =
        String::from_utf8(bytes).map_err(|_| invalid(&path.display().to_string(), "it is not UTF-8 text".into()))?;
    parse(&path.display().to_string(), &text)
}

/// The holder of a ledger's lock, as its lock file says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    pub since: String,
    pub run_id: String,
    /// The holder's pid namespace (Linux: `/proc/self/ns/pid`): its pid means something only
    /// there. Two containers may share a host name and a ledger volume, not a pid namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_namespace: Option<String>,
}

pub fn lock_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

/// Who holds a ledger's lock now, if anyone (`None` for no lock; an unreadable lock file is a
/// holder with pid 0).
pub fn holder(path: &Path) -> Option<Holder> {
    let text = std::fs::read_to_string(lock_path(path)).ok()?;
    Some(serde_json::from_str(&text).unwrap_or(Holder {
        pid: 0,
        host: String::new(),
        since: String::new(),
        run_id: String::new(),
        pid_namespace: None,
    }))
}

/// The lock, released (its file removed) when dropped.
struct Lock {
    path: PathBuf,
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn take_lock(ledger: &Path, run_id: &str, force: bool, warn: &dyn Fn(String)) -> Result<Lock, KodoError> {
    let path = lock_path(ledger);
    for _ in 0..3 {
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                let me = Holder {
                    pid: std::process::id(),
                    host: host_name(),
                    since: now(),
                    run_id: run_id.to_string(),
                    pid_namespace: pid_namespace(),
                };
                let text = serde_json::to_string(&me).unwrap_or_default();
                let lock = Lock { path: path.clone() };
                f.write_all(text.as_bytes()).and_then(|_| f.sync_all()).map_err(|e| io_error(&path, "locked", e))?;
                return Ok(lock);
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let h = holder(ledger);
                // A pid is checked only where it means this process's pids: the same machine and
                // pid namespace (a lock from before namespaces were recorded: the machine only).
                let here = |h: &Holder| {
                    h.host == host_name()
                        && match (&h.pid_namespace, pid_namespace()) {
                            (Some(theirs), Some(mine)) => *theirs == mine,
                            (Some(_), None) => false,
                            (None, _) => true,
                        }
                };
                let stale = h.as_ref().is_some_and(|h| h.pid > 1 && here(h) && process_alive(h.pid) == Some(false));
                let who = match &h {
                    Some(h) if h.pid > 0 => {
                        format!("process {} on '{}' since {} (run {})", h.pid, h.host, h.since, h.run_id)
                    }
                    _ => "an unreadable lock (a run killed while it took the lock?)".to_string(),
                };
                if stale || force {
                    warn(format!(
                        "The ledger's lock '{}' was held by {who}; {}. Kodo takes it over.",
                        path.display(),
                        if stale { "that process is no longer running on this machine" } else { "-Force was given" }
                    ));
                    match std::fs::remove_file(&path) {
                        Ok(()) => continue,
                        Err(e) if e.kind() == ErrorKind::NotFound => continue,
                        Err(e) => return Err(io_error(&path, "released", e)),
                    }
                }
                return Err(KodoError::new(
                    ErrorCode::LedgerLocked,
                    format!(
                        "The ledger '{}' is in use: its lock '{}' is held by {who}. Only one run at a time writes a ledger. Wait for that run to end; if it was stopped on another machine (or the lock cannot be read), run again with -Force. Nothing was done.",
                        ledger.display(),
                        path.display()
                    ),
                )
                .with_target(path.display().to_string()));
            }
            Err(e) => return Err(io_error(&path, "locked", e)),
        }
    }
    Err(KodoError::new(ErrorCode::LedgerLocked, format!("The ledger's lock '{}' could not be taken.", path.display())))
}

// --- Platform seam: the machine's name, its pid namespace, and whether a process still runs. ---
// Unix: gethostname(2), /proc/self/ns/pid (Linux; none elsewhere) and kill(pid, 0) (ESRCH: gone;
// EPERM: alive, another user's).
// Windows (run under wine only, tests/windows/Kodo.Windows.Tests.ps1; not on real Windows): the
// name from COMPUTERNAME; a process is never known to be gone, so a stale lock there is released
// with -Force.
#[cfg(unix)]
fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(unix)]
fn process_alive(pid: u32) -> Option<bool> {
    let pid = libc::pid_t::try_from(pid).ok().filter(|p| *p > 1)?;
    // SAFETY: signal 0 sends nothing; it only checks that the process exists.
    if unsafe { libc::kill(pid, 0) } == 0 {
        // A killed process its parent has not yet reaped (a zombie, state Z in /proc/<pid>/stat,
        // the field after the parenthesised name) still answers kill(0) but runs nothing.
        let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|st| st.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')))
            .unwrap_or(false);
        return Some(!zombie);
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::ESRCH) => Some(false),
        Some(libc::EPERM) => Some(true),
        _ => None,
    }
}

#[cfg(unix)]
fn pid_namespace() -> Option<String> {
    std::fs::read_link("/proc/self/ns/pid").ok().map(|p| p.display().to_string())
}

#[cfg(not(unix))]
fn pid_namespace() -> Option<String> {
    None
}

#[cfg(not(unix))]
fn host_name() -> String {
    std::env::var("COMPUTERNAME").unwrap_or_default()
}

#[cfg(not(unix))]
fn process_alive(_pid: u32) -> Option<bool> {
    None
}
// --- end of the platform seam -------------------------------------------------------------------

/// What this process knew of a ledger when it last closed it: the file as it left it (length,
/// modification time, last bytes) and its records folded. Opened again with the file unchanged
/// (a pipeline of `Test-KodoConsent -LedgerPath` opens the ledger once per customer), the ledger
/// is not read again; before, a pipeline of N customers read and parsed it twice per customer,
/// O(N^2) over a fleet. Any change by anyone else (another process appended, an edit, a new file)
/// reads it whole, as a first open does. Keyed by the path as given: two names of one file are
/// two entries, each checked against the file.
struct Known {
    len: u64,
    modified: std::time::SystemTime,
    tail: Vec<u8>,
    states: Folded,
    runs: std::collections::HashSet<String>,
}

/// How many of a ledger's last bytes are compared, with its length and time, to tell it unchanged.
const TAIL: usize = 64;

static KNOWN: std::sync::LazyLock<std::sync::Mutex<HashMap<PathBuf, Known>>> =
    std::sync::LazyLock::new(Default::default);

fn known() -> std::sync::MutexGuard<'static, HashMap<PathBuf, Known>> {
    KNOWN.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether the file is still as this process left it.
fn unchanged(path: &Path, k: &Known) -> bool {
    let same = std::fs::metadata(path).is_ok_and(|m| m.len() == k.len && m.modified().is_ok_and(|t| t == k.modified));
    same && File::open(path).is_ok_and(|mut f| {
        use std::io::Seek;
        let mut tail = vec![0; k.tail.len()];
        f.seek(std::io::SeekFrom::Start(k.len - k.tail.len() as u64)).is_ok()
            && f.read_exact(&mut tail).is_ok()
            && tail == k.tail
    })
}

/// `tail` with `more` appended, cut to its last [`TAIL`] bytes.
fn keep_tail(tail: &mut Vec<u8>, more: &[u8]) {
    tail.extend_from_slice(&more[more.len().saturating_sub(TAIL)..]);
    if tail.len() > TAIL {
        tail.drain(..tail.len() - TAIL);
    }
}

/// The ledger opened for appending, at its end.
fn open_for_append(path: &Path) -> Result<File, KodoError> {
    use std::io::Seek;
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| io_error(path, "written", e))?;
    file.seek(std::io::SeekFrom::End(0)).map_err(|e| io_error(path, "written", e))?;
    Ok(file)
}

/// A ledger open for a run: locked, read, and appended to.
pub struct Ledger {
    path: PathBuf,
    /// Closed (taken) on drop, before what the ledger holds is kept in [`KNOWN`].
    file: Option<File>,
    run_id: String,
    states: Folded,
    /// The run ids the ledger holds (Merge-KodoOnboardingLedger merges a run once).
    runs: std::collections::HashSet<String>,
    /// The file's length and last bytes as this ledger left them.
    len: u64,
    tail: Vec<u8>,
    _lock: Lock,
}

impl Drop for Ledger {
    /// Keeps what the ledger holds for this process's next open, while the lock is still held
    /// (the fields, the lock among them, are dropped after this).
    fn drop(&mut self) {
        drop(self.file.take());
        let Ok(meta) = std::fs::metadata(&self.path) else { return };
        let Ok(modified) = meta.modified() else { return };
        if meta.len() != self.len {
            return;
        }
        let k = Known {
            len: self.len,
            modified,
            tail: std::mem::take(&mut self.tail),
            states: std::mem::take(&mut self.states),
            runs: std::mem::take(&mut self.runs),
        };
        known().insert(self.path.clone(), k);
    }
}

impl Ledger {
    /// Takes the lock, reads the ledger (creating it with its header when missing or empty),
    /// and cuts a torn last line (reported through `warn`) so the next record starts on a line
    /// of its own. A file that is not a Kodo ledger is left as it is.
    pub fn open(path: &Path, force: bool, warn: &dyn Fn(String)) -> Result<Ledger, KodoError> {
        let run_id = uuid::Uuid::new_v4().to_string();
        if path.as_os_str().is_empty() {
            return Err(KodoError::new(ErrorCode::InvalidArgument, "-LedgerPath is empty."));
        }
        if path.is_dir() {
            return Err(io_error(path, "used", std::io::Error::other("it is a directory")));
        }
        // The ledger as this process left it, unchanged since, is not read again (checked
        // again under the lock).
        let left = known().remove(path).filter(|k| unchanged(path, k));
        // Read first (before the lock file is made next to it): a file that is not a ledger
        // makes nothing.
        let shown = path.display().to_string();
        if left.is_none() {
            match std::fs::read(path) {
                Ok(bytes) => {
                    let text =
                        std::str::from_utf8(&bytes).map_err(|_| invalid(&shown, "it is not UTF-8 text".into()))?;
                    parse(&shown, text)?;
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(io_error(path, "read", e)),
            }
        }
        let lock = take_lock(path, &run_id, force, warn)?;
        if let Some(k) = left.filter(|k| unchanged(path, k)) {
            return Ok(Ledger {
                path: path.to_path_buf(),
                file: Some(open_for_append(path)?),
                run_id,
                states: k.states,
                runs: k.runs,
                len: k.len,
                tail: k.tail,
                _lock: lock,
            });
        }
        // Read again under the lock: the run that held it may have written since.
        let text = match std::fs::read(path) {
            Ok(b) => String::from_utf8(b).map_err(|_| invalid(&shown, "it is not UTF-8 text".into()))?,
            Err(e) if e.kind() == ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io_error(path, "read", e)),
        };
        let parsed = parse(&shown, &text)?;
        if let Some(t) = &parsed.torn {
            warn(format!(
                "The ledger '{shown}' ended in a line cut short (line {}, {} bytes: a run killed while writing it); that line is ignored and removed.",
                t.line, t.bytes
            ));
        }
        if parsed.valid_len != text.len() {
            let file = OpenOptions::new().write(true).open(path).map_err(|e| io_error(path, "written", e))?;
            file.set_len(parsed.valid_len as u64).map_err(|e| io_error(path, "written", e))?;
        }
        let file = open_for_append(path)?;
        let mut tail = Vec::new();
        keep_tail(&mut tail, &text.as_bytes()[..parsed.valid_len]);
        let mut ledger = Ledger {
            path: path.to_path_buf(),
            file: Some(file),
            run_id,
            states: Folded::of(&parsed.records),
            runs: parsed.records.iter().map(|r| r.run_id.clone()).collect(),
            len: parsed.valid_len as u64,
            tail,
            _lock: lock,
        };
        if !parsed.has_header {
            let header =
                json!({ "kodoLedger": FORMAT, "created": now(), "by": format!("Kodo {}", env!("CARGO_PKG_VERSION")) });
            ledger.write_lines(&[header.to_string()])?;
        }
        Ok(ledger)
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A tenant's current state.
    pub fn state(&self, tenant_id: &str) -> Option<&TenantState> {
        self.states.get(tenant_id)
    }

    /// See [`Folded::has_domain_only_entries`].
    pub fn has_domain_only_entries(&self) -> bool {
        self.states.has_domain_only_entries()
    }

    /// A record for this run, at this time, with the tenant's next attempt number (for
    /// `inProgress`) or its current one.
    pub fn record(&self, tenant_id: &str, state: State) -> Record {
        let attempts = self.state(tenant_id).map_or(0, |s| s.attempts);
        Record {
            tenant_id: tenant_id.to_string(),
            state,
            time: now(),
            run_id: self.run_id.clone(),
            attempt: if state == State::InProgress { attempts + 1 } else { attempts },
            client_id: None,
            status: None,
            credential_location: None,
            reason: None,
            next_action: None,
            directory_id: None,
        }
    }

    /// Appends records (one write, then fsync) and folds them into the current states.
    pub fn append(&mut self, records: &[Record]) -> Result<(), KodoError> {
        if records.is_empty() {
            return Ok(());
        }
        let lines: Vec<String> = records.iter().map(|r| serde_json::to_string(r).unwrap_or_default()).collect();
        self.write_lines(&lines)?;
        for r in records {
            self.states.push(r);
            self.runs.insert(r.run_id.clone());
        }
        Ok(())
    }

    fn write_lines(&mut self, lines: &[String]) -> Result<(), KodoError> {
        let mut text = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        let path = self.path.clone();
        let file = self.file.as_mut().ok_or_else(|| io_error(&path, "written", ErrorKind::Other.into()))?;
        file.write_all(text.as_bytes()).and_then(|_| file.sync_data()).map_err(|e| io_error(&path, "written", e))?;
        self.len += text.len() as u64;
        keep_tail(&mut self.tail, text.as_bytes());
        Ok(())
    }
}

/// Get-KodoOnboardingStatus: each tenant's current state (filtered), the counts per state, a
/// torn last line, and who holds the lock.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LedgerStatus {
    pub path: String,
    #[serde(default)]
    pub state: Option<State>,
    #[serde(default)]
    pub tenant_ids: Vec<String>,
}

pub fn status(req: LedgerStatus) -> Result<Value, KodoError> {
    let path = Path::new(&req.path);
    let parsed = read(path)?;
    let folded = Folded::of(&parsed.records);
    // A tenant asked for by any name it was given (or its directory id) finds its entry.
    let wanted: std::collections::HashSet<String> =
        req.tenant_ids.iter().filter_map(|t| folded.get(t)).map(|s| key(&s.tenant_id)).collect();
    let states = folded.into_vec();
    let summary = summary(&states);
    let tenants: Vec<&TenantState> = states
        .iter()
        .filter(|s| req.state.is_none_or(|w| s.state == w))
        .filter(|s| req.tenant_ids.is_empty() || wanted.contains(&key(&s.tenant_id)))
        .collect();
    Ok(json!({
        "path": req.path,
        "tenants": tenants,
        "summary": summary,
        "records": parsed.records.len(),
        "torn": parsed.torn,
        "lockedBy": holder(path),
    }))
}

/// Merge-KodoOnboardingLedger: the records of other ledgers (a parent runbook's child jobs,
/// each with a ledger of its own) appended to this one, under its lock. A source run already in
/// this ledger (its `runId`) is not merged again, so merging twice changes nothing. Attempts are
/// counted on in this ledger (a child's first attempt at a tenant that failed here before is its
/// second). A source's torn last line is ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LedgerMerge {
    pub path: String,
    pub sources: Vec<String>,
    #[serde(default)]
    pub force: bool,
    /// Count only (-WhatIf): nothing is written, no lock taken.
    #[serde(default)]
    pub dry_run: bool,
}

pub fn merge(req: LedgerMerge, warn: &dyn Fn(String)) -> Result<Value, KodoError> {
    if req.sources.is_empty() {
        return Err(KodoError::new(ErrorCode::InvalidArgument, "-SourcePath names no ledger."));
    }
    // Every source is read (and checked) before anything is written.
    let mut sources = Vec::with_capacity(req.sources.len());
    for s in &req.sources {
        let parsed = read(Path::new(s))?;
        if let Some(t) = &parsed.torn {
            warn(format!("The ledger '{s}' ends in a line cut short (line {}); that line is not merged.", t.line));
        }
        sources.push((s.clone(), parsed.records));
    }
    let path = Path::new(&req.path);
    let existing: Vec<Record> = if req.dry_run {
        match read(path) {
            Ok(p) => p.records,
            Err(e) if e.code == ErrorCode::LedgerUnavailable && !path.exists() => Vec::new(),
            Err(e) => return Err(e),
        }
    } else {
        Vec::new()
    };
    let mut ledger = if req.dry_run { None } else { Some(Ledger::open(path, req.force, warn)?) };
    let mut runs: std::collections::HashSet<String> = match &ledger {
        Some(l) => l.runs.clone(),
        None => existing.iter().map(|r| r.run_id.clone()).collect(),
    };
    let mut states: Folded = match &ledger {
        Some(l) => l.states.clone(),
        None => Folded::of(&existing),
    };
    let (mut merged, mut skipped_runs) = (0usize, Vec::new());
    for (source, records) in sources {
        let mut batch = Vec::new();
        let mut new_runs = std::collections::HashSet::new();
        for r in records {
            if runs.contains(&r.run_id) {
                if !new_runs.contains(&r.run_id) && !skipped_runs.contains(&r.run_id) {
                    skipped_runs.push(r.run_id.clone());
                }
                continue;
            }
            new_runs.insert(r.run_id.clone());
            let attempts = states.get(&r.tenant_id).map_or(0, |s| s.attempts);
            let mut r = r;
            r.attempt = if r.state == State::InProgress { attempts + 1 } else { attempts };
            states.push(&r);
            batch.push(r);
        }
        merged += batch.len();
        if let Some(l) = ledger.as_mut() {
            l.append(&batch).map_err(|e| e.with_target(source.clone()))?;
        }
        runs.extend(new_runs);
    }
    let all: Vec<TenantState> = states.into_vec();
    Ok(json!({
        "path": req.path,
        "merged": merged,
        "alreadyMerged": skipped_runs,
        "summary": summary(&all),
        "dryRun": req.dry_run,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "{\"kodoLedger\":1,\"created\":\"2026-12-03T14:00:00.000Z\"}\n";

    fn rec(t: &str, state: State, attempt: u32) -> String {
        serde_json::to_string(&Record {
            tenant_id: t.into(),
            state,
            time: format!("2026-12-03T14:00:0{attempt}.000Z"),
            run_id: "r".into(),
            attempt,
            client_id: (state == State::Done).then(|| "app-1".into()),
            status: (state == State::Done).then(|| "Succeeded".into()),
            credential_location: (state == State::Done && attempt == 1).then(|| "resultObject".into()),
            reason: (state == State::Failed).then(|| Reason { code: "Throttled".into(), message: "m".into() }),
            next_action: None,
            directory_id: None,
        })
        .unwrap()
            + "\n"
    }

    fn with_directory(line: &str, directory: &str) -> String {
        let mut r: Record = serde_json::from_str(line.trim_end()).unwrap();
        r.directory_id = Some(directory.into());
        serde_json::to_string(&r).unwrap() + "\n"
    }

    #[test]
    fn a_tenant_given_by_its_domain_and_by_its_id_is_one_entry_in_either_order() {
        const ID: &str = "6f1f0f8e-0000-4000-8000-0000000000aa";
        // By domain first (its sign-in names the id), then by id.
        let text = format!(
            "{HEADER}{}{}{}{}",
            rec("contoso.onmicrosoft.com", State::Planned, 0),
            with_directory(&rec("contoso.onmicrosoft.com", State::Done, 1), ID),
            rec("6F1F0F8E-0000-4000-8000-0000000000AA", State::Planned, 1),
            rec("6f1f0f8e-0000-4000-8000-0000000000aa", State::Done, 1),
        );
        let s = fold(&parse("x", &text).unwrap().records);
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0].tenant_id, "contoso.onmicrosoft.com", "the name first given");
        assert_eq!(s[0].directory_id.as_deref(), Some(ID));
        assert_eq!(s[0].state, State::Done);
        // By id first, then by domain: the domain's own entry joins the id's once its sign-in names it.
        let text = format!(
            "{HEADER}{}{}{}{}",
            rec(ID, State::Done, 1),
            rec("contoso.onmicrosoft.com", State::Planned, 0),
            rec("contoso.onmicrosoft.com", State::InProgress, 2),
            with_directory(&rec("contoso.onmicrosoft.com", State::Done, 2), ID),
        );
        let records = parse("x", &text).unwrap().records;
        let f = Folded::of(&records);
        assert_eq!(f.get("CONTOSO.onmicrosoft.com").map(|t| t.tenant_id.as_str()), Some(ID));
        assert_eq!(f.get(ID).unwrap().attempts, 2);
        let s = f.into_vec();
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0].state, State::Done);
        // Another tenant stays apart.
        let text = format!(
            "{HEADER}{}{}",
            with_directory(&rec("contoso.onmicrosoft.com", State::Done, 1), ID),
            rec("fabrikam.onmicrosoft.com", State::Done, 1)
        );
        assert_eq!(fold(&parse("x", &text).unwrap().records).len(), 2);
    }

    #[test]
    fn the_last_record_is_the_state_and_attempts_and_the_credential_place_are_kept() {
        let text = format!(
            "{HEADER}{}{}{}{}{}{}",
            rec("A.onmicrosoft.com", State::Planned, 0),
            rec("a.onmicrosoft.com", State::InProgress, 1),
            rec("a.onmicrosoft.com", State::Done, 1),
            rec("b.onmicrosoft.com", State::InProgress, 1),
            rec("b.onmicrosoft.com", State::Failed, 1),
            rec("a.onmicrosoft.com", State::Done, 2),
        );
        let p = parse("x", &text).unwrap();
        assert!(p.torn.is_none());
        assert_eq!(p.valid_len, text.len());
        let s = fold(&p.records);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].state, State::Done);
        assert_eq!(s[0].attempts, 2);
        assert_eq!(s[0].credential_location.as_deref(), Some("resultObject"), "kept from the run that made it");
        assert_eq!(s[1].state, State::Failed);
        assert_eq!(s[1].reason.as_ref().unwrap().code, "Throttled");
        assert_eq!(summary(&s), json!({ "total": 2, "planned": 0, "inProgress": 0, "done": 1, "failed": 1 }));
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_reported() {
        let whole = format!("{HEADER}{}", rec("a.onmicrosoft.com", State::InProgress, 1));
        let done = rec("a.onmicrosoft.com", State::Done, 1);
        let text = format!("{whole}{}", &done[..done.len() / 2]);
        let p = parse("x", &text).unwrap();
        assert_eq!(p.torn, Some(Torn { line: 3, bytes: done.len() / 2 }));
        assert_eq!(p.valid_len, whole.len());
        assert_eq!(fold(&p.records)[0].state, State::InProgress);
        // A whole record without its newline is still a cut write.
        let p = parse("x", &format!("{whole}{}", done.trim_end())).unwrap();
        assert_eq!(p.records.len(), 1);
        assert!(p.torn.is_some());
        // A header cut short: nothing in the file yet.
        let p = parse("x", "{\"kodoLedger\":1}").unwrap();
        assert!(!p.has_header && p.torn.is_some() && p.valid_len == 0);
    }

    #[test]
    fn what_is_not_a_kodo_ledger_is_refused() {
        for text in ["hello\n", "hello", "{\"kodoLedger\":2}\n", "tenantId,state\n", "{\"a\":1}\n"] {
            let e = parse("f", text).unwrap_err();
            assert_eq!(e.code, ErrorCode::LedgerInvalid, "{text}");
            assert!(e.message.contains("not a Kodo ledger"), "{}", e.message);
        }
        let e = parse("f", &format!("{HEADER}{{\"tenantId\":\"a\"}}\n{}", rec("a", State::Done, 1))).unwrap_err();
        assert!(e.message.contains("line 2 is not a ledger record"), "{}", e.message);
        let p = parse("f", "").unwrap();
        assert!(!p.has_header && p.records.is_empty());
    }

    #[test]
    fn a_ledger_is_appended_to_locked_and_a_second_open_is_refused() {
        let dir = std::env::temp_dir().join(format!("kodo-ledger-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fleet.jsonl");
        let warnings = std::sync::Mutex::new(Vec::new());
        let warn = |m: String| warnings.lock().unwrap().push(m);
        {
            let mut l = Ledger::open(&path, false, &warn).unwrap();
            let r = l.record("a.onmicrosoft.com", State::InProgress);
            assert_eq!(r.attempt, 1);
            l.append(&[r]).unwrap();
            let e = Ledger::open(&path, false, &warn).err().unwrap();
            assert_eq!(e.code, ErrorCode::LedgerLocked);
            assert!(e.message.contains(&format!("process {}", std::process::id())), "{}", e.message);
            let mut done = l.record("A.onmicrosoft.com", State::Done);
            done.client_id = Some("app".into());
            l.append(&[done]).unwrap();
            assert_eq!(l.state("a.onmicrosoft.com").unwrap().state, State::Done);
        }
        assert!(!lock_path(&path).exists(), "the lock goes with the run");
        // A torn line is cut on open; the next record starts on its own line.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"tenantId\":\"b.onmi").unwrap();
        drop(f);
        let mut l = Ledger::open(&path, false, &warn).unwrap();
        assert!(warnings.lock().unwrap().iter().any(|w| w.contains("cut short (line 4")));
        let r = l.record("a.onmicrosoft.com", State::InProgress);
        assert_eq!(r.attempt, 2);
        l.append(&[r]).unwrap();
        drop(l);
        let p = read(&path).unwrap();
        assert!(p.torn.is_none());
        assert_eq!(p.records.len(), 3);
        // A stale lock (a process that is gone) is taken over; a live one's is not, unless forced.
        let stale = Holder {
            pid: 999_999_999,
            host: host_name(),
            since: now(),
            run_id: "dead".into(),
            pid_namespace: pid_namespace(),
        };
        std::fs::write(lock_path(&path), serde_json::to_string(&stale).unwrap()).unwrap();
        drop(Ledger::open(&path, false, &warn).unwrap());
        assert!(warnings.lock().unwrap().iter().any(|w| w.contains("no longer running")));
        // The same machine's name in another pid namespace (another container on a shared
        // volume): its pid cannot be checked from here, so the lock holds.
        let elsewhere = Holder { pid_namespace: Some("pid:[1]".into()), ..stale.clone() };
        std::fs::write(lock_path(&path), serde_json::to_string(&elsewhere).unwrap()).unwrap();
        assert_eq!(Ledger::open(&path, false, &warn).err().unwrap().code, ErrorCode::LedgerLocked);
        let other =
            Holder { pid: 4242, host: "another-machine".into(), since: now(), run_id: "x".into(), pid_namespace: None };
        std::fs::write(lock_path(&path), serde_json::to_string(&other).unwrap()).unwrap();
        assert_eq!(Ledger::open(&path, false, &warn).err().unwrap().code, ErrorCode::LedgerLocked);
        drop(Ledger::open(&path, true, &warn).unwrap());
        // Not a ledger: refused, left as it was, no lock left.
        let other = dir.join("notes.txt");
        std::fs::write(&other, "hello\n").unwrap();
        assert_eq!(Ledger::open(&other, false, &warn).err().unwrap().code, ErrorCode::LedgerInvalid);
        assert_eq!(std::fs::read_to_string(&other).unwrap(), "hello\n");
        assert!(!lock_path(&other).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_ledger_this_process_left_unchanged_is_not_read_again_and_any_change_is() {
        let dir = std::env::temp_dir().join(format!("kodo-known-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("consents.jsonl");
        let warn = |_: String| {};
        let append = |tenant: &str, state: State| {
            let mut l = Ledger::open(&path, false, &warn).unwrap();
            let r = l.record(tenant, state);
            l.append(&[r]).unwrap();
        };
        append("a.onmicrosoft.com", State::Planned);
        append("b.onmicrosoft.com", State::Planned);
        // Proof that an unchanged ledger is not read: a record in its middle made unreadable,
        // its length, last bytes and time kept, goes unnoticed by this process...
        let text = std::fs::read_to_string(&path).unwrap();
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
        let at = text.find("a.onmicrosoft.com").unwrap();
        let mut bad = text.clone().into_bytes();
        bad[at - 3] = b'#';
        std::fs::write(&path, &bad).unwrap();
        File::options().write(true).open(&path).unwrap().set_modified(modified).unwrap();
        let l = Ledger::open(&path, false, &warn).unwrap();
        assert_eq!(l.state("a.onmicrosoft.com").unwrap().state, State::Planned);
        assert_eq!(l.state("b.onmicrosoft.com").unwrap().state, State::Planned);
        drop(l);
        // ...and by a first reader, which reads it whole.
        assert_eq!(read(&path).err().unwrap().code, ErrorCode::LedgerInvalid);
        std::fs::write(&path, text.as_bytes()).unwrap();
        // Another writer's record (another process, a merge by hand) is read.
        append("a.onmicrosoft.com", State::InProgress);
        let mut other = Ledger::open(&path, false, &warn).unwrap().record("c.onmicrosoft.com", State::Done);
        other.run_id = "another-process".into();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all((serde_json::to_string(&other).unwrap() + "\n").as_bytes()).unwrap();
        drop(f);
        let l = Ledger::open(&path, false, &warn).unwrap();
        assert_eq!(l.state("a.onmicrosoft.com").unwrap().state, State::InProgress);
        assert_eq!(l.state("c.onmicrosoft.com").unwrap().state, State::Done);
        assert!(l.runs.contains("another-process"));
        drop(l);
        // A new file by the same name: read whole.
        std::fs::remove_file(&path).unwrap();
        let l = Ledger::open(&path, false, &warn).unwrap();
        assert!(l.state("a.onmicrosoft.com").is_none());
        drop(l);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn child_ledgers_merge_once_with_attempts_counted_on() {
        let dir = std::env::temp_dir().join(format!("kodo-merge-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let warn = |_: String| {};
        let parent = dir.join("fleet.jsonl");
        {
            // The parent's own run: a failed, b planned.
            let mut l = Ledger::open(&parent, false, &warn).unwrap();
            let mut r =
                vec![l.record("a.onmicrosoft.com", State::Planned), l.record("b.onmicrosoft.com", State::Planned)];
            l.append(&r).unwrap();
            r = vec![l.record("a.onmicrosoft.com", State::InProgress)];
            l.append(&r).unwrap();
            let mut f = l.record("a.onmicrosoft.com", State::Failed);
            f.reason = Some(Reason { code: "Throttled".into(), message: "m".into() });
            l.append(&[f]).unwrap();
        }
        let child = |name: &str, tenant: &str| {
            let p = dir.join(name);
            let mut l = Ledger::open(&p, false, &warn).unwrap();
            let r = l.record(tenant, State::InProgress);
            l.append(&[r]).unwrap();
            let mut d = l.record(tenant, State::Done);
            d.client_id = Some("app".into());
            d.credential_location = Some("vault".into());
            l.append(&[d]).unwrap();
            p.display().to_string()
        };
        let sources = vec![child("c1.jsonl", "A.onmicrosoft.com"), child("c2.jsonl", "b.onmicrosoft.com")];
        let req = |dry_run| LedgerMerge {
            path: parent.display().to_string(),
            sources: sources.clone(),
            force: false,
            dry_run,
        };
        let before = std::fs::read(&parent).unwrap();
        let v = merge(req(true), &warn).unwrap();
        assert_eq!(v["merged"], 4);
        assert_eq!(std::fs::read(&parent).unwrap(), before, "a dry run writes nothing");
        let v = merge(req(false), &warn).unwrap();
        assert_eq!(v["merged"], 4);
        assert_eq!(v["summary"]["done"], 2);
        let states = fold(&read(&parent).unwrap().records);
        assert_eq!(states[0].state, State::Done);
        assert_eq!(states[0].attempts, 2, "the child's attempt is the tenant's second");
        assert_eq!(states[0].credential_location.as_deref(), Some("vault"));
        assert_eq!(states[1].attempts, 1);
        let v = merge(req(false), &warn).unwrap();
        assert_eq!(v["merged"], 0, "merged once");
        assert_eq!(v["alreadyMerged"].as_array().unwrap().len(), 2);
        std::fs::write(dir.join("bad.txt"), "hello\n").unwrap();
        let bad = LedgerMerge {
            path: parent.display().to_string(),
            sources: vec![dir.join("bad.txt").display().to_string()],
            force: false,
            dry_run: false,
        };
        assert_eq!(merge(bad, &warn).unwrap_err().code, ErrorCode::LedgerInvalid);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
