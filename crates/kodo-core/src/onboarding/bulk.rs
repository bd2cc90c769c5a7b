//! Invoke-KodoOnboarding -TenantId: many tenants in one run (MSPs). Each signs in with its own
//! credential and runs the one-tenant procedure ([`super::procedure::onboard`]); a tenant's
//! failure is its result, not the run's. Tenants are worked on `concurrency` at a time:
//! throttling (and its Retry-After) is per tenant, so one tenant's wait does not hold up the
//! others. Each tenant's result is an `item` event, in the order given; one that carries a new
//! secret is handed over as a `deliver` question instead, and the secret's mark is cleared once
//! the host has it (delivery.rs).
//!
//! With a ledger (`-LedgerPath`, [`crate::ledger`]): tenants already `done` there are skipped
//! (no sign-in, no request; their result says so) unless `recheck`; every other tenant is
//! recorded `planned` (new), `inProgress` (before its sign-in), then `done` (after the host has
//! its result: a new secret is delivered first) or `failed` with the reason and what to do.

use super::procedure::{Onboard, onboard};
use super::validate_display_name;
use crate::auth::{Connection, CredentialSpec, EnvironmentSpec};
use crate::context::OpContext;
use crate::error::{ErrorCode, KodoError};
use crate::graph::Graph;
use crate::ledger::{Ledger, Reason, State};
use crate::manifest::parse_manifest;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One tenant of an `onboard.many` request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantEntry {
    pub tenant_id: String,
    pub credential: CredentialSpec,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OnboardMany {
    pub environment: EnvironmentSpec,
    pub tenants: Vec<TenantEntry>,
    /// What each tenant gets: the one-tenant procedure's request.
    pub onboard: Onboard,
    /// Tenants worked on at once (1-16).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// The run's ledger (optional).
    #[serde(default)]
    pub ledger: Option<LedgerSpec>,
    /// `-CredentialType Certificate`: each tenant's app gets a certificate of its own, its only
    /// credential (no client secret). The host makes it when the tenant's turn comes (a
    /// `certificate` question, after the tenant's sign-in) and keeps its private key; the public
    /// part goes into that tenant's procedure, and the host writes the PFX when the result is
    /// handed over (a `deliver` question, as for a secret: the mark of delivery.rs covers both).
    #[serde(default)]
    pub new_certificates: bool,
}

/// `-LedgerPath`, `-Recheck`, `-Force`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LedgerSpec {
    pub path: String,
    /// Run tenants that are `done` again.
    #[serde(default)]
    pub recheck: bool,
    /// Take over a lock whose run cannot be shown to be gone.
    #[serde(default)]
    pub force: bool,
}

fn default_concurrency() -> usize {
    4
}

