#!/usr/bin/env bash
# Download size of the browser agent next to its anchors, all measured the same way:
# esbuild --bundle --minify of an entry that imports the package, then gzip -9 (plus the wasm,
# wasm-opt'ed, for ours). Run after scripts/build.sh. Needs npm (registry) for the anchors.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
esbuild="$here/node_modules/.bin/esbuild"
gz() { gzip -9c "$1" | wc -c; }

js=$(gz "$here/dist/agent.js")
wasm=$(gz "$here/dist/rum_agent_wasm_bg.wasm")
echo "rum-agent-browser (this repo): js $js + wasm $wasm = $((js + wasm)) bytes gzip -9"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm init -y >/dev/null
npm install --no-audit --no-fund --silent @splitsoftware/browser-rum-agent @sentry/browser >/dev/null 2>&1
measure() { # name, entry source
  printf '%s\n' "$2" > "entry-$1.js"
  "$esbuild" "entry-$1.js" --bundle --minify --format=esm --log-level=error --outfile="out-$1.js"
  local v; v=$(node -p "require('./node_modules/$3/package.json').version")
  echo "$3 $v: $(gz "out-$1.js") bytes gzip -9"
}
measure split "import { SplitRumAgent } from '@splitsoftware/browser-rum-agent'; SplitRumAgent.setup('k'); SplitRumAgent.addIdentity({ key: 'u', trafficType: 'user' }); window.a = SplitRumAgent;" @splitsoftware/browser-rum-agent
measure sentry "import { init, captureException } from '@sentry/browser'; init({ dsn: 'https://k@o0.ingest.sentry.io/0' }); window.c = captureException;" @sentry/browser
