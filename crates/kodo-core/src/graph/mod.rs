//! Microsoft Graph client: one path for every Graph request. Typed reads ([`Graph::get`],
//! [`Graph::find`], [`Graph::list`] which follows `@odata.nextLink` to the end), JSON `$batch`
//! in chunks of 20 sent together, the retry policy of [`retry`] applied to every request and
//! every `$batch` item, and Graph errors turned into Kodo errors that carry the service's
//! `request-id` and the `client-request-id` Kodo sent (a fresh GUID per request).

pub mod models;
pub mod retry;

use crate::auth::Connection;
use crate::context::{LogLevel, OpContext};
use crate::error::{ErrorCode, KodoError};
use rand::Rng;
use retry::{Decision, Outcome, RetryPolicy};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use retry::Retry;

/// At most this many pages are read of one list; past it the read fails rather than run on.
pub const MAX_PAGES: usize = 500;

/// Requests in one `$batch` (facts.md §3.13).
pub const BATCH_LIMIT: usize = 20;

/// One Graph request: a path under `/v1.0/` (or a nextLink Graph gave), and how it may be
/// retried.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: &'static str,
    pub path: String,
    pub body: Option<Value>,
    pub retry: Retry,
    /// `Prefer: create-if-missing`: a PATCH by alternate key creates what is missing.
    pub upsert: bool,
}

impl Request {
    pub fn get(path: impl Into<String>, retry: Retry) -> Request {
        Request { method: "GET", path: path.into(), body: None, retry, upsert: false }
    }
    pub fn post(path: impl Into<String>, body: Value, retry: Retry) -> Request {
        Request { method: "POST", path: path.into(), body: Some(body), retry, upsert: false }
    }
    pub fn patch(path: impl Into<String>, body: Value, retry: Retry) -> Request {
        Request { method: "PATCH", path: path.into(), body: Some(body), retry, upsert: false }
    }
    /// Creates the object with the alternate key in `path` if none has it, else updates it
    /// (Graph's upsert: 201 with the new object, or 204). Not sent again after no answer or a
    /// 5xx: the caller reads by the key to learn what happened.
    pub fn upsert(path: impl Into<String>, body: Value) -> Request {
        Request { method: "PATCH", path: path.into(), body: Some(body), retry: Retry::Replication, upsert: true }
    }
    pub fn delete(path: impl Into<String>, retry: Retry) -> Request {
        Request { method: "DELETE", path: path.into(), body: None, retry, upsert: false }
    }
    /// The path without its query, for messages and error targets.
    pub fn resource(&self) -> &str {
        self.path.split('?').next().unwrap_or(&self.path)
    }
}

/// A Graph answer (also a `$batch` item).
#[derive(Debug, Clone, Default)]
pub struct Response {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<f64>,
    pub request_id: Option<String>,
    pub client_request_id: Option<String>,
    /// Signing in failed, so the request never left: why (see [`send_authorized`]).
    pub sign_in: Option<KodoError>,
    /// The service's `Date` header, in seconds since 1970 (a `$batch` item: the batch's).
    pub date: Option<i64>,
    /// From sending the request to having its whole answer, by this machine's clock.
    pub round_trip: Duration,
}

