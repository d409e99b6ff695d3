// The dashboard in a real browser (Debian's /usr/bin/chromium driven by playwright-core) against
// a real collector on loopback holding a degraded 50/50 rollout whose alert fired, sign in, screenshot every page at 1280 px and phone width (390 px: no page may
// scroll sideways), check each page with axe-core (no serious or critical violation), edit a
// metric, and kill the flag from its page with the keyboard only (Tab to the box and the button,
// every stop showing its focus; the confirmation dialog cancelled with Escape, then confirmed).
//
//   cargo build -p collector && (cd e2e/dashboard-browser && npm install && npm test)
//
// Standalone, it starts that binary and feeds it a simulated rollout of its own (`feed`).
// Screenshots go to target/dashboard-screenshots/. COLLECTOR_BIN overrides the binary.
//
// Driven by `cargo test` (e2e/tests/dashboard_browser.rs), which runs the rollout demo
// (examples/src/rollout.rs: agent-core users on simulated time, monitoring per simulated hour, the
// alert on the auto-created error metric, no automatic kill) and then `node run.mjs` with
// COLLECTOR_URL (the demo's collector; ADMIN_KEY and SDK_KEY its keys), what the demo made
// (RUM_DEMO_FLAG, RUM_DEMO_METRIC the metric its policy watches, RUM_DEMO_AT the simulated time of
// its last monitoring run, RUM_DEMO_VERSION the flag's version) instead of feeding, and
// RUM_AGENT_HANDSHAKE=1: before the kill this prints `READY_FOR_KILL {json}` and waits for a
// `go` line on stdin (the test's agent has evaluated the flag by then); after it, `KILLED {json}`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { randomUUID } from "node:crypto";
import { createInterface } from "node:readline";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const ROOT = path.resolve(import.meta.dirname, "../..");
const BIN = process.env.COLLECTOR_BIN ?? path.join(ROOT, "target/debug/collector");
const SHOTS = path.join(ROOT, "target/dashboard-screenshots");
const ADMIN = process.env.ADMIN_KEY ?? "e2e-admin-key", SDK = process.env.SDK_KEY ?? "e2e-sdk-key", MIN = 60000;
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];
// Playwright's launch gives every run a fresh temporary profile (--user-data-dir) of its own.

/** Starts the collector on a free port; resolves its base URL once it listens. */
function startCollector(dir) {
  const child = spawn(BIN, ["serve", "--listen", "127.0.0.1:0", "--data", dir, "--admin-key", ADMIN, "--sdk-key", SDK],
    { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`collector exited with ${code}: ${out}`)));
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/[0-9.:]+)/);
      if (m) resolve({ child, base: m[1] });
    });
  });
}

/** The collector named by COLLECTOR_URL (nothing to stop), or a fresh binary in `dir`. */
async function collector(dir) {
  const base = process.env.COLLECTOR_URL;
  return base ? { child: null, base: base.replace(/\/$/, "") } : await startCollector(dir);
}

/** Tells the driving test where the run is and, when it drives one, waits for its `go`. */
function handshake() {
  if (!process.env.RUM_AGENT_HANDSHAKE) return { say: () => {}, wait: async () => {}, close: () => {} };
  const rl = createInterface({ input: process.stdin });
  const lines = rl[Symbol.asyncIterator]();
  return {
    say: (what, data) => console.log(`${what} ${JSON.stringify(data)}`),
    wait: async () => {
      const { value, done } = await lines.next();
      assert.ok(!done && value.trim() === "go", `the driving test answered ${JSON.stringify(value)}`);
    },
    close: () => rl.close(),
  };
}

