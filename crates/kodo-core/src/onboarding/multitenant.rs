//! The multi-tenant model (issue 18): one multi-tenant KODO app in the provider's tenant,
//! consented by each customer tenant's admin through an admin consent link, and checked from the
//! provider's side by signing in to the customer tenant as the app.
//!
//! - [`consent_link`] - New-KodoConsentLink: the `/v2.0/adminconsent` URL with a fresh state
//! - [`test_consent`] - Test-KodoConsent: the app's service principal and app roles in a customer,
//!   and (with a mailbox) whether the customer's Exchange admits the app to EWS
//! - [`grant_consent_gdap`] - Grant-KodoConsent: the same grants made under GDAP, and the
//!   customer's EWS allow list when the relationship holds an Exchange role
//! - [`read_audience`] / [`audience_change`] - New-KodoApp -MultiTenant: the app's audience and
//!   the redirect URI the consent link returns to
//!
//! Sources: docs/multitenant-research.md (§1 the admin consent endpoint, §2 what a sign-in to a
//! tenant without consent answers).

use crate::auth::{Connection, CredentialSpec, Environment, Secret};
use crate::context::{LogLevel, OpContext};
use crate::error::{ErrorCode, KodoError};
use crate::exchange::ExchangeAdmin;
use crate::exchange::ews::{self, Probe};
use crate::graph::models::{AppRoleAssignment, ServicePrincipal};
use crate::graph::{Graph, Request, Retry, graph_error};
use crate::ledger::{Ledger, State};
use crate::manifest::{Resolution, RowStatus, parse_manifest, resolve};
use crate::plan::{Approval, Plan};
use crate::platform::{EXCHANGE_APP_ID as EXCHANGE, GRAPH_APP_ID as GRAPH, SHAREPOINT_APP_ID as SHAREPOINT};
use serde::Deserialize;
use serde_json::{Value, json};

/// `signInAudience` of an app other Entra tenants may use (docs/multitenant-research.md §2).
pub const MULTI_TENANT_AUDIENCE: &str = "AzureADMultipleOrgs";

/// A redirect URI Entra accepts for a web app: https, or http on localhost (Learn "Redirect URI
/// restrictions"); absolute, no fragment.
pub(crate) fn check_redirect_uri(uri: &str) -> Result<(), KodoError> {
    let lower = uri.to_ascii_lowercase();
    let local = lower.starts_with("http://localhost") || lower.starts_with("http://127.0.0.1");
    let ok = (lower.starts_with("https://") || local) && !uri.contains('#') && !uri.chars().any(char::is_whitespace);
    if !ok || uri.len() > 256 {
        return Err(KodoError::new(
            ErrorCode::InvalidArgument,
            format!(
                "-RedirectUri '{uri}' must be an absolute https:// address (or http://localhost), without a fragment."
            ),
        )
        .with_target(uri.to_string()));
    }
    Ok(())
}

fn check_tenant(tenant: &str) -> Result<(), KodoError> {
    let domain = tenant.contains('.')
        && tenant.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && !tenant.starts_with('.');
    if uuid::Uuid::parse_str(tenant).is_err() && !domain {
        return Err(KodoError::new(
            ErrorCode::InvalidArgument,
            format!("-TenantId '{tenant}' is neither a tenant id (GUID) nor a domain such as contoso.onmicrosoft.com."),
        )
        .with_target(tenant.to_string()));
    }
    Ok(())
}

/// New-KodoConsentLink.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConsentLink {
    pub app_id: String,
    pub tenant_id: String,
    pub redirect_uri: String,
    /// A consent ledger to record the link in ([`track_consent`]).
    #[serde(default)]
    pub ledger_path: Option<String>,
}

/// Opens a consent ledger (-LedgerPath of New-KodoConsentLink and Test-KodoConsent) before any
/// request, so a ledger another run holds stops the call before it does anything.
fn open_ledger(ctx: &OpContext, path: &Option<String>) -> Result<Option<Ledger>, KodoError> {
    path.as_deref().map(|p| Ledger::open(std::path::Path::new(p), false, &|m| ctx.warn(m))).transpose()
}

/// Tracks one customer's consent in the bulk ledger's format (crate::ledger), so that
/// Get-KodoOnboardingStatus reports a fleet's consents: `planned` once the link is made (the
/// customer's admin has not consented yet), `inProgress` while the consent is incomplete or EWS
/// is not proven, `done` when Test-KodoConsent says Ready. `status` is the consent's status,
/// `clientId` the app. A record is appended only when the tenant's state, status or next action
/// changes (a re-check of an unchanged fleet leaves the file as it is), and a new link never
/// takes a tenant back from `done`. `directory_id` (the tenant's id, from Test-KodoConsent's
/// sign-in) goes on the record, so that a customer given once by a domain and once by its id
/// is one entry (crate::ledger::Folded); it is written once even when nothing else changed.
struct Tracked<'a> {
    tenant: &'a str,
    directory_id: Option<&'a str>,
    app_id: &'a str,
    state: State,
    status: &'a str,
    next_action: Option<String>,
}

