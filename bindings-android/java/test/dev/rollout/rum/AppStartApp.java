package dev.rollout.rum;

import static dev.rollout.rum.TestRunner.check;

import android.app.Activity;
import android.app.ActivityManager;
import android.app.Application;
import android.os.Bundle;
import android.os.Looper;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

/**
 * App-start timings with the Android stand-ins on the classpath (args: collector URL, SDK key,
 * mode). The test plays Android: it calls the lifecycle callbacks, draws frames and runs the main
 * thread's queue in the order Android would for each mode, and events go to the key
 * {@code java-app-start-<mode>}. {@code android.os.Process} says the process started 3 s before
 * ({@code -Dandroid.stub.startAgoMs}); the importance and SDK level come from {@code
 * -Dandroid.stub.importance} and {@code -Dandroid.stub.sdk}.
 * <ul>
 *   <li>{@code launch}: the user's launch, the first queued message running before the first
 *       screen (as on Pixels), through a splash screen that finishes before drawing and a
 *       rotation before the first frame: one cold start, and {@code trackTimeFromStart} from the
 *       same start. Then nothing for a navigation to another screen and back (rotated there,
 *       over the stopped first one), a return to a live screen nor a rotation; a warm start
 *       (200 ms) after every screen closed; nothing for a screen sent to the background before
 *       it resumed;
 *   <li>{@code notification}: after the launch, the app in the background and a new agent set
 *       up, a notification opens a screen over the stopped one: a warm start, for the new agent;
 *   <li>{@code router}: the launch goes through a screen that resumes, finishes before it draws
 *       and is destroyed 300 ms before the next screen is created, which draws 200 ms after it
 *       resumed: one cold start, ending at that draw;
 *   <li>{@code sdk24}: on Android 7, which loses draw listeners added before the window is
 *       attached: a launch (one cold start), then a router screen over the stopped task that
 *       finishes without drawing and the screen under it, already attached, drawing 100 ms
 *       after it resumed (one warm start);
 *   <li>{@code restored}: the launch restores a saved screen: a warm start from the process's
 *       start;
 *   <li>{@code background} (importance not foreground) and {@code queue} (the queue ran before
 *       any screen): the first screen is a warm start from its creation;
 *   <li>{@code sdk35}: as {@code queue} on Android 15, where the queue says nothing and the start
 *       reason (the launcher, {@code -Dandroid.stub.startReason}) says launch: cold;
 *   <li>{@code sdk35push}: as {@code sdk35}, the process started for a push: warm from the
 *       screen's creation;
 *   <li>{@code slow}: the first frame over a minute after the process's start: nothing.
 *   <li>{@code killed-background}: a launch, then every screen stopped, then the process killed
 *       (exit 44, no shutdown) once the agent noted the background; {@code killed-foreground}:
 *       killed with the screen up; {@code killed-late}: killed with the screen up after a screen
 *       started before the capture stopped; {@code killed-anr} as {@code killed-background},
 *       {@code killed-force-stop}, {@code killed-exit-failed} and {@code killed-native} (which
 *       then sets a process state summary of its own) as {@code killed-foreground},
 *       {@code killed-native-remote} as {@code killed-native},
 *       for Android's exit reasons. They
 *       need a data dir (the fourth argument), and write their pid beside it ({@code <dir>.pid});
 *       {@code restart} then starts on it, reads Android's exit reasons
 *       ({@code -Dandroid.stub.exitPid}…) and delivers what the killed run left.
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
            RumAgent agent = setup(args, mode, app);
            AppStarts starts = AppStarts.capture(app, agent);
            check(AppStarts.capture(app, agent) == starts, "once per process");
            Android android = new Android(app);
            switch (mode) {
                case "launch":
                    launch(agent, android);
                    break;
                case "notification":
                    android.firstScreen(null);
                    android.stopped(android.last);
                    // A new agent (a consent flow, say): capture again points the tracker at it.
                    check(agent.shutdown(), "shutdown lost data");
                    agent = setup(args, mode, app);
                    check(AppStarts.capture(app, agent) == starts, "still once per process");
                    android.firstScreen(null);
                    break;
                case "router":
                    router(android);
                    break;
                case "restored":
                    android.firstScreen(new Bundle());
                    break;
                case "background":
                    android.firstScreen(null);
                    break;
                case "sdk24":
                    sdk24(android);
                    break;
                case "queue":
                case "sdk35":
                case "sdk35push":
                    android.runQueue();
                    android.firstScreen(null);
                    break;
                case "slow":
                    android.firstScreen(null);
                    break;
                case "killed-background":
                case "killed-anr":
                    android.firstScreen(null);
                    android.stopped(android.last);
                    awaitBackgroundFile(args[3]);
                    break;
                case "killed-foreground":
                case "killed-force-stop":
                case "killed-exit-failed":
                    android.firstScreen(null);
                    break;
                case "killed-native":
                case "killed-native-remote":
                    android.firstScreen(null);
                    // The app keeps a summary of its own, which replaces the agent's tag.
                    ((ActivityManager) app.getSystemService("activity"))
                            .setProcessStateSummary("checkout-step:3".getBytes(StandardCharsets.UTF_8));
                    break;
                case "killed-late":
                    // Captured late: a screen started before it stops under the visible one.
                    android.firstScreen(null);
                    android.stopped(new Activity());
                    break;
                case "restart":
                    break;
                default:
                    throw new IllegalArgumentException(mode);
            }
            check(agent.flush(15_000), "flush timed out");
            if (!mode.startsWith("killed-")) {
                check(agent.shutdown(), "shutdown lost data");
            }
        });
        int code = t.finish();
        if (mode.startsWith("killed-") && code == 0) {
            // Killed as Android kills: no shutdown, no hooks.
            try {
                Files.write(Paths.get(args[3] + ".pid"),
                        Long.toString(ProcessHandle.current().pid()).getBytes(StandardCharsets.UTF_8));
            } catch (IOException e) {
                Runtime.getRuntime().halt(45);
            }
            Runtime.getRuntime().halt(44);
        }
        System.exit(code);
    }

    /** Waits until the agent noted the background in {@code dataDir}. */
    private static void awaitBackgroundFile(String dataDir) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (true) {
            String[] names = new File(dataDir).list();
            if (names != null && Arrays.stream(names).anyMatch(n -> n.startsWith("background-"))) {
                return;
            }
            check(System.nanoTime() < deadline, "the background was never noted");
            Thread.sleep(10);
        }
    }

    private static RumAgent setup(String[] args, String mode, Application app) {
        // No hang watchdog: its message would be among those the modes run one by one.
        RumConfig.Builder config = RumConfig.builder(args[1], args[0])
                .processExits(ProcessExits.read(app)).hangThresholdMs(0);
        if (args.length > 3) {
            config.dataDir(args[3]);
        }
        if (Boolean.getBoolean("rum.test.dataDirOfItsOwn")) {
            config.dataDirPerProcess(false);
        }
        RumAgent agent = RumAgent.setup(config.build());
        agent.identify("java-app-start-" + mode);
        return agent;
    }

    private static void launch(RumAgent agent, Android android) throws InterruptedException {
        Looper.getMainLooper().testRunOne();
        Activity splash = new Activity();
        android.created(splash, null);
        Activity main = new Activity();
        android.created(main, null);
        android.destroyed(splash);
        android.resumed(main);
        main = android.rotate(main);
        android.draw(main);
        agent.trackTimeFromStart("app_start");

        // To another screen and back: navigation, no start.
        Activity detail = new Activity();
        Activity home = main;
        android.app.testCallbacks.forEach(c -> c.onActivityPaused(home));
        android.created(detail, null);
        android.resumed(detail);
        android.app.testCallbacks.forEach(c -> c.onActivityStopped(home));
        android.draw(detail);
        // The detail screen rotated over the stopped one: no start.
        detail = android.rotate(detail);
        android.draw(detail);
        android.stopped(detail);
        android.destroyed(detail);
        android.resumed(main);
        android.draw(main);

        // Back from the background: the screen still exists.
        android.stopped(main);
        android.resumed(main);
        android.draw(main);
        main = android.rotate(main);
        android.draw(main);

        // Every screen closed, the process lives on: a warm start.
        android.stopped(main);
        android.destroyed(main);
        Activity again = new Activity();
        android.created(again, null);
        android.resumed(again);
        Thread.sleep(200);
        android.draw(again);

        // Closed again; the next screen goes to the background before it resumes.
        android.stopped(again);
        android.destroyed(again);
        Activity later = new Activity();
        android.created(later, null);
        android.app.testCallbacks.forEach(c -> c.onActivityStarted(later));
        android.stopped(later);
        android.resumed(later);
        android.draw(later);
    }

    private static void router(Android android) throws InterruptedException {
        Activity router = new Activity();
        android.createdWithoutContent(router);
        android.resumed(router);
        // It finishes before its window is added: it never draws.
        router.testFinishing = true;
        android.runQueue();
        android.stopped(router);
        android.destroyed(router);
        // The next screen comes a while later (within the second a closed start waits), and
        // draws a while after it resumed.
        Thread.sleep(300);
        Activity main = new Activity();
        android.created(main, null);
        android.resumed(main);
        Thread.sleep(200);
        android.draw(main);
        check(router.getWindow().peekDecorView() == null, "no decor made for the router");
        check(main.getWindow().getDecorView().testDrawListeners() == 0, "no draw listener left");
    }

    private static void sdk24(Android android) throws InterruptedException {
        android.firstScreen(null);
        Activity home = android.last;
        android.stopped(home);
        // A notification's router screen starts a warm start and finishes without drawing; the
        // screen under it, already in its window, resumes and draws 100 ms later.
        Activity router = new Activity();
        android.createdWithoutContent(router);
        android.resumed(router);
        router.testFinishing = true;
        android.stopped(router);
        android.destroyed(router);
        android.resumed(home);
        Thread.sleep(100);
        android.draw(home);
        check(home.getWindow().getDecorView().testDrawListeners() == 0, "no draw listener left");
    }

    /** Android's side: lifecycle callbacks, frames and the main thread's queue. */
    private static final class Android {
        final Application app;

        Android(Application app) {
            this.app = app;
        }

        /** The screen {@link #firstScreen} made last. */
        Activity last;

        /** A screen, created with {@code saved}, resumed and drawn. */
        void firstScreen(Bundle saved) {
            last = new Activity();
            created(last, saved);
            resumed(last);
            draw(last);
        }

        /** {@code a} created and its content set (which makes its decor view). */
        void created(Activity a, Bundle saved) {
            createdWithoutContent(a, saved);
            a.getWindow().getDecorView();
        }

        void createdWithoutContent(Activity a) {
            createdWithoutContent(a, null);
        }

        private void createdWithoutContent(Activity a, Bundle saved) {
            app.testCallbacks.forEach(c -> c.onActivityCreated(a, saved));
        }

        /** {@code a} started and resumed, then the main queue runs until the next frame. */
        void resumed(Activity a) {
            app.testCallbacks.forEach(c -> {
                c.onActivityStarted(a);
                c.onActivityResumed(a);
            });
            runQueue();
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

        /** A configuration change: {@code a} stopped and destroyed, made again and resumed. */
        Activity rotate(Activity a) {
            a.testChangingConfigurations = true;
            stopped(a);
            destroyed(a);
            Activity again = new Activity();
            created(again, new Bundle());
            resumed(again);
            return again;
        }

        /** A frame drawing {@code a}'s window, then the messages queued (those at the front first). */
        void draw(Activity a) {
            a.getWindow().getDecorView().testDraw();
            runQueue();
        }

        void runQueue() {
            Looper.getMainLooper().testRunQueued();
        }
    }
}
