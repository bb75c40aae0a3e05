//! Reading a doc-value search answer without building JSON trees: a run
//! reads tens of thousands of hits, so each hit's fields are parsed into
//! fixed slots, text borrowed from the answer wherever it has no escapes.

use std::borrow::Cow;
use std::fmt;

use securityclaw_sdk::Timestamp;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One doc value of a scored field: a number, or text (keywords, IPs,
/// dates).
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    Number(f64),
    Text(Cow<'a, str>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for Visit<'a> {
            type Value = Scalar<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a string")
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Number(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Number(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Number(v as f64))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Number(f64::from(u8::from(v))))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Text(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_any(Visit(std::marker::PhantomData))
    }
}

impl Scalar<'_> {
    pub fn number(&self) -> Option<f64> {
        match self {
            Self::Number(n) => Some(*n),
            Self::Text(_) => None,
        }
    }

    pub fn text(&self) -> Option<&str> {
        match self {
            Self::Text(s) => Some(s),
            Self::Number(_) => None,
        }
    }

    /// A time as epoch milliseconds: digits of milliseconds
    /// (`epoch_millis`, what the search asks for), RFC 3339 text (a
    /// cluster's default for dates), or a number of seconds (Zeek's `ts`)
    /// or milliseconds.
    pub fn millis(&self) -> Option<i64> {
        match self {
            Self::Text(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse().ok()
            }
            Self::Text(s) => Timestamp::parse_rfc3339(s).map(Timestamp::epoch_millis),
            Self::Number(x) => Some(if *x < 1e11 {
                (x * 1000.0) as i64
            } else {
                *x as i64
            }),
        }
    }
}

/// The first value of each asked field of one hit, in the order the fields
/// were asked (`None` where the hit has no value).
pub type Row<'a> = Vec<Option<Scalar<'a>>>;

/// Parses a search answer's hits into rows of the first value of each of
/// `fields`; other fields and every other key of the answer are skipped.
pub fn rows<'a>(text: &'a str, fields: &[&str]) -> serde_json::Result<Vec<Row<'a>>> {
    let mut de = serde_json::Deserializer::from_str(text);
    let rows = Answer { fields }.deserialize(&mut de)?;
    de.end()?;
    Ok(rows)
}

/// `{"hits": {"hits": [...]}, ...}`.
struct Answer<'f> {
    fields: &'f [&'f str],
}

impl<'de, 'f> DeserializeSeed<'de> for Answer<'f> {
    type Value = Vec<Row<'de>>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 'f> Visitor<'de> for Answer<'f> {
    type Value = Vec<Row<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a search answer")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut rows = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "hits" {
                rows = Some(map.next_value_seed(Outer {
                    fields: self.fields,
                })?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        rows.ok_or_else(|| de::Error::missing_field("hits"))
    }
}

/// The outer `hits` object: `{"total": …, "hits": [...]}`.
struct Outer<'f> {
    fields: &'f [&'f str],
}

impl<'de, 'f> DeserializeSeed<'de> for Outer<'f> {
    type Value = Vec<Row<'de>>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 'f> Visitor<'de> for Outer<'f> {
    type Value = Vec<Row<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the hits object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut rows = Vec::new();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "hits" {
                rows = map.next_value_seed(HitList {
                    fields: self.fields,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(rows)
    }
}

/// The list of hits.
struct HitList<'f> {
    fields: &'f [&'f str],
}

impl<'de, 'f> DeserializeSeed<'de> for HitList<'f> {
    type Value = Vec<Row<'de>>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, 'f> Visitor<'de> for HitList<'f> {
    type Value = Vec<Row<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of hits")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut rows = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(row) = seq.next_element_seed(Hit {
            fields: self.fields,
        })? {
            rows.push(row);
        }
        Ok(rows)
    }
}

/// One hit: only its `fields` object is read.
struct Hit<'f> {
    fields: &'f [&'f str],
}

impl<'de, 'f> DeserializeSeed<'de> for Hit<'f> {
    type Value = Row<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 'f> Visitor<'de> for Hit<'f> {
    type Value = Row<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a hit")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut row = vec![None; self.fields.len()];
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "fields" {
                map.next_value_seed(Fields {
                    fields: self.fields,
                    row: &mut row,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(row)
    }
}

/// A hit's `fields` object, filling the row's slots.
struct Fields<'f, 'r, 'de> {
    fields: &'f [&'f str],
    row: &'r mut Row<'de>,
}

impl<'de> DeserializeSeed<'de> for Fields<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Fields<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a hit's fields")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match self.fields.iter().position(|f| *f == key) {
                Some(slot) => self.row[slot] = map.next_value_seed(First)?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A field's list of values: the first one is kept.
struct First;

impl<'de> DeserializeSeed<'de> for First {
    type Value = Option<Scalar<'de>>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for First {
    type Value = Option<Scalar<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of values")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let first = seq.next_element::<Scalar<'de>>()?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(first)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rows_hold_the_first_value_of_each_asked_field() {
        let text = json!({"took": 3, "hits": {"total": {"value": 2}, "hits": [
            {"_index": "logs", "fields": {"a": ["x\"y", "z"], "b": [1.5], "skip": [{"deep": 1}]}},
            {"_index": "logs", "_score": null},
        ]}, "aggregations": {}})
        .to_string();
        let rows = rows(&text, &["a", "b", "c"]).expect("parses");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0][0].as_ref().and_then(Scalar::text), Some("x\"y"));
        assert_eq!(rows[0][1].as_ref().and_then(Scalar::number), Some(1.5));
        assert_eq!(rows[0][2], None);
        assert_eq!(rows[1], vec![None, None, None]);
    }

    #[test]
    fn times_are_read_as_a_cluster_writes_them() {
        const END_MS: i64 = 1_655_078_400_000;
        let read = |text: &str| {
            serde_json::from_str::<Scalar<'_>>(text)
                .expect("scalar")
                .millis()
        };
        assert_eq!(read(r#""1655078400000""#), Some(END_MS));
        assert_eq!(read(r#""2022-06-13T00:00:00.000Z""#), Some(END_MS));
        assert_eq!(read("1655078400.5"), Some(END_MS + 500));
        assert_eq!(read(r#""""#), None);
        assert!(serde_json::from_str::<Scalar<'_>>(r#"{"a": 1}"#).is_err());
    }

    #[test]
    fn an_answer_without_hits_is_an_error() {
        assert!(rows(r#"{"took": 1}"#, &["a"]).is_err());
        assert!(rows(r#"{"hits": {"hits": [{"fields": {"a": 3}}]}}"#, &["a"]).is_err());
    }
}