fn track_consent(ledger: Option<Ledger>, t: Tracked<'_>) -> Result<(), KodoError> {
    let Some(mut ledger) = ledger else { return Ok(()) };
    let known = ledger.state(t.tenant).or_else(|| t.directory_id.and_then(|d| ledger.state(d)));
    if let Some(s) = known {
        let same = s.state == t.state && s.status.as_deref() == Some(t.status) && s.next_action == t.next_action;
        let id_known = t.directory_id.is_none() || s.directory_id.is_some();
        if (same && id_known) || (s.state == State::Done && t.state == State::Planned) {
            return Ok(());
        }
    }
    let mut record = ledger.record(t.tenant, t.state);
    record.client_id = Some(t.app_id.to_string());
    record.status = Some(t.status.to_string());
    record.next_action = t.next_action;
    record.directory_id = t.directory_id.map(str::to_string);
    ledger.append(&[record])
}

/// The admin consent URL for one customer tenant: `{login}/{tenant}/v2.0/adminconsent` with the
/// app's client id, the static scope `{graph}/.default` (which asks for every permission in the
/// app's required permissions, docs/multitenant-research.md §1), the redirect URI and a fresh,
/// unguessable `state` (256 random bits) the redirect must bring back. Nothing secret is in it.
pub fn consent_link(env: &Environment, ctx: &OpContext, req: ConsentLink) -> Result<Value, KodoError> {
    super::check_guid("-AppId", &req.app_id)?;
    check_tenant(&req.tenant_id)?;
    check_redirect_uri(&req.redirect_uri)?;
    let ledger = open_ledger(ctx, &req.ledger_path)?;
    let mut random = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random)
        .map_err(|_| KodoError::new(ErrorCode::Internal, "The system's random number generator failed."))?;
    let state = crate::crypto::b64url(&random);
    // In emulator mode the admin's browser goes to the emulator itself (as Connect-Kodo's
    // browser sign-in does, auth/mod.rs).
    let login = match env.resolve_to {
        Some(addr) => format!("https://{addr}"),
        None => env.login.trim_end_matches('/').to_string(),
    };
    let scope = format!("{}/.default", env.graph.trim_end_matches('/'));
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &req.app_id)
        .append_pair("scope", &scope)
        .append_pair("redirect_uri", &req.redirect_uri)
        .append_pair("state", &state)
        .finish();
    let url = format!("{login}/{}/v2.0/adminconsent?{query}", req.tenant_id);
    let created = ctx.clock().utc_now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let tracked = Tracked {
        tenant: &req.tenant_id,
        directory_id: None,
        app_id: &req.app_id,
        state: State::Planned,
        status: "LinkCreated",
        next_action: Some(
            "Send the consent link to the customer's administrator; then run Test-KodoConsent -LedgerPath.".into(),
        ),
    };
    track_consent(ledger, tracked)?;
    Ok(json!({
        "url": url, "tenantId": req.tenant_id, "appId": req.app_id, "redirectUri": req.redirect_uri,
        "scope": scope, "state": state, "createdDateTime": created,
    }))
}

/// Test-KodoConsent.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestConsent {
    pub app_id: String,
    pub tenant_id: String,
    pub manifest: Value,
    /// A credential of the app itself (its secret or certificate).
    pub sign_in: CredentialSpec,
    /// A mailbox of the customer's to read through EWS as the app (the proof that the
    /// customer's Exchange admits KODO); absent, EWS is not checked and the answer says so.
    #[serde(default)]
    pub ews_mailbox: Option<String>,
    /// A consent ledger to record the result in ([`track_consent`]).
    #[serde(default)]
    pub ledger_path: Option<String>,
}

/// A mailbox address as `-EwsMailbox` takes it: `local@domain`, no spaces or markup (it goes
/// into an HTTP header and an XML element).
fn check_mailbox(mailbox: &str) -> Result<(), KodoError> {
    let mut parts = mailbox.split('@');
    let ok = matches!((parts.next(), parts.next(), parts.next()), (Some(l), Some(d), None) if !l.is_empty() && !d.is_empty())
        && !mailbox.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"'));
    if !ok {
        return Err(KodoError::new(
            ErrorCode::InvalidArgument,
            format!("-EwsMailbox '{mailbox}' is not a mailbox address such as admin@contoso.onmicrosoft.com."),
        )
        .with_target(mailbox.to_string()));
    }
    Ok(())
}

/// What the customer admin's part of EWS is, said where a consent is complete but EWS is not
/// proven: KODO reads mail through EWS, which admits only listed apps (facts.md §8.4).
fn ews_next_step(app_id: &str) -> String {
    format!(
        "KODO reads mail through Exchange Web Services, which since {} admits only the apps on the organization's allow list (EwsAllowedAppIDs): the customer's Exchange administrator runs Grant-KodoEwsAccess -AppId {app_id} (or Grant-KodoConsent does it under GDAP with Exchange Administrator); a change takes up to {} hours.",
        crate::platform::EWS_DISABLEMENT_STARTS,
        ews::PROPAGATION_HOURS
    )
}