impl Response {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
    /// The whole second, by the service's own clock, at or after which it read what this answer
    /// holds: the `Date` header (whole seconds, stamped as the answer left) less the round trip,
    /// rounded down. So that "made after this read" is judged on the clock that stamps
    /// createdDateTime, not on this machine's, which may be off it. None: no `Date` header.
    pub fn read_no_earlier_than(&self) -> Option<i64> {
        self.date.map(|d| d - self.round_trip.as_secs_f64().ceil() as i64)
    }
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }
    /// The errors Graph's replication delay produces for a just-created object (facts.md
    /// §3.9, §3.12): 404 Request_ResourceNotFound, 400 NoBackingApplicationObject, 400 "Not a
    /// valid reference update".
    pub fn is_replication_lag(&self) -> bool {
        (self.status == 404 && self.code() == "Request_ResourceNotFound")
            || (self.status == 400
                && self.body["error"]["details"]
                    .as_array()
                    .is_some_and(|d| d.iter().any(|x| x["code"] == "NoBackingApplicationObject")))
            || (self.status == 400 && self.message().starts_with("Not a valid reference update"))
    }
    /// The placeholder [`send_authorized`] answers when signing in failed.
    pub(crate) fn is_sign_in_failure(&self) -> bool {
        self.sign_in.is_some()
    }
    fn outcome(&self) -> Outcome {
        // A sign-in that failed for a moment (the token endpoint did not answer, answered 5xx
        // or throttled): the request never left, so it is tried again whatever its method.
        if let Some(e) = &self.sign_in {
            let transient = matches!(
                e.code,
                ErrorCode::ConnectionFailed | ErrorCode::ServiceError | ErrorCode::Throttled | ErrorCode::Timeout
            );
            return Outcome::Answer {
                status: if transient { 429 } else { 401 },
                replication_lag: false,
                retry_after: transient.then_some(1.0),
            };
        }
        Outcome::Answer {
            status: self.status,
            replication_lag: self.is_replication_lag(),
            retry_after: self.retry_after,
        }
    }
    /// The body as a typed object (a 2xx answer), or the Graph error.
    pub fn json<T: DeserializeOwned>(self, request: &Request) -> Result<T, KodoError> {
        if !self.ok() {
            return Err(graph_error(request.method, request.resource(), &self));
        }
        serde_json::from_value(self.body).map_err(|e| {
            KodoError::new(
                ErrorCode::ServiceError,
                format!(
                    "Microsoft Graph's answer to {} {} was not understood: {e}",
                    request.method,
                    request.resource()
                ),
            )
        })
    }
}

/// Why a try got no answer.
#[derive(Debug, Clone, Copy)]
pub struct NoAnswer {
    pub timed_out: bool,
}

/// Applies `policy` to `send` until it answers for good: the one retry loop of every Graph
/// request. Time and sleep come from the operation's clock; a cancelled operation stops at the
/// next wait.
pub async fn with_retries<F, Fut>(
    policy: &RetryPolicy,
    ctx: &OpContext,
    request: &Request,
    mut send: F,
) -> Result<Response, KodoError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Response, NoAnswer>>,
{
    let clock = ctx.clock();
    let started = clock.now();
    let mut tries = 0u32;
    loop {
        tries += 1;
        let result = send().await;
        let outcome = match &result {
            Ok(r) => r.outcome(),
            Err(_) => Outcome::NoAnswer,
        };
        let elapsed = clock.now().saturating_duration_since(started);
        let jitter: f64 = rand::rng().random();
        match policy.decide(request.method, request.retry, outcome, tries, elapsed, jitter) {
            Decision::Stop => {
                return result.map_err(|e| {
                    KodoError::new(
                        ErrorCode::ConnectionFailed,
                        format!(
                            "{} {} {}: the connection to Microsoft Graph was lost. Run the command again: it continues where it stopped.",
                            request.method,
                            request.resource(),
                            if e.timed_out { "timed out" } else { "failed" }
                        ),
                    )
                });
            }
            Decision::RetryAfter(wait, why) => {
                if ctx.is_cancelled() {
                    return Err(KodoError::new(ErrorCode::Cancelled, "The operation was cancelled."));
                }
                let what = match (why, &result) {
                    (retry::Why::Throttled, Ok(r)) => format!("throttled ({})", r.status),
                    (retry::Why::ReplicationLag, Ok(r)) => format!("not replicated yet ({})", r.code()),
                    (retry::Why::ServerError, Ok(r)) => format!("service error ({})", r.status),
                    _ => "no answer".to_string(),
                };
                ctx.log(
                    LogLevel::Verbose,
                    format!(
                        "{} {}: {what}, retrying in {:.1} s",
                        request.method,
                        request.resource(),
                        wait.as_secs_f64()
                    ),
                );
                clock.sleep(wait).await;
                if ctx.is_cancelled() {
                    return Err(KodoError::new(ErrorCode::Cancelled, "The operation was cancelled."));
                }
            }
        }
    }
}

