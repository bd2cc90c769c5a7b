//! SharePoint Online: `/_api/web`, `/_api/site` and `/_api/contextinfo` (anything else under
//! `/_api` is SharePoint's 404), and CSOM `ProcessQuery` on the admin host
//! for the Tenant object's `LegacyAuthProtocolsEnabled` (facts.md §5.1), with SharePoint's
//! rule that app-only tokens must come from a certificate (facts.md §5.4).
//!
//! Hosts: requests are routed by `Host` (`<label>.sharepoint.com`, `<label>-admin.sharepoint.com`)
//! or, for clients that cannot set it, by the path prefix `/_sp/<host>/…`.

use super::graph::{self, Caller};
use super::state::*;
use super::world::World;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// CSOM type id of `Microsoft.Online.SharePoint.TenantAdministration.Tenant` (facts.md §5.1).
const TENANT_TYPE_ID: &str = "{268004ae-ef6b-4e9b-8425-127220d84719}";

fn spo_json(status: StatusCode, body: Value, extra: Vec<(&'static str, String)>) -> Response {
    let mut r = (status, axum::Json(body)).into_response();
    for (k, v) in extra {
        if let Ok(v) = HeaderValue::from_str(&v) {
            r.headers_mut().insert(k, v);
        }
    }
    r
}

/// `WWW-Authenticate` as SharePoint Online sends it (docs/emulator-research.md §7: no spaces
/// after commas, realm = tenant id).
fn www_authenticate(tenant_id: &str) -> String {
    format!(
        "Bearer realm=\"{tenant_id}\",client_id=\"00000003-0000-0ff1-ce00-000000000000\",trusted_issuers=\"00000001-0000-0000-c000-000000000000@*,D3776938-3DBA-481F-A652-4BEDFCAB7CD8@*,https://sts.windows.net/*/,00000003-0000-0ff1-ce00-000000000000@90140122-8516-11e1-8eff-49304924019b\",authorization_uri=\"https://login.windows.net/common/oauth2/authorize\""
    )
}

fn unauthorized(tenant_id: &str, description: &str) -> Response {
    // Body framing {"error_description": …} as in real SharePoint Online 401s
    // (docs/emulator-research.md §5).
    spo_json(
        StatusCode::UNAUTHORIZED,
        json!({ "error_description": description }),
        vec![("www-authenticate", www_authenticate(tenant_id))],
    )
}

fn access_denied() -> Response {
    // SharePoint REST's access-denied error (odata=nometadata form). Text widely quoted;
    // not re-verified against a capture here.
    spo_json(
        StatusCode::FORBIDDEN,
        json!({ "odata.error": { "code": "-2147024891, System.UnauthorizedAccessException", "message": { "lang": "en-US", "value": "Access denied. You do not have permission to perform this action or access this resource." } } }),
        Vec::new(),
    )
}

/// Finds the tenant serving `host`, and whether it is the admin host.
fn tenant_for_host(world: &World, host: &str) -> Option<(String, bool)> {
    let host = host.split(':').next().unwrap_or("").to_ascii_lowercase();
    let tenants = world.tenants.lock();
    tenants.iter().find_map(|t| {
        if host == t.sharepoint_host() {
            Some((t.id.clone(), false))
        } else if host == t.sharepoint_admin_host() {
            Some((t.id.clone(), true))
        } else {
            None
        }
    })
}

pub fn is_sharepoint_host(host: &str) -> bool {
    let h = host.split(':').next().unwrap_or("").to_ascii_lowercase();
    h.ends_with(".sharepoint.com")
        || h.ends_with(".sharepoint.us")
        || h.ends_with(".sharepoint.cn")
        || h.ends_with(".sharepoint-mil.us")
}

/// Authenticates a SharePoint request; enforces the certificate rule for app-only tokens.
#[allow(clippy::result_large_err)]
fn authenticate(world: &World, host: &str, headers: &HeaderMap) -> Result<(Caller, String, bool), Response> {
    let Some((tenant_id, admin)) = tenant_for_host(world, host) else {
        return Err((StatusCode::NOT_FOUND, "404 NOT FOUND").into_response());
    };
    let host_only = host.split(':').next().unwrap_or("").to_ascii_lowercase();
    let caller = graph::authenticate(world, headers, |aud, t| {
        let a = aud.trim_end_matches('/').to_ascii_lowercase();
        t.id == tenant_id
            && (a == format!("https://{host_only}")
                || a == SHAREPOINT_APP_ID
                || a == format!("https://{}", t.sharepoint_host())
                || a == format!("https://{}", t.sharepoint_admin_host()))
    })
    .map_err(|e| {
        let text = match e.body.as_ref().and_then(|b| b["error"]["message"].as_str()) {
            Some("Access token is empty.") | None => "Invalid JWT token. The token is missing.".to_string(),
            Some(m) if m.contains("audience") => "Invalid audience Uri.".to_string(),
            Some(m) if m.contains("expired") => "Invalid JWT token. The token is expired.".to_string(),
            // docs/emulator-research.md §5: a token SharePoint cannot validate.
            Some(_) => "Invalid issuer or signature.".to_string(),
        };
        unauthorized(&tenant_id, &text)
    })?;
    if caller.app_only {
        let acr = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .and_then(super::pki::parse_jwt)
            .and_then(|j| j.claims["appidacr"].as_str().map(str::to_string))
            .unwrap_or_default();
        if acr == "1" {
            // facts.md §5.4; docs/emulator-research.md §5: 401 "Unsupported app only token."
            return Err(unauthorized(&tenant_id, "Unsupported app only token."));
        }
    }
    Ok((caller, tenant_id, admin))
}

fn has_site_access(caller: &Caller) -> bool {
    if caller.app_only {
        caller.roles.iter().any(|r| {
            matches!(
                r.as_str(),
                "Sites.FullControl.All" | "Sites.Manage.All" | "Sites.ReadWrite.All" | "Sites.Read.All"
            )
        })
    } else {
        !caller.scopes.is_empty()
    }
}

/// `GET /_api/web` (shape: docs/emulator-research.md §6, CLI for Microsoft 365 web-get docs).
pub fn web(world: &World, host: &str, headers: &HeaderMap) -> Response {
    let (caller, tenant_id, _) = match authenticate(world, host, headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !has_site_access(&caller) {
        return access_denied();
    }
    let tenants = world.tenants.lock();
    let Some(t) = tenants.iter().find(|t| t.id == tenant_id) else { return access_denied() };
    let url = format!("https://{}", host.split(':').next().unwrap_or(""));
    let web_id = t.id.clone();
    spo_json(
        StatusCode::OK,
        json!({
            "AllowRssFeeds": true, "AlternateCssUrl": "", "AppInstanceId": "00000000-0000-0000-0000-000000000000",
            "ClassicWelcomePage": null, "Configuration": 0, "Created": t.created.trim_end_matches('Z'),
            "CustomMasterUrl": "/_catalogs/masterpage/seattle.master", "Description": "",
            "Id": web_id, "Language": 1033, "MasterUrl": "/_catalogs/masterpage/seattle.master",
            "QuickLaunchEnabled": true, "RecycleBinEnabled": true,
            "ResourcePath": { "DecodedUrl": url },
            "ServerRelativeUrl": "/", "SiteLogoUrl": null, "Title": "Communication site", "UIVersion": 15,
            "Url": url, "WebTemplate": "SITEPAGEPUBLISHING", "WelcomePage": "SitePages/Home.aspx",
        }),
        vec![("content-type", "application/json;odata=nometadata;streaming=true;charset=utf-8".into())],
    )
}

/// Verbose (`odata=verbose`) or not: the `Accept` header decides the framing.
fn verbose(headers: &HeaderMap) -> bool {
    headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.to_ascii_lowercase().contains("odata=verbose"))
}

fn nometadata() -> Vec<(&'static str, String)> {
    vec![("content-type", "application/json;odata=nometadata;streaming=true;charset=utf-8".into())]
}

/// `POST /_api/contextinfo` (docs/sharepoint-rest-research.md §1): a form digest, `0x` and 128
/// upper-case hex digits, then the issue time. Bearer-token callers need not send it back
/// (§1.4: CLI for Microsoft 365 sends a malformed one), so ProcessQuery does not check it.
pub fn context_info(world: &World, host: &str, headers: &HeaderMap) -> Response {
    if let Err(r) = authenticate(world, host, headers) {
        return r;
    }
    let url = format!("https://{}", host.split(':').next().unwrap_or(""));
    let hash: String =
        (0..4).map(|_| uuid::Uuid::new_v4().simple().to_string()).collect::<String>().to_ascii_uppercase();
    let digest = format!("0x{hash},{}", crate::state::now().format("%-d %b %Y %H:%M:%S -0000"));
    // LibraryVersion: a recent SharePoint Online build from the captures (UNCONFIRMED which).
    let library = "16.0.7730.1208";
    if verbose(headers) {
        return spo_json(
            StatusCode::OK,
            json!({ "d": { "GetContextWebInformation": {
                "__metadata": { "type": "SP.ContextWebInformation" },
                "FormDigestTimeoutSeconds": 1800, "FormDigestValue": digest, "LibraryVersion": library, "SiteFullUrl": url,
                "SupportedSchemaVersions": { "__metadata": { "type": "Collection(Edm.String)" }, "results": ["14.0.0.0", "15.0.0.0"] },
                "WebFullUrl": url,
            }}}),
            vec![("content-type", "application/json;odata=verbose;charset=utf-8".into())],
        );
    }
    spo_json(
        StatusCode::OK,
        json!({
            "FormDigestTimeoutSeconds": 1800, "FormDigestValue": digest, "LibraryVersion": library, "SiteFullUrl": url,
            "SupportedSchemaVersions": ["14.0.0.0", "15.0.0.0"], "WebFullUrl": url,
        }),
        nometadata(),
    )
}

/// `GET /_api/site` on the root site collection (SP.Site, docs/sharepoint-rest-research.md §4,
/// the keys and order of a real capture; the values that are not the tenant's are the capture's).
pub fn site(world: &World, host: &str, headers: &HeaderMap) -> Response {
    let (caller, tenant_id, _) = match authenticate(world, host, headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !has_site_access(&caller) {
        return access_denied();
    }
    let url = format!("https://{}", host.split(':').next().unwrap_or(""));
    let none = "00000000-0000-0000-0000-000000000000";
    let ticks = 621_355_968_000_000_000_i64 + crate::state::now().timestamp() * 10_000_000;
    // Two halves (one json! of 45 keys is past the macro's recursion limit), in the capture's order.
    let mut body = json!({
        "AllowCreateDeclarativeWorkflow": true, "AllowDesigner": true, "AllowMasterPageEditing": false,
        "AllowRevertFromTemplate": false, "AllowSaveDeclarativeWorkflowAsTemplate": true,
        "AllowSavePublishDeclarativeWorkflow": true, "AllowSelfServiceUpgrade": true,
        "AllowSelfServiceUpgradeEvaluation": true, "AuditLogTrimmingRetention": 90, "ChannelGroupId": none,
        "Classification": "", "CompatibilityLevel": 15,
        "CurrentChangeToken": { "StringValue": format!("1;1;{tenant_id};{ticks};1") },
        "DisableAppViews": false, "DisableCompanyWideSharingLinks": false, "DisableFlows": false,
        "ExternalSharingTipsEnabled": false, "GeoLocation": "NAM", "GroupId": none, "HubSiteId": none,
        "Id": tenant_id, "SensitivityLabelId": null, "SensitivityLabel": none, "IsHubSite": false, "LockIssue": null,
    });
    let rest = json!({
        "MaxItemsPerThrottledOperation": 5000, "MediaTranscriptionDisabled": false, "NeedsB2BUpgrade": false,
        "ResourcePath": { "DecodedUrl": url }, "PrimaryUri": url, "ReadOnly": false,
        "RequiredDesignerVersion": "15.0.0.0", "SandboxedCodeActivationCapability": 2, "ServerRelativeUrl": "/",
        "ShareByEmailEnabled": false, "ShareByLinkEnabled": false, "ShowUrlStructure": false, "TrimAuditLog": true,
        "UIVersionConfigurationEnabled": false, "UpgradeReminderDate": "1899-12-30T00:00:00", "UpgradeScheduled": false,
        "UpgradeScheduledDate": "1753-01-01T00:00:00", "Upgrading": false, "Url": url, "WriteLocked": false,
    });
    if let (Value::Object(a), Value::Object(b)) = (&mut body, rest) {
        a.extend(b);
    }
    spo_json(StatusCode::OK, body, nometadata())
}

/// The Tenant object's properties as the CSOM `Tenant` and `/_api/SPO.Tenant` show them.
fn tenant_properties(t: &Tenant) -> serde_json::Map<String, Value> {
    let mut props = t.sharepoint.tenant_properties.clone();
    props.insert("LegacyAuthProtocolsEnabled".into(), t.sharepoint.legacy_auth_protocols_enabled.into());
    props
}

/// `GET /_api/SPO.Tenant` on the admin host: the Tenant object's properties, the same as CSOM's
/// (flat with `odata=nometadata`, in a `d` envelope with `odata=verbose`, as admin scripts read
/// it). SharePoint administrators only, as for CSOM. Its writes and methods
/// (`/_api/SPO.Tenant/...`) are not implemented: 501, never a pretended success.
pub fn tenant_rest(world: &World, host: &str, method: &str, rest: &str, headers: &HeaderMap) -> Response {
    let (caller, tenant_id, admin) = match authenticate(world, host, headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !method.eq_ignore_ascii_case("GET") || !rest.eq_ignore_ascii_case("SPO.Tenant") {
        let inner = json!({ "code": "-1, System.NotImplementedException", "message": { "lang": "en-US", "value": format!("The Kodo tenant emulator does not implement {method} /_api/{rest}.") } });
        return spo_json(StatusCode::NOT_IMPLEMENTED, json!({ "odata.error": inner }), nometadata());
    }
    let full_control = if caller.app_only {
        caller.roles.iter().any(|r| r == "Sites.FullControl.All")
    } else {
        caller.scopes.iter().any(|s| s.eq_ignore_ascii_case("AllSites.FullControl"))
    };
    if !admin || !full_control {
        return access_denied();
    }
    let tenants = world.tenants.lock();
    let Some(t) = tenants.iter().find(|t| t.id == tenant_id) else { return access_denied() };
    let props = tenant_properties(t);
    if verbose(headers) {
        let url = format!("https://{}/_api/SPO.Tenant", host.split(':').next().unwrap_or(""));
        let mut d = serde_json::Map::new();
        d.insert(
            "__metadata".into(),
            json!({ "id": url, "uri": url, "type": "Microsoft.Online.SharePoint.TenantAdministration.Tenant" }),
        );
        d.extend(props);
        return spo_json(
            StatusCode::OK,
            json!({ "d": d }),
            vec![("content-type", "application/json;odata=verbose;charset=utf-8".into())],
        );
    }
    spo_json(StatusCode::OK, Value::Object(props), nometadata())
}

/// Any other `/_api/...`: 404 `ResourceNotFoundException` (docs/sharepoint-rest-research.md §5;
/// verbose frames it as `error`, the others as `odata.error`).
pub fn resource_not_found(headers: &HeaderMap, request: &str) -> Response {
    let inner = json!({ "code": "-1, Microsoft.SharePoint.Client.ResourceNotFoundException", "message": { "lang": "en-US", "value": format!("Cannot find resource for the request {request}.") } });
    let key = if verbose(headers) { "error" } else { "odata.error" };
    spo_json(StatusCode::NOT_FOUND, json!({ key: inner }), nometadata())
}

fn csom_header(error: Option<Value>) -> Value {
    json!({ "SchemaVersion": "15.0.0.0", "LibraryVersion": "16.0.25513.12008", "ErrorInfo": error, "TraceCorrelationId": new_id() })
}

fn csom_error(message: &str, code: i64, type_name: &str) -> Response {
    // CSOM errors come back as HTTP 200 with ErrorInfo (facts.md §5.1).
    let info = json!({ "ErrorMessage": message, "ErrorValue": null, "TraceCorrelationId": new_id(), "ErrorCode": code, "ErrorTypeName": type_name });
    spo_json(StatusCode::OK, json!([csom_header(Some(info))]), Vec::new())
}

/// Attribute `name="…"` of the first element in `xml` that starts with `tag`.
fn attr(element: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = element.find(&key)? + key.len();
    let end = element[start..].find('"')? + start;
    Some(element[start..end].replace("&#xA;", "\n").replace("&quot;", "\"").replace("&amp;", "&"))
}

fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag} ");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let tail = &rest[i..];
        let end = tail.find('>').map(|e| e + 1).unwrap_or(tail.len());
        out.push(&tail[..end]);
        rest = &tail[end..];
    }
    out
}

