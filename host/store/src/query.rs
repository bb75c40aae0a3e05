//! The OpenSearch query DSL, translated to tantivy queries over the store's
//! fields. Anything outside the documented subset is refused by name, so a
//! skill never gets a silently wrong answer.

use std::collections::BTreeMap;
use std::ops::Bound;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use tantivy::Term;
use tantivy::query::{
    AllQuery, BooleanQuery, ConstScoreQuery, EmptyQuery, ExistsQuery, Occur, PhraseQuery, Query,
    RangeQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::IndexRecordOption;
use tantivy::tokenizer::TextAnalyzer;

use crate::datemath::parse_date;
use crate::error::{StoreError, invalid};
use crate::schema::{FieldKind, Fields};

/// Sets of this many terms or more go to tantivy's `TermSetQuery`; smaller
/// ones are a union of term lookups.
const TERM_SET_MIN: usize = 64;

/// Documents holding any of `terms`, each scoring 1 (as a cluster's
/// filter-like `term` does). A few terms are looked up one by one: a
/// `TermSetQuery` builds an FST of its terms for every weight, which for
/// the one to four terms of a `term` clause cost more than the search
/// (most of a detector run's time went there).
pub(crate) fn any_term(mut terms: Vec<Term>) -> Q {
    terms.sort_unstable();
    terms.dedup();
    match terms.len() {
        0 => Box::new(EmptyQuery),
        1 => Box::new(ConstScoreQuery::new(
            Box::new(TermQuery::new(terms.remove(0), IndexRecordOption::Basic)),
            1.0,
        )),
        n if n < TERM_SET_MIN => Box::new(ConstScoreQuery::new(
            Box::new(BooleanQuery::new(
                terms
                    .into_iter()
                    .map(|t| {
                        (
                            Occur::Should,
                            Box::new(TermQuery::new(t, IndexRecordOption::Basic)) as Q,
                        )
                    })
                    .collect(),
            )),
            1.0,
        )),
        _ => Box::new(TermSetQuery::new(terms)),
    }
}

/// The query clauses the embedded store answers.
pub const SUPPORTED_CLAUSES: &str = "bool, term, terms, range, match, match_phrase, multi_match, exists, query_string, ids, match_all, match_none";

/// What a translation needs besides the clause: the store's fields, the
/// field types of the searched indices and the time `now` means.
#[derive(Clone)]
pub struct QueryContext {
    /// The store's tantivy fields.
    pub fields: Fields,
    /// Field path → mapping type (`keyword`, `long`, `double`, `date`,
    /// `boolean`, `ip`, `text`) of the searched indices.
    pub types: BTreeMap<String, String>,
    /// What `now` is in date math.
    pub now: DateTime<Utc>,
    /// The analyzer of text fields.
    pub analyzer: TextAnalyzer,
}

type Q = Box<dyn Query>;

impl QueryContext {
    fn kind(&self, path: &str) -> FieldKind {
        FieldKind::from_mapping(self.types.get(path).map(String::as_str))
    }

    /// Translates one query clause.
    pub fn translate(&self, clause: &Value) -> Result<Q, StoreError> {
        let (name, body) = single_key(clause, "a query clause")?;
        match name {
            "match_all" => Ok(Box::new(AllQuery)),
            "match_none" => Ok(Box::new(EmptyQuery)),
            "bool" => self.bool_query(body),
            "term" => {
                let (field, value) = field_and_value(name, body, "value")?;
                self.term(name, field, value)
            }
            "terms" => self.terms(body),
            "range" => self.range(body),
            "exists" => {
                let field = object(name, body)?
                    .get("field")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        invalid(
                            "`exists` needs `field`, e.g. {\"exists\": {\"field\": \"user.name\"}}",
                        )
                    })?;
                Ok(Box::new(ExistsQuery::new(self.fields.kw_path(field), true)))
            }
            "ids" => {
                let values = object(name, body)?
                    .get("values")
                    .and_then(Value::as_array)
                    .ok_or_else(|| invalid("`ids` needs `values`, a list of document ids"))?;
                let terms = values
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(|id| Term::from_field_text(self.fields.id, id))
                            .ok_or_else(|| invalid("`ids.values` must be strings"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(any_term(terms))
            }
            "match" => {
                let (field, value) = field_and_value(name, body, "query")?;
                let operator = operator_of(body.get(field))?;
                self.match_text(field, value, operator, false)
            }
            "match_phrase" => {
                let (field, value) = field_and_value(name, body, "query")?;
                self.match_text(field, value, Occur::Must, true)
            }
            "multi_match" => self.multi_match(body),
            "query_string" => self.query_string(body),
            other => Err(invalid(format!(
                "query clause `{other}` is not supported by the embedded store; supported: {SUPPORTED_CLAUSES}"
            ))),
        }
    }

    fn bool_query(&self, body: &Value) -> Result<Q, StoreError> {
        let map = object("bool", body)?;
        let mut positive: Vec<(Occur, Q)> = Vec::new();
        let mut negative: Vec<(Occur, Q)> = Vec::new();
        let mut shoulds: Vec<Q> = Vec::new();
        let mut msm: Option<&Value> = None;
        for (key, value) in map {
            match key.as_str() {
                "must" | "filter" => {
                    for clause in one_or_many(value) {
                        positive.push((Occur::Must, self.translate(clause)?));
                    }
                }
                "must_not" => {
                    for clause in one_or_many(value) {
                        negative.push((Occur::MustNot, self.translate(clause)?));
                    }
                }
                "should" => {
                    for clause in one_or_many(value) {
                        shoulds.push(self.translate(clause)?);
                    }
                }
                "minimum_should_match" => msm = Some(value),
                "boost" | "_name" => {}
                other => {
                    return Err(invalid(format!(
                        "`bool.{other}` is not supported; use must, filter, should, must_not, minimum_should_match"
                    )));
                }
            }
        }
        let default_msm = usize::from(positive.is_empty() && !shoulds.is_empty());
        let required = match msm {
            Some(value) => minimum_should_match(value, shoulds.len())?,
            None => default_msm,
        };
        if !shoulds.is_empty() {
            if required == 0 {
                positive.extend(shoulds.into_iter().map(|q| (Occur::Should, q)));
            } else if required > shoulds.len() {
                return Ok(Box::new(EmptyQuery));
            } else {
                let should = BooleanQuery::with_minimum_required_clauses(
                    shoulds.into_iter().map(|q| (Occur::Should, q)).collect(),
                    required,
                );
                positive.push((Occur::Must, Box::new(should)));
            }
        }
        if positive.iter().all(|(occur, _)| *occur == Occur::Should) {
            // Only must_not (or scoring-only shoulds): start from everything.
            positive.push((Occur::Must, Box::new(AllQuery)));
        }
        positive.extend(negative);
        Ok(Box::new(BooleanQuery::new(positive)))
    }

    /// `term`: exact value. Numbers match numeric and keyword forms, as a
    /// cluster coerces the value to the field's type.
    fn term(&self, clause: &str, field: &str, value: &Value) -> Result<Q, StoreError> {
        if field == "_id" {
            let id = scalar_text(clause, value)?;
            return Ok(Box::new(TermQuery::new(
                Term::from_field_text(self.fields.id, &id),
                IndexRecordOption::Basic,
            )));
        }
        if field == "_index" {
            let name = scalar_text(clause, value)?;
            return Ok(Box::new(TermQuery::new(
                Term::from_field_text(self.fields.index, &name),
                IndexRecordOption::Basic,
            )));
        }
        match self.kind(field) {
            FieldKind::Text => {
                let text = scalar_text(clause, value)?;
                let mut term = Term::from_field_json_path(self.fields.text, field, true);
                term.append_type_and_str(&text);
                Ok(Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)))
            }
            FieldKind::Date => {
                let text = scalar_text(clause, value)?;
                let at = self.date_value(value, &text, false)?;
                let bound = self.date_term(field, at);
                Ok(Box::new(RangeQuery::new(
                    Bound::Included(bound.clone()),
                    Bound::Included(bound),
                )))
            }
            _ => {
                let terms = self.keyword_terms(clause, field, value)?;
                Ok(any_term(terms))
            }
        }
    }

    fn keyword_terms(
        &self,
        clause: &str,
        field: &str,
        value: &Value,
    ) -> Result<Vec<Term>, StoreError> {
        let base = Term::from_field_json_path(self.fields.kw, field, true);
        let mut out = Vec::new();
        let with = |f: &dyn Fn(&mut Term)| {
            let mut term = base.clone();
            f(&mut term);
            term
        };
        let push_number = |out: &mut Vec<Term>, text: &str| {
            if let Ok(i) = text.parse::<i64>() {
                out.push(with(&|t| t.append_type_and_fast_value(i)));
                out.push(with(&|t| t.append_type_and_fast_value(i as f64)));
            } else if let Ok(u) = text.parse::<u64>() {
                out.push(with(&|t| t.append_type_and_fast_value(u)));
            } else if let Ok(f) = text.parse::<f64>()
                && f.is_finite()
            {
                out.push(with(&|t| t.append_type_and_fast_value(f)));
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    #[expect(clippy::cast_possible_truncation, reason = "integral and in range")]
                    let i = f as i64;
                    out.push(with(&|t| t.append_type_and_fast_value(i)));
                }
            }
        };
        match value {
            Value::String(s) => {
                out.push(with(&|t| t.append_type_and_str(s)));
                push_number(&mut out, s);
                if let Ok(b) = s.parse::<bool>() {
                    out.push(with(&|t| t.append_type_and_fast_value(b)));
                }
            }
            Value::Number(n) => {
                let text = n.to_string();
                out.push(with(&|t| t.append_type_and_str(&text)));
                push_number(&mut out, &text);
            }
            Value::Bool(b) => {
                out.push(with(&|t| t.append_type_and_fast_value(*b)));
                out.push(with(&|t| {
                    t.append_type_and_str(if *b { "true" } else { "false" })
                }));
            }
            Value::Object(map) if map.contains_key("value") => {
                return self.keyword_terms(clause, field, &map["value"]);
            }
            other => {
                return Err(invalid(format!(
                    "`{clause}` on `{field}` needs a string, number or boolean, not {other}"
                )));
            }
        }
        Ok(out)
    }

    fn terms(&self, body: &Value) -> Result<Q, StoreError> {
        let map = object("terms", body)?;
        let mut fields = map
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "boost" | "_name"));
        let (field, values) = match (fields.next(), fields.next()) {
            (Some(one), None) => one,
            _ => {
                return Err(invalid(
                    "`terms` takes exactly one field, e.g. {\"terms\": {\"destination.port\": [22, 443]}}",
                ));
            }
        };
        let values = values
            .as_array()
            .ok_or_else(|| invalid(format!("`terms.{field}` must be a list of values")))?;
        let clauses = values
            .iter()
            .map(|value| Ok((Occur::Should, self.term("terms", field, value)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Box::new(BooleanQuery::new(clauses)))
    }

    fn date_value(
        &self,
        raw: &Value,
        text: &str,
        round_up: bool,
    ) -> Result<DateTime<Utc>, StoreError> {
        match raw {
            Value::Number(n) => n
                .as_i64()
                .and_then(DateTime::from_timestamp_millis)
                .ok_or_else(|| invalid(format!("`{n}` is not a date in epoch milliseconds"))),
            _ => parse_date(text, self.now, round_up),
        }
    }

    fn date_term(&self, field: &str, at: DateTime<Utc>) -> Term {
        let mut term = Term::from_field_json_path(self.fields.kw, field, true);
        let nanos = at.timestamp_nanos_opt().unwrap_or(i64::MAX);
        term.append_type_and_fast_value(tantivy::DateTime::from_timestamp_nanos(nanos));
        term
    }

    fn range(&self, body: &Value) -> Result<Q, StoreError> {
        let (field, spec) = single_key(body, "`range`")?;
        let spec = object("range", spec)?;
        let kind = self.kind(field);
        let mut lower = Bound::Unbounded;
        let mut upper = Bound::Unbounded;
        for (key, raw) in spec {
            let (is_lower, inclusive) = match key.as_str() {
                "gte" | "from" => (true, true),
                "gt" => (true, false),
                "lte" | "to" => (false, true),
                "lt" => (false, false),
                "format" => {
                    if raw.as_str().is_some_and(|f| f.contains("epoch_second")) {
                        return Err(invalid(
                            "`range.format: epoch_second` is not supported; give epoch milliseconds or RFC 3339 dates",
                        ));
                    }
                    continue;
                }
                "time_zone" => {
                    if !matches!(raw.as_str(), Some("UTC" | "Z" | "+00:00" | "Etc/UTC")) {
                        return Err(invalid(
                            "`range.time_zone` other than UTC is not supported; give dates with an offset instead",
                        ));
                    }
                    continue;
                }
                "boost" | "include_lower" | "include_upper" | "relation" => continue,
                other => {
                    return Err(invalid(format!(
                        "`range.{field}.{other}` is not supported; use gte, gt, lte, lt"
                    )));
                }
            };
            if raw.is_null() {
                continue;
            }
            let round_up = is_lower != inclusive;
            let term = self.range_term(field, kind, raw, round_up)?;
            let bound = if inclusive {
                Bound::Included(term)
            } else {
                Bound::Excluded(term)
            };
            if is_lower {
                lower = bound
            } else {
                upper = bound
            }
        }
        if matches!((&lower, &upper), (Bound::Unbounded, Bound::Unbounded)) {
            return Ok(Box::new(ExistsQuery::new(
                self.fields.kw_path(field),
                false,
            )));
        }
        Ok(Box::new(RangeQuery::new(lower, upper)))
    }

    fn range_term(
        &self,
        field: &str,
        kind: FieldKind,
        raw: &Value,
        round_up: bool,
    ) -> Result<Term, StoreError> {
        let mut term = Term::from_field_json_path(self.fields.kw, field, true);
        let text = match raw {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => {
                return Err(invalid(format!(
                    "`range.{field}` bound must be a number or a string, not {other}"
                )));
            }
        };
        let looks_like_date = matches!(raw, Value::String(s) if s.starts_with("now") || s.contains("||") || parse_date(s, self.now, false).is_ok() && s.contains('-'));
        match kind {
            FieldKind::Date => {
                return Ok(self.date_term(field, self.date_value(raw, &text, round_up)?));
            }
            FieldKind::Keyword | FieldKind::Ip | FieldKind::Text => {
                term.append_type_and_str(&text);
                return Ok(term);
            }
            FieldKind::Unknown if looks_like_date => {
                return Ok(self.date_term(field, self.date_value(raw, &text, round_up)?));
            }
            _ => {}
        }
        if let Ok(i) = text.parse::<i64>() {
            term.append_type_and_fast_value(i);
        } else if let Ok(f) = text.parse::<f64>() {
            term.append_type_and_fast_value(f);
        } else if kind == FieldKind::Unknown {
            term.append_type_and_str(&text);
        } else {
            return Err(invalid(format!(
                "`range.{field}`: `{text}` is not a number"
            )));
        }
        Ok(term)
    }

    fn match_text(
        &self,
        field: &str,
        value: &Value,
        operator: Occur,
        phrase: bool,
    ) -> Result<Q, StoreError> {
        let query_value = match value {
            Value::Object(map) => map.get("query").cloned().unwrap_or(Value::Null),
            other => other.clone(),
        };
        if self.kind(field) != FieldKind::Text {
            // A keyword, number or date field matches its whole value, as on a cluster.
            return self.term("match", field, &query_value);
        }
        let text = scalar_text("match", &query_value)?;
        let tokens = self.tokens(field, &text);
        if tokens.is_empty() {
            return Ok(Box::new(EmptyQuery));
        }
        if phrase && tokens.len() > 1 {
            return Ok(Box::new(PhraseQuery::new(tokens)));
        }
        let clauses = tokens
            .into_iter()
            .map(|t| {
                (
                    operator,
                    Box::new(TermQuery::new(t, IndexRecordOption::WithFreqs)) as Q,
                )
            })
            .collect();
        Ok(Box::new(BooleanQuery::new(clauses)))
    }

    fn tokens(&self, field: &str, text: &str) -> Vec<Term> {
        let mut analyzer = self.analyzer.clone();
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while let Some(token) = stream.next() {
            let mut term = Term::from_field_json_path(self.fields.text, field, true);
            term.append_type_and_str(&token.text);
            out.push(term);
        }
        out
    }

    fn multi_match(&self, body: &Value) -> Result<Q, StoreError> {
        let map = object("multi_match", body)?;
        let query = map
            .get("query")
            .ok_or_else(|| invalid("`multi_match` needs `query`"))?;
        let fields = map
            .get("fields")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("`multi_match` needs `fields`, a list of field names"))?;
        let phrase = match map.get("type").and_then(Value::as_str) {
            None | Some("best_fields" | "most_fields") => false,
            Some("phrase") => true,
            Some(other) => {
                return Err(invalid(format!(
                    "`multi_match.type: {other}` is not supported; use best_fields or phrase"
                )));
            }
        };
        let operator = operator_of(Some(body))?;
        let mut clauses = Vec::new();
        for field in fields {
            let field = field
                .as_str()
                .ok_or_else(|| invalid("`multi_match.fields` must be strings"))?;
            let field = field.split('^').next().unwrap_or(field);
            if field.contains('*') {
                return Err(invalid(format!(
                    "`multi_match` field pattern `{field}` is not supported; list the fields"
                )));
            }
            clauses.push((
                Occur::Should,
                self.match_text(field, query, operator, phrase)?,
            ));
        }
        Ok(Box::new(BooleanQuery::new(clauses)))
    }

    fn query_string(&self, body: &Value) -> Result<Q, StoreError> {
        let map = object("query_string", body)?;
        let text = map
            .get("query")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("`query_string` needs `query`"))?;
        let default_and = matches!(
            map.get("default_operator").and_then(Value::as_str),
            Some("AND" | "and")
        );
        let default_field = map
            .get("default_field")
            .and_then(Value::as_str)
            .unwrap_or("message");
        let parsed = crate::query_string::parse(text)?;
        self.translate_query_string(&parsed, default_field, default_and)
    }

    fn translate_query_string(
        &self,
        node: &crate::query_string::Node,
        default_field: &str,
        default_and: bool,
    ) -> Result<Q, StoreError> {
        use crate::query_string::Node;
        Ok(match node {
            Node::Term {
                field,
                value,
                phrase,
            } => {
                let field = field.as_deref().unwrap_or(default_field);
                if value == "*" {
                    return Ok(Box::new(ExistsQuery::new(self.fields.kw_path(field), true)));
                }
                self.match_text(field, &Value::String(value.clone()), Occur::Must, *phrase)?
            }
            Node::Range {
                field,
                lower,
                upper,
                inclusive,
            } => {
                let mut spec = Map::new();
                let (lo, hi) = if *inclusive {
                    ("gte", "lte")
                } else {
                    ("gt", "lt")
                };
                if lower != "*" {
                    spec.insert(lo.into(), Value::String(lower.clone()));
                }
                if upper != "*" {
                    spec.insert(hi.into(), Value::String(upper.clone()));
                }
                let mut range = Map::new();
                range.insert(field.clone(), Value::Object(spec));
                self.range(&Value::Object(range))?
            }
            Node::Not(inner) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, Box::new(AllQuery) as Q),
                (
                    Occur::MustNot,
                    self.translate_query_string(inner, default_field, default_and)?,
                ),
            ])),
            Node::And(items) => Box::new(BooleanQuery::new(
                items
                    .iter()
                    .map(|n| {
                        Ok((
                            Occur::Must,
                            self.translate_query_string(n, default_field, default_and)?,
                        ))
                    })
                    .collect::<Result<_, StoreError>>()?,
            )),
            Node::Or(items) => Box::new(BooleanQuery::new(
                items
                    .iter()
                    .map(|n| {
                        Ok((
                            Occur::Should,
                            self.translate_query_string(n, default_field, default_and)?,
                        ))
                    })
                    .collect::<Result<_, StoreError>>()?,
            )),
            Node::Implicit(items) => {
                let occur = if default_and {
                    Occur::Must
                } else {
                    Occur::Should
                };
                Box::new(BooleanQuery::new(
                    items
                        .iter()
                        .map(|n| {
                            Ok((
                                occur,
                                self.translate_query_string(n, default_field, default_and)?,
                            ))
                        })
                        .collect::<Result<_, StoreError>>()?,
                ))
            }
        })
    }
}

