// Sign-in and sign-out in Chromium, and the upload page for an editor.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { E2E_PASSWORD, addUser, browser, dataDir, reportJson, signIn, startServer, utcDay, watchErrors } from './support.mjs';

let server;
let ctx;
let dir;

before(async () => {
  dir = dataDir();
  addUser(dir, 'editor@e2e.example', 'editor');
  server = await startServer(dir);
  ctx = await browser();
});

after(async () => {
  await ctx?.close();
  server?.stop();
});

test('an anonymous visitor is sent to sign-in; a wrong password is refused; sign-in and sign-out work', async () => {
  const page = await ctx.newPage();
  const errors = watchErrors(page);
  await page.goto(`${server.base}/upload`);
  assert.match(page.url(), /\/login\?next=(%2F|\/)upload$/);
  await page.fill('#email', 'editor@e2e.example');
  await page.fill('#password', 'not the password');
  await page.click('#sign-in');
  await page.locator('#login-error').waitFor();
  assert.match(await page.locator('#login-error').innerText(), /wrong e-mail or password/);

  await signIn(page, server.base, 'editor@e2e.example', '/upload');
  assert.match(await page.locator('#me').innerText(), /editor@e2e\.example \(editor\)/);
  await page.waitForURL(/\/upload$/);

  await page.click('#sign-out');
  await page.waitForURL(/\/login/);
  await page.goto(`${server.base}/`);
  assert.match(page.url(), /\/login/);
  // The failed attempt logs a console error for the refused server function call.
  assert.deepEqual(errors.filter((e) => !e.includes('401')), []);
});

test('the upload page imports good files and names the reason for a bad one', async () => {
  const page = await ctx.newPage();
  const errors = watchErrors(page);
  await signIn(page, server.base, 'editor@e2e.example', '/upload');
  await page.waitForURL(/\/upload$/);
  const good = join(dir, 'google.com!upload.example!1!2!001.json');
  writeFileSync(good, reportJson({ org: 'Up <i>Loader</i>', id: 'up-1', domain: 'upload.example', day: utcDay(-1), success: 9 }));
  const bad = join(dir, 'broken.json');
  writeFileSync(bad, '{"organization-name": "x"');
  await page.setInputFiles('#files', [good, bad]);
  await page.locator('#upload-progress', { hasText: '2 of 2 files done' }).waitFor();
  const rows = await page.locator('#upload-results tbody tr').allInnerTexts();
  assert.equal(rows.length, 2);
  assert.match(rows[0], /imported/);
  assert.match(rows[1], /rejected[\s\S]*not valid JSON/);
  // Uploading the same file again: duplicate.
  await page.setInputFiles('#files', [good]);
  await page.locator('#upload-progress', { hasText: '3 of 3 files done' }).waitFor();
  assert.match((await page.locator('#upload-results tbody tr').allInnerTexts())[2], /duplicate/);
  assert.deepEqual(errors, []);
});

test('a signed-in user changes their own password at /account', async () => {
  addUser(dir, 'viewer@e2e.example', 'viewer');
  // A context of its own: the shared one is still signed in as the editor.
  const own = await browser();
  const page = await own.newPage();
  const errors = watchErrors(page);
  await signIn(page, server.base, 'viewer@e2e.example', '/');
  await page.goto(`${server.base}/account`);
  await page.waitForLoadState('networkidle');
  // A wrong current password is refused in place.
  await page.fill('#current-password', 'not my password at all');
  await page.fill('#new-password', 'a brand new long password');
  await page.click('#change-password');
  await page.locator('#password-error').waitFor();
  assert.match(await page.locator('#password-error').innerText(), /current password is wrong/);
  await page.fill('#current-password', E2E_PASSWORD);
  await page.fill('#new-password', 'a brand new long password');
  await page.click('#change-password');
  await page.locator('#password-changed').waitFor();
  // The old password no longer works; the new one does.
  const login = (password) => page.request.post(`${server.base}/api/auth/login`, {
    form: { email: 'viewer@e2e.example', password },
    headers: { 'sec-fetch-site': 'same-origin' },
    maxRedirects: 0,
  });
  const old = await login(E2E_PASSWORD);
  assert.equal(old.status(), 401, `${old.status()} ${JSON.stringify(old.headers())} ${await old.text()}`);
  assert.ok([200, 302, 303].includes((await login('a brand new long password')).status()));
  assert.match(await page.locator('#me').innerText(), /viewer@e2e\.example/);
  // The refused attempt logs its 400.
  assert.deepEqual(errors.filter((e) => !e.includes('400')), []);
  await own.close();
});
