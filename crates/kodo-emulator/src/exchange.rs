//! Exchange Online: the REST transport of Exchange Online PowerShell
//! (`POST /adminapi/beta/{tenant}/InvokeCommand`) with `Get-OrganizationConfig` and
//! `Set-OrganizationConfig` for the EWS settings, and EWS itself (`POST /EWS/Exchange.asmx`,
//! `GetFolder` with app-only impersonation) under the EWS access controls of facts.md §8.4.
//!
//! Sources: docs/exchange-research.md (sections cited per item, "§" below) and facts.md §8.4.
//! What neither gives is marked UNCONFIRMED.

use super::pki::{parse_jwt, verify_jwt_signature};
use super::state::*;
use super::world::World;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};

/// The Exchange Online resource a token is asked for (`https://outlook.office365.com/.default`,
/// §1.2); Entra may also put the resource appId in `aud`.
pub const EXCHANGE_AUDIENCE: &str = "https://outlook.office365.com";

/// The Entra roles that can run Get/Set-OrganizationConfig (§4: "The Global Administrator and
/// Exchange Administrator roles provide the required permissions for any task").
const EXCHANGE_CAPABLE_ROLES: &[&str] = &[EXCHANGE_ADMINISTRATOR_ROLE, GLOBAL_ADMINISTRATOR_ROLE];

/// `X-EWS-Policy-Reason` values (§3.1, verbatim).
pub const EWS_DISABLED: &str = "EWS is disabled for this user or tenant";
pub const EWS_BLOCKED: &str = "EWS is blocked by policy for this user or tenant";

/// The enum values of `EwsApplicationAccessPolicy` (§2.1).
const ACCESS_POLICIES: &[&str] = &["EnforceAllowList", "EnforceBlockList"];

/// Who called, from a verified Exchange token.
#[derive(Clone, Debug)]
pub struct ExoCaller {
    pub tenant_id: String,
    pub app_id: String,
    pub oid: String,
    pub roles: Vec<String>,
    pub scopes: Vec<String>,
    pub wids: Vec<String>,
    pub upn: String,
    pub app_only: bool,
}

/// Why a bearer token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenProblem {
    Missing,
    Invalid,
    Expired,
    Audience,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// Verifies the bearer token (signature, lifetime, tenant, audience).
pub fn authenticate(world: &World, headers: &HeaderMap) -> Result<ExoCaller, TokenProblem> {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    let token = auth.strip_prefix("Bearer ").or_else(|| auth.strip_prefix("bearer ")).unwrap_or("").trim();
    if token.is_empty() {
        return Err(TokenProblem::Missing);
    }
    let jwt = parse_jwt(token).ok_or(TokenProblem::Invalid)?;
    if !verify_jwt_signature(&jwt, &world.signing.key.to_public_key()) {
        return Err(TokenProblem::Invalid);
    }
    let c = &jwt.claims;
    if c["exp"].as_i64().unwrap_or(0) < crate::state::now().timestamp() {
        return Err(TokenProblem::Expired);
    }
    let tenant_id = c["tid"].as_str().unwrap_or("").to_string();
    if !world.tenants.lock().iter().any(|t| t.id == tenant_id) {
        return Err(TokenProblem::Invalid);
    }
    let aud = c["aud"].as_str().unwrap_or("").trim_end_matches('/');
    if !aud.eq_ignore_ascii_case(EXCHANGE_AUDIENCE) && !aud.eq_ignore_ascii_case(EXCHANGE_APP_ID) {
        return Err(TokenProblem::Audience);
    }
    Ok(ExoCaller {
        tenant_id,
        app_id: c["appid"].as_str().unwrap_or("").to_string(),
        oid: c["oid"].as_str().unwrap_or("").to_string(),
        roles: strings(&c["roles"]),
        scopes: c["scp"].as_str().map(|s| s.split_whitespace().map(str::to_string).collect()).unwrap_or_default(),
        wids: strings(&c["wids"]),
        upn: c["upn"].as_str().unwrap_or("").to_string(),
        app_only: c["idtyp"] == "app",
    })
}

impl ExoCaller {
    fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case(role))
    }
    fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s.eq_ignore_ascii_case(scope))
    }
}

/// A response with Exchange's ids: a fresh `request-id` (§3.3 lists it) and the client's
/// `client-request-id` echoed, as the Graph routes do.
fn respond(status: StatusCode, headers: &[(&str, String)], body: Body, client_request_id: &str) -> Response {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let ids = [("request-id", new_id()), ("client-request-id", client_request_id.to_string())];
    for (k, v) in headers.iter().map(|(k, v)| (*k, v.clone())).chain(ids) {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(&v)) {
            r.headers_mut().insert(name, value);
        }
    }
    r
}

fn json_response(status: StatusCode, body: &Value, client_request_id: &str) -> Response {
    respond(
        status,
        &[("content-type", "application/json; charset=utf-8".into())],
        Body::from(body.to_string()),
        client_request_id,
    )
}

/// The `WWW-Authenticate` of an Exchange Online 401 (§3.3, verbatim from the capture, which
/// carries `,Basic Realm=""` three times).
const WWW_AUTHENTICATE: &str = "Bearer client_id=\"00000002-0000-0ff1-ce00-000000000000\", trusted_issuers=\"00000001-0000-0000-c000-000000000000@*\", token_types=\"app_asserted_user_v1 service_asserted_app_v1\", authorization_uri=\"https://login.windows.net/common/oauth2/authorize\", error=\"invalid_token\",Basic Realm=\"\",Basic Realm=\"\",Basic Realm=\"\"";

