#!/usr/bin/env bash
# Builds swift/rum_agentFFI.xcframework (static libraries for iOS devices, the iOS simulator and
# macOS, with the generated C header and module map) for the Swift package in swift/.
#
# macOS only (needs Xcode's xcodebuild and lipo, and rustup's Apple targets). NOT RUN IN CI: the
# CI machine is Linux; there, `cargo test -p bindings-ios` checks that the committed Swift sources
# are current and exercises the same scaffolding through Python.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(uname -s)" != "Darwin" ]; then
  echo "build-xcframework.sh runs on macOS (xcodebuild, lipo); this is $(uname -s)." >&2
  exit 1
fi

PROFILE=${PROFILE:-release}
# cargo writes the `dev` and `test` profiles to `debug/`, `bench` to `release/`, every other
# profile to a directory of its name.
case "$PROFILE" in
  dev | test) DIR=debug ;;
  bench) DIR=release ;;
  *) DIR="$PROFILE" ;;
esac
IOS=aarch64-apple-ios
SIM=(aarch64-apple-ios-sim x86_64-apple-ios)
MAC=(aarch64-apple-darwin x86_64-apple-darwin)
OUT=target/xcframework
SWIFT=bindings-ios/swift

rustup target add "$IOS" "${SIM[@]}" "${MAC[@]}"
for target in "$IOS" "${SIM[@]}" "${MAC[@]}"; do
  cargo build -p bindings-ios --lib --profile "$PROFILE" --target "$target" --locked
done
lib() { echo "target/$1/$DIR/librum_agent.a"; }

# Regenerate the Swift sources from the host dylib with the workspace's pinned generator and
# make sure they are the committed ones (CI checks the same on Linux).
cargo build -p bindings-ios --lib --profile "$PROFILE" --locked
# The header and module map go in a directory of the module's name under Headers: at the
# Headers root, Xcode copies every such XCFramework's module.modulemap to one include/ directory
# and an app with two of them (another uniffi SDK) fails with "Multiple commands produce".
rm -rf "$OUT" && mkdir -p "$OUT/gen" "$OUT/headers/rum_agentFFI" "$OUT/ios-sim" "$OUT/macos"
cargo run -p uniffi-bindgen --locked -- generate --language swift --no-format \
  --metadata-no-deps --out-dir "$OUT/gen" "target/$DIR/librum_agent.dylib"
diff -u "$SWIFT/Sources/RumAgent/rum_agent.swift" "$OUT/gen/rum_agent.swift"
diff -u "$SWIFT/Headers/rum_agentFFI.h" "$OUT/gen/rum_agentFFI.h"
diff -u "$SWIFT/Headers/rum_agentFFI.modulemap" "$OUT/gen/rum_agentFFI.modulemap"

cp "$SWIFT/Headers/rum_agentFFI.h" "$OUT/headers/rum_agentFFI/"
cp "$SWIFT/Headers/rum_agentFFI.modulemap" "$OUT/headers/rum_agentFFI/module.modulemap"
lipo -create "$(lib "${SIM[0]}")" "$(lib "${SIM[1]}")" -output "$OUT/ios-sim/librum_agent.a"
lipo -create "$(lib "${MAC[0]}")" "$(lib "${MAC[1]}")" -output "$OUT/macos/librum_agent.a"

rm -rf "$SWIFT/rum_agentFFI.xcframework"
xcodebuild -create-xcframework \
  -library "$(lib "$IOS")" -headers "$OUT/headers" \
  -library "$OUT/ios-sim/librum_agent.a" -headers "$OUT/headers" \
  -library "$OUT/macos/librum_agent.a" -headers "$OUT/headers" \
  -output "$SWIFT/rum_agentFFI.xcframework"

echo "built $SWIFT/rum_agentFFI.xcframework; now: (cd $SWIFT && swift build)"
