//! IMAP mailboxes against a real Dovecot on loopback: STARTTLS and implicit TLS, import,
//! archive or mark seen, non-report mails moved aside, nothing deleted, duplicates not counted.

mod support;

use base64::Engine;
use tlswatch::ingest::imap::{try_execute_once, ImapPoller, PollOutcome};
use tlswatch::ingest::oauth::Tokens;
use tlswatch::ingest::Limits;
use tlswatch::net::tls::client_config;
use tlswatch::store::{DomainPolicy, Mailbox};

use support::dovecot::Dovecot;
use support::{gz, report_json, sqlite};

fn report_mail(domain: &str, id: &str, success: u64) -> Vec<u8> {
    let body = gz(report_json(
        "google.example",
        id,
        domain,
        "2026-03-03",
        success,
        &[("validation-failure", "mx.x", 1)],
    )
    .as_bytes());
    format!(
        "From: noreply-smtp-tls-reporting@google.example\r\nTo: tlsrpt@{domain}\r\nSubject: Report Domain: {domain}\r\nTLS-Report-Domain: {domain}\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/report; boundary=\"b1\"; report-type=tlsrpt\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nreport\r\n--b1\r\n\
         Content-Type: application/tlsrpt+gzip\r\nContent-Disposition: attachment; filename=\"google.example!{domain}!1!2!{id}.json.gz\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1--\r\n",
        base64::engine::general_purpose::STANDARD.encode(body)
    )
    .into_bytes()
}

const NOT_A_REPORT: &[u8] = b"From: newsletter@shop.example\r\nTo: tlsrpt@imap.example\r\nSubject: 50% off\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nBuy now.\r\n";

fn mailbox(d: &Dovecot, tls_mode: &str, archive: Option<&str>, rejected: Option<&str>) -> Mailbox {
    Mailbox {
        id: 0,
        name: format!("test-{tls_mode}"),
        host: "localhost".into(),
        port: if tls_mode == "implicit" {
            d.tls_port
        } else {
            d.port
        },
        tls_mode: tls_mode.into(),
        username: d.user.clone(),
        password: d.password.clone(),
        folder: "INBOX".into(),
        archive_folder: archive.map(str::to_owned),
        rejected_folder: rejected.map(str::to_owned),
        poll_seconds: 60,
        enabled: true,
        auto_register: true,
        kind: "imap".into(),
        auth: "password".into(),
        ..Default::default()
    }
}

