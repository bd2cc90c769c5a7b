//! Exchange Online: the admin REST transport that Exchange Online PowerShell (the
//! ExchangeOnlineManagement 3.x module) uses for its cmdlets, and EWS as KODO uses it.
//!
//! Every cmdlet goes as `POST {exchange}/adminapi/beta/{tenant}/InvokeCommand` with
//! `{"CmdletInput":{"CmdletName":...,"Parameters":{...}}}` and a token for Exchange Online
//! (facts.md §8.4; docs/exchange-research.md §1). The answer's `value` holds the cmdlet's
//! objects, with PowerShell's PascalCase property names. Requests go through the same retry
//! loop as Graph's (`graph::with_retries`), with a fresh `client-request-id` each.
//!
//! - [`ews`]: the organization's EWS settings (read, write the allow list) and the EWS probe.
//! - [`rbac`]: RBAC for Applications: the app's service principal in Exchange and its
//!   management role assignments, scoped to an administrative unit.

pub mod ews;
pub mod rbac;

use crate::auth::Connection;
use crate::context::{LogLevel, OpContext};
use crate::error::{ErrorCode, KodoError};
use crate::graph::retry::RetryPolicy;
use crate::graph::{Request, Response, Retry, send_authorized, sign_in_error, with_retries};
use serde_json::{Value, json};

/// The organization mailbox app-only callers address (facts.md §8.4: `X-AnchorMailbox`).
const SYSTEM_MAILBOX: &str = "SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}";

/// The Exchange Online roles that may change organization settings (docs/exchange-research.md §4).
pub const EXCHANGE_ROLE_ADVICE: &str = "Assign the Microsoft Entra role Exchange Administrator (or add the identity to Exchange's Organization Management role group); an app or managed identity also needs the Office 365 Exchange Online application permission Exchange.ManageAsApp";

/// Exchange Online's admin REST transport for one connection.
pub struct ExchangeAdmin<'a> {
    pub conn: &'a Connection,
    pub ctx: &'a OpContext,
    pub policy: RetryPolicy,
}

impl<'a> ExchangeAdmin<'a> {
    pub fn new(conn: &'a Connection, ctx: &'a OpContext) -> Self {
        ExchangeAdmin { conn, ctx, policy: RetryPolicy::default() }
    }

    /// The tenant id (from the sign-in) and the routing hint for the caller.
    fn tenant_and_anchor(&self) -> (String, String) {
        let claims = self.conn.claims.lock().clone();
        let tenant = claims["tid"].as_str().map(str::to_string).unwrap_or_else(|| self.conn.tenant.clone());
        let anchor = match claims["upn"].as_str().or(claims["preferred_username"].as_str()) {
            Some(upn) if claims["idtyp"] != "app" => format!("UPN:{upn}"),
            _ => format!("APP:{SYSTEM_MAILBOX}@{tenant}"),
        };
        (tenant, anchor)
    }

    /// Runs one cmdlet and returns its objects. `retry` says whether a repeat is safe.
    pub async fn invoke(&self, cmdlet: &str, parameters: Value, retry: Retry) -> Result<Vec<Value>, KodoError> {
        self.attempt(cmdlet, parameters, retry).await?.map_err(|r| r.error)
    }

