//! The streaming [`Reader`]: opens a file, picks the parser for its format and yields one
//! [`Record`] per log record.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde_json::{Map, Value};

use crate::lines::{MAX_RECORD_BYTES, Unit, UnitSource};
use crate::winlog::EvtxReader;
use crate::zeek::{TsvLine, ZeekTsv};
use crate::{Event, Format, IngestError, Options, Record, detect, ndjson, suricata, zeek};

/// Open `path` for reading as `options.format`, detecting the format when it is
/// [`Format::Auto`].
///
/// Fails only when the file cannot be opened, its format cannot be told, or an EVTX header
/// is refused; problems with single records come out of the reader as
/// [`Record::Malformed`].
pub fn open(path: &Path, options: &Options) -> Result<Reader, IngestError> {
    let format = match options.format {
        Format::Auto => detect(path)?,
        other => other,
    };
    let io_err = |source| IngestError::Io {
        path: path.to_owned(),
        source,
    };
    let total_bytes = std::fs::metadata(path)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len());
    let inner = match format {
        Format::Evtx => Inner::Evtx(Box::new(EvtxReader::open(path)?)),
        Format::Auto | Format::Zeek | Format::ZeekJson | Format::Suricata | Format::Ndjson => {
            let json_array = format != Format::Zeek && starts_with_array(path).map_err(io_err)?;
            let file = File::open(path).map_err(io_err)?;
            let file_hint = zeek::log_name_from_file(path);
            let parser = match format {
                Format::Zeek => Parser::Zeek(ZeekTsv::new(file_hint)),
                Format::ZeekJson => Parser::ZeekJson { file_hint },
                Format::Suricata => Parser::Suricata,
                _ => Parser::Ndjson,
            };
            Inner::Text(Box::new(TextReader {
                source: UnitSource::new(BufReader::new(file), json_array),
                parser,
                keep_labels: options.keep_labels,
            }))
        }
    };
    Ok(Reader {
        format,
        total_bytes,
        inner,
    })
}

/// Whether the file's first non-blank byte opens a JSON array.
fn starts_with_array(path: &Path) -> std::io::Result<bool> {
    let file = File::open(path)?;
    let mut reader = BufReader::new(file.take(MAX_RECORD_BYTES as u64));
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(false);
        }
        let skip = buf
            .iter()
            .take_while(|b| b.is_ascii_whitespace() || matches!(b, 0xEF | 0xBB | 0xBF))
            .count();
        if skip < buf.len() {
            return Ok(buf[skip] == b'[');
        }
        reader.consume(skip);
    }
}

/// Reads one log file as a stream of [`Record`]s, holding one record (or one EVTX chunk)
/// in memory at a time.
pub struct Reader {
    format: Format,
    total_bytes: Option<u64>,
    inner: Inner,
}

enum Inner {
    Text(Box<TextReader>),
    Evtx(Box<EvtxReader>),
}

impl Reader {
    /// The format being read: the detected one when [`Format::Auto`] was asked for.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Bytes of the file consumed so far, for a progress display (EVTX advances a 64 KiB
    /// chunk at a time).
    pub fn bytes_read(&self) -> u64 {
        let read = match &self.inner {
            Inner::Text(text) => text.source.bytes_read(),
            Inner::Evtx(evtx) => evtx.bytes_read(),
        };
        self.total_bytes.map_or(read, |total| read.min(total))
    }

    /// The file's size, when it is a regular file.
    pub fn total_bytes(&self) -> Option<u64> {
        self.total_bytes
    }
}

impl fmt::Debug for Reader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("format", &self.format)
            .field("bytes_read", &self.bytes_read())
            .field("total_bytes", &self.total_bytes)
            .finish_non_exhaustive()
    }
}

impl Iterator for Reader {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        match &mut self.inner {
            Inner::Text(text) => text.next_record(),
            Inner::Evtx(evtx) => evtx.next(),
        }
    }
}

/// How the records of a text format are turned into events.
enum Parser {
    Zeek(ZeekTsv),
    ZeekJson { file_hint: Option<String> },
    Suricata,
    Ndjson,
}

