package dev.rollout.rum;

import android.os.Handler;
import android.os.Looper;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.concurrent.CountDownLatch;

/**
 * The hang watchdog against the stand-in main looper, run by a thread of its own as Android's
 * main thread (args: collector URL, SDK key). The main thread is busy when the agent is set up
 * ({@link #startupPay}, as a slow {@code Application.onCreate}: the watchdog is not armed yet),
 * then blocks for twice the threshold in {@link #slowPay} (one hang), then as long in the
 * background ({@link #backgroundPay}) and with a debugger attached ({@link #debuggedPay}), then
 * for a tenth of it ({@link #quickPay}): none but slowPay is a hang. The Rust side checks the collector holds exactly the first, with the
 * main thread's stack; the blocks come in that order so a watchdog that looks at all has shown it
 * can see a block as long as the ones it must not report.
 */
public final class HangApp {
    /** The threshold set up: three polls of the watchdog's. */
    static final long THRESHOLD_MS = 1500;

    private HangApp() {}

    public static void main(String[] args) throws Exception {
        Thread main = new Thread(() -> Looper.getMainLooper().testLoop(), "main");
        main.setDaemon(true);
        main.start();
        Handler handler = new Handler(Looper.getMainLooper());
        onMain(handler, () -> { });
        CountDownLatch started = new CountDownLatch(1);
        handler.post(() -> {
            started.countDown();
            startupPay(2 * THRESHOLD_MS);
        });
        started.await();
        RumAgent agent = RumAgent.setup(RumConfig.builder(args[1], args[0])
                .hangThresholdMs(THRESHOLD_MS).build());
        agent.identify("java-hang");
        TestRunner t = new TestRunner();
        t.test("hangs of the main thread are reported once each, in the foreground only", () -> {
            // Past the start, and the watchdog's first message answered: armed.
            onMain(handler, () -> { });
            Thread.sleep(THRESHOLD_MS);
            onMain(handler, () -> slowPay(2 * THRESHOLD_MS));
            Thread.sleep(THRESHOLD_MS);
            agent.setInBackground(true);
            onMain(handler, () -> backgroundPay(2 * THRESHOLD_MS));
            agent.setInBackground(false);
            Thread.sleep(THRESHOLD_MS);
            System.setProperty("android.stub.debugger", "true");
            onMain(handler, () -> debuggedPay(2 * THRESHOLD_MS));
            System.clearProperty("android.stub.debugger");
            Thread.sleep(THRESHOLD_MS);
            onMain(handler, () -> quickPay(THRESHOLD_MS / 10));
            Thread.sleep(THRESHOLD_MS);
            TestRunner.check(agent.flush(15_000), "flush timed out");
            TestRunner.check(agent.shutdown(), "shutdown lost data");
            // The watchdog stops with the agent.
            long deadline = System.nanoTime() + 15_000_000_000L;
            while (watchdogAlive()) {
                TestRunner.check(System.nanoTime() < deadline, "the watchdog outlived its agent");
                Thread.sleep(10);
            }
        });
        System.exit(t.finish());
    }

    /** Runs {@code body} on the main thread and waits until it returns. */
    private static void onMain(Handler handler, Runnable body) throws InterruptedException {
        CountDownLatch done = new CountDownLatch(1);
        handler.post(() -> {
            body.run();
            done.countDown();
        });
        done.await();
    }

    /** Whether the core's watchdog thread runs: by its OS name (cut to 15 bytes), as a native
     * thread the JVM may know by another. */
    private static boolean watchdogAlive() throws IOException {
        File[] tasks = new File("/proc/self/task").listFiles();
        TestRunner.check(tasks != null && tasks.length > 0, "no /proc/self/task");
        for (File task : tasks) {
            try {
                String name = new String(Files.readAllBytes(new File(task, "comm").toPath()), StandardCharsets.UTF_8);
                if (name.trim().equals("rum-hang-watchd")) {
                    return true;
                }
            } catch (IOException ended) {
                // The thread ended while listed.
            }
        }
        return false;
    }

    static void startupPay(long ms) {
        block(ms);
    }

    static void slowPay(long ms) {
        block(ms);
    }

    static void backgroundPay(long ms) {
        block(ms);
    }

    static void debuggedPay(long ms) {
        block(ms);
    }

    static void quickPay(long ms) {
        block(ms);
    }

    private static void block(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
