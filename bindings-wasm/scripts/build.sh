#!/usr/bin/env bash
# Builds the npm package: the wasm (size profile), its wasm-bindgen glue (with the reset function
# the wrapper uses after a trap), wasm-opt from Debian's binaryen, and the minified ES module.
#   bindings-wasm/pkg/   wasm-bindgen output (the unbundled ES module the Node tests import)
#   bindings-wasm/dist/  agent.js (esbuild --minify bundle) + rum_agent_wasm_bg.wasm
# Needs: rustup target wasm32-unknown-unknown, wasm-opt, `npm ci` in bindings-wasm. The glue
# generator is wasm-bindgen's CLI pinned in the workspace (`rum-wasm-bindgen`, in
# bindings-wasm/wasm-bindgen), built here for the host. CARGO_TARGET_DIR defaults to target/wasm
# (not the outer build's dir).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
root="$(cd "$here/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target/wasm}"
cd "$root"
# cdylib only (Cargo.toml also lists rlib, for the tests): with an rlib beside it, LTO keeps code
# the cdylib does not need, about 6 KB gzip of the wasm.
CARGO_TARGET_DIR="$target" cargo rustc -q -p bindings-wasm --lib --crate-type cdylib \
  --target wasm32-unknown-unknown --profile wasm-release
CARGO_TARGET_DIR="$target" cargo build -q -p wasm-bindgen-pinned --locked
bindgen="$target/debug/rum-wasm-bindgen"
rm -rf "$here/pkg" "$here/dist"
# wasm-opt runs on rustc's output, before wasm-bindgen: Debian's wasm-opt 108 mistypes the
# externref table wasm-bindgen adds (calls then fail with "invalid index into function table").
# It must be told which post-MVP features rustc emits.
# --ignore-implicit-traps: safe Rust never loads or stores out of bounds (its panics are explicit
# `unreachable` traps, kept). --low-memory-unused: rustc's wasm puts the stack first, growing down
# from 1 MiB, and no data below it, so the lowest 1 KB is touched only by a stack about to overflow.
# --flatten --rereloop between two -Oz rounds rebuilds the control flow first (about 0.5 KB gzip).
opt="$target/wasm32-unknown-unknown/wasm-release/rum_agent_wasm.opt.wasm"
wasm-opt -Oz --flatten --rereloop -Oz --converge --ignore-implicit-traps --low-memory-unused --strip-debug \
  --strip-producers \
  --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  "$target/wasm32-unknown-unknown/wasm-release/rum_agent_wasm.wasm" -o "$opt"
"$bindgen" --target web --experimental-reset-state-function --no-typescript \
  --remove-name-section --remove-producers-section \
  --out-name rum_agent_wasm --out-dir "$here/pkg" "$opt"
mkdir -p "$here/dist"
cp "$here/pkg/rum_agent_wasm_bg.wasm" "$here/dist/"
"$here/node_modules/.bin/esbuild" "$here/js/agent.js" --bundle --format=esm --minify \
  --target=es2020 --log-level=warning --outfile="$here/dist/agent.js"
