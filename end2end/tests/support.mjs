// Shared helpers for the end-to-end tests: a real tlswatch server on a free port with its own
// SQLite file, the real CLI, and Debian's Chromium driven by playwright-core.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync, copyFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function built() {
  if (process.env.TLSWATCH_BIN) return process.env.TLSWATCH_BIN;
  for (const p of ['target/release/tlswatch', 'target/debug/tlswatch']) {
    if (existsSync(join(ROOT, p))) return join(ROOT, p);
  }
  throw new Error('no tlswatch binary: run `cargo xtask build` first');
}

let copied = null;
/**
 * The binary under test: a copy of the built one, alone in an empty directory, so the tests
 * prove it needs nothing beside it (the site is embedded).
 */
export function binary() {
  if (!copied) {
    const dir = mkdtempSync(join(tmpdir(), 'tlswatch-bin-'));
    copied = join(dir, 'tlswatch');
    copyFileSync(built(), copied);
    chmodSync(copied, 0o755);
  }
  return copied;
}

export async function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/** UTC day `offset` days from today, as YYYY-MM-DD. */
export function utcDay(offset) {
  const d = new Date(Date.now() + offset * 86400000);
  return d.toISOString().slice(0, 10);
}

export function reportJson({ org, id, domain, day, success, failures = [] }) {
  const failed = failures.reduce((a, f) => a + f.count, 0);
  return JSON.stringify({
    'organization-name': org,
    'date-range': { 'start-datetime': `${day}T00:00:00Z`, 'end-datetime': `${day}T23:59:59Z` },
    'contact-info': `tlsrpt@${domain}`,
    'report-id': id,
    policies: [{
      policy: { 'policy-type': 'sts', 'policy-string': ['version: STSv1', 'mode: testing', `mx: *.${domain}`, 'max_age: 86400'], 'policy-domain': domain, 'mx-host': [`*.${domain}`] },
      summary: { 'total-successful-session-count': success, 'total-failure-session-count': failed },
      'failure-details': failures.map((f) => ({ 'result-type': f.type, 'sending-mta-ip': '192.0.2.10', 'receiving-mx-hostname': f.mx, 'failed-session-count': f.count })),
    }],
  });
}

/** A fresh data directory. */
export function dataDir() {
  return mkdtempSync(join(tmpdir(), 'tlswatch-e2e-'));
}

/** Runs `tlswatch import --format json` on files written from `reports`; returns parsed lines. */
export function importReports(dir, reports) {
  const files = reports.map((r, i) => {
    const f = join(dir, `report-${i}.json`);
    writeFileSync(f, r);
    return f;
  });
  const out = execFileSync(binary(), ['import', '--format', 'json', ...files], {
    env: { ...process.env, TLSWATCH_DATA_DIR: dir, TLSWATCH_DATABASE_URL: '' },
    encoding: 'utf8',
  });
  return out.trim().split('\n').map((l) => JSON.parse(l));
}

export const E2E_PASSWORD = 'e2e password that is long';

/** Creates a user with the CLI (`tlswatch user add`, password on stdin). */
export function addUser(dir, email, role) {
  execFileSync(binary(), ['user', 'add', '--email', email, '--role', role], {
    env: { ...process.env, TLSWATCH_DATA_DIR: dir, TLSWATCH_DATABASE_URL: '' },
    input: `${E2E_PASSWORD}\n`,
  });
}

/** Signs in through the real sign-in page and waits for the target page. */
export async function signIn(page, base, email, next = '/') {
  await page.goto(`${base}/login?next=${encodeURIComponent(next)}`);
  await page.fill('#email', email);
  await page.fill('#password', E2E_PASSWORD);
  // Done when the browser has left /login for `next`: the sign-in's answer (and its new session
  // cookie) has arrived. Waiting for `#me` alone is not enough in a browser that is already
  // signed in (the login page shows `#me` too): a test that went on at once would navigate
  // with the old session, which the sign-in is about to end.
  await Promise.all([
    page.waitForURL((url) => url.pathname !== '/login'),
    page.click('#sign-in'),
  ]);
  await page.locator('#me').waitFor();
}

/** Starts `tlswatch serve` on `port` (a free one by default); resolves once /healthz answers 200. */
export async function startServer(dir, extraEnv = {}, port = undefined) {
  port = port ?? await freePort();
  // An empty working directory and no site root: everything the browser loads comes from
  // the binary itself.
  const child = spawn(binary(), ['serve', '--listen', `127.0.0.1:${port}`], {
    cwd: mkdtempSync(join(tmpdir(), 'tlswatch-cwd-')),
    env: { ...process.env, TLSWATCH_DATA_DIR: dir, TLSWATCH_DATABASE_URL: '', TLSWATCH_LOG: 'warn', TLSWATCH_CHECK_INTERVAL_MINUTES: '0', ...extraEnv },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`tlswatch exited with ${child.exitCode}`);
    try {
      const r = await fetch(`${base}/healthz`);
      if (r.status === 200) return { base, stop: () => child.kill('SIGTERM') };
    } catch { /* not up yet */ }
    await new Promise((ok) => setTimeout(ok, 100));
  }
  child.kill('SIGKILL');
  throw new Error('tlswatch did not become healthy in 20 s');
}

/** Headless Debian Chromium with a fresh profile. */
export async function browser(options = {}) {
  return chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'tlswatch-chromium-')), {
    ...options,
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/** Collects console errors and page errors of a page. */
export function watchErrors(page) {
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  return errors;
}

/**
 * Starts the checker's loopback lab (`tlswatch-bench lab DOMAIN MX`: real DNS, HTTPS and SMTP
 * servers) and resolves with the TLSWATCH_* settings that point tlswatch at it.
 */
export async function startLab(domain, mx = 2) {
  const bench = join(dirname(built()), 'tlswatch-bench');
  const child = spawn(bench, ['lab', domain, String(mx)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise((ok, fail) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      const i = buf.indexOf('\n');
      if (i >= 0) ok(buf.slice(0, i));
    });
    child.on('exit', (c) => fail(new Error(`tlswatch-bench lab exited with ${c}`)));
  });
  const settings = JSON.parse(line);
  delete settings.domain;
  return { env: settings, stop: () => child.kill('SIGINT') };
}

/** Runs a tlswatch command against the data directory `dir`. */
export function cli(dir, args, extraEnv = {}) {
  return execFileSync(binary(), args, {
    env: { ...process.env, TLSWATCH_DATA_DIR: dir, TLSWATCH_DATABASE_URL: '', ...extraEnv },
    encoding: 'utf8',
  });
}
