//! The `config` capability: a skill's own settings (`skills.settings.<id>`)
//! and the secrets named in its `grants.secrets`.

use std::collections::BTreeMap;
use std::sync::Arc;

use sc_core::CapabilityError;
use sc_core::config::SECRET_ENV_PREFIX;

use super::CallContext;
use crate::bindings::securityclaw::skill::config as wit;
use crate::error::CallError;

/// A skill's settings from config.yaml.
pub type SkillSettings = Arc<BTreeMap<String, serde_json::Value>>;

/// Per-call state of `config`.
pub struct ConfigState {
    call: Arc<CallContext>,
    settings: SkillSettings,
}

impl ConfigState {
    /// State for one run.
    pub fn new(call: Arc<CallContext>, settings: SkillSettings) -> Self {
        Self { call, settings }
    }
}

/// The environment variable that holds secret `name`.
pub fn secret_env_name(name: &str) -> String {
    format!("{SECRET_ENV_PREFIX}{name}")
}

impl wit::Host for ConfigState {
    async fn get(&mut self, key: String) -> Result<Option<String>, CallError> {
        self.call.charge()?;
        Ok(self.settings.get(&key).map(serde_json::Value::to_string))
    }

    async fn secret(&mut self, name: String) -> Result<String, CallError> {
        self.call.charge()?;
        self.call.grants.secret(&name)?;
        let var = secret_env_name(&name);
        std::env::var(&var).map_err(|_| {
            CapabilityError::NotConfigured(format!(
                "secret `{name}` is granted but not set: export {var} in the host's environment"
            ))
            .into()
        })
    }
}
