//! New-KodoApp: find the Kodo app (by appId, or by Kodo's tag; never by display name alone) or
//! create it single-tenant and tagged, with its service principal and a credential: a client
//! secret (its text is shown once, in this result) and/or a certificate whose private key stays
//! with the host.

use super::delivery;
use super::policy::{self, SecretRules};
use super::{
    APP_SELECT, KODO_TAG, KODO_UNIQUE_NAME, SECRET_DAYS_DEFAULT, SECRET_DAYS_MAX, check_guid, esc,
    validate_display_name,
};
use crate::context::{LogLevel, OpContext};
use crate::error::{ErrorCode, KodoError};
use crate::graph::models::{Application, KeyCredential, RequiredResourceAccess, ServicePrincipal, end_of};
use crate::graph::{Graph, Request, Response, Retry, graph_error};
use crate::plan::{Approval, Plan};
use serde::Deserialize;
use serde_json::{Value, json};

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
    /// The certificate is the app's only credential: no secret is made for it.
    #[serde(default)]
    pub certificate_only: bool,
    /// The API permissions to declare when the app is created (Invoke-KodoOnboarding): saves
    /// Grant-KodoPermissions a write.
    #[serde(default)]
    pub required_resource_access: Option<Vec<RequiredResourceAccess>>,
    /// New-KodoApp -MultiTenant: the app is (made) multi-tenant, for customer tenants' admin
    /// consent (multitenant.rs). Single tenant otherwise.
    #[serde(default)]
    pub multi_tenant: bool,
    /// With `multi_tenant`: the web redirect URIs the admin consent link may return to.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// How the plan is approved (absent: every step).
    #[serde(default)]
    pub approval: Approval,
}

/// What the caller already knows of the app, so that it is not read twice.
pub enum Known {
    /// Nothing: look for it.
    Nothing,
    /// It was looked for by Kodo's tag at this time (on the service's clock, `looked_at`) and
    /// is absent.
    Absent(chrono::DateTime<chrono::Utc>),
    /// It was read (with [`APP_SELECT`]).
    App(Box<Application>),
    /// It was read (with [`APP_SELECT`]), and its service principal's id (None: it has none).
    AppAndSp(Box<Application>, Option<String>),
    /// This run's create met it: an interrupted run made it moments ago, and it was still
    /// replicating when this run looked (read with [`APP_SELECT`]). The create overwrote its
    /// marks, so none of the credentials Kodo named on it is known delivered.
    Raced(Box<Application>),
}

/// New-KodoApp.
pub async fn ensure_app(ctx: &OpContext, graph: &Graph<'_>, req: EnsureApp) -> Result<Value, KodoError> {
    let done = ensure_app_known(ctx, graph, req.clone(), Known::Nothing, None).await?;
    match raced(&done) {
        Some(app) => ensure_app_known(ctx, graph, req, Known::Raced(Box::new(app)), None).await,
        None => Ok(done),
    }
}

/// The app that this run's create met, when it met one (`{"raced": app}`).
pub(crate) fn raced(done: &Value) -> Option<Application> {
    done.get("raced").and_then(|a| serde_json::from_value(a.clone()).ok())
}

