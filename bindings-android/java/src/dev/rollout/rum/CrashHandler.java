package dev.rollout.rum;

/**
 * The uncaught-exception handler setup installs: writes the crash to disk synchronously (sent at
 * the next start), then hands the exception to the handler installed before (on Android, the one
 * that kills the process).
 */
final class CrashHandler implements Thread.UncaughtExceptionHandler {
    private final RumAgent agent;
    private final Thread.UncaughtExceptionHandler previous;
    private final ThreadLocal<Boolean> handling = new ThreadLocal<>();

    CrashHandler(RumAgent agent, Thread.UncaughtExceptionHandler previous) {
        this.agent = agent;
        this.previous = previous;
    }

    Thread.UncaughtExceptionHandler previous() {
        return previous;
    }

    @Override
    public void uncaughtException(Thread thread, Throwable error) {
        // A crash while recording a crash must not loop; the previous handler still runs.
        if (handling.get() == null) {
            handling.set(Boolean.TRUE);
            try {
                agent.recordCrash(error, thread.getName());
            } catch (Throwable ignored) {
                // Never let our failure replace the app's crash.
            } finally {
                handling.remove();
            }
        }
        if (previous != null) {
            previous.uncaughtException(thread, error);
        } else {
            // What the JVM prints without a handler (ThreadGroup's default would call us again).
            System.err.print("Exception in thread \"" + thread.getName() + "\" ");
            error.printStackTrace(System.err);
        }
    }
}
