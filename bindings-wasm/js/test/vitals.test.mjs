// The web vitals' page views (js/capture.js captureWebVitals) in Node, with the browser's
// globals it reads played by stubs: the page's own view, then one restored from the
// back/forward cache. Its own file: the stubs replace globals for the whole process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { captureNavigation, captureWebVitals } from '../capture.js';

/** Observers by entry type; `emit` delivers entries as the browser would. */
const observers = new Map();
class FakeObserver {
  static supportedEntryTypes = ['paint', 'largest-contentful-paint', 'layout-shift', 'event', 'first-input'];
  constructor(cb) { this.cb = cb; this.queued = []; }
  observe({ type }) { this.type = type; observers.set(type, this); }
  disconnect() { observers.delete(this.type); }
  takeRecords() { const q = this.queued; this.queued = []; return q; }
}
const emit = (type, entries) => observers.get(type)?.cb({ getEntries: () => entries });

const listeners = new Map();
// After the response, as when the agent starts in a browser.
let now = 2000;
const frames = [];
Object.assign(globalThis, {
  document: { visibilityState: 'visible' },
  PerformanceObserver: FakeObserver,
  addEventListener: (type, fn) => listeners.set(type, fn),
  removeEventListener: (type) => listeners.delete(type),
  requestAnimationFrame: (fn) => frames.push(fn),
});
let navigation = { type: 'navigate', responseStart: 120, activationStart: 0 };
let visibilityStates = [];
Object.defineProperty(globalThis, 'performance', {
  configurable: true,
  value: {
    now: () => now,
    interactionCount: 0,
    getEntriesByType: (t) => (t === 'navigation' ? [navigation] : t === 'visibility-state' ? visibilityStates : []),
  },
});
/** Runs the frames requested so far (and those they request), one frame at a time. */
function nextFrame(ms) {
  now += ms;
  for (const fn of frames.splice(0)) fn();
}

test('a restored page is a new page view: TTFB 0, FCP and LCP from the restore, CLS and INP afresh', () => {
  const tracked = [];
  const agent = { track: (type, value, props) => tracked.push({ type, value, id: props['browser.web_vital.id'], nav: props['browser.web_vital.navigation_type'] }) };
  const vitals = captureWebVitals(agent);
  emit('paint', [{ name: 'first-contentful-paint', startTime: 300 }]);
  emit('largest-contentful-paint', [{ startTime: 900 }]);
  emit('layout-shift', [{ value: 0.2, startTime: 1000, hadRecentInput: false }]);
  emit('event', [{ interactionId: 7, duration: 240 }]);
  performance.interactionCount = 1;
  vitals.report();
  const first = tracked.splice(0);
  assert.deepEqual(first.map((t) => [t.type, t.value, t.nav]), [
    ['rum.webvitals.ttfb', 120, 'navigate'],
    ['rum.webvitals.fcp', 300, 'navigate'],
    ['rum.webvitals.lcp', 900, 'navigate'],
    ['rum.webvitals.cls', 0.2, 'navigate'],
    ['rum.webvitals.inp', 240, 'navigate'],
  ]);
  vitals.report();
  assert.deepEqual(tracked, [], 'reported once per page view');

  // Back to the page from the back/forward cache at t = 5000 ms.
  now = 5000;
  listeners.get('pageshow')({ persisted: false, timeStamp: 5000 });
  assert.deepEqual(tracked, [], 'a page shown the first time is not a restore');
  listeners.get('pageshow')({ persisted: true, timeStamp: 5000 });
  nextFrame(16);
  assert.deepEqual(tracked.map((t) => t.type), ['rum.webvitals.ttfb'], 'the paint waits for the second frame');
  nextFrame(16);
  emit('largest-contentful-paint', [{ startTime: 5100 }]);
  emit('layout-shift', [{ value: 0.05, startTime: 5200, hadRecentInput: false }]);
  emit('event', [{ interactionId: 14, duration: 80 }]);
  performance.interactionCount = 2;
  vitals.report();
  const restored = tracked.splice(0);
  assert.deepEqual(restored.map((t) => [t.type, t.value, t.nav]), [
    ['rum.webvitals.ttfb', 0, 'back-forward-cache'],
    ['rum.webvitals.fcp', 32, 'back-forward-cache'],
    ['rum.webvitals.lcp', 32, 'back-forward-cache'],
    ['rum.webvitals.cls', 0.05, 'back-forward-cache'],
    ['rum.webvitals.inp', 80, 'back-forward-cache'],
  ]);
  assert.equal(new Set(restored.map((t) => t.id)).size, 1, 'one id for the restored view');
  assert.notEqual(restored[0].id, first[0].id, 'another id than the first view');

  vitals.stop();
  assert.equal(listeners.has('pageshow'), false, 'stop removes the pageshow listener');
  assert.equal(observers.size, 0, 'stop disconnects the observers');
});

