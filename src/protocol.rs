//! The JSON protocol spoken across the C boundary (version [`PROTOCOL_VERSION`]).
//!
//! Every document carries `"v"`. Requests are tagged by `"kind"`, events by `"type"`.
//! Unknown fields are rejected so that a module/library mismatch fails loudly.

use kodo_core::auth::{CredentialSpec, EnvironmentSpec};
pub use kodo_core::context::{LogLevel, Report};
use kodo_core::error::{ErrorCode, KodoError};
use kodo_core::onboarding;
use kodo_core::plan::Approval;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The protocol version this library speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Configuration of a session (`kodo_session_new`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SessionConfig {
    /// Enables the `debug.*` requests. Off unless asked for.
    #[serde(default)]
    pub debug_hooks: bool,
}

/// Where a `debug.panic` request panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum PanicSite {
    /// Synchronously, inside `kodo_op_start`.
    Start,
    /// Inside the running operation.
    #[default]
    Operation,
}

/// A request to start an operation (`kodo_op_start`).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum Request {
    /// Versions of the library and protocol.
    #[serde(rename = "version")]
    Version {},
    /// Signs in and keeps the connection in the session.
    #[serde(rename = "connect", rename_all = "camelCase")]
    Connect {
        #[serde(default)]
        tenant_id: Option<String>,
        environment: EnvironmentSpec,
        credential: CredentialSpec,
    },
    /// Forgets the connection and its tokens.
    #[serde(rename = "disconnect")]
    Disconnect {},
    /// Describes the connection (never a token).
    #[serde(rename = "context")]
    Context {},
    /// Gets (or reuses) a token for a resource and describes it: audience, roles or scopes,
    /// expiry. Never the token.
    #[serde(rename = "tokenInfo", rename_all = "camelCase")]
    TokenInfo { resource: String },
    /// New-KodoApp: find or create the app, its service principal and a secret.
    #[serde(rename = "app.ensure")]
    EnsureApp(onboarding::EnsureApp),
    /// The host has handed a new secret to the admin: its mark on the app goes
    /// (onboarding/delivery.rs).
    #[serde(rename = "app.secret.confirm")]
    ConfirmSecret(onboarding::delivery::ConfirmSecret),
    /// Grant-KodoEwsAccess: put the app on the organization's EWS allow list.
    #[serde(rename = "ews.grant")]
    GrantEws(onboarding::ews::GrantEws),
    /// Grant-KodoPermissions: resolve a manifest, declare, and grant admin consent.
    #[serde(rename = "permissions.grant")]
    GrantPermissions(onboarding::GrantPermissions),
    /// Invoke-KodoOnboarding: app, credential, permissions, consent, SharePoint setting.
    #[serde(rename = "onboard")]
    Onboard(onboarding::Onboard),
    /// Invoke-KodoOnboarding -TenantId: many tenants, each with its own sign-in, concurrently.
    #[serde(rename = "onboard.many")]
    OnboardMany(onboarding::OnboardMany),
    /// Get-KodoOnboardingStatus: a bulk run's ledger, read (no lock taken).
    #[serde(rename = "ledger.status")]
    LedgerStatus(kodo_core::ledger::LedgerStatus),
    /// Merge-KodoOnboardingLedger: child jobs' ledgers appended to a fleet's ledger.
    #[serde(rename = "ledger.merge")]
    LedgerMerge(kodo_core::ledger::LedgerMerge),
    /// Test-KodoApp.
    #[serde(rename = "app.test")]
    TestApp(onboarding::TestApp),
    /// New-KodoConsentLink: a customer tenant's admin consent URL (multi-tenant app).
    #[serde(rename = "consent.link")]
    ConsentLink(onboarding::multitenant::ConsentLink),
    /// Test-KodoConsent: sign in to a customer tenant as the multi-tenant app and compare its
    /// roles with the manifest.
    #[serde(rename = "consent.test")]
    TestConsent(onboarding::multitenant::TestConsent),
    /// Grant-KodoConsent: consent to the multi-tenant app in a customer tenant as the partner's
    /// admin under GDAP (service principal and app role assignments).
    #[serde(rename = "consent.gdap")]
    GrantConsentGdap(onboarding::multitenant::GrantConsentGdap),
    /// Test-KodoGdapAccess: the partner's GDAP relationship with a customer, for consent.
    #[serde(rename = "gdap.test")]
    TestGdap(onboarding::multitenant::TestGdap),
    /// Get-KodoApp.
    #[serde(rename = "app.find")]
    FindApps(onboarding::FindApps),
    /// Remove-KodoAppCredential.
    #[serde(rename = "app.credential.remove")]
    RemoveCredential(onboarding::RemoveCredential),
    /// Remove-KodoApp.
    #[serde(rename = "app.remove")]
    RemoveApp(onboarding::RemoveApp),
    /// Get/Set-KodoSharePointTenant.
    #[serde(rename = "spo.tenant", rename_all = "camelCase")]
    SharePointTenant {
        #[serde(default)]
        route: String,
        #[serde(default)]
        legacy_auth_protocols_enabled: Option<bool>,
        /// How the change is approved (absent: applied).
        #[serde(default)]
        approval: Approval,
    },
    /// Test-KodoSharePointAccess: read the root web app-only.
    #[serde(rename = "spo.verify")]
    SharePointVerify {},
    /// Sleeps, reporting progress; ends early when cancelled.
    #[serde(rename = "debug.sleep", rename_all = "camelCase")]
    DebugSleep {
        ms: u64,
        #[serde(default = "default_progress_every")]
        progress_every_ms: u64,
    },
    /// Fails with the given error code.
    #[serde(rename = "debug.fail", rename_all = "camelCase")]
    DebugFail {
        code: ErrorCode,
        message: String,
        #[serde(default)]
        target: Option<String>,
    },
    /// Panics, to prove the boundary contains it.
    #[serde(rename = "debug.panic", rename_all = "camelCase")]
    DebugPanic {
        message: String,
        #[serde(default)]
        at: PanicSite,
    },
    /// Emits one event of every non-terminal type, then a result.
    #[serde(rename = "debug.events")]
    DebugEvents {},
    /// Counters of live and cancelled operations, so a host can prove it cleaned up, and the
    /// library's heap (live bytes and their peak). `resetPeak` starts a new peak afterwards.
    #[serde(rename = "debug.stats", rename_all = "camelCase")]
    DebugStats {
        #[serde(default)]
        reset_peak: bool,
    },
    /// Asks the host one question (a `prompt` with a `requestId`, kind `debug`) and returns
    /// the answer, so a host can test `kodo_op_respond`.
    #[serde(rename = "debug.ask")]
    DebugAsk {},
}

