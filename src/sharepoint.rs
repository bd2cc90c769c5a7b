//! SharePoint Online, the way that still works (seed steps 15-17):
//! - `LegacyAuthProtocolsEnabled` through Microsoft Graph's `admin/sharepoint/settings`
//!   (facts.md §5.2) when the identity holds SharePointTenantSettings.ReadWrite.All, else
//!   through CSOM `ProcessQuery` on the tenant's admin host (facts.md §5.1), which needs a
//!   SharePoint token (app-only: a certificate).
//! - The SharePoint host is discovered from `sites/root` (facts.md §4.6), never typed.
//! - App-only access is proven by reading `/_api/web` with a certificate-based token; SharePoint
//!   refuses secret-based app-only tokens (facts.md §5.4).

use crate::auth::Connection;
use crate::engine::OpContext;
use crate::error::{ErrorCode, KodoError};
use crate::graph::{Graph, Retry};
use serde_json::{Value, json};

/// CSOM type id of the Tenant object (facts.md §5.1).
const TENANT_TYPE_ID: &str = "{268004ae-ef6b-4e9b-8425-127220d84719}";

pub struct Hosts {
    pub root: String,
    pub admin: String,
}

/// Discovers the tenant's SharePoint hosts from `sites/root` (facts.md §4.6: admin URL = the
/// tenant label with `-admin`, as CLI for Microsoft 365 derives it).
pub async fn hosts(graph: &Graph<'_>) -> Result<Hosts, KodoError> {
    let site = graph.call("GET", "sites/root?$select=webUrl,siteCollection", None, Retry::Idempotent).await?;
    let host = site["siteCollection"]["hostname"]
        .as_str()
        .map(str::to_string)
        .or_else(|| {
            site["webUrl"]
                .as_str()
                .map(|u| u.trim_start_matches("https://").split('/').next().unwrap_or("").to_string())
        })
        .unwrap_or_default();
    let Some((label, rest)) = host.split_once('.') else {
        return Err(KodoError::new(
            ErrorCode::ServiceError,
            format!("sites/root returned no SharePoint host ('{host}')."),
        ));
    };
    Ok(Hosts { admin: format!("{label}-admin.{rest}"), root: host })
}

fn secret_refused() -> KodoError {
    KodoError::new(
        ErrorCode::AuthenticationFailed,
        "SharePoint Online refused the app-only token (\"Unsupported app only token.\"): it accepts app-only tokens only from a certificate (or a managed identity), never from a client secret. Add a certificate (New-KodoApp -NewCertificate) and connect with it (Connect-Kodo -CertificatePath/-Certificate/-CertificateThumbprint).",
    )
}

/// An HTTP call to SharePoint with a token for `host`.
pub(crate) async fn spo(
    conn: &Connection,
    ctx: &OpContext,
    host: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<String>,
) -> Result<Value, KodoError> {
    let token = conn.token(ctx, &format!("https://{host}")).await?;
    let mut req = conn
        .http()
        .request(method, format!("https://{host}{path}"))
        .bearer_auth(token)
        .header("Accept", "application/json;odata=nometadata");
    if let Some(b) = body {
        req = req.header("Content-Type", "text/xml").body(b);
    }
    let response = req.send().await.map_err(|_| {
        KodoError::new(
            ErrorCode::ConnectionFailed,
            format!("The request to {host} failed. Check the network and proxy."),
        )
    })?;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    match status {
        200..=299 => Ok(v),
        401 if v["error_description"] == "Unsupported app only token." => Err(secret_refused()),
        401 => Err(KodoError::new(
            ErrorCode::AuthenticationFailed,
            format!("SharePoint refused the token: {}", v["error_description"].as_str().unwrap_or("401 Unauthorized")),
        )),
        403 => Err(KodoError::new(
            ErrorCode::PermissionDenied,
            "SharePoint denied access: the identity needs the SharePoint Sites.FullControl.All application permission (or a SharePoint Administrator for delegated sign-in).",
        )),
        _ => Err(KodoError::new(ErrorCode::ServiceError, format!("SharePoint answered HTTP {status} for {path}."))),
    }
}

fn csom_request(actions: &str, paths: &str) -> String {
    format!(
        r#"<Request AddExpandoFieldTypeSuffix="true" SchemaVersion="15.0.0.0" LibraryVersion="16.0.0.0" ApplicationName="Kodo" xmlns="http://schemas.microsoft.com/sharepoint/clientquery/2009"><Actions>{actions}</Actions><ObjectPaths>{paths}</ObjectPaths></Request>"#
    )
}

