//! Typed rule parameters: one struct per rule kind. Unknown or misspelt keys and values out
//! of range are refused with the reason (400 in the API, an error in the UI) instead of being
//! replaced by their default without a word.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `failure_spike`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FailureSpike {
    /// Days before the evaluation window that make the baseline.
    pub baseline_days: i64,
    /// Days evaluated (today and the days before).
    pub eval_days: i64,
    /// Threshold: baseline median + k × MAD.
    pub k: f64,
    /// A day needs this many sessions to count.
    pub min_sessions: i64,
    /// …and this many failures.
    pub min_failures: i64,
    /// A failure rate above this always fires (0–1).
    pub absolute_rate: f64,
    /// Pending this long before firing.
    pub for_minutes: i64,
}

impl Default for FailureSpike {
    fn default() -> Self {
        Self {
            baseline_days: 14,
            eval_days: 3,
            k: 3.0,
            min_sessions: 100,
            min_failures: 10,
            absolute_rate: 0.2,
            for_minutes: 0,
        }
    }
}

/// `new_failure_type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NewFailureType {
    /// Days of the baseline.
    pub baseline_days: i64,
    /// Days evaluated.
    pub eval_days: i64,
    /// Failures of the new type needed to fire.
    pub min_failures: i64,
    /// Pending this long before firing.
    pub for_minutes: i64,
}

impl Default for NewFailureType {
    fn default() -> Self {
        Self {
            baseline_days: 14,
            eval_days: 2,
            min_failures: 1,
            for_minutes: 0,
        }
    }
}

/// `config_regression`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConfigRegression {
    /// Pending this long before firing.
    pub for_minutes: i64,
}

/// `cert_expiry`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CertExpiry {
    /// Fire when a certificate expires within this many days.
    pub days: i64,
    /// Pending this long before firing.
    pub for_minutes: i64,
}

impl Default for CertExpiry {
    fn default() -> Self {
        Self {
            days: 14,
            for_minutes: 0,
        }
    }
}

/// `no_reports`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NoReports {
    /// Quiet days that fire.
    pub days: i64,
    /// Days before them that make the baseline.
    pub baseline_days: i64,
    /// Days with reports the baseline needs.
    pub min_days_with_reports: i64,
    /// Pending this long before firing.
    pub for_minutes: i64,
}

impl Default for NoReports {
    fn default() -> Self {
        Self {
            days: 3,
            baseline_days: 14,
            min_days_with_reports: 10,
            for_minutes: 0,
        }
    }
}

/// `mailbox_failing`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailboxFailing {
    /// Fire when a mailbox has not been polled successfully for this many hours.
    pub hours: i64,
    /// Pending this long before firing.
    pub for_minutes: i64,
}

impl Default for MailboxFailing {
    fn default() -> Self {
        Self {
            hours: 1,
            for_minutes: 0,
        }
    }
}

fn range_i(name: &str, v: i64, lo: i64, hi: i64, unit: &str) -> Result<(), String> {
    if (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(format!("{name} must be {lo} to {hi} {unit}, not {v}"))
    }
}

fn range_f(name: &str, v: f64, lo: f64, hi: f64) -> Result<(), String> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(format!("{name} must be {lo} to {hi}, not {v}"))
    }
}

const FOR_MAX: i64 = 7 * 24 * 60;

fn parse<T: serde::de::DeserializeOwned>(
    kind: &str,
    params: &Map<String, Value>,
) -> Result<T, String> {
    serde_path_to_error::deserialize(Value::Object(params.clone())).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // serde: "unknown field `absolut_rate`, expected one of `baseline_days`, …"
        let inner = inner.split(" at line ").next().unwrap_or(&inner).to_owned();
        if path.is_empty() || path == "." {
            format!("{kind} parameters: {inner}")
        } else {
            format!("{kind} parameter {path}: {inner}")
        }
    })
}

