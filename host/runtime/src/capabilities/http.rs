//! The `http` capability: outbound requests to the hosts in
//! `grants.http.hosts` only, redirects included. Requests to a reputation
//! provider go through the enrichment broker and are accounted per skill in
//! the audit trail (`enrichment.<provider>`: sent with the status, cached,
//! rate-limited, failed), never with the URL (it may carry a key).

use std::sync::Arc;

use sc_core::CapabilityError;
use sc_core::http::{BrokerOutcome, HttpBackend, Method, Request};
use sc_state::audit::AuditEvent;

use super::CallContext;
use crate::bindings::securityclaw::skill::http as wit;
use crate::error::CallError;

/// Per-call state of `http`.
pub struct HttpState {
    call: Arc<CallContext>,
    backend: Arc<dyn HttpBackend>,
}

impl HttpState {
    /// State for one run.
    pub fn new(call: Arc<CallContext>, backend: Arc<dyn HttpBackend>) -> Self {
        Self { call, backend }
    }
}

/// The host part of an absolute http(s) URL.
fn host_of(url: &str) -> Result<&str, CapabilityError> {
    // Characters on which URL parsers disagree (`\\` is a separator to some,
    // escapes decode differently) could make the checked host differ from
    // the one contacted, so they are refused outright.
    if url
        .chars()
        .any(|c| c == '\\' || c == '%' || c.is_whitespace() || c.is_control())
    {
        return Err(CapabilityError::InvalidInput(
            "URLs may not contain backslashes, percent-escapes, whitespace or control characters"
                .to_owned(),
        ));
    }
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| {
            CapabilityError::InvalidInput(format!("`{url}` is not an absolute http(s) URL"))
        })?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(CapabilityError::InvalidInput(
            "URLs with credentials are not allowed".to_owned(),
        ));
    }
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    };
    if host.is_empty() {
        return Err(CapabilityError::InvalidInput(format!(
            "`{url}` has no host"
        )));
    }
    Ok(host)
}

fn method_of(method: wit::Method) -> Result<Method, CapabilityError> {
    Ok(match method {
        wit::Method::Get => Method::Get,
        wit::Method::Post => Method::Post,
        wit::Method::Put => Method::Put,
        wit::Method::Delete => Method::Delete,
        wit::Method::Head => Method::Head,
        wit::Method::Patch => Method::Patch,
        wit::Method::Other(name) => {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(CapabilityError::InvalidInput(format!(
                    "`{name}` is not an HTTP method"
                )));
            }
            Method::Other(name.to_ascii_uppercase())
        }
    })
}

impl wit::Host for HttpState {
    async fn send(&mut self, request: wit::Request) -> Result<wit::Response, CallError> {
        self.call.charge()?;
        let host = host_of(&request.url)?;
        self.call.grants.http_host(host)?;
        let request = Request {
            method: method_of(request.method)?,
            url: request.url,
            headers: request.headers,
            body: request.body,
            timeout_ms: request.timeout_ms,
        };
        let provider = self.backend.provider_of(&request.url);
        let call = self.call.clone();
        let granted = move |host: &str| call.grants.http_host(host).is_ok();
        let response = self.backend.send(request, &granted).await;
        if let Some(provider) = provider {
            let outcome = match &response {
                Ok(r) => match &r.brokered {
                    Some(b) if b.outcome == BrokerOutcome::Sent => format!("sent:{}", r.status),
                    Some(b) => b.outcome.as_str().to_owned(),
                    None => format!("sent:{}", r.status),
                },
                Err(CapabilityError::Timeout) => "timeout".to_owned(),
                Err(_) => "failed".to_owned(),
            };
            self.call.audit(AuditEvent {
                action: format!("enrichment.{provider}"),
                outcome,
                ..AuditEvent::default()
            });
        }
        let response = response?;
        Ok(wit::Response {
            status: response.status,
            headers: response.headers,
            body: response.body,
            truncated: response.truncated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn host_is_taken_from_the_authority() {
        assert_eq!(
            host_of("https://api.example.com/v1?q=1").ok(),
            Some("api.example.com")
        );
        assert_eq!(host_of("http://example.com:8080").ok(), Some("example.com"));
        assert!(host_of("ftp://example.com").is_err());
        assert!(host_of("https://user:pw@example.com/").is_err());
        assert!(host_of("https://evil.com\\.x.example.org/").is_err());
        assert!(host_of("https://evil.com%2f.example.org/").is_err());
        assert!(host_of("https:///path").is_err());
    }
}
