//! The emulator's HTTPS server: routes, request log, latency and fault injection, and the
//! control API under `/_emulator/`.

use super::graph::{self, GResp};
use super::pki::Ca;
use super::sharepoint;
use super::world::{EmulatorConfig, FaultRule, LogEntry, World};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

type W = State<Arc<World>>;

/// Hostnames the server certificate names besides loopback, so that clients can keep
/// production URLs (facts.md §4.6 hosts per cloud).
pub const PRODUCTION_HOSTS: &[&str] = &[
    "login.microsoftonline.com",
    "graph.microsoft.com",
    "*.sharepoint.com",
    "outlook.office365.com",
    "login.microsoftonline.us",
    "graph.microsoft.us",
    "dod-graph.microsoft.us",
    "*.sharepoint.us",
    "*.sharepoint-mil.us",
    "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn",
    "microsoftgraph.chinacloudapi.cn",
    "*.sharepoint.cn",
];

/// A running emulator.
pub struct RunningEmulator {
    pub url: String,
    /// `http://127.0.0.1:PORT` of the proxy, when one was asked for.
    pub proxy: Option<String>,
    pub addr: SocketAddr,
    pub ca_certificate: PathBuf,
    pub world: Arc<World>,
    handle: axum_server::Handle<SocketAddr>,
}

impl RunningEmulator {
    /// The first stdout line of `kodo-emulator`.
    pub fn announcement(&self) -> Value {
        let tenants = self.world.tenants.lock();
        let mut v = json!({
            "url": self.url,
            "caCertificate": self.ca_certificate.display().to_string(),
            "identityEndpoint": format!("{}/msi/token", self.url),
            "identityHeader": self.world.identity_header,
            "tenants": tenants.iter().map(|t| json!({
                "tenantId": t.id,
                "initialDomain": t.initial_domain,
                "bootstrapClientId": t.bootstrap.client_id,
                "bootstrapClientSecret": t.bootstrap.client_secret,
                "bootstrapCertificate": t.bootstrap.certificate_pem_path,
                "bootstrapCertificateThumbprint": t.bootstrap.certificate_thumbprint,
                "managedIdentityClientId": t.managed_identity_client_id,
                "sharePointHost": t.sharepoint_host(),
                "sharePointAdminHost": t.sharepoint_admin_host(),
            })).collect::<Vec<_>>(),
        });
        if let Some(p) = &self.proxy {
            v["proxy"] = p.clone().into();
        }
        v
    }

    pub fn shutdown(&self) {
        self.handle.shutdown();
    }
}

/// Starts an emulator on `listen` (use port 0 for any free port) and returns once it accepts.
pub async fn start(config: EmulatorConfig, listen: SocketAddr) -> Result<RunningEmulator, String> {
    start_with_proxy(config, listen, None).await
}

