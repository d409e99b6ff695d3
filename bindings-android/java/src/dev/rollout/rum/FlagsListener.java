package dev.rollout.rum;

import java.util.List;

/**
 * Told of each change of the flag definitions after it was added with
 * {@link RumAgent#addFlagsListener}, so the app can re-render what a changed (for example killed)
 * flag shows. Called on the agent's listener thread, one update at a time, in order, and not
 * once removed; an exception or error thrown here (but a VirtualMachineError) is logged and stops
 * nothing.
 */
public interface FlagsListener {
    /**
     * @param version the flag set's version after the change
     * @param flags sorted keys of the flags whose treatments may have changed: added, changed or
     *     archived; using a changed segment; depending on any of those
     */
    void onFlagsUpdated(long version, List<String> flags);
}
