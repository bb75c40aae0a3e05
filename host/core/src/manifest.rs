//! The skill manifest: `instruction.md`, YAML front matter (what the skill
//! is, when it runs, what it may touch) followed by the skill's system
//! prompt in markdown.
//!
//! Parsing is strict: an unknown key or a wrong type is an error naming the
//! file, the key and what was expected.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::grants::{Grants, validate_index_pattern};
use crate::schema::Schema;

/// A parsed, validated manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Unique id; equals the skill's folder name.
    pub skill_id: String,
    /// Name shown to people.
    pub display_name: String,
    /// Semantic version of the skill.
    pub version: semver::Version,
    /// What the skill does, in a sentence or two.
    pub description: String,
    /// When the skill runs by itself; absent means only on request.
    #[serde(default)]
    pub schedule: Option<Schedule>,
    /// Run once when the service first starts.
    #[serde(default)]
    pub run_on_first_startup: bool,
    /// What the skill can do, for the chat supervisor's routing.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// What must be true before it runs (e.g. another skill's output).
    #[serde(default)]
    pub prerequisites: Vec<String>,
    /// Entities a request must name (ip, host, user…).
    #[serde(default)]
    pub required_entities: Vec<String>,
    /// What it reads and writes.
    #[serde(default)]
    pub artifacts: Artifacts,
    /// How much harm a wrong run could do.
    #[serde(default)]
    pub risk_level: RiskLevel,
    /// An operator must approve each run.
    #[serde(default)]
    pub requires_operator_approval: bool,
    /// Replace IPs, domains, user and host names in this skill's prompts
    /// by placeholders before they reach any model (not only a remote
    /// one), unless `llm.anonymize: off`.
    #[serde(default)]
    pub anonymize_prompts: bool,

    /// What the skill may touch; nothing when absent.
    #[serde(default)]
    pub grants: Grants,
    /// Resource limits; the config's `limits` fill in what is absent.
    #[serde(default)]
    pub limits: ManifestLimits,
    /// A JSON Schema (draft 2020-12) of the parameters object: every
    /// invocation is checked against it before the run, and the chat
    /// supervisor and MCP clients read it to call the skill. Absent: any
    /// JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<serde_json::Value>,
    /// The markdown body: the skill's system prompt.
    #[serde(skip)]
    pub instructions: String,
}

/// `schedule`: exactly one of `interval_seconds` or `cron`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Run every N seconds.
    #[serde(default)]
    pub interval_seconds: Option<u64>,
    /// Run on a 5-field cron expression (`0 2 * * tue,fri`).
    #[serde(default)]
    pub cron: Option<String>,
    /// IANA time zone for `cron`; UTC when absent.
    #[serde(default)]
    pub timezone: Option<String>,
}

impl Schedule {
    /// One line for people: `every 300s`, `cron 0 2 * * tue,fri`.
    pub fn describe(&self) -> String {
        match (&self.interval_seconds, &self.cron) {
            (Some(seconds), _) => format!("every {seconds}s"),
            (None, Some(cron)) => match &self.timezone {
                Some(tz) => format!("cron {cron} ({tz})"),
                None => format!("cron {cron}"),
            },
            (None, None) => "manual".to_owned(),
        }
    }
}

/// `artifacts`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Artifacts {
    /// What the skill consumes.
    pub inputs: Vec<String>,
    /// What the skill produces.
    pub outputs: Vec<String>,
}

/// `risk_level`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    /// Reads only.
    #[default]
    Low,
    /// Writes derived data.
    Medium,
    /// Changes what the agent does or tells analysts.
    High,
    /// Acts outside the agent.
    Critical,
}

/// `limits`; absent values come from the config's `limits`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ManifestLimits {
    /// Wall-clock limit of one run, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Linear-memory cap of one run, in MiB.
    pub memory_mb: Option<u64>,
    /// Capability calls one run may make.
    pub host_calls: Option<u64>,
}

/// A manifest that could not be read, with the place and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ManifestError {
    /// The manifest file.
    pub file: PathBuf,
    /// What is wrong, naming the key where there is one.
    pub message: String,
}