pub async fn onboard_many(ctx: &OpContext, req: OnboardMany) -> Result<Value, KodoError> {
    if !(1..=16).contains(&req.concurrency) {
        return Err(KodoError::new(ErrorCode::InvalidArgument, "-ThrottleLimit must be between 1 and 16."));
    }
    check_tenant_list(&req.tenants)?;
    if req.new_certificates && req.onboard.certificate.is_some() {
        return Err(KodoError::new(
            ErrorCode::InvalidArgument,
            "A bulk run with a certificate per tenant takes no certificate for all of them.",
        ));
    }
    parse_manifest(&req.onboard.manifest)?;
    validate_display_name(&req.onboard.display_name)?;
    let total = req.tenants.len();
    let ledger = match &req.ledger {
        Some(spec) => Some(Mutex::new(Ledger::open(std::path::Path::new(&spec.path), spec.force, &|m| ctx.warn(m))?)),
        None => None,
    };
    let recheck = req.ledger.as_ref().is_some_and(|l| l.recheck);
    // What the ledger says of each tenant before this run: done ones are skipped; new ones planned.
    let mut skips: Vec<Option<Value>> = Vec::with_capacity(total);
    // The Kodo app's appId the ledger recorded for a tenant (done before): the run's hint
    // (`Onboard::app_id_hint`), so that a re-check of a tenant that is right reads it in one
    // `$batch`. Only a hint: the run still finds the app by its tag.
    let mut hints: Vec<Option<String>> = vec![None; total];
    if let Some(ledger) = &ledger {
        let mut l = ledger.lock().unwrap_or_else(|e| e.into_inner());
        let mut planned = Vec::new();
        for (i, entry) in req.tenants.iter().enumerate() {
            hints[i] = l.state(&entry.tenant_id).and_then(|s| s.client_id.clone());
            match l.state(&entry.tenant_id) {
                Some(s) if s.state == State::Done && !recheck => skips.push(Some(json!({
                    "status": "Skipped",
                    "tenantId": entry.tenant_id,
                    "appId": s.client_id,
                    "skipped": { "reason": "AlreadyDone", "doneAt": s.last_change, "status": s.status, "credentialLocation": s.credential_location },
                    "durationSeconds": 0.0,
                }))),
                Some(_) => skips.push(None),
                None => {
                    planned.push(l.record(&entry.tenant_id, State::Planned));
                    skips.push(None);
                }
            }
        }
        l.append(&planned)?;
        ctx.log(
            crate::context::LogLevel::Verbose,
            format!(
                "Ledger {} (run {}): {} tenants skipped (done), {} new.",
                l.path().display(),
                l.run_id(),
                skips.iter().filter(|s| s.is_some()).count(),
                planned.len()
            ),
        );
    } else {
        skips.resize(total, None);
    }
    let ledger = &ledger;
    let done = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let skipped = skips.iter().filter(|s| s.is_some()).count();
    let req = &req;
    // A tenant holds one of `concurrency` slots from its start until the host has its result
    // (its secret delivered, its end in the ledger): -ThrottleLimit counts tenants in progress.
    let slots = tokio::sync::Semaphore::new(req.concurrency);
    let slots = &slots;
    let mut results = futures_util::stream::iter(req.tenants.iter().cloned().zip(skips).zip(hints))
        .map(|((entry, skip), hint)| {
            let (done, failed) = (&done, &failed);
            async move {
                let slot = slots.acquire().await.ok();
                let started = ctx.clock().now();
                let tenant = entry.tenant_id.clone();
                let (mut result, conn) = if let Some(skip) = skip {
                    (skip, None)
                } else {
                    let started_ok = match ledger {
                        Some(l) => {
                            let mut l = l.lock().unwrap_or_else(|e| e.into_inner());
                            let r = l.record(&tenant, State::InProgress);
                            l.append(&[r])
                        }
                        None => Ok(()),
                    };
                    let outcome = match started_ok {
                        Ok(()) => one_tenant(ctx, req, entry, hint).await,
                        Err(e) => Err(e),
                    };
                    match outcome {
                        Ok((v, conn)) => (v, conn),
                        Err(e) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            (json!({ "status": "Failed", "tenantId": tenant, "error": e.to_json() }), None)
                        }
                    }
                };
                // Sign-in included.
                if result["status"] != "Skipped" {
                    let seconds = ctx.clock().now().saturating_duration_since(started).as_secs_f64();
                    result["durationSeconds"] = ((seconds * 100.0).round() / 100.0).into();
                }
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                ctx.progress(
                    "Invoke-KodoOnboarding",
                    format!("{n} of {total} tenants done ({} failed); last: {tenant}", failed.load(Ordering::Relaxed)),
                    u8::try_from(n * 100 / total.max(1)).ok(),
                );
                (result, conn, slot)
            }
        })
        .buffered(req.concurrency);
    // Each tenant's result goes to the host as it comes, in the order given. The stream is
    // driven by its own half of a join and hands each result over a channel, so the tenants in
    // flight go on while the host takes one (a `deliver` question, the delivery mark's round
    // trip); the slots keep the tenants in progress to `concurrency`. A loop that awaited the
    // host between two polls of the stream left every tenant in flight unpolled meanwhile, its
    // answers unread: over one shared HTTP/2 connection the delivery mark's own answer then
    // waited behind theirs (flow control) until every request in flight timed out at 120 s
    // (`benches/bulk.ps1 -Tenants 200 -ThrottleRate 0.2 -ThrottleLimit 16`: 14 of 200 tenants
    // failed). The ledger records a tenant's end once the host has its result.
    let (handed, mut taken) = tokio::sync::mpsc::unbounded_channel();
    let produce = async move {
        while let Some(done) = results.next().await {
            if handed.send(done).is_err() {
                break;
            }
        }
    };
    let consume = async {
        while let Some((result, conn, _slot)) = taken.recv().await {
            let record =
                ledger.as_ref().and_then(|l| end_record(&l.lock().unwrap_or_else(|e| e.into_inner()), &result));
            let tenant = result["tenantId"].as_str().unwrap_or("").to_string();
            let location = match (conn, result["onboard"]["app"]["confirmSecret"].clone()) {
                (Some(conn), confirm @ Value::Object(_)) => {
                    let location = deliver(ctx, &conn, result, confirm).await;
                    conn.forget().await;
                    Some(location)
                }
                (conn, _) => {
                    ctx.item(result);
                    if let Some(conn) = conn {
                        conn.forget().await;
                    }
                    None
                }
            };
            if let (Some(l), Some(mut record)) = (ledger, record) {
                match location {
                    Some(Some(place)) => record.credential_location = Some(place),
                    // Not delivered: the next run replaces that secret, so the tenant is not done.
                    Some(None) => {
                        record.state = State::Failed;
                        record.reason = Some(Reason {
                            code: "SecretNotDelivered".into(),
                            message: "The new client secret was not delivered, or Kodo could not record that it was."
                                .into(),
                        });
                        record.next_action =
                            Some("Run the same command again: the next run replaces the undelivered secret.".into());
                    }
                    None => {}
                }
                if let Err(e) = l.lock().unwrap_or_else(|e| e.into_inner()).append(&[record]) {
                    ctx.warn(format!(
                    "Tenant {tenant}: its end could not be written to the ledger ({}); the next run onboards it again (safe).",
                    e.message
                ));
                }
            }
        }
    };
    tokio::join!(produce, consume);
    Ok(json!({ "tenants": total, "failed": failed.load(Ordering::Relaxed), "skipped": skipped }))
}

