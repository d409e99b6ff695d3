package android.os;

/** Test double of the Android framework's {@code Debug}: only what the binding calls. */
public final class Debug {
    private Debug() {}

    /** As on Android: whether a debugger is attached. Here {@code -Dandroid.stub.debugger}, read at each call. */
    public static boolean isDebuggerConnected() {
        return Boolean.getBoolean("android.stub.debugger");
    }
}
