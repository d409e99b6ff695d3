// Node tests of the package's API over the real wasm (bindings-wasm/pkg, built by
// scripts/build.sh). Run by bindings-wasm/tests/node.rs, which starts a real collector and passes
// RUM_URL and RUM_SDK_KEY; it then checks in the collector's database what these tests sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Agent, storageKeys } from '../agent.js';
import { Interactions } from '../capture.js';
import { trap_for_tests } from '../../pkg/rum_agent_wasm.js';
import { MemoryStorage, offline, storedBatches, trappingNextCore, wasm } from './support.mjs';

const vectors = JSON.parse(readFileSync(new URL('../../../testdata/evaluation-vectors.json', import.meta.url), 'utf8'));
const URL_ = process.env.RUM_URL;
const SDK_KEY = process.env.RUM_SDK_KEY;
/** Where the agents of these tests keep their flag cache and unsent batches. */
const KEYS = storageKeys(SDK_KEY, URL_);

/** A fetch that counts batch POSTs and passes everything on to the real one. */
function countingFetch() {
  const f = (url, init) => {
    if (init?.method === 'POST') f.posts += 1;
    return fetch(url, init);
  };
  f.posts = 0;
  return f;
}

async function setup(options = {}) {
  return Agent.setup(SDK_KEY, { url: URL_, wasm, storage: new MemoryStorage(), flagsRefreshRate: 0, pushRate: 200, ...options });
}

test('every evaluation vector gives the core\'s treatment and label, from the flag cache, offline', async () => {
  const storage = new MemoryStorage();
  const version = Math.max(...vectors.flags.map((f) => f.version));
  storage.setItem(KEYS.flags, JSON.stringify({ version, flags: vectors.flags, segments: vectors.segments, full: true }));
  const agent = await setup({ storage, fetch: offline, consent: 'declined' });
  assert.equal(agent.stats().flagsVersion, version);
  let checked = 0;
  for (const c of vectors.cases) {
    agent.identify(c.key, undefined, c.bucketing_key ?? '');
    const got = agent.getTreatmentWithConfig(c.flag, c.attributes ?? {});
    assert.deepEqual([got.treatment, got.label], [c.treatment, c.label], JSON.stringify(c));
    checked += 1;
  }
  assert.equal(checked, vectors.cases.length);
  assert.ok(checked > 100);
  agent.close();
});

test('events, errors and impressions reach the real collector', async () => {
  const agent = await setup();
  assert.equal(await agent.ready(), true, 'the collector\'s definitions are in use');
  agent.identify('node-user', 'user');
  agent.setGlobalProperty('app.version', '1.2.3');
  assert.equal(agent.getTreatment('node_flag'), 'on');
  for (let i = 0; i < 3; i++) assert.ok(agent.track('node.purchase', 10 + i, { item: `sku-${i}` }));
  assert.equal(agent.track('not valid!', 1), false);
  try {
    null.boom();
  } catch (e) {
    assert.ok(agent.trackError(e));
  }
  assert.ok(agent.trackError('a plain message'));
  assert.equal(await agent.flush(), true);
  assert.equal(agent.stats().delivered, 6, '1 impression + 3 events + 2 errors');
  agent.close();
});

test('uploads are gzipped by the wrapper (CompressionStream) and the collector takes them', async () => {
  const sent = [];
  const f = (url, init) => {
    if (init?.method === 'POST') sent.push({ encoding: init.headers['Content-Encoding'], magic: [...new Uint8Array(init.body).slice(0, 2)] });
    return fetch(url, init);
  };
  const agent = await setup({ fetch: f });
  agent.identify('gzip-user');
  assert.ok(agent.track('node.gzip', 1));
  assert.equal(await agent.flush(), true);
  assert.deepEqual(sent, [{ encoding: 'gzip', magic: [0x1f, 0x8b] }]);
  assert.equal(agent.stats().delivered, 1);
  agent.close();
});

