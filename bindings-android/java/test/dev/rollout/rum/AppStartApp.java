package dev.rollout.rum;

import static dev.rollout.rum.TestRunner.check;

import android.app.Activity;
import android.app.Application;
import android.os.Looper;
import android.view.Choreographer;

/**
 * App-start timings with the Android stand-ins on the classpath (args: collector URL, SDK key,
 * mode). The test plays Android: it calls the lifecycle callbacks, draws frames and runs the main
 * thread's queue in the order Android would for each mode, and events go to the key
 * {@code java-app-start-<mode>}:
 * <ul>
 *   <li>{@code launch}: the user's launch starts the process ({@code android.os.Process} says 3 s
 *       ago) through a splash screen that finishes before drawing: one cold start, and
 *       {@code trackTimeFromStart} from the same start; returning to the screen tracks nothing;
 *       after every screen closed, a new one is a warm start (drawn 200 ms after its creation);
 *   <li>{@code background}: the process started for something else (the queue ran before any
 *       screen): the first screen is a warm start;
 *   <li>{@code slow}: the first frame comes more than a minute after the process's start
 *       ({@code -Dandroid.stub.startAgoMs}): nothing tracked.
 * </ul>
 */
public final class AppStartApp {
    private AppStartApp() {}

    /** Runs one mode and exits 0 when it passed. */
    public static void main(String[] args) {
        String mode = args[2];
        TestRunner t = new TestRunner();
        t.test("app starts: " + mode, () -> {
            Application app = new Application();
            RumAgent agent = RumAgent.setup(RumConfig.builder(args[1], args[0]).build());
            agent.identify("java-app-start-" + mode);
            AppStarts.capture(app, agent);
            Lifecycle android = new Lifecycle(app);
            if (mode.equals("background")) {
                android.runQueue();
            }
            Activity main = new Activity();
            if (mode.equals("launch")) {
                Activity splash = new Activity();
                android.created(splash);
                android.created(main);
                android.destroyed(splash);
            } else {
                android.created(main);
            }
            android.resumed(main);
            android.frame();
            android.runQueue();
            if (mode.equals("launch")) {
                agent.trackTimeFromStart("app_start");
                // Back from the background: the screen still exists.
                android.stopped(main);
                android.resumed(main);
                android.frame();
                android.runQueue();
                // Every screen closed, the process lives on: a warm start.
                android.destroyed(main);
                Activity again = new Activity();
                android.created(again);
                android.resumed(again);
                Thread.sleep(200);
                android.frame();
                android.runQueue();
            }
            check(agent.flush(15_000), "flush timed out");
            check(agent.shutdown(), "shutdown lost data");
        });
        System.exit(t.finish());
    }

    /** Android's side: lifecycle callbacks, frames and the main thread's queue. */
    private static final class Lifecycle {
        private final Application app;

        Lifecycle(Application app) {
            this.app = app;
        }

        void created(Activity a) {
            app.testCallbacks.forEach(c -> c.onActivityCreated(a, null));
        }

        void resumed(Activity a) {
            app.testCallbacks.forEach(c -> {
                c.onActivityStarted(a);
                c.onActivityResumed(a);
            });
        }

        void stopped(Activity a) {
            app.testCallbacks.forEach(c -> {
                c.onActivityPaused(a);
                c.onActivityStopped(a);
            });
        }

        void destroyed(Activity a) {
            app.testCallbacks.forEach(c -> c.onActivityDestroyed(a));
        }

        void frame() {
            Choreographer.getInstance().testFrame();
        }

        void runQueue() {
            Looper.getMainLooper().testRunQueued();
        }
    }
}
