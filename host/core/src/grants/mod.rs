//! What a skill may touch: the `grants` block of its manifest, and the one
//! place where every capability call is checked against it.
//!
//! Deny by default: an empty grant list allows nothing. A refusal says which
//! grant to add and in which file.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::CapabilityError;
pub use crate::memory::MemoryList;

mod files;

pub use files::{FileGrant, FileMode, FileMount};

/// The `grants` block of a manifest.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Grants {
    /// Index patterns for the `db` capability.
    pub db: DbGrants,
    /// Whether the skill may call the model (`llm`).
    pub llm: bool,
    /// Retrieval categories.
    pub rag: RagGrants,
    /// Shared-memory keys, lists and agent state.
    pub memory: MemoryGrants,
    /// Outbound HTTP hosts.
    pub http: HttpGrants,
    /// Secret names the skill may read through `config.secret`.
    pub secrets: Vec<String>,
    /// Folders under the data folder, preopened for the skill alone.
    pub files: Vec<FileGrant>,
}

impl Grants {
    /// One line of what the grants allow, as `list-skills` and the API
    /// show it: `db.read[logs-*] llm memory[x.*,findings]`, or `none`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.db.read.is_empty() {
            parts.push(format!("db.read[{}]", self.db.read.join(",")));
        }
        if !self.db.write.is_empty() {
            parts.push(format!("db.write[{}]", self.db.write.join(",")));
        }
        if self.llm {
            parts.push("llm".to_owned());
        }
        if !self.rag.categories.is_empty() {
            parts.push(format!("rag[{}]", self.rag.categories.join(",")));
        }
        let memory = &self.memory;
        if !memory.keys.is_empty() || !memory.lists.is_empty() || memory.agent_state {
            let mut items: Vec<String> = memory.keys.clone();
            items.extend(memory.lists.iter().map(|l| l.as_str().to_owned()));
            if memory.agent_state {
                items.push("agent_state".to_owned());
            }
            parts.push(format!("memory[{}]", items.join(",")));
        }
        if !self.http.hosts.is_empty() {
            parts.push(format!("http[{}]", self.http.hosts.join(",")));
        }
        if !self.secrets.is_empty() {
            parts.push(format!("secrets[{}]", self.secrets.join(",")));
        }
        if !self.files.is_empty() {
            let folders: Vec<String> = self
                .files
                .iter()
                .map(|f| format!("{}:{}", f.path, f.mode.as_str()))
                .collect();
            parts.push(format!("files[{}]", folders.join(",")));
        }
        if parts.is_empty() {
            "none".to_owned()
        } else {
            parts.join(" ")
        }
    }
}

/// `grants.db`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DbGrants {
    /// Index patterns the skill may search, count and aggregate.
    pub read: Vec<String>,
    /// Index patterns the skill may write to.
    pub write: Vec<String>,
}

/// `grants.rag`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RagGrants {
    /// Categories the skill may store and retrieve.
    pub categories: Vec<String>,
}

/// `grants.memory`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryGrants {
    /// Key patterns (`*` wildcards) the skill may read and write.
    pub keys: Vec<String>,
    /// Lists the skill may read and append to.
    pub lists: Vec<MemoryList>,
    /// Whether the skill may set the agent's focus and status.
    pub agent_state: bool,
}

/// `grants.http`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpGrants {
    /// Host names (`api.example.com`, or `*.example.com` for subdomains).
    pub hosts: Vec<String>,
}

/// A refused call: the text tells the skill author what to add.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

/// Why a requested name cannot be checked at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    /// The skill may not do this.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// The name itself is malformed.
    #[error("{0}")]
    InvalidInput(String),
}

/// A skill's grants together with what a refusal needs to say.
#[derive(Debug, Clone)]
pub struct GrantCheck {
    skill_id: String,
    manifest: PathBuf,
    grants: Grants,
}

