package android.view;

import java.util.ArrayList;
import java.util.List;

/**
 * Test double of the Android framework's {@code View}: a window's decor view, attached and drawn
 * by the test ({@link #testAttach}, {@link #testDraw}, not in Android).
 */
public class View {
    private final ViewTreeObserver observer = new ViewTreeObserver();
    private final List<OnAttachStateChangeListener> attachListeners = new ArrayList<>();
    private boolean attached;

    /** As on Android: the observer of the tree this view is in. */
    public ViewTreeObserver getViewTreeObserver() {
        return observer;
    }

    /** As on Android (API 19): the view is in a window. */
    public boolean isAttachedToWindow() {
        return attached;
    }

    /** As on Android (API 12). */
    public void addOnAttachStateChangeListener(OnAttachStateChangeListener listener) {
        attachListeners.add(listener);
    }

    /** As on Android (API 12). */
    public void removeOnAttachStateChangeListener(OnAttachStateChangeListener listener) {
        attachListeners.remove(listener);
    }

    /**
     * Not in Android: the window is added, as after the activity resumed. Before Android 8 (API
     * 26) the draw listeners added to a view not yet in a window are lost here, as on Android.
     */
    public void testAttach() {
        if (!attached) {
            attached = true;
            if (android.os.Build.VERSION.SDK_INT < 26) {
                observer.testForget();
            }
            for (OnAttachStateChangeListener listener : new ArrayList<>(attachListeners)) {
                listener.onViewAttachedToWindow(this);
            }
        }
    }

    /** Not in Android: a frame draws the window (attaching it first, as Android would). */
    public void testDraw() {
        testAttach();
        observer.dispatchOnDraw();
    }

    /** As on Android: told when the view is attached to or detached from a window. */
    public interface OnAttachStateChangeListener {
        /** As on Android. */
        void onViewAttachedToWindow(View v);

        /** As on Android. */
        void onViewDetachedFromWindow(View v);
    }
}
