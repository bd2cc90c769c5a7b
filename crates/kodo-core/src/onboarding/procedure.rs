//! Invoke-KodoOnboarding for one tenant: the whole procedure in one operation, for the current
//! connection (`onboard`) and for each tenant of a bulk run alike: app, credential (as the
//! tenant's app management policy allows), permissions, consent, KODO's app on the EWS allow
//! list, then the audit; or the audit alone. The retired steps are reported, not done.
//!
//! Everything that can refuse is read before anything is written: the tenant's Kodo app, the
//! resource APIs and the app management policy in one `$batch`, the organization's EWS settings
//! from Exchange Online meanwhile (a missing Exchange role stops the run there). For a new app
//! the plan is approved once and carried out in the fewest round trips: the app (declaring its
//! API permissions as it is created), its service principal and secret together, every consent
//! in one `$batch`, then the EWS allow list. An app that exists already (found by Kodo's tag)
//! goes through New-KodoApp's, Grant-KodoPermissions' and Grant-KodoEwsAccess's own plans,
//! which change only what is missing.

use super::app::{EnsureApp, Known, ensure_app_known, read_certificate};
use super::audit::{KnownAudit, TestApp, test_app_known};
use super::ews::{EwsConsent, apply_ews, plan_ews};
use super::permissions::{
    GrantPermissions, GrantState, Holdings, KnownGrant, apply_grant, grant_permissions_known, holdings_from,
    holdings_reads, plan_grant, resource_lookup, resource_sps_from,
};
use super::policy::{self, SecretRules};
use super::scope;
use super::{APP_SELECT, SECRET_DAYS_DEFAULT, check_guid, tagged_apps_path, the_kodo_app, validate_display_name};
use crate::auth::Connection;
use crate::context::OpContext;
use crate::error::{ErrorCode, KodoError};
use crate::exchange::ExchangeAdmin;
use crate::exchange::ews::{self, OrgEws};
use crate::graph::models::Application;
use crate::graph::{Graph, Request, Retry};
use crate::manifest::{Manifest, parse_manifest};
use crate::plan::{Approval, Plan};
use crate::platform;
use crate::platform::EXCHANGE_APP_ID;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::atomic::Ordering;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Onboard {
    pub display_name: String,
    pub manifest: Value,
    #[serde(default)]
    pub secret_lifetime_days: Option<u32>,
    /// A certificate (base64 DER, public part only) to give the app; its key stays with the host.
    #[serde(default)]
    pub certificate: Option<String>,
    /// The certificate is the new app's only credential: no client secret (-CredentialType
    /// Certificate). Otherwise a new app gets a secret, what KODO's dialog asks for.
    #[serde(default)]
    pub certificate_only: bool,
    /// What the admin consents to for EWS beyond adding the app to a list in force.
    #[serde(default)]
    pub ews: EwsConsent,
    /// An administrative unit's object id: the mailbox permissions are granted in Exchange
    /// Online, scoped to it ([`super::scope`]).
    #[serde(default)]
    pub mailbox_scope: Option<String>,
    /// Run Test-KodoApp after onboarding.
    #[serde(default = "yes")]
    pub audit: bool,
    /// Change nothing: find the Kodo app and audit it.
    #[serde(default)]
    pub audit_only: bool,
    /// How the plan is approved (absent: every step).
    #[serde(default)]
    pub approval: Approval,
    /// The Kodo app's appId when the caller knows it (Invoke-KodoOnboarding -AppId, or the
    /// ledger's record of a tenant done before): only a hint. What the app holds is then read
    /// by it in the same `$batch` that finds the Kodo app by its tag, and used only when the
    /// tag finds that very app; otherwise the run reads as without it.
    #[serde(default)]
    pub app_id_hint: Option<String>,
}

fn yes() -> bool {
    true
}

/// Whether the manifest grants Exchange's `full_access_as_app`: KODO then reads mail through
/// EWS, and the app must be on the organization's EWS allow list.
pub fn needs_ews(manifest: &Manifest) -> bool {
    manifest.permissions.iter().any(|r| {
        r.resource_app_id.eq_ignore_ascii_case(EXCHANGE_APP_ID)
            && r.is_application()
            && r.retired.is_none()
            && r.permission.eq_ignore_ascii_case("full_access_as_app")
    })
}

