//! Zeek's tab-separated format: the `#` header lines, the column types of
//! `#types`, escapes and vectors, into one JSON object per line.

use serde_json::{Map, Number, Value, json};

/// A Zeek column type from `#types`.
#[derive(Debug, Clone, PartialEq)]
enum ZeekType {
    Time,
    Interval,
    Double,
    Count,
    Int,
    Port,
    Bool,
    /// addr, subnet, string, enum, pattern and anything unknown: kept as text.
    Text,
    /// `set[T]` or `vector[T]`.
    Container(Box<ZeekType>),
}

impl ZeekType {
    fn parse(name: &str) -> ZeekType {
        let name = name.trim();
        if let Some(inner) = name
            .strip_prefix("set[")
            .or_else(|| name.strip_prefix("vector["))
            .and_then(|rest| rest.strip_suffix(']'))
        {
            return ZeekType::Container(Box::new(ZeekType::parse(inner)));
        }
        match name {
            "time" => ZeekType::Time,
            "interval" => ZeekType::Interval,
            "double" => ZeekType::Double,
            "count" | "counter" => ZeekType::Count,
            "int" => ZeekType::Int,
            "port" => ZeekType::Port,
            "bool" => ZeekType::Bool,
            _ => ZeekType::Text,
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            ZeekType::Time => "a time",
            ZeekType::Interval => "an interval",
            ZeekType::Double => "a double",
            ZeekType::Count => "a count",
            ZeekType::Int => "an int",
            ZeekType::Port => "a port",
            ZeekType::Bool => "a bool (T/F)",
            ZeekType::Text => "text",
            ZeekType::Container(_) => "a set or vector",
        }
    }
}

/// Undo Zeek's `\xNN` escapes (used for the separator, non-printable bytes and a literal
/// `-`). When the bytes are not UTF-8 (binary payloads), the escaped text is kept.
fn unescape(text: &str) -> String {
    if !text.contains("\\x") {
        return text.to_owned();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && bytes.get(i + 1) == Some(&b'x')
            && let Some(hex) = text.get(i + 2..i + 4)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_owned())
}

/// The header state of a Zeek TSV file. Headers may come again mid-file (logs
/// concatenated with `cat`), and then they replace the earlier ones.
#[derive(Debug)]
pub(crate) struct ZeekTsv {
    separator: String,
    set_separator: String,
    empty_field: String,
    unset_field: String,
    path: Option<String>,
    file_hint: Option<String>,
    fields: Vec<String>,
    types: Vec<ZeekType>,
}

/// What one TSV line turned out to be.
pub(crate) enum TsvLine {
    /// A `#` header line, consumed.
    Header,
    /// A data line's typed fields, and the log it belongs to.
    Data {
        /// The log path (`conn`, `dns`, …).
        path: String,
        /// Field name → typed value; unset fields are absent.
        fields: Map<String, Value>,
    },
    /// A data line that does not fit the header.
    Malformed(String),
}

impl ZeekTsv {
    /// A reader with Zeek's default header values, naming the log after `file_hint` until
    /// a `#path` says otherwise.
    pub(crate) fn new(file_hint: Option<String>) -> Self {
        ZeekTsv {
            separator: "\t".into(),
            set_separator: ",".into(),
            empty_field: "(empty)".into(),
            unset_field: "-".into(),
            path: None,
            file_hint,
            fields: Vec::new(),
            types: Vec::new(),
        }
    }