test('the navigation type is named as web-vitals names it', () => {
  const seen = (entry, page = {}) => {
    navigation = entry;
    const saved = { ...document };
    Object.assign(document, page);
    const tracked = [];
    const vitals = captureWebVitals({ track: (type, value, props) => tracked.push([value, props['browser.web_vital.navigation_type']]) });
    vitals.stop();
    for (const key of Object.keys(page)) delete document[key];
    Object.assign(document, saved);
    return tracked[0];
  };
  assert.deepEqual(seen({ type: 'back_forward', responseStart: 80, activationStart: 0 }), [80, 'back-forward']);
  assert.deepEqual(seen({ type: 'reload', responseStart: 80, activationStart: 0 }), [80, 'reload']);
  assert.deepEqual(seen({ type: 'navigate', responseStart: 80, activationStart: 30 }), [50, 'prerender'], 'TTFB from activation');
  assert.deepEqual(seen({ type: 'navigate', responseStart: 80, activationStart: 0 }, { wasDiscarded: true }), [80, 'restore']);
});

/** Runs a fresh capture with `page` (document fields) applied; `act(vitals, tracked)` then
 * plays the page (given what was tracked so far); returns [type, value] of what was tracked. */
function capture(page, act, { nav = { type: 'navigate', responseStart: 120, activationStart: 0 }, supported, hidden = [] } = {}) {
  navigation = nav;
  visibilityStates = hidden;
  const savedSupported = FakeObserver.supportedEntryTypes;
  if (supported) FakeObserver.supportedEntryTypes = supported;
  const saved = { ...document };
  Object.assign(document, page);
  const tracked = [];
  const vitals = captureWebVitals({ track: (type, value) => tracked.push([type.replace('rum.webvitals.', ''), value]) });
  try {
    act(vitals, tracked);
  } finally {
    vitals.stop();
    for (const key of Object.keys(page)) delete document[key];
    Object.assign(document, saved);
    FakeObserver.supportedEntryTypes = savedSupported;
    visibilityStates = [];
  }
  return tracked;
}

test('a browser without layout shifts (Firefox, Safari) reports no CLS, not 0', () => {
  const tracked = capture({}, (vitals) => {
    emit('paint', [{ name: 'first-contentful-paint', startTime: 300 }]);
    emit('layout-shift', [{ value: 0.3, startTime: 400, hadRecentInput: false }]);
    vitals.report();
  }, { supported: ['paint', 'event'] });
  assert.deepEqual(tracked, [['ttfb', 120], ['fcp', 300]]);
});

test('a prerendered page reports from its activation, and nothing before it', () => {
  const tracked = capture({ prerendering: true, visibilityState: 'hidden' }, (_, sofar) => {
    emit('paint', [{ name: 'first-contentful-paint', startTime: 300 }]);
    assert.deepEqual(sofar, [], 'nothing while prerendering');
    // Activated at 1000 ms: the page is the user's from then on.
    delete document.prerendering;
    document.visibilityState = 'visible';
    navigation.activationStart = 1000;
    listeners.get('prerenderingchange')();
    emit('largest-contentful-paint', [{ startTime: 1400 }]);
  }, { nav: { type: 'navigate', responseStart: 120, activationStart: 0 }, hidden: [{ name: 'hidden', startTime: 0 }] });
  // TTFB and FCP were before the activation: 0. (LCP goes with the first hide.)
  assert.deepEqual(tracked, [['ttfb', 0]]);
  const shown = capture({ prerendering: true, visibilityState: 'hidden' }, (vitals) => {
    delete document.prerendering;
    document.visibilityState = 'visible';
    navigation.activationStart = 1000;
    listeners.get('prerenderingchange')();
    emit('paint', [{ name: 'first-contentful-paint', startTime: 1200 }]);
    emit('largest-contentful-paint', [{ startTime: 1400 }]);
    vitals.report();
  }, { nav: { type: 'navigate', responseStart: 120, activationStart: 0 } });
  assert.deepEqual(shown, [['ttfb', 0], ['fcp', 200], ['lcp', 400], ['cls', 0]]);
});

