// Alerts in the browser: a failure spike imported through the CLI fires within seconds of the
// server starting, the alerts page says why, an editor acknowledges it, and an admin adds a
// webhook channel and sends a test that a real HTTP server on loopback receives.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { addUser, browser, dataDir, importReports, reportJson, signIn, startServer, utcDay, watchErrors } from './support.mjs';

const DOMAIN = 'spike.example';
let server;
let ctx;
let hook;
const received = [];

before(async () => {
  const dir = dataDir();
  const reports = [];
  for (let d = 16; d >= 2; d--) {
    reports.push(reportJson({ org: 'Steady Sender', id: `base-${d}`, domain: DOMAIN, day: utcDay(-d), success: 999,
      failures: [{ type: 'starttls-not-supported', mx: `mx1.${DOMAIN}`, count: 1 }] }));
  }
  reports.push(reportJson({ org: 'Steady Sender', id: 'spike', domain: DOMAIN, day: utcDay(-1), success: 700,
    failures: [{ type: 'certificate-expired', mx: `mx1.${DOMAIN}`, count: 300 }] }));
  importReports(dir, reports);
  addUser(dir, 'editor@e2e.example', 'editor');
  addUser(dir, 'admin@e2e.example', 'admin');
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => { received.push({ path: req.url, headers: req.headers, body }); res.end('ok'); });
  });
  await new Promise((ok) => hook.listen(0, '127.0.0.1', ok));
  server = await startServer(dir, { TLSWATCH_ALERT_INTERVAL_SECONDS: '1', TLSWATCH_ALERT_GROUP_WAIT_SECONDS: '0', TLSWATCH_CHECK_INTERVAL_MINUTES: '0', TLSWATCH_ALERT_ALLOW_PRIVATE: 'true' });
  ctx = await browser();
});

after(async () => {
  await ctx?.close();
  server?.stop();
  hook?.close();
});

test('a spike shows on the alerts page with its reason, and an editor acknowledges it', async () => {
  const page = await ctx.newPage();
  const errors = watchErrors(page);
  await signIn(page, server.base, 'editor@e2e.example', '/alerts');
  const row = page.locator('#current-alerts tr.alert-firing', { hasText: 'failure_spike' }).first();
  for (let i = 0; i < 20 && (await row.count()) === 0; i++) {
    await page.waitForTimeout(500);
    await page.reload();
  }
  await row.waitFor();
  const text = await row.innerText();
  assert.match(text, /300 (of 1000 sessions failed|failed of 1000 sessions)/);
  assert.match(text, /threshold/);
  await row.locator('button.ack').click();
  await page.locator('#current-alerts tr.alert-firing', { hasText: 'acknowledged by editor@e2e.example' }).first().waitFor();
  // Editors see no channels.
  assert.equal(await page.locator('#channels').count(), 0);
  assert.deepEqual(errors, []);
  await page.close();
});

test('an admin adds a webhook channel and its test message arrives', async () => {
  const page = await ctx.newPage();
  await signIn(page, server.base, 'admin@e2e.example', '/alerts');
  await page.locator('#add-channel').waitFor();
  const url = `http://127.0.0.1:${hook.address().port}/hook`;
  await page.fill('#add-channel input[name=name]', 'ops hook');
  await page.selectOption('#add-channel select[name=kind]', 'webhook');
  await page.fill('#add-channel textarea[name=config]', JSON.stringify({ url, secret: 'shh' }));
  await page.click('#add-channel button[type=submit]');
  const row = page.locator('#channels tr', { hasText: 'ops hook' });
  await row.waitFor();
  assert.doesNotMatch(await row.innerText(), /shh/, 'the secret is never shown');
  await row.locator('button.send-test').click();
  for (let i = 0; i < 40 && !received.some((r) => JSON.parse(r.body).status === 'test'); i++) {
    await new Promise((ok) => setTimeout(ok, 250));
  }
  const t = received.find((r) => JSON.parse(r.body).status === 'test');
  assert.ok(t, `test message received (${received.length} requests)`);
  assert.match(t.headers['x-tlswatch-signature'], /^sha256=[0-9a-f]{64}$/);
  // The firing (acknowledged, not yet notified on this new channel) alerts go out too.
  for (let i = 0; i < 40 && !received.some((r) => JSON.parse(r.body).status === 'firing'); i++) {
    await new Promise((ok) => setTimeout(ok, 250));
  }
  assert.ok(received.some((r) => JSON.parse(r.body).status === 'firing' && r.body.includes(DOMAIN)));
  await page.close();
});