/// Like [`start`], plus the proxy of [`super::proxy`] on `proxy_listen`.
pub async fn start_with_proxy(
    config: EmulatorConfig,
    listen: SocketAddr,
    proxy_listen: Option<SocketAddr>,
) -> Result<RunningEmulator, String> {
    if !listen.ip().is_loopback() {
        return Err(format!("the emulator listens on loopback only; {listen} is not a loopback address"));
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    std::fs::create_dir_all(&config.state_dir).map_err(|e| format!("{}: {e}", config.state_dir.display()))?;
    let state_dir = config.state_dir.clone();
    let world = Arc::new(tokio::task::spawn_blocking(move || World::new(config)).await.map_err(|e| e.to_string())??);
    let ca = Ca::generate()?;
    let mut names: Vec<String> = vec!["127.0.0.1".into(), "localhost".into(), "::1".into()];
    names.extend(PRODUCTION_HOSTS.iter().map(|s| s.to_string()));
    let (chain, key) = ca.server_certificate(&names)?;
    let ca_path = state_dir.join("ca.pem");
    std::fs::write(&ca_path, &ca.cert_pem).map_err(|e| format!("{}: {e}", ca_path.display()))?;
    let tls = axum_server::tls_rustls::RustlsConfig::from_pem(chain.into_bytes(), key.into_bytes())
        .await
        .map_err(|e| e.to_string())?;

    let app = router(world.clone());
    let handle = axum_server::Handle::new();
    // TLS over the chaos acceptor, which can reset a connection (chaos.rs).
    let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(tls)
        .acceptor(super::chaos::ChaosAcceptor(world.connections.clone()));
    let server = axum_server::bind(listen).acceptor(acceptor).handle(handle.clone());
    let served = app.clone();
    tokio::spawn(async move {
        let _ = server.serve(served.into_make_service_with_connect_info::<SocketAddr>()).await;
    });
    let addr = handle.listening().await.ok_or("the emulator could not listen")?;
    let url = format!("https://{}", addr);
    *world.url.lock() = url.clone();
    let proxy = match proxy_listen {
        Some(p) => Some(format!("http://{}", super::proxy::start(p, addr, app).await?)),
        None => None,
    };
    Ok(RunningEmulator { url, proxy, addr, ca_certificate: ca_path, world, handle })
}

pub fn router(world: Arc<World>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/{tenant}/oauth2/v2.0/devicecode", post(devicecode))
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize))
        .route("/{tenant}/v2.0/adminconsent", get(admin_consent(super::adminconsent::Endpoint::V2)))
        .route("/{tenant}/adminconsent", get(admin_consent(super::adminconsent::Endpoint::V1)))
        .route("/{tenant}/v2.0/.well-known/openid-configuration", get(openid))
        .route("/{tenant}/discovery/v2.0/keys", get(keys))
        .route("/common/discovery/instance", get(instance_discovery))
        .route("/msi/token", get(managed_identity))
        .route("/v1.0/{*rest}", any(graph_entry))
        .route("/_api/web", get(spo_web))
        .route("/_api/site", get(spo_site))
        .route("/_api/contextinfo", post(spo_context_info))
        .route("/_api/{*rest}", any(spo_api))
        .route("/_vti_bin/client.svc/ProcessQuery", post(spo_process_query))
        .route("/_sp/{host}/_api/web", get(spo_web_prefixed))
        .route("/_sp/{host}/_vti_bin/client.svc/ProcessQuery", post(spo_process_query_prefixed))
        .route("/adminapi/beta/{tenant}/InvokeCommand", post(exo_invoke_command))
        .route("/EWS/Exchange.asmx", post(ews))
        .route("/ews/exchange.asmx", post(ews))
        .route("/_emulator/requests", get(log_get).delete(log_clear))
        .route("/_emulator/state", get(state_dump))
        .route("/_emulator/secrets", get(secrets_get))
        .route("/_emulator/faults", get(faults_get).post(faults_add).delete(faults_clear))
        .route("/_emulator/chaos", get(chaos_get).put(chaos_put).delete(chaos_clear))
        .route("/_emulator/settings", get(settings_get).patch(settings_patch))
        .route("/_emulator/tenants/{tenant}/exchange", get(exchange_get).patch(exchange_patch))
        .route("/_emulator/tenants/{tenant}/directory", get(directory_get))
        .route("/_emulator/tenants/{tenant}/users", post(users_post))
        .route("/_emulator/tenants/{tenant}/delegatedAdminRelationships", post(gdap_post))
        .route("/_emulator/tenants/{tenant}/administrativeUnits", post(administrative_units_post))
        .route("/_emulator/tenants/{tenant}/appManagementPolicy", get(app_policy_get).patch(app_policy_patch))
        .route("/_emulator/signin/{id}", post(signin_complete))
        .route("/_emulator/adminconsent/{id}", post(admin_consent_complete))
        .route("/_emulator/devicecodes/{user_code}/approve", post(devicecode_approve))
        .route("/_emulator/devicecodes/{user_code}/decline", post(devicecode_decline))
        // A bug in a handler answers 500 instead of dropping the connection (after `observe`,
        // so the 500 is logged).
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(middleware::from_fn_with_state(world.clone(), observe))
        .layer(middleware::from_fn(stamp_date))
        .with_state(world)
}

/// Every answer's `Date` header (RFC 9110 §6.6.1, IMF-fixdate) by the services' clock
/// ([`super::state::now`]), so that a clock offset shows in it as in createdDateTime.
async fn stamp_date(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let date = super::state::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    if let Ok(v) = HeaderValue::from_str(&date) {
        response.headers_mut().insert(axum::http::header::DATE, v);
    }
    response
}

fn host_of(headers: &HeaderMap, uri: &axum::http::Uri) -> String {
    headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| uri.authority().map(|a| a.to_string()))
        .unwrap_or_default()
}

