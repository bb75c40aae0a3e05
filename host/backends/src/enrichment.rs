//! The enrichment broker: an `http` client in front of another that knows
//! the reputation providers (`http.enrichment.providers`). Requests under a
//! provider's URL spend from its token buckets (per minute and per day, the
//! free tiers by default); when they are empty the request is not sent and
//! the skill gets a 429 saying when to retry. A provider's successful JSON
//! answer to a GET is reused until its TTL ends; errors, rate-limit answers,
//! cut or malformed bodies never are. A provider answering 429 itself is
//! left alone for its `Retry-After`. Everything else passes through.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sc_core::CapabilityError;
use sc_core::config::{EnrichmentConfig, EnrichmentProvider};
use sc_core::http::{BrokerOutcome, Brokered, HostCheck, HttpBackend, Method, Request, Response};

/// The header that tells the skill what the broker did.
pub const BROKER_HEADER: &str = "x-securityclaw-enrichment";

/// A bucket of `capacity` tokens refilled evenly over `period`.
#[derive(Debug, Clone)]
struct TokenBucket {
    capacity: f64,
    tokens: f64,
    per_sec: f64,
    at: Instant,
}

impl TokenBucket {
    fn new(capacity: u32, period: Duration, now: Instant) -> Self {
        let capacity = f64::from(capacity);
        Self {
            capacity,
            tokens: capacity,
            per_sec: capacity / period.as_secs_f64(),
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        self.at = now;
    }

    /// Seconds until one token is there (0 when one is).
    fn wait_secs(&mut self, now: Instant) -> u64 {
        self.refill(now);
        if self.tokens >= 1.0 {
            return 0;
        }
        if self.per_sec <= 0.0 {
            return u64::MAX;
        }
        ((1.0 - self.tokens) / self.per_sec).ceil() as u64
    }

    fn take(&mut self) {
        self.tokens -= 1.0;
    }
}

/// One provider's limits and state.
#[derive(Debug)]
struct ProviderState {
    name: String,
    url: String,
    minute: TokenBucket,
    day: TokenBucket,
    /// Set when the provider itself answered 429.
    cooling_until: Option<Instant>,
}

impl ProviderState {
    fn new(name: &str, provider: &EnrichmentProvider, now: Instant) -> Self {
        Self {
            name: name.to_owned(),
            // A prefix ending in `/`, so `https://api.example` never
            // claims `https://api.example.evil/`.
            url: if provider.url.ends_with('/') {
                provider.url.clone()
            } else {
                format!("{}/", provider.url)
            },
            minute: TokenBucket::new(provider.per_minute, Duration::from_secs(60), now),
            day: TokenBucket::new(provider.per_day, Duration::from_secs(86_400), now),
            cooling_until: None,
        }
    }

