package android.os;

/** Test double of the Android framework's {@code Build}: only what the binding reads. */
public class Build {
    /** As on Android: the running platform's version. */
    public static class VERSION {
        /**
         * As on Android, a value read at run time (not a constant javac would copy into its
         * readers): here {@code -Dandroid.stub.sdk} (default 34).
         */
        public static final int SDK_INT = Integer.getInteger("android.stub.sdk", 34);
    }
}
