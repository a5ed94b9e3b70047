// Every page, as an admin would see it with data: axe-core (the accessibility engine, from npm)
// finds no serious or critical violation in light and dark mode, and at 390 px wide no page
// scrolls sideways; the navigation folds behind a button there and opens with the keyboard.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { addUser, browser, cli, dataDir, importReports, reportJson, signIn, startServer, utcDay, watchErrors } from './support.mjs';

const require = createRequire(import.meta.url);
const AXE = require.resolve('axe-core/axe.min.js');
const DOMAIN = 'a-rather-long-subdomain-name.accessibility.example';
let server;
let ctx;

const PAGES = [
  '/', '/reports', '/reports/1', `/domains/${DOMAIN}`, `/domains/${DOMAIN}/policy`, '/alerts',
  '/upload', '/account', '/admin/users', '/admin/tokens', '/admin/audit', '/admin/quarantine',
  '/admin/mailboxes', '/domains',
];

before(async () => {
  const dir = dataDir();
  cli(dir, ['domain', 'add', DOMAIN]);
  const reports = [];
  for (let d = 20; d >= 1; d--) {
    reports.push(reportJson({ org: `Sender ${d % 3}`, id: `a11y-${d}`, domain: DOMAIN, day: utcDay(-d), success: 123456 + d,
      failures: d % 4 === 0 ? [{ type: 'certificate-expired', mx: `mx1.${DOMAIN}`, count: 321 }] : [] }));
  }
  importReports(dir, reports);
  addUser(dir, 'admin@e2e.example', 'admin');
  server = await startServer(dir, { TLSWATCH_CHECK_INTERVAL_MINUTES: '0' });
  // axe is injected as a script; the pages' Content-Security-Policy would refuse it.
  ctx = await browser({ bypassCSP: true });
});

after(async () => {
  await ctx?.close();
  server?.stop();
});

async function axe(page) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(async () => window.axe.run(document, { resultTypes: ['violations'] }));
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('\n    ')}`);
}

async function settle(page) {
  await page.waitForLoadState('networkidle');
  // Signed in (at 390 px the account link sits in the folded menu: present, not visible).
  await page.locator('#me').waitFor({ state: 'attached' });
  await page.locator('.loading').first().waitFor({ state: 'detached', timeout: 10000 }).catch(() => {});
}

test('axe-core finds no serious or critical violation on any page, light and dark', async () => {
  const page = await ctx.newPage();
  const errors = watchErrors(page);
  await signIn(page, server.base, 'admin@e2e.example', '/');
  // Counts are shown in the browser's locale once the page runs.
  const total = 20 * 123456 + 210;
  await settle(page);
  const local = await page.evaluate((n) => n.toLocaleString(), total);
  await page.locator('#total-success', { hasText: local }).waitFor();
  const found = [];
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const path of PAGES) {
      await page.goto(`${server.base}${path}`);
      await settle(page);
      for (const v of await axe(page)) found.push(`${scheme} ${path}: ${v}`);
    }
  }
  // Signed out: the sign-in page, in a browser of its own.
  const anon = await browser({ bypassCSP: true });
  try {
    const login = await anon.newPage();
    await login.goto(`${server.base}/login`);
    await login.waitForLoadState('networkidle');
    for (const v of await axe(login)) found.push(`signed out /login: ${v}`);
  } finally {
    await anon.close();
  }
  assert.deepEqual(found, []);
  assert.deepEqual(errors, []);
  await page.close();
});

test('at 390 px no page scrolls sideways, and the folded navigation opens', async () => {
  const page = await ctx.newPage();
  await signIn(page, server.base, 'admin@e2e.example', '/');
  await page.setViewportSize({ width: 390, height: 844 });
  const wide = [];
  for (const path of PAGES) {
    await page.goto(`${server.base}${path}`);
    await settle(page).catch((e) => { throw new Error(`${path}: ${e.message}`); });
    const [scroll, inner, culprits] = await page.evaluate(() => [
      document.documentElement.scrollWidth, window.innerWidth,
      // What sticks out, for the failure message.
      [...document.querySelectorAll('body *')]
        .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
        .filter((e) => {
          for (let a = e.parentElement; a; a = a.parentElement) {
            if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(a).overflowX)) return false;
          }
          return true;
        })
        .slice(0, 6)
        .map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className} → ${Math.round(e.getBoundingClientRect().right)}`),
    ]);
    if (scroll > inner) wide.push(`${path}: ${scroll} > ${inner}: ${culprits.join(', ')}`);
  }
  assert.deepEqual(wide, []);
  // The links are behind "Menu", which the keyboard opens.
  await page.goto(`${server.base}/`);
  await settle(page);
  assert.equal(await page.locator('#main-nav').isVisible(), false);
  await page.locator('.menu-toggle').focus();
  await page.keyboard.press('Enter');
  await page.locator('#main-nav').waitFor({ state: 'visible' });
  assert.equal(await page.locator('.menu-toggle').getAttribute('aria-expanded'), 'true');
  await page.click('#main-nav >> text=Alerts');
  await page.locator('h1', { hasText: 'Alerts' }).waitFor();
  assert.equal(await page.locator('#main-nav').isVisible(), false, 'navigating folds the menu again');
  await page.close();
});

test('the skip link is the first stop of the keyboard and moves focus to the content', async () => {
  const page = await ctx.newPage();
  await page.setViewportSize({ width: 1400, height: 900 });
  await signIn(page, server.base, 'admin@e2e.example', '/');
  await page.goto(`${server.base}/alerts`);
  await settle(page);
  await page.keyboard.press('Tab');
  const first = await page.evaluate(() => [document.activeElement.className, document.activeElement.textContent]);
  assert.deepEqual(first, ['skip-link', 'Skip to content']);
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'main');
  await page.close();
});
