package dev.rollout.rum;

import android.app.Application;
import android.os.Build;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Why the app's earlier processes ended, as Android 11+ reports it ({@code ApplicationExitInfo}),
 * for {@link RumConfig.Builder#processExits}. With it, a run of the agent that ended without a
 * clean shutdown is reported as what Android says: an ANR or a native crash as a {@code crash}
 * (in the background too, an ANR with its main thread's stack, a native crash from Android 12
 * with its signal and crashing thread's frames from the tombstone), a force stop, an update or a
 * revoked permission as nothing; any other end keeps the usual rule (an
 * {@code app.unclean_shutdown} when a screen was up) and names Android's reason as
 * {@code exit.reason}. Before Android 11 it holds nothing.
 */
public final class ProcessExits {
    /** The Android version with {@code getHistoricalProcessExitReasons} (11). */
    private static final int EXIT_INFO_SDK = 30;
    /** The Android version whose native crash records give the tombstone (12). */
    private static final int TOMBSTONE_SDK = 31;
    /**
     * What this library's process tags start with: the summary is the app's too (one per
     * process), and another one's must not pass for a run's.
     */
    private static final String TAG_PREFIX = "rollout-run:";
    /** How many of the latest exits are asked for: the app's processes of the last runs. */
    private static final int MAX_EXITS = 16;
    /** Most of an ANR's dump read: the main thread comes first, after a short header. */
    private static final int MAX_TRACE_BYTES = 256 * 1024;
    /**
     * Most of a native crash's tombstone read (Android 12+): the threads come before the memory
     * maps and the logs, and a tombstone cut short gives what it holds.
     */
    private static final int MAX_TOMBSTONE_BYTES = 1024 * 1024;
    /** Android's reasons for an end the user or the system asked for: no failure of the app. */
    private static final String[] REQUESTED = {
        "REASON_EXIT_SELF", "REASON_USER_REQUESTED", "REASON_USER_STOPPED",
        "REASON_PERMISSION_CHANGE", "REASON_PACKAGE_UPDATED", "REASON_PACKAGE_STATE_CHANGE",
    };

    /** The records Android gave, each with its native-side form (without its dump yet). */
    private final List<Object> infos;
    private final List<Map<String, Object>> exits;
    /** Android's ActivityManager, to tag this process with (see {@link #tag}); null off Android 11. */
    private final Object manager;

    private ProcessExits(List<Object> infos, List<Map<String, Object>> exits, Object manager) {
        this.infos = infos;
        this.exits = exits;
        this.manager = manager;
    }

    private static ProcessExits none(Object manager) {
        return new ProcessExits(Collections.emptyList(), Collections.emptyList(), manager);
    }

    /**
     * The exits as the native side reads them (a JSON array), or null for none. The dumps (an
     * ANR's, a native crash's tombstone) are read only for the exits of runs in {@code dataDir}
     * that the agent's start will report: each is a read of a file the system keeps, and the
     * others (reported, or another process's) would be read again at every start.
     */
    String json(String dataDir) {
        if (exits.isEmpty()) {
            return null;
        }
        // Copies: a later setup with the same config starts from the records without dumps.
        List<Map<String, Object>> sent = new ArrayList<>();
        for (Map<String, Object> exit : exits) {
            sent.add(new LinkedHashMap<>(exit));
        }
        if (dataDir != null) {
            try {
                for (int i : Native.exitsOfUnendedRuns(dataDir, Json.write(exits))) {
                    addDump(infos.get(i), sent.get(i));
                }
            } catch (RuntimeException unknown) {
                // Reported without their dumps. A missing native library (a LinkageError) is
                // left to setup, which reports it as such.
            }
        }
        return Json.write(sent);
    }

    private static void addDump(Object info, Map<String, Object> exit) {
        if ("not_responding".equals(exit.get("reason"))) {
            exit.put("trace", trace(info));
        } else if ("native_crash".equals(exit.get("reason")) && Build.VERSION.SDK_INT >= TOMBSTONE_SDK) {
            // Before Android 12 the stream holds no tombstone.
            byte[] tombstone = read(info, MAX_TOMBSTONE_BYTES, false);
            exit.put("tombstone", tombstone == null ? null : Base64.getEncoder().encodeToString(tombstone));
        }
    }

    /**
     * Tags this process with the agent's run id ({@code setProcessStateSummary}, which Android
     * keeps in the process's exit record), so the next start knows the run of an exit exactly,
     * not by its pid. Called by {@link RumAgent#setup}; a failure leaves the pid to match. An app
     * that sets a summary of its own afterwards replaces the tag: its exits are then matched by
     * pid.
     */
    void tag(String runId) {
        if (manager == null || runId == null) {
            return;
        }
        try {
            manager.getClass().getMethod("setProcessStateSummary", byte[].class)
                    .invoke(manager, (Object) (TAG_PREFIX + runId).getBytes(StandardCharsets.UTF_8));
        } catch (ReflectiveOperationException | RuntimeException | LinkageError untagged) {
            // Matched by pid and time instead.
        }
    }

    /**
     * Reads why this app's latest processes ended; call it in {@code Application.onCreate}, before
     * {@link RumAgent#setup}. Never throws: holds nothing before Android 11 or when Android does
     * not answer. It is a call to the system, made once per process.
     */
    public static ProcessExits read(Application application) {
        if (application == null || Build.VERSION.SDK_INT < EXIT_INFO_SDK) {
            return none(null);
        }
        Object manager = null;
        try {
            manager = application.getSystemService("activity");
            // Read by reflection, its constants by name: the library compiles against older SDKs.
            List<?> infos = (List<?>) manager.getClass()
                    .getMethod("getHistoricalProcessExitReasons", String.class, int.class, int.class)
                    .invoke(manager, null, 0, MAX_EXITS);
            List<Object> read = new ArrayList<>();
            List<Map<String, Object>> exits = new ArrayList<>();
            for (Object info : infos == null ? Collections.emptyList() : infos) {
                try {
                    exits.add(exit(info));
                    read.add(info);
                } catch (ReflectiveOperationException | RuntimeException unreadable) {
                    // One record Android cannot give must not hide the others.
                }
            }
            return new ProcessExits(read, exits, manager);
        } catch (ReflectiveOperationException | RuntimeException | LinkageError unknown) {
            return none(manager);
        }
    }

    /** One {@code ApplicationExitInfo} in the native side's terms. */
    private static Map<String, Object> exit(Object info) throws ReflectiveOperationException {
        int reason = (Integer) call(info, "getReason");
        String name = reasonName(info.getClass(), reason);
        // An exit of the app's own with a failure status may be a crash handler that replaced
        // ours and called System.exit(1): judged as any other end.
        boolean failedExit = "REASON_EXIT_SELF".equals(name) && !Integer.valueOf(0).equals(call(info, "getStatus"));
        String kind = "REASON_ANR".equals(name) ? "not_responding"
                : "REASON_CRASH_NATIVE".equals(name) ? "native_crash"
                : "REASON_CRASH".equals(name) ? "crash"
                : Arrays.asList(REQUESTED).contains(name) && !failedExit ? "requested"
                : "other";
        Map<String, Object> exit = new LinkedHashMap<>();
        exit.put("pid", call(info, "getPid"));
        exit.put("at_ms", call(info, "getTimestamp"));
        exit.put("reason", kind);
        exit.put("name", name == null ? "reason_" + reason
                : name.substring("REASON_".length()).toLowerCase(Locale.ROOT));
        exit.put("description", call(info, "getDescription"));
        // An untagged exit under a run's pid is another process's when the names differ.
        exit.put("process", call(info, "getProcessName"));
        byte[] summary = (byte[]) call(info, "getProcessStateSummary");
        String tag = summary == null ? "" : new String(summary, StandardCharsets.UTF_8);
        if (tag.startsWith(TAG_PREFIX) && tag.length() > TAG_PREFIX.length()) {
            exit.put("run", tag.substring(TAG_PREFIX.length()));
        }
        return exit;
    }

    /** The name of the {@code REASON_} constant worth {@code reason}, null when none is. */
    private static String reasonName(Class<?> type, int reason) throws IllegalAccessException {
        for (Field field : type.getFields()) {
            if (field.getName().startsWith("REASON_") && field.getType() == int.class
                    && Modifier.isStatic(field.getModifiers()) && field.getInt(null) == reason) {
                return field.getName();
            }
        }
        return null;
    }

    /**
     * The head of the ANR's thread dump, as text, read up to the end of the main thread's part
     * (it comes first, after a short header: the rest is not read); null when Android kept none
     * or cannot give it.
     */
    private static String trace(Object info) {
        byte[] dump = read(info, MAX_TRACE_BYTES, true);
        return dump == null ? null : new String(dump, StandardCharsets.UTF_8);
    }

    /**
     * The head of the record's dump ({@code getTraceInputStream}), at most {@code max} bytes, up
     * to the end of the main thread's part when {@code mainThreadOnly}; null when Android kept
     * none or cannot give it.
     */
    private static byte[] read(Object info, int max, boolean mainThreadOnly) {
        try (InputStream in = (InputStream) call(info, "getTraceInputStream")) {
            return in == null ? null : head(in, max, mainThreadOnly);
        } catch (IOException | ReflectiveOperationException | RuntimeException unreadable) {
            // getTraceInputStream's IOException arrives wrapped (InvocationTargetException).
            return null;
        }
    }

    /** The main thread's line in an ANR dump ({@code "main" prio=5 tid=1 Blocked}). */
    private static final byte[] MAIN_THREAD = " tid=1 ".getBytes(StandardCharsets.US_ASCII);
    /** What ends a thread's part of the dump. */
    private static final byte[] BLANK_LINE = "\n\n".getBytes(StandardCharsets.US_ASCII);

    /**
     * The head of {@code in}, at most {@code max} bytes, up to the end of the main thread's part
     * (a blank line after its line) when {@code mainThreadOnly}. Each byte is looked at once,
     * whatever the sizes the stream gives.
     */
    static byte[] head(InputStream in, int max, boolean mainThreadOnly) throws IOException {
        Buffer out = new Buffer();
        byte[] chunk = new byte[8192];
        int main = -1;
        for (int n; out.size() < max && (n = in.read(chunk)) > 0; ) {
            int before = out.size();
            out.write(chunk, 0, Math.min(n, max - before));
            if (!mainThreadOnly) {
                continue;
            }
            if (main < 0) {
                // A marker may straddle two reads: look again from just before the new bytes.
                main = out.indexOf(MAIN_THREAD, before - MAIN_THREAD.length + 1);
            }
            if (main >= 0 && out.indexOf(BLANK_LINE, Math.max(main, before - BLANK_LINE.length + 1)) >= 0) {
                break;
            }
        }
        return out.toByteArray();
    }

    /** A byte buffer that can search what it holds without a copy. */
    private static final class Buffer extends ByteArrayOutputStream {
        /** Where {@code marker} first occurs at or after {@code from}; -1 if nowhere. */
        int indexOf(byte[] marker, int from) {
            for (int at = Math.max(0, from); at + marker.length <= count; at++) {
                int i = 0;
                while (i < marker.length && buf[at + i] == marker[i]) {
                    i++;
                }
                if (i == marker.length) {
                    return at;
                }
            }
            return -1;
        }
    }

    private static Object call(Object target, String method) throws ReflectiveOperationException {
        return target.getClass().getMethod(method).invoke(target);
    }
}
