//! Reusable UI pieces.

pub mod chart;

use leptos::prelude::*;

/// False while the server renders and until this part of the page has hydrated, then true.
/// Buttons that work only through script (`on:click`) are disabled until then: a lazy route's
/// script arrives after its HTML, and a click before it would do nothing.
pub fn hydrated() -> ReadSignal<bool> {
    let (get, set) = signal(false);
    Effect::new(move |_| set.set(true));
    get
}

/// True until this part of the page has hydrated ([`hydrated`]): the `disabled` of a button
/// that works only through script.
pub fn until_hydrated() -> impl Fn() -> bool + Copy + Send + Sync + 'static {
    let h = hydrated();
    move || !h.get()
}

/// A count with its digits grouped by three (`1 953 736`), separated by a narrow no-break
/// space: readable in every language, never mistaken for a decimal point. What the server
/// renders; [`Count`] then shows the browser's locale.
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

/// A count: grouped by three on the server (so hydration matches), then formatted in the
/// browser's locale once the page runs (`1,953,736`, `1.953.736`, `1 953 736`).
#[leptos::component]
pub fn Count(
    /// The number.
    #[prop(into)]
    n: i64,
) -> impl leptos::IntoView {
    use leptos::prelude::*;
    let text = RwSignal::new(grouped(n));
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        let local: String = js_sys::Number::from(n as f64)
            .to_locale_string("default")
            .into();
        text.set(local);
    });
    view! { <span class="count">{move || text.get()}</span> }
}

/// `YYYY-MM-DD HH:MM[:SS][ UTC]` (how the server writes UTC times) as RFC 3339, or `None`.
pub fn utc_rfc3339(shown: &str) -> Option<String> {
    let t = shown.trim().trim_end_matches(" UTC").trim();
    let (date, time) = t.split_once(' ')?;
    let time = if time.len() == 5 {
        format!("{time}:00")
    } else {
        time.to_owned()
    };
    let ok = date.len() == 10
        && time.len() == 8
        && date.chars().all(|c| c.is_ascii_digit() || c == '-')
        && time.chars().all(|c| c.is_ascii_digit() || c == ':');
    ok.then(|| format!("{date}T{time}Z"))
}

/// A time the server wrote in UTC, shown in the browser's time zone once the page runs, with
/// the UTC time on hover (and in `datetime`). Rendered in UTC on the server, so hydration
/// matches; the local time replaces it afterwards.
#[leptos::component]
pub fn LocalTime(
    /// `YYYY-MM-DD HH:MM[:SS][ UTC]`.
    #[prop(into)]
    utc: String,
) -> impl leptos::IntoView {
    use leptos::prelude::*;
    let iso = utc_rfc3339(&utc);
    let label = if utc.ends_with("UTC") {
        utc.clone()
    } else {
        format!("{utc} UTC")
    };
    let text = RwSignal::new(label.clone());
    #[cfg(feature = "hydrate")]
    {
        let iso = iso.clone();
        Effect::new(move |_| {
            if let Some(iso) = &iso {
                let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(iso));
                if !d.get_time().is_nan() {
                    let local: String = d
                        .to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED)
                        .into();
                    text.set(local);
                }
            }
        });
    }
    view! { <time datetime=iso.unwrap_or_default() title=label>{move || text.get()}</time> }
}

#[cfg(test)]
mod tests {
    use super::{grouped, rate};

    #[test]
    fn utc_times_become_rfc3339() {
        assert_eq!(
            super::utc_rfc3339("2026-12-01 10:05 UTC").as_deref(),
            Some("2026-12-01T10:05:00Z")
        );
        assert_eq!(
            super::utc_rfc3339("2026-12-01 10:05:07").as_deref(),
            Some("2026-12-01T10:05:07Z")
        );
        assert_eq!(super::utc_rfc3339("soon"), None);
    }

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
