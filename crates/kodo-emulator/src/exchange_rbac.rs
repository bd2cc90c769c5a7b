//! Exchange Online "RBAC for Applications" over InvokeCommand: service principal pointers
//! (`Get-/New-ServicePrincipal`), application role assignments
//! (`Get-/New-/Set-/Remove-ManagementRoleAssignment`) and `Test-ServicePrincipalAuthorization`,
//! and what EWS grants through them.
//!
//! Source: docs/exchange-rbac-research.md ("§" below; LRN = the Learn page, OPS = the cmdlet
//! reference). No JSON answer of these cmdlets was ever captured (§5): rows are the generic
//! InvokeCommand envelope with the PowerShell properties, PascalCase (LOW). What no source gives
//! is marked UNCONFIRMED.

use super::exchange::{CmdletError, CmdletResult, as_bool, bad_value, unknown};
use super::state::*;
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};

/// The application roles and the permissions each grants (LRN table, §1.3, HIGH; names
/// verbatim, "Permissions List" as Test-ServicePrincipalAuthorization's GrantedPermissions).
pub const APPLICATION_ROLES: &[(&str, &[&str])] = &[
    ("Application Mail.Read", &["Mail.Read"]),
    ("Application Mail.ReadBasic", &["Mail.ReadBasic"]),
    ("Application Mail.ReadWrite", &["Mail.ReadWrite"]),
    ("Application Mail.Send", &["Mail.Send"]),
    ("Application MailboxSettings.Read", &["MailboxSettings.Read"]),
    ("Application MailboxSettings.ReadWrite", &["MailboxSettings.ReadWrite"]),
    ("Application Calendars.Read", &["Calendars.Read"]),
    ("Application Calendars.ReadWrite", &["Calendars.ReadWrite"]),
    ("Application Contacts.Read", &["Contacts.Read"]),
    ("Application Contacts.ReadWrite", &["Contacts.ReadWrite"]),
    ("Application MailboxFolder.Read", &["MailboxFolder.Read.All"]),
    ("Application MailboxFolder.ReadWrite", &["MailboxFolder.ReadWrite.All"]),
    ("Application MailboxItem.Read", &["MailboxItem.Read.All"]),
    ("Application MailboxItem.ReadWrite", &["MailboxItem.ReadWrite.All"]),
    ("Application MailboxItem.Export", &["MailboxItem.Export.All"]),
    ("Application MailboxItem.ImportExport", &["MailboxItem.ImportExport.All"]),
    ("Application Mail Full Access", &["Mail.ReadWrite", "Mail.Send"]),
    (
        "Application Exchange Full Access",
        &["Mail.ReadWrite", "Mail.Send", "MailboxSettings.ReadWrite", "Calendars.ReadWrite", "Contacts.ReadWrite"],
    ),
    ("Application EWS.AccessAsApp", &["EWS.AccessAsApp"]),
    ("Application SMTP.SendAsApp", &["SMTP.SendAsApp"]),
    ("Application MailboxConfigItem.Read", &["MailboxConfigItem.Read"]),
    ("Application MailboxConfigItem.ReadWrite", &["MailboxConfigItem.ReadWrite"]),
    ("Application MailTips.ReadBasic.All", &["MailTips.ReadBasic.All"]),
    ("Application Mail-Advanced.ReadWrite.All", &["Mail-Advanced.ReadWrite.All"]),
];

/// The role that opens EWS (§1.3: it mirrors `full_access_as_app`, MEDIUM). Only this one:
/// the composite roles list Graph permissions, not EWS.
pub const EWS_ROLE: &str = "Application EWS.AccessAsApp";

/// The longest role assignment name (OPS New-ManagementRoleAssignment `-Name`, §2).
const MAX_NAME: usize = 64;

