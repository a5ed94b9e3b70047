// The overview page: an imported report shows up with its chart drawn, and the hydrated range
// control redraws the chart through a server function without reloading the page.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ROOT, addUser, browser, dataDir, importReports, reportJson, signIn, startServer, utcDay, watchErrors } from './support.mjs';

let server;
let ctx;

before(async () => {
  const dir = dataDir();
  const results = importReports(dir, [
    reportJson({ org: 'Recent Sender <b>Inc</b>', id: 'e2e-recent', domain: 'e2e.example', day: utcDay(-2), success: 100,
      failures: [{ type: 'certificate-expired', mx: 'mx1.e2e.example', count: 5 }] }),
    reportJson({ org: 'Older Sender', id: 'e2e-older', domain: 'e2e.example', day: utcDay(-20), success: 50 }),
  ]);
  assert.deepEqual(results.map((r) => r.status), ['imported', 'imported']);
  addUser(dir, 'viewer@e2e.example', 'viewer');
  server = await startServer(dir);
  ctx = await browser();
});

after(async () => {
  await ctx?.close();
  server?.stop();
});

const chartLength = () => {
  const inst = window.echarts?.getInstanceByDom(document.getElementById('daily-chart'));
  return inst ? inst.getOption().xAxis[0].data.length : -1;
};

test('imported report appears with its chart, and the range control redraws it in place', async () => {
  const page = await ctx.newPage();
  const errors = watchErrors(page);
  await signIn(page, server.base, 'viewer@e2e.example', '/?days=7');

  // Server-rendered table.
  await page.locator('#domains td.domain', { hasText: 'e2e.example' }).waitFor();
  assert.equal(await page.locator('#total-success').innerText(), '100');
  assert.equal(await page.locator('#total-failure').innerText(), '5');

  // The chart is drawn in the browser by ECharts (proof the WASM hydrated).
  await page.locator('#daily-chart canvas').waitFor();
  await page.waitForFunction(chartLength, null, { timeout: 10000 });
  assert.equal(await page.evaluate(chartLength), 7);

  // Change the range: no reload, URL updated, chart and totals redrawn from the server function.
  await page.evaluate(() => { window.__sameDocument = true; });
  await page.selectOption('#range', '30');
  await page.waitForFunction((n) => {
    const inst = window.echarts.getInstanceByDom(document.getElementById('daily-chart'));
    return inst && inst.getOption().xAxis[0].data.length === n;
  }, 30, { timeout: 10000 });
  assert.match(page.url(), /days=30/);
  await page.locator('#total-success', { hasText: '150' }).waitFor();
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was reloaded');
  const successSeries = await page.evaluate(() => window.echarts.getInstanceByDom(document.getElementById('daily-chart')).getOption().series[0].data);
  assert.equal(successSeries.reduce((a, b) => a + b, 0), 150);

  if (process.env.E2E_SCREENSHOT) {
    await page.setViewportSize({ width: 1200, height: 800 });
    await page.waitForTimeout(1500); // let the chart's update animation finish
    await page.screenshot({ path: join(ROOT, 'docs/screenshot.png'), fullPage: true });
  }
  assert.deepEqual(errors, []);
});

test('domain page, report list and report detail; markup from a report is shown as text', async () => {
  const page = await ctx.newPage();
  const errors = watchErrors(page);
  await signIn(page, server.base, 'viewer@e2e.example', '/?days=30');
  await page.click('#domains a:has-text("e2e.example")');
  await page.locator('#domain-name', { hasText: 'e2e.example' }).waitFor();
  await page.locator('#by-result-type td', { hasText: 'certificate-expired' }).waitFor();
  assert.match(await page.locator('#by-mx').innerText(), /mx1\.e2e\.example\s+5/);
  assert.match(await page.locator('#reporters').innerText(), /Older Sender/);
  await page.locator('#domain-chart canvas').waitFor();
  await page.check('#log-scale');
  await page.waitForFunction(() => window.echarts.getInstanceByDom(document.getElementById('domain-chart')).getOption().yAxis[0].type === 'log', null, { timeout: 10000 });

  await page.goto(`${server.base}/reports?domain=e2e.example`);
  await page.locator('#reports tbody tr').first().waitFor();
  assert.equal(await page.locator('#reports tbody tr').count(), 2);
  await page.click('#reports a >> nth=0');
  await page.locator('#report-org').waitFor();
  assert.equal(await page.locator('#report-org').innerText(), 'Recent Sender <b>Inc</b>');
  assert.equal(await page.locator('#report-org b').count(), 0);
  assert.deepEqual(errors, []);
});

test('the binary serves its own site: hashed, compressed, cached for a year; the glue, chunk loader and chunks revalidated', async () => {
  const html = await (await fetch(`${server.base}/login`)).text();
  const js = html.match(/<link rel="modulepreload" href="([^"]+)"/)?.[1];
  const wasm = html.match(/<link rel="preload" href="([^"]+\.wasm)"/)?.[1];
  const css = html.match(/<link rel="stylesheet" id="leptos" href="([^"]+)"/)?.[1];
  assert.match(wasm ?? '', /^\/pkg\/tlswatch\.[0-9a-f]{8,}\.wasm$/, 'the WASM has a content hash in its name');
  assert.match(css ?? '', /^\/pkg\/tlswatch\.[0-9a-f]{8,}\.css$/);
  for (const path of [wasm, css]) {
    const r = await fetch(`${server.base}${path}`, { headers: { 'accept-encoding': 'br, gzip' } });
    assert.equal(r.status, 200, path);
    assert.match(r.headers.get('cache-control') ?? '', /max-age=31536000.*immutable/, path);
    assert.equal(r.headers.get('content-encoding'), 'br', `${path} is sent brotli-compressed`);
    assert.ok(r.headers.get('etag'), `${path} has an ETag`);
    await r.arrayBuffer();
  }
  // The glue is imported by the chunk loader under its plain name, so the page uses that name
  // too; it, the loader and the chunks are revalidated on every use (304 when unchanged).
  assert.equal(js, '/pkg/tlswatch.js');
  const glue = await (await fetch(`${server.base}${js}`)).text();
  const loader = glue.match(/from\s*["']\.\/(__wasm_split\.[^"']+\.js)["']/)?.[1];
  assert.ok(loader, 'the glue imports the chunk loader');
  const loaderText = await (await fetch(`${server.base}/pkg/${loader}`)).text();
  const chunk = loaderText.match(/"\.\/(split_[^"]+\.wasm)"/)?.[1];
  assert.ok(chunk, 'the loader fetches the lazy routes\' chunks');
  for (const path of [js, `/pkg/${loader}`, `/pkg/${chunk}`]) {
    const r = await fetch(`${server.base}${path}`, { headers: { 'accept-encoding': 'br, gzip' } });
    assert.equal(r.status, 200, path);
    assert.equal(r.headers.get('cache-control'), 'no-cache', path);
    const etag = r.headers.get('etag');
    assert.ok(etag, `${path} has an ETag`);
    await r.arrayBuffer();
    const again = await fetch(`${server.base}${path}`, { headers: { 'accept-encoding': 'br, gzip', 'if-none-match': etag } });
    assert.equal(again.status, 304, `${path} is revalidated`);
  }
});