    /// Spends a token, or says how long to wait for one.
    fn admit(&mut self, now: Instant) -> Result<(), u64> {
        if let Some(until) = self.cooling_until {
            if until > now {
                return Err(until.duration_since(now).as_secs().max(1));
            }
            self.cooling_until = None;
        }
        let wait = self.minute.wait_secs(now).max(self.day.wait_secs(now));
        if wait > 0 {
            return Err(wait);
        }
        self.minute.take();
        self.day.take();
        Ok(())
    }
}

struct CachedAnswer {
    at: Instant,
    response: Response,
}

/// The broker.
pub struct EnrichmentBroker<B> {
    inner: B,
    ttl: Duration,
    max_entries: usize,
    providers: Mutex<Vec<ProviderState>>,
    cache: Mutex<HashMap<String, CachedAnswer>>,
}

impl<B: HttpBackend> EnrichmentBroker<B> {
    /// A broker for `config`'s providers in front of `inner`.
    pub fn new(inner: B, config: &EnrichmentConfig) -> Self {
        let now = Instant::now();
        let mut providers: Vec<ProviderState> = config
            .providers
            .iter()
            .map(|(name, p)| ProviderState::new(name, p, now))
            .collect();
        // The longest prefix wins when one provider's URL nests in another's.
        providers.sort_by_key(|p| std::cmp::Reverse(p.url.len()));
        Self {
            inner,
            ttl: Duration::from_secs(config.cache_ttl_secs),
            max_entries: config.cache_entries,
            providers: Mutex::new(providers),
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn index_of(providers: &[ProviderState], url: &str) -> Option<usize> {
        providers.iter().position(|p| url.starts_with(&p.url))
    }

    async fn send_at(
        &self,
        request: Request,
        allowed: &HostCheck,
        now: Instant,
    ) -> Result<Response, CapabilityError> {
        let provider = {
            let providers = lock(&self.providers);
            Self::index_of(&providers, &request.url).map(|i| (i, providers[i].name.clone()))
        };
        let Some((index, name)) = provider else {
            return self.inner.send(request, allowed).await;
        };
        let key = (request.method == Method::Get).then(|| request.url.clone());
        if let Some(key) = &key
            && let Some(cached) = self.cached(key, now)
        {
            return Ok(cached.into_response(&name));
        }
        if let Err(retry_after_secs) = lock(&self.providers)[index].admit(now) {
            return Ok(rate_limited(&name, retry_after_secs));
        }
        let response = self.inner.send(request, allowed).await?;
        if response.status == 429 {
            let wait = retry_after(&response).unwrap_or(60);
            lock(&self.providers)[index].cooling_until = Some(now + Duration::from_secs(wait));
        }
        if let Some(key) = key
            && worth_keeping(&response)
        {
            self.keep(key, response.clone(), now);
        }
        Ok(response.with_broker(&name, BrokerOutcome::Sent))
    }

    fn cached(&self, key: &str, now: Instant) -> Option<CachedResponse> {
        let cache = lock(&self.cache);
        let entry = cache.get(key)?;
        let age = now.saturating_duration_since(entry.at);
        (age < self.ttl).then(|| CachedResponse {
            response: entry.response.clone(),
            age,
        })
    }

    fn keep(&self, key: String, response: Response, now: Instant) {
        if self.max_entries == 0 || self.ttl.is_zero() {
            return;
        }
        let mut cache = lock(&self.cache);
        if cache.len() >= self.max_entries {
            let ttl = self.ttl;
            cache.retain(|_, c| now.saturating_duration_since(c.at) < ttl);
        }
        while cache.len() >= self.max_entries {
            let Some(oldest) = cache
                .iter()
                .min_by_key(|(_, c)| c.at)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            cache.remove(&oldest);
        }
        cache.insert(key, CachedAnswer { at: now, response });
    }
}

struct CachedResponse {
    response: Response,
    age: Duration,
}

impl CachedResponse {
    /// The kept answer, with its age (as a shared cache's `Age` header).
    fn into_response(self, provider: &str) -> Response {
        let age_secs = self.age.as_secs();
        let mut response = self
            .response
            .with_broker(provider, BrokerOutcome::Cached { age_secs });
        response
            .headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case("age"));
        response
            .headers
            .push(("age".to_owned(), age_secs.to_string()));
        response
    }
}

trait WithBroker {
    fn with_broker(self, provider: &str, outcome: BrokerOutcome) -> Response;
}

impl WithBroker for Response {
    fn with_broker(mut self, provider: &str, outcome: BrokerOutcome) -> Response {
        self.headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case(BROKER_HEADER));
        self.headers
            .push((BROKER_HEADER.to_owned(), outcome.as_str().to_owned()));
        self.brokered = Some(Brokered {
            provider: provider.to_owned(),
            outcome,
        });
        self
    }
}

/// Only a whole, successful JSON answer is a result worth reusing.
fn worth_keeping(response: &Response) -> bool {
    (200..300).contains(&response.status)
        && !response.truncated
        && serde_json::from_slice::<serde::de::IgnoredAny>(&response.body).is_ok()
}

/// `Retry-After` in seconds (the date form is not used by these APIs).
fn retry_after(response: &Response) -> Option<u64> {
    response
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("retry-after"))
        .and_then(|(_, value)| value.trim().parse().ok())
}

