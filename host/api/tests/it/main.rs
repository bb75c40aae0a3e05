//! Integration tests of the HTTP API: the whole router driven with
//! `oneshot` over a real host with real components.

mod api;
mod runs;
