//! Remove-KodoApp: revokes the app's delegated grants, deletes its service principal (with its
//! app role assignments) and the app registration. Deleting the application is documented to
//! soft-delete it for 30 days (facts.md §3.11); its service principal's removal is only "well
//! known", so Kodo deletes the service principal and the grants itself.

use super::{check_guid, delete};
use crate::context::OpContext;
use crate::error::KodoError;
use crate::graph::models::{Application, OAuth2PermissionGrant, ServicePrincipal};
use crate::graph::{Graph, Retry};
use crate::plan::{Approval, Plan};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemoveApp {
    pub app_id: String,
    /// How the plan is approved (absent: every step).
    #[serde(default)]
    pub approval: Approval,
}

pub async fn remove_app(ctx: &OpContext, graph: &Graph<'_>, req: RemoveApp) -> Result<Value, KodoError> {
    check_guid("-AppId", &req.app_id)?;
    // Absent is the normal answer on a re-run: no replication-lag retries here.
    let app: Option<Application> = graph
        .find(format!("applications(appId='{}')?$select=id,appId,displayName,tags", req.app_id), Retry::ThrottleOnly)
        .await?;
    let sp: Option<ServicePrincipal> = graph
        .find(format!("servicePrincipals(appId='{}')?$select=id,displayName", req.app_id), Retry::ThrottleOnly)
        .await?;
    let name = app.as_ref().and_then(|a| a.display_name.clone()).unwrap_or_else(|| req.app_id.clone());
    let target = format!("{name} ({})", req.app_id);
    let mut plan = Plan::new();
    let mut grants: Vec<OAuth2PermissionGrant> = Vec::new();
    if let Some(sp) = &sp {
        grants =
            graph.list(format!("oauth2PermissionGrants?$filter=clientId eq '{}'", sp.id()), Retry::Idempotent).await?;
        if !grants.is_empty() {
            plan.add("deleteGrants", format!("Revoke {} delegated permission grant(s)", grants.len()), target.clone());
        }
        plan.add("deleteServicePrincipal", "Delete the service principal and its app role assignments", target.clone());
    }
    if app.is_some() {
        plan.add(
            "deleteApp",
            "Delete the app registration (restorable for 30 days from deleted items)",
            target.clone(),
        );
    }
    if plan.is_empty() {
        ctx.warn(format!(
            "No app registration or service principal with appId {} exists: nothing to remove.",
            req.app_id
        ));
    }
    let mut decided = plan.decide(ctx, &req.approval).await?;
    super::check_write_roles(graph, &decided.approved_ids())?;
    for step in decided.approved_steps() {
        match step.id.as_str() {
            "deleteGrants" => {
                for g in &grants {
                    delete(graph, "oauth2PermissionGrants", g.id.as_deref().unwrap_or("")).await?;
                }
            }
            "deleteServicePrincipal" => {
                delete(graph, "servicePrincipals", sp.as_ref().map(ServicePrincipal::id).unwrap_or("")).await?
            }
            "deleteApp" => delete(graph, "applications", app.as_ref().map(Application::id).unwrap_or("")).await?,
            _ => {}
        }
        decided.done(&step.id);
    }
    Ok(decided.report_with(json!({})))
}
