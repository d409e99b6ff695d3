// Drives headless Chromium through flag changes made on the collector while pages are open
// (bindings-wasm/tests/browser.rs, `flag_changes_reach_the_page_over_sse`):
// 1. a page polling once an hour sees a kill and a restore without reloading: they came over the
//    SSE stream (the page fetches flags only when the stream announces a newer version);
// 2. a page whose stream requests fail falls back to polling and sees the next kill;
// 3. the stream refuses a bad key (401) and serves a good one given as `?sdk_key=`.
// Prints one JSON line of observations for the Rust test, which asserts on them.
import { chromium } from 'playwright-core';

const base = process.env.RUM_PAGE_URL;
const collector = process.env.RUM_COLLECTOR;
const admin = process.env.RUM_ADMIN_KEY;
const sdkKey = process.env.RUM_SDK_KEY;
const FLAG = 'web_banner';

async function flagAction(action) {
  const r = await fetch(`${collector}/api/v1/admin/flags/${FLAG}/${action}`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } });
  if (r.status !== 200) throw new Error(`${action}: ${r.status} ${await r.text()}`);
}

/** Evaluates the flag in the page until it answers `want` (20 s at most); the last answer. */
async function waitTreatment(page, want) {
  try {
    await page.waitForFunction(([f, w]) => window.__agent.getTreatment(f) === w, [FLAG, want], { timeout: 20000, polling: 50 });
  } catch { /* reported below */ }
  return page.evaluate((f) => window.__agent.getTreatment(f), FLAG);
}

async function open(browser, user, poll, { breakStream = false } = {}) {
  const page = await browser.newPage();
  page.on('console', (m) => console.error(`page console (${user}): ${m.text()}`));
  page.on('pageerror', (e) => console.error(`page error (${user}): ${e.message}`));
  const flagGets = [];
  page.on('request', (r) => { if (new URL(r.url()).pathname === '/api/v1/flags') flagGets.push(r.url()); });
  if (breakStream) await page.route('**/api/v1/flags/stream**', (route) => route.abort('connectionrefused'));
  await page.goto(`${base}&user=${user}&poll=${poll}`);
  await page.waitForFunction(() => window.__agent, null, { timeout: 20000 });
  return { page, flagGets };
}

const out = {};
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
});
try {
  // 1. Streaming, polling once an hour.
  const { page, flagGets } = await open(browser, 'sse-user', 3600000);
  out.initial = await waitTreatment(page, 'on');
  await page.waitForFunction(() => window.__agent.stats().streaming, null, { timeout: 20000 });
  out.flagGetsBefore = flagGets.length;
  await flagAction('kill');
  out.afterKill = await waitTreatment(page, 'off');
  out.flagGetsAfterKill = flagGets.length;
  await flagAction('restore');
  out.afterRestore = await waitTreatment(page, 'on');
  out.flagGetsAfterRestore = flagGets.length;
  out.flushed = await page.evaluate(() => window.__agent.flush());

  // 2. The stream fails (every request refused): polling every 300 ms covers.
  const fallback = await open(browser, 'poll-user', 300, { breakStream: true });
  out.fallbackInitial = await waitTreatment(fallback.page, 'on');
  await flagAction('kill');
  out.fallbackAfterKill = await waitTreatment(fallback.page, 'off');
  out.fallbackStreaming = await fallback.page.evaluate(() => window.__agent.stats().streaming);
  out.streamingAfterSecondKill = await waitTreatment(page, 'off');

  // 3. The stream route's key in the URL.
  const bad = await fetch(`${collector}/api/v1/flags/stream?sdk_key=wrong`);
  out.badKeyStatus = bad.status;
  const ctl = new AbortController();
  const good = await fetch(`${collector}/api/v1/flags/stream?sdk_key=${encodeURIComponent(sdkKey)}`, { signal: ctl.signal });
  out.goodKeyStatus = good.status;
  out.goodKeyType = good.headers.get('content-type');
  ctl.abort();
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
