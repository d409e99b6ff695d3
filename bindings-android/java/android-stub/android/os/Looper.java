package android.os;

import java.util.concurrent.LinkedBlockingDeque;

/**
 * Test double of the Android framework's {@code Looper}: the main thread's message queue, run
 * by the test ({@link #testRunQueued} or {@link #testLoop}, not in Android) where Android's loop
 * would.
 */
public final class Looper {
    /** The thread that first used the looper: the test's main thread until one loops. */
    private static final Thread FIRST = Thread.currentThread();
    private static final Looper MAIN = new Looper();

    final LinkedBlockingDeque<Runnable> queue = new LinkedBlockingDeque<>();
    private volatile Thread thread;

    private Looper() {}

    /** As on Android: the main thread's looper. */
    public static Looper getMainLooper() {
        return MAIN;
    }

    /** As on Android: the thread the looper runs on ({@link #testLoop}'s, else the first user's). */
    public Thread getThread() {
        Thread looping = thread;
        return looping != null ? looping : FIRST;
    }

    /** Not in Android: runs the first queued message, as the main thread's loop would. */
    public void testRunOne() {
        Runnable message = queue.pollFirst();
        if (message != null) {
            message.run();
        }
    }

    /** Not in Android: runs the queued messages in order, as the main thread's loop would. */
    public void testRunQueued() {
        Runnable message;
        while ((message = queue.pollFirst()) != null) {
            message.run();
        }
    }

    /**
     * Not in Android: makes the calling thread the main thread and runs messages as they come, as
     * Android's loop does, until the thread is interrupted.
     */
    public void testLoop() {
        thread = Thread.currentThread();
        try {
            while (true) {
                queue.takeFirst().run();
            }
        } catch (InterruptedException stopped) {
            Thread.currentThread().interrupt();
        }
    }
}