/// The ledger record of a tenant's end, from its result: `done` (with the app's client id and
/// the status) or `failed` (with the reason and what to do). A skipped tenant has none.
fn end_record(ledger: &Ledger, result: &Value) -> Option<crate::ledger::Record> {
    let tenant = result["tenantId"].as_str()?;
    match result["status"].as_str()? {
        "Skipped" => None,
        "Failed" => {
            let mut r = ledger.record(tenant, State::Failed);
            let code: Option<ErrorCode> = serde_json::from_value(result["error"]["code"].clone()).ok();
            r.reason = Some(Reason {
                code: result["error"]["code"].as_str().unwrap_or("Internal").to_string(),
                message: result["error"]["message"].as_str().unwrap_or("").to_string(),
            });
            r.next_action = Some(crate::ledger::next_action(code.unwrap_or(ErrorCode::Internal)).to_string());
            Some(r)
        }
        status => {
            let mut r = ledger.record(tenant, State::Done);
            r.directory_id = result["directoryId"].as_str().map(str::to_string);
            r.client_id = result["appId"].as_str().map(str::to_string);
            r.status = Some(status.to_string());
            if status == "ManualActionRequired" {
                r.next_action = Some(
                    "An admin must act on EWS (see the result's Ews), then run again with -Recheck to confirm."
                        .to_string(),
                );
            }
            Some(r)
        }
    }
}

