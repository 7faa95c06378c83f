package capmoe.runtime.sim;

import capmoe.routing.GammaFit;
import capmoe.routing.Gamma;
import capmoe.routing.Gating;
import capmoe.routing.Placement;
import capmoe.routing.RouterConfig;
import capmoe.runtime.trace.RoutingTrace;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Per-layer γ from a routing trace ({@link GammaFit} on each MoE layer's recorded calls), written
 * as the file {@code score@layers:FILE} reads. Steps: (1) group the trace's records by layer;
 * (2) turn each record back into router logits ({@link Simulator#logitsOf}); (3) fit each layer;
 * (4) write {@code LAYER GAMMA} lines, temp file then rename.
 */
public final class LayerGammas {
    private LayerGammas() { }

    /** Fits every layer of the trace over {@code placement}'s devices. */
    public static List<GammaFit.Choice> fit(RoutingTrace trace, Placement placement, GammaFit.Rule rule, double step) {
        if (!trace.header().policy().equals("none")) {
            throw new IllegalArgumentException("the trace was recorded under policy '" + trace.header().policy()
                    + "'; fitting gamma needs plain top-k routing (record it with policy none)");
        }
        if (trace.header().topK() < 1) throw new IllegalArgumentException("the trace header does not give top_k");
        RouterConfig config = new RouterConfig(trace.header().experts(), trace.header().topK(), new Gating.Softmax(),
                trace.header().normalizedWeights(), 1.0);
        Map<Integer, List<GammaFit.Call>> byLayer = new TreeMap<>();
        for (RoutingTrace.Record r : trace.records()) {
            byLayer.computeIfAbsent(r.layer(), l -> new ArrayList<>()).add(new GammaFit.Call(Simulator.logitsOf(r.routing()), r.routing().tokens()));
        }
        List<GammaFit.Choice> out = new ArrayList<>();
        byLayer.forEach((layer, calls) -> out.add(GammaFit.fit(config, placement, layer, calls, rule, step)));
        return out;
    }

    /** Writes the choices as {@code LAYER GAMMA} lines (atomically). */
    public static void write(Path file, String comment, List<GammaFit.Choice> choices) {
        int[] layers = new int[choices.size()];
        double[] gammas = new double[choices.size()];
        for (int i = 0; i < layers.length; i++) {
            layers[i] = choices.get(i).layer();
            gammas[i] = choices.get(i).gamma();
        }
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try {
            Files.writeString(tmp, Gamma.PerLayer.format(comment, layers, gammas));
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + " (" + e.getMessage() + ")", e);
        }
    }
}
