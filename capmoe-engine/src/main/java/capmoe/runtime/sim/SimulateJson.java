package capmoe.runtime.sim;

import capmoe.files.AtomicFile;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.file.Path;
import java.util.List;

/**
 * The JSON of {@code ./capmoe simulate} beside its records: a trace replayed at other scales
 * ({@link Simulator.Result}) or the paper sweep ({@link Sweep.Cell}); the console prints the same
 * records. Written atomically ({@link AtomicFile}).
 */
public final class SimulateJson {
    private SimulateJson() { }

    private static final ObjectMapper JSON = new ObjectMapper();

    /** A trace's results: what was replayed, the cost model, and one object per (D, policy). */
    public static void writeTrace(Path file, String trace, int experts, int topK, int layerCalls, CostModel cost, double linkGbps,
                                  List<Simulator.Result> results) {
        ObjectNode root = JSON.createObjectNode();
        root.put("trace", trace).put("experts", experts).put("topK", topK).put("layerCalls", layerCalls)
                .put("costA", cost.a()).put("costB", cost.b()).put("linkGbps", linkGbps);
        ArrayNode rs = root.putArray("results");
        for (Simulator.Result r : results) {
            rs.addObject().put("devices", r.devices()).put("expertsPerDevice", r.expertsPerDevice()).put("policy", r.policy())
                    .put("droppedFraction", r.droppedFraction()).put("addedFraction", r.addedFraction()).put("maxOverMean", r.maxOverMean())
                    .put("seconds", r.seconds()).put("speedup", r.speedup()).put("bound", r.bound()).put("extraSlotsPerDevice", r.extraSlots());
        }
        write(file, root);
    }

    /** The paper sweep: the workload, the cost model in words, one object per (shape, D, policy), and the measured points given ({@link Sweep#measured}). */
    public static void writeSweep(Path file, int tokensPerCall, int calls, String cost, List<Sweep.Cell> cells, List<Sweep.Measured> measured) {
        ObjectNode root = JSON.createObjectNode();
        root.put("tokensPerCall", tokensPerCall).put("calls", calls).put("cost", cost);
        ArrayNode rs = root.putArray("results");
        for (Sweep.Cell c : cells) {
            ObjectNode o = rs.addObject().put("shape", c.shape()).put("experts", c.experts()).put("topK", c.topK())
                    .put("devices", c.devices()).put("expertsPerDevice", c.expertsPerDevice()).put("policy", c.policy())
                    .put("droppedFraction", c.droppedFraction()).put("maxOverMean", c.maxOverMean()).put("speedup", c.speedup())
                    .put("bound", c.bound()).put("extraSlotsPerDevice", c.extraSlots());
            if (Double.isFinite(c.paper())) o.put("paper", c.paper());
        }
        ArrayNode ms = root.putArray("measured");
        for (Sweep.Measured m : measured) {
            ms.addObject().put("shape", m.shape()).put("devices", m.devices()).put("expertsPerDevice", m.expertsPerDevice())
                    .put("policy", m.policy()).put("speedup", m.speedup()).put("speedupMin", m.min()).put("speedupMax", m.max())
                    .put("bound", m.bound()).put("source", m.source());
        }
        write(file, root);
    }

    private static void write(Path file, ObjectNode root) {
        try {
            AtomicFile.writeString(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("simulate JSON is not serializable", e);
        }
    }
}