fn csom_check(v: &Value) -> Result<(), KodoError> {
    let info = &v[0]["ErrorInfo"];
    if info.is_null() {
        return Ok(());
    }
    let message = info["ErrorMessage"].as_str().unwrap_or("CSOM error");
    let kind = if info["ErrorTypeName"] == "System.UnauthorizedAccessException" {
        ErrorCode::PermissionDenied
    } else {
        ErrorCode::ServiceError
    };
    Err(KodoError::new(
        kind,
        format!("SharePoint (CSOM) refused: {message} ({})", info["ErrorTypeName"].as_str().unwrap_or("")),
    ))
}

/// Reads the Tenant object over CSOM: (LegacyAuthProtocolsEnabled, _ObjectIdentity_).
async fn csom_read(conn: &Connection, ctx: &OpContext, admin: &str) -> Result<(bool, String), KodoError> {
    // facts.md §5.1 step 2 (CLI for Microsoft 365's request).
    let body = csom_request(
        r#"<ObjectPath Id="4" ObjectPathId="3" /><Query Id="5" ObjectPathId="3"><Query SelectAllProperties="true"><Properties /></Query></Query>"#,
        &format!(r#"<Constructor Id="3" TypeId="{TENANT_TYPE_ID}" />"#),
    );
    let v = spo(conn, ctx, admin, reqwest::Method::POST, "/_vti_bin/client.svc/ProcessQuery", Some(body)).await?;
    csom_check(&v)?;
    let tenant = v
        .as_array()
        .and_then(|a| a.iter().find(|x| x["_ObjectType_"] == "Microsoft.Online.SharePoint.TenantAdministration.Tenant"))
        .cloned()
        .unwrap_or(Value::Null);
    let value = tenant["LegacyAuthProtocolsEnabled"].as_bool().ok_or_else(|| {
        KodoError::new(ErrorCode::ServiceError, "The CSOM Tenant object has no LegacyAuthProtocolsEnabled.")
    })?;
    Ok((value, tenant["_ObjectIdentity_"].as_str().unwrap_or("").to_string()))
}

async fn csom_set(
    conn: &Connection,
    ctx: &OpContext,
    admin: &str,
    identity: &str,
    value: bool,
) -> Result<(), KodoError> {
    // facts.md §5.1 step 3: SetProperty on the Identity path, scalar as Type="String".
    let identity = identity.replace('&', "&amp;").replace('"', "&quot;").replace('\n', "&#xA;");
    let body = csom_request(
        &format!(
            r#"<SetProperty Id="42" ObjectPathId="7" Name="LegacyAuthProtocolsEnabled"><Parameter Type="String">{value}</Parameter></SetProperty>"#
        ),
        &format!(r#"<Identity Id="7" Name="{identity}" />"#),
    );
    let v = spo(conn, ctx, admin, reqwest::Method::POST, "/_vti_bin/client.svc/ProcessQuery", Some(body)).await?;
    csom_check(&v)
}

/// Which route to use: Graph when the identity holds the Graph role/scope, else CSOM.
pub(crate) fn pick_route(conn: &Connection, wanted: &str) -> Result<&'static str, KodoError> {
    let claims = conn.claims.lock().clone();
    let held: Vec<String> = claims["roles"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_else(|| claims["scp"].as_str().unwrap_or("").split_whitespace().map(str::to_string).collect());
    let graph_ok = held.iter().any(|h| h == "SharePointTenantSettings.ReadWrite.All");
    match wanted.to_ascii_lowercase().as_str() {
        "graph" => Ok("Graph"),
        "csom" => Ok("Csom"),
        "auto" | "" => Ok(if graph_ok { "Graph" } else { "Csom" }),
        other => Err(KodoError::new(
            ErrorCode::InvalidArgument,
            format!("Unknown route '{other}': use Auto, Graph or Csom."),
        )),
    }
}

async fn read(
    conn: &Connection,
    ctx: &OpContext,
    graph: &Graph<'_>,
    route: &str,
    hosts: &Hosts,
) -> Result<(bool, Option<String>), KodoError> {
    if route == "Graph" {
        let s = graph.call("GET", "admin/sharepoint/settings", None, Retry::Idempotent).await?;
        let v = s["isLegacyAuthProtocolsEnabled"].as_bool().ok_or_else(|| {
            KodoError::new(ErrorCode::ServiceError, "Graph's SharePoint settings have no isLegacyAuthProtocolsEnabled.")
        })?;
        Ok((v, None))
    } else {
        let (v, id) = csom_read(conn, ctx, &hosts.admin).await?;
        Ok((v, Some(id)))
    }
}

/// LegacyAuthProtocolsEnabled alone (Test-KodoApp): through Graph when the identity may, which
/// needs no host lookup; else through CSOM.
pub async fn legacy_auth_enabled(conn: &Connection, ctx: &OpContext) -> Result<bool, KodoError> {
    let graph = Graph::new(conn, ctx);
    let route = pick_route(conn, "auto")?;
    let hosts =
        if route == "Graph" { Hosts { root: String::new(), admin: String::new() } } else { hosts(&graph).await? };
    Ok(read(conn, ctx, &graph, route, &hosts).await?.0)
}

/// Get-KodoSharePointTenant / Set-KodoSharePointTenant.
pub async fn tenant(
    conn: &Connection,
    ctx: &OpContext,
    route: &str,
    set: Option<bool>,
    dry_run: bool,
    ask_approval: bool,
) -> Result<Value, KodoError> {
    let graph = Graph::new(conn, ctx);
    let route = pick_route(conn, route)?;
    let hosts = hosts(&graph).await?;
    let (before, identity) = read(conn, ctx, &graph, route, &hosts).await?;
    let mut result = json!({
        "route": route, "sharePointHost": hosts.root, "adminHost": hosts.admin,
        "legacyAuthProtocolsEnabled": before, "changed": false,
    });
    let Some(want) = set else { return Ok(result) };
    result["wouldChange"] = (before != want).into();
    let plan = if before == want {
        Vec::new()
    } else {
        vec![crate::onboarding::item(
            "legacyAuthProtocolsEnabled",
            format!("Set LegacyAuthProtocolsEnabled to {} (via {route})", if want { "True" } else { "False" }),
            hosts.admin.clone(),
        )]
    };
    let approved = crate::onboarding::approval(ctx, &plan, ask_approval && !dry_run, &None).await?;
    if before == want || dry_run || crate::onboarding::declined(&plan, &approved) {
        if before == want {
            ctx.log(
                crate::protocol::LogLevel::Verbose,
                format!("LegacyAuthProtocolsEnabled is already {want}: nothing to change."),
            );
        }
        return Ok(result);
    }
    if route == "Graph" {
        graph
            .call(
                "PATCH",
                "admin/sharepoint/settings",
                Some(&json!({ "isLegacyAuthProtocolsEnabled": want })),
                Retry::Idempotent,
            )
            .await?;
    } else {
        csom_set(conn, ctx, &hosts.admin, identity.as_deref().unwrap_or(""), want).await?;
    }
    let (after, _) = read(conn, ctx, &graph, route, &hosts).await?;
    if after != want {
        return Err(KodoError::new(
            ErrorCode::ServiceError,
            format!("SharePoint accepted the change but still reports LegacyAuthProtocolsEnabled = {after}."),
        ));
    }
    result["legacyAuthProtocolsEnabled"] = after.into();
    result["previous"] = before.into();
    result["changed"] = true.into();
    Ok(result)
}

/// Proof of SharePoint app-only access: reads the root web with a SharePoint token.
pub async fn verify(conn: &Connection, ctx: &OpContext) -> Result<Value, KodoError> {
    let graph = Graph::new(conn, ctx);
    let hosts = hosts(&graph).await?;
    let web = spo(conn, ctx, &hosts.root, reqwest::Method::GET, "/_api/web", None).await?;
    let token = conn.token(ctx, &format!("https://{}", hosts.root)).await?;
    let claims = crate::emulator::pki::parse_jwt(&token).map(|j| j.claims).unwrap_or(Value::Null);
    Ok(json!({
        "sharePointHost": hosts.root,
        "webUrl": web["Url"], "title": web["Title"], "webTemplate": web["WebTemplate"],
        "appOnly": claims["idtyp"] == "app",
        "authMethod": match claims["appidacr"].as_str() { Some("2") => "Certificate", Some("1") => "ClientSecret", Some("0") => "PublicClient", _ => "Unknown" },
        "roles": claims["roles"],
    }))
}
