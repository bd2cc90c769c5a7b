//! `-MailboxScope`: KODO's mailbox permissions granted in Exchange Online, limited to one
//! administrative unit (RBAC for Applications, [`crate::exchange::rbac`]), instead of
//! tenant-wide in Microsoft Entra ID.
//!
//! Read before anything is written: the unit and its user members (Graph), how many users the
//! tenant has, the app's service principal in Exchange and its role assignments. The plan then
//! registers the service principal in Exchange if needed and assigns one "Application ..." role
//! per mailbox permission of the manifest, scoped to the unit; the permission grant
//! ([`super::permissions`]) leaves those permissions out of Entra and revokes the tenant-wide
//! grants of them that exist, which would otherwise reach every mailbox (Entra and Exchange grants
//! are a union). After the writes, Test-ServicePrincipalAuthorization checks one mailbox inside
//! the unit and one outside.

use super::check_guid;
use crate::context::{LogLevel, OpContext};
use crate::error::{ErrorCode, KodoError};
use crate::exchange::ExchangeAdmin;
use crate::exchange::rbac::{self, Assignment, Authorization, Pointer};
use crate::graph::{Graph, Request, Retry};
use crate::manifest::Manifest;
use crate::plan::{Decided, PlanItem};
use serde::Deserialize;
use serde_json::{Value, json};

/// The step that registers the app's service principal in Exchange.
pub const POINTER_STEP: &str = "exchangeServicePrincipal";

/// Exchange applies app permission changes after 30 minutes to 2 hours
/// (docs/exchange-rbac-research.md §1.1).
pub const PROPAGATION_HOURS: i64 = 2;

/// What the plan says KODO will not reach, whatever the unit.
const LIMITS: &[&str] = &[
    "Only the unit's direct user members are in scope: members of groups placed in the unit are not (Microsoft Entra's rule for administrative units; Exchange's is not documented).",
    "The scope covers mail, calendars and contacts only: OneDrive, SharePoint and Teams permissions stay tenant-wide.",
    "Exchange applies the role assignments within 30 minutes to 2 hours; Test-ServicePrincipalAuthorization sees them at once.",
    "Autodiscover is not available to an app that holds only Exchange RBAC roles: KODO must be given the EWS endpoint directly.",
];

/// A unit member, as the plan names it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Member {
    #[serde(default)]
    id: String,
    #[serde(default)]
    user_principal_name: Option<String>,
    #[serde(default)]
    mail: Option<String>,
}

impl Member {
    fn mailbox(&self) -> Option<&str> {
        self.mail.as_deref().or(self.user_principal_name.as_deref()).filter(|m| m.contains('@'))
    }
}

/// The administrative unit and what it reaches.
#[derive(Debug, Clone)]
pub struct Unit {
    pub id: String,
    pub display_name: String,
    pub hidden: bool,
    members: Vec<Member>,
    /// Users of the tenant who are not members.
    others: Vec<Member>,
}

