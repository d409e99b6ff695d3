// The browser agent: agent-core (wasm) plus what only the browser can do — HTTP (fetch keepalive,
// sendBeacon), storage (localStorage), timers, page lifecycle and automatic capture. Every
// decision about what to send and when (batching, dedupe, retries, drops, consent) is the core's.
import init, { initSync, Core, __wbg_reset_state } from '../pkg/rum_agent_wasm.js';
import { captureErrors, captureNavigation, captureWebVitals } from './capture.js';

const CONSENT = { unknown: 0, granted: 1, declined: 2 };
const UNSENT = 'rum-agent:unsent';
const FLAGS = 'rum-agent:flags';
const MAX_STORED_BATCHES = 50;

let loading;

/** Loads the wasm module once (a URL, Response, bytes or WebAssembly.Module; default: beside this file). */
function load(wasm) {
  if (!loading) {
    loading = (wasm instanceof Uint8Array || wasm instanceof ArrayBuffer || wasm instanceof WebAssembly.Module)
      ? Promise.resolve(initSync({ module: wasm }))
      : init(wasm === undefined ? undefined : { module_or_path: wasm });
  }
  return loading;
}

const b64 = (bytes) => { let s = ''; for (const b of bytes) s += String.fromCharCode(b); return btoa(s); };
const unb64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
/** The core's bodies are plain JSON (no gzip in the wasm): the browser's CompressionStream
 * gzips them when it has one and the core did not already encode; else they go plain. */
async function gzipped(body, headers) {
  if (typeof CompressionStream !== 'function' || headers['Content-Encoding']) return body;
  try {
    const out = await new Response(new Blob([body]).stream().pipeThrough(new CompressionStream('gzip'))).arrayBuffer();
    headers['Content-Encoding'] = 'gzip';
    return new Uint8Array(out);
  } catch { return body; }
}

/** A batch an older build kept in storage gzipped (the core then had gzip; this one reads plain
 * JSON only): inflated by the browser's DecompressionStream, or null (dropped, with a warning). */
async function gunzipped(body) {
  if (typeof DecompressionStream !== 'function') {
    console.warn('rum-agent: a stored batch is gzipped and this browser cannot inflate it; dropped');
    return null;
  }
  const out = await new Response(new Blob([body]).stream().pipeThrough(new DecompressionStream('gzip'))).arrayBuffer();
  return new Uint8Array(out);
}

/** The agent handle a page holds. Create it with `await Agent.setup(sdkKey, options)`. */
export class Agent {
  /**
   * Starts the agent: loads the wasm, the cached flag definitions and the batches an earlier page
   * could not send; then fetches flags and uploads in the background.
   */
  static async setup(sdkKey, options = {}) {
    await load(options.wasm);
    const agent = new Agent(sdkKey, options);
    agent._start();
    return agent;
  }

  constructor(sdkKey, options) {
    this.sdkKey = sdkKey;
    this.url = (options.url || '').replace(/\/$/, '');
    this.pushRate = options.pushRate ?? 5000;
    this.queueSize = options.queueSize ?? 10000;
    this.flagsRefreshRate = options.flagsRefreshRate ?? 30000;
    this.streaming = options.streaming ?? true;
    // The collector pings every 15 s; a stream silent for longer is dead even without an error
    // event (a proxy or a sleeping laptop can leave the socket open and quiet).
    this.streamTimeout = options.streamTimeout ?? 45000;
    this.EventSource = options.EventSource ?? globalThis.EventSource;
    this.storage = options.storage ?? globalThis.localStorage;
    this.fetch = options.fetch ?? globalThis.fetch?.bind(globalThis);
    this.beacon = options.sendBeacon ?? globalThis.navigator?.sendBeacon?.bind(globalThis.navigator);
    this.platform = options.platform ?? 'browser';
    this.traps = 0;
    this._identity = [options.key ?? 'anonymous', options.trafficType, options.bucketingKey];
    this._globals = new Map();
    this._consent = CONSENT[options.consent ?? 'granted'] ?? 0;
    this._flagsJson = null;
    this._flagsFetch = null;
    this._announced = 0;
    this._stream = null;
    this._streamOpen = false;
    this._streamRetries = 0;
    this._busy = false;
    this._timers = {};
    this._capture = options.capture ?? {};
    this._ready = new Promise((resolve) => { this._flagsFetched = resolve; });
    this._core = this._create();
  }

