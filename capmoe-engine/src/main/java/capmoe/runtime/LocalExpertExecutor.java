package capmoe.runtime;

import capmoe.routing.Routing;
import capmoe.runtime.moe.Combine;
import capmoe.runtime.moe.Dispatch;
import capmoe.runtime.moe.ExpertStage;

/**
 * The default executor, the {@link capmoe.runtime.moe} pipeline in one process: Dispatch (sort
 * the kept pairs by expert), the Experts stage over all experts at once ({@link Experts#runAll}:
 * grouped GEMMs parallel over (expert, tile) pairs) into a slot-order buffer, then Combine.
 */
public final class LocalExpertExecutor implements ExpertExecutor {

    @Override
    public void run(int layer, Experts experts, float[] x, Routing routing, float[] out) {
        int h = experts.hidden();
        Dispatch d = Dispatch.sort(routing, experts.count());
        float[] y = new float[d.pairs() * h];       // [P x h] expert outputs in slot order
        ExpertStage.run(experts, d, java.util.stream.IntStream.range(0, experts.count()).toArray(), x, y);
        Combine.all(d, y, out, h);
    }
}
