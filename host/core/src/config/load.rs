//! Reading the layers (file, environment, flags) into one [`Config`], with
//! every error pointing at the key and the layer it came from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml_ng::{Mapping, Value};

use super::{
    Config, ConfigError, ConfigSources, ENV_PREFIX, LoadedConfig, SECRET_ENV_PREFIX, validate,
};

/// Loads, layers, checks and resolves the configuration.
pub fn load(sources: &ConfigSources) -> Result<LoadedConfig, ConfigError> {
    let (mut tree, file, origin) = read_file_layer(sources)?;

    let known = known_keys();
    let mut origins: BTreeMap<String, String> = BTreeMap::new();
    let mut unknown_env = Vec::new();
    for (name, raw) in &sources.env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        // Secrets, test settings and the datasets folder are SC_ variables
        // that name no key, on purpose.
        if name.starts_with(SECRET_ENV_PREFIX)
            || rest.starts_with("TEST_")
            || rest == "DATASETS_DIR"
        {
            continue;
        }
        match known.iter().find(|(key, _)| env_name(key) == *name) {
            Some((key, shape)) => {
                set_path(&mut tree, key, parse_as(shape, raw));
                origins.insert(key.clone(), format!("environment variable {name}"));
            }
            None => unknown_env.push(name.as_str()),
        }
    }
    for (key, raw) in &sources.flags {
        let shape = known
            .iter()
            .find(|(known_key, _)| known_key == key)
            .map_or(&Value::Null, |(_, shape)| shape);
        set_path(&mut tree, key, parse_as(shape, raw));
        origins.insert(key.clone(), format!("flag for `{key}`"));
    }

    let deserializer = Value::Mapping(tree);
    let mut config: Config = serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let key = err.path().to_string();
        let origin = origins.get(&key).cloned().unwrap_or_else(|| origin.clone());
        ConfigError::Invalid {
            origin,
            message: format!("`{key}`: {}", err.inner()),
        }
    })?;

    validate::validate(&config).map_err(|(key, message)| ConfigError::Invalid {
        origin: origin_of(&origins, key).unwrap_or_else(|| origin.clone()),
        message: format!("`{key}`: {message}"),
    })?;

    let base = file
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let base = absolute(&base);
    config.data_dir = base.join(&config.data_dir);
    config.skills_dir = base.join(&config.skills_dir);
    config.memory.path = config.data_dir.join(&config.memory.path);
    config.rag.path = config.data_dir.join(&config.rag.path);
    config.api.web_dir = base.join(&config.api.web_dir);
    config.db.embedded.path = config.data_dir.join(&config.db.embedded.path);
    config.llm.embedded.dir = config.data_dir.join(&config.llm.embedded.dir);
    if let Some(path) = &config.llm.embedded.chat_model_path {
        config.llm.embedded.chat_model_path = Some(base.join(path));
    }

    // Variables the config names as holding a value (a token, a password)
    // are meant to be there, however they are spelled.
    let referenced = config.referenced_env_vars();
    let warnings = unknown_env
        .into_iter()
        .filter(|name| !referenced.contains(name))
        .map(|name| format!("environment variable {name} names no config key; ignored"))
        .collect();
    Ok(LoadedConfig {
        config,
        file,
        warnings,
    })
}

/// Where the value at `path` (or its parent, for `a.b[0]`) came from.
fn origin_of(origins: &BTreeMap<String, String>, path: &str) -> Option<String> {
    origins
        .iter()
        .filter(|(key, _)| {
            path == key.as_str()
                || path
                    .strip_prefix(key.as_str())
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        })
        .max_by_key(|(key, _)| key.len())
        .map(|(_, origin)| origin.clone())
}

type FileLayer = (Mapping, Option<PathBuf>, String);

fn read_file_layer(sources: &ConfigSources) -> Result<FileLayer, ConfigError> {
    let Some(path) = &sources.file else {
        return Ok((Mapping::new(), None, "defaults".to_owned()));
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && !sources.explicit => {
            return Ok((Mapping::new(), None, "defaults".to_owned()));
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.clone(),
                source,
            });
        }
    };
    let origin = path.display().to_string();
    let value: Value = serde_yaml_ng::from_str(&text).map_err(|err| ConfigError::Invalid {
        origin: origin.clone(),
        message: err.to_string(),
    })?;
    let tree = match value {
        Value::Null => Mapping::new(),
        Value::Mapping(map) => map,
        _ => {
            return Err(ConfigError::Invalid {
                origin,
                message: "the file must be a mapping of keys to values".to_owned(),
            });
        }
    };
    Ok((tree, Some(path.clone()), origin))
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// Dotted paths of every scalar or list key, with its default value (whose
/// shape says how to read an environment variable for it).
fn known_keys() -> Vec<(String, Value)> {
    let defaults = serde_yaml_ng::to_value(Config::default()).unwrap_or(Value::Null);
    let mut keys = Vec::new();
    collect_leaves(&defaults, String::new(), &mut keys);
    keys
}