/// 401 with an empty body, as EWS answers a token for another audience (§3.3: `x-ms-diagnostics`
/// with the audience reason, `WWW-Authenticate`, `X-BackEndHttpStatus: 401`). For an expired or
/// badly signed token the `x-ms-diagnostics` reason is unknown and left out (UNCONFIRMED).
fn unauthorized(problem: Option<TokenProblem>, client_request_id: &str) -> Response {
    let mut headers = vec![("www-authenticate", WWW_AUTHENTICATE.to_string()), ("x-backendhttpstatus", "401".into())];
    if problem == Some(TokenProblem::Audience) {
        headers.push((
            "x-ms-diagnostics",
            "2000003;reason=\"The audience claim value is invalid 'aud'.\";error_category=\"invalid_resource\"".into(),
        ));
    }
    respond(StatusCode::UNAUTHORIZED, &headers, Body::empty(), client_request_id)
}

// ---------------------------------------------------------------------------- InvokeCommand

/// 403 whose body is 4096 NUL bytes: a caller without an Exchange-capable directory role, or a
/// cmdlet it may not (or cannot) run (§1.6e, live capture; the test there uses 4096 NULs).
fn forbidden_nul(client_request_id: &str) -> Response {
    respond(StatusCode::FORBIDDEN, &[], Body::from(vec![0u8; 4096]), client_request_id)
}

/// 400 for a parameter the cmdlet does not have (§1.6a, verbatim body with the parameter
/// names; with more than one, how they are joined is UNCONFIRMED).
fn unknown_parameters(names: &[String], client_request_id: &str) -> Response {
    let text = format!(
        "Parameter set cannot be resolved using the specified named parameters. Invalid cmdlet parameters specified. {}",
        names.join(", ")
    );
    let body = json!({"error":{"code":"BadRequest","message":"Invalid Operation","details":[{"code":"Client","target":"","message":format!("|Microsoft.Exchange.AdminApi.CommandInvocation.AmbiguousParameterSetException|{text}")}],"innererror":{"message":"Invalid Operation","type":"Microsoft.Exchange.Admin.OData.Core.ODataServiceException","stacktrace":"","internalexception":{"message":text,"type":"Microsoft.Exchange.AdminApi.CommandInvocation.AmbiguousParameterSetException","stacktrace":""}}}});
    json_response(StatusCode::BAD_REQUEST, &body, client_request_id)
}

/// 400 for a value the parameter binder cannot convert (§1.6b, verbatim shape: no `details`,
/// the warnings inside `error`).
fn transformation_error(message: String, client_request_id: &str) -> Response {
    let body = json!({"error":{"code":"BadRequest","message":"Invalid Operation","innererror":{"message":"Invalid Operation","type":"Microsoft.Exchange.Admin.OData.Core.ODataServiceException","stacktrace":"","internalexception":{"message":message,"type":"Microsoft.Exchange.AdminApi.CommandInvocation.ParameterTransformationException","stacktrace":""}},"adminapi.warnings@odata.type":"#Collection(String)","@adminapi.warnings":[]}});
    json_response(StatusCode::BAD_REQUEST, &body, client_request_id)
}

/// A value as PowerShell prints it in a conversion error.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The message of an invalid enum value (§1.6b live text, with this parameter's type and
/// values: `Microsoft.Exchange.Data.Directory.EwsApplicationAccessPolicy` is the type the
/// cmdlet reference lists; that the enum has no other names is UNCONFIRMED).
fn bad_enum(name: &str, v: &Value) -> String {
    let v = shown(v);
    format!(
        "Cannot process argument transformation on parameter '{name}'. Cannot convert value \"{v}\" to type \"Microsoft.Exchange.Data.Directory.EwsApplicationAccessPolicy\". Error: \"Unable to match the identifier name {v} to a valid enumerator name. Specify one of the following enumerator names and try again: {}\"",
        ACCESS_POLICIES.join(", ")
    )
}

/// PowerShell's text for a non-Boolean value of a Boolean parameter. That this transport
/// carries it in the §1.6b envelope is UNCONFIRMED.
fn bad_bool(name: &str, v: &Value) -> String {
    let type_name = if v.is_string() { "System.String" } else { "System.Object" };
    format!(
        "Cannot process argument transformation on parameter '{name}'. Cannot convert value \"{type_name}\" to type \"System.Boolean\". Boolean parameters accept only Boolean values and numbers, such as $True, $False, 1 or 0."
    )
}

/// A conversion error for other parameter types (text after the documented prefix UNCONFIRMED).
pub(crate) fn bad_value(name: &str, v: &Value, type_name: &str) -> String {
    format!(
        "Cannot process argument transformation on parameter '{name}'. Cannot convert value \"{}\" to type \"{type_name}\".",
        shown(v)
    )
}

/// A Boolean parameter: JSON true/false, or a number (PowerShell takes 0 and 1).
pub(crate) fn as_bool(name: &str, v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) => Ok(n.as_f64().unwrap_or(0.0) != 0.0),
        other => Err(bad_bool(name, other)),
    }
}

/// The organization object of Get-OrganizationConfig: the keys of the live capture (§2.3),
/// PascalCase, never-configured settings as null. `EwsAllowedAppIDs` only with
/// `-RetrieveEwsOperationAccessPolicy` (§2.2: "only materialises with an explicit switch";
/// absent rather than null without it: UNCONFIRMED), as one comma-joined string (§2.2).
fn organization_object(t: &Tenant, with_app_ids: bool) -> Map<String, Value> {
    let s = &t.exchange.written;
    let list = |l: &Option<Vec<String>>| l.as_ref().map(|v| json!(v)).unwrap_or(Value::Null);
    let mut o = Map::new();
    o.insert("Name".into(), t.initial_domain.clone().into());
    o.insert("Identity".into(), t.initial_domain.clone().into());
    o.insert("Guid".into(), t.exchange.guid.clone().into());
    o.insert("EwsEnabled".into(), s.ews_enabled.map(Value::Bool).unwrap_or(Value::Null));
    o.insert("EwsAllowOutlook".into(), Value::Null);
    o.insert("EwsAllowMacOutlook".into(), Value::Null);
    o.insert(
        "EwsApplicationAccessPolicy".into(),
        s.ews_application_access_policy.clone().map(Value::String).unwrap_or(Value::Null),
    );
    o.insert("EwsAllowList".into(), list(&s.ews_allow_list));
    o.insert("EwsBlockList".into(), list(&s.ews_block_list));
    if with_app_ids {
        o.insert("EwsAllowedAppIDs".into(), s.ews_allowed_app_ids.clone().map(Value::String).unwrap_or(Value::Null));
    }
    o
}

