//! Exchange Online RBAC for Applications (docs/exchange-rbac-research.md): mailbox permissions
//! granted to an app in Exchange, scoped to an administrative unit, instead of tenant-wide in
//! Microsoft Entra ID.
//!
//! - The app's service principal is registered in Exchange as a pointer (`New-ServicePrincipal
//!   -AppId -ObjectId -DisplayName`); Exchange refuses one whose Entra service principal it cannot
//!   see yet (`AADServicePrincipalNotFound`, also while Entra replicates a new one: §3).
//! - Each permission is a management role assignment of an "Application ..." role to the app,
//!   `-RecipientAdministrativeUnitScope <unit id>` (§1.1, §2). Kodo always gives the assignment
//!   its own name, so a re-run finds it and a repeat is refused as existing, never doubled (§3).
//! - `Get-ManagementRoleAssignment` has no `-App`: assignments are read by `-RoleAssignee` (§2).
//! - `Test-ServicePrincipalAuthorization -Resource <mailbox>` says per role whether a mailbox is
//!   in scope, bypassing Exchange's cache (§2); without `-Resource` every `InScope` is "Not Run".
//! - Entra grants and Exchange assignments are a union: an unscoped Entra grant of the same
//!   permission reaches every mailbox whatever the scope (§1.2).
//! - Exchange applies app permission changes after 30 minutes to 2 hours (§1.1).

use super::ExchangeAdmin;
use crate::context::{LogLevel, OpContext};
use crate::error::{ErrorCode, KodoError};
use crate::graph::Retry;
use crate::platform::{EXCHANGE_APP_ID as EXCHANGE, GRAPH_APP_ID as GRAPH};
use serde::Serialize;
use serde_json::{Value, json};
use std::time::Duration;

/// Each Entra application permission with an Exchange application role of the same effect
/// (docs/exchange-rbac-research.md §1.3, the Learn table of 2025-11-25): (resource appId,
/// permission, role). `full_access_as_app` pairs with `Application EWS.AccessAsApp` (MEDIUM: by
/// its description). The composite roles (Mail Full Access, Exchange Full Access) are not used.
pub const ROLES: &[(&str, &str, &str)] = &[
    (GRAPH, "Mail.Read", "Application Mail.Read"),
    (GRAPH, "Mail.ReadBasic", "Application Mail.ReadBasic"),
    (GRAPH, "Mail.ReadWrite", "Application Mail.ReadWrite"),
    (GRAPH, "Mail.Send", "Application Mail.Send"),
    (GRAPH, "MailboxSettings.Read", "Application MailboxSettings.Read"),
    (GRAPH, "MailboxSettings.ReadWrite", "Application MailboxSettings.ReadWrite"),
    (GRAPH, "Calendars.Read", "Application Calendars.Read"),
    (GRAPH, "Calendars.ReadWrite", "Application Calendars.ReadWrite"),
    (GRAPH, "Contacts.Read", "Application Contacts.Read"),
    (GRAPH, "Contacts.ReadWrite", "Application Contacts.ReadWrite"),
    (GRAPH, "MailboxFolder.Read.All", "Application MailboxFolder.Read"),
    (GRAPH, "MailboxFolder.ReadWrite.All", "Application MailboxFolder.ReadWrite"),
    (GRAPH, "MailboxItem.Read.All", "Application MailboxItem.Read"),
    (GRAPH, "MailboxItem.ReadWrite.All", "Application MailboxItem.ReadWrite"),
    (GRAPH, "MailboxItem.Export.All", "Application MailboxItem.Export"),
    (GRAPH, "MailboxItem.ImportExport.All", "Application MailboxItem.ImportExport"),
    (GRAPH, "MailboxConfigItem.Read", "Application MailboxConfigItem.Read"),
    (GRAPH, "MailboxConfigItem.ReadWrite", "Application MailboxConfigItem.ReadWrite"),
    (GRAPH, "MailTips.ReadBasic.All", "Application MailTips.ReadBasic.All"),
    (GRAPH, "Mail-Advanced.ReadWrite.All", "Application Mail-Advanced.ReadWrite.All"),
    (EXCHANGE, "full_access_as_app", "Application EWS.AccessAsApp"),
];

/// The Exchange application role that grants an Entra application permission within a scope,
/// if there is one.
pub fn role_for(resource_app_id: &str, permission: &str, application: bool) -> Option<&'static str> {
    if !application {
        return None;
    }
    ROLES
        .iter()
        .find(|(r, p, _)| r.eq_ignore_ascii_case(resource_app_id) && p.eq_ignore_ascii_case(permission))
        .map(|(_, _, role)| *role)
}

