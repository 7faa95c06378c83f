package capmoe.runtime;

import capmoe.routing.Routing;

/**
 * The default executor: groups the kept (token, expert) pairs by expert, gathers each expert's
 * rows, runs one grouped matmul per expert ({@link Experts#apply}) and scatters the weighted
 * outputs back. Experts run one after another; each matmul is parallel over cores.
 */
public final class LocalExpertExecutor implements ExpertExecutor {

    @Override
    public void run(int layer, Experts experts, float[] x, Routing routing, float[] out) {
        int h = experts.hidden();
        int e = experts.count();
        int tokens = routing.tokens();
        // counting sort of the pairs by expert (tokens stay in ascending order inside a group)
        int[] start = new int[e + 1];
        for (int p = 0; p < routing.offsets()[tokens]; p++) start[routing.expertIds()[p] + 1]++;
        for (int i = 0; i < e; i++) start[i + 1] += start[i];
        int pairs = start[e];
        int[] token = new int[pairs];
        float[] weight = new float[pairs];
        int[] fill = start.clone();
        for (int t = 0; t < tokens; t++) {
            for (int p = routing.offsets()[t]; p < routing.offsets()[t + 1]; p++) {
                int slot = fill[routing.expertIds()[p]]++;
                token[slot] = t;
                weight[slot] = routing.weights()[p];
            }
        }
        int maxRows = 0;
        for (int i = 0; i < e; i++) maxRows = Math.max(maxRows, start[i + 1] - start[i]);
        float[] in = new float[maxRows * h];
        float[] y = new float[maxRows * h];
        for (int i = 0; i < e; i++) {
            int rows = start[i + 1] - start[i];
            if (rows == 0) continue;
            for (int r = 0; r < rows; r++) System.arraycopy(x, token[start[i] + r] * h, in, r * h, h);
            experts.apply(i, in, y, rows);
            for (int r = 0; r < rows; r++) {
                float w = weight[start[i] + r];
                int o = token[start[i] + r] * h;
                for (int c = 0; c < h; c++) out[o + c] += w * y[r * h + c];
            }
        }
    }
}
