// Drives headless Chromium (Debian's /usr/bin/chromium) with playwright-core through the page of
// bindings-wasm/tests/browser.rs: load, let the page throw, click and type (INP), then navigate
// away (pagehide → beacon).
// Prints one JSON line {"treatment": …, "traps": …, "patterns": […]} for the Rust test.
import { chromium } from 'playwright-core';

const page_url = process.env.RUM_PAGE_URL;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
});
try {
  const page = await browser.newPage();
  page.on('console', (m) => console.error(`page console: ${m.text()}`));
  page.on('pageerror', (e) => console.error(`page error (expected): ${e.message}`));
  await page.goto(page_url);
  const treatment = await (await page.waitForFunction(() => window.__treatment, null, { timeout: 20000 })).jsonValue();
  // Both errors captured and the fetch uploads of the page-load events done.
  await page.waitForFunction(() => window.__agent.stats().delivered >= 5, null, { timeout: 20000 });
  // Two interactions (a click, a key press) whose handlers block the main thread: INP.
  await page.click('#buy');
  await page.focus('#qty');
  await page.keyboard.press('5');
  await page.waitForFunction(() => window.__interactions.size >= 2, null, { timeout: 20000 });
  const traps = await page.evaluate(() => window.__agent.traps);
  const patterns = await page.evaluate(() => window.__patterns);
  // Leaving the page fires pagehide: LCP, CLS and INP go out in a beacon.
  await page.goto('about:blank');
  await page.waitForTimeout(500);
  console.log(JSON.stringify({ treatment, traps, patterns }));
} finally {
  await browser.close();
}
