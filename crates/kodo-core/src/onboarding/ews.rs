//! Grant-KodoEwsAccess, and the EWS step of Invoke-KodoOnboarding: put the KODO app on the
//! organization's EWS allow list, so that the mail permission KODO holds (`full_access_as_app`)
//! works (facts.md §8.4).
//!
//! What it does depends on the organization's `EwsEnabled`:
//! - on (true): add the app to `EwsAllowedAppIDs`, the whole list read, extended and written
//!   back (never an entry dropped), then read again to check;
//! - never set (null): switched off by the rollout that began 2026-10-01. Turning EWS on with an
//!   allow list admits the listed apps only, so every other application using EWS today would
//!   lose it: a High impact step, planned only with explicit consent (`allowRestriction`);
//! - off (false): turned on only on explicit request (`enableEws`).
//!
//! Without the consent a case needs, the answer is `ManualActionRequired` with the exact command,
//! never green. Exchange applies a change within 24 hours; the answer says by when. Every answer
//! states EWS's end date (2027-04-01).

use super::check_guid;
use crate::auth::Connection;
use crate::context::{LogLevel, OpContext};
use crate::error::{ErrorCode, KodoError};
use crate::exchange::ExchangeAdmin;
use crate::exchange::ews::{self, OrgEws, PROPAGATION_HOURS};
use crate::plan::{Approval, Decided, Plan, PlanItem};
use crate::platform;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

/// What the admin consents to beyond adding the app to a list in force.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct EwsConsent {
    /// Turn EWS on where the organization turned it off (`EwsEnabled` false).
    pub enable_ews: bool,
    /// Start an allow list where none is in force (`EwsEnabled` never set), which blocks EWS for
    /// every application not on it.
    pub allow_restriction: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrantEws {
    pub app_id: String,
    #[serde(default)]
    pub consent: EwsConsent,
    /// How the plan is approved (absent: every step).
    #[serde(default)]
    pub approval: Approval,
}

/// The step's id in a plan.
pub const STEP: &str = "ewsAllowList";

/// The EWS step planned from the organization's settings.
pub struct EwsPlan {
    pub before: OrgEws,
    /// The change, when one is to be made.
    pub step: Option<PlanItem>,
    /// Turn EWS on as well.
    enable: bool,
    /// Why the admin must act (the command that does it is made for the app's id when known).
    manual: Option<String>,
    notes: Vec<String>,
}

/// The command an admin runs in Exchange Online PowerShell to do it by hand: the whole list,
/// KODO's app added.
fn command(org: &OrgEws, app_id: &str) -> String {
    format!(
        "Set-OrganizationConfig -EwsEnabled $true -EwsAllowedAppIDs \"{}\" (Exchange Online PowerShell), or run Grant-KodoEwsAccess -AppId {app_id} -{}",
        org.list_with(app_id).join(","),
        if org.ews_enabled == Some(false) { "EnableEws" } else { "AllowEwsRestriction" }
    )
}

/// A list as the plan shows it.
fn shown(list: &[String]) -> String {
    if list.is_empty() { "(empty)".into() } else { list.join(",") }
}

/// The app as it appears in a list: its id, or (a new app, with no id yet) its label.
fn app_label_or_id<'a>(app_id: &'a str, label: &'a str) -> &'a str {
    if app_id.is_empty() { label } else { app_id }
}

