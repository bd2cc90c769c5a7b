//! Invoke-KodoOnboarding -TenantId: many tenants in one run (MSPs). Each signs in with its own
//! credential and runs the one-tenant procedure ([`super::procedure::onboard`]); a tenant's
//! failure is its result, not the run's. Tenants are worked on `concurrency` at a time:
//! throttling (and its Retry-After) is per tenant, so one tenant's wait does not hold up the
//! others. Each tenant's result is an `item` event, in the order given; one that carries a new
//! secret is handed over as a `deliver` question instead, and the secret's mark is cleared once
//! the host has it (delivery.rs).

use super::procedure::{Onboard, onboard};
use super::validate_display_name;
use crate::auth::{Connection, CredentialSpec, EnvironmentSpec};
use crate::context::OpContext;
use crate::error::{ErrorCode, KodoError};
use crate::graph::Graph;
use crate::manifest::parse_manifest;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
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
}

fn default_concurrency() -> usize {
    4
}

pub async fn onboard_many(ctx: &OpContext, req: OnboardMany) -> Result<Value, KodoError> {
    if !(1..=16).contains(&req.concurrency) {
        return Err(KodoError::new(ErrorCode::InvalidArgument, "-ThrottleLimit must be between 1 and 16."));
    }
    check_tenant_list(&req.tenants)?;
    parse_manifest(&req.onboard.manifest)?;
    validate_display_name(&req.onboard.display_name)?;
    let total = req.tenants.len();
    let done = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let req = &req;
    let mut results = futures_util::stream::iter(req.tenants.iter().cloned())
        .map(|entry| {
            let (done, failed) = (&done, &failed);
            async move {
                let started = ctx.clock().now();
                let tenant = entry.tenant_id.clone();
                let (mut result, conn) = match one_tenant(ctx, req, entry).await {
                    Ok((v, conn)) => (v, conn),
                    Err(e) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        (json!({ "status": "Failed", "tenantId": tenant, "error": e.to_json() }), None)
                    }
                };
                // Sign-in included.
                let seconds = ctx.clock().now().saturating_duration_since(started).as_secs_f64();
                result["durationSeconds"] = ((seconds * 100.0).round() / 100.0).into();
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                ctx.progress(
                    "Invoke-KodoOnboarding",
                    format!("{n} of {total} tenants done ({} failed); last: {tenant}", failed.load(Ordering::Relaxed)),
                    u8::try_from(n * 100 / total.max(1)).ok(),
                );
                (result, conn)
            }
        })
        .buffered(req.concurrency);
    // Each tenant's result goes to the host as it comes (in the order given): nothing piles up.
    while let Some((result, conn)) = results.next().await {
        match (conn, result["onboard"]["app"]["confirmSecret"].clone()) {
            (Some(conn), confirm @ Value::Object(_)) => {
                deliver(ctx, &conn, result, confirm).await;
                conn.forget().await;
            }
            (conn, _) => {
                ctx.item(result);
                if let Some(conn) = conn {
                    conn.forget().await;
                }
            }
        }
    }
    Ok(json!({ "tenants": total, "failed": failed.load(Ordering::Relaxed) }))
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
) -> Result<(Value, Option<Connection>), KodoError> {
    let conn =
        crate::auth::connect(ctx, Some(entry.tenant_id.clone()), req.environment.clone(), entry.credential).await?;
    let graph = Graph::new(&conn, ctx);
    let outcome = onboard(&conn, ctx, &graph, req.onboard.clone()).await;
    let keep = outcome.as_ref().is_ok_and(|r| r["onboard"]["app"]["confirmSecret"].is_object());
    if !keep {
        conn.forget().await;
    }
    let mut result = outcome?;
    result["tenantId"] = entry.tenant_id.into();
    Ok((result, keep.then_some(conn)))
}

/// Hands a result with a new secret to the host and waits until it is written; then clears the
/// secret's mark. When the host does not confirm, or the mark cannot be cleared, the mark stays
/// and the next run replaces the secret (delivery.rs): said as a warning, the result stands.
async fn deliver(ctx: &OpContext, conn: &Connection, result: Value, confirm: Value) {
    let tenant = result["tenantId"].as_str().unwrap_or("").to_string();
    let answer =
        ctx.ask("deliver", &format!("Tenant {tenant}: its result, with a new secret"), json!({ "item": result })).await;
    let delivered = answer.as_ref().is_ok_and(|a| a["delivered"] == true);
    let cleared = match serde_json::from_value::<super::delivery::ConfirmSecret>(confirm) {
        Ok(c) if delivered => super::delivery::confirm(&Graph::new(conn, ctx), c).await.is_ok(),
        _ => false,
    };
    if !cleared {
        ctx.warn(format!(
            "Tenant {tenant}: Kodo could not record that its new secret was delivered; the next run replaces that secret."
        ));
    }
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