/// One tenant: onboards (or only audits) and answers with the tenant's result:
/// `{ status, tenantId, appId, onboard, audit, durationSeconds }`. `status` is `Succeeded` only
/// when KODO can back the tenant up as far as Kodo can make it; `ManualActionRequired` when an
/// admin must act (the EWS step says what). Nothing approved (a dry run, or every step
/// declined): `onboard` holds the plan and `appId` is null.
pub async fn onboard(conn: &Connection, ctx: &OpContext, graph: &Graph<'_>, req: Onboard) -> Result<Value, KodoError> {
    let started = ctx.clock().now();
    validate_display_name(&req.display_name)?;
    parse_manifest(&req.manifest)?;
    let tenant = conn.context()["tenantId"].as_str().unwrap_or(&conn.tenant).to_string();
    // What the audit may take from the run's own reads: what it read of the app, and the EWS
    // settings (a failed read too).
    let (onboarded, app_id, known_audit, known_org) = if req.audit_only {
        ctx.progress("Invoke-KodoOnboarding", "Finding the Kodo app", Some(20));
        let (app, known, org) = find_for_audit(conn, ctx, graph, &req, &tenant).await?;
        (Value::Null, Some(app.app_id().to_string()), known, org)
    } else {
        let writes = graph.writes.load(Ordering::Relaxed);
        let (mut r, read) = onboard_app(conn, ctx, graph, &req).await?;
        // A run that wrote nothing is audited from what it read (no write: the same reads again
        // would answer the same); one that wrote is audited from fresh reads.
        let (known_audit, known_org) = match read.filter(|_| graph.writes.load(Ordering::Relaxed) == writes) {
            Some((known, org)) => (Some(known), org.map(Ok)),
            None => (None, None),
        };
        let app_id = r["app"]["app"]["appId"].as_str().map(str::to_string);
        if r["app"].is_object() {
            r["app"]["tenantId"] = tenant.clone().into();
        }
        (r, app_id, known_audit, known_org)
    };
    let audit = match &app_id {
        Some(app_id) if req.audit || req.audit_only => {
            ctx.progress("Invoke-KodoOnboarding", "Audit", Some(85));
            let check = TestApp {
                app_id: app_id.clone(),
                manifest: req.manifest.clone(),
                warn_days: 30,
                sign_in: Vec::new(),
                ews_mailbox: None,
                mailbox_scope: req.mailbox_scope.clone(),
            };
            test_app_known(conn, ctx, graph, check, known_audit, known_org).await?
        }
        _ => Value::Null,
    };
    let status =
        if onboarded["ews"]["status"] == "ManualActionRequired" { "ManualActionRequired" } else { "Succeeded" };
    let seconds = ctx.clock().now().saturating_duration_since(started).as_secs_f64();
    Ok(json!({
        "status": status, "tenantId": tenant, "appId": app_id, "onboard": onboarded, "audit": audit,
        "durationSeconds": (seconds * 100.0).round() / 100.0,
    }))
}

