package android.app;

import java.io.ByteArrayInputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/**
 * Test double of the Android framework's {@code ApplicationExitInfo} (API 30): why a process of
 * the app ended. The binding reads it by reflection, its constants by name.
 */
public final class ApplicationExitInfo {
    public static final int REASON_UNKNOWN = 0;
    public static final int REASON_EXIT_SELF = 1;
    public static final int REASON_SIGNALED = 2;
    public static final int REASON_LOW_MEMORY = 3;
    public static final int REASON_CRASH = 4;
    public static final int REASON_CRASH_NATIVE = 5;
    public static final int REASON_ANR = 6;
    public static final int REASON_INITIALIZATION_FAILURE = 7;
    public static final int REASON_PERMISSION_CHANGE = 8;
    public static final int REASON_EXCESSIVE_RESOURCE_USAGE = 9;
    public static final int REASON_USER_REQUESTED = 10;
    public static final int REASON_USER_STOPPED = 11;
    public static final int REASON_DEPENDENCY_DIED = 12;
    public static final int REASON_OTHER = 13;
    public static final int REASON_FREEZER = 14;
    public static final int REASON_PACKAGE_STATE_CHANGE = 15;
    public static final int REASON_PACKAGE_UPDATED = 16;

    /** Not in Android: the head of an ANR's thread dump as Android writes it, main thread blocked. */
    static final String ANR_DUMP = "\n----- pid 4242 at 2026-12-07 10:00:00.123+0000 -----\n"
            + "Cmd line: com.example.app\n\nDALVIK THREADS (2):\n"
            + "\"Signal Catcher\" daemon prio=10 tid=2 Runnable\n"
            + "  native: #00 pc 000000000054a3b8  /apex/com.android.art/lib64/libart.so\n\n"
            + "\"main\" prio=5 tid=1 Blocked\n"
            + "  | group=\"main\" sCount=1 ucsCount=0 flags=1 obj=0x72b3a4a8 self=0x7c0c1000\n"
            + "  at com.example.app.Checkout.pay(Checkout.java:42)\n"
            + "  - waiting to lock <0x0b3c1b7e> (a java.lang.Object) held by thread 14\n"
            + "  at android.view.View.performClick(View.java:7659)\n\n"
            + "----- end 4242 -----\n";

    private final int pid;
    private final int reason;
    private final long timestamp;
    private final String description;
    private final int status;
    private final boolean traceLost;
    private final byte[] summary;
    private final String processName;

    ApplicationExitInfo(int pid, int reason, long timestamp, String description, int status, boolean traceLost,
            byte[] summary, String processName) {
        this.summary = summary;
        this.processName = processName;
        this.pid = pid;
        this.reason = reason;
        this.timestamp = timestamp;
        this.description = description;
        this.status = status;
        this.traceLost = traceLost;
    }

    /** As on Android: the process's id. */
    public int getPid() {
        return pid;
    }

    /** As on Android: why it ended, one of the {@code REASON_} constants. */
    public int getReason() {
        return reason;
    }

    /** As on Android: when it ended, in {@link System#currentTimeMillis()} terms. */
    public long getTimestamp() {
        return timestamp;
    }

    /** As on Android: the system's words for the end, or null. */
    public String getDescription() {
        return description;
    }

    /** As on Android: what the process last passed to {@code setProcessStateSummary}, or null. */
    public byte[] getProcessStateSummary() {
        return summary;
    }

    /** As on Android: the process's name ({@code com.example.app:remote} for a {@code :remote} one). */
    public String getProcessName() {
        return processName;
    }

    /** As on Android: the exit status of an own exit, the signal of a signaled end. */
    public int getStatus() {
        return status;
    }

    /**
     * Not in Android: an arm64 SIGABRT's tombstone (the protobuf {@code Tombstone}, base64),
     * encoded by protoc's Python runtime from AOSP's tombstone.proto; the crashing thread,
     * "RenderThread", aborts from {@code Renderer::draw(Frame const&)} in libgame.so.
     */
    static final String TOMBSTONE = "CAESPGdvb2dsZS9zZGtfZ3Bob25lNjRfYXJtNjQvZW11NjRhOjE0L1VFMUEvMTp1c2VyL3JlbGVhc2Uta2V5cyiSITCaITiLT0oPY29tLmV4YW1wbGUuYXBwUigIBhIHU0lHQUJSVBj///////////8BIghTSV9US0lMTCgBMItPOJIhch9DaGVjayBmYWlsZWQ6IGJ1ZmZlciAhPSBudWxscHRyehoKGG51bGwgcG9pbnRlciBkZXJlZmVyZW5jZYIBjgIImiESiAIImiESDFJlbmRlclRocmVhZCJKCPjvFiIFYWJvcnQopAEyLi9hcGV4L2NvbS5hbmRyb2lkLnJ1bnRpbWUvbGliNjQvYmlvbmljL2xpYmMuc29CCmFiMzRjMGZmZWUiXgis8QciHFJlbmRlcmVyOjpkcmF3KEZyYW1lIGNvbnN0JikoLDI4L2RhdGEvYXBwL35+eHl6PT0vY29tLmV4YW1wbGUuYXBwLTEvbGliL2FybTY0L2xpYmdhbWUuc28iPgiQwAoyOC9kYXRhL2FwcC9+fnh5ej09L2NvbS5leGFtcGxlLmFwcC0xL2xpYi9hcm02NC9saWJnYW1lLnNvMP///////////wGCAXAIkiESawiSIRILZXhhbXBsZS5hcHAaBAoCeDAiUwi4gxcQuIOXgID+ASINX19lcG9sbF9wd2FpdCgIMi4vYXBleC9jb20uYW5kcm9pZC5ydW50aW1lL2xpYjY0L2Jpb25pYy9saWJjLnNvQgRhYTExigEOCIAgEIBAOgZbYW5vbl2gASU=";

    /**
     * As on Android: an ANR's thread dump ({@link #ANR_DUMP} here), a native crash's tombstone
     * ({@link #TOMBSTONE}); null for other reasons. Throws as Android does when the dump it kept
     * cannot be read (made so by the test). Not in Android: each read is logged, by pid, to the
     * file {@code -Dandroid.stub.traceLog} names.
     */
    public InputStream getTraceInputStream() throws IOException {
        String log = System.getProperty("android.stub.traceLog");
        if (log != null) {
            java.nio.file.Files.write(java.nio.file.Paths.get(log), (pid + "\n").getBytes(StandardCharsets.UTF_8),
                    java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
        }
        if (traceLost) {
            throw new FileNotFoundException("/data/system/procexitstore/trace (gone)");
        }
        if (reason == REASON_CRASH_NATIVE) {
            return new ByteArrayInputStream(java.util.Base64.getDecoder().decode(TOMBSTONE));
        }
        return reason == REASON_ANR ? new ByteArrayInputStream(ANR_DUMP.getBytes(StandardCharsets.UTF_8)) : null;
    }
}
