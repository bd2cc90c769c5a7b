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
