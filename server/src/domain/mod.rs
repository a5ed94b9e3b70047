//! The pure domain: TLS-RPT model and parser, the session counting rule, day arithmetic.
//! No I/O, no clock, no environment: everything here is deterministic and fuzzable.

pub mod counting;
pub mod days;
pub mod names;
pub mod report;

pub use report::{parse_report, FailureDetail, ParseContext, PolicyResult, Report, ReportError};
