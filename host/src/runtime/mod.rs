//! The skill runtime: the engine and its one `bindgen!`, the compiled
//! component cache, the registry, and the single call path every run takes.

pub mod bindings;
pub mod cache;
pub mod call;
pub mod engine;
pub mod registry;
pub mod sandbox;
pub mod state;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::capabilities::Backends;
use crate::config::Config;
pub use call::{RunInput, RunReport, RunStatus, Trigger};
pub use engine::{Engines, LoadedSkill};
pub use registry::ScannedSkill;

/// A skill as the registry holds it.
pub enum SkillSlot {
    /// Ready to run.
    Ready(Arc<LoadedSkill>),
    /// Could not be loaded; the reason, and the manifest if it parsed.
    Failed {
        /// Why.
        error: String,
        /// The scanned folder.
        scanned: Box<ScannedSkill>,
    },
}

/// Why a dispatch did not run the skill at all.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// No such skill folder.
    #[error("no skill `{skill}` in {dir}; installed: {installed}")]
    Unknown {
        /// The id asked for.
        skill: String,
        /// The skills folder.
        dir: String,
        /// What is there.
        installed: String,
    },
    /// The skill is installed but failed to load.
    #[error("skill `{skill}` is installed but cannot run: {reason}")]
    NotLoaded {
        /// The skill.
        skill: String,
        /// Why it failed to load.
        reason: String,
    },
    /// Listed in `skills.disabled`.
    #[error("skill `{0}` is disabled (remove it from `skills.disabled` in config.yaml to run it)")]
    Disabled(String),
    /// Parameters are not a JSON object.
    #[error("parameters must be a JSON object, got {0}")]
    BadParameters(String),
}

/// The host: config, backends, engine and the loaded skills. Every run —
/// scheduled, dispatched or asked for by the chat — goes through
/// [`SkillHost::dispatch`].
pub struct SkillHost {
    config: Arc<Config>,
    backends: Backends,
    engines: Engines,
    skills: BTreeMap<String, SkillSlot>,
}

impl SkillHost {
    /// Builds the engine and loads every skill in `skills_dir`.
    pub fn start(config: Arc<Config>, backends: Backends) -> anyhow::Result<Self> {
        let engines = Engines::new(config.data_dir.join("cache").join("components"))?;
        let mut host = Self {
            config,
            backends,
            engines,
            skills: BTreeMap::new(),
        };
        host.load_all()?;
        Ok(host)
    }

    fn load_all(&mut self) -> anyhow::Result<()> {
        let dir = &self.config.skills_dir;
        let scanned = registry::scan(dir).map_err(|err| {
            anyhow::anyhow!(
                "cannot read the skills folder {}: {err}; build the skills with `just skills` or set `skills_dir`",
                dir.display()
            )
        })?;
        for skill in scanned {
            let slot = match self.engines.load(&skill) {
                Ok(loaded) => {
                    tracing::debug!(skill = %skill.folder, cache = ?loaded.cache, "skill loaded");
                    SkillSlot::Ready(Arc::new(loaded))
                }
                Err(error) => {
                    tracing::warn!(skill = %skill.folder, %error, "skill failed to load");
                    SkillSlot::Failed {
                        error,
                        scanned: Box::new(skill.clone()),
                    }
                }
            };
            self.skills.insert(skill.folder, slot);
        }
        Ok(())
    }

    /// The loaded and failed skills by id.
    pub fn skills(&self) -> &BTreeMap<String, SkillSlot> {
        &self.skills
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The backends in use.
    pub fn backends(&self) -> &Backends {
        &self.backends
    }

    /// Runs a skill once. Refusals (unknown, disabled, failed to load, bad
    /// parameters) are errors; anything that happens inside the run is in
    /// the report.
    pub async fn dispatch(
        &self,
        skill_id: &str,
        trigger: Trigger,
        parameters: Value,
    ) -> Result<RunReport, DispatchError> {
        let skill = match self.skills.get(skill_id) {
            None => {
                return Err(DispatchError::Unknown {
                    skill: skill_id.to_owned(),
                    dir: self.config.skills_dir.display().to_string(),
                    installed: if self.skills.is_empty() {
                        "none".to_owned()
                    } else {
                        self.skills.keys().cloned().collect::<Vec<_>>().join(", ")
                    },
                });
            }
            Some(SkillSlot::Failed { error, .. }) => {
                return Err(DispatchError::NotLoaded {
                    skill: skill_id.to_owned(),
                    reason: error.clone(),
                });
            }
            Some(SkillSlot::Ready(skill)) => skill.clone(),
        };
        if self.config.skills.disabled.iter().any(|d| d == skill_id) {
            return Err(DispatchError::Disabled(skill_id.to_owned()));
        }
        if !parameters.is_object() {
            return Err(DispatchError::BadParameters(parameters.to_string()));
        }
        let settings = Arc::new(
            self.config
                .skills
                .settings
                .get(skill_id)
                .cloned()
                .unwrap_or_default(),
        );
        let limits = call::RunLimits::for_skill(&skill, &self.config.limits);
        let input = RunInput {
            trigger,
            parameters,
            chat: None,
        };
        Ok(call::run(
            &self.engines,
            &self.backends,
            &skill,
            settings,
            limits,
            input,
        )
        .await)
    }
}
