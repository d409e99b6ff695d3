// Drives the browser demo's shop page (examples/browser/index.html, served by
// examples/src/browser.rs) in headless Chromium for e2e/tests/browser_demo.rs, as a newcomer
// clicks it: the first visitor buys, "Next visitor" brings a second one (a page of their own),
// "20 more visitors" brings twenty who each buy (the last page reloaded: no second purchase),
// then the page is broken by an uncaught error,
// everything is flushed and the page is left (pagehide: its web vitals go out in a beacon).
// Prints one JSON line for the Rust test: the visitors, the texts the page showed, whether the
// flush delivered, and the console errors seen.
import { chromium } from 'playwright-core';

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
});
const consoleErrors = [];
try {
  const page = await browser.newPage();
  page.on('console', (m) => {
    console.error(`page console: ${m.text()}`);
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => console.error(`page error (expected once): ${e.message}`));
  const ready = async (previous) => {
    const handle = await page.waitForFunction(
      (prev) => window.__demo && window.__demo.done && window.__demo.visitor !== prev && window.__demo,
      previous, { timeout: 60000 });
    return { visitor: await handle.evaluate((d) => d.visitor), treatment: await handle.evaluate((d) => d.treatment) };
  };
  const text = (id) => page.textContent(`#${id}`);

  await page.goto(process.env.DEMO_PAGE_URL);
  const first = await ready(null);
  const who = await text('who');
  await page.click('#buy');
  await page.waitForFunction(() => /paid|failed/.test(document.getElementById('status').textContent));
  const bought = await text('status');
  await page.click('#next');
  const second = await ready(first.visitor);
  await page.click('#many');
  const last = await ready(second.visitor);
  const many = await text('status');
  // A reload of the run's last page: the visitor does not buy twice.
  await page.reload();
  await ready(null);
  await page.click('#break');
  const broke = await text('status');
  const flushed = await page.evaluate(() => window.__demo.agent.flush(15000));
  await page.goto('about:blank');
  await page.waitForTimeout(500);
  console.log(JSON.stringify({ first, second, last, who, bought, many, broke, flushed, consoleErrors }));
} finally {
  await browser.close();
}
