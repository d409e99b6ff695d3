package android.os;

/**
 * Test double of the Android framework's {@code android.os.Process} (outside this project, and
 * absent from a host JVM): only what the binding reads. Put on the classpath of one JVM run to
 * check that the binding takes Android's start of the process.
 */
public final class Process {
    /** The uptime clock is {@link System#nanoTime()}'s on Android: this process "started" 3 s before the class loaded. */
    private static final long START_UPTIME_MILLIS = System.nanoTime() / 1_000_000L - 3_000;

    private Process() {}

    /** As on Android (API 24): the process's start on the uptime clock, in milliseconds. */
    public static long getStartUptimeMillis() {
        return START_UPTIME_MILLIS;
    }
}
