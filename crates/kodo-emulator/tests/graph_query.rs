//! Graph's query options on directory objects in the emulator: what Graph supports works, with
//! and without `ConsistencyLevel: eventual` as Graph requires, and everything else is refused
//! with Graph's error (docs/graph-query-research.md), never answered with unfiltered data.

mod common;

use common::*;
use reqwest::Method;
use serde_json::Value;

const GRAPH: &str = "https://graph.microsoft.com";

async fn get(emu: &Emu, token: &str, path: &str, eventual: bool) -> (u16, Value) {
    let mut req = emu.client.get(format!("{}/v1.0/{path}", emu.url())).bearer_auth(token);
    if eventual {
        req = req.header("ConsistencyLevel", "eventual");
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn names(b: &Value) -> Vec<String> {
    b["value"].as_array().unwrap().iter().map(|v| v["displayName"].as_str().unwrap_or("").to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn what_graph_supports_works() {
    let emu = start(1, 0, 0.0).await;
    let admin = emu.bootstrap_token(0, GRAPH).await;
    // The myorganization alias is the token's tenant.
    let (s, a) = get(&emu, &admin, "myorganization/applications?$select=id,displayName", false).await;
    let (_, b) = get(&emu, &admin, "applications?$select=id,displayName", false).await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(names(&a), names(&b));
    // eq, startswith, in, any, or, and: without advanced query.
    for (filter, expect) in [
        ("startswith(displayName,'Kodo emulator')", 1),
        ("displayName eq 'Kodo emulator bootstrap admin' or displayName eq 'nothing'", 1),
        ("displayName in ('Kodo emulator bootstrap admin', 'nothing')", 1),
        ("signInAudience eq 'AzureADMyOrg' and startswith(displayName,'Kodo')", 1),
        ("identifierUris/any(x:startswith(x,'api://'))", 0),
    ] {
        let (s, b) = get(&emu, &admin, &format!("applications?$filter={filter}"), false).await;
        assert_eq!(s, 200, "{filter}: {b}");
        assert_eq!(b["value"].as_array().unwrap().len(), expect, "{filter}");
    }
    // Advanced queries with ConsistencyLevel: eventual.
    let (s, b) = get(&emu, &admin, "applications?$filter=displayName ne 'x'&$count=true", true).await;
    assert_eq!(s, 200, "{b}");
    let all = b["value"].as_array().unwrap().len();
    assert_eq!(b["@odata.count"].as_u64(), Some(all as u64));
    let (s, b) = get(&emu, &admin, "applications?$orderby=displayName desc&$select=displayName", true).await;
    assert_eq!(s, 200, "{b}");
    let mut sorted = names(&b);
    sorted.sort_by_key(|n| std::cmp::Reverse(n.to_ascii_lowercase()));
    assert_eq!(names(&b), sorted);
    let (s, b) = get(&emu, &admin, "applications?$search=\"displayName:bootstrap\"", true).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(names(&b), vec!["Kodo emulator bootstrap admin".to_string()]);
    // An application's description: filterable as an advanced query only.
    let (s, _) = get(&emu, &admin, "applications?$filter=description eq 'x'&$count=true", true).await;
    assert_eq!(s, 200);
    // `/applications/$count`: a plain number, with ConsistencyLevel only.
    let r = emu
        .client
        .get(format!("{}/v1.0/applications/$count", emu.url()))
        .bearer_auth(&admin)
        .header("ConsistencyLevel", "eventual")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert_eq!(r.text().await.unwrap().parse::<usize>().unwrap(), all);
    let (s, b) = get(&emu, &admin, "applications/$count", false).await;
    assert_eq!((s, b["error"]["message"].as_str()), (400, Some("$count is not currently supported.")));
    // A collection-valued property on its own (§12).
    let id = b_id(&emu, &admin).await;
    let (s, b) = get(&emu, &admin, &format!("applications/{id}/requiredResourceAccess"), false).await;
    assert_eq!(s, 200, "{b}");
    assert!(b["value"].is_array());
    assert!(
        b["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with(&format!("$metadata#applications('{id}')/requiredResourceAccess"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn expand_carries_the_relationships_the_emulator_models() {
    let emu = start(1, 0, 0.0).await;
    let admin = emu.bootstrap_token(0, GRAPH).await;
    let (s, app, _) =
        emu.graph(&admin, Method::POST, "applications", Some(serde_json::json!({ "displayName": "expand me" }))).await;
    assert_eq!(s, 201);
    let id = app["id"].as_str().unwrap();
    // The app-only creator (the bootstrap app's service principal) owns it; $select keeps it.
    let (s, b) = get(&emu, &admin, &format!("applications/{id}?$select=id&$expand=owners"), false).await;
    assert_eq!(s, 200, "{b}");
    let owners = b["owners"].as_array().unwrap();
    assert_eq!(owners.len(), 1);
    assert_eq!(owners[0]["@odata.type"], "#microsoft.graph.servicePrincipal");
    assert_eq!(owners[0]["appId"], emu.tenant(0)["bootstrapClientId"]);
    // A service principal's app role assignments: the bootstrap app holds Graph roles.
    let boot = emu.tenant(0)["bootstrapClientId"].as_str().unwrap().to_string();
    let (s, b) =
        get(&emu, &admin, &format!("servicePrincipals?$filter=appId eq '{boot}'&$expand=appRoleAssignments"), false)
            .await;
    assert_eq!(s, 200, "{b}");
    assert!(!b["value"][0]["appRoleAssignments"].as_array().unwrap().is_empty());
    let (s, b) = get(
        &emu,
        &admin,
        "servicePrincipals(appId='00000003-0000-0000-c000-000000000000')?$expand=appRoleAssignedTo",
        false,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert!(b["appRoleAssignedTo"].as_array().unwrap().iter().any(|a| a["principalDisplayName"].is_string()));
    // Its delegated grants as a client: the same as oauth2PermissionGrants filtered on clientId.
    let (_, boot_sp) = get(&emu, &admin, &format!("servicePrincipals(appId='{boot}')?$select=id"), false).await;
    let (_, graph_sp) =
        get(&emu, &admin, "servicePrincipals(appId='00000003-0000-0000-c000-000000000000')?$select=id", false).await;
    let grant = serde_json::json!({ "clientId": boot_sp["id"], "consentType": "AllPrincipals", "resourceId": graph_sp["id"], "scope": "User.Read" });
    let (s, b, _) = emu.graph(&admin, Method::POST, "oauth2PermissionGrants", Some(grant)).await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = get(
        &emu,
        &admin,
        &format!("servicePrincipals?$filter=appId eq '{boot}'&$expand=oauth2PermissionGrants"),
        false,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let sp = &b["value"][0];
    let expanded: Vec<&str> =
        sp["oauth2PermissionGrants"].as_array().unwrap().iter().map(|g| g["id"].as_str().unwrap()).collect();
    let (_, grants) = get(
        &emu,
        &admin,
        &format!("oauth2PermissionGrants?$filter=clientId eq '{}'", sp["id"].as_str().unwrap()),
        false,
    )
    .await;
    let listed: Vec<&str> = grants["value"].as_array().unwrap().iter().map(|g| g["id"].as_str().unwrap()).collect();
    assert!(!listed.is_empty());
    assert_eq!(expanded, listed);
}

async fn b_id(emu: &Emu, admin: &str) -> String {
    let (_, b) =
        get(emu, admin, "applications?$filter=startswith(displayName,'Kodo emulator')&$select=id", false).await;
    b["value"][0]["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn what_graph_refuses_is_refused_with_its_error() {
    let emu = start(1, 0, 0.0).await;
    let admin = emu.bootstrap_token(0, GRAPH).await;
    for (path, eventual, status, code) in [
        ("applications?$filter=notes eq 'x'", false, 400, "Request_UnsupportedQuery"),
        ("applications?$filter=tags eq 'x'", false, 400, "Request_UnsupportedQuery"),
        ("applications?$filter=displayName ne 'x'", false, 400, "Request_UnsupportedQuery"),
        ("applications?$filter=not(displayName eq 'x')", false, 400, "Request_UnsupportedQuery"),
        ("applications?$filter=endswith(displayName,'x')", false, 400, "Request_UnsupportedQuery"),
        ("applications?$filter=displayName eq", false, 400, "BadRequest"),
        ("applications?$search=\"displayName:x\"", false, 400, "Request_UnsupportedQuery"),
        ("applications?$orderby=displayName", false, 400, "Request_UnsupportedQuery"),
        ("applications?$top=1000", false, 400, "Request_UnsupportedQuery"),
        ("applications?$top=0", false, 400, "Request_UnsupportedQuery"),
        ("applications?$skip=2", false, 400, "Request_BadRequest"),
        ("applications?$foo=1", false, 400, "BadRequest"),
        ("users?$filter=jobTitle eq 'x'", false, 400, "Request_UnsupportedQuery"),
        ("servicePrincipals?$filter=notes eq 'x'", false, 400, "Request_UnsupportedQuery"),
        // Supported by Graph, not implemented here: refused loudly, never ignored.
        ("servicePrincipals?$expand=owners", false, 501, "NotImplemented"),
        ("applications?$expand=owners($select=id)", false, 501, "NotImplemented"),
        // A property the type does not have: Graph's 400.
        ("applications?$expand=passwordCredentials", false, 400, "BadRequest"),
    ] {
        let (s, b) = get(&emu, &admin, path, eventual).await;
        assert_eq!((s, b["error"]["code"].as_str()), (status, Some(code)), "{path}: {b}");
        assert!(b["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{path}");
    }
    // Its text names the property and Graph's type (msgraph-sdk-powershell#2103's form).
    for (path, text) in [
        (
            "applications?$expand=passwordCredentials",
            "Parsing OData Select and Expand failed: Could not find a property named 'passwordCredentials' on type 'microsoft.graph.application'.",
        ),
        (
            "servicePrincipals?$expand=appRoleAssignments,nope",
            "Parsing OData Select and Expand failed: Could not find a property named 'nope' on type 'microsoft.graph.servicePrincipal'.",
        ),
        (
            "oauth2PermissionGrants?$expand=clientId",
            "Parsing OData Select and Expand failed: Could not find a property named 'clientId' on type 'microsoft.graph.oAuth2PermissionGrant'.",
        ),
    ] {
        let (s, b) = get(&emu, &admin, path, false).await;
        assert_eq!((s, b["error"]["message"].as_str()), (400, Some(text)), "{path}: {b}");
    }
    // Graph's texts (docs/graph-query-research.md).
    let (_, b) = get(&emu, &admin, "applications?$filter=notes eq 'x'", false).await;
    assert_eq!(
        b["error"]["message"],
        "Unsupported or invalid query filter clause specified for property 'notes' of resource 'Application'."
    );
    let (_, b) = get(&emu, &admin, "applications?$filter=displayName eq", false).await;
    assert_eq!(b["error"]["message"], "Invalid filter clause: Syntax error at position 14 in 'displayName eq'.");
    let (_, b) = get(&emu, &admin, "applications?$top=1000", false).await;
    assert_eq!(b["error"]["message"], "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive.");
    let (_, b) = get(&emu, &admin, "users?$orderby=createdDateTime", true).await;
    assert_eq!(b["error"]["message"], "Unsupported sort property 'createdDateTime' for 'User'.");
    let (_, b) = get(&emu, &admin, "applications?$filter=description eq 'x'", false).await;
    assert_eq!(b["error"]["code"], "Request_UnsupportedQuery", "description needs advanced query");
    // In a $batch, each item has its own ConsistencyLevel.
    let body = serde_json::json!({ "requests": [
        { "id": "1", "method": "GET", "url": "/applications?$filter=displayName ne 'x'" },
        { "id": "2", "method": "GET", "url": "/applications?$filter=displayName ne 'x'&$count=true", "headers": { "ConsistencyLevel": "eventual" } }
    ]});
    let (s, b, _) = emu.graph(&admin, Method::POST, "$batch", Some(body)).await;
    assert_eq!(s, 200);
    let status_of = |id: &str| {
        b["responses"].as_array().unwrap().iter().find(|r| r["id"] == id).unwrap()["status"].as_u64().unwrap()
    };
    assert_eq!((status_of("1"), status_of("2")), (400, 200));
}

/// Groups (generated by `--directory-size`): Graph's default properties, the filters the group
/// resource doc lists, Graph's errors for the rest (docs/group-research.md).
#[tokio::test(flavor = "multi_thread")]
async fn groups_are_listed_filtered_and_refused_as_graph_does() {
    let emu = start_with(kodo_emulator::world::EmulatorConfig { directory_size: 40, ..Default::default() }).await;
    let admin = emu.bootstrap_token(0, GRAPH).await;
    let (s, all) = get(&emu, &admin, "groups", false).await;
    assert_eq!(s, 200, "{all}");
    assert_eq!(all["value"].as_array().unwrap().len(), 40);
    assert_eq!(all["@odata.context"], format!("{}/v1.0/$metadata#groups", emu.url()));
    let first = &all["value"][0];
    assert_eq!(first.as_object().unwrap().len(), 31, "the Get group example's 31 properties: {first}");
    assert_eq!(
        (first["displayName"].as_str(), first["groupTypes"][0].as_str()),
        (Some("Group 00001"), Some("Unified"))
    );
    assert_eq!((first["mailEnabled"].as_bool(), first["securityEnabled"].as_bool()), (Some(true), Some(false)));
    let second = &all["value"][1];
    assert_eq!((second["mail"].is_null(), second["visibility"].is_null()), (true, true), "a security group: {second}");
    for (filter, expect) in [
        ("groupTypes/any(c:c eq 'Unified')", 20),
        ("securityEnabled eq true and mailEnabled eq false", 20),
        ("startswith(displayName,'Group 0001')", 10),
        ("mailNickname in ('group00001', 'group00002')", 2),
        ("proxyAddresses/any(p:startswith(p,'SMTP:group0000'))", 5),
    ] {
        let (s, b) = get(&emu, &admin, &format!("groups?$filter={filter}"), false).await;
        assert_eq!((s, b["value"].as_array().map(Vec::len)), (200, Some(expect)), "{filter}: {b}");
    }
    let id = first["id"].as_str().unwrap();
    let (s, one) = get(&emu, &admin, &format!("groups/{id}?$select=id,displayName"), false).await;
    assert_eq!(s, 200, "{one}");
    assert_eq!(one["@odata.context"], format!("{}/v1.0/$metadata#groups(id,displayName)/$entity", emu.url()));
    assert_eq!(one.as_object().unwrap().len(), 3, "{one}");
    let (s, one) = get(&emu, &admin, &format!("groups/{id}?$expand=owners"), false).await;
    assert_eq!((s, &one["owners"]), (200, &serde_json::json!([])), "generated groups have no owners: {one}");
    for (path, status, code) in [
        ("groups?$filter=visibility eq 'Public'", 400, "Request_UnsupportedQuery"),
        ("groups?$filter=theme eq 'x'", 400, "Request_UnsupportedQuery"),
        ("groups?$filter=mailEnabled ne true", 400, "Request_UnsupportedQuery"),
        ("groups?$expand=members", 501, "NotImplemented"),
        ("groups/00000000-0000-0000-0000-000000000001", 404, "Request_ResourceNotFound"),
        ("groups/not-a-guid", 400, "Request_BadRequest"),
        ("groups/00000000-0000-0000-0000-000000000001/members", 400, "BadRequest"),
    ] {
        let (s, b) = get(&emu, &admin, path, false).await;
        assert_eq!((s, b["error"]["code"].as_str()), (status, Some(code)), "{path}: {b}");
    }
    // Writes are not modelled: refused, never pretended.
    let (s, b, _) = emu.graph(&admin, Method::POST, "groups", Some(serde_json::json!({ "displayName": "x" }))).await;
    assert_eq!((s, b["error"]["code"].as_str()), (405, Some("Request_BadRequest")), "{b}");
}
