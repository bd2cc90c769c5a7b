//! Onboarding: the seed procedure's steps 4-14 through Microsoft Graph.
//!
//! Each step reads the tenant, plans (a list of changes, each with a stable id), and applies the
//! planned changes the host approved (`-WhatIf`/`-Confirm`). A re-run plans nothing for what is
//! already in place. Permission names are resolved against the tenant's live resource service
//! principals, never against hard-coded ids.

use crate::engine::OpContext;
use crate::error::{ErrorCode, KodoError};
use crate::graph::{Graph, Retry, graph_error};
use crate::protocol::LogLevel;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};

/// The tag Kodo writes on its app registration, to find it again (never by name alone).
pub const KODO_TAG: &str = "KodoManaged";

/// Client secret lifetime: Graph's default is two years (facts.md §3.7); Kodo also caps there.
pub const SECRET_DAYS_DEFAULT: u32 = 730;
pub const SECRET_DAYS_MAX: u32 = 730;

#[derive(Debug, Clone, serde::Serialize, Deserialize)]
pub struct PlanItem {
    pub id: String,
    pub action: String,
    pub target: String,
}

pub(crate) fn item(id: impl Into<String>, action: impl Into<String>, target: impl Into<String>) -> PlanItem {
    PlanItem { id: id.into(), action: action.into(), target: target.into() }
}

fn approved(approved: &Option<Vec<String>>, id: &str) -> bool {
    approved.as_ref().is_none_or(|a| a.iter().any(|x| x == id))
}

/// Which planned steps may run. With `ask`, the host is asked once for the whole plan (an
/// `approve` prompt answered through `kodo_op_respond`: PowerShell's ShouldProcess per step), so
/// the reads behind the plan are made once; otherwise the request's `approved` list (None: all).
/// `Ok(None)` with `ask` means every step; `Ok(Some(empty))` means none: the caller returns its
/// dry-run answer.
pub(crate) async fn approval(
    ctx: &OpContext,
    plan: &[PlanItem],
    ask: bool,
    approved: &Option<Vec<String>>,
) -> Result<Option<Vec<String>>, KodoError> {
    if !ask || plan.is_empty() {
        return Ok(approved.clone());
    }
    let answer = ctx
        .ask_within(
            "approve",
            "Approve the planned changes.",
            json!({ "plan": plan }),
            std::time::Duration::from_secs(24 * 3600),
        )
        .await?;
    let ids = answer["approved"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    Ok(Some(ids))
}

/// True when a plan had steps and none was approved.
pub(crate) fn declined(plan: &[PlanItem], approved: &Option<Vec<String>>) -> bool {
    !plan.is_empty() && approved.as_ref().is_some_and(Vec::is_empty)
}

fn esc(s: &str) -> String {
    // OData literal: double single quotes, then percent-encode (facts.md §3.3).
    form_urlencoded::byte_serialize(s.replace('\'', "''").as_bytes()).collect()
}

// ------------------------------------------------------------------------------ New-KodoApp

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnsureApp {
    pub display_name: String,
    #[serde(default)]
    pub app_id: Option<String>,
    #[serde(default)]
    pub new_secret: bool,
    #[serde(default)]
    pub secret_lifetime_days: Option<u32>,
    /// A certificate (base64 DER, public part only) to add as a credential. The host keeps the
    /// private key (generated there, or the admin's).
    #[serde(default)]
    pub certificate: Option<String>,
    /// The API permissions to declare when the app is created (Invoke-KodoOnboarding): saves
    /// Grant-KodoPermissions a write.
    #[serde(default)]
    pub required_resource_access: Option<Value>,
    /// The caller already looked for the app (by Kodo's tag) and found none.
    #[serde(skip)]
    pub known_absent: bool,
    /// The caller already read the app (by Kodo's tag, with the fields New-KodoApp reads).
    #[serde(skip)]
    pub known_app: Option<Value>,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub approved: Option<Vec<String>>,
    /// Ask the host to approve the plan (an `approve` prompt) instead of a dry run + a re-run.
    #[serde(default)]
    pub ask_approval: bool,
}

fn validate_display_name(name: &str) -> Result<(), KodoError> {
    let bad = |m: &str| Err(KodoError::new(ErrorCode::InvalidArgument, m.to_string()).with_target(name.to_string()));
    if name.trim().is_empty() {
        return bad("The display name is empty.");
    }
    if name.chars().count() > 256 {
        return bad("The display name is longer than 256 characters.");
    }
    if name.chars().any(char::is_control) {
        return bad("The display name contains control characters.");
    }
    Ok(())
}

const APP_SELECT: &str = "id,appId,displayName,tags,passwordCredentials,keyCredentials,requiredResourceAccess";

pub async fn ensure_app(ctx: &OpContext, graph: &Graph<'_>, req: EnsureApp) -> Result<Value, KodoError> {
    validate_display_name(&req.display_name)?;
    let days = req.secret_lifetime_days.unwrap_or(SECRET_DAYS_DEFAULT);
    if days == 0 || days > SECRET_DAYS_MAX {
        return Err(KodoError::new(
            ErrorCode::InvalidArgument,
            format!("-SecretLifetime must be between 1 day and {SECRET_DAYS_MAX} days (24 months)."),
        ));
    }
    if let Some(a) = &req.app_id {
        if uuid::Uuid::parse_str(a).is_err() {
            return Err(KodoError::new(ErrorCode::InvalidArgument, format!("-AppId '{a}' is not a GUID."))
                .with_target(a.clone()));
        }
    }
    ctx.progress("New-KodoApp", "Looking for the Kodo app", Some(10));
    // Find: by appId, or by Kodo's tag; never by display name alone.
    let mut app: Option<Value> = match &req.app_id {
        _ if req.known_absent => None,
        _ if req.known_app.is_some() => req.known_app.clone(),
        Some(a) => {
            let r = graph
                .send(
                    "GET",
                    &format!("applications(appId='{}')?$select={APP_SELECT}", esc(a)),
                    None,
                    Retry::ThrottleOnly,
                )
                .await?;
            if r.status == 404 {
                return Err(KodoError::new(
                    ErrorCode::NotFound,
                    format!("No app registration with appId {a} exists in this tenant."),
                )
                .with_target(a.clone()));
            }
            if !r.ok() {
                return Err(graph_error("GET", "applications", &r));
            }
            Some(r.body)
        }
        None => {
            let list = graph
                .call(
                    "GET",
                    &format!("applications?$filter=tags/any(t:t eq '{KODO_TAG}')&$select={APP_SELECT}"),
                    None,
                    Retry::ThrottleOnly,
                )
                .await?;
            let found = list["value"].as_array().cloned().unwrap_or_default();
            if found.len() > 1 {
                let names: Vec<String> = found
                    .iter()
                    .map(|a| {
                        format!(
                            "'{}' (appId {})",
                            a["displayName"].as_str().unwrap_or(""),
                            a["appId"].as_str().unwrap_or("")
                        )
                    })
                    .collect();
                return Err(KodoError::new(
                    ErrorCode::AlreadyExists,
                    format!(
                        "More than one app registration carries Kodo's tag: {}. Choose one with -AppId.",
                        names.join(" and ")
                    ),
                ));
            }
            found.into_iter().next()
        }
    };
    let mut plan = Vec::new();
    if app.is_none() {
        plan.push(item(
            "createApp",
            "Create app registration (single tenant, tagged KodoManaged)",
            req.display_name.clone(),
        ));
    }
    let mut sp_id: Option<String> = None;
    if let Some(a) = &app {
        let r = graph
            .send(
                "GET",
                &format!("servicePrincipals(appId='{}')?$select=id", a["appId"].as_str().unwrap_or("")),
                None,
                Retry::ThrottleOnly,
            )
            .await?;
        if r.ok() {
            sp_id = r.body["id"].as_str().map(str::to_string);
        } else if r.status != 404 {
            return Err(graph_error("GET", "servicePrincipals", &r));
        }
    }
    let target = app.as_ref().and_then(|a| a["displayName"].as_str()).unwrap_or(&req.display_name).to_string();
    if sp_id.is_none() {
        plan.push(item(
            "createServicePrincipal",
            "Create the app's service principal (enterprise application)",
            target.clone(),
        ));
    }
    let now = chrono::Utc::now();
    let live_secret = app.as_ref().is_some_and(|a| {
        a["passwordCredentials"].as_array().is_some_and(|l| {
            l.iter().any(|c| {
                c["endDateTime"]
                    .as_str()
                    .and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok())
                    .is_some_and(|e| e > now)
            })
        })
    });
    if app.is_none() || req.new_secret || !live_secret {
        plan.push(item("addPassword", format!("Create a client secret valid for {days} days"), target.clone()));
    }
    let cert = match &req.certificate {
        Some(b64) => {
            let der = crate::emulator::pki::b64_decode(b64)
                .ok_or_else(|| KodoError::new(ErrorCode::InvalidArgument, "The certificate is not base64 DER."))?;
            let (_, not_after) = crate::emulator::pki::validity_of(&der).map_err(|e| {
                KodoError::new(ErrorCode::InvalidArgument, format!("The certificate cannot be read: {e}"))
            })?;
            if not_after < now.timestamp() {
                return Err(KodoError::new(ErrorCode::InvalidArgument, "The certificate has expired."));
            }
            let thumbprint = crate::emulator::pki::sha1_hex(&der);
            let present = app.as_ref().is_some_and(|a| {
                a["keyCredentials"].as_array().is_some_and(|k| {
                    k.iter()
                        .any(|c| c["customKeyIdentifier"].as_str().is_some_and(|t| t.eq_ignore_ascii_case(&thumbprint)))
                })
            });
            if !present {
                plan.push(item(
                    "addCertificate",
                    format!("Add certificate {thumbprint} as a credential"),
                    target.clone(),
                ));
            }
            Some((der, thumbprint))
        }
        None => None,
    };
    let approved_ids = approval(ctx, &plan, req.ask_approval, &req.approved).await?;
    if req.dry_run || declined(&plan, &approved_ids) {
        return Ok(json!({ "plan": plan, "app": app, "servicePrincipalId": sp_id, "changes": [] }));
    }
    let mut changes = Vec::new();
    let mut secret: Option<Value> = None;
    let with_password = plan.iter().any(|p| p.id == "addPassword") && approved(&approved_ids, "addPassword");
    for step in &plan {
        if !approved(&approved_ids, &step.id) {
            continue;
        }
        match step.id.as_str() {
            "createApp" => {
                ctx.progress("New-KodoApp", "Creating the app registration", Some(30));
                let mut body = json!({
                    "displayName": req.display_name,
                    "signInAudience": "AzureADMyOrg",
                    "tags": [KODO_TAG],
                    "notes": format!("Created by Kodo {} for KODO for Cloud backup.", env!("CARGO_PKG_VERSION")),
                });
                if let Some(rra) = &req.required_resource_access {
                    body["requiredResourceAccess"] = rra.clone();
                }
                // Never retried except when throttled (not executed): a re-run finds it by tag.
                let created = graph.call("POST", "applications", Some(&body), Retry::ThrottleOnly).await?;
                ctx.log(
                    LogLevel::Verbose,
                    format!(
                        "Created app registration '{}' (appId {}).",
                        req.display_name,
                        created["appId"].as_str().unwrap_or("")
                    ),
                );
                app = Some(created);
            }
            "createServicePrincipal" => {
                ctx.progress("New-KodoApp", "Creating the service principal", Some(60));
                let app_id = app.as_ref().and_then(|a| a["appId"].as_str()).unwrap_or("").to_string();
                // NoBackingApplicationObject while the new app replicates: nothing was created,
                // so repeating is safe (facts.md §3.12). The secret, when planned too, goes in
                // the same $batch: both need only the app.
                let mut writes = vec![(
                    "POST".to_string(),
                    "servicePrincipals".to_string(),
                    Some(json!({ "appId": app_id })),
                    Retry::Idempotent,
                )];
                if with_password {
                    writes.push(password_request(app.as_ref(), now, days));
                }
                let answers = graph.batch(&writes).await?;
                let r = &answers[0];
                if r.ok() {
                    sp_id = r.body["id"].as_str().map(str::to_string);
                } else if r.status == 409 {
                    let existing = graph
                        .call(
                            "GET",
                            &format!("servicePrincipals(appId='{app_id}')?$select=id"),
                            None,
                            Retry::Replication,
                        )
                        .await?;
                    sp_id = existing["id"].as_str().map(str::to_string);
                } else {
                    return Err(graph_error("POST", "servicePrincipals", r));
                }
                if with_password {
                    secret = Some(password_answer(&answers[1])?);
                }
            }
            "addCertificate" => {
                ctx.progress("New-KodoApp", "Adding the certificate", Some(90));
                let (der, thumbprint) = cert.as_ref().expect("planned only with a certificate");
                let id = app.as_ref().and_then(|a| a["id"].as_str()).unwrap_or("").to_string();
                // keyCredentials is replaced as a whole (facts.md §3.4, §3.8): re-send the keys
                // the app has, read with $select so that `key` is included.
                let current = graph
                    .call("GET", &format!("applications/{id}?$select=keyCredentials"), None, Retry::Replication)
                    .await?;
                let mut keys = current["keyCredentials"].as_array().cloned().unwrap_or_default();
                keys.push(json!({
                    "type": "AsymmetricX509Cert", "usage": "Verify", "key": crate::emulator::pki::b64(der),
                    "displayName": format!("Kodo {}", now.format("%Y-%m-%d")),
                }));
                graph
                    .call(
                        "PATCH",
                        &format!("applications/{id}"),
                        Some(&json!({ "keyCredentials": keys })),
                        Retry::Idempotent,
                    )
                    .await?;
                let refreshed = graph
                    .call("GET", &format!("applications/{id}?$select={APP_SELECT}"), None, Retry::Replication)
                    .await?;
                ctx.log(LogLevel::Verbose, format!("Added certificate {thumbprint} to the app."));
                app = Some(refreshed);
            }
            // Made with the service principal when both were planned.
            "addPassword" if secret.is_none() => {
                ctx.progress("New-KodoApp", "Creating a client secret", Some(80));
                let (m, p, b, r) = password_request(app.as_ref(), now, days);
                let answer = graph.send(&m, &p, b.as_ref(), r).await?;
                secret = Some(password_answer(&answer)?);
            }
            _ => {}
        }
        changes.push(step.clone());
    }
    if changes.is_empty() {
        ctx.log(LogLevel::Verbose, "The Kodo app is already in place: nothing to change.");
    }
    let app = app.ok_or_else(|| KodoError::new(ErrorCode::Internal, "no app after planning"))?;
    let thumbprint = cert.map(|(_, t)| t);
    Ok(
        json!({ "plan": plan, "changes": changes, "app": app, "servicePrincipalId": sp_id, "secret": secret, "certificateThumbprint": thumbprint }),
    )
}

