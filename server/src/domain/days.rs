//! UTC days as integers (days since 1970-01-01), the unit of every rollup.

use chrono::{DateTime, NaiveDate, Utc};

/// The UTC day a timestamp falls on.
pub fn day_of(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(86_400)
}

/// `YYYY-MM-DD` for a day number.
pub fn format_day(day: i64) -> String {
    match DateTime::from_timestamp(day * 86_400, 0) {
        Some(t) => t.format("%Y-%m-%d").to_string(),
        None => format!("day {day}"),
    }
}

/// Parses `YYYY-MM-DD` into a day number.
pub fn parse_day(s: &str) -> Option<i64> {
    let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
    Some(day_of(d.and_hms_opt(0, 0, 0)?.and_utc()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_round_trips_through_text() {
        let d = parse_day("2026-11-28").unwrap();
        assert_eq!(format_day(d), "2026-11-28");
        assert_eq!(parse_day("1970-01-02"), Some(1));
        assert_eq!(parse_day("2026-13-01"), None);
    }

    #[test]
    fn a_report_counts_on_the_utc_day_its_range_starts() {
        let t = DateTime::parse_from_rfc3339("2026-11-27T23:59:59-01:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(format_day(day_of(t)), "2026-11-28");
    }
}
