// Drives the browser demo's shop page (examples/browser/index.html, served by
// examples/src/browser.rs) in headless Chromium for e2e/tests/browser_demo.rs: one visitor
// loads the page, 20 more buy, the page is broken by an uncaught error, everything is flushed,
// then the page is left (pagehide: the web vitals go out in a beacon).
// Prints one JSON line {"first": …, "last": …, "flushed": …} for the Rust test.
import { chromium } from 'playwright-core';

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
});
try {
  const page = await browser.newPage();
  page.on('console', (m) => console.error(`page console: ${m.text()}`));
  page.on('pageerror', (e) => console.error(`page error (expected): ${e.message}`));
  await page.goto(process.env.DEMO_PAGE_URL);
  await page.waitForFunction(() => window.__demo, null, { timeout: 20000 });
  const first = await page.evaluate(() => window.__demo.visitor());
  await page.click('#many');
  await page.click('#break');
  const last = await page.evaluate(() => window.__demo.visitor());
  const flushed = await page.evaluate(() => window.__demo.agent.flush(15000));
  await page.goto('about:blank');
  await page.waitForTimeout(500);
  console.log(JSON.stringify({ first, last, flushed }));
} finally {
  await browser.close();
}