/// Logs every request, adds latency, applies fault rules (not to the control API).
async fn observe(State(world): W, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let host = host_of(req.headers(), req.uri());
    let client_request_id = client_request_id(req.headers());
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let control = path.starts_with("/_emulator/");
    // Who called (the bearer token's appid), for the log only: tokens are checked by the handlers.
    let caller = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .and_then(super::pki::parse_jwt)
        .and_then(|j| j.claims["appid"].as_str().map(str::to_string));
    // The client's end of the connection and the HTTP version: keep-alive and HTTP/2 show.
    let connection =
        req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.to_string());
    let version = format!("{:?}", req.version());
    let served = |status: StatusCode| LogEntry {
        client_id: caller.clone(),
        connection: connection.clone(),
        version: Some(version.clone()),
        query: query.clone(),
        ..LogEntry::served(&method, &host, &path, status.as_u16())
    };
    if !control {
        if !world.config.latency.is_zero() {
            tokio::time::sleep(world.config.latency).await;
        }
        let chaos = world.chaos.lock().as_mut().and_then(super::chaos::Chaos::draw_next);
        if let Some(fault) = chaos {
            let peer = connection.as_deref().and_then(|c| c.parse::<SocketAddr>().ok());
            let slow = world.chaos.lock().as_ref().map_or(0, |c| c.config.slow_ms);
            let (response, status) = inject(&world, fault, peer, slow, &client_request_id, req, next).await;
            world.record(LogEntry { fault: Some(fault.kind.name()), ..served(status) });
            return response;
        }
        let rule = {
            let mut faults = world.faults.lock();
            let hit = faults.iter_mut().find(|f| {
                f.method.as_ref().is_none_or(|m| m.eq_ignore_ascii_case(&method))
                    && f.path_contains.as_ref().is_none_or(|p| path.contains(p.as_str()))
                    && f.count.is_none_or(|c| c > 0)
            });
            // A rule that skips lets this one through, and counts it.
            let hit = match hit {
                Some(f) if f.skip > 0 => {
                    f.skip -= 1;
                    None
                }
                other => other,
            };
            hit.map(|f| {
                if let Some(c) = f.count.as_mut() {
                    *c -= 1;
                }
                f.clone()
            })
        };
        if let Some(rule) = rule {
            if let Some(code) = rule.aadsts {
                let (parts, body) = req.into_parts();
                let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
                let form: HashMap<String, String> = form_urlencoded::parse(&bytes).into_owned().collect();
                let _ = parts;
                let client = form.get("client_id").cloned().unwrap_or_default();
                let scope = form.get("scope").cloned().unwrap_or_default();
                let r = match super::entra::injected_aadsts(code, &client, &scope) {
                    Some(e) => entra_response(Err(e)),
                    None => (
                        StatusCode::BAD_REQUEST,
                        axum::Json(json!({ "error": format!("the emulator cannot inject AADSTS{code}") })),
                    )
                        .into_response(),
                };
                world.record(served(r.status()));
                return r;
            }
            if rule.delay_ms > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(rule.delay_ms)).await;
            }
            if rule.drop_response {
                let response = next.run(req).await;
                world.record(served(response.status()));
                return dropped("response dropped by fault rule");
            }
            if rule.hold {
                let response = next.run(req).await;
                world.record(LogEntry { held: true, ..served(response.status()) });
                tokio::time::sleep(std::time::Duration::from_secs(600)).await;
                return dropped("response held back by fault rule");
            }
            let response = if rule.drop_connection {
                // Headers go out, then the body fails: the client sees the connection drop.
                Some(dropped("connection dropped by fault rule"))
            } else {
                rule.status.map(|s| fault_response(s, rule.retry_after, &client_request_id))
            };
            if let Some(r) = response {
                world.record(served(r.status()));
                return r;
            }
        }
    }
    let response = next.run(req).await;
    if !control {
        let request_id = response.headers().get("request-id").and_then(|v| v.to_str().ok()).map(str::to_string);
        let service_ms =
            response.extensions().get::<ServiceTime>().filter(|s| !s.0.is_zero()).map(|s| s.0.as_millis() as u64);
        world.record(LogEntry { request_id, service_ms, ..served(response.status()) });
    }
    response
}

/// Injects a chaos fault (chaos.rs): the response, and the status the log records (the one
/// served, for the faults that serve the request).
async fn inject(
    world: &World,
    fault: super::chaos::Injected,
    peer: Option<SocketAddr>,
    slow_ms: u64,
    client_request_id: &str,
    req: Request,
    next: Next,
) -> (Response, StatusCode) {
    use super::chaos::FaultKind as K;
    let status = |code: u16| {
        let r = fault_response(code, fault.retry_after, client_request_id);
        let s = r.status();
        (r, s)
    };
    match fault.kind {
        K::InternalServerError => status(500),
        K::BadGateway => status(502),
        K::ServiceUnavailable | K::ServiceUnavailableRetryAfter => status(503),
        K::GatewayTimeout => status(504),
        K::ThrottleBurst => status(429),
        K::DropBeforeServing => (dropped("connection dropped by a chaos fault"), StatusCode::OK),
        K::TlsReset => {
            // Unknown connections (through the proxy) are dropped instead.
            let _ = peer.is_some_and(|p| world.connections.reset(p));
            (dropped("connection reset by a chaos fault"), StatusCode::OK)
        }
        K::DropMidBody => {
            let response = next.run(req).await;
            let served = response.status();
            let (mut parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
            let half = bytes.slice(..bytes.len() / 2);
            parts.headers.remove(axum::http::header::CONTENT_LENGTH);
            // The head and half the body go out; then the connection fails.
            use futures_util::StreamExt;
            let cut = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(half) }).chain(
                futures_util::stream::once(async {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    Err(std::io::Error::other("connection dropped mid-body by a chaos fault"))
                }),
            );
            (Response::from_parts(parts, Body::from_stream(cut)), served)
        }
        K::Slow => {
            let response = next.run(req).await;
            let served = response.status();
            tokio::time::sleep(std::time::Duration::from_millis(slow_ms)).await;
            (response, served)
        }
    }
}

