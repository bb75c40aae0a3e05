//! `sc-host audit verify`: checks the audit trail's hash chain.

use std::process::ExitCode;

use sc_core::config::Config;
use sc_state::audit::{AuditLog, Verification};

/// Subcommands of `audit`.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Check every record's hash and link; report the first broken link.
    Verify,
}

/// Runs `audit verify`; exit 1 when the chain is broken.
pub fn run(config: &Config, command: &AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify => {
            let path = config.data_dir.join("state.db");
            if !path.exists() {
                println!("no audit trail yet ({} does not exist)", path.display());
                return Ok(ExitCode::SUCCESS);
            }
            let log = AuditLog::open(&path)?;
            match log.verify()? {
                Verification::Intact { records } => {
                    println!(
                        "audit trail intact: {records} records verified ({})",
                        path.display()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Verification::Broken { id, reason } => {
                    println!(
                        "audit trail BROKEN at record {id}: {reason} ({})",
                        path.display()
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}
