//! Multi-tenant apps and the admin consent endpoints: `GET /{tenant}/v2.0/adminconsent` and the
//! v1 `GET /{tenant}/adminconsent` (`{tenant}` also `organizations` or `common`), the
//! emulator's consent page (the customer tenant's admin, "Accept" or "Cancel", posted to
//! `/_emulator/adminconsent/{id}`), and what consent does in the customer tenant: the app's
//! service principal, its app role assignments and delegated grants from the app's
//! `requiredResourceAccess`, then the redirect back to the app.
//!
//! Sources (docs/multitenant-research.md):
//! - Parameters (`tenant`, `client_id`, `redirect_uri` "must exactly match one of the redirect
//!   URIs that you registered", `state`, `scope`), the success redirect
//!   (`admin_consent=True&tenant=…&scope=…&state=…`) and "If you use the static (/.default) value
//!   the request functions like the v1.0 admin consent endpoint and request consent for all
//!   scopes found in the required permissions (both user and app)":
//!   https://learn.microsoft.com/en-us/entra/identity-platform/v2-admin-consent
//! - The refusal redirect `error=permission_denied&error_description=The+admin+canceled+the+request`:
//!   the same page's "Error response" (MicrosoftDocs/azure-docs, all translations agree).
//! - A multi-tenant app is one whose `signInAudience` is `AzureADMultipleOrgs` (or with personal
//!   accounts); other tenants know it only by its service principal (facts.md §3.5 shape,
//!   `appOwnerOrganizationId` = the home tenant).

use super::authorize::{Answer, back_to, error_back, error_page, escape};
use super::entra::{aadsts, app_not_found, tenant_not_found};
use super::pki;
use super::state::*;
use super::world::{World, assignment_json};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long the consent page stays usable (as the sign-in page: about 10 minutes).
const PAGE_LIFETIME: Duration = Duration::from_secs(600);

/// True if an app of this `signInAudience` may be used by other tenants.
pub fn is_multi_tenant(app: &Application) -> bool {
    matches!(app.obj.str("signInAudience"), "AzureADMultipleOrgs" | "AzureADandPersonalMicrosoftAccount")
}

/// The multi-tenant app `app_id` registered in a tenant other than `tenants[here]`, with its
/// home tenant's id.
pub fn foreign_app(tenants: &[Tenant], here: usize, app_id: &str) -> Option<(Application, String)> {
    if app_id.is_empty() || tenants.get(here).is_some_and(|t| t.app_by_app_id(app_id).is_some()) {
        return None;
    }
    tenants
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != here)
        .find_map(|(_, t)| t.app_by_app_id(app_id).filter(|a| is_multi_tenant(a)).map(|a| (a.clone(), t.id.clone())))
}

