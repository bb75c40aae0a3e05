//! SecurityClaw's skill host: loads skills as sandboxed WebAssembly
//! components and runs them with only the capabilities their manifests
//! grant.

pub mod api;
pub mod audit;
pub mod backends;
pub mod capabilities;
pub mod cli;
pub mod config;
pub mod history;
pub mod json_schema;
pub mod manifest;
pub mod recorder;
pub mod runtime;
pub mod scheduler;
pub mod sqlite;
