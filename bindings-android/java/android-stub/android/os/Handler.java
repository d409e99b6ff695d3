package android.os;

/** Test double of the Android framework's {@code Handler}: posts to its {@link Looper}'s queue. */
public class Handler {
    private final Looper looper;

    /** As on Android: a handler posting to {@code looper}. */
    public Handler(Looper looper) {
        this.looper = looper;
    }

    /** As on Android: queues {@code r} last. */
    public final boolean post(Runnable r) {
        looper.queue.addLast(r);
        return true;
    }

    /** As on Android: queues {@code r} first, to run before anything already queued. */
    public final boolean postAtFrontOfQueue(Runnable r) {
        looper.queue.addFirst(r);
        return true;
    }
}
