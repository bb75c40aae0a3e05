//! An IP-to-ASN range table in one file, built once at install time from
//! the `start,end,asn,org` CSV ranges that `@ip-location-db/asn` ships, and
//! read by binary search through positioned reads: a lookup reads the
//! header, a small index and one block of a few KiB, never the whole file.
//! A skill component reads it through WASI, where every read is a host
//! call and a 30 MB file read whole would cost more than every lookup.
//!
//! Layout (little-endian):
//!
//! ```text
//! header   magic "SCASN\0" + format u16, then v4 count, v6 count,
//!          index stride, org bytes (4 × u32)                      24 bytes
//! v4 index the start of every stride-th v4 range        u32 × ceil(n4 / stride)
//! v6 index the start of every stride-th v6 range       u128 × ceil(n6 / stride)
//! v4 rows  start u32, end u32, asn u32, org offset u32           16 bytes each
//! v6 rows  start u128, end u128, asn u32, org offset u32         40 bytes each
//! orgs     u16 length + UTF-8, deduplicated
//! ```
//!
//! Rows are sorted by start and do not overlap.

use std::io::{self, Read, Seek, SeekFrom};
use std::net::IpAddr;

#[cfg(feature = "build")]
mod build;
#[cfg(feature = "build")]
pub use build::{BuildError, BuildStats, build};

/// The first bytes of a table file.
pub const MAGIC: &[u8; 6] = b"SCASN\0";
/// The layout version this crate reads and writes.
pub const FORMAT: u16 = 1;
/// Rows per index entry: one block read per lookup (1 KiB of v4 rows).
pub const STRIDE: u32 = 64;

const HEADER_LEN: u64 = 24;
const V4_ROW: u64 = 16;
const V6_ROW: u64 = 40;

/// What the table says about an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asn {
    /// The autonomous system number.
    pub number: u32,
    /// The organisation that holds it ("" when the source named none).
    pub organization: String,
    /// The first address of the range the address is in.
    pub first: IpAddr,
    /// The last address of that range.
    pub last: IpAddr,
}

/// Why a table could not be read.
#[derive(Debug)]
pub enum TableError {
    /// Reading the file failed.
    Io(io::Error),
    /// The file is not a table of this format, or is cut short.
    Corrupt(String),
}

impl std::fmt::Display for TableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(e) => write!(f, "reading the ASN table failed: {e}"),
            Self::Corrupt(why) => write!(f, "the ASN table is corrupt: {why}"),
        }
    }
}

impl std::error::Error for TableError {}

impl From<io::Error> for TableError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            Self::Corrupt("the file ends early".to_owned())
        } else {
            Self::Io(e)
        }
    }
}

/// The header's counts and where each part starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    v4: u64,
    v6: u64,
    stride: u64,
    orgs_len: u64,
    v4_index: u64,
    v6_index: u64,
    v4_rows: u64,
    v6_rows: u64,
    orgs: u64,
}

impl Layout {
    fn new(v4: u64, v6: u64, stride: u64, orgs_len: u64) -> Self {
        let v4_index = HEADER_LEN;
        let v6_index = v4_index + v4.div_ceil(stride) * 4;
        let v4_rows = v6_index + v6.div_ceil(stride) * 16;
        let v6_rows = v4_rows + v4 * V4_ROW;
        let orgs = v6_rows + v6 * V6_ROW;
        Self {
            v4,
            v6,
            stride,
            orgs_len,
            v4_index,
            v6_index,
            v4_rows,
            v6_rows,
            orgs,
        }
    }

    fn file_len(&self) -> u64 {
        self.orgs + self.orgs_len
    }
}

/// An open table over any positioned reader (a file, or bytes in memory).
#[derive(Debug)]
pub struct Table<R> {
    reader: R,
    layout: Layout,
    /// Each version's index, read on its first lookup.
    v4_index: Option<Vec<u32>>,
    v6_index: Option<Vec<u128>>,
}

impl<R: Read + Seek> Table<R> {
    /// Reads and checks the header.
    pub fn open(mut reader: R) -> Result<Self, TableError> {
        let mut header = [0u8; HEADER_LEN as usize];
        reader.seek(SeekFrom::Start(0))?;
        reader.read_exact(&mut header)?;
        if &header[..6] != MAGIC {
            return Err(TableError::Corrupt(
                "it does not start with SCASN".to_owned(),
            ));
        }
        let format = u16::from_le_bytes([header[6], header[7]]);
        if format != FORMAT {
            return Err(TableError::Corrupt(format!(
                "format {format}, this reader knows {FORMAT}: pull the database again"
            )));
        }
        let word = |i: usize| {
            u64::from(u32::from_le_bytes([
                header[i],
                header[i + 1],
                header[i + 2],
                header[i + 3],
            ]))
        };
        let (v4, v6, stride, orgs_len) = (word(8), word(12), word(16), word(20));
        if stride == 0 {
            return Err(TableError::Corrupt("its index stride is 0".to_owned()));
        }
        let layout = Layout::new(v4, v6, stride, orgs_len);
        let len = reader.seek(SeekFrom::End(0))?;
        if len != layout.file_len() {
            return Err(TableError::Corrupt(format!(
                "{len} bytes where its header says {}",
                layout.file_len()
            )));
        }
        Ok(Self {
            reader,
            layout,
            v4_index: None,
            v6_index: None,
        })
    }

