//! Grant-KodoPermissions: resolve a manifest against the tenant, declare the permissions on the
//! app (requiredResourceAccess), grant admin consent: one app role assignment per application
//! permission, one AllPrincipals grant per resource API holding every delegated scope (merged
//! with what is there). Also reports the retired SharePoint ACS step (appinv.aspx).

use super::{check_guid, scope};
use crate::auth::Connection;
use crate::context::{LogLevel, OpContext};
use crate::error::{ErrorCode, KodoError};
use crate::exchange::ExchangeAdmin;
use crate::exchange::rbac;
use crate::graph::models::{
    AppRoleAssignment, Application, OAuth2PermissionGrant, RequiredResourceAccess, ResourceAccess, ServicePrincipal,
};
use crate::graph::{Graph, Request, Response, Retry, graph_error};
use crate::manifest::{Manifest, PermissionRow, Resolution, Resolved, RowStatus, parse_manifest, resolve};
use crate::plan::{Approval, Decided, Plan};
use crate::platform;
use crate::platform::SHAREPOINT_APP_ID;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrantPermissions {
    pub app_id: String,
    pub manifest: Value,
    /// How the plan is approved (absent: every step).
    #[serde(default)]
    pub approval: Approval,
    /// The app was just created (piped from New-KodoApp): wait out replication lag in full.
    #[serde(default)]
    pub just_created: bool,
    /// An administrative unit's object id: grant the mailbox permissions in Exchange Online,
    /// scoped to it, instead of tenant-wide ([`super::scope`]).
    #[serde(default)]
    pub mailbox_scope: Option<String>,
}

/// Resource APIs' service principals by lower-case appId (None: the tenant has none).
pub type ResourceSps = BTreeMap<String, Option<ServicePrincipal>>;

/// What a grant plans from: the app, its service principal, the resource APIs' service
/// principals, and what is granted already.
pub struct GrantState {
    pub app: Application,
    pub sp_id: String,
    pub resource_sps: ResourceSps,
    pub assigned: HashSet<(String, String)>,
    /// The app's app role assignments, for the ids of those a mailbox scope revokes.
    pub assignments: Vec<AppRoleAssignment>,
    pub grants: Vec<OAuth2PermissionGrant>,
    /// The mailbox permissions are granted in Exchange, scoped: not in Entra.
    pub scoped: bool,
}

/// The read of a resource API's service principal: its app roles and delegated scopes.
pub(crate) fn resource_lookup(resource_app_id: &str) -> Request {
    Request::get(
        format!(
            "servicePrincipals(appId='{resource_app_id}')?$select=id,appId,displayName,appRoles,oauth2PermissionScopes"
        ),
        Retry::ThrottleOnly,
    )
}

/// The resource service principals from the answers to `resource_lookup`s, kept compact.
pub(crate) fn resource_sps_from(resources: &[String], answers: Vec<Response>) -> Result<ResourceSps, KodoError> {
    let mut sps = BTreeMap::new();
    for (r, answer) in resources.iter().zip(answers) {
        let sp = if answer.status == 404 {
            None
        } else {
            let lookup = resource_lookup(r);
            Some(answer.json::<ServicePrincipal>(&lookup)?.compact())
        };
        sps.insert(r.clone(), sp);
    }
    Ok(sps)
}

/// The app (what grant and audit read of it), what it holds ([`Holdings`]) and the resource
/// APIs the manifest names, read in one `$batch`; `extra` (one more read of the caller's, e.g.
/// the audit's SharePoint setting) goes with them and its answer comes back last.
pub(crate) async fn read_app_and_apis(
    graph: &Graph<'_>,
    app_id: &str,
    lookup: Retry,
    resources: &[String],
    absent: &str,
    extra: Option<&Request>,
) -> Result<(Application, Holdings, ResourceSps, Option<Response>), KodoError> {
    let app_read = Request::get(
        format!(
            "applications(appId='{app_id}')?$select=id,appId,displayName,requiredResourceAccess,passwordCredentials,keyCredentials"
        ),
        lookup,
    );
    let held = holdings_reads(app_id, lookup);
    let mut reads = vec![app_read.clone()];
    reads.extend(held.iter().cloned());
    reads.extend(resources.iter().map(|r| resource_lookup(r)));
    reads.extend(extra.cloned());
    let mut answers = graph.batch(&reads).await?;
    let extra_answer = if extra.is_some() { answers.pop() } else { None };
    let mut got = answers.into_iter();
    let app = got.next().unwrap_or_default();
    if app.status == 404 {
        return Err(KodoError::new(
            ErrorCode::NotFound,
            format!("No app registration with appId {app_id} exists in this tenant.{absent}"),
        ));
    }
    let app: Application = app.json(&app_read)?;
    let held_answers: Vec<Response> = got.by_ref().take(held.len()).collect();
    let holdings = holdings_from(graph, &held, held_answers).await?;
    Ok((app, holdings, resource_sps_from(resources, got.collect())?, extra_answer))
}

