//! `tlswatch org …` and `tlswatch domain …`.

use std::sync::Arc;

use crate::config::{DomainCommand, GlobalArgs, OrgCommand};
use crate::service::domains::Domains;
use crate::service::orgs::{challenge_record, Orgs};
use crate::service::Actor;
use crate::store::{Claim, Store};

fn describe(claim: &Claim, orgs: &[crate::store::Org]) -> String {
    let org = orgs
        .iter()
        .find(|o| o.id == claim.org_id)
        .map_or("?", |o| o.name.as_str());
    let state = match (&claim.verified_at, &claim.vouched_by) {
        (Some(_), Some(by)) => format!("verified (vouched for by {by})"),
        (Some(_), None) => "verified (DNS)".to_string(),
        (None, _) => format!(
            "waiting for proof{}",
            claim
                .last_error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ),
    };
    format!("{}\t{org}\t{state}", claim.domain)
}

fn print_record(claim: &Claim) {
    if claim.verified_at.is_none() {
        let (name, value) = challenge_record(claim);
        println!(
            "Publish this TXT record to prove the organization owns {}:",
            claim.domain
        );
        println!("  {name}. IN TXT \"{value}\"");
        println!("then run `tlswatch domain verify {}` (tlswatch also looks by itself every few minutes).", claim.domain);
    }
}

/// Runs a domain command.
pub async fn domain(store: Store, global: &GlobalArgs, cmd: DomainCommand) -> anyhow::Result<u8> {
    let op = Actor::operator();
    match cmd {
        DomainCommand::Add {
            name,
            org,
            verified,
        } => {
            let orgs = Orgs::new(store.clone(), None);
            let claim = orgs.claim(&op, &name, org.as_deref(), verified).await?;
            println!("{}", describe(&claim, &store.orgs().await?));
            print_record(&claim);
        }
        DomainCommand::Verify { name, org, checker } => {
            let checks = crate::check::run::CheckService::new(
                checker.checker(global)?,
                store.clone(),
                crate::check::run::ReportDestinations {
                    mailbox: None,
                    public_url: None,
                    receiver_secret: None,
                },
            );
            let orgs = Orgs::new(store.clone(), Some(Arc::new(checks)));
            let org_id = match org {
                None => crate::store::DEFAULT_ORG,
                Some(o) => orgs.by_name(&Actor::operator(), &o).await?.id,
            };
            let claim = orgs.verify_for(org_id, &name).await?;
            println!("{}", describe(&claim, &store.orgs().await?));
            if claim.verified_at.is_none() {
                print_record(&claim);
                return Ok(1);
            }
        }
        DomainCommand::List => {
            let domains = Domains::new(store.clone(), None);
            let claims = store.claims(None).await?;
            let orgs = store.orgs().await?;
            for name in domains.names(&Actor::operator()).await? {
                let mine: Vec<&Claim> = claims.iter().filter(|c| c.domain == name).collect();
                if mine.is_empty() {
                    println!("{name}\t-\tnot claimed by any organization");
                }
                for c in mine {
                    println!("{}", describe(c, &orgs));
                }
            }
        }
    }
    Ok(0)
}

/// Runs an organization command.
pub async fn org(store: Store, cmd: OrgCommand) -> anyhow::Result<u8> {
    let op = Actor::operator();
    let orgs = Orgs::new(store.clone(), None);
    match cmd {
        OrgCommand::Add { name } => {
            let o = orgs.add(&op, &name).await?;
            println!("organization {} created: {}", o.id, o.name);
        }
        OrgCommand::List => {
            let claims = store.claims(None).await?;
            let users = store.users().await?;
            for o in orgs.list(&op).await? {
                let proven = claims
                    .iter()
                    .filter(|c| c.org_id == o.id && c.verified_at.is_some())
                    .count();
                let waiting = claims
                    .iter()
                    .filter(|c| c.org_id == o.id && c.verified_at.is_none())
                    .count();
                let members = users.iter().filter(|u| u.org_id == o.id).count();
                println!(
                    "{}\t{}\t{proven} domains\t{waiting} waiting for proof\t{members} users",
                    o.id, o.name
                );
            }
        }
    }
    Ok(0)
}
