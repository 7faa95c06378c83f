package capmoe.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * A model that ships PyTorch reference perplexities per policy
 * ({@code reference_policies_wikitext2_test.json}, as models/olmoe-tiny does) is compared with the
 * evaluation's wikitext-windows results.
 */
public final class ReferencePerplexities {
    private ReferencePerplexities() { }

    public static final String FILE = "reference_policies_wikitext2_test.json";

    /** The comparison as a Markdown table, a one-line note when the settings differ, or "" when there is nothing to compare. */
    public static String compare(EvalResults results, Path model, int seq, int batch) throws IOException {
        Path ref = model.resolve(FILE);
        if (!Files.isRegularFile(ref) || !results.tasks().contains("wikitext-windows")) return "";
        JsonNode r;
        try {
            r = new ObjectMapper().readTree(ref.toFile());
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException(ref + ": not valid JSON (" + e.getOriginalMessage() + ")");
        }
        TaskResult any = results.get(results.policies().getFirst(), "wikitext-windows");
        if (r.path("seq").asInt() != seq || r.path("batch").asInt() != batch || r.path("windows").asInt() != any.samples()) {
            return String.format(Locale.ROOT, "(%s is for --seq %d --batch %d --limit %d; not compared)%n", ref.getFileName(),
                    r.path("seq").asInt(), r.path("batch").asInt(), r.path("windows").asInt());
        }
        StringBuilder sb = new StringBuilder("\nwikitext-windows vs " + ref + ":\n\n| policy | capmoe ppl | reference ppl | rel. diff |\n|---|---:|---:|---:|\n");
        for (String p : results.policies()) {
            JsonNode want = r.path("policies").path(p).path("ppl");
            if (want.isMissingNode()) continue;
            double got = results.get(p, "wikitext-windows").metrics().get("perplexity");
            sb.append(String.format(Locale.ROOT, "| %s | %.4f | %.4f | %.2e |%n", p, got, want.asDouble(),
                    Math.abs(got - want.asDouble()) / want.asDouble()));
        }
        return sb.append('\n').toString();
    }
}