/// Signs in to the customer tenant as the app (client credentials) once per API the manifest
/// requires application permissions of, and compares each token's `roles` claim with the
/// manifest. A sign-in refused with AADSTS7000229 (no service principal) or AADSTS700016 (app
/// unknown there) means "not consented" (docs/multitenant-research.md §2); any other failure (a
/// wrong secret, an unknown tenant) is an error. Writes nothing in the tenant, and reads only the
/// customer's domains when the ledger needs them ([`linked_by_domain`]). Delegated permissions
/// are not in an app token and are not checked here.
pub async fn test_consent(env: &Environment, ctx: &OpContext, req: TestConsent) -> Result<Value, KodoError> {
    super::check_guid("-AppId", &req.app_id)?;
    check_tenant(&req.tenant_id)?;
    if let Some(m) = &req.ews_mailbox {
        check_mailbox(m)?;
    }
    let manifest = parse_manifest(&req.manifest)?;
    let ledger = open_ledger(ctx, &req.ledger_path)?;
    let probe = Connection::new(Some(req.tenant_id.clone()), env.clone(), req.sign_in)?;
    if !probe.client_id.eq_ignore_ascii_case(&req.app_id) {
        return Err(KodoError::new(
            ErrorCode::InvalidArgument,
            format!("The sign-in credential is for client id {}, not for the app {}.", probe.client_id, req.app_id),
        ));
    }
    // The audience of each API. SharePoint by its appId: its host differs per customer and is
    // not known before signing in (a client-credentials scope may name the resource's appId).
    let apis = [
        ("Microsoft Graph", GRAPH, env.graph.clone()),
        ("Office 365 Exchange Online", EXCHANGE, env.exchange.clone()),
        ("SharePoint", SHAREPOINT, SHAREPOINT.to_string()),
    ];
    let mut missing: Vec<String> = Vec::new();
    let mut granted = 0usize;
    let required_total: usize = apis.iter().map(|(_, resource, _)| manifest.required_roles(resource).len()).sum();
    let mut present = true;
    let mut refusal: Option<String> = None;
    // The tenant's id, from the first token's `tid`: the ledger names the customer by it too.
    let mut directory_id: Option<String> = None;
    for (name, resource, audience) in &apis {
        let required = manifest.required_roles(resource);
        if required.is_empty() {
            continue;
        }
        ctx.progress("Test-KodoConsent", format!("Signing in to {} as the app for {name}", req.tenant_id), None);
        let token = match probe.token(ctx, audience).await {
            Ok(t) => t,
            Err(e) if e.message.contains("AADSTS7000229") || e.message.contains("AADSTS700016") => {
                present = false;
                refusal = Some(e.message.clone());
                break;
            }
            Err(e) => return Err(e.with_target(req.tenant_id.clone())),
        };
        let claims = crate::crypto::jwt_claims(&token);
        if directory_id.is_none() {
            directory_id = claims["tid"].as_str().map(str::to_string);
        }
        let roles: Vec<String> = claims["roles"]
            .as_array()
            .map(|a| a.iter().filter_map(|r| r.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        for p in required {
            if roles.iter().any(|r| r.eq_ignore_ascii_case(&p)) {
                granted += 1;
            } else {
                missing.push(format!("{name}: {p}"));
            }
        }
    }
    if !present {
        missing = apis
            .iter()
            .flat_map(|(name, resource, _)| {
                manifest.required_roles(resource).into_iter().map(move |p| format!("{name}: {p}"))
            })
            .collect();
        granted = 0;
    }
    let consented = present && missing.is_empty();
    // Consent alone is not "KODO can back this tenant up": mail goes through EWS, which the
    // customer's Exchange admits per app. With a mailbox, one GetFolder as the app proves it (the
    // Exchange token is the one just taken).
    let (ews_access, ews_detail) = match (&req.ews_mailbox, consented) {
        (Some(mailbox), true) => {
            ctx.progress("Test-KodoConsent", format!("Reading {mailbox}'s folder root through EWS as the app"), None);
            match ews::probe(&probe, ctx, mailbox).await? {
                Probe::Admitted => {
                    ("Admitted", format!("EWS GetFolder of {mailbox}'s folder root answered as the app."))
                }
                Probe::Denied { reason } => (
                    "Denied",
                    format!(
                        "EWS refused the app (\"{reason}\"): it is not on the customer's allow list, or a change has not reached Exchange yet. {}",
                        ews_next_step(&req.app_id)
                    ),
                ),
                Probe::Failed { detail } => {
                    ("Failed", format!("EWS GetFolder of {mailbox}'s folder root failed: {detail}."))
                }
            }
        }
        (Some(_), false) => ("NotChecked", "EWS is checked once the consent is complete.".to_string()),
        (None, _) => (
            "NotChecked",
            format!(
                "EWS was not checked (give -EwsMailbox with one of the customer's mailboxes). {}",
                ews_next_step(&req.app_id)
            ),
        ),
    };
    let status = match (consented, present, ews_access) {
        (true, _, "Admitted") => "Ready",
        (true, _, "NotChecked") => "Consented",
        (true, _, _) => "EwsNotAdmitted",
        (false, true, _) => "Incomplete",
        (false, false, _) => "NotConsented",
    };
    let detail = match status {
        "Ready" => format!(
            "Signed in as the app; its tokens carry all {required_total} application roles required, and Exchange admits it to EWS."
        ),
        "Consented" | "EwsNotAdmitted" => format!(
            "Signed in as the app; its tokens carry all {required_total} application roles required. {ews_detail}"
        ),
        "Incomplete" => format!(
            "The app's service principal is present, but {} of {required_total} required application roles are not granted (or not yet in its tokens: grants reach sign-in within minutes).",
            missing.len()
        ),
        _ => format!(
            "The app has no service principal in this tenant: its admin has not consented yet. Send them New-KodoConsentLink's URL. ({})",
            refusal.unwrap_or_default()
        ),
    };
    let (state, next_action) = match status {
        "Ready" => (State::Done, None),
        "NotConsented" => (
            State::Planned,
            Some("The customer's administrator has not consented: send them New-KodoConsentLink's URL.".to_string()),
        ),
        "Incomplete" => (
            State::InProgress,
            Some("Some application permissions are not granted: the customer's administrator consents again (a new link), or wait minutes for grants to reach sign-in.".to_string()),
        ),
        _ => (State::InProgress, Some(ews_detail.clone())),
    };
    let linked = match (&ledger, &directory_id) {
        (Some(l), Some(d)) => linked_by_domain(&probe, ctx, l, &req.tenant_id, d).await,
        _ => None,
    };
    let tracked = Tracked {
        tenant: linked.as_deref().unwrap_or(&req.tenant_id),
        directory_id: directory_id.as_deref(),
        app_id: &req.app_id,
        state,
        status,
        next_action,
    };
    track_consent(ledger, tracked)?;
    Ok(json!({
        "tenantId": req.tenant_id, "appId": req.app_id, "status": status, "consented": consented,
        "servicePrincipalPresent": present, "grantedRoles": granted, "requiredRoles": required_total,
        "missing": missing, "ewsAccess": ews_access, "ewsDetail": ews_detail,
        "backupReady": status == "Ready", "detail": detail,
    }))
}

/// The name of the ledger's entry for a customer checked by a name the ledger does not know (its
/// id) when the customer was linked by one of its domains: the customer's verified domains, read
/// as the app (`GET /organization?$select=verifiedDomains`, which the app's Directory.Read.All
/// allows), named against the ledger's entries known only by a domain. One Graph read, only when
/// the ledger has such an entry and knows the customer by neither name. A read that fails leaves
/// two entries, as without it (said in verbose output).
async fn linked_by_domain(
    app: &Connection,
    ctx: &OpContext,
    ledger: &Ledger,
    tenant: &str,
    directory_id: &str,
) -> Option<String> {
    if ledger.state(tenant).is_some() || ledger.state(directory_id).is_some() || !ledger.has_domain_only_entries() {
        return None;
    }
    let graph = crate::graph::Graph::new(app, ctx);
    let read = graph.get::<Value>("organization?$select=verifiedDomains", crate::graph::Retry::ThrottleOnly).await;
    let org = match read {
        Ok(org) => org,
        Err(e) => {
            ctx.log(
                crate::context::LogLevel::Verbose,
                format!("The customer's domains could not be read, so an entry the ledger has by a domain of theirs stays apart: {}", e.message),
            );
            return None;
        }
    };
    org["value"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|o| o["verifiedDomains"].as_array().into_iter().flatten())
        .filter_map(|d| d["name"].as_str())
        .find(|name| ledger.state(name).is_some_and(|s| s.directory_id.is_none()))
        .map(str::to_string)
}

/// Entra role template ids (Learn "Microsoft Entra built-in roles"; docs/multitenant-research.md §3).
pub const PRIVILEGED_ROLE_ADMINISTRATOR: &str = "e8611ab8-c189-46e8-94e1-60213ab1f814";
pub const APPLICATION_ADMINISTRATOR: &str = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3";
pub const CLOUD_APPLICATION_ADMINISTRATOR: &str = "158c047a-c907-4556-b7ef-446551a6b5f7";
/// The Entra roles that may run Set-OrganizationConfig, the EWS allow list's cmdlet (docs/
/// exchange-research.md §4: "The Global Administrator and Exchange Administrator roles provide the
/// required permissions for any task in Exchange Online PowerShell"); role template ids from Learn
/// "Microsoft Entra built-in roles".
pub const EXCHANGE_ADMINISTRATOR: &str = "29232cdf-9323-42fd-ade2-1d097af3e4de";
pub const GLOBAL_ADMINISTRATOR: &str = "62e90394-69f5-4237-9190-012177145e10";

/// Test-KodoGdapAccess.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestGdap {
    pub tenant_id: String,
}

/// The signed-in partner's GDAP relationships with one customer (Graph
/// `tenantRelationships/delegatedAdminRelationships`), judged for consenting to KODO's app on the
/// customer's behalf: one relationship active and not past its end, and among the roles of the
/// active ones Privileged Role Administrator (granting Microsoft Graph app roles needs it) and
/// Application Administrator or Cloud Application Administrator (the other APIs' roles,
/// delegated grants, the service principal) - facts.md §3.1. Which roles Partner Center's
/// consent API itself checks is UNCONFIRMED (docs/multitenant-research.md §4). Read only.
pub async fn test_gdap(graph: &Graph<'_>, req: TestGdap) -> Result<Value, KodoError> {
    super::check_guid("-TenantId", &req.tenant_id)?;
    let all: Vec<Value> = match graph.list("tenantRelationships/delegatedAdminRelationships", Retry::ThrottleOnly).await
    {
        Ok(v) => v,
        Err(e) if e.code == ErrorCode::PermissionDenied => {
            return Err(KodoError::new(
                ErrorCode::PermissionDenied,
                format!(
                    "The signed-in identity cannot read the partner's GDAP relationships: it needs DelegatedAdminRelationship.Read.All. ({})",
                    e.message
                ),
            ));
        }
        Err(e) => return Err(e),
    };
    // Past its end or not, on Graph's clock: Entra ends the relationship by its own time.
    let now = graph.service_now();
    let mine: Vec<&Value> = all
        .iter()
        .filter(|r| r["customer"]["tenantId"].as_str().is_some_and(|t| t.eq_ignore_ascii_case(&req.tenant_id)))
        .collect();
    let live = |r: &Value| {
        r["status"] == "active"
            && r["endDateTime"]
                .as_str()
                .and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok())
                .is_some_and(|e| e > now)
    };
    let active: Vec<&&Value> = mine.iter().filter(|r| live(r)).collect();
    let mut roles: Vec<String> = Vec::new();
    for r in &active {
        for u in r["accessDetails"]["unifiedRoles"].as_array().cloned().unwrap_or_default() {
            if let Some(id) = u["roleDefinitionId"].as_str() {
                if !roles.iter().any(|x| x.eq_ignore_ascii_case(id)) {
                    roles.push(id.to_ascii_lowercase());
                }
            }
        }
    }
    let has = |id: &str| roles.iter().any(|r| r == id);
    let mut missing: Vec<&str> = Vec::new();
    if !has(PRIVILEGED_ROLE_ADMINISTRATOR) {
        missing.push("Privileged Role Administrator");
    }
    if !has(APPLICATION_ADMINISTRATOR) && !has(CLOUD_APPLICATION_ADMINISTRATOR) {
        missing.push("Application Administrator or Cloud Application Administrator");
    }
    // Not needed for consent; needed to put the app on the customer's EWS allow list.
    let can_set_ews = has(EXCHANGE_ADMINISTRATOR) || has(GLOBAL_ADMINISTRATOR);
    let expired = mine.iter().any(|r| {
        r["status"] == "expired"
            || r["endDateTime"]
                .as_str()
                .and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok())
                .is_some_and(|e| e <= now)
    });
    let (reason, detail) = if mine.is_empty() {
        ("NoRelationship", "The partner has no GDAP relationship with this customer.".to_string())
    } else if active.is_empty() && expired {
        (
            "Expired",
            "The partner's GDAP relationship with this customer has expired; the customer must approve a new one."
                .to_string(),
        )
    } else if active.is_empty() {
        (
            "NotActive",
            format!(
                "No GDAP relationship with this customer is active (status: {}).",
                mine.iter().filter_map(|r| r["status"].as_str()).collect::<Vec<_>>().join(", ")
            ),
        )
    } else if !missing.is_empty() {
        ("MissingRoles", format!("The active GDAP relationship lacks: {}.", missing.join("; ")))
    } else if !can_set_ews {
        (
            "Ready",
            "An active GDAP relationship holds the roles consent needs; not Exchange Administrator, so the customer's EWS allow list stays the customer's task.".to_string(),
        )
    } else {
        ("Ready", "An active GDAP relationship holds the roles consent needs, and Exchange Administrator for the EWS allow list.".to_string())
    };
    let relationships: Vec<Value> = mine
        .iter()
        .map(|r| json!({ "id": r["id"], "displayName": r["displayName"], "status": r["status"], "endDateTime": r["endDateTime"] }))
        .collect();
    Ok(json!({
        "tenantId": req.tenant_id, "ready": reason == "Ready", "reason": reason, "detail": detail,
        "relationships": relationships, "roleDefinitionIds": roles, "missingRoles": missing,
        "canSetEwsAllowList": can_set_ews,
    }))
}