/// Plans the EWS step for `app_id` (`app_label` names it in the plan: a new app has no id yet).
pub fn plan_ews(org: OrgEws, app_id: &str, app_label: &str, consent: &EwsConsent) -> EwsPlan {
    let target = format!("Exchange Online organization {}", org.identity);
    let mut notes = Vec::new();
    if let Some(policy) = &org.application_access_policy {
        notes.push(format!(
            "EwsApplicationAccessPolicy is {policy}: Exchange also filters EWS by user agent (EwsAllowList/EwsBlockList), and KODO's requests must pass that filter too."
        ));
    }
    let after = org.allowed_app_ids.len() + 1;
    let (step, enable, manual) = match org.ews_enabled {
        _ if org.admits(app_id) => (None, false, None),
        Some(true) => {
            if org.allowed_app_ids.is_empty() {
                notes.push("EWS is on with an empty allow list, which since October 2026 blocks every application: adding KODO's app admits KODO only.".into());
            }
            let action = format!(
                "Add {app_label} to the EWS allow list (EwsAllowedAppIDs: {} app(s) listed before, {after} after; no entry removed). Before: {}. After: {}",
                org.allowed_app_ids.len(),
                shown(&org.allowed_app_ids),
                shown(&org.list_with(app_label_or_id(app_id, app_label)))
            );
            (Some(PlanItem { id: STEP.into(), action, target }), false, None)
        }
        None if consent.allow_restriction => {
            let action = format!(
                "[High impact] Turn EWS on for the organization with an allow list of {after} app(s) ending with {app_label} (EwsEnabled $true): every application not on the list loses EWS access"
            );
            (Some(PlanItem { id: STEP.into(), action, target }), true, None)
        }
        None => (
            None,
            false,
            Some(format!(
                "EWS was never set for this organization (EwsEnabled is empty). The rollout that began {} switches such organizations off, KODO's mail backup with them. Turning EWS on with an allow list admits only the apps listed: every other application that uses EWS today would lose it, so Kodo does it only with your consent (-AllowEwsRestriction, or -Confirm).",
                platform::EWS_DISABLEMENT_STARTS
            )),
        ),
        Some(false) if consent.enable_ews => {
            let action = format!(
                "Turn EWS on for the organization (EwsEnabled $true) with an allow list of {after} app(s) ending with {app_label}: applications not on the list stay blocked"
            );
            (Some(PlanItem { id: STEP.into(), action, target }), true, None)
        }
        Some(false) => (
            None,
            false,
            Some("EWS is off for this organization (EwsEnabled False): no application can use it, KODO included. Turning it on with an allow list admits only the apps listed; Kodo does it only on your request (-EnableEws).".into()),
        ),
    };
    EwsPlan { before: org, step, enable, manual, notes }
}

/// The answer every EWS result shares.
fn answer(
    plan: &EwsPlan,
    app_id: &str,
    status: &str,
    after: Option<&OrgEws>,
    now: chrono::DateTime<chrono::Utc>,
) -> Value {
    let mut v = json!({
        "appId": app_id,
        "status": status,
        "ewsEnabled": plan.before.ews_enabled,
        "allowedAppIdsBefore": plan.before.allowed_app_ids,
        "allowedAppIdsAfter": after.map(|a| a.allowed_app_ids.clone()).unwrap_or_else(|| plan.before.allowed_app_ids.clone()),
        "applicationAccessPolicy": plan.before.application_access_policy,
        "notes": plan.notes,
        "endsOn": platform::EWS_END,
        "endNotice": platform::ews_end_notice(now),
    });
    if let Some(a) = after {
        v["ewsEnabledAfter"] = a.ews_enabled.into();
    }
    if let Some(why) = &plan.manual {
        v["reason"] = why.clone().into();
        v["command"] = command(&plan.before, app_id).into();
    }
    v
}

/// The answer where this caller cannot read the organization's EWS settings (a partner under GDAP
/// without an Exchange role): `ManualActionRequired`, with why and what the organization's
/// administrator runs. Nothing is known of the list, so nothing is shown of it.
pub fn out_of_reach(app_id: &str, reason: String, now: chrono::DateTime<chrono::Utc>) -> Value {
    json!({
        "appId": app_id,
        "status": "ManualActionRequired",
        "ewsEnabled": null,
        "allowedAppIdsBefore": [],
        "allowedAppIdsAfter": [],
        "applicationAccessPolicy": null,
        "notes": [],
        "endsOn": platform::EWS_END,
        "endNotice": platform::ews_end_notice(now),
        "reason": reason,
        "command": format!("Grant-KodoEwsAccess -AppId {app_id} (the organization's Exchange administrator, connected with Connect-Kodo), or Set-OrganizationConfig -EwsAllowedAppIDs with the app added to the whole list (Exchange Online PowerShell)"),
    })
}

