//! From alert instances to queued notifications (grouped per channel and domain, repeated while
//! firing, resolved messages, silences and acknowledgements respected) and from queued
//! notifications to deliveries (claimed per row, retried with backoff, recorded).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use super::channels::Delivery;
use crate::store::alerts::{AlertRow, ChannelRow};
use crate::store::Store;

/// Notification timing.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Wait this long after a group's first alert fired before the first message (collects alerts
    /// that fire together into one message).
    pub group_wait: i64,
    /// Repeat a firing alert this often.
    pub repeat_interval: i64,
    /// Give up after this many attempts.
    pub max_attempts: i64,
    /// Link target for the messages (`TLSWATCH_PUBLIC_URL`).
    pub public_url: Option<String>,
    /// Length of the evaluation lease, in seconds; renewed every third of it while a cycle
    /// runs, so a slow channel never lets a second instance start the same cycle.
    pub lease_seconds: i64,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            group_wait: 30,
            repeat_interval: 4 * 3600,
            max_attempts: 6,
            public_url: None,
            lease_seconds: 120,
        }
    }
}

fn alert_json(a: &AlertRow, timing: &Timing) -> Value {
    // Mailbox alerts have no domain: they link to the mailboxes page.
    let path = if a.domain.is_empty() {
        "/admin/mailboxes".to_owned()
    } else {
        format!("/domains/{}", a.domain)
    };
    json!({
        "id": a.id,
        "state": a.state,
        "labels": a.labels,
        "domain": a.domain,
        "value": a.value,
        "baseline": a.baseline,
        "threshold": a.threshold,
        "reason": a.reason,
        "started_at": a.started_at,
        "fired_at": a.fired_at,
        "resolved_at": a.resolved_at,
        "acknowledged_by": a.acknowledged_by,
        "url": timing.public_url.as_ref().map(|u| format!("{}{path}", u.trim_end_matches('/'))).unwrap_or(path),
    })
}

/// Whether an alert of organization `org` about `domain` goes to channel `c`: only a
/// channel of the same organization, and of those only one routing every domain or this one.
fn routed(c: &ChannelRow, org: i64, domain: &str) -> bool {
    c.org_id == org && (c.domains.is_empty() || c.domains.iter().any(|d| d == domain))
}

/// Queues the notifications due at `now`. Call under the `alerts` lease.
pub async fn queue_due(store: &Store, timing: &Timing, now: i64) -> anyhow::Result<usize> {
    let alerts = store.alerts(5000).await?;
    let silences = store.silences(now).await?;
    let states = store.delivery_states().await?;
    let channels: Vec<ChannelRow> = store
        .channels()
        .await?
        .into_iter()
        .filter(|c| c.enabled)
        .collect();
    let mut queued = 0;
    for ch in &channels {
        // group key (domain) -> (firing alerts to send, resolved alerts to send)
        let mut groups: BTreeMap<String, (Vec<&AlertRow>, Vec<&AlertRow>)> = BTreeMap::new();
        for a in alerts.iter().filter(|a| routed(ch, a.org_id, &a.domain)) {
            let silenced = silences
                .iter()
                .any(|s| s.org_id == a.org_id && s.matches(&a.labels, now));
            let state = states.get(&(a.id, ch.id));
            match a.state.as_str() {
                "firing" if !silenced => {
                    let due = match state {
                        None => true,
                        Some((last, _)) => {
                            a.acknowledged_at.is_none() && now - last >= timing.repeat_interval
                        }
                    };
                    if due {
                        groups.entry(a.domain.clone()).or_default().0.push(a);
                    }
                }
                "resolved" => {
                    if let Some((_, false)) = state {
                        groups.entry(a.domain.clone()).or_default().1.push(a);
                    }
                }
                _ => {}
            }
        }
        for (domain, (firing, resolved)) in groups {
            // Group wait: a new group waits until its first alert has fired group_wait ago.
            let first_time = firing.iter().all(|a| !states.contains_key(&(a.id, ch.id)));
            let oldest = firing
                .iter()
                .filter_map(|a| a.fired_at)
                .min()
                .unwrap_or(now);
            let send_firing =
                !firing.is_empty() && (!first_time || now - oldest >= timing.group_wait);
            for (kind, list) in [
                ("firing", if send_firing { firing } else { Vec::new() }),
                ("resolved", resolved),
            ] {
                if list.is_empty() {
                    continue;
                }
                let title = format!(
                    "[{}] tlswatch: {} alert{} for {domain}",
                    kind.to_uppercase(),
                    list.len(),
                    if list.len() == 1 { "" } else { "s" }
                );
                let payload = json!({
                    "version": 1,
                    "status": kind,
                    "group_key": format!("{}:{domain}", ch.id),
                    "domain": domain,
                    "title": title,
                    "alerts": list.iter().map(|a| alert_json(a, timing)).collect::<Vec<_>>(),
                    "sent_at": now,
                });
                let ids: Vec<i64> = list.iter().map(|a| a.id).collect();
                store
                    .queue_notification(
                        ch.id,
                        &format!("{}:{domain}", ch.id),
                        kind,
                        &payload.to_string(),
                        &ids,
                        now,
                    )
                    .await?;
                queued += 1;
            }
        }
    }
    Ok(queued)
}