  _create() {
    const core = new Core(this.sdkKey, this.pushRate, this.queueSize, this.platform);
    const [key, tt, bk] = this._identity;
    core.identify(key, tt, bk);
    for (const [name, json] of this._globals) core.set_global(name, json);
    core.set_consent(this._consent);
    const cached = this._flagsJson ?? this._read(FLAGS);
    if (cached) {
      try { core.load_flag_cache(cached); } catch { /* a bad cache is ignored */ }
    }
    return core;
  }

  /**
   * Runs `fn` on the core and answers `fallback` if it throws. A trap (panic = abort), or a
   * JavaScript exception that unwound through the wasm and left the core borrowed (every later
   * call would throw), re-creates the instance; a refused definition leaves the core as it was.
   */
  _call(fn, fallback) {
    try {
      return fn(this._core);
    } catch (e) {
      if (!(e instanceof WebAssembly.RuntimeError) && this._usable()) return fallback;
      this.traps += 1;
      try { __wbg_reset_state(); } catch { /* a fresh instance is made below anyway */ }
      try { this._core = this._create(); } catch { /* stays broken until the next call */ }
      return fallback;
    }
  }

  _usable() {
    try { this._core.idle(); return true; } catch { return false; }
  }

  _read(key) { try { return this.storage?.getItem(key) ?? null; } catch { return null; } }
  _write(key, value) {
    try { value === null ? this.storage?.removeItem(key) : this.storage?.setItem(key, value); } catch { /* full or denied */ }
  }

  _start() {
    this._restoring = this._restoreStored();
    this._pollFlags();
    this._openStream();
    this._schedule(this.pushRate);
    if (typeof window !== 'undefined' && this._capture !== false) {
      const c = this._capture;
      if (c.errors !== false) this._off = captureErrors(this);
      if (c.navigation !== false) captureNavigation(this);
      if (c.webVitals !== false) this._vitals = captureWebVitals(this);
      const hide = () => this._onHide();
      addEventListener('pagehide', hide);
      addEventListener('visibilitychange', () => {
        if (document.visibilityState === 'hidden') hide(); else this._restoreStored();
      });
    }
  }

  /** Sets who events and evaluations are for (key, traffic type, bucketing key). */
  identify(key, trafficType, bucketingKey) {
    this._identity = [String(key), trafficType ?? this._identity[1], bucketingKey ?? this._identity[2]];
    this._call((c) => c.identify(String(key), trafficType, bucketingKey));
  }

  /** The treatment of `flag` for the current identity (`control` when unknown). */
  getTreatment(flag, attributes = {}) {
    return this.getTreatmentWithConfig(flag, attributes).treatment;
  }

  /** The treatment with its label, JSON config (or null) and flag version. */
  getTreatmentWithConfig(flag, attributes = {}) {
    const r = this._call((c) => c.treatment(String(flag), JSON.stringify(attributes)), ['control', 'exception', '', '0']);
    return { treatment: r[0], label: r[1], config: r[2] || null, version: Number(r[3]) };
  }

  /** Tracks an event: type, optional numeric value, properties. False when not recorded. */
  track(type, value, properties = {}) {
    const v = typeof value === 'number' && Number.isFinite(value) ? value : undefined;
    return this._call((c) => c.track(String(type), v, JSON.stringify(properties)), false);
  }

  /** Tracks an error (an Error, or a message) with its JS stack trace; use it in `catch`. */
  trackError(errorOrMessage) {
    const e = errorOrMessage;
    const isError = e instanceof Error || (e && typeof e === 'object' && 'message' in e);
    const type = isError ? (e.name || e.constructor?.name || 'Error') : 'Error';
    const message = isError ? String(e.message) : String(e);
    const stack = isError && typeof e.stack === 'string' ? e.stack : undefined;
    return this._call((c) => c.track_error(type, message, stack), false);
  }

  /** Adds a property merged into every later event. */
  setGlobalProperty(name, value) {
    const json = JSON.stringify(value);
    this._globals.set(name, json);
    this._call((c) => c.set_global(name, json));
  }

  /** Removes a global property. */
  removeGlobalProperty(name) {
    this._globals.delete(name);
    this._call((c) => c.remove_global(name));
  }

