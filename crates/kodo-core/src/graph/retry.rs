//! The retry policy, as a pure function: what one try produced (an answer, or no answer) ->
//! retry after how long, or stop. The loop that applies it reads the time and sleeps through
//! the operation's clock (`context::Clock`), so every rule is tested without waiting.
//!
//! Rules (facts.md §3.12; azure_core / smithy-rs style: Retry-After first, else capped
//! exponential backoff with full jitter, inside a time budget):
//! - 429, and 503/504 carrying Retry-After: always retried (a throttled request was not
//!   executed), waiting what Retry-After says (at most 60 s).
//! - Graph's replication-lag answers for a just-created object (404 Request_ResourceNotFound,
//!   400 NoBackingApplicationObject, 400 "Not a valid reference update"): retried only where the
//!   caller says a repeat is safe, within the lag budget of the request's mode.
//! - 500/502/503/504 without Retry-After: only for idempotent requests.
//! - No answer at all (connection lost, timed out): only GET, and PATCH of an idempotent request,
//!   at most 6 times. A POST that may have created something is never repeated: a re-run finds
//!   what it made (by appId or Kodo's tag).

use std::time::Duration;

/// How one request may be retried: the caller's statement of what a repeat would do. A GET
/// is safe to repeat whatever its mode: its 5xx answers are retried as `Idempotent` ones are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Throttling only (a POST that could create twice).
    ThrottleOnly,
    /// Throttling and replication lag (reads, and writes that fail without effect on lag).
    Replication,
    /// Like `Replication`, and 5xx answers are retried too: for requests that are safe to
    /// repeat (GET, PATCH, and creates whose repeat fails with a conflict Kodo recognises).
    Idempotent,
    /// Like `Replication`, but gives up on lag after the short budget: for objects the user
    /// named, which are more likely absent than not replicated yet.
    ReplicationShort,
}

/// What one try produced, as far as the policy cares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// An HTTP answer: its status, whether it is one of the replication-lag errors, and its
    /// Retry-After in seconds if any.
    Answer { status: u16, replication_lag: bool, retry_after: Option<f64> },
    /// No answer: the connection failed or timed out.
    NoAnswer,
}

/// Why a try is repeated (for the log line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    Throttled,
    ReplicationLag,
    ServerError,
    NoAnswer,
}

/// The policy's answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    RetryAfter(Duration, Why),
    Stop,
}

