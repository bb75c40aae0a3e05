//! Per-client rate limits: a token bucket per client that refills at
//! `per_minute` tokens a minute and holds at most that many.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Buckets by client.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// A limiter allowing `per_minute` requests a minute per client.
    pub fn per_minute(per_minute: u32) -> Self {
        Self {
            per_minute: f64::from(per_minute.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `client` at `now`; false when the bucket is empty.
    pub fn allow_at(&self, client: &str, now: Instant) -> bool {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > 10_000 {
            // Forget idle clients rather than grow without bound.
            buckets.retain(|_, (_, seen)| now.duration_since(*seen).as_secs() < 120);
        }
        let (tokens, last) = buckets
            .entry(client.to_owned())
            .or_insert((self.per_minute, now));
        let refill = now.duration_since(*last).as_secs_f64() * self.per_minute / 60.0;
        *tokens = (*tokens + refill).min(self.per_minute);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Takes a token for `client` now.
    pub fn allow(&self, client: &str) -> bool {
        self.allow_at(client, Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_client_gets_its_burst_then_waits_for_refill() {
        let limiter = RateLimiter::per_minute(3);
        let t0 = Instant::now();
        assert!((0..3).all(|_| limiter.allow_at("a", t0)));
        assert!(!limiter.allow_at("a", t0));
        assert!(limiter.allow_at("b", t0), "clients are limited separately");
        assert!(
            limiter.allow_at("a", t0 + Duration::from_secs(20)),
            "one token per 20 s"
        );
        assert!(!limiter.allow_at("a", t0 + Duration::from_secs(21)));
    }
}
