//! Outbound HTTP to the hosts in `grants.http.hosts`.

use crate::{Result, host};

pub use crate::__bindings::securityclaw::skill::http::{Method, Request, Response};

/// Sends a request.
pub fn send(request: &Request) -> Result<Response> {
    host::with(|h| h.http_send(request))
}

/// A GET with no headers.
pub fn get(url: &str) -> Result<Response> {
    send(&Request {
        method: Method::Get,
        url: url.to_owned(),
        headers: Vec::new(),
        body: None,
        timeout_ms: None,
    })
}
