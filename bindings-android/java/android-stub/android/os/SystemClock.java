package android.os;

/** Test double of the Android framework's {@code SystemClock}: only what the binding calls. */
public final class SystemClock {
    private SystemClock() {}

    /** As on Android: milliseconds of the uptime clock, {@link System#nanoTime()}'s there. */
    public static long uptimeMillis() {
        return System.nanoTime() / 1_000_000L;
    }
}