/// A rule's parameters, typed by its kind.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleParams {
    /// `failure_spike`.
    FailureSpike(FailureSpike),
    /// `new_failure_type`.
    NewFailureType(NewFailureType),
    /// `config_regression`.
    ConfigRegression(ConfigRegression),
    /// `cert_expiry`.
    CertExpiry(CertExpiry),
    /// `no_reports`.
    NoReports(NoReports),
    /// `mailbox_failing`.
    MailboxFailing(MailboxFailing),
}

impl RuleParams {
    /// Parses and checks `params` for a rule of `kind`: known keys only, numbers in range,
    /// defaults for what is not given.
    pub fn parse(kind: &str, params: &Map<String, Value>) -> Result<Self, String> {
        Ok(match kind {
            "failure_spike" => {
                let p: FailureSpike = parse(kind, params)?;
                range_i("baseline_days", p.baseline_days, 1, 365, "days")?;
                range_i("eval_days", p.eval_days, 1, 30, "days")?;
                range_f("k", p.k, 0.0, 100.0)?;
                range_i("min_sessions", p.min_sessions, 0, 1_000_000_000, "sessions")?;
                range_i("min_failures", p.min_failures, 0, 1_000_000_000, "sessions")?;
                range_f("absolute_rate", p.absolute_rate, 0.0, 1.0)?;
                range_i("for_minutes", p.for_minutes, 0, FOR_MAX, "minutes")?;
                Self::FailureSpike(p)
            }
            "new_failure_type" => {
                let p: NewFailureType = parse(kind, params)?;
                range_i("baseline_days", p.baseline_days, 1, 365, "days")?;
                range_i("eval_days", p.eval_days, 1, 30, "days")?;
                range_i("min_failures", p.min_failures, 1, 1_000_000_000, "sessions")?;
                range_i("for_minutes", p.for_minutes, 0, FOR_MAX, "minutes")?;
                Self::NewFailureType(p)
            }
            "config_regression" => {
                let p: ConfigRegression = parse(kind, params)?;
                range_i("for_minutes", p.for_minutes, 0, FOR_MAX, "minutes")?;
                Self::ConfigRegression(p)
            }
            "cert_expiry" => {
                let p: CertExpiry = parse(kind, params)?;
                range_i("days", p.days, 1, 365, "days")?;
                range_i("for_minutes", p.for_minutes, 0, FOR_MAX, "minutes")?;
                Self::CertExpiry(p)
            }
            "no_reports" => {
                let p: NoReports = parse(kind, params)?;
                range_i("days", p.days, 1, 90, "days")?;
                range_i("baseline_days", p.baseline_days, 1, 365, "days")?;
                range_i(
                    "min_days_with_reports",
                    p.min_days_with_reports,
                    0,
                    p.baseline_days,
                    "days",
                )?;
                range_i("for_minutes", p.for_minutes, 0, FOR_MAX, "minutes")?;
                Self::NoReports(p)
            }
            "mailbox_failing" => {
                let p: MailboxFailing = parse(kind, params)?;
                range_i("hours", p.hours, 1, 168, "hours")?;
                range_i("for_minutes", p.for_minutes, 0, FOR_MAX, "minutes")?;
                Self::MailboxFailing(p)
            }
            other => return Err(format!("unknown rule kind {other:?}")),
        })
    }

    /// Parses stored parameters (a JSON object).
    pub fn from_stored(kind: &str, params: &Value) -> Result<Self, String> {
        match params {
            Value::Object(m) => Self::parse(kind, m),
            Value::Null => Self::parse(kind, &Map::new()),
            _ => Err(format!("{kind} parameters are not a JSON object")),
        }
    }

    /// How long a condition is pending before it fires, in minutes.
    pub fn for_minutes(&self) -> i64 {
        match self {
            Self::FailureSpike(p) => p.for_minutes,
            Self::NewFailureType(p) => p.for_minutes,
            Self::ConfigRegression(p) => p.for_minutes,
            Self::CertExpiry(p) => p.for_minutes,
            Self::NoReports(p) => p.for_minutes,
            Self::MailboxFailing(p) => p.for_minutes,
        }
    }