fn object<'a>(clause: &str, value: &'a Value) -> Result<&'a Map<String, Value>, StoreError> {
    value
        .as_object()
        .ok_or_else(|| invalid(format!("`{clause}` must be a JSON object")))
}

/// The one key of a clause object, with its body.
pub(crate) fn single_key<'a>(
    value: &'a Value,
    what: &str,
) -> Result<(&'a str, &'a Value), StoreError> {
    let map = value.as_object().ok_or_else(|| {
        invalid(format!(
            "{what} must be a JSON object like {{\"match_all\": {{}}}}"
        ))
    })?;
    let mut entries = map.iter();
    match (entries.next(), entries.next()) {
        (Some((key, body)), None) => Ok((key.as_str(), body)),
        (None, _) => Err(invalid(format!("{what} is empty"))),
        _ => Err(invalid(format!(
            "{what} has several keys ({}); put each clause in its own object inside `bool`",
            map.keys().cloned().collect::<Vec<_>>().join(", ")
        ))),
    }
}

fn field_and_value<'a>(
    clause: &str,
    body: &'a Value,
    inner: &str,
) -> Result<(&'a str, &'a Value), StoreError> {
    let (field, value) = single_key(body, &format!("`{clause}`"))?;
    let value = match value {
        Value::Object(map) => map
            .get(inner)
            .ok_or_else(|| invalid(format!("`{clause}.{field}` needs `{inner}`")))?,
        other => other,
    };
    Ok((field, value))
}