    /// Ranges of IPv4 and of IPv6 in the table.
    pub fn counts(&self) -> (u64, u64) {
        (self.layout.v4, self.layout.v6)
    }

    fn read_at(&mut self, at: u64, buf: &mut [u8]) -> Result<(), TableError> {
        self.reader.seek(SeekFrom::Start(at))?;
        self.reader.read_exact(buf)?;
        Ok(())
    }

    /// The range holding `ip`, if any. An IPv4-mapped IPv6 address is
    /// looked up as IPv4.
    pub fn lookup(&mut self, ip: IpAddr) -> Result<Option<Asn>, TableError> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match ip {
            IpAddr::V4(v4) => self.lookup_v4(u32::from(v4)),
            IpAddr::V6(v6) => self.lookup_v6(u128::from(v6)),
        }
    }

    fn lookup_v4(&mut self, ip: u32) -> Result<Option<Asn>, TableError> {
        let layout = self.layout;
        if layout.v4 == 0 {
            return Ok(None);
        }
        if self.v4_index.is_none() {
            let mut raw = vec![0u8; (layout.v4.div_ceil(layout.stride) * 4) as usize];
            self.read_at(layout.v4_index, &mut raw)?;
            self.v4_index = Some(
                raw.chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            );
        }
        let index = self.v4_index.as_deref().unwrap_or_default();
        // The last block starting at or before the address.
        let Some(block) = index.partition_point(|start| *start <= ip).checked_sub(1) else {
            return Ok(None);
        };
        let first_row = block as u64 * layout.stride;
        let rows = layout.stride.min(layout.v4 - first_row);
        let mut raw = vec![0u8; (rows * V4_ROW) as usize];
        self.read_at(layout.v4_rows + first_row * V4_ROW, &mut raw)?;
        let row = |c: &[u8], i: usize| u32::from_le_bytes([c[i], c[i + 1], c[i + 2], c[i + 3]]);
        let found = raw
            .chunks_exact(V4_ROW as usize)
            .take_while(|c| row(c, 0) <= ip)
            .last()
            .filter(|c| ip <= row(c, 4))
            .map(|c| (row(c, 0), row(c, 4), row(c, 8), row(c, 12)));
        let Some((start, end, number, org)) = found else {
            return Ok(None);
        };
        let organization = self.org(u64::from(org))?;
        Ok(Some(Asn {
            number,
            organization,
            first: IpAddr::from(start.to_be_bytes()),
            last: IpAddr::from(end.to_be_bytes()),
        }))
    }

    fn lookup_v6(&mut self, ip: u128) -> Result<Option<Asn>, TableError> {
        let layout = self.layout;
        if layout.v6 == 0 {
            return Ok(None);
        }
        if self.v6_index.is_none() {
            let mut raw = vec![0u8; (layout.v6.div_ceil(layout.stride) * 16) as usize];
            self.read_at(layout.v6_index, &mut raw)?;
            self.v6_index = Some(raw.chunks_exact(16).map(u128_at).collect());
        }
        let index = self.v6_index.as_deref().unwrap_or_default();
        let Some(block) = index.partition_point(|start| *start <= ip).checked_sub(1) else {
            return Ok(None);
        };
        let first_row = block as u64 * layout.stride;
        let rows = layout.stride.min(layout.v6 - first_row);
        let mut raw = vec![0u8; (rows * V6_ROW) as usize];
        self.read_at(layout.v6_rows + first_row * V6_ROW, &mut raw)?;
        let word = |c: &[u8], i: usize| u32::from_le_bytes([c[i], c[i + 1], c[i + 2], c[i + 3]]);
        let found = raw
            .chunks_exact(V6_ROW as usize)
            .take_while(|c| u128_at(&c[..16]) <= ip)
            .last()
            .filter(|c| ip <= u128_at(&c[16..32]))
            .map(|c| {
                (
                    u128_at(&c[..16]),
                    u128_at(&c[16..32]),
                    word(c, 32),
                    word(c, 36),
                )
            });
        let Some((start, end, number, org)) = found else {
            return Ok(None);
        };
        let organization = self.org(u64::from(org))?;
        Ok(Some(Asn {
            number,
            organization,
            first: IpAddr::from(start.to_be_bytes()),
            last: IpAddr::from(end.to_be_bytes()),
        }))
    }

    fn org(&mut self, offset: u64) -> Result<String, TableError> {
        let layout = self.layout;
        if offset + 2 > layout.orgs_len {
            return Err(TableError::Corrupt(format!(
                "an organisation offset {offset} is past the names"
            )));
        }
        let mut len = [0u8; 2];
        self.read_at(layout.orgs + offset, &mut len)?;
        let len = u64::from(u16::from_le_bytes(len));
        if offset + 2 + len > layout.orgs_len {
            return Err(TableError::Corrupt(
                "an organisation name runs past the end".to_owned(),
            ));
        }
        let mut name = vec![0u8; len as usize];
        self.read_at(layout.orgs + offset + 2, &mut name)?;
        String::from_utf8(name)
            .map_err(|_| TableError::Corrupt("an organisation name is not UTF-8".to_owned()))
    }
}

fn u128_at(c: &[u8]) -> u128 {
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&c[..16]);
    u128::from_le_bytes(bytes)
}