/// The numbers of the policy. `Default` is what Kodo uses.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// No retry starts after this much time since the first try.
    pub budget: Duration,
    /// Replication lag is waited out this long for [`Retry::ReplicationShort`].
    pub short_lag_budget: Duration,
    /// Retries after no answer at all.
    pub max_no_answer_retries: u32,
    /// Retries after a server error (500, 502, 503 or 504 without Retry-After, for requests safe
    /// to repeat): an outage is reported in seconds, not after the whole budget (a nightly audit
    /// of a fleet during an Exchange incident would otherwise wait two minutes per read).
    pub max_server_error_retries: u32,
    /// Longest Retry-After honoured.
    pub max_retry_after: Duration,
    /// First backoff step and its cap.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            budget: Duration::from_secs(120),
            short_lag_budget: Duration::from_secs(10),
            max_no_answer_retries: 6,
            // Microsoft Graph's own SDKs retry a request 3 times by default (RetryHandlerOption.
            // MaxRetry, learn.microsoft.com/dotnet/api/microsoft.graph.retryhandleroption); Kodo
            // once more: 4 backoffs, at most 7.5 s in all.
            max_server_error_retries: 4,
            max_retry_after: Duration::from_secs(60),
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// Decides after try number `tries` (1 for the first) of `method` with `mode`, `elapsed`
    /// since the first try. `jitter` in 0..=1 picks the wait inside the backoff window (the
    /// caller draws it at random; tests pass fixed values).
    pub fn decide(
        &self,
        method: &str,
        mode: Retry,
        outcome: Outcome,
        tries: u32,
        elapsed: Duration,
        jitter: f64,
    ) -> Decision {
        if elapsed >= self.budget {
            return Decision::Stop;
        }
        let why = match outcome {
            Outcome::NoAnswer => {
                let repeatable = method.eq_ignore_ascii_case("GET")
                    || (mode == Retry::Idempotent && method.eq_ignore_ascii_case("PATCH"));
                if !repeatable || tries > self.max_no_answer_retries {
                    return Decision::Stop;
                }
                return Decision::RetryAfter(self.backoff(tries, jitter), Why::NoAnswer);
            }
            Outcome::Answer { status, replication_lag, retry_after } => {
                let throttled = status == 429 || (matches!(status, 503 | 504) && retry_after.is_some());
                let lag_budget = if mode == Retry::ReplicationShort { self.short_lag_budget } else { self.budget };
                if throttled {
                    if let Some(s) = retry_after {
                        let wait = Duration::from_secs_f64(s.clamp(0.0, self.max_retry_after.as_secs_f64()));
                        return Decision::RetryAfter(wait, Why::Throttled);
                    }
                    Why::Throttled
                } else if mode != Retry::ThrottleOnly && replication_lag && elapsed < lag_budget {
                    Why::ReplicationLag
                } else if (mode == Retry::Idempotent || method.eq_ignore_ascii_case("GET"))
                    && matches!(status, 500 | 502 | 503 | 504)
                {
                    if tries > self.max_server_error_retries {
                        return Decision::Stop;
                    }
                    Why::ServerError
                } else {
                    return Decision::Stop;
                }
            }
        };
        Decision::RetryAfter(self.backoff(tries, jitter), why)
    }

    /// Capped exponential backoff with full jitter: 0.5 s, 1 s, 2 s, 4 s, then 8 s, each drawn
    /// from the upper half of its window.
    pub fn backoff(&self, tries: u32, jitter: f64) -> Duration {
        let step = self.backoff_base.saturating_mul(1u32 << tries.saturating_sub(1).min(4)).min(self.backoff_cap);
        step / 2 + step.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, lag: bool, retry_after: Option<f64>) -> Outcome {
        Outcome::Answer { status, replication_lag: lag, retry_after }
    }
    const T0: Duration = Duration::ZERO;

    #[test]
    fn a_429_waits_what_retry_after_says_whatever_the_mode() {
        let p = RetryPolicy::default();
        for mode in [Retry::ThrottleOnly, Retry::Replication, Retry::Idempotent, Retry::ReplicationShort] {
            assert_eq!(
                p.decide("POST", mode, answer(429, false, Some(3.0)), 1, T0, 0.5),
                Decision::RetryAfter(Duration::from_secs(3), Why::Throttled)
            );
        }
        // Capped at 60 s.
        assert_eq!(
            p.decide("GET", Retry::ThrottleOnly, answer(429, false, Some(600.0)), 1, T0, 0.5),
            Decision::RetryAfter(Duration::from_secs(60), Why::Throttled)
        );
    }

    #[test]
    fn a_429_without_retry_after_backs_off_exponentially_with_jitter_and_a_cap() {
        let p = RetryPolicy::default();
        let wait =
            |tries, jitter| match p.decide("GET", Retry::ThrottleOnly, answer(429, false, None), tries, T0, jitter) {
                Decision::RetryAfter(d, Why::Throttled) => d,
                other => panic!("{other:?}"),
            };
        assert_eq!(wait(1, 0.0), Duration::from_millis(250));
        assert_eq!(wait(1, 1.0), Duration::from_millis(500));
        assert_eq!(wait(2, 1.0), Duration::from_secs(1));
        assert_eq!(wait(3, 1.0), Duration::from_secs(2));
        assert_eq!(wait(4, 1.0), Duration::from_secs(4));
        assert_eq!(wait(5, 1.0), Duration::from_secs(8));
        assert_eq!(wait(30, 1.0), Duration::from_secs(8));
        assert_eq!(wait(30, 0.0), Duration::from_secs(4));
    }

    #[test]
    fn a_503_or_504_is_throttling_with_retry_after_and_a_server_error_without() {
        let p = RetryPolicy::default();
        for status in [503, 504] {
            assert_eq!(
                p.decide("POST", Retry::ThrottleOnly, answer(status, false, Some(2.0)), 1, T0, 0.0),
                Decision::RetryAfter(Duration::from_secs(2), Why::Throttled)
            );
            // Without Retry-After: only a request safe to repeat is repeated: an idempotent one,
            // and a read whatever its mode (a confirmation's read of the tags failed on one 503).
            assert_eq!(p.decide("POST", Retry::ThrottleOnly, answer(status, false, None), 1, T0, 0.0), Decision::Stop);
            assert_eq!(p.decide("POST", Retry::Replication, answer(status, false, None), 1, T0, 0.0), Decision::Stop);
            for mode in [Retry::ThrottleOnly, Retry::Replication, Retry::ReplicationShort] {
                assert!(matches!(
                    p.decide("GET", mode, answer(status, false, None), 1, T0, 0.0),
                    Decision::RetryAfter(_, Why::ServerError)
                ));
            }
            assert!(matches!(
                p.decide("PATCH", Retry::Idempotent, answer(status, false, None), 1, T0, 0.0),
                Decision::RetryAfter(_, Why::ServerError)
            ));
        }
        assert!(matches!(
            p.decide("GET", Retry::Idempotent, answer(500, false, None), 1, T0, 0.0),
            Decision::RetryAfter(_, Why::ServerError)
        ));
        assert_eq!(p.decide("GET", Retry::Idempotent, answer(501, false, None), 1, T0, 0.0), Decision::Stop);
    }

    #[test]
    fn replication_lag_is_waited_out_only_where_a_repeat_is_safe_and_within_its_budget() {
        let p = RetryPolicy::default();
        let lag = answer(404, true, None);
        assert_eq!(p.decide("POST", Retry::ThrottleOnly, lag, 1, T0, 0.0), Decision::Stop);
        for mode in [Retry::Replication, Retry::Idempotent, Retry::ReplicationShort] {
            assert!(matches!(p.decide("GET", mode, lag, 1, T0, 0.0), Decision::RetryAfter(_, Why::ReplicationLag)));
        }
        // The short budget: a named object that stays absent is absent.
        let after = Duration::from_secs(11);
        assert_eq!(p.decide("GET", Retry::ReplicationShort, lag, 5, after, 0.0), Decision::Stop);
        assert!(matches!(p.decide("GET", Retry::Replication, lag, 5, after, 0.0), Decision::RetryAfter(..)));
        // A plain 404 (not lag) is an answer.
        assert_eq!(p.decide("GET", Retry::Replication, answer(404, false, None), 1, T0, 0.0), Decision::Stop);
    }

    #[test]
    fn nothing_is_retried_once_the_budget_is_spent() {
        let p = RetryPolicy::default();
        let spent = Duration::from_secs(120);
        assert_eq!(p.decide("GET", Retry::Idempotent, answer(429, false, Some(1.0)), 3, spent, 0.0), Decision::Stop);
        assert_eq!(p.decide("GET", Retry::Idempotent, answer(404, true, None), 3, spent, 0.0), Decision::Stop);
        assert_eq!(p.decide("GET", Retry::Idempotent, Outcome::NoAnswer, 1, spent, 0.0), Decision::Stop);
    }

    #[test]
    fn no_answer_repeats_only_reads_and_idempotent_patches_a_bounded_number_of_times() {
        let p = RetryPolicy::default();
        assert!(matches!(
            p.decide("GET", Retry::ThrottleOnly, Outcome::NoAnswer, 1, T0, 0.0),
            Decision::RetryAfter(_, Why::NoAnswer)
        ));
        assert!(matches!(
            p.decide("PATCH", Retry::Idempotent, Outcome::NoAnswer, 1, T0, 0.0),
            Decision::RetryAfter(..)
        ));
        assert_eq!(p.decide("PATCH", Retry::Replication, Outcome::NoAnswer, 1, T0, 0.0), Decision::Stop);
        assert_eq!(p.decide("POST", Retry::Idempotent, Outcome::NoAnswer, 1, T0, 0.0), Decision::Stop);
        assert!(matches!(p.decide("GET", Retry::Idempotent, Outcome::NoAnswer, 6, T0, 0.0), Decision::RetryAfter(..)));
        assert_eq!(p.decide("GET", Retry::Idempotent, Outcome::NoAnswer, 7, T0, 0.0), Decision::Stop);
    }

    #[test]
    fn a_server_error_is_retried_four_times_then_reported_while_throttling_keeps_the_budget() {
        let p = RetryPolicy::default();
        let mut waited = Duration::ZERO;
        for tries in 1..=4 {
            match p.decide("GET", Retry::Idempotent, answer(500, false, None), tries, waited, 1.0) {
                Decision::RetryAfter(wait, Why::ServerError) => waited += wait,
                other => panic!("try {tries}: {other:?}"),
            }
        }
        assert_eq!(waited, Duration::from_millis(7500), "0.5 + 1 + 2 + 4 s at the most");
        assert_eq!(p.decide("GET", Retry::Idempotent, answer(502, false, None), 5, waited, 1.0), Decision::Stop);
        // A 503 with Retry-After is throttling: waited for as long as the budget lasts.
        assert!(matches!(
            p.decide("GET", Retry::Idempotent, answer(503, false, Some(1.0)), 20, waited, 1.0),
            Decision::RetryAfter(_, Why::Throttled)
        ));
    }

    #[test]
    fn success_and_ordinary_errors_stop() {
        let p = RetryPolicy::default();
        for status in [200, 201, 204, 400, 401, 403, 409] {
            assert_eq!(p.decide("GET", Retry::Idempotent, answer(status, false, None), 1, T0, 0.0), Decision::Stop);
        }
    }
}