/// One try of a request to a Microsoft 365 service, the way every Kodo request goes: a token for
/// `resource` (a failed sign-in answers a placeholder the caller turns into the real error with
/// [`sign_in_error`]), the request with its `client-request-id`, the answer with its Retry-After
/// and ids, and a `-Debug` line naming them.
pub(crate) async fn send_authorized(
    conn: &Connection,
    ctx: &OpContext,
    resource: &str,
    request: reqwest::RequestBuilder,
    label: &str,
    client_request_id: &str,
) -> Result<Response, NoAnswer> {
    let token = match conn.token(ctx, resource).await {
        Ok(token) => token,
        Err(e) => {
            return Ok(Response {
                status: 401,
                body: json!({ "error": { "code": SIGN_IN_FAILED, "message": e.message } }),
                sign_in: Some(e),
                ..Default::default()
            });
        }
    };
    let started = ctx.clock().now();
    let r = request
        .bearer_auth(token)
        .header("client-request-id", client_request_id)
        .send()
        .await
        .map_err(|e| NoAnswer { timed_out: e.is_timeout() })?;
    let status = r.status().as_u16();
    let retry_after = header(&r, "retry-after").and_then(|v| v.trim().parse::<f64>().ok());
    let request_id = header(&r, "request-id");
    let echoed = header(&r, "client-request-id").unwrap_or_else(|| client_request_id.to_string());
    let date = header(&r, "date").and_then(|d| chrono::DateTime::parse_from_rfc2822(&d).ok()).map(|d| d.timestamp());
    let bytes = r.bytes().await.map_err(|e| NoAnswer { timed_out: e.is_timeout() })?;
    let round_trip = ctx.clock().now().saturating_duration_since(started);
    ctx.log(
        LogLevel::Debug,
        format!(
            "{label} -> {status} in {} ms (request-id {}, client-request-id {echoed})",
            round_trip.as_millis(),
            request_id.as_deref().unwrap_or("none"),
        ),
    );
    Ok(Response {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        retry_after,
        request_id,
        client_request_id: Some(echoed),
        sign_in: None,
        date,
        round_trip,
    })
}

/// The placeholder code of an answer that never left: signing in failed.
const SIGN_IN_FAILED: &str = "KodoSignIn";

/// The error of the sign-in that kept `response` from being sent.
pub(crate) fn sign_in_error(response: &Response) -> KodoError {
    response.sign_in.clone().unwrap_or_else(|| KodoError::new(ErrorCode::AuthenticationFailed, "Sign-in failed."))
}

pub struct Graph<'a> {
    pub conn: &'a Connection,
    pub ctx: &'a OpContext,
    pub policy: RetryPolicy,
    /// Round trips made (for reports and benchmarks).
    pub round_trips: AtomicU64,
    /// Writes sent (a `$batch`'s items counted one by one, the batch itself not), answered or
    /// not: a caller that read the tenant knows whether its reads still stand.
    pub writes: AtomicU64,
    /// The latest `Date` Graph sent (seconds since 1970) and when its answer arrived, by this
    /// machine's monotonic clock ([`Graph::service_now`]).
    service_clock: parking_lot::Mutex<Option<(i64, std::time::Instant)>>,
}

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

impl<'a> Graph<'a> {
    pub fn new(conn: &'a Connection, ctx: &'a OpContext) -> Self {
        Graph {
            conn,
            ctx,
            policy: RetryPolicy::default(),
            round_trips: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            service_clock: parking_lot::Mutex::new(None),
        }
    }

