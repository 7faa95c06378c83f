package capmoe.routing;

import capmoe.testing.Shared;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Reads ../shared/fixtures/routing/cases.json into {@link GoldenCase}s (test helper). */
final class GoldenCases {
    private GoldenCases() { }

    static List<GoldenCase> load() {
        Path file = Shared.require("fixtures/routing/cases.json");
        try {
            JsonNode cases = new ObjectMapper().readTree(file.toFile()).get("cases");
            List<GoldenCase> out = new ArrayList<>();
            for (int i = 0; i < cases.size(); i++) out.add(parse("case " + i, cases.get(i)));
            return out;
        } catch (IOException e) {
            throw new AssertionError("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    static GoldenCase parse(String name, JsonNode c) {
        JsonNode probs = c.get("probs");
        int T = probs.size(), E = probs.get(0).size();
        float[] p = new float[T * E];
        for (int t = 0; t < T; t++) for (int e = 0; e < E; e++) p[t * E + e] = (float) probs.get(t).get(e).asDouble();
        JsonNode x = c.get("expected");
        JsonNode toks = x.get("tokens");
        int[][] experts = new int[toks.size()][];
        double[][] weights = new double[toks.size()][];
        for (int t = 0; t < toks.size(); t++) {
            experts[t] = ints(toks.get(t).get("experts"));
            JsonNode w = toks.get(t).get("weights");
            weights[t] = new double[w.size()];
            for (int i = 0; i < w.size(); i++) weights[t][i] = w.get(i).asDouble();
        }
        var expected = new GoldenCase.Expected(x.get("capacity").asInt(), ints(x.get("load")), x.get("kept_pairs").asInt(), experts, weights);
        return new GoldenCase(name, p, T, E, c.get("top_k").asInt(), c.get("gamma").asDouble(), c.get("strategy").asText(),
                c.path("renormalize").asBoolean(false), c.has("rho") ? c.get("rho").asDouble() : Double.NaN,
                c.path("m").asInt(0), c.has("local_experts") ? ints(c.get("local_experts")) : null,
                c.has("placement") ? ints(c.get("placement")) : null,
                c.has("token_origin") ? ints(c.get("token_origin")) : null, expected);
    }

    static int[] ints(JsonNode a) {
        int[] v = new int[a.size()];
        for (int i = 0; i < v.length; i++) v[i] = a.get(i).asInt();
        return v;
    }
}
