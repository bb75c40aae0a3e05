//! Integration tests of the backends: the telemetry store on all three
//! providers (the real clusters `just test` starts), the model clients
//! against stand-in servers and the embedded models, and retrieval.

mod db;
mod llm;
mod models;
mod rag;
