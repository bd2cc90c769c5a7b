//! Errors that operations report to the caller.
//!
//! An operation that fails ends with an `error` event carrying an [`ErrorCode`]. The code's
//! name is stable (the PowerShell side turns it into the ErrorId `Kodo.<Code>`) and so is its
//! [`ErrorCode::category`], which is the name of a `System.Management.Automation.ErrorCategory`.
//! Append-only: never rename or remove a code.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Stable, coarse error kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ErrorCode {
    /// A parameter value is wrong (bad id, bad name, bad manifest row).
    InvalidArgument,
    /// The request itself is malformed (a module/library mismatch, not a user error).
    InvalidRequest,
    /// The operation was cancelled by the caller.
    Cancelled,
    /// Rust code panicked while running the operation.
    Panic,
    /// Anything else that is Kodo's fault.
    Internal,
    /// A failure requested by a debug hook (tests only).
    DebugFailure,
    /// Sign-in failed or a token was refused.
    AuthenticationFailed,
    /// The identity lacks a role, scope or consent.
    PermissionDenied,
    /// An object that must exist does not.
    NotFound,
    /// An object that must be unique already exists.
    AlreadyExists,
    /// The service throttled us beyond the retry budget.
    Throttled,
    /// The operation ran out of time.
    Timeout,
    /// The service could not be reached.
    ConnectionFailed,
    /// The service answered with an error Kodo cannot act on.
    ServiceError,
    /// A feature that Microsoft has retired.
    Retired,
    /// A tenant policy forbids what was asked (an app management policy blocking secrets).
    PolicyBlocked,
    /// Another run holds the bulk run's ledger (its `.lock` file).
    LedgerLocked,
    /// The file given as a ledger is not a Kodo ledger.
    LedgerInvalid,
    /// The ledger cannot be read or written (a missing folder, a directory, no permission).
    LedgerUnavailable,
    /// The partner's GDAP relationship with a customer does not allow what was asked (none,
    /// expired, not active, or lacking a role).
    GdapAccessDenied,
}

impl ErrorCode {
    /// Every code, for documentation and the PowerShell meta-tests.
    pub const ALL: [ErrorCode; 20] = [
        ErrorCode::InvalidArgument,
        ErrorCode::InvalidRequest,
        ErrorCode::Cancelled,
        ErrorCode::Panic,
        ErrorCode::Internal,
        ErrorCode::DebugFailure,
        ErrorCode::AuthenticationFailed,
        ErrorCode::PermissionDenied,
        ErrorCode::NotFound,
        ErrorCode::AlreadyExists,
        ErrorCode::Throttled,
        ErrorCode::Timeout,
        ErrorCode::ConnectionFailed,
        ErrorCode::ServiceError,
        ErrorCode::Retired,
        ErrorCode::PolicyBlocked,
        ErrorCode::LedgerLocked,
        ErrorCode::LedgerInvalid,
        ErrorCode::LedgerUnavailable,
        ErrorCode::GdapAccessDenied,
    ];

    /// Name of the matching `System.Management.Automation.ErrorCategory` member.
    pub const fn category(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "InvalidArgument",
            ErrorCode::InvalidRequest => "InvalidData",
            ErrorCode::Cancelled => "OperationStopped",
            ErrorCode::Panic => "NotSpecified",
            ErrorCode::Internal => "NotSpecified",
            ErrorCode::DebugFailure => "InvalidResult",
            ErrorCode::AuthenticationFailed => "AuthenticationError",
            ErrorCode::PermissionDenied => "PermissionDenied",
            ErrorCode::NotFound => "ObjectNotFound",
            ErrorCode::AlreadyExists => "ResourceExists",
            ErrorCode::Throttled => "LimitsExceeded",
            ErrorCode::Timeout => "OperationTimeout",
            ErrorCode::ConnectionFailed => "ConnectionError",
            ErrorCode::ServiceError => "ResourceUnavailable",
            ErrorCode::Retired => "NotEnabled",
            ErrorCode::PolicyBlocked => "SecurityError",
            ErrorCode::LedgerLocked => "ResourceBusy",
            ErrorCode::LedgerInvalid => "InvalidData",
            ErrorCode::LedgerUnavailable => "OpenError",
            ErrorCode::GdapAccessDenied => "PermissionDenied",
        }
    }

    /// The code's stable name (same as its JSON form).
    pub fn name(self) -> String {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::String(s)) => s,
            _ => format!("{self:?}"),
        }
    }
}

/// An operation's failure: a code, a message for the admin, and optionally what it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KodoError {
    pub code: ErrorCode,
    pub message: String,
    pub target: Option<String>,
    /// The service's `request-id` and the `client-request-id` Kodo sent, when a service answered:
    /// what Microsoft support asks for.
    pub request_id: Option<String>,
    pub client_request_id: Option<String>,
}

impl KodoError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        KodoError { code, message: message.into(), target: None, request_id: None, client_request_id: None }
    }

    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// Names the request the service failed (its ids are added to the message too, so they
    /// reach every place the message goes).
    pub fn with_request_ids(mut self, request_id: Option<String>, client_request_id: Option<String>) -> Self {
        if request_id.is_some() || client_request_id.is_some() {
            self.message = format!(
                "{} [request-id: {}, client-request-id: {}]",
                self.message,
                request_id.as_deref().unwrap_or("none"),
                client_request_id.as_deref().unwrap_or("none")
            );
        }
        self.request_id = request_id;
        self.client_request_id = client_request_id;
        self
    }

    /// The error as it is reported inside a result (one tenant's failure in a bulk run): the
    /// same fields as an `error` event's body.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({ "code": self.code, "category": self.code.category(), "message": self.message });
        if let Some(t) = &self.target {
            v["target"] = t.clone().into();
        }
        if let Some(r) = &self.request_id {
            v["requestId"] = r.clone().into();
        }
        if let Some(r) = &self.client_request_id {
            v["clientRequestId"] = r.clone().into();
        }
        v
    }
}

/// A list for a message: the first `max` items joined by "; ", then how many more there are (a
/// 5 000-row input must not make a 5 000-line message).
pub fn name_some(items: &[String], max: usize) -> String {
    let mut s = items.iter().take(max).cloned().collect::<Vec<_>>().join("; ");
    if items.len() > max {
        s.push_str(&format!("; and {} more", items.len() - max));
    }
    s
}

impl fmt::Display for KodoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl std::error::Error for KodoError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_json() {
        for code in ErrorCode::ALL {
            let name = code.name();
            let back: ErrorCode = serde_json::from_value(serde_json::Value::String(name.clone())).unwrap();
            assert_eq!(back, code, "{name}");
        }
    }
}