fn poller(d: &Dovecot) -> ImapPoller {
    let tls = client_config(Some(&d.ca_file)).unwrap();
    ImapPoller {
        tokens: Tokens::new(tls.clone(), true, std::time::Duration::from_secs(10)).unwrap(),
        tls,
        limits: Limits::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_starttls_imports_reports_archives_them_and_moves_other_mail_aside() {
    let Some(d) = Dovecot::start().await else {
        return;
    };
    let db = sqlite().await;
    d.deliver("r1", &report_mail("imap.example", "r1", 10));
    d.deliver("r1-again", &report_mail("imap.example", "r1", 10));
    d.deliver("r2", &report_mail("imap.example", "r2", 5));
    d.deliver("spam", NOT_A_REPORT);

    let m = mailbox(&d, "starttls", Some("Archive"), Some("NotReports"));
    let out = poller(&d).poll_once(&db.store, &m).await.unwrap();
    assert_eq!(
        out,
        PollOutcome {
            imported: 2,
            duplicates: 1,
            rejected: 1
        }
    );

    let totals = db.store.domain_totals(0, 100_000).await.unwrap();
    assert_eq!(
        (
            totals[0].domain.as_str(),
            totals[0].success,
            totals[0].failure
        ),
        ("imap.example", 15, 2)
    );
    assert_eq!(d.count("INBOX").0, 0);
    assert_eq!(d.count("Archive").0, 3);
    assert_eq!(d.count("NotReports").0, 1);
    assert_eq!(db.store.list_rejected(10).await.unwrap()[0].channel, "imap");

    // A second poll finds nothing new and changes nothing.
    assert_eq!(
        poller(&d).poll_once(&db.store, &m).await.unwrap(),
        PollOutcome::default()
    );
    assert_eq!(db.store.report_count().await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_implicit_tls_marks_mails_seen_and_leaves_them() {
    let Some(d) = Dovecot::start().await else {
        return;
    };
    let db = sqlite().await;
    d.deliver("r", &report_mail("seen.example", "s1", 7));
    d.deliver("spam", NOT_A_REPORT);
    let m = mailbox(&d, "implicit", None, None);
    let out = poller(&d).poll_once(&db.store, &m).await.unwrap();
    assert_eq!(
        out,
        PollOutcome {
            imported: 1,
            duplicates: 0,
            rejected: 1
        }
    );
    assert_eq!(
        d.count("INBOX"),
        (2, 2),
        "both mails left in INBOX, both seen"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_refuses_a_server_certificate_from_an_unknown_ca() {
    let Some(d) = Dovecot::start().await else {
        return;
    };
    let db = sqlite().await;
    let tls = client_config(None).unwrap();
    let p = ImapPoller {
        tokens: Tokens::new(tls.clone(), true, std::time::Duration::from_secs(10)).unwrap(),
        tls,
        limits: Limits::default(),
    };
    let err = p
        .poll_once(&db.store, &mailbox(&d, "implicit", None, None))
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("TLS handshake"), "{err:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_scheduler_polls_due_mailboxes_and_records_errors() {
    let Some(d) = Dovecot::start().await else {
        return;
    };
    let db = sqlite().await;
    d.deliver("r", &report_mail("sched.example", "sc1", 3));
    db.store
        .add_mailbox(&mailbox(&d, "starttls", None, None))
        .await
        .unwrap();
    let mut wrong = mailbox(&d, "implicit", None, None);
    wrong.name = "wrong-password".into();
    wrong.password = "nope".into();
    db.store.add_mailbox(&wrong).await.unwrap();

    assert_eq!(try_execute_once(&db.store, &poller(&d)).await.unwrap(), 2);
    assert_eq!(db.store.report_count().await.unwrap(), 1);
    let boxes = db.store.mailboxes().await.unwrap();
    assert!(boxes[0].last_error.is_none());
    assert!(
        boxes[1]
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("login"),
        "{:?}",
        boxes[1].last_error
    );
    // Not due again before its interval.
    assert_eq!(try_execute_once(&db.store, &poller(&d)).await.unwrap(), 0);
}

/// Anyone can mail the reporting address: a mailbox that is not set to register domains
/// keeps reports for unknown domains in the quarantine, and they import once the domain is
/// registered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_reports_for_unknown_domains_wait_in_the_quarantine() {
    let Some(d) = Dovecot::start().await else {
        return;
    };
    let db = sqlite().await;
    d.deliver("stranger", &report_mail("stranger.example", "x1", 3));
    let mut m = mailbox(&d, "starttls", Some("Archive"), Some("NotReports"));
    m.auto_register = false;
    let out = poller(&d).poll_once(&db.store, &m).await.unwrap();
    assert_eq!(out.rejected, 1, "{out:?}");
    assert!(db.store.domain_names().await.unwrap().is_empty());
    let q = db.store.list_rejected(10).await.unwrap();
    assert_eq!(q.len(), 1);
    assert!(q[0].reason.contains("not registered"), "{:?}", q[0]);
    // Re-processing does not register it either…
    let o = tlswatch::ingest::reprocess(
        &db.store,
        q[0].id,
        &Limits::default(),
        DomainPolicy::AutoRegister,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(o.status, tlswatch::ingest::Status::Rejected);
    // …until someone registers the domain.
    db.store
        .add_domain("stranger.example", "manual", 0)
        .await
        .unwrap();
    let o = tlswatch::ingest::reprocess(
        &db.store,
        q[0].id,
        &Limits::default(),
        DomainPolicy::KnownOnly,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(o.status, tlswatch::ingest::Status::Imported, "{o:?}");
    assert_eq!(db.store.report_count().await.unwrap(), 1);
}

/// The mailboxes page's operations against Dovecot, through the use cases the page calls:
/// "test connection" signs in and imports nothing, "poll now" imports and records the totals
/// and the last success, a wrong password turns the mailbox to failing with the server's
/// answer, and the view never carries the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailbox_page_tests_polls_and_shows_state() {
    use tlswatch::service::mailboxes::Mailboxes;
    use tlswatch::service::Actor;
    let Some(d) = Dovecot::start().await else {
        return;
    };
    let db = sqlite().await;
    d.deliver("r1", &report_mail("imap.example", "page-1", 10));
    d.deliver("spam", NOT_A_REPORT);
    let service = Mailboxes::new(db.store.clone()).with_poller(Some(poller(&d)));
    let admin = Actor::operator();
    let id = service
        .add(&admin, mailbox(&d, "implicit", Some("Archive"), None))
        .await
        .unwrap();

    let tested = service.test(&admin, id).await.unwrap().unwrap();
    assert_eq!(tested, "Signed in; 2 message(s) in INBOX.");
    assert_eq!(
        db.store.report_count().await.unwrap(),
        0,
        "a test imports nothing"
    );
    let v = &service.view(&admin).await.unwrap()[0];
    assert_eq!(v.state, "not polled yet");

    let polled = service.poll_one(&admin, id).await.unwrap().unwrap();
    assert_eq!(
        polled,
        "Polled: 1 imported, 0 already imported, 1 rejected."
    );
    let v = &service.view(&admin).await.unwrap()[0];
    assert_eq!(
        (v.state.as_str(), v.imported, v.duplicates, v.rejected),
        ("ok", 1, 0, 1)
    );
    assert!(v.last_success.is_some() && v.last_poll.is_some());
    assert!(v.password_set);
    assert!(!format!("{v:?}").contains(&d.password));
    let stats = tlswatch::service::stats::Stats::new(db.store.clone());
    let viewer = Actor::<tlswatch::service::Viewer>::operator();
    let m = &stats.metrics(&viewer).await.unwrap().mailboxes[0];
    assert_eq!(
        (
            m.failing,
            m.totals.imported,
            m.totals.duplicates,
            m.totals.rejected
        ),
        (false, 1, 0, 1)
    );
    assert!(m.totals.last_success_at.is_some());

    // A wrong password: the test says why, the poll records it, the state is failing and the
    // last success stays.
    let mut wrong = service.list(&admin).await.unwrap().remove(0);
    wrong.password = "not the password".into();
    service.update(&admin, wrong).await.unwrap();
    let failed = service.test(&admin, id).await.unwrap().unwrap_err();
    assert!(failed.contains("login"), "{failed}");
    assert!(service.poll_one(&admin, id).await.unwrap().is_err());
    let v = &service.view(&admin).await.unwrap()[0];
    assert_eq!(v.state, "failing");
    assert!(v.last_error.as_deref().unwrap_or("").contains("login"));
    assert!(v.last_success.is_some());
    assert!(
        stats.metrics(&viewer).await.unwrap().mailboxes[0].failing,
        "failing in /metrics"
    );
    // Without a poller (a server that does not poll) the page says so.
    let none = Mailboxes::new(db.store.clone());
    assert!(none.test(&admin, id).await.is_err());
}
