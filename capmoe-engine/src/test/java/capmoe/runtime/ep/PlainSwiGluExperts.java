package capmoe.runtime.ep;

import capmoe.runtime.Experts;

import java.util.SplittableRandom;

/**
 * A genuine SwiGLU expert layer in plain Java (random fp32 weights, scalar loops), so the EP
 * runtime can be tested before and independently of the engine's kernels. Each row is computed
 * on its own, so an expert's output for a row does not depend on which other rows share the call.
 * Counts calls per expert so tests can see which rows each expert was given.
 */
final class PlainSwiGluExperts implements Experts {
    final int experts;
    final int hidden;
    final int inter;
    final float[][] gate;   // [I x H] per expert
    final float[][] up;     // [I x H]
    final float[][] down;   // [H x I]

    PlainSwiGluExperts(int experts, int hidden, int inter, long seed) {
        this.experts = experts;
        this.hidden = hidden;
        this.inter = inter;
        SplittableRandom r = new SplittableRandom(seed);
        gate = new float[experts][];
        up = new float[experts][];
        down = new float[experts][];
        float s1 = (float) (1 / Math.sqrt(hidden)), s2 = (float) (1 / Math.sqrt(inter));
        for (int e = 0; e < experts; e++) {
            gate[e] = random(r, inter * hidden, s1);
            up[e] = random(r, inter * hidden, s1);
            down[e] = random(r, hidden * inter, s2);
        }
    }

    private static float[] random(SplittableRandom r, int n, float scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextDouble(-1, 1) * scale);
        return a;
    }

    @Override public int count() { return experts; }

    @Override public int hidden() { return hidden; }

    @Override
    public void apply(int expert, float[] x, float[] y, int rows) {
        float[] act = new float[inter];
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < inter; i++) {
                float g = 0, u = 0;
                for (int c = 0; c < hidden; c++) {
                    g += gate[expert][i * hidden + c] * x[r * hidden + c];
                    u += up[expert][i * hidden + c] * x[r * hidden + c];
                }
                act[i] = (float) (g / (1 + Math.exp(-g))) * u;
            }
            for (int c = 0; c < hidden; c++) {
                float s = 0;
                for (int i = 0; i < inter; i++) s += down[expert][c * inter + i] * act[i];
                y[r * hidden + c] = s;
            }
        }
    }
}