/// The request that adds a client secret to `app`, valid for `days` (facts.md §3.4).
fn password_request(
    app: Option<&Value>,
    now: chrono::DateTime<chrono::Utc>,
    days: u32,
) -> (String, String, Option<Value>, Retry) {
    let id = app.and_then(|a| a["id"].as_str()).unwrap_or("");
    let end = (now + chrono::Duration::days(days as i64)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let body = json!({ "passwordCredential": { "displayName": format!("Kodo {}", now.format("%Y-%m-%d")), "endDateTime": end } });
    // A 404 while the new app replicates means nothing was added: safe to repeat.
    ("POST".into(), format!("applications/{id}/addPassword"), Some(body), Retry::Replication)
}

/// The secret from addPassword's answer (its text is shown once, here).
fn password_answer(r: &crate::graph::Response) -> Result<Value, KodoError> {
    if !r.ok() {
        return Err(graph_error("POST", "addPassword", r));
    }
    Ok(json!({ "secretText": r.body["secretText"], "keyId": r.body["keyId"], "endDateTime": r.body["endDateTime"] }))
}

// -------------------------------------------------------------------- Grant-KodoPermissions

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestRow {
    #[serde(default)]
    pub api: Option<String>,
    pub resource_app_id: String,
    pub permission: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub optional: bool,
    #[serde(default)]
    pub retired: Option<Value>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema: u32,
    #[serde(default)]
    pub name: Option<String>,
    pub permissions: Vec<ManifestRow>,
}

pub fn parse_manifest(v: &Value) -> Result<Manifest, KodoError> {
    let m: Manifest = serde_json::from_value(v.clone()).map_err(|e| {
        KodoError::new(ErrorCode::InvalidArgument, format!("The permission manifest is not valid: {e}."))
    })?;
    if m.schema != 1 {
        return Err(KodoError::new(
            ErrorCode::InvalidArgument,
            format!("The permission manifest has schema {}; this Kodo reads schema 1.", m.schema),
        ));
    }
    if m.permissions.is_empty() {
        return Err(KodoError::new(ErrorCode::InvalidArgument, "The permission manifest lists no permissions."));
    }
    for (i, r) in m.permissions.iter().enumerate() {
        let n = i + 1;
        if uuid::Uuid::parse_str(&r.resource_app_id).is_err() {
            return Err(KodoError::new(
                ErrorCode::InvalidArgument,
                format!("Manifest row {n}: resourceAppId '{}' is not a GUID.", r.resource_app_id),
            ));
        }
        if r.permission.trim().is_empty() {
            return Err(KodoError::new(
                ErrorCode::InvalidArgument,
                format!("Manifest row {n}: the permission name is empty."),
            ));
        }
        if r.kind != "Application" && r.kind != "Delegated" {
            return Err(KodoError::new(
                ErrorCode::InvalidArgument,
                format!("Manifest row {n}: type '{}' is neither Application nor Delegated.", r.kind),
            ));
        }
    }
    Ok(m)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrantPermissions {
    pub app_id: String,
    pub manifest: Value,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub approved: Option<Vec<String>>,
    /// Ask the host to approve the plan (an `approve` prompt) instead of a dry run + a re-run.
    #[serde(default)]
    pub ask_approval: bool,
    /// The app was just created (piped from New-KodoApp): wait out replication lag in full.
    #[serde(default)]
    pub just_created: bool,
}

/// What Grant-KodoPermissions plans from: the app, its service principal, the resource APIs'
/// service principals (by lower-case appId; None when the tenant lacks one), and what is granted.
pub struct GrantState {
    pub app: Value,
    pub sp_id: String,
    pub resource_sps: BTreeMap<String, Option<Value>>,
    pub assigned: HashSet<(String, String)>,
    pub grants: Vec<Value>,
}

/// The resource APIs a manifest names (lower-case appIds, in manifest order).
fn manifest_resources(manifest: &Manifest) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for r in &manifest.permissions {
        if !seen.iter().any(|s| s.eq_ignore_ascii_case(&r.resource_app_id)) {
            seen.push(r.resource_app_id.to_ascii_lowercase());
        }
    }
    seen
}

/// The read of a resource API's service principal (its app roles and delegated scopes).
fn resource_lookup(resource_app_id: &str) -> (String, String, Option<Value>, Retry) {
    (
        "GET".into(),
        format!(
            "servicePrincipals(appId='{resource_app_id}')?$select=id,appId,displayName,appRoles,oauth2PermissionScopes"
        ),
        None,
        Retry::ThrottleOnly,
    )
}

/// What Kodo uses of a resource API's service principal: its ids and, of each app role and
/// delegated scope, the id, the name and who may hold it (not the descriptions, which are most
/// of Microsoft Graph's 800 KB).
fn compact_resource_sp(sp: &Value) -> Value {
    let pick = |list: &str, keys: &[&str]| -> Value {
        Value::Array(
            sp[list]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|p| Value::Object(keys.iter().map(|k| (k.to_string(), p[*k].clone())).collect()))
                        .collect()
                })
                .unwrap_or_default(),
        )
    };
    json!({
        "id": sp["id"], "appId": sp["appId"], "displayName": sp["displayName"],
        "appRoles": pick("appRoles", &["id", "value", "allowedMemberTypes"]),
        "oauth2PermissionScopes": pick("oauth2PermissionScopes", &["id", "value"]),
    })
}

