package android.app;

/** Test double of the Android framework's {@code ActivityManager}: only what the binding calls. */
public class ActivityManager {
    /**
     * As on Android (API 16): fills in this process's state. Here its importance is {@code
     * -Dandroid.stub.importance} (default {@link RunningAppProcessInfo#IMPORTANCE_FOREGROUND}).
     */
    public static void getMyMemoryState(RunningAppProcessInfo outState) {
        outState.importance = Integer.getInteger("android.stub.importance", RunningAppProcessInfo.IMPORTANCE_FOREGROUND);
    }

    /** As on Android: a process's state (only its importance here). */
    public static class RunningAppProcessInfo {
        /** As on Android: the process runs what the user sees. */
        public static final int IMPORTANCE_FOREGROUND = 100;

        /** As on Android: how much the process matters to the user now. */
        public int importance;

        /** As on Android. */
        public RunningAppProcessInfo() {}
    }
}
