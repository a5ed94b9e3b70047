// The mailboxes page (admin): a mailbox added with the form (problems explained in place, no
// round trip), shown without its password, "test connection" answering in place with the
// reason it failed, edited keeping the stored password.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { addUser, browser, dataDir, freePort, signIn, startServer, watchErrors } from './support.mjs';

let server;
let ctx;

before(async () => {
  const dir = dataDir();
  addUser(dir, 'admin@e2e.example', 'admin');
  server = await startServer(dir, { TLSWATCH_MAILBOX_SCHEDULER_SECONDS: '3600', TLSWATCH_MAILBOX_ALLOW_PRIVATE: 'true' });
  ctx = await browser();
});

after(async () => {
  await ctx?.close();
  server?.stop();
});

test('an admin adds a mailbox with the form, tests it in place and edits it', async () => {
  const page = await ctx.newPage();
  const errors = watchErrors(page);
  await signIn(page, server.base, 'admin@e2e.example', '/admin/mailboxes');
  await page.locator('#no-mailboxes').waitFor();
  await page.fill('#new-mailbox-name', 'reports');
  await page.click('#new-mailbox-save');
  await page.locator('#new-mailbox-host-error', { hasText: 'host name' }).waitFor();
  await page.locator('#new-mailbox-password-error', { hasText: 'password' }).waitFor();
  assert.equal(await page.locator('#mailboxes').count(), 0, 'nothing was sent');

  // Nothing listens on this port: the test says why, in place.
  const closed = await freePort();
  await page.fill('#new-mailbox-host', '127.0.0.1');
  await page.fill('#new-mailbox-port', String(closed));
  await page.fill('#new-mailbox-username', 'tlsrpt@example.com');
  await page.fill('#new-mailbox-password', 'imap secret 123');
  await page.fill('#new-mailbox-archive_folder', 'Archive/TLSRPT');
  await page.click('#new-mailbox-save');
  const row = page.locator('#mailboxes tbody tr', { hasText: 'reports' }).first();
  await row.waitFor();
  assert.doesNotMatch(await page.content(), /imap secret 123/, 'the password is never sent back');
  assert.match(await row.innerText(), /not polled yet/i);
  await row.locator('button.test-mailbox').click();
  await row.locator('.mailbox-result', { hasText: 'Failed:' }).waitFor({ timeout: 20000 });
  assert.match(await row.locator('.mailbox-result').innerText(), new RegExp(`127\\.0\\.0\\.1:${closed}`));

  // Poll now records the failure on the mailbox.
  await row.locator('button.poll-mailbox').click();
  await page.locator('#mailboxes tbody tr', { hasText: 'failing' }).waitFor({ timeout: 20000 });

  // Edit: a new name; the password left empty is kept (the API still reports it set).
  await page.locator('#mailboxes tbody tr').first().locator('button.edit-mailbox').click();
  const id = (await page.locator('#mailboxes tbody tr').first().getAttribute('id')).replace('mailbox-', '');
  await page.fill(`#mailbox-${id}-name`, 'reports (renamed)');
  await page.click(`#mailbox-${id}-save`);
  await page.locator('#mailboxes tbody tr', { hasText: 'reports (renamed)' }).waitFor();
  const api = await page.evaluate(async () => (await fetch('/api/v1/mailboxes')).json());
  assert.equal(api.mailboxes[0].name, 'reports (renamed)');
  assert.equal(api.mailboxes[0].password_set, true);
  assert.equal(api.mailboxes[0].archive_folder, 'Archive/TLSRPT');
  assert.deepEqual(errors, []);
  await page.close();
});

// "Sign in once" (authorization code with PKCE) in the browser, through a real OAuth server's
// own sign-in pages (oidc-provider): the form shows the OAuth fields for the method, the
// provider sends the browser back, tlswatch keeps the refresh token (never shown) and the
// mailbox is signed in.
test('an admin adds a sign-in mailbox and signs in at the provider', async () => {
  const { spawn } = await import('node:child_process');
  const { createInterface } = await import('node:readline');
  const { join } = await import('node:path');
  const { ROOT } = await import('./support.mjs');
  const oidc = spawn('node', [join(ROOT, 'server/tests/support/oidc-provider.mjs')], {
    env: { ...process.env, MAILBOX_USER: 'reports', REDIRECT_URI: `${server.base}/oauth/mailbox` },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  try {
    const lines = createInterface({ input: oidc.stdout });
    const { issuer } = JSON.parse(await new Promise((r) => lines.once('line', r)));
    const page = await ctx.newPage();
    const errors = watchErrors(page);
    await signIn(page, server.base, 'admin@e2e.example', '/admin/mailboxes');
    await page.locator('#new-mailbox-name').waitFor();
    // The OAuth fields appear for the method; Graph asks for its base URL.
    assert.equal(await page.locator('#new-mailbox-client_id').isVisible(), false);
    await page.selectOption('#new-mailbox-auth', 'authorization_code');
    await page.locator('#new-mailbox-client_id').waitFor({ state: 'visible' });
    await page.selectOption('#new-mailbox-kind', 'graph');
    assert.equal(await page.inputValue('#new-mailbox-host'), 'https://graph.microsoft.com');
    await page.selectOption('#new-mailbox-kind', 'imap');

    const closed = await freePort();
    await page.fill('#new-mailbox-name', 'personal');
    await page.fill('#new-mailbox-host', '127.0.0.1');
    await page.fill('#new-mailbox-port', String(closed));
    await page.fill('#new-mailbox-username', 'reports');
    await page.fill('#new-mailbox-password', 'webapp-secret');
    await page.fill('#new-mailbox-client_id', 'webapp');
    await page.fill('#new-mailbox-token_url', `${issuer}/token`);
    await page.click('#new-mailbox-save');
    await page.locator('#new-mailbox-authorize_url-error', { hasText: 'authorization URL' }).waitFor();
    await page.fill('#new-mailbox-authorize_url', `${issuer}/auth`);
    await page.fill('#new-mailbox-scope', 'openid offline_access https://mail.google.com/');
    await page.click('#new-mailbox-save');
    const row = page.locator('#mailboxes tbody tr', { hasText: 'personal' }).first();
    await row.waitFor();
    assert.doesNotMatch(await page.content(), /webapp-secret/);

    // Sign in at the provider (its development login and consent pages, whose own console
    // errors — a web font it cannot reach from here, no favicon — are not tlswatch's).
    assert.deepEqual(errors, []);
    await row.locator('a.sign-in-mailbox', { hasText: 'Sign in' }).click();
    await page.waitForURL((u) => u.href.startsWith(issuer));
    await page.fill('input[name=login]', 'reports');
    await page.fill('input[name=password]', 'anything');
    await page.click('button[type=submit]');
    await page.locator('button[type=submit]', { hasText: 'Continue' }).click();
    await page.waitForURL((u) => u.href.startsWith(`${server.base}/admin/mailboxes`));
    errors.length = 0;
    await page.reload();
    await page.locator('#mailboxes tbody tr', { hasText: 'personal' }).locator('a.sign-in-mailbox', { hasText: 'Sign in again' }).waitFor();
    const api = await page.evaluate(async () => (await fetch('/api/v1/mailboxes')).json());
    const m = api.mailboxes.find((x) => x.name === 'personal');
    assert.equal(m.signed_in, true);
    assert.equal(m.auth, 'authorization_code');
    assert.doesNotMatch(JSON.stringify(api), /webapp-secret/);
    assert.deepEqual(errors, []);
    await page.close();
  } finally {
    oidc.kill();
  }
});
