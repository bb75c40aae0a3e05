//! Two-level `terms` on keyword fields (a `terms` with one `terms` inside,
//! e.g. source → destination) counted in one pass over the term ordinals.
//! tantivy's engine builds a sub-collector per outer bucket, which took
//! 1.3 s for source × destination over 1M events; counting (outer, inner)
//! ordinal pairs in a hash map takes a small part of that. The answer is
//! what a one-shard cluster returns: exact counts, buckets by count then
//! key, `sum_other_doc_count` over the buckets left out.

use rustc_hash::FxHashMap;
use serde_json::{Map, Value, json};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::StrColumn;
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

use crate::docvalues::term_names;
use crate::query::QueryContext;
use crate::schema::FieldKind;

/// One level of the request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Level {
    /// The field as requested.
    field: String,
    size: usize,
    min_doc_count: u64,
}

/// A two-level keyword `terms` request this module answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairTerms {
    outer: Level,
    /// The inner aggregation's name.
    inner_name: String,
    inner: Level,
}

/// Reads one `terms` level when it has only the parameters counted here
/// and a keyword field.
fn level(
    def: &Map<String, Value>,
    cx: &QueryContext,
) -> Option<(Level, Option<Map<String, Value>>)> {
    let mut terms = None;
    let mut sub = None;
    for (key, value) in def {
        match key.as_str() {
            "terms" => terms = value.as_object(),
            "aggs" | "aggregations" => sub = Some(value.as_object()?.clone()),
            _ => return None,
        }
    }
    let terms = terms?;
    if terms.keys().any(|k| {
        !matches!(
            k.as_str(),
            "field" | "size" | "min_doc_count" | "shard_size"
        )
    }) {
        return None;
    }
    let field = terms.get("field")?.as_str()?;
    let kind = FieldKind::from_mapping(cx.types.get(field).map(String::as_str));
    if !matches!(kind, FieldKind::Keyword | FieldKind::Ip) || field.starts_with('_') {
        return None;
    }
    let size = match terms.get("size") {
        None => 10,
        Some(v) => usize::try_from(v.as_u64().filter(|s| *s > 0)?).ok()?,
    };
    let min_doc_count = match terms.get("min_doc_count") {
        None => 1,
        Some(v) => v.as_u64().filter(|m| *m > 0)?,
    };
    Some((
        Level {
            field: field.to_owned(),
            size,
            min_doc_count,
        },
        sub,
    ))
}

impl PairTerms {
    /// The request, when it is a keyword `terms` holding exactly one
    /// keyword `terms` and nothing else; `None` leaves it to tantivy.
    pub fn recognise(def: &Value, cx: &QueryContext) -> Option<Self> {
        let (outer, sub) = level(def.as_object()?, cx)?;
        let sub = sub?;
        if sub.len() != 1 {
            return None;
        }
        let (inner_name, inner_def) = sub.iter().next()?;
        let (inner, grandchildren) = level(inner_def.as_object()?, cx)?;
        if grandchildren.is_some() {
            return None;
        }
        Some(Self {
            outer,
            inner_name: inner_name.clone(),
            inner,
        })
    }

    /// The collector counting this request's pairs; `kw_path` names a
    /// field's column.
    pub fn collector(&self, kw_path: impl Fn(&str) -> String) -> PairCounter {
        PairCounter {
            outer: kw_path(&self.outer.field),
            inner: kw_path(&self.inner.field),
        }
    }

    /// The OpenSearch answer from the counts.
    pub fn answer(&self, counts: &PairCounts) -> Value {
        let mut inner_by_outer: Vec<Vec<(u32, u64)>> = vec![Vec::new(); counts.outer.len()];
        for (&key, &n) in &counts.pairs {
            let (outer, inner) = split(key);
            inner_by_outer[outer as usize].push((inner, n));
        }
        let outer = top(
            counts
                .outer
                .iter()
                .enumerate()
                .map(|(id, n)| (id as u32, *n)),
            &counts.outer_terms,
            &self.outer,
        );
        let buckets = outer
            .shown
            .iter()
            .map(|&(id, doc_count)| {
                let inner = top(
                    std::mem::take(&mut inner_by_outer[id as usize]),
                    &counts.inner_terms,
                    &self.inner,
                );
                let mut bucket = Map::new();
                bucket.insert("key".into(), json!(counts.outer_terms[id as usize]));
                bucket.insert("doc_count".into(), json!(doc_count));
                bucket.insert(
                    self.inner_name.clone(),
                    inner.to_json(&counts.inner_terms, None),
                );
                Value::Object(bucket)
            })
            .collect();
        outer.to_json(&counts.outer_terms, Some(buckets))
    }
}

/// The buckets of one level that are shown (term id, count), and the count
/// of the rest.
struct Top {
    shown: Vec<(u32, u64)>,
    other: u64,
}

impl Top {
    /// The level's answer; `buckets` (with their sub-aggregations)
    /// replaces the plain key/count buckets when given.
    fn to_json(&self, terms: &[String], buckets: Option<Vec<Value>>) -> Value {
        let buckets = buckets.unwrap_or_else(|| {
            self.shown
                .iter()
                .map(|&(id, n)| json!({"key": terms[id as usize], "doc_count": n}))
                .collect()
        });
        json!({"doc_count_error_upper_bound": 0, "sum_other_doc_count": self.other, "buckets": buckets})
    }
}