  /** User consent: 'granted', 'declined' (forget the queue, record nothing) or 'unknown' (queue, don't send). */
  setConsent(consent) {
    this._consent = CONSENT[consent] ?? 0;
    this._call((c) => c.set_consent(this._consent));
    if (this._consent === CONSENT.declined) this._write(UNSENT, null);
    this._schedule(0);
  }

  /** Seals what is queued and uploads it; resolves true once everything is delivered, false after `timeoutMs`. */
  async flush(timeoutMs = 10000) {
    await this._restoring;
    this._call((c) => c.flush());
    const end = Date.now() + timeoutMs;
    while (!this._call((c) => c.idle(), true)) {
      if (Date.now() >= end) return false;
      await this._pump();
      await new Promise((r) => setTimeout(r, this._busy ? 20 : 50));
    }
    return true;
  }

  /** Counters of the core (for diagnostics and tests). */
  stats() {
    return this._call((c) => ({ queued: c.queued(), delivered: c.delivered(), traps: this.traps,
      dropped: (r) => c.dropped(r), flagsVersion: c.flags_version(), streaming: this._streamOpen }),
    { traps: this.traps, streaming: this._streamOpen });
  }

  _schedule(ms) {
    clearTimeout(this._timers.pump);
    this._timers.pump = setTimeout(() => this._pump(), Math.max(0, ms));
  }

  /** Asks the core what to send, sends it, reports the result; then sleeps as told. */
  async _pump() {
    if (this._busy) return;
    const task = this._call((c) => c.next_upload(), null);
    if (!task) return this._schedule(this.pushRate);
    const kind = task.kind;
    if (kind === 1) { const ms = task.wait_ms; task.free(); return this._schedule(Math.min(ms, this.pushRate)); }
    if (kind !== 0) { task.free(); return undefined; }
    const id = task.id, path = task.path, body = task.body, lines = task.headers.split('\n');
    task.free();
    const headers = {};
    for (const line of lines) { const at = line.indexOf(': '); if (at > 0) headers[line.slice(0, at)] = line.slice(at + 2); }
    this._busy = true;
    let status = 0, retryAfter;
    try {
      const r = await this.fetch(this.url + path, { method: 'POST', body: await gzipped(body, headers), headers, keepalive: true, credentials: 'omit' });
      status = r.status;
      const ra = Number(r.headers.get('retry-after'));
      if (ra >= 0 && r.headers.has('retry-after')) retryAfter = ra;
    } catch { status = 0; }
    this._busy = false;
    this._call((c) => c.upload_result(id, status, retryAfter));
    return this._schedule(0);
  }

  /** Fetches flag changes since the version held and applies and caches them; one fetch at a
   * time. `announced` is a version the stream told of: if the fetch under way ends below it,
   * one more goes (a change announced mid-fetch), at most twice. */
  _fetchFlags(announced = 0) {
    this._announced = Math.max(this._announced, announced);
    if (this._flagsFetch) return this._flagsFetch;
    this._flagsFetch = (async () => {
      for (let round = 0; round < 3; round++) {
        const since = this._call((c) => c.flags_version(), 0);
        try {
          const r = await this.fetch(`${this.url}/api/v1/flags?since=${since}&sdk_key=${encodeURIComponent(this.sdkKey)}`, { credentials: 'omit' });
          if (!r.ok) break;
          const text = await r.text();
          this._call((c) => { c.apply_flags(text); this._flagsJson = c.flag_cache(); });
          if (this._flagsJson) this._write(FLAGS, this._flagsJson);
        } catch { break; /* offline: the cache answers; try again later */ }
        if (this._call((c) => c.flags_version(), 0) >= this._announced) break;
      }
      this._flagsFetch = null;
    })();
    return this._flagsFetch;
  }

  /** Polls flag changes every `flagsRefreshRate` (the first time at setup); a poll is skipped
   * while the change stream is open, since the stream announces every change. */
  async _pollFlags() {
    clearTimeout(this._timers.flags);
    if (!this._streamOpen) await this._fetchFlags();
    this._flagsFetched();
    if (this.flagsRefreshRate > 0 && !this._closed) this._timers.flags = setTimeout(() => this._pollFlags(), this.flagsRefreshRate);
  }