/// The name Kodo gives its assignment of `role` to the app: stable, so a re-run finds it, and
/// within Exchange's 64 characters (§2).
pub fn assignment_name(role: &str, app_id: &str) -> String {
    let name = format!("Kodo {role} {}", app_id.get(..8).unwrap_or(app_id));
    name.chars().take(64).collect()
}

/// The app's service principal as Exchange knows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pointer {
    pub object_id: String,
    pub app_id: String,
    pub display_name: String,
}

impl Pointer {
    fn from(v: &Value) -> Pointer {
        let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
        Pointer { object_id: s("ObjectId"), app_id: s("AppId"), display_name: s("DisplayName") }
    }
}

/// A management role assignment.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    pub name: String,
    pub role: String,
    /// The administrative unit (or management scope) it is limited to; None: the organization.
    pub scope: Option<String>,
    /// `AdministrativeUnit`, `CustomRecipientScope` or `Organization`.
    pub scope_type: String,
}

impl Assignment {
    fn from(v: &Value) -> Assignment {
        let scope = v["CustomResourceScope"].as_str().filter(|s| !s.is_empty()).map(str::to_string);
        let scope_type = v["RecipientWriteScope"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| if scope.is_some() { "CustomRecipientScope".into() } else { "Organization".into() });
        Assignment {
            name: v["Name"].as_str().or(v["Identity"].as_str()).unwrap_or("").to_string(),
            role: v["Role"].as_str().unwrap_or("").to_string(),
            scope,
            scope_type,
        }
    }

    /// Whether it is limited to administrative unit `unit`.
    pub fn scoped_to(&self, unit: &str) -> bool {
        self.scope_type.eq_ignore_ascii_case("AdministrativeUnit")
            && self.scope.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(unit))
    }
}

/// The app's pointer in Exchange, if registered. Get-ServicePrincipal answers an identity it
/// does not know with every pointer (§2, HIGH), so a row counts only when its AppId is the app's.
pub async fn find_pointer(admin: &ExchangeAdmin<'_>, app_id: &str) -> Result<Option<Pointer>, KodoError> {
    let rows = match admin.attempt("Get-ServicePrincipal", json!({ "Identity": app_id }), Retry::Idempotent).await? {
        Ok(rows) => rows,
        // Some tools see an error instead (§2): none registered.
        Err(refusal) if refusal.says("NotFound") => Vec::new(),
        Err(refusal) => return Err(refusal.error),
    };
    Ok(rows.iter().map(Pointer::from).find(|p| p.app_id.eq_ignore_ascii_case(app_id)))
}

/// How long Kodo waits for Exchange to see a new Entra service principal (two setup scripts
/// wait up to 5-10 minutes: §3); the waits between tries.
const REPLICATION_WAITS: &[u64] = &[2, 4, 8, 15, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30];

/// Registers the app's service principal in Exchange. A pointer that exists already (an
/// interrupted earlier run) is read back; `AADServicePrincipalNotFound` is waited out while
/// Entra replicates a new service principal.
pub async fn register(
    admin: &ExchangeAdmin<'_>,
    ctx: &OpContext,
    app_id: &str,
    sp_object_id: &str,
    display_name: &str,
) -> Result<Pointer, KodoError> {
    let parameters = json!({ "AppId": app_id, "ObjectId": sp_object_id, "DisplayName": display_name });
    let mut waits = REPLICATION_WAITS.iter();
    loop {
        match admin.attempt("New-ServicePrincipal", parameters.clone(), Retry::ThrottleOnly).await? {
            Ok(rows) => {
                if let Some(p) = rows.first().map(Pointer::from).filter(|p| !p.object_id.is_empty()) {
                    return Ok(p);
                }
                break;
            }
            Err(r) if r.says("already exist") => break,
            Err(r) if r.says("AADServicePrincipalNotFound") => match waits.next() {
                Some(&s) => {
                    ctx.log(
                        LogLevel::Verbose,
                        format!("Exchange Online does not see the app's service principal yet; trying again in {s} s."),
                    );
                    ctx.clock().sleep(Duration::from_secs(s)).await;
                }
                None => {
                    return Err(KodoError::new(
                        ErrorCode::Timeout,
                        format!(
                            "Exchange Online still does not see the service principal {sp_object_id} of app {app_id} (AADServicePrincipalNotFound). Run the command again later: it continues where it stopped."
                        ),
                    ));
                }
            },
            Err(r) => return Err(r.error),
        }
    }
    find_pointer(admin, app_id).await?.ok_or_else(|| {
        KodoError::new(
            ErrorCode::ServiceError,
            format!("Exchange Online registered the service principal of app {app_id} but does not list it."),
        )
    })
}

/// The app's management role assignments.
pub async fn assignments(admin: &ExchangeAdmin<'_>, pointer: &Pointer) -> Result<Vec<Assignment>, KodoError> {
    let rows = admin
        .invoke("Get-ManagementRoleAssignment", json!({ "RoleAssignee": pointer.object_id }), Retry::Idempotent)
        .await?;
    Ok(rows.iter().map(Assignment::from).collect())
}

