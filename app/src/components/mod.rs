//! Reusable UI pieces.

pub mod chart;

/// A count with its digits grouped by three (`1 953 736`), separated by a narrow no-break
/// space: readable in every language, never mistaken for a decimal point, and the same on the
/// server and in the browser (hydration renders identical text).
pub fn grouped(n: impl std::fmt::Display) -> String {
    let s = n.to_string();
    let (sign, digits) = match s.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", s.as_str()),
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() <= 4 {
        return s;
    }
    let mut out = String::with_capacity(s.len() + digits.len() / 3 * 3);
    out.push_str(sign);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('\u{202F}');
        }
        out.push(c);
    }
    out
}

/// The failure rate of `success` and `failure` sessions with sensible precision: two decimals
/// under 10 %, one above; `–` without sessions.
pub fn rate(success: i64, failure: i64) -> String {
    let total = success + failure;
    if total <= 0 {
        return "–".into();
    }
    let r = failure as f64 * 100.0 / total as f64;
    if failure > 0 && r < 0.01 {
        "< 0.01 %".into()
    } else if r < 10.0 {
        format!("{r:.2} %")
    } else {
        format!("{r:.1} %")
    }
}

#[cfg(test)]
mod tests {
    use super::{grouped, rate};

    #[test]
    fn counts_are_grouped_by_three_and_rates_rounded_sensibly() {
        assert_eq!(rate(0, 0), "–");
        assert_eq!(rate(999_999, 1), "< 0.01 %");
        assert_eq!(rate(995, 5), "0.50 %");
        assert_eq!(rate(80, 20), "20.0 %");
        assert_eq!(grouped(1953736), "1\u{202F}953\u{202F}736");
        assert_eq!(grouped(20915_u64), "20\u{202F}915");
        assert_eq!(grouped(-1234567_i64), "-1\u{202F}234\u{202F}567");
        // Four digits stay together (1000, 2026), as style guides advise.
        assert_eq!(grouped(1000), "1000");
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped("n/a"), "n/a");
    }
}
