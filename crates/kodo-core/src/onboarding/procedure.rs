//! Invoke-KodoOnboarding for one tenant: the whole procedure in one operation, for the current
//! connection (`onboard`) and for each tenant of a bulk run alike. App, credential, permissions,
//! consent, then the audit; or the audit alone. The retired steps are reported, not done.
//!
//! For a new app the plan is made from one read of everything, approved once, and carried out
//! in the fewest round trips: the app (declaring its API permissions as it is created), its
//! service principal and secret together, and every consent in one `$batch`. An app that exists already (found by Kodo's tag) goes through
//! New-KodoApp's and Grant-KodoPermissions' own plans, which change only what is missing.

use super::app::{EnsureApp, Known, ensure_app_known};
use super::audit::{TestApp, test_app};
use super::permissions::{
    GrantPermissions, GrantState, apply_grant, grant_permissions, plan_grant, resource_lookup, resource_sps_from,
};
use super::{APP_SELECT, SECRET_DAYS_DEFAULT, tagged_apps_path, the_kodo_app, validate_display_name};
use crate::auth::Connection;
use crate::context::OpContext;
use crate::error::{ErrorCode, KodoError};
use crate::graph::models::Application;
use crate::graph::{Graph, Request, Retry};
use crate::manifest::parse_manifest;
use crate::plan::{Approval, Plan};
use crate::platform;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashSet;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Onboard {
    pub display_name: String,
    pub manifest: Value,
    #[serde(default)]
    pub secret_lifetime_days: Option<u32>,
    /// Run Test-KodoApp after onboarding.
    #[serde(default = "yes")]
    pub audit: bool,
    /// Change nothing: find the Kodo app and audit it.
    #[serde(default)]
    pub audit_only: bool,
    /// How the plan is approved (absent: every step).
    #[serde(default)]
    pub approval: Approval,
}

fn yes() -> bool {
    true
}

/// One tenant: onboards (or only audits) and answers with the tenant's result:
/// `{ status, tenantId, appId, onboard, audit, durationSeconds }`. Nothing approved (a dry run,
/// or every step declined): `onboard` holds the plan and `appId` is null.
pub async fn onboard(conn: &Connection, ctx: &OpContext, graph: &Graph<'_>, req: Onboard) -> Result<Value, KodoError> {
    let started = ctx.clock().now();
    validate_display_name(&req.display_name)?;
    parse_manifest(&req.manifest)?;
    let tenant = conn.context()["tenantId"].as_str().unwrap_or(&conn.tenant).to_string();
    let (onboarded, app_id) = if req.audit_only {
        ctx.progress("Invoke-KodoOnboarding", "Finding the Kodo app", Some(20));
        let found = graph.list::<Application>(tagged_apps_path("appId,displayName"), Retry::ThrottleOnly).await?;
        let app = the_kodo_app(found, "Remove the extra one (Remove-KodoApp).")?.ok_or_else(|| {
            KodoError::new(
                ErrorCode::NotFound,
                format!("Tenant {tenant} has no Kodo app (tagged KodoManaged): it is not onboarded."),
            )
            .with_target(tenant.clone())
        })?;
        (Value::Null, Some(app.app_id().to_string()))
    } else {
        let mut r = onboard_app(ctx, graph, &req).await?;
        let app_id = r["app"]["app"]["appId"].as_str().map(str::to_string);
        if r["app"].is_object() {
            r["app"]["tenantId"] = tenant.clone().into();
        }
        (r, app_id)
    };
    let audit = match &app_id {
        Some(app_id) if req.audit || req.audit_only => {
            ctx.progress("Invoke-KodoOnboarding", "Audit", Some(85));
            let check =
                TestApp { app_id: app_id.clone(), manifest: req.manifest.clone(), warn_days: 30, sign_in: Vec::new() };
            test_app(conn, ctx, graph, check).await?
        }
        _ => Value::Null,
    };
    let seconds = ctx.clock().now().saturating_duration_since(started).as_secs_f64();
    Ok(json!({
        "status": "Succeeded", "tenantId": tenant, "appId": app_id, "onboard": onboarded, "audit": audit,
        "durationSeconds": (seconds * 100.0).round() / 100.0,
    }))
}

