// The configuration-health section of a domain page against the checker's loopback lab (real
// DNS, HTTPS and SMTP servers): an editor presses "Check now", the findings, the readiness
// verdict and the history appear without a reload; a viewer sees them but has no button; a
// failure type in the reports links to the check that explains it.
import { test, after, before } from 'node:test';
import http from 'node:http';
import assert from 'node:assert/strict';
import { addUser, browser, cli, dataDir, importReports, reportJson, signIn, startLab, startServer, utcDay, watchErrors } from './support.mjs';

const DOMAIN = 'lab.example.test';
let server;
let lab;
let ctx;

before(async () => {
  lab = await startLab(DOMAIN, 2);
  const dir = dataDir();
  cli(dir, ['domain', 'add', DOMAIN]);
  importReports(dir, [
    reportJson({ org: 'Sender', id: 'h-1', domain: DOMAIN, day: utcDay(-1), success: 90,
      failures: [{ type: 'certificate-host-mismatch', mx: `mx1.${DOMAIN}`, count: 3 }] }),
  ]);
  addUser(dir, 'editor@e2e.example', 'editor');
  addUser(dir, 'viewer@e2e.example', 'viewer');
  // Scheduled checks off: the button is what runs them here.
  server = await startServer(dir, { ...lab.env, TLSWATCH_CHECK_INTERVAL_MINUTES: '0' });
  ctx = await browser();
});

after(async () => {
  await ctx?.close();
  server?.stop();
  lab?.stop();
});

test('an editor runs the checks from the domain page and sees findings, readiness and history', async () => {
  const page = await ctx.newPage();
  const errors = watchErrors(page);
  await signIn(page, server.base, 'editor@e2e.example', `/domains/${DOMAIN}`);
  await page.locator('#check-summary', { hasText: 'No check has run yet' }).waitFor();
  // Before any check, the setup guide proposes records with a valid id.
  const sts = await page.locator('#setup-sts').innerText();
  assert.match(sts, /^v=STSv1; id=[0-9]{14}$/);

  await page.evaluate(() => { window.__sameDocument = true; });
  await page.click('#check-now');
  await page.locator('#check-summary', { hasText: 'Latest check' }).waitFor({ timeout: 20000 });
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was reloaded');
  // The lab domain is healthy but in testing mode: a warning, no failure.
  assert.match(await page.locator('#check-summary').innerText(), /0 failing/);
  await page.locator('#check-STS-X-05').waitFor();
  assert.match(await page.locator('#check-STS-X-05').innerText(), /WARN/i);
  // Passed checks are listed too, per MX.
  assert.ok(await page.locator('#findings-passed tr', { hasText: `mx2.${DOMAIN}` }).count() > 0);
  // Set up: the guide is gone once MTA-STS and TLS-RPT pass.
  assert.equal(await page.locator('#setup').count(), 0);
  // Readiness: not yet (one day of reports from one reporter, and a failure the MX causes).
  const readiness = await page.locator('#readiness').innerText();
  assert.match(readiness, /Not yet/);
  assert.match(readiness, /certificate-host-mismatch/);
  assert.equal(await page.locator('#check-history tbody tr').count(), 1);
  // The failure type in the reports links to the MX certificate-name check.
  const link = page.locator('#by-result-type .explained-by a', { hasText: 'STS-SMTP-05' });
  assert.equal(await link.getAttribute('href'), '#check-STS-SMTP-05');
  assert.equal(await page.locator('#check-STS-SMTP-05').count(), 1);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a viewer sees the findings but gets no check button', async () => {
  const page = await ctx.newPage();
  await signIn(page, server.base, 'viewer@e2e.example', `/domains/${DOMAIN}`);
  await page.locator('#check-summary', { hasText: 'Latest check' }).waitFor();
  await page.locator('#findings').waitFor();
  assert.equal(await page.locator('#check-now').count(), 0);
  await page.close();
});

/** GET `path` on the server with `Host: host` (what a sender fetching the policy sends). */
function getWithHost(base, host, path) {
  const url = new URL(base);
  return new Promise((ok, fail) => {
    const req = http.request({ host: url.hostname, port: url.port, path, headers: { host } }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => ok({ status: res.statusCode, type: res.headers['content-type'], body }));
    });
    req.on('error', fail);
    req.end();
  });
}

test('an editor hosts the policy with the form: testing, enforce refused until overridden, rollback', async () => {
  const page = await ctx.newPage();
  const errors = watchErrors(page);
  await signIn(page, server.base, 'editor@e2e.example', `/domains/${DOMAIN}`);
  await page.click('#policy-link');
  await page.locator('#policy-state', { hasText: 'Not hosted yet' }).waitFor();

  // Inline validation of max_age, without a round trip.
  await page.fill('#policy-max-age-days', '400');
  await page.locator('#policy-max-age-hint.error', { hasText: 'whole days from 0 to 365' }).waitFor();
  await page.fill('#policy-max-age-days', '7');
  await page.locator('#policy-max-age-hint', { hasText: '604800 seconds' }).waitFor();

  await page.fill('#policy-mx', `mx1.${DOMAIN}\nmx2.${DOMAIN}`);
  await page.fill('#policy-comment', 'first version');
  await page.click('#policy-publish');
  await page.locator('#policy-published', { hasText: 'Version 1 is served' }).waitFor();
  await page.locator('#policy-text', { hasText: 'mode: testing' }).waitFor();
  const txt = await page.locator('#txt-value').innerText();
  assert.match(txt, /^"v=STSv1; id=[0-9]{14}[A-Za-z0-9]{8}"$/);
  const served = await getWithHost(server.base, `mta-sts.${DOMAIN}`, '/.well-known/mta-sts.txt');
  assert.equal(served.status, 200);
  assert.equal(served.type, 'text/plain');
  assert.equal(served.body, `version: STSv1\r\nmode: testing\r\nmx: mx1.${DOMAIN}\r\nmx: mx2.${DOMAIN}\r\nmax_age: 604800\r\n`);

  // enforce before the domain is ready: refused with the reasons; the form keeps the input
  // and asks for an override reason.
  await page.selectOption('#policy-mode', 'enforce');
  await page.fill('#policy-max-age-days', '14');
  await page.click('#policy-publish');
  await page.locator('#policy-error', { hasText: 'not ready for enforce' }).waitFor();
  assert.equal(await page.locator('#policy-mode').inputValue(), 'enforce');
  await page.fill('#policy-override', 'e2e: the reports are from a test sender');
  await page.click('#policy-publish');
  await page.locator('#policy-published', { hasText: 'Version 2 is served' }).waitFor();
  await page.locator('#policy-published', { hasText: 'Overridden (audited)' }).waitFor();
  await page.locator('#policy-text', { hasText: 'mode: enforce' }).waitFor();

  // Roll back to version 1: a third version with its content.
  await page.locator('#policy-history tbody tr').nth(1).locator('button.rollback').click();
  await page.locator('#policy-published', { hasText: 'Version 3 is served' }).waitFor();
  await page.locator('#policy-text', { hasText: 'mode: testing' }).waitFor();
  assert.equal(await page.locator('#policy-history tbody tr').count(), 3);
  // The refusal was the server's 409 answer, passed to the page as a failed call (400): the
  // browser logs it; nothing else went wrong.
  assert.equal(errors.filter((e) => /status of 400/.test(e)).length, 1, errors.join('\n'));
  assert.deepEqual(errors.filter((e) => !/status of 400/.test(e)), []);
  await page.close();
});