/// Runs an RBAC for Applications cmdlet; `None` when `cmdlet` is not one of them.
pub(crate) fn run(
    tenant: &mut Tenant,
    cmdlet: &str,
    params: &Map<String, Value>,
    select: Option<&[String]>,
) -> Option<CmdletResult> {
    type Handler = fn(&mut Tenant, &Map<String, Value>) -> CmdletResult;
    const CMDLETS: &[(&str, Handler)] = &[
        ("Get-ServicePrincipal", get_service_principal),
        ("New-ServicePrincipal", new_service_principal),
        ("Get-ManagementRoleAssignment", get_role_assignment),
        ("New-ManagementRoleAssignment", new_role_assignment),
        ("Set-ManagementRoleAssignment", set_role_assignment),
        ("Remove-ManagementRoleAssignment", remove_role_assignment),
        ("Test-ServicePrincipalAuthorization", test_authorization),
    ];
    let (name, handler) = CMDLETS.iter().find(|(n, _)| n.eq_ignore_ascii_case(cmdlet))?;
    tenant.prune_rbac();
    let mut result = handler(tenant, params);
    // `?$select=` (exchange-research §1.1) on the rows of the Get- cmdlets.
    if let (Some(wanted), true, Ok((_, Value::Array(rows)))) = (select, name.starts_with("Get-"), result.as_mut()) {
        for row in rows.iter_mut().filter_map(Value::as_object_mut) {
            row.retain(|k, _| wanted.iter().any(|w| w.eq_ignore_ascii_case(k)));
        }
    }
    Some(result)
}

/// The value of parameter `name` (matched case-insensitively), if given.
fn param<'a>(params: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

/// A string parameter: absent or `null` is `None`; a number or a Boolean is taken as its text
/// (PowerShell converts them); anything else is the binder's conversion error.
fn string_param(params: &Map<String, Value>, name: &str) -> Result<Option<String>, CmdletError> {
    match param(params, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(v.to_string())),
        Some(v) => Err(CmdletError::Transformation(bad_value(name, v, "System.String"))),
    }
}

/// The mandatory parameters among `names` that are missing, as one error.
fn require(params: &Map<String, Value>, names: &[&str]) -> Result<(), CmdletError> {
    let missing: Vec<String> =
        names.iter().filter(|n| param(params, n).is_none_or(Value::is_null)).map(|n| n.to_string()).collect();
    if missing.is_empty() { Ok(()) } else { Err(CmdletError::MissingParameters(missing)) }
}

/// The role named `name` (case-insensitive), in its canonical spelling.
fn role(name: &str) -> Option<(&'static str, &'static [&'static str])> {
    APPLICATION_ROLES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name.trim())).copied()
}

/// The pointer `key` names: its ObjectId, AppId, DisplayName or Identity (LRN: "ObjectID,
/// AppID, or DisplayName"; OPS adds Identity forms).
fn pointer<'a>(tenant: &'a Tenant, key: &str) -> Option<&'a ExoServicePrincipal> {
    let key = key.trim();
    tenant.rbac.service_principals.iter().find(|p| {
        p.object_id.eq_ignore_ascii_case(key)
            || p.app_id.eq_ignore_ascii_case(key)
            || p.display_name.eq_ignore_ascii_case(key)
            || p.identity.eq_ignore_ascii_case(key)
    })
}

/// A pointer row. `DisplayName`, `ObjectId`, `AppId` (LRN, HIGH), `Identity` (DIRK/JPBLOG,
/// MEDIUM), `Name` (AZT, MEDIUM). That Identity and Name are the object id is UNCONFIRMED.
fn pointer_row(p: &ExoServicePrincipal) -> Value {
    json!({
        "Identity": p.identity,
        "Name": p.object_id,
        "DisplayName": p.display_name,
        "AppId": p.app_id,
        "ObjectId": p.object_id,
    })
}

/// An assignment row (§2: LRN's columns, HIGH; the others MEDIUM). `RoleAssigneeName` is the
/// pointer's object id as in LRN's example (whether it is the display name instead varies,
/// LOW: UNCONFIRMED). `RecipientWriteScope` `Organization` for an unscoped one is UNCONFIRMED.
fn assignment_row(a: &RbacAssignment) -> Value {
    json!({
        "Name": a.name,
        "Identity": a.name,
        "Role": a.role,
        "RoleAssignee": a.assignee,
        "RoleAssigneeName": a.assignee,
        "RoleAssigneeType": "ServicePrincipal",
        "AssignmentMethod": "Direct",
        "CustomResourceScope": a.au_scope,
        "RecipientWriteScope": if a.au_scope.is_some() { "AdministrativeUnit" } else { "Organization" },
        "Enabled": true,
    })
}

