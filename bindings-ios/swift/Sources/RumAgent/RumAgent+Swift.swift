// Handwritten Swift-friendly layer over the generated `rum_agent.swift` (same module).
//
// NOT COMPILED IN CI: this repository's CI runs on Linux without a Swift toolchain. The generated
// file beside it is checked to be current by `cargo test -p bindings-ios`, and the very same
// Rust scaffolding is exercised end to end through uniffi's Python bindings. Build this package
// on macOS with `bindings-ios/build-xcframework.sh`, then `swift build` (see README.md).

import Foundation

// MARK: - Setup

/// Holds the agent set up by `RumAgent.setup` (one per process, like the crash handlers).
private final class SharedAgent: @unchecked Sendable {
    static let instance = SharedAgent()
    private let lock = NSLock()
    private var agent: RumAgent?

    var current: RumAgent? {
        get { lock.lock(); defer { lock.unlock() }; return agent }
        set { lock.lock(); agent = newValue; lock.unlock() }
    }
}

public extension RumAgent {
    /// The agent set up by `setup`, if any.
    static var shared: RumAgent? { SharedAgent.instance.current }

    /// Sets up the process-wide agent: URLSession uploads, a data directory under Application
    /// Support (spool, flag cache, crash records), crash capture. Throws `RumError.badConfig`.
    @discardableResult
    static func setup(
        sdkKey: String,
        collectorURL: URL,
        trafficType: String = "user",
        syncFlags: Bool = true,
        processStart: Date? = nil,
        dataDirectory: URL? = RumAgent.defaultDataDirectory(),
        uploader: Uploader? = URLSessionUploader(),
        captureCrashes: Bool = true
    ) throws -> RumAgent {
        if let dir = dataDirectory {
            try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        }
        let config = RumConfig(
            sdkKey: sdkKey,
            collectorUrl: collectorURL.absoluteString,
            dataDir: dataDirectory?.path,
            trafficType: trafficType,
            syncFlags: syncFlags,
            processStartUnixMs: processStart.map { Int64($0.timeIntervalSince1970 * 1000) },
            flushIntervalMs: nil,
            capturePanics: true
        )
        let agent = try RumAgent(config: config, uploader: uploader)
        SharedAgent.instance.current = agent
        if captureCrashes {
            CrashCapture.install(agent: agent)
        }
        return agent
    }

    /// `Application Support/rum-agent`.
    static func defaultDataDirectory() -> URL? {
        FileManager.default.urls(for: .applicationSupportDirectory, in: .userDomainMask).first?
            .appendingPathComponent("rum-agent", isDirectory: true)
    }
}

// MARK: - Swift-friendly calls

public extension RumAgent {
    /// The treatment of `flag` for the current identity; `control` if the call fails.
    func getTreatment(_ flag: String, attributes: [String: AttributeValue] = [:]) -> String {
        (try? getTreatment(flag: flag, attributes: attributes).treatment) ?? "control"
    }

    /// Tracks a custom event; an invalid type is dropped (use the throwing form to see why).
    func track(_ eventType: String, value: Double? = nil,
               properties: [String: AttributeValue] = [:]) {
        try? track(eventType: eventType, value: value, properties: properties)
    }

    /// Tracks a Swift `Error` (in `catch` blocks): type, description and the caller's stack.
    func trackError(_ error: Error) {
        let nsError = error as NSError
        let type = String(reflecting: Swift.type(of: error))
        let message = "\(error) (\(nsError.domain) \(nsError.code))"
        let stack = Thread.callStackSymbols.joined(separator: "\n")
        trackError(errorType: type, message: message, stacktrace: stack)
    }

    /// Tracks `timing.<marker>` from process start (or setup) until now.
    func trackTimeFromStart(_ marker: String) {
        try? trackTimeFromStart(marker: marker)
    }
}

// MARK: - URLSession uploader

