//! Entra ID: token endpoint (client credentials with a secret or a certificate assertion,
//! device code, refresh token), device-code endpoint, OpenID configuration, JWKS, and the
//! Azure Automation managed-identity endpoint.
//!
//! Sources: facts.md §4 (flows, request/response fields, error body shape) and the AADSTS texts
//! cited at each code in [`aadsts`].

use super::clients;
use super::pki::{self, parse_jwt, rsa_public_key_of, verify_jwt_signature};
use super::state::*;
use super::world::World;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Access token lifetime Entra reports (`expires_in: 3599`, facts.md §4.1–4.2).
pub const TOKEN_LIFETIME_SECS: i64 = 3599;

pub struct EntraError {
    pub status: StatusCode,
    pub body: Value,
}

/// AADSTS900144, Entra's answer to a request without a parameter it needs (docs/signin-research.md
/// §1.12).
pub fn missing_parameter(name: &str) -> EntraError {
    aadsts(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
        &format!("The request body must contain the following parameter: '{name}'."),
    )
}

/// An AADSTS error body (facts.md §4.2; docs/emulator-research.md §1.0: `error_description`
/// ends with `\r\nTrace ID: …\r\nCorrelation ID: …\r\nTimestamp: yyyy-MM-dd HH:mm:ssZ`).
/// Texts of each code: docs/emulator-research.md §1a–1h (real captures).
pub fn aadsts(status: StatusCode, error: &str, code: u32, text: &str) -> EntraError {
    let trace = new_id();
    let correlation = new_id();
    let now = crate::state::now();
    let ts = now.format("%Y-%m-%d %H:%M:%SZ").to_string();
    EntraError {
        status,
        body: json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {text}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {ts}"),
            "error_codes": [code],
            "timestamp": ts,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        }),
    }
}

pub(crate) fn tenant_not_found(name: &str) -> EntraError {
    aadsts(
        StatusCode::BAD_REQUEST,
        "invalid_tenant",
        90002,
        &format!(
            "Tenant '{name}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
        ),
    )
}

pub(crate) fn app_not_found(client_id: &str, tenant: &str) -> EntraError {
    aadsts(
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        700016,
        &format!(
            "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
        ),
    )
}

/// The audience a token for `resource` carries, and the resource SP's object id.
pub(crate) fn resolve_resource(tenant: &Tenant, resource: &str) -> Option<(String, String)> {
    let r = resource.trim_end_matches('/');
    let lower = r.to_ascii_lowercase();
    // SharePoint: the tenant's own hosts (facts.md §4.6: resource https://<t>.sharepoint.com or
    // the -admin host), served by the SharePoint Online SP.
    if let Some(host) = lower.strip_prefix("https://") {
        if host == tenant.sharepoint_host() || host == tenant.sharepoint_admin_host() {
            let sp = tenant.sp_by_app_id(SHAREPOINT_APP_ID)?;
            return Some((r.to_string(), sp.obj.id().to_string()));
        }
    }
    for sp in &tenant.service_principals {
        let names = sp.obj.json.get("servicePrincipalNames").and_then(Value::as_array);
        let hit = sp.obj.str("appId").eq_ignore_ascii_case(r)
            || names.is_some_and(|n| {
                n.iter().any(|x| x.as_str().is_some_and(|x| x.trim_end_matches('/').eq_ignore_ascii_case(r)))
            });
        if hit && sp.first_party.is_some() {
            return Some((r.to_string(), sp.obj.id().to_string()));
        }
    }
    None
}

/// Splits a v2 `scope` into (resource, scope names).
pub(crate) fn split_scopes(scope: &str) -> Result<(String, Vec<String>), String> {
    let mut resource: Option<String> = None;
    let mut names = Vec::new();
    for item in scope.split_whitespace() {
        if matches!(item.to_ascii_lowercase().as_str(), "openid" | "profile" | "offline_access" | "email") {
            continue;
        }
        let (res, name) = match item.rfind('/') {
            Some(i) if item.starts_with("https://") || item.starts_with("api://") => {
                (item[..i].to_string(), item[i + 1..].to_string())
            }
            // A bare scope name means Microsoft Graph (facts.md §4.1 requests `user.read`).
            _ => ("https://graph.microsoft.com".to_string(), item.to_string()),
        };
        if let Some(existing) = &resource {
            if !existing.eq_ignore_ascii_case(&res) {
                return Err(format!("scopes for more than one resource: {existing} and {res}"));
            }
        }
        resource = Some(res);
        names.push(name);
    }
    Ok((resource.unwrap_or_else(|| "https://graph.microsoft.com".into()), names))
}

