//! The HTTP server under load: the receiver, uploads with readers, memory.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use crate::{pct, print_cpu_per_report, rss_kib, tempfile_dir, thread_cpu, written_bytes};

/// A server on a fresh SQLite file with `domains` registered; returns its address and store.
pub(crate) async fn bench_server(
    dir: &Path,
    domains: usize,
) -> anyhow::Result<(std::net::SocketAddr, tlswatch::store::Store)> {
    // The server's own default pool size unless TLSWATCH_DB_MAX_CONNECTIONS says otherwise.
    let pool = std::env::var("TLSWATCH_DB_MAX_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let store =
        tlswatch::store::Store::connect(&format!("sqlite://{}/bench.db", dir.display()), pool)
            .await?;
    for d in 0..domains {
        store
            .add_domain(&format!("domain{d}.example"), "manual", 0)
            .await?;
    }
    let mut settings = tlswatch::http::HttpSettings::local("127.0.0.1:0".parse()?);
    settings.receiver_rate_per_minute = 100_000_000;
    let app = tlswatch::http::Application::build(store.clone(), settings).await?;
    let addr = app.local_addr();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    Ok((addr, store))
}

pub(crate) fn gz_report(i: usize, domain: &str) -> Vec<u8> {
    gz_report_over(i, domain, 28)
}

/// Days the receiver's reports are dated over: `TLSWATCH_BENCH_DAYS` (1 to 28), else 28. With
/// 28, consecutive reports are dated on different days, so each lands in a different part of
/// the report's day-ordered indexes (the most pages a group commit can dirty); a receiver's
/// reports in one hour are mostly about one day, yesterday (RFC 8460 §4.1: a report covers a
/// UTC day and is sent after it ends).
pub(crate) fn report_days() -> usize {
    std::env::var("TLSWATCH_BENCH_DAYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(28)
        .clamp(1, 28)
}

/// A gzipped report numbered `i` for `domain`, dated on one of `days` days.
pub(crate) fn gz_report_over(i: usize, domain: &str, days: usize) -> Vec<u8> {
    let json = format!(
        r#"{{"organization-name":"Load {o}","date-range":{{"start-datetime":"2026-08-{d:02}T00:00:00Z","end-datetime":"2026-08-{d:02}T23:59:59Z"}},"contact-info":"x@load.example","report-id":"load-{i}","policies":[{{"policy":{{"policy-type":"sts","policy-string":["version: STSv1","mode: enforce","mx: *.{domain}","max_age: 86400"],"policy-domain":"{domain}","mx-host":["*.{domain}"]}},"summary":{{"total-successful-session-count":{s},"total-failure-session-count":1}},"failure-details":[{{"result-type":"certificate-expired","sending-mta-ip":"192.0.2.1","receiving-mx-hostname":"mx1.{domain}","failed-session-count":1}}]}}]}}"#,
        o = i % 9,
        d = 1 + i % days.clamp(1, 28),
        s = 100 + i % 50
    );
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = e.write_all(json.as_bytes());
    e.finish().unwrap_or_default()
}

pub(crate) async fn receiver(n: usize, concurrency: usize) -> anyhow::Result<()> {
    post_reports(n, concurrency, Channel::Receiver).await
}

/// Reports uploaded by signed-in editors (`POST /api/upload`, the upload page's request):
/// the same reports, clients and measurements as [`receiver`], through the dashboard's whole
/// stack (session, sign-in, the cross-site check, the editor's role) and the same group
/// commit. Eight editors sign in once each (sign-in allows 10 attempts a minute per address)
/// and the clients share their sessions, as a team's browser tabs do.
pub(crate) async fn uploads(n: usize, concurrency: usize) -> anyhow::Result<()> {
    post_reports(n, concurrency, Channel::Upload).await
}

/// Where [`post_reports`] sends its reports.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Channel {
    /// `POST /tlsrpt`, as sending mail servers do.
    Receiver,
    /// `POST /api/upload` with a session cookie, as the upload page does.
    Upload,
}

async fn post_reports(n: usize, concurrency: usize, channel: Channel) -> anyhow::Result<()> {
    let dir = tempfile_dir()?;
    let (addr, store) = bench_server(&dir, 100).await?;
    let days = report_days();
    let bodies: std::sync::Arc<Vec<Vec<u8>>> = std::sync::Arc::new(
        (0..n)
            .map(|i| gz_report_over(i, &format!("domain{}.example", i % 100), days))
            .collect(),
    );
    let clients = client_runtime()?;
    let mut cookies = Vec::new();
    if channel == Channel::Upload {
        let password = "bench uploader passphrase";
        for e in 0..concurrency.clamp(1, 8) {
            let email = format!("uploader{e}@bench.example");
            tlswatch::auth::create_user(&store, &email, password, app::auth::Role::Editor).await?;
            cookies.push(
                clients
                    .spawn(async move { Conn::new(addr).sign_in(&email, password).await })
                    .await??,
            );
        }
    }
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let written = written_bytes();
    let cpu = thread_cpu();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..concurrency {
        let (bodies, next) = (bodies.clone(), next.clone());
        let cookie = (!cookies.is_empty()).then(|| cookies[c % cookies.len()].clone());
        tasks.push(clients.spawn(async move {
            let mut conn = Conn::new(addr);
            let mut lat = Vec::new();
            let mut errors = 0usize;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= bodies.len() {
                    return (lat, errors);
                }
                let t = Instant::now();
                let body = bodies[i].clone();
                let sent = match &cookie {
                    None => conn.post("/tlsrpt", "application/tlsrpt+gzip", body).await,
                    Some(cookie) => {
                        conn.upload(cookie, &format!("report-{i}.json.gz"), body)
                            .await
                    }
                };
                match sent {
                    Ok(200) => lat.push(t.elapsed().as_secs_f64() * 1000.0),
                    _ => errors += 1,
                }
            }
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        lat.extend(l);
        errors += e;
    }
    let secs = started.elapsed().as_secs_f64();
    let written = written_bytes().saturating_sub(written);
    lat.sort_by(f64::total_cmp);
    let stored = store.report_count().await?;
    let what = match channel {
        Channel::Receiver => "receiver: {n} gzip reports over HTTP",
        Channel::Upload => {
            "uploads: {n} gzip reports uploaded by signed-in editors (POST /api/upload)"
        }
    }
    .replace("{n}", &n.to_string());
    println!(
        "{what} (dated over {days} days), {concurrency} concurrent clients, SQLite: {:.0} reports/s ({secs:.2} s); latency p50 {:.1} ms p99 {:.1} ms; errors {errors}; stored {stored}; written to disk {:.1} MB ({:.1} KB a report)",
        n as f64 / secs,
        pct(&lat, 50),
        pct(&lat, 99),
        written as f64 / 1e6,
        written as f64 / 1e3 / n as f64
    );
    print_group_commits();
    print_cpu_per_report(&cpu, n, secs);
    clients.shutdown_background();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The group commit's own histograms (what `/metrics` exports): how many transactions, how
/// many reports shared one, how long each took and how long a report waited for its own.
pub(crate) fn print_group_commits() {
    use tlswatch::telemetry::commits::{INPUTS, SYNC, TRANSACTION, WAIT};
    let groups = TRANSACTION.count().max(1) as f64;
    let bound = |q| {
        WAIT.quantile_bound(q)
            .map_or("-".to_owned(), |b| format!("≤ {:.1}", b * 1000.0))
    };
    println!(
        "  group commits: {} transactions, {:.1} reports each, {:.2} ms each (mean); a report's wait for its commit: mean {:.2} ms, p50 {} ms, p99 {} ms (histogram buckets)",
        TRANSACTION.count(),
        INPUTS.sum() / groups,
        TRANSACTION.sum() * 1000.0 / groups,
        WAIT.sum() * 1000.0 / WAIT.count().max(1) as f64,
        bound(0.5),
        bound(0.99),
    );
    let sync_bound = SYNC
        .quantile_bound(0.99)
        .map_or("-".to_owned(), |b| format!("≤ {:.1}", b * 1000.0));
    println!(
        "  write-ahead log fsyncs (every write of the run, beside the next transaction): {}, {:.2} ms each (mean), p99 {sync_bound} ms",
        SYNC.count(),
        SYNC.sum() * 1000.0 / SYNC.count().max(1) as f64,
    );
}

/// One client's keep-alive HTTP/1.1 connection, on hyper's connection API as load generators
/// (oha) use it: each client task holds its own, so no pool is shared between them. The
/// pooled client used before (hyper-util's) took a lock, a checkout and a spawned task per
/// request, on the server's runtime, and on a 2-core machine that came out of the server's
/// share (`receiver 20000 64`: 275–346 µs of CPU a report for server and clients together,
/// against 205–236 with these, of which the clients' are 21–25). Reconnects when the server
/// closed it.
pub(crate) struct Conn {
    addr: std::net::SocketAddr,
    sender:
        Option<hyper::client::conn::http1::SendRequest<http_body_util::Full<hyper::body::Bytes>>>,
}

impl Conn {
    /// Connects on first use.
    pub(crate) fn new(addr: std::net::SocketAddr) -> Self {
        Self { addr, sender: None }
    }

    async fn send(
        &mut self,
        req: http::Request<http_body_util::Full<hyper::body::Bytes>>,
    ) -> anyhow::Result<u16> {
        Ok(self.exchange(req).await?.0)
    }

    /// Sends `req`; the answer's status and headers (its body is read and dropped).
    async fn exchange(
        &mut self,
        req: http::Request<http_body_util::Full<hyper::body::Bytes>>,
    ) -> anyhow::Result<(u16, http::HeaderMap)> {
        let sender = match &mut self.sender {
            Some(s) if !s.is_closed() => s,
            _ => {
                let tcp = tokio::net::TcpStream::connect(self.addr).await?;
                tcp.set_nodelay(true)?;
                let (sender, conn) =
                    hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                        .await?;
                tokio::spawn(conn);
                self.sender.insert(sender)
            }
        };
        sender.ready().await?;
        let resp = match sender.send_request(req).await {
            Ok(r) => r,
            Err(e) => {
                self.sender = None;
                return Err(e.into());
            }
        };
        let (parts, body) = resp.into_parts();
        let _ = http_body_util::BodyExt::collect(body).await;
        Ok((parts.status.as_u16(), parts.headers))
    }

    /// Signs in with the dashboard's form (`POST /api/auth/login`); the session cookie.
    pub(crate) async fn sign_in(&mut self, email: &str, password: &str) -> anyhow::Result<String> {
        use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
        let form = format!(
            "email={}&password={}",
            utf8_percent_encode(email, NON_ALPHANUMERIC),
            utf8_percent_encode(password, NON_ALPHANUMERIC)
        );
        let req = http::Request::post("/api/auth/login")
            .header(http::header::HOST, self.addr.to_string())
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header("sec-fetch-site", "same-origin")
            .body(http_body_util::Full::new(hyper::body::Bytes::from(form)))?;
        let (status, headers) = self.exchange(req).await?;
        headers
            .get_all(http::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .find(|c| c.starts_with("tlswatch_session="))
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("signing in answered {status} without a session"))
    }

    /// Uploads `body` as the file `name` with the session `cookie`, as the upload page does;
    /// the answer's status.
    pub(crate) async fn upload(
        &mut self,
        cookie: &str,
        name: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<u16> {
        let req = http::Request::post("/api/upload")
            .header(http::header::HOST, self.addr.to_string())
            .header(http::header::COOKIE, cookie)
            .header("sec-fetch-site", "same-origin")
            .header("x-filename", name)
            .header(http::header::CONTENT_TYPE, "application/octet-stream")
            .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))?;
        self.send(req).await
    }

    /// POSTs `body` as `ctype` to `path`; the answer's status.
    pub(crate) async fn post(
        &mut self,
        path: &str,
        ctype: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<u16> {
        let req = http::Request::post(path)
            .header(http::header::HOST, self.addr.to_string())
            .header(http::header::CONTENT_TYPE, ctype)
            .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))?;
        self.send(req).await
    }

    /// GETs `path` with `authorization`; the answer's status.
    pub(crate) async fn get(&mut self, path: &str, authorization: &str) -> anyhow::Result<u16> {
        let req = http::Request::get(path)
            .header(http::header::HOST, self.addr.to_string())
            .header(http::header::AUTHORIZATION, authorization)
            .body(http_body_util::Full::new(hyper::body::Bytes::new()))?;
        self.send(req).await
    }
}

/// The load generator's own runtime, on one thread named `bench-client`: the CPU line then
/// shows what the clients cost apart from the server.
pub(crate) fn client_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-client")
        .enable_all()
        .build()
}

pub(crate) async fn load(secs: u64) -> anyhow::Result<()> {
    use app::auth::Role;
    let dir = tempfile_dir()?;
    let (addr, store) = bench_server(&dir, 100).await?;
    let (token, hash) = tlswatch::auth::new_secret("tlsw_");
    store
        .add_token("load", &hash, Role::Viewer, "bench", 0)
        .await?;
    let bearer = format!("Bearer {token}");
    let clients = client_runtime()?;
    // The reports are made before the clock starts (as in the receiver bench): the server is
    // measured, not the client's gzip. More than the uploaders can send in `secs`; should they
    // get through them all, the rest are made on the way.
    let bodies: std::sync::Arc<Vec<Vec<u8>>> = std::sync::Arc::new(
        (0..secs as usize * 6_000)
            .map(|i| gz_report(i, &format!("domain{}.example", i % 100)))
            .collect(),
    );
    let start = Instant::now();
    let deadline = start + std::time::Duration::from_secs(secs);
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut uploaders = Vec::new();
    for _ in 0..200 {
        let (counter, bodies) = (counter.clone(), bodies.clone());
        uploaders.push(clients.spawn(async move {
            let mut conn = Conn::new(addr);
            let (mut lat, mut errors) = (Vec::new(), 0usize);
            while Instant::now() < deadline {
                let i = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let body = match bodies.get(i) {
                    Some(b) => b.clone(),
                    None => gz_report(i, &format!("domain{}.example", i % 100)),
                };
                let t = Instant::now();
                match conn.post("/tlsrpt", "application/tlsrpt+gzip", body).await {
                    Ok(200) => lat.push((t - start, t.elapsed().as_secs_f64() * 1000.0)),
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    // TLSWATCH_BENCH_READS=domains|stats|metrics: only that read (to see what each costs).
    let only = match std::env::var("TLSWATCH_BENCH_READS").as_deref() {
        Ok("domains") => Some(0),
        Ok("stats") => Some(1),
        Ok("metrics") => Some(2),
        _ => None,
    };
    let mut readers = Vec::new();
    for r in 0..50usize {
        let bearer = bearer.clone();
        readers.push(clients.spawn(async move {
            let mut conn = Conn::new(addr);
            let (mut lat, mut errors) = (Vec::new(), 0usize);
            let mut k = r;
            while Instant::now() < deadline {
                k += 1;
                let path = match only.unwrap_or(k % 3) {
                    0 => "/api/v1/domains?from=2026-08-01&to=2026-08-28".to_string(),
                    1 => format!(
                        "/api/v1/domains/domain{}.example/stats?from=2026-08-01&to=2026-08-28",
                        k % 100
                    ),
                    _ => "/metrics".to_string(),
                };
                let t = Instant::now();
                match conn.get(&path, &bearer).await {
                    Ok(200) => lat.push((t - start, t.elapsed().as_secs_f64() * 1000.0)),
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    // Every latency with when its request started: the run's p99 and each tenth's (whether the
    // latency grows with the database).
    type Timed = Vec<(std::time::Duration, f64)>;
    let collect = |v: Vec<(Timed, usize)>| {
        let timed: Timed = v.iter().flat_map(|x| x.0.iter().copied()).collect();
        let mut lat: Vec<f64> = timed.iter().map(|x| x.1).collect();
        lat.sort_by(f64::total_cmp);
        (lat, timed, v.iter().map(|x| x.1).sum::<usize>())
    };
    let tenths = |timed: &Timed| {
        (0..10u32)
            .map(|w| {
                let (from, to) = (
                    std::time::Duration::from_secs(secs) * w / 10,
                    std::time::Duration::from_secs(secs) * (w + 1) / 10,
                );
                let mut l: Vec<f64> = timed
                    .iter()
                    .filter(|x| x.0 >= from && x.0 < to)
                    .map(|x| x.1)
                    .collect();
                l.sort_by(f64::total_cmp);
                format!("{:.0}", pct(&l, 99))
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut up = Vec::new();
    for u in uploaders {
        up.push(u.await?);
    }
    let mut rd = Vec::new();
    for r in readers {
        rd.push(r.await?);
    }
    clients.shutdown_background();
    let (ul, ut, ue) = collect(up);
    let (rl, rt, re) = collect(rd);
    println!("load: {secs} s, 200 uploaders + 50 readers, one instance on SQLite");
    println!(
        "  uploads (POST /tlsrpt): {} ok ({:.0}/s), {ue} errors, p50 {:.1} ms p99 {:.1} ms",
        ul.len(),
        ul.len() as f64 / secs as f64,
        pct(&ul, 50),
        pct(&ul, 99)
    );
    println!("  reads (API stats, domains, /metrics): {} ok ({:.0}/s), {re} errors, p50 {:.1} ms p99 {:.1} ms", rl.len(), rl.len() as f64 / secs as f64, pct(&rl, 50), pct(&rl, 99));
    println!(
        "  p99 in each tenth of the run, ms: uploads {}; reads {}",
        tenths(&ut),
        tenths(&rt)
    );
    println!("  stored reports: {}", store.report_count().await?);
    print_group_commits();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

pub(crate) async fn memory() -> anyhow::Result<()> {
    let dir = tempfile_dir()?;
    let before = rss_kib();
    let (addr, _store) = bench_server(&dir, 10).await?;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let idle = rss_kib();
    // A 1 GiB gzip bomb POSTed to the receiver.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        e.write_all(&zeros)?;
    }
    let bomb = e.finish()?;
    let status = Conn::new(addr)
        .post("/tlsrpt", "application/tlsrpt+gzip", bomb.clone())
        .await?;
    let after = rss_kib();
    println!(
        "memory: process before the server {} MiB; idle server {} MiB; after a 1 GiB gzip bomb ({} KiB on the wire, answered {status}) {} MiB",
        before / 1024,
        idle / 1024,
        bomb.len() / 1024,
        after / 1024
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