struct TextReader {
    source: UnitSource<BufReader<File>>,
    parser: Parser,
    keep_labels: bool,
}

impl TextReader {
    fn next_record(&mut self) -> Option<Record> {
        loop {
            let (line, raw) = match self.source.next_unit()? {
                Unit::Text { line, raw } => (line, raw),
                Unit::Bad { line, reason } => return Some(Record::Malformed { line, reason }),
            };
            // Zeek escapes non-UTF-8 bytes itself; anything else that is not UTF-8 is
            // replaced rather than losing the record. The id still hashes the raw bytes.
            let text = String::from_utf8_lossy(&raw);
            let keep = self.keep_labels;
            let result: Result<Event, String> = match &mut self.parser {
                Parser::Zeek(tsv) => match tsv.line(&text) {
                    TsvLine::Header => continue,
                    TsvLine::Data { path, fields } => zeek::to_event(&path, fields, &raw, keep),
                    TsvLine::Malformed(reason) => Err(reason),
                },
                Parser::ZeekJson { file_hint } => json_object(&text).and_then(|object| {
                    let path = zeek::json_log_name(&object, file_hint.as_deref());
                    zeek::to_event(&path, object, &raw, keep)
                }),
                Parser::Suricata => {
                    json_object(&text).and_then(|object| suricata::to_event(object, &raw, keep))
                }
                Parser::Ndjson => {
                    json_object(&text).map(|object| ndjson::to_event(object, &raw, keep))
                }
            };
            return Some(match result {
                Ok(event) => Record::Event(event),
                Err(reason) => Record::Malformed { line, reason },
            });
        }
    }
}