/// `Get-ServicePrincipal [-Identity]` (§2). "The value $null or a non-existent value for the
/// Identity parameter returns *all* objects" (OPS, HIGH): so it never fails.
fn get_service_principal(tenant: &mut Tenant, params: &Map<String, Value>) -> CmdletResult {
    unknown(params, &["Identity"])?;
    let identity = string_param(params, "Identity")?;
    let all = &tenant.rbac.service_principals;
    let matching: Vec<&ExoServicePrincipal> = match identity.as_deref().and_then(|i| pointer(tenant, i)) {
        Some(_) => {
            let key = identity.as_deref().unwrap_or("").trim();
            all.iter()
                .filter(|p| {
                    p.object_id.eq_ignore_ascii_case(key)
                        || p.app_id.eq_ignore_ascii_case(key)
                        || p.display_name.eq_ignore_ascii_case(key)
                        || p.identity.eq_ignore_ascii_case(key)
                })
                .collect()
        }
        None => all.iter().collect(),
    };
    Ok((Vec::new(), Value::Array(matching.into_iter().map(pointer_row).collect())))
}

/// `New-ServicePrincipal -AppId -ObjectId [-DisplayName]` (§1.1, §2). The emulator takes only
/// these three (the deprecated `-ServiceId` is not emulated: the unknown-parameter error).
fn new_service_principal(tenant: &mut Tenant, params: &Map<String, Value>) -> CmdletResult {
    unknown(params, &["AppId", "ObjectId", "DisplayName"])?;
    require(params, &["AppId", "ObjectId"])?;
    let app_id = string_param(params, "AppId")?.unwrap_or_default().trim().to_string();
    let object_id = string_param(params, "ObjectId")?.unwrap_or_default().trim().to_string();
    let display_name = string_param(params, "DisplayName")?;
    // "Exchange prevents the creation of an invalid pointer" (LRN): the object id must be a
    // service principal of this tenant, replicated to Exchange, of that app; else the error
    // coded AADServicePrincipalNotFound (§3, code MEDIUM-HIGH). Its full text is UNCONFIRMED:
    // one source renders it "AADServicePrincipalNotFound. No ServicePrincipal with Object Id
    // 'X' ... is registered" (elided); the elided part is left out here.
    let Some(sp) =
        tenant.sp_by_id(&object_id).filter(|s| s.obj.visible() && s.obj.str("appId").eq_ignore_ascii_case(&app_id))
    else {
        return Err(CmdletError::Failed(format!(
            "AADServicePrincipalNotFound. No ServicePrincipal with Object Id '{object_id}' is registered."
        )));
    };
    let object_id = sp.obj.id().to_string();
    let app_id = sp.obj.str("appId").to_string();
    // Without -DisplayName the Entra display name (UNCONFIRMED).
    let display_name = display_name.unwrap_or_else(|| sp.obj.str("displayName").to_string());
    if tenant.rbac.service_principals.iter().any(|p| p.object_id.eq_ignore_ascii_case(&object_id)) {
        // §3: the message contains "already exist" (CIPP matches it; MEDIUM); the full text is
        // UNCONFIRMED.
        return Err(CmdletError::Failed(format!("The service principal '{object_id}' already exists.")));
    }
    let p = ExoServicePrincipal { identity: object_id.clone(), app_id, object_id, display_name };
    let row = pointer_row(&p);
    tenant.rbac.service_principals.push(p);
    Ok((Vec::new(), json!([row])))
}

/// The values OPS lists for `-RoleAssigneeType`, plus `ServicePrincipal` (used in practice,
/// §2, MEDIUM).
const ASSIGNEE_TYPES: &[&str] = &[
    "ServicePrincipal",
    "User",
    "SecurityGroup",
    "RoleAssignmentPolicy",
    "ForeignSecurityPrincipal",
    "RoleGroup",
    "LinkedRoleGroup",
    "Computer",
];

