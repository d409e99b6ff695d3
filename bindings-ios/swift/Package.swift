// swift-tools-version:5.10
// The iOS agent as a Swift package: the Rust static library in an XCFramework (built on macOS by
// ../build-xcframework.sh) plus the generated and handwritten Swift sources.
import PackageDescription

let package = Package(
    name: "RumAgent",
    platforms: [.iOS(.v13), .macOS(.v11)],
    products: [
        .library(name: "RumAgent", targets: ["RumAgent"]),
    ],
    targets: [
        // Static libraries of every slice, with rum_agentFFI.h and its module map.
        .binaryTarget(name: "rum_agentFFI", path: "rum_agentFFI.xcframework"),
        // The fatal-signal handlers, in C (async-signal-safe; compiled and crash-tested on Linux
        // by bindings-ios/tests/signals.rs).
        .target(name: "RumCrashSignals", path: "Sources/RumCrashSignals"),
        // rum_agent.swift (generated, committed, checked current in CI) + RumAgent+Swift.swift.
        .target(name: "RumAgent", dependencies: ["rum_agentFFI", "RumCrashSignals"],
                path: "Sources/RumAgent"),
    ]
)