/// The reads of what an app holds, addressed by its appId so that they go in the same `$batch`
/// as the reads that find the app: its service principal, the app role assignments and the
/// delegated grants it holds as the client. Both lists take the service principal's id or its
/// appId: https://learn.microsoft.com/graph/api/serviceprincipal-list-approleassignments and
/// https://learn.microsoft.com/graph/api/serviceprincipal-list-oauth2permissiongrants
pub(crate) fn holdings_reads(app_id: &str, retry: Retry) -> [Request; 3] {
    [
        Request::get(format!("servicePrincipals(appId='{app_id}')?$select=id,displayName"), retry),
        Request::get(format!("servicePrincipals(appId='{app_id}')/appRoleAssignments"), retry),
        Request::get(format!("servicePrincipals(appId='{app_id}')/oauth2PermissionGrants"), retry),
    ]
}

/// What an app holds, from [`holdings_reads`]: its service principal's id (None: it has none)
/// and, when both lists answered, its app role assignments and delegated grants (None: read
/// them again by the service principal's id, e.g. the lists are still replicating).
#[derive(Debug, Clone)]
pub(crate) struct Holdings {
    pub sp_id: Option<String>,
    pub consents: Option<(Vec<AppRoleAssignment>, Vec<OAuth2PermissionGrant>)>,
}

pub(crate) async fn holdings_from(
    graph: &Graph<'_>,
    reads: &[Request; 3],
    answers: Vec<Response>,
) -> Result<Holdings, KodoError> {
    let mut answers = answers.into_iter();
    let (sp, assigned, granted) =
        (answers.next().unwrap_or_default(), answers.next().unwrap_or_default(), answers.next().unwrap_or_default());
    if sp.status == 404 {
        return Ok(Holdings { sp_id: None, consents: None });
    }
    let sp_id = sp.json::<ServicePrincipal>(&reads[0])?.id().to_string();
    let consents = if assigned.ok() && granted.ok() {
        Some((graph.all_pages(assigned, &reads[1]).await?, graph.all_pages(granted, &reads[2]).await?))
    } else {
        None
    };
    Ok(Holdings { sp_id: Some(sp_id), consents })
}

/// The reads of what the app holds by its service principal's id: its app role assignments and
/// delegated grants.
pub(crate) fn consent_reads(sp_id: &str, retry: Retry) -> [Request; 2] {
    [
        Request::get(format!("servicePrincipals/{sp_id}/appRoleAssignments"), retry),
        Request::get(format!("oauth2PermissionGrants?$filter=clientId eq '{sp_id}'"), retry),
    ]
}

/// What the app holds, from the answers to `consent_reads` (every page of each).
pub(crate) async fn consents_from(
    graph: &Graph<'_>,
    reads: &[Request; 2],
    answers: Vec<Response>,
) -> Result<(Vec<AppRoleAssignment>, Vec<OAuth2PermissionGrant>), KodoError> {
    let mut answers = answers.into_iter();
    let assignments = graph.all_pages(answers.next().unwrap_or_default(), &reads[0]).await?;
    let grants = graph.all_pages(answers.next().unwrap_or_default(), &reads[1]).await?;
    Ok((assignments, grants))
}

pub async fn grant_permissions(
    conn: &Connection,
    ctx: &OpContext,
    graph: &Graph<'_>,
    req: GrantPermissions,
) -> Result<Value, KodoError> {
    grant_permissions_known(conn, ctx, graph, req, None).await
}

