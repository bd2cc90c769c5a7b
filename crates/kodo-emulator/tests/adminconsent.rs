//! Multi-tenant apps across the emulator's tenants: a provider tenant's app signs in to a
//! customer tenant only after the customer's admin consented through
//! `GET /{tenant}/v2.0/adminconsent` (docs/multitenant-research.md), driven over HTTPS without
//! following redirects, as a browser.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

const GRAPH: &str = "00000003-0000-0000-c000-000000000000";
const REDIRECT: &str = "https://localhost/kodo-consent";

/// An app in tenant 0 declaring two Graph application permissions, with a secret.
async fn provider_app(emu: &Emu, audience: &str) -> (String, String, Vec<String>) {
    let token = emu.bootstrap_token(0, "https://graph.microsoft.com").await;
    let graph_sp = emu.graph(&token, Method::GET, &format!("servicePrincipals(appId='{GRAPH}')"), None).await.1;
    let role = |v: &str| {
        graph_sp["appRoles"].as_array().unwrap().iter().find(|r| r["value"] == v).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let roles = vec![role("User.Read.All"), role("Sites.Read.All")];
    let body = json!({
        "displayName": "KODO multi-tenant",
        "signInAudience": audience,
        "web": { "redirectUris": [REDIRECT] },
        "requiredResourceAccess": [{ "resourceAppId": GRAPH, "resourceAccess": [
            { "id": roles[0], "type": "Role" }, { "id": roles[1], "type": "Role" } ] }],
    });
    let (s, app, _) = emu.graph(&token, Method::POST, "applications", Some(body)).await;
    assert_eq!(s, 201, "{app}");
    let (s, pw, _) = emu
        .graph(
            &token,
            Method::POST,
            &format!("applications/{}/addPassword", app["id"].as_str().unwrap()),
            Some(json!({ "passwordCredential": { "displayName": "t" } })),
        )
        .await;
    assert_eq!(s, 200, "{pw}");
    (app["appId"].as_str().unwrap().to_string(), pw["secretText"].as_str().unwrap().to_string(), roles)
}

async fn customer_token(emu: &Emu, app_id: &str, secret: &str) -> (u16, Value) {
    emu.token_request(
        &emu.tid(1),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", app_id),
            ("client_secret", secret),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await
}

async fn open_link(emu: &Emu, tenant: &str, app_id: &str, redirect: &str) -> (u16, String, String) {
    let scope = "https://graph.microsoft.com/.default";
    let query = [("client_id", app_id), ("scope", scope), ("redirect_uri", redirect), ("state", "st-42")];
    emu.open_page(&format!("{tenant}/v2.0/adminconsent"), &query).await
}

#[tokio::test]
async fn consent_link_creates_the_service_principal_and_grants_the_app_roles() {
    let emu = start(2, 0, 0.0).await;
    let (app_id, secret, roles) = provider_app(&emu, "AzureADMultipleOrgs").await;

    // Before consent: no service principal in the customer tenant.
    let (s, body) = customer_token(&emu, &app_id, &secret).await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["error_codes"][0], 7000229, "{body}");

    let (s, _, page) = open_link(&emu, &emu.tid(1), &app_id, REDIRECT).await;
    assert_eq!(s, 200, "{page}");
    assert!(page.contains("User.Read.All") && page.contains("Sites.Read.All"), "{page}");
    let back = emu.answer_page(&page, "accept").await;
    assert!(back.starts_with(REDIRECT), "{back}");
    let q = query_of(&back);
    assert_eq!(q["admin_consent"], "True");
    assert_eq!(q["tenant"], emu.tid(1));
    assert_eq!(q["state"], "st-42");
    assert_eq!(q["scope"], "https://graph.microsoft.com/.default");

    // Now the app signs in to the customer tenant and its token carries the consented roles.
    let (s, body) = customer_token(&emu, &app_id, &secret).await;
    assert_eq!(s, 200, "{body}");
    let claims = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(claims["tid"], emu.tid(1));
    let mut got: Vec<String> = claims["roles"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().into()).collect();
    got.sort();
    assert_eq!(got, vec!["Sites.Read.All".to_string(), "User.Read.All".to_string()]);

    // The customer's directory: the SP owned by the provider tenant, one assignment per role.
    let admin = emu.bootstrap_token(1, "https://graph.microsoft.com").await;
    let (_, sp, _) = emu.graph(&admin, Method::GET, &format!("servicePrincipals(appId='{app_id}')"), None).await;
    assert_eq!(sp["appOwnerOrganizationId"], emu.tid(0), "{sp}");
    let path = format!("servicePrincipals/{}/appRoleAssignments", sp["id"].as_str().unwrap());
    let (_, list, _) = emu.graph(&admin, Method::GET, &path, None).await;
    let mut ids: Vec<String> =
        list["value"].as_array().unwrap().iter().map(|a| a["appRoleId"].as_str().unwrap().into()).collect();
    ids.sort();
    let mut want = roles.clone();
    want.sort();
    assert_eq!(ids, want);

    // Consenting again changes nothing.
    let (_, _, page) = open_link(&emu, &emu.tid(1), &app_id, REDIRECT).await;
    let _ = emu.answer_page(&page, "accept").await;
    let (_, list, _) = emu.graph(&admin, Method::GET, &path, None).await;
    assert_eq!(list["value"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn cancel_wrong_redirect_and_single_tenant_apps_are_refused() {
    let emu = start(2, 0, 0.0).await;
    let (app_id, secret, _) = provider_app(&emu, "AzureADMultipleOrgs").await;
    // The admin cancels: the redirect Entra sends (azure-docs#114009), state kept, nothing made.
    let (_, _, page) = open_link(&emu, &emu.tid(1), &app_id, REDIRECT).await;
    let back = emu.answer_page(&page, "cancel").await;
    let q = query_of(&back);
    assert_eq!(q["error"], "access_denied");
    assert!(
        q["error_description"].starts_with("AADSTS65004: User declined to consent to access the app.\r\nTrace ID: "),
        "{back}"
    );
    assert_eq!(q["error_uri"], "https://login.microsoftonline.com/error?code=65004");
    assert_eq!(q["admin_consent"], "True");
    assert_eq!(q["state"], "st-42");
    assert_eq!(customer_token(&emu, &app_id, &secret).await.1["error_codes"][0], 7000229);

    // A redirect URI the app did not register: an error page, no redirect.
    let (s, location, page) = open_link(&emu, &emu.tid(1), &app_id, "https://evil.example/x").await;
    assert_eq!(s, 400);
    assert!(location.is_empty());
    assert!(page.contains("AADSTS50011"), "{page}");

    // A single-tenant app is unknown in other tenants, for consent and for sign-in.
    let (single, single_secret, _) = provider_app(&emu, "AzureADMyOrg").await;
    let (s, _, page) = open_link(&emu, &emu.tid(1), &single, REDIRECT).await;
    assert_eq!(s, 400);
    assert!(page.contains("AADSTS700016"), "{page}");
    assert_eq!(customer_token(&emu, &single, &single_secret).await.1["error_codes"][0], 700016);

    // A wrong secret of a multi-tenant app is refused as in its home tenant.
    assert_eq!(customer_token(&emu, &app_id, "nope").await.1["error_codes"][0], 7000215);
}

/// Grants `role` of Microsoft Graph to tenant `i`'s bootstrap app (it holds
/// AppRoleAssignment.ReadWrite.All).
async fn grant_bootstrap(emu: &Emu, i: usize, role: &str) {
    let token = emu.bootstrap_token(i, "https://graph.microsoft.com").await;
    let graph_sp = emu.graph(&token, Method::GET, &format!("servicePrincipals(appId='{GRAPH}')"), None).await.1;
    let role_id = graph_sp["appRoles"].as_array().unwrap().iter().find(|r| r["value"] == role).unwrap()["id"].clone();
    let boot = emu.tenant(i)["bootstrapClientId"].as_str().unwrap().to_string();
    let sp = emu.graph(&token, Method::GET, &format!("servicePrincipals(appId='{boot}')"), None).await.1;
    let body = json!({ "principalId": sp["id"], "resourceId": graph_sp["id"], "appRoleId": role_id });
    let (s, b, _) = emu
        .graph(
            &token,
            Method::POST,
            &format!("servicePrincipals/{}/appRoleAssignedTo", graph_sp["id"].as_str().unwrap()),
            Some(body),
        )
        .await;
    assert_eq!(s, 201, "{b}");
}

#[tokio::test]
async fn gdap_relationships_are_read_through_graph_with_their_roles_and_expiry() {
    let emu = start(3, 0, 0.0).await;
    let token = emu.bootstrap_token(0, "https://graph.microsoft.com").await;
    // Without DelegatedAdminRelationship.Read.All: denied.
    let (s, _, _) = emu.graph(&token, Method::GET, "tenantRelationships/delegatedAdminRelationships", None).await;
    assert_eq!(s, 403);
    let path = format!("tenants/{}/delegatedAdminRelationships", emu.tid(0));
    let (s, active) = emu
        .control(
            Method::POST,
            &path,
            Some(json!({ "customerTenantId": emu.tid(1), "roleDefinitionIds": ["e8611ab8-c189-46e8-94e1-60213ab1f814"] })),
        )
        .await;
    assert_eq!(s, 201, "{active}");
    let (s, _) = emu
        .control(
            Method::POST,
            &path,
            Some(json!({ "customerTenantId": emu.tid(2), "roleDefinitionIds": [], "endDateTime": "2020-01-01T00:00:00Z" })),
        )
        .await;
    assert_eq!(s, 201);
    grant_bootstrap(&emu, 0, "DelegatedAdminRelationship.Read.All").await;
    let token = emu.bootstrap_token(0, "https://graph.microsoft.com").await;
    let (s, list, _) = emu.graph(&token, Method::GET, "tenantRelationships/delegatedAdminRelationships", None).await;
    assert_eq!(s, 200, "{list}");
    let items = list["value"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let one = items.iter().find(|r| r["customer"]["tenantId"] == emu.tid(1).as_str()).unwrap();
    assert_eq!(one["status"], "active");
    assert_eq!(one["accessDetails"]["unifiedRoles"][0]["roleDefinitionId"], "e8611ab8-c189-46e8-94e1-60213ab1f814");
    let two = items.iter().find(|r| r["customer"]["tenantId"] == emu.tid(2).as_str()).unwrap();
    assert_eq!(two["status"], "expired");
    let (s, got, _) = emu
        .graph(
            &token,
            Method::GET,
            &format!("tenantRelationships/delegatedAdminRelationships/{}", active["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(s, 200, "{got}");
    assert_eq!(got["id"], active["id"]);
}

/// Opens an admin consent link as a browser: `path` after the emulator's URL, with `query`.
async fn open(emu: &Emu, path: &str, query: &[(&str, &str)]) -> (u16, String, String) {
    let r = emu.browser().get(format!("{}/{path}", emu.url())).query(query).send().await.unwrap();
    let status = r.status().as_u16();
    let location = r.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, location, r.text().await.unwrap())
}

/// Accepts an `organizations`/`common` consent page signed in as `account`.
async fn accept_as(emu: &Emu, page: &str, account: &str) -> (u16, String, String) {
    let form = page.split("method=\"post\" action=\"").nth(1).unwrap().split('"').next().unwrap();
    let r = emu.browser().post(form).form(&[("action", "accept"), ("account", account)]).send().await.unwrap();
    let status = r.status().as_u16();
    let location = r.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, location, r.text().await.unwrap())
}

fn admin_of(emu: &Emu, i: usize) -> String {
    format!("admin@{}", emu.tenant(i)["initialDomain"].as_str().unwrap())
}

#[tokio::test]
async fn organizations_and_common_consent_in_the_signed_in_admins_tenant() {
    let emu = start(2, 0, 0.0).await;
    let (app_id, secret, _) = provider_app(&emu, "AzureADMultipleOrgs").await;
    let q = [
        ("client_id", app_id.as_str()),
        ("scope", "https://graph.microsoft.com/.default"),
        ("redirect_uri", REDIRECT),
        ("state", "s-org"),
    ];
    // `organizations` is documented (v2-admin-consent): a page that asks for the account.
    let (s, _, page) = open(&emu, "organizations/v2.0/adminconsent", &q).await;
    assert_eq!(s, 200, "{page}");
    assert!(page.contains("name=\"account\""), "{page}");
    // An account no tenant knows: AADSTS50034, nothing made.
    let (s, location, body) = accept_as(&emu, &page, "someone@nowhere.example").await;
    assert_eq!(s, 400);
    assert!(location.is_empty());
    assert!(
        body.contains("AADSTS50034: The user account {EmailHidden} does not exist in the nowhere.example directory."),
        "{body}"
    );
    // A user of the customer tenant who is not an admin: AADSTS90093.
    let (_, _, page) = open(&emu, "organizations/v2.0/adminconsent", &q).await;
    let user = format!("adelev@{}", emu.tenant(1)["initialDomain"].as_str().unwrap());
    let (s, _, body) = accept_as(&emu, &page, &user).await;
    assert_eq!(s, 403);
    assert!(body.contains("AADSTS90093: Calling principal cannot consent due to lack of permissions."), "{body}");
    assert_eq!(customer_token(&emu, &app_id, &secret).await.1["error_codes"][0], 7000229);
    // The customer's admin: consent lands in the customer tenant.
    let (_, _, page) = open(&emu, "organizations/v2.0/adminconsent", &q).await;
    let (s, back, _) = accept_as(&emu, &page, &admin_of(&emu, 1)).await;
    assert_eq!(s, 302);
    let r = query_of(&back);
    assert_eq!(r["admin_consent"], "True");
    assert_eq!(r["tenant"], emu.tid(1));
    assert_eq!(r["state"], "s-org");
    let (s, body) = customer_token(&emu, &app_id, &secret).await;
    assert_eq!(s, 200, "{body}");

    // `common` on v2: the captured redirect (azure-docs.de-de#609), nothing consented.
    let (single, _, _) = provider_app(&emu, "AzureADMyOrg").await;
    let (s, back, _) = open(&emu, "common/v2.0/adminconsent", &q).await;
    assert_eq!(s, 302);
    let r = query_of(&back);
    assert_eq!(r["error"], "invalid_request");
    assert_eq!(r["error_description"], "The provided request must include a 'response_type' input parameter.");
    assert_eq!(r["state"], "s-org");

    // On v1, `common` is the documented link; a single-tenant app of tenant 0 cannot be
    // consented to by tenant 1's admin: AADSTS700016, as for its tenant-specific link.
    let q = [("client_id", single.as_str()), ("redirect_uri", REDIRECT)];
    let (s, _, page) = open(&emu, "common/adminconsent", &q).await;
    assert_eq!(s, 200, "{page}");
    let (s, _, body) = accept_as(&emu, &page, &admin_of(&emu, 1)).await;
    assert_eq!(s, 400);
    assert!(body.contains("AADSTS700016"), "{body}");
    // Its own tenant's admin may.
    let (_, _, page) = open(&emu, "common/adminconsent", &q).await;
    let (s, back, _) = accept_as(&emu, &page, &admin_of(&emu, 0)).await;
    assert_eq!(s, 302, "{back}");
    assert_eq!(query_of(&back)["tenant"], emu.tid(0));
}

#[tokio::test]
async fn the_v1_endpoint_consents_to_the_required_permissions() {
    let emu = start(2, 0, 0.0).await;
    let (app_id, secret, _) = provider_app(&emu, "AzureADMultipleOrgs").await;
    let tid = emu.tid(1);
    // A wrong redirect URI: the same AADSTS50011 page as v2 and authorize.
    let (s, location, page) = open(
        &emu,
        &format!("{tid}/adminconsent"),
        &[("client_id", &app_id), ("redirect_uri", "https://evil.example/")],
    )
    .await;
    assert_eq!(s, 400);
    assert!(location.is_empty());
    assert!(
        page.contains("AADSTS50011: The redirect URI 'https://evil.example/' specified in the request does not match"),
        "{page}"
    );
    let (s, _, page) = open(
        &emu,
        &format!("{tid}/adminconsent"),
        &[("client_id", app_id.as_str()), ("redirect_uri", REDIRECT), ("state", "v1-state")],
    )
    .await;
    assert_eq!(s, 200, "{page}");
    assert!(page.contains("User.Read.All") && page.contains("Sites.Read.All"), "{page}");
    let back = emu.answer_page(&page, "accept").await;
    assert!(back.starts_with(REDIRECT), "{back}");
    let r = query_of(&back);
    assert_eq!(r["tenant"], tid);
    assert_eq!(r["state"], "v1-state");
    assert_eq!(r["admin_consent"], "True");
    assert!(!r.contains_key("scope"), "{back}");
    let (s, body) = customer_token(&emu, &app_id, &secret).await;
    assert_eq!(s, 200, "{body}");

    // Without redirect_uri (Learn's "grant tenant-wide admin consent" URL): back to the app's
    // registered reply address.
    let (s, _, page) = open(&emu, "common/adminconsent", &[("client_id", app_id.as_str())]).await;
    assert_eq!(s, 200, "{page}");
    let (s, back, _) = accept_as(&emu, &page, &admin_of(&emu, 1)).await;
    assert_eq!(s, 302);
    assert!(back.starts_with(REDIRECT), "{back}");
}

#[tokio::test]
async fn dynamic_scopes_grant_the_named_delegated_permissions_and_bad_scopes_are_refused() {
    let emu = start(2, 0, 0.0).await;
    let (app_id, _, _) = provider_app(&emu, "AzureADMultipleOrgs").await;
    let tid = emu.tid(1);
    let link = |scope: &'static str| {
        [("client_id", app_id.as_str()), ("scope", scope), ("redirect_uri", REDIRECT), ("state", "d")]
    };
    let path = format!("{tid}/v2.0/adminconsent");
    // Dynamic delegated scopes are documented ("Can be either static (using /.default) or
    // dynamic scopes"): the admin grants them for the whole tenant.
    let (s, _, page) =
        open(&emu, &path, &link("https://graph.microsoft.com/User.Read https://graph.microsoft.com/mail.send")).await;
    assert_eq!(s, 200, "{page}");
    let back = emu.answer_page(&page, "accept").await;
    let r = query_of(&back);
    assert_eq!(r["admin_consent"], "True", "{back}");
    assert_eq!(r["scope"], "https://graph.microsoft.com/User.Read https://graph.microsoft.com/mail.send");
    let admin = emu.bootstrap_token(1, "https://graph.microsoft.com").await;
    let (_, sp, _) = emu.graph(&admin, Method::GET, &format!("servicePrincipals(appId='{app_id}')"), None).await;
    let (s, grants, _) = emu.graph(&admin, Method::GET, "oauth2PermissionGrants", None).await;
    assert_eq!(s, 200, "{grants}");
    let mine: Vec<&Value> = grants["value"].as_array().unwrap().iter().filter(|g| g["clientId"] == sp["id"]).collect();
    assert_eq!(mine.len(), 1, "{grants}");
    assert_eq!(mine[0]["consentType"], "AllPrincipals");
    assert_eq!(mine[0]["scope"], "User.Read Mail.Send");
    // No application permission came with it.
    let (_, list, _) = emu
        .graph(
            &admin,
            Method::GET,
            &format!("servicePrincipals/{}/appRoleAssignments", sp["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(list["value"].as_array().unwrap().len(), 0, "{list}");

    // A scope Graph does not publish: AADSTS70011 on the redirect.
    let (s, back, _) = open(&emu, &path, &link("https://graph.microsoft.com/Nope.Nothing")).await;
    assert_eq!(s, 302);
    let r = query_of(&back);
    assert_eq!(r["error"], "invalid_scope");
    assert!(r["error_description"].starts_with("AADSTS70011: The provided value for the input parameter 'scope' is not valid. The scope Nope.Nothing is not valid."), "{back}");
    assert_eq!(r["state"], "d");
    // Scopes of two resources: AADSTS70011.
    let (_, back, _) = open(
        &emu,
        &path,
        &link("https://graph.microsoft.com/User.Read https://outlook.office365.com/EWS.AccessAsUser.All"),
    )
    .await;
    assert_eq!(query_of(&back)["error_description"].split(':').next(), Some("AADSTS70011"), "{back}");
    // An unknown resource: AADSTS500011.
    let (_, back, _) = open(&emu, &path, &link("https://unknown.example/.default")).await;
    assert_eq!(query_of(&back)["error"], "invalid_resource", "{back}");
    // No scope on v2: AADSTS900144.
    let (_, back, _) = open(&emu, &path, &[("client_id", app_id.as_str()), ("redirect_uri", REDIRECT)]).await;
    assert!(
        query_of(&back)["error_description"]
            .starts_with("AADSTS900144: The request body must contain the following parameter: 'scope'."),
        "{back}"
    );
}
