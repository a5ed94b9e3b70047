// Bytes transferred for the overview after sign-in, as Chromium counts them (every response,
// headers and compressed bodies: CDP Network.loadingFinished encodedDataLength), first visit
// and repeat visit, and the time until the page is hydrated. A benchmark, not a test:
//   cargo xtask build && node end2end/first-load.mjs
import { addUser, browser, dataDir, importReports, reportJson, signIn, startServer, utcDay } from './tests/support.mjs';

const dir = dataDir();
const reports = [];
for (let d = 30; d >= 1; d--) {
  for (const domain of ['example.com', 'example.net']) {
    reports.push(reportJson({ org: 'Sender', id: `${domain}-${d}`, domain, day: utcDay(-d), success: 1000 + d, failures: [] }));
  }
}
importReports(dir, reports);
addUser(dir, 'admin@example.com', 'admin');
const server = await startServer(dir);
const ctx = await browser();
try {
  const page = await ctx.newPage();
  await signIn(page, server.base, 'admin@example.com', '/account');
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('Network.enable');
  let bytes = 0;
  const byType = {};
  const types = new Map();
  cdp.on('Network.responseReceived', (e) => types.set(e.requestId, `${e.type} ${new URL(e.response.url).pathname.split('/').pop() || '/'}`));
  cdp.on('Network.loadingFinished', (e) => {
    bytes += e.encodedDataLength;
    const t = types.get(e.requestId) ?? 'other';
    byType[t] = (byType[t] ?? 0) + e.encodedDataLength;
  });
  const visit = async (label) => {
    bytes = 0;
    for (const k of Object.keys(byType)) delete byType[k];
    const started = Date.now();
    await page.goto(`${server.base}/`);
    await page.locator('#daily-chart canvas').waitFor();
    await page.waitForLoadState('networkidle');
    const ms = Date.now() - started;
    console.log(`${label}: ${bytes} bytes transferred (${(bytes / 1024).toFixed(0)} KiB), chart drawn after ${ms} ms`);
    for (const [k, v] of Object.entries(byType).sort((a, b) => b[1] - a[1])) console.log(`  ${v}\t${k}`);
  };
  // The first visit of the overview: the site's files are not cached yet (the sign-in page
  // loaded them, so clear the cache first).
  await cdp.send('Network.clearBrowserCache');
  await visit('first visit');
  await visit('repeat visit');
} finally {
  await ctx.close();
  server.stop();
}
