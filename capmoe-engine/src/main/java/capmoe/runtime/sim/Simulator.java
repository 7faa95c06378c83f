package capmoe.runtime.sim;

import capmoe.routing.Gating;
import capmoe.routing.Placement;
import capmoe.routing.Policy;
import capmoe.routing.Router;
import capmoe.routing.RouterConfig;
import capmoe.routing.Routing;
import capmoe.runtime.ep.CommModel;
import capmoe.runtime.ep.Devices;
import capmoe.runtime.trace.RoutingTrace;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Replays a routing trace at other expert-parallel scales: for each device count D (contiguous
 * placement, E/D experts per device) and each policy, re-applies the policy to the recorded top-k
 * choices through the routing library and prices every layer call with a {@link CostModel}
 * (critical path = slowest device) plus the {@link CommModel} term. Speedups are against
 * {@code none} at the same D.
 *
 * <p>The trace holds only each token's top-k gate scores. To hand them back to the {@link Router}
 * they become logits whose softmax is exactly those scores on the top-k and spreads the
 * remaining mass evenly over the other experts. That keeps the top-k and the score ranking that
 * Token Drop uses; Expanded Drop's extra candidates all get that even share (their true scores are
 * not in the trace), so expanded policies are approximate here. A trace recorded with
 * norm_topk_prob has renormalised weights, which changes the ranking across tokens.
 */
public final class Simulator {

    /**
     * One (D, policy) cell.
     *
     * @param seconds         simulated EP time summed over the trace's layer calls
     * @param speedup         time of none / time of this policy, same D
     * @param bound           sum of the most loaded device's pairs under none / under this policy
     * @param maxOverMean     mean over layer calls of device max/mean load after the policy
     */
    public record Result(int devices, int expertsPerDevice, String policy, double droppedFraction,
                         double maxOverMean, double seconds, double speedup, double bound) { }

    private final RoutingTrace trace;
    private final CostModel cost;
    private final CommModel comm;
    private final int hidden;

    /** @param hidden model hidden size, for the communication term */
    public Simulator(RoutingTrace trace, CostModel cost, CommModel comm, int hidden) {
        if (!trace.header().policy().equals("none")) {
            throw new IllegalArgumentException("the trace was recorded under policy '" + trace.header().policy()
                    + "'; the simulator needs plain top-k routing (record it with policy none)");
        }
        if (trace.header().topK() < 1) throw new IllegalArgumentException("the trace header does not give top_k");
        this.trace = trace;
        this.cost = cost;
        this.comm = comm;
        this.hidden = hidden;
    }

    /** Device counts D in 1..64 dividing E with E/D in [minPerDevice, maxPerDevice], ascending. */
    public static int[] deviceCounts(int experts, int minPerDevice, int maxPerDevice) {
        List<Integer> out = new ArrayList<>();
        for (int d = 1; d <= Math.min(64, experts); d++) {
            if (experts % d == 0 && experts / d >= minPerDevice && experts / d <= maxPerDevice) out.add(d);
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    public List<Result> run(List<Policy> policies, int[] deviceCounts) {
        int e = trace.header().experts();
        RouterConfig config = new RouterConfig(e, trace.header().topK(), new Gating.Softmax(), trace.header().normalizedWeights(), 1.0);
        List<float[]> logits = new ArrayList<>();
        for (RoutingTrace.Record r : trace.records()) logits.add(logitsOf(r.routing()));
        List<Result> results = new ArrayList<>();
        for (int d : deviceCounts) {
            if (d < 1 || d > e) throw new IllegalArgumentException("device count " + d + " outside 1.." + e + " for " + e + " experts");
            Devices devices = Devices.contiguous(e, d);
            Cell none = simulate(config, new Policy.None(), devices, logits);
            for (Policy p : policies) {
                Cell c = p instanceof Policy.None ? none : simulate(config, p, devices, logits);
                results.add(new Result(d, e / d, p.label(), c.dropped(), c.maxOverMean(), c.seconds(),
                        none.seconds() / c.seconds(), c.maxDeviceLoad() == 0 ? Double.POSITIVE_INFINITY : (double) none.maxDeviceLoad() / c.maxDeviceLoad()));
            }
        }
        return results;
    }

    private record Cell(double seconds, double dropped, double maxOverMean, long maxDeviceLoad) { }

    private Cell simulate(RouterConfig config, Policy policy, Devices devices, List<float[]> logits) {
        int e = config.experts();
        Placement placement = devices.placement();
        Map<Integer, Router> routers = new HashMap<>(); // one Router per layer, as the engine does
        double seconds = 0, mm = 0;
        long before = 0, after = 0, maxLoad = 0;
        for (int i = 0; i < logits.size(); i++) {
            RoutingTrace.Record rec = trace.records().get(i);
            Router router = routers.computeIfAbsent(rec.layer(), l -> new Router(config, policy, placement, l)); // the engine's stream per layer
            Routing routing = router.route(logits.get(i), rec.routing().tokens());
            int[] rows = new int[e];
            for (int p = 0; p < routing.offsets()[routing.tokens()]; p++) rows[routing.expertIds()[p]]++;
            double crit = 0;
            int[] deviceLoad = new int[devices.count()];
            for (int d = 0; d < devices.count(); d++) {
                crit = Math.max(crit, cost.deviceSeconds(rows, devices.expertsOf()[d]));
                for (int x : devices.expertsOf()[d]) deviceLoad[d] += rows[x];
            }
            seconds += crit + comm.seconds(comm.dispatch(devices, routing.tokens(), routing.offsets(), routing.expertIds(), hidden));
            before += rec.routing().offsets()[rec.routing().tokens()];
            long kept = 0;
            int max = 0;
            for (int v : deviceLoad) {
                kept += v;
                max = Math.max(max, v);
            }
            after += kept;
            maxLoad += max;
            mm += kept == 0 ? 0 : (double) max * devices.count() / kept;
        }
        int n = logits.size();
        return new Cell(seconds, before == 0 ? 0 : 1.0 - (double) after / before, n == 0 ? 0 : mm / n, maxLoad);
    }

    /**
     * Logits whose softmax gives the recorded scores on the recorded experts and spreads the rest
     * of the probability mass evenly over the others (never above the smallest recorded score, so
     * the top-k is unchanged).
     */
    public static float[] logitsOf(Routing r) {
        int e = r.experts();
        float[] logits = new float[r.tokens() * e];
        for (int t = 0; t < r.tokens(); t++) {
            double sum = 0;
            int n = r.offsets()[t + 1] - r.offsets()[t];
            for (int p = r.offsets()[t]; p < r.offsets()[t + 1]; p++) sum += r.weights()[p];
            double rest = n == e ? 0 : (1.0 - sum) / (e - n);
            float other = rest > 0 ? (float) Math.log(rest) : -1e30f;
            java.util.Arrays.fill(logits, t * e, (t + 1) * e, other);
            for (int p = r.offsets()[t]; p < r.offsets()[t + 1]; p++) {
                logits[t * e + r.expertIds()[p]] = (float) Math.log(Math.max(r.weights()[p], 1e-30f));
            }
        }
        return logits;
    }
}
