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
import java.util.List;
import java.util.Objects;

/**
 * App starts, tracked automatically once {@link #capture} ran in {@code Application.onCreate}:
 * <ul>
 *   <li>{@code timing.app.start.cold}: the user's launch started the process; from the process's
 *       start to the first frame after a screen resumed;
 *   <li>{@code timing.app.start.warm}: a screen is created while none is visible, in a process
 *       that lived on (started in the background for a push or a job, every screen closed, a
 *       notification opening a screen over a task in the background), from its creation to its
 *       first frame; or the user's launch made the process anew to restore saved screens, from
 *       the process's start.
 * </ul>
 * The kinds are Android vitals'; the measure is Sentry's, except that the start ends at the
 * frame after the screen resumed rather than at its first draw (up to a frame early on old
 * Android versions, whose first traversal may not draw). A launch is told by the process's
 * importance at {@code onCreate}, and by two messages queued there (the launch comes first) or,
 * from Android 15, by {@code ApplicationStartInfo}'s reason. Screens that finish before they
 * draw (a splash or trampoline) and screens made again for a configuration change (a rotation)
 * are part of the start. Not tracked: a start sent to the background before it drew, one over a
 * minute, and a return to screens that still exist (a hot start). Android calls all of this on
 * the main thread.
 */
public final class AppStarts implements Application.ActivityLifecycleCallbacks {
    /** The first Android version whose launch may come after the messages {@link #capture} queues. */
    private static final int START_INFO_SDK = 35;
    /** Why a process started, by {@code ApplicationStartInfo} constant name, that is no launch. */
    private static final String[] BACKGROUND_REASONS = {
        "START_REASON_ALARM", "START_REASON_BACKUP", "START_REASON_BOOT_COMPLETE",
        "START_REASON_BROADCAST", "START_REASON_CONTENT_PROVIDER", "START_REASON_JOB",
        "START_REASON_PUSH", "START_REASON_SERVICE",
    };
    /**
     * How long a start whose screens all closed before one drew waits for the next screen (a
     * trampoline may close before its successor is created); after it, the next is a new start.
     */
    private static final long SUCCESSOR_GRACE_MS = 1_000;
    private static final Object INSTALL_LOCK = new Object();
    private static AppStarts installed;

    private final Application application;
    private volatile RumAgent agent;
    private final Handler main;
    /** At {@code Application.onCreate} the process ran what the user sees: a launch. */
    private final boolean foregroundAtCreate;
    /**
     * The second of two messages {@link #capture} queued has run. Before Android 15 the launch
     * of the first screen is queued before {@code Application.onCreate} returns when the user's
     * launch started the process, so a first screen created after this is not what started it.
     * Two messages, because some devices run the first one before the screen (Sentry, sentry-java
     * #3608).
     */
    private boolean onCreateQueueDone;
    /** A screen was created in this process: any later start is warm. */
    private boolean anyCreated;
    /** Screens created and not yet destroyed, and started and not yet stopped. */
    private int alive;
    private int started;
    /** The screen resumed and not yet paused, if any. */
    private Activity resumed;
    /** The last screen was destroyed to be made again (a configuration change). */
    private boolean recreating;
    /** When the last screen closed (uptime ms), for {@link #SUCCESSOR_GRACE_MS}. */
    private long allClosedAtMs;
    /** A start is being measured: it ends at the first frame after a screen resumed. */
    private boolean measuring;
    private boolean measuringCold;
    /** The start is measured from the app's start (else from {@link #measuringSinceMs}). */
    private boolean fromAppStart;
    private long measuringSinceMs;
    private boolean framePosted;
    /** Numbers the starts measured, so a frame posted for an abandoned one ends none. */
    private int startNumber;

    private AppStarts(Application application, RumAgent agent, boolean foregroundAtCreate) {
        this.application = application;
        this.agent = agent;
        this.main = new Handler(Looper.getMainLooper());
        this.foregroundAtCreate = foregroundAtCreate;
    }