/// Claims of an access token (v1 tokens, as Entra issues for Graph and SharePoint).
#[allow(clippy::too_many_arguments)]
fn access_token(
    world: &World,
    tenant: &Tenant,
    audience: &str,
    client: &ServicePrincipal,
    appidacr: &str,
    roles: Option<Vec<String>>,
    scopes: Option<Vec<String>>,
    user: Option<(&User, &[String])>,
) -> String {
    let now = crate::state::now().timestamp();
    let iss = format!("https://sts.windows.net/{}/", tenant.id);
    let mut claims = json!({
        "aud": audience,
        "iss": iss,
        "iat": now,
        "nbf": now,
        "exp": now + TOKEN_LIFETIME_SECS,
        "app_displayname": client.obj.str("displayName"),
        "appid": client.obj.str("appId"),
        "appidacr": appidacr,
        "idp": iss,
        "tid": tenant.id,
        "uti": pki::b64url(uuid::Uuid::new_v4().as_bytes()),
        "ver": "1.0",
    });
    let m = claims.as_object_mut().expect("object");
    match user {
        None => {
            m.insert("idtyp".into(), "app".into());
            m.insert("oid".into(), client.obj.id().into());
            m.insert("sub".into(), client.obj.id().into());
            // App-only tokens carry no `roles` claim when no role is assigned; wids is always this
            // id for app tokens (docs/emulator-research.md §10).
            let roles = roles.unwrap_or_default();
            if !roles.is_empty() {
                m.insert("roles".into(), json!(roles));
            }
            m.insert("wids".into(), json!(["0997a1d0-0d1d-4acb-b408-d5ca73121e90"]));
        }
        Some((u, wids)) => {
            m.insert("idtyp".into(), "user".into());
            m.insert("oid".into(), u.id.clone().into());
            m.insert("sub".into(), pki::b64url(uuid::Uuid::new_v4().as_bytes()).into());
            m.insert("upn".into(), u.user_principal_name.clone().into());
            m.insert("name".into(), u.display_name.clone().into());
            m.insert("scp".into(), scopes.unwrap_or_default().join(" ").into());
            // The user's directory roles (role template ids): the tenant's own admin is a Global
            // Administrator; a partner's admin under GDAP holds the relationship's roles.
            m.insert("wids".into(), json!(wids));
        }
    }
    let mut header = serde_json::Map::new();
    header.insert("x5t".into(), world.signing_kid.clone().into());
    header.insert("kid".into(), world.signing_kid.clone().into());
    world.signing.sign_jwt(header, &claims)
}