/// Carries out the planned EWS step if approved, and answers with what it found and did.
pub async fn apply_ews(
    admin: &ExchangeAdmin<'_>,
    ctx: &OpContext,
    plan: &EwsPlan,
    app_id: &str,
    decided: &mut Decided,
) -> Result<Value, KodoError> {
    let now = ctx.clock().utc_now();
    if plan.manual.is_some() {
        return Ok(answer(plan, app_id, "ManualActionRequired", None, now));
    }
    if plan.step.is_none() {
        ctx.log(
            LogLevel::Verbose,
            format!("App {app_id} is on the organization's EWS allow list already: nothing to change."),
        );
        return Ok(answer(plan, app_id, "AlreadyAllowed", None, now));
    }
    if !decided.approves(STEP) {
        return Ok(answer(plan, app_id, "NotApproved", None, now));
    }
    ctx.progress("EWS allow list", "Adding the app to the organization's EWS allow list", None);
    let after = add_guarded(admin, ctx, app_id, plan.enable).await?;
    let dropped: Vec<&String> = plan.before.allowed_app_ids.iter().filter(|a| !after.lists(a)).collect();
    decided.done(STEP);
    let mut v = answer(plan, app_id, "Configured", Some(&after), now);
    v["effectiveBy"] =
        (now + chrono::Duration::hours(PROPAGATION_HOURS)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true).into();
    if !dropped.is_empty() {
        let text = format!(
            "Another change removed {} from the list meanwhile; Kodo did not put it back.",
            dropped.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        );
        if let Some(notes) = v["notes"].as_array_mut() {
            notes.push(text.into());
        }
    }
    Ok(v)
}

/// How many read-modify-writes of the allow list are tried before giving up.
pub const WRITE_ATTEMPTS: u32 = 5;

/// Adds `app_id` to the allow list as a guarded read-modify-write: `Set-OrganizationConfig`
/// replaces the whole list and Exchange has no ETag, so another writer's read-modify-write that
/// overlaps Kodo's can undo it (a lost update), and Kodo's can undo theirs. So the list is read
/// afresh right before each write (what anyone else wrote since the plan's read is kept; the
/// window in which a change can still be overwritten is one round trip), and read again after a
/// pause longer than such a window: if the app is gone (another writer replaced the list with one
/// read before Kodo's write), it is merged into the list as it is now and written again, up to
/// [`WRITE_ATTEMPTS`] times, with a jittered, growing pause. Answers the list as last read.
pub async fn add_guarded(
    admin: &ExchangeAdmin<'_>,
    ctx: &OpContext,
    app_id: &str,
    enable: bool,
) -> Result<OrgEws, KodoError> {
    let mut current = ews::read(admin).await?;
    for attempt in 1..=WRITE_ATTEMPTS {
        if current.lists(app_id) && (!enable || current.ews_enabled == Some(true)) {
            return Ok(current);
        }
        if attempt > 1 {
            ctx.log(
                LogLevel::Verbose,
                format!("The EWS allow list changed while Kodo wrote it (attempt {attempt}): merging again, keeping every entry."),
            );
        }
        let started = ctx.clock().now();
        ews::set(admin, &current.list_with(app_id), enable).await?;
        // Another writer's read-modify-write takes about one round trip from its read to its
        // write: wait twice ours (at least 200 ms, at most 3 s, jittered, longer each attempt)
        // before checking that the list still names the app.
        let round_trip = ctx.clock().now().saturating_duration_since(started);
        let base = (round_trip * 2).clamp(Duration::from_millis(200), Duration::from_secs(3));
        let jitter = 1.0 + f64::from(attempt) * 0.5 * jitter_fraction();
        ctx.clock().sleep(base.mul_f64(jitter)).await;
        current = ews::read(admin).await?;
    }
    if current.lists(app_id) && (!enable || current.ews_enabled == Some(true)) {
        return Ok(current);
    }
    Err(KodoError::new(
        ErrorCode::ServiceError,
        format!(
            "The organization's EWS allow list kept changing while Kodo added app {app_id} ({WRITE_ATTEMPTS} read-modify-writes, each undone by another writer): run the command again once the other change is done."
        ),
    )
    .with_target(app_id.to_string()))
}