/// What the caller read already (Invoke-KodoOnboarding's re-run): the app, its service
/// principal's id, the resource APIs and what the app holds, so that none is read twice.
pub(crate) struct KnownGrant {
    pub app: Application,
    pub sp_id: String,
    pub resource_sps: ResourceSps,
    pub assignments: Vec<AppRoleAssignment>,
    pub grants: Vec<OAuth2PermissionGrant>,
}

pub(crate) async fn grant_permissions_known(
    conn: &Connection,
    ctx: &OpContext,
    graph: &Graph<'_>,
    req: GrantPermissions,
    known: Option<KnownGrant>,
) -> Result<Value, KodoError> {
    let manifest = parse_manifest(&req.manifest)?;
    check_guid("-AppId", &req.app_id)?;
    let (app, sp_id, resource_sps, assignments, grants) = match known {
        Some(k) => (k.app, k.sp_id, k.resource_sps, k.assignments, k.grants),
        None => {
            ctx.progress("Grant-KodoPermissions", "Reading the app and the tenant's APIs", Some(10));
            // One round of reads: the app, its SP and what it holds, each resource SP ($batch).
            let lookup = if req.just_created { Retry::Replication } else { Retry::ReplicationShort };
            let (app, held, resource_sps, _) =
                read_app_and_apis(graph, &req.app_id, lookup, &manifest.resources(), " Run New-KodoApp first.", None)
                    .await?;
            let sp_id = held.sp_id.ok_or_else(|| {
                KodoError::new(
                    ErrorCode::NotFound,
                    format!("The app {} has no service principal. Run New-KodoApp to create it.", req.app_id),
                )
            })?;
            let (assignments, grants) = match held.consents {
                Some(c) => c,
                None => {
                    // The lists did not answer with the service principal (replicating): again by
                    // its id, waiting out replication lag.
                    let reads = consent_reads(&sp_id, Retry::Replication);
                    let answers = graph.batch(&reads).await?;
                    consents_from(graph, &reads, answers).await?
                }
            };
            (app, sp_id, resource_sps, assignments, grants)
        }
    };
    // A mailbox scope: the unit and what Exchange holds are read before anything is written.
    let admin = ExchangeAdmin::new(conn, ctx);
    let scope_plan = match &req.mailbox_scope {
        Some(unit) => {
            ctx.progress("Grant-KodoPermissions", "Reading the mailbox scope", Some(20));
            let (unit, exchange) =
                tokio::try_join!(scope::read_unit(graph, unit), scope::read_exchange(&admin, Some(&req.app_id)))?;
            Some(scope::plan_scope(unit, exchange, &manifest, &format!("app {}", req.app_id)))
        }
        None => None,
    };
    let name = app.display_name().to_string();
    let state = GrantState {
        app,
        sp_id: sp_id.clone(),
        resource_sps,
        assigned: assignments.iter().map(AppRoleAssignment::key).collect(),
        assignments,
        grants: grants.into_iter().filter(OAuth2PermissionGrant::for_all_principals).collect(),
        scoped: scope_plan.is_some(),
    };
    let planned = plan_grant(&manifest, state)?;
    let mut plan = planned.plan.clone();
    for step in scope_plan.iter().flat_map(|p| p.steps.iter()) {
        plan.push(step.clone());
    }
    let mut decided = plan.decide(ctx, &req.approval).await?;
    super::check_write_roles(graph, &decided.approved_ids())?;
    // Exchange first: the scoped roles are in place before the tenant-wide grants go.
    let scoped = match &scope_plan {
        Some(p) => Some(scope::apply_scope(&admin, ctx, p, Some((&req.app_id, &sp_id, &name)), &mut decided).await?),
        None => None,
    };
    let mut result = apply_grant(ctx, graph, planned, decided).await?;
    if let Some(s) = scoped {
        result["mailboxScope"] = s;
    }
    Ok(result)
}

/// The app's requiredResourceAccess with every resolved permission declared, and whether that
/// added anything. No I/O.
pub fn declare_permissions(
    existing: &[RequiredResourceAccess],
    resolved: &[Resolved],
) -> (Vec<RequiredResourceAccess>, bool) {
    let mut rra = existing.to_vec();
    let mut changed = false;
    for r in resolved {
        let kind = if r.application { "Role" } else { "Scope" };
        let entry = match rra.iter().position(|e| e.resource_app_id.eq_ignore_ascii_case(&r.resource_app_id)) {
            Some(p) => p,
            None => {
                rra.push(RequiredResourceAccess {
                    resource_app_id: r.resource_app_id.clone(),
                    resource_access: Vec::new(),
                });
                rra.len() - 1
            }
        };
        let list = &mut rra[entry].resource_access;
        if !list.iter().any(|a| a.id.eq_ignore_ascii_case(&r.permission_id) && a.kind == kind) {
            list.push(ResourceAccess { id: r.permission_id.clone(), kind: kind.into() });
            changed = true;
        }
    }
    (rra, changed)
}

