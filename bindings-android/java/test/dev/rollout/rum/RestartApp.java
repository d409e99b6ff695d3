package dev.rollout.rum;

/** The next start after a crash (args: collector URL, SDK key, data dir): sends the recorded crash. */
public final class RestartApp {
    private RestartApp() {}

    /** Sets up on the crashed run's data dir, flushes and shuts down. */
    public static void main(String[] args) {
        TestRunner t = new TestRunner();
        t.test("the next start delivers the crash and shuts down cleanly", () -> {
            RumAgent agent = RumAgent.setup(RumConfig.builder(args[1], args[0]).dataDir(args[2]).build());
            TestRunner.check(agent.flush(15_000), "flush timed out");
            TestRunner.check(agent.shutdown(), "shutdown lost data");
        });
        System.exit(t.finish());
    }
}