impl GrantCheck {
    /// Grants of `skill_id`, whose manifest is at `manifest`.
    pub fn new(skill_id: impl Into<String>, manifest: PathBuf, grants: Grants) -> Self {
        Self {
            skill_id: skill_id.into(),
            manifest,
            grants,
        }
    }

    /// The grants themselves.
    pub fn grants(&self) -> &Grants {
        &self.grants
    }

    fn deny(&self, what: &str, add: &str, under: &str) -> Denied {
        Denied(format!(
            "skill `{}` may not {what}: add {add} under `{under}` in {}",
            self.skill_id,
            self.manifest.display()
        ))
    }

    /// May the skill read every index the pattern (or comma list) can match?
    pub fn db_read(&self, pattern: &str) -> Result<(), GrantError> {
        self.db_access(pattern, &self.grants.db.read, "read", "grants.db.read")
    }

    /// May the skill write to this index?
    pub fn db_write(&self, index: &str) -> Result<(), GrantError> {
        if index.contains('*') || index.contains(',') {
            return Err(GrantError::InvalidInput(format!(
                "`{index}`: writes go to one index; wildcards and lists are not allowed"
            )));
        }
        self.db_access(index, &self.grants.db.write, "write to", "grants.db.write")
    }

    fn db_access(
        &self,
        pattern: &str,
        granted: &[String],
        verb: &str,
        under: &str,
    ) -> Result<(), GrantError> {
        for part in pattern.split(',').map(str::trim) {
            validate_index_pattern(part).map_err(GrantError::InvalidInput)?;
            if !granted.iter().any(|grant| pattern_covers(grant, part)) {
                return Err(self
                    .deny(&format!("{verb} `{part}`"), &format!("`{part}`"), under)
                    .into());
            }
        }
        Ok(())
    }

    /// May the skill call the model?
    pub fn llm(&self) -> Result<(), Denied> {
        if self.grants.llm {
            return Ok(());
        }
        Err(self.deny("call the model", "`llm: true`", "grants"))
    }

    /// May the skill use this retrieval category?
    pub fn rag_category(&self, category: &str) -> Result<(), Denied> {
        if self.grants.rag.categories.iter().any(|c| c == category) {
            return Ok(());
        }
        Err(self.deny(
            &format!("use rag category `{category}`"),
            &format!("`{category}`"),
            "grants.rag.categories",
        ))
    }

    /// May the skill read and write this memory key?
    pub fn memory_key(&self, key: &str) -> Result<(), GrantError> {
        if key.is_empty() || key.len() > 256 || key.chars().any(char::is_control) {
            return Err(GrantError::InvalidInput(
                "memory keys are 1-256 printable characters".to_owned(),
            ));
        }
        if self
            .grants
            .memory
            .keys
            .iter()
            .any(|g| wildcard_match(g, key))
        {
            return Ok(());
        }
        Err(self
            .deny(
                &format!("use memory key `{key}`"),
                &format!("`{key}` (or a pattern such as `{}.*`)", self.skill_id),
                "grants.memory.keys",
            )
            .into())
    }

    /// May the skill read and append to this list?
    pub fn memory_list(&self, list: MemoryList) -> Result<(), Denied> {
        if self.grants.memory.lists.contains(&list) {
            return Ok(());
        }
        Err(self.deny(
            &format!("use the {} list", list.as_str()),
            &format!("`{}`", list.as_str()),
            "grants.memory.lists",
        ))
    }

    /// May the skill set the agent's focus and status?
    pub fn memory_agent_state(&self) -> Result<(), Denied> {
        if self.grants.memory.agent_state {
            return Ok(());
        }
        Err(self.deny(
            "set the agent's focus or status",
            "`agent_state: true`",
            "grants.memory",
        ))
    }

    /// May the skill send a request to this host?
    pub fn http_host(&self, host: &str) -> Result<(), Denied> {
        let host = host.to_ascii_lowercase();
        let allowed = self.grants.http.hosts.iter().any(|grant| {
            let grant = grant.to_ascii_lowercase();
            match grant.strip_prefix("*.") {
                Some(suffix) => host
                    .strip_suffix(suffix)
                    .is_some_and(|head| head.ends_with('.') && head.len() > 1),
                None => grant == host,
            }
        });
        if allowed {
            return Ok(());
        }
        Err(self.deny(
            &format!("send HTTP requests to `{host}`"),
            &format!("`{host}`"),
            "grants.http.hosts",
        ))
    }