/// New-KodoApp with what the caller knows already: the app, and the app management policy's
/// rules for secrets (None: read them when a secret is to be made).
pub async fn ensure_app_known(
    ctx: &OpContext,
    graph: &Graph<'_>,
    req: EnsureApp,
    known: Known,
    rules: Option<SecretRules>,
) -> Result<Value, KodoError> {
    validate_display_name(&req.display_name)?;
    let days = req.secret_lifetime_days.unwrap_or(SECRET_DAYS_DEFAULT);
    if days == 0 || days > SECRET_DAYS_MAX {
        return Err(KodoError::new(
            ErrorCode::InvalidArgument,
            format!("-SecretLifetime must be between 1 day and {SECRET_DAYS_MAX} days (24 months)."),
        ));
    }
    if let Some(a) = &req.app_id {
        check_guid("-AppId", a)?;
    }
    let now = ctx.clock().utc_now();
    let certificate = req.certificate.as_deref().map(|c| read_certificate(c, now)).transpose()?;
    ctx.progress("New-KodoApp", "Looking for the Kodo app", Some(10));
    let raced_app = matches!(known, Known::Raced(_));
    // When the tag was last found on no app: an app made since then is another run's, running now.
    let mut looked = if let Known::Absent(t) = known { t } else { now };
    let mut sp_known: Option<Option<String>> = None;
    let mut app: Option<Application> = match (known, &req.app_id) {
        (Known::Absent(_), _) => None,
        (Known::AppAndSp(a, sp), _) => {
            sp_known = Some(sp);
            Some(*a)
        }
        (Known::App(a), _) | (Known::Raced(a), _) => Some(*a),
        (Known::Nothing, Some(a)) => Some(
            graph
                .find::<Application>(
                    format!("applications(appId='{}')?$select={APP_SELECT}", esc(a)),
                    Retry::ThrottleOnly,
                )
                .await?
                .ok_or_else(|| {
                    KodoError::new(
                        ErrorCode::NotFound,
                        format!("No app registration with appId {a} exists in this tenant."),
                    )
                    .with_target(a.clone())
                })?,
        ),
        (Known::Nothing, None) => {
            let (found, at) = super::find_kodo_app(graph, "Choose one with -AppId.").await?;
            looked = at;
            found
        }
    };
    let mut sp_id: Option<String> = match (sp_known, &app) {
        (Some(known), _) => known,
        (None, Some(a)) => graph
            .find::<ServicePrincipal>(
                format!("servicePrincipals(appId='{}')?$select=id", esc(a.app_id())),
                Retry::ThrottleOnly,
            )
            .await?
            .and_then(|sp| sp.id),
        (None, None) => None,
    };

    let mut plan = Plan::new();
    let target = app.as_ref().map(|a| a.display_name().to_string()).unwrap_or_else(|| req.display_name.clone());
    for uri in &req.redirect_uris {
        super::multitenant::check_redirect_uri(uri)?;
    }
    if app.is_none() {
        let what = if req.multi_tenant { "multi-tenant" } else { "single tenant" };
        plan.add(
            "createApp",
            format!("Create app registration ({what}, tagged KodoManaged)"),
            req.display_name.clone(),
        );
    }
    // -MultiTenant on an existing app: its audience and the consent link's redirect URIs.
    let mut audience_patch: Option<Value> = None;
    if let (true, Some(a)) = (req.multi_tenant, &app) {
        audience_patch = super::multitenant::audience_change(
            &super::multitenant::read_audience(graph, a.id()).await?,
            &req.redirect_uris,
        );
        if audience_patch.is_some() {
            plan.add(
                "setMultiTenant",
                "Make the app multi-tenant (signInAudience AzureADMultipleOrgs) with the consent redirect URI(s)",
                target.clone(),
            );
        }
    }
    if sp_id.is_none() {
        plan.add(
            "createServicePrincipal",
            "Create the app's service principal (enterprise application)",
            target.clone(),
        );
    }
    // Secrets an interrupted run made and never reported (delivery.rs): nobody holds them.
    let pending = if raced_app { delivery::all_nonces(app.as_ref()) } else { delivery::pending(app.as_ref()) };
    let orphans = delivery::orphans(app.as_ref(), &pending);
    let orphan_keys = delivery::orphan_keys(app.as_ref(), &pending);
    // A credential (keyId, end) that is not an orphan and has not expired, on Graph's clock
    // (Entra refuses a secret past its end by its own time, whatever this machine's says).
    let graph_now = graph.service_now();
    let live = |creds: Vec<(Option<&String>, Option<&str>)>, orphans: &[String]| {
        creds
            .into_iter()
            .any(|(id, end)| id.is_none_or(|k| !orphans.contains(k)) && end_of(end).is_some_and(|e| e > graph_now))
    };
    let live_secret = app.as_ref().is_some_and(|a| {
        live(
            a.password_credentials().iter().map(|c| (c.key_id.as_ref(), c.end_date_time.as_deref())).collect(),
            &orphans,
        )
    });
    let live_certificate = app.as_ref().is_some_and(|a| {
        live(
            a.key_credentials().iter().map(|c| (c.key_id.as_ref(), c.end_date_time.as_deref())).collect(),
            &orphan_keys,
        )
    });
    let mut credential_note: Option<String> = None;
    let mut days = days;
    let mut secret_rules: Option<SecretRules> = None;
    let wants_secret = app.is_none() || req.new_secret || !live_secret;
    if wants_secret || certificate.is_some() {
        // The tenant's app management policies first: nothing is written that they refuse.
        let rules = match rules {
            Some(r) => r,
            None => policy::secret_rules(graph, app.as_ref()).await?,
        };
        if let Some((der, _)) = &certificate {
            let (not_before, not_after) = crate::crypto::validity_of(der).unwrap_or((0, 0));
            rules.check_certificate(not_before, not_after)?;
        }
        secret_rules = Some(rules);
    }
    for k in &orphans {
        plan.add(
            format!("removeSecret:{k}"),
            format!("Remove client secret {k}: an interrupted run made it and never reported it, so nobody holds it"),
            target.clone(),
        );
    }
    if let (true, Some(rules)) = (wants_secret, &secret_rules) {
        let decision = rules.decide_secret_for(
            days,
            req.new_secret,
            certificate.is_some() || live_certificate,
            req.certificate_only,
        )?;
        if let (Some(d), Some(action)) = (decision.days, decision.action) {
            days = d;
            plan.add("addPassword", action, target.clone());
        }
        credential_note = decision.note;
    }
    if let Some((_, thumbprint)) = &certificate {
        let present = app.as_ref().is_some_and(|a| {
            a.key_credentials()
                .iter()
                .any(|c| c.custom_key_identifier.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(thumbprint)))
        });
        // -CredentialType Certificate keeps the app's certificate while it lives: a re-run
        // changes nothing (a new one is -NewCertificate's, or Add-KodoAppCredential's).
        let kept = req.certificate_only && live_certificate;
        if !present && !kept {
            plan.add("addCertificate", format!("Add certificate {thumbprint} as a credential"), target.clone());
        }
    }

    if !orphan_keys.is_empty() {
        plan.add(
            format!("removeCertificates:{}", orphan_keys.join(",")),
            format!(
                "Remove certificate(s) {}: an interrupted run added them and their private key never reached anyone",
                orphan_keys.join(", ")
            ),
            target.clone(),
        );
    }
    // A credential's marks go once nothing is pending any more: with the new one's delivery
    // (the host confirms), or now when none is made.
    if !pending.is_empty() && !plan.has("addPassword") && !plan.has("addCertificate") {
        plan.add("clearSecretMarks", "Clear the marks an interrupted run left on the app", target.clone());
    }

    let mut decided = plan.decide(ctx, &req.approval).await?;
    super::check_write_roles(graph, &decided.approved_ids())?;
    let mut secret: Option<Value> = None;
    let with_password = decided.approves("addPassword");
    let with_certificate = decided.approves("addCertificate");
    let nonce = delivery::new_nonce();
    // The app's tags as last written (the marks included).
    let mut tags: Vec<String> = app.as_ref().and_then(|a| a.tags.clone()).unwrap_or_default();
    for step in decided.approved_steps() {
        match step.id.as_str() {
            "createApp" => {
                ctx.progress("New-KodoApp", "Creating the app registration", Some(30));
                // The secret's mark goes in with the app: no write of its own.
                tags = vec![KODO_TAG.to_string()];
                if with_password || with_certificate {
                    tags.push(delivery::mark(&nonce));
                }
                let mut body = json!({
                    "displayName": req.display_name,
                    "signInAudience": if req.multi_tenant { super::multitenant::MULTI_TENANT_AUDIENCE } else { "AzureADMyOrg" },
                    "tags": tags,
                    "notes": format!("Created by Kodo {} for KODO for Cloud backup.", env!("CARGO_PKG_VERSION")),
                });
                if let Some(rra) = &req.required_resource_access {
                    body["requiredResourceAccess"] = json!(rra);
                }
                if req.multi_tenant && !req.redirect_uris.is_empty() {
                    body["web"] = json!({ "redirectUris": req.redirect_uris });
                }
                // By its alternate key: a create repeated (a retry, or a re-run while the first
                // app still replicates and the tag finds nothing) meets that app instead of
                // making another.
                let request = Request::upsert(format!("applications(uniqueName='{KODO_UNIQUE_NAME}')"), body);
                let by_key =
                    format!("applications(uniqueName='{KODO_UNIQUE_NAME}')?$select={APP_SELECT},createdDateTime");
                let created: Application = match graph.send(&request).await {
                    // Updated, not created: the app exists and the tag did not find it.
                    Ok(answer) if answer.status == 204 => {
                        let met: Application = graph.get(by_key, Retry::Replication).await?;
                        return met_app(ctx, met, looked);
                    }
                    Ok(answer) if !answer.ok() => return Err(graph_error("PATCH", "applications", &answer)),
                    Ok(answer) => answer.json(&request)?,
                    // The answer was lost (the upsert is not sent again): made by this request,
                    // or not made at all.
                    Err(e) if e.code == ErrorCode::ConnectionFailed => {
                        match graph.find::<Application>(by_key, Retry::ReplicationShort).await? {
                            Some(made) => made,
                            None => return Err(e),
                        }
                    }
                    Err(e) => return Err(e),
                };
                made_here(ctx, created.app_id());
                ctx.log(
                    LogLevel::Verbose,
                    format!("Created app registration '{}' (appId {}).", req.display_name, created.app_id()),
                );
                app = Some(created);
            }
            "createServicePrincipal" => {
                ctx.progress("New-KodoApp", "Creating the service principal", Some(60));
                let app_id = app.as_ref().map(|a| a.app_id().to_string()).unwrap_or_default();
                // NoBackingApplicationObject while the new app replicates: nothing was created,
                // so repeating is safe (facts.md §3.12). The secret, when planned too, goes in
                // the same $batch: both need only the app.
                let mut writes =
                    vec![Request::post("servicePrincipals", json!({ "appId": app_id }), Retry::Idempotent)];
                if with_password {
                    mark_pending(graph, app.as_ref(), &mut tags, &nonce).await?;
                    writes.push(password_request(app.as_ref(), graph.service_now(), days, &nonce));
                }
                let mut answers = graph.batch(&writes).await?.into_iter();
                let created = answers.next().unwrap_or_default();
                if created.ok() {
                    sp_id = created.body["id"].as_str().map(str::to_string);
                } else if created.status == 409 {
                    // Made by an interrupted earlier run.
                    sp_id = graph
                        .get::<ServicePrincipal>(
                            format!("servicePrincipals(appId='{app_id}')?$select=id"),
                            Retry::Replication,
                        )
                        .await?
                        .id;
                } else {
                    return Err(graph_error("POST", "servicePrincipals", &created));
                }
                if with_password {
                    secret = Some(password_answer(&answers.next().unwrap_or_default())?);
                }
            }
            "addCertificate" => {
                ctx.progress("New-KodoApp", "Adding the certificate", Some(90));
                let (der, thumbprint) = certificate.as_ref().ok_or_else(|| {
                    KodoError::new(ErrorCode::Internal, "a certificate step was planned without a certificate")
                })?;
                let id = app.as_ref().map(|a| a.id().to_string()).unwrap_or_default();
                mark_pending(graph, app.as_ref(), &mut tags, &nonce).await?;
                add_key(graph, &id, der, &nonce).await?;
                ctx.log(LogLevel::Verbose, format!("Added certificate {thumbprint} to the app."));
                app = Some(
                    graph
                        .get::<Application>(format!("applications/{id}?$select={APP_SELECT}"), Retry::Replication)
                        .await?,
                );
            }
            // Made with the service principal when both were planned.
            "addPassword" if secret.is_none() => {
                ctx.progress("New-KodoApp", "Creating a client secret", Some(80));
                mark_pending(graph, app.as_ref(), &mut tags, &nonce).await?;
                let request = password_request(app.as_ref(), graph.service_now(), days, &nonce);
                secret = Some(password_answer(&graph.send(&request).await?)?);
            }
            id if id.starts_with("removeSecret:") => {
                let k = &id["removeSecret:".len()..];
                let object_id = app.as_ref().map(|a| a.id().to_string()).unwrap_or_default();
                super::credentials::remove_password(graph, &object_id, k).await?;
                ctx.log(
                    LogLevel::Verbose,
                    format!("Removed client secret {k}, which an interrupted run never reported."),
                );
            }
            id if id.starts_with("removeCertificates:") => {
                let object_id = app.as_ref().map(|a| a.id().to_string()).unwrap_or_default();
                let keys: Vec<String> = id["removeCertificates:".len()..].split(',').map(str::to_string).collect();
                super::credentials::remove_keys(graph, &object_id, &keys).await?;
                ctx.log(LogLevel::Verbose, format!("Removed certificate(s) {}, never delivered.", keys.join(", ")));
            }
            "setMultiTenant" => {
                let object_id = app.as_ref().map(|a| a.id().to_string()).unwrap_or_default();
                let patch = audience_patch.take().unwrap_or(Value::Null);
                graph.call(&Request::patch(format!("applications/{object_id}"), patch, Retry::Idempotent)).await?;
                ctx.log(LogLevel::Verbose, "Made the app multi-tenant (signInAudience AzureADMultipleOrgs).");
            }
            "clearSecretMarks" => {
                let object_id = app.as_ref().map(|a| a.id().to_string()).unwrap_or_default();
                tags = delivery::unmarked(&tags);
                delivery::write_tags(graph, &object_id, &tags).await?;
            }
            _ => {}
        }
        decided.done(&step.id);
    }
    if decided.plan().is_empty() {
        ctx.log(LogLevel::Verbose, "The Kodo app is already in place: nothing to change.");
    }
    let credential = json!({ "note": credential_note, "secretRules": secret_rules, "secretLifetimeDays": secret.as_ref().map(|_| days) });
    if !decided.applies() {
        return Ok(decided.report_with(json!({ "app": app, "servicePrincipalId": sp_id, "credential": credential })));
    }
    let app = app.ok_or_else(|| KodoError::new(ErrorCode::Internal, "no app after planning"))?;
    // A new secret's mark is cleared by the host once the admin has it (delivery.rs).
    let delivered_later = secret.is_some() || decided.changes().iter().any(|c| c.id == "addCertificate");
    let confirm = delivered_later.then(|| delivery::confirmation(app.id(), &tags, &nonce));
    Ok(decided.report_with(json!({
        "app": app, "servicePrincipalId": sp_id, "secret": secret,
        "certificateThumbprint": certificate.map(|(_, t)| t), "credential": credential,
        "confirmSecret": confirm,
    })))
}

