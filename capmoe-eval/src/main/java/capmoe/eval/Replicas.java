package capmoe.eval;

import capmoe.model.ModelConfig;
import capmoe.routing.Placement;
import capmoe.routing.Policy;
import capmoe.routing.Routing;
import capmoe.runtime.RoutingListener;
import capmoe.runtime.ep.Replication;
import capmoe.runtime.trace.RoutingTrace;
import capmoe.runtime.trace.TraceReader;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where an evaluation's replicated policies ({@code replicate@N[+POLICY]}) put their replicas: one
 * EPLB placement per MoE layer ({@link Replication#fromTrace}) from a routing trace recorded under
 * {@code none}: the file given ({@code --replicate-trace}), or else none's own routing of this
 * evaluation, kept in memory while none runs (it runs first): in-sample, as vLLM's EPLB rebalances
 * from the load it has just seen. Placement changes only which device a pair runs on, never the
 * pairs a policy keeps, so a replicated policy's scores are its inner policy's bit for bit.
 *
 * <p>Steps: 1. while {@code none} runs, {@link #listener} adds each MoE layer's routing to the
 * in-memory trace (no trace file given); 2. the first {@link #of} for a replicated policy places
 * every layer from the trace (re-routed under POLICY for {@code replicate@N+POLICY}), and the
 * recording stops; 3. {@link #extraMemory} gives each replicated policy's extra expert weights on
 * the fullest device (bf16, as {@code ep-bench}).
 */
final class Replicas {
    /** Bytes per expert weight of the extra-memory figure (bf16, as ep-bench reports it). */
    static final int BYTES_PER_WEIGHT = 2;

    private final Path traceFile;
    private final Placement home;
    private final ModelConfig model;
    private final boolean needed;
    private final List<RoutingTrace.Record> recorded = new ArrayList<>();
    private final Map<String, Map<Integer, Placement>> placements = new LinkedHashMap<>();
    private RoutingTrace trace;
    private int batch;
    private int lastLayer = Integer.MIN_VALUE;

    /**
     * @param traceFile a trace recorded under none to place from, or null for none's routing of this evaluation
     * @param home      the placement without replicas (contiguous over the devices)
     */
    Replicas(List<Policy> policies, Path traceFile, Placement home, ModelConfig model) {
        this.traceFile = traceFile;
        this.home = home;
        this.model = model;
        this.needed = policies.stream().anyMatch(p -> p.redundantReplicas() > 0);
        if (traceFile != null && !needed) {
            throw new IllegalArgumentException("--replicate-trace places replicate@N policies' replicas, but --policies has none");
        }
    }

    /** The listener a run of {@code policy} gets: {@code listener}, plus the in-memory trace for none's runs. */
    RoutingListener listener(Policy policy, RoutingListener listener) {
        if (!needed || traceFile != null || !(policy instanceof Policy.None)) return listener;
        return (layer, routing) -> {
            listener.onRouting(layer, routing);
            record(layer, routing);
        };
    }

    private synchronized void record(int layer, Routing routing) {
        if (trace != null) return; // placed already: the recording is over
        if (layer <= lastLayer) batch++; // a new forward pass (as TraceWriter counts batches)
        lastLayer = layer;
        // the pairs only: the statistics' per-expert arrays are not needed to place replicas
        recorded.add(new RoutingTrace.Record(batch, layer,
                new Routing(routing.tokens(), routing.experts(), routing.offsets(), routing.expertIds(), routing.weights(), null)));
    }

    /** The per-layer placements of {@code policy}: empty unless it is replicated. */
    synchronized Map<Integer, Placement> of(Policy policy) {
        if (policy.redundantReplicas() == 0) return Map.of();
        if (trace == null) {
            if (traceFile != null) {
                trace = TraceReader.read(traceFile);
            } else {
                if (recorded.isEmpty()) {
                    throw new IllegalStateException("replicas of " + policy.label() + " are placed from none's routing, but none has not run yet");
                }
                trace = new RoutingTrace(new RoutingTrace.Header(model.numExperts(), model.topK(), model.normTopkProb(), "none",
                        "this evaluation under none"), List.copyOf(recorded));
                recorded.clear();
            }
        }
        return placements.computeIfAbsent(policy.label(), l -> Replication.fromTrace(trace, policy, home));
    }

    /** Each replicated policy's extra memory on its fullest device (empty without replicated policies). */
    synchronized Map<String, EvalResults.ExtraMemory> extraMemory() {
        Map<String, EvalResults.ExtraMemory> m = new HashMap<>();
        long expert = Replication.expertBytes(model, BYTES_PER_WEIGHT);
        placements.forEach((label, byLayer) -> {
            int slots = Replication.extraSlotsPerDevice(byLayer);
            m.put(label, new EvalResults.ExtraMemory(slots, slots * expert, BYTES_PER_WEIGHT));
        });
        return m;
    }

    /** Where the replicas were placed from, for the reports. */
    String source() {
        return traceFile != null ? "the routing trace " + traceFile : "none's routing of this evaluation (in-sample)";
    }

    boolean needed() { return needed; }
}
