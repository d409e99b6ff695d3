package dev.rollout.rum;

/** A failure inside the agent that is not the caller's fault (bad arguments throw IllegalArgumentException). */
public class RumException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** Creates the exception; thrown by the native library. */
    public RumException(String message) {
        super(message);
    }
}