/// An app this process made (its appId, lower case), with the token of the operation that made
/// it ([`OpContext::run_token`]).
type MadeApp = (String, std::sync::Weak<()>);

/// The apps this process made, the newest last.
static MADE_HERE: std::sync::LazyLock<std::sync::Mutex<Vec<MadeApp>>> = std::sync::LazyLock::new(Default::default);
/// How many of them are remembered (a bulk run over a fleet makes one per tenant).
const MADE_HERE_KEPT: usize = 100_000;

fn made_here(ctx: &OpContext, app_id: &str) {
    let mut made = MADE_HERE.lock().unwrap_or_else(|e| e.into_inner());
    if made.len() >= MADE_HERE_KEPT {
        made.drain(..MADE_HERE_KEPT / 2);
    }
    made.push((app_id.to_ascii_lowercase(), ctx.run_token()));
}

/// Whether this process made the app in an operation that has ended (failed, stopped or done):
/// then it is no other run's, whenever it was made.
fn made_by_an_ended_run_here(app_id: &str) -> bool {
    let id = app_id.to_ascii_lowercase();
    MADE_HERE.lock().unwrap_or_else(|e| e.into_inner()).iter().any(|(a, run)| *a == id && run.upgrade().is_none())
}

/// What the create's upsert met: an app under Kodo's unique name that the tag did not find.
/// `looked` is on the service's clock, as createdDateTime is (this machine's may be off it).
/// Made after this run looked (another run, onboarding the tenant now): this run gives way and
/// changes nothing more (`AlreadyExists`). Made before (a run interrupted moments ago whose app
/// was still replicating, or this run's own create whose answer was lost), or made by a run of
/// this process that has ended (a runbook that retries at once may start in the second the app
/// was made, and createdDateTime has whole seconds): `{"raced": app}`, and the caller carries on
/// with it. The upsert overwrote the app's tags, marks included, so none of the credentials Kodo
/// named on it is known delivered ([`Known::Raced`]).
fn met_app(ctx: &OpContext, met: Application, looked: chrono::DateTime<chrono::Utc>) -> Result<Value, KodoError> {
    let ours = made_by_an_ended_run_here(met.app_id());
    let created = met
        .created_date_time
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp());
    // createdDateTime has whole seconds: one made in the second this run looked counts as made since.
    if !ours && created.is_none_or(|c| c >= looked.timestamp()) {
        return Err(KodoError::new(
            ErrorCode::AlreadyExists,
            format!(
                "Another Kodo run created the Kodo app (appId {}) while this one was starting: it is onboarding this tenant now. Run the same command again once it is done; it completes what is missing.",
                met.app_id()
            ),
        )
        .with_target(met.app_id().to_string()));
    }
    let by =
        if ours { "made by a run of this session that has ended" } else { "made moments ago by an interrupted run" };
    ctx.warn(format!(
        "The Kodo app (appId {}) exists already under its unique name, {by} (still replicating, so the tag did not find it). Kodo carries on with it and replaces any credential made for it then.",
        met.app_id()
    ));
    Ok(json!({ "raced": met }))
}

