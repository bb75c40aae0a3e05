//! Log formats and telling them apart from a file's first bytes.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::str::FromStr;

use serde_json::{Map, Value};

use crate::IngestError;
use crate::lines::{JsonArraySplitter, Unit};

/// A log format, as named on the command line (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// Look at the file and pick one of the others (see [`detect`]).
    #[default]
    Auto,
    /// Zeek's tab-separated logs with `#separator`/`#fields`/`#types` headers.
    Zeek,
    /// Zeek's JSON logs: one object per line, Zeek field names (`id.orig_h`, `uid`, …).
    ZeekJson,
    /// Suricata's eve.json: one object per line with an `event_type`.
    Suricata,
    /// Windows XML event log files (`.evtx`).
    Evtx,
    /// Newline-delimited JSON that is already ECS (has `@timestamp`).
    Ndjson,
}

impl Format {
    /// The command-line name of the format.
    pub fn name(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Zeek => "zeek",
            Format::ZeekJson => "zeek-json",
            Format::Suricata => "suricata",
            Format::Evtx => "evtx",
            Format::Ndjson => "ndjson",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = IngestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Format::Auto),
            "zeek" => Ok(Format::Zeek),
            "zeek-json" | "zeek_json" | "zeekjson" => Ok(Format::ZeekJson),
            "suricata" | "eve" => Ok(Format::Suricata),
            "evtx" => Ok(Format::Evtx),
            "ndjson" | "ecs" => Ok(Format::Ndjson),
            _ => Err(IngestError::InvalidFormatName(s.to_owned())),
        }
    }
}

/// How many bytes detection looks at, at most: enough for any real first line, and a bound
/// so that a binary file without newlines is not read whole.
const SNIFF_LIMIT: u64 = 1 << 20;

/// The magic at the start of every EVTX file.
const EVTX_MAGIC: &[u8; 8] = b"ElfFile\0";

/// Tell the format of the file at `path` from its name and first bytes.
///
/// In order: a `.evtx` name or the `ElfFile` magic is EVTX; a first non-empty line starting
/// with `#separator` (or `#fields`) is Zeek TSV; otherwise the first JSON object (the first
/// line, or the first element when the file is a JSON array) decides: `event_type` is
/// Suricata, `id.orig_h` or `_path` is Zeek JSON, `@timestamp` is NDJSON, and then `uid` or
/// a numeric `ts` is Zeek JSON.
/// Anything else is [`IngestError::UnknownFormat`], whose message names `--format`.
pub fn detect(path: &Path) -> Result<Format, IngestError> {
    let io_err = |source| IngestError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let is_evtx_name = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("evtx"));
    let mut reader = BufReader::new(file.take(SNIFF_LIMIT));
    let head = reader.fill_buf().map_err(io_err)?;
    if is_evtx_name || head.starts_with(EVTX_MAGIC) {
        return Ok(Format::Evtx);
    }
    let unknown = |hint: String| IngestError::UnknownFormat {
        path: path.to_owned(),
        hint,
    };

    let first = first_non_empty_line(&mut reader).map_err(io_err)?;
    let Some(first) = first else {
        return Err(unknown("the file is empty".into()));
    };
    let first = first.trim_start_matches('\u{feff}').trim();
    if first.starts_with("#separator") || first.starts_with("#fields") {
        return Ok(Format::Zeek);
    }
    let object = if first.starts_with('[') {
        first_array_element(first, &mut reader).map_err(io_err)?
    } else {
        serde_json::from_str::<Map<String, Value>>(first).ok()
    };
    let Some(object) = object else {
        let shown: String = first.chars().take(60).collect();
        return Err(unknown(format!(
            "the first line is neither a Zeek header nor a JSON object: `{shown}`"
        )));
    };
    classify_json(&object).ok_or_else(|| {
        let keys: Vec<&str> = object.keys().take(8).map(String::as_str).collect();
        unknown(format!(
            "a JSON object with keys [{}] has no `event_type` (Suricata), `id.orig_h`/`uid`/numeric `ts` (Zeek) or `@timestamp` (ECS)",
            keys.join(", ")
        ))
    })
}

