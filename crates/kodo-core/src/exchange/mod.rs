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

pub mod ews;

use crate::auth::Connection;
use crate::context::{LogLevel, OpContext};
use crate::error::{ErrorCode, KodoError};
use crate::graph::retry::RetryPolicy;
use crate::graph::{NoAnswer, Request, Response, Retry, with_retries};
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

    async fn send_once(
        &self,
        url: &str,
        body: &Value,
        anchor: &str,
        client_request_id: &str,
    ) -> Result<Response, NoAnswer> {
        let Ok(token) = self.conn.token(self.ctx, &self.conn.env.exchange).await else {
            return Ok(Response {
                status: 401,
                body: json!({ "error": { "code": "KodoSignIn", "message": "sign-in failed" } }),
                ..Default::default()
            });
        };
        let started = self.ctx.clock().now();
        let r = self
            .conn
            .http()
            .post(url)
            .bearer_auth(token)
            .header("X-AnchorMailbox", anchor)
            .header("client-request-id", client_request_id)
            .json(body)
            .send()
            .await
            .map_err(|e| NoAnswer { timed_out: e.is_timeout() })?;
        let status = r.status().as_u16();
        let header = |n: &str| r.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
        let retry_after = header("retry-after").and_then(|v| v.trim().parse::<f64>().ok());
        let request_id = header("request-id");
        let echoed = header("client-request-id").unwrap_or_else(|| client_request_id.to_string());
        let bytes = r.bytes().await.map_err(|e| NoAnswer { timed_out: e.is_timeout() })?;
        self.ctx.log(
            LogLevel::Debug,
            format!(
                "Exchange {} -> {status} in {} ms (request-id {}, client-request-id {echoed})",
                body["CmdletInput"]["CmdletName"].as_str().unwrap_or("?"),
                self.ctx.clock().now().saturating_duration_since(started).as_millis(),
                request_id.as_deref().unwrap_or("none"),
            ),
        );
        Ok(Response {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            retry_after,
            request_id,
            client_request_id: Some(echoed),
        })
    }

    /// Runs one cmdlet and returns its objects. `retry` says whether a repeat is safe.
    pub async fn invoke(&self, cmdlet: &str, parameters: Value, retry: Retry) -> Result<Vec<Value>, KodoError> {
        let (tenant, anchor) = self.tenant_and_anchor();
        let url = format!("{}/adminapi/beta/{tenant}/InvokeCommand", self.conn.env.exchange);
        let body = json!({ "CmdletInput": { "CmdletName": cmdlet, "Parameters": parameters } });
        let request = Request { method: "POST", path: format!("InvokeCommand {cmdlet}"), body: None, retry };
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let response =
            with_retries(&self.policy, self.ctx, &request, || self.send_once(&url, &body, &anchor, &client_request_id))
                .await?;
        if response.status == 401 && response.code() == "KodoSignIn" {
            return Err(self
                .conn
                .token(self.ctx, &self.conn.env.exchange)
                .await
                .err()
                .unwrap_or_else(|| KodoError::new(ErrorCode::AuthenticationFailed, "Sign-in failed.")));
        }
        if !response.ok() {
            return Err(exchange_error(cmdlet, &response));
        }
        for warning in response.body["@adminapi.warnings"].as_array().into_iter().flatten() {
            if let Some(w) = warning.as_str() {
                self.ctx.log(LogLevel::Verbose, format!("{cmdlet}: {w}"));
            }
        }
        Ok(response.body["value"].as_array().cloned().unwrap_or_default())
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
        401 => (
            ErrorCode::AuthenticationFailed,
            format!(
                "Exchange Online refused the sign-in for {cmdlet} (HTTP 401). {EXCHANGE_ROLE_ADVICE}. Nothing was changed."
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
