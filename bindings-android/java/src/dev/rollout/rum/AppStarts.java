package dev.rollout.rum;

import android.app.Activity;
import android.app.ActivityManager;
import android.app.Application;
import android.os.Build;
import android.os.Bundle;
import android.os.Handler;
import android.os.Looper;
import android.os.SystemClock;
import android.view.View;
import android.view.ViewTreeObserver;
import android.view.Window;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.WeakHashMap;

/**
 * App starts, tracked automatically once {@link #capture} ran in {@code Application.onCreate}:
 * <ul>
 *   <li>{@code timing.app.start.cold}: the user's launch started the process; from the process's
 *       start to the first draw of a screen after it resumed;
 *   <li>{@code timing.app.start.warm}: a screen is created while none is visible, in a process
 *       that lived on (started in the background for a push or a job, every screen closed, a
 *       notification opening a screen over a task in the background), from its creation to its
 *       first draw; or the user's launch made the process anew to restore saved screens, from
 *       the process's start.
 * </ul>
 * The kinds are Android vitals'; the measure is Sentry's and Firebase's: a start ends when the
 * frame in which a resumed screen's window next draws (its first draw, for a new screen) is
 * done. A launch is told by the process's importance at {@code onCreate}, and by two messages
 * queued there (the launch comes first) or, from Android 15, by {@code ApplicationStartInfo}'s
 * reason. Screens that finish before they
 * draw (a router or trampoline) and screens made again for a configuration change (a rotation)
 * are part of the start. Not tracked: a start sent to the background before it drew, one over a
 * minute, and a return to screens that still exist (a hot start). It also tells the agent when
 * no screen is visible ({@link RumAgent#setInBackground}), so that Android reclaiming the process
 * then is no unclean shutdown. Android calls all of this on the main thread.
 */
public final class AppStarts implements Application.ActivityLifecycleCallbacks {
    /** The first Android version whose launch may come after the messages {@link #capture} queues. */
    private static final int START_INFO_SDK = 35;
    /** The first Android version that keeps draw listeners added before a view is in its window. */
    private static final int EARLY_DRAW_LISTENER_SDK = 26;
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
    /** Screens created and not yet destroyed. */
    private int alive;
    /**
     * Screens started and not yet stopped, by identity: a screen started before {@link #capture}
     * (a late call) is not counted, and neither is its stop, which would otherwise leave a visible
     * screen counted as none (and the agent told the app is in the background).
     */
    private final Set<Activity> started = Collections.newSetFromMap(new WeakHashMap<>());
    /** The last screen was destroyed to be made again (a configuration change). */
    private boolean recreating;
    /** When the last screen closed (uptime ms), for {@link #SUCCESSOR_GRACE_MS}. */
    private long allClosedAtMs;
    /** A start is being measured: it ends at the first draw of a screen that resumed. */
    private boolean measuring;
    private boolean measuringCold;
    /** The start is measured from the app's start (else from {@link #measuringSinceMs}). */
    private boolean fromAppStart;
    private long measuringSinceMs;
    /** Numbers the starts measured, so a draw of an abandoned one ends none. */
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
                agent.setInBackground(installed.started.isEmpty());
                return installed;
            }
            AppStarts starts = new AppStarts(application, agent, inForeground());
            // A process started for a push, a job or a broadcast is in the background until a
            // screen starts.
            agent.setInBackground(!starts.foregroundAtCreate);
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
        if (!measuring && started.isEmpty() && !recreating) {
            boolean launch = !anyCreated && foregroundAtCreate
                    && (Build.VERSION.SDK_INT >= START_INFO_SDK || !onCreateQueueDone);
            measuring = true;
            measuringCold = launch && savedInstanceState == null;
            fromAppStart = launch;
            measuringSinceMs = now;
            startNumber++;
        }
        alive++;
        recreating = false;
        anyCreated = true;
    }

    @Override
    public void onActivityStarted(Activity activity) {
        boolean first = started.isEmpty();
        if (started.add(activity) && first) {
            agent.setInBackground(false);
        }
    }

    @Override
    public void onActivityResumed(Activity activity) {
        Window window = activity.getWindow();
        if (!measuring || window == null) {
            return;
        }
        int start = startNumber;
        // Peeked, not made: making the decor here would fix the window's features inside the
        // app's onResume, and build one for a screen about to finish.
        View decor = window.peekDecorView();
        if (decor != null) {
            whenDrawn(decor, start);
            return;
        }
        // No content yet: look again once onResume is done; the message runs before the first
        // traversal, which Android queues after it. A screen that finished by then (a router)
        // never draws: the next one to resume and draw ends the start.
        main.post(() -> {
            View made = window.peekDecorView();
            if (made != null && !activity.isFinishing() && measuring && start == startNumber) {
                whenDrawn(made, start);
            }
        });
    }

    /**
     * Calls {@link #drawn} once the frame in which {@code decor} first draws is done: a draw
     * listener (told as the tree is about to be drawn) posts a message at the front of the main
     * queue, which runs right after that frame. Before Android 8 a listener added to a view not
     * yet in its window is lost, so it is added once the view is attached.
     */
    private void whenDrawn(View decor, int start) {
        if (Build.VERSION.SDK_INT >= EARLY_DRAW_LISTENER_SDK
                || (decor.isAttachedToWindow() && decor.getViewTreeObserver().isAlive())) {
            decor.getViewTreeObserver().addOnDrawListener(new FirstDraw(decor, start));
            return;
        }
        decor.addOnAttachStateChangeListener(new View.OnAttachStateChangeListener() {
            @Override
            public void onViewAttachedToWindow(View view) {
                view.removeOnAttachStateChangeListener(this);
                view.getViewTreeObserver().addOnDrawListener(new FirstDraw(view, start));
            }

            @Override
            public void onViewDetachedFromWindow(View view) {
                view.removeOnAttachStateChangeListener(this);
            }
        });
    }

    /** Ends start number {@code start} at the first draw of {@code view}'s tree. */
    private final class FirstDraw implements ViewTreeObserver.OnDrawListener {
        private final View view;
        private final int start;
        private boolean seen;

        FirstDraw(View view, int start) {
            this.view = view;
            this.start = start;
        }

        @Override
        public void onDraw() {
            if (seen) {
                return;
            }
            seen = true;
            main.postAtFrontOfQueue(() -> drawn(start));
            // Not from onDraw: Android refuses to remove a draw listener while it dispatches.
            main.post(() -> view.getViewTreeObserver().removeOnDrawListener(this));
        }
    }

    private void drawn(int start) {
        if (!measuring || start != startNumber) {
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
        if (!started.remove(activity)) {
            return;
        }
        if (started.isEmpty() && !activity.isChangingConfigurations()) {
            // No screen visible: a kill from here on is the app's usual end, no crash.
            agent.setInBackground(true);
        }
        if (started.isEmpty() && !activity.isChangingConfigurations() && !activity.isFinishing()) {
            // Sent to the background before a screen was drawn: the time away is no start.
            measuring = false;
        }
    }

    @Override
    public void onActivityDestroyed(Activity activity) {
        alive = Math.max(0, alive - 1);
        if (activity.isChangingConfigurations()) {
            // Made again next, whatever screens stay under it (a rotated detail screen over a
            // stopped list): no start of its own.
            recreating = true;
        } else if (alive == 0) {
            recreating = false;
        }
        if (alive == 0) {
            allClosedAtMs = SystemClock.uptimeMillis();
        }
    }

    @Override
    public void onActivityPaused(Activity activity) {}

    @Override
    public void onActivitySaveInstanceState(Activity activity, Bundle outState) {}
}