async function api(base, method, p, body, key = ADMIN) {
  const r = await fetch(base + p, { method, headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  assert.ok(r.ok, `${method} ${p}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Where the keyboard focus is, and whether it shows (`:focus-visible` with an outline or a ring). */
async function focused(page, sel) {
  return page.evaluate((sel) => {
    const a = document.activeElement;
    if (!a || a === document.body) return null;
    const cs = getComputedStyle(a);
    return { target: a.matches(sel), visible: a.matches(":focus-visible"),
      ring: (cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) > 0) || cs.boxShadow !== "none",
      what: a.outerHTML.slice(0, 100) };
  }, sel);
}

/** Presses Tab until `sel` has the focus (at most `max` times), checking every stop shows it. */
async function tabTo(page, sel, max = 80) {
  for (let i = 1; i <= max; i++) {
    await page.keyboard.press("Tab");
    const f = await focused(page, sel);
    if (!f) continue;
    assert.ok(f.visible && f.ring, `the focus does not show on ${f.what}`);
    if (f.target) return i;
  }
  assert.fail(`Tab never reached ${sel}`);
}

/** Fails when the page is wider than the viewport (it would scroll sideways). */
async function noSideScroll(page, what) {
  const { sw, w } = await page.evaluate(() => ({ sw: document.scrollingElement.scrollWidth, w: window.innerWidth }));
  assert.ok(sw <= w, `${what}: ${sw} px wide in a ${w} px viewport`);
}

/** What the rollout demo made, when it fed the collector (all four RUM_DEMO_* variables). */
function demo() {
  const e = process.env, names = ["RUM_DEMO_FLAG", "RUM_DEMO_METRIC", "RUM_DEMO_AT", "RUM_DEMO_VERSION"];
  if (names.every((n) => e[n] === undefined)) return null;
  for (const n of names) assert.ok(e[n], `${n} is set with the other RUM_DEMO_* variables`);
  const num = (n) => { const v = Number(e[n]); assert.ok(Number.isSafeInteger(v), `${n}=${e[n]}`); return v; };
  return { flag: e.RUM_DEMO_FLAG, metric: num("RUM_DEMO_METRIC"), at: num("RUM_DEMO_AT"), version: num("RUM_DEMO_VERSION") };
}

/** A 50/50 flag whose `on` users have three times the errors; answers what `demo` answers. */
async function feed(base) {
  const f = await api(base, "POST", "/api/v1/admin/flags", { key: "checkout", traffic_type: "user",
    treatments: [{ name: "on" }, { name: "off" }], default_treatment: "off", baseline_treatment: "off", seed: 1,
    traffic_allocation: 100, traffic_allocation_seed: 2,
    rules: [{ name: "everyone", matchers: [], rollout: [{ treatment: "on", weight: 50 }, { treatment: "off", weight: 50 }] }] });
  const start = (await api(base, "GET", "/api/v1/admin/flags/checkout/history"))[0].changed_at;
  const m = await api(base, "POST", "/api/v1/admin/metrics", { name: "checkout users with errors",
    event_type: "error", metric_type: "percent_users", direction: "decrease" });
  await api(base, "POST", "/api/v1/admin/policies", { name: "errors up", metric_id: m.id, flag: "checkout",
    threshold: { relative: 0.0 } });
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const items = [];
  for (let u = 0; u < 2000; u++) {
    const key = `user-${u}`, on = u % 2 === 0, ts = start + Math.floor((u * 110 * MIN) / 2000);
    items.push([true, { id: randomUUID(), key, flag: "checkout", treatment: on ? "on" : "off", version: f.version, label: "everyone", ts }]);
    if (rnd() < (on ? 0.15 : 0.05)) {
      items.push([false, { id: randomUUID(), key, traffic_type: "user", type: "error", value: null, ts: ts + MIN, properties: {} }]);
    }
  }
  for (let i = 0; i < items.length; i += 900) {
    const c = items.slice(i, i + 900);
    await api(base, "POST", "/api/v1/batch", { batch_id: randomUUID(), sdk: { name: "agent-core", version: "0.1.0", platform: "rust" },
      impressions: c.filter((x) => x[0]).map((x) => x[1]), events: c.filter((x) => !x[0]).map((x) => x[1]) }, SDK);
  }
  const at = start + 120 * MIN;
  const run = await api(base, "POST", "/api/v1/admin/monitoring/run", { at });
  assert.equal(run.alerts_fired, 1, JSON.stringify(run));
  return { flag: "checkout", at, metric: m.id, version: f.version };
}

test("the dashboard in headless Chromium", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "rum-dash-"));
  mkdirSync(SHOTS, { recursive: true });
  const { child, base } = await collector(dir);
  const driver = handshake();
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
  try {
    const fed = demo() ?? await feed(base), FLAG = fed.flag;
    const pages = [["flags", "/ui/flags"], ["flag", `/ui/flags/${FLAG}`], ["impact", `/ui/flags/${FLAG}/impact?at=${fed.at}`],
      ["detail", `/ui/flags/${FLAG}/impact/${fed.metric}?at=${fed.at}`], ["alerts", "/ui/alerts"], ["metrics", "/ui/metrics"], ["metric-edit", `/ui/metrics/${fed.metric}`],
      ["sensitivity", "/ui/sensitivity?kind=proportion&desired_direction=decrease&total_sample_size=20000&baseline_value=0.05&threshold_relative_pct=10"]];
    for (const [label, viewport] of [["desktop", { width: 1280, height: 900 }], ["phone", { width: 390, height: 844 }]]) {
      // axe-core is injected as a script: the pages' CSP (script-src 'self') would refuse it.
      const ctx = await browser.newContext({ viewport, bypassCSP: true });
      const page = await ctx.newPage();
      await page.goto(base + "/ui/flags");
      assert.match(page.url(), /\/ui\/sign-in$/);
      await page.screenshot({ path: path.join(SHOTS, `${label}-sign-in.png`), fullPage: true });
      await noSideScroll(page, `${label} sign-in`);
      await page.fill("#key", ADMIN);
      await page.click("button[type=submit]");
      await page.waitForURL("**/ui/flags");
      for (const [name, p] of pages) {
        const r = await page.goto(base + p);
        assert.equal(r.status(), 200, p);
        await page.screenshot({ path: path.join(SHOTS, `${label}-${name}.png`), fullPage: true });
        await noSideScroll(page, `${label} ${p}`);
        await page.addScriptTag({ path: require.resolve("axe-core/axe.min.js") });
        const axe = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
        const bad = axe.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
        assert.deepEqual(bad.map((v) => `${v.id}: ${v.help}`), [], `${label} ${p}`);
      }
      // The kill confirmation fits the viewport too (opened, pictured, cancelled).
      await page.goto(`${base}/ui/flags/${FLAG}`);
      await page.check("#confirm-kill");
      await page.click('form[action$="/kill"] button[type=submit]');
      await page.waitForSelector("dialog.confirm[open]");
      await noSideScroll(page, `${label} kill confirmation`);
      await page.screenshot({ path: path.join(SHOTS, `${label}-confirm-kill.png`) });
      await page.click("dialog.confirm button.secondary");
      await page.waitForSelector("dialog.confirm", { state: "detached" });
      await ctx.close();
    }
    // The degraded card, its interval past the threshold, the alert.
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await ctx.newPage();
    await page.goto(base + "/ui/sign-in");
    await page.fill("#key", ADMIN);
    await page.click("button[type=submit]");
    await page.goto(`${base}/ui/flags/${FLAG}/impact?at=${fed.at}`);
    assert.equal(await page.locator('[data-state="alert fired"]').count(), 1);
    // The fired treatment's interval is drawn past the alert threshold (higher is worse here).
    const drawn = await page.locator('tr:has([data-state="alert fired"]) svg.chart')
      .evaluate((e) => ({ low: Number(e.dataset.low), threshold: Number(e.dataset.threshold) }));
    assert.ok(Number.isFinite(drawn.low) && Number.isFinite(drawn.threshold), JSON.stringify(drawn));
    assert.ok(drawn.low > drawn.threshold, `interval past the threshold: ${JSON.stringify(drawn)}`);
    await page.goto(base + "/ui/alerts");
    assert.equal(await page.locator("tr[data-alert]").count(), 1);
    // Edit the metric from its page: the list's link, the filled form, the saved definition.
    await page.goto(base + "/ui/metrics");
    await page.click(`a[href="/ui/metrics/${fed.metric}"]`);
    await page.waitForURL(`**/ui/metrics/${fed.metric}`);
    assert.equal(await page.inputValue(`#m${fed.metric}-event`), "error");
    await page.fill(`#m${fed.metric}-name`, "checkout users with an error");
    await page.click("text=Save metric");
    await page.waitForSelector("text=Metric checkout users with an error saved");
    const edited = (await api(base, "GET", "/api/v1/admin/metrics")).find((m) => m.id === fed.metric);
    assert.equal(edited.name, "checkout users with an error");
    assert.equal(edited.metric_type, "percent_users");
    // Kill from the flag page with the keyboard only: Tab to the box, Space, Tab to the button.
    await page.goto(`${base}/ui/flags/${FLAG}`);
    const kill = 'form[action$="/kill"] button[type=submit]';
    await tabTo(page, "#confirm-kill");
    await page.keyboard.press("Space");
    assert.ok(await page.isChecked("#confirm-kill"));
    await tabTo(page, kill, 3);
    // Enter opens the confirmation with the focus on Cancel; Escape closes it, nothing happens,
    // and the focus is back on the kill button.
    await page.keyboard.press("Enter");
    await page.waitForSelector("dialog.confirm[open]");
    const cancel = await focused(page, "dialog.confirm button.secondary");
    assert.ok(cancel?.target && cancel.visible && cancel.ring, JSON.stringify(cancel));
    await page.keyboard.press("Escape");
    await page.waitForSelector("dialog.confirm", { state: "detached" });
    assert.equal((await focused(page, kill))?.target, true, "the focus returns to the kill button");
    assert.equal((await api(base, "GET", `/api/v1/admin/flags/${FLAG}`)).killed, false);
    driver.say("READY_FOR_KILL", { flag: FLAG, version: fed.version });
    await driver.wait();
    // Again, and this time Tab to the dialog's kill button and press Enter.
    await page.keyboard.press("Enter");
    await page.waitForSelector("dialog.confirm[open]");
    await tabTo(page, "dialog.confirm [data-confirm-ok]", 2);
    await page.keyboard.press("Enter");
    await page.waitForSelector(`text=Flag ${FLAG} killed`);
    const flag = await api(base, "GET", `/api/v1/admin/flags/${FLAG}`);
    assert.equal(flag.killed, true);
    assert.ok(flag.version > fed.version);
    driver.say("KILLED", { flag: FLAG, version: flag.version });
    await page.screenshot({ path: path.join(SHOTS, "desktop-killed.png"), fullPage: true });
    await ctx.close();
  } finally {
    driver.close();
    await browser.close();
    child?.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
});
