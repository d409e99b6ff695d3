package dev.rollout.rum;

import android.app.Activity;
import android.app.Application;
import android.os.Bundle;
import android.os.Handler;
import android.os.Looper;
import android.os.SystemClock;
import android.view.Choreographer;
import java.util.Objects;

/**
 * App starts, tracked automatically once {@link #capture} ran in {@code Application.onCreate}, as
 * Android vitals and Sentry define them:
 * <ul>
 *   <li>{@code timing.app.start.cold}: the user's launch started the process; from the process's
 *       start to the first frame drawn after the first screen resumed (longer than a minute is
 *       no launch and is not tracked);
 *   <li>{@code timing.app.start.warm}: the process lived on without screens (started in the
 *       background for a broadcast or a job, or every screen was closed) and a screen is
 *       created; from its creation to the first frame drawn after it resumed.
 * </ul>
 * A screen that opens another and finishes before drawing (a splash or trampoline) is part of
 * the same start. Returning to screens that still exist (a hot start) is not tracked. Android
 * calls all of this on the main thread.
 */
public final class AppStarts implements Application.ActivityLifecycleCallbacks {
    private final RumAgent agent;
    private final Handler main;
    /**
     * The message {@link #capture} queued has run. Android queues the launch of the first screen
     * before {@code Application.onCreate} returns when the user's launch started the process: a
     * first screen created after this message is not what started it.
     */
    private boolean onCreateQueueDone;
    /** A screen was created in this process: any later start is warm. */
    private boolean anyCreated;
    /** Screens created and not yet destroyed. */
    private int alive;
    /** A start is being measured: it ends at the first frame after a screen resumed. */
    private boolean measuring;
    private boolean measuringCold;
    private long measuringSinceMs;
    private boolean framePosted;
    /** Numbers the starts measured, so a frame posted for an abandoned one ends none. */
    private int startNumber;

    private AppStarts(RumAgent agent) {
        this.agent = agent;
        this.main = new Handler(Looper.getMainLooper());
    }

    /**
     * Starts tracking app starts for {@code agent}; call it in {@code Application.onCreate}, on
     * the main thread, right after {@link RumAgent#setup} (a later call misses the cold start).
     */
    public static AppStarts capture(Application application, RumAgent agent) {
        Objects.requireNonNull(application, "application");
        Objects.requireNonNull(agent, "agent");
        AppStarts starts = new AppStarts(agent);
        application.registerActivityLifecycleCallbacks(starts);
        starts.main.post(() -> starts.onCreateQueueDone = true);
        return starts;
    }

    @Override
    public void onActivityCreated(Activity activity, Bundle savedInstanceState) {
        if (alive++ == 0 && !measuring) {
            measuring = true;
            measuringCold = !anyCreated && !onCreateQueueDone;
            measuringSinceMs = SystemClock.uptimeMillis();
            framePosted = false;
            startNumber++;
        }
        anyCreated = true;
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
        if (measuringCold) {
            agent.trackColdStart();
        } else {
            agent.trackWarmStart(Math.max(0, SystemClock.uptimeMillis() - measuringSinceMs));
        }
    }

    @Override
    public void onActivityDestroyed(Activity activity) {
        alive = Math.max(0, alive - 1);
        if (alive == 0) {
            // Every screen closed before one was drawn: no start to measure.
            measuring = false;
        }
    }

    @Override
    public void onActivityStarted(Activity activity) {}

    @Override
    public void onActivityPaused(Activity activity) {}

    @Override
    public void onActivityStopped(Activity activity) {}

    @Override
    public void onActivitySaveInstanceState(Activity activity, Bundle outState) {}
}
