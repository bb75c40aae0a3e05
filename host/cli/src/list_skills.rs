//! `sc-host list-skills`: what is installed, read from manifests only.

use std::process::ExitCode;

use serde::Serialize;

use sc_core::config::Config;
use sc_runtime::registry::{self, ScannedSkill};

/// Flags of `list-skills`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One row of the listing.
#[derive(Debug, Serialize)]
pub struct SkillRow {
    /// Skill id (folder name).
    pub skill_id: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Version.
    pub version: Option<String>,
    /// `manual`, `every 300s` or `cron …`.
    pub schedule: Option<String>,
    /// Grants summary.
    pub grants: Option<String>,
    /// `ready`, `disabled` or `error`.
    pub status: &'static str,
    /// Why it cannot load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The JSON Schema of its parameters, when the manifest declares one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<serde_json::Value>,
}

/// The rows for the skills in `config.skills_dir`; `switches` are the
/// run-time switches the service recorded (they win over `skills.disabled`,
/// as they do in the service).
pub fn rows(
    config: &Config,
    scanned: &[ScannedSkill],
    switches: &std::collections::HashMap<String, bool>,
) -> Vec<SkillRow> {
    scanned
        .iter()
        .map(|skill| {
            let manifest = skill.manifest.as_ref().ok();
            let error = skill.problem();
            let disabled = !config
                .skills
                .is_enabled(&skill.folder, switches.get(&skill.folder).copied());
            SkillRow {
                skill_id: skill.folder.clone(),
                display_name: manifest.map(|m| m.display_name.clone()),
                version: manifest.map(|m| m.version.to_string()),
                schedule: manifest.map(|m| {
                    m.schedule
                        .as_ref()
                        .map_or_else(|| "manual".to_owned(), |s| s.describe())
                }),
                grants: manifest.map(|m| m.grants.summary()),
                status: match (&error, disabled) {
                    (Some(_), _) => "error",
                    (None, true) => "disabled",
                    (None, false) => "ready",
                },
                error,
                parameters: manifest.and_then(|m| m.parameters.clone()),
            }
        })
        .collect()
}

/// Runs `list-skills`.
pub fn run(config: &Config, args: &Args) -> anyhow::Result<ExitCode> {
    let scanned = registry::scan(&config.skills_dir).map_err(|err| {
        anyhow::anyhow!(
            "cannot read the skills folder {}: {err}; build the skills with `just skills` or set `skills_dir`",
            config.skills_dir.display()
        )
    })?;
    // What the service did (switched a skill off, refused a component that
    // does not compile or link) is only known to it; show it, the refusal
    // while the files are still the same.
    let state_db = config.data_dir.join("state.db");
    let recorded = sc_state::history::recorded_skills(&state_db).map_err(|err| {
        anyhow::anyhow!(
            "cannot read what the service recorded about skills in {}: {err}",
            state_db.display()
        )
    })?;
    let mut rows = rows(config, &scanned, &recorded.switches);
    for (row, skill) in rows.iter_mut().zip(&scanned) {
        if row.error.is_none()
            && let Some((fingerprint, error)) = recorded.load_errors.get(&skill.folder)
            && *fingerprint == skill.fingerprint()
        {
            row.status = "error";
            row.error = Some(format!("refused by the host: {error}"));
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render_table(&rows));
    Ok(ExitCode::SUCCESS)
}

/// The human table.
pub fn render_table(rows: &[SkillRow]) -> String {
    if rows.is_empty() {
        return "no skills installed\n".to_owned();
    }
    let dash = || "-".to_owned();
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                r.skill_id.clone(),
                r.version.clone().unwrap_or_else(dash),
                r.schedule.clone().unwrap_or_else(dash),
                r.grants.clone().unwrap_or_else(dash),
                match &r.error {
                    Some(err) => format!("error: {err}"),
                    None => r.status.to_owned(),
                },
            ]
        })
        .collect();
    let header = ["SKILL", "VERSION", "SCHEDULE", "GRANTS", "STATUS"];
    let mut widths = header.map(str::len);
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row.iter()).take(4) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cols: [&str; 5]| {
        for (i, col) in cols.iter().enumerate().take(4) {
            out.push_str(&format!("{col:<width$}  ", width = widths[i]));
        }
        out.push_str(cols[4]);
        out.push('\n');
    };
    line(header);
    for row in &cells {
        line([&row[0], &row[1], &row[2], &row[3], &row[4]]);
    }
    out
}