fn token_response(token: String, scope: Option<String>, refresh: Option<String>) -> Value {
    let mut v = json!({
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME_SECS,
        "ext_expires_in": TOKEN_LIFETIME_SECS,
        "access_token": token,
    });
    if let Some(s) = scope {
        v["scope"] = s.into();
    }
    if let Some(r) = refresh {
        v["refresh_token"] = r.into();
    }
    v
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub fn token(
    world: &World,
    tenant_name: &str,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Value, EntraError> {
    let mut tenants = world.tenants.lock();
    let Some(ti) = world.tenant_index(&tenants, tenant_name) else { return Err(tenant_not_found(tenant_name)) };
    let grant_type = form.get("grant_type").map(String::as_str).unwrap_or("");
    // client_secret may come as HTTP Basic auth (facts.md §4.2).
    let (basic_id, basic_secret) = basic_auth(headers);
    let client_id = form.get("client_id").cloned().or(basic_id).unwrap_or_default();
    // A multi-tenant app registered in another tenant (adminconsent.rs): it signs in to this
    // one with its own credentials once this tenant has its service principal.
    let foreign = super::adminconsent::foreign_app(&tenants, ti, &client_id).map(|(a, _)| a);
    if grant_type == "refresh_token" {
        if let Some(answer) = gdap_refresh(world, &mut tenants, ti, &client_id, form) {
            return answer;
        }
    }
    let tenant = &mut tenants[ti];
    if client_id.is_empty() {
        return Err(missing_parameter("client_id"));
    }
    match grant_type {
        "client_credentials" => {
            let Some(app) = tenant.app_by_app_id(&client_id).cloned().or(foreign) else {
                // Managed identities have no application object; neither do foreign apps.
                return Err(app_not_found(&client_id, &tenant.display_name));
            };
            let appidacr = authenticate_client(tenant, &app, form, basic_secret)?;
            let scope = form.get("scope").cloned().unwrap_or_default();
            let Some(resource) = scope.strip_suffix("/.default").filter(|_| !scope.contains(' ')) else {
                return Err(aadsts(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    1002012,
                    &format!(
                        "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
                    ),
                ));
            };
            let Some((audience, resource_id)) = resolve_resource(tenant, resource) else {
                return Err(resource_not_found(resource, &tenant.display_name));
            };
            let Some(client_sp) = tenant.sp_by_app_id(&client_id).cloned() else {
                // Also a multi-tenant app before this tenant's admin consented: the text of a
                // client-credentials request in a tenant other than the app's home tenant
                // (Azure/azure-sdk-for-net#46762, 2024; Azure/Commercial-Marketplace-SaaS-Accelerator#830).
                // HTTP status and `error` value UNCONFIRMED (docs/signin-research.md §1.9).
                return Err(aadsts(
                    StatusCode::BAD_REQUEST,
                    "invalid_client",
                    7000229,
                    &format!(
                        "The client application {client_id} is missing service principal in the tenant {}. See instructions here: https://go.microsoft.com/fwlink/?linkid=2225119",
                        tenant.id
                    ),
                ));
            };
            let roles = tenant.roles_of(client_sp.obj.id(), &resource_id);
            let token = access_token(world, tenant, &audience, &client_sp, appidacr, Some(roles), None, None);
            Ok(token_response(token, None, None))
        }
        // MSAL.NET sends the short form `device_code` (seen running MSAL.NET 4.92 against this
        // emulator, tests/clients); the v2 doc shows the URN (facts.md §4.1). Entra takes both.
        "urn:ietf:params:oauth:grant-type:device_code" | "device_code" => {
            // Device code needs a public client; a confidential app gets AADSTS7000218, HTTP 401
            // (docs/signin-research.md §1.7, real capture).
            let public = clients::find(tenant, &client_id).is_some_and(|c| c.allows_public_flows);
            if !public && form.get("client_secret").is_none() && form.get("client_assertion").is_none() {
                return Err(aadsts(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    7000218,
                    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                ));
            }
            let code = form.get("device_code").cloned().unwrap_or_default();
            let Some(pos) = tenant
                .device_codes
                .iter()
                .position(|d| d.device_code == code && d.client_id.eq_ignore_ascii_case(&client_id))
            else {
                return Err(aadsts(
                    StatusCode::BAD_REQUEST,
                    "bad_verification_code",
                    70000,
                    "The provided value for the input parameter 'device_code' is not valid.",
                ));
            };
            let dc = tenant.device_codes[pos].clone();
            if Instant::now() > dc.expires_at {
                tenant.device_codes.remove(pos);
                // Real expired codes answer AADSTS70020 (docs/emulator-research.md §1f).
                return Err(aadsts(
                    StatusCode::BAD_REQUEST,
                    "expired_token",
                    70020,
                    "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
                ));
            }
            if dc.declined {
                tenant.device_codes.remove(pos);
                // No real body is known (docs/emulator-research.md §1i): error value from the
                // device-code doc table; code and text UNCONFIRMED.
                return Err(aadsts(
                    StatusCode::BAD_REQUEST,
                    "authorization_declined",
                    70000,
                    "The user declined the authorization request.",
                ));
            }
            if !dc.approved && !world.config.auto_approve_device_codes {
                // Verbatim, facts.md §4.1.
                return Err(aadsts(
                    StatusCode::BAD_REQUEST,
                    "authorization_pending",
                    70016,
                    "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
                ));
            }
            tenant.device_codes.remove(pos);
            delegated_token(world, tenant, &client_id, &dc.scope, form)
        }
        "authorization_code" => {
            // A public client sends no secret; a tenant's confidential app must authenticate
            // (its code was still issued: AADSTS7000218 at redemption, as for device code).
            let Some(client) = clients::find(tenant, &client_id) else {
                return Err(app_not_found(&client_id, &tenant.display_name));
            };
            if !client.allows_public_flows
                && client.redirect_uris.is_empty()
                && form.get("client_secret").is_none()
                && form.get("client_assertion").is_none()
            {
                return Err(aadsts(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    7000218,
                    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                ));
            }
            let scope = super::authorize::redeem(tenant, &client_id, form)?;
            delegated_token(world, tenant, &client_id, &scope, form)
        }
        "refresh_token" => {
            let presented = form.get("refresh_token").cloned().unwrap_or_default();
            let Some(rt) = tenant
                .refresh_tokens
                .iter()
                .find(|r| r.token == presented && r.client_id.eq_ignore_ascii_case(&client_id))
                .cloned()
            else {
                return Err(aadsts(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    9002313,
                    "Invalid request. Request is malformed or invalid.",
                ));
            };
            let scope = form.get("scope").cloned().unwrap_or_else(|| rt.scopes.join(" "));
            delegated_token(world, tenant, &client_id, &scope, form)
        }
        other => Err(aadsts(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{other}'."),
        )),
    }
}

pub(crate) fn resource_not_found(resource: &str, tenant: &str) -> EntraError {
    aadsts(
        StatusCode::BAD_REQUEST,
        "invalid_resource",
        500011,
        &format!(
            "The resource principal named {resource} was not found in the tenant named {tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
        ),
    )
}

/// What a delegated request for `scope` by `client` would be granted: the token's audience,
/// the resource SP's object id and the scope names. Refused as Entra refuses it: a scope for
/// two resources or one the resource does not publish (AADSTS70011), an unknown resource
/// (AADSTS500011), a first-party client asking a resource or scope Microsoft did not
/// pre-authorize it for (AADSTS65002, docs/signin-research.md §7.3).
pub(crate) fn check_delegated_request(
    tenant: &Tenant,
    client: &clients::PublicClient,
    scope: &str,
) -> Result<(String, String, Vec<String>), EntraError> {
    let (resource, names) = split_scopes(scope).map_err(|m| {
        aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            &format!("The provided request must include a 'scope' input parameter. {m}"),
        )
    })?;
    let Some((audience, resource_id)) = resolve_resource(tenant, &resource) else {
        return Err(resource_not_found(&resource, &tenant.display_name));
    };
    let resource_sp = tenant.sp_by_id(&resource_id).cloned();
    let resource_app_id = resource_sp.as_ref().map(|s| s.obj.str("appId").to_string()).unwrap_or_default();
    let not_preauthorized = || {
        // The real text is the ref table's first sentence, error `invalid_request` (§7.3,
        // HIGH); the token endpoint's HTTP status for it is UNCONFIRMED (400 here).
        aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            65002,
            &format!(
                "Consent between first party application '{}' and first party resource '{resource_app_id}' must be configured via preauthorization - applications owned and operated by Microsoft must get approval from the API owner before requesting tokens for that API.",
                client.app_id
            ),
        )
    };
    let consent = client.consent_for(&resource_app_id).ok_or_else(not_preauthorized)?;
    let published: Vec<String> = resource_sp
        .as_ref()
        .and_then(|s| s.first_party)
        .and_then(|f| f["oauth2PermissionScopes"].as_array())
        .map(|a| a.iter().filter_map(|s| s["value"].as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let mut granted = Vec::new();
    if let clients::Consent::Preauthorized(list) = &consent {
        granted.extend(list.iter().map(|s| s.to_string()));
    }
    for name in &names {
        if name == ".default" {
            continue;
        }
        // Scope names match case-insensitively; the token carries the canonical value (facts.md §1.4).
        let Some(p) = published.iter().find(|p| p.eq_ignore_ascii_case(name)) else {
            return Err(aadsts(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                70011,
                &format!(
                    "The provided value for the input parameter 'scope' is not valid. The scope {name} is not valid."
                ),
            ));
        };
        match &consent {
            clients::Consent::Preauthorized(list) if !list.iter().any(|l| l.eq_ignore_ascii_case(p)) => {
                return Err(not_preauthorized());
            }
            clients::Consent::Preauthorized(_) => {}
            clients::Consent::Dynamic => granted.push(p.clone()),
        }
    }
    Ok((audience, resource_id, granted))
}

/// A refresh token of a user of another tenant (a partner's admin) redeemed at this tenant's
/// authority, as CIPP redeems its partner refresh token per customer tenant
/// (KelvinTegelaar/CIPP-API `Get-GraphToken`: `grant_type=refresh_token` to
/// `https://login.microsoftonline.com/{customerTenantId}/oauth2/v2.0/token`). None when the
/// refresh token is not another tenant's (the ordinary path then answers).
///
/// The partner's admin gets a token for this tenant only while the partner (the refresh token's
/// tenant) has a GDAP relationship with it that is active and not past its end (gdap.rs); the
/// token's `wids` are that relationship's roles (accessDetails.unifiedRoles' roleDefinitionIds;
/// the emulator does not model access assignments: the admin holds every role of every active
/// relationship). Whether real tokens under GDAP carry the roles in `wids` is UNCONFIRMED.
/// Without such a relationship: AADSTS50020, the text of a user of another tenant without
/// access (real captures: MicrosoftDocs/azure-docs#118443, microsoft/PowerBI-CSharp#64; Learn
/// troubleshooting article "Error AADSTS50020"); its HTTP status and `error` value at the token
/// endpoint for a refresh token are UNCONFIRMED (400 `invalid_grant` here).
fn gdap_refresh(
    world: &World,
    tenants: &mut [Tenant],
    ti: usize,
    client_id: &str,
    form: &HashMap<String, String>,
) -> Option<Result<Value, EntraError>> {
    let presented = form.get("refresh_token").cloned().unwrap_or_default();
    let held = |t: &Tenant| {
        t.refresh_tokens.iter().any(|r| r.token == presented && r.client_id.eq_ignore_ascii_case(client_id))
    };
    if presented.is_empty() || held(&tenants[ti]) {
        return None;
    }
    let pi = tenants.iter().position(held)?;
    let (partner, customer) = (&tenants[pi], &tenants[ti]);
    let rt = partner.refresh_tokens.iter().find(|r| r.token == presented)?.clone();
    let user = partner.admin.clone();
    let mut wids: Vec<String> = Vec::new();
    for r in partner.delegated_admin_relationships.iter().map(super::gdap::view) {
        let mine = r
            .get("customer")
            .and_then(|c| c["tenantId"].as_str())
            .is_some_and(|t| t.eq_ignore_ascii_case(&customer.id));
        if !mine || r.get("status").and_then(Value::as_str) != Some("active") {
            continue;
        }
        let roles = r.get("accessDetails").and_then(|a| a["unifiedRoles"].as_array()).cloned().unwrap_or_default();
        for id in roles.iter().filter_map(|u| u["roleDefinitionId"].as_str()) {
            if !wids.iter().any(|w| w.eq_ignore_ascii_case(id)) {
                wids.push(id.to_ascii_lowercase());
            }
        }
    }
    let active = partner.delegated_admin_relationships.iter().map(super::gdap::view).any(|r| {
        r.get("status").and_then(Value::as_str) == Some("active")
            && r.get("customer")
                .and_then(|c| c["tenantId"].as_str())
                .is_some_and(|t| t.eq_ignore_ascii_case(&customer.id))
    });
    if !active {
        let app_name = clients::find(customer, client_id).map(|c| c.display_name.clone()).unwrap_or_default();
        return Some(Err(aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            50020,
            &format!(
                "User account '{}' from identity provider 'https://sts.windows.net/{}/' does not exist in tenant '{}' and cannot access the application '{client_id}'({app_name}) in that tenant. The account needs to be added as an external user in the tenant first. Sign out and sign in again with a different Azure Active Directory user account.",
                user.user_principal_name, partner.id, customer.display_name
            ),
        )));
    }
    let scope = form.get("scope").cloned().unwrap_or_else(|| rt.scopes.join(" "));
    let answer = delegated_token_for(world, customer, &user, &wids, client_id, &scope, form);
    Some(answer.map(|(v, new_rt)| {
        // The new refresh token is the user's, kept with the partner tenant's.
        if let Some(r) = new_rt {
            tenants[pi].refresh_tokens.push(r);
        }
        v
    }))
}

/// A delegated token for the tenant's admin, plus a refresh token when offline_access was asked.
fn delegated_token(
    world: &World,
    tenant: &mut Tenant,
    client_id: &str,
    scope: &str,
    form: &HashMap<String, String>,
) -> Result<Value, EntraError> {
    let admin = tenant.admin.clone();
    let wids = [GLOBAL_ADMINISTRATOR_ROLE.to_string()];
    let (v, rt) = delegated_token_for(world, tenant, &admin, &wids, client_id, scope, form)?;
    if let Some(r) = rt {
        tenant.refresh_tokens.push(r);
    }
    Ok(v)
}

/// A delegated token in `tenant` for `admin` holding the directory roles `wids`, and the refresh
/// token to keep when offline_access was asked.
fn delegated_token_for(
    world: &World,
    tenant: &Tenant,
    admin: &User,
    wids: &[String],
    client_id: &str,
    scope: &str,
    form: &HashMap<String, String>,
) -> Result<(Value, Option<RefreshToken>), EntraError> {
    let Some(public) = clients::find(tenant, client_id) else {
        return Err(app_not_found(client_id, &tenant.display_name));
    };
    let (audience, _resource_id, granted) = check_delegated_request(tenant, &public, scope)?;
    let client = match tenant.sp_by_app_id(client_id) {
        Some(sp) => sp.clone(),
        // A first-party client or an app without its SP yet: Entra creates the SP at first
        // consent; the token names the client either way.
        None => ServicePrincipal {
            obj: Stored::new(
                service_principal_json(&public.app_id, &public.display_name, &tenant.id, "Application"),
                Duration::ZERO,
            ),
            first_party: None,
        },
    };
    let token = access_token(world, tenant, &audience, &client, "0", None, Some(granted.clone()), Some((admin, wids)));
    let wants_refresh = scope.split_whitespace().any(|s| s.eq_ignore_ascii_case("offline_access"));
    let kept = wants_refresh.then(|| RefreshToken {
        token: format!(
            "0.{}",
            pki::b64url(&[uuid::Uuid::new_v4().as_bytes().as_slice(), uuid::Uuid::new_v4().as_bytes()].concat())
        ),
        client_id: client_id.to_string(),
        scopes: scope.split_whitespace().map(str::to_string).collect(),
    });
    let refresh = kept.as_ref().map(|r| r.token.clone());
    let mut scope_out: Vec<String> = granted.clone();
    for extra in ["openid", "profile", "offline_access", "email"] {
        if scope.split_whitespace().any(|s| s.eq_ignore_ascii_case(extra)) {
            scope_out.push(extra.to_string());
        }
    }
    let mut response = token_response(token, Some(scope_out.join(" ")), refresh);
    // MSAL sends client_info=1 and needs client_info (uid, utid) and, with openid, an id_token
    // to key its account cache (seen with MSAL.NET 4.92, tests/clients).
    if form.get("client_info").map(String::as_str) == Some("1") {
        let info = json!({ "uid": admin.id, "utid": tenant.id });
        response["client_info"] = pki::b64url(info.to_string().as_bytes()).into();
    }
    if scope.split_whitespace().any(|s| s.eq_ignore_ascii_case("openid")) {
        let now = crate::state::now().timestamp();
        let claims = json!({
            "aud": client_id, "iss": format!("https://login.microsoftonline.com/{}/v2.0", tenant.id),
            "iat": now, "nbf": now, "exp": now + TOKEN_LIFETIME_SECS,
            "name": admin.display_name, "oid": admin.id, "preferred_username": admin.user_principal_name,
            "sub": pki::b64url(admin.id.as_bytes()), "tid": tenant.id, "ver": "2.0",
        });
        let mut header = serde_json::Map::new();
        header.insert("kid".into(), world.signing_kid.clone().into());
        response["id_token"] = world.signing.sign_jwt(header, &claims).into();
    }
    Ok((response, kept))
}

fn basic_auth(headers: &HeaderMap) -> (Option<String>, Option<String>) {
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else { return (None, None) };
    let Some(encoded) = value.strip_prefix("Basic ") else { return (None, None) };
    let Some(decoded) = pki::b64_decode(encoded.trim()).and_then(|b| String::from_utf8(b).ok()) else {
        return (None, None);
    };
    match decoded.split_once(':') {
        Some((id, secret)) => (Some(id.to_string()), Some(secret.to_string())),
        None => (None, None),
    }
}

/// Checks the client's secret or certificate assertion; returns `appidacr` ("1" secret, "2"
/// certificate).
fn authenticate_client(
    tenant: &Tenant,
    app: &Application,
    form: &HashMap<String, String>,
    basic_secret: Option<String>,
) -> Result<&'static str, EntraError> {
    let app_id = app.obj.str("appId").to_string();
    if let Some(secret) = form.get("client_secret").cloned().or(basic_secret) {
        let creds = app.obj.json.get("passwordCredentials").and_then(Value::as_array).cloned().unwrap_or_default();
        let matching: Vec<&Secret> = app.secrets.iter().filter(|s| s.text == secret).collect();
        if matching.is_empty() {
            return Err(aadsts(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000215,
                &format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{app_id}'."
                ),
            ));
        }
        let now = crate::state::now();
        let live = matching.iter().any(|s| {
            creds.iter().any(|c| {
                c["keyId"] == s.key_id.as_str()
                    && c["endDateTime"]
                        .as_str()
                        .and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok())
                        .is_some_and(|e| e > now)
                    && c["startDateTime"]
                        .as_str()
                        .and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok())
                        .is_none_or(|s| s <= now)
            })
        });
        if !live {
            return Err(aadsts(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000222,
                &format!(
                    "The provided client secret keys for app '{app_id}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."
                ),
            ));
        }
        return Ok("1");
    }
    let assertion_type = form.get("client_assertion_type").map(String::as_str);
    let Some(assertion) = form.get("client_assertion") else {
        return Err(aadsts(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        ));
    };
    if assertion_type != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") {
        return Err(aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90014,
            "The required field 'client_assertion_type' is missing from the credential.",
        ));
    }
    let invalid = |text: &str| aadsts(StatusCode::UNAUTHORIZED, "invalid_client", 700027, text);
    let Some(jwt) = parse_jwt(assertion) else { return Err(invalid("Client assertion failed signature validation.")) };
    // RS256 + x5t (SHA-1) or PS256 + x5t#S256 (SHA-256): facts.md §4.3.
    let (thumb_claim, sha256) = if let Some(t) = jwt.header.get("x5t#S256").and_then(Value::as_str) {
        (t.to_string(), true)
    } else if let Some(t) = jwt.header.get("x5t").and_then(Value::as_str) {
        (t.to_string(), false)
    } else {
        return Err(invalid("Client assertion contains an invalid signature."));
    };
    let keys = app.obj.json.get("keyCredentials").and_then(Value::as_array).cloned().unwrap_or_default();
    let cert = keys.iter().filter_map(|k| k["key"].as_str().and_then(pki::b64_decode)).find(|der| {
        let t = if sha256 { pki::x5t_sha256(der) } else { pki::x5t_sha1(der) };
        t == thumb_claim.trim_end_matches('=')
    });
    let Some(der) = cert else {
        let object_id = app.obj.id().to_string();
        return Err(invalid(&format!(
            "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{thumb_claim}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{app_id}'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments to determine the corresponding service endpoint and https://docs.microsoft.com/en-us/graph/api/application-get?view=graph-rest-1.0&tabs=http to build a query request URL, such as 'https://graph.microsoft.com/beta/applications/{object_id}']."
        )));
    };
    let key = rsa_public_key_of(&der).map_err(|_| invalid("Client assertion failed signature validation."))?;
    if !verify_jwt_signature(&jwt, &key) {
        return Err(invalid("Client assertion failed signature validation."));
    }
    let now = crate::state::now().timestamp();
    let claims = &jwt.claims;
    // Numeric dates; some clients (MSAL.NET) send them as JSON strings.
    let num = |v: &Value| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).unwrap_or(0);
    let exp = num(&claims["exp"]);
    let nbf = num(&claims["nbf"]);
    if exp < now - 300 || nbf > now + 300 {
        let f = |t: i64| {
            chrono::DateTime::from_timestamp(t, 0).unwrap_or_default().format("%Y-%m-%dT%H:%M:%S.0000000Z").to_string()
        };
        let now_dt = crate::state::now();
        // Seven fractional digits, as Entra prints them.
        let current = format!("{}.{:07}Z", now_dt.format("%Y-%m-%dT%H:%M:%S"), now_dt.timestamp_subsec_nanos() / 100);
        // docs/emulator-research.md §1g (real capture, newer doc URL).
        return Err(aadsts(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700024,
            &format!(
                "Client assertion is not within its valid time range. Current time: {current}, assertion valid from {}, expiry time of assertion {}. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
                f(nbf),
                f(exp)
            ),
        ));
    }
    if claims["iss"].as_str() != Some(app_id.as_str()) || claims["sub"].as_str() != Some(app_id.as_str()) {
        return Err(aadsts(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700023,
            "Client assertion audience claim does not match Realm issuer.",
        ));
    }
    // `aud` is the token endpoint (current doc) or the older v2.0 / v1 forms (facts.md §4.3).
    let aud = claims["aud"].as_str().unwrap_or("");
    if !aud.contains(&tenant.id) && !aud.contains(&tenant.initial_domain) {
        return Err(aadsts(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter.",
        ));
    }
    Ok("2")
}