/// Graph's service time charged for a response (for the request log).
#[derive(Clone, Copy)]
struct ServiceTime(std::time::Duration);

/// A response whose body fails after the headers: the client sees the connection drop.
fn dropped(reason: &'static str) -> Response {
    Response::new(Body::from_stream(futures_util::stream::once(async move {
        Err::<Bytes, std::io::Error>(std::io::Error::other(reason))
    })))
}

fn fault_response(status: u16, retry_after: Option<u64>, client_request_id: &str) -> Response {
    // Graph's gateway answers 502/503/504 with `UnknownError` and an empty message
    // (microsoftgraph/microsoft-graph-docs#2505, #5288; 502 UNCONFIRMED).
    let (code, message) = match status {
        429 => ("TooManyRequests", "The service is temporarily unavailable. Please retry again later."),
        502..=504 => ("UnknownError", ""),
        _ => ("InternalServerError", "The service is temporarily unavailable. Please retry again later."),
    };
    let mut r = graph::gerr(status, code, message);
    if let Some(s) = retry_after {
        r.headers.push(("Retry-After".into(), s.to_string()));
    }
    to_response(r, client_request_id)
}

/// The client's `client-request-id` header, else a fresh GUID (facts.md §3.12).
fn client_request_id(headers: &HeaderMap) -> String {
    graph::sent_client_request_id(headers.iter().filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))))
        .unwrap_or_else(super::state::new_id)
}

/// A Graph answer as HTTP, with its `request-id` and `client-request-id` (headers and error
/// body, facts.md §3.12).
fn to_response(mut r: GResp, client_request_id: &str) -> Response {
    r.stamp(client_request_id, true);
    to_http(r)
}

/// A stamped Graph answer as HTTP.
fn to_http(r: GResp) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = match r.body {
        Some(b) => (status, axum::Json(b)).into_response(),
        None => status.into_response(),
    };
    for (k, v) in r.headers {
        if let (Ok(name), Ok(value)) = (axum::http::HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(&v)) {
            resp.headers_mut().insert(name, value);
        }
    }
    resp
}

fn entra_response(result: Result<Value, super::entra::EntraError>) -> Response {
    let (status, body) = match result {
        Ok(v) => (StatusCode::OK, v),
        Err(e) => (e.status, e.body),
    };
    let mut r = (status, axum::Json(body)).into_response();
    r.headers_mut().insert("cache-control", HeaderValue::from_static("no-store, no-cache"));
    r.headers_mut().insert("pragma", HeaderValue::from_static("no-cache"));
    r
}

async fn token(State(world): W, Path(tenant): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    entra_response(super::entra::token(&world, &tenant, &headers, &form))
}

async fn devicecode(
    State(world): W,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Bytes,
) -> Response {
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    entra_response(super::entra::device_code(&world, &tenant, &form, &format!("https://{}", host_of(&headers, &uri))))
}

fn browser_response(answer: super::authorize::Answer) -> Response {
    let mut r = match answer {
        super::authorize::Answer::Page(status, html) => {
            (status, [("content-type", "text/html; charset=utf-8")], html).into_response()
        }
        super::authorize::Answer::Redirect(location) => match HeaderValue::from_str(&location) {
            Ok(v) => {
                let mut r = StatusCode::FOUND.into_response();
                r.headers_mut().insert("location", v);
                r
            }
            Err(_) => StatusCode::BAD_REQUEST.into_response(),
        },
    };
    r.headers_mut().insert("cache-control", HeaderValue::from_static("no-store, no-cache"));
    r
}

async fn authorize(
    State(world): W,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let base = format!("https://{}", host_of(&headers, &uri));
    browser_response(super::authorize::authorize(&world, &tenant, &q, &base))
}

/// A browser page's query string.
type PageQuery = Query<HashMap<String, String>>;

/// The admin consent endpoints, v2 (`/{tenant}/v2.0/adminconsent`) and v1 (`/{tenant}/adminconsent`).
fn admin_consent(
    endpoint: super::adminconsent::Endpoint,
) -> impl Fn(W, Path<String>, HeaderMap, axum::http::Uri, PageQuery) -> std::future::Ready<Response> + Clone + Send + 'static
{
    move |State(world), Path(tenant), headers, uri, Query(q)| {
        let base = format!("https://{}", host_of(&headers, &uri));
        std::future::ready(browser_response(super::adminconsent::admin_consent(&world, &tenant, &q, &base, endpoint)))
    }
}

