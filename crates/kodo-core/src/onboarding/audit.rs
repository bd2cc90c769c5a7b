//! Test-KodoApp: audits the app against a manifest, read-only. Each row: required vs
//! configured (requiredResourceAccess) vs consented (assignment or grant), resolved by the same
//! rule as Grant-KodoPermissions; each credential's expiry; the SharePoint setting; retired
//! items; and, when credentials are given, a live sign-in as the app.

use super::check_guid;
use super::permissions::{
    Holdings, ResourceSps, consent_reads, consents_from, is_consented, is_declared, read_app_and_apis,
};
use super::procedure::needs_ews;
use super::scope;
use crate::auth::{Connection, CredentialSpec};
use crate::context::OpContext;
use crate::error::{ErrorCode, KodoError};
use crate::exchange::ews::{self, OrgEws, Probe};
use crate::exchange::{ExchangeAdmin, rbac};
use crate::graph::models::{AppRoleAssignment, Application, OAuth2PermissionGrant, end_of};
use crate::graph::{Graph, Request, Response, Retry};
use crate::manifest::{Manifest, RowStatus, parse_manifest, resolve};
use crate::platform;
use crate::platform::{EXCHANGE_APP_ID as EXCHANGE, GRAPH_APP_ID as GRAPH, SHAREPOINT_APP_ID as SHAREPOINT};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashSet;

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
    pub sign_in: Vec<CredentialSpec>,
    /// A mailbox for the live EWS probe (read its folder root as the app). None: no probe.
    #[serde(default)]
    pub ews_mailbox: Option<String>,
    /// The administrative unit the mailbox permissions must be limited to (Exchange RBAC for
    /// Applications). None: tenant-wide grants pass, and so do Exchange roles found instead.
    #[serde(default)]
    pub mailbox_scope: Option<String>,
}

fn default_warn_days() -> i64 {
    30
}

fn check(area: &str, name: &str, status: &str, detail: impl Into<String>) -> Value {
    json!({ "area": area, "check": name, "status": status, "detail": detail.into() })
}

pub async fn test_app(conn: &Connection, ctx: &OpContext, graph: &Graph<'_>, req: TestApp) -> Result<Value, KodoError> {
    test_app_known(conn, ctx, graph, req, None, None).await
}

/// What Invoke-KodoOnboarding read of the tenant moments before, for its audit when the run
/// wrote nothing (neither in Graph nor in Exchange): the same reads again would answer the same.
/// A run that wrote anything is audited from fresh reads, which prove the writes landed.
pub(crate) struct KnownAudit {
    pub app: Application,
    pub holdings: Holdings,
    pub resource_sps: ResourceSps,
    /// Graph's answer to the SharePoint setting's read (`sharepoint::legacy_auth_graph_read`),
    /// sent with the caller's reads (None: not read; the audit reads it).
    pub sharepoint: Option<Response>,
}

