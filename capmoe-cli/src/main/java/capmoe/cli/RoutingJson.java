package capmoe.cli;

import capmoe.files.JsonFiles;
import capmoe.routing.GoldenCase;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads the JSON inputs of {@code ./capmoe route}: a probability matrix, or a file of routing
 * cases in the format of ../shared/fixtures/routing/cases.json. Every error names the file and
 * the place in it.
 */
final class RoutingJson {
    private RoutingJson() { }

    /** Probabilities T x E: row-major values plus the shape. */
    record Probs(float[] values, int tokens, int experts) { }

    /** A T x E array of probabilities, or an object whose "probs" key holds one. */
    static Probs readProbs(Path file) {
        JsonNode root = read(file);
        JsonNode rows = root;
        String where = "";
        if (root.isObject()) {
            rows = root.get("probs");
            where = "probs";
            if (rows == null) throw new IllegalArgumentException(file + ": the object has no \"probs\" key (expected a T x E array or {\"probs\": [[...], ...]})");
        }
        return matrix(file, rows, where);
    }

    /** The cases of a file: {"cases": [...]} or a bare array of cases. */
    static List<GoldenCase> readCases(Path file) {
        JsonNode root = read(file);
        JsonNode cases = root.isObject() ? root.get("cases") : root;
        if (cases == null || !cases.isArray()) {
            throw new IllegalArgumentException(file + ": expected {\"cases\": [...]} or an array of cases");
        }
        List<GoldenCase> out = new ArrayList<>();
        for (int i = 0; i < cases.size(); i++) out.add(parseCase(file, "case " + i, cases.get(i)));
        return out;
    }

    private static GoldenCase parseCase(Path file, String name, JsonNode c) {
        String where = file + ": " + name;
        if (!c.isObject()) throw new IllegalArgumentException(where + " is not an object");
        Probs p = matrix(file, need(c, "probs", where), name + ".probs");
        int topK = integer(need(c, "top_k", where), where + ".top_k");
        double gamma = number(need(c, "gamma", where), where + ".gamma");
        JsonNode strategy = need(c, "strategy", where);
        if (!strategy.isTextual()) throw new IllegalArgumentException(where + ".strategy must be a string");
        JsonNode x = need(c, "expected", where);
        JsonNode toks = need(x, "tokens", where + ".expected");
        if (!toks.isArray()) throw new IllegalArgumentException(where + ".expected.tokens is not an array");
        int[][] experts = new int[toks.size()][];
        double[][] weights = new double[toks.size()][];
        for (int t = 0; t < toks.size(); t++) {
            String tw = where + ".expected.tokens[" + t + "]";
            experts[t] = ints(need(toks.get(t), "experts", tw), tw + ".experts");
            JsonNode w = need(toks.get(t), "weights", tw);
            if (!w.isArray() || w.size() != experts[t].length) {
                throw new IllegalArgumentException(tw + ".weights must be an array as long as its experts (" + experts[t].length + ")");
            }
            weights[t] = new double[w.size()];
            for (int i = 0; i < w.size(); i++) weights[t][i] = number(w.get(i), tw + ".weights[" + i + "]");
        }
        var expected = new GoldenCase.Expected(integer(need(x, "capacity", where + ".expected"), where + ".expected.capacity"),
                ints(need(x, "load", where + ".expected"), where + ".expected.load"),
                integer(need(x, "kept_pairs", where + ".expected"), where + ".expected.kept_pairs"), experts, weights);
        return new GoldenCase(name, p.values(), p.tokens(), p.experts(), topK, gamma, strategy.asText(), c.path("renormalize").asBoolean(false),
                c.has("rho") ? number(c.get("rho"), where + ".rho") : Double.NaN,
                c.has("m") ? integer(c.get("m"), where + ".m") : 0,
                c.has("local_experts") ? ints(c.get("local_experts"), where + ".local_experts") : null,
                c.has("placement") ? ints(c.get("placement"), where + ".placement") : null,
                c.has("token_origin") ? ints(c.get("token_origin"), where + ".token_origin") : null, expected);
    }

    private static Probs matrix(Path file, JsonNode rows, String where) {
        String at = where.isEmpty() ? file.toString() : file + ": " + where;
        if (rows == null || !rows.isArray() || rows.isEmpty()) {
            throw new IllegalArgumentException(at + ": expected a non-empty T x E array of probabilities");
        }
        int T = rows.size();
        JsonNode first = rows.get(0);
        if (!first.isArray() || first.isEmpty()) throw new IllegalArgumentException(at + ": row 0 is not a non-empty array of numbers");
        int E = first.size();
        float[] v = new float[T * E];
        for (int t = 0; t < T; t++) {
            JsonNode row = rows.get(t);
            if (!row.isArray() || row.size() != E) {
                throw new IllegalArgumentException(at + ": row " + t + " has " + (row.isArray() ? row.size() + " values" : "no array")
                        + ", row 0 has " + E + " (every token needs one probability per expert)");
            }
            for (int e = 0; e < E; e++) v[t * E + e] = (float) number(row.get(e), at + "[" + t + "][" + e + "]");
        }
        return new Probs(v, T, E);
    }

    private static JsonNode read(Path file) {
        // NaN is not JSON, but Python writes it: read it so that the router can say where it is
        return JsonFiles.read(file, JsonMapper.builder().enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build());
    }

    private static JsonNode need(JsonNode node, String key, String where) {
        JsonNode v = node == null ? null : node.get(key);
        if (v == null || v.isNull()) throw new IllegalArgumentException(where + ": missing \"" + key + "\"");
        return v;
    }

    private static double number(JsonNode n, String where) {
        if (n == null || !n.isNumber()) {
            throw new IllegalArgumentException(where + ": " + (n == null ? "missing" : n.toString()) + " is not a number");
        }
        return n.asDouble();
    }

    private static int integer(JsonNode n, String where) {
        if (n == null || !n.canConvertToInt() || !n.isIntegralNumber()) {
            throw new IllegalArgumentException(where + ": " + n + " is not an integer");
        }
        return n.asInt();
    }

    private static int[] ints(JsonNode a, String where) {
        if (!a.isArray()) throw new IllegalArgumentException(where + ": expected an array of integers");
        int[] v = new int[a.size()];
        for (int i = 0; i < v.length; i++) v[i] = integer(a.get(i), where + "[" + i + "]");
        return v;
    }
}
