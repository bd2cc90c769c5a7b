//! Multi-tenant apps and the admin consent endpoint: `GET /{tenant}/v2.0/adminconsent`, the
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

use super::authorize::{Answer, back_to, error_page, escape};
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

/// `GET /{tenant}/v2.0/adminconsent`.
pub fn admin_consent(world: &World, tenant_name: &str, q: &HashMap<String, String>, base: &str) -> Answer {
    let mut tenants = world.tenants.lock();
    if matches!(tenant_name.to_ascii_lowercase().as_str(), "organizations" | "common") {
        // Entra would learn the tenant from the admin's sign-in; the emulator's page is one
        // tenant's admin, so it needs the customer's tenant in the path.
        return Answer::Page(
            StatusCode::NOT_IMPLEMENTED,
            "<!DOCTYPE html><html><body><p id=\"error\">The Kodo tenant emulator's admin consent needs the customer's tenant id or domain in the path, not 'organizations' or 'common'.</p></body></html>".into(),
        );
    }
    let Some(ti) = world.tenant_index(&tenants, tenant_name) else {
        return error_page(tenant_not_found(tenant_name));
    };
    let client_id = q.get("client_id").cloned().unwrap_or_default();
    if client_id.is_empty() {
        return error_page(aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        ));
    }
    let foreign = foreign_app(&tenants, ti, &client_id);
    let tenant = &mut tenants[ti];
    let Some(app) = tenant.app_by_app_id(&client_id).cloned().or(foreign.map(|(a, _)| a)) else {
        // A single-tenant app of another tenant is as unknown here as no app at all.
        return error_page(app_not_found(&client_id, &tenant.display_name));
    };
    let redirect_uri = q.get("redirect_uri").cloned().unwrap_or_default();
    if !web_redirect_uris(&app).contains(&redirect_uri) {
        // The authorize endpoint's AADSTS50011 (docs/signin-research.md §7.1).
        return error_page(aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50011,
            &format!(
                "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this."
            ),
        ));
    }
    let scope = q.get("scope").cloned().unwrap_or_default();
    // "To request app permissions, you must use the /.default value" (v2-admin-consent). Dynamic
    // scopes are not modelled: refused on a page that says so.
    if scope.split_whitespace().count() != 1 || !scope.ends_with("/.default") {
        return Answer::Page(
            StatusCode::NOT_IMPLEMENTED,
            format!(
                "<!DOCTYPE html><html><body><p id=\"error\">The Kodo tenant emulator implements admin consent with one static scope (&lt;resource&gt;/.default) only (asked: '{}').</p></body></html>",
                escape(&scope)
            ),
        );
    }
    let id = pki::b64url(uuid::Uuid::new_v4().as_bytes());
    tenant.admin_consents.retain(|s| s.expires_at > Instant::now());
    tenant.admin_consents.push(PendingSignIn {
        id: id.clone(),
        client_id: app.obj.str("appId").to_string(),
        redirect_uri,
        scope,
        state: q.get("state").cloned(),
        code_challenge: None,
        code_challenge_method: String::new(),
        expires_at: Instant::now() + PAGE_LIFETIME,
    });
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
    let html = format!(
        "<!DOCTYPE html><html><head><title>Permissions requested</title></head><body>\
<h1>Kodo tenant emulator: admin consent</h1>\
<p>Tenant <b>{tenant}</b> ({tenant_id})</p>\
<p>Account <b id=\"account\">{account}</b> (Global Administrator)</p>\
<p>App <b id=\"client\">{client}</b> ({client_id}) asks, for your whole organization:</p><ul>{asked}</ul>\
<form method=\"post\" action=\"{base}/_emulator/adminconsent/{id}\">\
<button type=\"submit\" name=\"action\" value=\"accept\">Accept</button> \
<button type=\"submit\" name=\"action\" value=\"cancel\">Cancel</button>\
</form></body></html>",
        tenant = escape(&tenant.display_name),
        tenant_id = tenant.id,
        account = escape(&tenant.admin.user_principal_name),
        client = escape(app.obj.str("displayName")),
        client_id = app.obj.str("appId"),
    );
    Answer::Page(StatusCode::OK, html)
}

/// `POST /_emulator/adminconsent/{id}` with `action=accept` or `action=cancel`.
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
            // v2-admin-consent "Error response".
            pairs.push(("error", "permission_denied".into()));
            pairs.push(("error_description", "The admin canceled the request".into()));
            if let Some(s) = &pending.state {
                pairs.push(("state", s.clone()));
            }
            return back_to(&pending.redirect_uri, &pairs, None);
        }
        _ => return Answer::Page(StatusCode::BAD_REQUEST, "<p>action must be accept or cancel.</p>".into()),
    }
    let app = match tenants[ti].app_by_app_id(&pending.client_id) {
        Some(a) => Some((a.clone(), tenants[ti].id.clone())),
        None => foreign_app(&tenants, ti, &pending.client_id),
    };
    let Some((app, home)) = app else {
        return Answer::Page(StatusCode::NOT_FOUND, "<p>The app was deleted meanwhile.</p>".into());
    };
    let tenant = &mut tenants[ti];
    consent(tenant, &app, &home, lag);
    pairs.push(("admin_consent", "True".into()));
    pairs.push(("tenant", tenant.id.clone()));
    pairs.push(("scope", pending.scope.clone()));
    if let Some(s) = &pending.state {
        pairs.push(("state", s.clone()));
    }
    back_to(&pending.redirect_uri, &pairs, None)
}

/// What admin consent does in `tenant`: the app's service principal (made once), an app role
/// assignment for each application permission of its `requiredResourceAccess` whose resource is
/// present in the tenant, and the tenant-wide delegated grant of its delegated permissions.
/// Nothing is made twice: consenting again changes nothing.
pub fn consent(tenant: &mut Tenant, app: &Application, home_tenant: &str, lag: Duration) {
    let app_id = app.obj.str("appId").to_string();
    let name = app.obj.str("displayName").to_string();
    if tenant.sp_by_app_id(&app_id).is_none() {
        let mut sp = service_principal_json(&app_id, &name, home_tenant, "Application");
        sp.insert("signInAudience".into(), app.obj.str("signInAudience").into());
        tenant.service_principals.push(ServicePrincipal { obj: Stored::new(sp, lag), first_party: None });
    }
    let Some(client) = tenant.sp_by_app_id(&app_id).map(|s| s.obj.id().to_string()) else { return };
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
        if scopes.is_empty() {
            continue;
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
                    "clientId": client, "consentType": "AllPrincipals", "id": grant_id(&client, &resource_id),
                    "principalId": Value::Null, "resourceId": resource_id, "scope": scopes.join(" "),
                });
                if let Value::Object(g) = grant {
                    tenant.grants.push(Stored::new(g, lag));
                }
            }
        }
    }
}
