//! Invoke-KodoOnboarding -TenantId: many tenants in one run (MSPs). Each signs in with its own
//! credential and runs the one-tenant procedure ([`super::procedure::onboard`]); a tenant's
//! failure is its result, not the run's. Tenants are worked on `concurrency` at a time:
//! throttling (and its Retry-After) is per tenant, so one tenant's wait does not hold up the
//! others. Each tenant's result is an `item` event, in the order given.

use super::procedure::{Onboard, onboard};
use super::validate_display_name;
use crate::auth::{CredentialSpec, EnvironmentSpec};
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
                let mut result = match one_tenant(ctx, req, entry).await {
                    Ok(v) => v,
                    Err(e) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        json!({ "status": "Failed", "tenantId": tenant, "error": e.to_json() })
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
                result
            }
        })
        .buffered(req.concurrency);
    // Each tenant's result goes to the host as it comes (in the order given): nothing piles up.
    while let Some(result) = results.next().await {
        ctx.item(result);
    }
    Ok(json!({ "tenants": total, "failed": failed.load(Ordering::Relaxed) }))
}

/// Signs in to one tenant, runs the procedure, and forgets the sign-in. The result names the
/// tenant as the caller gave it.
async fn one_tenant(ctx: &OpContext, req: &OnboardMany, entry: TenantEntry) -> Result<Value, KodoError> {
    let conn =
        crate::auth::connect(ctx, Some(entry.tenant_id.clone()), req.environment.clone(), entry.credential).await?;
    let graph = Graph::new(&conn, ctx);
    let outcome = onboard(&conn, ctx, &graph, req.onboard.clone()).await;
    conn.forget().await;
    let mut result = outcome?;
    result["tenantId"] = entry.tenant_id.into();
    Ok(result)
}
