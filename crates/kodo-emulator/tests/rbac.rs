//! Users, administrative units and Exchange RBAC for Applications in the tenant emulator
//! (docs/exchange-rbac-research.md), driven over HTTPS.

mod common;

use common::*;
use kodo_emulator::world::EmulatorConfig;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const GRAPH: &str = "https://graph.microsoft.com";
const EXCHANGE: &str = "https://outlook.office365.com";
const EWS_ROLE: &str = "Application EWS.AccessAsApp";

/// Creates an app with a secret and its service principal; returns (appId, secret, SP id).
async fn make_app(emu: &Emu, token: &str, name: &str) -> (String, String, String) {
    let (s, app, _) = emu.graph(token, Method::POST, "applications", Some(json!({ "displayName": name }))).await;
    assert_eq!(s, 201, "{app}");
    let id = app["id"].as_str().unwrap();
    let app_id = app["appId"].as_str().unwrap().to_string();
    let body = json!({ "passwordCredential": { "displayName": "t" } });
    let (s, pw, _) = emu.graph(token, Method::POST, &format!("applications/{id}/addPassword"), Some(body)).await;
    assert_eq!(s, 200, "{pw}");
    let (s, sp, _) = emu.graph(token, Method::POST, "servicePrincipals", Some(json!({ "appId": app_id }))).await;
    assert_eq!(s, 201, "{sp}");
    (app_id, pw["secretText"].as_str().unwrap().to_string(), sp["id"].as_str().unwrap().to_string())
}

