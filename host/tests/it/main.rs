//! Integration tests of the skill host: real components built from source
//! (`just skills fixtures`), real SQLite, the real `sc-host` binary.

mod cli;
mod hostile;
mod registry;
mod support;
