package android.app;

import android.view.View;
import android.view.Window;

/** Test double of the Android framework's {@code Activity}: its window, finishing or remade. */
public class Activity {
    /** Not in Android: what {@link #isChangingConfigurations} answers. */
    public boolean testChangingConfigurations;
    /** Not in Android: what {@link #isFinishing} answers. */
    public boolean testFinishing;

    private View decor;
    private final Window window = new Window() {
        @Override
        public View getDecorView() {
            if (decor == null) {
                decor = new View();
            }
            return decor;
        }

        @Override
        public View peekDecorView() {
            return decor;
        }
    };

    /** As on Android: the activity's window. */
    public Window getWindow() {
        return window;
    }

    /** As on Android: {@code finish()} was called, or the activity is finishing otherwise. */
    public boolean isFinishing() {
        return testFinishing;
    }

    /** As on Android (API 11): the activity is being destroyed to be made again (a rotation). */
    public boolean isChangingConfigurations() {
        return testChangingConfigurations;
    }
}
