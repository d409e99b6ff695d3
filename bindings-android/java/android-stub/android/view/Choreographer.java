package android.view;

import java.util.ArrayList;
import java.util.List;

/**
 * Test double of the Android framework's {@code Choreographer}: frame callbacks, called when the
 * test draws a frame ({@link #testFrame}, not in Android).
 */
public final class Choreographer {
    private static final Choreographer MAIN = new Choreographer();

    private final List<FrameCallback> callbacks = new ArrayList<>();

    private Choreographer() {}

    /** As on Android: the calling (here, the main) thread's choreographer. */
    public static Choreographer getInstance() {
        return MAIN;
    }

    /** As on Android: {@code callback} runs once, at the start of the next frame. */
    public void postFrameCallback(FrameCallback callback) {
        callbacks.add(callback);
    }

    /** Not in Android: the next frame, which runs the callbacks posted before it. */
    public void testFrame() {
        List<FrameCallback> due = new ArrayList<>(callbacks);
        callbacks.clear();
        long now = System.nanoTime();
        for (FrameCallback callback : due) {
            callback.doFrame(now);
        }
    }

    /** As on Android: called at the start of a frame. */
    public interface FrameCallback {
        /** As on Android: the frame's start time, in {@link System#nanoTime()} nanoseconds. */
        void doFrame(long frameTimeNanos);
    }
}