/// `POST /{tenant}/oauth2/v2.0/devicecode` (facts.md §4.1: no verification_uri_complete;
/// expires_in 900; interval 5).
pub fn device_code(
    world: &World,
    tenant_name: &str,
    form: &HashMap<String, String>,
    base: &str,
) -> Result<Value, EntraError> {
    let mut tenants = world.tenants.lock();
    let Some(ti) = world.tenant_index(&tenants, tenant_name) else { return Err(tenant_not_found(tenant_name)) };
    let tenant = &mut tenants[ti];
    let client_id = form.get("client_id").cloned().unwrap_or_default();
    if clients::find(tenant, &client_id).is_none() {
        return Err(app_not_found(&client_id, &tenant.display_name));
    }
    let scope = form.get("scope").cloned().unwrap_or_default();
    split_scopes(&scope).map_err(|m| aadsts(StatusCode::BAD_REQUEST, "invalid_scope", 70011, &m))?;
    use rand::Rng;
    let mut rng = rand::rng();
    const LETTERS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let user_code: String = (0..9).map(|_| LETTERS[rng.random_range(0..LETTERS.len())] as char).collect();
    let device_code =
        pki::b64url(&[uuid::Uuid::new_v4().as_bytes().as_slice(), uuid::Uuid::new_v4().as_bytes()].concat());
    // The real page is https://microsoft.com/devicelogin; the emulator's stands in for it.
    let verification_uri = format!("{base}/_emulator/devicelogin");
    tenant.device_codes.push(DeviceCode {
        device_code: device_code.clone(),
        user_code: user_code.clone(),
        client_id,
        scope,
        expires_at: Instant::now() + Duration::from_secs(900),
        approved: false,
        declined: false,
    });
    Ok(json!({
        "user_code": user_code,
        "device_code": device_code,
        "verification_uri": verification_uri,
        "expires_in": 900,
        "interval": 5,
        "message": format!("To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate."),
    }))
}

