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
    /** Per calling thread: y [P x h], the expert outputs in slot order, grown as needed. */
    private final ThreadLocal<float[]> outputs = ThreadLocal.withInitial(() -> new float[0]);
    /** Per calling thread: the layer call's Dispatch, re-sorted in place by each call. */
    private final ThreadLocal<Dispatch> dispatch = new ThreadLocal<>();
    /** Per calling thread: the expert list 0..E-1 (all of them run here). */
    private final ThreadLocal<int[]> all = ThreadLocal.withInitial(() -> new int[0]);

    @Override
    public void run(int layer, Experts experts, float[] x, Routing routing, float[] out) {
        int h = experts.hidden(), e = experts.count();
        Dispatch d = Dispatch.sort(routing, e, dispatch.get(), experts.combineByWeight());
        dispatch.set(d);
        PhaseClock.lap(PhaseClock.Phase.DISPATCH);
        float[] y = outputs.get();
        if (y.length < d.pairs() * h) outputs.set(y = new float[Math.max(d.pairs() * h, y.length + y.length / 2)]);
        int[] list = all.get();
        if (list.length != e) all.set(list = java.util.stream.IntStream.range(0, e).toArray());
        ExpertStage.run(experts, d, list, x, y);
        PhaseClock.lap(PhaseClock.Phase.EXPERTS);
        Combine.all(d, y, out, h);
        PhaseClock.lap(PhaseClock.Phase.COMBINE);
    }
}
