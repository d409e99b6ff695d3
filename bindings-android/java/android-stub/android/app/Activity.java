package android.app;

/** Test double of the Android framework's {@code Activity}: an identity and its config changes. */
public class Activity {
    /** Not in Android: what {@link #isChangingConfigurations} answers. */
    public boolean testChangingConfigurations;

    /** As on Android (API 11): the activity is being destroyed to be made again (a rotation). */
    public boolean isChangingConfigurations() {
        return testChangingConfigurations;
    }
}