/// Sends the agent's uploads with URLSession. Called on the agent's pump thread, which may
/// block: the request is waited for with a semaphore and a timeout.
public final class URLSessionUploader: Uploader, @unchecked Sendable {
    private let session: URLSession
    private let timeout: TimeInterval

    /// An uploader over `session` (default: an ephemeral session) with a request timeout.
    public init(session: URLSession = URLSession(configuration: .ephemeral),
                timeout: TimeInterval = 10) {
        self.session = session
        self.timeout = timeout
    }

    public func upload(request: UploadRequest) throws -> UploadOutcome {
        guard let url = URL(string: request.url) else { return .networkError }
        var urlRequest = URLRequest(url: url, timeoutInterval: timeout)
        urlRequest.httpMethod = "POST"
        for (name, value) in request.headers {
            urlRequest.setValue(value, forHTTPHeaderField: name)
        }
        urlRequest.httpBody = request.body
        let done = DispatchSemaphore(value: 0)
        var outcome = UploadOutcome.networkError
        let task = session.dataTask(with: urlRequest) { _, response, _ in
            if let http = response as? HTTPURLResponse {
                let retryAfter = (http.value(forHTTPHeaderField: "Retry-After"))
                    .flatMap { UInt64($0.trimmingCharacters(in: .whitespaces)) }
                outcome = .http(status: UInt16(clamping: http.statusCode),
                                retryAfterSeconds: retryAfter)
            }
            done.signal()
        }
        task.resume()
        if done.wait(timeout: .now() + timeout + 1) == .timedOut {
            task.cancel()
            return .networkError
        }
        return outcome
    }
}

// MARK: - Crash capture

/// Uncaught Objective-C exceptions and fatal signals.
///
/// - `NSSetUncaughtExceptionHandler`: the exception's name, reason and call stack are written
///   synchronously to the data dir by `recordCrash` (Rust, one file write), then the previous
///   handler runs. The crash is sent at the next start.
/// - Fatal signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGABRT): a signal handler may only
///   call async-signal-safe functions, so it does NOT call into the agent (no allocation, no
///   locks). It writes the signal number with `write(2)` to a file descriptor opened at setup
///   (this run's "crash marker", `signalMarkerPath()`), restores the default action and
///   re-raises. At the next start the core turns the marker into that run's `crash` event
///   (`exception.type` "signal", message e.g. "signal 11 (SIGSEGV)", for the user of that run)
///   and removes it; an exception already recorded above whose default handler then aborts is
///   reported once. The core's dirty flag reports any other unclean end
///   (`app.unclean_shutdown`: watchdog kills, OOM).
enum CrashCapture {
    nonisolated(unsafe) static var agent: RumAgent?
    nonisolated(unsafe) static var previousHandler: (@convention(c) (NSException) -> Void)?
    nonisolated(unsafe) static var markerFD: Int32 = -1
    static let signals: [Int32] = [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGABRT]

    static func install(agent: RumAgent) {
        CrashCapture.agent = agent
        previousHandler = NSGetUncaughtExceptionHandler()
        NSSetUncaughtExceptionHandler { exception in
            try? CrashCapture.agent?.recordCrash(
                crashType: exception.name.rawValue,
                message: exception.reason ?? "",
                stacktrace: exception.callStackSymbols.joined(separator: "\n"),
                threadName: Thread.isMainThread ? "main" : Thread.current.name)
            CrashCapture.previousHandler?(exception)
        }
        guard let marker = agent.signalMarkerPath() else { return }
        markerFD = open(marker, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard markerFD >= 0 else { return }
        for sig in signals {
            signal(sig) { sig in
                // Async-signal-safe only: write(2) of a stack value, signal(2), raise(3).
                var number = sig
                _ = withUnsafeBytes(of: &number) { write(CrashCapture.markerFD, $0.baseAddress, 4) }
                signal(sig, SIG_DFL)
                raise(sig)
            }
        }
    }
}