/// A certificate given as base64 DER: (DER, SHA-1 thumbprint), or why it cannot be used.
pub(crate) fn read_certificate(b64: &str, now: chrono::DateTime<chrono::Utc>) -> Result<(Vec<u8>, String), KodoError> {
    let der = crate::crypto::b64_decode(b64)
        .ok_or_else(|| KodoError::new(ErrorCode::InvalidArgument, "The certificate is not base64 DER."))?;
    let (_, not_after) = crate::crypto::validity_of(&der)
        .map_err(|e| KodoError::new(ErrorCode::InvalidArgument, format!("The certificate cannot be read: {e}")))?;
    if not_after < now.timestamp() {
        return Err(KodoError::new(ErrorCode::InvalidArgument, "The certificate has expired."));
    }
    let thumbprint = crate::crypto::sha1_hex(&der);
    Ok((der, thumbprint))
}

/// Adds a certificate to the app's keyCredentials. The collection is replaced as a whole
/// (facts.md §3.4, §3.8): the keys the app has are read with `$select` (so that `key` is
/// included) and sent back with the new one. Its display name carries Graph's date
/// ([`Graph::service_now`]), as a new secret's does.
pub(crate) async fn add_key(graph: &Graph<'_>, app_object_id: &str, der: &[u8], nonce: &str) -> Result<(), KodoError> {
    let current: Application =
        graph.get(format!("applications/{app_object_id}?$select=keyCredentials"), Retry::Replication).await?;
    let mut keys: Vec<KeyCredential> = current.key_credentials.unwrap_or_default();
    keys.push(KeyCredential {
        kind: Some("AsymmetricX509Cert".into()),
        usage: Some("Verify".into()),
        key: Some(crate::crypto::b64(der)),
        display_name: Some(delivery::secret_name(&graph.service_now().format("%Y-%m-%d").to_string(), nonce)),
        ..Default::default()
    });
    let request =
        Request::patch(format!("applications/{app_object_id}"), json!({ "keyCredentials": keys }), Retry::Idempotent);
    graph.call(&request).await?;
    Ok(())
}

