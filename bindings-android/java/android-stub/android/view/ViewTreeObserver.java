package android.view;

import java.util.ArrayList;
import java.util.List;

/**
 * Test double of the Android framework's {@code ViewTreeObserver}: draw listeners, told when the
 * test draws the view ({@link View#testDraw}, not in Android). As on Android, a view's observer
 * before it is in a window is a temporary one, merged into the window's at attach and then dead:
 * adding to or removing from a dead one throws.
 */
public final class ViewTreeObserver {
    private final List<OnDrawListener> drawListeners = new ArrayList<>();
    private boolean dispatching;
    private boolean alive = true;

    ViewTreeObserver() {}

    /** As on Android (API 16): {@code victim} hears every draw of the tree from now on. */
    public void addOnDrawListener(OnDrawListener victim) {
        checkIsAlive();
        if (dispatching) {
            throw new IllegalStateException("Cannot call addOnDrawListener inside of onDraw");
        }
        drawListeners.add(victim);
    }

    /** As on Android (API 16; apps targeting 26 or later get the throw inside {@code onDraw}). */
    public void removeOnDrawListener(OnDrawListener victim) {
        checkIsAlive();
        if (dispatching) {
            throw new IllegalStateException("Cannot call removeOnDrawListener inside of onDraw");
        }
        drawListeners.remove(victim);
    }

    /** As on Android: false once merged into a window's observer. */
    public boolean isAlive() {
        return alive;
    }

    private void checkIsAlive() {
        if (!alive) {
            throw new IllegalStateException(
                    "This ViewTreeObserver is not alive, call getViewTreeObserver() again");
        }
    }

    /** As Android's attach does: takes {@code temporary}'s draw listeners (from API 26) and kills it. */
    void merge(ViewTreeObserver temporary, boolean drawListenersToo) {
        if (drawListenersToo) {
            drawListeners.addAll(temporary.drawListeners);
        }
        temporary.alive = false;
    }

    int listenerCount() {
        return drawListeners.size();
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
