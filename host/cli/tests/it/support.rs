//! What several test files share: the `sc-host` command as a test starts
//! it, and a free port for a service.

use std::path::Path;
use std::process::Command;

/// `sc-host --config <config> --log-level error`, without the `SC_*`
/// folder variables of the environment the tests run in.
pub fn sc_host_command(config: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sc-host"));
    command
        .arg("--config")
        .arg(config)
        .args(["--log-level", "error"])
        .env_remove("SC_SKILLS_DIR")
        .env_remove("SC_DATA_DIR");
    command
}

/// A loopback port nothing listens on (for `service --bind`).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}
