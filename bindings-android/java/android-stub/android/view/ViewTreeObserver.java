package android.view;

import java.util.ArrayList;
import java.util.List;

/**
 * Test double of the Android framework's {@code ViewTreeObserver}: draw listeners, told when the
 * test draws the view ({@link View#testDraw}, not in Android).
 */
public final class ViewTreeObserver {
    private final List<OnDrawListener> drawListeners = new ArrayList<>();
    private boolean dispatching;

    ViewTreeObserver() {}

    /** As on Android (API 16): {@code victim} hears every draw of the tree from now on. */
    public void addOnDrawListener(OnDrawListener victim) {
        if (dispatching) {
            throw new IllegalStateException("Cannot call addOnDrawListener inside of onDraw");
        }
        drawListeners.add(victim);
    }

    /** As on Android (API 16), which throws when called from a listener's {@code onDraw}. */
    public void removeOnDrawListener(OnDrawListener victim) {
        if (dispatching) {
            throw new IllegalStateException("Cannot call removeOnDrawListener inside of onDraw");
        }
        drawListeners.remove(victim);
    }

    /** As on Android: this observer is still in use (here always). */
    public boolean isAlive() {
        return true;
    }

    void testForget() {
        drawListeners.clear();
    }

    void dispatchOnDraw() {
        dispatching = true;
        try {
            for (OnDrawListener listener : new ArrayList<>(drawListeners)) {
                listener.onDraw();
            }
        } finally {
            dispatching = false;
        }
    }

    /** As on Android: told when the view tree is about to be drawn. */
    public interface OnDrawListener {
        /** As on Android. */
        void onDraw();
    }
}
