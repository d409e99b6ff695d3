package android.app;

/**
 * Test double of the Android framework's {@code ApplicationStartInfo} (API 35): why the process
 * started. The binding reads it by reflection, its constants by name.
 */
public final class ApplicationStartInfo {
    public static final int START_REASON_ALARM = 0;
    public static final int START_REASON_BACKUP = 1;
    public static final int START_REASON_BOOT_COMPLETE = 2;
    public static final int START_REASON_BROADCAST = 3;
    public static final int START_REASON_CONTENT_PROVIDER = 4;
    public static final int START_REASON_JOB = 5;
    public static final int START_REASON_LAUNCHER = 6;
    public static final int START_REASON_LAUNCHER_RECENTS = 7;
    public static final int START_REASON_OTHER = 8;
    public static final int START_REASON_PUSH = 9;
    public static final int START_REASON_SERVICE = 10;
    public static final int START_REASON_START_ACTIVITY = 11;

    private final int reason;

    ApplicationStartInfo(int reason) {
        this.reason = reason;
    }

    /** As on Android: why the process started, one of the {@code START_REASON_} constants. */
    public int getReason() {
        return reason;
    }
}
