//! Status codes returned by every export.
//!
//! Append-only: a number, once published in `include/kodo.h`, keeps its meaning forever.
//! A retired status keeps its number reserved (write it down here, never reuse it).

/// Result of every `kodo_*` call that can fail.
///
/// Values below 10 are not errors. Values from 10 up are errors; the thread's last error
/// message (`kodo_last_error_message`) then says what went wrong.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KodoStatus {
    /// The call succeeded (for `kodo_op_next_event`: an event was returned).
    Ok = 0,
    /// `kodo_op_next_event`: no event arrived within the timeout; poll again.
    Pending = 1,
    /// `kodo_op_next_event`: the operation has ended and every event has been delivered.
    Done = 2,
    /// A required pointer argument was NULL.
    NullArgument = 10,
    /// A string argument was not valid UTF-8.
    InvalidUtf8 = 11,
    /// A JSON argument could not be parsed (also: longer than `KODO_MAX_JSON_BYTES`, or nested
    /// deeper than 127 levels).
    InvalidJson = 12,
    /// The JSON parsed but is not a valid request or configuration.
    InvalidRequest = 13,
    /// The caller speaks a protocol version this library does not.
    UnsupportedProtocol = 14,
    /// A handle or string pointer that this library did not hand out, or already freed.
    InvalidHandle = 15,
    /// Rust code panicked; the panic was contained at the boundary.
    Panic = 16,
    /// An internal failure (for example the async runtime could not start).
    Internal = 17,
    /// A debug-only request was sent to a session created without `debugHooks`.
    DebugHooksDisabled = 18,
}

/// Every status, in numeric order (used by `kodo_status_name` and the tests).
pub const ALL_STATUSES: [KodoStatus; 12] = [
    KodoStatus::Ok,
    KodoStatus::Pending,
    KodoStatus::Done,
    KodoStatus::NullArgument,
    KodoStatus::InvalidUtf8,
    KodoStatus::InvalidJson,
    KodoStatus::InvalidRequest,
    KodoStatus::UnsupportedProtocol,
    KodoStatus::InvalidHandle,
    KodoStatus::Panic,
    KodoStatus::Internal,
    KodoStatus::DebugHooksDisabled,
];

impl KodoStatus {
    /// Stable name of the status; the PowerShell side builds ErrorIds from it.
    pub const fn name(self) -> &'static str {
        match self {
            KodoStatus::Ok => "Ok",
            KodoStatus::Pending => "Pending",
            KodoStatus::Done => "Done",
            KodoStatus::NullArgument => "NullArgument",
            KodoStatus::InvalidUtf8 => "InvalidUtf8",
            KodoStatus::InvalidJson => "InvalidJson",
            KodoStatus::InvalidRequest => "InvalidRequest",
            KodoStatus::UnsupportedProtocol => "UnsupportedProtocol",
            KodoStatus::InvalidHandle => "InvalidHandle",
            KodoStatus::Panic => "Panic",
            KodoStatus::Internal => "Internal",
            KodoStatus::DebugHooksDisabled => "DebugHooksDisabled",
        }
    }

    /// NUL-terminated form of [`KodoStatus::name`], for C.
    pub(crate) const fn c_name(self) -> &'static [u8] {
        match self {
            KodoStatus::Ok => b"Ok\0",
            KodoStatus::Pending => b"Pending\0",
            KodoStatus::Done => b"Done\0",
            KodoStatus::NullArgument => b"NullArgument\0",
            KodoStatus::InvalidUtf8 => b"InvalidUtf8\0",
            KodoStatus::InvalidJson => b"InvalidJson\0",
            KodoStatus::InvalidRequest => b"InvalidRequest\0",
            KodoStatus::UnsupportedProtocol => b"UnsupportedProtocol\0",
            KodoStatus::InvalidHandle => b"InvalidHandle\0",
            KodoStatus::Panic => b"Panic\0",
            KodoStatus::Internal => b"Internal\0",
            KodoStatus::DebugHooksDisabled => b"DebugHooksDisabled\0",
        }
    }

    /// Looks a raw number up; `None` for numbers never published.
    pub fn from_raw(raw: i32) -> Option<KodoStatus> {
        ALL_STATUSES.into_iter().find(|s| *s as i32 == raw)
    }

    /// True for the statuses that report a failure.
    pub const fn is_error(self) -> bool {
        (self as i32) >= 10
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_match_c_names() {
        let mut seen = std::collections::HashSet::new();
        for s in ALL_STATUSES {
            assert!(seen.insert(s.name()), "duplicate name {}", s.name());
            let c = s.c_name();
            assert_eq!(&c[..c.len() - 1], s.name().as_bytes());
            assert_eq!(KodoStatus::from_raw(s as i32), Some(s));
        }
        assert_eq!(KodoStatus::from_raw(3), None);
        assert_eq!(KodoStatus::from_raw(-1), None);
    }

    /// The published numbers; changing one breaks every caller compiled against the header.
    #[test]
    fn numbers_are_frozen() {
        let published: Vec<(i32, &str)> = ALL_STATUSES.iter().map(|s| (*s as i32, s.name())).collect();
        assert_eq!(
            published,
            vec![
                (0, "Ok"),
                (1, "Pending"),
                (2, "Done"),
                (10, "NullArgument"),
                (11, "InvalidUtf8"),
                (12, "InvalidJson"),
                (13, "InvalidRequest"),
                (14, "UnsupportedProtocol"),
                (15, "InvalidHandle"),
                (16, "Panic"),
                (17, "Internal"),
                (18, "DebugHooksDisabled"),
            ]
        );
    }
}
