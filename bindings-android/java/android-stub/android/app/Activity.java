package android.app;

/** Test double of the Android framework's {@code Activity}: an identity, finishing or remade. */
public class Activity {
    /** Not in Android: what {@link #isChangingConfigurations} answers. */
    public boolean testChangingConfigurations;
    /** Not in Android: what {@link #isFinishing} answers. */
    public boolean testFinishing;

    /** As on Android: {@code finish()} was called, or the activity is finishing otherwise. */
    public boolean isFinishing() {
        return testFinishing;
    }

    /** As on Android (API 11): the activity is being destroyed to be made again (a rotation). */
    public boolean isChangingConfigurations() {
        return testChangingConfigurations;
    }
}
