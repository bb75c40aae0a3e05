//! Integration tests of the `sc-host` binary: real components built from
//! source (`just skills fixtures`), real SQLite, the test clusters, the
//! shared datasets, each command as a user types it.

mod cli;
mod datasets;
mod detection;
mod geoip;
mod investigation;
mod reputation;
mod sigma;
mod support;

mod ingest;
