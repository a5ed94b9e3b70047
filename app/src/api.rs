//! The data the UI shows, the server functions that fetch it, and the narrow interface
//! ([`Backend`]) through which those functions reach the server's logic.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The ranges the range picker offers, in days.
pub const RANGES: [u32; 4] = [7, 30, 90, 365];

/// Range used when the URL names none.
pub const DEFAULT_RANGE: u32 = 30;

/// The overview page: every domain and the daily chart for a range of days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    /// First day of the range, `YYYY-MM-DD` (UTC).
    pub from: String,
    /// Last day of the range, inclusive.
    pub to: String,
    /// Length of the range in days.
    pub days: u32,
    /// Registered domains with their totals in the range.
    pub domains: Vec<DomainRow>,
    /// One point per day of the range, zero where no report counted.
    pub series: Vec<DayPoint>,
}

/// Totals of one domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainRow {
    /// Domain name (from a report: render as text only).
    pub name: String,
    /// Successful sessions.
    pub success: i64,
    /// Failed sessions.
    pub failure: i64,
    /// Reports that counted.
    pub reports: i64,
}

impl DomainRow {
    /// Failure rate in percent, `None` without sessions.
    pub fn failure_rate(&self) -> Option<f64> {
        let total = self.success + self.failure;
        (total > 0).then(|| self.failure as f64 * 100.0 / total as f64)
    }
}

/// Sessions of one day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayPoint {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Successful sessions.
    pub success: i64,
    /// Failed sessions.
    pub failure: i64,
}

/// What the server provides to server functions, as Leptos context (`Arc<dyn Backend>`).
/// Errors are messages safe to show a user; the implementation logs the details.
#[cfg(feature = "ssr")]
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The overview for the last `days` days up to today (UTC).
    async fn overview(&self, days: u32) -> Result<Overview, String>;
}

/// The handle server functions find in context.
#[cfg(feature = "ssr")]
pub type SharedBackend = std::sync::Arc<dyn Backend>;

#[cfg(feature = "ssr")]
fn backend() -> Result<SharedBackend, ServerFnError> {
    use_context::<SharedBackend>()
        .ok_or_else(|| ServerFnError::new("server misconfigured: no backend in context"))
}

/// Overview for the last `days` days.
#[server]
pub async fn get_overview(days: u32) -> Result<Overview, ServerFnError> {
    backend()?.overview(days).await.map_err(ServerFnError::new)
}
