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
  server = await startServer(dir, { TLSWATCH_MAILBOX_SCHEDULER_SECONDS: '3600' });
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