test('consent unknown queues without sending; granting sends', async () => {
  const f = countingFetch();
  const agent = await setup({ consent: 'unknown', fetch: f });
  agent.identify('consent-user');
  agent.track('node.consent', 1);
  assert.equal(await agent.flush(400), false);
  assert.equal(f.posts, 0);
  agent.setConsent('granted');
  assert.equal(await agent.flush(), true);
  assert.equal(f.posts, 1);
  agent.close();
});

test('declined consent records nothing', async () => {
  const f = countingFetch();
  const agent = await setup({ consent: 'declined', fetch: f });
  assert.equal(agent.track('node.declined', 1), false);
  assert.equal(agent.trackError(new Error('x')), false);
  assert.equal(agent.stats().queued, 0);
  agent.close();
});

test('a trap re-creates the instance and the agent goes on', async () => {
  const agent = await setup();
  await agent.ready();
  agent.identify('trap-user');
  agent.setGlobalProperty('survived', true);
  agent._call(() => trap_for_tests());
  assert.equal(agent.traps, 1);
  assert.equal(agent.getTreatment('node_flag'), 'on', 'flags and identity restored');
  assert.ok(agent.track('node.after.trap', 1));
  assert.equal(await agent.flush(), false, 'what the trapped core held is lost: the next flush says so');
  assert.equal(agent.stats().delivered, 2);
  assert.equal(await agent.flush(), true);
  agent.close();
});

test('a JavaScript exception thrown through a call re-creates the instance and the agent goes on', async () => {
  const agent = await setup();
  await agent.ready();
  agent.identify('throw-user');
  // The core reads the clock through an import: an exception there unwinds through the wasm
  // with the core still borrowed, and wasm-bindgen then refuses every later call to it.
  const now = Date.now;
  Date.now = () => { throw new Error('clock unavailable'); };
  try {
    assert.equal(agent.track('node.during.throw', 1), false);
  } finally {
    Date.now = now;
  }
  assert.equal(agent.traps, 1);
  assert.equal(agent.getTreatment('node_flag'), 'on', 'flags and identity restored');
  assert.ok(agent.track('node.after.throw', 1));
  assert.equal(await agent.flush(), false);
  assert.equal(await agent.flush(), true);
  agent.close();
});

test('batches a hidden page could not beacon are kept and sent by the next page', async () => {
  const storage = new MemoryStorage();
  const first = await setup({ storage, fetch: offline, sendBeacon: () => false });
  first.identify('stored-user');
  first.track('node.stored', 1);
  first.track('node.stored', 2);
  first._onHide();
  assert.equal(first.stats().queued, 0);
  const stored = storedBatches(storage, KEYS);
  assert.equal(stored.length, 1);
  assert.equal(JSON.parse(stored[0]).events.length, 2, 'kept as the batch\'s JSON text');
  first.close();

  const second = await setup({ storage });
  assert.deepEqual(storedBatches(storage, KEYS), []);
  assert.equal(await second.flush(), true);
  assert.equal(second.stats().delivered, 2);
  second.close();
});

test('the beacon carries plain JSON the collector accepts as text/plain with ?sdk_key=', async () => {
  const beacons = [];
  const agent = await setup({ fetch: offline, sendBeacon: (url, body) => { beacons.push([url, body]); return true; } });
  agent.identify('beacon-user');
  agent.track('node.beacon', 7);
  agent._onHide();
  assert.equal(beacons.length, 1);
  const [url, body] = beacons[0];
  assert.ok(url.endsWith(`/api/v1/batch?sdk_key=${SDK_KEY}`), url);
  const batch = JSON.parse(body);
  assert.equal(batch.events[0].type ?? batch.events[0].event_type, 'node.beacon');
  const r = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'text/plain;charset=UTF-8' } });
  assert.equal(r.status, 202);
  agent.close();
});

/** Gzips bytes with the runtime's CompressionStream (what an older build stored). */
async function gzip(bytes) {
  return new Uint8Array(await new Response(new Blob([bytes]).stream().pipeThrough(new CompressionStream('gzip'))).arrayBuffer());
}
const toB64 = (bytes) => Buffer.from(bytes).toString('base64');

