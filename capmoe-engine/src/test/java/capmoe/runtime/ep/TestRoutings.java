package capmoe.runtime.ep;

import capmoe.routing.Routing;
import capmoe.runtime.Experts;

import java.util.Arrays;
import java.util.SplittableRandom;

/** Hand-made routings (CSR by token, experts ascending) and the reference MoE combine. */
final class TestRoutings {
    private TestRoutings() { }

    /** Each token picks k distinct experts; expert e is chosen with probability proportional to bias[e]. */
    static Routing random(int tokens, int experts, int k, double[] bias, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] offsets = new int[tokens + 1];
        int[] ids = new int[tokens * k];
        float[] w = new float[tokens * k];
        for (int t = 0; t < tokens; t++) {
            boolean[] taken = new boolean[experts];
            int[] pick = new int[k];
            for (int j = 0; j < k; j++) {
                double total = 0;
                for (int e = 0; e < experts; e++) if (!taken[e]) total += bias[e];
                double u = r.nextDouble() * total;
                int chosen = -1;
                for (int e = 0; e < experts; e++) {
                    if (taken[e]) continue;
                    chosen = e;
                    u -= bias[e];
                    if (u < 0) break;
                }
                taken[chosen] = true;
                pick[j] = chosen;
            }
            Arrays.sort(pick);
            for (int j = 0; j < k; j++) {
                ids[t * k + j] = pick[j];
                w[t * k + j] = (float) r.nextDouble(0.05, 0.5);
            }
            offsets[t + 1] = (t + 1) * k;
        }
        return new Routing(tokens, experts, offsets, ids, w, null);
    }

    static double[] uniform(int experts) {
        double[] b = new double[experts];
        Arrays.fill(b, 1);
        return b;
    }

    static float[] activations(int tokens, int hidden, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[tokens * hidden];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        return x;
    }

    /** The definition: out[t] += w * expert(x[t]) for each kept pair, in the token's (ascending) expert order. */
    static float[] reference(Experts experts, float[] x, Routing routing) {
        int h = experts.hidden();
        float[] out = new float[routing.tokens() * h];
        float[] row = new float[h];
        float[] y = new float[h];
        for (int t = 0; t < routing.tokens(); t++) {
            System.arraycopy(x, t * h, row, 0, h);
            for (int p = routing.offsets()[t]; p < routing.offsets()[t + 1]; p++) {
                experts.apply(routing.expertIds()[p], row, y, 1);
                for (int c = 0; c < h; c++) out[t * h + c] += routing.weights()[p] * y[c];
            }
        }
        return out;
    }
}