/// App, credential, permissions and consent: `{ app, permissions, retired, existing }` (and
/// `plan` for a new app). The seed's step 17 (LegacyAuthProtocolsEnabled) is retired and never
/// set here: a scheduled re-run must not turn a hardened tenant's setting back on.
async fn onboard_app(ctx: &OpContext, graph: &Graph<'_>, req: &Onboard) -> Result<Value, KodoError> {
    let manifest = parse_manifest(&req.manifest)?;
    ctx.progress("Invoke-KodoOnboarding", "Reading the tenant", Some(10));
    let resources = manifest.resources();
    let apps_read = Request::get(tagged_apps_path(APP_SELECT), Retry::ThrottleOnly);
    let mut reads = vec![apps_read.clone()];
    reads.extend(resources.iter().map(|r| resource_lookup(r)));
    let mut got = graph.batch(&reads).await?.into_iter();
    let found: Vec<Application> = graph.all_pages(got.next().unwrap_or_default(), &apps_read).await?;
    let existing = the_kodo_app(found, "Remove the extra one (Remove-KodoApp) or use New-KodoApp -AppId.")?;
    let resource_answers: Vec<_> = got.collect();
    let retired = platform::retired_steps();

    if let Some(existing) = existing {
        // Already onboarded, or partly: each part changes only what is missing.
        let app_id = existing.app_id().to_string();
        let ensure = EnsureApp {
            display_name: req.display_name.clone(),
            app_id: Some(app_id.clone()),
            new_secret: false,
            secret_lifetime_days: req.secret_lifetime_days,
            certificate: None,
            required_resource_access: None,
            approval: req.approval.clone(),
        };
        let app = ensure_app_known(ctx, graph, ensure, Known::App(Box::new(existing))).await?;
        let grant = GrantPermissions {
            app_id,
            manifest: req.manifest.clone(),
            approval: req.approval.clone(),
            just_created: false,
        };
        let grants = grant_permissions(ctx, graph, grant).await?;
        return Ok(json!({ "app": app, "permissions": grants, "retired": retired, "existing": true }));
    }

    // A new app. Plan everything now: the consents are known before the app exists.
    let resource_sps = resource_sps_from(&resources, resource_answers)?;
    let placeholder = Application { display_name: Some(req.display_name.clone()), ..Default::default() };
    let state = GrantState {
        app: placeholder,
        sp_id: String::new(),
        resource_sps,
        assigned: HashSet::new(),
        grants: Vec::new(),
    };
    let mut planned = plan_grant(&manifest, state)?;
    let declared: usize = planned.requested.iter().map(|e| e.resource_access.len()).sum();
    let days = req.secret_lifetime_days.unwrap_or(SECRET_DAYS_DEFAULT);
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
    plan.add("addPassword", format!("Create a client secret valid for {days} days"), req.display_name.clone());
    // The app is created declaring its permissions: no separate declaration step.
    for step in planned.plan.items().iter().filter(|p| p.id != "requiredResourceAccess") {
        plan.push(step.clone());
    }
    let decided = plan.decide(ctx, &req.approval).await?;
    if !decided.approves("createApp") {
        let grant_decided = planned.plan.clone().decide(ctx, &Approval::only(Vec::new())).await?;
        let permissions = apply_grant(ctx, graph, planned, grant_decided).await?;
        return Ok(decided
            .report_with(json!({ "app": null, "permissions": permissions, "retired": retired, "existing": false })));
    }
    let approved = Approval::only(decided.approved_ids());
    ctx.progress("Invoke-KodoOnboarding", "Creating the app, its service principal and secret", Some(30));
    let ensure = EnsureApp {
        display_name: req.display_name.clone(),
        app_id: None,
        new_secret: false,
        secret_lifetime_days: req.secret_lifetime_days,
        certificate: None,
        required_resource_access: Some(planned.requested.clone()),
        approval: approved.clone(),
    };
    let app = ensure_app_known(ctx, graph, ensure, Known::Absent).await?;
    let created: Application = serde_json::from_value(app["app"].clone()).unwrap_or_default();
    planned.bind(created, app["servicePrincipalId"].as_str().unwrap_or("").to_string());
    ctx.progress("Invoke-KodoOnboarding", "Granting admin consent", Some(70));
    let grant_decided = planned.plan.clone().decide(ctx, &approved).await?;
    let permissions = apply_grant(ctx, graph, planned, grant_decided).await?;
    Ok(json!({ "app": app, "permissions": permissions, "retired": retired, "existing": false }))
}
