package dev.rollout.rum;

/**
 * Tracks the time from the app's start with no start configured (args: collector URL, SDK key):
 * run with the Android stand-in for {@code android.os.Process} on the classpath, the binding
 * counts from Android's start of the process (3 s before, in the stand-in).
 */
public final class AppStartApp {
    private AppStartApp() {}

    /** Sets up a memory-only agent, tracks {@code timing.app_start}, flushes and shuts down. */
    public static void main(String[] args) {
        TestRunner t = new TestRunner();
        t.test("time from start without a configured start", () -> {
            RumAgent agent = RumAgent.setup(RumConfig.builder(args[1], args[0]).build());
            agent.identify("java-app-start-user");
            agent.trackTimeFromStart("app_start");
            TestRunner.check(agent.flush(15_000), "flush timed out");
            TestRunner.check(agent.shutdown(), "shutdown lost data");
        });
        System.exit(t.finish());
    }
}