/// `Get-ManagementRoleAssignment [-RoleAssignee] [-Role] [-RoleAssigneeType] [-Identity]`.
/// It has no `-App` (§2, HIGH): that is the unknown-parameter error. The emulator holds only
/// application assignments (not the organization's built-in ones).
fn get_role_assignment(tenant: &mut Tenant, params: &Map<String, Value>) -> CmdletResult {
    unknown(params, &["RoleAssignee", "Role", "RoleAssigneeType", "Identity"])?;
    let assignee = match string_param(params, "RoleAssignee")? {
        // An assignee that does not exist: the not-found error (UNCONFIRMED).
        Some(key) => Some(pointer(tenant, &key).ok_or(CmdletError::NotFound(key.clone()))?.object_id.clone()),
        None => None,
    };
    let role_name = match string_param(params, "Role")? {
        Some(r) => Some(role(&r).ok_or(CmdletError::NotFound(r.clone()))?.0),
        None => None,
    };
    let only_sps = match param(params, "RoleAssigneeType") {
        None | Some(Value::Null) => true,
        Some(v) => match v.as_str().and_then(|s| ASSIGNEE_TYPES.iter().find(|t| t.eq_ignore_ascii_case(s.trim()))) {
            Some(t) => *t == "ServicePrincipal",
            // The enum's type name in the conversion error is UNCONFIRMED.
            None => return Err(CmdletError::Transformation(bad_value("RoleAssigneeType", v, "RoleAssigneeType"))),
        },
    };
    let identity = string_param(params, "Identity")?;
    if let Some(i) = &identity {
        if !tenant.rbac.assignments.iter().any(|a| a.name.eq_ignore_ascii_case(i)) {
            return Err(CmdletError::NotFound(i.clone()));
        }
    }
    let rows: Vec<Value> = tenant
        .rbac
        .assignments
        .iter()
        .filter(|_| only_sps)
        .filter(|a| assignee.as_ref().is_none_or(|x| a.assignee.eq_ignore_ascii_case(x)))
        .filter(|a| role_name.is_none_or(|r| a.role == r))
        .filter(|a| identity.as_ref().is_none_or(|i| a.name.eq_ignore_ascii_case(i)))
        .map(assignment_row)
        .collect();
    Ok((Vec::new(), Value::Array(rows)))
}

/// The administrative unit `-RecipientAdministrativeUnitScope` names: its object id (LRN's
/// example) or its display name (AdministrativeUnitIdParameter, LOW). Unknown: not found
/// (UNCONFIRMED text, §3).
fn au_scope(tenant: &Tenant, key: &str) -> Result<String, CmdletError> {
    tenant
        .administrative_units
        .iter()
        .find(|a| a.id.eq_ignore_ascii_case(key.trim()))
        .or_else(|| tenant.administrative_units.iter().find(|a| a.display_name.eq_ignore_ascii_case(key.trim())))
        .map(|a| a.id.clone())
        .ok_or_else(|| CmdletError::NotFound(key.to_string()))
}

/// `New-ManagementRoleAssignment [-Name] -Role -App [-RecipientAdministrativeUnitScope]
/// [-CustomResourceScope] [-RecipientGroupScope]` (OPS parameter set App, §2).
fn new_role_assignment(tenant: &mut Tenant, params: &Map<String, Value>) -> CmdletResult {
    unknown(
        params,
        &["Name", "Role", "App", "RecipientAdministrativeUnitScope", "CustomResourceScope", "RecipientGroupScope"],
    )?;
    require(params, &["Role", "App"])?;
    let role_given = string_param(params, "Role")?.unwrap_or_default();
    // An unknown role: the not-found error (§3: no text found, UNCONFIRMED).
    let (role_name, _) = role(&role_given).ok_or(CmdletError::NotFound(role_given.clone()))?;
    let app = string_param(params, "App")?.unwrap_or_default();
    let assignee = pointer(tenant, &app).ok_or(CmdletError::NotFound(app.clone()))?.object_id.clone();
    // The emulator has no management scopes and no groups: any value names nothing.
    for p in ["CustomResourceScope", "RecipientGroupScope"] {
        if let Some(v) = string_param(params, p)? {
            return Err(CmdletError::NotFound(v));
        }
    }
    let au = match string_param(params, "RecipientAdministrativeUnitScope")? {
        Some(key) => Some(au_scope(tenant, &key)?),
        None => None,
    };
    let name = match string_param(params, "Name")? {
        Some(n) => {
            let n = n.trim().to_string();
            if n.is_empty() || n.chars().count() > MAX_NAME {
                // "The maximum length of the name is 64 characters" (OPS); the text of the
                // refusal is UNCONFIRMED.
                return Err(CmdletError::Failed(format!(
                    "The role assignment name '{n}' must be 1 to {MAX_NAME} characters long."
                )));
            }
            if tenant.rbac.assignments.iter().any(|a| a.name.eq_ignore_ascii_case(&n)) {
                // §3: the message contains "already exists" (CIPP, MEDIUM); full text UNCONFIRMED.
                return Err(CmdletError::Failed(format!("The role assignment '{n}' already exists.")));
            }
            n
        }
        // "<Role>-<SP id>" cut to 64 characters (WATH, MEDIUM). A second identical assignment
        // without -Name is no error (§3, LOW); both then carry this name.
        None => format!("{role_name}-{assignee}").chars().take(MAX_NAME).collect(),
    };
    let a = RbacAssignment { name, role: role_name.to_string(), assignee, au_scope: au, created_at: Instant::now() };
    let row = assignment_row(&a);
    tenant.rbac.assignments.push(a);
    Ok((Vec::new(), json!([row])))
}

