//! Browser sign-in (authorization code + PKCE): `GET /{tenant}/oauth2/v2.0/authorize`, the
//! emulator's sign-in page (the stand-in for login.microsoftonline.com's: the tenant's admin,
//! "Accept" or "Cancel", posted to `/_emulator/signin/{id}`), the redirect to the client's
//! loopback listener, and the code's redemption at the token endpoint.
//!
//! Sources: docs/signin-research.md §7 (parameters, the redirect's shape, the loopback port
//! rule, the AADSTS texts); the client model is in [`super::clients`].

use super::clients;
use super::entra::{EntraError, aadsts};
use super::pki;
use super::state::*;
use super::world::World;
use axum::http::StatusCode;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long the sign-in page and an issued code stay usable ("Typically, they expire after about
/// 10 minutes", docs/signin-research.md §7.1).
const CODE_LIFETIME: Duration = Duration::from_secs(600);

/// What the browser gets.
pub enum Answer {
    /// An HTML page and its status: the sign-in page, or an error Entra shows instead of
    /// redirecting (unknown tenant or client, a redirect URI it may not send to).
    Page(StatusCode, String),
    /// `302 Found` to the client's redirect URI.
    Redirect(String),
}

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

pub(crate) fn error_page(e: EntraError) -> Answer {
    let text = e.body["error_description"].as_str().unwrap_or("").to_string();
    let html = format!(
        "<!DOCTYPE html><html><head><title>Sign in to your account</title></head><body><h1>Sorry, but we're having trouble signing you in.</h1><p id=\"error\">{}</p></body></html>",
        escape(&text)
    );
    Answer::Page(e.status, html)
}

/// The redirect carrying `pairs` (plus `state`) back to the client, in the query.
pub(crate) fn back_to(redirect_uri: &str, pairs: &[(&str, String)], state: Option<&str>) -> Answer {
    deliver(redirect_uri, pairs, state, "query")
}

/// `pairs` (plus `state`) back to the client in `response_mode`: `query` (a 302 with them in
/// the query), `fragment` (a 302 with them after `#`), `form_post` (a page that posts them to the
/// redirect URI: "form_post executes a POST containing the code to your redirect URI",
/// Learn v2-oauth2-auth-code-flow, `response_mode`). The form_post page's exact markup is
/// UNCONFIRMED (a hidden form submitted by script, as Entra's "Working..." page).
pub(crate) fn deliver(redirect_uri: &str, pairs: &[(&str, String)], state: Option<&str>, mode: &str) -> Answer {
    let mut all: Vec<(&str, String)> = pairs.to_vec();
    if let Some(s) = state {
        all.push(("state", s.to_string()));
    }
    // "Redirect URIs not configured with a path segment are returned with a trailing slash"
    // (docs/signin-research.md §7.1).
    let mut target = redirect_uri.to_string();
    let authority_end = target.find("://").map(|i| i + 3).unwrap_or(0);
    if !target[authority_end..].contains('/') {
        target.push('/');
    }
    if mode == "form_post" {
        let inputs: String = all
            .iter()
            .map(|(k, v)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\" />", escape(k), escape(v)))
            .collect();
        return Answer::Page(
            StatusCode::OK,
            format!(
                "<html><head><title>Working...</title></head><body><form method=\"POST\" name=\"hiddenform\" action=\"{}\">{inputs}<noscript><p>Script is disabled. Click Submit to continue.</p><input type=\"submit\" value=\"Submit\" /></noscript></form><script language=\"javascript\">document.forms[0].submit();</script></body></html>",
                escape(&target)
            ),
        );
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &all {
        query.append_pair(k, v);
    }
    let sep = if mode == "fragment" {
        '#'
    } else if target.contains('?') {
        '&'
    } else {
        '?'
    };
    Answer::Redirect(format!("{target}{sep}{}", query.finish()))
}

/// AADSTS50011, a redirect URI the app did not register: shown on Entra's error page, never
/// redirected (docs/signin-research.md §7.1, the real page text of uno.todo#180 and others).
/// The authorize and admin consent endpoints both answer it.
pub(crate) fn redirect_mismatch(redirect_uri: &str, client_id: &str) -> EntraError {
    aadsts(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        50011,
        &format!(
            "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this."
        ),
    )
}

/// An error the client hears about on its redirect URI (the request was good enough to
/// trust the redirect).
pub(crate) fn error_back(redirect_uri: &str, e: EntraError, state: Option<&str>) -> Answer {
    error_back_in(redirect_uri, e, state, "query")
}

/// [`error_back`] in a response mode (see [`deliver`]).
fn error_back_in(redirect_uri: &str, e: EntraError, state: Option<&str>, mode: &str) -> Answer {
    let error = e.body["error"].as_str().unwrap_or("invalid_request").to_string();
    let description = e.body["error_description"].as_str().unwrap_or("").to_string();
    let uri = e.body["error_uri"].as_str().unwrap_or("").to_string();
    // error, error_description (with its Trace ID lines), error_uri, state: the real redirects
    // of AADSTS65004 and 65002 (docs/signin-research.md §7.1, §7.3).
    deliver(redirect_uri, &[("error", error), ("error_description", description), ("error_uri", uri)], state, mode)
}

/// `GET /{tenant}/oauth2/v2.0/authorize`.
pub fn authorize(world: &World, tenant_name: &str, q: &HashMap<String, String>, base: &str) -> Answer {
    let mut tenants = world.tenants.lock();
    let Some(ti) = world.tenant_index(&tenants, tenant_name) else {
        return error_page(super::entra::tenant_not_found(tenant_name));
    };
    let tenant = &mut tenants[ti];
    let client_id = q.get("client_id").cloned().unwrap_or_default();
    if client_id.is_empty() {
        return error_page(super::entra::missing_parameter("client_id"));
    }
    let Some(client) = clients::find(tenant, &client_id) else {
        return error_page(super::entra::app_not_found(&client_id, &tenant.display_name));
    };
    let redirect_uri = q.get("redirect_uri").cloned().unwrap_or_default();
    if !client.accepts_redirect(&redirect_uri) {
        return error_page(redirect_mismatch(&redirect_uri, &client.app_id));
    }
    let state = q.get("state").cloned();
    let st = state.as_deref();
    // Response mode: `query` (the code flow's default), `fragment` or `form_post` (Learn
    // v2-oauth2-auth-code-flow, `response_mode`). Another value: the real answer is UNCONFIRMED
    // (docs/emulator-research.md §11); an error page with `invalid_request`, no AADSTS code.
    let mode = q.get("response_mode").cloned().unwrap_or_else(|| "query".into());
    if !matches!(mode.as_str(), "query" | "fragment" | "form_post") {
        return error_page(EntraError {
            status: StatusCode::BAD_REQUEST,
            body: serde_json::json!({
                "error": "invalid_request",
                "error_description": "The provided value for the input parameter 'response_mode' is not valid.",
            }),
        });
    }
    // Response type: the emulator's clients are public clients (mobile and desktop redirect
    // URIs), for which Entra issues no implicit tokens: `token` is refused with AADSTS700051
    // (`unsupported_response_type`, AzureAD/microsoft-authentication-library-for-js#766) and
    // `id_token` with AADSTS700054 (syncweek-react-aad/react-aad#158,
    // microsoftgraph/msgraph-sample-reactspa#39; its `error` value, the same, is MEDIUM:
    // Azure/active-directory-dotnet-graphapi-b2bportal-web#22).
    let response_type = q.get("response_type").map(String::as_str).unwrap_or("");
    let types: Vec<&str> = response_type.split_whitespace().collect();
    if types.is_empty() {
        // docs/signin-research.md §1.12's missing-parameter code; on a page, as the missing
        // client_id (UNCONFIRMED for response_type).
        return error_page(super::entra::missing_parameter("response_type"));
    }
    let refuse = |code: u32, text: &str| {
        error_back_in(
            &redirect_uri,
            aadsts(StatusCode::BAD_REQUEST, "unsupported_response_type", code, text),
            st,
            &mode,
        )
    };
    if types.contains(&"token") {
        return refuse(700051, "response_type 'token' is not enabled for the application.");
    }
    if types.contains(&"id_token") {
        return refuse(700054, "response_type 'id_token' is not enabled for the application.");
    }
    if types != ["code"] {
        // An unknown response type: OAuth's `unsupported_response_type` (Learn's authorize
        // error table); Entra's AADSTS code and text for it are UNCONFIRMED, so none is sent.
        return error_back_in(
            &redirect_uri,
            EntraError {
                status: StatusCode::BAD_REQUEST,
                body: serde_json::json!({
                    "error": "unsupported_response_type",
                    "error_description": "The provided value for the input parameter 'response_type' is not valid.",
                }),
            },
            st,
            &mode,
        );
    }
    let method = q.get("code_challenge_method").cloned().unwrap_or_else(|| "plain".into());
    if q.contains_key("code_challenge") && !matches!(method.as_str(), "S256" | "plain") {
        // The ref table's AADSTS50149 "Invalid Code_Challenge_method parameter." (docs/signin-
        // research.md §7.2; the error value is UNCONFIRMED).
        return error_back_in(
            &redirect_uri,
            aadsts(StatusCode::BAD_REQUEST, "invalid_request", 50149, "Invalid Code_Challenge_method parameter."),
            st,
            &mode,
        );
    }
    let scope = q.get("scope").cloned().unwrap_or_default();
    if let Err(e) = super::entra::check_delegated_request(tenant, &client, &scope) {
        return error_back_in(&redirect_uri, e, st, &mode);
    }
    let id = pki::b64url(uuid::Uuid::new_v4().as_bytes());
    tenant.sign_ins.retain(|s| s.expires_at > Instant::now());
    tenant.sign_ins.push(PendingSignIn {
        id: id.clone(),
        client_id: client.app_id.clone(),
        redirect_uri,
        scope: scope.clone(),
        state,
        code_challenge: q.get("code_challenge").cloned(),
        code_challenge_method: method,
        response_mode: mode,
        expires_at: Instant::now() + CODE_LIFETIME,
    });
    let scopes: String = scope.split_whitespace().map(|s| format!("<li>{}</li>", escape(s))).collect();
    let html = format!(
        "<!DOCTYPE html><html><head><title>Sign in to your account</title></head><body>\
<h1>Kodo tenant emulator: sign in</h1>\
<p>Tenant <b>{tenant}</b> ({tenant_id})</p>\
<p>Account <b id=\"account\">{account}</b> (Global Administrator)</p>\
<p>App <b id=\"client\">{client}</b> ({client_id}) asks for:</p><ul>{scopes}</ul>\
<form method=\"post\" action=\"{base}/_emulator/signin/{id}\">\
<button type=\"submit\" name=\"action\" value=\"accept\">Accept</button> \
<button type=\"submit\" name=\"action\" value=\"cancel\">Cancel</button>\
</form></body></html>",
        tenant = escape(&tenant.display_name),
        tenant_id = tenant.id,
        account = escape(&tenant.admin.user_principal_name),
        client = escape(&client.display_name),
        client_id = client.app_id,
    );
    Answer::Page(StatusCode::OK, html)
}

/// `POST /_emulator/signin/{id}` with `action=accept` or `action=cancel`: the user's answer
/// on the sign-in page.
pub fn complete(world: &World, id: &str, form: &HashMap<String, String>) -> Answer {
    let mut tenants = world.tenants.lock();
    let found = tenants.iter_mut().find_map(|t| {
        let pos = t.sign_ins.iter().position(|s| s.id == id)?;
        Some((t, pos))
    });
    let Some((tenant, pos)) = found else {
        return Answer::Page(StatusCode::NOT_FOUND, "<p>No sign-in is waiting with this id.</p>".into());
    };
    let pending = tenant.sign_ins.remove(pos);
    let st = pending.state.as_deref();
    if pending.expires_at < Instant::now() {
        return Answer::Page(StatusCode::BAD_REQUEST, "<p>This sign-in page has expired. Start again.</p>".into());
    }
    match form.get("action").map(String::as_str) {
        Some("accept") => {}
        Some("cancel") => {
            return error_back_in(
                &pending.redirect_uri,
                aadsts(StatusCode::BAD_REQUEST, "access_denied", 65004, "User declined to consent to access the app."),
                st,
                &pending.response_mode,
            );
        }
        _ => return Answer::Page(StatusCode::BAD_REQUEST, "<p>action must be accept or cancel.</p>".into()),
    }
    let code = format!(
        "1.{}",
        pki::b64url(&[uuid::Uuid::new_v4().as_bytes().as_slice(), uuid::Uuid::new_v4().as_bytes()].concat())
    );
    tenant.auth_codes.retain(|c| c.expires_at > Instant::now());
    tenant.auth_codes.push(AuthCode {
        code: code.clone(),
        client_id: pending.client_id.clone(),
        redirect_uri: pending.redirect_uri.clone(),
        scope: pending.scope.clone(),
        code_challenge: pending.code_challenge.clone(),
        code_challenge_method: pending.code_challenge_method.clone(),
        expires_at: Instant::now() + CODE_LIFETIME,
        redeemed: false,
    });
    let session = new_id();
    deliver(&pending.redirect_uri, &[("code", code), ("session_state", session)], st, &pending.response_mode)
}

/// The token endpoint's `authorization_code` grant: checks the code, its client, redirect URI
/// and PKCE verifier; returns the scope the user consented to.
pub fn redeem(tenant: &mut Tenant, client_id: &str, form: &HashMap<String, String>) -> Result<String, EntraError> {
    let presented = form.get("code").cloned().unwrap_or_default();
    let invalid_code = || {
        aadsts(StatusCode::BAD_REQUEST, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
    };
    // An unknown code: the malformed-request answer the emulator gives unknown refresh tokens
    // (docs/emulator-research.md; the text for a bad code is UNCONFIRMED).
    let Some(code) = tenant.auth_codes.iter_mut().find(|c| c.code == presented) else { return Err(invalid_code()) };
    if !code.client_id.eq_ignore_ascii_case(client_id) {
        return Err(invalid_code());
    }
    if code.redeemed {
        return Err(aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
        ));
    }
    if code.expires_at < Instant::now() {
        return Err(aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
        ));
    }
    let sent_redirect = form.get("redirect_uri").cloned().unwrap_or_default();
    if sent_redirect != code.redirect_uri {
        // Only 2018 captures are known (docs/signin-research.md §7.2, MEDIUM): AADSTS70002 with
        // AADSTS50011 inside, `invalid_client`.
        return Err(aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            70002,
            &format!(
                "Error validating credentials. AADSTS50011: The reply address '{sent_redirect}' does not match the reply address '{}' provided when requesting Authorization code.",
                code.redirect_uri
            ),
        ));
    }
    if let Some(challenge) = &code.code_challenge {
        let verifier = form.get("code_verifier").cloned().unwrap_or_default();
        if verifier.is_empty() {
            // A challenge was sent and no verifier comes: AADSTS50148 (§7.2, MEDIUM).
            return Err(aadsts(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                50148,
                "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.",
            ));
        }
        let computed = if code.code_challenge_method == "S256" {
            use sha2::Digest;
            pki::b64url(&sha2::Sha256::digest(verifier.as_bytes()))
        } else {
            verifier.clone()
        };
        if &computed != challenge {
            // §7.2, HIGH.
            return Err(aadsts(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                501481,
                "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
            ));
        }
    }
    code.redeemed = true;
    Ok(code.scope.clone())
}
