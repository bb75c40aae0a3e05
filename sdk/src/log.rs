//! Structured logging into the host's log, tagged with the skill id.

use crate::host;

pub use crate::__bindings::securityclaw::skill::log::Level;

/// Writes a line with `key = value` fields.
pub fn write(level: Level, message: &str, fields: &[(&str, &str)]) {
    let fields: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    host::with(|h| h.log_write(level, message, &fields));
}

/// Debug line.
pub fn debug(message: &str) {
    write(Level::Debug, message, &[]);
}

/// Info line.
pub fn info(message: &str) {
    write(Level::Info, message, &[]);
}

/// Warning line.
pub fn warn(message: &str) {
    write(Level::Warn, message, &[]);
}

/// Error line.
pub fn error(message: &str) {
    write(Level::Error, message, &[]);
}