/// A fraction in [0, 1) drawn afresh for each pause: two writers that collided do not retry in
/// step.
fn jitter_fraction() -> f64 {
    rand::random::<f64>()
}

/// Grant-KodoEwsAccess.
pub async fn grant_ews(conn: &Connection, ctx: &OpContext, req: GrantEws) -> Result<Value, KodoError> {
    check_guid("-AppId", &req.app_id)?;
    let admin = ExchangeAdmin::new(conn, ctx);
    ctx.progress("Grant-KodoEwsAccess", "Reading the organization's EWS settings", Some(10));
    let org = ews::read(&admin).await?;
    let plan = plan_ews(org, &req.app_id, &format!("app {}", req.app_id), &req.consent);
    let mut steps = Plan::new();
    if let Some(step) = &plan.step {
        steps.push(step.clone());
    }
    let mut decided = steps.decide(ctx, &req.approval).await?;
    let result = apply_ews(&admin, ctx, &plan, &req.app_id, &mut decided).await?;
    let mut report = decided.report();
    if let Value::Object(fields) = result {
        report.extend(fields);
    }
    Ok(Value::Object(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KODO: &str = "6f1f0f8e-0000-4000-8000-0000000000aa";
    const OTHER: &str = "6f1f0f8e-0000-4000-8000-0000000000bb";

    fn org(enabled: Option<bool>, list: &[&str]) -> OrgEws {
        OrgEws {
            identity: "contoso.onmicrosoft.com".into(),
            ews_enabled: enabled,
            allowed_app_ids: list.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn an_app_already_listed_needs_nothing() {
        let p = plan_ews(org(Some(true), &[OTHER, KODO]), KODO, "KODO", &EwsConsent::default());
        assert!(p.step.is_none() && p.manual.is_none());
    }

    #[test]
    fn a_list_in_force_is_extended_without_consent_and_keeps_every_entry() {
        let p = plan_ews(org(Some(true), &[OTHER]), KODO, "KODO", &EwsConsent::default());
        let step = p.step.as_ref().unwrap();
        assert!(step.action.contains("1 app(s) listed before, 2 after"), "{}", step.action);
        assert!(!p.enable);
        assert_eq!(p.before.list_with(KODO), [OTHER, KODO]);
    }

    #[test]
    fn never_set_needs_consent_and_otherwise_names_the_command() {
        let p = plan_ews(org(None, &[]), KODO, "KODO", &EwsConsent::default());
        assert!(p.step.is_none());
        let why = p.manual.clone().unwrap();
        assert!(why.contains("never set") && why.contains("2026-10-01"), "{why}");
        assert_eq!(
            command(&p.before, KODO),
            format!(
                "Set-OrganizationConfig -EwsEnabled $true -EwsAllowedAppIDs \"{KODO}\" (Exchange Online PowerShell), or run Grant-KodoEwsAccess -AppId {KODO} -AllowEwsRestriction"
            )
        );
        let consented =
            plan_ews(org(None, &[]), KODO, "KODO", &EwsConsent { allow_restriction: true, ..Default::default() });
        assert!(consented.step.unwrap().action.starts_with("[High impact]"));
        assert!(consented.enable);
    }

    #[test]
    fn off_is_turned_on_only_on_request() {
        let p = plan_ews(
            org(Some(false), &[OTHER]),
            KODO,
            "KODO",
            &EwsConsent { allow_restriction: true, ..Default::default() },
        );
        assert!(p.step.is_none() && p.manual.is_some());
        assert!(command(&p.before, KODO).contains(&format!("\"{OTHER},{KODO}\"")));
        assert!(command(&p.before, KODO).ends_with("-EnableEws"));
        let on =
            plan_ews(org(Some(false), &[OTHER]), KODO, "KODO", &EwsConsent { enable_ews: true, ..Default::default() });
        assert!(on.step.is_some() && on.enable);
    }
}
