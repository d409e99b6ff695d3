package dev.rollout.rum;

import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/**
 * The data dir of this process. Android runs an app's components in other processes when its
 * manifest says so ({@code android:process=":remote"}), and {@code Application.onCreate}, where
 * apps set the agent up, runs in each of them: two agents on one data dir would each send the
 * other's stored batches, and count them lost once the other had. The app's main process uses
 * the data dir given; a process {@code <package>:<name>} uses its sub-directory
 * {@code process-<name>}.
 */
final class ProcessDataDir {
    private ProcessDataDir() {}

    /**
     * {@code dataDir} for the process named {@code name} ({@link #processName}): null stays null;
     * off Android (no name), unchanged.
     */
    static String of(String dataDir, String name) {
        int colon = dataDir == null || name == null ? -1 : name.indexOf(':');
        if (colon < 0 || colon == name.length() - 1) {
            return dataDir;
        }
        String suffix = name.substring(colon + 1).replaceAll("[^A-Za-z0-9._-]", "_");
        return new File(dataDir, "process-" + suffix).getPath();
    }

    /**
     * This process's name on Android: {@code Application.getProcessName()} (API 28, read by
     * reflection), else the first word of {@code /proc/self/cmdline}, which Android sets to it;
     * null off Android.
     */
    static String processName() {
        Class<?> application;
        try {
            application = Class.forName("android.app.Application");
        } catch (ClassNotFoundException | LinkageError notAndroid) {
            return null;
        }
        try {
            String name = (String) application.getMethod("getProcessName").invoke(null);
            return name != null ? name : commandLine();
        } catch (ReflectiveOperationException | RuntimeException | LinkageError beforeAndroid9) {
            return commandLine();
        }
    }

    private static String commandLine() {
        try (InputStream in = new FileInputStream("/proc/self/cmdline")) {
            byte[] buffer = new byte[256];
            int n = Math.max(0, in.read(buffer));
            String line = new String(buffer, 0, n, StandardCharsets.UTF_8);
            int end = line.indexOf('\0');
            return end < 0 ? line : line.substring(0, end);
        } catch (IOException | RuntimeException unreadable) {
            return null;
        }
    }
}
