//! The organization's Exchange Web Services settings (facts.md §8.4; docs/exchange-research.md
//! §2, §3) and the EWS probe.
//!
//! - `EwsEnabled`: true (on, for the allow-listed apps only), false (off), null (never set:
//!   switched off by the rollout that began 2026-10-01).
//! - `EwsAllowedAppIDs`: one comma-separated string of app ids; `Set-OrganizationConfig` replaces
//!   it whole, so adding an app is a read-modify-write of the whole list. It is returned only
//!   with `-RetrieveEwsOperationAccessPolicy`, and changes take up to 24 hours to take effect.
//! - `EwsApplicationAccessPolicy` with `EwsAllowList`/`EwsBlockList`: the older filter by user
//!   agent, which applies as well.

use super::ExchangeAdmin;
use crate::auth::Connection;
use crate::context::{LogLevel, OpContext};
use crate::error::{ErrorCode, KodoError};
use crate::graph::Retry;
use serde::Serialize;
use serde_json::{Value, json};

/// How long Exchange may take to apply an allow-list change (facts.md §8.4: "up to 24 hours").
pub const PROPAGATION_HOURS: i64 = 24;

/// The organization's EWS settings, as Get-OrganizationConfig shows them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgEws {
    /// The organization's name (its initial domain), for messages.
    pub identity: String,
    pub ews_enabled: Option<bool>,
    /// The app ids allowed, in the order listed (empty: none).
    pub allowed_app_ids: Vec<String>,
    pub application_access_policy: Option<String>,
    pub allow_list: Vec<String>,
    pub block_list: Vec<String>,
}

/// A value that may come as one comma-separated string or as an array (docs/exchange-research.md
/// §2.2: a string; accept both).
fn list_of(v: &Value) -> Vec<String> {
    let parts: Vec<String> = match v {
        Value::String(s) => s.split(',').map(str::to_string).collect(),
        Value::Array(a) => a.iter().filter_map(Value::as_str).flat_map(|s| s.split(',')).map(str::to_string).collect(),
        _ => Vec::new(),
    };
    parts.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

impl OrgEws {
    fn from_config(config: &Value) -> OrgEws {
        OrgEws {
            identity: config["Identity"].as_str().or(config["Name"].as_str()).unwrap_or("").to_string(),
            ews_enabled: config["EwsEnabled"].as_bool(),
            allowed_app_ids: list_of(&config["EwsAllowedAppIDs"]),
            application_access_policy: config["EwsApplicationAccessPolicy"].as_str().map(str::to_string),
            allow_list: list_of(&config["EwsAllowList"]),
            block_list: list_of(&config["EwsBlockList"]),
        }
    }

    /// Whether `app_id` is on the allow list.
    pub fn lists(&self, app_id: &str) -> bool {
        self.allowed_app_ids.iter().any(|a| a.eq_ignore_ascii_case(app_id))
    }

    /// Whether these settings admit `app_id` (once in effect): EWS on, and the app listed.
    pub fn admits(&self, app_id: &str) -> bool {
        self.ews_enabled == Some(true) && self.lists(app_id)
    }

    /// The allow list with `app_id` added at the end (every entry kept, no duplicate).
    pub fn list_with(&self, app_id: &str) -> Vec<String> {
        let mut list = self.allowed_app_ids.clone();
        if !self.lists(app_id) {
            list.push(app_id.to_string());
        }
        list
    }
}

/// Reads the organization's EWS settings (with the allow list).
pub async fn read(admin: &ExchangeAdmin<'_>) -> Result<OrgEws, KodoError> {
    let value = admin
        .invoke("Get-OrganizationConfig", json!({ "RetrieveEwsOperationAccessPolicy": true }), Retry::Idempotent)
        .await?;
    let config = value
        .first()
        .ok_or_else(|| KodoError::new(ErrorCode::ServiceError, "Get-OrganizationConfig returned no organization."))?;
    Ok(OrgEws::from_config(config))
}

/// Writes the whole allow list (and turns EWS on when `enable`). Nothing is read back: the
/// caller reads again, after a pause, to see whether another writer's read-modify-write
/// replaced it (the guarded read-modify-write of the onboarding's EWS step).
pub async fn set(admin: &ExchangeAdmin<'_>, list: &[String], enable: bool) -> Result<(), KodoError> {
    let mut parameters = json!({ "EwsAllowedAppIDs": list.join(",") });
    if enable {
        parameters["EwsEnabled"] = true.into();
    }
    // Not repeated on a lost answer: a repeat could undo another admin's change made meanwhile.
    // The caller re-reads and merges instead.
    admin.invoke("Set-OrganizationConfig", parameters, Retry::ThrottleOnly).await?;
    Ok(())
}

/// What EWS answered the probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum Probe {
    /// The app read the mailbox's folder root.
    Admitted,
    /// EWS refused the app by the organization's settings (the `X-EWS-Policy-Reason` header).
    Denied { reason: String },
    /// Anything else: the token was refused, the mailbox could not be read, no answer.
    Failed { detail: String },
}

