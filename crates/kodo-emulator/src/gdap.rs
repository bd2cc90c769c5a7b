//! GDAP: the partner tenant's delegated admin relationships with its customers, read through
//! Graph (`GET /tenantRelationships/delegatedAdminRelationships[/{id}]`) and seeded through the
//! control API (`POST /_emulator/tenants/{partner}/delegatedAdminRelationships`).
//!
//! Source: Microsoft Learn delegatedAdminRelationship resource type and its get/list pages
//! (docs/multitenant-research.md §3): properties accessDetails.unifiedRoles[].roleDefinitionId,
//! activatedDateTime, autoExtendDuration, createdDateTime, customer {displayName, tenantId},
//! displayName, duration, endDateTime (= activatedDateTime + duration), id, lastModifiedDateTime,
//! status; permission DelegatedAdminRelationship.Read.All (ReadWrite.All higher).
//! Not modelled: access assignments (which partner security group holds which role), creating
//! or changing relationships through Graph, the requirement that the "Partner Customer
//! Delegated Administration" service principal exist for app-only calls.

use super::state::*;
use serde_json::{Map, Value, json};

/// Who may read relationships (Learn delegatedadminrelationship-get permissions table).
pub const READ: &[&str] = &["DelegatedAdminRelationship.Read.All", "DelegatedAdminRelationship.ReadWrite.All"];

/// The relationship as Graph shows it now: `active` past its `endDateTime` reads `expired`
/// (the status is read-only and kept by the service; when it changes is UNCONFIRMED).
pub fn view(r: &Map<String, Value>) -> Map<String, Value> {
    let mut m = r.clone();
    let ended = m
        .get("endDateTime")
        .and_then(Value::as_str)
        .and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok())
        .is_some_and(|e| e < crate::state::now());
    if ended && m.get("status").and_then(Value::as_str) == Some("active") {
        m.insert("status".into(), "expired".into());
    }
    m
}

/// Builds a relationship from the control API's body: `customerTenantId` (required),
/// `customerDisplayName`, `roleDefinitionIds` (Entra role template ids), `status` (default
/// active), `durationDays` (default 730, P2Y the longest Graph allows) or `endDateTime`,
/// `displayName`.
pub fn seed(body: &Value) -> Result<Map<String, Value>, String> {
    let customer = body["customerTenantId"].as_str().ok_or("customerTenantId is required")?;
    uuid::Uuid::parse_str(customer).map_err(|_| "customerTenantId must be a GUID".to_string())?;
    let roles: Vec<Value> = body["roleDefinitionIds"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(|r| json!({ "roleDefinitionId": r })).collect())
        .unwrap_or_default();
    let now = crate::state::now();
    let days = body["durationDays"].as_i64().unwrap_or(730);
    let activated = now - chrono::Duration::days(1);
    let end = match body["endDateTime"].as_str() {
        Some(e) => e.to_string(),
        None => (activated + chrono::Duration::days(days)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    let stamp = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    // Two GUIDs joined by a hyphen, as the ids in the Learn examples look (UNCONFIRMED rule).
    let id = format!("{}-{}", new_id(), new_id());
    let v = json!({
        "@odata.etag": format!("W/\"{}\"", etag()),
        "id": id,
        "displayName": body["displayName"].as_str().unwrap_or("Kodo emulator GDAP"),
        "duration": format!("P{days}D"),
        "status": body["status"].as_str().unwrap_or("active"),
        "autoExtendDuration": "PT0S",
        "createdDateTime": stamp(activated),
        "lastModifiedDateTime": stamp(activated),
        "activatedDateTime": stamp(activated),
        "endDateTime": end,
        "customer": { "tenantId": customer, "displayName": body["customerDisplayName"].as_str().unwrap_or("") },
        "accessDetails": { "unifiedRoles": roles },
    });
    match v {
        Value::Object(m) => Ok(m),
        _ => Err("internal".into()),
    }
}

fn etag() -> String {
    new_id().replace('-', "")
}
