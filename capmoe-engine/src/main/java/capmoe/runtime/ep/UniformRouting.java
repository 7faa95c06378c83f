package capmoe.runtime.ep;

import capmoe.routing.Routing;

/**
 * The best case of any balancing: a routing with the call's tokens and top-k whose pairs are
 * spread evenly over the experts, token t taking experts {@code (t·k + j) mod E}, j = 0..k-1
 * (distinct since k <= E), each with weight 1/k. Every expert gets T·k/E pairs, give or take one,
 * so each device's load is its share of the mean: max/mean = 1 up to rounding. Timed beside the
 * policies, it shows what perfect balance would save on the same activations; its outputs are
 * not the model's (it is a timing row only).
 */
public final class UniformRouting {
    private UniformRouting() { }

    public static Routing of(int tokens, int experts, int topK) {
        if (topK < 1 || topK > experts) throw new IllegalArgumentException("uniform routing: top_k must be in 1.." + experts + " (got " + topK + ")");
        int[] offsets = new int[tokens + 1];
        int[] ids = new int[tokens * topK];
        float[] w = new float[tokens * topK];
        for (int t = 0; t < tokens; t++) {
            offsets[t + 1] = (t + 1) * topK;
            int first = (int) ((long) t * topK % experts);
            // experts ascending within the token, as every Routing lists them
            int n = 0;
            for (int j = 0; j < topK; j++) {
                int e = (first + j) % experts;
                if (e >= first) continue;
                ids[t * topK + n++] = e;
            }
            for (int j = 0; j < topK; j++) {
                int e = (first + j) % experts;
                if (e < first) continue;
                ids[t * topK + n++] = e;
            }
            java.util.Arrays.fill(w, t * topK, (t + 1) * topK, 1f / topK);
        }
        return new Routing(tokens, experts, offsets, ids, w, null);
    }
}