/// Queues the daily digest on channels with `"digest": true`, once per UTC day: yesterday's
/// sessions and failures per domain, and the alerts firing now.
pub async fn queue_digests(store: &Store, timing: &Timing, now: i64) -> anyhow::Result<usize> {
    let today = now.div_euclid(86_400);
    let channels: Vec<ChannelRow> = store
        .channels()
        .await?
        .into_iter()
        .filter(|c| c.enabled && c.config["digest"].as_bool() == Some(true))
        .collect();
    if channels.is_empty() {
        return Ok(0);
    }
    let recent = store.notifications(500).await?;
    let totals = store.domain_totals(today - 1, today - 1).await?;
    let alerts = store.alerts(1000).await?;
    let proven: std::collections::BTreeSet<(i64, String)> =
        store.proven_claims().await?.into_iter().collect();
    let mut queued = 0;
    for ch in channels {
        let sent_today = recent.iter().any(|n| {
            n.channel_id == ch.id && n.kind == "digest" && n.created_at.div_euclid(86_400) == today
        });
        if sent_today {
            continue;
        }
        let mut lines = vec![format!(
            "Yesterday ({}):",
            crate::domain::days::format_day(today - 1)
        )];
        for t in totals.iter().filter(|t| {
            routed(&ch, ch.org_id, &t.domain) && proven.contains(&(ch.org_id, t.domain.clone()))
        }) {
            let all = t.success + t.failure;
            let rate = if all > 0 {
                t.failure as f64 * 100.0 / all as f64
            } else {
                0.0
            };
            lines.push(format!(
                "  {}: {} sessions, {} failed ({rate:.2} %), {} reports",
                t.domain, all, t.failure, t.reports
            ));
        }
        let firing: Vec<&AlertRow> = alerts
            .iter()
            .filter(|a| a.state == "firing" && routed(&ch, a.org_id, &a.domain))
            .collect();
        lines.push(format!("Alerts firing now: {}", firing.len()));
        let payload = json!({
            "version": 1,
            "status": "digest",
            "group_key": format!("{}:digest", ch.id),
            "title": format!("tlswatch daily digest for {}", crate::domain::days::format_day(today - 1)),
            "text": lines.join("\n"),
            "alerts": firing.iter().map(|a| alert_json(a, timing)).collect::<Vec<_>>(),
            "sent_at": now,
        });
        store
            .queue_notification(
                ch.id,
                &format!("{}:digest", ch.id),
                "digest",
                &payload.to_string(),
                &[],
                now,
            )
            .await?;
        queued += 1;
    }
    Ok(queued)
}

/// Queues a test message on a channel.
pub async fn queue_test(store: &Store, channel_id: i64, by: &str, now: i64) -> anyhow::Result<i64> {
    let payload = json!({
        "version": 1,
        "status": "test",
        "group_key": format!("{channel_id}:test"),
        "title": "tlswatch: test notification",
        "text": format!("A test sent by {by}. If you read this, the channel works."),
        "alerts": [],
        "sent_at": now,
    });
    store
        .queue_notification(
            channel_id,
            &format!("{channel_id}:test"),
            "test",
            &payload.to_string(),
            &[],
            now,
        )
        .await
}