/// The success envelope (§1.4: `@odata.context` naming the tenant segment of the request URL,
/// then the warnings, then `value`).
fn envelope(host: &str, tenant_segment: &str, warnings: Vec<String>, value: Value) -> Value {
    json!({
        "@odata.context": format!("https://{host}/adminapi/beta/{tenant_segment}/$metadata#Collection(Exchange.GenericHashTable)"),
        "adminapi.warnings@odata.type": "#Collection(String)",
        "@adminapi.warnings": warnings,
        "value": value,
    })
}

/// `POST /adminapi/beta/{tenant}/InvokeCommand` (§1).
pub fn invoke_command(
    world: &World,
    host: &str,
    tenant_segment: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    client_request_id: &str,
) -> Response {
    // A token for another resource, expired or badly signed: 401. Its headers and body on this
    // endpoint are UNCONFIRMED (§1.6h, §5); EWS's answer (§3.3) is used.
    let caller = match authenticate(world, headers) {
        Ok(c) => c,
        Err(p) => return unauthorized(Some(p), client_request_id),
    };
    let mut tenants = world.tenants.lock();
    let Some(ti) = world.tenant_index(&tenants, tenant_segment).filter(|i| tenants[*i].id == caller.tenant_id) else {
        // Another organization's URL (or none): UNCONFIRMED, answered like a token not for it.
        return unauthorized(None, client_request_id);
    };
    let tenant = &mut tenants[ti];
    // §1.6e (live): "neither grant -> HTTP 401 / app role only -> HTTP 403 / app role + role ->
    // HTTP 200". The 401's body is UNCONFIRMED (empty here). A delegated token needs a user
    // holding an Exchange-capable role (`wids`); which delegated scope the service also wants is
    // not known here (no source), so none is required.
    let capable = if caller.app_only {
        if !caller.has_role("Exchange.ManageAsApp") {
            return unauthorized(None, client_request_id);
        }
        tenant.holds_directory_role(&caller.oid, EXCHANGE_CAPABLE_ROLES)
    } else {
        caller.wids.iter().any(|w| EXCHANGE_CAPABLE_ROLES.iter().any(|r| r.eq_ignore_ascii_case(w)))
    };
    if !capable {
        return forbidden_nul(client_request_id);
    }
    // The body (§1.1). A body that is not this JSON: status and text UNCONFIRMED (400, empty).
    let bad_body = || respond(StatusCode::BAD_REQUEST, &[], Body::empty(), client_request_id);
    let Ok(v) = serde_json::from_slice::<Value>(body) else { return bad_body() };
    let input = &v["CmdletInput"];
    let Some(cmdlet) = input["CmdletName"].as_str() else { return bad_body() };
    // `Parameters` missing or `{}` (§1.1); `null` is taken as `{}` (UNCONFIRMED).
    let empty = Map::new();
    let params = match &input["Parameters"] {
        Value::Object(m) => m,
        Value::Null => &empty,
        _ => return bad_body(),
    };
    let select: Option<Vec<String>> = query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "$select")
            .map(|(_, v)| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
    });
    let result = if cmdlet.eq_ignore_ascii_case("Get-OrganizationConfig") {
        get_organization_config(tenant, params, select.as_deref())
    } else if cmdlet.eq_ignore_ascii_case("Set-OrganizationConfig") {
        set_organization_config(tenant, params)
    } else if let Some(r) = super::exchange_rbac::run(tenant, cmdlet, params, select.as_deref()) {
        r
    } else {
        // Any other cmdlet: 403 NUL, as for an unknown one (§1.6e).
        return forbidden_nul(client_request_id);
    };
    match result {
        Ok((warnings, value)) => {
            json_response(StatusCode::OK, &envelope(host, tenant_segment, warnings, value), client_request_id)
        }
        Err(CmdletError::UnknownParameters(names)) => unknown_parameters(&names, client_request_id),
        Err(CmdletError::Transformation(message)) => transformation_error(message, client_request_id),
        Err(CmdletError::MissingParameters(names)) => missing_parameters(&names, client_request_id),
        Err(CmdletError::NotFound(identity)) => not_found_error(&identity, client_request_id),
        Err(CmdletError::Failed(text)) => cmdlet_failed(&text, client_request_id),
    }
}

pub(crate) enum CmdletError {
    UnknownParameters(Vec<String>),
    Transformation(String),
    /// Mandatory parameters not given.
    MissingParameters(Vec<String>),
    /// The cmdlet ran and found no object with this identity (§1.6c).
    NotFound(String),
    /// The cmdlet ran and failed with this text (its envelope is §1.6c's; UNCONFIRMED).
    Failed(String),
}

/// 400 for mandatory parameters left out. The text is PowerShell's non-interactive one; its
/// envelope on this transport (here §1.6a's, with PowerShell's ParameterBindingException) is
/// UNCONFIRMED: no source captured it.
fn missing_parameters(names: &[String], client_request_id: &str) -> Response {
    let text =
        format!("Cannot process command because of one or more missing mandatory parameters: {}.", names.join(" "));
    let body = json!({"error":{"code":"BadRequest","message":"Invalid Operation","details":[{"code":"Client","target":"","message":format!("|System.Management.Automation.ParameterBindingException|{text}")}],"innererror":{"message":"Invalid Operation","type":"Microsoft.Exchange.Admin.OData.Core.ODataServiceException","stacktrace":"","internalexception":{"message":text,"type":"System.Management.Automation.ParameterBindingException","stacktrace":""}}}});
    json_response(StatusCode::BAD_REQUEST, &body, client_request_id)
}

