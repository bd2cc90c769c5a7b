//! Onboarding: the seed procedure's steps through Microsoft Graph (and SharePoint), each a
//! room of its own. Every step reads the tenant, plans ([`crate::plan`]), and applies what the
//! host approved; a re-run plans nothing for what is already in place. Permission names are
//! resolved against the tenant's live resource service principals ([`crate::manifest`]), never
//! against hard-coded ids.
//!
//! - [`app`] - New-KodoApp (find or create the app, its service principal, a credential)
//! - [`permissions`] - Grant-KodoPermissions (declare, app role assignments, delegated grants)
//! - [`scope`] - `-MailboxScope`: mailbox permissions in Exchange Online, limited to an
//!   administrative unit (RBAC for Applications)
//! - [`credentials`] - Remove-KodoAppCredential
//! - [`audit`] - Test-KodoApp (required vs configured vs consented, expiry, live sign-in)
//! - [`inventory`] - Get-KodoApp (the apps that serve KODO, described from the audit)
//! - [`remove`] - Remove-KodoApp
//! - [`procedure`] - Invoke-KodoOnboarding for one tenant: the whole procedure in one operation
//! - [`bulk`] - Invoke-KodoOnboarding -TenantId: many tenants, each with its own sign-in

pub mod app;
pub mod audit;
pub mod bulk;
pub mod credentials;
pub mod delivery;
pub mod ews;
pub mod inventory;
pub mod multitenant;
pub mod permissions;
pub mod policy;
pub mod procedure;
pub mod remove;
pub mod scope;

use crate::error::{ErrorCode, KodoError};
use crate::graph::models::Application;
use crate::graph::{Graph, Retry};
use serde_json::Value;

pub use app::{EnsureApp, ensure_app};
pub use audit::{TestApp, test_app};
pub use bulk::{OnboardMany, onboard_many};
pub use credentials::{RemoveCredential, remove_credential};
pub use inventory::{FindApps, find_apps};
pub use permissions::{GrantPermissions, declare_permissions, grant_permissions};
pub use procedure::{Onboard, onboard};
pub use remove::{RemoveApp, remove_app};

/// The manifest resolver, re-exported where the benchmarks look for it.
pub use crate::manifest::resolve as resolve_manifest;

/// The tag Kodo writes on its app registration, to find it again (never by name alone).
pub const KODO_TAG: &str = "KodoManaged";

/// The Kodo app's `uniqueName`, the alternate key it is created by (Graph's application upsert):
/// a create repeated while the first one still replicates updates that app instead of making a
/// second one.
pub const KODO_UNIQUE_NAME: &str = "kodo-for-cloud-backup";

/// Client secret lifetime: Graph's default is two years (facts.md §3.7); Kodo also caps there.
pub const SECRET_DAYS_DEFAULT: u32 = 730;
pub const SECRET_DAYS_MAX: u32 = 730;

/// The properties of the app that onboarding reads.
pub(crate) const APP_SELECT: &str =
    "id,appId,displayName,tags,passwordCredentials,keyCredentials,requiredResourceAccess";

/// An OData string literal in a URL: single quotes doubled, then percent-encoded (facts.md §3.3).
pub(crate) fn esc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.replace('\'', "''").as_bytes()).collect()
}

/// A GUID parameter, or the error that names it.
pub(crate) fn check_guid(what: &str, value: &str) -> Result<(), KodoError> {
    if uuid::Uuid::parse_str(value).is_err() {
        return Err(KodoError::new(ErrorCode::InvalidArgument, format!("{what} '{value}' is not a GUID."))
            .with_target(value.to_string()));
    }
    Ok(())
}

pub(crate) fn validate_display_name(name: &str) -> Result<(), KodoError> {
    let bad = |m: &str| Err(KodoError::new(ErrorCode::InvalidArgument, m.to_string()).with_target(name.to_string()));
    if name.trim().is_empty() {
        return bad("The display name is empty.");
    }
    if name.chars().count() > 256 {
        return bad("The display name is longer than 256 characters.");
    }
    if name.chars().any(char::is_control) {
        return bad("The display name contains control characters.");
    }
    Ok(())
}

/// Microsoft Graph application permissions that allow each kind of write (any one of them), as
/// Graph checks them (facts.md §3.1).
const APP_WRITE: &[&str] = &["Application.ReadWrite.All", "Application.ReadWrite.OwnedBy"];
const ASSIGN_WRITE: &[&str] = &["AppRoleAssignment.ReadWrite.All"];
const GRANT_WRITE: &[&str] = &["DelegatedPermissionGrant.ReadWrite.All", "Directory.ReadWrite.All"];