/// Removes the resolved permissions from the app's requiredResourceAccess (and a resource left
/// with none); whether anything was removed. No I/O.
pub fn undeclare(rra: &mut Vec<RequiredResourceAccess>, resolved: &[Resolved]) -> bool {
    let mut changed = false;
    for r in resolved {
        let kind = if r.application { "Role" } else { "Scope" };
        for e in rra.iter_mut().filter(|e| e.resource_app_id.eq_ignore_ascii_case(&r.resource_app_id)) {
            let before = e.resource_access.len();
            e.resource_access.retain(|a| !(a.id.eq_ignore_ascii_case(&r.permission_id) && a.kind == kind));
            changed |= e.resource_access.len() != before;
        }
    }
    rra.retain(|e| !e.resource_access.is_empty());
    changed
}

/// Whether the app declares a resolved permission.
pub fn is_declared(existing: &[RequiredResourceAccess], r: &Resolved) -> bool {
    let kind = if r.application { "Role" } else { "Scope" };
    existing.iter().any(|e| {
        e.resource_app_id.eq_ignore_ascii_case(&r.resource_app_id)
            && e.resource_access.iter().any(|a| a.id.eq_ignore_ascii_case(&r.permission_id) && a.kind == kind)
    })
}

/// Whether the app holds a resolved permission: an assignment of the app role, or the scope in
/// an AllPrincipals grant on the resource.
pub fn is_consented(
    r: &Resolved,
    permission: &str,
    assigned: &HashSet<(String, String)>,
    grants: &[OAuth2PermissionGrant],
) -> bool {
    if r.application {
        assigned.contains(&(r.resource_sp_id.to_ascii_lowercase(), r.permission_id.clone()))
    } else {
        grants.iter().any(|g| {
            g.for_all_principals()
                && g.is_for_resource(&r.resource_sp_id)
                && g.scopes().iter().any(|s| s.eq_ignore_ascii_case(permission))
        })
    }
}

/// An app role assignment to make.
struct Assign {
    step: String,
    row: usize,
    resource_sp_id: String,
    app_role_id: String,
}

/// A tenant-wide app role assignment to revoke (a mailbox scope is in force).
struct Revoke {
    step: String,
    row: usize,
    assignment_id: String,
}

/// A delegated grant to make or widen.
struct Grant {
    step: String,
    existing: Option<String>,
    resource_sp_id: String,
    scopes: Vec<String>,
    rows: Vec<usize>,
}

/// A grant planned from the tenant's state: what the apply step needs.
pub struct PlannedGrant {
    pub plan: Plan,
    pub requested: Vec<RequiredResourceAccess>,
    state: GrantState,
    rows: Vec<PermissionRow>,
    declare: bool,
    assigns: Vec<Assign>,
    grants: Vec<Grant>,
    revokes: Vec<Revoke>,
}

impl PlannedGrant {
    /// The app the plan was made for, once it exists (a plan made before the app was created).
    pub fn bind(&mut self, app: Application, sp_id: String) {
        self.state.app = app;
        self.state.sp_id = sp_id;
    }
}