/// Grant-KodoConsent: the GDAP path.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrantConsentGdap {
    pub app_id: String,
    pub tenant_id: String,
    pub manifest: Value,
    /// How the plan is approved (absent: every step).
    #[serde(default)]
    pub approval: Approval,
    /// The EWS step's consent beyond adding the app to a list in force (-EnableEws,
    /// -AllowEwsRestriction).
    #[serde(default)]
    pub ews_consent: super::ews::EwsConsent,
}

/// The customer's EWS allow list under GDAP: the partner's admin signs in to the customer's
/// Exchange Online (a delegated token at the customer's authority) when the relationship holds
/// Exchange Administrator or Global Administrator, and the EWS step is planned as
/// Grant-KodoEwsAccess plans it. That Exchange Online's admin API accepts a GDAP token for
/// Set-OrganizationConfig is UNCONFIRMED (Learn "Workloads supported by GDAP" lists the Exchange
/// admin center; docs/multitenant-research.md §7).
struct GdapEws {
    exchange: Connection,
    plan: super::ews::EwsPlan,
}

async fn plan_gdap_ews(
    conn: &Connection,
    ctx: &OpContext,
    req: &GrantConsentGdap,
    roles: &[String],
) -> Result<Option<GdapEws>, KodoError> {
    let capable = roles
        .iter()
        .any(|r| r.eq_ignore_ascii_case(EXCHANGE_ADMINISTRATOR) || r.eq_ignore_ascii_case(GLOBAL_ADMINISTRATOR));
    if !capable {
        return Ok(None);
    }
    ctx.progress("Grant-KodoConsent", format!("Reading the EWS settings of {}", req.tenant_id), Some(30));
    let audience = conn.env.exchange.trim_end_matches('/').to_string();
    let token = conn.delegated_token_at(ctx, Some(&req.tenant_id), &audience, &format!("{audience}/.default")).await?;
    let claims = crate::crypto::jwt_claims(&token);
    let exchange = Connection::new(
        Some(req.tenant_id.clone()),
        conn.env.clone(),
        CredentialSpec::AccessToken { token: Secret::new(token) },
    )?;
    *exchange.claims.lock() = claims;
    let org = ews::read(&ExchangeAdmin::new(&exchange, ctx)).await?;
    let plan = super::ews::plan_ews(org, &req.app_id, &format!("app {}", req.app_id), &req.ews_consent);
    Ok(Some(GdapEws { exchange, plan }))
}