test('batches an older build stored gzipped are inflated and sent; without DecompressionStream dropped with a warning', async () => {
  // A page of the older build: its stored batch was the core's gzip body.
  const storage = new MemoryStorage();
  const first = await setup({ storage, fetch: offline, sendBeacon: () => false });
  first.identify('gzold-user');
  first.track('node.gzold', 1);
  first._onHide();
  first.close();
  const [plain] = JSON.parse(storage.getItem(first._unsentKey));
  storage.removeItem(first._unsentKey);
  const zipped = await gzip(Buffer.from(plain));
  assert.deepEqual([...zipped.slice(0, 2)], [0x1f, 0x8b]);
  storage.setItem('rum-agent:unsent', JSON.stringify([toB64(zipped)]));

  const second = await setup({ storage });
  assert.equal(await second.flush(), true);
  assert.equal(second.stats().delivered, 1, 'the gzipped batch was read back and delivered');
  second.close();

  // A browser without DecompressionStream cannot read it: dropped, with a console warning.
  storage.setItem('rum-agent:unsent', JSON.stringify([toB64(zipped)]));
  const saved = globalThis.DecompressionStream;
  const warn = console.warn;
  const warnings = [];
  globalThis.DecompressionStream = undefined;
  console.warn = (...a) => warnings.push(a.join(' '));
  try {
    const third = await setup({ storage });
    assert.equal(await third.flush(), true);
    assert.equal(third.stats().delivered, 0);
    assert.equal(storage.getItem('rum-agent:unsent'), null);
    third.close();
  } finally {
    globalThis.DecompressionStream = saved;
    console.warn = warn;
  }
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /gzipped/);
});

test('streaming on without EventSource (Node): polling picks up a kill, and onUpdate listeners hear it', async () => {
  assert.equal(typeof EventSource, 'undefined', 'this runtime has no EventSource');
  const agent = await setup({ streaming: true, flagsRefreshRate: 100 });
  await agent.ready();
  agent.identify('poll-user');
  assert.equal(agent.getTreatment('node_poll_flag'), 'on');
  const heard = [];
  const removed = [];
  const versionBefore = agent.stats().flagsVersion;
  agent.onUpdate(() => { throw new Error('an app listener fails'); });
  agent.onUpdate((u) => heard.push({ ...u, treatment: agent.getTreatment('node_poll_flag') }));
  agent.onUpdate((u) => removed.push(u))();
  const r = await fetch(`${URL_}/api/v1/admin/flags/node_poll_flag/kill`, { method: 'POST', headers: { authorization: `Bearer ${process.env.RUM_ADMIN_KEY}` } });
  assert.equal(r.status, 200, await r.text());
  let treatment = 'on';
  for (let i = 0; i < 200 && treatment === 'on'; i++) {
    await new Promise((res) => setTimeout(res, 50));
    treatment = agent.getTreatment('node_poll_flag');
  }
  assert.equal(treatment, 'off', 'the kill arrived by polling');
  assert.equal(heard.length, 1, 'one update, heard after a throwing listener');
  assert.ok(heard[0].version > versionBefore, `${heard[0].version} > ${versionBefore}`);
  assert.equal(heard[0].version, agent.stats().flagsVersion);
  assert.deepEqual(heard[0].flags, ['node_poll_flag']);
  assert.equal(heard[0].treatment, 'off', 'a listener already evaluates the new definitions');
  assert.deepEqual(removed, [], 'an unsubscribed listener hears nothing');
  assert.equal(agent.stats().streaming, false);
  assert.equal(await agent.flush(), true);
  agent.close();
});