/// `GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=…` with `X-IDENTITY-HEADER`
/// (facts.md §4.5: Azure Automation / App Service; `expires_on` is epoch seconds as a string).
pub fn managed_identity(
    world: &World,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<Value, (StatusCode, Value)> {
    let presented = headers.get("x-identity-header").and_then(|v| v.to_str().ok()).unwrap_or("");
    if presented != world.identity_header {
        // App Service answers a missing/wrong header with 400/401 and a short JSON message;
        // the exact text is not documented (facts.md §4.5 notes vague MI errors).
        // App Service answers 401 (Azure/azure-sdk-for-js#11595); no real body is known, so
        // the envelope of its other errors is used (docs/emulator-research.md §8). UNCONFIRMED text.
        return Err((
            StatusCode::UNAUTHORIZED,
            json!({ "StatusCode": 401, "Message": "The X-IDENTITY-HEADER header is missing or invalid.", "CorrelationId": new_id() }),
        ));
    }
    let resource = query.get("resource").cloned().unwrap_or_default();
    let tenants = world.tenants.lock();
    // Pick the identity: client_id selects a user-assigned one; the first tenant's system
    // identity otherwise (one Automation account per emulator instance).
    let wanted = query.get("client_id").cloned();
    let found =
        tenants.iter().find(|t| wanted.as_ref().is_none_or(|w| t.managed_identity_client_id.eq_ignore_ascii_case(w)));
    let Some(tenant) = found else {
        // docs/emulator-research.md §8 (real envelope and newer wording).
        return Err((
            StatusCode::BAD_REQUEST,
            json!({ "StatusCode": 400, "Message": "No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId", "CorrelationId": new_id() }),
        ));
    };
    let Some((audience, resource_id)) = resolve_resource(tenant, &resource) else {
        // facts.md §4.5: a wrong resource gives a vague 500 (MSAL-PY comment); text from the
        // MSAL test mocks (docs/emulator-research.md §8).
        return Err((
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "StatusCode": 500, "Message": "An unexpected error occured while fetching the AAD Token.", "CorrelationId": new_id() }),
        ));
    };
    let sp = tenant.sp_by_id(&tenant.managed_identity_sp).cloned().expect("managed identity SP exists");
    let roles = tenant.roles_of(sp.obj.id(), &resource_id);
    let token = access_token(world, tenant, &audience, &sp, "2", Some(roles), None, None);
    let expires_on = crate::state::now().timestamp() + TOKEN_LIFETIME_SECS;
    Ok(json!({
        "access_token": token,
        "expires_on": expires_on.to_string(),
        "resource": resource,
        "token_type": "Bearer",
        "client_id": tenant.managed_identity_client_id,
    }))
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
/// `base` is the scheme and host the client used (the production host through the proxy).
pub fn openid_configuration(world: &World, tenant_name: &str, base: &str) -> Result<Value, EntraError> {
    let tenants = world.tenants.lock();
    let Some(ti) = world.tenant_index(&tenants, tenant_name) else { return Err(tenant_not_found(tenant_name)) };
    let t = &tenants[ti];
    Ok(json!({
        "token_endpoint": format!("{base}/{}/oauth2/v2.0/token", t.id),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/{}/discovery/v2.0/keys", t.id),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        // The issuer is the production one whichever host served the document (tokens name
        // Entra, not the emulator).
        "issuer": format!("https://login.microsoftonline.com/{}/v2.0", t.id),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": format!("{base}/{}/oauth2/v2.0/authorize", t.id),
        "device_authorization_endpoint": format!("{base}/{}/oauth2/v2.0/devicecode", t.id),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{base}/{}/oauth2/v2.0/logout", t.id),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": format!("{base}/{}/kerberos", t.id),
        "tenant_region_scope": "WW",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }))
}