/// The answer to a request the broker held back.
fn rate_limited(provider: &str, retry_after_secs: u64) -> Response {
    let body = serde_json::json!({
        "error": format!(
            "the enrichment broker held this request back: `{provider}` is out of quota for now (http.enrichment.providers.{provider}); retry in {retry_after_secs} s"
        ),
        "retry_after_secs": retry_after_secs,
    });
    Response {
        status: 429,
        headers: vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("retry-after".to_owned(), retry_after_secs.to_string()),
        ],
        body: body.to_string().into_bytes(),
        truncated: false,
        brokered: None,
    }
    .with_broker(provider, BrokerOutcome::RateLimited { retry_after_secs })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[async_trait::async_trait]
impl<B: HttpBackend> HttpBackend for EnrichmentBroker<B> {
    async fn send(
        &self,
        request: Request,
        allowed: &HostCheck,
    ) -> Result<Response, CapabilityError> {
        self.send_at(request, allowed, Instant::now()).await
    }

    fn provider_of(&self, url: &str) -> Option<String> {
        let providers = lock(&self.providers);
        Self::index_of(&providers, url).map(|i| providers[i].name.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Answers with a scripted status and body, counting what reached it.
    struct Scripted {
        sent: AtomicUsize,
        answer: fn(usize) -> (u16, &'static str),
    }

    #[async_trait::async_trait]
    impl HttpBackend for Scripted {
        async fn send(&self, _: Request, _: &HostCheck) -> Result<Response, CapabilityError> {
            let n = self.sent.fetch_add(1, Ordering::SeqCst);
            let (status, body) = (self.answer)(n);
            Ok(Response {
                status,
                headers: vec![("retry-after".to_owned(), "30".to_owned())],
                body: body.as_bytes().to_vec(),
                truncated: false,
                brokered: None,
            })
        }
    }

    fn broker(
        per_minute: u32,
        answer: fn(usize) -> (u16, &'static str),
    ) -> EnrichmentBroker<Scripted> {
        let config = EnrichmentConfig {
            cache_ttl_secs: 3600,
            cache_entries: 2,
            providers: BTreeMap::from([(
                "vt".to_owned(),
                EnrichmentProvider {
                    url: "https://vt.example/api/".to_owned(),
                    per_minute,
                    per_day: 500,
                },
            )]),
        };
        EnrichmentBroker::new(
            Scripted {
                sent: AtomicUsize::new(0),
                answer,
            },
            &config,
        )
    }

    fn get(url: &str) -> Request {
        Request {
            method: Method::Get,
            url: url.to_owned(),
            headers: Vec::new(),
            body: None,
            timeout_ms: None,
        }
    }

    fn run<T>(future: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(future)
    }

    const ANY: &HostCheck = &|_: &str| true;

    #[test]
    fn a_spent_minute_quota_holds_requests_back_until_it_refills() {
        let b = broker(2, |_| (200, "{}"));
        let t0 = Instant::now();
        run(async {
            for ip in ["1.1.1.1", "2.2.2.2"] {
                let r = b
                    .send_at(get(&format!("https://vt.example/api/ip/{ip}")), ANY, t0)
                    .await
                    .expect("sent");
                assert_eq!(r.brokered.map(|b| b.outcome), Some(BrokerOutcome::Sent));
            }
            let held = b
                .send_at(get("https://vt.example/api/ip/3.3.3.3"), ANY, t0)
                .await
                .expect("answer");
            assert_eq!(held.status, 429);
            assert_eq!(
                held.brokered.map(|b| b.outcome),
                Some(BrokerOutcome::RateLimited {
                    retry_after_secs: 30
                })
            );
            assert!(String::from_utf8_lossy(&held.body).contains("http.enrichment.providers.vt"));
            let later = b
                .send_at(
                    get("https://vt.example/api/ip/3.3.3.3"),
                    ANY,
                    t0 + Duration::from_secs(30),
                )
                .await
                .expect("sent");
            assert_eq!(later.status, 200);
        });
        assert_eq!(b.inner.sent.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn answers_are_reused_until_their_ttl_and_errors_never_are() {
        // 500, then a malformed 200, then a good one.
        let b = broker(100, |n| match n {
            0 => (500, "{}"),
            1 => (200, "<html>"),
            _ => (200, r#"{"data": 1}"#),
        });
        let url = "https://vt.example/api/ip/1.1.1.1";
        let t0 = Instant::now();
        run(async {
            for _ in 0..3 {
                let r = b.send_at(get(url), ANY, t0).await.expect("sent");
                assert_eq!(r.brokered.expect("brokered").outcome, BrokerOutcome::Sent);
            }
            let again = b
                .send_at(get(url), ANY, t0 + Duration::from_secs(10))
                .await
                .expect("cached");
            assert_eq!(
                again.brokered.expect("brokered").outcome,
                BrokerOutcome::Cached { age_secs: 10 }
            );
            assert_eq!(again.body, br#"{"data": 1}"#);
            let stale = b
                .send_at(get(url), ANY, t0 + Duration::from_secs(3600))
                .await
                .expect("sent");
            assert_eq!(
                stale.brokered.expect("brokered").outcome,
                BrokerOutcome::Sent
            );
        });
        assert_eq!(b.inner.sent.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn a_provider_answering_429_is_left_alone_for_its_retry_after() {
        let b = broker(100, |n| if n == 0 { (429, "{}") } else { (200, "{}") });
        let t0 = Instant::now();
        run(async {
            let first = b
                .send_at(get("https://vt.example/api/ip/1.1.1.1"), ANY, t0)
                .await
                .expect("sent");
            assert_eq!(first.status, 429);
            assert_eq!(first.brokered.expect("b").outcome, BrokerOutcome::Sent);
            let held = b
                .send_at(
                    get("https://vt.example/api/ip/2.2.2.2"),
                    ANY,
                    t0 + Duration::from_secs(5),
                )
                .await
                .expect("held");
            assert_eq!(
                held.brokered.expect("b").outcome,
                BrokerOutcome::RateLimited {
                    retry_after_secs: 25
                }
            );
            let after = b
                .send_at(
                    get("https://vt.example/api/ip/2.2.2.2"),
                    ANY,
                    t0 + Duration::from_secs(31),
                )
                .await
                .expect("sent");
            assert_eq!(after.status, 200);
        });
    }

    #[test]
    fn other_urls_pass_through_untouched() {
        let b = broker(0, |_| (200, "{}"));
        run(async {
            let r = b
                .send_at(
                    get("https://example.org/vt.example/api/"),
                    ANY,
                    Instant::now(),
                )
                .await
                .expect("sent");
            assert!(r.brokered.is_none());
            assert!(r.headers.iter().all(|(n, _)| n != BROKER_HEADER));
        });
        assert_eq!(
            b.provider_of("https://vt.example/api/x").as_deref(),
            Some("vt")
        );
        assert_eq!(b.provider_of("https://vt.example.evil/api/x"), None);
    }

    #[test]
    fn the_cache_keeps_at_most_its_entries() {
        let b = broker(100, |_| (200, "{}"));
        let t0 = Instant::now();
        run(async {
            for (i, ip) in ["1.1.1.1", "2.2.2.2", "3.3.3.3"].into_iter().enumerate() {
                b.send_at(
                    get(&format!("https://vt.example/api/ip/{ip}")),
                    ANY,
                    t0 + Duration::from_secs(i as u64),
                )
                .await
                .expect("sent");
            }
        });
        let cache = lock(&b.cache);
        assert_eq!(cache.len(), 2);
        assert!(
            !cache.contains_key("https://vt.example/api/ip/1.1.1.1"),
            "the oldest went first"
        );
    }
}