/// Assigns Graph app roles (by value) to the service principal `sp_id`.
async fn assign_graph_roles(emu: &Emu, admin: &str, sp_id: &str, roles: &[&str]) {
    let (s, graph, _) = emu
        .graph(
            admin,
            Method::GET,
            &format!("servicePrincipals(appId='{}')", "00000003-0000-0000-c000-000000000000"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    for r in roles {
        let role_id = graph["appRoles"].as_array().unwrap().iter().find(|x| x["value"] == *r).unwrap()["id"].clone();
        let body = json!({ "principalId": sp_id, "resourceId": graph["id"], "appRoleId": role_id });
        let (s, b, _) =
            emu.graph(admin, Method::POST, &format!("servicePrincipals/{sp_id}/appRoleAssignments"), Some(body)).await;
        assert_eq!(s, 201, "{b}");
    }
}

fn domain(emu: &Emu) -> String {
    emu.tenant(0)["initialDomain"].as_str().unwrap().to_string()
}

fn upns(v: &Value) -> Vec<String> {
    v["value"].as_array().unwrap().iter().map(|u| u["userPrincipalName"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn users_and_administrative_units_are_read_through_graph() {
    let emu = start(1, 0, 0.0).await;
    let admin = emu.bootstrap_token(0, GRAPH).await;
    let d = domain(&emu);
    let (app_id, secret, sp_id) = make_app(&emu, &admin, "Kodo directory reader").await;
    // User.Read.All alone does not read administrative units: 403.
    assign_graph_roles(&emu, &admin, &sp_id, &["User.Read.All"]).await;
    let token = emu.app_token(&app_id, &secret, GRAPH).await;
    let (s, b, _) = emu.graph(&token, Method::GET, "directory/administrativeUnits", None).await;
    assert_eq!((s, &b["error"]["code"]), (403, &json!("Authorization_RequestDenied")));
    assign_graph_roles(&emu, &admin, &sp_id, &["AdministrativeUnit.Read.All"]).await;
    let token = emu.app_token(&app_id, &secret, GRAPH).await;

    let (s, aus, _) = emu
        .graph(&token, Method::GET, "directory/administrativeUnits?$filter=displayName eq 'KODO backup pilot'", None)
        .await;
    assert_eq!(s, 200, "{aus}");
    assert_eq!(aus["@odata.context"], format!("{}/v1.0/$metadata#directory/administrativeUnits", emu.url()));
    let au = &aus["value"][0];
    assert_eq!(
        (&au["displayName"], &au["visibility"], &au["description"]),
        (&json!("KODO backup pilot"), &Value::Null, &Value::Null)
    );
    let au_id = au["id"].as_str().unwrap().to_string();
    let (s, one, _) = emu
        .graph(&token, Method::GET, &format!("directory/administrativeUnits/{au_id}?$select=id,displayName"), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(one.as_object().unwrap().len(), 3, "{one}");

    let (s, members, _) =
        emu.graph(&token, Method::GET, &format!("directory/administrativeUnits/{au_id}/members"), None).await;
    assert_eq!(s, 200, "{members}");
    assert_eq!(members["@odata.context"], format!("{}/v1.0/$metadata#directoryObjects", emu.url()));
    assert_eq!(upns(&members), [format!("adelev@{d}"), format!("alexw@{d}")]);
    assert_eq!(members["value"][0]["@odata.type"], "#microsoft.graph.user");
    assert_eq!(members["value"][0]["mail"], format!("adelev@{d}"));
    assert_eq!(members["value"][0]["displayName"], "Adele Vance");

    // The cast, $select (the @odata.type stays) and paging.
    let path = format!(
        "directory/administrativeUnits/{au_id}/members/microsoft.graph.user?$select=id,userPrincipalName,mail&$top=1"
    );
    let (s, page, _) = emu.graph(&token, Method::GET, &path, None).await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["value"][0].as_object().unwrap().len(), 4, "{page}");
    let next = page["@odata.nextLink"].as_str().unwrap().to_string();
    let (s, page2, _) = emu.graph(&token, Method::GET, next.split("/v1.0/").nth(1).unwrap(), None).await;
    assert_eq!(s, 200);
    assert_eq!(upns(&page2), [format!("alexw@{d}")]);
    assert!(page2.get("@odata.nextLink").is_none());

    // Errors: unknown AU, an unknown segment, a write.
    let (s, b, _) = emu
        .graph(&token, Method::GET, "directory/administrativeUnits/00000000-0000-0000-0000-000000000001", None)
        .await;
    assert_eq!((s, &b["error"]["code"]), (404, &json!("Request_ResourceNotFound")));
    let (s, b, _) =
        emu.graph(&token, Method::GET, &format!("directory/administrativeUnits/{au_id}/owners"), None).await;
    assert_eq!((s, &b["error"]["message"]), (400, &json!("Resource not found for the segment 'owners'.")));
    let (s, _, _) = emu.graph(&token, Method::POST, "directory/administrativeUnits", Some(json!({}))).await;
    assert_eq!(s, 405);

    // Users: the admin and the five personas; by UPN, by id, by filter.
    let (s, all, _) = emu.graph(&token, Method::GET, "users", None).await;
    assert_eq!(s, 200);
    assert_eq!(upns(&all).len(), 6);
    let (s, u, _) = emu.graph(&token, Method::GET, &format!("users/meganb@{d}"), None).await;
    assert_eq!((s, &u["displayName"]), (200, &json!("Megan Bowen")));
    let (s, u2, _) =
        emu.graph(&token, Method::GET, &format!("users/{}?$select=mail", u["id"].as_str().unwrap()), None).await;
    assert_eq!((s, &u2["mail"]), (200, &json!(format!("meganb@{d}"))));
    let (s, f, _) =
        emu.graph(&token, Method::GET, &format!("users?$filter=userPrincipalName eq 'LeeG@{d}'"), None).await;
    assert_eq!((s, upns(&f)), (200, vec![format!("leeg@{d}")]));
    let (s, b, _) = emu.graph(&token, Method::GET, &format!("users/nobody@{d}"), None).await;
    assert_eq!((s, &b["error"]["code"]), (404, &json!("Request_ResourceNotFound")));

    // The control API adds users and AUs; Graph sees them.
    let path = format!("tenants/{d}/users");
    let (s, v) = emu
        .control(
            Method::POST,
            &path,
            Some(json!({ "userPrincipalName": format!("pradeepg@{d}"), "displayName": "Pradeep Gupta" })),
        )
        .await;
    assert_eq!((s, &v["mail"]), (201, &json!(format!("pradeepg@{d}"))), "{v}");
    let (s, _) = emu
        .control(
            Method::POST,
            &path,
            Some(json!({ "userPrincipalName": format!("pradeepg@{d}"), "displayName": "Again" })),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = emu
        .control(Method::POST, &path, Some(json!({ "userPrincipalName": "x@contoso.com", "displayName": "X" })))
        .await;
    assert_eq!(s, 400);
    let path = format!("tenants/{}/administrativeUnits", emu.tid(0));
    let (s, v) = emu
        .control(Method::POST, &path, Some(json!({ "displayName": "Hidden", "members": [format!("pradeepg@{d}")], "visibility": "HiddenMembership" })))
        .await;
    assert_eq!((s, &v["members"]), (201, &json!([format!("pradeepg@{d}")])), "{v}");
    let (s, _) = emu
        .control(Method::POST, &path, Some(json!({ "displayName": "Bad", "members": [format!("ghost@{d}")] })))
        .await;
    assert_eq!(s, 400);
    let (s, dir) = emu.control(Method::GET, &format!("tenants/{d}/directory"), None).await;
    assert_eq!(s, 200);
    assert_eq!(dir["users"].as_array().unwrap().len(), 7);
    assert_eq!(dir["administrativeUnits"][0]["members"], json!([format!("adelev@{d}"), format!("alexw@{d}")]));
    // Hidden membership needs Member.Read.Hidden as well.
    let hidden = v["id"].as_str().unwrap();
    let (s, _, _) =
        emu.graph(&token, Method::GET, &format!("directory/administrativeUnits/{hidden}/members"), None).await;
    assert_eq!(s, 403);
}

/// The body of an InvokeCommand answer as JSON.
fn body(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread")]
async fn rbac_for_applications_scopes_ews_to_an_administrative_unit() {
    let emu = start_with(EmulatorConfig::default()).await;
    let admin = emu.bootstrap_token(0, GRAPH).await;
    let exo = emu.bootstrap_token(0, EXCHANGE).await;
    let tid = emu.tid(0);
    let d = domain(&emu);
    let (app_id, secret, sp_id) = make_app(&emu, &admin, "KODO for Cloud").await;
    let (_, dir) = emu.control(Method::GET, &format!("tenants/{d}/directory"), None).await;
    let au_id = dir["administrativeUnits"][0]["id"].as_str().unwrap().to_string();

    // The pointer: the appId as ObjectId is refused, then the right one is made once.
    let (s, b, _) =
        emu.invoke(&exo, &tid, "New-ServicePrincipal", json!({ "AppId": app_id, "ObjectId": app_id })).await;
    assert_eq!(s, 400);
    assert!(String::from_utf8_lossy(&b).contains("AADServicePrincipalNotFound"), "{}", String::from_utf8_lossy(&b));
    let (s, b, _) = emu.invoke(&exo, &tid, "New-ServicePrincipal", json!({ "AppId": app_id })).await;
    assert_eq!(s, 400);
    assert!(String::from_utf8_lossy(&b).contains("missing mandatory parameters: ObjectId"));
    let new_sp = json!({ "AppId": app_id, "ObjectId": sp_id, "DisplayName": "KODO for Cloud" });
    let (s, b, _) = emu.invoke(&exo, &tid, "New-ServicePrincipal", new_sp.clone()).await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
    let row = &body(&b)["value"][0];
    assert_eq!(
        (&row["AppId"], &row["ObjectId"], &row["DisplayName"]),
        (&json!(app_id), &json!(sp_id), &json!("KODO for Cloud"))
    );
    let (s, b, _) = emu.invoke(&exo, &tid, "New-ServicePrincipal", new_sp).await;
    assert_eq!(s, 400);
    assert!(String::from_utf8_lossy(&b).contains("already exist"));
    // A non-existent Identity returns all pointers (OPS caution).
    let (s, b, _) = emu.invoke(&exo, &tid, "Get-ServicePrincipal", json!({ "Identity": "nope" })).await;
    assert_eq!((s, body(&b)["value"].as_array().unwrap().len()), (200, 1));
    let (_, b, _) = emu.invoke(&exo, &tid, "get-serviceprincipal", json!({ "identity": app_id })).await;
    assert_eq!(body(&b)["value"][0]["ObjectId"], sp_id);

    // The assignment, scoped to the AU, with a propagation delay for EWS.
    let (s, v) = emu.control(Method::PATCH, "settings", Some(json!({ "rbacPropagationMs": 1500 }))).await;
    assert_eq!((s, &v["rbacPropagationMs"]), (200, &json!(1500)));
    let new_ra = json!({ "Name": "KODO-EWS", "Role": "application ews.accessasapp", "App": app_id, "RecipientAdministrativeUnitScope": au_id });
    let (s, b, _) = emu.invoke(&exo, &tid, "New-ManagementRoleAssignment", new_ra.clone()).await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
    let row = &body(&b)["value"][0];
    assert_eq!(
        (
            &row["Name"],
            &row["Role"],
            &row["RoleAssignee"],
            &row["RoleAssigneeType"],
            &row["CustomResourceScope"],
            &row["RecipientWriteScope"]
        ),
        (
            &json!("KODO-EWS"),
            &json!(EWS_ROLE),
            &json!(sp_id),
            &json!("ServicePrincipal"),
            &json!(au_id),
            &json!("AdministrativeUnit")
        )
    );
    let (s, b, _) = emu.invoke(&exo, &tid, "New-ManagementRoleAssignment", new_ra).await;
    assert_eq!(s, 400);
    assert!(String::from_utf8_lossy(&b).contains("already exists"));
    // Unknown role and AU: the not-found error.
    for params in [
        json!({ "Role": "Application Mail.Foo", "App": app_id }),
        json!({ "Role": EWS_ROLE, "App": app_id, "RecipientAdministrativeUnitScope": "00000000-0000-0000-0000-000000000001" }),
        json!({ "Role": EWS_ROLE, "App": "no such app" }),
    ] {
        let (s, b, _) = emu.invoke(&exo, &tid, "New-ManagementRoleAssignment", params).await;
        assert_eq!(s, 404);
        let e = body(&b);
        assert_eq!(e["error"]["code"], "NotFound");
        assert!(
            e["error"]["details"][0]["message"]
                .as_str()
                .unwrap()
                .contains("ManagementObjectNotFoundException|The operation couldn't be performed because object '")
        );
    }

    // Get-ManagementRoleAssignment has no -App; -RoleAssignee works.
    let (s, b, _) = emu.invoke(&exo, &tid, "Get-ManagementRoleAssignment", json!({ "App": app_id })).await;
    assert_eq!(s, 400);
    assert!(
        body(&b)["error"]["details"][0]["message"]
            .as_str()
            .unwrap()
            .ends_with("Parameter set cannot be resolved using the specified named parameters. Invalid cmdlet parameters specified. App")
    );
    let (s, b, _) = emu
        .invoke(
            &exo,
            &tid,
            "Get-ManagementRoleAssignment",
            json!({ "RoleAssignee": sp_id, "RoleAssigneeType": "ServicePrincipal" }),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(body(&b)["value"][0]["Name"], "KODO-EWS");

    // Test-ServicePrincipalAuthorization bypasses the cache.
    let test = |resource: Option<String>| {
        let mut p = json!({ "Identity": app_id });
        if let Some(r) = resource {
            p["Resource"] = r.into();
        }
        p
    };
    for (resource, expected) in
        [(Some(format!("adelev@{d}")), "True"), (Some(format!("MeganB@{d}")), "False"), (None, "Not Run")]
    {
        let (s, b, _) = emu.invoke(&exo, &tid, "Test-ServicePrincipalAuthorization", test(resource)).await;
        assert_eq!(s, 200);
        let row = &body(&b)["value"][0];
        assert_eq!(
            (
                &row["RoleName"],
                &row["GrantedPermissions"],
                &row["AllowedResourceScope"],
                &row["ScopeType"],
                &row["InScope"]
            ),
            (
                &json!(EWS_ROLE),
                &json!("EWS.AccessAsApp"),
                &json!(au_id),
                &json!("AdministrativeUnit"),
                &json!(expected)
            )
        );
    }

    // EWS, as the app without full_access_as_app (the allow list admits it): only after the
    // propagation delay, only AU members.
    let path = format!("tenants/{d}/exchange");
    let patch = json!({ "ewsAllowedAppIDs": [app_id], "effectiveNow": true });
    assert_eq!(emu.control(Method::PATCH, &path, Some(patch)).await.0, 200);
    let token = emu.app_token(&app_id, &secret, EXCHANGE).await;
    assert!(claims_of(&token).get("roles").is_none());
    let adele = format!("adelev@{d}");
    let megan = format!("meganb@{d}");
    assert_eq!(emu.ews_get_folder(&token, Some(&adele), "Kodo/1.0").await.0, 403);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let (s, body_xml, _) = emu.ews_get_folder(&token, Some(&adele), "Kodo/1.0").await;
    assert_eq!(s, 200, "{body_xml}");
    let (s, body_xml, h) = emu.ews_get_folder(&token, Some(&megan), "Kodo/1.0").await;
    assert_eq!((s, body_xml.as_str()), (403, ""));
    assert!(h.get("x-ews-policy-reason").is_none());

    // The control view shows the pointer and the assignment.
    let (_, v) = emu.control(Method::GET, &path, None).await;
    assert_eq!(v["servicePrincipals"][0]["objectId"], sp_id);
    assert_eq!(
        v["roleAssignments"],
        json!([{ "name": "KODO-EWS", "role": EWS_ROLE, "assignee": sp_id, "auScope": au_id }])
    );

    // Re-scoped to the organization: Megan after the delay again.
    let (s, _, _) = emu
        .invoke(
            &exo,
            &tid,
            "Set-ManagementRoleAssignment",
            json!({ "Identity": "KODO-EWS", "RecipientAdministrativeUnitScope": null }),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(emu.ews_get_folder(&token, Some(&megan), "Kodo/1.0").await.0, 403);
    let (s, _) = emu.control(Method::PATCH, "settings", Some(json!({ "rbacPropagationMs": 0 }))).await;
    assert_eq!(s, 200);
    assert_eq!(emu.ews_get_folder(&token, Some(&megan), "Kodo/1.0").await.0, 200);

    // Removed: refused again; an unknown one is not found.
    let (s, b, _) = emu
        .invoke(&exo, &tid, "Remove-ManagementRoleAssignment", json!({ "Identity": "KODO-EWS", "Confirm": false }))
        .await;
    assert_eq!((s, &body(&b)["value"]), (200, &json!([])));
    assert_eq!(emu.ews_get_folder(&token, Some(&adele), "Kodo/1.0").await.0, 403);
    let (s, _, _) = emu.invoke(&exo, &tid, "Remove-ManagementRoleAssignment", json!({ "Identity": "KODO-EWS" })).await;
    assert_eq!(s, 404);

    // Two unnamed identical assignments are allowed; their name is <Role>-<SP id> cut to 64.
    for _ in 0..2 {
        let (s, b, _) = emu
            .invoke(
                &exo,
                &tid,
                "New-ManagementRoleAssignment",
                json!({ "Role": "Application Mail.Read", "App": sp_id }),
            )
            .await;
        assert_eq!(s, 200);
        let name = body(&b)["value"][0]["Name"].as_str().unwrap().to_string();
        assert_eq!(name, format!("Application Mail.Read-{sp_id}").chars().take(64).collect::<String>());
    }

    // Deleting the Entra service principal removes the pointer and its assignments.
    let (s, _, _) = emu.graph(&admin, Method::DELETE, &format!("servicePrincipals/{sp_id}"), None).await;
    assert_eq!(s, 204);
    let (_, b, _) = emu.invoke(&exo, &tid, "Get-ServicePrincipal", json!({})).await;
    assert_eq!(body(&b)["value"], json!([]));
    let (_, b, _) = emu.invoke(&exo, &tid, "Get-ManagementRoleAssignment", json!({})).await;
    assert_eq!(body(&b)["value"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn full_access_as_app_reaches_every_mailbox_regardless_of_rbac_scope() {
    // The Entra role and the RBAC grant are a union (research §1.2): a seeded EWS app holding
    // full_access_as_app, given a scoped RBAC assignment too, still reaches MeganB.
    let emu = start(1, 0, 0.0).await;
    let admin = emu.bootstrap_token(0, GRAPH).await;
    let exo = emu.bootstrap_token(0, EXCHANGE).await;
    let (tid, d) = (emu.tid(0), domain(&emu));
    let (_, apps, _) =
        emu.graph(&admin, Method::GET, "applications?$filter=displayName eq 'Mail archiver (EWS)'", None).await;
    let (id, app_id) = (apps["value"][0]["id"].as_str().unwrap(), apps["value"][0]["appId"].as_str().unwrap());
    let (_, pw, _) = emu
        .graph(
            &admin,
            Method::POST,
            &format!("applications/{id}/addPassword"),
            Some(json!({ "passwordCredential": {} })),
        )
        .await;
    let token = emu.app_token(app_id, pw["secretText"].as_str().unwrap(), EXCHANGE).await;
    let (_, sp, _) = emu.graph(&admin, Method::GET, &format!("servicePrincipals(appId='{app_id}')"), None).await;
    let (s, _, _) =
        emu.invoke(&exo, &tid, "New-ServicePrincipal", json!({ "AppId": app_id, "ObjectId": sp["id"] })).await;
    assert_eq!(s, 200);
    let (_, dir) = emu.control(Method::GET, &format!("tenants/{d}/directory"), None).await;
    let au = dir["administrativeUnits"][0]["id"].clone();
    let (s, _, _) = emu
        .invoke(
            &exo,
            &tid,
            "New-ManagementRoleAssignment",
            json!({ "Role": EWS_ROLE, "App": app_id, "RecipientAdministrativeUnitScope": au }),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(emu.ews_get_folder(&token, Some(&format!("meganb@{d}")), "Kodo/1.0").await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_takes_rbac_propagation_ms() {
    let bin = Binary::start(&["--rbac-propagation-ms", "2500"]);
    let settings = bin.control("settings").await;
    assert_eq!(settings["rbacPropagationMs"], 2500);
    let tenant = bin.info["tenants"][0]["initialDomain"].as_str().unwrap().to_string();
    let dir = bin.control(&format!("tenants/{tenant}/directory")).await;
    assert_eq!(dir["administrativeUnits"][0]["displayName"], "KODO backup pilot");
    let ex = bin.control(&format!("tenants/{tenant}/exchange")).await;
    assert_eq!((&ex["servicePrincipals"], &ex["roleAssignments"]), (&json!([]), &json!([])));
}