/// The resource service principals from the answers to `resource_lookup`s.
fn resource_sps_from(
    resources: &[String],
    answers: &[crate::graph::Response],
) -> Result<BTreeMap<String, Option<Value>>, KodoError> {
    let mut resource_sps = BTreeMap::new();
    for (r, resp) in resources.iter().zip(answers) {
        resource_sps.insert(
            r.clone(),
            if resp.ok() {
                Some(compact_resource_sp(&resp.body))
            } else if resp.status == 404 {
                None
            } else {
                return Err(graph_error("GET", "servicePrincipals", resp));
            },
        );
    }
    Ok(resource_sps)
}

pub async fn grant_permissions(ctx: &OpContext, graph: &Graph<'_>, req: GrantPermissions) -> Result<Value, KodoError> {
    let manifest = parse_manifest(&req.manifest)?;
    if uuid::Uuid::parse_str(&req.app_id).is_err() {
        return Err(KodoError::new(ErrorCode::InvalidArgument, format!("-AppId '{}' is not a GUID.", req.app_id)));
    }
    ctx.progress("Grant-KodoPermissions", "Reading the app and the tenant's APIs", Some(10));
    let resources = manifest_resources(&manifest);
    // One round of reads: the app, its SP, each resource SP (all through $batch).
    let lookup = if req.just_created { Retry::Replication } else { Retry::ReplicationShort };
    let mut reads: Vec<(String, String, Option<Value>, Retry)> = vec![
        (
            "GET".into(),
            format!(
                "applications(appId='{}')?$select=id,appId,displayName,requiredResourceAccess,keyCredentials",
                req.app_id
            ),
            None,
            lookup,
        ),
        ("GET".into(), format!("servicePrincipals(appId='{}')?$select=id,displayName", req.app_id), None, lookup),
    ];
    reads.extend(resources.iter().map(|r| resource_lookup(r)));
    let got = graph.batch(&reads).await?;
    if !got[0].ok() {
        return Err(if got[0].status == 404 {
            KodoError::new(
                ErrorCode::NotFound,
                format!("No app registration with appId {} exists in this tenant. Run New-KodoApp first.", req.app_id),
            )
        } else {
            graph_error("GET", "applications", &got[0])
        });
    }
    if !got[1].ok() {
        return Err(if got[1].status == 404 {
            KodoError::new(
                ErrorCode::NotFound,
                format!("The app {} has no service principal. Run New-KodoApp to create it.", req.app_id),
            )
        } else {
            graph_error("GET", "servicePrincipals", &got[1])
        });
    }
    let app = got[0].body.clone();
    let sp_id = got[1].body["id"].as_str().unwrap_or("").to_string();
    let resource_sps = resource_sps_from(&resources, &got[2..])?;
    // Current grants of the app.
    let state = graph
        .batch(&[
            ("GET".into(), format!("servicePrincipals/{sp_id}/appRoleAssignments"), None, Retry::Replication),
            ("GET".into(), format!("oauth2PermissionGrants?$filter=clientId eq '{sp_id}'"), None, Retry::Replication),
        ])
        .await?;
    for s in &state {
        if !s.ok() {
            return Err(graph_error("GET", "servicePrincipals", s));
        }
    }
    let assigned: HashSet<(String, String)> = state[0].body["value"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|a| {
            (
                a["resourceId"].as_str().unwrap_or("").to_ascii_lowercase(),
                a["appRoleId"].as_str().unwrap_or("").to_ascii_lowercase(),
            )
        })
        .collect();
    let grants: Vec<Value> = state[1].body["value"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|g| g["consentType"] == "AllPrincipals")
        .collect();
    grant_with_state(ctx, graph, &req, &manifest, GrantState { app, sp_id, resource_sps, assigned, grants }).await
}

/// A manifest resolved by name against the tenant's resource APIs.
pub struct Resolution {
    /// One result row per manifest row (status set for duplicates, retired and missing rows).
    pub rows: Vec<Value>,
    /// The rows to grant: (row index, resourceAppId, resource service principal id, permission id).
    pub resolved: Vec<(usize, String, String, String)>,
    /// Required rows the tenant does not offer.
    pub missing: Vec<String>,
}

/// Resolves every manifest row by name against the resource APIs' service principals (by
/// lower-case appId): application permissions against appRoles that apps may hold, delegated
/// ones against oauth2PermissionScopes. No I/O: benchmarked in benches/native.rs.
pub fn resolve_manifest(manifest: &Manifest, resource_sps: &BTreeMap<String, Option<Value>>) -> Resolution {
    let mut rows = Vec::new();
    let mut missing = Vec::new();
    let mut seen_rows: HashSet<(String, String, String)> = HashSet::new();
    let mut resolved: Vec<(usize, String, String, String)> = Vec::new(); // (row, resourceAppId, resource SP id, permission id)
    for (i, r) in manifest.permissions.iter().enumerate() {
        let key = (r.resource_app_id.to_ascii_lowercase(), r.permission.to_ascii_lowercase(), r.kind.clone());
        // Borrowed: a resource service principal (Graph's has 716 app roles) is large to copy.
        let sp = resource_sps.get(&key.0).and_then(Option::as_ref);
        let api = r
            .api
            .clone()
            .or_else(|| sp.as_ref().and_then(|s| s["displayName"].as_str().map(str::to_string)))
            .unwrap_or_else(|| r.resource_app_id.clone());
        let mut row = json!({ "row": i + 1, "api": api, "resourceAppId": r.resource_app_id, "permission": r.permission, "type": r.kind, "note": r.note, "id": null });
        if !seen_rows.insert(key.clone()) {
            row["status"] = "Duplicate".into();
            rows.push(row);
            continue;
        }
        let found = sp.as_ref().and_then(|s| {
            let (list, member) =
                if r.kind == "Application" { ("appRoles", true) } else { ("oauth2PermissionScopes", false) };
            s[list]
                .as_array()?
                .iter()
                .find(|p| {
                    p["value"].as_str().is_some_and(|v| v.eq_ignore_ascii_case(&r.permission))
                        && (!member
                            || p["allowedMemberTypes"].as_array().is_some_and(|m| m.iter().any(|x| x == "Application")))
                })
                .cloned()
        });
        if let Some(retired) = &r.retired {
            row["status"] = "Retired".into();
            row["retired"] = retired.clone();
            row["offered"] = found.is_some().into();
            if let Some(f) = &found {
                row["id"] = f["id"].clone();
            }
            rows.push(row);
            continue;
        }
        match (sp.as_ref(), found) {
            (Some(s), Some(f)) => {
                row["id"] = f["id"].clone();
                row["permission"] = f["value"].clone();
                resolved.push((
                    rows.len(),
                    r.resource_app_id.to_ascii_lowercase(),
                    s["id"].as_str().unwrap_or("").to_string(),
                    f["id"].as_str().unwrap_or("").to_ascii_lowercase(),
                ));
                rows.push(row);
            }
            _ => {
                row["status"] = "NotOffered".into();
                if !r.optional {
                    missing.push(format!("row {} {} {} ({})", i + 1, api, r.permission, r.kind));
                }
                rows.push(row);
            }
        }
    }
    Resolution { rows, resolved, missing }
}

/// The app's requiredResourceAccess with every resolved permission declared, and whether that
/// added anything. No I/O.
pub fn declare_permissions(
    existing: &Value,
    rows: &[Value],
    resolved: &[(usize, String, String, String)],
) -> (Vec<Value>, bool) {
    let mut rra: Vec<Value> = existing.as_array().cloned().unwrap_or_default();
    let mut rra_changed = false;
    for (row_i, res_app, _, perm_id) in resolved {
        let kind = if rows[*row_i]["type"] == "Application" { "Role" } else { "Scope" };
        let entry = match rra
            .iter_mut()
            .position(|e| e["resourceAppId"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(res_app)))
        {
            Some(p) => p,
            None => {
                rra.push(json!({ "resourceAppId": res_app, "resourceAccess": [] }));
                rra.len() - 1
            }
        };
        let list = rra[entry]["resourceAccess"].as_array_mut().expect("array");
        if !list.iter().any(|a| a["id"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(perm_id)) && a["type"] == kind)
        {
            list.push(json!({ "id": perm_id, "type": kind }));
            rra_changed = true;
        }
    }
    (rra, rra_changed)
}

