//! Sign-in failures turned into errors that say what to do: AADSTS codes (texts of the codes:
//! docs/emulator-research.md §1 and docs/signin-research.md), and connections that failed.

use crate::error::{ErrorCode, KodoError};
use serde_json::Value;

pub(crate) fn connection_error(host: &str, e: &reqwest::Error) -> KodoError {
    // reqwest's Display never includes the request body; keep only the kind of failure.
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    KodoError::new(
        ErrorCode::ConnectionFailed,
        format!("The request to {host} {kind}. Check the network, proxy (HTTPS_PROXY) and the -Environment."),
    )
}

/// Turns an AADSTS error body into a specific message that says what to do (texts of the
/// codes: docs/emulator-research.md §1 and signin research).
pub fn aadsts_error(body: &Value, client_id: &str, tenant: &str) -> KodoError {
    let description = body["error_description"].as_str().unwrap_or("").lines().next().unwrap_or("").to_string();
    // A browser sign-in's error arrives on the redirect without `error_codes`: the code leads
    // its description ("AADSTS65004: ...").
    let code = body["error_codes"][0].as_u64().unwrap_or_else(|| {
        description.strip_prefix("AADSTS").and_then(|r| r.split(':').next()).and_then(|n| n.parse().ok()).unwrap_or(0)
    });
    let (kind, advice) = match code {
        7000215 => (ErrorCode::AuthenticationFailed, format!("The client secret for app {client_id} is wrong. Use the secret's Value (shown once when it was created), not its Secret ID, or create a new secret.")),
        7000222 => (ErrorCode::AuthenticationFailed, format!("The client secret of app {client_id} has expired. Create a new secret (or add a certificate) for the app and connect with it.")),
        700016 => (ErrorCode::NotFound, format!("App {client_id} was not found in tenant '{tenant}'. Check -ClientId (the Application (client) ID) and -TenantId; the app must be registered in, or consented to by, this tenant.")),
        90002 => (ErrorCode::NotFound, format!("Tenant '{tenant}' was not found. Check -TenantId (a GUID or an initial domain such as contoso.onmicrosoft.com) and -Environment (the cloud).")),
        65001 => (ErrorCode::PermissionDenied, format!("Admin consent is missing for app {client_id}. An administrator must grant consent to its permissions.")),
        50076 | 50079 => (ErrorCode::AuthenticationFailed, "Multi-factor authentication is required. Sign in interactively with -UseDeviceCode and complete MFA in the browser.".to_string()),
        53003 => (ErrorCode::PermissionDenied, "A Conditional Access policy blocked the sign-in. Ask your Entra administrator which policy applies (sign-in logs), or sign in from a compliant device or location.".to_string()),
        700027 => (ErrorCode::AuthenticationFailed, format!("The certificate is not registered on app {client_id}. Upload its public key (Certificates & secrets) or use the certificate Kodo added.")),
        700024 => (ErrorCode::AuthenticationFailed, "The client assertion was outside its validity window: check this machine's clock.".to_string()),
        7000229 => (ErrorCode::NotFound, format!("App {client_id} has no service principal in tenant '{tenant}': create it (admin consent or New-KodoApp) first.")),
        500011 => (ErrorCode::NotFound, format!("The requested API is not present in tenant '{tenant}'.")),
        7000218 => (ErrorCode::AuthenticationFailed, format!("App {client_id} is not a public client, so it cannot be used for a device-code or browser sign-in. Turn on 'Allow public client flows' for it (Authentication blade), or use another app.")),
        65002 => (ErrorCode::PermissionDenied, format!("Microsoft's client {client_id} may not get tokens for this service: Microsoft pre-authorized it for other services only. Run Connect-Kodo without -ClientId (Kodo then signs in through Microsoft's own client for each service), or name a public client of your own that has this service's delegated permissions.")),
        65004 => (ErrorCode::AuthenticationFailed, "The sign-in was cancelled in the browser (the permissions were not accepted). Run Connect-Kodo again and accept them.".to_string()),
        50011 => (ErrorCode::InvalidArgument, format!("App {client_id} has no redirect URI for Kodo's browser sign-in. Add http://localhost as a 'Mobile and desktop applications' redirect URI (the port is ignored), or sign in with -UseDeviceCode.")),
        54005 | 70008 | 501481 | 50148 | 70002 => (ErrorCode::AuthenticationFailed, "The browser sign-in's answer could not be redeemed. Run Connect-Kodo again.".to_string()),
        700082 => (ErrorCode::AuthenticationFailed, "The sign-in has expired after 90 days without use. Run Connect-Kodo again.".to_string()),
        70020 | 70019 => (ErrorCode::Timeout, "The device code expired before the sign-in was completed. Run Connect-Kodo -UseDeviceCode again and finish within 15 minutes.".to_string()),
        1002012 | 70011 => (ErrorCode::InvalidArgument, "The requested scope is not valid for this sign-in.".to_string()),
        _ if body["error"] == "authorization_declined" => (ErrorCode::AuthenticationFailed, "The sign-in was declined in the browser.".to_string()),
        _ => (ErrorCode::AuthenticationFailed, "Sign-in failed.".to_string()),
    };
    let mut e = KodoError::new(kind, format!("{advice} ({description})"));
    if !client_id.is_empty() {
        e = e.with_target(client_id.to_string());
    }
    e
}
