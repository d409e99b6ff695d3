package dev.rollout.rum;

/** The app's start that {@link RumAgent#trackTimeFromStart} measures from. */
final class ProcessStart {
    private ProcessStart() {}

    /**
     * How long ago the app started, in nanoseconds: from {@code startNanos} (a {@link
     * System#nanoTime()} value) when given, else from Android's own start of the process; -1 when
     * neither is known (off Android), and the native agent then reads the process's start from
     * the OS. 0 for a start later than now.
     */
    static long ageNanos(long startNanos) {
        long now = System.nanoTime();
        long start = startNanos != RumConfig.UNSET_START ? startNanos : androidStartNanos();
        if (start == RumConfig.UNSET_START) {
            return -1;
        }
        return Math.max(0, now - start);
    }

    /**
     * {@code android.os.Process.getStartUptimeMillis()} (API 24) on the uptime clock, which is
     * {@link System#nanoTime()}'s on Android. Android sets it when the process is specialized
     * for the app, so a process forked ahead of time (a zygote pool) is not counted from its
     * fork. Read by reflection: the library is compiled without the Android framework.
     */
    private static long androidStartNanos() {
        try {
            Object millis = Class.forName("android.os.Process")
                    .getMethod("getStartUptimeMillis")
                    .invoke(null);
            return ((Long) millis) * 1_000_000L;
        } catch (ReflectiveOperationException | RuntimeException | LinkageError notAndroid) {
            return RumConfig.UNSET_START;
        }
    }
}