/// Reads the unit, its user members and the tenant's users (every page of each).
pub async fn read_unit(graph: &Graph<'_>, unit_id: &str) -> Result<Unit, KodoError> {
    check_guid("-MailboxScope", unit_id)?;
    // A unit the admin named is more likely absent than not replicated yet: the short budget.
    let unit_read = Request::get(
        format!("directory/administrativeUnits/{unit_id}?$select=id,displayName,visibility"),
        Retry::ReplicationShort,
    );
    let members_read = Request::get(
        format!(
            "directory/administrativeUnits/{unit_id}/members/microsoft.graph.user?$select=id,userPrincipalName,mail"
        ),
        Retry::ReplicationShort,
    );
    let users_read = Request::get("users?$select=id,userPrincipalName,mail&$top=999", Retry::Idempotent);
    let reads = [unit_read.clone(), members_read.clone(), users_read.clone()];
    let mut got = graph.batch(&reads).await?.into_iter();
    let unit = got.next().unwrap_or_default();
    if unit.status == 404 {
        return Err(KodoError::new(
            ErrorCode::NotFound,
            format!(
                "-MailboxScope: no administrative unit with id {unit_id} exists in this tenant. Give the object id of an administrative unit (Microsoft Entra admin center > Roles & admins > Admin units). Nothing was changed."
            ),
        )
        .with_target(unit_id.to_string()));
    }
    let unit: Value = unit.json(&unit_read)?;
    let members: Vec<Member> = graph.all_pages(got.next().unwrap_or_default(), &members_read).await?;
    let users: Vec<Member> = graph.all_pages(got.next().unwrap_or_default(), &users_read).await?;
    let others = users.into_iter().filter(|u| !members.iter().any(|m| m.id.eq_ignore_ascii_case(&u.id))).collect();
    Ok(Unit {
        id: unit["id"].as_str().unwrap_or(unit_id).to_string(),
        display_name: unit["displayName"].as_str().unwrap_or("").to_string(),
        hidden: unit["visibility"].as_str().is_some_and(|v| v.eq_ignore_ascii_case("HiddenMembership")),
        members,
        others,
    })
}

