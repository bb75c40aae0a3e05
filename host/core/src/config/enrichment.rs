//! `http.enrichment`: the reputation providers the enrichment broker stands
//! in front of, with the rate limits of their free tiers and how long an
//! answer is reused.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The enrichment broker: requests whose URL starts with a provider's
/// `url` are rate-limited per provider, answered from a cache while fresh,
/// and accounted per skill in the audit trail.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EnrichmentConfig {
    /// Seconds a provider's successful answer is reused (errors and
    /// rate-limit answers are never kept).
    pub cache_ttl_secs: u64,
    /// Answers kept at most; the oldest go first.
    pub cache_entries: usize,
    /// The providers by name. Setting this key replaces the defaults
    /// (AbuseIPDB, AlienVault OTX, VirusTotal), so list every one you use.
    pub providers: BTreeMap<String, EnrichmentProvider>,
}

/// One reputation provider.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EnrichmentProvider {
    /// The API's base URL; requests under it belong to this provider.
    pub url: String,
    /// Requests allowed per minute (a token bucket refilled continuously).
    pub per_minute: u32,
    /// Requests allowed per day.
    pub per_day: u32,
}

impl EnrichmentProvider {
    fn new(url: &str, per_minute: u32, per_day: u32) -> Self {
        Self {
            url: url.to_owned(),
            per_minute,
            per_day,
        }
    }
}

impl Default for EnrichmentConfig {
    fn default() -> Self {
        // The free tiers: VirusTotal's public API allows 4 lookups a minute
        // and 500 a day; AbuseIPDB's free plan 1,000 checks a day; OTX
        // publishes no hard figure, so a conservative one.
        let providers = BTreeMap::from([
            (
                "abuseipdb".to_owned(),
                EnrichmentProvider::new("https://api.abuseipdb.com/api/v2/", 30, 1_000),
            ),
            (
                "otx".to_owned(),
                EnrichmentProvider::new("https://otx.alienvault.com/api/v1/", 60, 10_000),
            ),
            (
                "virustotal".to_owned(),
                EnrichmentProvider::new("https://www.virustotal.com/api/v3/", 4, 500),
            ),
        ]);
        Self {
            cache_ttl_secs: 24 * 3600,
            cache_entries: 10_000,
            providers,
        }
    }
}