/// The index of the assignment `-Identity` names (its Name). With several of one name (made
/// without -Name), the first (what Exchange does then is UNCONFIRMED).
fn assignment_index(tenant: &Tenant, params: &Map<String, Value>) -> Result<usize, CmdletError> {
    require(params, &["Identity"])?;
    let identity = string_param(params, "Identity")?.unwrap_or_default();
    tenant
        .rbac
        .assignments
        .iter()
        .position(|a| a.name.eq_ignore_ascii_case(identity.trim()))
        .ok_or(CmdletError::NotFound(identity))
}

/// `Set-ManagementRoleAssignment -Identity -RecipientAdministrativeUnitScope` (OPS set
/// RecipientAdministrativeUnitScope, §2): re-scopes the assignment, which then goes through the
/// propagation delay again. `null` makes it organization-wide (UNCONFIRMED). Answers like
/// Set-OrganizationConfig (`value` null; a warning when nothing changed, UNCONFIRMED here).
fn set_role_assignment(tenant: &mut Tenant, params: &Map<String, Value>) -> CmdletResult {
    unknown(params, &["Identity", "RecipientAdministrativeUnitScope"])?;
    let i = assignment_index(tenant, params)?;
    let Some(v) = param(params, "RecipientAdministrativeUnitScope") else {
        let warning = format!(
            "The command completed successfully but no settings of '{}' have been modified.",
            tenant.rbac.assignments[i].name
        );
        return Ok((vec![warning], Value::Null));
    };
    let scope = match v {
        Value::Null => None,
        _ => Some(au_scope(tenant, &string_param(params, "RecipientAdministrativeUnitScope")?.unwrap_or_default())?),
    };
    let a = &mut tenant.rbac.assignments[i];
    a.au_scope = scope;
    a.created_at = Instant::now();
    Ok((Vec::new(), Value::Null))
}

/// `Remove-ManagementRoleAssignment -Identity [-Confirm]` (CIPP sends `Confirm: false`, §2.1).
/// Answers an empty `value` (UNCONFIRMED).
fn remove_role_assignment(tenant: &mut Tenant, params: &Map<String, Value>) -> CmdletResult {
    unknown(params, &["Identity", "Confirm"])?;
    if let Some(v) = param(params, "Confirm") {
        as_bool("Confirm", v).map_err(CmdletError::Transformation)?;
    }
    let i = assignment_index(tenant, params)?;
    tenant.rbac.assignments.remove(i);
    Ok((Vec::new(), json!([])))
}

/// True if the assignment's scope reaches the user `u`: organization-wide, or an AU with `u`
/// among its direct members (groups in the AU do not bring their members in: §4.1, assumed
/// for Exchange, UNCONFIRMED).
fn covers(tenant: &Tenant, a: &RbacAssignment, u: &User) -> bool {
    match &a.au_scope {
        None => true,
        Some(au) => tenant.administrative_unit(au).is_some_and(|au| au.members.iter().any(|m| m == &u.id)),
    }
}

