//! Microsoft Graph v1.0, the subset Kodo uses: applications, servicePrincipals, app role
//! assignments, oauth2PermissionGrants, organization, sites/root, admin/sharepoint/settings
//! and JSON batching. Shapes, status codes and error codes follow facts.md §3 (cited per item).
//!
//! Every call checks the caller's token and its roles (app-only) or scopes (delegated) as
//! Graph does (facts.md §3.1), and sees only objects that have replicated (facts.md §3.12).

use super::apppolicy;
use super::graph_query::{self, Mode};
use super::odata;
use super::pki::{self, parse_jwt, verify_jwt_signature};
use super::state::*;
use super::world::{EmulatorConfig, LogEntry, World, application_json, assignment_json, generate_secret};
use axum::http::HeaderMap;
use rand::Rng;
use serde_json::{Map, Value, json};
use std::time::Duration;

/// Who is calling, from a verified token.
#[derive(Clone, Debug)]
pub struct Caller {
    pub tenant_id: String,
    pub app_id: String,
    pub oid: String,
    pub roles: Vec<String>,
    pub scopes: Vec<String>,
    pub app_only: bool,
    /// Directory roles (role template ids) of a delegated caller (the token's `wids`).
    pub wids: Vec<String>,
}

/// A Graph response before it becomes HTTP (also a `$batch` sub-response).
#[derive(Clone, Debug)]
pub struct GResp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl GResp {
    fn json(status: u16, body: Value) -> GResp {
        GResp { status, headers: vec![("Content-Type".into(), "application/json".into())], body: Some(body) }
    }
    fn empty(status: u16) -> GResp {
        GResp { status, headers: Vec::new(), body: None }
    }

    /// Gives the response its ids (facts.md §3.12: "Response headers carry the same request-id
    /// and client-request-id (client may send its own client-request-id)"): a fresh
    /// `request-id`, and `client_request_id`, in an error body's `innerError` and, with
    /// `headers` (a whole HTTP response, not a `$batch` item), in the response headers.
    pub fn stamp(&mut self, client_request_id: &str, headers: bool) {
        self.stamp_as(new_id(), client_request_id, headers)
    }

    /// [`GResp::stamp`] with a `request_id` chosen before the response was made (a `$batch`'s,
    /// which its items' log entries name).
    pub fn stamp_as(&mut self, request_id: String, client_request_id: &str, headers: bool) {
        if let Some(inner) = self
            .body
            .as_mut()
            .and_then(|b| b.get_mut("error"))
            .and_then(|e| e.get_mut("innerError"))
            .and_then(Value::as_object_mut)
        {
            inner.insert("request-id".into(), request_id.clone().into());
            inner.insert("client-request-id".into(), client_request_id.into());
        }
        if headers {
            self.headers
                .retain(|(k, _)| !k.eq_ignore_ascii_case("request-id") && !k.eq_ignore_ascii_case("client-request-id"));
            self.headers.push(("request-id".into(), request_id));
            self.headers.push(("client-request-id".into(), client_request_id.into()));
        }
    }
}

/// The `client-request-id` the client sent among `headers` (request headers, or a `$batch`
/// item's `headers`), if any: the one to echo (facts.md §3.12).
pub fn sent_client_request_id<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<String> {
    headers
        .into_iter()
        .find(|(k, v)| k.eq_ignore_ascii_case("client-request-id") && !v.trim().is_empty())
        .map(|(_, v)| v.trim().to_string())
}

/// Graph's error body (facts.md §3.12: code, message, innerError with date, request-id,
/// client-request-id). The ids are fresh here; [`GResp::stamp`] sets the ones of the request.
pub fn gerr(status: u16, code: &str, message: &str) -> GResp {
    let request_id = new_id();
    GResp {
        status,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: Some(json!({
            "error": {
                "code": code,
                "message": message,
                "innerError": {
                    "date": crate::state::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
                    "request-id": request_id,
                    "client-request-id": new_id(),
                }
            }
        })),
    }
}

fn not_found(id: &str) -> GResp {
    // facts.md §3.12, Request_ResourceNotFound pattern.
    gerr(
        404,
        "Request_ResourceNotFound",
        &format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
    )
}

