// Times Core.treatment (evaluation + impression) in Node: a flag whose matchers read numbers,
// given as JSON numbers and as numeric strings (read by the browser build's parseFloat).
import { readFileSync } from 'node:fs';
// Run after build.sh: node bindings-wasm/scripts/bench-treatment.mjs [pkg dir, default bindings-wasm/pkg]
const pkg = process.argv[2] ?? new URL('../pkg', import.meta.url).pathname;
const { initSync, Core } = await import(pkg + '/rum_agent_wasm.js');
initSync({ module: readFileSync(pkg + '/rum_agent_wasm_bg.wasm') });
const core = new Core('sdk', 60000, 1000, 'bench');
const flag = { key: 'f', version: 1, traffic_type: 'user', seed: 1, default_treatment: 'off',
  treatments: [{ name: 'on' }, { name: 'off' }],
  rules: [{ name: 'r', matchers: [{ type: 'greater_or_equal', attribute: 'age', value: 18 },
                                   { type: 'between', attribute: 'score', start: 0.5, end: 99.5 }],
            rollout: [{ treatment: 'on', weight: 50 }, { treatment: 'off', weight: 50 }] }] };
core.load_flag_cache(JSON.stringify({ version: 1, flags: [flag], segments: [], full: true }));
core.identify('user-1', undefined, undefined);
const cases = { 'numeric strings': '{"age":"42","score":"12.75"}', 'numbers': '{"age":42,"score":12.75}' };
for (const [name, attrs] of Object.entries(cases)) {
  let r;
  for (let i = 0; i < 20000; i++) r = core.treatment('f', attrs);
  const n = 200000, t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) r = core.treatment('f', attrs);
  const ns = Number(process.hrtime.bigint() - t0) / n;
  console.log(`${name}: ${ns.toFixed(0)} ns per treatment (${r[0]}, ${r[1]})`);
}