fn collect_leaves(value: &Value, prefix: String, keys: &mut Vec<(String, Value)>) {
    match value {
        Value::Mapping(map) if !map.is_empty() => {
            for (key, child) in map {
                let Some(key) = key.as_str() else { continue };
                let path = if prefix.is_empty() {
                    key.to_owned()
                } else {
                    format!("{prefix}.{key}")
                };
                collect_leaves(child, path, keys);
            }
        }
        // Free-form maps (skill settings) are set in the file only.
        Value::Mapping(_) => {}
        _ => keys.push((prefix, value.clone())),
    }
}

/// `db.provider` → `SC_DB_PROVIDER`.
pub fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.replace('.', "_").to_ascii_uppercase())
}

/// Reads an environment or flag value in the shape of the key's default:
/// lists as `a,b` (or YAML `[a, b]`), strings verbatim, numbers and
/// booleans as YAML scalars (a wrong one then fails with the key's name).
fn parse_as(shape: &Value, raw: &str) -> Value {
    match shape {
        Value::String(_) => Value::String(raw.to_owned()),
        Value::Sequence(_) => match serde_yaml_ng::from_str::<Value>(raw) {
            Ok(list @ Value::Sequence(_)) => list,
            _ => Value::Sequence(
                raw.split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(|item| Value::String(item.to_owned()))
                    .collect(),
            ),
        },
        _ => {
            serde_yaml_ng::from_str::<Value>(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
        }
    }
}

fn set_path(tree: &mut Mapping, dotted: &str, value: Value) {
    let mut node = tree;
    let mut parts = dotted.split('.').peekable();
    while let Some(part) = parts.next() {
        let key = Value::String(part.to_owned());
        if parts.peek().is_none() {
            node.insert(key, value);
            return;
        }
        let entry = node
            .entry(key)
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        if !entry.is_mapping() {
            *entry = Value::Mapping(Mapping::new());
        }
        let Value::Mapping(child) = entry else { return };
        node = child;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LimitsConfig, RagProvider};

    fn sources(yaml: &str, env: &[(&str, &str)]) -> (tempfile::TempDir, ConfigSources) {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("config.yaml");
        std::fs::write(&file, yaml).expect("write config");
        let sources = ConfigSources {
            file: Some(file),
            explicit: true,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            flags: Vec::new(),
        };
        (dir, sources)
    }

    #[test]
    fn empty_file_gives_defaults_with_paths_next_to_the_file() {
        let (dir, sources) = sources("", &[]);
        let loaded = load(&sources).expect("load");
        assert_eq!(loaded.config.limits, LimitsConfig::default());
        assert_eq!(loaded.config.data_dir, dir.path().join("data"));
        assert_eq!(loaded.config.skills_dir, dir.path().join("skills-dist"));
        assert_eq!(
            loaded.config.memory.path,
            dir.path().join("data/runtime_memory.db")
        );
    }

    #[test]
    fn unknown_key_names_the_key_and_the_file() {
        let (_dir, sources) = sources("limits:\n  timeout: 5\n", &[]);
        let err = load(&sources).expect_err("unknown key").to_string();
        assert!(err.contains("config.yaml"), "{err}");
        assert!(err.contains("`limits.timeout`"), "{err}");
        assert!(err.contains("unknown field `timeout`"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let (_dir, sources) = sources("limits:\n  memory_mb: lots\n", &[]);
        let err = load(&sources).expect_err("wrong type").to_string();
        assert!(err.contains("`limits.memory_mb`"), "{err}");
    }

    #[test]
    fn environment_overrides_file_and_flags_override_environment() {
        let (_dir, mut sources) = sources(
            "log_level: warn\nlimits:\n  timeout_ms: 100\n",
            &[("SC_LOG_LEVEL", "debug"), ("SC_LIMITS_TIMEOUT_MS", "200")],
        );
        sources.flags.push(("log_level".into(), "trace".into()));
        let loaded = load(&sources).expect("load");
        assert_eq!(loaded.config.limits.timeout_ms, 200);
        assert_eq!(loaded.config.log_level, "trace");
    }

    #[test]
    fn bad_environment_value_names_the_variable() {
        let (_dir, sources) = sources("", &[("SC_LIMITS_MEMORY_MB", "huge")]);
        let err = load(&sources).expect_err("bad env").to_string();
        assert!(err.contains("SC_LIMITS_MEMORY_MB"), "{err}");
    }

    #[test]
    fn unknown_environment_variable_is_a_warning() {
        let (_dir, sources) = sources(
            "",
            &[
                ("SC_DATADIR", "x"),
                ("SC_SECRET_API", "s"),
                ("SC_TEST_X", "1"),
            ],
        );
        let loaded = load(&sources).expect("load");
        assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
        assert!(loaded.warnings[0].contains("SC_DATADIR"));
    }

    #[test]
    fn variables_the_config_names_for_secrets_are_not_warned_about() {
        let (_dir, sources) = sources(
            "api:\n  auth:\n    tokens:\n      - { id: ops, env: SC_API_TOKEN }\n\
             db:\n  opensearch:\n    username: sc\n    password_env: SC_OS_PASSWORD\n\
             llm:\n  openai:\n    api_key_env: SC_OPENAI_KEY\n",
            &[
                ("SC_API_TOKEN", "t"),
                ("SC_OS_PASSWORD", "p"),
                ("SC_OPENAI_KEY", "k"),
                ("SC_TYPO_KEY", "x"),
            ],
        );
        let loaded = load(&sources).expect("load");
        assert_eq!(
            loaded.warnings,
            ["environment variable SC_TYPO_KEY names no config key; ignored"]
        );
    }

    #[test]
    fn out_of_range_limit_is_refused() {
        let (_dir, sources) = sources("limits:\n  memory_mb: 0\n", &[]);
        let err = load(&sources).expect_err("range").to_string();
        assert!(err.contains("`limits.memory_mb`"), "{err}");
        assert!(err.contains("out of range"), "{err}");
    }

    #[test]
    fn a_rag_index_name_a_cluster_would_refuse_is_refused_here() {
        for (name, says) in [
            ("Baselines", "`B`"),
            ("rag*", "`*`"),
            ("_rag", "starts with `_`"),
        ] {
            let (_dir, sources) = sources(&format!("rag:\n  index: \"{name}\"\n"), &[]);
            let err = load(&sources).expect_err("bad index name").to_string();
            assert!(err.contains("`rag.index`") && err.contains(says), "{err}");
        }
        let (_dir, sources) = sources(
            "rag:\n  provider: elasticsearch\n  index: soc-rag.v1\n",
            &[],
        );
        let loaded = load(&sources).expect("load");
        assert_eq!(loaded.config.rag.provider, RagProvider::Elasticsearch);
    }

    #[test]
    fn missing_explicit_file_is_an_error_but_missing_default_is_not() {
        let mut sources = ConfigSources {
            file: Some(PathBuf::from("/nonexistent/config.yaml")),
            explicit: true,
            ..ConfigSources::default()
        };
        assert!(matches!(load(&sources), Err(ConfigError::Read { .. })));
        sources.explicit = false;
        assert!(load(&sources).is_ok());
    }

    #[test]
    fn env_names_follow_the_key_path() {
        assert_eq!(env_name("db.provider"), "SC_DB_PROVIDER");
        assert_eq!(env_name("data_dir"), "SC_DATA_DIR");
        let keys: Vec<String> = known_keys().into_iter().map(|(key, _)| key).collect();
        assert!(keys.contains(&"skills_dir".to_owned()));
        assert!(keys.contains(&"skills.disabled".to_owned()));
    }

    #[test]
    fn environment_values_take_the_shape_of_the_key() {
        let (_dir, sources) = sources(
            "",
            &[
                ("SC_SKILLS_DISABLED", "a, b"),
                ("SC_DATA_DIR", "2024"),
                ("SC_LIMITS_MEMORY_MB", "64"),
            ],
        );
        let loaded = load(&sources).expect("load");
        assert_eq!(
            loaded.config.skills.disabled,
            vec!["a".to_owned(), "b".to_owned()]
        );
        assert!(loaded.config.data_dir.ends_with("2024"));
        assert_eq!(loaded.config.limits.memory_mb, 64);
    }
}
