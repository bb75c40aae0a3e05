//! Outbound HTTP behind the `http` capability, in plain Rust types.

use crate::error::CapabilityError;

/// An HTTP method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// HEAD
    Head,
    /// PATCH
    Patch,
    /// Any other method, by its (upper-case) name.
    Other(String),
}

impl Method {
    /// The method's name on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
            Self::Head => "HEAD",
            Self::Patch => "PATCH",
            Self::Other(name) => name,
        }
    }
}

/// A request whose host the grants allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// An absolute `https://` or `http://` URL.
    pub url: String,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
    /// Time limit in milliseconds; the host's default when absent.
    pub timeout_ms: Option<u32>,
}

/// A response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// The body, cut at the host's size limit.
    pub body: Vec<u8>,
    /// Whether the body was cut.
    pub truncated: bool,
    /// What the enrichment broker did, for requests to a provider.
    pub brokered: Option<Brokered>,
}

/// How the enrichment broker handled a request to a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brokered {
    /// The provider's name (`http.enrichment.providers`).
    pub provider: String,
    /// What happened.
    pub outcome: BrokerOutcome,
}

/// What the enrichment broker did with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerOutcome {
    /// Sent to the provider, which answered.
    Sent,
    /// Answered from the cache, `age_secs` old.
    Cached {
        /// Seconds since the provider gave the answer.
        age_secs: u64,
    },
    /// Not sent: the provider's quota is spent for now.
    RateLimited {
        /// Seconds until a request may go out again.
        retry_after_secs: u64,
    },
}

impl BrokerOutcome {
    /// The word the audit trail and the response header use.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Cached { .. } => "cached",
            Self::RateLimited { .. } => "rate-limited",
        }
    }
}

/// Answers whether a host name is granted (for redirect targets).
pub type HostCheck = dyn for<'h> Fn(&'h str) -> bool + Send + Sync;

/// An HTTP client.
#[async_trait::async_trait]
pub trait HttpBackend: Send + Sync {
    /// Sends a request whose host was checked against the grants;
    /// `allowed` answers whether a redirect target's host is granted too.
    async fn send(
        &self,
        request: Request,
        allowed: &HostCheck,
    ) -> Result<Response, CapabilityError>;

    /// The enrichment provider `url` belongs to, when a broker stands in
    /// front of this client.
    fn provider_of(&self, url: &str) -> Option<String> {
        let _ = url;
        None
    }
}
