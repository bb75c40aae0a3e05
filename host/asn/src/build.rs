//! Building a table from `start,end,asn,org` CSV ranges (addresses as
//! text, as `asn-ipv4.csv` and `asn-ipv6.csv` give them).

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::IpAddr;

use crate::{FORMAT, Layout, MAGIC, STRIDE};

/// Why a table could not be built.
#[derive(Debug)]
pub enum BuildError {
    /// A CSV row could not be used; `line` counts from 1.
    Row {
        /// Which input (`ipv4` or `ipv6`).
        input: &'static str,
        /// The row's line.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// Writing the table failed.
    Io(io::Error),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Row {
                input,
                line,
                reason,
            } => write!(f, "ASN {input} CSV line {line}: {reason}"),
            Self::Io(e) => write!(f, "writing the ASN table failed: {e}"),
        }
    }
}

impl std::error::Error for BuildError {}

/// What went into a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildStats {
    /// IPv4 ranges.
    pub v4: u64,
    /// IPv6 ranges.
    pub v6: u64,
    /// Distinct organisation names.
    pub organizations: u64,
    /// Rows cut or dropped because they overlapped another.
    pub overlaps: u64,
}

struct Row<T> {
    start: T,
    end: T,
    asn: u32,
    org: u32,
}

/// Interns organisation names as offsets into one byte string.
#[derive(Default)]
struct Orgs {
    bytes: Vec<u8>,
    offsets: HashMap<String, u32>,
}

impl Orgs {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(at) = self.offsets.get(name) {
            return *at;
        }
        // Names past 64 KiB are cut at a character boundary.
        let mut end = name.len().min(usize::from(u16::MAX));
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        let at = self.bytes.len() as u32;
        self.bytes.extend_from_slice(&(end as u16).to_le_bytes());
        self.bytes.extend_from_slice(&name.as_bytes()[..end]);
        self.offsets.insert(name.to_owned(), at);
        at
    }
}

fn rows<T: Ord + Copy>(
    input: &'static str,
    csv_text: impl Read,
    orgs: &mut Orgs,
    address: impl Fn(IpAddr) -> Option<T>,
) -> Result<Vec<Row<T>>, BuildError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(csv_text);
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i as u64 + 1;
        let bad = |reason: String| BuildError::Row {
            input,
            line,
            reason,
        };
        let record = record.map_err(|e| bad(e.to_string()))?;
        if record.len() < 3 {
            return Err(bad(format!(
                "{} fields where start,end,asn,org were expected",
                record.len()
            )));
        }
        let ip = |field: &str| -> Result<T, BuildError> {
            field
                .trim()
                .parse::<IpAddr>()
                .ok()
                .and_then(&address)
                .ok_or_else(|| bad(format!("`{field}` is not an {input} address")))
        };
        let (start, end) = (ip(&record[0])?, ip(&record[1])?);
        if end < start {
            return Err(bad("the range ends before it starts".to_owned()));
        }
        let asn = record[2]
            .trim()
            .parse::<u32>()
            .map_err(|_| bad(format!("`{}` is not an AS number", &record[2])))?;
        let org = orgs.intern(record.get(3).unwrap_or_default().trim());
        out.push(Row {
            start,
            end,
            asn,
            org,
        });
    }
    out.sort_by_key(|r| r.start);
    Ok(out)
}

/// Makes sorted rows disjoint: where a range starts inside the one before
/// it (real sources have a few, e.g. a provider's block inside its
/// parent's), the later, more specific range keeps the shared addresses
/// and the earlier one ends just before it; a range wholly inside an
/// earlier one that starts at the same address is dropped. Answers how
/// many rows were cut or dropped.
fn disjoint<T: Ord + Copy>(rows: &mut Vec<Row<T>>, before: impl Fn(T) -> T) -> u64 {
    let mut fixed = 0;
    let mut out: Vec<Row<T>> = Vec::with_capacity(rows.len());
    for row in rows.drain(..) {
        if let Some(last) = out.last_mut()
            && row.start <= last.end
        {
            fixed += 1;
            if row.start == last.start {
                continue;
            }
            last.end = before(row.start);
        }
        out.push(row);
    }
    *rows = out;
    fixed
}