/// Assigns `role` to the app, limited to administrative unit `unit`, under Kodo's name for it.
/// One that exists already under that name (an interrupted earlier run) is given the unit.
pub async fn assign(admin: &ExchangeAdmin<'_>, pointer: &Pointer, role: &str, unit: &str) -> Result<(), KodoError> {
    let name = assignment_name(role, &pointer.app_id);
    let parameters =
        json!({ "Name": name, "Role": role, "App": pointer.object_id, "RecipientAdministrativeUnitScope": unit });
    match admin.attempt("New-ManagementRoleAssignment", parameters, Retry::ThrottleOnly).await? {
        Ok(_) => Ok(()),
        Err(r) if r.says("already exist") => rescope(admin, &name, unit).await,
        Err(r) => Err(r.error),
    }
}

/// Limits an existing assignment to administrative unit `unit`.
pub async fn rescope(admin: &ExchangeAdmin<'_>, name: &str, unit: &str) -> Result<(), KodoError> {
    let parameters = json!({ "Identity": name, "RecipientAdministrativeUnitScope": unit });
    admin.invoke("Set-ManagementRoleAssignment", parameters, Retry::Idempotent).await.map(|_| ())
}

/// What Test-ServicePrincipalAuthorization says of one role.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Authorization {
    pub role: String,
    pub scope_type: String,
    pub allowed_scope: String,
    /// Whether the mailbox tested is in the role's scope (None: not tested).
    pub in_scope: Option<bool>,
}

/// `InScope` as a string ("True", "False", "Not Run") or a boolean (its JSON type is
/// UNCONFIRMED: §2).
fn in_scope(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Which of the app's Exchange roles reach `mailbox` (bypassing Exchange's cache).
pub async fn test_authorization(
    admin: &ExchangeAdmin<'_>,
    app_id: &str,
    mailbox: &str,
) -> Result<Vec<Authorization>, KodoError> {
    let rows = admin
        .invoke(
            "Test-ServicePrincipalAuthorization",
            json!({ "Identity": app_id, "Resource": mailbox }),
            Retry::Idempotent,
        )
        .await?;
    Ok(rows
        .iter()
        .map(|v| Authorization {
            role: v["RoleName"].as_str().unwrap_or("").to_string(),
            scope_type: v["ScopeType"].as_str().unwrap_or("").to_string(),
            allowed_scope: v["AllowedResourceScope"].as_str().unwrap_or("").to_string(),
            in_scope: in_scope(&v["InScope"]),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_permissions_map_to_application_roles() {
        assert_eq!(role_for(GRAPH, "mail.readwrite", true), Some("Application Mail.ReadWrite"));
        assert_eq!(role_for(GRAPH, "MailboxItem.Export.All", true), Some("Application MailboxItem.Export"));
        assert_eq!(role_for(EXCHANGE, "full_access_as_app", true), Some("Application EWS.AccessAsApp"));
        assert_eq!(role_for(GRAPH, "Mail.ReadWrite", false), None, "delegated permissions stay in Entra");
        assert_eq!(role_for(EXCHANGE, "Mail.ReadWrite", true), None, "Outlook REST's roles have no counterpart");
        assert_eq!(role_for(GRAPH, "Files.ReadWrite.All", true), None);
    }

    #[test]
    fn assignment_names_are_stable_and_short() {
        for (_, _, role) in ROLES {
            let name = assignment_name(role, "0a1b2c3d-0000-0000-0000-000000000000");
            assert!(name.chars().count() <= 64, "{name}");
            assert!(name.starts_with("Kodo Application "));
            assert!(name.ends_with(" 0a1b2c3d"));
        }
    }

    #[test]
    fn assignments_read_their_scope() {
        let au = Assignment::from(&json!({
            "Name": "Kodo Application Mail.Read 0a1b2c3d", "Role": "Application Mail.Read",
            "CustomResourceScope": "4d819ce9-9257-44d7-af20-68a49e6697f4", "RecipientWriteScope": "AdministrativeUnit"
        }));
        assert!(au.scoped_to("4D819CE9-9257-44d7-af20-68a49e6697f4"));
        let org =
            Assignment::from(&json!({ "Name": "x", "Role": "Application Mail.Read", "CustomResourceScope": null }));
        assert_eq!(org.scope_type, "Organization");
        assert!(!org.scoped_to("4d819ce9-9257-44d7-af20-68a49e6697f4"));
        assert_eq!(in_scope(&json!("Not Run")), None);
        assert_eq!(in_scope(&json!("True")), Some(true));
        assert_eq!(in_scope(&json!(false)), Some(false));
    }
}