/// Delivers every due notification once; returns `(sent, failed attempts)`.
pub async fn deliver_due(
    store: &Store,
    delivery: &Delivery,
    timing: &Timing,
    now: i64,
) -> anyhow::Result<(usize, usize)> {
    let channels = store.channels().await?;
    let (mut sent, mut failed) = (0, 0);
    // A claim holds a notification for longer than one delivery attempt can take, counted
    // from the moment of the claim (not from the start of the cycle).
    let hold = i64::try_from(delivery.timeout.as_secs()).unwrap_or(60) * 2 + 60;
    // `now` advanced by the time this delivery run has taken so far.
    let started = std::time::Instant::now();
    let clock = || now + i64::try_from(started.elapsed().as_secs()).unwrap_or(0);
    while let Some(n) = store.claim_notification(clock(), hold).await? {
        let result = match (
            channels.iter().find(|c| c.id == n.channel_id),
            serde_json::from_str::<Value>(&n.payload),
        ) {
            (Some(ch), Ok(p)) => delivery.send(ch, &p).await,
            (None, _) => Err("the channel was deleted".into()),
            (_, Err(e)) => Err(format!("bad payload: {e}")),
        };
        let attempts = n.attempts + 1;
        let retry_at = (result.is_err() && attempts < timing.max_attempts)
            .then(|| now + (30i64 << attempts.min(7)).min(3600));
        match &result {
            Ok(()) => sent += 1,
            Err(e) => {
                failed += 1;
                tracing::warn!(notification = n.id, attempt = attempts, error = %e, "notification delivery failed");
            }
        }
        store
            .finish_notification(n.id, result, clock(), retry_at)
            .await?;
    }
    Ok((sent, failed))
}

/// One full cycle (evaluate, queue, deliver) under the `alerts` lease; `false` when another
/// instance holds the lease.
pub async fn cycle(
    store: &Store,
    delivery: &Delivery,
    timing: &Timing,
    holder: &str,
    now: i64,
) -> anyhow::Result<bool> {
    let lease = timing.lease_seconds.max(3);
    if !store.take_lease("alerts", holder, now, now + lease).await? {
        // Deliveries are claimed per row, so any instance may still help deliver.
        deliver_due(store, delivery, timing, now).await?;
        return Ok(false);
    }
    let work = async {
        super::evaluate(store, now).await?;
        queue_due(store, timing, now).await?;
        queue_digests(store, timing, now).await?;
        deliver_due(store, delivery, timing, now).await?;
        anyhow::Ok(())
    };
    // Renew the lease while the cycle runs, however long a channel takes to answer.
    let started = std::time::Instant::now();
    let renew = async {
        let every = Duration::from_secs(u64::try_from(lease / 3).unwrap_or(1).max(1));
        loop {
            tokio::time::sleep(every).await;
            let t = now + i64::try_from(started.elapsed().as_secs()).unwrap_or(0);
            match store.take_lease("alerts", holder, t, t + lease).await {
                Ok(true) => {}
                Ok(false) => tracing::error!("the alerts lease was lost during a cycle"),
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "renewing the alerts lease failed")
                }
            }
        }
    };
    let result = tokio::select! {
        r = work => r,
        () = renew => unreachable!("the renewal loop never ends"),
    };
    store.release_lease("alerts", holder).await?;
    result.map(|()| true)
}

/// Runs [`cycle`] every `every` and whenever `wake` is notified (after imports), until `stop`.
pub async fn run_loop(
    store: Store,
    delivery: Delivery,
    timing: Timing,
    every: Duration,
    wake: std::sync::Arc<tokio::sync::Notify>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let holder = format!("{}-{}", std::process::id(), rand::random::<u32>());
    loop {
        if let Err(e) = cycle(
            &store,
            &delivery,
            &timing,
            &holder,
            crate::ingest::now_unix(),
        )
        .await
        {
            tracing::error!(error = %format!("{e:#}"), "alert cycle failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = wake.notified() => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
    }
}