impl Manifest {
    /// Reads and validates `path`; `folder_name` must equal `skill_id`.
    pub fn load(path: &Path, folder_name: Option<&str>) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|err| ManifestError {
            file: path.to_path_buf(),
            message: format!("cannot read: {err}"),
        })?;
        Self::parse(&text, path, folder_name)
    }

    /// Parses manifest text; `path` is only used in messages.
    pub fn parse(
        text: &str,
        path: &Path,
        folder_name: Option<&str>,
    ) -> Result<Self, ManifestError> {
        let fail = |message: String| ManifestError {
            file: path.to_path_buf(),
            message,
        };
        let (front, body) = split_front_matter(text).map_err(fail)?;
        let deserializer = serde_yaml_ng::Deserializer::from_str(front);
        let mut manifest: Manifest =
            serde_path_to_error::deserialize(deserializer).map_err(|err| {
                let key = err.path().to_string();
                // Locations count from the first line after the opening `---`.
                let inner = err.into_inner();
                let line = inner.location().map(|l| l.line() + 1);
                let mut message = strip_location(&inner.to_string());
                if let Some(rest) = message.strip_prefix(&format!("{key}: ")) {
                    message = rest.to_owned();
                }
                if key == "version" {
                    message.push_str(" (expected a semantic version such as 1.2.0)");
                }
                match (key.as_str(), line) {
                    (".", Some(line)) => fail(format!("line {line}: {message}")),
                    (".", None) => fail(message),
                    (_, Some(line)) => fail(format!("`{key}` (line {line}): {message}")),
                    (_, None) => fail(format!("`{key}`: {message}")),
                }
            })?;
        manifest.instructions = body.trim().to_owned();
        manifest
            .validate(folder_name)
            .map_err(|(key, message)| fail(format!("`{key}`: {message}")))?;
        Ok(manifest)
    }

    fn validate(&self, folder_name: Option<&str>) -> Result<(), (&'static str, String)> {
        if !is_identifier(&self.skill_id) {
            return Err((
                "skill_id",
                format!(
                    "`{}` must be lowercase letters, digits and `_`, starting with a letter",
                    self.skill_id
                ),
            ));
        }
        if let Some(folder) = folder_name
            && folder != self.skill_id
        {
            return Err((
                "skill_id",
                format!(
                    "`{}` does not match its folder `{folder}`; rename one so they are equal",
                    self.skill_id
                ),
            ));
        }
        if self.display_name.trim().is_empty() {
            return Err(("display_name", "must not be empty".to_owned()));
        }
        if self.description.trim().is_empty() {
            return Err(("description", "must not be empty".to_owned()));
        }
        if let Some(schedule) = &self.schedule {
            validate_schedule(schedule)?;
        }
        for (key, patterns) in [
            ("grants.db.read", &self.grants.db.read),
            ("grants.db.write", &self.grants.db.write),
        ] {
            for pattern in patterns {
                if pattern.contains(',') {
                    return Err((
                        key,
                        format!("`{pattern}`: list each pattern as its own item"),
                    ));
                }
                validate_index_pattern(pattern).map_err(|m| (key, m))?;
            }
        }
        for host in &self.grants.http.hosts {
            let bare = host.strip_prefix("*.").unwrap_or(host);
            let valid = !bare.is_empty()
                && bare.len() <= 253
                && bare.split('.').all(|label| {
                    !label.is_empty()
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                });
            if !valid {
                return Err((
                    "grants.http.hosts",
                    format!(
                        "`{host}` is not a host name (e.g. `api.example.com` or `*.example.com`)"
                    ),
                ));
            }
        }
        for name in &self.grants.secrets {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                return Err((
                    "grants.secrets",
                    format!("`{name}` must be upper-case letters, digits and `_`"),
                ));
            }
        }
        for grant in &self.grants.files {
            grant.validate().map_err(|m| ("grants.files", m))?;
        }
        for category in &self.grants.rag.categories {
            if !is_identifier(category) {
                return Err((
                    "grants.rag.categories",
                    format!("`{category}` must be lowercase letters, digits and `_`"),
                ));
            }
        }
        if let Some(ms) = self.limits.timeout_ms
            && !(1..=3_600_000).contains(&ms)
        {
            return Err((
                "limits.timeout_ms",
                format!("{ms} is out of range; expected 1..=3600000"),
            ));
        }
        if let Some(mb) = self.limits.memory_mb
            && !(1..=4_096).contains(&mb)
        {
            return Err((
                "limits.memory_mb",
                format!("{mb} is out of range; expected 1..=4096"),
            ));
        }
        if self.limits.host_calls == Some(0) {
            return Err(("limits.host_calls", "must be at least 1".to_owned()));
        }
        self.parameter_schema().map_err(|m| ("parameters", m))?;
        Ok(())
    }

    /// The compiled `parameters` schema; none when the manifest has none.
    /// The error says why the schema is unusable.
    pub fn parameter_schema(&self) -> Result<Option<Schema>, String> {
        let Some(schema) = &self.parameters else {
            return Ok(None);
        };
        if schema.get("type").and_then(serde_json::Value::as_str) != Some("object") {
            return Err(
                "must be a JSON Schema of an object: `type: object` with `properties`".to_owned(),
            );
        }
        Schema::compile(schema)
            .map(Some)
            .map_err(|err| format!("is not a usable JSON Schema: {err}"))
    }
}

