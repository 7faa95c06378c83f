package capmoe.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Writes an evaluation into a directory: results.json (all policies), results_&lt;policy&gt;.json
 * (lm-eval layout, validated), results.md and a self-contained report.html. Shared by
 * {@code capmoe eval} and {@code capmoe demo}.
 */
public final class ReportFiles {
    private ReportFiles() { }

    /**
     * {@code results_<policy>.json}, the label's characters other than letters, digits and
     * {@code @ . + = -} replaced by '_' (a spec such as {@code score@layers:/path/gammas.txt} names a file).
     */
    static String fileName(String policy) {
        return "results_" + policy.replaceAll("[^A-Za-z0-9@.+=-]", "_") + ".json";
    }

    public static void write(EvalResults results, Map<String, Object> meta, Path out, String title) throws IOException {
        Files.createDirectories(out);
        ObjectMapper json = new ObjectMapper();
        ObjectNode all = ResultsJson.combined(results, meta);
        for (String p : results.policies()) {
            JsonNode doc = all.get("results_by_policy").get(p);
            List<String> problems = ResultsJson.validate(doc);
            if (!problems.isEmpty()) throw new IllegalStateException("results for " + p + " do not validate: " + problems);
            json.writerWithDefaultPrettyPrinter().writeValue(out.resolve(fileName(p)).toFile(), doc);
        }
        json.writerWithDefaultPrettyPrinter().writeValue(out.resolve("results.json").toFile(), all);
        Files.writeString(out.resolve("results.md"), MarkdownReport.render(results));
        Files.writeString(out.resolve("report.html"), EvalReport.render(results, title));
    }
}