/// The domain controller a not-found text names (§1.6c: "couldn't be found on '<DC>'"). Real
/// names are Exchange Online's servers; this one is the emulator's own (UNCONFIRMED form).
const EMULATOR_DC: &str = "kodo-emulator.invalid";

/// A cmdlet that ran and failed, in §1.6c's envelope (MEDIUM, from a `Remove-Mailbox`
/// capture): `error.code`, "Error executing cmdlet", `details[].message` as
/// `<ErrorId>|<.NET type>|<text>`, the DirectInvoke wrapper as the internal exception. The
/// HTTP status of that capture is not recorded: UNCONFIRMED (404 for NotFound, else 400).
fn executing_error(status: StatusCode, code: &str, error_id: &str, type_name: &str, text: &str, id: &str) -> Response {
    let body = json!({"error":{"code":code,"message":"Error executing cmdlet","details":[{"code":"Client","target":"","message":format!("{error_id}|{type_name}|{text}")}],"innererror":{"message":"Error executing cmdlet","type":"Microsoft.Exchange.Admin.OData.Core.ODataServiceException","stacktrace":"","internalexception":{"message":text,"type":"Microsoft.Exchange.Management.PSDirectInvoke.DirectInvokeCmdletExecutionException","stacktrace":""}}}});
    json_response(status, &body, id)
}

/// The not-found failure (§1.6c, verbatim text with the identity; the ErrorId `Ex6F9304` is
/// the captured `Remove-Mailbox` one, whether other cmdlets share it is UNCONFIRMED).
fn not_found_error(identity: &str, client_request_id: &str) -> Response {
    let text = format!(
        "The operation couldn't be performed because object '{identity}' couldn't be found on '{EMULATOR_DC}'."
    );
    executing_error(
        StatusCode::NOT_FOUND,
        "NotFound",
        "Ex6F9304",
        "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
        &text,
        client_request_id,
    )
}

/// Any other cmdlet failure (duplicate names, AADServicePrincipalNotFound): §1.6c's envelope
/// with code BadRequest, no ErrorId and the wrapper's type (all UNCONFIRMED).
fn cmdlet_failed(text: &str, client_request_id: &str) -> Response {
    executing_error(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        "",
        "Microsoft.Exchange.Management.PSDirectInvoke.DirectInvokeCmdletExecutionException",
        text,
        client_request_id,
    )
}

/// The parameters not among `known` (PowerShell matches names case-insensitively).
pub(crate) fn unknown(params: &Map<String, Value>, known: &[&str]) -> Result<(), CmdletError> {
    let names: Vec<String> =
        params.keys().filter(|k| !known.iter().any(|n| n.eq_ignore_ascii_case(k))).cloned().collect();
    if names.is_empty() { Ok(()) } else { Err(CmdletError::UnknownParameters(names)) }
}

pub(crate) type CmdletResult = Result<(Vec<String>, Value), CmdletError>;

fn get_organization_config(tenant: &Tenant, params: &Map<String, Value>, select: Option<&[String]>) -> CmdletResult {
    // Only the switch (§2.2); the documented -DomainController is on-premises only, and anything
    // else is a parameter this emulator does not have: the unknown-parameter 400.
    unknown(params, &["RetrieveEwsOperationAccessPolicy"])?;
    let mut with_ids = false;
    for (k, v) in params {
        // A switch is sent as `true` (§1.5).
        with_ids = as_bool(k, v).map_err(CmdletError::Transformation)?;
    }
    let mut org = organization_object(tenant, with_ids);
    if let Some(wanted) = select {
        // `?$select=` (§1.1).
        org.retain(|k, _| wanted.iter().any(|w| w.eq_ignore_ascii_case(k)));
    }
    Ok((Vec::new(), json!([org])))
}

/// A MultiValuedProperty parameter (§1.5, §2.1): a plain array replaces; a hashtable tagged
/// `#Exchange.GenericHashTable` with `Add`/`Remove` edits; null clears; one string is a
/// one-item list. An untagged object is refused (§1.5: the binder cannot convert it; the text
/// is UNCONFIRMED). Values compare case-insensitively and are not added twice (UNCONFIRMED).
fn multi_valued(name: &str, current: &Option<Vec<String>>, v: &Value) -> Result<Option<Vec<String>>, CmdletError> {
    let type_name = "Microsoft.Exchange.Data.MultiValuedProperty`1[System.String]";
    let refuse = || CmdletError::Transformation(bad_value(name, v, type_name));
    let items = |x: &Value| -> Result<Vec<String>, CmdletError> {
        match x {
            Value::String(s) => Ok(vec![s.clone()]),
            Value::Array(a) => a.iter().map(|i| i.as_str().map(str::to_string).ok_or_else(refuse)).collect(),
            Value::Null => Ok(Vec::new()),
            _ => Err(refuse()),
        }
    };
    match v {
        Value::Null => Ok(None),
        Value::String(_) | Value::Array(_) => {
            let mut out: Vec<String> = Vec::new();
            for i in items(v)? {
                if !out.iter().any(|o| o.eq_ignore_ascii_case(&i)) {
                    out.push(i);
                }
            }
            Ok(Some(out))
        }
        Value::Object(m) if m.get("@odata.type").and_then(Value::as_str) == Some("#Exchange.GenericHashTable") => {
            let mut out = current.clone().unwrap_or_default();
            for (k, x) in m {
                if k == "@odata.type" {
                    continue;
                }
                if k.eq_ignore_ascii_case("Add") {
                    for i in items(x)? {
                        if !out.iter().any(|o| o.eq_ignore_ascii_case(&i)) {
                            out.push(i);
                        }
                    }
                } else if k.eq_ignore_ascii_case("Remove") {
                    let gone = items(x)?;
                    out.retain(|o| !gone.iter().any(|g| g.eq_ignore_ascii_case(o)));
                } else {
                    return Err(refuse());
                }
            }
            Ok(Some(out))
        }
        _ => Err(refuse()),
    }
}

