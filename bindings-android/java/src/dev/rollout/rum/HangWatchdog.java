package dev.rollout.rum;

import android.os.Debug;
import android.os.Handler;
import android.os.Looper;
import android.os.SystemClock;

/**
 * Reports the main thread not answering for {@code thresholdMs} or more (an app hang, what
 * Android shows an ANR dialog for after 5 s of unanswered input) as an {@code error} of type
 * {@code ApplicationNotResponding} with the main thread's stack at that moment: on every Android
 * version, and whether or not the app is then killed for it (Android 11+ reports a kill for an
 * ANR through {@link ProcessExits} as a {@code crash}).
 *
 * <p>A daemon thread posts a message to the main looper and looks every {@link #POLL_MS} (on the
 * uptime clock, which stands still in deep sleep) whether it ran; one message outstanding
 * {@code thresholdMs} is one hang, reported once. It arms only once the main thread answered a
 * first message: a slow {@code Application.onCreate} is the cold start's time, not a hang. Not
 * reported: hangs in the background (no screen up: nothing the user waits for) and while a
 * debugger is attached (a breakpoint stops the main thread).
 */
final class HangWatchdog implements Runnable {
    /** {@code exception.type} of a hang (the core's name for an ANR, as Sentry names it). */
    static final String TYPE = "ApplicationNotResponding";
    /** How often the watchdog looks, at most (a lower threshold looks twice per threshold). */
    private static final long POLL_MS = 500;

    private final RumAgent agent;
    private final long thresholdMs;
    private final Handler main = new Handler(Looper.getMainLooper());
    /** Set by the main thread when it runs the message posted last. */
    private volatile boolean answered;
    private final Runnable tick = () -> answered = true;

    private HangWatchdog(RumAgent agent, long thresholdMs) {
        this.agent = agent;
        this.thresholdMs = thresholdMs;
    }

    /**
     * Starts watching the main thread for {@code agent} (nothing for a threshold of 0); the
     * thread ends once the agent is shut down. Throws {@link LinkageError} off Android.
     */
    static void start(RumAgent agent, long thresholdMs) {
        if (thresholdMs <= 0) {
            return;
        }
        Thread thread = new Thread(new HangWatchdog(agent, thresholdMs), "rum-hang-watchdog");
        thread.setDaemon(true);
        thread.start();
    }

    @Override
    public void run() {
        try {
            watch();
        } catch (InterruptedException stopped) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException broken) {
            // Never the app's problem: the watchdog stops.
        }
    }

    private void watch() throws InterruptedException {
        long poll = Math.max(1, Math.min(POLL_MS, thresholdMs / 2));
        boolean armed = false;
        boolean reported = false;
        long postedAt = post();
        while (agent.isLive()) {
            Thread.sleep(poll);
            if (answered) {
                armed = true;
                reported = false;
                postedAt = post();
            } else if (armed && !reported && SystemClock.uptimeMillis() - postedAt >= thresholdMs) {
                reported = true;
                if (!agent.isInBackground() && !Debug.isDebuggerConnected()) {
                    agent.trackError(TYPE, new Hang(thresholdMs, Looper.getMainLooper().getThread().getStackTrace()));
                }
            }
        }
    }

    /** A hang as a throwable: the main thread's frames under a {@code TYPE: message} line. */
    private static final class Hang extends Throwable {
        private static final long serialVersionUID = 1L;

        Hang(long thresholdMs, StackTraceElement[] mainFrames) {
            super("the main thread did not respond for " + thresholdMs + " ms");
            setStackTrace(mainFrames);
        }

        @Override
        public synchronized Throwable fillInStackTrace() {
            // The watchdog's own frames are not the hang's.
            return this;
        }

        @Override
        public String toString() {
            return TYPE + ": " + getMessage();
        }
    }

    /** Posts the next message to the main thread; answers when, on the uptime clock (deep sleep
     * left out, as the main thread sleeps too). */
    private long post() {
        answered = false;
        long now = SystemClock.uptimeMillis();
        main.post(tick);
        return now;
    }
}
