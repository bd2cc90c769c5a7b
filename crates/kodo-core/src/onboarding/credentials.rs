//! Remove-KodoAppCredential: removes secrets (removePassword) and certificates (keyCredentials
//! sent back without them) by keyId. A keyId the app does not have is reported, not an error: a
//! re-run changes nothing.

use super::{check_guid, esc};
use crate::context::OpContext;
use crate::error::KodoError;
use crate::graph::models::{Application, KeyCredential};
use crate::graph::{Graph, Request, Retry, graph_error};
use crate::plan::{Approval, Plan};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemoveCredential {
    pub app_id: String,
    pub key_ids: Vec<String>,
    /// How the plan is approved (absent: every step).
    #[serde(default)]
    pub approval: Approval,
}

pub async fn remove_credential(ctx: &OpContext, graph: &Graph<'_>, req: RemoveCredential) -> Result<Value, KodoError> {
    for k in &req.key_ids {
        check_guid("KeyId", k)?;
    }
    let app: Application = graph
        .get(
            format!(
                "applications(appId='{}')?$select=id,displayName,passwordCredentials,keyCredentials",
                esc(&req.app_id)
            ),
            Retry::ReplicationShort,
        )
        .await?;
    let target = format!("{} ({})", app.display_name(), req.app_id);
    let has = |list: Vec<Option<&str>>, k: &str| list.into_iter().flatten().any(|x| x.eq_ignore_ascii_case(k));
    let mut plan = Plan::new();
    for k in &req.key_ids {
        if has(app.password_credentials().iter().map(|s| s.key_id.as_deref()).collect(), k) {
            plan.add(format!("secret:{k}"), format!("Remove client secret {k}"), target.clone());
        } else if has(app.key_credentials().iter().map(|c| c.key_id.as_deref()).collect(), k) {
            plan.add(format!("certificate:{k}"), format!("Remove certificate credential {k}"), target.clone());
        } else {
            ctx.warn(format!("The app has no credential with keyId {k}: nothing to remove."));
        }
    }
    let mut decided = plan.decide(ctx, &req.approval).await?;
    super::check_write_roles(graph, &decided.approved_ids())?;
    let mut drop_keys = Vec::new();
    for step in decided.approved_steps() {
        if let Some(k) = step.id.strip_prefix("secret:") {
            remove_password(graph, app.id(), k).await?;
            decided.done(&step.id);
        } else if let Some(k) = step.id.strip_prefix("certificate:") {
            drop_keys.push((k.to_ascii_lowercase(), step.id.clone()));
        }
    }
    if !drop_keys.is_empty() {
        let ids: Vec<String> = drop_keys.iter().map(|(k, _)| k.clone()).collect();
        remove_keys(graph, app.id(), &ids).await?;
        for (_, step) in &drop_keys {
            decided.done(step);
        }
    }
    Ok(decided.report_with(json!({})))
}

/// Removes the secret `key_id` from the app; one that is gone already counts as removed.
pub(crate) async fn remove_password(graph: &Graph<'_>, app_object_id: &str, key_id: &str) -> Result<(), KodoError> {
    let request = Request::post(
        format!("applications/{app_object_id}/removePassword"),
        json!({ "keyId": key_id }),
        Retry::Idempotent,
    );
    let r = graph.send(&request).await?;
    if !r.ok() && r.status != 404 {
        return Err(graph_error("POST", "removePassword", &r));
    }
    Ok(())
}

/// Removes the certificates `key_ids` from the app. keyCredentials is replaced as a whole
/// (facts.md §3.4, §3.8): it is read with its keys, and the ones that stay are sent back.
pub(crate) async fn remove_keys(graph: &Graph<'_>, app_object_id: &str, key_ids: &[String]) -> Result<(), KodoError> {
    let current: Application =
        graph.get(format!("applications/{app_object_id}?$select=keyCredentials"), Retry::Idempotent).await?;
    let dropped =
        |c: &KeyCredential| c.key_id.as_deref().is_some_and(|x| key_ids.iter().any(|k| k.eq_ignore_ascii_case(x)));
    let kept: Vec<KeyCredential> =
        current.key_credentials.unwrap_or_default().into_iter().filter(|c| !dropped(c)).collect();
    let request =
        Request::patch(format!("applications/{app_object_id}"), json!({ "keyCredentials": kept }), Retry::Idempotent);
    graph.call(&request).await?;
    Ok(())
}
