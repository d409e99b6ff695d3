package android.app;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** Test double of the Android framework's {@code ActivityManager}: only what the binding calls. */
public class ActivityManager {
    /**
     * As on Android (API 16): fills in this process's state. Here its importance is {@code
     * -Dandroid.stub.importance} (default {@link RunningAppProcessInfo#IMPORTANCE_FOREGROUND}).
     */
    public static void getMyMemoryState(RunningAppProcessInfo outState) {
        outState.importance = Integer.getInteger("android.stub.importance", RunningAppProcessInfo.IMPORTANCE_FOREGROUND);
    }

    /**
     * As on Android (API 35): the latest process starts, newest first. Here one, whose reason is
     * the constant named by {@code -Dandroid.stub.startReason} (default START_REASON_LAUNCHER).
     */
    public List<ApplicationStartInfo> getHistoricalProcessStartReasons(int maxNum) {
        String name = System.getProperty("android.stub.startReason", "START_REASON_LAUNCHER");
        try {
            int reason = ApplicationStartInfo.class.getField(name).getInt(null);
            return Collections.singletonList(new ApplicationStartInfo(reason));
        } catch (ReflectiveOperationException e) {
            throw new IllegalArgumentException(name, e);
        }
    }

    /**
     * As on Android (API 30): the latest exits of the app's processes, newest first. Here none,
     * or one when {@code -Dandroid.stub.exitPid} is set: that pid's end now, for the
     * reason named by {@code -Dandroid.stub.exitReason} (default REASON_ANR) with the status
     * {@code -Dandroid.stub.exitStatus} (default 0), described as
     * {@code -Dandroid.stub.exitDescription} says, tagged with what {@code
     * -Dandroid.stub.summaryFile} holds, in the process named {@code
     * -Dandroid.stub.exitProcessName} (default this one's); with {@code
     * -Dandroid.stub.unreadableAnr} also a newer ANR of another process whose dump cannot be read.
     */
    public List<ApplicationExitInfo> getHistoricalProcessExitReasons(String packageName, int pid, int maxNum) {
        Integer exited = Integer.getInteger("android.stub.exitPid");
        if (exited == null) {
            return Collections.emptyList();
        }
        String name = System.getProperty("android.stub.exitReason", "REASON_ANR");
        try {
            int reason = ApplicationExitInfo.class.getField(name).getInt(null);
            long now = System.currentTimeMillis();
            List<ApplicationExitInfo> exits = new ArrayList<>();
            if (Boolean.getBoolean("android.stub.unreadableAnr")) {
                exits.add(new ApplicationExitInfo(exited + 1, ApplicationExitInfo.REASON_ANR, now, null, 0, true, null,
                        "com.example.app:other"));
            }
            String summary = System.getProperty("android.stub.summaryFile");
            byte[] tag = summary != null && new java.io.File(summary).exists()
                    ? java.nio.file.Files.readAllBytes(java.nio.file.Paths.get(summary)) : null;
            exits.add(new ApplicationExitInfo(exited, reason, now,
                    System.getProperty("android.stub.exitDescription"), Integer.getInteger("android.stub.exitStatus", 0), false, tag,
                    System.getProperty("android.stub.exitProcessName", Application.getProcessName())));
            return exits;
        } catch (ReflectiveOperationException | java.io.IOException e) {
            throw new IllegalArgumentException(name, e);
        }
    }

    /**
     * As on Android (API 30): a tag the system keeps in this process's exit record. Here written
     * to the file {@code -Dandroid.stub.summaryFile} names, for the next process's exit record.
     */
    public void setProcessStateSummary(byte[] state) {
        String file = System.getProperty("android.stub.summaryFile");
        if (file != null) {
            try {
                java.nio.file.Files.write(java.nio.file.Paths.get(file), state);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
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