async fn admin_consent_complete(State(world): W, Path(id): Path<String>, body: Bytes) -> Response {
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    browser_response(super::adminconsent::complete(&world, &id, &form))
}

async fn signin_complete(State(world): W, Path(id): Path<String>, body: Bytes) -> Response {
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    browser_response(super::authorize::complete(&world, &id, &form))
}

async fn openid(State(world): W, Path(tenant): Path<String>, headers: HeaderMap, uri: axum::http::Uri) -> Response {
    entra_response(super::entra::openid_configuration(&world, &tenant, &format!("https://{}", host_of(&headers, &uri))))
}

async fn instance_discovery(
    State(world): W,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let base = format!("https://{}", host_of(&headers, &uri));
    let endpoint = q.get("authorization_endpoint").cloned().unwrap_or_default();
    axum::Json(super::entra::instance_discovery(&world, &base, &endpoint)).into_response()
}

async fn keys(State(world): W) -> Response {
    axum::Json(super::entra::jwks(&world)).into_response()
}

async fn managed_identity(State(world): W, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    match super::entra::managed_identity(&world, &headers, &q) {
        Ok(v) => axum::Json(v).into_response(),
        Err((s, v)) => (s, axum::Json(v)).into_response(),
    }
}

async fn graph_entry(
    State(world): W,
    method: Method,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Bytes,
) -> Response {
    let host = host_of(&headers, &uri);
    let base = format!("https://{host}");
    let client_request_id = client_request_id(&headers);
    let caller = match graph::authenticate(&world, &headers, graph::graph_audience) {
        Ok(c) => c,
        Err(e) => {
            let mut r = e;
            // docs/emulator-research.md §2 (MSAL.NET doc and a real capture).
            r.headers.push((
                "WWW-Authenticate".into(),
                "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"".into(),
            ));
            return to_response(r, &client_request_id);
        }
    };
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    let rel = path_and_query.strip_prefix("/v1.0/").unwrap_or(path_and_query).to_string();
    let json_body: Option<Value> = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => Some(v),
            Err(_) => {
                return to_response(
                    graph::gerr(
                        400,
                        "BadRequest",
                        "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
                    ),
                    &client_request_id,
                );
            }
        }
    };
    let mode = super::graph_query::Mode::from_headers(
        headers.iter().filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))),
    );
    let w = world.clone();
    let outer_id = client_request_id.clone();
    let request_id = super::state::new_id();
    let batch_id = request_id.clone();
    let result = tokio::task::spawn_blocking(move || {
        if rel.split('?').next() == Some("$batch") && method == Method::POST {
            graph::batch(&w, &caller, &base, &host, &json_body.unwrap_or(Value::Null), &outer_id, &batch_id)
        } else {
            (graph::dispatch(&w, &caller, &base, method.as_str(), &rel, json_body, mode), 1)
        }
    })
    .await;
    match result {
        Ok((mut r, depth)) => {
            // Graph's service time: once per request, a batch's longest dependsOn chain over.
            let service = world.service_time() * depth;
            if !service.is_zero() {
                tokio::time::sleep(service).await;
            }
            r.stamp_as(request_id, &client_request_id, true);
            let mut response = to_http(r);
            response.extensions_mut().insert(ServiceTime(service));
            response
        }
        Err(_) => to_response(
            graph::gerr(500, "InternalServerError", "The emulator failed to serve the request."),
            &client_request_id,
        ),
    }
}

async fn spo_web(State(world): W, headers: HeaderMap, uri: axum::http::Uri) -> Response {
    let host = host_of(&headers, &uri);
    if !sharepoint::is_sharepoint_host(&host) {
        return StatusCode::NOT_FOUND.into_response();
    }
    sharepoint::web(&world, &host, &headers)
}

async fn spo_site(State(world): W, headers: HeaderMap, uri: axum::http::Uri) -> Response {
    let host = host_of(&headers, &uri);
    if !sharepoint::is_sharepoint_host(&host) {
        return StatusCode::NOT_FOUND.into_response();
    }
    sharepoint::site(&world, &host, &headers)
}

async fn spo_context_info(State(world): W, headers: HeaderMap, uri: axum::http::Uri) -> Response {
    let host = host_of(&headers, &uri);
    if !sharepoint::is_sharepoint_host(&host) {
        return StatusCode::NOT_FOUND.into_response();
    }
    sharepoint::context_info(&world, &host, &headers)
}

