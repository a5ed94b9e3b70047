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
  // The button is disabled until the page has hydrated (a lazy route: after its chunk
  // arrives), so a click is never lost; Playwright's click waits for it to be enabled.
  const html = await (await page.request.get(`${server.base}/alerts`)).text();
  assert.match(html, /<button type="button" disabled class="ack">/, 'served disabled');
  await row.locator('button.ack').click();
  await page.locator('#current-alerts tr.alert-firing', { hasText: 'acknowledged by editor@e2e.example' }).first().waitFor();
  // Editors see no channels.
  assert.equal(await page.locator('#channels').count(), 0);
  assert.deepEqual(errors, []);
  await page.close();
});

test('an admin adds a webhook channel with its form, sees the preview, tests it in place and edits it', async () => {
  const page = await ctx.newPage();
  const errors = watchErrors(page);
  await signIn(page, server.base, 'admin@e2e.example', '/alerts');
  await page.locator('#new-channel-form').waitFor();
  // Invalid input is explained under its field, before anything is sent.
  await page.fill('#new-channel-name', 'ops hook');
  await page.fill('#new-channel-url', 'ftp://nowhere');
  await page.click('#new-channel-save');
  await page.locator('#new-channel-url-error', { hasText: 'http(s) URL' }).waitFor();
  assert.equal(await page.locator('#channels tr', { hasText: 'ops hook' }).count(), 0);
  // The preview is what the channel would send, rendered by the sending code.
  await page.click('#new-channel-form details.preview summary');
  await page.locator('#new-channel-preview', { hasText: '"status": "firing"' }).waitFor();
  await page.selectOption('#new-channel-kind', 'slack');
  await page.locator('#new-channel-preview', { hasText: '"text":"*tlswatch: 1 alert firing' }).waitFor();
  await page.selectOption('#new-channel-kind', 'webhook');

  const url = `http://127.0.0.1:${hook.address().port}/hook`;
  await page.fill('#new-channel-url', url);
  await page.fill('#new-channel-secret', 'shh');
  await page.click('#new-channel-save');
  const row = page.locator('#channels tbody tr', { hasText: 'ops hook' });
  await row.waitFor();
  assert.doesNotMatch(await row.innerText(), /shh|127\.0\.0\.1/, 'secrets and the URL are never shown');
  assert.match(await row.innerText(), /url: set/);
  // "Send test" answers in place once the message was delivered.
  await row.locator('button.send-test').click();
  await row.locator('.test-result', { hasText: 'Delivered.' }).waitFor({ timeout: 20000 });
  const t = received.find((r) => JSON.parse(r.body).status === 'test');
  assert.ok(t, `test message received (${received.length} requests)`);
  assert.match(t.headers['x-tlswatch-signature'], /^sha256=[0-9a-f]{64}$/);
  // The firing (acknowledged, not yet notified on this new channel) alerts go out too.
  for (let i = 0; i < 40 && !received.some((r) => JSON.parse(r.body).status === 'firing'); i++) {
    await new Promise((ok) => setTimeout(ok, 250));
  }
  assert.ok(received.some((r) => JSON.parse(r.body).status === 'firing' && r.body.includes(DOMAIN)));

  // Edit: a new name and a domain route; the URL and secret left empty are kept.
  await row.locator('button.edit-channel').click();
  const id = (await row.getAttribute('id')).replace('channel-', '');
  await page.fill(`#channel-${id}-name`, 'ops hook (spike only)');
  await page.fill(`#channel-${id}-domains`, DOMAIN);
  await page.click(`#channel-${id}-save`);
  const edited = page.locator('#channels tbody tr', { hasText: 'ops hook (spike only)' });
  await edited.waitFor();
  assert.match(await edited.innerText(), new RegExp(DOMAIN.replace('.', '\\.')));
  const before = received.length;
  await edited.locator('button.send-test').click();
  await edited.locator('.test-result', { hasText: 'Delivered.' }).waitFor({ timeout: 20000 });
  assert.ok(received.length > before, 'the kept URL still delivers');
  assert.match(received.at(-1).headers['x-tlswatch-signature'], /^sha256=/, 'the kept secret still signs');
  assert.deepEqual(errors, []);
  await page.close();
});

test('an editor adds a rule and changes it with labelled fields; a wrong value is explained in place', async () => {
  const page = await ctx.newPage();
  const errors = watchErrors(page);
  await signIn(page, server.base, 'editor@e2e.example', '/alerts');
  await page.locator('#add-rule').waitFor();
  await page.fill('#new-rule-name', 'Certificates of spike.example');
  await page.selectOption('#new-rule-kind', 'cert_expiry');
  await page.fill('#new-rule-domain', DOMAIN);
  await page.fill('#new-rule-days', '400');
  await page.locator('#new-rule-days-error', { hasText: '1 to 365 days' }).waitFor();
  assert.equal(await page.locator('#new-rule-days').getAttribute('aria-invalid'), 'true');
  await page.click('#add-rule-submit');
  await page.locator('#add-rule [role=alert]', { hasText: '1 to 365 days' }).waitFor();
  await page.fill('#new-rule-days', '21');
  await page.click('#add-rule-submit');
  const row = page.locator('#rules tbody tr', { hasText: 'Certificates of spike.example' });
  await row.waitFor();
  assert.match(await row.innerText(), /ends within 21 days/);
  assert.match(await row.innerText(), new RegExp(DOMAIN.replace('.', '\\.')));

  // Edit the failure spike rule: the rate is a percentage in the form, a fraction stored.
  const spike = page.locator('#rules tbody tr', { hasText: 'Failure spike' }).first();
  await spike.locator('button.edit-rule').click();
  const id = (await spike.getAttribute('id')).replace('rule-', '');
  assert.equal(await page.locator(`#rule-${id}-absolute_rate`).inputValue(), '20');
  await page.fill(`#rule-${id}-absolute_rate`, '150');
  await page.locator(`#rule-${id}-absolute_rate-error`, { hasText: '0 to 100 % failures' }).waitFor();
  await page.fill(`#rule-${id}-absolute_rate`, '35');
  await page.fill(`#rule-${id}-baseline_days`, '21');
  await page.click(`#rule-${id} ~ tr .save-rule`);
  await page.locator(`#rule-${id} .rule-summary`, { hasText: 'Always fire above 35 % failures' }).waitFor();
  assert.match(await page.locator(`#rule-${id} .rule-summary`).innerText(), /Baseline 21 days/);
  const api = await page.evaluate(async () => (await fetch('/api/v1/rules')).json());
  const stored = api.rules.find((r) => r.kind === 'failure_spike');
  assert.equal(stored.params.absolute_rate, 0.35);
  assert.equal(stored.params.baseline_days, 21);
  assert.deepEqual(errors, []);
  await page.close();
});
