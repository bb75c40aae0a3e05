//! The skill runtime: the one `bindgen!` of the WIT, one host module per
//! capability interface (grants checked first, through `sc-core`), the
//! wasmtime engine, the compiled-component cache, the registry of
//! installed skills with atomic hot swaps, the sandbox, and the single call
//! path every run takes. It knows backends only by their `sc-core` traits
//! and keeps its state in `sc-state`.

pub mod bindings;
pub mod cache;
pub mod call;
pub mod capabilities;
pub mod dispatch;
pub mod engine;
pub mod error;
pub mod host;
pub mod records;
pub mod registry;
pub mod reload;
pub mod sandbox;
pub mod state;

pub use dispatch::DispatchError;
pub use engine::{Engines, LoadError, LoadedSkill};
pub use host::{RegistryState, ReloadOutcome, SkillEntry, SkillHost, SkillState, off_worker};
pub use registry::ScannedSkill;