/// -AuditOnly: the Kodo app, found by its tag. With the app's id known (`app_id_hint`), what it
/// holds, the resource APIs and the SharePoint setting go in the same `$batch` as the tag's
/// search, and stand for the audit only when the tag finds that very app and its service
/// principal answered with both lists (else the audit reads for itself, as without the hint).
/// The EWS settings are read alongside and come back apart (a failed read too: the audit
/// reports it without reading again).
async fn find_for_audit(
    conn: &Connection,
    ctx: &OpContext,
    graph: &Graph<'_>,
    req: &Onboard,
    tenant: &str,
) -> Result<(Application, Option<KnownAudit>, Option<Result<OrgEws, KodoError>>), KodoError> {
    let the_one = |found: Vec<Application>| {
        the_kodo_app(found, "Remove the extra one (Remove-KodoApp).")?.ok_or_else(|| {
            KodoError::new(
                ErrorCode::NotFound,
                format!("Tenant {tenant} has no Kodo app (tagged KodoManaged): it is not onboarded."),
            )
            .with_target(tenant.to_string())
        })
    };
    let Some(hint) = req.app_id_hint.as_deref().filter(|_| req.mailbox_scope.is_none()) else {
        let found = graph.list::<Application>(tagged_apps_path("appId,displayName"), Retry::ThrottleOnly).await?;
        return Ok((the_one(found)?, None, None));
    };
    check_guid("The app id", hint)?;
    let manifest = parse_manifest(&req.manifest)?;
    let resources = manifest.resources();
    let apps_read = Request::get(tagged_apps_path(APP_SELECT), Retry::ThrottleOnly);
    let held = holdings_reads(hint, Retry::ThrottleOnly);
    let setting = crate::sharepoint::legacy_auth_graph_read(conn);
    let mut reads = vec![apps_read.clone()];
    reads.extend(held.iter().cloned());
    reads.extend(resources.iter().map(|r| resource_lookup(r)));
    reads.extend(setting.clone());
    // The EWS allow list is read through Exchange meanwhile.
    let exchange = ExchangeAdmin::new(conn, ctx);
    let ews_read = async { if needs_ews(&manifest) { Some(ews::read(&exchange).await) } else { None } };
    let (answers, org) = tokio::join!(graph.batch(&reads), ews_read);
    let mut answers = answers?;
    let setting_answer = if setting.is_some() { answers.pop() } else { None };
    let mut got = answers.into_iter();
    let found: Vec<Application> = graph.all_pages(got.next().unwrap_or_default(), &apps_read).await?;
    let app = the_one(found)?;
    if !app.app_id().eq_ignore_ascii_case(hint) {
        ctx.log(
            crate::context::LogLevel::Verbose,
            "The app id given is not the Kodo app this tenant holds (by its tag): the audit reads as without it.",
        );
        return Ok((app, None, org));
    }
    let holdings = holdings_from(graph, &held, got.by_ref().take(held.len()).collect()).await?;
    if holdings.sp_id.is_none() || holdings.consents.is_none() {
        return Ok((app, None, org));
    }
    let resource_sps = resource_sps_from(&resources, got.collect())?;
    let known = KnownAudit { app: app.clone(), holdings, resource_sps, sharepoint: setting_answer };
    Ok((app, Some(known), org))
}