/// Resolves the manifest against the tenant, plans what is missing, asks for approval and
/// grants it: Grant-KodoPermissions after its reads, and Invoke-KodoOnboarding for a new app
/// (whose state it knows without reading).
async fn grant_with_state(
    ctx: &OpContext,
    graph: &Graph<'_>,
    req: &GrantPermissions,
    manifest: &Manifest,
    state: GrantState,
) -> Result<Value, KodoError> {
    let GrantState { app, sp_id, resource_sps, assigned, grants } = state;
    let Resolution { mut rows, resolved, missing } = resolve_manifest(manifest, &resource_sps);
    if !missing.is_empty() {
        return Err(KodoError::new(
            ErrorCode::InvalidArgument,
            format!(
                "Nothing was changed: this tenant does not offer {} of the manifest's permissions: {}. Fix the manifest (a typo?) or mark those rows \"optional\": true.",
                missing.len(),
                missing.join("; ")
            ),
        ));
    }

    // Plan.
    let mut plan = Vec::new();
    let app_name = app["displayName"].as_str().unwrap_or("").to_string();
    let (rra, rra_changed) = declare_permissions(&app["requiredResourceAccess"], &rows, &resolved);
    if rra_changed {
        plan.push(item(
            "requiredResourceAccess",
            "Declare the API permissions (requiredResourceAccess)",
            app_name.clone(),
        ));
    }
    let mut assign_items = Vec::new();
    for (row_i, res_app, res_sp, perm_id) in &resolved {
        if rows[*row_i]["type"] != "Application" {
            continue;
        }
        if assigned.contains(&(res_sp.to_ascii_lowercase(), perm_id.clone())) {
            rows[*row_i]["status"] = "AlreadyPresent".into();
        } else {
            let id = format!("assign:{res_app}:{perm_id}");
            plan.push(item(
                id.clone(),
                format!(
                    "Grant admin consent to {} {} (application)",
                    rows[*row_i]["api"].as_str().unwrap_or(""),
                    rows[*row_i]["permission"].as_str().unwrap_or("")
                ),
                app_name.clone(),
            ));
            assign_items.push((id, *row_i, res_sp.clone(), perm_id.clone()));
        }
    }
    // Delegated: one AllPrincipals grant per resource holding every scope (merged with what is there).
    let mut grant_items = Vec::new();
    let mut by_resource: BTreeMap<String, (String, Vec<usize>)> = BTreeMap::new();
    for (row_i, res_app, res_sp, _) in &resolved {
        if rows[*row_i]["type"] == "Delegated" {
            by_resource.entry(res_app.clone()).or_insert_with(|| (res_sp.clone(), Vec::new())).1.push(*row_i);
        }
    }
    for (res_app, (res_sp, row_ids)) in &by_resource {
        let existing = grants.iter().find(|g| g["resourceId"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(res_sp)));
        let have: Vec<String> =
            existing.and_then(|g| g["scope"].as_str()).unwrap_or("").split_whitespace().map(str::to_string).collect();
        let mut want = have.clone();
        for r in row_ids {
            let p = rows[*r]["permission"].as_str().unwrap_or("").to_string();
            if have.iter().any(|h| h.eq_ignore_ascii_case(&p)) {
                rows[*r]["status"] = "AlreadyPresent".into();
            } else if !want.iter().any(|h| h.eq_ignore_ascii_case(&p)) {
                want.push(p);
            }
        }
        if want.len() != have.len() {
            let id = format!("grant:{res_app}");
            let api = rows[row_ids[0]]["api"].as_str().unwrap_or("").to_string();
            plan.push(item(
                id.clone(),
                format!("Grant admin consent to {api} delegated permissions for all users ({})", want.join(" ")),
                app_name.clone(),
            ));
            grant_items.push((
                id,
                existing.and_then(|g| g["id"].as_str()).map(str::to_string),
                res_sp.clone(),
                want,
                row_ids.clone(),
            ));
        }
    }
    let approved_ids = approval(ctx, &plan, req.ask_approval, &req.approved).await?;
    if req.dry_run || declined(&plan, &approved_ids) {
        for (_, r, _, _) in &assign_items {
            rows[*r]["status"] = "WouldGrant".into();
        }
        for (_, _, _, _, rs) in &grant_items {
            for r in rs {
                if rows[*r]["status"].is_null() {
                    rows[*r]["status"] = "WouldGrant".into();
                }
            }
        }
        acs_row(&mut rows, &app);
        return Ok(
            json!({ "plan": plan, "rows": rows, "changes": [], "requiredResourceAccess": rra, "roundTrips": graph.round_trips.load(std::sync::atomic::Ordering::Relaxed) }),
        );
    }

    // Apply what was approved: every write in one $batch (20 a round trip); none depends on
    // another's answer.
    enum Write {
        Rra,
        Assign(usize),
        Grant(usize),
    }
    let mut changes = Vec::new();
    let mut writes: Vec<(String, String, Option<Value>, Retry)> = Vec::new();
    let mut kinds = Vec::new();
    if rra_changed && approved(&approved_ids, "requiredResourceAccess") {
        let id = app["id"].as_str().unwrap_or("");
        writes.push((
            "PATCH".into(),
            format!("applications/{id}"),
            Some(json!({ "requiredResourceAccess": rra })),
            Retry::Idempotent,
        ));
        kinds.push(Write::Rra);
    }
    for (k, (id, _, res_sp, perm)) in assign_items.iter().enumerate() {
        if approved(&approved_ids, id) {
            writes.push((
                "POST".into(),
                format!("servicePrincipals/{res_sp}/appRoleAssignedTo"),
                Some(json!({ "principalId": sp_id, "resourceId": res_sp, "appRoleId": perm })),
                Retry::Idempotent,
            ));
            kinds.push(Write::Assign(k));
        }
    }
    for (k, (id, existing, res_sp, want, _)) in grant_items.iter().enumerate() {
        if !approved(&approved_ids, id) {
            continue;
        }
        let scope = want.join(" ");
        writes.push(match existing {
            Some(gid) => (
                "PATCH".into(),
                format!("oauth2PermissionGrants/{gid}"),
                Some(json!({ "scope": scope })),
                Retry::Idempotent,
            ),
            // A repeat after a lost answer fails with 409, handled below: safe to retry.
            None => (
                "POST".into(),
                "oauth2PermissionGrants".into(),
                Some(
                    json!({ "clientId": sp_id, "consentType": "AllPrincipals", "principalId": null, "resourceId": res_sp, "scope": scope }),
                ),
                Retry::Idempotent,
            ),
        });
        kinds.push(Write::Grant(k));
    }
    if !writes.is_empty() {
        ctx.progress("Grant-KodoPermissions", format!("Granting: {} changes", writes.len()), Some(60));
    }
    let results = if writes.is_empty() { Vec::new() } else { graph.batch(&writes).await? };
    for (kind, r) in kinds.iter().zip(results.iter()) {
        match kind {
            Write::Rra => {
                if !r.ok() {
                    return Err(graph_error("PATCH", "applications", r));
                }
                changes.push(plan.iter().find(|p| p.id == "requiredResourceAccess").cloned());
            }
            Write::Assign(k) => {
                let (id, row_i, _, _) = &assign_items[*k];
                if r.ok() || r.message() == "Permission being assigned already exists on the object" {
                    rows[*row_i]["status"] = if r.ok() { "Granted".into() } else { "AlreadyPresent".into() };
                    changes.push(plan.iter().find(|p| &p.id == id).cloned());
                } else {
                    return Err(graph_error("POST", "appRoleAssignedTo", r));
                }
            }
            Write::Grant(k) => {
                let (id, existing, res_sp, want, row_ids) = &grant_items[*k];
                if existing.is_none() && r.status == 409 {
                    // Created by an interrupted earlier run: find it and merge.
                    merge_grant(graph, &sp_id, res_sp, want).await?;
                } else if !r.ok() {
                    return Err(graph_error(
                        if existing.is_some() { "PATCH" } else { "POST" },
                        "oauth2PermissionGrants",
                        r,
                    ));
                }
                for r in row_ids {
                    if rows[*r]["status"].is_null() {
                        rows[*r]["status"] = "Granted".into();
                    }
                }
                changes.push(plan.iter().find(|p| &p.id == id).cloned());
            }
        }
    }
    for r in rows.iter_mut() {
        if r["status"].is_null() {
            r["status"] = "Skipped".into();
        }
    }
    acs_row(&mut rows, &app);
    if changes.is_empty() {
        ctx.log(LogLevel::Verbose, "Every permission is already granted: nothing to change.");
    }
    Ok(
        json!({ "plan": plan, "rows": rows, "changes": changes.into_iter().flatten().collect::<Vec<_>>(), "roundTrips": graph.round_trips.load(std::sync::atomic::Ordering::Relaxed) }),
    )
}

/// A delegated grant that already exists (an interrupted earlier run created it): add the scopes
/// it lacks.
async fn merge_grant(graph: &Graph<'_>, sp_id: &str, res_sp: &str, want: &[String]) -> Result<(), KodoError> {
    let list = graph
        .call("GET", &format!("oauth2PermissionGrants?$filter=clientId eq '{sp_id}'"), None, Retry::Replication)
        .await?;
    if let Some(g) = list["value"].as_array().and_then(|l| {
        l.iter().find(|g| {
            g["resourceId"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(res_sp))
                && g["consentType"] == "AllPrincipals"
        })
    }) {
        let mut merged: Vec<String> =
            g["scope"].as_str().unwrap_or("").split_whitespace().map(str::to_string).collect();
        for w in want {
            if !merged.iter().any(|m| m.eq_ignore_ascii_case(w)) {
                merged.push(w.clone());
            }
        }
        graph
            .call(
                "PATCH",
                &format!("oauth2PermissionGrants/{}", g["id"].as_str().unwrap_or("")),
                Some(&json!({ "scope": merged.join(" ") })),
                Retry::Replication,
            )
            .await?;
    }
    Ok(())
}

