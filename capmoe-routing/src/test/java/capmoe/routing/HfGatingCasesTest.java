package capmoe.routing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * 36 random routers (softmax top-k with and without norm_topk_prob, DeepSeek-V2 greedy and
 * group_limited_greedy, DeepSeek-V3 noaux_tc with bias, groups and routed_scaling_factor) routed
 * by a numpy transliteration of the HF transformers 5 code (test resource
 * gating/gen_hf_gating_cases.py). Same experts per token; weights to 1e-6 relative to max(1, |w|)
 * (both float32; exp rounding and summation order differ by an ulp or two, ~1e-7 relative, and
 * routed_scaling_factor = 16 lifts weights above 1).
 */
class HfGatingCasesTest {

    @Test
    void matchesTheHfTransliterationOnRandomRouters() throws Exception {
        JsonNode cases;
        try (InputStream in = getClass().getResourceAsStream("/gating/hf_gating_cases.json")) {
            assertNotNull(in, "test resource gating/hf_gating_cases.json is missing");
            cases = new ObjectMapper().readTree(in).get("cases");
        }
        assertEquals(36, cases.size());
        List<String> mismatches = new ArrayList<>();
        for (int i = 0; i < cases.size(); i++) {
            JsonNode c = cases.get(i);
            int E = c.get("experts").asInt(), k = c.get("top_k").asInt();
            int nGroup = c.get("n_group").asInt(), topkGroup = c.get("topk_group").asInt();
            Gating gating = switch (c.get("gating").asText()) {
                case "softmax", "v2_greedy" -> new Gating.Softmax();
                case "v2_group" -> new Gating.SoftmaxGroupLimited(nGroup, topkGroup);
                case "v3" -> new Gating.SigmoidGroupLimited(nGroup, topkGroup, floats(c.get("e_score_correction_bias")));
                default -> throw new AssertionError(c.get("gating").asText());
            };
            var config = new RouterConfig(E, k, gating, c.get("norm_topk_prob").asBoolean(), c.get("routed_scaling_factor").asDouble());
            JsonNode rows = c.get("logits");
            float[] logits = new float[rows.size() * E];
            for (int t = 0; t < rows.size(); t++) System.arraycopy(floats(rows.get(t)), 0, logits, t * E, E);
            Routing r = new Router(config, new Policy.None(), null).route(logits, rows.size());
            for (int t = 0; t < rows.size(); t++) {
                int[] got = Arrays.copyOfRange(r.expertIds(), r.offsets()[t], r.offsets()[t + 1]);
                int[] want = GoldenCases.ints(c.get("expected_experts").get(t));
                String where = "case " + i + " (" + c.get("gating").asText() + ") token " + t;
                if (!Arrays.equals(got, want)) {
                    mismatches.add(where + ": experts " + Arrays.toString(got) + ", HF " + Arrays.toString(want));
                    continue;
                }
                for (int j = 0; j < k; j++) {
                    double w = r.weights()[r.offsets()[t] + j], x = c.get("expected_weights").get(t).get(j).asDouble();
                    if (Math.abs(w - x) > 1e-6 * Math.max(1, Math.abs(x))) mismatches.add(where + ": weight " + w + ", HF " + x);
                }
            }
        }
        assertTrue(mismatches.isEmpty(), mismatches.toString());
    }

    static float[] floats(JsonNode a) {
        float[] v = new float[a.size()];
        for (int i = 0; i < v.length; i++) v[i] = (float) a.get(i).asDouble();
        return v;
    }
}