/// App, credential, permissions, consent and EWS: `{ app, permissions, ews, retired, existing }`
/// (and `plan` for a new app). The seed's step 17 (LegacyAuthProtocolsEnabled) is retired and
/// never set here: a scheduled re-run must not turn a hardened tenant's setting back on.
async fn onboard_app(
    conn: &Connection,
    ctx: &OpContext,
    graph: &Graph<'_>,
    req: &Onboard,
) -> Result<(Value, Option<(KnownAudit, Option<OrgEws>)>), KodoError> {
    let manifest = parse_manifest(&req.manifest)?;
    let now = ctx.clock().utc_now();
    ctx.progress("Invoke-KodoOnboarding", "Reading the tenant", Some(10));
    let resources = manifest.resources();
    if let Some(hint) = &req.app_id_hint {
        check_guid("The app id", hint)?;
    }
    let apps_read = Request::get(tagged_apps_path(APP_SELECT), Retry::ThrottleOnly);
    let policy_read = policy::default_policy_read();
    let mut reads = vec![apps_read.clone(), policy_read.clone()];
    // The audit's SharePoint setting, when Graph serves it: read with the rest, for an audit
    // from these reads (a run that writes nothing).
    let setting_read = if req.audit { crate::sharepoint::legacy_auth_graph_read(conn) } else { None };
    reads.extend(setting_read.clone());
    reads.extend(resources.iter().map(|r| resource_lookup(r)));
    // A known appId: what that app holds goes in the same `$batch` (by appId, an alternate key),
    // so that a re-run on a tenant that is right reads it in one round trip. The tag still finds
    // the app; the hint's answers stand only for the app the tag finds.
    let hinted = req.app_id_hint.as_deref().map(|hint| holdings_reads(hint, Retry::ThrottleOnly));
    if let Some(h) = &hinted {
        reads.extend(h.iter().cloned());
    }
    // Exchange Online is read meanwhile: its answer (or a missing role) is known before any write.
    let exchange = ExchangeAdmin::new(conn, ctx);
    let ews_read = async { if needs_ews(&manifest) { ews::read(&exchange).await.map(Some) } else { Ok(None) } };
    let unit_read = async {
        match &req.mailbox_scope {
            Some(unit) => scope::read_unit(graph, unit).await.map(Some),
            None => Ok(None),
        }
    };
    let (got, org, unit) = tokio::join!(graph.batch(&reads), ews_read, unit_read);
    let (mut got, org, unit) = (got?.into_iter(), org?, unit?);
    let apps_answer = got.next().unwrap_or_default();
    // When the tag was looked for, on Graph's clock (an app made after it is another run's).
    let looked = super::looked_at(&apps_answer, now);
    let found: Vec<Application> = graph.all_pages(apps_answer, &apps_read).await?;
    let mut existing = the_kodo_app(found, "Remove the extra one (Remove-KodoApp) or use New-KodoApp -AppId.")?;
    let policy_answer = got.next().unwrap_or_default();
    let setting_answer = if setting_read.is_some() { got.next() } else { None };
    let resource_answers: Vec<_> = got.by_ref().take(resources.len()).collect();
    // The hint's reads, kept only when the tag found that very app (not another, not none).
    let mut hinted = match (hinted, &existing) {
        (Some(h), Some(app)) if req.app_id_hint.as_deref().is_some_and(|id| id.eq_ignore_ascii_case(app.app_id())) => {
            let answers: Vec<_> = got.collect();
            Some(holdings_from(graph, &h, answers).await?)
        }
        (Some(_), _) => {
            ctx.log(
                crate::context::LogLevel::Verbose,
                "The app id given is not the Kodo app this tenant holds (by its tag): read as without it.",
            );
            None
        }
        (None, _) => None,
    };
    let retired = platform::retired_steps();
    // Set when this run's create met an app that an interrupted run made moments ago (still
    // replicating, so the tag did not find it): the run carries on as for an existing app.
    let mut raced = false;
    loop {
        if let Some(existing) = existing.take() {
            // Already onboarded, or partly: each part changes only what is missing.
            let app_id = existing.app_id().to_string();
            let ensure = EnsureApp {
                display_name: req.display_name.clone(),
                app_id: Some(app_id.clone()),
                new_secret: false,
                secret_lifetime_days: req.secret_lifetime_days,
                certificate: req.certificate.clone(),
                certificate_only: req.certificate_only,
                required_resource_access: None,
                multi_tenant: false,
                redirect_uris: Vec::new(),
                approval: req.approval.clone(),
            };
            // What the app holds, read once by its appId (one `$batch`) for New-KodoApp's and
            // Grant-KodoPermissions' plans: a re-run on a tenant that is right reads the tenant in
            // two `$batch`es. After a raced create each part reads for itself (still replicating).
            let held = if raced {
                None
            } else if let Some(h) = hinted.take() {
                Some(h)
            } else {
                let reads = holdings_reads(&app_id, Retry::ThrottleOnly);
                let answers = graph.batch(&reads).await?;
                Some(holdings_from(graph, &reads, answers).await?)
            };
            // The app's own policies may differ from the default: New-KodoApp reads them.
            let known = match &held {
                None => Known::Raced(Box::new(existing.clone())),
                Some(h) => Known::AppAndSp(Box::new(existing.clone()), h.sp_id.clone()),
            };
            let app = ensure_app_known(ctx, graph, ensure, known, None).await?;
            let mut for_audit: Option<(KnownAudit, Option<OrgEws>)> = None;
            let sp_now = app["servicePrincipalId"].as_str().unwrap_or("").to_string();
            let grants = if !sp_now.is_empty() {
                // A service principal this run did not read before (made just now for an
                // interrupted run's app, or met after a raced create) may still be replicating:
                // the grant's reads wait out the full lag, not the short one.
                let sp_read = held.as_ref().and_then(|h| h.sp_id.as_deref());
                let grant = GrantPermissions {
                    app_id: app_id.clone(),
                    manifest: req.manifest.clone(),
                    approval: req.approval.clone(),
                    just_created: sp_read != Some(sp_now.as_str()),
                    mailbox_scope: req.mailbox_scope.clone(),
                };
                // What was read stands only for the service principal it was read of (not for one
                // New-KodoApp made just now) and when both lists answered.
                if let Some(h @ Holdings { sp_id: Some(sp), consents: Some(_) }) = &held
                    && *sp == sp_now
                    && req.mailbox_scope.is_none()
                {
                    let known = KnownAudit {
                        app: existing.clone(),
                        holdings: h.clone(),
                        resource_sps: resource_sps_from(&resources, resource_answers.clone())?,
                        sharepoint: setting_answer.clone(),
                    };
                    for_audit = Some((known, org.clone()));
                }
                let known_grant = match held {
                    Some(Holdings { sp_id: Some(sp), consents: Some((assignments, grants)) }) if sp == sp_now => {
                        Some(KnownGrant {
                            app: existing.clone(),
                            sp_id: sp,
                            resource_sps: resource_sps_from(&resources, resource_answers.clone())?,
                            assignments,
                            grants,
                        })
                    }
                    _ => None,
                };
                grant_permissions_known(conn, ctx, graph, grant, known_grant).await?
            } else {
                // No service principal yet (an interrupted run made only the app) and none made now
                // (-WhatIf, or declined): the consents are planned as for a new app, from what was
                // read, and none is given.
                let state = GrantState {
                    app: existing,
                    sp_id: String::new(),
                    resource_sps: resource_sps_from(&resources, resource_answers.clone())?,
                    assigned: HashSet::new(),
                    assignments: Vec::new(),
                    grants: Vec::new(),
                    scoped: unit.is_some(),
                };
                let planned = plan_grant(&manifest, state)?;
                let approval = if req.approval.dry_run { req.approval.clone() } else { Approval::only(Vec::new()) };
                let decided = planned.plan.clone().decide(ctx, &approval).await?;
                apply_grant(ctx, graph, planned, decided).await?
            };
            let ews = match org.clone() {
                Some(org) => {
                    let plan = plan_ews(org, &app_id, &format!("app {app_id}"), &req.ews);
                    // An Exchange write: the audit reads the allow list again.
                    if plan.step.is_some() {
                        for_audit = None;
                    }
                    let mut steps = Plan::new();
                    if let Some(step) = &plan.step {
                        steps.push(step.clone());
                    }
                    let mut decided = steps.decide(ctx, &req.approval).await?;
                    apply_ews(&exchange, ctx, &plan, &app_id, &mut decided).await?
                }
                None => Value::Null,
            };
            return Ok((
                json!({ "app": app, "permissions": grants, "ews": ews, "retired": retired, "existing": true }),
                for_audit,
            ));
        }

        // A new app. Plan everything now: the consents are known before the app exists.
        let default_policy = policy::default_policy_from(policy_answer.clone(), &policy_read)?;
        let rules = SecretRules::from_policies(Some(&default_policy), None, now);
        let days = req.secret_lifetime_days.unwrap_or(SECRET_DAYS_DEFAULT);
        let secret = rules.decide_secret_for(days, false, req.certificate.is_some(), req.certificate_only)?;
        let certificate = req.certificate.as_deref().map(|c| read_certificate(c, now)).transpose()?;
        if let Some((der, _)) = &certificate {
            let (not_before, not_after) = crate::crypto::validity_of(der).unwrap_or((0, 0));
            rules.check_certificate(not_before, not_after)?;
        }
        let resource_sps = resource_sps_from(&resources, resource_answers.clone())?;
        let placeholder = Application { display_name: Some(req.display_name.clone()), ..Default::default() };
        let state = GrantState {
            app: placeholder,
            sp_id: String::new(),
            resource_sps,
            assigned: HashSet::new(),
            assignments: Vec::new(),
            grants: Vec::new(),
            scoped: unit.is_some(),
        };
        let mut planned = plan_grant(&manifest, state)?;
        let ews_plan = org.clone().map(|org| plan_ews(org, "", "the new app", &req.ews));
        let scope_plan =
            unit.clone().map(|u| scope::plan_scope(u, scope::ExchangeState::default(), &manifest, "the new app"));
        let declared: usize = planned.requested.iter().map(|e| e.resource_access.len()).sum();
        let mut plan = Plan::new();
        plan.add(
            "createApp",
            format!("Create app registration (single tenant, tagged KodoManaged) declaring {declared} API permissions"),
            req.display_name.clone(),
        );
        plan.add(
            "createServicePrincipal",
            "Create the app's service principal (enterprise application)",
            req.display_name.clone(),
        );
        if let Some(action) = &secret.action {
            plan.add("addPassword", action.clone(), req.display_name.clone());
        }
        if let Some((_, thumbprint)) = &certificate {
            plan.add(
                "addCertificate",
                format!("Add certificate {thumbprint} as a credential"),
                req.display_name.clone(),
            );
        }
        // The app is created declaring its permissions: no separate declaration step.
        for step in planned.plan.items().iter().filter(|p| p.id != "requiredResourceAccess") {
            plan.push(step.clone());
        }
        for step in scope_plan.iter().flat_map(|p| p.steps.iter()) {
            plan.push(step.clone());
        }
        if let Some(step) = ews_plan.as_ref().and_then(|p| p.step.clone()) {
            plan.push(step);
        }
        let mut decided = plan.decide(ctx, &req.approval).await?;
        if !decided.approves("createApp") {
            let grant_decided = planned.plan.clone().decide(ctx, &Approval::only(Vec::new())).await?;
            let mut permissions = apply_grant(ctx, graph, planned, grant_decided).await?;
            if let Some(p) = &scope_plan {
                permissions["mailboxScope"] = scope::apply_scope(&exchange, ctx, p, None, &mut decided).await?;
            }
            let ews = match &ews_plan {
                Some(p) => apply_ews(&exchange, ctx, p, "", &mut decided).await?,
                None => Value::Null,
            };
            return Ok((
                decided.report_with(
                    json!({ "app": null, "permissions": permissions, "ews": ews, "retired": retired, "existing": false }),
                ),
                None,
            ));
        }
        let approved = Approval::only(decided.approved_ids());
        super::check_write_roles(graph, &decided.approved_ids())?;
        ctx.progress("Invoke-KodoOnboarding", "Creating the app, its service principal and credential", Some(30));
        let ensure = EnsureApp {
            display_name: req.display_name.clone(),
            app_id: None,
            new_secret: false,
            secret_lifetime_days: req.secret_lifetime_days,
            certificate: req.certificate.clone(),
            certificate_only: req.certificate_only,
            required_resource_access: Some(planned.requested.clone()),
            multi_tenant: false,
            redirect_uris: Vec::new(),
            approval: approved.clone(),
        };
        let app = ensure_app_known(ctx, graph, ensure, Known::Absent(looked), Some(rules)).await?;
        if let Some(met) = super::app::raced(&app) {
            existing = Some(met);
            raced = true;
            continue;
        }
        let created: Application = serde_json::from_value(app["app"].clone()).unwrap_or_default();
        let app_id = created.app_id().to_string();
        let sp_id = app["servicePrincipalId"].as_str().unwrap_or("").to_string();
        planned.bind(created, sp_id.clone());
        // Exchange first: the scoped roles are in place before anything else is granted.
        let scoped = match &scope_plan {
            Some(p) => {
                ctx.progress("Invoke-KodoOnboarding", "Mailbox scope (Exchange Online)", Some(50));
                let who = (app_id.as_str(), sp_id.as_str(), req.display_name.as_str());
                Some(scope::apply_scope(&exchange, ctx, p, Some(who), &mut decided).await?)
            }
            None => None,
        };
        ctx.progress("Invoke-KodoOnboarding", "Granting admin consent", Some(60));
        let grant_decided = planned.plan.clone().decide(ctx, &approved).await?;
        let mut permissions = apply_grant(ctx, graph, planned, grant_decided).await?;
        if let Some(s) = scoped {
            permissions["mailboxScope"] = s;
        }
        let ews = match &ews_plan {
            Some(p) => {
                ctx.progress("Invoke-KodoOnboarding", "EWS allow list", Some(75));
                apply_ews(&exchange, ctx, p, &app_id, &mut decided).await?
            }
            None => Value::Null,
        };
        return Ok((
            json!({ "app": app, "permissions": permissions, "ews": ews, "retired": retired, "existing": false }),
            None,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_id_hint_is_optional_and_named_app_id_hint() {
        let base = json!({ "displayName": "KODO", "manifest": {} });
        let without: Onboard = serde_json::from_value(base.clone()).unwrap();
        assert!(without.app_id_hint.is_none());
        let mut with = base;
        with["appIdHint"] = "11111111-2222-3333-4444-555555555555".into();
        let with: Onboard = serde_json::from_value(with).unwrap();
        assert_eq!(with.app_id_hint.as_deref(), Some("11111111-2222-3333-4444-555555555555"));
    }
}