fn set_organization_config(tenant: &mut Tenant, params: &Map<String, Value>) -> CmdletResult {
    const KNOWN: &[&str] =
        &["EwsEnabled", "EwsAllowedAppIDs", "EwsApplicationAccessPolicy", "EwsAllowList", "EwsBlockList"];
    unknown(params, KNOWN)?;
    let before = tenant.exchange.written.clone();
    let mut s = before.clone();
    for (k, v) in params {
        let canonical = KNOWN.iter().find(|n| n.eq_ignore_ascii_case(k)).copied().unwrap_or("");
        match canonical {
            // Boolean, `$null` = not configured (§2.1).
            "EwsEnabled" => {
                s.ews_enabled =
                    if v.is_null() { None } else { Some(as_bool(k, v).map_err(CmdletError::Transformation)?) };
            }
            // One string of comma-separated GUIDs replacing the whole list, `$null` clears it
            // (§2.1, §1.5; the JSON form of the clear UNCONFIRMED). An array is joined with
            // commas (§2.2: "accept both on input"). Entries are not checked to be GUIDs
            // (UNCONFIRMED); one that is not never matches an app.
            "EwsAllowedAppIDs" => {
                s.ews_allowed_app_ids = match v {
                    Value::Null => None,
                    Value::String(x) => Some(x.clone()),
                    Value::Array(a) if a.iter().all(Value::is_string) => {
                        Some(a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","))
                    }
                    other => return Err(CmdletError::Transformation(bad_value(k, other, "System.String"))),
                };
            }
            "EwsApplicationAccessPolicy" => {
                s.ews_application_access_policy = match v {
                    Value::Null => None,
                    Value::String(x) => match ACCESS_POLICIES.iter().find(|p| p.eq_ignore_ascii_case(x)) {
                        Some(p) => Some(p.to_string()),
                        None => return Err(CmdletError::Transformation(bad_enum(k, v))),
                    },
                    other => return Err(CmdletError::Transformation(bad_enum(k, other))),
                };
            }
            "EwsAllowList" => s.ews_allow_list = multi_valued(k, &s.ews_allow_list, v)?,
            "EwsBlockList" => s.ews_block_list = multi_valued(k, &s.ews_block_list, v)?,
            _ => {}
        }
    }
    // A Set answers with no objects (`value` null: CIPP copies the warnings into `value` when it
    // is null, §1.4; the exact JSON is UNCONFIRMED). A Set that changed nothing warns (§1.4 text;
    // the identity it names UNCONFIRMED: the organization's Identity).
    if s == before {
        let warning = format!(
            "The command completed successfully but no settings of '{}' have been modified.",
            tenant.initial_domain
        );
        return Ok((vec![warning], Value::Null));
    }
    tenant.exchange.write(s);
    Ok((Vec::new(), Value::Null))
}

// --------------------------------------------------------------------------------------- EWS

/// What EWS's access controls decide for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EwsDecision {
    Allowed,
    /// 403 `EWS is disabled for this user or tenant`.
    Disabled,
    /// 403 `EWS is blocked by policy for this user or tenant`.
    Blocked,
}

/// `*` wildcard match, case-insensitive (how Exchange compares user agents is UNCONFIRMED).
fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            pi += 1;
            mark = ti;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The EWS access decision on the organization settings in force (facts.md §8.4; §2.1):
/// `EwsEnabled` `$false` disables EWS; `$null` disables it once the 2026-10 rollout reached the
/// tenant (`null_blocked`), else it allows all EWS and the app-id list has no effect; `$true`
/// admits only the apps of `EwsAllowedAppIDs` (none when it is null or empty, the October 2026
/// rule). `EwsApplicationAccessPolicy` then filters by user agent; "both must pass" (§2.1).
pub fn decide(s: &EwsSettings, null_blocked: bool, app_id: &str, user_agent: &str) -> EwsDecision {
    match s.ews_enabled {
        Some(false) => return EwsDecision::Disabled,
        None if null_blocked => return EwsDecision::Disabled,
        Some(true) if !s.allowed_app_ids().iter().any(|a| a.eq_ignore_ascii_case(app_id)) => {
            return EwsDecision::Blocked;
        }
        None | Some(true) => {}
    }
    let any = |l: &Option<Vec<String>>| l.as_ref().is_some_and(|l| l.iter().any(|p| wildcard(p, user_agent)));
    match s.ews_application_access_policy.as_deref() {
        Some("EnforceAllowList") if !any(&s.ews_allow_list) => EwsDecision::Blocked,
        Some("EnforceBlockList") if any(&s.ews_block_list) => EwsDecision::Blocked,
        _ => EwsDecision::Allowed,
    }
}

const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const EWS_TYPES: &str = "http://schemas.microsoft.com/exchange/services/2006/types";
const EWS_MESSAGES: &str = "http://schemas.microsoft.com/exchange/services/2006/messages";
const EWS_ERRORS: &str = "http://schemas.microsoft.com/exchange/services/2006/errors";

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn xml_response(status: StatusCode, xml: String, client_request_id: &str) -> Response {
    respond(status, &[("content-type", "text/xml; charset=utf-8".into())], Body::from(xml), client_request_id)
}

/// An EWS SOAP fault, HTTP 500 (§3.2: the envelope of ews-managed-api issue #212; what follows
/// `e:Message` in `detail` is UNCONFIRMED and left out).
fn soap_fault(code: &str, text: &str, client_request_id: &str) -> Response {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><s:Envelope xmlns:s=\"{SOAP_ENV}\"><s:Body><s:Fault><faultcode xmlns:a=\"{EWS_TYPES}\">a:{code}</faultcode><faultstring xml:lang=\"en-US\">{text}</faultstring><detail><e:ResponseCode xmlns:e=\"{EWS_ERRORS}\">{code}</e:ResponseCode><e:Message xmlns:e=\"{EWS_ERRORS}\">{text}</e:Message></detail></s:Fault></s:Body></s:Envelope>"
    );
    xml_response(StatusCode::INTERNAL_SERVER_ERROR, xml, client_request_id)
}

