//! Backends behind the capabilities: the services a skill reaches through
//! the host. Which one serves a capability is chosen by config.

pub mod sqlite_memory;
pub mod unconfigured;

use std::sync::Arc;

use anyhow::Context as _;

use crate::capabilities::Backends;
use crate::config::{Config, DbProvider, HttpProvider, LlmProvider};

/// Opens the backends the config asks for.
pub fn open(config: &Config) -> anyhow::Result<Backends> {
    let memory = sqlite_memory::SqliteMemory::open(&config.memory.path, config.memory.clone())
        .with_context(|| {
            format!(
                "opening the memory database {}",
                config.memory.path.display()
            )
        })?;
    let unconfigured = Arc::new(unconfigured::Unconfigured);
    let db = match config.db.provider {
        DbProvider::None => unconfigured.clone(),
    };
    let llm = match config.llm.provider {
        LlmProvider::None => unconfigured.clone(),
    };
    let http = match config.http.provider {
        HttpProvider::None => unconfigured.clone(),
    };
    Ok(Backends {
        db,
        llm,
        rag: unconfigured,
        memory: Arc::new(memory),
        http,
    })
}
