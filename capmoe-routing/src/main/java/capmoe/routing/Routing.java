package capmoe.routing;

/**
 * The kept (token, expert) pairs after gating and a capacity policy, in CSR form by token:
 * token t's pairs are indices {@code offsets[t] .. offsets[t+1]-1} of {@code expertIds} and
 * {@code weights}, experts ascending. A token may keep 0 experts (the residual carries it) or,
 * under Expanded Drop, more than top_k. One from {@link Router#routeReusing} is its Router's own,
 * refilled by its next such call (the ownership is explained there).
 */
public record Routing(int tokens, int experts, int[] offsets, int[] expertIds, float[] weights,
                      RoutingStats stats) {

    /** Number of kept pairs of token t. */
    public int keptCount(int token) { return offsets[token + 1] - offsets[token]; }

    /** Total kept pairs. */
    public int keptPairs() { return offsets[tokens]; }
}