fn web_redirect_uris(app: &Application) -> Vec<String> {
    app.obj.json["web"]["redirectUris"]
        .as_array()
        .map(|a| a.iter().filter_map(|u| u.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// Which admin consent endpoint was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /{tenant}/adminconsent?client_id=&redirect_uri=&state=`: the v1 endpoint, "If you use
    /// the static (/.default) value the request functions like the v1.0 admin consent endpoint
    /// and request consent for all scopes found in the required permissions (both user and app)"
    /// (v2-admin-consent). Its request and success redirect (`tenant`, `state`,
    /// `admin_consent=True`, no `scope`) are the ones Learn documented before the v2 endpoint
    /// replaced them (MicrosoftDocs/azure-docs commit 4b3d10c, v2-permissions-and-consent.md:
    /// `GET https://login.microsoftonline.com/{tenant}/adminconsent?client_id=…&state=12345&redirect_uri=…`,
    /// "Pro tip" `…/common/adminconsent?…`; the client-credentials page's success response).
    V1,
    /// `GET /{tenant}/v2.0/adminconsent?client_id=&scope=&redirect_uri=&state=`.
    V2,
}

/// What the admin is asked to consent to.
enum Asked {
    /// `/.default` (or v1): everything in the app's `requiredResourceAccess`.
    Static,
    /// Dynamic scopes: these delegated permissions (canonical names) of the resource SP
    /// `resource_id`. "Can be either static (using /.default) or dynamic scopes"
    /// (v2-admin-consent, `scope`); application permissions need `/.default`.
    Dynamic { resource_id: String, names: Vec<String> },
}

fn invalid_scope(text: &str) -> super::entra::EntraError {
    aadsts(StatusCode::BAD_REQUEST, "invalid_scope", 70011, text)
}

/// Checks `scope` against the resources of `tenant` (the consenting tenant), as the token and
/// authorize endpoints check a delegated request (entra.rs `check_delegated_request`): scopes of
/// two resources, or a name the resource does not publish, AADSTS70011; an unknown resource,
/// AADSTS500011.
fn asked(tenant: &Tenant, scope: &str) -> Result<Asked, super::entra::EntraError> {
    if scope.is_empty() {
        return Ok(Asked::Static);
    }
    let (resource, names) = super::entra::split_scopes(scope)
        .map_err(|m| invalid_scope(&format!("The provided request must include a 'scope' input parameter. {m}")))?;
    if names.is_empty() || (names.iter().any(|n| n == ".default") && names.len() > 1) {
        // Only OIDC scopes, or `/.default` mixed with named scopes of its resource. The real
        // answer to these is UNCONFIRMED (docs/emulator-research.md §11); the emulator uses
        // the 70011 text the token endpoint gives an unknown scope.
        return Err(invalid_scope(&format!(
            "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
        )));
    }
    let Some((_, resource_id)) = super::entra::resolve_resource(tenant, &resource) else {
        return Err(super::entra::resource_not_found(&resource, &tenant.display_name));
    };
    if names[0] == ".default" {
        return Ok(Asked::Static);
    }
    let published: Vec<String> = tenant
        .sp_by_id(&resource_id)
        .and_then(|s| s.first_party)
        .and_then(|f| f["oauth2PermissionScopes"].as_array())
        .map(|a| a.iter().filter_map(|s| s["value"].as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let mut canonical = Vec::new();
    for name in &names {
        let Some(p) = published.iter().find(|p| p.eq_ignore_ascii_case(name)) else {
            return Err(invalid_scope(&format!(
                "The provided value for the input parameter 'scope' is not valid. The scope {name} is not valid."
            )));
        };
        if !canonical.contains(p) {
            canonical.push(p.clone());
        }
    }
    Ok(Asked::Dynamic { resource_id, names: canonical })
}

/// `GET /{tenant}/v2.0/adminconsent` and `GET /{tenant}/adminconsent`.
///
/// `{tenant}` may be `organizations` (documented: "Can be provided in GUID or friendly name
/// format OR generically referenced with organizations", v2-admin-consent), or `common` on the
/// v1 endpoint (the older v1 doc's own example, `…/common/adminconsent?…`; on v2 the page says
/// "Do not use 'common'" and the emulator answers the one capture of it, below). Then the
/// tenant is the one of the admin who signs in: the emulator's page asks for the account (its
/// stand-in for Entra's sign-in page) and consents in that account's tenant.
pub fn admin_consent(
    world: &World,
    tenant_name: &str,
    q: &HashMap<String, String>,
    base: &str,
    endpoint: Endpoint,
) -> Answer {
    let v1 = endpoint == Endpoint::V1;
    let mut tenants = world.tenants.lock();
    let any_tenant = matches!(tenant_name.to_ascii_lowercase().as_str(), "organizations" | "common");
    let here = if any_tenant {
        None
    } else {
        match world.tenant_index(&tenants, tenant_name) {
            Some(i) => Some(i),
            None => return error_page(tenant_not_found(tenant_name)),
        }
    };
    let client_id = q.get("client_id").cloned().unwrap_or_default();
    if client_id.is_empty() {
        return error_page(super::entra::missing_parameter("client_id"));
    }
    // The app: registered in the path's tenant, or a multi-tenant app of another tenant (a
    // single-tenant app of another tenant is as unknown here as no app at all). With
    // `organizations`/`common`, wherever it is registered; whether the signed-in admin's tenant
    // may use it is checked after the sign-in.
    let found = match here {
        Some(ti) => tenants[ti].app_by_app_id(&client_id).map(|a| (a.clone(), ti)).or_else(|| {
            foreign_app(&tenants, ti, &client_id)
                .and_then(|(a, home)| tenants.iter().position(|t| t.id == home).map(|h| (a, h)))
        }),
        None => tenants.iter().enumerate().find_map(|(i, t)| t.app_by_app_id(&client_id).map(|a| (a.clone(), i))),
    };
    let Some((app, home)) = found else {
        // With `organizations`/`common` the directory Entra names is UNCONFIRMED (the path's
        // value here).
        let directory = here.map(|ti| tenants[ti].display_name.clone()).unwrap_or_else(|| tenant_name.to_string());
        return error_page(app_not_found(&client_id, &directory));
    };
    let app_id = app.obj.str("appId").to_string();
    let registered = web_redirect_uris(&app);
    let redirect_uri = match q.get("redirect_uri") {
        Some(r) => r.clone(),
        // "AADSTS500113: No reply address is registered for the application."
        // (OneDrive/onedrive-sample-apibrowser-dotnet#27; docs/signin-research.md §7.1).
        None if registered.is_empty() => {
            return error_page(aadsts(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                500113,
                "No reply address is registered for the application.",
            ));
        }
        // The v1 link without redirect_uri (Learn "Grant tenant-wide admin consent":
        // `…/{organization}/adminconsent?client_id={client-id}`) returns to a registered reply
        // address; which one Entra picks among several is UNCONFIRMED (the first here).
        None if v1 => registered[0].clone(),
        None => String::new(),
    };
    if !registered.contains(&redirect_uri) {
        return error_page(super::authorize::redirect_mismatch(&redirect_uri, &app_id));
    }
    let state = q.get("state").cloned();
    if !v1 && tenant_name.eq_ignore_ascii_case("common") {
        // "Do not use 'common'" (v2-admin-consent). The one capture of `/common/v2.0/adminconsent`
        // (MicrosoftDocs/azure-docs.de-de#609, 2019) is this redirect, no AADSTS code; whether
        // Entra still answers so is UNCONFIRMED. (The v1 `/common/adminconsent` is documented
        // and consents.)
        return back_to(
            &redirect_uri,
            &[
                ("error", "invalid_request".to_string()),
                (
                    "error_description",
                    "The provided request must include a 'response_type' input parameter.".to_string(),
                ),
            ],
            state.as_deref(),
        );
    }
    let scope = if v1 { String::new() } else { q.get("scope").cloned().unwrap_or_default() };
    if !v1 && scope.trim().is_empty() {
        // `scope` is required on v2 (v2-admin-consent). AADSTS900144 is Entra's answer to a
        // missing parameter (docs/signin-research.md §1.12); that this endpoint answers it on
        // the redirect is UNCONFIRMED (as the authorize endpoint's scope errors).
        return error_back(&redirect_uri, super::entra::missing_parameter("scope"), state.as_deref());
    }
    // The scope is checked in the consenting tenant: now if the path names it, after the
    // sign-in otherwise (syntax now in both cases).
    let checked = match here {
        Some(ti) => asked(&tenants[ti], &scope),
        None => asked(&tenants[home], &scope),
    };
    let listed = match checked {
        Err(e) => return error_back(&redirect_uri, e, state.as_deref()),
        Ok(Asked::Dynamic { names, .. }) => names.iter().map(|n| format!("<li>{} (Scope)</li>", escape(n))).collect(),
        Ok(Asked::Static) => required_list(&tenants[here.unwrap_or(home)], &app),
    };
    let id = pki::b64url(uuid::Uuid::new_v4().as_bytes());
    let tenant = &mut tenants[here.unwrap_or(home)];
    tenant.admin_consents.retain(|s| s.expires_at > Instant::now());
    tenant.admin_consents.push(PendingAdminConsent {
        id: id.clone(),
        client_id: app_id.clone(),
        redirect_uri,
        scope,
        state,
        v1,
        any_tenant,
        expires_at: Instant::now() + PAGE_LIFETIME,
    });
    let who = if any_tenant {
        "<p>Sign in with your organization's admin account: <input form=\"consent\" name=\"account\" id=\"account\"></p>"
            .to_string()
    } else {
        format!(
            "<p>Tenant <b>{}</b> ({})</p><p>Account <b id=\"account\">{}</b> (Global Administrator)</p>",
            escape(&tenant.display_name),
            tenant.id,
            escape(&tenant.admin.user_principal_name)
        )
    };
    let html = format!(
        "<!DOCTYPE html><html><head><title>Permissions requested</title></head><body>\
<h1>Kodo tenant emulator: admin consent</h1>{who}\
<p>App <b id=\"client\">{client}</b> ({app_id}) asks, for your whole organization:</p><ul>{listed}</ul>\
<form method=\"post\" action=\"{base}/_emulator/adminconsent/{id}\" id=\"consent\">\
<button type=\"submit\" name=\"action\" value=\"accept\">Accept</button> \
<button type=\"submit\" name=\"action\" value=\"cancel\">Cancel</button>\
</form></body></html>",
        client = escape(app.obj.str("displayName")),
    );
    Answer::Page(StatusCode::OK, html)
}

/// The app's `requiredResourceAccess` as the consent page lists it.
fn required_list(tenant: &Tenant, app: &Application) -> String {
    let mut asked = String::new();
    for rra in app.obj.json["requiredResourceAccess"].as_array().cloned().unwrap_or_default() {
        let resource = rra["resourceAppId"].as_str().unwrap_or("");
        let fixture = tenant.sp_by_app_id(resource).and_then(|s| s.first_party);
        for access in rra["resourceAccess"].as_array().cloned().unwrap_or_default() {
            let list = if access["type"] == "Role" { "appRoles" } else { "oauth2PermissionScopes" };
            let value = fixture
                .and_then(|f| f[list].as_array())
                .and_then(|l| l.iter().find(|r| r["id"] == access["id"]))
                .and_then(|r| r["value"].as_str())
                .unwrap_or("?");
            asked.push_str(&format!("<li>{} ({})</li>", escape(value), escape(access["type"].as_str().unwrap_or(""))));
        }
    }
    asked
}

/// The tenant of the account that signed in on an `organizations`/`common` consent page: the
/// tenant whose initial domain is the account's, if the account is that tenant's admin (the
/// one account the emulator's pages sign in).
fn signed_in_tenant(world: &World, tenants: &[Tenant], account: &str) -> Result<usize, super::entra::EntraError> {
    let domain = account.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
    // "AADSTS50034: The user account {EmailHidden} does not exist in the <name> directory. To
    // sign into this application, the account must be added to the directory." (real captures:
    // Microsoft365DSC/Microsoft365DSC#801, s-KaiNet/spsave#61). Entra's sign-in page answers an
    // unknown account in place before any redirect; the emulator's stand-in shows this text.
    let unknown = |directory: &str| {
        aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50034,
            &format!(
                "The user account {{EmailHidden}} does not exist in the {directory} directory. To sign into this application, the account must be added to the directory."
            ),
        )
    };
    let Some(ti) = world.tenant_index(tenants, domain) else { return Err(unknown(domain)) };
    let t = &tenants[ti];
    if t.admin.user_principal_name.eq_ignore_ascii_case(account) {
        return Ok(ti);
    }
    if t.users.iter().any(|u| u.user_principal_name.eq_ignore_ascii_case(account)) {
        // A user who is not an admin: "AADSTS90093: Calling principal cannot consent due to lack
        // of permissions" (OfficeDev/O365-Windows-Start#23, 2016; MEDIUM, the current wording is
        // UNCONFIRMED).
        return Err(aadsts(
            StatusCode::FORBIDDEN,
            "access_denied",
            90093,
            "Calling principal cannot consent due to lack of permissions.",
        ));
    }
    Err(unknown(&t.initial_domain))
}

/// `POST /_emulator/adminconsent/{id}` with `action=accept` or `action=cancel` (and, on an
/// `organizations`/`common` page, `account`).
pub fn complete(world: &World, id: &str, form: &HashMap<String, String>) -> Answer {
    let lag = world.lag();
    let mut tenants = world.tenants.lock();
    let Some((ti, pos)) =
        tenants.iter().enumerate().find_map(|(i, t)| t.admin_consents.iter().position(|s| s.id == id).map(|p| (i, p)))
    else {
        return Answer::Page(StatusCode::NOT_FOUND, "<p>No admin consent is waiting with this id.</p>".into());
    };
    let pending = tenants[ti].admin_consents.remove(pos);
    if pending.expires_at < Instant::now() {
        return Answer::Page(StatusCode::BAD_REQUEST, "<p>This consent page has expired. Start again.</p>".into());
    }
    let mut pairs: Vec<(&str, String)> = Vec::new();
    match form.get("action").map(String::as_str) {
        Some("accept") => {}
        Some("cancel") => {
            // What Entra sends when the admin presses Cancel on "Permissions requested", as
            // captured from the v2 admin consent endpoint (MicrosoftDocs/azure-docs#114009, 2023;
            // docs/signin-research.md §7.1): `error=access_denied`, AADSTS65004 with its Trace ID
            // lines, `error_uri`, `admin_consent=True`, `state`. The page's older example
            // (`error=permission_denied&error_description=The+admin+canceled+the+request`) is
            // not what the service sends today.
            let e =
                aadsts(StatusCode::BAD_REQUEST, "access_denied", 65004, "User declined to consent to access the app.");
            pairs.push(("error", "access_denied".into()));
            pairs.push(("error_description", e.body["error_description"].as_str().unwrap_or("").to_string()));
            pairs.push(("error_uri", e.body["error_uri"].as_str().unwrap_or("").to_string()));
            pairs.push(("admin_consent", "True".into()));
            if let Some(s) = &pending.state {
                pairs.push(("state", s.clone()));
            }
            return back_to(&pending.redirect_uri, &pairs, None);
        }
        _ => return Answer::Page(StatusCode::BAD_REQUEST, "<p>action must be accept or cancel.</p>".into()),
    }
    let target = if pending.any_tenant {
        let account = form.get("account").map(|a| a.trim()).unwrap_or("");
        match signed_in_tenant(world, &tenants, account) {
            Ok(t) => t,
            Err(e) => return error_page(e),
        }
    } else {
        ti
    };
    let app = match tenants[target].app_by_app_id(&pending.client_id) {
        Some(a) => Some((a.clone(), tenants[target].id.clone())),
        None => foreign_app(&tenants, target, &pending.client_id),
    };
    let Some((app, home)) = app else {
        // Deleted meanwhile, or (organizations/common) a single-tenant app of another tenant.
        return error_page(app_not_found(&pending.client_id, &tenants[target].display_name));
    };
    let st = pending.state.as_deref();
    let tenant = &mut tenants[target];
    match asked(tenant, &pending.scope) {
        Err(e) => return error_back(&pending.redirect_uri, e, st),
        Ok(Asked::Static) => consent(tenant, &app, &home, lag),
        Ok(Asked::Dynamic { resource_id, names }) => {
            if let Some(client) = service_principal_of(tenant, &app, &home, lag) {
                grant_delegated(tenant, &client, &resource_id, names, lag);
            }
        }
    }
    if pending.v1 {
        // The v1 success redirect: `tenant`, `state`, `admin_consent=True` (Learn's client
        // credentials page, "Successful response" of the v1 admin consent request).
        pairs.push(("tenant", tenant.id.clone()));
        if let Some(s) = &pending.state {
            pairs.push(("state", s.clone()));
        }
        pairs.push(("admin_consent", "True".into()));
    } else {
        pairs.push(("admin_consent", "True".into()));
        pairs.push(("tenant", tenant.id.clone()));
        pairs.push(("scope", pending.scope.clone()));
        if let Some(s) = &pending.state {
            pairs.push(("state", s.clone()));
        }
    }
    back_to(&pending.redirect_uri, &pairs, None)
}

/// The app's service principal in `tenant` (made once), its object id.
fn service_principal_of(tenant: &mut Tenant, app: &Application, home_tenant: &str, lag: Duration) -> Option<String> {
    let app_id = app.obj.str("appId").to_string();
    if tenant.sp_by_app_id(&app_id).is_none() {
        let name = app.obj.str("displayName").to_string();
        let mut sp = service_principal_json(&app_id, &name, home_tenant, "Application");
        sp.insert("signInAudience".into(), app.obj.str("signInAudience").into());
        tenant.service_principals.push(ServicePrincipal { obj: Stored::new(sp, lag), first_party: None });
    }
    tenant.sp_by_app_id(&app_id).map(|s| s.obj.id().to_string())
}

/// The tenant-wide (AllPrincipals) delegated grant of `scopes` on `resource_id` to `client`,
/// made or widened (never narrowed).
fn grant_delegated(tenant: &mut Tenant, client: &str, resource_id: &str, scopes: Vec<String>, lag: Duration) {
    if scopes.is_empty() {
        return;
    }
    let existing = tenant.grants.iter_mut().find(|g| {
        g.str("clientId") == client && g.str("resourceId") == resource_id && g.str("consentType") == "AllPrincipals"
    });
    match existing {
        Some(g) => {
            let mut have: Vec<String> = g.str("scope").split_whitespace().map(str::to_string).collect();
            for s in scopes {
                if !have.contains(&s) {
                    have.push(s);
                }
            }
            g.json.insert("scope".into(), have.join(" ").into());
        }
        None => {
            // The AllPrincipals grant's shape and id (facts.md §3.10).
            let grant = json!({
                "clientId": client, "consentType": "AllPrincipals", "id": grant_id(client, resource_id),
                "principalId": Value::Null, "resourceId": resource_id, "scope": scopes.join(" "),
            });
            if let Value::Object(g) = grant {
                tenant.grants.push(Stored::new(g, lag));
            }
        }
    }
}

/// What admin consent does in `tenant`: the app's service principal (made once), an app role
/// assignment for each application permission of its `requiredResourceAccess` whose resource is
/// present in the tenant, and the tenant-wide delegated grant of its delegated permissions.
/// Nothing is made twice: consenting again changes nothing.
pub fn consent(tenant: &mut Tenant, app: &Application, home_tenant: &str, lag: Duration) {
    let name = app.obj.str("displayName").to_string();
    let Some(client) = service_principal_of(tenant, app, home_tenant, lag) else { return };
    for rra in app.obj.json["requiredResourceAccess"].as_array().cloned().unwrap_or_default() {
        let resource_app = rra["resourceAppId"].as_str().unwrap_or("");
        let Some(resource) = tenant.sp_by_app_id(resource_app) else { continue };
        let resource_id = resource.obj.id().to_string();
        let resource_name = resource.obj.str("displayName").to_string();
        let view = sp_view(resource);
        let mut scopes: Vec<String> = Vec::new();
        for access in rra["resourceAccess"].as_array().cloned().unwrap_or_default() {
            let role_id = access["id"].as_str().unwrap_or("").to_string();
            if access["type"] == "Role" {
                let known = view["appRoles"].as_array().is_some_and(|r| r.iter().any(|x| x["id"] == role_id.as_str()));
                let held = tenant.assignments.iter().any(|a| {
                    a.str("principalId") == client
                        && a.str("resourceId") == resource_id
                        && a.str("appRoleId").eq_ignore_ascii_case(&role_id)
                });
                if known && !held {
                    let a = assignment_json(&client, "ServicePrincipal", &name, &resource_id, &resource_name, &role_id);
                    tenant.assignments.push(Stored::new(a, lag));
                }
            } else if let Some(v) = view["oauth2PermissionScopes"]
                .as_array()
                .and_then(|l| l.iter().find(|s| s["id"] == role_id.as_str()))
                .and_then(|s| s["value"].as_str())
            {
                scopes.push(v.to_string());
            }
        }
        grant_delegated(tenant, &client, &resource_id, scopes, lag);
    }
}