/// The EWS step's answer: carried out where approved, or what the customer's administrator must
/// do when the relationship holds no Exchange role.
async fn apply_gdap_ews(
    ews_step: &Option<GdapEws>,
    ctx: &OpContext,
    app_id: &str,
    decided: &mut crate::plan::Decided,
) -> Result<Value, KodoError> {
    match ews_step {
        Some(g) => super::ews::apply_ews(&ExchangeAdmin::new(&g.exchange, ctx), ctx, &g.plan, app_id, decided).await,
        None => Ok(super::ews::out_of_reach(
            app_id,
            "The GDAP relationship holds neither Exchange Administrator nor Global Administrator, so the partner cannot change the customer's EWS allow list (EwsAllowedAppIDs), and KODO cannot read mail until the app is on it. Ask the customer to approve a relationship with Exchange Administrator, or to run the command themselves.".into(),
            ctx.clock().utc_now(),
        )),
    }
}

/// Consents to the provider's multi-tenant app in a customer tenant as the partner's signed-in
/// administrator under GDAP, with no customer-side step (docs/multitenant-research.md §4-§5):
///
/// 1. the partner's GDAP relationship with the customer is checked first ([`test_gdap`], read in
///    the partner tenant with the admin's token for DelegatedAdminRelationship.Read.All):
///    anything but Ready refuses with `GdapAccessDenied`, nothing written;
/// 2. the admin's refresh token is redeemed at the customer tenant's authority (a delegated
///    Graph token whose directory roles come from the relationship);
/// 3. in the customer tenant: the app's service principal (`POST /servicePrincipals {appId}`)
///    if absent, and each application permission of the manifest not yet assigned
///    (`POST /servicePrincipals/{resourceSpId}/appRoleAssignedTo`), planned, approved step by
///    step, applied; a re-run plans nothing.
///
/// 4. the customer's EWS allow list (facts.md §8.4), as Grant-KodoEwsAccess does it, when the
///    relationship holds Exchange Administrator or Global Administrator; otherwise the answer's
///    EWS part is `ManualActionRequired`, naming what the customer's administrator runs.
///
/// Delegated permissions (the tenant-wide oauth2PermissionGrant) are not granted here: on this
/// path they are Partner Center's application consent's (§4, not built).
pub async fn grant_consent_gdap(conn: &Connection, ctx: &OpContext, req: GrantConsentGdap) -> Result<Value, KodoError> {
    super::check_guid("-AppId", &req.app_id)?;
    super::check_guid("-TenantId", &req.tenant_id)?;
    let manifest = parse_manifest(&req.manifest)?;
    if !conn.is_delegated() {
        return Err(KodoError::new(
            ErrorCode::InvalidArgument,
            format!(
                "Grant-KodoConsent acts as the partner's administrator under GDAP, and this connection is an app's ({}). Connect-Kodo to the partner tenant with -UseDeviceCode or the browser sign-in.",
                conn.kind
            ),
        )
        .with_target(req.tenant_id.clone()));
    }
    let graph_uri = conn.env.graph.trim_end_matches('/').to_string();
    ctx.progress("Grant-KodoConsent", format!("Checking the GDAP relationship with {}", req.tenant_id), Some(5));
    let read_scope = format!("{graph_uri}/DelegatedAdminRelationship.Read.All offline_access");
    let partner_token = conn.delegated_token_at(ctx, None, &graph_uri, &read_scope).await?;
    let partner = Connection::new(
        Some(conn.tenant.clone()),
        conn.env.clone(),
        CredentialSpec::AccessToken { token: Secret::new(partner_token) },
    )?;
    let gdap = test_gdap(&Graph::new(&partner, ctx), TestGdap { tenant_id: req.tenant_id.clone() }).await?;
    if gdap["ready"] != true {
        return Err(KodoError::new(
            ErrorCode::GdapAccessDenied,
            format!(
                "Nothing was changed in tenant {}: GDAP {}: {}",
                req.tenant_id,
                gdap["reason"].as_str().unwrap_or(""),
                gdap["detail"].as_str().unwrap_or("")
            ),
        )
        .with_target(req.tenant_id.clone()));
    }
    ctx.progress("Grant-KodoConsent", format!("Signing in to {} under GDAP", req.tenant_id), Some(20));
    let scope =
        format!("{graph_uri}/Application.ReadWrite.All {graph_uri}/AppRoleAssignment.ReadWrite.All offline_access");
    let token = conn.delegated_token_at(ctx, Some(&req.tenant_id), &graph_uri, &scope).await?;
    let customer = Connection::new(
        Some(req.tenant_id.clone()),
        conn.env.clone(),
        CredentialSpec::AccessToken { token: Secret::new(token) },
    )?;
    let graph = Graph::new(&customer, ctx);
    let roles: Vec<String> = gdap["roleDefinitionIds"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let ews_step = plan_gdap_ews(conn, ctx, &req, &roles).await?;
    // One round of reads: the app's service principal and each resource API's.
    let resources: Vec<String> = manifest.resources();
    let sp_read =
        Request::get(format!("servicePrincipals(appId='{}')?$select=id,displayName", req.app_id), Retry::ThrottleOnly);
    let mut reads = vec![sp_read.clone()];
    reads.extend(resources.iter().map(|r| super::permissions::resource_lookup(r)));
    let mut answers = graph.batch(&reads).await?.into_iter();
    let sp = answers.next().unwrap_or_default();
    let mut sp_id = if sp.status == 404 { None } else { Some(sp.json::<ServicePrincipal>(&sp_read)?.id().to_string()) };
    let resource_sps = super::permissions::resource_sps_from(&resources, answers.collect())?;
    let Resolution { mut rows, resolved, missing } = resolve(&manifest, &resource_sps);
    if !missing.is_empty() {
        return Err(KodoError::new(
            ErrorCode::InvalidArgument,
            format!(
                "Nothing was changed: tenant {} does not offer {} of the manifest's permissions: {}.",
                req.tenant_id,
                missing.len(),
                crate::error::name_some(&missing, 10)
            ),
        ));
    }
    let assigned: Vec<(String, String)> = match &sp_id {
        Some(id) => graph
            .list::<AppRoleAssignment>(format!("servicePrincipals/{id}/appRoleAssignments"), Retry::Replication)
            .await?
            .iter()
            .map(AppRoleAssignment::key)
            .collect(),
        None => Vec::new(),
    };
    let target = format!("tenant {}", req.tenant_id);
    let mut plan = Plan::new();
    if sp_id.is_none() {
        plan.add("servicePrincipal", format!("Create the service principal of app {}", req.app_id), target.clone());
    }
    let mut assigns: Vec<(String, usize, String, String)> = Vec::new();
    for r in resolved.iter().filter(|r| r.application) {
        if assigned.contains(&(r.resource_sp_id.to_ascii_lowercase(), r.permission_id.clone())) {
            rows[r.row].status = Some(RowStatus::AlreadyPresent);
            continue;
        }
        let step = format!("assign:{}:{}", r.resource_app_id, r.permission_id);
        plan.add(
            step.clone(),
            format!("Grant {} {} (application) to app {}", rows[r.row].api, rows[r.row].permission, req.app_id),
            target.clone(),
        );
        assigns.push((step, r.row, r.resource_sp_id.clone(), r.permission_id.clone()));
    }
    if let Some(step) = ews_step.as_ref().and_then(|g| g.plan.step.clone()) {
        plan.push(step);
    }
    let mut decided = plan.decide(ctx, &req.approval).await?;
    // The report names the application permissions only (delegated ones are not granted here).
    let app_rows: Vec<usize> = resolved.iter().filter(|r| r.application).map(|r| r.row).collect();
    let fields = |rows: &[crate::manifest::PermissionRow], sp: &Option<String>, rt: u64, ews: Value| {
        let shown: Vec<&crate::manifest::PermissionRow> = app_rows.iter().map(|i| &rows[*i]).collect();
        json!({
            "tenantId": req.tenant_id, "appId": req.app_id, "servicePrincipalId": sp,
            "gdapRoleDefinitionIds": gdap["roleDefinitionIds"], "rows": shown, "roundTrips": rt, "ews": ews,
        })
    };
    if !decided.applies() {
        for (_, row, _, _) in &assigns {
            rows[*row].status = Some(RowStatus::WouldGrant);
        }
        let ews = apply_gdap_ews(&ews_step, ctx, &req.app_id, &mut decided).await?;
        return Ok(decided.report_with(fields(&rows, &sp_id, graph.round_trips(), ews)));
    }
    if sp_id.is_none() && decided.approves("servicePrincipal") {
        ctx.progress("Grant-KodoConsent", "Creating the app's service principal", Some(50));
        let create = Request::post("servicePrincipals", json!({ "appId": req.app_id }), Retry::ThrottleOnly);
        let r = graph.send(&create).await?;
        let id = if r.status == 409 {
            // Made meanwhile (an interrupted earlier run): read it.
            graph
                .get::<ServicePrincipal>(
                    format!("servicePrincipals(appId='{}')?$select=id", req.app_id),
                    Retry::Replication,
                )
                .await?
                .id()
                .to_string()
        } else if r.ok() {
            r.json::<ServicePrincipal>(&create)?.id().to_string()
        } else {
            return Err(graph_error("POST", "servicePrincipals", &r));
        };
        sp_id = Some(id);
        decided.done("servicePrincipal");
    }
    let Some(principal) = sp_id.clone() else {
        // The service principal was not approved: no assignment can be made.
        let ews = apply_gdap_ews(&ews_step, ctx, &req.app_id, &mut decided).await?;
        return Ok(decided.report_with(fields(&rows, &sp_id, graph.round_trips(), ews)));
    };
    let approved: Vec<&(String, usize, String, String)> = assigns.iter().filter(|a| decided.approves(&a.0)).collect();
    let writes: Vec<Request> = approved
        .iter()
        .map(|(_, _, resource, role)| {
            Request::post(
                format!("servicePrincipals/{resource}/appRoleAssignedTo"),
                json!({ "principalId": principal, "resourceId": resource, "appRoleId": role }),
                Retry::Idempotent,
            )
        })
        .collect();
    if !writes.is_empty() {
        ctx.progress("Grant-KodoConsent", format!("Granting {} application permissions", writes.len()), Some(70));
    }
    let results = if writes.is_empty() { Vec::new() } else { graph.batch(&writes).await? };
    for ((step, row, _, _), r) in approved.iter().zip(results.iter()) {
        // facts.md §3.12: a duplicate (an interrupted earlier run made it).
        let duplicate = r.message() == "Permission being assigned already exists on the object";
        if !r.ok() && !duplicate {
            return Err(graph_error("POST", "appRoleAssignedTo", r).with_target(req.tenant_id.clone()));
        }
        rows[*row].status = Some(if r.ok() { RowStatus::Granted } else { RowStatus::AlreadyPresent });
        decided.done(step);
    }
    let ews = apply_gdap_ews(&ews_step, ctx, &req.app_id, &mut decided).await?;
    if decided.changes().is_empty() {
        ctx.log(
            LogLevel::Verbose,
            "The app's service principal and every application permission are in place: nothing to change.",
        );
    }
    Ok(decided.report_with(fields(&rows, &sp_id, graph.round_trips(), ews)))
}

/// The app's `signInAudience` and `web` (read only for New-KodoApp -MultiTenant).
pub async fn read_audience(graph: &Graph<'_>, object_id: &str) -> Result<Value, KodoError> {
    let answer =
        graph.get::<Value>(format!("applications/{object_id}?$select=signInAudience,web"), Retry::Replication).await?;
    Ok(answer)
}

/// The PATCH that makes the app multi-tenant with `redirect_uris` among its web redirect URIs,
/// or None when it is so already. `web` is sent whole, with the URIs it had kept.
pub fn audience_change(current: &Value, redirect_uris: &[String]) -> Option<Value> {
    let mut web = current.get("web").cloned().filter(Value::is_object).unwrap_or_else(|| json!({}));
    let mut uris: Vec<String> = web["redirectUris"]
        .as_array()
        .map(|a| a.iter().filter_map(|u| u.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let mut changed = current["signInAudience"].as_str() != Some(MULTI_TENANT_AUDIENCE);
    for u in redirect_uris {
        if !uris.contains(u) {
            uris.push(u.clone());
            changed = true;
        }
    }
    if !changed {
        return None;
    }
    // Read-only or server-set members of the complex value are not sent back.
    if let Some(m) = web.as_object_mut() {
        m.retain(|k, _| matches!(k.as_str(), "homePageUrl" | "logoutUrl" | "implicitGrantSettings" | "redirectUris"));
    }
    web["redirectUris"] = json!(uris);
    Some(json!({ "signInAudience": MULTI_TENANT_AUDIENCE, "web": web }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_change_is_none_when_in_place() {
        let current = json!({ "signInAudience": "AzureADMultipleOrgs", "web": { "redirectUris": ["https://a/x"] } });
        assert!(audience_change(&current, &["https://a/x".into()]).is_none());
        let single =
            json!({ "signInAudience": "AzureADMyOrg", "web": { "redirectUris": ["https://b"], "logoutUrl": null } });
        let patch = audience_change(&single, &["https://a/x".into()]).unwrap();
        assert_eq!(patch["signInAudience"], "AzureADMultipleOrgs");
        assert_eq!(patch["web"]["redirectUris"], json!(["https://b", "https://a/x"]));
    }

    #[test]
    fn redirect_uris_are_checked() {
        assert!(check_redirect_uri("https://partner.example/consent").is_ok());
        assert!(check_redirect_uri("http://localhost:8400/x").is_ok());
        assert!(check_redirect_uri("http://partner.example/x").is_err());
        assert!(check_redirect_uri("https://a/x#frag").is_err());
        assert!(check_tenant("contoso.onmicrosoft.com").is_ok());
        assert!(check_tenant("a b").is_err());
    }
}