    /// Graph's time now, at the earliest: the latest `Date` it sent (whole seconds, stamped
    /// before its answer arrived) plus the time since that answer arrived; this machine's time
    /// before any answer carried a `Date`. A credential's end stamped from it is at most its
    /// lifetime past the start Graph gives it, however far this machine's clock is off Graph's
    /// (a tenant that caps secrets at 90 days refuses 90 days and a second).
    pub fn service_now(&self) -> chrono::DateTime<chrono::Utc> {
        let clock = self.ctx.clock();
        match *self.service_clock.lock() {
            Some((date, at)) => {
                let since = clock.now().saturating_duration_since(at);
                chrono::DateTime::from_timestamp(date, 0).unwrap_or_else(|| clock.utc_now())
                    + chrono::Duration::milliseconds(since.as_millis() as i64)
            }
            None => clock.utc_now(),
        }
    }

    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    /// The URL of a path under `/v1.0/`, or of a nextLink Graph gave. A link to any other host
    /// is refused: the token is never sent elsewhere.
    fn url(&self, path: &str) -> Result<String, KodoError> {
        let base = format!("{}/v1.0/", self.conn.env.graph);
        if path.contains("://") {
            return if path.starts_with(&base) {
                Ok(path.to_string())
            } else {
                Err(KodoError::new(
                    ErrorCode::ServiceError,
                    format!("Microsoft Graph gave a next-page link outside {base}; Kodo does not follow it."),
                ))
            };
        }
        Ok(format!("{base}{}", path.trim_start_matches('/')))
    }