/// Reads the folder root of `mailbox` through EWS as the app signed in on `app` (app-only, with
/// `full_access_as_app`): the one harmless call that proves KODO's mail access (docs/
/// exchange-research.md §3.2).
pub async fn probe(app: &Connection, ctx: &OpContext, mailbox: &str) -> Result<Probe, KodoError> {
    let token = match app.token(ctx, &app.env.exchange).await {
        Ok(t) => t,
        Err(e) => return Ok(Probe::Failed { detail: format!("signing in to Exchange Online failed: {}", e.message) }),
    };
    let mailbox_xml = mailbox.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let body = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"><soap:Header><t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>{mailbox_xml}</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation></soap:Header><soap:Body><m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="msgfolderroot" /></m:FolderIds></m:GetFolder></soap:Body></soap:Envelope>"#
    );
    let url = format!("{}/EWS/Exchange.asmx", app.env.exchange);
    let client_request_id = uuid::Uuid::new_v4().to_string();
    let sent = app
        .http()
        .post(&url)
        .bearer_auth(token)
        .header("Content-Type", "text/xml; charset=utf-8")
        .header("X-AnchorMailbox", mailbox)
        .header("client-request-id", &client_request_id)
        .body(body)
        .send()
        .await;
    let response = match sent {
        Ok(r) => r,
        Err(e) => {
            return Ok(Probe::Failed {
                detail: format!(
                    "no answer from {url}: {}",
                    if e.is_timeout() { "timed out" } else { "connection failed" }
                ),
            });
        }
    };
    let status = response.status().as_u16();
    let reason = response.headers().get("x-ews-policy-reason").and_then(|v| v.to_str().ok()).map(str::to_string);
    let text = response.text().await.unwrap_or_default();
    ctx.log(
        LogLevel::Debug,
        format!("EWS GetFolder msgfolderroot of {mailbox} -> {status} (client-request-id {client_request_id})"),
    );
    Ok(match (status, reason) {
        (200, _) if text.contains(r#"ResponseClass="Success""#) => Probe::Admitted,
        (403, Some(reason)) => Probe::Denied { reason },
        (s, _) => {
            // A SOAP fault names its response code (docs/exchange-research.md §3.2).
            let code = text
                .split("ResponseCode")
                .nth(1)
                .and_then(|t| t.split('>').nth(1))
                .and_then(|t| t.split('<').next())
                .filter(|c| !c.is_empty())
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            Probe::Failed { detail: format!("EWS answered HTTP {s}{code}") }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allow_list_reads_as_a_string_or_an_array_and_keeps_every_entry() {
        let org = OrgEws::from_config(&json!({
            "Identity": "contoso.onmicrosoft.com", "EwsEnabled": true,
            "EwsAllowedAppIDs": " 11111111-2222-3333-4444-555555555555,AAAAAAAA-bbbb-cccc-dddd-eeeeeeeeeeee ",
            "EwsApplicationAccessPolicy": null, "EwsAllowList": null, "EwsBlockList": ["OldClient/*"]
        }));
        assert_eq!(org.allowed_app_ids.len(), 2);
        assert!(org.lists("aaaaaaaa-BBBB-cccc-dddd-eeeeeeeeeeee"));
        assert!(org.admits("11111111-2222-3333-4444-555555555555"));
        assert_eq!(org.block_list, ["OldClient/*"]);
        let with = org.list_with("99999999-2222-3333-4444-555555555555");
        assert_eq!(with.len(), 3);
        assert_eq!(with[..2], org.allowed_app_ids[..]);
        assert_eq!(org.list_with("11111111-2222-3333-4444-555555555555").len(), 2);
        let array = OrgEws::from_config(&json!({ "EwsEnabled": null, "EwsAllowedAppIDs": ["a,b", "c"] }));
        assert_eq!(array.allowed_app_ids, ["a", "b", "c"]);
        assert!(!array.admits("a"), "never set is not on");
    }
}
