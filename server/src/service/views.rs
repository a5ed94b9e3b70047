//! Small conversions shared by the use cases that answer with the app's view types: day
//! ranges asked by a caller, day series without gaps, times as shown.

use app::api::DayPoint;

use super::{Outcome, ServiceError};
use crate::domain::days::{day_of, format_day, parse_day};

/// Longest range of days one request may ask for (about ten years).
pub const MAX_RANGE_DAYS: i64 = 3660;

/// Today, as a UTC day number.
pub fn today() -> i64 {
    day_of(chrono::Utc::now())
}

/// The inclusive days `from..=to` asked as `YYYY-MM-DD`; a missing `to` is today, a missing
/// `from` is `default_days` days ending on `to`.
pub fn day_range(from: Option<&str>, to: Option<&str>, default_days: u32) -> Outcome<(i64, i64)> {
    let bad = |what: &str| ServiceError::Invalid(format!("{what} must be a date YYYY-MM-DD"));
    let to = match to {
        Some(s) => parse_day(s.trim()).ok_or_else(|| bad("to"))?,
        None => today(),
    };
    let from = match from {
        Some(s) => parse_day(s.trim()).ok_or_else(|| bad("from"))?,
        None => to - i64::from(default_days.max(1)) + 1,
    };
    if from > to {
        return Err(ServiceError::Invalid("from must not be after to".into()));
    }
    if to - from > MAX_RANGE_DAYS {
        return Err(ServiceError::Invalid(format!(
            "the range is {} days; at most {MAX_RANGE_DAYS} days (about 10 years) may be asked at once",
            to - from + 1
        )));
    }
    Ok((from, to))
}

/// The `days` days ending today, clamped to 1..=[`MAX_RANGE_DAYS`].
pub fn last_days(days: u32) -> (i64, i64) {
    let to = today();
    (to - i64::from(days.clamp(1, MAX_RANGE_DAYS as u32)) + 1, to)
}

/// One point per day of `from..=to`, zero where `days` (day, success, failure) has none.
pub fn day_series(
    from: i64,
    to: i64,
    days: impl Iterator<Item = (i64, i64, i64)>,
) -> Vec<DayPoint> {
    let mut series: Vec<DayPoint> = (from..=to)
        .map(|d| DayPoint {
            day: format_day(d),
            success: 0,
            failure: 0,
        })
        .collect();
    for (d, success, failure) in days {
        if let Some(p) = usize::try_from(d - from)
            .ok()
            .and_then(|i| series.get_mut(i))
        {
            p.success = success;
            p.failure = failure;
        }
    }
    series
}

/// A Unix time as shown in the UI (`2026-05-01 12:00 UTC`).
pub fn utc(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_checked() {
        let (f, t) = day_range(Some("2026-01-01"), Some("2026-01-31"), 30).unwrap();
        assert_eq!(t - f, 30);
        assert!(matches!(
            day_range(Some("2026-02-01"), Some("2026-01-31"), 30),
            Err(ServiceError::Invalid(m)) if m.contains("after")
        ));
        assert!(matches!(
            day_range(Some("2000-01-01"), Some("2026-01-31"), 30),
            Err(ServiceError::Invalid(m)) if m.contains("at most 3660")
        ));
        assert!(matches!(
            day_range(Some("yesterday"), None, 30),
            Err(ServiceError::Invalid(m)) if m.starts_with("from")
        ));
        let (f, t) = day_range(None, Some("2026-01-31"), 7).unwrap();
        assert_eq!((t - f, format_day(f)), (6, "2026-01-25".to_owned()));
    }

    #[test]
    fn series_has_every_day() {
        let s = day_series(10, 13, [(11, 5, 1), (99, 1, 1)].into_iter());
        assert_eq!(s.len(), 4);
        assert_eq!((s[1].success, s[1].failure), (5, 1));
        assert_eq!((s[0].success, s[3].failure), (0, 0));
    }
}