/// SharePoint app-only access (facts.md §5.3, §8): the seed's step 15 grants it through
/// appinv.aspx (Azure ACS), retired for every tenant on 2026-04-02. Kodo reports that step and
/// whether its replacement (SharePoint Sites.FullControl.All as an application permission, and
/// a certificate credential: SharePoint takes app-only tokens only from a certificate) is in
/// place. Added when the manifest asks for SharePoint permissions.
fn acs_row(rows: &mut Vec<Value>, app: &Value) {
    let spo = "00000003-0000-0ff1-ce00-000000000000";
    if !rows.iter().any(|r| r["resourceAppId"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(spo))) {
        return;
    }
    let role = rows.iter().any(|r| {
        r["resourceAppId"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(spo))
            && r["permission"] == "Sites.FullControl.All"
            && r["type"] == "Application"
            && matches!(r["status"].as_str(), Some("Granted" | "AlreadyPresent"))
    });
    let certificate = app["keyCredentials"].as_array().is_some_and(|k| !k.is_empty());
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
    rows.push(json!({
        "row": null,
        "api": "SharePoint (Azure ACS, appinv.aspx)",
        "resourceAppId": spo,
        "permission": "http://sharepoint/content/tenant FullControl (AllowAppOnlyPolicy)",
        "type": "ACS",
        "status": "Retired",
        "id": null,
        "replacementInPlace": in_place,
        "retired": {
            "since": "2026-04-02",
            "what": "SharePoint Add-ins and Azure ACS app-only grants (appregnew.aspx/appinv.aspx) stopped working for every tenant",
            "replacement": format!("an Entra app with SharePoint Sites.FullControl.All and a certificate. {note}"),
            "source": "facts.md §5.3 (SharePoint/sp-dev-docs retirement announcement and FAQ)"
        },
        "note": note,
    }));
}

// ---------------------------------------------------------------------------- Remove-KodoApp

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemoveApp {
    pub app_id: String,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub approved: Option<Vec<String>>,
    /// Ask the host to approve the plan (an `approve` prompt) instead of a dry run + a re-run.
    #[serde(default)]
    pub ask_approval: bool,
}

/// Removes the app's delegated grants, its service principal (with its app role assignments)
/// and the app registration. Deleting the application is documented to soft-delete it for 30
/// days (facts.md §3.11); its service principal's removal is only "well known", so Kodo deletes
/// the service principal and the grants itself.
pub async fn remove_app(ctx: &OpContext, graph: &Graph<'_>, req: RemoveApp) -> Result<Value, KodoError> {
    if uuid::Uuid::parse_str(&req.app_id).is_err() {
        return Err(KodoError::new(ErrorCode::InvalidArgument, format!("-AppId '{}' is not a GUID.", req.app_id)));
    }
    // Absent is the normal answer on a re-run: no replication-lag retries here.
    let app = graph
        .send(
            "GET",
            &format!("applications(appId='{}')?$select=id,appId,displayName,tags", req.app_id),
            None,
            Retry::ThrottleOnly,
        )
        .await?;
    let sp = graph
        .send(
            "GET",
            &format!("servicePrincipals(appId='{}')?$select=id,displayName", req.app_id),
            None,
            Retry::ThrottleOnly,
        )
        .await?;
    if !app.ok() && app.status != 404 {
        return Err(graph_error("GET", "applications", &app));
    }
    let mut plan = Vec::new();
    let mut grants = Vec::new();
    let name = app.body["displayName"].as_str().unwrap_or(&req.app_id).to_string();
    let target = format!("{name} ({})", req.app_id);
    if sp.ok() {
        let sp_id = sp.body["id"].as_str().unwrap_or("").to_string();
        let list = graph
            .call("GET", &format!("oauth2PermissionGrants?$filter=clientId eq '{sp_id}'"), None, Retry::Idempotent)
            .await?;
        grants = list["value"].as_array().cloned().unwrap_or_default();
        if !grants.is_empty() {
            plan.push(item(
                "deleteGrants",
                format!("Revoke {} delegated permission grant(s)", grants.len()),
                target.clone(),
            ));
        }
        plan.push(item(
            "deleteServicePrincipal",
            "Delete the service principal and its app role assignments",
            target.clone(),
        ));
    }
    if app.ok() {
        plan.push(item(
            "deleteApp",
            "Delete the app registration (restorable for 30 days from deleted items)",
            target.clone(),
        ));
    }
    if plan.is_empty() {
        ctx.warn(format!(
            "No app registration or service principal with appId {} exists: nothing to remove.",
            req.app_id
        ));
    }
    let approved_ids = approval(ctx, &plan, req.ask_approval, &req.approved).await?;
    if req.dry_run || declined(&plan, &approved_ids) {
        return Ok(json!({ "plan": plan, "changes": [] }));
    }
    let mut changes = Vec::new();
    for step in &plan {
        if !approved(&approved_ids, &step.id) {
            continue;
        }
        match step.id.as_str() {
            "deleteGrants" => {
                for g in &grants {
                    delete(graph, "oauth2PermissionGrants", g["id"].as_str().unwrap_or("")).await?;
                }
            }
            "deleteServicePrincipal" => {
                delete(graph, "servicePrincipals", sp.body["id"].as_str().unwrap_or("")).await?
            }
            "deleteApp" => delete(graph, "applications", app.body["id"].as_str().unwrap_or("")).await?,
            _ => {}
        }
        changes.push(step.clone());
    }
    Ok(json!({ "plan": plan, "changes": changes }))
}

// ------------------------------------------------------------------------------- Test-KodoApp

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestApp {
    pub app_id: String,
    pub manifest: Value,
    /// Credentials expiring within this many days are a warning.
    #[serde(default = "default_warn_days")]
    pub warn_days: i64,
    /// Credentials of the app itself for the live check: sign in as the app with each and make
    /// one harmless call per API. Empty: no live check.
    #[serde(default)]
    pub sign_in: Vec<crate::auth::CredentialSpec>,
}

fn default_warn_days() -> i64 {
    30
}

fn check(area: &str, name: &str, status: &str, detail: impl Into<String>) -> Value {
    json!({ "area": area, "check": name, "status": status, "detail": detail.into() })
}

