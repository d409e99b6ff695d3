package android.app;

/** Test double of the Android framework's {@code Activity}: an identity, nothing more. */
public class Activity {}