fn operator_of(spec: Option<&Value>) -> Result<Occur, StoreError> {
    match spec.and_then(|s| s.get("operator")).and_then(Value::as_str) {
        None => Ok(Occur::Should),
        Some(op) if op.eq_ignore_ascii_case("or") => Ok(Occur::Should),
        Some(op) if op.eq_ignore_ascii_case("and") => Ok(Occur::Must),
        Some(op) => Err(invalid(format!(
            "operator `{op}` is not known; use `and` or `or`"
        ))),
    }
}

fn scalar_text(clause: &str, value: &Value) -> Result<String, StoreError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(invalid(format!(
            "`{clause}` needs a string, number or boolean, not {other}"
        ))),
    }
}

fn one_or_many(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

fn minimum_should_match(value: &Value, shoulds: usize) -> Result<usize, StoreError> {
    let bad = || {
        invalid(format!(
            "`minimum_should_match: {value}` is not supported; give a count like 2 or a percentage like \"50%\""
        ))
    };
    let count: i64 = match value {
        Value::Number(n) => n.as_i64().ok_or_else(bad)?,
        Value::String(s) => {
            if let Some(percent) = s.strip_suffix('%') {
                let p: i64 = percent.trim().parse().map_err(|_| bad())?;
                #[expect(clippy::cast_possible_wrap, reason = "clause counts are small")]
                let total = shoulds as i64;
                if p < 0 {
                    total + total * p / 100
                } else {
                    total * p / 100
                }
            } else {
                s.trim().parse().map_err(|_| bad())?
            }
        }
        _ => return Err(bad()),
    };
    #[expect(clippy::cast_possible_wrap, reason = "clause counts are small")]
    let resolved = if count < 0 {
        shoulds as i64 + count
    } else {
        count
    };
    Ok(usize::try_from(resolved.max(0)).unwrap_or(0))
}
