package capmoe.runtime;

import capmoe.routing.Routing;
import capmoe.runtime.moe.Combine;
import capmoe.runtime.moe.Dispatch;
import capmoe.runtime.moe.ExpertStage;

/**
 * The default executor, the {@link capmoe.runtime.moe} pipeline in one process: Dispatch (sort
 * the kept pairs by expert), then per expert ascending the Experts stage (gather its rows, one
 * grouped matmul) and its part of Combine. Experts run one after another; each matmul is
 * parallel over cores.
 */
public final class LocalExpertExecutor implements ExpertExecutor {

    @Override
    public void run(int layer, Experts experts, float[] x, Routing routing, float[] out) {
        int h = experts.hidden();
        Dispatch d = Dispatch.sort(routing, experts.count());
        // scratch [max rows of an expert x h]: one expert's gathered inputs and its outputs
        int max = d.maxRows();
        float[] in = new float[max * h];
        float[] y = new float[max * h];
        for (int e = 0; e < d.experts(); e++) {
            if (d.rows(e) == 0) continue;
            ExpertStage.apply(experts, d, e, x, in, y);
            Combine.expert(d, e, y, 0, out, h);
        }
    }
}