/// `known`: what the caller read moments before (None: the audit reads for itself). `org`: the
/// caller's read of the EWS settings, made alongside (not read again, a failure included; None:
/// the audit reads them when the manifest needs EWS).
pub(crate) async fn test_app_known(
    conn: &Connection,
    ctx: &OpContext,
    graph: &Graph<'_>,
    req: TestApp,
    known: Option<KnownAudit>,
    org: Option<Result<OrgEws, KodoError>>,
) -> Result<Value, KodoError> {
    let manifest = parse_manifest(&req.manifest)?;
    check_guid("-AppId", &req.app_id)?;
    // The live check's credentials are checked before anything is read.
    let probes = live_probes(conn, &req.app_id, req.sign_in)?;
    // One round of reads: the app, its service principal and what it holds, the resource APIs,
    // and the SharePoint setting when Graph serves it (no host lookup needed then); alongside,
    // the EWS allow list through Exchange and the live check's sign-ins and reads as the app.
    let (app, held, resource_sps, known_org, sharepoint, fetched) = match known {
        Some(k) => (k.app, k.holdings, k.resource_sps, org, k.sharepoint, None),
        None => {
            let setting = crate::sharepoint::legacy_auth_graph_read(conn);
            let resources = manifest.resources();
            let reads =
                read_app_and_apis(graph, &req.app_id, Retry::ReplicationShort, &resources, "", setting.as_ref());
            let org = async {
                match org {
                    Some(read) => Some(read),
                    None if needs_ews(&manifest) => Some(ews::read(&ExchangeAdmin::new(conn, ctx)).await),
                    None => None,
                }
            };
            let live =
                async { if probes.is_empty() { None } else { Some(live_fetch(conn, ctx, graph, &probes).await) } };
            let (reads, org, live) = tokio::join!(reads, org, live);
            let (app, held, resource_sps, sharepoint) = reads?;
            (app, held, resource_sps, org, sharepoint, live.transpose()?)
        }
    };
    let sp_id = held.sp_id;
    let mut checks = Vec::new();
    if sp_id.is_none() {
        checks.push(check(
            "App",
            "Service principal",
            "Fail",
            "The app has no service principal: nothing is consented. Run New-KodoApp.",
        ));
    }
    let (assignments, grants): (Vec<AppRoleAssignment>, Vec<OAuth2PermissionGrant>) = match &sp_id {
        Some(id) => match held.consents {
            Some(c) => c,
            None => {
                let reads = consent_reads(id, Retry::Idempotent);
                let answers = graph.batch(&reads).await?;
                consents_from(graph, &reads, answers).await?
            }
        },
        None => (Vec::new(), Vec::new()),
    };
    let assigned: HashSet<(String, String)> = assignments.iter().map(AppRoleAssignment::key).collect();

    // Permissions: required vs configured vs consented, resolved as Grant-KodoPermissions does.
    let resolution = resolve(&manifest, &resource_sps);
    let declared = app.required_resource_access();
    // Mailbox permissions may be Exchange roles instead (RBAC for Applications): read them when
    // a scope is asked for, or when such a permission is not consented in Entra.
    let role_of = |i: usize| {
        let row = &resolution.rows[i];
        rbac::role_for(&row.resource_app_id, &row.permission, row.kind == "Application")
    };
    let unconsented_mail = resolution
        .resolved
        .iter()
        .any(|r| role_of(r.row).is_some() && !is_consented(r, &resolution.rows[r.row].permission, &assigned, &grants));
    let exchange_roles = if req.mailbox_scope.is_some() || unconsented_mail {
        let admin = ExchangeAdmin::new(conn, ctx);
        Some(scope::read_exchange(&admin, Some(&req.app_id)).await)
    } else {
        None
    };
    if let Some(Err(e)) = &exchange_roles {
        checks.push(check(
            "MailboxScope",
            "Exchange roles of the app",
            if req.mailbox_scope.is_some() { "Fail" } else { "Warn" },
            format!("Could not be read, so the mailbox permissions granted in Exchange are unverified: {}", e.message),
        ));
    }
    let exchange_roles = exchange_roles.and_then(Result::ok);
    // The permissions a token need not carry: those held as Exchange roles.
    let mut in_exchange: Vec<(String, String)> = Vec::new();
    for (i, row) in resolution.rows.iter().enumerate() {
        let source = &manifest.permissions[row.row.unwrap_or(1) - 1];
        let name = source.label();
        match row.status {
            Some(RowStatus::Duplicate) => continue,
            Some(RowStatus::Retired) => {
                let requested = declared.iter().any(|e| e.resource_app_id.eq_ignore_ascii_case(&row.resource_app_id));
                let retired = row.retired.clone().unwrap_or(Value::Null);
                checks.push(check(
                    "Permission",
                    &name,
                    if requested { "Warn" } else { "Info" },
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
            Some(RowStatus::NotOffered) => {
                checks.push(check(
                    "Permission",
                    &name,
                    if source.optional { "Info" } else { "Fail" },
                    "This tenant does not offer this permission.",
                ));
                continue;
            }
            _ => {}
        }
        let Some(r) = resolution.resolved.iter().find(|r| r.row == i) else { continue };
        let configured = is_declared(declared, r);
        let consented = is_consented(r, &row.permission, &assigned, &grants);
        if let (Some(role), Some(state)) = (role_of(i), &exchange_roles) {
            if let Some((status, detail)) = scoped_check(role, consented, state, req.mailbox_scope.as_deref()) {
                if status == "Pass" {
                    in_exchange.push((row.resource_app_id.clone(), row.permission.clone()));
                }
                checks.push(check("Permission", &name, status, detail));
                continue;
            }
        }
        let (status, detail) = match (configured, consented) {
            (true, true) => ("Pass", "Configured and consented."),
            (false, true) => {
                ("Warn", "Consented but not declared in the app's API permissions (requiredResourceAccess).")
            }
            (true, false) => ("Fail", "Declared but admin consent is missing (revoked?). Run Grant-KodoPermissions."),
            (false, false) => ("Fail", "Neither declared nor consented. Run Grant-KodoPermissions."),
        };
        checks.push(check("Permission", &name, status, detail));
    }
    // Expired or not by Graph's clock, as Entra judges a secret at sign-in.
    checks.extend(credential_checks(&app, graph.service_now(), req.warn_days));
    // Step 17 is retired (IDCRL is blocked for good): On enables nothing and signals a weaker
    // posture; Off is where a tenant should be.
    let step17 = &platform::LEGACY_AUTH;
    let legacy_auth = match sharepoint {
        Some(answer) => crate::sharepoint::legacy_auth_from(answer),
        None => crate::sharepoint::legacy_auth_enabled(conn, ctx).await,
    };
    checks.push(match legacy_auth {
        Ok(true) => check(
            "SharePoint",
            "LegacyAuthProtocolsEnabled",
            "Warn",
            format!(
                "On, but step 17 is retired: legacy authentication (IDCRL) is blocked for good since {} ({}), so the setting enables nothing and only signals a weaker posture. KODO does not need it: turn it off with Set-KodoSharePointTenant -LegacyAuthProtocolsEnabled $false.",
                step17.since, step17.source
            ),
        ),
        Ok(false) => check(
            "SharePoint",
            "LegacyAuthProtocolsEnabled",
            "Pass",
            format!("Off. Step 17 is retired since {}: KODO does not need it.", step17.since),
        ),
        Err(e) => check("SharePoint", "LegacyAuthProtocolsEnabled", "Info", format!("Could not be read (step 17 is retired; KODO does not need it): {}", e.message)),
    });
    // Retired items beyond the manifest (facts.md §8).
    let certificate = !app.key_credentials().is_empty();
    checks.push(check(
        "Retired",
        "SharePoint appinv.aspx (Azure ACS)",
        if certificate { "Info" } else { "Warn" },
        format!(
            "Retired for every tenant on {}; replaced by SharePoint Sites.FullControl.All and a certificate credential{}.",
            platform::SHAREPOINT_ACS.since,
            if certificate {
                " (the app has a certificate)"
            } else {
                ": the app has no certificate, so SharePoint app-only access fails"
            }
        ),
    ));
    // Exchange Web Services: KODO reads mail through it, where the organization lets the app.
    let org = if needs_ews(&manifest) {
        let read = match known_org {
            Some(read) => read,
            None => ews::read(&ExchangeAdmin::new(conn, ctx)).await,
        };
        checks.push(match &read {
            Ok(org) => ews_check(org, &req.app_id),
            Err(e) => check(
                "EWS",
                "EWS allow list",
                "Fail",
                format!("Could not be read, so KODO's mail access is unverified: {}", e.message),
            ),
        });
        checks.push(ews_end_check(ctx.clock().utc_now()));
        read.ok()
    } else {
        None
    };
    if !probes.is_empty() {
        let live = Live {
            app_id: &req.app_id,
            manifest: &manifest,
            ews: org.as_ref(),
            ews_mailbox: req.ews_mailbox.as_deref(),
            in_exchange: &in_exchange,
        };
        let fetched = match fetched {
            Some(f) => f,
            None => live_fetch(conn, ctx, graph, &probes).await?,
        };
        checks.extend(live_checks(conn, ctx, live, probes, fetched).await?);
    }
    let fails = checks.iter().filter(|c| c["status"] == "Fail").count();
    let warns = checks.iter().filter(|c| c["status"] == "Warn").count();
    Ok(
        json!({ "checks": checks, "summary": { "passed": fails == 0, "fails": fails, "warnings": warns, "total": checks.len() } }),
    )
}

/// A mailbox permission held (or to be held) as an Exchange role: the check, or None when the
/// Entra grant alone decides (no scope asked for, and no Exchange role of it).
fn scoped_check(
    role: &str,
    consented: bool,
    state: &scope::ExchangeState,
    unit: Option<&str>,
) -> Option<(&'static str, String)> {
    let mine: Vec<&rbac::Assignment> = state.assignments.iter().filter(|a| a.role.eq_ignore_ascii_case(role)).collect();
    match unit {
        Some(unit) if consented => Some((
            "Fail",
            format!(
                "Consented tenant-wide in Microsoft Entra ID: that grant reaches every mailbox, so the scope to administrative unit {unit} has no effect (Entra and Exchange grants add up). Run Grant-KodoPermissions -MailboxScope {unit}: it revokes it."
            ),
        )),
        Some(unit) if mine.iter().any(|a| !a.scoped_to(unit)) => Some((
            "Fail",
            format!(
                "The app holds Exchange role '{role}' beyond administrative unit {unit} ({}): it reaches mailboxes outside the scope. Run Grant-KodoPermissions -MailboxScope {unit}: it limits them.",
                mine.iter()
                    .filter(|a| !a.scoped_to(unit))
                    .map(|a| a.scope.clone().unwrap_or_else(|| a.scope_type.clone()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        Some(unit) if !mine.is_empty() => Some((
            "Pass",
            format!(
                "Granted in Exchange Online as '{role}', scoped to administrative unit {unit}; not granted tenant-wide."
            ),
        )),
        Some(unit) => Some((
            "Fail",
            format!(
                "Not granted: the app holds no Exchange role '{role}' scoped to administrative unit {unit}. Run Grant-KodoPermissions -MailboxScope {unit}."
            ),
        )),
        None if consented => None,
        None => mine.first().map(|a| {
            let reach = match &a.scope {
                Some(s) => format!("scoped to {} {s}", a.scope_type),
                None => "for the whole organization".to_string(),
            };
            ("Pass", format!("Granted in Exchange Online as '{role}', {reach}."))
        }),
    }
}

/// Each secret's and certificate's expiry, and whether any is valid. An expired credential is a
/// failure only when no valid one is left beside it: once a re-run has made a new secret, the
/// one it replaced signs nothing in and stops nothing, so it is a warning that says how to remove
/// it (a nightly audit that failed on it would fail every night after a healthy rotation).
fn credential_checks(app: &Application, now: chrono::DateTime<chrono::Utc>, warn_days: i64) -> Vec<Value> {
    let secrets = app.password_credentials().iter().map(|c| {
        (
            "Client secret",
            c.display_name.as_deref().or(c.hint.as_deref()),
            c.key_id.as_deref(),
            c.end_date_time.as_deref(),
        )
    });
    let keys = app
        .key_credentials()
        .iter()
        .map(|c| ("Certificate", c.display_name.as_deref(), c.key_id.as_deref(), c.end_date_time.as_deref()));
    let all: Vec<_> = secrets.chain(keys).map(|(kind, name, key_id, end)| (kind, name, key_id, end_of(end))).collect();
    let any_valid = all.iter().any(|(_, _, _, end)| end.is_some_and(|e| e >= now));
    let mut checks = Vec::new();
    for (kind, name, key_id, end) in all {
        let label = format!("{kind} {}", name.unwrap_or(key_id.unwrap_or("")));
        match end {
            Some(e) if e < now && any_valid => checks.push(check(
                "Credential",
                &label,
                "Warn",
                format!(
                    "Expired on {}: it can no longer sign in, and a valid credential is left beside it. Remove it: Remove-KodoAppCredential -AppId {} -KeyId {}",
                    e.format("%Y-%m-%d"),
                    app.app_id(),
                    key_id.unwrap_or("<keyId>")
                ),
            )),
            Some(e) if e < now => {
                checks.push(check("Credential", &label, "Fail", format!("Expired on {}.", e.format("%Y-%m-%d"))))
            }
            Some(e) if (e - now).num_days() < warn_days => checks.push(check(
                "Credential",
                &label,
                "Warn",
                format!("Expires on {} ({} days): rotate it.", e.format("%Y-%m-%d"), (e - now).num_days()),
            )),
            Some(e) => checks.push(check("Credential", &label, "Pass", format!("Valid until {}.", e.format("%Y-%m-%d")))),
            None => checks.push(check("Credential", &label, "Warn", "No expiry date could be read.")),
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
    checks
}

/// The EWS probe as the app: admitted, or denied (and whether only because a change has not
/// reached Exchange yet).
async fn ews_probe_check(
    app: &Connection,
    ctx: &OpContext,
    mailbox: &str,
    org: Option<&OrgEws>,
    app_id: &str,
    label: &str,
) -> Result<Value, KodoError> {
    let name = format!("Call Exchange Web Services ({label})");
    Ok(match ews::probe(app, ctx, mailbox).await? {
        Probe::Admitted => {
            check("SignIn", &name, "Pass", format!("EWS GetFolder of {mailbox}'s folder root answered."))
        }
        Probe::Denied { reason } if org.is_some_and(|o| o.admits(app_id)) => check(
            "SignIn",
            &name,
            "Warn",
            format!(
                "Configured, not yet effective: the app is on the allow list, but EWS still refuses it (\"{reason}\"). Exchange applies allow-list changes within {} hours; check again later.",
                ews::PROPAGATION_HOURS
            ),
        ),
        Probe::Denied { reason } => {
            check("SignIn", &name, "Fail", format!("Denied by the organization's EWS settings: \"{reason}\"."))
        }
        Probe::Failed { detail } => {
            check("SignIn", &name, "Fail", format!("EWS GetFolder of {mailbox}'s folder root failed: {detail}."))
        }
    })
}

/// A refused EWS probe of an app that holds EWS as an Exchange role (RBAC for Applications):
/// Test-ServicePrincipalAuthorization, which bypasses Exchange's cache, tells "configured, not
/// yet effective" (the mailbox is in the role's scope) from "outside the scope".
async fn ews_role_check(
    admin: &Connection,
    ctx: &OpContext,
    mailbox: &str,
    app_id: &str,
    refused: Value,
) -> Result<Value, KodoError> {
    let exchange = ExchangeAdmin::new(admin, ctx);
    let roles = rbac::test_authorization(&exchange, app_id, mailbox).await?;
    let ews = roles.iter().find(|a| a.role.eq_ignore_ascii_case("Application EWS.AccessAsApp"));
    let name = refused["check"].as_str().unwrap_or("").to_string();
    Ok(match ews.and_then(|a| a.in_scope) {
        Some(true) => check(
            "SignIn",
            &name,
            "Warn",
            format!(
                "Configured, not yet effective: {mailbox} is in the scope of the app's Exchange role 'Application EWS.AccessAsApp' ({} {}), but EWS still refuses it. Exchange applies role assignments within {} hours; check again later.",
                ews.map(|a| a.scope_type.as_str()).unwrap_or(""),
                ews.map(|a| a.allowed_scope.as_str()).unwrap_or(""),
                scope::PROPAGATION_HOURS
            ),
        ),
        Some(false) => check(
            "SignIn",
            &name,
            "Fail",
            format!(
                "{mailbox} is outside the scope of the app's Exchange role 'Application EWS.AccessAsApp' ({} {}): KODO cannot back it up. Probe a mailbox of the unit, or widen the unit.",
                ews.map(|a| a.scope_type.as_str()).unwrap_or(""),
                ews.map(|a| a.allowed_scope.as_str()).unwrap_or("")
            ),
        ),
        None => refused,
    })
}

/// Whether the organization's EWS settings admit the app.
fn ews_check(org: &OrgEws, app_id: &str) -> Value {
    let name = "EWS allow list";
    match org.ews_enabled {
        _ if org.admits(app_id) => check(
            "EWS",
            name,
            "Pass",
            format!(
                "EWS is on for the organization and the app is on its allow list ({} app(s) listed). A change takes up to {} hours to take effect; the live check (-EwsMailbox) proves it.",
                org.allowed_app_ids.len(),
                ews::PROPAGATION_HOURS
            ),
        ),
        Some(true) => check(
            "EWS",
            name,
            "Fail",
            format!(
                "EWS is on for the organization, but the app is not on its allow list (EwsAllowedAppIDs): Exchange denies KODO's mail backup. Run Grant-KodoEwsAccess -AppId {app_id}."
            ),
        ),
        None => check(
            "EWS",
            name,
            "Fail",
            format!(
                "EWS was never set for the organization (EwsEnabled is empty): the rollout that began {} switches it off, and KODO's mail backup with it. Run Grant-KodoEwsAccess -AppId {app_id} -AllowEwsRestriction (it restricts EWS to the apps listed).",
                platform::EWS_DISABLEMENT_STARTS
            ),
        ),
        Some(false) => check(
            "EWS",
            name,
            "Fail",
            format!(
                "EWS is off for the organization (EwsEnabled False): KODO cannot back up mail. Run Grant-KodoEwsAccess -AppId {app_id} -EnableEws to turn it on for the apps listed."
            ),
        ),
    }
}

/// EWS stops for good on 2027-04-01: a warning from 90 days before.
fn ews_end_check(now: chrono::DateTime<chrono::Utc>) -> Value {
    let left = platform::days_until_ews_end(now);
    let status = if left <= platform::EWS_WARN_DAYS { "Warn" } else { "Info" };
    check("Retired", "Exchange Web Services (EWS)", status, platform::ews_end_notice(now))
}

/// What the live check is given besides the credentials.
struct Live<'a> {
    app_id: &'a str,
    manifest: &'a Manifest,
    ews: Option<&'a OrgEws>,
    ews_mailbox: Option<&'a str>,
    /// (resource appId, permission) held as Exchange roles: not in the token.
    in_exchange: &'a [(String, String)],
}

/// The live check's connections, one per credential, each with its label: every credential
/// must be the app's (one of another app is bad input, refused before anything is sent).
fn live_probes(
    admin: &Connection,
    app_id: &str,
    specs: Vec<CredentialSpec>,
) -> Result<Vec<(Connection, String)>, KodoError> {
    let tenant = admin.context()["tenantId"].as_str().unwrap_or(&admin.tenant).to_string();
    let mut probes = Vec::new();
    for spec in specs {
        let probe = Connection::new(Some(tenant.clone()), admin.env.clone(), spec)?;
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
        probes.push((probe, label));
    }
    Ok(probes)
}

/// What one credential got from one API of the live check, before it is judged: the sign-in,
/// and the API's harmless read once the token came (Graph and SharePoint; None for Exchange,
/// or when the sign-in failed).
struct Fetched {
    token: Result<String, KodoError>,
    read: Option<Result<(), KodoError>>,
}

/// The live check's sign-ins and reads: per credential, Graph, Exchange and SharePoint, all at
/// once, and alongside the audit's own reads when the caller starts it with them (they do not
/// depend on each other). SharePoint's audience is the tenant's host, looked up once for every
/// credential. A host that cannot be looked up fails the audit, as before the live check began.
/// Per credential, in the order given: Graph, Exchange, SharePoint.
async fn live_fetch(
    admin: &Connection,
    ctx: &OpContext,
    graph: &Graph<'_>,
    probes: &[(Connection, String)],
) -> Result<(crate::sharepoint::Hosts, Vec<[Fetched; 3]>), KodoError> {
    use futures_util::FutureExt;
    let hosts = crate::sharepoint::hosts(graph).shared();
    let per_credential = futures_util::future::join_all(probes.iter().map(|(probe, label)| {
        let hosts = hosts.clone();
        async move {
            ctx.progress(
                "Test-KodoApp",
                format!("Signing in as the app with its {}", label.to_ascii_lowercase()),
                None,
            );
            let graph_part = async {
                let token = probe.token(ctx, &admin.env.graph).await;
                let read = match &token {
                    Ok(_) => Some(
                        Graph::new(probe, ctx)
                            .call(&Request::get("organization?$select=id", Retry::ThrottleOnly))
                            .await
                            .map(|_| ()),
                    ),
                    Err(_) => None,
                };
                Fetched { token, read }
            };
            let exchange_part = async { Fetched { token: probe.token(ctx, &admin.env.exchange).await, read: None } };
            let sharepoint_part = async {
                let root = hosts.await?.root;
                let token = probe.token(ctx, &format!("https://{root}")).await;
                let read = match &token {
                    Ok(_) => Some(
                        crate::sharepoint::spo(
                            probe,
                            ctx,
                            &root,
                            reqwest::Method::GET,
                            "/_api/web?$select=Title",
                            None,
                        )
                        .await
                        .map(|_| ()),
                    ),
                    Err(_) => None,
                };
                Ok::<_, KodoError>(Fetched { token, read })
            };
            let (g, x, s) = tokio::join!(graph_part, exchange_part, sharepoint_part);
            Ok::<_, KodoError>([g, x, s?])
        }
    }))
    .await;
    let per_credential = per_credential.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok((hosts.await?, per_credential))
}

/// The live part of Test-KodoApp, judged from what `live_fetch` got: for each credential given,
/// that each API's token carries the application roles the manifest requires (Microsoft Graph,
/// Exchange Online, SharePoint) and that its harmless read answered: Graph
/// `GET /organization?$select=id` and SharePoint `GET /_api/web?$select=Title`. Exchange is only
/// signed in to, unless a mailbox is named for the EWS probe (EWS is retiring, facts.md §8),
/// which is made here. Checks come in the credentials' and the APIs' order; a credential that
/// cannot sign in is reported once, at the first API that refused it (every other API fails the
/// same way).
async fn live_checks(
    admin: &Connection,
    ctx: &OpContext,
    live: Live<'_>,
    probes: Vec<(Connection, String)>,
    fetched: (crate::sharepoint::Hosts, Vec<[Fetched; 3]>),
) -> Result<Vec<Value>, KodoError> {
    let Live { app_id, manifest, ews: org, ews_mailbox, in_exchange } = live;
    let (hosts, per_credential) = fetched;
    let apis = [("Microsoft Graph", GRAPH), ("Exchange Online", EXCHANGE), ("SharePoint", SHAREPOINT)];
    let mut checks = Vec::new();
    let mut sharepoint_ok = false;
    let mut secret_refused = Vec::new();
    for ((probe, label), parts) in probes.iter().zip(per_credential) {
        for ((api, resource), part) in apis.iter().zip(parts) {
            let name = format!("Sign-in to {api} ({label})");
            let token = match part.token {
                Ok(t) => t,
                Err(e) => {
                    checks.push(check("SignIn", &name, "Fail", format!("Signing in as the app failed: {}", e.message)));
                    break;
                }
            };
            let claims = crate::crypto::jwt_claims(&token);
            let roles: Vec<String> = claims["roles"]
                .as_array()
                .map(|a| a.iter().filter_map(|r| r.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            let mut required = manifest.required_roles(resource);
            required.retain(|p| {
                !in_exchange.iter().any(|(r, x)| r.eq_ignore_ascii_case(resource) && x.eq_ignore_ascii_case(p))
            });
            let missing: Vec<&String> =
                required.iter().filter(|p| !roles.iter().any(|r| r.eq_ignore_ascii_case(p))).collect();
            if missing.is_empty() {
                checks.push(check(
                    "SignIn",
                    &name,
                    "Pass",
                    format!("Signed in; the token carries the {} application roles required.", required.len()),
                ));
            } else {
                checks.push(check(
                    "SignIn",
                    &name,
                    "Fail",
                    format!(
                        "Signed in, but the token lacks {}: {}. Consent is missing or has not reached sign-in yet; run Grant-KodoPermissions.",
                        if missing.len() == 1 { "a required role" } else { "required roles" },
                        missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            let call = format!("Call {api} ({label})");
            match (*resource, part.read) {
                (GRAPH, Some(Ok(()))) => {
                    checks.push(check("SignIn", &call, "Pass", "GET /v1.0/organization answered."))
                }
                (GRAPH, Some(Err(e))) => {
                    checks.push(check("SignIn", &call, "Fail", format!("GET /v1.0/organization failed: {}", e.message)))
                }
                (SHAREPOINT, Some(Ok(()))) => {
                    sharepoint_ok = true;
                    checks.push(check(
                        "SignIn",
                        &call,
                        "Pass",
                        format!("GET https://{}/_api/web answered.", hosts.root),
                    ))
                }
                (SHAREPOINT, Some(Err(e)))
                    if probe.thumbprint.is_none() && e.message.contains("Unsupported app only token") =>
                {
                    secret_refused.push(checks.len());
                    checks.push(check("SignIn", &call, "Warn", e.message))
                }
                (SHAREPOINT, Some(Err(e))) => checks.push(check(
                    "SignIn",
                    &call,
                    "Fail",
                    format!("GET https://{}/_api/web failed: {}", hosts.root, e.message),
                )),
                (EXCHANGE, _) => {
                    if let Some(mailbox) = ews_mailbox {
                        let mut found = ews_probe_check(probe, ctx, mailbox, org, app_id, label).await?;
                        let ews_in_exchange =
                            in_exchange.iter().any(|(_, p)| p.eq_ignore_ascii_case("full_access_as_app"));
                        if found["status"] == "Fail" && ews_in_exchange {
                            found = ews_role_check(admin, ctx, mailbox, app_id, found).await?;
                        }
                        checks.push(found);
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