/// The rest of `/_api`: `SPO.Tenant` (and what is under it) on the admin host, else SharePoint's
/// 404.
async fn spo_api(
    State(world): W,
    method: Method,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Path(rest): Path<String>,
) -> Response {
    let host = host_of(&headers, &uri);
    if !sharepoint::is_sharepoint_host(&host) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let first = rest.split('/').next().unwrap_or("");
    if first.eq_ignore_ascii_case("SPO.Tenant") {
        return sharepoint::tenant_rest(&world, &host, method.as_str(), &rest, &headers);
    }
    sharepoint::resource_not_found(&headers, &rest)
}

async fn spo_process_query(State(world): W, headers: HeaderMap, uri: axum::http::Uri, body: String) -> Response {
    let host = host_of(&headers, &uri);
    if !sharepoint::is_sharepoint_host(&host) {
        return StatusCode::NOT_FOUND.into_response();
    }
    sharepoint::process_query(&world, &host, &headers, &body)
}

async fn spo_web_prefixed(State(world): W, Path(host): Path<String>, headers: HeaderMap) -> Response {
    sharepoint::web(&world, &host, &headers)
}

async fn spo_process_query_prefixed(
    State(world): W,
    Path(host): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    sharepoint::process_query(&world, &host, &headers, &body)
}

/// `POST /adminapi/beta/{tenant}/InvokeCommand`, on outlook.office365.com or any host.
async fn exo_invoke_command(
    State(world): W,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Bytes,
) -> Response {
    let host = host_of(&headers, &uri);
    let client_request_id = client_request_id(&headers);
    super::exchange::invoke_command(&world, &host, &tenant, uri.query(), &headers, &body, &client_request_id)
}

/// `POST /EWS/Exchange.asmx`, on outlook.office365.com or any host.
async fn ews(State(world): W, headers: HeaderMap, body: Bytes) -> Response {
    let client_request_id = client_request_id(&headers);
    super::exchange::ews(&world, &headers, &String::from_utf8_lossy(&body), &client_request_id)
}

// ------------------------------------------------------------------------- control API

fn control_error(status: StatusCode, error: String) -> Response {
    (status, axum::Json(json!({ "error": error }))).into_response()
}

fn no_tenant(name: &str) -> Response {
    control_error(StatusCode::NOT_FOUND, format!("no tenant {name}"))
}

async fn exchange_get(State(world): W, Path(tenant): Path<String>) -> Response {
    let delay = world.ews_propagation();
    let mut tenants = world.tenants.lock();
    let Some(i) = world.tenant_index(&tenants, &tenant) else { return no_tenant(&tenant) };
    axum::Json(super::exchange::control_view(&mut tenants[i], delay)).into_response()
}

async fn exchange_patch(State(world): W, Path(tenant): Path<String>, body: Bytes) -> Response {
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return control_error(StatusCode::BAD_REQUEST, "the body must be JSON".into());
    };
    let delay = world.ews_propagation();
    let mut tenants = world.tenants.lock();
    let Some(i) = world.tenant_index(&tenants, &tenant) else { return no_tenant(&tenant) };
    match super::exchange::control_patch(&mut tenants[i], &v) {
        Ok(()) => axum::Json(super::exchange::control_view(&mut tenants[i], delay)).into_response(),
        Err(e) => control_error(StatusCode::BAD_REQUEST, e),
    }
}

async fn directory_get(State(world): W, Path(tenant): Path<String>) -> Response {
    let tenants = world.tenants.lock();
    let Some(i) = world.tenant_index(&tenants, &tenant) else { return no_tenant(&tenant) };
    axum::Json(super::directory::control_view(&tenants[i])).into_response()
}

/// The POSTs that add to a tenant's directory: 201 with the new object, 400 with a message.
fn directory_add(
    world: &World,
    tenant: &str,
    body: &Bytes,
    add: fn(&mut super::state::Tenant, &Value) -> Result<Value, String>,
) -> Response {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return control_error(StatusCode::BAD_REQUEST, "the body must be JSON".into());
    };
    let mut tenants = world.tenants.lock();
    let Some(i) = world.tenant_index(&tenants, tenant) else { return no_tenant(tenant) };
    match add(&mut tenants[i], &v) {
        Ok(created) => (StatusCode::CREATED, axum::Json(created)).into_response(),
        Err(e) => control_error(StatusCode::BAD_REQUEST, e),
    }
}

async fn gdap_post(State(world): W, Path(tenant): Path<String>, body: Bytes) -> Response {
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return control_error(StatusCode::BAD_REQUEST, "the body must be JSON".into());
    };
    let mut tenants = world.tenants.lock();
    let Some(i) = world.tenant_index(&tenants, &tenant) else { return no_tenant(&tenant) };
    match super::gdap::seed(&v) {
        Ok(r) => {
            tenants[i].delegated_admin_relationships.push(r.clone());
            (StatusCode::CREATED, axum::Json(Value::Object(r))).into_response()
        }
        Err(e) => control_error(StatusCode::BAD_REQUEST, e),
    }
}

