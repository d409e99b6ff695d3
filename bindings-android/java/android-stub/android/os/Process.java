package android.os;

/**
 * Test double of the Android framework's {@code android.os.Process} (outside this project, and
 * absent from a host JVM): only what the binding reads. On the classpath of the JVM runs that
 * check the binding takes Android's start of the process.
 */
public final class Process {
    /**
     * On Android the uptime clock is {@link System#nanoTime()}'s. Here the process "started"
     * {@code -Dandroid.stub.startAgoMs} (default 3,000) ms before the class loaded.
     */
    private static final long START_UPTIME_MILLIS =
            System.nanoTime() / 1_000_000L - Long.getLong("android.stub.startAgoMs", 3_000L);

    private Process() {}

    /** As on Android (API 24): the process's start on the uptime clock, in milliseconds. */
    public static long getStartUptimeMillis() {
        return START_UPTIME_MILLIS;
    }
}