/// The Exchange roles the manifest's mailbox permissions map to: (role, the permissions it
/// stands for), in manifest order, each role once.
pub fn scoped_roles(manifest: &Manifest) -> Vec<(&'static str, Vec<String>)> {
    let mut roles: Vec<(&'static str, Vec<String>)> = Vec::new();
    for r in manifest.permissions.iter().filter(|r| r.retired.is_none()) {
        if let Some(role) = rbac::role_for(&r.resource_app_id, &r.permission, r.is_application()) {
            match roles.iter_mut().find(|(x, _)| *x == role) {
                Some((_, labels)) => labels.push(r.label()),
                None => roles.push((role, vec![r.label()])),
            }
        }
    }
    roles
}

/// What Exchange holds for the app now.
#[derive(Debug, Clone, Default)]
pub struct ExchangeState {
    pub pointer: Option<Pointer>,
    pub assignments: Vec<Assignment>,
}

/// Reads the app's service principal in Exchange and its role assignments.
pub async fn read_exchange(admin: &ExchangeAdmin<'_>, app_id: Option<&str>) -> Result<ExchangeState, KodoError> {
    let Some(app_id) = app_id else { return Ok(ExchangeState::default()) };
    let pointer = rbac::find_pointer(admin, app_id).await?;
    let assignments = match &pointer {
        Some(p) => rbac::assignments(admin, p).await?,
        None => Vec::new(),
    };
    Ok(ExchangeState { pointer, assignments })
}

/// One role of the scope: to assign, to limit to the unit, or in place.
#[derive(Debug, Clone)]
struct RolePlan {
    role: &'static str,
    permissions: Vec<String>,
    /// The step id; None: in place already.
    step: Option<String>,
}

/// The scope step planned from what was read.
pub struct ScopePlan {
    pub unit: Unit,
    pub exchange: ExchangeState,
    pub steps: Vec<PlanItem>,
    roles: Vec<RolePlan>,
}

/// Plans the Exchange side of the scope for the app (`app_label` names it: a new app has no id).
pub fn plan_scope(unit: Unit, exchange: ExchangeState, manifest: &Manifest, app_label: &str) -> ScopePlan {
    let target = format!("Exchange Online, administrative unit {} ({})", unit.display_name, unit.id);
    let mut steps = Vec::new();
    if exchange.pointer.is_none() {
        steps.push(PlanItem {
            id: POINTER_STEP.into(),
            action: format!("Register {app_label}'s service principal in Exchange Online (New-ServicePrincipal)"),
            target: target.clone(),
        });
    }
    let reach = reach_text(&unit);
    let mut roles = Vec::new();
    for (role, permissions) in scoped_roles(manifest) {
        let mine: Vec<&Assignment> =
            exchange.assignments.iter().filter(|a| a.role.eq_ignore_ascii_case(role)).collect();
        // In place: assigned, and every assignment of the role limited to the unit (one for the
        // organization or another scope would widen the reach).
        let step = if !mine.is_empty() && mine.iter().all(|a| a.scoped_to(&unit.id)) {
            None
        } else {
            let id = format!("exchangeRole:{role}");
            let how = if mine.is_empty() {
                "Assign".to_string()
            } else {
                let wide: Vec<String> = mine
                    .iter()
                    .filter(|a| !a.scoped_to(&unit.id))
                    .map(|a| format!("'{}' ({})", a.name, a.scope.as_deref().unwrap_or(&a.scope_type)))
                    .collect();
                format!("Limit the existing assignment(s) {} of", wide.join(", "))
            };
            steps.push(PlanItem {
                id: id.clone(),
                action: format!(
                    "{how} Exchange role '{role}' (for {}) to {app_label}, scoped to administrative unit {}: {reach}",
                    permissions.join(", "),
                    unit.display_name
                ),
                target: target.clone(),
            });
            Some(id)
        };
        roles.push(RolePlan { role, permissions, step });
    }
    ScopePlan { unit, exchange, steps, roles }
}

/// What KODO will and will not reach, in words.
fn reach_text(unit: &Unit) -> String {
    let examples = |list: &[Member]| {
        let names: Vec<&str> = list.iter().filter_map(Member::mailbox).take(3).collect();
        if names.is_empty() { String::new() } else { format!(" (e.g. {})", names.join(", ")) }
    };
    let hidden = if unit.hidden { " The unit hides its membership: the count may be short." } else { "" };
    format!(
        "KODO will reach the mailboxes of its {} user member(s){} and not those of the tenant's {} other user(s){}.{hidden}",
        unit.members.len(),
        examples(&unit.members),
        unit.others.len(),
        examples(&unit.others)
    )
}

/// Carries out the approved steps and checks the result: `{ administrativeUnit, mailboxesInScope,
/// mailboxesOutOfScope, roles, servicePrincipal, verification, effectiveBy, notes }`.
pub async fn apply_scope(
    admin: &ExchangeAdmin<'_>,
    ctx: &OpContext,
    plan: &ScopePlan,
    app: Option<(&str, &str, &str)>,
    decided: &mut Decided,
) -> Result<Value, KodoError> {
    let now = ctx.clock().utc_now();
    let mut pointer = plan.exchange.pointer.clone();
    let applies = decided.applies();
    if let (Some((app_id, sp_id, name)), true) = (app, applies) {
        if pointer.is_none() && decided.approves(POINTER_STEP) {
            ctx.progress("Mailbox scope", "Registering the app in Exchange Online", None);
            pointer = Some(rbac::register(admin, ctx, app_id, sp_id, name).await?);
            decided.done(POINTER_STEP);
        }
        for r in &plan.roles {
            let Some(step) = r.step.as_deref().filter(|s| decided.approves(s)) else { continue };
            let Some(p) = &pointer else { continue };
            ctx.progress("Mailbox scope", format!("Assigning {}", r.role), None);
            let mine: Vec<&Assignment> =
                plan.exchange.assignments.iter().filter(|a| a.role.eq_ignore_ascii_case(r.role)).collect();
            if mine.is_empty() {
                rbac::assign(admin, p, r.role, &plan.unit.id).await?;
            }
            for a in mine.iter().filter(|a| !a.scoped_to(&plan.unit.id)) {
                rbac::rescope(admin, &a.name, &plan.unit.id).await?;
            }
            decided.done(step);
        }
    }
    let changed = decided.changes().iter().any(|c| c.id == POINTER_STEP || c.id.starts_with("exchangeRole:"));
    let roles: Vec<Value> = plan
        .roles
        .iter()
        .map(|r| {
            let status = match &r.step {
                None => "AlreadyPresent",
                Some(s) if decided.changes().iter().any(|c| &c.id == s) => "Granted",
                Some(_) if !applies => "WouldGrant",
                Some(_) => "Skipped",
            };
            json!({ "role": r.role, "permissions": r.permissions, "status": status })
        })
        .collect();
    let complete = roles.iter().all(|r| r["status"] == "Granted" || r["status"] == "AlreadyPresent");
    // The check: one mailbox inside the unit must be reached, one outside must not.
    let verification = match (app, &pointer, complete) {
        (Some((app_id, _, _)), Some(_), true) => verify(admin, ctx, app_id, &plan.unit).await?,
        _ => Value::Null,
    };
    if !changed && complete {
        ctx.log(LogLevel::Verbose, "The app's Exchange roles are in place, scoped to the unit: nothing to change.");
    }
    let mut notes: Vec<String> = LIMITS.iter().map(|s| s.to_string()).collect();
    notes.insert(0, reach_text(&plan.unit));
    if verification["passed"] == false {
        return Err(KodoError::new(
            ErrorCode::ServiceError,
            format!(
                "The app's Exchange roles are scoped to administrative unit {}, but Test-ServicePrincipalAuthorization does not agree: {}. Check the app's assignments with Get-ManagementRoleAssignment -RoleAssignee {} (Exchange Online PowerShell).",
                plan.unit.display_name,
                verification_text(&verification),
                app.map(|a| a.0).unwrap_or("")
            ),
        ));
    }
    let status = match (complete, changed) {
        (false, _) if applies => "Incomplete",
        (false, _) => "Planned",
        (true, true) => "Configured",
        (true, false) => "AlreadyConfigured",
    };
    let effective_by = changed
        .then(|| (now + chrono::Duration::hours(PROPAGATION_HOURS)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    Ok(json!({
        "status": status,
        "administrativeUnit": { "id": plan.unit.id, "displayName": plan.unit.display_name },
        "mailboxesInScope": plan.unit.members.len(),
        "mailboxesOutOfScope": plan.unit.others.len(),
        "servicePrincipal": pointer,
        "roles": roles,
        "verification": verification,
        "effectiveBy": effective_by,
        "notes": notes,
    }))
}

/// What a failed verification found, in words.
fn verification_text(v: &Value) -> String {
    let parts: Vec<String> = v["mailboxes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["wrong"].as_array().is_some_and(|w| !w.is_empty()))
        .map(|m| {
            let roles: Vec<&str> = m["wrong"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            let how = if m["expectedInScope"] == true { "does not reach" } else { "reaches" };
            format!("{} {how} {}", roles.join(", "), m["mailbox"].as_str().unwrap_or("?"))
        })
        .collect();
    parts.join("; ")
}

/// Test-ServicePrincipalAuthorization for one mailbox inside the unit and one outside: every
/// role must reach the first and none the second ("testing only the allowed one proves nothing:
/// an unrestricted app passes", docs/exchange-rbac-research.md §3).
pub async fn verify(admin: &ExchangeAdmin<'_>, ctx: &OpContext, app_id: &str, unit: &Unit) -> Result<Value, KodoError> {
    let scoped = |a: &Authorization| a.role.starts_with("Application ");
    let mut results = Vec::new();
    let mut passed = true;
    for (mailbox, want) in
        [(unit.members.iter().find_map(Member::mailbox), true), (unit.others.iter().find_map(Member::mailbox), false)]
    {
        let Some(mailbox) = mailbox else { continue };
        let found = rbac::test_authorization(admin, app_id, mailbox).await?;
        let wrong: Vec<&str> =
            found.iter().filter(|a| scoped(a) && a.in_scope != Some(want)).map(|a| a.role.as_str()).collect();
        passed &= wrong.is_empty();
        ctx.log(
            LogLevel::Verbose,
            format!("Test-ServicePrincipalAuthorization {mailbox}: {} role(s), expected InScope {want}", found.len()),
        );
        results.push(json!({ "mailbox": mailbox, "expectedInScope": want, "roles": found, "wrong": wrong }));
    }
    Ok(json!({ "passed": passed, "mailboxes": results }))
}
