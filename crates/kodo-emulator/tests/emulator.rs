//! The tenant emulator, driven over HTTPS like a real client would drive Entra ID, Graph and
//! SharePoint. Each test starts its own in-process emulator.

mod common;

use common::*;
use kodo_emulator::world::EmulatorConfig;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const GRAPH: &str = "https://graph.microsoft.com";

fn aadsts(body: &Value) -> u64 {
    body["error_codes"][0].as_u64().unwrap_or(0)
}

// ------------------------------------------------------------------------------- Entra ID

#[tokio::test(flavor = "multi_thread")]
async fn client_secret_token_carries_the_claims_entra_puts_in_it() {
    let emu = start(1, 0, 0.0).await;
    let token = emu.bootstrap_token(0, GRAPH).await;
    let c = claims_of(&token);
    assert_eq!(c["aud"], GRAPH);
    assert_eq!(c["iss"], format!("https://sts.windows.net/{}/", emu.tid(0)));
    assert_eq!(c["tid"], emu.tid(0));
    assert_eq!(c["appid"], emu.tenant(0)["bootstrapClientId"]);
    assert_eq!(c["appidacr"], "1");
    assert_eq!(c["idtyp"], "app");
    assert_eq!(c["ver"], "1.0");
    assert_eq!(c["oid"], c["sub"]);
    let roles: Vec<&str> = c["roles"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert!(
        roles.contains(&"Application.ReadWrite.All") && roles.contains(&"AppRoleAssignment.ReadWrite.All"),
        "{roles:?}"
    );
    assert!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap() >= 3599);
}