/// `GET /common/discovery/instance?api-version=1.1&authorization_endpoint=…`, which MSAL calls
/// first (docs/emulator-research.md §9, real recording).
pub fn instance_discovery(world: &World, base: &str, authorization_endpoint: &str) -> Value {
    let tenant = authorization_endpoint.split('/').nth(3).unwrap_or("common").to_string();
    let host = base.trim_start_matches("https://").split(':').next().unwrap_or("login.microsoftonline.com").to_string();
    let known =
        world.tenant_index(&world.tenants.lock(), &tenant).is_some() || tenant == "common" || tenant == "organizations";
    json!({
        "tenant_discovery_endpoint": format!("{base}/{}/v2.0/.well-known/openid-configuration", if known { tenant.as_str() } else { "common" }),
        "api-version": "1.1",
        "metadata": [{
            "preferred_network": host,
            "preferred_cache": host,
            "aliases": [host],
        }],
    })
}

/// `GET /{tenant}/discovery/v2.0/keys`.
pub fn jwks(world: &World) -> Value {
    json!({ "keys": [world.signing.jwk(&world.signing_kid)] })
}

/// The AADSTS errors a fault rule can inject (texts: docs/signin-research.md §1.1–1.5, real
/// captures; docs/emulator-research.md §1b).
pub fn injected_aadsts(code: u32, client_id: &str, scope: &str) -> Option<EntraError> {
    let resource = scope.split_whitespace().next().unwrap_or("").trim_end_matches("/.default").to_string();
    let resource =
        if resource.contains("graph.microsoft") || resource.is_empty() { GRAPH_APP_ID.to_string() } else { resource };
    let mut e = match code {
        50076 => aadsts(
            StatusCode::BAD_REQUEST,
            "interaction_required",
            50076,
            &format!(
                "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '{resource}'."
            ),
        ),
        50079 => aadsts(
            StatusCode::BAD_REQUEST,
            "interaction_required",
            50079,
            &format!(
                "Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multifactor authentication to access '{resource}'."
            ),
        ),
        53003 => aadsts(
            StatusCode::BAD_REQUEST,
            "interaction_required",
            53003,
            "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
        ),
        65001 => aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            65001,
            &format!(
                "The user or administrator has not consented to use the application with ID '{client_id}' named '{client_id}'. Send an interactive authorization request for this user and resource."
            ),
        ),
        7000222 => aadsts(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000222,
            &format!(
                "The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."
            ),
        ),
        700082 => {
            let t = crate::state::now() - chrono::Duration::days(90);
            let issued = format!("{}.{:07}Z", t.format("%Y-%m-%dT%H:%M:%S"), t.timestamp_subsec_nanos() / 100);
            aadsts(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                700082,
                &format!(
                    "The refresh token has expired due to inactivity. The token was issued on {issued} and was inactive for 90.00:00:00."
                ),
            )
        }
        _ => return None,
    };
    let suberror = match code {
        50076 | 50079 => Some("basic_action"),
        53003 => Some("message_only"),
        65001 => Some("consent_required"),
        700082 => Some("bad_token"),
        _ => None,
    };
    if let Some(s) = suberror {
        e.body["suberror"] = s.into();
    }
    Some(e)
}
