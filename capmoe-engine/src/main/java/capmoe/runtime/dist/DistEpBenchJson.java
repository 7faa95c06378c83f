package capmoe.runtime.dist;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * {@link DistEpBench.Result} as JSON (the console's and the HTML's values), and the atomic
 * write both files use: a temporary file beside the target, renamed over it, so an interrupted
 * or aborted job never leaves a half-written report.
 */
public final class DistEpBenchJson {
    private DistEpBenchJson() { }

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    public static String render(DistEpBench.Result r) {
        ObjectNode root = JSON.createObjectNode();
        root.put("model", r.config().model().toString());
        root.put("model_type", r.model().modelType());
        root.put("label", r.label());
        root.put("data", r.data());
        root.put("ranks", r.ranks());
        root.put("threads_per_rank", r.threadsPerRank());
        root.put("capacity_scope", r.config().scope().label());
        root.put("wire", r.config().wire().label());
        root.put("batch_tokens", r.config().tokens());
        root.put("seq_len", r.config().seqLen());
        root.put("batches", r.config().batches());
        root.put("decode_steps", r.config().decodeSteps());
        ArrayNode resident = root.putArray("resident_weight_bytes_per_rank");
        for (long b : r.residentBytes()) resident.add(b);
        phase(root.putArray("prefill"), r.prefill());
        phase(root.putArray("decode"), r.decode());
        try {
            return JSON.writeValueAsString(root) + "\n";
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void phase(ArrayNode out, List<DistEpBench.PhaseResult> rows) {
        for (DistEpBench.PhaseResult p : rows) {
            ObjectNode o = out.addObject();
            o.put("policy", p.policy());
            o.put("moe_layer_calls", p.calls());
            o.put("moe_layer_ms", p.layerMs());
            o.put("critical_path_ms", p.criticalMs());
            o.put("speedup_median", p.speedup().median());
            o.put("speedup_min", p.speedup().min());
            o.put("speedup_max", p.speedup().max());
            o.put("load_bound", p.bound());
            o.put("max_over_mean_rows", p.maxOverMean());
            o.put("all_to_all_share", p.allToAllShare());
            ArrayNode ranks = o.putArray("per_rank_ms_per_call");
            for (int r = 0; r < p.stageMs().length; r++) {
                double[] s = p.stageMs()[r];
                ranks.addObject().put("rank", r).put("router", s[0]).put("dispatch", s[1]).put("experts", s[2])
                        .put("wait", s[3]).put("combine", s[4]);
            }
            ArrayNode layers = o.putArray("per_layer_per_rank_ms_per_call");
            for (var e : p.layerStageMs().entrySet()) {
                ObjectNode layer = layers.addObject().put("layer", e.getKey());
                ArrayNode lr = layer.putArray("ranks");
                for (int r = 0; r < e.getValue().length; r++) {
                    double[] s = e.getValue()[r];
                    lr.addObject().put("rank", r).put("router", s[0]).put("dispatch", s[1]).put("experts", s[2])
                            .put("wait", s[3]).put("combine", s[4]);
                }
            }
        }
    }

    /** Writes {@code text} to {@code file} in full or not at all (temp file + rename). */
    public static void writeAtomically(Path file, String text) {
        Path abs = file.toAbsolutePath();
        try {
            Files.createDirectories(abs.getParent());
            Path temp = Files.createTempFile(abs.getParent(), "." + abs.getFileName() + ".", ".tmp");
            try {
                Files.writeString(temp, text, StandardCharsets.UTF_8);
                try {
                    Files.move(temp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(temp, abs, StandardCopyOption.REPLACE_EXISTING);
                }
            } finally {
                Files.deleteIfExists(temp);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + " (" + e.getMessage() + ")", e);
        }
    }
}