    /// Read one line (without its line ending).
    pub(crate) fn line(&mut self, line: &str) -> TsvLine {
        if line.starts_with('#') {
            self.header(line);
            return TsvLine::Header;
        }
        if self.fields.is_empty() {
            return TsvLine::Malformed("data line before any #fields header".into());
        }
        if !self.types.is_empty() && self.types.len() != self.fields.len() {
            return TsvLine::Malformed(format!(
                "the header has {} #fields but {} #types",
                self.fields.len(),
                self.types.len()
            ));
        }
        let values: Vec<&str> = line.split(self.separator.as_str()).collect();
        if values.len() != self.fields.len() {
            return TsvLine::Malformed(format!(
                "expected {} columns (from #fields), found {}",
                self.fields.len(),
                values.len()
            ));
        }
        let mut fields = Map::new();
        for (i, (name, raw)) in self.fields.iter().zip(values).enumerate() {
            let ty = self.types.get(i).unwrap_or(&ZeekType::Text);
            match self.value(raw, ty) {
                Ok(Some(value)) => {
                    fields.insert(name.clone(), value);
                }
                Ok(None) => {}
                Err(expected) => {
                    let shown: String = raw.chars().take(40).collect();
                    return TsvLine::Malformed(format!(
                        "field `{name}`: `{shown}` is not {expected}"
                    ));
                }
            }
        }
        let path = self
            .path
            .clone()
            .or_else(|| self.file_hint.clone())
            .unwrap_or_else(|| "unknown".into());
        TsvLine::Data { path, fields }
    }

    fn header(&mut self, line: &str) {
        // `#separator` is the one header written with a space, since the separator is
        // not known yet.
        if let Some(rest) = line.strip_prefix("#separator") {
            let sep = unescape(rest.trim_start_matches([' ', '\t']));
            if !sep.is_empty() {
                self.separator = sep;
            }
            return;
        }
        let mut parts = line.split(self.separator.as_str());
        let key = parts.next().unwrap_or_default();
        let mut first = || parts.next().map(unescape).unwrap_or_default();
        match key {
            "#set_separator" => self.set_separator = first(),
            "#empty_field" => self.empty_field = first(),
            "#unset_field" => self.unset_field = first(),
            "#path" => self.path = Some(first()).filter(|p| !p.is_empty()),
            "#fields" => {
                self.fields = parts.map(str::to_owned).collect();
                // A new #fields starts a new log; its #types follow.
                self.types.clear();
            }
            "#types" => self.types = parts.map(ZeekType::parse).collect(),
            // #open, #close and comments carry nothing a record needs.
            _ => {}
        }
    }

    /// A typed value; `Ok(None)` for an unset field; `Err(what was expected)`.
    fn value(&self, raw: &str, ty: &ZeekType) -> Result<Option<Value>, &'static str> {
        if raw == self.unset_field {
            return Ok(None);
        }
        if let ZeekType::Container(inner) = ty {
            if raw == self.empty_field {
                return Ok(Some(Value::Array(Vec::new())));
            }
            let items = raw
                .split(self.set_separator.as_str())
                .map(|item| {
                    if item == self.unset_field {
                        Ok(Value::Null)
                    } else {
                        scalar(item, inner)
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(Some(Value::Array(items)));
        }
        if raw == self.empty_field && *ty == ZeekType::Text {
            return Ok(Some(Value::String(String::new())));
        }
        scalar(raw, ty).map(Some)
    }
}

/// One typed scalar.
fn scalar(raw: &str, ty: &ZeekType) -> Result<Value, &'static str> {
    let fail = || ty.describe();
    Ok(match ty {
        ZeekType::Time | ZeekType::Interval | ZeekType::Double => {
            let f: f64 = raw.parse().map_err(|_| fail())?;
            Value::Number(Number::from_f64(f).ok_or_else(fail)?)
        }
        ZeekType::Count => json!(raw.parse::<u64>().map_err(|_| fail())?),
        ZeekType::Int => json!(raw.parse::<i64>().map_err(|_| fail())?),
        // Some writers add the protocol (`80/tcp`).
        ZeekType::Port => {
            let number = raw.split('/').next().unwrap_or(raw);
            json!(number.parse::<u16>().map_err(|_| fail())?)
        }
        ZeekType::Bool => match raw {
            "T" | "true" => Value::Bool(true),
            "F" | "false" => Value::Bool(false),
            _ => return Err(fail()),
        },
        ZeekType::Text | ZeekType::Container(_) => Value::String(unescape(raw)),
    })
}
