// What both Node test files use: the built wasm, a Storage in memory, a fetch with no network.
import { readFileSync } from 'node:fs';

/** The wasm bindings-wasm/scripts/build.sh built (bindings-wasm/pkg). */
export const wasm = readFileSync(new URL('../../pkg/rum_agent_wasm_bg.wasm', import.meta.url));

/** `localStorage`'s three calls over a Map. */
export class MemoryStorage {
  constructor() { this.m = new Map(); }
  getItem(k) { return this.m.has(k) ? this.m.get(k) : null; }
  setItem(k, v) { this.m.set(k, String(v)); }
  removeItem(k) { this.m.delete(k); }
}

/** A fetch that never reaches anything. */
export const offline = () => Promise.reject(new TypeError('offline'));