/// Marks the app before a secret is made under `nonce` (delivery.rs), unless the mark is there
/// already (written with the app).
async fn mark_pending(
    graph: &Graph<'_>,
    app: Option<&Application>,
    tags: &mut Vec<String>,
    nonce: &str,
) -> Result<(), KodoError> {
    let mark = delivery::mark(nonce);
    if tags.contains(&mark) {
        return Ok(());
    }
    tags.push(mark);
    delivery::write_tags(graph, app.map(Application::id).unwrap_or(""), tags).await
}

/// The request that adds a client secret to `app`, valid for `days` (facts.md §3.7) from `now`,
/// named for its mark's `nonce`. `now` is Graph's time ([`Graph::service_now`]): Graph starts
/// the secret at its own now and measures a policy's cap from there.
fn password_request(app: Option<&Application>, now: chrono::DateTime<chrono::Utc>, days: u32, nonce: &str) -> Request {
    let id = app.map(Application::id).unwrap_or("");
    let end = (now + chrono::Duration::days(days as i64)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let name = delivery::secret_name(&now.format("%Y-%m-%d").to_string(), nonce);
    let body = json!({ "passwordCredential": { "displayName": name, "endDateTime": end } });
    // A 404 while the new app replicates means nothing was added: safe to repeat.
    Request::post(format!("applications/{id}/addPassword"), body, Retry::Replication)
}

/// The secret from addPassword's answer (its text is shown once, here).
fn password_answer(r: &Response) -> Result<Value, KodoError> {
    if !r.ok() {
        return Err(graph_error("POST", "addPassword", r));
    }
    Ok(json!({ "secretText": r.body["secretText"], "keyId": r.body["keyId"], "endDateTime": r.body["endDateTime"] }))
}