    async fn send_once(&self, request: &Request, url: &str, client_request_id: &str) -> Result<Response, NoAnswer> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut req = self.conn.http().request(method, url);
        if let Some(b) = &request.body {
            req = req.json(b);
        }
        if request.upsert {
            req = req.header("Prefer", "create-if-missing");
        }
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        let label = format!("Graph {} {}", request.method, request.resource());
        send_authorized(self.conn, self.ctx, &self.conn.env.graph, req, &label, client_request_id).await
    }

    /// Sends one request with the retry policy of its `retry`.
    pub async fn send(&self, request: &Request) -> Result<Response, KodoError> {
        let url = self.url(&request.path)?;
        if request.method != "GET" && request.path != "$batch" {
            self.writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let response =
            with_retries(&self.policy, self.ctx, request, || self.send_once(request, &url, &client_request_id)).await?;
        if response.is_sign_in_failure() {
            return Err(sign_in_error(&response));
        }
        if let Some(date) = response.date {
            let mut seen = self.service_clock.lock();
            if seen.is_none_or(|(d, _)| date >= d) {
                *seen = Some((date, self.ctx.clock().now()));
            }
        }
        Ok(response)
    }

    /// Sends, and fails on a non-2xx answer.
    pub async fn call(&self, request: &Request) -> Result<Value, KodoError> {
        let r = self.send(request).await?;
        if r.ok() { Ok(r.body) } else { Err(graph_error(request.method, request.resource(), &r)) }
    }

    /// A typed read.
    pub async fn get<T: DeserializeOwned>(&self, path: impl Into<String>, retry: Retry) -> Result<T, KodoError> {
        let request = Request::get(path, retry);
        self.send(&request).await?.json(&request)
    }

    /// A typed read of something that may not exist (404: None).
    pub async fn find<T: DeserializeOwned>(
        &self,
        path: impl Into<String>,
        retry: Retry,
    ) -> Result<Option<T>, KodoError> {
        let request = Request::get(path, retry);
        let r = self.send(&request).await?;
        if r.status == 404 { Ok(None) } else { r.json(&request).map(Some) }
    }

    /// Every item of a list, following `@odata.nextLink` to the end (facts.md §3.14).
    pub async fn list<T: DeserializeOwned>(&self, path: impl Into<String>, retry: Retry) -> Result<Vec<T>, KodoError> {
        let request = Request::get(path, retry);
        let first = self.send(&request).await?;
        self.all_pages(first, &request).await
    }

    /// Every item of a list whose first page has been read (for example inside a `$batch`):
    /// the rest is read page by page, each as Graph links it.
    pub async fn all_pages<T: DeserializeOwned>(
        &self,
        first: Response,
        request: &Request,
    ) -> Result<Vec<T>, KodoError> {
        let mut page: models::Page<T> = first.json(request)?;
        let mut items = std::mem::take(&mut page.value);
        let mut pages = 1;
        while let Some(next) = page.next_link.take() {
            if pages >= MAX_PAGES {
                return Err(KodoError::new(
                    ErrorCode::ServiceError,
                    format!(
                        "{} {} has more than {MAX_PAGES} pages: Kodo stopped reading rather than read without end.",
                        request.method,
                        request.resource()
                    ),
                )
                .with_target(request.resource().to_string()));
            }
            let link = Request::get(next, request.retry);
            page = self.send(&link).await?.json(request)?;
            items.append(&mut page.value);
            pages += 1;
        }
        Ok(items)
    }

    /// Runs requests through `$batch`, 20 at a time (the chunks go out together), retrying
    /// each item by the policy of its own `retry` until the budget runs out. One answer per
    /// request, in order.
    pub async fn batch(&self, requests: &[Request]) -> Result<Vec<Response>, KodoError> {
        let mut results: Vec<Option<Response>> = vec![None; requests.len()];
        let clock = self.ctx.clock();
        let started = clock.now();
        let mut pending: Vec<usize> = (0..requests.len()).collect();
        let mut tries = 0u32;
        while !pending.is_empty() {
            tries += 1;
            let mut again = Vec::new();
            let mut wait = Duration::ZERO;
            let chunks: Vec<&[usize]> = pending.chunks(BATCH_LIMIT).collect();
            let answers =
                futures_util::future::join_all(chunks.iter().map(|chunk| self.send_chunk(requests, chunk, false)))
                    .await;
            let elapsed = clock.now().saturating_duration_since(started);
            for answer in answers {
                for (i, r, settled) in answer? {
                    let request = &requests[i];
                    let jitter: f64 = rand::rng().random();
                    let decision = if settled {
                        Decision::Stop
                    } else {
                        self.policy.decide(request.method, request.retry, r.outcome(), tries, elapsed, jitter)
                    };
                    match decision {
                        Decision::RetryAfter(d, _) => {
                            wait = wait.max(d);
                            again.push(i);
                        }
                        Decision::Stop => results[i] = Some(r),
                    }
                }
            }
            if !again.is_empty() {
                if self.ctx.is_cancelled() {
                    return Err(KodoError::new(ErrorCode::Cancelled, "The operation was cancelled."));
                }
                self.ctx.log(
                    LogLevel::Verbose,
                    format!(
                        "$batch: {} request(s) throttled or not replicated yet, retrying in {:.1} s",
                        again.len(),
                        wait.as_secs_f64()
                    ),
                );
                clock.sleep(wait).await;
            }
            pending = again;
        }
        Ok(results.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// Requests that must run one after the other (a write, then its read-back), in one `$batch`
    /// round trip: each item `dependsOn` the one before it, so Graph runs them in that order, and
    /// an item whose predecessor failed answers 424 Failed Dependency.
    /// https://learn.microsoft.com/graph/json-batching ("Sequencing requests with the dependsOn
    /// property"; a chain is the "serial" pattern, the first item depending on nothing).
    /// The answers come in the order of `requests`; none is retried here (a throttled or failed
    /// item is the caller's to send again, on its own). At most 20 requests.
    pub async fn batch_chain(&self, requests: &[Request]) -> Result<Vec<Response>, KodoError> {
        let order: Vec<usize> = (0..requests.len().min(BATCH_LIMIT)).collect();
        let mut results: Vec<Response> = vec![Response::default(); order.len()];
        for (i, r, _) in self.send_chunk(requests, &order, true).await? {
            results[i] = r;
        }
        Ok(results)
    }

    /// One `$batch` round trip for up to 20 of `requests` (a lone request goes out as itself,
    /// with `send`'s own retries: its answer is settled). Returns (index, answer, settled).
    /// `chained`: each item `dependsOn` the one before it in `chunk`.
    async fn send_chunk(
        &self,
        requests: &[Request],
        chunk: &[usize],
        chained: bool,
    ) -> Result<Vec<(usize, Response, bool)>, KodoError> {
        if let [i] = chunk {
            return Ok(vec![(*i, self.send(&requests[*i]).await?, true)]);
        }
        let items: Vec<Value> = chunk
            .iter()
            .enumerate()
            .map(|(n, &i)| {
                let r = &requests[i];
                let mut item = json!({ "id": i.to_string(), "method": r.method, "url": format!("/{}", r.path.trim_start_matches('/')) });
                if chained && n > 0 {
                    item["dependsOn"] = json!([chunk[n - 1].to_string()]);
                }
                if let Some(b) = &r.body {
                    item["body"] = b.clone();
                    item["headers"] = json!({ "Content-Type": "application/json" });
                }
                if r.upsert {
                    item["headers"]["Prefer"] = "create-if-missing".into();
                }
                item
            })
            .collect();
        let written = chunk.iter().filter(|&&i| requests[i].method != "GET").count() as u64;
        self.writes.fetch_add(written, std::sync::atomic::Ordering::Relaxed);
        let outer = Request::post("$batch", json!({ "requests": items }), Retry::ThrottleOnly);
        let mut answer = self.send(&outer).await?;
        if !answer.ok() {
            return Err(graph_error("POST", "$batch", &answer));
        }
        let mut answers = Vec::new();
        // Taken, not copied: a resource API's service principal (Microsoft Graph's has 716 app
        // roles) is large.
        let Value::Array(responses) = answer.body["responses"].take() else { return Ok(answers) };
        for mut item in responses {
            let Some(i) = item["id"].as_str().and_then(|s| s.parse::<usize>().ok()).filter(|i| chunk.contains(i))
            else {
                continue;
            };
            let headers = item["headers"].as_object();
            let retry_after = headers
                .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case("retry-after")))
                .and_then(|(_, v)| v.as_str().and_then(|s| s.parse::<f64>().ok()).or_else(|| v.as_f64()));
            let body = item["body"].take();
            // An item's own ids are in its error body (facts.md §3.12); else the batch's.
            let request_id =
                body["error"]["innerError"]["request-id"].as_str().map(str::to_string).or(answer.request_id.clone());
            answers.push((
                i,
                Response {
                    status: item["status"].as_u64().unwrap_or(500) as u16,
                    body,
                    retry_after,
                    request_id,
                    client_request_id: answer.client_request_id.clone(),
                    sign_in: None,
                    date: answer.date,
                    round_trip: answer.round_trip,
                },
                false,
            ));
        }
        Ok(answers)
    }
}

