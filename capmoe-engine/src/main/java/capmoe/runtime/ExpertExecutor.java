package capmoe.runtime;

import capmoe.routing.Routing;

/**
 * Runs one MoE layer's routed experts for a batch of tokens. The local executor groups the
 * tokens by expert and runs each group as one matmul; the expert-parallel runtime does the same
 * per device and measures each device's time.
 */
public interface ExpertExecutor {
    /** out[t] += sum over token t's kept pairs of weight * expert(x[t]). x, out: [tokens x hidden]. */
    void run(int layer, Experts experts, float[] x, Routing routing, float[] out);
}