/// Resolves the manifest against the tenant and plans what is missing. No I/O.
pub fn plan_grant(manifest: &Manifest, state: GrantState) -> Result<PlannedGrant, KodoError> {
    let Resolution { mut rows, resolved, missing } = resolve(manifest, &state.resource_sps);
    if !missing.is_empty() {
        return Err(KodoError::new(
            ErrorCode::InvalidArgument,
            format!(
                "Nothing was changed: this tenant does not offer {} of the manifest's permissions: {}. Fix the manifest (a typo?) or mark those rows \"optional\": true.",
                missing.len(),
                crate::error::name_some(&missing, 10)
            ),
        ));
    }
    let mut plan = Plan::new();
    let app_name = state.app.display_name().to_string();
    // Under a mailbox scope the mailbox permissions are Exchange's: neither declared nor assigned
    // in Entra, and a tenant-wide assignment of one is revoked (it would reach every mailbox).
    let (resolved, in_exchange): (Vec<Resolved>, Vec<Resolved>) = resolved.into_iter().partition(|r| {
        !(state.scoped && rbac::role_for(&r.resource_app_id, &rows[r.row].permission, r.application).is_some())
    });
    let (mut requested, declare) = declare_permissions(state.app.required_resource_access(), &resolved);
    let undeclared = undeclare(&mut requested, &in_exchange);
    if declare || undeclared {
        let action = if undeclared {
            "Declare the API permissions (requiredResourceAccess) without the mailbox permissions granted in Exchange"
        } else {
            "Declare the API permissions (requiredResourceAccess)"
        };
        plan.add("requiredResourceAccess", action, app_name.clone());
    }
    let mut revokes = Vec::new();
    for r in &in_exchange {
        let row = &mut rows[r.row];
        row.status = Some(RowStatus::ScopedInExchange);
        row.note = Some("Granted in Exchange Online, scoped to the administrative unit (see mailboxScope).".into());
        let key = (r.resource_sp_id.to_ascii_lowercase(), r.permission_id.clone());
        let Some(id) = state.assignments.iter().find(|a| a.key() == key).and_then(|a| a.id.clone()) else { continue };
        let step = format!("revoke:{}:{}", r.resource_app_id, r.permission_id);
        plan.add(
            step.clone(),
            format!(
                "Revoke the tenant-wide grant of {} {} (application): it reaches every mailbox, whatever the scope",
                row.api, row.permission
            ),
            app_name.clone(),
        );
        revokes.push(Revoke { step, row: r.row, assignment_id: id });
    }
    let mut assigns = Vec::new();
    for r in resolved.iter().filter(|r| r.application) {
        if state.assigned.contains(&(r.resource_sp_id.to_ascii_lowercase(), r.permission_id.clone())) {
            rows[r.row].status = Some(RowStatus::AlreadyPresent);
            continue;
        }
        let step = format!("assign:{}:{}", r.resource_app_id, r.permission_id);
        plan.add(
            step.clone(),
            format!("Grant admin consent to {} {} (application)", rows[r.row].api, rows[r.row].permission),
            app_name.clone(),
        );
        assigns.push(Assign {
            step,
            row: r.row,
            resource_sp_id: r.resource_sp_id.clone(),
            app_role_id: r.permission_id.clone(),
        });
    }
    // Delegated: one AllPrincipals grant per resource holding every scope (merged with what is there).
    let mut by_resource: BTreeMap<String, (String, Vec<usize>)> = BTreeMap::new();
    for r in resolved.iter().filter(|r| !r.application) {
        by_resource
            .entry(r.resource_app_id.clone())
            .or_insert_with(|| (r.resource_sp_id.clone(), Vec::new()))
            .1
            .push(r.row);
    }
    let mut grants = Vec::new();
    for (resource_app_id, (resource_sp_id, row_ids)) in by_resource {
        let existing = state.grants.iter().find(|g| g.is_for_resource(&resource_sp_id));
        let have = existing.map(OAuth2PermissionGrant::scopes).unwrap_or_default();
        let mut want = have.clone();
        for &i in &row_ids {
            let p = rows[i].permission.clone();
            if have.iter().any(|h| h.eq_ignore_ascii_case(&p)) {
                rows[i].status = Some(RowStatus::AlreadyPresent);
            } else if !want.iter().any(|h| h.eq_ignore_ascii_case(&p)) {
                want.push(p);
            }
        }
        if want.len() != have.len() {
            let step = format!("grant:{resource_app_id}");
            plan.add(
                step.clone(),
                format!(
                    "Grant admin consent to {} delegated permissions for all users ({})",
                    rows[row_ids[0]].api,
                    want.join(" ")
                ),
                app_name.clone(),
            );
            grants.push(Grant {
                step,
                existing: existing.and_then(|g| g.id.clone()),
                resource_sp_id,
                scopes: want,
                rows: row_ids,
            });
        }
    }
    let declare = declare || undeclared;
    Ok(PlannedGrant { plan, requested, state, rows, declare, assigns, grants, revokes })
}

