//! The server's implementation of `app::api::Backend`: what server functions call.

use app::api::{Backend, DayPoint, DomainRow, Overview};

use crate::domain::days::{day_of, format_day};
use crate::store::Store;

/// Backend over the store.
pub struct WebBackend {
    store: Store,
}

impl WebBackend {
    /// Wraps a store.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// The overview for the `days` days ending on day `today` (inclusive).
    pub async fn overview_at(&self, today: i64, days: u32) -> anyhow::Result<Overview> {
        let days = days.clamp(1, 3660);
        let from = today - i64::from(days) + 1;
        let domains = self.store.domain_totals(from, today).await?;
        let daily = self.store.daily_totals(from, today).await?;
        let mut series: Vec<DayPoint> = (from..=today)
            .map(|d| DayPoint {
                day: format_day(d),
                success: 0,
                failure: 0,
            })
            .collect();
        for t in daily {
            if let Some(p) = series.get_mut((t.day - from) as usize) {
                p.success = t.success;
                p.failure = t.failure;
            }
        }
        Ok(Overview {
            from: format_day(from),
            to: format_day(today),
            days,
            domains: domains
                .into_iter()
                .map(|d| DomainRow {
                    name: d.domain,
                    success: d.success,
                    failure: d.failure,
                    reports: d.reports,
                })
                .collect(),
            series,
        })
    }
}

#[async_trait::async_trait]
impl Backend for WebBackend {
    async fn overview(&self, days: u32) -> Result<Overview, String> {
        self.overview_at(day_of(chrono::Utc::now()), days)
            .await
            .map_err(|e| {
                tracing::error!(error = %format!("{e:#}"), "overview failed");
                "the database could not be read; see the server log".to_owned()
            })
    }
}
