//! SharePoint Online, the way that still works (seed steps 15-17):
//! - `LegacyAuthProtocolsEnabled` through Microsoft Graph's `admin/sharepoint/settings`
//!   (facts.md §5.2) when the identity holds SharePointTenantSettings.ReadWrite.All, else
//!   through CSOM `ProcessQuery` on the tenant's admin host (facts.md §5.1), which needs a
//!   SharePoint token (app-only: a certificate).
//! - The SharePoint host is discovered from `sites/root` (facts.md §4.6), never typed.
//! - App-only access is proven by reading `/_api/web` with a certificate-based token; SharePoint
//!   refuses secret-based app-only tokens (facts.md §5.4).

mod csom;

use crate::auth::Connection;
use crate::context::{LogLevel, OpContext};
use crate::error::{ErrorCode, KodoError};
use crate::graph::{Graph, Request, Retry};
use crate::plan::{Approval, Plan};
use serde::Serialize;
use serde_json::{Value, json};

#[derive(Clone)]
pub struct Hosts {
    pub root: String,
    pub admin: String,
}

/// Discovers the tenant's SharePoint hosts from `sites/root` (facts.md §4.6: admin URL = the
/// tenant label with `-admin`, as CLI for Microsoft 365 derives it).
pub async fn hosts(graph: &Graph<'_>) -> Result<Hosts, KodoError> {
    let site = graph.call(&Request::get("sites/root?$select=webUrl,siteCollection", Retry::Idempotent)).await?;
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
    let client_request_id = uuid::Uuid::new_v4().to_string();
    let shown = path.split('?').next().unwrap_or(path).to_string();
    let verb = method.to_string();
    let mut req = conn
        .http()
        .request(method, format!("https://{host}{path}"))
        .bearer_auth(token)
        .header("Accept", "application/json;odata=nometadata")
        .header("client-request-id", &client_request_id);
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
    // SharePoint names its side of the request in SPRequestGuid (and request-id).
    let request_id = ["request-id", "sprequestguid"]
        .iter()
        .find_map(|h| response.headers().get(*h).and_then(|v| v.to_str().ok()).map(str::to_string));
    let text = response.text().await.unwrap_or_default();
    ctx.log(
        LogLevel::Debug,
        format!(
            "SharePoint {verb} https://{host}{shown} -> {status} (request-id {}, client-request-id {client_request_id})",
            request_id.as_deref().unwrap_or("none")
        ),
    );
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let ids = |e: KodoError| e.with_request_ids(request_id.clone(), Some(client_request_id.clone()));
    match status {
        200..=299 => Ok(v),
        401 if v["error_description"] == "Unsupported app only token." => Err(ids(secret_refused())),
        401 => Err(ids(KodoError::new(
            ErrorCode::AuthenticationFailed,
            format!("SharePoint refused the token: {}", v["error_description"].as_str().unwrap_or("401 Unauthorized")),
        ))),
        403 => Err(ids(KodoError::new(
            ErrorCode::PermissionDenied,
            "SharePoint denied access: the identity needs the SharePoint Sites.FullControl.All application permission (or a SharePoint Administrator for delegated sign-in).",
        ))),
        _ => {
            Err(ids(KodoError::new(ErrorCode::ServiceError, format!("SharePoint answered HTTP {status} for {shown}."))))
        }
    }
}

/// How the tenant setting is read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Route {
    /// Microsoft Graph's `admin/sharepoint/settings` (facts.md §5.2).
    Graph,
    /// CSOM `ProcessQuery` on the admin host (facts.md §5.1).
    Csom,
}

