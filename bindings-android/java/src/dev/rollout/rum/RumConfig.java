package dev.rollout.rum;

/** Settings of {@link RumAgent#setup}; context-free (no Android Context), built with {@link #builder}. */
public final class RumConfig {
    final String sdkKey;
    final String collectorUrl;
    final String dataDir;
    final String trafficType;
    final long flushIntervalMs;
    final boolean syncFlags;
    final boolean installCrashHandler;
    final long startNanos;
    final Uploader uploader;
    final Consent consent;
    final ProcessExits processExits;
    final boolean dataDirPerProcess;
    final long hangThresholdMs;

    /** The default of {@link Builder#hangThresholdMs}: Android's ANR timeout for input. */
    public static final long DEFAULT_HANG_THRESHOLD_MS = 5000;

    /** {@link #startNanos} when none was given. */
    static final long UNSET_START = Long.MIN_VALUE;

    private RumConfig(Builder b) {
        sdkKey = b.sdkKey;
        collectorUrl = b.collectorUrl;
        dataDir = b.dataDir;
        trafficType = b.trafficType;
        flushIntervalMs = b.flushIntervalMs;
        syncFlags = b.syncFlags;
        installCrashHandler = b.installCrashHandler;
        startNanos = b.startNanos;
        uploader = b.uploader;
        consent = b.consent;
        processExits = b.processExits;
        dataDirPerProcess = b.dataDirPerProcess;
        hangThresholdMs = b.hangThresholdMs;
    }

    /** Starts a config for the environment of {@code sdkKey} sending to {@code collectorUrl}. */
    public static Builder builder(String sdkKey, String collectorUrl) {
        return new Builder(sdkKey, collectorUrl);
    }

    /** Builder of {@link RumConfig}; every setting but the SDK key and URL is optional. */
    public static final class Builder {
        private final String sdkKey;
        private final String collectorUrl;
        private String dataDir;
        private String trafficType;
        private long flushIntervalMs;
        private boolean syncFlags = true;
        private boolean installCrashHandler = true;
        private long startNanos = UNSET_START;
        private Uploader uploader = Uploader.RUST;
        private Consent consent = Consent.GRANTED;
        private ProcessExits processExits;
        private boolean dataDirPerProcess = true;
        private long hangThresholdMs = DEFAULT_HANG_THRESHOLD_MS;

        private Builder(String sdkKey, String collectorUrl) {
            this.sdkKey = sdkKey;
            this.collectorUrl = collectorUrl;
        }

        /**
         * Directory for the spool, flag cache and crash records (on Android: {@code
         * context.getFilesDir() + "/rum"}). Without it crashes are not kept. An app's other
         * processes ({@code <package>:<name>}) use its sub-directory {@code process-<name>}.
         */
        public Builder dataDir(String path) {
            this.dataDir = path;
            return this;
        }

        /** Traffic type of the identities (default "user"). */
        public Builder trafficType(String trafficType) {
            this.trafficType = trafficType;
            return this;
        }

        /**
         * How long events may wait before a partial batch is sent (0: the core's default).
         *
         * @throws IllegalArgumentException when {@code ms} is negative
         */
        public Builder flushIntervalMs(long ms) {
            if (ms < 0) {
                throw new IllegalArgumentException("flushIntervalMs: must not be negative");
            }
            this.flushIntervalMs = ms;
            return this;
        }

        /** Keep flag definitions current from the collector (default true). */
        public Builder syncFlags(boolean on) {
            this.syncFlags = on;
            return this;
        }

        /**
         * Which HTTP stack sends batches (default {@link Uploader#RUST}).
         *
         * @throws IllegalArgumentException when {@code uploader} is null
         */
        public Builder uploader(Uploader uploader) {
            if (uploader == null) {
                throw new IllegalArgumentException("uploader: must not be null");
            }
            this.uploader = uploader;
            return this;
        }

        /**
         * Install the uncaught-exception handler and the native panic hook that record crashes
         * (default true).
         */
        public Builder installCrashHandler(boolean on) {
            this.installCrashHandler = on;
            return this;
        }

        /**
         * The app's start as a {@link System#nanoTime()} value, for {@code trackTimeFromStart}.
         * Default: on Android, {@code Process.getStartUptimeMillis()} (the same monotonic clock);
         * elsewhere the process's start as the OS reports it.
         */
        public Builder startNanos(long nanos) {
            this.startNanos = nanos;
            return this;
        }

        /**
         * The user's consent at start (default {@link Consent#GRANTED}): an app that asks its
         * users passes the answer it stored, or {@link Consent#UNKNOWN} until they answer.
         *
         * @throws IllegalArgumentException when {@code consent} is null
         */
        public Builder consent(Consent consent) {
            if (consent == null) {
                throw new IllegalArgumentException("consent: must not be null");
            }
            this.consent = consent;
            return this;
        }

        /**
         * Whether an app's other processes ({@code <package>:<name>}) keep their files in the
         * sub-directory {@code process-<name>} of the data dir (default true). Pass false when
         * each process already gets a data dir of its own (what this library's README advised
         * before): the files an earlier version left there are then read again.
         */
        public Builder dataDirPerProcess(boolean on) {
            this.dataDirPerProcess = on;
            return this;
        }

        /**
         * Why the app's earlier processes ended, as Android 11+ says: pass {@code
         * ProcessExits.read(application)}, so that ANRs and native crashes are reported as
         * crashes and force stops or updates as nothing (see {@link ProcessExits}). Default: none,
         * and an earlier run's unclean end counts as an {@code app.unclean_shutdown} when a
         * screen was up.
         */
        public Builder processExits(ProcessExits exits) {
            this.processExits = exits;
            return this;
        }

        /**
         * How long the main thread may not answer before it counts as a hang (default {@value
         * #DEFAULT_HANG_THRESHOLD_MS} ms, after which Android shows an ANR dialog for unanswered
         * input; 0 turns the watchdog off): each hang is an {@code error} of type {@code
         * ApplicationNotResponding} with the main thread's stack (see the README).
         *
         * @throws IllegalArgumentException when {@code ms} is negative
         */
        public Builder hangThresholdMs(long ms) {
            if (ms < 0) {
                throw new IllegalArgumentException("hangThresholdMs: must not be negative");
            }
            this.hangThresholdMs = ms;
            return this;
        }

        /** The config. Validation happens in {@link RumAgent#setup}. */
        public RumConfig build() {
            return new RumConfig(this);
        }
    }
}
