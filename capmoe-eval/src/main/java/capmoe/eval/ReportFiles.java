package capmoe.eval;

import capmoe.files.AtomicFile;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Writes an evaluation into a directory: results.json (all policies), results_&lt;policy&gt;.json
 * (lm-eval layout, validated), results.md and a self-contained report.html. Shared by
 * {@code capmoe eval} and {@code capmoe demo}.
 *
 * <p>Steps: 1. build and validate every document; 2. remove results_&lt;policy&gt;.json files an
 * earlier run left for policies this run does not have (two runs into one --out would otherwise
 * mix); 3. write each file atomically ({@link AtomicFile}: temp + rename), results.json last.
 */
public final class ReportFiles {
    private ReportFiles() { }

    public static void write(EvalResults results, Map<String, Object> meta, Path out, String title) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode all = ResultsJson.combined(results, meta);
        for (String p : results.policies()) {
            List<String> problems = ResultsJson.validate(all.get("results_by_policy").get(p));
            if (!problems.isEmpty()) throw new IllegalStateException("results for " + p + " do not validate: " + problems);
        }
        Files.createDirectories(out);
        Set<String> current = new HashSet<>();
        for (String p : results.policies()) current.add("results_" + p + ".json");
        try (Stream<Path> files = Files.list(out)) {
            for (Path f : files.toList()) {
                String name = f.getFileName().toString();
                if (name.startsWith("results_") && name.endsWith(".json") && !current.contains(name)) Files.delete(f);
            }
        }
        for (String p : results.policies()) {
            JsonNode doc = all.get("results_by_policy").get(p);
            AtomicFile.writeString(out.resolve("results_" + p + ".json"), json.writerWithDefaultPrettyPrinter().writeValueAsString(doc));
        }
        AtomicFile.writeString(out.resolve("results.md"), MarkdownReport.render(results));
        AtomicFile.writeString(out.resolve("report.html"), EvalReport.render(results, title));
        AtomicFile.writeString(out.resolve("results.json"), json.writerWithDefaultPrettyPrinter().writeValueAsString(all));
    }
}