/// One JSON object, or why the text is not one.
fn json_object(text: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(other) => Err(format!(
            "expected a JSON object, found {}",
            match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            }
        )),
        Err(err) => Err(format!("invalid JSON: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(name: &str, content: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        File::create(&path)
            .unwrap()
            .write_all(content.as_bytes())
            .unwrap();
        (dir, path)
    }

    fn read_all(path: &Path, options: &Options) -> (Format, Vec<Record>) {
        let reader = open(path, options).unwrap();
        let format = reader.format();
        (format, reader.collect())
    }

    fn malformed(records: &[Record]) -> Vec<(u64, &str)> {
        records
            .iter()
            .filter_map(|r| match r {
                Record::Malformed { line, reason } => Some((*line, reason.as_str())),
                Record::Event(_) => None,
            })
            .collect()
    }

    #[test]
    fn zeek_tsv_continues_after_bad_lines() {
        let text = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\torig_bytes\n#types\ttime\tstring\taddr\tport\tcount\n1.0\tC1\t10.0.0.1\t1\t5\n2.0\tC2\t10.0.0.1\n3.0\tC3\t10.0.0.1\t1\tlots\n\n4.0\tC4\t10.0.0.1\t1\t-\n#close\t2024-01-01-00-00-00\n";
        let (path_dir, path) = write("mylog.txt", text);
        let (format, records) = read_all(&path, &Options::default());
        drop(path_dir);
        assert_eq!(format, Format::Zeek);
        assert_eq!(records.len(), 4);
        let bad = malformed(&records);
        assert_eq!(bad.len(), 2);
        assert_eq!(bad[0].0, 9);
        assert!(bad[0].1.contains("expected 5 columns"), "{}", bad[0].1);
        assert_eq!(bad[1].0, 10);
        assert!(bad[1].1.contains("`orig_bytes`"), "{}", bad[1].1);
        let Record::Event(last) = &records[3] else {
            panic!("last is not an event")
        };
        assert_eq!(last.index, "logs-zeek-conn");
    }

    #[test]
    fn suricata_continues_after_truncated_json() {
        let text = "{\"timestamp\":\"2021-06-06T15:59:46.457984+0200\",\"event_type\":\"flow\"}\n{\"timestamp\":\"2021-06-06T15:59:46\n[1]\n{\"timestamp\":\"2021-06-06T15:59:47.000000+0200\",\"event_type\":\"dns\"}\n";
        let (_dir, path) = write("eve.json", text);
        let (format, records) = read_all(&path, &Options::default());
        assert_eq!(format, Format::Suricata);
        let bad = malformed(&records);
        assert_eq!(bad.len(), 2);
        assert_eq!(bad[0].0, 2);
        assert!(bad[0].1.starts_with("invalid JSON"), "{}", bad[0].1);
        assert!(bad[1].1.contains("found an array"));
        let kinds: Vec<&str> = records
            .iter()
            .filter_map(|r| match r {
                Record::Event(e) => Some(e.kind.as_str()),
                Record::Malformed { .. } => None,
            })
            .collect();
        assert_eq!(kinds, ["flow", "dns"]);
    }

    #[test]
    fn zeek_json_takes_the_log_name_from_the_file() {
        let text = "{\"ts\":1599755438.57536,\"uid\":\"C1\",\"id.orig_h\":\"63.143.42.242\",\"id.orig_p\":54488,\"id.resp_h\":\"192.168.1.194\",\"id.resp_p\":22,\"auth_success\":true,\"label\":\"Malicious\"}\n";
        let (_dir, path) = write("ssh.log", text);
        let (format, records) = read_all(
            &path,
            &Options {
                format: Format::Auto,
                keep_labels: true,
            },
        );
        assert_eq!(format, Format::ZeekJson);
        let Record::Event(e) = &records[0] else {
            panic!("not an event")
        };
        assert_eq!(e.index, "logs-zeek-ssh");
        assert_eq!(e.doc["event"]["outcome"], "success");
        assert_eq!(e.doc["labels"]["ground_truth"], "Malicious");
        assert_eq!(e.doc["zeek"]["ssh"]["id"]["resp_p"], 22);
    }

    #[test]
    fn forced_format_and_progress() {
        let text = "{\"@timestamp\":\"2024-01-01T00:00:00Z\",\"event_type\":\"x\"}\n";
        let (_dir, path) = write("data.json", text);
        let options = Options {
            format: Format::Ndjson,
            keep_labels: false,
        };
        let mut reader = open(&path, &options).unwrap();
        assert_eq!(reader.format(), Format::Ndjson);
        assert_eq!(reader.total_bytes(), Some(text.len() as u64));
        assert_eq!(reader.bytes_read(), 0);
        let Some(Record::Event(e)) = reader.next() else {
            panic!("no event")
        };
        assert_eq!(e.index, "logs-ndjson");
        assert_eq!(reader.bytes_read(), text.len() as u64);
        assert!(reader.next().is_none());
    }

    #[test]
    fn json_array_files_are_read_element_by_element() {
        let text = "[\n  {\n    \"timestamp\": \"2015-03-29T11:01:38.221126-0600\",\n    \"event_type\": \"alert\",\n    \"alert\": {\"signature\": \"ET SCAN Potential SSH Scan\"}\n  },\n  {\n    \"timestamp\": \"2015-03-29T11:01:39.000000-0600\",\n    \"event_type\": \"alert\"\n  }\n]\n";
        let (_dir, path) = write("alerts.json", text);
        let (format, records) = read_all(&path, &Options::default());
        assert_eq!(format, Format::Suricata);
        assert_eq!(records.len(), 2);
        let Record::Event(e) = &records[0] else {
            panic!("not an event")
        };
        assert_eq!(e.doc["rule"]["name"], "ET SCAN Potential SSH Scan");
        assert_eq!(e.doc["@timestamp"], "2015-03-29T17:01:38.221Z");
    }

    #[test]
    fn unreadable_files_are_errors_with_the_path() {
        let err = open(Path::new("/no/such/eve.json"), &Options::default()).unwrap_err();
        assert!(err.to_string().contains("/no/such/eve.json"));
        let forced = Options {
            format: Format::Suricata,
            keep_labels: false,
        };
        let err = open(Path::new("/no/such/eve.json"), &forced).unwrap_err();
        assert!(matches!(err, IngestError::Io { .. }));
        let (_dir, path) = write("fake.evtx", "not an evtx file at all");
        let err = open(&path, &Options::default()).unwrap_err();
        assert!(matches!(err, IngestError::Evtx { .. }), "{err:?}");
    }

    #[test]
    fn reader_can_move_to_another_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<Reader>();
    }
}
