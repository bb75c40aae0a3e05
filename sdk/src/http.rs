//! Outbound HTTP to the hosts in `grants.http.hosts`.

use crate::__bindings::securityclaw::skill::http as wit;
use crate::Result;

pub use wit::{Method, Request, Response};

/// Sends a request.
pub fn send(request: &Request) -> Result<Response> {
    wit::send(request)
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
