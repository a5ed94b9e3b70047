// Refreshes the screenshots in docs/ from the built binary with sample data:
//   cargo xtask build && node end2end/screenshots.mjs
// Overview, domain page, hosted policy, alerts, dark mode, and a phone (390 px).
import { join } from 'node:path';
import { addUser, browser, cli, dataDir, importReports, reportJson, ROOT, signIn, startServer, utcDay } from './tests/support.mjs';

const domains = ['example.com', 'example.net', 'mail.example.org', 'shop.example'];
const dir = dataDir();
const reports = [];
for (const [i, domain] of domains.entries()) {
  for (let d = 60; d >= 1; d--) {
    for (const org of ['Google Inc.', 'Microsoft Corporation', 'Mail.ru']) {
      const bad = (i === 1 && d < 6) ? [{ type: 'certificate-expired', mx: `mx1.${domain}`, count: 800 + d }]
        : (d % 9 === 0 ? [{ type: 'starttls-not-supported', mx: `mx2.${domain}`, count: 12 }] : []);
      reports.push(reportJson({ org, id: `${org}-${domain}-${d}`, domain, day: utcDay(-d), success: 15000 + ((d * 7919 + i * 104729) % 9000), failures: bad }));
    }
  }
}
importReports(dir, reports);
addUser(dir, 'admin@example.com', 'admin');
const server = await startServer(dir, { TLSWATCH_ALERT_INTERVAL_SECONDS: '1', TLSWATCH_ALERT_GROUP_WAIT_SECONDS: '0' });
const shots = [
  ['overview.png', '/', 'light', 1400],
  ['domain.png', '/domains/example.net', 'light', 1400],
  ['policy.png', '/domains/example.com/policy', 'light', 1400],
  ['alerts.png', '/alerts', 'light', 1400],
  ['dark.png', '/', 'dark', 1400],
  ['phone.png', '/domains/example.net', 'light', 390],
];
const ctx = await browser();
try {
  const page = await ctx.newPage();
  await signIn(page, server.base, 'admin@example.com', '/');
  await page.evaluate(async () => {
    await fetch('/api/v1/domains/example.com/policy', {
      method: 'PUT', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ mode: 'testing', mx: ['mx1.example.com', 'mx2.example.com'], max_age: 604800, comment: 'first hosted version' }),
    });
  });
  await new Promise((ok) => setTimeout(ok, 3000));
  for (const [file, path, scheme, width] of shots) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.setViewportSize({ width, height: width < 500 ? 844 : 900 });
    await page.goto(`${server.base}${path}`);
    await page.waitForLoadState('networkidle');
    await new Promise((ok) => setTimeout(ok, 1500));
    await page.screenshot({ path: join(ROOT, 'docs', file), fullPage: width < 500 });
    console.log(`docs/${file}`);
  }
} finally {
  await ctx.close();
  server.stop();
}
