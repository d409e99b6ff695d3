package dev.rollout.rum;

/** The result of evaluating a flag: treatment, why (label), the treatment's config and the flag version. */
public final class Evaluation {
    /** Treatment name ("control" when the flag is unknown or the agent is unavailable). */
    public final String treatment;
    /** Why this treatment: a rule name or a label such as "default rule", "killed", "definition not found", "definition not supported". */
    public final String label;
    /** The treatment's JSON config, or null. */
    public final String config;
    /** Version of the flag definition used (0 when unknown). */
    public final long version;

    Evaluation(String treatment, String label, String config, long version) {
        this.treatment = treatment;
        this.label = label;
        this.config = config;
        this.version = version;
    }

    static Evaluation control(String label) {
        return new Evaluation(RumAgent.CONTROL, label, null, 0);
    }

    @Override
    public String toString() {
        return treatment + " (" + label + ", v" + version + ")";
    }
}
