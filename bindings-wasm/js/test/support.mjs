// What both Node test files use: the built wasm, a Storage in memory, a fetch with no network.
import { readFileSync } from 'node:fs';
import { Core, trap_for_tests } from '../../pkg/rum_agent_wasm.js';

/** The wasm bindings-wasm/scripts/build.sh built (bindings-wasm/pkg). */
export const wasm = readFileSync(new URL('../../pkg/rum_agent_wasm_bg.wasm', import.meta.url));

/** `localStorage`'s calls over a Map. */
export class MemoryStorage {
  constructor() { this.m = new Map(); }
  getItem(k) { return this.m.has(k) ? this.m.get(k) : null; }
  setItem(k, v) { this.m.set(k, String(v)); }
  removeItem(k) { this.m.delete(k); }
  get length() { return this.m.size; }
  key(i) { return [...this.m.keys()][i] ?? null; }
}

/** The unsent batch texts every agent of `keys`'s scope keeps in `storage` (see storageKeys). */
export function storedBatches(storage, keys) {
  const out = [];
  for (const [k, v] of storage.m) {
    if (k === keys.unsent || k.startsWith(`${keys.unsent}:`)) out.push(...JSON.parse(v));
  }
  return out;
}

/** A fetch that never reaches anything. */
export const offline = () => Promise.reject(new TypeError('offline'));

/** Runs `fn` (which makes an agent's core trap) with the next core made trapping once while it is
 * made (in its `take_update`), as one whose flag cache traps would; answers whether it did. */
export function trappingNextCore(fn) {
  const takeUpdate = Core.prototype.take_update;
  let trapNext = true;
  Core.prototype.take_update = function () {
    if (trapNext) { trapNext = false; trap_for_tests(); }
    return takeUpdate.call(this);
  };
  try {
    fn();
  } finally {
    Core.prototype.take_update = takeUpdate;
  }
  return !trapNext;
}
