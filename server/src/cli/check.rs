//! `tlswatch check DOMAIN`: run the configuration checks once and print the findings.

use app::health::Severity;

use crate::check::run::{CheckService, ReportDestinations};
use crate::config::{CheckArgs, GlobalArgs, OutputFormat};
use crate::store::Store;

/// Runs the checks; exit status 0 when nothing failed, 2 when a check failed.
pub async fn run(store: &Store, global: &GlobalArgs, args: &CheckArgs) -> anyhow::Result<u8> {
    let checker = args.checker.checker(global)?;
    let outcome = if args.no_store {
        let name = crate::domain::names::normalize_domain(&args.domain)
            .ok_or_else(|| anyhow::anyhow!("{:?} is not a domain name", args.domain))?;
        let previous = store.latest_check(&name).await?.map(|r| r.snapshot);
        checker.check(&name, previous.as_ref()).await
    } else {
        let service = CheckService::new(checker, store.clone(), ReportDestinations::default());
        service.run(&args.domain, "cli").await?.1
    };
    match args.format {
        OutputFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&outcome.findings)?);
        }
        OutputFormat::Text => {
            for f in &outcome.findings {
                let subject = f
                    .subject
                    .as_deref()
                    .map(|s| format!(" [{s}]"))
                    .unwrap_or_default();
                println!(
                    "{:<5} {:<12} {}{subject}: {}",
                    f.severity.as_str().to_uppercase(),
                    f.id,
                    f.title,
                    f.detail
                );
                if !f.fix.is_empty() {
                    println!("{:18}fix: {}", "", f.fix);
                }
            }
            println!(
                "\n{}: {} fail, {} warn, {} error, {} pass in {} ms",
                outcome.domain,
                outcome.count(Severity::Fail),
                outcome.count(Severity::Warn),
                outcome.count(Severity::Error),
                outcome.count(Severity::Pass),
                outcome.elapsed.as_millis()
            );
        }
    }
    Ok(if outcome.worst() == Severity::Fail {
        2
    } else {
        0
    })
}
