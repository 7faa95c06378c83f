package capmoe.runtime.sim;

import capmoe.routing.Eplb;
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
 *
 * <p>Replication ({@code replicate@N[+POLICY]}): for each D and each MoE layer, {@link Eplb}
 * places N redundant replicas from that layer's load per expert summed over the whole trace,
 * the load the devices will run: the top-k pairs for {@code replicate@N}, the pairs POLICY keeps
 * for {@code replicate@N+POLICY} (placing for the uncapped load puts the extra slots where a
 * capacity has already removed the excess, and loses to the policy alone). The placement is
 * fitted on the calls it is then priced on (in-sample, as EPLB rebalancing on the window it serves). A
 * pair runs on the replica {@link Placement#device(int, int)} names. A device runs each expert it
 * hosts once per call (two replicas of an expert on one device are one matmul).
 */
public final class Simulator {

    /**
     * One (D, policy) cell.
     *
     * @param droppedFraction top-k pairs the policy removed / top-k pairs (the one convention of every table)
     * @param addedFraction   pairs kept outside the top-k (expanded's extra experts) / top-k pairs
     * @param seconds         simulated EP time summed over the trace's layer calls
     * @param speedup         time of none / time of this policy, same D
     * @param bound           sum of the most loaded device's pairs (with its shared-expert rows, if any) under none / under this policy
     * @param maxOverMean       mean over layer calls of device max/mean routed load after the policy
     * @param extraSlots        replication only: the most expert replicas a device holds beyond
     *                          ceil(E/D), over the layers (times one expert's weights = extra memory)
     */
    public record Result(int devices, int expertsPerDevice, String policy, double droppedFraction, double addedFraction,
                         double maxOverMean, double seconds, double speedup, double bound, int extraSlots) { }

    private final RoutingTrace trace;
    private final CostModel cost;
    private final CommModel comm;
    private final int hidden;
    private final int sharedExperts;

    /** @param hidden model hidden size, for the communication term */
    public Simulator(RoutingTrace trace, CostModel cost, CommModel comm, int hidden) {
        this(trace, cost, comm, hidden, 0);
    }

    /**
     * @param sharedExperts shared experts of the model's MoE layers, each as wide as a routed one
     *                      (DeepSeek-V2-Lite: 2). The pricing model: attention is data-parallel,
     *                      so each device holds ceil(T/D) of a call's T tokens and runs every
     *                      shared expert on its own tokens: the same {@code sharedExperts x
     *                      ceil(T/D)} rows on every device, under every policy, added to each
     *                      device's routed work (and to the loads of the bound).
     */
    public Simulator(RoutingTrace trace, CostModel cost, CommModel comm, int hidden, int sharedExperts) {
        if (sharedExperts < 0) throw new IllegalArgumentException("shared experts must be >= 0 (got " + sharedExperts + ")");
        this.sharedExperts = sharedExperts;
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
            Placement contiguous = Placement.contiguous(e, d);
            Cell none = simulate(config, new Policy.None(), layer -> contiguous, logits);
            Map<String, Map<Integer, Placement>> replicated = new HashMap<>();
            for (Policy p : policies) {
                Cell c;
                int extra = 0;
                if (p instanceof Policy.None) {
                    c = none;
                } else if (p.redundantReplicas() > 0) {
                    Map<Integer, Placement> byLayer = replicated.computeIfAbsent(p.label(), r -> eplb(config, p, d, logits));
                    c = simulate(config, p, byLayer::get, logits);
                    for (Placement pl : byLayer.values()) extra = Math.max(extra, pl.extraSlotsPerDevice());
                } else {
                    c = simulate(config, p, layer -> contiguous, logits);
                }
                results.add(new Result(d, e / d, p.label(), c.dropped(), c.added(), c.maxOverMean(), c.seconds(),
                        none.seconds() / c.seconds(), c.maxDeviceLoad() == 0 ? Double.POSITIVE_INFINITY : (double) none.maxDeviceLoad() / c.maxDeviceLoad(),
                        extra));
            }
        }
        return results;
    }

    /**
     * EPLB placement of each layer over D devices for a {@link Policy.Replicated} policy: from the
     * layer's top-k load in the whole trace, or, with a capacity policy, from the pairs it keeps
     * (routed on the contiguous placement of D devices).
     */
    private Map<Integer, Placement> eplb(RouterConfig config, Policy replicated, int devices, List<float[]> logits) {
        Map<Integer, long[]> load = keptLoads(trace, config, replicated.capacityPolicy(), Placement.contiguous(config.experts(), devices), logits);
        Map<Integer, Placement> out = new HashMap<>();
        load.forEach((layer, l) -> out.put(layer, Eplb.place(l, replicated.redundantReplicas(), devices)));
        return out;
    }

    /**
     * Pairs per expert that {@code policy} keeps, summed over each layer's records (the trace's
     * top-k when the policy is none; else the records re-routed under it over {@code placement}).
     *
     * @param logits the records' logits ({@link #logitsOf}), or null to compute them
     */
    public static Map<Integer, long[]> keptLoads(RoutingTrace trace, RouterConfig config, Policy policy, Placement placement, List<float[]> logits) {
        if (policy instanceof Policy.None) return layerLoads(trace);
        Map<Integer, long[]> load = new java.util.TreeMap<>();
        Map<Integer, Router> routers = new HashMap<>();
        for (int i = 0; i < trace.records().size(); i++) {
            RoutingTrace.Record rec = trace.records().get(i);
            Router router = routers.computeIfAbsent(rec.layer(), l -> new Router(config, policy, placement, l));
            float[] lg = logits != null ? logits.get(i) : logitsOf(rec.routing());
            int[] kept = router.route(lg, rec.routing().tokens()).stats().loadAfter();
            long[] l = load.computeIfAbsent(rec.layer(), x -> new long[config.experts()]);
            for (int e = 0; e < kept.length; e++) l[e] += kept[e];
        }
        return load;
    }

    /** The softmax top-k router a plain trace was recorded with (its header's E, k and renormalisation). */
    public static RouterConfig routerOf(RoutingTrace trace) {
        return new RouterConfig(trace.header().experts(), trace.header().topK(), new Gating.Softmax(), trace.header().normalizedWeights(), 1.0);
    }

    /** Top-k pairs per expert, summed over each layer's records. */
    public static Map<Integer, long[]> layerLoads(RoutingTrace trace) {
        Map<Integer, long[]> load = new java.util.TreeMap<>();
        int e = trace.header().experts();
        for (RoutingTrace.Record r : trace.records()) {
            long[] l = load.computeIfAbsent(r.layer(), x -> new long[e]);
            Routing routing = r.routing();
            for (int p = 0; p < routing.offsets()[routing.tokens()]; p++) l[routing.expertIds()[p]]++;
        }
        return load;
    }

    private record Cell(double seconds, double dropped, double added, double maxOverMean, long maxDeviceLoad) { }

    private Cell simulate(RouterConfig config, Policy policy, java.util.function.IntFunction<Placement> placementOf, List<float[]> logits) {
        int e = config.experts();
        Map<Integer, Router> routers = new HashMap<>(); // one Router per layer, as the engine does
        Map<Integer, Devices> devicesOf = new HashMap<>();
        double seconds = 0, mm = 0;
        long before = 0, dropped = 0, added = 0, maxLoad = 0;
        for (int i = 0; i < logits.size(); i++) {
            RoutingTrace.Record rec = trace.records().get(i);
            Placement placement = placementOf.apply(rec.layer());
            Devices devices = devicesOf.computeIfAbsent(rec.layer(), l -> Devices.of(placement));
            Router router = routers.computeIfAbsent(rec.layer(), l -> new Router(config, policy, placement, l)); // the engine's stream per layer
            Routing routing = router.route(logits.get(i), rec.routing().tokens());
            // rows of each (device, expert): a pair runs where the placement puts it
            int[][] rows = new int[devices.count()][e];
            for (int t = 0; t < routing.tokens(); t++) {
                for (int p = routing.offsets()[t]; p < routing.offsets()[t + 1]; p++) {
                    rows[placement.device(t, routing.expertIds()[p])][routing.expertIds()[p]]++;
                }
            }
            double crit = 0;
            int[] deviceLoad = new int[devices.count()];
            for (int d = 0; d < devices.count(); d++) {
                double s = 0;
                for (int x = 0; x < e; x++) {
                    s += cost.expertSeconds(rows[d][x]);
                    deviceLoad[d] += rows[d][x];
                }
                crit = Math.max(crit, s);
            }
            // shared experts: every device runs them on its own ceil(T/D) tokens, the same time everywhere
            int sharedRows = (routing.tokens() + devices.count() - 1) / devices.count();
            crit += sharedExperts * cost.expertSeconds(sharedRows);
            seconds += crit + comm.seconds(comm.dispatch(devices, routing.tokens(), routing.offsets(), routing.expertIds(), hidden));
            before += rec.routing().offsets()[rec.routing().tokens()];
            dropped += routing.stats().droppedPairs();
            added += routing.stats().addedPairs();
            long kept = 0;
            int max = 0;
            for (int v : deviceLoad) {
                kept += v;
                max = Math.max(max, v);
            }
            maxLoad += max + (long) sharedExperts * sharedRows;
            mm += kept == 0 ? 0 : (double) max * devices.count() / kept;
        }
        int n = logits.size();
        return new Cell(seconds, before == 0 ? 0 : (double) dropped / before, before == 0 ? 0 : (double) added / before, n == 0 ? 0 : mm / n, maxLoad);
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