/// Audits the app against a manifest: each row required vs configured (requiredResourceAccess)
/// vs consented (assignment or grant); each credential's expiry; the SharePoint setting; and
/// retired items. Read-only.
pub async fn test_app(
    conn: &crate::auth::Connection,
    ctx: &OpContext,
    graph: &Graph<'_>,
    req: TestApp,
) -> Result<Value, KodoError> {
    let manifest = parse_manifest(&req.manifest)?;
    let reads = vec![
        (
            "GET".to_string(),
            format!(
                "applications(appId='{}')?$select=id,appId,displayName,requiredResourceAccess,passwordCredentials,keyCredentials",
                req.app_id
            ),
            None,
            Retry::ReplicationShort,
        ),
        (
            "GET".to_string(),
            format!("servicePrincipals(appId='{}')?$select=id", req.app_id),
            None,
            Retry::ReplicationShort,
        ),
    ];
    let got = graph.batch(&reads).await?;
    if !got[0].ok() {
        return Err(if got[0].status == 404 {
            KodoError::new(
                ErrorCode::NotFound,
                format!("No app registration with appId {} exists in this tenant.", req.app_id),
            )
        } else {
            graph_error("GET", "applications", &got[0])
        });
    }
    let app = &got[0].body;
    let mut checks = Vec::new();
    let sp_id = got[1].body["id"].as_str().unwrap_or("").to_string();
    if !got[1].ok() {
        checks.push(check(
            "App",
            "Service principal",
            "Fail",
            "The app has no service principal: nothing is consented. Run New-KodoApp.",
        ));
    }
    // Permissions: required vs configured vs consented.
    let mut resources: Vec<String> =
        manifest.permissions.iter().map(|r| r.resource_app_id.to_ascii_lowercase()).collect();
    resources.sort();
    resources.dedup();
    let mut lookups: Vec<(String, String, Option<Value>, Retry)> = resources
        .iter()
        .map(|r| {
            (
                "GET".to_string(),
                format!("servicePrincipals(appId='{r}')?$select=id,appRoles,oauth2PermissionScopes"),
                None,
                Retry::ThrottleOnly,
            )
        })
        .collect();
    if !sp_id.is_empty() {
        lookups.push(("GET".into(), format!("servicePrincipals/{sp_id}/appRoleAssignments"), None, Retry::Idempotent));
        lookups.push((
            "GET".into(),
            format!("oauth2PermissionGrants?$filter=clientId eq '{sp_id}'"),
            None,
            Retry::Idempotent,
        ));
    }
    let res = graph.batch(&lookups).await?;
    let assignments = if sp_id.is_empty() {
        Vec::new()
    } else {
        res[resources.len()].body["value"].as_array().cloned().unwrap_or_default()
    };
    let grants = if sp_id.is_empty() {
        Vec::new()
    } else {
        res[resources.len() + 1].body["value"].as_array().cloned().unwrap_or_default()
    };
    let rra = app["requiredResourceAccess"].as_array().cloned().unwrap_or_default();
    let mut seen = HashSet::new();
    for r in &manifest.permissions {
        let key = (r.resource_app_id.to_ascii_lowercase(), r.permission.to_ascii_lowercase(), r.kind.clone());
        if !seen.insert(key.clone()) {
            continue;
        }
        let name =
            format!("{} {} ({})", r.api.clone().unwrap_or_else(|| r.resource_app_id.clone()), r.permission, r.kind);
        if let Some(retired) = &r.retired {
            let requested = rra
                .iter()
                .any(|e| e["resourceAppId"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(&r.resource_app_id)));
            let status = if requested { "Warn" } else { "Info" };
            checks.push(check(
                "Permission",
                &name,
                status,
                format!(
                    "Retired since {}: {}.{}",
                    retired["since"].as_str().unwrap_or("?"),
                    retired["what"].as_str().unwrap_or(""),
                    if requested {
                        " The app still requests this retired API: remove it from the app's API permissions."
                    } else {
                        ""
                    }
                ),
            ));
            continue;
        }
        let idx = resources.iter().position(|x| *x == key.0).unwrap_or(0);
        let sp = &res[idx];
        let (list, kind) =
            if r.kind == "Application" { ("appRoles", "Role") } else { ("oauth2PermissionScopes", "Scope") };
        let found = if sp.ok() {
            sp.body[list]
                .as_array()
                .and_then(|l| {
                    l.iter().find(|p| p["value"].as_str().is_some_and(|v| v.eq_ignore_ascii_case(&r.permission)))
                })
                .cloned()
        } else {
            None
        };
        let Some(found) = found else {
            checks.push(check(
                "Permission",
                &name,
                if r.optional { "Info" } else { "Fail" },
                "This tenant does not offer this permission.",
            ));
            continue;
        };
        let perm_id = found["id"].as_str().unwrap_or("").to_ascii_lowercase();
        let configured = rra.iter().any(|e| {
            e["resourceAppId"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(&r.resource_app_id))
                && e["resourceAccess"].as_array().is_some_and(|a| {
                    a.iter().any(|p| {
                        p["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(&perm_id)) && p["type"] == kind
                    })
                })
        });
        let resource_id = sp.body["id"].as_str().unwrap_or("").to_ascii_lowercase();
        let consented = if r.kind == "Application" {
            assignments.iter().any(|a| {
                a["resourceId"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(&resource_id))
                    && a["appRoleId"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(&perm_id))
            })
        } else {
            grants.iter().any(|g| {
                g["consentType"] == "AllPrincipals"
                    && g["resourceId"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(&resource_id))
                    && g["scope"]
                        .as_str()
                        .unwrap_or("")
                        .split_whitespace()
                        .any(|s| s.eq_ignore_ascii_case(&r.permission))
            })
        };
        let (status, detail) = match (configured, consented) {
            (true, true) => ("Pass", "Configured and consented.".to_string()),
            (false, true) => (
                "Warn",
                "Consented but not declared in the app's API permissions (requiredResourceAccess).".to_string(),
            ),
            (true, false) => {
                ("Fail", "Declared but admin consent is missing (revoked?). Run Grant-KodoPermissions.".to_string())
            }
            (false, false) => ("Fail", "Neither declared nor consented. Run Grant-KodoPermissions.".to_string()),
        };
        checks.push(check("Permission", &name, status, detail));
    }
    // Credentials and their expiry.
    let now = chrono::Utc::now();
    let mut any_valid = false;
    for (kind, list) in [("Client secret", "passwordCredentials"), ("Certificate", "keyCredentials")] {
        for c in app[list].as_array().cloned().unwrap_or_default() {
            let end = c["endDateTime"].as_str().and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok());
            let label = format!(
                "{kind} {}",
                c["displayName"].as_str().or(c["hint"].as_str()).unwrap_or(c["keyId"].as_str().unwrap_or(""))
            );
            match end {
                Some(e) if e < now => {
                    checks.push(check("Credential", &label, "Fail", format!("Expired on {}.", e.format("%Y-%m-%d"))))
                }
                Some(e) if (e.with_timezone(&chrono::Utc) - now).num_days() < req.warn_days => {
                    any_valid = true;
                    checks.push(check(
                        "Credential",
                        &label,
                        "Warn",
                        format!(
                            "Expires on {} ({} days): rotate it.",
                            e.format("%Y-%m-%d"),
                            (e.with_timezone(&chrono::Utc) - now).num_days()
                        ),
                    ));
                }
                Some(e) => {
                    any_valid = true;
                    checks.push(check("Credential", &label, "Pass", format!("Valid until {}.", e.format("%Y-%m-%d"))));
                }
                None => checks.push(check("Credential", &label, "Warn", "No expiry date could be read.")),
            }
        }
    }
    if !any_valid {
        checks.push(check(
            "Credential",
            "Any valid credential",
            "Fail",
            "The app has no valid secret or certificate: KODO cannot sign in. Create one with New-KodoApp -NewSecret.",
        ));
    }
    // The SharePoint setting of step 17.
    match crate::sharepoint::legacy_auth_enabled(conn, ctx).await {
        Ok(true) => {
            checks.push(check("SharePoint", "LegacyAuthProtocolsEnabled", "Pass", "On, as KODO's procedure asks."))
        }
        Ok(_) => checks.push(check(
            "SharePoint",
            "LegacyAuthProtocolsEnabled",
            "Fail",
            "Off: run Set-KodoSharePointTenant -LegacyAuthProtocolsEnabled $true.",
        )),
        Err(e) => checks.push(check(
            "SharePoint",
            "LegacyAuthProtocolsEnabled",
            "Warn",
            format!("Could not be read: {}", e.message),
        )),
    }
    // Retired items beyond the manifest (facts.md §8).
    let certificate = app["keyCredentials"].as_array().is_some_and(|k| !k.is_empty());
    checks.push(check("Retired", "SharePoint appinv.aspx (Azure ACS)", if certificate { "Info" } else { "Warn" }, format!("Retired for every tenant on 2026-04-02; replaced by SharePoint Sites.FullControl.All and a certificate credential{}.", if certificate { " (the app has a certificate)" } else { ": the app has no certificate, so SharePoint app-only access fails" })));
    if !req.sign_in.is_empty() {
        checks.extend(live_checks(conn, ctx, graph, &req.app_id, &manifest, req.sign_in).await?);
    }
    let fails = checks.iter().filter(|c| c["status"] == "Fail").count();
    let warns = checks.iter().filter(|c| c["status"] == "Warn").count();
    Ok(
        json!({ "checks": checks, "summary": { "passed": fails == 0, "fails": fails, "warnings": warns, "total": checks.len() } }),
    )
}