/// Before the first write of approved steps: an app or managed identity whose Graph token
/// lacks the application permission a step needs is stopped here, naming it, instead of by the
/// service after earlier steps were written. Delegated sign-ins (a `scp` claim) are left to
/// Graph: their rights also depend on the admin's directory roles.
pub(crate) fn check_write_roles(graph: &Graph<'_>, step_ids: &[String]) -> Result<(), KodoError> {
    let claims = graph.conn.claims.lock().clone();
    if !claims.is_object() || claims.get("scp").is_some() {
        return Ok(());
    }
    let held: Vec<&str> =
        claims["roles"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let mut missing: Vec<&[&str]> = Vec::new();
    for id in step_ids {
        let needs: &[&str] = match id.split(':').next().unwrap_or("") {
            "createApp"
            | "createServicePrincipal"
            | "addPassword"
            | "addCertificate"
            | "requiredResourceAccess"
            | "clearSecretMarks"
            | "setMultiTenant"
            | "removeSecret"
            | "removeCertificates"
            | "deleteServicePrincipal"
            | "deleteApp"
            | "secret"
            | "certificate" => APP_WRITE,
            "assign" | "revoke" => ASSIGN_WRITE,
            "grant" | "deleteGrants" => GRANT_WRITE,
            _ => continue,
        };
        let has = needs.iter().any(|n| held.iter().any(|h| h.eq_ignore_ascii_case(n)));
        if !has && !missing.contains(&needs) {
            missing.push(needs);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = missing.iter().map(|alternatives| alternatives.join(" or ")).collect();
    let client = graph.conn.client_id.clone();
    Err(KodoError::new(
        ErrorCode::PermissionDenied,
        format!(
            "Nothing was changed: the signed-in app {client} lacks the Microsoft Graph application permission {} that the approved steps need (its token carries {}). Grant it to the app (admin consent), then connect again.",
            names.join(", and "),
            if held.is_empty() { "no application permission".to_string() } else { held.join(", ") }
        ),
    )
    .with_target(client))
}

/// The read that finds the Kodo app by its tag (every page of it).
pub(crate) fn tagged_apps_path(select: &str) -> String {
    format!("applications?$filter=tags/any(t:t eq '{KODO_TAG}')&$select={select}")
}

/// The one Kodo app among those carrying Kodo's tag: none, one, or an error naming them all.
pub(crate) fn the_kodo_app(found: Vec<Application>, advice: &str) -> Result<Option<Application>, KodoError> {
    if found.len() > 1 {
        let names: Vec<String> = found.iter().map(Application::label).collect();
        return Err(KodoError::new(
            ErrorCode::AlreadyExists,
            format!("More than one app registration carries Kodo's tag: {}. {advice}", names.join(" and ")),
        ));
    }
    Ok(found.into_iter().next())
}

/// Finds the Kodo app by its tag, and when the tag was looked for ([`looked_at`]).
pub(crate) async fn find_kodo_app(
    graph: &Graph<'_>,
    advice: &str,
) -> Result<(Option<Application>, chrono::DateTime<chrono::Utc>), KodoError> {
    let request = crate::graph::Request::get(tagged_apps_path(APP_SELECT), Retry::ThrottleOnly);
    let before = graph.ctx.clock().utc_now();
    let first = graph.send(&request).await?;
    let looked = looked_at(&first, before);
    let found = graph.all_pages(first, &request).await?;
    Ok((the_kodo_app(found, advice)?, looked))
}

/// When the tag was looked for, on the clock that stamps an app's createdDateTime: the
/// service's, from the answer of the read (its first page: the earliest); this machine's,
/// taken before sending, when the answer has no `Date`. An app made after it is another run's.
pub(crate) fn looked_at(
    answer: &crate::graph::Response,
    before: chrono::DateTime<chrono::Utc>,
) -> chrono::DateTime<chrono::Utc> {
    answer.read_no_earlier_than().and_then(|s| chrono::DateTime::from_timestamp(s, 0)).unwrap_or(before)
}

/// Deletes `collection/id`; already gone (404) counts as deleted, so a re-run is safe.
pub(crate) async fn delete(graph: &Graph<'_>, collection: &str, id: &str) -> Result<(), KodoError> {
    let request = crate::graph::Request::delete(format!("{collection}/{id}"), Retry::Idempotent);
    let r = graph.send(&request).await?;
    if !r.ok() && r.status != 404 {
        return Err(crate::graph::graph_error("DELETE", collection, &r));
    }
    Ok(())
}