/// `Test-ServicePrincipalAuthorization -Identity [-Resource]` (§2, HIGH for the columns):
/// one row per assignment of the pointer, `InScope` `"True"`/`"False"`, or `"Not Run"` without
/// -Resource, as strings (their JSON typing is UNCONFIRMED). It bypasses the propagation
/// delay ("the test command bypasses this cache", LRN). Permissions granted in Entra are not
/// counted (LRN).
fn test_authorization(tenant: &mut Tenant, params: &Map<String, Value>) -> CmdletResult {
    unknown(params, &["Identity", "Resource"])?;
    require(params, &["Identity"])?;
    let key = string_param(params, "Identity")?.unwrap_or_default();
    let object_id = pointer(tenant, &key).ok_or(CmdletError::NotFound(key.clone()))?.object_id.clone();
    let resource = match string_param(params, "Resource")? {
        Some(r) => Some(
            tenant
                .users
                .iter()
                .find(|u| u.has_address(r.trim()) || u.id.eq_ignore_ascii_case(r.trim()))
                .ok_or(CmdletError::NotFound(r.clone()))?
                .clone(),
        ),
        None => None,
    };
    let rows: Vec<Value> = tenant
        .rbac
        .assignments
        .iter()
        .filter(|a| a.assignee.eq_ignore_ascii_case(&object_id))
        .map(|a| {
            let permissions = role(&a.role).map(|(_, p)| p.join(", ")).unwrap_or_default();
            let in_scope = match &resource {
                None => "Not Run",
                Some(u) if covers(tenant, a, u) => "True",
                Some(_) => "False",
            };
            json!({
                "RoleName": a.role,
                "GrantedPermissions": permissions,
                "AllowedResourceScope": a.au_scope.clone().unwrap_or_else(|| "Organization".into()),
                "ScopeType": if a.au_scope.is_some() { "AdministrativeUnit" } else { "Organization" },
                "InScope": in_scope,
            })
        })
        .collect();
    Ok((Vec::new(), Value::Array(rows)))
}

/// True if the app `app_id` holds an `Application EWS.AccessAsApp` assignment in force (made
/// at least `delay` ago: the cache of 30 minutes to 2 hours, LRN) whose scope reaches
/// `mailbox`, or, without a mailbox, any such assignment. A mailbox an AU scope reaches is a
/// member user's UPN or mail (case-insensitive); organization-wide reaches every mailbox.
pub fn ews_granted(tenant: &mut Tenant, app_id: &str, mailbox: Option<&str>, delay: Duration) -> bool {
    tenant.prune_rbac();
    let now = Instant::now();
    let user = mailbox.and_then(|m| tenant.user_by_address(m.trim()));
    let tenant = &*tenant;
    tenant.rbac.service_principals.iter().filter(|p| p.app_id.eq_ignore_ascii_case(app_id)).any(|p| {
        tenant.rbac.assignments.iter().any(|a| {
            a.assignee.eq_ignore_ascii_case(&p.object_id)
                && a.role == EWS_ROLE
                && a.created_at + delay <= now
                && match (mailbox, &a.au_scope, user) {
                    (None, _, _) | (Some(_), None, _) => true,
                    (Some(_), Some(_), Some(u)) => covers(tenant, a, u),
                    (Some(_), Some(_), None) => false,
                }
        })
    })
}

/// The `servicePrincipals` and `roleAssignments` of `GET /_emulator/tenants/{tenant}/exchange`.
pub fn control_view(tenant: &mut Tenant) -> (Value, Value) {
    tenant.prune_rbac();
    let sps = tenant
        .rbac
        .service_principals
        .iter()
        .map(|p| json!({ "identity": p.identity, "appId": p.app_id, "objectId": p.object_id, "displayName": p.display_name }))
        .collect();
    let assignments = tenant
        .rbac
        .assignments
        .iter()
        .map(|a| json!({ "name": a.name, "role": a.role, "assignee": a.assignee, "auScope": a.au_scope }))
        .collect();
    (Value::Array(sps), Value::Array(assignments))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_match_case_insensitively_and_keep_their_spelling() {
        assert_eq!(role("application ews.accessasapp").map(|r| r.0), Some(EWS_ROLE));
        assert_eq!(role("Application Mail.Foo"), None);
        assert_eq!(APPLICATION_ROLES.len(), 24);
        assert_eq!(
            role("Application Exchange Full Access").unwrap().1.join(", "),
            "Mail.ReadWrite, Mail.Send, MailboxSettings.ReadWrite, Calendars.ReadWrite, Contacts.ReadWrite"
        );
    }
}
