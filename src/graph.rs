//! Microsoft Graph client: retries (Retry-After first, capped jittered backoff, a time budget),
//! replication-lag retries for the specific errors Graph's replication delay produces, JSON
//! `$batch` in chunks of 20, and Graph errors turned into Kodo errors.
//!
//! What is retried (facts.md §3.12): 429 and 503/504 with Retry-After on every request (a
//! throttled request was not executed); the replication codes only where the caller says the
//! request is safe to repeat; transport failures only for GET. A POST that may have created
//! something is never repeated: a re-run finds what it made (by appId or Kodo's tag).

use crate::auth::Connection;
use crate::engine::OpContext;
use crate::error::{ErrorCode, KodoError};
use rand::Rng;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A Graph response (also a `$batch` item).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<f64>,
}

impl Response {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
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
    fn throttled(&self) -> bool {
        self.status == 429 || ((self.status == 503 || self.status == 504) && self.retry_after.is_some())
    }
}

/// How one request may be retried.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Throttling only (a POST that could create twice).
    ThrottleOnly,
    /// Throttling and replication lag (reads, and writes that fail without effect on lag).
    Replication,
    /// Like `Replication`, and 5xx answers are retried too: for requests that are safe to
    /// repeat (GET, PATCH, and creates whose repeat fails with a conflict Kodo recognises).
    Idempotent,
    /// Like `Replication`, but gives up on lag after [`SHORT_BUDGET`]: for objects the user
    /// named, which are more likely absent than not replicated yet.
    ReplicationShort,
}

/// Lag budget of [`Retry::ReplicationShort`].
pub const SHORT_BUDGET: Duration = Duration::from_secs(10);

/// Time budget of one request's retries.
pub const BUDGET: Duration = Duration::from_secs(120);

pub struct Graph<'a> {
    pub conn: &'a Connection,
    pub ctx: &'a OpContext,
    /// Round trips made (for reports and benchmarks).
    pub round_trips: std::sync::atomic::AtomicU64,
}

fn backoff(attempt: u32, retry_after: Option<f64>) -> Duration {
    if let Some(s) = retry_after {
        return Duration::from_secs_f64(s.clamp(0.0, 60.0));
    }
    // Capped exponential backoff with full jitter: 0.5 s, 1 s, 2 s ... at most 8 s.
    let cap = (500u64 << attempt.min(4)).min(8_000);
    Duration::from_millis(rand::rng().random_range(cap / 2..=cap))
}

impl<'a> Graph<'a> {
    pub fn new(conn: &'a Connection, ctx: &'a OpContext) -> Self {
        Graph { conn, ctx, round_trips: std::sync::atomic::AtomicU64::new(0) }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1.0/{}", self.conn.env.graph, path.trim_start_matches('/'))
    }

