package dev.rollout.rum;

import android.os.Debug;
import android.os.Handler;
import android.os.Looper;

/**
 * Android's side of the core's hang watchdog ({@code agent_core::hang}): the main thread not
 * answering for the threshold or more (an app hang, what Android shows an ANR dialog for after
 * 5 s of unanswered input) is an {@code error} of type {@code ApplicationNotResponding} with the
 * main thread's stack at that moment, on every Android version, whether or not the app is then
 * killed for it (Android 11+ reports such a kill through {@link ProcessExits} as a {@code crash}).
 * The core's thread calls these methods by name (the AAR's consumer rules keep them); the rules
 * (once per hang, not before the main thread first answered, not in the background, not with a
 * debugger attached) are the core's.
 */
final class HangWatchdog {
    private final RumAgent agent;
    private final Handler main = new Handler(Looper.getMainLooper());

    private HangWatchdog(RumAgent agent) {
        this.agent = agent;
    }

    /**
     * Starts the core's watchdog for {@code agent} (nothing for a threshold of 0). Throws
     * {@link LinkageError} off Android (no main looper to watch).
     */
    static void start(RumAgent agent, long handle, long thresholdMs) {
        if (thresholdMs > 0) {
            Native.watchHangs(handle, new HangWatchdog(agent), thresholdMs);
        }
    }

    /** Has the main thread answer {@code tick} once it gets to it (called by the core). */
    void post(long tick) {
        main.post(() -> agent.answerHangTick(tick));
    }

    /** The main thread's frames now, a {@code \tat frame} line each (called by the core). */
    String mainFrames() {
        StringBuilder frames = new StringBuilder();
        for (StackTraceElement frame : Looper.getMainLooper().getThread().getStackTrace()) {
            frames.append("\tat ").append(frame).append('\n');
        }
        return frames.toString();
    }

    /** Whether a debugger is attached, whose breakpoints stop the main thread (called by the core). */
    boolean debuggerAttached() {
        return Debug.isDebuggerConnected();
    }
}
