package android.app;

import android.os.Bundle;
import java.util.ArrayList;
import java.util.List;

/**
 * Test double of the Android framework's {@code Application}: keeps the lifecycle callbacks
 * registered, which the test calls ({@link #testCallbacks}, not in Android) where Android would.
 */
public class Application {
    /** Not in Android: the callbacks registered, in order. */
    public final List<ActivityLifecycleCallbacks> testCallbacks = new ArrayList<>();

    private final ActivityManager activityManager = new ActivityManager();

    /**
     * As on Android (API 28): this process's name. Here {@code -Dandroid.stub.processName}
     * (default the main process's, {@code com.example.app}).
     */
    public static String getProcessName() {
        return System.getProperty("android.stub.processName", "com.example.app");
    }

    /** As on Android ({@code Context}'s): the system service named {@code name}; here only "activity". */
    public Object getSystemService(String name) {
        return "activity".equals(name) ? activityManager : null;
    }

    /** As on Android: {@code callback} hears every activity's lifecycle from now on. */
    public void registerActivityLifecycleCallbacks(ActivityLifecycleCallbacks callback) {
        testCallbacks.add(callback);
    }

    /** As on Android (the methods every API level has; 29 added defaulted pre/post ones). */
    public interface ActivityLifecycleCallbacks {
        void onActivityCreated(Activity activity, Bundle savedInstanceState);

        void onActivityStarted(Activity activity);

        void onActivityResumed(Activity activity);

        void onActivityPaused(Activity activity);

        void onActivityStopped(Activity activity);

        void onActivitySaveInstanceState(Activity activity, Bundle outState);

        void onActivityDestroyed(Activity activity);
    }
}