/// 403 with an empty body: a refusal of EWS's access controls with its `X-EWS-Policy-Reason`
/// (§3.1; the body is not documented, emulated empty), or with no header for an app without
/// `full_access_as_app` (UNCONFIRMED).
fn ews_forbidden(reason: Option<&str>, client_request_id: &str) -> Response {
    let headers: Vec<(&str, String)> = reason.map(|r| vec![("x-ews-policy-reason", r.to_string())]).unwrap_or_default();
    respond(StatusCode::FORBIDDEN, &headers, Body::empty(), client_request_id)
}

/// The start tag and inner text of the first element named `local` (any namespace prefix).
fn element<'a>(xml: &'a str, local: &str) -> Option<(&'a str, &'a str)> {
    let mut from = 0;
    while let Some(i) = xml[from..].find('<') {
        let at = from + i;
        let tag_end = at + xml[at..].find('>')?;
        let tag = &xml[at..=tag_end];
        let name = tag[1..].split(|c: char| c.is_whitespace() || c == '>' || c == '/').next().unwrap_or("");
        let name_local = name.rsplit(':').next().unwrap_or("");
        if name_local == local && !name.starts_with('/') {
            if tag.ends_with("/>") {
                return Some((tag, ""));
            }
            let close = format!("</{name}>");
            let inner_end = tag_end + 1 + xml[tag_end + 1..].find(&close)?;
            return Some((tag, &xml[tag_end + 1..inner_end]));
        }
        from = tag_end + 1;
    }
    None
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = tag[start..].find('"')? + start;
    Some(tag[start..end].to_string())
}

/// Start tags of every element named `local` inside `xml`.
fn elements<'a>(xml: &'a str, local: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some((tag, _)) = element(rest, local) {
        out.push(tag);
        let Some(i) = rest.find(tag) else { break };
        rest = &rest[i + tag.len()..];
    }
    out
}

/// A distinguished folder as GetFolder's Default shape returns it (§3.2: the Inbox sample;
/// the emulator's mailboxes hold no items). Element name and display name of `msgfolderroot`
/// ("Top of Information Store") and of the calendar (`t:CalendarFolder`, "Calendar", no
/// UnreadCount, from the Learn calendar sample) are UNCONFIRMED for this probe. Ids are the
/// emulator's own opaque base64.
fn folder_xml(mailbox: &str, id: &str) -> Option<String> {
    let (element, name, children, unread) = match id {
        "msgfolderroot" => ("Folder", "Top of Information Store", 2, true),
        "inbox" => ("Folder", "Inbox", 0, true),
        "calendar" => ("CalendarFolder", "Calendar", 0, false),
        _ => return None,
    };
    let folder_id = super::pki::b64(format!("{}/{id}", mailbox.to_ascii_lowercase()).as_bytes());
    let change_key = super::pki::b64(id.as_bytes());
    let unread = if unread { "<t:UnreadCount>0</t:UnreadCount>" } else { "" };
    Some(format!(
        "<t:{element}><t:FolderId Id=\"{folder_id}\" ChangeKey=\"{change_key}\"/><t:DisplayName>{name}</t:DisplayName><t:TotalCount>0</t:TotalCount><t:ChildFolderCount>{children}</t:ChildFolderCount>{unread}</t:{element}>"
    ))
}

/// What the emulator cannot answer as EWS would: said plainly, not dressed as an EWS error.
fn not_emulated(what: &str, client_request_id: &str) -> Response {
    respond(
        StatusCode::NOT_IMPLEMENTED,
        &[("content-type", "text/plain; charset=utf-8".into())],
        Body::from(format!(
            "kodo-emulator: {what} is not emulated (EWS GetFolder of msgfolderroot, inbox or calendar is)\n"
        )),
        client_request_id,
    )
}