/// Builds a table from the IPv4 and IPv6 CSVs and writes it to `out`.
pub fn build(
    v4_csv: impl Read,
    v6_csv: impl Read,
    mut out: impl Write,
) -> Result<BuildStats, BuildError> {
    let mut orgs = Orgs::default();
    let mut v4 = rows("ipv4", v4_csv, &mut orgs, |ip| match ip {
        IpAddr::V4(v4) => Some(u32::from(v4)),
        IpAddr::V6(_) => None,
    })?;
    let mut v6 = rows("ipv6", v6_csv, &mut orgs, |ip| match ip {
        IpAddr::V6(v6) => Some(u128::from(v6)),
        IpAddr::V4(_) => None,
    })?;
    // A start is never 0 inside another range, so `- 1` cannot wrap.
    let overlaps = disjoint(&mut v4, |start| start - 1) + disjoint(&mut v6, |start| start - 1);
    let layout = Layout::new(
        v4.len() as u64,
        v6.len() as u64,
        u64::from(STRIDE),
        orgs.bytes.len() as u64,
    );
    let count = |n: u64| {
        u32::try_from(n).map_err(|_| BuildError::Io(io::Error::other("more than 4 billion rows")))
    };
    let mut bytes = Vec::with_capacity(layout.file_len() as usize);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT.to_le_bytes());
    for n in [layout.v4, layout.v6, layout.stride, layout.orgs_len] {
        bytes.extend_from_slice(&count(n)?.to_le_bytes());
    }
    for row in v4.iter().step_by(STRIDE as usize) {
        bytes.extend_from_slice(&row.start.to_le_bytes());
    }
    for row in v6.iter().step_by(STRIDE as usize) {
        bytes.extend_from_slice(&row.start.to_le_bytes());
    }
    for row in &v4 {
        for word in [row.start, row.end, row.asn, row.org] {
            bytes.extend_from_slice(&word.to_le_bytes());
        }
    }
    for row in &v6 {
        bytes.extend_from_slice(&row.start.to_le_bytes());
        bytes.extend_from_slice(&row.end.to_le_bytes());
        bytes.extend_from_slice(&row.asn.to_le_bytes());
        bytes.extend_from_slice(&row.org.to_le_bytes());
    }
    bytes.extend_from_slice(&orgs.bytes);
    debug_assert_eq!(bytes.len() as u64, layout.file_len());
    out.write_all(&bytes).map_err(BuildError::Io)?;
    Ok(BuildStats {
        v4: layout.v4,
        v6: layout.v6,
        organizations: orgs.offsets.len() as u64,
        overlaps,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::{Table, TableError};

    const V4: &str = "1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n\
                      1.0.4.0,1.0.7.255,38803,Gtelecom Pty Ltd\n\
                      8.8.8.0,8.8.8.255,15169,Google LLC\n";
    const V6: &str = "2001:4860::,2001:4860:ffff:ffff:ffff:ffff:ffff:ffff,15169,Google LLC\n";

    fn table(v4: &str, v6: &str) -> Table<Cursor<Vec<u8>>> {
        let mut out = Vec::new();
        build(v4.as_bytes(), v6.as_bytes(), &mut out).expect("builds");
        Table::open(Cursor::new(out)).expect("opens")
    }

    fn asn(t: &mut Table<Cursor<Vec<u8>>>, ip: &str) -> Option<(u32, String)> {
        t.lookup(ip.parse().expect("ip"))
            .expect("reads")
            .map(|a| (a.number, a.organization))
    }

    #[test]
    fn addresses_are_found_in_their_range_and_nowhere_else() {
        let mut t = table(V4, V6);
        assert_eq!(t.counts(), (3, 1));
        assert_eq!(
            asn(&mut t, "1.0.0.1"),
            Some((13335, "Cloudflare, Inc.".into()))
        );
        assert_eq!(
            asn(&mut t, "1.0.7.255"),
            Some((38803, "Gtelecom Pty Ltd".into()))
        );
        assert_eq!(asn(&mut t, "1.0.1.0"), None, "between ranges");
        assert_eq!(asn(&mut t, "0.255.255.255"), None, "before the first");
        assert_eq!(asn(&mut t, "9.0.0.0"), None, "after the last");
        assert_eq!(
            asn(&mut t, "2001:4860:4860::8888"),
            Some((15169, "Google LLC".into()))
        );
        assert_eq!(
            asn(&mut t, "::ffff:8.8.8.8"),
            Some((15169, "Google LLC".into())),
            "mapped"
        );
        assert_eq!(asn(&mut t, "2001:db8::1"), None);
        let found = t
            .lookup("8.8.8.8".parse().expect("ip"))
            .expect("reads")
            .expect("found");
        assert_eq!(found.first, "8.8.8.0".parse::<IpAddr>().expect("ip"));
        assert_eq!(found.last, "8.8.8.255".parse::<IpAddr>().expect("ip"));
    }

    #[test]
    fn many_blocks_are_searched_right() {
        // 1,000 ranges of 16 addresses with gaps, over 16 index blocks.
        let v4: String = (0..1_000u32)
            .map(|i| {
                let start = std::net::Ipv4Addr::from(0x0a00_0000 + i * 32);
                let end = std::net::Ipv4Addr::from(0x0a00_0000 + i * 32 + 15);
                format!("{start},{end},{},org {}\n", 64_000 + i, i % 7)
            })
            .collect();
        let mut t = table(&v4, "");
        for i in [0u32, 63, 64, 65, 511, 999] {
            let inside = std::net::Ipv4Addr::from(0x0a00_0000 + i * 32 + 7).to_string();
            assert_eq!(
                asn(&mut t, &inside),
                Some((64_000 + i, format!("org {}", i % 7))),
                "{inside}"
            );
            let gap = std::net::Ipv4Addr::from(0x0a00_0000 + i * 32 + 20).to_string();
            assert_eq!(asn(&mut t, &gap), None, "{gap}");
        }
    }

    #[test]
    fn bad_rows_name_their_line() {
        let mut out = Vec::new();
        let err = build(
            "1.0.0.0,1.0.0.255,13335,x\nnot-an-ip,1.0.0.1,1,y\n".as_bytes(),
            "".as_bytes(),
            &mut out,
        )
        .expect_err("bad row");
        assert!(err.to_string().contains("ipv4 CSV line 2"), "{err}");
        let err = build("1.0.0.9,1.0.0.1,1,x\n".as_bytes(), "".as_bytes(), &mut out)
            .expect_err("backwards");
        assert!(err.to_string().contains("ends before it starts"), "{err}");
    }

    #[test]
    fn a_damaged_file_is_corrupt_never_a_wrong_answer() {
        let mut out = Vec::new();
        build(V4.as_bytes(), V6.as_bytes(), &mut out).expect("builds");
        let cut = out[..out.len() - 3].to_vec();
        assert!(matches!(
            Table::open(Cursor::new(cut)),
            Err(TableError::Corrupt(_))
        ));
        assert!(matches!(
            Table::open(Cursor::new(b"GIF89a".to_vec())),
            Err(TableError::Corrupt(_))
        ));
        let mut wrong_format = out.clone();
        wrong_format[6] = 9;
        let err = Table::open(Cursor::new(wrong_format)).expect_err("format");
        assert!(err.to_string().contains("format 9"), "{err}");
    }
}
