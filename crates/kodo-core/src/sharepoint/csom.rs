//! CSOM `ProcessQuery` on the tenant's admin host: the Tenant object's
//! LegacyAuthProtocolsEnabled, read and set as `Set-SPOTenant` does (facts.md §5.1, CLI for
//! Microsoft 365's requests). Needs a SharePoint token; app-only, that is a certificate's.

use super::spo;
use crate::auth::Connection;
use crate::context::OpContext;
use crate::error::{ErrorCode, KodoError};
use serde_json::Value;

/// CSOM type id of the Tenant object (facts.md §5.1).
const TENANT_TYPE_ID: &str = "{268004ae-ef6b-4e9b-8425-127220d84719}";

fn request(actions: &str, paths: &str) -> String {
    format!(
        r#"<Request AddExpandoFieldTypeSuffix="true" SchemaVersion="15.0.0.0" LibraryVersion="16.0.0.0" ApplicationName="Kodo" xmlns="http://schemas.microsoft.com/sharepoint/clientquery/2009"><Actions>{actions}</Actions><ObjectPaths>{paths}</ObjectPaths></Request>"#
    )
}

fn check(v: &Value) -> Result<(), KodoError> {
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
    // CSOM names the request in TraceCorrelationId (facts.md §5.1's response shape).
    Err(KodoError::new(
        kind,
        format!("SharePoint (CSOM) refused: {message} ({})", info["ErrorTypeName"].as_str().unwrap_or("")),
    )
    .with_request_ids(v[0]["TraceCorrelationId"].as_str().map(str::to_string), None))
}

/// Reads the Tenant object over CSOM: (LegacyAuthProtocolsEnabled, _ObjectIdentity_).
pub(crate) async fn read(conn: &Connection, ctx: &OpContext, admin: &str) -> Result<(bool, String), KodoError> {
    // facts.md §5.1 step 2 (CLI for Microsoft 365's request).
    let body = request(
        r#"<ObjectPath Id="4" ObjectPathId="3" /><Query Id="5" ObjectPathId="3"><Query SelectAllProperties="true"><Properties /></Query></Query>"#,
        &format!(r#"<Constructor Id="3" TypeId="{TENANT_TYPE_ID}" />"#),
    );
    let v = spo(conn, ctx, admin, reqwest::Method::POST, "/_vti_bin/client.svc/ProcessQuery", Some(body)).await?;
    check(&v)?;
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

pub(crate) async fn set(
    conn: &Connection,
    ctx: &OpContext,
    admin: &str,
    identity: &str,
    value: bool,
) -> Result<(), KodoError> {
    // facts.md §5.1 step 3: SetProperty on the Identity path, scalar as Type="String".
    let identity = identity.replace('&', "&amp;").replace('"', "&quot;").replace('\n', "&#xA;");
    let body = request(
        &format!(
            r#"<SetProperty Id="42" ObjectPathId="7" Name="LegacyAuthProtocolsEnabled"><Parameter Type="String">{value}</Parameter></SetProperty>"#
        ),
        &format!(r#"<Identity Id="7" Name="{identity}" />"#),
    );
    let v = spo(conn, ctx, admin, reqwest::Method::POST, "/_vti_bin/client.svc/ProcessQuery", Some(body)).await?;
    check(&v)
}
