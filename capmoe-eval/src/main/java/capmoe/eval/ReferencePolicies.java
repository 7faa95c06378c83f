package capmoe.eval;

import capmoe.files.JsonFiles;
import capmoe.routing.Policy;
import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A PyTorch per-policy reference shipped beside a trained model
 * ({@code reference_policies_<text>.json} in ../shared/models/olmoe-tiny and olmoe-small; how they
 * were made: shared/models/README.md): the perplexity of the first {@code windows} windows of
 * {@code seq} tokens of the file named {@code text}, {@code batch} windows per forward pass,
 * exactly the rule of {@link Task.TokenWindows}, plus the kept and assigned (token, expert) pairs.
 *
 * <p>Policy labels: the reference's {@code expanded@G} adds the first E/4 experts (one device of
 * four) to every token: experts 0-7 of olmoe-tiny's 32, experts 0-15 of olmoe-small's 64. It is
 * matched to the capmoe policy with the same resolved local list ({@code expanded@G} on
 * olmoe-tiny, whose default list 0-7 is the same, {@code expanded@G:local=0-15} on olmoe-small).
 *
 * @param policies reference label -> numbers, in the file's order
 */
public record ReferencePolicies(Path file, String text, int seq, int batch, int windows, Map<String, Entry> policies) {

    /** Relative perplexity difference a conforming run stays under (fp32 summation order only). */
    public static final double TOLERANCE = 1e-4;

    /** One policy's reference numbers; {@code policy} is the label resolved for this model's experts. */
    public record Entry(Policy policy, double ppl, long keptPairs, long assignedPairs) { }

    /** Every {@code reference_policies_*.json} in {@code modelDir}, read for a model with {@code experts} experts. */
    public static List<ReferencePolicies> in(Path modelDir, int experts) {
        List<ReferencePolicies> out = new ArrayList<>();
        if (!Files.isDirectory(modelDir)) return out;
        try (DirectoryStream<Path> files = Files.newDirectoryStream(modelDir, "reference_policies_*.json")) {
            List<Path> sorted = new ArrayList<>();
            files.forEach(sorted::add);
            sorted.sort(null);
            for (Path f : sorted) out.add(read(f, experts));
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot list " + modelDir + ": " + e.getMessage(), e);
        }
        return out;
    }

    /** Reads one reference file; a missing or malformed field is one line naming the file and the field. */
    public static ReferencePolicies read(Path file, int experts) {
        JsonNode root = JsonFiles.read(file);
        Map<String, Entry> policies = new LinkedHashMap<>();
        JsonNode ps = field(file, root, "policies");
        for (var it = ps.properties().iterator(); it.hasNext(); ) {
            var e = it.next();
            String where = "policies." + e.getKey();
            policies.put(e.getKey(), new Entry(resolve(Policy.parse(e.getKey()), experts, true),
                    field(file, e.getValue(), where + ".ppl").asDouble(),
                    field(file, e.getValue(), where + ".kept_pairs").asLong(),
                    field(file, e.getValue(), where + ".assigned_pairs").asLong()));
        }
        return new ReferencePolicies(file, field(file, root, "text").asText(), field(file, root, "seq").asInt(),
                field(file, root, "batch").asInt(), field(file, root, "windows").asInt(), policies);
    }

    private static JsonNode field(Path file, JsonNode node, String path) {
        JsonNode v = node.path(path.substring(path.lastIndexOf('.') + 1));
        if (v.isMissingNode() || v.isNull()) throw new IllegalArgumentException(file + ": missing field '" + path + "'");
        return v;
    }

    /**
     * The policy with its local list made explicit, so that two specs that route alike compare
     * equal. {@code reference} = a reference label, whose {@code expanded@G} means experts 0..E/4-1.
     */
    static Policy resolve(Policy p, int experts, boolean reference) {
        if (!(p instanceof Policy.ExpandedDrop x)) return p;
        int[] local;
        if (reference && x.localExperts() == null) {
            local = new int[Math.max(1, experts / 4)];
            for (int i = 0; i < local.length; i++) local[i] = i;
        } else {
            local = x.localExpertsFor(experts);
        }
        return new Policy.ExpandedDrop(x.gamma(), local);
    }

    /** This reference's entry for a capmoe policy label, or null when it has none. */
    public Entry find(String capmoeLabel, int experts) {
        Policy want = resolve(Policy.parse(capmoeLabel), experts, false);
        for (Entry e : policies.values()) if (e.policy().equals(want)) return e;
        return null;
    }

    /** Whether {@code task}, run to {@code samples} windows, scores this reference's windows: same length, batch and count. */
    public boolean covers(Task.TokenWindows task, int samples) {
        return task.seq() == seq && task.batch() == batch && samples == windows;
    }

    /**
     * For every windowed task of the run that reads a file a reference names: a Markdown table
     * of capmoe's perplexity and kept pairs beside the reference's, with the relative difference
     * and a verdict against {@link #TOLERANCE}; or a line saying why it was not compared. Empty
     * when the model ships no reference for these files.
     */
    public static String compare(Path modelDir, int experts, List<Task> tasks, EvalResults results) {
        StringBuilder sb = new StringBuilder();
        for (ReferencePolicies ref : in(modelDir, experts)) {
            for (Task t : tasks) {
                if (!(t instanceof Task.TokenWindows tw) || !tw.file().getFileName().toString().equals(ref.text())) continue;
                TaskResult first = results.get(results.policies().getFirst(), tw.name());
                if (first == null) continue;
                if (!ref.covers(tw, first.samples())) {
                    sb.append(String.format(Locale.ROOT, "(%s is for --seq %d --batch %d --limit %d; %s not compared)%n",
                            ref.file(), ref.seq(), ref.batch(), ref.windows(), tw.name()));
                    continue;
                }
                sb.append(ref.table(tw.name(), experts, results));
            }
        }
        return sb.toString();
    }

    private String table(String task, int experts, EvalResults results) {
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%n%s vs %s:%n%n", task, file));
        sb.append("| policy | capmoe ppl | reference ppl | rel. diff | kept pairs (capmoe / reference) |\n");
        sb.append("|---|---:|---:|---:|---:|\n");
        double worst = 0;
        int compared = 0;
        List<String> off = new ArrayList<>();
        for (String p : results.policies()) {
            Entry want = find(p, experts);
            if (want == null) continue;
            TaskResult got = results.get(p, task);
            double ppl = got.metrics().get("perplexity");
            double rel = Math.abs(ppl - want.ppl()) / want.ppl();
            compared++;
            worst = Math.max(worst, rel);
            if (!(rel < TOLERANCE)) off.add(p);
            sb.append(String.format(Locale.ROOT, "| %s | %.4f | %.4f | %.1e | %d / %d |%n", p, ppl, want.ppl(), rel,
                    got.load().keptPairs(), want.keptPairs()));
        }
        if (compared == 0) return String.format(Locale.ROOT, "(%s has none of these policies)%n", file);
        sb.append(String.format(Locale.ROOT, "%n%d policies compared, largest rel. diff %.1e: %s%n", compared, worst,
                off.isEmpty() ? "all within " + TOLERANCE : "NOT within " + TOLERANCE + " for " + String.join(", ", off)));
        return sb.toString();
    }
}
