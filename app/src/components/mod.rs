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

#[cfg(test)]
mod tests {
    use super::grouped;

    #[test]
    fn counts_are_grouped_by_three() {
        assert_eq!(grouped(1953736), "1\u{202F}953\u{202F}736");
        assert_eq!(grouped(20915_u64), "20\u{202F}915");
        assert_eq!(grouped(-1234567_i64), "-1\u{202F}234\u{202F}567");
        // Four digits stay together (1000, 2026), as style guides advise.
        assert_eq!(grouped(1000), "1000");
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped("n/a"), "n/a");
    }
}
