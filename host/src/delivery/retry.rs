//! When to try a failed delivery again: the destination's policy as data, and a classifier
//! that turns one attempt's result into a decision with its reason.
//!
//! 2xx is success. 410 Gone stops at once (the receiver said the endpoint is gone). Anything
//! else — timeouts, connection errors, 5xx, 429, other 4xx — is retried with exponential
//! backoff and ±20% jitter, up to `max_attempts`, then dead-lettered. A `Retry-After` on 429
//! or 503 replaces the computed delay (capped at the policy's maximum). Pure functions only.

use crate::config::model::RetryPolicy;
use crate::queue::DeliveryOutcome;
use std::time::Duration;

/// The result of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The destination answered with this status.
    Answered { status: u16, retry_after: Option<Duration> },
    /// A broker acknowledged the message.
    Published,
    /// No answer: refused connection, TLS failure, a broken broker connection…
    NoAnswer(String),
    /// No answer within the destination's `timeout_ms`.
    TimedOut(String),
    /// A broker answered and refused this message (no stream for the subject, unroutable, a
    /// nack): retried, but it says nothing about whether the destination is up.
    Refused(String),
    /// The delivery can never be sent as it is (its broker name is invalid): not retried.
    Unsendable(String),
}

impl Attempt {
    /// The destination's HTTP status, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Attempt::Answered { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Decides what happens after `attempts` attempts (this one included) ended in `result`.
/// `url` names the destination in errors (without its password).
pub fn decide(policy: &RetryPolicy, attempts: u32, result: &Attempt, url: &dyn std::fmt::Display) -> DeliveryOutcome {
    let (error, retry_after) = match result {
        Attempt::Answered { status, .. } if (200..300).contains(status) => return DeliveryOutcome::Delivered,
        Attempt::Published => return DeliveryOutcome::Delivered,
        Attempt::Unsendable(why) => return DeliveryOutcome::Dead { error: format!("{why}: not retried") },
        Attempt::Answered { status: 410, .. } => {
            return DeliveryOutcome::Dead { error: format!("{url} answered 410 Gone: not retried") };
        }
        Attempt::Answered { status, retry_after } => (format!("{url} answered {status}"), *retry_after),
        Attempt::NoAnswer(why) | Attempt::TimedOut(why) | Attempt::Refused(why) => (why.clone(), None),
    };
    if attempts >= policy.max_attempts {
        return DeliveryOutcome::Dead { error: format!("{error} (gave up after {attempts} attempts)") };
    }
    let retry_in = match retry_after {
        Some(asked) => asked.min(policy.max),
        None => policy.backoff(attempts, rand::random::<f64>()),
    };
    DeliveryOutcome::Retry { retry_in, error }
}

/// Parses `Retry-After`: delay-seconds, or an HTTP date (relative to `now_unix`).
pub fn parse_retry_after(value: &str, now_unix: u64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let at = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now_unix)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy { max_attempts: 5, first: Duration::from_secs(5), max: Duration::from_secs(60) }
    }

    #[test]
    fn backoff_doubles_up_to_the_ceiling() {
        let p = policy();
        assert_eq!(p.backoff(1, 0.5), Duration::from_secs(5));
        assert_eq!(p.backoff(2, 0.5), Duration::from_secs(10));
        assert_eq!(p.backoff(4, 0.5), Duration::from_secs(40));
        assert_eq!(p.backoff(9, 0.5), Duration::from_secs(60));
        assert_eq!(p.backoff(1000, 1.0), Duration::from_secs(60), "never past the ceiling, even with jitter");
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let p = policy();
        assert_eq!(p.backoff(1, 0.0), Duration::from_secs(4));
        assert_eq!(p.backoff(1, 1.0), Duration::from_secs(6));
    }

    #[test]
    fn success_gone_and_exhaustion_are_final() {
        let p = policy();
        let ok = Attempt::Answered { status: 204, retry_after: None };
        assert!(matches!(decide(&p, 1, &ok, &"u"), DeliveryOutcome::Delivered));
        let gone = Attempt::Answered { status: 410, retry_after: None };
        assert!(matches!(decide(&p, 1, &gone, &"u"), DeliveryOutcome::Dead { .. }));
        let down = Attempt::NoAnswer("connection refused".into());
        assert!(matches!(decide(&p, 4, &down, &"u"), DeliveryOutcome::Retry { .. }));
        assert!(matches!(decide(&p, 5, &down, &"u"), DeliveryOutcome::Dead { .. }));
    }

    #[test]
    fn retry_after_is_honoured_but_capped() {
        let p = policy();
        let busy = Attempt::Answered { status: 503, retry_after: Some(Duration::from_secs(7)) };
        assert!(
            matches!(decide(&p, 1, &busy, &"u"), DeliveryOutcome::Retry { retry_in, .. } if retry_in == Duration::from_secs(7))
        );
        let slow = Attempt::Answered { status: 429, retry_after: Some(Duration::from_secs(3600)) };
        assert!(
            matches!(decide(&p, 1, &slow, &"u"), DeliveryOutcome::Retry { retry_in, .. } if retry_in == Duration::from_secs(60))
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after("120", 0), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Thu, 01 Jan 1970 00:01:40 GMT", 40), Some(Duration::from_secs(60)));
        assert_eq!(parse_retry_after("soon", 0), None);
    }
}