fn denied() -> GResp {
    // facts.md §3.12 (json-batching doc example).
    gerr(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
}

fn bad_request(message: &str) -> GResp {
    gerr(400, "Request_BadRequest", message)
}

/// Checks the bearer token of a request to `audience_ok` resources.
pub fn authenticate(
    world: &World,
    headers: &HeaderMap,
    audience_ok: impl Fn(&str, &Tenant) -> bool,
) -> Result<Caller, GResp> {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    let token = auth.strip_prefix("Bearer ").or_else(|| auth.strip_prefix("bearer ")).unwrap_or("").trim();
    if token.is_empty() {
        return Err(gerr(401, "InvalidAuthenticationToken", "Access token is empty."));
    }
    let Some(jwt) = parse_jwt(token) else {
        // docs/emulator-research.md §2 (O365/python-o365#1111).
        return Err(gerr(
            401,
            "InvalidAuthenticationToken",
            "IDX14100: JWT is not well formed, there are no dots (.). The token needs to be in JWS or JWE Compact Serialization Format. (JWS): 'EncodedHeader.EncodedPayload.EncodedSignature'. (JWE): 'EncodedProtectedHeader.EncodedEncryptedKey.EncodedInitializationVector.EncodedCiphertext.EncodedAuthenticationTag'.",
        ));
    };
    let public = world.signing.key.to_public_key();
    if !verify_jwt_signature(&jwt, &public) {
        return Err(gerr(401, "InvalidAuthenticationToken", "Access token validation failure."));
    }
    let c = &jwt.claims;
    let now = crate::state::now().timestamp();
    if c["exp"].as_i64().unwrap_or(0) < now {
        return Err(gerr(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired."));
    }
    let tenant_id = c["tid"].as_str().unwrap_or("").to_string();
    let tenants = world.tenants.lock();
    let Some(tenant) = tenants.iter().find(|t| t.id == tenant_id) else {
        return Err(gerr(401, "InvalidAuthenticationToken", "Access token validation failure."));
    };
    if !audience_ok(c["aud"].as_str().unwrap_or(""), tenant) {
        return Err(gerr(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience."));
    }
    // A token with neither roles nor scp (docs/emulator-research.md §2, TheNetworg/oauth2-azure#86).
    if c.get("roles").is_none() && c.get("scp").is_none() {
        return Err(gerr(401, "AccessDenied", "Either scp or roles claim need to be present in the token."));
    }
    let strings = |v: &Value| -> Vec<String> {
        v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
    };
    Ok(Caller {
        tenant_id,
        app_id: c["appid"].as_str().unwrap_or("").to_string(),
        oid: c["oid"].as_str().unwrap_or("").to_string(),
        roles: strings(&c["roles"]),
        scopes: c["scp"].as_str().map(|s| s.split_whitespace().map(str::to_string).collect()).unwrap_or_default(),
        app_only: c["idtyp"] == "app",
        wids: strings(&c["wids"]),
    })
}

pub fn graph_audience(aud: &str, _tenant: &Tenant) -> bool {
    let a = aud.trim_end_matches('/');
    a.eq_ignore_ascii_case("https://graph.microsoft.com") || a.eq_ignore_ascii_case(GRAPH_APP_ID)
}

impl Caller {
    /// True if the caller holds any of `perms` (roles for app-only, scopes for delegated).
    fn has_any(&self, perms: &[&str]) -> bool {
        let held = if self.app_only { &self.roles } else { &self.scopes };
        perms.iter().any(|p| held.iter().any(|h| h.eq_ignore_ascii_case(p)))
    }
}

/// Directory roles (template ids, docs/multitenant-research.md §3) a signed-in admin needs, as
/// facts.md §3.1 reads Learn "Grant tenant-wide admin consent" and "delegate-by-task": app roles
/// of Microsoft Graph need Privileged Role Administrator (or Global Administrator); other APIs'
/// app roles and service principals Cloud Application Administrator or Application
/// Administrator as well. Whether Privileged Role Administrator alone may create a service
/// principal is UNCONFIRMED (the emulator lets it: it may consent to any permission).
const ROLES_GRAPH_APP_ROLES: &[&str] = &[GLOBAL_ADMINISTRATOR_ROLE, "e8611ab8-c189-46e8-94e1-60213ab1f814"];
const ROLES_APP_ADMIN: &[&str] = &[
    GLOBAL_ADMINISTRATOR_ROLE,
    "e8611ab8-c189-46e8-94e1-60213ab1f814",
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
    "158c047a-c907-4556-b7ef-446551a6b5f7",
];

impl Caller {
    /// An app-only caller (its Graph permissions decide), or a delegated one holding one of `roles`.
    fn holds_role(&self, roles: &[&str]) -> bool {
        self.app_only || self.wids.iter().any(|w| roles.iter().any(|r| r.eq_ignore_ascii_case(w)))
    }
}

const APP_READ: &[&str] = &[
    "Application.Read.All",
    "Application.ReadWrite.All",
    "Application.ReadWrite.OwnedBy",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const APP_WRITE: &[&str] = &["Application.ReadWrite.All", "Application.ReadWrite.OwnedBy"];
const GRANT_WRITE: &[&str] = &["DelegatedPermissionGrant.ReadWrite.All", "Directory.ReadWrite.All"];
const GRANT_READ: &[&str] = &[
    "DelegatedPermissionGrant.Read.All",
    "DelegatedPermissionGrant.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const ORG_READ: &[&str] = &[
    "Organization.Read.All",
    "Organization.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    "User.Read",
];
const SITES_READ: &[&str] = &["Sites.Read.All", "Sites.ReadWrite.All", "Sites.Manage.All", "Sites.FullControl.All"];
const SPO_SETTINGS_READ: &[&str] = &["SharePointTenantSettings.Read.All", "SharePointTenantSettings.ReadWrite.All"];
const SPO_SETTINGS_WRITE: &[&str] = &["SharePointTenantSettings.ReadWrite.All"];
/// Reading administrative units and their members (docs/exchange-rbac-research.md §4.1, GDOC).
const AU_READ: &[&str] = &[
    "AdministrativeUnit.Read.All",
    "AdministrativeUnit.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
/// Reading users (the user-list permissions).
const USER_READ: &[&str] = &["User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"];
const GROUP_READ: &[&str] =
    &["GroupMember.Read.All", "Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"];

/// A parsed request URL relative to `/v1.0`.
struct Target {
    segments: Vec<Segment>,
    query: Vec<(String, String)>,
    /// Page size of a collection when there is no `$top` (facts.md §3.14).
    page_size: usize,
    /// `ConsistencyLevel: eventual` (advanced queries).
    mode: Mode,
}

#[derive(Debug)]
struct Segment {
    name: String,
    /// `name(key='value')` alternate key, or `name('value')`.
    key: Option<(String, String)>,
}

fn parse_target(url: &str) -> Target {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let segments = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|raw| {
            let s = percent_decode(raw);
            match s.find('(') {
                Some(i) if s.ends_with(')') => {
                    let inner = &s[i + 1..s.len() - 1];
                    let (k, v) = inner.split_once('=').unwrap_or(("id", inner));
                    Segment {
                        name: s[..i].to_string(),
                        key: Some((k.trim().to_string(), v.trim().trim_matches('\'').to_string())),
                    }
                }
                _ => Segment { name: s, key: None },
            }
        })
        .collect();
    let query = form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    Target { segments, query, page_size: EmulatorConfig::DEFAULT_PAGE_SIZE, mode: Mode::default() }
}

fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

impl Target {
    /// The `$filter` of a list of `entity` (Graph's type name), parsed and checked against what
    /// Graph supports ([`graph_query::filter`]); `None` without one.
    fn filter(&self, entity: &str) -> Result<Filter, GResp> {
        graph_query::filter(entity, self.q("$filter"), self.mode)
    }

    /// What `$select` keeps: the selected properties, and the expanded relationships (Graph
    /// returns those with any `$select`).
    fn shown(&self) -> Option<String> {
        let select = self.q("$select")?;
        Some(match self.q("$expand") {
            Some(e) => format!("{select},{e}"),
            None => select.to_string(),
        })
    }

    fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name) || k.eq_ignore_ascii_case(name.trim_start_matches('$')))
            .map(|(_, v)| v.as_str())
    }
}

type Filter = Option<odata::Expr>;

fn matches(obj: &Map<String, Value>, filter: &Filter) -> bool {
    filter.as_ref().is_none_or(|e| odata::eval(e, obj))
}

/// Applies `$select`; `keyCredentials[].key` is returned only when selected (facts.md §3.3).
fn project(mut obj: Map<String, Value>, select: Option<&str>) -> Map<String, Value> {
    let keys_selected = select.is_some_and(|s| s.split(',').any(|p| p.trim().eq_ignore_ascii_case("keyCredentials")));
    if !keys_selected {
        if let Some(Value::Array(keys)) = obj.get_mut("keyCredentials") {
            for k in keys {
                if let Some(m) = k.as_object_mut() {
                    m.insert("key".into(), Value::Null);
                }
            }
        }
    }
    match select {
        None => obj,
        Some(s) => {
            let wanted: Vec<&str> = s.split(',').map(str::trim).collect();
            // `@odata.type` of a member of a directoryObject collection stays with `$select`.
            obj.retain(|k, _| k == "@odata.type" || wanted.iter().any(|w| w.eq_ignore_ascii_case(k)));
            obj
        }
    }
}

fn context(base: &str, entity_set: &str, select: Option<&str>, single: bool) -> String {
    let sel = select.map(|s| format!("({s})")).unwrap_or_default();
    format!("{base}/v1.0/$metadata#{entity_set}{sel}{}", if single { "/$entity" } else { "" })
}

fn entity(base: &str, entity_set: &str, select: Option<&str>, obj: Map<String, Value>) -> Value {
    let mut out = Map::new();
    out.insert("@odata.context".into(), context(base, entity_set, select, true).into());
    out.extend(project(obj, select));
    Value::Object(out)
}

/// A collection page with `@odata.nextLink` when more remain (facts.md §3.14). `items` are the
/// matching objects in list order; `id_of` names each, `view` turns the page's ones into JSON
/// (only those: a list of thousands is not copied per page). The page size is `$top` (1..999)
/// or else the emulator's page size. `@odata.nextLink` is the full URL of the next page, on
/// the host the client used, with the original query options and a `$skiptoken`.
fn collection<T>(
    base: &str,
    entity_set: &str,
    path: &str,
    t: &Target,
    items: Vec<T>,
    id_of: impl Fn(&T) -> &str,
    view: impl Fn(T) -> Map<String, Value>,
) -> Value {
    // `$search` and `$orderby` (advanced queries, checked in graph_query) need every object's
    // JSON: only then are they all built.
    let search = t.q("$search");
    let order = t.q("$orderby");
    if search.is_none() && order.is_none() {
        return paged(base, entity_set, path, t, items, id_of, view);
    }
    let mut objs: Vec<Map<String, Value>> = items.into_iter().map(view).collect();
    if let Some(s) = search {
        objs.retain(|o| graph_query::search_matches(o, s));
    }
    if let Some(o) = order {
        let desc = o.trim().to_ascii_lowercase().ends_with(" desc");
        let key =
            |m: &Map<String, Value>| m.get("displayName").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
        objs.sort_by(|a, b| if desc { key(b).cmp(&key(a)) } else { key(a).cmp(&key(b)) });
    }
    paged(base, entity_set, path, t, objs, |o| map_id(o), |o| o)
}

/// One page of `items` (in their order), as [`collection`] describes.
fn paged<T>(
    base: &str,
    entity_set: &str,
    path: &str,
    t: &Target,
    items: Vec<T>,
    id_of: impl Fn(&T) -> &str,
    view: impl Fn(T) -> Map<String, Value>,
) -> Value {
    let shown = t.shown();
    let select = shown.as_deref();
    let top = t
        .q("$top")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(t.page_size)
        .clamp(1, EmulatorConfig::MAX_PAGE_SIZE);
    let skip = t.q("$skiptoken").map(|tok| resume_at(tok, &items, &id_of)).unwrap_or(0);
    let total = items.len();
    let end = (skip + top).min(total);
    // `$count=true` with ConsistencyLevel: eventual (checked in graph_query): the count of all
    // matching objects, on every page.
    let count = t.q("$count").is_some_and(|c| c.eq_ignore_ascii_case("true")) && t.mode.eventual;
    let next = (end < total).then(|| skiptoken(end, id_of(&items[end - 1])));
    let page: Vec<Value> =
        items.into_iter().skip(skip).take(top).map(|o| Value::Object(project(view(o), select))).collect();
    let mut out = Map::new();
    out.insert("@odata.context".into(), context(base, entity_set, select, false).into());
    if count {
        out.insert("@odata.count".into(), total.into());
    }
    if let Some(token) = next {
        let mut query: Vec<(String, String)> =
            t.query.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("$skiptoken")).cloned().collect();
        query.push(("$skiptoken".into(), token));
        out.insert("@odata.nextLink".into(), format!("{base}/v1.0/{path}?{}", query_string(&query)).into());
    }
    out.insert("value".into(), Value::Array(page));
    Value::Object(out)
}

/// An opaque `$skiptoken` (clients use the nextLink as-is, facts.md §3.14): the position after
/// the page and the id of its last object.
fn skiptoken(position: usize, last_id: &str) -> String {
    pki::b64url(format!("{position}.{last_id}").as_bytes())
}

/// Where the page of a `$skiptoken` starts: after the object it names, so that objects deleted
/// or added before it meanwhile shift nothing; at its position if that object is gone; at the
/// start if the token is not one of ours.
fn resume_at<T>(token: &str, items: &[T], id_of: impl Fn(&T) -> &str) -> usize {
    let Some(text) = pki::b64url_decode(token).and_then(|b| String::from_utf8(b).ok()) else { return 0 };
    let (position, last_id) = text.split_once('.').unwrap_or((&text, ""));
    if !last_id.is_empty() {
        if let Some(i) = items.iter().position(|x| id_of(x) == last_id) {
            return i + 1;
        }
    }
    position.parse().unwrap_or(0)
}

/// A query string with `$` kept in option names, as in Graph's nextLinks (facts.md §3.14).
fn query_string(query: &[(String, String)]) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    query.iter().map(|(k, v)| format!("{}={}", enc(k).replace("%24", "$"), enc(v))).collect::<Vec<_>>().join("&")
}

/// Properties a client may set on an application (facts.md §3.2, META EntityType application).
const APP_PROPS: &[&str] = &[
    "displayName",
    "signInAudience",
    "requiredResourceAccess",
    "tags",
    "notes",
    "keyCredentials",
    "description",
    "identifierUris",
    "web",
    "api",
    "publicClient",
    "info",
    "isFallbackPublicClient",
    "serviceManagementReference",
    "spa",
    "appRoles",
    "optionalClaims",
    "groupMembershipClaims",
    // Adding passwords this way is checked against app management policies like addPassword
    // (docs/app-policy-research.md §3.3: the PATCH form under a policy is UNCONFIRMED).
    "passwordCredentials",
];

/// Serves one Graph request (also a `$batch` sub-request). `base` is the scheme and host the
/// client used, for `@odata.context` and `@odata.nextLink`.
pub fn dispatch(
    world: &World,
    caller: &Caller,
    base: &str,
    method: &str,
    url: &str,
    body: Option<Value>,
    mode: Mode,
) -> GResp {
    // Throttling: a fraction of requests get 429 + Retry-After, individually per batch item
    // (facts.md §3.12 throttling row, §3.13).
    let rate = *world.throttle_rate.lock();
    if rate > 0.0 && rand::rng().random::<f64>() < rate {
        // Body from the throttling doc sample, headers from a real capture
        // (docs/emulator-research.md §4); request-id and client-request-id are set by
        // `GResp::stamp`, in the body's innerError too (facts.md §3.12).
        let request_id = new_id();
        let date = crate::state::now().format("%Y-%m-%dT%H:%M:%S").to_string();
        return GResp {
            status: 429,
            headers: vec![("Content-Type".into(), "application/json".into()), ("Retry-After".into(), "1".into())],
            body: Some(json!({ "error": {
                "code": "TooManyRequests",
                "innerError": { "code": "429", "date": date, "message": "Please retry after", "request-id": request_id, "status": "429" },
                "message": "Please retry again later."
            }})),
        };
    }
    let mut t = parse_target(url);
    t.page_size = world.page_size();
    t.mode = mode;
    // `/v1.0/myorganization/...` is the tenant of the token, as `/v1.0/...` (what CLI for
    // Microsoft 365 and others send).
    if t.segments.first().is_some_and(|s| s.name.eq_ignore_ascii_case("myorganization") && s.key.is_none()) {
        t.segments.remove(0);
    }
    let listed = graph_query::entity_of(t.segments.first().map(|s| s.name.as_str()).unwrap_or(""));
    if let Err(e) = graph_query::check_options(&t.query, mode, listed) {
        return e;
    }
    // `GET /{collection}/$count`: a plain number, with advanced query only
    // (docs/graph-query-research.md §5): the collection's `@odata.count`.
    if t.segments.len() == 2 && t.segments[1].name == "$count" && t.segments[1].key.is_none() {
        if !mode.eventual {
            return gerr(400, "Request_BadRequest", "$count is not currently supported.");
        }
        let mut query: Vec<(String, String)> = t
            .query
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$top") && !k.eq_ignore_ascii_case("$count"))
            .cloned()
            .collect();
        query.push(("$count".into(), "true".into()));
        query.push(("$top".into(), "1".into()));
        let list = format!("{}?{}", t.segments[0].name, query_string(&query));
        let r = dispatch(world, caller, base, method, &list, None, mode);
        return match r.body.as_ref().and_then(|b| b.get("@odata.count")).cloned() {
            Some(n) if r.status == 200 => {
                GResp { status: 200, headers: vec![("Content-Type".into(), "text/plain".into())], body: Some(n) }
            }
            _ => r,
        };
    }
    let mut tenants = world.tenants.lock();
    // POST /servicePrincipals {appId} of another tenant's multi-tenant app.
    let foreign = match (method, t.segments.as_slice()) {
        ("POST", [only]) if only.name == "servicePrincipals" && only.key.is_none() => {
            let app_id = body.as_ref().and_then(|b| b["appId"].as_str()).unwrap_or("");
            tenants
                .iter()
                .position(|x| x.id == caller.tenant_id)
                .and_then(|here| super::adminconsent::foreign_app(&tenants, here, app_id))
        }
        _ => None,
    };
    let Some(tenant) = tenants.iter_mut().find(|x| x.id == caller.tenant_id) else { return denied() };
    let lag = world.lag();
    let names: Vec<&str> = t.segments.iter().map(|s| s.name.as_str()).collect();
    let m = method.to_ascii_uppercase();
    let select = t.shown();
    let sel = select.as_deref();

    match (m.as_str(), names.as_slice()) {
        // ---------------------------------------------------------------- applications
        ("GET", ["applications"]) if t.segments[0].key.is_none() => {
            if !caller.has_any(APP_READ) {
                return denied();
            }
            let clauses = match t.filter("Application") {
                Ok(c) => c,
                Err(e) => return e,
            };
            let tenant_ro: &Tenant = tenant;
            let items =
                tenant_ro.applications.iter().filter(|a| a.obj.visible() && matches(&a.obj.json, &clauses)).collect();
            let page = collection(
                base,
                "applications",
                "applications",
                &t,
                items,
                |a| a.obj.id(),
                |a| expand(tenant_ro, "applications", a.obj.json.clone(), a.owner.as_ref(), &t),
            );
            GResp::json(200, page)
        }
        ("POST", ["applications"]) => create_application(tenant, caller, base, body, lag, None),
        // Upsert by the client's alternate key (application-upsert doc): created (201) if no
        // app has the uniqueName, else updated (204); without `Prefer: create-if-missing` a
        // missing one is 404. The key is unique across the directory at once, replicated or
        // not: that is what makes a repeat safe.
        ("PATCH", ["applications"]) if t.segments[0].key.as_ref().is_some_and(|(k, _)| k == "uniqueName") => {
            let unique = t.segments[0].key.as_ref().map(|(_, v)| v.clone()).unwrap_or_default();
            let existing = tenant.applications.iter().position(|a| {
                a.obj.json.get("uniqueName").and_then(Value::as_str).is_some_and(|u| u.eq_ignore_ascii_case(&unique))
            });
            match existing {
                Some(pos) => {
                    let owned = tenant.applications[pos].owner.as_deref() == Some(caller.oid.as_str());
                    if !(caller.has_any(&["Application.ReadWrite.All"])
                        || (owned && caller.has_any(&["Application.ReadWrite.OwnedBy"])))
                    {
                        return denied();
                    }
                    patch_application(tenant, pos, body)
                }
                None if t.mode.create_if_missing => create_application(tenant, caller, base, body, lag, Some(&unique)),
                None if caller.has_any(APP_READ) => not_found(&unique),
                None => denied(),
            }
        }
        (_, ["applications", ..]) => application_item(tenant, caller, base, &m, &t, body, sel, &world.issued_secrets),

        // ------------------------------------------------------------- servicePrincipals
        ("GET", ["servicePrincipals"]) if t.segments[0].key.is_none() => {
            if !caller.has_any(APP_READ) {
                return denied();
            }
            let clauses = match t.filter("ServicePrincipal") {
                Ok(c) => c,
                Err(e) => return e,
            };
            // Only first-party SPs differ from their stored JSON (sp_view adds their roles).
            let items = tenant
                .service_principals
                .iter()
                .filter(|s| {
                    s.obj.visible()
                        && if s.first_party.is_some() {
                            matches(&sp_view(s), &clauses)
                        } else {
                            matches(&s.obj.json, &clauses)
                        }
                })
                .collect();
            let tenant_ro: &Tenant = tenant;
            let page = collection(
                base,
                "servicePrincipals",
                "servicePrincipals",
                &t,
                items,
                |s| s.obj.id(),
                |s| expand(tenant_ro, "servicePrincipals", sp_view(s), None, &t),
            );
            GResp::json(200, page)
        }
        ("POST", ["servicePrincipals"]) => {
            if !caller.has_any(APP_WRITE) {
                return denied();
            }
            if !caller.holds_role(ROLES_APP_ADMIN) {
                return denied();
            }
            let app_id = body.as_ref().and_then(|b| b["appId"].as_str()).unwrap_or("").to_string();
            // A multi-tenant app of another tenant: its service principal here names its home
            // tenant (as admin consent makes it, adminconsent.rs).
            let home = match tenant.app_by_app_id(&app_id) {
                Some(_) => tenant.id.clone(),
                None => foreign.as_ref().map(|(_, h)| h.clone()).unwrap_or_default(),
            };
            let Some(app) =
                tenant.app_by_app_id(&app_id).or(foreign.as_ref().map(|(a, _)| a)).filter(|a| a.obj.visible())
            else {
                // facts.md §3.12: NoBackingApplicationObject, retried by clients on replication lag.
                let mut r = bad_request(&format!(
                    "The appId '{app_id}' of the service principal does not reference a valid application object."
                ));
                if let Some(Value::Object(e)) = r.body.as_mut().and_then(|b| b.get_mut("error")) {
                    e.insert("details".into(), json!([{ "code": "NoBackingApplicationObject", "target": "appId" }]));
                }
                return r;
            };
            if tenant.sp_by_app_id(&app_id).is_some() {
                return gerr(
                    409,
                    "Request_MultipleObjectsWithSameKeyValue",
                    "Another object with the same value for property servicePrincipalNames already exists.",
                );
            }
            let name = app.obj.str("displayName").to_string();
            let mut sp = service_principal_json(&app_id, &name, &home, "Application");
            if let Some(tags) = body.as_ref().and_then(|b| b.get("tags")).cloned() {
                sp.insert("tags".into(), tags);
            }
            let obj = sp.clone();
            tenant.service_principals.push(ServicePrincipal { obj: Stored::new(sp, lag), first_party: None });
            GResp::json(201, entity(base, "servicePrincipals", None, obj))
        }
        (_, ["servicePrincipals", ..]) => sp_item(tenant, caller, base, &m, &t, body, sel, lag),

        // ------------------------------------------------------- oauth2PermissionGrants
        ("GET", ["oauth2PermissionGrants"]) => {
            if !caller.has_any(GRANT_READ) {
                return denied();
            }
            let clauses = match t.filter("OAuth2PermissionGrant") {
                Ok(c) => c,
                Err(e) => return e,
            };
            let items = tenant.grants.iter().filter(|g| g.visible() && matches(&g.json, &clauses)).collect();
            let path = "oauth2PermissionGrants";
            GResp::json(200, collection(base, path, path, &t, items, |g| g.id(), |g| g.json.clone()))
        }
        ("POST", ["oauth2PermissionGrants"]) => {
            if !caller.has_any(GRANT_WRITE) {
                return denied();
            }
            let b = body.unwrap_or(Value::Null);
            let client_id = b["clientId"].as_str().unwrap_or("").to_string();
            let resource_id = b["resourceId"].as_str().unwrap_or("").to_string();
            let consent = b["consentType"].as_str().unwrap_or("").to_string();
            let principal = b["principalId"].as_str().map(str::to_string);
            if consent != "AllPrincipals" && consent != "Principal" {
                return bad_request(
                    "Invalid value specified for property 'consentType' of resource 'OAuth2PermissionGrant'.",
                );
            }
            if tenant.sp_by_id(&client_id).filter(|s| s.obj.visible()).is_none()
                || tenant.sp_by_id(&resource_id).is_none()
            {
                // Same reference check as app role assignments (facts.md §3.12).
                return bad_request("Not a valid reference update");
            }
            let exists = tenant.grants.iter().any(|g| {
                g.str("clientId") == client_id
                    && g.str("resourceId") == resource_id
                    && g.str("consentType") == consent
                    && g.json.get("principalId").and_then(Value::as_str).map(str::to_string) == principal
            });
            if exists {
                // facts.md §3.10 / §3.12 (terraform-provider-azuread#690).
                return gerr(409, "Request_MultipleObjectsWithSameKeyValue", "Permission entry already exists.");
            }
            let mut id = grant_id(&client_id, &resource_id);
            if let Some(p) = &principal {
                id.push_str(&pki::b64url(&guid_bytes_le(p)));
            }
            let grant = json!({
                "clientId": client_id, "consentType": consent, "id": id,
                "principalId": principal, "resourceId": resource_id, "scope": b["scope"].as_str().unwrap_or(""),
            });
            let Value::Object(g) = grant else { return denied() };
            tenant.grants.push(Stored::new(g.clone(), lag));
            GResp::json(201, entity(base, "oauth2PermissionGrants", None, g))
        }
        (_, ["oauth2PermissionGrants", id]) => {
            let id = id.to_string();
            let Some(pos) = tenant.grants.iter().position(|g| g.id() == id && g.visible()) else {
                return not_found(&id);
            };
            match m.as_str() {
                "GET" => {
                    if !caller.has_any(GRANT_READ) {
                        return denied();
                    }
                    GResp::json(200, entity(base, "oauth2PermissionGrants", sel, tenant.grants[pos].json.clone()))
                }
                "PATCH" => {
                    if !caller.has_any(GRANT_WRITE) {
                        return denied();
                    }
                    let b = body.unwrap_or(Value::Null);
                    if b.get("principalId").is_some() {
                        // facts.md §3.10 (MicrosoftDocs/azure-docs#105249).
                        return bad_request("Property cannot be updated: principalId");
                    }
                    if let Some(scope) = b.get("scope").and_then(Value::as_str) {
                        tenant.grants[pos].json.insert("scope".into(), scope.into());
                    }
                    GResp::empty(204)
                }
                "DELETE" => {
                    if !caller.has_any(GRANT_WRITE) {
                        return denied();
                    }
                    tenant.grants.remove(pos);
                    GResp::empty(204)
                }
                _ => method_not_allowed(),
            }
        }

        // ------------------------------------------------------------- organization etc.
        ("GET", ["organization"]) => {
            if !caller.has_any(ORG_READ) {
                return denied();
            }
            let org = json!({
                "id": tenant.id, "deletedDateTime": null, "createdDateTime": tenant.created, "displayName": tenant.display_name,
                "tenantType": "AAD", "countryLetterCode": "US", "preferredLanguage": "en",
                "verifiedDomains": [{ "capabilities": "Email, OfficeCommunicationsOnline", "isDefault": true, "isInitial": true, "name": tenant.initial_domain, "type": "Managed" }],
            });
            let Value::Object(o) = org else { return denied() };
            let mut t2 = Target { segments: Vec::new(), query: t.query.clone(), page_size: t.page_size, mode: t.mode };
            t2.query.retain(|(k, _)| k != "$top");
            let page = collection(base, "organization", "organization", &t2, vec![o], map_id, |o| o);
            GResp::json(200, page)
        }
        ("GET", ["sites", "root"]) | ("GET", ["sites", ..])
            if names.len() == 2 && (names[1] == "root" || t.segments[1].name == "root") =>
        {
            if !caller.has_any(SITES_READ) {
                return denied();
            }
            // Discovery of the SharePoint host (facts.md §4.6: sites/root webUrl, siteCollection.hostname).
            let host = tenant.sharepoint_host();
            let site = json!({
                "createdDateTime": tenant.created, "description": "", "id": format!("{host},{},{}", tenant.id, tenant.id),
                "lastModifiedDateTime": tenant.created, "name": "", "webUrl": format!("https://{host}"),
                "displayName": "Communication site", "root": {}, "siteCollection": { "hostname": host },
            });
            let Value::Object(s) = site else { return denied() };
            GResp::json(200, entity(base, "sites", sel, s))
        }
        (_, ["admin", "sharepoint", "settings"]) => {
            match m.as_str() {
                "GET" => {
                    if !caller.has_any(SPO_SETTINGS_READ) {
                        return denied();
                    }
                }
                "PATCH" => {
                    if !caller.has_any(SPO_SETTINGS_WRITE) {
                        return denied();
                    }
                    let b = body.unwrap_or(Value::Null);
                    match b.get("isLegacyAuthProtocolsEnabled") {
                        Some(Value::Bool(v)) => tenant.sharepoint.legacy_auth_protocols_enabled = *v,
                        Some(_) => {
                            return bad_request("Invalid value specified for property 'isLegacyAuthProtocolsEnabled'.");
                        }
                        None => {}
                    }
                    return GResp::empty(204);
                }
                _ => return method_not_allowed(),
            }
            // facts.md §5.2 (sharepointSettings, isLegacyAuthProtocolsEnabled).
            let s = json!({ "isLegacyAuthProtocolsEnabled": tenant.sharepoint.legacy_auth_protocols_enabled });
            let Value::Object(s) = s else { return denied() };
            GResp::json(200, entity(base, "admin/sharepoint/settings", sel, s))
        }
        // ------------------------------------------- app management policies (facts.md §8.5)
        ("GET", ["policies", "defaultAppManagementPolicy"]) => {
            if !caller.has_any(apppolicy::POLICY_READ) {
                return denied();
            }
            GResp::json(200, apppolicy::graph_view(&tenant.app_policy, &tenant.id, base, sel))
        }
        ("GET", ["policies", "appManagementPolicies"]) => {
            if !caller.has_any(apppolicy::POLICY_READ) {
                return denied();
            }
            // No custom policy exists in the emulator (docs/app-policy-research.md §2.1 shape).
            let path = "policies/appManagementPolicies";
            GResp::json(200, collection(base, path, path, &t, Vec::<Map<String, Value>>::new(), map_id, |o| o))
        }
        (_, ["policies", "defaultAppManagementPolicy"]) | (_, ["policies", "appManagementPolicies"]) => {
            method_not_allowed()
        }
        // ------------------------------------------- users and administrative units
        (_, ["directory", "administrativeUnits", ..]) => {
            administrative_units(tenant, caller, base, &m, &t, &names[2..])
        }
        // ------------------------------------------------------------ GDAP (gdap.rs)
        ("GET", ["tenantRelationships", "delegatedAdminRelationships"]) => {
            if !caller.has_any(super::gdap::READ) {
                return denied();
            }
            let items: Vec<Map<String, Value>> =
                tenant.delegated_admin_relationships.iter().map(super::gdap::view).collect();
            let path = "tenantRelationships/delegatedAdminRelationships";
            GResp::json(200, collection(base, path, path, &t, items, map_id, |o| o))
        }
        ("GET", ["tenantRelationships", "delegatedAdminRelationships", id]) => {
            if !caller.has_any(super::gdap::READ) {
                return denied();
            }
            let id = id.to_string();
            match tenant.delegated_admin_relationships.iter().find(|r| map_id(r) == id) {
                Some(r) => GResp::json(
                    200,
                    entity(base, "tenantRelationships/delegatedAdminRelationships", None, super::gdap::view(r)),
                ),
                None => not_found(&id),
            }
        }
        (_, ["users", ..]) => users(tenant, caller, base, &m, &t),
        (_, ["groups", ..]) => groups(tenant, caller, base, &m, &t),
        _ => gerr(
            400,
            "BadRequest",
            &format!("Resource not found for the segment '{}'.", names.first().copied().unwrap_or("")),
        ),
    }
}

/// A user with the properties Graph filters and selects beyond the default set (`userType`,
/// `accountEnabled`, `mailNickname`); [`user_json`] is what it returns without `$select`.
fn user_full_json(u: &User) -> Map<String, Value> {
    let mut m = user_json(u);
    m.insert("userType".into(), "Member".into());
    m.insert("accountEnabled".into(), true.into());
    let nickname = u.user_principal_name.split('@').next().unwrap_or("").to_string();
    m.insert("mailNickname".into(), nickname.into());
    m
}

/// The user as a list or a read returns it: the default set, or with `$select` any property.
fn user_view(u: &User, select: Option<&str>) -> Map<String, Value> {
    if select.is_some() { user_full_json(u) } else { user_json(u) }
}

/// A user as Graph returns it by default (the v1.0 `user` default property set).
pub fn user_json(u: &User) -> Map<String, Value> {
    let v = json!({
        "businessPhones": [],
        "displayName": u.display_name,
        "givenName": u.given_name,
        "jobTitle": null,
        "mail": u.mail,
        "mobilePhone": null,
        "officeLocation": null,
        "preferredLanguage": null,
        "surname": u.surname,
        "userPrincipalName": u.user_principal_name,
        "id": u.id,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// An administrative unit: the properties of the v1.0 `administrativeUnit` resource (id,
/// displayName, description, visibility) and directoryObject's `deletedDateTime`.
fn au_json(a: &AdministrativeUnit) -> Map<String, Value> {
    let v = json!({
        "id": a.id,
        "deletedDateTime": null,
        "displayName": a.display_name,
        "description": a.description,
        "visibility": a.visibility,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// `$expand` of the relationships the emulator implements (which ones: [`graph_query`]): an
/// application's owners (the user or app that created it), a service principal's
/// appRoleAssignments (it holds) and appRoleAssignedTo (granted on it).
/// `owner` is an application's owner (its object id), passed in: looking it up per object
/// would make a list of N applications cost N².
fn expand(
    tenant: &Tenant,
    set: &str,
    mut obj: Map<String, Value>,
    owner: Option<&String>,
    t: &Target,
) -> Map<String, Value> {
    let Some(list) = t.q("$expand") else { return obj };
    let id = obj.get("id").and_then(Value::as_str).unwrap_or("").to_string();
    let assignments = |key: &str| -> Vec<Value> {
        tenant
            .assignments
            .iter()
            .filter(|a| a.visible() && a.str(key).eq_ignore_ascii_case(&id))
            .map(|a| Value::Object(a.json.clone()))
            .collect()
    };
    for rel in list.split(',').map(str::trim) {
        let (name, items) = match (set, rel.to_ascii_lowercase().as_str()) {
            ("applications", "owners") => {
                let items = owner
                    .and_then(|oid| {
                        if let Some(u) = tenant.users.iter().find(|u| &u.id == oid) {
                            let mut m = Map::new();
                            m.insert("@odata.type".into(), "#microsoft.graph.user".into());
                            m.extend(user_json(u));
                            return Some(Value::Object(m));
                        }
                        tenant.sp_by_id(oid).map(|sp| {
                            let mut m = Map::new();
                            m.insert("@odata.type".into(), "#microsoft.graph.servicePrincipal".into());
                            m.extend(sp_view(sp));
                            Value::Object(m)
                        })
                    })
                    .into_iter()
                    .collect();
                ("owners", items)
            }
            ("servicePrincipals", "approleassignments") => ("appRoleAssignments", assignments("principalId")),
            ("servicePrincipals", "approleassignedto") => ("appRoleAssignedTo", assignments("resourceId")),
            // The delegated permission grants the service principal holds as a client.
            ("servicePrincipals", "oauth2permissiongrants") => (
                "oauth2PermissionGrants",
                tenant
                    .grants
                    .iter()
                    .filter(|g| g.visible() && g.str("clientId").eq_ignore_ascii_case(&id))
                    .map(|g| Value::Object(g.json.clone()))
                    .collect(),
            ),
            // Groups have no owners in the emulator (generated, never given any).
            ("groups", "owners") => ("owners", Vec::new()),
            _ => continue,
        };
        obj.insert(name.into(), Value::Array(items));
    }
    obj
}

/// `GET /{set}/{id}/{property}` of a collection-valued property (appRoles,
/// requiredResourceAccess, keyCredentials, ...): `value` and its `@odata.context`
/// (docs/graph-query-research.md §12). Anything else is not a segment Graph knows here.
fn property_collection(base: &str, set: &str, id: &str, prop: &str, obj: &Map<String, Value>) -> GResp {
    let Some((name, Value::Array(_))) = obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(prop)) else {
        return segment_not_found(prop);
    };
    // keyCredentials' `key` stays hidden unless selected (facts.md §3.3).
    let shown = project(obj.clone(), None);
    let value = shown.get(name).cloned().unwrap_or(Value::Array(Vec::new()));
    GResp::json(200, json!({ "@odata.context": format!("{base}/v1.0/$metadata#{set}('{id}')/{name}"), "value": value }))
}

fn segment_not_found(name: &str) -> GResp {
    gerr(400, "BadRequest", &format!("Resource not found for the segment '{name}'."))
}

/// `directory/administrativeUnits[/{id}[/members[/microsoft.graph.user]]]`; `rest` are the
/// segments after `administrativeUnits`.
fn administrative_units(tenant: &Tenant, caller: &Caller, base: &str, m: &str, t: &Target, rest: &[&str]) -> GResp {
    let sel = t.q("$select");
    let Some(id) = rest.first() else {
        if m != "GET" {
            // Creating AUs is done through the control API only.
            return method_not_allowed();
        }
        if !caller.has_any(AU_READ) {
            return denied();
        }
        let clauses = match t.filter("AdministrativeUnit") {
            Ok(c) => c,
            Err(e) => return e,
        };
        let items: Vec<Map<String, Value>> =
            tenant.administrative_units.iter().map(au_json).filter(|a| matches(a, &clauses)).collect();
        let path = "directory/administrativeUnits";
        return GResp::json(200, collection(base, path, path, t, items, map_id, |o| o));
    };
    if m != "GET" {
        return method_not_allowed();
    }
    if !caller.has_any(AU_READ) {
        return denied();
    }
    let Some(au) = tenant.administrative_unit(id) else { return not_found(id) };
    match &rest[1..] {
        [] => GResp::json(200, entity(base, "directory/administrativeUnits", sel, au_json(au))),
        ["members"] | ["members", "microsoft.graph.user"] => {
            // "To list the members of a hidden membership in an administrative unit, the
            // Member.Read.Hidden permission is also required" (GDOC). What Graph answers without
            // it is UNCONFIRMED: the 403 of a missing permission here.
            if au.visibility.as_deref().is_some_and(|v| v.eq_ignore_ascii_case("HiddenMembership"))
                && !caller.has_any(&["Member.Read.Hidden"])
            {
                return denied();
            }
            let clauses = match t.filter("User") {
                Ok(c) => c,
                Err(e) => return e,
            };
            let cast = rest.len() == 3;
            let items: Vec<Map<String, Value>> = au
                .members
                .iter()
                .filter_map(|m| tenant.users.iter().find(|u| &u.id == m))
                .map(|u| {
                    let mut j = Map::new();
                    j.insert("@odata.type".into(), "#microsoft.graph.user".into());
                    j.extend(user_json(u));
                    j
                })
                .filter(|u| matches(u, &clauses))
                .collect();
            let path = format!("directory/administrativeUnits/{}/{}", au.id, rest[1..].join("/"));
            // The OData cast names the users entity set (UNCONFIRMED); members are directoryObjects.
            let set = if cast { "users" } else { "directoryObjects" };
            GResp::json(200, collection(base, set, &path, t, items, map_id, |o| o))
        }
        [_, other, ..] if rest[1] == "members" => segment_not_found(other),
        [other, ..] => segment_not_found(other),
    }
}

/// A read-only entity set (`set`, `set/{key}` or `set('{key}')`, nothing below): the key, or
/// Graph's answer to another segment, another method, or a caller without `read`.
fn read_only_set(caller: &Caller, m: &str, t: &Target, read: &[&str]) -> Result<Option<String>, GResp> {
    let (key, rest) = match &t.segments[0].key {
        Some((_, v)) => (Some(v.clone()), 1),
        None => (t.segments.get(1).map(|s| s.name.clone()), 2),
    };
    if let Some(other) = t.segments.get(rest) {
        return Err(segment_not_found(&other.name));
    }
    if m != "GET" {
        return Err(method_not_allowed());
    }
    if !caller.has_any(read) {
        return Err(denied());
    }
    Ok(key)
}

/// `users` and `users/{id or userPrincipalName}`.
fn users(tenant: &Tenant, caller: &Caller, base: &str, m: &str, t: &Target) -> GResp {
    let sel = t.q("$select");
    // Creating and changing users is done through the control API only.
    let key = match read_only_set(caller, m, t, USER_READ) {
        Ok(k) => k,
        Err(e) => return e,
    };
    match key {
        None => {
            let clauses = match t.filter("User") {
                Ok(c) => c,
                Err(e) => return e,
            };
            // Each user's JSON is built only to filter it, and only when there is a filter.
            let items: Vec<&User> =
                tenant.users.iter().filter(|u| clauses.is_none() || matches(&user_full_json(u), &clauses)).collect();
            GResp::json(200, collection(base, "users", "users", t, items, |u| u.id.as_str(), |u| user_view(u, sel)))
        }
        Some(k) => match tenant.user(&k) {
            Some(u) => GResp::json(200, entity(base, "users", sel, user_view(u, sel))),
            None => not_found(&k),
        },
    }
}

/// `groups` and `groups/{id}`, read-only (groups come from `--directory-size`).
fn groups(tenant: &Tenant, caller: &Caller, base: &str, m: &str, t: &Target) -> GResp {
    let shown = t.shown();
    let sel = shown.as_deref();
    // Creating and changing groups is not modelled: refused, never pretended.
    let key = match read_only_set(caller, m, t, GROUP_READ) {
        Ok(k) => k,
        Err(e) => return e,
    };
    match key {
        None => {
            let clauses = match t.filter("Group") {
                Ok(c) => c,
                Err(e) => return e,
            };
            let domain = &tenant.initial_domain;
            let items: Vec<&Group> = tenant
                .groups
                .iter()
                .filter(|g| clauses.is_none() || matches(&group_json(g, domain), &clauses))
                .collect();
            GResp::json(
                200,
                collection(
                    base,
                    "groups",
                    "groups",
                    t,
                    items,
                    |g| g.id.as_str(),
                    |g| expand(tenant, "groups", group_json(g, domain), None, t),
                ),
            )
        }
        // docs/group-research.md §10 (the 400 status inferred from the code).
        Some(k) if uuid::Uuid::parse_str(&k).is_err() => {
            gerr(400, "Request_BadRequest", &format!("Invalid object identifier '{k}'."))
        }
        Some(k) => match tenant.groups.iter().find(|g| g.id.eq_ignore_ascii_case(&k)) {
            Some(g) => GResp::json(
                200,
                entity(base, "groups", sel, expand(tenant, "groups", group_json(g, &tenant.initial_domain), None, t)),
            ),
            None => not_found(&k),
        },
    }
}

/// A group as Graph v1.0 returns it by default (the Get group example's 31 properties,
/// docs/group-research.md §1-2): a security group (no mail, visibility null), or a Microsoft 365
/// group with its mail address at the tenant's initial domain. Generated groups have no
/// owners and no members.
pub fn group_json(g: &Group, domain: &str) -> Map<String, Value> {
    let mail = g.unified.then(|| format!("{}@{domain}", g.mail_nickname));
    let proxy: Vec<String> = mail.iter().map(|m| format!("SMTP:{m}")).collect();
    let v = json!({
        "id": g.id,
        "deletedDateTime": null,
        "classification": null,
        "createdDateTime": g.created,
        "description": g.description,
        "displayName": g.display_name,
        "expirationDateTime": null,
        "groupTypes": if g.unified { vec!["Unified"] } else { Vec::new() },
        "isAssignableToRole": null,
        "mail": mail,
        "mailEnabled": g.unified,
        "mailNickname": g.mail_nickname,
        "membershipRule": null,
        "membershipRuleProcessingState": null,
        "onPremisesDomainName": null,
        "onPremisesLastSyncDateTime": null,
        "onPremisesNetBiosName": null,
        "onPremisesSamAccountName": null,
        "onPremisesSecurityIdentifier": null,
        "onPremisesSyncEnabled": null,
        "preferredDataLocation": null,
        "preferredLanguage": null,
        "proxyAddresses": proxy,
        "renewedDateTime": g.created,
        "resourceBehaviorOptions": [],
        "resourceProvisioningOptions": [],
        "securityEnabled": !g.unified,
        "securityIdentifier": security_identifier(&g.id),
        "theme": null,
        "visibility": if g.unified { Some("Public") } else { None },
        "onPremisesProvisioningErrors": [],
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The `S-1-12-1-…` security identifier Entra derives from an object id: the GUID's 16
/// bytes (.NET order) as four little-endian 32-bit numbers (docs/group-research.md §4).
fn security_identifier(id: &str) -> String {
    let b = guid_bytes_le(id);
    let part = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    format!("S-1-12-1-{}-{}-{}-{}", part(0), part(4), part(8), part(12))
}

/// The `id` of an object in its JSON form.
fn map_id(o: &Map<String, Value>) -> &str {
    o.get("id").and_then(Value::as_str).unwrap_or("")
}

fn method_not_allowed() -> GResp {
    gerr(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
}

fn check_props(body: &Map<String, Value>, allowed: &[&str]) -> Option<GResp> {
    body.keys()
        .find(|k| !k.starts_with('@') && !allowed.iter().any(|a| a.eq_ignore_ascii_case(k)))
        .map(|k| bad_request(&format!("Property '{k}' is read-only or does not exist on resource 'Application'.")))
}

/// Merges a PATCH/POST body into an application (collections replace wholesale, facts.md §3.4).
/// New credentials are checked against the tenant's app management `policy`.
fn apply_app_patch(
    app: &mut Map<String, Value>,
    body: &Map<String, Value>,
    secrets: &mut Vec<Secret>,
    policy: &Map<String, Value>,
) -> Result<(), GResp> {
    let created = app.get("createdDateTime").and_then(Value::as_str).unwrap_or("").to_string();
    for (k, v) in body {
        if k.starts_with('@') {
            continue;
        }
        if k == "keyCredentials" {
            let existing = app.get("keyCredentials").and_then(Value::as_array).cloned().unwrap_or_default();
            let keys = normalize_keys(v, &existing)?;
            for key in &keys {
                if existing.iter().any(|e| e["keyId"] == key["keyId"]) {
                    continue;
                }
                let (start, end) =
                    (key["startDateTime"].as_str().unwrap_or(""), key["endDateTime"].as_str().unwrap_or(""));
                if let Some(e) = apppolicy::check_key(policy, &created, start, end) {
                    return Err(e);
                }
            }
            app.insert(k.clone(), Value::Array(keys));
            continue;
        }
        if k == "passwordCredentials" {
            let existing = app.get("passwordCredentials").and_then(Value::as_array).cloned().unwrap_or_default();
            let creds = patch_passwords(v, &existing, secrets, policy, &created)?;
            app.insert(k.clone(), Value::Array(creds));
            continue;
        }
        if k == "displayName" && v.as_str().is_none_or(|s| s.trim().is_empty()) {
            return Err(bad_request("Invalid value specified for property 'displayName' of resource 'Application'."));
        }
        app.insert(k.clone(), v.clone());
    }
    Ok(())
}

/// The `passwordCredentials` of a PATCH (replacing the collection, facts.md §3.4): entries with
/// the `keyId` of an existing credential keep it as stored; others are new credentials, with
/// `startDateTime` defaulting to now and `endDateTime` to start + 2 years (as addPassword,
/// facts.md §3.7; for PATCH UNCONFIRMED). A new one's `secretText` is the client's (a custom
/// password); without one the emulator generates a secret that nobody can read (UNCONFIRMED).
/// Secrets of credentials left out are dropped from `secrets`.
fn patch_passwords(
    v: &Value,
    existing: &[Value],
    secrets: &mut Vec<Secret>,
    policy: &Map<String, Value>,
    created: &str,
) -> Result<Vec<Value>, GResp> {
    let invalid =
        || bad_request("Invalid value specified for property 'passwordCredentials' of resource 'Application'.");
    let list = v.as_array().ok_or_else(invalid)?;
    let mut out = Vec::new();
    let mut added = Vec::new();
    for c in list {
        let c = c.as_object().ok_or_else(invalid)?;
        let key_id = c.get("keyId").and_then(Value::as_str).unwrap_or("");
        if let Some(e) = existing.iter().find(|e| !key_id.is_empty() && e["keyId"] == key_id) {
            out.push(e.clone());
            continue;
        }
        let start = c.get("startDateTime").and_then(Value::as_str).map(str::to_string).unwrap_or_else(now_iso);
        let end = c.get("endDateTime").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| {
            chrono::DateTime::parse_from_rfc3339(&start)
                .map(|s| (s + chrono::Duration::days(730)).to_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default()
        });
        if chrono::DateTime::parse_from_rfc3339(&end).is_err() || chrono::DateTime::parse_from_rfc3339(&start).is_err()
        {
            return Err(bad_request(
                "Invalid value specified for property 'endDateTime' of resource 'PasswordCredential'.",
            ));
        }
        let custom = c.get("secretText").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
        if let Some(e) = apppolicy::check_password(policy, created, &start, &end, custom.is_some()) {
            return Err(e);
        }
        let secret = custom.unwrap_or_else(generate_secret);
        let key_id = uuid::Uuid::parse_str(key_id).map(|u| u.to_string()).unwrap_or_else(|_| new_id());
        out.push(json!({
            "customKeyIdentifier": null, "displayName": c.get("displayName").cloned().unwrap_or(Value::Null),
            "endDateTime": end, "hint": secret.chars().take(3).collect::<String>(), "keyId": key_id,
            "secretText": null, "startDateTime": start,
        }));
        added.push(Secret { key_id, text: secret });
    }
    secrets.retain(|s| out.iter().any(|c| c["keyId"] == s.key_id.as_str()));
    secrets.extend(added);
    Ok(out)
}

/// Validates keyCredentials (facts.md §3.8: AsymmetricX509Cert, Verify, base64 DER `key`).
fn normalize_keys(v: &Value, existing: &[Value]) -> Result<Vec<Value>, GResp> {
    let Some(list) = v.as_array() else {
        return Err(bad_request("Invalid value specified for property 'keyCredentials' of resource 'Application'."));
    };
    let mut out = Vec::new();
    for k in list {
        let mut k = k.as_object().cloned().ok_or_else(|| {
            bad_request("Invalid value specified for property 'keyCredentials' of resource 'Application'.")
        })?;
        let key_id = k.get("keyId").and_then(Value::as_str).map(str::to_string);
        let der = match k.get("key").and_then(Value::as_str) {
            Some(b) => pki::b64_decode(b),
            // An existing credential re-sent as read (key null): keep its stored key.
            None => key_id
                .as_ref()
                .and_then(|id| existing.iter().find(|e| e["keyId"] == id.as_str()))
                .and_then(|e| e["key"].as_str())
                .and_then(pki::b64_decode),
        };
        let Some(der) = der.filter(|d| pki::validity_of(d).is_ok()) else {
            return Err(bad_request("Invalid value specified for property 'key' of resource 'KeyCredential'."));
        };
        if k.get("type").and_then(Value::as_str) != Some("AsymmetricX509Cert")
            || k.get("usage").and_then(Value::as_str) != Some("Verify")
        {
            return Err(bad_request(
                "Invalid value specified for property 'keyCredentials' of resource 'Application'.",
            ));
        }
        let (nb, na) = pki::validity_of(&der).unwrap_or((0, 0));
        k.entry("keyId").or_insert_with(|| new_id().into());
        k.insert("key".into(), pki::b64(&der).into());
        k.entry("customKeyIdentifier").or_insert_with(|| pki::sha1_hex(&der).into());
        k.entry("startDateTime").or_insert_with(|| super::world::unix_to_iso(nb).into());
        k.entry("endDateTime").or_insert_with(|| super::world::unix_to_iso(na).into());
        k.entry("displayName").or_insert(Value::Null);
        out.push(Value::Object(k));
    }
    Ok(out)
}

fn find_app(tenant: &Tenant, seg: &Segment) -> Option<usize> {
    match &seg.key {
        Some((k, v)) if k.eq_ignore_ascii_case("appId") => {
            tenant.applications.iter().position(|a| a.obj.str("appId").eq_ignore_ascii_case(v) && a.obj.visible())
        }
        Some((k, v)) if k == "uniqueName" => tenant.applications.iter().position(|a| {
            a.obj.json.get("uniqueName").and_then(Value::as_str).is_some_and(|u| u.eq_ignore_ascii_case(v))
                && a.obj.visible()
        }),
        Some((_, v)) => tenant.applications.iter().position(|a| a.obj.id().eq_ignore_ascii_case(v) && a.obj.visible()),
        None => None,
    }
}

/// `POST /applications`, or an upsert that found no app with its `uniqueName`.
fn create_application(
    tenant: &mut Tenant,
    caller: &Caller,
    base: &str,
    body: Option<Value>,
    lag: std::time::Duration,
    unique_name: Option<&str>,
) -> GResp {
    if !caller.has_any(APP_WRITE) {
        return denied();
    }
    let Some(Value::Object(body)) = body else { return bad_request("Empty Payload. JSON content expected.") };
    if let Some(e) = check_props(&body, APP_PROPS) {
        return e;
    }
    let Some(name) = body.get("displayName").and_then(Value::as_str).filter(|s| !s.trim().is_empty()) else {
        return bad_request("Invalid value specified for property 'displayName' of resource 'Application'.");
    };
    if name.chars().count() > 256 {
        return bad_request("Invalid value specified for property 'displayName' of resource 'Application'.");
    }
    let mut app = application_json(&new_id(), name, &tenant.initial_domain, &[]);
    let mut secrets = Vec::new();
    if let Err(e) = apply_app_patch(&mut app, &body, &mut secrets, &tenant.app_policy) {
        return e;
    }
    if let Some(u) = unique_name {
        app.insert("uniqueName".into(), u.into());
    }
    let obj = app.clone();
    tenant.applications.push(Application { obj: Stored::new(app, lag), secrets, owner: Some(caller.oid.clone()) });
    GResp::json(201, entity(base, "applications", None, obj))
}

/// PATCH of the app at `pos` (the caller may write it).
fn patch_application(tenant: &mut Tenant, pos: usize, body: Option<Value>) -> GResp {
    let Some(Value::Object(b)) = body else { return bad_request("Empty Payload. JSON content expected.") };
    if let Some(e) = check_props(&b, APP_PROPS) {
        return e;
    }
    let policy = &tenant.app_policy;
    let app = &mut tenant.applications[pos];
    let mut copy = app.obj.json.clone();
    let mut secrets = app.secrets.clone();
    if let Err(e) = apply_app_patch(&mut copy, &b, &mut secrets, policy) {
        return e;
    }
    app.obj.json = copy;
    app.secrets = secrets;
    GResp::empty(204)
}

#[allow(clippy::too_many_arguments)]
fn application_item(
    tenant: &mut Tenant,
    caller: &Caller,
    base: &str,
    m: &str,
    t: &Target,
    body: Option<Value>,
    sel: Option<&str>,
    issued_secrets: &parking_lot::Mutex<Vec<String>>,
) -> GResp {
    // /applications/{id}[/action] or /applications(appId='…')[/action]
    let (seg, rest): (Segment, Vec<&str>) = if t.segments[0].key.is_some() {
        (
            Segment { name: "applications".into(), key: t.segments[0].key.clone() },
            t.segments[1..].iter().map(|s| s.name.as_str()).collect(),
        )
    } else if t.segments.len() >= 2 {
        (
            Segment { name: "applications".into(), key: Some(("id".into(), t.segments[1].name.clone())) },
            t.segments[2..].iter().map(|s| s.name.as_str()).collect(),
        )
    } else {
        return method_not_allowed();
    };
    let shown_id = seg.key.as_ref().map(|(_, v)| v.clone()).unwrap_or_default();
    let Some(pos) = find_app(tenant, &seg) else {
        if !caller.has_any(APP_READ) {
            return denied();
        }
        return not_found(&shown_id);
    };
    let owned = tenant.applications[pos].owner.as_deref() == Some(caller.oid.as_str());
    let can_write =
        caller.has_any(&["Application.ReadWrite.All"]) || (owned && caller.has_any(&["Application.ReadWrite.OwnedBy"]));
    match (m, rest.as_slice()) {
        ("GET", []) => {
            if !caller.has_any(APP_READ) {
                return denied();
            }
            let app = &tenant.applications[pos];
            let shown = expand(tenant, "applications", app.obj.json.clone(), app.owner.as_ref(), t);
            GResp::json(200, entity(base, "applications", sel, shown))
        }
        ("PATCH", []) => {
            if !can_write {
                return denied();
            }
            patch_application(tenant, pos, body)
        }
        ("DELETE", []) => {
            if !can_write {
                return denied();
            }
            let app = tenant.applications.remove(pos);
            // Deleting the application removes its service principal in the home tenant
            // (facts.md §3.11), and with it the SP's assignments and grants.
            let app_id = app.obj.str("appId").to_string();
            if let Some(sp_pos) = tenant.service_principals.iter().position(|s| s.obj.str("appId") == app_id) {
                let sp = tenant.service_principals.remove(sp_pos);
                let sp_id = sp.obj.id().to_string();
                tenant.assignments.retain(|a| a.str("principalId") != sp_id);
                tenant.grants.retain(|g| g.str("clientId") != sp_id);
            }
            GResp::empty(204)
        }
        ("POST", ["addPassword"]) => {
            if !can_write {
                return denied();
            }
            let pc = body.as_ref().and_then(|b| b.get("passwordCredential")).cloned().unwrap_or(Value::Null);
            let start = pc["startDateTime"].as_str().map(str::to_string).unwrap_or_else(now_iso);
            // Default end: start + 2 years (facts.md §3.7).
            let end = pc["endDateTime"].as_str().map(str::to_string).unwrap_or_else(|| iso_after(730));
            if chrono::DateTime::parse_from_rfc3339(&end).is_err()
                || chrono::DateTime::parse_from_rfc3339(&start).is_err()
            {
                return bad_request(
                    "Invalid value specified for property 'endDateTime' of resource 'PasswordCredential'.",
                );
            }
            // App management policies (docs/app-policy-research.md §3, §4).
            let created = tenant.applications[pos].obj.str("createdDateTime").to_string();
            if let Some(e) = apppolicy::check_password(&tenant.app_policy, &created, &start, &end, false) {
                return e;
            }
            let secret = generate_secret();
            let key_id = new_id();
            let cred = json!({
                "customKeyIdentifier": null, "displayName": pc["displayName"].clone(), "endDateTime": end,
                "hint": &secret[..3], "keyId": key_id, "secretText": null, "startDateTime": start,
            });
            let app = &mut tenant.applications[pos];
            if let Some(Value::Array(list)) = app.obj.json.get_mut("passwordCredentials") {
                list.push(cred.clone());
            }
            app.secrets.push(Secret { key_id: key_id.clone(), text: secret.clone() });
            issued_secrets.lock().push(secret.clone());
            let mut out = cred;
            out["secretText"] = secret.into();
            out["@odata.context"] = format!("{base}/v1.0/$metadata#microsoft.graph.passwordCredential").into();
            GResp::json(200, out)
        }
        ("GET", ["appManagementPolicies"]) => {
            // The policies assigned to the app: none can be assigned in the emulator. Permission
            // and @odata.context of this navigation are UNCONFIRMED (docs/app-policy-research.md
            // §2.2); the policy-read permissions of the collection are required.
            if !caller.has_any(apppolicy::POLICY_READ) {
                return denied();
            }
            let app_id = tenant.applications[pos].obj.id().to_string();
            let path = format!("applications/{app_id}/appManagementPolicies");
            let set = format!("applications('{app_id}')/appManagementPolicies");
            GResp::json(200, collection(base, &set, &path, t, Vec::<Map<String, Value>>::new(), map_id, |o| o))
        }
        ("POST", ["removePassword"]) => {
            if !can_write {
                return denied();
            }
            let key_id = body.as_ref().and_then(|b| b["keyId"].as_str()).unwrap_or("").to_string();
            let app = &mut tenant.applications[pos];
            let Some(Value::Array(list)) = app.obj.json.get_mut("passwordCredentials") else {
                return not_found(&key_id);
            };
            let before = list.len();
            list.retain(|c| c["keyId"] != key_id.as_str());
            if list.len() == before {
                return not_found(&key_id);
            }
            app.secrets.retain(|s| s.key_id != key_id);
            GResp::empty(204)
        }
        ("GET", [prop]) if caller.has_any(APP_READ) => {
            let app_id = tenant.applications[pos].obj.id().to_string();
            property_collection(base, "applications", &app_id, prop, &tenant.applications[pos].obj.json)
        }
        _ => method_not_allowed(),
    }
}

#[allow(clippy::too_many_arguments)]
fn sp_item(
    tenant: &mut Tenant,
    caller: &Caller,
    base: &str,
    m: &str,
    t: &Target,
    body: Option<Value>,
    sel: Option<&str>,
    lag: Duration,
) -> GResp {
    let (key, rest): (Option<(String, String)>, Vec<&Segment>) = if t.segments[0].key.is_some() {
        (t.segments[0].key.clone(), t.segments[1..].iter().collect())
    } else if t.segments.len() >= 2 {
        (Some(("id".into(), t.segments[1].name.clone())), t.segments[2..].iter().collect())
    } else {
        return method_not_allowed();
    };
    let (k, v) = key.unwrap_or_default();
    let pos = tenant.service_principals.iter().position(|s| {
        s.obj.visible()
            && if k.eq_ignore_ascii_case("appId") {
                s.obj.str("appId").eq_ignore_ascii_case(&v)
            } else {
                s.obj.id().eq_ignore_ascii_case(&v)
            }
    });
    let Some(pos) = pos else {
        if !caller.has_any(APP_READ) {
            return denied();
        }
        return not_found(&v);
    };
    let sp_id = tenant.service_principals[pos].obj.id().to_string();
    let rest_names: Vec<&str> = rest.iter().map(|s| s.name.as_str()).collect();
    match (m, rest_names.as_slice()) {
        ("GET", []) => {
            if !caller.has_any(APP_READ) {
                return denied();
            }
            let shown = expand(tenant, "servicePrincipals", sp_view(&tenant.service_principals[pos]), None, t);
            GResp::json(200, entity(base, "servicePrincipals", sel, shown))
        }
        ("DELETE", []) => {
            if !caller.has_any(APP_WRITE) || tenant.service_principals[pos].first_party.is_some() {
                return denied();
            }
            tenant.service_principals.remove(pos);
            tenant.assignments.retain(|a| a.str("principalId") != sp_id);
            tenant.grants.retain(|g| g.str("clientId") != sp_id);
            GResp::empty(204)
        }
        ("GET", ["appRoleAssignedTo"]) | ("GET", ["appRoleAssignments"]) => {
            if !caller.has_any(APP_READ) {
                return denied();
            }
            let by_resource = rest_names[0] == "appRoleAssignedTo";
            let items = tenant
                .assignments
                .iter()
                .filter(|a| {
                    a.visible()
                        && if by_resource { a.str("resourceId") == sp_id } else { a.str("principalId") == sp_id }
                })
                .collect();
            let path = format!("servicePrincipals/{sp_id}/{}", rest_names[0]);
            let set = format!("servicePrincipals('{sp_id}')/{}", rest_names[0]);
            GResp::json(200, collection(base, &set, &path, t, items, |a| a.id(), |a| a.json.clone()))
        }
        ("POST", ["appRoleAssignedTo"]) | ("POST", ["appRoleAssignments"]) => {
            // facts.md §3.1: AppRoleAssignment.ReadWrite.All + Application.Read.All (or higher).
            if !(caller.has_any(&["AppRoleAssignment.ReadWrite.All"]) && caller.has_any(APP_READ)) {
                return denied();
            }
            let b = body.unwrap_or(Value::Null);
            let principal_id = b["principalId"].as_str().unwrap_or("").to_string();
            let resource_id = b["resourceId"].as_str().unwrap_or("").to_string();
            let role_id = b["appRoleId"].as_str().unwrap_or("").to_string();
            let by_resource = rest_names[0] == "appRoleAssignedTo";
            if (by_resource && !resource_id.eq_ignore_ascii_case(&sp_id))
                || (!by_resource && !principal_id.eq_ignore_ascii_case(&sp_id))
            {
                return bad_request("Not a valid reference update");
            }
            // A principal that has not replicated yet (facts.md §3.9/§3.12, hamilton's retry).
            let Some(principal) = tenant.sp_by_id(&principal_id).filter(|s| s.obj.visible()) else {
                return bad_request("Not a valid reference update");
            };
            let principal_name = principal.obj.str("displayName").to_string();
            let Some(resource) = tenant.sp_by_id(&resource_id) else { return not_found(&resource_id) };
            let needed = if resource.obj.str("appId").eq_ignore_ascii_case(GRAPH_APP_ID) {
                ROLES_GRAPH_APP_ROLES
            } else {
                ROLES_APP_ADMIN
            };
            if !caller.holds_role(needed) {
                return denied();
            }
            let resource_name = resource.obj.str("displayName").to_string();
            let roles = sp_view(resource).get("appRoles").cloned().unwrap_or(Value::Null);
            let known = roles.as_array().is_some_and(|r| {
                r.iter().any(|x| {
                    x["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(&role_id))
                        && x["allowedMemberTypes"].as_array().is_some_and(|t| t.iter().any(|m| m == "Application"))
                })
            });
            if !known {
                // UNCONFIRMED text (facts.md §3.9: seen in a third-party emulator only).
                return bad_request("Permission being assigned was not found on application.");
            }
            let duplicate = tenant.assignments.iter().any(|a| {
                a.str("principalId") == principal_id
                    && a.str("resourceId") == resource_id
                    && a.str("appRoleId").eq_ignore_ascii_case(&role_id)
            });
            if duplicate {
                // facts.md §3.9 (observed, verbatim).
                return bad_request("Permission being assigned already exists on the object");
            }
            let a = assignment_json(
                &principal_id,
                "ServicePrincipal",
                &principal_name,
                &resource_id,
                &resource_name,
                &role_id,
            );
            tenant.assignments.push(Stored::new(a.clone(), lag));
            GResp::json(201, entity(base, &format!("servicePrincipals('{sp_id}')/{}", rest_names[0]), None, a))
        }
        ("DELETE", ["appRoleAssignedTo", id]) | ("DELETE", ["appRoleAssignments", id]) => {
            if !caller.has_any(&["AppRoleAssignment.ReadWrite.All"]) {
                return denied();
            }
            let id = id.to_string();
            let Some(apos) = tenant.assignments.iter().position(|a| a.id() == id && a.visible()) else {
                return not_found(&id);
            };
            tenant.assignments.remove(apos);
            GResp::empty(204)
        }
        // The delegated grants the service principal holds as the client, addressed by id or by
        // appId: `GET /servicePrincipals(appId='{appId}')/oauth2PermissionGrants`, the same
        // permissions as the grants' own collection (Directory.Read.All least privileged).
        // https://learn.microsoft.com/graph/api/serviceprincipal-list-oauth2permissiongrants
        ("GET", ["oauth2PermissionGrants"]) => {
            if !caller.has_any(GRANT_READ) {
                return denied();
            }
            let items = tenant
                .grants
                .iter()
                .filter(|g| g.visible() && g.str("clientId").eq_ignore_ascii_case(&sp_id))
                .collect();
            let path = format!("servicePrincipals/{sp_id}/oauth2PermissionGrants");
            let set = format!("servicePrincipals('{sp_id}')/oauth2PermissionGrants");
            GResp::json(200, collection(base, &set, &path, t, items, |g| g.id(), |g| g.json.clone()))
        }
        ("GET", [prop]) if caller.has_any(APP_READ) => {
            property_collection(base, "servicePrincipals", &sp_id, prop, &sp_view(&tenant.service_principals[pos]))
        }
        _ => method_not_allowed(),
    }
}

/// `POST /$batch` (facts.md §3.13): at most 20 requests, unique ids, `dependsOn` with 424 for
/// dependents of a failed request. Requests run in the given order.
/// Each item's error body carries the `client-request-id` of the item's `headers`, else
/// `client_request_id` (the batch request's), facts.md §3.12.
/// `request_id` is the batch's own (its response's `request-id`), logged with every item.
pub fn batch(
    world: &World,
    caller: &Caller,
    base: &str,
    host: &str,
    body: &Value,
    client_request_id: &str,
    request_id: &str,
) -> (GResp, u32) {
    let Some(requests) = body.get("requests").and_then(Value::as_array) else {
        return (gerr(400, "BadRequest", "Invalid batch payload format."), 0);
    };
    // Statuses from the json-batching doc; the message texts of these two 400s and of the 424
    // were not found in any source (docs/emulator-research.md §3): UNCONFIRMED texts.
    if requests.len() > 20 {
        return (gerr(400, "BadRequest", "Number of included requests exceeds the maximum allowed. Maximum is 20."), 0);
    }
    let mut seen = std::collections::HashSet::new();
    for r in requests {
        let id = r["id"].as_str().unwrap_or("").to_ascii_lowercase();
        if id.is_empty() || !seen.insert(id) {
            return (gerr(400, "BadRequest", "Batch request contains duplicate or missing ids."), 0);
        }
    }
    let mut statuses: std::collections::HashMap<String, u16> = std::collections::HashMap::new();
    // How deep each item sits in its `dependsOn` chain (1 for an item that waits for nothing):
    // items run concurrently, a dependent after what it depends on.
    let mut depths: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    let mut responses = Vec::new();
    for r in requests {
        let id = r["id"].as_str().unwrap_or("").to_string();
        let method = r["method"].as_str().unwrap_or("GET").to_string();
        let url = r["url"].as_str().unwrap_or("").trim_start_matches('/').to_string();
        let url = url.strip_prefix("v1.0/").unwrap_or(&url).to_string();
        let deps: Vec<String> = r["dependsOn"]
            .as_array()
            .map(|a| a.iter().filter_map(|d| d.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let failed_dep = deps.iter().any(|d| statuses.get(d).is_none_or(|s| *s >= 400));
        depths.insert(id.clone(), 1 + deps.iter().filter_map(|d| depths.get(d)).max().copied().unwrap_or(0));
        // A batch item's own headers carry its ConsistencyLevel.
        let item_mode = Mode::from_headers(
            r["headers"].as_object().into_iter().flatten().filter_map(|(k, v)| Some((k.as_str(), v.as_str()?))),
        );
        let mut resp = if failed_dep {
            gerr(424, "FailedDependency", "Failed dependency.")
        } else {
            dispatch(world, caller, base, &method, &url, r.get("body").cloned(), item_mode)
        };
        let sent = r["headers"].as_object().into_iter().flatten().filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)));
        resp.stamp(&sent_client_request_id(sent).unwrap_or_else(|| client_request_id.to_string()), false);
        let path = format!("/v1.0/{}", url.split('?').next().unwrap_or(""));
        world.record(LogEntry {
            query: url.split_once('?').map(|(_, q)| q.to_string()),
            batch: true,
            tenant_id: Some(caller.tenant_id.clone()),
            client_id: Some(caller.app_id.clone()),
            request_id: Some(request_id.to_string()),
            ..LogEntry::served(&method, host, &path, resp.status)
        });
        statuses.insert(id.clone(), resp.status);
        let headers: Map<String, Value> =
            resp.headers.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        let mut item = json!({ "id": id, "status": resp.status, "headers": headers });
        if let Some(b) = resp.body {
            item["body"] = b;
        }
        responses.push(item);
    }
    (GResp::json(200, json!({ "responses": responses })), depths.values().max().copied().unwrap_or(0))
}
