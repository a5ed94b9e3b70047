// Organizations and single sign-on in the browser: signing in through a real OpenID provider's
// own pages (oidc-provider from npm) lands a person in the organization and role its claims
// say; someone outside the allowed groups gets a page saying so; on the domains page a new
// domain waits for its DNS proof with the record to publish, and stays out of the overview.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { ROOT, browser, cli, dataDir, freePort, startServer, watchErrors } from './support.mjs';

let server;
let oidc;
let issuer;
let ctx;

before(async () => {
  const dir = dataDir();
  cli(dir, ['org', 'add', 'acme']);
  const port = await freePort();
  oidc = spawn('node', [join(ROOT, 'server/tests/support/oidc-provider.mjs')], {
    env: { ...process.env, SSO_REDIRECT_URI: `http://127.0.0.1:${port}/auth/oidc/callback` },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const lines = createInterface({ input: oidc.stdout });
  ({ issuer } = JSON.parse(await new Promise((r) => lines.once('line', r))));
  server = await startServer(dir, {
    TLSWATCH_PUBLIC_URL: `http://127.0.0.1:${port}`,
    TLSWATCH_OIDC_ISSUER: issuer,
    TLSWATCH_OIDC_CLIENT_ID: 'tlswatch-sso',
    TLSWATCH_OIDC_CLIENT_SECRET: 'sso-secret',
    TLSWATCH_OIDC_SCOPES: 'openid email groups tlswatch',
    TLSWATCH_OIDC_ORG_CLAIM: 'tlswatch.org',
    TLSWATCH_OIDC_ROLE_CLAIM: 'tlswatch.role',
    TLSWATCH_OIDC_ALLOWED_GROUPS: 'tlswatch-users',
    TLSWATCH_OIDC_BUTTON: 'Sign in with Example ID',
    // Proof lookups go to a closed port: fast, and never proven here.
    TLSWATCH_DNS_SERVERS: '127.0.0.1:9',
  }, port);
  ctx = await browser();
});

after(async () => {
  await ctx?.close();
  server?.stop();
  oidc?.kill();
});

/** The provider's development login and consent pages, as `login`. */
async function atProvider(page, login) {
  await page.waitForURL((u) => u.href.startsWith(issuer));
  await page.fill('input[name=login]', login);
  await page.fill('input[name=password]', 'anything');
  await page.click('button[type=submit]');
  const consent = page.locator('button[type=submit]', { hasText: 'Continue' });
  await consent.waitFor();
  await consent.click();
}

test('single sign-on lands alice in acme as an editor; a domain waits for its proof', async () => {
  const page = await ctx.newPage();
  const errors = watchErrors(page);
  await page.goto(`${server.base}/login?next=%2Fdomains`);
  const button = page.locator('#sso-sign-in');
  await button.waitFor();
  assert.equal(await button.innerText(), 'Sign in with Example ID');
  assert.deepEqual(errors, []);
  await button.click();
  await atProvider(page, 'alice');
  await page.waitForURL(`${server.base}/domains`);
  errors.length = 0; // the provider's own pages are not tlswatch's
  await page.locator('#me', { hasText: 'alice@acme.example (editor)' }).waitFor();

  // A domain of acme's: the record to publish, and "Check now".
  await page.fill('#claim-domain-name', 'e2e-claim.example');
  await page.click('#claim-domain button[type=submit]');
  const row = page.locator('#claims tr[data-domain="e2e-claim.example"]');
  await row.waitFor();
  assert.match(await row.innerText(), /waiting for the TXT record/);
  assert.match(await row.locator('pre.record').innerText(), /^_tlswatch-challenge\.e2e-claim\.example\. IN TXT "tlswatch-verification=[0-9a-f]{32}"$/);
  assert.match(await row.innerText(), /acme/);
  await row.locator('button', { hasText: 'Check now' }).click();
  await page.locator('#claims tr[data-domain="e2e-claim.example"] .hint').waitFor();
  // Not proven: not on the overview, its page knows nothing of it.
  const overview = await page.evaluate(async () => (await fetch('/api/v1/domains')).json());
  assert.deepEqual(overview.domains, []);
  const claims = await page.evaluate(async () => (await fetch('/api/v1/claims')).json());
  assert.equal(claims.length, 1);
  assert.equal(claims[0].verified, false);
  assert.deepEqual(errors, []);
  await page.close();
});

test('someone outside the allowed groups is refused with a page that says why', async () => {
  const bob = await browser();
  try {
    const page = await bob.newPage();
    await page.goto(`${server.base}/login`);
    await page.locator('#sso-sign-in').click();
    await atProvider(page, 'bob');
    await page.locator('#sso-error').waitFor();
    assert.match(await page.locator('#sso-error').innerText(), /not in a group allowed to use tlswatch/);
    assert.match(page.url(), /\/auth\/oidc\/callback/);
    await page.click('text=Back to the sign-in page');
    await page.locator('#sso-sign-in').waitFor();
    assert.equal(await page.locator('#me').count(), 0, 'bob is not signed in');
  } finally {
    await bob.close();
  }
});