    /**
     * Starts tracking app starts for {@code agent}; call it in {@code Application.onCreate}, on
     * the main thread, right after {@link RumAgent#setup}: a later call misses the cold start,
     * and one after a screen started may take a navigation for a warm start. Once per process:
     * a second call (after a new setup) points the tracker at its agent.
     */
    public static AppStarts capture(Application application, RumAgent agent) {
        Objects.requireNonNull(application, "application");
        Objects.requireNonNull(agent, "agent");
        synchronized (INSTALL_LOCK) {
            if (installed != null) {
                installed.agent = agent;
                return installed;
            }
            AppStarts starts = new AppStarts(application, agent, inForeground());
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
            // Left to the other signs.
            return true;
        }
    }

    @Override
    public void onActivityCreated(Activity activity, Bundle savedInstanceState) {
        long now = SystemClock.uptimeMillis();
        if (measuring && alive == 0 && !recreating && now - allClosedAtMs > SUCCESSOR_GRACE_MS) {
            // Its screens all closed a while ago without drawing: this screen is a start of its own.
            measuring = false;
        }
        if (!measuring && started == 0 && !recreating) {
            boolean launch = !anyCreated && foregroundAtCreate
                    && (Build.VERSION.SDK_INT >= START_INFO_SDK || !onCreateQueueDone);
            measuring = true;
            measuringCold = launch && savedInstanceState == null;
            fromAppStart = launch;
            measuringSinceMs = now;
            framePosted = false;
            startNumber++;
        }
        alive++;
        recreating = false;
        anyCreated = true;
    }

    @Override
    public void onActivityStarted(Activity activity) {
        started++;
    }

    @Override
    public void onActivityResumed(Activity activity) {
        resumed = activity;
        if (!measuring || framePosted) {
            return;
        }
        framePosted = true;
        int start = startNumber;
        // The next frame draws the resumed screen; a message at the front of the queue, posted
        // at its start, runs as soon as that frame is done.
        Choreographer.getInstance().postFrameCallback(
                frameTimeNanos -> main.postAtFrontOfQueue(() -> frameDone(start)));
    }

    @Override
    public void onActivityPaused(Activity activity) {
        if (resumed == activity) {
            resumed = null;
        }
    }

    private void frameDone(int start) {
        if (!measuring || start != startNumber) {
            return;
        }
        if (resumed == null || resumed.isFinishing()) {
            // A screen that finished (a trampoline) or none at all drew nothing: the start ends
            // at the frame after the next screen resumes.
            framePosted = false;
            return;
        }
        measuring = false;
        boolean cold = measuringCold;
        boolean fromStart = fromAppStart;
        if (fromStart && Build.VERSION.SDK_INT >= START_INFO_SDK && !startedForLaunch()) {
            // Android 15 says the process started for background work: warm, from the screen.
            cold = false;
            fromStart = false;
        }
        double millis = fromStart ? -1 : Math.max(0, SystemClock.uptimeMillis() - measuringSinceMs);
        agent.trackAppStart(cold, millis);
    }

    /**
     * Android 15's reason the process started ({@code ApplicationStartInfo}, read by reflection
     * with its constants by name: the library compiles against older SDKs) is not background
     * work; true when unknown. Asked once, after the first frame: it is a call to the system.
     */
    private boolean startedForLaunch() {
        try {
            Object manager = application.getSystemService("activity");
            List<?> starts = (List<?>) manager.getClass()
                    .getMethod("getHistoricalProcessStartReasons", int.class).invoke(manager, 1);
            if (starts == null || starts.isEmpty()) {
                return true;
            }
            Object info = starts.get(0);
            int reason = (Integer) info.getClass().getMethod("getReason").invoke(info);
            for (String name : BACKGROUND_REASONS) {
                if (info.getClass().getField(name).getInt(null) == reason) {
                    return false;
                }
            }
            return true;
        } catch (ReflectiveOperationException | RuntimeException | LinkageError unknown) {
            return true;
        }
    }

    @Override
    public void onActivityStopped(Activity activity) {
        started = Math.max(0, started - 1);
        if (started == 0 && !activity.isChangingConfigurations() && !activity.isFinishing()) {
            // Sent to the background before a screen was drawn: the time away is no start.
            measuring = false;
        }
    }

    @Override
    public void onActivityDestroyed(Activity activity) {
        alive = Math.max(0, alive - 1);
        if (alive == 0) {
            recreating = activity.isChangingConfigurations();
            allClosedAtMs = SystemClock.uptimeMillis();
        }
    }

    @Override
    public void onActivitySaveInstanceState(Activity activity, Bundle outState) {}
}