/// Which route to use: Graph when the identity holds SharePointTenantSettings.ReadWrite.All
/// (as a role or a scope), else CSOM.
pub fn pick_route(conn: &Connection, wanted: &str) -> Result<Route, KodoError> {
    let claims = conn.claims.lock().clone();
    let held: Vec<String> = claims["roles"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_else(|| claims["scp"].as_str().unwrap_or("").split_whitespace().map(str::to_string).collect());
    let graph_ok = held.iter().any(|h| h == "SharePointTenantSettings.ReadWrite.All");
    match wanted.to_ascii_lowercase().as_str() {
        "graph" => Ok(Route::Graph),
        "csom" => Ok(Route::Csom),
        "auto" | "" => Ok(if graph_ok { Route::Graph } else { Route::Csom }),
        other => Err(KodoError::new(
            ErrorCode::InvalidArgument,
            format!("Unknown route '{other}': use Auto, Graph or Csom."),
        )),
    }
}

/// LegacyAuthProtocolsEnabled, through `route` (CSOM discovers the admin host first).
pub async fn read_setting(
    conn: &Connection,
    ctx: &OpContext,
    graph: &Graph<'_>,
    route: Route,
) -> Result<bool, KodoError> {
    match route {
        Route::Graph => legacy_auth_from(graph.send(&graph_settings_read()).await?),
        Route::Csom => Ok(csom::read(conn, ctx, &hosts(graph).await?.admin).await?.0),
    }
}

/// Writes LegacyAuthProtocolsEnabled through `route`. Over CSOM the Tenant object is read for
/// its identity, set, and read back.
pub async fn write_setting(
    conn: &Connection,
    ctx: &OpContext,
    graph: &Graph<'_>,
    route: Route,
    value: bool,
) -> Result<(), KodoError> {
    match route {
        Route::Graph => {
            let write = Request::patch(
                "admin/sharepoint/settings",
                json!({ "isLegacyAuthProtocolsEnabled": value }),
                Retry::Idempotent,
            );
            graph.call(&write).await?;
        }
        Route::Csom => {
            let admin = hosts(graph).await?.admin;
            let (_, identity) = csom::read(conn, ctx, &admin).await?;
            csom::set(conn, ctx, &admin, &identity, value).await?;
            check_written(csom::read(conn, ctx, &admin).await?.0, value)?;
        }
    }
    Ok(())
}

fn check_written(after: bool, want: bool) -> Result<(), KodoError> {
    if after != want {
        return Err(KodoError::new(
            ErrorCode::ServiceError,
            format!("SharePoint accepted the change but still reports LegacyAuthProtocolsEnabled = {after}."),
        ));
    }
    Ok(())
}

/// LegacyAuthProtocolsEnabled alone (Test-KodoApp): through Graph when the identity may, which
/// needs no host lookup; else through CSOM.
pub async fn legacy_auth_enabled(conn: &Connection, ctx: &OpContext) -> Result<bool, KodoError> {
    let graph = Graph::new(conn, ctx);
    read_setting(conn, ctx, &graph, pick_route(conn, "auto")?).await
}

/// Graph's read of the setting, when the identity may read it through Graph (else None: CSOM,
/// after a host lookup), so that the audit can send it in the `$batch` of its other reads.
pub fn legacy_auth_graph_read(conn: &Connection) -> Option<Request> {
    matches!(pick_route(conn, "auto"), Ok(Route::Graph)).then(graph_settings_read)
}

fn graph_settings_read() -> Request {
    Request::get("admin/sharepoint/settings", Retry::Idempotent)
}

/// The setting from Graph's answer to [`legacy_auth_graph_read`] (sent alone or in a `$batch`).
pub fn legacy_auth_from(answer: crate::graph::Response) -> Result<bool, KodoError> {
    let read = graph_settings_read();
    let settings: Value = answer.json(&read)?;
    settings["isLegacyAuthProtocolsEnabled"].as_bool().ok_or_else(|| {
        KodoError::new(ErrorCode::ServiceError, "Graph's SharePoint settings have no isLegacyAuthProtocolsEnabled.")
    })
}

/// Get-KodoSharePointTenant (`set` None) / Set-KodoSharePointTenant: reads, plans, has the
/// change approved, writes, reads back.
pub async fn tenant(
    conn: &Connection,
    ctx: &OpContext,
    route: &str,
    set: Option<bool>,
    approval: &Approval,
) -> Result<Value, KodoError> {
    let graph = Graph::new(conn, ctx);
    let route = pick_route(conn, route)?;
    let hosts = hosts(&graph).await?;
    let before = match route {
        Route::Graph => read_setting(conn, ctx, &graph, route).await?,
        Route::Csom => csom::read(conn, ctx, &hosts.admin).await?.0,
    };
    let mut result = json!({
        "route": route, "sharePointHost": hosts.root, "adminHost": hosts.admin,
        "legacyAuthProtocolsEnabled": before, "changed": false,
    });
    let Some(want) = set else { return Ok(result) };
    if want {
        let step = &crate::platform::LEGACY_AUTH;
        ctx.warn(format!(
            "LegacyAuthProtocolsEnabled (step 17 of KODO's manual) is retired: legacy authentication (IDCRL) to SharePoint Online is blocked for good since {} ({}). Turning it on enables nothing and only weakens the tenant's declared posture; KODO does not need it.",
            step.since, step.source
        ));
    }
    result["wouldChange"] = (before != want).into();
    let mut plan = Plan::new();
    if before != want {
        plan.add(
            "legacyAuthProtocolsEnabled",
            format!("Set LegacyAuthProtocolsEnabled to {} (via {route:?})", if want { "True" } else { "False" }),
            hosts.admin.clone(),
        );
    } else {
        ctx.log(LogLevel::Verbose, format!("LegacyAuthProtocolsEnabled is already {want}: nothing to change."));
    }
    let mut decided = plan.decide(ctx, approval).await?;
    if !decided.approves("legacyAuthProtocolsEnabled") {
        return Ok(result);
    }
    write_setting(conn, ctx, &graph, route, want).await?;
    if route == Route::Graph {
        check_written(read_setting(conn, ctx, &graph, route).await?, want)?;
    }
    decided.done("legacyAuthProtocolsEnabled");
    result["legacyAuthProtocolsEnabled"] = want.into();
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
    let claims = crate::crypto::jwt_claims(&token);
    Ok(json!({
        "sharePointHost": hosts.root,
        "webUrl": web["Url"], "title": web["Title"], "webTemplate": web["WebTemplate"],
        "appOnly": claims["idtyp"] == "app",
        "authMethod": match claims["appidacr"].as_str() { Some("2") => "Certificate", Some("1") => "ClientSecret", Some("0") => "PublicClient", _ => "Unknown" },
        "roles": claims["roles"],
    }))
}