/// A Graph error as a Kodo error that says what to do, with the request's ids.
pub fn graph_error(method: &str, path: &str, r: &Response) -> KodoError {
    let code = r.code();
    let message = r.message();
    let (kind, advice) = match (r.status, code) {
        (403, _) => (
            ErrorCode::PermissionDenied,
            "The signed-in identity lacks the Microsoft Graph permission for this step (see Get-KodoContext: Roles/Scopes). An app needs Application.ReadWrite.All, AppRoleAssignment.ReadWrite.All and DelegatedPermissionGrant.ReadWrite.All; an admin needs Privileged Role Administrator (or Global Administrator) to grant Microsoft Graph app roles.",
        ),
        (401, _) => (ErrorCode::AuthenticationFailed, "Microsoft Graph refused the token. Run Connect-Kodo again."),
        (404, _) => (ErrorCode::NotFound, "Not found."),
        (409, _) => (ErrorCode::AlreadyExists, "It already exists."),
        (429, _) => (
            ErrorCode::Throttled,
            "Microsoft Graph kept throttling past Kodo's retry budget. Wait a few minutes and run the command again: it continues where it stopped.",
        ),
        (s, _) if s >= 500 => (
            ErrorCode::ServiceError,
            "Microsoft Graph failed. Run the command again later: it continues where it stopped.",
        ),
        _ => (ErrorCode::ServiceError, "Microsoft Graph refused the request."),
    };
    KodoError::new(kind, format!("{advice} ({method} {path}: HTTP {} {code}: {message})", r.status))
        .with_target(path.split('?').next().unwrap_or(path).to_string())
        .with_request_ids(r.request_id.clone(), r.client_request_id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::ManualClock;
    use std::sync::Arc;
    use std::sync::atomic::AtomicU32;

    fn ctx_on(clock: Arc<ManualClock>) -> OpContext {
        OpContext::detached().with_clock(clock)
    }

    fn answer(status: u16, retry_after: Option<f64>, body: Value) -> Response {
        Response {
            status,
            body,
            retry_after,
            request_id: Some("r".into()),
            client_request_id: Some("c".into()),
            sign_in: None,
            ..Default::default()
        }
    }

    #[test]
    fn a_read_is_placed_on_the_services_clock_at_most_a_round_trip_before_its_date() {
        let at = |date: Option<i64>, ms: u64| {
            Response { date, round_trip: Duration::from_millis(ms), ..Default::default() }.read_no_earlier_than()
        };
        // Date has whole seconds and is stamped as the answer leaves: the read was at most a
        // round trip earlier, which may be in the second before.
        assert_eq!(at(Some(1_000), 0), Some(1_000));
        assert_eq!(at(Some(1_000), 1), Some(999));
        assert_eq!(at(Some(1_000), 1_000), Some(999));
        assert_eq!(at(Some(1_000), 2_500), Some(997));
        assert_eq!(at(None, 10), None);
    }

    fn lag() -> Response {
        answer(
            404,
            None,
            json!({ "error": { "code": "Request_ResourceNotFound", "message": "Resource 'x' does not exist or one of its queried reference-property objects are not present." } }),
        )
    }

    /// Drives the loop with a script of answers; returns the result, the tries and the time slept.
    async fn run(
        request: Request,
        script: Vec<Result<Response, NoAnswer>>,
    ) -> (Result<Response, KodoError>, u32, Duration) {
        let clock = Arc::new(ManualClock::new());
        let ctx = ctx_on(clock.clone());
        let tries = AtomicU32::new(0);
        let script = std::sync::Mutex::new(script.into_iter());
        let result = with_retries(&RetryPolicy::default(), &ctx, &request, || {
            tries.fetch_add(1, Ordering::SeqCst);
            let next = script.lock().unwrap().next().unwrap_or(Ok(answer(200, None, json!({}))));
            async move { next }
        })
        .await;
        (result, tries.load(Ordering::SeqCst), clock.elapsed())
    }

    #[tokio::test]
    async fn throttling_waits_retry_after_then_succeeds() {
        let (r, tries, slept) = run(
            Request::post("applications", json!({}), Retry::ThrottleOnly),
            vec![
                Ok(answer(429, Some(7.0), Value::Null)),
                Ok(answer(503, Some(2.0), Value::Null)),
                Ok(answer(201, None, json!({ "id": "x" }))),
            ],
        )
        .await;
        assert_eq!(r.unwrap().body["id"], "x");
        assert_eq!(tries, 3);
        assert_eq!(slept, Duration::from_secs(9));
    }

    #[tokio::test]
    async fn replication_lag_is_retried_for_a_read_and_not_for_a_create() {
        let (r, tries, _) = run(Request::get("applications/x", Retry::Replication), vec![Ok(lag()), Ok(lag())]).await;
        assert!(r.unwrap().ok());
        assert_eq!(tries, 3);
        let (r, tries, slept) =
            run(Request::post("applications", json!({}), Retry::ThrottleOnly), vec![Ok(lag())]).await;
        assert_eq!(r.unwrap().status, 404);
        assert_eq!((tries, slept), (1, Duration::ZERO));
    }

    #[tokio::test]
    async fn the_budget_ends_a_lag_that_never_clears() {
        let (r, tries, slept) = run(
            Request::get("applications/x", Retry::Replication),
            std::iter::repeat_with(|| Ok(lag())).take(1000).collect(),
        )
        .await;
        assert_eq!(r.unwrap().status, 404, "the last answer is returned as it is");
        assert!(slept >= Duration::from_secs(120) && slept < Duration::from_secs(130), "{slept:?}");
        assert!(tries > 10 && tries < 40, "{tries}");
        // The short budget gives up after about 10 s.
        let (_, _, slept) = run(
            Request::get("applications/x", Retry::ReplicationShort),
            std::iter::repeat_with(|| Ok(lag())).take(1000).collect(),
        )
        .await;
        assert!(slept >= Duration::from_secs(10) && slept < Duration::from_secs(20), "{slept:?}");
    }

    #[tokio::test]
    async fn a_lost_connection_repeats_a_read_but_never_a_create() {
        let lost = || Err(NoAnswer { timed_out: false });
        let (r, tries, _) = run(Request::get("organization", Retry::ThrottleOnly), vec![lost(), lost()]).await;
        assert!(r.unwrap().ok());
        assert_eq!(tries, 3);
        let (r, tries, _) = run(Request::post("applications", json!({}), Retry::Idempotent), vec![lost()]).await;
        let e = r.unwrap_err();
        assert_eq!((e.code, tries), (ErrorCode::ConnectionFailed, 1));
        assert!(e.message.contains("POST applications failed"), "{}", e.message);
    }

    #[tokio::test]
    async fn a_cancelled_operation_stops_at_the_next_wait() {
        let clock = Arc::new(ManualClock::new());
        let ctx = ctx_on(clock);
        let cancel = ctx.cancellation();
        let tries = AtomicU32::new(0);
        let request = Request::get("applications", Retry::Idempotent);
        let r = with_retries(&RetryPolicy::default(), &ctx, &request, || {
            tries.fetch_add(1, Ordering::SeqCst);
            cancel.store(true, Ordering::SeqCst);
            async { Ok(answer(429, Some(1.0), Value::Null)) }
        })
        .await;
        assert_eq!(r.unwrap_err().code, ErrorCode::Cancelled);
        assert_eq!(tries.load(Ordering::SeqCst), 1);
    }

    /// A connection that holds a token Kodo was given (no network needed to build it).
    fn connection() -> Connection {
        let claims =
            crate::crypto::b64url(br#"{"aud":"https://graph.microsoft.com","tid":"t","appid":"6f1f0f8e-0000-4000-8000-0000000000aa","exp":4102444800}"#);
        let token = format!("{}.{claims}.{}", crate::crypto::b64url(br#"{"alg":"none"}"#), crate::crypto::b64url(b"s"));
        let env = crate::auth::Environment::builtin("Global").unwrap();
        let spec = crate::auth::CredentialSpec::AccessToken { token: crate::auth::Secret::new(token) };
        Connection::new(None, env, spec).unwrap()
    }

    #[test]
    fn paths_and_next_links_stay_on_graph() {
        let conn = connection();
        let ctx = OpContext::detached();
        let graph = Graph::new(&conn, &ctx);
        assert_eq!(graph.url("applications?$top=5").unwrap(), "https://graph.microsoft.com/v1.0/applications?$top=5");
        assert_eq!(graph.url("/organization").unwrap(), "https://graph.microsoft.com/v1.0/organization");
        let next = "https://graph.microsoft.com/v1.0/applications?$top=5&$skiptoken=RFNwdAIAAQAAAD8";
        assert_eq!(graph.url(next).unwrap(), next);
        // A link elsewhere is never followed: the token would go with it.
        for elsewhere in [
            "https://graph.microsoft.com.evil.example/v1.0/x",
            "https://evil.example/v1.0/applications",
            "http://graph.microsoft.com/v1.0/x",
        ] {
            let e = graph.url(elsewhere).unwrap_err();
            assert_eq!(e.code, ErrorCode::ServiceError, "{elsewhere}");
        }
    }

    #[test]
    fn errors_carry_the_request_ids_and_say_what_to_do() {
        let r = answer(
            403,
            None,
            json!({ "error": { "code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation." } }),
        );
        let e = graph_error("POST", "servicePrincipals/x/appRoleAssignedTo?y", &r);
        assert_eq!(e.code, ErrorCode::PermissionDenied);
        assert_eq!(e.target.as_deref(), Some("servicePrincipals/x/appRoleAssignedTo"));
        assert_eq!((e.request_id.as_deref(), e.client_request_id.as_deref()), (Some("r"), Some("c")));
        assert!(e.message.contains("[request-id: r, client-request-id: c]"), "{}", e.message);
    }
}
