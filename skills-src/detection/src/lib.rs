//! What SecurityClaw's detection skills share, so each skill stays a thin
//! loop over `db` calls: the shared [`settings`], the [`catalog`] of field
//! roles that maps ECS, Zeek-native and Suricata-native indices alike,
//! [`net`] (home networks, failed-connection states, entropy), the
//! behaviour scores of [`behaviour`], RITA-style [`beacon`] scoring, and the
//! durable [`records`] (AD-shaped anomaly results, findings, incidents)
//! and the [`incidents`] findings are grouped into.

pub mod beacon;
pub mod behaviour;
pub mod catalog;
pub mod discover;
pub mod incidents;
pub mod net;
pub mod observe;
pub mod position;
pub mod records;
pub mod scope;
pub mod settings;
pub mod stats;

pub use catalog::{Catalog, DataKind, Role, SourceCatalog};
pub use settings::Settings;

/// Turns a capability failure into the skill's error, with what was being
/// done, so the run's summary says which step failed.
pub fn step<T>(
    what: &str,
    result: securityclaw_sdk::Result<T>,
) -> Result<T, securityclaw_sdk::SkillError> {
    result.map_err(|err| {
        securityclaw_sdk::SkillError::Failed(format!(
            "{what}: {}",
            securityclaw_sdk::describe(&err)
        ))
    })
}