/// Checks the whole tenant list before any tenant is signed in to: every entry names a tenant
/// (a GUID or a domain name), and none twice (two runs on one tenant at once could each create
/// the app). Entries are numbered from 1 in the order given; piped from `Import-Csv`, entry N is
/// line N+1 of the file (after its header).
pub fn check_tenant_list(tenants: &[TenantEntry]) -> Result<(), KodoError> {
    if tenants.is_empty() {
        return Err(KodoError::new(ErrorCode::InvalidArgument, "The tenant list is empty."));
    }
    let mut problems = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::with_capacity(tenants.len());
    for (i, entry) in tenants.iter().enumerate() {
        let n = i + 1;
        match crate::auth::check_tenant(&entry.tenant_id) {
            Err(reason) => problems.push(format!("entry {n} (line {}) '{}' {reason}", n + 1, shown(&entry.tenant_id))),
            Ok(t) => {
                if let Some(first) = seen.get(&t.to_ascii_lowercase()) {
                    problems.push(format!("entry {n} (line {}) '{t}' repeats entry {first}", n + 1));
                } else {
                    seen.insert(t.to_ascii_lowercase(), n);
                }
            }
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(KodoError::new(
        ErrorCode::InvalidArgument,
        format!(
            "Nothing was done: {} of the {} entries of the tenant list cannot be used (entry N is the Nth tenant given; from Import-Csv, line N+1 of the file): {}.",
            problems.len(),
            tenants.len(),
            crate::error::name_some(&problems, 10)
        ),
    ))
}

/// A value from the input as a message shows it: at most 80 characters, control characters as
/// '?' (a terminal must not interpret what a file held).
fn shown(value: &str) -> String {
    let mut s: String = value.chars().take(80).map(|c| if c.is_control() { '?' } else { c }).collect();
    if value.chars().count() > 80 {
        s.push('…');
    }
    s
}

/// Signs in to one tenant and runs the procedure. The result names the tenant as the caller
/// gave it; the sign-in comes back with it when the result carries a new secret (its mark is
/// cleared through it once delivered), else it is forgotten.
async fn one_tenant(
    ctx: &OpContext,
    req: &OnboardMany,
    entry: TenantEntry,
    app_id_hint: Option<String>,
) -> Result<(Value, Option<Connection>), KodoError> {
    let conn =
        crate::auth::connect(ctx, Some(entry.tenant_id.clone()), req.environment.clone(), entry.credential).await?;
    let graph = Graph::new(&conn, ctx);
    let mut onboard_req = req.onboard.clone();
    // The ledger's appId is a hint for this tenant only (never one given for the whole run).
    onboard_req.app_id_hint = app_id_hint.filter(|id| uuid::Uuid::parse_str(id).is_ok());
    let outcome = match tenant_certificate(ctx, req, &entry.tenant_id).await {
        Ok(certificate) => {
            if certificate.is_some() {
                onboard_req.certificate = certificate;
                onboard_req.certificate_only = true;
            }
            onboard(&conn, ctx, &graph, onboard_req).await
        }
        Err(e) => Err(e),
    };
    // The tenant's id as its sign-in named it: the ledger's one entry per tenant, however given.
    let directory_id = conn.context()["tenantId"].clone();
    let keep = outcome.as_ref().is_ok_and(|r| r["onboard"]["app"]["confirmSecret"].is_object());
    if !keep {
        conn.forget().await;
    }
    let mut result = outcome?;
    result["tenantId"] = entry.tenant_id.into();
    if directory_id.is_string() {
        result["directoryId"] = directory_id;
    }
    Ok((result, keep.then_some(conn)))
}

/// With `new_certificates`: asks the host for this tenant's certificate (base64 DER, the public
/// part; the host keeps the key until the tenant's result is handed over). Made after the
/// sign-in, so that a tenant that cannot be signed in to costs no key; none for an audit, which
/// changes nothing.
async fn tenant_certificate(ctx: &OpContext, req: &OnboardMany, tenant: &str) -> Result<Option<String>, KodoError> {
    if !req.new_certificates || req.onboard.audit_only {
        return Ok(None);
    }
    let answer = ctx
        .ask("certificate", &format!("Tenant {tenant}: a certificate for its app"), json!({ "tenantId": tenant }))
        .await?;
    match answer["certificate"].as_str() {
        Some(c) if !c.is_empty() => Ok(Some(c.to_string())),
        _ => Err(KodoError::new(
            ErrorCode::Internal,
            format!(
                "No certificate was made for tenant {tenant}: {}. Nothing was changed in it.",
                answer["reason"].as_str().unwrap_or("the host answered without one")
            ),
        )),
    }
}

/// Hands a result with a new secret to the host and waits until it is written; then clears the
/// secret's mark. When the host does not confirm, or the mark cannot be cleared, the mark stays
/// and the next run replaces the secret (delivery.rs): said as a warning, the result stands.
/// Returns where the host put the secret (its answer's `location`, else the result object), or
/// `None` when it was not delivered or its mark could not be cleared (the next run replaces it).
async fn deliver(ctx: &OpContext, conn: &Connection, result: Value, confirm: Value) -> Option<String> {
    let tenant = result["tenantId"].as_str().unwrap_or("").to_string();
    let answer =
        ctx.ask("deliver", &format!("Tenant {tenant}: its result, with a new secret"), json!({ "item": result })).await;
    let delivered = answer.as_ref().is_ok_and(|a| a["delivered"] == true);
    let location = answer
        .as_ref()
        .ok()
        .and_then(|a| a["location"].as_str().map(str::to_string))
        .unwrap_or_else(|| "resultObject".to_string());
    let cleared = match serde_json::from_value::<super::delivery::ConfirmSecret>(confirm) {
        Ok(c) if delivered => super::delivery::confirm(&Graph::new(conn, ctx), c).await.is_ok(),
        _ => false,
    };
    if !cleared {
        ctx.warn(format!(
            "Tenant {tenant}: Kodo could not record that its new secret was delivered; the next run replaces that secret."
        ));
    }
    cleared.then_some(location)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(ids: &[&str]) -> Vec<TenantEntry> {
        ids.iter()
            .map(|t| {
                serde_json::from_value(
                    json!({ "tenantId": t, "credential": { "kind": "clientSecret", "clientId": "c", "secret": "s" } }),
                )
                .unwrap()
            })
            .collect()
    }

    #[test]
    fn a_tenant_list_is_checked_whole_and_names_each_bad_entry() {
        assert!(check_tenant_list(&list(&["contoso.onmicrosoft.com", "8e6a0f4b-1c4e-4f6a-9b0e-2f2d6b1c9a11"])).is_ok());
        let e = check_tenant_list(&list(&[
            "contoso.onmicrosoft.com",
            "contoso",
            "x' or 1 eq 1",
            "CONTOSO.onmicrosoft.com",
            "",
            "a..b",
        ]))
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidArgument);
        assert!(e.message.contains("5 of the 6 entries"), "{}", e.message);
        assert!(e.message.contains("entry 2 (line 3) 'contoso' is neither"), "{}", e.message);
        assert!(e.message.contains("entry 3 (line 4) 'x' or 1 eq 1'"), "{}", e.message);
        assert!(e.message.contains("entry 4 (line 5) 'CONTOSO.onmicrosoft.com' repeats entry 1"), "{}", e.message);
        assert!(e.message.contains("entry 5 (line 6) '' is empty"), "{}", e.message);
        assert!(check_tenant_list(&[]).is_err());
        let many: Vec<String> = (0..5000).map(|i| format!("bad{i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let e = check_tenant_list(&list(&refs)).unwrap_err();
        assert!(e.message.contains("and 4990 more"), "{}", e.message);
    }
}
