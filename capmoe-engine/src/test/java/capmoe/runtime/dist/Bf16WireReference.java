package capmoe.runtime.dist;

import capmoe.kernels.Bf16;
import capmoe.routing.Routing;
import capmoe.runtime.ExpertExecutor;
import capmoe.runtime.Experts;
import capmoe.runtime.moe.Combine;
import capmoe.runtime.moe.Dispatch;

/**
 * One process rounding where {@link Wire#BF16} rounds: each expert's gathered input rows to
 * bfloat16 before the expert, its output rows to bfloat16 before the combine; otherwise the
 * single-process pipeline (Dispatch, experts ascending, Combine). The MPI run with bf16 rows must
 * equal it bit for bit.
 */
final class Bf16WireReference implements ExpertExecutor {

    @Override
    public void run(int layer, Experts experts, float[] x, Routing routing, float[] out) {
        int h = experts.hidden();
        Dispatch d = Dispatch.sort(routing, experts.count());
        for (int e = 0; e < experts.count(); e++) {
            int rows = d.rows(e);
            if (rows == 0) continue;
            float[] in = new float[rows * h], y = new float[rows * h];
            d.gather(e, x, h, in);
            round(in);
            experts.apply(e, in, y, rows);
            round(y);
            Combine.expert(d, e, y, 0, out, h);
        }
    }

    private static void round(float[] a) {
        for (int i = 0; i < a.length; i++) a[i] = Bf16.round(a[i]);
    }
}