/// The `size` buckets with the most documents (then by key) of those with
/// at least `min_doc_count`.
fn top(counts: impl IntoIterator<Item = (u32, u64)>, terms: &[String], level: &Level) -> Top {
    let mut all: Vec<(u32, u64)> = counts.into_iter().filter(|(_, n)| *n > 0).collect();
    let total: u64 = all.iter().map(|(_, n)| n).sum();
    all.retain(|(_, n)| *n >= level.min_doc_count);
    all.sort_unstable_by(|a, b| {
        b.1.cmp(&a.1)
            .then_with(|| terms[a.0 as usize].cmp(&terms[b.0 as usize]))
    });
    all.truncate(level.size);
    let shown: u64 = all.iter().map(|(_, n)| n).sum();
    Top {
        shown: all,
        other: total - shown,
    }
}

fn pair(outer: u32, inner: u32) -> u64 {
    (u64::from(outer) << 32) | u64::from(inner)
}

fn split(key: u64) -> (u32, u32) {
    #[expect(clippy::cast_possible_truncation, reason = "two halves of a u64")]
    ((key >> 32) as u32, key as u32)
}

/// Documents per outer term and per (outer, inner) pair of terms; terms
/// are numbered in `outer_terms` / `inner_terms` (per segment while
/// collecting, then across segments).
#[derive(Debug, Default)]
pub struct PairCounts {
    outer_terms: Vec<String>,
    inner_terms: Vec<String>,
    /// By outer term id.
    outer: Vec<u64>,
    /// By [`pair`] of ids.
    pairs: FxHashMap<u64, u64>,
}

/// Counts a request's pairs over the matching documents.
pub struct PairCounter {
    outer: String,
    inner: String,
}

impl Collector for PairCounter {
    type Fruit = PairCounts;
    type Child = PairSegment;

    fn for_segment(
        &self,
        _segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<PairSegment> {
        let fast = reader.fast_fields();
        let outer = fast.str(&self.outer)?;
        let inner = fast.str(&self.inner)?;
        let terms = outer.as_ref().map_or(0, |c| c.dictionary().num_terms());
        Ok(PairSegment {
            outer,
            inner,
            outer_counts: vec![0; terms],
            pairs: FxHashMap::default(),
            inner_ords: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<PairCounts>) -> tantivy::Result<PairCounts> {
        let mut all = PairCounts::default();
        let mut outer_ids: FxHashMap<String, u32> = FxHashMap::default();
        let mut inner_ids: FxHashMap<String, u32> = FxHashMap::default();
        let intern = |ids: &mut FxHashMap<String, u32>, terms: &mut Vec<String>, term: String| {
            *ids.entry(term).or_insert_with_key(|term| {
                terms.push(term.clone());
                (terms.len() - 1) as u32
            })
        };
        for fruit in fruits {
            let outer: Vec<u32> = fruit
                .outer_terms
                .into_iter()
                .map(|t| intern(&mut outer_ids, &mut all.outer_terms, t))
                .collect();
            all.outer.resize(all.outer_terms.len(), 0);
            for (local, n) in fruit.outer.into_iter().enumerate() {
                all.outer[outer[local] as usize] += n;
            }
            let inner: Vec<u32> = fruit
                .inner_terms
                .into_iter()
                .map(|t| intern(&mut inner_ids, &mut all.inner_terms, t))
                .collect();
            for (key, n) in fruit.pairs {
                let (o, i) = split(key);
                *all.pairs
                    .entry(pair(outer[o as usize], inner[i as usize]))
                    .or_default() += n;
            }
        }
        Ok(all)
    }
}

/// One segment's counts, by term ordinal.
pub struct PairSegment {
    outer: Option<StrColumn>,
    inner: Option<StrColumn>,
    outer_counts: Vec<u64>,
    /// By [`pair`] of ordinals (a segment has fewer than 2³² terms).
    pairs: FxHashMap<u64, u64>,
    inner_ords: Vec<u64>,
}

impl SegmentCollector for PairSegment {
    type Fruit = PairCounts;

    fn collect(&mut self, doc: DocId, _score: Score) {
        let Some(outer) = &self.outer else {
            return;
        };
        self.inner_ords.clear();
        if let Some(inner) = &self.inner {
            self.inner_ords.extend(inner.term_ords(doc));
        }
        for o in outer.term_ords(doc) {
            let Some(count) = self.outer_counts.get_mut(o as usize) else {
                continue;
            };
            *count += 1;
            for &i in &self.inner_ords {
                *self.pairs.entry((o << 32) | i).or_default() += 1;
            }
        }
    }

    fn harvest(self) -> PairCounts {
        let mut out = PairCounts::default();
        let Some(outer) = &self.outer else {
            return out;
        };
        let outer_ords: Vec<u64> = (0..self.outer_counts.len() as u64)
            .filter(|&ord| self.outer_counts[ord as usize] > 0)
            .collect();
        out.outer_terms = term_names(outer, &outer_ords).unwrap_or_default();
        if out.outer_terms.is_empty() {
            return out;
        }
        out.outer = outer_ords
            .iter()
            .map(|&ord| self.outer_counts[ord as usize])
            .collect();
        // Ordinal → id.
        let mut outer_ids = vec![u32::MAX; self.outer_counts.len()];
        for (id, &ord) in outer_ords.iter().enumerate() {
            outer_ids[ord as usize] = id as u32;
        }
        let Some(inner) = &self.inner else {
            return out;
        };
        let mut inner_ords: Vec<u64> = self.pairs.keys().map(|&k| u64::from(split(k).1)).collect();
        inner_ords.sort_unstable();
        inner_ords.dedup();
        out.inner_terms = term_names(inner, &inner_ords).unwrap_or_default();
        if out.inner_terms.is_empty() {
            return out;
        }
        out.pairs.reserve(self.pairs.len());
        for (key, n) in self.pairs {
            let (o, i) = split(key);
            let Ok(i) = inner_ords.binary_search(&u64::from(i)) else {
                continue;
            };
            out.pairs.insert(pair(outer_ids[o as usize], i as u32), n);
        }
        out
    }
}