    /// May the skill read this secret?
    pub fn secret(&self, name: &str) -> Result<(), Denied> {
        if self.grants.secrets.iter().any(|s| s == name) {
            return Ok(());
        }
        Err(self.deny(
            &format!("read secret `{name}`"),
            &format!("`{name}`"),
            "grants.secrets",
        ))
    }
}

impl From<Denied> for CapabilityError {
    fn from(denied: Denied) -> Self {
        Self::Denied(denied.0)
    }
}

impl From<GrantError> for CapabilityError {
    fn from(err: GrantError) -> Self {
        match err {
            GrantError::Denied(denied) => denied.into(),
            GrantError::InvalidInput(message) => Self::InvalidInput(message),
        }
    }
}

/// Checks an index name or pattern: what OpenSearch accepts, minus the
/// forms that would widen a grant (`_all`, exclusions, remote clusters).
pub fn validate_index_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("an index pattern is empty".to_owned());
    }
    if pattern == "_all" || pattern.starts_with('-') || pattern.starts_with('_') {
        return Err(format!(
            "`{pattern}`: `_all`, exclusions and names starting with `_` are not allowed; name the indices"
        ));
    }
    if let Some(bad) = pattern.chars().find(|c| {
        matches!(
            c,
            ' ' | '"' | '\\' | '/' | '?' | '#' | '<' | '>' | '|' | ':'
        ) || c.is_control()
    }) {
        return Err(format!("`{pattern}`: index names may not contain {bad:?}"));
    }
    if pattern.len() > 255 {
        return Err("an index pattern is longer than 255 characters".to_owned());
    }
    Ok(())
}

/// Does `grant` allow every name `requested` can match? Treating the `*`s of
/// `requested` as plain characters is sound: each of them has to be swallowed
/// by a `*` of the grant, which then swallows whatever it stands for.
pub fn pattern_covers(grant: &str, requested: &str) -> bool {
    wildcard_match(grant, requested)
}