    async fn send_once(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Response, reqwest::Error> {
        // A sign-in failure is reported by `send`, which asks for the token again to get the error.
        let Ok(token) = self.conn.token(self.ctx, &self.conn.env.graph).await else {
            return Ok(Response {
                status: 401,
                body: json!({ "error": { "code": "KodoSignIn", "message": "sign-in failed" } }),
                retry_after: None,
            });
        };
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut req = self.conn.http().request(method, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        self.round_trips.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let r = req.send().await?;
        let status = r.status().as_u16();
        let retry_after =
            r.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<f64>().ok());
        let text = r.text().await.unwrap_or_default();
        Ok(Response { status, body: serde_json::from_str(&text).unwrap_or(Value::Null), retry_after })
    }

    /// Sends one request with the retry policy of `retry`.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        retry: Retry,
    ) -> Result<Response, KodoError> {
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            let result = self.send_once(method, path, body).await;
            let response = match result {
                Ok(r) => r,
                Err(e) => {
                    if (method == "GET" || retry == Retry::Idempotent && method == "PATCH")
                        && started.elapsed() < BUDGET
                        && attempt < 6
                    {
                        attempt += 1;
                        tokio::time::sleep(backoff(attempt, None)).await;
                        continue;
                    }
                    let kind = if e.is_timeout() { "timed out" } else { "failed" };
                    return Err(KodoError::new(
                        ErrorCode::ConnectionFailed,
                        format!(
                            "{method} {path} {kind}: the connection to Microsoft Graph was lost. Run the command again: it continues where it stopped."
                        ),
                    ));
                }
            };
            if response.status == 401 && response.code() == "KodoSignIn" {
                // Re-acquire to get the real sign-in error.
                return Err(self
                    .conn
                    .token(self.ctx, &self.conn.env.graph)
                    .await
                    .err()
                    .unwrap_or_else(|| KodoError::new(ErrorCode::AuthenticationFailed, "Sign-in failed.")));
            }
            let lag_budget = if retry == Retry::ReplicationShort { SHORT_BUDGET } else { BUDGET };
            let lagging =
                retry != Retry::ThrottleOnly && response.is_replication_lag() && started.elapsed() < lag_budget;
            let server_error = retry == Retry::Idempotent && matches!(response.status, 500 | 502 | 503 | 504);
            let retryable = response.throttled() || lagging || server_error;
            if retryable && started.elapsed() < BUDGET {
                attempt += 1;
                let wait = backoff(attempt, response.retry_after);
                let why = if response.throttled() {
                    format!("throttled ({}), retrying in {:.1} s", response.status, wait.as_secs_f64())
                } else {
                    format!("not replicated yet ({}), retrying in {:.1} s", response.code(), wait.as_secs_f64())
                };
                self.ctx.log(crate::protocol::LogLevel::Verbose, format!("{method} {path}: {why}"));
                tokio::time::sleep(wait).await;
                continue;
            }
            return Ok(response);
        }
    }

    /// Sends and fails on a non-2xx answer.
    pub async fn call(&self, method: &str, path: &str, body: Option<&Value>, retry: Retry) -> Result<Value, KodoError> {
        let r = self.send(method, path, body, retry).await?;
        if r.ok() { Ok(r.body) } else { Err(graph_error(method, path, &r)) }
    }

    /// Runs requests through `$batch`, 20 at a time, retrying throttled (and, for
    /// `Retry::Replication` items, lagging) items individually until the budget runs out.
    /// Returns one response per request, in order.
    pub async fn batch(&self, requests: &[(String, String, Option<Value>, Retry)]) -> Result<Vec<Response>, KodoError> {
        let mut results: Vec<Option<Response>> = vec![None; requests.len()];
        let started = Instant::now();
        let mut pending: Vec<usize> = (0..requests.len()).collect();
        let mut attempt = 0u32;
        while !pending.is_empty() {
            let mut next = Vec::new();
            let mut wait: Option<f64> = None;
            // Chunks of 20 go out together: a round trip's latency is paid once per round.
            let chunks: Vec<&[usize]> = pending.chunks(20).collect();
            let answers =
                futures_util::future::join_all(chunks.iter().map(|chunk| self.send_chunk(requests, chunk))).await;
            for answer in answers {
                for (i, r, settled) in answer? {
                    if settled {
                        results[i] = Some(r);
                        continue;
                    }
                    let lag_budget = if requests[i].3 == Retry::ReplicationShort { SHORT_BUDGET } else { BUDGET };
                    let server_error = requests[i].3 == Retry::Idempotent && matches!(r.status, 500 | 502 | 503 | 504);
                    let retry = r.throttled()
                        || server_error
                        || (requests[i].3 != Retry::ThrottleOnly
                            && r.is_replication_lag()
                            && started.elapsed() < lag_budget);
                    if retry && started.elapsed() < BUDGET {
                        wait = Some(wait.unwrap_or(0.0).max(r.retry_after.unwrap_or(0.0)));
                        next.push(i);
                    } else {
                        results[i] = Some(r);
                    }
                }
            }
            if !next.is_empty() {
                attempt += 1;
                let d = backoff(attempt, wait.filter(|w| *w > 0.0));
                self.ctx.log(
                    crate::protocol::LogLevel::Verbose,
                    format!(
                        "$batch: {} request(s) throttled or not replicated yet, retrying in {:.1} s",
                        next.len(),
                        d.as_secs_f64()
                    ),
                );
                tokio::time::sleep(d).await;
            }
            pending = next;
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or(Response { status: 500, body: Value::Null, retry_after: None }))
            .collect())
    }

    /// One `$batch` round trip for up to 20 of `requests` (a lone request goes out as itself,
    /// with `send`'s own retries: its answer is settled). Returns (index, answer, settled).
    async fn send_chunk(
        &self,
        requests: &[(String, String, Option<Value>, Retry)],
        chunk: &[usize],
    ) -> Result<Vec<(usize, Response, bool)>, KodoError> {
        if chunk.len() == 1 {
            let i = chunk[0];
            let (m, p, b, r) = &requests[i];
            return Ok(vec![(i, self.send(m, p, b.as_ref(), *r).await?, true)]);
        }
        let items: Vec<Value> = chunk
            .iter()
            .map(|&i| {
                let (m, p, b, _) = &requests[i];
                let mut item =
                    json!({ "id": i.to_string(), "method": m, "url": format!("/{}", p.trim_start_matches('/')) });
                if let Some(b) = b {
                    item["body"] = b.clone();
                    item["headers"] = json!({ "Content-Type": "application/json" });
                }
                item
            })
            .collect();
        let mut outer = self.send("POST", "$batch", Some(&json!({ "requests": items })), Retry::ThrottleOnly).await?;
        if !outer.ok() {
            return Err(graph_error("POST", "$batch", &outer));
        }
        let mut answers = Vec::new();
        // Taken, not copied: a resource API's service principal (Microsoft Graph's has 716 app
        // roles) is large.
        let Value::Array(responses) = outer.body["responses"].take() else { return Ok(answers) };
        for mut item in responses {
            let Some(i) = item["id"].as_str().and_then(|s| s.parse::<usize>().ok()).filter(|i| chunk.contains(i))
            else {
                continue;
            };
            let retry_after = item["headers"]
                .as_object()
                .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case("retry-after")))
                .and_then(|(_, v)| v.as_str().and_then(|s| s.parse::<f64>().ok()).or_else(|| v.as_f64()));
            answers.push((
                i,
                Response {
                    status: item["status"].as_u64().unwrap_or(500) as u16,
                    body: item["body"].take(),
                    retry_after,
                },
                false,
            ));
        }
        Ok(answers)
    }
}

/// A Graph error as a Kodo error that says what to do.
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
}