fn validate_schedule(schedule: &Schedule) -> Result<(), (&'static str, String)> {
    match (&schedule.interval_seconds, &schedule.cron) {
        (Some(_), Some(_)) => Err((
            "schedule",
            "set either `interval_seconds` or `cron`, not both".to_owned(),
        )),
        (None, None) => Err((
            "schedule",
            "set `interval_seconds: N` or `cron: \"0 2 * * tue,fri\"`, or remove `schedule` for a manual skill".to_owned(),
        )),
        (Some(0), None) => Err(("schedule.interval_seconds", "must be at least 1".to_owned())),
        (Some(_), None) => {
            if schedule.timezone.is_some() {
                return Err((
                    "schedule.timezone",
                    "only applies to `cron` schedules".to_owned(),
                ));
            }
            Ok(())
        }
        (None, Some(cron)) => {
            if let Some(zone) = &schedule.timezone
                && zone.parse::<chrono_tz::Tz>().is_err()
            {
                return Err((
                    "schedule.timezone",
                    format!("`{zone}` is not an IANA time zone (e.g. UTC, Europe/Berlin, America/New_York)"),
                ));
            }
            if cron.split_whitespace().count() != 5 {
                return Err((
                    "schedule.cron",
                    format!("`{cron}` must have 5 fields: minute hour day-of-month month day-of-week"),
                ));
            }
            croner::parser::CronParser::new()
                .parse(cron)
                .map(|_| ())
                .map_err(|err| ("schedule.cron", format!("`{cron}`: {err}")))
        }
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 64
}

/// Splits `---\nyaml\n---\nbody` into the YAML and the body.
fn split_front_matter(text: &str) -> Result<(&str, &str), String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
        .ok_or_else(|| {
            "must start with a `---` line, then the YAML front matter, then another `---` line"
                .to_owned()
        })?;
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return Ok((&rest[..offset], &rest[offset + line.len()..]));
        }
        offset += line.len();
    }
    Err("the front matter has no closing `---` line".to_owned())
}

/// serde_yaml_ng appends "at line X column Y"; the caller reports the line
/// in its own words.
fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "---
skill_id: triage
display_name: Anomaly triage
version: 1.2.0
description: Triage anomalies.
schedule:
  cron: \"0 2 * * tue,fri\"
grants:
  db:
    read: [logstash-*]
  llm: true
  memory:
    keys: [triage.*]
    lists: [findings]
limits:
  timeout_ms: 5000
