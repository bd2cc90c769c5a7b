//! GDAP sign-in: a partner tenant's admin redeems its refresh token at a customer tenant's
//! authority (as CIPP does) and gets a token there only under an active, unexpired GDAP
//! relationship, with the relationship's roles as `wids`; Graph writes in the customer tenant
//! check those roles (facts.md §3.1).

mod common;

use common::*;
use kodo_emulator::world::EmulatorConfig;
use reqwest::Method;
use serde_json::{Value, json};

const GRAPH: &str = "00000003-0000-0000-c000-000000000000";
/// Microsoft Graph Command Line Tools (the first-party public client Kodo signs in with).
const CLI: &str = "14d82eec-204b-4c2f-b7e8-296a70dab67e";
const PRA: &str = "e8611ab8-c189-46e8-94e1-60213ab1f814";
const APP_ADMIN: &str = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3";
const CLOUD_APP_ADMIN: &str = "158c047a-c907-4556-b7ef-446551a6b5f7";
const SCOPES: &str = "https://graph.microsoft.com/Application.ReadWrite.All https://graph.microsoft.com/AppRoleAssignment.ReadWrite.All offline_access";

fn aadsts(b: &Value) -> u64 {
    b["error_codes"][0].as_u64().unwrap_or(0)
}

/// The partner admin's refresh token (device code in tenant 0, auto-approved).
async fn partner_refresh(emu: &Emu) -> String {
    let tid = emu.tid(0);
    let r: Value = emu.device_code_start(&tid, CLI, SCOPES).await;
    let dc = r["device_code"].as_str().unwrap();
    let (s, b) = emu
        .token_request(
            &tid,
            &[("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), ("client_id", CLI), ("device_code", dc)],
        )
        .await;
    assert_eq!(s, 200, "{b}");
    b["refresh_token"].as_str().unwrap().to_string()
}

async fn at_customer(emu: &Emu, customer: usize, refresh: &str) -> (u16, Value) {
    emu.token_request(
        &emu.tid(customer),
        &[("grant_type", "refresh_token"), ("client_id", CLI), ("refresh_token", refresh), ("scope", SCOPES)],
    )
    .await
}

async fn relate(emu: &Emu, customer: usize, roles: &[&str], end: Option<&str>) {
    let mut body = json!({ "customerTenantId": emu.tid(customer), "roleDefinitionIds": roles });
    if let Some(e) = end {
        body["endDateTime"] = e.into();
    }
    let (s, b) =
        emu.control(Method::POST, &format!("tenants/{}/delegatedAdminRelationships", emu.tid(0)), Some(body)).await;
    assert!(s == 200 || s == 201, "{s} {b}");
}

#[tokio::test(flavor = "multi_thread")]
async fn partner_admin_signs_in_to_a_customer_only_under_gdap_with_its_roles() {
    let emu = start_with(EmulatorConfig { tenants: 5, auto_approve_device_codes: true, ..Default::default() }).await;
    relate(&emu, 1, &[PRA, APP_ADMIN], None).await;
    relate(&emu, 2, &[PRA, APP_ADMIN], Some("2026-01-01T00:00:00Z")).await;
    relate(&emu, 3, &[CLOUD_APP_ADMIN], None).await;
    let rt = partner_refresh(&emu).await;

    // No relationship (tenant 4) and an expired one (tenant 2): AADSTS50020.
    for customer in [4, 2] {
        let (s, b) = at_customer(&emu, customer, &rt).await;
        assert_eq!((s, aadsts(&b)), (400, 50020), "{b}");
        let text = b["error_description"].as_str().unwrap();
        assert!(text.contains("does not exist in tenant"), "{text}");
        assert!(text.contains(&emu.tid(0)), "{text}");
    }

    // Active: a token for the customer tenant, the partner's admin, the relationship's roles.
    let (s, b) = at_customer(&emu, 1, &rt).await;
    assert_eq!(s, 200, "{b}");
    let token = b["access_token"].as_str().unwrap().to_string();
    let c = claims_of(&token);
    assert_eq!(c["tid"], emu.tid(1).as_str());
    assert_eq!(c["idtyp"], "user");
    let mut wids: Vec<String> = c["wids"].as_array().unwrap().iter().map(|w| w.as_str().unwrap().to_string()).collect();
    wids.sort();
    assert_eq!(wids, vec![APP_ADMIN.to_string(), PRA.to_string()]);
    // Its new refresh token stays the partner's: redeemed again at the customer, still GDAP.
    let rt2 = b["refresh_token"].as_str().unwrap().to_string();
    let (s, b) = at_customer(&emu, 1, &rt2).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(claims_of(b["access_token"].as_str().unwrap())["wids"].as_array().unwrap().len(), 2);

    // A provider multi-tenant app: its service principal and a Graph app role in the customer.
    let boot = emu.bootstrap_token(0, "https://graph.microsoft.com").await;
    let body = json!({ "displayName": "KODO multi-tenant", "signInAudience": "AzureADMultipleOrgs" });
    let (s, app, _) = emu.graph(&boot, Method::POST, "applications", Some(body)).await;
    assert_eq!(s, 201, "{app}");
    let app_id = app["appId"].as_str().unwrap();
    let (s, sp, _) = emu.graph(&token, Method::POST, "servicePrincipals", Some(json!({ "appId": app_id }))).await;
    assert_eq!(s, 201, "{sp}");
    assert_eq!(sp["appOwnerOrganizationId"], emu.tid(0).as_str());
    let (_, graph_sp, _) = emu.graph(&token, Method::GET, &format!("servicePrincipals(appId='{GRAPH}')"), None).await;
    let role =
        graph_sp["appRoles"].as_array().unwrap().iter().find(|r| r["value"] == "User.Read.All").unwrap()["id"].clone();
    let assign = json!({ "principalId": sp["id"], "resourceId": graph_sp["id"], "appRoleId": role });
    let path = format!("servicePrincipals/{}/appRoleAssignedTo", graph_sp["id"].as_str().unwrap());
    let (s, b, _) = emu.graph(&token, Method::POST, &path, Some(assign.clone())).await;
    assert_eq!(s, 201, "{b}");

    // Cloud Application Administrator only (tenant 3): the service principal yes, a Microsoft
    // Graph app role no (Privileged Role Administrator needed, facts.md §3.1).
    let (s, b) = at_customer(&emu, 3, &rt).await;
    assert_eq!(s, 200, "{b}");
    let weak = b["access_token"].as_str().unwrap().to_string();
    let (s, sp3, _) = emu.graph(&weak, Method::POST, "servicePrincipals", Some(json!({ "appId": app_id }))).await;
    assert_eq!(s, 201, "{sp3}");
    let (_, graph3, _) = emu.graph(&weak, Method::GET, &format!("servicePrincipals(appId='{GRAPH}')"), None).await;
    let assign = json!({ "principalId": sp3["id"], "resourceId": graph3["id"], "appRoleId": role });
    let path = format!("servicePrincipals/{}/appRoleAssignedTo", graph3["id"].as_str().unwrap());
    let (s, b, _) = emu.graph(&weak, Method::POST, &path, Some(assign)).await;
    assert_eq!((s, b["error"]["code"].as_str()), (403, Some("Authorization_RequestDenied")), "{b}");
}
