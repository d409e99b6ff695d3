package android.view;

import java.util.ArrayList;
import java.util.List;

/**
 * Test double of the Android framework's {@code View}: a window's decor view, attached and drawn
 * by the test ({@link #testAttach}, {@link #testDraw}, not in Android). Before attach its
 * observer is a temporary one; at attach the window's observer takes its draw listeners (from
 * Android 8, API 26; earlier ones are lost, as on Android) and the temporary one dies.
 */
public class View {
    private ViewTreeObserver temporary;
    /** The window's observer while attached. */
    private ViewTreeObserver window;
    private final List<OnAttachStateChangeListener> attachListeners = new ArrayList<>();

    /** As on Android: the window's observer once attached, a temporary one before. */
    public ViewTreeObserver getViewTreeObserver() {
        if (window != null) {
            return window;
        }
        if (temporary == null) {
            temporary = new ViewTreeObserver();
        }
        return temporary;
    }

    /** As on Android (API 19): the view is in a window. */
    public boolean isAttachedToWindow() {
        return window != null;
    }

    /** As on Android (API 12). */
    public void addOnAttachStateChangeListener(OnAttachStateChangeListener listener) {
        attachListeners.add(listener);
    }

    /** As on Android (API 12). */
    public void removeOnAttachStateChangeListener(OnAttachStateChangeListener listener) {
        attachListeners.remove(listener);
    }

    /** Not in Android: the window is added and its first traversal attaches the view. */
    public void testAttach() {
        if (window != null) {
            return;
        }
        window = new ViewTreeObserver();
        if (temporary != null) {
            window.merge(temporary, android.os.Build.VERSION.SDK_INT >= 26);
            temporary = null;
        }
        for (OnAttachStateChangeListener listener : new ArrayList<>(attachListeners)) {
            listener.onViewAttachedToWindow(this);
        }
    }

    /** Not in Android: a frame draws the window (attaching it first, as Android would). */
    public void testDraw() {
        testAttach();
        window.dispatchOnDraw();
    }

    /** Not in Android: the draw listeners left on this view's observers. */
    public int testDrawListeners() {
        return (window != null ? window.listenerCount() : 0)
                + (temporary != null ? temporary.listenerCount() : 0);
    }

    /** As on Android: told when the view is attached to or detached from a window. */
    public interface OnAttachStateChangeListener {
        /** As on Android. */
        void onViewAttachedToWindow(View v);

        /** As on Android. */
        void onViewDetachedFromWindow(View v);
    }
}