    /// The full parameter set, as stored and shown.
    pub fn to_value(&self) -> Value {
        let v = match self {
            Self::FailureSpike(p) => serde_json::to_value(p),
            Self::NewFailureType(p) => serde_json::to_value(p),
            Self::ConfigRegression(p) => serde_json::to_value(p),
            Self::CertExpiry(p) => serde_json::to_value(p),
            Self::NoReports(p) => serde_json::to_value(p),
            Self::MailboxFailing(p) => serde_json::to_value(p),
        };
        v.unwrap_or(Value::Null)
    }
}

/// Checks `params` for a rule of `kind` (see [`RuleParams::parse`]). Returns the full
/// parameter set (defaults filled in) to store.
pub fn validate(kind: &str, params: &Map<String, Value>) -> Result<Value, String> {
    RuleParams::parse(kind, params).map(|p| p.to_value())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The form's limits (`app::alerting::rule_fields`) are the ones enforced here.
    #[test]
    fn the_forms_limits_are_the_servers() {
        for (kind, _) in app::alerting::RULE_KINDS {
            let fields = app::alerting::rule_fields(kind);
            assert!(!fields.is_empty(), "{kind} has no form fields");
            let defaults = validate(kind, &Map::new()).unwrap();
            let keys: Vec<&String> = defaults.as_object().unwrap().keys().collect();
            assert_eq!(
                keys.len(),
                fields.len(),
                "{kind}: every parameter has a field"
            );
            for f in fields {
                let stored = |shown: f64| if f.percent { shown / 100.0 } else { shown };
                // Built as the form builds it.
                let with = |v: f64| {
                    let mut values = vec![(f.key, v)];
                    // min_days_with_reports is at most baseline_days.
                    if f.key == "min_days_with_reports" {
                        values.push(("baseline_days", 365.0));
                    }
                    if kind == "no_reports" && f.key == "baseline_days" {
                        values.push(("min_days_with_reports", 0.0));
                    }
                    let json: Value =
                        serde_json::from_str(&app::alerting::params_json(&values)).unwrap();
                    validate(kind, json.as_object().unwrap())
                };
                let step = if f.whole { 1.0 } else { 0.001 };
                for ok in [f.min, f.max] {
                    assert!(with(stored(ok)).is_ok(), "{kind}.{}: {ok} refused", f.key);
                    assert_eq!(f.parse(&f.shown(stored(ok))).unwrap(), stored(ok));
                }
                for bad in [f.min - step, f.max + step] {
                    assert!(
                        with(stored(bad)).is_err(),
                        "{kind}.{}: {bad} accepted",
                        f.key
                    );
                    assert!(f.parse(&format!("{bad}")).is_err());
                }
            }
        }
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_misspelt_key_is_named() {
        let e = validate(
            "failure_spike",
            &obj(serde_json::json!({"absolut_rate": 0.1})),
        )
        .unwrap_err();
        assert!(e.contains("absolut_rate"), "{e}");
    }

    #[test]
    fn values_out_of_range_are_refused_and_defaults_filled_in() {
        let e = validate(
            "failure_spike",
            &obj(serde_json::json!({"absolute_rate": 2})),
        )
        .unwrap_err();
        assert!(e.contains("absolute_rate must be 0 to 1"), "{e}");
        let e = validate("cert_expiry", &obj(serde_json::json!({"days": 1.5}))).unwrap_err();
        assert!(e.contains("days"), "{e}");
        let full = validate("no_reports", &obj(serde_json::json!({"days": 5}))).unwrap();
        assert_eq!(full["days"], 5);
        assert_eq!(full["baseline_days"], 14);
        assert!(validate("no_such_kind", &Map::new()).is_err());
    }
}
