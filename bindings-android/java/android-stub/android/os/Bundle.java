package android.os;

/** Test double of the Android framework's {@code Bundle}: passed through, never read. */
public final class Bundle {}