async fn users_post(State(world): W, Path(tenant): Path<String>, body: Bytes) -> Response {
    directory_add(&world, &tenant, &body, super::directory::add_user)
}

async fn administrative_units_post(State(world): W, Path(tenant): Path<String>, body: Bytes) -> Response {
    directory_add(&world, &tenant, &body, super::directory::add_administrative_unit)
}

async fn app_policy_get(State(world): W, Path(tenant): Path<String>) -> Response {
    let tenants = world.tenants.lock();
    let Some(i) = world.tenant_index(&tenants, &tenant) else { return no_tenant(&tenant) };
    axum::Json(Value::Object(tenants[i].app_policy.clone())).into_response()
}

async fn app_policy_patch(State(world): W, Path(tenant): Path<String>, body: Bytes) -> Response {
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return control_error(StatusCode::BAD_REQUEST, "the body must be JSON".into());
    };
    let mut tenants = world.tenants.lock();
    let Some(i) = world.tenant_index(&tenants, &tenant) else { return no_tenant(&tenant) };
    match super::apppolicy::patch(&mut tenants[i].app_policy, &v) {
        Ok(()) => axum::Json(Value::Object(tenants[i].app_policy.clone())).into_response(),
        Err(e) => control_error(StatusCode::BAD_REQUEST, e),
    }
}

async fn log_get(State(world): W) -> Response {
    axum::Json(world.log.lock().clone()).into_response()
}

async fn log_clear(State(world): W) -> Response {
    world.log.lock().clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn state_dump(State(world): W) -> Response {
    let delay = world.ews_propagation();
    let mut tenants = world.tenants.lock();
    let out: Vec<Value> = tenants
        .iter_mut()
        .map(|t| {
            let exchange = super::exchange::control_view(t, delay);
            json!({
                "tenantId": t.id,
                "initialDomain": t.initial_domain,
                "applications": t.applications.iter().map(|a| {
                    let mut j = a.obj.json.clone();
                    j.insert("_visible".into(), a.obj.visible().into());
                    Value::Object(j)
                }).collect::<Vec<_>>(),
                "servicePrincipals": t.service_principals.iter().filter(|s| s.first_party.is_none()).map(|s| Value::Object(s.obj.json.clone())).collect::<Vec<_>>(),
                "firstPartyServicePrincipals": t.service_principals.iter().filter(|s| s.first_party.is_some()).map(|s| json!({ "id": s.obj.id(), "appId": s.obj.str("appId"), "displayName": s.obj.str("displayName") })).collect::<Vec<_>>(),
                "appRoleAssignments": t.assignments.iter().map(|a| Value::Object(a.json.clone())).collect::<Vec<_>>(),
                "oauth2PermissionGrants": t.grants.iter().map(|g| Value::Object(g.json.clone())).collect::<Vec<_>>(),
                "sharePoint": { "legacyAuthProtocolsEnabled": t.sharepoint.legacy_auth_protocols_enabled, "tenantProperties": Value::Object(t.sharepoint.tenant_properties.clone()) },
                "exchange": exchange,
                "directory": super::directory::control_view(t),
                "appManagementPolicy": Value::Object(t.app_policy.clone()),
                "pendingDeviceCodes": t.device_codes.iter().map(|d| json!({ "userCode": d.user_code, "approved": d.approved })).collect::<Vec<_>>(),
            })
        })
        .collect();
    axum::Json(json!({ "tenants": out })).into_response()
}

async fn faults_get(State(world): W) -> Response {
    axum::Json(world.faults.lock().clone()).into_response()
}

async fn faults_add(State(world): W, body: Bytes) -> Response {
    let mut rule: FaultRule = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": e.to_string() }))).into_response(),
    };
    let mut faults = world.faults.lock();
    rule.id = faults.iter().map(|f| f.id).max().unwrap_or(0) + 1;
    faults.push(rule.clone());
    (StatusCode::CREATED, axum::Json(rule)).into_response()
}

