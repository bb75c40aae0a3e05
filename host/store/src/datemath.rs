//! Dates in queries: RFC 3339 / ISO dates, epoch milliseconds and the
//! OpenSearch date math (`now-6h`, `now/d`, `2024-01-01||+1M/d`).

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};

use crate::error::{StoreError, invalid};

/// Parses a date value as OpenSearch does for a `date` field. `round_up`
/// is set for `lte`/`gt` bounds, where `/d` rounds to the end of the day.
pub fn parse_date(
    text: &str,
    now: DateTime<Utc>,
    round_up: bool,
) -> Result<DateTime<Utc>, StoreError> {
    let text = text.trim();
    let (anchor, math) = if let Some(rest) = text.strip_prefix("now") {
        (now, rest)
    } else if let Some((anchor, math)) = text.split_once("||") {
        (parse_absolute(anchor)?, math)
    } else {
        return parse_absolute(text);
    };
    apply_math(anchor, math, round_up).ok_or_else(|| {
        invalid(format!(
            "date math `{text}` is not understood; use forms like `now-6h`, `now/d` or `2024-01-01||+1d`"
        ))
    })
}

fn parse_absolute(text: &str) -> Result<DateTime<Utc>, StoreError> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Ok(dt.with_timezone(&Utc));
    }
    if let Ok(naive) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
        return Ok(Utc.from_utc_datetime(&naive));
    }
    if let Ok(naive) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M") {
        return Ok(Utc.from_utc_datetime(&naive));
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default()));
    }
    if let Ok(millis) = text.parse::<i64>() {
        return DateTime::from_timestamp_millis(millis)
            .ok_or_else(|| invalid(format!("epoch milliseconds `{text}` are out of range")));
    }
    Err(invalid(format!(
        "`{text}` is not a date; use RFC 3339 (`2024-01-01T00:00:00Z`), `2024-01-01`, epoch milliseconds or date math (`now-6h`)"
    )))
}

fn apply_math(mut at: DateTime<Utc>, mut math: &str, round_up: bool) -> Option<DateTime<Utc>> {
    while !math.is_empty() {
        let op = math.chars().next()?;
        math = &math[1..];
        if op == '/' {
            let unit = math.chars().next()?;
            math = &math[1..];
            at = round(at, unit, round_up)?;
            continue;
        }
        let digits = math.chars().take_while(char::is_ascii_digit).count();
        let amount: i64 = if digits == 0 {
            1
        } else {
            math[..digits].parse().ok()?
        };
        math = &math[digits..];
        let unit = math.chars().next()?;
        math = &math[1..];
        let amount = match op {
            '+' => amount,
            '-' => -amount,
            _ => return None,
        };
        at = shift(at, amount, unit)?;
    }
    Some(at)
}

fn shift(at: DateTime<Utc>, amount: i64, unit: char) -> Option<DateTime<Utc>> {
    Some(match unit {
        's' => at + Duration::seconds(amount),
        'm' => at + Duration::minutes(amount),
        'h' | 'H' => at + Duration::hours(amount),
        'd' => at + Duration::days(amount),
        'w' => at + Duration::weeks(amount),
        'M' => add_months(at, amount)?,
        'y' => add_months(at, amount.checked_mul(12)?)?,
        _ => return None,
    })
}

fn add_months(at: DateTime<Utc>, months: i64) -> Option<DateTime<Utc>> {
    let total = i64::from(at.year()) * 12 + i64::from(at.month0()) + months;
    let year = i32::try_from(total.div_euclid(12)).ok()?;
    let month = u32::try_from(total.rem_euclid(12)).ok()? + 1;
    let mut day = at.day();
    loop {
        if let Some(date) = NaiveDate::from_ymd_opt(year, month, day) {
            return Some(Utc.from_utc_datetime(&date.and_time(at.time())));
        }
        day = day.checked_sub(1)?;
    }
}

fn round(at: DateTime<Utc>, unit: char, round_up: bool) -> Option<DateTime<Utc>> {
    let date = at.date_naive();
    let start = match unit {
        's' => at.with_nanosecond(0)?,
        'm' => at.with_nanosecond(0)?.with_second(0)?,
        'h' | 'H' => at.with_nanosecond(0)?.with_second(0)?.with_minute(0)?,
        'd' => Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?),
        'w' => {
            let monday = date - Duration::days(i64::from(date.weekday().num_days_from_monday()));
            Utc.from_utc_datetime(&monday.and_hms_opt(0, 0, 0)?)
        }
        'M' => Utc.from_utc_datetime(&date.with_day(1)?.and_hms_opt(0, 0, 0)?),
        'y' => Utc.from_utc_datetime(&date.with_day(1)?.with_month(1)?.and_hms_opt(0, 0, 0)?),
        _ => return None,
    };
    if !round_up {
        return Some(start);
    }
    // Rounding up gives the last millisecond of the unit, as OpenSearch does.
    let next = shift(start, 1, if unit == 'H' { 'h' } else { unit })?;
    Some(next - Duration::milliseconds(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 3, 15, 13, 45, 30).unwrap()
    }

    #[test]
    fn date_math_moves_and_rounds() {
        let at = |s: &str, up| parse_date(s, now(), up).unwrap().to_rfc3339();
        assert_eq!(at("now-6h", false), "2024-03-15T07:45:30+00:00");
        assert_eq!(at("now/d", false), "2024-03-15T00:00:00+00:00");
        assert_eq!(at("now/d", true), "2024-03-15T23:59:59.999+00:00");
        assert_eq!(at("now-1M/M", false), "2024-02-01T00:00:00+00:00");
        assert_eq!(at("2024-01-31||+1M", false), "2024-02-29T00:00:00+00:00");
        assert_eq!(
            at("2024-03-15T10:00:00Z", false),
            "2024-03-15T10:00:00+00:00"
        );
        assert_eq!(at("1710460800000", false), "2024-03-15T00:00:00+00:00");
    }

    #[test]
    fn nonsense_is_refused_with_the_accepted_forms() {
        let err = parse_date("yesterday", now(), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("now-6h"), "{err}");
        assert!(parse_date("now-6q", now(), false).is_err());
    }
}
