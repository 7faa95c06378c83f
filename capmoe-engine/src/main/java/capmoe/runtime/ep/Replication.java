package capmoe.runtime.ep;

import capmoe.model.CausalLM;
import capmoe.model.ModelConfig;
import capmoe.model.RunOptions;
import capmoe.routing.Eplb;
import capmoe.routing.Placement;
import capmoe.routing.Policy;
import capmoe.runtime.sim.Simulator;
import capmoe.runtime.trace.RoutingTrace;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Replication at run time ({@code replicate@N[+POLICY]}): one EPLB placement per MoE layer.
 * Steps of {@link #place}: (1) forward the calibration batches under POLICY (plain top-k for
 * {@code replicate@N}) on the home placement, counting each layer's kept pairs per expert, the
 * load the devices will run; (2) {@link Eplb#place} each layer's load with N redundant replicas
 * over the same devices. The caller runs the policy with
 * {@link RunOptions#withLayerPlacements} and a {@code DeviceExpertExecutor} given the same map;
 * outputs are those of POLICY alone, bit for bit.
 */
public final class Replication {
    private Replication() { }

    /**
     * EPLB placements of every MoE layer for a {@link Policy.Replicated} policy, from the routing
     * of {@code batches} (each an array of token sequences) under its capacity policy.
     */
    public static Map<Integer, Placement> place(CausalLM lm, Policy replicated, Placement home, List<int[][]> batches) {
        int redundant = replicated.redundantReplicas();
        if (redundant < 1) throw new IllegalArgumentException("policy '" + replicated.label() + "' asks for no replicas");
        if (batches.isEmpty()) throw new IllegalArgumentException("replication needs at least one calibration batch");
        Map<Integer, long[]> load = new TreeMap<>();
        RunOptions options = RunOptions.of(replicated.capacityPolicy()).withPlacement(home).withListener((layer, routing) -> {
            synchronized (load) {
                long[] l = load.computeIfAbsent(layer, x -> new long[routing.experts()]);
                for (int p = 0; p < routing.keptPairs(); p++) l[routing.expertIds()[p]]++;
            }
        });
        for (int[][] batch : batches) lm.forward(batch, options);
        Map<Integer, Placement> out = new HashMap<>();
        load.forEach((layer, l) -> out.put(layer, Eplb.place(l, redundant, home.devices())));
        return out;
    }

    /**
     * EPLB placements of every MoE layer for a {@link Policy.Replicated} policy from a routing
     * trace recorded under {@code none} ({@code ep-bench --trace}): each layer's top-k load, or
     * the pairs the inner policy keeps when the trace is re-routed under it
     * ({@link Simulator#keptLoads}).
     */
    public static Map<Integer, Placement> fromTrace(RoutingTrace trace, Policy replicated, Placement home) {
        if (replicated.redundantReplicas() < 1) throw new IllegalArgumentException("policy '" + replicated.label() + "' asks for no replicas");
        if (!trace.header().policy().equals("none")) {
            throw new IllegalArgumentException("the trace was recorded under policy '" + trace.header().policy()
                    + "'; placing replicas needs plain top-k routing (record it with policy none)");
        }
        if (trace.header().experts() != home.experts()) {
            throw new IllegalArgumentException("the trace routes over " + trace.header().experts() + " experts, the model has " + home.experts());
        }
        if (trace.header().topK() < 1) throw new IllegalArgumentException("the trace header does not give top_k");
        Map<Integer, long[]> load = Simulator.keptLoads(trace, Simulator.routerOf(trace), replicated.capacityPolicy(), home, null);
        Map<Integer, Placement> out = new HashMap<>();
        load.forEach((layer, l) -> out.put(layer, Eplb.place(l, replicated.redundantReplicas(), home.devices())));
        return out;
    }

    /** Most replicas a device holds beyond ceil(E/D), over the layers. */
    public static int extraSlotsPerDevice(Map<Integer, Placement> placements) {
        int m = 0;
        for (Placement p : placements.values()) m = Math.max(m, p.extraSlotsPerDevice());
        return m;
    }

    /** Bytes of one routed expert's weights (gate, up, down: 3 x hidden x width) at {@code bytesPerWeight}. */
    public static long expertBytes(ModelConfig config, int bytesPerWeight) {
        return 3L * config.hiddenSize() * config.moeIntermediateSize() * bytesPerWeight;
    }
}