  /** Listens to the collector's flag change stream (SSE; the key goes in the URL since
   * `EventSource` sends no headers). Each `flags` event carries the set's version (on connect
   * too, which covers changes missed while away); a newer one is fetched at once. While the
   * stream is down the browser reconnects and polling covers; a refused stream (e.g. 401) is
   * opened again after a backoff (5 s doubling to 5 min). */
  _openStream() {
    const Source = this.EventSource;
    if (!this.streaming || typeof Source !== 'function' || this._closed) return;
    let es;
    try {
      es = new Source(`${this.url}/api/v1/flags/stream?sdk_key=${encodeURIComponent(this.sdkKey)}`);
    } catch { return; /* e.g. blocked by a content security policy: polling goes on */ }
    this._stream = es;
    this._watchStream(es);
    es.addEventListener('flags', (ev) => {
      this._streamOpen = true;
      this._streamRetries = 0;
      this._watchStream(es);
      let version = 0;
      try { version = Number(JSON.parse(ev.data).version); } catch { return; }
      if (version > this._call((c) => c.flags_version(), 0)) this._fetchFlags(version);
    });
    es.addEventListener('ping', () => this._watchStream(es));
    es.addEventListener('error', () => {
      this._streamOpen = false;
      if (es.readyState !== 2 || this._stream !== es) return; // 2 = CLOSED: the browser gave up
      this._reopenStream();
    });
  }

  /** (Re)arms the watchdog of stream `es`: silent past `streamTimeout`, it is closed, a fetch
   * catches up on what it may have missed, and it is opened again after the backoff. */
  _watchStream(es) {
    clearTimeout(this._timers.watchdog);
    if (!(this.streamTimeout > 0)) return;
    this._timers.watchdog = setTimeout(() => {
      if (this._stream !== es || this._closed) return;
      es.close();
      this._streamOpen = false;
      this._fetchFlags();
      this._reopenStream();
    }, this.streamTimeout);
  }

  /** Opens the stream again after a backoff (5 s doubling to 5 min); polling covers meanwhile. */
  _reopenStream() {
    this._stream = null;
    clearTimeout(this._timers.watchdog);
    const ms = Math.min(300000, 5000 * 2 ** this._streamRetries);
    this._streamRetries += 1;
    clearTimeout(this._timers.stream);
    this._timers.stream = setTimeout(() => this._openStream(), ms);
  }

  /** Resolves once flags were fetched from the collector (or the fetch failed). */
  ready() {
    return this._ready;
  }

  /** The page is going away (or hidden): beacon what is queued; keep what could not go. */
  _onHide() {
    this._vitals?.report();
    const bodies = this._call((c) => c.take_unsent(), []);
    const kept = [];
    for (const body of bodies) {
      let sent = false;
      if (this._consent === CONSENT.granted && this.beacon) {
        try {
          sent = this.beacon(`${this.url}/api/v1/batch?sdk_key=${encodeURIComponent(this.sdkKey)}`, Core.plain(body));
        } catch { sent = false; }
      }
      if (!sent) kept.push(b64(body));
    }
    if (kept.length) {
      const stored = JSON.parse(this._read(UNSENT) || '[]');
      this._write(UNSENT, JSON.stringify(stored.concat(kept).slice(-MAX_STORED_BATCHES)));
    }
  }

  /** Queues the batches an earlier page kept (the collector ignores a batch it already has). */
  async _restoreStored() {
    const stored = this._read(UNSENT);
    if (!stored) return;
    this._write(UNSENT, null);
    let list = [];
    try { list = JSON.parse(stored); } catch { return; }
    for (const text of list) {
      try {
        let body = unb64(text);
        if (body[0] === 0x1f && body[1] === 0x8b) body = await gunzipped(body);
        if (body) this._call((c) => c.restore(body));
      } catch { /* corrupt entry: dropped */ }
    }
    this._schedule(0);
  }

  /** Stops timers and capture (the page stays as it was). */
  close() {
    clearTimeout(this._timers.pump);
    clearTimeout(this._timers.flags);
    clearTimeout(this._timers.stream);
    clearTimeout(this._timers.watchdog);
    this._closed = true;
    this._stream?.close();
    this._stream = null;
    this._streamOpen = false;
    this._off?.();
  }
}

export default Agent;
