package dev.rollout.rum;

import android.app.Activity;
import android.app.ActivityManager;
import android.app.Application;
import android.os.Build;
import android.os.Bundle;
import android.os.Handler;
import android.os.Looper;
import android.os.SystemClock;
import android.view.Choreographer;
import java.util.Objects;

/**
 * App starts, tracked automatically once {@link #capture} ran in {@code Application.onCreate}, as
 * Android vitals defines them and Sentry's Android SDK measures them:
 * <ul>
 *   <li>{@code timing.app.start.cold}: the user's launch started the process; from the process's
 *       start to the first frame after the first screen resumed;
 *   <li>{@code timing.app.start.warm}: the process lived on without screens (started in the
 *       background for a broadcast or a job, or every screen was closed) and a screen is
 *       created, from its creation to its first frame; or the user's launch made the process
 *       anew to restore saved screens, from the process's start.
 * </ul>
 * A screen that opens another and finishes before drawing (a splash or trampoline), and a
 * screen made again for a configuration change (a rotation), are part of the same start. A
 * start whose screens all stop or close before one draws, and one over a minute, is not
 * tracked; nor is a return to screens that still exist (a hot start). Android calls all of this
 * on the main thread.
 */
public final class AppStarts implements Application.ActivityLifecycleCallbacks {
    /** The first Android version whose launch may come after the messages {@link #capture} queues. */
    private static final int LAUNCH_AFTER_QUEUE_SDK = 35;
    private static final Object INSTALL_LOCK = new Object();
    private static AppStarts installed;

    private final RumAgent agent;
    private final Handler main;
    /** At {@code Application.onCreate} the process ran what the user sees: a launch. */
    private final boolean foregroundAtCreate;
    /**
     * The second of two messages {@link #capture} queued has run. Android queues the launch of
     * the first screen before {@code Application.onCreate} returns when the user's launch
     * started the process, so a first screen created after this is not what started it. Two
     * messages, because some devices run the first one before the screen (Sentry, sentry-java
     * #3608); not relied on from Android 15, where the launch may come later still.
     */
    private boolean onCreateQueueDone;
    /** A screen was created in this process: any later start is warm. */
    private boolean anyCreated;
    /** Screens created and not yet destroyed, and started and not yet stopped. */
    private int alive;
    private int started;
    /** The last screen was destroyed to be made again (a configuration change). */
    private boolean recreating;
    /** A start is being measured: it ends at the first frame after a screen resumed. */
    private boolean measuring;
    private boolean measuringCold;
    /** The start is measured from the app's start (else from {@link #measuringSinceMs}). */
    private boolean fromAppStart;
    private long measuringSinceMs;
    private boolean framePosted;
    /** Numbers the starts measured, so a frame posted for an abandoned one ends none. */
    private int startNumber;

    private AppStarts(RumAgent agent, boolean foregroundAtCreate) {
        this.agent = agent;
        this.main = new Handler(Looper.getMainLooper());
        this.foregroundAtCreate = foregroundAtCreate;
    }

    /**
     * Starts tracking app starts for {@code agent}; call it in {@code Application.onCreate}, on
     * the main thread, right after {@link RumAgent#setup} (a later call misses the cold start).
     * Once per process: a second call answers the first one's tracker.
     */
    public static AppStarts capture(Application application, RumAgent agent) {
        Objects.requireNonNull(application, "application");
        Objects.requireNonNull(agent, "agent");
        synchronized (INSTALL_LOCK) {
            if (installed != null) {
                return installed;
            }
            AppStarts starts = new AppStarts(agent, inForeground());
            application.registerActivityLifecycleCallbacks(starts);
            starts.main.post(() -> starts.main.post(() -> starts.onCreateQueueDone = true));
            installed = starts;
            return starts;
        }
    }

    private static boolean inForeground() {
        try {
            ActivityManager.RunningAppProcessInfo state = new ActivityManager.RunningAppProcessInfo();
            ActivityManager.getMyMemoryState(state);
            return state.importance == ActivityManager.RunningAppProcessInfo.IMPORTANCE_FOREGROUND;
        } catch (RuntimeException unknown) {
            // Left to the queued messages.
            return true;
        }
    }

    @Override
    public void onActivityCreated(Activity activity, Bundle savedInstanceState) {
        if (alive++ == 0 && !measuring && !recreating) {
            boolean launch = !anyCreated && foregroundAtCreate
                    && (Build.VERSION.SDK_INT >= LAUNCH_AFTER_QUEUE_SDK || !onCreateQueueDone);
            measuring = true;
            measuringCold = launch && savedInstanceState == null;
            fromAppStart = launch;
            measuringSinceMs = SystemClock.uptimeMillis();
            framePosted = false;
            startNumber++;
        }
        recreating = false;
        anyCreated = true;
    }

    @Override
    public void onActivityStarted(Activity activity) {
        started++;
    }

    @Override
    public void onActivityResumed(Activity activity) {
        if (!measuring || framePosted) {
            return;
        }
        framePosted = true;
        int start = startNumber;
        // The next frame draws the resumed screen; a message at the front of the queue, posted
        // at its start, runs as soon as that frame is done.
        Choreographer.getInstance().postFrameCallback(
                frameTimeNanos -> main.postAtFrontOfQueue(() -> firstFrameDrawn(start)));
    }

    private void firstFrameDrawn(int start) {
        if (!measuring || start != startNumber) {
            return;
        }
        measuring = false;
        double millis = fromAppStart ? -1 : Math.max(0, SystemClock.uptimeMillis() - measuringSinceMs);
        agent.trackAppStart(measuringCold, millis);
    }

    @Override
    public void onActivityStopped(Activity activity) {
        started = Math.max(0, started - 1);
        if (started == 0 && !activity.isChangingConfigurations()) {
            // Sent to the background before a screen was drawn: the time away is no start.
            measuring = false;
        }
    }

    @Override
    public void onActivityDestroyed(Activity activity) {
        alive = Math.max(0, alive - 1);
        if (alive == 0) {
            recreating = activity.isChangingConfigurations();
            if (!recreating) {
                // Every screen closed before one was drawn: no start to measure.
                measuring = false;
            }
        }
    }

    @Override
    public void onActivityPaused(Activity activity) {}

    @Override
    public void onActivitySaveInstanceState(Activity activity, Bundle outState) {}
}
