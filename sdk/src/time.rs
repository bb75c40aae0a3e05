//! The run's clock time as a value skills compute with: milliseconds since
//! the Unix epoch, read from and written as RFC 3339 in UTC, without a date
//! library in the component.

use std::time::Duration;

/// A point in time: whole milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The instant `millis` milliseconds after the Unix epoch.
    pub const fn from_epoch_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the Unix epoch (what an OpenSearch `range` on a
    /// date field takes with `"format": "epoch_millis"`).
    pub const fn epoch_millis(self) -> i64 {
        self.0
    }

    /// This instant moved back by `by` (saturating).
    pub fn minus(self, by: Duration) -> Self {
        Self(self.0.saturating_sub(duration_millis(by)))
    }

    /// This instant moved forward by `by` (saturating).
    pub fn plus(self, by: Duration) -> Self {
        Self(self.0.saturating_add(duration_millis(by)))
    }

    /// Parses RFC 3339 text such as `2026-12-01T23:05:19.123Z` or
    /// `2026-12-01T23:05:19+01:00`; fractions beyond milliseconds are cut.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() < 20
            || bytes[4] != b'-'
            || bytes[7] != b'-'
            || !matches!(bytes[10], b'T' | b't' | b' ')
            || bytes[13] != b':'
            || bytes[16] != b':'
        {
            return None;
        }
        let number = |range: std::ops::Range<usize>| -> Option<i64> {
            let part = text.get(range)?;
            if !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            part.parse().ok()
        };
        let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
        let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return None;
        }
        let mut rest = &text[19..];
        let mut millis = 0;
        if let Some(fraction) = rest.strip_prefix('.') {
            let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            let kept = &fraction[..digits.min(3)];
            millis = kept.parse::<i64>().ok()? * 10_i64.pow(3 - kept.len() as u32);
            rest = &fraction[digits..];
        }
        let offset_minutes = match rest {
            "Z" | "z" => 0,
            _ => {
                let sign = match rest.as_bytes().first()? {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return None,
                };
                let zone = &rest[1..];
                if zone.len() != 5 || zone.as_bytes()[2] != b':' {
                    return None;
                }
                let hours: i64 = zone[..2].parse().ok()?;
                let minutes: i64 = zone[3..].parse().ok()?;
                sign * (hours * 60 + minutes)
            }
        };
        let days = days_from_civil(year, month, day);
        let seconds =
            days * 86_400 + hour * 3_600 + minute * 60 + second.min(59) - offset_minutes * 60;
        Some(Self(seconds * 1_000 + millis))
    }

    /// RFC 3339 in UTC with milliseconds: `2026-12-01T23:05:19.123Z`.
    pub fn to_rfc3339(self) -> String {
        let days = self.0.div_euclid(86_400_000);
        let in_day = self.0.rem_euclid(86_400_000);
        let (year, month, day) = civil_from_days(days);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
            in_day / 3_600_000,
            in_day / 60_000 % 60,
            in_day / 1_000 % 60,
            in_day % 1_000
        )
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

fn duration_millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_through_epoch_millis() {
        let t = Timestamp::parse_rfc3339("2026-12-01T23:05:19.123Z").expect("parse");
        assert_eq!(t.epoch_millis(), 1_796_166_319_123);
        assert_eq!(t.to_rfc3339(), "2026-12-01T23:05:19.123Z");
        assert_eq!(
            Timestamp::from_epoch_millis(0).to_rfc3339(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_epoch_millis(-1).to_rfc3339(),
            "1969-12-31T23:59:59.999Z"
        );
        let leap = Timestamp::parse_rfc3339("2024-02-29T00:00:00Z").expect("leap day");
        assert_eq!(
            leap.plus(Duration::from_secs(86_400)).to_rfc3339(),
            "2024-03-01T00:00:00.000Z"
        );
    }

    #[test]
    fn offsets_fractions_and_bad_text() {
        let with_offset = Timestamp::parse_rfc3339("2026-12-02T00:05:19.5+01:00").expect("offset");
        assert_eq!(with_offset.to_rfc3339(), "2026-12-01T23:05:19.500Z");
        let nanos = Timestamp::parse_rfc3339("2026-12-01T23:05:19.123456789Z").expect("nanos");
        assert_eq!(nanos.epoch_millis() % 1_000, 123);
        for bad in [
            "",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-12-01 23:05",
            "2026-12-01T23:05:19",
            "2026-12-01T23:05:19.Z",
            "2026-12-01T23:05:19+0100",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn arithmetic_moves_by_durations() {
        let t = Timestamp::parse_rfc3339("2026-12-01T00:00:00Z").expect("parse");
        assert_eq!(
            t.minus(Duration::from_secs(24 * 3_600)).to_rfc3339(),
            "2026-11-30T00:00:00.000Z"
        );
    }
}