/// `POST /EWS/Exchange.asmx` (§3).
pub fn ews(world: &World, headers: &HeaderMap, body: &str, client_request_id: &str) -> Response {
    let caller = match authenticate(world, headers) {
        Ok(c) => c,
        Err(p) => return unauthorized(Some(p), client_request_id),
    };
    // App-only: the full_access_as_app role (§3.2), or an `Application EWS.AccessAsApp` role
    // assignment of RBAC for Applications in force (exchange_rbac.rs; the two are a union,
    // docs/exchange-rbac-research.md §1.2, and the Entra role reaches every mailbox); delegated:
    // EWS.AccessAsUser.All. Without them: 403 with an empty body (UNCONFIRMED). Whether EWS
    // honours the RBAC role alone is itself UNCONFIRMED (rbac research §5); the emulator does.
    let rbac_delay = world.rbac_propagation();
    let full_access = caller.app_only && caller.has_role("full_access_as_app");
    let permitted = if caller.app_only {
        full_access || {
            let mut tenants = world.tenants.lock();
            tenants
                .iter_mut()
                .find(|t| t.id == caller.tenant_id)
                .is_some_and(|t| super::exchange_rbac::ews_granted(t, &caller.app_id, None, rbac_delay))
        }
    } else {
        caller.has_scope("EWS.AccessAsUser.All")
    };
    if !permitted {
        return ews_forbidden(None, client_request_id);
    }
    let impersonation = element(body, "ExchangeImpersonation")
        .and_then(|(_, inner)| element(inner, "PrimarySmtpAddress"))
        .map(|(_, text)| text.trim().to_string())
        .filter(|s| !s.is_empty());
    // §3.2: an app-only token must impersonate ("must be present"); a delegated one must not
    // ("must not exist", the sibling case). An ExchangeImpersonation header naming the mailbox
    // other than by PrimarySmtpAddress counts as absent (UNCONFIRMED).
    let mailbox = match (caller.app_only, impersonation) {
        (true, Some(address)) => address,
        (true, None) => {
            return soap_fault(
                "ErrorInvalidExchangeImpersonationHeaderData",
                "ExchangeImpersonation SOAP header must be present for this type of OAuth token.",
                client_request_id,
            );
        }
        (false, None) => caller.upn.clone(),
        (false, Some(_)) => {
            return soap_fault(
                "ErrorInvalidExchangeImpersonationHeaderData",
                "ExchangeImpersonation SOAP header must not exist for this type of OAuth token.",
                client_request_id,
            );
        }
    };
    let user_agent = headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let delay = world.ews_propagation();
    let decision = {
        let mut tenants = world.tenants.lock();
        let Some(tenant) = tenants.iter_mut().find(|t| t.id == caller.tenant_id) else {
            return unauthorized(Some(TokenProblem::Invalid), client_request_id);
        };
        // Every address of the tenant's initial domain has a mailbox (UNCONFIRMED); another is
        // refused as §3.2's impersonation refusal (UNCONFIRMED use of that fault).
        let domain = mailbox.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        if !domain.eq_ignore_ascii_case(&tenant.initial_domain) {
            return soap_fault(
                "ErrorImpersonateUserDenied",
                "The account does not have permission to impersonate the requested user.",
                client_request_id,
            );
        }
        // An app admitted by RBAC only: the assignment's scope must reach this mailbox.
        if caller.app_only
            && !full_access
            && !super::exchange_rbac::ews_granted(tenant, &caller.app_id, Some(&mailbox), rbac_delay)
        {
            return ews_forbidden(None, client_request_id);
        }
        let null_blocked = tenant.exchange.null_blocked;
        decide(tenant.exchange.effective_now(delay), null_blocked, &caller.app_id, &user_agent)
    };
    match decision {
        EwsDecision::Disabled => return ews_forbidden(Some(EWS_DISABLED), client_request_id),
        EwsDecision::Blocked => return ews_forbidden(Some(EWS_BLOCKED), client_request_id),
        EwsDecision::Allowed => {}
    }
    let Some((_, get_folder)) = element(body, "GetFolder") else {
        return not_emulated("this EWS operation", client_request_id);
    };
    let ids: Vec<String> =
        elements(get_folder, "DistinguishedFolderId").iter().filter_map(|tag| attribute(tag, "Id")).collect();
    if ids.is_empty() || element(get_folder, "FolderId").is_some() {
        return not_emulated("GetFolder by FolderId", client_request_id);
    }
    let mut folders = String::new();
    for id in &ids {
        match folder_xml(&mailbox, id) {
            Some(f) => folders.push_str(&f),
            None => return not_emulated(&format!("the folder '{}'", xml_escape(id)), client_request_id),
        }
    }
    // §3.2 shape; envelope and ServerVersionInfo as in the Learn GetFolder sample of Exchange 2013
    // and later (MajorVersion 15); the version numbers Exchange Online reports now are UNCONFIRMED.
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><s:Envelope xmlns:s=\"{SOAP_ENV}\"><s:Header><h:ServerVersionInfo MajorVersion=\"15\" MinorVersion=\"0\" MajorBuildNumber=\"893\" MinorBuildNumber=\"17\" Version=\"V2_10\" xmlns:h=\"{EWS_TYPES}\" xmlns=\"{EWS_TYPES}\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"/></s:Header><s:Body xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"><m:GetFolderResponse xmlns:m=\"{EWS_MESSAGES}\" xmlns:t=\"{EWS_TYPES}\"><m:ResponseMessages><m:GetFolderResponseMessage ResponseClass=\"Success\"><m:ResponseCode>NoError</m:ResponseCode><m:Folders>{folders}</m:Folders></m:GetFolderResponseMessage></m:ResponseMessages></m:GetFolderResponse></s:Body></s:Envelope>"
    );
    xml_response(StatusCode::OK, xml, client_request_id)
}

// ------------------------------------------------------------------------------ control API

/// `GET /_emulator/tenants/{tenant}/exchange`: the written settings, what EWS enforces now,
/// the null flag and the Exchange Administrators.
pub fn control_view(tenant: &mut Tenant, delay: std::time::Duration) -> Value {
    let view = |s: &EwsSettings| {
        json!({
            "ewsEnabled": s.ews_enabled,
            "ewsAllowedAppIDs": s.ews_allowed_app_ids,
            "ewsApplicationAccessPolicy": s.ews_application_access_policy,
            "ewsAllowList": s.ews_allow_list,
            "ewsBlockList": s.ews_block_list,
        })
    };
    let mut v = view(&tenant.exchange.written);
    let effective = view(tenant.exchange.effective_now(delay));
    v["ewsNullBlocked"] = tenant.exchange.null_blocked.into();
    v["exchangeAdministrators"] = json!(tenant.exchange_administrators());
    v["organizationGuid"] = tenant.exchange.guid.clone().into();
    v["effective"] = effective;
    v["pendingChanges"] = tenant.exchange.pending.len().into();
    let (sps, assignments) = super::exchange_rbac::control_view(tenant);
    v["servicePrincipals"] = sps;
    v["roleAssignments"] = assignments;
    v
}

fn opt_string_list(name: &str, v: &Value) -> Result<Option<Vec<String>>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str().map(str::to_string).ok_or_else(|| format!("{name} must be an array of strings or null"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        _ => Err(format!("{name} must be an array of strings or null")),
    }
}

