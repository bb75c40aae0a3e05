//! Cutting a text file into records with bounded memory: one line at a time, or one
//! element at a time when the file is a (possibly pretty-printed) JSON array.

use std::collections::VecDeque;
use std::io::{self, BufRead};

/// The longest record kept, in bytes. Longer lines are skipped as malformed, so a binary
/// file read as text cannot make the reader hold it whole.
pub(crate) const MAX_RECORD_BYTES: usize = 16 << 20;

/// One record's raw text, or why there is none.
#[derive(Debug)]
pub(crate) enum Unit {
    /// The raw bytes of one record, without the line ending.
    Text {
        /// 1-based line where the record starts.
        line: u64,
        /// The record as it is in the file.
        raw: Vec<u8>,
    },
    /// Something that cannot be a record.
    Bad {
        /// 1-based line where it starts.
        line: u64,
        /// Why it was skipped.
        reason: String,
    },
}

/// One physical line.
pub(crate) struct Line {
    /// 1-based line number.
    pub(crate) number: u64,
    /// The bytes, without `\n` or `\r\n`; empty when the line was too long.
    pub(crate) bytes: Vec<u8>,
    /// The line was longer than [`MAX_RECORD_BYTES`] and was not kept.
    pub(crate) too_long: bool,
}

/// Reads lines and counts the bytes consumed, for progress.
pub(crate) struct LineReader<R> {
    inner: R,
    line_no: u64,
    bytes_read: u64,
}

impl<R: BufRead> LineReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        LineReader {
            inner,
            line_no: 0,
            bytes_read: 0,
        }
    }

    pub(crate) fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The next line, or `None` at the end of the file.
    pub(crate) fn next_line(&mut self) -> io::Result<Option<Line>> {
        let mut bytes = Vec::new();
        let mut too_long = false;
        let mut any = false;
        loop {
            let available = self.inner.fill_buf()?;
            if available.is_empty() {
                break;
            }
            any = true;
            let (taken, done) = match available.iter().position(|&b| b == b'\n') {
                Some(at) => (at + 1, true),
                None => (available.len(), false),
            };
            if !too_long {
                if bytes.len() + taken > MAX_RECORD_BYTES + 2 {
                    too_long = true;
                    bytes = Vec::new();
                } else {
                    bytes.extend_from_slice(&available[..taken]);
                }
            }
            self.inner.consume(taken);
            self.bytes_read += taken as u64;
            if done {
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        self.line_no += 1;
        // A byte-order mark is not part of the first record.
        if self.line_no == 1 && bytes.starts_with(b"\xEF\xBB\xBF") {
            bytes.drain(..3);
        }
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
        }
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        Ok(Some(Line {
            number: self.line_no,
            bytes,
            too_long,
        }))
    }
}

/// Splits a top-level JSON array (`[ {…}, {…} ]`, on one line or pretty-printed over many)
/// into its object elements, tracking strings and nesting so that braces inside strings
/// do not count.
///
/// Suricata's sample files are written this way rather than one object per line.
#[derive(Debug, Default)]
pub(crate) struct JsonArraySplitter {
    depth: usize,
    in_string: bool,
    escaped: bool,
    element: Vec<u8>,
    oversized: bool,
    start_line: u64,
    junk_line: u64,
    ready: VecDeque<Unit>,
}

impl JsonArraySplitter {
    /// Take in one line (line endings may be included or not).
    pub(crate) fn feed(&mut self, bytes: &[u8], line_no: u64) {
        for &b in bytes {
            if self.depth == 0 {
                match b {
                    b'{' => {
                        self.depth = 1;
                        self.start_line = line_no;
                        self.element.clear();
                        self.oversized = false;
                        self.element.push(b);
                    }
                    // The array's own brackets and the commas between elements.
                    b'[' | b']' | b',' => {}
                    b if b.is_ascii_whitespace() => {}
                    other => {
                        // One report per line is enough to point at the problem.
                        if self.junk_line != line_no {
                            self.junk_line = line_no;
                            self.ready.push_back(Unit::Bad {
                                line: line_no,
                                reason: format!(
                                    "unexpected `{}` between JSON array elements",
                                    char::from(other).escape_default()
                                ),
                            });
                        }
                    }
                }
                continue;
            }
            if !self.oversized {
                if self.element.len() >= MAX_RECORD_BYTES {
                    self.oversized = true;
                    self.element = Vec::new();
                } else {
                    self.element.push(b);
                }
            }
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        self.complete();
                    }
                }
                _ => {}
            }
        }
    }

    fn complete(&mut self) {
        let unit = if self.oversized {
            Unit::Bad {
                line: self.start_line,
                reason: format!("JSON element longer than {MAX_RECORD_BYTES} bytes"),
            }
        } else {
            Unit::Text {
                line: self.start_line,
                raw: std::mem::take(&mut self.element),
            }
        };
        self.ready.push_back(unit);
    }

    /// The next complete element, if one is ready.
    pub(crate) fn pop(&mut self) -> Option<Unit> {
        self.ready.pop_front()
    }

    /// At the end of the file: an element still open is truncated.
    pub(crate) fn finish(&mut self) -> Option<Unit> {
        if self.depth == 0 {
            return None;
        }
        self.depth = 0;
        self.in_string = false;
        self.escaped = false;
        self.element.clear();
        Some(Unit::Bad {
            line: self.start_line,
            reason: "truncated JSON element at the end of the file".into(),
        })
    }
}