/// `*` matches any run of characters (including none); everything else
/// matches itself.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            backtrack = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((star, matched)) = backtrack {
            pi = star + 1;
            ti = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(grants: Grants) -> GrantCheck {
        GrantCheck::new(
            "triage",
            PathBuf::from("skills-dist/triage/instruction.md"),
            grants,
        )
    }

    fn db(read: &[&str], write: &[&str]) -> GrantCheck {
        check(Grants {
            db: DbGrants {
                read: read.iter().map(|s| (*s).to_owned()).collect(),
                write: write.iter().map(|s| (*s).to_owned()).collect(),
            },
            ..Grants::default()
        })
    }

    #[test]
    fn nothing_is_granted_by_default() {
        let c = check(Grants::default());
        assert!(c.db_read("logs").is_err());
        assert!(c.db_write("logs").is_err());
        assert!(c.llm().is_err());
        assert!(c.rag_category("baseline").is_err());
        assert!(c.memory_key("x").is_err());
        assert!(c.memory_list(MemoryList::Findings).is_err());
        assert!(c.memory_agent_state().is_err());
        assert!(c.http_host("example.com").is_err());
        assert!(c.secret("KEY").is_err());
        let data = tempfile::tempdir().expect("tempdir");
        assert!(c.file_mounts(data.path()).expect("none").is_empty());
    }

    #[test]
    fn refusal_names_the_grant_and_the_file() {
        let err = db(&[], &[]).db_read("logstash-*").expect_err("denied");
        assert_eq!(
            err.to_string(),
            "skill `triage` may not read `logstash-*`: add `logstash-*` under `grants.db.read` in skills-dist/triage/instruction.md"
        );
    }

    #[test]
    fn wildcard_grant_covers_narrower_patterns_only() {
        let c = db(&["logstash-*"], &[]);
        assert!(c.db_read("logstash-2026.11.27").is_ok());
        assert!(c.db_read("logstash-2026*").is_ok());
        assert!(c.db_read("logstash-*").is_ok());
        assert!(c.db_read("logstash*").is_err(), "wider than the grant");
        assert!(c.db_read("*").is_err());
        assert!(c.db_read("other").is_err());
    }

    #[test]
    fn every_part_of_a_comma_list_must_be_granted() {
        let c = db(&["zeek-*"], &[]);
        assert!(c.db_read("zeek-conn,zeek-dns").is_ok());
        assert!(c.db_read("zeek-conn,secrets").is_err());
    }

    #[test]
    fn grant_widening_forms_are_invalid_input() {
        let c = db(&["*"], &["*"]);
        for bad in ["_all", "-zeek-*", ".kibana,_all", "a b", "remote:logs", ""] {
            assert!(
                matches!(c.db_read(bad), Err(GrantError::InvalidInput(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            c.db_write("logs-*"),
            Err(GrantError::InvalidInput(_))
        ));
        assert!(c.db_write("logs-1").is_ok());
    }

    #[test]
    fn read_grant_does_not_allow_writes() {
        let c = db(&["alerts"], &[]);
        assert!(c.db_read("alerts").is_ok());
        assert!(c.db_write("alerts").is_err());
    }

    #[test]
    fn memory_keys_match_patterns() {
        let c = check(Grants {
            memory: MemoryGrants {
                keys: vec!["triage.*".into(), "shared.focus_hosts".into()],
                lists: vec![MemoryList::Findings],
                agent_state: false,
            },
            ..Grants::default()
        });
        assert!(c.memory_key("triage.cursor").is_ok());
        assert!(c.memory_key("shared.focus_hosts").is_ok());
        assert!(c.memory_key("other.cursor").is_err());
        assert!(c.memory_key("triage").is_err());
        assert!(matches!(c.memory_key(""), Err(GrantError::InvalidInput(_))));
        assert!(c.memory_list(MemoryList::Findings).is_ok());
        assert!(c.memory_list(MemoryList::Escalations).is_err());
    }

    #[test]
    fn http_hosts_match_exactly_or_by_subdomain() {
        let c = check(Grants {
            http: HttpGrants {
                hosts: vec!["api.abuseipdb.com".into(), "*.example.org".into()],
            },
            ..Grants::default()
        });
        assert!(c.http_host("api.abuseipdb.com").is_ok());
        assert!(c.http_host("API.AbuseIPDB.com").is_ok());
        assert!(c.http_host("evil-api.abuseipdb.com").is_err());
        assert!(c.http_host("a.example.org").is_ok());
        assert!(c.http_host("example.org").is_err());
        assert!(c.http_host("badexample.org").is_err());
    }

    #[test]
    fn the_summary_lists_every_grant_in_one_line() {
        assert_eq!(Grants::default().summary(), "none");
        let grants = Grants {
            db: DbGrants {
                read: vec!["logs-*".into()],
                write: vec!["findings".into()],
            },
            llm: true,
            memory: MemoryGrants {
                keys: vec!["x.*".into()],
                lists: vec![MemoryList::Findings],
                agent_state: true,
            },
            secrets: vec!["KEY".into()],
            files: vec![FileGrant {
                path: "geoip".into(),
                mode: FileMode::Ro,
            }],
            ..Grants::default()
        };
        assert_eq!(
            grants.summary(),
            "db.read[logs-*] db.write[findings] llm memory[x.*,findings,agent_state] secrets[KEY] files[geoip:ro]"
        );
    }

    #[test]
    fn wildcard_matching() {
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(!wildcard_match("a*b*c", "aXXbYY"));
        assert!(wildcard_match("*-*", "zeek-conn"));
        assert!(!wildcard_match("abc", "abcd"));
        assert!(wildcard_match("ab**", "ab"));
    }
}