/// Carries out the approved steps of a planned grant: every write in one `$batch` (20 a round
/// trip); none depends on another's answer.
pub async fn apply_grant(
    ctx: &OpContext,
    graph: &Graph<'_>,
    planned: PlannedGrant,
    mut decided: Decided,
) -> Result<Value, KodoError> {
    let PlannedGrant { requested, state, mut rows, declare, assigns, grants, revokes, .. } = planned;
    if !decided.applies() {
        for a in &assigns {
            rows[a.row].status = Some(RowStatus::WouldGrant);
        }
        for g in &grants {
            for &r in &g.rows {
                rows[r].status.get_or_insert(RowStatus::WouldGrant);
            }
        }
        acs_row(&mut rows, &state.app);
        return Ok(decided.report_with(
            json!({ "rows": rows, "requiredResourceAccess": requested, "roundTrips": graph.round_trips() }),
        ));
    }
    enum Write<'a> {
        Declare,
        Assign(&'a Assign),
        Grant(&'a Grant),
        Revoke(&'a Revoke),
    }
    let mut writes = Vec::new();
    let mut kinds = Vec::new();
    if declare && decided.approves("requiredResourceAccess") {
        writes.push(Request::patch(
            format!("applications/{}", state.app.id()),
            json!({ "requiredResourceAccess": requested }),
            Retry::Idempotent,
        ));
        kinds.push(Write::Declare);
    }
    for a in assigns.iter().filter(|a| decided.approves(&a.step)) {
        writes.push(Request::post(
            format!("servicePrincipals/{}/appRoleAssignedTo", a.resource_sp_id),
            json!({ "principalId": state.sp_id, "resourceId": a.resource_sp_id, "appRoleId": a.app_role_id }),
            Retry::Idempotent,
        ));
        kinds.push(Write::Assign(a));
    }
    for g in grants.iter().filter(|g| decided.approves(&g.step)) {
        let scope = g.scopes.join(" ");
        writes.push(match &g.existing {
            Some(id) => Request::patch(format!("oauth2PermissionGrants/{id}"), json!({ "scope": scope }), Retry::Idempotent),
            // A repeat after a lost answer fails with 409, handled below: safe to retry.
            None => Request::post(
                "oauth2PermissionGrants",
                json!({ "clientId": state.sp_id, "consentType": "AllPrincipals", "principalId": null, "resourceId": g.resource_sp_id, "scope": scope }),
                Retry::Idempotent,
            ),
        });
        kinds.push(Write::Grant(g));
    }
    for r in revokes.iter().filter(|r| decided.approves(&r.step)) {
        writes.push(Request::delete(
            format!("servicePrincipals/{}/appRoleAssignments/{}", state.sp_id, r.assignment_id),
            Retry::Idempotent,
        ));
        kinds.push(Write::Revoke(r));
    }
    if !writes.is_empty() {
        ctx.progress("Grant-KodoPermissions", format!("Granting: {} changes", writes.len()), Some(60));
    }
    let results = if writes.is_empty() { Vec::new() } else { graph.batch(&writes).await? };
    for (kind, r) in kinds.iter().zip(results.iter()) {
        match kind {
            Write::Declare => {
                if !r.ok() {
                    return Err(graph_error("PATCH", "applications", r));
                }
                decided.done("requiredResourceAccess");
            }
            Write::Assign(a) => {
                // facts.md §3.12: a duplicate assignment (an interrupted earlier run made it).
                let duplicate = r.message() == "Permission being assigned already exists on the object";
                if !r.ok() && !duplicate {
                    return Err(graph_error("POST", "appRoleAssignedTo", r));
                }
                rows[a.row].status = Some(if r.ok() { RowStatus::Granted } else { RowStatus::AlreadyPresent });
                decided.done(&a.step);
            }
            Write::Grant(g) => {
                if g.existing.is_none() && r.status == 409 {
                    // Created by an interrupted earlier run: find it and merge.
                    merge_grant(graph, &state.sp_id, &g.resource_sp_id, &g.scopes).await?;
                } else if !r.ok() {
                    return Err(graph_error(
                        if g.existing.is_some() { "PATCH" } else { "POST" },
                        "oauth2PermissionGrants",
                        r,
                    ));
                }
                for &i in &g.rows {
                    rows[i].status.get_or_insert(RowStatus::Granted);
                }
                decided.done(&g.step);
            }
            Write::Revoke(v) => {
                // Gone already (an interrupted earlier run revoked it): done as well.
                if !r.ok() && r.status != 404 {
                    return Err(graph_error("DELETE", "appRoleAssignments", r));
                }
                rows[v.row].note = Some(
                    "Granted in Exchange Online, scoped to the administrative unit (see mailboxScope); the tenant-wide grant was revoked.".into(),
                );
                decided.done(&v.step);
            }
        }
    }
    for r in rows.iter_mut() {
        r.status.get_or_insert(RowStatus::Skipped);
    }
    acs_row(&mut rows, &state.app);
    if decided.changes().is_empty() {
        ctx.log(LogLevel::Verbose, "Every permission is already granted: nothing to change.");
    }
    Ok(decided.report_with(json!({ "rows": rows, "roundTrips": graph.round_trips() })))
}

/// A delegated grant that already exists (an interrupted earlier run created it): add the scopes
/// it lacks.
async fn merge_grant(graph: &Graph<'_>, sp_id: &str, resource_sp_id: &str, want: &[String]) -> Result<(), KodoError> {
    let grants: Vec<OAuth2PermissionGrant> =
        graph.list(format!("oauth2PermissionGrants?$filter=clientId eq '{sp_id}'"), Retry::Replication).await?;
    if let Some(g) = grants.iter().find(|g| g.is_for_resource(resource_sp_id) && g.for_all_principals()) {
        let mut merged = g.scopes();
        for w in want {
            if !merged.iter().any(|m| m.eq_ignore_ascii_case(w)) {
                merged.push(w.clone());
            }
        }
        let request = Request::patch(
            format!("oauth2PermissionGrants/{}", g.id.as_deref().unwrap_or("")),
            json!({ "scope": merged.join(" ") }),
            Retry::Replication,
        );
        graph.call(&request).await?;
    }
    Ok(())
}

/// SharePoint app-only access (facts.md §5.3, §8): the seed's step 15 grants it through
/// appinv.aspx (Azure ACS), retired for every tenant on 2026-04-02. Kodo reports that step and
/// whether its replacement (SharePoint Sites.FullControl.All as an application permission, and
/// a certificate credential: SharePoint takes app-only tokens only from a certificate) is in
/// place. Added when the manifest asks for SharePoint permissions.
fn acs_row(rows: &mut Vec<PermissionRow>, app: &Application) {
    let spo = |r: &PermissionRow| r.resource_app_id.eq_ignore_ascii_case(SHAREPOINT_APP_ID);
    if !rows.iter().any(spo) {
        return;
    }
    let role = rows.iter().any(|r| {
        spo(r)
            && r.permission == "Sites.FullControl.All"
            && r.kind == "Application"
            && matches!(r.status, Some(RowStatus::Granted | RowStatus::AlreadyPresent))
    });
    let certificate = !app.key_credentials().is_empty();
    let in_place = role && certificate;
    let mut missing = Vec::new();
    if !role {
        missing.push("the SharePoint Sites.FullControl.All application permission");
    }
    if !certificate {
        missing.push("a certificate credential (New-KodoApp -NewCertificate)");
    }
    let note = if in_place {
        "Replacement in place: SharePoint Sites.FullControl.All (application) and a certificate credential.".to_string()
    } else {
        format!("Replacement not complete: missing {}.", missing.join(" and "))
    };
    rows.push(PermissionRow {
        row: None,
        api: "SharePoint (Azure ACS, appinv.aspx)".into(),
        resource_app_id: SHAREPOINT_APP_ID.into(),
        permission: "http://sharepoint/content/tenant FullControl (AllowAppOnlyPolicy)".into(),
        kind: "ACS".into(),
        status: Some(RowStatus::Retired),
        id: None,
        offered: None,
        replacement_in_place: Some(in_place),
        retired: Some(json!({
            "since": platform::SHAREPOINT_ACS.since,
            "what": platform::SHAREPOINT_ACS.what,
            "replacement": format!("{}. {note}", platform::SHAREPOINT_ACS.replacement),
            "source": platform::SHAREPOINT_ACS.source,
        })),
        note: Some(note),
    });
}