/// `POST /_vti_bin/client.svc/ProcessQuery` on the admin host (facts.md §5.1 wire format).
pub fn process_query(world: &World, host: &str, headers: &HeaderMap, body: &str) -> Response {
    let (caller, tenant_id, admin) = match authenticate(world, host, headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let full_control = if caller.app_only {
        caller.roles.iter().any(|r| r == "Sites.FullControl.All")
    } else {
        // A delegated SharePoint administrator (the emulator's admin is a Global Administrator).
        caller.scopes.iter().any(|s| s.eq_ignore_ascii_case("AllSites.FullControl"))
    };
    if !body.contains("http://schemas.microsoft.com/sharepoint/clientquery/2009") {
        return csom_error("The request is not a valid client request.", -2147024809, "System.ArgumentException");
    }
    let constructors = elements(body, "Constructor");
    let identities = elements(body, "Identity");
    let mut tenant_paths: Vec<String> = constructors
        .iter()
        .filter(|c| attr(c, "TypeId").is_some_and(|t| t.eq_ignore_ascii_case(TENANT_TYPE_ID)))
        .filter_map(|c| attr(c, "Id"))
        .collect();
    let mut tenants = world.tenants.lock();
    let Some(t) = tenants.iter_mut().find(|t| t.id == tenant_id) else { return access_denied() };
    for i in &identities {
        if attr(i, "Name").is_some_and(|n| n == t.sharepoint.object_identity) {
            if let Some(id) = attr(i, "Id") {
                tenant_paths.push(id);
            }
        }
    }
    let touches_tenant = !tenant_paths.is_empty();
    if touches_tenant && (!admin || !full_control) {
        return csom_error(
            "Access denied. You do not have permission to perform this action or access this resource.",
            -2147024891,
            "System.UnauthorizedAccessException",
        );
    }
    let mut out = vec![csom_header(None)];
    // Actions in document order.
    let actions_start = body.find("<Actions>").unwrap_or(0);
    let actions_end = body.find("</Actions>").unwrap_or(body.len());
    let actions = &body[actions_start..actions_end];
    let mut pos = 0;
    while let Some(i) = actions[pos..].find('<') {
        let at = pos + i;
        let tail = &actions[at..];
        let end = tail.find('>').map(|e| e + 1).unwrap_or(tail.len());
        let element = &tail[..end];
        pos = at + end;
        let name = element.trim_start_matches('<').split([' ', '>', '/']).next().unwrap_or("");
        let id = attr(element, "Id").and_then(|v| v.parse::<i64>().ok());
        let path = attr(element, "ObjectPathId").unwrap_or_default();
        let on_tenant = tenant_paths.contains(&path);
        match name {
            "ObjectPath" if on_tenant => {
                if let Some(id) = id {
                    out.push(json!(id));
                    out.push(json!({ "IsNull": false }));
                }
            }
            "Query" if on_tenant && id.is_some() => {
                out.push(json!(id));
                let mut tenant_object = serde_json::Map::new();
                tenant_object
                    .insert("_ObjectType_".into(), "Microsoft.Online.SharePoint.TenantAdministration.Tenant".into());
                tenant_object.insert("_ObjectIdentity_".into(), t.sharepoint.object_identity.clone().into());
                tenant_object.extend(tenant_properties(t));
                out.push(Value::Object(tenant_object));
                // Skip the nested <Query SelectAllProperties…> element.
                if let Some(close) = actions[pos..].find("</Query>") {
                    pos += close;
                }
            }
            "SetProperty" if on_tenant => {
                let prop = attr(element, "Name").unwrap_or_default();
                let value_start = pos;
                let value = actions[value_start..].find('>').and_then(|s| {
                    actions[value_start + s + 1..]
                        .find("</Parameter>")
                        .map(|e| actions[value_start + s + 1..value_start + s + 1 + e].trim().to_string())
                });
                if prop != "LegacyAuthProtocolsEnabled" {
                    // Another property of the Tenant object: set by its type (clients send every
                    // value as a string parameter, docs/sharepoint-rest-research.md §2.3).
                    let current = t.sharepoint.tenant_properties.get(&prop).cloned();
                    let text = value.clone().unwrap_or_default();
                    let parsed = match &current {
                        Some(Value::Bool(_)) => match text.to_ascii_lowercase().as_str() {
                            "true" => Some(Value::Bool(true)),
                            "false" => Some(Value::Bool(false)),
                            _ => None,
                        },
                        Some(Value::Number(_)) => text.trim().parse::<i64>().ok().map(Value::from),
                        Some(Value::String(_)) | Some(Value::Null) => Some(Value::String(text)),
                        // Collections and unknown members: not settable here (the error text of an
                        // unknown member is UNCONFIRMED).
                        _ => {
                            return csom_error(
                                &format!("The property or field '{prop}' has not been initialized."),
                                -1,
                                "Microsoft.SharePoint.Client.PropertyOrFieldNotInitializedException",
                            );
                        }
                    };
                    let Some(parsed) = parsed else {
                        return csom_error(
                            "Input string was not in a correct format.",
                            -2147024809,
                            "System.ArgumentException",
                        );
                    };
                    t.sharepoint.tenant_properties.insert(prop, parsed);
                    continue;
                }
                match value.as_deref().map(str::to_ascii_lowercase).as_deref() {
                    Some("true") => t.sharepoint.legacy_auth_protocols_enabled = true,
                    Some("false") => t.sharepoint.legacy_auth_protocols_enabled = false,
                    _ => {
                        return csom_error(
                            "Input string was not in a correct format.",
                            -2147024809,
                            "System.ArgumentException",
                        );
                    }
                }
            }
            _ => {}
        }
    }
    spo_json(StatusCode::OK, Value::Array(out), Vec::new())
}