    /// Runs one cmdlet. The cmdlet's own refusal (HTTP 400 or 404: an object not found, one that exists
    /// already, a bad parameter) comes back as a [`Refusal`] for the caller to read; any other
    /// failure is an error.
    pub async fn attempt(
        &self,
        cmdlet: &str,
        parameters: Value,
        retry: Retry,
    ) -> Result<Result<Vec<Value>, Refusal>, KodoError> {
        let (tenant, anchor) = self.tenant_and_anchor();
        let url = format!("{}/adminapi/beta/{tenant}/InvokeCommand", self.conn.env.exchange);
        let body = json!({ "CmdletInput": { "CmdletName": cmdlet, "Parameters": parameters } });
        let request =
            Request { method: "POST", path: format!("InvokeCommand {cmdlet}"), body: None, retry, upsert: false };
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let label = format!("Exchange {cmdlet}");
        let exchange = &self.conn.env.exchange;
        let response = with_retries(&self.policy, self.ctx, &request, || {
            let post = self.conn.http().post(&url).header("X-AnchorMailbox", &anchor).json(&body);
            send_authorized(self.conn, self.ctx, exchange, post, &label, &client_request_id)
        })
        .await?;
        if response.is_sign_in_failure() {
            return Err(sign_in_error(&response));
        }
        // Parameter errors come as 400, a cmdlet that ran and failed as `"code": "NotFound"` (its
        // HTTP status is UNCONFIRMED: docs/exchange-research.md §1.6c), so 404 too.
        if matches!(response.status, 400 | 404) {
            let text = response.body.to_string();
            return Ok(Err(Refusal { text, error: exchange_error(cmdlet, &response) }));
        }
        if !response.ok() {
            return Err(exchange_error(cmdlet, &response));
        }
        for warning in response.body["@adminapi.warnings"].as_array().into_iter().flatten() {
            if let Some(w) = warning.as_str() {
                self.ctx.log(LogLevel::Verbose, format!("{cmdlet}: {w}"));
            }
        }
        Ok(Ok(response.body["value"].as_array().cloned().unwrap_or_default()))
    }
}

/// A cmdlet's refusal: the answer's whole text (to look for the error's id in) and the error
/// that says it.
#[derive(Debug)]
pub struct Refusal {
    pub text: String,
    pub error: KodoError,
}

impl Refusal {
    /// Whether the refusal names `id` (an error id such as `AADServicePrincipalNotFound`, or a
    /// phrase such as "already exist"), case-insensitively.
    pub fn says(&self, id: &str) -> bool {
        self.text.to_ascii_lowercase().contains(&id.to_ascii_lowercase())
    }
}

/// An Exchange admin API failure as a Kodo error that says what to do.
pub fn exchange_error(cmdlet: &str, r: &Response) -> KodoError {
    // The service's own text, where it gave one (docs/exchange-research.md §1.6: details[].message
    // is "<ErrorId>|<type>|<text>").
    let detail = r.body["error"]["details"][0]["message"]
        .as_str()
        .map(|m| m.rsplit('|').next().unwrap_or(m).to_string())
        .or_else(|| r.body["error"]["innererror"]["internalexception"]["message"].as_str().map(str::to_string))
        .or_else(|| r.body["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_default();
    let (code, message) = match r.status {
        // The token is Kodo's own, fresh: Exchange answers 401 to an identity that holds
        // neither Exchange.ManageAsApp nor an Exchange admin role (docs/exchange-research.md
        // §1.6 e), which is a missing role, not a failed sign-in.
        401 => (
            ErrorCode::PermissionDenied,
            format!(
                "Exchange Online refused {cmdlet} (HTTP 401): the signed-in identity holds neither Exchange.ManageAsApp nor an Exchange Online admin role. {EXCHANGE_ROLE_ADVICE}. Nothing was changed."
            ),
        ),
        403 => (
            ErrorCode::PermissionDenied,
            format!(
                "Exchange Online refused {cmdlet} (HTTP 403): the signed-in identity holds no Exchange Online role that may run it. {EXCHANGE_ROLE_ADVICE}. Nothing was changed."
            ),
        ),
        429 => (
            ErrorCode::Throttled,
            format!(
                "Exchange Online kept throttling {cmdlet} past Kodo's retry budget. Run the command again later: it continues where it stopped."
            ),
        ),
        400 => (ErrorCode::ServiceError, format!("Exchange Online refused {cmdlet}: {detail}")),
        s if s >= 500 => (
            ErrorCode::ServiceError,
            format!(
                "Exchange Online failed running {cmdlet} (HTTP {s}). Run the command again later: it continues where it stopped. {detail}"
            ),
        ),
        s => (ErrorCode::ServiceError, format!("Exchange Online answered HTTP {s} to {cmdlet}. {detail}")),
    };
    KodoError::new(code, message.trim_end().to_string())
        .with_target(cmdlet.to_string())
        .with_request_ids(r.request_id.clone(), r.client_request_id.clone())
}