/// Which JSON format an object belongs to, if any.
pub(crate) fn classify_json(object: &Map<String, Value>) -> Option<Format> {
    let has = |key| object.contains_key(key);
    if has("event_type") {
        Some(Format::Suricata)
    } else if has("id.orig_h") || has("_path") {
        Some(Format::ZeekJson)
    } else if has("@timestamp") {
        Some(Format::Ndjson)
    } else if has("uid") || object.get("ts").is_some_and(Value::is_number) {
        // Zeek's epoch-seconds `ts`: notice and weird records may have no connection id.
        Some(Format::ZeekJson)
    } else {
        None
    }
}

/// The first line with something other than whitespace, lossily decoded (detection only
/// needs to recognise ASCII markers).
fn first_non_empty_line(reader: &mut impl BufRead) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&buf);
        if !text.trim().is_empty() {
            return Ok(Some(text.into_owned()));
        }
    }
}

/// The first element of a JSON array that starts on `first` and may go on over more lines.
fn first_array_element(
    first: &str,
    reader: &mut impl BufRead,
) -> std::io::Result<Option<Map<String, Value>>> {
    let mut splitter = JsonArraySplitter::default();
    let mut line = first.as_bytes().to_vec();
    let mut line_no = 1;
    loop {
        splitter.feed(&line, line_no);
        if let Some(unit) = splitter.pop() {
            return Ok(match unit {
                Unit::Text { raw, .. } => serde_json::from_slice(&raw).ok(),
                Unit::Bad { .. } => None,
            });
        }
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        line_no += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn sample(name: &str, content: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        File::create(&path).unwrap().write_all(content).unwrap();
        (dir, path)
    }

    #[test]
    fn names_round_trip() {
        for f in [
            Format::Auto,
            Format::Zeek,
            Format::ZeekJson,
            Format::Suricata,
            Format::Evtx,
            Format::Ndjson,
        ] {
            assert_eq!(f.to_string().parse::<Format>().unwrap(), f);
        }
        let err = "csv".parse::<Format>().unwrap_err();
        assert!(err.to_string().contains("unknown format `csv`"));
    }

    #[test]
    fn detects_each_format() {
        let cases: [(&str, &[u8], Format); 7] = [
            (
                "conn.log.labeled",
                b"\n#separator \\x09\n#fields\tts\n",
                Format::Zeek,
            ),
            (
                "x.log",
                b"{\"ts\":1.0,\"uid\":\"C1\",\"id.orig_h\":\"1.2.3.4\"}\n",
                Format::ZeekJson,
            ),
            (
                "eve.json",
                b"{\"timestamp\":\"t\",\"event_type\":\"flow\"}\n",
                Format::Suricata,
            ),
            (
                "ecs.ndjson",
                b"{\"@timestamp\":\"2024-01-01T00:00:00Z\"}\n",
                Format::Ndjson,
            ),
            (
                "alerts.json",
                b"[\n  {\n    \"event_type\": \"alert\"\n  }\n]\n",
                Format::Suricata,
            ),
            ("a.EVTX", b"whatever", Format::Evtx),
            ("renamed.bin", b"ElfFile\0rest", Format::Evtx),
        ];
        for (name, content, want) in cases {
            let (_dir, path) = sample(name, content);
            assert_eq!(detect(&path).unwrap(), want, "{name}");
        }
    }

    #[test]
    fn unknown_formats_say_what_to_do() {
        for content in [&b"hello world\n"[..], b"{\"a\":1}\n", b"", b"[1,2]\n"] {
            let (_dir, path) = sample("mystery.txt", content);
            let err = detect(&path).unwrap_err();
            assert!(matches!(err, IngestError::UnknownFormat { .. }), "{err:?}");
            let text = err.to_string();
            assert!(text.contains("--format"), "{text}");
            assert!(text.contains("mystery.txt"), "{text}");
        }
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = detect(Path::new("/nonexistent/conn.log")).unwrap_err();
        assert!(matches!(err, IngestError::Io { .. }));
        assert!(err.to_string().contains("/nonexistent/conn.log"));
    }
}