/// The live part of Test-KodoApp: signs in as the app with each credential given, checks that
/// each API's token carries the application roles the manifest requires (Microsoft Graph,
/// Exchange Online, SharePoint), and makes one harmless read per API it can call: Graph
/// `GET /organization?$select=id` and SharePoint `GET /_api/web?$select=Title`. Exchange is only
/// signed in to: Kodo makes no Exchange call (EWS is retiring, facts.md §8).
async fn live_checks(
    admin: &crate::auth::Connection,
    ctx: &OpContext,
    graph: &Graph<'_>,
    app_id: &str,
    manifest: &Manifest,
    specs: Vec<crate::auth::CredentialSpec>,
) -> Result<Vec<Value>, KodoError> {
    const GRAPH: &str = "00000003-0000-0000-c000-000000000000";
    const EXCHANGE: &str = "00000002-0000-0ff1-ce00-000000000000";
    const SHAREPOINT: &str = "00000003-0000-0ff1-ce00-000000000000";
    let tenant = admin.context()["tenantId"].as_str().unwrap_or(&admin.tenant).to_string();
    let hosts = crate::sharepoint::hosts(graph).await?;
    let required = |resource: &str| -> Vec<String> {
        let mut v: Vec<String> = manifest
            .permissions
            .iter()
            .filter(|r| {
                r.kind == "Application"
                    && !r.optional
                    && r.retired.is_none()
                    && r.resource_app_id.eq_ignore_ascii_case(resource)
            })
            .map(|r| r.permission.clone())
            .collect();
        v.sort_by_key(|p| p.to_ascii_lowercase());
        v.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        v
    };
    let apis = [
        ("Microsoft Graph", GRAPH, admin.env.graph.clone()),
        ("Exchange Online", EXCHANGE, admin.env.exchange.clone()),
        ("SharePoint", SHAREPOINT, format!("https://{}", hosts.root)),
    ];
    let mut checks = Vec::new();
    let mut sharepoint_ok = false;
    let mut secret_refused = Vec::new();
    for spec in specs {
        let probe = crate::auth::Connection::new(Some(tenant.clone()), admin.env.clone(), spec)?;
        if !probe.client_id.eq_ignore_ascii_case(app_id) {
            return Err(KodoError::new(
                ErrorCode::InvalidArgument,
                format!(
                    "The sign-in credential is for client id {}, not for the app {app_id} being tested.",
                    probe.client_id
                ),
            ));
        }
        let label = match &probe.thumbprint {
            Some(tp) => format!("Certificate {tp}"),
            None => "Client secret".to_string(),
        };
        ctx.progress("Test-KodoApp", format!("Signing in as the app with its {}", label.to_ascii_lowercase()), None);
        for (api, resource, audience) in &apis {
            let name = format!("Sign-in to {api} ({label})");
            let token = match probe.token(ctx, audience).await {
                Ok(t) => t,
                Err(e) => {
                    checks.push(check("SignIn", &name, "Fail", format!("Signing in as the app failed: {}", e.message)));
                    // Every other API fails the same way with this credential.
                    break;
                }
            };
            let claims = crate::emulator::pki::parse_jwt(&token).map(|j| j.claims).unwrap_or(Value::Null);
            let roles: Vec<String> = claims["roles"]
                .as_array()
                .map(|a| a.iter().filter_map(|r| r.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            let missing: Vec<String> =
                required(resource).into_iter().filter(|p| !roles.iter().any(|r| r.eq_ignore_ascii_case(p))).collect();
            if missing.is_empty() {
                checks.push(check(
                    "SignIn",
                    &name,
                    "Pass",
                    format!(
                        "Signed in; the token carries the {} application roles required.",
                        required(resource).len()
                    ),
                ));
            } else {
                checks.push(check(
                    "SignIn",
                    &name,
                    "Fail",
                    format!(
                        "Signed in, but the token lacks {}: {}. Consent is missing or has not reached sign-in yet; run Grant-KodoPermissions.",
                        if missing.len() == 1 { "a required role" } else { "required roles" },
                        missing.join(", ")
                    ),
                ));
            }
            let call = format!("Call {api} ({label})");
            match *resource {
                GRAPH => {
                    let probe_graph = Graph::new(&probe, ctx);
                    match probe_graph.call("GET", "organization?$select=id", None, Retry::ThrottleOnly).await {
                        Ok(_) => checks.push(check("SignIn", &call, "Pass", "GET /v1.0/organization answered.")),
                        Err(e) => checks.push(check(
                            "SignIn",
                            &call,
                            "Fail",
                            format!("GET /v1.0/organization failed: {}", e.message),
                        )),
                    }
                }
                SHAREPOINT => {
                    match crate::sharepoint::spo(
                        &probe,
                        ctx,
                        &hosts.root,
                        reqwest::Method::GET,
                        "/_api/web?$select=Title",
                        None,
                    )
                    .await
                    {
                        Ok(_) => {
                            sharepoint_ok = true;
                            checks.push(check(
                                "SignIn",
                                &call,
                                "Pass",
                                format!("GET https://{}/_api/web answered.", hosts.root),
                            ))
                        }
                        Err(e) if probe.thumbprint.is_none() && e.message.contains("Unsupported app only token") => {
                            secret_refused.push(checks.len());
                            checks.push(check("SignIn", &call, "Warn", e.message))
                        }
                        Err(e) => checks.push(check(
                            "SignIn",
                            &call,
                            "Fail",
                            format!("GET https://{}/_api/web failed: {}", hosts.root, e.message),
                        )),
                    }
                }
                _ => {}
            }
        }
        probe.forget().await;
    }
    // A secret refused by SharePoint is expected when a certificate reaches SharePoint.
    if sharepoint_ok {
        for i in secret_refused {
            checks[i]["status"] = "Info".into();
            checks[i]["detail"] = "SharePoint refuses app-only tokens from a client secret, as expected: KODO reaches SharePoint with the certificate, which passed.".into();
        }
    }
    Ok(checks)
}

// ------------------------------------------------------------------- Invoke-KodoOnboarding

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Onboard {
    pub display_name: String,
    pub manifest: Value,
    #[serde(default)]
    pub secret_lifetime_days: Option<u32>,
    /// Turn SharePoint's LegacyAuthProtocolsEnabled on (step 17 of KODO's procedure).
    #[serde(default = "yes")]
    pub share_point: bool,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub ask_approval: bool,
}

fn yes() -> bool {
    true
}

/// The whole procedure in the fewest round trips: one read of everything the plan needs; for a
/// new app, one approval of the whole plan, then the app (declaring its API permissions as it is
/// created) while the SharePoint setting is written, its service principal and secret together,
/// and every consent in one $batch. An app that exists already (found by Kodo's tag) goes
/// through New-KodoApp's and Grant-KodoPermissions' own plans, which change only what is missing.
pub async fn onboard(
    conn: &crate::auth::Connection,
    ctx: &OpContext,
    graph: &Graph<'_>,
    req: Onboard,
) -> Result<Value, KodoError> {
    validate_display_name(&req.display_name)?;
    let manifest = parse_manifest(&req.manifest)?;
    let route = crate::sharepoint::pick_route(conn, "auto")?;
    ctx.progress("Invoke-KodoOnboarding", "Reading the tenant", Some(10));
    let resources = manifest_resources(&manifest);
    let mut reads = vec![(
        "GET".to_string(),
        format!("applications?$filter=tags/any(t:t eq '{KODO_TAG}')&$select={APP_SELECT}"),
        None,
        Retry::ThrottleOnly,
    )];
    reads.extend(resources.iter().map(|r| resource_lookup(r)));
    let graph_setting = req.share_point && route == "Graph";
    if graph_setting {
        reads.push(("GET".into(), "admin/sharepoint/settings".into(), None, Retry::Idempotent));
    }
    let got = graph.batch(&reads).await?;
    if !got[0].ok() {
        return Err(graph_error("GET", "applications", &got[0]));
    }
    let found = got[0].body["value"].as_array().cloned().unwrap_or_default();
    if found.len() > 1 {
        let names: Vec<String> = found
            .iter()
            .map(|a| {
                format!("'{}' (appId {})", a["displayName"].as_str().unwrap_or(""), a["appId"].as_str().unwrap_or(""))
            })
            .collect();
        return Err(KodoError::new(
            ErrorCode::AlreadyExists,
            format!(
                "More than one app registration carries Kodo's tag: {}. Remove the extra one (Remove-KodoApp) or use New-KodoApp -AppId.",
                names.join(" and ")
            ),
        ));
    }
    let ask = req.ask_approval;

    // The SharePoint setting: read with the rest (Graph) or through CSOM.
    let setting_before = if !req.share_point {
        None
    } else if graph_setting {
        let s = &got[got.len() - 1];
        if !s.ok() {
            return Err(graph_error("GET", "admin/sharepoint/settings", s));
        }
        s.body["isLegacyAuthProtocolsEnabled"].as_bool()
    } else {
        crate::sharepoint::tenant(conn, ctx, route, None, true, false).await?["legacyAuthProtocolsEnabled"].as_bool()
    };
    let setting_item = (setting_before == Some(false))
        .then(|| item("sharePointSetting", "Set SharePoint's LegacyAuthProtocolsEnabled to True", "SharePoint Online"));

    if let Some(existing) = found.first() {
        // Already onboarded, or partly: each part changes only what is missing.
        let app_id = existing["appId"].as_str().unwrap_or("").to_string();
        let app = ensure_app(
            ctx,
            graph,
            EnsureApp {
                display_name: req.display_name.clone(),
                app_id: Some(app_id.clone()),
                new_secret: false,
                secret_lifetime_days: req.secret_lifetime_days,
                certificate: None,
                dry_run: req.dry_run,
                approved: None,
                ask_approval: ask,
                required_resource_access: None,
                known_absent: false,
                known_app: Some(existing.clone()),
            },
        )
        .await?;
        let grants = grant_permissions(
            ctx,
            graph,
            GrantPermissions {
                app_id,
                manifest: req.manifest.clone(),
                dry_run: req.dry_run,
                approved: None,
                ask_approval: ask,
                just_created: false,
            },
        )
        .await?;
        let plan: Vec<PlanItem> = setting_item.into_iter().collect();
        let approved_ids = approval(ctx, &plan, ask, &None).await?;
        let set = !plan.is_empty() && !req.dry_run && approved(&approved_ids, "sharePointSetting");
        let share_point = set_sharepoint(conn, ctx, graph, route, set, setting_before).await?;
        return Ok(json!({ "app": app, "permissions": grants, "sharePoint": share_point, "existing": true }));
    }

    // A new app. Plan everything now: the consents are known before the app exists.
    let resource_sps = resource_sps_from(&resources, &got[1..1 + resources.len()])?;
    let placeholder = json!({ "displayName": req.display_name, "requiredResourceAccess": [] });
    let grant_req = GrantPermissions {
        app_id: String::new(),
        manifest: req.manifest.clone(),
        dry_run: true,
        approved: None,
        ask_approval: false,
        just_created: true,
    };
    let state = |app: Value, sp_id: String| GrantState {
        app,
        sp_id,
        resource_sps: resource_sps.clone(),
        assigned: HashSet::new(),
        grants: Vec::new(),
    };
    let planned = grant_with_state(ctx, graph, &grant_req, &manifest, state(placeholder, String::new())).await?;
    let rra = planned["requiredResourceAccess"].clone();
    let declared = rra
        .as_array()
        .map_or(0, |a| a.iter().map(|e| e["resourceAccess"].as_array().map_or(0, Vec::len)).sum::<usize>());
    let days = req.secret_lifetime_days.unwrap_or(SECRET_DAYS_DEFAULT);
    let mut plan = vec![
        item(
            "createApp",
            format!("Create app registration (single tenant, tagged KodoManaged) declaring {declared} API permissions"),
            req.display_name.clone(),
        ),
        item(
            "createServicePrincipal",
            "Create the app's service principal (enterprise application)",
            req.display_name.clone(),
        ),
        item("addPassword", format!("Create a client secret valid for {days} days"), req.display_name.clone()),
    ];
    let grant_plan: Vec<PlanItem> = serde_json::from_value(planned["plan"].clone()).unwrap_or_default();
    plan.extend(grant_plan.into_iter().filter(|p| p.id != "requiredResourceAccess"));
    plan.extend(setting_item);
    let approved_ids = approval(ctx, &plan, ask, &None).await?;
    if req.dry_run || declined(&plan, &approved_ids) || !approved(&approved_ids, "createApp") {
        return Ok(json!({ "plan": plan, "app": null, "permissions": planned, "sharePoint": null, "existing": false }));
    }
    ctx.progress("Invoke-KodoOnboarding", "Creating the app, its service principal and secret", Some(30));
    let ensure = ensure_app(
        ctx,
        graph,
        EnsureApp {
            display_name: req.display_name.clone(),
            app_id: None,
            new_secret: false,
            secret_lifetime_days: req.secret_lifetime_days,
            certificate: None,
            dry_run: false,
            approved: approved_ids.clone(),
            ask_approval: false,
            required_resource_access: Some(rra),
            known_absent: true,
            known_app: None,
        },
    );
    let set = setting_before == Some(false) && approved(&approved_ids, "sharePointSetting");
    // The SharePoint setting does not depend on the app: written meanwhile (Graph route).
    let (app, share_point) = if route == "Graph" {
        let (a, s) = tokio::join!(ensure, set_sharepoint(conn, ctx, graph, route, set, setting_before));
        (a?, s?)
    } else {
        let a = ensure.await?;
        (a, set_sharepoint(conn, ctx, graph, route, set, setting_before).await?)
    };
    let sp_id = app["servicePrincipalId"].as_str().unwrap_or("").to_string();
    ctx.progress("Invoke-KodoOnboarding", "Granting admin consent", Some(70));
    let grants = grant_with_state(
        ctx,
        graph,
        &GrantPermissions { dry_run: false, approved: approved_ids, ..grant_req },
        &manifest,
        state(app["app"].clone(), sp_id),
    )
    .await?;
    Ok(json!({ "app": app, "permissions": grants, "sharePoint": share_point, "existing": false }))
}

/// One tenant of an `onboard.many` request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantEntry {
    pub tenant_id: String,
    pub credential: crate::auth::CredentialSpec,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OnboardMany {
    pub environment: crate::auth::EnvironmentSpec,
    pub tenants: Vec<TenantEntry>,
    pub display_name: String,
    pub manifest: Value,
    #[serde(default = "yes")]
    pub share_point: bool,
    /// Run Test-KodoApp after onboarding.
    #[serde(default = "yes")]
    pub audit: bool,
    /// Change nothing: find the Kodo app and audit it.
    #[serde(default)]
    pub audit_only: bool,
    /// Tenants worked on at once (1-16).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

fn default_concurrency() -> usize {
    4
}

/// Many tenants in one run (MSPs): each signs in with its own credential, is onboarded (or only
/// audited) and gets its own result; a tenant's failure is its result, not the run's. Tenants
/// are worked on `concurrency` at a time: throttling (and its Retry-After) is per tenant, so one
/// tenant's wait does not hold up the others. Each tenant's result is an `item` event, in the
/// order given; the result says how many tenants there were and how many failed.
pub async fn onboard_many(ctx: &OpContext, req: OnboardMany) -> Result<Value, KodoError> {
    use futures_util::StreamExt;
    if !(1..=16).contains(&req.concurrency) {
        return Err(KodoError::new(ErrorCode::InvalidArgument, "-ThrottleLimit must be between 1 and 16."));
    }
    parse_manifest(&req.manifest)?;
    validate_display_name(&req.display_name)?;
    let total = req.tenants.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let failed = std::sync::atomic::AtomicUsize::new(0);
    let req = &req;
    let mut results = futures_util::stream::iter(req.tenants.iter().cloned())
        .map(|entry| {
            let (done, failed) = (&done, &failed);
            async move {
                let started = std::time::Instant::now();
                let tenant = entry.tenant_id.clone();
                let outcome = one_tenant(ctx, req, entry).await;
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                let mut result = match outcome {
                    Ok(v) => v,
                    Err(e) => {
                        failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        json!({ "status": "Failed", "error": crate::protocol::ErrorBody::from(e) })
                    }
                };
                result["tenantId"] = tenant.clone().into();
                result["durationSeconds"] = ((started.elapsed().as_secs_f64() * 100.0).round() / 100.0).into();
                ctx.progress(
                    "Invoke-KodoOnboarding",
                    format!(
                        "{n} of {total} tenants done ({} failed); last: {tenant}",
                        failed.load(std::sync::atomic::Ordering::Relaxed)
                    ),
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
    Ok(json!({ "tenants": total, "failed": failed.load(std::sync::atomic::Ordering::Relaxed) }))
}

async fn one_tenant(ctx: &OpContext, req: &OnboardMany, entry: TenantEntry) -> Result<Value, KodoError> {
    let conn =
        crate::engine::open_connection(ctx, Some(entry.tenant_id), req.environment.clone(), entry.credential).await?;
    let graph = Graph::new(&conn, ctx);
    let outcome = async {
        let (onboarded, app_id) = if req.audit_only {
            let list = graph
                .call(
                    "GET",
                    &format!("applications?$filter=tags/any(t:t eq '{KODO_TAG}')&$select=appId,displayName"),
                    None,
                    Retry::ThrottleOnly,
                )
                .await?;
            let Some(app_id) = list["value"].as_array().and_then(|l| l.first()).and_then(|a| a["appId"].as_str())
            else {
                return Err(KodoError::new(
                    ErrorCode::NotFound,
                    format!(
                        "Tenant {} has no Kodo app (tagged KodoManaged): it is not onboarded.",
                        conn.context()["tenantId"].as_str().unwrap_or(&conn.tenant)
                    ),
                ));
            };
            (Value::Null, app_id.to_string())
        } else {
            let mut r = onboard(
                &conn,
                ctx,
                &graph,
                Onboard {
                    display_name: req.display_name.clone(),
                    manifest: req.manifest.clone(),
                    secret_lifetime_days: None,
                    share_point: req.share_point,
                    dry_run: false,
                    ask_approval: false,
                },
            )
            .await?;
            r["app"]["tenantId"] = conn.context()["tenantId"].clone();
            let app_id = r["app"]["app"]["appId"].as_str().unwrap_or("").to_string();
            (r, app_id)
        };
        let audit = if req.audit || req.audit_only {
            test_app(
                &conn,
                ctx,
                &graph,
                TestApp {
                    app_id: app_id.clone(),
                    manifest: req.manifest.clone(),
                    warn_days: default_warn_days(),
                    sign_in: Vec::new(),
                },
            )
            .await?
        } else {
            Value::Null
        };
        Ok(json!({ "status": "Succeeded", "appId": app_id, "onboard": onboarded, "audit": audit }))
    }
    .await;
    conn.forget().await;
    outcome
}

/// Turns LegacyAuthProtocolsEnabled on when `set`, and says what it is.
async fn set_sharepoint(
    conn: &crate::auth::Connection,
    ctx: &OpContext,
    graph: &Graph<'_>,
    route: &str,
    set: bool,
    before: Option<bool>,
) -> Result<Value, KodoError> {
    let Some(before) = before else { return Ok(Value::Null) };
    if !set {
        return Ok(json!({ "legacyAuthProtocolsEnabled": before, "changed": false, "route": route }));
    }
    if route == "Graph" {
        graph
            .call(
                "PATCH",
                "admin/sharepoint/settings",
                Some(&json!({ "isLegacyAuthProtocolsEnabled": true })),
                Retry::Idempotent,
            )
            .await?;
        Ok(json!({ "legacyAuthProtocolsEnabled": true, "previous": before, "changed": true, "route": route }))
    } else {
        crate::sharepoint::tenant(conn, ctx, route, Some(true), false, false).await
    }
}

/// Deletes `collection/id`; already gone (404) counts as deleted, so a re-run is safe.
async fn delete(graph: &Graph<'_>, collection: &str, id: &str) -> Result<(), KodoError> {
    let r = graph.send("DELETE", &format!("{collection}/{id}"), None, Retry::Idempotent).await?;
    if !r.ok() && r.status != 404 {
        return Err(graph_error("DELETE", collection, &r));
    }
    Ok(())
}

// ------------------------------------------------------------------- Remove-KodoAppCredential

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemoveCredential {
    pub app_id: String,
    pub key_ids: Vec<String>,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub approved: Option<Vec<String>>,
    /// Ask the host to approve the plan (an `approve` prompt) instead of a dry run + a re-run.
    #[serde(default)]
    pub ask_approval: bool,
}

/// Removes secrets (removePassword) and certificates (keyCredentials re-sent without them) by
/// keyId. A keyId the app does not have is reported, not an error: a re-run changes nothing.
pub async fn remove_credential(ctx: &OpContext, graph: &Graph<'_>, req: RemoveCredential) -> Result<Value, KodoError> {
    let app = graph
        .call(
            "GET",
            &format!(
                "applications(appId='{}')?$select=id,displayName,passwordCredentials,keyCredentials",
                esc(&req.app_id)
            ),
            None,
            Retry::ReplicationShort,
        )
        .await?;
    let id = app["id"].as_str().unwrap_or("").to_string();
    let target = format!("{} ({})", app["displayName"].as_str().unwrap_or(""), req.app_id);
    let secrets = app["passwordCredentials"].as_array().cloned().unwrap_or_default();
    let keys = app["keyCredentials"].as_array().cloned().unwrap_or_default();
    let mut plan = Vec::new();
    for k in &req.key_ids {
        if uuid::Uuid::parse_str(k).is_err() {
            return Err(KodoError::new(ErrorCode::InvalidArgument, format!("KeyId '{k}' is not a GUID.")));
        }
        if secrets.iter().any(|s| s["keyId"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(k))) {
            plan.push(item(format!("secret:{k}"), format!("Remove client secret {k}"), target.clone()));
        } else if keys.iter().any(|c| c["keyId"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(k))) {
            plan.push(item(format!("certificate:{k}"), format!("Remove certificate credential {k}"), target.clone()));
        } else {
            ctx.warn(format!("The app has no credential with keyId {k}: nothing to remove."));
        }
    }
    let approved_ids = approval(ctx, &plan, req.ask_approval, &req.approved).await?;
    if req.dry_run || declined(&plan, &approved_ids) {
        return Ok(json!({ "plan": plan, "changes": [] }));
    }
    let mut changes = Vec::new();
    let mut drop_keys = Vec::new();
    for step in &plan {
        if !approved(&approved_ids, &step.id) {
            continue;
        }
        if let Some(k) = step.id.strip_prefix("secret:") {
            let r = graph
                .send(
                    "POST",
                    &format!("applications/{id}/removePassword"),
                    Some(&json!({ "keyId": k })),
                    Retry::Idempotent,
                )
                .await?;
            if !r.ok() && r.status != 404 {
                return Err(graph_error("POST", "removePassword", &r));
            }
        } else if let Some(k) = step.id.strip_prefix("certificate:") {
            drop_keys.push(k.to_ascii_lowercase());
        }
        changes.push(step.clone());
    }
    if !drop_keys.is_empty() {
        let current =
            graph.call("GET", &format!("applications/{id}?$select=keyCredentials"), None, Retry::Idempotent).await?;
        let kept: Vec<Value> = current["keyCredentials"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| !c["keyId"].as_str().is_some_and(|x| drop_keys.contains(&x.to_ascii_lowercase())))
            .collect();
        graph
            .call("PATCH", &format!("applications/{id}"), Some(&json!({ "keyCredentials": kept })), Retry::Idempotent)
            .await?;
    }
    Ok(json!({ "plan": plan, "changes": changes }))
}
