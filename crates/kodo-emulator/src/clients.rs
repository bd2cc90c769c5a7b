//! Public clients: which apps may sign a user in without a secret, where the browser may send
//! the authorization code, and which resources each may get a delegated token for.
//!
//! Two kinds:
//! - Microsoft's first-party public clients that admins' own tools use (facts.md §8.6): they
//!   are in no tenant's `applications`, their app ids are the same everywhere, and each may
//!   reach only the resources Microsoft pre-authorized it for (anything else is AADSTS65002,
//!   docs/signin-research.md §7.3).
//! - A tenant's own app registration with "Allow public client flows" (`isFallbackPublicClient`)
//!   or public-client redirect URIs: it may ask for any scope a resource publishes (the admin
//!   consents at sign-in).

use super::state::{EXCHANGE_APP_ID, GRAPH_APP_ID, SHAREPOINT_APP_ID, Tenant};
use serde_json::Value;

/// What a client may ask of a resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Consent {
    /// Any delegated scope the resource publishes (dynamic consent: the admin consents to what
    /// is asked at sign-in).
    Dynamic,
    /// Only `.default`, which carries the scopes Microsoft pre-authorized; the emulator does not
    /// know their names, so the token's `scp` is the resource's published scopes the client
    /// is known to use (listed here).
    Preauthorized(&'static [&'static str]),
}

/// A first-party public client.
pub struct FirstPartyClient {
    pub app_id: &'static str,
    pub display_name: &'static str,
    /// Redirect URIs registered on the client (docs/signin-research.md §7.4).
    pub redirect_uris: &'static [&'static str],
    /// (resource app id, consent) pairs.
    pub reach: &'static [(&'static str, Consent)],
}

/// Microsoft's public clients the emulator knows (app ids: facts.md §8.6).
pub const FIRST_PARTY_CLIENTS: &[FirstPartyClient] = &[
    FirstPartyClient {
        app_id: "14d82eec-204b-4c2f-b7e8-296a70dab67e",
        display_name: "Microsoft Graph Command Line Tools",
        // Connect-MgGraph sets no redirect URI: Azure.Identity's `http://localhost` (HIGH).
        redirect_uris: &["http://localhost"],
        // Graph only: whether it can reach SharePoint or Exchange is UNCONFIRMED (a LOW source
        // says it has no Exchange permission), so the emulator refuses both with 65002.
        reach: &[(GRAPH_APP_ID, Consent::Dynamic)],
    },
    FirstPartyClient {
        app_id: "fb78d390-0c51-40cd-8e17-fdbfab77341b",
        display_name: "Microsoft Exchange REST API Based Powershell",
        // The module's own, and a loopback one that MSAL.NET was seen using with it (MEDIUM).
        redirect_uris: &["https://login.microsoftonline.com/organizations/oauth2/nativeclient", "http://localhost"],
        reach: &[(EXCHANGE_APP_ID, Consent::Preauthorized(&[]))],
    },
    FirstPartyClient {
        app_id: "9bc3ab49-b65d-410a-85ad-de819febfddc",
        display_name: "SharePoint Online Management Shell",
        // Two third-party tables agree (MEDIUM); whether a loopback one is registered too is
        // UNCONFIRMED, so the emulator has none: a browser sign-in through it cannot come back
        // to a local listener, while its device code does.
        redirect_uris: &["https://oauth.spops.microsoft.com/"],
        reach: &[(SHAREPOINT_APP_ID, Consent::Preauthorized(&[]))],
    },
    FirstPartyClient {
        app_id: "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
        display_name: "Microsoft Azure CLI",
        redirect_uris: &["http://localhost"],
        // Its Graph token carries these two (LOW); other Graph scopes are 65002 (HIGH).
        reach: &[(GRAPH_APP_ID, Consent::Preauthorized(&["Directory.AccessAsUser.All", "Group.ReadWrite.All"]))],
    },
];

/// A client that may sign a user in interactively.
pub struct PublicClient {
    pub app_id: String,
    pub display_name: String,
    pub redirect_uris: Vec<String>,
    pub first_party: Option<&'static FirstPartyClient>,
    /// Device code and refresh tokens need "Allow public client flows" on a tenant's app.
    pub allows_public_flows: bool,
}

pub fn first_party(app_id: &str) -> Option<&'static FirstPartyClient> {
    FIRST_PARTY_CLIENTS.iter().find(|c| c.app_id.eq_ignore_ascii_case(app_id))
}

/// The client `app_id` as the sign-in endpoints see it, if it exists (first-party or the
/// tenant's own app).
pub fn find(tenant: &Tenant, app_id: &str) -> Option<PublicClient> {
    if let Some(c) = first_party(app_id) {
        return Some(PublicClient {
            app_id: c.app_id.to_string(),
            display_name: c.display_name.to_string(),
            redirect_uris: c.redirect_uris.iter().map(|s| s.to_string()).collect(),
            first_party: Some(c),
            allows_public_flows: true,
        });
    }
    let app = tenant.app_by_app_id(app_id)?;
    let json = &app.obj.json;
    let uris = json
        .get("publicClient")
        .and_then(|p| p.get("redirectUris"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|u| u.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    Some(PublicClient {
        app_id: app.obj.str("appId").to_string(),
        display_name: app.obj.str("displayName").to_string(),
        redirect_uris: uris,
        first_party: None,
        allows_public_flows: json.get("isFallbackPublicClient") == Some(&Value::Bool(true)),
    })
}

impl PublicClient {
    /// Whether `redirect_uri` matches a registered one. For `http://localhost` and
    /// `http://127.0.0.1` the port is ignored (docs/signin-research.md "localhost
    /// exceptions", §7.1); `[::1]` is not supported and `localhost` is not `127.0.0.1`.
    /// Everything else must match exactly.
    pub fn accepts_redirect(&self, redirect_uri: &str) -> bool {
        let loopback = |u: &str| -> Option<(String, String)> {
            let rest = u.strip_prefix("http://")?;
            let (authority, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            let host = authority.rsplit_once(':').filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit()));
            let host = host.map(|(h, _)| h).unwrap_or(authority);
            matches!(host, "localhost" | "127.0.0.1")
                .then(|| (host.to_string(), path.trim_end_matches('/').to_string()))
        };
        self.redirect_uris
            .iter()
            .any(|r| r == redirect_uri || matches!((loopback(r), loopback(redirect_uri)), (Some(a), Some(b)) if a == b))
    }

    /// How the client may ask for the resource `resource_app_id`; `None`: not at all.
    pub fn consent_for(&self, resource_app_id: &str) -> Option<Consent> {
        match self.first_party {
            None => Some(Consent::Dynamic),
            Some(c) => c.reach.iter().find(|(r, _)| r.eq_ignore_ascii_case(resource_app_id)).map(|(_, k)| k.clone()),
        }
    }
}
