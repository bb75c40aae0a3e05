//! Integration tests of the skill host: real components built from source
//! (`just skills fixtures`), real SQLite, the real `sc-host` binary.

mod api;
mod cli;
mod db;
mod hostile;
mod ingest;
mod llm;
mod models;
mod rag;
mod registry;
mod reload;
mod scheduler;
mod support;
