package capmoe.runtime.dist;

import java.util.Locale;

/**
 * Which tokens a capacity policy counts when the batch is split across ranks.
 * <ul>
 *   <li>{@link #GLOBAL} (default; the paper's and the official code's semantics): capacity
 *       {@code C = ceil(γ·k·T/E)} over the whole global batch of T tokens. Ranks first gather
 *       every rank's router logits (in global token order), so each rank computes the same
 *       decisions as one process would; only kept pairs then travel.</li>
 *   <li>{@link #LOCAL}: each rank applies the policy to its own T_rank tokens alone,
 *       {@code C_local = ceil(γ·k·T_rank/E)}, before dispatch, with no extra exchange (as
 *       Megatron-style systems and the paper's speed runs apply capacity).</li>
 * </ul>
 */
public enum CapacityScope {
    GLOBAL, LOCAL;

    /** The flag value: {@code global} or {@code local}. */
    public String label() { return name().toLowerCase(Locale.ROOT); }

    /** Parses {@code global} / {@code local}; anything else is an error naming the flag. */
    public static CapacityScope parse(String s) {
        for (CapacityScope c : values()) if (c.label().equals(s)) return c;
        throw new IllegalArgumentException("--capacity-scope: '" + s + "' is not one of global, local");
    }
}