async fn faults_clear(State(world): W) -> Response {
    world.faults.lock().clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn chaos_get(State(world): W) -> Response {
    axum::Json(world.chaos.lock().clone()).into_response()
}

async fn chaos_put(State(world): W, body: Bytes) -> Response {
    let chaos = serde_json::from_slice::<super::chaos::ChaosConfig>(&body)
        .map_err(|e| e.to_string())
        .and_then(super::chaos::Chaos::new);
    match chaos {
        Ok(c) => {
            *world.chaos.lock() = Some(c.clone());
            axum::Json(c).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": e }))).into_response(),
    }
}

async fn chaos_clear(State(world): W) -> Response {
    *world.chaos.lock() = None;
    StatusCode::NO_CONTENT.into_response()
}

/// Every secret the emulator has handed out: the tenants' bootstrap secrets and each one
/// addPassword made (removed ones too), for tests that scan output for leaks.
async fn secrets_get(State(world): W) -> Response {
    let mut all: Vec<String> = world.tenants.lock().iter().map(|t| t.bootstrap.client_secret.clone()).collect();
    all.extend(world.issued_secrets.lock().iter().cloned());
    axum::Json(json!({ "secrets": all })).into_response()
}

async fn settings_get(State(world): W) -> Response {
    axum::Json(json!({
        "throttleRate": *world.throttle_rate.lock(),
        "serviceTimeMs": world.service_time().as_millis() as u64,
        "replicationLagMs": world.lag().as_millis() as u64,
        "autoApproveDeviceCodes": world.config.auto_approve_device_codes,
        "pageSize": world.page_size(),
        "ewsPropagationMs": world.ews_propagation().as_millis() as u64,
        "rbacPropagationMs": world.rbac_propagation().as_millis() as u64,
        "clockOffsetMs": super::state::clock_offset_ms(),
    }))
    .into_response()
}

/// A PATCH of `/_emulator/settings`: every field optional, none unknown (a misspelt setting
/// changing nothing would let a test pass against the wrong emulator).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SettingsPatch {
    page_size: Option<u64>,
    service_time_ms: Option<u64>,
    throttle_rate: Option<f64>,
    replication_lag_ms: Option<u64>,
    ews_propagation_ms: Option<u64>,
    rbac_propagation_ms: Option<u64>,
    clock_offset_ms: Option<i64>,
}

impl SettingsPatch {
    /// The first value out of range, as the 400's message.
    fn check(&self) -> Result<(), String> {
        if self.page_size.is_some_and(|n| !(1..=EmulatorConfig::MAX_PAGE_SIZE as u64).contains(&n)) {
            return Err(format!("pageSize must be a whole number from 1 to {}", EmulatorConfig::MAX_PAGE_SIZE));
        }
        if self.service_time_ms.is_some_and(|ms| ms > 60_000) {
            return Err("serviceTimeMs must be a whole number of milliseconds, at most 60000".into());
        }
        if self.throttle_rate.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
            return Err("throttleRate must be a number from 0 to 1".into());
        }
        if self.clock_offset_ms.is_some_and(|ms| ms.unsigned_abs() > 86_400_000) {
            return Err("clockOffsetMs must be a whole number of milliseconds, at most a day either way".into());
        }
        Ok(())
    }
}

/// Checks the whole PATCH before applying any of it: a refused one changes nothing.
async fn settings_patch(State(world): W, body: Bytes) -> Response {
    let refuse = |error: String| (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": error }))).into_response();
    let patch: SettingsPatch = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return refuse(format!("The settings must be a JSON object of known settings: {e}")),
    };
    if let Err(error) = patch.check() {
        return refuse(error);
    }
    let ms = std::time::Duration::from_millis;
    if let Some(n) = patch.page_size {
        *world.page_size.lock() = n as usize;
    }
    if let Some(t) = patch.service_time_ms {
        *world.service_time.lock() = ms(t);
    }
    if let Some(r) = patch.throttle_rate {
        *world.throttle_rate.lock() = r;
    }
    if let Some(t) = patch.replication_lag_ms {
        *world.replication_lag.lock() = ms(t);
    }
    if let Some(t) = patch.ews_propagation_ms {
        *world.ews_propagation.lock() = ms(t);
    }
    if let Some(t) = patch.rbac_propagation_ms {
        *world.rbac_propagation.lock() = ms(t);
    }
    if let Some(offset) = patch.clock_offset_ms {
        super::state::set_clock_offset_ms(offset);
    }
    settings_get(State(world)).await
}

fn set_device_code(world: &World, user_code: &str, approve: bool) -> Response {
    let mut tenants = world.tenants.lock();
    for t in tenants.iter_mut() {
        if let Some(d) = t.device_codes.iter_mut().find(|d| d.user_code.eq_ignore_ascii_case(user_code)) {
            if approve {
                d.approved = true;
            } else {
                d.declined = true;
            }
            return StatusCode::NO_CONTENT.into_response();
        }
    }
    (StatusCode::NOT_FOUND, axum::Json(json!({ "error": format!("no pending device code {user_code}") })))
        .into_response()
}

async fn devicecode_approve(State(world): W, Path(user_code): Path<String>) -> Response {
    set_device_code(&world, &user_code, true)
}

async fn devicecode_decline(State(world): W, Path(user_code): Path<String>) -> Response {
    set_device_code(&world, &user_code, false)
}
