package android.os;

import java.util.ArrayDeque;

/**
 * Test double of the Android framework's {@code Looper}: the main thread's message queue, run
 * by the test ({@link #testRunQueued}, not in Android) where Android's loop would.
 */
public final class Looper {
    private static final Looper MAIN = new Looper();

    final ArrayDeque<Runnable> queue = new ArrayDeque<>();

    private Looper() {}

    /** As on Android: the main thread's looper. */
    public static Looper getMainLooper() {
        return MAIN;
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
}
