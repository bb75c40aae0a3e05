//! Outbound HTTP straight from the host (`http.provider: direct`): the
//! granted host was checked before the call; here every redirect is checked
//! against the grants too, names that resolve to loopback, private or
//! link-local addresses are refused (unless `http.allow_private_addresses`),
//! bodies are cut at `http.max_body_bytes`, and the whole exchange has a
//! deadline.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use sc_core::CapabilityError;
use sc_core::config::HttpConfig;
use sc_core::http::{HostCheck, HttpBackend, Request, Response};

/// Redirects followed at most.
const MAX_REDIRECTS: usize = 5;

/// The direct client.
pub struct DirectHttp {
    client: reqwest::Client,
    timeout: Duration,
    max_body: u64,
    allow_private: bool,
}

/// Is `ip` an address on the public internet (not loopback, private,
/// link-local, shared, documentation, unspecified or multicast)?
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

/// Resolves names to public addresses only, so the address the client
/// connects to is the one that was checked (no second lookup to rebind).
struct PublicOnly {
    allow_private: bool,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| allow_private || is_public(addr.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("`{host}` has no public address").into());
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl DirectHttp {
    /// A client with the limits in `config`.
    pub fn new(config: &HttpConfig) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(PublicOnly {
                allow_private: config.allow_private_addresses,
            }))
            .user_agent(concat!("securityclaw/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            timeout: Duration::from_millis(config.timeout_ms),
            max_body: config.max_body_bytes,
            allow_private: config.allow_private_addresses,
        })
    }

    /// Refuses a URL whose host is an address literal off the public
    /// internet (names are held to the same rule by the resolver).
    fn check_address(&self, url: &reqwest::Url) -> Result<(), CapabilityError> {
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        match literal {
            Some(ip) if !self.allow_private && !is_public(ip) => {
                Err(CapabilityError::Denied(format!(
                    "{ip} is not a public address; set `http.allow_private_addresses: true` in config.yaml to let skills reach it"
                )))
            }
            _ => Ok(()),
        }
    }

    async fn exchange(
        &self,
        request: Request,
        allowed: &HostCheck,
    ) -> Result<Response, CapabilityError> {
        let method =
            reqwest::Method::from_bytes(request.method.as_str().as_bytes()).map_err(|_| {
                CapabilityError::InvalidInput(format!(
                    "`{}` is not an HTTP method",
                    request.method.as_str()
                ))
            })?;
        if request
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("host"))
        {
            return Err(CapabilityError::InvalidInput(
                "the `Host` header is set by the host from the URL".to_owned(),
            ));
        }
        let mut url = reqwest::Url::parse(&request.url)
            .map_err(|err| CapabilityError::InvalidInput(format!("`{}`: {err}", request.url)))?;
        let mut method = method;
        let mut body = request.body;
        for _ in 0..=MAX_REDIRECTS {
            self.check_address(&url)?;
            let mut builder = self.client.request(method.clone(), url.clone());
            for (name, value) in &request.headers {
                builder = builder.header(name, value);
            }
            if let Some(body) = &body {
                builder = builder.body(body.clone());
            }
            let response = builder.send().await.map_err(describe)?;
            let status = response.status();
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            match location {
                Some(location) if status.is_redirection() => {
                    let next = url.join(&location).map_err(|err| {
                        CapabilityError::Backend(format!("a redirect to `{location}`: {err}"))
                    })?;
                    let host = next.host_str().unwrap_or_default().to_owned();
                    if !matches!(next.scheme(), "http" | "https") || !allowed(&host) {
                        return Err(CapabilityError::Denied(format!(
                            "the server redirected to `{host}`, which is not in `grants.http.hosts`; add it there to follow the redirect"
                        )));
                    }
                    // 303, and 301/302 after a POST, turn into a GET without a body.
                    if status == reqwest::StatusCode::SEE_OTHER
                        || (matches!(status.as_u16(), 301 | 302) && method == reqwest::Method::POST)
                    {
                        method = reqwest::Method::GET;
                        body = None;
                    }
                    url = next;
                }
                _ => return self.read(response).await,
            }
        }
        Err(CapabilityError::Backend(format!(
            "more than {MAX_REDIRECTS} redirects"
        )))
    }

    async fn read(&self, response: reqwest::Response) -> Result<Response, CapabilityError> {
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        let mut truncated = false;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(describe)?;
            let room = usize::try_from(self.max_body)
                .unwrap_or(usize::MAX)
                .saturating_sub(body.len());
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status,
            headers,
            body,
            truncated,
            brokered: None,
        })
    }
}

/// A client error in words a skill author can act on, without the URL's
/// query (which may hold a key).
fn describe(err: reqwest::Error) -> CapabilityError {
    if err.is_timeout() {
        return CapabilityError::Timeout;
    }
    let err = err.without_url();
    let mut reason = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(inner) = source {
        reason = format!("{reason}: {inner}");
        source = inner.source();
    }
    CapabilityError::Backend(reason)
}

#[async_trait::async_trait]
impl HttpBackend for DirectHttp {
    async fn send(
        &self,
        request: Request,
        allowed: &HostCheck,
    ) -> Result<Response, CapabilityError> {
        let limit = request.timeout_ms.map_or(self.timeout, |ms| {
            Duration::from_millis(u64::from(ms)).min(self.timeout)
        });
        tokio::time::timeout(limit, self.exchange(request, allowed))
            .await
            .map_err(|_| CapabilityError::Timeout)?
    }
}

#[cfg(test)]
mod tests {
    use super::is_public;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "224.0.0.1",
        ] {
            assert!(!is_public(private.parse().expect("ip")), "{private}");
        }
        for public in ["8.8.8.8", "203.0.114.1", "2606:4700::1111"] {
            assert!(is_public(public.parse().expect("ip")), "{public}");
        }
    }
}