fn default_progress_every() -> u64 {
    100
}

impl Request {
    /// True for requests that need a session created with `debugHooks`.
    pub fn is_debug(&self) -> bool {
        matches!(
            self,
            Request::DebugSleep { .. }
                | Request::DebugFail { .. }
                | Request::DebugPanic { .. }
                | Request::DebugEvents {}
                | Request::DebugStats { .. }
                | Request::DebugAsk {}
        )
    }
}

/// Why a JSON document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Not JSON at all.
    Json(String),
    /// JSON, but not a valid document of this protocol.
    Invalid(String),
    /// Claims a protocol version this library does not speak.
    Version(String),
}

/// Parses a versioned document: checks `"v"` and deserializes the rest.
pub fn parse_versioned<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ParseError> {
    let value: Value = serde_json::from_str(text).map_err(|e| ParseError::Json(e.to_string()))?;
    let Value::Object(mut map) = value else {
        return Err(ParseError::Invalid("expected a JSON object".into()));
    };
    match map.remove("v") {
        None => return Err(ParseError::Invalid("missing protocol version field \"v\"".into())),
        Some(Value::Number(n)) if n.as_u64() == Some(PROTOCOL_VERSION as u64) => {}
        Some(other) => {
            return Err(ParseError::Version(format!(
                "protocol version {other} is not supported; this library speaks version {PROTOCOL_VERSION}"
            )));
        }
    }
    serde_json::from_value(Value::Object(map)).map_err(|e| ParseError::Invalid(e.to_string()))
}

/// The error carried by an `error` event.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub category: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The service's request id and the client request id Kodo sent (Microsoft support asks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_request_id: Option<String>,
}

impl From<KodoError> for ErrorBody {
    fn from(e: KodoError) -> Self {
        ErrorBody {
            code: e.code,
            category: e.code.category(),
            message: e.message,
            target: e.target,
            request_id: e.request_id,
            client_request_id: e.client_request_id,
        }
    }
}

/// What an event says: a report while the operation runs (progress, log, warning, prompt,
/// item: `kodo_core::context::Report`, serialized with its `type`), then exactly one [`End`].
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum EventBody {
    Report(Report),
    End(End),
}

/// How an operation ended: exactly one of these ends every operation, and nothing follows it.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum End {
    Result { data: Value },
    Error { error: ErrorBody },
    Cancelled { message: String },
}

impl EventBody {
    pub fn is_terminal(&self) -> bool {
        matches!(self, EventBody::End(_))
    }
}

/// An event as it crosses the boundary.
#[derive(Debug, Clone, Serialize)]
pub struct Event<'a> {
    pub v: u32,
    pub seq: u64,
    #[serde(flatten)]
    pub body: &'a EventBody,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_request() {
        let r: Request = parse_versioned(r#"{"v":1,"kind":"debug.sleep","ms":5}"#).unwrap();
        assert!(matches!(r, Request::DebugSleep { ms: 5, progress_every_ms: 100 }));
    }

    #[test]
    fn rejects_unknown_fields_kinds_and_versions() {
        assert!(matches!(
            parse_versioned::<Request>(r#"{"v":1,"kind":"version","extra":1}"#),
            Err(ParseError::Invalid(_))
        ));
        assert!(matches!(parse_versioned::<Request>(r#"{"v":1,"kind":"nope"}"#), Err(ParseError::Invalid(_))));
        assert!(matches!(parse_versioned::<Request>(r#"{"kind":"version"}"#), Err(ParseError::Invalid(_))));
        assert!(matches!(parse_versioned::<Request>(r#"{"v":2,"kind":"version"}"#), Err(ParseError::Version(_))));
        assert!(matches!(parse_versioned::<Request>(r#"[1]"#), Err(ParseError::Invalid(_))));
        assert!(matches!(parse_versioned::<Request>("{"), Err(ParseError::Json(_))));
    }

    #[test]
    fn events_serialize_flat() {
        let body = EventBody::Report(Report::Warning { message: "w".into() });
        let text = serde_json::to_string(&Event { v: 1, seq: 3, body: &body }).unwrap();
        assert_eq!(text, r#"{"v":1,"seq":3,"type":"warning","message":"w"}"#);
        let err = EventBody::End(End::Error { error: KodoError::new(ErrorCode::NotFound, "gone").into() });
        let text = serde_json::to_string(&Event { v: 1, seq: 4, body: &err }).unwrap();
        assert_eq!(
            text,
            r#"{"v":1,"seq":4,"type":"error","error":{"code":"NotFound","category":"ObjectNotFound","message":"gone"}}"#
        );
    }
}