#[tokio::test(flavor = "multi_thread")]
async fn token_signatures_verify_against_the_published_jwks() {
    use rsa::signature::Verifier;
    let emu = start(1, 0, 0.0).await;
    let token = emu.bootstrap_token(0, GRAPH).await;
    let config: Value = emu
        .client
        .get(format!("{}/{}/v2.0/.well-known/openid-configuration", emu.url(), emu.tid(0)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["issuer"], format!("https://login.microsoftonline.com/{}/v2.0", emu.tid(0)));
    let jwks: Value = emu.client.get(config["jwks_uri"].as_str().unwrap()).send().await.unwrap().json().await.unwrap();
    let key = &jwks["keys"][0];
    let jwt = kodo_emulator::pki::parse_jwt(&token).unwrap();
    assert_eq!(jwt.header["kid"], key["kid"]);
    let n = rsa::BigUint::from_bytes_be(&kodo_emulator::pki::b64url_decode(key["n"].as_str().unwrap()).unwrap());
    let e = rsa::BigUint::from_bytes_be(&kodo_emulator::pki::b64url_decode(key["e"].as_str().unwrap()).unwrap());
    let public = rsa::RsaPublicKey::new(n, e).unwrap();
    let sig = rsa::pkcs1v15::Signature::try_from(jwt.signature.as_slice()).unwrap();
    assert!(
        rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(public).verify(jwt.signing_input.as_bytes(), &sig).is_ok()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_errors_are_the_real_aadsts_bodies() {
    let emu = start(1, 0, 0.0).await;
    let t = emu.tenant(0).clone();
    let tid = emu.tid(0);
    let id = t["bootstrapClientId"].as_str().unwrap();

    let (s, b) = emu
        .token_request(
            &tid,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", "not-the-secret"),
                ("scope", "https://graph.microsoft.com/.default"),
            ],
        )
        .await;
    assert_eq!((s, b["error"].as_str(), aadsts(&b)), (401, Some("invalid_client"), 7000215));
    let d = b["error_description"].as_str().unwrap();
    assert!(
        d.starts_with("AADSTS7000215: Invalid client secret provided.")
            && d.contains("\r\nTrace ID: ")
            && d.contains(id),
        "{d}"
    );
    assert_eq!(b["error_uri"], "https://login.microsoftonline.com/error?code=7000215");

    let unknown = uuid::Uuid::new_v4().to_string();
    let (s, b) = emu
        .token_request(
            &tid,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &unknown),
                ("client_secret", "x"),
                ("scope", "https://graph.microsoft.com/.default"),
            ],
        )
        .await;
    assert_eq!((s, b["error"].as_str(), aadsts(&b)), (400, Some("unauthorized_client"), 700016));
    assert!(
        b["error_description"]
            .as_str()
            .unwrap()
            .contains(&format!("Application with identifier '{unknown}' was not found in the directory"))
    );

    let (s, b) = emu
        .token_request(
            "no-such-tenant.onmicrosoft.com",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", "x"),
                ("scope", "https://graph.microsoft.com/.default"),
            ],
        )
        .await;
    assert_eq!((s, b["error"].as_str(), aadsts(&b)), (400, Some("invalid_tenant"), 90002));

    let secret = t["bootstrapClientSecret"].as_str().unwrap();
    let (s, b) = emu
        .token_request(
            &tid,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret),
                ("scope", "User.Read"),
            ],
        )
        .await;
    assert_eq!((s, b["error"].as_str(), aadsts(&b)), (400, Some("invalid_scope"), 1002012));

    // The tenant may be named by its initial domain too.
    let domain = t["initialDomain"].as_str().unwrap();
    let (s, _) = emu
        .token_request(
            domain,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret),
                ("scope", "https://graph.microsoft.com/.default"),
            ],
        )
        .await;
    assert_eq!(s, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn certificate_assertions_rs256_and_ps256_are_accepted_and_checked() {
    let emu = start(1, 0, 0.0).await;
    let t = emu.tenant(0).clone();
    let tid = emu.tid(0);
    let id = t["bootstrapClientId"].as_str().unwrap();
    let (der, key) = read_cert_and_key(t["bootstrapCertificate"].as_str().unwrap());
    let aud = format!("https://login.microsoftonline.com/{tid}/oauth2/v2.0/token");
    for pss in [false, true] {
        let assertion = client_assertion(&der, &key, id, &aud, pss, 600);
        let (s, b) = emu.assertion_token(&tid, id, &assertion, "https://graph.microsoft.com/.default").await;
        assert_eq!(s, 200, "pss={pss}: {b}");
        assert_eq!(claims_of(b["access_token"].as_str().unwrap())["appidacr"], "2");
    }
    // A certificate the app does not have.
    let other = kodo_emulator::pki::RsaCredential::generate("stranger", 1).unwrap();
    let assertion = client_assertion(&other.cert_der, &other.key, id, &aud, false, 600);
    let (s, b) = emu.assertion_token(&tid, id, &assertion, "https://graph.microsoft.com/.default").await;
    assert_eq!((s, aadsts(&b)), (401, 700027));
    // An expired assertion.
    let assertion = client_assertion(&der, &key, id, &aud, false, -3600);
    let (s, b) = emu.assertion_token(&tid, id, &assertion, "https://graph.microsoft.com/.default").await;
    assert_eq!((s, aadsts(&b)), (401, 700024));
}

#[tokio::test(flavor = "multi_thread")]
async fn device_code_flow_waits_for_approval_and_refresh_tokens_work() {
    let emu = start(1, 0, 0.0).await;
    let tid = emu.tid(0);
    let id = emu.tenant(0)["bootstrapClientId"].as_str().unwrap().to_string();
    let r: Value = emu
        .client
        .post(format!("{}/{tid}/oauth2/v2.0/devicecode", emu.url()))
        .form(&[
            ("client_id", id.as_str()),
            ("scope", "https://graph.microsoft.com/Application.ReadWrite.All offline_access openid"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["expires_in"], 900);
    assert!(r.get("verification_uri_complete").is_none());
    let user_code = r["user_code"].as_str().unwrap();
    assert!(r["message"].as_str().unwrap().contains(user_code));
    let device_code = r["device_code"].as_str().unwrap();
    let poll = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("client_id", id.as_str()),
        ("device_code", device_code),
    ];
    let (s, b) = emu.token_request(&tid, &poll).await;
    assert_eq!((s, b["error"].as_str(), aadsts(&b)), (400, Some("authorization_pending"), 70016));
    let approved =
        emu.client.post(format!("{}/_emulator/devicecodes/{user_code}/approve", emu.url())).send().await.unwrap();
    assert_eq!(approved.status().as_u16(), 204);
    let (s, b) = emu.token_request(&tid, &poll).await;
    assert_eq!(s, 200, "{b}");
    let c = claims_of(b["access_token"].as_str().unwrap());
    assert_eq!(c["scp"], "Application.ReadWrite.All");
    assert_eq!(c["idtyp"], "user");
    let refresh = b["refresh_token"].as_str().unwrap();
    // A refresh token is not resource bound (facts.md §4.4).
    let (s, b) = emu
        .token_request(
            &tid,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", id.as_str()),
                ("refresh_token", refresh),
                ("scope", "https://graph.microsoft.com/Organization.Read.All"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(claims_of(b["access_token"].as_str().unwrap())["scp"], "Organization.Read.All");
    // The device code was used up.
    let (s, b) = emu.token_request(&tid, &poll).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("bad_verification_code")));
}

#[tokio::test(flavor = "multi_thread")]
async fn managed_identity_endpoint_needs_its_header() {
    let emu = start(1, 0, 0.0).await;
    let endpoint = emu.info["identityEndpoint"].as_str().unwrap().to_string();
    let header = emu.info["identityHeader"].as_str().unwrap().to_string();
    let q = [("api-version", "2019-08-01"), ("resource", "https://graph.microsoft.com")];
    let r = emu.client.get(&endpoint).query(&q).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = emu
        .client
        .get(&endpoint)
        .query(&q)
        .header("X-IDENTITY-HEADER", &header)
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let b: Value = r.json().await.unwrap();
    assert!(b["expires_on"].is_string() && b.get("expires_in").is_none());
    let c = claims_of(b["access_token"].as_str().unwrap());
    assert_eq!(c["appidacr"], "2");
    assert!(c["roles"].as_array().unwrap().iter().any(|r| r == "Application.ReadWrite.All"));
}

// ------------------------------------------------------------------------ Microsoft Graph

#[tokio::test(flavor = "multi_thread")]
async fn graph_refuses_missing_and_bad_tokens() {
    let emu = start(1, 0, 0.0).await;
    let (s, b, h) = emu.graph("", Method::GET, "applications", None).await;
    assert_eq!(
        (s, b["error"]["code"].as_str(), b["error"]["message"].as_str()),
        (401, Some("InvalidAuthenticationToken"), Some("Access token is empty."))
    );
    assert!(h.get("www-authenticate").unwrap().to_str().unwrap().starts_with("Bearer realm=\"\""));
    assert!(b["error"]["innerError"]["request-id"].is_string());
    // A SharePoint token is not a Graph token.
    let spo = emu.bootstrap_token(0, &format!("https://{}", emu.tenant(0)["sharePointHost"].as_str().unwrap())).await;
    let (s, b, _) = emu.graph(&spo, Method::GET, "applications", None).await;
    assert_eq!((s, b["error"]["message"].as_str()), (401, Some("Access token validation failure. Invalid audience.")));
    // A forged signature.
    let token = emu.bootstrap_token(0, GRAPH).await;
    let forged = format!("{}x", &token[..token.len() - 1]);
    let (s, _, _) = emu.graph(&forged, Method::GET, "applications", None).await;
    assert_eq!(s, 401);
}

/// Creates an app with a secret and a service principal through Graph; returns
/// (app object id, appId, secret, SP object id).
async fn make_app(emu: &Emu, token: &str, name: &str) -> (String, String, String, String) {
    let (s, app, _) = emu
        .graph(
            token,
            Method::POST,
            "applications",
            Some(json!({ "displayName": name, "signInAudience": "AzureADMyOrg" })),
        )
        .await;
    assert_eq!(s, 201, "{app}");
    let id = app["id"].as_str().unwrap().to_string();
    let app_id = app["appId"].as_str().unwrap().to_string();
    let (s, pw, _) = emu
        .graph(
            token,
            Method::POST,
            &format!("applications/{id}/addPassword"),
            Some(json!({ "passwordCredential": { "displayName": "t" } })),
        )
        .await;
    assert_eq!(s, 200, "{pw}");
    let (s, sp, _) = emu.graph(token, Method::POST, "servicePrincipals", Some(json!({ "appId": app_id }))).await;
    assert_eq!(s, 201, "{sp}");
    (id, app_id, pw["secretText"].as_str().unwrap().to_string(), sp["id"].as_str().unwrap().to_string())
}

async fn resource_sp(emu: &Emu, token: &str, app_id: &str) -> Value {
    let (s, sp, _) = emu
        .graph(
            token,
            Method::GET,
            &format!("servicePrincipals(appId='{app_id}')?$select=id,appRoles,oauth2PermissionScopes"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    sp
}

fn role(sp: &Value, value: &str) -> String {
    sp["appRoles"].as_array().unwrap().iter().find(|r| r["value"] == value).unwrap()["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn onboarding_calls_behave_as_graph_does() {
    let emu = start(1, 0, 0.0).await;
    let admin = emu.bootstrap_token(0, GRAPH).await;
    let (app_obj, app_id, secret, sp_id) = make_app(&emu, &admin, "Kodo onboarding test").await;

    // First-party resource SPs come from the fixtures, unchanged.
    let graph_sp = resource_sp(&emu, &admin, "00000003-0000-0000-c000-000000000000").await;
    assert_eq!(graph_sp["appRoles"].as_array().unwrap().len(), 716);
    assert_eq!(graph_sp["oauth2PermissionScopes"].as_array().unwrap().len(), 807);
    let graph_id = graph_sp["id"].as_str().unwrap().to_string();

    // A token for an app with no role has no roles claim; Graph refuses it (401 AccessDenied).
    let (s, b) = emu
        .token_request(
            &emu.tid(0),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &app_id),
                ("client_secret", &secret),
                ("scope", "https://graph.microsoft.com/.default"),
            ],
        )
        .await;
    assert_eq!(s, 200);
    let bare = b["access_token"].as_str().unwrap().to_string();
    assert!(claims_of(&bare).get("roles").is_none());
    let (s, b, _) = emu.graph(&bare, Method::GET, "organization", None).await;
    assert_eq!((s, b["error"]["code"].as_str()), (401, Some("AccessDenied")));

    // Grant Organization.Read.All: assignment, then the duplicate fails as Graph does.
    let org_read = role(&graph_sp, "Organization.Read.All");
    let body = json!({ "principalId": sp_id, "resourceId": graph_id, "appRoleId": org_read });
    let (s, a, _) = emu
        .graph(&admin, Method::POST, &format!("servicePrincipals/{graph_id}/appRoleAssignedTo"), Some(body.clone()))
        .await;
    assert_eq!(s, 201, "{a}");
    assert_eq!(a["principalType"], "ServicePrincipal");
    assert_eq!(a["id"].as_str().unwrap().len(), 43);
    let (s, b, _) =
        emu.graph(&admin, Method::POST, &format!("servicePrincipals/{graph_id}/appRoleAssignedTo"), Some(body)).await;
    assert_eq!(
        (s, b["error"]["code"].as_str(), b["error"]["message"].as_str()),
        (400, Some("Request_BadRequest"), Some("Permission being assigned already exists on the object"))
    );

    // The app's new token carries the role: reading works, writing is 403.
    let (_, b) = emu
        .token_request(
            &emu.tid(0),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &app_id),
                ("client_secret", &secret),
                ("scope", "https://graph.microsoft.com/.default"),
            ],
        )
        .await;
    let token = b["access_token"].as_str().unwrap().to_string();
    assert_eq!(claims_of(&token)["roles"], json!(["Organization.Read.All"]));
    let (s, org, _) = emu.graph(&token, Method::GET, "organization", None).await;
    assert_eq!(s, 200);
    assert_eq!(org["value"][0]["id"], emu.tid(0));
    let (s, b, _) = emu.graph(&token, Method::POST, "applications", Some(json!({ "displayName": "nope" }))).await;
    assert_eq!(
        (s, b["error"]["code"].as_str(), b["error"]["message"].as_str()),
        (403, Some("Authorization_RequestDenied"), Some("Insufficient privileges to complete the operation."))
    );

    // Delegated grant: create, duplicate 409, patch scopes.
    let grant = json!({ "clientId": sp_id, "consentType": "AllPrincipals", "principalId": null, "resourceId": graph_id, "scope": "User.Read" });
    let (s, g, _) = emu.graph(&admin, Method::POST, "oauth2PermissionGrants", Some(grant.clone())).await;
    assert_eq!(s, 201, "{g}");
    let (s, b, _) = emu.graph(&admin, Method::POST, "oauth2PermissionGrants", Some(grant)).await;
    assert_eq!(
        (s, b["error"]["code"].as_str(), b["error"]["message"].as_str()),
        (409, Some("Request_MultipleObjectsWithSameKeyValue"), Some("Permission entry already exists."))
    );
    let gid = g["id"].as_str().unwrap();
    let (s, _, _) = emu
        .graph(
            &admin,
            Method::PATCH,
            &format!("oauth2PermissionGrants/{gid}"),
            Some(json!({ "scope": "User.Read Directory.Read.All" })),
        )
        .await;
    assert_eq!(s, 204);
    let (s, list, _) =
        emu.graph(&admin, Method::GET, &format!("oauth2PermissionGrants?$filter=clientId eq '{sp_id}'"), None).await;
    assert_eq!(s, 200);
    assert_eq!(list["value"][0]["scope"], "User.Read Directory.Read.All");

    // requiredResourceAccess is replaced wholesale by PATCH; the app is found by tag.
    let rra = json!({ "requiredResourceAccess": [{ "resourceAppId": "00000003-0000-0000-c000-000000000000", "resourceAccess": [{ "id": org_read, "type": "Role" }] }], "tags": ["kodo-managed"] });
    let (s, _, _) = emu.graph(&admin, Method::PATCH, &format!("applications/{app_obj}"), Some(rra)).await;
    assert_eq!(s, 204);
    let (s, found, _) = emu
        .graph(&admin, Method::GET, "applications?$filter=tags/any(t:t eq 'kodo-managed')&$select=id,appId,tags", None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(found["value"].as_array().unwrap().len(), 1);
    assert_eq!(found["value"][0]["appId"], app_id);
    let (s, by_app_id, _) = emu
        .graph(&admin, Method::GET, &format!("applications(appId='{app_id}')?$select=requiredResourceAccess"), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(by_app_id["requiredResourceAccess"][0]["resourceAccess"][0]["type"], "Role");

    // Deleting the app removes its SP, assignments and grants.
    let (s, _, _) = emu.graph(&admin, Method::DELETE, &format!("applications/{app_obj}"), None).await;
    assert_eq!(s, 204);
    let (s, b, _) = emu.graph(&admin, Method::GET, &format!("servicePrincipals/{sp_id}"), None).await;
    assert_eq!((s, b["error"]["code"].as_str()), (404, Some("Request_ResourceNotFound")));
    let (_, list, _) =
        emu.graph(&admin, Method::GET, &format!("oauth2PermissionGrants?$filter=clientId eq '{sp_id}'"), None).await;
    assert_eq!(list["value"].as_array().unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_and_certificates_are_managed_through_graph() {
    let emu = start(1, 0, 0.0).await;
    let admin = emu.bootstrap_token(0, GRAPH).await;
    let (app_obj, app_id, secret, _) = make_app(&emu, &admin, "Kodo credential test").await;
    let form = |s: &str| {
        vec![
            ("grant_type".to_string(), "client_credentials".to_string()),
            ("client_id".into(), app_id.clone()),
            ("client_secret".into(), s.to_string()),
            ("scope".into(), "https://graph.microsoft.com/.default".into()),
        ]
    };
    let f = form(&secret);
    let refs: Vec<(&str, &str)> = f.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(emu.token_request(&emu.tid(0), &refs).await.0, 200);

    // secretText is never returned again; hint is its first 3 characters.
    let (_, app, _) = emu.graph(&admin, Method::GET, &format!("applications/{app_obj}"), None).await;
    let cred = &app["passwordCredentials"][0];
    assert!(cred["secretText"].is_null());
    assert_eq!(cred["hint"].as_str().unwrap(), &secret[..3]);
    let key_id = cred["keyId"].as_str().unwrap().to_string();

    // An expired secret is refused with 7000222.
    let (s, pw, _) = emu.graph(&admin, Method::POST, &format!("applications/{app_obj}/addPassword"), Some(json!({ "passwordCredential": { "displayName": "old", "startDateTime": "2020-01-01T00:00:00Z", "endDateTime": "2021-01-01T00:00:00Z" } }))).await;
    assert_eq!(s, 200);
    let f = form(pw["secretText"].as_str().unwrap());
    let refs: Vec<(&str, &str)> = f.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let (s, b) = emu.token_request(&emu.tid(0), &refs).await;
    assert_eq!((s, aadsts(&b)), (401, 7000222));

    // removePassword revokes the secret.
    let (s, _, _) = emu
        .graph(
            &admin,
            Method::POST,
            &format!("applications/{app_obj}/removePassword"),
            Some(json!({ "keyId": key_id })),
        )
        .await;
    assert_eq!(s, 204);
    let f = form(&secret);
    let refs: Vec<(&str, &str)> = f.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(emu.token_request(&emu.tid(0), &refs).await.1["error_codes"][0], 7000215);

    // A certificate added by PATCH keyCredentials signs in; key is only returned when selected.
    let cert = kodo_emulator::pki::RsaCredential::generate("Kodo test cert", 30).unwrap();
    let kc = json!({ "keyCredentials": [{ "type": "AsymmetricX509Cert", "usage": "Verify", "key": kodo_emulator::pki::b64(&cert.cert_der), "displayName": "CN=Kodo test cert" }] });
    let (s, b, _) = emu.graph(&admin, Method::PATCH, &format!("applications/{app_obj}"), Some(kc)).await;
    assert_eq!(s, 204, "{b}");
    let (_, app, _) = emu.graph(&admin, Method::GET, &format!("applications/{app_obj}"), None).await;
    assert!(app["keyCredentials"][0]["key"].is_null());
    assert_eq!(app["keyCredentials"][0]["customKeyIdentifier"], cert.thumbprint());
    let (_, app, _) =
        emu.graph(&admin, Method::GET, &format!("applications/{app_obj}?$select=keyCredentials"), None).await;
    assert!(app["keyCredentials"][0]["key"].is_string());
    let aud = format!("https://login.microsoftonline.com/{}/oauth2/v2.0/token", emu.tid(0));
    let assertion = client_assertion(&cert.cert_der, &cert.key, &app_id, &aud, true, 600);
    let (s, b) = emu.assertion_token(&emu.tid(0), &app_id, &assertion, "https://graph.microsoft.com/.default").await;
    assert_eq!(s, 200, "{b}");
}

#[tokio::test(flavor = "multi_thread")]
async fn replication_lag_hides_new_objects_with_the_real_errors() {
    let emu = start(1, 800, 0.0).await;
    let admin = emu.bootstrap_token(0, GRAPH).await;
    let (s, app, _) = emu.graph(&admin, Method::POST, "applications", Some(json!({ "displayName": "lagging" }))).await;
    assert_eq!(s, 201);
    let id = app["id"].as_str().unwrap();
    let app_id = app["appId"].as_str().unwrap();
    let (s, b, _) = emu.graph(&admin, Method::GET, &format!("applications/{id}"), None).await;
    assert_eq!((s, b["error"]["code"].as_str()), (404, Some("Request_ResourceNotFound")));
    assert_eq!(
        b["error"]["message"],
        format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present.")
    );
    let (s, b, _) = emu.graph(&admin, Method::POST, "servicePrincipals", Some(json!({ "appId": app_id }))).await;
    assert_eq!((s, b["error"]["details"][0]["code"].as_str()), (400, Some("NoBackingApplicationObject")));
    tokio::time::sleep(Duration::from_millis(900)).await;
    let (s, _, _) = emu.graph(&admin, Method::GET, &format!("applications/{id}"), None).await;
    assert_eq!(s, 200);
    let (s, sp, _) = emu.graph(&admin, Method::POST, "servicePrincipals", Some(json!({ "appId": app_id }))).await;
    assert_eq!(s, 201);
    // An assignment to the not-yet-replicated SP.
    let graph_sp = resource_sp(&emu, &admin, "00000003-0000-0000-c000-000000000000").await;
    let gid = graph_sp["id"].as_str().unwrap();
    let body = json!({ "principalId": sp["id"], "resourceId": gid, "appRoleId": role(&graph_sp, "User.Read.All") });
    let (s, b, _) = emu
        .graph(&admin, Method::POST, &format!("servicePrincipals/{gid}/appRoleAssignedTo"), Some(body.clone()))
        .await;
    assert_eq!((s, b["error"]["message"].as_str()), (400, Some("Not a valid reference update")));
    tokio::time::sleep(Duration::from_millis(900)).await;
    let (s, _, _) =
        emu.graph(&admin, Method::POST, &format!("servicePrincipals/{gid}/appRoleAssignedTo"), Some(body)).await;
    assert_eq!(s, 201);
}

#[tokio::test(flavor = "multi_thread")]
async fn upsert_by_unique_name_creates_once_even_while_the_app_replicates() {
    let emu = start(1, 800, 0.0).await;
    let admin = emu.bootstrap_token(0, GRAPH).await;
    let upsert = |prefer: bool, name: &'static str| {
        let mut req = emu
            .client
            .patch(format!("{}/v1.0/applications(uniqueName='kodo-test')", emu.url()))
            .bearer_auth(&admin)
            .json(&json!({ "displayName": name }));
        if prefer {
            req = req.header("Prefer", "create-if-missing");
        }
        req.send()
    };
    // Without the preference a missing key is not created.
    assert_eq!(upsert(false, "A").await.unwrap().status().as_u16(), 404);
    let created = upsert(true, "A").await.unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let app: Value = created.json().await.unwrap();
    assert_eq!(app["uniqueName"], "kodo-test");
    // At once, while the new app is not replicated: updated, not made twice.
    assert_eq!(upsert(true, "B").await.unwrap().status().as_u16(), 204);
    let (s, _, _) = emu.graph(&admin, Method::GET, "applications(uniqueName='kodo-test')", None).await;
    assert_eq!(s, 404, "a read by the key sees replicated objects only");
    tokio::time::sleep(Duration::from_millis(900)).await;
    let (s, b, _) = emu.graph(&admin, Method::GET, "applications(uniqueName='kodo-test')", None).await;
    assert_eq!((s, b["id"].as_str(), b["displayName"].as_str()), (200, app["id"].as_str(), Some("B")));
    let state = emulator_state(&emu).await;
    let named = state["tenants"][0]["applications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["uniqueName"] == "kodo-test")
        .count();
    assert_eq!(named, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_answers_429_with_retry_after() {
    let emu = start(1, 0, 1.0).await;
    let admin = emu.bootstrap_token(0, GRAPH).await;
    let (s, b, h) = emu.graph(&admin, Method::GET, "organization", None).await;
    assert_eq!(
        (s, b["error"]["code"].as_str(), b["error"]["message"].as_str()),
        (429, Some("TooManyRequests"), Some("Please retry again later."))
    );
    assert!(h.get("retry-after").is_some());
    // The rate can be changed at run time through the control API.
    let r = emu
        .client
        .patch(format!("{}/_emulator/settings", emu.url()))
        .json(&json!({ "throttleRate": 0.0 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(emu.graph(&admin, Method::GET, "organization", None).await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_patch_is_checked_whole_before_any_of_it_applies() {
    let emu = start(1, 0, 0.0).await;
    let url = format!("{}/_emulator/settings", emu.url());
    let before: Value = emu.client.get(&url).send().await.unwrap().json().await.unwrap();
    for bad in [
        json!({ "pageSize": 3, "replicationLag": 5000 }),
        json!({ "pageSize": 3, "clockOffsetMs": 86_400_001_i64 }),
        json!({ "pageSize": 3, "throttleRate": 1.5 }),
        json!({ "pageSize": 3, "serviceTimeMs": "10" }),
        json!([{ "pageSize": 3 }]),
    ] {
        let r = emu.client.patch(&url).json(&bad).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 400, "{bad}");
        let body: Value = r.json().await.unwrap();
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{bad}: {body}");
        let now: Value = emu.client.get(&url).send().await.unwrap().json().await.unwrap();
        assert_eq!(now, before, "a refused PATCH changed nothing: {bad}");
    }
    let r = emu.client.patch(&url).json(&json!({ "pageSize": 3, "replicationLagMs": 250 })).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let after: Value = r.json().await.unwrap();
    assert_eq!((after["pageSize"].as_u64(), after["replicationLagMs"].as_u64()), (Some(3), Some(250)));
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_limits_dependencies_and_logging() {
    let emu = start(1, 0, 0.0).await;
    let admin = emu.bootstrap_token(0, GRAPH).await;
    let many: Vec<Value> =
        (1..=21).map(|i| json!({ "id": i.to_string(), "method": "GET", "url": "/organization" })).collect();
    let (s, _, _) = emu.graph(&admin, Method::POST, "$batch", Some(json!({ "requests": many }))).await;
    assert_eq!(s, 400);
    let body = json!({ "requests": [
        { "id": "1", "method": "GET", "url": "/applications/00000000-0000-0000-0000-000000000000" },
        { "id": "2", "dependsOn": ["1"], "method": "GET", "url": "/organization" },
        { "id": "3", "method": "GET", "url": "/servicePrincipals(appId='00000003-0000-0ff1-ce00-000000000000')?$select=id" },
    ]});
    let (s, b, _) = emu.graph(&admin, Method::POST, "$batch", Some(body)).await;
    assert_eq!(s, 200);
    let status_of = |id: &str| {
        b["responses"].as_array().unwrap().iter().find(|r| r["id"] == id).unwrap()["status"].as_u64().unwrap()
    };
    assert_eq!((status_of("1"), status_of("2"), status_of("3")), (404, 424, 200));
    let log = emu.requests().await;
    assert_eq!(log.iter().filter(|e| e["batch"] == true).count(), 3);
    assert_eq!(log.iter().filter(|e| e["path"] == "/v1.0/$batch").count(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_page_with_next_links_and_filters_are_checked() {
    let emu = start(1, 0, 0.0).await;
    let admin = emu.bootstrap_token(0, GRAPH).await;
    let mut seen = Vec::new();
    let mut url = format!("{}/v1.0/servicePrincipals?$top=2&$select=id,appId", emu.url());
    loop {
        let page: Value = emu.client.get(&url).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
        for v in page["value"].as_array().unwrap() {
            seen.push(v["appId"].as_str().unwrap().to_string());
        }
        match page["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    // 4 first-party resources, the bootstrap app, the managed identity and the two EWS apps.
    assert_eq!(seen.len(), 8, "{seen:?}");
    let (s, b, _) =
        emu.graph(&admin, Method::GET, "applications?$filter=startswith(displayName,'Kodo emulator')", None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["value"].as_array().unwrap().len(), 1, "the bootstrap app");
    // A property Graph does not filter on is refused, never answered unfiltered.
    let (s, b, _) = emu.graph(&admin, Method::GET, "applications?$filter=notes eq 'x'", None).await;
    assert_eq!((s, b["error"]["code"].as_str()), (400, Some("Request_UnsupportedQuery")));
}

/// Follows `@odata.nextLink` from `first` (a path under /v1.0, or a full URL) to the last page;
/// returns each page's size, every object, and the first nextLink (if any).
async fn all_pages(emu: &Emu, token: &str, first: &str) -> (Vec<usize>, Vec<Value>, Option<String>) {
    let mut url = if first.starts_with("https://") { first.to_string() } else { format!("{}/v1.0/{first}", emu.url()) };
    let (mut sizes, mut items, mut first_link) = (Vec::new(), Vec::new(), None);
    loop {
        let r = emu.client.get(&url).bearer_auth(token).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{url}");
        let page: Value = r.json().await.unwrap();
        let value = page["value"].as_array().unwrap();
        sizes.push(value.len());
        items.extend(value.iter().cloned());
        let Some(next) = page["@odata.nextLink"].as_str() else { break };
        // Graph's nextLink is the full URL, on the host the client called (facts.md §3.14).
        let host = url.split("/v1.0/").next().unwrap().to_string();
        assert!(next.starts_with(&format!("{host}/v1.0/")), "{next}");
        first_link.get_or_insert_with(|| next.to_string());
        url = next.to_string();
        assert!(sizes.len() < 1000, "nextLinks do not end");
    }
    (sizes, items, first_link)
}

/// Asserts that `items` hold each of `expected` (by `key`) exactly once and nothing else.
fn each_exactly_once(items: &[Value], key: &str, expected: &[String]) {
    let got: Vec<&str> = items.iter().map(|v| v[key].as_str().unwrap()).collect();
    let unique: std::collections::HashSet<&str> = got.iter().copied().collect();
    assert_eq!(unique.len(), got.len(), "duplicates in {got:?}");
    let want: std::collections::HashSet<&str> = expected.iter().map(String::as_str).collect();
    assert_eq!(unique, want);
}

async fn emulator_state(emu: &Emu) -> Value {
    emu.client.get(format!("{}/_emulator/state", emu.url())).send().await.unwrap().json().await.unwrap()
}

/// Object ids of tenant 0's applications and of all its service principals.
async fn directory_ids(emu: &Emu) -> (Vec<String>, Vec<String>) {
    let state = emulator_state(emu).await;
    let t = &state["tenants"][0];
    let ids = |k: &str| -> Vec<String> {
        t[k].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_string()).collect()
    };
    let mut sps = ids("servicePrincipals");
    sps.extend(ids("firstPartyServicePrincipals"));
    (ids("applications"), sps)
}

async fn set_page_size(emu: &Emu, size: Value) -> (u16, Value) {
    let r = emu
        .client
        .patch(format!("{}/_emulator/settings", emu.url()))
        .json(&json!({ "pageSize": size }))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn many_apps_page_through_every_object_exactly_once() {
    let emu = start_with(EmulatorConfig { extra_apps: 250, ..Default::default() }).await;
    let admin = emu.bootstrap_token(0, GRAPH).await;
    let (apps, sps) = directory_ids(&emu).await;
    // The bootstrap app, 2 EWS apps + 250; 4 first-party SPs, bootstrap, managed identity,
    // 2 EWS apps + 250.
    assert_eq!((apps.len(), sps.len()), (253, 258));

    let (sizes, items, _) = all_pages(&emu, &admin, "applications?$select=id,displayName,tags").await;
    assert_eq!(sizes, [100, 100, 53]);
    each_exactly_once(&items, "id", &apps);
    let extra: Vec<&Value> =
        items.iter().filter(|a| a["displayName"].as_str().unwrap().starts_with("Line-of-business app ")).collect();
    assert_eq!(extra.len(), 250);
    assert!(extra.iter().all(|a| a["tags"] == json!([])));
    for name in ["Line-of-business app 0001", "Line-of-business app 0250"] {
        assert!(items.iter().any(|a| a["displayName"] == name), "{name}");
    }
    let (sizes, items, _) = all_pages(&emu, &admin, "servicePrincipals?$select=id,appId").await;
    assert_eq!(sizes, [100, 100, 58]);
    each_exactly_once(&items, "id", &sps);

    // $filter results page too, and the nextLink keeps the query options.
    let (sizes, items, link) =
        all_pages(&emu, &admin, "applications?$filter=signInAudience eq 'AzureADMyOrg'&$select=id").await;
    assert_eq!(sizes, [100, 100, 53]);
    each_exactly_once(&items, "id", &apps);
    let link = link.unwrap();
    assert!(link.contains("$filter=") && link.contains("$select=id") && link.contains("$skiptoken="), "{link}");
    let (sizes, items, _) =
        all_pages(&emu, &admin, "servicePrincipals?$filter=servicePrincipalType eq 'Application'&$select=id").await;
    assert_eq!(sizes, [100, 100, 57], "every SP but the managed identity");
    assert_eq!(items.len(), 257);

    // $top overrides the page size (1..999).
    assert_eq!(all_pages(&emu, &admin, "applications?$top=999&$select=id").await.0, [253]);
    assert_eq!(all_pages(&emu, &admin, "applications?$top=60&$select=id").await.0, [60, 60, 60, 60, 13]);

    // A $batch GET item carries an absolute nextLink to the host the batch went to (the
    // production host here), which the client GETs directly (facts.md §3.13, §3.14).
    let batch = json!({ "requests": [
        { "id": "1", "method": "GET", "url": "/applications?$select=id" },
        { "id": "2", "method": "GET", "url": "/servicePrincipals?$top=150&$select=id" },
    ]});
    let r = emu.client.post("https://graph.microsoft.com/v1.0/$batch").bearer_auth(&admin).json(&batch).send().await;
    let b: Value = r.unwrap().json().await.unwrap();
    let item = |id: &str| b["responses"].as_array().unwrap().iter().find(|r| r["id"] == id).unwrap().clone();
    for (id, first, rest, all) in [("1", 100, vec![100, 53], &apps), ("2", 150, vec![108], &sps)] {
        let it = item(id);
        assert_eq!(it["status"], 200);
        let body = &it["body"];
        assert_eq!(body["value"].as_array().unwrap().len(), first);
        let next = body["@odata.nextLink"].as_str().unwrap();
        assert!(next.starts_with("https://graph.microsoft.com/v1.0/"), "{next}");
        let (sizes, mut items, _) = all_pages(&emu, &admin, next).await;
        assert_eq!(sizes, rest);
        items.extend(body["value"].as_array().unwrap().iter().cloned());
        each_exactly_once(&items, "id", all);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn page_size_is_a_setting_and_every_list_route_pages() {
    let emu = start_with(EmulatorConfig { extra_apps: 10, ..Default::default() }).await;
    let admin = emu.bootstrap_token(0, GRAPH).await;
    let settings: Value =
        emu.client.get(format!("{}/_emulator/settings", emu.url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(settings["pageSize"], 100);
    for bad in [json!(0), json!(1000), json!("7"), json!(2.5)] {
        assert_eq!(set_page_size(&emu, bad.clone()).await.0, 400, "{bad}");
    }
    let (s, settings) = set_page_size(&emu, json!(7)).await;
    assert_eq!((s, &settings["pageSize"]), (200, &json!(7)));

    let (apps, sps) = directory_ids(&emu).await;
    assert_eq!((apps.len(), sps.len()), (13, 18));
    let (sizes, items, _) = all_pages(&emu, &admin, "applications").await;
    assert_eq!(sizes, [7, 6]);
    each_exactly_once(&items, "id", &apps);
    let (sizes, items, _) = all_pages(&emu, &admin, "applications?$filter=signInAudience eq 'AzureADMyOrg'").await;
    assert_eq!(sizes, [7, 6]);
    each_exactly_once(&items, "id", &apps);
    let (sizes, items, _) =
        all_pages(&emu, &admin, "applications?$filter=displayName eq 'Line-of-business app 0003'").await;
    assert_eq!((sizes, items[0]["displayName"].as_str()), (vec![1], Some("Line-of-business app 0003")));
    let (sizes, items, _) = all_pages(&emu, &admin, "servicePrincipals").await;
    assert_eq!(sizes, [7, 7, 4]);
    each_exactly_once(&items, "id", &sps);
    assert_eq!(all_pages(&emu, &admin, "applications?$top=50").await.0, [13]);
    assert_eq!(all_pages(&emu, &admin, "servicePrincipals?$top=5").await.0, [5, 5, 5, 3]);
    assert_eq!(all_pages(&emu, &admin, "organization").await.0, [1]);

    // Assignments: the bootstrap SP holds 12 roles (10 Graph, 1 SharePoint, 1 Exchange); on the
    // Graph SP, the bootstrap app and the managed identity hold 10 each.
    let boot_app_id = emu.tenant(0)["bootstrapClientId"].as_str().unwrap().to_string();
    let boot = resource_sp(&emu, &admin, &boot_app_id).await["id"].as_str().unwrap().to_string();
    let graph_sp = resource_sp(&emu, &admin, "00000003-0000-0000-c000-000000000000").await;
    let gid = graph_sp["id"].as_str().unwrap().to_string();
    assert_eq!(all_pages(&emu, &admin, &format!("servicePrincipals/{boot}/appRoleAssignments")).await.0, [7, 5]);
    assert_eq!(set_page_size(&emu, json!(3)).await.0, 200);
    let (sizes, items, _) = all_pages(&emu, &admin, &format!("servicePrincipals/{boot}/appRoleAssignments")).await;
    assert_eq!(sizes, [3, 3, 3, 3]);
    assert!(items.iter().all(|a| a["principalId"] == boot.as_str()));
    let ids: Vec<String> = items.iter().map(|a| a["id"].as_str().unwrap().to_string()).collect();
    each_exactly_once(&items, "id", &ids);
    let (sizes, items, _) = all_pages(&emu, &admin, &format!("servicePrincipals/{gid}/appRoleAssignedTo")).await;
    assert_eq!(sizes, [3, 3, 3, 3, 3, 3, 2]);
    assert!(items.iter().all(|a| a["resourceId"] == gid.as_str()));
    let ids: Vec<String> = items.iter().map(|a| a["id"].as_str().unwrap().to_string()).collect();
    each_exactly_once(&items, "id", &ids);
    let alt = format!("servicePrincipals(appId='{boot_app_id}')/appRoleAssignments");
    assert_eq!(all_pages(&emu, &admin, &alt).await.0, [3, 3, 3, 3]);

    // Grants: 5 from the bootstrap SP (to the 4 first-party SPs and one line-of-business SP),
    // 1 from another client; `$filter=clientId eq` pages over the bootstrap's only.
    let state = emulator_state(&emu).await;
    let t = &state["tenants"][0];
    let mut resources: Vec<String> = t["firstPartyServicePrincipals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    let lob: Vec<String> = t["servicePrincipals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["displayName"].as_str().unwrap().starts_with("Line-of-business app "))
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    resources.push(lob[0].clone());
    let mut grants = vec![(boot.clone(), gid.clone())];
    grants.extend(resources.iter().filter(|r| **r != gid).map(|r| (boot.clone(), r.clone())));
    grants.push((lob[1].clone(), gid.clone()));
    for (client, resource) in &grants {
        let body =
            json!({ "clientId": client, "consentType": "AllPrincipals", "resourceId": resource, "scope": "User.Read" });
        let (s, b, _) = emu.graph(&admin, Method::POST, "oauth2PermissionGrants", Some(body)).await;
        assert_eq!(s, 201, "{b}");
    }
    let (sizes, items, link) =
        all_pages(&emu, &admin, &format!("oauth2PermissionGrants?$filter=clientId eq '{boot}'")).await;
    assert_eq!(sizes, [3, 2]);
    assert!(link.unwrap().contains("$filter="));
    assert!(items.iter().all(|g| g["clientId"] == boot.as_str()));
    let ids: Vec<String> = items.iter().map(|g| g["id"].as_str().unwrap().to_string()).collect();
    each_exactly_once(&items, "id", &ids);
    assert_eq!(all_pages(&emu, &admin, "oauth2PermissionGrants").await.0, [3, 3]);

    // A page boundary holds when an object before it goes away meanwhile.
    let first: Value = emu.graph(&admin, Method::GET, "applications?$select=id", None).await.1;
    let next = first["@odata.nextLink"].as_str().unwrap().to_string();
    let (s, _, _) = emu.graph(&admin, Method::DELETE, &format!("applications/{}", apps[1]), None).await;
    assert_eq!(s, 204);
    let (_, rest, _) = all_pages(&emu, &admin, &next).await;
    let mut seen = first["value"].as_array().unwrap().clone();
    seen.extend(rest);
    let mut expected = apps.clone();
    expected.remove(1);
    let seen: Vec<Value> = seen.into_iter().filter(|a| a["id"] != apps[1].as_str()).collect();
    each_exactly_once(&seen, "id", &expected);
}

/// GETs `path` with a `client-request-id` header; returns (status, body, headers).
async fn get_with_client_id(
    emu: &Emu,
    url: &str,
    token: &str,
    client_request_id: Option<&str>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut req = emu.client.get(url).bearer_auth(token);
    if let Some(id) = client_request_id {
        req = req.header("client-request-id", id);
    }
    let r = req.send().await.unwrap();
    let (s, h) = (r.status().as_u16(), r.headers().clone());
    (s, r.json().await.unwrap_or(Value::Null), h)
}

fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    h.get(name).unwrap_or_else(|| panic!("no {name} header")).to_str().unwrap()
}

/// The response echoes `sent` (facts.md §3.12) in its headers and, for an error, in innerError,
/// with a request-id of its own.
fn echoes(s: u16, b: &Value, h: &reqwest::header::HeaderMap, sent: &str) {
    assert_eq!(header(h, "client-request-id"), sent);
    let request_id = header(h, "request-id");
    assert!(uuid::Uuid::parse_str(request_id).is_ok() && request_id != sent);
    if s >= 400 {
        assert_eq!(b["error"]["innerError"]["client-request-id"], sent, "{b}");
        assert_eq!(b["error"]["innerError"]["request-id"], request_id, "{b}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn client_request_id_is_echoed_in_headers_and_error_bodies() {
    let emu = start(1, 0, 0.0).await;
    let admin = emu.bootstrap_token(0, GRAPH).await;
    let url = |p: &str| format!("{}/v1.0/{p}", emu.url());
    let mine = uuid::Uuid::new_v4().to_string();

    let (s, b, h) = get_with_client_id(&emu, &url("organization"), &admin, Some(&mine)).await;
    assert_eq!(s, 200);
    echoes(s, &b, &h, &mine);
    // Without one, each response has a fresh client-request-id and request-id.
    let (_, _, h1) = get_with_client_id(&emu, &url("organization"), &admin, None).await;
    let (_, _, h2) = get_with_client_id(&emu, &url("organization"), &admin, None).await;
    for h in [&h1, &h2] {
        assert!(uuid::Uuid::parse_str(header(h, "client-request-id")).is_ok());
    }
    assert_ne!(header(&h1, "client-request-id"), header(&h2, "client-request-id"));
    assert_ne!(header(&h1, "request-id"), header(&h2, "request-id"));
    let (s, b, h) = get_with_client_id(&emu, &url("applications/none"), &admin, None).await;
    assert_eq!(s, 404);
    assert_eq!(b["error"]["innerError"]["client-request-id"], header(&h, "client-request-id"));

    // Errors: 404, 401, a fault rule's 429, the throttle's 429.
    let (s, b, h) = get_with_client_id(&emu, &url(&format!("applications/{mine}")), &admin, Some(&mine)).await;
    assert_eq!((s, b["error"]["code"].as_str()), (404, Some("Request_ResourceNotFound")));
    echoes(s, &b, &h, &mine);
    let (s, b, h) = get_with_client_id(&emu, &url("organization"), "", Some(&mine)).await;
    assert_eq!(s, 401);
    echoes(s, &b, &h, &mine);
    let rule = json!({ "pathContains": "/organization", "status": 429, "retryAfter": 1, "count": 1 });
    emu.client.post(format!("{}/_emulator/faults", emu.url())).json(&rule).send().await.unwrap();
    let (s, b, h) = get_with_client_id(&emu, &url("organization"), &admin, Some(&mine)).await;
    assert_eq!(s, 429);
    echoes(s, &b, &h, &mine);
    let throttle = |rate: f64| {
        emu.client.patch(format!("{}/_emulator/settings", emu.url())).json(&json!({ "throttleRate": rate })).send()
    };
    throttle(1.0).await.unwrap();
    let (s, b, h) = get_with_client_id(&emu, &url("organization"), &admin, Some(&mine)).await;
    assert_eq!((s, b["error"]["code"].as_str()), (429, Some("TooManyRequests")));
    echoes(s, &b, &h, &mine);
    throttle(0.0).await.unwrap();

    // $batch: the outer response echoes the batch's id; an item's error carries the id in the
    // item's headers, else the batch's.
    let item_id = uuid::Uuid::new_v4().to_string();
    let body = json!({ "requests": [
        { "id": "1", "method": "GET", "url": format!("/applications/{item_id}"), "headers": { "client-request-id": item_id } },
        { "id": "2", "method": "GET", "url": format!("/applications/{mine}") },
        { "id": "3", "method": "GET", "url": "/organization" },
    ]});
    let r = emu.client.post(url("$batch")).bearer_auth(&admin).header("client-request-id", &mine).json(&body).send();
    let r = r.await.unwrap();
    let h = r.headers().clone();
    let b: Value = r.json().await.unwrap();
    echoes(200, &b, &h, &mine);
    let item = |id: &str| b["responses"].as_array().unwrap().iter().find(|r| r["id"] == id).unwrap().clone();
    let (one, two) = (item("1"), item("2"));
    assert_eq!(
        (one["status"].as_u64(), two["status"].as_u64(), item("3")["status"].as_u64()),
        (Some(404), Some(404), Some(200))
    );
    assert_eq!(one["body"]["error"]["innerError"]["client-request-id"], item_id.as_str());
    assert_eq!(two["body"]["error"]["innerError"]["client-request-id"], mine.as_str());
    let (r1, r2) =
        (&one["body"]["error"]["innerError"]["request-id"], &two["body"]["error"]["innerError"]["request-id"]);
    assert!(r1.is_string() && r2.is_string() && r1 != r2 && r1 != header(&h, "request-id"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_takes_page_size_and_extra_apps() {
    let emu = Binary::start(&["--page-size", "2", "--extra-apps", "3"]);
    let settings = emu.control("settings").await;
    let state = emu.control("state").await;
    drop(emu);
    assert_eq!(settings["pageSize"], 2);
    let names: Vec<&str> = state["tenants"][0]["applications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["displayName"].as_str().unwrap())
        .filter(|n| n.starts_with("Line-of-business app "))
        .collect();
    assert_eq!(names, ["Line-of-business app 0001", "Line-of-business app 0002", "Line-of-business app 0003"]);
    for bad in [["--page-size", "0"], ["--page-size", "1000"]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kodo-emulator")).args(bad).output().unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("--page-size"));
    }
}

// ----------------------------------------------------------------------------- SharePoint

#[tokio::test(flavor = "multi_thread")]
async fn sharepoint_accepts_certificate_tokens_and_refuses_secret_ones() {
    let emu = start(1, 0, 0.0).await;
    let t = emu.tenant(0).clone();
    let host = t["sharePointHost"].as_str().unwrap();
    let tid = emu.tid(0);
    let id = t["bootstrapClientId"].as_str().unwrap();
    let resource = format!("https://{host}");
    // Production hostname, resolved to the emulator by the client (reqwest resolve).
    let web_url = format!("https://{host}:{}/_api/web", emu.port());

    let secret_token = emu.bootstrap_token(0, &resource).await;
    let r = emu
        .client
        .get(&web_url)
        .bearer_auth(&secret_token)
        .header("Accept", "application/json;odata=nometadata")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let www = r.headers().get("www-authenticate").unwrap().to_str().unwrap().to_string();
    assert!(
        www.starts_with(&format!("Bearer realm=\"{tid}\",client_id=\"00000003-0000-0ff1-ce00-000000000000\"")),
        "{www}"
    );
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error_description"], "Unsupported app only token.");

    let (der, key) = read_cert_and_key(t["bootstrapCertificate"].as_str().unwrap());
    let aud = format!("https://login.microsoftonline.com/{tid}/oauth2/v2.0/token");
    let assertion = client_assertion(&der, &key, id, &aud, false, 600);
    let scope = format!("{resource}/.default");
    let (s, b) = emu.assertion_token(&tid, id, &assertion, &scope).await;
    assert_eq!(s, 200, "{b}");
    let cert_token = b["access_token"].as_str().unwrap();
    let r = emu
        .client
        .get(&web_url)
        .bearer_auth(cert_token)
        .header("Accept", "application/json;odata=nometadata")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let web: Value = r.json().await.unwrap();
    assert_eq!(web["Url"], resource);
    assert_eq!(web["WebTemplate"], "SITEPAGEPUBLISHING");
    // The path-prefix form reaches the same site.
    let r = emu.client.get(format!("{}/_sp/{host}/_api/web", emu.url())).bearer_auth(cert_token).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

fn csom_read() -> String {
    // facts.md §5.1 step 2, verbatim apart from ApplicationName.
    r#"<Request AddExpandoFieldTypeSuffix="true" SchemaVersion="15.0.0.0" LibraryVersion="16.0.0.0" ApplicationName="Kodo" xmlns="http://schemas.microsoft.com/sharepoint/clientquery/2009"><Actions><ObjectPath Id="4" ObjectPathId="3" /><Query Id="5" ObjectPathId="3"><Query SelectAllProperties="true"><Properties /></Query></Query></Actions><ObjectPaths><Constructor Id="3" TypeId="{268004ae-ef6b-4e9b-8425-127220d84719}" /></ObjectPaths></Request>"#.to_string()
}

fn csom_set(identity: &str, value: bool) -> String {
    format!(
        r#"<Request AddExpandoFieldTypeSuffix="true" SchemaVersion="15.0.0.0" LibraryVersion="16.0.0.0" ApplicationName="Kodo" xmlns="http://schemas.microsoft.com/sharepoint/clientquery/2009"><Actions><SetProperty Id="42" ObjectPathId="7" Name="LegacyAuthProtocolsEnabled"><Parameter Type="String">{value}</Parameter></SetProperty></Actions><ObjectPaths><Identity Id="7" Name="{}" /></ObjectPaths></Request>"#,
        identity.replace('\n', "&#xA;")
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn csom_reads_and_sets_legacy_auth_protocols_and_graph_agrees() {
    let emu = start(1, 0, 0.0).await;
    let t = emu.tenant(0).clone();
    let admin_host = t["sharePointAdminHost"].as_str().unwrap();
    let tid = emu.tid(0);
    let id = t["bootstrapClientId"].as_str().unwrap();
    let (der, key) = read_cert_and_key(t["bootstrapCertificate"].as_str().unwrap());
    let assertion = client_assertion(
        &der,
        &key,
        id,
        &format!("https://login.microsoftonline.com/{tid}/oauth2/v2.0/token"),
        false,
        600,
    );
    let scope = format!("https://{admin_host}/.default");
    let (_, b) = emu.assertion_token(&tid, id, &assertion, &scope).await;
    let token = b["access_token"].as_str().unwrap().to_string();
    let pq = format!("https://{admin_host}:{}/_vti_bin/client.svc/ProcessQuery", emu.port());
    let post = |body: String| {
        emu.client
            .post(&pq)
            .bearer_auth(&token)
            .header("Content-Type", "text/xml")
            .header("Accept", "application/json;odata=nometadata")
            .body(body)
            .send()
    };

    let read: Value = post(csom_read()).await.unwrap().json().await.unwrap();
    assert!(read[0]["ErrorInfo"].is_null(), "{read}");
    assert_eq!(read[1], 4);
    assert_eq!(read[3], 5);
    assert_eq!(read[4]["_ObjectType_"], "Microsoft.Online.SharePoint.TenantAdministration.Tenant");
    assert_eq!(read[4]["LegacyAuthProtocolsEnabled"], true);
    let identity = read[4]["_ObjectIdentity_"].as_str().unwrap().to_string();

    let set: Value = post(csom_set(&identity, false)).await.unwrap().json().await.unwrap();
    assert!(set[0]["ErrorInfo"].is_null(), "{set}");
    let read: Value = post(csom_read()).await.unwrap().json().await.unwrap();
    assert_eq!(read[4]["LegacyAuthProtocolsEnabled"], false);

    let graph = emu.bootstrap_token(0, GRAPH).await;
    let (s, settings, _) = emu.graph(&graph, Method::GET, "admin/sharepoint/settings", None).await;
    assert_eq!(s, 200);
    assert_eq!(settings["isLegacyAuthProtocolsEnabled"], false);
    let (s, _, _) = emu
        .graph(
            &graph,
            Method::PATCH,
            "admin/sharepoint/settings",
            Some(json!({ "isLegacyAuthProtocolsEnabled": true })),
        )
        .await;
    assert_eq!(s, 204);
    let read: Value = post(csom_read()).await.unwrap().json().await.unwrap();
    assert_eq!(read[4]["LegacyAuthProtocolsEnabled"], true);

    // The Tenant object is only on the admin host.
    let site_pq =
        format!("https://{}:{}/_vti_bin/client.svc/ProcessQuery", t["sharePointHost"].as_str().unwrap(), emu.port());
    let site_token = {
        let assertion = client_assertion(
            &der,
            &key,
            id,
            &format!("https://login.microsoftonline.com/{tid}/oauth2/v2.0/token"),
            false,
            600,
        );
        let scope = format!("https://{}/.default", t["sharePointHost"].as_str().unwrap());
        let (_, b) = emu.assertion_token(&tid, id, &assertion, &scope).await;
        b["access_token"].as_str().unwrap().to_string()
    };
    let r: Value = emu
        .client
        .post(&site_pq)
        .bearer_auth(&site_token)
        .body(csom_read())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r[0]["ErrorInfo"]["ErrorTypeName"], "System.UnauthorizedAccessException");
}

// ---------------------------------------------------------------------------- control API

#[tokio::test(flavor = "multi_thread")]
async fn fault_rules_fail_drop_and_then_stop() {
    let emu = start(1, 0, 0.0).await;
    let admin = emu.bootstrap_token(0, GRAPH).await;
    let rule = json!({ "method": "GET", "pathContains": "/organization", "status": 503, "retryAfter": 2, "count": 1 });
    let r = emu.client.post(format!("{}/_emulator/faults", emu.url())).json(&rule).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let (s, _, h) = emu.graph(&admin, Method::GET, "organization", None).await;
    assert_eq!(s, 503);
    assert_eq!(h.get("retry-after").unwrap(), "2");
    assert_eq!(emu.graph(&admin, Method::GET, "organization", None).await.0, 200);

    let rule = json!({ "pathContains": "/organization", "dropConnection": true, "count": 1 });
    emu.client.post(format!("{}/_emulator/faults", emu.url())).json(&rule).send().await.unwrap();
    let r = emu.client.get(format!("{}/v1.0/organization", emu.url())).bearer_auth(&admin).send().await;
    let failed = match r {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(failed, "the connection should have dropped");

    let bad = emu
        .client
        .post(format!("{}/_emulator/faults", emu.url()))
        .json(&json!({ "nonsense": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let log = emu.requests().await;
    assert!(log.iter().any(|e| e["status"] == 503));
    assert!(log.iter().all(|e| e["method"].is_string() && e["path"].is_string() && e["status"].is_u64()));
    assert!(!log.iter().any(|e| e["path"].as_str().unwrap().starts_with("/_emulator")));
}

/// One request under chaos that allows only `kind`, at rate 1.
async fn under_chaos(emu: &Emu, admin: &str, kind: &str) -> Result<(u16, Option<String>, Value), String> {
    let config = json!({ "seed": 11, "rate": 1.0, "kinds": [kind], "slowMs": 300 });
    assert_eq!(emu.control(Method::PUT, "chaos", Some(config)).await.0, 200);
    // A client of its own: a reset must not spoil the shared one's pool.
    let client = reqwest::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
    let sent = client.get(format!("{}/v1.0/organization", emu.url())).bearer_auth(admin).send().await;
    assert_eq!(emu.control(Method::DELETE, "chaos", None).await.0, 204);
    let r = sent.map_err(|e| format!("send: {e:?}"))?;
    let status = r.status().as_u16();
    let retry_after = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    let bytes = r.bytes().await.map_err(|e| format!("body: {e:?}"))?;
    Ok((status, retry_after, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
}

#[tokio::test(flavor = "multi_thread")]
async fn chaos_injects_each_fault_by_seed_and_logs_it() {
    let emu = start(1, 0, 0.0).await;
    let admin = emu.bootstrap_token(0, GRAPH).await;
    for (kind, status, code) in [
        ("internalServerError", 500, "InternalServerError"),
        ("badGateway", 502, "UnknownError"),
        ("serviceUnavailable", 503, "UnknownError"),
        ("gatewayTimeout", 504, "UnknownError"),
    ] {
        let (s, ra, body) = under_chaos(&emu, &admin, kind).await.unwrap();
        assert_eq!((s, ra.as_deref(), body["error"]["code"].as_str()), (status, None, Some(code)), "{kind}");
    }
    let (s, ra, _) = under_chaos(&emu, &admin, "serviceUnavailableRetryAfter").await.unwrap();
    assert_eq!(s, 503);
    assert!(matches!(ra.as_deref(), Some("1" | "2")));
    let (s, ra, body) = under_chaos(&emu, &admin, "throttleBurst").await.unwrap();
    assert_eq!((s, ra.as_deref(), body["error"]["code"].as_str()), (429, Some("1"), Some("TooManyRequests")));
    // The connection fails: before the answer, mid-body, or reset during TLS.
    // A reset seen while the client is still writing its request shows as a broken pipe (the
    // same RST, met by a write instead of a read: seen once on a loaded machine).
    for (kind, failures) in [
        ("dropBeforeServing", &["send:"][..]),
        ("dropMidBody", &["body:"][..]),
        ("tlsReset", &["ConnectionReset", "BrokenPipe"][..]),
    ] {
        let r = under_chaos(&emu, &admin, kind).await;
        assert!(r.as_ref().is_err_and(|e| failures.iter().any(|f| e.contains(f))), "{kind}: {r:?}");
    }
    let started = std::time::Instant::now();
    assert_eq!(under_chaos(&emu, &admin, "slow").await.unwrap().0, 200);
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));

    let log = emu.requests().await;
    let faults: Vec<&str> = log.iter().filter_map(|e| e["fault"].as_str()).collect();
    assert_eq!(
        faults,
        [
            "internalServerError",
            "badGateway",
            "serviceUnavailable",
            "gatewayTimeout",
            "serviceUnavailableRetryAfter",
            "throttleBurst",
            "dropBeforeServing",
            "dropMidBody",
            "tlsReset",
            "slow"
        ]
    );
    // The chaos is off again, and the emulator serves as before.
    assert_eq!(emu.graph(&admin, Method::GET, "organization", None).await.0, 200);
    let (s, body) = emu.control(Method::PUT, "chaos", Some(json!({ "seed": 1, "rate": 2.0 }))).await;
    assert_eq!(s, 400, "{body}");
    let (s, _) = emu.control(Method::PUT, "chaos", Some(json!({ "seed": 1, "rate": 0.1, "kinds": ["teapot"] }))).await;
    assert_eq!(s, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn chaos_draws_the_same_faults_for_the_same_seed() {
    let emu = start(1, 0, 0.0).await;
    let admin = emu.bootstrap_token(0, GRAPH).await;
    let mut runs = Vec::new();
    for seed in [5, 5, 6] {
        let kinds = json!(["internalServerError", "badGateway", "gatewayTimeout", "throttleBurst"]);
        let config = json!({ "seed": seed, "rate": 0.4, "kinds": kinds });
        assert_eq!(emu.control(Method::PUT, "chaos", Some(config)).await.0, 200);
        let mut statuses = Vec::new();
        for _ in 0..40 {
            statuses.push(emu.graph(&admin, Method::GET, "organization", None).await.0);
        }
        let (_, state) = emu.control(Method::GET, "chaos", None).await;
        assert_eq!(state["requests"], 40);
        runs.push(statuses);
    }
    emu.control(Method::DELETE, "chaos", None).await;
    assert_eq!(runs[0], runs[1]);
    assert_ne!(runs[0], runs[2]);
    assert!(runs[0].iter().any(|s| *s != 200) && runs[0].contains(&200));
}

#[test]
fn the_binary_prints_its_announcement_first() {
    use std::io::BufRead;
    let dir = std::env::temp_dir().join(format!("kodo-bin-{}", uuid::Uuid::new_v4()));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kodo-emulator"))
        .args(["--listen", "127.0.0.1:0", "--tenants", "3", "--state-dir"])
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let v: Value = serde_json::from_str(&line).unwrap();
    assert!(v["url"].as_str().unwrap().starts_with("https://127.0.0.1:"));
    assert!(std::path::Path::new(v["caCertificate"].as_str().unwrap()).exists());
    let tenants = v["tenants"].as_array().unwrap();
    assert_eq!(tenants.len(), 3);
    for t in tenants {
        for k in ["tenantId", "initialDomain", "bootstrapClientId", "bootstrapClientSecret", "bootstrapCertificate"] {
            assert!(t[k].is_string(), "{k}");
        }
        assert!(t["initialDomain"].as_str().unwrap().ends_with(".onmicrosoft.com"));
        let pem = std::fs::read_to_string(t["bootstrapCertificate"].as_str().unwrap()).unwrap();
        assert!(pem.contains("BEGIN CERTIFICATE") && pem.contains("PRIVATE KEY"));
    }
    let _ = std::fs::remove_dir_all(dir);
    // A non-loopback address is refused.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kodo-emulator"))
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
}

// ---------------------------------------------------------------------------------- proxy

#[tokio::test(flavor = "multi_thread")]
async fn the_proxy_sends_production_hostnames_to_the_emulator() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = TempDir(std::env::temp_dir().join(format!("kodo-proxy-{}", uuid::Uuid::new_v4())));
    let config = kodo_emulator::world::EmulatorConfig { state_dir: dir.0.clone(), ..Default::default() };
    let running = kodo_emulator::server::start_with_proxy(
        config,
        "127.0.0.1:0".parse().unwrap(),
        Some("127.0.0.1:0".parse().unwrap()),
    )
    .await
    .unwrap();
    let info = running.announcement();
    let proxy = info["proxy"].as_str().unwrap().to_string();
    let t = &info["tenants"][0];
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&running.ca_certificate).unwrap()).unwrap();
    // No resolve(): the client only knows the proxy, as an unmodified tool with HTTPS_PROXY.
    let client =
        reqwest::Client::builder().tls_certs_only([ca]).proxy(reqwest::Proxy::all(&proxy).unwrap()).build().unwrap();
    let token: Value = client
        .post(format!("https://login.microsoftonline.com/{}/oauth2/v2.0/token", t["tenantId"].as_str().unwrap()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", t["bootstrapClientId"].as_str().unwrap()),
            ("client_secret", t["bootstrapClientSecret"].as_str().unwrap()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = token["access_token"].as_str().unwrap().to_string();
    let org: Value = client
        .get("https://graph.microsoft.com/v1.0/organization")
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(org["value"][0]["id"], t["tenantId"]);
    assert!(org["@odata.context"].as_str().unwrap().starts_with("https://graph.microsoft.com/v1.0/$metadata#"));

    // Absolute-form, as axios-based clients (CLI for Microsoft 365) send through a proxy.
    let port: u16 = proxy.rsplit(':').next().unwrap().parse().unwrap();
    let raw = |request: String| async move {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    };
    let out = raw(format!("GET https://graph.microsoft.com/v1.0/organization HTTP/1.1\r\nHost: graph.microsoft.com\r\nAuthorization: Bearer {access}\r\nConnection: close\r\n\r\n")).await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains(t["tenantId"].as_str().unwrap()));
    // Anything else is refused, not forwarded.
    let out = raw("GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n".into()).await;
    assert!(out.starts_with("HTTP/1.1 403"), "{out}");
    let out = raw("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n".into()).await;
    assert!(out.starts_with("HTTP/1.1 403"), "{out}");
    running.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn device_code_needs_a_public_client_app() {
    let emu = start(1, 0, 0.0).await;
    let admin = emu.bootstrap_token(0, GRAPH).await;
    let (_, app_id, _, _) = make_app(&emu, &admin, "confidential").await;
    let tid = emu.tid(0);
    let r: Value = emu.device_code_start(&tid, app_id.as_str(), "https://graph.microsoft.com/User.Read").await;
    let device_code = r["device_code"].as_str().unwrap();
    let (s, b) = emu
        .token_request(
            &tid,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", &app_id),
                ("device_code", device_code),
            ],
        )
        .await;
    assert_eq!((s, b["error"].as_str(), aadsts(&b)), (401, Some("invalid_client"), 7000218));
}

// ------------------------------------------------------------------------ Exchange Online

const EXCHANGE: &str = "https://outlook.office365.com";
const FULL_ACCESS_AS_APP: &str = "dc890d15-9560-4a4c-9b7f-a736ec74ec40";
const MANAGE_AS_APP: &str = "dc50a0fb-09a3-484d-be87-e023b12c6440";

/// Assigns the Exchange Online app role `role_id` to the service principal `sp_id`.
async fn assign_exchange_role(emu: &Emu, admin: &str, sp_id: &str, role_id: &str) {
    let exo = resource_sp(emu, admin, "00000002-0000-0ff1-ce00-000000000000").await;
    let body = json!({ "principalId": sp_id, "resourceId": exo["id"], "appRoleId": role_id });
    let (s, b, _) =
        emu.graph(admin, Method::POST, &format!("servicePrincipals/{sp_id}/appRoleAssignments"), Some(body)).await;
    assert_eq!(s, 201, "{b}");
}

/// A new app holding full_access_as_app; returns (appId, its Exchange token).
async fn ews_app(emu: &Emu, admin: &str, name: &str) -> (String, String) {
    let (_, app_id, secret, sp_id) = make_app(emu, admin, name).await;
    assign_exchange_role(emu, admin, &sp_id, FULL_ACCESS_AS_APP).await;
    let token = emu.app_token(&app_id, &secret, EXCHANGE).await;
    (app_id, token)
}

/// An Exchange token of a seeded EWS app ("Mail archiver (EWS)", ...), given a secret first.
async fn seeded_ews_app(emu: &Emu, admin: &str, name: &str) -> (String, String) {
    let (_, apps, _) =
        emu.graph(admin, Method::GET, &format!("applications?$filter=displayName eq '{name}'"), None).await;
    let app = &apps["value"][0];
    let (id, app_id) = (app["id"].as_str().unwrap(), app["appId"].as_str().unwrap().to_string());
    let (s, pw, _) = emu
        .graph(
            admin,
            Method::POST,
            &format!("applications/{id}/addPassword"),
            Some(json!({ "passwordCredential": { "endDateTime": iso_days(30) } })),
        )
        .await;
    assert_eq!(s, 200, "{pw}");
    let token = emu.app_token(&app_id, pw["secretText"].as_str().unwrap(), EXCHANGE).await;
    (app_id, token)
}

fn iso_days(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn mailbox(emu: &Emu) -> String {
    format!("backup.probe@{}", emu.tenant(0)["initialDomain"].as_str().unwrap())
}

fn policy_reason(h: &reqwest::header::HeaderMap) -> Option<&str> {
    h.get("x-ews-policy-reason").map(|v| v.to_str().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn each_ews_state_answers_the_probe_as_exchange_online_does() {
    use kodo_emulator::world::EwsPreset;
    for (preset, status, reason) in [
        (EwsPreset::NeverSet, 403, Some("EWS is disabled for this user or tenant")),
        (EwsPreset::Off, 403, Some("EWS is disabled for this user or tenant")),
        (EwsPreset::OnEmpty, 403, Some("EWS is blocked by policy for this user or tenant")),
        (EwsPreset::OnListed, 403, Some("EWS is blocked by policy for this user or tenant")),
    ] {
        let emu = start_with(EmulatorConfig { ews: preset.clone(), ..Default::default() }).await;
        let admin = emu.bootstrap_token(0, GRAPH).await;
        let (_, token) = ews_app(&emu, &admin, "Kodo EWS probe").await;
        let (s, body, h) = emu.ews_get_folder(&token, Some(&mailbox(&emu)), "Kodo/1.0").await;
        assert_eq!((s, policy_reason(&h)), (status, reason), "{preset:?}");
        assert!(body.is_empty(), "{preset:?}: {body}");
        assert!(h.get("request-id").is_some());
        match preset {
            // Until the 2026-10 rollout reaches the tenant, $null still allows all EWS.
            EwsPreset::NeverSet => {
                let (s, v) = emu
                    .control(
                        Method::PATCH,
                        &format!("tenants/{}/exchange", emu.tid(0)),
                        Some(json!({ "ewsNullBlocked": false })),
                    )
                    .await;
                assert_eq!((s, &v["ewsNullBlocked"]), (200, &json!(false)));
                assert_eq!(emu.ews_get_folder(&token, Some(&mailbox(&emu)), "Kodo/1.0").await.0, 200);
            }
            // The listed apps (two other apps of the tenant) get in.
            EwsPreset::OnListed => {
                let (archiver, token) = seeded_ews_app(&emu, &admin, "Mail archiver (EWS)").await;
                let (_, v) = emu.control(Method::GET, &format!("tenants/{}/exchange", emu.tid(0)), None).await;
                assert!(v["ewsAllowedAppIDs"].as_str().unwrap().contains(&archiver), "{v}");
                let (s, body, h) = emu.ews_get_folder(&token, Some(&mailbox(&emu)), "MailArchiver/2.0").await;
                assert_eq!(s, 200, "{body}");
                assert!(h.get("content-type").unwrap().to_str().unwrap().starts_with("text/xml"));
                for part in [
                    "<m:GetFolderResponseMessage ResponseClass=\"Success\">",
                    "<m:ResponseCode>NoError</m:ResponseCode>",
                    "<t:DisplayName>Top of Information Store</t:DisplayName>",
                    "<h:ServerVersionInfo ",
                ] {
                    assert!(body.contains(part), "{part}: {body}");
                }
            }
            _ => {}
        }
    }

    // The refusals before the policy: a token for another resource, an app without
    // full_access_as_app, no impersonation header, an address outside the tenant.
    let emu = start(1, 0, 0.0).await;
    let admin = emu.bootstrap_token(0, GRAPH).await;
    let (s, body, h) = emu.ews_get_folder(&admin, Some(&mailbox(&emu)), "Kodo/1.0").await;
    assert_eq!((s, body.as_str()), (401, ""));
    assert_eq!(
        h.get("x-ms-diagnostics").unwrap(),
        "2000003;reason=\"The audience claim value is invalid 'aud'.\";error_category=\"invalid_resource\""
    );
    assert!(
        h.get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("Bearer client_id=\"00000002-0000-0ff1-ce00-000000000000\"")
    );
    let bootstrap_exo = emu.bootstrap_token(0, EXCHANGE).await;
    let (s, body, h) = emu.ews_get_folder(&bootstrap_exo, Some(&mailbox(&emu)), "Kodo/1.0").await;
    assert_eq!((s, body.as_str(), policy_reason(&h)), (403, "", None));
    let (_, token) = seeded_ews_app(&emu, &admin, "Mail migration (EWS)").await;
    let (s, body, _) = emu.ews_get_folder(&token, None, "Kodo/1.0").await;
    assert_eq!(s, 500);
    assert!(body.contains("<faultcode xmlns:a=\"http://schemas.microsoft.com/exchange/services/2006/types\">a:ErrorInvalidExchangeImpersonationHeaderData</faultcode>"), "{body}");
    assert!(body.contains("ExchangeImpersonation SOAP header must be present for this type of OAuth token."), "{body}");
    let (s, body, _) = emu.ews_get_folder(&token, Some("someone@contoso.com"), "Kodo/1.0").await;
    assert_eq!(s, 500);
    assert!(body.contains("ErrorImpersonateUserDenied"), "{body}");
    assert_eq!(emu.ews_get_folder(&token, Some(&mailbox(&emu)), "Kodo/1.0").await.0, 200);

    // User-agent filtering (EwsApplicationAccessPolicy) applies on top of the app-id list.
    let path = format!("tenants/{}/exchange", emu.tid(0));
    let patch =
        json!({ "ewsApplicationAccessPolicy": "EnforceBlockList", "ewsBlockList": ["*Kodo*"], "effectiveNow": true });
    assert_eq!(emu.control(Method::PATCH, &path, Some(patch)).await.0, 200);
    let (s, _, h) = emu.ews_get_folder(&token, Some(&mailbox(&emu)), "Kodo/1.0").await;
    assert_eq!((s, policy_reason(&h)), (403, Some("EWS is blocked by policy for this user or tenant")));
    assert_eq!(emu.ews_get_folder(&token, Some(&mailbox(&emu)), "MailMigration/3").await.0, 200);
    let patch = json!({ "ewsApplicationAccessPolicy": "EnforceAllowList", "ewsAllowList": ["MailMigration/*"], "effectiveNow": true });
    assert_eq!(emu.control(Method::PATCH, &path, Some(patch)).await.0, 200);
    assert_eq!(emu.ews_get_folder(&token, Some(&mailbox(&emu)), "Other/1").await.0, 403);
    assert_eq!(emu.ews_get_folder(&token, Some(&mailbox(&emu)), "MailMigration/3").await.0, 200);
    assert_eq!(emu.control(Method::PATCH, &path, Some(json!({ "ewsEnabled": "yes" }))).await.0, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_added_to_the_allow_list_through_invoke_command_gets_in_after_propagation() {
    let emu = start_with(EmulatorConfig { ews_propagation: Duration::from_millis(1500), ..Default::default() }).await;
    let (_, settings) = emu.control(Method::GET, "settings", None).await;
    assert_eq!(settings["ewsPropagationMs"], 1500);
    let admin = emu.bootstrap_token(0, GRAPH).await;
    let (app_id, ews_token) = ews_app(&emu, &admin, "Kodo EWS probe").await;
    let exo = emu.bootstrap_token(0, EXCHANGE).await;
    let tid = emu.tid(0);
    let domain = emu.tenant(0)["initialDomain"].as_str().unwrap().to_string();

    // Read the list (it needs the switch), add the app (the list is replaced wholesale).
    let (s, body, h) =
        emu.invoke(&exo, &tid, "Get-OrganizationConfig", json!({ "RetrieveEwsOperationAccessPolicy": true })).await;
    assert_eq!(s, 200);
    assert!(uuid::Uuid::parse_str(header(&h, "request-id")).is_ok());
    let b: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        b["@odata.context"],
        format!("{}/adminapi/beta/{tid}/$metadata#Collection(Exchange.GenericHashTable)", emu.url())
    );
    assert_eq!(
        (&b["adminapi.warnings@odata.type"], &b["@adminapi.warnings"]),
        (&json!("#Collection(String)"), &json!([]))
    );
    let org = &b["value"][0];
    assert_eq!((&org["Identity"], &org["Name"], &org["EwsEnabled"]), (&json!(domain), &json!(domain), &json!(true)));
    let listed = org["EwsAllowedAppIDs"].as_str().unwrap().to_string();
    assert_eq!(listed.split(',').count(), 2);
    let (s, _, _) = emu.ews_get_folder(&ews_token, Some(&mailbox(&emu)), "Kodo/1.0").await;
    assert_eq!(s, 403);

    // On the production host, the tenant named by its initial domain, with a client-request-id.
    let mine = uuid::Uuid::new_v4().to_string();
    let url = format!("https://outlook.office365.com:{}/adminapi/beta/{domain}/InvokeCommand", emu.port());
    let set = json!({ "CmdletInput": { "CmdletName": "Set-OrganizationConfig", "Parameters": { "EwsAllowedAppIDs": format!("{listed},{app_id}") } } });
    let r = emu.client.post(&url).bearer_auth(&exo).header("client-request-id", &mine).json(&set).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(header(r.headers(), "client-request-id"), mine);
    let b: Value = r.json().await.unwrap();
    assert_eq!((&b["@adminapi.warnings"], &b["value"]), (&json!([]), &Value::Null));
    assert!(
        b["@odata.context"]
            .as_str()
            .unwrap()
            .starts_with(&format!("https://outlook.office365.com:{}/adminapi/beta/{domain}/$metadata#", emu.port()))
    );

    // Get-OrganizationConfig shows it at once; EWS still refuses until the change propagates.
    let (_, body, _) =
        emu.invoke(&exo, &tid, "Get-OrganizationConfig", json!({ "RetrieveEwsOperationAccessPolicy": true })).await;
    let b: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(b["value"][0]["EwsAllowedAppIDs"], format!("{listed},{app_id}"));
    let (s, _, h) = emu.ews_get_folder(&ews_token, Some(&mailbox(&emu)), "Kodo/1.0").await;
    assert_eq!((s, policy_reason(&h)), (403, Some("EWS is blocked by policy for this user or tenant")));
    let (_, v) = emu.control(Method::GET, &format!("tenants/{tid}/exchange"), None).await;
    assert_eq!((&v["pendingChanges"], &v["effective"]["ewsAllowedAppIDs"]), (&json!(1), &json!(listed)));
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let (s, body, _) = emu.ews_get_folder(&ews_token, Some(&mailbox(&emu)), "Kodo/1.0").await;
    assert_eq!(s, 200, "{body}");

    // The same Set again changes nothing and says so.
    let (s, body, _) = emu
        .invoke(&exo, &tid, "Set-OrganizationConfig", json!({ "EwsAllowedAppIDs": format!("{listed},{app_id}") }))
        .await;
    let b: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(s, 200);
    assert_eq!(
        b["@adminapi.warnings"],
        json!([format!("The command completed successfully but no settings of '{domain}' have been modified.")])
    );
    // EwsAllowList: a plain array replaces, a tagged hashtable edits.
    let (s, _, _) = emu
        .invoke(
            &exo,
            &tid,
            "Set-OrganizationConfig",
            json!({ "EwsApplicationAccessPolicy": "EnforceBlockList", "EwsBlockList": ["BadTool/*", "Old/*"] }),
        )
        .await;
    assert_eq!(s, 200);
    let edit = json!({ "EwsBlockList": { "@odata.type": "#Exchange.GenericHashTable", "Add": ["New/*"], "Remove": ["Old/*"] } });
    assert_eq!(emu.invoke(&exo, &tid, "Set-OrganizationConfig", edit).await.0, 200);
    let (_, body, _) = emu.invoke(&exo, &tid, "Get-OrganizationConfig", json!({})).await;
    let b: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (&b["value"][0]["EwsBlockList"], &b["value"][0]["EwsApplicationAccessPolicy"]),
        (&json!(["BadTool/*", "New/*"]), &json!("EnforceBlockList"))
    );
    // Clearing the allow list with null, made effective at once: every app is blocked.
    assert_eq!(emu.invoke(&exo, &tid, "Set-OrganizationConfig", json!({ "EwsAllowedAppIDs": null })).await.0, 200);
    assert_eq!(
        emu.control(Method::PATCH, &format!("tenants/{tid}/exchange"), Some(json!({ "effectiveNow": true }))).await.0,
        200
    );
    assert_eq!(emu.ews_get_folder(&ews_token, Some(&mailbox(&emu)), "Kodo/1.0").await.0, 403);

    // Logged like the other routes, and fault rules apply.
    let log = emu.requests().await;
    assert!(log.iter().any(|e| e["method"] == "POST"
        && e["host"].as_str().unwrap().starts_with("outlook.office365.com")
        && e["path"] == format!("/adminapi/beta/{domain}/InvokeCommand")
        && e["status"] == 200));
    assert!(log.iter().any(|e| e["path"] == "/EWS/Exchange.asmx" && e["status"] == 403));
    let rule = json!({ "pathContains": "/InvokeCommand", "status": 503, "retryAfter": 1, "count": 1 });
    assert_eq!(emu.control(Method::POST, "faults", Some(rule)).await.0, 201);
    assert_eq!(emu.invoke(&exo, &tid, "Get-OrganizationConfig", json!({})).await.0, 503);
    assert_eq!(emu.invoke(&exo, &tid, "Get-OrganizationConfig", json!({})).await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn invoke_command_checks_the_app_role_and_the_directory_role() {
    let emu = start_with(EmulatorConfig { auto_approve_device_codes: true, ..Default::default() }).await;
    let admin = emu.bootstrap_token(0, GRAPH).await;
    let tid = emu.tid(0);
    let get = |token: String| {
        let emu = &emu;
        let tid = tid.clone();
        async move { emu.invoke(&token, &tid, "Get-OrganizationConfig", json!({})).await }
    };
    // A Graph token: 401, empty body, a Bearer challenge.
    let (s, body, h) = get(admin.clone()).await;
    assert_eq!((s, body.len()), (401, 0));
    assert!(h.get("www-authenticate").is_some());
    // A forged signature: 401.
    let exo = emu.bootstrap_token(0, EXCHANGE).await;
    assert_eq!(get(format!("{}x", &exo[..exo.len() - 1])).await.0, 401);
    // Neither Exchange.ManageAsApp nor a role: 401.
    let (_, app_id, secret, sp_id) = make_app(&emu, &admin, "Kodo Exchange admin").await;
    let token = emu.app_token(&app_id, &secret, EXCHANGE).await;
    assert!(claims_of(&token).get("roles").is_none());
    assert_eq!(get(token).await.0, 401);
    // The app role without an Exchange-capable directory role: 403 whose body is 4096 NULs.
    assign_exchange_role(&emu, &admin, &sp_id, MANAGE_AS_APP).await;
    let token = emu.app_token(&app_id, &secret, EXCHANGE).await;
    assert_eq!(claims_of(&token)["roles"], json!(["Exchange.ManageAsApp"]));
    let (s, body, _) = get(token.clone()).await;
    assert_eq!((s, body.len()), (403, 4096));
    assert!(body.iter().all(|b| *b == 0));
    // Exchange Administrator (tenant state, control API): 200. The bootstrap app and the
    // managed identity hold it from the start.
    let path = format!("tenants/{tid}/exchange");
    let (_, v) = emu.control(Method::GET, &path, None).await;
    let mut admins: Vec<Value> = v["exchangeAdministrators"].as_array().unwrap().clone();
    assert_eq!(admins.len(), 2);
    admins.push(json!(sp_id));
    assert_eq!(emu.control(Method::PATCH, &path, Some(json!({ "exchangeAdministrators": admins }))).await.0, 200);
    assert_eq!(get(token).await.0, 200);
    assert_eq!(get(exo.clone()).await.0, 200);
    // The managed identity's token carries Exchange.ManageAsApp too.
    let endpoint = emu.info["identityEndpoint"].as_str().unwrap();
    let r = emu
        .client
        .get(endpoint)
        .query(&[("api-version", "2019-08-01"), ("resource", EXCHANGE)])
        .header("X-IDENTITY-HEADER", emu.info["identityHeader"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let mi: Value = r.json().await.unwrap();
    let mi_token = mi["access_token"].as_str().unwrap().to_string();
    assert_eq!(claims_of(&mi_token)["aud"], EXCHANGE);
    assert_eq!(get(mi_token).await.0, 200);
    // Without the role again: 403 NUL. An unknown SP id is refused by the control API.
    assert_eq!(emu.control(Method::PATCH, &path, Some(json!({ "exchangeAdministrators": [sp_id] }))).await.0, 200);
    assert_eq!(get(exo).await.0, 403);
    assert_eq!(
        emu.control(
            Method::PATCH,
            &path,
            Some(json!({ "exchangeAdministrators": [uuid::Uuid::new_v4().to_string()] }))
        )
        .await
        .0,
        400
    );

    // A delegated token of the admin (a Global Administrator) with Exchange.Manage: 200.
    let id = emu.tenant(0)["bootstrapClientId"].as_str().unwrap().to_string();
    let r: Value = emu.device_code_start(&tid, id.as_str(), "https://outlook.office365.com/Exchange.Manage").await;
    let poll = [
        ("grant_type", "device_code"),
        ("client_id", id.as_str()),
        ("device_code", r["device_code"].as_str().unwrap()),
    ];
    let (s, b) = emu.token_request(&tid, &poll).await;
    assert_eq!(s, 200, "{b}");
    let user = b["access_token"].as_str().unwrap().to_string();
    let c = claims_of(&user);
    assert_eq!(
        (&c["idtyp"], &c["scp"], &c["wids"]),
        (&json!("user"), &json!("Exchange.Manage"), &json!(["62e90394-69f5-4237-9190-012177145e10"]))
    );
    let (s, body, _) = get(user).await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
}

#[tokio::test(flavor = "multi_thread")]
async fn invoke_command_answers_unknown_parameters_values_and_cmdlets_as_exchange_does() {
    let emu = start(1, 0, 0.0).await;
    let exo = emu.bootstrap_token(0, EXCHANGE).await;
    let tid = emu.tid(0);
    // Without the switch the allow list is not returned; $select narrows the object.
    let (s, body, _) = emu.invoke(&exo, &tid, "Get-OrganizationConfig", json!({})).await;
    assert_eq!(s, 200);
    let b: Value = serde_json::from_slice(&body).unwrap();
    let org = b["value"][0].as_object().unwrap();
    assert!(!org.contains_key("EwsAllowedAppIDs"));
    for k in [
        "Name",
        "Identity",
        "Guid",
        "EwsEnabled",
        "EwsAllowOutlook",
        "EwsAllowMacOutlook",
        "EwsApplicationAccessPolicy",
        "EwsAllowList",
        "EwsBlockList",
    ] {
        assert!(org.contains_key(k), "{k}");
    }
    assert_eq!(
        (&org["EwsAllowOutlook"], &org["EwsAllowList"], &org["EwsApplicationAccessPolicy"]),
        (&Value::Null, &Value::Null, &Value::Null)
    );
    let url = format!("{}/adminapi/beta/{tid}/InvokeCommand?$select=Identity,EwsEnabled", emu.url());
    let r = emu
        .client
        .post(url)
        .bearer_auth(&exo)
        .json(&json!({ "CmdletInput": { "CmdletName": "Get-OrganizationConfig" } }))
        .send()
        .await
        .unwrap();
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["value"][0].as_object().unwrap().keys().collect::<Vec<_>>(), ["Identity", "EwsEnabled"]);

    // An unknown parameter: the live 400, verbatim.
    let (s, body, _) = emu.invoke(&exo, &tid, "Get-OrganizationConfig", json!({ "BogusParameter": 1 })).await;
    assert_eq!(s, 400);
    let expected: Value = serde_json::from_str(r#"{"error":{"code":"BadRequest","message":"Invalid Operation","details":[{"code":"Client","target":"","message":"|Microsoft.Exchange.AdminApi.CommandInvocation.AmbiguousParameterSetException|Parameter set cannot be resolved using the specified named parameters. Invalid cmdlet parameters specified. BogusParameter"}],"innererror":{"message":"Invalid Operation","type":"Microsoft.Exchange.Admin.OData.Core.ODataServiceException","stacktrace":"","internalexception":{"message":"Parameter set cannot be resolved using the specified named parameters. Invalid cmdlet parameters specified. BogusParameter","type":"Microsoft.Exchange.AdminApi.CommandInvocation.AmbiguousParameterSetException","stacktrace":""}}}}"#).unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), expected);
    let (s, body, _) = emu
        .invoke(&exo, &tid, "Set-OrganizationConfig", json!({ "EwsEnabled": true, "EwsAllowEntourage": false }))
        .await;
    assert_eq!(s, 400);
    assert!(String::from_utf8_lossy(&body).contains("Invalid cmdlet parameters specified. EwsAllowEntourage"));

    // A bad enum value: the live transformation 400 (warnings inside `error`).
    let (s, body, _) =
        emu.invoke(&exo, &tid, "Set-OrganizationConfig", json!({ "EwsApplicationAccessPolicy": "Nonsense" })).await;
    assert_eq!(s, 400);
    let b: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(b["error"]["code"], "BadRequest");
    assert!(b["error"].get("details").is_none());
    assert_eq!(b["error"]["@adminapi.warnings"], json!([]));
    let inner = &b["error"]["innererror"]["internalexception"];
    assert_eq!(inner["type"], "Microsoft.Exchange.AdminApi.CommandInvocation.ParameterTransformationException");
    assert_eq!(
        inner["message"],
        "Cannot process argument transformation on parameter 'EwsApplicationAccessPolicy'. Cannot convert value \"Nonsense\" to type \"Microsoft.Exchange.Data.Directory.EwsApplicationAccessPolicy\". Error: \"Unable to match the identifier name Nonsense to a valid enumerator name. Specify one of the following enumerator names and try again: EnforceAllowList, EnforceBlockList\""
    );
    let (s, _, _) = emu.invoke(&exo, &tid, "Set-OrganizationConfig", json!({ "EwsEnabled": "yes" })).await;
    assert_eq!(s, 400);
    // Nothing was written by the refused calls.
    let (_, v) = emu.control(Method::GET, &format!("tenants/{tid}/exchange"), None).await;
    assert_eq!((&v["ewsEnabled"], &v["ewsApplicationAccessPolicy"]), (&json!(true), &Value::Null));

    // A cmdlet the emulator does not have: 403 NUL, as Exchange answers one the caller may not run.
    let (s, body, h) = emu.invoke(&exo, &tid, "Get-Mailbox", json!({})).await;
    assert_eq!((s, body.len()), (403, 4096));
    assert!(h.get("request-id").is_some());
    // Another tenant's URL.
    assert_eq!(emu.invoke(&exo, "contoso.onmicrosoft.com", "Get-OrganizationConfig", json!({})).await.0, 401);
}

// ------------------------------------------------------------- app management policies

#[tokio::test(flavor = "multi_thread")]
async fn app_management_policies_are_read_with_policy_permissions() {
    let emu = start(1, 0, 0.0).await;
    let admin = emu.bootstrap_token(0, GRAPH).await;
    let (s, p, _) = emu.graph(&admin, Method::GET, "policies/defaultAppManagementPolicy", None).await;
    assert_eq!(s, 200, "{p}");
    let tid = emu.tid(0);
    let expected = json!({
        "@odata.context": format!("{}/v1.0/$metadata#policies/defaultAppManagementPolicy/$entity", emu.url()),
        "@odata.id": format!("https://graph.microsoft.com/v2/{tid}/defaultAppManagementPolicy/00000000-0000-0000-0000-000000000000"),
        "id": "00000000-0000-0000-0000-000000000000",
        "displayName": "Default app management tenant policy",
        "description": "Default tenant policy that enforces app management restrictions on applications and service principals. To apply policy to targeted resources, create a new policy under appManagementPolicies collection.",
        "isEnabled": false,
        "applicationRestrictions": { "passwordCredentials": [], "keyCredentials": [] },
        "servicePrincipalRestrictions": { "passwordCredentials": [], "keyCredentials": [] },
    });
    assert_eq!(p, expected);
    let (s, l, _) = emu.graph(&admin, Method::GET, "policies/appManagementPolicies", None).await;
    assert_eq!((s, &l["value"]), (200, &json!([])));
    assert_eq!(l["@odata.context"], format!("{}/v1.0/$metadata#policies/appManagementPolicies", emu.url()));
    let (app_obj, app_id, secret, sp_id) = make_app(&emu, &admin, "Kodo policy reader").await;
    let (s, l, _) =
        emu.graph(&admin, Method::GET, &format!("applications/{app_obj}/appManagementPolicies"), None).await;
    assert_eq!((s, &l["value"]), (200, &json!([])));

    // Without Policy.Read.All (or the ApplicationConfiguration ones): 403 as Graph answers.
    let graph_sp = resource_sp(&emu, &admin, "00000003-0000-0000-c000-000000000000").await;
    let body = json!({ "principalId": sp_id, "resourceId": graph_sp["id"], "appRoleId": role(&graph_sp, "Application.Read.All") });
    let (s, _, _) =
        emu.graph(&admin, Method::POST, &format!("servicePrincipals/{sp_id}/appRoleAssignments"), Some(body)).await;
    assert_eq!(s, 201);
    let reader = emu.app_token(&app_id, &secret, GRAPH).await;
    for path in ["policies/defaultAppManagementPolicy", "policies/appManagementPolicies"] {
        let (s, b, _) = emu.graph(&reader, Method::GET, path, None).await;
        assert_eq!((s, b["error"]["code"].as_str()), (403, Some("Authorization_RequestDenied")), "{path}");
    }
    // With Policy.ReadWrite.ApplicationConfiguration it reads.
    let body = json!({ "principalId": sp_id, "resourceId": graph_sp["id"], "appRoleId": role(&graph_sp, "Policy.ReadWrite.ApplicationConfiguration") });
    emu.graph(&admin, Method::POST, &format!("servicePrincipals/{sp_id}/appRoleAssignments"), Some(body)).await;
    let reader = emu.app_token(&app_id, &secret, GRAPH).await;
    assert_eq!(emu.graph(&reader, Method::GET, "policies/defaultAppManagementPolicy", None).await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn app_management_policies_refuse_secrets_with_graphs_bodies() {
    let emu = start(1, 0, 0.0).await;
    let admin = emu.bootstrap_token(0, GRAPH).await;
    let (app_obj, app_id, _, _) = make_app(&emu, &admin, "Kodo policy target").await;
    let path = format!("tenants/{}/appManagementPolicy", emu.tid(0));
    let add = |body: Value| {
        let emu = &emu;
        let admin = admin.clone();
        let url = format!("applications/{app_obj}/addPassword");
        async move { emu.graph(&admin, Method::POST, &url, Some(body)).await }
    };
    let without_ids = |mut b: Value| {
        let inner = b["error"]["innerError"].as_object_mut().unwrap();
        assert!(inner["request-id"].is_string() && inner["date"].is_string());
        b["error"].as_object_mut().unwrap().remove("innerError");
        b
    };

    // No secrets at all.
    let policy = json!({ "isEnabled": true, "applicationRestrictions": { "passwordCredentials": [{ "restrictionType": "passwordAddition", "maxLifetime": null, "restrictForAppsCreatedAfterDateTime": null }] } });
    let (s, p) = emu.control(Method::PATCH, &path, Some(policy)).await;
    assert_eq!((s, &p["applicationRestrictions"]["passwordCredentials"][0]["state"]), (200, &json!("enabled")));
    let (s, b, _) = add(json!({ "passwordCredential": { "displayName": "x", "endDateTime": iso_days(30) } })).await;
    assert_eq!(s, 400);
    assert_eq!(
        without_ids(b),
        json!({ "error": { "code": "CredentialTypeNotAllowedAsPerAppPolicy", "message": "Credential type not allowed as per assigned policy '00000000-0000-0000-0000-000000000000'." } })
    );
    let (s, b, _) = emu.graph(&admin, Method::PATCH, &format!("applications/{app_obj}"), Some(json!({ "passwordCredentials": [{ "displayName": "p", "endDateTime": iso_days(30), "secretText": "a-custom-secret-of-32-characters" }] }))).await;
    assert_eq!((s, b["error"]["code"].as_str()), (400, Some("CredentialTypeNotAllowedAsPerAppPolicy")));
    // Graph shows the policy with `state` on the restriction.
    let (_, p, _) = emu.graph(&admin, Method::GET, "policies/defaultAppManagementPolicy", None).await;
    assert_eq!(
        (&p["isEnabled"], &p["applicationRestrictions"]["passwordCredentials"][0]["restrictionType"]),
        (&json!(true), &json!("passwordAddition"))
    );
    // A restriction turned off, or for apps created later, does not apply.
    let later = json!({ "applicationRestrictions": { "passwordCredentials": [{ "restrictionType": "passwordAddition", "maxLifetime": null, "restrictForAppsCreatedAfterDateTime": iso_days(1) }] } });
    assert_eq!(emu.control(Method::PATCH, &path, Some(later)).await.0, 200);
    assert_eq!(add(json!({})).await.0, 200);
    let off = json!({ "applicationRestrictions": { "passwordCredentials": [{ "restrictionType": "passwordAddition", "maxLifetime": null, "restrictForAppsCreatedAfterDateTime": null, "state": "disabled" }] } });
    assert_eq!(emu.control(Method::PATCH, &path, Some(off)).await.0, 200);
    assert_eq!(add(json!({})).await.0, 200);

    // A maximum lifetime: addPassword's default end (2 years) is too long.
    let lifetime = json!({ "applicationRestrictions": { "passwordCredentials": [{ "restrictionType": "passwordLifetime", "maxLifetime": "P90D", "restrictForAppsCreatedAfterDateTime": "2019-01-01T00:00:00Z" }] } });
    assert_eq!(emu.control(Method::PATCH, &path, Some(lifetime)).await.0, 200);
    let (s, b, _) = add(json!({})).await;
    assert_eq!(s, 400);
    let message = "Credential lifetime exceeds the max value allowed as per assigned policy '00000000-0000-0000-0000-000000000000'.";
    let expected = json!({ "error": { "code": "CredentialInvalidLifetimeAsPerAppPolicy", "message": message, "details": [{ "code": "InvalidKeyEndDate", "message": message, "target": "EndDate" }] } });
    assert_eq!(without_ids(b.clone()), expected);
    assert_eq!(
        b["error"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["code", "message", "details", "innerError"]
    );
    assert_eq!(add(json!({ "passwordCredential": { "endDateTime": iso_days(91) } })).await.0, 400);
    // A compliant secret passes and signs in.
    let (s, pw, _) = add(json!({ "passwordCredential": { "displayName": "kodo", "endDateTime": iso_days(89) } })).await;
    assert_eq!(s, 200, "{pw}");
    emu.app_token(&app_id, pw["secretText"].as_str().unwrap(), GRAPH).await;
    // PATCH passwordCredentials: a new credential is checked the same way; existing ones stay.
    let (_, app, _) = emu.graph(&admin, Method::GET, &format!("applications/{app_obj}"), None).await;
    let mut creds = app["passwordCredentials"].as_array().unwrap().clone();
    let before = creds.len();
    creds.push(json!({ "displayName": "custom", "endDateTime": iso_days(365), "secretText": "a-custom-secret-of-32-characters" }));
    let (s, b, _) = emu
        .graph(
            &admin,
            Method::PATCH,
            &format!("applications/{app_obj}"),
            Some(json!({ "passwordCredentials": creds.clone() })),
        )
        .await;
    assert_eq!((s, b["error"]["code"].as_str()), (400, Some("CredentialInvalidLifetimeAsPerAppPolicy")));
    creds.last_mut().unwrap()["endDateTime"] = iso_days(30).into();
    let (s, b, _) = emu
        .graph(&admin, Method::PATCH, &format!("applications/{app_obj}"), Some(json!({ "passwordCredentials": creds })))
        .await;
    assert_eq!(s, 204, "{b}");
    let (_, app, _) = emu.graph(&admin, Method::GET, &format!("applications/{app_obj}"), None).await;
    assert_eq!(app["passwordCredentials"].as_array().unwrap().len(), before + 1);
    emu.app_token(&app_id, "a-custom-secret-of-32-characters", GRAPH).await;

    // The control API refuses what Graph would not hold.
    for bad in [
        json!({ "isEnabled": "yes" }),
        json!({ "applicationRestrictions": { "passwordCredentials": [{ "restrictionType": "passwordLifetime", "maxLifetime": "P12M" }] } }),
        json!({ "applicationRestrictions": { "passwordCredentials": [{ "restrictionType": "noSuchThing" }] } }),
    ] {
        assert_eq!(emu.control(Method::PATCH, &path, Some(bad.clone())).await.0, 400, "{bad}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_takes_the_exchange_and_app_policy_flags() {
    let emu =
        Binary::start(&["--ews", "off", "--ews-propagation-ms", "250", "--app-policy", "secret-lifetime=P4DT12H30M5S"]);
    let tid = emu.info["tenants"][0]["tenantId"].as_str().unwrap().to_string();
    let settings = emu.control("settings").await;
    let exchange = emu.control(&format!("tenants/{tid}/exchange")).await;
    let policy = emu.control(&format!("tenants/{tid}/appManagementPolicy")).await;
    drop(emu);
    assert_eq!(settings["ewsPropagationMs"], 250);
    assert_eq!((&exchange["ewsEnabled"], &exchange["ewsNullBlocked"]), (&json!(false), &json!(true)));
    assert_eq!(policy["isEnabled"], true);
    assert_eq!(policy["applicationRestrictions"]["passwordCredentials"][0]["maxLifetime"], "P4DT12H30M5S");

    let parse = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_kodo-emulator")).args(args).arg("--help").output().unwrap()
    };
    for ok in [
        ["--ews", "never-set"],
        ["--ews", "on-empty"],
        ["--ews", "on-listed"],
        ["--app-policy", "no-secrets"],
        ["--app-policy", "none"],
        ["--app-policy", "secret-lifetime=P90D"],
    ] {
        assert!(parse(&ok).status.success(), "{ok:?}");
    }
    for (bad, flag) in [
        (["--ews", "sometimes"], "--ews"),
        (["--app-policy", "secret-lifetime=P1Y"], "--app-policy"),
        (["--app-policy", "strict"], "--app-policy"),
        (["--ews-propagation-ms", "soon"], "--ews-propagation-ms"),
    ] {
        let out = parse(&bad);
        assert!(!out.status.success(), "{bad:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(flag), "{bad:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sharepoint_rest_basics_and_its_404() {
    let emu = start(1, 0, 0.0).await;
    let host = emu.tenant(0)["sharePointHost"].as_str().unwrap().to_string();
    let admin_host = emu.tenant(0)["sharePointAdminHost"].as_str().unwrap().to_string();
    // SharePoint takes app-only tokens from a certificate only.
    let t = emu.tenant(0).clone();
    let tid = emu.tid(0);
    let id = t["bootstrapClientId"].as_str().unwrap();
    let (der, key) = read_cert_and_key(t["bootstrapCertificate"].as_str().unwrap());
    let aud = format!("https://login.microsoftonline.com/{tid}/oauth2/v2.0/token");
    let mut tokens = Vec::new();
    for h in [&host, &admin_host] {
        let assertion = client_assertion(&der, &key, id, &aud, false, 600);
        let (s, b) = emu.assertion_token(&tid, id, &assertion, &format!("https://{h}/.default")).await;
        assert_eq!(s, 200, "{b}");
        tokens.push(b["access_token"].as_str().unwrap().to_string());
    }
    let (token, admin_token) = (tokens[0].clone(), tokens[1].clone());
    let port = emu.port();
    let host = format!("{host}:{port}");
    let admin_host = format!("{admin_host}:{port}");
    // contextinfo: a form digest, 0x + 128 upper-case hex digits and the issue time.
    let r = emu
        .client
        .post(format!("https://{admin_host}/_api/contextinfo"))
        .bearer_auth(&admin_token)
        .header("Accept", "application/json;odata=nometadata")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let b: Value = r.json().await.unwrap();
    let digest = b["FormDigestValue"].as_str().unwrap();
    let (hex, when) = digest.split_once(',').unwrap();
    assert!(
        hex.starts_with("0x")
            && hex.len() == 130
            && hex[2..].chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
    );
    assert!(when.ends_with(" -0000"));
    assert_eq!(b["FormDigestTimeoutSeconds"], 1800);
    let r = emu
        .client
        .post(format!("https://{admin_host}/_api/contextinfo"))
        .bearer_auth(&admin_token)
        .header("Accept", "application/json;odata=verbose")
        .send()
        .await
        .unwrap();
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["d"]["GetContextWebInformation"]["__metadata"]["type"], "SP.ContextWebInformation");
    // _api/site, and SharePoint's 404 for what is not modelled.
    let r = emu.client.get(format!("https://{host}/_api/site")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["Url"], format!("https://{}", host.split(':').next().unwrap()));
    assert_eq!(b["ServerRelativeUrl"], "/");
    let r = emu.client.get(format!("https://{host}/_api/foo")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["odata.error"]["code"], "-1, Microsoft.SharePoint.Client.ResourceNotFoundException");
    assert_eq!(b["odata.error"]["message"]["value"], "Cannot find resource for the request foo.");
    // /_api/SPO.Tenant on the admin host: the CSOM Tenant object's properties.
    let get = |h: &str, path: &str, token: &str, accept: &str| {
        emu.client
            .get(format!("https://{h}/_api/{path}"))
            .bearer_auth(token.to_string())
            .header("Accept", accept)
            .send()
    };
    let r = get(&admin_host, "SPO.Tenant", &admin_token, "application/json;odata=nometadata").await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let flat: Value = r.json().await.unwrap();
    assert_eq!(flat["DisableCustomAppAuthentication"], true);
    assert!(flat["SharingCapability"].is_number() && flat["LegacyAuthProtocolsEnabled"].is_boolean(), "{flat}");
    let r = get(&admin_host, "spo.tenant", &admin_token, "application/json;odata=verbose").await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let verbose: Value = r.json().await.unwrap();
    assert_eq!(verbose["d"]["__metadata"]["type"], "Microsoft.Online.SharePoint.TenantAdministration.Tenant");
    assert_eq!(verbose["d"]["SharingCapability"], flat["SharingCapability"]);
    // Administrators on the admin host only; its methods and writes are not implemented.
    let r = get(&host, "SPO.Tenant", &token, "application/json;odata=nometadata").await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = get(&admin_host, "SPO.Tenant/GetSitePropertiesFromSharePointByFilters", &admin_token, "application/json")
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 501);
    let r = emu
        .client
        .patch(format!("https://{admin_host}/_api/SPO.Tenant"))
        .bearer_auth(&admin_token)
        .json(&json!({ "SharingCapability": 0 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 501);
    let r = get(&admin_host, "SPO.Tenant", &admin_token, "application/json;odata=nometadata").await.unwrap();
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["SharingCapability"], flat["SharingCapability"], "the refused PATCH changed nothing");
}

/// Connections are kept alive (HTTP/1.1) and multiplexed (HTTP/2 when the client offers it
/// by ALPN), and the request log shows it: each entry names the client's end of its
/// connection and its HTTP version; a `$batch`'s items name the batch's `request-id`.
#[tokio::test]
async fn connections_are_reused_and_the_log_shows_it() {
    let emu = common::start(1, 0, 0.0).await;
    let token = emu.bootstrap_token(0, "https://graph.microsoft.com").await;
    let ca = std::fs::read(&emu.running.ca_certificate).unwrap();
    let graph = |client: &reqwest::Client, path: &str| {
        client.get(format!("{}/v1.0/{path}", emu.url())).bearer_auth(&token).send()
    };
    for (http1, version) in [(true, "HTTP/1.1"), (false, "HTTP/2.0")] {
        let mut builder =
            reqwest::Client::builder().tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()]).no_proxy();
        if http1 {
            builder = builder.http1_only();
        }
        let client = builder.build().unwrap();
        emu.control(reqwest::Method::DELETE, "requests", None).await;
        for path in ["organization", "applications?$top=1", "servicePrincipals?$top=1"] {
            let r = graph(&client, path).await.unwrap();
            assert_eq!(r.status(), 200);
            let _ = r.bytes().await.unwrap();
        }
        let log = emu.requests().await;
        assert_eq!(log.len(), 3, "{log:?}");
        let connections: std::collections::HashSet<&str> =
            log.iter().map(|e| e["connection"].as_str().expect("a connection")).collect();
        assert_eq!(connections.len(), 1, "three requests, one connection: {log:?}");
        assert!(log.iter().all(|e| e["version"] == version), "{log:?}");
        assert!(log.iter().all(|e| e["requestId"].as_str().is_some_and(|s| s.len() == 36)), "{log:?}");
        // A client that closes after each request shows a new connection each time.
        if http1 {
            emu.control(reqwest::Method::DELETE, "requests", None).await;
            for _ in 0..2 {
                let r = client
                    .get(format!("{}/v1.0/organization", emu.url()))
                    .bearer_auth(&token)
                    .header("Connection", "close")
                    .send()
                    .await
                    .unwrap();
                let _ = r.bytes().await.unwrap();
            }
            let log = emu.requests().await;
            assert_ne!(log[0]["connection"], log[1]["connection"], "{log:?}");
        }
    }
    // A batch's items name the batch's request-id, the one its response carries.
    emu.control(reqwest::Method::DELETE, "requests", None).await;
    let body = json!({ "requests": [
        { "id": "1", "method": "GET", "url": "/organization" },
        { "id": "2", "method": "GET", "url": "/applications?$top=1" },
    ]});
    let (status, _, headers) = emu.graph(&token, reqwest::Method::POST, "$batch", Some(body)).await;
    assert_eq!(status, 200);
    let batch_id = headers["request-id"].to_str().unwrap().to_string();
    let log = emu.requests().await;
    let items: Vec<&Value> = log.iter().filter(|e| e["batch"] == true).collect();
    assert_eq!(items.len(), 2, "{log:?}");
    assert!(items.iter().all(|e| e["requestId"] == batch_id.as_str() && e.get("connection").is_none()), "{log:?}");
    let outer: Vec<&Value> = log.iter().filter(|e| e["batch"] != true).collect();
    assert_eq!(outer.len(), 1);
    assert_eq!(outer[0]["requestId"], batch_id.as_str());
}

/// Graph's service time: once per request; a `$batch`'s items run concurrently unless
/// `dependsOn` orders them, so a batch is charged its longest chain, and the log shows it.
#[tokio::test]
async fn a_batch_is_charged_its_longest_depends_on_chain() {
    let emu = common::start(1, 0, 0.0).await;
    let token = emu.bootstrap_token(0, "https://graph.microsoft.com").await;
    let (s, v) = emu.control(Method::PATCH, "settings", Some(json!({ "serviceTimeMs": 150 }))).await;
    assert_eq!((s, &v["serviceTimeMs"]), (200, &json!(150)));
    assert_eq!(emu.control(Method::PATCH, "settings", Some(json!({ "serviceTimeMs": -1 }))).await.0, 400);
    emu.control(Method::DELETE, "requests", None).await;
    let (s, _, _) = emu.graph(&token, Method::GET, "organization", None).await;
    assert_eq!(s, 200);
    let independent = json!({ "requests": (1..=4).map(|i| json!({ "id": i.to_string(), "method": "GET", "url": "/organization" })).collect::<Vec<_>>() });
    let (s, _, _) = emu.graph(&token, Method::POST, "$batch", Some(independent)).await;
    assert_eq!(s, 200);
    let chained = json!({ "requests": [
        { "id": "1", "method": "GET", "url": "/organization" },
        { "id": "2", "method": "GET", "url": "/organization", "dependsOn": ["1"] },
        { "id": "3", "method": "GET", "url": "/organization", "dependsOn": ["2"] },
        { "id": "4", "method": "GET", "url": "/organization" },
    ]});
    let started = std::time::Instant::now();
    let (s, _, _) = emu.graph(&token, Method::POST, "$batch", Some(chained)).await;
    assert_eq!(s, 200);
    assert!(started.elapsed() >= Duration::from_millis(450), "{:?}", started.elapsed());
    let log = emu.requests().await;
    let charged: Vec<(String, u64)> = log
        .iter()
        .filter(|e| e["batch"] != true)
        .map(|e| (e["path"].as_str().unwrap().to_string(), e["serviceMs"].as_u64().unwrap_or(0)))
        .collect();
    assert_eq!(
        charged,
        [("/v1.0/organization".into(), 150), ("/v1.0/$batch".into(), 150), ("/v1.0/$batch".into(), 450)]
    );
    emu.control(Method::PATCH, "settings", Some(json!({ "serviceTimeMs": 0 }))).await;
}