/// A stream of records: lines, or elements of a JSON array.
pub(crate) struct UnitSource<R> {
    lines: LineReader<R>,
    array: Option<JsonArraySplitter>,
    finished: bool,
}

impl<R: BufRead> UnitSource<R> {
    /// Records are lines, or array elements when `json_array`.
    pub(crate) fn new(inner: R, json_array: bool) -> Self {
        UnitSource {
            lines: LineReader::new(inner),
            array: json_array.then(JsonArraySplitter::default),
            finished: false,
        }
    }

    pub(crate) fn bytes_read(&self) -> u64 {
        self.lines.bytes_read()
    }

    /// The next record, skipping blank lines. A read error is reported once, as a bad
    /// record, and ends the stream.
    pub(crate) fn next_unit(&mut self) -> Option<Unit> {
        loop {
            if let Some(unit) = self.array.as_mut().and_then(JsonArraySplitter::pop) {
                return Some(unit);
            }
            if self.finished {
                return None;
            }
            let line = match self.lines.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => {
                    self.finished = true;
                    if let Some(unit) = self.array.as_mut().and_then(JsonArraySplitter::finish) {
                        return Some(unit);
                    }
                    continue;
                }
                Err(err) => {
                    self.finished = true;
                    return Some(Unit::Bad {
                        line: self.lines.line_no + 1,
                        reason: format!("read error, stopped here: {err}"),
                    });
                }
            };
            if line.too_long {
                // In array mode the splitter cannot follow a line it did not see, so the
                // rest of the file is not trustworthy either.
                if self.array.is_some() {
                    self.finished = true;
                }
                return Some(Unit::Bad {
                    line: line.number,
                    reason: format!("line longer than {MAX_RECORD_BYTES} bytes"),
                });
            }
            match self.array.as_mut() {
                Some(splitter) => {
                    splitter.feed(&line.bytes, line.number);
                    // Keep the line break inside an element, so pretty-printed text parses.
                    splitter.feed(b"\n", line.number);
                }
                None => {
                    if line.bytes.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    return Some(Unit::Text {
                        line: line.number,
                        raw: line.bytes,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(text: &str, array: bool) -> Vec<String> {
        let mut source = UnitSource::new(text.as_bytes(), array);
        let mut out = Vec::new();
        while let Some(unit) = source.next_unit() {
            out.push(match unit {
                Unit::Text { line, raw } => format!("{line}:{}", String::from_utf8(raw).unwrap()),
                Unit::Bad { line, reason } => format!("{line}!{reason}"),
            });
        }
        assert_eq!(source.bytes_read(), text.len() as u64);
        out
    }

    #[test]
    fn lines_skip_blanks_and_strip_crlf() {
        assert_eq!(units("a\r\n\n  \nb\nc", false), vec!["1:a", "4:b", "5:c"]);
    }

    #[test]
    fn pretty_arrays_split_into_elements() {
        let text = "[\n  {\n    \"a\": \"}{\",\n    \"b\": [1, {\"c\": 2}]\n  },\n  {\"d\": \"\\\"}\"}\n]\n";
        let got = units(text, true);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].starts_with("2:{"));
        assert!(got[1].starts_with("6:{\"d\""));
        for unit in &got {
            let json = unit.split_once(':').unwrap().1;
            serde_json::from_str::<serde_json::Value>(json).unwrap();
        }
    }

    #[test]
    fn truncated_array_element_is_reported() {
        let got = units("[{\"a\":1},\n{\"b\":", true);
        assert_eq!(got[0], "1:{\"a\":1}");
        assert!(got[1].starts_with("2!truncated"), "{got:?}");
    }

    #[test]
    fn junk_between_elements_is_reported_once_per_line() {
        let got = units("[{\"a\":1} xx, {\"b\":2}]", true);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[1].starts_with("1!unexpected `x`"));
    }
}
