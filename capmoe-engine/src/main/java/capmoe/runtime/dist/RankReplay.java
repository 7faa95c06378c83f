package capmoe.runtime.dist;

import capmoe.routing.Placement;
import capmoe.runtime.ep.EpMode;
import capmoe.runtime.ep.EpReplay;
import capmoe.runtime.ep.LayerTiming;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * {@link EpReplay} over the ranks of an MPI job: the same interleaved, repeated replay of recorded
 * MoE layer calls, but every call runs through {@link DistributedMoe} over the real processes
 * (dispatch all-to-alls, each rank's own experts, the straggler wait, the combine all-to-all), so
 * an evaluation's EP speedup ({@code eval --ep}, {@code demo} under {@code mpirun}) is measured
 * over the ranks on exactly the evaluated workload.
 *
 * <p>Each rank recorded its own part of every call (its tokens' rows and routing slice, through
 * an {@link EpReplay.Recorder} around the rank's {@link DistributedMoe}); MoE layers are
 * collective, so every rank holds the same calls in the same order. Steps of {@link #time}:
 * <ol>
 *   <li>check that every policy recorded the same layers ({@link EpReplay#alignedCalls}) and that
 *       every rank recorded as many calls (an allgather of the count);</li>
 *   <li>for each repeat (warm-up passes first, not kept), each call, each policy in an order
 *       rotated by one per call and repeat ({@link EpReplay#time}'s order): run the call's
 *       Dispatch → Experts → Wait → Combine over the ranks (no Router: the routing is recorded)
 *       and keep this rank's {@link MoeTiming};</li>
 *   <li>allgather every rank's timings ({@link MoeTiming#gather}) and turn each call into a
 *       {@link LayerTiming} in {@link EpMode#PARALLEL} form: wall = the slowest rank's dispatch +
 *       experts + wait + combine (measured, all-to-alls included, nothing modelled), device time =
 *       each rank's experts, device pairs = rows each rank's experts computed.</li>
 * </ol>
 * Every rank returns the same timings.
 */
public final class RankReplay {
    private RankReplay() { }

    /**
     * Replays each policy's recorded calls over the ranks of {@code comm} (collective).
     *
     * @param placement the ranks' expert placement (the one the calls were recorded under)
     * @param wire      how hidden rows travel (the one the calls were recorded under)
     * @param repeats   measured passes (>= 1); the speedup is their median
     * @param warmup    unmeasured passes before them
     */
    public static List<EpReplay.Timings> time(List<List<EpReplay.Call>> perPolicy, Communicator comm, Placement placement,
                                              Wire wire, int repeats, int warmup, EpReplay.Progress progress) {
        if (repeats < 1 || warmup < 0) throw new IllegalArgumentException("repeats must be >= 1 and warm-up >= 0 (got "
                + repeats + ", " + warmup + ")");
        int policies = perPolicy.size();
        int calls = EpReplay.alignedCalls(perPolicy);
        int[] callsOf = new int[comm.size()];
        comm.allgather(calls, callsOf);
        for (int q = 0; q < callsOf.length; q++) {
            if (callsOf[q] != calls) {
                throw new IllegalStateException("rank " + q + " recorded " + callsOf[q] + " MoE layer calls per policy, rank "
                        + comm.rank() + " " + calls + ": the ranks did not run the same evaluation");
            }
        }
        List<MoeTiming> own = new ArrayList<>(policies * calls * repeats);
        MoeTiming[] last = new MoeTiming[1];
        DistributedMoe moe = new DistributedMoe(comm, placement, CapacityScope.GLOBAL, wire, t -> last[0] = t);
        float[] out = new float[0];
        for (int r = -warmup; r < repeats; r++) {
            for (int c = 0; c < calls; c++) {
                for (int i = 0; i < policies; i++) {
                    int p = Math.floorMod(i + r + c, policies);
                    EpReplay.Call call = perPolicy.get(p).get(c);
                    int n = call.routing().tokens() * call.experts().hidden();
                    if (out.length < n) out = new float[n];
                    Arrays.fill(out, 0, n, 0f);
                    moe.run(call.layer(), call.experts(), call.x(), call.routing(), out);
                    if (r >= 0) own.add(last[0]);
                }
            }
            progress.update(r + warmup + 1, repeats + warmup);
        }
        List<List<MoeTiming>> all = MoeTiming.gather(comm, own);
        LayerTiming[][][] t = new LayerTiming[policies][calls][repeats];
        int k = 0;
        for (int r = 0; r < repeats; r++) {
            for (int c = 0; c < calls; c++) {
                for (int i = 0; i < policies; i++) {
                    t[Math.floorMod(i + r + c, policies)][c][r] = layerTiming(all.get(k++));
                }
            }
        }
        List<EpReplay.Timings> result = new ArrayList<>(policies);
        for (int p = 0; p < policies; p++) result.add(new EpReplay.Timings(t[p]));
        return result;
    }

    /** One call over all ranks as the expert-parallel runtime's record (see the class comment, step 3). */
    static LayerTiming layerTiming(List<MoeTiming> ranks) {
        int d = ranks.size(), tokens = 0;
        long[] device = new long[d];
        int[] pairs = new int[d];
        long wall = 0, bytes = 0;
        for (MoeTiming m : ranks) {
            device[m.rank()] = m.expertNs();
            pairs[m.rank()] = m.rowsReceived();
            wall = Math.max(wall, m.totalNs() - m.routerNs());
            bytes += m.bytesSent();
            tokens += m.tokens();
        }
        return new LayerTiming(ranks.getFirst().layer(), EpMode.PARALLEL, tokens, device, wall, pairs, bytes, 0);
    }
}