test('INP: the longest interaction by interactionId; one longest skipped per 50 interactions', () => {
  const ev = (interactionId, duration) => ({ interactionId, duration });
  const log = new Interactions();
  assert.equal(log.inp(), undefined, 'no interaction, no INP');
  // One interaction's entries (keydown, keyup) share an id: its latency is the longest.
  log.add([ev(7, 40), ev(7, 120), ev(0, 900) /* not an interaction */, ev(14, 64)]);
  assert.equal(log.count(), 2);
  assert.equal(log.inp(), 120);

  // 60 interactions (ids stepping by 7): the longest is skipped, the second longest is INP.
  const many = new Interactions();
  const durations = Array.from({ length: 60 }, (_, i) => 16 + ((i * 37) % 60) * 8);
  many.add(durations.map((d, i) => ev(100 + 7 * i, d)));
  const sorted = [...durations].sort((a, b) => b - a);
  assert.equal(many.count(), 60);
  assert.equal(many.inp(), sorted[1]);
  // The browser's own count (short interactions included) decides: 120 → skip two.
  assert.equal(many.inp(120), sorted[2]);
  // Only the 10 longest are kept: beyond 500 interactions, the 10th longest.
  assert.equal(many.inp(5000), sorted[9]);

  // Without the browser's count, short interactions between those seen count by id span:
  // 4 seen over ids spanning 150 interactions → skip three.
  const sparse = new Interactions();
  sparse.add([ev(7, 200), ev(7 + 7 * 50, 300), ev(7 + 7 * 100, 400), ev(7 + 7 * 149, 500)]);
  assert.equal(sparse.count(), 150);
  assert.equal(sparse.inp(), 200);
});

/** An EventSource stand-in (Node has none): announces the current version once, then goes silent
 * without an error event, as a stream behind a proxy that dropped it can. */
class SilentEventSource {
  static opened = 0;
  static closed = 0;
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.listeners = new Map();
    SilentEventSource.opened += 1;
    setTimeout(() => {
      this.readyState = 1;
      for (const l of this.listeners.get('flags') ?? []) l({ data: JSON.stringify({ version: 0 }) });
    }, 10);
  }
  addEventListener(type, l) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), l]);
  }
  close() {
    this.readyState = 2;
    SilentEventSource.closed += 1;
  }
}

test('a stream silent past streamTimeout is closed, flags are fetched, and it is reopened', async () => {
  let flagGets = 0;
  const agent = await setup({
    streaming: true, EventSource: SilentEventSource, streamTimeout: 200, flagsRefreshRate: 3600000,
    fetch: (url, init) => {
      if ((init?.method ?? 'GET') === 'GET' && String(url).includes('/api/v1/flags')) flagGets += 1;
      return fetch(url, init);
    },
  });
  await agent.ready();
  const wait = async (done) => { for (let i = 0; i < 200 && !done(); i++) await new Promise((res) => setTimeout(res, 10)); };
  await wait(() => agent.stats().streaming);
  assert.equal(agent.stats().streaming, true, 'the first flags event opened the stream');
  assert.equal(SilentEventSource.opened, 1, 'the EventSource option is used');
  const before = flagGets;
  await wait(() => SilentEventSource.closed > 0);
  assert.equal(SilentEventSource.closed, 1, 'the silent stream was closed by the watchdog');
  assert.equal(agent.stats().streaming, false);
  await wait(() => flagGets > before);
  assert.ok(flagGets > before, 'flags were fetched to catch up on what the stream may have missed');
  for (let i = 0; i < 80 && SilentEventSource.opened < 2; i++) await new Promise((res) => setTimeout(res, 100));
  assert.equal(SilentEventSource.opened, 2, 'the stream is opened again after the 5 s backoff');
  agent.close();
});

test('definitions dropped with a core that trapped while being made come back while the stream is open', async () => {
  // No watchdog: the silent stream stays open.
  const agent = await setup({ streaming: true, EventSource: SilentEventSource, streamTimeout: 0, flagsRefreshRate: 3600000 });
  try {
    assert.equal(await agent.ready(), true);
    agent.identify('refetch-user');
    const wait = async (done) => { for (let i = 0; i < 300 && !done(); i++) await new Promise((res) => setTimeout(res, 10)); };
    await wait(() => agent.stats().streaming);
    assert.equal(agent.stats().streaming, true, 'the stream is open: no polling');
    assert.equal(agent.getTreatment('node_flag'), 'on');
    // The core made after the trap traps while being made: the flag cache goes with it.
    assert.ok(trappingNextCore(() => agent._call(() => trap_for_tests())), 'the new core trapped while being made');
    await wait(() => agent.stats().flagsVersion > 0);
    assert.equal(agent.getTreatment('node_flag'), 'on', 'fetched again, not left until the next change');
  } finally {
    agent.close();
  }
});