test('a page loaded in a background tab reports no paints nor CLS; withheld timing no TTFB', () => {
  const tracked = capture({}, (vitals) => {
    emit('paint', [{ name: 'first-contentful-paint', startTime: 300 }]);
    emit('largest-contentful-paint', [{ startTime: 900 }]);
    emit('layout-shift', [{ value: 0.2, startTime: 1000, hadRecentInput: false }]);
    vitals.report();
  }, { nav: { type: 'navigate', responseStart: 0, activationStart: 0 }, hidden: [{ name: 'hidden', startTime: 0 }] });
  assert.deepEqual(tracked, []);
});

test('a page hidden before its first paint was delivered still reports it, and its CLS', () => {
  const tracked = capture({}, (vitals) => {
    emit('layout-shift', [{ value: 0.1, startTime: 400, hadRecentInput: false }]);
    // The paint is queued in the observer, its callback not run yet.
    observers.get('paint').queued.push({ name: 'first-contentful-paint', startTime: 300 });
    vitals.report();
  });
  assert.deepEqual(tracked, [['ttfb', 120], ['fcp', 300], ['cls', 0.1]]);
});

test('INP is final at the first hide: interactions after the user came back make none', () => {
  const tracked = capture({}, (vitals) => {
    emit('paint', [{ name: 'first-contentful-paint', startTime: 300 }]);
    vitals.report();
    // Back to the tab: one slow click, then hidden again.
    emit('event', [{ interactionId: 7, duration: 600 }]);
    performance.interactionCount = 1;
    vitals.report();
  });
  performance.interactionCount = 0;
  assert.deepEqual(tracked.map(([name]) => name), ['ttfb', 'fcp', 'cls']);
});

test('a second agent of the same SDK key and collector on the page reports no measure twice', () => {
  const tracked = [];
  const agent = (scope) => ({ storageKeys: { unsent: scope }, track: (type) => tracked.push(`${scope} ${type.replace('rum.webvitals.', '')}`) });
  const first = captureWebVitals(agent('scope-a'));
  emit('paint', [{ name: 'first-contentful-paint', startTime: 300 }]);
  first.stop();
  // Set up again (hot reload, a setup after close()): what the first reported is not again.
  const again = captureWebVitals(agent('scope-a'));
  emit('paint', [{ name: 'first-contentful-paint', startTime: 300 }]);
  emit('largest-contentful-paint', [{ startTime: 900 }]);
  again.report();
  again.stop();
  // Another app of the origin (another key) reports its own.
  const other = captureWebVitals(agent('scope-b'));
  emit('paint', [{ name: 'first-contentful-paint', startTime: 300 }]);
  other.stop();
  assert.deepEqual(tracked, ['scope-a ttfb', 'scope-a fcp', 'scope-a lcp', 'scope-a cls', 'scope-b ttfb', 'scope-b fcp']);
});

test('the page load is reported once per SDK key and collector, whatever the setups', async () => {
  const tracked = [];
  const agent = (scope) => ({ storageKeys: { unsent: scope }, track: (type) => tracked.push(`${scope} ${type}`) });
  globalThis.location = { pathname: '/shop' };
  document.readyState = 'complete';
  navigation = { type: 'navigate', responseStart: 120, activationStart: 0, startTime: 0, domInteractive: 400, loadEventEnd: 800 };
  try {
    for (const scope of ['load-a', 'load-a', 'load-b']) {
      const stop = captureNavigation(agent(scope));
      await new Promise((r) => setTimeout(r, 5));
      stop();
    }
  } finally {
    delete document.readyState;
    delete globalThis.location;
  }
  assert.deepEqual(tracked, [
    'load-a rum.page.load.time', 'load-a rum.page.dom.interactive.time',
    'load-b rum.page.load.time', 'load-b rum.page.dom.interactive.time',
  ]);
});
