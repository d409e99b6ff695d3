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
        // Everything of ours is inside the try: with the heap exhausted (OutOfMemoryError) even
        // the ThreadLocal's first use allocates, and the previous handler (on Android, the one
        // that ends the process) must run whatever happens here.
        try {
            record(thread, error);
        } catch (Throwable ignored) {
            // Never let our failure replace the app's crash.
        } finally {
            handOn(thread, error);
        }
    }

    private void record(Thread thread, Throwable error) {
        // A crash while recording a crash must not loop.
        if (handling.get() != null) {
            return;
        }
        handling.set(Boolean.TRUE);
        try {
            agent.recordCrash(error, thread.getName());
        } finally {
            handling.remove();
        }
    }

    private void handOn(Thread thread, Throwable error) {
        if (previous != null) {
            previous.uncaughtException(thread, error);
            return;
        }
        try {
            // What the JVM prints without a handler (ThreadGroup's default would call us again).
            System.err.print("Exception in thread \"" + thread.getName() + "\" ");
            error.printStackTrace(System.err);
        } catch (Throwable ignored) {
            // Nothing left to print with.
        }
    }
}
