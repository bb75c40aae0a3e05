//! `sc-host validate-config`: checks config.yaml and every skill manifest,
//! printing each problem with its location.

use std::process::ExitCode;

use super::Cli;
use sc_runtime::registry;

/// Runs `validate-config`; exit 1 when anything is wrong.
pub fn run(cli: &Cli) -> ExitCode {
    let loaded = match cli.load_config() {
        Ok(loaded) => loaded,
        Err(err) => {
            println!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let source = loaded.file.as_ref().map_or_else(
        || "defaults (no config file)".to_owned(),
        |f| f.display().to_string(),
    );
    println!("ok: {source}");
    for warning in &loaded.warnings {
        println!("warning: {warning}");
    }
    let dir = &loaded.config.skills_dir;
    let scanned = match registry::scan(dir) {
        Ok(scanned) => scanned,
        Err(err) => {
            println!(
                "error: cannot read the skills folder {}: {err}",
                dir.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let mut problems = 0;
    for skill in &scanned {
        match skill.problem() {
            Some(problem) => {
                problems += 1;
                println!("error: {problem}");
            }
            None => println!("ok: {}", skill.manifest_path().display()),
        }
    }
    for id in &loaded.config.skills.disabled {
        if !scanned.iter().any(|s| &s.folder == id) {
            println!("warning: `skills.disabled` names `{id}`, which is not installed");
        }
    }
    if problems > 0 {
        println!("{problems} problem(s) found");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
