//! The skill's own settings (`skills.settings.<skill_id>` in config.yaml)
//! and the secrets named in its `grants.secrets`.

use serde::de::DeserializeOwned;

use crate::{Result, host, parse_json};

/// A setting, deserialized; `None` when it is not set.
pub fn get<T: DeserializeOwned>(key: &str) -> Result<Option<T>> {
    host::with(|h| h.config_get(key))?
        .map(|text| parse_json(&format!("setting `{key}`"), &text))
        .transpose()
}

/// A granted secret's value.
pub fn secret(name: &str) -> Result<String> {
    host::with(|h| h.config_secret(name))
}