/// `PATCH /_emulator/tenants/{tenant}/exchange`. Settings are written as Set-OrganizationConfig
/// writes them (enforced after the propagation delay) unless `effectiveNow` is true.
/// Nothing changes when the body is refused.
pub fn control_patch(tenant: &mut Tenant, body: &Value) -> Result<(), String> {
    let Some(b) = body.as_object() else { return Err("the body must be a JSON object".into()) };
    let mut s = tenant.exchange.written.clone();
    let mut settings_given = false;
    let mut null_blocked = None;
    let mut admins = None;
    let mut now = false;
    for (k, v) in b {
        match k.as_str() {
            "ewsEnabled" => {
                s.ews_enabled = match v {
                    Value::Null => None,
                    Value::Bool(x) => Some(*x),
                    _ => return Err("ewsEnabled must be true, false or null".into()),
                };
                settings_given = true;
            }
            "ewsAllowedAppIDs" => {
                s.ews_allowed_app_ids = match v {
                    Value::Null => None,
                    Value::String(x) => Some(x.clone()),
                    Value::Array(_) => opt_string_list(k, v)?.map(|l| l.join(",")),
                    _ => return Err("ewsAllowedAppIDs must be a comma-separated string, an array or null".into()),
                };
                settings_given = true;
            }
            "ewsApplicationAccessPolicy" => {
                s.ews_application_access_policy = match v {
                    Value::Null => None,
                    Value::String(x) if ACCESS_POLICIES.contains(&x.as_str()) => Some(x.clone()),
                    _ => {
                        return Err(
                            "ewsApplicationAccessPolicy must be EnforceAllowList, EnforceBlockList or null".into()
                        );
                    }
                };
                settings_given = true;
            }
            "ewsAllowList" => {
                s.ews_allow_list = opt_string_list(k, v)?;
                settings_given = true;
            }
            "ewsBlockList" => {
                s.ews_block_list = opt_string_list(k, v)?;
                settings_given = true;
            }
            "ewsNullBlocked" => null_blocked = Some(v.as_bool().ok_or("ewsNullBlocked must be true or false")?),
            "exchangeAdministrators" => {
                let ids = opt_string_list(k, v)?.ok_or("exchangeAdministrators must be an array")?;
                if let Some(bad) = ids.iter().find(|id| tenant.sp_by_id(id).is_none()) {
                    return Err(format!("exchangeAdministrators: no service principal has the object id {bad}"));
                }
                admins = Some(ids);
            }
            "effectiveNow" => now = v.as_bool().ok_or("effectiveNow must be true or false")?,
            other => return Err(format!("'{other}' is not an Exchange setting of the emulator")),
        }
    }
    if settings_given {
        tenant.exchange.write(s);
    }
    if let Some(n) = null_blocked {
        tenant.exchange.null_blocked = n;
    }
    if let Some(ids) = admins {
        tenant.directory_roles.retain(|m| m.role_template_id != EXCHANGE_ADMINISTRATOR_ROLE);
        for id in ids {
            let principal_id = tenant.sp_by_id(&id).map(|sp| sp.obj.id().to_string()).unwrap_or(id);
            tenant
                .directory_roles
                .push(DirectoryRoleMember { role_template_id: EXCHANGE_ADMINISTRATOR_ROLE.into(), principal_id });
        }
    }
    if now {
        tenant.exchange.make_effective();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agent_patterns_take_wildcards() {
        assert!(wildcard("*", "anything"));
        assert!(wildcard("Mozilla/*", "mozilla/5.0 (Windows)"));
        assert!(wildcard("*Outlook*", "Microsoft Office/16.0 (Outlook 16.0)"));
        assert!(wildcard("Kodo*probe", "Kodo EWS probe"));
        assert!(!wildcard("Kodo*probe", "Kodo EWS probes"));
        assert!(!wildcard("Outlook", "Outlook/1"));
    }

    #[test]
    fn ews_decisions_follow_the_settings() {
        let app = "11111111-2222-3333-4444-555555555555";
        let on = |ids: Option<&str>| EwsSettings {
            ews_enabled: Some(true),
            ews_allowed_app_ids: ids.map(str::to_string),
            ..Default::default()
        };
        assert_eq!(decide(&EwsSettings::default(), true, app, ""), EwsDecision::Disabled);
        assert_eq!(decide(&EwsSettings::default(), false, app, ""), EwsDecision::Allowed);
        let off = EwsSettings { ews_enabled: Some(false), ..Default::default() };
        assert_eq!(decide(&off, false, app, ""), EwsDecision::Disabled);
        assert_eq!(decide(&on(None), true, app, ""), EwsDecision::Blocked);
        assert_eq!(decide(&on(Some("")), true, app, ""), EwsDecision::Blocked);
        assert_eq!(
            decide(&on(Some("aaaa, 11111111-2222-3333-4444-555555555555")), true, app, ""),
            EwsDecision::Allowed
        );
        let mut s = on(Some(app));
        s.ews_application_access_policy = Some("EnforceAllowList".into());
        assert_eq!(decide(&s, true, app, "Kodo/1"), EwsDecision::Blocked);
        s.ews_allow_list = Some(vec!["Kodo/*".into()]);
        assert_eq!(decide(&s, true, app, "Kodo/1"), EwsDecision::Allowed);
        s.ews_application_access_policy = Some("EnforceBlockList".into());
        s.ews_block_list = Some(vec!["*Kodo*".into()]);
        assert_eq!(decide(&s, true, app, "Kodo/1"), EwsDecision::Blocked);
        assert_eq!(decide(&s, true, app, "Other/1"), EwsDecision::Allowed);
    }

    #[test]
    fn elements_are_found_by_local_name() {
        let xml = "<soap:Envelope><soap:Header><t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress> a@b.c </t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation></soap:Header><soap:Body><m:GetFolder><m:FolderIds><t:DistinguishedFolderId Id=\"msgfolderroot\"/><t:DistinguishedFolderId Id=\"inbox\" /></m:FolderIds></m:GetFolder></soap:Body></soap:Envelope>";
        let (_, imp) = element(xml, "ExchangeImpersonation").unwrap();
        assert_eq!(element(imp, "PrimarySmtpAddress").unwrap().1.trim(), "a@b.c");
        let (_, gf) = element(xml, "GetFolder").unwrap();
        let ids: Vec<String> =
            elements(gf, "DistinguishedFolderId").iter().filter_map(|t| attribute(t, "Id")).collect();
        assert_eq!(ids, ["msgfolderroot", "inbox"]);
        assert!(element(gf, "FolderId").is_none());
    }
}
