package dev.rollout.rum;

import java.util.ArrayList;
import java.util.List;

/**
 * A thread dies of OutOfMemoryError (run with a small heap; args: collector URL, SDK key, data
 * dir). The agent's crash handler then runs with the heap exhausted, where even its first
 * allocation fails: the app's own handler, installed before setup, must still run.
 */
public final class OomApp {
    /** Exit status when the chained handler ran. */
    static final int CHAINED_OK = 43;

    private static final List<long[]> HOLD = new ArrayList<>();

    private OomApp() {}

    /** Sets up, exhausts the heap on a worker thread, and never returns normally. */
    public static void main(String[] args) throws Exception {
        Thread.setDefaultUncaughtExceptionHandler((thread, error) -> {
            synchronized (HOLD) {
                HOLD.clear();
            }
            TestRunner t = new TestRunner();
            t.test("the previous handler runs after an OutOfMemoryError", () -> {
                System.out.println("previous handler saw: " + thread.getName() + ": " + error);
                TestRunner.check(error instanceof OutOfMemoryError, "an OutOfMemoryError");
            });
            Runtime.getRuntime().halt(t.finish() == 0 ? CHAINED_OK : 1);
        });
        RumAgent.setup(RumConfig.builder(args[1], args[0]).dataDir(args[2]).build());
        Thread worker = new Thread(OomApp::exhaust, "oom-worker");
        worker.start();
        worker.join();
        System.out.println("FAIL the worker survived");
        System.out.println("0 passed, 1 failed");
        System.exit(1);
    }

    private static void exhaust() {
        while (true) {
            synchronized (HOLD) {
                HOLD.add(new long[1 << 14]);
            }
        }
    }
}
