package dev.rollout.rum;

/** The native half of the API (libbindings_android.so); package-private, used by RumAgent only. */
final class Native {
    static {
        System.loadLibrary("bindings_android");
    }

    private Native() {}

    static native long setup(String sdkKey, String collectorUrl, String dataDir, String trafficType,
            String sdkVersion, String platform, long flushIntervalMs, boolean syncFlags);

    static native void release(long handle);

    static native boolean awaitFlags(long handle, long timeoutMs);

    static native boolean flush(long handle, long timeoutMs);

    static native boolean shutdown(long handle, long timeoutMs);

    static native void recordCrash(long handle, String type, String message, String stack);

    /** Returns {treatment, label, config or null, version}. */
    static native String[] evaluate(long handle, String key, String bucketingKey, String flag,
            String attributesJson);

    static native void identify(long handle, String key);

    static native String identity(long handle);

    static native void setGlobalProperty(long handle, String name, String valueJson);

    static native void track(long handle, String type, boolean hasValue, double value,
            String propertiesJson);

    static native void trackTiming(long handle, String marker, double millis);

    static native void trackError(long handle, String type, String message, String stack);

    static native long dropped(long handle, String reason);

    /** Debug builds of the library only: panics in Rust, to prove the guard. */
    static native void debugPanic();
}
