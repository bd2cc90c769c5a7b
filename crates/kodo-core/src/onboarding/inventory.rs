//! Get-KodoApp: the app registrations that serve KODO, one object each. Found by appId, by
//! display name, or, with neither, every app that looks like KODO's: Kodo's tag, or at least
//! half of the manifest's permissions declared (an app made by hand from the manual). Each is
//! described from the same read-only audit as Test-KodoApp: its credentials and their expiry,
//! the permissions missing or not consented, SharePoint and EWS state, and one status.

use super::audit::{TestApp, test_app};
use super::permissions::{ResourceSps, is_declared, resource_lookup, resource_sps_from};
use super::{APP_SELECT, KODO_TAG, check_guid, esc, validate_display_name};
use crate::auth::Connection;
use crate::context::OpContext;
use crate::error::KodoError;
use crate::graph::models::{Application, end_of};
use crate::graph::{Graph, Retry};
use crate::manifest::{parse_manifest, resolve};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FindApps {
    #[serde(default)]
    pub app_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    pub manifest: Value,
    /// Credentials expiring within this many days are a warning.
    #[serde(default = "default_warn_days")]
    pub warn_days: i64,
}

fn default_warn_days() -> i64 {
    30
}

/// Share of the manifest's permissions an app must declare to look like KODO's without the tag.
const LOOKALIKE_SHARE: f64 = 0.5;

pub async fn find_apps(
    conn: &Connection,
    ctx: &OpContext,
    graph: &Graph<'_>,
    req: FindApps,
) -> Result<Value, KodoError> {
    let manifest = parse_manifest(&req.manifest)?;
    if let Some(id) = &req.app_id {
        check_guid("-AppId", id)?;
    }
    if let Some(name) = &req.display_name {
        validate_display_name(name)?;
    }
    // The manifest's permissions resolved once, to tell an app made from the manual by them.
    let resources = manifest.resources();
    let reads: Vec<_> = resources.iter().map(|r| resource_lookup(r)).collect();
    let sps: ResourceSps = resource_sps_from(&resources, graph.batch(&reads).await?)?;
    let resolution = resolve(&manifest, &sps);
    let wanted = resolution.resolved.len().max(1) as f64;
    let identified_by = |app: &Application| -> &'static str {
        if app.tags.as_deref().unwrap_or(&[]).iter().any(|t| t == KODO_TAG) {
            return "KodoTag";
        }
        let declared = app.required_resource_access();
        let share = resolution.resolved.iter().filter(|r| is_declared(declared, r)).count() as f64 / wanted;
        if share >= LOOKALIKE_SHARE { "Permissions" } else { "Neither" }
    };
    let found: Vec<Application> = match (&req.app_id, &req.display_name) {
        (Some(id), _) => {
            let path = format!("applications(appId='{id}')?$select={APP_SELECT}");
            graph.find::<Application>(path, Retry::ThrottleOnly).await?.into_iter().collect()
        }
        (None, Some(name)) => {
            let path = format!("applications?$filter=displayName eq '{}'&$select={APP_SELECT}", esc(name));
            graph.list::<Application>(path, Retry::ThrottleOnly).await?
        }
        // Every app of the tenant that carries Kodo's tag or declares most of the manifest
        // (999 a page: the most Graph gives).
        (None, None) => graph
            .list::<Application>(format!("applications?$select={APP_SELECT}&$top=999"), Retry::ThrottleOnly)
            .await?
            .into_iter()
            .filter(|app| identified_by(app) != "Neither")
            .collect(),
    };
    let mut apps = Vec::with_capacity(found.len());
    for app in found {
        let audit = TestApp {
            app_id: app.app_id().to_string(),
            manifest: req.manifest.clone(),
            warn_days: req.warn_days,
            sign_in: Vec::new(),
            ews_mailbox: None,
            mailbox_scope: None,
        };
        let audit = test_app(conn, ctx, graph, audit).await?;
        // Days left on Graph's clock, as the audit judged expiry.
        apps.push(describe(&app, identified_by(&app), &audit, graph.service_now()));
    }
    Ok(json!({ "apps": apps }))
}

/// One app as Get-KodoApp shows it, from the app and its audit (Test-KodoApp's checks).
fn describe(app: &Application, identified_by: &str, audit: &Value, now: chrono::DateTime<chrono::Utc>) -> Value {
    let checks = audit["checks"].as_array().cloned().unwrap_or_default();
    let of = |area: &'static str| checks.iter().filter(move |c| c["area"] == area);
    let days_left = |end: Option<&str>| end_of(end).map(|e| (e - now).num_days());
    let mut credentials: Vec<Value> = app
        .password_credentials()
        .iter()
        .map(|c| {
            json!({ "type": "ClientSecret", "name": c.display_name.as_deref().or(c.hint.as_deref()), "keyId": c.key_id,
                    "endDateTime": c.end_date_time, "daysLeft": days_left(c.end_date_time.as_deref()) })
        })
        .collect();
    credentials.extend(app.key_credentials().iter().map(|c| {
        json!({ "type": "Certificate", "name": c.display_name, "keyId": c.key_id,
                "endDateTime": c.end_date_time, "daysLeft": days_left(c.end_date_time.as_deref()) })
    }));
    // The credential KODO can use longest: the latest expiry among those still valid.
    let longest = credentials.iter().filter_map(|c| c["daysLeft"].as_i64()).filter(|d| *d >= 0).max();
    let permissions: Vec<&Value> = of("Permission").filter(|c| c["status"] != "Info").collect();
    let missing: Vec<&Value> =
        permissions.iter().copied().filter(|c| c["status"] == "Fail").map(|c| &c["check"]).collect();
    let ews = of("EWS").find(|c| c["check"] == "EWS allow list");
    let status = if audit["summary"]["fails"].as_u64().unwrap_or(0) > 0 {
        "Fail"
    } else if audit["summary"]["warnings"].as_u64().unwrap_or(0) > 0 {
        "Warn"
    } else {
        "Pass"
    };
    json!({
        "appId": app.app_id(),
        "objectId": app.id(),
        "displayName": app.display_name(),
        "kodoManaged": app.tags.as_deref().unwrap_or(&[]).iter().any(|t| t == KODO_TAG),
        "identifiedBy": identified_by,
        "status": status,
        "credentials": credentials,
        "daysLeft": longest,
        "permissions": permissions.len(),
        "missingPermissions": missing,
        "sharePoint": {
            "certificate": !app.key_credentials().is_empty(),
            "detail": of("Retired").find(|c| c["check"] == "SharePoint appinv.aspx (Azure ACS)").map(|c| c["detail"].clone()),
        },
        "ews": ews.map(|c| json!({ "status": c["status"], "detail": c["detail"] })),
        "checks": checks,
    })
}
