package android.view;

/** Test double of the Android framework's {@code Window}: only its decor view. */
public abstract class Window {
    /** As on Android: the window's top-level view, made (with the window's features) if it is not yet. */
    public abstract View getDecorView();

    /** As on Android: the window's top-level view, or null if none was made yet. */
    public abstract View peekDecorView();
}