---
You are a triage analyst.
";

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(
            text,
            Path::new("skills-dist/triage/instruction.md"),
            Some("triage"),
        )
    }

    #[test]
    fn parses_a_complete_manifest() {
        let m = parse(GOOD).expect("valid");
        assert_eq!(m.skill_id, "triage");
        assert_eq!(m.version, semver::Version::new(1, 2, 0));
        assert_eq!(
            m.schedule.as_ref().map(Schedule::describe).as_deref(),
            Some("cron 0 2 * * tue,fri")
        );
        assert_eq!(m.grants.db.read, vec!["logstash-*".to_owned()]);
        assert!(m.grants.llm);
        assert_eq!(m.limits.timeout_ms, Some(5000));
        assert_eq!(m.instructions, "You are a triage analyst.");
    }

    #[test]
    fn unknown_key_names_file_key_and_line() {
        let text = GOOD.replace("  llm: true", "  llm: true\n  shell: true");
        let err = parse(&text).expect_err("unknown").to_string();
        assert!(
            err.starts_with("skills-dist/triage/instruction.md: "),
            "{err}"
        );
        assert!(err.contains("`grants.shell`"), "{err}");
        assert!(err.contains("unknown field `shell`"), "{err}");
        assert!(err.contains("line 12"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_key_and_the_expected_type() {
        let text = GOOD.replace("read: [logstash-*]", "read: logstash-*");
        let err = parse(&text).expect_err("wrong type").to_string();
        assert!(err.contains("`grants.db.read`"), "{err}");
        assert!(err.contains("expected a sequence"), "{err}");
    }

    #[test]
    fn bad_version_and_bad_cron_are_refused() {
        let err = parse(&GOOD.replace("1.2.0", "one"))
            .expect_err("version")
            .to_string();
        assert!(err.contains("`version`"), "{err}");
        let err = parse(&GOOD.replace("0 2 * * tue,fri", "0 25 * * *"))
            .expect_err("cron")
            .to_string();
        assert!(err.contains("`schedule.cron`"), "{err}");
        let err = parse(&GOOD.replace("0 2 * * tue,fri", "* * *"))
            .expect_err("cron fields")
            .to_string();
        assert!(err.contains("5 fields"), "{err}");
    }

    #[test]
    fn cron_time_zones_are_checked() {
        let berlin = GOOD.replace(
            "  cron: \"0 2 * * tue,fri\"",
            "  cron: \"0 2 * * tue,fri\"\n  timezone: Europe/Berlin",
        );
        assert!(parse(&berlin).is_ok());
        let mars = GOOD.replace(
            "  cron: \"0 2 * * tue,fri\"",
            "  cron: \"0 2 * * tue,fri\"\n  timezone: Mars/Olympus",
        );
        let err = parse(&mars).expect_err("zone").to_string();
        assert!(
            err.contains("`schedule.timezone`") && err.contains("IANA"),
            "{err}"
        );
    }

    #[test]
    fn folder_must_match_skill_id() {
        let err = Manifest::parse(GOOD, Path::new("x/instruction.md"), Some("other"))
            .expect_err("mismatch")
            .to_string();
        assert!(err.contains("does not match its folder `other`"), "{err}");
    }

    #[test]
    fn schedule_needs_exactly_one_kind() {
        let both = GOOD.replace("  cron:", "  interval_seconds: 60\n  cron:");
        assert!(
            parse(&both)
                .expect_err("both")
                .to_string()
                .contains("not both")
        );
        let interval = GOOD.replace("  cron: \"0 2 * * tue,fri\"", "  interval_seconds: 300");
        let m = parse(&interval).expect("interval");
        assert_eq!(m.schedule.expect("schedule").describe(), "every 300s");
    }

    #[test]
    fn missing_front_matter_is_explained() {
        let err = parse("# just markdown\n")
            .expect_err("no front matter")
            .to_string();
        assert!(err.contains("must start with a `---` line"), "{err}");
        let err = parse("---\nskill_id: x\n")
            .expect_err("unclosed")
            .to_string();
        assert!(err.contains("no closing `---`"), "{err}");
    }

    #[test]
    fn missing_required_field_is_named() {
        let err = parse(&GOOD.replace("description: Triage anomalies.\n", ""))
            .expect_err("missing")
            .to_string();
        assert!(err.contains("missing field `description`"), "{err}");
    }

    #[test]
    fn a_parameters_schema_is_compiled_when_the_manifest_is_read() {
        let with = GOOD.replace(
            "limits:\n",
            "parameters:\n  type: object\n  properties:\n    hours: {type: integer, minimum: 1, maximum: 24}\n  additionalProperties: false\nlimits:\n",
        );
        let manifest = parse(&with).expect("valid");
        let schema = manifest
            .parameter_schema()
            .expect("compiles")
            .expect("present");
        assert!(schema.check(&serde_json::json!({"hours": 6})).is_ok());
        assert!(schema.check(&serde_json::json!({"hours": 48})).is_err());
        for bad in [
            "parameters: {type: string}\n",
            "parameters:\n  type: object\n  properties: {a: {type: nothing}}\n",
        ] {
            let text = GOOD.replace("limits:\n", &format!("{bad}limits:\n"));
            let err = parse(&text).expect_err("refused").to_string();
            assert!(err.contains("`parameters`"), "{err}");
        }
    }

    #[test]
    fn grant_values_are_checked() {
        let err = parse(&GOOD.replace("[logstash-*]", "[_all]"))
            .expect_err("all")
            .to_string();
        assert!(err.contains("`grants.db.read`"), "{err}");
    }
}
