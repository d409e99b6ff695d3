package dev.rollout.rum;

/** The user's consent to telemetry (see {@link RumAgent#setConsent}). */
public enum Consent {
    /** Record and send. */
    GRANTED,
    /** Record nothing (crashes included) and forget what is queued; flags still evaluate. */
    DECLINED,
    /** Not decided yet: record and keep (on disk with a data dir), send nothing until granted. */
    UNKNOWN;

    /** Its code across JNI (agent-core's {@code Consent::code}). */
    int code() {
        return ordinal();
    }

    /** The consent of a code from JNI; anything unknown is {@link #UNKNOWN}. */
    static Consent of(int code) {
        Consent[] all = values();
        return code >= 0 && code < all.length ? all[code] : UNKNOWN;
    }
}
